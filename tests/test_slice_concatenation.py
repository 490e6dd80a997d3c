"""`+` of slices of a list or tuple argument, which concatenates them.

The argument's kind is unknown when the general code is compiled, so the
adjoint of such a `+` finds out when it runs whether `+` concatenated
two sequences or added two arrays.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def loops_over_overlap(x, items):
    joined = items[:2] + items[1:]
    total = 0.0
    for item in joined:
        total = total + np.sum(np.sin(item * x))
    return total


def stacks_overlap(x, items):
    joined = items[:2] + items[1:]
    return np.sum(np.array(joined) * x)


def rotates(x, items):
    joined = items[1:] + items[:1]
    return np.sum(joined[0] * x + joined[-1] ** 2)


def adds_shifted_array(x, items):
    shifted = x[1:] + x[:-1]
    return np.sum(shifted ** 2) + np.sum(items[0])


ITEMS = [np.array([1.0, 2.0]), np.array([3.0, -4.0]), np.array([0.5, 6.0])]
X = np.array([0.5, 1.5])

CASES = [
    (loops_over_overlap, list),
    (stacks_overlap, list),
    (rotates, list),
    (rotates, tuple),
]


def _numerical_item_gradients(function, x, items, kind):
    def of_items(*flat):
        return function(x, kind(flat))
    return [numerical_gradient(of_items, list(items), i)
            for i in range(len(items))]


@pytest.mark.parametrize('function, kind', CASES,
                         ids=[f'{f.__name__}-{k.__name__}' for f, k in CASES])
def test_gradient_wrt_sequence(function, kind):
    items = kind(ITEMS)
    gradient = adcompiler.grad(function, wrt=1)(X, items)
    assert type(gradient) is kind
    expected = _numerical_item_gradients(function, X, items, kind)
    assert len(gradient) == len(expected)
    for computed, numerical in zip(gradient, expected, strict=True):
        assert_gradient_close(computed, numerical)


@pytest.mark.parametrize('function, kind', CASES,
                         ids=[f'{f.__name__}-{k.__name__}' for f, k in CASES])
def test_gradient_wrt_array(function, kind):
    items = kind(ITEMS)
    gradient = adcompiler.grad(function)(X, items)
    expected = numerical_gradient(function, (X, items), 0)
    assert_gradient_close(gradient, expected)


@pytest.mark.parametrize('function, kind', CASES,
                         ids=[f'{f.__name__}-{k.__name__}' for f, k in CASES])
def test_jvp_and_hessian(function, kind):
    items = kind(ITEMS)
    direction = np.array([0.3, -0.7])
    _, tangent = adcompiler.jvp(function, (X, items), (direction, None))
    step = 1e-6
    expected = (function(X + step * direction, items)
                - function(X - step * direction, items)) / (2 * step)
    np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-6)

    hessian = adcompiler.hessian(function)(X, items)
    gradient = adcompiler.grad(function)
    columns = [numerical_gradient(lambda x, i=i: gradient(x, items)[i],
                                  (X,), 0) for i in range(X.size)]
    assert_gradient_close(hessian, np.array(columns), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('shape', [(3,), (4, 2)], ids=['vector', 'matrix'])
def test_shifted_array_slices(shape):
    x = np.linspace(-1.0, 2.0, int(np.prod(shape))).reshape(shape)
    gradient = adcompiler.grad(adds_shifted_array)
    for _ in range(2):  # the general code, then the code for the shapes
        computed = gradient(x, ITEMS)
        expected = numerical_gradient(adds_shifted_array, (x, ITEMS), 0)
        assert_gradient_close(computed, expected)


def test_broadcast_slices_sum_down():
    def broadcast_sum(x, y):
        return np.sum((x[1:] + y[:1]) ** 2)
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, -6.0]])
    y = np.array([[0.5, -0.5]])
    for position in (0, 1):
        computed = adcompiler.grad(broadcast_sum, wrt=position)(x, y)
        expected = numerical_gradient(broadcast_sum, (x, y), position)
        assert_gradient_close(computed, expected)
