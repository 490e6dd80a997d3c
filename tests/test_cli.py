"""The console script, run in a subprocess as a user would run it."""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

SCRIPT = shutil.which('adcompiler', path=str(pathlib.Path(sys.executable).parent))
# The checkout these tests belong to: the console script imports adcompiler
# from here first, not from wherever the package was installed from.
CHECKOUT = str(pathlib.Path(__file__).resolve().parent.parent)


def run(*args, cwd=None):
    command = [SCRIPT] if SCRIPT else [sys.executable, '-m', 'adcompiler']
    path = os.pathsep.join(p for p in (CHECKOUT, os.environ.get('PYTHONPATH'))
                           if p)
    return subprocess.run(command + list(args), capture_output=True, text=True,
                          cwd=cwd, timeout=120, check=False,
                          env=dict(os.environ, PYTHONPATH=path))


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / 'model.py'
    path.write_text(textwrap.dedent('''\
        import numpy as np

        def loss(w, x):
            z = np.tanh(x @ w)
            return np.mean(z ** 2)

        def guarded(x):
            try:
                return x
            finally:
                print('done')

        def chain(x):
            for _ in range(3):
                x = x * 0.5 + np.sin(x)
            return x
        '''))
    return path


def test_console_script_is_installed():
    assert SCRIPT is not None


def test_dump_prints_primal_and_adjoint(model_file):
    result = run('dump', f'{model_file}:loss')
    assert result.returncode == 0, result.stderr
    assert 'def primal_loss(w, x):' in result.stdout
    assert 'def adjoint_loss(' in result.stdout
    assert 'dw' in result.stdout
    assert '# line 4: z = np.tanh(x @ w)' in result.stdout


def test_dump_reaches_methods_by_dotted_names(tmp_path):
    path = tmp_path / 'layers.py'
    path.write_text(textwrap.dedent('''\
        import numpy as np

        class Layer:
            def loss(self, x):
                return np.sum(np.tanh(x) ** 2)

            @staticmethod
            def penalty(w):
                return np.sum(w ** 4)
        '''))
    result = run('dump', f'{path}:Layer.loss', '--wrt', 'x')
    assert result.returncode == 0, result.stderr
    assert 'def primal_loss(self, x):' in result.stdout
    assert 'return dx,' in result.stdout
    result = run('dump', f'{path}:Layer.penalty')
    assert result.returncode == 0, result.stderr
    assert 'return dw,' in result.stdout
    result = run('dump', f'{path}:Layer.missing')
    assert result.returncode == 2
    assert "has no function named 'Layer.missing'" in result.stderr


def test_dump_describes_errors_of_checks(tmp_path):
    path = tmp_path / 'rollout.py'
    path.write_text(textwrap.dedent('''\
        import numpy as np

        def rollout(theta, steps):
            angle, velocity = theta[0], theta[1]
            for _ in range(steps):
                velocity = velocity - 0.1 * np.sin(angle)
                angle = angle + 0.1 * velocity
            return angle
        '''))
    result = run('dump', f'{path}:rollout')
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        if 'ad.require_array_like(' in line:
            name = line.rsplit(', ', 1)[1].rstrip(')')
            assert f'# {name}: the UnsupportedSyntaxError raised where the ' \
                'check fails:' in result.stdout
            break
    else:
        raise AssertionError('no check in the dump:\n' + result.stdout)


def test_dump_wrt_names_the_adjoints(model_file):
    result = run('dump', f'{model_file}:loss', '--wrt', 'x')
    assert result.returncode == 0, result.stderr
    assert 'return dx,' in result.stdout


def test_wrt_before_the_target_names_the_adjoints(model_file):
    """`--wrt NAME ...` takes one or more names, so it read the target
    that followed it as a name and the command stopped with a usage error."""
    result = run('dump', '--wrt', 'w', 'x', f'{model_file}:loss')
    assert result.returncode == 0, result.stderr
    assert 'return dw, dx' in result.stdout


def test_float_before_the_target_prints_code_for_floats(model_file):
    result = run('dump', '--float', 'x', f'{model_file}:chain')
    assert result.returncode == 0, result.stderr
    assert 'ad.float_cos(x)' in result.stdout


def test_missing_target_exits_2(model_file):
    result = run('dump', '--wrt', 'x')
    assert result.returncode == 2
    assert 'FILE.py:FUNC' in result.stderr


def test_no_optimize_still_prints(model_file):
    result = run('dump', f'{model_file}:loss', '--no-optimize')
    assert result.returncode == 0, result.stderr
    assert 'def adjoint_loss(' in result.stdout


def test_float_prints_code_for_floats(model_file):
    result = run('dump', f'{model_file}:chain', '--float', 'x')
    assert result.returncode == 0, result.stderr
    assert 'ad.float_cos(x)' in result.stdout
    plain = run('dump', f'{model_file}:chain')
    assert 'np.cos(x)' in plain.stdout


def test_float_unknown_parameter_exits_2(model_file):
    result = run('dump', f'{model_file}:chain', '--float', 'y')
    assert result.returncode == 2
    assert "--float y" in result.stderr


def test_float_with_forward_mode_exits_2(model_file):
    result = run('dump', f'{model_file}:chain', '--float', 'x', '--mode',
                 'forward')
    assert result.returncode == 2
    assert 'reverse mode of order 1' in result.stderr


def test_shape_prints_code_for_shapes(model_file):
    result = run('dump', f'{model_file}:loss', '--shape', 'w=4,3', 'x=5,4')
    assert result.returncode == 0, result.stderr
    assert 'x.T @' in result.stdout
    assert 'matmul_adjoint' not in result.stdout
    plain = run('dump', f'{model_file}:loss')
    assert 'matmul_adjoint' in plain.stdout


def test_shape_before_target_prints_code(model_file):
    result = run('dump', '--shape', 'w=4,3:float32', 'x=5,4',
                 f'{model_file}:loss')
    assert result.returncode == 0, result.stderr
    assert 'x.T @' in result.stdout


def test_shape_repeated_flag_keeps_every_shape(model_file):
    result = run('dump', '--shape', 'w=4,3', '--shape', 'x=5,4',
                 f'{model_file}:loss')
    assert result.returncode == 0, result.stderr
    assert 'x.T @' in result.stdout
    assert 'matmul_adjoint' not in result.stdout


def test_shape_repeated_flag_checks_every_value(model_file):
    result = run('dump', '--shape', 'w=2x3', '--shape', 'x=5,4',
                 f'{model_file}:loss')
    assert result.returncode == 2
    assert 'w=2x3' in result.stderr


def test_shape_negative_size_exits_2(model_file):
    result = run('dump', f'{model_file}:loss', '--shape', 'w=4,-1')
    assert result.returncode == 2
    assert 'negative' in result.stderr


def test_shape_unknown_parameter_exits_2(model_file):
    result = run('dump', f'{model_file}:loss', '--shape', 'y=3')
    assert result.returncode == 2
    assert '--shape y=3' in result.stderr


def test_shape_invalid_dtype_exits_2(model_file):
    result = run('dump', f'{model_file}:loss', '--shape', 'w=3:words')
    assert result.returncode == 2
    assert 'invalid shape or dtype' in result.stderr


def test_shape_with_forward_mode_exits_2(model_file):
    result = run('dump', f'{model_file}:loss', '--shape', 'w=4,3',
                 '--mode', 'forward')
    assert result.returncode == 2
    assert 'reverse mode of order 1' in result.stderr


def test_python_dash_m_runs_the_same_program(model_file):
    result = subprocess.run(
        [sys.executable, '-m', 'adcompiler', 'dump', f'{model_file}:loss'],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert 'def adjoint_loss(' in result.stdout


def test_missing_file_exits_2(tmp_path):
    result = run('dump', f'{tmp_path}/absent.py:loss')
    assert result.returncode == 2
    assert 'file not found' in result.stderr


def test_missing_function_exits_2(model_file):
    result = run('dump', f'{model_file}:nothing')
    assert result.returncode == 2
    assert "no function named 'nothing'" in result.stderr


def test_unknown_wrt_exits_2(model_file):
    result = run('dump', f'{model_file}:loss', '--wrt', 'q')
    assert result.returncode == 2
    assert "no parameter named 'q'" in result.stderr


def test_compile_error_exits_1_with_location(model_file):
    result = run('dump', f'{model_file}:guarded')
    assert result.returncode == 1
    assert 'a try statement is not supported' in result.stderr
    assert 'line 8' in result.stderr


def test_forward_mode_prints_tangent(model_file):
    result = run('dump', f'{model_file}:loss', '--mode', 'forward')
    assert result.returncode == 0, result.stderr
    assert 'def tangent_loss(w, x, *, dw):' in result.stdout


def test_order_two_prints_tangent_and_its_adjoint(model_file):
    result = run('dump', f'{model_file}:loss', '--order', '2')
    assert result.returncode == 0, result.stderr
    assert 'def primal_tangent_loss(' in result.stdout
    assert 'def adjoint_tangent_of_loss(' in result.stdout
    assert 'def adjoint_tangent_loss(' in result.stdout


def test_forward_order_two_prints_tangent_of_adjoint(model_file):
    result = run('dump', f'{model_file}:loss', '--order', '2', '--mode',
                 'forward')
    assert result.returncode == 0, result.stderr
    assert 'def tangent_adjoint_loss(' in result.stdout


def test_reverse_over_reverse_prints_adjoint_of_adjoint(model_file):
    result = run('dump', f'{model_file}:loss', '--order', '2', '--inner',
                 'reverse')
    assert result.returncode == 0, result.stderr
    assert 'def primal_adjoint_loss(' in result.stdout
    assert 'def adjoint_adjoint_loss(' in result.stdout
    assert 'def adjoint_gradient_of_loss(' in result.stdout


def test_inner_without_order_two_exits_2(model_file):
    result = run('dump', f'{model_file}:loss', '--inner', 'reverse')
    assert result.returncode == 2
    assert '--inner applies to --order 2 only' in result.stderr
    assert result.stdout == ''


# The lines of `loss` in model_file, by number.
LOSS_LINES = {3: 'def loss(w, x):', 4: 'z = np.tanh(x @ w)',
              5: 'return np.mean(z ** 2)'}


@pytest.mark.parametrize('options', [
    ('--order', '2'),
    ('--order', '2', '--inner', 'reverse'),
    ('--order', '2', '--mode', 'forward'),
    ('--order', '2', '--mode', 'forward', '--inner', 'forward'),
], ids=['reverse-over-forward', 'reverse-over-reverse',
        'forward-over-reverse', 'forward-over-forward'])
def test_order_two_comments_name_user_lines(model_file, options):
    result = run('dump', f'{model_file}:loss', *options)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('# Hessian-vector product of loss')
    comments = re.findall(r'^ *# line (\d+): (.*)$', result.stdout,
                          flags=re.MULTILINE)
    assert comments
    for number, text in comments:
        assert LOSS_LINES.get(int(number)) == text
    assert '# wrapper line ' in result.stdout


def test_non_function_exits_2(tmp_path):
    path = tmp_path / 'values.py'
    path.write_text('import numpy as np\nweights = np.ones(3)\n')
    result = run('dump', f'{path}:weights')
    assert result.returncode == 2
    assert 'not a function' in result.stderr


def test_module_that_raises_exits_2(tmp_path):
    path = tmp_path / 'broken.py'
    path.write_text('raise RuntimeError("boom")\n')
    result = run('dump', f'{path}:f')
    assert result.returncode == 2
    assert 'importing' in result.stderr
    assert 'boom' in result.stderr


def test_demo_checks_its_gradient():
    result = run('demo')
    assert result.returncode == 0, result.stderr
    assert 'def adjoint_rosen' in result.stdout
    assert 'relative error' in result.stdout


# Code that comes from other files than the user's ----------------------

@pytest.fixture
def method_file(tmp_path):
    (tmp_path / 'helpers.py').write_text(textwrap.dedent('''\
        import numpy as np

        def squash(v):
            return np.tanh(v)
        '''))
    path = tmp_path / 'net.py'
    path.write_text(textwrap.dedent('''\
        import numpy as np
        from helpers import squash

        class Net:
            def __init__(self, W):
                self.W = W

            def __call__(self, x):
                return np.tanh(x @ self.W)

            def loss(self, x, y):
                return np.mean((self(x) - y) ** 2)

        def smooth(x):
            return np.sum(squash(x) ** 2)
        '''))
    return path


def test_dump_puts_own_helpers_last(method_file):
    result = run('dump', f'{method_file}:Net.loss', '--wrt', 'x',
                 cwd=method_file.parent)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    heading = text.index("# adcompiler's own helpers follow")
    assert text.index('def primal_loss(') < heading
    assert text.index('def adjoint_loss(') < heading
    assert '# line 12: return np.mean((self(x) - y) ** 2)' in text
    helpers = text[heading:]
    assert re.search(r'# adcompiler/rules/operators\.py, line \d+: ', helpers)
    # Every line comment after the heading names adcompiler's file.
    assert not re.search(r'^\s*# line \d+:', helpers, re.MULTILINE)


def test_dump_order_two_puts_own_helpers_last(method_file):
    result = run('dump', f'{method_file}:Net.loss', '--wrt', 'x',
                 '--order', '2', cwd=method_file.parent)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    heading = text.index("# adcompiler's own helpers follow")
    assert text.index('def primal_tangent_loss(') < heading
    assert re.search(r'# adcompiler/rules/operators\.py, line \d+: ',
                     text[heading:])


def test_dump_names_file_of_other_module(method_file):
    result = run('dump', f'{method_file}:smooth', cwd=method_file.parent)
    assert result.returncode == 0, result.stderr
    assert '# line 15: return np.sum(squash(x) ** 2)' in result.stdout
    assert '# helpers.py, line 4: return np.tanh(v)' in result.stdout
    assert "adcompiler's own helpers" not in result.stdout
