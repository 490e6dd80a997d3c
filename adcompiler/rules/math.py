"""Reverse rules for the `math` module on Python floats.

Letters: `ans = f(x)`, `g` is the adjoint of `ans`, `d[x]` the adjoint of `x`.
"""

import math

from adcompiler.rules.registry import REGISTRY

vjp = REGISTRY.vjp
non_differentiable = REGISTRY.non_differentiable


# ans = math.log(x, base): log(x) / log(base).
def log_vjp(x, base=None):
    d[x] = g / (x * np.log(np.e if base is None else base))
    d[base] = -g * ans / (base * np.log(base))


vjp(math.exp,   lambda x: g * ans)
vjp(math.log,   log_vjp)
vjp(math.log1p, lambda x: g / (x + 1.0))
vjp(math.sqrt,  lambda x: g * 0.5 / ans)
vjp(math.sin,   lambda x: g * np.cos(x))
vjp(math.cos,   lambda x: -g * np.sin(x))
vjp(math.tan,   lambda x: g * (1.0 + ans ** 2))
vjp(math.tanh,  lambda x: g * (1.0 - ans ** 2))
vjp(math.atan,  lambda x: g / (1.0 + x ** 2))
vjp(math.pow,   lambda x, y: (g * y * x ** np.where(y, y - 1, 1.0), ad.pow_exponent_adjoint(g, x, ans)))
vjp(math.fabs,  lambda x: g * np.sign(x))

for _callee in (math.floor, math.ceil, math.trunc, math.factorial,
                math.isnan, math.isinf, math.isfinite, math.isclose,
                math.comb, math.perm, math.gcd):
    non_differentiable(_callee)
