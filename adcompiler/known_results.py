"""Fold the branches on library checks that are False for the values
adcompiler differentiates.

Library code branches on checks such as SciPy's `is_marray(xp)`, which is
True only for masked arrays, and adcompiler differentiates NumPy arrays
only. A rule marks such a check with `Registry.false_check(callee, check)`,
where `check` takes the callee's arguments, raises where the callee would
return True, and returns False. In normalized code, `t = callee(...)`
becomes `t = check(...)`, and `if t:` keeps only its else branch, so the
other branch is neither differentiated nor compiled.

Input: a `NormalizedFunction` after normalize, its namespace and the
registry. The tree is changed in place, and `check` is added to the
namespace under a fresh name. Only a name assigned once, from a call of a
name that the namespace binds to the callee, is folded, and only in
`if name:`.
"""

import gast

from adcompiler.resolve import resolve_call
from adcompiler.traversal import name_bindings


def fold(normalized, namespace, registry):
    """Fold the branches on calls marked with `Registry.false_check` in
    `normalized`, as the module docstring describes."""
    # Only a callee that the namespace binds is looked for, which skips the
    # walk for every other function. A check reached through an attribute
    # (`module.is_marray(xp)`) is not folded, and still runs as written.
    marked = registry.false_check_ids()
    if not marked or not any(id(value) in marked
                             for value in namespace.values()):
        return
    bindings, assignments = name_bindings(normalized.tree)
    false_names = set()
    for assignment in assignments:
        name = assignment.targets[0].id
        call = assignment.value
        if bindings[name] != 1 or not (
                isinstance(call, gast.Call)
                and isinstance(call.func, (gast.Name, gast.Attribute))):
            continue
        resolved = resolve_call(call, normalized.local_names, namespace,
                                registry)
        check = registry.lookup_false_check(resolved.callee)
        if check is None:
            continue
        check_name = normalized.namer.fresh(check.__name__)
        namespace[check_name] = check
        call.func = gast.Name(id=check_name, ctx=gast.Load(), annotation=None,
                              type_comment=None)
        false_names.add(name)
    if false_names:
        normalized.tree.body = _folded(normalized.tree.body, false_names)


def _folded(statements, false_names):
    """Return `statements` with each `if name:` on a name in `false_names`
    replaced by its else branch, in nested blocks too. A block that would
    be left empty keeps its `if`, whose test is the check, which is False."""
    result = []
    for statement in statements:
        if (isinstance(statement, gast.If)
                and isinstance(statement.test, gast.Name)
                and statement.test.id in false_names):
            result.extend(_folded(statement.orelse, false_names))
            continue
        for field in ('body', 'orelse', 'finalbody'):
            block = getattr(statement, field, None)
            if isinstance(block, list) and block and isinstance(
                    block[0], gast.stmt):
                setattr(statement, field, _folded(block, false_names))
        handlers = getattr(statement, 'handlers', None)
        for handler in handlers or ():
            handler.body = _folded(handler.body, false_names)
        result.append(statement)
    return result or statements
