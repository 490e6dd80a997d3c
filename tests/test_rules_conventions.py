"""The conventions of docs/CONVENTIONS.md, one test each, in both modes.

Where a function has no derivative (a kink, a tie, a zero norm, a singular
matrix) the rules pick one value. Each test fixes that value for grad and
for jvp, so that the page and the code cannot drift apart.
"""

import builtins
import math

import numpy as np
import pytest

import adcompiler


def gradient_and_tangent(function, x, direction):
    """Return grad(function)(x) and the tangent of function along direction."""
    gradient = adcompiler.grad(function)(x)
    _, tangent = adcompiler.jvp(function, (x,), (direction,))
    return gradient, tangent


# Kinks of elementwise functions ----------------------------------------------

def np_abs(x):
    return np.sum(np.abs(x))


def np_fabs(x):
    return np.sum(np.fabs(x))


def builtin_abs(x):
    return builtins.abs(x)


def math_fabs(x):
    return math.fabs(x)


@pytest.mark.parametrize('function, x', [
    pytest.param(np_abs, np.array([0.0, -2.0, 3.0]), id='np.abs'),
    pytest.param(np_fabs, np.array([0.0, -2.0, 3.0]), id='np.fabs'),
    pytest.param(builtin_abs, 0.0, id='abs'),
    pytest.param(math_fabs, 0.0, id='math.fabs'),
])
def test_abs_at_zero(function, x):
    if np.ndim(x):
        gradient, tangent = gradient_and_tangent(function, x,
                                                 np.array([5.0, 2.0, 3.0]))
        np.testing.assert_array_equal(gradient, [0.0, -1.0, 1.0])
        assert tangent == 1.0
    else:
        gradient, tangent = gradient_and_tangent(function, x, 1.0)
        assert gradient == 0.0
        assert tangent == 0.0


def complex_abs(z):
    return np.sum(np.abs(z))


def test_abs_at_complex_zero():
    z = np.array([0j, 3.0 + 4.0j])
    gradient, tangent = gradient_and_tangent(complex_abs, z,
                                             np.array([1.0 + 1.0j, 0j]))
    np.testing.assert_allclose(gradient, [0.0, 0.6 - 0.8j])
    assert tangent == 0.0


def relu_maximum(x):
    return np.sum(np.maximum(x, 0.0))


def relu_where(x):
    return np.sum(np.where(x > 0, x, 0.0))


def test_maximum_with_zero_is_zero_at_zero():
    x = np.array([0.0, 2.0, -1.0])
    gradient, tangent = gradient_and_tangent(relu_maximum, x, np.ones(3))
    np.testing.assert_array_equal(gradient, [0.0, 1.0, 0.0])
    assert tangent == 1.0


def minimum_with_array(x, y):
    return np.sum(np.minimum(x, y))


def test_minimum_with_constant_array_is_zero_at_tie():
    """A tie with an operand that is not differentiated gives x nothing.
    Differentiating both operands splits the tie evenly."""
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([1.0, 0.0, 5.0])
    only_x = adcompiler.grad(minimum_with_array)(x, y)
    np.testing.assert_array_equal(only_x, [0.0, 0.0, 1.0])
    both = adcompiler.grad(minimum_with_array, wrt=(0, 1))(x, y)
    np.testing.assert_array_equal(both[0], [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(both[1], [0.5, 1.0, 0.0])
    _, tangent = adcompiler.jvp(minimum_with_array, (x, y),
                                (np.ones(3), None))
    assert tangent == 1.0
    _, tangent = adcompiler.jvp(minimum_with_array, (x, y),
                                (np.ones(3), np.zeros(3)))
    assert tangent == 1.5


def test_relu_written_with_where_is_zero_at_zero():
    x = np.array([0.0, 2.0, -1.0])
    gradient, tangent = gradient_and_tangent(relu_where, x, np.ones(3))
    np.testing.assert_array_equal(gradient, [0.0, 1.0, 0.0])
    assert tangent == 1.0


def clip_unit(x):
    return np.sum(np.clip(x, 0.0, 1.0))


def test_clip_at_a_bound_moves_with_x():
    x = np.array([0.0, 1.0, 0.5, 2.0])
    gradient, tangent = gradient_and_tangent(clip_unit, x, np.ones(4))
    np.testing.assert_array_equal(gradient, [1.0, 1.0, 1.0, 0.0])
    assert tangent == 3.0


def rounding(x):
    return np.sum(np.floor(x) + np.round(x) + np.sign(x) + np.trunc(x)) * x[0]


def test_piecewise_constant_functions_have_zero_derivative():
    x = np.array([0.7, -1.2, 0.0])
    gradient = adcompiler.grad(rounding)(x)
    constant = np.sum(np.floor(x) + np.round(x) + np.sign(x) + np.trunc(x))
    np.testing.assert_array_equal(gradient, [constant, 0.0, 0.0])


def square_by_power(x):
    return np.sum(x ** 2.0)


def power_of_zero(y):
    return np.sum(np.zeros(2) ** y)


def test_power_at_zero_base():
    gradient, tangent = gradient_and_tangent(square_by_power, np.zeros(2),
                                             np.ones(2))
    np.testing.assert_array_equal(gradient, [0.0, 0.0])
    assert tangent == 0.0
    gradient, tangent = gradient_and_tangent(power_of_zero,
                                             np.array([2.0, 3.0]), np.ones(2))
    np.testing.assert_array_equal(gradient, [0.0, 0.0])
    assert tangent == 0.0


# Ties ------------------------------------------------------------------------

def largest(x):
    return np.max(x)


def builtin_largest(x):
    return builtins.max(x[0], x[1], x[2])


def sorted_last(x):
    return np.sort(x)[-1]


@pytest.mark.parametrize('function', [largest, builtin_largest, sorted_last],
                         ids=['np.max', 'max', 'np.sort'])
def test_ties_split_evenly(function):
    x = np.array([3.0, 1.0, 3.0])
    gradient, tangent = gradient_and_tangent(function, x,
                                             np.array([1.0, 5.0, 2.0]))
    np.testing.assert_array_equal(gradient, [0.5, 0.0, 0.5])
    assert tangent == 1.5


def maximum_of_pair(x):
    return np.maximum(x[0], x[1])


def test_maximum_tie_splits_evenly():
    gradient, tangent = gradient_and_tangent(maximum_of_pair,
                                             np.array([2.0, 2.0]),
                                             np.array([1.0, 3.0]))
    np.testing.assert_array_equal(gradient, [0.5, 0.5])
    assert tangent == 2.0


# Zeros of norms and products -------------------------------------------------

def vector_norm(x):
    return np.linalg.norm(x)


def standard_deviation(x):
    return np.std(x)


# Distances between coinciding points. The third coordinate is unused.
def numpy_hypot(x):
    return np.hypot(x[0], x[1]) + 0.0 * x[2]


def math_hypot(x):
    return math.hypot(x[0], x[1]) + 0.0 * x[2]


def math_dist(x):
    return math.dist(x, (0.0, 0.0, 0.0))


@pytest.mark.parametrize('function, x', [
    pytest.param(vector_norm, np.zeros(3), id='norm'),
    pytest.param(standard_deviation, np.full(3, 0.5), id='std'),
    pytest.param(numpy_hypot, np.zeros(3), id='np.hypot'),
    pytest.param(math_hypot, np.zeros(3), id='math.hypot'),
    pytest.param(math_dist, np.zeros(3), id='math.dist'),
])
def test_zero_norm_has_zero_derivative(function, x):
    gradient, tangent = gradient_and_tangent(function, x,
                                             np.array([1.0, -2.0, 0.5]))
    np.testing.assert_array_equal(gradient, np.zeros(3))
    assert tangent == 0.0


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-reverse',
                                  'reverse-over-forward'])
@pytest.mark.parametrize('function', [numpy_hypot, math_hypot, math_dist],
                         ids=['np.hypot', 'math.hypot', 'math.dist'])
def test_zero_distance_has_zero_hessian(function, mode):
    hessian = adcompiler.hessian(function, mode=mode)(np.zeros(3))
    np.testing.assert_array_equal(hessian, np.zeros((3, 3)))


# np.hypot broadcasts: only the entries where both operands are 0 get 0.
def test_hypot_at_zero_among_other_entries():
    x = np.array([[0.0, 3.0], [0.0, -1.0]], dtype=np.float32)
    y = np.array([0.0, 4.0], dtype=np.float32)

    def total(x, y):
        return np.sum(np.hypot(x, y))

    dx, dy = adcompiler.grad(total, wrt=(0, 1))(x, y)
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, [[0.0, 0.6], [0.0, -1.0 / np.hypot(1, 4)]],
                               rtol=1e-6)
    np.testing.assert_allclose(dy, [0.0, 0.8 + 4.0 / np.hypot(1, 4)],
                               rtol=1e-6)
    tangent = adcompiler.jvp(total, (x, y), (np.ones_like(x),
                                             np.ones_like(y)))[1]
    assert tangent == pytest.approx(np.sum(dx) + np.sum(dy), rel=1e-6)


def product(x):
    return np.prod(x)


def math_product(x):
    return math.prod([x[0], x[1], x[2]])


def running_product(x):
    return np.cumprod(x)[-1]


@pytest.mark.parametrize('function', [product, math_product,
                                      running_product],
                         ids=['np.prod', 'math.prod', 'np.cumprod'])
def test_product_with_zeros_is_exact(function):
    x = np.array([2.0, 0.0, 3.0])
    gradient, tangent = gradient_and_tangent(function, x, np.ones(3))
    np.testing.assert_array_equal(gradient, [0.0, 6.0, 0.0])
    assert tangent == 6.0
    x = np.array([0.0, 0.0, 3.0])
    gradient, tangent = gradient_and_tangent(function, x, np.ones(3))
    np.testing.assert_array_equal(gradient, [0.0, 0.0, 0.0])
    assert tangent == 0.0


def determinant(a):
    return np.linalg.det(a)


def test_det_of_singular_matrix_gives_adjugate():
    a = np.array([[1.0, 2.0], [2.0, 4.0]])
    direction = np.array([[1.0, 0.0], [0.0, 0.0]])
    gradient, tangent = gradient_and_tangent(determinant, a, direction)
    # The transposed adjugate of [[a, b], [c, d]] is [[d, -c], [-b, a]].
    np.testing.assert_allclose(gradient, [[4.0, -2.0], [-2.0, 1.0]],
                               atol=1e-12)
    assert tangent == pytest.approx(4.0, abs=1e-12)


# Complex numbers -------------------------------------------------------------

def squared_magnitude(z):
    return np.abs(z) ** 2


def real_of_square(z):
    return np.real(z ** 2)


def test_complex_gradient_of_real_function():
    # |z|**2 = x**2 + y**2 at 3 + 4j: d/dx = 6, d/dy = 8, gradient 6 - 8j.
    z = 3.0 + 4.0j
    assert adcompiler.grad(squared_magnitude)(z) == pytest.approx(6.0 - 8.0j)
    _, along_real = adcompiler.jvp(squared_magnitude, (z,), (1.0 + 0j,))
    _, along_imag = adcompiler.jvp(squared_magnitude, (z,), (1.0j,))
    assert along_real == pytest.approx(6.0)
    assert along_imag == pytest.approx(8.0)


def test_complex_gradient_of_holomorphic_function():
    # Re(z**2) = x**2 - y**2: d/dx = 2x, d/dy = -2y, gradient 2z = f'(z).
    z = 3.0 + 4.0j
    assert adcompiler.grad(real_of_square)(z) == pytest.approx(6.0 + 8.0j)
    _, tangent = adcompiler.jvp(real_of_square, (z,), (1.0j,))
    assert tangent == pytest.approx(-8.0)


def real_input_of_complex_function(x):
    return np.abs(x * (1.0 + 2.0j))


def test_real_input_gets_real_gradient():
    gradient = adcompiler.grad(real_input_of_complex_function)(1.5)
    assert isinstance(gradient, float)
    assert gradient == pytest.approx(math.sqrt(5.0))
