"""Arguments updated both by index and by a list or dict method.

A list or dict argument that the function updates with a method (`pop`,
`append`) ends as plain Python leaves it, and that includes its index
writes (`cfg['calls'] = ...`). An argument written only by index, and an
array, keep the caller's values.
"""

import copy
import functools
import inspect

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

X = np.array([0.3, -0.7, 1.2])


def counted(x, cfg):
    cfg.pop('tmp', None)
    cfg['calls'] = cfg.get('calls', 0) + 1
    return np.sum(x * x)


def logged(x, log):
    log.append('step')
    log[0] = 'first'
    return np.sum(np.sin(x) * x)


def counted_in_loop(x, cfg):
    total = 0.0
    for i in range(3):
        cfg.setdefault('seen', 0)
        cfg['seen'] = cfg['seen'] + 1
        total = total + x[i] ** 2
    return total


def _helper_counts(cfg, value):
    cfg.pop('tmp', None)
    cfg['calls'] = cfg.get('calls', 0) + 1
    return value * 2.0


def calls_counting_helper(x, cfg):
    return np.sum(_helper_counts(cfg, x) * x)


CASES = [
    (counted, {'tmp': 1, 'calls': 0}),
    (logged, ['a']),
    (counted_in_loop, {'seen': 4}),
    (calls_counting_helper, {'tmp': 1, 'calls': 0}),
]
IDS = [function.__name__ for function, _ in CASES]


def _after_plain_python(function, state):
    state = copy.deepcopy(state)
    function(X.copy(), state)
    return state


@pytest.mark.parametrize('function, state', CASES, ids=IDS)
def test_grad_leaves_state_as_python(function, state):
    expected_state = _after_plain_python(function, state)
    given = copy.deepcopy(state)
    gradient = adcompiler.grad(function)(X, given)
    assert given == expected_state
    assert_gradient_close(gradient, numerical_gradient(
        lambda v: function(v, copy.deepcopy(state)), (X,), 0))


@pytest.mark.parametrize('function, state', CASES, ids=IDS)
def test_repeated_grad_updates_again(function, state):
    once = _after_plain_python(function, state)
    twice = _after_plain_python(function, once)
    given = copy.deepcopy(state)
    gradient = adcompiler.grad(function)
    for _ in range(2):
        gradient(X, given)
    assert given == twice


@pytest.mark.parametrize('function, state', CASES, ids=IDS)
def test_jvp_and_vjp_leave_state_as_python(function, state):
    expected_state = _after_plain_python(function, state)
    direction = np.array([1.0, -0.5, 2.0])

    given = copy.deepcopy(state)
    _, tangent = adcompiler.jvp(function, (X, given), (direction, None))
    assert given == expected_state
    expected = numerical_gradient(
        lambda v: function(v, copy.deepcopy(state)), (X,), 0)
    np.testing.assert_allclose(tangent, expected @ direction, rtol=1e-6)

    # vjp differentiates every argument it is given, so the state is bound.
    given = copy.deepcopy(state)
    state_name = list(inspect.signature(function).parameters)[1]
    _, vjp_fn = adcompiler.vjp(
        functools.partial(function, **{state_name: given}), X)
    assert given == expected_state
    assert_gradient_close(vjp_fn(1.0)[0], expected)


@pytest.mark.parametrize('function, state', CASES, ids=IDS)
def test_hessian_leaves_state_as_one_run(function, state):
    expected_state = _after_plain_python(function, state)
    given = copy.deepcopy(state)
    adcompiler.hessian(function)(X, given)
    assert given == expected_state


def written_by_index(x, cfg):
    cfg['calls'] = cfg.get('calls', 0) + 1
    return np.sum(x * x)


def sorted_and_written(x, values):
    values.sort()
    values[0] = -1.0
    return np.sum(x * values[1])


def test_index_writes_alone_keep_values():
    cfg = {'calls': 0}
    adcompiler.grad(written_by_index)(X, cfg)
    assert cfg == {'calls': 0}


def test_sorted_and_written_array_keeps_values():
    values = np.array([3.0, 1.0, 2.0])
    gradient = adcompiler.grad(sorted_and_written)(X, values)
    np.testing.assert_array_equal(values, [3.0, 1.0, 2.0])
    np.testing.assert_allclose(gradient, np.full(3, 2.0))
