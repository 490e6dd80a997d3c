"""Arguments of a library call, rebound to the parameters of its rule.

A rule template may name a parameter differently from the NumPy function
(`x` for np.sum's `a`) and may leave out parameters that a call can pass as
None by position (np.nanvar(x, 1, None, None, 1) passes out=None). Before a
template is inlined, a call is bound to the library function's own
signature, and its arguments are passed to the template by keyword under
the template's names.
"""

import inspect

import gast
import numpy as np

# Keyword names that NumPy added for a parameter the rule names the old way.
# NumPy 2.1 gave np.clip the keywords min= and max=.
_KEYWORD_ALIASES = {
    np.clip: {'min': 'a_min', 'max': 'a_max'},
}

_NO_VALUE = object()


def _ufunc_method_signature(name):
    """Return the signature of the ufunc method `name`, which inspect cannot
    read from NumPy's C code, or None for the other methods."""
    parameter = inspect.Parameter
    names = {
        'reduce': ('array', 'axis', 'dtype', 'out', 'keepdims', 'initial',
                   'where'),
        'accumulate': ('array', 'axis', 'dtype', 'out'),
        'reduceat': ('array', 'indices', 'axis', 'dtype', 'out'),
    }.get(name)
    if names is None:
        return None
    return inspect.Signature([
        parameter(item, parameter.POSITIONAL_OR_KEYWORD,
                  default=parameter.empty if position == 0 else _NO_VALUE)
        for position, item in enumerate(names)])


def library_signature(callee):
    """Return the signature of the NumPy function or ufunc method `callee`,
    or None when it has none to read or is not NumPy's."""
    owner = getattr(callee, '__self__', None)
    if isinstance(owner, np.ufunc):
        return _ufunc_method_signature(getattr(callee, '__name__', ''))
    if not (getattr(callee, '__module__', None) or '').startswith('numpy'):
        return None
    try:
        return inspect.signature(callee)
    except (TypeError, ValueError):
        return None


def _is_none(node):
    return isinstance(node, gast.Constant) and node.value is None


def rule_arguments(callee, template, args, keywords):
    """Return (args, keywords) of a call of `callee` for its rule template.

    A call that binds to the template is returned as it is. Otherwise each
    argument goes to the template's parameter of the same name, of the
    alias's old name, or at the same position (see `_template_name`). The
    leading ones are passed by position and the rest by keyword. An
    out=None argument is left out, and so is a constant that the template
    does not take and that equals NumPy's default, such as
    np.median(x, 0, None, False) with overwrite_input=False. A call that
    does not bind to NumPy's
    signature, or that unpacks arguments, is returned as it is, so that
    binding the template reports the error.
    """
    try:
        template.signature.bind(*args, **keywords)
        return args, keywords
    except TypeError:
        pass
    signature = library_signature(callee)
    if signature is None or any(isinstance(a, gast.Starred) for a in args) \
            or None in keywords:
        return args, keywords
    try:
        bound = signature.bind(*args, **keywords)
    except TypeError:
        return args, keywords
    library_names = list(signature.parameters)
    aliases = _KEYWORD_ALIASES.get(callee, {}) if _hashable(callee) else {}
    rebound = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            return args, keywords
        items = value.items() if kind is inspect.Parameter.VAR_KEYWORD \
            else [(name, value)]
        for key, node in items:
            if key == 'out' and _is_none(node):
                continue
            target = _template_name(aliases.get(key, key), library_names,
                                    template.signature)
            if target not in template.signature.parameters and \
                    key in signature.parameters and _is_default(
                        node, signature.parameters[key].default):
                continue
            rebound[target] = node
    positional = []
    for parameter in template.signature.parameters.values():
        if parameter.kind is not parameter.POSITIONAL_OR_KEYWORD or \
                parameter.name not in rebound:
            break
        positional.append(rebound.pop(parameter.name))
    return positional, rebound


def _is_default(node, default):
    """Return whether `node` is a constant of the type and value of the
    parameter default `default`."""
    return (isinstance(node, gast.Constant)
            and type(node.value) is type(default) and node.value == default)


def unsupported_options(callee, template, keywords):
    """Return the names in `keywords` that are parameters of the NumPy
    function `callee` but not of its rule `template`, in call order. All
    the names count when `callee` takes **kwargs, as np.pad does."""
    signature = library_signature(callee)
    if signature is None:
        return []
    takes_any = any(parameter.kind is inspect.Parameter.VAR_KEYWORD
                    for parameter in signature.parameters.values())
    return [name for name in keywords
            if (takes_any or name in signature.parameters)
            and name not in template.signature.parameters]


def option_message(kind, callee, template, keywords, register):
    """Return (summary, fixes) of the error for a call that passes options
    its rule does not take, or None when the call fails to bind for
    another reason. `kind` is 'gradient' or 'forward', and `register` the
    registration function to suggest."""
    options = unsupported_options(callee, template, keywords)
    if not options:
        return None
    names = ', '.join(f'{name}=' for name in options)
    noun = 'option' if len(options) == 1 else 'options'
    summary = (f'the {kind} rule {template.name} does not support the '
               f'{noun} {names} of this call')
    fixes = [f'call it without {names}, because the rule accepts '
             f'{template.accepted_call()}',
             f'register a rule for this form with adcompiler.{register}']
    return summary, fixes


def _template_name(name, library_names, template_signature):
    """Return the template's name for NumPy's parameter `name`.

    It is `name` when the template has a parameter of that name. Otherwise
    it is the template's positional parameter at the position of `name`,
    unless NumPy uses that parameter's name for another parameter: `x` for
    np.sum's `a`, and `y` for np.dot's `b`.
    """
    parameters = list(template_signature.parameters.values())
    if name in template_signature.parameters or name not in library_names:
        return name
    position = library_names.index(name)
    if position >= len(parameters):
        return name
    parameter = parameters[position]
    if parameter.kind is not parameter.POSITIONAL_OR_KEYWORD or \
            parameter.name in library_names:
        return name
    return parameter.name


def _hashable(callee):
    try:
        hash(callee)
    except TypeError:
        return False
    return True


def user_rule_name(rule_function, callee_name):
    """Name a user's rule function in an error, with the callee it is for:
    "double_vjp (registered for double)"."""
    rule_name = getattr(rule_function, '__qualname__', None) or repr(
        rule_function)
    return f'{rule_name} (registered for {callee_name})'


def argument_description(callee, position):
    """Name the positional argument `position` of a call of `callee` in
    an error: "argument 0 (x)", or "argument 0" where inspect cannot read
    the callee's parameters (a C function without a text signature)."""
    try:
        parameters = list(inspect.signature(callee).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    if position < len(parameters) and parameters[position].kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD):
        return f'argument {position} ({parameters[position].name})'
    return f'argument {position}'
