"""Reverse rules for numpy.linalg.

Letters: `ans = f(a, ...)`, `g` is the adjoint of `ans`, `d[a]` the adjoint
of `a`. For a function returning a tuple (eigh, svd, qr, slogdet, lstsq),
`ans` is the tuple and `g` a tuple of adjoints in which None stands for
zero. Matrices are the last two axes and leading axes are stacks, as in
NumPy. The helpers in `adcompiler.runtime` carry the formulas.

Conventions:

- eigh, eigvalsh and cholesky read one triangle of their argument: the
  UPLO triangle, or for cholesky the lower one (the upper one with
  `upper=True`). Their gradient is therefore zero in the other triangle and
  doubled off the diagonal of the read one, which is the derivative of the
  NumPy function as called. On a path that keeps the matrix symmetric
  (`a = b + b.T`) it gives the same gradient as JAX's symmetrized one.
- det uses an SVD for the adjugate, so a singular matrix has a gradient.
  Its second derivative is a rule of its own (runtime.cofactor_tangent),
  exact at singular matrices and repeated singular values.
  The norm of a zero vector has a zero gradient; ties (the largest entry,
  column sum, row sum or singular value) share the adjoint evenly.
- Degenerate eigenvalues or singular values give an infinite or NaN
  gradient where the loss depends on the eigenvectors or singular vectors
  that they make ambiguous.
- det, slogdet, inv, solve, matrix_power and norm accept complex matrices
  (see the convention in `adcompiler.rules.numpy`); eigh, eigvalsh,
  cholesky, svd, qr, pinv and lstsq raise UnsupportedOptionError (a
  NotImplementedError) for them.
- The eigenvectors of eig are differentiated as LAPACK normalizes them:
  unit norm, and the entry of largest magnitude real.
- pinv and lstsq assume that the rank does not change near the point.
- Second derivatives through eigvalsh and the singular values come from
  divided differences (runtime.eigvalsh_adjoint_tangent and
  runtime.singular_value_adjoint_tangent): right near ties, NaN at exact
  ties where the direction mixes the tied vectors (see docs/CONVENTIONS.md).
"""

import numpy as np

from adcompiler.rules.registry import REGISTRY

# NumPy 2.0 added the array API functions of numpy.linalg (vecdot,
# vector_norm, svdvals...) and the ufunc np.vecdot; 1.x has none of them.
ARRAY_API = hasattr(np.linalg, 'vecdot')

vjp = REGISTRY.vjp
attribute = REGISTRY.attribute
non_differentiable = REGISTRY.non_differentiable


# Determinants and inverses: ans = f(a).
vjp(np.linalg.det,          lambda a: ad.det_adjoint(g, a))
vjp(np.linalg.slogdet,      lambda a: ad.slogdet_adjoint(g, a, ans))
vjp(np.linalg.inv,          lambda a: ad.inv_adjoint(g, ans))
vjp(np.linalg.pinv,         lambda a, rcond=None, hermitian=False, *, rtol=None: ad.pinv_adjoint(g, a, ans, hermitian))
vjp(np.linalg.matrix_power, lambda a, n: ad.matrix_power_adjoint(g, a, n))


# ans = np.linalg.solve(a, b), b being vectors where NumPy reads it so.
def solve_vjp(a, b):
    parts = ad.solve_adjoints(g, a, b, ans)
    d[a] = parts[0]
    d[b] = parts[1]


vjp(np.linalg.solve,        solve_vjp)


# ans = (x, residuals, rank, s) = np.linalg.lstsq(a, b, rcond).
def lstsq_vjp(a, b, rcond=None):
    parts = ad.lstsq_adjoints(g, a, b, ans)
    d[a] = parts[0]
    d[b] = parts[1]


vjp(np.linalg.lstsq,        lstsq_vjp)

# Norms: ans = norm(x, ord, axis, keepdims).
vjp(np.linalg.norm,         lambda x, ord=None, axis=None, keepdims=False: ad.norm_adjoint(g, x, ans, ord, axis, keepdims))
if ARRAY_API:
    vjp(np.linalg.vector_norm,  lambda x, *, axis=None, keepdims=False, ord=2: ad.norm_adjoint(g, x, ans, ord, axis, keepdims, vector=True))
    vjp(np.linalg.matrix_norm,  lambda x, *, keepdims=False, ord='fro': ad.norm_adjoint(g, x, ans, ord, (-2, -1), keepdims))

# Decompositions: ans is the tuple of factors (or one array).
vjp(np.linalg.eigh,         lambda a, UPLO='L': ad.eigh_adjoint(g, a, ans, UPLO))
vjp(np.linalg.eigvalsh,     lambda a, UPLO='L': ad.eigvalsh_adjoint(g, a, UPLO))
vjp(np.linalg.eig,          lambda a: ad.eig_adjoint(g, a, ans))
vjp(np.linalg.eigvals,      lambda a: ad.eigvals_adjoint(g, a))
vjp(np.linalg.cholesky,     lambda a, *, upper=False: ad.cholesky_adjoint(g, a, ans, upper))
vjp(np.linalg.svd,          lambda a, full_matrices=True, compute_uv=True, hermitian=False: ad.svd_adjoint(g, a, ans, full_matrices, compute_uv, hermitian))
if ARRAY_API:
    vjp(np.linalg.svdvals,      lambda x: ad.svd_adjoint(g, x, ans, False, False))
vjp(np.linalg.qr,           lambda a, mode='reduced': ad.qr_adjoint(g, a, ans, mode))

# The array API functions of numpy.linalg: the matrices or vectors are the
# last axes, ans = f(x1, x2) or f(x).
if ARRAY_API:
    vjp(np.linalg.matmul,           lambda x1, x2: (ad.matmul_adjoint_x(g, x1, x2), ad.matmul_adjoint_y(g, x1, x2)))
    vjp(np.linalg.tensordot,        lambda x1, x2, *, axes=2: (ad.tensordot_adjoint_a(g, x1, x2, axes), ad.tensordot_adjoint_b(g, x1, x2, axes)))
    vjp(np.linalg.trace,            lambda x, *, offset=0, dtype=None: ad.cast_adjoint(ad.trace_adjoint(g, x, offset, -2, -1), dtype))
    vjp(np.linalg.diagonal,         lambda x, *, offset=0: ad.diagonal_adjoint(g, x, offset, -2, -1))
    vjp(np.linalg.matrix_transpose, lambda x: np.swapaxes(g, -1, -2))


# ans = np.linalg.outer(x1, x2) of two vectors.
def outer_vjp(x1, x2):
    parts = ad.outer_adjoints(g, x1, x2)
    d[x1] = parts[0]
    d[x2] = parts[1]


# ans = np.linalg.cross(x1, x2, axis=axis) of stacks of 3-vectors.
def cross_vjp(x1, x2, *, axis=-1):
    parts = ad.cross_adjoints(g, x1, x2, axis=axis)
    d[x1] = parts[0]
    d[x2] = parts[1]


# ans = np.linalg.vecdot(x1, x2, axis=axis) = sum(conj(x1) * x2, axis), and
# the ufunc np.vecdot.
def vecdot_vjp(x1, x2, *, axis=-1):
    parts = ad.vecdot_adjoints(g, x1, x2, axis)
    d[x1] = parts[0]
    d[x2] = parts[1]


if ARRAY_API:
    vjp(np.linalg.outer,            outer_vjp)
    vjp(np.linalg.cross,            cross_vjp)
    vjp(np.linalg.vecdot,           vecdot_vjp)
    vjp(np.vecdot,                  vecdot_vjp)

non_differentiable(np.linalg.matrix_rank)

# Fields of the named tuples that numpy.linalg returns: ans = result.field.
attribute('eigenvalues',   lambda x: ad.field_adjoint(g, x, 'eigenvalues'))
attribute('eigenvectors',  lambda x: ad.field_adjoint(g, x, 'eigenvectors'))
attribute('U',             lambda x: ad.field_adjoint(g, x, 'U'))
attribute('S',             lambda x: ad.field_adjoint(g, x, 'S'))
attribute('Vh',            lambda x: ad.field_adjoint(g, x, 'Vh'))
attribute('Q',             lambda x: ad.field_adjoint(g, x, 'Q'))
attribute('R',             lambda x: ad.field_adjoint(g, x, 'R'))
attribute('sign',          lambda x: ad.field_adjoint(g, x, 'sign'))
attribute('logabsdet',     lambda x: ad.field_adjoint(g, x, 'logabsdet'))
