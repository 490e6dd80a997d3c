"""try/except/else/finally around code that carries a derivative.

The adjoint replays the blocks that ran: the statements of the try block
that completed before an exception, then the handler that ran or the else
block, then the finally block. Each case is checked against central
differences on the path it takes, in reverse and forward mode.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def log_or_fallback(x, fallback):
    try:
        y = np.log(x)
        total = np.sum(y)
        if not np.isfinite(total):
            raise FloatingPointError('log of a value that is not positive')
        z = y * 2.0
    except FloatingPointError:
        z = fallback * x
    else:
        z = z + x
    finally:
        scale = 3.0
    return np.sum(z) * scale


def partly_done(x, options):
    s = x * 2.0
    try:
        s = s * x
        s = s + options['shift'] * x
    except KeyError:
        s = s - x
    return np.sum(s)


def two_handlers(x, key):
    table = {'a': 1.0}
    try:
        y = x ** 2
        y = y * table[key]
        y = y / int(key)
    except KeyError:
        y = np.sin(x)
    except ValueError:
        y = y * 3.0
    return np.sum(y)


def try_in_loop(x):
    s = 0.0
    for i in range(3):
        try:
            s = s + x * (1.0 / (i - 1))
        except ZeroDivisionError:
            s = s * x
    return np.sum(s)


POSITIVE = np.array([0.5, 1.5, 2.0])
MIXED = np.array([-0.5, 1.0, 2.0])
FALLBACK = np.array([1.0, 2.0, 3.0])

CASES = [
    pytest.param(log_or_fallback, (POSITIVE, FALLBACK), id='else_path'),
    pytest.param(log_or_fallback, (MIXED, FALLBACK), id='handler_path'),
    pytest.param(log_or_fallback, (np.array(0.7), np.array(2.0)),
                 id='scalar'),
    pytest.param(partly_done, (POSITIVE, {'shift': 0.3}), id='completed'),
    pytest.param(partly_done, (POSITIVE, {}), id='partly_done'),
    pytest.param(two_handlers, (POSITIVE, 'b'), id='first_handler'),
    pytest.param(two_handlers, (POSITIVE, 'a'), id='second_handler'),
    pytest.param(try_in_loop, (POSITIVE,), id='in_loop'),
    pytest.param(try_in_loop, (POSITIVE.reshape(3, 1) * np.ones((1, 2)),),
                 id='in_loop_matrix'),
]


@pytest.mark.parametrize('function, args', CASES)
def test_try_gradient_matches_finite_differences(function, args):
    with np.errstate(invalid='ignore', divide='ignore'):
        expected = numerical_gradient(function, args, 0)
        computed = adcompiler.grad(function)(*args)
    assert_gradient_close(computed, expected)


def test_try_gradient_of_fallback_argument():
    with np.errstate(invalid='ignore'):
        expected = numerical_gradient(log_or_fallback, (MIXED, FALLBACK), 1)
        computed = adcompiler.grad(log_or_fallback, wrt=1)(MIXED, FALLBACK)
    assert_gradient_close(computed, expected)


@pytest.mark.parametrize('function, args', CASES)
def test_try_forward_mode_matches_finite_differences(function, args):
    direction = np.linspace(0.5, 1.5, np.size(args[0])).reshape(
        np.shape(args[0]))
    with np.errstate(invalid='ignore', divide='ignore'):
        expected = np.sum(numerical_gradient(function, args, 0) * direction)
        tangents = (direction,) + tuple(None for _ in args[1:])
        _, tangent = adcompiler.jvp(function, args, tangents)
    assert abs(tangent - expected) <= 1e-5 * (1.0 + abs(expected))


def loop_in_try(x):
    s = x
    try:
        for i in range(2):
            s = s * x
    except ValueError:
        s = x
    return s


def test_active_loop_in_try_block_is_rejected():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(loop_in_try)(1.5)
    assert 'inside a try block' in str(info.value)
    assert info.value.lineno == loop_in_try.__code__.co_firstlineno + 3


def return_in_try(x):
    try:
        return x * 2.0
    except ValueError:
        return x


def test_return_in_try_is_rejected():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(return_in_try)(1.5)
    assert 'return, break or continue inside a try statement' in str(
        info.value)
