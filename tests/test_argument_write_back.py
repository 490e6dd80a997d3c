"""Containers that a differentiated function updates with their methods.

The generated code updates a copy of such an argument and writes the
copy's contents back when it returns, so the caller's list, dict or set
ends as plain Python leaves it, under every transform.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def appends_derived(x, log):
    y = np.sin(x)
    log.append(y)
    log.append(y * x)
    return np.sum(log[-1] * 2.0) + len(log)


def appends_constant(x, log):
    log.append('step')
    return np.sum(x ** 2)


def updates_dict(x, cache):
    cache.pop('stale')
    cache['square'] = x ** 2
    cache['count'] = len(cache)
    return np.sum(cache['square'] * x)


def rebinds_after_append(x, log):
    log.append(x * 3.0)
    log = [x]
    log.append(x * 2.0)
    return np.sum(log[0] * log[1])


def pops_and_inserts(x, stack):
    stack.insert(0, x * 2.0)
    last = stack.pop()
    return np.sum(stack[0] * last)


X = np.array([0.5, -1.0, 2.0])

CASES = [
    (appends_derived, lambda: [7]),
    (appends_constant, lambda: []),
    (updates_dict, lambda: {'count': 1, 'stale': 0.0}),
    (rebinds_after_append, lambda: []),
    (pops_and_inserts, lambda: [np.array([1.0, 2.0, 3.0])]),
]


def _same_container(computed, expected):
    assert type(computed) is type(expected)
    assert len(computed) == len(expected)
    items = (zip(computed, expected, strict=True)
             if isinstance(computed, list)
             else ((computed[k], expected[k]) for k in expected))
    if isinstance(computed, dict):
        assert computed.keys() == expected.keys()
    for got, want in items:
        if isinstance(want, np.ndarray):
            np.testing.assert_allclose(got, want)
        else:
            assert got == want


TRANSFORMS = [
    ('grad', lambda f, c: adcompiler.grad(f)(X, c)),
    ('value_and_grad', lambda f, c: adcompiler.value_and_grad(f)(X, c)),
    ('vjp', lambda f, c: adcompiler.vjp(f, X, c)),
    ('vjp_fn', lambda f, c: adcompiler.vjp(f, X, c)[1](1.0)),
    ('jvp', lambda f, c: adcompiler.jvp(f, (X, c),
                                        (np.ones_like(X), None))),
    ('jacobian', lambda f, c: adcompiler.jacobian(f)(X, c)),
    ('hessian', lambda f, c: adcompiler.hessian(f)(X, c)),
]


@pytest.mark.parametrize('function, make', CASES,
                         ids=[f.__name__ for f, _ in CASES])
@pytest.mark.parametrize('transform', [t for _, t in TRANSFORMS],
                         ids=[name for name, _ in TRANSFORMS])
def test_container_ends_as_in_python(function, make, transform):
    expected = make()
    function(X, expected)
    computed = make()
    transform(function, computed)
    _same_container(computed, expected)


@pytest.mark.parametrize('function, make', CASES,
                         ids=[f.__name__ for f, _ in CASES])
def test_gradient_with_write_back(function, make):
    gradient = adcompiler.grad(function)(X, make())
    expected = numerical_gradient(lambda x: function(x, make()), (X,), 0)
    assert_gradient_close(gradient, expected)


def test_vjp_fn_twice_keeps_one_update():
    log = [7]
    value, vjp_fn = adcompiler.vjp(appends_derived, X, log)
    first = vjp_fn(1.0)[0]
    second = vjp_fn(1.0)[0]
    np.testing.assert_allclose(first, second)
    assert len(log) == 3


def test_vjp_of_list_argument_has_input_structure():
    log = [np.array([1.0, 2.0, 3.0])]

    def scales_and_appends(x, log):
        log.append(log[0] * x)
        return np.sum(log[-1])

    _, vjp_fn = adcompiler.vjp(scales_and_appends, X, log)
    dx, dlog = vjp_fn(1.0)
    assert isinstance(dlog, list)
    assert len(dlog) == 1
    np.testing.assert_allclose(dlog[0], X)
    np.testing.assert_allclose(dx, np.array([1.0, 2.0, 3.0]))
    assert len(log) == 2
