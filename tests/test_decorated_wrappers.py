"""Decorators written with functools.wraps: which wrappers the compiler may
skip, and that skipping one never changes the value or the derivative.

Every derivative is checked against central differences.
"""

import functools
import logging
import time

import numpy as np
import pytest

import adcompiler
from adcompiler import decorators
from finite_differences import assert_gradient_close, numerical_gradient

RNG = np.random.default_rng(5)
LOGGER = logging.getLogger('adcompiler.tests.wrappers')
MODE = {'train': False}
CALLS = {'count': 0}


def training(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        MODE['train'] = True
        return function(*args, **kwargs)
    return wrapper


@training
def trained_loss(x):
    scale = 3.0 if MODE['train'] else 1.0
    return np.sum(x ** 2) * scale


def logged(function):
    calls = 0

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        """Log each call and how long it took."""
        nonlocal calls
        calls += 1
        start = time.perf_counter()
        LOGGER.debug('calling %s', function.__name__)
        result = function(*args, **kwargs)
        elapsed = time.perf_counter() - start
        logging.debug(f'{function.__name__} took {elapsed} s')
        return result
    return wrapper


@logged
def logged_energy(x):
    return np.sum(np.sin(x) * x ** 2)


def counted_by_attribute(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        return function(*args, **kwargs)
    wrapper.calls = 0
    return wrapper


@counted_by_attribute
def reads_own_counter(x):
    # The function reads the counter that its wrapper sets.
    return np.sum(x ** 2) * reads_own_counter.calls


def counted_globally(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        CALLS['count'] += 1
        return function(*args, **kwargs)
    return wrapper


@counted_globally
def reads_global_counter(x):
    return np.sum(x ** 2) * CALLS['count']


def _directional(function, x, v, step=1e-6):
    return (function(x + step * v) - function(x - step * v)) / (2 * step)


@pytest.mark.parametrize('shape', [(3,), (2, 3), (1, 4, 2)])
def test_logging_wrapper_grad_and_jvp(shape):
    x = RNG.normal(size=shape)
    v = RNG.normal(size=shape)
    gradient = adcompiler.grad(logged_energy)(x)
    assert_gradient_close(gradient,
                          numerical_gradient(logged_energy, (x,), 0))
    _, tangent = adcompiler.jvp(logged_energy, (x,), (v,))
    np.testing.assert_allclose(tangent, _directional(logged_energy, x, v),
                               rtol=1e-5, atol=1e-6)


def test_logging_wrapper_is_skipped():
    assert decorators.unwrap_forwarding(logged_energy) is \
        logged_energy.__wrapped__


def test_flag_setting_wrapper_is_kept():
    assert decorators.unwrap_forwarding(trained_loss) is trained_loss


def test_flag_setting_wrapper_never_wrong():
    x = np.array([1.0, 2.0])
    MODE['train'] = False
    try:
        value, gradient = adcompiler.value_and_grad(trained_loss)(x)
    except adcompiler.AdCompilerError as err:
        # The store into MODE runs as written now, so the error is about
        # compiling the wrapper, whose *args do not name x.
        assert 'wrapper' in str(err)
        assert 'decorator' in str(err)
        return
    finally:
        MODE['train'] = False
    assert value == pytest.approx(15.0)
    np.testing.assert_allclose(gradient, 6.0 * x)


@pytest.mark.parametrize('function', [reads_own_counter,
                                      reads_global_counter])
def test_counter_read_by_function_is_kept(function):
    assert decorators.unwrap_forwarding(function) is function


def counted_with_reader(function):
    calls = 0

    def calls_so_far():
        return calls

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        return function(*args, **kwargs)
    wrapper.calls_so_far = calls_so_far
    return wrapper


@counted_with_reader
def reads_shared_counter(x):
    return np.sum(x ** 2) * reads_shared_counter.calls_so_far()


def test_counter_another_function_reads_is_kept():
    """A closure counter that a helper made by the same decorator reads
    can change the result, so the wrapper must run: it was skipped, and
    grad was that of a function whose count stayed 0."""
    assert decorators.unwrap_forwarding(reads_shared_counter) is \
        reads_shared_counter
    with pytest.raises(adcompiler.AdCompilerError):
        adcompiler.grad(reads_shared_counter)(np.array([1.0, 2.0]))


def counted_in_attribute(function):
    @functools.wraps(function)
    def wrapper(x):
        wrapper.calls += 1
        return function(x)
    wrapper.calls = 0
    return wrapper


def _calls_of_counted_model():
    return float(counted_model.calls)


@counted_in_attribute
def counted_model(x):
    return np.sum(x ** 2) * _calls_of_counted_model()


def test_attribute_counter_read_by_helper_runs():
    """The wrapper's count, read through a helper of the module, was left
    at 0 because the wrapper was skipped: grad gave zeros."""
    assert decorators.unwrap_forwarding(counted_model) is counted_model
    counted_model.calls = 0
    x = np.array([1.0, 2.0])
    value, gradient = adcompiler.value_and_grad(counted_model)(x)
    assert value == pytest.approx(5.0)
    np.testing.assert_allclose(gradient, 2.0 * x)
    assert counted_model.calls == 1


# The usual counting decorator: a store into a global dict stops the
# forwarding, so the wrapper is transformed as written, and its *args do
# not name x. The error names the store.

COUNTS = {'n': 0}


def counted_in_dict(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        COUNTS['n'] += 1
        return function(*args, **kwargs)
    return wrapper


def counted_with_parameters(function):
    @functools.wraps(function)
    def wrapper(x):
        COUNTS['n'] += 1
        return function(x)
    return wrapper


@counted_in_dict
def cube_sum_counted(x):
    return np.sum(x ** 3)


@counted_with_parameters
def cube_sum_counted_with_parameters(x):
    return np.sum(x ** 3)


def calls_cube_sum_counted(x):
    return cube_sum_counted(x) * 2.0


def test_dict_counter_error_names_store():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as caught:
        adcompiler.grad(cube_sum_counted)(np.array([0.3, -0.7]))
    message = str(caught.value)
    assert "the statement `COUNTS['n'] += 1`" in message
    assert "COUNTS['n'] += 1\n    ^" in message
    assert 'give the wrapper the parameters of the function it wraps' \
        in message


def test_dict_counter_called_from_caller_counts():
    # A call binds to the wrapper's own *args, so the wrapper is
    # transformed as written, its store included.
    x = np.array([0.3, -0.7, 1.2])
    before = COUNTS['n']
    gradient = adcompiler.grad(calls_cube_sum_counted)(x)
    assert_gradient_close(gradient, 6.0 * x ** 2)
    assert COUNTS['n'] == before + 1
    _, tangent = adcompiler.jvp(calls_cube_sum_counted, (x,), (np.ones(3),))
    assert tangent == pytest.approx(np.sum(6.0 * x ** 2))
    hessian = adcompiler.hessian(calls_cube_sum_counted)(x)
    np.testing.assert_allclose(hessian, np.diag(12.0 * x), atol=1e-12)


def test_dict_counter_with_parameters_counts():
    x = np.array([0.3, -0.7, 1.2])
    before = COUNTS['n']
    gradient = adcompiler.grad(cube_sum_counted_with_parameters)(x)
    assert_gradient_close(gradient, 3.0 * x ** 2)
    assert COUNTS['n'] == before + 1
