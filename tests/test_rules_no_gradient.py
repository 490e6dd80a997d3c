"""Callables registered without a gradient, given values that carry one.

A callable registered as non-differentiable passes no adjoint to its
arguments. That is right only when its result does not depend continuously
on a float value of any argument: the result is piecewise constant (floor,
comparisons, argmax) or reads only shapes and types (np.zeros_like, len).
Each case here passes a float that carries a derivative to every parameter
of the callees it lists that accepts a float, and compares grad and jvp with
central differences at points away from the jumps. Parameters that accept
no float are listed with a call that shows NumPy, SciPy or Python
raising an error for one. `test_every_no_gradient_callable_has_a_case` fails when
a registration has neither.

np.arange and the fftfreq functions used to be registered this way, but
their samples are linear in start and step and in 1 / d. They have rules
now, checked at the end of this file.
"""

import builtins
import math
import operator

import numpy as np
import pytest
import scipy.special  # noqa: F401  (registers the SciPy rules)
import scipy.stats  # noqa: F401  (registers the SciPy rules)
from scipy._lib import _array_api
try:  # SciPy 1.18.1 vendors it under scipy._external.
    from scipy._external.array_api_compat import numpy as compat_numpy
    from scipy._external.array_api_compat.common import (
        _helpers as compat_helpers)
except ImportError:
    from scipy._lib.array_api_compat import numpy as compat_numpy
    from scipy._lib.array_api_compat.common import _helpers as compat_helpers

import adcompiler
from adcompiler.rules import NON_DIFFERENTIABLE, REGISTRY
from finite_differences import assert_gradient_close, numerical_gradient

X = np.array([0.31, -1.27, 0.83, 2.16])
W = np.array([0.7, 1.3, -0.4, 0.9])


def check_against_differences(function, x):
    """Compare grad and jvp of `function(x, W)` in x with differences."""
    expected = numerical_gradient(lambda v: function(v, W), (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x, W), expected)

    direction = np.linspace(0.5, -0.75, np.size(x)).reshape(np.shape(x))
    _, tangent = adcompiler.jvp(function, (x, W), (direction, None))
    np.testing.assert_allclose(tangent, np.sum(expected * direction),
                               rtol=1e-5, atol=1e-6)


# Piecewise constant results --------------------------------------------------

def rounding(x, w):
    y = x * 1.7
    whole = (np.floor(y) + np.ceil(y) + np.round(y, 1) + np.around(y)
             + np.rint(y) + np.trunc(y) + np.fix(y)
             + np.floor_divide(y, x + 3.0) + np.signbit(y))
    ulp = np.spacing(y) * 1e15
    return np.sum(w * x * whole + w * whole + ulp)


def comparisons(x, w):
    y = x * 0.6 + 0.2
    flags = (np.greater(x, y) + np.greater_equal(x, y) + np.less(x, y)
             + np.less_equal(x, y) + np.equal(x, y) + np.not_equal(x, y)
             + np.logical_and(x, y - 0.5) + np.logical_or(x, y)
             + np.logical_not(x - 0.31) + np.logical_xor(x, y)
             + np.isclose(x, y, rtol=np.abs(x[0]), atol=np.abs(x[1]) * 0.1))
    return np.sum(w * x * flags + w * flags)


def value_predicates(x, w):
    y = x * 2.5
    flags = (np.isnan(y) + np.isinf(y) + np.isfinite(y) + np.isreal(y)
             + np.iscomplex(y) + np.isposinf(y) + np.isneginf(y)
             + np.isin(y, x) + np.array_equiv(x, y)
             + np.allclose(x, y, rtol=np.abs(x[0]), atol=np.abs(x[1]))
             + np.array_equal(x, y) + np.isscalar(y[0])
             + np.iscomplexobj(y) + np.isrealobj(y))
    return np.sum(w * x * flags + w * flags)


def numpy_testing_checks(x, w):
    # The assertions of numpy.testing pass here and return None.
    y = x * 2.0
    np.testing.assert_(np.all(np.isfinite(y)))
    np.testing.assert_allclose(y, x + x)
    np.testing.assert_almost_equal(y, 2.0 * x)
    np.testing.assert_approx_equal(y[0], 2.0 * x[0])
    np.testing.assert_array_almost_equal(y, 2.0 * x)
    np.testing.assert_array_almost_equal_nulp(y, y)
    np.testing.assert_array_equal(y, y)
    np.testing.assert_array_less(y, y + 1.0)
    np.testing.assert_array_max_ulp(y, y)
    np.testing.assert_equal(y, y)
    np.testing.assert_string_equal('label', 'label')
    return np.sum(w * y * x)


def positions(x, w):
    y = x * 1.1
    order = np.sort(x)
    found = (np.argmax(y) + np.argmin(y) + np.argsort(y)[0]
             + np.nonzero(y > 0.5)[0][0] + np.count_nonzero(y - 0.31)
             + np.any(y > 1.0) + np.all(y > -2.0)
             + np.searchsorted(order, y)[1] + np.digitize(y, order)[2]
             + np.argpartition(y, 1)[0] + np.argwhere(y > 0.5)[0, 0]
             + np.flatnonzero(y > 0.5)[0] + np.lexsort((y, x * 2.0))[0]
             + np.nanargmax(y) + np.nanargmin(y))
    return np.sum(w * x * found + w * found)


def array_methods(x, w):
    y = x * 1.1
    found = (y.argmax() + y.argmin() + y.argsort()[1] + y.nonzero()[0][2]
             + y.any() + y.all() + y.round(1)[0] + np.sort(x).searchsorted(y[0])
             + y.argpartition(2)[0])
    return np.sum(w * x * found + w * found)


def shapes_and_types(x, w):
    y = x * 1.3
    count = (np.shape(y)[0] + np.ndim(y) + np.size(y)
             + np.zeros_like(y)[0] + np.ones_like(y)[1] + np.empty_like(y)[:0].size
             + (np.result_type(y, x[0]) == np.float64)
             + (np.dtype(y.dtype) == np.float64)
             + np.can_cast(y, np.float32, casting='same_kind')
             + np.issubdtype(y.dtype, np.floating)
             + (np.promote_types(y.dtype, np.float32) == np.float64)
             + np.broadcast_shapes(np.shape(y), (1,))[0])
    return np.sum(w * x * count + w * count)


def index_builders(x, w):
    # k is the diagonal offset: NumPy accepts a float and compares with it.
    k = x[0] * 2.0
    count = (np.tri(3, 4, k)[1, 2] + np.tril_indices(3, k)[0].size
             + np.triu_indices(3, k)[1].size
             + np.diag_indices(x[2] * 4.0)[0].size
             + np.linalg.matrix_rank(np.outer(x, x), tol=np.abs(x[1])))
    return np.sum(w * x * count + w * count)


def random_integers(x, w):
    np.random.seed(5)
    state = np.random.get_state(legacy=x[0])
    drawn = np.random.randint(x[1] - 1.0, x[3] + 4.0) + len(state)
    return np.sum(w * x * drawn)


def generator_integers(x, w):
    rng = np.random.default_rng(5)
    drawn = rng.integers(x[1] - 1.0, x[3] + 4.0)
    return np.sum(w * x * drawn)


def python_operators(x, w):
    a = x[0] * 3.0
    count = (operator.floordiv(a, 0.7) + operator.not_(a) + int(a) + bool(a)
             + round(a) + round(a, 1) + len(str(type(a))) + (repr(a) != '')
             + (str(a) != '') + isinstance(a, float) + hasattr(a, 'real')
             + issubclass(type(a), float) + callable(a) + any([a > 0.0])
             + all([a > 0.0]) + (hash(a) - hash(a)) + (id(a) - id(a))
             + len(x))
    print(a, end='' if a > 0.0 else '\n', file=None)
    return np.sum(w * x * count + w * count)


def set_membership(x, w):
    a = x[0] * 3.0
    seen = set()
    set.add(seen, a)
    found = set.__contains__(seen, a)
    set.discard(seen, x[1])
    set.remove(seen, a)
    return np.sum(w * x * found)


def dict_membership(x, w):
    table = {'a': x[0] * 3.0}
    found = dict.__contains__(table, 'a')
    return np.sum(w * x * found)


def sequence_positions(x, w):
    items = [x[0] * 3.0, x[1], x[2] * 2.0]
    pair = (x[3], x[0] * 3.0)
    found = (items.index(x[1]) + items.count(x[2] * 2.0)
             + pair.index(items[0]) + pair.count(x[3]))
    return np.sum(w * x * found) + items[items.index(x[1])] * 5.0


def dict_float_keys(x, w):
    table = {x[0] * 2.0: 1.0}
    key = list(dict.keys(table))[0]
    return np.sum(w * key)


def math_predicates(x, w):
    a = float(x[0]) * 3.0
    b = float(x[2])
    count = (math.floor(a) + math.ceil(a) + math.trunc(a) + math.isnan(a)
             + math.isinf(a) + math.isfinite(a)
             + math.isclose(a, b, rel_tol=abs(b), abs_tol=abs(a) * 0.1))
    return np.sum(w * x * count + w * count)


def scipy_namespace(x, w):
    y = x * 1.3
    xp = _array_api.array_namespace(y)
    dtype = _array_api.xp_result_type(y, x, xp=xp)
    count = _array_api.is_marray(xp) + (dtype == np.float64)
    return np.sum(w * x * count + w * count)


def scipy_compat_helpers(x, w):
    y = x * 1.3
    xp = compat_helpers.array_namespace(y)
    count = ((_array_api.array_namespace(y) is xp)
             + compat_helpers.size(y) + (compat_helpers.device(y) == 'cpu')
             + compat_helpers.is_numpy_namespace(xp)
             + compat_helpers.is_torch_array(y)
             + compat_helpers.is_jax_namespace(xp)
             + compat_helpers.is_cupy_namespace(xp)
             + compat_helpers.is_array_api_obj(y)
             + compat_helpers.is_array_api_strict_namespace(xp)
             + compat_helpers.is_torch_namespace(xp)
             + compat_helpers.is_dask_namespace(xp))
    return np.sum(w * x * count + w * count)


def scipy_compat_functions(x, w):
    y = x * 1.7
    whole = (compat_numpy.ceil(y) + compat_numpy.floor(y)
             + compat_numpy.trunc(y) + compat_numpy.count_nonzero(y - 0.31)
             + compat_numpy.zeros_like(y) + compat_numpy.ones_like(y)
             + compat_numpy.empty_like(y)[:0].size
             + compat_numpy.argsort(y) + compat_numpy.nonzero(y > 0.5)[0][0]
             + compat_numpy.finfo(y.dtype).bits)
    return np.sum(w * x * whole + w * whole)


# (function, callees it passes a float that carries a derivative)
PIECEWISE_CONSTANT_CASES = [
    (rounding, (np.floor, np.ceil, np.round, np.around, np.rint, np.trunc,
                np.fix, np.floor_divide, np.signbit, np.spacing)),
    (comparisons, (np.greater, np.greater_equal, np.less, np.less_equal,
                   np.equal, np.not_equal, np.logical_and, np.logical_or,
                   np.logical_not, np.logical_xor, np.isclose)),
    (value_predicates, (np.isnan, np.isinf, np.isfinite, np.isreal,
                        np.iscomplex, np.isposinf, np.isneginf, np.isin,
                        np.array_equiv, np.allclose, np.array_equal,
                        np.isscalar, np.iscomplexobj, np.isrealobj)),
    (numpy_testing_checks, (
        np.testing.assert_, np.testing.assert_allclose,
        np.testing.assert_almost_equal, np.testing.assert_approx_equal,
        np.testing.assert_array_almost_equal,
        np.testing.assert_array_almost_equal_nulp,
        np.testing.assert_array_equal, np.testing.assert_array_less,
        np.testing.assert_array_max_ulp, np.testing.assert_equal,
        np.testing.assert_string_equal)),
    (positions, (np.argmax, np.argmin, np.argsort, np.nonzero,
                 np.count_nonzero, np.any, np.all, np.searchsorted,
                 np.digitize, np.argpartition, np.argwhere, np.flatnonzero,
                 np.lexsort, np.nanargmax, np.nanargmin)),
    (array_methods, ('argmax', 'argmin', 'argsort', 'nonzero', 'any', 'all',
                     'round', 'searchsorted', 'argpartition')),
    (shapes_and_types, (np.shape, np.ndim, np.size, np.zeros_like,
                        np.ones_like, np.empty_like, np.result_type,
                        np.dtype, np.can_cast, np.issubdtype,
                        np.promote_types, np.broadcast_shapes)),
    (index_builders, (np.tri, np.tril_indices, np.triu_indices,
                      np.diag_indices, np.linalg.matrix_rank)),
    (random_integers, (np.random.seed, np.random.get_state,
                       np.random.randint)),
    (generator_integers, (np.random.Generator.integers,)),
    (python_operators, (operator.floordiv, operator.not_, builtins.int,
                        builtins.bool, builtins.round, builtins.str,
                        builtins.repr, builtins.type, builtins.isinstance,
                        builtins.hasattr, builtins.issubclass,
                        builtins.callable, builtins.any, builtins.all,
                        builtins.hash, builtins.id, builtins.len,
                        builtins.print)),
    (set_membership, (set.add, set.__contains__, set.discard, set.remove)),
    (dict_membership, (dict.__contains__,)),
    (sequence_positions, (list.index, list.count, tuple.index, tuple.count)),
    (math_predicates, (math.floor, math.ceil, math.trunc, math.isnan,
                       math.isinf, math.isfinite, math.isclose)),
    (scipy_compat_helpers, (
        _array_api.array_namespace, compat_helpers.array_namespace,
        compat_helpers.size,
        compat_helpers.device, compat_helpers.is_numpy_namespace,
        compat_helpers.is_torch_array, compat_helpers.is_jax_namespace,
        compat_helpers.is_cupy_namespace, compat_helpers.is_array_api_obj,
        compat_helpers.is_array_api_strict_namespace,
        compat_helpers.is_torch_namespace, compat_helpers.is_dask_namespace)),
    (scipy_compat_functions, (
        compat_numpy.ceil, compat_numpy.floor, compat_numpy.trunc,
        compat_numpy.count_nonzero, compat_numpy.zeros_like,
        compat_numpy.ones_like, compat_numpy.empty_like,
        compat_numpy.argsort, compat_numpy.nonzero, compat_numpy.finfo)),
]

# SciPy 1.15 has neither xp_result_type nor is_marray; adcompiler registers
# only the functions the installed SciPy has.
if all(hasattr(_array_api, name) for name in ('xp_result_type', 'is_marray')):
    PIECEWISE_CONSTANT_CASES += [
        (scipy_namespace, (_array_api.array_namespace,
                           _array_api.xp_result_type, _array_api.is_marray)),
    ]


def scipy_lazy_check(x, w):
    y = x * 1.3
    count = compat_helpers.is_lazy_array(y) + compat_helpers.is_lazy_array(
        x[0]) + 2
    return np.sum(w * x * count + w * count)


# Older vendored copies of array_api_compat have no is_lazy_array.
if hasattr(compat_helpers, 'is_lazy_array'):
    PIECEWISE_CONSTANT_CASES += [
        (scipy_lazy_check, (compat_helpers.is_lazy_array,)),
    ]


@pytest.mark.parametrize('function', [f for f, _ in PIECEWISE_CONSTANT_CASES],
                         ids=lambda f: f.__name__)
def test_no_gradient_callee_with_float(function):
    check_against_differences(function, X)


@pytest.mark.parametrize('mode', ['reverse-over-forward',
                                  'forward-over-reverse',
                                  'reverse-over-reverse'])
def test_list_index_hessian(mode):
    # The second pass differentiates generated code, where the method
    # call is dispatched when it runs.
    hessian = adcompiler.hessian(lambda x: sequence_positions(x, W),
                                 mode=mode)(X)
    np.testing.assert_array_equal(hessian, np.zeros((4, 4)))


def test_dict_keys_with_float_keys_raise():
    # dict.keys returns keys without a derivative, so a float key that
    # carries one is rejected where the dict is built.
    direction = np.ones_like(X)
    with pytest.raises(adcompiler.UnsupportedSyntaxError, match='dict key'):
        adcompiler.grad(dict_float_keys)(X, W)
    with pytest.raises(adcompiler.UnsupportedSyntaxError, match='dict key'):
        adcompiler.jvp(dict_float_keys, (X, W), (direction, None))


# Callees whose parameters take no float: each call raises (TypeError for
# most), so a value that carries a derivative cannot reach them.
FLOAT_REJECTED = [
    (np.zeros, lambda a: np.zeros(a)),
    (np.ones, lambda a: np.ones(a)),
    (np.empty, lambda a: np.empty(a)),
    (np.eye, lambda a: np.eye(3, k=a)),
    (np.identity, lambda a: np.identity(a)),
    (np.indices, lambda a: np.indices((a,))),
    (np.unravel_index, lambda a: np.unravel_index(a, (2, 3))),
    (np.ravel_multi_index, lambda a: np.ravel_multi_index((a, 1), (2, 3))),
    (np.random.rand, lambda a: np.random.rand(a)),
    (np.random.randn, lambda a: np.random.randn(a)),
    (np.random.random, lambda a: np.random.random(a)),
    (np.random.random_sample, lambda a: np.random.random_sample(a)),
    (np.random.standard_normal, lambda a: np.random.standard_normal(a)),
    (np.random.default_rng, lambda a: np.random.default_rng(a)),
    (np.random.set_state, lambda a: np.random.set_state(a)),
    (np.random.Generator.standard_normal,
     lambda a: np.random.default_rng(0).standard_normal(a)),
    (np.random.Generator.random, lambda a: np.random.default_rng(0).random(a)),
    (np.random.Generator.standard_exponential,
     lambda a: np.random.default_rng(0).standard_exponential(a)),
    (np.random.Generator.standard_cauchy,
     lambda a: np.random.default_rng(0).standard_cauchy(a)),
    (operator.and_, lambda a: operator.and_(a, 1)),
    (operator.or_, lambda a: operator.or_(a, 1)),
    (operator.xor, lambda a: operator.xor(a, 1)),
    (operator.lshift, lambda a: operator.lshift(a, 1)),
    (operator.rshift, lambda a: operator.rshift(a, 1)),
    (operator.invert, lambda a: operator.invert(a)),
    (builtins.range, lambda a: range(a)),
    (dict.keys, lambda a: dict.keys(a)),
    (math.factorial, lambda a: math.factorial(a)),
    (math.comb, lambda a: math.comb(a, 1)),
    (math.perm, lambda a: math.perm(a, 1)),
    (math.gcd, lambda a: math.gcd(a, 2)),
    (compat_numpy.zeros, lambda a: compat_numpy.zeros(a)),
    (compat_numpy.ones, lambda a: compat_numpy.ones(a)),
    (compat_numpy.empty, lambda a: compat_numpy.empty(a)),
    (compat_numpy.eye, lambda a: compat_numpy.eye(a)),
    (compat_numpy.iinfo, lambda a: compat_numpy.iinfo(a)),
]


@pytest.mark.parametrize('call', [c for _, c in FLOAT_REJECTED],
                         ids=[getattr(c, '__name__', str(c))
                              for c, _ in FLOAT_REJECTED])
def test_no_gradient_callee_rejects_float(call):
    with pytest.raises((TypeError, ValueError, AttributeError)):
        call(1.5)


def _library_callee(callee):
    """True for a callable of NumPy, SciPy, math, operator or builtins (and
    the methods of set and dict), not one of adcompiler's own."""
    if getattr(callee, '__objclass__', None) in (set, dict):
        return True
    module = getattr(callee, '__module__', None) or ''
    name = getattr(callee, '__name__', None)
    return (module.split('.')[0] in ('numpy', 'scipy', 'math', '_operator',
                                     'operator', 'builtins')
            or (name is not None and getattr(np.random, name, None) is callee))


def test_every_no_gradient_callable_has_a_case():
    REGISTRY.load_deferred()
    callees, methods, _ = REGISTRY.entries()
    registered = {c for c in callees if REGISTRY.lookup(c) is NON_DIFFERENTIABLE
                  and _library_callee(c)}
    registered |= {m for m in methods
                   if REGISTRY.lookup_method(m) is NON_DIFFERENTIABLE}
    cased = {c for _, listed in PIECEWISE_CONSTANT_CASES for c in listed}
    cased |= {c for c, _ in FLOAT_REJECTED}
    assert registered - cased == set(), 'registered without a case here'


# Rules that replaced the registrations: np.arange and fftfreq -----------------

def arange_start_step(x, w):
    return np.sum(w * np.sin(np.arange(x[0], 3.0, x[1])) ** 2)


def arange_start(x, w):
    return np.sum(w * np.arange(x[0], 3.0) ** 2)


def arange_keywords(x, w):
    return np.sum(w * np.cos(np.arange(start=x[0], stop=2.5, step=x[1])))


def arange_stop_only(x, w):
    # np.arange(stop) counts from 0: piecewise constant in stop.
    return np.sum(w * np.arange(x[0] * 10.0)) + np.sum(x * w)


def arange_stop_and_step(x, w):
    return np.sum(w * np.arange(x[0] * 10.0, step=x[1]) ** 2)


def arange_active_stop(x, w):
    return np.sum(w * np.arange(x[1], x[0] * 10.0, 0.7) ** 2)


def arange_scalar_types(x, w):
    start = np.float64(x[0])
    step = np.asarray(x[1])
    return np.sum(w * np.arange(start, 3.0, step) ** 2)


def arange_compat(x, w):
    return np.sum(w * compat_numpy.arange(x[0], 3.0, x[1]) ** 2)


def fftfreq_spacing(x, w):
    return np.sum(w * np.sin(np.fft.fftfreq(5, x[0])) ** 2)


def rfftfreq_spacing(x, w):
    return np.sum(w * np.sin(np.fft.rfftfreq(6, d=x[0])) ** 2)


def fftfreq_broadcast_spacing(x, w):
    # d of shape (1,) and of the output's shape broadcast against k / n.
    return np.sum(w * np.fft.fftfreq(4, x[:1]) ** 2) + np.sum(
        w * np.fft.fftfreq(4, x + 3.0) ** 2)


@pytest.mark.parametrize('function, x', [
    (arange_start_step, np.array([0.3, 0.41])),
    (arange_start, np.array([0.3, 1.0])),
    (arange_keywords, np.array([-0.2, 0.35])),
    (arange_stop_only, np.array([0.53, 1.0])),
    (arange_stop_and_step, np.array([0.53, 0.7])),
    (arange_active_stop, np.array([0.53, 0.2])),
    (arange_scalar_types, np.array([0.3, 0.41])),
    (arange_compat, np.array([0.3, 0.41])),
    (fftfreq_spacing, np.array([0.5, 0.0])),
    (rfftfreq_spacing, np.array([1.7, 0.0])),
    (fftfreq_broadcast_spacing, np.array([0.5, 0.25, -0.5, 1.0])),
], ids=lambda v: getattr(v, '__name__', None))
def test_grid_rule(function, x):
    w = 1.3
    expected = numerical_gradient(lambda v: function(v, w), (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x, w), expected)
    direction = np.linspace(0.5, -0.75, x.size)
    _, tangent = adcompiler.jvp(function, (x, w), (direction, None))
    np.testing.assert_allclose(tangent, np.sum(expected * direction),
                               rtol=1e-5, atol=1e-6)


def arange_second_order(x):
    return np.sum(np.arange(x[0], 3.0, x[1]) ** 3)


def test_arange_hessian():
    x = np.array([0.3, 0.41])
    hessian = adcompiler.hessian(arange_second_order)(x)
    expected = np.stack([
        numerical_gradient(
            lambda v: adcompiler.grad(arange_second_order)(v)[i], (x,), 0)
        for i in range(2)])
    np.testing.assert_allclose(hessian, expected, rtol=1e-5, atol=1e-5)


def test_fftfreq_python_float_spacing():
    def spaced(d):
        return np.sum(np.fft.fftfreq(4, d) ** 2)

    expected = numerical_gradient(spaced, (0.5,), 0)
    assert adcompiler.grad(spaced)(0.5) == pytest.approx(expected, rel=1e-6)
