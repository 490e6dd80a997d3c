"""Save a value on the tape once where two statements in a row save it.

Part of the reverse stage. After each statement, the primal pushes the
values that the statement's adjoint reads, and the adjoint pops them at the
start of that statement's block. In

    t1 = np.tanh(row)
    tape.append(t1)
    t2 = t1 * row
    tape.append((t1, row))

both pushes save the object in `t1`. The adjoint pops the second entry
first, so `t1` contains that object again when the first entry is popped,
unless some adjoint code between the two pops assigns `t1`. Where no
statement from the first push to the second one assigns `t1`, and no
adjoint code between the two pops does, the first push and its pop drop
`t1`. A push or pop left empty is removed.

The first push may also save `v` as its shape (`ad.shape_and_kind(v)`),
and the second one `v` or its shape. Then the first block reads the
second entry in place of its own, provided that no statement changes `v`
in place. A value pushed as a copy
(`ad.snapshot(v)`) is left as it is.

The two statements must be simple statements of one block, with no loop,
branch or other compound statement between them.
"""

import dataclasses

import gast

from adcompiler.traversal import name_nodes, walk
from adcompiler.verbatim import Verbatim

_COMPOUND = (gast.If, gast.For, gast.While, gast.Try, gast.With,
             gast.ExceptHandler)


@dataclasses.dataclass
class TapeEntries:
    """The reverse stage's records of one function's tape entries.

    `pushed` maps a statement to the names its push saves, in order, and is
    changed in place. `shapes` maps a statement to {name: the name its pop
    binds} for the names its push saves as shapes. `snapshots` contains the
    names pushed as copies, and `changeable` the names that statements may
    change in place. `pops` maps a statement to the `x, y = tape.pop()`
    that starts its adjoint block, and `blocks` maps each statement to its
    adjoint statements.
    """

    pushed: dict
    shapes: dict = dataclasses.field(default_factory=dict)
    snapshots: frozenset = frozenset()
    changeable: frozenset = frozenset()
    pops: dict = dataclasses.field(default_factory=dict)
    blocks: dict = dataclasses.field(default_factory=dict)


def drop_repeated_pushes(statements, entries, adjoint_body):
    """Drop repeated names from the pushes of `statements` and the blocks
    inside them, and from their pops in `adjoint_body` (see the module
    docstring)."""
    previous = None
    assigned = set()  # names assigned since the push of `previous`
    between = []  # the statements after `previous`
    for statement in statements:
        if isinstance(statement, _COMPOUND) or isinstance(statement,
                                                          Verbatim):
            for block in _inner_blocks(statement):
                drop_repeated_pushes(block, entries, adjoint_body)
            previous = None
            continue
        stores = {node.id for node in name_nodes(statement)
                  if isinstance(node.ctx, gast.Store)}
        if previous is not None and entries.pushed.get(statement):
            renames = {}
            for name in entries.pushed[previous]:
                if name in entries.pushed[statement] and \
                        name not in assigned and name not in stores:
                    later = _reusable(name, previous, statement, between,
                                      entries)
                    if later is not None:
                        renames[name] = later
            if renames:
                _drop(previous, renames, entries, adjoint_body)
        assigned |= stores
        between.append(statement)
        if entries.pushed.get(statement):
            previous, assigned, between = statement, set(), []


def _inner_blocks(statement):
    if isinstance(statement, Verbatim):
        return []
    blocks = [getattr(statement, field, None)
              for field in ('body', 'orelse', 'finalbody')]
    blocks += [handler.body for handler in getattr(statement, 'handlers', ())]
    return [block for block in blocks if isinstance(block, list)]


def _reusable(name, earlier, later, between, entries):
    """Return the name that the pop of `later` binds to the value of `name`
    if the block of `earlier` can read it in place of its own entry, or
    None."""
    if name in entries.snapshots:
        return None
    earlier_shapes = entries.shapes.get(earlier, {})
    later_shapes = entries.shapes.get(later, {})
    if name not in earlier_shapes and name in later_shapes:
        return None  # The earlier block reads more than the shape.
    if name in earlier_shapes and name in entries.changeable:
        return None  # Its shape may change in place in between.
    bound = later_shapes.get(name, name)
    if _adjoint_assigns(bound, later, between, entries):
        return None
    return bound


def _adjoint_assigns(name, statement, between, entries):
    """True if adjoint code between the pop of `statement` and the pop of
    the push before `between` may assign `name`."""
    pop = entries.pops.get(statement)
    code = [s for s in entries.blocks.get(statement, []) if s is not pop]
    for earlier in between:
        code += entries.blocks.get(earlier, [])
    return any(isinstance(node, gast.Name) and node.id == name
               and not isinstance(node.ctx, gast.Load)
               for part in code for node in walk(part))


def _drop(statement, renames, entries, adjoint_body):
    """Drop the names in `renames` from the push and pop of `statement`,
    and read the names `renames` maps them to in its adjoint block."""
    pop = entries.pops.get(statement)
    pushed = entries.pushed[statement]
    if pop is None:
        return
    target = pop.targets[0]
    targets = target.elts if isinstance(target, gast.Tuple) else [target]
    if len(targets) != len(pushed):
        return
    bound = {targets[k].id: renames[name]
             for k, name in enumerate(pushed) if name in renames}
    for part in entries.blocks.get(statement, []):
        if part is pop:
            continue
        for node in walk(part):
            if isinstance(node, gast.Name) and node.id in bound:
                node.id = bound[node.id]
    kept = [k for k, name in enumerate(pushed) if name not in renames]
    if not kept:
        del entries.pushed[statement]
        _remove(adjoint_body, pop)
        return
    entries.pushed[statement] = [pushed[k] for k in kept]
    remaining = [targets[k] for k in kept]
    if len(remaining) == 1:
        pop.targets[0] = remaining[0]
    else:
        target.elts = remaining


def _remove(statements, node):
    """Remove `node` from the statement list that contains it."""
    for position, statement in enumerate(statements):
        if statement is node:
            del statements[position]
            return True
        for block in _inner_blocks(statement):
            if _remove(block, node):
                return True
    return False
