"""Read an adjoint where it is, instead of moving it into a temporary.

With control flow, normalize writes `x = x * 1.1` as `t = x * 1.1` and
`x = t`, and the adjoint of the copy moves the adjoint of x into that of t:

    if dx is not None:            # the adjoint of `x = t`
        dt = dx
        dx = None
    if dt is not None:            # the adjoint of `t = x * 1.1`
        dx = dt * 1.1
        dt = None

This pass writes such a pair as

    if dx is not None:
        dx = dx * 1.1

when that is equivalent. Three conditions make it so. First, only the
move assigns `dt` a value other than None, so `dt` is None outside the
pair. Second, the statements between the two `if`s are assignments or
expressions that do not use dx or dt. Third, the second block assigns dx
exactly once, from an expression that does not read dx, and does not use
dx otherwise. When statements of that block after the assignment read dt,
the assignment moves below them if all of them are assignments to names
of arithmetic, NumPy calls and `ad.unbroadcast`, which change no object,
so the new order computes the same values.
"""

import gast

from adcompiler.traversal import name_nodes, statement_blocks, walk

# NumPy functions that write into an array argument.
_NUMPY_WRITERS = frozenset(('copyto', 'put', 'place', 'putmask',
                            'fill_diagonal', 'put_along_axis'))


def forward_moved_adjoints(function, numpy_alias, runtime_alias):
    """Rewrite the moves in the module docstring in all blocks of
    `function`; return whether anything changed."""
    movers = _move_counts(function)
    kept = {node.id for node in name_nodes(function.args)}
    for node in walk(function):
        if isinstance(node, gast.Return) and node.value is not None:
            kept.update(n.id for n in name_nodes(node.value))
    pure = _PureCheck(numpy_alias, runtime_alias)
    changed = False
    for block in statement_blocks(function):
        changed = _forward_in_block(block, movers, kept, pure) or changed
    return changed


def _move_counts(function):
    """Return name -> how many statements assign it a value other than the
    constant None."""
    counts = {}
    for node in walk(function):
        if isinstance(node, gast.Assign):
            if isinstance(node.value, gast.Constant) and \
                    node.value.value is None:
                continue
            targets = node.targets
        elif isinstance(node, (gast.AugAssign, gast.AnnAssign, gast.For)):
            targets = [node.target]
        else:
            continue
        for target in targets:
            for name in name_nodes(target):
                if isinstance(name.ctx, gast.Store):
                    counts[name.id] = counts.get(name.id, 0) + 1
    return counts


def _not_none_test(test):
    """Return the name tested by `name is not None`, or None."""
    if (isinstance(test, gast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], gast.IsNot)
            and isinstance(test.left, gast.Name)
            and isinstance(test.comparators[0], gast.Constant)
            and test.comparators[0].value is None):
        return test.left.id
    return None


def _assigns(statement, target, value=None):
    """True for `target = value`, where `value` is a name or None (the
    constant None)."""
    if not (isinstance(statement, gast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], gast.Name)
            and statement.targets[0].id == target):
        return False
    if value is None:
        return (isinstance(statement.value, gast.Constant)
                and statement.value.value is None)
    return isinstance(statement.value, gast.Name) and \
        statement.value.id == value


def _move(statement):
    """Return (source, temporary) for `if d is not None: t = d; d = None`,
    or None."""
    if not (isinstance(statement, gast.If) and not statement.orelse
            and len(statement.body) == 2):
        return None
    source = _not_none_test(statement.test)
    copy, reset = statement.body
    if source is None or not (isinstance(copy, gast.Assign)
                              and isinstance(copy.value, gast.Name)
                              and copy.value.id == source
                              and len(copy.targets) == 1
                              and isinstance(copy.targets[0], gast.Name)):
        return None
    temporary = copy.targets[0].id
    if temporary == source or not _assigns(reset, source):
        return None
    return source, temporary


def _mentions(statement, names):
    return any(node.id in names for node in name_nodes(statement))


def _forward_in_block(block, movers, kept, pure):
    changed = False
    position = 0
    while position < len(block):
        found = _move(block[position])
        if found is None or movers.get(found[1]) != 1 or found[1] in kept:
            position += 1
            continue
        source, temporary = found
        names = {source, temporary}
        later = position + 1
        # A break or a branch between the two would make the second block
        # run without the first one.
        while (later < len(block)
               and isinstance(block[later], (gast.Assign, gast.Expr))
               and not _mentions(block[later], names)):
            later += 1
        body = None
        if later < len(block):
            body = _forwarded_body(block[later], source, temporary, pure)
        if body is None:
            position += 1
            continue
        guard = gast.If(test=block[position].test, body=body, orelse=[])
        gast.copy_location(guard, block[later])
        block[later] = guard
        del block[position]
        changed = True
    return changed


def _forwarded_body(statement, source, temporary, pure):
    """Return the body of `if temporary is not None: ...` with the reads of
    `temporary` reading `source`, or None where that is not equivalent."""
    if not (isinstance(statement, gast.If) and not statement.orelse
            and _not_none_test(statement.test) == temporary
            and statement.body and _assigns(statement.body[-1], temporary)):
        return None
    body = statement.body[:-1]
    if not all(isinstance(s, (gast.Assign, gast.Expr)) for s in body):
        return None

    # The block assigns the source exactly once and reads it nowhere.
    writes = [k for k, s in enumerate(body) if _mentions_store(s, source)]
    if len(writes) != 1:
        return None
    at = writes[0]
    assignment = body[at]
    if not _assigns_name(assignment, source):
        return None
    if any(_mentions_load(s, source) for s in body):
        return None
    if any(_mentions_store(s, temporary) for s in body):
        return None

    # Statements after the assignment that read the temporary must run
    # before it, once the temporary and the source are one name.
    readers = [k for k in range(at + 1, len(body))
               if _mentions_load(body[k], temporary)]
    if readers:
        body = _moved_below(body, at, readers[-1], pure)
        if body is None:
            return None

    for node in walk(gast.Module(body=body, type_ignores=[])):
        if isinstance(node, gast.Name) and node.id == temporary:
            node.id = source
    return body


def _moved_below(body, at, last, pure):
    """Return `body` with its statement at `at` moved just below the one at
    `last`, or None when the statements involved are not all pure."""
    assignment = body[at]
    passed = body[at + 1:last + 1]
    if not (pure.statement(assignment)
            and all(pure.statement(s) for s in passed)):
        return None
    return body[:at] + passed + [assignment] + body[last + 1:]


def _assigns_name(statement, name):
    return (isinstance(statement, gast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], gast.Name)
            and statement.targets[0].id == name)


def _mentions_store(statement, name):
    return any(n.id == name and not isinstance(n.ctx, gast.Load)
               for n in name_nodes(statement))


def _mentions_load(statement, name):
    return any(n.id == name and isinstance(n.ctx, gast.Load)
               for n in name_nodes(statement))


class _PureCheck:
    """Decides whether an assignment can run in another order among
    others: its target is a name, and its value changes no object."""

    _NODES = (gast.Name, gast.Constant, gast.BinOp, gast.UnaryOp,
              gast.Compare, gast.IfExp, gast.Tuple, gast.Attribute,
              gast.Call, gast.keyword, gast.Load, gast.operator,
              gast.unaryop, gast.cmpop)

    def __init__(self, numpy_alias, runtime_alias):
        self.numpy_alias = numpy_alias
        self.runtime_alias = runtime_alias

    def statement(self, statement):
        if not (isinstance(statement, gast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.targets[0], gast.Name)):
            return False
        for node in walk(statement.value):
            if not isinstance(node, self._NODES):
                return False
            if isinstance(node, gast.Call) and not self.pure_call(node):
                return False
        return True

    def pure_call(self, call):
        """True for `np.f(...)` without `out=`, and `ad.unbroadcast(...)`."""
        func = call.func
        if not (isinstance(func, gast.Attribute)
                and isinstance(func.value, gast.Name)):
            return False
        if func.value.id == self.runtime_alias:
            return func.attr == 'unbroadcast'
        return (func.value.id == self.numpy_alias
                and func.attr not in _NUMPY_WRITERS
                and all(k.arg != 'out' for k in call.keywords))
