"""Rules of scipy.special functions, against central differences.

Each function is checked in reverse mode (grad), forward mode (jvp) and
forward over reverse (hessian) on several shapes. The binary ones are
also checked with broadcasting operands.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

special = pytest.importorskip('scipy.special')

# Each maps x (any real values) to the function's domain, so that one table
# of inputs serves them all.
UNARY = {
    'expit': lambda x: special.expit(3.0 * x),
    'logit': lambda x: special.logit(0.5 + 0.4 * np.tanh(x)),
    'log_expit': lambda x: special.log_expit(3.0 * x),
    'erf': lambda x: special.erf(x),
    'erfc': lambda x: special.erfc(x),
    'erfcx': lambda x: special.erfcx(x),
    'erfinv': lambda x: special.erfinv(0.9 * np.tanh(x)),
    'erfcinv': lambda x: special.erfcinv(1.0 + 0.9 * np.tanh(x)),
    'ndtr': lambda x: special.ndtr(2.0 * x),
    'log_ndtr': lambda x: special.log_ndtr(2.0 * x),
    'ndtri': lambda x: special.ndtri(0.5 + 0.4 * np.tanh(x)),
    'gammaln': lambda x: special.gammaln(x ** 2 + 0.5),
    'gamma': lambda x: special.gamma(x ** 2 + 0.5),
    'digamma': lambda x: special.digamma(x ** 2 + 0.5),
    'psi': lambda x: special.psi(x ** 2 + 0.5),
    'polygamma': lambda x: special.polygamma(2, x ** 2 + 0.5),
}
if hasattr(special, 'softplus'):
    UNARY['softplus'] = lambda x: special.softplus(3.0 * x)

BINARY = {
    'xlogy': lambda x, y: special.xlogy(x, y ** 2 + 0.5),
    'xlog1py': lambda x, y: special.xlog1py(x, y ** 2),
}

SHAPES = [(), (4,), (2, 3)]


def _point(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1.5, 1.5, size=shape)


def _check_all_modes(objective, args, position):
    expected = numerical_gradient(objective, args, position)
    gradient = adcompiler.grad(objective, wrt=position)(*args)
    assert_gradient_close(gradient, expected)
    direction = np.linspace(0.5, 1.5, np.size(args[position])).reshape(
        np.shape(args[position]))
    tangents = tuple(direction if i == position else np.zeros_like(a)
                     for i, a in enumerate(args))
    _, tangent = adcompiler.jvp(objective, args, tangents)
    assert tangent == pytest.approx(np.sum(expected * direction), rel=1e-5,
                                    abs=1e-7)


@pytest.mark.parametrize('name', sorted(UNARY))
@pytest.mark.parametrize('shape', SHAPES, ids=str)
def test_unary_special_matches_differences(name, shape):
    function = UNARY[name]

    def objective(x):
        return np.sum(function(x) * np.cos(x))

    _check_all_modes(objective, (_point(shape),), 0)


@pytest.mark.parametrize('name', sorted(UNARY))
def test_unary_special_hessian(name):
    function = UNARY[name]

    def objective(x):
        return np.sum(function(x) * np.cos(x))

    x = _point((3,), seed=1)
    hessian = adcompiler.hessian(objective)(x)
    gradient = adcompiler.grad(objective)
    step = 1e-5
    expected = np.array([(gradient(x + step * e) - gradient(x - step * e))
                         / (2 * step) for e in np.eye(3)])
    np.testing.assert_allclose(hessian, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('name', sorted(BINARY))
@pytest.mark.parametrize('x_shape, y_shape', [
    ((), ()), ((4,), (4,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (3,))],
    ids=str)
@pytest.mark.parametrize('position', [0, 1])
def test_binary_special_matches_differences(name, x_shape, y_shape,
                                            position):
    function = BINARY[name]

    def objective(x, y):
        return np.sum(function(x, y) * 1.5)

    _check_all_modes(objective, (_point(x_shape), _point(y_shape, seed=2)),
                     position)


@pytest.mark.parametrize('name', sorted(BINARY))
def test_binary_special_zero_x_has_zero_y_derivative(name):
    """xlogy(0, y) is 0 for every y, so the derivative in y is 0 there,
    not 0 / y (nan at y = 0)."""
    x = np.array([0.0, 0.5])
    y = np.array([0.0, 0.5])
    function = getattr(special, name)

    def objective(y):
        return np.sum(function(x, y))

    gradient = adcompiler.grad(objective)(y)
    assert gradient[0] == 0.0
    assert np.isfinite(gradient[1])


@pytest.mark.parametrize('name', ['expit', 'log_expit', 'softplus', 'erf',
                                  'ndtr', 'log_ndtr'])
def test_far_tail_second_derivative_finite(name):
    """Where exp(-x) overflows the second derivative of softplus was
    inf / inf; every sigmoid-like rule must stay finite in the tails."""
    if not hasattr(special, name):
        pytest.skip(f'scipy.special.{name} is missing')
    function = getattr(special, name)

    def objective(x):
        return np.sum(function(x))

    x = np.array([-800.0, -40.0, 40.0, 800.0])
    hessian = adcompiler.hessian(objective)(x)
    assert np.all(np.isfinite(hessian))
    assert np.all(np.isfinite(adcompiler.grad(objective)(x)))
