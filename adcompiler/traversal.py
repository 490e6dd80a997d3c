"""Traversal and copying of syntax trees, shared by the stages.

`walk` yields the same nodes in the same order as `ast.walk` (which
`gast.walk` is), breadth first, but without `ast.iter_child_nodes` and
`ast.iter_fields`, which make two generator calls per node. The stages walk
small trees many times over: using `walk` in place of `ast.walk` cut the
CPU time of compiling the five benchmark workloads from 66 to 51 ms
(Python 3.11, on a 2-core AMD EPYC). It works on gast and ast nodes alike.
`copy_tree` is a faster `copy.deepcopy` for the trees that rule templates
and lowered statements are copied from.
"""

import ast
import copy

import gast

_AST = ast.AST
_EXPR = gast.expr
_NAME = gast.Name
_LOAD = gast.Load
# Makes a node with no fields, as gast's constructors do before they set
# the fields they are given.
_NEW_NODE = gast.AST.__new__


def new_node(kind, /, **fields):
    """Return a new node of the gast class `kind` with `fields`: the node
    that `kind(**fields)` makes, in half the time (an Assign took 0.26
    microseconds against 0.53, measured as for `name_node`)."""
    node = _NEW_NODE(kind)
    node.__dict__.update(fields)
    return node


def name_node(identifier, ctx=None):
    """Return a new `gast.Name` of `identifier`, loaded unless `ctx` is
    given: the node that `gast.Name(id=identifier, ctx=ctx or
    gast.Load(), annotation=None, type_comment=None)` makes.

    gast's constructors are Python functions called with keywords: a name
    with a new Load context took 0.70 microseconds to make that way, and
    0.23 here (Python 3.11, least of 7 runs on a loaded 2-core AMD EPYC).
    Generated code for a 1000-line function has tens of thousands of
    names.
    """
    node = _NEW_NODE(_NAME)
    fields = node.__dict__
    fields['id'] = identifier
    fields['ctx'] = ctx or _NEW_NODE(_LOAD)
    fields['annotation'] = None
    fields['type_comment'] = None
    return node


def walk(node):
    """Yield `node` and every node below it, breadth first, as `ast.walk`.

    As in `ast.walk`, the children of a node are read before the node is
    yielded, so a caller that replaces them still walks the old ones.
    """
    pending = [node]
    fields_of = _CHILD_FIELDS
    for node in pending:  # The list grows while the loop runs.
        try:
            fields = fields_of[node.__class__]
        except KeyError:
            fields = _child_fields(node.__class__)
        for field in fields:
            value = getattr(node, field, None)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, _AST):
                        pending.append(item)
            elif isinstance(value, _AST):
                pending.append(value)
        yield node


def node_count(node):
    """Return how many nodes `walk(node)` yields, contexts included."""
    count = 0
    pending = [node]
    append = pending.append
    fields_of = _CHILD_FIELDS
    for node in pending:  # The list grows while the loop runs.
        count += 1
        try:
            fields = fields_of[node.__class__]
        except KeyError:
            fields = _child_fields(node.__class__)
        for field in fields:
            value = getattr(node, field, None)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, _AST):
                        append(item)
            elif isinstance(value, _AST):
                append(value)
    return count


def name_nodes(node):
    """Return the `gast.Name` nodes that `walk(node)` yields, in its order.

    Most walks look only for names. This one makes no generator call per
    node, reads fields from each node's instance dictionary, and does not
    visit contexts (Load, Store) or operators (Add, Eq), about a third of
    the nodes of generated code. On the adjoint of a 1000-line function
    it took two thirds of the time of the walk (Python 3.11).
    """
    names = []
    pending = [node]
    append = pending.append
    fields_of = _SEARCH_FIELDS
    for node in pending:  # The list grows while the loop runs.
        kind = node.__class__
        if kind is _NAME:
            names.append(node)
            annotation = getattr(node, 'annotation', None)
            if annotation is not None:
                append(annotation)
            continue
        try:
            fields = fields_of[kind]
        except KeyError:
            fields = _search_fields(kind)
        values = node.__dict__
        for field in fields:
            value = values.get(field)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, _AST):
                        append(item)
            elif value is not None and isinstance(value, _AST):
                append(value)
    return names


def find_nodes(node, kinds):
    """Return `[n for n in walk(node) if isinstance(n, kinds)]`, where no
    class in `kinds` is an expression context (Load, Store, Del) or an
    operator (Add, USub, Eq, ...), whose nodes are not searched.

    Like `name_nodes`, it makes no generator call per node.
    """
    return _search(node, kinds, ())


def statement_nodes(node, kinds):
    """Return what `find_nodes(node, kinds)` returns, where no class in
    `kinds` is an expression.

    Expressions contain no statements, so they are not searched. The
    nodes found are the same, in the same order, because every node
    between them and `node` is searched. In a long function, most nodes
    are inside expressions.
    """
    return _search(node, kinds, _EXPR)


def _search(node, kinds, skipped):
    """Return the nodes of `kinds` in `node`, breadth first, without
    searching the nodes of the classes `skipped`."""
    found = []
    pending = [node]
    append = pending.append
    fields_of = _SEARCH_FIELDS
    for node in pending:  # The list grows while the loop runs.
        kind = node.__class__
        try:
            fields = fields_of[kind]
        except KeyError:
            fields = _search_fields(kind)
        values = node.__dict__
        for field in fields:
            value = values.get(field)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, _AST) and not isinstance(item,
                                                                 skipped):
                        append(item)
            elif (value is not None and isinstance(value, _AST)
                  and not isinstance(value, skipped)):
                append(value)
        if isinstance(node, kinds):
            found.append(node)
    return found


class NodeIndex:
    """The nodes of one syntax tree, grouped by class, in `walk` order.

    One walk builds it. `find(kinds)` then returns the nodes that a walk
    filtered with `isinstance(node, kinds)` would, contexts and operators
    included, without walking again. On the normalized 1000-line function
    of benchmarks/compile_time.py (18,000 nodes), building the index took
    9 ms, such a walk 8 ms, and `find` of one class 0.01 ms (Python 3.11,
    loaded 2-core AMD EPYC).

    The index is a snapshot: it stays correct while no node is added to,
    removed from or moved within the tree, though the nodes' own values
    (a name's `id`) may change. The code that builds an index states how
    long that is true, and checks it with `is_current` at that point.
    """

    def __init__(self, tree):
        self.tree = tree
        self.nodes = list(walk(tree))
        self._by_class = {}
        for node in self.nodes:
            kind = node.__class__
            found = self._by_class.get(kind)
            if found is None:
                self._by_class[kind] = [node]
            else:
                found.append(node)
        # kinds -> the classes of the tree that are subclasses of kinds
        self._classes = {}

    def find(self, kinds):
        """Return `[n for n in walk(tree) if isinstance(n, kinds)]`, where
        `kinds` is a class or a tuple of classes."""
        classes = self._classes.get(kinds)
        if classes is None:
            classes = self._classes[kinds] = [
                kind for kind in self._by_class if issubclass(kind, kinds)]
        if not classes:
            return []
        if len(classes) == 1:
            return list(self._by_class[classes[0]])
        # Nodes of several classes: keep the walk's order.
        return [node for node in self.nodes if isinstance(node, kinds)]

    def is_current(self):
        """Return whether a walk of the tree still yields the nodes it did
        when the index was built, in the same order."""
        return list(walk(self.tree)) == self.nodes


def nodes_of(tree, kinds, index=None):
    """Return `[n for n in walk(tree) if isinstance(n, kinds)]`, found in
    `index`, a `NodeIndex` of `tree`, when one is given."""
    if index is None:
        if _is_searchable(kinds):
            return _search(tree, kinds, ())
        return [node for node in walk(tree) if isinstance(node, kinds)]
    if index.tree is not tree:
        raise ValueError('the index is of another tree')
    return index.find(kinds)


# The classes of the nodes that `find_nodes` does not search: contexts,
# operators and comparison operators, which have no children.
_NOT_SEARCHED_CLASSES = (gast.expr_context, gast.operator, gast.unaryop,
                         gast.cmpop, gast.boolop)


def _is_searchable(kinds):
    """Return whether `find_nodes` finds every node of `kinds`, a class or
    a tuple of classes: no class in it is a context or an operator, or a
    base class of one."""
    for kind in kinds if isinstance(kinds, tuple) else (kinds,):
        if any(issubclass(unsearched, kind) or issubclass(kind, unsearched)
               for unsearched in _NOT_SEARCHED_CLASSES):
            return False
    return True


def name_bindings(tree, index=None):
    """Return how many times each name is bound in `tree` (assigned,
    a parameter, a loop or `as` target, deleted), and the `name = value`
    statements in it, in the order of `walk`. `index` is a `NodeIndex` of
    `tree`, or None."""
    bindings = {}
    assignments = []
    found = (find_nodes(tree, (gast.Name, gast.Assign)) if index is None
             else nodes_of(tree, (gast.Name, gast.Assign), index))
    for node in found:
        if isinstance(node, gast.Assign):
            if isinstance(node.targets[0], gast.Name):
                assignments.append(node)
        elif not isinstance(node.ctx, gast.Load):
            bindings[node.id] = bindings.get(node.id, 0) + 1
    return bindings, assignments


def child_nodes(node):
    """Return the list of the nodes that `ast.iter_child_nodes` yields."""
    children = []
    try:
        fields = _CHILD_FIELDS[node.__class__]
    except KeyError:
        fields = _child_fields(node.__class__)
    for field in fields:
        value = getattr(node, field, None)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, _AST):
                    children.append(item)
        elif isinstance(value, _AST):
            children.append(value)
    return children


# Fields that the grammar gives a name, a number or a string, never a node.
# The walks skip them in the most common nodes.
_LEAF_FIELDS = {
    gast.Name: ('id', 'type_comment'), gast.Constant: ('value', 'kind'),
    gast.Attribute: ('attr',), gast.keyword: ('arg',),
    ast.Name: ('id',), ast.Constant: ('value', 'kind'),
    ast.Attribute: ('attr',), ast.keyword: ('arg',),
}

# Node class -> the fields that may contain nodes. Classes do not change
# their fields, so no entry goes stale.
_CHILD_FIELDS = {}
# The same without the field `ctx`, whose Load, Store or Del has no children.
_FIELDS_WITHOUT_CONTEXT = {}
# The same without the fields of contexts, operators (Add, USub, Eq) and
# type comments, for the searches that look for neither.
_SEARCH_FIELDS = {}
_NOT_SEARCHED = frozenset(('ctx', 'op', 'ops', 'type_comment'))


def _child_fields(kind):
    leaves = _LEAF_FIELDS.get(kind, ())
    fields = tuple(f for f in kind._fields if f not in leaves)
    _CHILD_FIELDS[kind] = fields
    return fields


def _fields_without_context(kind):
    fields = tuple(f for f in _CHILD_FIELDS.get(kind) or _child_fields(kind)
                   if f != 'ctx')
    _FIELDS_WITHOUT_CONTEXT[kind] = fields
    return fields


def _search_fields(kind):
    fields = tuple(f for f in _CHILD_FIELDS.get(kind) or _child_fields(kind)
                   if f not in _NOT_SEARCHED)
    _SEARCH_FIELDS[kind] = fields
    return fields


# Values that copy.deepcopy returns as they are.
_ATOMIC = frozenset((str, int, float, complex, bool, bytes, type(None),
                     type(Ellipsis)))


def statement_blocks(node):
    """Yield each statement list under `node` (bodies, else branches,
    finally blocks and except handlers' bodies), inner lists first, so
    that a pass may change a list after the lists nested in it."""
    for field in ('body', 'orelse', 'finalbody'):
        block = getattr(node, field, None)
        if isinstance(block, list):
            for statement in block:
                yield from statement_blocks(statement)
            yield block
    for handler in getattr(node, 'handlers', ()):
        yield from statement_blocks(handler)


def parts_outside_body(function):
    """Yield the nodes of a function definition outside its body: the
    arguments with their defaults and annotations, the decorators and the
    return annotation."""
    for field in function._fields:
        if field == 'body':
            continue
        value = getattr(function, field, None)
        for part in value if isinstance(value, list) else (value,):
            if isinstance(part, _AST):
                yield part


def copy_tree(value):
    """Return a deep copy of a syntax tree, as `copy.deepcopy`, in less time.

    Nodes and lists are copied here, and values of the classes in `_ATOMIC`
    are kept as they are. Other values, and nodes of classes that define
    `__deepcopy__` (`Verbatim`, whose `reads` are names inside its
    statement), go to copy.deepcopy. The four generated functions of a
    1000-line function (132,000 nodes) copied in 0.14 s, against 0.26 s
    with a memo as copy.deepcopy keeps, and 0.64 s with copy.deepcopy
    (Python 3.11, loaded 2-core AMD EPYC).

    NOTE: unlike copy.deepcopy, this keeps no memo, so a node reached twice
    is copied twice. A `Verbatim` node copies itself with one memo, so its
    sharing is kept. No other copied tree shared a node in the tests of
    gradients, control flow, containers, calls, comprehensions, try
    statements, language features and regressions.
    """
    if value.__class__ in _ATOMIC:
        return value
    return _copy(value)


def _copy(value):
    """Copy `value`, which is not in `_ATOMIC`, as `copy_tree` describes."""
    kind = value.__class__
    atomic = _ATOMIC
    if kind is list:
        return [item if item.__class__ in atomic else _copy(item)
                for item in value]
    try:
        plain = _PLAIN_NODE[kind]
    except KeyError:
        plain = _PLAIN_NODE[kind] = issubclass(kind, _AST) and getattr(
            kind, '__deepcopy__', None) is None
    if not plain:
        return copy.deepcopy(value)
    copied = kind.__new__(kind)
    fields = copied.__dict__
    for name, item in value.__dict__.items():
        fields[name] = item if item.__class__ in atomic else _copy(item)
    return copied


# Class -> whether `_copy` copies its instances field by field: a node
# class without `__deepcopy__`. Classes do not change, so no entry goes
# stale.
_PLAIN_NODE = {}


# transformer class -> {node class -> its visit_ method, or None}.
# Classes do not change after they are defined, so no entry goes stale.
_VISITORS = {}


# The methods by which ast.NodeVisitor.visit_Constant looks for a visitor of
# a constant before it calls generic_visit, named after the constant classes
# that Python 3.8 deprecated.
_CONSTANT_VISITORS = tuple('visit_' + name for name in (
    'Num', 'Str', 'Bytes', 'NameConstant', 'Ellipsis'))


def _visitor(transformer_class, node_class):
    """Return the method that visits `node_class`, or None for
    generic_visit."""
    method = getattr(transformer_class, 'visit_' + node_class.__name__, None)
    if method is ast.NodeVisitor.visit_Constant and not any(
            hasattr(transformer_class, name) for name in _CONSTANT_VISITORS):
        return None  # It would call generic_visit.
    return method


class Transformer(ast.NodeTransformer):
    """`ast.NodeTransformer` (which `gast.NodeTransformer` is), with the
    same visits and results in less time.

    The base class makes each visit look its method up by building the
    string `'visit_' + class name`, and reads the fields of each node with
    the generator `ast.iter_fields`. Here the method is looked up once per
    node class, and the fields are read in a loop. Fields that hold no
    nodes (a name's `id`) are not read, and the contexts of names,
    attributes and subscripts (Load, Store, Del) are not visited: no
    subclass has a visitor for them. A list of nodes is rebuilt, and a
    field set, only where a visit returned another node, which made a
    visit of the four generated functions of a 1000-line function take
    41 ms instead of 48 ms (Python 3.11, 2-core AMD EPYC).
    """

    def visit(self, node):
        try:
            method = _VISITORS[self.__class__][node.__class__]
        except KeyError:
            method = _VISITORS.setdefault(self.__class__, {})[
                node.__class__] = _visitor(self.__class__, node.__class__)
        if method is None:
            return self.generic_visit(node)
        return method(self, node)

    def generic_visit(self, node):
        kind = node.__class__
        try:
            fields = _FIELDS_WITHOUT_CONTEXT[kind]
        except KeyError:
            fields = _fields_without_context(kind)
        for field in fields:
            old_value = getattr(node, field, None)
            if old_value is None:
                continue
            if isinstance(old_value, list):
                _visit_list(self, old_value)
            elif isinstance(old_value, _AST):
                new_node = self.visit(old_value)
                if new_node is None:
                    delattr(node, field)
                elif new_node is not old_value:
                    setattr(node, field, new_node)
        return node


def _visit_list(transformer, values):
    """Visit the nodes in the list `values` and put the results in their
    place. A visit may return None to drop a node, or a list to splice in.
    The list is rebuilt only from the first node that a visit replaced."""
    new_values = None  # the items so far, once one was replaced
    for position, value in enumerate(values):
        if not isinstance(value, _AST):
            if new_values is not None:
                new_values.append(value)
            continue
        new_value = transformer.visit(value)
        if new_values is None:
            if new_value is value:
                continue
            new_values = values[:position]
        if new_value is None:
            continue
        if isinstance(new_value, _AST):
            new_values.append(new_value)
        else:
            new_values.extend(new_value)
    if new_values is not None:
        values[:] = new_values


# The fields of each kind of expression, in the order Python evaluates them.
_EVALUATED_FIELDS = {
    gast.BinOp: ('left', 'right'), gast.UnaryOp: ('operand',),
    gast.Call: ('func', 'args', 'keywords'), gast.keyword: ('value',),
    gast.Attribute: ('value',), gast.Subscript: ('value', 'slice'),
    gast.Slice: ('lower', 'upper', 'step'), gast.Tuple: ('elts',),
    gast.List: ('elts',), gast.Starred: ('value',),
    gast.Compare: ('left', 'comparators'),
}


def evaluation_order(node, calls=False, opaque=()):
    """Return the names `node` reads, in the order Python evaluates them,
    or None for an expression this function does not know.

    With `calls`, each call follows its arguments in the list. A part of a
    type in `opaque` (one that may not run, or may run later or several
    times) adds all its name reads where it starts and none of its calls.
    Without `opaque`, such a part (a conditional expression, and, or, a
    lambda) gives None, as a chained comparison does.
    """
    if isinstance(node, gast.Name):
        return [node]
    if isinstance(node, gast.Constant):
        return []
    if opaque and isinstance(node, opaque):
        return [n for n in walk(node) if isinstance(n, gast.Name)]
    if isinstance(node, gast.Compare) and len(node.ops) > 1:
        return None
    fields = _EVALUATED_FIELDS.get(type(node))
    if fields is None:
        return None
    order = []
    for field in fields:
        value = getattr(node, field)
        for child in value if isinstance(value, list) else [value]:
            if child is None:
                continue
            reads = evaluation_order(child, calls, opaque)
            if reads is None:
                return None
            order += reads
    if calls and isinstance(node, gast.Call):
        order.append(node)
    return order
