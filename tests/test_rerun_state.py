"""State beyond plain containers across the runs of jacobian, hessian and
hvp: array.array, attributes of container subclasses, __slots__, stateful
callables, write-only files, and the globals and closure variables of the
differentiated function.

Each run must start from the state before the first run, or the transform
must raise. The expected values are central finite differences of the
function, with fresh state for each evaluation.
"""

import array
import functools
import io

import numpy as np
import pytest

import adcompiler
from adcompiler.api import InvalidArgumentError
from adcompiler.argument_state import same_output
from finite_differences import assert_gradient_close, numerical_gradient

MODES = ['forward', 'reverse']
HESSIAN_MODES = ['forward-over-reverse', 'reverse-over-forward',
                 'reverse-over-reverse']


class TaggedList(list):
    """A list with a run counter as an attribute."""


class TaggedDict(dict):
    """A dict with a run counter as an attribute."""


class SlottedCounter:
    __slots__ = ('count', '__hidden')

    def __init__(self):
        self.count = 1.0
        self.__hidden = 0.0

    def advance(self):
        self.__hidden = self.__hidden + 1.0
        self.count = self.count + self.__hidden
        return self.count


class Accumulator:
    def __init__(self):
        self.total = 0.0

    def add(self):
        self.total += 1.0
        return self.total


def make_counting_closure():
    count = 0.0

    def tick():
        nonlocal count
        count += 1.0
        return count
    return tick


def make_default_list_closure():
    def tick(seen=[]):
        seen.append(1.0)
        return float(len(seen))
    return tick


def pops_array(x, values):
    return np.sin(x) * values.pop()


def appends_array(x, values):
    values.append(2.0)
    return np.sin(x) * sum(values)


def counts_in_list_attribute(x, values):
    values.count = values.count + 1.0
    return np.sin(x) * values.count


def counts_in_slots(x, counter):
    return np.sin(x) * counter.advance()


def calls_counter(x, tick):
    return np.sin(x) * tick()


def grows_object_array_item(x, holder):
    holder[0].append(1.0)
    return np.sin(x) * len(holder[0])


def make_tagged_list():
    values = TaggedList([1.0])
    values.count = 1.0
    return values


def make_tagged_dict():
    values = TaggedDict(a=1.0)
    values.count = 1.0
    return values


def make_object_array():
    holder = np.empty(2, dtype=object)
    holder[0] = [1.0]
    holder[1] = [2.0]
    return holder


def make_partial():
    return functools.partial(list.pop, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])


RESTORED = {
    'array.array pop': (
        pops_array, lambda: array.array('d', range(1, 30))),
    'array.array append': (
        appends_array, lambda: array.array('d', [1.0])),
    'list subclass attribute': (counts_in_list_attribute, make_tagged_list),
    'dict subclass attribute': (counts_in_list_attribute, make_tagged_dict),
    '__slots__': (counts_in_slots, SlottedCounter),
    'closure nonlocal': (calls_counter, make_counting_closure),
    'closure default list': (calls_counter, make_default_list_closure),
    'bound method': (calls_counter, lambda: Accumulator().add),
    'builtin bound method': (
        calls_counter, lambda: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0].pop),
    'functools.partial': (calls_counter, make_partial),
    'object array item': (grows_object_array_item, make_object_array),
}


def numerical_jacobian(function, make, x):
    """Central differences, each evaluation with a fresh stateful argument."""
    rows = []
    for index in np.ndindex(x.shape):
        def entry(y, index=index):
            return function(y, make())[index]
        rows.append(numerical_gradient(entry, [x], 0))
    return np.reshape(rows, x.shape + x.shape)


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('shape', [(3,), (2, 3)])
@pytest.mark.parametrize('case', sorted(RESTORED))
def test_hidden_state_jacobian(case, shape, mode):
    function, make = RESTORED[case]
    x = np.random.default_rng(3).uniform(-1.0, 1.0, size=shape)
    jacobian = adcompiler.jacobian(function, mode=mode)(x, make())
    assert_gradient_close(jacobian, numerical_jacobian(function, make, x))


@pytest.mark.parametrize('case', sorted(RESTORED))
def test_hidden_state_ends_after_one_call(case):
    function, make = RESTORED[case]
    x = np.array([0.3, 0.9, -0.4])
    argument, reference = make(), make()
    adcompiler.jacobian(function, mode='forward')(x, argument)
    function(x, reference)
    np.testing.assert_array_equal(function(x, argument),
                                  function(x, reference))


def slots_total(x, counter):
    return np.sum(np.sin(x) * x) * counter.advance()


def closure_total(x, tick):
    return np.sum(np.sin(x) * x) * tick()


def array_total(x, values):
    return np.sum(np.sin(x) * x) * values.pop()


@pytest.mark.parametrize('mode', HESSIAN_MODES)
@pytest.mark.parametrize('function, make', [
    (slots_total, SlottedCounter),
    (closure_total, make_counting_closure),
    (closure_total, lambda: Accumulator().add),
    (array_total, lambda: array.array('d', range(1, 30))),
])
def test_hidden_state_hessian(function, make, mode):
    x = np.array([0.3, 0.9, -0.4])
    hessian = adcompiler.hessian(function, mode=mode)(x, make())
    gradient = adcompiler.grad(function)
    rows = []
    for index in range(x.size):
        def entry(y, index=index):
            return gradient(y, make())[index]
        rows.append(numerical_gradient(entry, [x], 0))
    assert_gradient_close(hessian, np.array(rows))


def test_hidden_state_hvp():
    x = np.array([0.3, 0.9, -0.4])
    direction = np.array([1.0, -2.0, 0.5])
    product = adcompiler.hvp(closure_total)(x, make_counting_closure(),
                                            direction)
    gradient = adcompiler.grad(closure_total)
    expected = numerical_gradient(
        lambda y: np.dot(gradient(y, make_counting_closure()), direction),
        [x], 0)
    assert_gradient_close(product, expected)


RUN_LOG = []


def logs_to_global(x):
    RUN_LOG.append(1.0)
    return np.sin(x) * len(RUN_LOG)


def calls_global_helper(x):
    return np.sin(x) * logs_through_helper()


def logs_through_helper():
    RUN_LOG.append(1.0)
    return float(len(RUN_LOG))


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('function', [logs_to_global, calls_global_helper])
def test_global_state_jacobian(function, mode):
    x = np.array([0.3, 0.9, -0.4])
    RUN_LOG[:] = [1.0]
    jacobian = adcompiler.jacobian(function, mode=mode)(x)
    # The log ends as after one run.
    assert len(RUN_LOG) == 2
    assert_gradient_close(jacobian, np.diag(np.cos(x) * 2.0))


@pytest.mark.parametrize('mode', HESSIAN_MODES)
def test_global_state_hessian(mode):
    def total(x):
        return np.sum(logs_to_global(x) * x)
    x = np.array([0.3, 0.9, -0.4])
    RUN_LOG[:] = [1.0]
    hessian = adcompiler.hessian(total, mode=mode)(x)
    expected = np.diag(2.0 * (2.0 * np.cos(x) - x * np.sin(x)))
    assert len(RUN_LOG) == 2
    assert_gradient_close(hessian, expected)


def logs_and_updates(x):
    RUN_LOG.append(1.0)
    y = x.copy()
    # The adjoint undoes this update, so a second cotangent runs the
    # primal again.
    y[0] = y[0] * 2.0
    return np.sin(y) * len(RUN_LOG)


def test_global_state_vjp_called_twice():
    x = np.array([0.3, 0.9, -0.4])
    RUN_LOG[:] = []
    _, vjp_fn = adcompiler.vjp(logs_and_updates, x)
    first, = vjp_fn(np.ones(3))
    second, = vjp_fn(np.ones(3))
    expected = np.cos(x * [2.0, 1.0, 1.0]) * [2.0, 1.0, 1.0]
    assert_gradient_close(first, expected)
    assert_gradient_close(second, expected)
    assert len(RUN_LOG) == 1


@pytest.mark.parametrize('mode', MODES)
def test_closure_state_of_function_jacobian(mode):
    seen = []

    def counts_runs(x):
        seen.append(1.0)
        return np.sin(x) * len(seen)
    x = np.array([0.3, 0.9, -0.4])
    jacobian = adcompiler.jacobian(counts_runs, mode=mode)(x)
    assert seen == [1.0]
    assert_gradient_close(jacobian, np.diag(np.cos(x)))


def grows_while_iterating(x, values):
    alias = values
    total = 0.0
    for value in values:
        total = total + value
        if len(alias) < 6:
            alias.append(1.0)
    return np.sin(x) * total


@pytest.mark.parametrize('mode', MODES)
def test_list_grown_through_alias_while_iterating(mode):
    x = np.array([0.3, 0.9, -0.4])
    jacobian = adcompiler.jacobian(grows_while_iterating, mode=mode)(
        x, [1.0, 2.0])
    expected = numerical_jacobian(grows_while_iterating,
                                  lambda: [1.0, 2.0], x)
    assert_gradient_close(jacobian, expected)


@pytest.mark.parametrize('mode', MODES)
def test_iterator_bound_method_raises(mode):
    x = np.array([0.3, 0.9, -0.4])
    source = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    with pytest.raises(InvalidArgumentError) as error:
        adcompiler.jacobian(calls_counter, mode=mode)(x, source.__next__)
    message = str(error.value)
    assert "argument 'tick'" in message
    assert 'list_iterator' in message
    assert f'File "{__file__}"' in message
    assert f'line {calls_counter.__code__.co_firstlineno}' in message


def writes_and_tells(x, log):
    log.write('run\n')
    return np.sin(x) * log.tell()


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('open_mode', ['w', 'a', 'wb'])
def test_write_only_file_position_restored(tmp_path, open_mode, mode):
    def writes(x, log):
        log.write(b'run\n' if 'b' in open_mode else 'run\n')
        return np.sin(x) * log.tell()
    x = np.array([0.3, 0.9, -0.4])
    path = tmp_path / 'log.txt'
    path.write_text('start\n')
    with open(path, open_mode) as log:
        jacobian = adcompiler.jacobian(writes, mode=mode)(x, log)
    start = 6.0 if open_mode == 'a' else 0.0
    assert_gradient_close(jacobian, np.diag(np.cos(x) * (start + 4.0)))
    expected_text = 'start\nrun\n' if open_mode == 'a' else 'run\n'
    assert path.read_text() == expected_text


def test_appended_file_not_at_end_raises(tmp_path):
    path = tmp_path / 'log.txt'
    path.write_text('start\n')
    x = np.array([0.3, 0.9, -0.4])
    with open(path, 'a') as log:
        log.seek(0)
        with pytest.raises(InvalidArgumentError) as error:
            adcompiler.jacobian(writes_and_tells, mode='forward')(x, log)
    message = str(error.value)
    assert "argument 'log'" in message
    assert 'appending' in message
    assert f'line {writes_and_tells.__code__.co_firstlineno}' in message


# A readable stream that the function names but does not read.
UNREAD_INPUT = io.TextIOWrapper(io.BytesIO(b'1.0\n2.0\n'))


def reads_input_when_empty(x):
    if x.size == 0:
        return np.full(1, float(UNREAD_INPUT.readline()))
    return np.sin(x)


def test_unread_global_stream_allowed():
    x = np.array([0.3, 0.9, -0.4])
    jacobian = adcompiler.jacobian(reads_input_when_empty, mode='forward')(x)
    assert_gradient_close(jacobian, np.diag(np.cos(x)))


class RunCounter:
    """A class whose attribute counts runs; class attributes are not
    recorded."""
    runs = 0


def counts_in_class_attribute(x):
    RunCounter.runs += 1
    return np.sin(x) * RunCounter.runs


def draws_global_random(x):
    return np.sin(x) * np.random.normal(size=x.shape)


def class_attribute_total(x):
    return np.sum(counts_in_class_attribute(x) * x)


def assert_names_definition(message, function):
    assert function.__name__ in message
    assert f'File "{__file__}"' in message
    assert f'line {function.__code__.co_firstlineno}' in message
    assert 'grad, vjp or jvp' in message


@pytest.mark.parametrize('function', [counts_in_class_attribute,
                                      draws_global_random])
def test_unrecorded_state_forward_jacobian_raises(function):
    x = np.array([0.3, 0.9, -0.4])
    with pytest.raises(adcompiler.ChangedStateError) as error:
        adcompiler.jacobian(function, mode='forward')(x)
    assert_names_definition(str(error.value), function)


@pytest.mark.parametrize('mode', HESSIAN_MODES + [None])
def test_unrecorded_state_hessian_raises(mode):
    x = np.array([0.3, 0.9, -0.4])
    with pytest.raises(adcompiler.ChangedStateError) as error:
        adcompiler.hessian(class_attribute_total, mode=mode)(x)
    assert_names_definition(str(error.value), class_attribute_total)


def test_unrecorded_state_hvp_runs_once():
    # hvp along one direction of one argument runs the function once, so
    # the state it reads is the caller's.
    x = np.array([0.3, 0.9, -0.4])
    direction = np.array([1.0, -2.0, 0.5])
    RunCounter.runs = 0
    product = adcompiler.hvp(class_attribute_total)(x, direction)
    assert RunCounter.runs == 1
    expected = (2.0 * np.cos(x) - x * np.sin(x)) * direction
    assert_gradient_close(product, expected)


def test_changed_state_error_is_invalid_argument():
    assert issubclass(adcompiler.ChangedStateError, InvalidArgumentError)


class Box:
    """An object whose method appends to its own list."""

    def __init__(self):
        self.items = [1.0]

    def scaled(self, x):
        self.items.append(1.0)
        return np.sin(x) * len(self.items)


def appends_to_box(x, box):
    box.items.append(1.0)
    return np.sin(x) * len(box.items)


def sine_of(x, box):
    return np.sin(x) * len(box.items)


def calls_argument(x, function, box):
    return np.sum(function(x, box) * x)


def calls_method(x, box):
    return np.sum(box.scaled(x) * x)


def calls_with_star(x, *rest):
    return np.sum(appends_to_box(x, *rest) * x)


DISPATCHED = {
    'argument': (calls_argument, lambda: (appends_to_box, Box())),
    'method': (calls_method, lambda: (Box(),)),
    'star': (calls_with_star, lambda: (Box(),)),
}


@pytest.mark.parametrize('mode', HESSIAN_MODES + [None])
@pytest.mark.parametrize('case', sorted(DISPATCHED))
def test_dispatched_stateful_call_hessian_raises(case, mode):
    function, make = DISPATCHED[case]
    x = np.array([0.3, 0.9])
    if case == 'star' and mode == 'reverse-over-reverse':
        # Reverse over reverse rejects a *args call resolved at run time
        # before it runs the call again.
        with pytest.raises(adcompiler.UnsupportedSyntaxError):
            adcompiler.hessian(function, mode=mode)(x, *make())
        return
    with pytest.raises(adcompiler.ChangedStateError) as error:
        adcompiler.hessian(function, mode=mode)(x, *make())
    message = str(error.value)
    assert 'returned another value' in message
    assert f'File "{__file__}"' in message
    assert f'line {function.__code__.co_firstlineno + 1}' in message


@pytest.mark.parametrize('mode', HESSIAN_MODES)
def test_dispatched_pure_call_hessian(mode):
    x = np.array([0.3, 0.9, -0.4])
    box = Box()
    hessian = adcompiler.hessian(calls_argument, mode=mode)(x, sine_of, box)
    assert box.items == [1.0]
    assert_gradient_close(hessian, np.diag(2.0 * np.cos(x) - x * np.sin(x)))


def draws_scaled_sine(x, rng):
    return np.sin(x) * rng.normal(size=x.shape)


@pytest.mark.parametrize('shape', [(2,), (2, 2)])
def test_dispatched_generator_draw_hessian(shape):
    # Forward over reverse runs the callee again with a copy of the
    # generator as it was before the call, so it draws the same numbers.
    x = np.random.default_rng(4).uniform(-1.0, 1.0, size=shape)
    hessian = adcompiler.hessian(calls_argument, mode='forward-over-reverse')(
        x, draws_scaled_sine, np.random.default_rng(0))
    gradient = adcompiler.grad(calls_argument)
    rows = []
    for index in np.ndindex(shape):
        def entry(y, index=index):
            return gradient(y, draws_scaled_sine,
                            np.random.default_rng(0))[index]
        rows.append(numerical_gradient(entry, [x], 0))
    expected = np.reshape(rows, shape + shape)
    assert_gradient_close(hessian, expected)


def counts_next_to_large_entry(x):
    RunCounter.runs += 1
    return np.array([x[0] * 1e12, x[1] * RunCounter.runs, x[2] ** 2])


def counts_next_to_large_term(x):
    RunCounter.runs += 1
    return np.sum(x[0] ** 2 * 1e12 + x[1] ** 2 * RunCounter.runs)


def test_unrecorded_state_small_entry_jacobian_raises():
    # The changed entry is 1e-12 times the largest one.
    x = np.array([1.0, 0.5, 2.0])
    with pytest.raises(adcompiler.ChangedStateError) as error:
        adcompiler.jacobian(counts_next_to_large_entry, mode='forward')(x)
    assert_names_definition(str(error.value), counts_next_to_large_entry)


# Reverse over forward compares only the value, in which the changed term
# is below rounding. The other modes compare the gradient entry by entry.
@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-reverse', None])
def test_unrecorded_state_small_term_hessian_raises(mode):
    x = np.array([1.0, 0.5, 2.0])
    with pytest.raises(adcompiler.ChangedStateError) as error:
        adcompiler.hessian(counts_next_to_large_term, mode=mode)(x)
    assert_names_definition(str(error.value), counts_next_to_large_term)


@pytest.mark.parametrize('dtype', [np.float64, np.float32, np.complex128])
def test_same_output_compares_each_entry(dtype):
    first = np.array([1e12, 0.5, -3.0, 0.0], dtype=dtype)
    changed = first.copy()
    changed[1] = 1.0
    assert not same_output(first, changed)
    assert not same_output(first, first[:3])
    rounded = first * (1 + 4 * np.finfo(dtype).eps)
    assert same_output(first, rounded)
    assert same_output((first, {'a': 2.0}), (rounded, {'a': 2.0}))
    assert not same_output((first, {'a': 2.0}), (first, {'a': 2.5}))


def test_same_output_compares_nan_and_inf_exactly():
    first = np.array([np.nan, np.inf, 1.0])
    assert same_output(first, first.copy())
    assert not same_output(first, np.array([np.nan, -np.inf, 1.0]))
    assert not same_output(first, np.array([1.0, np.inf, 1.0]))


# grad, value_and_grad and jvp on a Python float run code whose 0.0 ** -0.5
# raises ZeroDivisionError where NumPy floats give inf. A function that
# reaches state beyond its arguments runs on NumPy floats at once, so it
# draws once, as one plain run does.
ROOT_RNG = np.random.default_rng(0)


def root_times_global_draw(x):
    return x ** 0.5 * ROOT_RNG.normal()


def make_root_times_closure_draw(rng):
    def root_times_draw(x):
        return x ** 0.5 * rng.normal()
    return root_times_draw


def root_logged(x):
    RUN_LOG.append(1.0)
    return x ** 0.5 * 2.0


def first_draws(count):
    return np.random.default_rng(0).normal(size=count)


RETRIED = {
    'grad': lambda f, x: adcompiler.grad(f)(x),
    'value_and_grad': lambda f, x: adcompiler.value_and_grad(f)(x)[1],
    'jvp': lambda f, x: adcompiler.jvp(f, (x,), (1.0,))[1],
}


@pytest.mark.parametrize('transform', sorted(RETRIED))
def test_python_float_global_draw_once(transform):
    global ROOT_RNG
    draws = first_draws(2)
    for x in (0.0, 0.81, 4.0):
        ROOT_RNG = np.random.default_rng(0)
        with np.errstate(divide='ignore'):
            derivative = RETRIED[transform](root_times_global_draw, x)
        expected = np.inf if x == 0.0 else 0.5 / np.sqrt(x) * draws[0]
        assert derivative == expected
        assert ROOT_RNG.normal() == draws[1]


@pytest.mark.parametrize('transform', sorted(RETRIED))
def test_python_float_closure_draw_once(transform):
    draws = first_draws(2)
    rng = np.random.default_rng(0)
    function = make_root_times_closure_draw(rng)
    with np.errstate(divide='ignore'):
        derivative = RETRIED[transform](function, 0.0)
    assert derivative == np.inf
    assert rng.normal() == draws[1]


@pytest.mark.parametrize('transform', sorted(RETRIED))
def test_python_float_global_list_appended_once(transform):
    RUN_LOG[:] = []
    with np.errstate(divide='ignore'):
        RETRIED[transform](root_logged, 0.0)
    assert len(RUN_LOG) == 1
    RETRIED[transform](root_logged, 4.0)
    assert len(RUN_LOG) == 2


def test_python_float_draw_gradient_matches_differences():
    global ROOT_RNG

    def fresh(y):
        global ROOT_RNG
        ROOT_RNG = np.random.default_rng(0)
        return root_times_global_draw(y)
    for x in (0.3, 2.5):
        ROOT_RNG = np.random.default_rng(0)
        gradient = adcompiler.grad(root_times_global_draw)(x)
        assert_gradient_close(gradient, numerical_gradient(fresh, [x], 0))


def root_scaled(x):
    return x ** 0.5 * 3.0


@pytest.mark.parametrize('function', [root_scaled, root_times_global_draw])
def test_python_float_retry_returns_python_floats(function):
    with np.errstate(divide='ignore'):
        gradient = adcompiler.grad(function)(0.0)
        value, value_gradient = adcompiler.value_and_grad(function)(0.0)
    assert type(gradient) is float
    assert type(value_gradient) is float
    if function is root_scaled:
        # The value of the run on Python floats, which raised in the
        # adjoint, fixes the type.
        assert type(value) is float


# jacobian of a gradient runs the generated gradient once per column, and the
# state that the differentiated function reads is restored before each.
CUBE_RNG = np.random.default_rng(0)


class RunTally:
    def __init__(self):
        self.count = 0


CUBE_TALLY = RunTally()


def cube_times_global_draws(x):
    return np.sum(x ** 3 * CUBE_RNG.normal(size=x.shape))


def cube_times_global_tally(x):
    CUBE_TALLY.count += 1
    return np.sum(x ** 3) * CUBE_TALLY.count


def reset_cube_state():
    global CUBE_RNG
    CUBE_RNG = np.random.default_rng(0)
    CUBE_TALLY.count = 0


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('shape', [(3,), (2, 2)])
@pytest.mark.parametrize('function', [cube_times_global_draws,
                                      cube_times_global_tally])
def test_jacobian_of_gradient_global_state(function, shape, mode):
    x = np.random.default_rng(5).uniform(-1.0, 1.0, size=shape)
    gradient = adcompiler.grad(function)
    rows = []
    for index in np.ndindex(shape):
        def entry(y, index=index):
            reset_cube_state()
            return gradient(y)[index]
        rows.append(numerical_gradient(entry, [x], 0))
    expected = np.reshape(rows, shape + shape)
    reset_cube_state()
    hessian = adcompiler.jacobian(gradient, mode=mode)(x)
    assert_gradient_close(hessian, expected)
    # The state ends as after one run.
    draws_after_one = np.random.default_rng(0)
    draws_after_one.normal(size=shape)
    if function is cube_times_global_draws:
        assert CUBE_RNG.normal() == draws_after_one.normal()
    else:
        assert CUBE_TALLY.count == 1
