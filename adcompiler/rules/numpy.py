"""Reverse rules for NumPy functions, array methods and array attributes.

Letters: `ans = f(x, y, ...)`, `g` is the adjoint of `ans`, `d[x]` the
adjoint of `x`; see `adcompiler.rules.registry` for the template language.

Complex numbers follow JAX's and autograd's convention. The adjoint of a
complex input z of a real-valued function f is

    df/dRe(z) - 1j * df/dIm(z),

twice the Wirtinger derivative df/dz, which for a real f is the conjugate of
the gradient that gradient descent wants (`grad(lambda z: abs(z) ** 2)(z)`
is `2 * conj(z)`). The rule of a holomorphic function multiplies its
cotangent by f'(z) without conjugating it. Conjugation appears only in the
rules of non-holomorphic functions such as conj, real, imag, abs and angle. A real input receives the real
part of its adjoint: `ad.unbroadcast` drops the imaginary part for real
inputs and keeps complex adjoints for complex inputs, and `ad.match_kind`
does the same where no broadcasting is involved.

Options that change the value of a result and that a rule does not
implement are left out of its template, so that a call using them is
rejected with the option's name; options that a rule accepts but cannot
handle for some values raise an error naming the option and the value when
the gradient is computed.
"""

import numpy as np

from adcompiler import runtime as rt
from adcompiler.rules.registry import NON_DIFFERENTIABLE, REGISTRY

vjp = REGISTRY.vjp
non_differentiable = REGISTRY.non_differentiable
method = REGISTRY.method
attribute = REGISTRY.attribute


def elementwise_vjp(callee, template):
    """Register a rule of a broadcasting function: each d[x] is unbroadcast."""
    vjp(callee, template, unbroadcast=True)


# Binary elementwise: ans = f(x, y).
elementwise_vjp(np.add,         lambda x, y: (g, g))
elementwise_vjp(np.subtract,    lambda x, y: (g, -g))
elementwise_vjp(np.multiply,    lambda x, y: (g * y, g * x))
elementwise_vjp(np.divide,      lambda x, y: (g / y, -g * ans / y))
elementwise_vjp(np.true_divide, lambda x, y: (g / y, -g * ans / y))
elementwise_vjp(np.power,       lambda x, y: (ad.pow_base_adjoint(g, x, y, np.power), ad.pow_exponent_adjoint(g, x, ans, y)))
elementwise_vjp(np.maximum,     lambda x, y: (g * ad.balanced_eq(x, ans, y, active(y)), g * ad.balanced_eq(y, ans, x, active(x))))
elementwise_vjp(np.minimum,     lambda x, y: (g * ad.balanced_eq(x, ans, y, active(y)), g * ad.balanced_eq(y, ans, x, active(x))))
elementwise_vjp(np.fmax,        lambda x, y: (g * ad.balanced_eq(x, ans, y, active(y)), g * ad.balanced_eq(y, ans, x, active(x))))
elementwise_vjp(np.fmin,        lambda x, y: (g * ad.balanced_eq(x, ans, y, active(y)), g * ad.balanced_eq(y, ans, x, active(x))))
elementwise_vjp(np.logaddexp,   lambda x, y: (g * np.exp(x - ans), g * np.exp(y - ans)))
elementwise_vjp(np.logaddexp2,  lambda x, y: (g * 2.0 ** (x - ans), g * 2.0 ** (y - ans)))
elementwise_vjp(np.arctan2,     lambda x, y: (g * y / (x ** 2 + y ** 2), -g * x / (x ** 2 + y ** 2)))
elementwise_vjp(np.hypot,       lambda x, y: (g * ad.hypot_partial(x, ans), g * ad.hypot_partial(y, ans)))
elementwise_vjp(np.float_power, lambda x, y: (ad.pow_base_adjoint(g, x, y, np.float_power), ad.pow_exponent_adjoint(g, x, ans, y)))
elementwise_vjp(np.mod,         lambda x, y: (g, -g * np.floor_divide(x, y)))
elementwise_vjp(np.fmod,        lambda x, y: (g, -g * np.trunc(x / y)))
elementwise_vjp(np.copysign,    lambda x, y: (g * np.copysign(1.0, x) * np.copysign(1.0, y), None))
elementwise_vjp(np.heaviside,   lambda x, y: (None, g * (x == 0)))


# (quotient, remainder) = np.divmod(x, y): the remainder has the derivative.
def divmod_vjp(x, y):
    remainder = ad.tuple_entry(g, 1)
    d[x] = remainder
    d[y] = -remainder * np.floor_divide(x, y)


elementwise_vjp(np.divmod,      divmod_vjp)

# Unary elementwise: ans = f(x).
elementwise_vjp(np.negative,    lambda x: -g)
elementwise_vjp(np.positive,    lambda x: g)
elementwise_vjp(np.exp,         lambda x: g * ans)
elementwise_vjp(np.exp2,        lambda x: g * ans * np.log(2.0))
elementwise_vjp(np.expm1,       lambda x: g * (ans + 1.0))
elementwise_vjp(np.log,         lambda x: g / x)
elementwise_vjp(np.log2,        lambda x: g / (x * np.log(2.0)))
elementwise_vjp(np.log10,       lambda x: g / (x * np.log(10.0)))
elementwise_vjp(np.log1p,       lambda x: g / (x + 1.0))
elementwise_vjp(np.sqrt,        lambda x: g * 0.5 / ans)
elementwise_vjp(np.cbrt,        lambda x: g / (3.0 * ans ** 2))
elementwise_vjp(np.square,      lambda x: g * 2.0 * x)
elementwise_vjp(np.reciprocal,  lambda x: -g * ans ** 2)
elementwise_vjp(np.sin,         lambda x: g * np.cos(x))
elementwise_vjp(np.cos,         lambda x: -g * np.sin(x))
elementwise_vjp(np.tan,         lambda x: g * (1.0 + ans ** 2))
elementwise_vjp(np.arcsin,      lambda x: g / np.sqrt(1.0 - x ** 2))
elementwise_vjp(np.arccos,      lambda x: -g / np.sqrt(1.0 - x ** 2))
elementwise_vjp(np.arctan,      lambda x: g / (1.0 + x ** 2))
elementwise_vjp(np.sinh,        lambda x: g * np.cosh(x))
elementwise_vjp(np.cosh,        lambda x: g * np.sinh(x))
elementwise_vjp(np.tanh,        lambda x: g * (1.0 - ans ** 2))
elementwise_vjp(np.arcsinh,     lambda x: g / np.sqrt(x ** 2 + 1.0))
elementwise_vjp(np.arccosh,     lambda x: g / np.sqrt(x ** 2 - 1.0))
elementwise_vjp(np.arctanh,     lambda x: g / (1.0 - x ** 2))
elementwise_vjp(np.abs,         lambda x: g * ad.abs_sign(x))
elementwise_vjp(np.fabs,        lambda x: g * np.sign(x))
elementwise_vjp(np.degrees,     lambda x: g * (180.0 / np.pi))
elementwise_vjp(np.rad2deg,     lambda x: g * (180.0 / np.pi))
elementwise_vjp(np.radians,     lambda x: g * (np.pi / 180.0))
elementwise_vjp(np.deg2rad,     lambda x: g * (np.pi / 180.0))
elementwise_vjp(np.sinc,        lambda x: g * ad.sinc_derivative(x))
elementwise_vjp(np.sign,        lambda x: ad.sign_adjoint(g, x))

# Complex parts: ans = f(z), with the convention of the module docstring.
vjp(np.real,          lambda val: ad.match_kind(g, val))
vjp(np.imag,          lambda val: ad.match_kind(-1j * g, val))
vjp(np.conj,          lambda x: ad.match_kind(np.conj(g), x))
vjp(np.angle,         lambda z, deg=False: ad.match_kind(ad.angle_adjoint(g, z, deg), z))
vjp(np.real_if_close, lambda a, tol=100: ad.match_kind(g, a))

# Zero gradient almost everywhere: the output does not depend on x smoothly.
# np.sign has a rule instead, because the sign of a complex number is smooth.
for _callee in (np.floor, np.ceil, np.round, np.around, np.rint,
                np.trunc, np.fix, np.floor_divide, np.isnan, np.isinf,
                np.isfinite, np.greater, np.greater_equal, np.less,
                np.less_equal, np.equal, np.not_equal, np.logical_and,
                np.logical_or, np.logical_not, np.argmax, np.argmin,
                np.argsort, np.nonzero, np.count_nonzero, np.any, np.all,
                np.logical_xor, np.signbit, np.spacing, np.isclose,
                np.isreal, np.iscomplex, np.isposinf, np.isneginf, np.isin,
                np.array_equiv, np.searchsorted, np.digitize,
                np.argpartition, np.argwhere, np.flatnonzero, np.lexsort,
                np.nanargmax, np.nanargmin):
    non_differentiable(_callee)

# Bookkeeping: shapes, sizes and constructors that take no values to differentiate.
for _callee in (np.shape, np.ndim, np.size, np.zeros, np.ones, np.empty,
                np.zeros_like, np.ones_like, np.empty_like,
                np.eye, np.identity, np.result_type, np.dtype,
                np.iscomplexobj, np.isscalar, np.allclose, np.array_equal,
                np.isrealobj, np.issubdtype, np.can_cast, np.promote_types,
                np.broadcast_shapes, np.tri, np.indices, np.tril_indices,
                np.triu_indices, np.diag_indices, np.unravel_index,
                np.ravel_multi_index):
    non_differentiable(_callee)

# Selection: ans = np.where(condition, x, y).
elementwise_vjp(np.where,       lambda condition, x, y: (None, np.where(condition, g, 0.0), np.where(condition, 0.0, g)))


# ans = np.clip(x, a_min, a_max): each bound gets the adjoint where it wins.
def clip_vjp(x, a_min=None, a_max=None):
    weights = ad.clip_weights(x, a_min, a_max)
    d[x] = g * weights[0]
    d[a_min] = g * weights[1]
    d[a_max] = g * weights[2]


elementwise_vjp(np.clip,        clip_vjp)

# Reductions: ans = f(x, axis, keepdims=keepdims), over the entries that
# `where` selects. The optimizer turns ad.masked_sum_adjoint(..., True) into
# ad.sum_adjoint(...), and so on, for calls without where= and initial=.
# ans = np.sum(x, ..., initial=initial, where=where) adds the number
# `initial` to each sum, and np.add.reduce is np.sum with axis 0 by default.
def sum_vjp(x, axis=None, dtype=None, out=None, keepdims=False, initial=None,
            where=True):
    d[x] = ad.cast_adjoint(ad.masked_sum_adjoint(g, x, axis, keepdims, where), dtype)
    d[initial] = ad.unbroadcast(g, initial)


def add_reduce_vjp(array, axis=0, dtype=None, out=None, keepdims=False,
                   initial=None, where=True):
    d[array] = ad.cast_adjoint(ad.masked_sum_adjoint(g, array, axis, keepdims, where), dtype)
    d[initial] = ad.unbroadcast(g, initial)


vjp(np.sum,     sum_vjp)
vjp(np.mean,    lambda x, axis=None, dtype=None, out=None, keepdims=False, where=True: ad.cast_adjoint(ad.masked_mean_adjoint(g, x, axis, keepdims, where), dtype))


# ans = np.max(x, axis, keepdims=keepdims, initial=initial, where=where), and
# np.min: the extremum of initial and the selected entries of x.
def extremum_vjp(x, axis=None, out=None, keepdims=False, initial=None,
                 where=True):
    d[x] = ad.bounded_extremum_adjoint(g, x, ans, axis, keepdims, initial, where, active(initial))
    d[initial] = ad.initial_adjoint(g, x, ans, axis, keepdims, initial, where)


for _callee in (np.max, np.min, np.amax, np.amin):
    vjp(_callee, extremum_vjp)


# ans = np.var(a, axis, ..., mean=mean) and np.std: the variance reads
# a - mean, with the mean of each slice unless a mean is passed (an
# option since NumPy 2.0), which then gets an adjoint too.
def var_vjp(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *,
            where=True, mean=None, correction=None):
    d[a] = ad.cast_adjoint(ad.var_adjoint(g, a, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype)
    d[mean] = ad.cast_adjoint(ad.var_mean_adjoint(g, a, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype)


def std_vjp(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *,
            where=True, mean=None, correction=None):
    d[a] = ad.cast_adjoint(ad.std_adjoint(g, a, ans, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype)
    d[mean] = ad.cast_adjoint(ad.std_mean_adjoint(g, a, ans, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype)


def var_method_vjp(x, axis=None, dtype=None, out=None, ddof=0,
                   keepdims=False, *, where=True, mean=None,
                   correction=None):
    d[x] = ad.cast_adjoint(ad.var_adjoint(g, x, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype)
    d[mean] = ad.cast_adjoint(ad.var_mean_adjoint(g, x, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype)


def std_method_vjp(x, axis=None, dtype=None, out=None, ddof=0,
                   keepdims=False, *, where=True, mean=None,
                   correction=None):
    d[x] = ad.cast_adjoint(ad.std_adjoint(g, x, ans, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype)
    d[mean] = ad.cast_adjoint(ad.std_mean_adjoint(g, x, ans, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype)


# NumPy casts `a` to `dtype` before it multiplies, so the products read
# ad.cast_operand(a, dtype): the real part of a complex `a` for a real dtype.
# The variances take the mean in `dtype`, so their helpers take `dtype`.
vjp(np.prod,    lambda a, axis=None, dtype=None, *, keepdims=False, where=True: ad.cast_adjoint(ad.prod_adjoint(g, ad.cast_operand(a, dtype), axis, keepdims, where), dtype))
vjp(np.var,     var_vjp)
vjp(np.std,     std_vjp)
vjp(np.ptp,     lambda a, axis=None, *, keepdims=False: ad.ptp_adjoint(g, a, axis, keepdims))
vjp(np.nansum,  lambda a, axis=None, dtype=None, *, keepdims=False, where=True: ad.cast_adjoint(ad.nansum_adjoint(g, a, axis, keepdims, where), dtype))
vjp(np.nanmean, lambda a, axis=None, dtype=None, *, keepdims=False: ad.cast_adjoint(ad.nanmean_adjoint(g, a, axis, keepdims), dtype))

# Reductions that skip NaNs: ans = f(a, axis, keepdims=keepdims). The NaNs,
# and every entry of an all-NaN slice, get 0. Ties split as for np.max and
# np.sort. overwrite_input is left out, because the rules read a again.
vjp(np.nanmax,    lambda a, axis=None, *, keepdims=False: ad.nan_extremum_adjoint(g, a, ans, axis, keepdims))
vjp(np.nanmin,    lambda a, axis=None, *, keepdims=False: ad.nan_extremum_adjoint(g, a, ans, axis, keepdims))
vjp(np.nanprod,   lambda a, axis=None, dtype=None, *, keepdims=False: ad.cast_adjoint(ad.nanprod_adjoint(g, ad.cast_operand(a, dtype), axis, keepdims), dtype))
vjp(np.nanvar,    lambda a, axis=None, dtype=None, *, ddof=0, keepdims=False, where=True: ad.cast_adjoint(ad.nanvar_adjoint(g, a, axis, ddof, keepdims, where, dtype), dtype))
vjp(np.nanstd,    lambda a, axis=None, dtype=None, *, ddof=0, keepdims=False: ad.cast_adjoint(ad.nanstd_adjoint(g, a, ans, axis, ddof, keepdims, dtype), dtype))
vjp(np.nanmedian, lambda a, axis=None, *, keepdims=False: ad.quantile_adjoint(g, a, 0.5, axis, keepdims, 'linear', True))
vjp(np.median,    lambda a, axis=None, *, keepdims=False: ad.quantile_adjoint(g, a, 0.5, axis, keepdims))


# ans = np.quantile(a, q, axis, method=method) for a level q or an array of
# levels, whose axes come first in ans. Every method reads one or two
# order statistics of each slice, so a gets their weights, and tied values
# share them as for np.sort. np.nanquantile does the same on the non-NaN
# entries, and the percentiles take the level q / 100.
def quantile_vjp(a, q, axis=None, *, method='linear', keepdims=False,
                 weights=None):
    d[a] = ad.quantile_adjoint(g, a, q, axis, keepdims, method, False, weights)
    d[q] = ad.quantile_level_adjoint('np.quantile')
    # The result changes with the weights only where it jumps to another
    # entry, so the weights get 0.
    d[weights] = ad.zeros_like(weights)


def nanquantile_vjp(a, q, axis=None, *, method='linear', keepdims=False,
                    weights=None):
    d[a] = ad.quantile_adjoint(g, a, q, axis, keepdims, method, True, weights)
    d[q] = ad.quantile_level_adjoint('np.nanquantile')
    d[weights] = ad.zeros_like(weights)


def percentile_vjp(a, q, axis=None, *, method='linear', keepdims=False,
                   weights=None):
    d[a] = ad.quantile_adjoint(g, a, ad.percentile_level(q), axis, keepdims, method, False, weights)
    d[q] = ad.quantile_level_adjoint('np.percentile')
    d[weights] = ad.zeros_like(weights)


def nanpercentile_vjp(a, q, axis=None, *, method='linear', keepdims=False,
                      weights=None):
    d[a] = ad.quantile_adjoint(g, a, ad.percentile_level(q), axis, keepdims, method, True, weights)
    d[q] = ad.quantile_level_adjoint('np.nanpercentile')
    d[weights] = ad.zeros_like(weights)


vjp(np.quantile,      quantile_vjp)
vjp(np.nanquantile,   nanquantile_vjp)
vjp(np.percentile,    percentile_vjp)
vjp(np.nanpercentile, nanpercentile_vjp)

# Scans and differences: ans = f(x, axis).
vjp(np.cumsum,  lambda a, axis=None, dtype=None: ad.cast_adjoint(ad.cumsum_adjoint(g, a, axis), dtype))
vjp(np.cumprod, lambda a, axis=None, dtype=None: ad.cast_adjoint(ad.cumprod_adjoint(g, ad.cast_operand(a, dtype), ans, axis), dtype))
vjp(np.nancumsum,  lambda a, axis=None, dtype=None: ad.cast_adjoint(ad.nancumsum_adjoint(g, a, axis), dtype))
vjp(np.nancumprod, lambda a, axis=None, dtype=None: ad.cast_adjoint(ad.nancumprod_adjoint(g, ad.cast_operand(a, dtype), ans, axis), dtype))


# ans = np.diff(a, n, axis, prepend=prepend, append=append): the
# differences of prepend, a and append joined along axis.
def diff_vjp(a, n=1, axis=-1, prepend=None, append=None):
    parts = ad.diff_adjoints(g, a, n, axis, prepend, append)
    d[a] = parts[0]
    d[prepend] = parts[1]
    d[append] = parts[2]


vjp(np.diff,    diff_vjp)


# ans = np.average(a, axis, weights): sum(a * weights) / sum(weights).
def average_vjp(a, axis=None, weights=None, returned=False, *, keepdims=False):
    parts = ad.average_adjoints(g, ans, a, axis, weights, returned, keepdims)
    d[a] = parts[0]
    d[weights] = parts[1]


vjp(np.average, average_vjp)

# Products: ans = f(x, y); matmul broadcasts the stack dimensions.
vjp(np.dot,       lambda x, y: (ad.match_kind(ad.dot_adjoint_x(g, x, y), x), ad.match_kind(ad.dot_adjoint_y(g, x, y), y)))
vjp(np.matmul,    lambda x, y: (ad.matmul_adjoint_x(g, x, y), ad.matmul_adjoint_y(g, x, y)))
vjp(np.tensordot, lambda a, b, axes=2: (ad.tensordot_adjoint_a(g, a, b, axes), ad.tensordot_adjoint_b(g, a, b, axes)))


# ans = np.inner(a, b): a sum over the last axes.
def inner_vjp(a, b):
    parts = ad.inner_adjoints(g, a, b)
    d[a] = parts[0]
    d[b] = parts[1]


vjp(np.inner,     inner_vjp)


# ans = np.outer(a, b) of the flattened operands.
def outer_vjp(a, b):
    parts = ad.outer_adjoints(g, a, b)
    d[a] = parts[0]
    d[b] = parts[1]


vjp(np.outer,     outer_vjp)


# ans = np.vdot(a, b) = sum(conj(a) * b) of the flattened operands.
def vdot_vjp(a, b):
    parts = ad.vdot_adjoints(g, a, b)
    d[a] = parts[0]
    d[b] = parts[1]


vjp(np.vdot,      vdot_vjp)


# ans = np.kron(a, b).
def kron_vjp(a, b):
    parts = ad.kron_adjoints(g, a, b)
    d[a] = parts[0]
    d[b] = parts[1]


vjp(np.kron,      kron_vjp)


# ans = np.cross(a, b, ...), broadcasting the stacks of vectors.
def cross_vjp(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    parts = ad.cross_adjoints(g, a, b, axisa, axisb, axisc, axis)
    d[a] = parts[0]
    d[b] = parts[1]


vjp(np.cross,     cross_vjp)


# ans = np.einsum(subscripts, x0, x1, ...), with at most six operands, or
# the sublist form np.einsum(x0, sublist0, x1, sublist1, ..., output) with
# at most three, where the first parameter is the first operand.
def einsum_vjp(subscripts, x0, x1=None, x2=None, x3=None, x4=None, x5=None,
               *, dtype=None, casting='safe', optimize=False):
    arguments = (subscripts, x0, x1, x2, x3, x4, x5)
    d[subscripts] = ad.einsum_adjoint(g, arguments, 0, optimize, dtype)
    d[x0] = ad.einsum_adjoint(g, arguments, 1, optimize, dtype)
    d[x1] = ad.einsum_adjoint(g, arguments, 2, optimize, dtype)
    d[x2] = ad.einsum_adjoint(g, arguments, 3, optimize, dtype)
    d[x3] = ad.einsum_adjoint(g, arguments, 4, optimize, dtype)
    d[x4] = ad.einsum_adjoint(g, arguments, 5, optimize, dtype)
    d[x5] = ad.einsum_adjoint(g, arguments, 6, optimize, dtype)


vjp(np.einsum,    einsum_vjp)

# Shape: the adjoint only needs the shape of x (and a cast's dtype).
vjp(np.reshape,   lambda x, shape=None, order='C': np.reshape(g, np.shape(x), order=order))
vjp(np.ravel,     lambda x, order='C': np.reshape(g, np.shape(x), order=order))
vjp(np.squeeze,   lambda x, axis=None: np.reshape(g, np.shape(x)))
vjp(np.expand_dims, lambda x, axis: np.reshape(g, np.shape(x)))
vjp(np.transpose, lambda x, axes=None: ad.transpose_adjoint(g, axes))
# A list of differentiated values becomes an array, so the adjoint is
# reshaped to the list's shape, as for np.array.
vjp(np.asarray,   lambda x, dtype=None, order=None: ad.cast_adjoint(np.reshape(ad.unbroadcast(g, x), np.shape(x)), dtype))
vjp(np.asanyarray, lambda x, dtype=None, order=None: ad.cast_adjoint(np.reshape(ad.unbroadcast(g, x), np.shape(x)), dtype))
vjp(np.ascontiguousarray, lambda x, dtype=None: ad.cast_adjoint(np.reshape(ad.unbroadcast(g, x), np.shape(x)), dtype))
vjp(np.copy,      lambda x, order='K', subok=False: ad.unbroadcast(g, x))
vjp(np.swapaxes,  lambda a, axis1, axis2: np.swapaxes(g, axis1, axis2))
vjp(np.moveaxis,  lambda a, source, destination: np.moveaxis(g, destination, source))
vjp(np.rollaxis,  lambda a, axis, start=0: ad.rollaxis_adjoint(g, a, axis, start))
vjp(np.roll,      lambda a, shift, axis=None: np.roll(g, np.negative(shift), axis))
vjp(np.flip,      lambda m, axis=None: np.flip(g, axis))
vjp(np.flipud,    lambda m: np.flipud(g))
vjp(np.fliplr,    lambda m: np.fliplr(g))
vjp(np.rot90,     lambda m, k=1, axes=(0, 1): np.rot90(g, -k, axes))
vjp(np.broadcast_to, lambda array, shape, subok=False: ad.unbroadcast(g, array))
vjp(np.atleast_1d, lambda ary: np.reshape(g, np.shape(ary)))
vjp(np.atleast_2d, lambda ary: np.reshape(g, np.shape(ary)))
vjp(np.atleast_3d, lambda ary: np.reshape(g, np.shape(ary)))
vjp(np.triu,      lambda m, k=0: ad.unbroadcast(np.triu(g, k), m))
vjp(np.tril,      lambda m, k=0: ad.unbroadcast(np.tril(g, k), m))
vjp(np.diag,      lambda v, k=0: ad.diag_adjoint(g, v, k))
vjp(np.diagonal,  lambda a, offset=0, axis1=0, axis2=1: ad.diagonal_adjoint(g, a, offset, axis1, axis2))
vjp(np.trace,     lambda a, offset=0, axis1=0, axis2=1, dtype=None: ad.cast_adjoint(ad.trace_adjoint(g, a, offset, axis1, axis2), dtype))
vjp(np.repeat,    lambda a, repeats, axis=None: ad.repeat_adjoint(g, a, repeats, axis))
vjp(np.tile,      lambda A, reps: ad.tile_adjoint(g, A, reps))
vjp(np.take,      lambda a, indices, axis=None, *, mode='raise': ad.take_adjoint(g, a, indices, axis, mode))
vjp(np.take_along_axis, lambda arr, indices, axis=-1: ad.take_along_axis_adjoint(g, arr, indices, axis))
# ans = np.bincount(x, weights, minlength): bin i sums the weights where
# x == i, so each weight gets the adjoint of its bin.
vjp(np.bincount,  lambda x, weights=None, minlength=0: (None, np.take(g, x), None))
# np.astype is new in NumPy 2.0; older versions only have the method.
if hasattr(np, 'astype'):
    vjp(np.astype,    lambda x, dtype, *, copy=True, device=None: ad.astype_adjoint(g, x, dtype))

# Splits: ans is a list of pieces and g a list of their adjoints (None for
# zero).
vjp(np.split,       lambda ary, indices_or_sections, axis=0: ad.match_kind(ad.split_adjoint(g, ans, axis), ary))
vjp(np.array_split, lambda ary, indices_or_sections, axis=0: ad.match_kind(ad.split_adjoint(g, ans, axis), ary))
vjp(np.vsplit,      lambda ary, indices_or_sections: ad.match_kind(ad.split_adjoint(g, ans, 0), ary))
vjp(np.hsplit,      lambda ary, indices_or_sections: ad.match_kind(ad.split_adjoint(g, ans, 1 if np.ndim(ary) > 1 else 0), ary))
vjp(np.dsplit,      lambda ary, indices_or_sections: ad.match_kind(ad.split_adjoint(g, ans, 2), ary))

# Joins: the first argument is a sequence, and its adjoint a sequence like it.
vjp(np.concatenate,  lambda arrays, axis=0, *, dtype=None, casting='same_kind': ad.cast_items(ad.concatenate_adjoint(g, arrays, axis), arrays, dtype))
vjp(np.stack,        lambda arrays, axis=0, *, dtype=None, casting='same_kind': ad.cast_items(ad.stack_adjoint(g, arrays, axis), arrays, dtype))
vjp(np.vstack,       lambda tup, *, dtype=None, casting='same_kind': ad.cast_items(ad.vstack_adjoint(g, tup), tup, dtype))
vjp(np.hstack,       lambda tup, *, dtype=None, casting='same_kind': ad.cast_items(ad.hstack_adjoint(g, tup), tup, dtype))
vjp(np.dstack,       lambda tup: ad.dstack_adjoint(g, tup))
vjp(np.column_stack, lambda tup: ad.column_stack_adjoint(g, tup))


# ans = np.append(arr, values, axis).
def append_vjp(arr, values, axis=None):
    parts = ad.append_adjoint(g, arr, values, axis)
    d[arr] = ad.match_kind(parts[0], arr)
    d[values] = ad.match_kind(parts[1], values)


vjp(np.append, append_vjp)


# ans = np.pad(array, pad_width, mode, constant_values=...).
def pad_vjp(array, pad_width, mode='constant', constant_values=0):
    d[array] = ad.match_kind(ad.pad_adjoint(g, array, pad_width, mode), array)
    d[constant_values] = ad.pad_constant_adjoint(g, array, pad_width,
                                                 constant_values)


vjp(np.pad, pad_vjp)


# ans = np.select(condlist, choicelist, default): the first true condition
# picks.
def select_vjp(condlist, choicelist, default=0):
    parts = ad.select_adjoints(g, condlist, choicelist, default)
    d[choicelist] = parts[0]
    d[default] = parts[1]


vjp(np.select, select_vjp)


# ans = np.nan_to_num(x, ...): each replacement value gets the adjoints of the
# entries it replaced.
def nan_to_num_vjp(x, copy=True, nan=0.0, posinf=None, neginf=None):
    parts = ad.nan_to_num_adjoints(g, x, copy)
    d[x] = parts[0]
    d[nan] = parts[1]
    d[posinf] = parts[2]
    d[neginf] = parts[3]


vjp(np.nan_to_num, nan_to_num_vjp)

# Constructors with respect to their value: ans = np.full(shape, fill_value).
vjp(np.full,      lambda shape, fill_value, dtype=None, order='C': (None, ad.cast_adjoint(ad.unbroadcast(g, fill_value), dtype)))
vjp(np.full_like, lambda a, fill_value, dtype=None, order='K', subok=True, shape=None: (None, ad.cast_adjoint(ad.unbroadcast(g, fill_value), dtype)))
vjp(np.array,     lambda x, dtype=None, copy=True, order='K', subok=False, ndmin=0: ad.cast_adjoint(np.reshape(ad.unbroadcast(g, x), np.shape(x)), dtype))


# ans = np.linspace(start, stop, num, ...): samples start + t * (stop - start).
def linspace_vjp(start, stop, num=50, endpoint=True, retstep=False,
                 dtype=None, axis=0):
    parts = ad.linspace_adjoints(g, start, stop, num, endpoint, retstep, axis)
    d[start] = ad.cast_adjoint(parts[0], dtype)
    d[stop] = ad.cast_adjoint(parts[1], dtype)


vjp(np.linspace,  linspace_vjp)


# ans = np.arange(start, stop, step) = start + i * step for i = 0, 1, ...
# The length depends on stop, so the derivative in stop is zero between the
# values where the length changes. np.arange(stop) has one argument, read as
# stop (the template binds it to start; see ad.arange_weights).
def arange_vjp(start=None, stop=None, step=None, dtype=None, *, device=None,
               like=None):
    weights = ad.arange_weights(ans, stop)
    d[start] = ad.cast_adjoint(ad.unbroadcast(np.sum(g * weights[0]), start), dtype)
    d[step] = ad.cast_adjoint(ad.unbroadcast(np.sum(g * weights[1]), step), dtype)


vjp(np.arange,    arange_vjp)

# Sorting: ans = f(a, axis). Tied values share the mean of their adjoints.
vjp(np.sort,      lambda a, axis=-1, kind=None, *, stable=None: ad.sort_adjoint(g, a, axis))
vjp(np.partition, lambda a, kth, axis=-1, kind='introselect': ad.partition_adjoint(g, a, ans, axis))


# Random draws with location and scale: ans = loc + scale * z for a fixed z.
def location_scale_vjp(loc=0.0, scale=1.0, size=None):
    d[loc] = ad.unbroadcast(g, loc)
    d[scale] = ad.unbroadcast(g * ad.standardized(ans, loc, scale), scale)


# ans = low + (high - low) * u for a fixed u.
def uniform_vjp(low=0.0, high=1.0, size=None):
    fraction = ad.standardized(ans, low, high - low)
    d[low] = ad.unbroadcast(g * (1.0 - fraction), low)
    d[high] = ad.unbroadcast(g * fraction, high)


vjp(np.random.normal,      location_scale_vjp)
vjp(np.random.laplace,     location_scale_vjp)
vjp(np.random.logistic,    location_scale_vjp)
vjp(np.random.gumbel,      location_scale_vjp)
vjp(np.random.uniform,     uniform_vjp)
vjp(np.random.exponential, lambda scale=1.0, size=None: ad.unbroadcast(g * ans / scale, scale))

# The same draws as methods of a Generator: ans = rng.normal(loc, scale).
def generator_location_scale_vjp(rng, loc=0.0, scale=1.0, size=None):
    d[loc] = ad.unbroadcast(g, loc)
    d[scale] = ad.unbroadcast(g * ad.standardized(ans, loc, scale), scale)


def generator_uniform_vjp(rng, low=0.0, high=1.0, size=None, dtype=None, out=None):
    fraction = ad.standardized(ans, low, high - low)
    d[low] = ad.unbroadcast(g * (1.0 - fraction), low)
    d[high] = ad.unbroadcast(g * fraction, high)


def generator_exponential_vjp(rng, scale=1.0, size=None):
    d[scale] = ad.unbroadcast(g * ans / scale, scale)


for _name in ('normal', 'laplace', 'logistic', 'gumbel'):
    vjp(getattr(np.random.Generator, _name), generator_location_scale_vjp)
vjp(np.random.Generator.uniform,     generator_uniform_vjp)
vjp(np.random.Generator.exponential, generator_exponential_vjp)
for _name in ('standard_normal', 'random', 'integers', 'standard_exponential',
              'standard_cauchy'):
    non_differentiable(getattr(np.random.Generator, _name))

# Random draws that take no value to differentiate. np.random.choice and
# permutation are not listed, because they return entries of their argument.
for _callee in (np.random.seed, np.random.rand, np.random.randn,
                np.random.random, np.random.random_sample, np.random.randint,
                np.random.standard_normal, np.random.default_rng,
                np.random.get_state, np.random.set_state):
    non_differentiable(_callee)


# ans = x.clip(min, max), the method spelling of np.clip.
def method_clip_vjp(x, min=None, max=None):
    weights = ad.clip_weights(x, min, max)
    d[x] = g * weights[0]
    d[min] = g * weights[1]
    d[max] = g * weights[2]


# Methods of arrays: ans = x.method(...), x is the receiver.
method('sum',       sum_vjp)
method('mean',      lambda x, axis=None, dtype=None, out=None, keepdims=False, where=True: ad.cast_adjoint(ad.masked_mean_adjoint(g, x, axis, keepdims, where), dtype))
method('max',       extremum_vjp)
method('min',       extremum_vjp)
method('prod',      lambda x, axis=None, dtype=None, *, keepdims=False, where=True: ad.cast_adjoint(ad.prod_adjoint(g, ad.cast_operand(x, dtype), axis, keepdims, where), dtype))
method('var',       var_method_vjp)
method('std',       std_method_vjp)
method('cumsum',    lambda x, axis=None, dtype=None: ad.cast_adjoint(ad.cumsum_adjoint(g, x, axis), dtype))
method('cumprod',   lambda x, axis=None, dtype=None: ad.cast_adjoint(ad.cumprod_adjoint(g, ad.cast_operand(x, dtype), ans, axis), dtype))
method('dot',       lambda x, y: (ad.match_kind(ad.dot_adjoint_x(g, x, y), x), ad.match_kind(ad.dot_adjoint_y(g, x, y), y)))
method('reshape',   lambda x, *shape, order='C': np.reshape(g, np.shape(x), order=order))
method('ravel',     lambda x, order='C': np.reshape(g, np.shape(x), order=order))
method('flatten',   lambda x, order='C': np.reshape(g, np.shape(x), order=order))
method('squeeze',   lambda x, axis=None: np.reshape(g, np.shape(x)))
method('transpose', lambda x, *axes: ad.transpose_adjoint(g, axes))
method('copy',      lambda x, order='C': g)
method('tolist',    lambda x: np.reshape(np.asarray(ad.materialize(g, x.tolist())), np.shape(x)))
method('clip',      method_clip_vjp, unbroadcast=True)
method('swapaxes',  lambda x, axis1, axis2: np.swapaxes(g, axis1, axis2))
method('diagonal',  lambda x, offset=0, axis1=0, axis2=1: ad.diagonal_adjoint(g, x, offset, axis1, axis2))
method('trace',     lambda x, offset=0, axis1=0, axis2=1, dtype=None: ad.cast_adjoint(ad.trace_adjoint(g, x, offset, axis1, axis2), dtype))
method('repeat',    lambda x, repeats, axis=None: ad.repeat_adjoint(g, x, repeats, axis))
method('compress',  lambda x, condition, axis=None: ad.compress_adjoint(g, x, condition, axis))
method('take',      lambda x, indices, axis=None, *, mode='raise': ad.take_adjoint(g, x, indices, axis, mode))
method('astype',    lambda x, dtype, order='K', casting='unsafe', subok=True, copy=True: ad.astype_adjoint(g, x, dtype))
method('item',      lambda x, *args: ad.item_adjoint(g, x, args))
method('conj',      lambda x: ad.match_kind(np.conj(g), x))
method('conjugate', lambda x: ad.match_kind(np.conj(g), x))
for _name in ('argmax', 'argmin', 'argsort', 'nonzero', 'any', 'all',
              'round', 'searchsorted', 'argpartition'):
    method(_name, NON_DIFFERENTIABLE)

# Attributes of arrays: ans = x.attr.
attribute('T',      lambda x: np.transpose(g))
attribute('mT',     lambda x: np.swapaxes(g, -1, -2))
attribute('real',   lambda x: ad.match_kind(g, x))
attribute('imag',   lambda x: ad.match_kind(-1j * g, x))
# x.flat is a flat iterator, read by index like x.ravel().
attribute('flat',   lambda x: np.reshape(g, np.shape(x)))
for _name in ('shape', 'ndim', 'size', 'dtype', 'itemsize', 'nbytes',
              'strides', 'flags'):
    attribute(_name, NON_DIFFERENTIABLE)

# Methods of ufuncs: ans = np.add.reduce(array, axis), np.add.accumulate(
# array, axis) and so on. Their axis defaults to 0, not None.
vjp(np.add.reduce,      add_reduce_vjp)
vjp(np.multiply.reduce, lambda array, axis=0, dtype=None, keepdims=False: ad.cast_adjoint(ad.prod_adjoint(g, ad.cast_operand(array, dtype), axis, keepdims), dtype))
vjp(np.maximum.reduce,  lambda array, axis=0, keepdims=False: ad.extremum_adjoint(g, array, ans, axis, keepdims))
vjp(np.minimum.reduce,  lambda array, axis=0, keepdims=False: ad.extremum_adjoint(g, array, ans, axis, keepdims))
vjp(np.add.accumulate,      lambda array, axis=0, dtype=None: ad.cast_adjoint(ad.cumsum_adjoint(g, array, axis), dtype))
vjp(np.multiply.accumulate, lambda array, axis=0, dtype=None: ad.cast_adjoint(ad.cumprod_adjoint(g, ad.cast_operand(array, dtype), ans, axis), dtype))
vjp(np.maximum.accumulate,  lambda array, axis=0: ad.extremum_scan_adjoint(g, array, ans, axis))
vjp(np.minimum.accumulate,  lambda array, axis=0: ad.extremum_scan_adjoint(g, array, ans, axis))

# In-place functions: a statement `f(a, ...)` whose first argument is a
# local name runs as `a[...] = pure(a, ...)`, with the rules of the pure
# functions in adcompiler.rules.runtime.
REGISTRY.in_place(np.add.at,         rt.added_at)
REGISTRY.in_place(np.subtract.at,    rt.subtracted_at)
REGISTRY.in_place(np.multiply.at,    rt.multiplied_at)
REGISTRY.in_place(np.put_along_axis, rt.put_along)


# Assertions of numpy.testing: they compare their arguments, return None
# and raise AssertionError, so they run as bookkeeping, as an `assert`
# statement does. Registered once a user imports numpy.testing, because
# importing it takes time that importing adcompiler need not spend.
_TESTING_ASSERTIONS = (
    'assert_', 'assert_allclose', 'assert_almost_equal', 'assert_approx_equal',
    'assert_array_almost_equal', 'assert_array_almost_equal_nulp',
    'assert_array_equal', 'assert_array_less', 'assert_array_max_ulp',
    'assert_equal', 'assert_string_equal',
)


def _register_testing_assertions():
    import numpy.testing
    for name in _TESTING_ASSERTIONS:
        non_differentiable(getattr(numpy.testing, name))


REGISTRY.defer('numpy.testing', _register_testing_assertions)
