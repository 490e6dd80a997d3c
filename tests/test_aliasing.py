"""In-place idioms whose arrays share memory safely, and their unsafe twins.

Each function in SAFE updates an array in place and then lets another name
or a list keep it, but nothing updates that array afterwards. Its gradient
(reverse mode) and tangent (forward mode) must match central finite
differences, and so must its Hessian in every composition where the first
derivative is smooth. Each function in UNSAFE differs from a safe one in a way that
would give a wrong gradient, and must raise UnsupportedSyntaxError at the
line that makes the memory shared.
"""

import inspect

import numpy as np
import pytest
import scipy.optimize

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient

MODES = [None] + [c.value for c in adcompiler.Composition]


# Safe: nothing updates the shared array after it is shared -------------------

def jacobi(u, steps=3):
    for _ in range(steps):
        un = u.copy()
        un[1:-1] = 0.5 * (u[:-2] + u[2:])
        u = un
    return np.sum(u ** 2)


def jacobi_in_while(u):
    steps = 0
    while steps < 2:
        un = np.copy(u)
        un[1:-1] = u[1:-1] + 0.25 * (u[:-2] - 2.0 * u[1:-1] + u[2:])
        u = un
        steps += 1
    return np.sum(np.sin(u) * u)


def rows_appended(x):
    out = []
    for i in range(3):
        row = np.zeros(2)
        row[0] = x[i] ** 2
        row[1] = x[i] * x[i + 1]
        out.append(row)
    return np.sum(np.stack(out) ** 2)


def rows_in_displays(x):
    pairs = []
    for i in range(2):
        row = np.ones(2)
        row[1] = np.sin(x[i])
        pairs.append((row, x[i]))
    return sum(np.sum(r * w) for r, w in pairs) ** 2


def rows_stored_by_index(x):
    out = [None, None]
    for i in range(2):
        row = x[i:i + 2] * 1.0
        row[0] = row[0] * row[1]
        out[i] = row
    return np.sum(out[0] * out[1])


def rows_appended_until_break(x):
    out = []
    i = 0
    while True:
        row = np.zeros(2)
        row[1] = np.cos(x[i])
        out.append(row)
        i += 1
        if i >= 2:
            break
    return np.sum(np.stack(out) * x[0])


def appended_then_rebound(x):
    out = []
    row = np.zeros(2)
    row[0] = x[2]
    for i in range(3):
        out.append(row)
        row = np.zeros(2)
        row[0] = x[i] ** 2
        row[1] = x[i] * row[0]
    return np.sum(np.stack(out) ** 2) + np.sum(row)


def rows_in_dict(x):
    rows = {}
    for i in range(2):
        row = np.ones(2)
        row[1] = x[i] ** 3
        rows[i] = row
    rows[0] = rows[0] * 2.0
    return np.sum(rows[0] * rows[1])


def alias_then_rebound(x):
    a = x * 1.0
    for i in range(2):
        b = a
        a = x * 2.0
        a[0] = x[1] * a[i]
    return np.sum(b * a)


def view_kept_after_rebinding(x):
    y = x * 1.0
    for _ in range(2):
        v = y[0:2]
        y = y * 2.0
        y[0] = np.sin(y[1])
    return np.sum(v * y[:2])


def jacobi_with_boundary(x):
    u = x * 1.0
    for _ in range(2):
        un = u.copy()
        un[1:-1] = 0.5 * (u[:-2] + u[2:])
        u = un
        u[0] = u[1] * u[-1]
    return np.sum(u ** 2)


def swap_and_scale(x):
    s = x.copy()
    s[0], s[1] = s[1], s[0] * 2
    return np.sum(s ** 2)


def swap(x):
    s = np.sin(x)
    s[0], s[1] = s[1], s[0]
    s[2], s[3] = s[3] * s[0], s[2]
    return np.sum(s * x)


def partial_read(x):
    y = x.copy()
    y[1:3] = y[1:3] * 2 + y[0]
    return np.sum(y ** 2)


def rows_swapped_and_scaled(x):
    m = x[:, None] * x[None, :2]
    m[0], m[1] = m[1], m[0] * 2.0
    return np.sum(m ** 3)


def transposed_after_update(x):
    m = x[:, None] * x[None, :]
    m[0, 1] = np.sin(x[0])
    t = m.T
    return np.sum(t * m[::-1])


def leapfrog(x):
    pos = x.copy()
    vel = np.zeros_like(x)
    for _ in range(3):
        vel += 0.1 * np.sin(pos)
        pos += 0.1 * vel
    return np.sum(pos ** 2)


def list_extended(x):
    terms = []
    terms += [x * 2.0, np.sin(x)]
    return np.sum(terms[0] * terms[1])


def list_extended_in_loop(x):
    terms = [x[0]]
    for i in range(2):
        terms += (x * i, x[i] ** 2)
    return np.sum(terms[1] * terms[3]) + terms[2] * terms[0] + terms[4]


def list_plus_array(x):
    # list has no in-place addition, so this runs np.sin(...).__radd__ and
    # binds terms to a new array; the list is left unchanged.
    terms = [x[0], x[1], x[2]]
    terms += np.sin(x[0:3])
    return np.sum(terms * x[0:3])


def loss_in_dict(x):
    d = {'loss': 0.0}
    d['loss'] += x ** 2
    return np.sum(d['loss'] * x)


def fresh_accumulators(x):
    acc = [np.zeros(x.size), np.zeros(x.size)]
    acc[0] += x
    acc[1] += x ** 2
    return np.sum(acc[0] * acc[1])


def scalar_items_incremented(x):
    vals = [x[0], x[1]]
    vals[0] += x[2] ** 2
    return vals[0] * vals[1]


def matrix_row_incremented(x):
    m = np.outer(x, x)
    m[0] += np.sin(x)
    return np.sum(m ** 2)


def rebound_after_naming_argument(x):
    t = x
    s = np.sum(np.sin(t))
    t = x * 2.0
    t[0] += s
    return np.sum(t ** 2)


def weighted_sum(a):
    return np.sum(a * np.arange(a.size))


def updated_then_passed_to_helper(x):
    a = x * 2.0
    a[0] += np.sum(x ** 2)
    return weighted_sum(a)


def rosen_der_norm(x):
    return np.sum(scipy.optimize.rosen_der(x) ** 2)


def rosen_hess_prod_norm(x):
    direction = np.linspace(1.0, -1.0, x.size)
    return np.sum(scipy.optimize.rosen_hess_prod(x, direction) ** 2)


SAFE = [jacobi, jacobi_in_while, rows_appended, rows_in_displays,
        rows_stored_by_index, rows_appended_until_break,
        appended_then_rebound, rows_in_dict, alias_then_rebound,
        view_kept_after_rebinding, jacobi_with_boundary,
        swap_and_scale, swap, partial_read,
        rows_swapped_and_scaled,
        transposed_after_update, leapfrog, list_extended,
        list_extended_in_loop, list_plus_array, loss_in_dict,
        fresh_accumulators, scalar_items_incremented,
        matrix_row_incremented, rebound_after_naming_argument,
        updated_then_passed_to_helper, rosen_der_norm,
        rosen_hess_prod_norm]
POINTS = [np.array([0.5, 1.2, -0.7, 2.0, 0.3]),
          np.array([-1.1, 0.4, 0.9, -0.2])]


@pytest.mark.parametrize('x', POINTS, ids=['five', 'four'])
@pytest.mark.parametrize('function', SAFE, ids=lambda f: f.__name__)
def test_shared_array_gradient(function, x):
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x.copy()), expected)


@pytest.mark.parametrize('x', POINTS, ids=['five', 'four'])
@pytest.mark.parametrize('function', SAFE, ids=lambda f: f.__name__)
def test_shared_array_tangent(function, x):
    direction = np.linspace(0.3, -0.8, x.size)
    expected = numerical_gradient(function, (x,), 0) @ direction
    value, tangent = adcompiler.jvp(function, (x.copy(),), (direction,))
    assert value == pytest.approx(function(x.copy()))
    assert tangent == pytest.approx(expected, rel=1e-6, abs=1e-8)


def hessian_by_differences(function, x):
    """Central differences of the gradient, one row per component of x."""
    gradient = adcompiler.grad(function)
    return np.array([
        numerical_gradient(lambda y: gradient(y)[row], (x,), 0)
        for row in range(x.size)])


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('function', SAFE, ids=lambda f: f.__name__)
def test_shared_array_hessian(function, mode):
    x = POINTS[0]
    expected = hessian_by_differences(function, x)
    hessian = adcompiler.hessian(function, mode=mode)(x.copy())
    assert_gradient_close(hessian, expected, rtol=1e-4, atol=1e-5)


def test_caller_array_unchanged():
    x = POINTS[0].copy()
    adcompiler.grad(jacobi)(x)
    adcompiler.jvp(swap_and_scale, (x,), (np.ones(5),))
    np.testing.assert_array_equal(x, POINTS[0])


# Unsafe: the shared array is updated later ------------------------------------

def jacobi_copy_before_loop(u):
    un = u.copy()
    for _ in range(2):
        un[1:-1] = 0.5 * (u[:-2] + u[2:])
        u = un
    return np.sum(u ** 2)


def row_made_before_loop(x):
    out = []
    row = np.zeros(2)
    for i in range(2):
        row[0] = x[i] ** 2
        out.append(row)
    return np.sum(np.stack(out) ** 2)


def row_made_in_one_branch(x):
    out = []
    row = np.zeros(2)
    for i in range(2):
        if i > 0:
            row = np.zeros(2)
        row[0] = x[i] ** 2
        out.append(row)
    return np.sum(np.stack(out) ** 2)


def row_written_after_append(x):
    out = []
    for i in range(2):
        row = np.zeros(2)
        out.append(row)
        row[0] = x[i] ** 2
    return np.sum(np.stack(out) ** 2)


def alias_written_later(x):
    for _ in range(2):
        un = x.copy()
        un[0] = x[1] * 2.0
        x = un
        x[1] = 3.0 * un[0]
    return np.sum(x ** 2)


def tuple_unpacked_alias(x):
    a = x * 1.0
    c, d = a, 1.0
    for _ in range(1):
        c[0] = x[1] * 2.0
    return np.sum(a ** 2) + d


def unpacked_from_named_tuple(x):
    a = x * 1.0
    pair = (a, 1.0)
    c, d = pair
    c[0] = x[1] * 2.0
    return np.sum(a ** 2) + d


def list_item_written(x):
    out = []
    for i in range(2):
        row = np.zeros(2)
        row[0] = x[i]
        out.append(row)
    first = out[0]
    first[1] = x[0] ** 2
    return np.sum(np.stack(out) ** 2)


def swapped_views(x):
    m = np.outer(x, x[:2])
    m[0], m[1] = m[1], m[0]
    return np.sum(m ** 3)


def copy_false_incremented(x):
    y = x * 1.0
    z = np.array(y, copy=False)
    z += x
    return np.sum(y * z)


def list_extended_through_alias(x):
    terms = []
    kept = terms
    terms += [x * 2.0]
    return np.sum(kept[0] * x)


def alias_in_branch(x):
    a = x * 1.0
    if x[0] > 0:
        b = a
    else:
        b = x * 3.0
    a[1] = x[2] ** 2
    return np.sum(b * a)


def copied_into_after_alias(x):
    a = x * 1.0
    a[0] = 2.0 * x[1]
    b = a
    np.copyto(a, x)
    return np.sum(b * x)


def list_alias_then_append(x):
    a = [x * 1.0]
    a.append(x * 2.0)
    b = a
    a.append(x * 3.0)
    return np.sum(b[-1])


def moved_after_other_alias(x):
    u = x * 1.0
    for _ in range(2):
        un = u.copy()
        un[0] = u[1] * u[0]
        w = un
        u = un
        u[1] = 3.0 * u[0]
    return np.sum(w * u)


def read_after_move(x):
    u = x * 1.0
    s = 0.0
    for _ in range(2):
        un = u.copy()
        un[0] = u[1] * u[0]
        u = un
        u[1] = 3.0 * u[0]
        s = s + np.sum(un * x)
    return s + np.sum(u)


def row_kept(x):
    m = x[:, None] * x[None, :]
    r = m[0]
    m[0, 0] = 5.0
    return np.sum(r * x)


def buffer_filled_in_loop(x):
    buf = np.zeros(3)
    for k in range(3):
        u = buf
        u[k] = x[k] * x[(k + 1) % 3]
    return np.sum(u ** 2)


def buffer_filled_in_while(x):
    buf = np.zeros(3)
    k = 0
    while k < 3:
        u = buf
        u[k] = x[k] * x[(k + 1) % 3]
        k += 1
    return np.sum(u ** 2)


def list_display_filled_in_loop(x):
    buf = [x[0], x[1], x[2]]
    for k in range(3):
        u = buf
        u[k] = x[k] * x[(k + 1) % 3]
    return u[0] ** 2 + u[1] ** 2 + u[2] ** 2


def list_appended_through_alias(x):
    lst = []
    for i in range(3):
        cur = lst
        cur.append(x[i] ** 2)
    return cur[0] * cur[1] + cur[2] * cur[0]


def once_in_loop_appended(x):
    un = x * 2.0
    hist = []
    for k in range(2):
        u = un
        u[k] = u[k] * x[k + 1]
        hist.append(u)
    return np.sum(hist[0] * x) + np.sum(hist[1] ** 2)


def once_in_loop_kept(x):
    un = x * 2.0
    prev = x * 1.0
    for k in range(2):
        u = un
        s = np.sum(prev * x)
        u[k] = u[k] * x[k + 1] + s
        prev = u
    return np.sum(prev * x)


def popped_item_written(x):
    a = x * 1.0
    v = [a].pop()
    v[0] = 3.0
    return np.sum(a * x)


def diff_of_order_zero_written(x):
    a = x * 1.0
    v = np.diff(a, n=0)
    v[0] = 3.0 * x[1]
    return np.sum(a * x)


def sum_with_start_written(x):
    a = x * 1.0
    v = sum([], a)
    v[0] = 3.0 * x[1]
    return np.sum(a * x)


def list_item_incremented(x):
    a = x * 1.0
    lst = [a, x]
    lst[0] += x ** 2
    return np.sum(a * x)


def dict_item_incremented(x):
    a = x * 1.0
    d = {'a': a}
    d['a'] += x ** 2
    return np.sum(a * x)


def copied_list_item_incremented(x):
    a = x * 1.0
    lst = [a]
    c = lst.copy()
    c[0] += x ** 2
    return np.sum(lst[0] * x)


def appended_row_incremented(x):
    out = []
    for i in range(2):
        row = x * float(i + 1)
        out.append(row)
    out[1] += x ** 2
    return np.sum(row * x)


def source_lineno(function, marker):
    """Return the line number of the one line of `function` with `marker`."""
    lines, first = inspect.getsourcelines(function)
    matches = [first + i for i, line in enumerate(lines) if marker in line]
    assert len(matches) == 1, f'{marker!r} must occur once in {function}'
    return matches[0]


# (function, text of the line the error points at, a word of the message)
UNSAFE = [
    (jacobi_copy_before_loop, 'u = un', "'un'"),
    (row_made_before_loop, 'out.append(row)', "'row'"),
    (row_made_in_one_branch, 'out.append(row)', "'row'"),
    (row_written_after_append, 'out.append(row)', "'row'"),
    (alias_written_later, 'x = un', "'x'"),
    (tuple_unpacked_alias, 'c, d = a, 1.0', "'c'"),
    (unpacked_from_named_tuple, 'c, d = pair', "'c'"),
    (list_item_written, 'first = out[0]', "'first'"),
    (swapped_views, 'm[0], m[1] = m[1], m[0]', "'m[0]'"),
    (alias_in_branch, 'b = a', "'a'"),
    (copied_into_after_alias, 'b = a', "'a'"),
    (list_alias_then_append, 'b = a', "'a'"),
    (moved_after_other_alias, 'u = un', "'u'"),
    (read_after_move, 'u = un', "'u'"),
    (row_kept, 'r = m[0]', "'m[0]'"),
    (copy_false_incremented, 'z += x', "'z'"),
    (list_extended_through_alias, 'kept = terms', "'terms'"),
    (buffer_filled_in_loop, 'u = buf', "'u'"),
    (buffer_filled_in_while, 'u = buf', "'u'"),
    (list_display_filled_in_loop, 'u = buf', "'u'"),
    (list_appended_through_alias, 'cur = lst', "'cur'"),
    (once_in_loop_appended, 'u = un', "'u'"),
    (once_in_loop_kept, 'u = un', "'u'"),
    (popped_item_written, 'v = [a].pop()', "'v'"),
    (diff_of_order_zero_written, 'v = np.diff(a, n=0)', "'v'"),
    (sum_with_start_written, 'v = sum([], a)', "'v'"),
    (list_item_incremented, 'lst[0] += x ** 2', "'lst[0]'"),
    (dict_item_incremented, "d['a'] += x ** 2", "d['a']"),
    (copied_list_item_incremented, 'c[0] += x ** 2', "'c[0]'"),
    (appended_row_incremented, 'out[1] += x ** 2', "'out[1]'"),
]


@pytest.mark.parametrize('function, line_text, word', [
    pytest.param(*row, id=row[0].__name__) for row in UNSAFE])
@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_update_after_sharing_is_rejected(function, line_text, word, mode):
    x = np.array([0.5, 1.2, -0.7])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        if mode == 'reverse':
            adcompiler.grad(function)(x)
        else:
            adcompiler.jvp(function, (x,), (np.ones(3),))
    error = info.value
    assert error.filename == __file__
    assert error.lineno == source_lineno(function, line_text)
    assert word in str(error)


# Errors name what the user wrote, not the compiler's temporaries --------------

def halve_first(v):
    v[0] = v[0] * 0.5
    return 0.0


def passes_slice_to_updating_function(x):
    y = x * 1.0
    halve_first(y[0:2])
    return np.sum(y)


def sorts_slice_after_use(x):
    y = x * 1.0
    s = np.sum(y * x)
    y[0:2].sort()
    return s


def conditional_alias(x):
    a = x * 1.0
    b = a if x[0] > 0 else x * 2.0
    a[0] = 3.0
    return np.sum(b * x)


def or_alias(x):
    a = x * 1.0
    b = None or a
    a[0] = 3.0
    return np.sum(b * x)


@pytest.mark.parametrize('function, expression', [
    (conditional_alias, "'a if x[0] > 0 else x * 2.0'"),
    (or_alias, "'None or a'"),
    (passes_slice_to_updating_function, "'y[0:2]'"),
    (sorts_slice_after_use, "'y[0:2]'"),
    (swapped_views, "'m[0]'"),
], ids=lambda value: getattr(value, '__name__', ''))
def test_error_names_user_expression(function, expression):
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(function)(np.array([0.5, 1.2, -0.7]))
    summary = str(info.value).splitlines()[0]
    assert expression in summary
    assert "'t" not in summary


def written_then_augmented(x):
    y = np.zeros(3)
    y[0] = 1.0
    y += x
    return np.sum(y ** 2)


def dict_copy_item_updated(x):
    d = {'a': x}
    e = dict(d, b=x ** 2)
    e['a'] = e['a'] * 3.0
    return np.sum(e['a'] * e['b'])


@pytest.mark.parametrize('function', [written_then_augmented,
                                      dict_copy_item_updated])
def test_new_container_updated_after_write(function):
    x = np.array([0.3, -1.2, 0.7])
    gradient = adcompiler.grad(function)(x)
    assert_gradient_close(gradient, numerical_gradient(function, (x,), 0))


def test_alias_of_written_array_still_rejected():
    def function(x):
        y = np.zeros(3)
        z = y
        y[0] = 1.0
        y += x
        return np.sum(z * x)

    with pytest.raises(adcompiler.UnsupportedSyntaxError):
        adcompiler.grad(function)(np.array([0.3, -1.2, 0.7]))


# Helpers that fill a new array by index, called on their own results -------
# The helper's `F` is a new array whatever the argument, so its result may
# flow back into it: step(step(a)), or force -> integrate -> force.

def pair_forces(pos):
    F = np.zeros_like(pos)
    for i in range(pos.shape[0]):
        for j in range(pos.shape[0]):
            if i != j:
                d = pos[j] - pos[i]
                F[i] += d / (np.sum(d ** 2) + 1.0) ** 1.5
    return F


def first_rows_mixed(pos):
    F = np.zeros_like(pos)
    F[0] += pos[1] ** 2
    F[1] += pos[0] * 3.0
    return F


def mixed_twice(a):
    b = first_rows_mixed(a)
    c = first_rows_mixed(b)
    return np.sum(c ** 2)


def mixed_nested(a):
    return np.sum(first_rows_mixed(first_rows_mixed(a) + 0.5) ** 2)


def mixed_same_name(pos):
    F = pos * 2.0
    F = first_rows_mixed(F)
    F = first_rows_mixed(F)
    return np.sum(F ** 2)


def forces_integrated_once(pos0):
    F = pair_forces(pos0)
    pos = pos0 + 0.1 * F
    F = pair_forces(pos)
    return np.sum(F ** 2)


def leapfrog_with_forces(pos0):
    pos = pos0
    vel = np.zeros_like(pos0)
    F = pair_forces(pos)
    for _ in range(4):
        vel = vel + 0.1 * F
        pos = pos + 0.1 * vel
        F = pair_forces(pos)
    return np.sum(pos ** 2) + np.sum(F * F)


FILLED_BY_INDEX = [mixed_twice, mixed_nested, mixed_same_name,
                   forces_integrated_once, leapfrog_with_forces]
# Three particles in the plane, four in space, and two on a line.
PARTICLES = [np.array([[0.0, 0.1], [1.0, -0.3], [0.4, 1.2]]),
             np.array([[0.2, -0.5, 1.0], [1.1, 0.3, -0.2],
                       [-0.7, 0.8, 0.4], [0.5, 0.5, -0.9]]),
             np.array([[0.3], [-1.1]])]


@pytest.mark.parametrize('pos', PARTICLES, ids=['plane', 'space', 'line'])
@pytest.mark.parametrize('function', FILLED_BY_INDEX,
                         ids=lambda f: f.__name__)
def test_helper_on_own_result_gradient(function, pos):
    expected = numerical_gradient(function, (pos,), 0)
    assert_gradient_close(adcompiler.grad(function)(pos.copy()), expected)


@pytest.mark.parametrize('pos', PARTICLES, ids=['plane', 'space', 'line'])
@pytest.mark.parametrize('function', FILLED_BY_INDEX,
                         ids=lambda f: f.__name__)
def test_helper_on_own_result_tangent(function, pos):
    direction = np.random.default_rng(2).normal(size=pos.shape)
    expected = np.sum(numerical_gradient(function, (pos,), 0) * direction)
    _, tangent = adcompiler.jvp(function, (pos.copy(),), (direction,))
    assert tangent == pytest.approx(expected, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('function', [mixed_twice, leapfrog_with_forces],
                         ids=lambda f: f.__name__)
def test_helper_on_own_result_hvp(function, mode):
    pos = PARTICLES[0]
    direction = np.random.default_rng(4).normal(size=pos.shape)
    gradient = adcompiler.grad(function)
    step = 1e-5
    expected = (gradient(pos + step * direction)
                - gradient(pos - step * direction)) / (2 * step)
    product = adcompiler.hvp(function, mode=mode)(pos.copy(), direction)
    assert_gradient_close(product, expected, rtol=1e-4, atol=1e-6)


# A helper whose returned name may hold a list keeps Python's operators:
# `*` repeats the list, as it does without adcompiler.

def listed(p):
    out = np.zeros_like(p)
    out = [p, p * 2.0]
    return out


def listed_repeated(x):
    return np.sum(np.array(listed(x) * 2) ** 2)


def test_helper_returning_list_name_repeats():
    x = np.array([0.5, -1.0, 2.0])
    value, gradient = adcompiler.value_and_grad(listed_repeated)(x)
    assert value == pytest.approx(listed_repeated(x))
    assert_gradient_close(gradient, numerical_gradient(listed_repeated,
                                                       (x,), 0))


def calls_slice_updater(x):
    return passes_slice_to_updating_function(x * 2.0)


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_aliasing_error_shows_call_chain(mode):
    x = np.array([0.5, 1.2, -0.7])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        if mode == 'reverse':
            adcompiler.grad(calls_slice_updater)(x)
        else:
            adcompiler.jvp(calls_slice_updater, (x,), (np.ones(3),))
    error = info.value
    assert error.lineno == source_lineno(passes_slice_to_updating_function,
                                         'halve_first(y[0:2])')
    assert ('Call chain (outermost first): calls_slice_updater -> '
            'passes_slice_to_updating_function') in str(error)


def scales_flattened_copy(x):
    a = x * 1.0
    b = a.flatten()
    b *= x[0, 1]
    return np.sum(a) + np.sum(b * np.arange(6.0))


def test_flatten_result_is_fresh():
    # x.flatten() always copies, so updating b in place leaves a alone.
    x = np.arange(6.0).reshape(2, 3) + 1.0
    gradient = adcompiler.grad(scales_flattened_copy)(x)
    expected = numerical_gradient(scales_flattened_copy, (x,), 0)
    assert_gradient_close(gradient, expected)


def updates_raveled_copy(x):
    a = x.copy().ravel()
    a[[3, 3, 3]] += x[0, 0] ** 2
    return np.sum(a * np.arange(6.0))


def updates_raveled_temporary_copy(x):
    b = x * 2.0
    a = b.copy().ravel()
    a[1] = 0.0
    return np.sum(b) + np.sum(a ** 2)


@pytest.mark.parametrize('function', [updates_raveled_copy,
                                      updates_raveled_temporary_copy],
                         ids=lambda f: f.__name__)
def test_view_of_fresh_copy_is_fresh(function):
    x = np.arange(6.0).reshape(2, 3) + 1.0
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)


def updates_view_of_named_array(x):
    t = x * 1.0
    a = t.ravel()
    a[0] = 5.0
    return np.sum(t * a)


def test_view_of_named_array_still_rejected():
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='may be shared with another name'):
        adcompiler.grad(updates_view_of_named_array)(np.ones((2, 3)))


# Objects that their own methods change -----------------------------------------

class Accumulator:
    def __init__(self, w):
        self.w = w
        self.total = 0.0

    def add(self, v):
        self.total = self.total + np.sum(self.w * v)
        return self


def accumulates_once(x):
    accumulator = Accumulator(np.array([1.0, 2.0, 3.0]))
    accumulator.add(x)
    return accumulator.total


def accumulates_chained(x):
    accumulator = Accumulator(np.array([1.0, 2.0, 3.0]))
    accumulator.add(x).add(x * x)
    return accumulator.total


@pytest.mark.parametrize('function, call_text', [
    (accumulates_once, 'accumulator.add(x)'),
    (accumulates_chained, 'accumulator.add(x).add(x * x)'),
], ids=['once', 'chained'])
def test_method_that_changes_its_object_named(function, call_text):
    """The message suggested `accumulator.copy()`, which the class does
    not have, or `(.copy())` with no receiver, and did not name the
    method call that changes the object."""
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(function)(np.array([0.3, -0.7, 1.2]))
    message = str(info.value)
    assert f'the method call {call_text} on line' in message
    assert 'self.attr = ...' in message
    assert '.copy()' not in message


def appends_to_dict_item(x):
    table = {'k': [x[0] * 1.0]}
    table['k'].append(x[1] * 3.0)
    return table['k'][0] + table['k'][1]


def stores_new_list_in_dict_item(x):
    table = {'k': [x[0] * 1.0]}
    table['k'] = table['k'] + [x[1] * 3.0]
    return table['k'][0] * table['k'][1]


def builds_list_before_storing(x):
    items = [x[0] * 1.0]
    items.append(x[1] * 3.0)
    table = {'k': items}
    return table['k'][0] * table['k'][1]


def test_append_to_container_item_message():
    """The message spoke of 'the value of "d['k']"' and suggested
    '(.copy())' with no receiver."""
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(appends_to_dict_item)(np.array([1.0, 2.0]))
    message = str(info.value)
    assert "table['k'].append(...), an update of a list" in message
    assert "table['k'] = table['k'] + [v]" in message


@pytest.mark.parametrize('function', [stores_new_list_in_dict_item,
                                      builds_list_before_storing])
def test_container_item_list_fixes_differentiate(function):
    x = np.array([1.5, -2.0])
    assert_gradient_close(adcompiler.grad(function)(x),
                          numerical_gradient(function, (x,), 0))
