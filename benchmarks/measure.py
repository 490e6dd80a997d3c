"""Measurements: gradient check, first call, peak memory, interleaved timing.

Times come from `time.perf_counter`. Each timed sample runs a callable
`number` times in a row and divides by `number`, which is calibrated per
callable so that a sample takes about `sample_seconds`. The samples of all
callables of one workload are taken round-robin, and the starting callable
moves by one each round. A slow drift of the machine (another process,
frequency scaling) then affects every tool alike. The reported time is the
median over the rounds.
"""

import dataclasses
import gc
import statistics
import time
import tracemalloc

import numpy as np

# A gradient agrees with the reference when every element satisfies
# |got - expected| <= ATOL_SCALE * max|expected| + RTOL * |expected|. All
# tools compute in float64, so the bounds leave room only for a different
# order of summation.
RTOL = 1e-6
ATOL_SCALE = 1e-9


@dataclasses.dataclass
class Agreement:
    """The result of comparing a tool's gradient with the hand-written one."""

    ok: bool
    max_relative_error: float
    message: str = ''


def compare_gradients(got, expected):
    """Compare two tuples of gradients, shapes included."""
    if len(got) != len(expected):
        return Agreement(False, float('inf'),
                         f'{len(got)} gradients, expected {len(expected)}')
    worst = 0.0
    problems = []
    for position, (g, e) in enumerate(zip(got, expected, strict=True)):
        g = np.asarray(g, dtype=float)
        e = np.asarray(e, dtype=float)
        if g.shape != e.shape:
            problems.append(f'gradient {position} has shape {g.shape}, '
                            f'expected {e.shape}')
            worst = float('inf')
            continue
        scale = float(np.max(np.abs(e))) if e.size else 0.0
        error = float(np.max(np.abs(g - e))) if e.size else 0.0
        worst = max(worst, error / scale if scale else error)
        if not np.allclose(g, e, rtol=RTOL, atol=ATOL_SCALE * scale):
            problems.append(f'gradient {position} differs: max abs error '
                            f'{error:.3g}, max |expected| {scale:.3g}')
    return Agreement(not problems, worst, '; '.join(problems))


def first_call_seconds(make, args):
    """Time `make()` plus the first call of what it returns."""
    gc.collect()
    start = time.perf_counter()
    call = make()
    call(*args)
    return time.perf_counter() - start


def peak_memory_bytes(call, args):
    """Return the peak traced memory of one call, above what was traced.

    tracemalloc counts Python objects and NumPy array data (NumPy reports its
    allocations to it), but not memory from other allocators such as
    PyTorch's or XLA's.
    """
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = call(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak - before


def calibrate(call, args, sample_seconds, max_number=10_000):
    """Return the number of calls that makes a sample last sample_seconds.

    Calls are doubled until they last a fifth of a sample, so that one slow
    call (a page fault, a garbage collection) does not set the number. One
    call runs first, untimed: adcompiler's `grad` compiles code for the
    argument shapes on its second call.
    """
    call(*args)
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            call(*args)
        elapsed = time.perf_counter() - start
        if elapsed >= sample_seconds / 5 or number >= max_number:
            break
        number *= 2
    per_call = elapsed / number
    if per_call <= 0:
        return max_number
    return max(1, min(max_number, round(sample_seconds / per_call)))


def interleaved_medians(calls, rounds, sample_seconds):
    """Return the median seconds per call of each named callable.

    The samples are taken round-robin. `calls` maps a name to
    `(callable, args)`. Returns the medians and the
    number of calls per sample, both keyed by name.
    """
    names = list(calls)
    numbers = {name: calibrate(*calls[name], sample_seconds)
               for name in names}
    samples = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            call, args = calls[name]
            number = numbers[name]
            gc.collect()
            start = time.perf_counter()
            for _ in range(number):
                call(*args)
            samples[name].append((time.perf_counter() - start) / number)
    medians = {name: statistics.median(samples[name]) for name in names}
    return medians, numbers
