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

# Values that carry no derivative.
for _helper in (rt.zeros_like, rt.transpose_axes, rt.clip_weights,
                rt.balanced_eq, rt.seed, rt.check_unshared,
                rt.require_immutable):
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

# Calls dispatched at run time: forward mode goes through the primal and
# adjoint of the wrapper the dispatcher compiled (see adcompiler.dispatch).
for _helper, _rule in ((rt.call_method, rt.call_method_jvp),
                       (rt.call_function, rt.call_function_jvp),
                       (rt.call_adjoint, rt.call_adjoint_jvp)):
    REGISTRY.vjp_function(_helper, None)
    REGISTRY.jvp_function(_helper, _rule)
