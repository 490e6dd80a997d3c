"""Calls that spread an array with `*x`, built-in sum with a list or tuple
start value (concatenation), and list slice writes that change the length.

Every derivative is checked against central differences, in reverse mode
(grad, called three times to reach the code compiled for known shapes) and
in forward mode (jvp).
"""

import inspect
import math

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

RNG = np.random.default_rng(13)


def triple_product(a, b, c):
    return a * b * c


def spread_rows(x):
    return np.sum(triple_product(*x))


def spread_max(x):
    return max(*x) * 2.0


def spread_min_of_rows(x):
    return np.sum(np.sin(min(*x, key=np.sum)))


def spread_after_first(x):
    return np.sum(triple_product(x[0], *x[1:]) ** 2)


def _check(function, x):
    expected = numerical_gradient(function, (x,), 0)
    for _ in range(3):
        assert_gradient_close(adcompiler.grad(function)(x), expected)
    v = RNG.normal(size=x.shape)
    _, tangent = adcompiler.jvp(function, (x,), (v,))
    np.testing.assert_allclose(tangent, np.sum(expected * v), rtol=1e-5,
                               atol=1e-6)


def spread_hypot(x):
    return math.hypot(*x)


def hypot_of_three(x):
    return math.hypot(x[0], 2.0 * x[1], x[2] ** 2) + math.hypot(x[1])


def hypot_of_none(x):
    return math.hypot() + np.sum(x)


def spread_atan2(x):
    return math.atan2(*x)


@pytest.mark.parametrize('size', [1, 2, 3, 5])
def test_spread_array_into_hypot(size):
    _check(spread_hypot, RNG.normal(size=size))


@pytest.mark.parametrize('function', [hypot_of_three, hypot_of_none])
def test_hypot_of_other_than_two(function):
    _check(function, RNG.normal(size=3))


def test_hypot_at_zero_has_zero_gradient():
    gradient = adcompiler.grad(spread_hypot)(np.zeros(3))
    np.testing.assert_array_equal(gradient, np.zeros(3))


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_spread_call_rule_error_at_user_line(mode):
    x = RNG.normal(size=3)
    with pytest.raises(adcompiler.AdCompilerError) as info:
        if mode == 'reverse':
            adcompiler.grad(spread_atan2)(x)
        else:
            adcompiler.jvp(spread_atan2, (x,), (x,))
    error = info.value
    lines, first = inspect.getsourcelines(spread_atan2)
    assert error.filename == __file__
    assert error.lineno == first + 1
    assert 'math.atan2(*x)' in str(error)
    assert 'does not accept this call' in str(error)
    assert '<adcompiler dispatch' not in str(error)


@pytest.mark.parametrize('shape', [(3,), (3, 2), (3, 2, 2)])
def test_spread_array_into_function(shape):
    _check(spread_rows, RNG.normal(size=shape))


@pytest.mark.parametrize('size', [2, 3, 5])
def test_spread_array_into_max(size):
    _check(spread_max, RNG.normal(size=size))


@pytest.mark.parametrize('shape', [(2, 3), (4, 2)])
def test_spread_rows_into_min_with_key(shape):
    _check(spread_min_of_rows, RNG.normal(size=shape))


@pytest.mark.parametrize('shape', [(3,), (3, 4)])
def test_spread_slice_after_first(shape):
    _check(spread_after_first, RNG.normal(size=shape))


def concatenated_lists(x):
    flat = sum([[x[0]], [x[1], x[2]]], [])
    return flat[2] * 10.0 + flat[0] * flat[1]


def concatenated_tuples(x):
    flat = sum(((x[0],), (x[1] ** 2, x[2])), ())
    return flat[0] * flat[1] + np.sin(flat[2])


def concatenated_with_start(x):
    flat = sum([[x[1] * x[2]], [np.exp(x[0])]], [x[0] ** 2])
    return flat[0] * flat[1] + flat[2]


def concatenated_rows(x):
    # Items that are arrays: the result is a list of rows of x.
    rows = sum([[x[0], x[1]], [x[1] * 2.0]], [])
    return np.sum(np.array(rows) ** 2)


def numeric_sum_with_start(x):
    return np.sum(sum([x[0], x[1] * x[0]], x[2] ** 2))


@pytest.mark.parametrize('function', [concatenated_lists,
                                      concatenated_tuples,
                                      concatenated_with_start])
def test_sum_concatenates_scalars(function):
    _check(function, RNG.normal(size=3))


@pytest.mark.parametrize('shape', [(2, 3), (2, 1, 4)])
def test_sum_concatenates_rows(shape):
    _check(concatenated_rows, RNG.normal(size=shape))


@pytest.mark.parametrize('shape', [(3,), (3, 2), (3, 1, 2)])
def test_sum_with_array_start(shape):
    _check(numeric_sum_with_start, RNG.normal(size=shape))


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-reverse'])
@pytest.mark.parametrize('function', [concatenated_with_start,
                                      numeric_sum_with_start])
def test_sum_hessian(function, mode):
    x = RNG.normal(size=3)
    gradient = adcompiler.grad(function)
    expected = np.stack([numerical_gradient(
        lambda v, i=i: gradient(v)[i], (x,), 0) for i in range(3)])
    computed = adcompiler.hessian(function, mode=mode)(x)
    np.testing.assert_allclose(computed, expected, rtol=1e-4, atol=1e-5)


def shortened_list(x):
    items = [x[0], x[1], x[2]]
    items[0:2] = [x[2]]
    return items[0] * items[1]


def lengthened_tail(x):
    items = [x[0], x[1], x[2]]
    items[1:] = [x[0], x[1], x[2]]
    return items[0] * items[3] + items[1]


def shortened_by_constant(x):
    items = [x[0], x[1], x[2]]
    items[-2:] = [1.0]
    return items[0] * items[1]


def rebuilt_list(x):
    items = [x[0], x[1], x[2]]
    items = list(items[:0]) + [x[2]] + list(items[2:])
    return items[0] * items[1]


def same_length_slice(x):
    items = [x[0], x[1], x[2]]
    items[0:2] = [x[2] ** 2, x[0]]
    items[::2] = [x[1], items[1]]
    return items[0] * items[1] + items[2]


@pytest.mark.parametrize('function', [shortened_list, lengthened_tail,
                                      shortened_by_constant])
def test_slice_write_changing_length_rejected(function):
    x = RNG.normal(size=3)
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(function)(x)
    assert 'changes the length' in str(info.value)
    assert function.__name__ in str(info.value)


@pytest.mark.parametrize('function', [shortened_list, lengthened_tail,
                                      shortened_by_constant])
def test_slice_write_changing_length_jvp(function):
    x = RNG.normal(size=3)
    v = RNG.normal(size=3)
    expected = numerical_gradient(function, (x,), 0)
    _, tangent = adcompiler.jvp(function, (x,), (v,))
    np.testing.assert_allclose(tangent, np.sum(expected * v), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize('function', [rebuilt_list, same_length_slice])
def test_list_rebuilt_or_same_length(function):
    _check(function, RNG.normal(size=3))
