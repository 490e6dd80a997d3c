"""Normalize: the A-normal-form grammar, single assignment, and round trips."""

import gast
import numpy as np
import pytest

from adcompiler import emit, normalize
from adcompiler.compiler import Compiler
from adcompiler import parse as source


def polynomial(x):
    return 3.0 * x ** 3 - 2.0 * x + 1.0


def reassigned(x, y=2.0):
    x = x * y
    x = x + np.sin(x)
    x += 1.0
    return np.sum(x)


def unpacking(x):
    a, (b, c) = x[0], (x[1], x[2])
    return a * b - c


def indexing(x):
    return x[1:, ::2].sum() + x[-1, 0] * x[:, None, 0].mean()


def methods(x):
    return (x.T @ x).reshape(-1).max()


def nested_calls(x):
    return np.exp(np.log(np.abs(x) + 1.0)).sum(axis=0).mean()


CORPUS = [polynomial, reassigned, unpacking, indexing, methods, nested_calls]
INPUTS = {
    polynomial: (1.7,),
    reassigned: (np.array([0.3, -1.2, 2.0]),),
    unpacking: (np.array([0.5, 1.5, -2.0]),),
    indexing: (np.arange(12.0).reshape(3, 4) / 7,),
    methods: (np.arange(6.0).reshape(2, 3) - 2.5,),
    nested_calls: (np.linspace(-1, 1, 6).reshape(2, 3),),
}


def _atomic(node):
    return isinstance(node, (gast.Name, gast.Constant, gast.Attribute))


@pytest.mark.parametrize('function', CORPUS, ids=lambda f: f.__name__)
def test_normalized_statements_are_atomic(function):
    normalized = normalize.normalize(source.get_source(function))
    for statement in normalized.tree.body:
        value = getattr(statement, 'value', None)
        if isinstance(value, gast.BinOp):
            assert _atomic(value.left)
            assert _atomic(value.right)
        if isinstance(value, gast.Call):
            assert all(_atomic(a) for a in value.args)
        if isinstance(value, gast.Subscript):
            assert _atomic(value.value)


@pytest.mark.parametrize('function', CORPUS, ids=lambda f: f.__name__)
def test_each_local_is_assigned_once(function):
    normalized = normalize.normalize(source.get_source(function))
    stored = [n.id for n in gast.walk(normalized.tree)
              if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)]
    assert len(stored) == len(set(stored))


@pytest.mark.parametrize('function', CORPUS, ids=lambda f: f.__name__)
def test_round_trip_keeps_values(function):
    parsed = source.get_source(function)
    normalized = normalize.normalize(parsed)
    module = emit.emit([normalized.tree], parsed.namespace, 'round trip')
    rebuilt = module.functions[normalized.tree.name]
    rebuilt.__defaults__ = function.__defaults__
    args = INPUTS[function]
    np.testing.assert_allclose(rebuilt(*args), function(*args), rtol=1e-13)


def test_statements_keep_source_lines():
    normalized = normalize.normalize(source.get_source(reassigned))
    first_line = reassigned.__code__.co_firstlineno
    lines = sorted({s.lineno - first_line for s in normalized.tree.body})
    assert lines == [1, 2, 3, 4]


def test_second_version_gets_suffix():
    normalized = normalize.normalize(source.get_source(reassigned))
    stored = [s.targets[0].id for s in normalized.tree.body
              if isinstance(s, gast.Assign)]
    assert 'x_1' in stored
    assert 'x_2' in stored


@pytest.mark.parametrize('function', CORPUS, ids=lambda f: f.__name__)
def test_generated_source_read_like_inspect(function, monkeypatch):
    """Generated functions are read from their module's whole text. The
    tree must equal the one that inspect's block of lines gives."""
    compiled = Compiler().compile(function, ('x',))
    for generated in (compiled.primal, compiled.adjoint):
        fast = source.get_source(generated)
        with monkeypatch.context() as patch:
            patch.setattr(source, '_generated_definition', lambda f: None)
            slow = source.get_source(generated)
        assert gast.dump(fast.tree, include_attributes=True) == gast.dump(
            slow.tree, include_attributes=True)
        assert fast.lines == slow.lines


_DEF_BLOCKS = [
    # (id, source, path of the function in the namespace, fast path used)
    ('top_level',
     'def f(x):\n    y = x * 2.0\n    return y\n', 'f', True),
    ('followed_by_code',
     'def f(x):\n    return x * 2.0\n# after\ny = 1\n\ndef g(x):\n'
     '    return x\n', 'f', True),
    ('one_line_def', 'def f(x): return x * 2.0\ny = 1\n', 'f', True),
    ('nested_def_and_comments',
     'def f(x):\n    def inner(v):\n        return v * 2.0\n\n'
     '    # a comment\n    return inner(x)\n    # trailing\n', 'f', True),
    ('method',
     'class C:\n    def f(self, x):\n        return x * 2.0\n\n'
     '    def g(self, x):\n        return x\n', 'C.f', True),
    ('comment_at_column_0',
     'def f(x):\n    y = x * 2.0\n# unindented\n    return y\n', 'f', True),
    ('string_line_at_column_0',
     'def f(x):\n    text = """a\nb"""\n    return x * 2.0\n', 'f', False),
    ('bracket_line_at_column_0',
     'def f(x):\n    y = max(x,\nx)\n    return y\n', 'f', False),
    ('backslash_line_at_column_0',
     'def f(x):\n    y = x + \\\nx\n    return y\n', 'f', False),
]


@pytest.mark.parametrize('text, path, fast', [case[1:] for case in _DEF_BLOCKS],
                         ids=[case[0] for case in _DEF_BLOCKS])
def test_def_block_parsed_like_inspect(text, path, fast, monkeypatch):
    """The block of a def found without the tokenizer gives the tree that
    inspect's block gives, or is not used."""
    import linecache
    filename = f'<test_def_block {path} {len(text)}>'
    linecache.cache[filename] = (len(text), None, text.splitlines(True),
                                 filename)
    namespace = {}
    exec(compile(text, filename, 'exec'), namespace)  # noqa: S102
    function = namespace
    for part in path.split('.'):
        function = (function[part] if isinstance(function, dict)
                    else getattr(function, part))
    lines, first_line = source.inspect.findsource(function)
    assert (source._parse_def_block(lines, first_line, function)
            is not None) == fast
    found = source.get_source(function)
    with monkeypatch.context() as patch:
        patch.setattr(source, '_parse_def_block', lambda *args: None)
        slow = source.get_source(function)
    assert gast.dump(found.tree, include_attributes=True) == gast.dump(
        slow.tree, include_attributes=True)
