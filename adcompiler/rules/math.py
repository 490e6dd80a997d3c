"""Reverse rules for the `math` module on Python floats.

Letters: `ans = f(x)`, `g` is the adjoint of `ans`, `d[x]` the adjoint of `x`.
fsum and prod take a sequence. The adjoint of a list or tuple is a list or
tuple with one adjoint per item.

`math` functions return Python floats, and a Python float divided by zero
raises ZeroDivisionError. A rule that divides by a value that is zero where
the function is defined (sqrt and cbrt at 0) divides by a NumPy float
instead, so the derivative there is inf or nan as with the NumPy rules.
"""

import math

from adcompiler import runtime
from adcompiler.rules.registry import REGISTRY

vjp = REGISTRY.vjp
non_differentiable = REGISTRY.non_differentiable


# ans = math.log(x, base): log(x) / log(base).
def log_vjp(x, base=None):
    d[x] = g / (x * ad.log_of_base(base))
    d[base] = -g * ans / (base * np.log(base))


# Exponentials and logarithms.
vjp(math.exp,     lambda x: g * ans)
vjp(math.expm1,   lambda x: g * (ans + 1.0))
vjp(math.log,     log_vjp)
vjp(math.log2,    lambda x: g / (x * np.log(2.0)))
vjp(math.log10,   lambda x: g / (x * np.log(10.0)))
vjp(math.log1p,   lambda x: g / (x + 1.0))
vjp(math.sqrt,    lambda x: g * 0.5 / np.sqrt(x))
vjp(math.pow,     lambda x, y: (ad.pow_base_adjoint(g, x, y), ad.pow_exponent_adjoint(g, x, ans, y)))

# Trigonometric and hyperbolic functions.
vjp(math.sin,     lambda x: g * np.cos(x))
vjp(math.cos,     lambda x: -g * np.sin(x))
vjp(math.tan,     lambda x: g * (1.0 + ans ** 2))
vjp(math.asin,    lambda x: g / np.sqrt(1.0 - x ** 2))
vjp(math.acos,    lambda x: -g / np.sqrt(1.0 - x ** 2))
vjp(math.atan,    lambda x: g / (1.0 + x ** 2))
vjp(math.atan2,   lambda x, y: (g * y / (x ** 2 + y ** 2), -g * x / (x ** 2 + y ** 2)))
vjp(math.sinh,    lambda x: g * np.cosh(x))
vjp(math.cosh,    lambda x: g * np.sinh(x))
vjp(math.tanh,    lambda x: g * (1.0 - ans ** 2))
vjp(math.asinh,   lambda x: g / np.sqrt(x ** 2 + 1.0))
vjp(math.acosh,   lambda x: g / np.sqrt(x ** 2 - 1.0))
vjp(math.atanh,   lambda x: g / (1.0 - x ** 2))

# Others. At hypot(0, 0) the partial derivatives are 0, as for
# np.linalg.norm of a zero vector. Normalize rewrites a call of math.hypot
# with other than two arguments to ad.hypot_items([x0, x1, ...]).
vjp(math.hypot,   lambda x, y: (g * ad.hypot_partial(x, ans), g * ad.hypot_partial(y, ans)))
vjp(runtime.hypot_items, lambda items: ad.hypot_items_adjoint(g, items, ans))
vjp(math.fabs,    lambda x: g * np.sign(x))
vjp(math.degrees, lambda x: g * (180.0 / np.pi))
vjp(math.radians, lambda x: g * (np.pi / 180.0))
vjp(math.erf,     lambda x: g * 2.0 / np.sqrt(np.pi) * np.exp(-x ** 2))
vjp(math.erfc,    lambda x: -g * 2.0 / np.sqrt(np.pi) * np.exp(-x ** 2))

vjp(math.gamma,    lambda x: g * ans * ad.digamma(x))
vjp(math.lgamma,   lambda x: g * ad.digamma(x))
vjp(math.copysign, lambda x, y: (g * np.copysign(1.0, x) * np.copysign(1.0, y), None))
vjp(math.fmod,     lambda x, y: (g, -g * np.trunc(x / y)))
vjp(math.remainder, lambda x, y: (g, -g * np.round(x / y)))
if hasattr(math, 'cbrt'):  # Python 3.11 and later.
    vjp(math.cbrt, lambda x: g / (3.0 * np.cbrt(x) ** 2))
    vjp(math.exp2, lambda x: g * ans * np.log(2.0))

# Sequences: ans = f(seq). The adjoint of seq has one entry per item.
vjp(math.fsum,     lambda seq: ad.sequence_sum_adjoint(g, seq))


# ans = math.prod(iterable, start=start): no division, so zeros are exact.
def prod_vjp(iterable, *, start=1):
    d[iterable] = ad.sequence_prod_adjoint(g, iterable, start)
    d[start] = ad.unbroadcast(g * ad.sequence_product(iterable), start)


vjp(math.prod,     prod_vjp)

for _callee in (math.floor, math.ceil, math.trunc, math.factorial,
                math.isnan, math.isinf, math.isfinite, math.isclose,
                math.comb, math.perm, math.gcd):
    non_differentiable(_callee)
