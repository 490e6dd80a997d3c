"""Containers as inputs and outputs of grad, vjp, jvp and jacobian.

Tuples, lists, dicts, named tuples, dataclasses and classes registered
with register_container: the gradient with respect to one has its
structure and class, and every float leaf is checked against central
differences. Other leaves (ints, strings, None) get None.
"""

import collections
import copy
import dataclasses

import numpy as np
import pytest

import adcompiler
from finite_differences import (assert_container_gradient_close,
                                assert_gradient_close, get_path, leaf_paths,
                                numerical_gradient, replace_path)

RNG = np.random.default_rng(11)


@dataclasses.dataclass
class Layer:
    W: np.ndarray
    b: np.ndarray


@dataclasses.dataclass(frozen=True)
class FrozenLayer:
    W: np.ndarray
    b: np.ndarray
    activation: str = 'tanh'
    width: int = 3
    note: object = None


@dataclasses.dataclass
class Scaled:
    log_scale: float
    shift: np.ndarray

    @property
    def scale(self):
        return np.exp(self.log_scale)


Pair = collections.namedtuple('Pair', 'w b')


class Affine:
    """A plain class registered as a container below."""

    def __init__(self, W, b, name='affine'):
        self.W = W
        self.b = b
        self.name = name


adcompiler.register_container(
    Affine, lambda a: ((a.W, a.b), a.name),
    lambda name, children: Affine(children[0], children[1], name))


class Unregistered:
    def __init__(self, W):
        self.W = W


# Functions of one container argument, and its values ------------------------

def dataclass_layer(p, x):
    return np.sum(np.tanh(p.W @ x + p.b))


def frozen_layer(p, x):
    h = p.W @ x + p.b
    if p.activation == 'tanh':
        h = np.tanh(h)
    return np.sum(h ** 2) * p.width


def namedtuple_fields(p, x):
    return np.sum(p.w * x + p.b ** 2)


def property_scale(p, x):
    return np.sum(p.scale * x + p.shift) * p.scale


def registered_affine(a, x):
    return np.sum(np.sin(a.W @ x) * a.b)


def nested_dict(params, x):
    first = params['layers'][0]
    second = params['layers'][1]
    h = np.tanh(first['W'] @ x + first['b'])
    out = second.W @ h + second.b
    return np.sum(out ** 2) * params['scale'][0]


def list_of_dataclasses(layers, x):
    h = x
    for layer in layers:
        h = np.tanh(layer.W @ h + layer.b)
    return np.sum(h)


def tuple_of_pairs(pairs, x):
    (a, b), other = pairs
    return np.sum(a * x) + np.sum(b * other.w) - np.sum(other.b)


def broadcast_bias(p, x):
    # b broadcasts over the rows of W @ x.
    return np.sum((p.W @ x + p.b) ** 2)


def dict_of_mixed(d, x):
    return np.sum(d['w'] * x) * d['count'] + len(d['label'])


def namedtuple_replaced(p, x):
    q = p._replace(b=p.b * x)
    r = q._replace(w=np.sin(q.w))
    return np.sum(r.w * x + r.b ** 2)


def dict_methods(d, x):
    total = sum(d.values())
    named = sum(np.sum(v) * len(k) for k, v in d.items())
    return np.sum(total * x) + named + np.sum(d.get('missing', x) * d.get(
        'w') ** 2)


def dict_rebuilt(d, x):
    copied = dict(d, scale=2.0 * np.sum(x))
    merged = {'bias': 0.0, **copied, 'w': copied['w'] * x}
    pairs = dict(zip(['p', 'q'], [merged['w'], merged['bias']]))
    named = dict(a=pairs['p'], b=pairs['q'] * merged['scale'])
    return np.sum(np.tanh(named['a']) * named['b'])


CASES = [
    pytest.param(dataclass_layer,
                 (Layer(RNG.normal(size=(3, 2)), RNG.normal(size=3)),
                  RNG.normal(size=2)), True, id='dataclass'),
    pytest.param(frozen_layer,
                 (FrozenLayer(RNG.normal(size=(3, 2)), RNG.normal(size=3)),
                  RNG.normal(size=2)), True, id='frozen-dataclass'),
    pytest.param(namedtuple_fields,
                 (Pair(RNG.normal(size=4), RNG.normal(size=4)),
                  RNG.normal(size=4)), True, id='namedtuple'),
    pytest.param(property_scale,
                 (Scaled(0.3, RNG.normal(size=3)), RNG.normal(size=3)), True,
                 id='property'),
    pytest.param(registered_affine,
                 (Affine(RNG.normal(size=(2, 3)), RNG.normal(size=2)),
                  RNG.normal(size=3)), False, id='registered'),
    pytest.param(nested_dict,
                 ({'layers': [{'W': RNG.normal(size=(3, 2)),
                               'b': RNG.normal(size=3)},
                              Layer(RNG.normal(size=(2, 3)),
                                    RNG.normal(size=2))],
                   'scale': (1.5, 'unused')}, RNG.normal(size=2)), True,
                 id='nested-dict-list-dataclass'),
    pytest.param(list_of_dataclasses,
                 ([Layer(RNG.normal(size=(3, 2)), RNG.normal(size=3)),
                   Layer(RNG.normal(size=(2, 3)), RNG.normal(size=2))],
                  RNG.normal(size=2)), True, id='list-of-dataclasses'),
    pytest.param(tuple_of_pairs,
                 (((RNG.normal(size=3), RNG.normal(size=3)),
                   Pair(RNG.normal(size=3), RNG.normal(size=(2, 3)))),
                  RNG.normal(size=3)), True, id='tuple-of-pairs'),
    pytest.param(broadcast_bias,
                 (Layer(RNG.normal(size=(3, 2)), RNG.normal(size=(1,))),
                  RNG.normal(size=2)), True, id='broadcast-bias'),
    pytest.param(broadcast_bias,
                 (Layer(RNG.normal(size=(3, 2)), 0.7), RNG.normal(size=2)),
                 True, id='scalar-bias'),
    pytest.param(dict_of_mixed,
                 ({'w': RNG.normal(size=3), 'count': 3, 'label': 'abc'},
                  RNG.normal(size=3)), True, id='dict-with-int-and-str'),
]

# Methods of containers that read their values.
METHOD_CASES = [
    pytest.param(namedtuple_replaced,
                 (Pair(RNG.normal(size=4), RNG.normal(size=4)),
                  RNG.normal(size=4)), True, id='namedtuple-replace'),
    pytest.param(namedtuple_replaced,
                 (Pair(RNG.normal(size=(2, 3)), RNG.normal(size=3)),
                  RNG.normal(size=3)), True, id='namedtuple-replace-broadcast'),
    pytest.param(dict_methods,
                 ({'w': RNG.normal(size=3), 'bias': RNG.normal(size=3)},
                  RNG.normal(size=3)), True, id='dict-methods'),
    pytest.param(dict_methods,
                 ({'w': RNG.normal(size=3), 'scale': 0.7},
                  RNG.normal(size=(2, 3))), True, id='dict-methods-broadcast'),
    pytest.param(dict_rebuilt,
                 ({'w': RNG.normal(size=3), 'bias': RNG.normal(size=3)},
                  RNG.normal(size=3)), True, id='dict-rebuilt'),
    pytest.param(dict_rebuilt,
                 ({'w': RNG.normal(size=3), 'bias': 0.7},
                  RNG.normal(size=(2, 3))), True, id='dict-rebuilt-broadcast'),
]
CASES += METHOD_CASES


@pytest.mark.parametrize('function, args, constants_are_none', CASES)
def test_container_gradient(function, args, constants_are_none):
    gradient = adcompiler.grad(function)(*args)
    assert_container_gradient_close(function, args, 0, gradient,
                                    constants_are_none)


@pytest.mark.parametrize('function, args, constants_are_none', CASES)
def test_container_gradient_with_value(function, args, constants_are_none):
    value, gradient = adcompiler.value_and_grad(function, wrt=(0, 1))(*args)
    assert value == pytest.approx(function(*args))
    assert_container_gradient_close(function, args, 0, gradient[0],
                                    constants_are_none)
    assert_gradient_close(gradient[1], numerical_gradient(function, args, 1))


def test_dataclass_gradient_is_instance():
    layer = FrozenLayer(np.ones((3, 2)), np.zeros(3))
    gradient = adcompiler.grad(frozen_layer)(layer, np.ones(2))
    assert isinstance(gradient, FrozenLayer)
    assert gradient.activation is None
    assert gradient.width is None
    assert gradient.note is None


def test_registered_gradient_keeps_aux_data():
    affine = Affine(np.ones((2, 3)), np.ones(2), name='first')
    gradient = adcompiler.grad(registered_affine)(affine, np.ones(3))
    assert isinstance(gradient, Affine)
    assert gradient.name == 'first'


def test_unused_field_gets_zeros():
    def uses_w_only(p, x):
        return np.sum(p.W @ x)

    layer = Layer(np.ones((3, 2)), np.ones(3))
    gradient = adcompiler.grad(uses_w_only)(layer, np.ones(2))
    np.testing.assert_array_equal(gradient.b, np.zeros(3))


# Errors ----------------------------------------------------------------------------

def reads_weights(model, x):
    return np.sum(model.W @ x)


def test_unregistered_object_raises_with_fix():
    model = Unregistered(np.ones((2, 2)))
    with pytest.raises(adcompiler.ContainerError) as info:
        adcompiler.grad(reads_weights)(model, np.ones(2))
    message = str(info.value)
    assert 'it is an Unregistered object' in message
    assert 'register_container(Unregistered, flatten, unflatten)' in message
    assert "argument 'model'" in message


class Opaque:
    def __init__(self, W):
        self.W = W


class Model:
    def __init__(self, W):
        self.W = W


@pytest.mark.parametrize('cls, described', [(Opaque, 'an Opaque object'),
                                            (Model, 'a Model object')])
def test_unregistered_object_article(cls, described):
    with pytest.raises(adcompiler.ContainerError) as info:
        adcompiler.grad(reads_weights)(cls(np.ones((2, 2))), np.ones(2))
    assert f'it is {described}' in str(info.value)


def test_unregistered_object_inside_dict_raises():
    def uses_dict(d, x):
        return np.sum(d['model'].W @ x)

    with pytest.raises(adcompiler.ContainerError) as info:
        adcompiler.grad(uses_dict)({'model': Unregistered(np.ones((2, 2)))},
                                   np.ones(2))
    assert "d[0] in argument 'd'" in str(info.value)


def test_container_error_is_adcompiler_error():
    assert issubclass(adcompiler.ContainerError, adcompiler.AdCompilerError)


def test_register_container_rejects_non_class():
    with pytest.raises(adcompiler.ContainerError):
        adcompiler.register_container(Layer(1.0, 2.0), lambda a: a, len)


def test_ambiguous_registered_child_raises():
    shared = np.ones(2)
    affine = Affine(shared, shared)
    with pytest.raises(adcompiler.ContainerError) as info:
        adcompiler.grad(registered_affine)(affine, np.ones(3)[:2])
    assert 'the same object' in str(info.value)


def test_post_init_constructor_is_foreign():
    @dataclasses.dataclass
    class Checked:
        w: np.ndarray

        def __post_init__(self):
            assert self.w.ndim == 1

    def builds(w):
        return np.sum(Checked(w).w)

    with pytest.raises(adcompiler.ForeignCallError):
        adcompiler.grad(builds)(np.ones(2))


# Containers built inside the function, and returned -------------------------------

def builds_outputs(p, x):
    h = np.tanh(p.W @ x + p.b)
    moved = Layer(W=p.W * 2.0, b=h)
    pair = Pair(h[0] * x, np.sum(h))
    return {'h': h, 'pair': pair, 'layer': moved, 'both': (h * 3.0, [x * h[1]])}


def _random_like(tree, rng):
    for path in leaf_paths(tree):
        leaf = get_path(tree, path)
        if isinstance(leaf, (float, np.ndarray)):
            new = rng.normal(size=np.shape(leaf))
            tree = replace_path(tree, path, new if np.ndim(leaf) else
                                float(new))
    return tree


def _inner(a, b):
    total = 0.0
    for path in leaf_paths(a):
        total += float(np.sum(np.asarray(get_path(a, path)) *
                              np.asarray(get_path(b, path))))
    return total


VJP_ARGS = (Layer(RNG.normal(size=(3, 2)), RNG.normal(size=3)),
            RNG.normal(size=2))


def test_vjp_container_output_and_input():
    value, vjp_fn = adcompiler.vjp(builds_outputs, *VJP_ARGS)
    assert isinstance(value['layer'], Layer)
    assert isinstance(value['pair'], Pair)
    cotangent = _random_like(value, np.random.default_rng(2))
    dp, dx = vjp_fn(cotangent)
    assert isinstance(dp, Layer)

    def projected(p, x):
        return _inner(builds_outputs(p, x), cotangent)

    assert_container_gradient_close(projected, VJP_ARGS, 0, dp)
    assert_gradient_close(dx, numerical_gradient(projected, VJP_ARGS, 1))


def test_jvp_container_tangents():
    rng = np.random.default_rng(4)
    direction = (_random_like(VJP_ARGS[0], rng), rng.normal(size=2))
    value, tangent = adcompiler.jvp(builds_outputs, VJP_ARGS, direction)
    assert isinstance(tangent['layer'], Layer)
    assert isinstance(tangent['pair'], Pair)
    step = 1e-6

    def moved(sign):
        p = VJP_ARGS[0]
        return builds_outputs(
            Layer(p.W + sign * step * direction[0].W,
                  p.b + sign * step * direction[0].b),
            VJP_ARGS[1] + sign * step * direction[1])

    plus, minus = moved(1.0), moved(-1.0)
    for path in leaf_paths(value):
        expected = (np.asarray(get_path(plus, path)) -
                    np.asarray(get_path(minus, path))) / (2 * step)
        np.testing.assert_allclose(get_path(tangent, path), expected,
                                   rtol=1e-5, atol=1e-6)


def test_jvp_rejects_tangent_of_other_structure():
    with pytest.raises(adcompiler.InvalidArgumentError):
        adcompiler.jvp(builds_outputs, VJP_ARGS,
                       ({'W': np.ones((3, 2))}, np.ones(2)))


def test_jvp_output_constants_get_none():
    def labelled(p):
        return FrozenLayer(p.W * 2.0, p.b, activation=p.activation)

    layer = FrozenLayer(np.ones((2, 2)), np.ones(2))
    _, tangent = adcompiler.jvp(labelled, (layer,),
                                (FrozenLayer(np.ones((2, 2)), np.zeros(2)),))
    assert tangent.activation is None
    np.testing.assert_allclose(tangent.W, 2.0 * np.ones((2, 2)))


def dict_to_dict(params, x):
    h = np.tanh(params['W'] @ x)
    return {'h': h, 'total': np.sum(h * params['b'])}


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_jacobian_of_containers(mode):
    params = {'W': RNG.normal(size=(3, 2)), 'b': RNG.normal(size=3)}
    x = RNG.normal(size=2)
    jacobian = adcompiler.jacobian(dict_to_dict, wrt=(0, 1), mode=mode)
    blocks, dx = jacobian(params, x)
    assert blocks['h']['W'].shape == (3, 3, 2)
    assert blocks['total']['b'].shape == (3,)
    assert dx['h'].shape == (3, 2)
    for out_key in ('h', 'total'):
        for in_key in ('W', 'b'):
            def of_leaf(leaf, in_key=in_key, out_key=out_key):
                return dict_to_dict({**params, in_key: leaf}, x)[out_key]

            expected = _numerical_jacobian(of_leaf, params[in_key])
            np.testing.assert_allclose(blocks[out_key][in_key], expected,
                                       rtol=1e-5, atol=1e-6)
        expected = _numerical_jacobian(
            lambda v, out_key=out_key: dict_to_dict(params, v)[out_key], x)
        np.testing.assert_allclose(dx[out_key], expected, rtol=1e-5,
                                   atol=1e-6)


def test_jacobian_of_dataclass_modes_agree():
    layer = FrozenLayer(RNG.normal(size=(3, 2)), RNG.normal(size=3))
    x = RNG.normal(size=2)

    def outputs(p, x):
        return Pair(np.tanh(p.W @ x + p.b), np.sum(p.b ** 2))

    reverse = adcompiler.jacrev(outputs)(layer, x)
    forward = adcompiler.jacfwd(outputs)(layer, x)
    assert isinstance(reverse, Pair)
    assert isinstance(reverse.w, FrozenLayer)
    assert reverse.w.activation is None
    for field in ('w', 'b'):
        for leaf in ('W', 'b'):
            np.testing.assert_allclose(
                getattr(getattr(reverse, field), leaf),
                getattr(getattr(forward, field), leaf), rtol=1e-12,
                atol=1e-12)


def _numerical_jacobian(function, x, step=1e-6):
    out_shape = np.shape(function(x))
    columns = []
    for index in np.ndindex(np.shape(x)):
        direction = np.zeros(np.shape(x))
        direction[index] = step
        columns.append((np.asarray(function(x + direction)) -
                        np.asarray(function(x - direction))) / (2 * step))
    return np.stack(columns, axis=-1).reshape(out_shape + np.shape(x))


# Auxiliary outputs and forward mode through fields and properties ------------------

def with_aux(p, x):
    h = np.tanh(p.W @ x + p.b)
    return np.sum(h), Layer(W=h, b=p.b)


def test_has_aux_dataclass():
    gradient, aux = adcompiler.grad(with_aux, has_aux=True)(*VJP_ARGS)
    assert isinstance(aux, Layer)
    assert_container_gradient_close(lambda p, x: with_aux(p, x)[0], VJP_ARGS,
                                    0, gradient)


@pytest.mark.parametrize('function, args, constants_are_none',
                         CASES[:5] + METHOD_CASES)
def test_jvp_through_fields(function, args, constants_are_none):
    rng = np.random.default_rng(9)
    direction = _random_like(args[0], rng)
    _, tangent = adcompiler.jvp(function, args, (direction, None))
    step = 1e-6

    def shifted(sign):
        tree = args[0]
        for path in leaf_paths(tree):
            leaf = get_path(tree, path)
            if isinstance(leaf, (float, np.ndarray)):
                tree = replace_path(tree, path, leaf + sign * step *
                                    get_path(direction, path))
        return function(tree, *args[1:])

    expected = (shifted(1.0) - shifted(-1.0)) / (2 * step)
    assert tangent == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_namedtuple_replace_rejects_unknown_field():
    pair = Pair(np.ones(2), np.zeros(2))

    def replaces_missing_field(p):
        return np.sum(p._replace(c=p.w).w)
    with pytest.raises(ValueError, match='unexpected field names'):
        adcompiler.grad(replaces_missing_field)(pair)


def test_generated_source_reads_fields():
    source = adcompiler.grad(dataclass_layer).source
    assert "ad.attribute_adjoint(dt" in source
    assert "'W'" in source
    assert "'b'" in source


@dataclasses.dataclass
class WithConstant:
    w: np.ndarray
    scale = 3.0  # A class attribute, not a field.


def reads_class_attribute(p, x):
    return np.sum(p.w * x) * p.scale


def test_class_attribute_has_no_gradient():
    args = (WithConstant(RNG.normal(size=3)), RNG.normal(size=3))
    gradient = adcompiler.grad(reads_class_attribute)(*args)
    assert_container_gradient_close(reads_class_attribute, args, 0, gradient)
    _, tangent = adcompiler.jvp(reads_class_attribute, args,
                                (WithConstant(np.ones(3)), None))
    assert tangent == pytest.approx(3.0 * np.sum(args[1]))


def array_base(x):
    y = x[1:]
    return np.sum(y.base * x)


def test_array_attribute_without_rule_raises():
    with pytest.raises(adcompiler.ContainerError) as info:
        adcompiler.grad(array_base)(np.ones(3))
    assert '.base of an ndarray: it has no gradient rule' in str(info.value)


def test_unregistered_attribute_in_vjp_raises():
    with pytest.raises(adcompiler.ContainerError) as info:
        _, vjp_fn = adcompiler.vjp(reads_weights, Unregistered(np.eye(2)),
                                   np.ones(2))
        vjp_fn(1.0)
    assert 'register_container(Unregistered' in str(info.value)


@dataclasses.dataclass
class Thermal:
    T: float
    w: np.ndarray


def uses_temperature(p, x):
    return np.sum(p.w * x) / p.T


def test_field_named_like_array_attribute_raises():
    with pytest.raises(adcompiler.ContainerError) as info:
        adcompiler.grad(uses_temperature)(Thermal(2.0, np.ones(2)), np.ones(2))
    assert "field 'T' of Thermal" in str(info.value)
    assert 'Rename the field' in str(info.value)


# Second order ---------------------------------------------------------------------

def builds_and_reads(x):
    frozen = FrozenLayer(W=x * 2.0, b=np.sin(x))
    return np.sum(np.sin(frozen.W) * frozen.b) + np.sum(frozen.b ** 3)


def through_property(x):
    scaled = Scaled(log_scale=x[0], shift=x)
    return np.sum(scaled.shift ** 2) * scaled.scale


def _numerical_hvp(function, x, v, step=1e-5):
    gradient = adcompiler.grad(function)
    return (gradient(x + step * v) - gradient(x - step * v)) / (2 * step)


@pytest.mark.parametrize('x', [np.array([0.3, -0.7]),
                               np.array([1.2, 0.4, -0.5])],
                         ids=['two', 'three'])
def test_hvp_through_fields(x):
    v = np.linspace(1.0, -0.5, x.size)
    product = adcompiler.hvp(builds_and_reads)(x, v)
    np.testing.assert_allclose(product, _numerical_hvp(builds_and_reads, x,
                                                       v), rtol=1e-4,
                               atol=1e-6)


def test_hvp_through_property_raises_or_is_right():
    x, v = np.array([0.3, -0.7]), np.array([1.0, 0.5])
    try:
        product = adcompiler.hvp(through_property)(x, v)
    except adcompiler.AdCompilerError as err:
        assert 'property' in str(err)
        return
    np.testing.assert_allclose(product, _numerical_hvp(through_property, x,
                                                       v), rtol=1e-4,
                               atol=1e-6)


def test_forward_over_reverse_through_property_raises_when_run():
    # The check runs with the generated code, so that a branch that never
    # runs may read a property of a value that carries a derivative.
    x, v = np.array([0.3, -0.7]), np.array([1.0, 0.5])
    with pytest.raises(adcompiler.ContainerError,
                       match='property .scale of Scaled'):
        adcompiler.hvp(through_property, mode='forward-over-reverse')(x, v)


# Hessian-vector products with respect to a container, or to an array that
# passes through one, in each composition of forward and reverse mode.

def pair_tanh_loss(p, x):
    return np.sum(np.tanh(p.w * x + p.b) ** 2)


def layer_tanh_loss(layer, x):
    return np.sum(np.tanh(layer.W @ x + layer.b) ** 2)


def builds_pair_then_reads(x, w):
    p = Pair(w * x, np.cos(x))
    return np.sum(np.tanh(p.w + p.b * w) ** 2)


def replaces_built_pair(x, w):
    p = Pair(w, x)
    q = p._replace(w=p.w * x)
    return np.sum(np.tanh(q.w * x + q.b) ** 2)


def _shifted(tree, direction, step):
    """Return `tree` moved by `step` times `direction`, leaf by leaf."""
    for path in leaf_paths(tree):
        tree = replace_path(tree, path, get_path(tree, path)
                            + step * get_path(direction, path))
    return tree


def _leaves(tree):
    return [np.asarray(get_path(tree, path)) for path in leaf_paths(tree)]


COMPOSITIONS = ['forward-over-reverse', 'reverse-over-forward',
                'reverse-over-reverse']
# (function, args, direction of each argument)
HVP_CASES = [
    pytest.param(pair_tanh_loss, (Pair(RNG.normal(size=3), 0.3),
                                  RNG.normal(size=3)),
                 (Pair(RNG.normal(size=3), 0.4), RNG.normal(size=3)),
                 id='namedtuple'),
    pytest.param(pair_tanh_loss, (Pair(RNG.normal(size=(2, 3)),
                                       RNG.normal(size=3)),
                                  RNG.normal(size=3)),
                 (Pair(RNG.normal(size=(2, 3)), RNG.normal(size=3)),
                  RNG.normal(size=3)), id='namedtuple-broadcast'),
    pytest.param(layer_tanh_loss, (Layer(RNG.normal(size=(3, 2)),
                                         RNG.normal(size=3)),
                                   RNG.normal(size=2)),
                 (Layer(RNG.normal(size=(3, 2)), RNG.normal(size=3)),
                  RNG.normal(size=2)), id='dataclass'),
    pytest.param(builds_pair_then_reads, (RNG.normal(size=3),
                                          RNG.normal(size=3)),
                 (RNG.normal(size=3), RNG.normal(size=3)),
                 id='namedtuple-built'),
    pytest.param(builds_pair_then_reads, (RNG.normal(size=(2, 3)),
                                          RNG.normal(size=3)),
                 (RNG.normal(size=(2, 3)), RNG.normal(size=3)),
                 id='namedtuple-built-broadcast'),
    pytest.param(namedtuple_replaced, (Pair(RNG.normal(size=3),
                                            RNG.normal(size=3)),
                                       RNG.normal(size=3)),
                 (Pair(RNG.normal(size=3), RNG.normal(size=3)),
                  RNG.normal(size=3)), id='namedtuple-replace'),
    pytest.param(replaces_built_pair, (RNG.normal(size=3),
                                       RNG.normal(size=3)),
                 (RNG.normal(size=3), RNG.normal(size=3)),
                 id='namedtuple-built-replace'),
]
# _replace is a method call that the generated code dispatches at run time.
DISPATCHED = {'namedtuple-replace', 'namedtuple-built-replace'}


def _hvp_params():
    for case in HVP_CASES:
        for mode in COMPOSITIONS:
            marks = list(case.marks)
            if case.id in DISPATCHED and mode == 'reverse-over-reverse':
                marks.append(pytest.mark.xfail(
                    strict=True, raises=adcompiler.AdCompilerError,
                    reason='reverse over reverse does not go through calls '
                           'dispatched at run time'))
            yield pytest.param(*case.values, mode, marks=marks,
                               id=f'{case.id}-{mode}')


@pytest.mark.parametrize('function, args, directions, mode',
                         list(_hvp_params()))
def test_container_hvp(function, args, directions, mode):
    step = 1e-5
    for position in range(len(args)):
        direction = directions[position]
        product = adcompiler.hvp(function, wrt=position, mode=mode)(
            *args, direction)
        gradient = adcompiler.grad(function, wrt=position)

        def at(offset):
            moved = list(args)
            moved[position] = _shifted(args[position], direction, offset)
            return _leaves(gradient(*moved))
        expected = [(ahead - behind) / (2 * step)
                    for ahead, behind in zip(at(step), at(-step), strict=True)]
        computed = _leaves(product)
        assert type(product) is type(args[position])
        assert len(computed) == len(expected)
        for leaf, estimate in zip(computed, expected, strict=True):
            assert_gradient_close(leaf, estimate, rtol=1e-4, atol=1e-6)


@dataclasses.dataclass
class PartlyTrained:
    frozen: np.ndarray
    trained: np.ndarray


# Only `trained` is a child; `frozen` is aux data and gets no gradient.
adcompiler.register_container(
    PartlyTrained, lambda p: ((p.trained,), p.frozen),
    lambda frozen, children: PartlyTrained(frozen, children[0]))


def partly_trained(p, x):
    return np.sum(np.sin(p.trained * x) * adcompiler.stop_gradient(p.frozen))


def reads_float_aux(p, x):
    return np.sum(np.sin(p.trained * x) * p.frozen)


def test_float_aux_attribute_raises():
    p = PartlyTrained(np.ones(3), np.ones(3))
    with pytest.raises(adcompiler.ContainerError) as info:
        adcompiler.grad(reads_float_aux)(p, np.ones(3))
    assert 'adcompiler.stop_gradient(obj.frozen)' in str(info.value)


class Repeated:
    def __init__(self, W, repeats):
        self.W = W
        self.repeats = repeats


adcompiler.register_container(
    Repeated, lambda r: ((r.W,), r.repeats),
    lambda repeats, children: Repeated(children[0], repeats))


def reads_int_aux(r, x):
    return np.sum(np.tanh(r.W @ x)) * r.repeats


def test_int_aux_attribute_has_no_gradient():
    args = (Repeated(RNG.normal(size=(2, 3)), 3), RNG.normal(size=3))
    gradient = adcompiler.grad(reads_int_aux)(*args)
    assert_container_gradient_close(reads_int_aux, args, 0, gradient,
                                    constants_are_none=False)
    assert gradient.repeats == 3
    _, tangent = adcompiler.jvp(reads_int_aux, args,
                                (Repeated(np.ones((2, 3)), 3), None))
    expected = numerical_gradient(
        lambda s: reads_int_aux(Repeated(args[0].W + s, 3), args[1]),
        (0.0,), 0)
    assert tangent == pytest.approx(expected, rel=1e-5)


def test_registration_overrides_dataclass_fields():
    p = PartlyTrained(RNG.normal(size=3), RNG.normal(size=3))
    x = RNG.normal(size=3)
    gradient = adcompiler.grad(partly_trained)(p, x)
    assert isinstance(gradient, PartlyTrained)
    np.testing.assert_array_equal(gradient.frozen, p.frozen)
    assert_gradient_close(gradient.trained, numerical_gradient(
        lambda t: partly_trained(PartlyTrained(p.frozen, t), x),
        (p.trained,), 0))


def builds_partly_trained(t, x):
    return partly_trained(PartlyTrained(x, t), x)


def test_registered_dataclass_constructor_is_foreign():
    with pytest.raises(adcompiler.ForeignCallError):
        adcompiler.grad(builds_partly_trained)(np.ones(3), np.ones(3))


class Transposed:
    def __init__(self, T):
        self.T = T


adcompiler.register_container(Transposed, lambda t: ((t.T,), None),
                              lambda aux, children: Transposed(children[0]))


def test_registered_child_named_like_array_attribute_raises():
    def reads_T(p, x):
        return np.sum(p.T @ x)

    with pytest.raises(adcompiler.ContainerError) as info:
        adcompiler.grad(reads_T)(Transposed(np.ones((2, 3))), np.ones(3))
    assert "field 'T' of Transposed" in str(info.value)


def keyword_only_params(x, *, params):
    return np.sum(np.tanh(params.W @ x + params.b))


def test_keyword_only_dataclass_wrt():
    layer = Layer(RNG.normal(size=(3, 2)), RNG.normal(size=3))
    x = RNG.normal(size=2)
    gradient = adcompiler.grad(keyword_only_params, wrt='params')(
        x, params=layer)

    def positional(p, x):
        return keyword_only_params(x, params=p)

    assert_container_gradient_close(positional, (layer, x), 0, gradient)


# check_grads on containers ----------------------------------------------------------

def test_check_grads_on_containers():
    adcompiler.check_grads(builds_outputs)(*VJP_ARGS)
    adcompiler.check_grads(nested_dict)(*CASES[5].values[1])


def test_check_grads_detects_wrong_container_rule():
    def halved(v):
        return v * 1.0

    adcompiler.register_vjp(halved, lambda g, ans, v: (0.5 * g,))

    def uses_halved(p, x):
        return {'out': halved(p.W) @ x}

    with pytest.raises(AssertionError):
        adcompiler.check_grads(uses_halved, modes=('reverse',))(*VJP_ARGS)


def test_registering_after_compiling_recompiles():
    @dataclasses.dataclass
    class Late:
        fixed: np.ndarray
        trained: np.ndarray

    def builds_late(t, x):
        late = Late(x, t)
        return np.sum(late.trained * late.fixed)

    t, x = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    np.testing.assert_allclose(adcompiler.grad(builds_late)(t, x), x)
    adcompiler.register_container(
        Late, lambda p: ((p.trained,), p.fixed),
        lambda fixed, children: Late(fixed, children[0]))
    with pytest.raises(adcompiler.ForeignCallError):
        adcompiler.grad(builds_late)(t, x)


# dict(...), ** in dict displays and copies build new containers --------

def dict_from_keywords(x):
    d = dict(a=x, b=2.0 * x)
    return d['a'] * d['b'] ** 2


def dict_from_pairs(x):
    d = dict([('a', x), ('b', np.sin(x))])
    return d['a'] * d['b']


def dict_from_generator(x):
    d = dict((key, x ** power) for key, power in [('a', 1.0), ('b', 3.0)])
    return d['a'] * d['b']


def dict_unpacked_twice(x):
    first = {'b': 5.0, 'a': 1.0}
    merged = {**first, **{'a': x, 'c': np.exp(x)}, 'b': x * x}
    assert list(merged) == ['b', 'a', 'c']
    return merged['a'] * merged['b'] + merged['c']


def dict_update_advice(x):
    e = {'c': 3.0}
    e = {**e, **{'a': x, 'b': 2.0 * x}}
    return e['a'] * e['b'] * e['c']


def list_copied(x):
    v = [x, 2.0 * x]
    w = copy.copy(v)
    w[0] = w[0] * 3.0
    return w[0] * w[1] + v[0]


def nested_deep_copied(x):
    v = {'p': [x * 1.0, np.sin(x)], 'q': (x, 3.0)}
    w = copy.deepcopy(v)
    w['p'] = [w['p'][0] * 3.0, w['p'][1]]
    return w['p'][0] * w['p'][1] + v['p'][0] * w['q'][0]


def array_copied(x):
    y = np.array([1.0, 2.0, 3.0]) * x
    z = copy.copy(y)
    z[0] = 0.0
    return np.sum(z * y)


CONTAINER_BUILDERS = [
    dict_from_keywords, dict_from_pairs, dict_from_generator,
    dict_unpacked_twice, dict_update_advice, list_copied, nested_deep_copied,
    array_copied]


@pytest.mark.parametrize('function', CONTAINER_BUILDERS)
@pytest.mark.parametrize('x', [0.7, -1.3])
def test_container_builder_derivatives(function, x):
    gradient = adcompiler.grad(function)(x)
    assert_gradient_close(gradient, numerical_gradient(function, (x,), 0))
    _, tangent = adcompiler.jvp(function, (x,), (1.0,))
    assert_gradient_close(tangent, gradient)
    first = adcompiler.grad(function)
    step = 1e-5
    expected = (first(x + step) - first(x - step)) / (2 * step)
    for mode in ('forward-over-reverse', 'reverse-over-forward',
                 'reverse-over-reverse'):
        second = adcompiler.hessian(function, mode=mode)(x)
        assert second == pytest.approx(expected, rel=1e-5, abs=1e-6), mode


def test_dict_keyword_named_like_parameter():
    def function(x):
        d = dict(mapping_or_pairs=x, entries=2.0 * x)
        return d['mapping_or_pairs'] * d['entries']

    assert adcompiler.grad(function)(1.5) == pytest.approx(6.0)


def test_copy_of_object_with_derivative_raises():
    def function(x):
        return copy.copy(Scaled(x, np.ones(2))).log_scale * x

    with pytest.raises(adcompiler.UnsupportedOptionError,
                       match='copy.copy of a Scaled'):
        adcompiler.grad(function)(1.5)


def test_dict_with_two_positional_arguments_raises():
    def function(x):
        return dict({'a': x}, {'b': x})['a']

    with pytest.raises(TypeError):
        function(1.5)
    with pytest.raises(TypeError):
        adcompiler.grad(function)(1.5)


@pytest.mark.parametrize('mapping', [
    collections.OrderedDict(a=0.5, b=np.array([1.0, -2.0])),
    collections.defaultdict(float, a=0.5, b=np.array([1.0, -2.0])),
])
def test_dict_subclass_gradient_keeps_class(mapping):
    def function(d):
        return d['a'] * np.sum(d['b'] ** 2)

    gradient = adcompiler.grad(function)(mapping)
    assert type(gradient) is type(mapping)
    assert_container_gradient_close(function, (mapping,), 0, gradient)


def test_numpy_scalar_gradient_keeps_precision():
    def function(x):
        return np.sum(x * np.exp(0.3))

    gradient = adcompiler.grad(function)(np.float32(0.5))
    assert type(gradient) is np.float32
    assert gradient == pytest.approx(np.exp(0.3), rel=1e-6)


# Operators on lists, tuples and dicts made in the function, rebound with
# an operator and then updated with an augmented assignment.
def list_rebound_then_extended(x):
    values = [x]
    values = values + [x * 2.0]
    values += [x]
    return np.sum(values[0] * values[1] * values[2])


def dict_rebound_then_merged(x):
    table = {'a': x}
    table = table | {'b': x * 2.0}
    table |= {'c': x}
    return np.sum(table['a'] * table['b'] * table['c'])


def dict_merged_with_itself(x):
    table = {'a': x}
    table = table | {'b': x * 2.0}
    table |= table
    return np.sum(table['a'] * table['b'])


def tuple_concatenated_in_loop(x):
    items = ()
    for i in range(3):
        items = items + (x * i,)
    return np.sum(items[2] * items[1]) + np.sum(sum(items))


def list_extended_by_itself(x):
    values = [x]
    values.extend(values)
    values[1] = values[1] * 3.0
    return np.sum(values[0] * values[1])


def tuple_argument_converted(pair):
    doubled = tuple(pair) + tuple(pair)
    return np.sum(doubled[0] * doubled[3])


def list_slices_concatenated(x):
    values = [x, x * 2.0, x * 3.0]
    values = values[:0] + [x * x] + values[2:]
    return np.sum(values[0] * values[1])


def tuple_slices_rotated(x):
    values = (x, np.sin(x), x ** 2)
    rotated = values[1:] + values[:1]
    return np.sum(rotated[0] * rotated[2] + rotated[1])


def list_slices_reversed_and_repeated(x):
    values = [x, 2.0 * x, np.cos(x)]
    values = values[::-1] + values[1:2] * 2
    return np.sum(values[0] * values[3] + values[4])


@pytest.mark.parametrize('function', [
    list_rebound_then_extended, dict_rebound_then_merged,
    dict_merged_with_itself, tuple_concatenated_in_loop,
    list_extended_by_itself, list_slices_concatenated, tuple_slices_rotated,
    list_slices_reversed_and_repeated], ids=lambda f: f.__name__)
def test_container_operator_gradient(function):
    x = np.array([0.5, -1.5, 2.0])
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x.copy()), expected)
    assert_gradient_close(adcompiler.grad(function)(x.copy()), expected)


def test_tuple_argument_converted_gradient():
    x = np.array([0.5, -1.5])
    first, second = adcompiler.grad(tuple_argument_converted)((x, 2.0 * x))
    np.testing.assert_allclose(first, 2.0 * x)
    np.testing.assert_allclose(second, x)


def tuple_argument_concatenated(pair):
    doubled = pair + pair
    return np.sum(doubled[0] * doubled[3])


def test_tuple_argument_concatenation_raises_with_fix():
    # The argument may be an array, so + gets the rule of array addition.
    x = np.array([0.5, -1.5])
    with pytest.raises(TypeError, match=r'tuple\(v\)'):
        adcompiler.grad(tuple_argument_concatenated)((x, 2.0 * x))


def dict_copied_then_merged(x):
    table = {'a': x}
    alias = table
    alias |= {'a': 2.0 * x}
    return np.sum(table['a'])


def test_dict_alias_merge_raises():
    # alias |= ... updates the dict that table also refers to.
    with pytest.raises(adcompiler.UnsupportedSyntaxError, match='alias'):
        adcompiler.grad(dict_copied_then_merged)(np.array([0.5, -1.5]))


def list_repeated_then_written(x):
    values = [x]
    for i in range(2):
        values = values * 2
        values[0] = values[0] * x
    return np.sum(values[0] * values[3])


def test_repeated_list_then_written_gradient():
    # values[0] ends as x ** 3 and values[3] as x, which the repeated list
    # shares with other items: the sum is of x ** 4.
    x = np.array([0.5, -1.5])
    assert_gradient_close(adcompiler.grad(list_repeated_then_written)(x),
                          numerical_gradient(list_repeated_then_written,
                                             (x,), 0))


class Sequence3:
    """A registered container that Python iterates through __getitem__."""

    def __init__(self, values):
        self.values = values

    def __getitem__(self, index):
        return self.values[index]

    def __len__(self):
        return len(self.values)


adcompiler.register_container(Sequence3, lambda s: ((s.values,), None),
                              lambda aux, children: Sequence3(children[0]))


def sum_of_squares_by_loop(s):
    total = 0.0
    for v in s:
        total = total + v * v
    return total


def sum_of_squares_by_index(s):
    total = 0.0
    for i in range(len(s)):
        total = total + s[i] * s[i]
    return total


def test_loop_over_python_getitem_rejected():
    values = np.array([0.3, -0.7, 1.2])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(sum_of_squares_by_loop)(Sequence3(values))
    assert 'for i in range(len(s))' in str(info.value)
    first_line = sum_of_squares_by_loop.__code__.co_firstlineno
    assert info.value.lineno == first_line + 2


def test_loop_over_indices_of_python_getitem():
    values = np.array([0.3, -0.7, 1.2])
    gradient = adcompiler.grad(sum_of_squares_by_index)(Sequence3(values))
    assert isinstance(gradient, Sequence3)
    expected = numerical_gradient(
        lambda v: sum_of_squares_by_index(Sequence3(v)), (values,), 0)
    assert_gradient_close(gradient.values, expected)
