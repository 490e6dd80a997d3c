"""Globals that a call rebinds while differentiated code runs.

The generated code reads globals as they were when it was compiled, so a
rebinding of a global that the code reads later raises `GlobalRebindError`,
and one of a global that it does not read later changes nothing. A callee found when the call
runs is compiled again for the new value.
"""

import sys

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

scale = 2.0
_THIS_MODULE = sys.modules[__name__]


@pytest.fixture(autouse=True)
def reset_scale():
    global scale
    scale = 2.0
    yield
    scale = 2.0


def set_through_sys_modules(value):
    sys.modules[__name__].scale = value


def set_through_globals(value):
    globals()['scale'] = value


def set_through_module_attribute(value):
    _THIS_MODULE.scale = value


def set_through_setattr(value):
    setattr(_THIS_MODULE, 'scale', value)


def set_with_global_statement(value):
    global scale
    scale = value


SETTERS = [set_through_sys_modules, set_through_globals,
           set_through_module_attribute, set_through_setattr,
           set_with_global_statement]


def make_reads_after_set(setter):
    def reads_after_set(x):
        y = x * scale
        setter(3.0)
        return np.sum(y * scale)
    return reads_after_set


def make_reads_after_set_in_loop(setter):
    def reads_after_set_in_loop(x):
        total = 0.0
        for _ in range(2):
            total = total + np.sum(x * scale)
            setter(3.0)
        return total
    return reads_after_set_in_loop


def scaled_sum(x):
    return np.sum(x * scale)


def callee_reads_after_set(x):
    set_through_sys_modules(3.0)
    return scaled_sum(x)


def reads_before_set_only(x):
    y = np.sum(np.sin(x) * scale)
    set_through_sys_modules(3.0)
    return y


def sets_through_sys_modules_inline(x):
    y = x * scale
    sys.modules[__name__].scale = 3.0
    return np.sum(y * scale)


X = np.array([0.5, -1.0, 2.0])


@pytest.mark.parametrize('setter', SETTERS, ids=lambda s: s.__name__)
@pytest.mark.parametrize('make', [make_reads_after_set,
                                  make_reads_after_set_in_loop],
                         ids=['straight', 'loop'])
def test_grad_raises_on_rebind_read_later(setter, make):
    function = make(setter)
    with pytest.raises(adcompiler.GlobalRebindError) as raised:
        adcompiler.grad(function)(X)
    message = str(raised.value)
    assert "'scale'" in message
    assert __file__ in message
    assert raised.value.lineno is not None


@pytest.mark.parametrize('transform', [
    lambda f: adcompiler.value_and_grad(f)(X),
    lambda f: adcompiler.vjp(f, X)[1](1.0),
    lambda f: adcompiler.jvp(f, (X,), (np.ones_like(X),)),
    lambda f: adcompiler.hessian(f)(X),
], ids=['value_and_grad', 'vjp', 'jvp', 'hessian'])
def test_transforms_raise_on_rebind(transform):
    with pytest.raises(adcompiler.GlobalRebindError):
        transform(make_reads_after_set(set_through_sys_modules))


def calls_callee_in_loop(x):
    total = 0.0
    for _ in range(2):
        total = total + scaled_sum(x)
        set_through_sys_modules(3.0)
    return total


def dispatches_after_set(x, functions):
    set_through_sys_modules(3.0)
    function = functions[0]
    return function(x)


@pytest.mark.parametrize('transform', [
    lambda f: adcompiler.grad(f)(X),
    lambda f: adcompiler.jvp(f, (X,), (np.ones_like(X),)),
], ids=['grad', 'jvp'])
@pytest.mark.parametrize('function', [callee_reads_after_set,
                                      calls_callee_in_loop],
                         ids=['straight', 'loop'])
def test_callee_call_after_rebind_raises(function, transform):
    with pytest.raises(adcompiler.GlobalRebindError) as raised:
        transform(function)
    assert 'scaled_sum' in str(raised.value)
    assert raised.value.lineno is not None


def test_dispatched_callee_reads_new_value():
    value, gradient = adcompiler.value_and_grad(dispatches_after_set)(
        X, [scaled_sum])
    assert scale == 3.0
    np.testing.assert_allclose(value, np.sum(X * 3.0))
    np.testing.assert_allclose(gradient, np.full(3, 3.0))


def test_attribute_store_in_function_raises():
    with pytest.raises(adcompiler.GlobalRebindError) as raised:
        adcompiler.grad(sets_through_sys_modules_inline)(X)
    assert raised.value.lineno == (
        sets_through_sys_modules_inline.__code__.co_firstlineno + 2)


def test_rebind_after_last_read_is_allowed():
    gradient = adcompiler.grad(reads_before_set_only)(X)
    assert scale == 3.0  # The setter ran as in plain Python.

    def plain(x):
        globals()['scale'] = 2.0
        return reads_before_set_only(x)
    expected = numerical_gradient(plain, (X,), 0)
    assert_gradient_close(gradient, expected)


def test_unchanged_global_gradient():
    def reads_twice(x):
        y = x * scale
        set_through_sys_modules(2.0)  # The same object: nothing changes.
        return np.sum(y * scale)
    global scale
    two = scale
    set_through_sys_modules(two)
    gradient = adcompiler.grad(reads_twice)(X)
    np.testing.assert_allclose(gradient, np.full(3, 4.0))
