"""Split adcompiler's gradient time into its parts, per workload.

`python -m benchmarks.breakdown [--quick] [--workloads ...] [--allocator
kept|default]` prints the malloc regime (see benchmarks/allocator.py) and
a Markdown table with, for each workload:

- the time of the plain NumPy primal and of the generated primal that
  `grad` runs (the grad-only primal where there is one), which also keeps
  the values the adjoint reads;
- the time of the generated adjoint alone;
- the time `grad(f)(...)` adds around them (binding the arguments, checking
  the output, making the final gradients), as the median of paired
  differences;
- the calls to `adcompiler.runtime` helpers in one gradient, and the tape
  length;
- the peak traced memory of the plain primal and of the generated primal
  with its saved values.

Times are the minimum over repeats of `timeit` loops, so that another
process on the machine inflates them less than a median would. The
adjoint consumes the tape, so it is timed as primal plus adjoint, less the
primal. The helper calls are counted by wrapping the attributes of
`adcompiler.runtime` for one call: generated code looks helpers up on that
module each time it calls them.
"""

import os

# One thread, as in benchmarks.run, set before NumPy loads its BLAS.
os.environ['OMP_NUM_THREADS'] = '1'
os.environ['OPENBLAS_NUM_THREADS'] = '1'
os.environ['MKL_NUM_THREADS'] = '1'

import argparse  # noqa: E402
import collections  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import functools  # noqa: E402
import inspect  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import timeit  # noqa: E402

import adcompiler  # noqa: E402
from adcompiler import runtime  # noqa: E402
from adcompiler.api import _grad_only_applies  # noqa: E402
from benchmarks import allocator  # noqa: E402
from benchmarks.measure import peak_memory_bytes  # noqa: E402
from benchmarks.workloads import BY_NAME  # noqa: E402

REPEATS = 7
# The wrapper time is a difference of timings. Below this fraction of the
# total, it is reported as below noise rather than as a number.
NOISE_FRACTION = 0.03


def best_seconds(call):
    """Return the minimum time per call over REPEATS timeit loops."""
    timer = timeit.Timer(call)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=REPEATS, number=number)) / number


def paired_difference(slower, faster):
    """Return the median of paired differences of time per call.

    The two loops of a pair run one right after the other, so that a drift
    of the machine's speed affects both alike.
    """
    number, _ = timeit.Timer(slower).autorange()
    differences = []
    for _ in range(REPEATS):
        pair = [timeit.timeit(call, number=number) for call in (slower,
                                                                faster)]
        differences.append((pair[0] - pair[1]) / number)
    return statistics.median(differences)


@contextlib.contextmanager
def counting_helpers(counts):
    """Count calls of every public function of adcompiler.runtime.

    Classes are left alone: the helpers compare types with them
    (`type(x) is ShapeAndKind`), which a wrapper in their place would break.
    """
    originals = {
        name: value for name, value in vars(runtime).items()
        if callable(value) and not isinstance(value, type)
        and not name.startswith('_')
        and getattr(value, '__module__', None) == runtime.__name__}

    def counted(name, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)
        return wrapper

    for name, function in originals.items():
        setattr(runtime, name, counted(name, function))
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(runtime, name, function)


@dataclasses.dataclass
class Breakdown:
    """The parts of one workload's gradient; seconds and bytes."""

    plain: float
    generated_primal: float
    adjoint: float
    wrapper: float
    total: float
    helpers: collections.Counter
    tape: int
    plain_memory: int
    primal_memory: int
    # grad runs the primal and the adjoint on slices of the arrays (see
    # adcompiler.chunked), so the primal and adjoint columns, which time
    # them on the whole arrays, do not add up to its time.
    sliced: bool = False


def measure_workload(workload, quick):
    args = workload.make_inputs(quick)
    gradient = adcompiler.grad(workload.function, wrt=tuple(workload.wrt))
    gradient(*args)
    gradient(*args)
    # The code grad runs from the second call on: compiled apart for float
    # scalar arguments, whose adjoint may take a Python float cotangent,
    # and for the shapes of the array arguments.
    parameters = inspect.signature(workload.function).parameters
    arguments = dict(zip(parameters, args))
    variant = gradient._compiled_for(arguments)
    compiled = variant.compiled
    seed = (1.0 if compiled.float_seed
            else runtime.seed(workload.function(*args)))
    # grad runs the grad-only primal, which returns the seed, and the
    # adjoint that follows it, when its proof holds for these arguments.
    primal = compiled.primal
    adjoint = compiled.adjoint
    if compiled.grad_only_primal is not None and _grad_only_applies(
            compiled, arguments):
        primal = compiled.grad_only_primal
        adjoint = compiled.grad_only_adjoint or compiled.adjoint
        seed, _ = primal(*args)

    def primal_and_adjoint():
        _, saved = primal(*args)
        return adjoint(saved, seed)

    plain = best_seconds(lambda: workload.function(*args))
    generated_primal = best_seconds(lambda: primal(*args))
    both = best_seconds(primal_and_adjoint)
    total = best_seconds(lambda: gradient(*args))

    counts = collections.Counter()
    with counting_helpers(counts):
        primal_and_adjoint()
    _, saved = primal(*args)
    tape = len(saved[-1]) if compiled.has_tape else 0

    return Breakdown(
        plain=plain,
        generated_primal=generated_primal,
        adjoint=both - generated_primal,
        wrapper=paired_difference(lambda: gradient(*args),
                                  primal_and_adjoint),
        total=total,
        helpers=counts,
        tape=tape,
        plain_memory=peak_memory_bytes(workload.function, args),
        primal_memory=peak_memory_bytes(primal, args),
        sliced=variant.slice_arrays is not None)


def format_table(rows):
    lines = ['| workload | plain primal | generated primal | adjoint | '
             'grad() wrapper | grad() total | tape entries | runtime helper '
             'calls per gradient | peak MiB: plain / generated primal |',
             '| --- |' + ' ---: |' * 6 + ' --- | ---: |']
    for name, row in rows.items():
        helpers = ', '.join(f'{helper} {count}' for helper, count in
                            row.helpers.most_common())
        wrapper = f'{row.wrapper * 1e6:.0f} us'
        if abs(row.wrapper) < NOISE_FRACTION * row.total:
            wrapper = 'below noise'
        lines.append(
            f'| {name} | {row.plain * 1e6:.0f} us | '
            f'{row.generated_primal * 1e6:.0f} us | '
            f'{row.adjoint * 1e6:.0f} us | {wrapper} | '
            f'{row.total * 1e6:.0f} us | {row.tape} | {helpers} | '
            f'{row.plain_memory / 2 ** 20:.2f} / '
            f'{row.primal_memory / 2 ** 20:.2f} |')
    sliced = [name for name, row in rows.items() if row.sliced]
    if sliced:
        lines.append('')
        lines.append(f'grad runs {", ".join(sliced)} on slices of the '
                     'arrays: its primal and adjoint columns time the code '
                     'on the whole arrays, and its wrapper column is grad '
                     'less that code.')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m benchmarks.breakdown',
        description="Split adcompiler's gradient time into primal, adjoint "
                    'and wrapper, and count runtime helper calls.')
    parser.add_argument('--quick', action='store_true',
                        help='use the quick (smaller) input sizes')
    parser.add_argument('--workloads', nargs='+', choices=list(BY_NAME),
                        metavar='NAME', default=list(BY_NAME),
                        help='workloads to measure (default: all)')
    parser.add_argument(
        '--allocator', choices=allocator.REGIMES, default='kept',
        help='glibc malloc regime, as in benchmarks.run (default: kept)')
    arguments = parser.parse_args(argv)
    if argv is None:
        # As in benchmarks.run: this may start the process again.
        allocator.apply(arguments.allocator, sys.orig_argv[1:])
    print(f'Allocator: {allocator.describe(arguments.allocator)}\n')
    rows = {name: measure_workload(BY_NAME[name], arguments.quick)
            for name in BY_NAME if name in arguments.workloads}
    print(format_table(rows))


if __name__ == '__main__':
    main()
