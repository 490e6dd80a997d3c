"""`not v` in a chain of `or` and `and` whose value carries a derivative.

Lowering `a or b` stores both operands in one temporary, so the bool that
`not` returns shares a name with a value that carries a derivative. `not`
itself has no adjoint. Each case compares grad, jvp and the Hessian in
every composition with central differences.
"""

import numpy as np
import pytest
import scipy.stats

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

COMPOSITIONS = ['forward-over-reverse', 'reverse-over-forward',
                'reverse-over-reverse']


def not_size_or_value(x):
    y = x * 2.0
    z = not y.size or y
    return np.sum(z ** 3)


def is_special(v):
    return False


def not_flag_in_condition(x, flag=True):
    y = x * 2.0
    if y.size == 0 or not flag or is_special(y):
        return np.sum(y)
    return np.sum(y ** 3)


def not_and_value(x):
    y = np.sin(x)
    z = not (y.size > 5) and y * x
    return np.sum(z * z)


CASES = [not_size_or_value, not_flag_in_condition, not_and_value]
POINTS = [np.array([0.5, 1.0]), np.array([[0.3, -1.2, 0.8], [1.1, 0.4, -0.6]])]


@pytest.mark.parametrize('x', POINTS, ids=['vector', 'matrix'])
@pytest.mark.parametrize('function', CASES, ids=lambda f: f.__name__)
def test_not_in_chain_gradient_and_jvp(function, x):
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)
    direction = np.linspace(0.5, -0.75, x.size).reshape(x.shape)
    _, tangent = adcompiler.jvp(function, (x,), (direction,))
    assert tangent == pytest.approx(np.sum(expected * direction))


@pytest.mark.parametrize('mode', COMPOSITIONS)
@pytest.mark.parametrize('function', CASES, ids=lambda f: f.__name__)
def test_not_in_chain_hessian(function, mode):
    x = POINTS[0]
    gradient = adcompiler.grad(function)
    expected = np.array([numerical_gradient(
        lambda v, i=i: gradient(v)[i], (x,), 0, step=1e-5)
        for i in range(x.size)])
    np.testing.assert_allclose(adcompiler.hessian(function, mode=mode)(x),
                               expected, rtol=1e-4, atol=1e-5)


def zscore_weighted(a):
    return np.sum(scipy.stats.zscore(a) * np.arange(3.0))


def test_zscore_reverse_over_reverse_raises_clearly():
    # SciPy's _xp_var passes **kwargs on to _xp_mean, and reverse over
    # reverse does not go through such a call. The default mode works.
    x = np.array([0.3, -1.2, 0.8])
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='call_unpacking'):
        adcompiler.hessian(zscore_weighted, mode='reverse-over-reverse')(x)
    gradient = adcompiler.grad(zscore_weighted)
    expected = np.array([numerical_gradient(
        lambda v, i=i: gradient(v)[i], (x,), 0, step=1e-5) for i in range(3)])
    np.testing.assert_allclose(adcompiler.hessian(zscore_weighted)(x),
                               expected, rtol=1e-4, atol=1e-5)
