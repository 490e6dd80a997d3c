"""Calls: user functions (recursive too), rules, and the foreign-call policy."""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def power(x, n):
    if n == 0:
        return 1.0
    return x * power(x, n - 1)


def even_chain(x, n):
    if n == 0:
        return x
    return np.sin(odd_chain(x, n - 1))


def odd_chain(x, n):
    if n == 0:
        return x * 2.0
    return np.cos(even_chain(x, n - 1)) * x


def tree_sum(values, lo, hi):
    """Sum of tanh over values[lo:hi], splitting the range in two halves."""
    if hi - lo == 1:
        return np.tanh(values[lo])
    mid = (lo + hi) // 2
    return tree_sum(values, lo, mid) + tree_sum(values, mid, hi) * 0.5


RECURSIVE = [
    pytest.param(power, (1.3, 5), id='power'),
    pytest.param(power, (-0.7, 0), id='power-base-case'),
    pytest.param(even_chain, (0.4, 5), id='mutual-even'),
    pytest.param(odd_chain, (0.4, 4), id='mutual-odd'),
    pytest.param(tree_sum, (np.linspace(-1.0, 2.0, 7), 0, 7), id='tree-sum'),
]


@pytest.mark.parametrize('function, args', RECURSIVE)
def test_recursive_function_gradient(function, args):
    expected = numerical_gradient(function, args, 0)
    assert_gradient_close(adcompiler.grad(function)(*args), expected)


def test_recursive_source_calls_itself():
    source = adcompiler.grad(power).source
    assert source.count('def adjoint_power(') == 1
    assert 'adjoint_power(' in source.split('def adjoint_power(')[1]
