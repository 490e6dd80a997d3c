"""Constant folding keeps what the user's statements compute.

The optimizer folds constants in adjoints and in the tangents of
forward-mode code, which also runs the user's own statements. An earlier
folder computed each function below wrongly. `np.where` of a constant
condition lost its broadcast. `x ** 1` and `np.where(True, x, 0.0)` made
an alias of the argument, which a later index store wrote into.
`np.power` of a Python int lost NumPy's int64 overflow. Every result is compared with
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


def where_numbers_int8_product(x):
    # NumPy's int64 0-d array promotes the int8 array, and an int would not.
    k = np.arange(x.size, dtype=np.int8).reshape(x.shape) + 100
    return np.sum(x * (k * np.where(True, 2, 3)))


def where_numbers_times_list(x):
    # A list times a 0-d array is an array, and a list times an int repeats.
    scale = [1.0, 2.0] * np.where(True, 3, 4)
    return np.sum(x * np.mean(scale))


def where_numbers_int_power(x):
    # The 0-d int64 array overflows where a Python int would not.
    return np.sum(x * np.where(True, 3, 4) ** 40 * 1e-19)


def where_numbers_float32_product(x):
    y = x.astype(np.float32) * 0.1 * np.where(True, 1, 2.5)
    return np.sum(y) * np.sum(x)


def power_of_int_float32_product(x):
    return np.sum(x.astype(np.float32) * 0.1 * np.power(3, 2.0)) * np.sum(x)


def where_numbers_as_array(x):
    c = np.where(True, 1.5, 2.0)
    c[...] = 4.0
    return np.sum(x * c) * (c.ndim + 1)


def power_of_zero_minimum(x):
    # np.power(0, -1.0) is inf with a warning, where 0 ** -1.0 raises.
    with np.errstate(divide='ignore'):
        return np.sum(x * np.minimum(np.power(0, -1.0), 5.0))


FUNCTIONS = [where_constant_broadcast, where_constant_mask,
             where_constant_false_branch, power_one_then_store,
             where_alias_then_store, power_float_one_then_store,
             int_power_overflow, where_numbers_int8_product,
             where_numbers_times_list, where_numbers_int_power,
             where_numbers_float32_product, power_of_int_float32_product,
             where_numbers_as_array, power_of_zero_minimum]

FLOAT32_FUNCTIONS = {where_numbers_float32_product,
                     power_of_int_float32_product}


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
    tolerance = {}
    if function in FLOAT32_FUNCTIONS:
        # Quadratic in x: a long step is exact but for float32 rounding.
        expected = numerical_gradient(function, (x,), 0, step=1e-2)
        tolerance = {'rtol': 1e-4, 'atol': 1e-4}
    else:
        expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected, **tolerance)
    direction = np.cos(np.arange(x.size)).reshape(shape)
    value, tangent = adcompiler.jvp(function, (x,), (direction,))
    assert value == function(x.copy())
    assert tangent == pytest.approx(np.sum(expected * direction),
                                    rel=tolerance.get('rtol'),
                                    abs=tolerance.get('atol'))
    assert_gradient_close(
        adcompiler.jacobian(function, mode='forward')(x), expected,
        **tolerance)
    np.testing.assert_array_equal(x, original)


@pytest.mark.parametrize('function', FUNCTIONS[:3] + FUNCTIONS[7:10],
                         ids=lambda f: f.__name__)
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


@pytest.mark.parametrize('c', [[1.0, 2.0], (1.0, 2.0)])
def test_float_power_of_sequence_in_forward_mode(c):
    x = np.array([0.5, 1.5])
    expected = numerical_gradient(list_float_power, (x, c), 0)
    _, tangent = adcompiler.jvp(list_float_power, (x, c), (np.ones(2), None))
    assert tangent == pytest.approx(np.sum(expected))
    hessian = adcompiler.hessian(lambda v: list_float_power(v, c) ** 2)(x)
    np.testing.assert_allclose(hessian, 2 * np.outer(expected, expected))


def list_float_power(x, c):
    return np.sum(x * np.power(c, 2.0))


def float32_tiny_factors(x):
    return np.sum(x * 1e-25 * 1e-25) * 1e30


def test_float32_constant_factors_not_underflowed():
    # 1e-25 * 1e-25 is 0 in float32, while the adjoint's product with the
    # cotangent 1e30 first is 1e-20 per element.
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    gradient = adcompiler.grad(float32_tiny_factors)(x)
    assert gradient.dtype == np.float32
    np.testing.assert_allclose(gradient, np.full(3, 1e-20), rtol=1e-6)
