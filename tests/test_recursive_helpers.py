"""Results of recursive helpers updated in place.

A helper whose every return is NumPy arithmetic returns a plain array,
also when it calls itself, so a caller may update arithmetic on its
result by index. The result of a helper with a return that is not
proven plain is read through the subscript operator, and an item read
that is kept past an update of the result is checked when it runs.
"""

import types

import numpy as np
import pytest

import adcompiler
from adcompiler import object_operands
from finite_differences import assert_gradient_close, numerical_gradient

SHAPES = [(2,), (2, 3)]


def damped(x, depth):
    if depth == 0:
        return np.sin(x)
    return np.cos(x) * damped(x, depth - 1)


def bumped_head(x):
    y = damped(x, 2) * 2.0
    y[0] += x[1]
    return np.sum(y * x)


def bumped_in_loop(x):
    y = 0.5 * damped(x, 3)
    for i in range(2):
        y[i] += x[0] * x[i]
    return np.sum(np.tanh(y))


def even_depth(x, depth):
    if depth == 0:
        return np.exp(0.1 * x)
    return np.sin(odd_depth(x, depth - 1)) + x


def odd_depth(x, depth):
    return 0.5 * even_depth(x, depth - 1) ** 2


def bumped_mutual(x):
    y = odd_depth(x, 3) * 1.5
    y[1] += x[0]
    return np.sum(y * y)


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('function', [bumped_head, bumped_in_loop,
                                      bumped_mutual])
def test_recursive_result_updated(function, shape):
    x = np.random.default_rng(4).uniform(0.2, 0.9, shape)
    gradient = adcompiler.grad(function)(x)
    assert_gradient_close(gradient, numerical_gradient(function, (x,), 0))


@pytest.mark.parametrize('function', [bumped_head, bumped_mutual])
def test_recursive_result_tangent(function):
    x = np.array([0.4, 0.7, 0.3])
    v = np.array([1.0, 0.5, -2.0])
    _, tangent = adcompiler.jvp(function, (x,), (v,))
    expected = numerical_gradient(function, (x,), 0) @ v
    np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-6)


def same_or_damped(x, depth):
    if depth == 0:
        return x  # Its argument, not a new array.
    return np.cos(x) * same_or_damped(x, depth - 1)


def bumped_unproven(x):
    y = same_or_damped(x, 2) * 2.0
    y[0] += x[1]
    return np.sum(y * x)


def ping(x, depth):
    # The analysis reads the returns level by level, so the call of pong
    # is analyzed before the return of x.
    if depth > 0:
        return np.sin(pong(x, depth - 1))
    if depth == 0:
        return x
    return np.cos(x)


def pong(x, depth):
    return np.cos(x) * ping(x, depth)


def test_unproven_recursive_result_updated():
    # y may be an object, so y[0] += x[1] reads y[0] through the subscript
    # operator. The read is used before the write, so it needs no check.
    x = np.array([0.4, 0.7, 0.3])
    expected = numerical_gradient(bumped_unproven, (x,), 0)
    assert_gradient_close(adcompiler.grad(bumped_unproven)(x), expected)
    v = np.array([1.0, 0.5, -2.0])
    _, tangent = adcompiler.jvp(bumped_unproven, (x,), (v,))
    np.testing.assert_allclose(tangent, expected @ v, rtol=1e-5, atol=1e-6)


def return_summaries_of(function):
    """Return whether `function` may return an object, and the summaries
    that the analysis of one compile keeps, by function name."""
    summaries = {}
    context = types.SimpleNamespace(return_summaries=summaries)
    result = object_operands._may_return_object(function, context)
    return result, {code.co_name: value for code, value in summaries.items()}


def test_recursive_summaries_proven_plain():
    result, summaries = return_summaries_of(odd_depth)
    assert result is False
    assert summaries == {'odd_depth': False, 'even_depth': False}


def test_unproven_cycle_summaries_dropped():
    # pong was found plain while ping was assumed plain, and ping is not.
    result, summaries = return_summaries_of(ping)
    assert result is True
    assert summaries.get('pong', True) is True
