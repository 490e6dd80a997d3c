"""NumPy rules for shapes, joins, splits, indexing, constructors,
reductions, scans, products and sorting, checked against central finite
differences with the harness of test_rules.py.

Each function under test has the form `np.sum(w * expression)` with the
weight `w` as its last parameter. `check_grads` compares the gradient with
respect to every float argument with central differences. The coverage
guard in test_rules.py counts the callees, methods and attributes listed at
the end of this file.
"""

import inspect
import warnings

import numpy as np
import pytest

import adcompiler
from adcompiler import runtime
from test_rules import REDUCTION_CASES, XS, check_complex_grads, check_grads
from test_rules import complex_sample, grad_of, sample, weights_for
from finite_differences import assert_gradient_close, numerical_gradient
from versions import param, present


def _ids(cases):
    return [case[0].__name__ for case in cases]


# Axes: swapaxes, moveaxis, rollaxis, roll, flip, rot90 -----------------------

def np_swapaxes(x, w):
    return np.sum(w * np.swapaxes(x, 0, 2))


def np_moveaxis(x, w):
    return np.sum(w * np.moveaxis(x, 0, -1))


def np_moveaxis_tuples(x, w):
    return np.sum(w * np.moveaxis(x, (0, 1), (2, 0)))


def np_rollaxis_to_front(x, w):
    return np.sum(w * np.rollaxis(x, 2))


def np_rollaxis_to_end(x, w):
    return np.sum(w * np.rollaxis(x, 0, 3))


def np_rollaxis_negative(x, w):
    return np.sum(w * np.rollaxis(x, -1, 1))


def np_roll_flat(x, w):
    return np.sum(w * np.roll(x, 5))


def np_roll_axis(x, w):
    return np.sum(w * np.roll(x, -1, axis=1))


def np_roll_axes(x, w):
    return np.sum(w * np.roll(x, (1, -2), axis=(0, 2)))


def np_flip(x, w):
    return np.sum(w * np.flip(x))


def np_flip_axis(x, w):
    return np.sum(w * np.flip(x, 1))


def np_flip_axes(x, w):
    return np.sum(w * np.flip(x, (0, 2)))


def np_flipud(x, w):
    return np.sum(w * np.flipud(x))


def np_fliplr(x, w):
    return np.sum(w * np.fliplr(x))


def np_rot90(x, w):
    return np.sum(w * np.rot90(x))


def np_rot90_twice(x, w):
    return np.sum(w * np.rot90(x, 2))


def np_rot90_axes(x, w):
    return np.sum(w * np.rot90(x, -1, axes=(1, 2)))


def method_swapaxes(x, w):
    return np.sum(w * x.swapaxes(2, 1))


def attribute_mt(x, w):
    return np.sum(w * x.mT)


AXIS_FUNCTIONS = [
    np_swapaxes, np_moveaxis, np_moveaxis_tuples, np_rollaxis_to_front,
    np_rollaxis_to_end, np_rollaxis_negative, np_roll_flat, np_roll_axis,
    np_roll_axes, np_flip, np_flip_axis, np_flip_axes, np_flipud, np_fliplr,
    np_rot90, np_rot90_twice, np_rot90_axes, method_swapaxes,
] + ([attribute_mt] if hasattr(np.ndarray, 'mT') else [])  # new in NumPy 2.0
MT_CASE = param(attribute_mt, np.ndarray, 'mT', '2.0')


@pytest.mark.parametrize('function', AXIS_FUNCTIONS + [MT_CASE],
                         ids=lambda f: f.__name__)
def test_axes_of_cube(function):
    check_grads(function, sample((2, 3, 4)))


@pytest.mark.parametrize('function', [np_roll_flat, np_flip, np_flipud,
                                      np_fliplr, np_rot90, MT_CASE],
                         ids=lambda f: f.__name__)
def test_axes_of_matrix(function):
    check_grads(function, sample((2, 3)))


# Broadcasting and dimensions -------------------------------------------------

def np_broadcast_to(x, w):
    return np.sum(w * np.broadcast_to(x, (4, 2, 3)))


def np_atleast_1d(x, w):
    return np.sum(w * np.atleast_1d(x))


def np_atleast_2d(x, w):
    return np.sum(w * np.atleast_2d(x))


def np_atleast_3d(x, w):
    return np.sum(w * np.atleast_3d(x))


@pytest.mark.parametrize('function', [np_broadcast_to, np_atleast_1d,
                                      np_atleast_2d, np_atleast_3d],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('shape', [
    pytest.param((), id='float'),
    pytest.param((3,), id='vector'),
    pytest.param((1, 3), id='row'),
    pytest.param((2, 3), id='matrix'),
])
def test_dimensions(function, shape):
    check_grads(function, sample(shape))


# Triangles and diagonals -----------------------------------------------------

def np_triu(x, w):
    return np.sum(w * np.triu(x))


def np_triu_above(x, w):
    return np.sum(w * np.triu(x, 1))


def np_tril(x, w):
    return np.sum(w * np.tril(x))


def np_tril_below(x, w):
    return np.sum(w * np.tril(x, -1))


def np_diag(x, w):
    return np.sum(w * np.diag(x))


def np_diag_above(x, w):
    return np.sum(w * np.diag(x, 1))


def np_diag_below(x, w):
    return np.sum(w * np.diag(x, k=-1))


def np_diagonal(x, w):
    return np.sum(w * np.diagonal(x))


def np_diagonal_offset_axes(x, w):
    return np.sum(w * np.diagonal(x, 1, 2, 0))


def method_diagonal(x, w):
    return np.sum(w * x.diagonal(offset=-1))


def np_trace(x, w):
    return w * np.trace(x)


def np_trace_offset(x, w):
    return w * np.trace(x, -1)


def np_trace_of_cube(x, w):
    return np.sum(w * np.trace(x, 1, axis1=1, axis2=2))


def method_trace(x, w):
    return w * x.trace(offset=1)


# (function, shape of x)
TRIANGLE_CASES = [
    (np_triu, (3, 3)), (np_triu, (2, 4)), (np_triu, (3,)),
    (np_triu_above, (3, 3)), (np_tril, (3, 3)), (np_tril, (4,)),
    (np_tril_below, (2, 3, 4)),
    (np_diag, (3,)), (np_diag, (3, 3)), (np_diag, (2, 4)),
    (np_diag_above, (3,)), (np_diag_above, (2, 4)), (np_diag_below, (3,)),
    (np_diag_below, (4, 3)),
    (np_diagonal, (3, 3)), (np_diagonal, (2, 4, 3)),
    (np_diagonal_offset_axes, (3, 2, 4)), (method_diagonal, (4, 3)),
    (np_trace, (3, 3)), (np_trace, (2, 4)), (np_trace_offset, (3, 3)),
    (np_trace_of_cube, (2, 3, 4)), (method_trace, (3, 4)),
]


@pytest.mark.parametrize(
    'function, shape', TRIANGLE_CASES,
    ids=[f'{f.__name__}-{"x".join(map(str, s))}' for f, s in TRIANGLE_CASES])
def test_triangles_and_diagonals(function, shape):
    check_grads(function, sample(shape))


# Repetition and indexing -----------------------------------------------------

def np_repeat(x, w):
    return np.sum(w * np.repeat(x, 2))


def np_repeat_axis(x, w):
    return np.sum(w * np.repeat(x, [1, 0, 3], axis=-1))


def method_repeat(x, w):
    return np.sum(w * x.repeat(3, axis=0))


def np_tile(x, w):
    return np.sum(w * np.tile(x, 2))


def np_tile_more_dimensions(x, w):
    return np.sum(w * np.tile(x, (2, 1, 3)))


def np_take(x, w):
    return np.sum(w * np.take(x, [0, 2, 2, -1]))


def np_take_axis(x, w):
    return np.sum(w * np.take(x, np.array([[2, 0], [2, 2]]), axis=-1))


def np_take_wrap(x, w):
    return np.sum(w * np.take(x, [4, -5, 1], axis=1, mode='wrap'))


def np_take_clip(x, w):
    return np.sum(w * np.take(x, [7, -2, 1], axis=1, mode='clip'))


def np_take_scalar_index(x, w):
    return np.sum(w * np.take(x, 1, axis=1))


def method_take(x, w):
    return np.sum(w * x.take([1, 1], axis=0))


def np_take_along_axis(x, w):
    return np.sum(w * np.take_along_axis(x, np.argsort(x, axis=1), axis=1))


def np_take_along_axis_repeats(x, w):
    return np.sum(w * np.take_along_axis(x, np.array([[0, 0], [2, 1]]), 1))


def np_take_along_axis_flat(x, w):
    return np.sum(w * np.take_along_axis(x, np.array([5, 0, 5]), None))


def method_item(x, w):
    return w * x.item(4)


def method_item_index(x, w):
    return w * x.item(1, 2) * x.item((0, 1))


def method_item_single(x, w):
    return w * np.reshape(x, (1, 1)).item()


# (function, shape of x)
INDEXING_CASES = [
    (np_repeat, (3,)), (np_repeat, (2, 3)), (np_repeat_axis, (2, 3)),
    (method_repeat, (2, 3)), (np_tile, (3,)), (np_tile, (2, 3)),
    (np_tile_more_dimensions, (2, 3)), (np_tile_more_dimensions, ()),
    (np_take, (2, 3)), (np_take_axis, (2, 3)), (np_take_wrap, (2, 3)),
    (np_take_clip, (2, 3)), (np_take_scalar_index, (2, 3)),
    (method_take, (2, 3)), (np_take_along_axis, (2, 3)),
    (np_take_along_axis_repeats, (2, 3)), (np_take_along_axis_flat, (2, 3)),
    (method_item, (2, 3)), (method_item_index, (2, 3)),
    (method_item_single, ()),
]


@pytest.mark.parametrize(
    'function, shape', INDEXING_CASES,
    ids=[f'{f.__name__}-{"x".join(map(str, s))}' for f, s in INDEXING_CASES])
def test_repetition_and_indexing(function, shape):
    check_grads(function, sample(shape))


# Casts -----------------------------------------------------------------------

def method_astype_float(x, w):
    return np.sum(w * x.astype(np.float64) ** 2)


def method_astype_complex(x, w):
    return np.sum(w * np.abs(x.astype(complex) * (1.0 + 2.0j)))


def np_astype(x, w):
    return np.sum(w * np.astype(x, 'float64'))


ASTYPE_CASE = param(np_astype, np, 'astype', '2.0')


def method_astype_int(x, w):
    return np.sum(w * x.astype(int))


def method_astype_bool(x, w):
    return np.sum(w * (x + x.astype(bool)))


@pytest.mark.parametrize('function', [method_astype_float,
                                      method_astype_complex, ASTYPE_CASE,
                                      method_astype_bool],
                         ids=lambda f: f.__name__)
def test_astype(function):
    check_grads(function, XS)


def test_astype_integer_zero_gradient():
    gradient = grad_of(method_astype_int, XS)
    assert gradient.shape == XS.shape
    assert np.all(gradient == 0.0)


def c_astype_real(z, w):
    return np.sum(w * z.astype(complex).real)


def test_astype_keeps_complex_adjoint():
    check_complex_grads(c_astype_real, complex_sample((3,)))


# Splits: the result is a list of pieces --------------------------------------

def np_split_all_pieces(x, w):
    a, b, c = np.split(x, 3, axis=1)
    return np.sum(w * (a * b - c))


def np_split_one_piece(x, w):
    pieces = np.split(x, [1], axis=0)
    return np.sum(w * pieces[1])


def np_array_split(x, w):
    pieces = np.array_split(x, 2, axis=-1)
    return np.sum(w * pieces[0][:, :1] * pieces[1][:, :1])


def np_vsplit(x, w):
    top, bottom = np.vsplit(x, 2)
    return np.sum(w * top * bottom ** 2)


def np_hsplit(x, w):
    left, right = np.hsplit(x, [1])
    return np.sum(w * (np.sum(left) + right))


def np_hsplit_vector(x, w):
    pieces = np.hsplit(x, 2)
    return np.sum(w * pieces[0] * pieces[1])


def np_dsplit(x, w):
    pieces = np.dsplit(x, [1, 3])
    return np.sum(w * pieces[2] * pieces[0])


def np_split_loop(x, w):
    total = 0.0
    for piece in np.split(x, 2):
        total = total + np.sum(piece ** 2)
    return w * total


# (function, shape of x)
SPLIT_CASES = [
    (np_split_all_pieces, (2, 3)), (np_split_one_piece, (2, 3)),
    (np_array_split, (2, 3)), (np_vsplit, (4, 3)), (np_hsplit, (2, 3)),
    (np_hsplit_vector, (4,)), (np_dsplit, (2, 2, 4)), (np_split_loop, (4,)),
]


@pytest.mark.parametrize('function, shape', SPLIT_CASES, ids=_ids(SPLIT_CASES))
def test_split(function, shape):
    check_grads(function, sample(shape))


# Joins: the first argument is a sequence -------------------------------------

def np_concatenate(x, y, w):
    return np.sum(w * np.concatenate([x, y]))


def np_concatenate_axis(x, y, w):
    return np.sum(w * np.concatenate((x, y, x), axis=1))


def np_concatenate_flat(x, y, w):
    return np.sum(w * np.concatenate([x, y], axis=None))


def np_stack(x, y, w):
    return np.sum(w * np.stack([x, y]))


def np_stack_last(x, y, w):
    return np.sum(w * np.stack((x, y, x), axis=-1))


def np_vstack(x, y, w):
    return np.sum(w * np.vstack([x, y]))


def np_hstack(x, y, w):
    return np.sum(w * np.hstack([x, y]))


def np_dstack(x, y, w):
    return np.sum(w * np.dstack([x, y]))


def np_column_stack(x, y, w):
    return np.sum(w * np.column_stack([x, y]))


def np_append(x, y, w):
    return np.sum(w * np.append(x, y))


def np_append_axis(x, y, w):
    return np.sum(w * np.append(x, y, axis=0))


def np_concatenate_built_list(x, y, w):
    parts = []
    parts.append(x)
    parts.append(y * 2.0)
    return np.sum(w * np.concatenate(parts))


# (function, shape of x, shape of y)
JOIN_CASES = [
    (np_concatenate, (3,), (2,)), (np_concatenate, (2, 3), (1, 3)),
    (np_concatenate_axis, (2, 3), (2, 1)),
    (np_concatenate_flat, (2, 3), (4,)),
    (np_stack, (3,), (3,)), (np_stack, (2, 3), (2, 3)),
    (np_stack_last, (2, 3), (2, 3)),
    (np_vstack, (3,), (3,)), (np_vstack, (2, 3), (3,)),
    (np_hstack, (3,), (2,)), (np_hstack, (2, 3), (2, 1)),
    (np_hstack, (), (2,)),
    (np_dstack, (2, 3), (2, 3)), (np_dstack, (3,), (3,)),
    (np_column_stack, (3,), (3,)), (np_column_stack, (3, 2), (3,)),
    (np_append, (2, 3), ()), (np_append, (3,), (2, 2)),
    (np_append_axis, (2, 3), (1, 3)),
]


@pytest.mark.parametrize(
    'function, x_shape, y_shape', JOIN_CASES,
    ids=[f'{f.__name__}-{"x".join(map(str, a))}-{"x".join(map(str, b))}'
         for f, a, b in JOIN_CASES])
def test_join(function, x_shape, y_shape):
    check_grads(function, sample(x_shape, seed=1), sample(y_shape, seed=2))


# A list updated with append may be joined: np.concatenate copies it.
def test_concatenate_list_built_with_append():
    check_grads(np_concatenate_built_list, sample((3,), seed=1),
                sample((2,), seed=2))


def np_concatenate_rows_of_array(x, w):
    return np.sum(w * np.concatenate(x))


def test_concatenate_rows_of_array():
    check_grads(np_concatenate_rows_of_array, sample((2, 3)))


# Padding ---------------------------------------------------------------------

def np_pad(x, w):
    return np.sum(w * np.pad(x, ((1, 2), (0, 1))))


def np_pad_value(x, value, w):
    return np.sum(w * np.pad(x, 2, constant_values=value))


def np_pad_values_per_axis(x, values, w):
    return np.sum(w * np.pad(x, ((1, 0), (2, 1)), 'constant',
                             constant_values=values))


def np_pad_edge(x, w):
    return np.sum(w * np.pad(x, ((2, 1), (1, 3)), mode='edge'))


def np_pad_reflect(x, w):
    return np.sum(w * np.pad(x, ((1, 1), (2, 2)), mode='reflect'))


def np_pad_symmetric(x, w):
    return np.sum(w * np.pad(x, 3, mode='symmetric'))


def np_pad_wrap(x, w):
    return np.sum(w * np.pad(x, ((0, 3), (4, 1)), mode='wrap'))


@pytest.mark.parametrize('function', [np_pad, np_pad_edge, np_pad_reflect,
                                      np_pad_symmetric, np_pad_wrap],
                         ids=lambda f: f.__name__)
def test_pad(function):
    check_grads(function, sample((2, 3)))


@pytest.mark.parametrize('function, values', [
    pytest.param(np_pad_value, 0.5, id='scalar'),
    pytest.param(np_pad_values_per_axis, np.array([[0.5, -1.0], [2.0, 1.5]]),
                 id='per-axis-and-side'),
    pytest.param(np_pad_values_per_axis, np.array([0.5, -1.0]),
                 id='per-side'),
    pytest.param(np_pad_values_per_axis, np.array([[0.5], [2.0]]),
                 id='per-axis'),
])
def test_pad_constant_values_get_gradients(function, values):
    check_grads(function, sample((2, 3)), values)


def np_pad_mean(x, w):
    return np.sum(w * np.pad(x, 1, mode='mean'))


def test_pad_rejects_other_modes():
    with pytest.raises(NotImplementedError, match="mode='mean'"):
        grad_of(np_pad_mean, sample((2, 3)))


# Selection and replacement ---------------------------------------------------

def np_select(x, y, w):
    return np.sum(w * np.select([x > 0.5, x < -0.5], [x, y]))


def np_select_default(x, y, default, w):
    return np.sum(w * np.select([x > 0.0, x > -1.0], (y, x), default))


def np_nan_to_num(x, w):
    return np.sum(w * np.nan_to_num(x, posinf=10.0, neginf=-10.0))


def np_nan_to_num_values(x, nan, posinf, neginf, w):
    return np.sum(w * np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf))


@pytest.mark.parametrize('y_shape', [
    pytest.param((2, 3), id='matrix'),
    pytest.param((3,), id='vector'),
    pytest.param((), id='float'),
])
def test_select(y_shape):
    check_grads(np_select, XS, sample(y_shape))
    check_grads(np_select_default, XS, sample(y_shape), sample((3,), seed=4))


NON_FINITE = np.array([[0.5, np.nan, -1.5], [np.inf, -np.inf, 2.0]])


def c_nan_to_num_values(z, nan, posinf, w):
    return np.sum(w * np.abs(np.nan_to_num(z, nan=nan, posinf=posinf)))


def test_nan_to_num_complex_replacements():
    z = np.array([1.0 + np.nan * 1j, np.inf - 2.0j, np.nan + np.inf * 1j])
    check_grads(c_nan_to_num_values, z, 0.5, 3.0)


def np_nan_to_num_in_place(x, w):
    return np.sum(w * np.nan_to_num(x * 1.0, copy=False))


def test_nan_to_num_rejects_copy_false():
    with pytest.raises(NotImplementedError, match='copy=False'):
        grad_of(np_nan_to_num_in_place, NON_FINITE)


def test_nan_to_num():
    check_grads(np_nan_to_num, NON_FINITE)
    check_grads(np_nan_to_num_values, NON_FINITE, 0.5, 3.0, -3.0)
    gradient = grad_of(np_nan_to_num, NON_FINITE)
    np.testing.assert_array_equal(gradient, [[1, 0, 1], [0, 0, 1]])


# Constructors: np.linspace ---------------------------------------------------

def np_linspace(start, stop, w):
    return np.sum(w * np.linspace(start, stop, 5))


def np_linspace_open(start, stop, w):
    return np.sum(w * np.linspace(start, stop, num=4, endpoint=False))


def np_linspace_last_axis(start, stop, w):
    return np.sum(w * np.linspace(start, stop, 3, axis=-1))


def np_linspace_one_sample(start, stop, w):
    return np.sum(w * np.linspace(start, stop, 1))


def np_linspace_step(start, stop, w):
    samples, step = np.linspace(start, stop, 6, retstep=True)
    return np.sum(w * samples) + 3.0 * step


def np_linspace_only_step(start, stop, w):
    return np.sum(w * np.linspace(start, stop, 4, retstep=True)[1])


def np_linspace_only_step_open(start, stop, w):
    _, step = np.linspace(start, stop, 3, endpoint=False, retstep=True)
    return np.sum(w * step ** 2)


# (function, shape of start, shape of stop)
LINSPACE_CASES = [
    (np_linspace, (), ()), (np_linspace, (3,), ()),
    (np_linspace, (2, 1), (3,)), (np_linspace_open, (), (2,)),
    (np_linspace_last_axis, (2,), (3, 2)), (np_linspace_one_sample, (), ()),
    (np_linspace_step, (), ()),
    # Only the step is read, so the samples have no cotangent.
    (np_linspace_only_step, (), ()), (np_linspace_only_step, (2, 1), (3,)),
    (np_linspace_only_step_open, (3,), ()),
]


@pytest.mark.parametrize(
    'function, start_shape, stop_shape', LINSPACE_CASES,
    ids=[f'{f.__name__}-{"x".join(map(str, a)) or "float"}-'
         f'{"x".join(map(str, b)) or "float"}' for f, a, b in LINSPACE_CASES])
def test_linspace(function, start_shape, stop_shape):
    check_grads(function, sample(start_shape, seed=1),
                sample(stop_shape, seed=2))


# Methods: clip ---------------------------------------------------------------

def method_clip(x, low, high, w):
    return np.sum(w * x.clip(low, high))


def method_clip_keywords(x, high, w):
    return np.sum(w * x.clip(max=high))


def test_method_clip():
    check_grads(method_clip, XS, -0.5, np.array([1.0, 0.5, 0.3]))
    check_grads(method_clip_keywords, XS, np.array([[1.0], [0.5]]))


# Reductions: ans = f(x, axis, keepdims=keepdims) -----------------------------

def np_prod(x, axis, keepdims, w):
    return np.sum(w * np.prod(x, axis=axis, keepdims=keepdims))


def np_var(x, axis, keepdims, w):
    return np.sum(w * np.var(x, axis=axis, keepdims=keepdims))


def np_var_ddof(x, axis, keepdims, w):
    return np.sum(w * np.var(x, axis, ddof=1, keepdims=keepdims))


def np_std(x, axis, keepdims, w):
    return np.sum(w * np.std(x, axis=axis, keepdims=keepdims))


def np_std_ddof(x, axis, keepdims, w):
    return np.sum(w * np.std(x, axis, ddof=1, keepdims=keepdims))


def np_ptp(x, axis, keepdims, w):
    return np.sum(w * np.ptp(x, axis=axis, keepdims=keepdims))


def np_nansum(x, axis, keepdims, w):
    return np.sum(w * np.nansum(x, axis=axis, keepdims=keepdims))


def np_nanmean(x, axis, keepdims, w):
    return np.sum(w * np.nanmean(x, axis=axis, keepdims=keepdims))


def np_average(x, axis, keepdims, w):
    return np.sum(w * np.average(x, axis=axis, keepdims=keepdims))


def method_prod(x, axis, keepdims, w):
    return np.sum(w * x.prod(axis=axis, keepdims=keepdims))


def method_var(x, axis, keepdims, w):
    return np.sum(w * x.var(axis=axis, keepdims=keepdims))


def method_std(x, axis, keepdims, w):
    return np.sum(w * x.std(axis=axis, ddof=1, keepdims=keepdims))


def np_median(x, axis, keepdims, w):
    return np.sum(w * np.median(x, axis=axis, keepdims=keepdims))


def np_quantile(x, axis, keepdims, w):
    return np.sum(w * np.quantile(x, 0.3, axis=axis, keepdims=keepdims))


# An array of levels puts its axes first in the result.
def np_quantile_levels(x, axis, keepdims, w):
    levels = np.array([[0.1, 0.55], [0.9, 1.0]])
    return np.sum(w * np.quantile(x, levels, axis, keepdims=keepdims))


def np_quantile_nearest(x, axis, keepdims, w):
    return np.sum(w * np.quantile(x, 0.4, axis, method='nearest',
                                  keepdims=keepdims))


def np_quantile_hazen(x, axis, keepdims, w):
    return np.sum(w * np.quantile(x, [0.25, 0.6], axis, method='hazen',
                                  keepdims=keepdims))


def np_percentile(x, axis, keepdims, w):
    return np.sum(w * np.percentile(x, 85.0, axis, keepdims=keepdims))


def np_percentile_midpoint(x, axis, keepdims, w):
    return np.sum(w * np.percentile(x, [20.0, 70.0], axis, method='midpoint',
                                    keepdims=keepdims))


def _sample_weights(x):
    """Return positive sample weights shaped like x, constant in x."""
    return np.reshape(np.arange(np.size(x)) % 3 + 0.5, np.shape(x))


def np_quantile_weights(x, axis, keepdims, w):
    return np.sum(w * np.quantile(x, [0.3, 0.7], axis,
                                  method='inverted_cdf', keepdims=keepdims,
                                  weights=_sample_weights(x)))


def np_percentile_weights(x, axis, keepdims, w):
    return np.sum(w * np.percentile(x, 45.0, axis, method='inverted_cdf',
                                    keepdims=keepdims,
                                    weights=_sample_weights(x)))


def np_nanquantile_weights(x, axis, keepdims, w):
    return np.sum(w * np.nanquantile(x, 0.6, axis, method='inverted_cdf',
                                     keepdims=keepdims,
                                     weights=_sample_weights(x)))


WEIGHTED_QUANTILES = [np_quantile_weights, np_percentile_weights,
                      np_nanquantile_weights]


@pytest.mark.parametrize('shape, axis, keepdims', REDUCTION_CASES)
@pytest.mark.parametrize('function', WEIGHTED_QUANTILES,
                         ids=lambda f: f.__name__)
def test_quantile_with_weights(function, shape, axis, keepdims):
    x = sample(shape)
    if not runtime._WEIGHTED_QUANTILES_CHECKED:
        # NumPy 2.2's own nanquantile raises IndexError for weights over
        # several axes, in the plain call too.
        with pytest.raises((adcompiler.AdCompilerError, IndexError)):
            weights = weights_for(function, (x, axis, keepdims))
            adcompiler.grad(function)(x, axis, keepdims, weights)
        return
    check_grads(function, x, axis, keepdims)
    weights = weights_for(function, (x, axis, keepdims))
    adcompiler.check_grads(function, modes=('forward',))(x, axis, keepdims,
                                                         weights)


def test_quantile_weights_get_zero_gradient():
    def weighted(x, weights):
        return np.sum(np.quantile(x, 0.5, axis=1, method='inverted_cdf',
                                  weights=weights) ** 2)

    x, weights = sample((2, 5)), sample((5,), 0.5, 1.5, seed=1)
    gradient = adcompiler.grad(weighted, wrt=1)(x, weights)
    np.testing.assert_array_equal(gradient, np.zeros(5))


QUANTILES = [np_median, np_quantile, np_quantile_levels, np_quantile_nearest,
             np_quantile_hazen, np_percentile, np_percentile_midpoint]

REDUCTIONS = [np_prod, np_var, np_var_ddof, np_std, np_std_ddof, np_ptp,
              np_nansum, np_nanmean, np_average, method_prod, method_var,
              method_std] + QUANTILES


@pytest.mark.parametrize('shape, axis, keepdims', REDUCTION_CASES)
@pytest.mark.parametrize('function', REDUCTIONS, ids=lambda f: f.__name__)
def test_reduction(function, shape, axis, keepdims):
    check_grads(function, sample(shape), axis, keepdims)


@pytest.mark.parametrize('function', [np_prod, np_var, np_std, np_ptp,
                                      np_nansum, np_nanmean, np_average,
                                      np_median, np_quantile_levels,
                                      np_percentile],
                         ids=lambda f: f.__name__)
def test_reduction_of_float(function):
    check_grads(function, 1.7, None, False)


# Zeros in the product: no division, so the gradient is exact.
ZEROS = np.array([[2.0, 0.0, 3.0, -1.0], [0.0, 0.0, 1.5, 2.0],
                  [1.0, -2.0, 3.0, 0.5]])


def test_prod_with_zeros():
    for axis in (None, 0, 1, (0, 1)):
        check_grads(np_prod, ZEROS, axis, False)
    gradient = grad_of(np_prod, ZEROS, 1, False)
    np.testing.assert_array_equal(gradient, [[0.0, -6.0, 0.0, 0.0],
                                             [0.0, 0.0, 0.0, 0.0],
                                             [-3.0, 1.5, -1.0, -6.0]])


def test_std_of_constant_is_zero():
    # 0.5 is exact in binary, so the mean is exact and the std exactly 0.
    gradient = grad_of(np_std, np.full((2, 3), 0.5), 1, False)
    np.testing.assert_array_equal(gradient, np.zeros((2, 3)))


def test_ptp_of_constant_is_zero():
    gradient = grad_of(np_ptp, np.full(4, 0.7), None, False)
    np.testing.assert_array_equal(gradient, np.zeros(4))


WITH_NANS = np.array([[0.5, np.nan, -1.5], [np.nan, 1.0, 2.0]])


@pytest.mark.parametrize('axis', [None, 0, 1])
@pytest.mark.parametrize('function', [np_nansum, np_nanmean],
                         ids=lambda f: f.__name__)
def test_nan_reductions_skip_nans(function, axis):
    check_grads(function, WITH_NANS, axis, False)
    assert not np.any(np.isnan(grad_of(function, WITH_NANS, axis, False)))


# NaN entries whose tangent is NaN too: the entries of x above 1 become NaN,
# and y ** 3 at y = NaN has the tangent 3 * NaN**2 * t, so a forward rule
# that multiplies that tangent by 0 instead of skipping it returns NaN.
def np_nansum_of_cube(x, axis, keepdims, w):
    y = np.where(x > 1.0, np.nan, x)
    return np.sum(w * np.nansum(y ** 3, axis=axis, keepdims=keepdims))


def np_nanmean_of_cube(x, axis, keepdims, w):
    y = np.where(x > 1.0, np.nan, x)
    return np.sum(w * np.nanmean(y ** 3, axis=axis, keepdims=keepdims))


def np_fmax_of_cubes(x, y, w):
    u = np.where(x > 1.0, np.nan, x)
    v = np.where(y < -1.0, np.nan, y)
    return np.sum(w * np.fmax(u ** 3, v ** 3))


def np_fmin_of_cubes(x, y, w):
    u = np.where(x > 1.0, np.nan, x)
    v = np.where(y < -1.0, np.nan, y)
    return np.sum(w * np.fmin(u ** 3, v ** 3))


NAN_REDUCTIONS_OF_CUBES = [np_nansum_of_cube, np_nanmean_of_cube]
NAN_EXTREMA_OF_CUBES = [np_fmax_of_cubes, np_fmin_of_cubes]

# Entries of x above 1, one or two to a row and a column.
ABOVE_ONE = np.array([[0.5, 1.7, -1.5], [1.2, -0.6, 0.8]])

# (x, y) where the NaNs (x above 1, y below -1) never meet, so that fmax and
# fmin never return NaN; the cases cover broadcasting of a row and of a
# scalar. Ties are left out: when only x moves, a tie gives x derivative 0
# (see balanced_eq), but central differences give half of it.
NAN_EXTREMA_CASES = [
    (np.array([0.5, 1.5, -1.5, 0.9]), np.array([-2.0, 0.4, -0.2, 0.2])),
    (np.array([[0.5, 1.3, -0.5], [1.4, -0.2, 0.6]]),
     np.array([0.3, -0.4, -1.6])),
    (np.array([[0.3, 1.5], [-0.8, 0.4]]), 0.7),
]


@pytest.mark.parametrize('axis', [None, 0, 1])
@pytest.mark.parametrize('function', NAN_REDUCTIONS_OF_CUBES,
                         ids=lambda f: f.__name__)
def test_nan_reductions_of_nan_results(function, axis):
    check_grads(function, ABOVE_ONE, axis, False)


@pytest.mark.parametrize('x, y', NAN_EXTREMA_CASES)
@pytest.mark.parametrize('function', NAN_EXTREMA_OF_CUBES,
                         ids=lambda f: f.__name__)
def test_nan_extrema_of_nan_results(function, x, y):
    check_grads(function, x, y)


def c_var(z, w):
    return np.sum(w * np.var(z, axis=0))


def c_std(z, w):
    return np.sum(w * np.std(z, axis=1, ddof=1))


def c_prod(z, w):
    return np.sum(w * np.real(np.prod(z, axis=0) * (1.0 - 2.0j)))


@pytest.mark.parametrize('function', [c_var, c_std, c_prod],
                         ids=lambda f: f.__name__)
def test_complex_reduction(function):
    check_complex_grads(function, complex_sample((3, 4)))


# Weighted averages -----------------------------------------------------------

def np_average_weights(x, weights, w):
    return np.sum(w * np.average(x, weights=weights))


def np_average_weights_axis(x, weights, w):
    return np.sum(w * np.average(x, axis=1, weights=weights))


def np_average_weights_tuple_axis(x, weights, w):
    return np.sum(w * np.average(x, axis=(0, 2), weights=weights,
                                 keepdims=True))


def np_average_row_weights(x, weights, w):
    return np.sum(w * np.average(x, -1, weights))


# (function, shape of x, shape of weights)
AVERAGE_CASES = [
    (np_average_weights, (3,), (3,)),
    (np_average_weights, (2, 3), (2, 3)),
    (np_average_weights_axis, (2, 3), (2, 3)),
    (np_average_weights_axis, (2, 3), (3,)),
    (np_average_weights_tuple_axis, (2, 3, 4), (2, 3, 4)),
    (np_average_row_weights, (2, 3, 4), (4,)),
]


@pytest.mark.parametrize(
    'function, x_shape, weights_shape', AVERAGE_CASES,
    ids=[f'{f.__name__}-{"x".join(map(str, a))}-{"x".join(map(str, b))}'
         for f, a, b in AVERAGE_CASES])
def test_average_weights(function, x_shape, weights_shape):
    check_grads(function, sample(x_shape, seed=1),
                sample(weights_shape, 0.5, 2.0, seed=2))


def np_average_returned(x, w):
    value, total = np.average(x, weights=x * 0.0 + 1.0, returned=True)
    return w * value


def test_average_rejects_returned():
    with pytest.raises(NotImplementedError, match='returned=True'):
        grad_of(np_average_returned, sample((3,)))


# Scans and differences -------------------------------------------------------

def np_cumsum(x, axis, w):
    return np.sum(w * np.cumsum(x, axis=axis))


def np_cumprod(x, axis, w):
    return np.sum(w * np.cumprod(x, axis=axis))


def method_cumsum(x, axis, w):
    return np.sum(w * x.cumsum(axis))


def method_cumprod(x, axis, w):
    return np.sum(w * x.cumprod(axis=axis))


def np_diff(x, axis, w):
    return np.sum(w * np.diff(x, axis=axis))


def np_diff_twice(x, axis, w):
    return np.sum(w * np.diff(x, 2, axis))


SCANS = [np_cumsum, np_cumprod, method_cumsum, method_cumprod, np_diff,
         np_diff_twice]

# (shape of x, axis)
SCAN_CASES = [
    pytest.param((4,), -1, id='vector'),
    pytest.param((3, 4), 0, id='matrix-axis0'),
    pytest.param((3, 4), 1, id='matrix-axis1'),
    pytest.param((2, 3, 4), -2, id='cube-axis-2'),
]


@pytest.mark.parametrize('shape, axis', SCAN_CASES)
@pytest.mark.parametrize('function', SCANS, ids=lambda f: f.__name__)
def test_scan(function, shape, axis):
    check_grads(function, sample(shape), axis)


@pytest.mark.parametrize('function', [np_cumsum, np_cumprod],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('shape', [(), (4,), (3, 4)], ids=str)
def test_scan_flattened(function, shape):
    check_grads(function, sample(shape), None)


def test_method_scan_flattened():
    check_grads(method_cumsum, sample((3, 4)), None)
    check_grads(method_cumprod, sample((3, 4)), None)


def cumprod_by_loops(x, g):
    """d/dx of sum(g * cumprod(x)) by the definition, for one line."""
    result = np.zeros_like(x)
    for i in range(len(x)):
        for k in range(i, len(x)):
            others = np.delete(x[:k + 1], i)
            result[i] += g[k] * np.prod(others)
    return result


@pytest.mark.parametrize('x', [
    pytest.param([2.0, 0.0, 3.0, 0.0, 5.0], id='two-zeros'),
    pytest.param([0.0, 1.5, -2.0], id='zero-first'),
    pytest.param([1.5, -2.0, 0.0], id='zero-last'),
    pytest.param([0.0, 0.0, 0.0], id='all-zero'),
    pytest.param([1.5, -0.5, 2.0], id='no-zero'),
])
def test_cumprod_with_zeros(x):
    x = np.array(x)
    gradient = adcompiler.grad(np_cumprod)(x, 0, np.arange(1.0, 1.0 + len(x)))
    np.testing.assert_allclose(
        gradient, cumprod_by_loops(x, np.arange(1.0, 1.0 + len(x))),
        rtol=1e-14, atol=0)
    check_grads(np_cumprod, x, 0)


def test_cumprod_with_zeros_in_some_lines():
    check_grads(np_cumprod, ZEROS, 1)
    check_grads(np_cumprod, ZEROS, 0)
    check_grads(np_cumprod, ZEROS, None)


# Reductions and scans that skip NaNs --------------------------------------
# ans = f(x, axis, keepdims=keepdims) or f(x, axis). Without NaNs they are
# checked on the table of the other reductions; with NaNs on matrices whose
# NaNs fall in different rows and columns.

def np_nanmax(x, axis, keepdims, w):
    return np.sum(w * np.nanmax(x, axis=axis, keepdims=keepdims))


def np_nanmin(x, axis, keepdims, w):
    return np.sum(w * np.nanmin(x, axis=axis, keepdims=keepdims))


def np_nanprod(x, axis, keepdims, w):
    return np.sum(w * np.nanprod(x, axis=axis, keepdims=keepdims))


def np_nanvar(x, axis, keepdims, w):
    return np.sum(w * np.nanvar(x, axis=axis, keepdims=keepdims))


def np_nanvar_ddof(x, axis, keepdims, w):
    return np.sum(w * np.nanvar(x, axis, ddof=1, keepdims=keepdims))


def np_nanstd(x, axis, keepdims, w):
    return np.sum(w * np.nanstd(x, axis=axis, keepdims=keepdims))


def np_nanstd_ddof(x, axis, keepdims, w):
    return np.sum(w * np.nanstd(x, axis, ddof=1, keepdims=keepdims))


def np_nanmedian(x, axis, keepdims, w):
    return np.sum(w * np.nanmedian(x, axis=axis, keepdims=keepdims))


def np_nanquantile(x, axis, keepdims, w):
    return np.sum(w * np.nanquantile(x, 0.3, axis=axis, keepdims=keepdims))


def np_nanpercentile(x, axis, keepdims, w):
    return np.sum(w * np.nanpercentile(x, 85.0, axis, keepdims=keepdims))


def np_nanquantile_levels(x, axis, keepdims, w):
    return np.sum(w * np.nanquantile(x, [0.2, 0.75], axis,
                                     keepdims=keepdims))


def np_nanpercentile_weibull(x, axis, keepdims, w):
    return np.sum(w * np.nanpercentile(x, 40.0, axis, method='weibull',
                                       keepdims=keepdims))


NAN_SKIPPING_REDUCTIONS = [
    np_nanmax, np_nanmin, np_nanprod, np_nanvar, np_nanvar_ddof, np_nanstd,
    np_nanstd_ddof, np_nanmedian, np_nanquantile, np_nanpercentile,
    np_nanquantile_levels, np_nanpercentile_weibull]


def np_nancumsum(x, axis, w):
    return np.sum(w * np.nancumsum(x, axis=axis))


def np_nancumprod(x, axis, w):
    return np.sum(w * np.nancumprod(x, axis))


NAN_SKIPPING_SCANS = [np_nancumsum, np_nancumprod]

# Each row and each column of a 3 x 4 matrix keeps at least two numbers.
SOME_NANS = np.array([[0.5, np.nan, -1.5, 0.7],
                      [np.nan, 1.0, 2.0, -0.3],
                      [1.2, -0.4, np.nan, 1.4]])

# The second row and the third column have no number at all.
ALL_NAN_SLICES = np.array([[0.5, -0.8, np.nan, 0.7],
                           [np.nan, np.nan, np.nan, np.nan],
                           [1.2, -0.4, np.nan, 1.4]])


@pytest.mark.parametrize('shape, axis, keepdims', REDUCTION_CASES)
@pytest.mark.parametrize('function', NAN_SKIPPING_REDUCTIONS,
                         ids=lambda f: f.__name__)
def test_nan_skipping_reduction(function, shape, axis, keepdims):
    check_grads(function, sample(shape), axis, keepdims)


# ddof=1 leaves no degree of freedom in one number, so those rows are left out.
@pytest.mark.parametrize('function', [
    f for f in NAN_SKIPPING_REDUCTIONS
    if f not in (np_nanvar_ddof, np_nanstd_ddof)], ids=lambda f: f.__name__)
def test_nan_skipping_reduction_of_float(function):
    check_grads(function, 1.7, None, False)


@pytest.mark.parametrize('shape, axis', SCAN_CASES)
@pytest.mark.parametrize('function', NAN_SKIPPING_SCANS,
                         ids=lambda f: f.__name__)
def test_nan_skipping_scan(function, shape, axis):
    check_grads(function, sample(shape), axis)


@pytest.mark.parametrize('shape', [(), (4,), (3, 4)], ids=str)
@pytest.mark.parametrize('function', NAN_SKIPPING_SCANS,
                         ids=lambda f: f.__name__)
def test_nan_skipping_scan_flattened(function, shape):
    check_grads(function, sample(shape), None)


@pytest.mark.parametrize('axis', [None, 0, 1, -1, (0, 1)], ids=str)
@pytest.mark.parametrize('function', NAN_SKIPPING_REDUCTIONS,
                         ids=lambda f: f.__name__)
def test_nan_skipping_reduction_with_nans(function, axis):
    for keepdims in (False, True):
        check_grads(function, SOME_NANS, axis, keepdims)
        gradient = grad_of(function, SOME_NANS, axis, keepdims)
        assert np.all(gradient[np.isnan(SOME_NANS)] == 0.0)
        assert np.all(np.isfinite(gradient))


@pytest.mark.parametrize('axis', [None, 0, 1, -1], ids=str)
@pytest.mark.parametrize('function', NAN_SKIPPING_SCANS,
                         ids=lambda f: f.__name__)
def test_nan_skipping_scan_with_nans(function, axis):
    check_grads(function, SOME_NANS, axis)
    gradient = grad_of(function, SOME_NANS, axis)
    assert np.all(gradient[np.isnan(SOME_NANS)] == 0.0)
    assert np.all(np.isfinite(gradient))


# An all-NaN slice reads no entry: its result is NaN (NumPy warns) and its
# entries get derivative 0, as np.nanmean's do. A NaN result would make the
# weighted sum NaN, so np.nansum adds the results up.
def nansum_of_nanmax(x, axis):
    return np.nansum(np.nanmax(x, axis=axis))


def nansum_of_nanmin(x, axis):
    return np.nansum(np.nanmin(x, axis=axis) * 2.0)


def nansum_of_nanvar(x, axis):
    return np.nansum(np.nanvar(x, axis=axis))


def nansum_of_nanstd(x, axis):
    return np.nansum(np.nanstd(x, axis, ddof=1))


# A slice with count <= ddof non-NaN entries is NaN, as an all-NaN slice.
def nansum_of_nanvar_ddof(x, axis):
    return np.nansum(np.nanvar(x, axis=axis, ddof=2))


def nansum_of_nanstd_ddof(x, axis):
    return np.nansum(np.nanstd(x, axis, ddof=3))


def nansum_of_nanmedian(x, axis):
    return np.nansum(np.nanmedian(x, axis=axis))


def nansum_of_nanquantile(x, axis):
    return np.nansum(np.nanquantile(x, 0.8, axis=axis))


def nansum_of_nanmean(x, axis):
    return np.nansum(np.nanmean(x, axis=axis))


NAN_RESULTS_SKIPPED = [
    nansum_of_nanmax, nansum_of_nanmin, nansum_of_nanvar, nansum_of_nanstd,
    nansum_of_nanvar_ddof, nansum_of_nanstd_ddof, nansum_of_nanmedian,
    nansum_of_nanquantile, nansum_of_nanmean]


@pytest.mark.parametrize('axis', [0, 1])
@pytest.mark.parametrize('function', NAN_RESULTS_SKIPPED,
                         ids=lambda f: f.__name__)
def test_all_nan_slice_has_zero_derivative(function, axis):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        gradient = adcompiler.grad(function)(ALL_NAN_SLICES, axis)
        expected = numerical_gradient(function, (ALL_NAN_SLICES, axis), 0)
    assert_gradient_close(gradient, expected)
    assert np.all(gradient[np.isnan(ALL_NAN_SLICES)] == 0.0)


def nanvar_of_columns(x):
    return np.nanvar(x, axis=0, ddof=1)


def test_nanvar_small_count_jacobian():
    # Column 1 has one non-NaN entry, so with ddof=1 its result is NaN; the
    # row of column 0 has no NaN in either mode.
    x = np.array([[1.3, np.nan], [0.5, np.nan], [0.4, 3.2]])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        reverse = adcompiler.jacobian(nanvar_of_columns, mode='reverse')(x)
        forward = adcompiler.jacobian(nanvar_of_columns, mode='forward')(x)
        expected = numerical_gradient(lambda x: nanvar_of_columns(x)[0],
                                      (x,), 0)
    np.testing.assert_array_equal(reverse, forward)
    np.testing.assert_array_equal(reverse[1], np.zeros((3, 2)))
    np.testing.assert_allclose(reverse[0], expected, atol=1e-6)


# nanprod and nancumprod read an all-NaN slice as empty: 1, a constant.
@pytest.mark.parametrize('axis', [0, 1])
def test_all_nan_slice_of_products(axis):
    for keepdims in (False, True):
        check_grads(np_nanprod, ALL_NAN_SLICES, axis, keepdims)
    check_grads(np_nancumprod, ALL_NAN_SLICES, axis)
    check_grads(np_nancumsum, ALL_NAN_SLICES, axis)


# The NaNs come from x ** 3 at NaN entries, whose partials are NaN too.
def np_nanmax_of_cube(x, axis, keepdims, w):
    y = np.where(x > 1.0, np.nan, x)
    return np.sum(w * np.nanmax(y ** 3, axis=axis, keepdims=keepdims))


def np_nanstd_of_cube(x, axis, keepdims, w):
    y = np.where(x > 1.0, np.nan, x)
    return np.sum(w * np.nanstd(y ** 3, axis=axis, keepdims=keepdims))


def np_nanmedian_of_cube(x, axis, keepdims, w):
    y = np.where(x > 1.0, np.nan, x)
    return np.sum(w * np.nanmedian(y ** 3, axis=axis, keepdims=keepdims))


def np_nanprod_of_cube(x, axis, keepdims, w):
    y = np.where(x > 1.0, np.nan, x)
    return np.sum(w * np.nanprod(y ** 3, axis=axis, keepdims=keepdims))


NAN_SKIPPING_OF_CUBES = [np_nanmax_of_cube, np_nanstd_of_cube,
                         np_nanmedian_of_cube, np_nanprod_of_cube]


@pytest.mark.parametrize('axis', [None, 0, 1])
@pytest.mark.parametrize('function', NAN_SKIPPING_OF_CUBES,
                         ids=lambda f: f.__name__)
def test_nan_skipping_reductions_of_nan_results(function, axis):
    check_grads(function, ABOVE_ONE, axis, False)


# NaN inputs: the entries that the reductions skip get 0 in reverse mode
# too, as in forward mode, although the partial derivatives of the
# elementwise operations before them are NaN there.
def nansum_of_cube(x):
    return np.nansum(x ** 3)


def nanmean_of_product(x):
    return np.sum(np.nanmean(np.sin(x) * x, axis=0))


def nanmax_of_quotient(x):
    return np.sum(np.nanmax(np.exp(x) / (x + 3.0), axis=1))


def nanstd_of_power(x):
    return np.nanstd(np.abs(x) ** 1.5, ddof=1)


def nancumsum_of_log(x):
    return np.sum(np.nancumsum(np.log(x + 3.0) * 2.0, axis=1))


def nanmedian_of_broadcast(x):
    return np.sum(np.nanmedian(x * np.array([[1.5], [-2.0]]) + x ** 2,
                               axis=1))


NAN_INPUT_FUNCTIONS = [nansum_of_cube, nanmean_of_product, nanmax_of_quotient,
                       nanstd_of_power, nancumsum_of_log,
                       nanmedian_of_broadcast]

NAN_INPUT = np.array([[0.5, np.nan, -1.5, 0.8], [np.nan, 1.2, 0.3, -0.7]])


@pytest.mark.parametrize('function', NAN_INPUT_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_nan_inputs_get_zero_gradient(function):
    gradient = adcompiler.grad(function)(NAN_INPUT)
    assert np.all(gradient[np.isnan(NAN_INPUT)] == 0.0)
    assert np.all(np.isfinite(gradient))
    # A NaN entry stays NaN when it moves, so its difference is 0 too.
    assert_gradient_close(gradient,
                          numerical_gradient(function, (NAN_INPUT,), 0))


def nan_input_read_twice(x):
    return np.sum(x ** 2) + np.nansum(x ** 2)


# A NaN that another use reads makes the result NaN, and its gradient stays
# NaN: only values that every use skips get 0.
def test_nan_input_read_elsewhere_stays_nan():
    gradient = adcompiler.grad(nan_input_read_twice)(NAN_INPUT)
    assert np.all(np.isnan(gradient[np.isnan(NAN_INPUT)]))
    assert np.all(np.isfinite(gradient[~np.isnan(NAN_INPUT)]))


TIES_AND_NANS = np.array([[0.5, 2.0, 2.0, np.nan], [1.0, 1.0, np.nan, -1.0],
                 [3.0, 3.0, 3.0, 3.0]])


# Tied extrema share the derivative evenly, as for np.max; tied values
# around a median share theirs, as for np.sort.
@pytest.mark.parametrize('function, expected', [
    pytest.param(np_nanmax, [[0.0, 0.5, 0.5, 0.0], [0.5, 0.5, 0.0, 0.0],
                             [0.25, 0.25, 0.25, 0.25]], id='nanmax'),
    pytest.param(np_nanmin, [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0],
                             [0.25, 0.25, 0.25, 0.25]], id='nanmin'),
    pytest.param(np_nanmedian, [[0.0, 0.5, 0.5, 0.0], [0.5, 0.5, 0.0, 0.0],
                                [0.25, 0.25, 0.25, 0.25]], id='nanmedian'),
])
def test_nan_skipping_ties_split_evenly(function, expected):
    gradient = grad_of(function, TIES_AND_NANS, 1, False)
    np.testing.assert_allclose(gradient, expected, rtol=1e-15, atol=0)


def nanquantile_of_level(x, q):
    return np.nanquantile(x, q)


def quantile_of_level(x, q):
    return np.quantile(x, q, method='hazen')


@pytest.mark.parametrize('function', [nanquantile_of_level,
                                      quantile_of_level],
                         ids=lambda f: f.__name__)
def test_quantile_rejects_level_derivative(function):
    with pytest.raises(adcompiler.UnsupportedOptionError, match='level q'):
        adcompiler.grad(function, wrt=(0, 1))(np.array([0.5, 2.0, -1.0]),
                                              0.3)


# Ties around each level share the weights as for np.sort. The position
# 0.375 * 3 = 1.125 falls between two tied values in the first row, and
# between the second of two tied values and 4.0 in the second.
@pytest.mark.parametrize('method, expected', [
    pytest.param('linear', [[0.0, 0.5, 0.5, 0.0],
                            [0.4375, 0.4375, 0.125, 0.0]], id='linear'),
    pytest.param('lower', [[0.0, 0.5, 0.5, 0.0], [0.5, 0.5, 0.0, 0.0]],
                 id='lower'),
    pytest.param('higher', [[0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 1.0, 0.0]],
                 id='higher'),
])
def test_quantile_ties_split_evenly(method, expected):
    x = np.array([[1.0, 2.0, 2.0, 3.0], [0.5, 0.5, 4.0, 6.0]])

    def quantile_sum(x):
        return np.sum(np.quantile(x, 0.375, axis=1, method=method))

    gradient = adcompiler.grad(quantile_sum)(x)
    np.testing.assert_allclose(gradient, expected, rtol=1e-15, atol=0)


# np.quantile of a slice with a NaN is NaN, and so is its derivative.
# np.nanquantile skips the NaN.
def test_quantile_of_nan_slice_has_nan_gradient():
    x = np.array([[0.5, np.nan, 2.0], [1.0, 3.0, -1.0]])
    gradient = adcompiler.grad(lambda x: np.sum(np.median(x, axis=1)))(x)
    assert np.all(np.isnan(gradient[0]))
    np.testing.assert_array_equal(gradient[1], [1.0, 0.0, 0.0])


def test_quantile_keeps_float32():
    x = np.array([[0.5, 2.0, 1.5], [1.0, 3.0, -1.0]], dtype=np.float32)
    gradient = adcompiler.grad(lambda x: np.sum(np.quantile(x, [0.3, 0.9])))(x)
    assert gradient.dtype == np.float32
    expected = numerical_gradient(
        lambda x: np.sum(np.quantile(x, [0.3, 0.9])), (x.astype(float),), 0)
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-5)


def nanargmax_entry(x):
    return x[np.nanargmax(x)] + x[np.nanargmin(x)]


def test_nanargmax_selects_without_derivative():
    x = np.array([0.5, np.nan, 2.0, -1.0])
    np.testing.assert_array_equal(adcompiler.grad(nanargmax_entry)(x),
                                  [0.0, 0.0, 1.0, 1.0])


def nanmedian_overwriting(x):
    return np.nanmedian(x, overwrite_input=True)


def test_nanmedian_rejects_overwrite_input():
    with pytest.raises(adcompiler.AdCompilerError, match='overwrite_input'):
        adcompiler.grad(nanmedian_overwriting)(np.array([1.0, 3.0, 2.0]))


# Products --------------------------------------------------------------------

def np_tensordot(x, y, w):
    return np.sum(w * np.tensordot(x, y))


def np_tensordot_one(x, y, w):
    return np.sum(w * np.tensordot(x, y, 1))


def np_tensordot_zero(x, y, w):
    return np.sum(w * np.tensordot(x, y, axes=0))


def np_tensordot_pairs(x, y, w):
    return np.sum(w * np.tensordot(x, y, axes=([2, 0], [0, 1])))


def np_tensordot_single_pair(x, y, w):
    return np.sum(w * np.tensordot(x, y, axes=(0, -1)))


def np_inner(x, y, w):
    return np.sum(w * np.inner(x, y))


def np_outer(x, y, w):
    return np.sum(w * np.outer(x, y))


def np_vdot(x, y, w):
    return w * np.vdot(x, y)


def np_kron(x, y, w):
    return np.sum(w * np.kron(x, y))


def np_cross(x, y, w):
    return np.sum(w * np.cross(x, y))


def np_cross_axes(x, y, w):
    return np.sum(w * np.cross(x, y, axisa=0, axisb=1, axisc=0))


def np_cross_axis(x, y, w):
    return np.sum(w * np.cross(x, y, axis=0))


# (function, shape of x, shape of y)
PRODUCT_CASES = [
    (np_tensordot, (2, 3, 4), (3, 4, 2)), (np_tensordot, (2, 3), (2, 3)),
    (np_tensordot_one, (2, 3), (3, 4)), (np_tensordot_one, (3,), (3, 2)),
    (np_tensordot_zero, (2,), (3,)), (np_tensordot_zero, (), (2, 3)),
    (np_tensordot_pairs, (3, 2, 4), (4, 3, 2)),
    (np_tensordot_single_pair, (3, 2), (2, 4, 3)),
    (np_inner, (3,), (3,)), (np_inner, (2, 3), (3,)),
    (np_inner, (2, 3), (4, 3)), (np_inner, (2, 2, 3), (4, 3)),
    (np_inner, (), (2, 3)),
    (np_outer, (3,), (2,)), (np_outer, (2, 3), (2,)), (np_outer, (), (3,)),
    (np_vdot, (3,), (3,)), (np_vdot, (2, 3), (3, 2)),
    (np_kron, (3,), (2,)), (np_kron, (2, 3), (2, 2)), (np_kron, (2,), (2, 3)),
    (np_kron, (2, 2, 1), (3, 2)),
    (np_cross, (3,), (3,)), (np_cross, (4, 3), (3,)),
    (np_cross_axes, (3, 4), (4, 3)), (np_cross_axis, (3, 2), (3, 2)),
]


@pytest.mark.parametrize(
    'function, x_shape, y_shape', PRODUCT_CASES,
    ids=[f'{f.__name__}-{"x".join(map(str, a)) or "float"}-'
         f'{"x".join(map(str, b)) or "float"}' for f, a, b in PRODUCT_CASES])
def test_product(function, x_shape, y_shape):
    check_grads(function, sample(x_shape, seed=1), sample(y_shape, seed=2))


def _cross_takes_2_vectors():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            np.cross(np.ones(2), np.ones(3))
    except ValueError:
        return False
    return True


# NumPy 2.2.6 and 2.4.6 deprecate 2-vectors in np.cross but still compute with
# them; NumPy 2.5.5 raises ValueError for them.
@pytest.mark.skipif(not _cross_takes_2_vectors(),
                    reason=f'NumPy {np.__version__} rejects 2-vectors in np.cross')
@pytest.mark.filterwarnings('ignore:Arrays of 2-dimensional vectors')
@pytest.mark.parametrize('x_shape, y_shape', [
    pytest.param((2,), (3,), id='2-3'),
    pytest.param((4, 3), (4, 2), id='4x3-4x2'),
    pytest.param((4, 2), (2,), id='4x2-2'),
])
def test_cross_with_2_vectors(x_shape, y_shape):
    check_grads(np_cross, sample(x_shape, seed=1), sample(y_shape, seed=2))


def c_vdot(z, y, w):
    return w * np.real(np.vdot(z, y) * (0.5 + 1.0j))


def c_vdot_second(y, z, w):
    return w * np.imag(np.vdot(z, y))


def c_dot_real_complex(x, w):
    return np.sum(w * np.abs(np.dot(x, np.array([1.0 + 2.0j, -1.0j, 0.5]))))


def c_einsum(z, w):
    return np.sum(w * np.abs(np.einsum('ij,jk->ik', z,
                                       np.array([[1.0j], [2.0], [-1.0]]))))


def test_complex_products():
    check_complex_grads(c_vdot, complex_sample((3,)),
                        complex_sample((3,), seed=1))
    check_complex_grads(c_vdot_second, complex_sample((2, 2)),
                        complex_sample((2, 2), seed=1))
    check_complex_grads(c_einsum, complex_sample((2, 3)))


def test_dot_real_complex_gradient_is_real():
    gradient = check_grads(c_dot_real_complex, sample((2, 3)))[0]
    assert not np.iscomplexobj(gradient)


# Einstein summation ----------------------------------------------------------

def np_einsum_matmul(x, y, w):
    return np.sum(w * np.einsum('ij,jk->ik', x, y))


def np_einsum_implicit(x, y, w):
    return np.sum(w * np.einsum('ij,jk', x, y))


def np_einsum_implicit_transpose(x, y, w):
    return np.sum(w * np.einsum('ba', x) * np.sum(y))


def np_einsum_trace(x, y, w):
    return w * np.einsum('ii', x) * np.einsum('i->', y)


def np_einsum_diagonal(x, y, w):
    return np.sum(w * np.einsum('ii->i', x) * y)


def np_einsum_batch(x, y, w):
    return np.sum(w * np.einsum('bij,bjk->bik', x, y))


def np_einsum_ellipsis(x, y, w):
    return np.sum(w * np.einsum('...ij,...j->...i', x, y))


def np_einsum_ellipsis_implicit(x, y, w):
    return np.sum(w * np.einsum('i...,i', x, y))


def np_einsum_broadcast_dot(x, y, w):
    return np.sum(w * np.einsum('...i,...i->...', x, y))


def np_einsum_summed_letter(x, y, w):
    return np.sum(w * np.einsum('ij,k->i', x, y))


def np_einsum_outer(x, y, w):
    return np.sum(w * np.einsum('i,j->ij', x, y))


def np_einsum_three(x, y, w):
    return np.sum(w * np.einsum('ij,jk,k->i', x, y, y[0]))


def np_einsum_optimized(x, y, w):
    return np.sum(w * np.einsum('ij,jk,kl->il', x, y, y.T, optimize=True))


def np_einsum_repeated_in_output_operand(x, y, w):
    return np.sum(w * np.einsum('iij->ij', x) * y)


def np_einsum_sublists(x, y, w):
    return np.sum(w * np.einsum(x, [0, 1], y, [1, 2], [0, 2]))


def np_einsum_sublists_implicit(x, y, w):
    return np.sum(w * np.einsum(x, [1, 0], y, [1]))


def np_einsum_sublists_ellipsis(x, y, w):
    return np.sum(w * np.einsum(x, [Ellipsis, 0, 1], y, [1], [Ellipsis, 0]))


def np_einsum_sublists_three(x, y, w):
    return np.sum(w * np.einsum(x, [26, 1], y, [1, 2], y[0], [2], [26]))


# (function, shape of x, shape of y)
EINSUM_CASES = [
    (np_einsum_matmul, (2, 3), (3, 4)),
    (np_einsum_implicit, (2, 3), (3, 4)),
    (np_einsum_implicit_transpose, (2, 3), (2,)),
    (np_einsum_trace, (3, 3), (2,)),
    (np_einsum_diagonal, (3, 3), (3,)),
    (np_einsum_batch, (2, 2, 3), (2, 3, 2)),
    (np_einsum_ellipsis, (2, 4, 3), (3,)),
    (np_einsum_ellipsis, (4, 3), (2, 3)),
    (np_einsum_ellipsis, (1, 4, 3), (2, 3)),
    (np_einsum_ellipsis_implicit, (3, 2, 4), (3,)),
    # A size-1 axis broadcasts against size 0 as against any other size.
    (np_einsum_broadcast_dot, (0, 4), (1, 4)),
    (np_einsum_broadcast_dot, (1, 4), (0, 4)),
    (np_einsum_broadcast_dot, (2, 1, 4), (3, 4)),
    (np_einsum_summed_letter, (2, 3), (4,)),
    (np_einsum_outer, (2,), (3,)),
    (np_einsum_three, (2, 3), (3, 4)),
    (np_einsum_optimized, (2, 3), (3, 4)),
    (np_einsum_repeated_in_output_operand, (3, 3, 2), (3, 2)),
    (np_einsum_sublists, (2, 3), (3, 4)),
    (np_einsum_sublists_implicit, (3, 2), (3,)),
    (np_einsum_sublists_ellipsis, (2, 4, 3), (3,)),
    (np_einsum_sublists_three, (2, 3), (3, 4)),
]


@pytest.mark.parametrize(
    'function, x_shape, y_shape', EINSUM_CASES,
    ids=[f'{f.__name__}-{"x".join(map(str, a))}-{"x".join(map(str, b))}'
         for f, a, b in EINSUM_CASES])
def test_einsum(function, x_shape, y_shape):
    check_grads(function, sample(x_shape, seed=1), sample(y_shape, seed=2))


def np_einsum_same_operand(x, w):
    return w * np.einsum('i,i', x, x)


def test_einsum_same_operand_twice():
    check_grads(np_einsum_same_operand, sample((3,)))


def np_einsum_seven(x, w):
    return w * np.einsum('i,i,i,i,i,i,i', x, x, x, x, x, x, x)


def test_einsum_rejects_seven_operands():
    with pytest.raises(adcompiler.AdCompilerError, match='einsum'):
        grad_of(np_einsum_seven, sample((2,)))


# Sorting ---------------------------------------------------------------------

def np_sort(x, axis, w):
    return np.sum(w * np.sort(x, axis))


def np_sort_stable(x, axis, w):
    return np.sum(w * np.sort(x, axis=axis, kind='stable'))


def np_partition(x, axis, w):
    return np.sum(w * np.partition(x, 1, axis=axis))


def np_partition_kths(x, axis, w):
    return np.sum(w * np.partition(x, (0, 2), axis))


SORTS = [np_sort, np_sort_stable, np_partition, np_partition_kths]


@pytest.mark.parametrize('shape, axis', [
    pytest.param((4,), -1, id='vector'),
    pytest.param((3, 4), 0, id='matrix-axis0'),
    pytest.param((3, 4), -1, id='matrix-axis-1'),
    pytest.param((2, 3, 4), 1, id='cube-axis1'),
    pytest.param((3, 4), None, id='matrix-flat'),
])
@pytest.mark.parametrize('function', SORTS, ids=lambda f: f.__name__)
def test_sort(function, shape, axis):
    check_grads(function, sample(shape), axis)


# Pairs of tied values, where central differences see the mean.
TIES = np.array([[3.0, 1.0, 3.0, 2.0], [0.5, 0.25, 0.5, -1.0],
                 [2.0, -1.0, 0.0, -1.0]])


def _partition_sorts_near_ties(kth):
    """Return whether np.partition(x, kth) sorts x at the points that
    central differences read around TIES. Where it does not (NumPy 1.x
    leaves some tied pairs in another order), the differences do not see
    the mean over a tie."""
    for axis in (-1, 0):
        for index in np.ndindex(TIES.shape):
            for step in (1e-6, -1e-6):
                x = TIES.copy()
                x[index] += step
                if not np.array_equal(np.partition(x, kth, axis),
                                      np.sort(x, axis)):
                    return False
    return True


def _tie_case(function, kth):
    return pytest.param(function, marks=pytest.mark.skipif(
        not _partition_sorts_near_ties(kth),
        reason=f'NumPy {np.__version__} partitions tied pairs near TIES '
               'out of sorted order, so differences miss the mean'))


TIE_SORTS = [np_sort, np_sort_stable, _tie_case(np_partition, 1),
             _tie_case(np_partition_kths, (0, 2))]


# A tie is a kink: the gradient is the mean over the tied positions.
@pytest.mark.parametrize('function', TIE_SORTS, ids=lambda f: f.__name__)
def test_sort_tied_pairs_share_the_mean(function):
    check_grads(function, TIES, -1)
    check_grads(function, TIES, 0)


def last_of_sorted(x, w):
    return w * np.sort(x)[-1]


def middle_of_partitioned(x, w):
    return np.sum(w * np.partition(x, 2)[1:3])


@pytest.mark.parametrize('function, x, expected', [
    pytest.param(last_of_sorted, [3.0, 1.0, 3.0], [0.5, 0.0, 0.5],
                 id='sort-pair'),
    pytest.param(last_of_sorted, [2.0, 2.0, 1.0, 2.0], [1 / 3, 1 / 3, 0.0,
                                                        1 / 3],
                 id='sort-three'),
    pytest.param(middle_of_partitioned, [1.0, 1.0, 1.0, 0.0],
                 [2 / 3, 2 / 3, 2 / 3, 0.0], id='partition-three'),
])
def test_sort_ties_split_evenly(function, x, expected):
    np.testing.assert_allclose(grad_of(function, np.array(x)), expected,
                               rtol=1e-15)


# Random draws: pathwise derivatives for a fixed seed -------------------------

def random_normal(loc, scale, w):
    np.random.seed(0)
    return np.sum(w * np.random.normal(loc, scale, size=(2, 3)))


def random_laplace(loc, scale, w):
    np.random.seed(1)
    return np.sum(w * np.random.laplace(loc, scale, (2, 3)))


def random_logistic(loc, scale, w):
    np.random.seed(2)
    return np.sum(w * np.random.logistic(loc=loc, scale=scale, size=(2, 3)))


def random_gumbel(loc, scale, w):
    np.random.seed(3)
    return np.sum(w * np.random.gumbel(loc, scale, size=(2, 3)))


def random_uniform(low, high, w):
    np.random.seed(4)
    return np.sum(w * np.random.uniform(low, high, (2, 3)))


def random_exponential(scale, unused, w):
    np.random.seed(5)
    return np.sum(w * np.random.exponential(scale, (2, 3)) + 0.0 * unused)


def random_without_parameters(x, w):
    np.random.seed(6)
    state = np.random.get_state()
    np.random.set_state(state)
    noise = (np.random.rand(3) + np.random.randn(3) + np.random.random(3)
             + np.random.random_sample(3) + np.random.randint(0, 5, 3)
             + np.random.standard_normal(3)
             + np.random.default_rng(0).normal(size=3))
    return np.sum(w * x * noise)


RANDOM_FUNCTIONS = [random_normal, random_laplace, random_logistic,
                    random_gumbel, random_uniform, random_exponential]


@pytest.mark.parametrize('first_shape, second_shape', [
    pytest.param((), (), id='floats'),
    pytest.param((3,), (), id='vector-float'),
    pytest.param((2, 1), (3,), id='column-vector'),
])
@pytest.mark.parametrize('function', RANDOM_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_random_draws(function, first_shape, second_shape):
    check_grads(function, sample(first_shape, 0.5, 2.0, seed=1),
                sample(second_shape, 2.5, 3.0, seed=2))


def test_random_without_parameters():
    check_grads(random_without_parameters, sample((3,)))


# The same draws as methods of a Generator made inside the function.

def generator_normal(loc, scale):
    rng = np.random.default_rng(0)
    return np.sum(np.sin(rng.normal(loc, scale, size=(2, 3))))


def generator_laplace(loc, scale):
    rng = np.random.default_rng(1)
    return np.sum(np.sin(rng.laplace(loc, scale, (2, 3))))


def generator_logistic(loc, scale):
    return np.sum(np.sin(np.random.default_rng(2).logistic(loc, scale,
                                                           (2, 3))))


def generator_gumbel(loc, scale):
    return np.sum(np.sin(np.random.default_rng(3).gumbel(loc, scale,
                                                         (2, 3))))


def generator_uniform(low, high):
    rng = np.random.default_rng(4)
    return np.sum(np.sin(rng.uniform(low, high, size=(2, 3))))


def generator_exponential(scale, unused):
    rng = np.random.default_rng(5)
    draws = rng.exponential(scale, (2, 3)) + rng.standard_normal((2, 3))
    return np.sum(np.sin(draws) + rng.random() + 0.0 * unused)


@pytest.mark.parametrize('first_shape, second_shape', [
    pytest.param((), (), id='floats'),
    pytest.param((3,), (), id='vector-float'),
    pytest.param((2, 1), (3,), id='column-vector'),
])
@pytest.mark.parametrize('function', [
    generator_normal, generator_laplace, generator_logistic,
    generator_gumbel, generator_uniform, generator_exponential],
    ids=lambda f: f.__name__)
def test_generator_draws(function, first_shape, second_shape):
    args = (sample(first_shape, 0.5, 2.0, seed=1),
            sample(second_shape, 2.5, 3.0, seed=2))
    gradients = adcompiler.grad(function, wrt=(0, 1))(*args)
    for position, gradient in enumerate(gradients):
        assert_gradient_close(gradient,
                              numerical_gradient(function, args, position))


def generator_normal_of_vector(p):
    rng = np.random.default_rng(0)
    return np.sum(np.sin(rng.normal(p[0], p[1], size=(2, 3))))


@pytest.mark.parametrize('function', [
    generator_normal_of_vector,
    lambda p: generator_normal(p[0], p[1]),
], ids=['direct', 'through-a-callee'])
@pytest.mark.parametrize('mode', [None, 'reverse-over-reverse'])
def test_generator_draw_hessian_raises(function, mode):
    """Second derivatives through Generator draws came out wrong (reverse
    over reverse ran the draw again from the moved generator, and rows of
    the draw's parameters were wrong even from a copy), so they stop with
    an error."""
    with pytest.raises(adcompiler.AdCompilerError):
        adcompiler.hessian(function, mode=mode)(np.array([0.3, 0.8]))


# Options that are rejected ---------------------------------------------------
# An option that a rule leaves out of its template stops compilation with
# its name; an option whose value the rule cannot handle stops the
# derivative when it runs. Both are AdCompilerErrors, in both modes.

MASK = np.array([[True, False, True], [False, True, True]])


def prod_initial(x, w):
    return np.sum(w * np.prod(x, initial=2.0))


def exp_where(x, w):
    return np.sum(w * np.exp(x, where=MASK))


def pad_stat_length(x, w):
    return np.sum(w * np.pad(x, 1, stat_length=2))


def cumsum_out(x, w):
    return np.sum(w * np.cumsum(x, out=np.empty(6)))


def np_average_returned_weights(x, w):
    value, total = np.average(x, weights=MASK * 1.0, returned=True)
    return np.sum(w * value)


# (function, the option named in the error)
REJECTED_OPTIONS = [
    (prod_initial, 'initial'),
    (exp_where, 'where'), (pad_stat_length, 'stat_length'),
    (cumsum_out, 'out='), (np_pad_mean, "mode='mean'"),
    (np_nan_to_num_in_place, 'copy=False'),
    (np_average_returned_weights, 'returned=True'),
]


@pytest.mark.parametrize('function, option', REJECTED_OPTIONS,
                         ids=_ids(REJECTED_OPTIONS))
def test_rejected_option_is_named(function, option):
    x = sample((2, 3))
    with pytest.raises(adcompiler.AdCompilerError, match=option):
        adcompiler.grad(function)(x, 1.0)
    with pytest.raises(adcompiler.AdCompilerError, match=option):
        adcompiler.jvp(function, (x, 1.0), (np.ones((2, 3)), None))


def sort_order(x, w):
    return np.sum(w * np.sort(x, order=None) ** 2)


def test_option_at_numpy_default_is_dropped():
    # order=None is np.sort's default, so the call is that of np.sort(x).
    check_grads(sort_order, sample((2, 3)))
    weights = np.ones((2, 3))
    adcompiler.check_grads(sort_order, modes=('forward',))(sample((2, 3)),
                                                          weights)


def add_reduce_unknown_keyword(x, w):
    return np.sum(w * np.add.reduce(x, order='C'))


# The fix spells out the call that the rule accepts.
@pytest.mark.parametrize('function, accepted', [
    (prod_initial, 'numpy.prod(a, axis=None, dtype=None, *, keepdims=False, '
                   'where=True)'),
    (add_reduce_unknown_keyword, 'numpy.add.reduce(array, axis=0, '
                                 'dtype=None, out=None, keepdims=False, '
                                 'initial=None, where=True)'),
], ids=['np.prod', 'np.add.reduce'])
def test_rejected_option_names_accepted_call(function, accepted):
    x = sample((2, 3))
    with pytest.raises(adcompiler.AdCompilerError) as reverse_error:
        adcompiler.grad(function)(x, 1.0)
    assert accepted in str(reverse_error.value)
    with pytest.raises(adcompiler.AdCompilerError) as forward_error:
        adcompiler.jvp(function, (x, 1.0), (np.ones((2, 3)), None))
    assert accepted in str(forward_error.value)


def test_rejected_option_error_is_not_implemented_error():
    with pytest.raises(adcompiler.UnsupportedOptionError) as raised:
        grad_of(np_pad_mean, sample((2, 3)))
    assert isinstance(raised.value, NotImplementedError)


# Options that look special but are differentiated.
def cumsum_dtype(x, w):
    return np.sum(w * np.cumsum(x, dtype=np.float64))


def pad_reflect(x, w):
    return np.sum(w * np.pad(x, 1, mode='reflect'))


@pytest.mark.parametrize('function', [cumsum_dtype, pad_reflect],
                         ids=lambda f: f.__name__)
def test_supported_option(function):
    check_grads(function, sample((2, 3)))


# NumPy's spellings of arguments: its parameter names, keywords that newer
# releases added, and out=None by position ----------------------------------

def sum_keyword_a(x, w):
    return np.sum(w * np.sum(a=x, axis=0))


def max_keyword_a(x, w):
    return np.sum(w * np.max(a=x, axis=1))


def mean_keyword_a(x, w):
    return np.sum(w * np.mean(a=x))


def dot_keywords(x, w):
    return np.sum(w * np.dot(a=x, b=x.T))


def sum_out_none_by_position(x, w):
    return np.sum(w * np.sum(x, 0, None, None, True))


def mean_out_none_by_position(x, w):
    return np.sum(w * np.mean(x, 1, None, None, True))


def prod_out_none_by_position(x, w):
    return np.sum(w * np.prod(x, 1, None, None, True))


def nanvar_out_none_by_position(x, w):
    return np.sum(w * np.nanvar(x, 1, None, None, 1))


def nanmax_out_none_by_position(x, w):
    return np.sum(w * np.nanmax(x, 1, None, True))


def cumsum_out_none_by_position(x, w):
    return np.sum(w * np.cumsum(x, 1, None, None))


def multiply_reduce_out_none_by_position(x, w):
    return np.sum(w * np.multiply.reduce(x, 1, None, None, True))


def add_accumulate_out_none_keyword(x, w):
    return np.sum(w * np.add.accumulate(x, 1, out=None))


def clip_min_max_keywords(x, w):
    return np.sum(w * np.clip(x, min=-0.5, max=0.5))


def clip_max_keyword(x, w):
    return np.sum(w * np.clip(x, max=0.3))


def _has_clip_min_keyword():
    try:
        np.clip(0.0, min=0.0)
    except TypeError:
        return False
    return True


_CLIP_MIN_MAX = pytest.mark.skipif(
    not _has_clip_min_keyword(),
    reason=f'NumPy {np.__version__} np.clip has no min= and max= (new in '
           '2.1)')
def _has_dot_signature():
    try:
        inspect.signature(np.dot)
    except ValueError:
        return False
    return True


# Before NumPy 2.3 (2.2.6 checked), np.dot has no signature that inspect
# reads, so its keyword spelling cannot be matched to the rule and the
# call is rejected with an AdCompilerError.
_DOT_KEYWORDS = pytest.mark.xfail(
    not _has_dot_signature(), strict=True, raises=adcompiler.AdCompilerError,
    reason=f'NumPy {np.__version__} np.dot has no signature to bind a= '
           'and b= to')
SPELLING_CASES = [
    sum_keyword_a, max_keyword_a, mean_keyword_a,
    pytest.param(dot_keywords, marks=_DOT_KEYWORDS),
    sum_out_none_by_position, mean_out_none_by_position,
    prod_out_none_by_position, nanvar_out_none_by_position,
    nanmax_out_none_by_position, cumsum_out_none_by_position,
    multiply_reduce_out_none_by_position, add_accumulate_out_none_keyword,
    pytest.param(clip_min_max_keywords, marks=_CLIP_MIN_MAX),
    pytest.param(clip_max_keyword, marks=_CLIP_MIN_MAX),
]


@pytest.mark.parametrize('function', SPELLING_CASES,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('shape', [(2, 3), (4, 3)])
def test_numpy_argument_spellings(function, shape):
    check_grads(function, sample(shape, seed=5))


def test_ufunc_method_named_in_message():
    def reduce_too_many(x):
        return np.sum(np.multiply.reduce(x, 1, None, None, True, 1.0, True,
                                         7))

    with pytest.raises(adcompiler.AdCompilerError,
                       match='numpy.multiply.reduce does not accept'):
        adcompiler.grad(reduce_too_many)(sample((2, 3)))


def test_out_array_still_rejected():
    def sum_into(x, out):
        np.sum(x, 0, None, out)
        return np.sum(out)

    with pytest.raises(adcompiler.UnsupportedSyntaxError, match='out='):
        adcompiler.grad(sum_into)(sample((2, 3)), np.zeros(3))


def round_method_into_itself(x):
    y = 2.0 * x
    y.round(0, y)
    return np.sum(y * y) + np.sum(x)


def test_method_output_by_position_rejected():
    """x.round(0, y) writes into y like np.round(x, 0, y), but the method's
    own signature cannot be read, and forward mode gave the tangent of the
    unrounded y."""
    x = np.array([1.1, 2.3, 3.2, 4.4])
    with pytest.raises(adcompiler.UnsupportedSyntaxError, match='out='):
        adcompiler.grad(round_method_into_itself)(x)
    with pytest.raises(adcompiler.UnsupportedSyntaxError, match='out='):
        adcompiler.jvp(round_method_into_itself, (x,), (np.ones(4),))
    with pytest.raises(adcompiler.UnsupportedSyntaxError, match='out='):
        adcompiler.jacobian(round_method_into_itself, mode='forward')(x)


# Coverage --------------------------------------------------------------------

COVERED_CALLEES = {
    np.swapaxes, np.moveaxis, np.rollaxis, np.roll, np.flip, np.flipud,
    np.fliplr, np.rot90, np.broadcast_to, np.atleast_1d, np.atleast_2d,
    np.atleast_3d, np.triu, np.tril, np.diag, np.diagonal, np.trace,
    np.repeat, np.tile, np.take, np.take_along_axis, np.split,
    np.array_split, np.vsplit, np.hsplit, np.dsplit, np.concatenate,
    np.stack, np.vstack, np.hstack, np.dstack, np.column_stack, np.append,
    np.pad, np.select, np.nan_to_num, np.linspace,
    np.prod, np.var, np.std, np.ptp, np.nansum, np.nanmean, np.average,
    np.cumsum, np.cumprod, np.diff,
    np.nanmax, np.nanmin, np.nanprod, np.nanvar, np.nanstd, np.nanmedian,
    np.nanquantile, np.nanpercentile, np.nancumsum, np.nancumprod,
    np.median, np.quantile, np.percentile,
    np.nanargmax, np.nanargmin,
    np.tensordot, np.inner, np.outer, np.vdot, np.kron, np.cross, np.einsum,
    np.sort, np.partition,
    np.random.normal, np.random.laplace, np.random.logistic,
    np.random.gumbel, np.random.uniform, np.random.exponential,
    np.random.seed, np.random.rand, np.random.randn, np.random.random,
    np.random.random_sample, np.random.randint, np.random.standard_normal,
    np.random.default_rng, np.random.get_state, np.random.set_state,
} | present(np, 'astype')
COVERED_METHODS = {'swapaxes', 'diagonal', 'trace', 'repeat', 'take',
                   'astype', 'item', 'clip', 'prod', 'var', 'std', 'cumsum',
                   'cumprod'}
COVERED_ATTRIBUTES = {'mT'}
