"""The grad-only primal: same gradients as the full primal, less work.

Every case of the gradient and control-flow tables that gets a grad-only
primal is run both ways and must give the same gradients. Smaller functions
check what the variant removes, what it must keep (effects, errors), and
when `grad` falls back to the full primal.
"""

import copy
import inspect
import warnings

import numpy as np
import pytest

import adcompiler
import test_control_flow
import test_gradients
from adcompiler import runtime
from adcompiler.api import _grad_only_applies, scalar_parameters
from adcompiler.compiler import Compiler
from adcompiler.errors import NonScalarOutputError
from finite_differences import assert_gradient_close, numerical_gradient

COMPILER = Compiler(optimize=True)


def compile_for(function, args, wrt):
    """Compile `function` as grad does for `args`; return the compiled code
    and the arguments by parameter name."""
    names = list(inspect.signature(function).parameters)
    arguments = dict(zip(names, args))
    compiled = COMPILER.compile(function, tuple(names[i] for i in wrt),
                                scalar_params=scalar_parameters(arguments))
    return compiled, arguments


def full_gradient(compiled, args):
    value, saved = compiled.primal(*copy.deepcopy(args))
    seed = 1.0 if compiled.float_seed and type(value) in (
        float, np.float64) else runtime.seed(value)
    return compiled.adjoint(saved, seed)


def grad_only_gradient(compiled, args):
    seed, saved = compiled.grad_only_primal(*copy.deepcopy(args))
    adjoint = compiled.grad_only_adjoint or compiled.adjoint
    return adjoint(saved, seed)


def assert_same(fast, slow, args, wrt):
    assert len(fast) == len(slow)
    for position, a, b in zip(wrt, fast, slow, strict=True):
        a = runtime.materialize(a, args[position])
        b = runtime.materialize(b, args[position])
        assert type(a) is type(b), f'argument {position}'
        assert np.shape(a) == np.shape(b), f'argument {position}'
        np.testing.assert_array_equal(a, b, err_msg=f'argument {position}')


def check_case(function, args, wrt):
    """Compare the two primals on `args`; return whether the grad-only one
    ran."""
    compiled, arguments = compile_for(function, args, wrt)
    if compiled.grad_only_primal is None or not _grad_only_applies(
            compiled, arguments):
        return False
    assert_same(grad_only_gradient(compiled, args),
                full_gradient(compiled, args), args, wrt)
    return True


# The whole corpus, grad-only against full ------------------------------------

GRADIENT_CASES = [case for case in test_gradients.CASES if not case.broken]
CONTROL_FLOW_CASES = [case for case in test_control_flow.CASES
                      if not case.fails]


@pytest.mark.parametrize('case', GRADIENT_CASES,
                         ids=[f'{c.name}-{c.shape_label()}'
                              for c in GRADIENT_CASES])
def test_gradient_table_grad_only_equals_full(case):
    check_case(case.function, case.arguments(0), case.wrt)


@pytest.mark.parametrize('case', CONTROL_FLOW_CASES,
                         ids=[c.name for c in CONTROL_FLOW_CASES])
def test_control_flow_table_grad_only_equals_full(case):
    for args in case.inputs:
        check_case(case.function, args, case.wrt)


def test_corpus_runs_grad_only_often():
    # The comparisons above are only worth something if the variant runs.
    ran = sum(check_case(c.function, c.arguments(0), c.wrt)
              for c in GRADIENT_CASES)
    ran += sum(check_case(c.function, args, c.wrt)
               for c in CONTROL_FLOW_CASES for args in c.inputs)
    assert ran >= 40


# What the variant removes ----------------------------------------------------

def softplus_sum(x):
    return np.sum(np.log1p(np.exp(-np.abs(x))) + 0.5 * (x + np.abs(x)))


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def branch_on_mean(x):
    if np.mean(x) > 0.0:
        y = np.sum(np.sin(x) ** 2)
    else:
        y = np.sum(np.cos(x))
    return y * 2.0


def loop_with_dead_term(x, steps):
    total = np.sum(x * x)
    for _ in range(steps):
        unused = np.cos(x) * 2.0
        x = x + 1.0
    return total


def loop_of_sums(x, steps):
    total = np.sum(x)
    for _ in range(steps):
        x = x * 0.5
        total = total + np.sum(np.tanh(x))
    return total


def loop_from_python_float(x, steps):
    total = 0.0
    for _ in range(steps):
        total = total + np.sum(np.tanh(x))
    return total


def value_at_break(x, steps):
    y = x * 1.0
    for i in range(steps):
        y = x * 2.0
        if i == 1:
            break
        y = x * 3.0
    return np.sum(np.sin(y))


def keyword_only(x, *, scale):
    return np.sum(np.sin(x) * scale)


def float_chain(x, y):
    z = np.sin(x) * y
    return z * 3.0


def grad_only_text(function, scalar_params=frozenset(), wrt=('x',)):
    """Return the grad-only primal's code without its comments."""
    source = COMPILER.compile(function, wrt,
                              scalar_params=scalar_params).source
    lines = source[source.index('def grad_only_primal'):].splitlines()
    return '\n'.join(line for line in lines
                     if not line.lstrip().startswith('#'))


def test_softplus_drops_log1p_and_sum():
    text = grad_only_text(softplus_sum)
    assert 'log1p' not in text
    assert 'np.sum' not in text
    assert ('return np.float64(1.0), '
            '(x, ad.apply_in_place(np.exp, -np.abs(x)))') in text


def in_place_candidates(x, y):
    a = np.sin(x * 2.0)
    b = np.cos(x)
    c = np.exp(np.sin(x[1:]))
    return np.sum(a * b * y) + np.sum(c) + np.sum(np.tanh(y))


def test_ufunc_of_new_array_in_place():
    text = grad_only_text(in_place_candidates, wrt=('x', 'y'))
    assert 'c = ad.apply_in_place(np.exp, np.sin(t2))' in text
    # x * 2.0 is computed again in the adjoint, so it is not saved.
    assert 'a = ad.apply_in_place(np.sin, x * 2.0)' in text
    # Saved values, parameters and slices are never written into.
    assert 'b = np.cos(x)' in text
    assert 't9 = np.tanh(y)' in text


@pytest.mark.parametrize('shape', [(4,), (2, 3), (1,)])
def test_in_place_primal_matches_finite_differences(shape):
    rng = np.random.default_rng(17)
    x, y = rng.normal(size=shape), rng.normal(size=shape)
    x_before, y_before = x.copy(), y.copy()
    gradient = adcompiler.grad(in_place_candidates, wrt=(0, 1))(x, y)
    for position, computed in enumerate(gradient):
        assert_gradient_close(computed, numerical_gradient(
            in_place_candidates, (x, y), position))
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, y_before)


def float_exp_chain(x, y):
    return np.sum(np.exp(np.sin(x * 2.0)) * y)


def test_float_scalars_not_in_place():
    text = grad_only_text(float_exp_chain, frozenset(('x',)), wrt=('y',))
    assert 'apply_in_place' not in text


def test_apply_in_place_allocates_for_scalars():
    for value in (np.float64(0.5), np.array(0.5), 0.5,
                  np.ones(2, dtype=np.float32)):
        result = runtime.apply_in_place(np.sin, value)
        expected = np.sin(value)
        assert type(result) is type(expected)
        np.testing.assert_array_equal(result, expected)


def test_rosenbrock_drops_final_sum():
    text = grad_only_text(rosenbrock)
    assert 'np.sum' not in text
    assert 'x[1:]' in text  # An index may raise, so it stays.


def test_branch_value_dropped():
    text = grad_only_text(branch_on_mean)
    assert 'np.sum' not in text
    assert 'np.cos' not in text  # Its adjoint reads x alone.
    assert 'np.mean(x) > 0.0' in text


def test_loop_kept_dead_term_dropped():
    text = grad_only_text(loop_with_dead_term)
    assert 'for ' in text
    assert 'np.cos' not in text
    assert 'x + 1.0' not in text


def test_value_of_two_types_has_no_variant():
    # `total` is the Python float 0.0 when the loop runs no trip, and a
    # np.float64 otherwise, so the seed's type is not known.
    compiled, _ = compile_for(loop_from_python_float, (np.ones(2), 2), (0,))
    assert compiled.grad_only_primal is None


def test_float_scalars_seed_as_python_float():
    compiled = COMPILER.compile(float_chain, ('x', 'y'),
                                scalar_params=frozenset(('x', 'y')))
    assert compiled.float_seed
    text = grad_only_text(float_chain, frozenset(('x', 'y')), ('x', 'y'))
    assert 'return 1.0, ' in text


@pytest.mark.parametrize('function, args, wrt', [
    (softplus_sum, (np.random.default_rng(0).normal(size=7),), (0,)),
    (softplus_sum, (np.random.default_rng(1).normal(size=(2, 3)),), (0,)),
    (softplus_sum, (np.float64(0.3),), (0,)),
    (rosenbrock, (np.random.default_rng(2).uniform(-2, 2, 6),), (0,)),
    (branch_on_mean, (np.array([0.5, 1.2, -0.3]),), (0,)),
    (branch_on_mean, (np.array([-0.5, -1.2, 0.3]),), (0,)),
    (loop_of_sums, (np.random.default_rng(3).normal(size=4), 3), (0,)),
    (loop_of_sums, (np.random.default_rng(4).normal(size=(2, 2)), 0), (0,)),
    (loop_with_dead_term, (np.random.default_rng(5).normal(size=3), 2),
     (0,)),
    (value_at_break, (np.random.default_rng(6).normal(size=3), 4), (0,)),
    (value_at_break, (np.random.default_rng(7).normal(size=3), 1), (0,)),
    (float_chain, (0.4, -1.3), (0, 1)),
    (float_chain, (np.float64(0.4), -1.3), (0, 1)),
], ids=['softplus-7', 'softplus-2x3', 'softplus-scalar', 'rosenbrock-6',
        'branch-positive', 'branch-negative', 'loop-4', 'loop-no-trips',
        'loop-dead-term', 'break-second-trip', 'no-break',
        'float-chain', 'float-chain-np-float64'])
def test_variants_match_finite_differences(function, args, wrt):
    gradient = adcompiler.grad(function, wrt=wrt)(*args)
    value, full = adcompiler.value_and_grad(function, wrt=wrt)(*args)
    for position, computed, other in zip(wrt, gradient, full, strict=True):
        assert_gradient_close(computed,
                              numerical_gradient(function, args, position))
        assert type(computed) is type(other)
        np.testing.assert_array_equal(computed, other)
    assert check_case(function, args, wrt)


def test_grad_runs_grad_only_primal():
    x = np.linspace(-1.0, 1.0, 5)
    compiled = adcompiler.grad(softplus_sum).compiled()
    calls = []
    original = compiled.grad_only_primal

    def counting(*args):
        calls.append(args)
        return original(*args)

    compiled.grad_only_primal = counting
    try:
        adcompiler.grad(softplus_sum)(x)
        adcompiler.value_and_grad(softplus_sum)(x)
    finally:
        compiled.grad_only_primal = original
    assert len(calls) == 1


def scaled_softplus_sum(x):
    return 2.0 * softplus_sum(x)


def test_callee_and_hessian_code_leave_grad_only_out():
    """Code compiled for a caller or a Hessian has no grad-only primal. A
    later grad of the same function compiles it again with one."""
    compiler = Compiler(optimize=True)
    caller = compiler.compile(scaled_softplus_sum, ('x',))
    for compiled in caller.callees:
        assert compiled.grad_only_primal is None
        assert not compiled.with_grad_only
    callee, = [compiled for compiled in caller.callees
               if compiled.function is softplus_sum]
    for_hessian = compiler.compile(softplus_sum, ('x',), grad_only=False)
    assert for_hessian is callee
    for_grad = compiler.compile(softplus_sum, ('x',))
    assert for_grad.with_grad_only
    assert for_grad.grad_only_primal is not None
    assert compiler.compile(softplus_sum, ('x',), grad_only=False) is for_grad


def test_keyword_only_parameter_guarded():
    x = np.array([0.5, -1.0])
    gradient = adcompiler.grad(keyword_only)(x, scale=np.array([2.0, 3.0]))
    np.testing.assert_allclose(gradient, np.cos(x) * [2.0, 3.0])
    compiled = adcompiler.grad(keyword_only).compiled()
    assert compiled.grad_only_arrays == ('x', 'scale')
    with pytest.raises(NonScalarOutputError):
        adcompiler.grad(keyword_only)(x, scale=np.array([1j, 2.0]))


def test_guard_names_only_float64_arrays():
    compiled, _ = compile_for(loop_of_sums, (np.ones(3), 2), (0,))
    assert compiled.grad_only_arrays == ('x',)


# What it keeps ---------------------------------------------------------------

def printed_value(x):
    value = np.sum(x ** 2)
    print('value', value)
    return value


def indexed_term(x):
    return np.sum(x ** 2) + np.sum(x[3]) * 0.0


def python_division(x, s):
    return np.sum(x ** 2) + 1.0 / s


def calls_user_function(x):
    return np.sum(x ** 2) + helper_with_effect(x)


HELPER_CALLS = []


def helper_with_effect(x):
    HELPER_CALLS.append(1)
    return 0.0


def test_print_of_value_kept(capsys):
    gradient = adcompiler.grad(printed_value)(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(gradient, [2.0, 4.0])
    assert capsys.readouterr().out == 'value 5.0\n'


def test_index_that_may_raise_kept():
    assert 'x[3]' in grad_only_text(indexed_term)
    with pytest.raises(IndexError):
        adcompiler.grad(indexed_term)(np.ones(2))


def test_python_division_kept():
    with pytest.raises(ZeroDivisionError):
        adcompiler.grad(python_division)(np.ones(2), 0.0)


def test_user_function_call_kept():
    HELPER_CALLS.clear()
    adcompiler.grad(calls_user_function)(np.ones(2))
    assert HELPER_CALLS == [1]


# When grad runs the full primal ----------------------------------------------

def square_sum(x):
    return np.sum(x * x)


def doubled(x):
    return x * 2.0


def complex_sum(x):
    return np.sum(x * 1j)


def with_aux(x):
    return np.sum(x * x), x * 3.0


def test_float32_argument_runs_full_primal():
    x = np.array([1.0, 2.0], dtype=np.float32)
    compiled, arguments = compile_for(square_sum, (x,), (0,))
    assert compiled.grad_only_primal is not None
    assert not _grad_only_applies(compiled, arguments)
    gradient = adcompiler.grad(square_sum)(x)
    assert gradient.dtype == np.float32
    np.testing.assert_array_equal(gradient, [2.0, 4.0])


def test_list_argument_runs_full_primal():
    compiled, arguments = compile_for(square_sum, ([1.0, 2.0],), (0,))
    assert not _grad_only_applies(compiled, arguments)


@pytest.mark.parametrize('function', [doubled, complex_sum])
def test_output_not_real_scalar_has_no_variant(function):
    compiled, _ = compile_for(function, (np.ones(2),), (0,))
    assert compiled.grad_only_primal is None
    with pytest.raises(NonScalarOutputError):
        adcompiler.grad(function)(np.ones(2))


def test_has_aux_returns_aux():
    x = np.array([1.0, 2.0])
    gradient, aux = adcompiler.grad(with_aux, has_aux=True)(x)
    np.testing.assert_array_equal(gradient, [2.0, 4.0])
    np.testing.assert_array_equal(aux, [3.0, 6.0])


def test_raising_floating_point_errors_run_full_primal():
    x = np.array([1e200])
    compiled, arguments = compile_for(square_sum, (x,), (0,))
    assert _grad_only_applies(compiled, arguments)
    with np.errstate(over='raise'):
        assert not _grad_only_applies(compiled, arguments)
        with pytest.raises(FloatingPointError):
            adcompiler.grad(square_sum)(x)
    assert _grad_only_applies(compiled, arguments)


def test_warning_filter_error_runs_full_primal():
    x = np.array([1e200])
    compiled, arguments = compile_for(square_sum, (x,), (0,))
    with warnings.catch_warnings():
        warnings.simplefilter('error', RuntimeWarning)
        assert not _grad_only_applies(compiled, arguments)
        with pytest.raises(RuntimeWarning):
            adcompiler.grad(square_sum)(x)
        warnings.filterwarnings('ignore', category=UserWarning)
        assert not _grad_only_applies(compiled, arguments)
        warnings.filterwarnings('error', category=DeprecationWarning,
                                append=True)
        assert not _grad_only_applies(compiled, arguments)
    assert _grad_only_applies(compiled, arguments)


def test_skipped_overflow_does_not_warn():
    # The full primal warns of the overflow in x * x, which grad skips.
    x = np.array([1e200])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        gradient = adcompiler.grad(square_sum)(x)
    np.testing.assert_array_equal(gradient, [2e200])
    assert caught == []


def sets_its_own_error_state(x):
    old = np.seterr(invalid='raise')
    y = np.log1p(x - 3.0)
    np.seterr(**old)
    return np.sum(y)


def turns_warnings_into_errors(x):
    warnings.simplefilter('error')
    return np.sum(np.log1p(x - 3.0))


@pytest.mark.parametrize('function, error', [
    (sets_its_own_error_state, FloatingPointError),
    (turns_warnings_into_errors, RuntimeWarning),
], ids=['seterr', 'warnings-filter'])
def test_function_setting_error_state_keeps_value(function, error):
    """grad checks the floating-point error state when it starts, so a
    function that turns warnings into errors itself skipped the error of
    a value statement the grad-only primal leaves out."""
    x = np.array([0.5, 1.0])
    with np.errstate(all='warn'), warnings.catch_warnings():
        with pytest.raises(error):
            function(x)
    with np.errstate(all='warn'), warnings.catch_warnings():
        with pytest.raises(error):
            adcompiler.grad(function)(x)
    compiled = adcompiler.api._COMPILER.compile(function, ('x',))
    assert compiled.grad_only_primal is None


def log_of_shifted(x):
    return np.sum(np.log1p(x - 3.0))


def test_filter_replaced_in_the_middle_is_seen():
    """grad cached whether a warnings filter raises by the filter list's
    identity, length and first entry, so replacing a later entry made it
    skip the RuntimeWarning that the function's value raises."""
    x = np.array([0.5, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.simplefilter('ignore', UserWarning, append=True)
        with np.errstate(invalid='ignore'):
            adcompiler.grad(log_of_shifted)(x)
        warnings.filters[-1] = ('error', None, RuntimeWarning, None, 0)
        with np.errstate(invalid='warn'), pytest.raises(RuntimeWarning):
            adcompiler.grad(log_of_shifted)(x)
