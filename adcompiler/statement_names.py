"""The names that statements read and write, found once per statement.

Several optimizer passes ask, of each statement of a function, which names
it reads (`Load`) and which it assigns (`Store`) or deletes (`Del`). Each
such question walks the statement's expressions: the grad-only primal
walked each statement for its names up to seven times. A `StatementNames`
table walks a statement once, with `name_nodes`, and answers later
questions about the same statement object from the table.

A table is only as current as the code that uses it keeps it:

- only assignments, expression statements, returns and `del` statements
  are kept. Other statements (`if`, `for`, `try`, ...) are walked at each
  request, because passes rebuild their blocks in place;
- a pass that changes a kept statement in place, or any node inside it,
  must call `forget(statement)` before the table is asked about it again.
  A statement made new needs nothing, since the table is keyed by the
  statement object and holds a reference to it.

So a table is made by one function and handed only to the passes that it
runs, each of which keeps it current as above (see
`adcompiler.grad_only.grad_only_primal`).
"""

import gast

from adcompiler.traversal import name_nodes

_LOAD, _STORE, _DEL = gast.Load, gast.Store, gast.Del

# The statements whose names the table keeps: none contains a statement.
_KEPT = frozenset((gast.Assign, gast.AugAssign, gast.AnnAssign, gast.Expr,
                   gast.Return, gast.Delete))


class NameUses:
    """The names in one statement by context, each list in the order of
    `traversal.walk`: `loads`, `stores`, `deletes`, and `others` (the
    `Param` names of a lambda's parameters)."""

    __slots__ = ('loads', 'stores', 'deletes', 'others')

    def __init__(self, name_nodes_found):
        """Sort `name_nodes_found`, the `Name` nodes of a statement in
        the order of `walk`, by their contexts."""
        loads, stores, deletes, others = [], [], [], []
        for node in name_nodes_found:
            # No gast context class has a subclass.
            context = node.ctx.__class__
            if context is _LOAD:
                loads.append(node.id)
            elif context is _STORE:
                stores.append(node.id)
            elif context is _DEL:
                deletes.append(node.id)
            else:
                others.append(node.id)
        self.loads, self.stores, self.deletes, self.others = (
            loads, stores, deletes, others)


class StatementNames:
    """A table from statements to their `NameUses`; see the module
    docstring for who keeps it current."""

    def __init__(self):
        # id(statement) -> (statement, its NameUses). The statement is held
        # so that its id is not reused while the entry exists.
        self._entries = {}

    def uses(self, statement):
        """Return the `NameUses` of `statement`, walking it only when the
        table has none for it."""
        entry = self._entries.get(id(statement))
        if entry is not None:
            return entry[1]
        uses = NameUses(name_nodes(statement))
        if statement.__class__ in _KEPT:
            self._entries[id(statement)] = statement, uses
        return uses

    def record(self, statement, name_nodes_found):
        """Keep the names of `statement`, given `name_nodes_found`, what
        `name_nodes(statement)` returns, found by the caller's own walk."""
        if statement.__class__ in _KEPT:
            self._entries[id(statement)] = statement, NameUses(
                name_nodes_found)

    def forget(self, statement):
        """Drop what the table has on `statement`, which is about to
        change."""
        self._entries.pop(id(statement), None)
