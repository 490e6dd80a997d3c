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
jvp(builtins.float,  lambda x=0.0: np.sum(t))

# Reductions: ans = f(x, axis, keepdims=keepdims).
jvp(np.sum,  lambda x, axis=None, dtype=None, out=None, keepdims=False: ad.cast_adjoint(np.sum(t, axis=axis, keepdims=keepdims), dtype))
jvp(np.mean, lambda x, axis=None, dtype=None, out=None, keepdims=False: ad.cast_adjoint(np.mean(t, axis=axis, keepdims=keepdims), dtype))
jvp(np.max,  lambda x, axis=None, out=None, keepdims=False: ad.extremum_tangent(t, x, ans, axis, keepdims))
jvp(np.min,  lambda x, axis=None, out=None, keepdims=False: ad.extremum_tangent(t, x, ans, axis, keepdims))
jvp(np.amax, lambda x, axis=None, out=None, keepdims=False: ad.extremum_tangent(t, x, ans, axis, keepdims))
jvp(np.amin, lambda x, axis=None, out=None, keepdims=False: ad.extremum_tangent(t, x, ans, axis, keepdims))

# Products: bilinear, ans = f(x, y).
jvp(np.dot,    lambda x, y: (np.dot(t, y), np.dot(x, t)))
jvp(np.matmul, lambda x, y: (np.matmul(t, y), np.matmul(x, t)))

# Shape and copies: linear, the same function applied to the tangent.
jvp(np.reshape,     lambda x, shape=None, order='C': np.reshape(t, np.shape(ans), order=order))
jvp(np.ravel,       lambda x, order='C': np.ravel(t, order=order))
jvp(np.squeeze,     lambda x, axis=None: np.reshape(t, np.shape(ans)))
jvp(np.expand_dims, lambda x, axis: np.reshape(t, np.shape(ans)))
jvp(np.transpose,   lambda x, axes=None: np.transpose(t, axes))
jvp(np.asarray,     lambda x, dtype=None, order=None: ad.cast_adjoint(np.reshape(np.asarray(t), np.shape(ans)), dtype))
jvp(np.array,       lambda x, dtype=None, copy=True, order='K', subok=False, ndmin=0: ad.cast_adjoint(np.reshape(np.array(t), np.shape(ans)), dtype))
jvp(np.copy,        lambda x, order='K', subok=False: np.copy(t))

# Selection: ans = np.clip(x, a_min, a_max).
jvp(np.clip, lambda x, a_min=None, a_max=None: (t * ad.clip_weights(x, a_min, a_max)[0], t * ad.clip_weights(x, a_min, a_max)[1], t * ad.clip_weights(x, a_min, a_max)[2]))

# Constructors with respect to their value: ans = np.full(shape, fill_value).
jvp(np.full,      lambda shape, fill_value, dtype=None, order='C': (None, ad.cast_adjoint(np.full(np.shape(ans), t), dtype)))
jvp(np.full_like, lambda a, fill_value, dtype=None, order='K', subok=True, shape=None: (None, ad.cast_adjoint(np.full(np.shape(ans), t), dtype)))

# Methods of arrays: ans = x.method(...).
method_jvp('sum',       lambda x, axis=None, dtype=None, out=None, keepdims=False: ad.cast_adjoint(np.sum(t, axis=axis, keepdims=keepdims), dtype))
method_jvp('mean',      lambda x, axis=None, dtype=None, out=None, keepdims=False: ad.cast_adjoint(np.mean(t, axis=axis, keepdims=keepdims), dtype))
method_jvp('max',       lambda x, axis=None, out=None, keepdims=False: ad.extremum_tangent(t, x, ans, axis, keepdims))
method_jvp('min',       lambda x, axis=None, out=None, keepdims=False: ad.extremum_tangent(t, x, ans, axis, keepdims))
method_jvp('dot',       lambda x, y: (np.dot(t, y), np.dot(x, t)))
method_jvp('reshape',   lambda x, *shape, order='C': np.reshape(t, np.shape(ans), order=order))
method_jvp('ravel',     lambda x, order='C': np.ravel(t, order=order))
method_jvp('flatten',   lambda x, order='C': np.ravel(t, order=order))
method_jvp('squeeze',   lambda x, axis=None: np.reshape(t, np.shape(ans)))
method_jvp('transpose', lambda x, *axes: np.transpose(t, ad.transpose_axes(axes)))
method_jvp('copy',      lambda x, order='C': np.copy(t))
method_jvp('tolist',    lambda x: np.asarray(t).tolist())

# Attributes of arrays: ans = x.attr.
attribute_jvp('T', lambda x: np.transpose(t))

# Linear functions: the forward rule is the function applied to the tangent
# of its first parameter (or of the parameters listed, jointly).
for _callee in (np.real, np.imag, np.conjugate, np.cumsum, np.diff,
                np.nansum, np.nanmean, np.swapaxes, np.moveaxis, np.rollaxis,
                np.roll, np.flip, np.flipud, np.fliplr, np.rot90,
                np.broadcast_to, np.atleast_1d, np.atleast_2d, np.atleast_3d,
                np.triu, np.tril, np.diag, np.diagonal, np.trace, np.repeat,
                np.tile, np.take, np.take_along_axis, np.split,
                np.array_split, np.vsplit, np.hsplit, np.dsplit,
                np.concatenate, np.stack, np.vstack, np.hstack, np.dstack,
                np.column_stack, np.nan_to_num, np.real_if_close, np.pad,
                np.fft.fft, np.fft.ifft, np.fft.fft2, np.fft.ifft2,
                np.fft.fftn, np.fft.ifftn, np.fft.rfft, np.fft.irfft,
                np.fft.rfft2, np.fft.irfft2, np.fft.rfftn, np.fft.irfftn,
                np.fft.fftshift, np.fft.ifftshift):
    REGISTRY.linear_jvp(_callee)
REGISTRY.linear_jvp(np.append, ('arr', 'values'))
REGISTRY.linear_jvp(np.select, ('choicelist', 'default'))
REGISTRY.linear_jvp(np.linspace, ('start', 'stop'))

# Products: linear in each operand, ans = f(a, b).
for _callee in (np.tensordot, np.inner, np.outer, np.vdot, np.kron,
                np.cross):
    REGISTRY.linear_jvp(_callee, ('a', 'b'), multilinear=True)
REGISTRY.linear_jvp(np.einsum, tuple(f'x{i}' for i in range(6)), multilinear=True)

for _name in ('cumsum', 'swapaxes', 'diagonal', 'trace', 'repeat', 'take',
              'conj', 'conjugate'):
    REGISTRY.linear_method_jvp(_name)

# Complex argument: ans = np.angle(z, deg).
jvp(np.angle, lambda z, deg=False: ad.angle_tangent(t, z, deg))
attribute_jvp('real', lambda x: np.real(t))
attribute_jvp('imag', lambda x: np.imag(t))
attribute_jvp('mT', lambda x: np.swapaxes(t, -1, -2))

# Absolute value: real for complex input, ans = |x|.
for _callee in (np.abs, np.absolute, builtins.abs):
    jvp(_callee, lambda x: ad.abs_tangent(t, x, ans))
