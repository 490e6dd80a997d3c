"""A description of the machine and software that a benchmark ran on."""

import dataclasses
import os
import platform
import subprocess

import numpy as np

from benchmarks import allocator

# Environment variables that change how fast NumPy, PyTorch and XLA run. The
# report records each one's value, or that it is unset.
RECORDED_VARIABLES = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS',
                      'MKL_NUM_THREADS', 'XLA_FLAGS', 'JAX_PLATFORMS',
                      'OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE',
                      'GLIBC_TUNABLES', 'MALLOC_MMAP_THRESHOLD_',
                      'MALLOC_TRIM_THRESHOLD_')


@dataclasses.dataclass
class Machine:
    """Facts about the machine and software, for the report header."""

    cpu_model: str
    cpu_count: int
    usable_cpus: int
    python: str
    numpy_blas: str
    commit: str
    environment: dict
    load_average: tuple  # 1, 5 and 15 minutes, when describe() ran
    allocator: str  # the malloc regime, from benchmarks.allocator.describe


def _cpu_model():
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as cpuinfo:
            for line in cpuinfo:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def _numpy_blas():
    try:
        blas = np.show_config(mode='dicts')['Build Dependencies']['blas']
    except (KeyError, TypeError):
        return 'unknown'
    return f'{blas.get("name", "unknown")} {blas.get("version", "")}'.strip()


def _git(directory, *arguments):
    return subprocess.run(['git', '-C', directory, *arguments],
                          capture_output=True, text=True, check=True,
                          timeout=10).stdout.strip()


def _commit(directory):
    """Return the checked-out commit, marked when tracked files differ.

    The report files themselves are left out of the comparison, since each
    run rewrites them.
    """
    try:
        commit = _git(directory, 'rev-parse', '--short', 'HEAD')
        changes = _git(directory, 'status', '--porcelain',
                       '--untracked-files=no', '--', '.',
                       ':(exclude)benchmarks/RESULTS.md',
                       ':(exclude)benchmarks/results.png')
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return f'{commit} with uncommitted changes' if changes else commit


def describe(repository, allocator_regime):
    """Describe this machine; `repository` is the checkout being measured,
    `allocator_regime` the regime that `allocator.apply` set."""
    return Machine(
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count() or 0,
        usable_cpus=len(os.sched_getaffinity(0)),
        python=platform.python_version(),
        numpy_blas=_numpy_blas(),
        commit=_commit(repository),
        environment={name: os.environ.get(name)
                     for name in RECORDED_VARIABLES},
        load_average=os.getloadavg(),
        allocator=allocator.describe(allocator_regime))


def _busy_seconds():
    """CPU seconds all processes have spent busy since boot, or None."""
    try:
        with open('/proc/stat', encoding='utf-8') as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...
    ticks = [int(value) for value in fields[1:]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf('SC_CLK_TCK')


class OtherLoad:
    """CPU time that other processes used while a benchmark ran.

    `start()` and `stop()` read the machine's busy time from /proc/stat and
    this process's own CPU time. Their difference is what other processes
    took from the machine's cores, a measure of how noisy the run was.
    """

    def start(self):
        self._busy = _busy_seconds()
        self._own = self._own_seconds()

    @staticmethod
    def _own_seconds():
        times = os.times()
        return times.user + times.system

    def stop(self):
        """Return the CPU seconds used by other processes, or None."""
        busy = _busy_seconds()
        if busy is None or self._busy is None:
            return None
        return max(0.0, (busy - self._busy) - (self._own_seconds() - self._own))
