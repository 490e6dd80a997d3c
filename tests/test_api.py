"""The public API: wrt forms, decorators, value_and_grad and .source."""

import tempfile
import warnings

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def weighted(x, y, scale=2.0):
    return np.sum(scale * x * y + x ** 2)


X = np.array([0.5, -1.0, 2.0])
Y = np.array([1.5, 0.25, -3.0])


def test_grad_default_is_first_argument():
    np.testing.assert_allclose(adcompiler.grad(weighted)(X, Y), 2.0 * Y + 2 * X)


@pytest.mark.parametrize('wrt', [1, 'y', -2], ids=['position', 'name',
                                                   'negative-position'])
def test_grad_single_wrt(wrt):
    np.testing.assert_allclose(adcompiler.grad(weighted, wrt=wrt)(X, Y), 2.0 * X)


def test_grad_tuple_wrt_returns_tuple():
    dx, dy = adcompiler.grad(weighted, wrt=(0, 'y'))(X, Y)
    np.testing.assert_allclose(dx, 2.0 * Y + 2 * X)
    np.testing.assert_allclose(dy, 2.0 * X)


def test_grad_wrt_default_argument():
    dscale = adcompiler.grad(weighted, wrt='scale')(X, Y)
    assert np.isclose(dscale, np.sum(X * Y))


def test_grad_keyword_call():
    np.testing.assert_allclose(adcompiler.grad(weighted)(X, y=Y, scale=1.0),
                               Y + 2 * X)


def test_value_and_grad():
    value, gradient = adcompiler.value_and_grad(weighted)(X, Y)
    assert value == pytest.approx(weighted(X, Y))
    np.testing.assert_allclose(gradient, 2.0 * Y + 2 * X)


@adcompiler.grad
def decorated(x):
    return np.sum(np.sin(x))


@adcompiler.grad(wrt='y')
def decorated_wrt(x, y):
    return np.sum(x * y ** 2)


def test_grad_as_decorator():
    np.testing.assert_allclose(decorated(X), np.cos(X))


def test_grad_as_decorator_with_wrt():
    np.testing.assert_allclose(decorated_wrt(X, Y), 2 * X * Y)


def test_source_attribute_and_function_agree():
    dweighted = adcompiler.grad(weighted)
    assert adcompiler.source(dweighted) == dweighted.source
    assert 'def adjoint_weighted' in dweighted.source
    assert 'def primal_weighted' in dweighted.source


def test_scalar_input_gives_float_gradient():
    gradient = adcompiler.grad(weighted)(1.5, 2.0)
    assert np.ndim(gradient) == 0
    assert gradient == pytest.approx(2.0 * 2.0 + 3.0)


@pytest.mark.parametrize('wrt', [3, 'z', 1.5, (0, 'nope')],
                         ids=['out-of-range', 'unknown-name', 'float',
                              'tuple-with-unknown'])
def test_invalid_wrt_raises(wrt):
    with pytest.raises(adcompiler.AdCompilerError):
        adcompiler.grad(weighted, wrt=wrt)


def test_gradient_is_writable_array():
    gradient = adcompiler.grad(lambda_free_sum)(np.ones((2, 3)))
    gradient[0, 0] = 5.0
    assert gradient.flags.writeable


def lambda_free_sum(x):
    return np.sum(x)


def test_lambda_in_file_is_differentiated():
    square = lambda x: x ** 3  # noqa: E731 (the test is about lambdas)
    assert adcompiler.grad(square)(2.0) == pytest.approx(12.0)


def test_rule_registered_later_takes_effect():
    def opaque(x):
        return x * 1.0

    def uses_opaque(x):
        return np.sum(opaque(x))

    dfunction = adcompiler.grad(uses_opaque)
    np.testing.assert_allclose(dfunction(X), np.ones(3))
    adcompiler.register_vjp(opaque, lambda g, ans, x: (3.0 * g,))
    np.testing.assert_allclose(dfunction(X), 3.0 * np.ones(3))


def test_stop_gradient_blocks_gradient():
    def f(x):
        return np.sum(x * adcompiler.stop_gradient(x))
    np.testing.assert_allclose(adcompiler.grad(f)(X), X)


def scaled_sum(x, *, scale=2.0, power):
    return np.sum(scale * x ** power)


def test_keyword_only_parameters():
    x = np.array([0.5, 1.5])
    gradient = adcompiler.grad(scaled_sum)(x, power=3.0)
    np.testing.assert_allclose(gradient, 2.0 * 3.0 * x ** 2)
    dscale = adcompiler.grad(scaled_sum, wrt='scale')(x, scale=1.0, power=2.0)
    assert dscale == pytest.approx(np.sum(x ** 2))


def test_float32_input_gives_float32_gradient():
    x = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    gradient = adcompiler.grad(lambda_free_sum)(x)
    assert gradient.dtype == np.float32


def scaled_cubic(x, y):
    return x * x * x * 3.0 + np.float64(2.0) * x * y + np.log(2.0) * y


@pytest.mark.parametrize('position', [0, 1])
def test_float32_scalar_input_gives_float32_gradient(position):
    # NumPy 1.x computes np.float32 scalars times Python floats in float64.
    x, y = np.float32(0.5), np.float32(-1.25)
    gradient = adcompiler.grad(scaled_cubic, wrt=position)(x, y)
    assert type(gradient) is np.float32


@pytest.mark.parametrize('position', [0, 1])
def test_float32_scalar_gradient_matches_float64(position):
    x, y = np.float32(0.5), np.float32(-1.25)
    gradient = adcompiler.grad(scaled_cubic, wrt=position)(x, y)
    expected = [9.0 * 0.5 ** 2 + 2.0 * -1.25, 2.0 * 0.5 + np.log(2.0)]
    assert gradient == pytest.approx(expected[position], rel=1e-6)


def test_python_float_input_gives_float():
    gradient = adcompiler.grad(weighted)(1.5, 2.0)
    assert isinstance(gradient, float)


def fails_in_generated_code(x):
    y = x * 2.0
    return np.sum(y[5])


def test_traceback_shows_generated_lines():
    import linecache
    import traceback
    gradient_function = adcompiler.grad(fails_in_generated_code)
    with pytest.raises(IndexError) as info:
        gradient_function(np.ones(3))
    frames = [frame for frame in traceback.extract_tb(info.tb)
              if frame.filename.startswith('<adcompiler')]
    assert frames
    line = linecache.getline(frames[-1].filename, frames[-1].lineno)
    assert 'y[5]' in line
    assert line.strip() == frames[-1].line


# Tangents, cotangents and hvp directions are checked against the values
# they belong to before any generated code runs.

def squares(x):
    return x ** 2


def pair_of_outputs(x):
    return x * 2.0, np.sum(x)


def params_loss(params, x):
    return np.sum(params['w'] * x) + params['b']


PARAMS = {'w': np.ones(3), 'b': 0.5}


@pytest.mark.parametrize('call, message', [
    pytest.param(lambda: adcompiler.jvp(weighted, (X, Y), (np.ones(2), None)),
                 "the tangent of 'x' must have shape (3,), as the primal has; "
                 'got shape (2,)', id='jvp-array'),
    pytest.param(lambda: adcompiler.jvp(weighted, (X, Y), (1.0, None)),
                 "the tangent of 'x' must have shape (3,), as the primal has; "
                 'got shape ()', id='jvp-scalar-for-array'),
    pytest.param(lambda: adcompiler.jvp(
        params_loss, (PARAMS, X), ({'w': np.ones(2), 'b': 1.0}, None)),
                 "the tangent of 'params' at ['w'] must have shape (3,), as "
                 'the primal has there; got shape (2,)', id='jvp-dict-leaf'),
    pytest.param(lambda: adcompiler.vjp(squares, X)[1](np.ones(4)),
                 'the cotangent of the output of squares must have shape '
                 '(3,), as the output has; got shape (4,)', id='vjp-array'),
    pytest.param(lambda: adcompiler.vjp(pair_of_outputs, X)[1](
        (np.ones(3), np.ones(3))),
                 'the cotangent of the output of pair_of_outputs at [1] must '
                 'have shape (), as the output has there; got shape (3,)',
                 id='vjp-tuple-entry'),
    pytest.param(lambda: adcompiler.vjp(pair_of_outputs, X)[1](np.ones(3)),
                 'the cotangent of the output of pair_of_outputs must have '
                 'the structure of the output, a tuple with 2 entries; got '
                 'a value of shape (3,) (type ndarray)',
                 id='vjp-array-for-tuple'),
    pytest.param(lambda: adcompiler.hvp(weighted)(X, Y, np.ones(2)),
                 'the direction given to hvp of weighted must have shape '
                 "(3,), as argument 'x' has; got shape (2,)", id='hvp'),
    pytest.param(lambda: adcompiler.hvp(params_loss)(
        PARAMS, X, {'w': np.ones(3)}),
                 'the direction given to hvp of params_loss must have the '
                 "structure of argument 'params', a dict with 2 entries; got "
                 'a dict with 1 entry', id='hvp-dict-keys'),
])
def test_mismatched_derivative_input_raises(call, message):
    with pytest.raises(adcompiler.InvalidArgumentError) as info:
        call()
    assert str(info.value) == message


def sine_twice(x):
    return np.sin(x) * 2


def doubled_sine_sum(x):
    return np.sum(np.sin(x) * 2)


@pytest.mark.parametrize('call, message', [
    pytest.param(lambda: adcompiler.vjp(sine_twice, X)[1](np.array(
        [1j, 2.0, 3.0])),
                 'the cotangent of the output of sine_twice must be real, as '
                 'the output is real; got a complex value. Pass its real part '
                 'if that is the one you mean', id='vjp-complex'),
    pytest.param(lambda: adcompiler.vjp(sine_twice, X)[1](
        [True, False, True]),
                 'the cotangent of the output of sine_twice must be a float, '
                 'a complex number or an array of them, like the output; got '
                 'a list. Pass np.asarray(..., dtype=float) of the numbers',
                 id='vjp-bool-list'),
    pytest.param(lambda: adcompiler.vjp(sine_twice, X)[1](['a', 'b', 'c']),
                 'the cotangent of the output of sine_twice must be a float, '
                 'a complex number or an array of them, like the output; got '
                 'a list. Pass np.asarray(..., dtype=float) of the numbers',
                 id='vjp-str-list'),
    pytest.param(lambda: adcompiler.vjp(sine_twice, X)[1]([1.0, 2.0]),
                 'the cotangent of the output of sine_twice must have shape '
                 '(3,), as the output has; got shape (2,)',
                 id='vjp-short-list'),
    pytest.param(lambda: adcompiler.jvp(doubled_sine_sum, (X,), (1j * X,)),
                 "the tangent of 'x' must be real, as the primal is real; got "
                 'a complex value. Pass its real part if that is the one you '
                 'mean', id='jvp-complex'),
    pytest.param(lambda: adcompiler.jvp(doubled_sine_sum, (X,), (np.ones(3) > 0,)),
                 "the tangent of 'x' must be a float, a complex number or an "
                 'array of them, like the primal; got an array of bool of '
                 'shape (3,). Pass np.asarray(..., dtype=float) of the '
                 'numbers', id='jvp-bool-array'),
    pytest.param(lambda: adcompiler.hvp(doubled_sine_sum)(X, 'abc'),
                 'the direction given to hvp of doubled_sine_sum must be a float, a '
                 'complex number or an array of them, like argument '
                 "'x'; got a str. Pass np.asarray(..., dtype=float) of the "
                 'numbers', id='hvp-str'),
])
def test_non_float_derivative_input_raises(call, message):
    with pytest.raises(adcompiler.InvalidArgumentError) as info:
        call()
    assert str(info.value) == message


# A list, a tuple or integers for an array becomes an array of its dtype,
# so that `g * 2` in generated code multiplies instead of repeating a list.
@pytest.mark.parametrize('given', [
    pytest.param([1.0, -2.0, 0.5], id='list'),
    pytest.param((1.0, -2.0, 0.5), id='tuple'),
    pytest.param([1, -2, 3], id='int-list'),
    pytest.param(np.array([1, -2, 3]), id='int-array')])
def test_sequence_derivative_inputs_convert(given):
    expected = np.asarray(given, dtype=float)
    cotangent, = adcompiler.vjp(sine_twice, X)[1](given)
    np.testing.assert_allclose(cotangent, 2 * np.cos(X) * expected)
    assert cotangent.dtype == np.float64
    _, tangent = adcompiler.jvp(sine_twice, (X,), (given,))
    np.testing.assert_allclose(tangent, 2 * np.cos(X) * expected)
    assert tangent.dtype == np.float64
    product = adcompiler.hvp(doubled_sine_sum)(X, given)
    np.testing.assert_allclose(product, -2 * np.sin(X) * expected)


def test_scalar_derivative_inputs_convert():
    cotangent, = adcompiler.vjp(doubled_sine_sum, X)[1](1)
    np.testing.assert_allclose(cotangent, 2 * np.cos(X))
    _, tangent = adcompiler.jvp(scalar_square, (1.5,), (2,))
    assert tangent == pytest.approx(6.0)
    assert type(tangent) is float
    float32 = X.astype(np.float32)
    cotangent, = adcompiler.vjp(sine_twice, float32)[1]([1, 1, 1])
    assert cotangent.dtype == np.float32


def scalar_square(t):
    return t * t


def test_matching_derivative_inputs_accepted():
    _, tangent = adcompiler.jvp(params_loss, (PARAMS, X),
                                ({'w': np.ones(3), 'b': None}, None))
    assert tangent == pytest.approx(np.sum(X))
    _, vjp_fn = adcompiler.vjp(pair_of_outputs, X)
    cotangent, = vjp_fn([np.ones(3), 2.0])
    np.testing.assert_allclose(cotangent, np.full(3, 4.0))


def scaled_square(t):
    return 1.5 * t * t


def product_of_pair(t, s):
    return t * s


# An integer has no derivative: grad, jacobian, hvp and jvp all reject an
# int argument that they are asked to differentiate.
@pytest.mark.parametrize('call, kind', [
    pytest.param(lambda: adcompiler.jvp(scaled_square, (3,), (1.0,)),
                 'an integer', id='jvp-int'),
    pytest.param(lambda: adcompiler.jvp(scaled_square, (3,), (0.0,)),
                 'an integer', id='jvp-int-zero-tangent'),
    pytest.param(lambda: adcompiler.jvp(scaled_square, (True,), (1.0,)),
                 'a boolean', id='jvp-bool'),
    pytest.param(lambda: adcompiler.jvp(scaled_square, (np.arange(3),),
                                        (np.ones(3),)),
                 'an array of int64', id='jvp-int-array'),
    pytest.param(lambda: adcompiler.jvp(product_of_pair, (3, 2.0),
                                        (1.0, 1.0)),
                 'an integer', id='jvp-int-beside-float'),
    pytest.param(lambda: adcompiler.grad(scaled_square)(3), 'an integer',
                 id='grad-int'),
    pytest.param(lambda: adcompiler.hvp(scaled_square)(3, 1.0), 'an integer',
                 id='hvp-int'),
    pytest.param(lambda: adcompiler.jacobian(scaled_square, mode='forward')(3),
                 'an integer', id='jacfwd-int')])
def test_int_argument_rejected_everywhere(call, kind):
    with pytest.raises(adcompiler.InvalidArgumentError) as raised:
        call()
    assert f"with respect to 't': it is {kind}, which has no derivative" \
        in str(raised.value)


def test_int_argument_with_none_tangent():
    value, tangent = adcompiler.jvp(product_of_pair, (3, 2.0), (None, 1.0))
    assert value == 6.0
    assert tangent == pytest.approx(3.0)
    assert adcompiler.vjp(product_of_pair, 3, 2.0)[1](1.0) == (None, 3.0)


@pytest.mark.parametrize('function, cotangent, expected', [
    pytest.param(squares, None, np.zeros(3), id='array'),
    pytest.param(pair_of_outputs, None, np.zeros(3), id='tuple'),
    pytest.param(pair_of_outputs, (None, 1.0), np.ones(3), id='tuple-item'),
    pytest.param(params_loss, None, np.zeros(3), id='scalar')])
def test_none_cotangent_is_zero(function, cotangent, expected):
    primals = (PARAMS, X) if function is params_loss else (X,)
    gradients = adcompiler.vjp(function, *primals)[1](cotangent)
    np.testing.assert_array_equal(gradients[-1], expected)
    assert gradients[-1].shape == (3,)



def weighted_product(a, *factors):
    return np.sum(a * factors[0] * np.sin(factors[1]))


@pytest.mark.parametrize('a_shape', [(), (3,), (2, 3)])
def test_jvp_tangents_of_star_args(a_shape):
    # jvp takes one tangent per positional argument, also for the
    # arguments that a *args parameter collects.
    rng = np.random.default_rng(3)
    a = rng.normal(size=a_shape)
    b, c = rng.normal(size=3), 0.7
    da, db, dc = rng.normal(size=a_shape), rng.normal(size=3), -1.3
    for tangents in [(da, db, dc), (None, db, None), (None, None, dc)]:
        def along(t, tangents=tangents):
            moved = [p if d is None else p + t * d
                     for p, d in zip((a, b, c), tangents)]
            return weighted_product(*moved)
        expected = numerical_gradient(along, (0.0,), 0)
        value, tangent = adcompiler.jvp(weighted_product, (a, b, c),
                                        tangents)
        assert value == pytest.approx(weighted_product(a, b, c))
        assert_gradient_close(tangent, expected)

# The cache of a gradient: per argument types, invalidated by changes -----------

SCALE = 2.0


def scaled_cube(x):
    return np.sum(SCALE * x ** 3)


def test_cached_grad_follows_rebound_global():
    global SCALE
    dfunction = adcompiler.grad(scaled_cube)
    np.testing.assert_allclose(dfunction(X), 6.0 * X ** 2)
    try:
        SCALE = 5.0
        np.testing.assert_allclose(dfunction(X), 15.0 * X ** 2)
    finally:
        SCALE = 2.0


def test_cached_grad_follows_replaced_code():
    def target(x):
        return x * x

    def replacement(x):
        return x * x * x

    dfunction = adcompiler.grad(target)
    assert dfunction(2.0) == pytest.approx(4.0)
    target.__code__ = replacement.__code__
    assert dfunction(2.0) == pytest.approx(12.0)


def test_cached_grad_follows_closure_cell():
    factor = 2.0

    def scaled(x):
        return np.sin(x) * factor

    dfunction = adcompiler.grad(scaled)
    assert dfunction(0.5) == pytest.approx(2.0 * np.cos(0.5))
    factor = 3.0
    assert dfunction(0.5) == pytest.approx(3.0 * np.cos(0.5))


def sine_sum(x):
    return np.sum(np.sin(x) * x)


@pytest.mark.parametrize('arguments', [
    (0.5, np.array([0.5, 1.5]), np.float64(0.5), np.array(0.5), 0.5),
    (np.array([0.5, 1.5]), 0.5, np.float32(0.5), 0.5),
], ids=['float-first', 'array-first'])
def test_cached_grad_per_argument_type(arguments):
    dfunction = adcompiler.grad(sine_sum)
    for x in arguments:
        expected = np.cos(x) * x + np.sin(x)
        gradient = dfunction(x)
        assert np.shape(gradient) == np.shape(x)
        np.testing.assert_allclose(gradient, expected, rtol=1e-6)


def test_cached_grad_still_checks_arguments():
    dfunction = adcompiler.grad(sine_sum)
    dfunction(0.5)
    with pytest.raises(adcompiler.AdCompilerError, match='integer'):
        dfunction(1)
    with pytest.raises(adcompiler.AdCompilerError, match='int64'):
        dfunction(np.arange(3))


# Calls from the third on take the cached code without binding the
# arguments (the second compiles the code for the arguments' shapes), so
# each check below runs after three calls of the same gradient.

CACHED_CALLS = 3


def scaled_by_helper(x):
    return np.sum(helper_of_helper(x) * x)


def helper_of_helper(x):
    return cubed_times_scale(x) + 1.0


def cubed_times_scale(x):
    return SCALE * x ** 3


def test_cached_call_follows_global_of_nested_callee():
    global SCALE
    dfunction = adcompiler.grad(scaled_by_helper)
    for _ in range(CACHED_CALLS):
        np.testing.assert_allclose(dfunction(X), 8.0 * X ** 3 + 1.0)
    try:
        SCALE = 5.0
        np.testing.assert_allclose(dfunction(X), 20.0 * X ** 3 + 1.0)
    finally:
        SCALE = 2.0
    np.testing.assert_allclose(dfunction(X), 8.0 * X ** 3 + 1.0)


def test_cached_call_follows_replaced_callee_code():
    def callee(x):
        return x * x

    def replacement(x):
        return x * x * x

    def outer(x):
        return np.sum(callee(x))

    dfunction = adcompiler.grad(outer)
    for _ in range(CACHED_CALLS):
        np.testing.assert_allclose(dfunction(X), 2.0 * X)
    callee.__code__ = replacement.__code__
    np.testing.assert_allclose(dfunction(X), 3.0 * X ** 2)


def test_cached_call_follows_replaced_defaults():
    dfunction = adcompiler.grad(weighted)
    for _ in range(CACHED_CALLS):
        np.testing.assert_allclose(dfunction(X, Y), 2.0 * Y + 2.0 * X)
    original = weighted.__defaults__
    try:
        weighted.__defaults__ = (3.0,)
        np.testing.assert_allclose(dfunction(X, Y), 3.0 * Y + 2.0 * X)
    finally:
        weighted.__defaults__ = original


def test_cached_call_follows_rule_registered_later():
    def opaque(x):
        return x * 1.0

    def uses_opaque(x):
        return np.sum(opaque(x))

    dfunction = adcompiler.grad(uses_opaque)
    for _ in range(CACHED_CALLS):
        np.testing.assert_allclose(dfunction(X), np.ones(3))
    adcompiler.register_vjp(opaque, lambda g, ans, x: (3.0 * g,))
    np.testing.assert_allclose(dfunction(X), 3.0 * np.ones(3))


def sum_of_squared_sum(x, y):
    z = x + y
    return np.sum(z * z)


@pytest.mark.parametrize('transform', ['grad', 'value_and_grad'])
def test_cached_call_gradients_are_distinct(transform):
    # The adjoint of z = x + y gives x and y the same array.
    dfunction = getattr(adcompiler, transform)(sum_of_squared_sum,
                                               wrt=(0, 1))
    for _ in range(CACHED_CALLS):
        result = dfunction(X, Y)
        gx, gy = result[1] if transform == 'value_and_grad' else result
        assert gx is not gy
        gx[0] = 100.0
        np.testing.assert_allclose(gy, 2.0 * (X + Y))


@pytest.mark.parametrize('wrt', [0, (0,)], ids=['position', 'tuple'])
def test_cached_call_gradient_is_writeable(wrt):
    # The adjoint of np.sum is a read-only broadcast of the cotangent.
    dfunction = adcompiler.grad(lambda_free_sum, wrt=wrt)
    for _ in range(CACHED_CALLS):
        gradient = dfunction(np.ones((2, 3)))
        if wrt == (0,):
            assert type(gradient) is tuple
            (gradient,) = gradient
        assert gradient.flags.writeable
        gradient[0, 0] = 5.0


def float_product(x, y):
    return x * y


@pytest.mark.parametrize('args', [
    (1.5, -0.5),
    (np.float64(1.5), -0.5),
    (1.5, np.float32(-0.5)),
], ids=['floats', 'numpy-float64', 'float32-factor'])
def test_cached_call_keeps_gradient_type(args):
    dfunction = adcompiler.grad(float_product)
    first = dfunction(*args)  # By the general path.
    assert first == args[1]
    for _ in range(CACHED_CALLS):
        gradient = dfunction(*args)
        assert type(gradient) is type(first)
        assert gradient == first


def square_sum(x):
    return np.sum(x * x)


def test_cached_call_follows_error_state():
    # grad leaves out the value's overflow unless it would raise.
    dfunction = adcompiler.grad(square_sum)
    x = np.array([1e200])
    with np.errstate(over='ignore'):
        for _ in range(CACHED_CALLS):
            np.testing.assert_array_equal(dfunction(x), [2e200])
    with np.errstate(over='raise'), pytest.raises(FloatingPointError):
        dfunction(x)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.simplefilter('ignore', UserWarning, append=True)
        with np.errstate(over='warn'):
            np.testing.assert_array_equal(dfunction(x), [2e200])
            warnings.filters[-1] = ('error', None, RuntimeWarning, None, 0)
            with pytest.raises(RuntimeWarning):
                dfunction(x)


def square_root(x):
    return x ** 0.5


def test_cached_call_retries_with_numpy_floats():
    # Python floats raise ZeroDivisionError in 0.0 ** -0.5, NumPy floats
    # give inf with a warning.
    dfunction = adcompiler.grad(square_root)
    for _ in range(CACHED_CALLS):
        assert dfunction(4.0) == pytest.approx(0.25)
    with pytest.warns(RuntimeWarning):
        assert dfunction(0.0) == np.inf


def test_cached_call_checks_changed_argument_types():
    dfunction = adcompiler.grad(sine_sum)
    for _ in range(CACHED_CALLS):
        dfunction(np.array([0.5, 1.5]))
    with pytest.raises(adcompiler.AdCompilerError, match='int64'):
        dfunction(np.arange(2))
    x = np.array([[0.5], [1.5]])
    for _ in range(CACHED_CALLS):
        np.testing.assert_allclose(dfunction(x), np.cos(x) * x + np.sin(x))


def appends_loss(x, history):
    loss = np.sum(x ** 2)
    history.append(adcompiler.stop_gradient(loss))
    return loss


def appends_loss_with_derivative(x, history):
    loss = np.sum(x ** 2)
    history.append(loss)
    return loss


def test_stopped_value_appended_to_argument_reaches_caller():
    x = np.array([0.3, -1.2, 0.7])
    history = []
    gradient = adcompiler.grad(appends_loss)(x, history)
    np.testing.assert_allclose(gradient, 2.0 * x)
    assert history == [pytest.approx(np.sum(x ** 2))]


def test_value_with_derivative_appended_reaches_caller():
    x = np.array([0.3, -1.2, 0.7])
    history = []
    gradient = adcompiler.grad(appends_loss_with_derivative)(x, history)
    np.testing.assert_allclose(gradient, 2.0 * x)
    assert history == [pytest.approx(np.sum(x ** 2))]


def elementwise_square_sum(x):
    return np.sum(np.multiply(x, x))


def product_with_constant(m, y):
    return np.sum(m * (y * np.ones((2, 2))))


with warnings.catch_warnings():
    # NumPy warns that np.matrix is not recommended, which is the point.
    warnings.simplefilter('ignore', PendingDeprecationWarning)
    MATRIX = np.matrix([[1.0, 2.0], [3.0, 4.0]])

MATRIX_CALLS = [
    ('grad', lambda: adcompiler.grad(elementwise_square_sum)(MATRIX)),
    ('value_and_grad',
     lambda: adcompiler.value_and_grad(elementwise_square_sum)(MATRIX)),
    ('vjp', lambda: adcompiler.vjp(elementwise_square_sum, MATRIX)),
    ('jvp', lambda: adcompiler.jvp(elementwise_square_sum, (MATRIX,),
                                   (np.ones((2, 2)),))),
    ('hessian', lambda: adcompiler.hessian(elementwise_square_sum)(MATRIX)),
    ('hvp', lambda: adcompiler.hvp(elementwise_square_sum)(
        MATRIX, np.ones((2, 2)))),
    ('jacobian', lambda: adcompiler.jacobian(elementwise_square_sum)(MATRIX)),
    ('in a list', lambda: adcompiler.grad(
        lambda xs: elementwise_square_sum(xs[0]))([MATRIX])),
    ('not in wrt', lambda: adcompiler.grad(product_with_constant, wrt=1)(
        MATRIX, 1.0)),
]


@pytest.mark.parametrize('call', [c for _, c in MATRIX_CALLS],
                         ids=[name for name, _ in MATRIX_CALLS])
def test_matrix_argument_raises(call):
    # `*` on np.matrix is a matrix product, which the elementwise rules
    # would differentiate wrongly.
    with pytest.raises(adcompiler.AdCompilerError, match=r'np\.asarray'):
        call()


def test_vjp_value_updated_in_place_keeps_vjp_fn():
    """vjp_fn of np.tanh reads its output; the caller got that very array,
    and updating it in place changed the derivative silently."""
    x = np.array([0.3, -0.5, 1.2])
    value, vjp_fn = adcompiler.vjp(_tanh, x)
    value[:] = 5.0
    gradient, = vjp_fn(np.ones(3))
    np.testing.assert_allclose(gradient, 1.0 - np.tanh(x) ** 2, rtol=1e-12)


def _tanh(x):
    return np.tanh(x)


class ScaledSum(np.ndarray):
    """An ndarray subclass whose np.sum is three times NumPy's."""

    def __array_function__(self, func, types, args, kwargs):
        if func is np.sum:
            return 3.0 * np.sum(np.asarray(args[0]), **kwargs)
        return super().__array_function__(func, types, args, kwargs)


def _memmap_of(values):
    # The temporary file is deleted when the memmap closes it.
    mapped = np.memmap(tempfile.TemporaryFile(), dtype=float, mode='w+',
                       shape=np.shape(values))
    mapped[:] = values
    return mapped


def square_sum(x):
    return np.sum(x ** 2)


def weighted_square_sum(x, c):
    return np.sum(x ** 2 * c)


SUBCLASS_VALUES = [
    ('masked', lambda: np.ma.array([1.0, 2.0], mask=[False, True]),
     r'MaskedArray.*x\.filled'),
    ('memmap', lambda: _memmap_of([1.0, 2.0]), r'memmap.*np\.asarray\(x\)'),
    ('array_function', lambda: np.array([1.0, 2.0]).view(ScaledSum),
     r'ScaledSum.*np\.asarray\(x\)'),
]
SUBCLASS_CALLS = [
    ('grad', lambda v: adcompiler.grad(square_sum)(v)),
    ('value_and_grad', lambda v: adcompiler.value_and_grad(square_sum)(v)),
    ('vjp', lambda v: adcompiler.vjp(square_sum, v)),
    ('jvp', lambda v: adcompiler.jvp(square_sum, (v,), (np.ones(2),))),
    ('jacobian', lambda v: adcompiler.jacobian(square_sum)(v)),
    ('hessian', lambda v: adcompiler.hessian(square_sum)(v)),
    ('hvp', lambda v: adcompiler.hvp(square_sum)(v, np.ones(2))),
    ('in a list', lambda v: adcompiler.grad(
        lambda xs: square_sum(xs[0]))([v])),
]
CONSTANT_SUBCLASS_CALLS = [
    ('grad', lambda c: adcompiler.grad(weighted_square_sum)(np.ones(2), c)),
    ('jvp', lambda c: adcompiler.jvp(weighted_square_sum, (np.ones(2), c),
                                     (np.ones(2), None))),
    ('hessian', lambda c: adcompiler.hessian(weighted_square_sum)(
        np.ones(2), c)),
]


@pytest.mark.parametrize('call', [c for _, c in SUBCLASS_CALLS],
                         ids=[name for name, _ in SUBCLASS_CALLS])
@pytest.mark.parametrize('make', [m for _, m, _ in SUBCLASS_VALUES],
                         ids=[name for name, _, _ in SUBCLASS_VALUES])
def test_array_subclass_argument_raises(make, call):
    # Their functions differ from ndarray's (np.sum skips masked entries),
    # and the rules would silently follow ndarray's.
    with pytest.raises(adcompiler.ArraySubclassError) as raised:
        call(make())
    assert isinstance(raised.value, adcompiler.InvalidArgumentError)


@pytest.mark.parametrize('make, message', [(m, text) for _, m, text in
                                           SUBCLASS_VALUES],
                         ids=[name for name, _, _ in SUBCLASS_VALUES])
def test_array_subclass_message_names_fix(make, message):
    with pytest.raises(adcompiler.ArraySubclassError, match=message):
        adcompiler.grad(square_sum)(make())


@pytest.mark.parametrize('call', [c for _, c in CONSTANT_SUBCLASS_CALLS],
                         ids=[name for name, _ in CONSTANT_SUBCLASS_CALLS])
def test_array_subclass_constant_raises(call):
    with pytest.raises(adcompiler.ArraySubclassError, match="'c'"):
        call(np.ma.array([1.0, 2.0], mask=[False, True]))


def test_array_subclass_converted_gradient():
    # The fixes the message names give the gradient of the plain array.
    masked = np.ma.array([1.0, 2.0, 5.0], mask=[False, True, False])
    filled = masked.filled(0.0)
    expected = numerical_gradient(square_sum, (filled,), 0)
    assert_gradient_close(adcompiler.grad(square_sum)(filled), expected)
    mapped = _memmap_of([0.3, -1.2])
    plain = np.asarray(mapped)
    expected = numerical_gradient(square_sum, (plain,), 0)
    assert_gradient_close(adcompiler.grad(square_sum)(plain), expected)


_CALL_LOG = []


class _Scaler:
    def scale(self, v):
        return v * 2.0


_SCALER = _Scaler()


def _logs_and_scales(x):
    _CALL_LOG.append(1)
    return np.sum(_SCALER.scale(x) ** 2)


def test_bound_methods_of_globals_do_not_recompile(monkeypatch):
    """The compiled code recorded _CALL_LOG.append as a dependency, a new
    bound method on every read, so each call found it changed and compiled
    the function again."""
    from adcompiler import compiler
    compiles = []
    original = compiler.Compiler._compile

    def counting(self, *args, **kwargs):
        compiles.append(args[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(compiler.Compiler, '_compile', counting)
    gradient = adcompiler.grad(_logs_and_scales)
    x = np.array([1.0, 2.0])
    for _ in range(3):
        gradient(x)
    settled = len(compiles)
    for _ in range(5):
        np.testing.assert_allclose(gradient(x), 8.0 * x)
    assert len(compiles) == settled
