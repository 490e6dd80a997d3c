"""Copies of lists and dicts that a helper returned, and updates of them.

The helper's result may be an object, so `l.copy()` is dispatched when it
runs and `m[0]` becomes a call of the subscript operator. For a list or a
dict the copy has a rule, and the generated code checks that an updated
copy is such a container before it keeps an item read from it.
"""

import numpy as np
import pytest

import adcompiler
from adcompiler.errors import AdCompilerError
from finite_differences import assert_gradient_close, numerical_gradient

SHAPES = [(3,), (2, 3)]


def pair_list(x):
    return [x * 2.0, x ** 2]


def pair_dict(x):
    return {'a': x * 2.0, 'b': x ** 2}


def extended_copy(x):
    items = pair_list(x)
    extended = items.copy()
    extended.append(np.sin(x))
    return np.sum(extended[0] * extended[2]) + np.sum(extended[1])


def plain_list_copy(x):
    items = pair_list(x)
    copied = items.copy()
    return np.sum(copied[0] * copied[1])


def replaced_copy(x):
    items = pair_list(x)
    copied = items.copy()
    first = copied[0]
    copied[0] = np.cos(x)
    return np.sum(first * copied[0] + copied[1])


def updated_dict_copy(x):
    entries = pair_dict(x)
    copied = entries.copy()
    copied['c'] = np.sin(x)
    return np.sum(copied['a'] * copied['c']) + np.sum(copied['b'])


def plain_dict_copy(x):
    entries = pair_dict(x)
    copied = entries.copy()
    return np.sum(copied['a'] * copied['b'])


def broadcast_copy(x):
    # The row of shape (1, 3) broadcasts against x of shape (2, 3).
    items = [x, np.ones((1, 3)) * np.sum(x, axis=0, keepdims=True)]
    copied = list_of(items).copy()
    copied.append(np.tanh(x))
    return np.sum(copied[0] * copied[1] * copied[2])


def list_of(items):
    return items


COPYING = [extended_copy, plain_list_copy, replaced_copy, updated_dict_copy,
           plain_dict_copy]


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('function', COPYING)
def test_helper_copy_gradient(function, shape):
    x = np.random.default_rng(5).uniform(0.2, 1.0, shape)
    gradient = adcompiler.grad(function)(x)
    assert_gradient_close(gradient, numerical_gradient(function, (x,), 0))


@pytest.mark.parametrize('function', COPYING)
def test_helper_copy_tangent(function):
    x = np.array([0.3, 0.8, 0.5])
    v = np.array([1.0, -0.5, 2.0])
    _, tangent = adcompiler.jvp(function, (x,), (v,))
    expected = numerical_gradient(function, (x,), 0) @ v
    np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-6)


def test_helper_copy_broadcasting():
    x = np.random.default_rng(6).uniform(0.2, 1.0, (2, 3))
    gradient = adcompiler.grad(broadcast_copy)(x)
    assert_gradient_close(gradient,
                          numerical_gradient(broadcast_copy, (x,), 0))


class Buffer:
    """A list-like object whose items are rows of one array."""

    def __init__(self, rows):
        self.rows = rows

    def copy(self):
        return Buffer(self.rows * 1.0)

    def append(self, row):
        self.rows = np.vstack([self.rows, row])

    def __getitem__(self, index):
        return self.rows[index]


def extended_buffer(x, rows):
    copied = rows.copy()
    copied.append(np.sin(x))
    return np.sum(copied[0] * copied[2])


def buffer_row_kept(x, rows):
    copied = rows.copy()
    first = copied[0]
    copied.append(np.sin(x))
    return np.sum(first * copied[2])


def test_object_copy_rejected_when_run():
    x = np.array([0.3, 0.8, 0.5])
    rows = Buffer(np.ones((2, 3)))
    with pytest.raises(AdCompilerError, match='not a list, a tuple or a dict'):
        adcompiler.grad(buffer_row_kept)(x, rows)


def test_object_copy_read_after_update_rejected():
    # No update follows the reads, but .rows of a Buffer is not known to
    # be part of the object.
    x = np.array([0.3, 0.8, 0.5])
    rows = Buffer(np.ones((2, 3)))
    with pytest.raises(AdCompilerError, match='register_container'):
        adcompiler.grad(extended_buffer)(x, rows)
