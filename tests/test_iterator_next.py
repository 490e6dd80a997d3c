"""An iterator made with iter() and read only with next().

Where its items carry no derivative (indices, labels), it runs as Python
runs it. A next() call on items that carry a derivative is a foreign call
without a rule and stays rejected.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient
from test_forward import directional_difference


def indexed_by_next(x):
    positions = iter([2, 0, 1])
    first = next(positions)
    second = next(positions)
    return x[first] * x[second]


def next_with_default(x):
    steps = iter(range(2))
    total = 0.0
    for _ in range(4):
        step = next(steps, None)
        if step is None:
            break
        total = total + np.sin(x[step]) * x[step + 1]
    return total


def next_in_loop(x):
    labels = iter(['a', 'b', 'c'])
    weights = {'a': 1.0, 'b': 2.0, 'c': 3.0}
    total = 0.0
    for i in range(3):
        total = total + weights[next(labels)] * x[i] ** 2
    return total


CASES = [indexed_by_next, next_with_default, next_in_loop]


@pytest.mark.parametrize('function', CASES, ids=[f.__name__ for f in CASES])
def test_iterator_of_inactive_items(function):
    x = np.array([0.3, -0.7, 1.2])
    expected = numerical_gradient(function, (x,), 0)
    gradient = adcompiler.grad(function)
    for _ in range(3):
        assert_gradient_close(gradient(x), expected)
    direction = np.array([1.0, 0.5, -2.0])
    _, tangent = adcompiler.jvp(function, (x,), (direction,))
    np.testing.assert_allclose(
        tangent, directional_difference(function, (x,), (direction,)),
        rtol=1e-6, atol=1e-8)


def next_of_active_items(x):
    values = iter([x[0], x[1] * 2.0])
    first = next(values)
    return first * next(values)


# Reverse mode reaches next() first, forward mode iter().
@pytest.mark.parametrize('mode, callee', [('reverse', 'builtins.next'),
                                          ('forward', 'builtins.iter')])
def test_iterator_of_active_items_rejected(mode, callee):
    x = np.array([0.3, -0.7, 1.2])
    with pytest.raises(adcompiler.ForeignCallError) as raised:
        if mode == 'reverse':
            adcompiler.grad(next_of_active_items)(x)
        else:
            adcompiler.jvp(next_of_active_items, (x,), (np.ones(3),))
    assert f'cannot differentiate through {callee}' in str(raised.value)


def iterator_read_by_loop_and_next(x):
    values = iter([x[0], x[1]])
    first = next(values)
    return first * sum(v for v in values)


def test_iterator_read_by_loop_and_next_rejected():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as raised:
        adcompiler.grad(iterator_read_by_loop_and_next)(np.ones(3))
    assert "an iterator kept in the variable 'values'" in str(raised.value)
