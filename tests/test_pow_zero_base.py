"""Second derivatives of `c ** x` where the base c is 0 and has no derivative.

The exponent's adjoint g * c**x * log(c) is 0 at c == 0. Differentiating it
again must keep that limit, and not divide the base's zero tangent by the
zero base.
"""

import warnings

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

MODES = ['forward-over-reverse', 'reverse-over-forward', 'reverse-over-reverse']


def power_loop(x):
    total = 0
    for i in range(3):
        total = total + i ** x
    return total


def power_loop_sum(x):
    total = 0.0
    for i in range(3):
        total = total + np.sum(i ** x)
    return total


def power_operator(x, c):
    return np.sum(c ** x)


def power_function(x, c):
    return np.sum(np.power(c, x))


def float_power_function(x, c):
    return np.sum(np.float_power(c, x))


def squared_base(x, c):
    return np.sum((c ** 2) ** x)


def power_times_exponent(x, c):
    return np.sum(x * c ** x)


def numerical_hessian(function, x, *constants):
    """Central differences of adcompiler's gradient, one row per entry of x."""
    gradient = adcompiler.grad(function)
    if np.ndim(x) == 0:
        return numerical_gradient(lambda y: gradient(y, *constants), [x], 0)
    x = np.asarray(x, dtype=float)
    rows = []
    for index in np.ndindex(x.shape):
        def entry(y, index=index):
            return gradient(y, *constants)[index]
        rows.append(numerical_gradient(entry, [x], 0))
    return np.reshape(rows, x.shape + x.shape)


def hessian_quietly(function, mode, *args):
    with warnings.catch_warnings():
        # log(0) inside the rule warns, but the masked result is finite.
        warnings.simplefilter('ignore', RuntimeWarning)
        return adcompiler.hessian(function, mode=mode)(*args)


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('x', [0.3, 1.7, 2.5])
def test_int_base_loop_hessian(mode, x):
    hessian = hessian_quietly(power_loop, mode, x)
    assert np.isfinite(hessian)
    assert_gradient_close(hessian, numerical_hessian(power_loop, x), rtol=1e-5)
    assert_gradient_close(hessian, np.log(2.0) ** 2 * 2.0 ** x, rtol=1e-12)


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('shape', [(2,), (3, 2)])
def test_int_base_loop_array_hessian(mode, shape):
    x = np.random.default_rng(0).uniform(0.2, 1.5, size=shape)
    hessian = hessian_quietly(power_loop_sum, mode, x)
    assert np.all(np.isfinite(hessian))
    assert_gradient_close(hessian, numerical_hessian(power_loop_sum, x))


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('function', [power_operator, power_function,
                                      float_power_function, squared_base,
                                      power_times_exponent])
@pytest.mark.parametrize('base', [
    np.array([0.0, 2.0]),
    np.array([[0.0, 2.0, 0.5], [1.5, 0.0, 3.0]]),
    np.array([0.0, 2.0, 0.0]),          # broadcast against x of shape (4, 3)
])
def test_zero_base_array_hessian(mode, function, base):
    x_shape = (4, 3) if base.shape == (3,) else base.shape
    x = np.random.default_rng(1).uniform(0.2, 1.5, size=x_shape)
    hessian = hessian_quietly(function, mode, x, base)
    assert np.all(np.isfinite(hessian))
    assert_gradient_close(hessian, numerical_hessian(function, x, base),
                          rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('mode', MODES)
def test_zero_base_hessian_values(mode):
    x, base = np.array([0.3, 0.5]), np.array([0.0, 2.0])
    expected = np.diag([0.0, np.log(2.0) ** 2 * 2.0 ** 0.5])
    hessian = hessian_quietly(power_operator, mode, x, base)
    np.testing.assert_allclose(hessian, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize('mode', MODES)
def test_zero_base_hvp(mode):
    x, base = np.array([0.3, 0.5]), np.array([0.0, 2.0])
    vector = np.array([1.0, -2.0])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        product = adcompiler.hvp(power_operator, mode=mode)(x, base, vector)
    expected = numerical_hessian(power_operator, x, base) @ vector
    assert_gradient_close(product, expected)
