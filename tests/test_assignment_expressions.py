"""Assignment expressions (`n := v`).

normalize moves `(n := v)` into a statement `n = v` before the statement
that contains it where that keeps Python's evaluation order. Each
supported form is compared with central finite differences in reverse and
forward mode. A form that cannot move (a read of n before it, a later link
of a comparison chain) stays rejected where it carries a derivative, with
a fix.
"""

import inspect

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def in_if_test(x):
    if (n := np.sum(x ** 2)) > 1.0:
        return n * 2.0
    return n


def in_call_argument(x):
    return np.sum((y := x * 2.0) * y)


def two_in_order(x):
    s = (a := np.sin(x)) * (b := np.cos(a)) + b
    return np.sum(s * a)


def in_elif_test(x):
    if np.sum(x) > 100.0:
        r = x
    elif (m := np.max(x * 3.0)) > 0.0:
        r = x * m
    else:
        r = x
    return np.sum(r)


def first_link_of_chain(x):
    s = np.sum(x)
    if -10.0 < (q := s * 2.0) < 100.0:
        return q * s
    return s


def in_comprehension(x):
    # The target binds in the function, as in Python.
    ys = [(z := np.sin(v) * 2.0) for v in x.ravel()]
    return sum(ys) * z


def in_comprehension_filter(x):
    kept = [y * v for v in x.ravel() if (y := v * 3.0) > 0.0]
    return sum(kept) + y


def in_loop_body(x):
    total = 0.0
    for v in x.ravel():
        total = total + (w := v ** 2) * w
    return total


def in_while_test(x):
    # The test runs before each iteration, and so does the assignment.
    s = np.sum(x)
    while (s := s * 1.5 + 0.2) < 4.0:
        s = s + 0.1
    return s


def nested(x):
    return np.sum((a := (b := x * 2.0) + 1.0) * b * a)


SUPPORTED = [in_if_test, in_call_argument, two_in_order, in_elif_test,
             first_link_of_chain, in_comprehension, in_comprehension_filter,
             in_loop_body, in_while_test, nested]


@pytest.mark.parametrize('shape', [(3,), (2, 3)], ids=str)
@pytest.mark.parametrize('function', SUPPORTED, ids=lambda f: f.__name__)
def test_assignment_expression_derivatives(function, shape):
    x = np.linspace(-0.4, 0.9, int(np.prod(shape))).reshape(shape)
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)
    tangent = np.linspace(1.0, -0.5, x.size).reshape(shape)
    value, derivative = adcompiler.jvp(function, (x,), (tangent,))
    np.testing.assert_allclose(value, function(x), rtol=1e-12)
    np.testing.assert_allclose(derivative, np.sum(expected * tangent),
                               rtol=1e-5, atol=1e-6)


def read_before(x):
    y = x * 1.0
    return np.sum(y + (y := x * 3.0))


def late_link_of_chain(x):
    s = np.sum(x)
    if -100.0 < s < (q := s * 2.0):
        return q
    return s


def after_call(x):
    return np.sum(np.sin(x) * (y := x * 2.0)) + np.sum(y)


def in_inner_function(x):
    w = x * 10.0

    def twice_squared(v):
        return (w := v * 2.0) * w
    return np.sum(twice_squared(x) + w)


def bound_twice(x):
    return np.sum((b := x * 3.0) + (b := b * x))


def bound_twice_in_calls(x):
    return np.sum(np.tanh(u := x * 1.0) * (u := u * 2.0))


def source_position(function, text):
    lines, first = inspect.getsourcelines(function)
    for offset, line in enumerate(lines):
        if text in line:
            return first + offset, line.index(text)
    raise AssertionError(f'{text!r} not in {function.__name__}')


@pytest.mark.parametrize('function', [
    read_before, late_link_of_chain, after_call, in_inner_function,
    bound_twice, bound_twice_in_calls],
    ids=lambda f: f.__name__)
def test_unmovable_assignment_expression_rejected(function):
    x = np.array([0.5, -0.3, 0.8])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(function)(x)
    error = info.value
    lineno, column = source_position(function, ':= ')
    assert error.filename == __file__
    assert error.lineno == lineno
    assert error.location.col_offset == column - 2
    assert 'To fix this, assign the value in a statement of its own' in str(
        error)
