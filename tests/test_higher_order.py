"""Second and higher derivatives: hessian, hvp and grad of grad."""

import collections
import inspect
import math
import re
import warnings

import numpy as np
import pytest
from scipy.optimize import rosen_hess, rosen_hess_prod

import adcompiler
import test_control_flow
from finite_differences import assert_gradient_close, numerical_gradient


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0)


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('size', [2, 10, 30])
def test_rosenbrock_hessian_matches_scipy(size, seed):
    x = np.random.default_rng(seed).normal(size=size)
    expected = rosen_hess(x)
    hessian = adcompiler.hessian(rosen)(x)
    assert np.max(np.abs(hessian - expected)) <= 1e-9 * np.max(np.abs(expected))


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('size', [2, 10, 1000])
def test_rosenbrock_hvp_matches_scipy(size, seed):
    rng = np.random.default_rng(seed)
    x, v = rng.normal(size=size), rng.normal(size=size)
    expected = rosen_hess_prod(x, v)
    product = adcompiler.hvp(rosen)(x, v)
    assert np.max(np.abs(product - expected)) <= 1e-9 * np.max(np.abs(expected))


def cube(x):
    return x ** 3 + np.sin(x)


def taylor_exp(x):
    total = 0.0
    for n in range(30):
        term = x ** n / math.factorial(n)
        if abs(term) < 1e-12:
            return total
        total = total + term
    return total


def mixed(x, y):
    return x ** 2 * y + np.exp(x * y)


def test_grad_of_grad_scalar():
    assert adcompiler.grad(adcompiler.grad(cube))(0.7) == pytest.approx(
        6 * 0.7 - math.sin(0.7), rel=1e-12)


def test_third_derivative():
    third = adcompiler.grad(adcompiler.grad(adcompiler.grad(cube)))
    assert third(0.7) == pytest.approx(6 - math.cos(0.7), rel=1e-12)


def test_grad_of_grad_through_loop_and_early_return():
    second = adcompiler.grad(adcompiler.grad(taylor_exp))
    assert second(0.5) == pytest.approx(math.exp(0.5), rel=1e-9)


def test_mixed_partial_derivative():
    dxdy = adcompiler.grad(adcompiler.grad(mixed, wrt='x'), wrt='y')
    x, y = 0.3, -0.8
    expected = 2 * x + np.exp(x * y) + x * y * np.exp(x * y)
    assert dxdy(x, y) == pytest.approx(expected, rel=1e-12)


def test_grad_of_grad_of_array_argument_raises():
    with pytest.raises(adcompiler.NonScalarOutputError):
        adcompiler.grad(adcompiler.grad(rosen))(np.ones(3))


# Reverse over reverse raises UnsupportedSyntaxError on these rows.
def _scalar_output_cases(mode=None):
    params = []
    for case in test_control_flow.CASES:
        for index, inputs in enumerate(case.inputs):
            output = case.function(*test_control_flow.fresh(inputs))
            if np.ndim(output) != 0:
                continue
            params.append(pytest.param(case, inputs, mode,
                                       id=f'{case.name}-{index}-{mode}'))
    return params


@pytest.mark.parametrize(
    'case, inputs, mode',
    _scalar_output_cases() + _scalar_output_cases('reverse-over-reverse'))
def test_control_flow_hvp_matches_gradient_differences(case, inputs, mode):
    args = test_control_flow.fresh(inputs)
    position = case.wrt[0]
    x = args[position]
    direction = np.random.default_rng(7).normal(size=np.shape(x))
    if np.ndim(x) == 0 and not isinstance(x, np.ndarray):
        direction = float(direction)
    gradient = adcompiler.grad(case.function, wrt=position)

    def along(epsilon):
        moved = list(test_control_flow.fresh(inputs))
        moved[position] = moved[position] + epsilon * direction
        return np.asarray(gradient(*moved), dtype=float)

    step = 1e-5
    expected = (along(step) - along(-step)) / (2 * step)
    product = adcompiler.hvp(case.function, wrt=position, mode=mode)(
        *args, direction)
    np.testing.assert_allclose(np.asarray(product, dtype=float), expected,
                               rtol=1e-4, atol=1e-5)


def smooth_abs(x):
    return np.sum(np.abs(x) ** 3)


def test_hvp_through_abs():
    x = np.array([0.5, -1.2, 2.0])
    v = np.array([1.0, 0.5, -0.3])
    expected = 6.0 * np.abs(x) * v
    np.testing.assert_allclose(adcompiler.hvp(smooth_abs)(x, v), expected,
                               rtol=1e-12)


# Second order, rule by rule: hvp against differences of the gradient.

import test_rules  # noqa: E402


from test_forward import _rule_params as _second_order_params  # noqa: E402


@pytest.mark.parametrize('function, low, high',
                         _second_order_params(test_rules.UNARY_FUNCTIONS, 1))
def test_unary_rule_second_order(function, low, high):
    x = test_rules.sample((3,), low, high, seed=3)
    w = test_rules.weights_for(function, (x,))
    adcompiler.check_grads(function, modes=(), order=2)(x, w)


@pytest.mark.parametrize(
    'function, x_domain, y_domain',
    _second_order_params(test_rules.BINARY_FUNCTIONS, 2))
def test_binary_rule_second_order(function, x_domain, y_domain):
    x = test_rules.sample((3,), *x_domain, seed=4)
    y = test_rules.sample((3,), *y_domain, seed=5)
    w = test_rules.weights_for(function, (x, y))
    adcompiler.check_grads(function, modes=(), order=2)(x, y, w)


def test_hvp_is_forward_over_reverse():
    # The tangent of the generated adjoint: forward mode over reverse mode.
    objective = adcompiler.api.gradient_objective(rosen, 'x')
    tangent = adcompiler.api._COMPILER.compile_forward(objective, ('x',))
    # Another function named rosen compiled earlier in the session makes
    # the generated names take a suffix: tangent_adjoint_rosen_1.
    assert re.search(r'def tangent_adjoint_rosen(_\d+)?\(', tangent.source)
    x = np.random.default_rng(3).normal(size=8)
    v = np.random.default_rng(4).normal(size=8)
    _, product = tangent.tangent(x, dx=v)
    np.testing.assert_allclose(product, rosen_hess_prod(x, v), rtol=1e-10)


# Reverse over reverse: reverse mode applied to the generated gradient.

@pytest.mark.parametrize('mode', [c.value for c in adcompiler.Composition])
@pytest.mark.parametrize('size', [2, 10, 30])
def test_rosenbrock_hessian_in_every_mode(size, mode):
    x = np.random.default_rng(size).normal(size=size)
    expected = rosen_hess(x)
    hessian = adcompiler.hessian(rosen, mode=mode)(x)
    assert np.max(np.abs(hessian - expected)) <= 1e-9 * np.max(np.abs(expected))


# Hessians with respect to several arguments: blocks for each pair.

def coupled(x, y, scale=1.0):
    return scale * (np.sum(np.sin(x)[:, None] * y ** 2)
                    + x[0] * np.sum(y ** 3))


def coupled_scalar(x, t):
    return np.sum(np.exp(t * x)) * t ** 2


def differenced_block(function, args, row, column, step=1e-4):
    """Block [row][column] of the Hessian of `function(*args)` by central
    differences of central differences."""
    args = [np.asarray(a, dtype=float) for a in args]
    columns = []
    for index in np.ndindex(args[column].shape):
        shifted = []
        for sign in (1.0, -1.0):
            moved = [a.copy() for a in args]
            moved[column][index] += sign * step
            shifted.append(numerical_gradient(function, moved, row, step))
        columns.append(np.ravel(shifted[0] - shifted[1]) / (2 * step))
    block = np.stack(columns, axis=-1)
    return block.reshape(args[row].shape + args[column].shape)


@pytest.mark.parametrize('mode', [None] + [c.value
                                           for c in adcompiler.Composition])
@pytest.mark.parametrize('function, args', [
    pytest.param(coupled, (np.array([0.3, 0.5]), np.array([1.2, -0.7, 0.4])),
                 id='vectors'),
    pytest.param(coupled_scalar, (np.array([[0.3, -0.5], [0.2, 0.9]]),
                                  np.array(0.8)), id='matrix-and-scalar'),
])
def test_hessian_of_argument_tuple(function, args, mode):
    blocks = adcompiler.hessian(function, wrt=(0, 1), mode=mode)(*args)
    assert len(blocks) == 2
    for row in range(2):
        assert len(blocks[row]) == 2
        for column in range(2):
            np.testing.assert_allclose(
                blocks[row][column],
                differenced_block(function, args, row, column),
                rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('mode', [None] + [c.value
                                           for c in adcompiler.Composition])
def test_hvp_of_argument_tuple(mode):
    x, y = np.array([0.3, 0.5]), np.array([1.2, -0.7, 0.4])
    vx, vy = np.array([1.0, -2.0]), np.array([0.5, -1.0, 2.0])
    blocks = [[differenced_block(coupled, (x, y), row, column)
               for column in range(2)] for row in range(2)]
    hvp = adcompiler.hvp(coupled, wrt=('x', 'y'), mode=mode)
    px, py = hvp(x, y, (vx, vy), scale=2.0)
    np.testing.assert_allclose(px, 2.0 * (blocks[0][0] @ vx
                                          + blocks[0][1] @ vy), rtol=1e-5)
    np.testing.assert_allclose(py, 2.0 * (blocks[1][0] @ vx
                                          + blocks[1][1] @ vy), rtol=1e-5)
    # None is a zero direction.
    px, py = hvp(x, y, (None, vy))
    np.testing.assert_allclose(px, blocks[0][1] @ vy, rtol=1e-5)
    np.testing.assert_allclose(py, blocks[1][1] @ vy, rtol=1e-5)


def test_hvp_of_argument_tuple_needs_direction_tuple():
    x, y = np.array([0.3, 0.5]), np.array([1.2, -0.7, 0.4])
    with pytest.raises(adcompiler.InvalidArgumentError,
                       match='tuple of 2 directions'):
        adcompiler.hvp(coupled, wrt=(0, 1))(x, y, x)


def test_hvp_rejects_unknown_mode():
    with pytest.raises(adcompiler.InvalidArgumentError, match='mode'):
        adcompiler.hvp(rosen, mode='sideways')


# Reverse rules of the runtime helpers that generated adjoint code calls.
# Each row: a function of float arrays that calls one helper, and its
# arguments; its gradient is checked against central differences.

from adcompiler import runtime as rt  # noqa: E402

_W3 = np.array([0.3, -1.1, 0.7])
_W23 = np.arange(6.0).reshape(2, 3) / 5.0 - 0.4


def through_add(a, b):
    return np.sum(_W3 * rt.add(a, b))


def through_unbroadcast(c):
    return np.sum(_W3 * rt.unbroadcast(c, _W3))


def through_unbroadcast_keepdims(c):
    return np.sum(_W23[:, :1] * rt.unbroadcast(c, _W23[:, :1]))


def through_sum_adjoint(c):
    return np.sum(_W23 * rt.sum_adjoint(c, _W23, 0, False))


def through_mean_adjoint(c):
    return np.sum(_W23 * rt.mean_adjoint(c, _W23, 1, True))


def through_index_adjoint(c):
    return np.sum(np.arange(5.0) * rt.index_adjoint(c, np.zeros(5),
                                                    np.s_[1:3]))


def through_repeated_index_adjoint(c):
    index = np.array([0, 2, 0])
    return np.sum(np.arange(1.0, 4.0) * rt.index_adjoint(c, np.zeros(3),
                                                         index))


def through_transpose_adjoint(c):
    return np.sum(np.arange(24.0).reshape(4, 3, 2) * rt.transpose_adjoint(
        c, (1, 2, 0)))


def through_zero_index(c):
    return np.sum(np.arange(4.0) * rt.zero_index(c, np.s_[1:3]))


def through_last_adjoint(a, b):
    return np.sum(_W3 * rt.last_adjoint([a, b], _W3))


def through_tail_adjoint(a, b, d):
    tail = rt.tail_adjoint([a, b, d], [_W3, _W3])
    return np.sum(_W3 * tail[0]) + np.sum(tail[1] ** 2)


def through_drop_last(a, b):
    kept = rt.drop_last([a, b], 1)
    return np.sum(_W3 * kept[0])


def through_materialize(c):
    return np.sum(_W3 * rt.materialize(c, _W3))


def through_extremum_adjoint(c):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.5, -1.0]])
    return np.sum(_W23 * rt.extremum_adjoint(c, x, np.max(x, axis=1), 1,
                                             False))


def through_written_adjoint(c, v):
    return np.sum(_W3[:2] * rt.written_adjoint(c, np.zeros(5), np.s_[1:3],
                                               v) ** 2)


def through_broadcast_written_adjoint(c, v):
    return rt.written_adjoint(c, np.zeros(4), np.s_[::2], v) ** 2


def through_old_item(x):
    return np.sum(_W3[:2] * rt.old_item(x, np.s_[1:3]))


def through_loop_item_tangent(a, b):
    item = rt.loop_item_tangent([a, b * 2.0], 1)
    key = rt.loop_item_tangent({'a': a, 'b': b}, 0)
    return np.sum(_W3 * np.sin(item)) + key


_Pair = collections.namedtuple('_Pair', 'w b')


def through_attribute_adjoint(c):
    adjoint = rt.attribute_adjoint(c, _Pair(_W3, _W3 * 2.0), 'b')
    return np.sum(_W3 * np.sin(adjoint.b))


def through_field_of(a, b):
    pair = _Pair(a * 2.0, b)
    return np.sum(_W3 * np.sin(rt.field_of(pair, 'w')) * rt.field_of(pair,
                                                                      'b'))


def through_entry_of(a, b):
    named = rt.entry_of({'s': a * 2.0, 't': b}, 's')
    return np.sum(_W3 * np.sin(named) * rt.entry_of((a, b), 1))


def through_loop_item_tangent_adjoint(c):
    rows = rt.loop_item_tangent_adjoint(c, _W23, 1)
    keys = rt.loop_item_tangent_adjoint(c, {'a': _W3}, 0)
    return np.sum(np.arange(6.0).reshape(2, 3) * rows ** 2) + np.sum(
        keys['a'])


def through_unpack_adjoint(a, b):
    return np.sum(np.arange(1.0, 4.0) * rt.unpack_adjoint(_W3, (a, None, b)))


def through_insert_adjoint(c, dv):
    result = rt.insert_adjoint([c, c * 2.0], [_W3, _W3], 1, dv, _W3)
    return np.sum(_W3 * result[0]) + np.sum(result[1] ** 2) + np.sum(
        result[2] * 3.0)


def through_matmul_adjoint_x(c, y):
    return np.sum(np.sin(rt.matmul_adjoint_x(c, np.zeros((2, 4)), y)))


def through_stacked_matmul_adjoint_x(c, y):
    return np.sum(np.sin(rt.matmul_adjoint_x(c, np.zeros((5, 2, 4)), y)))


def through_vector_matmul_adjoint_x(c, y):
    return np.sum(np.sin(rt.matmul_adjoint_x(c, np.zeros(4), y)))


def through_matmul_adjoint_y(c, x):
    return np.sum(np.sin(rt.matmul_adjoint_y(c, x, np.zeros((4, 3)))))


def through_vector_matmul_adjoint_y(c, x):
    return np.sum(np.sin(rt.matmul_adjoint_y(c, x, np.zeros(4))))


def through_dot_adjoint_x(c, y):
    return np.sum(np.sin(rt.dot_adjoint_x(c, np.zeros((2, 4)), y)))


def through_dot_adjoint_y(c, x):
    return np.sum(np.sin(rt.dot_adjoint_y(c, x, np.zeros((4, 3)))))


def through_scalar_dot_adjoint_y(c, x):
    return np.sum(np.sin(rt.dot_adjoint_y(c, x, np.zeros(3))))


def through_match_kind(c):
    return np.sum(_W3 * rt.match_kind(c, _W3))


_A23 = np.zeros((2, 3))


def through_repeat_adjoint(c):
    return np.sum(np.sin(rt.repeat_adjoint(c, _A23, 2, 1)))


def through_flat_repeat_adjoint(c):
    return np.sum(np.sin(rt.repeat_adjoint(c, _A23, [1, 0, 2, 1, 1, 3])))


def through_tile_adjoint(c):
    return np.sum(np.sin(rt.tile_adjoint(c, _A23, (2, 1, 2))))


def through_take_adjoint(c):
    return np.sum(np.sin(rt.take_adjoint(c, _A23, [2, 0, 2], 1, 'raise')))


def through_take_along_axis_adjoint(c):
    indices = np.array([[2, 0, 0], [1, 1, 2]])
    return np.sum(np.sin(rt.take_along_axis_adjoint(c, _A23, indices, 1)))


def through_item_adjoint(c):
    return np.sum(np.sin(rt.item_adjoint(c, _A23, (1, 2))))


def through_diagonal_adjoint(c):
    return np.sum(np.sin(rt.diagonal_adjoint(c, np.zeros((3, 4)), 1)))


def through_diag_adjoint(c):
    return np.sum(np.sin(rt.diag_adjoint(c, np.zeros(3), -1)))


def through_trace_adjoint(c):
    return np.sum(np.sin(rt.trace_adjoint(c, np.zeros((2, 3, 4)), 0, 1, 2)))


def through_split_adjoint(a, b):
    pieces = [np.zeros((2, 1)), np.zeros((2, 2))]
    return np.sum(np.sin(rt.split_adjoint([a, b], pieces, 1)))


def through_concatenate_adjoint(c):
    pieces = rt.concatenate_adjoint(c, [np.zeros((1, 3)), _A23], 0)
    return np.sum(np.sin(pieces[0])) + np.sum(pieces[1] ** 2)


def through_cast_items(c):
    pieces = rt.cast_items(rt.concatenate_adjoint(c, [_A23, _A23], 0),
                           [_A23, _A23], None)
    return np.sum(np.sin(pieces[0])) + np.sum(pieces[1] ** 2)


def through_sort_adjoint(c):
    return np.sum(np.sin(rt.sort_adjoint(c, _A23, -1)) * _A23)


def through_flat_sort_adjoint(c):
    return np.sum(rt.sort_adjoint(c, _A23, None) ** 3)


def through_pad_adjoint(c):
    return np.sum(np.sin(rt.pad_adjoint(c, _A23, ((1, 0), (0, 2)))))


def through_reflect_pad_adjoint(c):
    return np.sum(rt.pad_adjoint(c, _A23, 1, 'reflect') ** 3)


def through_sequence_sum_adjoint(c):
    items = rt.sequence_sum_adjoint(c, [_A23[0], _A23[1]])
    return np.sum(np.sin(items[0])) + np.sum(items[1] ** 2)


def through_sorted_tangent(c):
    return np.sum(np.sin(rt.sorted_tangent(c, _A23, np.sort(_A23), -1)))


def through_pad_tangent(c):
    return np.sum(rt.pad_tangent(c, ((0, 1), (2, 0)), 'edge') ** 3)


def through_sequence_sum_tangent(c):
    return np.sum(np.sin(rt.sequence_sum_tangent([c, c * 2.0], _A23[0])))


def through_append_adjoint(c):
    head, tail = rt.append_adjoint(c, _A23, np.ones(3), None)
    return np.sum(np.sin(head)) + np.sum(tail ** 3)


def through_append_adjoint_axis(c):
    head, tail = rt.append_adjoint(c, _A23, np.ones((1, 3)), 0)
    return np.sum(np.sin(head)) + np.sum(tail ** 3)


def through_stack_adjoint(c):
    pieces = rt.stack_adjoint(c, [np.zeros(3), np.zeros(3)], 1)
    return np.sum(np.sin(pieces[0])) + np.sum(pieces[1] ** 2)


def through_vstack_adjoint(c):
    pieces = rt.vstack_adjoint(c, [np.zeros(3), _A23])
    return np.sum(np.sin(pieces[0])) + np.sum(pieces[1] ** 2)


def through_hstack_adjoint(c):
    pieces = rt.hstack_adjoint(c, [np.zeros(2), np.zeros(3)])
    return np.sum(np.sin(pieces[0])) + np.sum(pieces[1] ** 2)


def through_dstack_adjoint(c):
    pieces = rt.dstack_adjoint(c, [_A23, _A23])
    return np.sum(np.sin(pieces[0])) + np.sum(pieces[1] ** 2)


def through_column_stack_adjoint(c):
    pieces = rt.column_stack_adjoint(c, [np.zeros(2), _A23])
    return np.sum(np.sin(pieces[0])) + np.sum(pieces[1] ** 2)


def through_cumsum_adjoint(c):
    return np.sum(np.sin(rt.cumsum_adjoint(c, _A23, 1)))


def through_flat_cumsum_adjoint(c):
    return np.sum(np.sin(rt.cumsum_adjoint(c, _A23)))


def through_diff_adjoint(c):
    return np.sum(np.sin(rt.diff_adjoint(c, 2, 0)))


def through_rollaxis_adjoint(c):
    return np.sum(np.sin(rt.rollaxis_adjoint(c, np.zeros((2, 3, 4)), 2)))


def through_linear_recurrence(u, x):
    return np.sum(np.sin(rt.linear_recurrence(u, x)))


def through_linear_recurrence_transpose(v, x):
    return np.sum(np.sin(rt.linear_recurrence_transpose(v, x)))


def through_shift_forward(v):
    return np.sum(_W23 * np.sin(rt.shift_forward(v)))


def through_shift_backward(v):
    return np.sum(_W23 * np.sin(rt.shift_backward(v)))


def through_cumprod_adjoint(c, x):
    return np.sum(np.sin(rt.cumprod_adjoint(c, x, np.cumprod(x, 1), 1)))


def through_flat_cumprod_adjoint(c, x):
    return np.sum(np.sin(rt.cumprod_adjoint(c, x, np.cumprod(x))))


def through_cumprod_tangent(t, x):
    return np.sum(np.sin(rt.cumprod_tangent(t, x, np.cumprod(x, 0), 0)))


def through_irfft_adjoint(c):
    return np.sum(np.abs(rt.irfft_adjoint(c, np.zeros(4, complex), 5)) ** 2)


def through_irfftn_adjoint(c):
    half = rt.irfftn_adjoint(c, np.zeros((2, 3), complex), None, None, 'ortho')
    return np.sum(np.abs(half) ** 2)


def through_partition_adjoint(c):
    a = np.array([[0.5, -1.0, 2.0, 0.1], [1.5, 0.2, -0.3, 0.9]])
    return np.sum(np.sin(rt.partition_adjoint(c, a, np.partition(a, 1), -1))
                  * a)


def through_einsum_adjoint(c, y):
    x = np.zeros((2, 3))
    arguments = ('ij,jk->ik', x, y, None, None, None, None)
    return np.sum(np.sin(rt.einsum_adjoint(c, arguments, 1)))


def through_diagonal_einsum_adjoint(c):
    return np.sum(rt.einsum_adjoint(c, ('ii->i', np.zeros((3, 3))), 1) ** 3)


def through_matmul_stacked(a, b):
    return np.sum(np.sin(rt.matmul_stacked(a, b, np.zeros(3), np.zeros((3,
                                                                        2)))))


def through_matmul_stacked_adjoint_a(c, b):
    return np.sum(np.sin(rt.matmul_stacked_adjoint_a(
        c, b, np.zeros(3), np.zeros((2, 3, 4)))))


def through_matmul_stacked_adjoint_b(c, a):
    return np.sum(np.sin(rt.matmul_stacked_adjoint_b(
        c, a, np.zeros((2, 3)), np.zeros(3))))


# Inputs whose lines have one zero, two zeros or three zeros.
_ZEROS_23 = np.array([[1.5, 0.0, -0.8], [0.0, 2.0, 0.0]])
_ZEROS_6 = np.array([1.5, 0.0, -0.8, 0.0, 2.0, 0.0])


def through_outer_adjoints(c, a, b):
    d_a, d_b = rt.outer_adjoints(c, a, b)
    return np.sum(_W23 * d_a) + np.sum(np.sin(d_b))


def through_outer_adjoints_one_result(c, a, b):
    # The cotangent of the unused result is None (a symbolic zero).
    d_a, d_b = rt.outer_adjoints(c, a, b)
    return np.sum(_W23 * d_a ** 2)


def through_sequence_prod_adjoint(c, a, b):
    pieces = rt.sequence_prod_adjoint(c, [a, b, a * b], 1.5)
    return np.sum(_W3 * pieces[0]) + np.sum(pieces[2] ** 2)


def through_tangent_pop(a, b, c):
    value, rest = rt.tangent_pop([a, b, c], -2)
    return np.sum(_W3 * value) + np.sum(rest[1] ** 2)


def through_tangent_insert(a, b, c):
    result = rt.tangent_insert([a, b], 1, c)
    return np.sum(_W3 * result[1]) + np.sum(np.sin(result[2]))


def through_drop_entry(a, b, c):
    kept = rt.drop_entry([a, b, c], 1)
    return np.sum(_W3 * kept[0]) + np.sum(kept[1] ** 2)


def _sample(*shapes):
    rng = np.random.default_rng(len(shapes) + sum(map(len, shapes)))
    return tuple(rng.normal(size=shape) if shape else float(rng.normal())
                 for shape in shapes)


HELPER_CASES = [
    (through_add, _sample((3,), (3,))),
    (through_unbroadcast, _sample((2, 3))),
    (through_unbroadcast, _sample((3,))),
    (through_unbroadcast_keepdims, _sample((4, 2, 3))),
    (through_sum_adjoint, _sample((3,))),
    (through_mean_adjoint, _sample((2, 1))),
    (through_index_adjoint, _sample((2,))),
    (through_repeated_index_adjoint, _sample((3,))),
    (through_transpose_adjoint, _sample((3, 2, 4))),
    (through_zero_index, _sample((4,))),
    (through_last_adjoint, _sample((3,), (2, 3))),
    (through_tail_adjoint, _sample((3,), (3,), (3,))),
    (through_drop_last, _sample((3,), (3,))),
    (through_materialize, _sample((3,))),
    (through_extremum_adjoint, _sample((2,))),
    (through_written_adjoint, _sample((5,), (2,))),
    (through_broadcast_written_adjoint, _sample((4,), ())),
    (through_old_item, _sample((4,))),
    (through_loop_item_tangent, _sample((3,), (3,))),
    (through_loop_item_tangent_adjoint, _sample((3,))),
    (through_attribute_adjoint, _sample((3,))),
    (through_field_of, _sample((3,), (3,))),
    (through_entry_of, _sample((3,), (3,))),
    (through_unpack_adjoint, _sample((), ())),
    (through_insert_adjoint, _sample((3,), (3,))),
    (through_matmul_adjoint_x, _sample((2, 3), (4, 3))),
    (through_matmul_adjoint_x, _sample((2,), (4,))),
    (through_stacked_matmul_adjoint_x, _sample((5, 2, 3), (4, 3))),
    (through_vector_matmul_adjoint_x, _sample((3,), (4, 3))),
    (through_matmul_adjoint_y, _sample((2, 3), (2, 4))),
    (through_matmul_adjoint_y, _sample((5, 2, 3), (5, 2, 4))),
    (through_vector_matmul_adjoint_y, _sample((3,), (3, 4))),
    (through_vector_matmul_adjoint_y, _sample((), (4,))),
    (through_dot_adjoint_x, _sample((2, 3), (4, 3))),
    (through_dot_adjoint_y, _sample((2, 3), (2, 4))),
    (through_scalar_dot_adjoint_y, _sample((3,), ())),
    (through_match_kind, _sample((3,))),
    (through_repeat_adjoint, _sample((2, 6))),
    (through_flat_repeat_adjoint, _sample((8,))),
    (through_tile_adjoint, _sample((2, 2, 6))),
    (through_take_adjoint, _sample((2, 3))),
    (through_take_along_axis_adjoint, _sample((2, 3))),
    (through_item_adjoint, _sample(())),
    (through_diagonal_adjoint, _sample((3,))),
    (through_diag_adjoint, _sample((4, 4))),
    (through_trace_adjoint, _sample((2,))),
    (through_split_adjoint, _sample((2, 1), (2, 2))),
    (through_concatenate_adjoint, _sample((3, 3))),
    (through_cast_items, _sample((4, 3))),
    (through_append_adjoint, _sample((9,))),
    (through_sort_adjoint, _sample((2, 3))),
    (through_flat_sort_adjoint, _sample((6,))),
    (through_pad_adjoint, _sample((3, 5))),
    (through_reflect_pad_adjoint, _sample((4, 5))),
    (through_sequence_sum_adjoint, _sample((3,))),
    (through_sorted_tangent, _sample((2, 3))),
    (through_pad_tangent, _sample((2, 3))),
    (through_sequence_sum_tangent, _sample((3,))),
    (through_append_adjoint_axis, _sample((3, 3))),
    (through_stack_adjoint, _sample((3, 2))),
    (through_vstack_adjoint, _sample((3, 3))),
    (through_hstack_adjoint, _sample((5,))),
    (through_dstack_adjoint, _sample((2, 3, 2))),
    (through_column_stack_adjoint, _sample((2, 4))),
    (through_cumsum_adjoint, _sample((2, 3))),
    (through_flat_cumsum_adjoint, _sample((6,))),
    (through_diff_adjoint, _sample((2, 3))),
    (through_rollaxis_adjoint, _sample((4, 2, 3))),
    (through_linear_recurrence, _sample((2, 3), (2, 3))),
    (through_linear_recurrence, (_sample((4,))[0], _ZEROS_6[:4])),
    (through_linear_recurrence_transpose, _sample((2, 3), (2, 3))),
    (through_linear_recurrence_transpose, (_sample((4,))[0], _ZEROS_6[:4])),
    (through_shift_forward, _sample((2, 3))),
    (through_shift_backward, _sample((2, 3))),
    (through_cumprod_adjoint, _sample((2, 3), (2, 3))),
    (through_cumprod_adjoint, (_sample((2, 3))[0], _ZEROS_23)),
    (through_flat_cumprod_adjoint, (_sample((6,))[0], _ZEROS_23)),
    (through_cumprod_tangent, _sample((2, 3), (2, 3))),
    (through_cumprod_tangent, (_sample((3, 2))[0], _ZEROS_23.T)),
    (through_irfft_adjoint, _sample((5,))),
    (through_irfftn_adjoint, _sample((2, 4))),
    (through_partition_adjoint, _sample((2, 4))),
    (through_einsum_adjoint, _sample((2, 4), (3, 4))),
    (through_diagonal_einsum_adjoint, _sample((3,))),
    (through_matmul_stacked, _sample((5, 3), (3, 2))),
    (through_matmul_stacked, _sample((3,), (4, 3, 2))),
    (through_matmul_stacked_adjoint_a, _sample((2, 4), (2, 3, 4))),
    (through_matmul_stacked_adjoint_a, _sample((5, 2, 4), (3, 4))),
    (through_matmul_stacked_adjoint_b, _sample((2,), (2, 3))),
    (through_matmul_stacked_adjoint_b, _sample((4, 2), (4, 2, 3))),
    (through_outer_adjoints, _sample((6, 4), (2, 3), (4,))),
    (through_outer_adjoints_one_result, _sample((6, 4), (2, 3), (4,))),
    (through_sequence_prod_adjoint, _sample((3,), (3,), (3,))),
    (through_tangent_pop, _sample((3,), (3,), (3,))),
    (through_tangent_insert, _sample((3,), (3,), (3,))),
    (through_drop_entry, _sample((3,), (3,), (3,))),
]


@pytest.mark.parametrize(
    'function, args',
    [pytest.param(f, a, id=f'{f.__name__}-{i}')
     for i, (f, a) in enumerate(HELPER_CASES)])
def test_runtime_helper_vjp_matches_differences(function, args):
    wrt = tuple(range(len(args)))
    gradients = adcompiler.grad(function, wrt=wrt)(*args)
    for position, gradient in enumerate(gradients):
        expected = numerical_gradient(function, args, position)
        assert_gradient_close(gradient, expected)


# Helpers of generated tangent code with complex arguments. Their gradients
# follow the convention df/dx - 1j df/dy for z = x + 1j y, so each is
# checked along the real and the imaginary parts.

_C3 = np.array([1.0 + 2.0j, -0.5 + 1.0j, 0.3 - 0.8j])


def through_abs_tangent(t, x):
    return np.sum(_W3 * rt.abs_tangent(t, x, np.abs(x)) ** 2)


def through_sign_tangent(t, x):
    return np.sum(_W3 * np.real(_C3 * rt.sign_tangent(t, x)) ** 2)


def through_angle_tangent(t, x):
    return np.sum(_W3 * rt.angle_tangent(t, x) ** 2)


def through_complex_linear_recurrence(u, x):
    return np.sum(_W3 * np.abs(rt.linear_recurrence(u, x)) ** 2)


def through_complex_recurrence_transpose(v, x):
    return np.sum(_W3 * np.real(_C3 * rt.linear_recurrence_transpose(v, x)))


def through_complex_cumprod_tangent(t, x):
    return np.sum(_W3 * np.abs(rt.cumprod_tangent(t, x, np.cumprod(x))) ** 2)


def through_fft_adjoint(c):
    padded = rt.fft_adjoint(c, np.zeros(4, complex), 6)
    return np.sum(np.abs(padded) ** 2 * np.arange(1.0, 5.0))


def through_real_ifft_adjoint(c):
    cropped = rt.fft_adjoint(c, np.zeros(4), 3, -1, 'ortho', True)
    return np.sum(cropped ** 2 * np.arange(1.0, 5.0))


def through_fftn_adjoint(c):
    resized = rt.fftn_adjoint(c, np.zeros((2, 3), complex), (3, 2))
    return np.sum(np.abs(resized) ** 2 * _W23)


def through_rfft_adjoint(c):
    return np.sum(np.sin(rt.rfft_adjoint(c, np.zeros(5), 6)))


def through_rfftn_adjoint(c):
    return np.sum(np.sin(rt.rfftn_adjoint(c, np.zeros((2, 3)))))


def through_complex_extremum_tangent(t):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.5, -1.0]])
    picked = rt.extremum_tangent(t, x, np.max(x, axis=1), 1)
    return np.sum(np.abs(picked * (1.0 + 2.0j)) ** 2)


def through_complex_pow_exponent_adjoint(v, x, y):
    return np.sum(np.real(_C3 * rt.pow_exponent_adjoint(v, x, x ** y, y)))


def _complex_sample(*shapes):
    rng = np.random.default_rng(len(shapes) + 10)
    return tuple(rng.normal(size=shape) + 1j * rng.normal(size=shape)
                 for shape in shapes)


COMPLEX_HELPER_CASES = [
    (through_abs_tangent, _complex_sample((3,), (3,))),
    (through_sign_tangent, _complex_sample((3,), (3,))),
    (through_angle_tangent, _complex_sample((3,), (3,))),
    (through_complex_linear_recurrence, _complex_sample((3,), (3,))),
    (through_complex_recurrence_transpose, _complex_sample((3,), (3,))),
    (through_complex_cumprod_tangent, _complex_sample((3,), (3,))),
    (through_complex_cumprod_tangent,
     (_complex_sample((3,))[0], np.array([0.5 + 1.0j, 0.0, 0.0]))),
    (through_fft_adjoint, _complex_sample((6,))),
    (through_real_ifft_adjoint, _complex_sample((3,))),
    (through_fftn_adjoint, _complex_sample((3, 2))),
    (through_rfft_adjoint, _complex_sample((4,))),
    (through_rfftn_adjoint, _complex_sample((2, 2))),
    (through_complex_extremum_tangent, _complex_sample((2, 3))),
    (through_complex_pow_exponent_adjoint,
     _complex_sample((3,), (3,), (3,))),
]


def _along_part(function, args, position, part):
    """`function` of the real (part 1) or imaginary (part 1j) part of one
    argument, the other part fixed."""
    z = args[position]
    fixed = np.imag(z) * 1j if part == 1 else np.real(z)

    def moved(value):
        return function(*args[:position], fixed + part * value,
                        *args[position + 1:])
    return moved


@pytest.mark.parametrize(
    'function, args',
    [pytest.param(f, a, id=f'{f.__name__}-{i}')
     for i, (f, a) in enumerate(COMPLEX_HELPER_CASES)])
def test_runtime_helper_vjp_matches_differences_for_complex_inputs(function,
                                                                   args):
    wrt = tuple(range(len(args)))
    gradients = adcompiler.grad(function, wrt=wrt)(*args)
    for position, gradient in enumerate(gradients):
        along_real = _along_part(function, args, position, 1)
        along_imag = _along_part(function, args, position, 1j)
        expected = (
            numerical_gradient(along_real, (np.real(args[position]),), 0)
            - 1j * numerical_gradient(along_imag, (np.imag(args[position]),),
                                      0))
        assert np.iscomplexobj(gradient)
        assert_gradient_close(gradient, expected)


# A gradient called inside a differentiated function.

rosen_gradient = adcompiler.grad(rosen)


def gradient_along(x, v):
    return rosen_gradient(x) @ v


@pytest.mark.parametrize('size', [2, 5])
def test_grad_of_gradient_along_vector(size):
    rng = np.random.default_rng(size)
    x, v = rng.normal(size=size), rng.normal(size=size)
    gradient = adcompiler.grad(gradient_along)(x, v)
    np.testing.assert_allclose(gradient, rosen_hess_prod(x, v), rtol=1e-10)
    assert_gradient_close(gradient, numerical_gradient(gradient_along,
                                                       (x, v), 0), rtol=1e-5)


def test_jvp_of_gradient_along_vector():
    rng = np.random.default_rng(9)
    x, v, u = rng.normal(size=4), rng.normal(size=4), rng.normal(size=4)
    value, tangent = adcompiler.jvp(gradient_along, (x, v), (u, None))
    assert value == pytest.approx(gradient_along(x, v), rel=1e-12)
    assert tangent == pytest.approx(u @ rosen_hess(x) @ v, rel=1e-9)


def test_grad_of_grad_in_reverse_mode():
    second = adcompiler.grad(cube_slope)
    assert second(0.7) == pytest.approx(6 * 0.7 - math.sin(0.7), rel=1e-12)


cube_gradient = adcompiler.grad(cube)


def cube_slope(x):
    return cube_gradient(x)


# Second order through the reshaping rules of test_rules_numpy: their
# adjoint helpers are differentiated again (forward over reverse, reverse
# over reverse). The input is squared first, so the Hessian is not zero.

import test_rules_numpy  # noqa: E402


def _squared_first(function, count):
    """`function` of its first argument squared, for `count` arguments."""
    if count == 2:
        def squared_first(x, w):
            return function(x * x, w)
    else:
        def squared_first(x, y, w):
            return function(x * x, y, w)
    return squared_first


def _reshaping_params():
    rows = [(f, ((2, 3, 4),)) for f in test_rules_numpy.AXIS_FUNCTIONS]
    rows += [(f, (s,)) for f, s in test_rules_numpy.INDEXING_CASES]
    rows += [(f, (s,)) for f, s in test_rules_numpy.TRIANGLE_CASES]
    rows += [(f, (s,)) for f, s in test_rules_numpy.SPLIT_CASES]
    rows += [(f, (a, b)) for f, a, b in test_rules_numpy.JOIN_CASES]
    params = []
    for mode in ('forward-over-reverse', 'reverse-over-reverse'):
        for function, shapes in rows:
            ids = '-'.join('x'.join(map(str, s)) for s in shapes)
            params.append(pytest.param(
                function, shapes, mode,
                id=f'{function.__name__}-{ids}-{mode}'))
    return params


@pytest.mark.parametrize('function, shapes, mode', _reshaping_params())
def test_reshaping_rule_second_order(function, shapes, mode):
    args = tuple(test_rules.sample(s, seed=i + 1)
                 for i, s in enumerate(shapes))
    args += (test_rules.weights_for(function, args),)
    squared = _squared_first(function, len(args))
    x = args[0]
    direction = np.random.default_rng(0).normal(size=np.shape(x))
    if np.ndim(x) == 0 and not isinstance(x, np.ndarray):
        direction = float(direction)
    gradient = adcompiler.grad(squared)

    def along(epsilon):
        return np.asarray(gradient(x + epsilon * direction, *args[1:]),
                          dtype=float)

    expected = (along(1e-5) - along(-1e-5)) / 2e-5
    product = adcompiler.hvp(squared, mode=mode)(*args, direction)
    np.testing.assert_allclose(np.asarray(product, dtype=float), expected,
                               rtol=1e-5, atol=1e-6)
# Second order over the rule tables of test_rules_numpy, test_rules_linalg
# and test_rules_fft. Each function has the form np.sum(w * L(x, ...)). The
# forward-over-reverse derivative of its gradient with respect to each
# argument is checked along a random direction of all float arguments,
# the weight included. The w part of the direction checks the tangent
# through the reverse rule's adjoint, which is nonzero for a linear L too,
# and the rest checks the curvature of L.

import test_rules_fft  # noqa: E402
import test_rules_linalg  # noqa: E402
from test_forward import directional_difference  # noqa: E402
from adcompiler.api import gradient_objective  # noqa: E402

tn = test_rules_numpy
COMPOSITIONS = [c.value for c in adcompiler.Composition]
tl = test_rules_linalg
sample = test_rules.sample


def hessian_products(function, args, directions, mode):
    """Return H V for `function` at `args`, one array per argument with a
    direction: the entry of argument p is the sum over arguments q of the
    second derivative in p and q times the direction of q.

    Forward over reverse takes the tangent of each argument's gradient along
    all the directions. The reverse compositions rely on the symmetry of H.
    Reverse mode over the gradient of argument q (reverse over reverse), or
    over its directional derivative (reverse over forward), gives the
    derivative in every p of that gradient times q's direction. These add
    up over q.
    """
    names = list(inspect.signature(function).parameters)
    positions = [i for i, d in enumerate(directions) if d is not None]
    if mode == 'forward-over-reverse':
        # A gradient that is zero may come back as None, a symbolic zero.
        return [rt.materialize(adcompiler.jvp(
                    gradient_objective(function, names[p]), args,
                    directions)[1], args[p])
                for p in positions]
    products = [0.0] * len(positions)
    for q in positions:
        if mode == 'reverse-over-reverse':
            objective = gradient_objective(function, names[q])
            compiled = adcompiler.api._COMPILER.compile(
                objective, tuple(names[p] for p in positions))
            _, saved = compiled.primal(*args)
            rows = [rt.materialize(row, args[p]) for row, p in zip(
                compiled.adjoint(saved, directions[q]), positions,
                strict=True)]
        else:
            objective = adcompiler.api.tangent_objective(function, names[q])
            name, = adcompiler.api._direction_names(objective, function)
            rows = adcompiler.grad(objective, wrt=tuple(positions))(
                *args, **{name: directions[q]})
        products = [total + row for total, row in zip(products, rows,
                                                      strict=True)]
    return products


def check_second_order(function, *args, mode='forward-over-reverse'):
    """Compare H V (see `hessian_products`) in composition `mode` with
    central differences of each argument's gradient along V, where V is a
    random direction of every float argument, the weight included."""
    args = args + (test_rules.weights_for(function, args),)
    positions = [i for i, a in enumerate(args) if test_rules._is_float(a)]
    rng = np.random.default_rng(11)
    directions = [None] * len(args)
    for position in positions:
        direction = rng.normal(size=np.shape(args[position]))
        directions[position] = (float(direction)
                                if np.ndim(args[position]) == 0
                                and not isinstance(args[position], np.ndarray)
                                else direction)
    products = hessian_products(function, args, directions, mode)
    for position, product in zip(positions, products, strict=True):
        gradient = adcompiler.grad(function, wrt=position)
        expected = directional_difference(gradient, args, directions,
                                          step=1e-5)
        np.testing.assert_allclose(np.asarray(product, dtype=float),
                                   expected, rtol=1e-4, atol=1e-5,
                                   err_msg=f'argument {position}')


@pytest.mark.parametrize('mode', COMPOSITIONS)
@pytest.mark.parametrize('function, low, high', [
    pytest.param(*row, id=row[0].__name__)
    for row in test_rules.UNARY_FUNCTIONS])
def test_unary_rule_in_every_mode(function, low, high, mode):
    check_second_order(function, sample((2, 3), low, high, seed=3),
                       mode=mode)


@pytest.mark.parametrize('mode', COMPOSITIONS)
@pytest.mark.parametrize('x_shape, y_shape', [
    ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3))],
    ids=['matrix-row', 'column-row', 'float-matrix'])
@pytest.mark.parametrize('function, x_domain, y_domain', [
    pytest.param(*row, id=row[0].__name__)
    for row in test_rules.BINARY_FUNCTIONS])
def test_binary_rule_in_every_mode(function, x_domain, y_domain, x_shape,
                                   y_shape, mode):
    check_second_order(function, sample(x_shape, *x_domain, seed=4),
                       sample(y_shape, *y_domain, seed=5), mode=mode)


def _ids(cases):
    return [f'{case[0].__name__}-' + '-'.join(
        'x'.join(map(str, s)) or 'float' for s in case[1:])
        for case in cases]


@pytest.mark.parametrize('shape, axis, keepdims', test_rules.REDUCTION_CASES)
@pytest.mark.parametrize('function', test_rules.REDUCTIONS + tn.REDUCTIONS,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_reduction_second_order(function, shape, axis, keepdims, mode):
    check_second_order(function, sample(shape), axis, keepdims, mode=mode)


# A few axes per rule: the rules share their helpers across axes, and
# each case costs three compositions.
NAN_SKIPPING_CASES = [
    pytest.param((3,), None, False, id='vector'),
    pytest.param((2, 3), 1, True, id='matrix-axis1-keepdims'),
    pytest.param((2, 3, 4), (0, 2), False, id='cube-axes02'),
]


@pytest.mark.parametrize('shape, axis, keepdims', NAN_SKIPPING_CASES)
@pytest.mark.parametrize('function', tn.NAN_SKIPPING_REDUCTIONS,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_nan_skipping_reduction_second_order(function, shape, axis,
                                             keepdims, mode):
    check_second_order(function, sample(shape), axis, keepdims, mode=mode)


@pytest.mark.parametrize('function', tn.NAN_SKIPPING_REDUCTIONS,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_nan_skipping_reduction_with_nans_second_order(function, mode):
    for axis in (None, 0, 1):
        check_second_order(function, tn.SOME_NANS, axis, False, mode=mode)


@pytest.mark.parametrize('function', tn.NAN_SKIPPING_SCANS,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_nan_skipping_scan_second_order(function, mode):
    for axis in (None, 1):
        check_second_order(function, sample((3, 4)), axis, mode=mode)
        check_second_order(function, tn.SOME_NANS, axis, mode=mode)


# Forward over reverse differentiates the adjoint code, where the adjoints
# of skipped NaN entries are 0 (ad.skip_nan_adjoint). The reverse
# compositions differentiate code that multiplies those zeros by partial
# derivatives at NaN again, and no analysis marks them yet. The median's
# weights do not depend on x, so no such product arises for it.
def _nan_input_cases():
    cases = []
    for function in tn.NAN_INPUT_FUNCTIONS:
        for mode in COMPOSITIONS:
            marks = []
            if (mode != 'forward-over-reverse'
                    and function is not tn.nanmedian_of_broadcast):
                marks = [pytest.mark.xfail(
                    strict=True, reason='reverse mode over first '
                    'derivatives at a skipped NaN entry gives NaN')]
            cases.append(pytest.param(function, mode, marks=marks,
                                      id=f'{function.__name__}-{mode}'))
    return cases


@pytest.mark.parametrize('function, mode', _nan_input_cases())
def test_nan_inputs_second_order(function, mode):
    direction = np.random.default_rng(5).normal(size=tn.NAN_INPUT.shape)
    product = adcompiler.hvp(function, mode=mode)(tn.NAN_INPUT, direction)
    expected = directional_difference(adcompiler.grad(function),
                                      (tn.NAN_INPUT,), (direction,),
                                      step=1e-5)
    assert np.all(np.isfinite(product))
    np.testing.assert_allclose(product, expected, rtol=1e-4, atol=1e-5)


def nanquantile_of_product(a, b):
    return np.nanquantile(a * b, 0.3) ** 2


def nanmean_of_product(a, b):
    return np.nanmean(a * b * a) ** 2


def nansum_of_scaled_sine(a, b):
    return np.nansum(np.sin(a) * b) ** 2


# A NaN in b, which is not differentiated, makes a * b NaN at the entries
# of a that it multiplies. The reverse compositions give NaN only in the
# Hessian rows and columns of those entries.
@pytest.mark.parametrize('function', [
    nanquantile_of_product, nanmean_of_product, nansum_of_scaled_sine],
    ids=lambda f: f.__name__)
@pytest.mark.parametrize('b_shape', [(2, 3), (3,)], ids=['same', 'row'])
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_nan_multiplier_hessian_entries(function, b_shape, mode):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3))
    b = rng.standard_normal(b_shape)
    b[..., 1] = np.nan
    hessian = adcompiler.hessian(function, mode=mode)(a, b).reshape(6, 6)
    gradient = adcompiler.grad(function)
    expected = np.stack([
        directional_difference(gradient, (a, b), (direction, None),
                               step=1e-5).ravel()
        for direction in np.eye(6).reshape(6, 2, 3)], axis=1)
    kept = ~np.isnan(np.broadcast_to(a * b, a.shape)).ravel()
    away = np.outer(kept, kept)
    assert np.all(np.isfinite(hessian[away]))
    np.testing.assert_allclose(hessian[away], expected[away], rtol=1e-4,
                               atol=1e-5)


# The all-NaN slices read no entry, in every composition too.
@pytest.mark.parametrize('axis', [0, 1])
@pytest.mark.parametrize('function', tn.NAN_RESULTS_SKIPPED,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_all_nan_slice_second_order(function, axis, mode):
    direction = np.random.default_rng(2).normal(
        size=tn.ALL_NAN_SLICES.shape)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        product = adcompiler.hvp(function, mode=mode)(tn.ALL_NAN_SLICES,
                                                      axis, direction)
        expected = directional_difference(
            adcompiler.grad(function), (tn.ALL_NAN_SLICES, axis),
            (direction, None), step=1e-5)
    assert np.all(product[np.isnan(tn.ALL_NAN_SLICES)] == 0.0)
    np.testing.assert_allclose(product, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_prod_with_zeros_second_order(mode):
    for axis in (None, 0, 1):
        check_second_order(tn.np_prod, tn.ZEROS, axis, False, mode=mode)


@pytest.mark.parametrize('function, x_shape, weights_shape',
                         tn.AVERAGE_CASES, ids=_ids(tn.AVERAGE_CASES))
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_average_weights_second_order(function, x_shape, weights_shape,
                                      mode):
    check_second_order(function, sample(x_shape, seed=1),
                       sample(weights_shape, 0.5, 2.0, seed=2), mode=mode)


@pytest.mark.parametrize('shape, axis', tn.SCAN_CASES)
@pytest.mark.parametrize('function', tn.SCANS, ids=lambda f: f.__name__)
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_scan_second_order(function, shape, axis, mode):
    check_second_order(function, sample(shape), axis, mode=mode)


@pytest.mark.parametrize('function, x_shape, y_shape',
                         tn.PRODUCT_CASES + tn.EINSUM_CASES,
                         ids=_ids(tn.PRODUCT_CASES + tn.EINSUM_CASES))
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_product_second_order(function, x_shape, y_shape, mode):
    check_second_order(function, sample(x_shape, seed=1),
                       sample(y_shape, seed=2), mode=mode)


@pytest.mark.parametrize('function', tn.AXIS_FUNCTIONS,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_axes_second_order(function, mode):
    check_second_order(function, sample((2, 3, 4)), mode=mode)


@pytest.mark.parametrize('function, shape',
                         tn.TRIANGLE_CASES + tn.INDEXING_CASES + tn.SPLIT_CASES,
                         ids=_ids(tn.TRIANGLE_CASES + tn.INDEXING_CASES
                                  + tn.SPLIT_CASES))
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_shape_function_second_order(function, shape, mode):
    check_second_order(function, sample(shape), mode=mode)


@pytest.mark.parametrize('function, x_shape, y_shape', tn.JOIN_CASES,
                         ids=_ids(tn.JOIN_CASES))
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_join_second_order(function, x_shape, y_shape, mode):
    check_second_order(function, sample(x_shape, seed=1),
                       sample(y_shape, seed=2), mode=mode)


@pytest.mark.parametrize('shape, axis', [
    pytest.param((4,), -1, id='vector'),
    pytest.param((3, 4), 0, id='matrix-axis0'),
    pytest.param((3, 4), None, id='matrix-flat'),
])
@pytest.mark.parametrize('function', tn.SORTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_sort_second_order(function, shape, axis, mode):
    check_second_order(function, sample(shape), axis, mode=mode)


@pytest.mark.parametrize('function', tn.RANDOM_FUNCTIONS,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_random_draws_second_order(function, mode):
    check_second_order(function, sample((3,), 0.5, 2.0, seed=1),
                       sample((), 2.5, 3.0, seed=2), mode=mode)


@pytest.mark.parametrize('function, shape', tl.SQUARE_CASES,
                         ids=_ids(tl.SQUARE_CASES))
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_matrix_function_second_order(function, shape, mode):
    check_second_order(function, tl.general(shape), mode=mode)


@pytest.mark.parametrize('a_shape, b_shape', tl.SOLVE_PARAMS)
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_solve_second_order(a_shape, b_shape, mode):
    b = np.random.default_rng(5).uniform(-1.0, 1.0, b_shape)
    check_second_order(tl.solve, tl.general(a_shape), b, mode=mode)


@pytest.mark.parametrize('function', [tl.lstsq_solution, tl.lstsq_residuals,
                                      tl.lstsq_singular_values, tl.lstsq_all],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_lstsq_second_order(function, mode):
    b = np.random.default_rng(5).uniform(-1.0, 1.0, (5, 2))
    check_second_order(function, tl.general((5, 3)), b, mode=mode)


@pytest.mark.parametrize(
    'shape, ord, axis, keepdims', tl.NORM_CASES,
    ids=[f'{"x".join(map(str, s))}-ord={o}-axis={a}{"-keepdims" if k else ""}'
         for s, o, a, k in tl.NORM_CASES])
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_norm_second_order(shape, ord, axis, keepdims, mode):
    x = np.random.default_rng(3).uniform(-2.0, 2.0, shape)
    check_second_order(tl.norm, x, (ord, axis, keepdims), mode=mode)


@pytest.mark.parametrize('shape', [(3, 3), (2, 3, 3)],
                         ids=['3x3', '2x3x3'])
@pytest.mark.parametrize('function', tl.SYMMETRIC_FUNCTIONS,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_symmetric_matrix_function_second_order(function, shape, mode):
    check_second_order(function, tl.positive_definite(shape), mode=mode)


@pytest.mark.parametrize('function', [tl.eig_values, tl.eigvals,
                                      tl.eig_vectors, tl.eig_vector_parts],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('a', [
    pytest.param(tl.general((3, 3)), id='real-eigenvalues'),
    pytest.param(tl.rotation_like(), id='complex-eigenvalues'),
])
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_eig_second_order(function, a, mode):
    check_second_order(function, a, mode=mode)


@pytest.mark.parametrize('shape', [(3, 3), (4, 2), (2, 4), (2, 3, 2)],
                         ids=['3x3', '4x2', '2x4', '2x3x2'])
@pytest.mark.parametrize('function', tl.DECOMPOSITIONS,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_decomposition_second_order(function, shape, mode):
    check_second_order(function, tl.general(shape, seed=2), mode=mode)


@pytest.mark.parametrize('function, shape', test_rules_fft.REAL_INPUT_CASES,
                         ids=_ids(test_rules_fft.REAL_INPUT_CASES))
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_fft_second_order(function, shape, mode):
    check_second_order(function, sample(shape), mode=mode)


@pytest.mark.parametrize(
    'function, x_shape, y_shape', tl.ARRAY_API_CASES,
    ids=_ids(tl.ARRAY_API_CASES))
@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_array_api_function_second_order(function, x_shape, y_shape, mode):
    rng = np.random.default_rng(7)
    check_second_order(function, rng.uniform(-1.0, 1.0, x_shape),
                       rng.uniform(-1.0, 1.0, y_shape), mode=mode)


# Products of vectors, matrices and stacks. The second derivatives multiply
# the cotangent of a product's adjoint by a factor again, where a vector
# operand's cotangent carries the stack of the other operand in front.

def squared_matmul(x, y, w):
    return np.sum(w * (x @ y) ** 2)


def squared_dot(x, y, w):
    return np.sum(w * np.dot(x, y) ** 2)


_MATMUL_SHAPES = test_rules.PRODUCT_SHAPES + test_rules.MATMUL_ONLY_SHAPES
_DOT_SHAPES = test_rules.PRODUCT_SHAPES + test_rules.DOT_ONLY_SHAPES


def _product_params():
    params = []
    for functions, shapes in (
            ((test_rules.np_matmul, test_rules.op_matmul, squared_matmul),
             _MATMUL_SHAPES),
            ((test_rules.np_dot, test_rules.method_dot, squared_dot),
             _DOT_SHAPES)):
        for function in functions:
            for shape in shapes:
                for mode in COMPOSITIONS:
                    # x.dot(y) is a method call dispatched at run time.
                    params.append(pytest.param(
                        function, *shape.values, mode,
                        id=f'{function.__name__}-{shape.id}-{mode}'))
    return params


@pytest.mark.parametrize('function, x_shape, y_shape, mode',
                         _product_params())
def test_matmul_and_dot_second_order(function, x_shape, y_shape, mode):
    check_second_order(function, sample(x_shape, seed=1),
                       sample(y_shape, seed=2), mode=mode)


_STACK = np.arange(18.0).reshape(2, 3, 3) / 10.0


def vector_times_stack(x):
    return np.sum((x @ _STACK) ** 2)


def stack_times_vector(x):
    return np.sum((_STACK @ x) ** 2)


@pytest.mark.parametrize('mode', COMPOSITIONS)
@pytest.mark.parametrize('function, hessian', [
    (vector_times_stack, 2 * sum(b @ b.T for b in _STACK)),
    (stack_times_vector, 2 * sum(b.T @ b for b in _STACK)),
], ids=['vector-stack', 'stack-vector'])
def test_vector_and_stack_hvp_is_exact(function, hessian, mode):
    x = np.array([0.5, -1.0, 2.0])
    for direction in np.eye(3):
        product = adcompiler.hvp(function, mode=mode)(x, direction)
        np.testing.assert_allclose(product, hessian @ direction, rtol=1e-12)


# Rules of test_rules_numpy outside its tables: constructors, options,
# selections and casts, in all three compositions.

@pytest.mark.parametrize('mode', COMPOSITIONS)
@pytest.mark.parametrize('function, start_shape, stop_shape',
                         tn.LINSPACE_CASES, ids=_ids(tn.LINSPACE_CASES))
def test_linspace_second_order(function, start_shape, stop_shape, mode):
    check_second_order(function, sample(start_shape, seed=1),
                       sample(stop_shape, seed=2), mode=mode)


@pytest.mark.parametrize('mode', COMPOSITIONS)
def test_nan_to_num_second_order(mode):
    check_second_order(tn.np_nan_to_num, tn.NON_FINITE, mode=mode)
    check_second_order(tn.np_nan_to_num_values, tn.NON_FINITE, 0.5, 3.0,
                       -3.0, mode=mode)


@pytest.mark.parametrize('mode', COMPOSITIONS)
@pytest.mark.parametrize('function', [
    tn.np_pad, tn.np_pad_edge, tn.np_pad_reflect, tn.np_pad_symmetric,
    tn.np_pad_wrap, tn.method_astype_float, tn.method_astype_complex,
    tn.ASTYPE_CASE, tn.method_astype_bool], ids=lambda f: f.__name__)
def test_pad_and_astype_second_order(function, mode):
    check_second_order(function, sample((2, 3)), mode=mode)


@pytest.mark.parametrize('mode', COMPOSITIONS)
@pytest.mark.parametrize('y_shape', [(2, 3), (3,), ()],
                         ids=['matrix', 'vector', 'float'])
def test_select_second_order(y_shape, mode):
    check_second_order(tn.np_select, tn.XS, sample(y_shape), mode=mode)
    check_second_order(tn.np_select_default, tn.XS, sample(y_shape),
                       sample((3,), seed=4), mode=mode)


def prod_of_broadcast_arrays(x, w):
    return np.sum(w * np.prod(np.broadcast_arrays(x[:, None], x[None, :] ** 2),
                              axis=0))


def prod_of_meshgrid(x, w):
    return np.sum(w * np.prod(np.meshgrid(x, x[:2] ** 2), axis=0))


@pytest.mark.parametrize('mode', COMPOSITIONS)
@pytest.mark.parametrize('function', [prod_of_broadcast_arrays,
                                      prod_of_meshgrid],
                         ids=lambda f: f.__name__)
def test_reduced_array_tuple_second_order(function, mode):
    """np.prod turned the tuple of arrays into one array, and the second
    order adjoint rebuilt its tangent with np.ndarray(items), a bare
    TypeError in reverse over reverse."""
    check_second_order(function, sample((3,)), mode=mode)


# Signatures that the generated objectives (the gradient and the tangent
# functions that hvp and grad of grad differentiate again) must reproduce.

MODES = [None] + [c.value for c in adcompiler.Composition]


def hessian_by_differences(function, x, **kwargs):
    """Central differences of the gradient, one row per component of x."""
    gradient = adcompiler.grad(function)
    return np.array([
        numerical_gradient(lambda y: gradient(y, **kwargs)[row], (x,), 0)
        for row in range(x.size)])


CUBE_LAMBDA = lambda t: np.sum(t ** 3)  # noqa: E731


@pytest.mark.parametrize('mode', MODES)
def test_lambda_hessian_and_hvp(mode):
    x = np.array([0.5, -1.2, 2.0])
    expected = hessian_by_differences(CUBE_LAMBDA, x)
    assert_gradient_close(adcompiler.hessian(CUBE_LAMBDA, mode=mode)(x),
                          expected)
    direction = np.array([1.0, 0.5, -0.3])
    assert_gradient_close(adcompiler.hvp(CUBE_LAMBDA, mode=mode)(x, direction),
                          expected @ direction)


def test_lambda_check_grads_second_order():
    adcompiler.check_grads(CUBE_LAMBDA, order=2)(np.array([0.5, -1.2, 2.0]))


def test_lambda_grad_of_grad():
    second = adcompiler.grad(adcompiler.grad(lambda s: s ** 4 * np.sin(s)))
    s = 0.7
    expected = 12 * s ** 2 * np.sin(s) + 8 * s ** 3 * np.cos(s) \
        - s ** 4 * np.sin(s)
    assert second(s) == pytest.approx(expected, rel=1e-10)


def scaled_cube(x, *, scale=2.0):
    return np.sum(scale * x ** 3)


def weighted_cubes(x, *weights, offset=0.0, **options):
    total = options.get('bias', 0.0) + offset
    for w in weights:
        total = total + np.sum(w * x ** 3)
    return total


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('kwargs', [{}, {'scale': -0.5}],
                         ids=['default', 'given'])
def test_keyword_only_parameter_hvp(mode, kwargs):
    x = np.array([0.5, -1.2, 2.0])
    direction = np.array([1.0, 0.5, -0.3])
    expected = hessian_by_differences(scaled_cube, x, **kwargs) @ direction
    product = adcompiler.hvp(scaled_cube, mode=mode)(x, direction, **kwargs)
    assert_gradient_close(product, expected)


@pytest.mark.parametrize('mode', MODES)
def test_varargs_and_keywords_hessian(mode):
    x = np.array([0.5, -1.2])
    expected = hessian_by_differences(
        lambda y: weighted_cubes(y, 2.0, 0.5, offset=1.0, bias=3.0), x)
    hessian = adcompiler.hessian(weighted_cubes, mode=mode)(
        x, 2.0, 0.5, offset=1.0, bias=3.0)
    assert_gradient_close(hessian, expected)


def scalar_with_keyword(s, *, power=3.0, direction=1.0):
    return direction * s ** power


def test_grad_of_grad_with_keyword_named_direction():
    second = adcompiler.grad(adcompiler.grad(scalar_with_keyword))
    assert second(0.7, power=4.0, direction=2.0) == pytest.approx(
        2.0 * 12.0 * 0.7 ** 2)
    assert second(0.7) == pytest.approx(6.0 * 0.7)


def first_cube(x):
    return x[:1] ** 3


def cubes(x):
    return x ** 3


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('function, shape', [
    (first_cube, (1,)), (cubes, (3,))], ids=['shape-1', 'shape-3'])
def test_hvp_of_vector_output_names_function(function, shape, mode):
    with pytest.raises(adcompiler.NonScalarOutputError) as info:
        adcompiler.hvp(function, mode=mode)(np.ones(3), np.ones(3))
    message = str(info.value)
    assert message.startswith(f'{function.__name__} returned')
    assert f'shape {shape}' in message
    assert 'tangent_of' not in message
    assert 'gradient_of' not in message


def test_grad_of_grad_of_vector_output_names_function():
    second = adcompiler.grad(adcompiler.grad(lambda s: np.array([s, s]) ** 3))
    with pytest.raises(adcompiler.NonScalarOutputError,
                       match=r'^<lambda> returned an array of shape \(2,\)'):
        second(0.5)


def outer_by_comprehension(x):
    rows = np.array([[x[i] * x[j] for j in range(3)] for i in range(3)])
    return np.sum(rows ** 2)


def triangle_by_comprehension(x):
    rows = [[x[i] * np.sin(x[j]) for j in range(i + 1)] for i in range(3)]
    total = 0.0
    for row in rows:
        total = total + np.sum(np.array(row)) ** 2
    return total


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('function', [outer_by_comprehension,
                                      triangle_by_comprehension],
                         ids=lambda f: f.__name__)
def test_nested_comprehension_hvp(function, mode):
    x = np.array([0.5, -1.2, 2.0])
    direction = np.array([1.0, 0.5, -0.3])
    expected = hessian_by_differences(function, x) @ direction
    product = adcompiler.hvp(function, mode=mode)(x, direction)
    assert_gradient_close(product, expected, rtol=1e-5, atol=1e-5)


# Symbolic zeros: an adjoint that no use of a value reached is None, never a
# built zero. A partial that is infinite where the value is not used (sqrt,
# log and 1/x at 0, sqrt of a negative) then cannot turn it into nan.

def sqrt_in_untaken_branch(x, flag):
    z = np.sqrt(x)
    if flag:
        return np.sum(z)
    return np.sum(x ** 2)


def log_in_untaken_branch(x, flag):
    z = np.log(x)
    if flag:
        return np.sum(z)
    return np.sum(x ** 2)


def reciprocal_in_untaken_branch(x, flag):
    z = 1.0 / x
    if flag:
        return np.sum(z)
    return np.sum(x ** 2)


def _sum_if(flag, used, other):
    if flag:
        return np.sum(used)
    return np.sum(other ** 2)


def sqrt_passed_to_unused_parameter(x, flag):
    return _sum_if(flag, np.sqrt(x), x)


def sqrt_unpacked_and_unused(x, flag):
    pair = (np.sqrt(x), x)
    root, same = pair
    if flag:
        return np.sum(root)
    return np.sum(same ** 2)


def _sum_of_squares(used, unused):
    return np.sum(used ** 2)


def sqrt_passed_without_control_flow(x, flag):
    return _sum_of_squares(x, np.sqrt(x))


UNTAKEN_BRANCHES = [sqrt_in_untaken_branch, log_in_untaken_branch,
                    reciprocal_in_untaken_branch,
                    sqrt_passed_to_unused_parameter, sqrt_unpacked_and_unused,
                    sqrt_passed_without_control_flow]

# Zeros and negatives: the partial of z is infinite or nan at each entry.
AT_SINGULARITIES = np.array([0.0, -1.5, 0.0, -0.25])


def _gradient_differences_along(function, x, direction, step=1e-6):
    """Central differences of the first derivative of `function(x, False)`
    along `direction`."""
    gradient = adcompiler.grad(function)
    with np.errstate(divide='ignore', invalid='ignore'):
        return (gradient(x + step * direction, False)
                - gradient(x - step * direction, False)) / (2 * step)


@pytest.mark.parametrize('function', UNTAKEN_BRANCHES,
                         ids=lambda f: f.__name__)
def test_untaken_branch_gradient_is_finite(function):
    x = AT_SINGULARITIES.copy()
    with np.errstate(divide='ignore', invalid='ignore'):
        gradient = adcompiler.grad(function)(x, False)
        expected = numerical_gradient(function, (x, False), 0)
    assert_gradient_close(gradient, expected)


@pytest.mark.parametrize('mode', [c.value for c in adcompiler.Composition])
@pytest.mark.parametrize('function', UNTAKEN_BRANCHES,
                         ids=lambda f: f.__name__)
def test_untaken_branch_hvp_matches_gradient_differences(function, mode):
    x = AT_SINGULARITIES.copy()
    direction = np.array([0.5, -1.0, 2.0, 0.25])
    expected = _gradient_differences_along(function, x, direction)
    with np.errstate(divide='ignore', invalid='ignore'):
        product = adcompiler.hvp(function, mode=mode)(x, False, direction)
    assert_gradient_close(product, expected)


@pytest.mark.parametrize('mode', [c.value for c in adcompiler.Composition])
@pytest.mark.parametrize('function', UNTAKEN_BRANCHES,
                         ids=lambda f: f.__name__)
def test_untaken_branch_hessian_is_exact(function, mode):
    # Every function is sum(x ** 2) where flag is False: its Hessian is 2 I.
    with np.errstate(divide='ignore', invalid='ignore'):
        hessian = adcompiler.hessian(function, mode=mode)(
            AT_SINGULARITIES.copy(), False)
    np.testing.assert_array_equal(hessian, 2.0 * np.eye(4))


@pytest.mark.parametrize('mode', [c.value for c in adcompiler.Composition])
@pytest.mark.parametrize('function', UNTAKEN_BRANCHES[:5],
                         ids=lambda f: f.__name__)
def test_taken_branch_hessian_is_unchanged(function, mode):
    # Where the branch with the singular function runs, at points where it
    # is smooth, the Hessian is that function's.
    x = np.array([0.7, 1.3, 2.2])
    expected = hessian_by_differences(lambda y: function(y, True), x)
    hessian = adcompiler.hessian(function, mode=mode)(x, True)
    assert_gradient_close(hessian, expected, rtol=1e-5, atol=1e-5)


def cubic_sine(x):
    return np.sum(x ** 3 * np.sin(x))


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('dtype', [np.float32, np.float16, np.float64],
                         ids=lambda d: d.__name__)
def test_hessian_keeps_input_dtype(dtype, mode):
    x = np.array([0.5, -1.0, 2.0])
    hessian = adcompiler.hessian(cubic_sine, mode=mode)(x.astype(dtype))
    assert hessian.dtype == dtype
    expected = adcompiler.hessian(cubic_sine, mode=mode)(x)
    tolerance = 10 * np.finfo(dtype).eps
    np.testing.assert_allclose(hessian, expected, rtol=tolerance,
                               atol=tolerance * np.max(np.abs(expected)))


@pytest.mark.parametrize('mode', MODES)
def test_hessian_of_float32_scalar_keeps_dtype(mode):
    hessian = adcompiler.hessian(cubic_sine, mode=mode)(np.float32(0.5))
    assert hessian.dtype == np.float32
    assert hessian.shape == ()
    expected = 6 * 0.5 * np.sin(0.5) + 6 * 0.25 * np.cos(0.5) - (
        0.125 * np.sin(0.5))
    assert float(hessian) == pytest.approx(expected, rel=1e-6)


# Rules whose generated adjoints reverse mode goes through again.

def outer_squares(x, y):
    return np.sum(np.outer(x, y) ** 2) + np.sum(np.outer(x, x) * 0.5)


def linalg_outer_sine(x, y):
    return np.sum(np.sin(np.linalg.outer(x, y)))


def product_of_items(x, y):
    return math.prod([x[0], y[1], x[2] * y[0]], start=1.5) ** 2


def product_of_rows(x, y):
    return np.sum(math.prod([x, y, x * y]))


@pytest.mark.parametrize('mode', [c.value for c in adcompiler.Composition])
@pytest.mark.parametrize('function, x_shape, y_shape', [
    (outer_squares, (3,), (2,)),
    (outer_squares, (2, 2), (3,)),
    pytest.param(linalg_outer_sine, (3,), (4,), marks=pytest.mark.skipif(
        not hasattr(np.linalg, 'outer'),
        reason=f'NumPy {np.__version__} has no np.linalg.outer (new in 2.0)')),
    (product_of_items, (3,), (2,)),
    (product_of_rows, (3,), (3,)),
], ids=lambda value: getattr(value, '__name__', None))
def test_rule_hvp_in_every_mode(function, x_shape, y_shape, mode):
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=x_shape), rng.normal(size=y_shape)
    for position, wrt in enumerate(('x', 'y')):
        args = [x, y]
        direction = rng.normal(size=np.shape(args[position]))
        gradient = adcompiler.grad(function, wrt=wrt)

        def along(epsilon, position=position, direction=direction):
            moved = list(args)
            moved[position] = moved[position] + epsilon * direction
            return gradient(*moved)

        expected = (along(1e-6) - along(-1e-6)) / 2e-6
        product = adcompiler.hvp(function, wrt=wrt, mode=mode)(x, y,
                                                               direction)
        assert_gradient_close(product, expected, rtol=1e-5, atol=1e-5)


# Errors of second derivatives point at the user's line and call, not at
# the generated code or the runtime helper that cannot be differentiated.
# Reverse mode does not go through the adjoint of a call dispatched at run
# time (a method of an argument, a function value).

def _cube(v):
    return v ** 3


def calls_function_value(x, f):
    h = np.sin(x)
    return np.sum(f(h) * 2.0)


def dispatched_in_branch(x, f, flag):
    y = x * 2.0
    if flag:
        y = f(y)
    return np.sum(y ** 2)


def _line_of(function, text):
    """Return the file line number and the line of `function` with `text`."""
    lines, first = inspect.getsourcelines(function)
    for offset, line in enumerate(lines):
        if text in line:
            return first + offset, line
    raise AssertionError(f'{text!r} is not in {function.__name__}')


def _power(v, p=3.0):
    return v ** p


def calls_function_value_with_options(x, f, options):
    h = np.sin(x)
    return np.sum(f(h, **options) * 2.0)


def test_second_order_error_points_at_user_call():
    # Reverse over reverse does not go through a call with **mapping
    # that runs at run time.
    x = np.array([0.5, -1.2, 2.0])
    function = calls_function_value_with_options
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as raised:
        adcompiler.hvp(function, mode='reverse-over-reverse')(
            x, _power, {'p': 3.0}, np.ones(3))
    error = raised.value
    lineno, line = _line_of(function, 'f(h, **options)')
    assert error.filename == __file__
    assert error.lineno == lineno
    assert error.location.col_offset == line.index('f(h, **options)')
    assert error.location.function_name == function.__name__
    assert error.summary == ('cannot differentiate the derivative of '
                             'f(h, **options) again')
    # The generated code that failed stays in the message as a detail.
    assert any(detail.startswith('File "<adcompiler ')
               for detail in error.details)
    assert any('call_unpacking' in detail for detail in error.details)


def _cube_by_loop(v):
    result = v
    for _ in range(2):
        result = result * v
    return result


def test_reverse_over_reverse_through_function_value():
    x = np.array([0.5, -1.2, 2.0])
    direction = np.array([1.0, 0.5, -0.3])
    product = adcompiler.hvp(calls_function_value,
                             mode='reverse-over-reverse')(x, _cube, direction)
    expected = adcompiler.hvp(calls_function_value,
                              mode='forward-over-reverse')(x, _cube,
                                                           direction)
    np.testing.assert_allclose(product, expected, rtol=1e-12)
    # d/dx 2 sin(x)^3 = 6 sin^2 cos, whose derivative is
    # 12 sin cos^2 - 6 sin^3.
    s, c = np.sin(x), np.cos(x)
    np.testing.assert_allclose(product, (12 * s * c ** 2 - 6 * s ** 3)
                               * direction, rtol=1e-12)


def test_reverse_over_reverse_through_looping_callee_raises():
    x = np.array([0.5, -1.2, 2.0])
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='keeps a tape') as raised:
        adcompiler.hvp(calls_function_value, mode='reverse-over-reverse')(
            x, _cube_by_loop, np.ones(3))
    lineno, line = _line_of(calls_function_value, 'f(h)')
    assert raised.value.lineno == lineno
    assert raised.value.location.col_offset == line.index('f(h)')


def through_pad_tail(x):
    return np.sum(rt.pad_tail([x], [x, x], 1)[0] ** 2)


def test_helper_through_its_source_differentiates():
    # pad_tail has no reverse rule, so reverse mode transforms its source,
    # which calls list().
    x = np.array([0.5, -1.2])
    assert_gradient_close(adcompiler.grad(through_pad_tail)(x),
                          numerical_gradient(through_pad_tail, (x,), 0))


def differences_helper(g):
    """A stand-in for a runtime helper with only a forward rule, whose
    source calls np.trim_zeros, which has no rule."""
    return np.trim_zeros(g)


differences_helper.__module__ = 'adcompiler.runtime'
adcompiler.rules.REGISTRY.linear_adjoint_helper(differences_helper, ('g',))


def through_differences_helper(x):
    return np.sum(differences_helper(x) ** 2)


def test_error_inside_helper_points_at_its_call():
    with pytest.raises(adcompiler.ForeignCallError) as raised:
        adcompiler.grad(through_differences_helper)(np.array([0.5, -1.2]))
    error = raised.value
    lineno, line = _line_of(through_differences_helper,
                            'np.sum(differences_helper(')
    assert error.filename == __file__
    assert error.lineno == lineno
    assert error.location.col_offset == line.index('differences_helper(')
    assert error.summary == ('cannot differentiate the adcompiler helper '
                             'differences_helper')
    assert error.details[0] == ('In the adcompiler helper '
                                'differences_helper:')
    assert error.details[1].startswith(f'File "{__file__}"')
    assert 'numpy.trim_zeros' in error.details[2]


def test_deferred_error_points_at_user_line():
    # The call is in a branch: an error is raised only when the branch runs.
    x = np.array([0.5, -1.2, 2.0])
    direction = np.array([1.0, 0.3, -0.7])
    untaken = adcompiler.hvp(dispatched_in_branch, mode='reverse-over-reverse')(
        x, _cube, False, direction)
    np.testing.assert_allclose(untaken, 8.0 * direction)
    taken = adcompiler.hvp(dispatched_in_branch, mode='reverse-over-reverse')(
        x, _cube, True, direction)
    # sum((2 x)^6) has the Hessian diag(1920 x^4).
    np.testing.assert_allclose(taken, 1920.0 * x ** 4 * direction,
                               rtol=1e-12)
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='keeps a tape') as raised:
        adcompiler.hvp(dispatched_in_branch, mode='reverse-over-reverse')(
            x, _cube_by_loop, True, direction)
    error = raised.value
    lineno, line = _line_of(dispatched_in_branch, 'y = f(y)')
    assert error.filename == __file__
    assert error.lineno == lineno
    assert error.location.col_offset == line.index('f(y)')


# Views of arrays that are updated later: the generated primal keeps them,
# and its adjoint restores each update before it reads them.

def shifted_updates_in_loop(x):
    y = x * 1.0
    for k in range(3):
        y[1:] += y[:-1] * y[1:] * 0.5
        y[:2] = y[:2] * y[-2:]
    return np.sum(y ** 2)


def matrix_rows_updated(x):
    m = np.outer(x, x[::-1]) * 0.3
    for i in range(1, 3):
        m[i] = m[i] * m[i - 1] + m[:, i]
    m[:, 0] += np.sin(m[:, 1])
    return np.sum(m * m)


def reversed_view_update(x):
    y = np.concatenate([x, x ** 2])
    y[::-1] = y * 2.0 + y[::-1]
    y[2:5] *= y[1:4]
    return np.sum(np.exp(y * 0.1))


@pytest.mark.parametrize('mode', [c.value for c in adcompiler.Composition])
@pytest.mark.parametrize('function', [shifted_updates_in_loop,
                                      matrix_rows_updated,
                                      reversed_view_update],
                         ids=lambda f: f.__name__)
def test_updated_views_hvp_in_every_mode(function, mode):
    x = np.array([0.5, -1.2, 2.0, 0.7])
    direction = np.array([0.3, 1.0, -0.6, 0.2])
    gradient = adcompiler.grad(function)
    expected = (gradient(x + 1e-6 * direction)
                - gradient(x - 1e-6 * direction)) / 2e-6
    product = adcompiler.hvp(function, mode=mode)(x, direction)
    assert_gradient_close(product, expected)


# Lists changed by insert and pop: the generated adjoint undoes each change,
# and reverse mode over it redoes them.

def insert_at_several_places(x):
    values = [x[0], x[1] * x[2]]
    values.insert(1, np.sin(x[2]))
    values.insert(-1, x[0] * x[1])
    values.insert(10, x[2] ** 2)
    total = 0.0
    for position, v in enumerate(values):
        total = total + (position + 1.0) * v ** 2
    return total


def pops_in_loop(x):
    values = [x[0], x[1] ** 2, x[2] * x[0], np.cos(x[1])]
    total = 0.0
    while len(values) > 1:
        last = values.pop()
        first = values.pop(0)
        total = total + last * first
        values.append(last * 0.5)
    return total + values[0] ** 3


def pop_from_dict(x):
    table = {'a': x[0] * x[1], 'b': np.exp(x[2]), 'c': x[1]}
    taken = table.pop('b')
    return taken * table['a'] + table['c'] ** 3


@pytest.mark.parametrize('mode', [c.value for c in adcompiler.Composition])
@pytest.mark.parametrize('function', [insert_at_several_places, pops_in_loop,
                                      pop_from_dict],
                         ids=lambda f: f.__name__)
def test_list_updates_hvp_in_every_mode(function, mode):
    x = np.array([0.5, -1.2, 0.8])
    direction = np.array([0.3, 1.0, -0.6])
    gradient = adcompiler.grad(function)
    expected = (gradient(x + 1e-6 * direction)
                - gradient(x - 1e-6 * direction)) / 2e-6
    product = adcompiler.hvp(function, mode=mode)(x, direction)
    assert_gradient_close(product, expected)


# Reverse over reverse through the rules: generated adjoints call helpers
# that have a transpose, or whose source reverse mode transforms.

def check_reverse_over_reverse(function, *args):
    """Compare hvp in reverse-over-reverse mode along a random direction for
    each argument with central differences of the gradient."""
    args = args + (test_rules.weights_for(function, args),)
    positions = [i for i, a in enumerate(args) if test_rules._is_float(a)]
    rng = np.random.default_rng(13)
    names = list(inspect.signature(function).parameters)
    for position in positions[:-1]:
        direction = rng.normal(size=np.shape(args[position]))
        directions = [None] * len(args)
        directions[position] = direction
        gradient = adcompiler.grad(function, wrt=position)
        expected = directional_difference(gradient, args, directions,
                                          step=1e-5)
        product = adcompiler.hvp(function, wrt=names[position],
                                 mode='reverse-over-reverse')(*args,
                                                              direction)
        np.testing.assert_allclose(np.asarray(product, dtype=float),
                                   expected, rtol=1e-4, atol=1e-5)


_REVERSE_OVER_REVERSE_RULES = (
    [pytest.param(f, (sample(x, seed=1), sample(y, seed=2)),
                  id=f'{f.__name__}-{x}-{y}')
     for f, x, y in tn.PRODUCT_CASES]
    + [pytest.param(f, (tl.general(shape),), id=f'{f.__name__}-{shape}')
       for f, shape in tl.SQUARE_CASES]
    + [pytest.param(f, (tl.positive_definite((3, 3)),), id=f.__name__)
       for f in tl.SYMMETRIC_FUNCTIONS]
    + [pytest.param(f, (tl.general((3, 3)),), id=f.__name__)
       for f in (tl.eig_values, tl.eigvals, tl.eig_vectors)]
    + [pytest.param(f, (tl.general(shape, seed=2),),
                    id=f'{f.__name__}-{shape}')
       for f in tl.DECOMPOSITIONS for shape in ((3, 3), (4, 2))])


@pytest.mark.parametrize('function, args', _REVERSE_OVER_REVERSE_RULES)
def test_rule_reverse_over_reverse(function, args):
    check_reverse_over_reverse(function, *args)


# Mixed second derivatives through calls resolved at run time: the
# derivative with respect to an argument that the inner derivative did not
# ask for, a method's receiver or a function's argument.

def receiver_dot(x, y):
    return np.sum(np.sin(x.dot(y)))


def _sine_of_product(a, b):
    return np.sin(a * b)


_FUNCTIONS = [_sine_of_product]


def held_function(x, y):
    function = _FUNCTIONS[0]
    return np.sum(function(x, y) ** 2)


def held_function_of_list(x, y):
    function = _FUNCTIONS[0]
    arguments = [x]
    arguments.append(y)
    return np.sum(function(*arguments) ** 2)


@pytest.mark.parametrize('function', [receiver_dot, held_function,
                                      held_function_of_list],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward'])
def test_mixed_partial_through_dispatched_call(function, mode):
    x = np.array([[0.3, 0.7], [0.1, -0.4]])
    y = np.array([0.5, -1.2])
    if function is not receiver_dot:
        x = x[0]
    direction = np.random.default_rng(5).normal(size=np.shape(x))
    gradient = adcompiler.grad(function, wrt=1)
    expected = (gradient(x + 1e-6 * direction, y)
                - gradient(x - 1e-6 * direction, y)) / 2e-6
    if mode == 'forward-over-reverse':
        objective = gradient_objective(function, 'y')
        _, product = adcompiler.jvp(objective, (x, y), (direction, None))
    else:
        objective = adcompiler.api.tangent_objective(function, 'x')
        product = adcompiler.grad(objective, wrt=1)(x, y,
                                                    direction=direction)
    assert_gradient_close(product, expected)


def test_grad_of_grad_through_held_function():
    mixed = adcompiler.grad(adcompiler.grad(held_function, wrt=1), wrt=0)
    inner = adcompiler.grad(held_function, wrt=1)
    expected = (inner(0.3 + 1e-6, 0.5) - inner(0.3 - 1e-6, 0.5)) / 2e-6
    assert mixed(0.3, 0.5) == pytest.approx(expected, rel=1e-7)


# Third and fourth derivatives: grad of grad of grad, against central
# differences of the derivative one order lower.

def powers_summed(t):
    xs = [t]
    for i in range(3):
        xs.append(xs[-1] * t + 1.0)
    return sum(xs)


def exp_of_sine(t):
    return np.exp(np.sin(t))


def log_ratio(t):
    return math.log(1.0 + t * t) / (2.0 + t)


def padded_sum(t):
    return np.sum(np.pad(np.array([t, t * t]), 1, mode='edge') ** 2)


@pytest.mark.parametrize('function', [powers_summed, exp_of_sine, log_ratio,
                                      padded_sum],
                         ids=lambda f: f.__name__)
def test_third_and_fourth_derivatives(function):
    second = adcompiler.grad(adcompiler.grad(function))
    third = adcompiler.grad(second)
    fourth = adcompiler.grad(third)
    for t in (0.8, -0.3):
        assert third(t) == pytest.approx(
            (second(t + 1e-5) - second(t - 1e-5)) / 2e-5, rel=1e-6, abs=1e-7)
        assert fourth(t) == pytest.approx(
            (third(t + 1e-5) - third(t - 1e-5)) / 2e-5, rel=1e-6, abs=1e-7)


def test_third_derivative_of_list_sum_is_exact():
    # powers_summed(t) = 3 + 3t + 2t^2 + t^3 + t^4 on expanding the list.
    third = adcompiler.grad(adcompiler.grad(adcompiler.grad(powers_summed)))
    assert third(0.8) == pytest.approx(6.0 + 24.0 * 0.8, rel=1e-12)


def objective(x):
    return np.sum(np.tanh(x) ** 2)


def wrapper(x):
    return np.sum(np.sin(x) * x)


@pytest.mark.parametrize('function', [objective, wrapper])
def test_function_named_like_generated_code_hessian(function):
    """A function named `objective` got a generated file name that
    adcompiler's own objective modules also used (each kind had its own
    counter), so forward mode read the wrong source and raised
    SourceUnavailableError."""
    x = np.array([0.3, -0.8, 1.1])
    gradient = adcompiler.grad(function)
    step = 1e-5
    expected = np.array([(gradient(x + step * e) - gradient(x - step * e))
                         / (2 * step) for e in np.eye(3)])
    np.testing.assert_allclose(adcompiler.hessian(function)(x), expected,
                               rtol=1e-6, atol=1e-8)


# A callable object reached through a call resolved at run time: when its
# class has a property, arithmetic on its attributes runs adcompiler's
# operator helpers, whose tape reverse over reverse cannot rebuild. The
# error names that cause, and the other compositions give the Hessian.

class _ScaleWithProperty:
    def __init__(self, w):
        self.w = w

    @property
    def unused(self):
        return 1.0

    def __call__(self, v):
        return self.w * v


class _PlainScale:
    def __init__(self, w):
        self.w = w

    def __call__(self, v):
        return self.w * v


_SCALE_WITH_PROPERTY = _ScaleWithProperty(np.array([1.0, 2.0, 3.0]))
_PLAIN_SCALE = _PlainScale(np.array([1.0, 2.0, 3.0]))


def _scaled_cubes_with_property(x):
    return np.sum(_SCALE_WITH_PROPERTY(x) * x * x)


def _scaled_cubes_plain(x):
    return np.sum(_PLAIN_SCALE(x) * x * x)


_SCALE_X = np.array([0.3, -0.7, 1.2])
_SCALE_HESSIAN = np.diag(6.0 * np.array([1.0, 2.0, 3.0]) * _SCALE_X)


def test_property_class_reverse_over_reverse_error():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as caught:
        adcompiler.hessian(_scaled_cubes_with_property,
                           mode='reverse-over-reverse')(_SCALE_X)
    message = str(caught.value)
    assert 'the class _ScaleWithProperty has a property' in message
    assert "adcompiler's operator helpers" in message
    assert 'make the properties of _ScaleWithProperty methods' in message


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward'])
def test_property_class_hessian_other_modes(mode):
    hessian = adcompiler.hessian(_scaled_cubes_with_property, mode=mode)
    np.testing.assert_allclose(hessian(_SCALE_X), _SCALE_HESSIAN,
                               atol=1e-12)


def test_plain_class_reverse_over_reverse():
    hessian = adcompiler.hessian(_scaled_cubes_plain,
                                 mode='reverse-over-reverse')
    np.testing.assert_allclose(hessian(_SCALE_X), _SCALE_HESSIAN,
                               atol=1e-12)
