"""Traversal and copying of syntax trees (adcompiler.traversal)."""

import copy
import inspect

import gast
import pytest

from adcompiler import traversal, verbatim

SOURCE = '''
def f(x, *args, scale=2.0, **options):
    total = 0.0
    for i, value in enumerate(args):
        if value is not None and i > 1:
            total = total + scale * value[i, ::2] ** 2
        else:
            total -= -1.5e-3
    names = [n for n in options if n]
    del names
    return total, {'x': x}, (lambda y: y + 1)(x), f"{x!r:>10}"
'''


def parsed():
    return gast.parse(SOURCE)


def test_copy_tree_equals_deepcopy():
    tree = parsed()
    copied = traversal.copy_tree(tree)
    assert gast.dump(copied) == gast.dump(copy.deepcopy(tree))
    assert gast.dump(copied) == gast.dump(tree)


def test_copy_tree_shares_no_node():
    tree = parsed()
    copied = traversal.copy_tree(tree)
    original_ids = {id(node) for node in traversal.walk(tree)}
    copied_ids = {id(node) for node in traversal.walk(copied)}
    assert not original_ids & copied_ids
    for node in traversal.walk(copied):
        for value in node.__dict__.values():
            assert not isinstance(value, list) or all(
                id(item) not in original_ids for item in value)


def test_copy_tree_changes_leave_original():
    tree = parsed()
    before = gast.dump(tree)
    copied = traversal.copy_tree(tree)
    for node in traversal.walk(copied):
        if isinstance(node, gast.Name):
            node.id = 'renamed'
    copied.body[0].body.clear()
    assert gast.dump(tree) == before


def test_copy_tree_keeps_positions():
    tree = parsed()
    copied = traversal.copy_tree(tree)
    pairs = zip(traversal.walk(tree), traversal.walk(copied))
    for original, new in pairs:
        for attribute in ('lineno', 'col_offset', 'end_lineno',
                          'end_col_offset'):
            assert getattr(new, attribute, None) == getattr(
                original, attribute, None)


@pytest.mark.parametrize('value', [None, 'text', 3, 2.5, 1j, True, b'x',
                                   Ellipsis])
def test_copy_tree_atomic_value_kept(value):
    assert traversal.copy_tree(value) is value


def test_copy_tree_list_of_nodes():
    statements = parsed().body[0].body
    copied = traversal.copy_tree(statements)
    assert isinstance(copied, list)
    assert copied is not statements
    assert [gast.dump(s) for s in copied] == [gast.dump(s)
                                              for s in statements]


def test_copy_tree_other_value_deep_copied():
    name = gast.Name(id='x', ctx=gast.Load(), annotation=None,
                     type_comment=None)
    value = (name, {'key': [name]})
    copied = traversal.copy_tree(value)
    assert copied is not value
    assert copied[0] is not name
    assert gast.dump(copied[0]) == gast.dump(name)
    # copy.deepcopy keeps the sharing inside a value it copies.
    assert copied[1]['key'][0] is copied[0]


def test_copy_tree_verbatim_keeps_reads():
    function = parsed().body[0]
    statement = function.body[-2]  # del names
    error = ValueError('not differentiable')
    wrapped = verbatim.keep(statement, error, {'names', 'total'})
    function.body[-2] = wrapped
    copied = traversal.copy_tree(function).body[-2]
    assert isinstance(copied, verbatim.Verbatim)
    assert copied is not wrapped
    assert copied.error is error
    assert copied.statement is not statement
    assert gast.dump(copied.statement) == gast.dump(statement)
    inner = {id(node) for node in traversal.walk(copied.statement)}
    assert copied.writes
    assert all(id(node) in inner for node in copied.reads + copied.writes)


def test_walk_order_as_ast_walk():
    tree = parsed()
    assert list(traversal.walk(tree)) == list(gast.walk(tree))


def test_name_nodes_and_find_nodes_as_walk():
    tree = parsed()
    walked = list(traversal.walk(tree))
    assert traversal.name_nodes(tree) == [
        node for node in walked if isinstance(node, gast.Name)]
    kinds = (gast.Call, gast.Subscript, gast.Assign)
    assert traversal.find_nodes(tree, kinds) == [
        node for node in walked if isinstance(node, kinds)]
    assert traversal.node_count(tree) == len(walked)


def test_copy_tree_of_adcompiler_source():
    tree = gast.parse(inspect.getsource(traversal))
    copied = traversal.copy_tree(tree)
    assert gast.dump(copied) == gast.dump(tree)


class _Rewrite(gast.NodeTransformer):
    """Drops `pass`, doubles `del`, replaces names and negates constants."""

    def visit_Pass(self, node):
        return None

    def visit_Delete(self, node):
        return [node, copy.deepcopy(node)]

    def visit_Name(self, node):
        if node.id == 'total':
            return gast.Name(id='sum_', ctx=node.ctx, annotation=None,
                             type_comment=None)
        return node

    def visit_Constant(self, node):
        self.generic_visit(node)
        if isinstance(node.value, float):
            return gast.UnaryOp(op=gast.USub(), operand=node)
        return node


class _FastRewrite(traversal.Transformer):
    visit_Pass = _Rewrite.visit_Pass
    visit_Delete = _Rewrite.visit_Delete
    visit_Name = _Rewrite.visit_Name
    visit_Constant = _Rewrite.visit_Constant


def test_transformer_as_node_transformer():
    source = SOURCE + '\ndef g(a):\n    pass\n    del a\n    pass\n'
    expected = _Rewrite().visit(gast.parse(source))
    tree = gast.parse(source)
    lists = [value for node in traversal.walk(tree)
             for value in node.__dict__.values() if isinstance(value, list)]
    result = _FastRewrite().visit(tree)
    assert result is tree
    assert gast.dump(result) == gast.dump(expected)
    assert 'sum_' in gast.dump(result)
    assert len(result.body[1].body) == 2  # two copies of `del a`
    # Lists are changed in place, as ast.NodeTransformer does.
    assert any(result.body[1].body is value for value in lists)


def test_transformer_unchanged_tree():
    tree = parsed()
    before = gast.dump(tree)
    nodes = list(traversal.walk(tree))
    traversal.Transformer().visit(tree)
    assert gast.dump(tree) == before
    assert list(traversal.walk(tree)) == nodes


@pytest.mark.parametrize('ctx', [None, gast.Load(), gast.Store(), gast.Del()],
                         ids=['default', 'load', 'store', 'del'])
def test_name_node_as_gast_constructor(ctx):
    made = traversal.name_node('x', ctx)
    expected = gast.Name(id='x', ctx=ctx or gast.Load(), annotation=None,
                         type_comment=None)
    assert type(made) is gast.Name
    assert list(vars(made)) == list(vars(expected))
    assert gast.dump(made, include_attributes=True) == gast.dump(
        expected, include_attributes=True)
    if ctx is not None:
        assert made.ctx is ctx


def test_name_nodes_do_not_share_contexts():
    first, second = traversal.name_node('x'), traversal.name_node('x')
    assert first.ctx is not second.ctx


def test_new_node_as_gast_constructor():
    value = gast.Constant(value=1.0, kind=None)
    made = traversal.new_node(gast.Assign, targets=[traversal.name_node(
        'y', gast.Store())], value=value, type_comment=None)
    expected = gast.Assign(targets=[gast.Name(
        id='y', ctx=gast.Store(), annotation=None, type_comment=None)],
        value=value, type_comment=None)
    assert type(made) is gast.Assign
    assert list(vars(made)) == list(vars(expected))
    assert gast.dump(made, include_attributes=True) == gast.dump(
        expected, include_attributes=True)
    assert made.value is value
    assert vars(traversal.new_node(gast.Load)) == vars(gast.Load())
