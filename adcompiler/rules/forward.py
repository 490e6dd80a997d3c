"""Forward rules (JVP templates) of the functions whose reverse rule is not
elementwise.

Letters: `ans = f(x, y, ...)`; in the entry for x, `t` is the tangent of x,
and the tangent of `ans` is the sum of the entries of the arguments that
have a tangent. Elementwise reverse rules (`g` times a partial derivative)
serve as forward rules with `t` in place of `g`, so they are not repeated
here; `derive_jvp` marks the `math` rules, which have that form too.
"""

import builtins
import math
import operator

import numpy as np

from adcompiler import runtime
from adcompiler.rules.linalg import ARRAY_API
from adcompiler.rules.registry import REGISTRY, Rule

jvp = REGISTRY.jvp
method_jvp = REGISTRY.method_jvp
attribute_jvp = REGISTRY.attribute_jvp

# Scalar functions of the math module: g * f'(x) in reverse, t * f'(x) forward.
REGISTRY.derive_jvp(*[f for f in vars(math).values()
                      if isinstance(REGISTRY.lookup(f), Rule)])

# Python operators and built-ins: ans = op(x, y).
jvp(operator.matmul, lambda x, y: (t @ y, x @ t))
jvp(operator.getitem, lambda x, index: t[index])
jvp(builtins.float,  lambda x=0.0: ad.float_tangent(t))
for _float_type in (np.float64, np.float32, np.float16):
    jvp(_float_type, lambda x=0.0: ad.cast_tangent(t, np.result_type(ans)))

# Sums, products and extrema of sequences: ans = f(seq) or f(x0, x1, ...).
# The math rules were marked elementwise above, and these replace theirs.
# With tuple_result, the two entries are added with ad.add, which adds
# lists entry by entry where `+` would concatenate them.
jvp(builtins.sum,  lambda iterable, start=0: (ad.sum_items_tangent(t, ans, start), ad.sum_start_tangent(t, ans, start)), tuple_result=True)
jvp(builtins.list, lambda iterable=(): ad.items_tangent(t, iterable, ans))
jvp(builtins.tuple, lambda iterable=(): ad.items_tangent(t, iterable, ans))
jvp(math.fsum,     lambda seq: ad.sequence_sum_tangent(t, ans))
jvp(runtime.hypot_items, lambda items: ad.hypot_items_tangent(t, items, ans))
jvp(math.prod,     lambda iterable, *, start=1: (ad.sequence_prod_tangent(t, iterable, start), t * ad.sequence_product(iterable)))
for _callee in (builtins.max, builtins.min):
    jvp(_callee, lambda x0, x1=None, x2=None, x3=None, x4=None, x5=None, *, default=None: (ad.builtin_extremum_tangent(t, ans, (x0, x1, x2, x3, x4, x5), 0), ad.builtin_extremum_tangent(t, ans, (x0, x1, x2, x3, x4, x5), 1), ad.builtin_extremum_tangent(t, ans, (x0, x1, x2, x3, x4, x5), 2), ad.builtin_extremum_tangent(t, ans, (x0, x1, x2, x3, x4, x5), 3), ad.builtin_extremum_tangent(t, ans, (x0, x1, x2, x3, x4, x5), 4), ad.builtin_extremum_tangent(t, ans, (x0, x1, x2, x3, x4, x5), 5), ad.extremum_default_tangent(t, x0)))

# Reductions: ans = f(x, axis, keepdims=keepdims).
# The optimizer drops where=True and turns ad.bounded_extremum_tangent of
# no initial into ad.extremum_tangent.
jvp(np.sum,  lambda x, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True: (ad.cast_tangent(np.sum(t, axis=axis, keepdims=keepdims, where=where), dtype), None, None, None, None, ad.cast_tangent(ad.broadcast_like(t, ans), dtype)))
jvp(np.mean, lambda x, axis=None, dtype=None, out=None, keepdims=False, where=True: ad.cast_tangent(np.mean(t, axis=axis, keepdims=keepdims, where=where), dtype))
for _callee in (np.max, np.min, np.amax, np.amin):
    jvp(_callee, lambda x, axis=None, out=None, keepdims=False, initial=None, where=True: (ad.bounded_extremum_tangent(t, x, ans, axis, keepdims, initial, where, active(initial)), None, None, None, ad.initial_tangent(t, x, ans, axis, keepdims, initial, where)))

# Reductions, through the partial derivatives that their reverse helpers
# give for a unit cotangent: ans = f(a, axis, keepdims=keepdims).
# ad.cast_operand(a, dtype) is the real part of a complex `a` for a real
# dtype, as NumPy casts `a` to `dtype` before it multiplies. The variances
# take the mean in `dtype`.
jvp(np.prod,    lambda a, axis=None, dtype=None, *, keepdims=False, where=True: ad.cast_tangent(ad.prod_tangent(ad.cast_operand(t, dtype), ad.cast_operand(a, dtype), ans, axis, keepdims, where), dtype))
# np.var and np.std: the tangents of a and of a mean passed in (mean=).
jvp(np.var,     lambda a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=None, correction=None: (ad.cast_tangent(ad.var_tangent(t, a, ans, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype), None, None, None, None, None, None, ad.cast_tangent(ad.var_mean_tangent(t, a, ans, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype)))
jvp(np.std,     lambda a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=None, correction=None: (ad.cast_tangent(ad.std_tangent(t, a, ans, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype), None, None, None, None, None, None, ad.cast_tangent(ad.std_mean_tangent(t, a, ans, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype)))
jvp(np.ptp,     lambda a, axis=None, *, keepdims=False: ad.ptp_tangent(t, a, ans, axis, keepdims))
jvp(np.average, lambda a, axis=None, weights=None, returned=False, *, keepdims=False: (ad.average_tangent(t, None, a, ans, axis, weights, returned, keepdims), None, ad.average_tangent(None, t, a, ans, axis, weights, returned, keepdims)))
method_jvp('prod', lambda x, axis=None, dtype=None, *, keepdims=False, where=True: ad.cast_tangent(ad.prod_tangent(ad.cast_operand(t, dtype), ad.cast_operand(x, dtype), ans, axis, keepdims, where), dtype))
method_jvp('var',  lambda x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=None, correction=None: (ad.cast_tangent(ad.var_tangent(t, x, ans, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype), None, None, None, None, None, None, ad.cast_tangent(ad.var_mean_tangent(t, x, ans, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype)))
method_jvp('std',  lambda x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=None, correction=None: (ad.cast_tangent(ad.std_tangent(t, x, ans, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype), None, None, None, None, None, None, ad.cast_tangent(ad.std_mean_tangent(t, x, ans, axis, ad.variance_ddof(ddof, correction), keepdims, where, mean, dtype), dtype)))

# Extrema that skip NaNs: ans = np.fmax(x, y) or np.fmin(x, y). The
# tangent of a NaN operand is left out, because NaN * 0 would be NaN.
for _callee in (np.fmax, np.fmin):
    jvp(_callee, lambda x, y: (ad.skip_nan_tangent(t * ad.balanced_eq(x, ans, y, active(y)), x), ad.skip_nan_tangent(t * ad.balanced_eq(y, ans, x, active(x)), y)))

# Reductions that skip NaNs: only the entries they read have partials.
jvp(np.nansum,  lambda a, axis=None, dtype=None, *, keepdims=False, where=True: ad.cast_tangent(ad.nansum_tangent(t, a, ans, axis, keepdims, where), dtype))
jvp(np.nanmean, lambda a, axis=None, dtype=None, *, keepdims=False: ad.cast_tangent(ad.nanmean_tangent(t, a, ans, axis, keepdims), dtype))
jvp(np.nanmax,    lambda a, axis=None, *, keepdims=False: ad.nan_extremum_tangent(t, a, ans, axis, keepdims))
jvp(np.nanmin,    lambda a, axis=None, *, keepdims=False: ad.nan_extremum_tangent(t, a, ans, axis, keepdims))
jvp(np.nanprod,   lambda a, axis=None, dtype=None, *, keepdims=False: ad.cast_tangent(ad.nanprod_tangent(ad.cast_operand(t, dtype), ad.cast_operand(a, dtype), ans, axis, keepdims), dtype))
jvp(np.nanvar,    lambda a, axis=None, dtype=None, *, ddof=0, keepdims=False, where=True: ad.cast_tangent(ad.nanvar_tangent(t, a, ans, axis, ddof, keepdims, where, dtype), dtype))
jvp(np.nanstd,    lambda a, axis=None, dtype=None, *, ddof=0, keepdims=False: ad.cast_tangent(ad.nanstd_tangent(t, a, ans, axis, ddof, keepdims, dtype), dtype))
jvp(np.nanmedian, lambda a, axis=None, *, keepdims=False: ad.quantile_tangent(t, a, 0.5, ans, axis, keepdims, 'linear', True))
jvp(np.median,    lambda a, axis=None, *, keepdims=False: ad.quantile_tangent(t, a, 0.5, ans, axis, keepdims))
jvp(np.quantile,      lambda a, q, axis=None, *, method='linear', keepdims=False, weights=None: (ad.quantile_tangent(t, a, q, ans, axis, keepdims, method, False, weights), ad.quantile_level_adjoint('np.quantile'), None))
jvp(np.nanquantile,   lambda a, q, axis=None, *, method='linear', keepdims=False, weights=None: (ad.quantile_tangent(t, a, q, ans, axis, keepdims, method, True, weights), ad.quantile_level_adjoint('np.nanquantile'), None))
jvp(np.percentile,    lambda a, q, axis=None, *, method='linear', keepdims=False, weights=None: (ad.quantile_tangent(t, a, ad.percentile_level(q), ans, axis, keepdims, method, False, weights), ad.quantile_level_adjoint('np.percentile'), None))
jvp(np.nanpercentile, lambda a, q, axis=None, *, method='linear', keepdims=False, weights=None: (ad.quantile_tangent(t, a, ad.percentile_level(q), ans, axis, keepdims, method, True, weights), ad.quantile_level_adjoint('np.nanpercentile'), None))
jvp(np.nancumsum,  lambda a, axis=None, dtype=None: ad.cast_tangent(np.cumsum(ad.skip_nan_tangent(t, a), axis), dtype))
jvp(np.nancumprod, lambda a, axis=None, dtype=None: ad.cast_tangent(ad.nancumprod_tangent(ad.cast_operand(t, dtype), ad.cast_operand(a, dtype), ans, axis), dtype))

# Replacements: np.nan_to_num(x, copy, nan, posinf, neginf) and
# np.pad(array, pad_width, mode, constant_values). The replaced entries and
# the padding move with the replacement values, not with x or array.
jvp(np.nan_to_num, lambda x, copy=True, nan=0.0, posinf=None, neginf=None: (ad.nan_to_num_tangent(t, x, copy), None, ad.nan_to_num_tangent(t, x, copy, np.isnan), ad.nan_to_num_tangent(t, x, copy, np.isposinf), ad.nan_to_num_tangent(t, x, copy, np.isneginf)))
jvp(np.bincount,   lambda x, weights=None, minlength=0: (None, np.bincount(x, t, minlength), None))
jvp(np.pad,        lambda array, pad_width, mode='constant', constant_values=0: (ad.pad_tangent(t, pad_width, mode), None, None, ad.pad_constant_tangent(t, array, pad_width)))

# Scans and sorting: ans = f(a, axis).
jvp(np.cumprod,   lambda a, axis=None, dtype=None: ad.cast_tangent(ad.cumprod_tangent(ad.cast_operand(t, dtype), ad.cast_operand(a, dtype), ans, axis), dtype))
method_jvp('cumprod', lambda x, axis=None, dtype=None: ad.cast_tangent(ad.cumprod_tangent(ad.cast_operand(t, dtype), ad.cast_operand(x, dtype), ans, axis), dtype))
jvp(np.sort,      lambda a, axis=-1, kind=None, *, stable=None: ad.sorted_tangent(t, a, ans, axis))
jvp(np.partition, lambda a, kth, axis=-1, kind='introselect': ad.sorted_tangent(t, a, ans, axis))

# (quotient, remainder) = divmod(x, y): only the remainder moves.
jvp(np.divmod,       lambda x, y: (ad.divmod_tangent(t, ans), ad.divmod_tangent(-t * np.floor_divide(x, y), ans)), tuple_result=True)
jvp(builtins.divmod, lambda x, y: (ad.divmod_tangent(t, ans), ad.divmod_tangent(-t * np.floor_divide(x, y), ans)), tuple_result=True)

# Random draws for a fixed seed: ans = loc + scale * z, low + (high - low) * u.
for _callee in (np.random.normal, np.random.laplace, np.random.logistic,
                np.random.gumbel):
    jvp(_callee, lambda loc=0.0, scale=1.0, size=None: (ad.broadcast_like(t, ans), t * ad.standardized(ans, loc, scale)))
jvp(np.random.uniform,     lambda low=0.0, high=1.0, size=None: (t * (1.0 - ad.standardized(ans, low, high - low)), t * ad.standardized(ans, low, high - low)))
jvp(np.random.exponential, lambda scale=1.0, size=None: t * ans / scale)

# Products: bilinear, ans = f(x, y).
jvp(np.dot,    lambda x, y: (np.dot(t, y), np.dot(x, t)))
jvp(np.matmul, lambda x, y: (np.matmul(t, y), np.matmul(x, t)))
if ARRAY_API:
    jvp(np.linalg.matmul, lambda x1, x2: (np.linalg.matmul(t, x2), np.linalg.matmul(x1, t)))

# Shape and copies: linear, the same function applied to the tangent.
jvp(np.reshape,     lambda x, shape=None, order='C': np.reshape(t, np.shape(ans), order=order))
jvp(np.ravel,       lambda x, order='C': np.ravel(t, order=order))
jvp(np.squeeze,     lambda x, axis=None: np.reshape(t, np.shape(ans)))
jvp(np.expand_dims, lambda x, axis: np.reshape(t, np.shape(ans)))
jvp(np.transpose,   lambda x, axes=None: np.transpose(t, axes))
jvp(np.asarray,     lambda x, dtype=None, order=None: ad.cast_tangent(np.reshape(np.asarray(t), np.shape(ans)), dtype))
jvp(np.asanyarray,  lambda x, dtype=None, order=None: ad.cast_tangent(np.reshape(np.asarray(t), np.shape(ans)), dtype))
jvp(np.ascontiguousarray, lambda x, dtype=None: ad.cast_tangent(np.reshape(np.asarray(t), np.shape(ans)), dtype))
jvp(np.array,       lambda x, dtype=None, copy=True, order='K', subok=False, ndmin=0: ad.cast_tangent(np.reshape(np.array(t), np.shape(ans)), dtype))
jvp(np.copy,        lambda x, order='K', subok=False: np.copy(t))

# Casts: ans = x.astype(dtype).
if hasattr(np, 'astype'):  # NumPy 2.0 added the function.
    jvp(np.astype,        lambda x, dtype, *, copy=True, device=None: ad.astype_tangent(t, dtype))
method_jvp('astype',  lambda x, dtype, order='K', casting='unsafe', subok=True, copy=True: ad.astype_tangent(t, dtype))

# Selection: ans = np.clip(x, a_min, a_max), ans = x.clip(min, max).
jvp(np.clip, lambda x, a_min=None, a_max=None: (t * ad.clip_weights(x, a_min, a_max)[0], t * ad.clip_weights(x, a_min, a_max)[1], t * ad.clip_weights(x, a_min, a_max)[2]))
method_jvp('clip', lambda x, min=None, max=None: (t * ad.clip_weights(x, min, max)[0], t * ad.clip_weights(x, min, max)[1], t * ad.clip_weights(x, min, max)[2]))

# Constructors with respect to their value: ans = np.full(shape, fill_value).
jvp(np.full,      lambda shape, fill_value, dtype=None, order='C': (None, ad.cast_tangent(np.full(np.shape(ans), t), dtype)))
jvp(np.full_like, lambda a, fill_value, dtype=None, order='K', subok=True, shape=None: (None, ad.cast_tangent(np.full(np.shape(ans), t), dtype)))

# Grids: ans = np.arange(start, stop, step) = start + i * step, and
# ans = fftfreq(n, d) = k / (n * d); see their reverse rules.
def arange_jvp(start=None, stop=None, step=None, dtype=None, *, device=None,
               like=None):
    d[start] = ad.cast_tangent(t * ad.arange_weights(ans, stop)[0], dtype)
    d[step] = ad.cast_tangent(t * ad.arange_weights(ans, stop)[1], dtype)


jvp(np.arange,         arange_jvp)
jvp(np.fft.fftfreq,    lambda n, d=1.0, device=None: (None, -ans * t / d))
jvp(np.fft.rfftfreq,   lambda n, d=1.0, device=None: (None, -ans * t / d))

# Methods of arrays: ans = x.method(...).
method_jvp('sum',       lambda x, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True: (ad.cast_tangent(np.sum(t, axis=axis, keepdims=keepdims, where=where), dtype), None, None, None, None, ad.cast_tangent(ad.broadcast_like(t, ans), dtype)))
method_jvp('mean',      lambda x, axis=None, dtype=None, out=None, keepdims=False, where=True: ad.cast_tangent(np.mean(t, axis=axis, keepdims=keepdims, where=where), dtype))
method_jvp('max',       lambda x, axis=None, out=None, keepdims=False, initial=None, where=True: (ad.bounded_extremum_tangent(t, x, ans, axis, keepdims, initial, where, active(initial)), None, None, None, ad.initial_tangent(t, x, ans, axis, keepdims, initial, where)))
method_jvp('min',       lambda x, axis=None, out=None, keepdims=False, initial=None, where=True: (ad.bounded_extremum_tangent(t, x, ans, axis, keepdims, initial, where, active(initial)), None, None, None, ad.initial_tangent(t, x, ans, axis, keepdims, initial, where)))
method_jvp('dot',       lambda x, y: (np.dot(t, y), np.dot(x, t)))
method_jvp('reshape',   lambda x, *shape, order='C': np.reshape(t, np.shape(ans), order=order))
method_jvp('ravel',     lambda x, order='C': np.ravel(t, order=order))
method_jvp('flatten',   lambda x, order='C': np.ravel(t, order=order))
method_jvp('squeeze',   lambda x, axis=None: np.reshape(t, np.shape(ans)))
method_jvp('transpose', lambda x, *axes: np.transpose(t, ad.transpose_axes(axes)))
method_jvp('copy',      lambda x, order='C': ad.copy(t))
method_jvp('tolist',    lambda x: np.asarray(t).tolist())
method_jvp('item',      lambda x, *args: ad.item_tangent(t, args))

# Attributes of arrays: ans = x.attr.
attribute_jvp('T', lambda x: np.transpose(t))

# Linear functions: the forward rule is the function applied to the tangent
# of its first parameter (or of the parameters listed, jointly).
for _callee in (np.real, np.imag, np.conjugate, np.cumsum,
                np.swapaxes, np.moveaxis, np.rollaxis,
                np.roll, np.flip, np.flipud, np.fliplr, np.rot90,
                np.broadcast_to, np.atleast_1d, np.atleast_2d, np.atleast_3d,
                np.triu, np.tril, np.diag, np.diagonal, np.trace, np.repeat,
                np.tile, np.take, np.take_along_axis, np.split,
                np.array_split, np.vsplit, np.hsplit, np.dsplit,
                np.concatenate, np.stack, np.vstack, np.hstack, np.dstack,
                np.column_stack,
                np.fft.fft, np.fft.ifft, np.fft.fft2, np.fft.ifft2,
                np.fft.fftn, np.fft.ifftn, np.fft.rfft, np.fft.irfft,
                np.fft.rfft2, np.fft.irfft2, np.fft.rfftn, np.fft.irfftn,
                np.fft.fftshift, np.fft.ifftshift):
    REGISTRY.linear_jvp(_callee)
REGISTRY.linear_jvp(np.append, ('arr', 'values'))
REGISTRY.linear_jvp(np.diff, ('a', 'prepend', 'append'))
REGISTRY.linear_jvp(np.select, ('choicelist', 'default'))
REGISTRY.linear_jvp(np.linspace, ('start', 'stop'))

# Products: linear in each operand, ans = f(a, b).
for _callee in (np.tensordot, np.inner, np.outer, np.vdot, np.kron,
                np.cross):
    REGISTRY.linear_jvp(_callee, ('a', 'b'), multilinear=True)
if ARRAY_API:
    for _callee in (np.linalg.outer, np.linalg.tensordot,
                    np.linalg.cross, np.linalg.vecdot, np.vecdot):
        REGISTRY.linear_jvp(_callee, ('x1', 'x2'), multilinear=True)
    for _callee in (np.linalg.trace, np.linalg.diagonal,
                    np.linalg.matrix_transpose):
        REGISTRY.linear_jvp(_callee)
REGISTRY.linear_jvp(np.einsum, ('subscripts',) + tuple(f'x{i}' for i in range(6)), multilinear=True)

for _name in ('cumsum', 'swapaxes', 'diagonal', 'trace', 'repeat', 'take',
              'compress', 'conj', 'conjugate'):
    REGISTRY.linear_method_jvp(_name)

# Non-holomorphic functions of complex numbers, whose reverse rules
# conjugate: ans = f(z).
jvp(np.sign,          lambda x: ad.sign_tangent(t, x))
jvp(np.real_if_close, lambda a, tol=100: ad.real_if_close_tangent(t, ans))

# Complex argument: ans = np.angle(z, deg).
jvp(np.angle, lambda z, deg=False: ad.angle_tangent(t, z, deg))
attribute_jvp('real', lambda x: np.real(t))
attribute_jvp('imag', lambda x: np.imag(t))
attribute_jvp('mT', lambda x: np.swapaxes(t, -1, -2))
attribute_jvp('flat', lambda x: np.ravel(t))

# Absolute value: real for complex input, ans = |x|.
for _callee in (np.abs, np.absolute, builtins.abs):
    jvp(_callee, lambda x: ad.abs_tangent(t, x, ans))

# numpy.linalg: ans = f(a, ...), t the tangent of a (of b in solve and
# lstsq). Tuple results get tuple tangents. The runtime helpers give the
# formulas, and adcompiler.rules.linalg the conventions.
jvp(np.linalg.det,          lambda a: ad.det_tangent(t, a))
jvp(np.linalg.slogdet,      lambda a: ad.slogdet_tangent(t, a, ans))
jvp(np.linalg.inv,          lambda a: -(ans @ t @ ans))
jvp(np.linalg.pinv,         lambda a, rcond=None, hermitian=False, *, rtol=None: ad.pinv_tangent(t, a, ans, hermitian))
jvp(np.linalg.matrix_power, lambda a, n: ad.matrix_power_tangent(t, a, n))
jvp(np.linalg.solve,        lambda a, b: (ad.solve_tangent_a(t, a, b, ans), np.linalg.solve(a, t)))
jvp(np.linalg.lstsq,        lambda a, b, rcond=None: (ad.lstsq_tangent(t, None, a, b, ans), ad.lstsq_tangent(None, t, a, b, ans)), tuple_result=True)
jvp(np.linalg.norm,         lambda x, ord=None, axis=None, keepdims=False: ad.norm_tangent(t, x, ans, ord, axis, keepdims))
if ARRAY_API:
    jvp(np.linalg.vector_norm,  lambda x, *, axis=None, keepdims=False, ord=2: ad.norm_tangent(t, x, ans, ord, axis, keepdims, vector=True))
    jvp(np.linalg.matrix_norm,  lambda x, *, keepdims=False, ord='fro': ad.norm_tangent(t, x, ans, ord, (-2, -1), keepdims))
jvp(np.linalg.eigh,         lambda a, UPLO='L': ad.eigh_tangent(t, a, ans, UPLO))
jvp(np.linalg.eigvalsh,     lambda a, UPLO='L': ad.eigvalsh_tangent(t, a, UPLO))
jvp(np.linalg.eig,          lambda a: ad.eig_tangent(t, a, ans))
jvp(np.linalg.eigvals,      lambda a: ad.eigvals_tangent(t, a, ans))
jvp(np.linalg.cholesky,     lambda a, *, upper=False: ad.cholesky_tangent(t, a, ans, upper))
jvp(np.linalg.svd,          lambda a, full_matrices=True, compute_uv=True, hermitian=False: ad.svd_tangent(t, a, ans, full_matrices, compute_uv, hermitian))
if ARRAY_API:
    jvp(np.linalg.svdvals,      lambda x: ad.svd_tangent(t, x, ans, False, False))
jvp(np.linalg.qr,           lambda a, mode='reduced': ad.qr_tangent(t, a, ans, mode))

# Fields of the named tuples that numpy.linalg returns: ans = result.field.
attribute_jvp('eigenvalues',   lambda x: ad.field_tangent(t, x, 'eigenvalues'))
attribute_jvp('eigenvectors',  lambda x: ad.field_tangent(t, x, 'eigenvectors'))
attribute_jvp('U',             lambda x: ad.field_tangent(t, x, 'U'))
attribute_jvp('S',             lambda x: ad.field_tangent(t, x, 'S'))
attribute_jvp('Vh',            lambda x: ad.field_tangent(t, x, 'Vh'))
attribute_jvp('Q',             lambda x: ad.field_tangent(t, x, 'Q'))
attribute_jvp('R',             lambda x: ad.field_tangent(t, x, 'R'))
attribute_jvp('sign',          lambda x: ad.field_tangent(t, x, 'sign'))
attribute_jvp('logabsdet',     lambda x: ad.field_tangent(t, x, 'logabsdet'))

# Methods of ufuncs: ans = np.add.reduce(array, axis) and so on; see their
# reverse rules.
jvp(np.add.reduce,      lambda array, axis=0, dtype=None, out=None, keepdims=False, initial=None, where=True: (ad.cast_tangent(np.sum(t, axis=axis, keepdims=keepdims, where=where), dtype), None, None, None, None, ad.cast_tangent(ad.broadcast_like(t, ans), dtype)))
jvp(np.multiply.reduce, lambda array, axis=0, dtype=None, keepdims=False: ad.cast_tangent(ad.prod_tangent(ad.cast_operand(t, dtype), ad.cast_operand(array, dtype), ans, axis, keepdims), dtype))
jvp(np.maximum.reduce,  lambda array, axis=0, keepdims=False: ad.extremum_tangent(t, array, ans, axis, keepdims))
jvp(np.minimum.reduce,  lambda array, axis=0, keepdims=False: ad.extremum_tangent(t, array, ans, axis, keepdims))
jvp(np.add.accumulate,      lambda array, axis=0, dtype=None: ad.cast_tangent(np.add.accumulate(t, axis), dtype))
jvp(np.multiply.accumulate, lambda array, axis=0, dtype=None: ad.cast_tangent(ad.cumprod_tangent(ad.cast_operand(t, dtype), ad.cast_operand(array, dtype), ans, axis), dtype))
jvp(np.maximum.accumulate,  lambda array, axis=0: ad.extremum_scan_tangent(t, array, ans, axis))
jvp(np.minimum.accumulate,  lambda array, axis=0: ad.extremum_scan_tangent(t, array, ans, axis))
