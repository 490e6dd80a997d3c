"""Index writes into a copy of a value that another helper returned.

A helper's result may be an object, so a function that receives it is
compiled with item reads that go through the subscript operator. When
the copy is updated in place, an item read that is kept past the update
is checked when the code runs: an element or a copy of an array passes,
a view raises. A read used before the next update needs no check.

Every accepted case is checked against central differences, in reverse
mode (three calls, to reach the code compiled for known shapes) and in
forward mode.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import check_gradient_and_tangent

RNG = np.random.default_rng(23)
BOX = 4.0


def apply_boundary(u0):
    u = u0.copy()
    u[-1] = u[-2]
    return u


def boundary_twice(x):
    u = apply_boundary(x)
    u = apply_boundary(u)
    return np.sum(u ** 2 * np.cos(x))


def apply_copied_boundary(u_in):
    u = np.copy(u_in)
    u[-1] = u[-2]
    return u


def heat_step(u, alpha):
    un = np.copy(u)
    un[1:-1] = u[1:-1] + alpha * (u[2:] - 2 * u[1:-1] + u[:-2])
    return apply_copied_boundary(un)


def heat_loop(u0):
    u = u0
    for _ in range(3):
        u = heat_step(u, 0.2)
    return np.sum(u ** 2)


def normalize_rows(a):
    b = a.copy()
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return b


def set_first_column(a, v):
    b = np.array(a, dtype=float)
    b[:, 0] += v
    return b


def first_column_of_normalized(a):
    return np.sum(set_first_column(normalize_rows(a), 0.5) ** 2 * a)


def wrap(positions):
    p = positions.copy()
    p[p >= BOX] -= BOX
    p[p < 0] += BOX
    return p


def periodic_steps(x):
    p = x
    for _ in range(3):
        p = wrap(p + 1.5 * np.sin(p))
    return np.sum(np.cos(p) * p)


def step(z, h):
    return z + h * z[::-1]


def stacked_trajectory(x):
    traj = [x]
    z = x
    for _ in range(3):
        z = step(z, 0.1)
        traj.append(z)
    traj = np.stack(traj)
    return np.sum(traj[:, 0] * traj[:, 1])


def first_item_kept(x):
    # u[0] of a vector is an element, which the update of u leaves as it
    # is. Of a matrix it is a view of a row, which changes with u.
    u = apply_boundary(x)
    u = u.copy()
    first = u[0]
    u[0] = u[1] * 3.0
    return np.sum(first * u)


def fancy_rows_kept(x):
    # An integer array index copies.
    u = apply_boundary(x)
    u = u.copy()
    rows = u[[0, 1]]
    u[0] = u[1] * 3.0
    return np.sum(rows ** 2) + np.sum(u * x)


def _check(function, x):
    check_gradient_and_tangent(function, x, RNG)


@pytest.mark.parametrize('shape', [(3,), (5,), (4, 2)])
def test_boundary_helper_on_own_result(shape):
    _check(boundary_twice, RNG.normal(size=shape))


def test_boundary_helper_hessian():
    def twice(x):
        u = apply_boundary(x)
        u = apply_boundary(u)
        return np.sum(u ** 2)

    hessian = adcompiler.hessian(twice)(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(hessian, np.diag([2.0, 4.0, 0.0]))


@pytest.mark.parametrize('shape', [(4,), (6,), (5, 2)])
def test_heat_loop_with_boundary_helper(shape):
    _check(heat_loop, RNG.normal(size=shape))


@pytest.mark.parametrize('shape', [(2, 2), (3, 4)])
def test_column_update_of_helper_result(shape):
    _check(first_column_of_normalized, RNG.uniform(0.5, 2.0, size=shape))


@pytest.mark.parametrize('shape', [(4,), (3, 2)])
def test_periodic_wrap_in_loop(shape):
    # Away from the wrap boundaries, where the function jumps.
    x = np.linspace(0.3, 3.5, int(np.prod(shape))).reshape(shape)
    _check(periodic_steps, x)


@pytest.mark.parametrize('shape', [(2,), (3,)])
def test_list_rebound_to_stacked_array(shape):
    _check(stacked_trajectory, RNG.normal(size=shape))


@pytest.mark.parametrize('shape', [(3,), (4,)])
def test_kept_element_of_helper_result(shape):
    _check(first_item_kept, RNG.normal(size=shape))


@pytest.mark.parametrize('shape', [(3,), (3, 2)])
def test_kept_fancy_index_copy(shape):
    _check(fancy_rows_kept, RNG.normal(size=shape))


def slice_kept(x):
    u = apply_boundary(x)
    u = u.copy()
    tail = u[1:]
    u[1] = u[0] * 3.0
    return np.sum(tail * u[0])


def slice_kept_in_loop(x):
    u = apply_boundary(x)
    u = u.copy()
    total = 0.0
    for k in range(2):
        tail = u[1:]
        u[k] = u[k] * 2.0
        total = total + np.sum(tail)
    return total


@pytest.mark.parametrize('function, shape', [
    (first_item_kept, (3, 2)),
    (slice_kept, (4,)),
    (slice_kept, (3, 2)),
    (slice_kept_in_loop, (4,)),
])
def test_kept_view_of_helper_result_rejected(function, shape):
    x = RNG.normal(size=shape)
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match=r"keeping 'u\[.*\]' while 'u' is updated"):
        adcompiler.grad(function)(x)


@pytest.mark.parametrize('function', [first_item_kept, slice_kept])
def test_kept_view_rejected_in_forward_mode(function):
    x = RNG.normal(size=(3, 2))
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='is a view of it'):
        adcompiler.jvp(function, (x,), (np.ones_like(x),))


class Rows:
    """A sequence of rows whose __getitem__ returns views of its array."""

    def __init__(self, data):
        self.data = data

    def copy(self):
        return Rows(self.data.copy())

    def __getitem__(self, index):
        return self.data[index]

    def __setitem__(self, index, value):
        self.data[index] = value


def object_row_kept(x, rows):
    copied = rows.copy()
    first = copied[0]
    copied[0] = x * 2.0
    return np.sum(first * x)


def test_kept_item_of_object_rejected():
    x = np.array([0.3, 0.8])
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match="not a list, a tuple or a dict"):
        adcompiler.grad(object_row_kept)(x, Rows(np.ones((2, 2))))
