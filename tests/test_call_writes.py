"""Calls that change in place an array that the gradient reads.

The adjoint reads the values a computation used. A call that writes into
such an array afterwards (np.copyto, rng.shuffle, a helper) must not change
what the adjoint reads: each case is compared with central differences in
grad, vjp and the three Hessian modes.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

MODES = [c.value for c in adcompiler.Composition]


def reset(a):
    a[:] = 5.0


def reset_attribute(box):
    box.m[:] = 7.0


class Box:
    def __init__(self):
        self.m = np.linspace(1.0, 2.0, 3)

    def bump(self):
        self.m += 4.0


def helper_resets_local(x):
    m = np.ones(3)
    y = x * m
    reset(m)
    return np.sum(y ** 2)


def copyto_local(x):
    m = np.linspace(0.5, 1.5, 3)
    y = np.sin(x) * m
    np.copyto(m, 9.0)
    return np.sum(y ** 2 * m)


def copyto_where(x):
    m = np.linspace(0.5, 1.5, 3)
    y = x * m
    np.copyto(m, 9.0, where=np.array([True, False, True]))
    return np.sum(y ** 2)


def put_into(x):
    m = np.linspace(0.5, 1.5, 3)
    y = x ** 2 * m
    np.put(m, [0, 2], [4.0, 8.0])
    return np.sum(y * x)


def place_into(x):
    m = np.linspace(0.5, 1.5, 3)
    y = x * m
    np.place(m, m > 1.0, 3.0)
    return np.sum(y ** 2)


def putmask_into(x):
    m = np.linspace(0.5, 1.5, 3)
    y = x * m
    np.putmask(m, m < 1.0, -2.0)
    return np.sum(y ** 2)


def fill_diagonal_of(x):
    a = np.outer(np.ones(3), np.linspace(1.0, 2.0, 3))
    y = a @ x
    np.fill_diagonal(a, 0.0)
    return np.sum(y ** 2)


def ufunc_at(x):
    m = np.linspace(0.5, 1.5, 3)
    y = x * m
    np.add.at(m, [0, 0, 2], 1.0)
    return np.sum(y ** 2)


def iadd_method(x):
    m = np.linspace(0.5, 1.5, 3)
    y = x * m
    m.__iadd__(1.0)
    return np.sum(y ** 2)


def setitem_method(x):
    m = np.linspace(0.5, 1.5, 3)
    y = x * m
    m.__setitem__(1, 10.0)
    return np.sum(y ** 2)


def byteswap_in_place(x):
    m = np.linspace(0.5, 1.5, 3)
    y = x * m
    m.byteswap(inplace=True)
    return np.sum(y ** 2)


def view_changed_by_call(x):
    m = np.linspace(0.5, 1.5, 4)
    v = m[1:]
    y = x * v
    np.copyto(m, 9.0)
    return np.sum(y ** 2)


def call_writes_into_view(x):
    m = np.linspace(0.5, 1.5, 4)
    y = x * m[:3]
    reset(m[1:])
    return np.sum(y ** 2)


def attribute_changed_by_helper(x):
    box = Box()
    y = x * box.m
    reset_attribute(box)
    return np.sum(y ** 2)


def attribute_changed_by_method(x):
    box = Box()
    y = x * box.m
    box.bump()
    return np.sum(y ** 2) + np.sum(box.m)


def shuffled_minibatches(x):
    target = np.array([1.0, -1.0, 0.5])
    idx = np.arange(3)
    total = 0.0
    for epoch in range(3):
        np.random.default_rng(epoch + 3).shuffle(idx)
        batch = idx[:2]
        total = total + np.sum((x[batch] - target[batch]) ** 2 * (epoch + 1))
    return total


def changed_each_iteration(x):
    m = np.linspace(0.5, 1.5, 3)
    total = 0.0
    for step in range(3):
        total = total + np.sum(np.sin(x * m))
        np.copyto(m, m * 2.0)
    return total


def reads_then_resets(x, m):
    y = x * m
    np.copyto(m, 0.0)
    return y


def callee_resets_argument(x):
    m = np.linspace(0.5, 1.5, 3)
    z = np.cos(x) * m
    y = reads_then_resets(x, m)
    return np.sum(z * y)


GLOBAL_WEIGHTS = np.linspace(0.5, 1.5, 3)


def global_changed_by_call(x):
    np.copyto(GLOBAL_WEIGHTS, np.linspace(0.5, 1.5, 3))
    y = x * GLOBAL_WEIGHTS
    np.copyto(GLOBAL_WEIGHTS, 9.0)
    return np.sum(y ** 2)


CASES = [
    helper_resets_local, copyto_local, copyto_where, put_into, place_into,
    putmask_into, fill_diagonal_of, ufunc_at, iadd_method, setitem_method,
    byteswap_in_place, view_changed_by_call, call_writes_into_view,
    attribute_changed_by_helper, attribute_changed_by_method,
    shuffled_minibatches, changed_each_iteration, callee_resets_argument,
    global_changed_by_call,
]
POINTS = [np.array([0.3, -1.2, 0.7]), np.array([1.1, 0.4, -0.5])]


def numerical_hessian(function, x, step=1e-4):
    columns = []
    for e in np.eye(x.size):
        plus = numerical_gradient(function, (x + step * e,), 0, step)
        minus = numerical_gradient(function, (x - step * e,), 0, step)
        columns.append((plus - minus) / (2 * step))
    return np.array(columns).T


@pytest.mark.parametrize('x', POINTS, ids=['point0', 'point1'])
@pytest.mark.parametrize('function', CASES, ids=lambda f: f.__name__)
def test_call_write_grad(function, x):
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)


@pytest.mark.parametrize('function', CASES, ids=lambda f: f.__name__)
def test_call_write_vjp(function):
    x = POINTS[0]
    value, vjp_fn = adcompiler.vjp(function, x)
    assert np.isclose(value, function(x))
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(vjp_fn(2.0)[0], 2.0 * expected)


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('function', CASES, ids=lambda f: f.__name__)
def test_call_write_hessian(function, mode):
    x = POINTS[1]
    expected = numerical_hessian(function, x)
    hessian = adcompiler.hessian(function, mode=mode)(x)
    np.testing.assert_allclose(hessian, expected, rtol=1e-4, atol=1e-5)


def copyto_argument(x, c):
    y = x * c
    np.copyto(c, 9.0)
    return np.sum(y ** 2)


@pytest.mark.parametrize('shape', [(3,), (2, 3)])
def test_copyto_argument_grad(shape):
    x = np.linspace(-1.0, 1.0, int(np.prod(shape))).reshape(shape)

    def fresh(x):
        return copyto_argument(x, np.ones(shape))

    c = np.ones(shape)
    gradient = adcompiler.grad(copyto_argument)(x, c)
    assert_gradient_close(gradient, numerical_gradient(fresh, (x,), 0))
    np.testing.assert_array_equal(c, 9.0)  # the call runs as written


def copyto_argument_only_at_end(x, c):
    y = x * c
    return np.sum(y ** 2)


def test_no_copy_without_writer_call():
    source = adcompiler.grad(copyto_argument_only_at_end).source
    assert 'snapshot' not in source


def test_copy_only_of_values_a_call_changes():
    source = adcompiler.grad(helper_resets_local).source
    assert 'snapshot(m)' in source
    assert 'snapshot(y)' not in source
    assert 'snapshot(x)' not in source


def scaled_after_write(x, m):
    z = x * 1.0
    z[0] = 0.0
    return z * m


def callee_record_then_write(x):
    m = np.linspace(0.5, 1.5, 3)
    y = scaled_after_write(x, m)
    np.copyto(m, 5.0)
    return np.sum(y ** 2)


@pytest.mark.parametrize('mode', MODES)
def test_callee_record_changed_later(mode):
    # The callee's adjoint undoes z[0] = 0.0 on its saved values, which
    # the caller keeps as a copy because np.copyto changes m afterwards.
    x = POINTS[0]
    expected = numerical_gradient(callee_record_then_write, (x,), 0)
    assert_gradient_close(adcompiler.grad(callee_record_then_write)(x),
                          expected)
    hessian = adcompiler.hessian(callee_record_then_write, mode=mode)(x)
    np.testing.assert_allclose(
        hessian, numerical_hessian(callee_record_then_write, x),
        rtol=1e-4, atol=1e-5)
