"""Transforms of functions that write into an argument they do not
differentiate.

`jacobian`, `hessian` and `hvp` run the function more than once, and the
other transforms run it again after some errors. Each run must start from
the caller's values, so each derivative is compared with central
differences taken on fresh copies of the inputs, and the caller's objects
must end as after one call of the function.
"""

import copy

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close

MODES = [None] + [c.value for c in adcompiler.Composition]


def shift_copyto(x, c):
    y = np.sin(x) * c
    np.copyto(c, c + 1.0)
    return y * c


def shift_fill(x, c):
    # .fill() on an array that the derivative reads is rejected, and the
    # derivative reads only sums of c.
    y = np.cos(x) * np.sum(c ** 2)
    c.fill(3.0)
    return y + x * np.sum(c)


def shift_place(x, c):
    y = np.exp(0.3 * x) * c
    np.place(c, np.arange(np.size(c)).reshape(np.shape(c)) == 0, 10.0)
    return y * c


def shift_helper(x, c):
    y = x ** 3 * c
    double_in_place(c)
    return y - c * x


def double_in_place(a):
    a *= 2.0


VECTOR_FUNCTIONS = [shift_copyto, shift_fill, shift_place,
                    shift_helper]

# (x, c): c broadcasts against x in the second and third case.
SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((2, 3), (2, 3))]


def make_inputs(x_shape, c_shape):
    rng = np.random.default_rng(7)
    x = rng.uniform(0.2, 0.9, x_shape)
    c = rng.uniform(1.0, 2.0, c_shape)
    return x, c


def numerical_jacobian(function, x, others, step=1e-6):
    """Central-difference Jacobian of `function(x, *others)`, each
    evaluation on fresh copies of `others`."""
    columns = []
    for index in np.ndindex(x.shape):
        shifted = []
        for sign in (1.0, -1.0):
            point = x.copy()
            point[index] += sign * step
            shifted.append(np.asarray(function(point,
                                               *copy.deepcopy(others))))
        columns.append((shifted[0] - shifted[1]) / (2 * step))
    value = np.asarray(function(x, *copy.deepcopy(others)))
    return np.stack(columns, axis=-1).reshape(value.shape + x.shape)


def after_one_call(function, x, others):
    """Return copies of `others` after one call of `function` on them."""
    others = copy.deepcopy(others)
    function(x.copy(), *others)
    return others


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
@pytest.mark.parametrize('shapes', SHAPES)
@pytest.mark.parametrize('function', VECTOR_FUNCTIONS)
def test_jacobian_runs_from_caller_values(function, shapes, mode):
    x, c = make_inputs(*shapes)
    expected = numerical_jacobian(function, x, (c,))
    expected_c, = after_one_call(function, x, (c,))
    computed = adcompiler.jacobian(function, mode=mode)(x, c)
    assert_gradient_close(computed, expected)
    np.testing.assert_array_equal(c, expected_c)


def logged_product(x, c, log):
    log.append(len(log))
    y = x * c
    np.copyto(c, c * 0.5)
    return y * c * len(log)


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_jacobian_list_appended_once(mode):
    x, c = make_inputs((4,), (4,))
    log = [7]
    expected = numerical_jacobian(logged_product, x, (c, log))
    computed = adcompiler.jacobian(logged_product, mode=mode)(x, c, log)
    assert_gradient_close(computed, expected)
    assert log == [7, 1]


def noisy(x, rng):
    return x * rng.normal(size=x.shape)


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_jacobian_generator_draws_once(mode):
    x = np.linspace(0.1, 0.7, 4)
    rng = np.random.default_rng(3)
    expected = numerical_jacobian(noisy, x, (rng,))
    expected_rng, = after_one_call(noisy, x, (rng,))
    computed = adcompiler.jacobian(noisy, mode=mode)(x, rng)
    assert_gradient_close(computed, expected)
    assert rng.bit_generator.state == expected_rng.bit_generator.state


class Scale:
    def __init__(self):
        self.factor = np.array([1.0, 2.0, 3.0])


def scaled(x, scale):
    y = x * scale.factor
    np.copyto(scale.factor, scale.factor + 1.0)
    return y * scale.factor


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_jacobian_object_attribute_restored(mode):
    x = np.array([0.5, -0.2, 0.3])
    scale = Scale()
    expected = numerical_jacobian(scaled, x, (scale,))
    computed = adcompiler.jacobian(scaled, mode=mode)(x, scale)
    assert_gradient_close(computed, expected)
    np.testing.assert_array_equal(scale.factor, [2.0, 3.0, 4.0])


def test_jacobian_keeps_view_of_argument():
    x = np.array([0.5, -0.2, 0.3])
    c = np.array([1.0, 2.0, 3.0, 4.0])
    view = c[1:]
    expected = numerical_jacobian(lambda x, c: shift_copyto(x, c[1:]), x,
                                  (c,))
    computed = adcompiler.jacobian(shift_copyto)(x, view)
    assert_gradient_close(computed, expected)
    np.testing.assert_array_equal(c, [1.0, 3.0, 4.0, 5.0])


def shifted_energy(x, c):
    y = np.sum(np.sin(x) * c ** 2)
    np.copyto(c, c + 1.0)
    return y * np.sum(c * x)


def filled_energy(x, c):
    y = np.sum(np.exp(0.5 * x)) * np.sum(c)
    c.fill(2.0)
    return y * np.sum(x * x) * np.sum(c)


SCALAR_FUNCTIONS = [shifted_energy, filled_energy]


def numerical_hessian(function, x, c):
    def gradient(point, c):
        return adcompiler.grad(function)(point, c)
    return numerical_jacobian(gradient, x, (c,))


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('shapes', [((3,), (3,)), ((2, 3), (3,))])
@pytest.mark.parametrize('function', SCALAR_FUNCTIONS)
def test_hessian_runs_from_caller_values(function, shapes, mode):
    x, c = make_inputs(*shapes)
    expected = numerical_hessian(function, x, c)
    expected_c, = after_one_call(function, x, (c,))
    computed = adcompiler.hessian(function, mode=mode)(x, c)
    assert_gradient_close(computed, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(c, expected_c)


def two_argument_energy(x, y, c):
    value = np.sum(np.sin(x) * y * c)
    np.copyto(c, c * 3.0)
    return value * np.sum(c * y)


@pytest.mark.parametrize('mode', MODES)
def test_hvp_two_arguments_restored(mode):
    x = np.array([0.3, 0.6, 0.9])
    y = np.array([1.1, -0.4, 0.7])
    c = np.array([1.0, 2.0, 0.5])
    v = (np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.2, -1.0]))
    expected_c = c * 3.0

    def gradients(x, y, c):
        return adcompiler.grad(two_argument_energy, wrt=(0, 1))(x, y, c)

    def along(step):
        return gradients(x + step * v[0], y + step * v[1], c.copy())
    step = 1e-6
    expected = [(plus - minus) / (2 * step)
                for plus, minus in zip(along(step), along(-step))]
    computed = adcompiler.hvp(two_argument_energy, wrt=(0, 1), mode=mode)(
        x, y, c, v)
    for block, reference in zip(computed, expected):
        assert_gradient_close(block, reference, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(c, expected_c)


def root_shift(x, c):
    y = x ** 0.5 + np.sum(c)
    np.copyto(c, c + 1.0)
    return y


def test_value_and_grad_retry_restores():
    # The adjoint of x ** 0.5 at the Python float 0.0 divides by zero, so
    # the gradient runs the function again on NumPy floats.
    c = np.array([1.0, 2.0])
    with np.errstate(divide='ignore'):
        value, gradient = adcompiler.value_and_grad(root_shift)(0.0, c)
    assert value == 3.0
    assert gradient == np.inf
    np.testing.assert_array_equal(c, [2.0, 3.0])


def shift_then_root(x, c):
    np.copyto(c, c + 1.0)
    return x ** 0.5 + np.sum(c)


def test_jvp_retry_restores():
    # The tangent of x ** 0.5 divides by zero after the write into c.
    c = np.array([1.0, 2.0])
    with np.errstate(divide='ignore'):
        value, tangent = adcompiler.jvp(shift_then_root, (0.0, c),
                                        (1.0, None))
    assert value == 5.0
    assert tangent == np.inf
    np.testing.assert_array_equal(c, [2.0, 3.0])


# vjp differentiates every argument it is given, so the function reads the
# array it writes into from a default.
BUFFER = np.array([1.0, 2.0, 3.0])


def doubled_head(x, c=BUFFER):
    y = x * c
    y[0] = 2.0 * y[0]
    np.copyto(c, c + 1.0)
    return y * c


def test_vjp_second_cotangent_restores():
    x = np.array([0.5, 1.5, -0.5])
    BUFFER[:] = [1.0, 2.0, 3.0]
    expected = numerical_jacobian(doubled_head, x, (BUFFER,))
    expected_value = doubled_head(x, BUFFER.copy())
    value, vjp_fn = adcompiler.vjp(doubled_head, x)
    for cotangent in (np.array([1.0, 0.0, 2.0]), np.array([0.0, 3.0, 1.0])):
        gradient_x, = vjp_fn(cotangent)
        assert_gradient_close(gradient_x, cotangent @ expected)
    np.testing.assert_array_equal(value, expected_value)
    np.testing.assert_array_equal(BUFFER, [2.0, 3.0, 4.0])
