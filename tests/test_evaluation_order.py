"""The order in which generated code evaluates and stores, compared with
plain Python.

Each function runs once as written and once compiled. The values, the
side effects (recorded in a list) and the derivatives must match: the
derivatives are compared with central finite differences, in reverse and
forward mode.
"""

import math

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

X = np.array([0.3, -0.7, 1.2, 0.5, 0.9])


# Tuple targets are stored from left to right ----------------------------------

def item_then_index_list(x):
    lst = [x[0], x[1], x[2]]
    i = 0
    lst[i], i = 5.0 * x[3], 2  # lst[0] is stored before i changes.
    return lst[0] + 10.0 * lst[2] + i


def item_then_index_array(x):
    y = np.zeros(3)
    i = 0
    y[i], i = 5.0 * x[3], 2
    return y[0] + 10.0 * y[2]


def item_then_key_dict(x):
    d = {'a': x[0], 'b': x[1]}
    k = 'a'
    d[k], k = 5.0 * x[3], 'b'
    return d['a'] + 10.0 * d['b'] + 100.0 * len(k)


def nested_item_then_index(x):
    lst = [x[0], x[1], x[2]]
    i = 0
    (lst[i], i), j = (5.0 * x[3], 2), 1
    return lst[0] + 10.0 * lst[2] + 100.0 * lst[j]


def index_then_item(x):
    lst = [x[0], x[1], x[2]]
    i = 0
    i, lst[i] = 2, 5.0 * x[3]  # i changes first, so lst[2] is stored.
    return lst[0] + 10.0 * lst[2]


def item_then_index_in_loop(x):
    y = np.zeros(4)
    i = 0
    while i < 4:
        y[i], i = x[i] * 2.0, i + 1
    return np.sum(y * np.arange(1.0, 5.0))


def item_then_index_in_branch(x):
    y = np.zeros(3)
    i = 0
    if x[0] > 0:
        y[i], i = 3.0 * x[1], 2
    return y[0] + 10.0 * y[2] + i


# An augmented item assignment evaluates its index once, first ----------------

def popped_index(x):
    y = np.zeros(3)
    idx = [0, 1]
    y[idx.pop()] += 3.0 * x[0]
    return 10.0 * y[1] + y[0] + len(idx)


def key_from_call(x):
    calls = []

    def key():
        calls.append(1)
        return 'k' + str(len(calls))
    d = {'k1': x[0], 'k2': x[1]}
    d[key()] += 3.0 * x[2]
    return d['k1'] + 10.0 * d['k2'] + 100.0 * len(calls)


def right_side_rebinds_index(x):
    lst = [x[0], x[1], x[2]]
    i = 0

    def bump():
        nonlocal i
        i = 2
        return 3.0 * x[2]
    lst[i] += bump()
    return lst[0] + 10.0 * lst[2] + i


def popped_slice_start(x):
    y = x.copy()
    starts = [0, 2]
    y[starts.pop():] += 1.0
    return np.sum(y * np.arange(5.0))


def two_popped_indices(x):
    y = np.zeros((2, 3))
    i = [0, 1]
    y[i.pop(), i.pop()] += 5.0 * x[0]
    return np.sum(y * np.arange(6.0).reshape(2, 3))


def plain_index_in_loop(x):
    y = np.zeros(5)
    for i in range(5):
        y[i] += x[i] * x[4 - i]
    return np.sum(y ** 2)


# Comparison chains stop at the first false link -------------------------------

def chain_in_condition(x):
    if x[0] > 0 > math.log(x[1] + 1.0):
        return x[0] * x[1]
    return x[0] ** 2 + x[1]


def chain_as_value(x):
    ok = x[0] > 0 > math.log(x[1] + 1.0)
    return x[0] * x[1] if ok else x[0] ** 2 + x[1]


def chain_in_while(x):
    s = x[0]
    k = 0
    while k < 3 and s > 0.0 < math.log(x[1] + 1.0):
        s = s * x[0]
        k += 1
    return s


def chain_of_three_calls(x):
    calls = []

    def note(v, label):
        calls.append(label)
        return v
    if note(x[0], 'a') < note(x[1], 'b') < note(x[2], 'c'):
        return x[0] * x[2] + len(calls)
    return x[1] * x[2] + 10.0 * len(calls)


def chain_middle_evaluated_once(x):
    calls = []

    def middle():
        calls.append(1)
        return x[1]
    ok = x[2] > middle() > x[0]
    return (x[1] if ok else x[2]) + 10.0 * len(calls)


def chain_of_names(x):
    a, b, c = x[0], x[1], x[2]
    return a * b if a < c < b else b * c


# Dict displays evaluate key, value, key, value ------------------------------

def dict_display_order(x):
    order = []

    def key(k):
        order.append(k)
        return k

    def value(v):
        order.append('value')
        return v
    d = {key('a'): value(2.0 * x[0]), key('b'): value(x[1])}
    assert order == ['a', 'value', 'b', 'value'], order
    return d['a'] * d['b']


def dict_comprehension_order(x):
    order = []

    def key(k):
        order.append(k)
        return k

    def value(v):
        order.append('value')
        return v
    d = {key(i): value(x[i] ** 2) for i in range(3)}
    assert order == [0, 'value', 1, 'value', 2, 'value'], order
    return d[0] + d[1] * d[2]


FUNCTIONS = [
    item_then_index_list, item_then_index_array, item_then_key_dict,
    nested_item_then_index, index_then_item, item_then_index_in_loop,
    item_then_index_in_branch,
    popped_index, key_from_call, right_side_rebinds_index,
    popped_slice_start, two_popped_indices,
    plain_index_in_loop,
    chain_in_condition, chain_as_value, chain_in_while, chain_of_three_calls,
    chain_middle_evaluated_once, chain_of_names,
    dict_display_order, dict_comprehension_order,
]

# A point where the chains stop at their first link (x[1] + 1 < 0 makes
# math.log fail if it runs), and one where every link runs.
POINTS = {
    'stops_early': np.array([-0.3, -2.0, 1.2, 0.5, 0.9]),
    'runs_all': np.array([0.3, 0.7, 1.2, 0.5, 0.9]),
    'mixed': X,
}


@pytest.mark.parametrize('point', list(POINTS), ids=str)
@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
def test_order_value_and_gradient(function, point):
    x = POINTS[point]
    value, gradient = adcompiler.value_and_grad(function)(x)
    assert value == pytest.approx(function(x))
    assert_gradient_close(gradient, numerical_gradient(function, (x,), 0))


@pytest.mark.parametrize('point', list(POINTS), ids=str)
@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
def test_order_jvp(function, point):
    x = POINTS[point]
    direction = np.linspace(-1.0, 1.0, x.size)
    value, tangent = adcompiler.jvp(function, (x,), (direction,))
    assert value == pytest.approx(function(x))
    expected = np.dot(numerical_gradient(function, (x,), 0), direction)
    assert tangent == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_chain_stops_before_failing_link():
    x = POINTS['stops_early']
    with pytest.raises(ValueError, match='math domain error'):
        math.log(x[1] + 1.0)
    assert adcompiler.grad(chain_in_condition)(x) == pytest.approx(
        [2.0 * x[0], 1.0, 0.0, 0.0, 0.0])


def test_augmented_item_calls_index_once():
    gradient = adcompiler.grad(popped_index)
    gradient(X)
    source = adcompiler.source(gradient)
    code = [line for line in source.splitlines()
            if not line.lstrip().startswith('#')]
    assert sum('idx.pop()' in line for line in code) == 1, source


def test_augmented_item_rebinding_container_is_rejected():
    def rebinds_container(x):
        lst = [x[0], x[1]]

        def swap():
            nonlocal lst
            lst = [x[1], x[0]]
            return x[0]
        lst[0] += swap()
        return lst[0]

    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match="an item of 'lst'"):
        adcompiler.grad(rebinds_container)(X)


def test_augmented_item_walrus_on_index_is_rejected():
    def walrus_rebinds_index(x):
        lst = [x[0], x[1], x[2]]
        i = 0
        lst[i] += (i := 2) * x[2]
        return lst[0] + 10.0 * lst[2] + i

    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='assignment expression'):
        adcompiler.grad(walrus_rebinds_index)(X)
