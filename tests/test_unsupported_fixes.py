"""Constructs that stay rejected where they carry a derivative, and the
fix each message gives: the file and line of the construct, a caret under
it, and what to write instead."""

import inspect

import numpy as np
import pytest

import adcompiler


class Unordered:
    """A class without __match_args__."""

    def __init__(self, x):
        self.x = x


def positional_without_match_args(x):
    match Unordered(x):
        case Unordered(v):
            y = v
    return np.sum(y)


def or_binding_inside_sequence(values):
    match values:
        case [[x] | (x, _), y]:
            z = x * y
    return np.sum(z)


def source_position(function, text):
    lines, first = inspect.getsourcelines(function)
    for offset, line in enumerate(lines):
        if text in line:
            return first + offset, line.index(text)
    raise AssertionError(f'{text!r} not in {function.__name__}')


@pytest.mark.parametrize('function, argument, text, fix', [
    (positional_without_match_args, np.array([0.5, -0.3]), 'Unordered(v)',
     'match the attributes by keyword (case Point(x=px, y=py):)'),
    (or_binding_inside_sequence, [[np.array([0.5])], np.array([0.8])],
     '[x] | (x, _)', 'write the alternatives as whole patterns'),
], ids=['positional_without_match_args', 'or_binding_inside_sequence'])
def test_rejection_gives_location_and_fix(function, argument, text, fix):
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(function)(argument)
    error = info.value
    lineno, column = source_position(function, text)
    assert error.filename == __file__
    assert error.lineno == lineno
    assert error.location.col_offset == column
    assert 'To fix this' in str(error)
    assert fix in str(error)
