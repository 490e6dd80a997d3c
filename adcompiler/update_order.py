"""Tell whether an object may be updated in place after a given statement.

Used by the aliasing check. Input: a normalized function body (after
control_flow, so every loop iteration runs its body to the end and `break`
is only the last statement of a loop body), a statement in it and a
variable name. `updated_after` returns True if some path after the
statement may change the variable's object in place (`x[i] = v`,
`x.append(v)`, a call that may write its argument) before the variable is
assigned a new object. Assigning the variable ends the search on that path,
because later updates through the name change another object.

Where it cannot tell, it returns True: a loop may run zero times, a try
statement may leave its body at any point, and a statement kept verbatim
that reads the variable counts as an update.
"""

import enum

import gast

from adcompiler import verbatim
from adcompiler.resolve import CallKind
from adcompiler.traversal import walk


class Effect(enum.Enum):
    """The change that running some statements makes to a variable's object."""

    NONE = 'none'  # neither updates it nor rebinds the variable
    REBINDS = 'rebinds'  # rebinds the variable on every path, first
    UPDATES = 'updates'  # may update it in place on some path, first


def updated_after(tree, statement, name, resolution, reads_only,
                  reads_count=False):
    """True if the object in `name` after `statement` may be updated in
    place later, before `name` is rebound.

    `reads_only(call, resolved, receiver)` is true for a call that never
    changes its arguments (a function that returns a new array), or its
    receiver when `receiver` is set (a method such as sum). With
    `reads_count`, any read of `name` counts as an update. The result is
    then true when the variable is used again before it is rebound.
    """
    parents = _statement_parents(tree)
    effects = _Effects(name, resolution, reads_only, reads_count)
    node = statement
    while node is not tree:
        block, owner = parents[id(node)]
        if isinstance(owner, (gast.Try, gast.ExceptHandler)):
            return True  # An exception may jump from any statement onward.
        effect = effects.sequence(block[block.index(node) + 1:])
        if effect is Effect.UPDATES:
            return True
        if effect is Effect.REBINDS:
            return False
        if isinstance(owner, (gast.For, gast.While)) and block is owner.body:
            # The next iteration runs the whole body again.
            if effects.iteration(owner) is Effect.UPDATES:
                return True
        node = owner
    return False


def may_update(node, name, resolution, reads_only):
    """True if running `node` may change the object in `name` in place."""
    return _Effects(name, resolution, reads_only).may_update(node)


def _statement_parents(tree):
    """Map id(statement) -> (the statement list, the node that owns it)."""
    parents = {}
    for node in walk(tree):
        for field in ('body', 'orelse', 'finalbody', 'handlers'):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for child in block:
                parents[id(child)] = (block, node)
    return parents


class _Effects:
    """Computes the `Effect` of statements on one variable's object."""

    def __init__(self, name, resolution, reads_only, reads_count=False):
        self.name = name
        self.resolution = resolution
        self.reads_only = reads_only
        self.reads_count = reads_count

    def sequence(self, statements):
        for statement in statements:
            effect = self.statement(statement)
            if effect is not Effect.NONE:
                return effect
        return Effect.NONE

    def statement(self, node):
        if isinstance(node, gast.If):
            if self.may_update(node.test):
                return Effect.UPDATES
            return _either(self.sequence(node.body),
                           self.sequence(node.orelse))
        if isinstance(node, (gast.For, gast.While)):
            return self.loop(node)
        if isinstance(node, gast.With):
            if any(self.may_update(item) for item in node.items):
                return Effect.UPDATES
            return self.sequence(node.body)
        if isinstance(node, gast.Try):
            blocks = [node.body, node.orelse, node.finalbody] + [
                handler.body for handler in node.handlers]
            if any(self.sequence(b) is Effect.UPDATES for b in blocks):
                return Effect.UPDATES
            return Effect.NONE
        if isinstance(node, verbatim.Verbatim):
            if self.name in verbatim.mutated_names(node) or any(
                    n.id == self.name for n in node.reads):
                return Effect.UPDATES
            return Effect.NONE
        if self.may_update(node):
            return Effect.UPDATES
        if isinstance(node, gast.Assign) and any(
                isinstance(n, gast.Name) and n.id == self.name
                and isinstance(n.ctx, gast.Store)
                for n in walk(node.targets[0])):
            return Effect.REBINDS
        return Effect.NONE

    def loop(self, node):
        """Return the effect of a loop. A for loop may run its body zero
        times, and `while True` runs it at least once."""
        if isinstance(node, gast.For) and self.may_update(node.iter):
            return Effect.UPDATES
        body = self.iteration(node)
        if body is Effect.UPDATES:
            return Effect.UPDATES
        runs_once = (isinstance(node, gast.While)
                     and isinstance(node.test, gast.Constant)
                     and node.test.value is True)
        return body if runs_once else Effect.NONE

    def iteration(self, loop):
        """Return the effect of one iteration, from the loop target on."""
        if isinstance(loop, gast.For) and any(
                isinstance(n, gast.Name) and n.id == self.name
                for n in walk(loop.target)):
            return Effect.REBINDS
        if isinstance(loop, gast.While) and self.may_update(loop.test):
            return Effect.UPDATES
        return self.sequence(loop.body)

    def may_update(self, node):
        """True if evaluating `node` may change the variable's object."""
        for child in walk(node):
            if isinstance(child, verbatim.Verbatim):
                return True
            if (self.reads_count and isinstance(child, gast.Name)
                    and child.id == self.name
                    and isinstance(child.ctx, gast.Load)):
                return True
            if isinstance(child, gast.Subscript) and isinstance(
                    child.ctx, (gast.Store, gast.Del)) and self.is_variable(
                        child.value):
                return True
            if isinstance(child, gast.Call) and self.call_may_update(child):
                return True
        return False

    def call_may_update(self, call):
        resolved = self.resolution.calls.get(call)
        receiver = getattr(call.func, 'value', None)
        if (isinstance(call.func, gast.Attribute)
                and self.is_variable(receiver)):
            # x.sum() reads x; x.append(v), x.sort() and unknown methods
            # may change it.
            return not (resolved is not None
                        and resolved.kind is CallKind.METHOD
                        and self.reads_only(call, resolved, True))
        arguments = list(call.args) + [k.value for k in call.keywords]
        arguments = [getattr(a, 'value', a) if isinstance(a, gast.Starred)
                     else a for a in arguments]
        if not any(self.is_variable(a) for a in arguments):
            return False
        return resolved is None or not self.reads_only(call, resolved, False)

    def is_variable(self, node):
        return isinstance(node, gast.Name) and node.id == self.name


def _either(first, second):
    """Return the effect of running one of two branches."""
    if Effect.UPDATES in (first, second):
        return Effect.UPDATES
    if first is second:
        return first
    return Effect.NONE
