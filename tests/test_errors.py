"""Errors users meet: unsupported syntax, missing source, foreign calls, bad wrt.

Each error must point at the user's file and line, name what failed, and for
foreign calls carry the callee, the active argument and the call chain. The
functions under test live in this file, so the expected file name is
`__file__` and line numbers are found from the functions' own source.
"""

import functools
import importlib
import inspect
import itertools
import json
import math
import sys
import textwrap

import numpy as np
import pytest
import scipy.integrate

import adcompiler
from adcompiler import errors
from finite_differences import assert_gradient_close, numerical_gradient

SCALE = 2.0


def source_lineno(function, marker):
    """Return the file line number of the one line of `function` containing `marker`."""
    lines, first = inspect.getsourcelines(function)
    matches = [first + i for i, line in enumerate(lines) if marker in line]
    assert len(matches) == 1, f'{marker!r} must occur once in {function}'
    return matches[0]


def caret_offset(message, source_line):
    """Return the offset of the caret under the stripped `source_line` in `message`."""
    lines = message.splitlines()
    stripped = source_line.strip()
    for position, line in enumerate(lines[:-1]):
        if line.strip() == stripped and lines[position + 1].strip() == '^':
            caret_line = lines[position + 1]
            return caret_line.index('^') - line.index(stripped)
    raise AssertionError(f'no caret under {stripped!r} in:\n{message}')


# Unsupported syntax -------------------------------------------------------------

def uses_if(x):
    if np.sum(x) > 0:
        x = x * 2.0
    return np.sum(x)


def uses_for(x):
    total = 0.0
    for value in x:
        total = total + value
    return total


def uses_while(x):
    y = x
    while np.sum(y) < 10.0:
        y = y * 2.0
    return np.sum(y)


def uses_try(x):
    try:
        y = np.log(x)
    except FloatingPointError:
        y = x
    return np.sum(y)


def uses_return_in_try(x):
    try:
        return np.sum(np.log(x))
    except FloatingPointError:
        return np.sum(x)


def uses_with(x):
    with np.errstate(divide='ignore'):
        y = np.log(x)
    return np.sum(y)


def uses_lambda(x):
    double = lambda v: v * 2.0  # noqa: E731
    return np.sum(double(x))


def uses_list_comprehension(x):
    squares = [v ** 2 for v in x]
    return np.sum(squares)


def uses_dict_display(x):
    params = {'x': x}
    return np.sum(params['x'] ** 2)


def uses_global(x):
    global SCALE
    return np.sum(x * SCALE)


def uses_del(x):
    y = x * 2.0
    z = y + 1.0
    del y
    return np.sum(z)


def uses_yield(x):
    yield np.sum(x)


def uses_subscript_assignment(x):
    y = x * 1.0
    y[0] = 0.0
    return np.sum(y ** 2)


def uses_star_args(x, *rest):
    return np.sum(x)


def uses_keyword_only(x, *, scale=1.0):
    return np.sum(x) * scale


def uses_starred_call(x):
    pair = (x, x)
    return np.sum(np.multiply(*pair))


def uses_double_star_kwargs(x, **options):
    return np.sum(x)


def uses_double_star_call(x):
    options = dict(axis=0)
    return np.sum(np.sum(x, **options))


def uses_conditional_expression(x):
    y = x if np.sum(x) > 0 else -x
    return np.sum(y)


def uses_boolean_operator(x):
    y = x or 1.0
    return np.sum(y)


def uses_generator_expression(x):
    return sum(v * 2.0 for v in x)


def uses_set_display(x):
    values = {x[0], x[1]}
    return len(values) * np.sum(x)


def uses_walrus(x):
    # y is read before the assignment expression, so it cannot move out.
    y = x * 1.0
    return np.sum(y * (y := x * 2.0))


def uses_nested_def(x):
    def double(v):
        return v * 2.0
    return np.sum(double(x))


def uses_augmented_subscript(x):
    y = x * 1.0
    y[0] += 1.0
    return np.sum(y ** 2)


def uses_attribute_assignment(x):
    y = x * 1.0
    y.shape = (1, -1)
    return np.sum(y)


def helper_with_loop(v):
    total = 0.0
    for item in v:
        total = total + item ** 2
    return total


def calls_helper_with_loop(x):
    y = np.tanh(x)
    return helper_with_loop(y)


# Each row gives the function, words the message must contain, the text of
# the offending line, and the text the caret must point at.
UNSUPPORTED = [
    pytest.param(uses_return_in_try, 'return, break or continue inside a '
                 'try statement', 'try:', 'try', id='return_in_try'),
    pytest.param(uses_yield, 'yield', 'yield np.sum(x)', 'yield',
                 id='yield'),
    pytest.param(uses_walrus, ':=', '(y := x * 2.0)', 'y :=', id='walrus'),
    pytest.param(uses_attribute_assignment, 'assignment to an attribute',
                 'y.shape = (1, -1)', 'y.shape', id='attribute_assignment'),
]


# Forms that were rejected before control flow, in-place updates, inner
# functions, comprehensions and unpacking were supported; each now
# differentiates like its finite differences.
CONTROL_FLOW_FORMS = [
    pytest.param(uses_if, np.array([0.5, -0.25, 1.0]), id='if'),
    pytest.param(uses_for, np.array([0.5, -0.25, 1.0]), id='for'),
    pytest.param(uses_while, np.array([0.5, 0.25, 1.0]), id='while'),
    pytest.param(uses_subscript_assignment, np.array([0.5, -0.25, 1.0]),
                 id='subscript_assignment'),
    pytest.param(uses_conditional_expression, np.array([0.5, -0.25, 1.0]),
                 id='conditional_expression'),
    pytest.param(uses_boolean_operator, 0.75, id='boolean_operator'),
    pytest.param(uses_augmented_subscript, np.array([0.5, -0.25, 1.0]),
                 id='augmented_subscript'),
    pytest.param(calls_helper_with_loop, np.array([0.5, -0.25, 1.0]),
                 id='for_in_helper'),
    pytest.param(uses_dict_display, np.array([0.5, -0.25, 1.0]),
                 id='dict_display'),
    pytest.param(uses_keyword_only, np.array([0.5, -0.25, 1.0]),
                 id='keyword_only'),
    # Statements that carry no derivative run as written, whatever their
    # syntax.
    pytest.param(uses_lambda, np.array([0.5, -0.25, 1.0]), id='lambda'),
    pytest.param(uses_del, np.array([0.5, -0.25, 1.0]), id='del'),
    pytest.param(uses_set_display, np.array([0.5, -0.25, 1.0]),
                 id='set_display'),
    pytest.param(uses_try, np.array([0.5, 0.25, 1.0]), id='try'),
    pytest.param(uses_with, np.array([0.5, 0.25, 1.0]), id='with'),
    pytest.param(uses_list_comprehension, np.array([0.5, -0.25, 1.0]),
                 id='list_comprehension'),
    pytest.param(uses_global, np.array([0.5, -0.25, 1.0]), id='global'),
    pytest.param(uses_star_args, np.array([0.5, -0.25, 1.0]),
                 id='star_args'),
    pytest.param(uses_starred_call, np.array([0.5, -0.25, 1.0]),
                 id='starred_call'),
    pytest.param(uses_double_star_kwargs, np.array([0.5, -0.25, 1.0]),
                 id='double_star_kwargs'),
    pytest.param(uses_generator_expression, np.array([0.5, -0.25, 1.0]),
                 id='generator_expression'),
    pytest.param(uses_nested_def, np.array([0.5, -0.25, 1.0]),
                 id='nested_def'),
    pytest.param(uses_double_star_call, np.array([0.5, -0.25, 1.0]),
                 id='double_star_call'),
]


@pytest.mark.parametrize('function, x', CONTROL_FLOW_FORMS)
def test_control_flow_form_differentiates(function, x):
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)


def compile_error(function):
    """Return the error raised when the gradient of `function` is first used."""
    gradient_function = adcompiler.grad(function)
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        gradient_function(np.array([0.5, 1.5, 2.5]))
    return info.value


def offending_function(function):
    return helper_with_loop if function is calls_helper_with_loop else function


@pytest.mark.parametrize('function, words, line_text, caret_text',
                         UNSUPPORTED)
def test_unsupported_syntax_filename(function, words, line_text, caret_text):
    assert compile_error(function).filename == __file__


@pytest.mark.parametrize('function, words, line_text, caret_text',
                         UNSUPPORTED)
def test_unsupported_syntax_lineno(function, words, line_text, caret_text):
    expected = source_lineno(offending_function(function), line_text)
    assert compile_error(function).lineno == expected


@pytest.mark.parametrize('function, words, line_text, caret_text',
                         UNSUPPORTED)
def test_unsupported_syntax_source_line(function, words, line_text,
                                        caret_text):
    assert line_text in compile_error(function).source_line


@pytest.mark.parametrize('function, words, line_text, caret_text',
                         UNSUPPORTED)
def test_unsupported_syntax_message(function, words, line_text, caret_text):
    error = compile_error(function)
    message = str(error)
    assert words in message
    assert 'not supported' in message
    assert f'line {error.lineno}' in message


@pytest.mark.parametrize('function, words, line_text, caret_text',
                         UNSUPPORTED)
def test_unsupported_syntax_caret(function, words, line_text, caret_text):
    error = compile_error(function)
    stripped = error.source_line.strip()
    expected = stripped.index(caret_text)
    assert caret_offset(str(error), error.source_line) == expected


def test_unsupported_syntax_is_compiler_error():
    assert issubclass(adcompiler.UnsupportedSyntaxError,
                      adcompiler.AdCompilerError)


# Source unavailable ----------------------------------------------------------------

def function_from_exec():
    namespace = {}
    exec('def scaled(x):\n    return x * 2.0\n', namespace)
    return namespace['scaled']


@pytest.mark.parametrize('function', [
    pytest.param(math.sin, id='math.sin'),
    pytest.param(len, id='len'),
    pytest.param(np.exp, id='np.exp'),
    pytest.param(float, id='float'),
    pytest.param(function_from_exec(), id='exec_def'),
    pytest.param(eval('lambda x: x * 2.0'), id='eval_lambda'),
    pytest.param(max, id='max'),
])
def test_source_unavailable(function):
    with pytest.raises(adcompiler.SourceUnavailableError):
        adcompiler.grad(function)(1.0)


def test_source_unavailable_message_names_function():
    with pytest.raises(adcompiler.SourceUnavailableError) as info:
        adcompiler.grad(math.sin)(1.0)
    assert 'sin' in str(info.value)


def inner_generator(x):
    def values():
        yield x * 2.0
    return np.sum(next(values()))


@pytest.mark.parametrize('function', [uses_yield, inner_generator])
def test_yield_message_says_what_to_write(function):
    error = compile_error(function)
    assert 'does not transform generator functions' in str(error)
    assert 'To fix this, make the generator a function that returns a ' \
        'list' in str(error)


def test_lambda_in_file_is_accepted():
    square = lambda x: x ** 2  # noqa: E731
    assert adcompiler.grad(square)(3.0) == pytest.approx(6.0)


LAMBDA_CUBE = np.frompyfunc(lambda v: v ** 3, 1, 1)
LAMBDA_WITH_FOREIGN_CALL = lambda t: LAMBDA_CUBE(t) * 1.0  # noqa: E731


def calls_lambda(x):
    return np.sum(LAMBDA_WITH_FOREIGN_CALL(x))


def test_error_in_lambda_named_as_in_tracebacks():
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(calls_lambda)(np.ones(3))
    assert info.value.location.function_name == '<lambda>'
    assert ', in <lambda>\n' in str(info.value)
    assert 'calls_lambda -> <lambda>' in str(info.value)


def test_runtime_error_note_names_lambda():
    if sys.version_info < (3, 11):
        pytest.skip('exception notes are new in Python 3.11')
    with pytest.raises(TypeError) as info:
        adcompiler.grad(lambda x: math.fsum(x))(1.0)
    assert any(', in <lambda>' in note for note in info.value.__notes__)


# Foreign calls -----------------------------------------------------------------------

def cube(v):
    return v ** 3


# Each test that registers a rule or a mark uses its own ufunc object,
# because the registry is global and keyed by the callable.
cube_ufunc = np.frompyfunc(cube, 1, 1)
cube_ufunc_with_rule = np.frompyfunc(cube, 1, 1)
cube_ufunc_marked = np.frompyfunc(cube, 1, 1)


def calls_ufunc(x):
    y = np.tanh(x)
    cubed = cube_ufunc(y)
    return np.sum(cubed)


def inner_ufunc_call(u):
    return np.sum(cube_ufunc(u))


def outer_of_two(x):
    v = np.sin(x)
    return inner_ufunc_call(v) * 2.0


def middle_ufunc_call(w):
    scaled = w * 3.0
    return inner_ufunc_call(scaled)


def outer_of_three(x):
    return middle_ufunc_call(x) + np.sum(x)


def calls_ufunc_on_expression(x):
    return np.sum(cube_ufunc(x * 2.0))


def calls_ufunc_after_reassignment(x):
    x = x * 2.0
    return np.sum(cube_ufunc(x))


def calls_ldexp(x):
    return math.ldexp(x, 3) * 2.0


# Each row gives the differentiated function, the function and the line that
# make the foreign call, the active argument, the input it depends on, and
# the call chain.
FOREIGN = [
    pytest.param(calls_ufunc, calls_ufunc, 'cubed = cube_ufunc(y)', 'y', 'x',
                 ['calls_ufunc'], id='ufunc'),
    pytest.param(outer_of_two, inner_ufunc_call, 'np.sum(cube_ufunc(u))',
                 'u', 'u', ['outer_of_two', 'inner_ufunc_call'],
                 id='ufunc_two_deep'),
    pytest.param(outer_of_three, inner_ufunc_call, 'np.sum(cube_ufunc(u))',
                 'u', 'u',
                 ['outer_of_three', 'middle_ufunc_call', 'inner_ufunc_call'],
                 id='ufunc_three_deep'),
]


def foreign_error(function):
    gradient_function = adcompiler.grad(function)
    with pytest.raises(adcompiler.ForeignCallError) as info:
        gradient_function(np.array([0.5, -1.0, 2.0]))
    return info.value


@pytest.mark.parametrize(
    'function, location_function, line_text, argument, wrt_input, chain',
    FOREIGN)
def test_foreign_call_fields(function, location_function, line_text,
                             argument, wrt_input, chain):
    error = foreign_error(function)
    assert 'cube' in error.callee_name
    assert 'ufunc' in error.reason
    assert error.filename == __file__
    assert error.lineno == source_lineno(location_function, line_text)
    assert line_text in error.source_line
    assert error.active_argument == argument
    assert error.wrt_input == wrt_input
    assert error.call_chain == chain


@pytest.mark.parametrize(
    'function, location_function, line_text, argument, wrt_input, chain',
    FOREIGN)
def test_foreign_call_message(function, location_function, line_text,
                              argument, wrt_input, chain):
    message = str(foreign_error(function))
    assert 'cube' in message.splitlines()[0]
    assert line_text in message
    assert f"argument '{argument}'" in message
    assert ' -> '.join(chain) in message
    assert 'register_vjp' in message
    assert 'non_differentiable' in message


# A foreign call in a branch raises its error when the branch runs. The
# callee's code is compiled for its first caller, and each other caller
# must still see its own chain.

def frexp_in_branch(v, doubled=False):
    if doubled:
        return v * 2.0
    return math.frexp(v)[0]


def first_branch_caller(x):
    return frexp_in_branch(x, True) + frexp_in_branch(x)


def second_branch_caller(x):
    return frexp_in_branch(x)


def middle_of_chain(v):
    return frexp_in_branch(v) * 3.0


def first_deep_caller(x):
    return middle_of_chain(x)


def second_deep_caller(x):
    return middle_of_chain(x) + 1.0


def run_time_chain(function, mode):
    with pytest.raises(adcompiler.ForeignCallError) as info:
        if mode == 'reverse':
            adcompiler.grad(function)(0.7)
        else:
            adcompiler.jvp(function, (0.7,), (1.0,))
    return info.value


RUN_TIME_CHAINS = {
    first_branch_caller: ['first_branch_caller', 'frexp_in_branch'],
    second_branch_caller: ['second_branch_caller', 'frexp_in_branch'],
    frexp_in_branch: ['frexp_in_branch'],
    first_deep_caller: ['first_deep_caller', 'middle_of_chain',
                        'frexp_in_branch'],
    second_deep_caller: ['second_deep_caller', 'middle_of_chain',
                         'frexp_in_branch'],
}


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
@pytest.mark.parametrize('order', [
    [first_branch_caller, second_branch_caller, first_branch_caller],
    [second_branch_caller, first_branch_caller, second_branch_caller],
    [first_branch_caller, frexp_in_branch, second_branch_caller],
    [first_deep_caller, second_deep_caller, first_deep_caller],
    [second_deep_caller, first_branch_caller, first_deep_caller],
], ids=['first-second-first', 'second-first-second', 'with-callee-itself',
        'deep', 'deep-mixed'])
def test_run_time_error_chain_of_each_caller(order, mode):
    for function in order:
        error = run_time_chain(function, mode)
        assert error.call_chain == RUN_TIME_CHAINS[function]
        assert error.lineno == source_lineno(frexp_in_branch,
                                             'return math.frexp(v)[0]')
        if len(error.call_chain) > 1:
            assert ' -> '.join(error.call_chain) in str(error)


def test_foreign_call_caret_points_at_call():
    error = foreign_error(calls_ufunc)
    expected = error.source_line.strip().index('cube_ufunc(y)')
    assert caret_offset(str(error), error.source_line) == expected


def test_foreign_builtin_math_ldexp():
    error = foreign_error(calls_ldexp)
    assert error.callee_name == 'math.ldexp'
    assert error.active_argument == 'x'
    assert error.lineno == source_lineno(calls_ldexp, 'math.ldexp(x, ')
    assert error.call_chain == ['calls_ldexp']


@pytest.mark.parametrize('function, expression', [
    pytest.param(calls_ufunc_on_expression, 'x * 2.0', id='expression'),
    pytest.param(calls_ufunc_after_reassignment, 'x', id='reassigned_name'),
])
def test_foreign_call_argument_as_written(function, expression):
    assert foreign_error(function).active_argument == expression


@pytest.mark.parametrize('function', [
    pytest.param(calls_ldexp, id='math.ldexp'),
    pytest.param(calls_ufunc, id='ufunc'),
])
def test_suggested_rule_is_python(function):
    error = foreign_error(function)
    suggested = textwrap.dedent(error.fixes[0].split('\n', 1)[1])
    compile(suggested, '<suggested rule>', 'exec')


def calls_ufunc_with_rule(x):
    y = np.tanh(x)
    return np.sum(cube_ufunc_with_rule(y))


def reference_with_rule(x):
    return np.sum(np.tanh(x) ** 3)


def test_registered_vjp_on_ufunc():
    x = np.random.default_rng(0).normal(size=4)
    gradient_function = adcompiler.grad(calls_ufunc_with_rule)
    with pytest.raises(adcompiler.ForeignCallError):
        gradient_function(x)

    def cube_vjp(g, ans, v):
        return (g * 3.0 * v.astype(float) ** 2,)

    adcompiler.register_vjp(cube_ufunc_with_rule, cube_vjp)

    # The gradient function made before the rule picks the rule up.
    gradient = gradient_function(x)
    expected = numerical_gradient(reference_with_rule, (x,), 0)
    assert_gradient_close(gradient, expected)
    assert_gradient_close(adcompiler.grad(calls_ufunc_with_rule)(x), expected)


# A call of this partial runs a ufunc without a rule, so it is foreign until
# a rule is registered for the partial itself.
cube_partial_with_rule = functools.partial(np.frompyfunc(cube, 1, 1))


def calls_cube_partial_with_rule(x):
    return np.sum(cube_partial_with_rule(x ** 2).astype(float)) * 3.0


def test_registered_vjp_on_builtin():
    x = np.random.default_rng(3).normal(size=5)
    gradient_function = adcompiler.grad(calls_cube_partial_with_rule)
    with pytest.raises(adcompiler.ForeignCallError):
        gradient_function(x)

    def cube_vjp(g, ans, values):
        return (g * 3.0 * np.asarray(values, dtype=float) ** 2,)

    adcompiler.register_vjp(cube_partial_with_rule, cube_vjp)

    # The gradient function made before the rule picks the rule up.
    np.testing.assert_allclose(gradient_function(x), 18.0 * x ** 5)


def calls_marked_ufunc(x):
    weight = cube_ufunc_marked(x)
    return np.sum(x * weight)


def test_non_differentiable_mark_stops_gradient():
    x = np.random.default_rng(1).normal(size=3)
    adcompiler.non_differentiable(cube_ufunc_marked)
    gradient = adcompiler.grad(calls_marked_ufunc)(x)
    # The ufunc returns an object array, and so does the gradient.
    np.testing.assert_allclose(np.asarray(gradient, dtype=float), x ** 3)


# Foreign calls on inactive values -----------------------------------------------

CALL_COUNTER = itertools.count()


def foreign_on_shape(x):
    n = math.prod(x.shape)
    return np.sum(x ** 2) / n


def foreign_on_len(x):
    n = cube_ufunc(len(x))
    return np.sum(x ** 2) * float(n)


def foreign_on_id(x):
    seen = set()
    seen.add(id(x))
    seen.add(id(x))
    key = hash(id(x)) * 0
    return np.sum(x ** 2) * len(seen) + key


def foreign_on_counter(x):
    calls = next(CALL_COUNTER)
    flag = math.isfinite(calls)
    return np.sum(x ** 2) + 0.0 * calls * flag


def foreign_on_dtype(x):
    kind = np.dtype(x.dtype).kind
    digits = math.fsum([1.0, 2.0])
    return np.sum(x ** 2) * digits + len(kind) * 0.0


@pytest.mark.parametrize('function, factor', [
    pytest.param(foreign_on_shape, lambda x: 2.0 / x.size, id='math.prod_shape'),
    pytest.param(foreign_on_len, lambda x: 2.0 * len(x) ** 3,
                 id='ufunc_on_len'),
    pytest.param(foreign_on_id, lambda x: 2.0, id='id_set'),
    pytest.param(foreign_on_counter, lambda x: 2.0, id='counter'),
    pytest.param(foreign_on_dtype, lambda x: 6.0, id='dtype_and_fsum'),
])
def test_inactive_foreign_call_passes(function, factor):
    x = np.random.default_rng(2).normal(size=(2, 3))
    gradient = adcompiler.grad(function)(x)
    np.testing.assert_allclose(gradient, factor(x) * x)


# Invalid wrt ---------------------------------------------------------------------------

def two_parameters(x, y):
    return np.sum(x * y)


@pytest.mark.parametrize('wrt', [
    pytest.param(2, id='position_2'),
    pytest.param(-3, id='position_-3'),
    pytest.param(10, id='position_10'),
    pytest.param('z', id='unknown_name'),
    pytest.param((0, 'z'), id='tuple_with_unknown_name'),
    pytest.param((0, 5), id='tuple_with_bad_position'),
    pytest.param(1.5, id='float'),
    pytest.param(True, id='bool'),
])
def test_invalid_wrt_raises(wrt):
    with pytest.raises(adcompiler.AdCompilerError):
        adcompiler.grad(two_parameters, wrt=wrt)


def test_wrt_out_of_range_message():
    with pytest.raises(adcompiler.AdCompilerError) as info:
        adcompiler.grad(two_parameters, wrt=2)
    message = str(info.value)
    assert 'wrt=2' in message
    assert "['x', 'y']" in message


def test_unknown_wrt_name_message():
    with pytest.raises(adcompiler.AdCompilerError) as info:
        adcompiler.value_and_grad(two_parameters, wrt='z')
    message = str(info.value)
    assert "'z'" in message
    assert "['x', 'y']" in message


# Non-scalar output -----------------------------------------------------------------------

def elementwise_double(x):
    return x * 2.0


def returns_nothing(x):
    y = x * 2.0


@pytest.mark.parametrize('transform', [
    pytest.param(adcompiler.grad, id='grad'),
    pytest.param(adcompiler.value_and_grad, id='value_and_grad'),
])
@pytest.mark.parametrize('shape', [(3,), (3, 2), (1,)])
def test_non_scalar_output_names_shape(transform, shape):
    x = np.ones(shape)
    with pytest.raises(adcompiler.NonScalarOutputError) as info:
        transform(elementwise_double)(x)
    assert str(shape) in str(info.value)


def test_none_output_raises():
    with pytest.raises(adcompiler.NonScalarOutputError) as info:
        adcompiler.grad(returns_nothing)(np.ones(3))
    assert 'None' in str(info.value)


# Gradients called inside a differentiated function ----------------------------

def tanh_energy(w):
    return np.sum(np.tanh(w) ** 2)


def tanh_energy_with_aux(w):
    return np.sum(np.tanh(w) ** 2), w


def tanh_pair_energy(w, v):
    return np.sum(np.tanh(w * v) ** 2)


VALUE_AND_GRAD = adcompiler.value_and_grad(tanh_energy)
GRAD_WITH_AUX = adcompiler.grad(tanh_energy_with_aux, has_aux=True)
GRAD_OF_PAIR = adcompiler.grad(tanh_pair_energy, wrt=(0, 1))
GRAD = adcompiler.grad(tanh_energy)


def calls_value_and_grad(w):
    v, g = VALUE_AND_GRAD(w)
    return v + np.sum(g ** 2)


def calls_grad_with_aux(w):
    g, aux = GRAD_WITH_AUX(w)
    return np.sum(g ** 2)


def calls_grad_of_pair(w):
    gw, gv = GRAD_OF_PAIR(w, w)
    return np.sum(gw ** 2)


def calls_grad(w):
    v = tanh_energy(w)
    g = GRAD(w)
    return v + np.sum(g ** 2)


@pytest.mark.parametrize('function, line_text, callee, fix', [
    pytest.param(calls_value_and_grad, 'VALUE_AND_GRAD(w)',
                 'value_and_grad(tanh_energy)',
                 'call tanh_energy(...) for the value and '
                 'adcompiler.grad(tanh_energy)(...) for the gradient',
                 id='value_and_grad'),
    pytest.param(calls_grad_with_aux, 'GRAD_WITH_AUX(w)',
                 'grad(tanh_energy_with_aux, has_aux=True)',
                 'returns only the value of tanh_energy_with_aux',
                 id='has_aux'),
    pytest.param(calls_grad_of_pair, 'GRAD_OF_PAIR(w, w)',
                 "grad(tanh_pair_energy, wrt=('w', 'v'))",
                 "adcompiler.grad(tanh_pair_energy, wrt='w')",
                 id='tuple-wrt'),
])
def test_unsupported_gradient_inside_is_explained(function, line_text,
                                                  callee, fix):
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(function)(np.array([0.1, 0.2]))
    error = info.value
    message = str(error)
    assert error.filename == __file__
    assert error.lineno == source_lineno(function, line_text)
    assert caret_offset(message, error.source_line) == \
        error.source_line.strip().index(line_text)
    assert f'is {callee}' in message
    assert fix in message
    assert 'api.py' not in message
    assert 'dispatch' not in message


def test_gradient_inside_differentiates():
    w = np.array([0.1, 0.2, -0.4])
    expected = numerical_gradient(calls_grad, (w,), 0)
    assert_gradient_close(adcompiler.grad(calls_grad)(w), expected)
    assert calls_grad(w) == pytest.approx(
        tanh_energy(w) + np.sum(GRAD(w) ** 2))


# The fixes a ForeignCallError offers ---------------------------------------------

def scatters_squares(x):
    y = np.ones(3)
    np.divide.at(y, np.array([0, 0, 2]), x ** 2)
    return np.sum(y)


def takes_polynomial_derivative(x):
    return np.sum(np.polyder(x ** 2))


def test_foreign_call_fix_spells_callee_as_written():
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(takes_polynomial_derivative)(np.array([1.0, 3.0, 2.0]))
    message = str(info.value)
    assert 'register_vjp(np.polyder)' in message
    assert 'non_differentiable(np.polyder)' in message
    assert 'numpy.polyder)' not in message


@pytest.mark.parametrize('function', [scatters_squares,
                                      takes_polynomial_derivative],
                         ids=['in-place', 'value'])
def test_non_differentiable_fix_warns_of_zero(function):
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(function)(np.array([1.0, 3.0, 2.0]))
    message = str(info.value)
    assert 'Its derivative is then zero' in message
    assert 'only if its result carries none of the derivative' in message


def test_in_place_foreign_call_offers_no_rule():
    """A rule of np.divide.at could not follow its update of y, so the
    fix is to compute a new array."""
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(scatters_squares)(np.array([1.0, 3.0, 2.0]))
    message = str(info.value)
    assert 'register_vjp' not in message
    assert 'np.divide.at updates an argument in place' in message
    assert 'non_differentiable(np.divide.at)' in message
    assert info.value.lineno == source_lineno(scatters_squares,
                                              'np.divide.at(')


# Fixes that keep the meaning of the user's code --------------------------------

def adds_into_view(x):
    y = np.zeros(4)
    v = y[1:3]
    v += x[0] ** 2
    return np.sum(y * x)


def adds_into_slice(x):
    y = np.zeros(4)
    y[1:3] += x[0] ** 2
    return np.sum(y * x)


def test_view_update_fix_keeps_base_updated():
    """Writing v = v + ... would leave y unchanged, so the first fix
    updates y by index, which differentiates to the same result."""
    x = np.array([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(adds_into_view)(x)
    error = info.value
    assert error.lineno == source_lineno(adds_into_view, 'v += x[0]')
    assert error.fixes[0] == (
        'if v is part of another array (a view such as v = y[1:3]) that '
        'must change too, update that array by index instead '
        '(y[1:3] += ...)')
    assert 'v = v + ...' in error.fixes[1]
    assert adds_into_slice(x) == adds_into_view(x)
    assert_gradient_close(adcompiler.grad(adds_into_slice)(x),
                          numerical_gradient(adds_into_slice, (x,), 0))


def updates_dict(x):
    table = {'a': x * 2}
    s = np.sum(table['a'])
    table.update({'b': x})
    return s + np.sum(table['b'])


def sets_default(x):
    table = {'a': x * 2}
    s = np.sum(table['a'])
    table.setdefault('b', x)
    return s + np.sum(table['b'])


def sorts_in_place(x):
    w = x * 2
    s = np.sum(w * x)
    w.sort()
    return s + w[0]


@pytest.mark.parametrize('function, method, fix', [
    pytest.param(updates_dict, 'update',
                 'build a new dict instead ({**table, **other})',
                 id='update'),
    pytest.param(sets_default, 'setdefault',
                 'read the entry with table.get(key, default)', id='setdefault'),
    pytest.param(sorts_in_place, 'sort', 'np.sort(w) for an array',
                 id='sort'),
])
def test_in_place_method_fix_names_method(function, method, fix):
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(function)(np.array([1.0, 2.0, 3.0]))
    message = str(info.value)
    assert f'.{method}()' in message
    assert fix in message
    if method != 'sort':
        assert 'sort' not in message
    assert info.value.lineno == source_lineno(function, f'.{method}(')


def conditional_in_try(x):
    v = np.sum(x)
    try:
        r = 1 / (v if v > 0 else None)
    except TypeError:
        r = 0.0
    return r


def test_conditional_expression_in_try_is_named():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(conditional_in_try)(np.array([1.0, 2.0]))
    message = str(info.value)
    assert message.startswith('a conditional expression that carries a '
                              'derivative inside a try block')
    assert 'an if statement' not in message
    assert info.value.lineno == source_lineno(conditional_in_try,
                                              'v if v > 0')


# eval, exec, locals() and vars() read local variables by name.
def eval_of_local(x):
    return eval('np.sum(x * x)')


def locals_item(x):
    return np.sum(locals()['x'])


def vars_item(x):
    return np.sum(vars()['x'])


def exec_into_dict(x):
    values = {'x': x}
    exec('y = x * 2.0', {}, values)
    return np.sum(values['y'])


def locals_printed(x):
    print(sorted(locals()))
    return np.sum(x * x)


def eval_of_constant(x):
    count = eval('3')
    return np.sum(x) * 2.0 + 0.0 * len(range(count))


def frame_locals_item(x):
    y = 3.0 * x
    return np.sum(sys._getframe().f_locals['y'])


def current_frame_locals_item(x):
    y = 3.0 * x
    return np.sum(inspect.currentframe().f_locals['y'])


# The same functions reached through a variable, known only at run time.
def eval_alias(x):
    evaluate = eval
    return evaluate('np.sum(x * x)')


def locals_alias(x):
    local_names = locals
    return np.sum(local_names()['x'] ** 2)


def exec_alias(x):
    execute = exec
    execute('x[0] = 5.0')
    return np.sum(x)


NAMESPACE_READS = [(eval_of_local, 'eval', "return eval("),
                   (locals_item, 'locals', "locals()['x']"),
                   (vars_item, 'vars', "vars()['x']"),
                   (exec_into_dict, 'exec', "exec('y"),
                   (frame_locals_item, 'sys._getframe', '_getframe'),
                   (current_frame_locals_item, 'inspect.currentframe',
                    'currentframe'),
                   (eval_alias, 'evaluate', "evaluate('"),
                   (locals_alias, 'local_names', 'local_names()'),
                   (exec_alias, 'execute', "execute('")]


@pytest.mark.parametrize('mode', ['grad', 'jvp'])
@pytest.mark.parametrize('function, callee, marker', NAMESPACE_READS,
                         ids=lambda v: getattr(v, '__name__', None))
def test_namespace_read_error(function, callee, marker, mode):
    x = np.array([0.3, -1.2])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as caught:
        if mode == 'grad':
            adcompiler.grad(function)(x)
        else:
            adcompiler.jvp(function, (x,), (np.ones(2),))
    assert f'{callee}()' in caught.value.summary
    assert caught.value.filename == __file__
    assert caught.value.lineno == source_lineno(function, marker)


def function_alias(x):
    sine = np.sin
    attributes = vars
    return np.sum(sine(x)) + 0.0 * len(attributes(np))


@pytest.mark.parametrize('function', [locals_printed, eval_of_constant,
                                      function_alias],
                         ids=lambda f: f.__name__)
def test_namespace_read_without_derivative(function):
    x = np.array([0.3, -1.2])
    assert_gradient_close(adcompiler.grad(function)(x),
                          numerical_gradient(function, (x,), 0))


# Casts to object dtype.
def astype_object(x):
    return np.sum(x.astype(object) ** 2)


def array_of_objects(x):
    return np.sum(np.array(x, dtype=object) ** 2)


def asarray_object_code(x):
    return np.sum(np.asarray(x, 'O') ** 2)


def astype_given_dtype(x, dtype):
    return np.sum(x.astype(dtype) ** 2)


def object_labels_beside(x):
    labels = np.array(['a', 'b'], dtype=object)
    return np.sum(x ** 2) + 0.0 * len(labels)


OBJECT_CASTS = [(astype_object, 'astype(object)'),
                (array_of_objects, 'dtype=object'),
                (asarray_object_code, "'O'")]


@pytest.mark.parametrize('mode', ['grad', 'jvp'])
@pytest.mark.parametrize('function, marker', OBJECT_CASTS,
                         ids=lambda v: getattr(v, '__name__', None))
def test_object_dtype_cast_error(function, marker, mode):
    x = np.array([0.3, -1.2])
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='object dtype') as caught:
        if mode == 'grad':
            adcompiler.grad(function)(x)
        else:
            adcompiler.jvp(function, (x,), (np.ones(2),))
    assert caught.value.lineno == source_lineno(function, marker)


@pytest.mark.parametrize('dtype', [object, str, bytes], ids=str)
@pytest.mark.parametrize('mode', ['grad', 'jvp'])
def test_non_numeric_dtype_argument_error(mode, dtype):
    # The dtype is known only when the function runs.
    x = np.array([0.3, -1.2])
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='not a number type') as caught:
        if mode == 'grad':
            adcompiler.grad(astype_given_dtype)(x, dtype)
        else:
            adcompiler.jvp(lambda x: astype_given_dtype(x, dtype), (x,),
                           (np.ones(2),))
    assert caught.value.lineno == source_lineno(astype_given_dtype, 'return')


# Values that carry a derivative written into, or built into, an array of
# object, str or bytes dtype.
def slice_into_objects(x):
    o = np.zeros(2, dtype=object)
    o[:] = x
    return np.sum(o * o)


def item_into_objects(x):
    o = np.zeros(2, dtype=object)
    o[0] = x[0]
    return np.sum(o * o)


def item_into_nones(x):
    o = np.full(2, None)
    o[1] = x[1]
    return np.sum(o * o)


def item_into_strings(x):
    s = np.array(['1.0', '2.0'])
    s[0] = x[0]
    return np.sum(s.astype(float) ** 2)


def strings_built(x):
    s = np.array(list(x) + ['a'])
    return np.sum(s[:2].astype(float) ** 2)


def strings_stacked(x):
    return np.sum(np.stack([x, np.array(['a', 'b'])]).astype(float) ** 2)


NON_NUMERIC_WRITES = [(slice_into_objects, 'o[:] = x'),
                      (item_into_objects, 'o[0] = x[0]'),
                      (item_into_nones, 'o[1] = x[1]'),
                      (item_into_strings, 's[0] = x[0]'),
                      (strings_built, 'np.array(list(x)'),
                      (strings_stacked, 'np.stack')]


@pytest.mark.parametrize('mode', ['grad', 'jvp'])
@pytest.mark.parametrize('function, marker', NON_NUMERIC_WRITES,
                         ids=lambda v: getattr(v, '__name__', None))
def test_non_numeric_array_error(function, marker, mode):
    x = np.array([0.3, -1.2])
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='not a number type') as caught:
        if mode == 'grad':
            adcompiler.grad(function)(x)
        else:
            adcompiler.jvp(function, (x,), (np.ones(2),))
    assert caught.value.lineno == source_lineno(function, marker)


def numeric_writes(x):
    o = np.zeros(3)
    o[:2] = x * 2.0
    o[2] = x[0] ** 3
    labels = np.array(['a', 'b'])
    labels[0] = 'c'
    return np.sum(o * o) + np.sum(np.array([x[0], 1.0]) ** 2)


def test_numeric_writes_gradient():
    x = np.array([0.3, -1.2])
    assert_gradient_close(adcompiler.grad(numeric_writes)(x),
                          numerical_gradient(numeric_writes, (x,), 0))


def test_object_dtype_without_derivative():
    x = np.array([0.3, -1.2])
    assert_gradient_close(adcompiler.grad(object_labels_beside)(x), 2.0 * x)


# Exceptions raised while generated code runs ------------------------------

def log_of_shifted(y):
    return math.log(y - 1.0)


def calls_log_of_shifted(x):
    z = x * 2.0
    return log_of_shifted(z) + z


def _failing_rule_callee(x):
    return x * 3.0


def calls_failing_rule(x):
    return np.sum(_failing_rule_callee(x) ** 2)


def _notes(error):
    return '\n'.join(getattr(error, '__notes__', ()))


needs_notes = pytest.mark.skipif(
    not hasattr(BaseException, 'add_note'),
    reason='exception notes need Python 3.11')


@needs_notes
@pytest.mark.parametrize('transform', [
    lambda f: adcompiler.grad(f)(0.25),
    lambda f: adcompiler.value_and_grad(f)(0.25),
    lambda f: adcompiler.jvp(f, (0.25,), (1.0,)),
    lambda f: adcompiler.vjp(f, 0.25),
    lambda f: adcompiler.hessian(f)(np.array(0.25)),
    lambda f: adcompiler.grad(adcompiler.grad(f))(0.25),
], ids=['grad', 'value_and_grad', 'jvp', 'vjp', 'hessian', 'grad_of_grad'])
def test_primal_error_notes_user_lines(transform):
    with pytest.raises(ValueError, match='math domain error') as caught:
        transform(calls_log_of_shifted)
    notes = _notes(caught.value)
    assert f'"{__file__}"' in notes
    outer = calls_log_of_shifted.__code__.co_firstlineno + 2
    inner = log_of_shifted.__code__.co_firstlineno + 1
    assert f'line {outer}, in calls_log_of_shifted' in notes
    assert 'return log_of_shifted(z) + z' in notes
    assert f'line {inner}, in log_of_shifted' in notes
    assert notes.index(f'line {outer}') < notes.index(f'line {inner}')


@needs_notes
def test_adjoint_error_notes_user_line():
    def failing_vjp(g, ans, x):
        raise RuntimeError('rule failed')

    adcompiler.register_vjp(_failing_rule_callee)(failing_vjp)
    with pytest.raises(RuntimeError, match='rule failed') as caught:
        adcompiler.grad(calls_failing_rule)(np.array([0.5, 1.5]))
    line = calls_failing_rule.__code__.co_firstlineno + 1
    notes = _notes(caught.value)
    assert f'line {line}, in calls_failing_rule' in notes
    assert notes.count('calls_failing_rule') == 1


@needs_notes
def test_error_outside_generated_code_has_no_note():
    def not_a_function_of_floats(x):
        return np.sum(x)

    with pytest.raises(adcompiler.ArgumentBindingError) as caught:
        adcompiler.grad(not_a_function_of_floats)(1.0, 2.0)
    assert 'adcompiler generated' not in _notes(caught.value)


def _rule_fails_for_negative(x):
    return x * 3.0


def calls_rule_failing_for_negative(x):
    return np.sum(_rule_fails_for_negative(x) ** 2)


@needs_notes
def test_repeated_call_errors_note_user_lines():
    # Calls with the same argument types as earlier ones run the code
    # cached for them by a shorter path, which must add the note too.
    def checked_vjp(g, ans, x):
        if np.any(x < 0.0):
            raise RuntimeError('negative input')
        return (3.0 * g,)

    adcompiler.register_vjp(_rule_fails_for_negative)(checked_vjp)
    gradient = adcompiler.grad(calls_rule_failing_for_negative)
    log_gradient = adcompiler.grad(calls_log_of_shifted)
    for _ in range(3):
        gradient(np.array([0.5, 1.5]))
        log_gradient(2.0)

    with pytest.raises(RuntimeError, match='negative input') as caught:
        gradient(np.array([-0.5, 1.5]))
    line = calls_rule_failing_for_negative.__code__.co_firstlineno + 1
    assert f'line {line}, in calls_rule_failing_for_negative' in _notes(
        caught.value)

    with pytest.raises(ValueError, match='math domain error') as caught:
        log_gradient(0.25)
    assert 'in log_of_shifted' in _notes(caught.value)


def _distance_to_origin(v):
    return math.ldexp(v, 1)


def _scaled_distance(p):
    q = p * 2.0
    return _distance_to_origin(q)


def test_foreign_call_in_helper_names_its_parameter():
    """The message stated that the argument depends on "the input 'v'",
    the helper's parameter, while the differentiated input is p."""
    with pytest.raises(adcompiler.ForeignCallError) as raised:
        adcompiler.grad(_scaled_distance)(np.array([1.0, 2.0]))
    message = str(raised.value)
    assert ("it depends on 'v', a parameter of the last function in the "
            "call chain below") in message
    assert '_scaled_distance -> _distance_to_origin' in message


class _Operations:
    def __init__(self):
        self.triple = np.frompyfunc(lambda v: 3 * v, 1, 1)


_OPERATIONS = _Operations()


def _calls_attribute_of_global(x):
    return np.sum(_OPERATIONS.triple(x * 2.0))


def test_foreign_call_fix_names_global_attribute():
    """The fix named a C function reached as an attribute of a global
    object (a ctypes library's libm.cos) by its module, as ctypes.cos,
    which does not exist. It names the attribute as the code reads it."""
    with pytest.raises(adcompiler.ForeignCallError) as raised:
        adcompiler.grad(_calls_attribute_of_global)(np.array([1.0, 2.0]))
    message = str(raised.value)
    assert 'adcompiler.register_vjp(_OPERATIONS.triple)' in message
    assert 'adcompiler.non_differentiable(_OPERATIONS.triple)' in message


class _PlainModel:
    def __init__(self, weights):
        self.weights = weights

    def __call__(self, x):
        return x @ self.weights


def _builds_plain_model(weights, x):
    model = _PlainModel(weights)
    return np.sum(model(x) ** 2)


def test_class_built_inside_suggests_dataclass():
    """The fixes of a class were a gradient rule for the constructor and
    marking it non-differentiable, neither of which gives its gradient."""
    with pytest.raises(adcompiler.ForeignCallError) as raised:
        adcompiler.grad(_builds_plain_model)(np.eye(2), np.ones((3, 2)))
    message = str(raised.value)
    assert 'a dataclass' in message
    assert 'register_container' in message
    assert 'register_vjp' not in message
    assert 'non_differentiable' not in message


# Messages name what the user wrote ----------------------------------------

def inner_accumulate_twice(x):
    total = np.zeros(2)

    def accumulate(acc, v):
        acc += v
        return acc

    total = accumulate(total, x ** 2)
    total = accumulate(total, x ** 3)
    return np.sum(total)


def test_inner_augmented_assignment_names_parameter():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(inner_accumulate_twice)(np.array([2.0, 3.0]))
    message = str(info.value)
    assert "augmented assignment to 'acc'," in message
    assert 'acc_' not in message
    assert info.value.lineno == source_lineno(inner_accumulate_twice,
                                              'acc += v')


def write_into_dict_item(x):
    a = x * 1.0
    d = {'w': a}
    d['w'][0, 0] = x[1, 1] * 3
    return np.sum(a)


def test_dict_item_write_suggests_stored_array_fix():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(write_into_dict_item)(np.ones((2, 2)))
    message = str(info.value)
    assert 'a subscript of a subscript' in message
    assert 'for an array stored in a list or dict' in message
    assert info.value.lineno == source_lineno(write_into_dict_item,
                                              "d['w'][0, 0]")


def write_into_inner_parameter(x):
    a = x * 1.0

    def set_first(arr, v):
        arr[0] = v

    set_first(a, x[1] ** 2)
    return np.sum(a)


def test_inner_parameter_write_names_inner_function():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(write_into_inner_parameter)(np.ones(3))
    message = str(info.value)
    assert ("'arr', a parameter of the inner function set_first"
            in message)
    assert 'let set_first return the new value' in message
    assert info.value.lineno == source_lineno(write_into_inner_parameter,
                                              'arr[0] = v')

# A class of C code cannot become a dataclass: the fixes are the policy's.

def _builds_complex(x):
    return complex(x[0], 1.0).real


def _sums_running_totals(x):
    return sum(itertools.accumulate(x))


def _sums_repeated_items(x):
    return sum(itertools.islice(itertools.cycle(x), 5))


@pytest.mark.parametrize('function, callee', [
    (_builds_complex, 'builtins.complex'),
], ids=['complex'])
def test_c_class_gets_rule_and_marking_fixes(function, callee):
    error = foreign_error(function)
    message = str(error)
    assert error.callee_name == callee
    assert 'built-in class' in error.reason
    assert f'adcompiler.register_vjp({callee})' in message
    assert f'adcompiler.non_differentiable({callee})' in message
    assert 'dataclass' not in message


def test_itertools_class_gets_rewrite_fix():
    # A rule for an iterator class receives the iterator, not its items,
    # so the message suggests building the items by index.
    error = foreign_error(_sums_repeated_items)
    message = str(error)
    assert error.callee_name == 'itertools.cycle'
    assert 'comprehension over indices' in message
    assert 'register_vjp' not in message
    assert 'non_differentiable' not in message


def test_running_totals_differentiated():
    x = np.array([0.3, -0.7, 1.2])
    np.testing.assert_allclose(adcompiler.grad(_sums_running_totals)(x),
                               [3.0, 2.0, 1.0])


def test_sum_adjoint_of_iterator_raises_compiler_error():
    # What a sum's adjoint meets after a user's rule for a function that
    # returns an iterator, such as itertools.accumulate.
    from adcompiler import runtime
    with pytest.raises(adcompiler.AdCompilerError) as raised:
        runtime.sequence_sum_adjoint(1.0, itertools.accumulate([0.3, 0.7]))
    message = str(raised.value)
    assert 'of type accumulate' in message
    assert 'a accumulate' not in message


_modf_with_rule = functools.partial(np.modf)


def _modf_fraction_sum(x):
    return np.sum(_modf_with_rule(x)[0])


def _modf_vjp_of_wrong_structure(g, ans, a):
    return g  # A pair for the two outputs, not one cotangent per argument.


adcompiler.register_vjp(_modf_with_rule, _modf_vjp_of_wrong_structure)


def test_user_rule_of_wrong_structure_raises_compiler_error():
    with pytest.raises(adcompiler.AdCompilerError) as raised:
        adcompiler.grad(_modf_fraction_sum)(np.array([0.3, -0.7, 1.1]))
    assert isinstance(raised.value, TypeError)
    assert 'must return a tuple of 1 cotangent ' in str(raised.value)


# Messages name what the user wrote.

def _adds_to_new_set(x):
    s = set()
    s.add(float(x[0]))
    return x[0] * len(s)


def _maps_foreign_function(x):
    return sum(map(math.ldexp, x, [1, 2, 3]))


def _reduces_with_foreign_function(x):
    return functools.reduce(np.nextafter, x)


def _deletes_item(x):
    items = [x * 1.0, x * 2.0]
    del items[0]
    return np.sum(items[0])


def test_set_add_names_the_set():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as raised:
        adcompiler.grad(_adds_to_new_set)(np.array([0.3, -0.7, 1.1]))
    error = raised.value
    assert error.lineno == source_lineno(_adds_to_new_set,
                                         's.add(float(x[0]))')
    assert "to the set 's'" in str(error)
    assert 'stop_gradient' in str(error)
    assert 'shared with another name' not in str(error)


@pytest.mark.parametrize('function, argument', [
    (_maps_foreign_function, 'x[i]'),
    (_reduces_with_foreign_function, 'functools.reduce(np.nextafter, x)'),
], ids=['map', 'reduce'])
def test_higher_order_argument_as_written(function, argument):
    assert foreign_error(function).active_argument == argument


def test_del_of_item_gives_reason_and_fix():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as raised:
        adcompiler.grad(_deletes_item)(np.array([0.3, -0.7, 1.1]))
    error = raised.value
    assert error.lineno == source_lineno(_deletes_item, 'del items[0]')
    assert 'changes the container in place' in str(error)
    assert 'lst[1:]' in str(error)


def _permutes(x):
    return np.sum(np.random.default_rng(0).permutation(x) * x)


@functools.lru_cache
def _cached_square(v):
    return v * v


def _calls_cached(x):
    return _cached_square(float(x[0]))


@pytest.mark.parametrize('function, words', [
    (_permutes, 'compiled (Cython) function'),
    (_calls_cached, 'functools.lru_cache'),
], ids=['cython', 'lru-cache'])
def test_foreign_reason_names_kind(function, words):
    error = foreign_error(function)
    assert words in error.reason
    assert 'object' not in error.reason


# Call chains leave out adcompiler's own functions ------------------------

class _ProductObject:
    def __init__(self, v):
        self.v = v

    def __mul__(self, other):
        return _ProductObject(self.v * other)


def _multiplies_object(x, a):
    return np.sum((a * x).v)


def test_call_chain_hides_operator_helpers():
    a = _ProductObject(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(_multiplies_object)(np.array([0.3, -0.7, 1.2]), a)
    message = str(info.value)
    assert ('Call chain (outermost first): _multiplies_object -> '
            '_ProductObject.__mul__\n') in message
    assert 'adcompiler.rules' not in message
    assert 'call_operator_methods' not in message


def test_call_chain_entry_survives_copy():
    import copy
    import pickle

    from adcompiler.errors import ChainName, call_chain_detail
    entry = ChainName('helpers.smooth', 'helpers', 'smooth')
    for copied in (copy.deepcopy(entry), pickle.loads(pickle.dumps(entry))):
        assert copied == 'helpers.smooth'
        assert copied.module == 'helpers'
        assert copied.qualname == 'smooth'
    chain = ('f', entry, ChainName('mul', 'adcompiler.rules.operators', 'mul'),
             ChainName('helpers.other', 'helpers', 'other'))
    assert call_chain_detail(chain) == \
        'Call chain (outermost first): f -> helpers.smooth -> other'


# Errors in statements of a library ------------------------------------------

_PUSHING_MODULE = '''
def push(values, v):
    values += [v]
    return len(values)
'''


def _pushing_loss(module):
    def loss(x):
        values = [x[0] * 1.0]
        count = module.push(values, x[1] * 2.0)
        return values[0] * values[1] * count
    return loss


@pytest.mark.parametrize('folder, from_library', [
    ('site-packages', True), ('dist-packages', True), ('project', False)])
def test_library_statement_fixes_do_not_edit_it(tmp_path, monkeypatch,
                                                folder, from_library):
    """The fix for an in-place update inside an installed package asked
    the user to rewrite the package's statement."""
    package_folder = tmp_path / folder
    package_folder.mkdir()
    name = f'pushing_{folder.replace("-", "_")}'
    (package_folder / f'{name}.py').write_text(_PUSHING_MODULE)
    monkeypatch.syspath_prepend(str(package_folder))
    module = importlib.import_module(name)
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(_pushing_loss(module))(np.array([1.0, 2.0]))
    message = str(info.value)
    assert info.value.filename == module.__file__
    if from_library:
        assert info.value.fixes == errors.LIBRARY_FIXES
        assert 'values = values +' not in message
    else:
        assert 'values = values + ...' in message


def test_library_callee_update_error_fixes():
    """The fix asked to change a parameter of dataclasses.replace."""
    from adcompiler import call_writes
    library = call_writes.callee_update_error(
        'json.dumps', 'obj', "'x'", None, json.dumps)
    assert library.fixes == errors.LIBRARY_FIXES
    user = call_writes.callee_update_error(
        'push', 'values', "'x'", None, _pushing_loss)
    assert 'values = values + v' in user.fixes[0]


# Functions passed to library functions that map or integrate them -------------

def sums_rows_by_apply(X):
    return np.sum(np.apply_along_axis(lambda r: np.sum(r ** 2), 1, X))


def sums_rows_by_comprehension(X):
    return np.sum(np.stack([np.sum(r ** 2) for r in X]))


def sines_of_columns_by_comprehension(X):
    return np.sum(np.stack([np.sum(np.sin(c)) for c in X.T]))


def integral_by_quad(a):
    value, _ = scipy.integrate.quad(lambda t: np.exp(-a * t ** 2), 0.0, 1.0)
    return value


def integral_by_trapezoid(a):
    t = np.linspace(0.0, 1.0, 201)
    return np.trapezoid(np.exp(-a * t ** 2), t)


@pytest.mark.parametrize('function, advice', [
    (sums_rows_by_apply, 'np.stack([f(row) for row in X])'),
    (integral_by_quad, 'np.trapezoid(f(t), t)'),
], ids=['apply_along_axis', 'quad'])
def test_lambda_to_library_function_advice(function, advice):
    """The advice was to define the lambda at module level, which only led
    to another error."""
    argument = np.arange(6.0).reshape(2, 3) if function is \
        sums_rows_by_apply else 1.3
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(function)(argument)
    message = str(info.value)
    assert advice in message
    assert 'module level' not in message


@pytest.mark.parametrize('function', [sums_rows_by_comprehension,
                                      sines_of_columns_by_comprehension])
@pytest.mark.parametrize('shape', [(2, 3), (4, 1), (1, 5)],
                         ids=['2x3', '4x1', '1x5'])
def test_comprehension_in_place_of_apply(function, shape):
    X = np.linspace(-1.0, 2.0, int(np.prod(shape))).reshape(shape)
    assert_gradient_close(adcompiler.grad(function)(X),
                          numerical_gradient(function, (X,), 0))


@pytest.mark.skipif(not hasattr(np, 'trapezoid'),
                    reason='np.trapezoid is new in NumPy 2.0')
def test_trapezoid_in_place_of_quad():
    assert_gradient_close(
        adcompiler.grad(integral_by_trapezoid)(1.3),
        numerical_gradient(integral_by_trapezoid, (1.3,), 0))


# Columns on lines with non-ASCII characters -----------------------------------

CUBE_UFUNC = np.frompyfunc(lambda v: v ** 3, 1, 1)


def cube_after_accent(x):
    label = "é"; return np.sum(CUBE_UFUNC(x).astype(float)) + 0.0 * len(label)  # noqa: E702


def cube_after_greek(μ, σ):
    δ = σ - μ; return np.sum(CUBE_UFUNC(δ).astype(float))  # noqa: E702


@pytest.mark.parametrize('function, args, argument', [
    (cube_after_accent, (np.array([0.3, -0.7]),), 'x'),
    (cube_after_greek, (np.array([0.3, -0.7]), np.array([1.0, 2.0])), 'δ'),
], ids=['accent', 'greek'])
def test_caret_column_after_non_ascii(function, args, argument):
    """The caret stood at the UTF-8 byte offset that ast reports, one
    column to the right for each two-byte character before the call."""
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(function)(*args)
    lines = str(info.value).splitlines()
    source_line = next(line for line in lines if 'CUBE_UFUNC(' in line)
    caret_line = lines[lines.index(source_line) + 1]
    assert caret_line.index('^') == source_line.index('CUBE_UFUNC(')
    assert info.value.active_argument == argument
