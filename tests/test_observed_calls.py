"""Calls through a module held in a variable, compiled for the function an
earlier call ran (adcompiler.observed_calls).

`grad` runs the general code on the first call, which records the function
that each `xp.f(...)` ran, and compiles code for the arguments' shapes on
the second. That code calls the recorded function behind a check. Each
test checks gradients against central differences on the third call, which
runs that code, and after the check fails: another namespace, a function
rebound in the same namespace, a plain function in place of the module's.
"""

import types

import numpy as np
import pytest

import adcompiler
from adcompiler import api
from finite_differences import assert_gradient_close, numerical_gradient


def doubled_sum(a, axis=None):
    return np.sum(2.0 * a, axis=axis)


def _namespace(name, **functions):
    module = types.ModuleType(name)
    vars(module).update(functions)
    return module


NUMPY_LIKE = _namespace('numpy_like', sum=np.sum, exp=np.exp)
DOUBLING = _namespace('doubling', sum=doubled_sum, exp=np.exp)

# The namespace that `namespace_of` returns, as scipy's array_namespace
# returns array_api_compat's NumPy namespace.
current = NUMPY_LIKE


def namespace_of(x):
    return current


adcompiler.non_differentiable(namespace_of)


def through_namespace(x):
    xp = namespace_of(x)
    y = xp.exp(x[1:]) * x[:-1]
    return xp.sum(y * y, axis=0)


def with_aux(x):
    xp = namespace_of(x)
    y = xp.exp(x[1:]) * x[:-1]
    return xp.sum(y * y, axis=0), 'aux'


X = np.linspace(-0.5, 0.8, 7)
CALLS = 3


@pytest.fixture(autouse=True)
def numpy_like_namespace():
    # Each test starts with no call observed: a site that ran two functions
    # in an earlier test would not be compiled for one.
    global current
    current = NUMPY_LIKE
    api._COMPILER.observed_calls.clear()
    yield
    current = NUMPY_LIKE
    NUMPY_LIKE.sum = np.sum


def specialized_source(gradient_function, x):
    """Return the module source of the code `gradient_function` keeps for
    `x`, or None."""
    variant = gradient_function._variants.get(api._argument_key((x,)))
    return None if variant is None else variant.compiled.module_source


def check_gradient(gradient):
    assert_gradient_close(gradient, numerical_gradient(through_namespace,
                                                       (X,), 0))


def test_observed_calls_checked_and_direct():
    gradient_function = adcompiler.grad(through_namespace)
    for _ in range(CALLS):
        check_gradient(gradient_function(X))
    source = specialized_source(gradient_function, X)
    assert "require_attribute(xp, 'sum', observed_sum_line" in source
    assert "require_attribute(xp, 'exp', observed_exp_line" in source
    assert 'call_method' not in source
    assert 'compact_sum_adjoint' in source


@pytest.mark.parametrize('change', ['other-namespace', 'rebound-function'])
@pytest.mark.parametrize('transform', ['grad', 'value_and_grad', 'has_aux'])
def test_failed_check_runs_general_code(change, transform):
    global current
    if transform == 'has_aux':
        gradient_function = adcompiler.grad(with_aux, has_aux=True)
    else:
        gradient_function = getattr(adcompiler, transform)(through_namespace)

    def gradient_at(x):
        result = gradient_function(x)
        return result[0] if transform == 'has_aux' else (
            result[1] if transform == 'value_and_grad' else result)

    for _ in range(CALLS):
        check_gradient(gradient_at(X))
    assert 'require_attribute' in specialized_source(gradient_function, X)
    if change == 'other-namespace':
        current = DOUBLING
    else:
        NUMPY_LIKE.sum = doubled_sum
    for _ in range(CALLS):
        check_gradient(gradient_at(X))
    assert 'call_method' in specialized_source(gradient_function, X)


def test_site_that_ran_two_functions_is_dispatched():
    global current

    def alternating(x):
        xp = namespace_of(x)
        return xp.sum(x * x)

    gradient_function = adcompiler.grad(alternating)
    for namespace in (NUMPY_LIKE, DOUBLING, NUMPY_LIKE, NUMPY_LIKE):
        current = namespace
        gradient = gradient_function(X)
        factor = 2.0 if namespace is DOUBLING else 1.0
        np.testing.assert_allclose(gradient, factor * 2.0 * X)
    source = specialized_source(gradient_function, X)
    assert 'require_attribute' not in source
    assert 'call_method' in source


def logged_sum(x, xp, log):
    log.append(len(log))
    return xp.sum(xp.exp(x) * x)


def test_namespace_argument_gets_its_own_code():
    # A module argument is part of the key, so a new module gets code of its
    # own and never fails the check of code compiled for the first one.
    # The append before the call then runs once per call.
    gradient = adcompiler.grad(logged_sum)
    log = []
    for namespace in (NUMPY_LIKE, NUMPY_LIKE, DOUBLING, DOUBLING):
        result = gradient(X, namespace, log)
        factor = 2.0 if namespace is DOUBLING else 1.0
        assert_gradient_close(result, factor * np.exp(X) * (1.0 + X))
    assert log == [0, 1, 2, 3]


def logged_after_namespace(x, log):
    xp = namespace_of(x)
    log.append(len(log))
    return xp.sum(xp.exp(x) * x)


@pytest.mark.parametrize('function, arguments', [
    (logged_sum, lambda log: (X, NUMPY_LIKE, log)),
    (logged_after_namespace, lambda log: (X, log)),
])
def test_failed_check_before_side_effects(function, arguments):
    # The check follows the namespace's assignment (or starts the function
    # for a parameter), so a function rebound in it fails the check before
    # the append, and the general code appends once.
    gradient = adcompiler.grad(function)
    log = []
    for call in range(4):
        if call == 2:
            NUMPY_LIKE.sum = doubled_sum
        result = gradient(*arguments(log))
        factor = 2.0 if call >= 2 else 1.0
        assert_gradient_close(result, factor * np.exp(X) * (1.0 + X))
    assert log == [0, 1, 2, 3]
