"""The glibc malloc settings that a benchmark run measures under.

A NumPy call on arrays of megabytes can take up to about twice as long
when its output's memory is new to the process as when malloc hands back
memory that an earlier call freed. Each new page costs a page fault and
the kernel's zeroing of the page. By default, glibc's malloc serves
blocks of 128 KiB and more with mmap and returns them to the kernel when
they are freed. When it frees such a block, it raises that threshold to
the block's size (up to 32 MiB on 64-bit machines). It also returns the
free memory at the top of its heap to the kernel once it exceeds the
trim threshold, 128 KiB at first and twice the mmap threshold after each
raise. Which of these happens to a workload's arrays depends on what the
process allocated and freed before, such as the peers that ran earlier
in the same benchmark.

Two regimes are offered:

- `kept` (the default): the variable `GLIBC_TUNABLES` fixes the mmap
  threshold at 32 MiB and the trim threshold at 1 GiB, so that blocks
  under 32 MiB come from the heap and freed memory stays in the process.
  Setting a threshold also switches off glibc's adjustment of it, so the
  regime does not depend on what ran before. A process reaches it without
  these settings once other allocations keep its heap large, as after
  PyTorch or JAX has run in it. A plain NumPy process does not: under
  glibc 2.36's defaults, the NumPy primal of the `elementwise` workload
  page-faulted about 800 to 1300 pages per call after 5 warm-up calls.
- `default`: glibc's own adaptive thresholds, so a workload's times may
  depend on which tools ran before it.

glibc reads `GLIBC_TUNABLES` only when the process starts, so `apply`
starts the benchmark again (`os.execve`) with the variable set. On another
C library, `apply` changes nothing and the report states it.
"""

import os
import platform
import resource
import sys

import numpy as np

REGIMES = ('kept', 'default')

# glibc tunables of the `kept` regime. 32 MiB is glibc's largest mmap
# threshold on 64-bit machines (mallopt(3), M_MMAP_THRESHOLD), so a block
# of 32 MiB or more is still mapped and unmapped on every allocation. The
# benchmark's largest array at full size is 7.6 MiB.
KEPT_TUNABLES = {
    'glibc.malloc.mmap_threshold': str(32 * 2 ** 20),
    'glibc.malloc.trim_threshold': str(2 ** 30),
}

TUNABLES_VARIABLE = 'GLIBC_TUNABLES'


def c_library():
    """Return the C library's name and version, such as ('glibc', '2.36'),
    or empty strings where Python cannot tell."""
    return platform.libc_ver()


def _parse_tunables(value):
    """Return the `name=value` items of a GLIBC_TUNABLES string as a dict,
    in their order."""
    items = {}
    for item in filter(None, (value or '').split(':')):
        name, _, setting = item.partition('=')
        items[name] = setting
    return items


def tunables_for(regime, current):
    """Return the GLIBC_TUNABLES value that sets `regime` on top of
    `current`, the variable's value in the environment (or None).

    Tunables that the regime does not set are kept. For `default`, the
    value is `current` unchanged.
    """
    if regime == 'default':
        return current
    items = _parse_tunables(current)
    items.update(KEPT_TUNABLES)
    return ':'.join(f'{name}={setting}' for name, setting in items.items())


def is_applied(regime, environment=os.environ):
    """Return whether `environment` already sets the tunables of `regime`."""
    if regime == 'default':
        return True
    items = _parse_tunables(environment.get(TUNABLES_VARIABLE))
    return all(items.get(name) == setting
               for name, setting in KEPT_TUNABLES.items())


def apply(regime, argv):
    """Make this process run under `regime`, restarting it if needed.

    `argv` is the command line to start again: the interpreter's options
    and the module or script with its arguments, as in `sys.orig_argv`.
    Returns only when no restart is needed: the regime is `default`, the
    tunables are already in the environment, or the C library is not glibc.
    """
    if regime not in REGIMES:
        raise ValueError(f'invalid allocator regime {regime!r}; expected '
                         f'one of {", ".join(REGIMES)}')
    if c_library()[0] != 'glibc' or is_applied(regime):
        return
    environment = dict(os.environ)
    environment[TUNABLES_VARIABLE] = tunables_for(
        regime, os.environ.get(TUNABLES_VARIABLE))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *argv], environment)


def page_faults_per_reallocation(elements=2 ** 20, repeats=5):
    """Return the minor page faults of allocating, filling and freeing an
    array of `elements` float64 values, averaged over `repeats` after one
    warm-up.

    0 means that malloc reused the freed memory. More means that some of it
    went back to the kernel: up to one fault per 4 KiB page, or per 2 MiB
    where NumPy's arrays get transparent huge pages.
    """
    np.ones(elements)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(repeats):
        np.ones(elements)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    return (after - before) / repeats


def _environment_sets_malloc():
    return any(name.startswith('MALLOC_') for name in os.environ) or any(
        name.startswith('glibc.malloc.') for name in _parse_tunables(
            os.environ.get(TUNABLES_VARIABLE)))


def describe(regime):
    """Return one line for the report on the allocator regime in effect."""
    name, version = c_library()
    if name != 'glibc':
        return (f'C library {name or "unknown"} {version}, not glibc: '
                f'malloc runs with its own settings (regime `{regime}` '
                'requested, nothing changed)')
    faults = page_faults_per_reallocation()
    if regime == 'kept' and not is_applied(regime):
        description = (f'`kept` requested but not in effect, because '
                f'`{TUNABLES_VARIABLE}` was not set when the process started')
    elif regime == 'kept':
        settings = ', '.join(f'{name}={setting}'
                             for name, setting in KEPT_TUNABLES.items())
        description = (f'`kept`: freed memory stays in the process '
                f'(`{TUNABLES_VARIABLE}` sets {settings})')
    elif _environment_sets_malloc():
        description = ('`default`, with the malloc settings of the environment '
                'above')
    else:
        description = ('`default`: glibc\'s adaptive mmap and trim thresholds, so '
                'times may depend on what ran before')
    return (f'{description}; glibc {version}; allocating and freeing an 8 MiB array '
            f'5 times, after one warm-up, page-faulted {faults:.0f} times '
            'per allocation')
