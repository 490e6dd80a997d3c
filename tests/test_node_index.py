"""The index of a tree's nodes that the stages share (traversal.NodeIndex).

Each analysis that reads the index must find what its walk found, and a
gradient must stay right when the index is rebuilt (a rewritten in-place
call) or cannot stand in for a walk (nested functions, early returns).
"""

import gast
import numpy as np
import pytest

import adcompiler
from adcompiler import closures, normalize, reverse, traversal
from adcompiler.errors import InternalCompilerError
from adcompiler.naming import Namer
from adcompiler.object_operands import _bindings
from finite_differences import assert_gradient_close, numerical_gradient

SOURCES = {
    'straight': '''
def f(x, c):
    s = x * c
    s = s + np.sin(x)
    return np.sum(s)
''',
    'nested': '''
def f(x, *args, scale=2.0, **options):
    total = 0.0
    def inner(v, w=(k := 3)):
        nonlocal total
        total = total + v * w
        return total
    for i, value in enumerate(args):
        if value is not None and i > 1:
            total = total + scale * value[i, ::2] ** 2
            return total
        else:
            total -= -1.5e-3
    names = [n for n in options if n]
    names += [1]
    names.append(inner(x))
    x[0] = 1.0
    import math as m
    del names
    return total, {'x': x}, (lambda y: y + 1)(x), f"{x!r:>10}"
''',
    'global_and_with': '''
@decorate(level := 2)
def f(x) -> float:
    global counter
    with open(x) as handle:
        data = handle.read()
        return data
''',
}


def tree_of(name):
    return gast.parse(SOURCES[name]).body[0]


@pytest.mark.parametrize('name', sorted(SOURCES))
def test_find_as_filtered_walk(name):
    tree = tree_of(name)
    index = traversal.NodeIndex(tree)
    walked = list(traversal.walk(tree))
    for kinds in (gast.Name, gast.Assign, (gast.Assign, gast.For),
                  (gast.Name, gast.Call, gast.Return), gast.stmt, gast.expr,
                  gast.Load, gast.ClassDef, (gast.Lambda, gast.FunctionDef)):
        assert index.find(kinds) == [n for n in walked
                                     if isinstance(n, kinds)], kinds
    assert index.nodes == walked


def test_find_returns_new_list():
    index = traversal.NodeIndex(tree_of('straight'))
    found = index.find(gast.Name)
    found.clear()
    assert index.find(gast.Name)


def test_is_current_after_changes():
    tree = tree_of('straight')
    index = traversal.NodeIndex(tree)
    assert index.is_current()
    tree.body[0].targets[0].id = 'renamed'  # Values may change.
    assert index.is_current()
    tree.body[1], tree.body[0] = tree.body[0], tree.body[1]
    assert not index.is_current()
    tree.body[1], tree.body[0] = tree.body[0], tree.body[1]
    assert index.is_current()
    tree.body.insert(0, gast.Pass())
    assert not index.is_current()


def test_nodes_of_other_tree_rejected():
    index = traversal.NodeIndex(tree_of('straight'))
    with pytest.raises(ValueError, match='another tree'):
        traversal.nodes_of(tree_of('straight'), gast.Name, index)


@pytest.mark.parametrize('name', sorted(SOURCES))
def test_analyses_with_and_without_index(name):
    tree = tree_of(name)
    index = traversal.NodeIndex(tree)
    assert (closures.local_names(tree, index)
            == closures.local_names(tree))
    assert (closures.declared_outside(tree, index)
            == closures.declared_outside(tree))
    assert (normalize._assigned_names(tree, index)
            == normalize._assigned_names(tree))
    assert (normalize.has_control_flow(tree, index)
            == normalize.has_control_flow(tree))
    assert (normalize.extended_lists(tree, index)
            == normalize.extended_lists(tree))
    assert (normalize.mutated_receivers(tree, index=index)
            == normalize.mutated_receivers(tree))
    assert (normalize._object_names(tree, lambda node: None, index)
            == normalize._object_names(tree, lambda node: None))
    assert (_bindings(tree, tree.args, index)
            == _bindings(tree, tree.args))
    assert (traversal.name_bindings(tree, index)
            == traversal.name_bindings(tree))
    assert (Namer.for_function(tree, (), index).taken
            == Namer.for_function(tree).taken)
    assert index.is_current()


def test_local_names_skip_signature_nodes():
    tree = tree_of('global_and_with')
    index = traversal.NodeIndex(tree)
    # `level` is bound in the decorator, outside the body.
    assert 'level' not in closures.local_names(tree, index)
    assert closures.declared_outside(tree, index) == {'counter'}


def in_place_added(x, c):
    y = x * c
    np.add.at(y, [0, 2], x[1:3])
    return np.sum(y * y)


def nested_and_early_return(x, c):
    def scaled(v):
        return v * c
    s = scaled(x) + x
    if c > 0:
        return np.sum(s * s)
    return np.sum(s)


def broadcast_sum(x, c):
    t = x * c[:, None]
    u = np.tanh(t) + x
    return np.sum(u * t)


@pytest.mark.parametrize('function, args', [
    (in_place_added, (np.linspace(0.1, 0.9, 4), 1.5)),
    (in_place_added, (np.linspace(-1.0, 1.0, 6), -0.5)),
    (nested_and_early_return, (np.linspace(0.1, 0.9, 3), 2.0)),
    (nested_and_early_return, (np.linspace(0.1, 0.9, 5), -1.0)),
    (broadcast_sum, (np.linspace(0.1, 0.9, 4), np.array([0.5, -1.0]))),
    (broadcast_sum, (np.ones((3, 2)), np.array([0.5, -1.0, 2.0]))),
])
def test_gradient_through_indexed_stages(function, args):
    for position in range(len(args)):
        computed = adcompiler.grad(function, wrt=position)(*args)
        expected = numerical_gradient(function, args, position)
        assert_gradient_close(computed, expected)


def test_stage_that_changes_tree_raises(monkeypatch):
    original = reverse.reverse

    def reverse_and_change(normalized, *args):
        program = original(normalized, *args)
        normalized.tree.body.insert(0, gast.Pass())
        return program

    monkeypatch.setattr(reverse, 'reverse', reverse_and_change)

    def changed_tree(x):
        return np.sum(x * x)

    with pytest.raises(InternalCompilerError, match='indexed'):
        adcompiler.grad(changed_tree)(np.ones(3))
