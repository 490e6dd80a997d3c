"""A description of the machine and software that a benchmark ran on."""

import dataclasses
import os
import platform
import subprocess

import numpy as np

# Environment variables that change how fast NumPy, PyTorch and XLA run. The
# report records each one's value, or that it is unset.
RECORDED_VARIABLES = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS',
                      'MKL_NUM_THREADS', 'XLA_FLAGS', 'JAX_PLATFORMS',
                      'OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')


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


def _commit(directory):
    try:
        output = subprocess.run(
            ['git', '-C', directory, 'rev-parse', '--short', 'HEAD'],
            capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return output.stdout.strip()


def describe(repository):
    """Describe this machine; `repository` is the checkout being measured."""
    return Machine(
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count() or 0,
        usable_cpus=len(os.sched_getaffinity(0)),
        python=platform.python_version(),
        numpy_blas=_numpy_blas(),
        commit=_commit(repository),
        environment={name: os.environ.get(name)
                     for name in RECORDED_VARIABLES})
