"""Lists and tuples of numbers as operands of NumPy operations.

NumPy reads a list or tuple operand as np.asarray of it, so a list of n
numbers broadcasts along the last axis of a 2-D operand. Each case
compares grad, value_and_grad, jvp and the Hessian in every composition
with central differences. The arrays are square as well as not, because a
square operand once hid an adjoint summed along the wrong axis.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

SQUARE = np.array([[1.0, 2.0], [3.0, 4.0]])
WEIGHTS = np.array([[1.0, 10.0], [100.0, 1000.0]])
TALL = np.arange(6.0).reshape(3, 2) + 1.0
CUBE = np.arange(12.0).reshape(2, 3, 2) * 0.25 - 1.0
COMPOSITIONS = ['forward-over-reverse', 'reverse-over-forward',
                'reverse-over-reverse']


def list_times_square(x):
    return np.sum([x[0], x[1]] * SQUARE * WEIGHTS)


def tuple_plus_square(x):
    return np.sum((SQUARE + (x[0], x[1])) ** 2 * WEIGHTS)


def square_minus_list(x):
    return np.sum((SQUARE - [x[0], x[1]]) ** 2 * WEIGHTS)


def list_minus_tall(x):
    return np.sum(([x[0], x[1] * x[0]] - TALL) ** 3)


def list_divides_cube(x):
    return np.sum(CUBE / [x[0] + 2.0, x[1] + 3.0])


def column_list_times_square(x):
    return np.sum([[x[0]], [x[1]]] * SQUARE * WEIGHTS)


def numpy_add_tuple(x):
    return np.sum(np.add(SQUARE, (x[0], x[1])) * WEIGHTS * x[1])


def numpy_add_long_list(x):
    return np.sum(np.add(TALL.T, [x[0], x[1], x[0]]) ** 2)


def numpy_multiply_list_name(x):
    scale = [x[0], x[1]]
    return np.sum(np.multiply(scale, TALL) ** 2)


def where_list_and_tuple(x):
    return np.sum(np.where(SQUARE > 2.0, [x[0], x[1]], (x[1], 3.0)) ** 2
                  * WEIGHTS)


def list_of_row_arrays(x):
    return np.sum(np.sin([x[:2], x[1:]]) * TALL.T[:, :2])


def unary_ufuncs_of_list(x):
    items = [x[0], x[1]]
    return (np.sum(np.log1p(items)) + np.sum(np.square(items) * 3.0)
            + np.sum(np.sqrt(items)) + np.sum(np.log(items))
            + np.sum(np.arctan(items)) + np.sum(np.arcsinh(items))
            + np.sum(np.cos(items)) + np.sum(np.reciprocal((x[0], x[1])))
            + np.sum(np.negative(items) * 2.0) + np.sum(np.deg2rad(items)))


def binary_ufuncs_of_lists(x):
    left = [x[0], x[1]]
    right = (x[1], 2.0)
    return (np.sum(np.power(left, 3.0)) + np.sum(np.arctan2(left, right))
            + np.sum(np.float_power(right, left)) + np.sum(np.hypot(left,
                                                                     right))
            + np.sum(np.divide(left, right)) + np.sum(np.subtract(right,
                                                                   left) ** 2)
            + np.sum(np.mod(left, 5.0)))


def maximum_tie_of_displays(x):
    # Entry 0 ties x0 with itself; entry 1 is x1.
    return np.sum(np.maximum([x[0], x[1]], [x[0], -5.0])
                  * np.array([1.0, 7.0]))


def minimum_tie_of_list_and_tuple(x):
    return np.sum(np.minimum([x[0], x[1]], (x[0], x[1]))
                  * np.array([1.0, 7.0]))


def fmax_fmin_tie_with_array(x):
    return np.sum(np.fmax([x[0], x[1]], x[:2]) * np.array([2.0, 3.0])
                  + np.fmin((x[0], x[1]), x[:2]) ** 2)


CASES = [list_times_square, tuple_plus_square, square_minus_list,
         list_minus_tall, list_divides_cube, column_list_times_square,
         numpy_add_tuple, numpy_add_long_list, numpy_multiply_list_name,
         where_list_and_tuple, list_of_row_arrays, unary_ufuncs_of_list,
         binary_ufuncs_of_lists, maximum_tie_of_displays,
         minimum_tie_of_list_and_tuple, fmax_fmin_tie_with_array]
X = np.array([0.7, 1.3, 0.4])
DIRECTION = np.array([0.5, -0.75, 0.25])


def tie_derivative(function):
    """Central differences do not see the half weight of a tie, so the
    expected gradient of the tie cases is written out."""
    if function is maximum_tie_of_displays:
        return np.array([1.0, 7.0, 0.0])
    if function is minimum_tie_of_list_and_tuple:
        return np.array([1.0, 7.0, 0.0])
    if function is fmax_fmin_tie_with_array:
        return np.array([2.0 + 2.0 * X[0], 3.0 + 2.0 * X[1], 0.0])
    return None


@pytest.mark.parametrize('function', CASES, ids=lambda f: f.__name__)
def test_list_operand_gradient(function):
    expected = tie_derivative(function)
    if expected is None:
        expected = numerical_gradient(function, (X,), 0)
    for _ in range(3):  # The third call runs code compiled for the shapes.
        assert_gradient_close(adcompiler.grad(function)(X), expected)
    value, gradient = adcompiler.value_and_grad(function)(X)
    assert value == pytest.approx(function(X))
    assert_gradient_close(gradient, expected)


@pytest.mark.parametrize('function', CASES, ids=lambda f: f.__name__)
def test_list_operand_jvp(function):
    expected = tie_derivative(function)
    if expected is None:
        expected = numerical_gradient(function, (X,), 0)
    value, tangent = adcompiler.jvp(function, (X,), (DIRECTION,))
    assert value == pytest.approx(function(X))
    np.testing.assert_allclose(tangent, np.dot(expected, DIRECTION),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('mode', COMPOSITIONS)
@pytest.mark.parametrize('function', [
    f for f in CASES if tie_derivative(f) is None], ids=lambda f: f.__name__)
def test_list_operand_hessian(function, mode):
    gradient = adcompiler.grad(function)
    expected = np.array([numerical_gradient(
        lambda v, i=i: gradient(v)[i], (X,), 0, step=1e-5)
        for i in range(X.size)])
    np.testing.assert_allclose(adcompiler.hessian(function, mode=mode)(X),
                               expected, rtol=1e-4, atol=1e-5)


def test_maximum_list_against_constant_tie():
    # At a tie with a constant, maximum has derivative 0, as relu does.
    def relu_of_list(x):
        return np.sum(np.maximum([x[0], x[1]], 0.7) * np.array([1.0, 5.0]))

    x = np.array([0.7, 1.3])
    assert_gradient_close(adcompiler.grad(relu_of_list)(x), [0.0, 5.0])
    _, tangent = adcompiler.jvp(relu_of_list, (x,), (np.ones(2),))
    assert tangent == pytest.approx(5.0)


def test_list_grown_by_array_gradient():
    # ndarray.__radd__ runs for `lst += array`: lst becomes an array.
    def grown(x):
        lst = [x[0]]
        lst += x[1:] * 2.0
        return np.sum(lst * np.array([1.0, 10.0]))

    x = np.array([1.0, 2.0, 3.0])
    expected = numerical_gradient(grown, (x,), 0)
    assert_gradient_close(adcompiler.grad(grown)(x), expected)
    _, tangent = adcompiler.jvp(grown, (x,), (np.ones(3),))
    assert tangent == pytest.approx(np.sum(expected))


def test_ragged_list_operand_raises():
    # NumPy cannot make an array of a ragged list, so neither can the rule.
    def ragged(x):
        return np.sum(np.add([x[:2], x[:1]], 1.0))

    with pytest.raises(ValueError):
        ragged(X)
    with pytest.raises(ValueError):
        adcompiler.grad(ragged)(X)
