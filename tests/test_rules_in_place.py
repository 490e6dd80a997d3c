"""np.add.at, np.subtract.at, np.multiply.at and np.put_along_axis, which
update their first argument in place.

A statement that calls one of them on a local name runs as a write
`a[...] = pure(a, ...)` (see `Registry.in_place`), which the reverse stage
undoes like `a[i] = v`. Gradients are checked against central finite
differences, and the caller's arrays must keep their values.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient
from test_rules import sample


def add_at_repeated(x):
    c = np.zeros(6)
    np.add.at(c, [1, 1, 3], x[:3])
    return np.sum(c ** 2)


def add_at_scalar_operand(x):
    y = x * 1.0
    np.add.at(y, np.array([0, 0, 0, 2]), x[4] ** 2)
    return np.sum(y ** 3)


def subtract_at_repeated(x):
    y = x ** 2
    np.subtract.at(y, np.array([4, 1, 4]), x[:3] * x[5])
    return np.sum(np.sin(y))


def add_at_rows(x):
    m = np.outer(x[:3], x[3:])
    np.add.at(m, [0, 2, 0], x[:3, None] * np.ones(3))
    return np.sum(m ** 2)


def add_at_pairs(x):
    m = np.zeros((3, 3))
    np.add.at(m, (np.array([0, 1, 0]), np.array([2, 2, 2])), x[:3])
    return np.sum(m ** 2 * np.arange(9.0).reshape(3, 3))


def add_at_slice(x):
    y = np.zeros(6) + x
    np.add.at(y, slice(1, 4), x[3:] ** 2)
    return np.sum(y ** 2)


def add_at_in_loop(x):
    totals = np.zeros(3)
    for i in range(6):
        np.add.at(totals, i % 3, x[i] * x[i - 1])
    return np.sum(totals ** 2)


def multiply_at_repeated(x):
    y = x * 1.0
    np.multiply.at(y, [1, 1, 3, 1], x[2:])
    return np.sum(y ** 2)


def multiply_at_scalar_operand(x):
    y = np.cos(x)
    np.multiply.at(y, np.array([0, 0, 5, 0]), x[4] ** 2)
    return np.sum(y ** 3)


def multiply_at_constant_factors(x):
    y = x ** 2
    np.multiply.at(y, [2, 4, 2], np.array([3.0, -0.5, 0.0]))
    return np.sum(np.sin(y))


def multiply_at_constant_array(x):
    y = np.array([1.5, -2.0, 0.5, 0.0])
    np.multiply.at(y, [0, 3, 0, 0], x[:4])
    return np.sum(y * np.arange(1.0, 5.0))


def multiply_at_rows(x):
    m = np.outer(x[:3], x[3:]) + 1.0
    np.multiply.at(m, [0, 2, 0], x[:3] * 2.0)
    return np.sum(m ** 2)


def multiply_at_row_vector(x):
    m = np.outer(x[:3], x[3:])
    np.multiply.at(m, [2, 2], x[3:])
    return np.sum(m * np.arange(9.0).reshape(3, 3))


def multiply_at_pairs(x):
    m = np.ones((3, 3)) + np.outer(x[:3], x[:3])
    np.multiply.at(m, (np.array([0, 1, 0]), np.array([2, 2, 2])), x[3:])
    return np.sum(m ** 2 * np.arange(9.0).reshape(3, 3))


def multiply_at_three_axes(x):
    a = np.stack([np.outer(x[:3], x[4:]), np.outer(x[3:], x[:2])])
    np.multiply.at(a, (slice(None), [1, 0, 1]), x[:2].reshape(1, 1, 2))
    return np.sum(np.tanh(a))


def multiply_at_slice(x):
    y = x ** 2
    np.multiply.at(y, slice(1, 4), x[3:])
    return np.sum(y)


def multiply_at_in_loop(x):
    totals = np.ones(3)
    for i in range(6):
        np.multiply.at(totals, i % 3, x[i] + x[i - 1])
    return np.sum(totals)


def put_along_rows(x):
    m = np.zeros((2, 3))
    np.put_along_axis(m, np.array([[0, 2], [1, 1]]),
                      x[:4].reshape(2, 2), axis=1)
    return np.sum(m ** 2 * np.arange(6.0).reshape(2, 3))


def put_along_columns(x):
    m = np.outer(x[:2], x[2:5])
    np.put_along_axis(m, np.array([[1, 0, 1]]), x[5] * 2.0, axis=0)
    return np.sum(np.tanh(m))


def put_along_flat(x):
    m = x[:6].reshape(2, 3) * 1.0
    np.put_along_axis(m, np.array([5, 0, 5]), x[:3] ** 2, axis=None)
    return np.sum(m ** 3)


def put_then_take_along(x):
    m = np.zeros((2, 3))
    indices = np.argsort(x[:6].reshape(2, 3), axis=1)
    np.put_along_axis(m, indices, x[:6].reshape(2, 3) ** 2, axis=-1)
    return np.sum(np.take_along_axis(m, indices[:, :2], axis=-1) * m[:, :2])


FUNCTIONS = [add_at_repeated, add_at_scalar_operand, subtract_at_repeated,
             add_at_rows, add_at_pairs, add_at_slice, add_at_in_loop,
             multiply_at_repeated, multiply_at_scalar_operand,
             multiply_at_constant_factors, multiply_at_constant_array,
             multiply_at_rows, multiply_at_row_vector, multiply_at_pairs,
             multiply_at_three_axes, multiply_at_slice, multiply_at_in_loop,
             put_along_rows, put_along_columns, put_along_flat,
             put_then_take_along]
X = np.array([0.5, -0.3, 0.8, 1.2, -0.7, 0.1])


@pytest.mark.parametrize('function', FUNCTIONS,
                         ids=[f.__name__ for f in FUNCTIONS])
def test_gradient(function):
    x = X.copy()
    value, gradient = adcompiler.value_and_grad(function)(x)
    np.testing.assert_array_equal(x, X)
    assert value == pytest.approx(function(X.copy()), rel=1e-12)
    assert_gradient_close(gradient, numerical_gradient(function, (X,), 0))


@pytest.mark.parametrize('function', FUNCTIONS,
                         ids=[f.__name__ for f in FUNCTIONS])
def test_forward_mode(function):
    direction = sample(6, seed=5)
    value, tangent = adcompiler.jvp(function, (X.copy(),), (direction,))
    assert value == pytest.approx(function(X.copy()), rel=1e-12)
    expected = numerical_gradient(
        lambda step: function(X + step * direction), (0.0,), 0)
    assert tangent == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize('function', [add_at_repeated, subtract_at_repeated,
                                      add_at_pairs, put_along_rows,
                                      put_along_flat, multiply_at_repeated,
                                      multiply_at_pairs,
                                      multiply_at_in_loop])
def test_hessian(function):
    hessian = adcompiler.hessian(function)(X.copy())
    expected = np.stack([numerical_gradient(
        lambda y, i=i: adcompiler.grad(function)(y)[i], (X,), 0)
        for i in range(6)])
    assert_gradient_close(hessian, expected, rtol=1e-5, atol=1e-5)


def update_argument(x, idx):
    np.add.at(x, idx, x[:3] ** 2)
    return np.sum(x ** 2)


def test_update_of_argument_leaves_caller_array():
    x = X.copy()
    idx = np.array([1, 1, 3])
    gradient = adcompiler.grad(update_argument)(x, idx)
    np.testing.assert_array_equal(x, X)
    assert_gradient_close(gradient, numerical_gradient(
        lambda y: update_argument(y.copy(), idx), (X,), 0))


def test_put_along_axis_repeated_index_last_write_wins():
    def repeated(v):
        m = np.zeros(3)
        np.put_along_axis(m, np.array([2, 2]), v, axis=0)
        return np.sum(m * np.array([1.0, 2.0, 3.0]))

    v = np.array([0.4, 0.9])
    assert repeated(v) == pytest.approx(3 * 0.9)
    np.testing.assert_array_equal(adcompiler.grad(repeated)(v), [0.0, 3.0])


def test_float32_stays_float32():
    def scatter(x):
        c = np.zeros(4, dtype=np.float32)
        np.add.at(c, [0, 0, 2], x[:3])
        return np.sum(c ** 2)

    x = X.astype(np.float32)
    value, gradient = adcompiler.value_and_grad(scatter)(x)
    assert value.dtype == np.float32
    assert gradient.dtype == np.float32
    # c = [x0 + x1, 0, x2, 0], so the gradient of sum(c ** 2) is known.
    expected = [2 * (X[0] + X[1]), 2 * (X[0] + X[1]), 2 * X[2], 0, 0, 0]
    assert_gradient_close(gradient, expected, rtol=1e-6, atol=1e-6)


# Inputs where factors of one index are zero: one zero among several
# factors, two zeros at one index, and a zero in the updated array.
ZERO_INPUTS = [
    np.array([0.5, -0.3, 0.0, 1.2, -0.7, 0.1]),
    np.array([0.5, 0.0, 0.0, 1.2, 0.0, 0.1]),
    np.array([0.0, 0.7, 1.1, 0.0, -0.7, 0.0]),
]
ZERO_FUNCTIONS = [multiply_at_repeated, multiply_at_scalar_operand,
                  multiply_at_constant_array, multiply_at_rows,
                  multiply_at_pairs, multiply_at_in_loop]


@pytest.mark.parametrize('x', ZERO_INPUTS, ids=['one', 'two', 'base'])
@pytest.mark.parametrize('function', ZERO_FUNCTIONS,
                         ids=[f.__name__ for f in ZERO_FUNCTIONS])
def test_multiply_at_zero_factors(function, x):
    gradient = adcompiler.grad(function)(x.copy())
    assert np.all(np.isfinite(gradient))
    assert_gradient_close(gradient, numerical_gradient(function, (x,), 0))
    direction = sample(6, seed=7)
    _, tangent = adcompiler.jvp(function, (x.copy(),), (direction,))
    expected = numerical_gradient(
        lambda step: function(x + step * direction), (0.0,), 0)
    assert tangent == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize('repeats', [1, 2, 3, 5, 8])
def test_multiply_at_many_repeats(repeats):
    """Products of groups of several sizes: the scan takes one pass per
    doubling of the largest group."""
    rng = np.random.default_rng(repeats)
    indices = np.repeat(np.arange(4), [repeats, 1, 0, repeats + 1])
    rng.shuffle(indices)
    factors = rng.uniform(-1.5, 1.5, size=indices.size)
    factors[rng.integers(indices.size)] = 0.0

    def scatter(a, b):
        y = a * 1.0
        np.multiply.at(y, indices, b)
        return np.sum(y * np.arange(1.0, 5.0))

    a = rng.uniform(-1.0, 1.0, size=4)
    da, db = adcompiler.grad(scatter, wrt=(0, 1))(a, factors)
    assert_gradient_close(da, numerical_gradient(scatter, (a, factors), 0))
    assert_gradient_close(db, numerical_gradient(scatter, (a, factors), 1))


def test_divide_at_is_rejected():
    def quotient(x):
        c = np.ones(3)
        np.divide.at(c, [0, 0], x[:2])
        return np.sum(c)

    with pytest.raises(adcompiler.ForeignCallError, match='divide.at'):
        adcompiler.grad(quotient)(X.copy())


def test_add_at_into_a_view_is_rejected():
    def into_view(x):
        c = np.zeros(6)
        np.add.at(c[1:], [0, 0], x[:2])
        return np.sum(c ** 2)

    with pytest.raises(adcompiler.AdCompilerError):
        adcompiler.grad(into_view)(X.copy())


COUNTS = np.zeros(3)


def counts_calls(x):
    np.add.at(COUNTS, [0, 0], 1.0)
    return np.sum(x ** 2)


def test_global_bookkeeping_array_is_updated():
    # A global array is not rewritten: the call runs as written.
    COUNTS[...] = 0.0
    gradient = adcompiler.grad(counts_calls)(X.copy())
    np.testing.assert_allclose(gradient, 2 * X)
    np.testing.assert_array_equal(COUNTS, [2.0, 0.0, 0.0])
