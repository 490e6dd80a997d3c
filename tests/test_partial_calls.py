"""Calls of functools.partial objects inside a differentiated function.

The call of a partial runs its function with the bound values first, and
a keyword of the call replaces a bound one. The derivatives are compared
with central finite differences in reverse and forward mode.
"""

import functools

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

V3 = np.array([0.4, -1.3, 1.1])
W3 = np.array([1.2, 0.7, -0.5])
M23 = np.array([[0.3, -0.8, 1.4], [0.9, 0.2, -0.6]])


def scaled_power(x, w, p=2.0, shift=0.0):
    return np.sum(w * (x + shift) ** p)


CUBE = functools.partial(scaled_power, p=3.0)
SHIFTED = functools.partial(scaled_power, W3, shift=0.5)


def global_keyword_partial(x, w):
    return CUBE(x, w)


def global_positional_partial(x, w):
    return SHIFTED(x) * np.sum(w)  # SHIFTED binds the first parameter.


def global_partial_keyword_replaced(x, w):
    return CUBE(x, w, p=2.0)


def local_keyword_partial(x, w):
    f = functools.partial(scaled_power, p=3.0)
    return f(x, w)


def local_partial_binds_derivative(x, w):
    f = functools.partial(scaled_power, w=w * 2.0)
    return f(x) + f(np.sin(x), shift=1.0)


def local_partial_of_inner_function(x, w):
    def weighted(v, scale):
        return np.sum(w * v) * scale
    f = functools.partial(weighted, scale=3.0)
    return f(x ** 2)


def local_partial_of_lambda(x, w):
    f = functools.partial(lambda a, b: np.sum(a * b), w)
    return f(np.tanh(x))


def local_partial_binds_value_once(x, w):
    # The partial keeps the w it was made with, although w changes after.
    f = functools.partial(scaled_power, w=w)
    for _ in range(2):
        w = w * 3.0
    return f(x) + np.sum(w)


TABLE = [
    pytest.param(global_keyword_partial, (V3, W3), id='global-keyword'),
    pytest.param(global_keyword_partial, (M23, W3),
                 id='global-keyword-broadcast'),
    pytest.param(global_positional_partial, (V3, W3), id='global-positional'),
    pytest.param(global_partial_keyword_replaced, (V3, W3),
                 id='global-keyword-replaced'),
    pytest.param(local_keyword_partial, (V3, W3), id='local-keyword'),
    pytest.param(local_keyword_partial, (M23, W3),
                 id='local-keyword-broadcast'),
    pytest.param(local_partial_binds_derivative, (V3, W3),
                 id='local-binds-derivative'),
    pytest.param(local_partial_binds_derivative, (M23, W3),
                 id='local-binds-derivative-broadcast'),
    pytest.param(local_partial_of_inner_function, (V3, W3),
                 id='local-of-inner-function'),
    pytest.param(local_partial_of_lambda, (M23, W3), id='local-of-lambda'),
    pytest.param(local_partial_binds_value_once, (V3, W3),
                 id='local-binds-value-once'),
]


@pytest.mark.parametrize('function, args', TABLE)
def test_partial_call_gradient(function, args):
    for position in range(len(args)):
        expected = numerical_gradient(function, args, position)
        computed = adcompiler.grad(function, wrt=position)(*args)
        assert_gradient_close(computed, expected)


@pytest.mark.parametrize('function, args', TABLE)
def test_partial_call_jvp(function, args):
    directions = tuple(np.linspace(-0.5, 0.7, np.size(a)).reshape(np.shape(a))
                       for a in args)
    value, tangent = adcompiler.jvp(function, args, directions)
    assert value == pytest.approx(function(*args))
    expected = sum(np.sum(numerical_gradient(function, args, p) * d)
                   for p, d in enumerate(directions))
    assert tangent == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_global_partial_rebound_recompiles():
    global CUBE
    gradient = adcompiler.grad(global_keyword_partial)
    before = gradient(V3, W3)
    saved = CUBE
    try:
        CUBE = functools.partial(scaled_power, p=2.0)
        after = gradient(V3, W3)
    finally:
        CUBE = saved
    assert_gradient_close(before, 3.0 * W3 * V3 ** 2)
    assert_gradient_close(after, 2.0 * W3 * V3)


# A partial passed to a helper -------------------------------------------------

def huber(r, delta):
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r ** 2, delta * (a - 0.5 * delta))


def mean_of_loss(loss_function, r):
    return np.mean(loss_function(r))


def passes_partial(w, delta):
    loss_function = functools.partial(huber, delta=delta)
    return mean_of_loss(loss_function, w)


def passes_lambda(w, delta):
    loss_function = lambda r: huber(r, delta=delta)  # noqa: E731
    return mean_of_loss(loss_function, w)


def test_partial_passed_to_helper_suggests_lambda():
    """The error suggested adcompiler.non_differentiable(functools.partial),
    which would drop the derivative of every bound argument."""
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(passes_partial, wrt=(0, 1))(np.array([0.1, -2.0]), 0.8)
    message = str(info.value)
    assert 'non_differentiable' not in message
    assert 'register_vjp' not in message
    assert '`lambda r: f(r, delta=delta)`' in message


@pytest.mark.parametrize('shape', [(3,), (2, 3)], ids=['vector', 'matrix'])
def test_lambda_in_place_of_partial_gradient(shape):
    w = np.random.default_rng(3).normal(size=shape) * 2.0
    delta = 0.8
    gradient_w, gradient_delta = adcompiler.grad(passes_lambda, wrt=(0, 1))(
        w, delta)
    assert_gradient_close(gradient_w,
                          numerical_gradient(passes_lambda, (w, delta), 0))
    assert_gradient_close(gradient_delta,
                          numerical_gradient(passes_lambda, (w, delta), 1))
