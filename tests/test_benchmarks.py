"""The benchmark workloads at their quick sizes: adcompiler's gradient must
match the hand-written gradient, and the hand-written gradient must match
central differences. No timing here; the benchmark itself is
`python -m benchmarks.run`.
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import adcompiler
from benchmarks import allocator, overhead
from benchmarks.compile_time import long_function
from benchmarks.measure import compare_gradients
from benchmarks.workloads import WORKLOADS
from finite_differences import assert_gradient_close, numerical_gradient

WORKLOAD_IDS = [workload.name for workload in WORKLOADS]
REPOSITORY = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize('workload', WORKLOADS, ids=WORKLOAD_IDS)
def test_adcompiler_matches_hand_gradient(workload):
    args = workload.make_inputs(quick=True)
    expected = workload.gradient(*args)

    got = adcompiler.grad(workload.function, wrt=tuple(workload.wrt))(*args)

    agreement = compare_gradients(got, expected)
    assert agreement.ok, agreement.message


@pytest.mark.parametrize('workload', WORKLOADS, ids=WORKLOAD_IDS)
def test_hand_gradient_matches_central_differences(workload):
    args = list(workload.make_inputs(quick=True))
    gradients = workload.gradient(*args)
    rng = np.random.default_rng(0)
    directions = [rng.normal(size=np.shape(args[i])) for i in workload.wrt]
    step = 1e-6

    def along(epsilon):
        moved = list(args)
        for position, direction in zip(workload.wrt, directions, strict=True):
            moved[position] = args[position] + epsilon * direction
        return workload.function(*moved)

    numeric = (along(step) - along(-step)) / (2 * step)
    analytic = sum(float(np.sum(g * d))
                   for g, d in zip(gradients, directions, strict=True))
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-6)


def test_compare_gradients_rejects_shape_mismatch():
    agreement = compare_gradients((np.ones(3),), (np.ones((3, 1)),))

    assert not agreement.ok
    assert 'shape' in agreement.message


def test_compare_gradients_rejects_wrong_values():
    agreement = compare_gradients((np.array([1.0, 2.0]),),
                                  (np.array([1.0, 2.1]),))

    assert not agreement.ok
    assert 'differs' in agreement.message


@pytest.mark.parametrize('name', list(overhead.make_cases()))
def test_overhead_direct_call_gives_grad_result(name):
    """benchmarks.overhead times grad() against a direct call of the code
    it runs; both must compute the same gradient."""
    case = overhead.make_cases()[name]
    gradient = adcompiler.grad(case.function, wrt=case.wrt)
    for _ in range(3):
        expected = gradient(*case.args)
    direct = overhead.direct_call(gradient, case.function, case.args)()
    assert len(direct) == len(expected)
    for got, want in zip(direct, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_compile_time_input_gradient():
    # The 1000-line function that benchmarks.compile_time times, called
    # as it calls it: an array x and a Python float c.
    function = long_function(1000)
    args = (np.array([1.0, -0.5, 2.0]), 2.0)

    gradient = adcompiler.grad(function)(*args)

    assert_gradient_close(gradient, numerical_gradient(function, args, 0))
    np.testing.assert_allclose(gradient, np.full(3, 2000.0))


def test_kept_tunables_keep_other_settings():
    value = allocator.tunables_for(
        'kept', 'glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=5')

    items = dict(item.split('=') for item in value.split(':'))
    assert items['glibc.malloc.arena_max'] == '2'
    assert items['glibc.malloc.trim_threshold'] == str(2 ** 30)
    assert items['glibc.malloc.mmap_threshold'] == str(32 * 2 ** 20)


def test_default_tunables_unchanged():
    assert allocator.tunables_for('default', None) is None
    assert allocator.tunables_for('default', 'glibc.malloc.arena_max=2') == (
        'glibc.malloc.arena_max=2')


def test_kept_applied_only_with_both_thresholds():
    kept = allocator.tunables_for('kept', None)
    only_mmap = 'glibc.malloc.mmap_threshold=33554432'

    assert allocator.is_applied('kept', {'GLIBC_TUNABLES': kept})
    assert not allocator.is_applied('kept', {'GLIBC_TUNABLES': only_mmap})
    assert not allocator.is_applied('kept', {})
    assert allocator.is_applied('default', {})


def test_apply_rejects_unknown_regime():
    with pytest.raises(ValueError, match='invalid allocator regime'):
        allocator.apply('huge', [])


# A child process that applies the `kept` regime, as benchmarks.run does,
# and prints what it ends up with. The restart runs the same `-c` program
# again, in which `apply` then returns.
_APPLY_KEPT = '''
import os, sys
from benchmarks import allocator
allocator.apply('kept', sys.orig_argv[1:])
print(os.environ.get('GLIBC_TUNABLES'))
print(allocator.page_faults_per_reallocation())
'''


@pytest.mark.skipif(allocator.c_library()[0] != 'glibc',
                    reason='the allocator regimes are glibc tunables')
def test_apply_kept_restarts_with_tunables():
    environment = {name: value for name, value in os.environ.items()
                   if name != 'GLIBC_TUNABLES'}
    environment['PYTHONPATH'] = os.pathsep.join(
        [str(REPOSITORY), environment.get('PYTHONPATH', '')])

    finished = subprocess.run([sys.executable, '-c', _APPLY_KEPT],
                              env=environment, capture_output=True,
                              text=True, timeout=120, check=True)

    tunables, faults = finished.stdout.split()
    assert allocator.is_applied('kept', {'GLIBC_TUNABLES': tunables})
    # malloc hands back the freed array: no page faults, where glibc's
    # defaults gave about 100 per 8 MiB array (with transparent huge pages).
    assert float(faults) < 10
