"""Comprehensions and generator expressions lowered to loops, checked
against central differences."""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def generator_unpacked_into_call(x):
    arrays = (x, x * 2.0)
    return np.sum(np.multiply(*(a[0:2] for a in arrays)))


def generator_unpacked_into_argument(x, combine=np.multiply):
    arrays = (x, np.sin(x))
    return np.sum(combine(*(a[1:] for a in arrays)))


@pytest.mark.parametrize('function', [generator_unpacked_into_call,
                                      generator_unpacked_into_argument],
                         ids=lambda f: f.__name__)
def test_generator_unpacked_into_call(function):
    # The loop that builds the generator's items appends to an empty list:
    # the call must unpack the list, not the empty display.
    x = np.array([0.5, -1.2, 2.0])
    assert_gradient_close(adcompiler.grad(function)(x),
                          numerical_gradient(function, (x,), 0))


# any() and all() of a generator stop at the first item that decides them,
# as Python does: the items after it are not computed. They were computed
# eagerly, so a side effect ran for every item and 1.0 / 0.0 raised.

def _counts_any_calls(x):
    calls = []

    def positive(v):
        calls.append(v)
        return v > 0
    any(positive(v) for v in x)
    return x[0] * len(calls)


def _guards_division(x):
    values = [float(x[0]), 0.0]
    if any(1.0 / v > 2.0 for v in values):
        return x[1] * 2.0
    return x[1] * np.sum(x)


def _all_with_condition(x):
    checked = []
    every = all(checked.append(v) or v < 1.0 for v in x if v != 0.0)
    return np.sum(x ** 2) * (1.0 + len(checked)) + (3.0 if every else 0.0)


@pytest.mark.parametrize('function, x', [
    (_counts_any_calls, [0.3, -1.2, 0.8, 1.7]),
    (_counts_any_calls, [-0.3, -1.2, 0.8, 1.7]),
    (_guards_division, [0.3, -1.2, 0.8]),
    (_guards_division, [0.45, -1.2, 0.8]),
    (_all_with_condition, [0.3, 0.0, 2.0, 0.5]),
    (_all_with_condition, [0.3, 0.5]),
])
def test_any_all_stop_at_deciding_item(function, x):
    x = np.array(x)
    value, gradient = adcompiler.value_and_grad(function)(x)
    assert value == pytest.approx(function(x))
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(gradient, expected)
    v = np.linspace(0.5, 1.5, x.size)
    _, tangent = adcompiler.jvp(function, (x,), (v,))
    assert tangent == pytest.approx(np.dot(expected, v))


# A generator, map, zip, ... kept in a variable: adcompiler computes its
# items where it is made, so it is accepted only where Python would compute
# the same items: one later read, whole, before the names it reads change.

def _consumed_twice(x):
    squares = map(lambda v: v ** 2, x)
    return sum(squares) + sum(squares)


def _consumed_in_parts(x):
    squares = (v ** 2 for v in x)
    head = [s for _, s in zip(range(2), squares)]
    return 10.0 * sum(head) + sum(squares)


def _captured_name_rebound(x):
    c = x[0]
    scaled = (v * c for v in x)
    c = x[1]
    return sum(scaled)


def _read_by_a_loop(x):
    doubled = (v * 2.0 for v in x)
    total = 0.0
    for _ in range(2):
        total = total + sum(doubled)
    return total


def _passed_to_a_helper(x):
    doubled = (v * 2.0 for v in x)
    return _first_of(doubled)


def _first_of(items):
    return next(iter(items))


def _list_appended_before_read(x):
    values = [x[0], x[1]]
    squares = (v * v for v in values)
    values.append(x[2])
    return sum(squares)


def _dict_item_set_before_read(x):
    weights = {'a': x[0], 'b': x[1]}
    scaled = map(lambda v: v * 3.0, weights.values())
    weights['a'] = x[2]
    return sum(scaled)


@pytest.mark.parametrize('function, line', [
    (_list_appended_before_read, 'squares = (v * v for v in values)'),
    (_dict_item_set_before_read,
     'scaled = map(lambda v: v * 3.0, weights.values())'),
    (_consumed_twice, 'squares = map(lambda v: v ** 2, x)'),
    (_consumed_in_parts, 'squares = (v ** 2 for v in x)'),
    (_captured_name_rebound, 'scaled = (v * c for v in x)'),
    (_read_by_a_loop, 'doubled = (v * 2.0 for v in x)'),
    (_passed_to_a_helper, 'doubled = (v * 2.0 for v in x)'),
])
def test_iterator_in_variable_read_otherwise_raises(function, line):
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='an iterator kept in the variable') as raised:
        adcompiler.grad(function)(np.array([1.0, 2.0, 3.0, 4.0]))
    assert line in str(raised.value)
    assert 'list(...)' in str(raised.value)


def _sum_of_kept_generator(x):
    squares = (v ** 2 for v in x)
    return sum(squares)


def _loop_over_kept_zip(x, y):
    pairs = zip(x, y)
    total = 0.0
    for p, q in pairs:
        total = total + p * q
    return total


def _kept_map_in_max(x):
    sines = map(np.sin, x)
    return max(sines) + sum(v for v in x)


def _new_generator_each_step(x):
    total = 0.0
    for k in range(3):
        scaled = (v * k for v in x)
        total = total + sum(scaled)
    return total


@pytest.mark.parametrize('function', [
    _sum_of_kept_generator, _loop_over_kept_zip, _kept_map_in_max,
    _new_generator_each_step])
@pytest.mark.parametrize('size', [1, 4])
def test_iterator_in_variable_read_once(function, size):
    x = np.linspace(-0.7, 1.3, size)
    args = (x, x[::-1] + 0.5) if function is _loop_over_kept_zip else (x,)
    assert_gradient_close(adcompiler.grad(function)(*args),
                          numerical_gradient(function, args, 0))
