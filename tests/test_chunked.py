"""Grad of an elementwise sum, run on slices of its arrays
(adcompiler.chunked).

The slice size is patched down to a few elements, so that small arrays
take the sliced path with a last slice shorter than the others. Each
sliced gradient is compared with the gradient of the code run on the
whole arrays, bit for bit, and with central differences. Functions that
are not elementwise sums must keep the whole-array path.
"""

import copy
import inspect
import textwrap
import warnings

import gast
import numpy as np
import pytest

import adcompiler
import test_grad_only
from adcompiler import chunked
from finite_differences import assert_gradient_close, numerical_gradient

CHUNK_SIZE = 7
GLOBAL_WEIGHTS = np.linspace(0.5, 1.5, 50)


@pytest.fixture
def small_slices(monkeypatch):
    monkeypatch.setattr(chunked, 'CHUNK_SIZE', CHUNK_SIZE)
    monkeypatch.setattr(chunked, 'MIN_SIZE', 2 * CHUNK_SIZE)


def softplus_sum(x):
    return np.sum(np.log1p(np.exp(-np.abs(x))) + 0.5 * (x + np.abs(x)))


def square_sum(x):
    return np.sum(x ** 2)


def sine_sum(x):
    y = np.sin(x) * 3.0
    z = y + x / 2
    return np.sum(z * np.cos(x))


def logistic_loss(x, y):
    return np.sum(np.log1p(np.exp(-y * x)))


def scaled_log_sum(x, a):
    return np.sum(a * np.log1p(x * x))


def linear_sum(x):
    return np.sum(2.0 * x)


def power_sum(x, y):
    return np.sum(x ** y)


def mean_of_exp(x):
    return np.mean(np.exp(x))


def global_weighted_sum(x):
    return np.sum(np.exp(x) * GLOBAL_WEIGHTS)


def chained_differences(x):
    return np.sum((x[1:] - x[:-1] ** 2) ** 2)


def centered_square_sum(x):
    return np.sum((x - np.max(x)) ** 2)


def sum_of_row_sums(x):
    return np.sum(np.sum(x, axis=0) ** 2)


def _gradient_function(function, args, wrt=None):
    """Return `grad(function)` after the calls that compile its code for
    the arguments' shapes, so that the next call takes the direct path."""
    g = adcompiler.grad(function) if wrt is None else adcompiler.grad(
        function, wrt=wrt)
    g(*args)
    g(*args)
    return g


def _variant(g):
    (variant,) = g._variants.values()
    return variant


def _whole_array_gradient(function, args, wrt, monkeypatch):
    """Return the gradient that grad computes without slices."""
    with monkeypatch.context() as patch:
        patch.setattr(chunked, 'MIN_SIZE', np.inf)
        g = _gradient_function(function, args, wrt)
        assert _variant(g).slice_arrays is None
        return g(*args)


def _points(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=3.0, size=shape)


ELEMENTWISE_CASES = [
    pytest.param(softplus_sum, lambda: (_points(50, 0),), None,
                 id='softplus-50'),
    pytest.param(softplus_sum, lambda: (_points((6, 9), 1),), None,
                 id='softplus-6x9'),
    pytest.param(square_sum, lambda: (_points(21, 2),), None,
                 id='square-21'),
    pytest.param(sine_sum, lambda: (_points((3, 2, 5), 3),), None,
                 id='sine-3x2x5'),
    pytest.param(logistic_loss, lambda: (_points(40, 4), _points(40, 5)),
                 None, id='logistic-wrt-x'),
    pytest.param(logistic_loss, lambda: (_points(33, 6), _points(33, 7)),
                 ('x', 'y'), id='logistic-wrt-x-and-y'),
    pytest.param(scaled_log_sum, lambda: (_points(30, 8), 2.5), None,
                 id='scaled-log-float-scale'),
    pytest.param(linear_sum, lambda: (_points(20, 9),), None,
                 id='linear-constant-derivative'),
    pytest.param(power_sum, lambda: (np.abs(_points(25, 11)) + 0.5,
                                     _points(25, 12) / 3.0),
                 ('x', 'y'), id='power-wrt-base-and-exponent'),
]


@pytest.mark.parametrize('function, make_args, wrt', ELEMENTWISE_CASES)
def test_sliced_gradient_matches_whole(function, make_args, wrt,
                                       small_slices, monkeypatch):
    args = make_args()
    originals = [np.copy(value) for value in args]
    g = _gradient_function(function, args, wrt)
    assert _variant(g).slice_arrays is not None

    sliced = g(*args)
    expected = _whole_array_gradient(function, args, wrt, monkeypatch)
    if wrt is None:
        sliced, expected = (sliced,), (expected,)
    for got, want in zip(sliced, expected, strict=True):
        assert type(got) is np.ndarray
        assert got.shape == want.shape
        assert got.flags.writeable
        np.testing.assert_array_equal(got, want)
    for value, original in zip(args, originals, strict=True):
        np.testing.assert_array_equal(value, original)

    names = wrt or ('x',)
    parameters = list(function.__code__.co_varnames)
    for got, name in zip(sliced, names, strict=True):
        estimate = numerical_gradient(function, args,
                                      parameters.index(name))
        assert_gradient_close(got, estimate)


def test_sliced_gradient_with_zero_inf_nan(small_slices, monkeypatch):
    x = _points(30, 10)
    x[[0, 7, 8, 15]] = 0.0
    x[3] = np.inf
    x[12] = -np.inf
    x[20] = np.nan
    g = _gradient_function(softplus_sum, (x,))
    assert _variant(g).slice_arrays is not None
    sliced = g(x)
    expected = _whole_array_gradient(softplus_sum, (x,), None, monkeypatch)
    np.testing.assert_array_equal(sliced, expected)
    assert sliced[0] == 0.5  # The logistic function at 0, with sign(0) = 0.
    assert sliced[3] == 1.0
    assert sliced[12] == 0.0
    assert np.isnan(sliced[20])

    finite = np.isfinite(x) & (x != 0)
    estimate = numerical_gradient(softplus_sum, (x[finite],), 0)
    assert_gradient_close(sliced[finite], estimate)


def test_gradient_result_is_new_array(small_slices):
    x = _points(50, 11)
    g = _gradient_function(square_sum, (x,))
    first = g(x)
    second = g(x)
    assert first is not second
    assert not np.shares_memory(first, x)
    first[:] = 0.0
    np.testing.assert_array_equal(second, 2 * x)


def test_non_contiguous_array_runs_whole(small_slices, monkeypatch):
    x = _points(100, 12)[::2]
    g = _gradient_function(softplus_sum, (x,))
    variant = _variant(g)
    assert variant.slice_arrays is not None
    assert chunked.gradient(variant.grad_only_primal,
                            variant.grad_only_adjoint, (x,),
                            variant.slice_arrays, 1) is None
    expected = _whole_array_gradient(softplus_sum, (x,), None, monkeypatch)
    np.testing.assert_array_equal(g(x), expected)


def _primal(x, a):
    return np.float64(1.0), (x, a)


def _raising_adjoint(saved, seed):
    x, a = saved
    return (seed / a * x,) if a else (seed * x, 1.0 / a)


def _scalar_adjoint(saved, seed):
    x, a = saved
    return (seed * a,)


def _pair_adjoint(saved, seed):
    x, a = saved
    return seed * x, seed * x


@pytest.mark.parametrize('adjoint, a, count', [
    pytest.param(_raising_adjoint, 0.0, 1, id='error-in-adjoint'),
    pytest.param(_scalar_adjoint, 2.0, 1, id='scalar-gradient'),
    pytest.param(_pair_adjoint, 2.0, 1, id='more-gradients-than-wrt'),
])
def test_gradient_leaves_misfits_to_whole_path(adjoint, a, count,
                                               small_slices):
    x = np.ones(30)
    assert chunked.gradient(_primal, adjoint, (x, a), (0,), count) is None


def test_gradient_fills_every_slice(small_slices):
    x = np.arange(30.0)
    (gradient,) = chunked.gradient(_primal, _raising_adjoint, (x, 2.0), (0,),
                                   1)
    np.testing.assert_array_equal(gradient, x / 2.0)


@pytest.mark.parametrize('function', [
    pytest.param(mean_of_exp, id='mean-divides-by-count'),
    pytest.param(global_weighted_sum, id='reads-global-array'),
    pytest.param(chained_differences, id='slices'),
    pytest.param(centered_square_sum, id='max-of-all-elements'),
])
def test_not_elementwise_runs_whole(function, small_slices):
    x = _points(50, 14)
    g = _gradient_function(function, (x,))
    variant = _variant(g)
    assert not variant.compiled.elementwise
    assert variant.slice_arrays is None
    assert_gradient_close(g(x), numerical_gradient(function, (x,), 0))


def test_row_sums_run_whole(small_slices):
    x = _points((6, 9), 15)
    g = _gradient_function(sum_of_row_sums, (x,))
    assert _variant(g).slice_arrays is None
    assert_gradient_close(g(x), numerical_gradient(sum_of_row_sums, (x,), 0))


@pytest.mark.parametrize('args, wrt', [
    pytest.param((np.ones(30), np.ones(1)), ('x',), id='broadcast-shapes'),
    pytest.param((np.ones(30), np.ones(30, dtype=np.float32)), ('x',),
                 id='float32-array'),
    pytest.param((np.ones(30), 2.0), ('x', 'a'), id='wrt-float'),
    pytest.param((np.ones(30), [2.0]), ('x',), id='list-argument'),
    pytest.param((np.ones(10), 2.0), ('x',), id='below-min-size'),
])
def test_plan_rejects(args, wrt, small_slices):
    arguments = dict(zip(('x', 'a'), args))
    assert chunked.plan(arguments, wrt) is None


def test_plan_positions(small_slices):
    arguments = {'a': 2.0, 'x': np.ones((5, 6)), 'y': np.ones((5, 6))}
    assert chunked.plan(arguments, ('y',)) == (1, 2)


def test_workload_size_takes_sliced_path():
    x = _points(chunked.MIN_SIZE + 5, 16)
    g = _gradient_function(softplus_sum, (x,))
    assert _variant(g).slice_arrays is not None
    expected = 0.5 * (1.0 + np.tanh(0.5 * x))
    np.testing.assert_allclose(g(x), expected, rtol=1e-12, atol=1e-15)


PRIMAL = """
def primal(x, a):
    return np.float64(1.0), (x, ad.apply_in_place(np.exp, -np.abs(x)))
"""


def _function(source):
    return gast.parse(textwrap.dedent(source)).body[0]


@pytest.mark.parametrize('body, expected', [
    pytest.param('x, t = saved\n'
                 'g = ad.compact_sum_adjoint(seed, None, None, False)\n'
                 'return ad.call_into(t, ad.abs_sign, x) * g + 0.5,',
                 True, id='softplus-form'),
    pytest.param('x, t = saved\n'
                 '"# line 3: return np.sum(x)"\n'
                 'return ad.expand(seed * 2.0, x),', True,
                 id='comment-and-expand'),
    pytest.param('x, t = saved\n'
                 'return ad.apply_in_place(np.subtract, 1.0, t ** 2) * x,',
                 True, id='apply-in-place'),
    pytest.param('x, t = saved\n'
                 'return ad.compact_sum_adjoint(seed, x, 0, False) * t,',
                 False, id='sum-over-axis'),
    pytest.param('x, t = saved\n'
                 'return ad.compact_mean_adjoint(seed, x, None, False) * t,',
                 False, id='mean-adjoint'),
    pytest.param('x, t = saved\nreturn np.exp(x, t),', False,
                 id='positional-out'),
    pytest.param('x, t = saved\nreturn np.exp(x, out=t),', False,
                 id='keyword-out'),
    pytest.param('x, t = saved\nreturn np.cumsum(x),', False,
                 id='not-a-ufunc'),
    pytest.param('x, t = saved\nreturn x * weights,', False,
                 id='unbound-name'),
    pytest.param('x, t = saved\nreturn x[1:] * t[1:],', False,
                 id='subscript'),
    pytest.param('x, t = saved\nreturn x @ t,', False, id='matmul'),
    pytest.param('x, t = saved\nreturn x.T * t,', False, id='attribute'),
    pytest.param('x, t = saved\npair = (x, t)\nreturn np.exp(pair),',
                 False, id='tuple-value'),
    pytest.param('return saved * seed,', False, id='saved-read-whole'),
    pytest.param('x, t = saved\nnp = t\nreturn np * x,', False,
                 id='alias-assigned'),
    pytest.param('x, t = saved\nt += x\nreturn t,', False,
                 id='augmented-assignment'),
    pytest.param('x, t = saved\nif seed:\n    t = x\nreturn t,', False,
                 id='if-statement'),
    pytest.param('x, t = saved\nreturn x * 1j,', False,
                 id='complex-constant'),
    pytest.param('x, t = saved\nreturn np.where(x > 0, seed, 0.0) * t,',
                 True, id='where-of-comparison'),
    pytest.param('x, t = saved\nreturn np.where(x > 0) * t,', False,
                 id='where-of-one-argument'),
    pytest.param('x, t = saved\nreturn np.where(0 < x < 1, t, x),', False,
                 id='chained-comparison'),
    pytest.param('x, t = saved\n'
                 'return ad.pow_exponent_adjoint(seed, x, t, x),', True,
                 id='pow-exponent-adjoint'),
    pytest.param('x, t = saved\nreturn f(x),', False, id='other-call'),
])
def test_is_elementwise_grammar(body, expected):
    source = 'def adjoint(saved, seed):\n' + textwrap.indent(body, '    ')
    assert chunked.is_elementwise(_function(PRIMAL), _function(source),
                                  'np', 'ad') is expected


@pytest.mark.parametrize('primal', [
    pytest.param('def primal(x):\n    return np.float64(1.0), (np.sum(x),)',
                 id='sum-in-primal'),
    pytest.param('def primal(x):\n    return np.float64(x), (x,)',
                 id='float64-of-array'),
    pytest.param('def primal(x, *rest):\n    return np.float64(1.0), (x,)',
                 id='star-parameter'),
    pytest.param('def primal(x):\n    for i in x:\n        x = x * 2\n'
                 '    return np.float64(1.0), (x,)', id='loop'),
])
def test_is_elementwise_rejects_primal(primal):
    adjoint = _function('def adjoint(saved, seed):\n'
                        '    x, = saved\n    return x * seed,')
    assert chunked.is_elementwise(_function(primal), adjoint, 'np',
                                  'ad') is False


# The gradient and control-flow tables, sliced against whole ------------------

def _corpus_inputs():
    for case in test_grad_only.GRADIENT_CASES:
        yield (f'{case.name}-{case.shape_label()}', case.function,
               case.arguments(0), case.wrt)
    for case in test_grad_only.CONTROL_FLOW_CASES:
        for number, args in enumerate(case.inputs):
            yield f'{case.name}-{number}', case.function, args, case.wrt


CORPUS = list(_corpus_inputs())


def _sliced_against_whole(function, args, wrt):
    """Compare the sliced gradient with the whole-array one, both from the
    code that grad runs for the arguments' shapes; return whether the
    slices ran."""
    names = list(inspect.signature(function).parameters)
    g = adcompiler.grad(function, wrt=tuple(names[i] for i in wrt))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        g(*copy.deepcopy(args))
        g(*copy.deepcopy(args))
    variant = next(iter(g._variants.values()), None)
    if variant is None or variant.slice_arrays is None:
        return False
    sliced = chunked.gradient(variant.grad_only_primal,
                              variant.grad_only_adjoint,
                              copy.deepcopy(args), variant.slice_arrays,
                              len(wrt))
    if sliced is None:
        return False
    whole = test_grad_only.grad_only_gradient(variant.compiled, args)
    test_grad_only.assert_same(sliced, whole, args, wrt)
    return True


@pytest.fixture
def tiny_slices(monkeypatch):
    monkeypatch.setattr(chunked, 'CHUNK_SIZE', 2)
    monkeypatch.setattr(chunked, 'MIN_SIZE', 3)


@pytest.mark.parametrize('name, function, args, wrt', CORPUS,
                         ids=[entry[0] for entry in CORPUS])
def test_corpus_sliced_equals_whole(name, function, args, wrt, tiny_slices):
    _sliced_against_whole(function, args, wrt)


def test_corpus_slices_often(tiny_slices):
    # The comparisons above are only worth something if slices run.
    ran = sum(_sliced_against_whole(function, args, wrt)
              for _, function, args, wrt in CORPUS)
    assert ran >= 8
