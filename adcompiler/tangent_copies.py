"""Write a reassignment in a tangent function as one statement per value.

With control flow, normalize writes `x = x * 1.1` as `t = x * 1.1` and
`x = t`, and the forward stage follows each statement with its tangent:

    t4 = x * 1.1
    dt4 = dx * 1.1
    x = t4
    dx = dt4

`rejoin_copies` writes these four statements as

    x = x * 1.1
    dx = dx * 1.1

where that computes the same values. The statements must follow each
other in one block, and `t` and `dt` must be assigned once and read
nowhere else. The tangent may read `t`, which becomes `x`, but must not
read `x`, because it would then read the new value. Where `t` has no
tangent, `t = E` and `x = t` become `x = E`.
"""

import collections

import gast

from adcompiler.traversal import name_nodes, statement_blocks


def rejoin_copies(function, temporaries, tangents):
    """Rewrite the statements in the module docstring in all blocks of
    `function`. `temporaries` are the names that normalize made, and
    `tangents` maps a name to the name of its tangent."""
    loads = collections.Counter()
    stores = collections.Counter()
    for node in name_nodes(function):
        counts = loads if isinstance(node.ctx, gast.Load) else stores
        counts[node.id] += 1
    counts = (loads, stores)
    for block in statement_blocks(function):
        position = 0
        while position < len(block):
            if not _rejoin_at(block, position, temporaries, tangents,
                              counts):
                position += 1


def _target(statement):
    """Return the name that `statement` assigns, if it is `name = value`."""
    if (isinstance(statement, gast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], gast.Name)):
        return statement.targets[0].id
    return None


def _copies(statement, source):
    """Return the target of `target = source`, or None."""
    target = _target(statement)
    if target is None or target == source:
        return None
    value = statement.value
    if isinstance(value, gast.Name) and value.id == source:
        return target
    return None


def _rejoin_at(block, position, temporaries, tangents, counts):
    """Rewrite the statements from `position` on if they have the form in
    the module docstring; return whether they did."""
    loads, stores = counts
    temporary = _target(block[position])
    if temporary not in temporaries or stores[temporary] != 1:
        return False
    tangent = tangents.get(temporary)
    following = block[position + 1:position + 4]
    if tangent is not None and following and \
            _target(following[0]) == tangent:
        return _rejoin_with_tangent(block, position, tangents, counts)

    # Without a tangent: `t = E` and `x = t`.
    if not following or tangent is not None and loads[tangent]:
        return False
    target = _copies(following[0], temporary)
    if target is None or loads[temporary] != 1:
        return False
    block[position].targets[0].id = target
    del block[position + 1]
    return True


def _rejoin_with_tangent(block, position, tangents, counts):
    """Rewrite `t = E`, `dt = E2`, `x = t` and `dx = dt` from `position` on
    as `x = E` and `dx = E2`, where that computes the same values."""
    loads, stores = counts
    definition, tangent_definition, *copies = block[position:position + 4]
    temporary = _target(definition)
    tangent = _target(tangent_definition)
    if len(copies) < 2:
        return False
    target = _copies(copies[0], temporary)
    if (target is None or tangents.get(target) is None
            or _copies(copies[1], tangent) != tangents[target]
            or stores[tangent] != 1 or loads[tangent] != 1):
        return False

    # The tangent may read the temporary, which becomes the target, but
    # not the target, whose new value it would then read.
    reads = [n for n in name_nodes(tangent_definition.value)
             if isinstance(n.ctx, gast.Load)]
    if any(n.id == target for n in reads):
        return False
    if loads[temporary] != 1 + sum(n.id == temporary for n in reads):
        return False
    for node in reads:
        if node.id == temporary:
            node.id = target
    tangent_definition.targets[0].id = tangents[target]
    definition.targets[0].id = target
    del block[position + 2:position + 4]
    return True
