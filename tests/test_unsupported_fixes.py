"""Constructs that stay rejected where they carry a derivative, and the
fix each message gives: the file and line of the construct, a caret under
it, and what to write instead."""

import inspect

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def uses_match(x, kind):
    match kind:
        case 'a':
            y = np.sin(x)
        case _:
            y = x
    return np.sum(y)


def uses_starred_target(x):
    a, *rest = x
    return a * np.sum(np.stack(rest) ** 2)


def uses_starred_target_fixed(x):
    a = x[0]
    rest = list(x[1:])
    return a * np.sum(np.stack(rest) ** 2)


def break_inside_match(x, kind):
    s = 0.0
    for v in x:
        match kind:
            case 'stop':
                break
        s = s + v ** 2
    else:
        s = s * 2.0
    return s


def source_position(function, text):
    lines, first = inspect.getsourcelines(function)
    for offset, line in enumerate(lines):
        if text in line:
            return first + offset, line.index(text)
    raise AssertionError(f'{text!r} not in {function.__name__}')


@pytest.mark.parametrize('function, arguments, text, fix', [
    (uses_match, ('a',), 'match kind:', 'rewrite the match statement as an '
     'if/elif chain'),
    (uses_starred_target, (), '*rest', 'a = v[0]` and `rest = list(v[1:])'),
    (break_inside_match, ('stop',), 'for v in x:', 'set a flag before the '
     'break'),
], ids=['match', 'starred_target', 'break_inside_match'])
def test_rejection_gives_location_and_fix(function, arguments, text, fix):
    x = np.array([0.5, -0.3, 0.8])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(function)(x, *arguments)
    error = info.value
    lineno, column = source_position(function, text)
    assert error.filename == __file__
    assert error.lineno == lineno
    assert error.location.col_offset == column
    assert 'To fix this' in str(error)
    assert fix in str(error)


def test_starred_target_fix_matches_differences():
    x = np.array([0.5, -0.3, 0.8, 1.1])
    expected = numerical_gradient(uses_starred_target_fixed, (x,), 0)
    assert_gradient_close(adcompiler.grad(uses_starred_target_fixed)(x),
                          expected)
    np.testing.assert_allclose(uses_starred_target_fixed(x),
                               uses_starred_target(x), rtol=1e-15)
