"""Add index adjoints into an adjoint array in place.

`dx = ad.add(dx, ad.index_adjoint(g, x, i))` makes a zero array shaped like
`x`, adds it to `dx` and makes a third array for the sum. Written as
`dx = ad.index_accumulate(dx, g, x, i)` it adds `g` at `i` into the array of
`dx`, which is correct only while no other name refers to that array. Such a
name is *owned*. This pass proves ownership in two ways:

- in the whole function: every assignment to `dx`, in any block, is
  `dx = e` or `dx = ad.add(dx, e)` with `e` fresh, or already
  `dx = ad.index_accumulate(dx, ...)`. A fresh value is None, arithmetic, a
  call in `_FRESH_RESULTS`, or `a if t else b` of fresh values. Besides,
  `dx` is read only as the first argument of those calls, as an operand of
  arithmetic, in `dx is None` and `dx is not None`, in the final
  `return`, and in any way in the top-level statements after the last one
  that assigns `dx`. Then `dx` refers to None, to an array that only `dx`
  refers to, or to a read-only view, which `ad.index_accumulate` copies
  before it writes. Statements inside loops and branches are rewritten too: in a loop
  that reads one element per trip, this turns a zero array per trip into
  one for the whole loop.
- among top-level statements, from `dx = ad.index_adjoint(...)` until a
  statement reads `dx` in any other way or assigns it.

`ad.index_accumulate` also accepts `dx` None, and allocates where `x` is of
a type whose index adjoint is registered (that adjoint may return `g`
itself).
"""

import gast

from adcompiler.traversal import find_nodes, walk

# Runtime helpers whose result is a new array or a read-only view when
# `index_accumulate` could write into it: `index_adjoint` writes into new
# zeros, `sum_adjoint` returns `np.broadcast_to(...)`, and `mean_adjoint`
# divides that view.
_FRESH_RESULTS = frozenset(('index_adjoint', 'sum_adjoint', 'mean_adjoint'))


def accumulate_index_adjoints(function, runtime_alias, all_calls=None):
    """Rewrite `function` in place; see the module docstring.

    `all_calls`, if given, contains every call in `function` (and may
    contain others), so that finding none of `ad.index_adjoint` there
    needs no walk. Returns whether any statement changed.
    """
    calls = _RuntimeCalls(runtime_alias)
    if all_calls is None:
        all_calls = find_nodes(function, gast.Call)
    if not any(calls.is_call(node, ('index_adjoint',))
               for node in all_calls):
        # Both rewrites start from such a call. One walk here saves the
        # several that proving ownership takes in a long function.
        return False
    owned = _owned_names(function, calls)
    changed = False
    for statement in walk(function):
        if isinstance(statement, gast.Assign):
            target = _plain_target(statement)
            if target in owned and calls.adds_index_adjoint(statement):
                _to_index_accumulate(statement)
                changed = True
    return _accumulate_top_level(function, calls) or changed


class _RuntimeCalls:
    """Recognize calls of the runtime helpers in generated code."""

    def __init__(self, runtime_alias):
        self.runtime_alias = runtime_alias

    def is_call(self, node, names):
        return (isinstance(node, gast.Call) and not node.keywords
                and isinstance(node.func, gast.Attribute)
                and node.func.attr in names
                and isinstance(node.func.value, gast.Name)
                and node.func.value.id == self.runtime_alias)

    def adds_index_adjoint(self, statement):
        """True for `d = ad.add(d, ad.index_adjoint(g, x, i))` where the
        index adjoint does not read `d`."""
        target = _plain_target(statement)
        value = statement.value
        if not (self.is_call(value, ('add',)) and len(value.args) == 2
                and _is_name(value.args[0], target)):
            return False
        term = value.args[1]
        return (self.is_call(term, ('index_adjoint',)) and len(term.args) == 3
                and target not in _loads(term))


def _to_index_accumulate(statement):
    value = statement.value
    g, x, index = value.args[1].args
    value.func.attr = 'index_accumulate'
    value.args = [value.args[0], g, x, index]


def _owned_names(function, calls):
    """Return the names the whole function proves owned (see the module
    docstring)."""
    allowed = set()  # ids of the Name nodes that keep ownership
    for node in walk(function):
        if isinstance(node, gast.Assign):
            allowed.update(_owning_store(node, calls))
        elif isinstance(node, gast.BinOp):
            allowed.update((id(node.left), id(node.right)))
        elif isinstance(node, gast.UnaryOp) and not isinstance(node.op,
                                                               gast.Not):
            allowed.add(id(node.operand))
        elif isinstance(node, gast.Compare) and _is_none_test(node):
            allowed.add(id(node.left))
    if function.body and isinstance(function.body[-1], gast.Return):
        # Nothing runs after the return, so the array may escape there.
        allowed.update(id(node) for node in walk(function.body[-1])
                       if isinstance(node, gast.Name))
    allowed.update(_reads_after_last_store(function.body))

    candidates, disqualified = set(), set()
    for node in walk(function):
        if not isinstance(node, gast.Name):
            continue
        if id(node) not in allowed:
            disqualified.add(node.id)
        elif isinstance(node.ctx, gast.Store):
            candidates.add(node.id)
    return candidates - disqualified


def _reads_after_last_store(statements):
    """Return the ids of the reads of each name in the top-level statements
    after the last one that assigns the name.

    Nothing writes into the name's array after its last assignment, so
    such a read may keep a reference to it: `f(dx)` after the last
    `dx = ad.index_accumulate(dx, ...)`.
    """
    last_store = {}
    for position, statement in enumerate(statements):
        for node in walk(statement):
            if isinstance(node, gast.Name) and isinstance(node.ctx,
                                                          gast.Store):
                last_store[node.id] = position
    return [id(node)
            for position, statement in enumerate(statements)
            for node in walk(statement)
            if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load)
            and position > last_store.get(node.id, len(statements))]


def _owning_store(statement, calls):
    """Return the ids of the target and of the read of it in an assignment
    that keeps its target owned, or no ids for any other assignment."""
    target = _plain_target(statement)
    if target is None or not _is_fresh(statement.value, target, calls):
        return ()
    value = statement.value
    if calls.is_call(value, ('add', 'index_accumulate')):
        return id(statement.targets[0]), id(value.args[0])
    return (id(statement.targets[0]),)


def _is_fresh(value, target, calls):
    """True if `value` is None, a new array or a read-only view (or a
    number or container, which `index_accumulate` never writes into),
    given that `target` is one of these."""
    if isinstance(value, gast.Constant):
        return value.value is None
    if isinstance(value, gast.BinOp) or (
            isinstance(value, gast.UnaryOp)
            and isinstance(value.op, (gast.USub, gast.UAdd))):
        return True  # Arithmetic on an array makes a new array.
    if isinstance(value, gast.IfExp):
        return (_is_fresh(value.body, target, calls)
                and _is_fresh(value.orelse, target, calls))
    if calls.is_call(value, _FRESH_RESULTS):
        return True
    if not (calls.is_call(value, ('add', 'index_accumulate'))
            and value.args and _is_name(value.args[0], target)):
        return False
    # ad.add(d, e) returns e when d is None, so e must be fresh too.
    return value.func.attr == 'index_accumulate' or (
        len(value.args) == 2 and _is_fresh(value.args[1], target, calls))


def _accumulate_top_level(function, calls):
    """Rewrite top-level statements from an index adjoint on, while
    nothing else reads or assigns the name. Return whether any was
    rewritten."""
    owned = set()  # names whose array only this code refers to
    changed = False
    for statement in function.body:
        target = (_plain_target(statement)
                  if isinstance(statement, gast.Assign) else None)
        if target in owned and calls.adds_index_adjoint(statement):
            _to_index_accumulate(statement)
            changed = True
            continue
        for node in walk(statement):
            if isinstance(node, gast.Name):
                owned.discard(node.id)
        if target is not None and calls.is_call(statement.value,
                                                ('index_adjoint',)):
            owned.add(target)
    return changed


def _plain_target(statement):
    """Return the name an assignment to one plain name assigns, or None."""
    if len(statement.targets) == 1 and isinstance(statement.targets[0],
                                                  gast.Name):
        return statement.targets[0].id
    return None


def _is_name(node, name):
    return isinstance(node, gast.Name) and node.id == name


def _is_none_test(node):
    return (len(node.ops) == 1 and isinstance(node.ops[0],
                                              (gast.Is, gast.IsNot))
            and isinstance(node.left, gast.Name)
            and isinstance(node.comparators[0], gast.Constant)
            and node.comparators[0].value is None)


def _loads(node):
    return [n.id for n in walk(node)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)]
