"""Each transform runs the statements of the differentiated function once
per evaluation, and SciPy's array-namespace calls are resolved when
compiling.

The functions print a line before their SciPy call; `capsys` counts the
lines. hvp and the reverse Jacobian of a scalar evaluate once, hessian and
the forward Jacobian once per entry of the argument.
"""

import inspect
import re

import numpy as np
import pytest
import scipy.special
import scipy.stats

import adcompiler
from adcompiler.rules.scipy import _numpy_namespace_check
from finite_differences import assert_gradient_close, numerical_gradient

try:
    from scipy._lib import _array_api
except ImportError:  # pragma: no cover - moved in other SciPy releases
    _array_api = None

MARK = 'evaluated'


def plain_sum(x):
    print(MARK)
    return np.sum(np.sin(x) * x)


def standard_scores_cubed(x):
    print(MARK)
    return np.sum(scipy.stats.zscore(x) ** 3 * x)


def standard_scores_rows(x):
    print(MARK)
    return np.sum(scipy.stats.zscore(x, axis=1) * np.cos(x))


def geometric_mean_scaled(x):
    print(MARK)
    return scipy.stats.gmean(x) * np.sum(x * x)


def geometric_mean_rows(x):
    print(MARK)
    return np.sum(scipy.stats.gmean(x, axis=1) ** 2)


VECTOR = np.array([0.3, 1.2, 0.7, 2.0])
MATRIX = np.array([[0.4, 1.1, 0.9], [1.6, 0.5, 2.2]])

CASES = [
    pytest.param(plain_sum, VECTOR, id='numpy'),
    pytest.param(standard_scores_cubed, VECTOR, id='zscore'),
    pytest.param(standard_scores_rows, MATRIX, id='zscore-rows'),
    pytest.param(geometric_mean_scaled, VECTOR, id='gmean'),
    pytest.param(geometric_mean_rows, MATRIX, id='gmean-rows'),
]


def count_marks(capsys):
    return capsys.readouterr().out.split().count(MARK)


def direction_like(x):
    return np.linspace(0.5, -0.75, x.size).reshape(x.shape)


def gradient_difference(function, x, direction, step=1e-6):
    """H v by central differences of the generated gradient."""
    gradient = adcompiler.grad(function)
    return (gradient(x + step * direction)
            - gradient(x - step * direction)) / (2 * step)


def numerical_hessian(function, x, step=1e-5):
    gradient = adcompiler.grad(function)
    columns = []
    for index in np.ndindex(x.shape):
        direction = np.zeros_like(x)
        direction[index] = 1.0
        columns.append(((gradient(x + step * direction)
                         - gradient(x - step * direction))
                        / (2 * step)).ravel())
    return np.stack(columns, axis=-1).reshape(x.shape + x.shape)


@pytest.mark.parametrize('function, x', CASES)
def test_grad_runs_statements_once(function, x, capsys):
    capsys.readouterr()
    gradient = adcompiler.grad(function)(x)
    assert count_marks(capsys) == 1
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(gradient, expected)


@pytest.mark.parametrize('mode', [None, 'forward-over-reverse',
                                  'reverse-over-forward'])
@pytest.mark.parametrize('function, x', CASES)
def test_hvp_runs_statements_once(function, x, mode, capsys):
    direction = direction_like(x)
    for _ in range(2):  # compiling, then with the compiled code
        capsys.readouterr()
        product = adcompiler.hvp(function, mode=mode)(x, direction)
        assert count_marks(capsys) == 1
    expected = gradient_difference(function, x, direction)
    assert_gradient_close(product, expected, rtol=1e-4)


@pytest.mark.parametrize('function, x', CASES)
def test_hessian_runs_statements_once_per_entry(function, x, capsys):
    capsys.readouterr()
    hessian = adcompiler.hessian(function)(x)
    assert count_marks(capsys) == x.size
    expected = numerical_hessian(function, x)
    assert hessian.shape == x.shape + x.shape
    assert_gradient_close(hessian, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('function, x', CASES)
def test_jacobian_of_scalar_runs_statements_once(function, x, capsys):
    capsys.readouterr()
    jacobian = adcompiler.jacobian(function)(x)
    assert count_marks(capsys) == 1
    capsys.readouterr()
    forward = adcompiler.jacfwd(function)(x)
    assert count_marks(capsys) == x.size
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(jacobian, expected)
    assert_gradient_close(forward, expected)


def scaled_in_place(x):
    print(MARK)
    y = x * 2.0
    y[0] = y[0] * x[1]
    return np.sin(y) * x


def accumulated_in_loop(x):
    print(MARK)
    total = np.zeros(3)
    for i in range(x.shape[0]):
        total = total + x[i] * x
    return total[:2] * np.exp(x[:2])


@pytest.mark.parametrize('function, x', [
    pytest.param(scaled_in_place, np.array([0.5, -1.2, 0.8]), id='in-place'),
    pytest.param(accumulated_in_loop, np.array([0.3, 0.9, -0.4]),
                 id='loop'),
])
def test_jacobian_of_vector_matches_differences(function, x, capsys):
    capsys.readouterr()
    jacobian = adcompiler.jacobian(function)(x)
    output_size = np.size(function(x))
    runs = count_marks(capsys) - 1  # the call just above
    # One run, or one per row when the adjoint undoes in-place updates.
    assert runs in (1, output_size)
    columns = []
    step = 1e-6
    for index in range(x.size):
        shift = np.zeros_like(x)
        shift[index] = step
        columns.append((function(x + shift) - function(x - shift))
                       / (2 * step))
    expected = np.stack(columns, axis=-1)
    assert jacobian.shape == (output_size, x.size)
    assert_gradient_close(jacobian, expected)
    for row in range(output_size):
        cotangent = np.zeros(output_size)
        cotangent[row] = 1.0
        _, vjp_fn = adcompiler.vjp(function, x)
        assert_gradient_close(vjp_fn(cotangent)[0], jacobian[row])


# A helper with a return inside try, which adcompiler does not transform.
# Its result only picks a branch, so reverse over forward mode leaves it as
# written. Forward mode over the generated gradient needs it differentiated,
# and raises only when that branch runs.

def positive_first(x):
    try:
        return bool(x[0] > 0)
    except TypeError:
        return False


def branch_on_helper(x):
    print(MARK)
    y = x * 2.0
    if x[0] > -100.0:
        if positive_first(x):
            y = y * 3.0
    return np.sum(y * y * x)


def test_hvp_skips_forward_over_reverse_after_it_raised(capsys):
    x = np.array([0.5, 1.0, 2.0])
    direction = np.array([1.0, -0.5, 0.25])
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='inside a try statement'):
        adcompiler.hvp(branch_on_helper, mode='forward-over-reverse')(
            x, direction)
    product = adcompiler.hvp(branch_on_helper)(x, direction)
    expected = gradient_difference(branch_on_helper, x, direction)
    assert_gradient_close(product, expected, rtol=1e-4)
    capsys.readouterr()
    again = adcompiler.hvp(branch_on_helper)(x, direction)
    assert count_marks(capsys) == 1
    assert_gradient_close(again, expected, rtol=1e-4)


# scipy._lib._array_api.array_namespace returns array_api_compat's NumPy
# namespace for NumPy input, so `xp.sum(...)` after `xp =
# array_namespace(x)` is compiled as a call of that namespace's `sum`.

needs_np_compat = pytest.mark.skipif(
    getattr(_array_api, 'np_compat', None) is None,
    reason=f'SciPy {scipy.__version__} has no _array_api.np_compat')

WEIGHTS = np.arange(1.0, 7.0)


def weighted_softmax(x):
    return np.sum(WEIGHTS[:x.shape[-1]] * scipy.special.softmax(x, axis=-1))


def weighted_log_softmax(x):
    return np.sum(WEIGHTS[:x.shape[-1]]
                  * scipy.special.log_softmax(x, axis=-1))


def entropy_base_two(x):
    return np.sum(scipy.stats.entropy(x * x + 0.1, base=2.0, axis=-1))


def log_sum_exp_rows(x):
    return np.sum(np.cos(scipy.special.logsumexp(x, axis=-1)))


NAMESPACE_CASES = [weighted_softmax, weighted_log_softmax, entropy_base_two,
                   log_sum_exp_rows]


def _assigns_namespace_once(library_function):
    """Return a mark that skips a test where the SciPy function does not
    assign `xp = array_namespace(...)` unconditionally, as SciPy 1.17 does
    (SciPy 1.15's softmax uses NumPy directly, and its entropy chooses
    between two calls)."""
    source = inspect.getsource(inspect.unwrap(library_function))
    found = re.search(r'^\s*xp = array_namespace\([^()]*\)\s*$', source,
                      re.MULTILINE)
    return pytest.mark.skipif(
        found is None,
        reason=f'SciPy {scipy.__version__}\'s {library_function.__name__} '
               'does not assign xp = array_namespace(...) once')


@needs_np_compat
@pytest.mark.parametrize('x', [
    pytest.param(np.array([0.2, -0.7, 1.1, 0.4]), id='vector'),
    pytest.param(np.array([[0.2, -0.7, 1.1], [0.9, 0.3, -0.5]]),
                 id='matrix'),
])
@pytest.mark.parametrize('function', NAMESPACE_CASES,
                         ids=lambda f: f.__name__)
def test_namespace_calls_match_differences(function, x):
    gradient = adcompiler.grad(function)(x)
    assert_gradient_close(gradient, numerical_gradient(function, (x,), 0))
    hessian = adcompiler.hessian(function)(x)
    assert_gradient_close(hessian, numerical_hessian(function, x),
                          rtol=1e-4, atol=1e-5)


@needs_np_compat
@pytest.mark.parametrize('function', [
    pytest.param(weighted_softmax,
                 marks=_assigns_namespace_once(scipy.special.softmax)),
    pytest.param(weighted_log_softmax,
                 marks=_assigns_namespace_once(scipy.special.log_softmax)),
    pytest.param(entropy_base_two,
                 marks=_assigns_namespace_once(scipy.stats.entropy)),
], ids=lambda f: f.__name__)
def test_namespace_calls_resolved_when_compiling(function):
    gradient = adcompiler.grad(function)
    gradient(np.array([0.2, -0.7, 1.1]))
    source = gradient.source
    assert 'require_numpy_namespace(xp)' in source
    assert ' = xp_sum(' in source
    # A call dispatched when it runs passes the namespace as receiver.
    assert re.search(r'call_method\(\w+, xp\b', source) is None


@needs_np_compat
def test_namespace_check_rejects_other_namespace():
    compat = _array_api.np_compat
    check = _numpy_namespace_check(compat)
    with pytest.raises(adcompiler.UnsupportedOptionError,
                       match="'marray.numpy'"):
        check(type(compat)('marray.numpy'))
    assert check(compat) is None


@needs_np_compat
@_assigns_namespace_once(scipy.special.log_softmax)
def test_known_class_method_resolved_when_compiling():
    gradient = adcompiler.grad(weighted_log_softmax)
    gradient(np.array([0.2, -0.7, 1.1]))
    source = gradient.source
    # log_softmax calls xpx.at(x_max, mask).set(0) on an instance of `at`.
    assert ' = at_set(' in source
    assert 'call_method(' not in source
