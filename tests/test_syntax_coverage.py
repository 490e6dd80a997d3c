"""Every Python syntax node is either differentiated or rejected clearly.

For each statement and expression node type of gast that current Python can
parse, a small function uses it. A supported node is checked against central
differences; an unsupported one must raise UnsupportedSyntaxError with this
file, the line of the node and a caret, never another exception.
"""

import ast
import inspect
import sys

import gast
import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

SCALE = 2.0


# Statements.

def uses_function_def(x):
    def inner(v):
        return v * 2.0
    return inner(x)


async def uses_async_function_def(x):
    return x


def uses_class_def(x):
    class Inner:
        pass
    return x


def uses_return(x):
    return x * 3.0


def uses_delete(x):
    y = x * 2.0
    del y
    return x


def uses_assign(x):
    y = x * 2.0
    return y


def uses_aug_assign(x):
    y = x * 2.0
    y += x
    return y


def uses_ann_assign(x):
    y: float = x * 2.0
    return y


def uses_for(x):
    s = 0.0
    for i in range(3):
        s = s + x * i
    return s


def uses_while(x):
    s = 0.0
    k = 0
    while k < 3:
        s = s + x
        k = k + 1
    return s


def uses_if(x):
    if x > 0:
        return x * 2.0
    return -x


def uses_with(x):
    with np.errstate(all='ignore'):
        y = x * 2.0
    return y


def uses_match(x):
    match 1:
        case 1:
            y = x
    return y


def uses_raise(x):
    if x > 100.0:
        raise ValueError('too big')
    return x


def uses_try(x):
    try:
        y = x * 2.0
    except ValueError:
        y = x
    return y


def uses_assert(x):
    assert x > -100.0
    return x * 2.0


def uses_import(x):
    import math
    return x * math.pi


def uses_import_from(x):
    from math import pi
    return x * pi


def uses_global(x):
    global SCALE
    return x * SCALE


def uses_nonlocal(x):
    y = x

    def inner():
        nonlocal y
        y = y * 2.0
    inner()
    return y


def uses_expr(x):
    print(end='')
    return x * 2.0


def uses_pass(x):
    pass
    return x * 2.0


def uses_break(x):
    s = 0.0
    for i in range(5):
        if i > 2:
            break
        s = s + x
    return s


def uses_continue(x):
    s = 0.0
    for i in range(4):
        if i == 1:
            continue
        s = s + x * i
    return s


# Expressions.

def uses_bool_op(x):
    y = x > 0 and x < 10
    return x * 2.0 if y else x


def uses_named_expr(x):
    return (y := x * 2.0) + y


def uses_bin_op(x):
    return x * 2.0 + x


def uses_unary_op(x):
    return -x


def uses_lambda(x):
    double = lambda v: v * 2.0  # noqa: E731
    return double(x)


def uses_if_exp(x):
    return x * 2.0 if x > 0 else -x


def uses_dict(x):
    values = {'a': x * 2.0}
    return values['a']


def uses_set(x):
    values = {1, 2}
    return x * len(values)


def uses_list_comp(x):
    return sum([x * i for i in range(3)])


def uses_set_comp(x):
    return x * len({i for i in range(3)})


def uses_dict_comp(x):
    return x * len({i: i for i in range(3)})


def uses_generator_exp(x):
    return sum(x * i for i in range(3))


async def uses_await(x):
    return await x


def uses_yield(x):
    yield x


def uses_yield_from(x):
    yield from [x]


def uses_compare(x):
    return x * 2.0 if x < 1.0 else x


def uses_call(x):
    return np.sin(x)


def uses_formatted_value(x):
    label = f'{x:.2f}'
    return x * len(label) * 0.0 + x


def uses_joined_str(x):
    label = f'x={x}'
    return x * 2.0


def uses_constant(x):
    return x * 2.0


def uses_attribute(x):
    return x * np.pi


def uses_subscript(x):
    return np.array([x, x * 2.0])[1]


def uses_starred(x):
    pair = (x, 2.0)
    return np.multiply(*pair)


def uses_name(x):
    return x


def uses_list(x):
    return [x, x * 2.0][1]


def uses_tuple(x):
    return (x, x * 2.0)[1]


def uses_slice(x):
    return np.sum(np.array([x, x, x])[0:2])


# Node type -> (function, marker of the line an unsupported node is on).
# A None marker means the node is supported. Several (class, del, raise,
# import, lambda, set) are supported because their statements carry no
# derivative there, so they run as written.
TABLE = {
    'FunctionDef': (uses_function_def, None),
    'AsyncFunctionDef': (uses_async_function_def, 'async def uses_async'),
    'ClassDef': (uses_class_def, None),
    'Return': (uses_return, None),
    'Delete': (uses_delete, None),
    'Assign': (uses_assign, None),
    'AugAssign': (uses_aug_assign, None),
    'AnnAssign': (uses_ann_assign, 'y: float'),
    'For': (uses_for, None),
    'AsyncFor': (uses_async_function_def, 'async def uses_async'),
    'While': (uses_while, None),
    'If': (uses_if, None),
    'With': (uses_with, None),
    'AsyncWith': (uses_async_function_def, 'async def uses_async'),
    'Match': (uses_match, None),
    'Raise': (uses_raise, None),
    'Try': (uses_try, None),
    'Assert': (uses_assert, None),
    'Import': (uses_import, None),
    'ImportFrom': (uses_import_from, None),
    'Global': (uses_global, None),
    'Nonlocal': (uses_nonlocal, None),
    'Expr': (uses_expr, None),
    'Pass': (uses_pass, None),
    'Break': (uses_break, None),
    'Continue': (uses_continue, None),
    'BoolOp': (uses_bool_op, None),
    'NamedExpr': (uses_named_expr, None),
    'BinOp': (uses_bin_op, None),
    'UnaryOp': (uses_unary_op, None),
    'Lambda': (uses_lambda, None),
    'IfExp': (uses_if_exp, None),
    'Dict': (uses_dict, None),
    'Set': (uses_set, None),
    'ListComp': (uses_list_comp, None),
    'SetComp': (uses_set_comp, None),
    'DictComp': (uses_dict_comp, None),
    'GeneratorExp': (uses_generator_exp, None),
    'Await': (uses_async_function_def, 'async def uses_async'),
    'Yield': (uses_yield, 'yield x'),
    'YieldFrom': (uses_yield_from, 'yield from [x]'),
    'Compare': (uses_compare, None),
    'Call': (uses_call, None),
    'FormattedValue': (uses_formatted_value, None),
    'JoinedStr': (uses_joined_str, None),
    'Constant': (uses_constant, None),
    'Attribute': (uses_attribute, None),
    'Subscript': (uses_subscript, None),
    'Starred': (uses_starred, None),
    'Name': (uses_name, None),
    'List': (uses_list, None),
    'Tuple': (uses_tuple, None),
    'Slice': (uses_slice, None),
}

# Syntax newer than Python 3.10 is in modules imported only where it parses.
if sys.version_info >= (3, 11):
    from syntax_since_3_11 import uses_try_star
    TABLE['TryStar'] = (uses_try_star, 'try:')
if sys.version_info >= (3, 12):
    from syntax_since_3_12 import uses_type_alias
    TABLE['TypeAlias'] = (uses_type_alias, None)

# gast node types that no Python 3.10+ source parses to on this version.
NOT_IN_THIS_PYTHON = {'Exec', 'Print', 'Repr'} | {
    name for name in ('TryStar', 'TypeAlias', 'TemplateStr', 'Interpolation')
    if not hasattr(ast, name)}


def _node_types():
    names = set()
    for base in (gast.stmt, gast.expr):
        names.update(c.__name__ for c in base.__subclasses__())
    return sorted(names - NOT_IN_THIS_PYTHON)


def test_table_covers_every_node_type():
    assert set(_node_types()) - set(TABLE) == set()


def _line_of(function, marker):
    lines, first = inspect.getsourcelines(function)
    matches = [first + i for i, line in enumerate(lines) if marker in line]
    assert matches, f'{marker!r} not in {function.__name__}'
    return matches[0]


@pytest.mark.parametrize('node_type', sorted(TABLE))
def test_node_supported_or_rejected(node_type):
    function, marker = TABLE[node_type]
    if marker is None:
        expected = numerical_gradient(function, (0.7,), 0)
        assert_gradient_close(adcompiler.grad(function)(0.7), expected)
        return
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(function)(0.7)
    error = info.value
    assert error.filename == inspect.getsourcefile(function)
    assert error.lineno == _line_of(function, marker)
    assert '^' in str(error)


@pytest.mark.skipif(sys.version_info < (3, 11),
                    reason='except* is new in Python 3.11')
def test_try_star_names_except_star_and_a_working_fix():
    """The message read 'a try statement is not supported', though try
    statements with plain except clauses are."""
    import syntax_since_3_11
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(syntax_since_3_11.uses_try_star)(0.7)
    assert 'except*' in info.value.construct
    assert 'except ExceptionGroup as group' in info.value.fixes[0]
    # The fix's spelling differentiates.
    function = syntax_since_3_11.uses_plain_except_for_group
    for x in (0.7, np.array([0.3, -1.2, 2.0])):
        expected = numerical_gradient(lambda v: np.sum(function(v)), (x,), 0)
        computed = adcompiler.grad(lambda v: np.sum(function(v)))(x)
        assert_gradient_close(computed, expected)


@pytest.mark.skipif(sys.version_info < (3, 12),
                    reason='type parameters are new in Python 3.12')
@pytest.mark.parametrize('name', ['uses_generic_function',
                                  'uses_generic_inner_function'])
def test_generic_function_matches_finite_differences(name):
    import syntax_since_3_12
    function = getattr(syntax_since_3_12, name)
    for x in (0.7, np.array([0.3, -1.2, 2.0])):
        expected = numerical_gradient(lambda v: np.sum(function(v)), (x,), 0)
        computed = adcompiler.grad(lambda v: np.sum(function(v)))(x)
        assert_gradient_close(computed, expected)
