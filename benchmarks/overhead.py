"""Time that a cached `grad()` call adds over the generated code it runs.

    python -m benchmarks.overhead [--rounds N] [--sample-seconds S]
                                  [--cases NAME ...]

For each case, `g = adcompiler.grad(f)` is called twice first: the second
call compiles the code for the shapes of the array arguments, which the
later calls run. Then `g(*args)` is timed against a direct call of the
generated functions that `g` runs for these arguments. That is the same
variant (for float scalars, for the argument shapes, the grad-only
primal where its proof holds), primal then adjoint. The direct call gets
its seed made beforehand and takes the adjoint's result as it is.

The two are timed in interleaved samples, and the starting one alternates
between rounds. A sample is a loop of as many calls as fill about
`--sample-seconds`. The table gives the least and the median CPU time per
call (`time.process_time`) of each over the rounds, and the difference of
the least and of the medians in microseconds. CPU time leaves out the time
this process waits for a core, which other processes on a loaded machine
take; what they do to the caches still shows.

The cases are the workloads of `benchmarks.workloads` at their quick
sizes, a function of two Python floats, a logistic-regression loss on 200
samples of 5 features, and `scipy.optimize.rosen` on 1,000 elements when
SciPy is installed.
"""

import os

# One thread, as in benchmarks.run, set before NumPy loads its BLAS.
os.environ['OMP_NUM_THREADS'] = '1'
os.environ['OPENBLAS_NUM_THREADS'] = '1'
os.environ['MKL_NUM_THREADS'] = '1'

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import gc  # noqa: E402
import inspect  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import adcompiler  # noqa: E402
from adcompiler import runtime  # noqa: E402
from adcompiler.api import _grad_only_applies  # noqa: E402
from benchmarks.machine import OtherLoad  # noqa: E402
from benchmarks.workloads import WORKLOADS  # noqa: E402


def float_product(x, y):
    return x * y


def logistic_loss(w, X, y):
    return np.mean(np.log1p(np.exp(-y * (X @ w))))


def logistic_inputs():
    """Return (w, X, y) for `logistic_loss`: 200 samples of 5 features
    with labels of -1 and 1."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = np.sign(rng.normal(size=200))
    return rng.normal(size=5) * 0.1, X, y


@dataclasses.dataclass(frozen=True)
class Case:
    """A function, the arguments to differentiate and the arguments."""

    name: str
    function: object
    wrt: tuple
    args: tuple


def make_cases():
    """Return the cases by name: the quick workloads, a function of two
    floats, a logistic-regression loss, and SciPy's rosen when SciPy is
    installed."""
    cases = [Case(workload.name, workload.function, tuple(workload.wrt),
                  workload.make_inputs(True)) for workload in WORKLOADS]
    cases.append(Case('float_product', float_product, (0,), (1.5, -0.5)))
    cases.append(Case('logistic', logistic_loss, (0,), logistic_inputs()))
    try:
        import scipy.optimize
    except ImportError:
        pass
    else:
        cases.append(Case('scipy_rosen', scipy.optimize.rosen, (0,),
                          (np.linspace(-1.0, 1.5, 1000),)))
    return {case.name: case for case in cases}


def direct_call(gradient, function, args):
    """Return a function of no arguments that runs the generated primal and
    adjoint that `gradient(*args)` runs, without the wrapper's work."""
    arguments = dict(zip(inspect.signature(function).parameters, args))
    compiled = gradient._compiled_for(arguments).compiled
    if compiled.grad_only_primal is not None and _grad_only_applies(
            compiled, arguments):
        primal = compiled.grad_only_primal
        adjoint = compiled.grad_only_adjoint or compiled.adjoint
        seed, _ = primal(*args)
    else:
        primal, adjoint = compiled.primal, compiled.adjoint
        value, _ = primal(*args)
        seed = 1.0 if compiled.float_seed else runtime.seed(value)

    def run():
        _, saved = primal(*args)
        return adjoint(saved, seed)
    return run


def calibrate(call, sample_seconds):
    """Return the number of calls that takes about `sample_seconds`."""
    number = 1
    while True:
        start = time.process_time()
        for _ in range(number):
            call()
        elapsed = time.process_time() - start
        if elapsed >= sample_seconds / 4 or number >= 1_000_000:
            break
        number *= 2
    return max(1, round(number * sample_seconds / max(elapsed, 1e-9)))


@dataclasses.dataclass
class Overhead:
    """CPU seconds per call of the wrapper and of the direct call."""

    wrapper_least: float
    wrapper_median: float
    direct_least: float
    direct_median: float


def measure(case, rounds, sample_seconds):
    """Return the `Overhead` of `case`."""
    gradient = adcompiler.grad(case.function, wrt=case.wrt)
    gradient(*case.args)
    gradient(*case.args)
    args = case.args

    def wrapped():
        return gradient(*args)
    direct = direct_call(gradient, case.function, args)

    number = calibrate(wrapped, sample_seconds)
    samples = {wrapped: [], direct: []}
    gc.collect()
    for round_index in range(rounds):
        order = (wrapped, direct) if round_index % 2 else (direct, wrapped)
        for call in order:
            start = time.process_time()
            for _ in range(number):
                call()
            samples[call].append((time.process_time() - start) / number)
    return Overhead(min(samples[wrapped]), statistics.median(samples[wrapped]),
                    min(samples[direct]), statistics.median(samples[direct]))


def main(argv=None):
    cases = make_cases()
    parser = argparse.ArgumentParser(
        prog='python -m benchmarks.overhead',
        description='Time what a cached grad() call adds over the '
                    'generated functions it runs.')
    parser.add_argument('--rounds', type=int, default=51,
                        help='interleaved samples of each call (default 51)')
    parser.add_argument('--sample-seconds', type=float, default=0.004,
                        help='target CPU seconds of one sample (default '
                             '0.004)')
    parser.add_argument('--cases', nargs='+', choices=list(cases),
                        metavar='NAME', default=list(cases),
                        help=f'cases to measure (default: all of '
                             f'{", ".join(cases)})')
    options = parser.parse_args(argv)

    load = OtherLoad()
    load.start()
    print('| case | grad() least / median us | direct least / median us '
          '| added, least | added, median |')
    print('| --- | ---: | ---: | ---: | ---: |')
    for name in options.cases:
        result = measure(cases[name], options.rounds, options.sample_seconds)
        print(f'| {name} | {result.wrapper_least * 1e6:.2f} / '
              f'{result.wrapper_median * 1e6:.2f} | '
              f'{result.direct_least * 1e6:.2f} / '
              f'{result.direct_median * 1e6:.2f} | '
              f'{(result.wrapper_least - result.direct_least) * 1e6:.2f} us | '
              f'{(result.wrapper_median - result.direct_median) * 1e6:.2f} '
              'us |', flush=True)
    other = load.stop()
    if other is not None:
        print(f'other processes used {other:.1f} CPU seconds meanwhile; '
              f'load average {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
    main()
