"""Second derivatives through lists that NumPy reads as arrays.

A rule that reads a list as an array gives it an array adjoint, and the
adjoint of an array that code built from per-item adjoints is a list.
Each direction is converted where the other is expected.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def solves_nested_list(x):
    return np.sum(np.linalg.solve([[2.0, x[0]], [x[1], 3.0]], [x[2], 1.0]))


def maximum_of_concatenated(x, parts):
    return np.sum(np.max(parts + [x ** 2], axis=0) ** 2)


def dots_rows(x, rows):
    return np.sum(np.dot(rows, x) ** 3)


def einsum_of_rows(x, rows):
    return np.einsum('ij,j->', np.array(rows), x ** 2)


X = np.array([0.3, -0.7, 1.1])
PARTS = [np.array([1.0, 2.0, 0.5]), np.array([0.1, -0.3, 0.7])]
ROWS = [[2.0, 0.1, 0.3], [0.2, 3.0, 0.1], [0.0, 0.4, 1.5]]
MODES = ['forward-over-reverse', 'reverse-over-forward',
         'reverse-over-reverse']

HESSIAN_CASES = [
    (solves_nested_list, ()),
    (maximum_of_concatenated, (PARTS,)),
    (dots_rows, (ROWS,)),
]


def _numerical_hessian(function, x, others):
    gradient = adcompiler.grad(function)
    return np.array([
        numerical_gradient(lambda z, i=i: gradient(z, *others)[i], (x,), 0)
        for i in range(x.size)])


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('function, others', HESSIAN_CASES,
                         ids=[f.__name__ for f, _ in HESSIAN_CASES])
def test_hessian_through_list(function, others, mode):
    hessian = adcompiler.hessian(function, mode=mode)(X, *others)
    expected = _numerical_hessian(function, X, others)
    assert_gradient_close(hessian, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('function, rows', [
    (dots_rows, ROWS),
    (einsum_of_rows, [list(PARTS[0]), list(PARTS[1])]),
], ids=['dot', 'einsum'])
def test_gradient_wrt_rows(function, rows):
    gradient = adcompiler.grad(function, wrt=1)(X, rows)
    assert type(gradient) is list
    assert len(gradient) == len(rows)
    flat = np.array(rows, dtype=float)

    def of_flat(values):
        return function(X, values.reshape(flat.shape).tolist())
    expected = numerical_gradient(of_flat, (flat.ravel(),), 0)
    assert_gradient_close(np.array(gradient, dtype=float).ravel(), expected)


def test_tangent_of_gradient_wrt_rows():
    gradient = adcompiler.grad(dots_rows, wrt=1)
    direction = np.array([1.0, 0.5, -0.2])
    _, tangent = adcompiler.jvp(gradient, (X, ROWS), (direction, None))
    step = 1e-6
    plus = np.array(gradient(X + step * direction, ROWS))
    minus = np.array(gradient(X - step * direction, ROWS))
    np.testing.assert_allclose(np.array(tangent, dtype=float),
                               (plus - minus) / (2 * step),
                               rtol=1e-4, atol=1e-5)
