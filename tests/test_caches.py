"""The compiler's caches: bounded size, code shared by lambdas made again
with the same captured values, and recompilation when a rule or the
function changes."""

import gc
import importlib
import linecache
import sys

import numpy as np
import pytest

import adcompiler
from adcompiler import api, compiler, origins
from adcompiler.bounded import LruCache
from tests.finite_differences import assert_gradient_close, numerical_gradient

LAMBDAS = 300


def loss(w, batch):
    return np.sum(np.tanh(batch @ w) ** 2)


def make_objective(batch):
    return lambda w: loss(w, batch)


def generated_files():
    return {name for name in linecache.cache
            if name.startswith('<adcompiler ')}


def test_lru_cache_evicts_least_recently_used():
    evicted = []
    cache = LruCache(2, on_evict=lambda key, value: evicted.append(key))
    cache['a'] = 1
    cache['b'] = 2
    assert cache.get('a') == 1  # 'b' is now the least recently used.
    cache['c'] = 3
    assert evicted == ['b']
    assert list(cache) == ['a', 'c']
    assert cache.get('b') is None


def test_lambdas_with_new_closures_stay_bounded():
    rng = np.random.default_rng(0)
    w = rng.standard_normal(4)
    files_before = len(generated_files())
    for _ in range(LAMBDAS):
        batch = rng.standard_normal((3, 4))
        gradient = adcompiler.grad(make_objective(batch))(w)
        expected = numerical_gradient(lambda v: loss(v, batch), (w,), 0)
        assert_gradient_close(gradient, expected)
    gc.collect()
    assert len(api._COMPILER._cache) <= compiler.MAX_CACHED_COMPILATIONS
    named = {names_key[0] for names_key in api._COMPILER._names}
    assert len(named) <= compiler.MAX_CACHED_COMPILATIONS
    # Each compilation that is no longer cached took its generated lines
    # with it.
    new_files = len(generated_files()) - files_before
    assert new_files <= compiler.MAX_CACHED_COMPILATIONS


def test_lambdas_with_new_defaults_stay_bounded():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((2, 3))
    for _ in range(LAMBDAS):
        batch = rng.standard_normal((5, 2))
        objective = lambda w, batch=batch: np.sum(np.sin(batch @ w))  # noqa: E731
        gradient = adcompiler.grad(objective)(w)
        expected = numerical_gradient(objective, (w,), 0)
        assert_gradient_close(gradient, expected)
    assert len(api._COMPILER._cache) <= compiler.MAX_CACHED_COMPILATIONS


def test_loop_lambdas_share_one_entry():
    rng = np.random.default_rng(2)
    w = rng.standard_normal(3)
    before = len(api._COMPILER._cache)
    # Every lambda made in this loop captures the one cell of `batch`.
    for _ in range(LAMBDAS):
        batch = rng.standard_normal((4, 3)) * rng.uniform(0.5, 2.0)
        gradient = adcompiler.grad(lambda w: loss(w, batch))(w)
        expected = numerical_gradient(lambda v: loss(v, batch), (w,), 0)
        assert_gradient_close(gradient, expected)
    # The lambda's entry and the entry of its callee `loss`.
    assert len(api._COMPILER._cache) - before <= 2


def test_lambdas_with_same_cells_share_code():
    batch = np.arange(6.0).reshape(2, 3) / 10
    made = [lambda w: loss(w, batch) for _ in range(3)]
    first = adcompiler.grad(made[0]).compiled()
    assert adcompiler.grad(made[1]).compiled() is first
    # A cell of another frame may be rebound apart from this one, so equal
    # contents are not enough.
    assert adcompiler.grad(make_objective(batch)).compiled() is not first
    w = np.array([0.3, -0.2, 0.5])
    expected = numerical_gradient(made[2], (w,), 0)
    assert_gradient_close(adcompiler.grad(made[2])(w), expected)


def test_shared_entry_recompiles_after_rule():
    def opaque(x):
        return x * 1.0

    def make(scale):
        return lambda x: np.sum(scale * opaque(x))

    scale = np.array([1.0, 2.0, 3.0])
    x = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(adcompiler.grad(make(scale))(x), scale)
    adcompiler.register_vjp(opaque, lambda g, ans, x: (3.0 * g,))
    # A new lambda with the same captures: its key is the earlier one's.
    np.testing.assert_allclose(adcompiler.grad(make(scale))(x), 3.0 * scale)


MODULE_TEXT = '''import numpy as np


def model(x):
    return np.sum({body})
'''


def test_redefined_module_function_recompiles(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, 'dont_write_bytecode', True)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / 'redefined_model.py'
    path.write_text(MODULE_TEXT.format(body='x ** 2'))
    module = importlib.import_module('redefined_model')
    try:
        x = np.array([0.5, -1.5])
        np.testing.assert_allclose(adcompiler.grad(module.model)(x), 2 * x)
        path.write_text(MODULE_TEXT.format(body='np.sin(x) * 3.0'))
        module = importlib.reload(module)
        np.testing.assert_allclose(adcompiler.grad(module.model)(x),
                                   3.0 * np.cos(x))
    finally:
        sys.modules.pop('redefined_model', None)


def square_sum(x):
    return np.sum(x ** 2)


def cube_sum(x):
    return np.sum(x ** 3)


def test_evicted_entry_compiles_again(monkeypatch):
    monkeypatch.setattr(compiler, 'MAX_CACHED_COMPILATIONS', 1)
    private = compiler.Compiler()
    x = np.array([1.0, 2.0])
    first = private.compile(square_sum, ('x',))
    private.compile(cube_sum, ('x',))
    assert len(private._cache) == 1
    assert {names_key[0] for names_key in private._names} == \
        set(private._cache)
    again = private.compile(square_sum, ('x',))
    assert again is not first
    value, saved = again.primal(x)
    gradient, = again.adjoint(saved, 1.0)
    np.testing.assert_allclose(gradient, 2 * x)
    # The evicted code still runs for those that hold it.
    value, saved = first.primal(x)
    gradient, = first.adjoint(saved, 1.0)
    np.testing.assert_allclose(gradient, 2 * x)


def test_garbage_code_leaves_linecache():
    private = compiler.Compiler()
    compiled = private.compile(square_sum, ('x',))
    filename = compiled.filename
    assert filename in linecache.cache
    assert origins.is_generated(filename)
    del compiled, private
    gc.collect()
    assert filename not in linecache.cache
    assert not origins.is_generated(filename)


@pytest.mark.parametrize('shape', [(3,), (2, 3)])
def test_dispatched_lambdas_stay_bounded(shape):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)

    def apply(function, x):
        return np.sum(function(x))

    for scale in rng.uniform(0.5, 2.0, size=40):
        function = (lambda s: lambda v: np.sin(s * v))(scale)
        gradient = adcompiler.grad(apply, wrt=1)(function, x)
        np.testing.assert_allclose(gradient, scale * np.cos(scale * x))
    assert len(api._COMPILER._cache) <= compiler.MAX_CACHED_COMPILATIONS
