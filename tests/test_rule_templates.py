"""Rule templates, which the registry parses on first use, not at import."""

import gast
import numpy as np
import pytest

import adcompiler
from adcompiler.rules import REGISTRY, RuleError
from adcompiler.rules import registry as registry_module


def test_registry_templates_all_parse():
    # A malformed rule in adcompiler's own rule files fails here, although
    # importing adcompiler no longer parses it.
    REGISTRY.check_templates()


def _whole_file_node(template):
    code = template.function.__code__
    kind = (gast.Lambda if template.function.__name__ == '<lambda>'
            else gast.FunctionDef)
    starting = registry_module._file_templates(code.co_filename)
    return [node for node in starting.get(code.co_firstlineno, ())
            if isinstance(node, kind)]


def test_template_node_matches_whole_file_parse():
    # The registry parses only the lines of each template, so the node must
    # be checked against the one from parsing the whole file. Importing
    # SciPy registers its rules too, some of them inside a dict display.
    pytest.importorskip('scipy.special')
    pytest.importorskip('scipy.stats')
    pytest.importorskip('scipy.optimize')
    REGISTRY.load_deferred()
    mismatched = []
    for template in REGISTRY.templates():
        node = registry_module._template_node(template.function)
        dumped = gast.dump(node, include_attributes=True)
        if not any(gast.dump(other, include_attributes=True) == dumped
                   for other in _whole_file_node(template)):
            mismatched.append(template.name)
    assert mismatched == []


def malformed_callee(x):
    return x * 2.0


def calls_malformed_callee(x):
    return np.sum(malformed_callee(x))


def test_unknown_name_raises_at_first_use():
    # Registering succeeds: the template is parsed when a call uses it.
    REGISTRY.vjp(malformed_callee, lambda x: g * undefined_name)  # noqa: F821
    try:
        with pytest.raises(RuleError, match='undefined_name'):
            adcompiler.grad(calls_malformed_callee)(np.ones(3))
    finally:
        REGISTRY._rules.pop(malformed_callee, None)
        REGISTRY.mark_changed()


def test_unknown_adjoint_parameter_raises_when_read():
    def assigns_unknown(x):
        d[y] = g  # noqa: F821

    template = registry_module.parse_template(assigns_unknown)
    with pytest.raises(RuleError, match=r'd\[y\]'):
        template.differentiated  # noqa: B018


def _inspect_arguments(template, args, keywords):
    """The arguments that inspect binds, or the TypeError it raises."""
    try:
        bound = template.signature.bind(*args, **keywords)
    except TypeError:
        return TypeError
    bound.apply_defaults()
    return list(bound.arguments.items())


def test_template_bind_matches_inspect():
    # Template.bind matches arguments itself for most signatures. For every
    # registered template, calls with each count of positional arguments,
    # with the rest by keyword, a duplicate, or an unknown keyword must
    # bind as inspect binds them, or raise TypeError where it does.
    REGISTRY.load_deferred()
    checked = 0
    for template in REGISTRY.templates():
        names = list(template.signature.parameters)
        for count in range(len(names) + 2):
            args = [object() for _ in range(count)]
            rest = {name: object() for name in names[count:]}
            calls = [(args, {}), (args, rest), (args, {'unknown': 1})]
            if count and names:
                calls.append((args, {names[0]: object()}))
            for call_args, call_keywords in calls:
                expected = _inspect_arguments(template, call_args,
                                              call_keywords)
                try:
                    found = list(template.bind(call_args,
                                               call_keywords).items())
                except TypeError:
                    found = TypeError
                assert found == expected, (template, count, call_keywords)
                checked += 1
    assert checked > 1000
