"""Forward mode (jvp, jacfwd) and the rest of the transform API.

The forward rules are checked on the same functions as the reverse ones:
the rule table of test_rules, the gradient table of test_gradients and the
control-flow table of test_control_flow, each directional derivative against
central differences.
"""

import dataclasses
import builtins
import warnings

import numpy as np
import pytest
from scipy.optimize import rosen_der

import adcompiler
from adcompiler.rules import NON_DIFFERENTIABLE, REGISTRY, Rule
import test_control_flow
import test_gradients
import test_rules
import test_rules_fft
import test_rules_linalg
import test_rules_numpy
from finite_differences import numerical_gradient


def directional_difference(function, args, directions, step=1e-6):
    """Central difference of `function` along `directions` (None: fixed)."""
    def moved(epsilon):
        shifted = []
        for arg, direction in zip(args, directions, strict=True):
            if direction is None:
                shifted.append(np.copy(arg) if isinstance(arg, np.ndarray)
                               else arg)
            elif np.ndim(arg) == 0 and not isinstance(arg, np.ndarray):
                shifted.append(type(arg)(arg + epsilon * direction))
            else:
                shifted.append(arg + epsilon * direction)
        return np.asarray(function(*shifted), dtype=float)
    return (moved(step) - moved(-step)) / (2 * step)


def _copies(args):
    return tuple(np.copy(a) if isinstance(a, np.ndarray) else a for a in args)


def check_jvp(function, args, positions, seed=0):
    """Compare the tangent along random directions of the arguments at
    `positions` with central differences; complex arguments move along
    complex directions."""
    rng = np.random.default_rng(seed)
    directions = [None] * len(args)
    for position in positions:
        value = args[position]
        direction = rng.normal(size=np.shape(value))
        if np.iscomplexobj(value):
            direction = direction + 1j * rng.normal(size=np.shape(value))
        directions[position] = (type(value)(direction)
                                if np.ndim(value) == 0
                                and not isinstance(value, np.ndarray)
                                else direction)
    value, tangent = adcompiler.jvp(function, args, directions)
    np.testing.assert_allclose(value, function(*_copies(args)), rtol=1e-12,
                               atol=1e-12)
    expected = directional_difference(function, args, directions)
    np.testing.assert_allclose(np.asarray(tangent, dtype=float), expected,
                               rtol=1e-5, atol=1e-6)


def _is_complex(value):
    if isinstance(value, np.ndarray):
        return np.issubdtype(value.dtype, np.complexfloating)
    return isinstance(value, complex)


def check_table_jvp(function, *args):
    """Check the tangent of a rule-table function (`np.sum(w * ...)`, see
    test_rules) along every float or complex argument, then along all of
    them together."""
    args = args + (test_rules.weights_for(function, args),)
    positions = tuple(i for i, a in enumerate(args[:-1])
                      if test_rules._is_float(a) or _is_complex(a))
    assert positions, f'{function.__name__} has no argument to move'
    for position in positions:
        check_jvp(function, args, (position,))
    if len(positions) > 1:
        check_jvp(function, args, positions)


def _without_forward_rule(function, args):
    """The reason `function` has no forward rule yet, or '' if it has one."""
    try:
        adcompiler.compiler.Compiler().compile_forward(
            function, tuple(list(__import__('inspect').signature(
                function).parameters)[:args]))
    except adcompiler.UnsupportedSyntaxError as err:
        if 'forward' in str(err):
            return str(err).splitlines()[0]
    return ''


def _rule_params(table, differentiated):
    """Table rows as params; rules without a forward rule are strict xfails."""
    params = []
    for row in table:
        reason = _without_forward_rule(row[0], differentiated)
        marks = pytest.mark.xfail(strict=True, reason=reason) if reason else ()
        params.append(pytest.param(*row, id=row[0].__name__, marks=marks))
    return params


@pytest.mark.parametrize('function, x_domain, y_domain',
                         _rule_params(test_rules.BINARY_FUNCTIONS, 2))
@pytest.mark.parametrize('x_shape, y_shape', [
    ((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3))],
    ids=['float', 'vector', 'matrix-row', 'column-row', 'float-matrix'])
def test_binary_rule_jvp(function, x_domain, y_domain, x_shape, y_shape):
    x = test_rules.sample(x_shape, *x_domain, seed=1)
    y = test_rules.sample(y_shape, *y_domain, seed=2)
    w = test_rules.weights_for(function, (x, y))
    check_jvp(function, (x, y, w), (0,))
    check_jvp(function, (x, y, w), (1,))
    check_jvp(function, (x, y, w), (0, 1))


@pytest.mark.parametrize('function, low, high',
                         _rule_params(test_rules.UNARY_FUNCTIONS, 1))
@pytest.mark.parametrize('shape', [(), (3,), (2, 3)],
                         ids=['float', 'vector', 'matrix'])
def test_unary_rule_jvp(function, low, high, shape):
    x = test_rules.sample(shape, low, high)
    w = test_rules.weights_for(function, (x,))
    check_jvp(function, (x, w), (0,))


@pytest.mark.parametrize('function', test_rules.REDUCTIONS,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('shape, axis, keepdims', test_rules.REDUCTION_CASES)
def test_reduction_jvp(function, shape, axis, keepdims):
    x = test_rules.sample(shape)
    w = test_rules.weights_for(function, (x, axis, keepdims))
    check_jvp(function, (x, axis, keepdims, w), (0,))


@pytest.mark.parametrize('function, args', test_rules.MATH_CASES,
                         ids=lambda v: getattr(v, '__name__', ''))
def test_math_rule_jvp(function, args):
    w = test_rules.weights_for(function, args)
    check_jvp(function, args + (w,), tuple(range(len(args))))


def _gradient_case_params():
    params = []
    for case in test_gradients.CASES:
        params.append(pytest.param(case, id=f'{case.name}[{case.shape_label()}]'))
    return params


@pytest.mark.parametrize('case', _gradient_case_params())
def test_gradient_table_jvp(case):
    args = case.arguments(0)
    check_jvp(case.function, args, case.wrt)


def _control_flow_params():
    return [pytest.param(case, inputs, id=f'{case.name}-{index}')
            for case in test_control_flow.CASES
            for index, inputs in enumerate(case.inputs)]


@pytest.mark.parametrize('case, inputs', _control_flow_params())
def test_control_flow_table_jvp(case, inputs):
    args = test_control_flow.fresh(inputs)
    before = test_control_flow.fresh(inputs)
    check_jvp(case.function, args, case.wrt)
    for arg, original in zip(args, before, strict=True):
        np.testing.assert_array_equal(arg, original)


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0)


@pytest.mark.parametrize('size', [2, 10, 100])
def test_rosenbrock_jvp_matches_scipy(size):
    rng = np.random.default_rng(size)
    x, v = rng.normal(size=size), rng.normal(size=size)
    value, tangent = adcompiler.jvp(rosen, (x,), (v,))
    assert value == pytest.approx(rosen(x))
    assert tangent == pytest.approx(rosen_der(x) @ v, rel=1e-10)


def layer(x, weights):
    return np.tanh(weights @ x) * x[0]


@pytest.mark.parametrize('wrt', [0, 1, (0, 1)], ids=['x', 'weights', 'both'])
def test_jacobian_modes_agree(wrt):
    rng = np.random.default_rng(4)
    x, weights = rng.normal(size=4), rng.normal(size=(3, 4))
    reverse = adcompiler.jacrev(layer, wrt=wrt)(x, weights)
    forward = adcompiler.jacfwd(layer, wrt=wrt)(x, weights)
    for r, f in zip(np.atleast_1d(reverse) if not isinstance(wrt, tuple)
                    else reverse, np.atleast_1d(forward)
                    if not isinstance(wrt, tuple) else forward, strict=True):
        np.testing.assert_allclose(r, f, rtol=1e-12, atol=1e-12)


def test_jacobian_shape_and_values():
    rng = np.random.default_rng(5)
    x, weights = rng.normal(size=4), rng.normal(size=(3, 4))
    jacobian = adcompiler.jacobian(layer)(x, weights)
    assert jacobian.shape == (3, 4)
    for row in range(3):
        expected = numerical_gradient(lambda v: layer(v, weights)[row], (x,), 0)
        np.testing.assert_allclose(jacobian[row], expected, rtol=1e-5,
                                   atol=1e-7)


def test_vjp_reuses_one_primal_run():
    rng = np.random.default_rng(6)
    x, weights = rng.normal(size=4), rng.normal(size=(3, 4))
    jacobian = adcompiler.jacobian(layer)(x, weights)
    value, vjp_fn = adcompiler.vjp(layer, x, weights)
    np.testing.assert_allclose(value, layer(x, weights))
    for row in range(3):
        cotangent = np.zeros(3)
        cotangent[row] = 1.0
        dx, _ = vjp_fn(cotangent)
        np.testing.assert_allclose(dx, jacobian[row], rtol=1e-12, atol=1e-12)


def written_in_loop(x):
    y = np.zeros(3)
    for i in range(3):
        y[i] = x[i] * x[(i + 1) % 3]
    return y * 2.0


def test_vjp_twice_with_in_place_updates():
    x = np.array([0.5, -1.0, 2.0])
    jacobian = adcompiler.jacobian(written_in_loop)(x)
    _, vjp_fn = adcompiler.vjp(written_in_loop, x)
    first = vjp_fn(np.array([1.0, 0.0, 0.0]))[0]
    second = vjp_fn(np.array([0.0, 1.0, 0.0]))[0]
    np.testing.assert_allclose(first, jacobian[0])
    np.testing.assert_allclose(second, jacobian[1])


def loss_with_aux(x):
    predictions = np.tanh(x)
    return np.sum(predictions ** 2), predictions


def test_grad_has_aux():
    x = np.array([0.3, -0.7])
    gradient, aux = adcompiler.grad(loss_with_aux, has_aux=True)(x)
    np.testing.assert_allclose(aux, np.tanh(x))
    np.testing.assert_allclose(
        gradient, 2 * np.tanh(x) * (1 - np.tanh(x) ** 2))


def test_value_and_grad_has_aux():
    x = np.array([0.3, -0.7])
    (value, aux), gradient = adcompiler.value_and_grad(
        loss_with_aux, has_aux=True)(x)
    assert value == pytest.approx(np.sum(np.tanh(x) ** 2))
    np.testing.assert_allclose(aux, np.tanh(x))
    assert gradient.shape == (2,)


def test_check_grads_passes_on_correct_function():
    adcompiler.check_grads(layer)(np.array([0.2, -0.4, 1.0, 0.5]),
                                  np.ones((3, 4)) * 0.3)


def scalar_loss(x, weights):
    return np.sum(np.tanh(weights @ x) ** 2)


def test_check_grads_second_order():
    adcompiler.check_grads(scalar_loss, order=2)(
        np.array([0.2, -0.4, 1.0, 0.5]), np.ones((3, 4)) * 0.3)


def test_check_grads_detects_wrong_rule():
    def wrongly_ruled(x):
        return x * 1.0

    def loss(x):
        return np.sum(wrongly_ruled(x) ** 2)

    adcompiler.register_vjp(wrongly_ruled, lambda g, ans, x: (2.0 * g,))
    with pytest.raises(AssertionError):
        adcompiler.check_grads(loss, modes=('reverse',))(np.ones(3))


def test_check_grads_order_three_rejected():
    with pytest.raises(adcompiler.AdCompilerError):
        adcompiler.check_grads(layer, order=3)


def test_tangent_source_is_readable():
    source = adcompiler.compiler.Compiler().compile_forward(
        rosen, ('x',)).source
    assert 'def tangent_rosen(x, *, dx):' in source
    assert '# line' in source


def test_jvp_requires_one_tangent_per_primal():
    with pytest.raises(adcompiler.InvalidArgumentError):
        adcompiler.jvp(rosen, (np.ones(3),), ())


# Linear and multilinear rules: the function applied to the tangents.

def join_and_split(a, b):
    joined = np.concatenate([a, b * 2.0])
    first, second = np.split(joined, 2)
    return np.sum(np.stack([first, second]) ** 2 * np.arange(2.0)[:, None])


def reorder(a, b):
    return np.sum(np.roll(np.flip(a), 1) * np.tile(b, 1) + np.cumsum(a) ** 2)


def products(a, b):
    return (np.sum(np.outer(a, b) ** 2) + np.vdot(a, b) + np.sum(
        np.kron(a, b)) + np.sum(np.cross(a, b) ** 2) + np.sum(
            np.tensordot(a, b, axes=0)))


def einsum_products(a, b):
    return np.einsum('i,j,i->', a, b, a) + np.sum(np.einsum('ij->ji',
                                                            np.outer(a, b)))


def fourier(a, b):
    spectrum = np.fft.fft(a * b)
    return np.sum(np.abs(np.fft.ifft(spectrum * 2.0)) ** 2) + np.sum(
        np.fft.rfft(a).real)


def padded_and_taken(a, b):
    padded = np.pad(a * b, 2)
    return np.sum(np.take(padded, [0, 3, 4]) ** 2) + np.sum(
        np.append(a, b) ** 2) + np.sum(np.linspace(a[0], b[0], 4) ** 2)


def methods_linear(a, b):
    matrix = np.outer(a, b)
    return np.sum(matrix.cumsum(axis=0) ** 2) + matrix.trace() + np.sum(
        matrix.swapaxes(0, 1).diagonal() ** 2) + np.sum(a.take([0, 2]))


@pytest.mark.parametrize('function', [
    join_and_split, reorder, products, einsum_products, fourier,
    padded_and_taken, methods_linear], ids=lambda f: f.__name__)
def test_linear_rule_jvp(function):
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=3), rng.normal(size=3)
    check_jvp(function, (a, b), (0,))
    check_jvp(function, (a, b), (0, 1))


# A linear call with an integer dtype= truncates its result, so its
# derivative is 0; the product with x keeps each function's derivative
# nonzero. Each x stays away from the integers that truncation jumps at.

def cumsum_integer_dtype(x, w):
    return np.sum(w * x * np.cumsum(x, axis=-1, dtype=np.int64))


def method_cumsum_integer_dtype(x, w):
    return np.sum(w * x * x.cumsum(axis=0, dtype=np.int64))


def trace_integer_dtype(x, w):
    return np.sum(w * x[0] * np.trace(x, dtype=np.int64))


def method_trace_integer_dtype(x, w):
    return np.sum(w * x[0] * x.trace(dtype=np.int64))


def linspace_integer_dtype(x, w):
    return np.sum(w * np.linspace(0.0, x, 4, dtype=np.int64) * x)


def concatenate_integer_dtype(x, w):
    return np.sum(w * np.concatenate([x, x], dtype=np.int64,
                                     casting='unsafe') * np.concatenate([x, x]))


def einsum_integer_dtype(x, w):
    return np.sum(w * x * np.einsum('...i,...i->...', x, x, dtype=np.int64,
                                    casting='unsafe')[..., None])


INTEGER_DTYPE_CASES = [
    cumsum_integer_dtype, method_cumsum_integer_dtype, trace_integer_dtype,
    method_trace_integer_dtype, linspace_integer_dtype,
    concatenate_integer_dtype, einsum_integer_dtype]
if hasattr(np.linalg, 'trace'):  # NumPy 2.0 added the function.
    def linalg_trace_integer_dtype(x, w):
        return np.sum(w * x[..., 0, :] * np.linalg.trace(
            x, dtype=np.int64)[..., None])
    INTEGER_DTYPE_CASES.append(linalg_trace_integer_dtype)


@pytest.mark.parametrize('function', INTEGER_DTYPE_CASES,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('shape', [(3, 3), (2, 3, 3)],
                         ids=['matrix', 'stack'])
def test_linear_integer_dtype_tangent(function, shape):
    x = np.random.default_rng(4).integers(-5, 5, shape) + 0.25
    w = test_rules.weights_for(function, (x,))
    check_jvp(function, (x, w), (0,))
    test_rules.check_grads(function, x)


def test_linear_integer_dtype_tangent_is_zero():
    x = np.array([1.7, -2.3, 3.4])
    _, tangent = adcompiler.jvp(lambda x: np.cumsum(x, dtype=np.int64) * 1.0,
                                (x,), (np.array([1.0, 1.5, 2.0]),))
    np.testing.assert_array_equal(tangent, np.zeros(3))


def test_linear_float32_dtype_tangent():
    x = np.array([0.5, -1.25, 2.0])
    _, tangent = adcompiler.jvp(lambda x: np.cumsum(x, dtype=np.float32),
                                (x,), (np.array([1.0, 0.5, 0.25]),))
    assert tangent.dtype == np.float32
    np.testing.assert_array_equal(tangent, np.float32([1.0, 1.5, 1.75]))


# The tangent of a float32 result is float32, as grad keeps float32
# arguments float32, whatever dtype the rule's partial derivatives have.
FLOAT32_TANGENT_CASES = [
    pytest.param(lambda x: np.max(x, axis=0), id='max'),
    pytest.param(lambda x: np.amin(x, axis=1, keepdims=True), id='amin'),
    pytest.param(lambda x: np.max(x, initial=np.float32(-5.0)),
                 id='max-initial'),
    pytest.param(lambda x: np.maximum.reduce(x, 0), id='maximum-reduce'),
    pytest.param(lambda x: np.ptp(x, axis=0), id='ptp'),
    pytest.param(lambda x: np.prod(x, axis=0), id='prod'),
    pytest.param(lambda x: np.multiply.reduce(x, 1), id='multiply-reduce'),
    pytest.param(lambda x: np.var(x, axis=0), id='var'),
    pytest.param(lambda x: np.std(x), id='std'),
    pytest.param(lambda x: np.sort(x, axis=0), id='sort'),
    pytest.param(lambda x: np.partition(x, 1, axis=0), id='partition'),
    pytest.param(lambda x: np.linalg.norm(x, axis=0), id='norm'),
    pytest.param(lambda x: np.linalg.norm(x, np.inf, axis=0), id='norm-inf'),
    pytest.param(lambda x: np.linalg.norm(x[:2], 'nuc'), id='norm-nuclear'),
    pytest.param(lambda x: np.linalg.det(x[:2]), id='det'),
    pytest.param(lambda x: np.linalg.cholesky(
        x[:2] @ x[:2].T + np.eye(2, dtype=np.float32)), id='cholesky'),
    pytest.param(lambda x: np.sign(x) * x, id='sign'),
    pytest.param(lambda x: np.copysign(x, -x), id='copysign'),
    pytest.param(lambda x: np.fmax(x, x[::-1]), id='fmax'),
    pytest.param(lambda x: np.nanmax(x, axis=0), id='nanmax'),
    pytest.param(lambda x: np.nansum(x, axis=0), id='nansum'),
    pytest.param(lambda x: np.nanmean(x, axis=0), id='nanmean'),
    pytest.param(lambda x: np.nanprod(x, axis=0), id='nanprod'),
    pytest.param(lambda x: np.nanvar(x, axis=0), id='nanvar'),
    pytest.param(lambda x: np.nanstd(x, axis=1), id='nanstd'),
    pytest.param(lambda x: np.nanmedian(x, axis=0), id='nanmedian'),
    pytest.param(lambda x: np.nanquantile(x, 0.3, axis=0), id='nanquantile'),
    pytest.param(lambda x: np.nanpercentile(x, 30.0), id='nanpercentile'),
    pytest.param(lambda x: np.median(x, axis=0), id='median'),
    pytest.param(lambda x: np.quantile(x, np.array([0.3, 0.8], np.float32),
                                       axis=0), id='quantile'),
    pytest.param(lambda x: np.percentile(x, 30.0, method='hazen'),
                 id='percentile'),
]


@pytest.mark.parametrize('function', FLOAT32_TANGENT_CASES)
def test_float32_tangent_stays_float32(function):
    x = np.array([[0.3, -0.7], [1.1, 0.9], [0.2, 0.5]])
    direction = np.array([[0.5, -1.0], [0.25, 2.0], [-1.5, 0.75]])
    value, tangent = adcompiler.jvp(function, (x.astype(np.float32),),
                                    (direction.astype(np.float32),))
    assert np.asarray(value).dtype == np.float32
    assert np.asarray(tangent).dtype == np.float32
    _, expected = adcompiler.jvp(function, (x,), (direction,))
    np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('function', test_rules_numpy.SPELLING_CASES,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('shape', [(2, 3), (4, 3)])
def test_numpy_argument_spellings_jvp(function, shape):
    check_table_jvp(function, test_rules.sample(shape, seed=5))


def dict_model(params, x):
    return np.sum(np.tanh(params['w'] @ x))


def test_container_argument_needs_array_for_hessian():
    params = {'w': np.ones((2, 3))}
    with pytest.raises(adcompiler.InvalidArgumentError):
        adcompiler.hessian(dict_model)(params, np.ones(3))


# Calls resolved at run time: methods of arguments, functions held in
# variables, callable objects, array methods of values that may be arrays.

import test_calls  # noqa: E402


def weighted_method_call(x, layer, scale):
    h = layer.apply(x * scale)
    return np.sum(h ** 3) + h.sum()


def keyword_function_value(x, f):
    return np.sum(f(v=x) * x)


def square_of(v):
    return v * v


def method_of_sum(x, values):
    return values.sum() * np.sum(x) + np.sum(values.mean(axis=0) * x)


DISPATCH_CASES = [
    pytest.param(test_calls.method_of_argument,
                 (np.array([0.3, -0.7]),
                  test_calls.Linear(np.arange(6.0).reshape(3, 2) / 4.0),
                  test_calls.square), (0,), id='method-and-function-value'),
    pytest.param(test_calls.calls_model_object,
                 (np.array([0.5, 0.2]),
                  test_calls.Linear(np.arange(6.0).reshape(3, 2) / 4.0)),
                 (0,), id='callable-object'),
    pytest.param(weighted_method_call,
                 (np.array([0.5, -0.2]),
                  test_calls.Linear(np.arange(6.0).reshape(3, 2) / 5.0), 1.5),
                 (0, 2), id='method-with-two-tangents'),
    pytest.param(keyword_function_value,
                 (np.array([0.5, -1.2, 2.0]), square_of), (0,),
                 id='keyword-argument'),
    pytest.param(method_of_sum,
                 (np.array([0.5, -1.2]), np.array([[1.0, 2.0], [0.5, -3.0]])),
                 (0, 1), id='array-methods'),
]


@pytest.mark.parametrize('function, args, positions', DISPATCH_CASES)
def test_dispatched_call_jvp(function, args, positions):
    check_jvp(function, args, positions)


def test_dispatched_call_in_tangent_source():
    source = adcompiler.api._COMPILER.compile_forward(
        test_calls.method_of_argument, ('x',)).source
    assert 'ad.call_method_tangent(' in source
    assert 'ad.call_function_tangent(' in source


def test_dispatched_foreign_call_raises_in_forward_mode():
    cube = np.frompyfunc(lambda v: v ** 3, 1, 1)
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.jvp(test_calls.calls_held_function, (np.ones(3), cube),
                       (np.ones(3), None))
    error = info.value
    function = test_calls.calls_held_function
    assert error.lineno == function.__code__.co_firstlineno + 2
    assert error.callee_name == "f (the ufunc '<lambda> (vectorized)')"
    assert 'register_jvp(f)' in str(error)
    assert error.active_argument == 'y'


def test_dispatched_call_without_forward_rule_raises_at_call():
    halve = np.frompyfunc(lambda v: v / 2, 1, 1)
    adcompiler.register_vjp(halve, lambda g, ans, v: (g / 2.0,))
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.jvp(test_calls.calls_held_function, (np.ones(3), halve),
                       (np.ones(3), None))
    function = test_calls.calls_held_function
    assert info.value.lineno == function.__code__.co_firstlineno + 2
    assert 'register_jvp' in str(info.value)


def sum_of_cubes(x, cube):
    return np.sum(cube(x * 2.0).astype(float))


def test_foreign_call_error_suggests_forward_rule():
    cube = np.frompyfunc(lambda v: v ** 3, 1, 1)
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.jvp(lambda x: sum_of_cubes(x, cube), (np.ones(3),),
                       (np.ones(3),))
    message = str(info.value)
    assert 'no forward rule is registered' in message
    assert 'register_jvp(' in message
    assert 'register_vjp(' not in message
    assert info.value.forward


def test_dispatched_foreign_call_error_suggests_forward_rule():
    cube = np.frompyfunc(lambda v: v ** 3, 1, 1)
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.jvp(test_calls.calls_held_function, (np.ones(3), cube),
                       (np.ones(3), None))
    assert 'register_jvp(' in str(info.value)
    assert 'register_vjp(' not in str(info.value)


@pytest.mark.parametrize('shape', [(1,), (3,), (2, 3)])
def test_foreign_call_with_forward_rule_only(shape):
    cube = np.frompyfunc(lambda v: v ** 3, 1, 1)
    adcompiler.register_jvp(
        cube, lambda tangents, ans, v: tangents[0] * 3.0 * v ** 2)
    x = np.linspace(-1.0, 1.5, int(np.prod(shape))).reshape(shape)
    direction = np.full(shape, 0.5)

    def function(x):
        return sum_of_cubes(x, cube)

    value, tangent = adcompiler.jvp(function, (x,), (direction,))
    expected = directional_difference(function, (x,), (direction,))
    np.testing.assert_allclose(value, function(x))
    np.testing.assert_allclose(tangent, expected, rtol=1e-6)


def test_forward_rule_only_rejected_by_grad():
    cube = np.frompyfunc(lambda v: v ** 3, 1, 1)
    adcompiler.register_jvp(
        cube, lambda tangents, ans, v: tangents[0] * 3.0 * v ** 2)
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(lambda x: sum_of_cubes(x, cube))(np.ones(3))
    assert 'register_vjp(' in str(info.value)


def _hvp_params():
    params = []
    for case in DISPATCH_CASES:
        for mode in (None, 'reverse-over-forward', 'forward-over-reverse',
                     'reverse-over-reverse'):
            marks = case.marks
            if case.id == 'keyword-argument' and \
                    mode == 'reverse-over-reverse':
                marks = pytest.mark.xfail(
                    strict=True, raises=adcompiler.UnsupportedSyntaxError,
                    reason='reverse mode over a dispatched call in generated '
                           'adjoint code takes derivatives through '
                           'positional arguments only')
            params.append(pytest.param(*case.values, mode, marks=marks,
                                       id=f'{case.id}-{mode}'))
    return params


@pytest.mark.parametrize('function, args, positions, mode', _hvp_params())
def test_dispatched_call_hvp(function, args, positions, mode):
    position = positions[0]
    x = args[position]
    direction = np.random.default_rng(2).normal(size=np.shape(x))
    gradient = adcompiler.grad(function, wrt=position)

    def along(epsilon):
        moved = list(args)
        moved[position] = x + epsilon * direction
        return np.asarray(gradient(*moved), dtype=float)

    expected = (along(1e-5) - along(-1e-5)) / 2e-5
    product = adcompiler.hvp(function, wrt=position, mode=mode)(*args,
                                                                direction)
    np.testing.assert_allclose(product, expected, rtol=1e-5, atol=1e-6)


def test_dispatched_call_hessian():
    function, args, _ = DISPATCH_CASES[0].values
    hessian = adcompiler.hessian(function)(*args)
    gradient = adcompiler.grad(function)
    columns = []
    for index in range(2):
        step = np.zeros(2)
        step[index] = 1e-5
        columns.append((gradient(args[0] + step, *args[1:])
                        - gradient(args[0] - step, *args[1:])) / 2e-5)
    np.testing.assert_allclose(hessian, np.stack(columns), rtol=1e-5,
                               atol=1e-6)


@dataclasses.dataclass
class DenseLayer:
    w: np.ndarray

    def apply(self, x):
        return np.tanh(self.w @ x)

    def __call__(self, x):
        return self.apply(x) * 2.0


def uses_dense_layer(layer, x):
    return np.sum(layer(x) ** 2) + np.sum(layer.apply(x))


@pytest.mark.parametrize('layer_tangent, x_tangent', [
    (True, True), (False, True), (True, False)],
    ids=['both', 'input', 'layer'])
def test_dispatched_call_of_differentiated_object(layer_tangent, x_tangent):
    rng = np.random.default_rng(1)
    layer, x = DenseLayer(rng.normal(size=(3, 2))), rng.normal(size=2)
    dw, dx = rng.normal(size=(3, 2)), rng.normal(size=2)
    tangents = (DenseLayer(dw) if layer_tangent else None,
                dx if x_tangent else None)
    _, tangent = adcompiler.jvp(uses_dense_layer, (layer, x), tangents)

    def moved(epsilon):
        w = layer.w + epsilon * dw if layer_tangent else layer.w
        return uses_dense_layer(DenseLayer(w),
                                x + epsilon * dx if x_tangent else x)

    expected = (moved(1e-6) - moved(-1e-6)) / 2e-6
    assert tangent == pytest.approx(expected, rel=1e-6)
# The rule tables of test_rules_numpy, test_rules_linalg and test_rules_fft,
# each function's tangent against central differences.

tn = test_rules_numpy
tl = test_rules_linalg
sample = test_rules.sample


def _shape_id(shape):
    return 'x'.join(map(str, shape)) or 'float'


def _table_ids(cases):
    return [f'{case[0].__name__}-' + '-'.join(
        _shape_id(s) for s in case[1:]) for case in cases]


@pytest.mark.parametrize('function', tn.AXIS_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_axes_table_jvp(function):
    check_table_jvp(function, sample((2, 3, 4)))


@pytest.mark.parametrize('function, shape',
                         tn.TRIANGLE_CASES + tn.INDEXING_CASES + tn.SPLIT_CASES,
                         ids=_table_ids(tn.TRIANGLE_CASES + tn.INDEXING_CASES
                                        + tn.SPLIT_CASES))
def test_shape_table_jvp(function, shape):
    check_table_jvp(function, sample(shape))


@pytest.mark.parametrize('function, x_shape, y_shape', tn.JOIN_CASES,
                         ids=_table_ids(tn.JOIN_CASES))
def test_join_table_jvp(function, x_shape, y_shape):
    check_table_jvp(function, sample(x_shape, seed=1),
                    sample(y_shape, seed=2))


@pytest.mark.parametrize('function', [tn.method_astype_float,
                                      tn.method_astype_complex, tn.ASTYPE_CASE,
                                      tn.method_astype_bool,
                                      tn.method_astype_int],
                         ids=lambda f: f.__name__)
def test_astype_jvp(function):
    check_table_jvp(function, test_rules.XS)


def test_method_clip_jvp():
    check_table_jvp(tn.method_clip, test_rules.XS, -0.5,
                    np.array([1.0, 0.5, 0.3]))
    check_table_jvp(tn.method_clip_keywords, test_rules.XS,
                    np.array([[1.0], [0.5]]))


# super(cls, obj) is differentiated through the methods called on it, which
# forward mode resolves only at run time, and does not support yet.
WITHOUT_FORWARD_RULE = {builtins.super}


def test_every_rule_has_a_forward_rule():
    # Library callables only: the helpers of generated code and the rules
    # that users register are left out.
    callees, methods, attributes = REGISTRY.entries()
    without = {c for c in callees if isinstance(REGISTRY.lookup(c), Rule)
               and test_rules._is_library_callee(c)
               and REGISTRY.lookup_jvp_template(c) is None
               and REGISTRY.lookup_linear(c) is None
               and REGISTRY.lookup_jvp(c) is None}
    assert without <= WITHOUT_FORWARD_RULE
    differentiable = [m for m in methods
                      if REGISTRY.lookup_method(m) is not NON_DIFFERENTIABLE]
    assert [m for m in differentiable
            if REGISTRY.lookup_jvp_template(method=m) is None
            and REGISTRY.lookup_linear(method=m) is None] == []
    assert [a for a in attributes
            if REGISTRY.lookup_attribute(a) is not NON_DIFFERENTIABLE
            and REGISTRY.lookup_jvp_template(attribute=a) is None] == []


@pytest.mark.parametrize('function', [tn.np_pad, tn.np_pad_edge,
                                      tn.np_pad_reflect, tn.np_pad_symmetric,
                                      tn.np_pad_wrap],
                         ids=lambda f: f.__name__)
def test_pad_jvp(function):
    check_table_jvp(function, sample((2, 3)))


# The padding moves with constant_values only, not with the array.
@pytest.mark.parametrize('function, values', [
    pytest.param(tn.np_pad_value, 0.5, id='scalar'),
    pytest.param(tn.np_pad_values_per_axis,
                 np.array([[0.5, -1.0], [2.0, 1.5]]), id='per-axis-and-side'),
    pytest.param(tn.np_pad_values_per_axis, np.array([[0.5], [2.0]]),
                 id='per-axis'),
])
def test_pad_constant_values_jvp(function, values):
    check_table_jvp(function, sample((2, 3)), values)


def test_pad_rejects_other_modes_jvp():
    with pytest.raises(NotImplementedError, match="mode='mean'"):
        adcompiler.jvp(tn.np_pad_mean, (sample((2, 3)), 1.0),
                       (np.ones((2, 3)), None))


# Entries that are NaN or infinite are replaced (or skipped): they move
# with the replacement values, not with x.
@pytest.mark.parametrize('axis', [None, 0, 1], ids=str)
@pytest.mark.parametrize('function', [tn.np_nansum, tn.np_nanmean],
                         ids=lambda f: f.__name__)
def test_nan_reductions_jvp(function, axis):
    check_table_jvp(function, tn.WITH_NANS, axis, False)


# The NaN entries below have NaN tangents, which the rules must skip as the
# primal skips the entries; the tangent then equals grad . direction.
@pytest.mark.parametrize('axis', [None, 0, 1], ids=str)
@pytest.mark.parametrize('function', test_rules_numpy.NAN_REDUCTIONS_OF_CUBES,
                         ids=lambda f: f.__name__)
def test_nan_reductions_of_nan_results_jvp(function, axis):
    check_table_jvp(function, tn.ABOVE_ONE, axis, False)
    check_jvp_matches_grad(function, (tn.ABOVE_ONE, axis, False, 1.0))


@pytest.mark.parametrize('shape, axis, keepdims', test_rules.REDUCTION_CASES)
@pytest.mark.parametrize('function', tn.NAN_SKIPPING_REDUCTIONS,
                         ids=lambda f: f.__name__)
def test_nan_skipping_reduction_jvp(function, shape, axis, keepdims):
    check_table_jvp(function, sample(shape), axis, keepdims)


@pytest.mark.parametrize('shape, axis', tn.SCAN_CASES)
@pytest.mark.parametrize('function', tn.NAN_SKIPPING_SCANS,
                         ids=lambda f: f.__name__)
def test_nan_skipping_scan_jvp(function, shape, axis):
    check_table_jvp(function, sample(shape), axis)
    check_table_jvp(function, sample(shape), None)


# The tangents of the NaN entries are left out, so the tangent along any
# direction equals the gradient, which is 0 there, dotted with it.
@pytest.mark.parametrize('axis', [None, 0, 1, (0, 1)], ids=str)
@pytest.mark.parametrize('function', tn.NAN_SKIPPING_REDUCTIONS,
                         ids=lambda f: f.__name__)
def test_nan_skipping_reduction_with_nans_jvp(function, axis):
    for keepdims in (False, True):
        check_table_jvp(function, tn.SOME_NANS, axis, keepdims)
        check_jvp_matches_grad(function, (tn.SOME_NANS, axis, keepdims, 1.0))


@pytest.mark.parametrize('axis', [None, 0, 1], ids=str)
@pytest.mark.parametrize('function', tn.NAN_SKIPPING_SCANS,
                         ids=lambda f: f.__name__)
def test_nan_skipping_scan_with_nans_jvp(function, axis):
    check_table_jvp(function, tn.SOME_NANS, axis)
    check_jvp_matches_grad(function, (tn.SOME_NANS, axis, 1.0))


@pytest.mark.parametrize('axis', [None, 0, 1], ids=str)
@pytest.mark.parametrize('function', tn.NAN_SKIPPING_OF_CUBES,
                         ids=lambda f: f.__name__)
def test_nan_skipping_reductions_of_nan_results_jvp(function, axis):
    check_table_jvp(function, tn.ABOVE_ONE, axis, False)
    check_jvp_matches_grad(function, (tn.ABOVE_ONE, axis, False, 1.0))


# Forward mode leaves out the NaN tangents of the skipped entries, and
# reverse mode gives them 0, so jvp equals grad dotted with the direction.
@pytest.mark.parametrize('function', tn.NAN_INPUT_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_nan_inputs_jvp_matches_grad(function):
    check_jvp_matches_grad(function, (tn.NAN_INPUT,))
    along_nans = np.where(np.isnan(tn.NAN_INPUT), 1.0, 0.0)
    _, tangent = adcompiler.jvp(function, (tn.NAN_INPUT,), (along_nans,))
    assert tangent == 0.0


# The all-NaN slices have NaN results, which np.nansum skips.
@pytest.mark.parametrize('axis', [0, 1])
@pytest.mark.parametrize('function', tn.NAN_RESULTS_SKIPPED,
                         ids=lambda f: f.__name__)
def test_all_nan_slice_has_zero_tangent(function, axis):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        check_jvp_matches_grad(function, (tn.ALL_NAN_SLICES, axis))
        along_nans = np.where(np.isnan(tn.ALL_NAN_SLICES), 1.0, 0.0)
        _, tangent = adcompiler.jvp(function, (tn.ALL_NAN_SLICES, axis),
                                    (along_nans, None))
    assert tangent == 0.0


@pytest.mark.parametrize('x, y', test_rules_numpy.NAN_EXTREMA_CASES)
@pytest.mark.parametrize('function', test_rules_numpy.NAN_EXTREMA_OF_CUBES,
                         ids=lambda f: f.__name__)
def test_nan_extrema_of_nan_results_jvp(function, x, y):
    check_table_jvp(function, x, y)
    check_jvp_matches_grad(function, (x, y, 1.0))


def check_jvp_matches_grad(function, args):
    """The tangent along a direction of args[0] equals grad . direction."""
    direction = np.random.default_rng(3).normal(size=np.shape(args[0]))
    tangents = (direction,) + (None,) * (len(args) - 1)
    _, tangent = adcompiler.jvp(function, args, tangents)
    gradient = adcompiler.grad(function)(*args)
    assert np.isfinite(tangent)
    np.testing.assert_allclose(tangent, np.sum(gradient * direction),
                               rtol=1e-12, atol=1e-12)


def where_sqrt_or_identity(x):
    return np.sum(np.where(x > 0, np.sqrt(x), x))


def where_sqrt_of_safe_input(x):
    safe = np.where(x > 0, x, 1.0)
    return np.sum(np.where(x > 0, np.sqrt(safe), x))


# np.where selects tangents, so a NaN tangent of the branch it discards does
# not reach the result. Reverse mode multiplies the zero cotangent of that
# branch by its NaN partial, as JAX's reverse mode does, so the gradient is
# NaN there. A second where, on the input of np.sqrt, keeps both modes finite.
@pytest.mark.parametrize('x', [np.array([0.5, -2.0, 1.5]),
                               np.array([[-0.3, 2.0], [1.0, -1.0]])],
                         ids=['vector', 'matrix'])
def test_where_discarded_branch_tangent(x):
    for function in (where_sqrt_or_identity, where_sqrt_of_safe_input):
        direction = np.random.default_rng(1).normal(size=x.shape)
        with np.errstate(invalid='ignore'):
            _, tangent = adcompiler.jvp(function, (x,), (direction,))
            expected = directional_difference(function, (x,), (direction,))
        np.testing.assert_allclose(tangent, expected, rtol=1e-6)
    check_jvp_matches_grad(where_sqrt_of_safe_input, (x,))


def fmax_of(x, y):
    return np.fmax(x, y)


def fmin_of(x, y):
    return np.fmin(x, y)


# A tie splits the tangent in halves, and a NaN operand's tangent (even a
# NaN one) is left out.
@pytest.mark.parametrize('function', [fmax_of, fmin_of],
                         ids=lambda f: f.__name__)
def test_fmax_fmin_tangent_ties_and_nans(function):
    x = np.array([1.0, np.nan, 2.0])
    y = np.array([1.0, 3.0, np.nan])
    t_x = np.array([0.4, np.nan, -1.0])
    t_y = np.array([2.0, 0.5, np.nan])
    _, tangent = adcompiler.jvp(function, (x, y), (t_x, t_y))
    np.testing.assert_array_equal(tangent, [1.2, 0.5, -1.0])


def test_nan_to_num_jvp():
    check_table_jvp(tn.np_nan_to_num, tn.NON_FINITE)
    check_table_jvp(tn.np_nan_to_num_values, tn.NON_FINITE, 0.5, 3.0, -3.0)
    z = np.array([1.0 + np.nan * 1j, np.inf - 2.0j, np.nan + np.inf * 1j])
    check_table_jvp(tn.c_nan_to_num_values, z, 0.5, 3.0)


def test_nan_to_num_rejects_copy_false_jvp():
    with pytest.raises(NotImplementedError, match='copy=False'):
        adcompiler.jvp(tn.np_nan_to_num_in_place, (tn.NON_FINITE, 1.0),
                       (np.ones((2, 3)), None))


@pytest.mark.parametrize('shape, axis, keepdims', test_rules.REDUCTION_CASES)
@pytest.mark.parametrize('function', tn.REDUCTIONS, ids=lambda f: f.__name__)
def test_reduction_table_jvp(function, shape, axis, keepdims):
    check_table_jvp(function, sample(shape), axis, keepdims)


@pytest.mark.parametrize('function', [tn.np_prod, tn.np_var, tn.np_std,
                                      tn.np_ptp, tn.np_average],
                         ids=lambda f: f.__name__)
def test_reduction_of_float_jvp(function):
    check_table_jvp(function, 1.7, None, False)


@pytest.mark.parametrize('axis', [None, 0, 1], ids=str)
@pytest.mark.parametrize('function', [tn.np_prod, tn.np_cumprod],
                         ids=lambda f: f.__name__)
def test_products_with_zeros_jvp(function, axis):
    # The tangents need no division, so zeros are exact: no NaN, no inf.
    if function is tn.np_cumprod:
        check_table_jvp(function, tn.ZEROS, axis)
    else:
        check_table_jvp(function, tn.ZEROS, axis, False)


def test_std_of_constant_has_zero_tangent():
    x = np.full((2, 3), 0.5)
    _, tangent = adcompiler.jvp(tn.np_std, (x, 1, False, 1.0),
                                (np.ones((2, 3)), None, None, None))
    assert tangent == 0.0


@pytest.mark.parametrize('function', [tn.c_var, tn.c_std, tn.c_prod],
                         ids=lambda f: f.__name__)
def test_complex_reduction_jvp(function):
    check_table_jvp(function, test_rules.complex_sample((3, 4)))


@pytest.mark.parametrize('function, x_shape, weights_shape',
                         tn.AVERAGE_CASES, ids=_table_ids(tn.AVERAGE_CASES))
def test_average_weights_jvp(function, x_shape, weights_shape):
    check_table_jvp(function, sample(x_shape, seed=1),
                    sample(weights_shape, 0.5, 2.0, seed=2))


@pytest.mark.parametrize('shape, axis', tn.SCAN_CASES)
@pytest.mark.parametrize('function', tn.SCANS, ids=lambda f: f.__name__)
def test_scan_table_jvp(function, shape, axis):
    check_table_jvp(function, sample(shape), axis)


@pytest.mark.parametrize('function, shape', [
    pytest.param(tn.np_cumprod, (), id='np_cumprod-float'),
    pytest.param(tn.np_cumprod, (4,), id='np_cumprod-vector'),
    pytest.param(tn.np_cumprod, (3, 4), id='np_cumprod-matrix'),
    pytest.param(tn.method_cumprod, (3, 4), id='method_cumprod-matrix'),
])
def test_cumprod_flattened_jvp(function, shape):
    check_table_jvp(function, sample(shape), None)


@pytest.mark.parametrize('function, x_shape, y_shape',
                         tn.PRODUCT_CASES + tn.EINSUM_CASES,
                         ids=_table_ids(tn.PRODUCT_CASES + tn.EINSUM_CASES))
def test_product_table_jvp(function, x_shape, y_shape):
    check_table_jvp(function, sample(x_shape, seed=1),
                    sample(y_shape, seed=2))


@pytest.mark.parametrize('shape, axis', [
    pytest.param((4,), -1, id='vector'),
    pytest.param((3, 4), 0, id='matrix-axis0'),
    pytest.param((2, 3, 4), 1, id='cube-axis1'),
    pytest.param((3, 4), None, id='matrix-flat'),
])
@pytest.mark.parametrize('function', tn.SORTS, ids=lambda f: f.__name__)
def test_sort_table_jvp(function, shape, axis):
    check_table_jvp(function, sample(shape), axis)


@pytest.mark.parametrize('function', tn.TIE_SORTS, ids=lambda f: f.__name__)
def test_sort_ties_jvp(function):
    # A tied pair is a kink, where central differences give the mean of both
    # sides.
    check_table_jvp(function, tn.TIES, -1)
    check_table_jvp(function, tn.TIES, 0)


@pytest.mark.parametrize('function, x', [
    pytest.param(tn.last_of_sorted, [3.0, 1.0, 3.0], id='sort-pair'),
    pytest.param(tn.middle_of_partitioned, [1.0, 1.0, 1.0, 0.0],
                 id='partition-three'),
])
def test_sort_ties_tangent_is_transpose_of_gradient(function, x):
    x = np.array(x)
    gradient = test_rules.grad_of(function, x)
    for direction in np.eye(len(x)):
        _, tangent = adcompiler.jvp(function, (x, 1.0), (direction, None))
        assert tangent == pytest.approx(gradient @ direction, abs=1e-15)


@pytest.mark.parametrize('first_shape, second_shape', [
    pytest.param((), (), id='floats'),
    pytest.param((3,), (), id='vector-float'),
    pytest.param((2, 1), (3,), id='column-vector'),
])
@pytest.mark.parametrize('function', tn.RANDOM_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_random_draws_jvp(function, first_shape, second_shape):
    check_table_jvp(function, sample(first_shape, 0.5, 2.0, seed=1),
                    sample(second_shape, 2.5, 3.0, seed=2))


@pytest.mark.parametrize('x, y', [(5.5, 2.0), (-5.5, 1.5),
                                  (sample((3,), 1.0, 4.0), 0.7)],
                         ids=['floats', 'negative', 'vector-float'])
def test_builtin_divmod_jvp(x, y):
    check_table_jvp(test_rules.builtin_divmod, x, y)


# numpy.linalg

@pytest.mark.parametrize('function, shape', tl.SQUARE_CASES,
                         ids=_table_ids(tl.SQUARE_CASES))
def test_matrix_function_jvp(function, shape):
    check_table_jvp(function, tl.general(shape))


@pytest.mark.parametrize('a', [
    pytest.param([[1.0, 2.0], [2.0, 4.0]], id='rank-1'),
    pytest.param([[0.0, 0.0], [0.0, 0.0]], id='zero'),
    pytest.param([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]],
                 id='rank-2'),
])
def test_det_of_singular_matrix_jvp(a):
    # The tangent uses the cofactors, not an inverse.
    check_table_jvp(tl.det, np.array(a))


@pytest.mark.parametrize('a_shape, b_shape', tl.SOLVE_PARAMS)
def test_solve_jvp(a_shape, b_shape):
    b = np.random.default_rng(5).uniform(-1.0, 1.0, b_shape)
    check_table_jvp(tl.solve, tl.general(a_shape), b)


@pytest.mark.parametrize('function', [tl.lstsq_solution, tl.lstsq_residuals,
                                      tl.lstsq_singular_values, tl.lstsq_all],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('a_shape, b_shape', [
    pytest.param((5, 3), (5,), id='tall-vector'),
    pytest.param((5, 3), (5, 2), id='tall-matrix'),
    pytest.param((3, 3), (3, 2), id='square'),
    pytest.param((2, 4), (2,), id='wide'),
])
def test_lstsq_jvp(function, a_shape, b_shape):
    b = np.random.default_rng(5).uniform(-1.0, 1.0, b_shape)
    check_table_jvp(function, tl.general(a_shape), b)


@pytest.mark.parametrize(
    'shape, ord, axis, keepdims', tl.NORM_CASES,
    ids=[f'{_shape_id(s)}-ord={o}-axis={a}{"-keepdims" if k else ""}'
         for s, o, a, k in tl.NORM_CASES])
def test_norm_jvp(shape, ord, axis, keepdims):
    x = np.random.default_rng(3).uniform(-2.0, 2.0, shape)
    check_table_jvp(tl.norm, x, (ord, axis, keepdims))


@pytest.mark.parametrize('function', tl.kept([
    tl.vector_norm, tl.vector_norm_default, tl.matrix_norm,
    tl.matrix_norm_default]), ids=lambda f: f.__name__)
def test_array_api_norms_jvp(function):
    check_table_jvp(function,
                    np.random.default_rng(3).uniform(-2.0, 2.0, (2, 3, 4)))


@pytest.mark.parametrize('ord', [None, 2, 1, np.inf, 3], ids=str)
def test_norm_of_zero_vector_has_zero_tangent(ord):
    _, tangent = adcompiler.jvp(tl.norm, (np.zeros(3), (ord, None, False),
                                          1.0), (np.ones(3), None, None))
    assert tangent == 0.0


@pytest.mark.parametrize('shape', [(3, 3), (2, 3, 3), (1, 1)],
                         ids=_shape_id)
@pytest.mark.parametrize('function', tl.SYMMETRIC_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_symmetric_matrix_function_jvp(function, shape):
    check_table_jvp(function, tl.positive_definite(shape))


@pytest.mark.parametrize('function', [tl.eigh_of_symmetrized,
                                      tl.cholesky_of_gram],
                         ids=lambda f: f.__name__)
def test_symmetric_construction_jvp(function):
    check_table_jvp(function, tl.general((3, 3)))


@pytest.mark.parametrize('function', [tl.eig_values, tl.eigvals],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('a', [
    pytest.param(tl.general((3, 3)), id='real-eigenvalues'),
    pytest.param(tl.rotation_like(), id='complex-eigenvalues'),
    pytest.param(tl.general((2, 3, 3)), id='stack'),
])
def test_eig_jvp(function, a):
    check_table_jvp(function, a)


# The tangent of the eigenvectors follows LAPACK's normalization: unit norm
# and the largest entry real.
@pytest.mark.parametrize('function', [tl.eig_vectors, tl.eig_vector_parts],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('a', [
    pytest.param(tl.general((3, 3)), id='real-eigenvalues'),
    pytest.param(tl.rotation_like(), id='complex-eigenvalues'),
    pytest.param(tl.general((2, 3, 3)), id='stack'),
])
def test_eig_vectors_jvp(function, a):
    check_table_jvp(function, a)


@pytest.mark.parametrize('shape', [(3, 3), (4, 2), (2, 4), (2, 3, 2)],
                         ids=_shape_id)
@pytest.mark.parametrize('function', tl.DECOMPOSITIONS,
                         ids=lambda f: f.__name__)
def test_decomposition_jvp(function, shape):
    check_table_jvp(function, tl.general(shape, seed=2))


@pytest.mark.parametrize('function, shape', [
    pytest.param(tl.svd_full_square, (3, 3), id='svd-full-square'),
    pytest.param(tl.qr_complete, (2, 4), id='qr-complete-wide'),
])
def test_full_decompositions_jvp(function, shape):
    check_table_jvp(function, tl.general(shape))


@pytest.mark.parametrize('function', tl.kept([tl.c_det, tl.c_slogdet,
                                      tl.c_slogdet_fields, tl.c_inv,
                                      tl.c_solve, tl.c_matrix_power,
                                      tl.c_norm, tl.c_norm_matrix,
                                      tl.c_eigvals]),
                         ids=lambda f: f.__name__)
def test_complex_matrix_function_jvp(function):
    check_table_jvp(function, tl.complex_general((3, 3)))


@pytest.mark.parametrize('function, shape, option', [
    pytest.param(tl.svd_full_wide, (2, 3), 'full_matrices=True', id='svd'),
    pytest.param(tl.qr_complete_tall, (3, 2), "mode='complete'", id='qr'),
    pytest.param(tl.pinv_hermitian, (2, 2), 'hermitian=True', id='pinv'),
])
def test_unsupported_linalg_options_jvp(function, shape, option):
    a = tl.general(shape)
    with pytest.raises(NotImplementedError, match=option):
        adcompiler.jvp(function, (a, 1.0), (np.ones(shape), None))


@pytest.mark.parametrize('function', [tl.c_eigh, tl.c_svd, tl.c_cholesky],
                         ids=lambda f: f.__name__)
def test_complex_decompositions_rejected_jvp(function):
    a = tl.complex_general((3, 3))
    a = a @ np.conj(a.T)
    with pytest.raises(NotImplementedError, match='real matrices only'):
        adcompiler.jvp(function, (a, 1.0), (np.ones((3, 3)) + 0j, None))


# numpy.fft

@pytest.mark.parametrize('function, shape', test_rules_fft.REAL_INPUT_CASES,
                         ids=_table_ids(test_rules_fft.REAL_INPUT_CASES))
def test_fft_real_input_jvp(function, shape):
    check_table_jvp(function, sample(shape))


@pytest.mark.parametrize('function, shape',
                         test_rules_fft.COMPLEX_INPUT_CASES,
                         ids=_table_ids(test_rules_fft.COMPLEX_INPUT_CASES))
def test_fft_complex_input_jvp(function, shape):
    check_table_jvp(function, test_rules.complex_sample(shape))


@pytest.mark.parametrize(
    'function, x, y', test_rules.SEQUENCE_CASES,
    ids=[f'{f.__name__}-{np.shape(x)}-{np.shape(y)}'
         for f, x, y in test_rules.SEQUENCE_CASES])
def test_sequence_builtins_jvp(function, x, y):
    check_table_jvp(function, x, y)


@pytest.mark.parametrize(
    'function, x_shape, y_shape', tl.ARRAY_API_CASES,
    ids=_table_ids(tl.ARRAY_API_CASES))
def test_array_api_function_jvp(function, x_shape, y_shape):
    rng = np.random.default_rng(7)
    check_table_jvp(function, rng.uniform(-1.0, 1.0, x_shape),
                    rng.uniform(-1.0, 1.0, y_shape))


# Complex inputs, moved along complex directions. The reverse rules of
# non-holomorphic functions conjugate, so their forward rules are their own.
@pytest.mark.parametrize('shape', test_rules.SHAPES)
@pytest.mark.parametrize('function', test_rules.COMPLEX_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_complex_input_jvp(function, shape):
    check_table_jvp(function, test_rules.complex_sample(shape))


@pytest.mark.parametrize('function', [test_rules.c_method_conj,
                                      test_rules.c_method_conjugate,
                                      test_rules.c_attributes],
                         ids=lambda f: f.__name__)
def test_complex_methods_and_attributes_jvp(function):
    check_table_jvp(function, test_rules.complex_sample((2, 3)))


# Loops over one iterable: the item's tangent is a plain subscript of the
# iterable's tangent where the iterable cannot be a dict, and is read by
# ad.loop_item_tangent (zero for a dict's keys) where it may be one.

def loops_over_rows_of_product(x, w):
    y = x * w
    total = 0.0
    for row in y:
        total = total + np.sum(np.sin(row))
    return total


def loops_over_argument_after_arithmetic(x, w):
    scaled = x * 2.0
    total = np.sum(scaled * w)
    for row in x:
        total = total + np.sum(row * w)
    return total


def loops_over_list_display(x, w):
    total = 0.0
    for item in [x, w * x]:
        total = total + np.sum(item ** 2)
    return total


def loops_over_argument_first(x, w):
    total = 0.0
    for row in x:  # x could be a dict here: no statement before the loop rules it out.
        total = total + np.sum(row * w)
    return total * np.sum(x)


def loops_over_dict_display(x, w):
    layers = {'a': x, 'b': x * w}
    total = 0.0
    for key in layers:
        total = total + np.sum(np.tanh(layers[key]))
    return total


def loops_over_argument_in_branch(x, w):
    total = 0.0
    if w[0] > 0.0:
        total = np.sum(x * w)  # Not run on every call.
    for row in x:
        total = total + np.sum(row * w)
    return total


_M23 = np.array([[0.3, -0.8, 1.1], [0.6, 0.2, -0.4]])
_V3 = np.array([0.5, -1.2, 0.9])
LOOP_ITEM_CASES = [
    pytest.param(loops_over_rows_of_product, 'drow = dy[k]', id='product'),
    pytest.param(loops_over_argument_after_arithmetic, 'drow = dx[k]',
                 id='argument-after-arithmetic'),
    pytest.param(loops_over_list_display, 'ditem = dt2[k]',
                 id='list-display'),
    pytest.param(loops_over_argument_first, 'ad.loop_item_tangent(dx, k)',
                 id='argument-first'),
    # The keys carry no tangent; each value's is read by key.
    pytest.param(loops_over_dict_display, 'dt2 = dlayers[key]',
                 id='dict-display'),
    pytest.param(loops_over_argument_in_branch, 'ad.loop_item_tangent(dx, k)',
                 id='argument-in-branch'),
]


@pytest.mark.parametrize('function, item_read', LOOP_ITEM_CASES)
def test_loop_item_tangent_read(function, item_read):
    source = adcompiler.compiler.Compiler().compile_forward(
        function, ('x', 'w')).source
    assert item_read in source
    for x in (_M23, _V3):
        directions = (np.ones_like(x) * 0.3 - 0.1 * np.arange(x.size).reshape(
            x.shape), np.array([0.2, -0.4, 0.7]))
        _, tangent = adcompiler.jvp(function, (x, _V3), directions)
        expected = directional_difference(function, (x, _V3), directions)
        np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-6)


def copies_containers(x):
    # Each copy keeps the values from before the update of the original.
    scaled = {'head': x[0], 'all': x * 2.0}
    kept = scaled.copy()
    scaled['head'] = scaled['head'] * 3.0
    items = [x[-1], x[0] * x[-1]]
    kept_items = items.copy()
    items[0] = items[0] * 5.0
    copied = x.copy()
    return np.sum(kept['head'] + scaled['head'] * 10.0
                  + np.sum(kept['all'] * kept_items[0]) + items[0]
                  + kept_items[1] * np.sum(copied ** 2))


@pytest.mark.parametrize('shape', [(3,), (2,), (2, 2)])
def test_dict_and_list_copy_tangents(shape):
    x = np.random.default_rng(6).uniform(-1.0, 1.0, size=shape)
    expected = numerical_gradient(copies_containers, [x], 0)
    jacobian = adcompiler.jacobian(copies_containers, mode='forward')(x)
    np.testing.assert_allclose(jacobian, expected, rtol=1e-6, atol=1e-8)
    direction = np.random.default_rng(7).normal(size=shape)
    _, tangent = adcompiler.jvp(copies_containers, (x,), (direction,))
    np.testing.assert_allclose(tangent, np.sum(expected * direction),
                               rtol=1e-6, atol=1e-8)
    hessian = adcompiler.hessian(copies_containers)(x)
    expected_hessian = np.reshape(
        [numerical_gradient(lambda y, i=i: adcompiler.grad(
            copies_containers)(y)[i], [x], 0)
         for i in np.ndindex(shape)], shape + shape)
    np.testing.assert_allclose(hessian, expected_hessian, rtol=1e-5,
                               atol=1e-6)
