"""The table of the names that statements read and write, and the passes
that keep it current while they change the statements."""

import textwrap

import gast
import numpy as np
import pytest

import adcompiler
from adcompiler import optimize, statement_names
from adcompiler.statement_names import StatementNames
from adcompiler.traversal import find_nodes
from finite_differences import assert_gradient_close, numerical_gradient


def _function(source):
    return gast.parse(textwrap.dedent(source)).body[0]


def test_uses_sorts_names_by_context():
    function = _function('''
        def f(x):
            y = x + g(x, z=lambda w: w)
            del y
    ''')
    names = StatementNames()
    uses = names.uses(function.body[0])
    assert uses.loads == ['x', 'g', 'x', 'w']
    assert uses.stores == ['y']
    assert uses.deletes == []
    assert uses.others == ['w']
    assert names.uses(function.body[1]).deletes == ['y']


def test_uses_reads_table_until_forget(monkeypatch):
    # The check of each lookup would reject the stale entry read below.
    monkeypatch.setattr(statement_names, 'CHECK', False)
    function = _function('''
        def f(x):
            y = x
    ''')
    statement = function.body[0]
    names = StatementNames()
    assert names.uses(statement).loads == ['x']
    statement.value = gast.Name(id='z', ctx=gast.Load(), annotation=None,
                                type_comment=None)
    # Not forgotten: the table still has the names it found first.
    assert names.uses(statement).loads == ['x']
    names.forget(statement)
    assert names.uses(statement).loads == ['z']


def test_record_keeps_given_names():
    function = _function('''
        def f(x):
            y = x * 2.0
    ''')
    statement = function.body[0]
    names = StatementNames()
    found = [node for node in gast.walk(statement)
             if isinstance(node, gast.Name)]
    names.record(statement, found)
    assert names.uses(statement).loads == ['x']
    assert names.uses(statement).stores == ['y']


def test_compound_statement_walked_each_time():
    function = _function('''
        def f(x):
            if x:
                y = x
    ''')
    branch = function.body[0]
    names = StatementNames()
    assert names.uses(branch).stores == ['y']
    branch.body = []
    assert names.uses(branch).stores == []


def test_inline_temporaries_forgets_changed():
    function = _function('''
        def f(x):
            t = x * 2.0
            y = t + 1.0
            return y
    ''')
    names = StatementNames()
    reader = function.body[1]
    assert names.uses(reader).loads == ['t']
    optimize.inline_temporaries(function, {'t'}, names=names)
    assert len(function.body) == 2
    assert function.body[0] is reader
    assert names.uses(reader).loads == ['x']


def test_dead_code_with_table_same_result():
    source = '''
        def f(x):
            a = x * 2.0
            b = a + 1.0
            c = x - 1.0
            return b
    '''
    with_table = _function(source)
    names = StatementNames()
    for statement in with_table.body:
        names.uses(statement)
    without_table = _function(source)
    policy = optimize.DeadCodePolicy()
    assert optimize.remove_dead_code(with_table, policy, names)
    assert optimize.remove_dead_code(without_table, policy)
    assert gast.dump(with_table) == gast.dump(without_table)
    assigned = [statement.targets[0].id for statement in with_table.body
            if isinstance(statement, gast.Assign)]
    assert assigned == ['a', 'b']


def _long_chain(x, c):
    s = 0.0
    s = s + c * x
    t = np.sin(s)
    s = s + c * t
    u = np.exp(-s) * 0.5
    s = s + u
    return np.sum(s)


def test_grad_of_chain_matches_differences():
    for shape in ((), (3,), (2, 3)):
        x = np.linspace(0.2, 0.9, int(np.prod(shape))).reshape(shape)
        for c in (0.7, np.array([0.3, -0.4, 0.5]) if shape else 1.3):
            gradient = adcompiler.grad(_long_chain)(x, c)
            expected = numerical_gradient(_long_chain, (x, c), 0)
            assert_gradient_close(gradient, expected)


def test_nodes_in_walk_order():
    function = _function('''
        def f(x):
            y = g(x, 2.0) + h(1)
    ''')
    statement = function.body[0]
    names = StatementNames((gast.Call, gast.Constant))
    calls = names.nodes(statement, gast.Call)
    assert calls == find_nodes(statement, gast.Call)
    assert [call.func.id for call in calls] == ['g', 'h']
    constants = names.nodes(statement, gast.Constant)
    assert [constant.value for constant in constants] == [2.0, 1]
    assert names.uses(statement).loads == ['g', 'x', 'h']
    assert names.uses(statement).stores == ['y']


def test_nodes_of_kind_not_kept_rejected():
    function = _function('''
        def f(x):
            y = g(x).real
    ''')
    statement = function.body[0]
    with pytest.raises(ValueError, match='cannot return Attribute nodes'):
        StatementNames((gast.Call,)).nodes(statement, gast.Attribute)
    with pytest.raises(ValueError, match='cannot return Call nodes'):
        StatementNames().nodes(statement, (gast.Name, gast.Call))


def test_renamed_sorts_names_again():
    function = _function('''
        def f(a, b):
            y = a + b
    ''')
    statement = function.body[0]
    names = StatementNames((gast.Call,))
    assert names.uses(statement).loads == ['a', 'b']
    statement.value.left.id = 'c'
    names.renamed(statement)
    assert names.uses(statement).loads == ['c', 'b']


def test_forget_compound_forgets_nested():
    function = _function('''
        def f(x):
            if x:
                y = x
    ''')
    branch = function.body[0]
    nested = branch.body[0]
    names = StatementNames()
    assert names.uses(nested).loads == ['x']
    nested.value = gast.Name(id='z', ctx=gast.Load(), annotation=None,
                             type_comment=None)
    names.forget(branch)
    assert names.uses(nested).loads == ['z']


def test_check_rejects_stale_entry(monkeypatch):
    monkeypatch.setattr(statement_names, 'CHECK', True)
    function = _function('''
        def f(x):
            y = g(x)
    ''')
    statement = function.body[0]
    names = StatementNames((gast.Call,))
    assert len(names.nodes(statement, gast.Call)) == 1
    statement.value = statement.value.args[0]
    with pytest.raises(AssertionError, match='without calling forget'):
        names.nodes(statement, gast.Call)
    with pytest.raises(AssertionError, match='without calling forget'):
        names.uses(statement)


# Functions whose adjoints the optimizer rewrites with several passes that
# keep the table of `optimize.optimize` current: compact sums, copies, dead
# code, index adjoints added in place, repeated calls, branches and loops.
def _sum_of_slices(x):
    a = x[1:] - x[:-1]
    b = np.sum(a ** 2) + np.sum(np.abs(x)) * 0.5
    c = b
    return c + np.sum(np.abs(x) * np.sin(x))


def _branch_and_loop(x):
    total = 0.0
    for i in range(3):
        if i % 2:
            total = total + np.sum(x * i)
        else:
            total = total - np.mean(np.exp(-x) / (x * x + 1.0))
    return total


def _negated_quotient(x):
    t = np.sum(x)
    u = -(t * x) / (x + 2.0)
    return np.sum(u * 3.0 * 2.0)


@pytest.mark.parametrize('function', [_sum_of_slices, _branch_and_loop,
                                      _negated_quotient],
                         ids=['slices', 'branch_loop', 'quotient'])
@pytest.mark.parametrize('shape', [(4,), (2, 4)], ids=['vector', 'matrix'])
def test_passes_keep_table_current(monkeypatch, function, shape):
    # Each lookup in a table compares its entry with a new walk, so a pass
    # that changed a statement without forgetting it fails this test.
    monkeypatch.setattr(statement_names, 'CHECK', True)
    x = np.linspace(0.3, 1.4, int(np.prod(shape))).reshape(shape)
    gradient = adcompiler.grad(function)(x)
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(gradient, expected)
