"""Errors raised inside an installed library that the user's code calls.

adcompiler transforms a library function from its source like any other.
When that source contains code it cannot transform, the error must point at
the user's call of the library function (file, line, caret) and keep the
library line as a detail. Its fixes are those the user can apply at that
call: register a rule for the library function, or mark it
non-differentiable.
"""

import importlib
import inspect
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.linalg as sl

import adcompiler
from adcompiler import origins


def expm_sum(m):
    return np.sum(sl.expm(m * 0.5))


def triangular_sum(m):
    return np.sum(sl.solve_triangular(np.triu(m) + 3 * np.eye(3), np.ones(3)))


def helper_calls_expm(m):
    return sl.expm(m) * 2.0


def outer_calls_helper(m):
    return np.sum(helper_calls_expm(m))


def library_error(call):
    """Return the AdCompilerError that `call()` raises, or mark the test
    as an expected failure when the error kept its line in the library.

    That happens when the unsupported code sits in a branch of the library
    function: its error is raised when the branch runs, and the compiled
    library function is shared by every call of it, so it cannot name one
    user call. Which SciPy functions do this depends on SciPy's version.
    """
    with pytest.raises(adcompiler.AdCompilerError) as info:
        call()
    if origins.is_library_file(info.value.filename):
        pytest.xfail('raised when a branch of the library function ran, '
                     'at its line in the library')
    return info.value


def source_position(function, text):
    """Return the line number of `text` in `function` and its column."""
    lines, first = inspect.getsourcelines(function)
    for offset, line in enumerate(lines):
        if text in line:
            return first + offset, line.index(text)
    raise AssertionError(f'{text!r} not in {function.__name__}')


def caret_column(message, lineno):
    """Return the column of the caret under the source line that follows
    `line {lineno}` in `message`, counted in the stripped source line."""
    lines = message.splitlines()
    for number, line in enumerate(lines):
        if f', line {lineno}, ' in line:
            return lines[number + 2].index('^') - 4
    raise AssertionError(f'line {lineno} not shown in {message!r}')


@pytest.mark.parametrize('function, call_text, library_file', [
    (expm_sum, 'sl.expm', '_matfuncs.py'),
    (triangular_sum, 'sl.solve_triangular', '_util.py'),
], ids=['expm', 'solve_triangular'])
def test_library_error_points_at_user_call(function, call_text,
                                           library_file):
    error = library_error(lambda: adcompiler.grad(function)(np.eye(3)))
    lineno, column = source_position(function, call_text)
    message = str(error)
    assert error.filename == __file__
    assert error.lineno == lineno
    stripped = error.source_line.lstrip()
    indent = len(error.source_line) - len(stripped)
    assert caret_column(message, lineno) == column - indent
    assert library_file in message
    assert f'adcompiler.register_vjp({call_text})' in message
    assert f'adcompiler.non_differentiable({call_text})' in message
    assert 'give the wrapper the same parameters' not in message


def test_library_error_in_forward_mode_suggests_jvp():
    error = library_error(
        lambda: adcompiler.jvp(expm_sum, (np.eye(3),), (np.eye(3),)))
    message = str(error)
    assert error.lineno == source_position(expm_sum, 'sl.expm')[0]
    assert 'adcompiler.register_jvp(sl.expm)' in message
    assert 'register_vjp' not in message


def test_library_error_through_helper_names_helper_line():
    error = library_error(
        lambda: adcompiler.grad(outer_calls_helper)(np.eye(3)))
    assert error.filename == __file__
    assert error.lineno == source_position(helper_calls_expm, 'sl.expm')[0]
    assert 'outer_calls_helper -> ' in str(error)


LIBRARY_SOURCE = '''
import numpy as np


class Buffer:
    def __init__(self):
        self.values = np.zeros(3)


def scaled(x):
    buffer = Buffer()
    buffer.last = x * 2.0
    return x * 2.0

'''


@pytest.fixture
def fake_library(tmp_path, monkeypatch):
    """Import a module from a directory that counts as installed code."""
    (tmp_path / 'fakelib_for_errors.py').write_text(LIBRARY_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(origins, 'library_directories',
                        lambda: (os.path.join(str(tmp_path), ''),))
    module = importlib.import_module('fakelib_for_errors')
    yield module
    sys.modules.pop('fakelib_for_errors', None)


def test_fake_library_error_points_at_user_call(fake_library):
    def calls_library(x):
        return np.sum(fake_library.scaled(x))

    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(calls_library)(np.ones(3))
    error = info.value
    message = str(error)
    assert error.filename == __file__
    assert error.lineno == source_position(calls_library,
                                           'fake_library.scaled')[0]
    assert 'fakelib_for_errors.py' in message
    assert 'register_vjp(fake_library.scaled)' in message


def test_user_code_error_keeps_its_location(fake_library):
    def own_buffer(x):
        buffer = fake_library.Buffer()
        buffer.values[0] = 1.0
        return np.sum(x * buffer.values[0])

    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(own_buffer)(np.ones(3))
    error = info.value
    assert error.lineno == source_position(own_buffer,
                                           'buffer.values[0] =')[0]
    assert 'register_vjp' not in str(error)


SUGGESTED_RULE = textwrap.dedent('''
    import numpy as np
    import scipy.linalg as sl
    import adcompiler

    @adcompiler.register_vjp(sl.solve_triangular)
    def solve_triangular_vjp(g, ans, a, b):
        gb = sl.solve_triangular(a, g, trans='T')
        return (-np.triu(np.outer(gb, ans)), gb)

    def f(m, b):
        return np.sum(sl.solve_triangular(np.triu(m) + 3 * np.eye(3), b) ** 2)

    m = np.arange(9.0).reshape(3, 3) / 10
    b = np.array([0.3, -0.2, 0.5])
    gradient = adcompiler.grad(f)(m, b)
    step = 1e-6
    expected = np.zeros_like(m)
    for index in np.ndindex(m.shape):
        shift = np.zeros_like(m)
        shift[index] = step
        expected[index] = (f(m + shift, b) - f(m - shift, b)) / (2 * step)
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-7)
    print('matches')
''')


def test_suggested_rule_fixes_library_call(tmp_path):
    # A subprocess, so that the rule stays out of this session's registry.
    script = tmp_path / 'suggested_rule.py'
    script.write_text(SUGGESTED_RULE)
    environment = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment['PYTHONPATH'] = os.pathsep.join(
        [root] + [p for p in [environment.get('PYTHONPATH')] if p])
    result = subprocess.run([sys.executable, str(script)],
                            capture_output=True, text=True,
                            env=environment, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'matches'
