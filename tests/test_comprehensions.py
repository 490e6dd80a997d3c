"""Comprehensions and generator expressions lowered to loops, checked
against central differences."""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def generator_unpacked_into_call(x):
    arrays = (x, x * 2.0)
    return np.sum(np.multiply(*(a[0:2] for a in arrays)))


def generator_unpacked_into_argument(x, combine=np.multiply):
    arrays = (x, np.sin(x))
    return np.sum(combine(*(a[1:] for a in arrays)))


@pytest.mark.parametrize('function', [generator_unpacked_into_call,
                                      generator_unpacked_into_argument],
                         ids=lambda f: f.__name__)
def test_generator_unpacked_into_call(function):
    # The loop that builds the generator's items appends to an empty list:
    # the call must unpack the list, not the empty display.
    x = np.array([0.5, -1.2, 2.0])
    assert_gradient_close(adcompiler.grad(function)(x),
                          numerical_gradient(function, (x,), 0))
