"""User classes: methods, properties, __call__, static and class methods,
inheritance with super(), decorated functions, and a small MLP trained with
grad with respect to a dataclass of parameters.

Every gradient is checked against central differences.
"""

import dataclasses
import functools
import inspect
import re

import numpy as np
import pytest

import adcompiler
from adcompiler import containers
from finite_differences import (assert_container_gradient_close,
                                assert_gradient_close, numerical_gradient)

RNG = np.random.default_rng(21)


# Classes -------------------------------------------------------------------------

class Dense:
    """A layer that keeps its parameters on self."""

    def __init__(self, W, b):
        self.W = W
        self.b = b

    def pre_activation(self, x):
        return self.W @ x + self.b

    def __call__(self, x):
        return np.tanh(self.pre_activation(x))

    @property
    def weight_norm(self):
        return np.sum(self.W ** 2)

    @staticmethod
    def squash(v):
        return v / (1.0 + v ** 2)

    @classmethod
    def squash_twice(cls, v):
        return cls.squash(cls.squash(v))


class ScaledDense(Dense):
    """Inherits __call__ and overrides pre_activation with super()."""

    def __init__(self, W, b, scale):
        super().__init__(W, b)
        self.scale = scale

    def pre_activation(self, x):
        return super().pre_activation(x) * self.scale


class DoublyScaled(ScaledDense):
    def pre_activation(self, x):
        return super().pre_activation(x) + 0.5 * x[0]


@dataclasses.dataclass
class Params:
    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: float

    @property
    def l2(self):
        return np.sum(self.W1 ** 2) + np.sum(self.W2 ** 2)

    def hidden(self, x):
        return np.tanh(x @ self.W1.T + self.b1)

    def __call__(self, x):
        return self.hidden(x) @ self.W2 + self.b2


@dataclasses.dataclass(frozen=True)
class Frozen:
    w: np.ndarray
    offset: float

    def shifted(self, x):
        return self.w * x + self.offset


class ChildParams(Params):
    def hidden(self, x):
        return super().hidden(x) ** 2


def forwarding(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        result = function(*args, **kwargs)
        return result
    wrapper.calls = 0
    return wrapper


def doubling(function):
    @functools.wraps(function)
    def wrapper(x):
        return 2.0 * function(x)
    return wrapper


@forwarding
def decorated_cube(x):
    return x ** 3


@doubling
def doubled_sine(x):
    return np.sin(x)


@forwarding
@forwarding
def twice_decorated(x):
    return np.exp(x) * x


# The table: functions of (x, obj) and their arguments -------------------------------

def method_on_object(x, layer):
    return np.sum(layer.pre_activation(x) ** 2)


def called_object(x, layer):
    return np.sum(layer(x))


def property_of_object(x, layer):
    return np.sum(layer(x)) * layer.weight_norm


def static_method(x, layer):
    return np.sum(layer.squash(x)) + np.sum(Dense.squash(x * 2.0))


def class_method(x, layer):
    return np.sum(layer.squash_twice(x)) + np.sum(Dense.squash_twice(x))


def inherited_call(x, layer):
    return np.sum(layer(x) ** 2)


def two_level_super(x, layer):
    return np.sum(layer.pre_activation(x))


def params_called(params, x):
    return np.sum(params(x) ** 2) + 0.1 * params.l2


def params_method(params, x):
    return np.sum(params.hidden(x))


def params_child(params, x):
    return np.sum(params(x))


def frozen_method(params, x):
    return np.sum(np.sin(params.shifted(x)))


def builds_dataclass(w, x):
    frozen = Frozen(w=w * 2.0, offset=np.sum(w))
    return np.sum(frozen.shifted(x) ** 2)


def builds_params_and_calls(W1, x):
    params = Params(W1, np.zeros(W1.shape[0]), np.ones(W1.shape[0]), 0.5)
    return np.sum(params(x))


def decorated_forwarding(x):
    return np.sum(decorated_cube(x)) + np.sum(twice_decorated(x))


def decorated_doubling(x):
    return np.sum(doubled_sine(x))


def list_of_layers(x, layers):
    for layer in layers:
        x = layer(x)
    return np.sum(x)


def dict_of_params(p, x):
    first = p['first']
    return np.sum(first(x)) + p['scale'] * np.sum(first.hidden(x))


def _dense(rows, cols, scale=None, cls=Dense):
    W, b = RNG.normal(size=(rows, cols)) * 0.5, RNG.normal(size=rows)
    return cls(W, b) if scale is None else cls(W, b, scale)


def _params(inputs=3, hidden=4, cls=Params):
    return cls(RNG.normal(size=(hidden, inputs)) * 0.5,
               RNG.normal(size=hidden), RNG.normal(size=hidden), 0.3)


TABLE = [
    pytest.param(method_on_object, (RNG.normal(size=2), _dense(3, 2)), 0,
                 id='method-reads-self'),
    pytest.param(called_object, (RNG.normal(size=2), _dense(3, 2)), 0,
                 id='call-object'),
    pytest.param(property_of_object, (RNG.normal(size=2), _dense(3, 2)), 0,
                 id='property'),
    pytest.param(static_method, (RNG.normal(size=4), _dense(3, 2)), 0,
                 id='staticmethod'),
    pytest.param(class_method, (RNG.normal(size=4), _dense(3, 2)), 0,
                 id='classmethod'),
    pytest.param(inherited_call, (RNG.normal(size=2),
                                  _dense(3, 2, 1.5, ScaledDense)), 0,
                 id='inherited-call-with-super'),
    pytest.param(two_level_super, (RNG.normal(size=2),
                                   _dense(2, 2, 0.7, DoublyScaled)), 0,
                 id='two-level-super'),
    pytest.param(params_called, (_params(), RNG.normal(size=(5, 3))), 0,
                 id='dataclass-call-wrt-params'),
    pytest.param(params_called, (_params(), RNG.normal(size=(5, 3))), 1,
                 id='dataclass-call-wrt-batch'),
    pytest.param(params_method, (_params(), RNG.normal(size=3)), 0,
                 id='dataclass-method'),
    pytest.param(params_child, (_params(cls=ChildParams),
                                RNG.normal(size=(2, 3))), 0,
                 id='dataclass-subclass-super'),
    pytest.param(frozen_method, (Frozen(RNG.normal(size=3), 0.2),
                                 RNG.normal(size=3)), 0,
                 id='frozen-dataclass-method'),
    pytest.param(frozen_method, (Frozen(RNG.normal(size=3), 0.2),
                                 RNG.normal(size=(2, 3))), 1,
                 id='frozen-dataclass-broadcast-x'),
    pytest.param(builds_dataclass, (RNG.normal(size=3), RNG.normal(size=3)),
                 0, id='construct-dataclass'),
    pytest.param(builds_params_and_calls, (RNG.normal(size=(4, 3)),
                                           RNG.normal(size=3)), 0,
                 id='construct-and-call'),
    pytest.param(decorated_forwarding, (RNG.normal(size=3),), 0,
                 id='wraps-forwarding'),
    pytest.param(decorated_doubling, (RNG.normal(size=3),), 0,
                 id='wraps-doubling'),
    pytest.param(list_of_layers, (RNG.normal(size=2),
                                  [_dense(3, 2), _dense(2, 3)]), 0,
                 id='list-of-layers'),
    pytest.param(dict_of_params, ({'first': _params(), 'scale': 0.5},
                                  RNG.normal(size=3)), 0,
                 id='dict-with-dataclass'),
]


@pytest.mark.parametrize('function, args, position', TABLE)
def test_class_gradient(function, args, position):
    gradient = adcompiler.grad(function, wrt=position)(*args)
    if isinstance(args[position], np.ndarray):
        assert_gradient_close(gradient,
                              numerical_gradient(function, args, position))
    else:
        assert_container_gradient_close(function, args, position, gradient)


def test_table_size():
    assert len(TABLE) >= 15


# Details ---------------------------------------------------------------------------

def test_dataclass_gradient_type_through_methods():
    params = _params()
    gradient = adcompiler.grad(params_called)(params, RNG.normal(size=(5, 3)))
    assert type(gradient) is Params
    assert isinstance(gradient.b2, float)


def test_forwarding_wrapper_is_unwrapped():
    source = adcompiler.grad(decorated_forwarding).source
    assert 'def primal_decorated_cube(' in source
    assert 'wrapper' not in source


def test_doubling_wrapper_is_kept():
    source = adcompiler.grad(decorated_doubling).source
    # Names are numbered per function name, so a `wrapper` compiled by an
    # earlier test makes this one primal_wrapper_2.
    assert re.search(r'def primal_wrapper(_\d+)?\(', source)


def test_grad_of_decorated_function():
    x = 0.7
    assert adcompiler.grad(decorated_cube)(x) == pytest.approx(3 * x ** 2)
    assert adcompiler.grad(doubled_sine)(x) == pytest.approx(2 * np.cos(x))


def child_hidden(params, x):
    return np.sum(ChildParams.hidden(params, x))


def tripled_in_place(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        np.multiply(result, 3.0, out=result)
        return result
    return wrapper


@tripled_in_place
def tripled_square(x):
    return x * x


def sums_tripled_square(x):
    return np.sum(tripled_square(x))


def test_wrapper_that_changes_result_is_not_unwrapped():
    x = np.array([0.5, -2.0])
    # The wrapper is transformed as it is: that either fails with a clear
    # error or gives the derivative of the tripled result, never 2 * x.
    try:
        gradient = adcompiler.grad(sums_tripled_square)(x)
    except adcompiler.AdCompilerError as err:
        assert 'wrapper' in str(err)
        return
    np.testing.assert_allclose(gradient, 6.0 * x)


def test_super_named_explicitly_in_source():
    source = adcompiler.grad(child_hidden).source
    assert 'super(__class__, self)' in source
    params = _params(cls=ChildParams)
    args = (params, RNG.normal(size=3))
    gradient = adcompiler.grad(child_hidden)(*args)
    assert_container_gradient_close(child_hidden, args, 0, gradient)


def test_model_object_built_from_input_is_foreign():
    def builds_dense(W, x):
        layer = Dense(W, np.zeros(3))
        return np.sum(layer(x))

    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(builds_dense)(np.ones((3, 2)), np.ones(2))
    assert 'Dense' in str(info.value)


def calls_bound_method_value(params, x):
    hidden = params.hidden
    return np.sum(hidden(x))


def test_called_method_value_with_derivative_raises():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(calls_bound_method_value)(_params(), np.ones(3))
    error = info.value
    assert error.location.lineno == \
        calls_bound_method_value.__code__.co_firstlineno + 2
    assert 'a call of hidden, a method that carries a derivative' in str(
        error)


# The MLP ---------------------------------------------------------------------------

class MLP:
    """A two-layer perceptron; its parameters live in a Params dataclass."""

    def __init__(self, activation=np.tanh):
        self.activation = activation

    def predict(self, params, x):
        hidden = self.activation(x @ params.W1.T + params.b1)
        return hidden @ params.W2 + params.b2

    def loss(self, params, x, y):
        error = self.predict(params, x) - y
        return np.mean(error ** 2) + 1e-3 * params.l2


def mlp_loss(params, model, x, y):
    return model.loss(params, x, y)


def test_mlp_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    params = Params(rng.normal(size=(5, 2)) * 0.5, np.zeros(5),
                    rng.normal(size=5) * 0.5, 0.0)
    x = rng.normal(size=(16, 2))
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1]
    args = (params, MLP(), x, y)
    gradient = adcompiler.grad(mlp_loss)(*args)
    assert_container_gradient_close(mlp_loss, args, 0, gradient)


def test_mlp_training_lowers_loss():
    rng = np.random.default_rng(1)
    params = Params(rng.normal(size=(8, 2)) * 0.5, np.zeros(8),
                    rng.normal(size=8) * 0.5, 0.0)
    x = rng.normal(size=(64, 2))
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1]
    model = MLP()
    value_and_gradient = adcompiler.value_and_grad(mlp_loss)
    losses = []
    for _ in range(30):
        loss, gradient = value_and_gradient(params, model, x, y)
        losses.append(loss)
        params = Params(*[getattr(params, f.name) - 0.2 * getattr(gradient,
                                                                   f.name)
                          for f in dataclasses.fields(Params)])
    assert losses[-1] < 0.5 * losses[0]
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))


# Callable objects stored in fields ------------------------------------------------

@dataclasses.dataclass
class TanhLayer:
    W: np.ndarray

    def __call__(self, x):
        return np.tanh(self.W @ x)


@dataclasses.dataclass
class TwoLayers:
    first: TanhLayer
    second: TanhLayer

    def __call__(self, x):
        return self.second(self.first(x))


def stored_layer_loss(model, x):
    return np.sum(model.first(x) ** 2) + np.sum(model(x))


def _two_layers(rng):
    return TwoLayers(TanhLayer(rng.normal(size=(3, 2))),
                     TanhLayer(rng.normal(size=(2, 3))))


def test_stored_callable_field_gradient():
    rng = np.random.default_rng(4)
    args = (_two_layers(rng), rng.normal(size=2))
    gradient = adcompiler.grad(stored_layer_loss)(*args)
    assert isinstance(gradient, TwoLayers)
    assert_container_gradient_close(stored_layer_loss, args, 0, gradient)
    input_gradient = adcompiler.grad(stored_layer_loss, wrt=1)(*args)
    assert_gradient_close(input_gradient,
                          numerical_gradient(stored_layer_loss, args, 1))


def test_stored_callable_field_tangent():
    rng = np.random.default_rng(5)
    model, x = _two_layers(rng), rng.normal(size=2)
    direction = rng.normal(size=2)
    _, tangent = adcompiler.jvp(stored_layer_loss, (model, x),
                                (None, direction))
    step = 1e-6
    expected = (stored_layer_loss(model, x + step * direction)
                - stored_layer_loss(model, x - step * direction)) / (2 * step)
    assert tangent == pytest.approx(expected, rel=1e-6)


@dataclasses.dataclass
class Accumulator:
    total: np.ndarray

    def add(self, v):
        return Accumulator(self.total + v)


def accumulates(x):
    accumulator = Accumulator(np.zeros(3))
    for _ in range(2):
        accumulator = accumulator.add(x ** 2)
    return np.sum(accumulator.total)


def test_method_named_like_set_add_returns_new_object():
    x = np.array([0.3, -1.2, 0.7])
    gradient = adcompiler.grad(accumulates)(x)
    assert_gradient_close(gradient, numerical_gradient(accumulates, (x,), 0))


@dataclasses.dataclass
class Squared:
    """An object that NumPy converts to the square of its field."""

    a: np.ndarray

    def __array__(self, dtype=None, copy=None):
        return self.a ** 2


def asarray_of_object(x):
    return np.sum(np.asarray(Squared(x)))


def ufunc_of_object(x):
    squared = Squared(x)
    return np.sum(np.sin(squared) * np.exp(squared))


def sum_of_object(x):
    return np.sum(Squared(x)) * 3.0


ARRAY_PROTOCOL_CASES = [asarray_of_object, ufunc_of_object, sum_of_object]


# NumPy rejects an __array__ that returns a NumPy scalar, which a ** 2 is
# for a 0-d array, so the shapes have one axis at least.
@pytest.mark.parametrize('shape', [(1,), (3,), (2, 3)], ids=str)
@pytest.mark.parametrize('function', ARRAY_PROTOCOL_CASES,
                         ids=lambda f: f.__name__)
def test_array_protocol_gradient(function, shape):
    x = np.linspace(-0.8, 0.9, int(np.prod(shape))).reshape(shape)
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x.copy()), expected)
    direction = np.cos(np.arange(x.size) + 1.0).reshape(shape)
    _, tangent = adcompiler.jvp(function, (x.copy(),), (direction,))
    np.testing.assert_allclose(tangent, np.sum(expected * direction),
                               rtol=1e-5, atol=1e-6)


def make_squared(x):
    return Squared(x)


def asarray_of_returned_object(x):
    return np.sum(np.asarray(make_squared(x)))


def ufunc_of_returned_object(x):
    squared = make_squared(x)
    return np.sum(np.exp(squared))


@pytest.mark.parametrize('mode', ['grad', 'jvp'])
@pytest.mark.parametrize('function, marker', [
    (asarray_of_returned_object, 'np.asarray'),
    (ufunc_of_returned_object, 'np.exp')], ids=['asarray', 'ufunc'])
def test_array_protocol_returned_object_error(function, marker, mode):
    # A user function returns the object, so its class is known only when
    # the code runs: NumPy would call __array__ where the rule cannot see.
    x = np.array([0.3, -1.2])
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='__array__') as caught:
        if mode == 'grad':
            adcompiler.grad(function)(x)
        else:
            adcompiler.jvp(function, (x,), (np.ones(2),))
    lines, first = inspect.getsourcelines(function)
    expected = [first + i for i, line in enumerate(lines) if marker in line]
    assert [caught.value.lineno] == expected


def asarray_of_method_result(x):
    return np.sum(np.asarray(make_squared(x).__array__()))


def test_array_protocol_called_method_gradient():
    # The fix that the error above gives: call __array__ in the function.
    x = np.array([0.3, -1.2])
    expected = numerical_gradient(asarray_of_method_result, (x,), 0)
    assert_gradient_close(adcompiler.grad(asarray_of_method_result)(x),
                          expected)
    _, tangent = adcompiler.jvp(asarray_of_method_result, (x,),
                                (np.ones(2),))
    np.testing.assert_allclose(tangent, np.sum(expected), rtol=1e-5)


def sine_of_argument(v):
    return np.sum(np.sin(v))


def test_array_protocol_argument_error():
    # The class of an argument is known only when the function runs: the
    # rule of np.sin gives an array where the gradient must be a Squared.
    with pytest.raises(adcompiler.AdCompilerError, match='Squared'):
        adcompiler.grad(sine_of_argument)(Squared(np.array([0.3, -1.2])))


def asarray_of_argument(v):
    return np.sum(np.asarray(v) ** 2)


ARGUMENT_TRANSFORMS = [
    pytest.param(lambda f, v: adcompiler.jvp(f, (v,), (Squared(np.ones(2)),)),
                 'jvp', id='jvp'),
    pytest.param(lambda f, v: adcompiler.jacobian(f)(v), 'jacobian',
                 id='jacobian'),
    pytest.param(lambda f, v: adcompiler.jacobian(f, mode='forward')(v),
                 'jacobian', id='jacobian-forward'),
    pytest.param(lambda f, v: adcompiler.hessian(f)(v), 'hessian',
                 id='hessian'),
    pytest.param(lambda f, v: adcompiler.hvp(f)(v, Squared(np.ones(2))),
                 'hvp', id='hvp'),
]


@pytest.mark.parametrize('function', [sine_of_argument, asarray_of_argument],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('transform, name', ARGUMENT_TRANSFORMS)
def test_array_protocol_argument_transform_error(transform, name, function):
    # jvp converted the tangent object with __array__ too, and returned a
    # wrong tangent without an error.
    v = Squared(np.array([0.3, -1.2]))
    with pytest.raises(containers.ContainerError) as caught:
        transform(function, v)
    message = str(caught.value)
    assert f"{name} of {function.__name__} with respect to 'v'" in message
    assert 'Squared object, whose class defines __array__' in message


def test_array_protocol_item_of_argument_error():
    def sine_of_item(vs):
        return np.sum(np.sin(vs[0]))

    vs = [Squared(np.array([0.3, -1.2]))]
    with pytest.raises(containers.ContainerError, match='__array__'):
        adcompiler.jvp(sine_of_item, (vs,), ([Squared(np.ones(2))],))


# dataclasses.replace ----------------------------------------------------------

@dataclasses.dataclass
class LinearParams:
    w: np.ndarray
    b: float


@dataclasses.dataclass(frozen=True)
class FrozenLinearParams:
    w: np.ndarray
    b: float


@dataclasses.dataclass
class LinearParamsWithCount:
    w: np.ndarray
    b: float
    evaluations: int = dataclasses.field(default=0, init=False)


def scaled_copy_loss(params, scale):
    scaled = dataclasses.replace(params, w=params.w * scale)
    return np.sum(scaled.w ** 2) + scaled.b * np.sum(scale)


def two_replacements_loss(params, scale):
    shifted = dataclasses.replace(params, b=params.b + 1.0)
    scaled = dataclasses.replace(shifted, w=shifted.w * scale, b=shifted.b ** 2)
    return np.sum(np.sin(scaled.w)) * scaled.b


def replaced_b_of(value, scale):
    return dataclasses.replace(value, b=scale).b


def init_false_replaced(params, scale):
    return dataclasses.replace(params, w=params.w * scale, evaluations=1).b


REPLACE_SHAPES = [((3,), ()), ((2, 3), (3,)), ((2, 3), (2, 1))]
REPLACE_IDS = ['vector-scalar', 'matrix-row', 'matrix-column']


@pytest.mark.parametrize('cls', [LinearParams, FrozenLinearParams],
                         ids=['plain', 'frozen'])
@pytest.mark.parametrize('function', [scaled_copy_loss, two_replacements_loss],
                         ids=['one', 'two'])
@pytest.mark.parametrize('w_shape, scale_shape', REPLACE_SHAPES,
                         ids=REPLACE_IDS)
def test_dataclasses_replace_gradients(cls, function, w_shape, scale_shape):
    """dataclasses.replace was rejected: it fills its dict of changes in
    place, and the message asked to edit the standard library."""
    w = RNG.normal(size=w_shape)
    scale = RNG.normal(size=scale_shape) if scale_shape else 0.7
    params = cls(w, 0.4)

    gradient_scale = adcompiler.grad(function, wrt='scale')(params, scale)
    assert_gradient_close(gradient_scale, numerical_gradient(
        lambda s: function(params, s), (scale,), 0))

    gradient = adcompiler.grad(function, wrt='params')(params, scale)
    assert type(gradient) is cls
    assert_gradient_close(gradient.w, numerical_gradient(
        lambda w: function(cls(w, 0.4), scale), (w,), 0))
    assert_gradient_close(gradient.b, numerical_gradient(
        lambda b: function(cls(w, b), scale), (0.4,), 0))

    direction = RNG.normal(size=np.shape(scale))
    _, tangent = adcompiler.jvp(function, (params, scale),
                                (None, direction))
    np.testing.assert_allclose(
        tangent, np.sum(gradient_scale * direction), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize('cls', [LinearParams, FrozenLinearParams],
                         ids=['plain', 'frozen'])
def test_dataclasses_replace_hessian(cls):
    params = cls(np.array([0.5, -1.0, 2.0]), 0.4)
    scale = np.array([0.7, 1.1, -0.3])
    hessian = adcompiler.hessian(two_replacements_loss, wrt='scale')(
        params, scale)
    gradient = adcompiler.grad(two_replacements_loss, wrt='scale')
    expected = np.stack([numerical_gradient(
        lambda s: gradient(params, s)[i], (scale,), 0) for i in range(3)])
    assert_gradient_close(hessian, expected)


def test_dataclasses_replace_keeps_python_errors():
    params = LinearParamsWithCount(np.ones(2), 0.4)
    with pytest.raises(ValueError, match='init=False'):
        adcompiler.grad(init_false_replaced, wrt='scale')(params, 2.0)
    with pytest.raises(TypeError, match='dataclass instances'):
        adcompiler.grad(replaced_b_of, wrt='scale')({'b': 0.4}, 2.0)
