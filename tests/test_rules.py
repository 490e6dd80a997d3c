"""Every registered reverse rule, checked against central finite differences.

Each function under test is a small `def` in this file, so that adcompiler
can read its source. It has the form `np.sum(w * expression)` with the
weight `w` as its last parameter: a random weight makes every component of
the expression count in the scalar output. `check_grads` learns the shape of
the expression, draws `w`, and compares the gradient with respect to every
float argument with central differences.

Tables cover Python floats, vectors, matrices and broadcasting pairs.
Reductions run with int, negative and tuple axes and with keepdims, and
products with 1-D, 2-D and stacked operands. `test_every_rule_is_covered`
fails when a rule is registered without a case here.
"""

import builtins
import dataclasses
import importlib
import math
import operator
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import adcompiler
from adcompiler.rules import NON_DIFFERENTIABLE, REGISTRY
from finite_differences import assert_gradient_close, assert_matches_autograd
from finite_differences import numerical_gradient


# Harness ---------------------------------------------------------------------

class _ShapeRecorder:
    """Stands in for the weight `w` once, to record the shape it multiplies."""

    def __init__(self):
        self.shape = None

    def __mul__(self, other):
        self.shape = np.shape(other)
        return 0.0


def sample(shape, low=-2.0, high=2.0, seed=0):
    """Uniform values in [low, high): a Python float when `shape` is ()."""
    values = np.random.default_rng(seed).uniform(low, high, shape)
    return float(values) if shape == () else values


def weights_for(function, args):
    """A random weight shaped like the expression that `w` multiplies."""
    recorder = _ShapeRecorder()
    function(*args, recorder)
    assert recorder.shape is not None, (
        f'{function.__name__} must return np.sum(w * expression)')
    return sample(recorder.shape, 0.5, 1.5, seed=99)


def _is_float(value):
    if isinstance(value, np.ndarray):
        return np.issubdtype(value.dtype, np.floating)
    return isinstance(value, float)


def check_grads(function, *args):
    """Check grad of `function` w.r.t. each float argument against differences.

    Arguments that are not floats (axes, flags, conditions, indices) are
    passed through undifferentiated.
    """
    args = args + (weights_for(function, args),)
    wrt = tuple(i for i, a in enumerate(args[:-1]) if _is_float(a))
    assert wrt, f'{function.__name__} has no float argument to differentiate'
    value, gradients = adcompiler.value_and_grad(function, wrt=wrt)(*args)
    assert value == pytest.approx(function(*args), rel=1e-12, abs=1e-12)
    for position, gradient in zip(wrt, gradients, strict=True):
        expected = numerical_gradient(function, args, position)
        assert_gradient_close(gradient, expected)
        assert_matches_autograd(function, args, position, gradient, expected)
    return gradients


def grad_of(function, *args):
    """The gradient w.r.t. the first argument, with a unit weight."""
    return adcompiler.grad(function)(*args, 1.0)


# Binary elementwise functions and operators ----------------------------------
# ans = f(x, y), with NumPy broadcasting between x and y.

def np_add(x, y, w):
    return np.sum(w * np.add(x, y))


def np_subtract(x, y, w):
    return np.sum(w * np.subtract(x, y))


def np_multiply(x, y, w):
    return np.sum(w * np.multiply(x, y))


def np_divide(x, y, w):
    return np.sum(w * np.divide(x, y))


def np_true_divide(x, y, w):
    return np.sum(w * np.true_divide(x, y))


def np_power(x, y, w):
    return np.sum(w * np.power(x, y))


def np_maximum(x, y, w):
    return np.sum(w * np.maximum(x, y))


def np_minimum(x, y, w):
    return np.sum(w * np.minimum(x, y))


def np_fmax(x, y, w):
    return np.sum(w * np.fmax(x, y))


def np_fmin(x, y, w):
    return np.sum(w * np.fmin(x, y))


def np_logaddexp(x, y, w):
    return np.sum(w * np.logaddexp(x, y))


def np_logaddexp2(x, y, w):
    return np.sum(w * np.logaddexp2(x, y))


def np_arctan2(x, y, w):
    return np.sum(w * np.arctan2(x, y))


def np_hypot(x, y, w):
    return np.sum(w * np.hypot(x, y))


def np_float_power(x, y, w):
    return np.sum(w * np.float_power(x, y))


def np_mod(x, y, w):
    return np.sum(w * np.mod(x, y))


def np_remainder(x, y, w):
    return np.sum(w * np.remainder(x, y))


def np_fmod(x, y, w):
    return np.sum(w * np.fmod(x, y))


def np_copysign(x, y, w):
    return np.sum(w * np.copysign(x, y))


def np_divmod_remainder(x, y, w):
    quotient, remainder = np.divmod(x, y)
    return np.sum(w * (remainder + 0.0 * quotient))


def op_add(x, y, w):
    return np.sum(w * (x + y))


def op_sub(x, y, w):
    return np.sum(w * (x - y))


def op_mul(x, y, w):
    return np.sum(w * (x * y))


def op_truediv(x, y, w):
    return np.sum(w * (x / y))


def op_pow(x, y, w):
    return np.sum(w * (x ** y))


def op_mod(x, y, w):
    return np.sum(w * (x % y))


# (function, domain of x, domain of y)
BINARY_FUNCTIONS = [
    (np_add,         (-2.0, 2.0), (-2.0, 2.0)),
    (np_subtract,    (-2.0, 2.0), (-2.0, 2.0)),
    (np_multiply,    (-2.0, 2.0), (-2.0, 2.0)),
    (np_divide,      (-2.0, 2.0), (0.5, 2.0)),
    (np_true_divide, (-2.0, 2.0), (0.5, 2.0)),
    (np_power,       (0.5, 2.0),  (-2.0, 2.0)),
    (np_maximum,     (-2.0, 2.0), (-2.0, 2.0)),
    (np_minimum,     (-2.0, 2.0), (-2.0, 2.0)),
    (np_fmax,        (-2.0, 2.0), (-2.0, 2.0)),
    (np_fmin,        (-2.0, 2.0), (-2.0, 2.0)),
    (np_logaddexp,   (-2.0, 2.0), (-2.0, 2.0)),
    (np_logaddexp2,  (-2.0, 2.0), (-2.0, 2.0)),
    (np_arctan2,     (-2.0, 2.0), (-2.0, 2.0)),
    (np_hypot,       (0.5, 2.0),  (-2.0, 2.0)),
    (np_float_power, (0.5, 2.0),  (-2.0, 2.0)),
    (np_mod,         (-2.0, 2.0), (0.7, 2.0)),
    (np_remainder,   (-2.0, 2.0), (-2.0, -0.7)),
    (np_fmod,        (-2.0, 2.0), (0.7, 2.0)),
    (np_copysign,    (-2.0, 2.0), (-2.0, 2.0)),
    (np_divmod_remainder, (-2.0, 2.0), (0.7, 2.0)),
    (op_add,         (-2.0, 2.0), (-2.0, 2.0)),
    (op_sub,         (-2.0, 2.0), (-2.0, 2.0)),
    (op_mul,         (-2.0, 2.0), (-2.0, 2.0)),
    (op_truediv,     (-2.0, 2.0), (0.5, 2.0)),
    (op_pow,         (0.5, 2.0),  (-2.0, 2.0)),
    (op_mod,         (-2.0, 2.0), (0.7, 2.0)),
]

# Shapes of inputs, where () means a Python float.
SHAPES = [
    pytest.param((), id='float'),
    pytest.param((3,), id='vector'),
    pytest.param((2, 3), id='matrix'),
]

# (shape of x, shape of y)
BROADCAST_PAIRS = [
    pytest.param((), (), id='float-float'),
    pytest.param((3,), (3,), id='vector-vector'),
    pytest.param((2, 3), (2, 3), id='matrix-matrix'),
    pytest.param((3,), (2, 3), id='vector-matrix'),
    pytest.param((2, 3), (3,), id='matrix-vector'),
    pytest.param((2, 1), (1, 3), id='column-row'),
    pytest.param((1,), (2, 3), id='one-matrix'),
    pytest.param((), (2, 3), id='float-matrix'),
    pytest.param((2, 3), (), id='matrix-float'),
]


@pytest.mark.parametrize('x_shape, y_shape', BROADCAST_PAIRS)
@pytest.mark.parametrize(
    'function, x_domain, y_domain', BINARY_FUNCTIONS,
    ids=[f.__name__ for f, _, _ in BINARY_FUNCTIONS])
def test_binary(function, x_domain, y_domain, x_shape, y_shape):
    x = sample(x_shape, *x_domain, seed=1)
    y = sample(y_shape, *y_domain, seed=2)
    check_grads(function, x, y)


# 0-d arrays and NumPy scalars behave like Python floats.
@pytest.mark.parametrize('function', [np_multiply, np_power, np_maximum,
                                      op_truediv, op_sub],
                         ids=lambda f: f.__name__)
def test_binary_zero_d_arrays(function):
    check_grads(function, np.array(0.7), sample((3,), 0.5, 2.0))
    check_grads(function, np.float64(0.7), np.array(1.3))


def np_power_negative_base_integer_exponent(x, w):
    return np.sum(w * np.power(x, 3))


def op_pow_constant_two(x, w):
    return np.sum(w * x ** 2)


def op_pow_constant_half(x, w):
    return np.sum(w * x ** 0.5)


def op_pow_constant_zero(x, w):
    return np.sum(w * x ** 0)


def op_pow_constant_base(x, w):
    return np.sum(w * 2.0 ** x)


def op_constants_around(x, w):
    return np.sum(w * (1.0 - 2.0 * x / 3.0 + x % 0.75 + 1 / x))


def op_times_global_matrix(x, w):
    return np.sum(w * (x * GLOBAL_MATRIX))


def op_neg(x, w):
    return np.sum(w * -x)


def op_pos(x, w):
    return np.sum(w * +x)


GLOBAL_MATRIX = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])


# (function, low, high): inputs are drawn from [low, high).
CONSTANT_OPERAND_CASES = [
    (np_power_negative_base_integer_exponent, -2.0, -0.5),
    (op_pow_constant_two,  -2.0, 2.0),
    (op_pow_constant_half, 0.5, 2.0),
    (op_pow_constant_zero, -2.0, 2.0),
    (op_pow_constant_base, -2.0, 2.0),
    (op_constants_around,  0.5, 2.0),
    (op_neg,               -2.0, 2.0),
    (op_pos,               -2.0, 2.0),
]


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize(
    'function, low, high', CONSTANT_OPERAND_CASES,
    ids=[f.__name__ for f, _, _ in CONSTANT_OPERAND_CASES])
def test_operator_with_constants(function, low, high, shape):
    check_grads(function, sample(shape, low, high))


def test_operator_with_global_array():
    check_grads(op_times_global_matrix, sample((3,)))


def test_power_at_zero_base():
    # d/dx x**2 and d/dy x**y are 0 at x = 0, so log(0) must not leak a NaN.
    x = np.array([0.0, 1.0])
    y = np.array([2.0, 2.0])
    dx, dy = adcompiler.grad(op_pow, wrt=(0, 1))(x, y, 1.0)
    np.testing.assert_allclose(dx, [0.0, 2.0])
    np.testing.assert_allclose(dy, [0.0, 0.0])


def square_by_multiply(x, w):
    return np.sum(w * (x * x))


def maximum_with_itself(x, w):
    return np.sum(w * np.maximum(x, x))


def hypot_with_itself(x, w):
    return np.sum(w * np.hypot(x, x))


def power_with_itself(x, w):
    return np.sum(w * x ** x)


def dot_with_itself(x, w):
    return w * np.dot(x, x)


def matmul_with_itself(x, w):
    return np.sum(w * (x @ x))


# One value in both operands: the two adjoints add up (a tie of maximum
# splits it in halves that add up to 1).
@pytest.mark.parametrize('function, shape', [
    (square_by_multiply, (2, 3)),
    (maximum_with_itself, (2, 3)),
    (hypot_with_itself, (3,)),
    (power_with_itself, (3,)),
    (dot_with_itself, (3,)),
    (matmul_with_itself, (3, 3)),
], ids=lambda v: getattr(v, '__name__', None) or str(v))
def test_same_operand_twice(function, shape):
    check_grads(function, sample(shape, 0.5, 2.0))


# Unary elementwise functions -------------------------------------------------
# ans = f(x).

def np_negative(x, w):
    return np.sum(w * np.negative(x))


def np_positive(x, w):
    return np.sum(w * np.positive(x))


def np_exp(x, w):
    return np.sum(w * np.exp(x))


def np_exp2(x, w):
    return np.sum(w * np.exp2(x))


def np_expm1(x, w):
    return np.sum(w * np.expm1(x))


def np_log(x, w):
    return np.sum(w * np.log(x))


def np_log2(x, w):
    return np.sum(w * np.log2(x))


def np_log10(x, w):
    return np.sum(w * np.log10(x))


def np_log1p(x, w):
    return np.sum(w * np.log1p(x))


def np_sqrt(x, w):
    return np.sum(w * np.sqrt(x))


def np_cbrt(x, w):
    return np.sum(w * np.cbrt(x))


def np_square(x, w):
    return np.sum(w * np.square(x))


def np_reciprocal(x, w):
    return np.sum(w * np.reciprocal(x))


def np_sin(x, w):
    return np.sum(w * np.sin(x))


def np_cos(x, w):
    return np.sum(w * np.cos(x))


def np_tan(x, w):
    return np.sum(w * np.tan(x))


def np_arcsin(x, w):
    return np.sum(w * np.arcsin(x))


def np_arccos(x, w):
    return np.sum(w * np.arccos(x))


def np_arctan(x, w):
    return np.sum(w * np.arctan(x))


def np_sinh(x, w):
    return np.sum(w * np.sinh(x))


def np_cosh(x, w):
    return np.sum(w * np.cosh(x))


def np_tanh(x, w):
    return np.sum(w * np.tanh(x))


def np_arcsinh(x, w):
    return np.sum(w * np.arcsinh(x))


def np_arccosh(x, w):
    return np.sum(w * np.arccosh(x))


def np_arctanh(x, w):
    return np.sum(w * np.arctanh(x))


def np_abs(x, w):
    return np.sum(w * np.abs(x))


def np_absolute(x, w):
    return np.sum(w * np.absolute(x))


def np_fabs(x, w):
    return np.sum(w * np.fabs(x))


def builtin_abs(x, w):
    return np.sum(w * abs(x))


def np_degrees(x, w):
    return np.sum(w * np.degrees(x))


def np_rad2deg(x, w):
    return np.sum(w * np.rad2deg(x))


def np_radians(x, w):
    return np.sum(w * np.radians(x))


def np_deg2rad(x, w):
    return np.sum(w * np.deg2rad(x))


def np_sinc(x, w):
    return np.sum(w * np.sinc(x))


def np_real_of_real(x, w):
    return np.sum(w * np.real(x))


def np_imag_of_real(x, w):
    return np.sum(w * (x + np.imag(x)))


def np_conj_of_real(x, w):
    return np.sum(w * np.conj(x))


def np_angle_of_real(x, w):
    return np.sum(w * (x + np.angle(x)))


def np_real_if_close_of_real(x, w):
    return np.sum(w * np.real_if_close(x))


# (function, low, high): inputs are drawn from [low, high).
UNARY_FUNCTIONS = [
    (np_negative,   -2.0, 2.0),
    (np_positive,   -2.0, 2.0),
    (np_exp,        -2.0, 2.0),
    (np_exp2,       -2.0, 2.0),
    (np_expm1,      -2.0, 2.0),
    (np_log,        0.2, 3.0),
    (np_log2,       0.2, 3.0),
    (np_log10,      0.2, 3.0),
    (np_log1p,      -0.8, 3.0),
    (np_sqrt,       0.2, 3.0),
    (np_cbrt,       0.2, 3.0),
    (np_square,     -2.0, 2.0),
    (np_reciprocal, 0.5, 2.0),
    (np_sin,        -3.0, 3.0),
    (np_cos,        -3.0, 3.0),
    (np_tan,        -1.2, 1.2),
    (np_arcsin,     -0.9, 0.9),
    (np_arccos,     -0.9, 0.9),
    (np_arctan,     -3.0, 3.0),
    (np_sinh,       -2.0, 2.0),
    (np_cosh,       -2.0, 2.0),
    (np_tanh,       -2.0, 2.0),
    (np_arcsinh,    -3.0, 3.0),
    (np_arccosh,    1.2, 3.0),
    (np_arctanh,    -0.9, 0.9),
    (np_abs,        -2.0, 2.0),
    (np_absolute,   -2.0, 2.0),
    (np_fabs,       -2.0, 2.0),
    (builtin_abs,   -2.0, 2.0),
    (np_degrees,    -2.0, 2.0),
    (np_rad2deg,    -2.0, 2.0),
    (np_radians,    -2.0, 2.0),
    (np_deg2rad,    -2.0, 2.0),
    (np_sinc,       -2.0, 2.0),
    (np_real_of_real, -2.0, 2.0),
    (np_imag_of_real, -2.0, 2.0),
    (np_conj_of_real, -2.0, 2.0),
    (np_angle_of_real, -2.0, 2.0),
    (np_real_if_close_of_real, -2.0, 2.0),
]


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('function, low, high', UNARY_FUNCTIONS,
                         ids=[f.__name__ for f, _, _ in UNARY_FUNCTIONS])
def test_unary(function, low, high, shape):
    check_grads(function, sample(shape, low, high))


def test_cbrt_of_negative_values():
    check_grads(np_cbrt, sample((3,), -3.0, -0.2))


def test_sinc_at_and_near_zero():
    check_grads(np_sinc, np.array([0.0, 1e-5, -2e-4, 1e-3, 0.5]))
    np.testing.assert_array_equal(grad_of(np_sinc, np.array([0.0])), [0.0])


def test_copysign_second_argument_zero_gradient():
    x = np.array([1.5, -0.5, 2.0])
    y = np.array([-1.0, -3.0, 2.0])
    dx, dy = adcompiler.grad(np_copysign, wrt=(0, 1))(x, y, 1.0)
    np.testing.assert_array_equal(dx, [-1.0, 1.0, 1.0])
    np.testing.assert_array_equal(dy, [0.0, 0.0, 0.0])


def np_heaviside(x, h0, w):
    return np.sum(w * np.heaviside(x, h0))


# np.heaviside(x, h0) is h0 where x == 0: that is where h0 gets a gradient.
@pytest.mark.parametrize('h0', [
    pytest.param(0.5, id='float'),
    pytest.param(np.array([0.25, 0.5, 0.75, 1.0]), id='vector'),
])
def test_heaviside_value_at_zero(h0):
    x = np.array([-1, 0, 2, 0])
    check_grads(np_heaviside, x, h0)
    gradient = adcompiler.grad(np_heaviside, wrt=1)(x, h0, 1.0)
    expected = 2.0 if np.ndim(h0) == 0 else [0.0, 1.0, 0.0, 1.0]
    np.testing.assert_array_equal(gradient, expected)


# Complex inputs --------------------------------------------------------------
# The gradient of a real-valued f with respect to a complex z is
# df/dRe(z) - 1j * df/dIm(z), JAX's and autograd's convention.

def check_complex_grads(function, z, *rest):
    """Check the gradient of `function` w.r.t. the complex first argument
    against central differences along its real and imaginary parts."""
    args = (z,) + rest
    args = args + (weights_for(function, args),)
    gradient = adcompiler.grad(function)(*args)
    real, imag = np.real(z), np.imag(z)

    def along_real(x, *other):
        return function(x + 1j * imag, *other)

    def along_imag(y, *other):
        return function(real + 1j * y, *other)

    expected = (numerical_gradient(along_real, (real,) + args[1:], 0)
                - 1j * numerical_gradient(along_imag, (imag,) + args[1:], 0))
    assert np.iscomplexobj(gradient)
    assert_gradient_close(gradient, expected)
    assert_matches_autograd(function, args, 0, gradient, expected)
    return gradient


def complex_sample(shape, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.uniform(-2.0, 2.0, shape) + 1j * rng.uniform(-2.0, 2.0, shape)
    return complex(values) if shape == () else values


def c_abs(z, w):
    return np.sum(w * np.abs(z))


def c_abs_squared(z, w):
    return np.sum(w * np.abs(z) ** 2)


def c_builtin_abs(z, w):
    return np.sum(w * abs(z))


def c_real(z, w):
    return np.sum(w * np.real(z))


def c_imag(z, w):
    return np.sum(w * np.imag(z))


def c_conj(z, w):
    return np.sum(w * np.imag(np.conj(z) * (1.0 + 2.0j)))


def c_conjugate(z, w):
    return np.sum(w * np.real(np.conjugate(z) ** 2))


def c_angle(z, w):
    return np.sum(w * np.angle(z))


def c_angle_degrees(z, w):
    return np.sum(w * np.angle(z, deg=True))


def c_real_if_close(z, w):
    return np.sum(w * np.abs(np.real_if_close(z)))


def c_holomorphic(z, w):
    return np.sum(w * np.real(np.exp(z) * np.sin(z) / (z + 3.0)))


def c_method_conj(z, w):
    return np.sum(w * np.imag(z.conj() * z.conj()))


def c_method_conjugate(z, w):
    return np.sum(w * np.real(z.conjugate() * 1j))


def c_attributes(z, w):
    return np.sum(w * (z.real ** 2 - 3.0 * z.imag))


def c_sign(z, w):
    return np.sum(w * mix_parts(np.sign(z)))


def mix_parts(y):
    return np.real(y) - 0.7 * np.imag(y)


def c_nan_to_num(z, w):
    return np.sum(w * mix_parts(np.nan_to_num(z * (1.0 - 0.5j))))


def c_broadcast_product(z, w):
    return np.sum(w * np.abs(z * np.array([[1.0 + 1.0j], [2.0 - 0.5j]])))


COMPLEX_FUNCTIONS = [c_abs, c_abs_squared, c_builtin_abs, c_real, c_imag,
                     c_conj, c_conjugate, c_angle, c_angle_degrees,
                     c_real_if_close, c_holomorphic, c_broadcast_product,
                     c_sign, c_nan_to_num]


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('function', COMPLEX_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_complex_input(function, shape):
    check_complex_grads(function, complex_sample(shape))


@pytest.mark.parametrize('function', [c_method_conj, c_method_conjugate,
                                      c_attributes], ids=lambda f: f.__name__)
def test_complex_methods_and_attributes(function):
    check_complex_grads(function, complex_sample((2, 3)))


def test_complex_convention_matches_jax():
    # JAX: grad(lambda z: abs(z) ** 2)(3 + 4j) == 6 - 8j.
    assert grad_of(c_abs_squared, 3.0 + 4.0j) == pytest.approx(6.0 - 8.0j)
    assert grad_of(c_imag, 3.0 + 4.0j) == -1.0j


def test_abs_and_angle_at_complex_zero():
    z = np.array([0j, 1.0 + 1.0j])
    assert grad_of(c_abs, z)[0] == 0
    assert grad_of(c_angle, z)[0] == 0


def c_broadcast_sum(z, w):
    return np.sum(w * np.abs(z + np.zeros((2, 3))))


def test_unbroadcast_keeps_complex_adjoint():
    z = np.array([1.0 + 2.0j, -0.5j, 3.0])
    gradient = check_complex_grads(c_broadcast_sum, z)
    assert gradient.shape == (3,)


# Selection: np.where and np.clip ---------------------------------------------

def where_comparison(x, y, w):
    return np.sum(w * np.where(x > 0.0, x, y))


def where_zero_branch(x, w):
    return np.sum(w * np.where(x > 0.0, x, 0.0))


def where_global_condition(x, y, w):
    return np.sum(w * np.where(GLOBAL_MATRIX > 0.0, x, y))


def clip_constant_bounds(x, w):
    return np.sum(w * np.clip(x, -0.5, 0.5))


def clip_array_bounds(x, low, high, w):
    return np.sum(w * np.clip(x, low, high))


def clip_keyword_bounds(x, low, high, w):
    return np.sum(w * np.clip(x, a_min=low, a_max=high))


def clip_no_upper_bound(x, low, w):
    return np.sum(w * np.clip(x, low, None))


def clip_no_lower_bound(x, high, w):
    return np.sum(w * np.clip(x, None, high))


# Values kept away from 0 and from the clip bounds, where the kinks are.
XS = np.array([[-1.3, -0.8, -0.2], [0.1, 0.7, 1.6]])


@pytest.mark.parametrize('x_shape, y_shape', BROADCAST_PAIRS)
def test_where(x_shape, y_shape):
    check_grads(where_comparison, sample(x_shape, seed=1),
                sample(y_shape, seed=2))


def test_where_zero_branch():
    check_grads(where_zero_branch, XS)


@pytest.mark.parametrize('x_shape, y_shape', [
    pytest.param((3,), (2, 3), id='vector-matrix'),
    pytest.param((), (), id='float-float'),
    pytest.param((2, 1), (3,), id='column-vector'),
])
def test_where_broadcast_against_condition(x_shape, y_shape):
    check_grads(where_global_condition, sample(x_shape, seed=1),
                sample(y_shape, seed=2))


def test_clip_constant_bounds():
    check_grads(clip_constant_bounds, XS)


@pytest.mark.parametrize('function', [clip_array_bounds, clip_keyword_bounds],
                         ids=['positional', 'keyword'])
@pytest.mark.parametrize('low, high', [
    pytest.param(-0.5, 0.5, id='floats'),
    pytest.param(np.array([-1.0, -0.5, -0.1]), np.array([1.0, 0.5, 0.3]),
                 id='vectors'),
    pytest.param(np.array([[-1.0], [0.2]]), 1.0, id='column-float'),
])
def test_clip_bounds_get_gradients(function, low, high):
    check_grads(function, XS, low, high)


def test_clip_one_sided():
    check_grads(clip_no_upper_bound, XS, np.array([-0.5, 0.0, 0.5]))
    check_grads(clip_no_lower_bound, XS, np.array([-0.5, 0.0, 0.5]))


# Reductions: ans = f(x, axis, keepdims=keepdims) -----------------------------

def np_sum(x, axis, keepdims, w):
    return np.sum(w * np.sum(x, axis=axis, keepdims=keepdims))


def np_mean(x, axis, keepdims, w):
    return np.sum(w * np.mean(x, axis=axis, keepdims=keepdims))


def np_max(x, axis, keepdims, w):
    return np.sum(w * np.max(x, axis=axis, keepdims=keepdims))


def np_min(x, axis, keepdims, w):
    return np.sum(w * np.min(x, axis=axis, keepdims=keepdims))


def np_amax(x, axis, keepdims, w):
    return np.sum(w * np.amax(x, axis=axis, keepdims=keepdims))


def np_amin(x, axis, keepdims, w):
    return np.sum(w * np.amin(x, axis=axis, keepdims=keepdims))


def method_sum(x, axis, keepdims, w):
    return np.sum(w * x.sum(axis=axis, keepdims=keepdims))


def method_mean(x, axis, keepdims, w):
    return np.sum(w * x.mean(axis=axis, keepdims=keepdims))


def method_max(x, axis, keepdims, w):
    return np.sum(w * x.max(axis=axis, keepdims=keepdims))


def method_min(x, axis, keepdims, w):
    return np.sum(w * x.min(axis=axis, keepdims=keepdims))


REDUCTIONS = [np_sum, np_mean, np_max, np_min, np_amax, np_amin, method_sum,
              method_mean, method_max, method_min]

# (shape of x, axis, keepdims)
REDUCTION_CASES = [
    pytest.param((3,), None, False, id='vector'),
    pytest.param((3,), 0, False, id='vector-axis0'),
    pytest.param((3,), -1, True, id='vector-axis-1-keepdims'),
    pytest.param((2, 3), None, False, id='matrix'),
    pytest.param((2, 3), None, True, id='matrix-keepdims'),
    pytest.param((2, 3), 0, False, id='matrix-axis0'),
    pytest.param((2, 3), 1, False, id='matrix-axis1'),
    pytest.param((2, 3), -1, False, id='matrix-axis-1'),
    pytest.param((2, 3), -2, True, id='matrix-axis-2-keepdims'),
    pytest.param((2, 3), (0, 1), False, id='matrix-axes01'),
    pytest.param((2, 3, 4), (0, 2), False, id='cube-axes02'),
    pytest.param((2, 3, 4), (-1, 0), True, id='cube-axes-1,0-keepdims'),
    pytest.param((2, 3, 4), (1,), False, id='cube-axes1'),
]


@pytest.mark.parametrize('shape, axis, keepdims', REDUCTION_CASES)
@pytest.mark.parametrize('function', REDUCTIONS,
                         ids=[f.__name__ for f in REDUCTIONS])
def test_reduction(function, shape, axis, keepdims):
    check_grads(function, sample(shape), axis, keepdims)


@pytest.mark.parametrize('function', [np_sum, np_mean, np_max, np_min],
                         ids=['np_sum', 'np_mean', 'np_max', 'np_min'])
def test_reduction_of_float(function):
    check_grads(function, 1.7, None, False)


def sum_positional_axis(x, w):
    return np.sum(w * np.sum(x, 1))


def sum_literal_tuple_axis(x, w):
    return np.sum(w * np.sum(x, axis=(0, 2)))


def sum_literal_keepdims(x, w):
    return np.sum(w * np.sum(x, axis=-1, keepdims=True))


def mean_literal_axes_keepdims(x, w):
    return np.sum(w * np.mean(x, axis=(1, 2), keepdims=True))


def max_positional_axis(x, w):
    return np.sum(w * np.max(x, 0))


def method_sum_positional_axis(x, w):
    return np.sum(w * x.sum(0))


def method_mean_negative_axis(x, w):
    return np.sum(w * x.mean(-1))


def method_max_literal_keepdims(x, w):
    return np.sum(w * x.max(axis=2, keepdims=True))


def method_min_tuple_axis(x, w):
    return np.sum(w * x.min(axis=(0, 1)))


@pytest.mark.parametrize('function', [
    sum_positional_axis, sum_literal_tuple_axis, sum_literal_keepdims,
    mean_literal_axes_keepdims, max_positional_axis,
    method_sum_positional_axis, method_mean_negative_axis,
    method_max_literal_keepdims, method_min_tuple_axis,
], ids=lambda f: f.__name__)
def test_reduction_literal_keywords(function):
    check_grads(function, sample((2, 3, 4)))


def max_of(x, w):
    return w * np.max(x)


def min_of(x, w):
    return w * np.min(x)


def method_max_of(x, w):
    return w * x.max()


def max_rows(x, w):
    return np.sum(w * np.max(x, axis=1))


def min_columns_keepdims(x, w):
    return np.sum(w * x.min(axis=0, keepdims=True))


# Ties: the gradient is split evenly among the tied extrema.
@pytest.mark.parametrize('function, x, expected', [
    (max_of, np.array([1.0, 3.0, 3.0]), [0.0, 0.5, 0.5]),
    (min_of, np.array([2.0, 1.0, 1.0, 1.0]), [0.0, 1 / 3, 1 / 3, 1 / 3]),
    (method_max_of, np.array([2.0, 2.0]), [0.5, 0.5]),
    (max_rows, np.array([[1.0, 4.0, 4.0], [5.0, 0.0, 2.0]]),
     [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]),
    (min_columns_keepdims, np.array([[1.0, 0.0, 2.0], [1.0, 3.0, 2.0]]),
     [[0.5, 1.0, 0.5], [0.5, 0.0, 0.5]]),
], ids=['max', 'min-three-way', 'method-max', 'max-rows',
        'min-columns-keepdims'])
def test_extremum_ties_split_gradient(function, x, expected):
    np.testing.assert_allclose(grad_of(function, x), expected)


@pytest.mark.parametrize('function', [np_maximum, np_minimum, np_fmax,
                                      np_fmin], ids=lambda f: f.__name__)
def test_elementwise_extremum_ties_split_gradient(function):
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([1.0, 0.0, 5.0])
    dx, dy = adcompiler.grad(function, wrt=(0, 1))(x, y, 1.0)
    larger = function in (np_maximum, np_fmax)
    np.testing.assert_allclose(dx, [0.5, 1.0, 0.0] if larger else
                               [0.5, 0.0, 1.0])
    np.testing.assert_allclose(dy, [0.5, 0.0, 1.0] if larger else
                               [0.5, 1.0, 0.0])


def test_fmax_ignores_nan():
    x = np.array([np.nan, 2.0])
    y = np.array([1.0, np.nan])
    dx, dy = adcompiler.grad(np_fmax, wrt=(0, 1))(x, y, 1.0)
    np.testing.assert_array_equal(dx, [0.0, 1.0])
    np.testing.assert_array_equal(dy, [1.0, 0.0])


# Products: np.dot, np.matmul, @ and x.dot(y) ---------------------------------

def np_dot(x, y, w):
    return np.sum(w * np.dot(x, y))


def method_dot(x, y, w):
    return np.sum(w * x.dot(y))


def np_matmul(x, y, w):
    return np.sum(w * np.matmul(x, y))


def op_matmul(x, y, w):
    return np.sum(w * (x @ y))


PRODUCT_SHAPES = [
    pytest.param((3,), (3,), id='vector-vector'),
    pytest.param((2, 3), (3,), id='matrix-vector'),
    pytest.param((3,), (3, 4), id='vector-matrix'),
    pytest.param((2, 3), (3, 4), id='matrix-matrix'),
    pytest.param((2, 2, 3), (3,), id='stack-vector'),
    pytest.param((2, 2, 3), (3, 4), id='stack-matrix'),
]

# np.dot pairs every row of x with every matrix of a stacked y.
DOT_ONLY_SHAPES = [
    pytest.param((3,), (2, 3, 4), id='vector-stack'),
    pytest.param((2, 3), (2, 3, 4), id='matrix-stack'),
    pytest.param((2, 2, 3), (2, 3, 4), id='stack-stack'),
    pytest.param((2, 3), (), id='matrix-float'),
]

# np.dot of a Python float (which has no .dot method) is multiplication.
DOT_FLOAT_SHAPES = [
    pytest.param((), (3,), id='float-vector'),
    pytest.param((), (), id='float-float'),
]

# np.matmul broadcasts the stack dimensions.
MATMUL_ONLY_SHAPES = [
    pytest.param((3,), (2, 3, 4), id='vector-stack'),
    pytest.param((2, 3), (2, 3, 4), id='matrix-stack'),
    pytest.param((2, 2, 3), (2, 3, 4), id='stack-stack'),
    pytest.param((2, 1, 2, 3), (3, 3, 4), id='broadcast-stacks'),
]


@pytest.mark.parametrize('x_shape, y_shape',
                         PRODUCT_SHAPES + DOT_ONLY_SHAPES + DOT_FLOAT_SHAPES)
def test_dot(x_shape, y_shape):
    check_grads(np_dot, sample(x_shape, seed=1), sample(y_shape, seed=2))


@pytest.mark.parametrize('x_shape, y_shape', PRODUCT_SHAPES + DOT_ONLY_SHAPES)
def test_method_dot(x_shape, y_shape):
    check_grads(method_dot, sample(x_shape, seed=1), sample(y_shape, seed=2))


@pytest.mark.parametrize('x_shape, y_shape',
                         PRODUCT_SHAPES + MATMUL_ONLY_SHAPES)
@pytest.mark.parametrize('function', [np_matmul, op_matmul],
                         ids=['np_matmul', 'op_matmul'])
def test_matmul(function, x_shape, y_shape):
    check_grads(function, sample(x_shape, seed=1), sample(y_shape, seed=2))


_COMPLEX_FACTOR = (np.random.default_rng(7).normal(size=(3, 4))
                   + 1j * np.random.default_rng(8).normal(size=(3, 4)))


def real_times_complex_matmul(x, w):
    return np.sum(w * np.abs(np.sin(x) @ _COMPLEX_FACTOR))


@pytest.mark.parametrize('x_shape', [(3,), (2, 3), (2, 2, 3)],
                         ids=['vector', 'matrix', 'stack'])
def test_matmul_real_by_complex(x_shape):
    check_grads(real_times_complex_matmul, sample(x_shape, seed=1))


@pytest.mark.parametrize('x_shape, y_shape', [
    pytest.param((2, 3), (3, 4), id='matrix-matrix'),
    pytest.param((3,), (2, 3, 4), id='vector-stack'),
    pytest.param((2, 3), (2, 3, 4), id='matrix-stack'),
    pytest.param((2, 1, 2, 3), (3, 3, 4), id='broadcast-stacks'),
])
@pytest.mark.parametrize('complex_y', [False, True], ids=['real', 'complex'])
def test_matmul_adjoints_have_operand_shape_and_kind(x_shape, y_shape,
                                                     complex_y):
    # The matmul rules call no ad.unbroadcast: the helpers sum the product's
    # stack away and keep only the real part for a real operand themselves.
    from adcompiler import runtime
    x = sample(x_shape, seed=1)
    y = sample(y_shape, seed=2) * (1.0 + 0.5j if complex_y else 1.0)
    g = np.ones_like(x @ y)
    dx = runtime.matmul_adjoint_x(g, x, y)
    dy = runtime.matmul_adjoint_y(g, x, y)
    assert dx.shape == x.shape
    assert dy.shape == y.shape
    assert not np.iscomplexobj(dx)
    assert np.iscomplexobj(dy) == complex_y
    stacked_x = runtime.matmul_stacked_adjoint_a(g, y, x, y)
    stacked_y = runtime.matmul_stacked_adjoint_b(g, x, x, y)
    np.testing.assert_allclose(dx, runtime.unbroadcast(stacked_x, x))
    np.testing.assert_allclose(dy, runtime.unbroadcast(stacked_y, y))


# Shapes: reshape, ravel, squeeze, expand_dims, transpose, asarray, array -----

def np_reshape(x, w):
    return np.sum(w * np.reshape(x, (3, 2)))


def np_reshape_inferred(x, w):
    return np.sum(w * np.reshape(x, -1))


def np_reshape_fortran(x, w):
    return np.sum(w * np.reshape(x, (3, 2), order='F'))


def np_ravel(x, w):
    return np.sum(w * np.ravel(x))


def np_ravel_fortran(x, w):
    return np.sum(w * np.ravel(x, order='F'))


def np_squeeze(x, w):
    return np.sum(w * np.squeeze(np.reshape(x, (1, 2, 1, 3))))


def np_squeeze_axis(x, w):
    return np.sum(w * np.squeeze(np.reshape(x, (1, 2, 3)), axis=0))


def np_expand_dims(x, w):
    return np.sum(w * np.expand_dims(x, 1))


def np_expand_dims_axes(x, w):
    return np.sum(w * np.expand_dims(x, (0, -1)))


def np_transpose(x, w):
    return np.sum(w * np.transpose(x))


def np_asarray(x, w):
    return np.sum(w * np.asarray(x))


def np_asanyarray(x, w):
    return np.sum(w * np.asanyarray(x))


def np_ascontiguousarray(x, w):
    return np.sum(w * np.ascontiguousarray(x))


def np_array(x, w):
    return np.sum(w * np.array(x))


def np_array_ndmin(x, w):
    return np.sum(w * np.array(x, ndmin=3))


def method_reshape_arguments(x, w):
    return np.sum(w * x.reshape(3, 2))


def method_reshape_tuple(x, w):
    return np.sum(w * x.reshape((3, 2)))


def method_reshape_fortran(x, w):
    return np.sum(w * x.reshape(-1, order='F'))


def method_ravel(x, w):
    return np.sum(w * x.ravel())


def method_flatten(x, w):
    return np.sum(w * x.flatten())


def method_flatten_fortran(x, w):
    return np.sum(w * x.flatten('F'))


def method_squeeze(x, w):
    return np.sum(w * x.reshape(1, 2, 3).squeeze())


def method_transpose(x, w):
    return np.sum(w * x.transpose())


def method_copy(x, w):
    return np.sum(w * x.copy())


def attribute_t(x, w):
    return np.sum(w * x.T)


@pytest.mark.parametrize('function', [
    np_reshape, np_reshape_inferred, np_reshape_fortran, np_ravel,
    np_ravel_fortran, np_squeeze, np_squeeze_axis, np_expand_dims,
    np_expand_dims_axes, np_transpose, np_asarray, np_asanyarray,
    np_ascontiguousarray, np_array, np_array_ndmin, method_reshape_arguments, method_reshape_tuple, method_reshape_fortran,
    method_ravel, method_flatten, method_flatten_fortran, method_squeeze,
    method_transpose, method_copy, attribute_t,
], ids=lambda f: f.__name__)
def test_shape_of_matrix(function):
    check_grads(function, sample((2, 3)))


@pytest.mark.parametrize('function', [
    np_transpose, np_asarray, np_asanyarray, np_ascontiguousarray, np_array,
    np_array_ndmin, np_expand_dims, np_ravel, attribute_t, method_transpose, method_copy,
], ids=lambda f: f.__name__)
@pytest.mark.parametrize('shape', SHAPES[1:] + [
    pytest.param((2, 3, 4), id='cube')])
def test_shape_functions_keep_shape(function, shape):
    check_grads(function, sample(shape))


@pytest.mark.parametrize('function', [np_asarray, np_asanyarray,
                                      np_ascontiguousarray, np_array,
                                      np_array_ndmin],
                         ids=lambda f: f.__name__)
def test_array_of_float(function):
    check_grads(function, 0.3)


def np_copy(x, w):
    return np.sum(w * np.copy(x) ** 2)


def np_full_value(value, w):
    return np.sum(w * np.full((2, 3), value))


def np_full_like_value(value, w):
    return np.sum(w * np.full_like(XS, value))


def np_full_row(row, w):
    return np.sum(w * np.full((2, 3), row))


@pytest.mark.parametrize('shape', SHAPES)
def test_copy(shape):
    check_grads(np_copy, sample(shape))


@pytest.mark.parametrize('function, value', [
    pytest.param(np_full_value, 0.7, id='full-scalar'),
    pytest.param(np_full_like_value, -0.4, id='full_like-scalar'),
    pytest.param(np_full_row, np.array([0.5, -1.0, 2.0]), id='full-row'),
])
def test_full_fill_value(function, value):
    check_grads(function, value)


def np_transpose_axes(x, w):
    return np.sum(w * np.transpose(x, (1, 2, 0)))


def np_transpose_negative_axes(x, w):
    return np.sum(w * np.transpose(x, (-1, 0, 1)))


def np_transpose_keyword_axes(x, w):
    return np.sum(w * np.transpose(x, axes=(2, 0, 1)))


def method_transpose_arguments(x, w):
    return np.sum(w * x.transpose(1, 2, 0))


def method_transpose_tuple(x, w):
    return np.sum(w * x.transpose((2, 0, 1)))


def method_transpose_negative(x, w):
    return np.sum(w * x.transpose(-1, 0, -2))


@pytest.mark.parametrize('function', [
    np_transpose_axes, np_transpose_negative_axes, np_transpose_keyword_axes,
    method_transpose_arguments, method_transpose_tuple,
    method_transpose_negative,
], ids=lambda f: f.__name__)
def test_transpose_axes(function):
    check_grads(function, sample((2, 3, 4)))


def asarray_of_list(x, y, w):
    items = [x, y, x]
    return np.sum(w * np.asarray(items))


def asanyarray_of_list(x, y, w):
    items = [y, x]
    return np.sum(w * np.asanyarray(items))


def ascontiguousarray_of_tuple(x, y, w):
    items = (x, y, y)
    return np.sum(w * np.ascontiguousarray(items))


def array_of_tuple(x, y, w):
    items = (x, y)
    return np.sum(w * np.array(items))


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('function', [asarray_of_list, asanyarray_of_list,
                                      ascontiguousarray_of_tuple,
                                      array_of_tuple],
                         ids=lambda f: f.__name__)
def test_array_of_sequence(function, shape):
    check_grads(function, sample(shape, seed=1), sample(shape, seed=2))


def np_array_integer_dtype(x, w):
    return np.sum(w * x * np.array(x, dtype=int))


def np_asarray_boolean_dtype(x, w):
    return np.sum(w * x * np.asarray(x, bool))


def np_asarray_float_dtype(x, w):
    return np.sum(w * np.asarray(x, dtype=np.float64))


def np_sum_integer_dtype(x, w):
    return w * x[0] * np.sum(x, dtype=int)


def np_mean_integer_dtype(x, w):
    return w * x[0] * np.mean(x, axis=0, dtype=np.int64)


def method_sum_integer_dtype(x, w):
    return w * x[0] * x.sum(dtype=int)


def method_mean_float_dtype(x, w):
    return w * x.mean(dtype=float)


@pytest.mark.parametrize('function', [
    lambda x: np.sum(x, dtype=np.float32),
    lambda x: x.mean(dtype=np.float32),
    lambda x: np.add.reduce(x, dtype=np.float32),
    lambda x: np.sum(np.asarray(x, dtype=np.float32) ** 2),
    lambda x: np.sum(x.astype(np.float32) * 2.0),
], ids=['sum', 'method-mean', 'add-reduce', 'asarray', 'astype'])
def test_float32_dtype_keeps_float64_gradient(function):
    # As in JAX, the gradient has the argument's dtype, not the cast's.
    # The step is large for float32 rounding, and exact for quadratics.
    x = np.array([0.1, 0.2, 0.3])
    gradient = adcompiler.grad(function)(x)
    assert gradient.dtype == np.float64
    expected = numerical_gradient(function, (x,), 0, step=1e-2)
    assert_gradient_close(gradient, expected, rtol=1e-4, atol=1e-5)


# A cast to an integer or boolean dtype is piecewise constant: no gradient
# flows through it; a cast to a float dtype keeps the gradient.
@pytest.mark.parametrize('function', [
    np_array_integer_dtype, np_asarray_boolean_dtype, np_asarray_float_dtype,
    np_sum_integer_dtype, np_mean_integer_dtype, method_sum_integer_dtype,
    method_mean_float_dtype,
], ids=lambda f: f.__name__)
def test_dtype_casts(function):
    check_grads(function, np.array([0.5, 1.7, 2.2]))


def np_sum_of_list(x, y, w):
    items = [x, y]
    return np.sum(w * np.sum(items, axis=0))


def test_sum_of_list():
    check_grads(np_sum_of_list, sample((3,), seed=1), sample((3,), seed=2))


def method_tolist(x, w):
    return np.sum(w * np.array(x.tolist()))


def method_tolist_item(x, w):
    items = x.tolist()
    return w * items[1]


def test_tolist():
    check_grads(method_tolist, sample((2, 3)))
    check_grads(method_tolist_item, sample((3,)))


# Indexing: ans = x[index] ---------------------------------------------------

def index_integer(x, w):
    return np.sum(w * x[1])


def index_negative(x, w):
    return np.sum(w * x[-1])


def index_slice(x, w):
    return np.sum(w * x[1:])


def index_reversed(x, w):
    return np.sum(w * x[::-1])


def index_step(x, w):
    return np.sum(w * x[::2])


def index_repeated_list(x, w):
    return np.sum(w * x[[0, 2, 0, 0]])


def index_global_array(x, w):
    return np.sum(w * x[GLOBAL_INDEX])


def index_mask(x, w):
    return np.sum(w * x[x > 0.0])


def index_new_axis(x, w):
    return np.sum(w * x[None])


def index_row(x, w):
    return np.sum(w * x[1])


def index_element(x, w):
    return w * x[1, 2]


def index_column(x, w):
    return np.sum(w * x[:, 1])


def index_ellipsis(x, w):
    return np.sum(w * x[..., 0])


def index_new_axis_and_slice(x, w):
    return np.sum(w * x[None, :, 1:])


def index_mixed_array(x, w):
    return np.sum(w * x[1, [0, 2, 2]])


def index_two_arrays(x, w):
    return np.sum(w * x[[0, 1, 1], [2, 0, 0]])


def index_nonzero(x, w):
    return np.sum(w * x[np.nonzero(x > 0.0)])


def index_with_variable(x, i, w):
    return w * x[i]


GLOBAL_INDEX = np.array([2, 2, 1])
GLOBAL_DICT = {'a': 1, 'b': 2}


@pytest.mark.parametrize('function', [
    index_integer, index_negative, index_slice, index_reversed, index_step,
    index_repeated_list, index_global_array, index_mask, index_new_axis,
], ids=lambda f: f.__name__)
def test_index_vector(function):
    check_grads(function, np.array([0.5, -1.5, 2.0, 0.25]))


@pytest.mark.parametrize('function', [
    index_integer, index_negative, index_slice, index_row, index_element,
    index_column, index_ellipsis, index_new_axis_and_slice, index_mixed_array,
    index_two_arrays, index_mask, index_nonzero,
], ids=lambda f: f.__name__)
def test_index_matrix(function):
    check_grads(function, XS)


def test_index_with_variable():
    check_grads(index_with_variable, sample((4,)), 2)


def index_tuple(x, y, w):
    pair = (x, y)
    return np.sum(w * pair[1]) + np.sum(w * pair[0])


def index_list_slice(x, y, w):
    items = [x, y, x]
    rest = items[1:]
    return np.sum(w * rest[0] * rest[1])


def unpack_array(x, w):
    a, b = x
    return np.sum(w * (a * b))


def unpack_tuple(x, y, w):
    pair = (x, y)
    a, b = pair
    return np.sum(w * (a - 2.0 * b))


@pytest.mark.parametrize('function', [index_tuple, index_list_slice,
                                      unpack_tuple],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('shape', SHAPES)
def test_index_sequence(function, shape):
    check_grads(function, sample(shape, seed=1), sample(shape, seed=2))


def test_unpack_array():
    check_grads(unpack_array, sample((2, 3)))


# Python built-ins ------------------------------------------------------------

def builtin_float_of_sum(x, w):
    return w * float(np.sum(x))


def builtin_float_of_float(x, w):
    return w * float(x)


def test_builtin_float():
    check_grads(builtin_float_of_sum, sample((2, 3)))
    check_grads(builtin_float_of_float, 0.7)
    check_grads(builtin_float_of_float, np.array(0.7))


def numpy_float_types(x, w):
    # float64 first: a float32 constant times a Python float is a float32.
    wide = np.float64(x)
    return np.sum(w * (wide * 2.0 + np.float32(0.5) * wide
                       + np.float16(2.0) * wide ** 2))


def float32_of_value(x, w):
    return np.sum(w * np.float32(x))


def float32_accumulator(x, w):
    total = np.float32(0.0)
    for k in range(x.shape[0]):
        total = total + x[k] ** 2
    return w * total


def test_numpy_float_types():
    check_grads(numpy_float_types, 0.7)
    check_grads(numpy_float_types, sample((2, 3)))
    check_grads(float32_accumulator, sample((3,)))
    # The cast loses precision, so finite differences cannot check it; the
    # gradient of a cast is the cotangent, in the input's dtype.
    x, w = sample((3,)), sample((3,), seed=1)
    gradient = adcompiler.grad(float32_of_value)(x, w)
    assert gradient.dtype == np.float64
    np.testing.assert_allclose(gradient, w.astype(np.float32), rtol=1e-7)
    _, tangent = adcompiler.jvp(float32_of_value, (x, w), (np.ones(3), None))
    assert tangent == pytest.approx(np.sum(w.astype(np.float32)), rel=1e-6)


# The math module on Python floats -------------------------------------------

def math_exp(x, w):
    return w * math.exp(x)


def math_expm1(x, w):
    return w * math.expm1(x)


def math_log(x, w):
    return w * math.log(x)


def math_log_base(x, base, w):
    return w * math.log(x, base)


def math_log2(x, w):
    return w * math.log2(x)


def math_log10(x, w):
    return w * math.log10(x)


def math_log1p(x, w):
    return w * math.log1p(x)


def math_sqrt(x, w):
    return w * math.sqrt(x)


def math_sin(x, w):
    return w * math.sin(x)


def math_cos(x, w):
    return w * math.cos(x)


def math_tan(x, w):
    return w * math.tan(x)


def math_asin(x, w):
    return w * math.asin(x)


def math_acos(x, w):
    return w * math.acos(x)


def math_atan(x, w):
    return w * math.atan(x)


def math_atan2(x, y, w):
    return w * math.atan2(x, y)


def math_sinh(x, w):
    return w * math.sinh(x)


def math_cosh(x, w):
    return w * math.cosh(x)


def math_tanh(x, w):
    return w * math.tanh(x)


def math_asinh(x, w):
    return w * math.asinh(x)


def math_acosh(x, w):
    return w * math.acosh(x)


def math_atanh(x, w):
    return w * math.atanh(x)


def math_pow(x, y, w):
    return w * math.pow(x, y)


def math_pow_integer_exponent(x, w):
    return w * math.pow(x, 3)


def math_hypot(x, y, w):
    return w * math.hypot(x, y)


def math_fabs(x, w):
    return w * math.fabs(x)


def math_degrees(x, w):
    return w * math.degrees(x)


def math_radians(x, w):
    return w * math.radians(x)


def math_erf(x, w):
    return w * math.erf(x)


def math_erfc(x, w):
    return w * math.erfc(x)


def math_gamma(x, w):
    return w * math.gamma(x)


def math_lgamma(x, w):
    return w * math.lgamma(x)


def math_copysign(x, y, w):
    return w * math.copysign(x, y)


def math_fmod(x, y, w):
    return w * math.fmod(x, y)


def math_remainder(x, y, w):
    return w * math.remainder(x, y)


def math_cbrt(x, w):
    return w * math.cbrt(x)


def math_exp2(x, w):
    return w * math.exp2(x)


# (function, arguments)
MATH_CASES = [
    (math_exp,      (0.7,)),
    (math_expm1,    (-0.3,)),
    (math_log,      (1.7,)),
    (math_log_base, (1.7, 3.0)),
    (math_log2,     (1.7,)),
    (math_log10,    (1.7,)),
    (math_log1p,    (-0.4,)),
    (math_sqrt,     (1.7,)),
    (math_sin,      (0.7,)),
    (math_cos,      (0.7,)),
    (math_tan,      (0.7,)),
    (math_asin,     (0.6,)),
    (math_acos,     (-0.6,)),
    (math_atan,     (1.7,)),
    (math_atan2,    (-0.7, 0.4)),
    (math_sinh,     (0.7,)),
    (math_cosh,     (-0.7,)),
    (math_tanh,     (0.7,)),
    (math_asinh,    (-1.7,)),
    (math_acosh,    (1.7,)),
    (math_atanh,    (0.6,)),
    (math_pow,      (1.7, -0.6)),
    (math_pow_integer_exponent, (-1.5,)),
    (math_hypot,    (0.7, -1.2)),
    (math_fabs,     (-0.7,)),
    (math_degrees,  (0.7,)),
    (math_radians,  (30.0,)),
    (math_erf,      (0.7,)),
    (math_erfc,     (-0.7,)),
    (math_gamma,    (1.7,)),
    (math_gamma,    (-1.5,)),
    (math_gamma,    (7.2,)),
    (math_lgamma,   (0.3,)),
    (math_lgamma,   (-2.5,)),
    (math_lgamma,   (25.0,)),
    (math_copysign, (0.7, -2.0)),
    (math_fmod,     (-5.5, 2.0)),
    (math_remainder, (5.5, 2.0)),
]
if hasattr(math, 'cbrt'):  # Python 3.11 and later.
    MATH_CASES += [(math_cbrt, (-1.7,)), (math_exp2, (0.7,))]


@pytest.mark.parametrize(
    'function, args', MATH_CASES,
    ids=[f'{f.__name__}{args}' for f, args in MATH_CASES])
def test_math(function, args):
    check_grads(function, *args)


def test_math_pow_at_zero_base():
    # x**2 and x**0 have derivative 0 at x = 0, where x**(y - 1) must not
    # raise ZeroDivisionError.
    assert grad_of(math_pow, 0.0, 2.0) == 0.0
    assert grad_of(math_pow, 0.0, 0.0) == 0.0
    assert adcompiler.grad(math_pow, wrt=1)(0.0, 2.0, 1.0) == 0.0


def test_digamma_matches_scipy():
    from scipy.special import digamma
    from adcompiler import runtime
    x = np.array([-3.7, -0.5, 0.1, 0.5, 1.0, 1.4616, 2.5, 7.3, 15.0, 120.0])
    np.testing.assert_allclose(runtime.digamma(x), digamma(x), rtol=1e-13,
                               atol=1e-13)


# Sums, products and extrema of sequences -------------------------------------
# The adjoint of a list or tuple argument is a list or tuple of adjoints.

def builtin_sum_list(x, y, w):
    return w * sum([x, y * 2.0, x * y])


def builtin_sum_tuple_start(x, y, w):
    return np.sum(w * sum((x, y), 1.5 * y))


def builtin_sum_array(x, y, w):
    return np.sum(w * sum(x * y))


def math_fsum(x, y, w):
    return w * math.fsum([x, y, x * y])


def math_prod(x, y, w):
    return w * math.prod([x, y, x * y, 2.0])


def math_prod_start(x, y, w):
    return w * math.prod((x, y), start=y)


def builtin_max(x, y, w):
    return w * max(x, y, 0.25)


def builtin_min(x, y, w):
    return w * min(x * 2.0, y)


def builtin_max_of_list(x, y, w):
    return w * max([x, y, -x])


def builtin_min_of_array(x, y, w):
    return w * min(np.array([x, y * 3.0]))


def builtin_pow(x, y, w):
    return np.sum(w * pow(x, y))


def builtin_divmod(x, y, w):
    quotient, remainder = divmod(x, y)
    return w * (remainder + quotient * 0.0)


def builtin_list_of_array(x, y, w):
    rows = list(np.stack([x, y * x]))
    return np.sum(w * rows[0] * rows[1])


def builtin_tuple_of_list(x, y, w):
    items = tuple([x, y * 2.0])
    return np.sum(w * items[0] * np.sin(items[1]))


# (function, x, y)
SEQUENCE_CASES = [
    (builtin_sum_list, 0.7, -1.3), (builtin_sum_tuple_start, 0.7, -1.3),
    (builtin_sum_tuple_start, sample((3,)), sample((2, 3), seed=1)),
    (builtin_sum_array, sample((3,)), sample((3,), seed=1)),
    (builtin_sum_array, sample((2, 3)), sample((3,), seed=1)),
    (builtin_sum_array, sample((2, 1)), sample((2, 3), seed=1)),
    (math_fsum, 0.7, -1.3), (math_prod, 0.7, -1.3),
    (math_prod_start, 0.7, -1.3),
    (builtin_max, 0.7, -1.3), (builtin_max, -0.7, 0.1),
    (builtin_max, -0.7, -1.3), (builtin_min, 0.7, -1.3),
    (builtin_min, -0.7, 0.1), (builtin_max_of_list, 0.7, 1.3),
    (builtin_max_of_list, -0.7, -1.3), (builtin_min_of_array, 0.7, -1.3),
    (builtin_pow, 1.7, -0.6), (builtin_pow, sample((3,), 0.5, 2.0), 2.5),
    (builtin_divmod, 5.5, 2.0), (builtin_divmod, -5.5, 1.5),
    (builtin_list_of_array, 0.7, -1.3),
    (builtin_list_of_array, sample((3,)), sample((3,), seed=1)),
    (builtin_list_of_array, sample((2, 3)), sample((3,), seed=1)),
    (builtin_tuple_of_list, 0.7, -1.3),
    (builtin_tuple_of_list, sample((3,)), sample((2, 3), seed=1)),
]


@pytest.mark.parametrize(
    'function, x, y', SEQUENCE_CASES,
    ids=[f'{f.__name__}-{np.shape(x)}-{np.shape(y)}'
         for f, x, y in SEQUENCE_CASES])
def test_sequence_builtins(function, x, y):
    check_grads(function, x, y)


def math_prod_of_list(values, w):
    return w * math.prod(values)


def builtin_max_of(values, w):
    return w * max(values)


def test_sequence_adjoints_have_the_sequence_type():
    gradient = grad_of(math_prod_of_list, [2.0, 0.0, 3.0])
    assert gradient == [0.0, 6.0, 0.0]
    gradient = grad_of(math_prod_of_list, (2.0, 0.0, 0.0))
    assert gradient == (0.0, 0.0, 0.0)


@pytest.mark.parametrize('function, args, expected', [
    pytest.param(builtin_max_of, ([1.0, 3.0, 3.0],), [0.0, 0.5, 0.5],
                 id='max-list'),
    pytest.param(builtin_max_of, ((2.0, 2.0, 2.0),), (1 / 3, 1 / 3, 1 / 3),
                 id='max-tuple'),
    pytest.param(builtin_max, (0.25, 0.25), 1 / 3, id='max-arguments'),
    pytest.param(builtin_min, (0.5, 1.0), 1.0, id='min-arguments'),
])
def test_builtin_extremum_ties_split_evenly(function, args, expected):
    assert grad_of(function, *args) == pytest.approx(expected)


# Non-differentiable entries --------------------------------------------------
# Each function passes x through registered non-differentiable callables
# and also uses x directly. No gradient may flow through those callables,
# and the inputs are away from their jumps, so finite differences apply.

def nd_sign(x, w):
    return np.sum(w * x * np.sign(x))


def nd_floor(x, w):
    return np.sum(w * (x + np.floor(x)))


def nd_ceil(x, w):
    return np.sum(w * (x * np.ceil(x)))


def nd_round(x, w):
    return np.sum(w * (x - np.round(x)))


def nd_around(x, w):
    return np.sum(w * (x - np.around(x, 1)))


def nd_rint(x, w):
    return np.sum(w * (x - np.rint(x)))


def nd_trunc(x, w):
    return np.sum(w * (x - np.trunc(x)))


def nd_fix(x, w):
    return np.sum(w * (x - np.fix(x)))


def nd_floor_divide(x, y, w):
    return np.sum(w * (x * np.floor_divide(x, y)))


def nd_floordiv_operator(x, y, w):
    return np.sum(w * (x * (x // y)))


def nd_isnan_isinf_isfinite(x, w):
    return np.sum(w * x * (np.isnan(x) + np.isinf(x) + np.isfinite(x)))


def nd_comparisons(x, y, w):
    return np.sum(w * x * (np.greater(x, y) + 2.0 * np.greater_equal(x, y)
                           + 3.0 * np.less(x, y) + 4.0 * np.less_equal(x, y)
                           + 5.0 * np.equal(x, y) + 6.0 * np.not_equal(x, y)))


def nd_logical(x, y, w):
    positive = x > 0.0
    larger = x > y
    flags = (np.logical_and(positive, larger) + 2.0 * np.logical_or(
        positive, larger) + 3.0 * np.logical_not(positive))
    return np.sum(w * y * flags)


def nd_arg_functions(x, w):
    return np.sum(w * x[np.argmax(x)] * x[np.argmin(x)] * x[np.argsort(x)])


def nd_nonzero_count(x, w):
    return np.sum(w * x * np.count_nonzero(x > 0.0) * np.any(x > 1.0)
                  * np.all(x > -5.0))


def nd_shape_queries(x, w):
    n = np.shape(x)[0] + np.ndim(x) + np.size(x)
    return np.sum(w * x * n)


def nd_constructors(x, w):
    zeros = np.zeros(np.shape(x))
    ones = np.ones(np.shape(x))
    empty = np.empty(np.shape(x))
    like = np.zeros_like(x) + np.ones_like(x) + 0.0 * np.size(np.empty_like(x))
    grid = np.arange(np.size(x))
    eye = np.eye(3) + np.identity(3)
    return np.sum(w * (x * ones + zeros + like + 0.0 * np.size(empty))) \
        + np.sum(grid) + np.sum(eye)


def nd_type_queries(x, w):
    kind = np.result_type(x, 1.0)
    dtype = np.dtype(kind)
    scale = 2.0 + np.iscomplexobj(x) + np.isscalar(x)
    same = np.allclose(x, x) + np.array_equal(x, x)
    return np.sum(w * x * scale * same * (dtype == np.float64))


def nd_methods(x, w):
    picked = x[x.argmax()] + x[x.argmin()] + x[x.argsort()][0] \
        + x[x.argpartition(1)][0] + x.round(1) * 0.0 \
        + x[np.sort(x).searchsorted(0.3)]
    chosen = x[x.nonzero()]
    flags = x.any() + x.all()
    return np.sum(w * (picked + flags + chosen))


def nd_attributes(x, w):
    n = x.shape[0] + x.ndim + x.size + x.itemsize + x.nbytes + x.strides[0]
    same = (x.dtype == np.float64) + x.flags.c_contiguous
    return np.sum(w * x * n * same)


def nd_builtins(x, w):
    n = len(x)
    flags = operator.and_(n, 3) + operator.or_(n, 4) + operator.xor(n, 1) \
        + operator.lshift(n, 1) + operator.rshift(n, 1) + operator.invert(n)
    checks = operator.not_(n) + isinstance(x, np.ndarray) \
        + issubclass(type(x), np.ndarray) + callable(x) + hasattr(x, 'shape')
    text = str(n) + repr(n)
    counted = len(range(n)) + len(text) + int(x[0]) + bool(n) + round(x[1])
    hashed = hash(n) - hash(n) + id(x) - id(x)
    seen = set([id(x)])
    frozen = frozenset(seen)
    set.add(seen, id(w))
    set.discard(seen, id(w))
    set.remove(seen, id(x))
    known = set.__contains__(seen, id(x)) + len(frozen)
    keys = len(dict.keys(GLOBAL_DICT))
    truth = any([n > 0]) + all([n > 0])
    print(end='')
    scale = flags + checks + counted + hashed + known + truth + keys
    return np.sum(w * x * scale)


def nd_predicates(x, w):
    flags = (np.logical_xor(x > 0.0, x > 1.0) + np.signbit(x)
             + np.isclose(x, 0.1) + np.isreal(x) + np.iscomplex(x)
             + np.isposinf(x) + np.isneginf(x) + np.isin(x, [0.1])
             + np.array_equiv(x, x) + np.isrealobj(x)
             + np.issubdtype(x.dtype, np.floating))
    return np.sum(w * x * flags + w * np.spacing(x))


def nd_positions(x, w):
    row = x[1]
    order = np.sort(row)
    where = np.searchsorted(order, row) + np.digitize(row, order)
    picked = row[np.argpartition(row, 1)] + row[np.flatnonzero(row > 0.0)][0]
    found = np.argwhere(row > 0.0)[0, 0] + np.lexsort((row,))[0]
    return np.sum(w * row * (where + found) + w * picked)


def nd_index_builders(x, w):
    count = (np.tri(2)[1, 0] + np.indices((2, 3))[1, 0, 2]
             + np.tril_indices(3)[0][-1] + np.triu_indices(3)[1][-1]
             + np.diag_indices(2)[0][1]
             + np.unravel_index(4, (2, 3))[1]
             + np.ravel_multi_index((1, 2), (2, 3))
             + np.broadcast_shapes((2, 1), (3,))[1])
    types = np.can_cast(x.dtype, np.float64) + (
        np.promote_types(x.dtype, np.float32) == np.float64)
    return np.sum(w * x * (count + types))


def nd_math(x, y, w):
    n = math.floor(x) + math.ceil(y) + math.trunc(x) + math.factorial(3) \
        + math.comb(4, 2) + math.perm(4, 2) + math.gcd(6, 4)
    flags = math.isnan(x) + math.isinf(x) + math.isfinite(x) \
        + math.isclose(x, y)
    return w * x * y * (n + flags)


# (function, inputs): inputs avoid the jumps of floor, round, sign, ...
NON_DIFFERENTIABLE_CASES = [
    (nd_sign, (XS,)),
    (nd_floor, (XS,)),
    (nd_ceil, (XS,)),
    (nd_round, (XS,)),
    (nd_around, (np.array([0.12, -0.33, 0.48]),)),
    (nd_rint, (XS,)),
    (nd_trunc, (XS,)),
    (nd_fix, (XS,)),
    (nd_floor_divide, (XS, np.array([0.7, 0.9, 1.1]))),
    (nd_floordiv_operator, (XS, 0.9)),
    (nd_isnan_isinf_isfinite, (XS,)),
    (nd_comparisons, (XS, np.array([0.5, -0.5, 0.0]))),
    (nd_logical, (XS, np.array([0.5, -0.5, 0.0]))),
    (nd_arg_functions, (np.array([0.5, -1.5, 2.0, 0.25]),)),
    (nd_nonzero_count, (XS,)),
    (nd_shape_queries, (XS,)),
    (nd_constructors, (XS,)),
    (nd_type_queries, (XS,)),
    (nd_methods, (np.array([0.5, -1.5, 2.0, 0.25]),)),
    (nd_attributes, (XS,)),
    (nd_builtins, (np.array([0.5, 1.75, -1.0]),)),
    (nd_math, (1.3, 0.6)),
    (nd_predicates, (XS,)),
    (nd_positions, (XS,)),
    (nd_index_builders, (XS,)),
]


@pytest.mark.parametrize(
    'function, args', NON_DIFFERENTIABLE_CASES,
    ids=[f.__name__ for f, _ in NON_DIFFERENTIABLE_CASES])
def test_non_differentiable(function, args):
    check_grads(function, *args)


def bookkeeping_in_expressions(x, w):
    scale = 2.0 if np.isscalar(x) else 3.0
    same = np.allclose(x, x) and np.array_equal(x, x)
    return np.sum(w * x * scale * same)


# Conditional expressions and and/or in bookkeeping do not stop the gradient.
def test_inactive_bookkeeping_with_any_syntax():
    check_grads(bookkeeping_in_expressions, XS)


def zero_sign(x, w):
    return np.sum(w * np.sign(x))


def zero_floor(x, w):
    return np.sum(w * np.floor(x))


def zero_argmax(x, w):
    return w * np.argmax(x)


def zero_comparison(x, w):
    return np.sum(w * (x > 0.0))


def zero_len_and_shape(x, w):
    return w * (len(x) + x.shape[1])


def zero_math_floor(x, w):
    return w * math.floor(x)


def zero_floordiv(x, w):
    return np.sum(w * (x // 0.5))


def zero_stop_gradient(x, w):
    return np.sum(w * adcompiler.stop_gradient(x))


@pytest.mark.parametrize('function, x', [
    (zero_sign, XS),
    (zero_floor, XS),
    (zero_argmax, XS),
    (zero_comparison, XS),
    (zero_len_and_shape, XS),
    (zero_math_floor, 1.3),
    (zero_floordiv, XS),
    (zero_stop_gradient, XS),
], ids=lambda v: getattr(v, '__name__', None))
def test_zero_gradient(function, x):
    gradient = grad_of(function, x)
    assert np.shape(gradient) == np.shape(x)
    assert np.all(gradient == 0.0)


# Built-ins that return their argument's values raise, not return zeros ------

def through_sorted(x, w):
    return w * sorted(x)[0]


def through_enumerate(x, w):
    return w * list(enumerate(x))[0][1]


def through_next(x, w):
    return w * next(iter(x))


def test_value_builtin_stays_foreign():
    with pytest.raises(adcompiler.ForeignCallError):
        grad_of(through_next, np.array([0.5, -1.5, 2.0]))


def test_enumerate_is_differentiated_by_index():
    x = np.array([0.5, -1.5, 2.0])
    expected = numerical_gradient(lambda v: through_enumerate(v, 1.5), (x,),
                                  0)
    assert_gradient_close(adcompiler.grad(through_enumerate)(x, 1.5),
                          expected)


def test_sorted_is_differentiated_by_index():
    x = np.array([0.5, -1.5, 2.0])
    expected = numerical_gradient(lambda v: through_sorted(v, 1.5), (x,), 0)
    assert_gradient_close(adcompiler.grad(through_sorted)(x, 1.5), expected)


# Registry coverage -----------------------------------------------------------

# Every callable, method and attribute registered by adcompiler.rules, as the
# tables above exercise them.
COVERED_CALLEES = {
    np.copy, np.full, np.full_like,
    np.add, np.subtract, np.multiply, np.divide, np.true_divide, np.power,
    np.maximum, np.minimum, np.fmax, np.fmin, np.logaddexp, np.logaddexp2,
    np.arctan2, np.hypot,
    np.negative, np.positive, np.exp, np.exp2, np.expm1, np.log, np.log2,
    np.log10, np.log1p, np.sqrt, np.cbrt, np.square, np.reciprocal, np.sin,
    np.cos, np.tan, np.arcsin, np.arccos, np.arctan, np.sinh, np.cosh,
    np.tanh, np.arcsinh, np.arccosh, np.arctanh, np.abs, np.fabs,
    np.sign, np.floor, np.ceil, np.round, np.around, np.rint, np.trunc,
    np.fix, np.floor_divide, np.isnan, np.isinf, np.isfinite, np.greater,
    np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_not, np.argmax, np.argmin,
    np.argsort, np.nonzero, np.count_nonzero, np.any, np.all,
    np.shape, np.ndim, np.size, np.zeros, np.ones, np.empty, np.zeros_like,
    np.ones_like, np.empty_like, np.arange, np.eye, np.identity,
    np.result_type, np.dtype, np.iscomplexobj, np.isscalar, np.allclose,
    np.array_equal,
    np.float_power, np.mod, np.remainder, np.fmod, np.copysign, np.heaviside,
    np.divmod, np.degrees, np.rad2deg, np.radians, np.deg2rad, np.sinc,
    np.real, np.imag, np.conj, np.conjugate, np.angle, np.real_if_close,
    np.logical_xor, np.signbit, np.spacing, np.isclose, np.isreal,
    np.iscomplex, np.isposinf, np.isneginf, np.isin, np.array_equiv,
    np.searchsorted, np.digitize, np.argpartition, np.argwhere,
    np.flatnonzero, np.lexsort, np.isrealobj, np.issubdtype, np.can_cast,
    np.promote_types, np.broadcast_shapes, np.tri, np.indices,
    np.tril_indices, np.triu_indices, np.diag_indices, np.unravel_index,
    np.ravel_multi_index,
    np.where, np.clip,
    np.sum, np.mean, np.max, np.min, np.amax, np.amin,
    np.dot, np.matmul,
    np.reshape, np.ravel, np.squeeze, np.expand_dims, np.transpose,
    np.asarray, np.asanyarray, np.ascontiguousarray, np.array,
    operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
    operator.mod, operator.matmul, operator.neg, operator.pos,
    operator.getitem, abs, float, np.float64, np.float32, np.float16,
    operator.floordiv, operator.and_, operator.or_, operator.xor,
    operator.lshift, operator.rshift, operator.invert, operator.not_, len,
    range, id, hash, type, isinstance, issubclass, print, int, bool, str,
    repr, round, callable, hasattr, any, all, set.add,
    set.discard, set.remove, set.__contains__, dict.keys, dict.__contains__,
    math.exp, math.expm1, math.log, math.log2, math.log10, math.log1p,
    math.sqrt, math.sin, math.cos, math.tan, math.asin, math.acos, math.atan,
    math.atan2, math.sinh, math.cosh, math.tanh, math.asinh, math.acosh,
    math.atanh, math.pow, math.hypot, math.fabs, math.degrees, math.radians,
    math.erf, math.erfc,
    math.floor, math.ceil, math.trunc, math.factorial, math.isnan,
    math.isinf, math.isfinite, math.isclose, math.comb, math.perm, math.gcd,
    math.gamma, math.lgamma, math.copysign, math.fmod, math.remainder,
    math.fsum, math.prod, max, min, sum, pow, divmod, super, list, tuple,
} | ({math.cbrt, math.exp2} if hasattr(math, 'cbrt') else set())
COVERED_METHODS = {'sum', 'mean', 'max', 'min', 'dot', 'reshape', 'ravel',
                   'flatten', 'squeeze', 'transpose', 'copy', 'tolist',
                   'argmax', 'argmin', 'argsort', 'nonzero', 'any', 'all',
                   'conj', 'conjugate', 'round', 'searchsorted',
                   'argpartition'}
COVERED_ATTRIBUTES = {'T', 'shape', 'ndim', 'size', 'dtype', 'itemsize',
                      'nbytes', 'strides', 'flags', 'real', 'imag'}


@dataclasses.dataclass
class _Base:
    w: np.ndarray

    def energy(self, x):
        return np.sum(self.w * x ** 2)


@dataclasses.dataclass
class _Derived(_Base):
    def energy(self, x):
        return super().energy(x) * 2.0 + np.sum(self.w)


def super_energy(model, x):
    return _Derived.energy(model, x)


def test_super_rule_passes_adjoint_to_instance():
    model, x = _Derived(np.array([0.5, -1.0])), np.array([1.5, 2.0])
    gradient = adcompiler.grad(super_energy)(model, x)

    def of_w(w):
        return super_energy(_Derived(w), x)

    assert_gradient_close(gradient.w, numerical_gradient(of_w, (model.w,), 0))


def _is_library_callee(callee):
    """True for callables of NumPy (with numpy.linalg, numpy.fft and
    numpy.random), math, operator, builtins, set and dict.

    Rules that other tests register for their own functions do not count.
    """
    name = getattr(callee, '__name__', None)
    if any(vars(module).get(name) is callee
           for module in (np, np.linalg, np.fft, np.random, math, operator,
                          builtins) if name):
        return True
    return getattr(callee, '__objclass__', None) in (set, dict)


# The other rule test modules list what they cover in the same three sets.
RULE_TEST_MODULES = ('test_rules_numpy', 'test_rules_linalg',
                     'test_rules_fft', 'test_rules_numpy_compositions')


def _all_covered():
    callees = set(COVERED_CALLEES)
    methods = set(COVERED_METHODS)
    attributes = set(COVERED_ATTRIBUTES)
    for name in RULE_TEST_MODULES:
        module = importlib.import_module(name)
        callees |= module.COVERED_CALLEES
        methods |= module.COVERED_METHODS
        attributes |= module.COVERED_ATTRIBUTES
    return callees, methods, attributes


def test_every_rule_is_covered():
    callees, methods, attributes = REGISTRY.entries()
    covered_callees, covered_methods, covered_attributes = _all_covered()
    library = {c for c in callees if _is_library_callee(c)}
    assert library - covered_callees == set(), 'registered without a test'
    assert covered_callees - library == set(), 'tested but not registered'
    assert set(methods) == covered_methods
    assert set(attributes) == covered_attributes


ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.skipif(
    np.max.__name__ != 'max',
    reason=f'NumPy {np.__version__} names np.max amax (and np.round round_), '
           'so the rows of the page have other first names')
def test_rules_page_is_current():
    # A fresh interpreter, so that rules other tests register do not count.
    path = os.pathsep.join(filter(None, [str(ROOT),
                                         os.environ.get('PYTHONPATH')]))
    result = subprocess.run(
        [sys.executable, '-m', 'adcompiler.rules', '--check',
         str(ROOT / 'docs' / 'RULES.md')],
        capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, PYTHONPATH=path))
    assert result.returncode == 0, result.stderr


def test_rules_page_lists_every_covered_callable():
    from adcompiler.rules.coverage import coverage_page
    page = coverage_page()
    callees, methods, attributes = _all_covered()
    for callee in callees:
        assert f'{callee.__name__}`' in page, callee
    for name in methods:
        assert f'`x.{name}()`' in page
    for name in attributes:
        assert f'`x.{name}`' in page


def test_sorted_enumerate_not_registered():
    for callee in (sorted, enumerate):
        assert REGISTRY.lookup(callee) is not NON_DIFFERENTIABLE
