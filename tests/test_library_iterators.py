"""itertools iterators, np.ndenumerate and zip(*rows) over values that
carry a derivative, checked against central differences."""

import functools
import itertools
import operator

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def chained(x):
    return np.sum(sum(v * v for v in itertools.chain(x, x[::-1])))


def chained_three(x):
    total = 0.0
    for v in itertools.chain(x[:1], [np.sin(x[-1])], x):
        total = total + v * np.cos(v)
    return np.sum(total)


def chained_from_iterable(x):
    rows = [x, 2.0 * x]
    return np.sum(sum(v * v for v in itertools.chain.from_iterable(rows)))


def pairs(x):
    return np.sum(sum(a * b for a, b in itertools.combinations(x, 2)))


def triples_with_replacement(x):
    return np.sum(sum(a * b * c for a, b, c in
                      itertools.combinations_with_replacement(x, r=3)))


def ordered_pairs(x):
    return np.sum(sum(a * b ** 2 for a, b in itertools.permutations(x, 2)))


def orderings(x):
    total = 0.0
    for order in itertools.permutations(x[:3]):
        total = total + order[0] * order[1] ** 3
    return np.sum(total)


def crossed(x):
    weights = np.sin(x)
    return np.sum(sum(a * b for a, b in itertools.product(x, weights)))


def crossed_repeat(x):
    return np.sum(sum(a * b ** 2 for a, b in itertools.product(x, repeat=2)))


def neighbours(x):
    return np.sum(sum(a * b for a, b in itertools.pairwise(x)))


def neighbour_rows(x):
    total = 0.0
    for previous, current in itertools.pairwise(x):
        total = total + np.sum((current - previous) ** 2)
    return total


def running_sum(x):
    return np.sum(sum(v ** 2 for v in itertools.accumulate(x)))


def running_product(x):
    return np.sum(sum(itertools.accumulate(x, operator.mul)))


def running_max(x):
    return np.sum(sum(itertools.accumulate(x, max, initial=0.5)))


def running_lambda(x):
    items = list(itertools.accumulate(x, lambda a, b: a * 0.5 + b,
                                      initial=1.0))
    return np.sum(sum(items)) * len(items)


def first_items(x):
    return np.sum(sum(v ** 3 for v in itertools.islice(x, 2)))


def stepped_items(x):
    return np.sum(sum(v ** 3 for v in itertools.islice(x, 1, None, 2)))


def bounded_items(x):
    return np.sum(sum(np.sin(v) for v in itertools.islice(x, 0, 3, 2)))


def indexed(x):
    total = 0.0
    for (i, j), v in np.ndenumerate(np.outer(x, x)):
        total = total + v * (i + 1) * (j + 2)
    return total


def indexed_vector(x):
    return sum(v * (index[0] + 1) for index, v in np.ndenumerate(x ** 2))


def transposed(x):
    rows = [x, x * 2.0]
    total = 0.0
    for a, b in zip(*rows):
        total = total + a * b
    return np.sum(total)


def transposed_list(x):
    columns = list(zip(*[x, np.sin(x), x ** 2]))
    return np.sum(sum(a * b + c for a, b, c in columns))


def transposed_with_first(x):
    rows = [np.cos(x)]
    return np.sum(sum(a * b for a, b in zip(x, *rows)))


def transposed_matrix(x):
    # zip(*m) of a matrix reads its columns.
    return np.sum(sum(np.prod(column) for column in zip(*np.atleast_2d(x))))


FUNCTIONS = [chained, chained_three, chained_from_iterable, pairs,
             triples_with_replacement, ordered_pairs, orderings, crossed,
             crossed_repeat, neighbours, neighbour_rows, running_sum,
             running_product, running_max, running_lambda, first_items,
             stepped_items, bounded_items, indexed, indexed_vector,
             transposed, transposed_list, transposed_with_first,
             transposed_matrix]

# A vector, a longer vector and a matrix, whose items are rows.
INPUTS = {
    'vector': np.array([0.3, -0.7, 1.2]),
    'vector4': np.array([0.9, 0.4, -1.1, 0.6]),
    'matrix': np.array([[0.3, -0.7, 1.2], [0.5, 0.8, -0.4]]),
}

# Functions whose items must be scalars (np.ndenumerate reads elements,
# and max compares items).
VECTOR_ONLY = {indexed, running_max, orderings}


@pytest.mark.parametrize('shape', list(INPUTS))
@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
def test_library_iterator_gradient(function, shape):
    if function in VECTOR_ONLY and shape == 'matrix':
        pytest.skip('the items of this function are scalars')
    x = INPUTS[shape]
    expected = numerical_gradient(function, (x,), 0)
    gradient = adcompiler.grad(function)
    # The third call runs the code specialized for the input's shapes.
    for _ in range(3):
        assert_gradient_close(gradient(x), expected)


@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
def test_library_iterator_tangent(function):
    x = INPUTS['vector4']
    direction = np.array([0.2, -0.5, 0.7, 0.1])
    value, tangent = adcompiler.jvp(function, (x,), (direction,))
    step = 1e-6
    expected = (function(x + step * direction)
                - function(x - step * direction)) / (2 * step)
    np.testing.assert_allclose(value, function(x))
    np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward',
                                  'reverse-over-reverse'])
@pytest.mark.parametrize('function', [pairs, neighbours, running_product,
                                      indexed, transposed, first_items],
                         ids=lambda f: f.__name__)
def test_library_iterator_hessian(function, mode):
    x = INPUTS['vector']
    expected = np.stack([
        numerical_gradient(lambda v: adcompiler.grad(function)(v)[i], (x,), 0)
        for i in range(x.size)])
    np.testing.assert_allclose(adcompiler.hessian(function, mode=mode)(x),
                               expected, rtol=1e-4, atol=1e-5)


def test_library_iterator_values_unchanged():
    # The rewritten function returns what the original returns.
    for function in FUNCTIONS:
        for shape, x in INPUTS.items():
            if function in VECTOR_ONLY and shape == 'matrix':
                continue
            value, _ = adcompiler.value_and_grad(function)(x)
            np.testing.assert_allclose(value, function(x))


def test_iterators_over_integers():
    # Positions made by itertools index the differentiated value.
    def f(x):
        total = 0.0
        for i, j in itertools.combinations(range(3), 2):
            total = total + x[i] * x[j]
        for i in itertools.islice(itertools.count(), 2):
            total = total + x[i]
        return total

    x = np.array([0.3, -0.7, 1.2])
    assert_gradient_close(adcompiler.grad(f)(x), numerical_gradient(f, (x,), 0))


def test_empty_iterables():
    def f(x):
        empty = x[:0]
        return (np.sum(x) + sum(itertools.chain(empty))
                + sum(a * b for a, b in itertools.combinations(empty, 2))
                + sum(a * b for a, b in zip(*[])))

    x = np.array([0.3, -0.7])
    assert_gradient_close(adcompiler.grad(f)(x), np.ones(2))


# An iterator kept in a variable: Python reads the items when the loop
# runs, adcompiler where the iterator is made. A change in between is
# rejected, as for zip and map.

def _chain_of_changed_list(x):
    items = [x[0], x[1]]
    later = itertools.chain(items, [x[2]])
    items.append(x[0] * 5.0)
    return sum(v * v for v in later)


def _pairs_of_reassigned_name(x):
    items = [x[0], x[1]]
    later = itertools.pairwise(items)
    items = [x[2], x[2]]
    return sum(a * b for a, b in later) + items[0]


def _iterator_read_twice(x):
    later = itertools.combinations(x, 2)
    first = sum(a * b for a, b in later)
    return first + sum(a for a, _ in later)


@pytest.mark.parametrize('function', [_chain_of_changed_list,
                                      _pairs_of_reassigned_name,
                                      _iterator_read_twice],
                         ids=lambda f: f.__name__.strip('_'))
def test_iterator_changed_before_read_rejected(function):
    x = np.array([0.3, -0.7, 1.2])
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='an iterator kept in the variable'):
        adcompiler.grad(function)(x)


def test_zip_star_strict_still_rejected():
    # zip(..., strict=True) with *rows is not rewritten.
    def f(x):
        rows = [x, x * 2.0]
        return sum(a * b for a, b in zip(*rows, strict=True))

    with pytest.raises(adcompiler.AdCompilerError):
        adcompiler.grad(f)(np.array([0.3, -0.7, 1.2]))


def test_cycle_of_active_values_rejected():
    # itertools.cycle is endless, so it stays a foreign call.
    def f(x):
        return sum(v for v in itertools.islice(itertools.cycle(x), 4))

    with pytest.raises(adcompiler.ForeignCallError):
        adcompiler.grad(f)(np.array([0.3, -0.7, 1.2]))


def test_reduce_and_accumulate_agree():
    def by_reduce(x):
        return functools.reduce(operator.mul, x)

    def by_accumulate(x):
        return list(itertools.accumulate(x, operator.mul))[-1]

    x = np.array([0.3, -0.7, 1.2, 2.0])
    np.testing.assert_allclose(adcompiler.grad(by_accumulate)(x),
                               adcompiler.grad(by_reduce)(x))
