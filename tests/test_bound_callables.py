"""Transforms of bound methods and functools.partial objects.

The object of a bound method and the values a partial binds are constants,
and `wrt` counts the parameters left free.
"""

import dataclasses
import functools

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


class Layer:
    def __init__(self, W, b):
        self.W = W
        self.b = b

    def loss(self, x, scale=1.0):
        return np.sum(np.tanh(self.W * x + self.b) ** 2) * scale

    def output(self, x):
        return np.sin(self.W * x) + self.b

    @classmethod
    def squared(cls, x, weight):
        return np.sum(weight * x ** 2) * cls.factor

    factor = 1.5


class Scaled:
    """A callable model object, as layers of neural networks are."""

    def __init__(self, W):
        self.W = W

    def __call__(self, x, power=2.0):
        return np.sum(np.cos(self.W * x) * x ** power)


@dataclasses.dataclass
class Params:
    W: np.ndarray
    shift: float


def shifted(params, x):
    return np.sum(np.exp(params.W * x) + params.shift * x)


def blend(a, x, y=1.0, *, power=2.0):
    return np.sum(a * x ** power + np.cos(x) * y)


rng = np.random.default_rng(7)

# (shape of the bound W, shape of x): equal shapes and broadcasting both ways.
SHAPES = [((), ()), ((3,), (3,)), ((2, 3), (2, 3)), ((3,), (2, 3)),
          ((2, 3), (3,))]


def _value(shape):
    if shape == ():
        return float(rng.uniform(0.2, 0.9))
    return rng.uniform(-0.9, 0.9, size=shape)


@pytest.mark.parametrize('w_shape,x_shape', SHAPES)
def test_grad_of_bound_method(w_shape, x_shape):
    layer = Layer(_value(w_shape), _value(w_shape))
    x = _value(x_shape)
    computed = adcompiler.grad(layer.loss)(x, 0.7)
    expected = numerical_gradient(layer.loss, (x, 0.7), 0)
    assert_gradient_close(computed, expected)


@pytest.mark.parametrize('w_shape,x_shape', SHAPES)
def test_grad_of_bound_method_second_parameter(w_shape, x_shape):
    layer = Layer(_value(w_shape), _value(w_shape))
    x = _value(x_shape)
    computed = adcompiler.grad(layer.loss, wrt=1)(x, 0.7)
    expected = numerical_gradient(layer.loss, (x, 0.7), 1)
    assert_gradient_close(computed, expected)
    by_name = adcompiler.grad(layer.loss, wrt='scale')(x, 0.7)
    assert_gradient_close(by_name, expected)


@pytest.mark.parametrize('a_shape,x_shape', SHAPES)
def test_grad_of_partial_positional(a_shape, x_shape):
    a = _value(a_shape)
    x = _value(x_shape)
    partial = functools.partial(blend, a)
    computed = adcompiler.grad(partial)(x, 0.3)
    expected = numerical_gradient(lambda x, y: blend(a, x, y), (x, 0.3), 0)
    assert_gradient_close(computed, expected)
    computed_y = adcompiler.grad(partial, wrt=1)(x, 0.3)
    expected_y = numerical_gradient(lambda x, y: blend(a, x, y), (x, 0.3), 1)
    assert_gradient_close(computed_y, expected_y)


@pytest.mark.parametrize('a_shape,x_shape', SHAPES)
def test_grad_of_partial_keywords(a_shape, x_shape):
    a = _value(a_shape)
    x = np.abs(_value(x_shape)) + 0.1
    partial = functools.partial(blend, y=0.4, power=3.0)
    computed = adcompiler.grad(partial, wrt=1)(a, x)
    expected = numerical_gradient(
        lambda a, x: blend(a, x, y=0.4, power=3.0), (a, x), 1)
    assert_gradient_close(computed, expected)


def test_partial_wrt_skips_bound_keywords():
    # The partial binds y, so position 1 is the keyword-only `power`.
    partial = functools.partial(blend, y=0.4)
    a, x = 0.8, np.array([0.3, 0.6])
    computed = adcompiler.grad(partial, wrt=(1, 2))(a, x, power=2.5)
    expected_x = numerical_gradient(
        lambda x: blend(a, x, y=0.4, power=2.5), (x,), 0)
    expected_power = numerical_gradient(
        lambda power: blend(a, x, y=0.4, power=power), (2.5,), 0)
    assert_gradient_close(computed[0], expected_x)
    assert_gradient_close(computed[1], expected_power)


def test_partial_keyword_replaced_in_call():
    partial = functools.partial(blend, 0.5, y=0.4)
    x = np.array([0.2, -0.7, 1.1])
    computed = adcompiler.grad(partial)(x, y=2.0)
    expected = numerical_gradient(lambda x: blend(0.5, x, y=2.0), (x,), 0)
    assert_gradient_close(computed, expected)


def test_partial_bound_keyword_in_wrt_raises():
    partial = functools.partial(blend, y=0.4)
    with pytest.raises(adcompiler.InvalidArgumentError,
                       match="wrt='y' names a parameter that the partial"):
        adcompiler.grad(partial, wrt='y')


def test_partial_wrt_out_of_range_lists_free_parameters():
    partial = functools.partial(blend, 0.5, y=0.4)
    with pytest.raises(adcompiler.InvalidArgumentError,
                       match=r"2 parameters that it does not bind: "
                             r"\['x', 'power'\]"):
        adcompiler.grad(partial, wrt=2)


def test_nested_partials():
    inner = functools.partial(blend, power=3.0)
    outer = functools.partial(inner, 0.6, y=0.2)
    x = np.array([0.4, 0.9])
    computed = adcompiler.grad(outer)(x)
    expected = numerical_gradient(
        lambda x: blend(0.6, x, y=0.2, power=3.0), (x,), 0)
    assert_gradient_close(computed, expected)


def test_nested_partial_outer_keyword_wins():
    # A subclass of partial is not flattened by functools, so this nests.
    class Partial(functools.partial):
        pass

    outer = Partial(Partial(blend, y=5.0), y=0.2)
    x = np.array([0.4, 0.9])
    computed = adcompiler.grad(outer, wrt=1)(0.6, x)
    expected = numerical_gradient(lambda x: blend(0.6, x, y=0.2), (x,), 0)
    assert_gradient_close(computed, expected)


def test_partial_of_bound_method():
    layer = Layer(np.array([0.5, -1.2, 0.8]), np.array([0.1, 0.2, -0.3]))
    partial = functools.partial(layer.loss, scale=2.5)
    x = np.array([0.3, -0.4, 0.9])
    computed = adcompiler.grad(partial)(x)
    expected = numerical_gradient(lambda x: layer.loss(x, 2.5), (x,), 0)
    assert_gradient_close(computed, expected)


def test_classmethod():
    x = np.array([0.3, -0.4, 0.9])
    computed = adcompiler.grad(Layer.squared, wrt='weight')(x, 2.0)
    expected = numerical_gradient(Layer.squared, (x, 2.0), 1)
    assert_gradient_close(computed, expected)


def test_dataclass_object_is_held_constant():
    params = Params(np.array([0.2, -0.5]), 1.5)
    method = shifted.__get__(params)
    x = np.array([0.7, 0.1])
    computed = adcompiler.grad(method)(x)
    assert isinstance(computed, np.ndarray)
    expected = numerical_gradient(lambda x: shifted(params, x), (x,), 0)
    assert_gradient_close(computed, expected)


@pytest.mark.parametrize('w_shape,x_shape', SHAPES)
def test_value_and_grad_of_method(w_shape, x_shape):
    layer = Layer(_value(w_shape), _value(w_shape))
    x = _value(x_shape)
    value, computed = adcompiler.value_and_grad(layer.loss)(x)
    assert value == pytest.approx(layer.loss(x))
    assert_gradient_close(computed,
                          numerical_gradient(layer.loss, (x,), 0))


@pytest.mark.parametrize('w_shape,x_shape', SHAPES[1:])
def test_jacobian_of_method(w_shape, x_shape):
    layer = Layer(_value(w_shape), _value(w_shape))
    x = _value(x_shape)
    out_shape = np.shape(layer.output(x))
    for mode in ('reverse', 'forward'):
        computed = adcompiler.jacobian(layer.output, mode=mode)(x)
        assert computed.shape == out_shape + np.shape(x)
        for index in np.ndindex(out_shape):
            expected = numerical_gradient(
                lambda x: layer.output(x)[index], (x,), 0)
            assert_gradient_close(computed[index], expected)


@pytest.mark.parametrize('a_shape,x_shape', SHAPES)
def test_jvp_and_vjp_of_partial(a_shape, x_shape):
    a = _value(a_shape)
    x = _value(x_shape)
    partial = functools.partial(blend, a, y=0.4)
    expected = numerical_gradient(lambda x: blend(a, x, y=0.4), (x,), 0)
    direction = _value(x_shape)

    value, tangent = adcompiler.jvp(partial, (x,), (direction,))
    assert value == pytest.approx(partial(x))
    assert tangent == pytest.approx(np.sum(expected * direction))

    value, vjp_fn = adcompiler.vjp(partial, x)
    assert value == pytest.approx(partial(x))
    (cotangent,) = vjp_fn(2.0)
    assert_gradient_close(cotangent, 2.0 * expected)


@pytest.mark.parametrize('w_shape,x_shape', SHAPES[:4])
def test_hessian_and_hvp_of_method(w_shape, x_shape):
    layer = Layer(_value(w_shape), _value(w_shape))
    x = _value(x_shape)
    gradient = adcompiler.grad(layer.loss)
    hessian = adcompiler.hessian(layer.loss)(x)
    size = int(np.prod(np.shape(x)))
    flat = np.reshape(hessian, (size, size))
    for column in range(size):
        def gradient_entry(x, column=column):
            return np.reshape(gradient(x), -1)[column]
        expected = numerical_gradient(gradient_entry, (x,), 0)
        assert_gradient_close(flat[column], np.reshape(expected, -1),
                              rtol=1e-4, atol=1e-5)

    direction = _value(x_shape)
    product = adcompiler.hvp(layer.loss)(x, direction)
    assert_gradient_close(
        np.reshape(product, -1),
        flat @ np.reshape(direction, -1), rtol=1e-8, atol=1e-10)


def test_grad_of_grad_of_partial():
    partial = functools.partial(lambda a, t: a * t ** 3 + np.sin(t), 2.0)
    second = adcompiler.grad(adcompiler.grad(partial))(0.5)
    assert second == pytest.approx(2.0 * 6 * 0.5 - np.sin(0.5))


def test_bound_objects_share_compiled_code():
    layer = Layer(np.array([0.5, -1.2]), np.array([0.1, 0.2]))
    other = Layer(np.array([0.3, 0.4]), np.array([0.0, 0.2]))
    first = adcompiler.grad(layer.loss)
    compiled = first.gradient.compiled()
    assert adcompiler.grad(layer.loss).gradient.compiled() is compiled
    assert adcompiler.grad(other.loss).gradient.compiled() is compiled
    assert adcompiler.grad(Layer.loss, wrt='x').compiled() is compiled
    assert first.source == compiled.source


def test_new_partial_values_reuse_compiled_code():
    x = np.array([0.2, -0.7, 1.1])
    compiled = None
    for a in (0.5, 1.5, np.array([0.5, 2.0, -1.0])):
        gradient = adcompiler.grad(functools.partial(blend, a, y=0.4))
        if compiled is None:
            compiled = gradient.gradient.compiled()
        assert gradient.gradient.compiled() is compiled
        expected = numerical_gradient(lambda x: blend(a, x, y=0.4), (x,), 0)
        assert_gradient_close(gradient(x), expected)


def test_bound_object_changed_between_calls():
    layer = Layer(np.array([0.5, -1.2, 0.3]), np.array([0.1, 0.2, 0.0]))
    gradient = adcompiler.grad(layer.loss)
    x = np.array([0.3, 0.8, -0.5])
    # Three calls so that the code compiled for the shapes runs too.
    for _ in range(3):
        assert_gradient_close(gradient(x),
                              numerical_gradient(layer.loss, (x,), 0))
    layer.W = np.array([[0.4], [-0.3]])
    layer.b = 0.25
    for _ in range(3):
        computed = gradient(x)
        assert computed.shape == (3,)
        assert_gradient_close(computed,
                              numerical_gradient(layer.loss, (x,), 0))


def test_dataclass_object_changed_between_calls():
    params = Params(np.array([0.2, -0.5]), 1.5)
    gradient = adcompiler.grad(shifted.__get__(params))
    x = np.array([0.7, 0.1])
    for _ in range(3):
        assert_gradient_close(gradient(x),
                              numerical_gradient(shifted, (params, x), 1))
    params.W = np.array([[0.2, -0.5], [0.3, 0.1], [0.0, 1.0]])
    params.shift = -2.0
    for _ in range(3):
        assert_gradient_close(gradient(x),
                              numerical_gradient(shifted, (params, x), 1))


def cube_of_scaled(self, x):
    return np.sum(CUBE(x * self.W))  # the failing line


CUBE = np.frompyfunc(lambda v: v ** 3, 1, 1)


def test_error_in_method_points_at_user_line():
    layer = Layer(np.array([0.5, 1.0]), 0.0)
    method = cube_of_scaled.__get__(layer)
    with pytest.raises(adcompiler.ForeignCallError) as caught:
        adcompiler.grad(method)(np.array([0.3, 0.2]))
    message = str(caught.value)
    assert f'File "{__file__}"' in message
    assert 'return np.sum(CUBE(x * self.W))  # the failing line' in message
    assert 'Call chain (outermost first): cube_of_scaled\n' in message


def test_bound_gradient_inside_grad_raises():
    inner = adcompiler.grad(functools.partial(blend, 0.5))

    def outer(x):
        return np.sum(inner(x))

    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='a gradient of the partial of blend'):
        adcompiler.grad(outer)(np.array([0.3, 0.2]))


def test_source_of_bound_gradient():
    gradient = adcompiler.grad(functools.partial(blend, 0.5))
    assert adcompiler.source(gradient) == adcompiler.grad(blend, wrt='x').source
    assert 'def primal_blend(' in gradient.source


@pytest.mark.parametrize('w_shape,x_shape', SHAPES)
def test_transforms_of_callable_object(w_shape, x_shape):
    model = Scaled(_value(w_shape))
    x = _value(x_shape)
    expected = numerical_gradient(model, (x,), 0)
    assert_gradient_close(adcompiler.grad(model)(x), expected)

    value, computed = adcompiler.value_and_grad(model)(x)
    assert value == pytest.approx(model(x))
    assert_gradient_close(computed, expected)

    direction = _value(x_shape)
    value, tangent = adcompiler.jvp(model, (x,), (direction,))
    assert tangent == pytest.approx(np.sum(expected * direction))

    value, vjp_fn = adcompiler.vjp(model, x)
    assert_gradient_close(vjp_fn(2.0)[0], 2.0 * expected)


def test_callable_object_wrt_second_parameter():
    model = Scaled(np.array([0.3, -0.5, 0.8]))
    x = np.array([0.4, 0.9, 1.2])
    computed = adcompiler.grad(model, wrt=1)(x, 2.5)
    expected = numerical_gradient(model, (x, 2.5), 1)
    assert_gradient_close(computed, expected)


def test_hessian_of_callable_object():
    model = Scaled(np.array([0.3, -0.5]))
    x = np.array([0.4, 0.9])
    gradient = adcompiler.grad(model)
    expected = np.array([
        numerical_gradient(lambda x: gradient(x)[row], (x,), 0)
        for row in range(2)])
    assert_gradient_close(adcompiler.hessian(model)(x), expected,
                          rtol=1e-4, atol=1e-5)


def test_numpy_callable_object_raises():
    with pytest.raises(adcompiler.SourceUnavailableError,
                       match='it is a poly1d object of NumPy, whose '
                             '__call__ is NumPy-internal source'):
        adcompiler.grad(np.poly1d([1.0, 2.0]))


class StaticCall:
    @staticmethod
    def __call__(x):
        return np.sum(x ** 3)


class ClassCall:
    factor = 2.5

    @classmethod
    def __call__(cls, x):
        return np.sum(cls.factor * np.sin(x))


@pytest.mark.parametrize('model', [StaticCall(), ClassCall()],
                         ids=['static', 'class'])
@pytest.mark.parametrize('shape', [(), (3,), (2, 3)])
def test_static_and_class_method_call(model, shape):
    x = _value(shape)

    def calls_model(x):
        return model(x * 2.0)

    for function in (model, calls_model):
        expected = numerical_gradient(function, (x,), 0)
        assert_gradient_close(adcompiler.grad(function)(x), expected)


def test_instance_call_attribute_ignored():
    """Python's obj(x) calls the class's __call__, never one stored on
    the instance."""
    model = Scaled(np.array([0.3, -0.5]))
    model.__call__ = lambda x: np.sum(np.tanh(x))
    x = np.array([0.4, 0.9])
    value, computed = adcompiler.value_and_grad(model)(x)
    assert value == pytest.approx(Scaled.__call__(model, x))
    assert_gradient_close(computed, numerical_gradient(model, (x,), 0))


def test_partial_of_builtin_raises():
    with pytest.raises(adcompiler.SourceUnavailableError,
                       match='not a Python function with source code'):
        adcompiler.grad(functools.partial(np.power, 2.0))


def test_partial_with_too_many_arguments_raises():
    with pytest.raises(adcompiler.InvalidArgumentError,
                       match='do not fit the parameters of blend'):
        adcompiler.grad(functools.partial(blend, 1.0, 2.0, 3.0, 4.0))


def test_method_wrt_self_raises():
    layer = Layer(np.array([0.5, 1.0]), 0.0)
    with pytest.raises(adcompiler.InvalidArgumentError,
                       match="wrt='self' is not a parameter that the bound "
                             "method Layer.loss leaves free"):
        adcompiler.grad(layer.loss, wrt='self')


def test_check_grads_of_method():
    layer = Layer(np.array([0.5, -1.2, 0.3]), np.array([0.1, 0.2, 0.0]))
    adcompiler.check_grads(layer.loss, order=2)(np.array([0.3, 0.8, -0.5]))
