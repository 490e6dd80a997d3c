"""Code compiled for the shapes of the arguments.

`known_values` is checked on small functions: the shapes it proves, and
the names it must leave unknown (shapes that change in loops and branches,
arrays that user code may resize). Every case of the gradient and
control-flow tables is then compiled for its arguments' shapes and must
give the gradients of the general code. Last, `grad` is checked end to
end: which code it runs for which shapes, the bound on the variants, and
the recurrent network whose first state may broadcast.
"""

import copy
import inspect

import numpy as np
import pytest

import adcompiler
import test_control_flow
import test_gradients
from adcompiler import compiler as compiler_module
from adcompiler import known_shapes, normalize, parse, resolve, runtime
from adcompiler.api import scalar_parameters
from adcompiler.compiler import Compiler
from adcompiler.known_shapes import COMPLEX, INT, REAL, Known
from adcompiler.rules import REGISTRY
from finite_differences import assert_gradient_close, numerical_gradient

COMPILER = Compiler(optimize=True)


def known_of(function, *args):
    """Return `known_values` of `function` for arguments like `args`."""
    source = parse.get_source(function)
    normalized = normalize.normalize(source)
    resolution = resolve.resolve(normalized, source.namespace, REGISTRY)
    names = list(inspect.signature(function).parameters)
    described = known_shapes.describe_arguments(
        dict(zip(names, args, strict=True)))
    return known_shapes.known_values(normalized, resolution, described)


def shape_of(function, name, *args):
    """Return the known shape of `name` in `function`, or None."""
    value = known_of(function, *args).get(name)
    return None if value is None else value.shape


# Shapes the analysis proves --------------------------------------------------

def matrix_product(x, w):
    y = x @ w
    return np.sum(y)


def broadcast_sum(x, b):
    y = x + b * 2.0
    return np.sum(y)


def rows_in_loop(x):
    total = 0.0
    for t in range(x.shape[0]):
        row = x[t]
        total = total + np.sum(row)
    return total


def iterate_rows(x):
    total = 0.0
    for row in x:
        total = total + np.sum(np.sin(row))
    return total


def slices(x):
    a = x[1:]
    b = x[:-2, None]
    c = x[::2, 1:3]
    return np.sum(a) + np.sum(b) + np.sum(c)


def reductions(x):
    s = np.sum(x, axis=0)
    m = np.mean(x, 1, keepdims=True)
    return np.sum(s) + np.sum(m)


def transpose_and_parts(z):
    t = z.T
    r = z.real
    return np.sum(np.abs(t)) + np.sum(r)


def in_error_state(x):
    with np.errstate(divide='ignore'):
        y = np.log(x)
    return np.sum(y)


def integer_index(x, i):
    y = x[i]
    return np.sum(y)


@pytest.mark.parametrize('function, args, name, shape', [
    (matrix_product, (np.ones((3, 4)), np.ones((4, 5))), 'y', (3, 5)),
    (matrix_product, (np.ones(4), np.ones((4, 5))), 'y', (5,)),
    (matrix_product, (np.ones((3, 4)), np.ones(4)), 'y', (3,)),
    (matrix_product, (np.ones(4), np.ones(4)), 'y', ()),
    (matrix_product, (np.ones((2, 3, 4)), np.ones((4, 5))), 'y', (2, 3, 5)),
    (matrix_product, (np.ones((2, 1, 3, 4)), np.ones((5, 4, 2))), 'y',
     (2, 5, 3, 2)),
    (broadcast_sum, (np.ones((3, 1)), np.ones(4)), 'y', (3, 4)),
    (broadcast_sum, (np.ones((3, 4)), 1.5), 'y', (3, 4)),
    (rows_in_loop, (np.ones((5, 2, 3)),), 'row', (2, 3)),
    (iterate_rows, (np.ones((5, 2)),), 'row', (2,)),
    (slices, (np.ones((6, 4)),), 'a', (5, 4)),
    (slices, (np.ones((6, 4)),), 'b', (4, 1, 4)),
    (slices, (np.ones((6, 4)),), 'c', (3, 2)),
    (reductions, (np.ones((6, 4)),), 's', (4,)),
    (reductions, (np.ones((6, 4)),), 'm', (6, 1)),
    (transpose_and_parts, (np.ones((2, 3), complex),), 't', (3, 2)),
    (in_error_state, (np.ones((3, 4)),), 'y', (3, 4)),
    (integer_index, (np.ones((3, 4)), 2), 'y', (4,)),
    (integer_index, (np.ones((3, 4)), np.int64(2)), 'y', (4,)),
], ids=lambda value: getattr(value, '__name__', None))
def test_known_values_shape(function, args, name, shape):
    assert shape_of(function, name, *args) == shape


def test_known_values_kinds():
    known = known_of(transpose_and_parts, np.ones((2, 3), complex))
    assert known['t'].kind == COMPLEX
    assert known['r'].kind == REAL


def test_known_values_loop_index_is_int():
    known = known_of(rows_in_loop, np.ones((5, 2)))
    assert known['t'] == Known((), INT, True)


def test_known_values_float_argument_is_python_number():
    known = known_of(broadcast_sum, np.ones(3), 2.0)
    assert known['b'] == Known((), REAL, True)


# Names that must stay unknown ------------------------------------------------

def recurrent(h0, w, x):
    h = h0
    for _ in range(3):
        h = np.tanh(x + h @ w)
    return np.sum(h)


def branch_shapes(x, flag):
    if flag:
        y = x[1:]
    else:
        y = x
    return np.sum(y)


def float_power(a, b):
    y = a ** b
    return y


def boolean_index(x):
    y = x[True]
    return np.sum(y)


GLOBAL_ARRAY = np.ones((3, 3))


def reads_global(x):
    y = x * GLOBAL_ARRAY
    return np.sum(y)


def user_helper(a):
    return a


def passed_to_user_code(x):
    y = x
    z = user_helper(y)
    w = x * 2.0
    return np.sum(w) + np.sum(z)


def resized(x):
    y = x * 2.0
    y.resize((2, 2), refcheck=False)
    return np.sum(y)


def in_try_statement(x):
    y = x * 2.0
    try:
        user_helper(y)
    except ValueError:
        pass
    return np.sum(y)


def stored_in_list(x):
    y = x * 2.0
    items = [y]
    user_helper(items)
    return np.sum(y)


def mismatched_product(x, w):
    y = x @ w
    return np.sum(y)


@pytest.mark.parametrize('function, args, name', [
    (recurrent, (np.ones(4), np.ones((4, 4)), np.ones((3, 4))), 'h'),
    (branch_shapes, (np.ones(4), True), 'y'),
    (float_power, (2.0, 0.5), 'y'),
    (boolean_index, (np.ones(4),), 'y'),
    (reads_global, (np.ones((3, 3)),), 'y'),
    (passed_to_user_code, (np.ones(3),), 'x'),
    (passed_to_user_code, (np.ones(3),), 'w'),
    (resized, (np.ones(4),), 'y'),
    (in_try_statement, (np.ones(4),), 'y'),
    (stored_in_list, (np.ones(4),), 'y'),
    (mismatched_product, (np.ones((3, 4)), np.ones((3, 4))), 'y'),
], ids=lambda value: getattr(value, '__name__', None))
def test_known_values_unknown(function, args, name):
    assert shape_of(function, name, *args) is None


def test_known_values_recurrence_with_equal_shapes():
    args = (np.ones((3, 4)), np.ones((4, 4)), np.ones((3, 4)))
    assert shape_of(recurrent, 'h', *args) == (3, 4)


def test_describe_value_skips_subclasses():
    class Subclass(np.ndarray):
        pass

    assert known_shapes.describe_value(np.ones(3).view(Subclass)) is None


def test_describe_value_skips_bool():
    assert known_shapes.describe_value(True) is None


# The gradient tables, compiled for their arguments' shapes -----------------------

def compile_both(function, args, wrt):
    """Return the general code and the code for the shapes of `args`."""
    names = list(inspect.signature(function).parameters)
    arguments = dict(zip(names, args))
    wrt_names = tuple(names[i] for i in wrt)
    scalar_params = scalar_parameters(arguments)
    general = COMPILER.compile(function, wrt_names,
                               scalar_params=scalar_params)
    specialized = COMPILER.compile(
        function, wrt_names, scalar_params=scalar_params,
        argument_shapes=known_shapes.describe_arguments(arguments))
    return general, specialized


def run(compiled, args):
    value, saved = compiled.primal(*copy.deepcopy(args))
    seed = 1.0 if compiled.float_seed and type(value) in (
        float, np.float64) else runtime.seed(value)
    return compiled.adjoint(saved, seed)


def check_case(function, args, wrt):
    """Compare both codes on `args`; return whether their sources differ
    in more than the names of the generated functions."""
    general, specialized = compile_both(function, args, wrt)
    expected = run(general, args)
    computed = run(specialized, args)
    assert len(computed) == len(expected)
    for position, a, b in zip(wrt, computed, expected, strict=True):
        a = runtime.materialize(a, args[position])
        b = runtime.materialize(b, args[position])
        assert np.shape(a) == np.shape(b), f'argument {position}'
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-300,
                                   err_msg=f'argument {position}')
    renamed = specialized.module_source.replace(
        specialized.primal_name, general.primal_name).replace(
        specialized.adjoint_name, general.adjoint_name)
    return renamed != general.module_source


GRADIENT_CASES = [case for case in test_gradients.CASES if not case.broken]
CONTROL_FLOW_CASES = [case for case in test_control_flow.CASES
                      if not case.fails]


@pytest.mark.parametrize('case', GRADIENT_CASES,
                         ids=[f'{c.name}-{c.shape_label()}'
                              for c in GRADIENT_CASES])
def test_gradient_table_specialized_equals_general(case):
    check_case(case.function, case.arguments(0), case.wrt)


@pytest.mark.parametrize('case', CONTROL_FLOW_CASES,
                         ids=[c.name for c in CONTROL_FLOW_CASES])
def test_control_flow_table_specialized_equals_general(case):
    for args in case.inputs:
        check_case(case.function, args, case.wrt)


def test_corpus_specializes_often():
    # The comparisons above are only worth something if the code changes.
    changed = sum(check_case(c.function, c.arguments(0), c.wrt)
                  for c in GRADIENT_CASES)
    changed += sum(check_case(c.function, args, c.wrt)
                   for c in CONTROL_FLOW_CASES for args in c.inputs)
    assert changed >= 100


# grad end to end -----------------------------------------------------------------

def rnn(W_in, W_rec, inputs, h0):
    h = h0
    for t in range(inputs.shape[0]):
        h = np.tanh(inputs[t] @ W_in + h @ W_rec)
    return np.sum(h ** 2)


def rnn_arguments(h0_shape):
    rng = np.random.default_rng(3)
    return (rng.normal(size=(3, 5)) / 2, rng.normal(size=(5, 5)) / 3,
            rng.normal(size=(4, 2, 3)), rng.normal(size=h0_shape))


def variant_for(gradient_function, args):
    """Return the code that `gradient_function` keeps for `args`, or None
    when it has kept none yet."""
    key = tuple((v.shape, v.dtype) if type(v) is np.ndarray else type(v)
                for v in args)
    entry = gradient_function._variants.get(key)
    return None if entry is None else entry.compiled


def test_rnn_first_state_shapes():
    # The same gradient is called with states that broadcast differently
    # on the first step, twice each (so that the second call runs the code
    # for its shapes), then again in another order.
    gradient = adcompiler.grad(rnn, wrt=(0, 1))
    general = COMPILER.compile(rnn, ('W_in', 'W_rec'))
    for shape in [(2, 5), (2, 5), (1, 5), (1, 5), (5,), (5,), (1, 5),
                  (2, 5), (5,)]:
        args = rnn_arguments(shape)
        computed = gradient(*args)
        expected = run(general, args)
        for position in (0, 1):
            numerical = numerical_gradient(rnn, args, position)
            assert_gradient_close(computed[position], numerical)
            np.testing.assert_allclose(computed[position],
                                       expected[position], rtol=1e-13)


def test_rnn_runs_code_for_its_shapes():
    gradient = adcompiler.grad(rnn, wrt=(0, 1))
    for shape in [(2, 5), (1, 5), (5,)]:
        args = rnn_arguments(shape)
        gradient(*args)
        assert variant_for(gradient, args) is None  # The general code ran.
        gradient(*args)
        described = known_shapes.describe_arguments(
            dict(zip(('W_in', 'W_rec', 'inputs', 'h0'), args)))
        assert variant_for(gradient, args).argument_shapes == described


def test_rnn_equal_shapes_drop_unbroadcast():
    args = rnn_arguments((2, 5))
    general, specialized = compile_both(rnn, args, (0, 1))
    assert 'unbroadcast' in general.module_source
    assert 'unbroadcast' not in specialized.module_source
    assert 'matmul_adjoint' not in specialized.module_source


def test_rnn_broadcast_state_keeps_unbroadcast():
    args = rnn_arguments((5,))
    _, specialized = compile_both(rnn, args, (0, 1))
    assert 'ad.unbroadcast(' in specialized.module_source


def scaled_sum(x, w):
    return np.sum(x * w)


def test_grad_variants_are_bounded():
    gradient = adcompiler.grad(scaled_sum)
    limit = compiler_module.MAX_SHAPE_VARIANTS
    kept = []
    for size in range(1, limit + 3):
        args = (np.arange(size, dtype=float), np.full(size, 2.0))
        for _ in range(2):
            np.testing.assert_array_equal(gradient(*args), args[1])
        kept.append(variant_for(gradient, args).argument_shapes)
    assert sum(shapes is not None for shapes in kept) == limit
    assert kept[-1] is None


def test_value_and_grad_for_shapes():
    function = adcompiler.value_and_grad(scaled_sum)
    x, w = np.arange(3.0), np.array([1.0, -2.0, 0.5])
    for _ in range(3):
        value, gradient = function(x, w)
        assert value == scaled_sum(x, w)
        np.testing.assert_array_equal(gradient, w)


def complex_product(x, w):
    z = (x @ w) * (1.0 + 2.0j)
    return np.real(np.sum(z * z))


def test_complex_intermediate_matches_finite_differences():
    rng = np.random.default_rng(4)
    args = (rng.normal(size=(3, 4)), rng.normal(size=(4, 2)))
    gradient = adcompiler.grad(complex_product, wrt=(0, 1))
    for _ in range(3):
        computed = gradient(*args)
        for position in (0, 1):
            assert_gradient_close(computed[position], numerical_gradient(
                complex_product, args, position))
    assert variant_for(gradient, args).argument_shapes is not None
