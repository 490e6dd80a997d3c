"""Library code differentiated as installed: SciPy functions and the
constructs around their arithmetic.

SciPy functions open with array-API bookkeeping (`xp = array_namespace(x)`,
`xp_promote`, keyword-only arguments, validation that raises) and call NumPy
through the namespace held in `xp`. Each gradient here is compared with
SciPy's own derivative where it has one, and with central differences.
"""

import numpy as np
import pytest
import scipy.optimize
import scipy.special
import scipy.stats
from scipy._lib import array_api_extra as xpx

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def random_vector(size, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=size)


def assert_close_to(computed, expected, rtol=1e-10):
    """Check agreement with an analytic reference, relative to its scale."""
    assert np.shape(computed) == np.shape(expected)
    scale = 1.0 + np.max(np.abs(expected))
    assert np.max(np.abs(computed - expected)) <= rtol * scale


# scipy.optimize.rosen ---------------------------------------------------------

@pytest.mark.parametrize('size', [2, 10, 10000])
def test_rosen_gradient_matches_rosen_der(size):
    x = random_vector(size)
    assert_close_to(adcompiler.grad(scipy.optimize.rosen)(x),
                    scipy.optimize.rosen_der(x))


@pytest.mark.parametrize('size', [2, 10])
def test_rosen_gradient_matches_finite_differences(size):
    x = random_vector(size, seed=1)
    expected = numerical_gradient(scipy.optimize.rosen, (x,), 0)
    assert_gradient_close(adcompiler.grad(scipy.optimize.rosen)(x), expected,
                          rtol=1e-6, atol=1e-4)


def test_rosen_gradient_at_10000_matches_finite_differences():
    # 20,000 evaluations for every component would take long; a directional
    # derivative checks all of them at once.
    x = random_vector(10000, seed=2)
    direction = random_vector(10000, seed=3)
    step = 1e-6
    estimate = (scipy.optimize.rosen(x + step * direction)
                - scipy.optimize.rosen(x - step * direction)) / (2 * step)
    computed = adcompiler.grad(scipy.optimize.rosen)(x) @ direction
    assert abs(computed - estimate) <= 1e-6 * (1.0 + abs(estimate))


@pytest.mark.parametrize('size', [2, 10])
def test_rosen_hessian_matches_rosen_hess(size):
    x = random_vector(size, seed=4)
    assert_close_to(adcompiler.hessian(scipy.optimize.rosen)(x),
                    scipy.optimize.rosen_hess(x))


def test_rosen_hessian_at_10000_matches_rosen_hess_prod():
    # The dense Hessian at 10,000 would take 800 MB and 10,000 products;
    # Hessian-vector products check the same matrix along a few directions.
    x = random_vector(10000, seed=5)
    product = adcompiler.hvp(scipy.optimize.rosen)
    for seed in (6, 7):
        direction = random_vector(10000, seed=seed)
        assert_close_to(product(x, direction),
                        scipy.optimize.rosen_hess_prod(x, direction))


def test_rosen_value_and_grad_keeps_value():
    x = random_vector(10, seed=8)
    value, _ = adcompiler.value_and_grad(scipy.optimize.rosen)(x)
    assert value == scipy.optimize.rosen(x)


# scipy.special ------------------------------------------------------------------

def softmax_weights(a, b=None, axis=None):
    """The gradient of logsumexp(a, b=b, axis=axis) with respect to a."""
    weighted = np.exp(a) if b is None else b * np.exp(a)
    return weighted / np.sum(weighted, axis=axis, keepdims=True)


def logsumexp_plain(a):
    return scipy.special.logsumexp(a)


def logsumexp_weighted(a, b):
    return scipy.special.logsumexp(a, b=b)


def logsumexp_rows(a, c):
    return np.sum(c * scipy.special.logsumexp(a, axis=1))


def logsumexp_rows_keepdims(a, c):
    return np.sum(c * scipy.special.logsumexp(a, axis=1, keepdims=True))


A = random_vector(5, seed=9)
B = random_vector(5, seed=10, low=0.5, high=2.0)
M = random_vector(12, seed=11).reshape(3, 4)
C = np.array([0.5, -1.0, 2.0])


def test_logsumexp_gradient_is_softmax():
    assert_close_to(adcompiler.grad(logsumexp_plain)(A), softmax_weights(A))


def test_logsumexp_weights_gradient_is_weighted_softmax():
    gradient = adcompiler.grad(logsumexp_weighted)(A, B)
    assert_close_to(gradient, softmax_weights(A, B))


@pytest.mark.parametrize('function, reshape', [
    pytest.param(logsumexp_rows, C, id='axis'),
    pytest.param(logsumexp_rows_keepdims, C[:, None], id='keepdims'),
])
def test_logsumexp_axis_gradient_is_row_softmax(function, reshape):
    gradient = adcompiler.grad(function)(M, reshape)
    expected = C[:, None] * softmax_weights(M, axis=1)
    assert_close_to(gradient, expected)


@pytest.mark.parametrize('function, args', [
    pytest.param(logsumexp_plain, (A,), id='plain'),
    pytest.param(logsumexp_weighted, (A, B), id='weights'),
    pytest.param(logsumexp_rows, (M, C), id='axis'),
    pytest.param(logsumexp_rows_keepdims, (M, C[:, None]), id='keepdims'),
])
def test_logsumexp_matches_finite_differences(function, args):
    expected = numerical_gradient(function, args, 0)
    assert_gradient_close(adcompiler.grad(function)(*args), expected)


B_WITH_ZERO = np.array([1.5, 0.0, 0.7, 2.0, 0.3])
LOGSUMEXP_CASES = [
    pytest.param(logsumexp_plain, (A,), id='plain'),
    pytest.param(logsumexp_weighted, (A, B), id='weights'),
    pytest.param(logsumexp_weighted, (A, B_WITH_ZERO), id='zero-weight'),
    pytest.param(logsumexp_rows, (M, C), id='axis'),
    pytest.param(logsumexp_rows_keepdims, (M, C[:, None]), id='keepdims'),
]


def difference_along(function, args, direction, step=1e-6):
    """Central difference of `function` when args[0] moves along `direction`."""
    def moved(epsilon):
        return np.asarray(function(args[0] + epsilon * direction, *args[1:]))
    return (moved(step) - moved(-step)) / (2 * step)


@pytest.mark.parametrize('function, args', LOGSUMEXP_CASES)
def test_logsumexp_jvp_matches_finite_differences(function, args):
    direction = random_vector(np.shape(args[0]), seed=13)
    tangents = (direction,) + (None,) * (len(args) - 1)
    value, tangent = adcompiler.jvp(function, args, tangents)
    assert value == pytest.approx(function(*args), rel=1e-12)
    expected = difference_along(function, args, direction)
    assert tangent == pytest.approx(expected, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize('mode', [None, 'forward-over-reverse',
                                  'reverse-over-forward',
                                  'reverse-over-reverse'])
@pytest.mark.parametrize('function, args', LOGSUMEXP_CASES)
def test_logsumexp_hvp_matches_gradient_differences(function, args, mode):
    direction = random_vector(np.shape(args[0]), seed=14)
    product = adcompiler.hvp(function, mode=mode)(*args, direction)
    expected = difference_along(adcompiler.grad(function), args, direction)
    assert_gradient_close(product, expected)


def test_logsumexp_hessian_matches_gradient_differences():
    gradient = adcompiler.grad(logsumexp_plain)
    expected = np.array([numerical_gradient(lambda a: gradient(a)[row],
                                            (A,), 0)
                         for row in range(A.size)])
    assert_gradient_close(adcompiler.hessian(logsumexp_plain)(A), expected)


WEIGHTS = np.array([1.0, 2.0, -0.5, 0.25, 3.0])


def weighted_softmax(x):
    return np.sum(WEIGHTS * scipy.special.softmax(x))


def weighted_log_softmax(x):
    return np.sum(WEIGHTS * scipy.special.log_softmax(x))


def weighted_softmax_rows(x):
    return np.sum(M * scipy.special.softmax(x, axis=1))


def test_softmax_in_weighted_sum_matches_analytic():
    s = scipy.special.softmax(A)
    expected = s * (WEIGHTS - np.sum(WEIGHTS * s))
    assert_close_to(adcompiler.grad(weighted_softmax)(A), expected)


@pytest.mark.parametrize('function, x', [
    pytest.param(weighted_softmax, A, id='vector'),
    pytest.param(weighted_softmax_rows, random_vector(12, 12).reshape(3, 4),
                 id='rows'),
])
def test_softmax_matches_finite_differences(function, x):
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)


def test_softmax_hessian_matches_finite_differences():
    gradient = adcompiler.grad(weighted_softmax)
    expected = np.array([numerical_gradient(lambda x: gradient(x)[row], (A,), 0)
                         for row in range(A.size)])
    hessian = adcompiler.hessian(weighted_softmax)(A)
    assert_gradient_close(hessian, expected)


def test_log_softmax_in_weighted_sum_matches_analytic():
    expected = WEIGHTS - np.sum(WEIGHTS) * scipy.special.softmax(A)
    assert_close_to(adcompiler.grad(weighted_log_softmax)(A), expected)


def test_log_softmax_matches_finite_differences():
    expected = numerical_gradient(weighted_log_softmax, (A,), 0)
    assert_gradient_close(adcompiler.grad(weighted_log_softmax)(A), expected)


# scipy.stats.entropy ------------------------------------------------------------

def entropy_bits(p):
    return scipy.stats.entropy(p, base=2.0)


def entropy_nats(p):
    return scipy.stats.entropy(p)


P = np.array([0.2, 0.3, 0.5])


@pytest.mark.parametrize('function, base', [
    pytest.param(entropy_nats, np.e, id='nats'),
    pytest.param(entropy_bits, 2.0, id='bits'),
])
def test_entropy_gradient_matches_analytic(function, base):
    # entropy normalizes p first: H = -sum(q log q) with q = p / sum(p).
    q = P / np.sum(P)
    h = -np.sum(q * np.log(q))
    expected = -(np.log(q) + h) / np.sum(P) / np.log(base)
    assert_close_to(adcompiler.grad(function)(P), expected)


@pytest.mark.parametrize('function', [entropy_nats, entropy_bits])
def test_entropy_matches_finite_differences(function):
    expected = numerical_gradient(function, (P,), 0)
    assert_gradient_close(adcompiler.grad(function)(P), expected)


# Inactive code kept verbatim ------------------------------------------------------

UNITS = {'m': 1.0, 'km': 1000.0, 'mm': 0.001}


def scaled_energy(x, unit):
    try:
        scale = UNITS[unit]
    except KeyError:
        known = ', '.join(sorted(name for name in UNITS))
        raise ValueError(f'unknown unit {unit!r}; expected one of {known}')
    others = [name.upper() for name in UNITS if name != unit]
    label = f'{unit} (not {", ".join(others)})'
    if len(label) > 80:
        raise ValueError(f'label {label!r} is too long')
    return scale * np.sum(x ** 2) + np.sum(np.sin(x))


@pytest.mark.parametrize('unit', ['m', 'km'])
@pytest.mark.parametrize('x', [
    pytest.param(np.array(0.7), id='scalar'),
    pytest.param(random_vector(4, 13), id='vector'),
    pytest.param(random_vector(6, 14).reshape(2, 3), id='matrix'),
])
def test_inactive_bookkeeping_runs_as_written(x, unit):
    expected = numerical_gradient(scaled_energy, (x, unit), 0)
    assert_gradient_close(adcompiler.grad(scaled_energy)(x, unit), expected,
                          rtol=1e-5, atol=1e-3)


def test_inactive_raise_still_raises():
    with pytest.raises(ValueError, match='unknown unit'):
        adcompiler.grad(scaled_energy)(np.ones(3), 'inch')


def doubled_by_comprehension(x):
    values = [v * 2.0 for v in x]
    return np.sum(np.array(values))


def test_active_comprehension_differentiates():
    x = np.array([0.5, -1.0, 2.0])
    expected = numerical_gradient(doubled_by_comprehension, (x,), 0)
    assert_gradient_close(adcompiler.grad(doubled_by_comprehension)(x),
                          expected)


def copies_in_comprehension(x):
    y = np.zeros(3)
    _ = [np.copyto(y, x * k) for k in (1.0, 2.0)]
    return np.sum(y)


def test_foreign_update_of_used_array_is_rejected():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(copies_in_comprehension)(np.ones(3))
    assert 'numpy.copyto' in str(info.value)
    assert info.value.lineno == copies_in_comprehension.__code__.co_firstlineno + 2


# Namespaces held in variables ------------------------------------------------------

def namespace_local(x):
    xp = np
    return xp.sum(xp.exp(x) * x, axis=0)


def namespace_parameter(x, xp):
    return xp.sum(xp.exp(x) * x)


def constant_array_method(x):
    c = np.linspace(1.0, 2.0, 3)
    return c.dot(x) + np.sum(c.sum(keepdims=True) * x)


@pytest.mark.parametrize('function, args', [
    pytest.param(namespace_local, (random_vector(3, 15),), id='local'),
    pytest.param(namespace_parameter, (random_vector(3, 16), np),
                 id='parameter'),
    pytest.param(constant_array_method, (random_vector(3, 17),),
                 id='constant_array'),
])
def test_namespace_call_matches_finite_differences(function, args):
    expected = numerical_gradient(function, args, 0)
    assert_gradient_close(adcompiler.grad(function)(*args), expected)


def test_namespace_call_forward_mode():
    x = random_vector(3, 18)
    direction = random_vector(3, 19)
    _, tangent = adcompiler.jvp(namespace_local, (x,), (direction,))
    expected = numerical_gradient(namespace_local, (x,), 0) @ direction
    assert abs(tangent - expected) <= 1e-6


def masked_update(x, y):
    z = x * 2.0
    w = xpx.at(z, z > 1.0).set(y)
    return np.sum(w * x)


@pytest.mark.parametrize('position', [0, 1])
def test_at_set_matches_finite_differences(position):
    args = (np.array([0.3, 0.8, 1.4]), 0.7)
    expected = numerical_gradient(masked_update, args, position)
    computed = adcompiler.grad(masked_update, wrt=position)(*args)
    assert_gradient_close(computed, expected)


LARGE_MAGNITUDE = [np.array([-1000.3, -1001.2]), np.array([700.0, 710.0]),
                   np.array([0.3, -1.2, 0.7, 2.0]) * 1e3]


@pytest.mark.parametrize('x', LARGE_MAGNITUDE, ids=['very-negative',
                                                   'very-positive', 'spread'])
def test_logsumexp_large_magnitude_gradient_is_softmax(x):
    """SciPy's code computes log(sum(exp(a))) for a branch it discards;
    the rule for logsumexp keeps the gradient finite where that sum
    underflows or overflows."""
    expected = softmax_weights(x - np.max(x))
    gradient = adcompiler.grad(logsumexp_plain)(x)
    assert_close_to(gradient, expected)
    _, tangent = adcompiler.jvp(logsumexp_plain, (x,), (np.ones_like(x),))
    assert tangent == pytest.approx(1.0, rel=1e-12)
    product = adcompiler.hvp(logsumexp_plain)(x, np.ones_like(x))
    assert np.all(np.isfinite(product))
