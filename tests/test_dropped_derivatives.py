"""Paths that would drop a derivative without an error raise instead.

A float that carries a derivative loses it when it becomes text that is
parsed back (float(str(x))), when it is a dict key read back with
d.keys(), and when it travels in an exception's args. Each such path
raises UnsupportedSyntaxError at its line in grad and jvp. Text that
goes only to print or logging, and keys that turn out to be strings or
ints, still differentiate, checked against central differences. A loop
over d.keys() or d.items() gives the keys no adjoint, so the adjoint of an
int key never reaches the value at the key's position.
"""

import logging

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

logger = logging.getLogger(__name__)
X = np.array([2.0, 3.0, -0.5])
DIRECTION = np.array([0.5, -0.75, 0.25])


def str_round_trip(x):
    text = str(x[0])
    return float(text) * x[1]


def repr_round_trip(x):
    text = repr(float(x[0]))
    return float(text) * x[1]


def f_string_round_trip(x):
    text = f'{x[0]:.6f}'
    return float(text) * x[1]


def percent_round_trip(x):
    text = '%.6f' % x[0]
    return float(text) * x[1]


def format_round_trip(x):
    text = format(x[0], '.6f')
    return float(text) * x[1]


def array_text_round_trip(x):
    text = np.array2string(x[:1])
    return float(text[1:-1]) * x[1]


def float_dict_key(x):
    table = {float(x[0]): 'a'}
    key = list(table.keys())[0]
    return key * x[1]


def stored_float_key(x):
    table = {}
    table[x[0] * 2.0] = 1.0
    return max(table) * x[1]


def comprehension_float_keys(x):
    table = {v: 1.0 for v in x}
    return sum(table) * x[1]


def exception_args(x):
    try:
        raise ValueError(x[0] * 2.0)
    except ValueError as error:
        y = error.args[0]
    return y * x[1]


DROPPING = [
    (str_round_trip, 'text = str(x[0])'),
    (repr_round_trip, 'text = repr(float(x[0]))'),
    (f_string_round_trip, "text = f'{x[0]:.6f}'"),
    (percent_round_trip, "text = '%.6f' % x[0]"),
    (format_round_trip, "text = format(x[0], '.6f')"),
    (array_text_round_trip, 'text = np.array2string'),
    (float_dict_key, "table = {float(x[0]): 'a'}"),
    (stored_float_key, 'table[x[0] * 2.0] = 1.0'),
    (comprehension_float_keys, 'table = {v: 1.0 for v in x}'),
    (exception_args, 'except ValueError as error:'),
]


@pytest.mark.parametrize('function, line_text', DROPPING,
                         ids=[f.__name__ for f, _ in DROPPING])
def test_dropping_path_raises_in_grad(function, line_text):
    with pytest.raises(adcompiler.AdCompilerError) as raised:
        adcompiler.grad(function)(X)
    assert line_text in str(raised.value)
    assert __file__ in str(raised.value)


@pytest.mark.parametrize('function, line_text', DROPPING,
                         ids=[f.__name__ for f, _ in DROPPING])
def test_dropping_path_raises_in_jvp(function, line_text):
    with pytest.raises(adcompiler.AdCompilerError) as raised:
        adcompiler.jvp(function, (X,), (DIRECTION,))
    assert line_text in str(raised.value)


def printed_and_logged(x):
    y = np.sin(x) * x[0]
    print(f'y = {y}', repr(x[1]), str(np.sum(y)))
    logger.info(f'y = {y}')
    logger.debug(f'first {y[0]:.3f}')
    return np.sum(y ** 2)


def string_keys_from_items(x):
    params = {'1.5': x[:2], '2.0': x[1:]}
    total = 0.0
    for key, value in params.items():
        scale = float(f'{key}')
        total = total + np.sum(value ** 2) * scale
    return total


def message_of_caught_exception(x):
    try:
        if x[0] > 0.0:
            raise ValueError('positive first entry')
        y = x[1]
    except ValueError as error:
        y = x[2] * len(str(error))
    return y * x[0]


def integer_keys(x):
    table = {}
    for i in range(x.size):
        table[i] = x[i] ** 2
    return sum(table[k] * k for k in table.keys())


def integer_keys_of_items(x):
    table = {0: x[0] ** 2, 1: x[1] ** 3, 2: x[2] * x[0]}
    total = 0.0
    for key, value in table.items():
        total = total + value * (key + 1.0)
    return total


KEEPING = [printed_and_logged, string_keys_from_items,
           message_of_caught_exception, integer_keys, integer_keys_of_items]


@pytest.mark.parametrize('function', KEEPING, ids=lambda f: f.__name__)
def test_text_not_in_result_differentiates(function, capsys):
    expected = numerical_gradient(function, (X,), 0)
    assert_gradient_close(adcompiler.grad(function)(X), expected)
    _, tangent = adcompiler.jvp(function, (X,), (DIRECTION,))
    assert tangent == pytest.approx(np.dot(expected, DIRECTION))
    value, gradient = adcompiler.value_and_grad(function)(X)
    assert value == pytest.approx(function(X))
    assert_gradient_close(gradient, expected)
    capsys.readouterr()
