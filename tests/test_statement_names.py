"""The table of the names that statements read and write, and the passes
that keep it current while they change the statements."""

import textwrap

import gast
import numpy as np

import adcompiler
from adcompiler import optimize
from adcompiler.statement_names import StatementNames
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


def test_uses_reads_table_until_forget():
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
