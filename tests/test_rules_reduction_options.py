"""np.sum and np.mean with where=, np.max and np.min with initial= and
where=, and the reduce and accumulate methods of np.add, np.multiply,
np.maximum and np.minimum.

Gradients are checked against central finite differences with the harness
of test_rules.py: each function under test returns `np.sum(w * expression)`
with the weight `w` as its last parameter. Ties, where finite differences
do not apply, are checked against the values the conventions give.
"""

import warnings

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient
from test_rules import check_grads, sample

ROW_MASK = np.array([True, False, True])
MATRIX_MASK = np.array([[True, False, True], [False, True, True]])


# Sums and means over the entries that where= selects -------------------------

def np_sum_where(x, w):
    return np.sum(w * np.sum(x, where=MATRIX_MASK))


def np_sum_where_axis(x, w):
    return np.sum(w * np.sum(x ** 2, axis=0, where=ROW_MASK))


def np_sum_where_keepdims(x, w):
    return np.sum(w * np.sum(x, axis=1, keepdims=True, where=MATRIX_MASK))


def np_mean_where(x, w):
    return np.sum(w * np.mean(x, where=MATRIX_MASK))


def np_mean_where_axis(x, w):
    return np.sum(w * np.mean(x ** 2, axis=1, where=ROW_MASK))


def np_mean_where_keepdims(x, w):
    return np.sum(w * np.mean(x, axis=0, keepdims=True, where=MATRIX_MASK))


def method_sum_where(x, w):
    return np.sum(w * x.sum(axis=1, where=ROW_MASK))


def method_mean_where(x, w):
    return np.sum(w * x.mean(where=MATRIX_MASK))


def add_reduce_where(x, w):
    return np.sum(w * np.add.reduce(x, axis=None, where=MATRIX_MASK))


def add_reduce_where_axis(x, w):
    return np.sum(w * np.add.reduce(x ** 2, where=ROW_MASK))


def np_prod_where(x, w):
    return np.sum(w * np.prod(x, where=MATRIX_MASK))


def np_prod_where_axis(x, w):
    return np.sum(w * np.prod(x, axis=1, keepdims=True, where=ROW_MASK))


def method_prod_where(x, w):
    return np.sum(w * x.prod(axis=0, where=MATRIX_MASK))


def np_var_where(x, w):
    return np.sum(w * np.var(x, where=MATRIX_MASK))


def np_var_where_axis(x, w):
    return np.sum(w * np.var(x, axis=-1, ddof=1, where=ROW_MASK))


def method_var_where(x, w):
    return np.sum(w * x.var(axis=1, keepdims=True, where=MATRIX_MASK))


def np_std_where(x, w):
    return np.sum(w * np.std(x, axis=1, where=MATRIX_MASK))


def method_std_where_axis(x, w):
    return np.sum(w * x.std(axis=1, where=ROW_MASK))


def np_nansum_where(x, w):
    return np.sum(w * np.nansum(x, axis=0, where=MATRIX_MASK))


def np_nansum_where_axis(x, w):
    return np.sum(w * np.nansum(x, axis=1, keepdims=True, where=ROW_MASK))


def np_nanvar_where(x, w):
    return np.sum(w * np.nanvar(x, where=MATRIX_MASK))


def np_nanvar_where_axis(x, w):
    return np.sum(w * np.nanvar(x, axis=1, ddof=1, where=ROW_MASK))


WHERE_FUNCTIONS = [np_sum_where, np_sum_where_axis, np_sum_where_keepdims,
                   np_mean_where, np_mean_where_axis, np_mean_where_keepdims,
                   method_sum_where, method_mean_where, add_reduce_where,
                   add_reduce_where_axis, np_prod_where, np_prod_where_axis,
                   method_prod_where, np_var_where, np_var_where_axis,
                   method_var_where, np_std_where, method_std_where_axis,
                   np_nansum_where, np_nansum_where_axis, np_nanvar_where,
                   np_nanvar_where_axis]


@pytest.mark.parametrize('function', WHERE_FUNCTIONS,
                         ids=[f.__name__ for f in WHERE_FUNCTIONS])
def test_where(function):
    gradient = check_grads(function, sample((2, 3)))[0]
    # Entries that no mask selects get exactly 0.
    mask = ROW_MASK if 'axis' in function.__name__ or function is \
        method_sum_where else MATRIX_MASK
    assert np.all(np.broadcast_to(gradient, (2, 3))[
        ~np.broadcast_to(mask, (2, 3))] == 0.0)


# Selected NaNs make np.var NaN, and the NaN-skipping versions skip them.
# Neither reads the entries that where= leaves out.
def test_where_skips_nans_left_out():
    x = np.array([[0.5, np.nan, 2.0], [np.nan, 1.0, -1.5]])
    mask = ~np.isnan(x)

    def spread(x):
        return (np.var(x, where=mask) + np.std(x, axis=1, where=mask)[0]
                + np.prod(x, where=mask) + np.nansum(x * x, where=mask))

    gradient = adcompiler.grad(spread)(x)
    assert np.all(gradient[~mask] == 0.0)
    filled = np.where(mask, x, 0.75)
    expected = numerical_gradient(
        lambda y: spread(np.where(mask, y, np.nan)), (filled,), 0)
    assert_gradient_close(gradient[mask], expected[mask])
    tangent = adcompiler.jvp(spread, (x,), (np.ones_like(x),))[1]
    assert tangent == pytest.approx(np.sum(gradient[mask]))


def test_mean_where_of_vector():
    mask = np.array([True, False, True, True, False, True])

    def masked(x):
        return np.sum(x ** 2, where=mask) + np.mean(x, where=mask)

    x = sample(6)
    assert_gradient_close(adcompiler.grad(masked)(x),
                          numerical_gradient(masked, (x,), 0))


def test_mean_where_selecting_nothing():
    # The row that selects nothing has a NaN mean; its entries get 0.
    mask = np.array([[True, True, False], [False, False, False]])

    def first_row(x):
        means = np.mean(x, axis=1, where=mask)
        return means[0]

    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)  # Mean of empty slice.
        gradient = adcompiler.grad(first_row)(sample((2, 3)))
    np.testing.assert_array_equal(gradient, [[0.5, 0.5, 0.0], [0.0] * 3])


# Extrema with initial= and where= -----------------------------------------

def np_max_initial(x, w):
    return np.sum(w * np.max(x, initial=0.5))


def np_min_initial_axis(x, w):
    return np.sum(w * np.min(x, axis=0, initial=-0.1))


def np_max_initial_where(x, w):
    return np.sum(w * np.max(x, axis=1, initial=-1.0, where=MATRIX_MASK))


def np_amin_where_keepdims(x, w):
    return np.sum(w * np.amin(x, axis=1, keepdims=True, initial=1.5,
                              where=ROW_MASK))


def np_max_active_initial(x, bound, w):
    return np.sum(w * np.max(x, axis=0, initial=bound))


def np_min_active_initial_where(x, bound, w):
    return np.sum(w * np.min(x, axis=1, initial=bound, where=MATRIX_MASK))


def method_max_initial(x, w):
    return np.sum(w * x.max(axis=0, initial=0.3))


def method_min_initial_where(x, w):
    return np.sum(w * x.min(initial=0.0, where=MATRIX_MASK))


INITIAL_FUNCTIONS = [np_max_initial, np_min_initial_axis,
                     np_max_initial_where, np_amin_where_keepdims,
                     method_max_initial, method_min_initial_where]


@pytest.mark.parametrize('function', INITIAL_FUNCTIONS,
                         ids=[f.__name__ for f in INITIAL_FUNCTIONS])
@pytest.mark.parametrize('seed', [0, 4])
def test_initial(function, seed):
    check_grads(function, sample((2, 3), seed=seed))


@pytest.mark.parametrize('bound', [0.2, 0.8, 2.5])
def test_initial_carries_gradient(bound):
    # NumPy takes only a scalar initial.
    check_grads(np_max_active_initial, sample((2, 3), seed=4), bound)


def test_initial_with_where_carries_gradient():
    check_grads(np_min_active_initial_where, sample((2, 3)), 0.1)


# np.sum, x.sum and np.add.reduce with initial= add the number to each
# sum, so it gets the sum of the adjoints of the results.
def np_sum_initial(x, start, w):
    return np.sum(w * np.sum(x, axis=1, initial=start))


def np_sum_initial_where(x, start, w):
    return np.sum(w * np.sum(x, initial=start, where=MATRIX_MASK))


def method_sum_initial(x, start, w):
    return np.sum(w * x.sum(axis=0, keepdims=True, initial=start))


def add_reduce_initial(x, start, w):
    return np.sum(w * np.add.reduce(x, initial=start))


def add_reduce_initial_where(x, start, w):
    return np.sum(w * np.add.reduce(x, axis=None, initial=start,
                                    where=MATRIX_MASK))


def np_sum_constant_initial(x, w):
    return np.sum(w * np.sum(x ** 2, axis=-1, initial=1.5))


SUM_INITIAL_FUNCTIONS = [np_sum_initial, np_sum_initial_where,
                         method_sum_initial, add_reduce_initial,
                         add_reduce_initial_where]


@pytest.mark.parametrize('shape', [(3,), (2, 3)], ids=str)
@pytest.mark.parametrize('function', SUM_INITIAL_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_sum_initial(function, shape):
    if len(shape) == 1 and function in (np_sum_initial,
                                        np_sum_initial_where,
                                        add_reduce_initial_where):
        shape = (2, 3)  # The function reduces axis 1 or takes a 2-D mask.
    check_grads(function, sample(shape), 0.4)


def test_sum_constant_initial():
    check_grads(np_sum_constant_initial, sample((2, 3)))


def test_initial_that_wins_takes_the_gradient():
    x = np.array([0.5, -0.3])
    dx, dbound = adcompiler.grad(
        lambda x, bound: np.max(x, initial=bound), wrt=(0, 1))(x, 0.6)
    np.testing.assert_array_equal(dx, [0.0, 0.0])
    assert dbound == 1.0


def test_initial_ties():
    x = np.array([0.5, 0.5, -1.0])
    # A constant initial that ties with x takes the whole gradient, as
    # np.maximum(x, c) gives a tie to the constant c.
    np.testing.assert_array_equal(
        adcompiler.grad(lambda x: np.max(x, initial=0.5))(x), [0, 0, 0])
    # A varying initial shares it with the tied entries.
    dx, dbound = adcompiler.grad(
        lambda x, bound: np.max(x, initial=bound), wrt=(0, 1))(x, 0.5)
    np.testing.assert_allclose(dx, [1 / 3, 1 / 3, 0.0])
    assert dbound == pytest.approx(1 / 3)


# ufunc.reduce and ufunc.accumulate ------------------------------------------

def add_reduce(x, w):
    return np.sum(w * np.add.reduce(x))


def add_reduce_axis(x, w):
    return np.sum(w * np.add.reduce(x ** 2, axis=1, keepdims=True))


def multiply_reduce(x, w):
    return np.sum(w * np.multiply.reduce(x))


def multiply_reduce_all(x, w):
    return np.sum(w * np.multiply.reduce(x, axis=None))


def maximum_reduce(x, w):
    return np.sum(w * np.maximum.reduce(x))


def minimum_reduce_axis(x, w):
    return np.sum(w * np.minimum.reduce(x, axis=-1))


def add_accumulate(x, w):
    return np.sum(w * np.add.accumulate(x))


def add_accumulate_axis(x, w):
    return np.sum(w * np.add.accumulate(x, axis=1))


def multiply_accumulate(x, w):
    return np.sum(w * np.multiply.accumulate(x))


def multiply_accumulate_axis(x, w):
    return np.sum(w * np.multiply.accumulate(x, axis=-1))


def maximum_accumulate(x, w):
    return np.sum(w * np.maximum.accumulate(x))


def maximum_accumulate_axis(x, w):
    return np.sum(w * np.maximum.accumulate(x, axis=1))


def minimum_accumulate(x, w):
    return np.sum(w * np.minimum.accumulate(x))


def minimum_accumulate_axis(x, w):
    return np.sum(w * np.minimum.accumulate(x ** 2, axis=-1))


UFUNC_FUNCTIONS = [add_reduce, add_reduce_axis, multiply_reduce,
                   multiply_reduce_all, maximum_reduce, minimum_reduce_axis,
                   add_accumulate, add_accumulate_axis, multiply_accumulate,
                   multiply_accumulate_axis, maximum_accumulate,
                   maximum_accumulate_axis, minimum_accumulate,
                   minimum_accumulate_axis]


@pytest.mark.parametrize('shape', [(6,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize('function', UFUNC_FUNCTIONS,
                         ids=[f.__name__ for f in UFUNC_FUNCTIONS])
def test_ufunc_methods(function, shape):
    if 'axis' in function.__name__ and len(shape) == 1:
        pytest.skip('the function reduces axis 1')
    check_grads(function, sample(shape, seed=2))


def test_maximum_accumulate_ties():
    # ans = [1, 3, 3, 3, 5]: ans_2 = max(ans_1, x_2) is a tie, so x_1 and
    # x_2 each get half of what ans_2 and ans_3 pass back, as np.maximum's
    # rule splits ties.
    x = np.array([1.0, 3.0, 3.0, 2.0, 5.0])
    weights = np.array([1.0, 10.0, 100.0, 1000.0, 10000.0])
    gradient = adcompiler.grad(
        lambda x: np.sum(weights * np.maximum.accumulate(x)))(x)
    np.testing.assert_allclose(gradient, [1.0, 10 + 550, 550, 0.0, 10000.0])
    tangent = adcompiler.jvp(lambda x: np.maximum.accumulate(x),
                             (x,), (np.array([0.0, 1.0, 0.0, 0.0, 0.0]),))[1]
    np.testing.assert_allclose(tangent, [0.0, 1.0, 0.5, 0.5, 0.0])


def test_maximum_accumulate_long_scan_with_steps():
    # Many new maxima: the recurrence has zero weights and takes its loop.
    x = np.sin(np.arange(40.0)) + np.arange(40.0) * 0.05

    def f(x):
        return np.sum(np.maximum.accumulate(x) ** 2)

    assert_gradient_close(adcompiler.grad(f)(x),
                          numerical_gradient(f, (x,), 0))


# Dtypes, forward mode and second derivatives ---------------------------------

@pytest.mark.parametrize('function', [
    lambda x: np.sum(x ** 2, where=x > 0),
    lambda x: np.mean(x ** 2, where=x > 0),
    lambda x: np.max(x, initial=np.float32(0.1)),
    lambda x: np.sum(np.maximum.accumulate(x) ** 2),
    lambda x: np.sum(np.add.accumulate(x) ** 2),
    lambda x: np.multiply.reduce(x),
    lambda x: np.sum(x ** 2, initial=np.float32(0.5)),
    lambda x: np.add.reduce(x ** 2, where=x > 0),
    lambda x: np.prod(x, where=x > -1),
    lambda x: np.var(x, where=x > 0),
    lambda x: np.std(x, where=x > -1),
    lambda x: np.nansum(x ** 2, where=x > 0),
    lambda x: np.nanvar(x, where=x > -1),
], ids=['sum-where', 'mean-where', 'max-initial', 'maximum-accumulate',
        'add-accumulate', 'multiply-reduce', 'sum-initial',
        'add-reduce-where', 'prod-where', 'var-where', 'std-where',
        'nansum-where', 'nanvar-where'])
def test_float32_stays_float32(function):
    x = sample(6, seed=3).astype(np.float32)
    value, gradient = adcompiler.value_and_grad(function)(x)
    assert value.dtype == np.float32
    assert gradient.dtype == np.float32
    assert_gradient_close(gradient, numerical_gradient(
        function, (x.astype(np.float64),), 0), rtol=1e-3, atol=1e-4)


FORWARD_CASES = [np_sum_where_axis, np_mean_where_keepdims,
                 np_max_initial_where, np_max_active_initial,
                 np_sum_initial_where, add_reduce_initial, add_reduce_where,
                 np_prod_where_axis, np_var_where_axis, method_std_where_axis,
                 np_nansum_where, np_nanvar_where_axis,
                 method_max_initial, add_reduce_axis, multiply_reduce,
                 maximum_reduce, add_accumulate_axis, multiply_accumulate,
                 maximum_accumulate_axis, minimum_accumulate]


@pytest.mark.parametrize('function', FORWARD_CASES,
                         ids=[f.__name__ for f in FORWARD_CASES])
def test_forward_mode(function):
    args = [sample((2, 3), seed=4)]
    if function in (np_max_active_initial, np_sum_initial_where,
                    add_reduce_initial):
        args.append(0.8)
    w = 1.0  # A tangent of the weighted sum needs no particular weight.
    for position in range(len(args)):
        direction = sample(np.shape(args[position]), seed=5)
        tangents = [np.zeros_like(a) for a in args]
        tangents[position] = direction

        def along(step, position=position, direction=direction):
            moved = list(args)
            moved[position] = args[position] + step * direction
            return function(*moved, w)

        value, tangent = adcompiler.jvp(lambda *a: function(*a, w),
                                        tuple(args), tuple(tangents))
        assert value == pytest.approx(function(*args, w))
        assert tangent == pytest.approx(
            numerical_gradient(along, (0.0,), 0), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize('function', [
    lambda x: np.sum(x ** 3, where=x > -0.5) * np.mean(x ** 2, where=x < 1),
    lambda x: np.max(x ** 2, initial=0.1) * np.sum(x),
    lambda x: np.sum(np.maximum.accumulate(x) ** 3),
    lambda x: np.sum(np.minimum.accumulate(x * x[::-1]) ** 2),
    lambda x: np.sum(np.multiply.accumulate(x)) + np.add.reduce(x) ** 3,
    lambda x: np.sum(x ** 2, initial=x[0]) ** 2,
    lambda x: np.prod(x, where=x > -0.5) * np.var(x ** 2, where=x < 1),
    lambda x: np.std(x * x[::-1], where=x > -1) ** 3,
    lambda x: np.nansum(x ** 3, where=x > 0) * np.nanvar(x, where=x < 1),
], ids=['sum-mean-where', 'max-initial', 'maximum-accumulate',
        'minimum-accumulate', 'multiply-accumulate', 'sum-initial',
        'prod-var-where', 'std-where', 'nansum-nanvar-where'])
def test_hessian(function):
    x = sample(5, seed=6)
    hessian = adcompiler.hessian(function)(x)
    expected = np.stack([numerical_gradient(
        lambda y, i=i: adcompiler.grad(function)(y)[i], (x,), 0)
        for i in range(5)])
    assert_gradient_close(hessian, expected, rtol=1e-5, atol=1e-5)


PLAIN_REDUCTIONS = """\
import numpy as np


def plain(x):
    return (np.sum(x) + np.mean(x) + np.max(x) + np.min(x, axis=0)
            + np.prod(x) + np.var(x) + np.std(x) + np.nansum(x)
            + np.nanvar(x) + np.add.reduce(x))
"""


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_options_left_at_defaults_keep_plain_helpers(tmp_path, mode):
    from adcompiler.cli import dump
    path = tmp_path / 'plain_reductions.py'
    path.write_text(PLAIN_REDUCTIONS, encoding='utf-8')
    source = dump(f'{path}:plain', mode=mode)
    assert 'masked_' not in source
    assert 'bounded_extremum' not in source
    assert 'where=' not in source
    assert ', True)' not in source
