"""Calls that spread an array with `*x`, and built-in sum with a list or
tuple start value (concatenation).

Every derivative is checked against central differences, in reverse mode
(grad, called three times to reach the code compiled for known shapes) and
in forward mode (jvp).
"""

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
