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
  Forgetting a compound statement forgets the statements nested in it.
  A statement made new needs nothing, since the table is keyed by the
  statement object and holds a reference to it.

So a table is made by one function and handed only to the passes that it
runs, each of which keeps it current as above (see
`adcompiler.grad_only.grad_only_primal` and `adcompiler.optimize.optimize`).
A pass that only renames `Name` nodes of a kept statement (changes their
`id`, but adds, removes and moves no node) may call `renamed(statement)`
instead of `forget`, which sorts the names again without a walk.

A table made with `kinds` also keeps, from the same walk, the nodes of
those classes in each kept statement (`nodes`), so that passes that look
for calls, operators or constants need no walk of their own.

Setting `CHECK` to true makes every lookup compare the table's entry with
a new walk and raise `AssertionError` on a difference. Tests set it to
find a pass that changed a statement without calling `forget`.
"""

import gast

from adcompiler.traversal import find_nodes, name_nodes, statement_nodes

# When true, each lookup checks its entry against a new walk (see the
# module docstring). Tests set it; compilation leaves it false.
CHECK = False

_LOAD, _STORE, _DEL = gast.Load, gast.Store, gast.Del

# The statements whose names the table keeps: none contains a statement.
_KEPT_CLASSES = (gast.Assign, gast.AugAssign, gast.AnnAssign, gast.Expr,
                 gast.Return, gast.Delete)
_KEPT = frozenset(_KEPT_CLASSES)


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
    """A table from statements to their `NameUses` and to the nodes of
    the classes in `kinds` that they contain. The module docstring
    describes who keeps it current."""

    def __init__(self, kinds=()):
        """Make an empty table that also keeps the nodes of `kinds`, a
        tuple of expression classes that `traversal.find_nodes` finds."""
        self.kinds = tuple(kinds)
        self._searched = (gast.Name,) + self.kinds
        self._checked_kinds = set()  # arguments of `nodes` found valid
        # id(statement) -> [statement, uses, found]. `uses` is the
        # statement's NameUses, or None after `renamed` until they are
        # sorted again. `found` lists its Name nodes and nodes of `kinds`
        # in walk order, or is None for an entry made by `record`. The
        # statement is held so that its id is not reused while the entry
        # exists.
        self._entries = {}

    def uses(self, statement):
        """Return the `NameUses` of `statement`, walking it only when the
        table has none for it."""
        entry = self._entries.get(id(statement))
        if entry is None:
            entry = self._walk(statement)
        else:
            if entry[1] is None:  # renamed since it was sorted
                entry[1] = NameUses(node for node in entry[2]
                                    if node.__class__ is gast.Name)
            if CHECK:
                self._check(entry)
        return entry[1]

    def nodes(self, statement, kinds):
        """Return the nodes of `kinds` in `statement`, in the order of
        `traversal.walk`, where `kinds` is a class of the table's `kinds`
        or `gast.Name`, or a tuple of those.

        Raises ValueError for another class, whose nodes the table does
        not keep."""
        if kinds not in self._checked_kinds:
            for kind in kinds if isinstance(kinds, tuple) else (kinds,):
                if kind not in self._searched:
                    raise ValueError(
                        f'a StatementNames table made without '
                        f'{kind.__name__} among its kinds cannot return '
                        f'{kind.__name__} nodes. This is a bug in '
                        f'adcompiler.')
            self._checked_kinds.add(kinds)
        entry = self._entries.get(id(statement))
        if entry is None or entry[2] is None:
            entry = self._walk(statement)
        elif CHECK:
            self._check(entry)
        return [node for node in entry[2] if isinstance(node, kinds)]

    def record(self, statement, name_nodes_found):
        """Keep the names of `statement`, given `name_nodes_found`, what
        `name_nodes(statement)` returns, found by the caller's own walk."""
        if statement.__class__ in _KEPT:
            self._entries[id(statement)] = [
                statement, NameUses(name_nodes_found), None]

    def renamed(self, statement):
        """Note that a pass changed the `id` of some `Name` nodes of
        `statement`, and nothing else in it. Its names are sorted again,
        without a walk, when they are next requested."""
        entry = self._entries.get(id(statement))
        if entry is None or entry[2] is None:
            # No nodes to sort again, or a compound statement whose
            # nested statements may have entries.
            self.forget(statement)
            return
        entry[1] = None

    def forget(self, statement):
        """Drop what the table has on `statement`, which is about to
        change, and on the statements nested in it."""
        self._entries.pop(id(statement), None)
        if statement.__class__ not in _KEPT:
            for nested in statement_nodes(statement, _KEPT_CLASSES):
                self._entries.pop(id(nested), None)

    def clear(self):
        """Drop every entry, after a pass that changed statements without
        saying which."""
        self._entries.clear()

    def _walk(self, statement):
        """Walk `statement` once and return its entry, which the table
        keeps when the statement is of a kept class."""
        found = find_nodes(statement, self._searched) if self.kinds else None
        if found is None:
            entry = [statement, NameUses(name_nodes(statement)), None]
        else:
            entry = [statement, NameUses(node for node in found
                                         if node.__class__ is gast.Name),
                     found]
        if statement.__class__ in _KEPT:
            self._entries[id(statement)] = entry
        return entry

    def _check(self, entry):
        statement, uses, found = entry
        if uses is None:
            uses = NameUses(node for node in found
                            if node.__class__ is gast.Name)
        fresh = NameUses(name_nodes(statement))
        same_names = all(getattr(fresh, kind) == getattr(uses, kind)
                         for kind in NameUses.__slots__)
        same_nodes = True
        if found is not None:
            fresh_nodes = find_nodes(statement, self._searched)
            same_nodes = len(fresh_nodes) == len(found) and all(
                new is old for new, old in zip(fresh_nodes, found))
        if not (same_names and same_nodes):
            raise AssertionError(
                f'stale StatementNames entry for the statement at line '
                f'{getattr(statement, "lineno", "?")}: a pass changed it '
                f'without calling forget(); this is a bug in adcompiler')
