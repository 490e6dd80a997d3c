"""The adjoint that grad runs from the seed of one (adcompiler.unit_seed).

tests/test_grad_only.py compares the gradients of this adjoint with those
of the full one bit for bit on the gradient and control-flow tables. These
tests check which expressions are rewritten and which must stay: names that
may be the user's arrays, factors that are not one, and values whose type
a dropped factor would change. They also check the run-time checks of
`ad.apply_in_place`, and gradients against central differences.
"""

import ast
import textwrap

import gast
import numpy as np
import pytest

import adcompiler
from adcompiler import runtime, unit_seed
from adcompiler.compiler import Compiler
from finite_differences import assert_gradient_close, numerical_gradient

COMPILER = Compiler(optimize=True)


def softplus_sum(x):
    return np.sum(np.log1p(np.exp(-np.abs(x))) + 0.5 * (x + np.abs(x)))


def sine_sum(x):
    return np.sum(np.sin(x))


def product_sum(x, y):
    return np.sum(x * y)


def integer_scaled(x):
    n = 3
    return np.sum(x) * n


def logistic_sum(x):
    return np.sum(1.0 / (1.0 + np.exp(-x)))


def alias_then_index(h):
    s = 0.0
    y = h
    for i in range(y.shape[0]):
        s = s + np.sum(np.cos(y[i]))
    return s + np.sum(y * h)


def grad_only_adjoint_text(function, wrt=('x',)):
    source = COMPILER.compile(function, wrt).module_source
    if 'def grad_only_adjoint' not in source:
        return None
    # Emit wraps long lines; the checks read the code on one line.
    return ' '.join(source[source.index('def grad_only_adjoint'):].split())


def rewritten(text, float64_saved=(0, 1)):
    function = gast.parse(textwrap.dedent(text)).body[0]
    result = unit_seed.unit_seed_adjoint(function, float64_saved, 'np', 'ad',
                                         'g')
    if result is None:
        return None
    return ast.unparse(ast.fix_missing_locations(gast.gast_to_ast(result)))


# What the compiled adjoints contain ------------------------------------------

def test_softplus_subtracts_in_quotient_array():
    text = grad_only_adjoint_text(softplus_sum).replace(' ', '')
    # The general code takes the real part of the cotangent of a real x.
    assert ('ad.apply_in_place(np.subtract,np.real(dt6),'
            'ad.quotient_in_divisor(t3,t3+1.0))') in text
    assert 'ad.call_into(t3,ad.abs_sign,x)' in text
    assert '-dt' not in text


def test_sine_sum_product_with_seed_dropped():
    text = grad_only_adjoint_text(sine_sum)
    assert 'dx = np.cos(x) return' in text


def test_product_with_parameter_kept():
    # dx = dt * y must be a new array, never the array of y.
    text = grad_only_adjoint_text(product_sum, ('x', 'y'))
    assert text is None or ' = y ' not in text


def test_integer_factor_kept():
    text = grad_only_adjoint_text(integer_scaled)
    assert text is None or '* n' in text or '* 3' in text


# Gradients ------------------------------------------------------------------

SHAPES = [(5,), (2, 3), (), (1,), (0,), (3, 1, 2)]
SHAPE_IDS = ['vector', 'matrix', 'scalar', 'one', 'empty', 'three_axes']


@pytest.mark.parametrize('function', [softplus_sum, sine_sum, logistic_sum,
                                      integer_scaled],
                         ids=['softplus', 'sine', 'logistic', 'integer'])
@pytest.mark.parametrize('shape', SHAPES, ids=SHAPE_IDS)
def test_gradient_matches_finite_differences(function, shape):
    x = np.random.default_rng(31).normal(size=shape)
    if not shape:
        x = x[()]
    gradient = adcompiler.grad(function)
    for _ in range(3):  # The second call compiles for the shapes.
        result = gradient(x)
        assert_gradient_close(result, numerical_gradient(function, (x,), 0))
        assert np.asarray(result).dtype == np.float64


@pytest.mark.parametrize('function', [softplus_sum, sine_sum, logistic_sum,
                                      integer_scaled],
                         ids=['softplus', 'sine', 'logistic', 'integer'])
@pytest.mark.parametrize('shape', [(4,), (3, 2), ()], ids=['vector',
                                                            'matrix', '0d'])
def test_gradient_equals_vjp_bit_for_bit(function, shape):
    x = np.asarray(np.random.default_rng(32).normal(size=shape))
    original = x.copy()
    gradient = adcompiler.grad(function)
    gradient(x)
    fast = gradient(x)
    _, vjp_fn = adcompiler.vjp(function, x)
    slow, = vjp_fn(1.0)
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(x, original)


@pytest.mark.parametrize('y_shape', [(4,), (1,), ()],
                         ids=['same', 'broadcast', 'scalar'])
def test_product_gradient_is_new_array(y_shape):
    rng = np.random.default_rng(33)
    x = rng.normal(size=4)
    y = np.asarray(rng.normal(size=y_shape))
    kept = y.copy()
    gradient = adcompiler.grad(product_sum)
    for _ in range(3):
        dx = gradient(x, y)
        np.testing.assert_array_equal(dx, np.broadcast_to(y, x.shape))
        assert not np.shares_memory(dx, y)
        dx[...] = 7.0  # The caller owns the gradient.
        np.testing.assert_array_equal(y, kept)


def test_alias_of_argument_never_written():
    h = np.random.default_rng(34).normal(size=4)
    kept = h.copy()
    gradient = adcompiler.grad(alias_then_index)
    for _ in range(3):
        result = gradient(h)
        np.testing.assert_array_equal(h, kept)
        assert_gradient_close(result,
                              numerical_gradient(alias_then_index, (h,), 0))


def sine_weighted_sum(x):
    return np.sum(np.sin(x) * x)


def test_float32_gradient_keeps_dtype():
    x = np.arange(1, 5).astype(np.float32)
    gradient = adcompiler.grad(sine_weighted_sum)
    for _ in range(3):
        result = gradient(x)
        assert result.dtype == np.float32
        np.testing.assert_allclose(result, np.cos(x) * x + np.sin(x),
                                   rtol=1e-5)


@pytest.mark.parametrize('dtype', [np.complex128, np.int64],
                         ids=['complex', 'int'])
def test_non_real_argument_raises(dtype):
    x = np.arange(1, 5).astype(dtype)
    with pytest.raises(adcompiler.AdCompilerError):
        adcompiler.grad(sine_weighted_sum)(x)


def sum_itself(x):
    return np.sum(x)


def listed_product(x):
    pair = [x, np.sin(x)]
    return np.sum(pair[0] * pair[1])


def softplus_weighted(x, w):
    return np.sum(np.log1p(np.exp(-np.abs(x))) + w * (x + np.abs(x)))


@pytest.mark.parametrize('shape', [(4,), (2, 3), ()], ids=['vector',
                                                            'matrix', '0d'])
def test_sum_gradient_is_new_array(shape):
    x = np.asarray(np.random.default_rng(36).normal(size=shape))
    kept = x.copy()
    gradient = adcompiler.grad(sum_itself)
    for _ in range(3):
        result = gradient(x)
        np.testing.assert_array_equal(result, np.ones(shape))
        assert not np.shares_memory(result, x)
        np.testing.assert_array_equal(x, kept)


def test_argument_in_container_never_written():
    x = np.random.default_rng(37).normal(size=5)
    kept = x.copy()
    gradient = adcompiler.grad(listed_product)
    for _ in range(3):
        result = gradient(x)
        np.testing.assert_array_equal(x, kept)
        assert_gradient_close(result,
                              numerical_gradient(listed_product, (x,), 0))


@pytest.mark.parametrize('w_shape', [(3,), (1, 3), (2, 1), (), (2, 3)],
                         ids=['row', 'row_2d', 'column', 'scalar', 'same'])
def test_broadcast_weight_gradients(w_shape):
    rng = np.random.default_rng(38)
    x = rng.normal(size=(2, 3))
    w = np.asarray(rng.normal(size=w_shape))
    kept = w.copy()
    gradient = adcompiler.grad(softplus_weighted, wrt=(0, 1))
    for _ in range(3):
        dx, dw = gradient(x, w)
        assert_gradient_close(
            dx, numerical_gradient(softplus_weighted, (x, w), 0))
        assert_gradient_close(
            dw, numerical_gradient(softplus_weighted, (x, w), 1))
        np.testing.assert_array_equal(w, kept)


def test_value_and_grad_gives_same_gradient():
    x = np.random.default_rng(35).normal(size=(3, 4))
    gradient = adcompiler.grad(softplus_sum)
    gradient(x)
    _, slow = adcompiler.value_and_grad(softplus_sum)(x)
    np.testing.assert_array_equal(gradient(x), slow)


# The rewrite on its own ------------------------------------------------------

def test_new_factor_of_seed_dropped():
    text = rewritten("""
        def adjoint(saved, g):
            x, t = saved
            d = ad.compact_sum_adjoint(g, None, None, False)
            dx = np.cos(x) * d
            return dx,
        """)
    assert 'dx = np.cos(x)\n' in text


def test_negated_seed_negates():
    text = rewritten("""
        def adjoint(saved, g):
            x, t = saved
            m = -g
            dx = np.cos(x) * m + 0.5
            return dx,
        """)
    assert 'dx = ad.apply_in_place(np.subtract, 0.5, np.cos(x))' in text


def test_name_factor_kept():
    assert rewritten("""
        def adjoint(saved, g):
            x, t = saved
            dx = g * t
            return dx,
        """) is None


def test_reassigned_seed_not_a_unit():
    assert rewritten("""
        def adjoint(saved, g):
            x, t = saved
            g = g * 2.0
            dx = np.cos(x) * g
            return dx,
        """) is None


def test_reduction_with_axis_not_a_unit():
    assert rewritten("""
        def adjoint(saved, g):
            x, t = saved
            d = ad.compact_sum_adjoint(g, x, 0, False)
            dx = np.cos(x) * d
            return dx,
        """) is None


def test_unit_assigned_in_loop_not_a_unit():
    assert rewritten("""
        def adjoint(saved, g):
            x, t = saved
            d = g
            for i in range(3):
                d = d * 0.5
            dx = np.cos(x) * d
            return dx,
        """) is None


def test_saved_value_of_unknown_type_kept():
    # t is not a proven float64 value: its cosine might be an int's.
    assert rewritten("""
        def adjoint(saved, g):
            x, t = saved
            dx = np.cos(t) * g
            return dx,
        """, float64_saved=(0,)) is None


def test_subtraction_from_name_stays():
    # `0.5 - t` would write into the saved array t.
    assert rewritten("""
        def adjoint(saved, g):
            x, t = saved
            dx = 0.5 - t
            return dx,
        """) is None


def test_subtraction_of_new_array_in_place():
    text = rewritten("""
        def adjoint(saved, g):
            x, t = saved
            dx = x - t * 2.0
            dt = 1.0 / (t + 1.0)
            return dx, dt
        """)
    assert 'dx = ad.apply_in_place(np.subtract, x, t * 2.0)' in text
    assert 'dt = ad.apply_in_place(np.divide, 1.0, t + 1.0)' in text


def test_deferred_expressions_stay():
    assert rewritten("""
        def adjoint(saved, g):
            x, t = saved
            dx = np.cos(x) * g if x.size else 0.5 - t * 2.0
            f = lambda: np.cos(x) * g
            return dx, f
        """) is None


# Run-time checks of ad.apply_in_place -----------------------------------------

@pytest.mark.parametrize('args', [
    (np.subtract, 0.5, np.ones(3) * 4.0),
    (np.subtract, np.float64(0.5), np.ones((2, 2)) * 4.0),
    (np.subtract, 2, np.ones(3) * 4.0),
    (np.divide, np.full(3, 2.0), np.ones(3) * 4.0),
    (np.exp, np.ones(3)),
], ids=['float', 'float64', 'int', 'array', 'unary'])
def test_apply_in_place_writes_into_last(args):
    function, *operands = args
    expected = function(*operands)
    result = runtime.apply_in_place(function, *operands)
    assert result is operands[-1]
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize('args', [
    (np.subtract, 0.5, np.float64(4.0)),
    (np.subtract, 0.5, np.array(4.0)),
    (np.subtract, 0.5, np.ones(3, dtype=np.float32) * 4),
    (np.subtract, 1j, np.ones(3) * 4.0),
    (np.subtract, np.full((2, 3), 2.0), np.ones(3) * 4.0),
    (np.subtract, np.full(3, 2.0, dtype=np.float32), np.ones(3) * 4.0),
    (np.subtract, np.arange(3), np.ones(3) * 4.0),
    (np.subtract, True, np.ones(3) * 4.0),
    (np.divide, 2.0, np.ones(3, dtype=np.int64)),
], ids=['scalar', '0-d', 'float32', 'complex', 'broadcast',
        'float32-operand', 'int-array', 'bool', 'int-last'])
def test_apply_in_place_allocates_otherwise(args):
    function, *operands = args
    kept = np.copy(operands[-1])
    expected = function(*operands)
    result = runtime.apply_in_place(function, *operands)
    assert result is not operands[-1]
    assert type(result) is type(expected)
    assert np.result_type(result) == np.result_type(expected)
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(operands[-1], kept)


def test_apply_in_place_leaves_read_only_array():
    d = np.ones(3) * 4.0
    d.flags.writeable = False
    result = runtime.apply_in_place(np.subtract, 0.5, d)
    assert result is not d
    np.testing.assert_array_equal(d, np.full(3, 4.0))


def test_unit_assigned_twice_not_a_unit():
    # `d` is a unit at the product only if it is assigned once: the probe
    # that assumes so finds a rule, and the counted rewrite must not.
    assert rewritten("""
        def adjoint(saved, g):
            x, t = saved
            d = g
            dx = np.cos(x) * d
            d = g * 2.0
            return dx, d
        """) is None
