"""adcompiler.printer writes the text that astor writes for the same tree."""

import ast
import copy

import gast
import numpy as np
import pytest

from adcompiler import emit, printer, verbatim
from adcompiler.codegen import COMMENT_PREFIX


def both_sources(tree):
    """Return the text of `emit.to_source` and of the astor printing,
    each from its own copy of `tree`."""
    return (emit.to_source(copy.deepcopy(tree)),
            emit._to_source_with_astor(copy.deepcopy(tree)))


def assert_same_text(text):
    tree = gast.parse(text)
    printed, expected = both_sources(tree)
    assert printed == expected
    assert ast.dump(ast.parse(printed)) == ast.dump(ast.parse(text))


PRECEDENCE = [
    'a = (b + c) * d',
    'a = b - (c - d) + (e - f)',
    'a = -b ** 2',
    'a = (-b) ** 2',
    'a = b ** -c',
    'a = b ** c ** d',
    'a = (b ** c) ** d',
    'a = (a + b).T',
    'a = (-a).T',
    'a = (1).real + (2.5).imag',
    'a = f(x)(y)[z]',
    'a = f(b + c)',
    'a = f(b, *c, d=e, **g)',
    'a = f(*(b + c))',
    'a = f((b, c))',
    'a = not b and c or not (d or e)',
    'a = b < c <= d',
    'a = (b < c) == (d is not e)',
    'a = b not in c',
    'a = b if c else d',
    'a = (b if c else d) if e else f',
    'a = b if (c if d else e) else f',
    'a = b @ c // d % e',
    'a = ~b << c >> (d | e) ^ f & g',
    'a = x[1:2, ::3, c]',
    'a = x[::None]',
    'a = x[:b + 1]',
    'a = x[()]',
    'a = x[b,]',
    'a, b = c',
    '(a, b), c = d',
    'a = b = c, d',
    'a = ()',
    'a = b,',
    'a = [b, (c, d), [e]]',
    'a = {b: c, **d}',
    'a = {(b + c): d, 1: 2}',
    'a = {b, c}',
    'a = ...',
    'a = None, True, False',
    'a += b * c',
    'a[i] -= b',
    'a.b = c',
    'f(a)',
    'a.b(c)',
]


@pytest.mark.parametrize('text', PRECEDENCE)
def test_expression_text_as_astor(text):
    assert_same_text(text + '\n')


CONSTANTS = [
    'a = 1.5e-300',
    'a = 12345678901234567890123',
    'a = "it\'s"',
    "a = 'a\\tb'",
    "a = b'bytes'",
    'a = 1j',
    'a = 2 + 3j',
    "a = u'text'",
    "a = 'line\\nbreak'",
    "a = f'{b}'",
    "'text'.join(a)",
    "a = 'text'.join(b)",
    "'first' + a",
    "a = 'text'",
]


@pytest.mark.parametrize('text', CONSTANTS)
def test_constant_text_as_astor(text):
    assert_same_text(text + '\n')


def _assign(value):
    return gast.Module(body=[gast.Assign(
        targets=[gast.Name(id='a', ctx=gast.Store(), annotation=None,
                           type_comment=None)],
        value=value, type_comment=None)], type_ignores=[])


def _constant(value):
    return gast.Constant(value=value, kind=None)


@pytest.mark.parametrize('value', [
    -3, -2.5, -0.0, 0.0, 7, True, None, float('inf'), float('-inf'),
    float('nan'), -1j, 1 - 2j, np.float64(2.0), np.float64(-2.0)],
    ids=repr)
def test_generated_constant_as_astor(value):
    tree = _assign(_constant(value))
    printed, expected = both_sources(tree)
    assert printed == expected


@pytest.mark.parametrize('value', [-3, -2.5, -0.0])
def test_negative_constant_operands(value):
    power = gast.BinOp(left=_constant(value), op=gast.Pow(),
                       right=_constant(value))
    attribute = gast.Attribute(value=_constant(value), attr='real',
                               ctx=gast.Load())
    for expression in (power, attribute):
        printed, expected = both_sources(_assign(expression))
        assert printed == expected


STATEMENTS = [
    'if a:\n    b = 1\nelif c:\n    b = 2\nelse:\n    b = 3\n',
    'if a:\n    b = 1\nelse:\n    if c:\n        b = 2\n    d = 3\n',
    'for i in (a, b):\n    c = i\nelse:\n    d = 1\n',
    'for i, j in f(a):\n    continue\n',
    'while not a:\n    break\nelse:\n    pass\n',
    'with f(a) as (b, c), g():\n    d = b\n',
    'try:\n    a = 1\nexcept (E, F) as err:\n    b = err\n'
    'except G:\n    pass\nexcept:\n    raise\nelse:\n    c = 1\n'
    'finally:\n    d = 2\n',
    'del a[0], b\n',
    'global a, b\n',
    'def f():\n    nonlocal a\n',
    'raise E(a) from b\n',
    'raise (a + b)\n',
    'assert a < b, "message"\n',
    'assert a\n',
    'def f(a, b=1, *c, d, e=(2, 3), **g):\n    return\n',
    'def f(*, a):\n    return a, b\n',
    'def f(a, /, b):\n    return a\n',
    'def f(a: int) -> int:\n    return a\n',
    '@decorator\ndef f():\n    return 1\n',
    'async def f():\n    await a\n',
    'class C:\n    a = 1\n',
    'def f():\n    a = 1\n\n    def g():\n        return a\n    b = g\n',
    'a = 1\n\n\ndef f():\n    return a\n\n\nb = f\n',
    'def f():\n    return lambda x: x + 1\n',
    'def f():\n    return [i for i in a if i]\n',
    'import numpy as np\nfrom os import path\n',
    'a = (b := 1)\n',
    'def f():\n    yield a\n',
    'x: int = 1\n',
]


@pytest.mark.parametrize('text', STATEMENTS)
def test_statement_text_as_astor(text):
    assert_same_text(text)


def test_empty_blocks_get_pass():
    tree = gast.parse('if a:\n    b = 1\nelse:\n    c = 2\n'
                      'for i in a:\n    b = i\n'
                      'try:\n    b = 1\nexcept E:\n    c = 2\n')
    tree.body[0].body = []
    tree.body[1].body = []
    tree.body[2].handlers[0].body = []
    printed, expected = both_sources(tree)
    assert printed == expected
    assert printed.count('pass') == 3


def _comment(text):
    return gast.Expr(value=_constant(COMMENT_PREFIX + text))


def test_comments_as_astor():
    tree = gast.parse('def f(a):\n    b = a\n    if b:\n        c = 1\n'
                      '    return b\n')
    function = tree.body[0]
    function.body.insert(0, _comment('line 2: b = a'))
    function.body.insert(2, _comment('a comment longer than any line: '
                                     + 'word ' * 30))
    function.body[3].body.insert(0, _comment('inside the branch'))
    printed, expected = both_sources(tree)
    assert printed == expected
    assert '    # line 2: b = a\n' in printed
    assert '        # inside the branch\n' in printed


def test_deep_comment_marker_as_astor():
    # At 13 levels the marker name astor prints passes 79 characters.
    text = ''.join('    ' * level + 'if a:\n' for level in range(14))
    text += '    ' * 14 + 'b = 1\n'
    tree = gast.parse(text)
    innermost = tree
    for _ in range(14):
        innermost = innermost.body[0]
    innermost.body.insert(0, _comment('deep'))
    printed, expected = both_sources(tree)
    assert printed == expected


def names(count, prefix='value'):
    return ', '.join(f'{prefix}{i}' for i in range(count))


LONG_LINES = [
    '{names} = saved',
    'first, {names} = saved',
    'return first, ({names})',
    'return f({names}), [g(a, b) for a in c]',
    'packed = first, ({names})',
    'packed = first, f({names}), -1.5',
    'a.b = first, {names}',
    'a[0], b = first, {names}',
    'result = combine({names})',
    'result = outer(first, inner({names}), last)',
    'result = x[{names}]',
    'result = {{{names}}}',
    'result = first + second * third - fourth / fifth + sixth ** seventh '
    '+ eighth',
    'first, second, third, fourth, fifth, sixth, seventh = eighth, ninth, '
    'tenth',
    'result = f("a string with (brackets, commas)", {names})',
    'combine({names})',
    'assert first, ({names})',
]


@pytest.mark.parametrize('count', [3, 30, 400])
@pytest.mark.parametrize('line', LONG_LINES)
def test_long_line_as_astor(line, count):
    text = 'def f(saved):\n    ' + line.format(names=names(count)) + '\n'
    assert_same_text(text)


def test_long_first_line_of_module_as_astor():
    assert_same_text(f'packed = first, ({names(400)})\n')
    assert_same_text(f'packed = first, ({names(20)})\n')


def test_verbatim_replaced_in_place():
    tree = gast.parse('def f(a):\n    b = a\n    if a:\n        c = b\n'
                      '    else:\n        d = b\n    return b\n')
    function = tree.body[0]
    function.body[0] = verbatim.Verbatim(statement=function.body[0])
    branch = function.body[1]
    branch.orelse[0] = verbatim.Verbatim(statement=gast.parse(
        'if b:\n    e = 1\n').body[0])
    expected = emit._to_source_with_astor(copy.deepcopy(tree))
    printed = emit.to_source(tree)
    assert printed == expected
    assert 'elif b:' in printed
    assert not any(isinstance(node, verbatim.Verbatim)
                   for node in gast.walk(tree))


def test_unsupported_statement_keeps_neighbours():
    tree = gast.parse('a = 1\nb = [i for i in a]\nc = 2\n')
    lines = printer.SourcePrinter(
        [], lambda statement, level, first: (['fallback'], 1, 0)).module(tree)
    assert lines == ['a = 1', 'fallback', 'c = 2']
