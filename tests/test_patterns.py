"""Starred assignment targets and match statements that carry derivatives.

normalize lowers `a, *rest, b = v` into `items = list(v)`, a length check
and indexed reads, and each match statement into an if/elif chain (see
adcompiler.patterns). Every case is compared with central finite
differences, on inputs that take each branch.
"""

import collections
import dataclasses
import enum
import inspect

import numpy as np
import pytest

import adcompiler
from adcompiler import runtime
from adcompiler.errors import UnsupportedSyntaxError
from finite_differences import (assert_container_gradient_close,
                                assert_gradient_close, numerical_gradient)


def check_gradient(function, args, position=0):
    """Compare grad of `function` in argument `position` with central
    differences, and the primal value with the function's own."""
    value, gradient = adcompiler.value_and_grad(function, wrt=position)(
        *args)
    np.testing.assert_allclose(value, function(*args), rtol=1e-12)
    expected = numerical_gradient(function, args, position)
    assert_gradient_close(gradient, expected)


def sample(shape, seed=0):
    values = np.random.default_rng(seed).uniform(0.3, 1.2, size=shape)
    return float(values) if shape == () else values


# Starred targets -----------------------------------------------------------

def unpack_middle(x):
    a, *rest, b = x
    total = a * np.sin(b)
    for r in rest:
        total = total + r ** 2
    return np.sum(total)


def unpack_front(x):
    *rest, last = x
    return np.sum(last * 3.0) + sum(np.sum(np.cos(r)) for r in rest)


def unpack_tuple_of_values(x, y):
    first, *others = (x, 2.0 * y, x * y)
    return np.sum(first * others[1]) + np.sum(others[0] ** 2)


def unpack_nested(x):
    (a, *b), c = (x, x * 2.0, x ** 3), np.sin(x)
    return np.sum(a * b[1] + c * b[0])


def unpack_starred_only(x):
    *rows, = x
    return np.sum(rows[0] * rows[-1])


def unpack_in_loop(x):
    s = 0.0
    for first, *others in [(x, x * 2.0, x ** 2), (np.sin(x), x)]:
        s = s + np.sum(first * others[-1])
    return s


def unpack_enumerate(x):
    s = 0.0
    for i, (a, *b) in enumerate([(x, x ** 2), (x * 3.0, x, np.cos(x))]):
        s = s + np.sum(a * b[-1]) * (i + 1)
    return s


def unpack_enumerate_starred(x):
    s = 0.0
    for i, *row in enumerate(x):
        s = s + np.sum(row[0] ** 2) * (i + 1)
    return s


def unpack_in_comprehension(x):
    triples = [(x, x ** 2, np.sin(x)), (x * 2.0, x, x)]
    return sum(np.sum(a * sum(rest)) for a, *rest in triples)


def unpack_list(values):
    a, *rest = values
    return np.sum(a * np.sin(rest[-1])) + sum(np.sum(r ** 2) for r in rest)


@pytest.mark.parametrize('shape', [(2,), (5,), (3, 2), (4, 1, 3)],
                         ids=['pair', 'vector', 'matrix', 'tensor'])
@pytest.mark.parametrize('function', [unpack_middle, unpack_front,
                                      unpack_nested, unpack_in_loop,
                                      unpack_enumerate,
                                      unpack_enumerate_starred,
                                      unpack_in_comprehension,
                                      unpack_starred_only],
                         ids=lambda f: f.__name__)
def test_starred_target_gradient(function, shape):
    check_gradient(function, (sample(shape),))


@pytest.mark.parametrize('x_shape, y_shape', [
    ((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3))],
    ids=['scalars', 'vectors', 'broadcast-row', 'broadcast-outer'])
@pytest.mark.parametrize('position', [0, 1])
def test_starred_tuple_of_values(x_shape, y_shape, position):
    args = (sample(x_shape, 1), sample(y_shape, 2))
    check_gradient(unpack_tuple_of_values, args, position)


@pytest.mark.parametrize('shape', [(), (3,), (2, 2)],
                         ids=['scalars', 'vectors', 'matrices'])
@pytest.mark.parametrize('count', [2, 4])
def test_starred_list_argument(shape, count):
    values = [sample(shape, seed) for seed in range(count)]
    gradient = adcompiler.grad(unpack_list)(values)
    assert_container_gradient_close(unpack_list, (values,), 0, gradient)


def test_starred_target_too_short_raises():
    x = np.array([0.5])
    with pytest.raises(ValueError) as expected:
        unpack_middle(x)
    with pytest.raises(ValueError) as raised:
        adcompiler.grad(unpack_middle)(x)
    assert str(raised.value) == str(expected.value)


def primal_code(function):
    """Return the generated primal of `function` without its comments."""
    source = adcompiler.source(adcompiler.grad(function))
    primal = source[source.index('def primal_'):source.index('def adjoint_')]
    return [line.strip() for line in primal.splitlines()
            if not line.strip().startswith('#')]


def test_starred_target_reads_value_once():
    code = primal_code(unpack_tuple_of_values)
    assert sum('x * y' in line for line in code) == 1
    assert 'check_unpack_length(items, 1)' in code
    part = next(line.split(' = ')[0] for line in code
                if line.endswith(' = items[1:]'))
    # The starred target gets a new list, which it may update in place.
    assert f'others = list({part})' in code


def unpack_into_item(x):
    d = {}
    a, *d['k'] = [x, 2.0 * x, 3.0 * x]
    return np.sum(a * d['k'][1])


def unpack_nested_into_item(x):
    d = {}
    (a, d['k']), b = (x, 2.0 * x), np.sin(x)
    return np.sum(a * d['k'] * b)


def unpack_then_rebind_item(x):
    a, *b = x
    b[0] = b[0] * 2.0  # A new list: x does not change.
    return np.sum(a * b[0]) + np.sum(x)


@pytest.mark.parametrize('shape', [(3,), (3, 2), (4, 1, 3)],
                         ids=['vector', 'matrix', 'tensor'])
@pytest.mark.parametrize('function', [unpack_into_item,
                                      unpack_nested_into_item,
                                      unpack_then_rebind_item],
                         ids=lambda f: f.__name__)
def test_starred_target_item_forms(function, shape):
    check_gradient(function, (sample(shape),))



# Match statements ----------------------------------------------------------

class Mode(enum.Enum):
    SINE = 1
    SQUARE = 2


@dataclasses.dataclass
class Point:
    x: object
    y: object


def match_literals(x, kind):
    match kind:
        case 'sine':
            y = np.sin(x)
        case 'double' | 'twice':
            y = x * 2.0
        case None:
            y = x ** 3
        case _:
            y = x
    return np.sum(y)


def match_dotted_value(x, mode):
    match mode:
        case Mode.SINE:
            y = np.sin(x)
        case Mode.SQUARE:
            y = x ** 2
    return np.sum(y)


def match_capture(x, kind):
    match x * 2.0:
        case doubled if kind == 'capture':
            y = doubled ** 2
        case _:
            y = np.cos(x)
    return np.sum(y)


def match_sequence(values):
    match values:
        case [a, b] if np.sum(a) > np.sum(b):
            y = a * b
        case [a, b, *rest]:
            y = a + np.sin(b) + sum(r ** 2 for r in rest)
        case [only]:
            y = only ** 3
        case _:
            y = 0.0
    return np.sum(y)


def match_sequence_ends(values):
    match values:
        case [first, *middle, last]:
            y = first * last
            for m in middle:
                y = y + np.exp(m)
        case _:
            y = values[0]
    return np.sum(y)


def match_tuple_subject(x, y):
    match (x * 2.0, y):
        case (a, b) if np.sum(b) > 1.5:
            z = a * b
        case (a, b):
            z = a - np.sin(b)
    return np.sum(z)


def match_mapping(params):
    match params:
        case {'w': w, 'b': b}:
            y = w * 2.0 + b
        case {'w': w, **rest}:
            y = np.sin(w) * sum(np.sum(v) for v in rest.values())
        case _:
            y = 0.0
    return np.sum(y)


def match_class(x, kind):
    match Point(x, x * 3.0) if kind == 'point' else np.cos(x) * 1.0:
        case Point(x=px, y=py):
            z = px * np.sin(py)
        case float(v):
            z = v ** 2
        case _:
            z = np.tanh(x)
    return np.sum(z)


def match_class_positional(x):
    match Point(np.sin(x), x ** 2):
        case Point(a, b) if np.sum(b) > 100.0:
            z = a
        case Point(a, b):
            z = a * b
    return np.sum(z)


def match_or_with_bindings(values):
    match values:
        case [x] | [_, x]:
            y = x ** 2
        case _:
            y = values[0] * 0.5
    return np.sum(y)


def match_guard_keeps_bindings(values):
    match values:
        case [a, b] if np.sum(a) > 10.0:
            y = a
        case _:
            y = 0.0
    return np.sum(y + a * b)


def match_in_loop(x):
    s = 0.0
    for v in x:
        match v:
            case _ if v > 1.0:
                break
            case _ if v > 0.5:
                s = s + v ** 2
            case _:
                continue
    else:
        s = s * 2.0
    return s


def classify(value):
    match value:
        case [a, b]:
            return a * np.sin(b)
        case {'scale': s, 'value': v}:
            return s * v
        case _:
            return value ** 2


def match_in_called_function(x):
    return np.sum(classify([x, x * 2.0]) + classify({'scale': x, 'value': 3.0})
                  + classify(np.cos(x)))


@pytest.mark.parametrize('shape', [(), (3,), (2, 3)],
                         ids=['scalar', 'vector', 'matrix'])
@pytest.mark.parametrize('kind', ['sine', 'double', 'twice', None, 'other'])
def test_match_literals(shape, kind):
    check_gradient(match_literals, (sample(shape), kind))


@pytest.mark.parametrize('mode', list(Mode), ids=lambda m: m.name)
def test_match_dotted_value(mode):
    check_gradient(match_dotted_value, (sample((2, 3)), mode))


@pytest.mark.parametrize('kind', ['capture', 'other'])
@pytest.mark.parametrize('shape', [(), (4,)], ids=['scalar', 'vector'])
def test_match_capture(kind, shape):
    check_gradient(match_capture, (sample(shape), kind))


@pytest.mark.parametrize('shape', [(), (3,), (2, 2)],
                         ids=['scalars', 'vectors', 'matrices'])
@pytest.mark.parametrize('seeds', [(3, 1), (1, 3), (1, 2, 3, 4), (5,)],
                         ids=['pair-guard-true', 'pair-guard-false',
                              'four-with-rest', 'single'])
def test_match_sequence(shape, seeds):
    values = [sample(shape, seed) * (1.0 + seed) for seed in seeds]
    gradient = adcompiler.grad(match_sequence)(values)
    assert_container_gradient_close(match_sequence, (values,), 0, gradient)


@pytest.mark.parametrize('count', [1, 2, 5])
def test_match_sequence_of_runtime_length(count):
    values = tuple(sample((3,), seed) for seed in range(count))
    gradient = adcompiler.grad(match_sequence_ends)(values)
    assert_container_gradient_close(match_sequence_ends, (values,), 0,
                                    gradient)


def test_match_sequence_skips_arrays():
    # An ndarray is no registered sequence, so `case [a, b]` does not
    # match it in Python either.
    check_gradient(match_sequence_ends, (sample((3, 2)),))


@pytest.mark.parametrize('x_shape, y_shape, y_scale', [
    ((), (), 1.0), ((), (), 3.0), ((3,), (3,), 1.0), ((2, 3), (3,), 3.0),
    ((2, 1), (1, 3), 1.0)],
    ids=['scalars-small', 'scalars-large', 'vectors', 'broadcast-row',
         'broadcast-outer'])
@pytest.mark.parametrize('position', [0, 1])
def test_match_tuple_subject(x_shape, y_shape, y_scale, position):
    args = (sample(x_shape, 1), sample(y_shape, 2) * y_scale)
    check_gradient(match_tuple_subject, args, position)


@pytest.mark.parametrize('keys', [('w', 'b'), ('w', 'c', 'd'), ('c',)],
                         ids=['both-keys', 'rest', 'no-match'])
@pytest.mark.parametrize('shape', [(), (3,)], ids=['scalars', 'vectors'])
def test_match_mapping(keys, shape):
    params = {key: sample(shape, seed) for seed, key in enumerate(keys)}
    gradient = adcompiler.grad(match_mapping)(params)
    assert_container_gradient_close(match_mapping, (params,), 0, gradient)


@pytest.mark.parametrize('kind', ['point', 'float'])
def test_match_class_keywords(kind):
    check_gradient(match_class, (0.7, kind))


def test_match_class_keywords_array():
    check_gradient(match_class, (sample((2, 3)), 'point'))


@pytest.mark.parametrize('shape', [(), (3,), (2, 3)],
                         ids=['scalar', 'vector', 'matrix'])
def test_match_class_positional(shape):
    check_gradient(match_class_positional, (sample(shape),))


@pytest.mark.parametrize('count', [1, 2, 3])
def test_match_or_with_bindings(count):
    values = [sample((3,), seed) for seed in range(count)]
    gradient = adcompiler.grad(match_or_with_bindings)(values)
    assert_container_gradient_close(match_or_with_bindings, (values,), 0,
                                    gradient)


def test_match_guard_keeps_bindings():
    values = [sample((3,), 1), sample((3,), 2)]
    gradient = adcompiler.grad(match_guard_keeps_bindings)(values)
    assert_container_gradient_close(match_guard_keeps_bindings, (values,),
                                    0, gradient)


@pytest.mark.parametrize('x', [
    np.array([0.6, 0.7, 0.2, 0.9]), np.array([0.6, 1.5, 0.8]),
    np.array([0.1, 0.2])], ids=['no-break', 'break', 'all-continue'])
def test_match_in_loop_with_break(x):
    check_gradient(match_in_loop, (x,))


@pytest.mark.parametrize('shape', [(), (3,)], ids=['scalar', 'vector'])
def test_match_in_called_function(shape):
    check_gradient(match_in_called_function, (sample(shape),))


def apply_by_shape(f, value):
    match value:
        case (a, b):
            return f(a) * b
        case _:
            return f(value)


def match_in_inlined_functions(x):
    def scaled(v, *, by=2.0):
        match by:
            case 2.0:
                return v * by
            case _:
                return v ** 2

    pair = apply_by_shape(np.sin, (x, x ** 2))
    return np.sum(pair + apply_by_shape(lambda v: scaled(v), x)
                  + scaled(x, by=3.0))


@pytest.mark.parametrize('shape', [(), (3,), (2, 2)],
                         ids=['scalar', 'vector', 'matrix'])
def test_match_in_inlined_functions(shape):
    check_gradient(match_in_inlined_functions, (sample(shape),))


@pytest.mark.parametrize('function, args', [
    (match_literals, (sample((3,)), 'sine')),
    (match_tuple_subject, (sample((3,)), sample((3,), 2) * 3.0)),
    (match_class_positional, (sample((2, 3)),)),
    (match_in_loop, (np.array([0.6, 0.7, 0.2, 0.9]),)),
    (match_in_inlined_functions, (sample((3,)),)),
    (unpack_middle, (sample((4, 3)),)),
], ids=lambda value: getattr(value, '__name__', ''))
def test_forward_mode(function, args):
    direction = sample(np.shape(args[0]), 5)
    tangents = (direction,) + (None,) * (len(args) - 1)
    value, tangent = adcompiler.jvp(function, args, tangents)
    expected = np.sum(numerical_gradient(function, args, 0) * direction)
    np.testing.assert_allclose(value, function(*args), rtol=1e-12)
    np.testing.assert_allclose(tangent, expected, rtol=1e-5)


def hessian_by_differences(function, x, *rest):
    gradient = adcompiler.grad(function)
    return np.array([
        numerical_gradient(lambda y: gradient(y, *rest)[row], (x,), 0)
        for row in range(x.size)])


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-reverse'])
@pytest.mark.parametrize('function, rest', [
    (match_literals, ('sine',)), (match_literals, (None,)),
    (match_capture, ('capture',)),
    (match_tuple_subject, (sample((4,), 2) * 3.0,)),
    (match_class_positional, ()), (unpack_middle, ())],
    ids=['literal-sine', 'literal-none', 'capture-guard', 'tuple-subject',
         'class-positional', 'starred'])
def test_hessian(function, rest, mode):
    x = sample((4,), 7)
    hessian = adcompiler.hessian(function, mode=mode)(x, *rest)
    np.testing.assert_allclose(hessian, hessian_by_differences(function, x,
                                                               *rest),
                               rtol=1e-4, atol=1e-6)


def unpack_dict_keys(x):
    a, *rest = {'p': x, 'q': 2.0 * x}
    return np.sum(x) * len(rest) + (1.0 if a == 'p' else 0.0)


def unpack_generator(x):
    a, *rest = (v * 2.0 for v in x)
    return np.sum(a * np.sum(rest))


def match_nested(x, kind):
    match [x, kind]:
        case [v, 'a' | 'b' as tag]:
            match tag:
                case 'a':
                    y = np.sin(v)
                case _:
                    y = v ** 3
        case [v, {'k': [first, *_]}]:
            y = v * first
        case _:
            y = x
    return np.sum(y)


def match_subject_rebound(x):
    match [x, x * 2.0]:
        case [x, y]:
            z = x * y
    return np.sum(z)


def match_literals_in_tuple(x, n):
    match (n, x):
        case (1 | 2, v):
            y = v * n
        case (-1, v):
            y = -np.exp(v)
        case (int(m), v) if m > 10:
            y = v ** 2
        case _:
            y = x
    return np.sum(y)


def match_assignment_expression(x):
    match bool((s := np.sum(x)) > 1.0):
        case True:
            y = x * s
        case False:
            y = x
    return np.sum(y)


def match_in_while_loop(x):
    i = 0
    s = 0.0
    while True:
        match i:
            case 3:
                break
            case 1:
                s = s + np.sum(np.sin(x))
            case _:
                s = s + np.sum(x ** 2)
        i += 1
    return s


@pytest.mark.parametrize('function, rest', [
    (unpack_dict_keys, ()), (unpack_generator, ()),
    (match_nested, ('a',)), (match_nested, ('b',)),
    (match_nested, ({'k': [2.0, 3.0]},)), (match_nested, ({'k': []},)),
    (match_subject_rebound, ()),
    (match_literals_in_tuple, (1,)), (match_literals_in_tuple, (-1,)),
    (match_literals_in_tuple, (11,)), (match_literals_in_tuple, (5,)),
    (match_assignment_expression, ()), (match_in_while_loop, ()),
], ids=['dict-keys', 'generator', 'nested-a', 'nested-b', 'nested-mapping',
        'nested-empty-list', 'subject-rebound', 'or-literal', 'negative',
        'int-guard', 'no-case', 'assignment-expression', 'while-loop'])
@pytest.mark.parametrize('scale', [0.1, 1.0])
def test_other_forms(function, rest, scale):
    check_gradient(function, (np.array([0.4, 0.9, 1.3]) * scale,) + rest)


# Generated code --------------------------------------------------------------

def _line(function, text):
    lines, first = inspect.getsourcelines(function)
    for offset, line in enumerate(lines):
        if text in line:
            return first + offset
    raise AssertionError(f'{text!r} not in {function.__name__}')


def test_generated_code_comments_name_case_lines():
    source = adcompiler.source(adcompiler.grad(match_sequence))
    for text in ('case [a, b] if', 'case [a, b, *rest]:', 'case [only]:'):
        assert f'# line {_line(match_sequence, text)}: ' in source
    code = primal_code(match_sequence)
    assert 't1 = is_match_sequence(values)' in code
    assert 't1 = len(values) == 2' in code


def test_generated_code_evaluates_subject_once():
    source = adcompiler.source(adcompiler.grad(match_tuple_subject))
    assert f'# line {_line(match_tuple_subject, "match (x")}: ' in source
    code = primal_code(match_tuple_subject)
    assert sum('x * 2.0' in line for line in code) == 1


@pytest.mark.parametrize('value', [
    [1.0], (1.0,), range(2), np.zeros(2), 'ab', b'ab', {'a': 1.0},
    dataclasses.make_dataclass('Pair', ['a'])(1.0)],
    ids=['list', 'tuple', 'range', 'ndarray', 'str', 'bytes', 'dict',
         'dataclass'])
def test_subject_kinds_agree_with_python(value):
    def kind_in_python(subject):
        match subject:
            case [*_]:
                return 'sequence'
            case {}:
                return 'mapping'
            case _:
                return 'other'

    expected = kind_in_python(value)
    assert runtime.is_match_sequence(value) == (expected == 'sequence')
    assert runtime.is_match_mapping(value) == (expected == 'mapping')


# Python's semantics in corner cases ------------------------------------------

def match_subject_rebound_by_guard(x):
    v = [x, 2.0 * x]

    def rebind():
        nonlocal v
        v = 9.0
        return False

    match v:
        case [a, b] if rebind():
            z = a
        case [a, b]:
            z = a * b
        case _:
            z = -x
    return np.sum(z)


@pytest.mark.parametrize('shape', [(), (3,), (2, 3)],
                         ids=['scalar', 'vector', 'matrix'])
def test_match_subject_rebound_by_guard(shape):
    # Python evaluates the subject once, so the second case still matches
    # the list, although the guard rebinds v to 9.0.
    check_gradient(match_subject_rebound_by_guard, (sample(shape),))


class KeysNotContained(dict):
    """A dict whose `in` finds no key; a mapping pattern uses get()."""

    def __contains__(self, key):
        return False


def match_mapping_by_get(x, params):
    match params:
        case {'w': w, 'b': b}:
            return np.sum(w * x + b)
        case _:
            return np.sum(-x)


@pytest.mark.parametrize('shape', [(), (3,), (2, 3)],
                         ids=['scalar', 'vector', 'matrix'])
def test_match_mapping_looks_keys_up_by_get(shape):
    params = KeysNotContained(w=sample(shape, 1), b=sample(shape[-1:], 2))
    assert match_mapping_by_get(1.0, params) != -1.0
    check_gradient(match_mapping_by_get, (sample(shape), params))
    x = sample(shape)
    gradient = adcompiler.grad(match_mapping_by_get, wrt=1)(x, params)

    def by_items(w, b):
        return match_mapping_by_get(x, KeysNotContained(w=w, b=b))

    items = (params['w'], params['b'])
    assert_gradient_close(gradient['w'], numerical_gradient(by_items, items,
                                                            0))
    assert_gradient_close(gradient['b'], numerical_gradient(by_items, items,
                                                            1))


def test_match_mapping_forward_mode():
    params = KeysNotContained(w=sample((3,), 1), b=0.5)
    args = (sample((3,)), params)
    direction = sample((3,), 5)
    value, tangent = adcompiler.jvp(match_mapping_by_get, args,
                                    (direction, None))
    expected = np.sum(numerical_gradient(match_mapping_by_get, args, 0)
                      * direction)
    np.testing.assert_allclose(value, match_mapping_by_get(*args),
                               rtol=1e-12)
    np.testing.assert_allclose(tangent, expected, rtol=1e-5)


class CountedReads:
    def __init__(self, scale):
        self.scale = scale
        self.reads = 0

    @property
    def value(self):
        self.reads += 1
        return self.scale


def match_property(x, holder):
    match holder:
        case CountedReads(value=v) if v > 0.0:
            return np.sum(v * np.sin(x))
        case _:
            return np.sum(x)


@pytest.mark.parametrize('shape', [(), (3,)], ids=['scalar', 'vector'])
def test_match_class_reads_attribute_once(shape):
    expected = CountedReads(2.0)
    match_property(sample(shape), expected)
    gradient = adcompiler.grad(match_property)
    gradient(sample(shape), CountedReads(2.0))  # Compiles the function.
    holder = CountedReads(2.0)
    gradient(sample(shape), holder)
    assert expected.reads == 1
    assert holder.reads == expected.reads
    check_gradient(match_property, (sample(shape), CountedReads(2.0)))


class LoggedEquality:
    """A value whose == records what it is compared with."""

    def __init__(self, value, log):
        self.value = value
        self.log = log

    def __eq__(self, other):
        self.log.append(other)
        return other == self.value

    __hash__ = None


def match_or_alternatives(x, pair):
    match pair:
        case [1, y] | [2, y]:
            return np.sum(y * x)
    return np.sum(3.0 * x)


@pytest.mark.parametrize('tag', [1, 2, 3])
def test_match_or_tests_each_alternative_once(tag):
    x = sample((3,))
    python_log, compiled_log = [], []
    match_or_alternatives(x, [LoggedEquality(tag, python_log), 5.0])
    adcompiler.grad(match_or_alternatives)(
        x, [LoggedEquality(tag, compiled_log), 5.0])
    assert compiled_log == python_log
    check_gradient(match_or_alternatives,
                   (x, [LoggedEquality(tag, []), 5.0]))


class Swappable:
    __match_args__ = ('a', 'b')

    def __init__(self, a, b):
        self.a = a
        self.b = b


def match_swappable(x, pair):
    match pair:
        case Swappable(p, 3.0):
            return np.sum(p * x ** 2)
        case _:
            return np.sum(-x)


@pytest.mark.parametrize('shape', [(), (3,)], ids=['scalar', 'vector'])
def test_match_args_read_when_matching(shape):
    x = sample(shape)
    check_gradient(match_swappable, (x, Swappable(2.0, 3.0)))
    Swappable.__match_args__ = ('b', 'a')
    try:
        # Python now matches p to b, and the literal to a.
        check_gradient(match_swappable, (x, Swappable(3.0, 2.0)))
        check_gradient(match_swappable, (x, Swappable(2.0, 3.0)))
    finally:
        Swappable.__match_args__ = ('a', 'b')


def test_match_args_shortened_raises_python_error():
    x = sample((3,))
    gradient = adcompiler.grad(match_swappable)
    gradient(x, Swappable(2.0, 3.0))  # Compiles the function.
    Swappable.__match_args__ = ('a',)
    try:
        with pytest.raises(TypeError) as expected:
            match_swappable(x, Swappable(2.0, 3.0))
        with pytest.raises(TypeError) as raised:
            gradient(x, Swappable(2.0, 3.0))
    finally:
        Swappable.__match_args__ = ('a', 'b')
    assert str(raised.value) == str(expected.value)


def match_star_of_deque(x, values):
    match values:
        case [a, *rest, last]:
            return np.sum(a * x + last) + len(rest)
        case _:
            return np.sum(-x)


@pytest.mark.parametrize('count', [1, 2, 4])
@pytest.mark.parametrize('shape', [(), (3,)], ids=['scalar', 'vector'])
def test_match_star_of_sequence_without_slices(count, shape):
    values = collections.deque(sample(shape, seed) for seed in range(count))
    check_gradient(match_star_of_deque, (sample(shape), values))


class Count(int):
    pass


class Weight(float):
    pass


def match_builtin_subclass(x, value):
    match value:
        case Count(n):
            return np.sum(x * n)
        case Weight(w):
            return np.sum(x ** 2 * w)
    return np.sum(x)


@pytest.mark.parametrize('value', [Count(3), Weight(0.5), 2.5],
                         ids=['int-subclass', 'float-subclass', 'float'])
@pytest.mark.parametrize('shape', [(), (3,)], ids=['scalar', 'vector'])
def test_match_subclass_of_builtin_matches_itself(value, shape):
    check_gradient(match_builtin_subclass, (sample(shape), value))


# Calls of helpers that rebind names -------------------------------------------

_STATE = 1.0


def _rebind_state():
    global _STATE
    _STATE = 7.0
    return False


def call_rebinding_global(x):
    if _rebind_state():
        return np.sum(x)
    return np.sum(2.0 * x * _STATE)


def test_call_of_global_writer_raises():
    with pytest.raises(UnsupportedSyntaxError) as raised:
        adcompiler.grad(call_rebinding_global)(sample((3,)))
    message = str(raised.value)
    assert '_rebind_state' in message
    assert "'_STATE'" in message
    assert raised.value.lineno == _line(call_rebinding_global,
                                        'if _rebind_state()')


def _import_then_rebind(x):
    import math as scale
    scale = 2.0
    return x * scale


def call_import_then_rebind(x):
    return np.sum(_import_then_rebind(x) * 3.0)


def test_helper_rebinding_imported_name():
    check_gradient(call_import_then_rebind, (sample((3,)),))
