"""Registered forward rules of Python functions, in every mode.

Forward mode uses a rule registered with register_jvp in place of the
function's source, for calls resolved at compile time and for calls
dispatched at run time. Reverse mode keeps using the source or a rule
registered with register_vjp.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import numerical_gradient
from test_forward import directional_difference

X = np.array([0.3, -1.2, 0.7])

_CUBE = np.frompyfunc(lambda v: v ** 3, 1, 1)


def opaque_cube(a):
    """Compute a ** 3 through a ufunc without rules, which no mode can
    differentiate from source."""
    return np.asarray(_CUBE(a), dtype=float)


@adcompiler.register_jvp(opaque_cube)
def opaque_cube_jvp(tangents, ans, a):
    return 3.0 * a ** 2 * tangents[0]


def identity(a):
    return a * 1.0


@adcompiler.register_jvp(identity)
def identity_jvp(tangents, ans, a):
    # Deliberately not the derivative of the source, to show which one
    # forward mode uses.
    return 5.0 * tangents[0]


def sum_of_identity(x):
    return np.sum(identity(x))


def sum_of_opaque_cube(x):
    return np.sum(opaque_cube(x) * x)


def calls_held(x, function):
    return np.sum(function(x) * x)


def sum_of_held_opaque_cube(x):
    return calls_held(x, opaque_cube)


def test_forward_rule_wins_over_source_in_jvp():
    _, tangent = adcompiler.jvp(sum_of_identity, (X,), (np.ones(3),))
    assert tangent == pytest.approx(15.0)


def test_forward_rule_wins_over_source_when_dispatched():
    _, tangent = adcompiler.jvp(lambda x: calls_held(x, identity), (X,),
                                (np.ones(3),))
    assert tangent == pytest.approx(5.0 * np.sum(X) + np.sum(X))


def test_forward_rule_wins_over_source_in_jacfwd():
    jacobian = adcompiler.jacfwd(sum_of_identity)(X)
    np.testing.assert_allclose(jacobian, np.full(3, 5.0))


def reverse_identity(a):
    return a * 1.0


@adcompiler.register_vjp(reverse_identity)
def reverse_identity_vjp(g, ans, a):
    # Deliberately not the derivative of the source, to show which one
    # reverse mode uses.
    return (7.0 * g,)


def sum_of_held(x, function):
    return np.sum(function(x))


@pytest.mark.parametrize('function', [
    lambda x: np.sum(reverse_identity(x)),
    lambda x: sum_of_held(x, reverse_identity),
], ids=['resolved', 'dispatched'])
def test_reverse_rule_wins_over_source_in_grad(function):
    gradient = adcompiler.grad(function)(X)
    np.testing.assert_allclose(gradient, np.full(3, 7.0))


def test_reverse_mode_ignores_forward_rule():
    gradient = adcompiler.grad(sum_of_identity)(X)
    np.testing.assert_allclose(gradient, np.ones(3))


@pytest.mark.parametrize('function', [sum_of_opaque_cube,
                                      sum_of_held_opaque_cube],
                         ids=['resolved', 'dispatched'])
@pytest.mark.parametrize('shape', [(), (3,), (2, 3)], ids=str)
def test_forward_rule_only_jvp(function, shape):
    x = np.linspace(-1.0, 1.5, int(np.prod(shape))).reshape(shape)
    direction = np.linspace(0.5, -0.25, x.size).reshape(shape)
    value, tangent = adcompiler.jvp(function, (x,), (direction,))
    expected = directional_difference(function, (x,), (direction,))
    np.testing.assert_allclose(value, function(x))
    np.testing.assert_allclose(tangent, expected, rtol=1e-6)


@pytest.mark.parametrize('function', [sum_of_opaque_cube,
                                      sum_of_held_opaque_cube],
                         ids=['resolved', 'dispatched'])
def test_forward_rule_only_jacfwd(function):
    jacobian = adcompiler.jacfwd(function)(X)
    expected = numerical_gradient(function, (X,), 0)
    np.testing.assert_allclose(jacobian, expected, rtol=1e-6)


@pytest.mark.parametrize('function', [sum_of_opaque_cube,
                                      sum_of_held_opaque_cube],
                         ids=['resolved', 'dispatched'])
def test_forward_rule_only_rejected_by_grad(function):
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(function)(X)
    assert 'register_vjp(' in str(info.value)


def opaque_square(a):
    return np.asarray(_CUBE(a), dtype=float) / a


@adcompiler.register_vjp(opaque_square)
def opaque_square_vjp(g, ans, a):
    return (2.0 * a * g,)


@adcompiler.register_jvp(opaque_square)
def opaque_square_jvp(tangents, ans, a):
    return 2.0 * a * tangents[0]


def sum_of_opaque_square(x):
    return np.sum(opaque_square(x) * x)


def sum_of_held_opaque_square(x):
    return calls_held(x, opaque_square)


def opaque_quartic(a):
    return np.asarray(_CUBE(a), dtype=float) * a


@adcompiler.register_vjp(opaque_quartic)
def opaque_quartic_vjp(g, ans, a):
    return (4.0 * a ** 3 * g,)


def sum_of_opaque_quartic(x):
    return np.sum(opaque_quartic(x))


def sum_of_held_opaque_quartic(x):
    return calls_held(x, opaque_quartic) / x[0]


def numerical_hessian(function, x):
    """Central differences of the generated gradient, one row per entry."""
    rows = [numerical_gradient(
        lambda x, i=i: adcompiler.grad(function)(x)[i], (x,), 0)
        for i in range(x.size)]
    return np.stack(rows)


HESSIAN_MODES = ['forward-over-reverse', 'reverse-over-forward',
                 'reverse-over-reverse', None]


@pytest.mark.parametrize('mode', HESSIAN_MODES, ids=str)
@pytest.mark.parametrize('function', [sum_of_opaque_square,
                                      sum_of_held_opaque_square],
                         ids=['resolved', 'dispatched'])
def test_both_rules_hessian(function, mode):
    hessian = adcompiler.hessian(function, mode=mode)(X)
    np.testing.assert_allclose(hessian, numerical_hessian(function, X),
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize('mode', ['reverse-over-reverse', None], ids=str)
@pytest.mark.parametrize('function', [sum_of_opaque_quartic,
                                      sum_of_held_opaque_quartic],
                         ids=['resolved', 'dispatched'])
def test_reverse_rule_only_hessian(function, mode):
    hessian = adcompiler.hessian(function, mode=mode)(X)
    np.testing.assert_allclose(hessian, numerical_hessian(function, X),
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize('function', [sum_of_opaque_quartic,
                                      sum_of_held_opaque_quartic],
                         ids=['resolved', 'dispatched'])
def test_reverse_rule_only_default_hvp(function):
    direction = np.array([1.0, -0.5, 2.0])
    product = adcompiler.hvp(function)(X, direction)
    expected = numerical_hessian(function, X) @ direction
    np.testing.assert_allclose(product, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward'])
@pytest.mark.parametrize('function', [sum_of_opaque_quartic,
                                      sum_of_held_opaque_quartic],
                         ids=['resolved', 'dispatched'])
def test_reverse_rule_only_hessian_names_jvp(function, mode):
    with pytest.raises(adcompiler.AdCompilerError) as info:
        adcompiler.hessian(function, mode=mode)(X)
    assert 'register_jvp(opaque_quartic' in str(info.value)


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward'])
@pytest.mark.parametrize('function', [sum_of_opaque_quartic,
                                      sum_of_held_opaque_quartic],
                         ids=['resolved', 'dispatched'])
def test_reverse_rule_only_hessian_error_location(function, mode):
    with pytest.raises(adcompiler.AdCompilerError) as info:
        adcompiler.hessian(function, mode=mode)(X)
    assert info.value.filename == __file__


def scaled_sine(x, s=2.0):
    return np.sin(x) * s


def scaled_sine_jvp(tangents, ans, x, s=2.0):
    tangent = np.cos(x) * s * tangents[0]
    if len(tangents) > 1 and tangents[1] is not None:
        tangent = tangent + np.sin(x) * tangents[1]
    return tangent


adcompiler.register_jvp(scaled_sine, scaled_sine_jvp)


def keyword_carries_derivative(x):
    return np.sum(scaled_sine(x, s=x))


def keywords_only(x):
    return np.sum(scaled_sine(s=1.5, x=x))


def dispatched_keyword(x, f):
    return np.sum(f(x, s=x))


@pytest.mark.parametrize('function, extra', [
    (keyword_carries_derivative, ()),
    (keywords_only, ()),
    (dispatched_keyword, (scaled_sine,)),
])
def test_forward_rule_receives_keyword_tangents(function, extra):
    x = np.array([0.3, -0.7])
    direction = np.array([1.0, 0.5])
    _, tangent = adcompiler.jvp(function, (x, *extra),
                                (direction,) + (None,) * len(extra))
    step = 1e-6
    expected = (function(x + step * direction, *extra)
                - function(x - step * direction, *extra)) / (2 * step)
    assert tangent == pytest.approx(expected, rel=1e-6)


def keyword_only_rule(x, *, s=2.0):
    return np.sin(x) * s


adcompiler.register_jvp(keyword_only_rule,
                        lambda tangents, ans, x, *, s=2.0:
                        np.cos(x) * s * tangents[0])


def test_forward_rule_keyword_only_tangent_raises():
    def function(x):
        return np.sum(keyword_only_rule(x, s=x))

    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='pass s by position'):
        adcompiler.jvp(function, (np.ones(2),), (np.ones(2),))
