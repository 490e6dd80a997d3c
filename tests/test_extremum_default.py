"""max(seq, default=v) and min(seq, default=v), with or without key=: the
default is the result only when seq is empty, and then it gets the whole
derivative.

Each case is checked against central differences in reverse mode and in
forward mode, on numbers and on arrays (the default broadcasting against
the rest of the expression).
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

RNG = np.random.default_rng(5)


def empty_minimum(x):
    return np.sum(min([], default=x[0]) * x[-1])


def nonempty_maximum(x):
    return np.sum(max([x[0], x[-1] * 2.0], default=x[1]) ** 2)


def filtered_maximum(x):
    # The filter keeps no item of x, whose entries are below 10.
    return np.sum(max([v for v in x if np.all(v > 10.0)], default=x * 2.0))


def generated_minimum(x):
    return np.sum(min((x[i] for i in range(len(x)) if i > 0),
                      default=0.5) * x[0])


def constant_default(x):
    return np.sum(max(list(x), default=0.0) * x[0])


def keyed_maximum(x):
    return np.sum(max([x[0], x[-1]], key=lambda v: -v, default=x[0] * 5.0)
                  * x[0])


def keyed_empty_minimum(x):
    return np.sum(min([v for v in x if np.all(v > 10.0)], key=np.sum,
                      default=x ** 2) * x)


# max and min compare the items, so those of a non-empty sequence are
# numbers. An empty one compares nothing, and its default may be an array.
CASES = [(empty_minimum, (3,)), (empty_minimum, (3, 2)),
         (nonempty_maximum, (2,)), (nonempty_maximum, (4,)),
         (filtered_maximum, (3,)), (filtered_maximum, (2, 3)),
         (generated_minimum, (1,)), (generated_minimum, (4,)),
         (constant_default, (3,)),
         (keyed_maximum, (2,)), (keyed_maximum, (3,)),
         (keyed_empty_minimum, (3,)), (keyed_empty_minimum, (2, 2))]


@pytest.mark.parametrize('function, shape', CASES,
                         ids=lambda case: getattr(case, '__name__', str(case)))
def test_extremum_default_gradient(function, shape):
    x = RNG.normal(size=shape)
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)
    tangent_x = RNG.normal(size=shape)
    _, tangent = adcompiler.jvp(function, (x,), (tangent_x,))
    np.testing.assert_allclose(tangent, np.sum(expected * tangent_x),
                               rtol=1e-5, atol=1e-6)


def test_empty_sequence_default_gets_derivative():
    x = np.array([0.3, 1.2, -0.4])
    gradient = adcompiler.grad(empty_minimum)(x)
    np.testing.assert_allclose(gradient, [-0.4, 0.0, 0.3])


def test_nonempty_sequence_default_gets_none():
    x = np.array([0.3, 1.2, -0.4])
    gradient = adcompiler.grad(nonempty_maximum)(x)
    assert gradient[1] == 0.0
