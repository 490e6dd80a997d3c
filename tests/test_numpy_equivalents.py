"""np.interp, np.convolve, np.correlate and np.trapezoid, which calls run
as the Python equivalents of adcompiler.rules.numpy_equivalents.

Gradients are checked against central finite differences with the harness
of test_rules.py: each function under test returns `np.sum(w * expression)`
with the weight `w` as its last parameter. Forward mode and second
derivatives come from the rules of the operations the equivalents use, and
are checked here too.
"""

import math

import numpy as np
import pytest

import adcompiler
from adcompiler.errors import UnsupportedOptionError
from adcompiler.rules import numpy_equivalents
from finite_differences import assert_gradient_close, numerical_gradient
from test_rules import check_grads, sample


# Values: each equivalent matches NumPy -------------------------------------

@pytest.mark.parametrize('mode', ['full', 'same', 'valid'])
@pytest.mark.parametrize('name', ['convolve', 'correlate'])
def test_convolution_values_match_numpy(name, mode):
    rng = np.random.default_rng(3)
    for n in range(1, 7):
        for m in range(1, 7):
            a = rng.normal(size=n) + 1j * rng.normal(size=n)
            v = rng.normal(size=m) + 1j * rng.normal(size=m)
            expected = getattr(np, name)(a, v, mode)
            computed = getattr(numpy_equivalents, name)(a, v, mode)
            assert computed.shape == expected.shape, (n, m)
            np.testing.assert_allclose(computed, expected, atol=1e-12)


def test_interp_values_match_numpy():
    xp = np.array([0.0, 1.0, 1.0, 2.5, 4.0])
    fp = np.array([0.3, -1.2, 0.8, 2.0, -0.5])
    x = np.array([-1.0, 0.0, 0.5, 1.0, 1.2, 2.5, 3.0, 4.0, 5.0, np.nan])
    for left, right in ((None, None), (-9.0, 7.0)):
        np.testing.assert_array_equal(
            numpy_equivalents.interp(x, xp, fp, left, right),
            np.interp(x, xp, fp, left, right))
    scalar = numpy_equivalents.interp(1.7, xp, fp)
    assert type(scalar) is np.float64
    assert scalar == np.interp(1.7, xp, fp)
    np.testing.assert_array_equal(numpy_equivalents.interp(x, [2.0], [3.0]),
                                  np.interp(x, [2.0], [3.0]))


@pytest.mark.parametrize('fp, x', [
    pytest.param([1.0, np.inf, 2.0, 5.0], [1.5, 0.5, 1.0, 2.0], id='inf'),
    pytest.param([np.inf, np.inf, 2.0, 5.0], [0.5, 0.0, 1.0], id='inf-inf'),
    pytest.param([1.0, np.nan, 2.0, 5.0], [0.0, 0.5, 1.0, 2.0], id='nan'),
    pytest.param([1.0, -np.inf, np.inf, 5.0], [1.0, 1.5, 2.0, 3.0],
                 id='both-infinities'),
    pytest.param([-0.0, -0.0, 2.0, 5.0], [0.0, 0.5, 1.0], id='negative-zero'),
])
def test_interp_nonfinite_values_match_numpy(fp, x):
    xp = np.array([0.0, 1.0, 2.0, 3.0])
    fp = np.array(fp)
    x = np.array(x)
    expected = np.interp(x, xp, fp)
    with np.errstate(invalid='ignore'):
        computed = numpy_equivalents.interp(x, xp, fp)
        value, _ = adcompiler.vjp(lambda x: np.interp(x, xp, fp), x)
    np.testing.assert_array_equal(computed, expected)
    np.testing.assert_array_equal(value, expected)
    np.testing.assert_array_equal(np.signbit(value), np.signbit(expected))


@pytest.mark.parametrize('x, axis', [
    pytest.param(None, -1, id='dx'),
    pytest.param(np.array([0.0, 0.2, 0.5]), -1, id='x-1d'),
    pytest.param(np.array([[0.0], [0.3], [0.4], [1.0]]), 0, id='x-2d'),
])
def test_trapezoid_values_match_numpy(x, axis):
    y = sample((4, 3))
    np.testing.assert_allclose(numpy_equivalents.trapezoid(y, x, axis=axis),
                               np.trapezoid(y, x, axis=axis), atol=1e-14)


# Gradients against central differences --------------------------------------

XP = np.array([-1.5, -0.4, 0.3, 1.1, 2.0])


def np_interp(x, fp, w):
    return np.sum(w * np.interp(x, XP, fp))


def np_interp_bounds(x, fp, left, right, w):
    return np.sum(w * np.interp(x, XP, fp, left=left, right=right))


def np_interp_points(x, xp, fp, w):
    return np.sum(w * np.interp(x, xp, fp))


@pytest.mark.parametrize('x', [
    pytest.param(0.45, id='float'),
    pytest.param(np.array([-1.2, -0.1, 0.7, 1.9]), id='vector'),
    pytest.param(np.array([[-2.0, 0.1], [1.4, 2.6]]), id='matrix-outside'),
])
def test_interp(x):
    check_grads(np_interp, x, sample(5, seed=1))


def test_interp_left_right():
    x = np.array([-2.0, 0.2, 2.5])
    check_grads(np_interp_bounds, x, sample(5, seed=1), 0.7, -0.3)


def test_interp_sample_points():
    x = np.array([-1.2, -0.1, 0.7, 1.9])
    check_grads(np_interp_points, x, XP, sample(5, seed=1))


def test_interp_at_last_point():
    # At x == xp[-1] the derivative is the last segment's, from the left.
    xp = np.array([0.0, 1.0, 2.5, 3.0])
    fp = np.array([1.0, 3.0, 2.0, 5.0])
    slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    x = np.array([3.0, 2.5, 0.0])

    def total(x, xp, fp):
        return np.sum(np.interp(x, xp, fp) * np.array([1.0, 2.0, 4.0]))

    gx, gxp, gfp = adcompiler.grad(total, wrt=(0, 1, 2))(x, xp, fp)
    np.testing.assert_allclose(gx, [slope, 2.0 * slope,
                                    4.0 * (fp[1] - fp[0]) / xp[1]])
    # Each value equals fp[j] at its node, so only fp[j] moves it.
    np.testing.assert_allclose(gfp, [4.0, 0.0, 2.0, 1.0])
    np.testing.assert_allclose(gxp[-1], -slope)
    _, tangent = adcompiler.jvp(lambda x: np.interp(x, xp, fp), (x,),
                                (np.ones(3),))
    np.testing.assert_allclose(tangent, gx / [1.0, 2.0, 4.0])
    # The one-sided difference from below agrees.
    step = 1e-7
    below = (np.interp(3.0, xp, fp) - np.interp(3.0 - step, xp, fp)) / step
    assert below == pytest.approx(slope, rel=1e-6)


def test_interp_at_repeated_last_point():
    # xp[-2] == xp[-1]: the value at xp[-1] is fp[-1], so x has derivative
    # 0 and fp[-1] derivative 1.
    xp = np.array([0.0, 1.0, 1.0])
    fp = np.array([0.5, 2.0, -3.0])

    def value(x, fp):
        return np.interp(x, xp, fp)

    gx, gfp = adcompiler.grad(value, wrt=(0, 1))(1.0, fp)
    assert value(1.0, fp) == -3.0
    assert gx == 0.0
    np.testing.assert_array_equal(gfp, [0.0, 0.0, 1.0])


def test_interp_complex_values():
    x = np.array([-0.1, 0.7])
    fp = sample(5, seed=1) + 1j * sample(5, seed=2)

    def real_part(fp):
        return np.sum(np.interp(x, XP, fp).real ** 2)

    def imaginary_part(fp):
        return np.sum(np.interp(x, XP, fp).imag ** 2)

    for function in (real_part, imaginary_part):
        gradient = adcompiler.grad(function)(fp)
        expected = (numerical_gradient(lambda re: function(re + 1j * fp.imag),
                                       (fp.real,), 0)
                    - 1j * numerical_gradient(
                        lambda im: function(fp.real + 1j * im), (fp.imag,), 0))
        assert_gradient_close(gradient, expected)


def test_interp_period_rejected():
    def periodic(fp):
        return np.sum(np.interp([0.5], XP, fp, period=2.0))

    with pytest.raises(UnsupportedOptionError, match='period'):
        adcompiler.grad(periodic)(sample(5))


def np_convolve(a, v, w):
    return np.sum(w * np.convolve(a, v))


def np_convolve_same(a, v, w):
    return np.sum(w * np.convolve(a, v, mode='same'))


def np_convolve_valid(a, v, w):
    return np.sum(w * np.convolve(a, v, 'valid'))


def np_correlate(a, v, w):
    return np.sum(w * np.correlate(a, v))


def np_correlate_same(a, v, w):
    return np.sum(w * np.correlate(a, v, mode='same'))


def np_correlate_full(a, v, w):
    return np.sum(w * np.correlate(a, v, 'full'))


CONVOLUTIONS = [np_convolve, np_convolve_same, np_convolve_valid,
                np_correlate, np_correlate_same, np_correlate_full]


@pytest.mark.parametrize('a_size, v_size', [(6, 3), (5, 2), (3, 5), (4, 4),
                                            (1, 3), (4, 1)])
@pytest.mark.parametrize('function', CONVOLUTIONS,
                         ids=[f.__name__ for f in CONVOLUTIONS])
def test_convolution(function, a_size, v_size):
    check_grads(function, sample(a_size, seed=1), sample(v_size, seed=2))


def test_convolution_of_complex_signal():
    v = sample(3, seed=2) + 0.5j

    def power(a):
        return np.sum(np.abs(np.correlate(a, v, 'full')) ** 2)

    gradient = adcompiler.grad(power)(sample(5, seed=1))
    assert_gradient_close(gradient,
                          numerical_gradient(power, (sample(5, seed=1),), 0))


@pytest.mark.parametrize('a, v', [
    pytest.param([1.0, 2.0, 3.0], 2.0, id='0-d-v'),
    pytest.param(2.0, [1.0, 2.0, 3.0], id='0-d-a'),
    pytest.param(2.0, 3.0, id='both-0-d'),
])
def test_correlate_rejects_0d_as_numpy(a, v):
    def scaled(a, v):
        return np.sum(np.correlate(a, v) ** 2)

    with pytest.raises(ValueError, match='too small depth'):
        np.correlate(a, v)
    with pytest.raises(ValueError, match='too small depth'):
        numpy_equivalents.correlate(a, v)
    with pytest.raises(ValueError, match='too small depth'):
        adcompiler.grad(scaled, wrt=(0, 1))(np.asarray(a), np.asarray(v))
    # np.convolve takes the 0-d argument as a 1-D one.
    np.testing.assert_array_equal(numpy_equivalents.convolve(a, v),
                                  np.convolve(a, v))


def np_trapezoid(y, w):
    return np.sum(w * np.trapezoid(y))


def np_trapezoid_dx(y, w):
    return np.sum(w * np.trapezoid(y, dx=0.1, axis=0))


def np_trapezoid_x(y, x, w):
    return np.sum(w * np.trapezoid(y, x))


def np_trapezoid_x_axis(y, x, w):
    return np.sum(w * np.trapezoid(y, x=x, axis=0))


@pytest.mark.parametrize('shape', [(5,), (4, 3), (2, 3, 4)])
@pytest.mark.parametrize('function', [np_trapezoid, np_trapezoid_dx])
def test_trapezoid(function, shape):
    check_grads(function, sample(shape))


@pytest.mark.parametrize('y_shape, x_shape', [((5,), (5,)), ((4, 3), (3,)),
                                              ((4, 3), (4, 3))])
def test_trapezoid_sample_points(y_shape, x_shape):
    check_grads(np_trapezoid_x, sample(y_shape), sample(x_shape, seed=3))


@pytest.mark.parametrize('y_shape, x_shape', [((4, 3), (4, 1)),
                                              ((4, 3), (4, 3))])
def test_trapezoid_points_along_axis0(y_shape, x_shape):
    check_grads(np_trapezoid_x_axis, sample(y_shape), sample(x_shape, seed=3))


# Methods of ufuncs: ufunc.outer, np.logaddexp.reduce, np.add.reduceat ------

def np_add_outer(a, b, w):
    return np.sum(w * np.add.outer(a, b))


def np_multiply_outer(a, b, w):
    return np.sum(w * np.multiply.outer(a, b))


def np_subtract_outer(a, b, w):
    return np.sum(w * np.subtract.outer(a, b))


def np_hypot_outer(a, b, w):
    return np.sum(w * np.hypot.outer(a, b))


def np_arctan2_outer(a, b, w):
    return np.sum(w * np.arctan2.outer(a, b))


OUTERS = [np_add_outer, np_multiply_outer, np_subtract_outer, np_hypot_outer,
          np_arctan2_outer]


@pytest.mark.parametrize('a_shape, b_shape', [((3,), (4,)), ((2, 3), (4,)),
                                              ((), (3,)), ((2,), (3, 2)),
                                              ((), ())], ids=str)
@pytest.mark.parametrize('function', OUTERS, ids=lambda f: f.__name__)
def test_ufunc_outer(function, a_shape, b_shape):
    check_grads(function, sample(a_shape, seed=1), sample(b_shape, seed=2))


def test_ufunc_outer_values_match_numpy():
    a = np.abs(sample((2, 3), seed=1))
    b = sample(4, seed=2)
    for ufunc in (np.add, np.multiply, np.maximum, np.power, np.heaviside):
        outer = numpy_equivalents._outer_equivalent(ufunc)
        np.testing.assert_array_equal(outer(a, b), ufunc.outer(a, b))


def np_logaddexp_reduce(x, axis, keepdims, w):
    return np.sum(w * np.logaddexp.reduce(x, axis, keepdims=keepdims))


def np_logaddexp_reduce_axis1(x, w):
    return np.sum(w * np.logaddexp.reduce(x, axis=1))


def np_add_reduceat(x, axis, w):
    return np.sum(w * np.add.reduceat(x, [0, 2, 2, 1], axis=axis))


def np_add_reduceat_default_axis(x, w):
    return np.sum(w * np.add.reduceat(x, np.array([1, 3])))


@pytest.mark.parametrize('shape, axis, keepdims', [
    pytest.param((4,), 0, False, id='vector'),
    pytest.param((3, 4), 1, True, id='matrix-axis1-keepdims'),
    pytest.param((3, 4), -2, False, id='matrix-axis-2'),
    pytest.param((3, 4), None, False, id='matrix-all'),
    pytest.param((2, 3, 4), (0, 2), False, id='cube-axes02'),
])
def test_logaddexp_reduce(shape, axis, keepdims):
    x = sample(shape)
    check_grads(np_logaddexp_reduce, x, axis, keepdims)
    np.testing.assert_allclose(
        numpy_equivalents.logaddexp_reduce(x, axis, keepdims=keepdims),
        np.logaddexp.reduce(x, axis, keepdims=keepdims), rtol=1e-14)


MASK = np.array([[True, False, True, True], [False, False, False, False],
                 [True, True, False, True]])


def np_logaddexp_reduce_options(x, start, w):
    return np.sum(w * np.logaddexp.reduce(x, axis=1, initial=start,
                                          where=MASK))


def np_logaddexp_reduce_dtype(x, w):
    return np.sum(w * np.logaddexp.reduce(x, axis=None, dtype=np.float64,
                                          keepdims=True))


def test_logaddexp_reduce_options():
    x = sample((3, 4))
    check_grads(np_logaddexp_reduce_options, x, 0.3)
    check_grads(np_logaddexp_reduce_dtype, x)
    for axis, initial, where in [(1, 0.3, MASK), (0, None, MASK[0]),
                                 (None, -1.0, True)]:
        np.testing.assert_allclose(
            numpy_equivalents.logaddexp_reduce(x, axis, initial=initial,
                                               where=where),
            np.logaddexp.reduce(x, axis, initial=initial, where=where)
            if initial is not None
            else np.logaddexp.reduce(x, axis, where=where), rtol=1e-14)


def test_logaddexp_reduce_extreme_values():
    x = np.array([[1000.0, 999.0, -np.inf], [-np.inf, -np.inf, -np.inf]])
    np.testing.assert_array_equal(numpy_equivalents.logaddexp_reduce(x, 1),
                                  np.logaddexp.reduce(x, 1))

    def first_row(x):
        return np.logaddexp.reduce(x, axis=1)[0]

    gradient = adcompiler.grad(first_row)(x)
    weight = 1.0 / (1.0 + np.exp(-1.0))
    np.testing.assert_allclose(gradient[0], [weight, 1.0 - weight, 0.0],
                               rtol=1e-14)
    np.testing.assert_array_equal(gradient[1], [0.0, 0.0, 0.0])


@pytest.mark.parametrize('shape, axis', [((5,), 0), ((5, 3), 0), ((3, 5), 1),
                                         ((3, 5), -1), ((2, 5, 3), 1)],
                         ids=str)
def test_add_reduceat(shape, axis):
    x = sample(shape)
    check_grads(np_add_reduceat, x, axis)
    np.testing.assert_allclose(
        numpy_equivalents.add_reduceat(x, np.array([0, 2, 2, 1]), axis),
        np.add.reduceat(x, [0, 2, 2, 1], axis=axis), rtol=1e-14)
    if len(shape) == 2:
        check_grads(np_add_reduceat_default_axis, sample((4, 2)))


def test_add_reduceat_dtype_and_out():
    x = sample(5).astype(np.float32)

    def segment_sums(x):
        return np.sum(np.add.reduceat(x, [0, 3], dtype=np.float64) ** 2)

    gradient = adcompiler.grad(segment_sums)(x)
    assert gradient.dtype == np.float32
    assert_gradient_close(gradient, numerical_gradient(
        segment_sums, (x.astype(np.float64),), 0), rtol=1e-5, atol=1e-5)

    def into_buffer(x):
        buffer = np.empty(2)
        return np.sum(np.add.reduceat(x, [0, 3], 0, None, buffer))

    with pytest.raises(UnsupportedOptionError, match='out='):
        adcompiler.grad(into_buffer)(sample(5))


def test_add_reduceat_rejects_index_out_of_bounds():
    def sums(x):
        return np.sum(np.add.reduceat(x, [0, 5]))

    with pytest.raises(IndexError, match='out of bounds'):
        adcompiler.grad(sums)(sample(5))


# np.gradient, np.polyval, np.cumulative_sum and math.dist -------------------

def coordinates(count, seed=4):
    """Increasing sample points with uneven distances."""
    return np.cumsum(sample(count, 0.2, 1.0, seed=seed))


def np_gradient(f, w):
    return np.sum(w * np.gradient(f))


def np_gradient_all_axes(f, w):
    return np.sum(w * np.stack(np.gradient(f, 0.7)))


def np_gradient_second_order(f, w):
    return np.sum(w * np.stack(np.gradient(f, 0.4, 1.3, edge_order=2)))


def np_gradient_coordinates(f, x, w):
    return np.sum(w * np.gradient(f, x, axis=0))


def np_gradient_coordinates_second_order(f, x, w):
    return np.sum(w * np.gradient(f, x, axis=-1, edge_order=2))


def np_gradient_mixed_spacing(f, x, w):
    return np.sum(w * np.stack(np.gradient(f, x, 0.5, edge_order=2)))


# Two spacings need two axes.
@pytest.mark.parametrize('function, shape', [
    (np_gradient, (3,)), (np_gradient, (4,)), (np_gradient, (5, 3)),
    (np_gradient_all_axes, (2,)), (np_gradient_all_axes, (5, 3)),
    (np_gradient_all_axes, (2, 3, 4)), (np_gradient_second_order, (3, 3)),
    (np_gradient_second_order, (5, 4)),
], ids=lambda value: getattr(value, '__name__', str(value)))
def test_gradient(function, shape):
    check_grads(function, sample(shape))


@pytest.mark.parametrize('shape', [(3,), (4, 3), (5, 3)], ids=str)
def test_gradient_coordinates(shape):
    check_grads(np_gradient_coordinates, sample(shape), coordinates(shape[0]))
    check_grads(np_gradient_coordinates_second_order,
                sample(shape[::-1]), coordinates(shape[0]))
    if len(shape) == 2:
        check_grads(np_gradient_mixed_spacing, sample(shape),
                    coordinates(shape[0]))


@pytest.mark.parametrize('arguments, keywords', [
    pytest.param((), {}, id='default'),
    pytest.param((0.5,), {'edge_order': 2}, id='scalar'),
    pytest.param((0.5, 2.0), {}, id='two-scalars'),
    pytest.param((coordinates(5), coordinates(4, seed=5)), {'edge_order': 2},
                 id='coordinates'),
    pytest.param((coordinates(4),), {'axis': -1}, id='negative-axis'),
    pytest.param((), {'axis': (1, 0)}, id='axes'),
])
def test_gradient_values_match_numpy(arguments, keywords):
    f = sample((5, 4))
    expected = np.gradient(f, *arguments, **keywords)
    computed = numpy_equivalents.gradient(f, *arguments, **keywords)
    assert type(computed) is type(expected)
    np.testing.assert_allclose(np.stack(computed), np.stack(expected),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('arguments, keywords, error', [
    pytest.param((), {'edge_order': 3}, ValueError, id='edge-order'),
    pytest.param((coordinates(3),), {'axis': 0}, ValueError,
                 id='coordinates-length'),
    pytest.param((1.0, 2.0, 3.0), {}, TypeError, id='spacing-count'),
    pytest.param((), {'axis': 2}, numpy_equivalents.AXIS_ERROR, id='axis'),
])
def test_gradient_invalid_arguments(arguments, keywords, error):
    f = sample((5, 4))
    with pytest.raises(error):
        np.gradient(f, *arguments, **keywords)
    with pytest.raises(error):
        numpy_equivalents.gradient(f, *arguments, **keywords)


def test_gradient_too_few_samples():
    def slope(f):
        return np.sum(np.gradient(f, edge_order=2))

    with pytest.raises(ValueError, match='needs at least 3 samples'):
        adcompiler.grad(slope)(sample(2))


def np_polyval(p, x, w):
    return np.sum(w * np.polyval(p, x))


@pytest.mark.parametrize('p_size, x_shape', [(1, (3,)), (3, ()), (4, (2, 3))],
                         ids=str)
def test_polyval(p_size, x_shape):
    p = sample(p_size, seed=2)
    x = sample(x_shape, seed=3)
    check_grads(np_polyval, p, x)
    np.testing.assert_allclose(numpy_equivalents.polyval(p, x),
                               np.polyval(p, x), rtol=1e-14)


def np_cumulative_sum(x, axis, w):
    return np.sum(w * np.cumulative_sum(x, axis=axis))


def np_cumulative_sum_initial(x, axis, w):
    return np.sum(w * np.cumulative_sum(x, axis=axis, include_initial=True))


CUMULATIVE_SUM_CASES = [
    pytest.param((4,), None, id='vector'),
    pytest.param((3, 4), 0, id='matrix-axis0'),
    pytest.param((3, 4), -1, id='matrix-axis-1'),
    pytest.param((2, 3, 4), 1, id='cube-axis1'),
]


@pytest.mark.skipif(not hasattr(np, 'cumulative_sum'),
                    reason='NumPy 2.1 added np.cumulative_sum')
@pytest.mark.parametrize('shape, axis', CUMULATIVE_SUM_CASES)
@pytest.mark.parametrize('function', [np_cumulative_sum,
                                      np_cumulative_sum_initial],
                         ids=lambda f: f.__name__)
def test_cumulative_sum(function, shape, axis):
    x = sample(shape)
    check_grads(function, x, axis)
    for include_initial in (False, True):
        np.testing.assert_allclose(
            numpy_equivalents.cumulative_sum(
                x, axis=axis, include_initial=include_initial),
            np.cumulative_sum(x, axis=axis, include_initial=include_initial),
            rtol=1e-14)


@pytest.mark.skipif(not hasattr(np, 'cumulative_sum'),
                    reason='NumPy 2.1 added np.cumulative_sum')
def test_cumulative_sum_needs_axis_of_matrix():
    def total(x):
        return np.sum(np.cumulative_sum(x))

    with pytest.raises(ValueError, match='axis'):
        adcompiler.grad(total)(sample((2, 3)))


def math_dist(p, q, w):
    return w * math.dist(p, q)


def math_dist_of_tuples(x, w):
    return w * math.dist((x[0], x[1], 0.5), (x[2], -1.0, x[3]))


@pytest.mark.parametrize('size', [1, 2, 5])
def test_math_dist(size):
    check_grads(math_dist, sample(size, seed=1), sample(size, seed=2))
    check_grads(math_dist_of_tuples, sample(4, seed=3))


def test_math_dist_values_match_math():
    for p, q in [((1e-200, 0.0), (0.0, 1e-200)), ((1e200, 3.0), (-1e200, 0)),
                 ((1.0, 2.0, 3.0), (1.0, 2.0, 3.0)), ((), ()),
                 ((np.inf, 0.0), (1.0, 2.0))]:
        assert numpy_equivalents.dist(p, q) == pytest.approx(
            math.dist(p, q), rel=1e-15)


# A zero distance has derivative 0, as np.linalg.norm of a zero vector.
def test_math_dist_of_coinciding_points():
    def distance(p):
        return math.dist(p, (1.0, -2.0, 0.5))

    p = np.array([1.0, -2.0, 0.5])
    np.testing.assert_array_equal(adcompiler.grad(distance)(p), np.zeros(3))
    value, tangent = adcompiler.jvp(distance, (p,), (np.ones(3),))
    assert value == 0.0
    assert tangent == 0.0


def test_math_dist_rejects_other_lengths():
    def distance(p):
        return math.dist(p, (1.0, 2.0))

    with pytest.raises(ValueError, match='same number of coordinates'):
        adcompiler.grad(distance)(np.ones(3))


# Dtypes, forward mode and second derivatives ---------------------------------

def test_float32_stays_float32():
    y = sample(5).astype(np.float32)

    def integral(y):
        return np.trapezoid(y ** 2, dx=0.5)

    def smoothed(y):
        return np.sum(np.convolve(y, np.array([0.25, 0.5, 0.25],
                                              np.float32), 'same') ** 2)

    def outer_sum(y):
        return np.sum(np.multiply.outer(y, y) ** 2)

    def log_sum(y):
        return np.logaddexp.reduce(y)

    def segment_sums(y):
        return np.sum(np.add.reduceat(y, [0, 2]) ** 2)

    def slopes(y):
        return np.sum(np.gradient(y, 0.5, edge_order=2) ** 2)

    def polynomial(y):
        return np.sum(np.polyval(y[:3], y))

    for function in (integral, smoothed, outer_sum, log_sum, segment_sums,
                     slopes, polynomial):
        assert function(y).dtype == np.float32
        value, gradient = adcompiler.value_and_grad(function)(y)
        assert value.dtype == np.float32
        assert gradient.dtype == np.float32
        assert_gradient_close(gradient, numerical_gradient(
            function, (y.astype(np.float64),), 0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('function, args', [
    pytest.param(np_interp, (np.array([-1.2, 0.7]), sample(5, seed=1)),
                 id='interp'),
    pytest.param(np_convolve_same, (sample(5, seed=1), sample(3, seed=2)),
                 id='convolve'),
    pytest.param(np_correlate, (sample(5, seed=1), sample(3, seed=2)),
                 id='correlate'),
    pytest.param(np_trapezoid_x, (sample((4, 3)), sample(3, seed=3)),
                 id='trapezoid'),
    pytest.param(np_multiply_outer, (sample((2, 3), seed=1), sample(4)),
                 id='multiply-outer'),
    pytest.param(np_hypot_outer, (sample(3, seed=1), sample((2, 1))),
                 id='hypot-outer'),
    pytest.param(np_logaddexp_reduce_axis1, (sample((3, 4)),),
                 id='logaddexp-reduce'),
    pytest.param(np_add_reduceat_default_axis, (sample((4, 2)),),
                 id='add-reduceat'),
    pytest.param(np_gradient_mixed_spacing, (sample((4, 3)), coordinates(4)),
                 id='gradient'),
    pytest.param(np_polyval, (sample(3, seed=2), sample((2, 2))),
                 id='polyval'),
    pytest.param(math_dist, (sample(3, seed=1), sample(3, seed=2)),
                 id='math-dist'),
])
def test_forward_mode(function, args):
    w = sample(np.shape(function(*args, _Recorder())), 0.5, 1.5, seed=9)
    for position in range(len(args)):
        direction = sample(np.shape(args[position]), seed=5)

        def along(step, position=position, direction=direction):
            moved = list(args)
            moved[position] = args[position] + step * direction
            return function(*moved, w)

        tangents = [np.zeros_like(np.asarray(a)) for a in args]
        tangents[position] = direction
        value, tangent = adcompiler.jvp(lambda *a: function(*a, w),
                                        tuple(args), tuple(tangents))
        assert value == pytest.approx(function(*args, w))
        assert tangent == pytest.approx(
            numerical_gradient(along, (0.0,), 0), rel=1e-5, abs=1e-6)


class _Recorder:
    """Stands in for `w` and returns what it multiplies, for its shape."""

    def __rmul__(self, other):
        return other

    __mul__ = __rmul__


def test_hessian_of_convolution():
    v = sample(3, seed=2)

    def energy(a):
        return np.sum(np.convolve(a, v, 'same') ** 2 * a)

    a = sample(5, seed=1)
    hessian = adcompiler.hessian(energy)(a)
    expected = np.stack([numerical_gradient(
        lambda b, i=i: adcompiler.grad(energy)(b)[i], (a,), 0)
        for i in range(5)])
    assert_gradient_close(hessian, expected, rtol=1e-5, atol=1e-5)


def test_hessian_of_interp_in_values():
    x = np.array([-1.2, 0.7, 1.5])

    def energy(fp):
        return np.sum(np.interp(x, XP, fp) ** 3)

    fp = sample(5, seed=1)
    hessian = adcompiler.hessian(energy)(fp)
    expected = np.stack([numerical_gradient(
        lambda b, i=i: adcompiler.grad(energy)(b)[i], (fp,), 0)
        for i in range(5)])
    assert_gradient_close(hessian, expected, rtol=1e-5, atol=1e-5)


def logaddexp_reduce_energy(x):
    return np.sum(np.logaddexp.reduce(x * x, axis=0) ** 2)


def outer_energy(x):
    return np.sum(np.multiply.outer(x, np.sin(x)) ** 2)


def reduceat_energy(x):
    return np.sum(np.add.reduceat(x ** 3, [0, 3, 1]) ** 2)


def gradient_energy(x):
    return np.sum(np.gradient(x ** 2, np.cumsum(np.exp(x)),
                              edge_order=2) ** 2)


def polyval_energy(x):
    return np.sum(np.polyval(x, np.sin(x)) ** 2)


def dist_energy(x):
    return math.dist(x, (0.3, 1.0, -0.2, 0.7)) ** 3


@pytest.mark.parametrize('energy', [logaddexp_reduce_energy, outer_energy,
                                    reduceat_energy, gradient_energy,
                                    polyval_energy, dist_energy],
                         ids=lambda f: f.__name__)
def test_hessian_of_ufunc_methods(energy):
    x = sample(4, seed=1)
    hessian = adcompiler.hessian(energy)(x)
    expected = np.stack([numerical_gradient(
        lambda b, i=i: adcompiler.grad(energy)(b)[i], (x,), 0)
        for i in range(4)])
    assert_gradient_close(hessian, expected, rtol=1e-5, atol=1e-5)
