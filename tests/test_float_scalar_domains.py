"""Derivatives at Python float arguments outside a function's domain.

Code compiled for Python float arguments replaces some NumPy operations by
Python arithmetic and `math` calls. Each derivative must still equal the one
computed for the same value as a np.float64: NaN or infinity where NumPy
gives them, never a complex number or a finite value in their place.
"""

import math
import warnings

import numpy as np
import pytest

import adcompiler
from finite_differences import numerical_gradient


def power_half(x):
    return np.power(x, 0.5)


def power_two_and_a_half(x):
    return np.power(x, 2.5)


def power_minus_half(x):
    return np.power(x, -0.5)


def power_three(x):
    return np.power(x, 3)


def float_power_half(x):
    return np.float_power(x, 0.5)


def square_root(x):
    return np.sqrt(x)


def logarithm(x):
    return np.log(x)


def logarithm_plus_one(x):
    return np.log1p(x)


def arcsine(x):
    return np.arcsin(x)


def arccosine(x):
    return np.arccos(x)


def hyperbolic_arccosine(x):
    return np.arccosh(x)


def reciprocal(x):
    return np.reciprocal(x)


def sine_of_square_root(x):
    return np.sin(np.sqrt(x))


def doubled_root_and_logarithm(x):
    y = x * 2.0
    return np.sqrt(y) + np.log(y)


def exponential_of_square(x):
    return np.exp(x * x)


FUNCTIONS = [power_half, power_two_and_a_half, power_minus_half, power_three,
             float_power_half, square_root, logarithm, logarithm_plus_one,
             arcsine, arccosine, hyperbolic_arccosine, reciprocal,
             sine_of_square_root, doubled_root_and_logarithm,
             exponential_of_square]

POINTS = [-2.0, -1.0, -0.0, 0.0, 0.5, 2.0, 800.0, math.inf, -math.inf,
          math.nan]

DERIVATIVES = {
    'grad': lambda f, x: adcompiler.grad(f)(x),
    'value_and_grad': lambda f, x: adcompiler.value_and_grad(f)(x),
    'jvp': lambda f, x: adcompiler.jvp(f, (x,), (type(x)(1.0),)),
}


def _evaluate(derivative, function, x):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        return np.asarray(derivative(function, x))


@pytest.mark.parametrize('derivative', list(DERIVATIVES))
@pytest.mark.parametrize('x', POINTS, ids=repr)
@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
def test_python_float_matches_numpy_float(function, x, derivative):
    computed = _evaluate(DERIVATIVES[derivative], function, x)
    expected = _evaluate(DERIVATIVES[derivative], function, np.float64(x))
    assert not np.iscomplexobj(computed)
    np.testing.assert_array_equal(computed, expected)


def _in_domain(function, x):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        return bool(np.isfinite(function(x)))


DOMAIN_CASES = [pytest.param(f, x, id=f'{f.__name__}-{x}')
                for f in FUNCTIONS for x in (0.3, 1.7) if _in_domain(f, x)]


@pytest.mark.parametrize('function, x', DOMAIN_CASES)
def test_python_float_gradient_in_domain(function, x):
    gradient = adcompiler.grad(function)(x)
    np.testing.assert_allclose(gradient, numerical_gradient(function, (x,), 0),
                               rtol=1e-6)


def test_power_half_grad_negative_float_nan():
    with pytest.warns(RuntimeWarning):
        gradient = adcompiler.grad(power_half)(-2.0)
    assert np.isnan(gradient)


def test_power_half_jvp_negative_float_nan():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        _, tangent = adcompiler.jvp(power_half, (-2.0,), (1.0,))
    assert isinstance(tangent, (float, np.floating))
    assert np.isnan(tangent)


# math functions at the points where their derivative is infinite or NaN:
# each must give NumPy's derivative there (JAX 0.10.2 also gives inf for sqrt
# and cbrt at 0), not raise.
def math_sqrt(x):
    return math.sqrt(x)


def numpy_sqrt(x):
    return np.sqrt(x)


def math_cbrt(x):
    return math.cbrt(x)


def numpy_cbrt(x):
    return np.cbrt(x)


def math_asin(x):
    return math.asin(x)


def math_acos(x):
    return math.acos(x)


def math_acosh(x):
    return math.acosh(x)


def math_pow_half(x):
    return math.pow(x, 0.5)


def power_operator_half(x):
    return x ** 0.5


def math_hypot_zero(x):
    return math.hypot(x, 0.0)


def numpy_hypot_zero(x):
    return np.hypot(x, 0.0)


def math_sqrt_of_square(x):
    return math.sqrt(x * x)


def numpy_sqrt_of_square(x):
    return np.sqrt(x * x)


# (math function, NumPy function with the same derivative, point)
MATH_SINGULAR_CASES = [
    (math_sqrt, numpy_sqrt, 0.0),
    (math_asin, arcsine, 1.0), (math_asin, arcsine, -1.0),
    (math_acos, arccosine, 1.0), (math_acos, arccosine, -1.0),
    (math_acosh, hyperbolic_arccosine, 1.0),
    (math_pow_half, power_half, 0.0),
    (power_operator_half, power_half, 0.0),
    (math_hypot_zero, numpy_hypot_zero, 0.0),
    (math_sqrt_of_square, numpy_sqrt_of_square, 0.0),
] + ([(math_cbrt, numpy_cbrt, 0.0)] if hasattr(math, 'cbrt') else [])


@pytest.mark.parametrize('derivative', list(DERIVATIVES))
@pytest.mark.parametrize('as_numpy', [False, True], ids=['float', 'float64'])
@pytest.mark.parametrize('function, reference, x', MATH_SINGULAR_CASES,
                         ids=[f'{f.__name__}-{x}'
                              for f, _, x in MATH_SINGULAR_CASES])
def test_math_singular_point_matches_numpy(function, reference, x, as_numpy,
                                           derivative):
    point = np.float64(x) if as_numpy else x
    computed = _evaluate(DERIVATIVES[derivative], function, point)
    expected = _evaluate(DERIVATIVES[derivative], reference, np.float64(x))
    np.testing.assert_array_equal(computed, expected)


def math_log(x):
    return math.log(x)


def math_log_base_two(x):
    return math.log(x, 2.0)


def math_log10(x):
    return math.log10(x)


def math_log2(x):
    return math.log2(x)


def math_log1p(x):
    return math.log1p(x)


def math_atanh(x):
    return math.atanh(x)


# Where the math function itself raises, its derivatives raise the same
# error from the primal, before any derivative is computed.
@pytest.mark.parametrize('derivative', list(DERIVATIVES))
@pytest.mark.parametrize('function, x', [
    (math_log, 0.0), (math_log_base_two, 0.0), (math_log10, 0.0),
    (math_log2, 0.0), (math_log1p, -1.0), (math_atanh, 1.0),
    (math_atanh, -1.0),
], ids=lambda v: getattr(v, '__name__', repr(v)))
def test_math_domain_error_comes_from_primal(function, x, derivative):
    with pytest.raises(ValueError, match='math domain error'):
        function(x)
    with pytest.raises(ValueError, match='math domain error'):
        DERIVATIVES[derivative](function, x)
