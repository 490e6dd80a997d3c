"""np.var and np.std with ddof at or past the number of entries.

NumPy 2.4 divides by max(n - ddof, 0), so the value is inf or nan with a
RuntimeWarning. The derivatives must not be finite there, and must match
finite differences where ddof < n.
"""

import warnings

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def variance_ddof(x, ddof):
    return np.sum(np.var(x, axis=0, ddof=ddof))


def deviation_ddof(x, ddof):
    return np.sum(np.std(x, axis=0, ddof=ddof))


def method_variance(x, ddof):
    return x.var(ddof=ddof)


def method_deviation(x, ddof):
    return x.std(ddof=ddof)


FUNCTIONS = [variance_ddof, deviation_ddof, method_variance,
             method_deviation]
SHAPES = [(3,), (3, 2), (4, 1)]


def _sample_count(function, x):
    """Return the number of samples that `function` reduces over: the
    first axis for the functions given an axis, else every item."""
    if function in (variance_ddof, deviation_ddof):
        return x.shape[0]
    return x.size


def _point(shape):
    return np.linspace(-1.0, 2.0, int(np.prod(shape))).reshape(shape) ** 3


@pytest.mark.parametrize('shape', SHAPES, ids=str)
@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
def test_large_ddof_not_finite(function, shape):
    x = _point(shape)
    count = _sample_count(function, x)
    for ddof in (count, count + 1, count + 0.5):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', RuntimeWarning)
            expected = function(x, ddof)
            value, gradient = adcompiler.value_and_grad(function)(x, ddof)
            _, tangent = adcompiler.jvp(function, (x, ddof),
                                        (np.ones_like(x), None))
        assert not np.isfinite(expected)
        np.testing.assert_equal(value, expected)
        assert not np.any(np.isfinite(gradient))
        assert not np.isfinite(tangent)


def test_large_ddof_warns():
    x = _point((3,))
    with pytest.warns(RuntimeWarning):
        adcompiler.grad(method_variance)(x, 4)


@pytest.mark.parametrize('shape', SHAPES, ids=str)
@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
def test_small_ddof_gradient(function, shape):
    x = _point(shape)
    count = _sample_count(function, x)
    for ddof in range(count):
        gradient = adcompiler.grad(function)(x, ddof)
        expected = numerical_gradient(function, (x, ddof), 0)
        assert_gradient_close(gradient, expected)


def test_where_slice_with_large_ddof():
    def selected_variance(x):
        return np.var(x, ddof=2, where=np.array([True, True, False]))
    x = np.array([0.3, -0.7, 1.1])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        gradient = adcompiler.grad(selected_variance)(x)
    assert not np.any(np.isfinite(gradient[:2]))
    assert gradient[2] == 0.0
