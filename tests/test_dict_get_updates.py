"""`d.get(key, default)` on a dict that the function also writes by key.

`d.get` returns an item or the default, as `d[key]` does, and an item
write `d[k] = v` rebinds an entry without changing the item that an
earlier read returned. Reads that may be views stay rejected.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient
from test_forward import directional_difference


def chained_entries(x):
    d = {}
    d[0] = x[0] * 2.0
    d[1] = d.get(0, 1.0) * x[1]
    return d[1]


def memoized_product(x):
    d = {}
    for i in range(len(x)):
        d[i] = d.get(i - 1, 1.0) * x[i]
    return d[len(x) - 1] + d.get(-5, 0.5)


def read_before_overwrite(x):
    d = {'a': x * 2.0}
    kept = d.get('a', x)
    d['a'] = np.sin(x)
    return np.sum(kept * d['a'])


def dict_parameter_loop(x, weights):
    for key, value in weights.items():
        weights[key] = value * 2.0
    return np.sum(weights.get('w', 1.0) * x)


CASES = [chained_entries, memoized_product, read_before_overwrite]


@pytest.mark.parametrize('function', CASES, ids=[f.__name__ for f in CASES])
@pytest.mark.parametrize('shape', [(3,), (4,)], ids=['three', 'four'])
def test_get_on_written_dict(function, shape):
    x = np.random.default_rng(3).normal(size=shape)
    expected = numerical_gradient(function, (x,), 0)
    gradient = adcompiler.grad(function)
    for _ in range(3):
        assert_gradient_close(gradient(x), expected)
    direction = np.linspace(-1.0, 1.0, shape[0])
    _, tangent = adcompiler.jvp(function, (x,), (direction,))
    np.testing.assert_allclose(
        tangent, directional_difference(function, (x,), (direction,)),
        rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward',
                                  'reverse-over-reverse'])
def test_get_on_written_dict_hessian(mode):
    x = np.array([0.3, -0.7, 1.2])
    hessian = adcompiler.hessian(read_before_overwrite, mode=mode)(x)
    # sum(2 x sin x) has a diagonal Hessian.
    expected = np.diag(4.0 * np.cos(x) - 2.0 * x * np.sin(x))
    np.testing.assert_allclose(hessian, expected, atol=1e-10)


def test_get_on_dict_parameter():
    x = np.array([0.3, -0.7, 1.2])
    weights = {'w': np.array([1.0, 2.0, 3.0])}
    gradient = adcompiler.grad(dict_parameter_loop)(x, weights)
    np.testing.assert_allclose(gradient, [2.0, 4.0, 6.0])


def values_view_after_write(x):
    d = {'a': x * 2.0}
    seen = d.values()
    d['a'] = np.sin(x)
    return np.sum(list(seen)[0] * x)


def test_values_view_of_written_dict_rejected():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as raised:
        adcompiler.grad(values_view_after_write)(np.ones(3))
    assert '.values() may return a view of it' in str(raised.value)
