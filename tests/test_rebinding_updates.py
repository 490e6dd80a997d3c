"""Updates and rebinds that once were rejected as shared, and their unsafe
twins.

Each function in SAFE updates a value that no other name can reach, such
as `y += y[::-1].copy()` on a new array. Or it shares a value only with
names that are rebound before any update, as in
`n2 = np.transpose(y); n2 = n2 * 1.0; n2[0] = ...`. Its
gradient and its tangent must match central finite differences. Each
function in UNSAFE still lets another name see the update, and must raise
UnsupportedSyntaxError at the line that shares the value, with a message
that names what to write instead.
"""

import inspect

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


# Safe: the updated value is new, or its other names are rebound first -------

def iadd_reversed_copy(x):
    y = x + 1.0
    y += y[::-1].copy()
    return np.sum(y ** 2)


def iadd_reversed_view(x):
    # Since NumPy 1.13, an in-place ufunc whose input overlaps its output
    # computes as if the input were copied first, so this is y = y + y[::-1].
    y = x + 1.0
    y += y[::-1]
    return np.sum(y ** 2)


def iadd_flipped_copy(x):
    y = x + 1.0
    y += np.flip(y).copy()
    return np.sum(y ** 2)


def imul_transposed_sum(x):
    y = x * 2.0
    y *= y.T.sum() + np.transpose(y).reshape(-1).max()
    return np.sum(np.sin(y))


def iadd_flipped_in_loop(x):
    y = x + 1.0
    for _ in range(2):
        y += np.flip(y).copy()
    return np.sum(y ** 2)


def transpose_rebound(y):
    n2 = np.transpose(y)
    h = np.transpose(n2)
    n2 = n2 * 1.0
    n2[0] = n2[0] * 2.0
    return np.sum(n2 ** 2) + np.sum(h ** 3)


def transpose_method_rebound(y):
    n2 = y.transpose()
    h = n2.reshape(-1)
    n2 = n2 * 1.0
    n2[0] = n2[0] * 2.0
    return np.sum(n2 ** 2) + np.sum(h ** 3)


def astype_updated(x):
    y = x.astype(float)
    y[0] = y[0] * 3.0
    return np.sum(y ** 2) + np.sum(x)


def dict_spread_after_update(x):
    d = {'a': x * 1.0}
    d['a'] = d['a'] * 2.0
    d2 = {**d, 'c': x[..., :1] * 3.0}
    return np.sum(d2['a'] * d2['c'])


SAFE = [iadd_reversed_copy, iadd_reversed_view, iadd_flipped_copy,
        imul_transposed_sum, iadd_flipped_in_loop, transpose_rebound,
        transpose_method_rebound, astype_updated, dict_spread_after_update]
SHAPES = [(3,), (4,), (2, 3)]


def check_reverse_and_forward(function, x):
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)
    tangent = np.linspace(-1.0, 1.0, x.size).reshape(x.shape)
    _, derivative = adcompiler.jvp(function, (x,), (tangent,))
    np.testing.assert_allclose(derivative, np.sum(expected * tangent),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('shape', SHAPES, ids=str)
@pytest.mark.parametrize('function', SAFE, ids=lambda f: f.__name__)
def test_safe_update_matches_differences(function, shape):
    x = np.linspace(0.3, 1.1, int(np.prod(shape))).reshape(shape)
    check_reverse_and_forward(function, x)


# Lists that `+=` extends, then rebinds --------------------------------------

def list_extended_then_repeated(x):
    lst = [x[0]]
    lst += [x[1]]
    lst = lst * 2
    lst.extend([x[2]])
    return np.sum(sum(lst) * x[0])


def list_extended_then_concatenated(x):
    lst = [x[0]]
    lst += [x[1] ** 2]
    lst = lst + [x[2] * 2.0]
    lst.append(x[0] ** 2)
    return np.sum(lst[0] * lst[1] + lst[2] * lst[3])


def list_repeated_on_the_left(x):
    lst = [x[0]]
    lst += [x[1]]
    lst = 3 * lst
    lst.extend([x[2]])
    return np.sum(np.stack(lst) ** 2)


@pytest.mark.parametrize('function', [
    list_extended_then_repeated, list_extended_then_concatenated,
    list_repeated_on_the_left], ids=lambda f: f.__name__)
@pytest.mark.parametrize('shape', [(3,), (3, 2)], ids=str)
def test_extended_list_rebound_matches_differences(function, shape):
    x = np.linspace(0.3, 1.1, int(np.prod(shape))).reshape(shape)
    check_reverse_and_forward(function, x)


def list_extended_then_added_array(x):
    # `lst + x` with an array x calls x.__radd__ and makes an array, so
    # `lst += [...]` must stay a rebinding here too.
    lst = [x[0]]
    lst += [x[1]]
    lst = lst + x[:2]
    return np.sum(lst ** 2)


def test_list_plus_array_matches_differences():
    check_reverse_and_forward(list_extended_then_added_array,
                              np.array([0.4, -0.7, 1.3]))


# Unsafe: another name still refers to the updated value ---------------------

def view_kept_then_augmented(x):
    y = x + 1.0
    v = y[::-1]
    y += 1.0
    return np.sum(v * y)


def transpose_updated_through_view(y):
    n2 = np.transpose(y)
    h = np.transpose(n2)
    h[0] = h[0] * 2.0
    return np.sum(n2) + np.sum(h)


def astype_without_copy(x):
    y = x.astype(float, copy=False)
    y[0] = y[0] * 3.0
    return np.sum(y ** 2) + np.sum(x)


def dict_spread_then_updated(x):
    d = {'a': x[0], 'b': x[2]}
    d2 = {**d, 'c': x[1]}
    d['a'] = d['a'] * 3.0
    return d2['a'] * d2['c'] + d['a'] * d2['b']


def source_lineno(function, text):
    lines, first = inspect.getsourcelines(function)
    for offset, line in enumerate(lines):
        if text in line:
            return first + offset
    raise AssertionError(f'{text!r} not in {function.__name__}')


UNSAFE = [
    (view_kept_then_augmented, 'y += 1.0', 'y = y + ...'),
    (transpose_updated_through_view, 'h = np.transpose(n2)', 'h.copy()'),
    (astype_without_copy, 'copy=False', 'y.copy()'),
    (dict_spread_then_updated, 'd2 = {**d', '{**d.copy(), ...}'),
]


@pytest.mark.parametrize('function, line_text, fix', [
    pytest.param(*row, id=row[0].__name__) for row in UNSAFE])
@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_shared_update_is_rejected(function, line_text, fix, mode):
    x = np.array([[0.5, 1.2, -0.7]]) if 'transpose' in function.__name__ \
        else np.array([0.5, 1.2, -0.7])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        if mode == 'reverse':
            adcompiler.grad(function)(x)
        else:
            adcompiler.jvp(function, (x,), (np.ones_like(x),))
    error = info.value
    assert error.filename == __file__
    assert error.lineno == source_lineno(function, line_text)
    assert fix in str(error)


def test_dict_spread_error_names_the_display():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(dict_spread_then_updated)(np.array([0.5, 1.2, -0.7]))
    message = str(info.value)
    assert "unpacking 'd' into a dict display" in message
    assert 'keeps a reference' not in message
    caret_line = message.splitlines()[3]
    source_line = message.splitlines()[2]
    assert source_line[caret_line.index('^')] == '{'


# A later update reaches a name read only by value-returning calls -------

def alias_summed_after_append(x):
    lst = [x[0]]
    other = lst
    lst.append(x[2] * 2.0)
    return sum(other)


def alias_summed_before_append(x):
    lst = [x[0], x[1] ** 2]
    other = lst
    total = sum(other)
    lst.append(x[2] * 2.0)
    return total * lst[2]


def test_alias_read_after_append_is_rejected():
    x = np.array([0.5, -0.3, 0.8])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(alias_summed_after_append)(x)
    error = info.value
    assert error.lineno == source_lineno(alias_summed_after_append,
                                         'other = lst')
    assert "'other' becomes another name" in str(error)


def test_alias_read_before_append_matches_differences():
    check_reverse_and_forward(alias_summed_before_append,
                              np.array([0.5, -0.3, 0.8]))
