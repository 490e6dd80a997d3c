"""Gradients of SciPy functions differentiated from their installed source.

    python -m benchmarks.library [--rounds N] [--sample-seconds S]

Prints two tables. The first gives, for each real input, the seconds from
`adcompiler.grad(...)` to the end of its first call. Each is measured in a
fresh Python process after SciPy and adcompiler are imported, so the time
covers transforming the SciPy function and its helpers, registering the
SciPy rules and compiling the dispatched calls, in wall-clock and in CPU
time of that process. The target is under 0.1 s.
The second compares `grad(scipy.optimize.rosen)` at 10,000 elements with
SciPy's hand-written `rosen_der`, timed with `measure.interleaved_medians`.
The target is a ratio within 1.5. It also gives the least CPU time
(`time.process_time`) per call over the rounds, which other processes on
a loaded machine change much less than the wall-clock medians.

An input whose gradient raises an AdCompilerError is listed with the
error's first line.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.machine import OtherLoad
from benchmarks.measure import interleaved_medians

_REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
FIRST_CALL_TARGET_SECONDS = 0.1
RATIO_TARGET = 1.5
SIZE = 10_000

# Real inputs: a name and the statements that define `function` and `args`
# in a fresh process, where `np`, `scipy.optimize`, `scipy.special` and
# `scipy.stats` are imported.
REAL_INPUTS = {
    'rosen': 'function = scipy.optimize.rosen\n'
             'args = (np.linspace(-1.0, 1.5, 10000),)',
    'logsumexp': 'def function(a, b):\n'
                 '    return np.sum(scipy.special.logsumexp(a, axis=1, b=b,\n'
                 '                                          keepdims=True))\n'
                 'args = (np.linspace(-1.0, 1.0, 12).reshape(3, 4),\n'
                 '        np.linspace(0.5, 2.0, 12).reshape(3, 4))',
    'softmax': 'weights = np.linspace(-1.0, 1.0, 5)\n'
               'def function(x):\n'
               '    return np.sum(weights * scipy.special.softmax(x))\n'
               'args = (np.linspace(-1.0, 1.0, 5),)',
    'log_softmax': 'weights = np.linspace(-1.0, 1.0, 5)\n'
                   'def function(x):\n'
                   '    return np.sum(weights * scipy.special.log_softmax(x))\n'
                   'args = (np.linspace(-1.0, 1.0, 5),)',
    'entropy': 'def function(p):\n'
               '    return scipy.stats.entropy(p, base=2.0)\n'
               'args = (np.array([0.2, 0.3, 0.5]),)',
}

_FIRST_CALL_SCRIPT = '''
import time
import numpy as np
import scipy.optimize, scipy.special, scipy.stats
import adcompiler
{definition}
start = time.perf_counter()
cpu_start = time.process_time()
try:
    adcompiler.grad(function)(*args)
except adcompiler.AdCompilerError as err:
    print(type(err).__name__ + ': ' + str(err).splitlines()[0])
else:
    print(time.perf_counter() - start, time.process_time() - cpu_start)
'''


def first_call_seconds(name):
    """Return the first-call seconds of a real input, wall-clock and CPU
    time, or its error text."""
    # adcompiler needs the source of the function in a file: a script
    # given with -c has none.
    with tempfile.TemporaryDirectory() as directory:
        script = pathlib.Path(directory) / f'first_call_{name}.py'
        script.write_text(_FIRST_CALL_SCRIPT.format(
            definition=REAL_INPUTS[name]))
        # The script imports adcompiler from this checkout.
        environment = dict(os.environ, PYTHONPATH=str(_REPOSITORY))
        done = subprocess.run([sys.executable, str(script)],
                              capture_output=True, text=True, check=True,
                              env=environment)
    result = done.stdout.strip().splitlines()[-1]
    try:
        wall, cpu = (float(part) for part in result.split())
    except ValueError:
        return result
    return wall, cpu


def cpu_minima(calls, rounds, number=300):
    """Return the least CPU seconds per call of each named callable, over
    `rounds` round-robin samples of `number` calls; `calls` maps a name to
    `(callable, args)`."""
    least = dict.fromkeys(calls, float('inf'))
    for _ in range(rounds):
        for name, (call, args) in calls.items():
            start = time.process_time()
            for _ in range(number):
                call(*args)
            least[name] = min(least[name],
                              (time.process_time() - start) / number)
    return least


def rosen_ratio(rounds, sample_seconds):
    """Return the median seconds of grad(rosen), rosen_der and rosen at
    SIZE, their least CPU seconds, and the CPU seconds other processes used
    meanwhile."""
    import scipy.optimize

    import adcompiler

    x = np.linspace(-1.0, 1.5, SIZE)
    gradient = adcompiler.grad(scipy.optimize.rosen)
    for _ in range(2):  # The second call runs the code for x's shape.
        np.testing.assert_allclose(gradient(x), scipy.optimize.rosen_der(x),
                                   rtol=1e-12)
    calls = {'adcompiler': (gradient, (x,)),
             'rosen_der': (scipy.optimize.rosen_der, (x,)),
             'rosen': (scipy.optimize.rosen, (x,))}
    load = OtherLoad()
    load.start()
    medians, _ = interleaved_medians(calls, rounds, sample_seconds)
    return medians, cpu_minima(calls, rounds), load.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=7,
                        help='timing rounds of the rosen comparison')
    parser.add_argument('--sample-seconds', type=float, default=0.05,
                        help='target length of one timing sample, in seconds')
    options = parser.parse_args(argv)

    print('| input | first call (s) | CPU time of it (s) | target |')
    print('| --- | --- | --- | --- |')
    failed = False
    for name in REAL_INPUTS:
        seconds = first_call_seconds(name)
        if isinstance(seconds, str):
            failed = True
            print(f'| {name} | failed: {seconds} | | '
                  f'< {FIRST_CALL_TARGET_SECONDS} |')
        else:
            print(f'| {name} | {seconds[0]:.3f} | {seconds[1]:.3f} | '
                  f'< {FIRST_CALL_TARGET_SECONDS} |')

    medians, cpu, other_load = rosen_ratio(options.rounds,
                                           options.sample_seconds)
    ratio = medians['adcompiler'] / medians['rosen_der']
    cpu_ratio = cpu['adcompiler'] / cpu['rosen_der']
    print()
    print(f'| at {SIZE} elements | median microseconds per call '
          '| least CPU microseconds per call |')
    print('| --- | --- | --- |')
    for name, seconds in medians.items():
        print(f'| {name} | {seconds * 1e6:.1f} | {cpu[name] * 1e6:.1f} |')
    print(f'| grad / rosen_der | {ratio:.2f} | {cpu_ratio:.2f} '
          f'(target {RATIO_TARGET}) |')
    if other_load is not None:
        print(f'other processes used {other_load:.1f} CPU seconds meanwhile')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
