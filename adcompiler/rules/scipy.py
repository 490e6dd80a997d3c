"""Rules for SciPy's array-API layer and for scipy.special.

SciPy functions start with array-API bookkeeping: `xp = array_namespace(x)`
finds the namespace, `xp_promote` and `_asarray` convert and promote, and
the arithmetic then calls `xp.sum(...)`, `xp.exp(...)` through the
namespace. For NumPy input the namespace is SciPy's vendored copy of
array_api_compat's NumPy namespace (`scipy._lib.array_api_compat.numpy`).
With NumPy 2.4 most of its functions are NumPy's own, so their NumPy rules
apply as they are. The few it wraps get rules here, written against the
wrappers' signatures.

Nothing here imports SciPy: each group is registered through
`Registry.defer` once its module has been imported by someone else. These
are private modules, and releases move and rename them. SciPy 1.15.3 has
`xp_broadcast_promote` where 1.17.1 has `xp_promote`, and it has no
`is_marray`, `_share_masks` or `at`. SciPy 1.18.1 vendors array_api_compat
and array_api_extra in `scipy._external`, not in `scipy._lib`. A callable
the installed SciPy lacks gets no rule (its callers are transformed from
source), and the others of its group are registered all the same.

Letters: `ans = f(x, ...)`, `g` is the adjoint of `ans`, `d[x]` the
adjoint of `x`, and in forward rules `t` is the tangent of `x`.
"""

import functools
import importlib
import inspect
import logging

import numpy as np

from adcompiler import runtime
from adcompiler.errors import UnsupportedOptionError
from adcompiler.rules.forward import arange_jvp
from adcompiler.rules.numpy import arange_vjp
from adcompiler.rules.registry import NON_DIFFERENTIABLE, REGISTRY

logger = logging.getLogger(__name__)

vjp = REGISTRY.vjp
jvp = REGISTRY.jvp
non_differentiable = REGISTRY.non_differentiable

# Packages in which SciPy vendors array_api_compat and array_api_extra:
# `scipy._lib` in SciPy 1.15.3 and 1.17.1, `scipy._external` in 1.18.1.
_VENDOR_PACKAGES = ('scipy._lib', 'scipy._external')


def _module(name):
    return importlib.import_module(name)


def _present(module, *names):
    """Return the callables `module.name` that exist, in order; log the
    names this SciPy lacks."""
    found = []
    for name in names:
        callee = getattr(module, name, None)
        if callee is None:
            logger.debug('%s.%s not found: no rule registered',
                         module.__name__, name)
        else:
            found.append(callee)
    return found


def _one(module, name):
    """Return `module.name`, or None (logged) where this SciPy lacks it."""
    found = _present(module, name)
    return found[0] if found else None


# Namespace discovery and metadata: they return a module, a size, a device
# or a flag, never a value that depends smoothly on an array.
def _register_array_api():
    array_api = _module('scipy._lib._array_api')
    for callee in _present(array_api, 'array_namespace', 'xp_result_type',
                           'is_marray'):
        non_differentiable(callee)
    # is_marray(xp) is True only for masked arrays, which adcompiler does not
    # differentiate, so the code for them is left out (known_results).
    if getattr(array_api, 'is_marray', None) is not None:
        REGISTRY.false_check(array_api.is_marray, reject_marray)
    # array_namespace(*arrays) returns the namespace of the arrays' library.
    if getattr(array_api, 'array_namespace', None) is not None:
        REGISTRY.namespace_source(array_api.array_namespace)
        # For NumPy input it returns array_api_compat's NumPy namespace, so
        # calls of that namespace's functions are resolved when compiling.
        compat = getattr(array_api, 'np_compat', None)
        if compat is not None:
            REGISTRY.known_namespace(
                array_api.array_namespace, compat,
                _numpy_namespace_check(compat))

    # ans = _asarray(array, dtype, ...): a conversion, linear in `array`.
    asarray = _one(array_api, '_asarray')
    if asarray is not None:
        vjp(asarray, lambda array, dtype=None, order=None, copy=None, xp=None, check_finite=False, subok=False: ad.cast_adjoint(ad.unbroadcast(g, array), dtype))
        jvp(asarray, lambda array, dtype=None, order=None, copy=None, xp=None, check_finite=False, subok=False: ad.cast_tangent(np.reshape(np.asarray(t), np.shape(ans)), dtype))

    # ans = xp_promote(*args, ...): each argument converted to a common
    # floating dtype (and broadcast to a common shape with broadcast=True).
    promote = _one(array_api, 'xp_promote')
    if promote is not None:
        REGISTRY.vjp_function(promote, promote_vjp)
        REGISTRY.jvp_function(promote, promote_jvp)
        REGISTRY.itemwise(promote)
        # With one argument and broadcast=False it returns that argument
        # converted to the result dtype, which keeps a float64 array as it
        # is (the same object).
        REGISTRY.conversion(promote, floating='force_floating',
                            namespace='xp', fixed={'broadcast': False})

    # ans = _share_masks(*args, xp=xp): the arguments unchanged (one, or a
    # tuple) unless they are masked arrays (marray), whose masks it joins.
    share_masks = _one(array_api, '_share_masks')
    if share_masks is not None:
        REGISTRY.vjp_function(share_masks, share_masks_vjp)
        REGISTRY.jvp_function(share_masks, share_masks_jvp)
        REGISTRY.itemwise(share_masks)

    # ans = _masked_apply(f, args=args, kwargs=kwargs, xp=xp) (SciPy 1.18.1
    # entropy calls it): f(*args, **kwargs) unless the arrays are masked.
    masked_apply = _one(array_api, '_masked_apply')
    if masked_apply is not None:
        REGISTRY.substitute(masked_apply, masked_apply_unmasked)


def _numpy_namespace_check(compat):
    """Return the check of `Registry.known_namespace` for SciPy's
    `array_namespace`, whose NumPy namespace is `compat`."""
    def require_numpy_namespace(xp):
        if xp is not compat:
            raise UnsupportedOptionError(
                f'cannot differentiate arrays of the array namespace '
                f'{getattr(xp, "__name__", xp)!r}: adcompiler differentiates '
                'NumPy arrays only; pass the data as NumPy arrays')
    return require_numpy_namespace


def masked_apply_unmasked(f, *, args, kwargs=None, xp):
    """Run SciPy's `_masked_apply` for arrays without masks.

    Calls with one or two arguments pass them by position, because
    reverse mode over adjoint code (Hessians) does not go through a call
    with `*args` that is resolved at run time.
    """
    _require_unmasked(xp)
    if kwargs:
        return f(*args, **kwargs)
    if len(args) == 1:
        return f(args[0])
    if len(args) == 2:
        return f(args[0], args[1])
    return f(*args)


def _register_compat_helpers(package):
    helpers = _module(f'{package}.array_api_compat.common._helpers')
    for callee in _present(helpers, 'array_namespace', 'size', 'device',
                           'is_numpy_namespace', 'is_torch_array',
                           'is_jax_namespace', 'is_cupy_namespace',
                           'is_array_api_obj', 'is_array_api_strict_namespace',
                           'is_torch_namespace', 'is_dask_namespace',
                           'is_lazy_array'):
        non_differentiable(callee)
    if getattr(helpers, 'array_namespace', None) is not None:
        REGISTRY.namespace_source(helpers.array_namespace)


def promote_vjp(g, ans, *args, broadcast=False, force_floating=False,
                xp=None):
    """Return the cotangents of xp_promote's arguments; see
    `_register_array_api`. The caller sums each back to its argument's shape."""
    if len(args) == 1:
        return (g,)
    return tuple(None if arg is None else item
                 for item, arg in zip(g, args, strict=True))


def promote_jvp(tangents, ans, *args, broadcast=False, force_floating=False,
                xp=None):
    """Return the tangent of xp_promote's result, promoted like the result."""
    if len(args) == 1:
        return _promoted_tangent(tangents[0], ans)
    return tuple(_promoted_tangent(t, a) for t, a in zip(tangents, ans,
                                                         strict=True))


def _promoted_tangent(t, ans):
    if ans is None:
        return None
    if t is None:
        return np.zeros(np.shape(ans), dtype=np.result_type(ans, float))
    return np.broadcast_to(np.asarray(t, dtype=np.result_type(ans, float)),
                           np.shape(ans))


def share_masks_vjp(g, ans, *args, xp=None):
    """Return the cotangents of _share_masks's arguments: those of its
    result, which is its arguments."""
    _require_unmasked(xp)
    if len(args) == 1:
        return (g,)
    return (None,) * len(args) if g is None else tuple(g)


def share_masks_jvp(tangents, ans, *args, xp=None):
    """Return the tangent of _share_masks's result: its arguments' tangents."""
    _require_unmasked(xp)
    if len(args) == 1:
        return tangents[0]
    return tuple(runtime.zeros_like(item) if t is None else t
                 for t, item in zip(tangents, ans, strict=True))


def reject_marray(xp):
    """Return False, which SciPy's is_marray(xp) returns for NumPy. Raise
    `UnsupportedOptionError` for the namespace of masked arrays."""
    _require_unmasked(xp)
    return False


def _require_unmasked(xp):
    if xp is not None and _module('scipy._lib._array_api').is_marray(xp):
        raise UnsupportedOptionError(
            'cannot differentiate masked arrays (marray): adcompiler '
            'differentiates NumPy arrays only; pass the data as a NumPy '
            'array')


# share_masks_vjp and share_masks_jvp are the identity in their first
# argument, so each is its own transpose: `c` is the cotangent of the
# result, one entry per argument of _share_masks.
def share_masks_vjp_transpose(c, result, g, ans, *args, xp=None):
    """Return the cotangents of share_masks_vjp's positional arguments."""
    rest = (None,) * (1 + len(args))
    if c is None:
        return (None,) + rest
    return (c[0] if len(args) == 1 else tuple(c),) + rest


def share_masks_jvp_transpose(c, result, tangents, ans, *args, xp=None):
    """Return the cotangents of share_masks_jvp's positional arguments."""
    rest = (None,) * (1 + len(args))
    if c is None:
        return (None,) + rest
    return ((c,) if len(args) == 1 else tuple(c),) + rest


# promote_vjp and promote_jvp are linear in their first argument, the
# cotangent g or the tangents, so their reverse rules below are the
# transposes.
# `c` is the cotangent of their result, a tuple with one entry per argument
# of xp_promote for promote_vjp, and the promoted tangent(s) for promote_jvp.
def promote_vjp_transpose(c, result, g, ans, *args, broadcast=False,
                          force_floating=False, xp=None):
    """Return the cotangents of promote_vjp's positional arguments."""
    rest = (None,) * (1 + len(args))
    if c is None:
        return (None,) + rest
    if len(args) == 1:
        return (c[0],) + rest
    return (tuple(None if arg is None else item
                  for item, arg in zip(c, args, strict=True)),) + rest


def promote_jvp_transpose(c, result, tangents, ans, *args, broadcast=False,
                          force_floating=False, xp=None):
    """Return the cotangents of promote_jvp's positional arguments."""
    rest = (None,) * (1 + len(args))
    if c is None:
        return (None,) + rest
    if len(args) == 1:
        c = (c,)
    of_tangents = tuple(None if t is None or item is None
                        else runtime.unbroadcast(item, t)
                        for item, t in zip(c, tangents, strict=True))
    return (of_tangents,) + rest


def _wrapper(space, name):
    """Return `space.name` if it wraps NumPy's function of that name.

    Return None (logged) where this SciPy lacks it, or where the namespace
    takes the function from NumPy as it is: that function has NumPy's rule,
    which a template written for the wrapper's parameters must not replace.
    Which names are wrappers depends on the NumPy and SciPy versions.
    """
    callee = _one(space, name)
    return None if callee is getattr(np, name, None) else callee


# Wrappers in array_api_compat's NumPy namespace whose NumPy counterpart
# takes other parameters: ans = f(x, ...).
def _register_compat_wrappers(package):
    space = _module(f'{package}.array_api_compat.numpy')
    templates = {
        'asarray': (lambda obj, dtype=None, device=None, copy=None: ad.cast_adjoint(ad.unbroadcast(g, obj), dtype),
                    lambda obj, dtype=None, device=None, copy=None: ad.cast_tangent(np.reshape(np.asarray(t), np.shape(ans)), dtype)),
        'astype':  (lambda x, dtype, copy=True, device=None: ad.astype_adjoint(g, x, dtype),
                    lambda x, dtype, copy=True, device=None: ad.cast_adjoint(np.asarray(t).astype(np.result_type(ans, 1.0)), dtype)),
        'reshape': (lambda x, shape, copy=None: np.reshape(g, np.shape(x)),
                    lambda x, shape, copy=None: np.reshape(t, np.shape(ans))),
        'matmul':  (lambda x1, x2: (ad.matmul_adjoint_x(g, x1, x2), ad.matmul_adjoint_y(g, x1, x2)),
                    lambda x1, x2: (np.matmul(t, x2), np.matmul(x1, t))),
    }
    for name, (reverse, forward) in templates.items():
        callee = _wrapper(space, name)
        if callee is not None:
            vjp(callee, reverse)
            jvp(callee, forward)
    sign = _wrapper(space, 'sign')
    if sign is not None:
        vjp(sign, lambda x: ad.sign_adjoint(g, x), unbroadcast=True)
    arange = _wrapper(space, 'arange')
    if arange is not None:
        vjp(arange, arange_vjp)
        jvp(arange, arange_jvp)
    for name in ('ceil', 'floor', 'trunc', 'count_nonzero', 'zeros', 'ones',
                 'empty', 'eye', 'zeros_like', 'ones_like',
                 'empty_like', 'argsort', 'nonzero', 'finfo', 'iinfo'):
        callee = _wrapper(space, name)
        if callee is not None:
            non_differentiable(callee)


# array_api_extra: ans = atleast_nd(x, ndim=ndim), a reshape; and
# ans = at(x, idx).set(y), x with x[idx] replaced by y. The adjoint and the
# tangent of the `at(x, idx)` object are those of x.
def _register_array_api_extra(package):
    extra = _module(f'{package}.array_api_extra')
    atleast_nd = _one(extra, 'atleast_nd')
    if atleast_nd is not None:
        vjp(atleast_nd, lambda x, ndim, xp=None: np.reshape(g, np.shape(x)))
        jvp(atleast_nd, lambda x, ndim, xp=None: np.reshape(t, np.shape(ans)))
    at = _one(extra, 'at')
    if at is None:
        return
    REGISTRY.vjp_function(at, at_vjp)
    REGISTRY.jvp_function(at, at_jvp)
    REGISTRY.substitute(at.set, at_set_copy)
    REGISTRY.vjp_function(at_set_copy, at_set_vjp)
    REGISTRY.jvp_function(at_set_copy, at_set_jvp)
    # at(x)[idx] is at(x, idx): the adjoint passes through unchanged, and
    # indexing the tangent returns it unchanged (see AtTangent).
    runtime.register_index_adjoint(at, lambda g, update, index: g)


def at_vjp(g, ans, x, *index):
    """Return the cotangent of x in `ans = at(x, idx)`: that of ans."""
    return (g,) + (None,) * len(index)


class AtTangent:
    """Tangent of an `at(x, idx)` object: the whole tangent of x.

    Forward mode writes the tangent of `at(x)[idx]` as the tangent of
    `at(x)` indexed by idx. Indexing returns this object unchanged, because
    `at(x)[idx]` is `at(x, idx)` and the index is read from the primal
    object when `.set` runs.
    """

    def __init__(self, t):
        self.t = t

    def __getitem__(self, index):
        return self


def at_jvp(tangents, ans, x, *index):
    """Return the tangent of `at(x, idx)`: that of x, wrapped."""
    return None if tangents[0] is None else AtTangent(tangents[0])


def at_set_copy(update, y, copy=None, xp=None):
    """Run `update.set(y, ...)`, copying x where copy=None allows writing
    into it: an earlier rule may have kept x (np.max keeps its argument),
    and its adjoint must read the old values."""
    return update.set(y, copy=True if copy is None else copy, xp=xp)


def at_set_vjp(g, ans, update, y, copy=None, xp=None):
    """Return the cotangents of `update = at(x, idx)` and of y."""
    index = update._idx  # noqa: SLF001  (array_api_extra has no accessor)
    g = np.array(g, dtype=np.result_type(g, 1.0))
    g_y = g[index]
    g[index] = 0.0
    return g, g_y


def at_set_jvp(tangents, ans, update, y, copy=None, xp=None):
    """Return the tangent of at(x, idx).set(y)."""
    t_update, t_y = tangents
    if isinstance(t_update, AtTangent):
        t_update = t_update.t
    index = update._idx  # noqa: SLF001
    t = (np.zeros(np.shape(ans), dtype=np.result_type(ans, 1.0))
         if t_update is None else np.array(t_update,
                                           dtype=np.result_type(ans, 1.0)))
    t[index] = 0.0 if t_y is None else t_y
    return t


# Transposes of at_vjp and at_set_vjp in g, for reverse mode over their
# adjoint code (Hessians by reverse over reverse). `c` is the cotangent of
# their result.
def at_vjp_transpose(c, result, g, ans, x, *index):
    """Return the cotangents of at_vjp's positional arguments."""
    return (None if c is None else c[0], None, None) + (None,) * len(index)


def at_set_vjp_transpose(c, result, g, ans, update, y, copy=None, xp=None):
    """Return the cotangents of at_set_vjp's positional arguments."""
    if c is None:
        return None, None, None, None
    c_update, c_y = c
    index = update._idx  # noqa: SLF001
    of_g = np.zeros(np.shape(g), dtype=np.result_type(g, 1.0))
    if c_update is not None:
        of_g += c_update
        of_g[index] = 0.0
    if c_y is not None:
        of_g[index] += c_y
    return of_g, None, None, None


# Reverse mode over the tangent code of at(x, idx).set(y) (Hessians by
# reverse over forward). The cotangent of an AtTangent is the cotangent of
# the tangent of x it contains, an array.
def at_jvp_transpose(c, result, tangents, ans, x, *index):
    """Return the cotangents of at_jvp's positional arguments."""
    if isinstance(c, AtTangent):
        c = c.t
    of_tangents = (c,) + (None,) * (len(tangents) - 1)
    return (of_tangents, None, None) + (None,) * len(index)


def at_set_jvp_transpose(c, result, tangents, ans, update, y, copy=None,
                         xp=None):
    """Return the cotangents of at_set_jvp's positional arguments: those of
    the tangents of `at(x, idx)` and of y."""
    if c is None:
        return None, None, None, None
    index = update._idx  # noqa: SLF001
    c = np.array(c, dtype=np.result_type(c, 1.0))
    c_y = c[index]
    c[index] = 0.0
    t_y = tangents[1]
    c_y = None if t_y is None else runtime.unbroadcast(c_y, t_y)
    return (c, c_y), None, None, None


# scipy.special ufuncs: ans = entr(x) = -x log x, ans = rel_entr(x, y) =
# x log(x / y), both for x > 0.
# ans = logsumexp(a, axis, b, keepdims): SciPy's own code also computes
# log(sum(exp(a))) for a branch np.where discards, whose adjoint is 0 / 0
# where the sum underflows; this rule, shifted by ans, stays finite.
def logsumexp_vjp(a, axis=None, b=None, keepdims=False, return_sign=False):
    parts = ad.logsumexp_adjoints(g, a, ans, axis, b, keepdims, return_sign)
    d[a] = parts[0]
    d[b] = parts[1]


def _register_special():
    special = _module('scipy.special')
    for callee in {special.logsumexp, inspect.unwrap(special.logsumexp)}:
        vjp(callee, logsumexp_vjp)
        jvp(callee, lambda a, axis=None, b=None, keepdims=False, return_sign=False: (ad.logsumexp_tangent(t, None, a, ans, axis, b, keepdims, return_sign), None, ad.logsumexp_tangent(None, t, a, ans, axis, b, keepdims, return_sign), None, None))
    vjp(special.entr,     lambda x: -g * (np.log(x) + 1.0), unbroadcast=True)
    vjp(special.rel_entr, lambda x, y: (g * (np.log(x / y) + 1.0), -g * x / y), unbroadcast=True)
    # Forward rules of elementwise templates are derived from them.
    vjp(special.expit,     lambda x: g * ans * (1.0 - ans), unbroadcast=True)
    vjp(special.logit,     lambda x: g / (x * (1.0 - x)), unbroadcast=True)
    vjp(special.log_expit, lambda x: -g * np.expm1(ans), unbroadcast=True)
    vjp(special.erf,       lambda x: g * (2.0 / np.sqrt(np.pi)) * np.exp(-x ** 2), unbroadcast=True)
    vjp(special.erfc,      lambda x: -g * (2.0 / np.sqrt(np.pi)) * np.exp(-x ** 2), unbroadcast=True)
    vjp(special.erfcx,     lambda x: g * (2.0 * x * ans - 2.0 / np.sqrt(np.pi)), unbroadcast=True)
    vjp(special.erfinv,    lambda x: g * (np.sqrt(np.pi) / 2.0) * np.exp(ans ** 2), unbroadcast=True)
    vjp(special.erfcinv,   lambda x: -g * (np.sqrt(np.pi) / 2.0) * np.exp(ans ** 2), unbroadcast=True)
    vjp(special.ndtr,      lambda x: g * np.exp(-0.5 * x ** 2) / np.sqrt(2.0 * np.pi), unbroadcast=True)
    vjp(special.log_ndtr,  lambda x: g * np.exp(-0.5 * x ** 2 - ans) / np.sqrt(2.0 * np.pi), unbroadcast=True)
    vjp(special.ndtri,     lambda x: g * np.sqrt(2.0 * np.pi) * np.exp(0.5 * ans ** 2), unbroadcast=True)
    # xlogy(0, y) is 0 for every y, so its derivative in y is 0 there too.
    vjp(special.xlogy,     lambda x, y: (g * np.log(y), g * np.where(x == 0, 0.0, x / np.where(x == 0, 1.0, y))), unbroadcast=True)
    vjp(special.xlog1py,   lambda x, y: (g * np.log1p(y), g * np.where(x == 0, 0.0, x / np.where(x == 0, 1.0, 1.0 + y))), unbroadcast=True)
    for softplus in _present(special, 'softplus'):
        # The logistic function as 0.5 (1 + tanh(x / 2)), whose own
        # derivative stays finite where exp(-x) overflows.
        vjp(softplus,      lambda x: g * 0.5 * (1.0 + np.tanh(0.5 * x)), unbroadcast=True)
    _register_gamma_family(special)


def _register_gamma_family(special):
    """Rules of gammaln, gamma, digamma and polygamma(n, x), each in
    terms of polygamma, so that Hessians find a rule at every order."""
    polygamma = special.polygamma

    def gammaln_vjp(g, ans, x):
        return (g * polygamma(0, x),)

    def gamma_vjp(g, ans, x):
        return (g * ans * polygamma(0, x),)

    def digamma_vjp(g, ans, x):
        return (g * polygamma(1, x),)

    def polygamma_vjp(g, ans, n, x):
        return (None, g * polygamma(n + 1, x))

    for callee, derivative in ((special.gammaln, gammaln_vjp),
                               (special.gamma, gamma_vjp),
                               (special.digamma, digamma_vjp),
                               (polygamma, polygamma_vjp)):
        REGISTRY.vjp_function(callee, derivative)

    def gammaln_jvp(tangents, ans, x):
        return tangents[0] * polygamma(0, x)

    def gamma_jvp(tangents, ans, x):
        return tangents[0] * ans * polygamma(0, x)

    def digamma_jvp(tangents, ans, x):
        return tangents[0] * polygamma(1, x)

    def polygamma_jvp(tangents, ans, n, x):
        return tangents[1] * polygamma(n + 1, x)

    for callee, derivative in ((special.gammaln, gammaln_jvp),
                               (special.gamma, gamma_jvp),
                               (special.digamma, digamma_jvp),
                               (polygamma, polygamma_jvp)):
        REGISTRY.jvp_function(callee, derivative)


# scipy.stats functions such as entropy and gmean are wrapped by
# _axis_nan_policy's decorator, which handles the keyword arguments
# nan_policy and keepdims and otherwise calls the function it wraps with the
# caller's arguments. A call without those keywords is transformed as a call
# of the wrapped function, and a call with them as a call of
# `axis_nan_policy_statistic(wrapped)`.
# NOTE: the wrapper also broadcasts paired samples against each other and
# returns NaN for samples too small for the statistic. The unwrapped call
# skips both, so such inputs may raise where SciPy would not.
def _register_stats():
    stats = _module('scipy.stats')
    REGISTRY.transparent_wrapper(stats.entropy, axis_nan_policy_statistic)


@functools.lru_cache(maxsize=None)
def axis_nan_policy_statistic(statistic):
    """Return a function that computes what the _axis_nan_policy wrapper of
    `statistic` computes, for `nan_policy='propagate'` and NumPy arrays.

    With keepdims=True it puts back the reduced axes as axes of length 1,
    as the wrapper does. Another nan_policy raises UnsupportedOptionError
    when the call runs.
    """
    def with_keepdims(*args, keepdims=False, nan_policy='propagate',
                      **kwargs):
        axes = reduced_axes(statistic, args, kwargs, nan_policy)
        result = statistic(*args, **kwargs)
        if keepdims:
            result = np.expand_dims(result, axes)
        return result

    return with_keepdims


def reduced_axes(statistic, args, kwargs, nan_policy):
    """Return the axes that `statistic(*args, **kwargs)` reduces, as the
    _axis_nan_policy wrapper finds them: `axis`, or every axis of the
    samples when it is None. Raise for a call the wrapped `statistic` does
    not accept, and for a nan_policy other than 'propagate'."""
    name = f'scipy.stats.{statistic.__name__}'
    if nan_policy != 'propagate':
        raise UnsupportedOptionError(
            f'{name} with nan_policy={nan_policy!r} is not supported: '
            f"adcompiler differentiates nan_policy='propagate' only; remove "
            f"the NaNs before the call, or pass nan_policy='propagate'")
    signature = inspect.signature(statistic)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as err:
        raise UnsupportedOptionError(
            f'{name} with these arguments is not supported: adcompiler '
            f'calls the function that its decorator wraps, which rejects '
            f'them ({err}); pass only the parameters of '
            f'{name}{signature}, keepdims and nan_policy') from err
    if 'axis' not in signature.parameters:
        return 0
    bound.apply_defaults()
    axis = bound.arguments['axis']
    if axis is None:
        ndim = max((np.ndim(value) for value in bound.arguments.values()
                    if isinstance(value, (np.ndarray, list, tuple, float))),
                   default=0)
        return tuple(range(ndim))
    return axis


# The reverse rules above are linear in the cotangent g, so forward mode
# over adjoint code that calls them (Hessians) applies them to its tangent.
REGISTRY.linear_adjoint_helper(promote_vjp, ('g',))
REGISTRY.linear_adjoint_helper(at_vjp, ('g',))
REGISTRY.linear_adjoint_helper(at_set_vjp, ('g',))

# Their transposes, and those of the forward rules, for reverse mode over
# generated adjoint and tangent code. linear_adjoint_helper leaves the
# reverse rule empty, so these are registered after it.
REGISTRY.linear_adjoint_helper(share_masks_vjp, ('g',))
REGISTRY.vjp_function(share_masks_vjp, share_masks_vjp_transpose)
REGISTRY.vjp_function(share_masks_jvp, share_masks_jvp_transpose)
REGISTRY.vjp_function(promote_vjp, promote_vjp_transpose)
REGISTRY.vjp_function(promote_jvp, promote_jvp_transpose)
REGISTRY.vjp_function(at_vjp, at_vjp_transpose)
REGISTRY.vjp_function(at_set_vjp, at_set_vjp_transpose)
REGISTRY.vjp_function(at_jvp, at_jvp_transpose)
REGISTRY.vjp_function(at_set_jvp, at_set_jvp_transpose)
runtime.register_index_adjoint(AtTangent, lambda g, t, index: g)

non_differentiable(reduced_axes)

# Functions of an array namespace whose results the array API standard
# (data-apis.org, 2021.12 and later) requires to be boolean arrays or
# indices, whatever the namespace, so they carry no derivative. With these
# marks, `~xp.isfinite(m)` after `xp = array_namespace(x)` runs as written.
# It needs neither a call resolved at run time nor a transformed `~`.
for _name in ('isfinite', 'isinf', 'isnan', 'signbit', 'equal', 'not_equal',
              'greater', 'greater_equal', 'less', 'less_equal', 'logical_and',
              'logical_not', 'logical_or', 'logical_xor', 'all', 'any',
              'argmax', 'argmin', 'argsort', 'nonzero', 'searchsorted'):
    REGISTRY.namespace_function(_name, NON_DIFFERENTIABLE)

REGISTRY.defer('scipy._lib._array_api', _register_array_api)
REGISTRY.defer('scipy.stats', _register_stats)
REGISTRY.defer('scipy.special', _register_special)
for _package in _VENDOR_PACKAGES:
    REGISTRY.defer(f'{_package}.array_api_compat.common._helpers',
                   functools.partial(_register_compat_helpers, _package))
    REGISTRY.defer(f'{_package}.array_api_compat.numpy',
                   functools.partial(_register_compat_wrappers, _package))
    REGISTRY.defer(f'{_package}.array_api_extra',
                   functools.partial(_register_array_api_extra, _package))
