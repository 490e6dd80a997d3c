"""jacobian, jvp and vjp of a gradient made by grad, and the forward-mode
Jacobian of a function with keyword-only parameters.

Every derivative is checked against central differences.
"""

import numpy as np
import pytest

import adcompiler

RNG = np.random.default_rng(8)
SHAPES = [(3,), (2, 3), (1, 4)]


def energy(x, w):
    return np.sum(np.sin(x) * x ** 2 * w)


def scaled_sine(x, *, c):
    return np.sin(x) * c


def weighted_square(x, *, w=2.0):
    return x ** 2 * w


def _numerical_jacobian(function, x, step=1e-6):
    """Central differences: one column per entry of `x`, shape out + x."""
    columns = []
    for index in np.ndindex(x.shape):
        offset = np.zeros_like(x)
        offset[index] = step
        columns.append((np.asarray(function(x + offset)) -
                        np.asarray(function(x - offset))) / (2 * step))
    out_shape = np.shape(function(x))
    return np.stack(columns, axis=-1).reshape(out_shape + x.shape)


def _arguments(shape):
    # w of shape (shape[-1],) broadcasts against x.
    return RNG.normal(size=shape), RNG.normal(size=shape[-1:])


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
@pytest.mark.parametrize('shape', SHAPES)
def test_jacobian_of_grad(shape, mode):
    x, w = _arguments(shape)
    gradient = adcompiler.grad(energy)
    computed = adcompiler.jacobian(gradient, mode=mode)(x, w)
    expected = _numerical_jacobian(lambda v: gradient(v, w), x)
    np.testing.assert_allclose(computed, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('shape', SHAPES)
def test_jvp_of_grad(shape):
    x, w = _arguments(shape)
    v = RNG.normal(size=shape)
    gradient = adcompiler.grad(energy)
    value, tangent = adcompiler.jvp(gradient, (x, w), (v, None))
    np.testing.assert_allclose(value, gradient(x, w))
    step = 1e-6
    expected = (gradient(x + step * v, w) -
                gradient(x - step * v, w)) / (2 * step)
    np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('shape', SHAPES)
def test_vjp_of_grad(shape):
    x, w = _arguments(shape)
    u = RNG.normal(size=shape)
    gradient = adcompiler.grad(energy)
    _, vjp_function = adcompiler.vjp(gradient, x, w)
    cotangent = vjp_function(u)[0]
    jacobian = _numerical_jacobian(lambda v: gradient(v, w), x)
    expected = np.tensordot(u, jacobian, axes=u.ndim)
    np.testing.assert_allclose(cotangent, expected, rtol=1e-5, atol=1e-6)


def test_value_and_grad_still_rejected():
    with pytest.raises(adcompiler.SourceUnavailableError):
        adcompiler.jacobian(adcompiler.value_and_grad(energy))


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
@pytest.mark.parametrize('shape', SHAPES)
def test_jacobian_keyword_only(shape, mode):
    x = RNG.normal(size=shape)
    computed = adcompiler.jacobian(scaled_sine, mode=mode)(x, c=3.0)
    expected = _numerical_jacobian(lambda v: scaled_sine(v, c=3.0), x)
    np.testing.assert_allclose(computed, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_jacobian_wrt_keyword_only(mode):
    x = RNG.normal(size=(2, 3))
    computed = adcompiler.jacobian(scaled_sine, wrt='c', mode=mode)(x, c=0.7)
    step = 1e-6
    expected = (scaled_sine(x, c=0.7 + step) -
                scaled_sine(x, c=0.7 - step)) / (2 * step)
    np.testing.assert_allclose(computed, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('shape', SHAPES)
def test_jacobian_keyword_only_default(shape):
    x = RNG.normal(size=shape)
    w = RNG.normal(size=shape[-1:])
    computed = adcompiler.jacobian(weighted_square, mode='forward')(x, w=w)
    expected = _numerical_jacobian(lambda v: weighted_square(v, w=w), x)
    np.testing.assert_allclose(computed, expected, rtol=1e-5, atol=1e-6)
    computed = adcompiler.jacobian(weighted_square, mode='forward')(x)
    expected = _numerical_jacobian(weighted_square, x)
    np.testing.assert_allclose(computed, expected, rtol=1e-5, atol=1e-6)
