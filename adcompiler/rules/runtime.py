"""Rules of the adcompiler.runtime helpers that generated tangent code calls.

With them the tangent function of `f` can be differentiated again, in
reverse mode (Hessian-vector products) or forward mode (higher derivatives
along a direction). Letters: `ans = helper(v, ...)` where `v` is the
argument the helper is linear in; `g` is the cotangent of `ans` in reverse
rules and `t` the tangent of an argument in forward rules.
"""

from adcompiler import runtime as rt
from adcompiler.rules.registry import REGISTRY

vjp = REGISTRY.vjp
jvp = REGISTRY.jvp
helper_jvp = REGISTRY.adjoint_helper_jvp
non_differentiable = REGISTRY.non_differentiable

# Linear in v: ans = helper(v, ...).
vjp(rt.broadcast_like,   lambda v, like: (ad.unbroadcast(g, v), None))
jvp(rt.broadcast_like,   lambda v, like: (ad.broadcast_like(t, like), None))
vjp(rt.cast_adjoint,     lambda v, dtype: (ad.cast_adjoint(g, dtype), None))
jvp(rt.cast_adjoint,     lambda v, dtype: (ad.cast_adjoint(t, dtype), None))
vjp(rt.extremum_tangent, lambda v, x, extreme, axis=None, keepdims=False: ad.extremum_adjoint(g, x, extreme, axis, keepdims))
jvp(rt.extremum_tangent, lambda v, x, extreme, axis=None, keepdims=False: ad.extremum_tangent(t, x, extreme, axis, keepdims))
vjp(rt.abs_tangent,      lambda v, x, magnitude: ad.abs_tangent(g, x, magnitude))
jvp(rt.abs_tangent,      lambda v, x, magnitude: ad.abs_tangent(t, x, magnitude))
vjp(rt.copy,             lambda v: g)
jvp(rt.copy,             lambda v: ad.copy(t))

# ans = tangent_write(dx, x, index, dv): dx with dv written at index.
vjp(rt.tangent_write, lambda dx, x, index, dv: (ad.zero_index(g, index), None, None, ad.written_adjoint(g, x, index, dv)))
jvp(rt.tangent_write, lambda dx, x, index, dv: (ad.tangent_write(t, x, index, ad.zeros_like(dv)), None, None, ad.tangent_write(ad.zeros_like(dx), x, index, t)))

# List tangents: ans = tangent_append(dx, dv), tangent_extend(dx, dseq).
vjp(rt.tangent_append, lambda dx, dv: (ad.drop_last(g, 1), g[-1]))
jvp(rt.tangent_append, lambda dx, dv: (ad.tangent_append(t, ad.zeros_like(dv)), ad.tangent_append(ad.zeros_like(dx), t)))
vjp(rt.tangent_extend, lambda dx, dseq: (ad.drop_last(g, ad.length(dseq)), ad.tail_adjoint(g, dseq)))
jvp(rt.tangent_extend, lambda dx, dseq: (ad.tangent_extend(t, ad.zeros_like(dseq)), ad.tangent_extend(ad.zeros_like(dx), t)))

# ans = pow_exponent_adjoint(v, x, power) = v * power * log(x).
vjp(rt.pow_exponent_adjoint, lambda v, x, power: (ad.pow_exponent_adjoint(g, x, power), g * v * power / x, ad.pow_exponent_adjoint(g * v, x, 1.0)), unbroadcast=True)
jvp(rt.pow_exponent_adjoint, lambda v, x, power: (ad.pow_exponent_adjoint(t, x, power), v * power * t / x, ad.pow_exponent_adjoint(v * t, x, 1.0)))

# ans = spectral_quotients(w, m), F * m with F_ij = 1 / (w_j - w_i).
vjp(rt.spectral_quotients, lambda w, m: (ad.spectral_quotients_adjoint_w(g, w, m), ad.spectral_quotients(w, g)))
jvp(rt.spectral_quotients, lambda w, m: (ad.spectral_quotients_tangent(t, w, m), ad.spectral_quotients(w, t)))

# Values that carry no derivative: bookkeeping, checks that raise, and
# weights that are constant where they are differentiable.
for _helper in (rt.zeros_like, rt.transpose_axes, rt.clip_weights,
                rt.balanced_eq, rt.seed, rt.check_unshared,
                rt.require_immutable, rt.unit_cotangent,
                rt._normalize_axes, rt._reduced_count, rt._reduction_order,
                rt._weights_shape, rt._norm_axes, rt._tie_weights,
                rt._real_matrices, rt._check_pinv_options,
                rt._check_svd_options, rt._check_qr_mode,
                rt._check_average_options,
                rt._invalid_matrix_norm, rt._field_position,
                rt._check_pad_mode, rt._check_nan_to_num_copy):
    non_differentiable(_helper)

# Helpers of generated adjoint code, linear in the cotangent g (and, for
# products, in the other factor): forward mode over adjoint code applies
# them to the tangents (forward over reverse).
_linear = REGISTRY.linear_adjoint_helper
for _helper in (rt.unbroadcast, rt.sum_adjoint, rt.mean_adjoint,
                rt.index_adjoint, rt.transpose_adjoint, rt.zero_index,
                rt.last_adjoint, rt.tail_adjoint, rt.drop_last,
                rt.materialize, rt.extremum_adjoint, rt.written_adjoint):
    _linear(_helper, ('g',))
# Adjoints of linear functions (shape changes, joins, splits, selections,
# scans, transforms): linear in g, and the other arguments only give shapes,
# positions and options.
for _helper in (rt.diag_adjoint, rt.diagonal_adjoint, rt.trace_adjoint,
                rt.repeat_adjoint, rt.tile_adjoint, rt.take_adjoint,
                rt.take_along_axis_adjoint, rt.item_adjoint,
                rt.split_adjoint, rt.concatenate_adjoint, rt.stack_adjoint,
                rt.vstack_adjoint, rt.hstack_adjoint, rt.dstack_adjoint,
                rt.column_stack_adjoint, rt.append_adjoint, rt.pad_adjoint,
                rt.pad_constant_adjoint, rt.select_adjoints,
                rt.nan_to_num_adjoints, rt.linspace_adjoints,
                rt.rollaxis_adjoint, rt.astype_adjoint, rt.diff_adjoint,
                rt.cumsum_adjoint, rt.nansum_adjoint, rt.nanmean_adjoint,
                rt.fft_adjoint, rt.fftn_adjoint, rt.rfft_adjoint,
                rt.rfftn_adjoint, rt.irfft_adjoint, rt.irfftn_adjoint,
                rt.sequence_sum_adjoint, rt.field_adjoint):
    _linear(_helper, ('g',))
_linear(rt.match_kind, ('d',))
_linear(rt.cast_items, ('adjoints',))

# Adjoints of products: linear in g and in the other operand.
_linear(rt.tensordot_adjoint_a, ('g', 'b'), multilinear=True)
_linear(rt.tensordot_adjoint_b, ('g', 'a'), multilinear=True)

# ans = (d_a, d_b) = helper(g, a, b), where d_a is linear in g and b, and d_b
# in g and a: the tangent is helper(t_g, a, b) + helper(g, t_a, t_b), with
# the tangents of a and b entered one at a time.
helper_jvp(rt.inner_adjoints, lambda g, a, b: (ad.inner_adjoints(t, a, b), ad.inner_adjoints(g, t, ad.zeros_like(b)), ad.inner_adjoints(g, ad.zeros_like(a), t)), tuple_result=True)
helper_jvp(rt.outer_adjoints, lambda g, a, b: (ad.outer_adjoints(t, a, b), ad.outer_adjoints(g, t, ad.zeros_like(b)), ad.outer_adjoints(g, ad.zeros_like(a), t)), tuple_result=True)
helper_jvp(rt.vdot_adjoints,  lambda g, a, b: (ad.vdot_adjoints(t, a, b), ad.vdot_adjoints(g, t, ad.zeros_like(b)), ad.vdot_adjoints(g, ad.zeros_like(a), t)), tuple_result=True)
helper_jvp(rt.vecdot_adjoints, lambda g, a, b, axis=-1: (ad.vecdot_adjoints(t, a, b, axis), ad.vecdot_adjoints(g, t, ad.zeros_like(b), axis), ad.vecdot_adjoints(g, ad.zeros_like(a), t, axis)), tuple_result=True)
helper_jvp(rt.kron_adjoints,  lambda g, a, b: (ad.kron_adjoints(t, a, b), ad.kron_adjoints(g, t, ad.zeros_like(b)), ad.kron_adjoints(g, ad.zeros_like(a), t)), tuple_result=True)
helper_jvp(rt.cross_adjoints, lambda g, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None: (ad.cross_adjoints(t, a, b, axisa, axisb, axisc, axis), ad.cross_adjoints(g, t, ad.zeros_like(b), axisa, axisb, axisc, axis), ad.cross_adjoints(g, ad.zeros_like(a), t, axisa, axisb, axisc, axis)), tuple_result=True)

# ans = einsum_adjoint(g, arguments, position): linear in g and in each
# operand other than the one at arguments[position].
helper_jvp(rt.einsum_adjoint, lambda g, arguments, position, optimize=False, dtype=None: (ad.einsum_adjoint(t, arguments, position, optimize, dtype), ad.einsum_adjoint_tangent(t, g, arguments, position, optimize, dtype)))

# Permutations and selections, constant where they are differentiable.
for _helper in (rt.sort_adjoint, rt.partition_adjoint, rt.ptp_adjoint):
    _linear(_helper, ('g',))
_linear(rt.sorted_tangent, ('t',))
_linear(rt._entries, ('g',))
_linear(rt._rebuild, ('items',))
_linear(rt._one_triangle, ('symmetric',))
_linear(rt.add, ('a', 'b'))
_linear(rt.field_of, ('g',))

# ans = attribute_adjoint(g, x, name) and attribute_tangent(v, x, name), for
# an attribute of an object x. They are linear in g and v, and do not depend
# on x's values when the attribute is a field. Through a property they do,
# and second derivatives through a property are not supported: a derivative
# with respect to x raises an error there (ad.check_field does).
_linear(rt.attribute_adjoint, ('g',), others_constant=False)
vjp(rt.attribute_tangent, lambda v, x, name: (ad.attribute_adjoint(g, x, name), ad.check_field(x, name), None))
_linear(rt.element, ('value',))
_linear(rt.old_item, ('x',))
_linear(rt.unpack_adjoint, ('adjoints',))
_linear(rt.insert_adjoint, ('g', 'dv'))
_linear(rt.matmul_adjoint_x, ('g', 'y'), multilinear=True)
_linear(rt.matmul_adjoint_y, ('g', 'x'), multilinear=True)
_linear(rt.dot_adjoint_x, ('g', 'y'), multilinear=True)
_linear(rt.dot_adjoint_y, ('g', 'x'), multilinear=True)
for _helper in (rt.reversed_range, rt.length, rt.seed):
    non_differentiable(_helper)
