"""The grad-only primal of code written against an array namespace.

SciPy's functions start with `xp = array_namespace(x)` and
`x = xp_promote(x, force_floating=True, xp=xp)`, and reduce with
`xp.sum(..., axis=0, dtype=x.dtype)`. The grad-only proof follows such
code through a namespace source, a conversion marked with
`Registry.conversion`, `x.dtype`, and `np.sum` with keywords, where the
shapes of the arguments are known. These tests call SciPy's own helpers
(SciPy 1.17 and later have `xp_promote`). Each checks which code `grad`
runs (grad-only or full primal) and the gradient against central
differences, on the first call (general code), the second (code compiled
for the shapes) and the third (the direct path of that code).
"""

import numpy as np
import pytest

import adcompiler
from adcompiler import api, known_shapes, normalize, parse, resolve
from adcompiler.known_shapes import INT, REAL
from adcompiler.rules import REGISTRY, numpy_equivalents
from finite_differences import assert_gradient_close, numerical_gradient

array_api = pytest.importorskip('scipy._lib._array_api')
array_namespace = array_api.array_namespace
xp_promote = getattr(array_api, 'xp_promote', None)
pytestmark = pytest.mark.skipif(xp_promote is None,
                                reason='this SciPy has no xp_promote')


def promoted_rosen(x):
    xp = array_namespace(x)
    x = xp_promote(x, force_floating=True, xp=xp)
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0
                  + (1 - x[:-1]) ** 2.0, axis=0, dtype=x.dtype)


def scaled_squares(x, n):
    xp = array_namespace(x)
    n = xp_promote(n, force_floating=True, xp=xp)
    return xp.sum(n * x * x + 3.0 * np.sin(x), axis=0, dtype=x.dtype)


def sum_over_axis(x):
    return np.sum(np.sum(np.cos(x) * x, axis=0))


def sum_over_second_axis(x):
    return np.sum(np.sum(np.cos(x) * x, axis=1))


def sum_as_float32(x):
    return np.sum(np.cos(x) * x, dtype=np.float32)


def sum_with_dtype_of(x, n):
    return np.sum(np.cos(x) * x, dtype=n.dtype)


def exp_of_converted(x):
    xp = array_namespace(x)
    return np.sum(np.exp(xp_promote(x, force_floating=True, xp=xp)) * 0.5)


def converted_in_unproven_namespace(x):
    # The namespace of an int is not proven to be NumPy's.
    xp = array_namespace(x, 2)
    y = xp_promote(x, force_floating=True, xp=xp)
    return np.sum(np.cos(y) * y)


def broadcast_conversion(x):
    xp = array_namespace(x)
    y = xp_promote(x, force_floating=True, xp=xp, broadcast=True)
    return np.sum(np.cos(y) * y)


def gradients_of_calls(function, args, calls=3):
    """Return `grad(function)`, with the gradient of each of `calls` calls
    with `args`."""
    gradient = adcompiler.grad(function)
    return gradient, [gradient(*args) for _ in range(calls)]


def variant_of(gradient, args):
    return gradient._variants[api._argument_key(args)]


def grad_only_source(gradient, args=None):
    """Return the grad-only primal, without its comments, of the code that
    `gradient` keeps for `args`, or of its general code without `args`;
    None when it has none."""
    if args is None:
        source = gradient.compiled().source
    else:
        source = variant_of(gradient, args).compiled.source
    if 'def grad_only_primal' not in source:
        return None
    text = source[source.index('def grad_only_primal'):]
    end = text.find('\ndef ', 1)
    lines = (text if end < 0 else text[:end]).splitlines()
    return '\n'.join(line for line in lines
                     if not line.lstrip().startswith('#'))


def check_gradients(function, args, results, rtol=1e-6, atol=1e-6):
    expected = numerical_gradient(function, args, 0)
    for result in results:
        assert_gradient_close(result, expected, rtol=rtol, atol=atol)


# Grad-only primal where the proof applies ------------------------------------

@pytest.mark.parametrize('size', [2, 3, 10])
def test_promoted_rosen_runs_grad_only(size):
    x = np.linspace(-1.0, 1.5, size)
    gradient, results = gradients_of_calls(promoted_rosen, (x,))
    check_gradients(promoted_rosen, (x,), results, atol=1e-4)
    assert variant_of(gradient, (x,)).grad_only
    text = grad_only_source(gradient, (x,))
    assert '100.0' not in text  # the value's term and its sum are gone
    assert 'observed_sum' not in text.split('return')[-1]


def test_promoted_rosen_shares_saved_shape():
    x = np.linspace(-1.0, 1.5, 6)
    gradient, _ = gradients_of_calls(promoted_rosen, (x,))
    text = grad_only_source(gradient, (x,))
    returned = text[text.index('return'):]
    # The sum's operand is not computed, so its shape comes from a slice
    # of the same shape.
    assert 'ad.shape_and_kind(t2)' in returned


def test_sum_over_known_axis_runs_grad_only():
    x = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    gradient, results = gradients_of_calls(sum_over_axis, (x,))
    check_gradients(sum_over_axis, (x,), results)
    assert variant_of(gradient, (x,)).grad_only
    text = grad_only_source(gradient, (x,))
    # The outer sum is the value, so it goes. The inner one is saved for
    # its shape.
    assert 'np.sum(np.sum' not in text
    assert 'np.sum(' in text


def test_float64_scale_runs_grad_only():
    x = np.linspace(-1.0, 1.0, 5)
    n = np.linspace(0.5, 2.0, 5)
    gradient, results = gradients_of_calls(scaled_squares, (x, n))
    check_gradients(scaled_squares, (x, n), results)
    assert variant_of(gradient, (x, n)).grad_only


# Full primal where the proof does not apply ----------------------------------

def test_float32_input_runs_full_primal():
    x = np.linspace(-1.0, 1.5, 6).astype(np.float32)
    gradient, results = gradients_of_calls(promoted_rosen, (x,))
    expected = numerical_gradient(promoted_rosen, (x.astype(np.float64),), 0)
    for result in results:
        assert result.dtype == np.float32
        assert_gradient_close(result, expected, rtol=1e-4, atol=1e-2)
    assert not variant_of(gradient, (x,)).grad_only


def test_integer_scale_runs_full_primal():
    x = np.linspace(-1.0, 1.0, 5)
    n = np.arange(1, 6)
    gradient, results = gradients_of_calls(scaled_squares, (x, n))
    check_gradients(scaled_squares, (x, n), results)
    variant = variant_of(gradient, (x, n))
    assert 'n' in variant.compiled.grad_only_arrays
    assert not variant.grad_only


def test_axis_of_unknown_shape_keeps_sum():
    # The general code runs before the shapes are known: `axis=0` may not
    # exist, and the inner sum may be an array or a scalar.
    x = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    gradient, results = gradients_of_calls(sum_over_axis, (x,), calls=1)
    check_gradients(sum_over_axis, (x,), results)
    assert 'np.sum(' in grad_only_source(gradient)


def test_axis_beyond_known_axes_raises():
    # The sum raises AxisError for a vector, so it is not pure and stays:
    # every call raises, with the general code and with the code compiled
    # for the shape.
    x = np.linspace(-1.0, 1.0, 4)
    gradient = adcompiler.grad(sum_over_second_axis)
    for _ in range(3):
        with pytest.raises(numpy_equivalents.AXIS_ERROR):
            gradient(x)


def test_float32_dtype_keyword_has_no_grad_only():
    x = np.linspace(-1.0, 1.0, 5)
    gradient, results = gradients_of_calls(sum_as_float32, (x,))
    # A float32 value needs a longer step than the default.
    expected = numerical_gradient(sum_as_float32, (x,), 0, step=1e-2)
    for result in results:
        assert_gradient_close(result, expected, rtol=1e-3, atol=1e-3)
    assert grad_only_source(gradient, (x,)) is None


def test_dtype_of_integer_argument_runs_full_primal():
    x = np.linspace(-1.0, 1.0, 5)
    for n, grad_only in ((np.ones(2), True), (np.ones(2, dtype=int), False)):
        gradient, results = gradients_of_calls(sum_with_dtype_of, (x, n))
        variant = variant_of(gradient, (x, n))
        assert 'n' in variant.compiled.grad_only_arrays
        assert variant.grad_only is grad_only
        if grad_only:
            check_gradients(sum_with_dtype_of, (x, n), results)


def test_conversion_result_not_computed_in_place():
    # The conversion returns its float64 argument itself, so `np.exp` of it
    # must allocate: computing in place would overwrite the caller's x.
    x = np.linspace(-1.0, 1.0, 5)
    before = x.copy()
    gradient, results = gradients_of_calls(exp_of_converted, (x,))
    np.testing.assert_array_equal(x, before)
    check_gradients(exp_of_converted, (x,), results)
    text = grad_only_source(gradient, (x,))
    assert 'apply_in_place(np.exp, xp_promote' not in text


@pytest.mark.parametrize('function', [converted_in_unproven_namespace,
                                      broadcast_conversion])
def test_conversion_outside_its_facts_keeps_value(function):
    x = np.linspace(-1.0, 1.0, 5)
    gradient, results = gradients_of_calls(function, (x,))
    check_gradients(function, (x,), results)
    text = grad_only_source(gradient, (x,))
    # In a namespace not proven NumPy's, or with broadcast=True, the
    # conversion's result is not known to be a float64 array, so the
    # value's terms stay.
    assert text is None or 'np.cos' in text


# Known shapes -----------------------------------------------------------------

def known_of(function, *args):
    source = parse.get_source(function)
    normalized = normalize.normalize(source)
    resolution = resolve.resolve(normalized, source.namespace, REGISTRY)
    names = normalized.params
    described = known_shapes.describe_arguments(dict(zip(names, args)))
    return known_shapes.known_values(normalized, resolution, described)


def converted_integers(n):
    xp = array_namespace(n)
    as_float = xp_promote(n, force_floating=True, xp=xp)
    as_is = xp_promote(n, xp=xp)
    broadcast = xp_promote(n, force_floating=True, xp=xp, broadcast=True)
    total = np.sum(n, dtype=as_float.dtype)
    return total, as_is, broadcast


def test_known_conversion_keeps_shape():
    known = known_of(converted_integers, np.arange(6).reshape(2, 3))
    assert known['n'].shape == (2, 3)
    assert known['as_float'] == known_shapes.Known((2, 3), REAL, False)
    assert known['as_is'] == known_shapes.Known((2, 3), INT, False)
    assert 'broadcast' not in known


def test_known_sum_takes_kind_of_dtype():
    known = known_of(converted_integers, np.arange(6).reshape(2, 3))
    assert known['total'] == known_shapes.Known((), REAL, False)



def plus_sum_over_product_axis(x, m, w):
    # The second term does not depend on x, so its adjoint is empty.
    return np.sum(x * x) + np.sum(np.sum(m @ w, axis=1))


def test_axis_of_matrix_product_raises():
    # `m @ w` is a vector, so axis=1 raises on every call, and the sum
    # must stay in every code that grad runs.
    x = np.linspace(-1.0, 1.0, 3)
    m = np.linspace(0.5, 2.0, 9).reshape(3, 3)
    w = np.linspace(0.5, 1.0, 3)
    gradient = adcompiler.grad(plus_sum_over_product_axis)
    for _ in range(3):
        with pytest.raises(numpy_equivalents.AXIS_ERROR):
            gradient(x, m, w)
