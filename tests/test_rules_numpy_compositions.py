"""NumPy functions that run Python equivalents (moving windows, covariances,
joins, grids, NumPy 2 spellings, np.fill_diagonal, np.put, a.put and a.fill
on a local array), the np.diff, np.var and np.std options,
np.bincount with weights and x.compress, checked against central finite
differences in reverse mode, forward mode and the three Hessian
compositions.

Each function under test has the form `np.sum(w * expression)` with the
weight `w` as its last parameter, as in test_rules_numpy.py. The coverage
guard in test_rules.py counts the callees and methods listed at the end.
"""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import adcompiler
from test_higher_order import COMPOSITIONS, check_second_order
from test_rules import check_complex_grads, check_grads, complex_sample
from test_rules import sample, weights_for
from versions import needs


def windows_1d(x, w):
    return np.sum(w * np.sin(sliding_window_view(x, 3)))


def windows_last_axis(x, w):
    return np.sum(w * np.sin(sliding_window_view(x, 3, axis=-1)))


def windows_2d(x, w):
    return np.sum(w * sliding_window_view(x, (2, 2)) ** 2)


def windows_one_axis(x, w):
    return np.sum(w * np.cos(sliding_window_view(x, 2, axis=-1)))


def windows_repeated_axis(x, w):
    return np.sum(w * sliding_window_view(x, (2, 2), axis=(0, 0)) ** 2)


def moving_convolution(x, kernel, w):
    return np.sum(w * np.tanh(sliding_window_view(x, 3, axis=-1) @ kernel))


def multi_dot_vectors(a, b, c, w):
    return np.sum(w * np.linalg.multi_dot([a, b, c]) ** 2)


def multi_dot_matrices(a, b, c, w):
    return np.sum(w * np.linalg.multi_dot([a, b, c]))


def multi_dot_pair(a, b, w):
    # Two arrays go to np.dot, which takes arrays of any dimensions.
    return np.sum(w * np.linalg.multi_dot([a, b]))


def cond_default(a, w):
    return np.sum(w * np.linalg.cond(a))


def cond_minus_two(a, w):
    return np.sum(w * np.linalg.cond(a, -2))


def cond_frobenius(a, w):
    return np.sum(w * np.linalg.cond(a, 'fro'))


def cond_one(a, w):
    return np.sum(w * np.linalg.cond(a, 1))


def cov_rows(a, w):
    return np.sum(w * np.cov(a))


def cov_columns_biased(a, w):
    return np.sum(w * np.cov(a, rowvar=False, bias=True))


def cov_two_variables(a, b, w):
    return np.sum(w * np.cov(a, b))


def cov_observation_weights(a, weights, w):
    return np.sum(w * np.cov(a, aweights=weights, ddof=1))


def cov_frequency_weights(a, w):
    return np.sum(w * np.cov(a, fweights=np.array([1, 2, 1, 3, 1])))


def corrcoef_rows(a, w):
    return np.sum(w * np.corrcoef(a))


def corrcoef_two_vectors(a, b, w):
    return np.sum(w * np.corrcoef(a, b))


def block_matrices(a, b, w):
    return np.sum(w * np.block([[a, b], [b, a]]) ** 2)


def block_mixed_dimensions(a, b, w):
    return np.sum(w * np.block([[a, b], [np.zeros((1, 3)), 2.0]]))


def block_vectors(a, b, w):
    return np.sum(w * np.sin(np.block([a, b, a])))


def delete_columns(a, w):
    return np.sum(w * np.delete(a, [0, 2], axis=1) ** 2)


def delete_flat(a, w):
    return np.sum(w * np.delete(a, slice(1, 4)))


def meshgrid_xy(a, b, w):
    grid_a, grid_b = np.meshgrid(a, b)
    return np.sum(w * np.sin(grid_a * grid_b))


def meshgrid_ij_sparse(a, b, c, w):
    grid_a, grid_b, grid_c = np.meshgrid(a, b, c, indexing='ij',
                                         sparse=True)
    return np.sum(w * (grid_a * grid_b + grid_c) ** 2)


def diagflat_above(a, w):
    return np.sum(w * np.diagflat(a, 1) ** 2)


def ediff1d_begin_end(a, begin, w):
    return np.sum(w * np.ediff1d(a, to_end=[1.0, 2.0], to_begin=begin) ** 2)


def ediff1d_plain(a, w):
    return np.sum(w * np.ediff1d(a) ** 2)


def diff_prepend_row(a, row, w):
    return np.sum(w * np.diff(a, prepend=row, axis=0) ** 2)


def diff_append_number(a, value, w):
    return np.sum(w * np.diff(a, 2, append=value) ** 2)


def diff_both(a, first, last, w):
    return np.sum(w * np.diff(a, prepend=first, append=last) ** 2)


def compress_axis(a, w):
    return np.sum(w * np.compress([True, False, True], a, axis=-1) ** 2)


def compress_flat(a, w):
    return np.sum(w * np.compress([False, True, True, True], a) ** 2)


def broadcast_pair(a, b, w):
    first, second = np.broadcast_arrays(a, b)
    return np.sum(w * first * second ** 2)


def broadcast_three(a, b, c, w):
    parts = np.broadcast_arrays(a, b, c)
    return np.sum(w * parts[0] * parts[1] + parts[2])


def insert_flat(a, b, w):
    return np.sum(w * np.insert(a, 1, b) ** 2)


def insert_rows(a, b, w):
    # b broadcasts against the inserted row.
    return np.sum(w * np.insert(a, 1, b, axis=0) ** 2)


def insert_columns_at_indices(a, b, w):
    return np.sum(w * np.insert(a, [0, 2, 2], b, axis=1) ** 3)


def insert_slice(a, b, w):
    return np.sum(w * np.insert(a, slice(0, 2), b, axis=-1) ** 2)


def matvec_batched(a, v, w):
    return np.sum(w * np.matvec(a, v) ** 2)


def vecmat_batched(v, a, w):
    return np.sum(w * np.vecmat(v, a) ** 2)


def diff_longer_than_axis(a, w):
    # NumPy returns an empty array when n exceeds the length along axis.
    return np.sum(np.diff(a, 7, axis=0)) + np.sum(w * a ** 2)


def diff_longer_than_axis_padded(a, first, w):
    return np.sum(np.diff(a, 5, axis=-1, prepend=first)) + np.sum(
        w * a ** 2)


def var_correction(a, w):
    return np.sum(w * np.var(a, axis=0, correction=1) ** 2)


def std_correction(a, w):
    return np.sum(w * np.std(a, axis=-1, correction=1))


def method_std_positional_ddof(a, w):
    return np.sum(w * a.std(0, None, None, 1))


def method_var_positional_ddof(a, w):
    return np.sum(w * a.var(None, None, None, 1))


def bincount_weights(x, w):
    return np.sum(w * np.bincount(np.array([0, 2, 2, 1, 4, 0]), x, 6) ** 2)


def method_compress_axis(a, w):
    return np.sum(w * a.compress([True, False, True], axis=1) ** 2)


def method_compress_flat(a, w):
    return np.sum(w * a.compress([False, True, True, False, True]))


def cumulative_prod_initial(a, w):
    return np.sum(w * np.cumulative_prod(a, axis=1, include_initial=True))


def cumulative_prod_vector(a, w):
    return np.sum(w * np.cumulative_prod(a))


def unstack_middle(a, w):
    first, second, third = np.unstack(a, axis=1)
    return np.sum(w * (first * second + third ** 2))


def attribute_flat(a, w):
    return np.sum(w * (a.flat[3] * a.flat[[0, 0, 5]] + a.flat[1:4] ** 2))


def fill_diagonal_values(x, values, w):
    a = x * 1.0
    np.fill_diagonal(a, values)
    return np.sum(w * np.sin(a))


def fill_diagonal_wrapped(x, values, w):
    a = x * 1.0
    np.fill_diagonal(a, values, wrap=True)
    return np.sum(w * a ** 2)


def put_repeated_indices(x, values, w):
    a = x * 1.0
    np.put(a, [0, 4, 4, -1], values)
    return np.sum(w * a ** 2)


def put_wrapped(x, values, w):
    a = x * 1.0
    np.put(a, np.array([7, 1]), values, mode='wrap')
    return np.sum(w * np.cos(a))


def method_put_repeated_indices(x, values, w):
    a = np.array(x)
    a.put([0, 4, 4, -1], values)
    return np.sum(w * a ** 2)


def method_put_wrapped(x, values, w):
    a = np.zeros(x.shape)
    a.put(np.array([7, 1]), values * x.flat[0], mode='wrap')
    return np.sum(w * np.cos(a + x))


def method_fill_value(x, value, w):
    a = np.ones(x.shape)
    a.fill(value * np.sum(x))
    return np.sum(w * a * x)


def method_fill_in_loop(x, value, w):
    a = np.empty(x.shape)
    total = 0.0
    for k in range(2):
        a.fill(value * (k + 1.0))
        total = total + np.sum(w * np.sin(a * x))
    return total


def matrix_transpose_stack(a, w):
    return np.sum(w * np.sin(np.matrix_transpose(a)))


_CUMULATIVE_PROD = needs(np, 'cumulative_prod', '2.1')
_UNSTACK = needs(np, 'unstack', '2.1')
_MATRIX_TRANSPOSE = needs(np, 'matrix_transpose', '2.0')
_MATVEC = needs(np, 'matvec', '2.2')
# np.std and np.var take correction= since NumPy 2.0, as np.matrix_transpose.
_CORRECTION = needs(np, 'matrix_transpose', '2.0')


def _well_conditioned(shape, seed):
    """A random matrix plus 3 times the identity, far from singular."""
    return sample(shape, seed=seed) + 3.0 * np.eye(shape[-1])


CASES = [
    (windows_1d, (sample((6,)),)),
    (windows_last_axis, (sample((4, 5)),)),
    (windows_2d, (sample((3, 4)),)),
    (windows_one_axis, (sample((2, 3, 4)),)),
    (windows_repeated_axis, (sample((5, 2)),)),
    (moving_convolution, (sample((7,)), sample((3,), seed=1))),
    (moving_convolution, (sample((2, 6)), sample((3, 2), seed=1))),
    (multi_dot_vectors, (sample((3,)), sample((3, 4), seed=1),
                         sample((4,), seed=2))),
    (multi_dot_matrices, (sample((2, 3)), sample((3, 4), seed=1),
                          sample((4, 2), seed=2))),
    (multi_dot_pair, (sample((1, 2, 3)), sample((3, 2), seed=1))),
    (multi_dot_pair, (sample((2, 3)), sample((2, 3, 4), seed=1))),
    (multi_dot_pair, (sample((3,)), sample((3,), seed=1))),
    (cond_default, (_well_conditioned((3, 3), 0),)),
    (cond_default, (sample((3, 2)),)),
    (cond_default, (_well_conditioned((2, 3, 3), 1),)),
    (cond_minus_two, (_well_conditioned((3, 3), 2),)),
    (cond_frobenius, (_well_conditioned((3, 3), 3),)),
    (cond_one, (_well_conditioned((2, 2, 2), 4),)),
    (cov_rows, (sample((3, 5)),)),
    (cov_rows, (sample((5,)),)),
    (cov_columns_biased, (sample((5, 2)),)),
    (cov_two_variables, (sample((5,)), sample((5,), seed=1))),
    (cov_observation_weights, (sample((2, 5)),
                               sample((5,), 0.5, 2.0, seed=1))),
    (cov_frequency_weights, (sample((3, 5)),)),
    (corrcoef_rows, (sample((3, 5)),)),
    (corrcoef_two_vectors, (sample((4,)), sample((4,), seed=1))),
    (block_matrices, (sample((2, 2)), sample((2, 2), seed=1))),
    (block_mixed_dimensions, (sample((1, 3)), sample((1, 1), seed=1))),
    (block_vectors, (sample((2,)), sample((3,), seed=1))),
    (delete_columns, (sample((3, 4)),)),
    (delete_flat, (sample((2, 3)),)),
    (meshgrid_xy, (sample((3,)), sample((2,), seed=1))),
    (meshgrid_xy, (sample((2, 2)), sample(()))),
    (meshgrid_ij_sparse, (sample((2,)), sample((3,), seed=1),
                           sample((4,), seed=2))),
    (diagflat_above, (sample((2, 2)),)),
    (ediff1d_begin_end, (sample((2, 3)), sample(()))),
    (ediff1d_begin_end, (sample((4,)), sample((2,), seed=1))),
    (ediff1d_plain, (sample((5,)),)),
    (diff_prepend_row, (sample((3, 3)), sample((1, 3), seed=1))),
    (diff_prepend_row, (sample((3, 2)), sample(()))),
    (diff_append_number, (sample((3, 4)), sample(()))),
    (diff_both, (sample((2, 3)), sample((2, 1), seed=1),
                 sample((2, 2), seed=2))),
    (compress_axis, (sample((2, 3)),)),
    (compress_axis, (sample((3,)),)),
    (compress_flat, (sample((2, 3)),)),
    (insert_flat, (sample((2, 3)), sample(()))),
    (insert_flat, (sample((4,)), sample((2,), seed=1))),
    (insert_rows, (sample((2, 3)), sample((3,), seed=1))),
    (insert_rows, (sample((2, 3)), sample(()))),
    (insert_columns_at_indices, (sample((2, 3)), sample((2, 1), seed=1))),
    (insert_columns_at_indices, (sample((3, 2)), sample((3,), seed=1))),
    (insert_slice, (sample((2, 3)), sample((2, 1), seed=1))),
    (broadcast_pair, (sample((2, 1)), sample((3,), seed=1))),
    (broadcast_pair, (sample((2, 3)), sample(()))),
    (broadcast_three, (sample((3, 1, 2)), sample((4, 1), seed=1),
                       sample((2,), seed=2))),
    pytest.param(matvec_batched, (sample((2, 3, 4)), sample((4,), seed=1)),
                 marks=_MATVEC),
    pytest.param(matvec_batched, (sample((3, 4)), sample((2, 4), seed=1)),
                 marks=_MATVEC),
    pytest.param(vecmat_batched, (sample((3,)), sample((2, 3, 4), seed=1)),
                 marks=_MATVEC),
    pytest.param(vecmat_batched, (sample((2, 3)), sample((3, 4), seed=1)),
                 marks=_MATVEC),
    (diff_longer_than_axis, (sample((6,)),)),
    (diff_longer_than_axis, (sample((3, 2)),)),
    (diff_longer_than_axis_padded, (sample((2, 3)), sample((2, 1), seed=1))),
    (diff_longer_than_axis_padded, (sample((2, 2)), sample(()))),
    pytest.param(var_correction, (sample((3, 4)),), marks=_CORRECTION),
    pytest.param(std_correction, (sample((3, 4)),), marks=_CORRECTION),
    (method_std_positional_ddof, (sample((3, 4)),)),
    (method_var_positional_ddof, (sample((3, 4)),)),
    (bincount_weights, (sample((6,)),)),
    (method_compress_axis, (sample((3, 4)),)),
    (method_compress_flat, (sample((2, 3)),)),
    (attribute_flat, (sample((2, 3)),)),
    (fill_diagonal_values, (sample((3, 3)), sample(()))),
    (fill_diagonal_values, (sample((3, 4)), sample((2,), seed=1))),
    (fill_diagonal_values, (sample((2, 2, 2)), sample((2,), seed=1))),
    (fill_diagonal_wrapped, (sample((7, 3)), sample((3,), seed=1))),
    (put_repeated_indices, (sample((2, 3)), sample((3,), seed=1))),
    (put_repeated_indices, (sample((2, 3)), sample(()))),
    (put_wrapped, (sample((2, 3)), sample((2,), seed=1))),
    (method_put_repeated_indices, (sample((2, 3)), sample((3,), seed=1))),
    (method_put_repeated_indices, (sample((6,)), sample(()))),
    (method_put_wrapped, (sample((2, 3)), sample((2,), seed=1))),
    (method_fill_value, (sample((2, 3)), sample(()))),
    (method_fill_value, (sample((4,)), sample(()))),
    (method_fill_in_loop, (sample((3, 2)), sample(()))),
    (attribute_flat, (sample((6,)),)),
    pytest.param(cumulative_prod_initial, (sample((3, 3)),),
                 marks=_CUMULATIVE_PROD),
    pytest.param(cumulative_prod_vector, (sample((4,)),),
                 marks=_CUMULATIVE_PROD),
    pytest.param(unstack_middle, (sample((2, 3)),), marks=_UNSTACK),
    pytest.param(matrix_transpose_stack, (sample((2, 3, 4)),),
                 marks=_MATRIX_TRANSPOSE),
]


def _params(cases):
    """Return the rows as params with the function and shapes as id; a row
    is (function, args) or a pytest.param of them with skip marks."""
    params = []
    for case in cases:
        values, marks = (case.values, case.marks) if hasattr(
            case, 'marks') else (case, ())
        function, args = values
        shapes = ','.join('x'.join(map(str, np.shape(a))) or 'float'
                          for a in args)
        params.append(pytest.param(function, args, marks=marks,
                                   id=f'{function.__name__}[{shapes}]'))
    return params


@pytest.mark.parametrize('function, args', _params(CASES))
def test_reverse_mode(function, args):
    check_grads(function, *args)


@pytest.mark.parametrize('function, args', _params(CASES))
def test_forward_mode(function, args):
    weights = weights_for(function, args)
    adcompiler.check_grads(function, modes=('forward',))(*args, weights)


@pytest.mark.parametrize('mode', COMPOSITIONS)
@pytest.mark.parametrize('function, args', _params(CASES))
def test_second_order(function, args, mode):
    check_second_order(function, *args, mode=mode)


VALUE_CASES = [
    lambda a, b: sliding_window_view(a, (2, 3)),
    lambda a, b: np.linalg.multi_dot([b, a.T, a, b]),
    lambda a, b: np.linalg.cond(a @ a.T, np.inf),
    lambda a, b: np.cov(a, b, aweights=np.abs(b) + 0.5),
    lambda a, b: np.corrcoef(a, rowvar=False),
    lambda a, b: np.block([[a, a], [a, a]]),
    lambda a, b: np.delete(a, 1, axis=0),
    lambda a, b: np.meshgrid(b, b[:2], indexing='ij')[1],
    lambda a, b: np.diagflat(a[:2, :2], -1),
    lambda a, b: np.ediff1d(a, to_begin=0.5),
    lambda a, b: np.insert(a, [1, 0, 1], b[:3, None], axis=1),
    lambda a, b: np.insert(a, 2, b),
    lambda a, b: np.diff(a, axis=0, prepend=0.5, append=b[None, :]),
]


@pytest.mark.parametrize('case', range(len(VALUE_CASES)))
def test_values_match_numpy(case):
    function = VALUE_CASES[case]
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 5))
    b = rng.normal(size=5)
    value, _ = adcompiler.jvp(function, (a, b), (np.ones_like(a), None))
    np.testing.assert_allclose(value, function(a, b), rtol=1e-12)


@pytest.mark.parametrize('function, args', _params([
    (fill_diagonal_values, (sample((3, 4)), sample((2,), seed=1))),
    (fill_diagonal_wrapped, (sample((7, 3)), sample((3,), seed=1))),
    (put_repeated_indices, (sample((2, 3)), sample((3,), seed=1))),
    (put_wrapped, (sample((2, 3)), sample((2,), seed=1))),
    (method_put_wrapped, (sample((2, 3)), sample((2,), seed=1))),
    (method_fill_in_loop, (sample((3, 2)), sample(())))]))
def test_in_place_values_match_numpy(function, args):
    weights = weights_for(function, args)
    value, _ = adcompiler.value_and_grad(function)(*args, weights)
    assert value == pytest.approx(function(*args, weights), rel=1e-12)


def test_in_place_call_leaves_argument_alone():
    def fill_argument(x):
        np.fill_diagonal(x, 2.0)
        return np.sum(x ** 2)

    x = np.ones((2, 2))
    gradient = adcompiler.grad(fill_argument)(x)
    np.testing.assert_array_equal(x, np.ones((2, 2)))
    np.testing.assert_array_equal(gradient, [[0.0, 2.0], [2.0, 0.0]])


def fill_argument_method(x):
    x.fill(2.0)
    return np.sum(x ** 2)


def fill_product_method(x):
    # x * 1.0 may be any object with a fill method, so this is not
    # rewritten, and the method call is rejected.
    a = x * 1.0
    a.fill(x[0])
    return np.sum(a * x)


def fill_shared_array_method(x):
    a = np.zeros(3)
    b = a
    a.fill(x[0])
    return np.sum(b * x)


def put_masked_array_method(x):
    a = np.zeros_like(x)
    a.put([0], x[1])
    return np.sum(a * x)


@pytest.mark.parametrize('function', [
    fill_argument_method, fill_product_method, fill_shared_array_method,
    put_masked_array_method], ids=lambda f: f.__name__)
def test_unproven_array_method_rejected(function):
    x = np.array([0.5, -1.0, 2.0])
    with pytest.raises(adcompiler.UnsupportedSyntaxError):
        adcompiler.grad(function)(x)
    np.testing.assert_array_equal(x, [0.5, -1.0, 2.0])


def test_put_method_of_other_class_runs():
    import queue

    def queued(x):
        q = queue.Queue()
        q.put(2.0)
        return np.sum(x) * q.get()

    gradient = adcompiler.grad(queued)(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(gradient, [2.0, 2.0])


def test_meshgrid_result_type_matches_numpy():
    def grids(a):
        return np.meshgrid(a, a)

    value, _ = adcompiler.jvp(grids, (np.ones(2),), (np.ones(2),))
    assert type(value) is type(np.meshgrid(np.ones(2), np.ones(2)))


def test_sliding_window_view_rejects_writeable():
    def writeable_windows(x):
        return np.sum(sliding_window_view(x, 2, writeable=True))

    with pytest.raises(adcompiler.AdCompilerError, match='writeable=True'):
        adcompiler.grad(writeable_windows)(sample((4,)))


def test_var_rejects_ddof_with_correction():
    def both(a):
        return np.var(a, ddof=1, correction=1)

    with pytest.raises((ValueError, TypeError)):
        adcompiler.grad(both)(sample((4,)))


def test_pad_constant_pairs_in_every_mode():
    def padded(x, w):
        return np.sum(w * np.pad(x, 1, constant_values=(
            (x[0, 0], 2.0), (3.0, x[1, 1]))) ** 2)

    x = sample((3, 4))
    check_grads(padded, x)
    adcompiler.check_grads(padded, modes=('forward',))(
        x, weights_for(padded, (x,)))
    for mode in COMPOSITIONS:
        check_second_order(padded, x, mode=mode)


def test_pad_constant_pair_hessian_entry():
    def padded(x):
        return np.sum(np.pad(x, 1, constant_values=(x[0, 0], 2.0)) ** 2)

    x = np.arange(1.0, 13.0).reshape(3, 4)
    # x[0, 0] fills 9 entries of the padding and its own: 10 squares.
    for mode in COMPOSITIONS:
        assert adcompiler.hessian(padded, mode=mode)(x)[0, 0, 0, 0] == \
            pytest.approx(20.0)


@pytest.mark.parametrize('primal', [np.float64(0.7), np.array(0.7),
                                    np.float32(0.7)],
                         ids=['numpy-scalar', '0-d-array', 'float32'])
def test_jvp_python_float_tangent_of_0d_primal(primal):
    def stacked(t):
        return np.sum(np.concatenate([t[None], t[None] ** 2]))

    value, tangent = adcompiler.jvp(stacked, (primal,), (1.0,))
    assert value == pytest.approx(0.7 + 0.49, rel=1e-6)
    assert tangent == pytest.approx(1.0 + 1.4, rel=1e-6)


def test_grad_of_list_read_as_array():
    def squares(x):
        return np.sum(np.asarray(x) ** 2)

    def cubes(x):
        return np.sum(np.array(x) ** 3)

    gradient = adcompiler.grad(squares)([1.0, 2.0])
    assert gradient == [2.0, 4.0]
    assert type(gradient[0]) is float
    assert adcompiler.grad(cubes)([[1.0, 2.0], [3.0, 4.0]]) == \
        [[3.0, 12.0], [27.0, 48.0]]
    rows = adcompiler.grad(cubes)((np.ones(2), np.full(2, 2.0)))
    assert type(rows) is tuple
    np.testing.assert_array_equal(rows[1], [12.0, 12.0])


def _numpy_error(function, *args):
    """Return the exception that `function(*args)` raises in plain NumPy."""
    with pytest.raises(Exception) as caught:
        function(*args)
    return caught.value


def ediff1d_int_with_float_begin(x):
    return np.sum(np.ediff1d(np.arange(4), to_begin=x * 2.5))


def ediff1d_float_with_complex_end(x):
    return np.sum(np.ediff1d(x, to_end=x[0] * 1j))


def cov_fractional_fweights(x):
    return np.sum(np.cov(x, fweights=np.array([1.0, 2.5, 1.0])))


def cov_negative_fweights(x):
    return np.sum(np.cov(x, fweights=np.array([1, -2, 1])))


def cov_negative_aweights(x):
    return np.sum(np.cov(x, aweights=np.array([1.0, -2.0, 1.0])))


def cov_int_dtype(x):
    return np.sum(np.cov(x, dtype=int))


@pytest.mark.parametrize('function', [
    ediff1d_int_with_float_begin, ediff1d_float_with_complex_end,
    cov_fractional_fweights, cov_negative_fweights, cov_negative_aweights,
    cov_int_dtype], ids=lambda f: f.__name__)
def test_rejects_what_numpy_rejects(function):
    x = sample((2, 3)) if function.__name__.startswith('cov') else 0.7
    if function is ediff1d_float_with_complex_end:
        x = sample((3,))
    expected = _numpy_error(function, x)
    # NumPy raises UFuncTypeError for cov_int_dtype, a TypeError.
    expected_type = TypeError if isinstance(expected, TypeError) \
        else ValueError
    assert isinstance(expected, expected_type)
    with pytest.raises(expected_type) as caught:
        adcompiler.value_and_grad(function)(x)
    assert not isinstance(caught.value, adcompiler.AdCompilerError)
    assert str(expected).split(' ')[0] in str(caught.value)


def test_flat_write_is_rejected_with_line():
    def write_flat(x):
        a = x * 1.0
        a.flat[2] = 5.0
        return np.sum(a)

    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='a.flat'):
        adcompiler.grad(write_flat)(sample((2, 3)))


# Coverage --------------------------------------------------------------------

COVERED_CALLEES = {np.bincount}
COVERED_METHODS = {'compress'}
COVERED_ATTRIBUTES = {'flat'}


# Messages of rejected calls --------------------------------------------------

def pad_reflect_odd(x):
    return np.sum(np.pad(x, 2, mode='reflect', reflect_type='odd'))


def pad_linear_ramp(x):
    return np.sum(np.pad(x, 2, mode='linear_ramp', end_values=0.5))


@pytest.mark.parametrize('function, option', [
    (pad_reflect_odd, 'reflect_type='),
    (pad_linear_ramp, 'end_values='),
], ids=['pad_reflect_type', 'pad_end_values'])
@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_unsupported_option_named(function, option, mode):
    x = sample((5,))
    with pytest.raises(adcompiler.AdCompilerError) as caught:
        if mode == 'reverse':
            adcompiler.grad(function)(x)
        else:
            adcompiler.jvp(function, (x,), (np.ones(5),))
    message = str(caught.value)
    assert f'does not support the option {option}' in message
    assert f'call it without {option}' in message


def median_positional_default(x, w):
    return w * np.median(x, 0, None, False)


def test_median_default_by_position():
    check_grads(median_positional_default, sample((5,)))
    _, tangent = adcompiler.jvp(median_positional_default,
                                (sample((5,)), 1.0), (np.ones(5), None))
    assert tangent == pytest.approx(1.0)


def condition_number(m):
    return np.linalg.cond(m)


def test_cond_of_complex_names_cond():
    m = np.array([[2.0 + 1.0j, 0.5], [0.1j, 3.0]])
    with pytest.raises(adcompiler.UnsupportedOptionError,
                       match='np.linalg.cond'):
        adcompiler.grad(condition_number)(m)


def test_flat_store_names_local():
    def write_flat(x):
        a = x * 2.0
        a.flat[::3] = 0.0
        return np.sum(a)

    with pytest.raises(adcompiler.UnsupportedSyntaxError) as caught:
        adcompiler.grad(write_flat)(sample((2, 3)))
    message = str(caught.value)
    assert 'an attribute of the local variable a' in message
    assert 'global' not in message
    assert 'np.put(a, indices, v)' in message


# Complex inputs of the substitutes -------------------------------------------

_MATRIX = np.array([[1.0 + 0.5j, -0.3], [0.2j, 2.0 - 1.0j], [0.7, 1.1j]])


def c_vecmat(z, w):
    return np.sum(w * np.abs(np.vecmat(z, _MATRIX)) ** 2)


def c_matvec(z, w):
    return np.sum(w * np.abs(np.matvec(_MATRIX.T, z)) ** 2)


@pytest.mark.parametrize('function', [c_vecmat, c_matvec],
                         ids=lambda f: f.__name__)
@_MATVEC
def test_matvec_vecmat_complex(function):
    z = complex_sample((3,))
    value, _ = adcompiler.value_and_grad(function)(z, 1.0)
    assert value == pytest.approx(function(z, 1.0))
    check_complex_grads(function, z)
