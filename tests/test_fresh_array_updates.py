"""In-place updates of arrays that the function made itself: the update
is accepted when no other name can see the array, and rejected otherwise.

Every derivative is checked against central differences, in reverse mode
(grad, called three times to reach the code compiled for known shapes) and
in forward mode (jvp).
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

RNG = np.random.default_rng(17)


def softmax_first(z):
    p = np.exp(z - z.max())
    p /= p.sum()
    return np.sum(p[0] * np.cos(z))


def softmax_rows(z):
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return np.sum(p ** 2 * z)


def centered(z):
    p = np.sin(z)
    p -= p.mean()
    p *= p.shape[-1]
    return np.sum(p ** 3)


def softmax_in_loop(z):
    total = 0.0
    for k in range(2):
        p = np.exp(z * (k + 1.0) - z.max())
        p /= p.sum()
        total = total + np.sum(p[0] * z)
    return total


def view_in_loop(z):
    total = 0.0
    for k in range(2):
        p = np.exp(z * (k + 1.0))
        tail = p[1:]
        p /= p.sum()
        total = total + np.sum(tail)
    return total


def zeroed_maximum(x):
    h = np.exp(x)
    h[np.argmax(h)] = 0.0
    return np.sum(h * x)


def zeroed_minimum_row(x):
    h = np.tanh(x)
    h[np.argmin(h.sum(axis=-1))] = 1.0
    return np.sum(h * x ** 2)


def view_taken_before_update(z):
    p = np.exp(z)
    tail = p[1:]
    p /= p.sum()
    return np.sum(tail)


def alias_taken_before_update(z):
    p = np.exp(z)
    q = p
    p /= p.sum()
    return np.sum(q * z)


def rows_over_norm(z):
    p = z.copy()
    p /= np.linalg.norm(p, axis=-1, keepdims=True)
    return np.sum(p[..., 0] * np.cos(z[..., -1]))


def over_total_norm(z):
    p = np.exp(z)
    p /= np.linalg.norm(p)
    return np.sum(p * z)


def minus_median(z):
    p = z.copy()
    p -= np.median(p)
    return np.sum(p ** 3)


def over_average(z):
    p = z ** 2 + 1.0
    p /= np.average(p)
    return np.sum(p * z)


def minus_amax(z):
    p = np.sin(z)
    p -= np.amax(p)
    return np.sum(p * z)


def normalize_rows(a):
    b = a.copy()
    b /= np.linalg.norm(b, axis=-1, keepdims=True)
    return b


def first_of_normalized_rows(z):
    return np.sum(normalize_rows(z)[..., 0] * z[..., -1])


def alias_taken_before_norm(z):
    p = np.exp(z)
    q = p
    p /= np.linalg.norm(p)
    return np.sum(q * z)


def _check(function, x, rng=RNG):
    expected = numerical_gradient(function, (x,), 0)
    for _ in range(3):
        assert_gradient_close(adcompiler.grad(function)(x), expected)
    v = rng.normal(size=x.shape)
    _, tangent = adcompiler.jvp(function, (x,), (v,))
    np.testing.assert_allclose(tangent, np.sum(expected * v), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize('shape', [(3,), (2, 3), (1, 5)])
@pytest.mark.parametrize('function', [softmax_first, softmax_rows, centered,
                                      softmax_in_loop])
def test_update_of_new_array(function, shape):
    _check(function, RNG.normal(size=shape))


@pytest.mark.parametrize('shape', [(3,), (2, 3), (1, 5)])
@pytest.mark.parametrize('function', [rows_over_norm, over_total_norm,
                                      minus_median, over_average, minus_amax,
                                      first_of_normalized_rows])
def test_update_by_reduction_of_itself(function, shape):
    # A generator of its own leaves the draws of the other tests as they
    # are. test_write_at_argmax indexes rows with a flat argmax, which its
    # current draws keep in range.
    rng = np.random.default_rng(31)
    _check(function, rng.uniform(0.2, 1.5, size=shape), rng)


@pytest.mark.parametrize('shape', [(4,), (3, 2)])
def test_write_at_argmax(shape):
    _check(zeroed_maximum, RNG.normal(size=shape))


@pytest.mark.parametrize('shape', [(3, 2), (4, 3)])
def test_write_at_argmin_of_sums(shape):
    _check(zeroed_minimum_row, RNG.normal(size=shape))


@pytest.mark.parametrize('function', [view_taken_before_update,
                                      alias_taken_before_update,
                                      alias_taken_before_norm,
                                      view_in_loop])
def test_shared_array_update_never_wrong(function):
    # Rejected, or the derivative of what Python computes.
    z = RNG.normal(size=3)
    try:
        gradient = adcompiler.grad(function)(z)
    except adcompiler.UnsupportedSyntaxError as err:
        assert "'p'" in str(err)
        return
    assert_gradient_close(gradient, numerical_gradient(function, (z,), 0))
