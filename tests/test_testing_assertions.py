"""Assertions of numpy.testing on values that carry a derivative.

They only compare their arguments and raise AssertionError, so they run
in the primal as bookkeeping, as an `assert` statement does.
"""

import numpy as np
import pytest
from numpy.testing import assert_array_less

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient
from test_forward import directional_difference


def checked_with_allclose(x):
    y = x * 2.0
    np.testing.assert_allclose(y, 2.0 * x, rtol=1e-12)
    return np.sum(y * np.sin(x))


def checked_with_several(x):
    y = np.exp(x)
    np.testing.assert_array_equal(y, np.exp(x))
    np.testing.assert_array_almost_equal(y, np.exp(x))
    np.testing.assert_equal(np.shape(y), np.shape(x))
    assert_array_less(0.0, y)
    return np.sum(y * x)


def failing_check(x):
    y = x * 2.0
    np.testing.assert_allclose(y, x)
    return np.sum(y)


@pytest.mark.parametrize('function', [checked_with_allclose,
                                      checked_with_several],
                         ids=['allclose', 'several'])
@pytest.mark.parametrize('shape', [(), (3,), (2, 3)],
                         ids=['scalar', 'vector', 'matrix'])
def test_assertion_runs_as_bookkeeping(function, shape):
    x = np.random.default_rng(2).uniform(0.5, 1.5, size=shape)
    expected = numerical_gradient(function, (x,), 0)
    gradient = adcompiler.grad(function)
    for _ in range(3):
        assert_gradient_close(gradient(x), expected)
    direction = np.ones(shape)
    _, tangent = adcompiler.jvp(function, (x,), (direction,))
    np.testing.assert_allclose(
        tangent, directional_difference(function, (x,), (direction,)),
        rtol=1e-6, atol=1e-8)


def test_assertion_in_hessian():
    x = np.array([0.3, -0.7, 1.2])
    hessian = adcompiler.hessian(checked_with_allclose)(x)
    # The function is sum(2 x sin x), whose Hessian is diagonal.
    expected = np.diag(4.0 * np.cos(x) - 2.0 * x * np.sin(x))
    np.testing.assert_allclose(hessian, expected, atol=1e-10)


def test_failing_assertion_raises():
    with pytest.raises(AssertionError):
        adcompiler.grad(failing_check)(np.array([0.3, -0.7, 1.2]))
