"""Results of users' rules: shapes and dtypes checked against the primal.

A rule registered with register_vjp must return, for each argument, a
cotangent of that argument's shape, and a rule registered with
register_jvp a tangent of the output's shape. A result of another shape
raises RuleResultError: summing or broadcasting it would turn the rule's
error into a wrong derivative. adcompiler's own rules may return compact
cotangents that broadcast, and their generated code has no such check.
"""

import numpy as np
import pytest

import adcompiler
from adcompiler.rules import RuleResultError
from finite_differences import assert_gradient_close, numerical_gradient
from test_forward import directional_difference

_SQUARE = np.frompyfunc(lambda v: v * v, 1, 1)
_SCALE = np.frompyfunc(lambda v, w: v * w, 2, 1)


def opaque_square(a):
    """Compute a ** 2 through a ufunc without rules, so only a registered
    rule can differentiate it."""
    return np.asarray(_SQUARE(a), dtype=float)


def opaque_product(a, b):
    """Compute a * b, broadcast, through a ufunc without rules."""
    return np.asarray(_SCALE(a, b), dtype=float)


def square_vjp(g, ans, a):
    return (2.0 * a * g,)


def square_jvp(tangents, ans, a):
    return 2.0 * a * tangents[0]


def product_vjp(g, ans, a, b):
    # The rule itself sums each cotangent down to its argument's shape.
    return (np.sum(g * b, axis=0) if np.ndim(a) < np.ndim(g) else g * b,
            np.sum(g * a, axis=0) if np.ndim(b) < np.ndim(g) else g * a)


def product_jvp(tangents, ans, a, b):
    ta, tb = tangents
    tangent = 0.0
    if ta is not None:
        tangent = tangent + ta * b
    if tb is not None:
        tangent = tangent + a * tb
    return tangent


adcompiler.register_vjp(opaque_square, square_vjp)
adcompiler.register_jvp(opaque_square, square_jvp)
adcompiler.register_vjp(opaque_product, product_vjp)
adcompiler.register_jvp(opaque_product, product_jvp)


def square_loss(x):
    return np.sum(opaque_square(x) * np.sin(x))


def product_loss(x, y):
    return np.sum(opaque_product(x, y) * y)


SHAPES = [((), 'scalar'), ((3,), 'vector'), ((2, 3), 'matrix')]


def _point(shape, seed):
    values = np.random.default_rng(seed).normal(size=shape)
    return float(values) if shape == () else values


@pytest.mark.parametrize('shape', [s for s, _ in SHAPES],
                         ids=[i for _, i in SHAPES])
def test_right_shaped_vjp_rule_gradient(shape):
    x = _point(shape, 0)
    expected = numerical_gradient(square_loss, (x,), 0)
    gradient = adcompiler.grad(square_loss)
    for _ in range(3):  # The third call runs shape-specialized code.
        assert_gradient_close(gradient(x), expected)


@pytest.mark.parametrize('shapes', [((2, 3), (3,)), ((3,), (2, 3)),
                                    ((2, 3), (2, 3))],
                         ids=['x-broadcast', 'y-broadcast', 'same'])
def test_right_shaped_vjp_rule_broadcasting(shapes):
    x, y = _point(shapes[0], 1), _point(shapes[1], 2)
    gradient = adcompiler.grad(product_loss, wrt=(0, 1))
    for _ in range(3):
        dx, dy = gradient(x, y)
        assert_gradient_close(dx, numerical_gradient(product_loss, (x, y), 0))
        assert_gradient_close(dy, numerical_gradient(product_loss, (x, y), 1))


@pytest.mark.parametrize('shape', [s for s, _ in SHAPES],
                         ids=[i for _, i in SHAPES])
def test_right_shaped_jvp_rule_tangent(shape):
    x = _point(shape, 3)
    direction = _point(shape, 4)
    _, tangent = adcompiler.jvp(square_loss, (x,), (direction,))
    expected = directional_difference(square_loss, (x,), (direction,))
    np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward',
                                  'reverse-over-reverse'])
def test_user_rules_hessian(mode):
    x = np.array([0.3, -0.7, 1.2])
    hessian = adcompiler.hessian(square_loss, mode=mode)(x)
    # square_loss is sum(x ** 2 sin x), whose Hessian is diagonal.
    expected = np.diag(2 * np.sin(x) + 4 * x * np.cos(x)
                       - x ** 2 * np.sin(x))
    np.testing.assert_allclose(hessian, expected, rtol=1e-7, atol=1e-10)


def _doubled_through(rule):
    """Return a loss whose foreign call has `rule` as its VJP."""
    double = np.frompyfunc(lambda v: v * 2.0, 1, 1)
    adcompiler.register_vjp(double, rule)

    def loss(x):
        return np.sum(double(x).astype(float) * x)
    return loss


WRONG_COTANGENTS = [
    (lambda g, ans, y: (np.sum(2.0 * g),), 'a value of shape ()'),
    (lambda g, ans, y: (np.stack([2.0 * g, 2.0 * g]),),
     'a value of shape (2, 3)'),
    (lambda g, ans, y: ((2.0 * g)[:, None],), 'a value of shape (3, 1)'),
    (lambda g, ans, y: (list(2.0 * g),), 'a list'),
    (lambda g, ans, y: (np.array(['a', 'b', 'c']),), 'dtype <U1'),
    (lambda g, ans, y: ((g > 0),), 'dtype bool'),
]


@pytest.mark.parametrize('rule, returned', WRONG_COTANGENTS,
                         ids=['scalar', 'stacked', 'column', 'list', 'strings',
                              'bools'])
def test_wrong_cotangent_raises(rule, returned):
    loss = _doubled_through(rule)
    with pytest.raises(RuleResultError) as raised:
        adcompiler.grad(loss)(np.array([0.3, -0.7, 1.2]))
    message = str(raised.value)
    assert 'the VJP rule <lambda> (registered for <lambda> (vectorized))' \
        in message
    assert returned in message
    # NumPy before 2.4 gives no parameter names for a vectorized function.
    assert 'the cotangent of argument 0' in message
    assert 'whose shape is (3,)' in message


def test_wrong_cotangent_names_parameter():
    def scaled(a):
        return np.asarray(_SQUARE(a), dtype=float)

    def scaled_vjp(g, ans, a):
        return (np.sum(g),)

    adcompiler.register_vjp(scaled, scaled_vjp)

    def loss(x):
        return np.sum(scaled(x))

    with pytest.raises(RuleResultError) as raised:
        adcompiler.grad(loss)(np.ones(3))
    message = str(raised.value)
    assert 'scaled_vjp' in message
    assert 'argument 0 (a), whose shape is (3,)' in message


def test_none_cotangent_is_zero():
    loss = _doubled_through(lambda g, ans, y: (None,))
    x = np.array([0.3, -0.7, 1.2])
    # Only the factor x outside the call carries a gradient: 2 * x.
    np.testing.assert_allclose(adcompiler.grad(loss)(x), 2.0 * x)


def test_complex_cotangent_keeps_real_part():
    loss = _doubled_through(lambda g, ans, y: (2.0 * g + 1j * g,))
    x = np.array([0.3, -0.7, 1.2])
    gradient = adcompiler.grad(loss)(x)
    assert gradient.dtype == np.float64
    np.testing.assert_allclose(gradient, 4.0 * x)


def _doubled_with_forward_rule(rule):
    double = np.frompyfunc(lambda v: v * 2.0, 1, 1)
    adcompiler.register_jvp(double, rule)

    def loss(x):
        return np.sum(double(x).astype(float) * x)
    return loss


WRONG_TANGENTS = [
    (lambda tangents, ans, y: np.sum(2.0 * tangents[0]), 'a value of shape ()'),
    (lambda tangents, ans, y: np.ones(5), 'a value of shape (5,)'),
    (lambda tangents, ans, y: 2.0 * tangents[0] + 1j, 'a complex value'),
    (lambda tangents, ans, y: 'tangent', 'a str'),
]


@pytest.mark.parametrize('rule, returned', WRONG_TANGENTS,
                         ids=['scalar', 'longer', 'complex', 'string'])
def test_wrong_tangent_raises(rule, returned):
    loss = _doubled_with_forward_rule(rule)
    x = np.array([0.3, -0.7, 1.2])
    with pytest.raises(RuleResultError) as raised:
        adcompiler.jvp(loss, (x,), (np.ones(3),))
    message = str(raised.value)
    assert 'the JVP rule <lambda> (registered for <lambda> (vectorized))' \
        in message
    assert f'returned {returned} as the tangent of the output, whose ' \
        'shape is (3,)' in message


def split_halves(a):
    return np.asarray(_SQUARE(a), dtype=float), 3.0 * a


def test_none_tangent_is_zero():
    """A JVP rule that returned None reached the generated code, which
    multiplied it and raised a bare TypeError."""
    loss = _doubled_with_forward_rule(lambda tangents, ans, y: None)
    x = np.array([0.3, -0.7, 1.2])
    value, tangent = adcompiler.jvp(loss, (x,), (np.ones(3),))
    np.testing.assert_allclose(value, np.sum(2.0 * x * x))
    # Only the factor x outside the call carries a tangent: sum(2 * x).
    np.testing.assert_allclose(tangent, np.sum(2.0 * x))


def test_wrong_tangent_of_tuple_output():
    def halves_jvp(tangents, ans, a):
        return (2.0 * a * tangents[0], 3.0)

    adcompiler.register_jvp(split_halves, halves_jvp)

    def loss(x):
        first, second = split_halves(x)
        return np.sum(first * second)

    with pytest.raises(RuleResultError) as raised:
        adcompiler.jvp(loss, (np.ones(3),), (np.ones(3),))
    assert 'a value of shape () as the tangent of the output[1], whose ' \
        'shape is (3,)' in str(raised.value)


def test_right_tangent_of_tuple_output():
    def halves_jvp(tangents, ans, a):
        return (2.0 * a * tangents[0], 3.0 * tangents[0])

    adcompiler.register_jvp(split_halves, halves_jvp)

    def loss(x):
        first, second = split_halves(x)
        return np.sum(first * second)

    x, direction = np.array([0.3, -0.7, 1.2]), np.array([1.0, 0.5, -2.0])
    _, tangent = adcompiler.jvp(loss, (x,), (direction,))
    np.testing.assert_allclose(
        tangent, directional_difference(loss, (x,), (direction,)), rtol=1e-6)


def builtin_rules_loss(x):
    return np.sum(np.exp(x) * np.mean(x, axis=0))


def _tangent_source(function):
    return adcompiler.compiler.Compiler().compile_forward(
        function, ('x',)).source


def test_builtin_rules_have_no_shape_check():
    assert 'rule_cotangent' not in adcompiler.grad(builtin_rules_loss).source
    assert 'rule_tangent' not in _tangent_source(builtin_rules_loss)


def test_user_rules_have_shape_check():
    assert 'ad.rule_cotangent(' in adcompiler.grad(square_loss).source
    assert 'ad.rule_tangent(' in _tangent_source(square_loss)


def summed_square(x):
    return np.sum(opaque_square(x))


def mean_of_square(x):
    return np.mean(opaque_square(x), axis=0)


@pytest.mark.parametrize('loss', [summed_square, mean_of_square],
                         ids=['sum', 'mean-axis'])
def test_vjp_rule_receives_full_cotangent(loss):
    received = []

    def recording_vjp(g, ans, a):
        received.append(np.shape(g))
        return (2.0 * a * g,)

    adcompiler.register_vjp(opaque_square, recording_vjp)
    try:
        x = np.array([[0.3, -0.7, 1.2], [0.5, 0.1, -2.0]])
        scalar_loss = (lambda v: np.sum(loss(v)))
        gradient = adcompiler.grad(loss)(x) if loss is summed_square else \
            adcompiler.vjp(loss, x)[1](np.ones(3))[0]
        assert_gradient_close(gradient, numerical_gradient(scalar_loss, (x,), 0))
        assert received == [(2, 3)]
    finally:
        adcompiler.register_vjp(opaque_square, square_vjp)


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward',
                                  'reverse-over-reverse'])
def test_full_cotangent_hessian(mode):
    x = np.array([0.3, -0.7, 1.2])
    hessian = adcompiler.hessian(summed_square, mode=mode)(x)
    np.testing.assert_allclose(hessian, 2.0 * np.eye(3), atol=1e-12)
