"""np.var and np.std given the mean (`mean=`, added in NumPy 2.0).

The variance reads x - mean, so a mean computed from x, or passed in as
an argument, gets its own derivative, and a constant mean makes the
result differ from the variance about the slice's mean. Each case is
checked against central differences in reverse and forward mode.
"""

import inspect

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

pytestmark = pytest.mark.skipif(
    'mean' not in inspect.signature(np.var).parameters,
    reason=f'NumPy {np.__version__} has no mean= in np.var (new in 2.0)')

RNG = np.random.default_rng(41)


def own_mean(x, m):
    return np.sum(np.var(x, axis=-1, mean=np.mean(x, axis=-1, keepdims=True))
                  * m[..., 0])


def shifted_own_mean(x, m):
    # Not the slice's mean, so its derivative does not vanish.
    centre = 0.5 * np.mean(x, axis=-1, keepdims=True) + 0.1
    return np.sum(np.std(x, axis=-1, mean=centre) ** 3) + np.sum(m)


def constant_mean(x, m):
    return np.sum(np.var(x, axis=-1, mean=1.5)) + np.sum(m)


def passed_mean(x, m):
    return np.sum(np.var(x, axis=-1, ddof=1, mean=m))


def passed_mean_deviation(x, m):
    return np.sum(np.std(x, axis=-1, mean=m, keepdims=True) ** 2 * x)


def method_passed_mean(x, m):
    return np.sum(x.var(axis=-1, mean=m) + x.std(axis=-1, mean=m * 2.0))


def selected_passed_mean(x, m):
    return np.sum(np.std(x, axis=-1, where=x > -0.5, mean=m))


def all_axes_passed_mean(x, m):
    # A mean of shape (1, ..., 1), for a reduction over every axis.
    return np.var(x, mean=np.mean(m, keepdims=True))


def broadcast_passed_mean(x, m):
    # One mean for every slice along the first axis, broadcast to them all.
    return np.sum(np.var(x, axis=-1, mean=m[:1]))


FUNCTIONS = [own_mean, shifted_own_mean, constant_mean, passed_mean,
             passed_mean_deviation, method_passed_mean, selected_passed_mean,
             all_axes_passed_mean, broadcast_passed_mean]
# (shape of x, shape of m): m has the shape of the mean over the last axis.
SHAPES = [((4,), (1,)), ((3, 4), (3, 1)), ((2, 3, 4), (2, 3, 1))]


@pytest.mark.parametrize('shapes', SHAPES, ids=lambda p: str(p[0]))
@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
def test_variance_mean_gradient(function, shapes):
    x = RNG.normal(size=shapes[0])
    m = RNG.normal(size=shapes[1])
    expected_x = numerical_gradient(function, (x, m), 0)
    expected_m = numerical_gradient(function, (x, m), 1)
    for _ in range(3):
        gradient_x, gradient_m = adcompiler.grad(function, wrt=(0, 1))(x, m)
        assert_gradient_close(gradient_x, expected_x)
        assert_gradient_close(gradient_m, expected_m)
    tangent_x = RNG.normal(size=x.shape)
    tangent_m = RNG.normal(size=m.shape)
    _, tangent = adcompiler.jvp(function, (x, m), (tangent_x, tangent_m))
    np.testing.assert_allclose(
        tangent, np.sum(expected_x * tangent_x) + np.sum(expected_m * tangent_m),
        rtol=1e-5, atol=1e-6)


def scalar_passed_mean(x, c):
    return np.var(x, mean=c)


@pytest.mark.parametrize('shape', [(5,), (2, 3)], ids=str)
def test_scalar_mean_broadcasts(shape):
    # A float mean broadcasts against every entry; its adjoint is a float.
    x = RNG.normal(size=shape)
    gradient_x, gradient_c = adcompiler.grad(
        scalar_passed_mean, wrt=(0, 1))(x, 0.3)
    assert_gradient_close(gradient_x,
                          numerical_gradient(scalar_passed_mean, (x, 0.3), 0))
    assert_gradient_close(gradient_c,
                          numerical_gradient(scalar_passed_mean, (x, 0.3), 1))


def test_variance_mean_hessian():
    m = RNG.normal(size=(3, 1))

    def variance(x):
        return passed_mean(x, m * x[:, :1])

    x = RNG.normal(size=(3, 4))
    hessian = adcompiler.hessian(variance)(x)
    gradient = adcompiler.grad(variance)
    column = numerical_gradient(lambda z: gradient(z)[1, 2], (x,), 0)
    np.testing.assert_allclose(hessian[1, 2], column, rtol=1e-4, atol=1e-5)
