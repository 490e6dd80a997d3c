"""The adjoint that grad runs after the grad-only primal, written into
saved arrays that nothing reads any more (adcompiler.donation).

The gradient tables already compare this adjoint with the full one bit for
bit (tests/test_grad_only.py). These tests check which calls are
rewritten, which saved values are never written, the memory it saves, and
the run-time checks of `ad.call_into`.
"""

import ast
import copy
import textwrap
import tracemalloc

import gast
import numpy as np
import pytest

import adcompiler
from adcompiler import donation, runtime
from adcompiler.compiler import Compiler
from finite_differences import assert_gradient_close, numerical_gradient

COMPILER = Compiler(optimize=True)


def softplus_sum(x):
    return np.sum(np.log1p(np.exp(-np.abs(x))) + 0.5 * (x + np.abs(x)))


def sine_sum(x):
    return np.sum(np.sin(x))


def cosine_of_square(x):
    y = x * x
    return np.sum(np.sin(y) * 2.0) + np.sum(np.cos(x))


def sine_of_slice(x):
    return np.sum(np.sin(x[1:]))


def grad_only_adjoint_text(function):
    source = COMPILER.compile(function, ('x',)).module_source
    if 'def grad_only_adjoint' not in source:
        return None
    # Emit wraps long lines; the checks read the code on one line.
    return ' '.join(source[source.index('def grad_only_adjoint'):].split())


def rewritten(text, owned=(1,)):
    function = gast.parse(textwrap.dedent(text)).body[0]
    result = donation.donating_adjoint(function, owned, 'np', 'ad', 'g')
    if result is None:
        return None
    return ast.unparse(ast.fix_missing_locations(gast.gast_to_ast(result)))


def test_softplus_abs_sign_written_into_saved_array():
    text = grad_only_adjoint_text(softplus_sum).replace(' ', '')
    assert 'ad.call_into(t3,ad.abs_sign,x)' in text


def test_call_may_read_donated_array_last():
    text = grad_only_adjoint_text(cosine_of_square)
    assert 'ad.call_into(y, np.cos, y)' in text


def test_parameter_never_donated():
    # The adjoint from the seed of one (adcompiler.unit_seed) is there.
    assert 'call_into' not in grad_only_adjoint_text(sine_sum)


def test_slice_of_parameter_never_donated():
    assert 'call_into' not in (grad_only_adjoint_text(sine_of_slice) or '')
    x = np.linspace(0.0, 1.0, 5)
    gradient = adcompiler.grad(sine_of_slice)(x)
    np.testing.assert_array_equal(x, np.linspace(0.0, 1.0, 5))
    assert_gradient_close(gradient,
                          numerical_gradient(sine_of_slice, (x,), 0))


@pytest.mark.parametrize('function', [softplus_sum, cosine_of_square],
                         ids=['softplus', 'cosine_of_square'])
@pytest.mark.parametrize('shape', [(5,), (2, 3), (), (1,), (0,)])
def test_donating_gradient_matches_finite_differences(function, shape):
    x = np.random.default_rng(14).normal(size=shape)
    if not shape:
        x = x[()]
    gradient = adcompiler.grad(function)(x)
    assert_gradient_close(gradient, numerical_gradient(function, (x,), 0))


@pytest.mark.parametrize('function', [softplus_sum, cosine_of_square],
                         ids=['softplus', 'cosine_of_square'])
@pytest.mark.parametrize('shape', [(4,), (3, 2), ()])
def test_donating_gradient_equals_vjp(function, shape):
    x = np.asarray(np.random.default_rng(15).normal(size=shape))
    original = x.copy()
    gradient = adcompiler.grad(function)(x)
    _, vjp_fn = adcompiler.vjp(function, x)
    first, = vjp_fn(1.0)
    second, = vjp_fn(1.0)
    np.testing.assert_array_equal(gradient, first)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(x, original)


def test_softplus_grad_peaks_at_two_arrays():
    x = np.random.default_rng(16).normal(size=200_000)
    gradient = adcompiler.grad(softplus_sum)
    gradient(x)
    tracemalloc.start()
    gradient(x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # The saved exp(-|x|), the one temporary of the adjoint, and small
    # objects; without the donation, a third array for sign(x).
    assert peak < 2.2 * x.nbytes


def test_call_before_last_read_not_rewritten():
    assert rewritten("""
        def adjoint(saved, g):
            x, t = saved
            d = np.sign(x) * t * g
            return d,
        """) is None


def test_call_after_last_read_rewritten():
    text = rewritten("""
        def adjoint(saved, g):
            x, t = saved
            d = t * g * np.sign(x)
            return d,
        """)
    assert 'ad.call_into(t, np.sign, x)' in text


def test_view_of_saved_value_not_donated():
    assert rewritten("""
        def adjoint(saved, g):
            x, t = saved
            u = np.real(t)
            d = g * np.sign(x) + u
            return d,
        """) is None


def test_saved_value_in_loop_not_donated():
    assert rewritten("""
        def adjoint(saved, g):
            x, t = saved
            for i in range(3):
                g = g * t
            d = g * np.sign(x)
            return d,
        """) is None


def test_saved_value_in_lambda_not_donated():
    assert rewritten("""
        def adjoint(saved, g):
            x, t = saved
            f = lambda: t * 2.0
            d = g * np.sign(x) + f()
            return d,
        """) is None


def test_returned_saved_value_not_donated():
    assert rewritten("""
        def adjoint(saved, g):
            x, t = saved
            d = g * np.sign(x)
            return d, t
        """) is None


def test_call_in_conditional_not_rewritten():
    assert rewritten("""
        def adjoint(saved, g):
            x, t = saved
            d = t * g
            e = np.sign(x) if g else np.cos(x)
            return d, e
        """) is None


def test_only_owned_positions_donated():
    text = rewritten("""
        def adjoint(saved, g):
            x, t = saved
            d = t * g * np.sign(x)
            return d,
        """, owned=(0,))
    assert 'ad.call_into(x, np.sign, x)' in text
    assert 'call_into(t' not in text


def test_call_into_writes_into_matching_array():
    x = np.array([-2.0, 0.0, 3.0])
    out = np.ones(3)
    result = runtime.call_into(out, runtime.abs_sign, x)
    assert result is out
    np.testing.assert_array_equal(out, [-1.0, 0.0, 1.0])


@pytest.mark.parametrize('x, out', [
    (np.float64(2.0), np.ones(1)),
    (np.array(2.0), np.array(1.0)),
    (np.ones(3, dtype=np.float32), np.ones(3)),
    (np.ones(3), np.ones(3, dtype=np.float32)),
    (np.ones(3), np.ones(4)),
    (np.ones(3) + 1j, np.ones(3)),
    (np.ones(3), np.float64(1.0)),
], ids=['scalar', '0-d', 'float32-x', 'float32-out', 'shape', 'complex',
        'scalar-out'])
def test_call_into_allocates_otherwise(x, out):
    kept = copy.deepcopy(out)
    result = runtime.call_into(out, np.cos, x)
    assert result is not out
    expected = np.cos(x)
    assert type(result) is type(expected)
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(out, kept)


def squared_softplus_gradient(x):
    gradient = adcompiler.grad(softplus_sum)
    return np.sum(gradient(x) ** 2)


def calls_in_place_helpers(x):
    t = runtime.apply_in_place(np.exp, x * 2.0)
    s = runtime.call_into(t * 1.0, runtime.abs_sign, x)
    q = runtime.quotient_in_divisor(1.5, t + 1.0)
    return np.sum(s * x + q * t)


@pytest.mark.parametrize('function', [squared_softplus_gradient,
                                      calls_in_place_helpers],
                         ids=['nested_grad', 'helpers'])
def test_in_place_helpers_differentiate_again(function):
    x = np.random.default_rng(18).normal(size=5)
    gradient = adcompiler.grad(function)(x)
    assert_gradient_close(gradient, numerical_gradient(function, (x,), 0))


def test_softplus_hessian_is_logistic_slope():
    x = np.random.default_rng(19).normal(size=4)
    hessian = adcompiler.hessian(softplus_sum)(x)
    np.testing.assert_allclose(np.diag(hessian), 0.25 / np.cosh(x / 2) ** 2,
                               rtol=1e-10)
    np.testing.assert_array_equal(hessian - np.diag(np.diag(hessian)),
                                  np.zeros((4, 4)))
