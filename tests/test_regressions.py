"""Programs that once gave a silently wrong gradient, each now right or an error."""

import collections
import dataclasses
import importlib
import types
import warnings

import numpy as np
import pytest

import adcompiler
from adcompiler import runtime as rt
from finite_differences import assert_gradient_close, numerical_gradient


def append_then_write(x):
    y = x * 1.0
    stored = []
    stored.append(y)
    y[0] = 0.0
    return np.sum(stored[0] ** 2)


def sort_after_use(x):
    w = np.array([3.0, 1.0, 2.0])
    s = np.sum(x * w)
    w.sort()
    return s


def positional_out(x):
    y = np.zeros(3)
    np.sin(x, y)
    return np.sum(y)


def clip_into_itself(x):
    y = np.array([1.0, -1.0, 2.0])
    np.clip(y, 0.0, 1.0, y)
    return np.sum(x * y)


def reversed_list_appended(x):
    values = [x * 1.0]
    total = 0.0
    for item in reversed(values):
        values.append(item * 2.0)
        total = total + item
    return total


@pytest.mark.parametrize('function, argument', [
    pytest.param(append_then_write, np.array([0.5, -1.4, 2.6]),
                 id='append-then-write'),
    pytest.param(sort_after_use, np.array([0.5, -1.0, 2.0]),
                 id='sort-after-use'),
    pytest.param(positional_out, np.array([0.5, -1.0, 2.0]),
                 id='ufunc-positional-out'),
    pytest.param(clip_into_itself, np.array([0.5, -1.0, 2.0]),
                 id='clip-positional-out'),
    pytest.param(reversed_list_appended, 0.7, id='loop-over-updated-list'),
])
def test_hidden_update_is_rejected(function, argument):
    with pytest.raises(adcompiler.UnsupportedSyntaxError):
        adcompiler.grad(function)(argument)


def pop_under_list_condition(x):
    values = [x * 2.0]
    s = x * 1.0
    if values:
        s = s * values.pop()
    return s


def while_list_not_empty(x):
    values = [x * 1.0, x * 2.0]
    s = 0.0
    while values:
        s = s + values.pop()
    return s


def while_array_truth(x):
    flag = np.array([1.0])
    s = 0.0
    k = 0
    while flag:
        s = s + x * k
        k = k + 1
        if k > 2:
            flag[0] = 0.0
    return s


class Activation:
    def forward(self, x):
        return x * 10.0


def uses_activation(x, activation):
    return activation.forward(x)


@pytest.mark.parametrize('function, x', [
    pytest.param(pop_under_list_condition, 0.7, id='if-list'),
    pytest.param(while_list_not_empty, 0.7, id='while-list'),
    pytest.param(while_array_truth, 0.7, id='while-array'),
])
def test_condition_on_updated_value(function, x):
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)


def test_instance_attribute_before_class_method():
    activation = Activation()
    activation.forward = np.sin
    gradient = adcompiler.grad(uses_activation)(0.3, activation)
    assert gradient == pytest.approx(np.cos(0.3))


def repeated_list(x):
    values = [x] * 2
    return values[0] + values[1]


def test_list_repetition_gradient():
    assert adcompiler.grad(repeated_list)(0.7) == pytest.approx(2.0)


def identity(value):
    return value


def view_chained(x):
    y = x * 1.0
    v = y[0:3][0:2]
    y[0] = 0.0
    return np.sum(v * x[0:2])


def view_through_method(x):
    y = x * 1.0
    v = y[0:2].reshape(2)
    y[0] = 0.0
    return np.sum(v * x[0:2])


def view_through_helper(x):
    y = x * 1.0
    v = identity(y[0:2])
    y[0] = 0.0
    return np.sum(v * x[0:2])


def view_in_list(x):
    y = x * 1.0
    kept = [y[0:2]]
    y[0] = 0.0
    return np.sum(kept[0] * x[0:2])


def view_appended(x):
    y = x * 1.0
    kept = []
    kept.append(y[0:2])
    y[0] = 0.0
    return np.sum(kept[0] * x[0:2])


def view_unpacked(x):
    y = x * 1.0
    a, b = y[0:2], 1.0
    y[0] = 0.0
    return np.sum(a * x[0:2]) * b


def rows_unpacked(x):
    matrix = np.outer(x, x)
    first, second = matrix[0:2]
    matrix[0, 1] = 0.0
    return np.sum(first ** 2)


@pytest.mark.parametrize('function', [
    view_chained, view_through_method, view_through_helper, view_in_list,
    view_appended, view_unpacked, rows_unpacked], ids=lambda f: f.__name__)
def test_view_kept_across_update_is_rejected(function):
    with pytest.raises(adcompiler.UnsupportedSyntaxError):
        adcompiler.grad(function)(np.array([0.5, -1.4, 2.6]))


def writes_first_argument(x, y):
    x[0] = 5.0 * x[1]
    return np.sum(x * y)


def test_same_array_for_written_and_other_argument_raises():
    a = np.array([0.5, -0.7, 1.3])
    with pytest.raises(adcompiler.UnsupportedSyntaxError):
        adcompiler.grad(writes_first_argument, wrt=(0, 1))(a, a)
    with pytest.raises(adcompiler.UnsupportedSyntaxError):
        adcompiler.grad(writes_first_argument)(a[0:2], a[0:2][::1])


def test_distinct_arrays_for_written_argument_work():
    a = np.array([0.5, -0.7, 1.3])
    b = np.array([1.0, 2.0, 3.0])
    expected = numerical_gradient(
        lambda x: writes_first_argument(np.copy(x), b), (a,), 0)
    assert_gradient_close(adcompiler.grad(writes_first_argument)(a, b),
                          expected)


def dict_pop(x):
    values = {'a': x * 2.0, 'b': x * 3.0}
    popped = values.pop('a')
    return np.sum(popped * values['b'])


def test_dict_pop():
    x = np.array([1.0, 2.0])
    expected = numerical_gradient(dict_pop, (x,), 0)
    assert_gradient_close(adcompiler.grad(dict_pop)(x), expected)


Pair = __import__('collections').namedtuple('Pair', 'w b')


def namedtuple_argument(pair, x):
    w, b = pair
    return np.sum(w * x + pair[1])


def test_namedtuple_argument_gradient_keeps_type():
    pair = Pair(np.array([1.0, -2.0]), np.array([0.5, 0.5]))
    gradient = adcompiler.grad(namedtuple_argument)(pair, np.array([1.0, 2.0]))
    assert isinstance(gradient, Pair)
    np.testing.assert_allclose(gradient.w, [1.0, 2.0])
    np.testing.assert_allclose(gradient.b, [1.0, 1.0])


def test_user_vjp_may_return_bare_cotangent_for_one_argument():
    def doubled(x):
        return x * 1.0

    def uses(x):
        return np.sum(doubled(x))

    adcompiler.register_vjp(doubled, lambda g, ans, x: 2.0 * g)
    np.testing.assert_allclose(adcompiler.grad(uses)(np.ones(2)), [2.0, 2.0])


def accumulate_into_parameter(x, total):
    for i in range(3):
        total += x * i
    return total


def increment_parameter(x):
    x += 1.0
    return np.sum(x * x)


def test_augmented_assignment_on_float_parameter():
    gradients = adcompiler.grad(accumulate_into_parameter, wrt=(0, 1))(0.7,
                                                                       1.5)
    assert gradients[0] == pytest.approx(3.0)
    assert gradients[1] == pytest.approx(1.0)


def test_augmented_assignment_on_array_parameter_raises():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(increment_parameter)(np.ones(2))
    assert info.value.lineno == increment_parameter.__code__.co_firstlineno + 1


def test_augmented_assignment_on_float_parameter_forward():
    value, tangent = adcompiler.jvp(accumulate_into_parameter, (0.7, 1.5),
                                    (1.0, None))
    assert value == pytest.approx(accumulate_into_parameter(0.7, 1.5))
    assert tangent == pytest.approx(3.0)


def alternating_series(x):
    total = 0.0
    for k in range(1, 6):
        total = total + (-1) ** (k + 1) * x ** k / k
    return total


def negative_bases(x):
    signs = np.array([(-1.0) ** i for i in range(3)])
    return np.sum(x * signs) * (-2.0) ** 2 + np.real(x[0] * (-1j) ** 2)


@pytest.mark.parametrize('function, x', [
    (alternating_series, 0.5),
    (negative_bases, np.array([0.3, -1.2, 0.7])),
])
def test_negative_constant_base_keeps_its_sign(function, x):
    """(-2.0) ** 2 printed without parentheses is -(2.0 ** 2)."""
    value, gradient = adcompiler.value_and_grad(function)(x)
    assert value == pytest.approx(function(x), rel=1e-12)
    np.testing.assert_allclose(gradient, numerical_gradient(function, (x,), 0),
                               rtol=1e-6, atol=1e-8)
    _, tangent = adcompiler.jvp(function, (x,), (np.ones_like(x),))
    assert tangent == pytest.approx(np.sum(gradient), rel=1e-9)


def list_written_into_row(x):
    rows = np.zeros((2, 2))
    rows[0] = [1.0, 0.0]
    rows[1] = rows[0] * x
    return np.sum(rows ** 2)


def active_list_written_into_row(x):
    rows = np.zeros((2, 2))
    rows[0] = [x[1], 2.0]
    rows[1] = rows[0] * x
    return np.sum(rows ** 2)


@pytest.mark.parametrize('function', [
    list_written_into_row, active_list_written_into_row,
], ids=lambda f: f.__name__)
def test_list_written_into_array_row(function):
    x = np.array([1.5, 2.0])
    direction = np.array([0.3, -0.8])
    gradient = numerical_gradient(function, (x,), 0)
    value, tangent = adcompiler.jvp(function, (x,), (direction,))
    assert value == pytest.approx(function(x))
    assert tangent == pytest.approx(np.dot(gradient, direction), rel=1e-6)
    assert_gradient_close(adcompiler.grad(function)(x), gradient)


# Second derivatives against differences of differences.

def differenced_hessian(function, x, step=1e-4):
    """Hessian of `function` at x by central differences of central
    differences, with no derivative from adcompiler."""
    columns = []
    for index in range(x.size):
        shift = np.zeros_like(x)
        shift.flat[index] = step
        above = numerical_gradient(function, (x + shift,), 0, step)
        below = numerical_gradient(function, (x - shift,), 0, step)
        columns.append(np.ravel(above - below) / (2 * step))
    return np.stack(columns, axis=-1)


_MODES = [composition.value for composition in adcompiler.Composition]

# Second derivatives through |z| and sign(z) of complex z.

def magnitude_of_curve(t):
    return np.abs(t + 1j * t ** 2)


def summed_magnitudes(x):
    return np.sum(np.abs(x + 1j * x ** 2))


def spectrum_energy(x):
    return np.sum(np.abs(np.fft.fft(x)) ** 2)  # Hessian 8 I for 4 entries


def spectrum_cubes(x):
    return np.sum(np.abs(np.fft.fft(x)) ** 3)


def padded_spectrum_cubes(x):
    return np.sum(np.abs(np.fft.fft(x, n=6)) ** 3)


def real_spectrum_cubes(x):
    return np.sum(np.abs(np.fft.rfft(x)) ** 3)


def cropped_real_spectrum_cubes(x):
    return np.sum(np.abs(np.fft.rfft(x, n=3)) ** 3)


def filtered_signal_energy(x):
    spectrum = np.fft.rfft(x) * (1.0 + 1.0j) * x[:3]
    return np.sum(np.fft.irfft(spectrum, n=5) ** 2)


def angle_of_curve(x):
    return np.sum(np.angle(x + 1j * x ** 2) ** 2)


def complex_sign_of_curve(x):
    return np.sum(np.real(np.sign(x + 1j * x ** 2)) * x)


def test_grad_of_grad_through_complex_abs():
    t, step = 0.7, 1e-4
    expected = (magnitude_of_curve(t + step) - 2 * magnitude_of_curve(t)
                + magnitude_of_curve(t - step)) / step ** 2
    second = adcompiler.grad(adcompiler.grad(magnitude_of_curve))(t)
    assert not np.iscomplexobj(second)
    assert second == pytest.approx(expected, rel=1e-6)
    assert second == pytest.approx(1.5317987453, rel=1e-9)


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('function', [
    summed_magnitudes, spectrum_energy, spectrum_cubes, padded_spectrum_cubes,
    real_spectrum_cubes, cropped_real_spectrum_cubes, filtered_signal_energy,
    angle_of_curve, complex_sign_of_curve])
def test_hvp_through_complex_values(function, mode):
    x = np.array([0.3, -1.2, 0.8, 0.5])
    v = np.array([1.0, 0.4, -0.3, 0.7])
    expected = differenced_hessian(function, x) @ v
    product = adcompiler.hvp(function, mode=mode)(x, v)
    assert not np.iscomplexobj(product)
    np.testing.assert_allclose(product, expected, rtol=1e-5, atol=1e-5)


def test_spectrum_energy_hessian_is_exact():
    x = np.array([0.3, -1.2, 0.8, 0.5])
    hessian = adcompiler.hessian(spectrum_energy,
                                 mode='reverse-over-forward')(x)
    np.testing.assert_allclose(hessian, 8.0 * np.eye(4), atol=1e-12)


# Real inputs get real gradients, whatever their type.

def first_of_complex_array(t):
    return np.abs(np.array([t, 1j])[0] + 1j * t)


def magnitude_of_leaves(params):
    a = np.array([params['a'], 1j])[0] + 1j * params['a']
    b = np.array([params['b'][0], 1j])[0] + 1j * params['b'][0]
    return np.abs(a) * np.abs(b)


@pytest.mark.parametrize('function', [magnitude_of_curve,
                                      first_of_complex_array])
@pytest.mark.parametrize('x', [0.7, np.float64(0.7), np.array(0.7)],
                         ids=['float', 'float64', 'array'])
def test_real_scalar_input_gets_real_gradient(function, x):
    expected = numerical_gradient(function, (float(x),), 0)
    for gradient in (adcompiler.grad(function)(x),
                     adcompiler.vjp(function, x)[1](1.0)[0]):
        assert not np.iscomplexobj(gradient)
        assert type(gradient) is type(x) or (
            type(x) is float and type(gradient) is np.float64)
        assert gradient == pytest.approx(expected, rel=1e-6)


def test_float_leaves_in_container_get_real_gradients():
    params = {'a': 0.7, 'b': [np.float64(0.3)]}
    # |a + 1j a| * |b + 1j b| = 2 a b
    for gradient in (adcompiler.grad(magnitude_of_leaves)(params),
                     adcompiler.vjp(magnitude_of_leaves, params)[1](1.0)[0]):
        assert not np.iscomplexobj(gradient['a'])
        assert not np.iscomplexobj(gradient['b'][0])
        assert gradient['a'] == pytest.approx(2 * 0.3)
        assert gradient['b'][0] == pytest.approx(2 * 0.7)


def test_grad_of_complex_output_raises():
    with pytest.raises(adcompiler.NonScalarOutputError) as info:
        adcompiler.grad(lambda x: x * 1j)(1.0)
    assert 'complex' in str(info.value)
    assert 'adcompiler.vjp' in str(info.value)


def times_i(x):
    return x * 1j


def test_vjp_of_complex_output_takes_a_cotangent():
    _, vjp_fn = adcompiler.vjp(times_i, 1.0)
    assert vjp_fn(1.0)[0] == 0.0  # the real part does not move
    assert vjp_fn(-1j)[0] == 1.0  # the imaginary part moves as x


# Second derivatives of products with several zeros.

def cumprod_hessian_by_definition(x, w):
    """Hessian of sum(w * cumprod(x)) for a vector x, from the products of
    the other entries: entry (i, l) is the sum over k >= max(i, l) of w_k
    times the product of x_j for j <= k, j not i or l."""
    n = len(x)
    hessian = np.zeros((n, n))
    for i in range(n):
        for l in range(n):
            if i == l:
                continue
            for k in range(max(i, l), n):
                others = [x[j] for j in range(k + 1) if j not in (i, l)]
                hessian[i, l] += w[k] * np.prod(others)
    return hessian


def prod_hessian_by_definition(x, w=None):
    """Hessian of prod(x): entry (i, l) is the product of the other entries."""
    n = len(x)
    hessian = np.zeros((n, n))
    for i in range(n):
        for l in range(n):
            if i != l:
                hessian[i, l] = np.prod([x[j] for j in range(n)
                                         if j not in (i, l)])
    return hessian


_SCAN_WEIGHTS = np.array([0.7, -1.3, 0.4, 2.0, -0.6])


def weighted_cumprod(x):
    return np.sum(_SCAN_WEIGHTS * np.cumprod(x))


def weighted_cumprod_method(x):
    return np.sum(_SCAN_WEIGHTS * x.cumprod())


def entries_product(x):
    return np.prod(x)


def entries_product_method(x):
    return x.prod() * 1.0


def cumprod_sum(x):
    return np.sum(np.cumprod(x))


@pytest.mark.parametrize('mode', _MODES)
def test_cumprod_hvp_with_two_zeros(mode):
    x = np.array([1.5, 0.0, 2.0, 0.0, 3.0])
    v = np.array([1.0, -2.0, 0.5, 1.0, 0.3])
    expected = differenced_hessian(cumprod_sum, x) @ v
    np.testing.assert_allclose(expected, [-6.0, 15.75, -3.0, -24.0, 0.0],
                               atol=1e-6)
    product = adcompiler.hvp(cumprod_sum, mode=mode)(x, v)
    np.testing.assert_allclose(product, expected, rtol=1e-6, atol=1e-6)
    hessian = adcompiler.hessian(cumprod_sum, mode=mode)(x)
    np.testing.assert_allclose(hessian @ v, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('zeros', [(), (1,), (1, 3), (3, 4), (0, 2, 4)],
                         ids=['no-zero', 'one-zero', 'two-zeros',
                              'two-zeros-at-end', 'three-zeros'])
@pytest.mark.parametrize('function, hessian', [
    pytest.param(weighted_cumprod, cumprod_hessian_by_definition,
                 id='np.cumprod'),
    pytest.param(weighted_cumprod_method, cumprod_hessian_by_definition,
                 id='ndarray.cumprod'),
    pytest.param(entries_product, prod_hessian_by_definition, id='np.prod'),
    pytest.param(entries_product_method, prod_hessian_by_definition,
                 id='ndarray.prod'),
])
def test_product_hvp_with_zeros(function, hessian, zeros, mode):
    x = np.array([1.5, -0.8, 2.0, 0.6, 3.0])
    x[list(zeros)] = 0.0
    v = np.array([1.0, -2.0, 0.5, 1.0, 0.3])
    expected = hessian(x, _SCAN_WEIGHTS)
    np.testing.assert_allclose(expected, differenced_hessian(function, x),
                               rtol=1e-6, atol=1e-6)
    product = adcompiler.hvp(function, mode=mode)(x, v)
    np.testing.assert_allclose(product, expected @ v, rtol=1e-12,
                               atol=1e-12)


_MATRIX_WEIGHTS = np.array([[0.7, -1.3, 0.4], [2.0, -0.6, 1.1]])


def cumprod_rows(x):
    return np.sum(_MATRIX_WEIGHTS * np.cumprod(x, axis=1))


def cumprod_columns(x):
    return np.sum(_MATRIX_WEIGHTS * np.cumprod(x, axis=0))


def cumprod_flattened(x):
    return np.sum(np.ravel(_MATRIX_WEIGHTS) * np.cumprod(x))


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('function', [cumprod_rows, cumprod_columns,
                                      cumprod_flattened])
def test_cumprod_hvp_with_zeros_along_axis(function, mode):
    x = np.array([[1.5, 0.0, 2.0], [0.0, 3.0, 0.0]])
    v = np.array([[1.0, -2.0, 0.5], [1.0, 0.3, 0.7]])
    expected = (differenced_hessian(function, x) @ np.ravel(v)).reshape(2, 3)
    product = adcompiler.hvp(function, mode=mode)(x, v)
    np.testing.assert_allclose(product, expected, rtol=1e-6, atol=1e-6)


_LINE_SLOPES = np.array([1.0, 2.0, -1.0, 0.5, 1.5])
_LINE_ROOTS = np.array([0.2, 1.4, -0.7, 0.35, -0.4]) / _LINE_SLOPES


def cumprod_of_lines(t):
    # The entries with roots 0.7 are zero at t = 0.7.
    return np.sum(_SCAN_WEIGHTS * np.cumprod(_LINE_SLOPES * (t - _LINE_ROOTS)))


def prod_of_lines(t):
    return np.prod(_LINE_SLOPES * (t - _LINE_ROOTS))


def _lines_polynomial(function):
    """The polynomial in t that `function` computes, exactly."""
    factors = [np.polynomial.Polynomial([-a * r, a])
               for a, r in zip(_LINE_SLOPES, _LINE_ROOTS, strict=True)]
    running, partials = np.polynomial.Polynomial([1.0]), []
    for factor in factors:
        running = running * factor
        partials.append(running)
    if function is prod_of_lines:
        return running
    return sum((w * p for w, p in zip(_SCAN_WEIGHTS, partials, strict=True)),
               np.polynomial.Polynomial([0.0]))


@pytest.mark.parametrize('function', [cumprod_of_lines, prod_of_lines])
def test_product_third_derivative_with_three_zeros(function):
    polynomial = _lines_polynomial(function)
    t = 0.7
    assert np.count_nonzero(_LINE_SLOPES * (t - _LINE_ROOTS) == 0.0) == 3
    derivative = function
    for order in (1, 2, 3):
        derivative = adcompiler.grad(derivative)
        assert derivative(t) == pytest.approx(polynomial.deriv(order)(t),
                                              rel=1e-9, abs=1e-9)


def test_cumprod_gradient_where_the_product_underflows():
    # The running product is 0 in floating point from the second entry on,
    # though no entry is 0; a division by it would lose the later terms.
    x = np.array([1e-200, 1e-200, 5.0, 2.0])
    gradient = adcompiler.grad(cumprod_sum)(x)
    expected = [1.0 + 1e-200 * (1.0 + 5.0 + 10.0), 1e-200 * 16.0,
                1e-400 * 3.0, 1e-400 * 5.0]
    np.testing.assert_allclose(gradient, expected, rtol=1e-12)


def _recurrence_by_loop(u, x):
    result = np.empty_like(u)
    running = np.zeros(u.shape[:-1])
    for k in range(u.shape[-1]):
        running = x[..., k] * running + u[..., k]
        result[..., k] = running
    return result


@pytest.mark.parametrize('x', [
    pytest.param(np.linspace(0.5, 1.5, 12).reshape(3, 4), id='no-zeros'),
    pytest.param(np.array([[1.5, 0.0, 2.0, 0.0]]), id='zeros'),
    pytest.param(np.array([[1e-160, 2.0, 3.0, 0.5]]), id='near-underflow'),
])
def test_linear_recurrence_forms_agree(x):
    """The vectorized form (no zeros) and the loop give the same recurrence
    and transpose."""
    from adcompiler import runtime
    u = np.random.default_rng(3).normal(size=x.shape)
    np.testing.assert_allclose(runtime.linear_recurrence(u, x),
                               _recurrence_by_loop(u, x), rtol=1e-12, atol=1e-300)
    transpose = runtime.linear_recurrence_transpose(u, x)
    by_loop = _recurrence_by_loop(u[..., ::-1],
                                  np.concatenate([x[..., 1:], x[..., :1]], -1)[..., ::-1])[..., ::-1]
    np.testing.assert_allclose(transpose, by_loop, rtol=1e-12, atol=1e-300)


def det_of_filled_matrix(x):
    a = np.zeros((2, 2))
    a[0, 0] = x[0]
    a[1, 1] = x[1]
    a[0, 1] = x[0] * x[1]
    return np.linalg.det(a)


def solve_with_filled_matrix(x):
    a = np.eye(2) * 3.0
    a[0, 1] = x[1]
    return np.sum(np.linalg.solve(a, x) ** 2) + np.linalg.norm(a)


def sorted_filled_vector(x):
    y = np.zeros(3)
    y[0] = x[1] * 2.0
    y[2] = x[0]
    return np.sum(np.sort(y) * np.array([1.0, 2.0, 3.0]))


def sum_of_updated_list(x):
    terms = [x[0], x[1]]
    terms[1] = x[1] ** 2
    return sum(terms)


@pytest.mark.parametrize('function', [det_of_filled_matrix,
                                      solve_with_filled_matrix,
                                      sorted_filled_vector,
                                      sum_of_updated_list])
def test_filled_value_passed_to_copying_function(function):
    """A value filled in place may go to a function that returns a new
    array (det, solve, norm, sort, sum): no reference to it survives."""
    x = np.array([0.5, 1.5])
    gradient = adcompiler.grad(function)(x)
    assert_gradient_close(gradient, numerical_gradient(function, (x,), 0))


def enumerate_pairs(x):
    pairs = [(x[0], x[1]), (x[1], x[2])]
    total = 0.0
    for i, (a, b) in enumerate(pairs):
        total = total + (i + 1.0) * a * b
    return total


def zip_pairs(x):
    pairs = [(x[0], x[1]), (x[1], x[2])]
    total = 0.0
    for (a, b), c in zip(pairs, x):
        total = total + a * b * c
    return total


@pytest.mark.parametrize('function', [enumerate_pairs, zip_pairs])
def test_nested_loop_target(function):
    x = np.array([0.5, 1.5, -0.7])
    gradient = adcompiler.grad(function)(x)
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(gradient, expected)
    _, tangent = adcompiler.jvp(function, (x,), (np.ones(3),))
    assert tangent == pytest.approx(np.sum(expected), rel=1e-6)


def sort_of_product(x):
    return np.sum(np.sort(x * x[::-1]) ** 3 * np.arange(1.0, 4.0))


def sine_of_reflect_pad(x):
    return np.sum(np.sin(np.pad(x ** 2, 1, mode='reflect')))


def square_of_list_sum(x):
    return np.sum(sum([x * x, np.sin(x)]) ** 2)


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward',
                                  'reverse-over-reverse'])
@pytest.mark.parametrize('function', [sort_of_product, sine_of_reflect_pad,
                                      square_of_list_sum])
def test_second_order_through_sort_pad_and_sum(function, mode):
    """These helpers had only forward rules, so two of the modes raised."""
    x = np.array([0.3, 1.2, -0.8])
    v = np.array([1.0, 0.5, -0.3])
    gradient = adcompiler.grad(function)
    expected = (gradient(x + 1e-5 * v) - gradient(x - 1e-5 * v)) / 2e-5
    product = adcompiler.hvp(function, mode=mode)(x, v)
    np.testing.assert_allclose(product, expected, rtol=1e-5, atol=1e-6)


def cumprod_total(x):
    return np.sum(np.cumprod(x))


def test_float32_cumprod_near_underflow():
    """Products below float32's normal range take the loop, not a division
    by a subnormal product, and the check itself warns of nothing."""
    x = np.array([1e-22, 1e-22, 1e22, 1e22], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        gradient = adcompiler.grad(cumprod_total)(x)
        adcompiler.grad(cumprod_total)(np.array([0.5, 2.0, 3.0], np.float32))
    assert gradient.dtype == np.float32
    np.testing.assert_allclose(gradient[:2], [1e22, 1e22], rtol=1e-5)


def absolute_inside_errstate(x):
    with np.errstate(divide='ignore'):
        y = np.abs(x)
    return np.sum(y * y)


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward',
                                  'reverse-over-reverse'])
def test_second_order_through_abs_in_errstate(mode):
    """A value the reverse stage saves inside a with block had no place in
    the order of saved values, an internal error in reverse over forward."""
    x = np.array([0.3, -1.2, 0.7, 2.0])
    v = np.array([1.0, 0.5, -0.3, 0.2])
    product = adcompiler.hvp(absolute_inside_errstate, mode=mode)(x, v)
    np.testing.assert_allclose(product, 2.0 * v, rtol=1e-12)


def real_of_complex(z):
    return np.abs(z) ** 2 + np.imag(z) * np.real(z)


def test_forward_jacobian_of_complex_input_follows_grad_convention():
    """jacobian(mode='forward') took only the real direction of a complex
    input and dropped df/dy; it now agrees with reverse mode, df/dx - 1j
    df/dy, which finite differences along 1 and 1j confirm."""
    z = np.array([0.3 + 0.4j, 1.0 - 0.2j, -0.5 + 1.5j])
    forward = adcompiler.jacobian(real_of_complex, mode='forward')(z)
    reverse = adcompiler.jacobian(real_of_complex, mode='reverse')(z)
    step = 1e-6
    expected = np.zeros((3, 3), complex)
    for k in range(3):
        unit = np.zeros(3)
        unit[k] = 1.0
        along_x = (real_of_complex(z + step * unit)
                   - real_of_complex(z - step * unit)) / (2 * step)
        along_y = (real_of_complex(z + 1j * step * unit)
                   - real_of_complex(z - 1j * step * unit)) / (2 * step)
        expected[:, k] = along_x - 1j * along_y
    np.testing.assert_allclose(forward, expected, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(reverse, expected, rtol=1e-7, atol=1e-8)


def complex_square(z):
    return z ** 2


def complex_objective(z):
    return np.sum(np.abs(z) ** 2 * np.real(z))


@pytest.mark.parametrize('make', [
    pytest.param(lambda: adcompiler.jacobian(complex_square, mode='forward'),
                 id='forward-jacobian-of-complex-output'),
    pytest.param(lambda: adcompiler.hessian(complex_objective),
                 id='hessian'),
])
def test_complex_input_without_one_matrix_raises(make):
    """A complex entry has two real directions: the Hessian, and the forward
    Jacobian of a complex output, are no single complex matrix. hessian
    returned the real part of one column per entry, silently."""
    z = np.array([0.3 + 0.4j, 1.0 - 0.2j])
    with pytest.raises(adcompiler.InvalidArgumentError, match='complex'):
        make()(z)


def test_source_edited_after_import_raises(tmp_path, monkeypatch):
    """The gradient was taken of the file's new text while the old function
    ran: a silently wrong value and gradient for a module edited in a
    notebook or a long run. An edit after import now raises; a reload gives
    the new function its own gradient."""
    module_file = tmp_path / 'edited_module.py'
    module_file.write_text('import numpy as np\n\n\ndef f(x):\n'
                           '    return np.sum(x ** 2)\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module('edited_module')
    original = module.f
    module_file.write_text('import numpy as np\n\n\ndef f(x):\n'
                           '    return np.sum(x ** 3)\n')
    x = np.array([1.0, 2.0])
    with pytest.raises(adcompiler.StaleSourceError, match='reload'):
        adcompiler.value_and_grad(original)(x)
    reloaded = importlib.reload(module)
    np.testing.assert_allclose(adcompiler.grad(reloaded.f)(x), 3 * x ** 2)
    module_file.write_text('import numpy as np\n\n\ndef f(x):\n'
                           '    return np.sum(x ** 3)  # a comment\n')
    np.testing.assert_allclose(adcompiler.grad(reloaded.f)(x), 3 * x ** 2)


@pytest.mark.parametrize('new_text', [
    pytest.param('import numpy as np\n', id='function-deleted'),
    pytest.param('import numpy as np\n\n\ndef h(x):\n'
                 '    return np.sum(x ** 3)\n', id='function-renamed'),
])
def test_function_removed_by_an_edit_raises_stale(tmp_path, monkeypatch,
                                                   new_text):
    """An edit that deletes or renames the function gave
    SourceUnavailableError, whose advice (define it in a file) was wrong
    for a function that is in one."""
    name = f'shortened_module_{len(new_text)}'
    module_file = tmp_path / f'{name}.py'
    module_file.write_text('import numpy as np\n\n\ndef g(x):\n'
                           '    return np.sum(x ** 2)\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    module_file.write_text(new_text)
    with pytest.raises(adcompiler.StaleSourceError, match='reload'):
        adcompiler.grad(module.g)(np.array([1.0, 2.0]))


def test_unclosed_bracket_edit_raises_stale(tmp_path, monkeypatch):
    """An edit that leaves a bracket open made the tokenizer of
    inspect.getblock raise tokenize.TokenError, not an AdCompilerError."""
    module_file = tmp_path / 'half_edited_module.py'
    module_file.write_text('import numpy as np\n\n\ndef f(x):\n'
                           '    return np.sum(x ** 2)\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module('half_edited_module')
    module_file.write_text('import numpy as np\n\n\ndef f(x):\n'
                           '    return np.sum(x ** 2\n')
    with pytest.raises(adcompiler.StaleSourceError, match='reload'):
        adcompiler.grad(module.f)(np.array([1.0, 2.0]))


OPERATIONS = {
    'square': lambda x: np.sum(x ** 2),
    'cube': lambda x: np.sum(
        x ** 3),
}


@pytest.mark.parametrize('name, derivative', [
    ('square', lambda x: 2 * x), ('cube', lambda x: 3 * x ** 2)])
def test_lambda_in_display_spanning_lines(name, derivative):
    """A lambda inside a dict display that spans lines has no first line
    that parses alone; it is found by parsing the whole file."""
    x = np.array([0.5, -1.5, 2.0])
    gradient = adcompiler.grad(OPERATIONS[name])(x)
    np.testing.assert_allclose(gradient, derivative(x), rtol=1e-12)
    assert_gradient_close(gradient,
                          numerical_gradient(OPERATIONS[name], (x,), 0))


def two_arguments(x, y):
    return np.sum(x * y)


@pytest.mark.parametrize('call', [
    pytest.param(lambda: adcompiler.grad(two_arguments)(), id='none'),
    pytest.param(lambda: adcompiler.grad(two_arguments)(1.0, 2.0, 3.0),
                 id='too-many'),
    pytest.param(lambda: adcompiler.grad(two_arguments)(1.0, z=2.0),
                 id='unknown-keyword'),
])
def test_wrong_arguments_raise_binding_error(call):
    """A call that does not fit the parameters raised a bare TypeError; it
    is now an AdCompilerError that is still a TypeError."""
    with pytest.raises(adcompiler.ArgumentBindingError,
                       match='two_arguments') as caught:
        call()
    assert isinstance(caught.value, TypeError)


def test_jvp_primals_not_a_tuple():
    """jvp(f, x, v) with an array x split x into its entries and reported
    too many positional arguments."""
    x = np.array([0.5, 1.0])
    with pytest.raises(adcompiler.InvalidArgumentError, match=r'\(x,\)'):
        adcompiler.jvp(two_arguments, x, x)


def ufunc_method(x):
    return np.logaddexp.accumulate(x)


def numpy_python_function(x):
    return np.polyder(x)


@pytest.mark.parametrize('function, name, reason', [
    (ufunc_method, 'np.logaddexp.accumulate', 'built-in function'),
    (numpy_python_function, 'np.polyder', 'NumPy-internal source'),
])
def test_foreign_call_error_names_the_callee_as_written(function, name,
                                                        reason):
    """The suggested fix read register_vjp(ufunc.reduce), which is no valid
    code, and the reason for a NumPy function written in Python was
    compiled code with no Python source."""
    with pytest.raises(adcompiler.ForeignCallError) as caught:
        adcompiler.grad(function)(np.array([1.0, 3.0, 2.0]))
    message = str(caught.value)
    assert f'register_vjp({name})' in message
    assert f'non_differentiable({name})' in message
    assert reason in message


class PowerModel:
    def __init__(self, power):
        self.power = power

    def __call__(self, x):
        return np.sum(np.sin(x) ** self.power)


GLOBAL_MODEL = PowerModel(3.0)


def calls_global_model(x):
    return GLOBAL_MODEL(x) * 2.0


def test_global_callable_object():
    """A model held in a global and called directly was a foreign call, and
    the error's advice, non_differentiable, zeroes the gradient. The call is
    now dispatched when it runs, as for a model passed as an argument."""
    x = np.array([0.3, -1.2, 0.8])
    assert_gradient_close(adcompiler.grad(calls_global_model)(x),
                          numerical_gradient(calls_global_model, (x,), 0))
    direction = np.array([1.0, -0.5, 2.0])
    _, tangent = adcompiler.jvp(calls_global_model, (x,), (direction,))
    gradient = numerical_gradient(calls_global_model, (x,), 0)
    np.testing.assert_allclose(tangent, gradient @ direction, rtol=1e-6)
    gradient_of = adcompiler.grad(calls_global_model)
    column = (gradient_of(x + 1e-5 * direction)
              - gradient_of(x - 1e-5 * direction)) / 2e-5
    np.testing.assert_allclose(adcompiler.hvp(calls_global_model)(
        x, direction), column, rtol=1e-5, atol=1e-7)


def loop_over_named_keys(x):
    d = {'a': x ** 2, 'b': np.sin(x)}
    keys = d.keys()
    s = 0.0
    for k in keys:
        s = s + np.sum(d[k])
    return s


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward',
                                  'reverse-over-reverse'])
def test_hvp_through_loop_over_named_keys_view(mode):
    """Forward over reverse raised a raw TypeError: the tangent of a keys
    view held in a variable is the scalar zero, which the loop indexed."""
    x = np.array([0.5, 1.2, -0.7])
    v = np.array([1.0, -0.5, 2.0])
    gradient = adcompiler.grad(loop_over_named_keys)
    expected = (gradient(x + 1e-5 * v) - gradient(x - 1e-5 * v)) / 2e-5
    product = adcompiler.hvp(loop_over_named_keys, mode=mode)(x, v)
    np.testing.assert_allclose(product, expected, rtol=1e-6, atol=1e-8)


def blend(x, y):
    return x * np.sin(y)


def blend_1(x):
    return x ** 3


def blends_twice_and_cubes(x):
    # blend is compiled for x and for y, which gave its second pair the
    # names that blend_1's only pair gets.
    return np.sum(blend(x, 2.0) + blend(3.0, x) + blend_1(x))


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward',
                                  'reverse-over-reverse'])
def test_callee_named_like_numbered_pair(mode):
    """A callee whose name ends in _1 had the generated names of the second
    pair of a callee without the suffix, so one replaced the other."""
    x = np.array([0.3, -1.2, 0.7])
    expected = numerical_gradient(blends_twice_and_cubes, (x,), 0)
    gradient = adcompiler.grad(blends_twice_and_cubes)(x)
    assert_gradient_close(gradient, expected)
    v = np.array([1.0, 0.5, -0.3])
    product = adcompiler.hvp(blends_twice_and_cubes, mode=mode)(x, v)
    expected_product = (6.0 * x - 3.0 * np.sin(x)) * v
    np.testing.assert_allclose(product, expected_product, rtol=1e-12)


def unpack_into_itself_in_branch(p, flag):
    if flag:
        p, s = p
    return p * 3.0 + p ** 2


def unpack_into_itself_in_loop(p):
    s = 0.0
    for _ in range(2):
        p, s = p * s + np.sin(p), p[0]
    return np.sum(p) + s


def unpack_into_itself_nested(p, flag):
    q = 1.0
    if flag:
        (p, q), s = p
    return np.sum(p * q + s ** 2)


@pytest.mark.parametrize('function, args', [
    (unpack_into_itself_in_branch, (np.array([1.5, 2.0]), True)),
    (unpack_into_itself_in_loop, (np.array([0.3, -0.4]),)),
    (unpack_into_itself_nested, (np.array([[1.5, 0.5], [2.0, -1.0]]), True)),
])
def test_unpacking_a_value_into_its_own_name(function, args):
    """`p, s = p` inside a branch or loop gave p a zero gradient: the adjoint
    of the unpacking read the new p and was reset with it. The unpacked
    value now goes through a temporary, as x = x + y does."""
    x = args[0]
    expected = numerical_gradient(function, args, 0)
    assert_gradient_close(adcompiler.grad(function)(*args), expected)
    direction = np.linspace(0.5, -1.0, x.size).reshape(x.shape)
    _, tangent = adcompiler.jvp(function, args,
                                (direction,) + (None,) * (len(args) - 1))
    np.testing.assert_allclose(tangent, np.sum(expected * direction),
                               rtol=1e-6, atol=1e-8)


def sine_of_method_dot(x, y):
    return np.sum(np.sin(x.dot(y)))


GRADIENT_IN_Y = adcompiler.grad(sine_of_method_dot, wrt=1)


def gradient_in_y_along(x, y, v):
    return np.sum(GRADIENT_IN_Y(x, y) * v)


def test_mixed_partial_through_dispatched_method_in_reverse():
    """Reverse mode over the gradient in y of x.dot(y), a method dispatched
    at run time, gave a zero derivative in x. The reverse rule of the
    dispatched call differentiated only the arguments of the first
    derivative, and x was not one of them."""
    x = np.array([0.3, -0.5, 0.8])
    y = np.array([1.0, 0.4, -0.6])
    v = np.array([1.0, 2.0, -1.0])
    expected = numerical_gradient(gradient_in_y_along, (x, y, v), 0)
    assert_gradient_close(adcompiler.grad(gradient_in_y_along)(x, y, v),
                          expected)


def square_root_of_float(x):
    return x ** 0.5


def test_gradient_at_a_singular_python_float_is_inf():
    """The derivative of x ** 0.5 at the Python float 0.0 raised a raw
    ZeroDivisionError from the adjoint (0.0 ** -0.5); NumPy, autograd and
    JAX give inf. The adjoint now runs again on NumPy floats, which warn."""
    with pytest.warns(RuntimeWarning, match='divide by zero'):
        gradient = adcompiler.grad(square_root_of_float)(0.0)
    assert gradient == np.inf
    assert adcompiler.grad(square_root_of_float)(4.0) == 0.25


def reciprocal_of_float(x):
    return 1.0 / x


@pytest.mark.parametrize('derivative', [
    lambda: adcompiler.jvp(square_root_of_float, (0.0,), (1.0,))[1],
    lambda: adcompiler.vjp(square_root_of_float, 0.0)[1](1.0)[0],
    lambda: adcompiler.jacobian(square_root_of_float)(0.0),
    lambda: adcompiler.jacobian(square_root_of_float, mode='forward')(0.0),
], ids=['jvp', 'vjp', 'jacobian-reverse', 'jacobian-forward'])
def test_first_derivatives_at_singular_float(derivative):
    """jvp, vjp and jacobian raised a raw ZeroDivisionError at the Python
    float 0.0 for x ** 0.5, where grad already gave inf: Python floats
    raise where NumPy floats warn, so they run again on NumPy floats."""
    with pytest.warns(RuntimeWarning, match='divide by zero'):
        assert derivative() == np.inf


# Values handed to the caller -------------------------------------------------
#
# The adjoint undoes the in-place updates of the primal to read the values
# that came before them. It undid them on the very arrays and lists that
# vjp, value_and_grad and grad returned to the caller as the value or aux.

def simulate(k, x0=1.0, dt=0.1, steps=4):
    traj = np.zeros(steps + 1)
    traj[0] = x0
    for t in range(steps):
        traj[t + 1] = traj[t] - dt * k * traj[t]
    return (traj[-1] - 0.5) ** 2, traj


def trajectory(x):
    traj = np.zeros(3)
    traj[0] = x[0]
    traj[1] = traj[0] * x[1]
    traj[2] = traj[1] ** 2
    return traj


def sum_with_dict_aux(x):
    traj = trajectory(x)
    return np.sum(traj), {'traj': traj, 'last': traj[-1]}


def square_with_list_aux(x):
    out = []
    for i in range(3):
        out.append(x * i)
    out[1] = out[1] * 2.0
    return np.sum(out[1] ** 2), out


def sum_with_view_aux(x):
    traj = np.zeros(4)
    traj[0] = x[0]
    for t in range(3):
        traj[t + 1] = traj[t] * x[1]
    return np.sum(traj), traj[1:]


def write_into_zeros(x):
    y = np.zeros(3)
    y[0] = x[0] ** 2
    y[1] = x[1]
    return y


def shift_in_copy(x):
    y = x.copy()
    y[1:] = y[:-1] * 2.0
    return y


def square_first_in_place(x):
    x[0] = x[0] ** 2
    return x


def rows_of_powers(x):
    y = np.zeros((2,) + np.shape(x))
    y[0] = x ** 2
    y[1] = np.sum(x)  # broadcast into the row
    return y


def written_zero_d(x):
    y = np.zeros(())
    y[()] = np.sum(x ** 2)
    return y


def assert_same_leaves(actual, expected):
    """Compare two values made of arrays, floats, lists, tuples and dicts."""
    assert type(actual) is type(expected)
    if isinstance(expected, dict):
        assert actual.keys() == expected.keys()
        for key in expected:
            assert_same_leaves(actual[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_same_leaves(a, e)
    else:
        np.testing.assert_array_equal(actual, expected)


AUX_CASES = [
    pytest.param(simulate, 2.0, id='trajectory-of-float'),
    pytest.param(sum_with_dict_aux, np.array([2.0, 3.0]),
                 id='dict-through-callee'),
    pytest.param(square_with_list_aux, np.array([2.0, -3.0]),
                 id='appended-list'),
    pytest.param(sum_with_view_aux, np.array([1.5, 0.5]), id='view'),
]


@pytest.mark.parametrize('function, x', AUX_CASES)
def test_aux_kept_by_value_and_grad(function, x):
    """value_and_grad(has_aux=True) returned aux arrays that the adjoint
    had reset to zeros (or a list it had emptied)."""
    expected_value, expected_aux = function(np.copy(x) if np.ndim(x) else x)
    (value, aux), gradient = adcompiler.value_and_grad(
        function, has_aux=True)(x)
    assert value == expected_value
    assert_same_leaves(aux, expected_aux)
    expected = numerical_gradient(lambda a: function(a)[0], (x,), 0)
    assert_gradient_close(gradient, expected)


@pytest.mark.parametrize('function, x', AUX_CASES)
def test_aux_kept_by_grad(function, x):
    expected_aux = function(np.copy(x) if np.ndim(x) else x)[1]
    gradient, aux = adcompiler.grad(function, has_aux=True)(x)
    assert_same_leaves(aux, expected_aux)
    expected = numerical_gradient(lambda a: function(a)[0], (x,), 0)
    assert_gradient_close(gradient, expected)


def numerical_jacobian(function, x):
    """Central differences of each output entry: shape out + in."""
    out_shape = np.shape(function(x.copy()))
    rows = [numerical_gradient(
        lambda a, index=index: function(a.copy())[index], (x,), 0)
        for index in np.ndindex(out_shape)]
    return np.reshape(rows, out_shape + np.shape(x))


VECTOR_OUTPUT_CASES = [
    pytest.param(write_into_zeros, np.array([1.0, 2.0, 3.0]),
                 id='write-into-zeros'),
    pytest.param(shift_in_copy, np.array([1.0, -2.0, 3.0, 0.5]),
                 id='shift-in-copy'),
    pytest.param(trajectory, np.array([2.0, 3.0]), id='trajectory'),
    pytest.param(square_first_in_place, np.array([1.5, 2.0]),
                 id='written-argument'),
    pytest.param(rows_of_powers, np.array([0.5, -1.0, 2.0]),
                 id='broadcast-row-vector'),
    pytest.param(rows_of_powers, np.array([[0.5, -1.0, 2.0], [1.0, 0.3, 0.2]]),
                 id='broadcast-row-matrix'),
]


@pytest.mark.parametrize('function, x', VECTOR_OUTPUT_CASES)
def test_vjp_value_kept_after_vjp_fn(function, x):
    """Calling vjp_fn reset the value that vjp returned: to zeros, or back
    to the input for y = x.copy(); y[1:] = ... ."""
    original = x.copy()
    expected_value = function(x.copy())
    value, vjp_fn = adcompiler.vjp(function, x)
    cotangent = np.linspace(1.0, -0.5, expected_value.size).reshape(
        expected_value.shape)
    expected = np.tensordot(cotangent, numerical_jacobian(function, x),
                            axes=cotangent.ndim)
    for _ in range(2):  # A second call runs the primal again.
        gradient, = vjp_fn(cotangent)
        np.testing.assert_array_equal(value, expected_value)
        np.testing.assert_array_equal(x, original)
        assert_gradient_close(gradient, expected)


@pytest.mark.parametrize('function, x', VECTOR_OUTPUT_CASES)
@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_jacobian_of_written_output(function, x, mode):
    original = x.copy()
    jacobian = adcompiler.jacobian(function, mode=mode)(x)
    np.testing.assert_allclose(jacobian, numerical_jacobian(function, x),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(x, original)


@pytest.mark.parametrize('function, x', VECTOR_OUTPUT_CASES)
def test_jvp_of_written_output(function, x):
    direction = np.linspace(0.5, -1.0, x.size).reshape(x.shape)
    value, tangent = adcompiler.jvp(function, (x,), (direction,))
    np.testing.assert_array_equal(value, function(x.copy()))
    expected = np.tensordot(numerical_jacobian(function, x), direction,
                            axes=direction.ndim)
    np.testing.assert_allclose(tangent, expected, rtol=1e-6, atol=1e-8)


def test_zero_d_value_kept_by_value_and_grad():
    """A 0-d array written in place came back from value_and_grad as the
    zero the adjoint restored."""
    x = np.array([1.0, -2.0, 3.0])
    value, gradient = adcompiler.value_and_grad(written_zero_d)(x)
    assert value == 14.0
    assert_gradient_close(gradient,
                          numerical_gradient(written_zero_d, (x,), 0))


def final_state_loss(k):
    return simulate(k)[0]


@pytest.mark.parametrize('mode', [None, 'forward-over-reverse',
                                  'reverse-over-forward',
                                  'reverse-over-reverse'])
def test_second_derivatives_at_singular_float(mode):
    """hvp and hessian of x ** 0.5 at the Python float 0.0 raised a raw
    ZeroDivisionError; the second derivative there is -inf."""
    with pytest.warns(RuntimeWarning):
        assert adcompiler.hvp(square_root_of_float, mode=mode)(
            0.0, 1.0) == -np.inf
        assert adcompiler.hessian(square_root_of_float, mode=mode)(
            0.0) == -np.inf
    assert adcompiler.hvp(square_root_of_float, mode=mode)(
        4.0, 1.0) == pytest.approx(-1.0 / 32.0)


def test_function_own_float_error_raised():
    """Where the user's function raises on a Python float, its own error
    reaches the user; derivatives do not run it again on NumPy floats."""
    with pytest.raises(ZeroDivisionError):
        adcompiler.jvp(reciprocal_of_float, (0.0,), (1.0,))
    with pytest.raises(ZeroDivisionError):
        adcompiler.jacobian(reciprocal_of_float, mode='forward')(0.0)


def test_grad_of_grad_at_singular_float():
    """grad(grad(f)) of x ** 0.5 at the Python float 0.0 raised a raw
    ZeroDivisionError from the generated directional derivative."""
    with pytest.warns(RuntimeWarning):
        second = adcompiler.grad(adcompiler.grad(square_root_of_float))(0.0)
    assert second == -np.inf


def scaled_square(x, a=2.0):
    return a * x * x


def scaled_square_keyword(x, *, a=2.0):
    return a * x * x


def calls_scaled_square(x):
    return scaled_square(x) ** 2


def _defaults_restored(function):
    """Return a finalizer that puts back the defaults of `function`."""
    defaults, keyword = function.__defaults__, function.__kwdefaults__
    keyword = None if keyword is None else dict(keyword)

    def restore():
        function.__defaults__ = defaults
        function.__kwdefaults__ = keyword
    return restore


@pytest.mark.parametrize('derivative', [
    lambda f, x: adcompiler.grad(f)(x),
    lambda f, x: adcompiler.value_and_grad(f)(x)[1],
    lambda f, x: adcompiler.jvp(f, (x,), (1.0,))[1],
    lambda f, x: adcompiler.vjp(f, x)[1](1.0)[0],
    lambda f, x: adcompiler.hvp(f)(x, 1.0),
], ids=['grad', 'value_and_grad', 'jvp', 'vjp', 'hvp'])
@pytest.mark.parametrize('function, replace, expected_before, expected_after', [
    (scaled_square, lambda: setattr(scaled_square, '__defaults__', (3.0,)),
     (4.0, 4.0), (6.0, 6.0)),
    (scaled_square_keyword,
     lambda: scaled_square_keyword.__kwdefaults__.update(a=3.0),
     (4.0, 4.0), (6.0, 6.0)),
    (calls_scaled_square,
     lambda: setattr(scaled_square, '__defaults__', (3.0,)),
     (16.0, 48.0), (36.0, 108.0)),
], ids=['defaults', 'keyword-defaults', 'callee-defaults'])
def test_replaced_defaults_are_seen(request, derivative, function, replace,
                                    expected_before, expected_after):
    """Defaults replaced after the first derivative kept their old values:
    the generated code was current by its code object and globals alone,
    and the cached signature bound the old defaults."""
    for owner in (scaled_square, scaled_square_keyword):
        request.addfinalizer(_defaults_restored(owner))
    is_hvp = request.node.callspec.id.endswith('hvp')
    for x in (1.0, np.float64(1.0)):
        before = derivative(function, x)
        assert before == pytest.approx(expected_before[is_hvp])
    replace()
    for x in (1.0, np.float64(1.0)):
        after = derivative(function, x)
        assert after == pytest.approx(expected_after[is_hvp])


def hyperbolic_tangent_of(v):
    return np.tanh(v)


ACTIVATIONS = types.SimpleNamespace(act=np.tanh)
ACTIVATION_MODULE = types.ModuleType('activation_module')
ACTIVATION_MODULE.act = hyperbolic_tangent_of


def activation_through_object(x):
    return np.sum(ACTIVATIONS.act(x))


def activation_through_module(x):
    return np.sum(ACTIVATION_MODULE.act(x))


@pytest.mark.parametrize('function, owner', [
    (activation_through_object, ACTIVATIONS),
    (activation_through_module, ACTIVATION_MODULE),
], ids=['object', 'module'])
def test_rebound_attribute_callee_is_seen(request, function, owner):
    """A callee reached through an attribute of a global (cfg.act,
    helpers.act) was resolved once: after the attribute was rebound, the
    gradient applied the old function's rule (and, through a module, the
    value was the old function's too)."""
    original = owner.act
    request.addfinalizer(lambda: setattr(owner, 'act', original))
    x = np.array([0.3, 0.7])
    value, gradient = adcompiler.value_and_grad(function)(x)
    assert_gradient_close(gradient, 1.0 - np.tanh(x) ** 2)
    owner.act = np.sin
    value, gradient = adcompiler.value_and_grad(function)(x)
    assert value == pytest.approx(np.sum(np.sin(x)))
    assert_gradient_close(gradient, np.cos(x))
    assert_gradient_close(adcompiler.jvp(function, (x,), (np.ones(2),))[1],
                          np.sum(np.cos(x)))
    assert_gradient_close(np.diag(adcompiler.hessian(function)(x)),
                          -np.sin(x))


def passes_through(x, y):
    return x, y * 2.0


def test_vjp_returns_no_cotangent_array():
    """vjp of a function that returns its argument gave back the caller's
    cotangent array itself, so updating the gradient changed the
    cotangent."""
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    _, vjp_fn = adcompiler.vjp(passes_through, x, y)
    cotangent = (np.array([0.5, -1.0]), np.array([2.0, 3.0]))
    dx, dy = vjp_fn(cotangent)
    assert dx is not cotangent[0]
    np.testing.assert_array_equal(dx, [0.5, -1.0])
    np.testing.assert_array_equal(dy, [4.0, 6.0])
    dx += 1.0
    np.testing.assert_array_equal(cotangent[0], [0.5, -1.0])


def doubled_sine(x):
    return np.sin(x) * 2.0


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_jacobian_of_float32_input_is_float32(mode):
    """The Jacobian of a float32 function was float64 in both modes, where
    grad, hvp and hessian keep float32: the entry type was promoted with
    the type float, which is float64, not with a Python float."""
    x = np.array([1.0, 2.0], dtype=np.float32)
    jacobian = adcompiler.jacobian(doubled_sine, mode=mode)(x)
    assert jacobian.dtype == np.float32
    np.testing.assert_allclose(jacobian, np.diag(2.0 * np.cos(x)), rtol=1e-6)


# An argument updated in place and reachable another way. The generated code
# updates a copy of the argument, so a reference to it inside another
# argument, an object or a global would keep the old values.

def writes_then_reads_item(x, items):
    x[0] = 5.0 * x[1]
    return np.sum(x * items[0])


def writes_then_reads_key(x, table):
    x[0] = 5.0 * x[1]
    return np.sum(x * table['w'])


def writes_then_reads_attribute(x, holder):
    x[0] = 5.0 * x[1]
    return np.sum(x * holder.w)


class Holder:
    def __init__(self, w):
        self.w = w


@dataclasses.dataclass
class WeightRecord:
    w: np.ndarray


class SlottedHolder:
    __slots__ = ('w',)

    def __init__(self, w):
        self.w = w


SHARED_WEIGHTS = np.array([1.0, 2.0, 3.0])


def writes_then_reads_global(x):
    x[0] = 5.0 * x[1]
    return np.sum(x * SHARED_WEIGHTS)


def reads_shared_weights(v):
    return np.sum(v * SHARED_WEIGHTS)


def writes_then_calls_global_reader(x):
    x[0] = 5.0 * x[1]
    return reads_shared_weights(x * 1.0)


def closure_writer(w):
    def writes_then_reads_closure(x):
        x[0] = 5.0 * x[1]
        return np.sum(x * w)
    return writes_then_reads_closure


WEIGHT_MODULE = types.ModuleType('weight_module')
WEIGHT_MODULE.w = np.array([1.0, 2.0, 3.0])


class ClassWeights:
    w = np.array([1.0, 2.0, 3.0])


def writes_then_reads_module(x):
    x[0] = 5.0 * x[1]
    return np.sum(x * WEIGHT_MODULE.w)


def writes_then_reads_class(x):
    x[0] = 5.0 * x[1]
    return np.sum(x * ClassWeights.w)


def _shared_argument_cases():
    """(function, arguments) pairs in which the first argument, which the
    function updates, is also reachable another way. Each call builds new
    arrays, so no case reads another's updates."""
    def fresh():
        return np.array([1.0, 2.0, 3.0])

    a, b, c, d, e, f, g, h, k, m, n = (fresh() for _ in range(11))
    closure_array = fresh()
    cyclic = Holder(k)
    cyclic.owner = [cyclic]
    return [
        pytest.param(writes_then_reads_item, (a, [a]), id='list-item'),
        pytest.param(writes_then_reads_item, (b, ((b[::-1],),)),
                     id='view-in-nested-tuple'),
        pytest.param(writes_then_reads_key, (c, {'w': c}), id='dict-value'),
        pytest.param(writes_then_reads_attribute, (d, Holder(d)),
                     id='object-attribute'),
        pytest.param(writes_then_reads_attribute, (e, WeightRecord(e)),
                     id='dataclass-field'),
        pytest.param(writes_then_reads_attribute, (f, SlottedHolder(f)),
                     id='slot'),
        pytest.param(writes_then_reads_attribute, (k, cyclic),
                     id='object-in-a-cycle'),
        pytest.param(writes_then_reads_item, (g[1:], [g[:2]]),
                     id='overlapping-views'),
        pytest.param(writes_then_reads_item, (h, [h.reshape(3, 1)[:, 0]]),
                     id='reshaped-view'),
        pytest.param(writes_then_reads_global, (SHARED_WEIGHTS,),
                     id='global'),
        pytest.param(writes_then_reads_global, (SHARED_WEIGHTS[::-1],),
                     id='view-of-global'),
        pytest.param(writes_then_calls_global_reader, (SHARED_WEIGHTS,),
                     id='global-of-callee'),
        pytest.param(closure_writer(closure_array), (closure_array,),
                     id='closure-variable'),
        pytest.param(writes_then_reads_module, (WEIGHT_MODULE.w,),
                     id='module-attribute'),
        pytest.param(writes_then_reads_class, (ClassWeights.w,),
                     id='class-attribute'),
        pytest.param(writes_then_reads_attribute,
                     (ClassWeights.w, ClassWeights()),
                     id='class-attribute-through-instance'),
        pytest.param(writes_then_reads_item, (m, collections.deque([m])),
                     id='deque-item'),
        pytest.param(writes_then_reads_key,
                     (n, types.MappingProxyType({'w': n})),
                     id='mapping-proxy-value'),
    ]


@pytest.mark.parametrize('function, args', _shared_argument_cases())
@pytest.mark.parametrize('transform', [
    pytest.param(lambda f, args: adcompiler.value_and_grad(f)(*args),
                 id='value_and_grad'),
    pytest.param(lambda f, args: adcompiler.vjp(f, *args)[1](1.0),
                 id='vjp'),
    pytest.param(lambda f, args: adcompiler.jvp(
        f, args, (np.ones_like(args[0]),) + (None,) * (len(args) - 1)),
        id='jvp'),
    pytest.param(lambda f, args: adcompiler.jacobian(f, mode='forward')(
        *args), id='jacobian-forward'),
    pytest.param(lambda f, args: adcompiler.jacobian(f, mode='reverse')(
        *args), id='jacobian-reverse'),
])
def test_updated_argument_reachable_another_way_raises(function, args,
                                                       transform):
    """The check compared an updated argument only with the other
    arguments themselves, so `g(b, [b])` returned 18.0 where Python
    gives 38.0. Any reference the function can read now raises."""
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='updates .x. in place'):
        transform(function, args)


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('function, args', _shared_argument_cases())
def test_updated_argument_reachable_another_way_hessian(function, args, mode):
    with pytest.raises(adcompiler.UnsupportedSyntaxError):
        adcompiler.hessian(function, mode=mode)(*args)


def _cyclic_holder(w):
    """A `Holder` of `w` that a list among its attributes refers back to."""
    holder = Holder(w)
    holder.owner = [holder]
    return holder


def _separate_argument_cases():
    """The functions of `_shared_argument_cases` with the updated argument
    (vector or matrix) and the other values in distinct memory."""
    cases = []
    for shape in [(3,), (2, 3), (4, 3)]:
        x = np.linspace(-1.0, 1.5, int(np.prod(shape))).reshape(shape)
        w = np.array([0.5, -1.5, 2.0])
        label = 'x'.join(map(str, shape))
        cases += [
            pytest.param(writes_then_reads_item, (x, [w]),
                         id=f'list-item-{label}'),
            pytest.param(writes_then_reads_key, (x, {'w': w}),
                         id=f'dict-value-{label}'),
            pytest.param(writes_then_reads_attribute, (x, WeightRecord(w)),
                         id=f'dataclass-field-{label}'),
            pytest.param(writes_then_reads_attribute, (x, SlottedHolder(w)),
                         id=f'slot-{label}'),
            pytest.param(writes_then_reads_attribute, (x, _cyclic_holder(w)),
                         id=f'object-in-a-cycle-{label}'),
            pytest.param(writes_then_reads_global, (x,),
                         id=f'global-{label}'),
            pytest.param(writes_then_calls_global_reader, (x,),
                         id=f'global-of-callee-{label}'),
            pytest.param(closure_writer(w), (x,), id=f'closure-{label}'),
        ]
    disjoint = np.array([1.0, -2.0, 0.5, 3.0, 1.5])
    cases.append(pytest.param(writes_then_reads_item,
                              (disjoint[:3], [disjoint[2:] * 0.0 + 1.0]),
                              id='copy-of-overlapping-view'))
    cases.append(pytest.param(writes_then_reads_item,
                              (disjoint[:2], [disjoint[3:]]),
                              id='disjoint-views'))
    return cases


@pytest.mark.parametrize('function, args', _separate_argument_cases())
def test_updated_argument_in_its_own_memory(function, args):
    def primal(x):
        return function(np.copy(x), *args[1:])

    x = args[0]
    expected = numerical_gradient(primal, (x,), 0)
    value, gradient = adcompiler.value_and_grad(function)(*args)
    assert value == pytest.approx(primal(x))
    assert_gradient_close(gradient, expected)
    direction = np.linspace(0.3, -0.7, x.size).reshape(x.shape)
    _, tangent = adcompiler.jvp(function, args,
                                (direction,) + (None,) * (len(args) - 1))
    assert tangent == pytest.approx(np.sum(expected * direction))


# Axes given as NumPy integers, as np.argmax returns them. The adjoints
# accepted only a Python int or a sequence of ints.

_AXIS_PICK = np.array([0, 5, 2])  # np.argmax gives np.int64(1)


def sum_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.sum(x, axis=axis) ** 2)


def sum_method_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(x.sum(axis=axis, keepdims=True) ** 2)


def mean_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.mean(x, axis=axis) ** 2)


def max_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.max(x, axis=axis) ** 2)


def min_method_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(x.min(axis=axis) ** 2)


def prod_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.prod(x, axis=axis) ** 2)


def std_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.std(x, axis=axis) ** 2)


def var_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.var(x, axis=axis, ddof=1) ** 2)


def norm_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.linalg.norm(x, axis=axis) ** 3)


def ptp_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.ptp(x, axis=axis) ** 2)


def nansum_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.nansum(x, axis=axis) ** 2)


def nanmean_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.nanmean(x, axis=axis) ** 2)


def average_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.average(x, axis=axis, weights=[1.0, 2.0, 0.5]) ** 2)


def cumsum_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.cumsum(x, axis=axis) ** 2)


def cumprod_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.cumprod(x, axis=axis) ** 2)


def diff_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.diff(x, axis=axis) ** 2)


def take_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.take(x, [2, 0, 2], axis=axis) ** 2)


def sort_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.sort(x, axis=axis) * np.array([1.0, 2.0, 3.0]) ** 2)


def concatenate_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    joined = np.concatenate([x, x ** 2], axis=axis)
    return np.sum(joined ** 2 * np.arange(6.0))


def stack_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.stack([x, x ** 2], axis=axis) ** 2)


def split_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    left, right = np.split(x, [1], axis=axis)
    return np.sum(left ** 3) + np.sum(right ** 2)


def repeat_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.repeat(x, 2, axis=axis) ** 2 * np.arange(6.0))


def moveaxis_to_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    moved = np.moveaxis(x, 0, axis)
    return np.sum(moved ** 2 * np.array([1.0, 3.0]))


def swapaxes_with_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.swapaxes(x, 0, axis) ** 2 * np.array([1.0, 3.0]))


def flip_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.flip(x, axis=axis) ** 2 * np.arange(3.0))


def roll_along_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    return np.sum(np.roll(x, 1, axis=axis) ** 2 * np.arange(3.0))


def expand_and_squeeze_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK)
    expanded = np.expand_dims(x ** 2, axis)
    return np.sum(np.squeeze(expanded, axis=axis) ** 2)


def transpose_with_numpy_axes(x):
    axis = np.argmax(_AXIS_PICK)
    flipped = x.transpose(axis, axis - 1)
    return np.sum(flipped ** 2 * np.array([1.0, 3.0]))


def negative_numpy_axis(x):
    axis = np.argmax(_AXIS_PICK) - 2
    return np.sum(np.max(x ** 2, axis=axis) * np.sum(x, axis=axis))


_NUMPY_AXIS_FUNCTIONS = [
    sum_along_numpy_axis, sum_method_along_numpy_axis, mean_along_numpy_axis,
    max_along_numpy_axis, min_method_along_numpy_axis, prod_along_numpy_axis,
    std_along_numpy_axis, var_along_numpy_axis, norm_along_numpy_axis,
    ptp_along_numpy_axis, nansum_along_numpy_axis, nanmean_along_numpy_axis,
    average_along_numpy_axis, cumsum_along_numpy_axis,
    cumprod_along_numpy_axis, diff_along_numpy_axis, take_along_numpy_axis,
    sort_along_numpy_axis, concatenate_along_numpy_axis,
    stack_along_numpy_axis, split_along_numpy_axis, repeat_along_numpy_axis,
    moveaxis_to_numpy_axis, swapaxes_with_numpy_axis, flip_along_numpy_axis,
    roll_along_numpy_axis, expand_and_squeeze_numpy_axis,
    transpose_with_numpy_axes, negative_numpy_axis,
]

_NUMPY_AXIS_POINT = np.array([[0.3, -0.8, 1.3], [0.5, 0.9, -1.1]])


@pytest.mark.parametrize('function', _NUMPY_AXIS_FUNCTIONS)
def test_numpy_integer_axis_first_order(function):
    x = _NUMPY_AXIS_POINT
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)
    direction = np.array([[1.0, -0.5, 0.2], [0.7, 0.1, -1.3]])
    _, tangent = adcompiler.jvp(function, (x,), (direction,))
    assert tangent == pytest.approx(np.sum(expected * direction), rel=1e-6)
    for mode in ('forward', 'reverse'):
        jacobian = adcompiler.jacobian(function, mode=mode)(x)
        assert_gradient_close(jacobian, expected)


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('function', _NUMPY_AXIS_FUNCTIONS)
def test_numpy_integer_axis_hessian(function, mode):
    x = _NUMPY_AXIS_POINT
    expected = differenced_hessian(function, x)
    hessian = adcompiler.hessian(function, mode=mode)(x)
    np.testing.assert_allclose(np.reshape(hessian, expected.shape), expected,
                               rtol=1e-5, atol=1e-5)


# A list item assigned, then the whole list read as an array. The rule for
# the array read gives the list an array adjoint, the item read gives it a
# list adjoint [None, g], and adding the two raised TypeError. With a
# vector x the items are numbers; with a matrix x they are rows.

def item_then_np_array(x):
    items = [x[0] * 1.0, x[1] * 1.0]
    items[0] = items[1] * 3.0
    stacked = np.array(items)
    return np.sum(stacked ** 2) + np.sum(stacked[0] * x[1])


def item_then_np_asarray(x):
    items = [x[0] * 1.0, x[1] * 1.0]
    items[1] = items[0] * items[1]
    return np.sum(np.asarray(items) ** 2)


def item_then_np_stack(x):
    items = [x[0] * 1.0, x[1] * 1.0]
    items[1] = items[0] * items[1]
    return np.sum(np.stack(items, axis=-1) ** 2 * np.array([1.0, 2.0]))


def item_then_builtin_sum(x):
    items = [x[0], x[1]]
    items[1] = items[0] * items[1]
    return np.sum(sum(items) * np.mean(items))


def item_then_np_sum(x):
    items = [x[0] * 2.0, x[1] * 1.0, x[0] * x[1]]
    items[2] = items[2] * items[0]
    items[0] = items[1] ** 2
    return np.sum(np.sum(items, axis=0) ** 3)


def items_in_loop_then_np_array(x):
    items = [x[0] * 1.0, x[1] * 1.0, x[0] + x[1]]
    for i in range(2):
        items[i + 1] = items[i] * items[i + 1]
    return np.sum(np.array(items) * np.array(items[::-1]))


_LIST_READ_AS_ARRAY = [item_then_np_array, item_then_np_asarray,
                       item_then_np_stack, item_then_builtin_sum,
                       item_then_np_sum, items_in_loop_then_np_array]

_LIST_ITEM_POINTS = [
    pytest.param(np.array([0.3, 0.8]), id='numbers'),
    pytest.param(np.array([[0.3, -0.6, 1.1], [0.8, 0.4, -0.9]]), id='rows'),
]


@pytest.mark.parametrize('x', _LIST_ITEM_POINTS)
@pytest.mark.parametrize('function', _LIST_READ_AS_ARRAY)
def test_list_item_then_whole_list_first_order(function, x):
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)
    value, pullback = adcompiler.vjp(function, x)
    assert value == pytest.approx(function(x))
    assert_gradient_close(pullback(2.0)[0], 2.0 * expected)
    direction = np.linspace(-0.4, 1.3, x.size).reshape(x.shape)
    _, tangent = adcompiler.jvp(function, (x,), (direction,))
    assert tangent == pytest.approx(np.sum(expected * direction), rel=1e-6)
    for mode in ('forward', 'reverse'):
        jacobian = adcompiler.jacobian(function, mode=mode)(x)
        assert_gradient_close(jacobian, expected)


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('x', _LIST_ITEM_POINTS)
@pytest.mark.parametrize('function', _LIST_READ_AS_ARRAY)
def test_list_item_then_whole_list_hessian(function, x, mode):
    expected = differenced_hessian(function, x)
    hessian = adcompiler.hessian(function, mode=mode)(x)
    np.testing.assert_allclose(np.reshape(hessian, expected.shape), expected,
                               rtol=1e-5, atol=1e-5)


def weighted_list_after_item_write(x):
    items = [x[0] * 1.0, x[1] * 1.0]
    items[0] = items[1] * 3.0
    return np.sum(np.array(items) * np.array([1.0, 2.0]))


def test_list_item_then_weighted_array_exact():
    """The function is 5 x[1], so the gradient is exactly [0, 5]."""
    gradient = adcompiler.grad(weighted_list_after_item_write)(
        np.array([0.3, 0.8]))
    np.testing.assert_array_equal(gradient, [0.0, 5.0])


# Second derivatives of linear algebra at repeated eigenvalues and singular
# values. The first-derivative rules went through decompositions, and the
# second derivative differentiated the singular vectors, which are not
# smooth where singular values repeat: NaN, or silently dropped terms.

def determinant(a):
    return np.linalg.det(a)


def summed_determinants(a):
    return np.sum(np.linalg.det(a))


def determinant_of_rank_one_update(x):
    return np.linalg.det(np.outer(x, x) + np.eye(3))


def hessian_product_by_differences(function, a, v, step=1e-5):
    """Central difference of adcompiler's gradient of `function` along v."""
    gradient = adcompiler.grad(function)
    return (gradient(a + step * v) - gradient(a - step * v)) / (2 * step)


_SYMMETRIC_DIRECTION = np.array([[1.0, 0.5, 0.2], [0.5, -1.0, 0.3],
                                 [0.2, 0.3, 2.0]])
_GENERAL_DIRECTION = np.arange(9.0).reshape(3, 3) / 10


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('v', [_SYMMETRIC_DIRECTION, _GENERAL_DIRECTION],
                         ids=['symmetric-direction', 'general-direction'])
def test_det_hvp_at_identity(v, mode):
    expected = np.trace(v) * np.eye(3) - v.T
    np.testing.assert_allclose(
        hessian_product_by_differences(determinant, np.eye(3), v), expected,
        atol=1e-8)
    product = adcompiler.hvp(determinant, mode=mode)(np.eye(3), v)
    np.testing.assert_allclose(product, expected, atol=1e-12)


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('a', [
    pytest.param(np.diag([2.0, 2.0, 3.0]), id='repeated-diagonal'),
    pytest.param(np.array([[1.0, 2.0], [2.0, 4.0]]), id='rank-1'),
    pytest.param(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0],
                           [7.0, 8.0, 9.0]]), id='rank-2'),
    pytest.param(np.outer([1.0, -2.0, 0.5], [0.3, 1.0, 2.0]),
                 id='rank-1-repeated-zero-singular-values'),
    pytest.param(np.zeros((3, 3)), id='zero'),
    pytest.param(np.stack([np.eye(3), 2.0 * np.eye(3)]), id='stack'),
    pytest.param(np.array([[0.3, -1.2, 0.5], [0.8, 0.1, -0.4],
                           [1.1, 0.7, 2.0]]), id='generic'),
])
def test_det_hvp_at_degenerate_matrices(a, mode):
    """det is a polynomial, so its Hessian exists everywhere, also where the
    matrix is singular or its singular values repeat."""
    v = np.random.default_rng(5).normal(size=a.shape)
    expected = hessian_product_by_differences(summed_determinants, a, v)
    product = adcompiler.hvp(summed_determinants, mode=mode)(a, v)
    np.testing.assert_allclose(product, expected, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize('mode', _MODES)
def test_det_of_rank_one_update_hessian(mode):
    x = np.array([0.3, -1.2, 0.8])
    hessian = adcompiler.hessian(determinant_of_rank_one_update, mode=mode)(x)
    np.testing.assert_allclose(hessian, 2.0 * np.eye(3), atol=1e-12)


def complex_determinant_terms(a):
    return (np.abs(np.linalg.det(a)) ** 2
            + np.real(np.linalg.det(a) ** 2))


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('a', [
    pytest.param(np.eye(3) + 0j, id='identity'),
    pytest.param(np.array([[1.0 + 0.5j, 0.3, -0.2j], [0.1j, -0.7, 1.2],
                           [0.4, 0.9 - 0.3j, 0.6]]), id='generic'),
])
def test_complex_det_hvp(a, mode):
    """The second derivative of det of a complex matrix went through the
    SVD rule, which takes real matrices only."""
    rng = np.random.default_rng(7)
    v = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    expected = hessian_product_by_differences(complex_determinant_terms, a,
                                              v)
    product = adcompiler.hvp(complex_determinant_terms, mode=mode)(a, v)
    np.testing.assert_allclose(product, expected, rtol=1e-7, atol=1e-8)


def determinant_along_line(t):
    return np.linalg.det(np.eye(3) + t * _GENERAL_DIRECTION)


def test_det_third_derivative_raises():
    second = adcompiler.grad(adcompiler.grad(determinant_along_line))
    assert second(0.2) == pytest.approx(
        (adcompiler.grad(determinant_along_line)(0.2 + 1e-6)
         - adcompiler.grad(determinant_along_line)(0.2 - 1e-6)) / 2e-6,
        rel=1e-7)
    with pytest.raises(adcompiler.AdCompilerError, match='at most twice'):
        adcompiler.grad(second)(0.2)


def lstsq_solution_norm(a):
    return np.sum(np.linalg.lstsq(a, np.arange(1.0, 1.0 + a.shape[0]),
                                  rcond=None)[0] ** 2)


def lstsq_solution_and_residuals(a):
    x, residuals, _, _ = np.linalg.lstsq(
        a, np.arange(1.0, 1.0 + a.shape[0]), rcond=None)
    return np.sum(x ** 2) + 3.0 * np.sum(residuals)


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('function', [lstsq_solution_norm,
                                      lstsq_solution_and_residuals],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('a', [
    pytest.param(np.eye(3), id='identity'),
    pytest.param(np.vstack([2.0 * np.eye(2), np.zeros((1, 2))]),
                 id='tall-repeated'),
    pytest.param(np.array([[2.0, 0.3], [-0.5, 1.0], [0.4, 0.8]]),
                 id='tall-generic'),
])
def test_lstsq_hvp_at_repeated_singular_values(a, function, mode):
    v = np.random.default_rng(6).normal(size=a.shape)
    expected = hessian_product_by_differences(function, a, v)
    product = adcompiler.hvp(function, mode=mode)(a, v)
    np.testing.assert_allclose(product, expected, rtol=1e-6, atol=1e-7)


def eigenvalue_cubes(a):
    return np.sum(np.linalg.eigvalsh(a) ** 3)


def eigenvalue_cubes_upper(a):
    return np.sum(np.linalg.eigvalsh(a, UPLO='U') ** 3)


def squared_singular_values(a):
    return np.sum(np.linalg.svd(a, compute_uv=False) ** 2)


def singular_value_cubes(a):
    return np.sum(np.linalg.svdvals(a) ** 3)


# np.linalg.svdvals is new in NumPy 2.0; svd(compute_uv=False) stands for
# it in the tables before.
_SPECTRAL_FUNCTIONS = [eigenvalue_cubes, eigenvalue_cubes_upper,
                       squared_singular_values] + (
    [singular_value_cubes] if hasattr(np.linalg, 'svdvals') else [])


def _near_tie(shape, gap):
    """Return a matrix with singular values (eigenvalues, for a square
    shape) 1, 1 + gap and 2, in rotated bases."""
    rng = np.random.default_rng(8)
    left, _ = np.linalg.qr(rng.normal(size=(shape[0], shape[0])))
    values = np.zeros(shape)
    values[np.arange(3), np.arange(3)] = [1.0, 1.0 + gap, 2.0]
    if shape[0] == shape[1]:
        return left @ values @ left.T
    right, _ = np.linalg.qr(rng.normal(size=(shape[1], shape[1])))
    return left @ values @ right.T


# eigvalsh takes square matrices only.
_NEAR_TIE_CASES = [
    (function, shape, gap)
    for function in _SPECTRAL_FUNCTIONS
    for shape, gap in [((3, 3), 1e-3), ((3, 3), 1e-6), ((4, 3), 1e-3),
                       ((3, 4), 1e-6)]
    if shape[0] == shape[1] or function in (squared_singular_values,
                                            singular_value_cubes)]


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('function, shape, gap', _NEAR_TIE_CASES,
                         ids=[f'{f.__name__}-{s[0]}x{s[1]}-gap-{g:g}'
                              for f, s, g in _NEAR_TIE_CASES])
def test_spectral_hvp_near_a_tie(function, shape, gap, mode):
    """Divided differences keep second derivatives right as eigenvalues or
    singular values approach each other."""
    a = _near_tie(shape, gap)
    v = np.random.default_rng(9).normal(size=shape)
    expected = hessian_product_by_differences(function, a, v, step=1e-8)
    product = adcompiler.hvp(function, mode=mode)(a, v)
    np.testing.assert_allclose(product, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('function', _SPECTRAL_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_spectral_hvp_at_a_tie_along_the_spectrum(function, mode):
    """At equal eigenvalues or singular values, a direction that does not
    mix their eigenvectors or singular vectors has an exact product."""
    a = np.diag([2.0, 2.0, 2.3])
    v = np.diag([1.0, -0.5, 0.7])
    expected = hessian_product_by_differences(function, a, v)
    product = adcompiler.hvp(function, mode=mode)(a, v)
    np.testing.assert_allclose(product, expected, atol=1e-7)


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('function', _SPECTRAL_FUNCTIONS,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('a', [np.eye(3), np.diag([2.0, 2.0, 2.3])],
                         ids=['identity', 'repeated-diagonal'])
def test_spectral_hvp_at_a_tie_is_nan(function, a, mode):
    """Where equal values mix, the second derivative needs the derivative of
    the function of the spectrum, which the rules do not see: NaN, never a
    finite wrong number (the off-diagonal terms were dropped)."""
    product = adcompiler.hvp(function, mode=mode)(a, _SYMMETRIC_DIRECTION)
    assert np.isnan(product).any()


# Scans and reductions of a 0-d value with an axis. NumPy scans a 0-d array
# as one entry, whatever the axis, and returns shape (1,). Its reductions
# take axis 0 or -1 of a 0-d array and reduce nothing. The adjoints kept the
# scan's shape (1,), or reduced over an axis the 0-d value does not have.

def cumsum_of_std(x):
    return np.sum(np.sin(np.cumsum(np.std(x), axis=-1)))


def cumprod_of_sum(x):
    return np.sum(np.sin(np.cumprod(0.5 * np.sum(x ** 2), axis=0)))


def flat_scans_of_sum(x):
    s = 0.5 * np.sum(x ** 2)
    return np.sum(np.cumprod(s) * np.cumsum(s, axis=0))


def scan_methods_of_sum(x):
    s = np.asarray(0.5 * np.sum(x ** 2))
    return np.sum(np.sin(s.cumsum(axis=0)) * s.cumprod(axis=-1))


def reductions_of_sum(x):
    s = 0.5 * np.sum(x ** 2)
    return (np.sin(np.sum(s, axis=0)) + np.cos(np.prod(s, axis=-1))
            + np.sin(np.max(s, axis=0)) + np.nanmean(s, axis=0) ** 2
            + np.nansum(s, axis=-1) ** 3 + np.ptp(s, axis=0))


def selections_of_sum(x):
    s = 0.5 * np.sum(x ** 2)
    return np.sum(np.sin(np.take(s, [0, 0], axis=0))
                  * np.cos(np.repeat(s, 2, axis=-1)))


_ZERO_D_AXIS_FUNCTIONS = [cumsum_of_std, cumprod_of_sum, flat_scans_of_sum,
                          scan_methods_of_sum, reductions_of_sum,
                          selections_of_sum]


@pytest.mark.parametrize('function', _ZERO_D_AXIS_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_gradient_through_axis_of_zero_d_value(function):
    x = np.array([0.3, -1.2, 0.8])
    gradient = adcompiler.grad(function)(x)
    assert np.shape(gradient) == (3,)
    assert_gradient_close(gradient, numerical_gradient(function, (x,), 0))


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('function', _ZERO_D_AXIS_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_hessian_through_axis_of_zero_d_value(function, mode):
    x = np.array([0.3, -1.2, 0.8])
    hessian = adcompiler.hessian(function, mode=mode)(x)
    np.testing.assert_allclose(hessian, differenced_hessian(function, x),
                               rtol=1e-5, atol=1e-6)


# Reverse over reverse through np.asarray of a list of differentiated
# values: the adjoint of the list was an array of the list's shape only
# after a reshape that np.array had and np.asarray lacked.

def squares_of_asarray(x):
    z = np.asarray([x[0] * x[1], x[2]])
    return np.sum(z ** 2)


def det_of_asarray(x):
    return np.linalg.det(np.asarray([[x[0], 1.0], [x[3], x[1]]]))


def asanyarray_of_list(x):
    z = np.asanyarray([x[0] * x[1], x[2] ** 2])
    return np.sum(np.sin(z))


def ascontiguousarray_of_list(x):
    z = np.ascontiguousarray([[x[0], x[1] * x[2]], [x[3], 2.0]])
    return np.sum(z ** 3)


def ascontiguousarray_of_scalar(x):
    return np.sum(np.ascontiguousarray(x[0] * x[1]) ** 2)


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('function', [
    squares_of_asarray, det_of_asarray, asanyarray_of_list,
    ascontiguousarray_of_list, ascontiguousarray_of_scalar],
    ids=lambda f: f.__name__)
def test_hvp_through_asarray_of_list(function, mode):
    x = np.array([0.3, -1.2, 0.8, 0.5])
    v = np.array([1.0, -0.5, 2.0, 0.7])
    assert_gradient_close(adcompiler.grad(function)(x),
                          numerical_gradient(function, (x,), 0))
    product = adcompiler.hvp(function, mode=mode)(x, v)
    np.testing.assert_allclose(product, differenced_hessian(function, x) @ v,
                               rtol=1e-5, atol=1e-6)


# Forward rules of the eigenvalue and singular value tangents, for forward
# mode over tangent code: checked against central differences of the
# tangent helpers themselves.

@pytest.mark.parametrize('helper, second, a', [
    pytest.param(rt.eigvalsh_tangent, rt.eigvalsh_second_tangent,
                 _near_tie((3, 3), 0.5), id='eigvalsh'),
    pytest.param(rt.singular_value_tangent, rt.singular_value_second_tangent,
                 _near_tie((4, 3), 0.5), id='singular-values-tall'),
    pytest.param(rt.singular_value_tangent, rt.singular_value_second_tangent,
                 _near_tie((3, 4), 0.5), id='singular-values-wide'),
])
def test_spectral_second_tangent(helper, second, a):
    rng = np.random.default_rng(10)
    t = rng.normal(size=a.shape)
    s = rng.normal(size=a.shape)
    step = 1e-6
    expected = (helper(t, a + step * s) - helper(t, a - step * s)) / (
        2 * step)
    np.testing.assert_allclose(second(t, s, a), expected, rtol=1e-6,
                               atol=1e-7)


# A del of a value that the adjoint reads. The tape keeps the value, and the
# del runs as written.

def deletes_intermediate(x):
    y = x ** 2
    z = y * 2
    del y
    return np.sum(z)


def deletes_read_intermediate(x):
    y = np.sin(x)
    z = y * x
    del y
    return np.sum(z ** 2)


def deletes_in_loop(x):
    total = 0.0
    for i in range(3):
        y = np.sin(x) * (i + 1)
        total = total + np.sum(y * y)
        del y
    return total


def deletes_in_branch(x, flag=True):
    y = x ** 3
    z = np.sum(y * x)
    if flag:
        del y
    return z


def deletes_then_rebinds(x):
    y = np.cos(x)
    z = y * x
    del y
    y = z * x
    return np.sum(y)


def deletes_parameter(x):
    y = np.exp(x) * x
    del x
    return np.sum(y ** 2)


@pytest.mark.parametrize('function', [
    deletes_intermediate, deletes_read_intermediate, deletes_in_loop,
    deletes_in_branch, deletes_then_rebinds, deletes_parameter,
], ids=lambda function: function.__name__)
@pytest.mark.parametrize('x', [np.array([0.4, -1.3, 0.8]), np.array(0.7)],
                         ids=['vector', 'scalar'])
def test_deleted_value_is_differentiated(function, x):
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)
    value, gradient = adcompiler.value_and_grad(function)(x)
    assert value == pytest.approx(function(x))
    assert_gradient_close(gradient, expected)
    direction = np.full(np.shape(x), 0.6)
    _, tangent = adcompiler.jvp(function, (x,), (direction,))
    assert tangent == pytest.approx(np.sum(expected * direction), rel=1e-6)


@pytest.mark.parametrize('mode', _MODES)
@pytest.mark.parametrize('function', [
    deletes_read_intermediate, deletes_in_loop, deletes_then_rebinds,
], ids=lambda function: function.__name__)
def test_deleted_value_second_derivative(function, mode):
    x = np.array([0.4, -1.3, 0.8])
    hessian = adcompiler.hessian(function, mode=mode)(x)
    np.testing.assert_allclose(hessian, differenced_hessian(function, x),
                               rtol=1e-5, atol=1e-5)


# A call with no rule in a branch that does not run: forward mode follows
# reverse mode and raises only when the branch runs.

def differences_in_branch(x, use_trim_zeros=False):
    if use_trim_zeros:
        d = np.trim_zeros(np.diff(x))
    else:
        d = np.diff(x)
    return np.sum(d ** 2)


def differences_in_conditional(x, use_trim_zeros=False):
    d = np.trim_zeros(np.diff(x)) if use_trim_zeros else np.diff(x)
    return np.sum(d ** 2)


def differences_in_dead_conditional(x):
    d = np.trim_zeros(np.diff(x)) if False else np.diff(x)
    return np.sum(d ** 2)


@pytest.mark.parametrize('function', [
    differences_in_branch, differences_in_conditional,
    differences_in_dead_conditional,
], ids=lambda function: function.__name__)
def test_forward_mode_skips_call_in_branch_not_taken(function):
    x = np.array([0.3, 1.2, 0.5, -0.4])
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)
    direction = np.array([0.5, -1.0, 2.0, 0.3])
    _, tangent = adcompiler.jvp(function, (x,), (direction,))
    assert tangent == pytest.approx(np.dot(expected, direction), rel=1e-6)
    assert_gradient_close(adcompiler.jacobian(function, mode='forward')(x),
                          expected)
    hessian = adcompiler.hessian(function, mode='reverse-over-forward')(x)
    np.testing.assert_allclose(hessian, differenced_hessian(function, x),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('function', [
    differences_in_branch, differences_in_conditional,
], ids=lambda function: function.__name__)
def test_forward_mode_raises_when_branch_runs(function):
    x = np.array([0.3, 1.2, 0.5])
    with pytest.raises(adcompiler.ForeignCallError,
                       match='trim_zeros') as info:
        adcompiler.jvp(function, (x, True), (np.ones(3), None))
    assert info.value.location.filename == __file__
    assert 'np.trim_zeros(np.diff(x))' in str(info.value)


# list(...) and tuple(...) copy the items of a container or the rows of an
# array; the new container may be updated without changing another name.

def list_of_rows(x):
    rows = list(x)
    return rows[0] * rows[1] + np.sin(rows[2])


def list_of_tuple_updated(x):
    pair = (x, x * 2.0)
    items = list(pair)
    items[0] = items[0] * 3.0
    return np.sum(items[0] * items[1])


def tuple_of_list(x):
    values = [x[0] ** 2, x[1]]
    frozen = tuple(values)
    return frozen[0] * frozen[1]


def list_of_matrix_rows(x):
    rows = list(x)
    rows[1] = rows[1] * rows[0]
    return np.sum(rows[1] ** 2) + np.sum(rows[0])


@pytest.mark.parametrize('function, x', [
    pytest.param(list_of_rows, np.array([1.0, 2.0, 3.0]), id='list-of-rows'),
    pytest.param(list_of_tuple_updated, np.array([0.5, -1.5]),
                 id='list-of-tuple-updated'),
    pytest.param(tuple_of_list, np.array([0.7, -0.4]), id='tuple-of-list'),
    pytest.param(list_of_matrix_rows, np.array([[0.3, -0.2], [1.1, 0.6]]),
                 id='list-of-matrix-rows'),
])
def test_list_and_tuple_copies_differentiate(function, x):
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)
    direction = np.full(x.shape, 0.3) + np.arange(x.size).reshape(x.shape)
    _, tangent = adcompiler.jvp(function, (x,), (direction,))
    assert tangent == pytest.approx(np.sum(expected * direction), rel=1e-6)
    flat = x.ravel()
    for mode in _MODES:
        hessian = adcompiler.hessian(
            lambda v: function(v.reshape(x.shape)), mode=mode)(flat)
        np.testing.assert_allclose(
            hessian, differenced_hessian(
                lambda v: function(v.reshape(x.shape)), flat),
            rtol=1e-5, atol=1e-5, err_msg=mode)


@pytest.mark.parametrize('mode', [None, 'forward-over-reverse',
                                  'reverse-over-forward',
                                  'reverse-over-reverse'])
def test_second_derivative_through_written_trajectory(mode):
    k = 2.0
    expected = numerical_gradient(adcompiler.grad(final_state_loss), (k,), 0)
    hessian = adcompiler.hessian(final_state_loss, mode=mode)(k)
    np.testing.assert_allclose(hessian, expected, rtol=1e-6)
    product = adcompiler.hvp(final_state_loss, mode=mode)(k, 0.5)
    np.testing.assert_allclose(product, 0.5 * expected, rtol=1e-6)


# Arguments that the function writes into -------------------------------------
#
# jacobian (both modes) and jvp ran the primal or the tangent function on the
# caller's arrays without undoing its writes into an argument that carries no
# derivative, so each call changed the argument and the next call drifted.

def scale_work_array(x, c):
    c[0] = c[0] * 2
    return np.sum(x ** 2 * c)


def scale_work_dict(x, d):
    d['w'] = d['w'] * 2
    return np.sum(x ** 2 * d['w'])


def scale_work_list(x, weights):
    weights[0] = weights[0] * 2
    return np.sum(x ** 2 * weights[0])


def update_both(x, c):
    x[0] = x[0] * 3
    c[1] = 7.0
    x[1] = x[1] + 1
    return np.sum(x ** 2 * c)


def cube_times_work(t, c):
    c[0] = c[0] * 2
    return t ** 3 * np.sum(c)


def _direction(x):
    return np.linspace(1.0, -0.5, x.size).reshape(x.shape) if np.ndim(
        x) else 0.7


MODES = [None, 'forward-over-reverse', 'reverse-over-forward',
         'reverse-over-reverse']

ENTRY_POINTS = {
    'grad': lambda f, args: adcompiler.grad(f)(*args),
    'grad-wrt-1': lambda f, args: adcompiler.grad(f, wrt=1)(*args),
    'value_and_grad': lambda f, args: adcompiler.value_and_grad(
        f, wrt=(0, 1))(*args),
    'vjp': lambda f, args: adcompiler.vjp(f, *args)[1](1.0),
    'jvp-none': lambda f, args: adcompiler.jvp(
        f, args, (_direction(args[0]), None)),
    'jvp': lambda f, args: adcompiler.jvp(
        f, args, (_direction(args[0]), args[1])),
    'jacobian-reverse': lambda f, args: adcompiler.jacobian(f)(*args),
    'jacobian-forward': lambda f, args: adcompiler.jacobian(
        f, mode='forward')(*args),
    'jacobian-reverse-both': lambda f, args: adcompiler.jacobian(
        f, wrt=(0, 1))(*args),
    'jacobian-forward-both': lambda f, args: adcompiler.jacobian(
        f, wrt=(0, 1), mode='forward')(*args),
    **{f'hessian-{mode}': lambda f, args, mode=mode: adcompiler.hessian(
        f, mode=mode)(*args) for mode in MODES},
    **{f'hvp-{mode}': lambda f, args, mode=mode: adcompiler.hvp(
        f, mode=mode)(*args, _direction(args[0])) for mode in MODES},
    'check_grads': lambda f, args: adcompiler.check_grads(f, order=2)(*args),
}

WORK_CASES = {
    'array': (scale_work_array, lambda: (np.array([1.0, 2.0]),
                                         np.array([1.0, 1.0]))),
    'dict': (scale_work_dict, lambda: (np.array([1.0, 2.0]),
                                       {'w': np.array([1.0, 3.0])})),
    'list': (scale_work_list, lambda: (np.array([1.0, 2.0]),
                                       [np.array([1.0, 3.0])])),
    'both-written': (update_both, lambda: (np.array([1.0, 2.0]),
                                           np.array([1.0, 1.0]))),
    'float': (cube_times_work, lambda: (0.7, np.array([1.0, 0.5]))),
}

UNCHANGED_CASES = [
    pytest.param(entry, case, id=f'{entry}-{case}')
    for entry in ENTRY_POINTS for case in WORK_CASES
] + [pytest.param('grad-of-grad', 'float', id='grad-of-grad-float')]

# grad of grad differentiates with respect to a float only.
ENTRY_POINTS['grad-of-grad'] = lambda f, args: adcompiler.grad(
    adcompiler.grad(f))(*args)


def _snapshot(value):
    if isinstance(value, dict):
        return {key: _snapshot(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_snapshot(item) for item in value]
    return np.copy(value) if isinstance(value, np.ndarray) else value


@pytest.mark.parametrize('entry, case', UNCHANGED_CASES)
def test_entry_point_leaves_arguments_unchanged(entry, case):
    function, make_args = WORK_CASES[case]
    args = make_args()
    original = _snapshot(args)
    first = ENTRY_POINTS[entry](function, args)
    assert_same_leaves(_snapshot(args), original)
    second = ENTRY_POINTS[entry](function, args)
    assert_same_leaves(_snapshot(args), original)
    assert_same_leaves(second, first)


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_jacobian_with_written_argument_matches_differences(mode):
    """jacobian of scale_work_array gave [8, 4], then [16, 4], ...: the
    primal kept doubling the caller's c."""
    x = np.array([1.0, 2.0])
    c = np.array([1.0, 1.0])
    expected = numerical_gradient(
        lambda a: scale_work_array(a, c.copy()), (x,), 0)
    for _ in range(2):
        jacobian = adcompiler.jacobian(scale_work_array, mode=mode)(x, c)
        assert_gradient_close(jacobian, expected)
    np.testing.assert_array_equal(c, [1.0, 1.0])


def test_jvp_with_written_argument_matches_differences():
    x = np.array([1.0, 2.0])
    c = np.array([1.0, 1.0])
    direction = np.array([0.5, -1.0])
    expected = numerical_gradient(
        lambda a: scale_work_array(a, c.copy()), (x,), 0) @ direction
    for _ in range(2):
        value, tangent = adcompiler.jvp(scale_work_array, (x, c),
                                        (direction, None))
        assert value == scale_work_array(x, c.copy())
        np.testing.assert_allclose(tangent, expected, rtol=1e-6)
    np.testing.assert_array_equal(c, [1.0, 1.0])


def test_written_argument_shared_with_another_is_rejected():
    """The copy of a written argument would hide the writes from another
    argument that shares its memory, as plain Python would not."""
    x = np.array([1.0, 2.0])
    with pytest.raises(adcompiler.InvalidArgumentError, match="'c'"):
        adcompiler.jvp(scale_work_array, (x, x), (np.ones(2), None))
    with pytest.raises(adcompiler.InvalidArgumentError, match="'c'"):
        adcompiler.grad(scale_work_array)(x, x[:])
    np.testing.assert_array_equal(x, [1.0, 2.0])


def root_times_work(x, c):
    c[0] = c[0] * 2
    return x ** 0.5 * c[0]


def test_singular_float_gradient_leaves_argument_unchanged():
    """At a singular Python float the adjoint raises, and grad runs again on
    NumPy floats. The first adjoint stopped before it restored c, so c
    doubled with every call."""
    c = np.array([1.0, 1.0])
    for _ in range(2):
        with pytest.warns(RuntimeWarning, match='divide by zero'):
            assert adcompiler.grad(root_times_work)(0.0, c) == np.inf
    np.testing.assert_array_equal(c, [1.0, 1.0])


SINGULAR_ENTRY_POINTS = {
    'jvp': lambda c: adcompiler.jvp(root_times_work, (0.0, c), (1.0, None)),
    'vjp': lambda c: adcompiler.vjp(root_times_work, 0.0, c)[1](1.0),
    'jacobian-reverse': lambda c: adcompiler.jacobian(root_times_work)(0.0,
                                                                       c),
    'jacobian-forward': lambda c: adcompiler.jacobian(
        root_times_work, mode='forward')(0.0, c),
    **{f'hvp-{mode}': lambda c, mode=mode: adcompiler.hvp(
        root_times_work, mode=mode)(0.0, c, 1.0) for mode in MODES},
    'grad-of-grad': lambda c: adcompiler.grad(adcompiler.grad(
        root_times_work))(0.0, c),
}


@pytest.mark.parametrize('entry', SINGULAR_ENTRY_POINTS)
def test_singular_float_derivatives_leave_argument_unchanged(entry):
    """Each entry point runs again on NumPy floats where Python floats
    raise; the run that raised must not have changed c."""
    c = np.array([1.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        first = SINGULAR_ENTRY_POINTS[entry](c)
        np.testing.assert_array_equal(c, [1.0, 1.0])
        second = SINGULAR_ENTRY_POINTS[entry](c)
    np.testing.assert_array_equal(c, [1.0, 1.0])
    assert_same_leaves(second, first)


def count_calls_in_integers(x, counts):
    counts[0] = counts[0] + 1
    return np.sum(x ** 2 * counts)


def test_check_grads_leaves_integer_argument_unchanged():
    """check_grads called the function itself on the caller's integer
    array, so the finite differences saw different counts each time."""
    counts = np.array([1, 1])
    adcompiler.check_grads(count_calls_in_integers)(np.array([1.0, 2.0]),
                                                    counts)
    np.testing.assert_array_equal(counts, [1, 1])


def double_first(y):
    y[0] = y[0] * 2
    return y ** 2


def sum_of_doubled_copy(x):
    z = x * 1.0
    return np.sum(double_first(z))


def test_callee_version_not_reused_unprotected():
    """The compiler caches one version of a function for all callers. A
    rejected caller compiled double_first as a callee, without the copy of
    its written argument, and jacobian then ran that version on the
    caller's array: x changed, and the Jacobian with it."""
    x = np.array([1.0, 1.0])
    with pytest.raises(adcompiler.UnsupportedSyntaxError):
        adcompiler.grad(sum_of_doubled_copy)(x)
    jacobian = adcompiler.jacobian(double_first)(x)
    np.testing.assert_array_equal(x, [1.0, 1.0])
    np.testing.assert_allclose(jacobian, np.diag([8.0, 2.0]))


def damped_sine(t, k):
    y = t
    for _ in range(3):
        y = y + 0.1 * np.sin(y) * k
    return y ** 2 + t * k


@pytest.mark.parametrize('t', [0.7, np.float64(0.7), np.float32(0.7)],
                         ids=['float', 'float64', 'float32'])
def test_scalar_hessian_type_in_all_modes(t):
    """Printed with str, the Hessian of a float looked like a float in the
    default mode and, printed inside a list, like a 0-d array in the other
    modes. Every mode returns the type of the argument, as grad does."""
    expected = numerical_gradient(adcompiler.grad(damped_sine),
                                  (float(t), 1.3), 0)
    results = [adcompiler.hessian(damped_sine, mode=mode)(t, 1.3)
               for mode in MODES]
    for hessian in results:
        assert type(hessian) is type(t)
        assert np.result_type(hessian) == np.result_type(t)
        np.testing.assert_allclose(hessian, expected, rtol=1e-3 if type(
            t) is np.float32 else 1e-6)
    products = [adcompiler.hvp(damped_sine, mode=mode)(t, 1.3, type(t)(1.0))
                for mode in MODES]
    assert len({type(product) for product in products}) == 1


def guarded_by_hasattr(x, use_missing):
    if use_missing:
        return np.sum(np.no_such_function(x))
    return np.sum(x ** 2)


@pytest.mark.parametrize('derivative', [
    lambda x, flag: adcompiler.grad(guarded_by_hasattr)(x, flag),
    lambda x, flag: adcompiler.jvp(guarded_by_hasattr, (x, flag),
                                   (np.ones_like(x), None))[1],
], ids=['reverse', 'forward'])
def test_undefined_callee_in_branch_not_taken(derivative):
    """A call of a name that is not defined stopped compilation, even in a
    branch that a check such as hasattr(np, 'trapz') keeps from running.
    It now raises only when the branch runs."""
    x = np.array([1.0, 2.0])
    result = derivative(x, False)
    expected = 2.0 * x if result.shape else np.sum(2.0 * x)
    np.testing.assert_allclose(result, expected)
    with pytest.raises(adcompiler.UndefinedNameError,
                       match="'np.no_such_function' is not defined") as info:
        derivative(x, True)
    assert info.value.filename == __file__


# Attributes set on objects the function does not own. The store ran as
# written and a later read of the attribute got the value without its
# derivative: grad of `box.v = x * 3.0; np.sum(box.v * x)` was 3x, not 6x.

class _Box:
    pass


_BOX = _Box()


def _stores_active_attribute(x):
    _BOX.v = x * 3.0
    return np.sum(_BOX.v * x)


def _remember(v):
    _BOX.hidden = v


def _stores_through_helper(x):
    _remember(x * 3.0)
    return np.sum(_BOX.hidden * x)


class _Layer:
    def step(self, x):
        _Layer.last = x * 3.0
        return np.sum(_Layer.last * x)


_LAYER = _Layer()


def _stores_class_attribute(x):
    return _LAYER.step(x)


def _adds_to_attribute(x):
    _BOX.total += np.sum(x)
    return np.sum(x ** 2)


def _stores_through_alias(x):
    alias = _BOX
    alias.a = x[0] * 2.0
    return _BOX.a * x[1]


def _stores_through_expression(x):
    [_BOX][0].a = x[0] * 2.0
    return _BOX.a * x[1]


@pytest.mark.parametrize('function, line', [
    (_stores_through_alias, 'alias.a = x[0] * 2.0'),
    (_stores_through_expression, '[_BOX][0].a = x[0] * 2.0'),
    (_stores_active_attribute, '_BOX.v = x * 3.0'),
    (_stores_through_helper, '_BOX.hidden = v'),
    (_stores_class_attribute, '_Layer.last = x * 3.0'),
    (_adds_to_attribute, '_BOX.total += np.sum(x)'),
])
@pytest.mark.parametrize('mode', ['grad', 'jvp'])
def test_attribute_store_of_a_derivative_raises(function, line, mode):
    _BOX.total = 0.0
    x = np.array([1.0, 2.0])
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='assignment to an attribute') as raised:
        if mode == 'grad':
            adcompiler.grad(function)(x)
        else:
            adcompiler.jvp(function, (x,), (np.ones(2),))
    assert line in str(raised.value)
    if '+=' not in line:
        assert 'stop_gradient' in str(raised.value)


def _stores_bookkeeping(x):
    _BOX.shape = x.shape
    _BOX.size = len(x)
    _BOX.calls = 3
    _BOX.loss = float(adcompiler.stop_gradient(np.sum(x ** 2)))
    return np.sum(np.sin(x) * x)


@pytest.mark.parametrize('shape', [(3,), (2, 4)])
def test_attribute_store_without_a_derivative_runs(shape):
    x = np.random.default_rng(4).normal(size=shape)
    expected = numerical_gradient(_stores_bookkeeping, (x,), 0)
    assert_gradient_close(adcompiler.grad(_stores_bookkeeping)(x), expected)
    assert _BOX.shape == shape
    assert _BOX.size == shape[0]
    assert _BOX.loss == pytest.approx(float(np.sum(x ** 2)))
    v = np.ones(shape)
    _, tangent = adcompiler.jvp(_stores_bookkeeping, (x,), (v,))
    assert tangent == pytest.approx(np.sum(expected * v))


# A statement kept verbatim (here a lambda passed to a NumPy function)
# whose lambda parameter has the name of a variable with a derivative. The
# check that such a statement carries no derivative skipped every node of
# that name, so `z` looked unread and grad returned zeros.

def _piecewise_shadowing(z):
    r = np.piecewise(z, [z < 0], [lambda z: -z, lambda z: z ** 2])
    return np.sum(r)


def _along_axis_shadowing(z):
    r = np.apply_along_axis(lambda z: z ** 2, 0, z)
    return np.sum(r)


@pytest.mark.parametrize('function', [_piecewise_shadowing,
                                      _along_axis_shadowing])
def test_lambda_parameter_shadowing_active_name_raises(function):
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='lambda used as a value'):
        adcompiler.grad(function)(np.array([-0.5, 1.5]))


def _comprehension_shadowing(z):
    labels = [f'{z:.2f}' for z in (1.0, 2.0)]
    scaled = [z * 2.0 for z in (3.0,)] + [v * 1.0 for v in z]
    return np.sum(z ** 2) + len(labels) + scaled[0] + sum(scaled[1:])


@pytest.mark.parametrize('shape', [(1,), (3,)])
def test_comprehension_target_shadowing_runs(shape):
    z = np.linspace(-0.5, 1.5, shape[0])
    assert_gradient_close(adcompiler.grad(_comprehension_shadowing)(z),
                          numerical_gradient(_comprehension_shadowing, (z,), 0))


# A match statement kept verbatim (its cases only pass) bound its capture
# names, which were not seen as assigned: `t` kept its old value, or read a
# global of the same name, and the derivative through it was lost. Match
# statements are now lowered to if statements, so the capture carries it.

def _match_captures_argument(x):
    t = 0.5
    match x:
        case float() as t:
            pass
    return t * x


def _match_captures_array(x):
    t = 0.5
    match x:
        case t:
            pass
    return np.sum(t * x)


@pytest.mark.parametrize('function, x', [
    (_match_captures_argument, 0.7),
    (_match_captures_array, np.array([0.5, 1.5])),
])
def test_match_capture_of_derivative_flows(function, x):
    assert_gradient_close(adcompiler.grad(function)(x),
                          numerical_gradient(function, (x,), 0))


def _match_on_a_constant(x, mode):
    match mode:
        case 'square':
            pass
        case _:
            pass
    return np.sum(x ** 2)


def test_match_without_derivative_runs():
    x = np.array([0.5, -1.5])
    assert_gradient_close(adcompiler.grad(_match_on_a_constant)(x, 'square'),
                          2 * x)


# A loop over a dict takes its keys. Its reverse sent the adjoint of an int
# key k (used in arithmetic) into the value at position k of the dict.

def _weights_by_int_key(x):
    weights = {0: x[0], 1: x[1] * 2.0, 2: x[2] ** 2}
    total = 0.0
    for k in weights:
        total = total + weights[k] * k
    return total


def _list_and_dict_loops(x):
    values = [x[0], x[1] * 2.0, x[2] ** 2]
    weights = {0: x[0], 1: x[1]}
    total = 0.0
    for v in values:
        total = total + v * v * v
    for k in weights:
        total = total + weights[k] ** 2 * (k + 1)
    return total


@pytest.mark.parametrize('function', [_weights_by_int_key,
                                      _list_and_dict_loops])
def test_loop_over_dict_keys_gradient(function):
    x = np.array([1.0, 3.0, -0.5])
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)
    _, tangent = adcompiler.jvp(function, (x,), (np.ones(3),))
    assert tangent == pytest.approx(np.sum(expected))
    gradient = adcompiler.grad(function)
    step = 1e-5
    hessian = np.array([(gradient(x + step * e) - gradient(x - step * e))
                        / (2 * step) for e in np.eye(3)])
    for mode in ('forward-over-reverse', 'reverse-over-forward',
                 'reverse-over-reverse'):
        np.testing.assert_allclose(adcompiler.hessian(function, mode=mode)(x),
                                   hessian, rtol=1e-6, atol=1e-7)


def _column_scaled_then_view_doubled(x, s):
    x = x.copy()
    x[:, 0] *= s
    rows = x[1:]
    rows *= 2
    return np.sum(x ** 2)


def _column_scaled(x, s):
    x = x.copy()
    x[:, 0] *= s
    return np.sum(x ** 2)


def test_item_update_by_name_then_view_update_rejected():
    # `x[:, 0] *= s` reads the name s as the value of an update whose
    # target is an item, which the private-name check took for a name.
    x = np.arange(6.0).reshape(2, 3)
    with pytest.raises(adcompiler.UnsupportedSyntaxError, match="'rows'"):
        adcompiler.grad(_column_scaled_then_view_doubled)(x, 2.0)
    for position in (0, 1):
        expected = numerical_gradient(_column_scaled, (x, 2.0), position)
        assert_gradient_close(
            adcompiler.grad(_column_scaled, wrt=position)(x, 2.0), expected)
