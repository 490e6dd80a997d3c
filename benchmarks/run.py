"""Run the benchmark: `python -m benchmarks.run [--quick] [--workloads ...]`.

For each workload, every installed tool is timed on its first call, on a
fresh copy of the function. Its gradient is then checked against the
hand-written one, its peak traced memory is measured, and it is timed in
interleaved rounds together with the NumPy primal. A full run writes RESULTS.md and
results.png into the benchmarks directory; see benchmarks/README.md.

On glibc, the run starts itself again with malloc settings that keep
freed memory in the process (see benchmarks/allocator.py), unless
`--allocator default` is given.
"""

import os

# Every library runs on one thread. The variables are read when NumPy (its
# BLAS), PyTorch and XLA load, so they are set before any of them is
# imported. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are left as they are and
# only recorded.
os.environ['OMP_NUM_THREADS'] = '1'
os.environ['OPENBLAS_NUM_THREADS'] = '1'
os.environ['MKL_NUM_THREADS'] = '1'
os.environ['XLA_FLAGS'] = ('--xla_cpu_multi_thread_eigen=false '
                           'intra_op_parallelism_threads=1')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import argparse  # noqa: E402
import datetime  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from benchmarks import allocator, machine, measure, report, tools  # noqa: E402
from benchmarks.records import (Report, Settings, Status,  # noqa: E402
                                ToolResult, WorkloadResult)
from benchmarks.workloads import BY_NAME, WORKLOADS  # noqa: E402

BENCHMARKS_DIRECTORY = pathlib.Path(__file__).resolve().parent
REPOSITORY = BENCHMARKS_DIRECTORY.parent

# Rounds and seconds per sample. A full run took 80 s to 2 minutes on the
# 2-core AMD EPYC of RESULTS.md, most of it in JAX's eager dispatch and jit
# compilation. A quick run took under a minute.
FULL_ROUNDS, FULL_SAMPLE_SECONDS = 7, 0.05
QUICK_ROUNDS, QUICK_SAMPLE_SECONDS = 3, 0.005


def _log(message):
    print(message, file=sys.stderr, flush=True)


def load_tools(names):
    """Instantiate and load the named tools; return them and the skipped."""
    loaded = []
    skipped = {}
    for tool_class in tools.ALL_TOOLS:
        if tool_class.name not in names:
            continue
        tool = tool_class()
        try:
            tool.load()
        except ImportError as err:
            skipped[tool.label] = f'not installed ({err})'
            _log(f'note: skipping {tool.label}: not installed ({err})')
            continue
        loaded.append(tool)
    return loaded, skipped


def _check(tool, workload, call, args, expected, result):
    """Run the gradient twice and compare it with the hand-written one.

    adcompiler's `grad` runs general code on the first call and, from the
    second call with the same argument shapes, code compiled for them: the
    code that is timed. That compilation also stays out of the peak memory
    measured after this check.
    """
    if not tool.computes_gradient:
        call(*args)
        return
    agreements = [measure.compare_gradients(tool.to_numpy(call(*args)),
                                            expected) for _ in range(2)]
    agreement = max(agreements, key=lambda a: (not a.ok,
                                               a.max_relative_error))
    result.max_relative_error = agreement.max_relative_error
    if not agreement.ok:
        result.status = Status.INVALID
        result.message = f'gradient differs from the hand-written one: ' \
                         f'{agreement.message}'
        _log(f'\n!!! GRADIENT MISMATCH: {tool.label} on {workload.name}: '
             f'{agreement.message}. Its timing is marked invalid.\n')


def prepare_tool(tool, workload, inputs, expected):
    """First call, check and memory of one tool; return the result and the
    callable to time (None after an error)."""
    result = ToolResult(tool.name, tool.label, Status.OK,
                        memory_traced=tool.memory_traced)
    try:
        args = tool.convert(workload, inputs)
        result.first_call = measure.first_call_seconds(
            lambda: tool.make(workload, tools.fresh_copy(workload.function)),
            args)
        call = tool.make(workload, workload.function)
        _check(tool, workload, call, args, expected, result)
        result.peak_memory = measure.peak_memory_bytes(call, args)
    except Exception as err:  # noqa: BLE001 - any failure is reported
        result.status = Status.ERROR
        result.message = f'{type(err).__name__}: {err}'
        _log(f'\n!!! ERROR: {tool.label} on {workload.name}: '
             f'{result.message}\n')
        return result, None
    return result, (call, args)


def run_workload(workload, loaded, settings):
    _log(f'{workload.name}: {workload.description}')
    inputs = workload.make_inputs(settings.quick)
    expected = workload.gradient(*inputs)

    results = []
    calls = {}
    for tool in loaded:
        result, timed = prepare_tool(tool, workload, inputs, expected)
        results.append(result)
        if timed is not None:
            calls[tool.name] = timed
        first_call = ('n/a' if result.first_call is None
                      else f'{result.first_call:.4f} s')
        _log(f'  {tool.label}: first call {first_call}, '
             f'{result.status.value}')

    medians, numbers = measure.interleaved_medians(
        calls, settings.rounds, settings.sample_seconds)
    primal = medians.get('primal')
    for result in results:
        if result.tool in medians:
            result.median = medians[result.tool]
            result.calls_per_sample = numbers[result.tool]
            if primal:
                result.ratio = result.median / primal
    return WorkloadResult(workload.name, workload.description, results)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog='python -m benchmarks.run',
        description='Time gradients of NumPy workloads with adcompiler, '
                    'hand-written NumPy, autograd, JAX and PyTorch.')
    parser.add_argument(
        '--quick', action='store_true',
        help='smaller inputs and fewer rounds (under a minute); prints the '
             'table and writes files only with --output-dir')
    parser.add_argument(
        '--workloads', nargs='+', choices=list(BY_NAME), metavar='NAME',
        default=list(BY_NAME),
        help=f'workloads to run (default: all of {", ".join(BY_NAME)})')
    parser.add_argument(
        '--tools', nargs='+', metavar='NAME',
        choices=[tool.name for tool in tools.ALL_TOOLS if tool.name != 'primal'],
        default=[tool.name for tool in tools.ALL_TOOLS
                 if tool.name != 'primal'],
        help='tools to run besides the NumPy primal, which always runs '
             '(default: all)')
    parser.add_argument(
        '--rounds', type=int,
        help=f'timing rounds per workload (default: {FULL_ROUNDS}, quick: '
             f'{QUICK_ROUNDS})')
    parser.add_argument(
        '--sample-seconds', type=float,
        help=f'target duration of one timed sample, in seconds (default: '
             f'{FULL_SAMPLE_SECONDS}, quick: {QUICK_SAMPLE_SECONDS})')
    parser.add_argument(
        '--allocator', choices=allocator.REGIMES, default='kept',
        help='glibc malloc regime: "kept" fixes the thresholds so that freed '
             'memory stays in the process, "default" leaves glibc\'s '
             'adaptive ones, under which times may depend on the tools run '
             'before (default: kept; no effect on other C libraries)')
    parser.add_argument(
        '--output-dir', type=pathlib.Path,
        help='directory for RESULTS.md and results.png (default: the '
             'benchmarks directory for a full run of every workload and '
             'tool; otherwise nothing is written)')
    arguments = parser.parse_args(argv)
    if arguments.rounds is not None and arguments.rounds < 1:
        parser.error(f'--rounds must be at least 1, got {arguments.rounds}')
    if arguments.sample_seconds is not None and arguments.sample_seconds <= 0:
        parser.error(f'--sample-seconds must be positive, got '
                     f'{arguments.sample_seconds}')
    return arguments


def _output_directory(arguments):
    """Return the directory to write to, or None for a quick or partial run
    without --output-dir, which must not replace the full run's record."""
    if arguments.output_dir is not None:
        return arguments.output_dir
    every_tool = {tool.name for tool in tools.ALL_TOOLS} - {'primal'}
    complete = (set(arguments.workloads) == set(BY_NAME)
                and set(arguments.tools) == every_tool)
    if arguments.quick or not complete:
        return None
    return BENCHMARKS_DIRECTORY


def main(argv=None):
    arguments = parse_arguments(argv)
    if argv is None:
        # Run from the command line: under `kept`, this may start the
        # process again and not return. A call from Python code keeps its
        # process, and the report records whether the regime is in effect.
        allocator.apply(arguments.allocator, sys.orig_argv[1:])
    settings = Settings(
        quick=arguments.quick,
        rounds=arguments.rounds or (QUICK_ROUNDS if arguments.quick
                                    else FULL_ROUNDS),
        sample_seconds=arguments.sample_seconds or (
            QUICK_SAMPLE_SECONDS if arguments.quick else FULL_SAMPLE_SECONDS),
        workloads=tuple(name for name in BY_NAME
                        if name in arguments.workloads),
        tools=('primal', *arguments.tools))
    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    description = machine.describe(str(REPOSITORY), arguments.allocator)
    other_load = machine.OtherLoad()
    other_load.start()

    loaded, skipped = load_tools(settings.tools)
    versions = {}
    for tool in loaded:
        versions.update(tool.versions())
    plotting = report.matplotlib_version()
    versions['matplotlib'] = plotting or 'not installed (no plot written)'
    results = [run_workload(workload, loaded, settings)
               for workload in WORKLOADS if workload.name in settings.workloads]
    record = Report(settings, description, versions, skipped, results,
                    started.strftime('%Y-%m-%d %H:%M UTC'),
                    time.perf_counter() - start, other_load.stop())

    print(report.summary_table(record))
    directory = _output_directory(arguments)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / 'RESULTS.md').write_text(report.markdown(record),
                                              encoding='utf-8')
        _log(f'wrote {directory / "RESULTS.md"}')
        if plotting:
            report.plot(record, directory / 'results.png')
            _log(f'wrote {directory / "results.png"}')
        else:
            _log('note: matplotlib is not installed, so no plot was written')

    failures = report.failures(record)
    for failure in failures:
        _log(f'!!! {failure}')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
