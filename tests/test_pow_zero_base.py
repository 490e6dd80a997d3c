"""Second derivatives of `c ** x` where the base c is 0.

The exponent's adjoint g * c**x * log(c) is 0 at c == 0 for x > 0.
Differentiating it again must keep that limit, and not divide the base's
zero tangent by the zero base. When c is differentiated too, the mixed
derivative c**(x - 1) * (1 + x * log(c)) goes to 0 for x > 1 and to -inf
for 0 < x <= 1 as c goes to 0 from above, and every composition must give
that limit rather than 0 / 0.
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


def numerical_mixed_hessian(function, x, c, step=1e-6):
    """Central differences in x of adcompiler's gradient in c: the block of
    second derivatives with rows for the entries of c and columns for x."""
    gradient = adcompiler.grad(function, wrt=1)
    columns = []
    for index in np.ndindex(x.shape):
        shift = np.zeros_like(x)
        shift[index] = step
        columns.append((gradient(x + shift, c) - gradient(x - shift, c))
                       / (2 * step))
    return np.stack(columns, axis=-1).reshape(c.shape + x.shape)


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


def power_of_both(x, c):
    return np.sum(c ** x)


def numpy_power_of_both(x, c):
    return np.sum(np.power(c, x))


def float_power_of_both(x, c):
    return np.sum(np.float_power(c, x))


# (x, d2/dx2, d2/dx dc, d2/dc2) at c = 0: c**x * log(c)**2, the mixed
# limit above, and x * (x - 1) * c**(x - 2).
ZERO_BASE_LIMITS = [
    (0.5, 0.0, -np.inf, -np.inf),
    (1.0, 0.0, -np.inf, 0.0),
    (1.5, 0.0, 0.0, np.inf),
    (2.0, 0.0, 0.0, 2.0),
    (2.5, 0.0, 0.0, 0.0),
    (3.0, 0.0, 0.0, 0.0),
]


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('function', [power_of_both, numpy_power_of_both,
                                      float_power_of_both],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('x, exponent_second, mixed, base_second',
                         ZERO_BASE_LIMITS, ids=[str(row[0]) for row in ZERO_BASE_LIMITS])
def test_differentiated_zero_base_hessian(mode, function, x, exponent_second,
                                         mixed, base_second):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        hessian = adcompiler.hessian(function, wrt=(0, 1), mode=mode)(
            np.array([x]), np.array([0.0]))
    assert hessian[0][0].item() == exponent_second
    assert hessian[0][1].item() == mixed
    assert hessian[1][0].item() == mixed
    assert hessian[1][1].item() == base_second


# For x > 1 the derivative in c at c = 0, x * 0**(x - 1), is 0 for every x
# nearby, so its central difference in x is the mixed derivative, 0. Away
# from 0 the Hessian matches central differences of the gradient.
@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('x', [1.5, 2.0, 2.5, 3.0])
def test_differentiated_zero_base_matches_differences(mode, x):
    base_gradient = adcompiler.grad(power_of_both, wrt=1)
    difference = numerical_gradient(
        lambda y: base_gradient(np.array([y]), np.array([0.0])).item(),
        [x], 0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        hessian = adcompiler.hessian(power_of_both, wrt=(0, 1), mode=mode)(
            np.array([x]), np.array([0.0]))
    assert difference == 0.0
    assert hessian[1][0].item() == difference
    exponents = np.array([x, x - 0.4, x + 0.3])
    bases = np.array([0.7, 1.3, 2.0])
    full = adcompiler.hessian(power_of_both, wrt=(0, 1), mode=mode)(
        exponents, bases)
    assert_gradient_close(full[1][0], numerical_mixed_hessian(
        power_of_both, exponents, bases), rtol=1e-5)


# At an exponent of exactly 0 the mixed derivative is 1 / c, from both
# sides: c**x * log(c) differentiated in c, and x * c**(x - 1) in x.
@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('function', [power_of_both, numpy_power_of_both,
                                      float_power_of_both],
                         ids=lambda f: f.__name__)
def test_zero_exponent_mixed_derivative(mode, function):
    x, base = np.array([0.0, 0.0]), np.array([2.0, 0.5])
    hessian = adcompiler.hessian(function, wrt=(0, 1), mode=mode)(x, base)
    np.testing.assert_allclose(hessian[0][1], np.diag(1.0 / base),
                               rtol=1e-14)
    np.testing.assert_allclose(hessian[1][0], np.diag(1.0 / base),
                               rtol=1e-14)
    assert_gradient_close(hessian[1][0], numerical_mixed_hessian(
        function, x, base), rtol=1e-5)


# 0**x jumps from 1 to 0 at x = 0 and is inf below, so its derivative in x
# there is -inf; above 0 it is 0.
def test_zero_base_exponent_gradient():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        gradient = adcompiler.grad(power_operator)(
            np.array([-1.0, 0.0, 0.5, 2.0]), np.zeros(4))
    np.testing.assert_array_equal(gradient, [-np.inf, -np.inf, 0.0, 0.0])
