"""Adjoint contributions with a shared factor, added before multiplying.

The rewrite changes rounding, so every function is checked against central
differences and against the code compiled without optimization, on shapes
with and without broadcasting, and on complex arguments where the rules
accept them.
"""

import ast
import textwrap

import gast
import numpy as np
import pytest

import adcompiler
from adcompiler import shared_factors
from finite_differences import assert_gradient_close
from test_optimize import (adjoint_source, assert_right_and_same_gradients,
                           assert_same_gradients)


def softplus_sum(x):
    return np.sum(np.log1p(np.exp(-np.abs(x))) + 0.5 * (x + np.abs(x)))


def sign_twice(x, y):
    return np.sum(np.abs(x) * y + np.abs(x))


def cosine_twice(x, y):
    return np.sum(np.cos(x) * y + np.cos(x) ** 2)


def weighted_abs(x, w):
    return np.sum(np.abs(x) * w + np.abs(x) ** 2)


def three_uses(x, y):
    return np.sum(np.abs(x) + 2.0 * np.abs(x) + np.abs(x) * y)


def factor_reassigned(x, y):
    a = x * y
    y = y * 3.0
    return np.sum(a + x * y)


def complex_magnitudes(z):
    return np.sum(np.abs(z) + np.abs(z) ** 2)


def rewritten(text):
    function = gast.parse(textwrap.dedent(text)).body[0]
    changed = shared_factors.combine_shared_factors(function, 'np', 'ad')
    return changed, ast.unparse(ast.fix_missing_locations(
        gast.gast_to_ast(function)))


def normal(*shape):
    def make(rng):
        value = rng.normal(size=shape)
        return float(value) if not shape else value
    return make


@pytest.mark.parametrize('function, inputs, wrt', [
    (softplus_sum, (normal(5),), (0,)),
    (softplus_sum, (normal(2, 3),), (0,)),
    (softplus_sum, (normal(),), (0,)),
    (sign_twice, (normal(4), normal(4)), (0, 1)),
    (sign_twice, (normal(2, 3), normal(3)), (0, 1)),
    (sign_twice, (normal(3, 1), normal(3, 4)), (0, 1)),
    (sign_twice, (normal(), normal(3)), (0, 1)),
    (cosine_twice, (normal(4), normal(4)), (0, 1)),
    (cosine_twice, (normal(2, 1), normal(3)), (0, 1)),
    (weighted_abs, (normal(3, 1), normal(3, 4)), (0, 1)),
    (weighted_abs, (normal(5), normal()), (0, 1)),
    (three_uses, (normal(2, 3), normal(3)), (0, 1)),
    (factor_reassigned, (normal(3), normal(3)), (0, 1)),
], ids=['softplus', 'softplus-matrix', 'softplus-scalar', 'sign_twice',
        'sign_twice-row', 'sign_twice-column', 'sign_twice-scalar',
        'cosine_twice', 'cosine_twice-column', 'weighted_abs-column',
        'weighted_abs-scalar', 'three_uses', 'factor_reassigned'])
def test_shared_factors_match_finite_differences(function, inputs, wrt):
    rng = np.random.default_rng(12)
    args = tuple(make(rng) for make in inputs)
    assert_right_and_same_gradients(function, args, wrt)


def complex_numerical_gradient(function, z, step=1e-6):
    """Return df/dRe(z) - 1j * df/dIm(z) by central differences."""
    gradient = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        for direction, weight in ((1.0, 1.0), (1j, -1j)):
            plus, minus = z.copy(), z.copy()
            plus[index] += step * direction
            minus[index] -= step * direction
            slope = (function(plus) - function(minus)) / (2 * step)
            gradient[index] += weight * slope
    return gradient


@pytest.mark.parametrize('shape', [(4,), (2, 3)])
def test_complex_magnitudes_match_finite_differences(shape):
    rng = np.random.default_rng(13)
    z = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    gradient = adcompiler.grad(complex_magnitudes)(z)
    assert_gradient_close(gradient,
                          complex_numerical_gradient(complex_magnitudes, z))
    assert_same_gradients(complex_magnitudes, (z,), (0,))


def test_softplus_multiplies_by_abs_sign_once():
    adjoint = adjoint_source(softplus_sum)
    assert adjoint.count('ad.abs_sign(x)') == 1
    assert 'abs_sign_x' not in adjoint


def test_three_contributions_become_one_product():
    adjoint = adjoint_source(three_uses)
    assert adjoint.count('ad.abs_sign(x)') == 1


def test_factor_assigned_between_not_combined():
    changed, source = rewritten("""
        def f(g, y):
            dx = g * y
            y = y * 3.0
            dx = dx + g * y
            return dx
        """)
    assert not changed
    assert source.count('g * y') == 2


def test_accumulator_read_between_not_combined():
    changed, _ = rewritten("""
        def f(g, y):
            dx = g * y
            t = dx * 2.0
            dx = dx + t * y
            return dx, t
        """)
    assert not changed


def test_different_factors_not_combined():
    changed, _ = rewritten("""
        def f(g, x, y):
            dx = g * np.sin(x)
            dx = dx + g * np.sin(y)
            return dx
        """)
    assert not changed


def test_term_with_user_call_not_moved():
    changed, _ = rewritten("""
        def f(g, y):
            dx = h(g) * y
            t = g * 2.0
            dx = dx + t * y
            return dx
        """)
    assert not changed


def test_first_contribution_combined():
    changed, source = rewritten("""
        def f(g, y, x):
            dx = g * ad.abs_sign(x)
            t = g * 2.0
            dx = dx + t * ad.abs_sign(x)
            return dx
        """)
    assert changed
    assert 'dx = (g + t) * ad.abs_sign(x)' in source
    assert source.count('ad.abs_sign(x)') == 1


def test_shared_name_moves_back_into_product():
    changed, source = rewritten("""
        def f(g, x):
            s = ad.abs_sign(x)
            dx = g
            dx = dx + g * s
            dx = dx + (g * 2.0 + 1.0) * s
            return dx
        """)
    assert changed
    assert 's =' not in source
    assert 'dx = dx + (g * 2.0 + 1.0 + g) * ad.abs_sign(x)' in source
