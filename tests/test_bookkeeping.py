"""Bookkeeping that carries no derivative runs as written: stores into
containers held by globals and attributes, histories, logging and
f-strings. The same statements with a value that carries a derivative
raise an error at their line.

Gradients are checked against central differences in reverse mode (grad)
and forward mode (jvp). The tests also check that the bookkeeping effects
happen once per evaluation.
"""

import collections
import dataclasses
import inspect
import io
import logging

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

RNG = np.random.default_rng(7)

COUNTER = collections.Counter()
SHAPE_CACHE = {}
WEIGHTS = np.ones(3)


def line_of(function, marker):
    """Return the file line number of the one line of `function` with
    `marker`."""
    lines, first = inspect.getsourcelines(function)
    matches = [first + i for i, line in enumerate(lines) if marker in line]
    assert len(matches) == 1, f'{marker!r} must occur once in {function}'
    return matches[0]


def check_both_modes(function, x):
    """Check grad and jvp of `function` at `x` against central
    differences."""
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)
    direction = RNG.normal(size=np.shape(x))
    _, tangent = adcompiler.jvp(function, (x,), (direction,))
    np.testing.assert_allclose(tangent, np.sum(expected * direction),
                               rtol=1e-5, atol=1e-6)


def rejected(function, x, mode):
    """Return the AdCompilerError that `mode` raises for `function` at
    `x`."""
    with pytest.raises(adcompiler.AdCompilerError) as info:
        if mode == 'reverse':
            adcompiler.grad(function)(x)
        else:
            adcompiler.jvp(function, (x,), (np.ones_like(x),))
    return info.value


# Stores into containers held by globals and attributes -----------------------

def counts_calls(x):
    COUNTER['calls'] += 1
    return np.sum(np.sin(x) * x)


def caches_by_shape(x):
    if x.shape not in SHAPE_CACHE:
        SHAPE_CACHE[x.shape] = np.ones(x.shape)
    return np.sum(x * x * SHAPE_CACHE[x.shape])


@dataclasses.dataclass
class Layer:
    w: np.ndarray
    cache: dict = dataclasses.field(default_factory=dict)

    def __call__(self, v):
        self.cache['last_shape'] = v.shape
        return np.tanh(self.w * v)


LAYER = Layer(np.array([0.5, -1.5, 2.0]))


def through_global_layer(x):
    return np.sum(LAYER(x))


def layer_loss(layer, x):
    return np.sum(layer(x) ** 2)


def stores_derivative_in_global(x):
    SHAPE_CACHE['last'] = x * 2.0
    return np.sum(x)


def stores_derivative_in_attribute(x):
    LAYER.cache['last'] = np.sum(x)
    return np.sum(x)


def writes_global_array(x):
    y = np.sum(x * WEIGHTS)
    WEIGHTS[0] = 5.0
    return y


@pytest.mark.parametrize('shape', [(3,), (2, 3)], ids=['vector', 'matrix'])
def test_global_counter_item_counts_each_evaluation(shape):
    before = COUNTER['calls']
    check_both_modes(counts_calls, RNG.normal(size=shape))
    # numerical_gradient evaluates the function itself, not through
    # adcompiler; grad and jvp add one each.
    evaluations = 2 + 2 * int(np.prod(shape))
    assert COUNTER['calls'] == before + evaluations


@pytest.mark.parametrize('shape', [(3,), (4, 2)], ids=['vector', 'matrix'])
def test_global_cache_item_store_runs(shape):
    SHAPE_CACHE.clear()
    check_both_modes(caches_by_shape, RNG.normal(size=shape))
    assert list(SHAPE_CACHE) == [shape]


def test_attribute_cache_store_runs():
    LAYER.cache.clear()
    check_both_modes(through_global_layer, np.array([0.3, -0.7, 1.1]))
    assert LAYER.cache == {'last_shape': (3,)}


@pytest.mark.parametrize('shape', [(3,), (2, 3)], ids=['vector', 'matrix'])
def test_attribute_cache_store_in_differentiated_model(shape):
    layer = Layer(RNG.normal(size=3))
    x = RNG.normal(size=shape)
    gradient = adcompiler.grad(layer_loss)(layer, x)
    expected = numerical_gradient(lambda w: layer_loss(Layer(w), x),
                                  (layer.w,), 0)
    assert_gradient_close(gradient.w, expected)
    assert layer.cache['last_shape'] == shape


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
@pytest.mark.parametrize('function, line_text, words', [
    (stores_derivative_in_global, "SHAPE_CACHE['last'] = x * 2.0",
     'carries a derivative'),
    (stores_derivative_in_attribute, "LAYER.cache['last'] = np.sum(x)",
     'carries a derivative'),
    (writes_global_array, 'WEIGHTS[0] = 5.0', 'an array that a global'),
], ids=['global-dict', 'attribute-dict', 'global-array'])
def test_store_outside_rejected_at_line(function, line_text, words, mode):
    error = rejected(function, np.array([0.3, -0.7, 1.1]), mode)
    assert isinstance(error, adcompiler.UnsupportedSyntaxError)
    assert error.filename == __file__
    assert error.lineno == line_of(function, line_text)
    assert words in str(error)
    assert WEIGHTS[0] == 1.0


# A loss history in a global list -------------------------------------------

HISTORY = []


def appends_float_of_loss(x):
    loss = np.sum(x ** 2)
    HISTORY.append(float(loss))
    return loss


def appends_loss_without_derivative(x):
    loss = np.sum(x ** 2)
    HISTORY.append(adcompiler.stop_gradient(loss))
    return loss


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_history_append_suggests_stop_gradient(mode):
    error = rejected(appends_float_of_loss, np.array([0.3, -0.7, 1.1]), mode)
    assert isinstance(error, adcompiler.ForeignCallError)
    assert error.lineno == line_of(appends_float_of_loss,
                                   'HISTORY.append(float(loss))')
    assert 'method of a built-in type' in error.reason
    assert ('HISTORY.append(adcompiler.stop_gradient(float(loss)))'
            in str(error))
    assert 'adcompiler.non_differentiable(HISTORY.append)' in str(error)


def test_history_append_of_stop_gradient_runs():
    HISTORY.clear()
    x = np.array([0.3, -0.7, 1.1])
    check_both_modes(appends_loss_without_derivative, x)
    assert len(HISTORY) >= 2
    assert float(HISTORY[0]) == pytest.approx(np.sum(x ** 2))


# A global counter next to a history list argument ---------------------------

STEP = 0
# A module-level list, as a script's top-level `history = []` is.
MODULE_HISTORY = []
RECENT_HISTORY = []
TRACE = []


def counts_steps_and_appends(w, x, history):
    global STEP
    STEP += 1
    loss = np.sum((w * x) ** 2)
    history.append(loss)
    return loss


def counts_steps_and_reads_global_list(w, x, history):
    global STEP
    STEP += 1
    history.append(np.sum(w))
    return np.sum(w * x) * len(RECENT_HISTORY)


def appends_then_rebinds_global_list(w, x, history):
    global TRACE
    history.append(np.sum(w))
    TRACE = TRACE + [1.0]
    return np.sum(w * x) * len(TRACE)


@pytest.mark.parametrize('shape', [(2,), (2, 3), (4, 1)],
                         ids=['vector', 'matrix', 'column'])
def test_global_counter_with_module_list_argument(shape):
    """The module's globals dict, which `global STEP` is read through,
    was searched whole, so the caller's module-level list counted as a
    global that the function reads."""
    w = RNG.normal(size=shape)
    x = RNG.normal(size=shape)
    MODULE_HISTORY.clear()
    steps_before = STEP
    gradient = adcompiler.grad(counts_steps_and_appends)(w, x, MODULE_HISTORY)
    expected = numerical_gradient(
        lambda w: counts_steps_and_appends(w, x, []), (w,), 0)
    assert_gradient_close(gradient, expected)
    assert len(MODULE_HISTORY) == 1
    assert float(MODULE_HISTORY[0]) == pytest.approx(np.sum((w * x) ** 2))
    # One step from grad, plus those of the finite differences.
    assert STEP == steps_before + 1 + 2 * w.size


@pytest.mark.parametrize('function, shared', [
    (counts_steps_and_reads_global_list, 'RECENT_HISTORY'),
    (appends_then_rebinds_global_list, 'TRACE'),
], ids=['global-read', 'global-declared'])
def test_list_argument_read_as_global_rejected(function, shared):
    """The function reads the list it appends to through a global too, so
    a copy of the argument would hide the append from that read."""
    history = globals()[shared]
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match="updates 'history' in place"):
        adcompiler.grad(function)(np.ones(2), np.ones(2), history)
    assert history == []


# Updates of lists and dicts that attributes hold -----------------------------

@dataclasses.dataclass
class Simulation:
    k: float
    log: list = dataclasses.field(default_factory=list)

    def run(self, x):
        for step in range(3):
            x = x - self.k * x
            self.log.append(step)
        return x


def simulation_built_inside(k, x):
    simulation = Simulation(k)
    return np.sum(simulation.run(x) ** 2)


def simulation_passed(simulation, x):
    return np.sum(simulation.run(x) ** 2)


@dataclasses.dataclass
class Record:
    w: np.ndarray
    parts: list
    table: dict


def appends_then_reads_back(record, x):
    record.parts.append(len(record.parts))
    record.parts.extend([3, 4])
    record.table['count'] = 2
    return (np.sum(record.parts[0] * x) * record.parts[-1]
            + record.parts[1] * record.table['count']
            + np.sum(record.table['w'] * record.w))


def record_built_inside(w, x):
    record = Record(w, [w * 2.0], {'w': w ** 2})
    return appends_then_reads_back(record, x)


def replaces_item_with_derivative(w, x):
    record = Record(w, [w], {'w': w})
    record.table['w'] = 3.0
    return np.sum(record.table['w'] * x + record.w)


def appends_value_with_derivative(w, x):
    record = Record(w, [], {})
    record.parts.append(w * 2.0)
    return np.sum(record.parts[0] * x)


@pytest.mark.parametrize('shape', [(2,), (2, 3)], ids=['vector', 'matrix'])
def test_attribute_log_append_built_inside(shape):
    """`self.log.append(step)` with an int step was rejected as an
    assignment of a shared value."""
    x = RNG.normal(size=shape)
    k = 0.1
    gradient = adcompiler.grad(simulation_built_inside)(k, x)
    expected = numerical_gradient(simulation_built_inside, (k, x), 0)
    assert_gradient_close(gradient, expected)
    _, tangent = adcompiler.jvp(simulation_built_inside, (k, x), (1.0, None))
    assert_gradient_close(tangent, expected)


@pytest.mark.parametrize('shape', [(2,), (2, 3)], ids=['vector', 'matrix'])
def test_attribute_log_append_differentiated(shape):
    x = RNG.normal(size=shape)
    simulation = Simulation(0.1)
    gradient = adcompiler.grad(simulation_passed)(simulation, x)
    expected = numerical_gradient(
        lambda k: simulation_passed(Simulation(k), x), (0.1,), 0)
    assert_gradient_close(gradient.k, expected)
    assert simulation.log == [0, 1, 2]
    gradient_x = adcompiler.grad(simulation_passed, wrt='x')(simulation, x)
    assert_gradient_close(gradient_x, numerical_gradient(
        lambda x: simulation_passed(Simulation(0.1), x), (x,), 0))
    assert simulation.log == [0, 1, 2] * 2


@pytest.mark.parametrize('shape', [(3,), (2, 3), (1, 3)],
                         ids=['vector', 'matrix', 'row'])
def test_attribute_updates_read_back(shape):
    """Items added at the end of a list or under a new key carry no
    derivative, and the items that were there keep theirs."""
    w = RNG.normal(size=shape)
    x = RNG.normal(size=shape)
    for position in (0, 1):
        expected = numerical_gradient(record_built_inside, (w, x), position)
        gradient = adcompiler.grad(record_built_inside, wrt=position)(w, x)
        assert_gradient_close(gradient, expected)
        direction = RNG.normal(size=shape)
        tangents = (direction, None) if position == 0 else (None, direction)
        _, tangent = adcompiler.jvp(record_built_inside, (w, x), tangents)
        np.testing.assert_allclose(tangent, np.sum(expected * direction),
                                   rtol=1e-5, atol=1e-6)


def test_attribute_updates_of_differentiated_record():
    w = np.array([0.5, -1.0, 2.0])
    x = np.array([1.0, 2.0, 3.0])
    record = Record(w, [w * 1.0], {'w': w ** 2})
    gradient = adcompiler.grad(appends_then_reads_back)(record, x)
    assert_gradient_close(gradient.parts[0], 4.0 * x)
    assert_gradient_close(gradient.table['w'], w)
    assert_gradient_close(gradient.w, w ** 2)
    assert record.parts[1:] == [1, 3, 4]
    assert record.table['count'] == 2


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_attribute_store_replacing_derivative_rejected(mode):
    """The store ran as written, and the read after it got the derivative
    of the replaced item: 4.0 in place of 1.0."""
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        if mode == 'reverse':
            adcompiler.grad(replaces_item_with_derivative)(2.0, np.ones(2))
        else:
            adcompiler.jvp(replaces_item_with_derivative, (2.0, np.ones(2)),
                           (1.0, None))
    assert 'replaces an item that may carry a derivative' in str(info.value)
    assert info.value.lineno == line_of(replaces_item_with_derivative,
                                        "record.table['w'] = 3.0")


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_attribute_append_with_derivative_rejected(mode):
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        if mode == 'reverse':
            adcompiler.grad(appends_value_with_derivative)(np.ones(2),
                                                           np.ones(2))
        else:
            adcompiler.jvp(appends_value_with_derivative,
                           (np.ones(2), np.ones(2)), (np.ones(2), None))
    message = str(info.value)
    assert 'adding a value that carries a derivative to record.parts' \
        in message
    assert 'stop_gradient' in message
    assert info.value.lineno == line_of(appends_value_with_derivative,
                                        'record.parts.append(w * 2.0)')


# A call counter of a differentiated model ------------------------------------

MODEL_CALLS = 0


class CountingModel:
    def __init__(self, w):
        self.w = w
        self.calls = 0

    def loss(self, x):
        self.calls += 1
        return np.sum((self.w * x) ** 2)

    def loss_counted_globally(self, x):
        global MODEL_CALLS
        MODEL_CALLS += 1
        return np.sum((self.w * x) ** 2)


adcompiler.register_container(
    CountingModel, lambda model: ((model.w,), None),
    lambda aux, children: CountingModel(*children))


def model_loss(model, x):
    return model.loss(x)


def model_loss_counted_globally(model, x):
    return model.loss_counted_globally(x)


def test_attribute_counter_of_differentiated_model_message():
    """The message was only 'augmented assignment to an attribute is not
    supported', with no reason and no fix."""
    model = CountingModel(np.array([1.0, 2.0]))
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(model_loss)(model, np.array([3.0, 4.0]))
    error = info.value
    assert error.lineno == line_of(CountingModel.loss, 'self.calls += 1')
    assert 'does not follow derivatives through attributes' in error.reason
    assert 'global CALLS' in error.fixes[0]


@pytest.mark.parametrize('shape', [(2,), (3, 2)], ids=['vector', 'matrix'])
def test_global_counter_of_differentiated_model(shape):
    w = RNG.normal(size=shape[-1:])
    x = RNG.normal(size=shape)
    calls_before = MODEL_CALLS
    gradient = adcompiler.grad(model_loss_counted_globally)(
        CountingModel(w), x)
    assert MODEL_CALLS == calls_before + 1
    assert_gradient_close(gradient.w, numerical_gradient(
        lambda w: model_loss_counted_globally(CountingModel(w), x), (w,), 0))


# Logging and f-strings -----------------------------------------------------

LOG = logging.getLogger(__name__)


def logs_through_logger(x):
    loss = np.sum(np.sin(x) * x)
    LOG.info('loss %s', loss)
    LOG.debug('loss %.3f of %d values', loss, x.size)
    return loss


def prints_formatted_calls(x):
    loss = np.sum(x ** 2)
    print(f'loss {loss:.3f}, max {np.max(x):.3f}, mean {x.mean():{5}.{2}f}')
    return loss


def unused_formatted_call(x):
    label = f'{x.sum():.3f} over {len(x)}'
    return np.sum(np.cos(x) * x)


def formatted_call_in_result(x):
    return float(f'{np.sum(x):.6f}') * np.sum(x)


@pytest.mark.parametrize('shape', [(3,), (2, 3)], ids=['vector', 'matrix'])
def test_logger_method_runs(shape, caplog):
    x = RNG.normal(size=shape)
    check_both_modes(logs_through_logger, x)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger=__name__):
        adcompiler.grad(logs_through_logger)(x)
    messages = [r.getMessage() for r in caplog.records]
    loss = np.sum(np.sin(x) * x)
    assert messages == [f'loss {loss}', f'loss {loss:.3f} of {x.size} values']


@pytest.mark.parametrize('function', [prints_formatted_calls,
                                      unused_formatted_call])
@pytest.mark.parametrize('shape', [(3,), (2, 3)], ids=['vector', 'matrix'])
def test_fstring_with_calls_runs(function, shape, capsys):
    x = RNG.normal(size=shape)
    check_both_modes(function, x)
    capsys.readouterr()
    adcompiler.jvp(function, (x,), (x,))
    lines = capsys.readouterr().out.splitlines()
    if function is prints_formatted_calls:
        assert lines == [f'loss {np.sum(x ** 2):.3f}, max {np.max(x):.3f}, '
                         f'mean {x.mean():5.2f}']
    else:
        assert lines == []


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_fstring_text_in_result_rejected(mode):
    error = rejected(formatted_call_in_result, np.array([0.3, -0.7, 1.1]),
                     mode)
    assert error.lineno == line_of(formatted_call_in_result, "float(f'")


# with blocks over a new file ---------------------------------------------------

LOG_FILE = {'path': None}


def logs_loss_to_file(x):
    loss = np.sum(x * x)
    with open(LOG_FILE['path'], 'a') as log:
        log.write(f'loss {loss:.3f}\n')
    return loss


def logs_loss_to_text_buffer(x):
    loss = np.sum(np.sin(x))
    with io.StringIO() as log:
        log.write(f'loss {loss:.3f}')
        log.write(str(x))
    return loss


def computes_inside_file_block(x):
    with io.StringIO() as log:
        loss = np.sum(x * x)
        log.write(str(loss))
    return loss


@pytest.mark.parametrize('shape', [(3,), (2, 3)], ids=['vector', 'matrix'])
def test_with_block_that_only_logs_runs(shape, tmp_path):
    """A with block over open() or io.StringIO whose body only writes
    the loss was rejected as a context manager that is not a settings
    one."""
    LOG_FILE['path'] = str(tmp_path / 'loss.log')
    x = RNG.normal(size=shape)
    check_both_modes(logs_loss_to_file, x)
    check_both_modes(logs_loss_to_text_buffer, x)
    lines = (tmp_path / 'loss.log').read_text().splitlines()
    # grad and jvp write one line each, and the finite differences more.
    assert len(lines) >= 2
    assert lines[0] == f'loss {np.sum(x * x):.3f}'


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_with_block_that_computes_rejected(mode):
    error = rejected(computes_inside_file_block, np.array([0.3, -0.7]), mode)
    assert isinstance(error, adcompiler.UnsupportedSyntaxError)
    assert 'with statement' in str(error)
