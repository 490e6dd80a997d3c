"""The optimizations: same gradients as the plain code, and the code they write.

Every case of the gradient and control-flow tables is compiled twice, with
and without optimization, and the two gradients must agree. Functions that
exercise one optimization are also checked against central differences, on
shapes with and without broadcasting, and their generated source is checked
for what the optimization removes.
"""

import ast
import copy
import inspect
import math
import textwrap
import tracemalloc

import gast
import numpy as np
import pytest

import adcompiler
import test_control_flow
import test_gradients
from adcompiler import (accumulate, cli, compact, optimize, runtime, shapes,
                        shared_calls)
from adcompiler.api import scalar_parameters
from adcompiler.compiler import Compiler
from finite_differences import assert_gradient_close, numerical_gradient

OPTIMIZED = Compiler(optimize=True)
PLAIN = Compiler(optimize=False)


def compiled_gradient(compiler, function, args, wrt, for_scalars=False):
    """Run the primal and adjoint that `compiler` makes for `function`,
    compiled for the float scalar arguments in `args` when `for_scalars`
    is true (as grad does)."""
    names = list(inspect.signature(function).parameters)
    scalar_params = frozenset()
    if for_scalars:
        scalar_params = scalar_parameters(dict(zip(names, args)))
    compiled = compiler.compile(function, tuple(names[i] for i in wrt),
                                scalar_params=scalar_params)
    value, saved = compiled.primal(*copy.deepcopy(args))
    seed = 1.0 if compiled.float_seed else runtime.seed(value)
    return compiled.adjoint(saved, seed)


def assert_right_and_same_gradients(function, args, wrt):
    """Check grad against finite differences, then the optimized against
    the plain code (`assert_same_gradients`); return the gradients."""
    gradients = adcompiler.grad(function, wrt=wrt)(*args)
    for position, gradient in zip(wrt, gradients, strict=True):
        expected = numerical_gradient(function, args, position)
        assert_gradient_close(gradient, expected)
    assert_same_gradients(function, args, wrt)
    return gradients


def assert_same_gradients(function, args, wrt):
    plain = compiled_gradient(PLAIN, function, args, wrt)
    for for_scalars in (False, True):
        optimized = compiled_gradient(OPTIMIZED, function, args, wrt,
                                      for_scalars)
        assert len(optimized) == len(plain)
        for position, (fast, slow) in zip(
                wrt, zip(optimized, plain, strict=True), strict=True):
            fast = runtime.materialize(fast, args[position])
            slow = runtime.materialize(slow, args[position])
            message = f'argument {position}, for scalars: {for_scalars}'
            assert np.shape(fast) == np.shape(slow), message
            np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-14,
                                       err_msg=message)


# The whole corpus, optimized against plain ------------------------------------

GRADIENT_CASES = [case for case in test_gradients.CASES if not case.broken]


@pytest.mark.parametrize('case', GRADIENT_CASES,
                         ids=[f'{c.name}-{c.shape_label()}'
                              for c in GRADIENT_CASES])
def test_gradient_table_optimized_equals_plain(case):
    assert_same_gradients(case.function, case.arguments(0), case.wrt)


CONTROL_FLOW_CASES = [case for case in test_control_flow.CASES
                      if not case.fails]


@pytest.mark.parametrize('case', CONTROL_FLOW_CASES,
                         ids=[c.name for c in CONTROL_FLOW_CASES])
def test_control_flow_table_optimized_equals_plain(case):
    for args in case.inputs:
        assert_same_gradients(case.function, args, case.wrt)


# Unbroadcasting left out where shapes are provably equal ----------------------

def scalar_chain(x, steps):
    for _ in range(steps):
        x = x * 0.99 + np.sin(x) * 0.01
    return x


def vector_chain(x, steps):
    for _ in range(steps):
        x = x * 0.99 + np.sin(x) * 0.01
    return np.sum(x)


def same_shape_sum(x):
    y = np.tanh(x) + np.exp(-x) * 2.0
    return np.sum(y * x)


def abs_plus(x):
    return np.sum(x + np.abs(x) + np.log1p(np.exp(-np.abs(x))))


def broadcast_pair(x, y):
    return np.sum(np.sin(x) + y * x)


def complex_intermediate(x):
    z = x * (1.0 + 2.0j)
    w = z + x
    return np.real(np.sum(w * w))


def complex_argument_mix(x, w):
    z = x + w
    return np.sum(np.real(z * np.conj(z)) + np.imag(z))


def shape_changes_in_loop(x):
    total = 0.0
    for n in range(1, 4):
        a = np.ones(n) * x
        b = np.sin(a)
        total = total + np.sum(a + b)
    return total


def list_grows(x):
    values = [x]
    y = np.sin(x)
    values.append(y)
    z = np.array(values) + y
    return np.sum(z)


def axis_sum(x):
    return np.sum(np.sum(x * 2.0, axis=0) ** 2)


def normal(*shape):
    def make(rng):
        value = rng.normal(size=shape)
        return float(value) if not shape else value
    return make


UNBROADCAST_CASES = [
    ('scalar_chain', scalar_chain, (normal(), lambda rng: 5), (0,)),
    ('vector_chain', vector_chain, (normal(4), lambda rng: 3), (0,)),
    ('same_shape_sum', same_shape_sum, (normal(3, 2),), (0,)),
    ('same_shape_sum_scalar', same_shape_sum, (normal(),), (0,)),
    ('abs_plus', abs_plus, (normal(5),), (0,)),
    ('broadcast_pair_column_row', broadcast_pair,
     (normal(3, 1), normal(4)), (0, 1)),
    ('broadcast_pair_equal', broadcast_pair, (normal(3), normal(3)), (0, 1)),
    ('broadcast_pair_scalar', broadcast_pair, (normal(), normal(2, 3)),
     (0, 1)),
    ('complex_intermediate', complex_intermediate, (normal(4),), (0,)),
    ('complex_argument_mix', complex_argument_mix,
     (normal(3), lambda rng: rng.normal(size=3) + 1j * rng.normal(size=3)),
     (0,)),
    ('shape_changes_in_loop', shape_changes_in_loop, (normal(),), (0,)),
    ('list_grows', list_grows, (normal(),), (0,)),
    ('axis_sum', axis_sum, (normal(3, 2),), (0,)),
]


@pytest.mark.parametrize('name, function, inputs, wrt', UNBROADCAST_CASES,
                         ids=[c[0] for c in UNBROADCAST_CASES])
def test_unbroadcast_cases_match_finite_differences(name, function, inputs,
                                                    wrt):
    rng = np.random.default_rng(0)
    args = tuple(make(rng) for make in inputs)
    assert_right_and_same_gradients(function, args, wrt)


def generated_source(function, wrt=0):
    return adcompiler.source(adcompiler.grad(function, wrt=wrt))


def function_text(source, prefix):
    """Return the text of the generated function whose name starts with
    `prefix`, up to the next function."""
    start = source.index(f'def {prefix}')
    end = source.find('\ndef ', start)
    return source[start:] if end < 0 else source[start:end + 1]


def adjoint_source(function, wrt=0):
    return function_text(generated_source(function, wrt), 'adjoint')


def test_scalar_chain_has_no_unbroadcast():
    assert 'unbroadcast' not in adjoint_source(scalar_chain, wrt='x')


def test_same_shape_sum_has_no_unbroadcast():
    assert 'unbroadcast' not in adjoint_source(same_shape_sum)


def test_real_operand_keeps_only_real_part():
    adjoint = adjoint_source(abs_plus)
    assert 'unbroadcast' not in adjoint
    assert 'np.real(' in adjoint


def test_broadcast_pair_keeps_unbroadcast():
    assert 'unbroadcast' in adjoint_source(broadcast_pair, wrt=('x', 'y'))


def test_complex_constant_keeps_unbroadcast():
    assert 'ad.unbroadcast(dw, x)' in adjoint_source(complex_intermediate)


def test_loop_source_keeps_unbroadcast():
    assert 'unbroadcast' in adjoint_source(shape_changes_in_loop)


def test_sum_over_all_axes_reads_no_shape():
    source = generated_source(abs_plus)
    primal = source[:source.index('def adjoint')]
    assert 'ad.compact_sum_adjoint(dt8, None, None, False)' in source
    # Only values the adjoint computes with are saved, not shapes.
    assert primal.rstrip().endswith(', (x, t5)')


def test_sum_over_an_axis_reads_shape():
    adjoint = adjoint_source(axis_sum)
    assert 'ad.compact_sum_adjoint(dt4, None, None, False)' in adjoint
    assert 'ad.compact_sum_adjoint(dt2, x, 0, False)' in adjoint


def tanh_layers(W1, W2, X):
    return np.sum(np.tanh(X @ W1) @ W2)


@pytest.mark.parametrize('x_shape', [(5, 3), (2, 5, 3), (2, 1, 5, 3)],
                         ids=['matrix', 'stack', 'broadcast-stack'])
def test_matmul_adjoints_without_unbroadcast(x_shape):
    rng = np.random.default_rng(0)
    args = (rng.normal(size=(3, 4)), rng.normal(size=(4, 2)),
            rng.normal(size=x_shape))
    assert_right_and_same_gradients(tanh_layers, args, (0, 1))
    adjoint = adjoint_source(tanh_layers, wrt=('W1', 'W2'))
    assert 'ad.matmul_adjoint_y(' in adjoint
    assert 'unbroadcast' not in adjoint


# None checks decided before the code runs -------------------------------------

def accumulate_in_loop(x, w):
    total = 0.0
    for i in range(4):
        total = total + np.sum(np.sin(x * i) * w)
    return total


def contribution_in_some_trips(x):
    y = 1.0
    for i in range(5):
        if i % 2 == 0:
            y = y * x
        else:
            y = y + 1.0
    return y


def nested_loops(x):
    y = x
    for i in range(3):
        for j in range(2):
            y = np.tanh(y) * 0.5 + y * x
    return np.sum(y)


def while_with_break(x):
    y = x
    n = 0
    while True:
        y = y * 1.1 + np.cos(y)
        n = n + 1
        if n > 3:
            break
    return y


def list_of_adjoints(x):
    parts = [x, x * 2.0]
    y = np.array(parts) * x
    return np.sum(y)


NONE_CHECK_CASES = [
    ('accumulate_in_loop', accumulate_in_loop, (normal(3), normal(3)),
     (0, 1)),
    ('contribution_in_some_trips', contribution_in_some_trips, (normal(),),
     (0,)),
    ('nested_loops_scalar', nested_loops, (normal(),), (0,)),
    ('nested_loops_matrix', nested_loops, (normal(2, 3),), (0,)),
    ('while_with_break', while_with_break, (normal(),), (0,)),
    ('list_of_adjoints', list_of_adjoints, (normal(),), (0,)),
    ('zero_trips', scalar_chain, (normal(), lambda rng: 0), (0,)),
    ('one_trip', scalar_chain, (normal(), lambda rng: 1), (0,)),
]


@pytest.mark.parametrize('name, function, inputs, wrt', NONE_CHECK_CASES,
                         ids=[c[0] for c in NONE_CHECK_CASES])
def test_none_check_cases_match_finite_differences(name, function, inputs,
                                                   wrt):
    rng = np.random.default_rng(1)
    args = tuple(make(rng) for make in inputs)
    assert_right_and_same_gradients(function, args, wrt)


def test_scalar_chain_adds_without_runtime():
    adjoint = adjoint_source(scalar_chain, wrt='x')
    assert 'ad.add' not in adjoint
    assert 'dx + dt1 * 0.99' in adjoint


def test_first_contribution_is_assigned():
    adjoint = adjoint_source(scalar_chain, wrt='x')
    assert 'dt2 = dt3 * 0.01\n' in adjoint
    assert 'dx = dt2 * np.cos(x)\n' in adjoint


def relu_square(x):
    if x < 0.0:
        y = 0.0
    else:
        y = 3.0 * x * x
    return y


def test_dead_reset_removed():
    adjoint = adjoint_source(relu_square)
    # Nothing reads dt2 after the branch, so its reset to None goes.
    assert adjoint.count('dt2 = None') == 1
    assert 'dy = dresult' in adjoint


def test_relu_square_matches_finite_differences():
    for x in (-0.7, 1.3):
        gradient = adcompiler.grad(relu_square)(x)
        assert_gradient_close(gradient,
                              numerical_gradient(relu_square, (x,), 0))
        assert_same_gradients(relu_square, (x,), (0,))


def test_unoptimized_code_keeps_checks():
    source = PLAIN.compile(scalar_chain, ('x',)).module_source
    assert 'ad.add(' in source
    assert 'ad.unbroadcast(' in source


# Temporaries read once are written into the expression that reads them -------

def softplus_sum(x):
    return np.sum(np.log1p(np.exp(-np.abs(x))) + 0.5 * (x + np.abs(x)))


CALL_ORDER = []


def first_term(x):
    CALL_ORDER.append('first')
    return x * 2.0


def second_term(x):
    CALL_ORDER.append('second')
    return np.sin(x)


def two_calls(x):
    return np.sum(first_term(x) * second_term(x))


def reversed_reads(x):
    a = np.sin(x)
    b = np.cos(x)
    return np.sum(b - a)


def test_softplus_primal_keeps_only_saved_temporary():
    source = generated_source(softplus_sum)
    primal = source[:source.index('def adjoint')]
    assert 't3 = np.exp(-np.abs(x))' in primal
    assert primal.count(' = ') == 1


def test_inlined_primal_peaks_lower():
    x = np.random.default_rng(0).normal(size=100_000)
    peaks = []
    for compiler in (OPTIMIZED, PLAIN):
        compiled = compiler.compile(softplus_sum, ('x',))
        tracemalloc.start()
        compiled.primal(x)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # The plain primal keeps all eight temporaries; the inlined one frees
    # each but the saved t3 once it is used.
    assert peaks[0] < 4.5 * x.nbytes
    assert peaks[1] > 7.5 * x.nbytes


def test_inlining_keeps_call_order():
    CALL_ORDER.clear()
    adcompiler.grad(two_calls)(np.array([0.5, 1.0]))
    assert CALL_ORDER == ['first', 'second']


def test_out_of_order_reads_not_inlined():
    source = generated_source(reversed_reads)
    primal = source[:source.index('def adjoint')]
    assert 'np.sin(x)' in primal
    assert primal.index('np.sin(x)') < primal.index('np.cos(x)')


@pytest.mark.parametrize('function, shape', [
    (softplus_sum, (5,)), (softplus_sum, (2, 3)), (two_calls, (4,)),
    (reversed_reads, (3,)), (reversed_reads, ()),
], ids=['softplus-5', 'softplus-2x3', 'two_calls', 'reversed_reads-3',
        'reversed_reads-scalar'])
def test_inlined_functions_match_finite_differences(function, shape):
    x = np.random.default_rng(2).normal(size=shape)
    x = float(x) if not shape else x
    gradient = adcompiler.grad(function)(x)
    assert_gradient_close(gradient, numerical_gradient(function, (x,), 0))
    assert_same_gradients(function, (x,), (0,))


# Values read only for their shape are taped as their shape -------------------

def recurrent_step(W, h0, inputs):
    h = h0
    for t in range(inputs.shape[0]):
        h = np.tanh(inputs[t] @ W + h)
    return np.sum(h ** 2)


def loop_bias(h0, b):
    h = h0
    for _ in range(3):
        c = b * 1.5
        h = np.tanh(h + c)
    return np.sum(h)


def loop_complex_sum(x):
    total = 0.0
    for _ in range(2):
        z = x * (1.0 + 2.0j)
        u = np.sin(x)
        w = u + z
        total = total + np.real(np.sum(w * w))
    return total


def test_recurrent_step_tapes_shapes():
    adjoint = adjoint_source(recurrent_step)
    source = generated_source(recurrent_step)
    assert 'ad.shape_and_kind(' in source
    assert '_shape = tape.pop()' in adjoint


@pytest.mark.parametrize('function, inputs, wrt', [
    (recurrent_step, (normal(3, 4), normal(2, 4), normal(5, 2, 3)), (0, 1)),
    (loop_bias, (normal(3, 4), normal(4)), (0, 1)),
    (loop_bias, (normal(3, 4), normal(1, 4)), (0, 1)),
    (loop_bias, (normal(4), normal()), (0, 1)),
    (loop_complex_sum, (normal(3),), (0,)),
], ids=['recurrent_step', 'loop_bias-row', 'loop_bias-2d-row',
        'loop_bias-scalar', 'loop_complex_sum'])
def test_shape_taped_cases_match_finite_differences(function, inputs, wrt):
    rng = np.random.default_rng(3)
    args = tuple(make(rng) for make in inputs)
    assert_right_and_same_gradients(function, args, wrt)


@pytest.mark.parametrize('value, shape, is_complex', [
    (np.zeros((2, 3)), (2, 3), False), (np.zeros(2, complex), (2,), True),
    (1.5, (), False), (2j, (), True), (np.float32(1.0), (), False),
], ids=['matrix', 'complex-vector', 'float', 'complex', 'float32'])
def test_shape_and_kind_of_values(value, shape, is_complex):
    meta = runtime.shape_and_kind(value)
    assert meta.shape == shape
    assert meta.is_complex == is_complex


def test_shape_and_kind_keeps_containers():
    items = [np.zeros(2), np.zeros(2)]
    assert runtime.shape_and_kind(items) is items


@pytest.mark.parametrize('g, value', [
    (np.ones((3, 4)), np.zeros(4)), (np.ones((3, 4)), np.zeros((3, 1))),
    (np.ones((3, 4)) * (1 + 1j), np.zeros((3, 4))),
    (np.ones((3, 4)) * (1 + 1j), np.zeros((1, 4), complex)),
    (np.ones(3), 0.0), (np.ones((2, 3)), np.zeros((2, 3))),
], ids=['row', 'column', 'complex-to-real', 'complex-row', 'to-scalar',
        'same'])
def test_unbroadcast_to_shape_matches_value(g, value):
    expected = runtime.unbroadcast(g, value)
    result = runtime.unbroadcast(g, runtime.shape_and_kind(value))
    assert np.shape(result) == np.shape(expected)
    assert np.iscomplexobj(result) == np.iscomplexobj(expected)
    np.testing.assert_array_equal(result, expected)


# Second order through the optimized code --------------------------------------

@pytest.mark.parametrize('function, inputs', [
    (loop_bias, (normal(3, 4), normal(4))),
    (same_shape_sum, (normal(3),)),
    (softplus_sum, (normal(4),)),
    (nested_loops, (normal(3),)),
], ids=['loop_bias', 'same_shape_sum', 'softplus_sum', 'nested_loops'])
def test_hvp_matches_gradient_differences(function, inputs):
    rng = np.random.default_rng(4)
    args = tuple(make(rng) for make in inputs)
    v = rng.normal(size=np.shape(args[0]))
    product = adcompiler.hvp(function)(*args, v)
    gradient = adcompiler.grad(function)
    step = 1e-6
    plus = gradient(args[0] + step * v, *args[1:])
    minus = gradient(args[0] - step * v, *args[1:])
    assert_gradient_close(product, (plus - minus) / (2 * step), rtol=1e-4,
                          atol=1e-5)


# Index adjoints added in place; shapes saved in place of arrays ---------------

def chained_slices(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def repeated_fancy_index(x):
    first = x[np.array([0, 2, 2])]
    second = x[np.array([1, 2, 0, 0])]
    return np.sum(np.sin(first)) + np.sum(second ** 2)


def complex_slice_term(x):
    a = x[1:] * (1.0 + 1.0j)
    b = x[:-1]
    return np.real(np.sum(a * a)) + np.sum(b ** 3)


def slice_read_between(x):
    a = x[1:]
    b = x[:-1]
    return np.sum(a * b) + np.sum(x[:2] ** 2)


def mean_of_residual(W, X, Y):
    return np.mean((np.tanh(X @ W) - Y) ** 2)


@pytest.mark.parametrize('function, inputs, wrt', [
    (chained_slices, (normal(6),), (0,)),
    (repeated_fancy_index, (normal(4),), (0,)),
    (complex_slice_term, (normal(5),), (0,)),
    (slice_read_between, (normal(5),), (0,)),
    (mean_of_residual, (normal(3, 2), normal(4, 3), normal(4, 2)), (0, 1)),
    (mean_of_residual, (normal(3, 2), normal(4, 3), normal(2)), (0,)),
], ids=['chained_slices', 'repeated_fancy_index', 'complex_slice_term',
        'slice_read_between', 'mean_of_residual', 'mean_broadcast_target'])
def test_index_and_shape_cases_match_finite_differences(function, inputs,
                                                        wrt):
    rng = np.random.default_rng(5)
    args = tuple(make(rng) for make in inputs)
    assert_right_and_same_gradients(function, args, wrt)


def shifted_rows(x):
    return np.sum(x[1:, :-1] * x[:-1, 1:] + x[1:, :1])


def three_point_stencil(x):
    return np.sum((x[2:] - 2.0 * x[1:-1] + x[:-2]) ** 2)


def slice_of_reassigned(x):
    a = x[1:]
    x = np.stack([x[:-1], x[:-1]])
    b = x[1:]
    return np.sum(np.sin(a) * b)


def slice_against_prefix(x):
    return np.sum(x[1:] * x[:1] + x[:-1])


def slices_in_loop(x):
    total = 0.0
    for _ in range(2):
        total = total + np.sum(x[1:] * x[:-1])
        x = x[1:] * 0.5
    return total


def sine_plus_double(v):
    return v * 2.0 + np.sin(v)


def slices_through_namespace(x, xp):
    y = sine_plus_double(x)
    return xp.sum(y[1:] * y[:-1] + y[:-1] ** 2)


def slices_through_numpy(x):
    return slices_through_namespace(x, np)


def test_call_after_last_store_accumulates():
    # The dispatched call may give no cotangent, so the index adjoints run
    # in branches, and the callee's adjoint reads dy after them.
    adjoint = adjoint_source(slices_through_namespace)
    assert adjoint.count('ad.index_accumulate(') == 2
    assert 'ad.add(' not in adjoint
    assert 'adjoint_sine_plus_double(y_saved, dy)' in adjoint


SLICE_SHAPE_CASES = [
    ('slices_through_namespace', slices_through_numpy, (normal(5),)),
    ('slices_through_namespace_matrix', slices_through_numpy,
     (normal(4, 2),)),
    ('chained_slices', chained_slices, (normal(6),)),
    ('chained_slices_two', chained_slices, (normal(2),)),
    ('chained_slices_matrix', chained_slices, (normal(4, 3),)),
    ('shifted_rows', shifted_rows, (normal(4, 3),)),
    ('three_point_stencil', three_point_stencil, (normal(7),)),
    ('three_point_stencil_matrix', three_point_stencil, (normal(5, 2),)),
    ('slice_of_reassigned', slice_of_reassigned, (normal(5),)),
    ('slice_against_prefix', slice_against_prefix, (normal(5),)),
    ('slices_in_loop', slices_in_loop, (normal(5),)),
]


@pytest.mark.parametrize('name, function, inputs', SLICE_SHAPE_CASES,
                         ids=[c[0] for c in SLICE_SHAPE_CASES])
def test_slice_shape_cases_match_finite_differences(name, function, inputs):
    rng = np.random.default_rng(6)
    args = tuple(make(rng) for make in inputs)
    assert_right_and_same_gradients(function, args, (0,))


@pytest.mark.parametrize('function', [chained_slices, three_point_stencil])
def test_equal_slices_need_no_unbroadcast(function):
    source = generated_source(function)
    assert 'unbroadcast' not in source
    assert 'shape_and_kind' not in source


def test_shifted_rows_multiply_without_unbroadcast():
    adjoint = adjoint_source(shifted_rows)
    assert 'dt1 = dt3 * t2\n' in adjoint
    # dt2, read once, is written into the index adjoint that reads it.
    assert '(dx, dt3 * t1, x,' in adjoint


@pytest.mark.parametrize('function', [slice_of_reassigned,
                                      slice_against_prefix, slices_in_loop])
def test_unequal_slices_keep_unbroadcast(function):
    assert 'unbroadcast' in adjoint_source(function)


def test_chained_slices_accumulate_in_place():
    adjoint = adjoint_source(chained_slices)
    assert adjoint.count('ad.index_adjoint(') == 1
    assert adjoint.count('ad.index_accumulate(') == 2


def test_saved_shapes_replace_arrays():
    source = generated_source(mean_of_residual)
    assert 'ad.shape_and_kind(t' in source
    assert 'ad.compact_mean_adjoint(dt' in source


@pytest.mark.parametrize('index', [np.s_[1:], np.s_[::2],
                                   np.array([0, 0, 3])],
                         ids=['slice', 'step', 'repeated'])
def test_index_accumulate_equals_add(index):
    rng = np.random.default_rng(6)
    x = rng.normal(size=5)
    d = runtime.index_adjoint(rng.normal(size=np.shape(x[index])), x, index)
    g = rng.normal(size=np.shape(x[index]))
    expected = runtime.add(d.copy(), runtime.index_adjoint(g, x, index))
    np.testing.assert_array_equal(runtime.index_accumulate(d, g, x, index),
                                  expected)


def test_index_accumulate_complex_into_real_allocates():
    x = np.zeros(3)
    d = runtime.index_adjoint(np.ones(2), x, np.s_[1:])
    result = runtime.index_accumulate(d, np.array([1j, 2j]), x, np.s_[:2])
    assert result is not d
    np.testing.assert_array_equal(result, [1j, 1 + 2j, 1])


def test_index_accumulate_registered_type_allocates():
    # A registered index adjoint may return `g` itself, so `d` may be `g`.
    class Wrapped:
        pass

    runtime.register_index_adjoint(Wrapped, lambda g, x, index: g)
    try:
        g = np.ones(3)
        d = runtime.index_adjoint(g, Wrapped(), np.s_[:])
        result = runtime.index_accumulate(d, np.ones(3), Wrapped(), np.s_[:])
    finally:
        del runtime._INDEX_ADJOINTS[Wrapped]
    np.testing.assert_array_equal(g, np.ones(3))
    np.testing.assert_array_equal(result, np.full(3, 2.0))


def test_index_accumulate_into_read_only_view_allocates():
    x = np.zeros(4)
    d = runtime.sum_adjoint(2.0, x)
    result = runtime.index_accumulate(d, 1.0, x, np.s_[1])
    np.testing.assert_array_equal(result, [2.0, 3.0, 2.0, 2.0])
    np.testing.assert_array_equal(d, np.full(4, 2.0))


def test_index_accumulate_into_none():
    x = np.zeros(3)
    result = runtime.index_accumulate(None, 5.0, x, np.s_[2])
    np.testing.assert_array_equal(result, [0.0, 0.0, 5.0])


# Index adjoints added in place inside loops and branches ----------------------

def weighted_items(h):
    # One element of a vector, one row of a matrix per trip.
    s = 0.0
    for i in range(h.shape[0]):
        s = s + np.sum(h[i] ** 2) * (i + 1)
    return s


def element_loops(h):
    s = 0.0
    for i in range(h.shape[0]):
        for j in range(h.shape[1]):
            if h[i, j] > 0:
                s = s + h[i, j] ** 2
            else:
                s = s + np.sin(h[i, j])
    return s


def element_loops_and_sum(h):
    s = 0.0
    for i in range(h.shape[0]):
        for j in range(h.shape[1]):
            s = s + h[i, j] * h[j, i]
    return s + np.sum(h) + np.mean(np.cos(h))


def fancy_items(h):
    s = 0.0
    for i in range(h.shape[0] - 1):
        s = s + np.sum(np.sin(h[[i, i + 1, i]]) * (i + 1))
    return s


def some_trips_read(h):
    s = 0.0
    for i in range(h.shape[0]):
        if i % 2 == 0:
            s = s + np.sum(h[i] ** 3)
        s = s * 0.5
    return s + np.sum(h[0])


def loop_then_alias(h):
    s = 0.0
    for i in range(h.shape[0]):
        s = s + np.sum(h[i] ** 2)
    y = h
    for i in range(y.shape[0]):
        s = s + np.sum(np.cos(y[i]))
    return s + np.sum(y * h)


ACCUMULATE_CASES = [
    (weighted_items, (normal(6),)),
    (weighted_items, (normal(4, 3),)),
    (weighted_items, (normal(2, 3, 2),)),
    (element_loops, (normal(3, 4),)),
    (element_loops_and_sum, (normal(3, 3),)),
    (fancy_items, (normal(5),)),
    (fancy_items, (normal(4, 2),)),
    (some_trips_read, (normal(5),)),
    (some_trips_read, (normal(5, 2),)),
    (loop_then_alias, (normal(4),)),
    (loop_then_alias, (normal(3, 2),)),
]
ACCUMULATE_IDS = ['items_vector', 'items_rows', 'items_slabs',
                  'element_loops', 'element_loops_and_sum', 'fancy_vector',
                  'fancy_rows', 'some_trips_vector', 'some_trips_rows',
                  'alias_vector', 'alias_rows']


@pytest.mark.parametrize('function, inputs', ACCUMULATE_CASES,
                         ids=ACCUMULATE_IDS)
def test_loop_accumulation_matches_finite_differences(function, inputs):
    rng = np.random.default_rng(7)
    args = tuple(make(rng) for make in inputs)
    gradient = adcompiler.grad(function)(*args)
    assert_gradient_close(gradient, numerical_gradient(function, args, 0))
    assert_same_gradients(function, args, (0,))


@pytest.mark.parametrize('mode', [c.value for c in adcompiler.Composition])
@pytest.mark.parametrize('function, inputs', ACCUMULATE_CASES,
                         ids=ACCUMULATE_IDS)
def test_loop_accumulation_hvp(function, inputs, mode):
    rng = np.random.default_rng(8)
    args = tuple(make(rng) for make in inputs)
    v = rng.normal(size=np.shape(args[0]))
    product = adcompiler.hvp(function, mode=mode)(*args, v)
    gradient = adcompiler.grad(function)
    step = 1e-6
    plus = gradient(args[0] + step * v)
    minus = gradient(args[0] - step * v)
    assert_gradient_close(product, (plus - minus) / (2 * step), rtol=1e-4,
                          atol=1e-5)


@pytest.mark.parametrize('function', [weighted_items, element_loops,
                                      element_loops_and_sum, fancy_items,
                                      some_trips_read],
                         ids=['items', 'element_loops', 'and_sum', 'fancy',
                              'some_trips'])
def test_loop_index_adjoints_accumulate_in_place(function):
    adjoint = adjoint_source(function)
    assert 'ad.add(dh, ad.index_adjoint(' not in adjoint
    assert 'ad.index_accumulate(dh, ' in adjoint


def test_aliased_adjoint_allocates_in_loop():
    # `dh = ad.add(dh, dy)` makes dh the array of dy, so dh is not owned.
    # dy is, because that read comes after its last assignment.
    adjoint = adjoint_source(loop_then_alias)
    assert 'ad.index_accumulate(dh' not in adjoint
    assert 'ad.index_accumulate(dy, dt9, y, np.s_[i])' in adjoint
    assert 'ad.add(dh, dy)' in adjoint


def plus_loop_sum(h):
    c = 0.0
    for i in range(h.shape[0]):
        c = c + h[i] ** 2
    return h + c


def test_loop_accumulation_leaves_cotangent_unchanged():
    # The adjoint of `h + c` is the cotangent itself: dh must not own it.
    h = np.array([0.5, -1.0, 2.0])
    cotangent = np.array([1.0, 2.0, 3.0])
    _, vjp_fn = adcompiler.vjp(plus_loop_sum, h)
    (gradient,) = vjp_fn(cotangent)
    np.testing.assert_array_equal(cotangent, [1.0, 2.0, 3.0])
    jacobian = np.eye(3) + 2 * h[np.newaxis, :]
    np.testing.assert_allclose(gradient, cotangent @ jacobian)


def accumulated(source):
    """Return the adjoint `source` after the in-place pass, as source."""
    function = gast.parse(textwrap.dedent(source)).body[0]
    accumulate.accumulate_index_adjoints(function, 'ad')
    return ast.unparse(gast.gast_to_ast(function))


OWNED = """
    def adjoint(saved, g):
        dh = None
        for i in ad.reversed_range(3):
            if dh is not None:
                pass
            dh = ad.add(dh, ad.index_adjoint(g, h, np.s_[i]))
        return ad.input_adjoint(dh, h),
"""


@pytest.mark.parametrize('before, after', [
    ('        dh = None\n', '        dh = ad.sum_adjoint(g, h)\n'),
    ('        dh = None\n', '        dh = ad.index_adjoint(g, h, 0)\n'),
    ('        dh = None\n', '        dh = -g * np.sin(h)\n'),
    ('        return', '        dh = ad.add(dh, ad.mean_adjoint(g, h))\n'
     '        return'),
    ('        return', '        dh = ad.sum_adjoint(g, h) if dh is None '
     'else dh + ad.sum_adjoint(g, h)\n        return'),
    ('        return', '        record(dh)\n        return'),
], ids=['sum_adjoint', 'index_adjoint', 'arithmetic', 'add_mean_adjoint',
        'conditional_sum', 'call_after_last_store'])
def test_owned_stores_accumulate(before, after):
    source = accumulated(OWNED.replace(before, after))
    assert 'dh = ad.index_accumulate(dh, g, h, np.s_[i])' in source


@pytest.mark.parametrize('before, after', [
    ('        dh = None\n', '        dh = g\n'),
    ('        dh = None\n', '        dh = ad.expand(g, h)\n'),
    ('        dh = None\n', '        dh = ad.add(dh, g)\n'),
    ('        dh = None\n', '        dh, other = g, g\n'),
    ('        dh = None\n', '        dh = None\n        t = dh\n'),
    ('            dh = ad.add(', '            record(dh)\n'
     '            dh = ad.add('),
    ('        return', '        record(dh)\n        dh = ad.add(dh, -g)\n'
     '        return'),
    ('    def adjoint(saved, g):', '    def adjoint(saved, g, dh):'),
    ('np.s_[i]', 'np.s_[dh]'),
], ids=['seed', 'expand', 'add_name', 'tuple', 'copy', 'call_in_loop',
        'call_before_store', 'parameter', 'read_by_index'])
def test_unowned_adjoint_allocates(before, after):
    source = accumulated(OWNED.replace(before, after))
    assert 'index_accumulate' not in source


# The grad() wrapper binds plain positional calls without Signature.bind -------

def scaled_sum(x, scale=2.0):
    return np.sum(x * scale)


@pytest.mark.parametrize('args, kwargs', [
    ((np.ones(3), 3.0), {}), ((np.ones(3),), {}),
    ((np.ones(3),), {'scale': 3.0}), ((), {'x': np.ones(3), 'scale': 3.0}),
], ids=['all-positional', 'default', 'keyword', 'all-keyword'])
def test_grad_binds_every_call_form(args, kwargs):
    gradient = adcompiler.grad(scaled_sum)(*args, **kwargs)
    scale = kwargs.get('scale', args[1] if len(args) > 1 else 2.0)
    np.testing.assert_allclose(gradient, np.full(3, scale))


def test_grad_rejects_too_many_arguments():
    with pytest.raises(TypeError, match='scaled_sum'):
        adcompiler.grad(scaled_sum)(np.ones(3), 2.0, 1.0)


def chain_with_steps(x):
    return scalar_chain(x, 4)


def contribution_twice(x):
    return contribution_in_some_trips(x)


@pytest.mark.parametrize('function', [chain_with_steps, contribution_twice,
                                      relu_square],
                         ids=['scalar_chain', 'some_trips', 'relu_square'])
def test_reverse_over_reverse_matches_differences(function):
    second = adcompiler.grad(adcompiler.grad(function))
    first = adcompiler.grad(function)
    for x in (0.7, -1.3):
        step = 1e-6
        expected = (first(x + step) - first(x - step)) / (2 * step)
        assert second(x) == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_empty_branch_inverted():
    adjoint = adjoint_source(relu_square)
    assert 'if not t1:' in adjoint
    assert 'pass' not in adjoint


# Constant factors ------------------------------------------------------------

def scaled_squares(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def test_constant_factors_are_folded():
    source = adjoint_source(scaled_squares)
    assert '100.0 * 2' not in source
    assert '200.0' in source
    assert '-(' not in source
    x = np.array([0.3, -1.2, 0.8, 1.5])
    gradient = adcompiler.grad(scaled_squares)(x)
    assert_gradient_close(gradient, numerical_gradient(scaled_squares, (x,), 0))


# Cotangents of reductions kept compact ---------------------------------------

def sum_of_broadcast(x, y):
    return np.sum(np.sin(x) * 0.5 + y)


def mean_of_product(x, y):
    return np.mean(x * y - 1.5)


def sum_along_axis(x, y):
    return np.sum(np.sum(np.cos(x) + y, axis=0) ** 2)


def sum_keepdims(x):
    return np.sum(np.sum(x * 2.0, axis=1, keepdims=True) * x)


def sum_into_slices(x):
    return np.sum(-(x[1:] - x[:-1] ** 2) * 3.0)


def sum_then_branch(x, flag):
    if flag:
        y = np.sin(x)
    else:
        y = x * 2.0
    return np.sum(y)


def sum_of_input(x):
    return np.sum(x)


def sum_of_matmul(W, x):
    return np.sum(np.tanh(W @ x))


def sum_of_product(W, x):
    return np.sum(W @ x)


def complex_sum(x):
    z = x * (1.0 - 2.0j)
    return np.real(np.sum(z * 0.5 + z))


def scalar_times_array(s, w):
    return np.sum(s * w + s)


def sum_with_float_dtype(x):
    return np.sum(np.sum(np.sin(x) * x, axis=0, dtype=x.dtype) ** 2)


def sum_with_int_dtype(x, y):
    return np.sum(x * y, dtype=int) + np.sum(x * 0.5)


COMPACT_CASES = [
    ('broadcast-row', sum_of_broadcast, (normal(3, 4), normal(4)), (0, 1)),
    ('broadcast-column', sum_of_broadcast, (normal(3, 1), normal(1, 4)),
     (0, 1)),
    ('broadcast-scalar', sum_of_broadcast, (normal(3), normal()), (0, 1)),
    ('mean-same', mean_of_product, (normal(2, 3), normal(2, 3)), (0, 1)),
    ('mean-row', mean_of_product, (normal(2, 3), normal(3)), (0, 1)),
    ('axis-0', sum_along_axis, (normal(3, 4), normal(4)), (0, 1)),
    ('axis-0-vector', sum_along_axis, (normal(5), normal()), (0, 1)),
    ('keepdims', sum_keepdims, (normal(3, 4),), (0,)),
    ('slices', sum_into_slices, (normal(6),), (0,)),
    ('branch-true', sum_then_branch, (normal(4), lambda rng: True), (0,)),
    ('branch-false', sum_then_branch, (normal(4), lambda rng: False), (0,)),
    ('input', sum_of_input, (normal(2, 3),), (0,)),
    ('matmul', sum_of_matmul, (normal(3, 4), normal(4)), (0, 1)),
    ('product', sum_of_product, (normal(3, 4), normal(4, 2)), (0, 1)),
    ('complex', complex_sum, (normal(4),), (0,)),
    ('scalar-input', scalar_times_array, (normal(), normal(3)), (0, 1)),
    ('float-dtype', sum_with_float_dtype, (normal(5),), (0,)),
    ('float-dtype-matrix', sum_with_float_dtype, (normal(3, 2),), (0,)),
    ('int-dtype', sum_with_int_dtype, (normal(4), normal(4)), (0, 1)),
]


@pytest.mark.parametrize('name, function, inputs, wrt', COMPACT_CASES,
                         ids=[c[0] for c in COMPACT_CASES])
def test_compact_cases_match_finite_differences(name, function, inputs, wrt):
    rng = np.random.default_rng(7)
    args = tuple(make(rng) for make in inputs)
    gradients = adcompiler.grad(function, wrt=wrt)(*args)
    for position, gradient in zip(wrt, gradients, strict=True):
        expected = numerical_gradient(function, args, position)
        assert_gradient_close(gradient, expected)
        assert isinstance(gradient, float) or gradient.flags.writeable
    assert_same_gradients(function, args, wrt)


def test_compact_seed_multiplies_scalar_first():
    adjoint = adjoint_source(softplus_sum)
    assert 'ad.compact_sum_adjoint(' in adjoint
    assert 'ad.expand(' not in adjoint
    assert 'ad.sum_adjoint(' not in adjoint


def test_compact_through_cast_adjoint():
    adjoint = adjoint_source(sum_with_float_dtype)
    assert 'ad.cast_adjoint(ad.compact_sum_adjoint(' in adjoint
    assert 'ad.expand(' not in adjoint


def test_compact_cotangent_expanded_for_matmul():
    adjoint = adjoint_source(sum_of_product, wrt=('W', 'x'))
    assert adjoint.count('ad.expand(') == 2


def compact_source(text):
    function = gast.parse(textwrap.dedent(text)).body[0]
    compact.keep_compact(function, shapes.NO_FACTS, 'np', 'ad')
    return ast.unparse(ast.fix_missing_locations(
        gast.gast_to_ast(function)))


def test_compact_expanded_before_reference_changes():
    source = compact_source("""
        def adjoint(saved, g):
            values, y = saved
            d = ad.sum_adjoint(g, values, None, False)
            e = d * 2.0
            ad.remove_last(values, 1)
            return (e * y,)
        """)
    lines = [line.strip() for line in source.splitlines()]
    assert 'e = ad.expand(e, values)' in lines
    assert lines.index('e = ad.expand(e, values)') < lines.index(
        'ad.remove_last(values, 1)')
    assert 'd = ad.expand(d, values)' in lines


def test_compact_expanded_for_unknown_shape():
    source = compact_source("""
        def adjoint(saved, g):
            t, y = saved
            d = ad.sum_adjoint(g, t, None, False)
            return (d * y, d * 2.0 * t)
        """)
    # y may broadcast t's shape further; t is the reference itself.
    assert 'ad.expand(d, t) * y' in source
    assert 'd * 2.0 * t' in source


@pytest.mark.parametrize('function, inputs', [
    (sum_of_broadcast, (normal(3, 4), normal(4))),
    (mean_of_product, (normal(2, 3), normal(3))),
    (sum_along_axis, (normal(3, 4), normal(4))),
    (scalar_times_array, (normal(), normal(3))),
    (sum_into_slices, (normal(5),)),
], ids=['broadcast', 'mean', 'axis', 'scalar-input', 'slices'])
@pytest.mark.parametrize('mode', list(adcompiler.Composition),
                         ids=[m.value for m in adcompiler.Composition])
def test_compact_hvp_matches_gradient_differences(function, inputs, mode):
    rng = np.random.default_rng(8)
    args = tuple(make(rng) for make in inputs)
    v = rng.normal(size=np.shape(args[0]))
    v = float(v) if np.ndim(args[0]) == 0 else v
    product = adcompiler.hvp(function, mode=mode)(*args, v)
    gradient = adcompiler.grad(function)
    step = 1e-6
    plus = gradient(args[0] + step * v, *args[1:])
    minus = gradient(args[0] - step * v, *args[1:])
    assert_gradient_close(product, (plus - minus) / (2 * step), rtol=1e-4,
                          atol=1e-5)


@pytest.mark.parametrize('c, full, x', [
    (2.0, np.zeros((3, 4)), np.zeros((3, 4))),
    (2.0, np.zeros((3, 4)), np.zeros(4)),
    (2.0, np.zeros((3, 4)), np.zeros((3, 1))),
    (2.0, np.zeros((3, 4)), 0.0),
    (np.ones((1, 4)), np.zeros((3, 4)), np.zeros((3, 1))),
    (np.ones((3, 1)), np.zeros((3, 4)), np.zeros(4)),
    (1.0 + 2.0j, np.zeros(3), np.zeros(3)),
    (1.0 + 2.0j, np.zeros(3), np.zeros(1, complex)),
    (2.0, np.zeros((0, 4)), np.zeros((1, 4))),
], ids=['same', 'row', 'column', 'to-scalar', 'row-to-column',
        'column-to-row', 'complex-to-real', 'complex-kept', 'empty'])
def test_compact_unbroadcast_equals_unbroadcast(c, full, x):
    expected = runtime.unbroadcast(runtime.expand(c, full), x)
    for like in (x, runtime.shape_and_kind(x)):
        result = runtime.compact_unbroadcast(c, full, like)
        np.testing.assert_array_equal(runtime.expand(result, x), expected)
        assert np.iscomplexobj(result) == np.iscomplexobj(expected)


@pytest.mark.parametrize('c, full, x', [
    (2.0, np.zeros((3, 4)), np.zeros(4)),
    (np.ones((1, 4)), np.zeros((3, 4)), np.zeros((3, 1))),
    (np.ones(4), np.zeros((3, 4)), np.zeros((3, 4))),
], ids=['scalar', 'row-to-column', 'same'])
def test_compact_unbroadcast_transpose_is_adjoint(c, full, x):
    # <compact_unbroadcast(c), g> equals <c, transpose(g)>, entry by entry
    # of the values the code holds.
    rng = np.random.default_rng(9)
    c = c * rng.normal(size=np.shape(c))
    result = runtime.compact_unbroadcast(c, full, x)
    g = rng.normal(size=np.shape(result))
    transposed = runtime.compact_unbroadcast_transpose(g, c, full, x)
    assert np.shape(transposed) == np.shape(c)
    np.testing.assert_allclose(np.sum(result * g), np.sum(c * transposed))


# Repeated pure calls computed once; negations moved onto compact factors ------

def sign_twice(x, y):
    return np.sum(np.abs(x) * y + np.abs(x))


def cosine_after_update(x):
    a = np.sin(x)
    x = x * 2.0
    return np.sum(a + np.sin(x))


def shared_source(text):
    function = gast.parse(textwrap.dedent(text)).body[0]
    changed = shared_calls.share_repeated_calls(function, 'np', 'ad')
    return changed, ast.unparse(ast.fix_missing_locations(
        gast.gast_to_ast(function)))


def test_abs_sign_computed_once():
    adjoint = adjoint_source(softplus_sum)
    assert adjoint.count('ad.abs_sign(x)') == 1


def test_shared_call_not_across_reassignment():
    changed, source = shared_source("""
        def f(x):
            a = np.cos(x)
            x = x * 2.0
            b = np.cos(x)
            return a + b
        """)
    assert not changed
    assert source.count('np.cos(x)') == 2


def test_shared_call_in_one_statement_and_the_next():
    changed, source = shared_source("""
        def f(x, y):
            a = np.cos(x) * y + np.cos(x)
            b = a * np.cos(x) + (np.sin(y) if a else np.sin(y))
            return b
        """)
    assert changed
    assert source.count('np.cos(x)') == 1
    assert 'cos_x = np.cos(x)' in source
    # Calls in a branch of a conditional expression are not shared.
    assert source.count('np.sin(y)') == 2


def test_negation_moves_to_compact_factor():
    adjoint = adjoint_source(softplus_sum)
    assert '-(' not in adjoint
    assert 'ad.quotient_in_divisor(t3, t3 + 1.0) * -dt4' in adjoint


def negated_scaled(x, y):
    return np.sum(np.sin(x - y ** 2))


def test_negation_moves_onto_constant_factor():
    adjoint = adjoint_source(chained_slices)
    assert 'dt4 * -2 * t2' in adjoint
    assert '-dt4' not in adjoint
    assert '* -2 * y' in adjoint_source(negated_scaled, wrt='y')


@pytest.mark.parametrize('function, inputs, wrt', [
    (negated_scaled, (normal(3), normal(3)), (0, 1)),
    (negated_scaled, (normal(2, 3), normal(3)), (0, 1)),
    (sign_twice, (normal(4), normal(4)), (0, 1)),
    (sign_twice, (normal(2, 3), normal(3)), (0, 1)),
    (sign_twice, (normal(), normal(3)), (0, 1)),
    (cosine_after_update, (normal(3),), (0,)),
    (softplus_sum, (normal(2, 2),), (0,)),
], ids=['negated_scaled', 'negated_scaled-row', 'sign_twice',
        'sign_twice-row', 'sign_twice-scalar', 'cosine_after_update',
        'softplus'])
def test_shared_calls_match_finite_differences(function, inputs, wrt):
    rng = np.random.default_rng(10)
    args = tuple(make(rng) for make in inputs)
    assert_right_and_same_gradients(function, args, wrt)


# NumPy functions of float scalars call math in the adjoint ---------------------

def trig_chain(x):
    y = np.sin(x) * np.cos(x) + x
    return np.sinh(y * 0.1) + np.cosh(y * 0.2)


def exp_log_chain(x, c):
    y = np.exp(x * 0.5) + c
    return np.log(y) * np.sqrt(y) - x / c


def math_chain(x):
    y = math.sin(x) * 2.0
    return math.cos(y) + x ** 2


def fractional_power(x):
    y = x ** 0.5
    return np.sin(y)


def array_in_branch(x, n):
    y = x * 1.0
    if n > 1:
        y = np.ones(n) * x
    return np.sum(np.sin(y))


def loop_over_values(x, values):
    total = x
    for value in values:
        total = total + np.sin(value * x)
    return total


def arcsine(x):
    return math.asin(x)


FLOAT_SCALAR_CASES = [
    ('trig_chain', trig_chain, (0.7,), (0,)),
    ('trig_chain_float64', trig_chain, (np.float64(-1.1),), (0,)),
    ('exp_log_chain', exp_log_chain, (0.3, 2.0), (0, 1)),
    ('math_chain', math_chain, (0.4,), (0,)),
    ('fractional_power', fractional_power, (1.7,), (0,)),
    ('array_in_branch_scalar', array_in_branch, (0.3, 1), (0,)),
    ('array_in_branch_array', array_in_branch, (0.3, 3), (0,)),
    ('loop_over_values', loop_over_values, (0.6, [0.5, -2.0, 1.5]), (0,)),
    ('scalar_chain', scalar_chain, (0.5, 6), (0,)),
]


@pytest.mark.parametrize('name, function, args, wrt', FLOAT_SCALAR_CASES,
                         ids=[c[0] for c in FLOAT_SCALAR_CASES])
def test_float_scalar_cases_match_finite_differences(name, function, args,
                                                     wrt):
    assert_right_and_same_gradients(function, args, wrt)


def test_sums_add_into_temporaries():
    adjoint = adjoint_source(softplus_sum)
    assert 'dx = dx +' not in adjoint
    assert '* ad.abs_sign(x) + dx' in adjoint


def test_optimized_adjoint_peaks_lower():
    x = np.random.default_rng(11).normal(size=200_000)
    peaks = []
    for compiler in (OPTIMIZED, PLAIN):
        compiled = compiler.compile(softplus_sum, ('x',))
        value, saved = compiled.primal(x)
        tracemalloc.start()
        compiled.adjoint(saved, runtime.seed(value))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # Optimized: abs_sign_x, dx, and the one temporary of the last sum.
    # The plain adjoint also keeps the broadcast seed's products and both
    # abs_sign(x) arrays.
    assert peaks[0] < 3.5 * x.nbytes
    assert peaks[1] > 6.5 * x.nbytes


# Quotients computed in the buffer of a new divisor --------------------------

def arctan_weighted(x, y):
    return np.sum(np.arctan(x) * y)


def integer_shift(x, n):
    return np.sum(x / (n + 1))


def test_divisor_with_constant_takes_quotient():
    adjoint = adjoint_source(softplus_sum)
    # The quotient is taken of the array, and the compact factor comes last.
    assert 'ad.quotient_in_divisor(t3, t3 + 1.0) * -dt4' in adjoint
    assert ' / ' not in adjoint
    adjoint = adjoint_source(arctan_weighted)
    assert 'ad.quotient_in_divisor(dt1, 1.0 + x ** 2)' in adjoint


def test_integer_divisor_keeps_division():
    adjoint = adjoint_source(integer_shift)
    assert 'quotient_in_divisor' not in adjoint


@pytest.mark.parametrize('c, d', [
    (np.float64(2.0), np.ones(3) * 4.0),
    (2.0, np.ones((2, 2)) * 4.0),
    (np.full(3, 2.0), np.ones(3) * 4.0),
], ids=['float64', 'float', 'array'])
def test_quotient_in_divisor_writes_into_divisor(c, d):
    result = runtime.quotient_in_divisor(c, d)
    assert result is d
    np.testing.assert_array_equal(result, np.full(np.shape(d), 0.5))


@pytest.mark.parametrize('c, d', [
    (2.0, np.float64(4.0)),
    (2.0, np.array(4.0)),
    (2.0, np.ones(3, dtype=np.float32) * 4),
    (2, np.ones(3) * 4.0),
    (1j, np.ones(3) * 4.0),
    (np.full((2, 3), 2.0), np.ones(3) * 4.0),
    (np.full(3, 2.0, dtype=np.float32), np.ones(3) * 4.0),
], ids=['scalar', '0-d', 'float32', 'int', 'complex', 'broadcast',
        'float32-numerator'])
def test_quotient_in_divisor_allocates_otherwise(c, d):
    kept = d.copy()
    expected = c / d
    result = runtime.quotient_in_divisor(c, d)
    assert result is not d
    assert type(result) is type(expected)
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(d, kept)


DIVISOR_RNG = np.random.default_rng(12)


@pytest.mark.parametrize('function, args, wrt', [
    (softplus_sum, (DIVISOR_RNG.normal(size=6),), (0,)),
    (softplus_sum, (DIVISOR_RNG.normal(size=(2, 3)),), (0,)),
    (softplus_sum, (0.7,), (0,)),
    (arctan_weighted, (DIVISOR_RNG.normal(size=4),
                       DIVISOR_RNG.normal(size=4)), (0, 1)),
    (arctan_weighted, (DIVISOR_RNG.normal(size=(2, 3)),
                       DIVISOR_RNG.normal(size=3)), (0, 1)),
    (arctan_weighted, (np.float64(0.4), DIVISOR_RNG.normal(size=3)),
     (0, 1)),
    (arctan_weighted, (0.4, -1.2), (0, 1)),
    (integer_shift, (DIVISOR_RNG.normal(size=3), np.array([1, 2, 3])),
     (0,)),
], ids=['softplus-6', 'softplus-2x3', 'softplus-float', 'arctan-4',
        'arctan-broadcast', 'arctan-scalar-x', 'arctan-floats',
        'integer-divisor'])
def test_inverted_divisors_match_finite_differences(function, args, wrt):
    assert_right_and_same_gradients(function, args, wrt)


def scalar_adjoint_source(function, scalar_params, wrt=('x',)):
    """Return the adjoint's code without its comments, compiled for float
    scalar arguments of `scalar_params`."""
    source = OPTIMIZED.compile(function, wrt,
                               scalar_params=frozenset(scalar_params)).source
    lines = function_text(source, 'adjoint').splitlines()
    return '\n'.join(line for line in lines
                     if not line.lstrip().startswith('#'))


def test_float_scalars_call_math():
    adjoint = scalar_adjoint_source(trig_chain, {'x'})
    for helper in ('float_sin', 'float_cos', 'float_sinh', 'float_cosh'):
        assert f'ad.{helper}(' in adjoint
    assert 'np.' not in adjoint


def test_arrays_keep_numpy_calls():
    adjoint = scalar_adjoint_source(trig_chain, set())
    assert 'np.cos(' in adjoint
    assert 'float_' not in adjoint


@pytest.mark.parametrize('function, scalar_params', [
    (fractional_power, {'x'}),
    (array_in_branch, {'x'}),
    (loop_over_values, {'x'}),
], ids=['fractional_power', 'array_in_branch', 'loop_target'])
def test_values_that_may_not_be_floats_keep_numpy(function, scalar_params):
    adjoint = scalar_adjoint_source(function, scalar_params)
    assert 'np.cos(' in adjoint
    assert 'float_cos' not in adjoint


def test_scalar_chain_gradient_is_python_float():
    gradient = adcompiler.grad(scalar_chain)(0.5, 5)
    assert type(gradient) is float


def test_float32_argument_is_not_specialized():
    x = np.float32(0.5)
    gradient = adcompiler.grad(scalar_chain)(x, 5)
    expected = adcompiler.grad(scalar_chain)(np.array(0.5, np.float32), 5)
    assert type(gradient) is type(expected[()])
    assert gradient == expected


def test_divisor_keeps_numpy_result():
    adjoint = scalar_adjoint_source(arcsine, {'x'})
    assert 'np.sqrt(' in adjoint
    with pytest.warns(RuntimeWarning, match='divide by zero'):
        gradient = adcompiler.grad(arcsine)(1.0)
    assert gradient == np.inf


@pytest.mark.parametrize('name', ['sin', 'cos', 'sinh', 'cosh', 'exp', 'log',
                                  'sqrt'])
@pytest.mark.parametrize('value', [0.5, -0.75, 0.0, 3.0, 800.0])
def test_float_helpers_match_numpy(name, value):
    helper = getattr(runtime, f'float_{name}')
    with np.errstate(all='ignore'):
        expected = getattr(np, name)(np.float64(value))
        result = helper(value)
    np.testing.assert_allclose(result, expected, rtol=4e-16)


@pytest.mark.parametrize('name, value', [
    ('sin', np.inf), ('cos', -np.inf), ('exp', 800.0), ('sinh', -800.0),
    ('cosh', 800.0), ('log', -1.0), ('log', 0.0), ('sqrt', -2.0),
])
def test_float_helpers_warn_where_math_raises(name, value):
    helper = getattr(runtime, f'float_{name}')
    with pytest.warns(RuntimeWarning):
        result = helper(value)
    with np.errstate(all='ignore'):
        expected = getattr(np, name)(value)
    np.testing.assert_equal(result, expected)


@pytest.mark.parametrize('name', ['sin', 'cos', 'exp', 'log'])
def test_float_helpers_pass_nan_through(name):
    assert math.isnan(getattr(runtime, f'float_{name}')(math.nan))


def log_only(x):
    return np.log(x)


def test_float_seed_only_without_division():
    assert OPTIMIZED.compile(scalar_chain, ('x',),
                             scalar_params=frozenset({'x'})).float_seed
    assert not OPTIMIZED.compile(scalar_chain, ('x',)).float_seed
    assert not OPTIMIZED.compile(exp_log_chain, ('x',),
                                 scalar_params=frozenset({'x', 'c'})
                                 ).float_seed
    assert not OPTIMIZED.compile(log_only, ('x',),
                                 scalar_params=frozenset({'x'})).float_seed


def test_division_by_zero_keeps_numpy_result():
    with pytest.warns(RuntimeWarning, match='divide by zero'):
        gradient = adcompiler.grad(log_only)(0.0)
    assert gradient == np.inf


def test_scalar_chain_adjoint_has_no_none_checks():
    adjoint = scalar_adjoint_source(scalar_chain, {'x'})
    assert 'None' not in adjoint
    assert 'ad.float_cos(x)' in adjoint


def test_array_chain_keeps_none_checks():
    adjoint = scalar_adjoint_source(vector_chain, set())
    assert 'is not None' in adjoint


def test_float64_argument_gets_float64_gradient():
    gradient = adcompiler.grad(scalar_chain)(np.float64(0.5), 5)
    assert type(gradient) is np.float64
    assert gradient == adcompiler.grad(scalar_chain)(0.5, 5)



def scaled_far_out_of_range(x):
    return np.sum(x * 1e200 * 1e200) * 1e-300


def scaled_far_into_underflow(x):
    return np.sum(x * 1e-200 * 1e-200) * 1e300


@pytest.mark.parametrize('function, x', [
    (scaled_far_out_of_range, np.array([1e-300, 2e-300])),
    (scaled_far_into_underflow, np.array([1e100, 2e100])),
], ids=['overflow', 'underflow'])
def test_constant_factors_not_folded_out_of_range(function, x):
    """Folding a * 1e200 * 1e200 into a * 1e400 gave an infinite gradient
    where the two products stay finite. Factors whose product overflows or
    underflows now stay apart."""
    expected = PLAIN.compile(function, ('x',))
    _, saved = expected.primal(x)
    plain, = expected.adjoint(saved, 1.0)
    assert np.all(np.isfinite(plain))
    assert np.all(plain != 0)
    assert_gradient_close(adcompiler.grad(function)(x), plain)
    source = OPTIMIZED.compile(function, ('x',)).source
    assert 'inf' not in source
    assert '1e+400' not in source


# Saved values computed again in the adjoint ---------------------------------

def offset_square_of_slice(x, y):
    return np.sum((2.0 - x[:, 1:]) ** 2 * y + np.sin(x[:, 1:]))


def negated_saved_value(x):
    u = -x
    return np.sum(u ** 2 + np.exp(u))


def saved_value_read_twice(x):
    u = x * 3.0
    return np.sum(u ** 2 + u ** 3)


def saved_value_after_write(x):
    y = x + 0.0
    u = 1.0 - y
    y[0] = 4.0
    return np.sum(u ** 2 * y)


def counter_incremented_three_times(x):
    # c_3 = c_2 + 1 and c_2 = c_1 + 1 are both cheap to compute again,
    # but the adjoint can compute c_3 from c_2 only while c_2 is saved.
    c = 0
    c += 1
    a = x * c
    c += 1
    b = a * c
    c += 1
    return np.sum(x * c + b)


def nonlocal_counter(x):
    count = 0

    def step(v):
        nonlocal count
        count += 1
        return v * count

    return np.sum(step(x) + step(x ** 2) + step(x))


REMATERIALIZED_CASES = [
    ('rosenbrock', chained_slices, (normal(7),), (0,)),
    ('rosenbrock_two', chained_slices, (normal(2),), (0,)),
    ('slice_times_row', offset_square_of_slice, (normal(3, 4), normal(3)),
     (0, 1)),
    ('slice_times_column', offset_square_of_slice,
     (normal(3, 4), normal(3, 1)), (0, 1)),
    ('negation', negated_saved_value, (normal(4),), (0,)),
    ('read_twice', saved_value_read_twice, (normal(4),), (0,)),
    ('write_after', saved_value_after_write, (normal(4),), (0,)),
    ('chained_counter', counter_incremented_three_times, (normal(4),), (0,)),
    ('nonlocal_counter', nonlocal_counter, (normal(4),), (0,)),
]


@pytest.mark.parametrize('name, function, inputs, wrt', REMATERIALIZED_CASES,
                         ids=[c[0] for c in REMATERIALIZED_CASES])
def test_rematerialized_cases_match_finite_differences(name, function,
                                                       inputs, wrt):
    rng = np.random.default_rng(11)
    args = tuple(make(rng) for make in inputs)
    assert_right_and_same_gradients(function, args, wrt)


def test_rematerialized_rosenbrock_saved_tuple():
    source = generated_source(chained_slices)
    primal = function_text(source, 'primal')
    assert primal.rstrip().endswith('(x, t2, t4)')


def test_rematerialized_rosenbrock_computes_in_adjoint():
    assert '(1.0 - t2)' in adjoint_source(chained_slices)


def test_rematerialized_rosenbrock_keeps_grad_only_primal():
    source = generated_source(chained_slices)
    grad_only = function_text(source, 'grad_only_primal')
    assert grad_only.rstrip().endswith(
        'return np.float64(1.0), (x, t2, t1 - t2 ** 2)')


def test_rematerialized_rosenbrock_peak_memory():
    x = np.linspace(-1.0, 1.5, 10_000)
    gradient = adcompiler.grad(chained_slices)
    gradient(x)
    gradient(x)  # The second call compiles the code for the shape of x.
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        gradient(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The saved t4, dx, dt4 and two temporaries of dt4 * -2 * t2.
    assert peak - before < 5.5 * x.nbytes


def test_saved_value_read_twice_stays_saved():
    assert '    u, = saved\n' in adjoint_source(saved_value_read_twice)


def test_saved_value_after_write_stays_saved():
    adjoint = adjoint_source(saved_value_after_write)
    assert '    x, y, u, ' in adjoint


def test_saved_slice_expression_with_shapes_computed_again():
    adjoint = adjoint_source(offset_square_of_slice)
    assert '(2.0 - t' in adjoint


def test_repeated_slices_share_one_view():
    primal = function_text(generated_source(chained_slices), 'primal')
    assert primal.count('= x[:-1]\n') == 1


def test_shared_calls_skip_unrepeated_list():
    function = gast.parse(textwrap.dedent("""
        def f(x):
            a = np.cos(x)
            b = np.sin(x)
            return a + b
        """)).body[0]
    calls = [node for node in gast.walk(function)
             if isinstance(node, gast.Call)]
    before = gast.dump(function)
    assert not shared_calls.share_repeated_calls(function, 'np', 'ad', calls)
    assert gast.dump(function) == before


def test_shared_calls_same_with_call_list():
    text = """
        def f(x, y):
            a = np.cos(x) * y
            b = a + np.cos(x)
            return b
        """
    function = gast.parse(textwrap.dedent(text)).body[0]
    calls = [node for node in gast.walk(function)
             if isinstance(node, gast.Call)]
    assert shared_calls.share_repeated_calls(function, 'np', 'ad', calls)
    changed, expected = shared_source(text)
    assert changed
    assert ast.unparse(ast.fix_missing_locations(
        gast.gast_to_ast(function))) == expected
    assert expected.count('np.cos(x)') == 1


def parsed_function(text):
    return gast.parse(textwrap.dedent(text)).body[0]


def test_negations_and_quotients_in_body():
    function = parsed_function('''
        def f(a, b):
            c = a / (b + 1.0)
            d = -(a * b)
            if a:
                e = b / a
            g = a + b
            return -(c / d)
    ''')
    negates_product, with_quotients = optimize._negations_and_quotients(
        function)
    assert negates_product
    body = function.body
    assert with_quotients == [body[0], body[2], body[4]]


def test_negations_and_quotients_none():
    function = parsed_function('''
        def f(a, b):
            c = -a * b
            d = +(a * b)
            return -c, d
    ''')
    negates_product, with_quotients = optimize._negations_and_quotients(
        function)
    assert not negates_product
    assert with_quotients == []


def test_negated_product_in_default_found():
    function = parsed_function('''
        def f(a, b=-(2.0 * c)):
            return a
    ''')
    negates_product, _ = optimize._negations_and_quotients(function)
    assert negates_product


def test_is_negated_product_cases():
    cases = {'-(a * b)': True, '-(a / b)': True, '-(a + b)': False,
             '-a': False, '+(a * b)': False, 'not a * b': False}
    for text, expected in cases.items():
        node = gast.parse(text, mode='eval').body
        assert compact.is_negated_product(node) is expected, text


def test_folder_folds_name_annotation():
    function = parsed_function('''
        def f(x: 2 * 3):
            return x * (1.0 + 2.0)
    ''')
    optimize._ConstantFolder('np', 'ad').visit(function)
    annotation = function.args.args[0].annotation
    assert isinstance(annotation, gast.Constant)
    assert annotation.value == 6
    assert function.body[0].value.right.value == 3.0


def shared_quotient_factor(x):
    a = np.abs(x)
    return np.sum(a * x / (x * x + 1.0)) + np.sum(a * x)


def test_shared_factor_with_quotient_gradient():
    # The adjoint combines contributions with a shared factor, after
    # which the statements that divide are found again.
    for x in (np.linspace(-2.0, 1.5, 5), np.array([[0.5, -1.5], [2.0, 3.0]]),
              -0.75):
        assert_right_and_same_gradients(shared_quotient_factor, (x,), (0,))
    # Compiled for a shape, the adjoint combines the contributions.
    source = cli.dump(f'{__file__}:shared_quotient_factor',
                      shapes=('x=5',))
    adjoint = function_text(source, 'adjoint')
    assert '(dt6 + dt1) * x' in adjoint
    assert 'dt1 = dt4 / t3' in adjoint
