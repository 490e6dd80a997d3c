"""CPU time that adcompiler spends compiling: import, long functions, and
first calls of SciPy Hessians.

    python -m benchmarks.compile_time [--lines N ...] [--hessian NAME ...]
                                      [--repeats R]

Prints CPU seconds (`time.process_time`), each the least over `--repeats`
fresh Python processes, because other processes on a loaded machine change
CPU time much less than wall-clock time:

- `import adcompiler`, and `import numpy` alone. With
  PYTHONDONTWRITEBYTECODE set, Python keeps no bytecode cache, so each
  import also compiles adcompiler's modules from source.
- the first call of `grad` of `f(x, c)` made of `s = s + c * x` repeated
  N times (default 250, 500 and 1000 lines), after a warm-up gradient.
- the first call of `hessian` of a SciPy function of 10 elements (rosen,
  logsumexp, softmax, log_softmax, entropy), after a warm-up gradient.
  It compiles the SciPy function, its helpers, the calls dispatched at
  run time, and forward mode over the generated code.
"""

import argparse
import linecache
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

_REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
HESSIAN_INPUTS = ('rosen', 'logsumexp', 'softmax', 'log_softmax', 'entropy')

_IMPORT_SCRIPT = '''
import time
start = time.process_time()
import numpy
middle = time.process_time()
import adcompiler
print(middle - start, time.process_time() - start)
'''

_LINES_SCRIPT = '''
import sys, time
import numpy as np
import adcompiler
from benchmarks.compile_time import long_function
adcompiler.grad(lambda x: x * 2.0)(1.0)
f = long_function(int(sys.argv[1]))
start = time.process_time()
adcompiler.grad(f)(np.ones(3), 2.0)
print(time.process_time() - start)
'''

_HESSIAN_SCRIPT = '''
import sys, time
import numpy as np
import scipy.optimize, scipy.special, scipy.stats
import adcompiler
adcompiler.grad(lambda x: x * 2.0)(1.0)
x = np.linspace(0.1, 0.9, 10)
p = x / x.sum()
weights = np.arange(10.0)
cases = {
    'rosen': (scipy.optimize.rosen, x),
    'logsumexp': (lambda v: scipy.special.logsumexp(v), x),
    'softmax': (lambda v: np.sum(weights * scipy.special.softmax(v)), x),
    'log_softmax': (lambda v: np.sum(weights * scipy.special.log_softmax(v)),
                    x),
    'entropy': (lambda v: scipy.stats.entropy(v, base=2.0), p),
}
function, argument = cases[sys.argv[1]]
start = time.process_time()
adcompiler.hessian(function)(argument)
print(time.process_time() - start)
'''


def long_function(lines):
    """Return `f(x, c)` made of `s = s + c * x` repeated `lines` times,
    defined from source stored in `linecache`, where adcompiler reads it.
    """
    body = '\n'.join('    s = s + c * x' for _ in range(lines))
    source = f'def f(x, c):\n    s = 0.0\n{body}\n    return np.sum(s)\n'
    filename = f'<compile_time {lines}>'
    linecache.cache[filename] = (len(source), None,
                                 source.splitlines(True), filename)
    namespace = {'np': np}
    exec(compile(source, filename, 'exec'), namespace)  # noqa: S102
    return namespace['f']


def least_cpu_seconds(script, argument, repeats):
    """Return the least of the numbers that `script` prints on its last
    line, run with `argument` in `repeats` fresh processes, item by item."""
    # adcompiler needs the source of the functions in a file: a script
    # given with -c has none.
    with tempfile.TemporaryDirectory() as directory:
        path = pathlib.Path(directory) / 'compile_time_script.py'
        path.write_text(script)
        environment = dict(os.environ, PYTHONPATH=str(_REPOSITORY))
        least = None
        for _ in range(repeats):
            done = subprocess.run(
                [sys.executable, str(path)] + ([argument] if argument else []),
                capture_output=True, text=True, check=True, env=environment)
            values = [float(value) for value
                      in done.stdout.strip().splitlines()[-1].split()]
            least = values if least is None else [
                min(old, new) for old, new in zip(least, values)]
    return least


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--lines', type=int, nargs='*',
                        default=[250, 500, 1000])
    parser.add_argument('--hessian', nargs='*', default=list(HESSIAN_INPUTS),
                        choices=HESSIAN_INPUTS)
    parser.add_argument('--repeats', type=int, default=3)
    options = parser.parse_args(argv)

    numpy_seconds, total = least_cpu_seconds(_IMPORT_SCRIPT, None,
                                             options.repeats)
    print(f'import numpy: {numpy_seconds:.3f} s, import adcompiler (with '
          f'numpy): {total:.3f} s')
    for lines in options.lines:
        (seconds,) = least_cpu_seconds(_LINES_SCRIPT, str(lines),
                                       options.repeats)
        print(f'grad first call, {lines} lines: {seconds:.3f} s')
    for name in options.hessian:
        (seconds,) = least_cpu_seconds(_HESSIAN_SCRIPT, name,
                                       options.repeats)
        print(f'hessian first call, {name}: {seconds:.3f} s')


if __name__ == '__main__':
    main()
