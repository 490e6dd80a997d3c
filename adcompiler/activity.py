"""Activity stage: find the values that carry a derivative.

Input: a `NormalizedFunction`, its `Resolution`, and the names of the
parameters to differentiate with respect to. Output: an `Activity` record.

A value is *varied* if it depends, through operations that have a
derivative, on a differentiated parameter; it is *useful* if the returned
value depends on it through such operations. Only values that are both are
*active*, and only active values get adjoints. Comparisons, indices,
attributes such as `.shape`, and calls registered as non-differentiable
break the dependence, so bookkeeping around the derivative runs in the
primal as written.

A method call `v.f(...)` with an array-method rule is differentiated by
that rule when `v` is varied and proven to contain an array or a number
(see adcompiler.array_receivers). Otherwise `v` may contain a module or
namespace (`xp.sum(x, axis=0)` after `xp = array_namespace(x)`), an
object of a user's class, or a constant array: every argument may then
carry a derivative, and the call is dispatched at run time to the rule of
what `v.f` turns out to be (`Activity.dispatched_calls`). The dispatcher's
wrapper of an array method differentiates the array too, so that it does
not dispatch again.

A rule may mark its callee itemwise (`Registry.itemwise`): item i of the
tuple it returns depends only on argument i, so in `a, b = t` after
`t = xp_promote(x, y)`, `a` is varied only if `x` is. Both stay useful
through `t`, whose rule carries their adjoints.

The analysis is flow-insensitive over names, which is exact for the
single-assignment code that normalize produces.
"""

import builtins
import dataclasses
import inspect
import sys

import gast
import numpy as np

from adcompiler import runtime
from adcompiler.array_receivers import array_names
from adcompiler.errors import UnsupportedSyntaxError
from adcompiler.resolve import CallKind, has_unpacking
from adcompiler.rules import NON_DIFFERENTIABLE, REGISTRY
from adcompiler.traversal import name_bindings, walk
from adcompiler.verbatim import Verbatim, mutated_names, stores_into_objects


@dataclasses.dataclass
class Activity:
    """Which names carry a derivative, and which input each depends on."""

    varied: set
    useful: set
    origin: dict  # varied name -> the differentiated parameter it depends on
    # Method calls on a receiver that is not varied, or not proven to be
    # an array, resolved at run time.
    dispatched_calls: set = dataclasses.field(default_factory=set)
    # Names proven to contain an array or a number (see
    # adcompiler.array_receivers).
    arrays: set = dataclasses.field(default_factory=set)

    def is_active(self, name):
        return name in self.varied and name in self.useful


def analyze(normalized, resolution, wrt, registry=REGISTRY,
            object_params=frozenset()):
    """Compute the `Activity` of `normalized` with respect to `wrt` names.

    `object_params` describes the arguments that hold objects of a user's
    class (see `object_operands.describe_arguments`), whose methods are
    not given the rules of array methods.
    """
    edges = []  # (target names, source names that carry a derivative)
    returned = set()
    # Edges of method calls with an array rule: (edge, the receiver, the
    # call, every name the call reads); see the module docstring.
    method_edges = []
    kept_verbatim = []
    # Unpackings of an itemwise result (see `_itemwise_sources`): the edges
    # by which values are varied, item by item, and those by which they are
    # useful, through the whole result.
    varied_only = []
    useful_only = []
    itemwise = _itemwise_results(normalized, resolution, registry)
    for statement in normalized.nodes_of((gast.Assign, gast.For, gast.Expr,
                                          Verbatim, gast.Return)):
        if isinstance(statement, gast.Assign):
            target = statement.targets[0]
            by_item = _itemwise_sources(statement, itemwise)
            if by_item is not None:
                varied_only.extend(by_item)
                useful_only.append(([e.id for e in target.elts],
                                    [statement.value.id]))
                continue
            sources = carrying_names(statement.value, resolution, registry)
            receiver = _rule_method_receiver(statement.value, resolution)
            if receiver is not None and isinstance(target, gast.Name):
                edge = ([target.id], sources)
                edges.append(edge)
                method_edges.append((edge, receiver, statement.value,
                                     _call_names(statement.value)))
                continue
            if isinstance(target, gast.Subscript):
                # x[i] = v: the new x depends on v and on the rest of x.
                edges.append(([target.value.id], sources + [target.value.id]))
                continue
            targets = ([target.id] if isinstance(target, gast.Name)
                       else [e.id for e in target.elts])
            edges.append((targets, sources))
        elif isinstance(statement, gast.For):
            if statement not in normalized.key_loops:
                # The keys of a dict carry no derivative: a float key that
                # carries one is rejected where it is stored.
                edges.extend(_iteration_edges(statement))
        elif isinstance(statement, gast.Expr) and _is_container_update(
                statement.value):
            # lst.append(v): the list now depends on v and on what it held.
            call = statement.value
            receiver = call.func.value.id
            sources = [n for a in call.args for n in _names(a)]
            edges.append(([receiver], sources + [receiver]))
        elif isinstance(statement, gast.Expr) and _is_undo_write(
                statement.value, resolution):
            # ad.restore_item(x, index, old) in generated adjoint code
            # writes old into x, as x[index] = old does, and
            # ad.undo_pop(x, index, old) puts old back into the list x.
            x, _, old = statement.value.args
            edges.append((_names(x), _names(old) + _names(x)))
        elif isinstance(statement, Verbatim):
            edges.append(([n.id for n in statement.writes],
                          [n.id for n in statement.reads]))
            kept_verbatim.append(statement)
        elif isinstance(statement, gast.Return):
            returned.update(_names(statement.value))

    arrays = array_names(normalized, resolution, wrt, object_params)
    varied = set(wrt)
    origin = {name: name for name in wrt}
    changed = True
    while changed:
        changed = False
        # A receiver that is not varied (yet), or not proven to be an
        # array, lets every argument through. Names found varied stay
        # varied, so the result over-approximates.
        for (targets, sources), receiver, _, every in method_edges:
            if receiver not in varied or receiver not in arrays:
                sources[:] = every
        for targets, sources in edges + varied_only:
            carried = [s for s in sources if s in varied]
            if not carried:
                continue
            for target in targets:
                if target not in varied:
                    varied.add(target)
                    origin[target] = origin[carried[0]]
                    changed = True

    useful = set(returned)
    changed = True
    while changed:
        changed = False
        for targets, sources in reversed(edges + useful_only):
            if any(t in useful for t in targets):
                new = set(sources) - useful
                if new:
                    useful |= new
                    changed = True
    dispatched = {call for _, receiver, call, _ in method_edges
                  if receiver not in varied or receiver not in arrays}
    activity = Activity(varied, useful, origin, dispatched, arrays)
    for statement in kept_verbatim:
        check_verbatim(statement, activity)
    return activity


def check_verbatim(statement, activity):
    """Raise the error of a statement kept verbatim if it carries a
    derivative: it reads a varied value and assigns a useful one, may
    change a varied or useful value in place, or stores into an attribute
    or item (`box.v = x * 3.0`), where a later read through any name that
    refers to the object would see the value without its derivative. A
    raise statement never does, as the function then returns no value."""
    if isinstance(statement.statement, gast.Raise):
        return
    if not any(n.id in activity.varied for n in statement.reads):
        return
    if any(n.id in activity.useful for n in statement.writes) or any(
            name in activity.useful or name in activity.varied
            for name in mutated_names(statement) - statement.fresh) \
            or stores_into_objects(statement):
        raise statement.error


# Functions that read the function's local variables by name, which
# activity analysis does not see: the builtins (vars only with no
# argument), and those that return the running frame, whose f_locals
# contains them.
NAMESPACE_READERS = (builtins.eval, builtins.exec, builtins.locals,
                     builtins.vars, sys._getframe, inspect.currentframe,
                     inspect.stack)


def check_namespace_reads(normalized, resolution, activity, source):
    """Raise UnsupportedSyntaxError for a call of eval, exec, locals,
    vars(), sys._getframe, inspect.currentframe or inspect.stack that may
    pass a derivative along unseen, in a function with varied values.

    The call may read a varied local variable by name. That matters where
    the output may depend on its result, and for exec, and for eval as a
    statement, whose code may also update a value that the output reads.
    """
    if not activity.varied:
        return
    for statement in normalized.nodes_of((gast.Assign, gast.Expr)):
        if not isinstance(statement.value, gast.Call):
            continue
        call = statement.value
        resolved = resolution.calls.get(call)
        callee = getattr(resolved, 'callee', None)
        if not any(callee is reader for reader in NAMESPACE_READERS) or (
                callee is builtins.vars and call.args):
            continue
        if isinstance(statement, gast.Assign) and callee is not exec and \
                not any(isinstance(target, gast.Name)
                        and target.id in activity.useful
                        for target in walk(statement.targets[0])):
            continue
        raise namespace_read_error(resolved.name, source.location(call))


def namespace_read_error(callee_name, location, construct=None):
    """Return the error for a call of `callee_name` (eval, locals,
    sys._getframe, ...) at `location` in a differentiated function."""
    return UnsupportedSyntaxError(
        construct or f'a call of {callee_name}() in a differentiated '
        'function', location,
        f'{callee_name}() reads local variables by name, so adcompiler '
        'cannot follow the derivatives they carry',
        fixes=['use the variables directly',
               'move the call to a function that gets no value that '
               'carries a derivative'])


def check_object_casts(normalized, resolution, activity, source):
    """Raise UnsupportedSyntaxError for a cast of a varied value to object
    dtype (`x.astype(object)`, `np.array(x, dtype=object)`) whose result
    the output may depend on. The rules of NumPy functions assume numeric
    arrays, and their adjoints of a cast to object dtype would be zero."""
    if not activity.varied:
        return
    for statement in normalized.nodes_of(gast.Assign):
        if not (isinstance(statement.value, gast.Call)
                and any(isinstance(target, gast.Name)
                        and target.id in activity.useful
                        for target in walk(statement.targets[0]))):
            continue
        call = statement.value
        if not any(name in activity.varied for name in _call_names_of(call)):
            continue
        dtype = _dtype_argument(call, resolution.calls.get(call))
        if dtype is None or not _is_object_dtype(dtype, source.namespace,
                                                 normalized.local_names):
            continue
        raise UnsupportedSyntaxError(
            'a cast of a value that carries a derivative to object dtype',
            source.location(call),
            'the rules of NumPy functions are written for numeric arrays',
            fixes=['keep a float dtype (float, np.float64 or complex)'])


def check_caught_exceptions(normalized, activity, source):
    """Raise UnsupportedSyntaxError for an `except ... as e` handler whose
    exception the output may depend on (`y = e.args[0]`), in a function
    with varied values. An exception's arguments may carry a value with a
    derivative, which adcompiler does not follow through the raise."""
    if not activity.varied:
        return
    for node in normalized.nodes_of(gast.ExceptHandler):
        if node.name is not None and node.name.id in activity.useful:
            raise UnsupportedSyntaxError(
                f'reading the caught exception {node.name.id!r} into a '
                'value that the result depends on', source.location(node),
                'adcompiler does not follow derivatives through the '
                'arguments of an exception, so they would be dropped',
                fixes=['assign the value to a variable before raising, and '
                       'raise only a flag or a message'])


def _call_names_of(call):
    """Return the names that `call` reads: its receiver and arguments."""
    receiver = (_names(call.func.value)
                if isinstance(call.func, gast.Attribute) else [])
    return receiver + [n for a in call.args for n in _names_in(a)] + [
        n for k in call.keywords for n in _names_in(k.value)]


def _dtype_argument(call, resolved):
    """Return the node of the dtype that `call` casts to, or None."""
    for keyword in call.keywords:
        if keyword.arg == 'dtype':
            return keyword.value
    callee = getattr(resolved, 'callee', None)
    if isinstance(call.func, gast.Attribute) and call.func.attr == 'astype' \
            and call.args:
        return call.args[0]
    if any(callee is f for f in (np.array, np.asarray, np.asanyarray)) and \
            len(call.args) >= 2:
        return call.args[1]
    return None


def _is_object_dtype(node, namespace, local_names):
    """Return whether the dtype `node` (a constant, a global name or a
    dotted global) is known when compiling to be object dtype."""
    if isinstance(node, gast.Constant):
        value = node.value
    elif isinstance(node, gast.Name) and node.id not in local_names:
        value = namespace.get(node.id, getattr(builtins, node.id, None))
    elif isinstance(node, gast.Attribute) and isinstance(node.value,
                                                         gast.Name):
        module = namespace.get(node.value.id)
        value = getattr(module, node.attr, None)
    else:
        return False
    if value is None or isinstance(value, (bool, int, float)):
        return False
    try:
        return np.dtype(value) == np.dtype(object)
    except (TypeError, ValueError):
        return False


def _itemwise_results(normalized, resolution, registry):
    """Return the names assigned once, from a call of a function that the
    registry marks itemwise (`t = xp_promote(pk, qk)`), mapped to that
    call's positional arguments."""
    if not any(registry.is_itemwise(resolved.callee)
               for resolved in resolution.calls.values()):
        return {}
    bindings, assignments = name_bindings(normalized.tree, normalized.index)
    return {node.targets[0].id: node.value.args for node in assignments
            if bindings[node.targets[0].id] == 1
            and isinstance(node.value, gast.Call)
            and not any(isinstance(a, gast.Starred) for a in node.value.args)
            and registry.is_itemwise(getattr(
                resolution.calls.get(node.value), 'callee', None))}


def _itemwise_sources(statement, itemwise):
    """Return the edges of `a, b = t` for an itemwise result `t`: each
    target from the names of its own argument; None for other statements."""
    target = statement.targets[0]
    value = statement.value
    if not (isinstance(target, gast.Tuple) and isinstance(value, gast.Name)
            and value.id in itemwise
            and len(target.elts) == len(itemwise[value.id])
            and all(isinstance(e, gast.Name) for e in target.elts)):
        return None
    return [([element.id], _names(argument)) for element, argument in zip(
        target.elts, itemwise[value.id], strict=True)]


def _rule_method_receiver(value, resolution):
    """Return the receiver name of `v.f(...)` when f has an array-method
    rule, else None."""
    if not isinstance(value, gast.Call):
        return None
    resolved = resolution.calls[value]
    if resolved.kind is not CallKind.METHOD or resolved.rule is None:
        return None
    receiver = value.func.value
    return receiver.id if isinstance(receiver, gast.Name) else None


def _call_names(call):
    return _names(call.func.value) + [n for a in call.args for n in _names(a)] \
        + [n for k in call.keywords for n in _names(k.value)]


# Container methods whose arguments end up inside the container.
CONTAINER_UPDATES = frozenset({'append', 'extend', 'insert', 'update',
                               'setdefault', 'add'})
# lst.pop() also changes the list, which keeps depending on what it held.


def _is_undo_write(call, resolution):
    resolved = resolution.calls.get(call)
    return (getattr(resolved, 'callee', None) in (runtime.restore_item,
                                                  runtime.undo_pop)
            and len(call.args) == 3)


def _is_container_update(call):
    return (isinstance(call, gast.Call) and isinstance(call.func,
                                                       gast.Attribute)
            and call.func.attr in CONTAINER_UPDATES
            and isinstance(call.func.value, gast.Name))


def _iteration_edges(loop):
    """Edges from a loop's iterable to the targets its elements are bound to."""
    target = loop.target
    names = ([target.id] if isinstance(target, gast.Name)
             else [e.id for e in target.elts])
    iterable = loop.iter
    if not isinstance(iterable, gast.Call):
        return [(names, _names(iterable))]
    function = iterable.func.id
    args = iterable.args
    if function == 'range':
        return []
    if function == 'enumerate' and len(names) == 2:
        return [([names[1]], _names(args[0]))]
    if function == 'zip' and len(names) == len(args):
        return [([n], _names(a)) for n, a in zip(names, args, strict=True)]
    # reversed(x), or an unpacking that the reverse stage rejects if active.
    return [(names, [n for a in args for n in _names(a)])]


def carrying_names(value, resolution, registry=REGISTRY):
    """Return the names read by `value` that its result can depend on smoothly."""
    if isinstance(value, (gast.Name,)):
        return [value.id]
    if isinstance(value, (gast.Constant, gast.Compare, gast.JoinedStr)):
        return []
    if isinstance(value, gast.BinOp):
        if isinstance(value.op, (gast.FloorDiv, gast.BitAnd, gast.BitOr,
                                 gast.BitXor, gast.LShift, gast.RShift)):
            return []
        return _names(value.left) + _names(value.right)
    if isinstance(value, gast.UnaryOp):
        if isinstance(value.op, (gast.Not, gast.Invert)):
            return []
        return _names(value.operand)
    if isinstance(value, gast.Subscript):
        return _names(value.value)
    if isinstance(value, gast.Attribute):
        if registry.lookup_attribute(value.attr) is NON_DIFFERENTIABLE:
            return []
        return _names(value.value)
    if isinstance(value, (gast.Tuple, gast.List)):
        return [n for e in value.elts for n in _names(e)]
    if isinstance(value, gast.Dict):
        return [n for v in value.values for n in _names(v)]
    if isinstance(value, gast.Call):
        return _call_carrying_names(value, resolution.calls[value])
    return [n for n in _names_in(value)]


def _call_carrying_names(call, resolved):
    if resolved.kind is CallKind.NON_DIFFERENTIABLE:
        return []
    receiver = []
    if resolved.kind is CallKind.METHOD:
        receiver = _names(call.func.value)
    elif resolved.kind is CallKind.UNKNOWN:
        # A called value (a model object with __call__) can carry a
        # derivative itself.
        receiver = _names(call.func)
    arguments = receiver + [n for a in call.args for n in _names(
        a.value if isinstance(a, gast.Starred) else a)] + [
        n for k in call.keywords for n in _names(k.value)]
    rule = resolved.rule
    if has_unpacking(call):
        return arguments  # Bound when the call runs.
    if resolved.kind in (CallKind.RULE, CallKind.METHOD) and rule is not None \
            and rule is not NON_DIFFERENTIABLE:
        template = getattr(rule, 'template', rule)
        if template is not None:
            return _differentiated_arguments(call, receiver, template)
    return arguments


def _differentiated_arguments(call, receiver, template):
    """Return the argument names bound to the parameters a template differentiates."""
    positional = [gast.Name(id=n, ctx=gast.Load(), annotation=None,
                            type_comment=None) for n in receiver] + list(
                                call.args)
    keywords = {k.arg: k.value for k in call.keywords}
    try:
        bound = template.signature.bind(*positional, **keywords)
    except TypeError:
        # The call does not match the rule's signature; reverse reports it.
        return [n for a in positional for n in _names(a)] + [
            n for v in keywords.values() for n in _names(v)]
    names = []
    for param in template.differentiated:
        value = bound.arguments.get(param)
        if isinstance(value, tuple):
            for item in value:
                names += _names(item)
        elif value is not None:
            names += _names(value)
    return names


def _names(node):
    if isinstance(node, gast.Starred):
        node = node.value  # *seq in a call reads seq.
    return [node.id] if isinstance(node, gast.Name) else []


def _names_in(node):
    return [n.id for n in walk(node) if isinstance(n, gast.Name)]
