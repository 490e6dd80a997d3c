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

Calls whose callee is known only when they run are resolved here too,
where their receiver is known when compiling: a function of an array
namespace that a rule fixes (`call_known_namespaces`), and a method with a
rule of an object made by a known class (`call_methods_of_known_classes`).
"""

import inspect
import types

import gast

from adcompiler.resolve import resolve_call
from adcompiler.traversal import find_nodes, name_bindings, walk


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
    false_names = set()
    for assignment, resolved in _calls_assigned_once(normalized, namespace,
                                                     registry):
        check = registry.lookup_false_check(resolved.callee)
        if check is None:
            continue
        check_name = normalized.namer.fresh(check.__name__)
        namespace[check_name] = check
        assignment.value.func = _load(check_name)
        false_names.add(assignment.targets[0].id)
    if false_names:
        normalized.tree.body = _folded(normalized.tree.body, false_names)


def _calls_assigned_once(normalized, namespace, registry, params=True):
    """Yield (assignment, resolved call) for each `name = f(...)` of
    `normalized` that is the only binding of `name`, where `f` is a name or
    an attribute. With `params` False, parameters' names are left out."""
    bindings, assignments = name_bindings(normalized.tree)
    for assignment in assignments:
        name = assignment.targets[0].id
        call = assignment.value
        if bindings[name] != 1 or not (
                isinstance(call, gast.Call)
                and isinstance(call.func, (gast.Name, gast.Attribute))):
            continue
        if not params and name in normalized.params:
            continue
        yield assignment, resolve_call(call, normalized.local_names,
                                       namespace, registry)


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


def call_known_namespaces(normalized, namespace, registry):
    """Call the functions of an array namespace that a rule fixes (see
    `Registry.known_namespace`) directly, in `normalized`.

    After `xp = array_namespace(x)` comes `check(xp)`, which raises unless
    `xp` is the namespace the rule gives, and each `xp.f(...)` becomes
    `xp_f(...)`, with `xp_f` bound to that namespace's `f` in `namespace`.
    Such calls are then resolved when compiling, like calls of a global,
    instead of when they run (adcompiler.dispatch). Only a name assigned
    once, from a call of a name that the namespace binds to the callee, is
    followed.
    """
    marked = registry.known_namespace_ids()
    if not marked or not any(id(value) in marked
                             for value in namespace.values()):
        return
    modules = {}  # local name -> the namespace module it is bound to
    checks = {}  # id of an assignment of such a name -> its check
    for assignment, resolved in _calls_assigned_once(
            normalized, namespace, registry, params=False):
        name = assignment.targets[0].id
        known = registry.lookup_known_namespace(resolved.callee)
        if known is None:
            continue
        module, check = known
        check_name = normalized.namer.fresh(check.__name__)
        namespace[check_name] = check
        checks[id(assignment)] = gast.copy_location(gast.Expr(
            value=gast.Call(func=_load(check_name), args=[_load(name)],
                            keywords=[])), assignment)
        modules[name] = module
    if not modules:
        return
    _insert_after(normalized.tree, checks)
    functions = {}  # (local name, attribute) -> the global name bound to it
    for node in walk(normalized.tree):
        if not (isinstance(node, gast.Call)
                and isinstance(node.func, gast.Attribute)
                and isinstance(node.func.value, gast.Name)
                and node.func.value.id in modules):
            continue
        receiver, attr = node.func.value.id, node.func.attr
        function = getattr(modules[receiver], attr, None)
        if function is None or isinstance(function, types.ModuleType):
            continue  # Left to fail, or to be dispatched, when it runs.
        key = (receiver, attr)
        if key not in functions:
            functions[key] = normalized.namer.fresh(f'{receiver}_{attr}')
            namespace[functions[key]] = function
            normalized.namespace_calls[functions[key]] = attr
        node.func = _load(functions[key])


def call_methods_of_known_classes(normalized, namespace, registry):
    """Call a method with a rule directly where its receiver is known to be
    an instance of one class, in `normalized`.

    `y = r.method(a)` becomes `y = C_method(r, a)`, with `C_method` bound to
    the function `C.method` in `namespace`. The local `r` must be assigned
    once, from a call of a class `C` that does not override `__new__`, so
    the call returns an instance of `C`. Those instances must have no
    `__dict__`, which could hide the method. Only a method with a rule or a
    substitute (see `Registry.substitute`) is rewritten, and `C_method` is
    bound to the substitute where there is one, as the dispatcher calls it.
    The call is then differentiated by its rule when compiling instead of
    being dispatched when it runs.
    """
    receivers = {node.func.value.id
                 for node in find_nodes(normalized.tree, gast.Call)
                 if isinstance(node.func, gast.Attribute)
                 and isinstance(node.func.value, gast.Name)
                 and node.func.value.id in normalized.local_names}
    if not receivers:
        return
    bindings, assignments = name_bindings(normalized.tree)
    classes = {}  # local name -> the class of its value
    for assignment in assignments:
        name = assignment.targets[0].id
        call = assignment.value
        if name not in receivers:
            continue
        if bindings[name] != 1 or name in normalized.params or not (
                isinstance(call, gast.Call)
                and isinstance(call.func, (gast.Name, gast.Attribute))):
            continue
        callee = resolve_call(call, normalized.local_names, namespace,
                              registry).callee
        if (type(callee) is type and callee.__new__ is object.__new__
                and not callee.__dictoffset__):
            classes[name] = callee
    if not classes:
        return
    functions = {}  # (class, method) -> the global name bound to it
    for node in walk(normalized.tree):
        if not (isinstance(node, gast.Call)
                and isinstance(node.func, gast.Attribute)
                and isinstance(node.func.value, gast.Name)
                and node.func.value.id in classes):
            continue
        receiver, method = node.func.value, node.func.attr
        owner = classes[receiver.id]
        function = inspect.getattr_static(owner, method, None)
        if not isinstance(function, types.FunctionType) or (
                registry.substitute_of(function) is function
                and registry.lookup(function) is None):
            continue
        key = (owner, method)
        if key not in functions:
            functions[key] = normalized.namer.fresh(
                f'{owner.__name__}_{method}')
            namespace[functions[key]] = registry.substitute_of(function)
        node.func = _load(functions[key])
        node.args = [_load(receiver.id)] + list(node.args)


def _insert_after(node, statements):
    """Insert `statements[id(s)]` after each statement `s` in the blocks
    of `node`, at any depth."""
    for field in ('body', 'orelse', 'finalbody'):
        block = getattr(node, field, None)
        if not (isinstance(block, list) and block
                and isinstance(block[0], gast.stmt)):
            continue
        result = []
        for statement in block:
            _insert_after(statement, statements)
            result.append(statement)
            if id(statement) in statements:
                result.append(statements[id(statement)])
        setattr(node, field, result)
    for handler in getattr(node, 'handlers', None) or ():
        _insert_after(handler, statements)


def _load(name):
    return gast.Name(id=name, ctx=gast.Load(), annotation=None,
                     type_comment=None)
