"""Stateful arguments across the runs of jacobian, hessian and hvp.

Each run must start from the state the argument had before the first run,
or the transform must raise. The expected Jacobians are central finite
differences of the function called with a fresh argument each time.
"""

import collections
import io
import itertools
import queue
import random

import numpy as np
import pytest

import adcompiler
from adcompiler.api import InvalidArgumentError
from finite_differences import assert_gradient_close, numerical_gradient

MODES = ['forward', 'reverse']
HESSIAN_MODES = ['forward-over-reverse', 'reverse-over-forward',
                 'reverse-over-reverse']


def draws_python_random(x, source):
    draws = np.array([source.gauss(0.0, 1.0) for _ in range(x.size)])
    return np.sin(x) * draws.reshape(x.shape)


def draws_bit_generator(x, bit_generator):
    draws = np.random.Generator(bit_generator).standard_normal(x.shape)
    return np.sin(x) * draws


def draws_spawned_generator(x, rng):
    draws = rng.spawn(1)[0].standard_normal(x.shape)
    return np.sin(x) * draws


def reads_string_io(x, stream):
    values = np.array([float(stream.readline()) for _ in range(x.size)])
    return np.sin(x) * values.reshape(x.shape)


def reads_bytes_io(x, stream):
    values = np.array([float(stream.read(2)) for _ in range(x.size)])
    return np.sin(x) * values.reshape(x.shape)


def pops_deque(x, values):
    taken = np.array([values.popleft() for _ in range(x.size)])
    return np.sin(x) * taken.reshape(x.shape)


def make_python_random():
    return random.Random(1)


def make_bit_generator():
    return np.random.PCG64(1)


def make_generator():
    return np.random.default_rng(1)


def make_string_io():
    return io.StringIO('\n'.join(str(v) for v in range(1, 30)))


def make_bytes_io():
    return io.BytesIO(b''.join(b'%2d' % v for v in range(1, 30)))


def make_deque():
    return collections.deque(float(v) for v in range(1, 30))


RESTORED = [
    (draws_python_random, make_python_random),
    (draws_bit_generator, make_bit_generator),
    (draws_spawned_generator, make_generator),
    (reads_string_io, make_string_io),
    (reads_bytes_io, make_bytes_io),
    (pops_deque, make_deque),
]


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
@pytest.mark.parametrize('function, make', RESTORED)
def test_restored_argument_jacobian(function, make, shape, mode):
    x = np.random.default_rng(2).uniform(-1.0, 1.0, size=shape)
    jacobian = adcompiler.jacobian(function, mode=mode)(x, make())
    assert_gradient_close(jacobian, numerical_jacobian(function, make, x))


@pytest.mark.parametrize('function, make', RESTORED)
def test_restored_argument_ends_after_one_call(function, make):
    x = np.array([0.3, 0.9, -0.4])
    argument, reference = make(), make()
    adcompiler.jacobian(function)(x, argument)
    function(x, reference)
    follow_up = function(x, argument)
    np.testing.assert_array_equal(follow_up, function(x, reference))


def python_random_sum(x, source):
    return np.sum(draws_python_random(x, source))


def bit_generator_sum(x, bit_generator):
    return np.sum(draws_bit_generator(x, bit_generator) * x)


@pytest.mark.parametrize('mode', HESSIAN_MODES)
@pytest.mark.parametrize('function, make', [
    (python_random_sum, make_python_random),
    (bit_generator_sum, make_bit_generator),
])
def test_restored_argument_hessian(function, make, mode):
    x = np.array([0.3, 0.9, -0.4])
    hessian = adcompiler.hessian(function, mode=mode)(x, make())
    gradient = adcompiler.grad(function)
    rows = []
    for index in range(x.size):
        def entry(y, index=index):
            return gradient(y, make())[index]
        rows.append(numerical_gradient(entry, [x], 0))
    assert_gradient_close(hessian, np.array(rows))


def next_items(x, source):
    values = np.array([float(next(source)) for _ in range(x.size)])
    return np.sin(x) * values


def queue_items(x, source):
    values = np.array([source.get() for _ in range(x.size)])
    return np.sin(x) * values


def set_items(x, source):
    values = np.array(sorted(source.pop() for _ in range(x.size)))
    return np.sin(x) * values


def file_lines(x, source):
    values = np.array([float(source.readline()) for _ in range(x.size)])
    return np.sin(x) * values


def make_queue():
    items = queue.Queue()
    for v in range(1, 30):
        items.put(float(v))
    return items


def make_generator_expression():
    return (float(v) for v in range(1, 30))


def make_text_file():
    data = io.BytesIO('\n'.join(str(v) for v in range(1, 30)).encode())
    return io.TextIOWrapper(data)


UNRESTORABLE = [
    (next_items, lambda: iter(range(1, 30)), 'range_iterator'),
    (next_items, make_generator_expression, 'generator'),
    (next_items, lambda: itertools.count(1), 'count'),
    (queue_items, make_queue, 'Queue'),
    (set_items, lambda: {float(v) for v in range(1, 30)}, 'set'),
    (file_lines, make_text_file, 'TextIOWrapper'),
]


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('function, make, kind', UNRESTORABLE)
def test_unrestorable_argument_jacobian_raises(function, make, kind, mode):
    x = np.array([0.3, 0.9, -0.4])
    with pytest.raises(InvalidArgumentError) as error:
        adcompiler.jacobian(function, mode=mode)(x, make())
    message = str(error.value)
    assert "argument 'source'" in message
    assert kind in message
    assert 'fresh' in message


@pytest.mark.parametrize('function, make, kind', UNRESTORABLE)
def test_unrestorable_argument_hessian_raises(function, make, kind):
    def total(x, source):
        return np.sum(function(x, source))
    x = np.array([0.3, 0.9, -0.4])
    with pytest.raises(InvalidArgumentError, match=kind):
        adcompiler.hessian(total)(x, make())


@pytest.mark.parametrize('function, make, kind', UNRESTORABLE)
def test_unrestorable_argument_grad_runs_once(function, make, kind):
    def total(x, source):
        return np.sum(function(x, source))
    x = np.array([0.3, 0.9, -0.4])
    source = make()
    gradient = adcompiler.grad(total)(x, source)
    expected = numerical_gradient(lambda y: total(y, make()), [x], 0)
    assert_gradient_close(gradient, expected)


def test_set_added_items_restored():
    def marks(x, seen):
        seen.add(len(seen))
        return np.sin(x) * len(seen)
    x = np.array([0.3, 0.9, -0.4])
    seen = {0.5}
    jacobian = adcompiler.jacobian(marks)(x, seen)
    assert_gradient_close(jacobian, np.diag(np.cos(x) * 2.0))
    assert seen == {0.5, 1}


def test_write_only_file_argument_allowed(tmp_path):
    def logged(x, log):
        log.write('run\n')
        return np.sin(x) * 2.0
    x = np.array([0.3, 0.9, -0.4])
    with open(tmp_path / 'log.txt', 'w') as log:
        jacobian = adcompiler.jacobian(logged)(x, log)
    assert_gradient_close(jacobian, np.diag(np.cos(x) * 2.0))
