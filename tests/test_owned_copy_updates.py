"""In-place updates of copies that a function owns: `v = v.copy(); v /= s`,
`lst = list(lst); lst.append(v)` and `out = lst[:]`, in a helper and in
the differentiated function itself.

Each accepted form is checked against central differences in reverse
mode (grad, called three times to reach the code compiled for known
shapes) and in forward mode (jvp). The neighbouring forms that update
memory another name can see (a parameter, a view, an array's `a[:]`)
must still raise.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

RNG = np.random.default_rng(23)

# (shape of x, shape of s): s broadcasts against x in `v /= s`.
SHAPE_PAIRS = [((3,), (3,)), ((2, 3), (3,)), ((2, 3), (2, 1)), ((4,), ())]


# Helpers that copy their parameter before they update it -------------------

def divided_copy(v, s):
    v = v.copy()
    v /= s
    return v


def doubled_array(v):
    v = np.array(v)
    v *= 2.0
    return v


def centered_copy(v):
    v = np.copy(v)
    v -= v.mean()
    return v


def shifted_product(a, c):
    b = a * 1.0
    b += c
    return b


def with_item(lst, v):
    lst = list(lst)
    lst.append(v)
    return lst


def with_item_by_method(lst, v):
    lst = lst.copy()
    lst.append(v)
    return lst


def helper_division(x, s):
    return np.sum(divided_copy(x, s) ** 2 * x)


def helper_array_copy(x, s):
    return np.sum(doubled_array(x * s) ** 2)


def helper_np_copy(x, s):
    return np.sum(centered_copy(x) ** 3 * s)


def helper_product_copy(x, s):
    return np.sum(shifted_product(x, s) ** 2)


def helper_in_loop(x, s):
    total = 0.0
    for k in range(2):
        total = total + np.sum(divided_copy(x * (k + 1.0), s) ** 2)
    return total


def helper_list_copy(x, s):
    items = with_item([x, x * 2.0], x * s)
    return np.sum(items[0] * items[2]) + np.sum(sum(items))


def helper_list_method_copy(x, s):
    items = with_item_by_method([x], np.sin(x) * s)
    return np.sum(items[0] * items[1])


# The same in the differentiated function ------------------------------------

def own_parameter_copy(x, s):
    x = x.copy()
    x += s
    return np.sum(x ** 2)


def own_new_array(x, s):
    y = np.zeros(x.shape)
    y += x * s
    y **= 2
    return np.sum(y)


def own_list_copy(x, s):
    items = [x, x * s]
    items = list(items)
    items.append(np.cos(x))
    return np.sum(items[1] * items[2]) + np.sum(items[0])


def own_list_slice(x, s):
    items = [x, x * s]
    extended = items[:]
    extended.append(np.cos(x) * s)
    return np.sum(sum(extended) ** 2) + np.sum(items[1])


def own_list_rebound_to_slice(x, s):
    items = [x * s]
    items = items[:]
    items.append(x ** 2)
    return np.sum(items[0] * items[1])


ACCEPTED = [helper_division, helper_array_copy, helper_np_copy,
            helper_product_copy, helper_in_loop, helper_list_copy,
            helper_list_method_copy, own_parameter_copy, own_new_array,
            own_list_copy, own_list_slice, own_list_rebound_to_slice]


def _check(function, x, s):
    expected_x = numerical_gradient(function, (x, s), 0)
    expected_s = numerical_gradient(function, (x, s), 1)
    for _ in range(3):
        gradient_x, gradient_s = adcompiler.grad(function, wrt=(0, 1))(x, s)
        assert_gradient_close(gradient_x, expected_x)
        assert_gradient_close(gradient_s, expected_s)
    tangent_x = RNG.normal(size=np.shape(x))
    tangent_s = RNG.normal(size=np.shape(s))
    _, tangent = adcompiler.jvp(function, (x, s), (tangent_x, tangent_s))
    expected = np.sum(expected_x * tangent_x) + np.sum(expected_s * tangent_s)
    np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('shapes', SHAPE_PAIRS,
                         ids=lambda p: f'{p[0]}-{p[1]}')
@pytest.mark.parametrize('function', ACCEPTED, ids=lambda f: f.__name__)
def test_owned_copy_update_gradient(function, shapes):
    x_shape, s_shape = shapes
    x = RNG.normal(size=x_shape)
    s = RNG.uniform(0.5, 2.0, size=s_shape)
    if function is own_parameter_copy and np.broadcast_shapes(
            x_shape, s_shape) != x_shape:
        pytest.skip('NumPy cannot grow x in place')
    _check(function, x, s)


def test_owned_copy_leaves_argument_unchanged():
    x = RNG.normal(size=3)
    before = x.copy()
    adcompiler.grad(helper_division)(x, np.full(3, 2.0))
    adcompiler.grad(own_parameter_copy)(x, np.full(3, 2.0))
    np.testing.assert_array_equal(x, before)


# Neighbours that update shared memory ---------------------------------------

def updated_parameter(x, s):
    x += s
    return np.sum(x ** 2)


def updated_view(x, s):
    y = x * 1.0
    tail = y[1:]
    tail += s
    return np.sum(y ** 2)


def updated_transpose(x, s):
    y = x * 1.0
    z = y.T
    y *= s
    return np.sum(z ** 2)


def updated_reshape(x, s):
    y = x * 1.0
    z = y.reshape(-1)
    y *= s
    return np.sum(z ** 2 * x)


def as_array_view(v, s):
    w = np.asarray(v)
    w *= s
    return w


def helper_asarray(x, s):
    y = x * 1.0
    z = as_array_view(y, s)
    return np.sum(y ** 2 + z)


def rows_then_write(x, s):
    a = x * s
    rows = list(a)
    a[0, 0] = 5.0
    return np.sum(rows[0] * x[0])


def helper_keeps_rows(a, v):
    rows = list(a)
    rows.append(v)
    return rows


def helper_rows_then_write(x, s):
    a = x * s
    rows = helper_keeps_rows(a, x[0])
    a[0, 0] = 5.0
    return np.sum(rows[0] * x[0])


def rows_item_updated(x, s):
    rows = list(x * s)
    row = rows[0]
    row *= 3.0
    return np.sum(rows[0] * x[0])


REJECTED = [updated_parameter, updated_view, updated_transpose,
            updated_reshape, helper_asarray, rows_then_write,
            helper_rows_then_write, rows_item_updated]


@pytest.mark.parametrize('function', REJECTED, ids=lambda f: f.__name__)
def test_shared_update_rejected(function):
    x = RNG.normal(size=(2, 3))
    s = np.full(3, 1.5)
    with pytest.raises(adcompiler.UnsupportedSyntaxError):
        adcompiler.grad(function, wrt=(0, 1))(x, s)
    with pytest.raises(adcompiler.UnsupportedSyntaxError):
        adcompiler.jvp(function, (x, s), (np.ones_like(x), np.ones_like(s)))


def array_slice_updated(x, s):
    a = x * s
    b = a[:]
    b[0] = 5.0
    return np.sum(a * x)


@pytest.mark.parametrize('mode', ['grad', 'jvp'])
def test_array_full_slice_update_raises_when_run(mode):
    # For an array, a[:] is a view, which the check before it rejects.
    x = RNG.normal(size=(2, 3))
    s = np.full(3, 1.5)
    gradient = adcompiler.grad(array_slice_updated)
    # The third call of grad runs the code compiled for known shapes.
    for _ in range(3):
        with pytest.raises(adcompiler.UnsupportedSyntaxError,
                           match=r"'a' is not a list"):
            if mode == 'grad':
                gradient(x, s)
            else:
                adcompiler.jvp(array_slice_updated, (x, s),
                               (np.ones_like(x), np.ones_like(s)))
