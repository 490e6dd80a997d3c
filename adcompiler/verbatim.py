"""Statements kept as the user wrote them, outside the differentiable subset.

Normalize wraps a statement it cannot lower (try, with, raise, an import,
a comprehension, ...) in a `Verbatim` node instead of rejecting it. The
activity stage then checks that the statement carries no derivative (it
raises the statement's `UnsupportedSyntaxError` if it does), the primal
runs it unchanged, and the adjoint skips it.

A `Verbatim` node shows later stages only the names of the function's
locals that the statement reads (`reads`) and assigns (`writes`). Its
other syntax stays out of their sight, so no stage has to understand it.
Those names are the very `Name` nodes inside the statement, so a stage that
renames a read renames it in the statement too. Emit puts the statement
back in place of the node (`expand`).
"""

import copy

import gast

from adcompiler.traversal import walk


class Verbatim(gast.AST):
    """A statement run as written; see the module docstring.

    Fields (seen by `gast.walk`): `reads` and `writes`, lists of `Name`
    nodes inside `statement`. Attributes: `statement`, the original node,
    `error`, the `UnsupportedSyntaxError` to raise if it turns out to
    carry a derivative, and `fresh`, the names that the statement binds
    to new objects that no other name refers to (the file of
    `with open(path) as log:`), whose updates change nothing else.
    """

    _fields = ('reads', 'writes')
    # The statement's position, which `gast.copy_location` copies.
    _attributes = ('lineno', 'col_offset', 'end_lineno', 'end_col_offset')

    def __init__(self, reads=(), writes=(), statement=None, error=None):
        super().__init__()
        self.reads = list(reads)
        self.writes = list(writes)
        self.statement = statement
        self.error = error
        self.fresh = frozenset()

    def __deepcopy__(self, memo):
        # One memo for the fields and the statement keeps `reads` and
        # `writes` pointing into the copied statement; the error is shared.
        node = Verbatim(copy.deepcopy(self.reads, memo),
                        copy.deepcopy(self.writes, memo),
                        copy.deepcopy(self.statement, memo), self.error)
        node.fresh = self.fresh
        return gast.copy_location(node, self)


def keep(statement, error, local_names):
    """Wrap `statement` in a `Verbatim` node; `local_names` are the names
    of the function's local variables."""
    reads, writes = _local_names(statement, local_names)
    node = Verbatim(reads, writes, statement, error)
    return gast.copy_location(node, statement)


def _local_names(statement, local_names):
    """Return the Name nodes of `statement` that read and assign locals.

    Names bound inside the statement's own scopes (comprehension targets,
    lambda parameters) are not the function's locals and are left out.
    """
    inner = _scoped_names(statement)
    reads, writes = [], []
    for node in walk(statement):
        if not isinstance(node, gast.Name) or node in inner:
            continue
        if isinstance(node.ctx, gast.Load):
            if node.id in local_names:
                reads.append(node)
        elif isinstance(node.ctx, (gast.Store, gast.Del)):
            writes.append(node)
    writes += [gast.Name(id=name, ctx=gast.Store(), annotation=None,
                         type_comment=None) for name in bound_names(statement)]
    return reads, writes


def _scoped_names(statement):
    """Return the Name nodes of `statement` that refer to a lambda's
    parameter or a comprehension's target inside its own scope.

    Other nodes with the same name, such as the `z` of
    `apply(z, lambda z: f(z))`, are the function's variables.
    """
    scoped = set()
    for node in walk(statement):
        if isinstance(node, gast.Lambda):
            arguments = node.args
            bound = {a.id for a in arguments.posonlyargs + arguments.args
                     + arguments.kwonlyargs if isinstance(a, gast.Name)}
            for extra in (arguments.vararg, arguments.kwarg):
                if isinstance(extra, gast.Name):
                    bound.add(extra.id)
            parts = [node.body, *bound_parameter_nodes(arguments)]
        elif isinstance(node, (gast.ListComp, gast.SetComp, gast.DictComp,
                               gast.GeneratorExp)):
            bound = {n.id for generator in node.generators
                     for n in walk(generator.target)
                     if isinstance(n, gast.Name)}
            # The first iterable is evaluated in the enclosing scope.
            parts = [node.key, node.value] if isinstance(
                node, gast.DictComp) else [node.elt]
            for position, generator in enumerate(node.generators):
                parts += [generator.target, *generator.ifs]
                if position:
                    parts.append(generator.iter)
        else:
            continue
        scoped.update(n for part in parts for n in walk(part)
                      if isinstance(n, gast.Name) and n.id in bound)
    return scoped


def bound_parameter_nodes(arguments):
    """Return the Name nodes of the parameters of a function or lambda,
    from its `arguments` node."""
    return [a for a in (arguments.posonlyargs + arguments.args
                        + arguments.kwonlyargs
                        + [arguments.vararg, arguments.kwarg])
            if a is not None]


def bound_names(statement):
    """Names that `statement` binds other than through a `Name` node: by an
    import, a def or class statement, or a capture pattern of `match`."""
    names = []
    for node in walk(statement):
        if isinstance(node, (gast.Import, gast.ImportFrom)):
            names += [(a.asname or a.name).split('.')[0] for a in node.names
                      if a.name != '*']
        elif isinstance(node, (gast.MatchAs, gast.MatchStar)) and \
                node.name is not None:
            names.append(node.name)  # The capture of `case float() as t`.
        elif isinstance(node, gast.MatchMapping) and node.rest is not None:
            names.append(node.rest)
        elif isinstance(node, (gast.FunctionDef, gast.AsyncFunctionDef,
                               gast.ClassDef)) and node is not statement:
            names.append(node.name)
    if isinstance(statement, (gast.FunctionDef, gast.AsyncFunctionDef,
                              gast.ClassDef)):
        names.append(statement.name)
    return names


# Built-in functions that never change their arguments.
READ_ONLY_BUILTINS = frozenset({
    'len', 'isinstance', 'issubclass', 'type', 'str', 'repr', 'format',
    'print', 'id', 'hash', 'hasattr', 'getattr', 'callable', 'bool', 'int',
    'float', 'sorted', 'tuple', 'list', 'set', 'frozenset', 'min', 'max',
    'abs', 'round', 'any', 'all', 'enumerate', 'zip', 'range',
})


def mutated_names(node):
    """Names of locals that `node` may change in place: `v.method(...)`,
    `v[i] = ...`, `v.attr = ...`, `del v[i]`, and any argument of a call
    (np.copyto(v, ...)) other than a read-only built-in's."""
    names = set()
    for child in walk(node.statement):
        bases = []
        if isinstance(child, gast.Call):
            if isinstance(child.func, gast.Attribute):
                bases.append(child.func.value)
            if not (isinstance(child.func, gast.Name)
                    and child.func.id in READ_ONLY_BUILTINS):
                bases += list(child.args) + [k.value for k in child.keywords]
        elif isinstance(child, (gast.Subscript, gast.Attribute)) and \
                isinstance(child.ctx, (gast.Store, gast.Del)):
            bases.append(child.value)
        names.update(b.id for b in bases if isinstance(b, gast.Name))
    return names


def stores_into_objects(node):
    """True if `node` assigns or deletes an attribute or an item
    (`v.attr = ...`, `[o][0].a = ...`, `del v[i]`)."""
    return any(isinstance(child, (gast.Subscript, gast.Attribute))
               and isinstance(child.ctx, (gast.Store, gast.Del))
               for child in walk(node.statement))


def expand(tree):
    """Replace every `Verbatim` node in `tree` by its statement, in place,
    and return `tree`.

    A `Verbatim` node is a statement, so it is always an item of a list
    (a block). The walk goes into its `reads` and `writes` names, which are
    inside the statement, and finds nothing to replace there.
    """
    for node in walk(tree):
        for field in node._fields:
            block = getattr(node, field, None)
            if isinstance(block, list):
                for position, item in enumerate(block):
                    if isinstance(item, Verbatim):
                        block[position] = item.statement
    return tree
