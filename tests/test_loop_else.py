"""Loops with an else clause.

The else clause runs when the loop ends without a break: after the last
iteration, when a for loop has nothing to iterate, or when a while test
is false. control_flow rewrites it as a flag that each break sets and an
if statement after the loop. Each case is compared with central finite
differences on inputs that break and on inputs that do not.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def for_else_without_break(x):
    s = x * 0.5
    for i in range(3):
        s = s + np.sin(x) * i
    else:
        s = s * 2.0
    return np.sum(s ** 2)


def for_else_with_break(x):
    s = 0.0
    for v in x.ravel():
        if v > 2.0:
            break
        s = s + v ** 2
    else:
        s = s * 3.0
    return s


def while_else_with_break(x):
    s = np.sum(x)
    i = 0
    while i < 4:
        if s > 5.0:
            break
        s = s * 1.5 + np.sum(x ** 2)
        i += 1
    else:
        s = s - np.sum(np.cos(x))
    return s


def while_else_without_break(x):
    s = x * 1.0
    i = 0
    while i < 2:
        s = s * x
        i += 1
    else:
        s = s + 1.0
    return np.sum(s)


def break_in_inner_loop(x):
    # The inner break leaves only the inner loop, so the outer else runs.
    s = 0.0
    for row in np.atleast_2d(x):
        for v in row:
            if v > 2.0:
                break
            s = s + v * np.sum(row)
    else:
        s = s ** 2
    return s


def break_in_inner_else(x):
    # A break in the inner loop's else clause leaves the outer loop.
    s = 0.0
    for i in range(3):
        for v in x.ravel():
            s = s + v * i
        else:
            if s > 1.0:
                break
    else:
        s = s * 10.0
    return s


def returns_inside_loop(x):
    s = 0.0
    for v in x.ravel():
        if v > 2.0:
            return s * v
        s = s + np.exp(v)
    else:
        s = s + 1.0
    return s * 2.0


FUNCTIONS = [for_else_without_break, for_else_with_break,
             while_else_with_break, while_else_without_break,
             break_in_inner_loop, break_in_inner_else, returns_inside_loop]
INPUTS = {
    'small': np.array([0.3, -0.4, 0.5]),
    'breaks': np.array([0.3, 2.5, 0.7, -0.2]),
    'matrix': np.array([[0.2, 0.4], [2.6, -0.3]]),
}


@pytest.mark.parametrize('name', INPUTS)
@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
def test_loop_else_gradient(function, name):
    x = INPUTS[name]
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)


@pytest.mark.parametrize('name', INPUTS)
@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
def test_loop_else_tangent(function, name):
    x = INPUTS[name]
    tangent = np.linspace(-1.0, 1.0, x.size).reshape(x.shape)
    expected = np.sum(numerical_gradient(function, (x,), 0) * tangent)
    value, derivative = adcompiler.jvp(function, (x,), (tangent,))
    np.testing.assert_allclose(value, function(x), rtol=1e-12)
    np.testing.assert_allclose(derivative, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('function, breaks, expected', [
    (for_else_with_break, INPUTS['breaks'], 0.3 ** 2),
    (for_else_with_break, INPUTS['small'], 3.0 * (0.09 + 0.16 + 0.25)),
], ids=['breaks', 'ends'])
def test_loop_else_value(function, breaks, expected):
    value, _ = adcompiler.value_and_grad(function)(breaks)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
