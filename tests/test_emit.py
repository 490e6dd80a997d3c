"""The emit stage: generated source text that reads well and compiles."""

import ast
import importlib
import os
import pathlib
import subprocess
import sys

import gast
import numpy as np
import pytest

import adcompiler
from adcompiler import emit
from adcompiler.compiler import Compiler
from finite_differences import assert_gradient_close, numerical_gradient


def names(count, prefix='value'):
    return [f'{prefix}{i}' for i in range(count)]


LONG_LINES = {
    'unpacking': '    {names} = saved\n',
    'return_tuple': '    return first, ({names})\n',
    'assigned_tuple': '    packed = first, {names}\n',
    'call': '    result = combine({names})\n',
    'nested_call': '    result = outer(first, inner({names}), last)\n',
}


@pytest.mark.parametrize('count', [3, 40, 400])
@pytest.mark.parametrize('kind', list(LONG_LINES))
def test_long_line_wrapped_keeps_meaning(kind, count):
    text = 'def f(saved):\n' + LONG_LINES[kind].format(
        names=', '.join(names(count)))
    source = emit.to_source(gast.parse(text))
    assert ast.dump(ast.parse(source)) == ast.dump(ast.parse(text))
    lengths = [len(line) for line in source.splitlines()]
    assert max(lengths) <= 79


def test_string_brackets_do_not_count():
    items = ', '.join(f"'({i}'" for i in range(400))
    text = f'def f():\n    return g({items})\n'
    source = emit.to_source(gast.parse(text))
    assert ast.dump(ast.parse(source)) == ast.dump(ast.parse(text))


def write_long_function(directory, lines):
    """Write `s = s + c * x` repeated `lines` times into a module in
    `directory` and return the function."""
    name = f'long_function_{lines}'
    body = ['import numpy as np', '', f'def {name}(x, c):', '    s = 0.0']
    body += ['    s = s + c * x'] * lines
    body += ['    return np.sum(s)', '']
    (directory / f'{name}.py').write_text('\n'.join(body))
    sys.path.insert(0, str(directory))
    try:
        return getattr(importlib.import_module(name), name)
    finally:
        sys.path.remove(str(directory))


@pytest.mark.parametrize('x_shape, c_shape', [((3,), (3,)), ((3,), (2, 1)),
                                              ((), ())],
                         ids=['same', 'broadcast', 'scalar'])
def test_long_function_saves_wrapped_tuple(tmp_path, x_shape, c_shape):
    function = write_long_function(tmp_path, 300)
    compiled = Compiler().compile(function, ('x', 'c'))
    assert max(len(line) for line in compiled.source.splitlines()) <= 79

    rng = np.random.default_rng(0)
    x = rng.normal(size=x_shape) if x_shape else 0.3
    c = rng.normal(size=c_shape) if c_shape else -1.2
    value, saved = compiled.primal(x, c)
    gradients = compiled.adjoint(saved, 1.0)
    for position, gradient in enumerate(gradients):
        expected = numerical_gradient(function, (x, c), position)
        assert_gradient_close(np.asarray(gradient), np.asarray(expected))


WARNINGS_AS_ERRORS_PROGRAM = """\
import numpy as np
import adcompiler


def labelled(x):
    label = f'x = {x:.3f}'
    return np.sin(x) * len(label)


print(adcompiler.grad(labelled)(0.5) / (9 * np.cos(0.5)))
"""


def test_emit_runs_with_warnings_as_errors(tmp_path):
    # astor reads ast classes that Python 3.12 deprecates; a program run
    # with -W error must still import adcompiler and compile an f-string.
    program = tmp_path / 'program.py'
    program.write_text(WARNINGS_AS_ERRORS_PROGRAM, encoding='utf-8')
    checkout = str(pathlib.Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(filter(None, [checkout,
                                         os.environ.get('PYTHONPATH')]))
    result = subprocess.run([sys.executable, '-W', 'error', str(program)],
                            capture_output=True, text=True, timeout=120,
                            check=False, env=dict(os.environ, PYTHONPATH=path))
    assert result.returncode == 0, result.stderr
    assert float(result.stdout) == pytest.approx(1.0, rel=1e-12)


def _slices_in_rows(x):
    y = np.zeros_like(x)
    y[1:, 0] = x[:-1, 1] ** 2
    return (np.sum(x[1:, 0] * x[:-1, 1][::-1])
            + np.sum(x[::2, :] ** 2) + np.sum(x[-1]) + np.sum(y * x))


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_printed_module_defines_its_constant_indices(mode):
    """Constant indices are module globals such as `index_to_m1`. The
    printed source assigns each one, so that a reader sees its value."""
    compiler = Compiler()
    if mode == 'reverse':
        source = compiler.compile(_slices_in_rows, ('x',)).source
    else:
        source = compiler.compile_forward(_slices_in_rows, ('x',)).source
    tree = ast.parse(source)
    read = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)
            and node.id.startswith('index_')}
    assigned = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            target, = statement.targets
            assigned[target.id] = ast.unparse(statement.value)
    assert read and read <= set(assigned)
    assert assigned['index_from_1_and_at_0'] == 'np.s_[1:, 0]'
    if mode == 'reverse':
        assert assigned['index_step_2_and_all'] == 'np.s_[::2, :]'
        assert assigned['index_step_m1'] == 'np.s_[::-1]'
    scope = {'np': np}
    exec(compile('\n'.join(ast.unparse(s) for s in tree.body
                           if isinstance(s, ast.Assign)), 'printed', 'exec'),
         scope)
    assert scope['index_from_1_and_at_0'] == (slice(1, None), 0)

    x = np.random.default_rng(0).normal(size=(6, 2))
    expected = numerical_gradient(_slices_in_rows, (x,), 0)
    if mode == 'reverse':
        assert_gradient_close(adcompiler.grad(_slices_in_rows)(x), expected)
    else:
        v = np.ones_like(x)
        _, tangent = adcompiler.jvp(_slices_in_rows, (x,), (v,))
        assert_gradient_close(tangent, np.sum(expected * v))
