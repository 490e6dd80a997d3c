"""The numpy.linalg rules, checked against central finite differences.

Matrices are well conditioned: symmetric positive definite ones are
`b @ b.T + n * I`, general ones `b + n * I`, so that eigenvalues and
singular values are distinct and away from zero. Functions of eigenvectors
and singular vectors use their squares or products, which do not depend on
the sign that LAPACK picks. eigh, eigvalsh and cholesky read one triangle,
and finite differences over all entries check exactly that.
"""

import numpy as np
import pytest

import adcompiler
from test_rules import check_complex_grads, check_grads, complex_sample
from test_rules import grad_of
from versions import CHOLESKY_UPPER, LINALG_ARRAY_API, NAMED_RESULTS
from versions import present

# Test functions that call what this NumPy may lack, by feature: the tables
# leave them out there, and test_cases_left_out_for_this_numpy reports them.
LEFT_OUT = set()
if not LINALG_ARRAY_API:
    LEFT_OUT |= {
        'vector_norm', 'vector_norm_default', 'matrix_norm',
        'matrix_norm_default', 'svdvals', 'linalg_matmul', 'linalg_outer',
        'linalg_tensordot', 'linalg_cross', 'linalg_cross_axis',
        'linalg_vecdot', 'linalg_vecdot_axis', 'ufunc_vecdot', 'linalg_trace',
        'linalg_diagonal', 'linalg_diagonal_offset',
        'linalg_matrix_transpose', 'c_vecdot', 'c_vecdot_second'}
if not CHOLESKY_UPPER:
    LEFT_OUT |= {'cholesky_upper'}
if not NAMED_RESULTS:
    LEFT_OUT |= {'slogdet_field', 'eigh_fields', 'svd_fields', 'qr_fields',
                 'c_slogdet_fields'}


def kept(cases):
    """Return the cases (functions, or tuples that start with one) whose
    function this NumPy can run."""
    return [case for case in cases
            if (case[0] if isinstance(case, tuple) else case).__name__
            not in LEFT_OUT]


def general(shape, seed=0):
    """Return a matrix (or stack) b + n * I with b uniform in [-1, 1)."""
    b = np.random.default_rng(seed).uniform(-1.0, 1.0, shape)
    if shape[-1] == shape[-2]:
        b = b + shape[-1] * np.eye(shape[-1])
    return b


def positive_definite(shape, seed=0):
    """Return a symmetric positive definite matrix (or stack) b b^T + n I."""
    b = np.random.default_rng(seed).uniform(-1.0, 1.0, shape)
    return b @ np.swapaxes(b, -1, -2) + shape[-1] * np.eye(shape[-1])


def complex_general(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1.0, 1.0, shape) + 1j * rng.uniform(-1.0, 1.0, shape)
            + shape[-1] * np.eye(shape[-1]))


def shape_id(shape):
    return 'x'.join(map(str, shape))


# Determinants, inverses, solves and powers -----------------------------------

def det(a, w):
    return np.sum(w * np.linalg.det(a))


def logabsdet(a, w):
    sign, log = np.linalg.slogdet(a)
    return np.sum(w * log * sign ** 2)


def slogdet_field(a, w):
    return np.sum(w * np.linalg.slogdet(a).logabsdet)


def inv(a, w):
    return np.sum(w * np.linalg.inv(a))


def pinv(a, w):
    return np.sum(w * np.linalg.pinv(a))


def matrix_power_3(a, w):
    return np.sum(w * np.linalg.matrix_power(a, 3))


def matrix_power_1(a, w):
    return np.sum(w * np.linalg.matrix_power(a, 1))


def matrix_power_minus_2(a, w):
    return np.sum(w * np.linalg.matrix_power(a, -2))


def matrix_power_0(a, w):
    return np.sum(w * (a + np.linalg.matrix_power(a, 0)))


# (function, shape of a)
SQUARE_CASES = kept([
    (det, (3, 3)), (det, (2, 3, 3)), (det, (1, 1)),
    (logabsdet, (3, 3)), (logabsdet, (2, 2, 2)), (slogdet_field, (3, 3)),
    (inv, (3, 3)), (inv, (2, 3, 3)),
    (pinv, (3, 3)), (pinv, (4, 2)), (pinv, (2, 4)), (pinv, (2, 3, 2)),
    (matrix_power_3, (3, 3)), (matrix_power_3, (2, 2, 2)),
    (matrix_power_1, (3, 3)), (matrix_power_minus_2, (3, 3)),
    (matrix_power_0, (2, 2)),
])


@pytest.mark.parametrize(
    'function, shape', SQUARE_CASES,
    ids=[f'{f.__name__}-{shape_id(s)}' for f, s in SQUARE_CASES])
def test_matrix_function(function, shape):
    check_grads(function, general(shape))


def test_det_and_logabsdet_of_negative_determinant():
    a = general((3, 3)) * np.array([[-1.0], [1.0], [1.0]])
    assert np.linalg.det(a) < 0
    check_grads(det, a)
    check_grads(logabsdet, a)


# A singular matrix has a gradient: the transposed adjugate.
@pytest.mark.parametrize('a, expected', [
    pytest.param([[1.0, 2.0], [2.0, 4.0]], [[4.0, -2.0], [-2.0, 1.0]],
                 id='rank-1'),
    pytest.param([[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]],
                 id='zero'),
    pytest.param([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]],
                 [[-3.0, 6.0, -3.0], [6.0, -12.0, 6.0], [-3.0, 6.0, -3.0]],
                 id='rank-2'),
])
def test_det_of_singular_matrix(a, expected):
    a = np.array(a)
    np.testing.assert_allclose(grad_of(det, a), expected, atol=1e-12)
    check_grads(det, a)


def solve(a, b, w):
    return np.sum(w * np.linalg.solve(a, b))


def _solve_accepts(a_shape, b_shape):
    """Return whether the installed NumPy solves for a b of `b_shape`.

    NumPy 1.x reads a b with one axis fewer than a as a stack of vectors,
    and NumPy 2.0 reads only a 1-D b as a vector. A (3, 3, 3) with
    b (3, 3) runs under both rules.
    """
    try:
        np.linalg.solve(np.broadcast_to(np.eye(a_shape[-1]), a_shape),
                        np.ones(b_shape))
    except ValueError:
        return False
    return True


# (shape of a, shape of b)
SOLVE_CASES = [
    ((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 1)),
    ((2, 3, 3), (3,)), ((2, 3, 3), (3, 2)), ((3, 3, 3), (3, 3)),
    ((2, 3, 3), (2, 3)),
]


SOLVE_PARAMS = [
    pytest.param(a, b, id=f'{shape_id(a)}-{shape_id(b)}',
                 marks=pytest.mark.skipif(
                     not _solve_accepts(a, b),
                     reason=f'NumPy {np.__version__} cannot solve for b of '
                            'this shape (its rule changed in 2.0)'))
    for a, b in SOLVE_CASES]


@pytest.mark.parametrize('a_shape, b_shape', SOLVE_PARAMS)
def test_solve(a_shape, b_shape):
    b = np.random.default_rng(5).uniform(-1.0, 1.0, b_shape)
    check_grads(solve, general(a_shape), b)


def lstsq_solution(a, b, w):
    x, residuals, rank, s = np.linalg.lstsq(a, b)
    return np.sum(w * x)


def lstsq_residuals(a, b, w):
    x, residuals, rank, s = np.linalg.lstsq(a, b)
    return np.sum(w * residuals)


def lstsq_singular_values(a, b, w):
    return np.sum(w * np.linalg.lstsq(a, b)[3])


def lstsq_all(a, b, w):
    x, residuals, rank, s = np.linalg.lstsq(a, b, rcond=None)
    return np.sum(w * x) + np.sum(residuals) * np.sum(s)


@pytest.mark.parametrize('function', [lstsq_solution, lstsq_residuals,
                                      lstsq_singular_values, lstsq_all],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('a_shape, b_shape', [
    pytest.param((5, 3), (5,), id='tall-vector'),
    pytest.param((5, 3), (5, 2), id='tall-matrix'),
    pytest.param((3, 3), (3, 2), id='square'),
])
def test_lstsq(function, a_shape, b_shape):
    b = np.random.default_rng(5).uniform(-1.0, 1.0, b_shape)
    check_grads(function, general(a_shape), b)


def test_lstsq_of_wide_matrix():
    b = np.random.default_rng(5).uniform(-1.0, 1.0, 2)
    check_grads(lstsq_solution, general((2, 4)), b)


# Norms -----------------------------------------------------------------------

# ord, axis and keepdims come in one tuple, so that check_grads does not
# take a float ord (0.5, inf) for an input to differentiate.
def norm(x, options, w):
    ord, axis, keepdims = options
    return np.sum(w * np.linalg.norm(x, ord, axis, keepdims))


# (shape of x, ord, axis, keepdims)
NORM_CASES = [
    ((3,), None, None, False), ((3,), 2, None, False), ((3,), 1, None, False),
    ((3,), np.inf, None, False), ((3,), -np.inf, None, False),
    ((3,), 3, None, False), ((3,), 0.5, None, False), ((3,), -1, None, True),
    ((3,), 0, None, False),
    ((2, 3), None, None, False), ((2, 3), None, None, True),
    ((2, 3, 4), None, None, False),
    ((2, 3), 'fro', None, False), ((2, 3), 'nuc', None, False),
    ((2, 3), 2, None, False), ((3, 2), -2, None, False),
    ((2, 3), 1, None, False), ((2, 3), -1, None, False),
    ((2, 3), np.inf, None, False), ((2, 3), -np.inf, None, True),
    ((2, 3), None, 1, False), ((2, 3), 2, 0, True), ((2, 3), 1, -1, False),
    ((2, 3), np.inf, 1, False), ((2, 3, 4), 3, 1, False),
    ((2, 3, 4), None, (0, 2), False), ((2, 3, 4), 'fro', (2, 0), True),
    ((2, 3, 4), 'nuc', (1, 2), False), ((2, 3, 4), 2, (0, 1), False),
    ((2, 3, 4), 1, (2, 1), True), ((2, 3, 4), -np.inf, (0, 2), False),
]


@pytest.mark.parametrize(
    'shape, ord, axis, keepdims', NORM_CASES,
    ids=[f'{shape_id(s)}-ord={o}-axis={a}{"-keepdims" if k else ""}'
         for s, o, a, k in NORM_CASES])
def test_norm(shape, ord, axis, keepdims):
    x = np.random.default_rng(3).uniform(-2.0, 2.0, shape)
    check_grads(norm, x, (ord, axis, keepdims))


def vector_norm(x, w):
    return np.sum(w * np.linalg.vector_norm(x, axis=(0, 1), ord=3))


def vector_norm_default(x, w):
    return w * np.linalg.vector_norm(x)


def matrix_norm(x, w):
    return np.sum(w * np.linalg.matrix_norm(x, ord='nuc'))


def matrix_norm_default(x, w):
    return np.sum(w * np.linalg.matrix_norm(x, keepdims=True))


@pytest.mark.parametrize('function', kept([vector_norm, vector_norm_default,
                                           matrix_norm, matrix_norm_default]),
                         ids=lambda f: f.__name__)
def test_array_api_norms(function):
    x = np.random.default_rng(3).uniform(-2.0, 2.0, (2, 3, 4))
    check_grads(function, x)


def test_norm_of_zero_vector_has_zero_gradient():
    for ord in (None, 2, 1, np.inf, 3):
        gradient = grad_of(norm, np.zeros(3), (ord, None, False))
        np.testing.assert_array_equal(gradient, np.zeros(3))


def test_norm_ties_split_evenly():
    gradient = grad_of(norm, np.array([1.0, -3.0, 3.0]), (np.inf, None, False))
    np.testing.assert_array_equal(gradient, [0.0, -0.5, 0.5])
    gradient = grad_of(norm, np.eye(2), (2, None, False))
    np.testing.assert_allclose(gradient, 0.5 * np.eye(2), atol=1e-15)


# Symmetric eigenproblems and Cholesky ----------------------------------------

def eigh_values(a, w):
    values, vectors = np.linalg.eigh(a)
    return np.sum(w * values)


def eigh_vectors(a, w):
    values, vectors = np.linalg.eigh(a)
    return np.sum(w * vectors ** 2)


def eigh_both_upper(a, w):
    values, vectors = np.linalg.eigh(a, UPLO='U')
    return np.sum(w * vectors ** 2 * values[..., None, :])


def eigh_fields(a, w):
    result = np.linalg.eigh(a)
    return np.sum(w * result.eigenvectors[..., 0, :] ** 2
                  * result.eigenvalues)


def eigvalsh(a, w):
    return np.sum(w * np.linalg.eigvalsh(a))


def eigvalsh_upper(a, w):
    return np.sum(w * np.linalg.eigvalsh(a, 'U') ** 2)


def cholesky(a, w):
    return np.sum(w * np.linalg.cholesky(a))


def cholesky_upper(a, w):
    return np.sum(w * np.linalg.cholesky(a, upper=True))


SYMMETRIC_FUNCTIONS = kept([eigh_values, eigh_vectors, eigh_both_upper,
                            eigh_fields, eigvalsh, eigvalsh_upper, cholesky,
                            cholesky_upper])


@pytest.mark.parametrize('shape', [(3, 3), (2, 3, 3), (1, 1)], ids=shape_id)
@pytest.mark.parametrize('function', SYMMETRIC_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_symmetric_matrix_function(function, shape):
    check_grads(function, positive_definite(shape))


def eigh_of_symmetrized(b, w):
    values, vectors = np.linalg.eigh(b + b.T)
    return np.sum(w * values) + np.sum(vectors[:, -1] ** 2)


def cholesky_of_gram(b, w):
    return np.sum(w * np.linalg.cholesky(b @ b.T + 3.0 * np.eye(3)))


# Through a symmetric construction the one-triangle gradient gives the full
# derivative with respect to b.
@pytest.mark.parametrize('function', [eigh_of_symmetrized, cholesky_of_gram],
                         ids=lambda f: f.__name__)
def test_symmetric_construction(function):
    check_grads(function, general((3, 3)))


def test_eigenvalue_gradient_ignores_degenerate_eigenvectors():
    # Equal eigenvalues: the eigenvector term is skipped, not a 0 * inf.
    gradient = grad_of(eigh_values, np.eye(3))
    np.testing.assert_allclose(gradient, np.eye(3), atol=1e-15)


# General eigenproblems: eigenvalues only -------------------------------------

def eig_values(a, w):
    values, vectors = np.linalg.eig(a)
    return np.sum(w * np.real(values)) + np.sum(w * np.imag(values) ** 2)


def eigvals(a, w):
    values = np.linalg.eigvals(a)
    return np.sum(w * np.abs(values))


def rotation_like(seed=0):
    """Return a real matrix with two complex eigenvalues and one real one."""
    a = np.array([[0.5, -2.0, 0.3], [1.5, 0.2, -0.4], [0.1, 0.3, 2.0]])
    return a + np.random.default_rng(seed).uniform(-0.1, 0.1, (3, 3))


@pytest.mark.parametrize('function', [eig_values, eigvals],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('a', [
    pytest.param(general((3, 3)), id='real-eigenvalues'),
    pytest.param(rotation_like(), id='complex-eigenvalues'),
    pytest.param(general((2, 3, 3)), id='stack'),
])
def test_eig(function, a):
    check_grads(function, a)


def eig_vectors(a, w):
    values, vectors = np.linalg.eig(a)
    return np.sum(w * np.abs(vectors))


def eig_vector_parts(a, w):
    values, vectors = np.linalg.eig(a)
    return np.sum(w * (np.real(vectors) - 0.5 * np.imag(vectors)))


# The eigenvectors are normalized as LAPACK returns them: unit norm, and
# the entry of largest magnitude real.
@pytest.mark.parametrize('function', [eig_vectors, eig_vector_parts],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('a', [
    pytest.param(general((3, 3)), id='real-eigenvalues'),
    pytest.param(rotation_like(), id='complex-eigenvalues'),
    pytest.param(general((2, 3, 3)), id='stack'),
])
def test_eig_vectors(function, a):
    check_grads(function, a)


# SVD and QR ------------------------------------------------------------------

def svd_values(a, w):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return np.sum(w * s)


def svd_left(a, w):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return np.sum(w * u ** 2)


def svd_right(a, w):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return np.sum(w * vh ** 2)


def svd_rebuilt(a, w):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return np.sum(w * ((u * s[..., None, :] ** 2) @ vh))


def svd_compute_uv_false(a, w):
    return np.sum(w * np.linalg.svd(a, compute_uv=False))


def svd_fields(a, w):
    result = np.linalg.svd(a, full_matrices=False)
    return (np.sum(w * result.S) + np.sum(result.U ** 3 * result.U)
            + np.sum(result.Vh ** 2 * result.S[..., :, None]))


def svdvals(a, w):
    return np.sum(w * np.linalg.svdvals(a))


def qr_q(a, w):
    q, r = np.linalg.qr(a)
    return np.sum(w * q)


def qr_r(a, w):
    q, r = np.linalg.qr(a)
    return np.sum(w * r)


def qr_both(a, w):
    q, r = np.linalg.qr(a, mode='reduced')
    return np.sum(w * (q @ r ** 2))


def qr_mode_r(a, w):
    return np.sum(w * np.linalg.qr(a, mode='r'))


def qr_fields(a, w):
    result = np.linalg.qr(a)
    return np.sum(w * result.Q[0]) + np.sum(result.R)


DECOMPOSITIONS = kept([svd_values, svd_left, svd_right, svd_rebuilt,
                       svd_compute_uv_false, svd_fields, svdvals, qr_q, qr_r,
                       qr_both, qr_mode_r, qr_fields])


@pytest.mark.parametrize('shape', [(3, 3), (4, 2), (2, 4), (2, 3, 2)],
                         ids=shape_id)
@pytest.mark.parametrize('function', DECOMPOSITIONS, ids=lambda f: f.__name__)
def test_decomposition(function, shape):
    check_grads(function, general(shape, seed=2))


def svd_full_square(a, w):
    u, s, vh = np.linalg.svd(a)
    return np.sum(w * ((u * s) @ vh))


def test_svd_full_matrices_of_square_matrix():
    check_grads(svd_full_square, general((3, 3)))


def qr_complete(a, w):
    q, r = np.linalg.qr(a, mode='complete')
    return np.sum(w * r)


def test_qr_complete_of_wide_matrix():
    check_grads(qr_complete, general((2, 4)))


# Complex matrices ------------------------------------------------------------

def c_det(a, w):
    return np.sum(w * np.abs(np.linalg.det(a)))


def c_slogdet(a, w):
    sign, log = np.linalg.slogdet(a)
    return np.sum(w * (log + np.real(sign) - 2.0 * np.imag(sign)))


def c_inv(a, w):
    return np.sum(w * np.real(np.linalg.inv(a) * (1.0 - 0.5j)))


def c_solve(a, w):
    return np.sum(w * np.abs(np.linalg.solve(a, np.array([1.0, 2.0j, -1.0]))))


def c_matrix_power(a, w):
    return np.sum(w * np.imag(np.linalg.matrix_power(a, 3)))


def c_norm(a, w):
    return np.sum(w * np.linalg.norm(a, axis=0))


def c_norm_matrix(a, w):
    return (np.linalg.norm(a, 'nuc') + np.linalg.norm(a, 2)
            + np.linalg.norm(a, 1) + w * np.linalg.norm(a, -np.inf))


def c_eigvals(a, w):
    return np.sum(w * np.abs(np.linalg.eigvals(a)))


def c_slogdet_fields(a, w):
    result = np.linalg.slogdet(a)
    return w * (np.imag(result.sign) + 0.5 * result.logabsdet)


@pytest.mark.parametrize('function', kept([
    c_det, c_slogdet, c_slogdet_fields, c_inv, c_solve, c_matrix_power,
    c_norm, c_norm_matrix, c_eigvals]),
                         ids=lambda f: f.__name__)
def test_complex_matrix_function(function):
    check_complex_grads(function, complex_general((3, 3)))


def c_eigh(a, w):
    return np.sum(w * np.linalg.eigvalsh(a))


def c_svd(a, w):
    return np.sum(w * np.linalg.svd(a, compute_uv=False))


def c_cholesky(a, w):
    return np.sum(w * np.abs(np.linalg.cholesky(a)))


@pytest.mark.parametrize('function', [c_eigh, c_svd, c_cholesky],
                         ids=lambda f: f.__name__)
def test_complex_decompositions_are_rejected(function):
    a = complex_general((3, 3))
    with pytest.raises(NotImplementedError, match='real matrices only'):
        grad_of(function, a @ np.conj(a.T))


# The array API functions of numpy.linalg ------------------------------------

def linalg_matmul(x, y, w):
    return np.sum(w * np.linalg.matmul(x, y))


def linalg_outer(x, y, w):
    return np.sum(w * np.linalg.outer(x, y))


def linalg_tensordot(x, y, w):
    return np.sum(w * np.linalg.tensordot(x, y, axes=1))


def linalg_cross(x, y, w):
    return np.sum(w * np.linalg.cross(x, y))


def linalg_cross_axis(x, y, w):
    return np.sum(w * np.linalg.cross(x, y, axis=0))


def linalg_vecdot(x, y, w):
    return np.sum(w * np.linalg.vecdot(x, y))


def linalg_vecdot_axis(x, y, w):
    return np.sum(w * np.linalg.vecdot(x, y, axis=0))


def ufunc_vecdot(x, y, w):
    return np.sum(w * np.vecdot(x, y))


def linalg_trace(x, y, w):
    return np.sum(w * np.linalg.trace(x * y, offset=1))


def linalg_diagonal(x, y, w):
    return np.sum(w * np.linalg.diagonal(x) * y)


def linalg_diagonal_offset(x, y, w):
    return np.sum(w * np.linalg.diagonal(x, offset=-1) * y)


def linalg_matrix_transpose(x, y, w):
    return np.sum(w * np.linalg.matrix_transpose(x) * y)


# (function, shape of x, shape of y)
ARRAY_API_CASES = kept([
    (linalg_matmul, (2, 3), (3, 4)), (linalg_matmul, (3,), (3, 2)),
    (linalg_matmul, (2, 2, 3), (3,)), (linalg_matmul, (2, 1, 2, 3),
                                       (3, 3, 2)),
    (linalg_outer, (3,), (2,)),
    (linalg_tensordot, (2, 3), (3, 4)),
    (linalg_cross, (3,), (3,)), (linalg_cross, (4, 3), (3,)),
    (linalg_cross_axis, (3, 2), (3, 1)),
    (linalg_vecdot, (3,), (3,)), (linalg_vecdot, (2, 3), (3,)),
    (linalg_vecdot_axis, (3, 2), (3, 1)), (ufunc_vecdot, (2, 1, 3), (4, 3)),
    (linalg_trace, (3, 3), (3, 3)), (linalg_trace, (2, 3, 4), (3, 4)),
    (linalg_diagonal, (3, 3), (3,)), (linalg_diagonal, (2, 3, 4), (3,)),
    (linalg_diagonal_offset, (3, 2), (2,)),
    (linalg_matrix_transpose, (2, 3), (3, 2)),
    (linalg_matrix_transpose, (2, 3, 4), (4, 3)),
])


@pytest.mark.parametrize(
    'function, x_shape, y_shape', ARRAY_API_CASES,
    ids=[f'{f.__name__}-{shape_id(a)}-{shape_id(b)}'
         for f, a, b in ARRAY_API_CASES])
def test_array_api_function(function, x_shape, y_shape):
    rng = np.random.default_rng(7)
    check_grads(function, rng.uniform(-1.0, 1.0, x_shape),
                rng.uniform(-1.0, 1.0, y_shape))


def c_vecdot(z, w):
    return np.sum(w * np.real(np.linalg.vecdot(z, np.array([1.0j, 2.0, -1.0]))
                              * (0.5 - 1.0j)))


def c_vecdot_second(z, w):
    return np.sum(w * np.imag(np.vecdot(np.array([1.0j, 2.0, -1.0]), z)))


@pytest.mark.parametrize('function', kept([c_vecdot, c_vecdot_second]),
                         ids=lambda f: f.__name__)
def test_complex_vecdot(function):
    check_complex_grads(function, complex_sample((2, 3)))


# Options that are rejected ---------------------------------------------------

def svd_full_wide(a, w):
    u, s, vh = np.linalg.svd(a)
    return np.sum(w * s)


def qr_complete_tall(a, w):
    q, r = np.linalg.qr(a, 'complete')
    return np.sum(w * r)


def pinv_hermitian(a, w):
    return np.sum(w * np.linalg.pinv(a, hermitian=True))


@pytest.mark.parametrize('function, shape, option', [
    pytest.param(svd_full_wide, (2, 3), 'full_matrices=True', id='svd'),
    pytest.param(qr_complete_tall, (3, 2), "mode='complete'", id='qr'),
    pytest.param(pinv_hermitian, (2, 2), 'hermitian=True', id='pinv'),
])
def test_unsupported_options_are_named(function, shape, option):
    with pytest.raises(NotImplementedError, match=option):
        grad_of(function, general(shape))


def eigh_with_extra_argument(a, w):
    return np.sum(w * np.linalg.eigh(a, 'L', 3))


def test_extra_argument_rejected_when_compiling():
    with pytest.raises(adcompiler.AdCompilerError, match='eigh'):
        grad_of(eigh_with_extra_argument, positive_definite((2, 2)))


def test_cases_left_out_for_this_numpy():
    """Report the test functions that the tables leave out as a skip."""
    if LEFT_OUT:
        pytest.skip(f'NumPy {np.__version__} lacks what these call (new in '
                    f'1.26 or 2.0): {", ".join(sorted(LEFT_OUT))}')


# Coverage --------------------------------------------------------------------

COVERED_CALLEES = {
    np.linalg.det, np.linalg.slogdet, np.linalg.inv, np.linalg.pinv,
    np.linalg.matrix_power, np.linalg.solve, np.linalg.lstsq,
    np.linalg.norm, np.linalg.eigh, np.linalg.eigvalsh, np.linalg.eig,
    np.linalg.eigvals, np.linalg.cholesky, np.linalg.svd, np.linalg.qr,
    np.linalg.matrix_rank,
} | present(np.linalg, 'vector_norm', 'matrix_norm', 'svdvals', 'matmul',
            'outer', 'tensordot', 'cross', 'vecdot', 'trace', 'diagonal',
            'matrix_transpose') | present(np, 'vecdot')
COVERED_METHODS = set()
COVERED_ATTRIBUTES = {'eigenvalues', 'eigenvectors', 'U', 'S', 'Vh', 'Q',
                      'R', 'sign', 'logabsdet'}
