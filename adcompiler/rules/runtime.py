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
vjp(rt.cast_tangent,     lambda v, dtype: (ad.cast_tangent(g, dtype), None))
jvp(rt.cast_tangent,     lambda v, dtype: (ad.cast_tangent(t, dtype), None))
vjp(rt.cast_operand,     lambda v, dtype: (ad.cast_operand(g, dtype), None))
jvp(rt.cast_operand,     lambda v, dtype: (ad.cast_operand(t, dtype), None))
vjp(rt.extremum_tangent, lambda v, x, extreme, axis=None, keepdims=False: ad.extremum_adjoint(g, x, extreme, axis, keepdims))
jvp(rt.extremum_tangent, lambda v, x, extreme, axis=None, keepdims=False: ad.extremum_tangent(t, x, extreme, axis, keepdims))
vjp(rt.nan_extremum_tangent, lambda v, x, extreme, axis=None, keepdims=False: ad.nan_extremum_adjoint(g, x, extreme, axis, keepdims))
# ans = skip_nan_adjoint(c, y): c with 0 where y is NaN, its own transpose.
vjp(rt.skip_nan_adjoint, lambda c, y: (ad.skip_nan_adjoint(g, y), None))
REGISTRY.linear_jvp(rt.skip_nan_adjoint, ('g',), others_constant=True)
jvp(rt.nan_extremum_tangent, lambda v, x, extreme, axis=None, keepdims=False: ad.nan_extremum_tangent(t, x, extreme, axis, keepdims))
# ans = tangent_like(v, result): v in the dtype of result.
vjp(rt.tangent_like,     lambda v, result: (g, None))
jvp(rt.tangent_like,     lambda v, result: (ad.tangent_like(t, result), None))
vjp(rt.copy,             lambda v: g)
jvp(rt.copy,             lambda v: ad.copy(t))
vjp(rt.snapshot,         lambda v: g)
jvp(rt.snapshot,         lambda v: ad.snapshot(t))
# ans = sequence_gradient(v, x): the rows of the array v as a list like x.
vjp(rt.sequence_gradient, lambda v, x: (ad.sequence_gradient_adjoint(g, v), None))
jvp(rt.sequence_gradient, lambda v, x: (ad.sequence_gradient(t, x), None))

# ans = tangent_write(dx, x, index, dv): dx with dv written at index.
vjp(rt.tangent_write, lambda dx, x, index, dv: (ad.zero_index(g, index), None, None, ad.written_adjoint(g, x, index, dv)))
jvp(rt.tangent_write, lambda dx, x, index, dv: (ad.tangent_write(t, x, index, ad.zeros_like(dv)), None, None, ad.tangent_write(ad.zeros_like(dx), x, index, t)), tuple_result=True)

# List tangents: ans = tangent_append(dx, dv), tangent_extend(dx, dseq).
# Their forward rules, and that of tangent_write into a list, add the terms
# of dx and dv item by item (tuple_result), where `+` would concatenate.
vjp(rt.tangent_append, lambda dx, dv: (ad.drop_last(g, 1), g[-1]))
jvp(rt.tangent_append, lambda dx, dv: (ad.tangent_append(t, ad.zeros_like(dv)), ad.tangent_append(ad.zeros_like(dx), t)), tuple_result=True)
vjp(rt.tangent_extend, lambda dx, dseq: (ad.drop_last(g, ad.length(dseq)), ad.tail_adjoint(g, dseq)))
jvp(rt.tangent_extend, lambda dx, dseq: (ad.tangent_extend(t, ad.zeros_like(dseq)), ad.tangent_extend(ad.zeros_like(dx), t)), tuple_result=True)

# ans = pow_exponent_adjoint(v, x, power, y) = v * power * log(x), where
# power = x ** y. Its rules take the partials in x and y of x**y * log(x)
# as a whole and give power none. Split into power / x and
# y * x**(y - 1) * log(x), each term alone is 0 / 0 or 0 * inf at x == 0,
# although their sum has a limit there (see pow_base_partial).
# ans = pow_base_adjoint(v, x, y, function) = v * y * x**(y - 1), where
# function is np.power, np.float_power or None for `**`. Both helpers give
# 0 where v is 0, so a base of 0 without a derivative gives 0.
# NOTE: pow_base_partial and pow_log_squared have no rules of their own
# and are differentiated from their source, so a third derivative of
# 0 ** y in both the base and the exponent may be NaN.
vjp(rt.pow_exponent_adjoint, lambda v, x, power, exponent: (ad.pow_exponent_adjoint(g, x, power, exponent), ad.pow_base_partial(g * v, x, exponent), None, ad.pow_log_squared(g * v, x, power)), unbroadcast=True)
jvp(rt.pow_exponent_adjoint, lambda v, x, power, exponent: (ad.pow_exponent_adjoint(t, x, power, exponent), ad.pow_base_partial(v * t, x, exponent), None, ad.pow_log_squared(v * t, x, power)))
vjp(rt.pow_base_adjoint, lambda v, x, exponent, power=None: (ad.pow_base_adjoint(g, x, exponent, power), ad.pow_base_adjoint(g * v * exponent, x, exponent - 1.0, power), ad.pow_base_partial(g * v, x, exponent), None), unbroadcast=True)
jvp(rt.pow_base_adjoint, lambda v, x, exponent, power=None: (ad.pow_base_adjoint(t, x, exponent, power), ad.pow_base_adjoint(v * exponent * t, x, exponent - 1.0, power), ad.pow_base_partial(v * t, x, exponent), None))

# The recurrences of np.cumprod along the last axis: ans = r =
# linear_recurrence(u, x), r_k = x_k r_(k-1) + u_k, and ans = q =
# linear_recurrence_transpose(v, x), q_k = v_k + x_(k+1) q_(k+1). Both are
# linear in u (v), and in x their tangent is the recurrence again.
vjp(rt.linear_recurrence,           lambda u, x: (ad.linear_recurrence_transpose(g, x), ad.shift_forward(ans) * ad.linear_recurrence_transpose(g, x)), unbroadcast=True)
jvp(rt.linear_recurrence,           lambda u, x: (ad.linear_recurrence(t, x), ad.linear_recurrence(ad.shift_forward(ans) * t, x)))
vjp(rt.linear_recurrence_transpose, lambda v, x: (ad.linear_recurrence(g, x), ans * ad.shift_forward(ad.linear_recurrence(g, x))), unbroadcast=True)
jvp(rt.linear_recurrence_transpose, lambda v, x: (ad.linear_recurrence_transpose(t, x), ad.linear_recurrence_transpose(ad.shift_backward(ans * t), x)))
REGISTRY.linear_adjoint_helper(rt.shift_forward, ('v',))
REGISTRY.linear_adjoint_helper(rt.shift_backward, ('v',))
vjp(rt.shift_forward,  lambda v: ad.shift_backward(g))
vjp(rt.shift_backward, lambda v: ad.shift_forward(g))

# ans = spectral_quotients(w, m), F * m with F_ij = 1 / (w_j - w_i).
vjp(rt.spectral_quotients, lambda w, m: (ad.spectral_quotients_adjoint_w(g, w, m), ad.spectral_quotients(w, g)))
jvp(rt.spectral_quotients, lambda w, m: (ad.spectral_quotients_tangent(t, w, m), ad.spectral_quotients(w, t)))

# ans = cofactor_matrix(a), the derivative of det, and ans =
# cofactor_tangent(v, a), its tangent along v (the second derivative of
# det). That tangent is symmetric in v and the direction it is paired with,
# so it is its own transpose. A third derivative raises an error.
vjp(rt.cofactor_matrix,  lambda a: ad.cofactor_tangent(g, a))
jvp(rt.cofactor_matrix,  lambda a: ad.cofactor_tangent(t, a))
vjp(rt.cofactor_tangent, lambda v, a: (ad.cofactor_tangent(g, a), ad.unsupported_derivative('np.linalg.det')))
REGISTRY.linear_jvp(rt.cofactor_tangent, ('t',))

# The adjoint and tangent of the eigenvalues of a symmetric matrix: ans =
# eigvalsh_adjoint(c, a, UPLO), linear in c, and ans = eigvalsh_tangent(v,
# a, UPLO), linear in v. Their derivatives in a come from the divided
# differences of eigvalsh_adjoint_tangent(v, c, a, UPLO), a self-adjoint
# map of v, so the eigenvectors are never differentiated. A third
# derivative raises an error.
vjp(rt.eigvalsh_adjoint, lambda c, a, UPLO='L': (ad.eigvalsh_tangent(g, a, UPLO), ad.eigvalsh_adjoint_tangent(g, c, a, UPLO)))
jvp(rt.eigvalsh_adjoint, lambda c, a, UPLO='L': (ad.eigvalsh_adjoint(t, a, UPLO), ad.eigvalsh_adjoint_tangent(t, c, a, UPLO)))
vjp(rt.eigvalsh_tangent, lambda v, a, UPLO='L': (ad.eigvalsh_adjoint(g, a, UPLO), ad.eigvalsh_adjoint_tangent(v, g, a, UPLO)))
jvp(rt.eigvalsh_tangent, lambda v, a, UPLO='L': (ad.eigvalsh_tangent(t, a, UPLO), ad.eigvalsh_second_tangent(v, t, a, UPLO)))
vjp(rt.eigvalsh_adjoint_tangent, lambda v, c, a, UPLO='L': (ad.eigvalsh_adjoint_tangent(g, c, a, UPLO), ad.unsupported_derivative('np.linalg.eigvalsh'), ad.unsupported_derivative('np.linalg.eigvalsh')))
REGISTRY.linear_jvp(rt.eigvalsh_adjoint_tangent, ('t',))

# The same for the singular values: ans = singular_value_adjoint(c, a),
# ans = singular_value_tangent(v, a) and the self-adjoint map
# singular_value_adjoint_tangent(v, c, a).
vjp(rt.singular_value_adjoint, lambda c, a: (ad.singular_value_tangent(g, a), ad.singular_value_adjoint_tangent(g, c, a)))
jvp(rt.singular_value_adjoint, lambda c, a: (ad.singular_value_adjoint(t, a), ad.singular_value_adjoint_tangent(t, c, a)))
vjp(rt.singular_value_tangent, lambda v, a: (ad.singular_value_adjoint(g, a), ad.singular_value_adjoint_tangent(v, g, a)))
jvp(rt.singular_value_tangent, lambda v, a: (ad.singular_value_tangent(t, a), ad.singular_value_second_tangent(v, t, a)))
vjp(rt.singular_value_adjoint_tangent, lambda v, c, a: (ad.singular_value_adjoint_tangent(g, c, a), ad.unsupported_derivative('np.linalg.svd'), ad.unsupported_derivative('np.linalg.svd')))
REGISTRY.linear_jvp(rt.singular_value_adjoint_tangent, ('t',))

# ans = pseudo_inverse(a, rank), the pseudo-inverse that np.linalg.lstsq
# uses: differentiated as np.linalg.pinv, for a constant rank.
vjp(rt.pseudo_inverse, lambda a, rank: ad.pinv_adjoint(g, a, ans))
jvp(rt.pseudo_inverse, lambda a, rank: ad.pinv_tangent(t, a, ans))

# Values that carry no derivative: bookkeeping, checks that raise, and
# weights that are constant where they are differentiable.
for _helper in (rt.zeros_like, rt.transpose_axes, rt.clip_weights,
                rt.arange_weights,
                rt.balanced_eq, rt.seed, rt.check_unshared,
                rt.check_globals_unchanged, rt.require_current,
                rt.write_back,
                rt.require_immutable, rt.require_immutable_item,
                rt.require_numeric_array, rt.require_array_like,
                rt.require_same_slice_length,
                rt.require_other_function,
                rt.require_constant, rt.require_attribute,
                rt.unit_cotangent,
                rt._normalize_axes, rt._reduced_count, rt._reduction_order,
                rt._weights_shape, rt._norm_axes, rt._tie_weights,
                rt._real_matrices, rt._solve_reads_vectors,
                rt._check_pinv_options,
                rt._check_svd_options, rt._check_qr_mode,
                rt._check_average_options,
                rt._invalid_matrix_norm, rt._field_position,
                rt._check_pad_mode, rt._check_nan_to_num_copy,
                rt._quantile_weights, rt._quantile_positions,
                rt.percentile_level, rt.variance_ddof,
                rt.quantile_level_adjoint,
                rt.unsupported_derivative):
    non_differentiable(_helper)

# Helpers of generated adjoint code, linear in the cotangent c (and, for
# products, in the other factor). Forward mode over adjoint code applies
# them to the tangents (forward over reverse); their reverse rules are their
# transposes (reverse over reverse). The other arguments give only shapes,
# indices and tie masks, which are constant almost everywhere.
_linear = REGISTRY.linear_adjoint_helper
for _helper in (rt.unbroadcast, rt.sum_adjoint, rt.mean_adjoint,
                rt.index_adjoint, rt.iteration_adjoint, rt.transpose_adjoint,
                rt.zero_index,
                rt.last_adjoint, rt.tail_adjoint, rt.drop_last,
                rt.materialize, rt.input_adjoint, rt.extremum_adjoint,
                rt.written_adjoint, rt.add_operand_adjoint):
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
                rt.diff_adjoints, rt.compress_adjoint,
                rt.cumsum_adjoint, rt.nansum_adjoint, rt.nanmean_adjoint,
                rt.nancumsum_adjoint, rt.nan_extremum_adjoint,
                rt.fft_adjoint, rt.fftn_adjoint, rt.rfft_adjoint,
                rt.rfftn_adjoint, rt.irfft_adjoint, rt.irfftn_adjoint,
                rt.sequence_sum_adjoint, rt.field_adjoint,
                rt.items_adjoint, rt.sum_items_adjoint,
                rt.sum_start_adjoint):
    _linear(_helper, ('g',))
_linear(rt.match_kind, ('d',))
# Compact cotangents (see adcompiler.runtime): linear in c, and the other
# arguments give only shapes.
for _helper in (rt.compact_sum_adjoint, rt.compact_mean_adjoint,
                rt.compact_unbroadcast_transpose):
    _linear(_helper, ('g',))
_linear(rt.expand, ('c',))
_linear(rt.compact_unbroadcast, ('c',))
_linear(rt.cast_items, ('adjoints',))
_linear(rt.loop_item_tangent_adjoint, ('g',))
REGISTRY.linear_jvp(rt.loop_item_tangent, ('t',), others_constant=True)

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


# (d_c, d_arguments) = transposes of ans = einsum_adjoint(c, arguments,
# position). The tangent of c or of an operand would need more rules, so
# third derivatives through einsum raise an error there.
def einsum_adjoint_vjp(c, arguments, position, optimize=False, dtype=None):
    parts = ad.einsum_adjoint_transpose(g, c, arguments, position, optimize, dtype)
    d[c] = parts[0]
    d[arguments] = parts[1]


vjp(rt.einsum_adjoint, einsum_adjoint_vjp)
_linear(rt.einsum_adjoint_transpose, ('g',), others_constant=False)

# Permutations and selections, constant where they are differentiable.
for _helper in (rt.sort_adjoint, rt.partition_adjoint, rt.ptp_adjoint):
    _linear(_helper, ('g',))
_linear(rt.sorted_tangent, ('t',))
_linear(rt._entries, ('g',))
_linear(rt._rebuild, ('items',))
_linear(rt._one_triangle, ('symmetric',))
_linear(rt.add, ('a', 'b'))
_linear(rt.index_accumulate, ('d', 'g'))
# A field of an adjoint whose tangent is None (zero) has a zero tangent of
# the field's shape, which the arithmetic after it can take.
jvp(rt.field_of, lambda g, name: ad.field_of_tangent(t, g, name))
_linear(rt.entry_of, ('g',))  # Reverse mode transforms its source.

# ans = attribute_adjoint(g, x, name) and attribute_tangent(v, x, name), for
# an attribute of an object x. They are linear in g and v, and do not depend
# on x's values when the attribute is a field. Through a property they do,
# and second derivatives through a property are not supported: a derivative
# with respect to x raises an error there when the call runs (ad.check_field
# does), so that a branch that never runs may hold such a call.
def attribute_adjoint_jvp(tangents, ans, g, x, name):
    """Return the tangent of attribute_adjoint(g, x, name)."""
    if tangents[1] is not None:
        rt.check_field(x, name)
    return rt.attribute_adjoint(tangents[0], x, name)


def attribute_adjoint_vjp(g, ans, c, x, name):
    """Return the cotangents of attribute_adjoint(c, x, name): the field of
    g for c, and none for x, whose field it does not depend on. A property
    raises (rt.check_field), because it may."""
    rt.check_field(x, name)
    return rt.attribute_tangent(g, x, name), None, None


REGISTRY.vjp_function(rt.attribute_adjoint, attribute_adjoint_vjp)
REGISTRY.jvp_function(rt.attribute_adjoint, attribute_adjoint_jvp)


# ans = check_cotangents(cotangents, count, name): the cotangents that a
# VJP registered with register_vjp returned, as a tuple. Forward mode over
# adjoint code (Hessians) takes the tangent as the primal took the value,
# without transforming the check from source. Reverse mode transforms it.
def check_cotangents_jvp(tangents, ans, cotangents, count, name):
    """Return the tangent of check_cotangents(cotangents, count, name)."""
    t = tangents[0]
    if t is None:
        return rt.zeros_like(ans)
    if count == 1 and not isinstance(cotangents, (tuple, list)):
        return (t,)
    return t


REGISTRY.jvp_function(rt.check_cotangents, check_cotangents_jvp)

# ans = full_cotangent(c, output): c broadcast to the shape of output, as
# a user's VJP rule receives it.
# ans = rule_cotangent(c, x, rule, argument) and
# ans = rule_tangent(tangent, output, rule): the result of a user's rule
# after a check of its shape. The check keeps the value, but for the real
# part of a complex c for a real x.
_linear(rt.full_cotangent, ('c',))
vjp(rt.full_cotangent, lambda c, output: (ad.unbroadcast(g, c), None))
_linear(rt.rule_cotangent, ('c',))
vjp(rt.rule_cotangent, lambda c, x, rule, argument: (ad.broadcast_to_like(g, c), None, None, None))
_linear(rt.rule_tangent, ('tangent',))
vjp(rt.rule_tangent, lambda tangent, output, rule: (g, None, None))
vjp(rt.attribute_tangent, lambda v, x, name: (ad.attribute_adjoint(g, x, name), ad.check_field(x, name), None))
# ans = field_of(c, name), the field of the adjoint c of a named tuple or a
# dataclass that the primal constructed: its transpose puts g in that field.
vjp(rt.field_of, lambda c, name: (ad.attribute_adjoint(g, c, name), None))
_linear(rt.element, ('value',))
_linear(rt.old_item, ('x',))
_linear(rt.unpack_adjoint, ('adjoints',))
_linear(rt.insert_adjoint, ('g', 'dv'))
_linear(rt.drop_entry, ('g',))
_linear(rt.tangent_pop, ('dx',))
_linear(rt.tangent_insert, ('dx', 'dv'))
_linear(rt.pad_entry, ('g',))
_linear(rt.matmul_adjoint_x, ('g', 'y'), multilinear=True)
_linear(rt.matmul_adjoint_y, ('g', 'x'), multilinear=True)
_linear(rt.dot_adjoint_x, ('g', 'y'), multilinear=True)
_linear(rt.dot_adjoint_y, ('g', 'x'), multilinear=True)
for _helper in (rt.reversed_range, rt.length, rt.seed, rt.inserted_position,
                rt.popped_position, rt.last_items, rt.shape_and_kind,
                rt.inserted_item, rt.reduction_size, rt.is_match_sequence,
                rt.is_match_mapping, rt.check_unpack_length,
                rt.match_argument):
    non_differentiable(_helper)
# ans = match_attribute(x, name), the attribute x.name that a class pattern
# reads: the rules of the attribute read.
vjp(rt.match_attribute, lambda x, name: (ad.attribute_adjoint(g, x, name), None))
jvp(rt.match_attribute, lambda x, name: (ad.attribute_tangent(t, x, name), None))

# Transposes: ans = helper(c, ...), where c is the cotangent the helper
# carries in adjoint code and g the cotangent of ans. Registered after
# `_linear`, which leaves the reverse rule empty.
vjp(rt.add,              lambda a, b: (g, g))
vjp(rt.unbroadcast,      lambda c, x: (ad.broadcast_to_like(g, c), None))
vjp(rt.sum_adjoint,      lambda c, x, axis=None, keepdims=False: (np.sum(g, axis=axis, keepdims=keepdims), None))
vjp(rt.mean_adjoint,     lambda c, x, axis=None, keepdims=False: (np.mean(g, axis=axis, keepdims=keepdims), None))
# The compact adjoint of a reduction is c with size-1 axes put back, or c
# itself, so its transpose is a reshape of g to the shape of c.
vjp(rt.compact_sum_adjoint,  lambda c, x, axis=None, keepdims=False: (np.reshape(g, np.shape(c)), None))
vjp(rt.compact_mean_adjoint, lambda c, x, axis=None, keepdims=False: (np.reshape(g, np.shape(c)) / ad.reduction_size(x, axis), None))
vjp(rt.expand,               lambda c, like: (ad.unbroadcast(g, c), None))
vjp(rt.compact_unbroadcast,  lambda c, full, x: (ad.compact_unbroadcast_transpose(g, c, full, x), None, None))
vjp(rt.compact_unbroadcast_transpose, lambda c, c0, full, x: (ad.compact_unbroadcast(g, full, x), None, None, None))
vjp(rt.index_adjoint,    lambda c, x, index: (g[index], None, None))
vjp(rt.iteration_adjoint, lambda c, x, position: (ad.iteration_item(g, x, position), None, None))
vjp(rt.index_accumulate, lambda d, c, x, index: (g, g[index], None, None))
vjp(rt.transpose_adjoint, lambda c, axes=None: (ad.apply_transpose(g, axes), None))
vjp(rt.zero_index,       lambda c, index: (ad.zero_index(g, index), None))
vjp(rt.last_adjoint,     lambda c, v: (ad.scatter_last(g, c), None))
vjp(rt.tail_adjoint,     lambda c, seq: (ad.scatter_tail(g, c), None))
vjp(rt.drop_last,        lambda c, count: (ad.pad_tail(g, c, count), None))
vjp(rt.materialize,      lambda c, x: (g, None))
vjp(rt.input_adjoint,    lambda c, x: (g, None))
vjp(rt.cast_items,       lambda c, seq, dtype: (ad.cast_items(g, seq, dtype), None, None))
vjp(rt.append_adjoint,   lambda c, arr, values, axis=None: (ad.append_parts(g, arr, values, axis), None, None, None))
vjp(rt.sort_adjoint,     lambda c, a, axis=-1: (ad.sorted_tangent(g, a, np.sort(a, axis=axis), axis), None, None))
vjp(rt.pad_adjoint,      lambda c, array, pad_width, mode='constant': (ad.pad_tangent(g, pad_width, mode), None, None, None))
vjp(rt.sequence_sum_adjoint, lambda c, seq: (ad.sequence_sum_tangent(g, c), None))
vjp(rt.sorted_tangent,   lambda c, a, ans, axis=-1: (ad.sort_adjoint(g, a, axis), None, None, None))
vjp(rt.partition_adjoint, lambda c, a, ans, axis=-1: (ad.sorted_tangent(g, a, ans, axis), None, None, None))
vjp(rt.pad_tangent,      lambda c, pad_width, mode='constant': (ad.pad_adjoint(g, c, pad_width, mode), None, None))
vjp(rt.sequence_sum_tangent, lambda c, ans: (ad.sequence_sum_adjoint(g, c), None))
vjp(rt.sum_items_adjoint, lambda c, seq, start: (ad.sum_items_transpose(g, c, start), None, None))
vjp(rt.sum_start_adjoint, lambda c, start: (ad.sum_start_transpose(g, c, start), None))
vjp(rt.sum_items_tangent, lambda c, ans, start: (ad.sum_items_adjoint(g, c, start), None, None))
vjp(rt.sum_start_tangent, lambda c, ans, start: (ad.sum_start_adjoint(g, start), None, None))
vjp(rt.items_adjoint,    lambda c, seq: (ad.items_tangent(g, seq, c), None))
vjp(rt.items_tangent,    lambda c, seq, ans: (ad.items_adjoint(g, seq), None, None))
# Forward rules of the two tangent helpers above, for third derivatives:
# linear in the tangent, and the other arguments give shapes and options.
REGISTRY.linear_jvp(rt.pad_tangent, ('t',), others_constant=True)
REGISTRY.linear_jvp(rt.sequence_sum_tangent, ('t',), others_constant=True)
REGISTRY.linear_jvp(rt.sum_items_tangent, ('t',), others_constant=True)
REGISTRY.linear_jvp(rt.sum_start_tangent, ('t',), others_constant=True)
REGISTRY.linear_jvp(rt.items_tangent, ('t',), others_constant=True)
vjp(rt.extremum_adjoint, lambda c, x, ans, axis=None, keepdims=False: (ad.extremum_tangent(g, x, ans, axis, keepdims), None, None))
vjp(rt.nan_extremum_adjoint, lambda c, x, ans, axis=None, keepdims=False: (ad.nan_extremum_tangent(g, x, ans, axis, keepdims), None, None))
vjp(rt.written_adjoint,  lambda c, x, index, v: (ad.tangent_write(ad.zeros_like(c), x, index, g), None, None, None))
vjp(rt.element,          lambda value, error: (g, None))
vjp(rt.old_item,         lambda x, index: (ad.index_adjoint(g, x, index), None))
vjp(rt.loop_item_tangent, lambda t, position: (ad.loop_item_tangent_adjoint(g, t, position), None))
vjp(rt.loop_item_tangent_adjoint, lambda c, t, position: (ad.loop_item_tangent(g, position), None, None))
vjp(rt.unpack_adjoint,   lambda x, adjoints: (None, ad.split_entries(g, ad.length(adjoints))))
vjp(rt._rebuild,         lambda like, items: (None, ad.split_entries(g, ad.length(items))))
vjp(rt.drop_entry,       lambda c, position: (ad.pad_entry(g, position), None))
vjp(rt.tangent_pop,      lambda dx, index: (ad.tangent_pop_transpose(g, dx, index), None))
vjp(rt.tangent_insert,   lambda dx, index, dv: (ad.drop_entry(g, ad.inserted_position(ans, index)), None, g[ad.inserted_position(ans, index)]))
vjp(rt.pad_entry,        lambda c, position: (ad.drop_entry(g, position), None))
vjp(rt.insert_adjoint,   lambda c, x, index, dv, v: (ad.without_popped_entry(g, x, index), None, None, ad.popped_entry(g, x, index), None))

# Adjoints of numpy.fft: ans = fft_adjoint(c, a, ...), linear in the
# cotangent c. Their transposes transform g again; the transposes are
# linear in g in turn.
vjp(rt.fft_adjoint,   lambda c, a, n=None, axis=-1, norm=None, inverse=False: (ad.fft_adjoint_transpose(g, c, axis, norm, inverse), None, None, None, None, None))
vjp(rt.fftn_adjoint,  lambda c, a, s=None, axes=None, norm=None, inverse=False: (ad.fftn_adjoint_transpose(g, c, a, s, axes, norm, inverse), None, None, None, None, None))
vjp(rt.rfft_adjoint,  lambda c, a, n=None, axis=-1, norm=None: (ad.rfft_adjoint_transpose(g, c, a, n, axis, norm), None, None, None, None))
vjp(rt.rfftn_adjoint, lambda c, a, s=None, axes=None, norm=None: (ad.rfftn_adjoint_transpose(g, c, a, s, axes, norm), None, None, None, None))
vjp(rt.irfft_adjoint, lambda c, a, n=None, axis=-1, norm=None: (ad.irfft_adjoint_transpose(g, c, a, n, axis, norm), None, None, None, None))
vjp(rt.irfftn_adjoint, lambda c, a, s=None, axes=None, norm=None: (ad.irfftn_adjoint_transpose(g, c, a, s, axes, norm), None, None, None, None))
for _helper in (rt.fft_adjoint_transpose, rt.fftn_adjoint_transpose,
                rt.rfft_adjoint_transpose, rt.rfftn_adjoint_transpose,
                rt.irfft_adjoint_transpose, rt.irfftn_adjoint_transpose):
    _linear(_helper, ('g',))

# Products: ans = matmul_adjoint_x(c, x, y) = c times y transposed, and so
# on. The transpose in c is the product itself; the factor's cotangent is
# the other adjoint helper of the same product. The cotangent g has the
# shape of x or y, because the helpers sum the product's stack away, and
# np.matmul broadcasts it back over the stack. The products below keep the
# roles of x and y (see rt.matmul_stacked), which pass only their shapes. In ans = matmul_stacked(a, b, x, y) and its adjoints, a takes the
# place of x and b that of y.
vjp(rt.matmul_adjoint_x, lambda c, x, y: (ad.unbroadcast(ad.matmul_stacked(g, y, x, y), c), None, ad.unbroadcast(ad.matmul_stacked_adjoint_b(c, g, x, y), y)))
vjp(rt.matmul_adjoint_y, lambda c, x, y: (ad.unbroadcast(ad.matmul_stacked(x, g, x, y), c), ad.unbroadcast(ad.matmul_stacked_adjoint_a(c, g, x, y), x), None))
_linear(rt.matmul_stacked, ('a', 'b'), multilinear=True)
_linear(rt.matmul_stacked_adjoint_a, ('g', 'b'), multilinear=True)
_linear(rt.matmul_stacked_adjoint_b, ('g', 'a'), multilinear=True)
vjp(rt.matmul_stacked,           lambda a, b, x, y: (ad.unbroadcast(ad.matmul_stacked_adjoint_a(g, b, x, y), a), ad.unbroadcast(ad.matmul_stacked_adjoint_b(g, a, x, y), b), None, None))
vjp(rt.matmul_stacked_adjoint_a, lambda c, b, x, y: (ad.unbroadcast(ad.matmul_stacked(g, b, x, y), c), ad.unbroadcast(ad.matmul_stacked_adjoint_b(c, g, x, y), b), None, None))
vjp(rt.matmul_stacked_adjoint_b, lambda c, a, x, y: (ad.unbroadcast(ad.matmul_stacked(a, g, x, y), c), ad.unbroadcast(ad.matmul_stacked_adjoint_a(c, g, x, y), a), None, None))
vjp(rt.dot_adjoint_x,    lambda c, x, y: (np.dot(g, y), None, ad.dot_adjoint_y(c, g, y)))
vjp(rt.dot_adjoint_y,    lambda c, x, y: (np.dot(x, g), ad.dot_adjoint_x(c, x, g), None))

# (d_a, d_b) = outer_adjoints(c, a, b), linear in c and in each factor.
def outer_adjoints_vjp(c, a, b):
    parts = ad.outer_adjoints_transpose(g, c, a, b)
    d[c] = parts[0]
    d[a] = parts[1]
    d[b] = parts[2]


vjp(rt.outer_adjoints, outer_adjoints_vjp)

# ans = match_kind(c, x): c made real or complex like x, linear in c.
_linear(rt.match_kind, ('d',))
vjp(rt.match_kind, lambda c, x: (ad.match_kind(g, c), None))

# (value, tangent) = call_function_tangent(site, tangents, f, *args): a call
# resolved at run time in generated tangent code. Reverse mode over it
# compiles the callee's tangent function in reverse mode when it runs.
REGISTRY.vjp_function(rt.call_method_tangent, rt.dispatched_tangent_vjp)
REGISTRY.vjp_function(rt.call_function_tangent, rt.dispatched_tangent_vjp)
REGISTRY.vjp_function(rt.call_unpacking_tangent, rt.unpacking_tangent_vjp)

# Adjoints of linear NumPy functions: ans = helper(c, x, ...) undoes the
# function's reshaping, so its transpose is the function itself applied to g.
for _helper in (rt.repeat_adjoint, rt.tile_adjoint, rt.take_adjoint,
                rt.take_along_axis_adjoint, rt.item_adjoint,
                rt.diagonal_adjoint, rt.diag_adjoint, rt.trace_adjoint,
                rt.split_adjoint, rt.concatenate_adjoint, rt.stack_adjoint,
                rt.vstack_adjoint, rt.hstack_adjoint, rt.dstack_adjoint,
                rt.column_stack_adjoint, rt.cumsum_adjoint, rt.diff_adjoint, rt.rollaxis_adjoint):
    _linear(_helper, ('g',))
vjp(rt.repeat_adjoint,   lambda c, a, repeats, axis=None: (np.repeat(g, repeats, axis), None, None, None))
vjp(rt.tile_adjoint,     lambda c, a, reps: (np.tile(g, reps), None, None))
vjp(rt.take_adjoint,     lambda c, a, indices, axis=None, mode='raise': (np.take(g, indices, axis, mode=mode), None, None, None, None))
vjp(rt.take_along_axis_adjoint, lambda c, arr, indices, axis=-1: (np.take_along_axis(g, indices, axis), None, None, None))
vjp(rt.item_adjoint,     lambda c, x, args: (ad.item_of(g, args), None, None))
vjp(rt.diagonal_adjoint, lambda c, a, offset=0, axis1=0, axis2=1: (np.diagonal(g, offset, axis1, axis2), None, None, None, None))
vjp(rt.diag_adjoint,     lambda c, v, k=0: (np.diag(g, k), None, None))
vjp(rt.trace_adjoint,    lambda c, a, offset=0, axis1=0, axis2=1: (np.trace(g, offset, axis1, axis2), None, None, None, None))
vjp(rt.split_adjoint,    lambda c, ans, axis=0: (ad.split_like(g, ans, axis), None, None))
vjp(rt.concatenate_adjoint, lambda c, arrays, axis=0: (ad.join_pieces(g, arrays, np.concatenate, axis), None, None))
vjp(rt.stack_adjoint,    lambda c, arrays, axis=0: (ad.join_pieces(g, arrays, np.stack, axis), None, None))
vjp(rt.vstack_adjoint,   lambda c, tup: (ad.join_pieces(g, tup, np.vstack), None))
vjp(rt.hstack_adjoint,   lambda c, tup: (ad.join_pieces(g, tup, np.hstack), None))
vjp(rt.dstack_adjoint,   lambda c, tup: (ad.join_pieces(g, tup, np.dstack), None))
vjp(rt.column_stack_adjoint, lambda c, tup: (ad.join_pieces(g, tup, np.column_stack), None))
vjp(rt.cumsum_adjoint,   lambda c, x, axis=None: (np.cumsum(g, axis), None, None))
vjp(rt.diff_adjoint,     lambda c, n=1, axis=-1: (np.diff(g, n, axis), None, None))
vjp(rt.rollaxis_adjoint, lambda c, x, axis, start=0: (np.rollaxis(g, axis, start), None, None, None))
# Calls dispatched at run time: forward and reverse mode go through the
# primal and adjoint of the wrapper the dispatcher compiled (see
# adcompiler.dispatch). Reverse mode over a call with *seq or **mapping
# that runs at run time is not supported yet.
for _helper, _reverse, _forward in (
        (rt.call_method, rt.call_method_vjp, rt.call_method_jvp),
        (rt.call_function, rt.call_function_vjp, rt.call_function_jvp),
        (rt.call_unpacking, None, rt.call_unpacking_jvp),
        (rt.call_adjoint, rt.call_adjoint_vjp, rt.call_adjoint_jvp)):
    REGISTRY.vjp_function(_helper, _reverse)
    REGISTRY.jvp_function(_helper, _forward)


# Helpers that compute in the buffer of an argument that nothing else reads.
# Differentiated again, their argument may be a saved value that a rule
# reads, so calls of them run these functions, which allocate instead.
def quotient(c, d):
    """Return c / d, as `rt.quotient_in_divisor` does."""
    return c / d


def call_new(out, function, x):
    """Return function(x), as `rt.call_into` does."""
    return function(x)


def apply_new(function, *args):
    """Return function(*args), as `rt.apply_in_place` does."""
    return function(*args)


REGISTRY.substitute(rt.quotient_in_divisor, quotient)
REGISTRY.substitute(rt.call_into, call_new)
REGISTRY.substitute(rt.apply_in_place, apply_new)

# Reductions with where= and initial=, and the scans of ufunc.accumulate:
# adjoint helpers linear in g, and tangent helpers linear in v = t, whose
# transposes are the adjoint helpers. The masks and tie weights they read
# from x, ans, initial and where are constant almost everywhere.
for _helper in (rt.masked_sum_adjoint, rt.masked_mean_adjoint,
                rt.bounded_extremum_adjoint, rt.initial_adjoint,
                rt.extremum_scan_adjoint):
    _linear(_helper, ('g',))
vjp(rt.bounded_extremum_tangent, lambda v, x, extreme, axis=None, keepdims=False, initial=None, where=True, initial_varies=False: ad.bounded_extremum_adjoint(g, x, extreme, axis, keepdims, initial, where, initial_varies))
jvp(rt.bounded_extremum_tangent, lambda v, x, extreme, axis=None, keepdims=False, initial=None, where=True, initial_varies=False: ad.bounded_extremum_tangent(t, x, extreme, axis, keepdims, initial, where, initial_varies))
vjp(rt.initial_tangent,          lambda v, x, extreme, axis=None, keepdims=False, initial=None, where=True: ad.initial_adjoint(g, x, extreme, axis, keepdims, initial, where))
jvp(rt.initial_tangent,          lambda v, x, extreme, axis=None, keepdims=False, initial=None, where=True: ad.initial_tangent(t, x, extreme, axis, keepdims, initial, where))
vjp(rt.extremum_scan_tangent,    lambda v, x, extreme, axis=0: ad.extremum_scan_adjoint(g, x, extreme, axis))
jvp(rt.extremum_scan_tangent,    lambda v, x, extreme, axis=0: ad.extremum_scan_tangent(t, x, extreme, axis))

# ans = added_at(a, indices, b), a copy of a with b added at indices (and
# subtracted in subtracted_at): linear in a and b together. A repeated
# index reads g there once per occurrence.
vjp(rt.added_at,      lambda a, indices, b: (g, None, ad.unbroadcast(np.asarray(g)[indices], b)))
vjp(rt.subtracted_at, lambda a, indices, b: (g, None, ad.unbroadcast(-np.asarray(g)[indices], b)))
REGISTRY.linear_jvp(rt.added_at, ('a', 'b'))
REGISTRY.linear_jvp(rt.subtracted_at, ('a', 'b'))

# ans = multiplied_at(a, indices, b), a copy of a multiplied by b at
# indices. It is linear in a, with the product of the factors of each index
# as the scale. The derivative for one factor of b is a times the product
# of the other factors at its index, which the helpers compute without
# dividing, so zero factors are handled.
vjp(rt.multiplied_at, lambda a, indices, b: (ad.multiplied_at(g, indices, b), None, ad.multiplied_at_adjoint(g, a, indices, b)))
jvp(rt.multiplied_at, lambda a, indices, b: (ad.multiplied_at(t, indices, b), None, ad.multiplied_at_tangent(t, a, indices, b)))

# ans = put_along(arr, indices, values, axis), a copy of arr with values
# written at indices: arr keeps the adjoint of the entries not written, and
# values gets that of the entries written, where the last write of a
# repeated index is the one that stays.
vjp(rt.put_along, lambda arr, indices, values, axis: (ad.zero_index(g, ad.along_axis_index(np.shape(arr), indices, axis)), None, ad.written_adjoint(g, arr, ad.along_axis_index(np.shape(arr), indices, axis), values), None))
REGISTRY.linear_jvp(rt.put_along, ('arr', 'values'))
non_differentiable(rt.along_axis_index)

# The container of a store `c[k] = v` or an update `c.append(v)` kept as
# written (see adcompiler.normalize): the store itself is checked to carry
# no derivative.
non_differentiable(rt.store_container)
non_differentiable(rt.store_item_container)
