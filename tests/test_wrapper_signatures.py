"""Calls of a functools.wraps wrapper whose parameters differ from those
of the function it wraps.

Such a wrapper does more than forward its arguments, so adcompiler
transforms it as written. A call is bound to the wrapper's own parameters,
not to those that inspect.signature reports through `__wrapped__`.
"""

import functools

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient
from test_forward import directional_difference

LABELS = []


def with_label(function):
    @functools.wraps(function)
    def wrapper(x, label):
        LABELS.append(label)
        return function(x)
    return wrapper


def with_scale(function):
    @functools.wraps(function)
    def wrapper(x, scale=2.0):
        return scale * function(x)
    return wrapper


@with_label
def squared(x):
    return x * x


@with_scale
def sine(x):
    return np.sin(x)


def labelled_loss(x):
    return np.sum(squared(x, 'a') * x)


def scaled_loss(x):
    return np.sum(sine(x) * x + sine(x, scale=3.0))


@pytest.mark.parametrize('loss', [labelled_loss, scaled_loss],
                         ids=['extra-parameter', 'keyword-default'])
@pytest.mark.parametrize('shape', [(), (3,), (2, 3)],
                         ids=['scalar', 'vector', 'matrix'])
def test_wrapper_with_own_parameters(loss, shape):
    x = np.random.default_rng(5).normal(size=shape)
    expected = numerical_gradient(loss, (x,), 0)
    gradient = adcompiler.grad(loss)
    for _ in range(3):
        assert_gradient_close(gradient(x), expected)
    direction = np.ones(shape)
    _, tangent = adcompiler.jvp(loss, (x,), (direction,))
    np.testing.assert_allclose(
        tangent, directional_difference(loss, (x,), (direction,)),
        rtol=1e-6, atol=1e-8)


def test_wrapper_runs_its_own_statements():
    LABELS.clear()
    adcompiler.grad(labelled_loss)(np.ones(3))
    assert LABELS == ['a']


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward',
                                  'reverse-over-reverse'])
def test_wrapper_with_own_parameters_hessian(mode):
    x = np.array([0.3, -0.7, 1.2])
    hessian = adcompiler.hessian(labelled_loss, mode=mode)(x)
    np.testing.assert_allclose(hessian, np.diag(6.0 * x), atol=1e-10)


def test_invalid_call_of_wrapper_rejected():
    def loss(x):
        return np.sum(squared(x))  # The wrapper needs a label.

    with pytest.raises(adcompiler.AdCompilerError) as raised:
        adcompiler.grad(loss)(np.ones(3))
    assert 'invalid call of squared' in str(raised.value)
