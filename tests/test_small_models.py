"""Small models: logistic regression, and the matrix-vector products in them.

The adjoints of `x @ y` for a matrix and a vector take a fast path in the
runtime, and the grad-only primal types a product of float64 arrays, so
that `grad` of a logistic-regression loss skips computing the loss. Each
loss is checked against central differences on several shapes, and the fast
paths against the general stacked adjoints.
"""

import copy
import inspect

import numpy as np
import pytest

import adcompiler
from adcompiler import runtime
from adcompiler.api import scalar_parameters
from adcompiler.compiler import Compiler
from adcompiler.known_shapes import describe_arguments
from finite_differences import assert_gradient_close, numerical_gradient

COMPILER = Compiler(optimize=True)


def softplus_loss(w, X, y):
    return np.mean(np.log1p(np.exp(-y * (X @ w))))


def cross_entropy_loss(w, X, y):
    p = 1.0 / (1.0 + np.exp(-(X @ w)))
    return -np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def row_vector_loss(w, X, y):
    return np.sum(np.log1p(np.exp(-y * (w @ X.T))))


def regression_data(rows, columns, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, columns))
    y = np.sign(rng.normal(size=rows))
    w = rng.normal(size=columns) * 0.3
    return w, X, y


SHAPES = [(200, 5), (7, 3), (1, 4), (3, 1)]


@pytest.mark.parametrize('function', [softplus_loss, row_vector_loss],
                         ids=['softplus', 'row-vector'])
@pytest.mark.parametrize('rows, columns', SHAPES,
                         ids=[f'{r}x{c}' for r, c in SHAPES])
def test_logistic_loss_gradient(function, rows, columns):
    args = regression_data(rows, columns)
    gradient = adcompiler.grad(function, wrt=(0, 1))(*args)
    for position in (0, 1):
        expected = numerical_gradient(function, args, position)
        assert_gradient_close(gradient[position], expected)


@pytest.mark.parametrize('rows, columns', SHAPES,
                         ids=[f'{r}x{c}' for r, c in SHAPES])
def test_cross_entropy_gradient(rows, columns):
    w, X, y = regression_data(rows, columns)
    labels = (y > 0).astype(float)
    args = (w, X, labels)
    gradient = adcompiler.grad(cross_entropy_loss)(*args)
    assert_gradient_close(gradient,
                          numerical_gradient(cross_entropy_loss, args, 0))
    value, same = adcompiler.value_and_grad(cross_entropy_loss)(*args)
    assert value == cross_entropy_loss(*args)
    np.testing.assert_array_equal(same, gradient)


def test_logistic_loss_repeated_calls_agree():
    args = regression_data(200, 5)
    gradient = adcompiler.grad(softplus_loss)
    first = gradient(*args)
    for _ in range(3):
        np.testing.assert_array_equal(gradient(*args), first)
    value, second = adcompiler.value_and_grad(softplus_loss)(*args)
    assert value == softplus_loss(*args)
    np.testing.assert_array_equal(second, first)


def test_grad_only_primal_skips_loss():
    args = regression_data(200, 5)
    names = list(inspect.signature(softplus_loss).parameters)
    arguments = dict(zip(names, args))
    # As grad compiles it after the first call: for the argument shapes.
    compiled = COMPILER.compile(
        softplus_loss, ('w',), scalar_params=scalar_parameters(arguments),
        argument_shapes=describe_arguments(arguments))
    assert compiled.grad_only_primal is not None
    source = compiled.source.split('def grad_only_primal', 1)[1]
    body = '\n'.join(line for line in source.splitlines()
                     if not line.lstrip().startswith('#'))
    assert 'np.log1p' not in body
    assert 'np.mean' not in body
    seed, saved = compiled.grad_only_primal(*copy.deepcopy(args))
    fast, = compiled.adjoint(saved, seed)
    value, saved = compiled.primal(*copy.deepcopy(args))
    full, = compiled.adjoint(saved, runtime.seed(value))
    np.testing.assert_array_equal(fast, full)


# The runtime's matrix-vector adjoints ------------------------------------------

def random_operand(rng, shape, complex_values):
    values = rng.normal(size=shape)
    if complex_values:
        values = values + 1j * rng.normal(size=shape)
    return values


PRODUCT_SHAPES = [((4, 3), (3,)), ((3,), (3, 5)), ((1, 1), (1,)),
                  ((1,), (1, 6))]


@pytest.mark.parametrize('x_shape, y_shape', PRODUCT_SHAPES,
                         ids=[f'{x}@{y}' for x, y in PRODUCT_SHAPES])
@pytest.mark.parametrize('kinds', [(False, False), (True, False),
                                   (False, True), (True, True)],
                         ids=['real', 'complex-x', 'complex-y', 'complex'])
def test_matrix_vector_adjoints_match_stacked(x_shape, y_shape, kinds):
    rng = np.random.default_rng(5)
    x = random_operand(rng, x_shape, kinds[0])
    y = random_operand(rng, y_shape, kinds[1])
    g = random_operand(rng, np.shape(x @ y), any(kinds))
    dx = runtime.matmul_adjoint_x(g, x, y)
    dy = runtime.matmul_adjoint_y(g, x, y)
    expected_dx = runtime.unbroadcast(
        runtime.matmul_stacked_adjoint_a(g, y, x, y), x)
    expected_dy = runtime.unbroadcast(
        runtime.matmul_stacked_adjoint_b(g, x, x, y), y)
    assert dx.shape == x.shape
    assert dy.shape == y.shape
    assert dx.dtype == expected_dx.dtype
    assert dy.dtype == expected_dy.dtype
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(dy, expected_dy, rtol=1e-13, atol=1e-14)


def test_stacked_cotangent_takes_general_path():
    # A second derivative gives a cotangent with the stack of the product
    # in front: here a (2, 4) cotangent for a (4, 3) @ (3,) product.
    rng = np.random.default_rng(6)
    x = rng.normal(size=(4, 3))
    y = rng.normal(size=3)
    g = rng.normal(size=(2, 4))
    dy = runtime.matmul_adjoint_y(g, x, y)
    expected = runtime.unbroadcast(
        runtime.matmul_stacked_adjoint_b(g, x, x, y), y)
    np.testing.assert_allclose(dy, expected, rtol=1e-13)


def matrix_vector_cube(w, X):
    return np.sum((X @ w) ** 3)


@pytest.mark.parametrize('rows, columns', [(4, 3), (1, 2)])
def test_matrix_vector_hessian(rows, columns):
    rng = np.random.default_rng(7)
    w = rng.normal(size=columns)
    X = rng.normal(size=(rows, columns))
    hessian = adcompiler.hessian(matrix_vector_cube)(w, X)
    expected = 6.0 * X.T @ np.diag(X @ w) @ X
    np.testing.assert_allclose(hessian, expected, rtol=1e-10, atol=1e-12)
