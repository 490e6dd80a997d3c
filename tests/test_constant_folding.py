"""Constant folding keeps what the user's statements compute.

The optimizer folds constants in adjoints and in forward-mode code, where
the user's own statements sit next to the tangents. An earlier folder
computed each function below wrongly. `np.where` of a constant condition
lost its broadcast. `x ** 1` and `np.where(True, x, 0.0)` made an alias
of the argument, which a later index store wrote into. `np.power` of a
Python int lost NumPy's int64 overflow. Every result is compared with
central finite differences and with the function's value.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def where_constant_broadcast(x):
    return np.sum(np.where(True, x[0], x))


def where_constant_mask(x):
    mask = np.where(True, 1.0, np.ones((2,) + x.shape))
    return np.sum(mask * x)


def where_constant_false_branch(x):
    return np.sum(np.where(0, x[:1], x) * x)


def power_one_then_store(x):
    y = x ** 1
    y[0] = 0.0
    return np.sum(x) + np.sum(y ** 2)


def where_alias_then_store(x):
    y = np.where(True, x, 0.0)
    y[0] = 0.0
    return np.sum(x) + np.sum(y ** 2)


def power_float_one_then_store(x):
    y = np.power(x, 1.0)
    y[-1] = 0.0
    return np.sum(x * y)


def int_power_overflow(x):
    # np.power(3, 40) overflows int64, and the function must keep it.
    return np.sum(x * np.power(3, 40) * 1e-19)


FUNCTIONS = [where_constant_broadcast, where_constant_mask,
             where_constant_false_branch, power_one_then_store,
             where_alias_then_store, power_float_one_then_store,
             int_power_overflow]


def squared(function):
    def square_of(x):
        return function(x) ** 2
    square_of.__name__ = f'square_of_{function.__name__}'
    return square_of


@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize('shape', [(4,), (3, 2)])
def test_folded_code_gradients(function, shape):
    x = np.linspace(0.5, 2.0, int(np.prod(shape))).reshape(shape)
    original = x.copy()
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)
    direction = np.cos(np.arange(x.size)).reshape(shape)
    value, tangent = adcompiler.jvp(function, (x,), (direction,))
    assert value == pytest.approx(function(x.copy()))
    assert tangent == pytest.approx(np.sum(expected * direction))
    assert_gradient_close(
        adcompiler.jacobian(function, mode='forward')(x), expected)
    np.testing.assert_array_equal(x, original)


@pytest.mark.parametrize('function', FUNCTIONS[:3], ids=lambda f: f.__name__)
@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward',
                                  'reverse-over-reverse'])
def test_folded_code_hessians(function, mode):
    x = np.array([0.5, -1.0, 1.5, 2.0])
    square_of = squared(function)
    expected = np.array([
        numerical_gradient(lambda v, i=i: adcompiler.grad(square_of)(v)[i],
                           (x,), 0) for i in range(x.size)])
    hessian = adcompiler.hessian(square_of, mode=mode)(x)
    np.testing.assert_allclose(hessian, expected, rtol=1e-5, atol=1e-5)


def list_power(c, x):
    return np.sum(x * np.power(c, 2))


def test_power_of_list_in_forward_mode():
    x = np.array([0.5, 1.5])
    value, tangent = adcompiler.jvp(list_power, ([1.0, 2.0], x),
                                    (None, np.ones(2)))
    assert value == pytest.approx(list_power([1.0, 2.0], x))
    assert tangent == pytest.approx(5.0)
