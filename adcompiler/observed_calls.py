"""Calls through a module held in a variable, compiled for the function that
earlier calls ran.

A call `xp.f(...)` with `xp` a local name is resolved when it runs (see
adcompiler.dispatch), because `xp` is known only then. SciPy's functions
call NumPy this way: `xp = array_namespace(x)` returns array_api_compat's
NumPy namespace, whose `sum` is `np.sum` itself with NumPy 2.4 and SciPy
1.17.1. The dispatcher records, per call site, the module and the function
such a call ran (`Compiler.observed_calls`).

Code compiled for the arguments' shapes (adcompiler.known_shapes) is
compiled after the general code ran once. There, a top-level statement

    y = xp.f(a, k=b)

whose site has run only one function F, of one module, with a registered
rule, becomes

    require_attribute(xp, 'f', observed_f_line12)
    y = observed_f_line12(a, k=b)

with `observed_f_line12` bound to F and `require_attribute` to
`runtime.require_attribute` in the generated module. F's rule is then
inlined like the rule of any call of a global, and the later passes see a
call of F (np.sum's compact cotangent, its shape). The check raises
`runtime.GuardFailed` when `xp.f` is another object, and `grad` then runs
the general code. It goes right after the assignment of `xp` (first, for a
parameter), so that only the statements before that run twice.
"""

import typing

import gast

from adcompiler import runtime
from adcompiler.resolve import CallKind, classify, has_unpacking
from adcompiler.traversal import name_bindings

# The value in `Compiler.observed_calls` of a call site that ran functions
# of more than one module, or more than one function.
SEVERAL_CALLEES = 'several callees'


class ObservedCall(typing.NamedTuple):
    """The value in `Compiler.observed_calls` of a call site that has run
    one function of one module."""
    receiver: object
    function: object


def observed_call_key(location, method):
    """Return the key of a method call in `Compiler.observed_calls`: its
    file, line and column in the source, and the method's name."""
    return (location.filename, location.lineno, location.col_offset, method)


def call_observed_functions(normalized, source, observed, registry):
    """Rewrite the top-level statements of `normalized.tree` that call a
    function of a module held in a local name, as the module docstring
    shows, and return `source` with the new names in its namespace (the
    same `source` when nothing changed). Each entry of `observed` that a
    rewrite relies on goes to `normalized.observed_entries`."""
    statements = normalized.tree.body
    guards_after = {}  # statement index (-1: the start) -> its guards
    added = {}
    for statement in statements:
        function = _observed_function(statement, normalized, source,
                                      observed, registry)
        if function is None:
            continue
        call = statement.value
        receiver, method = call.func.value.id, call.func.attr
        if not added:
            added[_fresh(normalized, source, 'require_attribute')] = \
                runtime.require_attribute
        guard_name = next(iter(added))
        function_name = _fresh(normalized, source,
                               f'observed_{method}_line{call.lineno}')
        added[function_name] = function

        guard = gast.Expr(value=gast.Call(
            func=gast.Name(id=guard_name, ctx=gast.Load(), annotation=None,
                           type_comment=None),
            args=[gast.Name(id=receiver, ctx=gast.Load(), annotation=None,
                            type_comment=None),
                  gast.Constant(value=method, kind=None),
                  gast.Name(id=function_name, ctx=gast.Load(),
                            annotation=None, type_comment=None)],
            keywords=[]))
        gast.copy_location(guard, statement)
        gast.copy_location(guard.value, call)
        position = _guard_position(statements, statement, receiver,
                                   normalized)
        guards_after.setdefault(position, []).append(guard)
        call.func = gast.copy_location(gast.Name(
            id=function_name, ctx=gast.Load(), annotation=None,
            type_comment=None), call.func)
    if not added:
        return source
    body = list(guards_after.get(-1, ()))
    for index, statement in enumerate(statements):
        body.append(statement)
        body.extend(guards_after.get(index, ()))
    normalized.tree.body = body
    namespace = dict(source.namespace)
    namespace.update(added)
    return type(source)(source.function, source.tree, source.filename,
                        source.lines, namespace)


def _guard_position(statements, statement, receiver, normalized):
    """Return the index of the top-level statement after which the check of
    `receiver` goes, -1 for the start of the function.

    A failed check makes `grad` run the general code from the start, so
    the statements before the check run twice. The check therefore goes
    right after the one assignment of `receiver`, or first when `receiver`
    is a parameter that the function never assigns. Otherwise it stays
    before the call in `statement`.
    """
    bindings, _ = name_bindings(normalized.tree)
    if receiver in normalized.params:
        if bindings[receiver] == 1:
            return -1
    elif bindings.get(receiver) == 1:
        for index, candidate in enumerate(statements):
            if (isinstance(candidate, gast.Assign)
                    and len(candidate.targets) == 1
                    and isinstance(candidate.targets[0], gast.Name)
                    and candidate.targets[0].id == receiver):
                return index
    return statements.index(statement) - 1


def _observed_function(statement, normalized, source, observed, registry):
    """Return the function that the call of `statement`, `y = xp.f(...)`,
    has always run, when it has a registered rule; otherwise None."""
    if not (isinstance(statement, gast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], gast.Name)
            and isinstance(statement.value, gast.Call)):
        return None
    call = statement.value
    func = call.func
    if not (isinstance(func, gast.Attribute)
            and isinstance(func.value, gast.Name)
            and func.value.id in normalized.local_names
            and not has_unpacking(call)):
        return None
    key = observed_call_key(source.location(call), func.attr)
    seen = observed.get(key)
    if seen is None or seen is SEVERAL_CALLEES:
        return None
    if classify(seen.function, func.attr, registry).kind is not CallKind.RULE:
        return None
    normalized.observed_entries.append((observed, key, seen))
    return seen.function


def _fresh(normalized, source, base):
    """Return a name from `base` that neither the function's namespace nor
    its local names use."""
    name = normalized.namer.fresh(base)
    while name in source.namespace:
        name = normalized.namer.fresh(base)
    return name
