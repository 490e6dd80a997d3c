"""vjp: the function returned runs the adjoint at the primal point.

JAX's vjp is fixed at the primal point: a caller that changes an array,
attribute or global between `vjp(f, x)` and `vjp_fn(ct)` still gets the
cotangents of the function as it was when the primal ran. Each test
changes some state after `vjp`, calls `vjp_fn`, and compares with the
cotangent expected at the primal point (or with a vjp taken after the
change was undone).
"""

import dataclasses

import numpy as np
import pytest

import adcompiler
from tests.finite_differences import assert_gradient_close, numerical_gradient

WEIGHTS = np.ones(3)
PARAMETERS = {'w': np.ones(3)}
LAYERS = [np.ones(3), 2.0]
# Only the tuple refers to its array, and only the views refer to BUFFER
# once the functions that read them return.
WEIGHTS_IN_TUPLE = (np.ones(3),)
BUFFER = np.ones(6)


class Scaled:
    scale = 2.0
    weights = np.ones(3)

    def loss(self, x):
        return np.sum(self.scale * np.sin(self.weights * x))


@dataclasses.dataclass
class Model:
    weights: np.ndarray

    def apply(self, x):
        return np.sum(np.sin(self.weights * x))


def weighted_sum(x):
    return np.sum(np.sin(WEIGHTS * x))


def class_scale(x):
    return Scaled.scale * np.sum(x * x)


def class_weights(x):
    return np.sum(np.sin(Scaled.weights * x))


def model_loss(model, x):
    return np.sum(np.sin(model.weights * x))


def applies_model(model, x):
    # A method of an argument: resolved when the call runs.
    return model.apply(x) * 2.0


def calls_argument(function, x):
    return function(x) * 2.0


def dict_entry(x):
    return np.sum(np.sin(PARAMETERS['w'] * x))


def list_entries(x):
    return np.sum(np.sin(LAYERS[0] * x)) * LAYERS[1]


def tuple_entry(x):
    return np.sum(np.sin(WEIGHTS_IN_TUPLE[0] * x))


def buffer_view(x):
    return np.sum(np.sin(BUFFER[:3] * x))


def helper(x):
    return np.sum(np.sin(WEIGHTS * x))


def calls_helper(x):
    return 3.0 * helper(x)


def squares(x):
    return np.sum(x * x)


def make_closure():
    weights = np.ones(3)

    def closure_loss(x):
        return np.sum(np.sin(weights * x))

    def rebind(value):
        nonlocal weights
        weights = value
    return closure_loss, weights, rebind


def sine_weights_cotangent(weights, x):
    """The cotangent of np.sum(np.sin(weights * x)) for x."""
    return np.cos(weights * x) * weights


X_SHAPES = [(3,), (2, 3), (4, 1, 3)]


def x_of_shape(shape):
    return np.linspace(-0.8, 1.1, int(np.prod(shape))).reshape(shape)


@pytest.fixture
def restore_globals():
    global WEIGHTS
    weights = WEIGHTS.copy()
    parameters = {key: np.copy(value) for key, value in PARAMETERS.items()}
    layers = [np.copy(value) for value in LAYERS]
    scale, class_array = Scaled.scale, Scaled.weights.copy()
    tuple_array, buffer = WEIGHTS_IN_TUPLE[0].copy(), BUFFER.copy()
    yield
    WEIGHTS_IN_TUPLE[0][:] = tuple_array
    BUFFER[:] = buffer
    WEIGHTS = weights
    PARAMETERS.clear()
    PARAMETERS.update(parameters)
    LAYERS[:] = layers
    Scaled.scale, Scaled.weights = scale, class_array


@pytest.mark.parametrize('shape', X_SHAPES)
@pytest.mark.parametrize('function', [weighted_sum, class_weights,
                                      dict_entry, list_entries,
                                      tuple_entry, buffer_view,
                                      calls_helper, class_scale])
def test_unchanged_state_matches_finite_differences(function, shape,
                                                    restore_globals):
    x = x_of_shape(shape)
    out, vjp_fn = adcompiler.vjp(function, x)
    computed, = vjp_fn(1.0)
    assert out == pytest.approx(function(x))
    assert_gradient_close(computed, numerical_gradient(function, (x,), 0))


@pytest.mark.parametrize('shape', X_SHAPES)
def test_global_array_changed_in_place(shape, restore_globals):
    x = x_of_shape(shape)
    _, vjp_fn = adcompiler.vjp(weighted_sum, x)
    WEIGHTS[:] = 5.0
    computed, = vjp_fn(1.0)
    assert_gradient_close(computed, sine_weights_cotangent(np.ones(3), x))


def test_global_array_rebound(restore_globals):
    global WEIGHTS
    x = x_of_shape((2, 3))
    _, vjp_fn = adcompiler.vjp(weighted_sum, x)
    WEIGHTS = np.full(3, 5.0)
    computed, = vjp_fn(1.0)
    assert_gradient_close(computed, sine_weights_cotangent(np.ones(3), x))


def test_argument_changed_in_place():
    x = x_of_shape((2, 3))
    primal_x = x.copy()
    _, vjp_fn = adcompiler.vjp(squares, x)
    x[:] = 7.0
    computed, = vjp_fn(1.0)
    assert_gradient_close(computed, 2.0 * primal_x)


def test_class_attribute_rebound(restore_globals):
    x = x_of_shape((3,))
    _, vjp_fn = adcompiler.vjp(class_scale, x)
    Scaled.scale = 5.0
    computed, = vjp_fn(1.0)
    assert_gradient_close(computed, 4.0 * x)


@pytest.mark.parametrize('change', ['in place', 'rebound'])
def test_class_array_changed(change, restore_globals):
    x = x_of_shape((2, 3))
    _, vjp_fn = adcompiler.vjp(class_weights, x)
    if change == 'in place':
        Scaled.weights[:] = 5.0
    else:
        Scaled.weights = np.full(3, 5.0)
    computed, = vjp_fn(1.0)
    assert_gradient_close(computed, sine_weights_cotangent(np.ones(3), x))


@pytest.mark.parametrize('change', ['scale', 'weights in place'])
def test_method_attributes_changed(change, restore_globals):
    x = x_of_shape((3,))
    _, vjp_fn = adcompiler.vjp(Scaled().loss, x)
    if change == 'scale':
        Scaled.scale = 5.0
    else:
        Scaled.weights[:] = 5.0
    computed, = vjp_fn(1.0)
    assert_gradient_close(computed,
                          2.0 * sine_weights_cotangent(np.ones(3), x))


@pytest.mark.parametrize('change', ['in place', 'rebound'])
def test_argument_attribute_changed(change):
    model = Model(np.ones(3))
    x = x_of_shape((2, 3))
    _, vjp_fn = adcompiler.vjp(lambda x: model_loss(model, x), x)
    _, method_vjp_fn = adcompiler.vjp(
        lambda model, x: model_loss(model, x), model, x)
    if change == 'in place':
        model.weights[:] = 5.0
    else:
        model.weights = np.full(3, 5.0)
    computed, = vjp_fn(1.0)
    assert_gradient_close(computed, sine_weights_cotangent(np.ones(3), x))
    model_cotangent, computed = method_vjp_fn(1.0)
    assert_gradient_close(computed, sine_weights_cotangent(np.ones(3), x))
    assert_gradient_close(model_cotangent.weights, np.sum(
        np.cos(x) * x, axis=0))


@pytest.mark.parametrize('change', ['in place', 'rebound'])
@pytest.mark.parametrize('caller', [
    lambda model, x: applies_model(model, x),
    lambda model, x: calls_argument(model.apply, x)])
def test_call_resolved_at_run_time(caller, change):
    model = Model(np.ones(3))
    x = x_of_shape((2, 3))
    _, vjp_fn = adcompiler.vjp(lambda x: caller(model, x), x)
    if change == 'in place':
        model.weights[:] = 5.0
    else:
        model.weights = np.full(3, 5.0)
    for _ in range(2):
        computed, = vjp_fn(1.0)
        assert_gradient_close(computed,
                              2.0 * sine_weights_cotangent(np.ones(3), x))


@pytest.mark.parametrize('change', ['in place', 'rebound'])
def test_closure_variable_changed(change):
    closure_loss, weights, rebind = make_closure()
    x = x_of_shape((2, 3))
    _, vjp_fn = adcompiler.vjp(closure_loss, x)
    if change == 'in place':
        weights[:] = 5.0
    else:
        rebind(np.full(3, 5.0))
    computed, = vjp_fn(1.0)
    assert_gradient_close(computed, sine_weights_cotangent(np.ones(3), x))


@pytest.mark.parametrize('change', ['in place', 'rebound'])
def test_dict_entry_changed(change, restore_globals):
    x = x_of_shape((2, 3))
    _, vjp_fn = adcompiler.vjp(dict_entry, x)
    if change == 'in place':
        PARAMETERS['w'][:] = 5.0
    else:
        PARAMETERS['w'] = np.full(3, 5.0)
    computed, = vjp_fn(1.0)
    assert_gradient_close(computed, sine_weights_cotangent(np.ones(3), x))


def test_list_entries_changed(restore_globals):
    x = x_of_shape((2, 3))
    _, vjp_fn = adcompiler.vjp(list_entries, x)
    LAYERS[0][:] = 5.0
    LAYERS[1] = 7.0
    computed, = vjp_fn(1.0)
    assert_gradient_close(computed,
                          2.0 * sine_weights_cotangent(np.ones(3), x))


@pytest.mark.parametrize('function, weights', [
    (tuple_entry, lambda: WEIGHTS_IN_TUPLE[0]),
    (buffer_view, lambda: BUFFER)])
def test_array_reached_through_container_changed(function, weights,
                                                 restore_globals):
    x = x_of_shape((2, 3))
    _, vjp_fn = adcompiler.vjp(function, x)
    weights()[:] = 5.0
    computed, = vjp_fn(1.0)
    assert_gradient_close(computed, sine_weights_cotangent(np.ones(3), x))


def test_global_of_called_function_changed(restore_globals):
    x = x_of_shape((2, 3))
    _, vjp_fn = adcompiler.vjp(calls_helper, x)
    WEIGHTS[:] = 5.0
    computed, = vjp_fn(1.0)
    assert_gradient_close(computed,
                          3.0 * sine_weights_cotangent(np.ones(3), x))


def test_change_undone_matches_fresh_vjp(restore_globals):
    x = x_of_shape((4, 1, 3))
    _, vjp_fn = adcompiler.vjp(class_weights, x)
    Scaled.weights[:] = 5.0
    changed, = vjp_fn(0.5)
    Scaled.weights[:] = 1.0
    _, fresh_vjp_fn = adcompiler.vjp(class_weights, x)
    fresh, = fresh_vjp_fn(0.5)
    assert_gradient_close(changed, fresh)


def doubles_first_entry(x):
    y = x.copy()
    # The adjoint undoes this update, so each cotangent after the first
    # runs the primal again.
    y[0] = y[0] * 2.0
    return np.sum(np.sin(WEIGHTS * y)) * Scaled.scale


def doubled_entry_cotangent(x):
    factor = np.ones_like(x)
    factor[0] = 2.0
    return np.cos(factor * x) * factor * 2.0


@pytest.mark.parametrize('shape', X_SHAPES)
def test_rerun_matches_finite_differences(shape, restore_globals):
    x = x_of_shape(shape)
    _, vjp_fn = adcompiler.vjp(doubles_first_entry, x)
    expected = numerical_gradient(doubles_first_entry, (x,), 0)
    for _ in range(2):
        computed, = vjp_fn(1.0)
        assert_gradient_close(computed, expected)


def test_rerun_after_changes_uses_primal_point(restore_globals):
    x = x_of_shape((2, 3))
    primal_x = x.copy()
    _, vjp_fn = adcompiler.vjp(doubles_first_entry, x)
    first, = vjp_fn(1.0)
    WEIGHTS[:] = 5.0
    x[:] = 7.0
    second, = vjp_fn(1.0)
    third, = vjp_fn(1.0)
    expected = doubled_entry_cotangent(primal_x)
    assert_gradient_close(first, expected)
    assert_gradient_close(second, expected)
    assert_gradient_close(third, expected)
    np.testing.assert_array_equal(WEIGHTS, np.full(3, 5.0))
    np.testing.assert_array_equal(x, np.full((2, 3), 7.0))


def test_rerun_of_called_function_after_change(restore_globals):
    x = x_of_shape((2, 3))
    _, vjp_fn = adcompiler.vjp(calls_helper, x)
    vjp_fn(1.0)
    WEIGHTS[:] = 5.0
    computed, = vjp_fn(1.0)
    assert_gradient_close(computed,
                          3.0 * sine_weights_cotangent(np.ones(3), x))


def test_rerun_after_class_attribute_change_raises(restore_globals):
    x = x_of_shape((3,))
    _, vjp_fn = adcompiler.vjp(doubles_first_entry, x)
    vjp_fn(1.0)
    Scaled.scale = 5.0
    with pytest.raises(adcompiler.ChangedStateError,
                       match='returned another value when vjp_fn ran it'):
        vjp_fn(1.0)
