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


def squares_of_array(items):
    return np.sum(np.array(items) ** 3)


def dot_of_tuple(x, pair):
    return np.sum(np.dot(pair, x) ** 2)


def _structure(value):
    """Return the classes of `value` and of its items, nested."""
    if isinstance(value, (list, tuple)):
        return (type(value), [_structure(item) for item in value])
    return np.ndim(value)


def _assert_same_values(given, expected):
    np.testing.assert_allclose(np.array(given, dtype=float),
                               np.array(expected, dtype=float),
                               rtol=1e-4, atol=1e-5)


# (function, wrt, primals, tangents): the gradient is with respect to the
# list or tuple argument `wrt`, which a rule reads as an array.
STRUCTURE_CASES = [
    (squares_of_array, 0, ([0.5, -1.5, 2.0],), ([1.0, 0.5, -0.2],)),
    (squares_of_array, 0, ([np.array([0.5, 1.0]), np.array([-1.5, 0.2])],),
     ([np.ones(2), np.array([0.3, -0.4])],)),
    (dots_rows, 1, (X, ROWS), (None, [[1.0, 0.0, 0.5]] * 3)),
    (dots_rows, 1, (X, ROWS), (np.array([1.0, 0.5, -0.2]), None)),
    (dot_of_tuple, 1, (X, (PARTS[0], PARTS[1])),
     (np.ones(3), (np.ones(3), np.zeros(3)))),
]


@pytest.mark.parametrize(
    'function, wrt, primals, tangents', STRUCTURE_CASES,
    ids=['floats', 'arrays', 'nested-list', 'other-argument', 'tuple'])
def test_jvp_of_gradient_keeps_structure(function, wrt, primals, tangents):
    gradient = adcompiler.grad(function, wrt=wrt)
    expected_value = gradient(*primals)
    value, tangent = adcompiler.jvp(gradient, primals, tangents)
    assert _structure(value) == _structure(expected_value)
    assert _structure(tangent) == _structure(expected_value)
    _assert_same_values(value, expected_value)

    # The tangent is the central difference of the gradient along the
    # tangents, each leaf moved by `step` times its own.
    step = 1e-6

    def moved(sign):
        shifted = []
        for primal, direction in zip(primals, tangents, strict=True):
            if direction is None:
                shifted.append(primal)
                continue
            flat = np.array(primal, dtype=float) + sign * step * np.array(
                direction, dtype=float)
            if isinstance(primal, np.ndarray):
                shifted.append(flat)
            elif isinstance(primal, tuple):
                shifted.append(tuple(flat))
            elif np.ndim(primal[0]) == 0:
                shifted.append([float(v) for v in flat])
            else:
                shifted.append([np.array(row) for row in flat])
        return np.array(gradient(*shifted), dtype=float)
    _assert_same_values(tangent, (moved(1.0) - moved(-1.0)) / (2 * step))


GRADIENT_OF_SQUARES = adcompiler.grad(squares_of_array)


def sum_of_inner_gradients(x):
    # grad of a list returns a list, so `+` concatenates the two gradients.
    inner = GRADIENT_OF_SQUARES([x[0], x[1] * 2.0])
    both = inner + inner
    return both[0] * both[3] + x[2] * len(both)


def test_inner_gradient_of_list_is_list():
    x = np.array([0.5, -1.0, 2.0])
    assert sum_of_inner_gradients(x) == pytest.approx(
        3 * 0.5 ** 2 * 3 * 4.0 + 2.0 * 4)
    for _ in range(2):
        assert_gradient_close(
            adcompiler.grad(sum_of_inner_gradients)(x),
            numerical_gradient(sum_of_inner_gradients, (x,), 0),
            rtol=1e-4, atol=1e-5)


def test_hvp_of_list_argument_in_every_mode():
    items = [0.5, -1.5, 2.0]
    direction = [1.0, 0.5, -0.2]
    expected = 6.0 * np.array(items) * np.array(direction)
    for mode in MODES:
        product = adcompiler.hvp(squares_of_array, mode=mode)(items, direction)
        assert type(product) is list
        _assert_same_values(product, expected)
