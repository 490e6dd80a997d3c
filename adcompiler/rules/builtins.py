"""Reverse rules for Python operators and built-in functions.

Letters: `ans = op(x, y)`, `g` is the adjoint of `ans`, `d[x]` the adjoint
of `x`. Operators broadcast on arrays, so their rules are registered with
`unbroadcast=True`.
"""

import builtins
import operator

from adcompiler.rules.registry import REGISTRY

vjp = REGISTRY.vjp
non_differentiable = REGISTRY.non_differentiable


def elementwise_vjp(callee, template):
    """Register a rule of a broadcasting operator: each d[x] is unbroadcast."""
    vjp(callee, template, unbroadcast=True)


# Binary operators: ans = x op y.
elementwise_vjp(operator.add,     lambda x, y: (g, g))
elementwise_vjp(operator.sub,     lambda x, y: (g, -g))
elementwise_vjp(operator.mul,     lambda x, y: (g * y, g * x))
elementwise_vjp(operator.truediv, lambda x, y: (g / y, -g * ans / y))
elementwise_vjp(operator.pow,     lambda x, y: (g * y * x ** np.where(y, y - 1, 1.0), ad.pow_exponent_adjoint(g, x, ans)))
elementwise_vjp(operator.mod,     lambda x, y: (g, -g * np.floor_divide(x, y)))
vjp(operator.matmul,              lambda x, y: (ad.matmul_adjoint_x(g, x, y), ad.matmul_adjoint_y(g, x, y)), unbroadcast=True)

# Unary operators: ans = op x.
elementwise_vjp(operator.neg,     lambda x: -g)
elementwise_vjp(operator.pos,     lambda x: g)

# Built-in functions with a derivative.
elementwise_vjp(builtins.abs,     lambda x: g * ad.abs_sign(x))
vjp(builtins.float,               lambda x=0.0: ad.unbroadcast(g, x))

# Operators and built-ins whose result carries no derivative. sorted and
# enumerate are not here, because they return the values of their argument:
# marking them would turn a gradient into a silent zero, so they stay foreign.
for _callee in (operator.floordiv, operator.and_, operator.or_, operator.xor,
                operator.lshift, operator.rshift, operator.invert,
                operator.not_, builtins.len, builtins.range, builtins.id,
                builtins.hash, builtins.type, builtins.isinstance,
                builtins.issubclass, builtins.print, builtins.int,
                builtins.bool, builtins.str, builtins.repr, builtins.round,
                builtins.callable, builtins.hasattr, builtins.set,
                builtins.frozenset, builtins.any, builtins.all, set.add,
                set.discard, set.remove, set.__contains__, dict.keys):
    non_differentiable(_callee)

# Subscript reads: ans = x[index]; the index is passed as a value, np.s_[...].
vjp(operator.getitem,             lambda x, index: ad.index_adjoint(g, x, index))
