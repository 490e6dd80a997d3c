"""Errors that name a rewrite the user can make, and generated code that
reads without noise (no repeated line comments, no checks that cannot
fail).
"""

import numpy as np
import pytest

import adcompiler

X = np.array([0.3, -0.7, 1.2, 0.5])


# Errors that name what to write instead ------------------------------------

def pops_with_default(x):
    d = {'a': x[0], 'b': 2.0 * x[1]}
    v = d.pop('a')
    w = d.pop('c', x[2])
    return v * w + d['b']


def deletes_item(x):
    lst = [x[0], x[1], x[2]]
    del lst[0]
    return lst[0] * lst[1]


def unpacks_into_display(x):
    a = [x[0], x[1]]
    b = [*a, x[2] * 3.0, *a]
    return b[0] * b[2]


def unpacks_mapping_into_inner(x):
    def inner(v, scale=1.0):
        return v * scale
    d = {'scale': x[1]}
    return inner(x[0], **d)


def unpacks_into_zip(x):
    a, b = zip(*[(x[0], x[1]), (x[2], x[3])])
    return a[0] * b[1] + a[1] * b[0]


@pytest.mark.parametrize('function, fix', [
    pytest.param(pops_with_default, 'd.get(key, default)', id='pop-default'),
    pytest.param(deletes_item, 'lst = lst[1:]', id='del-item'),
    pytest.param(unpacks_into_display, 'a + [v] + a', id='starred-display'),
    pytest.param(unpacks_mapping_into_inner, "k=d['k']",
                 id='inner-kwargs'),
])
def test_error_names_rewrite(function, fix):
    with pytest.raises(adcompiler.AdCompilerError) as info:
        adcompiler.grad(function)(X)
    assert fix in str(info.value)


def unpacks_into_strict_zip(x):
    a, b = zip(*[(x[0], x[1]), (x[2], x[3])], strict=True)
    return a[0] * b[1] + a[1] * b[0]


def test_zip_starred_differentiated():
    # zip(*rows) becomes a list of the rows' k-th items.
    expected = np.array([X[3], X[2], X[1], X[0]])
    np.testing.assert_allclose(adcompiler.grad(unpacks_into_zip)(X), expected)


def test_strict_zip_error_names_rewrite():
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(unpacks_into_strict_zip)(X)
    message = str(info.value)
    assert 'zip(pairs[0], pairs[1])' in message
    assert 'dataclass' not in message


def one_parameter(*xs):
    return xs[0] * xs[1]


def test_wrt_range_error_singular():
    with pytest.raises(adcompiler.InvalidArgumentError) as info:
        adcompiler.grad(one_parameter, wrt=(0, 1))(1.0, 2.0)
    assert '1 parameter [' in str(info.value)


# Generated code without noise -----------------------------------------------

def while_counter(x, n):
    s = 0.0
    k = 0
    while k < n:
        if x[k] > 0:
            s += x[k] ** 2
        else:
            s -= x[k]
        k += 1
    return s


def enumerated_rows(x, labels):
    total = 0.0
    for i, row in enumerate(x):
        m = np.max(row)
        total = total + np.sum(np.exp(row - m)) * labels[i]
    return total


def test_while_test_commented_once():
    gradient = adcompiler.grad(while_counter)
    gradient(X, 3)
    source = adcompiler.source(gradient)
    primal, adjoint = source.split('def adjoint_')
    # One line comment in each function, and the primal loop keeps the test.
    assert primal.count(': while k < n:') == 1
    assert primal.count('while k < n') == 2
    assert adjoint.count('while k < n') == 1


def test_int_counter_has_no_check():
    gradient = adcompiler.grad(while_counter)
    gradient(X, 3)
    assert 'require_immutable' not in adcompiler.source(gradient)


def test_enumerated_rows_have_no_array_check():
    gradient = adcompiler.grad(enumerated_rows)
    M = np.arange(6.0).reshape(2, 3) / 6.0
    gradient(M, [1.0, 2.0])
    source = adcompiler.source(gradient)
    assert 'require_array_like' not in source
    assert '__array__' not in source
