"""Arrays passed to a helper and then updated in place.

An update of `C` after `s = helper(C)` is accepted when the helper's
source shows that its result is a new object and that it keeps no
reference to `C` (adcompiler.unshared_results). A helper that returns
`C`, a view or an attribute of it, or stores it anywhere, keeps the
update rejected, since `s` would change with `C` while the derivative
would not follow.
"""

import numpy as np
import pytest

import adcompiler
from adcompiler import aliasing, unshared_results
from finite_differences import check_gradient_and_tangent

RNG = np.random.default_rng(41)
CACHE = []


# Helpers that return new objects and keep nothing -----------------------------

def scores(c):
    return np.exp(-c ** 2)


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


def weights(c):
    return softmax(scores(c))


def clipped(c):
    d = c.copy()
    d[d > 1.0] = 1.0
    return d


def sums_and_double(c):
    return c.sum(axis=0), c * 2.0


def doubled_rows(c):
    rows = []
    for row in c:
        rows.append(row * 2.0)
    return np.stack(rows)


def row_norms(c):
    return np.linalg.norm(c, axis=-1, keepdims=True) + 0.0 * c


def logged(c):
    print_count = len(c)
    assert print_count >= 0
    return np.tanh(c) * print_count


def summed_array(c):
    return np.asarray(c).sum(axis=0) + np.zeros_like(c)


UNSHARED = [scores, softmax, weights, clipped, sums_and_double,
            doubled_rows, row_norms, logged, summed_array]


# Helpers that return or keep a reference --------------------------------------

def identity(c):
    return c


def first_row(c):
    return c[0]


def transposed(c):
    return c.T


def flattened_view(c):
    return c.reshape(-1)


def as_array(c):
    return np.asarray(c)


def with_total(c):
    return c, c.sum()


def cached(c):
    CACHE.append(c)
    return c * 2.0


def remembered(c, store=[]):  # noqa: B006 (the default keeps c)
    store.append(c)
    return c * 2.0


def nested_view(c):
    return first_row(c) * 1.0 + transposed(c)[0]


def nested_identity(c):
    return identity(c)


def uncopied_array(c):
    return np.array(c, copy=False)


def rows_generator(c):
    for row in c:
        yield row


def with_inner_function(c):
    def scaled():
        return c * 2.0
    return scaled()


def writes_argument(c):
    c[0] = 0.0
    return c * 2.0


def updates_argument(c):
    c += 1.0
    return c * 2.0


def passes_to_callback(c, callback=np.sin):
    return callback(c)


def rows_in_list(c):
    return [row for row in c]


def uncopied_astype(c):
    return c.astype(float, copy=False)


def returned_callable(c, make=None):
    return make()(c)


SHARED = [identity, first_row, transposed, flattened_view, as_array,
          with_total, cached, remembered, nested_view, nested_identity,
          uncopied_array, rows_generator, with_inner_function,
          writes_argument, updates_argument, passes_to_callback,
          rows_in_list, uncopied_astype, returned_callable]


@pytest.mark.parametrize('helper', UNSHARED, ids=lambda f: f.__name__)
def test_returns_unshared_accepts(helper):
    assert unshared_results.returns_unshared(
        helper, aliasing.NEW_OBJECT_FUNCTIONS_OF_NAMESPACES)


@pytest.mark.parametrize('helper', SHARED, ids=lambda f: f.__name__)
def test_returns_unshared_rejects(helper):
    assert not unshared_results.returns_unshared(
        helper, aliasing.NEW_OBJECT_FUNCTIONS_OF_NAMESPACES)


def test_result_follows_rebound_global():
    global identity
    saved = identity
    new_objects = aliasing.NEW_OBJECT_FUNCTIONS_OF_NAMESPACES
    assert not unshared_results.returns_unshared(nested_identity, new_objects)
    try:
        identity = scores
        assert unshared_results.returns_unshared(nested_identity, new_objects)
    finally:
        identity = saved
    assert not unshared_results.returns_unshared(nested_identity, new_objects)


# Updates after the call, end to end -------------------------------------------

def update_after_scores(c0):
    c = c0.copy()
    s = scores(c)
    c[0] = c[0] * s[0].sum()
    return np.sum(c * s)


def row_updates_in_loop(c0):
    c = c0.copy()
    for _ in range(2):
        s = weights(c)
        for k in range(c.shape[0]):
            c[k] = c[k] * s[k].sum()
    return np.sum(c)


def update_after_tuple(c0):
    c = c0.copy()
    total, doubled = sums_and_double(c)
    c[-1] = c[0] * 3.0
    return np.sum(total * doubled) + np.sum(c ** 2)


def update_after_clip(c0):
    c = np.sin(c0)
    d = clipped(c)
    c[0] = d[-1] * 2.0
    return np.sum(c * d)


def update_after_list_helper(c0):
    c = c0 * 1.0
    d = doubled_rows(c)
    c[0] = c[0] + 1.0
    return np.sum(c * d)


def _check(function, x):
    check_gradient_and_tangent(function, x, RNG)


@pytest.mark.parametrize('shape', [(2, 2), (3, 4), (4, 1)])
@pytest.mark.parametrize('function', [
    update_after_scores, row_updates_in_loop, update_after_tuple,
    update_after_clip, update_after_list_helper])
def test_update_after_unshared_helper(function, shape):
    _check(function, RNG.uniform(-1.5, 1.5, size=shape))


def test_update_after_unshared_helper_of_vector():
    _check(update_after_scores, RNG.uniform(-1.5, 1.5, size=4))


def _update_after(helper):
    def function(c0):
        c = c0.copy()
        s = helper(c)
        c[0] = c[0] * 2.0
        return np.sum(c) + np.sum(s)
    return function


@pytest.mark.parametrize('helper', [
    identity, first_row, transposed, flattened_view, as_array, cached,
    nested_view, nested_identity, uncopied_array],
    ids=lambda f: f.__name__)
def test_update_after_shared_helper_rejected(helper):
    x = RNG.normal(size=(3, 2))
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='reference to it|share memory'):
        adcompiler.grad(_update_after(helper))(x)
    CACHE.clear()


# Helpers that write into their argument through an output array passed by
# position, and return it.
def sine_into_argument(a):
    return np.sin(a, a)


def cumsum_into_argument(a):
    return np.cumsum(a, 0, None, a)


def clip_into_argument(a):
    return np.clip(a, -1.0, 1.0, a)


def sum_into_argument(a):
    total = a[0]
    a.sum(None, None, total)
    return a


def reduce_into_argument(a):
    return np.add.reduce(a, 0, None, a[0])


@pytest.mark.parametrize('helper', [
    sine_into_argument, cumsum_into_argument, clip_into_argument,
    sum_into_argument, reduce_into_argument], ids=lambda f: f.__name__)
def test_positional_output_helper_rejected(helper):
    """A helper that writes into its argument through an output array
    passed by position counted as returning a new array, and the update
    after the call gave a wrong gradient."""
    def function(x):
        c = 2.0 * x
        u = helper(c)
        u[0] = 0.0
        return np.sum(c * c)

    with pytest.raises(adcompiler.UnsupportedSyntaxError):
        adcompiler.grad(function)(RNG.normal(size=(3, 2)))
    with pytest.raises(adcompiler.UnsupportedSyntaxError):
        adcompiler.jvp(function, (np.ones((3, 2)),), (np.ones((3, 2)),))


def test_update_after_tuple_with_argument_rejected():
    def function(c0):
        c = c0.copy()
        same, total = with_total(c)
        c[0] = c[0] * 2.0
        return np.sum(same) + total

    with pytest.raises(adcompiler.UnsupportedSyntaxError):
        adcompiler.grad(function)(RNG.normal(size=(3, 2)))
