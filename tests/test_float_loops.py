"""Float code that mixes in ints: loop counters, len, floor and true division.

Code compiled for Python float arguments proves which names hold float or
int scalars (`adcompiler.scalars`). A float times a loop counter is then a
float, so the adjoint needs no `ad.unbroadcast` and the primal tapes no
`ad.shape_and_kind`. Each function is checked against central differences
at Python floats and np.float64 scalars, and its generated code for what
the proof removes. Functions where a name may be an array keep the general
code.
"""

import math

import numpy as np
import pytest

import adcompiler
from adcompiler.compiler import Compiler
from finite_differences import assert_gradient_close, numerical_gradient

OPTIMIZED = Compiler(optimize=True)


def counter_product(x):
    s = 0.0
    for i in range(20):
        s = s + np.sin(x * i * 1e-2)
    return s


def float_of_counter(x):
    s = 0.0
    for i in range(8):
        s = s + np.sin(x * float(i))
    return s


def shifted_counter(x):
    s = 0.0
    for i in range(6):
        s = s + np.cos(x * (i + 1))
    return s


def squared_counter(x):
    s = 0.0
    for i in range(6):
        s = s + x * i ** 2
    return s


def power_of_counter(x):
    s = 0.0
    for i in range(5):
        s = s + x ** i
    return s


def float64_of_counter(x):
    s = 0.0
    for i in range(6):
        s = s + np.sin(x * np.float64(i))
    return s


def floor_and_true_division(x):
    s = 0
    for i in range(6):
        s = s + np.exp(x * (i // 2) + i / 3)
    return s


def counter_over_length(x, values):
    n = len(values)
    s = 0.0
    for i in range(n):
        s = s + np.sin(x * i / n)
    return s


def enumerate_count(x, values):
    s = 0.0
    for i, value in enumerate(values):
        s = s + np.sin(x * i) * 2.0
    return s


def int_accumulator(x):
    s = 0
    for i in range(5):
        s = s + math.sin(x * i) + i
    return s


def straight_line(t):
    return np.exp(t) * np.sin(t) + np.log(t)


FLOAT_LOOPS = [counter_product, float_of_counter, shifted_counter,
               squared_counter, power_of_counter, float64_of_counter,
               floor_and_true_division, int_accumulator]
VALUE_LOOPS = [counter_over_length, enumerate_count]


def adjoint_and_primal_source(function, scalar_params=('x',)):
    return OPTIMIZED.compile(function, (scalar_params[0],),
                             scalar_params=frozenset(scalar_params)).source


def adjoint_text(source):
    """Return the adjoint function of `source`, without its grad-only copy
    and without the comments that quote the source lines."""
    adjoint = source.split('def adjoint', 1)[1].split('def grad_only', 1)[0]
    return '\n'.join(line for line in adjoint.splitlines()
                     if not line.lstrip().startswith('#'))


@pytest.mark.parametrize('function', FLOAT_LOOPS,
                         ids=[f.__name__ for f in FLOAT_LOOPS])
@pytest.mark.parametrize('x', [0.3, -1.2, np.float64(0.7)],
                         ids=['float', 'negative', 'float64'])
def test_float_loop_gradient(function, x):
    gradient = adcompiler.grad(function)(x)
    assert_gradient_close(gradient, numerical_gradient(function, (x,), 0))


@pytest.mark.parametrize('function', VALUE_LOOPS,
                         ids=[f.__name__ for f in VALUE_LOOPS])
@pytest.mark.parametrize('size', [1, 4, 7])
def test_counter_over_values_gradient(function, size):
    values = np.linspace(0.1, 1.0, size)
    for x in (0.3, np.float64(-1.2)):
        gradient = adcompiler.grad(function)(x, values)
        expected = numerical_gradient(function, (x, values), 0)
        assert_gradient_close(gradient, expected)


@pytest.mark.parametrize('function', FLOAT_LOOPS + VALUE_LOOPS,
                         ids=[f.__name__ for f in FLOAT_LOOPS + VALUE_LOOPS])
def test_float_loop_has_no_shape_code(function):
    source = adjoint_and_primal_source(function)
    assert 'shape_and_kind' not in source
    assert 'unbroadcast' not in source


@pytest.mark.parametrize('function, helper', [
    (counter_product, 'ad.float_cos('),
    (float_of_counter, 'ad.float_cos('),
    (shifted_counter, 'ad.float_sin('),
    (float64_of_counter, 'ad.float_cos('),
    (enumerate_count, 'ad.float_cos('),
], ids=['product', 'float', 'shifted', 'float64', 'enumerate'])
def test_float_loop_calls_math(function, helper):
    adjoint = adjoint_text(adjoint_and_primal_source(function))
    assert helper in adjoint
    assert 'np.cos(' not in adjoint
    assert 'np.sin(' not in adjoint


def test_straight_line_calls_math():
    adjoint = adjoint_text(adjoint_and_primal_source(straight_line, ('t',)))
    assert 'ad.float_cos(t)' in adjoint
    assert 'np.cos(' not in adjoint
    assert 'ad.add(' not in adjoint


@pytest.mark.parametrize('t', [0.4, 2.5, np.float64(1.3)])
def test_straight_line_gradient(t):
    gradient = adcompiler.grad(straight_line)(t)
    assert_gradient_close(gradient, numerical_gradient(straight_line, (t,), 0))


# Names that may not be scalars keep the general code ---------------------------

def array_accumulator(x, start):
    s = start
    for i in range(4):
        s = s + np.sin(x * i)
    return np.sum(s)


def counter_of_values(x, counts):
    s = 0.0
    for i in counts:
        s = s + np.sin(x * i)
    return s


def bool_factor(x):
    s = 0.0
    for i in range(4):
        flag = True
        s = s + np.sin(x * flag) * i
    return s


def fractional_power_of_counter(x):
    s = 0.0
    for i in range(1, 4):
        s = s + x ** (i * 0.5)
    return s


@pytest.mark.parametrize('start', [0.0, np.zeros(3), np.zeros((2, 3))],
                         ids=['float', 'vector', 'matrix'])
def test_array_accumulator_keeps_unbroadcast(start):
    source = adjoint_and_primal_source(array_accumulator)
    assert 'unbroadcast' in source
    for x in (0.4, np.float64(-0.9)):
        gradient = adcompiler.grad(array_accumulator)(x, start)
        expected = numerical_gradient(array_accumulator, (x, start), 0)
        assert_gradient_close(gradient, expected)


@pytest.mark.parametrize('function, args', [
    (counter_of_values, (0.4, [1, 2, 3])),
    (counter_of_values, (0.4, np.arange(3.0))),
    (bool_factor, (0.4,)),
    (fractional_power_of_counter, (0.4,)),
], ids=['int-list', 'float-array', 'bool', 'fractional-power'])
def test_unproven_names_keep_general_code(function, args):
    source = adjoint_and_primal_source(function)
    assert 'shape_and_kind' in source or 'unbroadcast' in source
    x = args[0]
    gradient = adcompiler.grad(function)(*args)
    expected = numerical_gradient(function, args, 0)
    assert_gradient_close(gradient, expected)
    assert np.shape(gradient) == np.shape(x)
