"""The grad-only primal keeps operations between arrays that may not
broadcast, so `grad` raises where the function raises."""

import numpy as np
import pytest

import adcompiler
from adcompiler.api import scalar_parameters
from adcompiler.compiler import Compiler
from finite_differences import assert_gradient_close, numerical_gradient

COMPILER = Compiler(optimize=True)


def sum_of_squares_and_difference(x, y, z):
    return np.sum(x ** 2) + np.sum(y - z)


def sum_of_squares_and_scaled_product(x):
    y = np.sin(x)
    return np.sum(x ** 2) + np.sum(y * x * 2.0 - np.exp(x))


def test_grad_unbroadcastable_shapes_raises():
    x = np.array([0.3, -1.2, 0.7])
    with pytest.raises(ValueError, match='broadcast'):
        adcompiler.grad(sum_of_squares_and_difference)(
            x, np.ones(3), np.ones(4))


def test_value_and_grad_unbroadcastable_raises():
    x = np.array([0.3, -1.2, 0.7])
    with pytest.raises(ValueError, match='broadcast'):
        adcompiler.value_and_grad(sum_of_squares_and_difference)(
            x, np.ones(3), np.ones(4))


@pytest.mark.parametrize('x_shape, y_shape, z_shape', [
    ((3,), (3,), (3,)),
    ((3,), (2, 3), (3,)),
    ((2, 3), (1,), (2, 1)),
    ((), (4, 1), (1, 5)),
], ids=str)
def test_grad_broadcastable_shapes_gradient(x_shape, y_shape, z_shape):
    rng = np.random.default_rng(3)
    args = (rng.normal(size=x_shape), rng.normal(size=y_shape),
            rng.normal(size=z_shape))
    for position in range(3):
        gradient = adcompiler.grad(sum_of_squares_and_difference,
                                   wrt=position)(*args)
        expected = numerical_gradient(sum_of_squares_and_difference, args,
                                      position)
        assert_gradient_close(gradient, expected)


def test_grad_only_same_shapes_kept_fast():
    x = np.array([0.3, -1.2, 0.7])
    compiled = COMPILER.compile(
        sum_of_squares_and_scaled_product, ('x',),
        scalar_params=scalar_parameters({'x': x}))
    assert compiled.grad_only_primal is not None
    gradient = adcompiler.grad(sum_of_squares_and_scaled_product)(x)
    expected = numerical_gradient(sum_of_squares_and_scaled_product, (x,), 0)
    assert_gradient_close(gradient, expected)
