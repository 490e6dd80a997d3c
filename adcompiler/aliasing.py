"""Check that values updated in place are seen under one name only.

Used by the compiler between the activity and reverse stages. Input: a
normalized function, its resolution and activity, and its source. Output:
nothing, or an `UnsupportedSyntaxError`.

The reverse stage differentiates `x[i] = v`, `lst.append(v)` and the like by
recording what the update overwrites and undoing it in the adjoint. That is
exact only when no other name refers to the updated object: a view `r = x[0:2]`,
an alias `y = x`, a list that contains `x`, or a function that keeps or returns
it would change together with `x`, and the adjoint would not follow. So for
every value that is updated in place and carries a derivative:

- each assignment to its name makes a new object (arithmetic, a display, a
  function that returns a new array, `.copy()`), or the name is a parameter
  of the differentiated function (which the generated code copies);
- each read takes values, not a reference: arithmetic, comparisons,
  functions that return new arrays, `len`, attributes such as `.shape`,
  methods such as `.sum()`, a subscript used within the same line, `return`.
  A list (updated with append or extend) may also be iterated over and read
  into a variable, because its elements are never views. So may a dict
  (see `mapping_names`): `d[k] = v` rebinds an entry and writes no array.

A statement that does give the value a second name, puts it in a container
or takes a view of it (`u = un`, `rows.append(row)`) is still allowed when
no path after it updates that object in place (see update_order), and no
name that may come to refer to the object is updated in place either.
"""

import ast
import builtins
import copy
import dataclasses
import inspect
import types

import gast
import numpy as np

from adcompiler import closures, runtime, unshared_results, update_order
from adcompiler.errors import UnsupportedSyntaxError
from adcompiler.resolve import CallKind
from adcompiler.rules import numpy_compositions, operators
from adcompiler.rules.registry import REGISTRY
from adcompiler.traversal import name_nodes, walk
from adcompiler.verbatim import Verbatim

# File names of generated code start with this (see emit).
GENERATED_FILE_PREFIX = '<adcompiler '

# Calls that return a new object and keep no reference to their arguments.
NEW_OBJECT_FUNCTIONS = (
    np.sum, np.mean, np.prod, np.max, np.min, np.std, np.var, np.dot,
    np.matmul, np.zeros, np.ones, np.full, np.zeros_like, np.ones_like,
    np.full_like, np.outer, np.inner, np.cumsum, np.cumprod, np.linspace,
    np.arange, np.empty, np.empty_like, np.copy, np.eye, np.identity,
    np.amax, np.amin, np.shape, np.ndim, np.size, np.allclose,
    np.concatenate, np.stack, np.vstack, np.hstack, np.dstack,
    np.column_stack, np.append, np.tile, np.repeat, np.kron,
    np.array_equal, len, isinstance, id, print, float, int, bool, repr, str,
    np.sort, np.trace, np.cross, np.vdot, np.tensordot, np.diff, np.clip,
    np.where, np.average, np.ptp, np.nansum, np.nanmean, np.nanmax,
    np.nanmin, np.nanprod, np.nanvar, np.nanstd, np.nancumsum,
    np.nancumprod, np.nanmedian, np.nanquantile, np.nanpercentile,
    np.median, np.quantile, np.percentile,
    np.linalg.det,
    np.linalg.slogdet, np.linalg.inv, np.linalg.pinv, np.linalg.solve,
    np.linalg.norm, np.linalg.eigh, np.linalg.eigvalsh, np.linalg.eig,
    np.linalg.eigvals, np.linalg.cholesky, np.linalg.svd, np.linalg.qr,
    np.linalg.lstsq, np.fft.fft, np.fft.ifft, np.fft.fft2, np.fft.ifft2,
    np.fft.fftn, np.fft.ifftn, np.fft.rfft, np.fft.irfft, np.fft.rfftn,
    np.fft.irfftn, sum, abs,
    # Indices and tests: new arrays of integers or booleans, or numbers.
    np.argmax, np.argmin, np.nanargmax, np.nanargmin, np.argsort,
    np.argwhere, np.nonzero,
    np.flatnonzero, np.count_nonzero, np.searchsorted, np.any, np.all,
    # Runtime helpers in generated code that is differentiated again.
    runtime.zeros_like, runtime.copy, runtime.snapshot,
    runtime.tangent_write,
    runtime.broadcast_like, runtime.cast_adjoint, runtime.cast_tangent,
    runtime.cast_operand, runtime.extremum_tangent,
    runtime.bounded_extremum_tangent, runtime.initial_tangent,
    runtime.extremum_scan_tangent, runtime.added_at, runtime.subtracted_at,
    runtime.multiplied_at, runtime.multiplied_at_tangent,
    runtime.multiplied_at_adjoint,
    runtime.along_axis_index, runtime.put_along,
    runtime.nan_extremum_tangent,
    runtime.tangent_append, runtime.tangent_extend, runtime.check_unshared,
    runtime.old_item,
    # Pure forms of np.fill_diagonal, np.put and ndarray.fill (see
    # Registry.in_place).
    numpy_compositions.filled_diagonal, numpy_compositions.put_values,
    numpy_compositions.filled_values,
)

# Functions that return the array namespace of their arguments
# (array_api_compat.array_namespace, scipy._lib._array_api.array_namespace).
NAMESPACE_FUNCTIONS = frozenset({'array_namespace', 'get_namespace'})

# NumPy functions that allocate a new array whatever their arguments, so
# that an array namespace's function of the same name does too.
ARRAY_CREATION_FUNCTIONS = (
    np.zeros, np.ones, np.empty, np.full, np.zeros_like, np.ones_like,
    np.empty_like, np.full_like, np.arange, np.linspace, np.eye,
)


class _NewArrayFunctions:
    """The NumPy functions that return a new array: ufuncs, and those of
    NEW_OBJECT_FUNCTIONS and ARRAY_CREATION_FUNCTIONS."""

    def __contains__(self, function):
        if function is None:
            return False
        return isinstance(function, np.ufunc) or any(
            function is f
            for f in NEW_OBJECT_FUNCTIONS + ARRAY_CREATION_FUNCTIONS)


NEW_OBJECT_FUNCTIONS_OF_NAMESPACES = _NewArrayFunctions()


def namespace_names(normalized, resolution):
    """Return the names assigned once, by `xp = array_namespace(...)`, to
    the array namespace of some arrays, each mapped to None, and the global
    names bound to a namespace's functions (`normalized.namespace_calls`),
    each mapped to its function's name in the namespace."""
    names = dict(normalized.namespace_calls)
    for name, value in _single_definitions(normalized).items():
        resolved = (resolution.calls.get(value)
                    if isinstance(value, gast.Call) else None)
        if getattr(getattr(resolved, 'callee', None), '__name__',
                   None) in NAMESPACE_FUNCTIONS:
            names[name] = None
    return names


def namespace_function(call, resolved, namespaces):
    """Return the NumPy function that `call` reaches through an array
    namespace, or None.

    That is the `f` of `xp.f(...)`, with `xp` in `namespaces` (see
    `namespace_names`), or of `xp_f(...)`, a global in `namespaces` bound
    to such a function. A call with `out=` or `copy=` gets None.
    """
    if any(k.arg in ('out', 'copy', None) for k in call.keywords):
        return None
    if isinstance(call.func, gast.Name):
        attr = namespaces.get(call.func.id)
        # vars(np), because getattr warns for some names (np.str).
        return None if attr is None else vars(np).get(attr)
    if (resolved.kind is not CallKind.METHOD
            or not isinstance(call.func.value, gast.Name)
            or call.func.value.id not in namespaces):
        return None
    return vars(np).get(call.func.attr)

# Calls that return a new container (or a new array, for copy.copy) whose
# items are the items of their argument. The container is fresh, so an
# update of it (`c[i] = v`, `c.append(v)`) changes no other name, but its
# items are shared: these calls still count as reads that keep references.
# copy.deepcopy also copies the items, which this treats as shared.
FRESH_CONTAINER_FUNCTIONS = (list, tuple, dict, copy.copy, copy.deepcopy)

# Methods of arrays and lists that return values, not references.
VALUE_METHODS = frozenset({
    'sum', 'mean', 'max', 'min', 'prod', 'std', 'var', 'dot', 'any', 'all',
    'argmax', 'argmin', 'tolist', 'item', 'copy', 'count', 'index',
    'flatten',
})
# Array methods that return a view of their receiver and keep no other
# reference to it.
_FRESH_VIEW_METHODS = frozenset({'ravel', 'reshape', 'squeeze', 'transpose',
                                 'swapaxes'})
# Methods that update a list in place and are differentiated.
LIST_UPDATES = frozenset({'append', 'extend', 'insert', 'pop'})
METADATA = frozenset({'shape', 'ndim', 'size', 'dtype'})


def check_in_place_updates(normalized, resolution, activity, source):
    """Raise UnsupportedSyntaxError where an updated value may be shared."""
    if is_generated(source):
        return
    # The three checks share one set of names read by derivatives, found
    # only when one of them meets a call or method that it must judge.
    read = _DerivativeReads(normalized, activity)
    _check_out_arguments(normalized, resolution, activity, source, read)
    _check_in_place_methods(normalized, resolution, activity, source, read)
    _check_bound_in_place_methods(normalized, resolution, activity, source,
                                  read)
    # A container that a comprehension built is not updated after its loop,
    # so its uses after the loop cannot see an update.
    updated = _updated_names(normalized, activity)
    if not updated:
        return
    checker = _Checker(normalized, resolution, source, updated)
    for statement in normalized.nodes_of((gast.Assign, gast.Expr, gast.For,
                                          gast.Return, gast.If,
                                          gast.Assert)):
        checker.check(statement)
    _check_views(normalized, resolution, source, updated)


def _updated_names(normalized, activity):
    """Return the names updated in place that carry a derivative. A
    container that a comprehension built is not updated after its loop, so
    its uses after the loop cannot see an update."""
    return ((normalized.written | normalized.mutated) & activity.varied
            - normalized.built)


def container_reads(normalized, activity, resolution):
    """Statements `v = operator_getitem(c, key)` (a subscript of a value
    that may be an object, see adcompiler.object_operands) on a name c
    updated in place, where v is kept while c may be updated.

    For a list, a tuple or a dict, v is an item and no update of c changes
    it. An array's item may be a view, and an object's __getitem__ may
    return anything. So the generated code checks after the read that c is
    such a container, or an array that v is not a view of
    (`ad.require_unshared_item`), as it checks `v = x[i]` to be an element
    (see `element_reads`). A v that is used only before the next update of
    c needs no check, view or not (see `_kept_past_update`).
    The list also has the copies `t = c[:]`, which the generated code
    checks to be copies of a list, a tuple or a dict
    (`ad.require_container`, see `slice_copies`).
    """
    if activity is None:
        return []
    updated = _updated_names(normalized, activity)
    return _container_reads(normalized, resolution, updated) + slice_copies(
        normalized, resolution, updated)


def _container_reads(normalized, resolution, updated):
    """Return `container_reads` for the updated names `updated`."""
    if not updated:
        return []
    flows = definitions = None
    reads = []
    for block in _blocks(normalized.tree):
        for position, statement in enumerate(block):
            receiver = _item_read_receiver(statement, resolution)
            if receiver is None or receiver not in updated:
                continue
            if flows is None:
                flows = memory_flows(normalized, resolution)
                definitions = _single_definitions(normalized)
            if (_kept_past_update(normalized.tree, block, position,
                                  resolution, definitions, receiver)
                    and not _sharing_is_safe(
                        normalized, resolution, flows, statement,
                        {receiver}, _names_in(statement.targets[0]), False)):
                reads.append(statement)
    return reads


def slice_copies(normalized, resolution, updated):
    """Statements `t = c[:]` whose value a name updated in place gets, in
    `t` itself or in `n = t`, where the name is updated before it is
    rebound. For a list c, `c[:]` is a new list, but for an array it is a
    view, so the generated code checks that c is a list, a tuple or a dict
    (`ad.require_container`, see adcompiler.subscripts)."""
    return list(dict.fromkeys(
        copy for _, copy in _slice_copy_pairs(normalized, resolution,
                                              updated)))


def _slice_copy_pairs(normalized, resolution, updated):
    """Return (assignment, copy) for each assignment to an updated name
    whose value comes from the copy `t = c[:]` (see `slice_copies`). The
    checker accepts exactly these assignments, so that each has its
    run-time check."""
    slices = {}
    for statement in normalized.nodes_of(gast.Assign):
        target = statement.targets[0]
        if (isinstance(target, gast.Name)
                and _full_slice_base(statement.value) is not None):
            slices[target.id] = statement
    if not slices:
        return []
    definitions = _single_definitions(normalized)
    pairs = []
    for statement in normalized.nodes_of(gast.Assign):
        target = statement.targets[0]
        if not (isinstance(target, gast.Name) and target.id in updated):
            continue
        value = statement.value
        copy_statement = statement
        if isinstance(value, gast.Name) and value.id in definitions:
            copy_statement = slices.get(value.id)
            value = definitions[value.id]
        if copy_statement is None or _full_slice_base(value) is None:
            continue
        if update_order.updated_after(normalized.tree, statement, target.id,
                                      resolution, _leaves_unchanged_or_views):
            pairs.append((statement, copy_statement))
    return pairs


def _full_slice_base(value):
    """Return the name c of `c[:]`, else None."""
    if not (isinstance(value, gast.Subscript)
            and isinstance(value.value, gast.Name)
            and isinstance(value.slice, gast.Slice)):
        return None
    bounds = (value.slice.lower, value.slice.upper, value.slice.step)
    if all(b is None or (isinstance(b, gast.Constant) and b.value is None)
           for b in bounds):
        return value.value.id
    return None


def _item_read_receiver(statement, resolution):
    """Return the name c of `v = operator_getitem(c, key)`, else None."""
    if not (isinstance(statement, gast.Assign)
            and isinstance(statement.targets[0], gast.Name)
            and isinstance(statement.value, gast.Call)
            and statement.value.args
            and isinstance(statement.value.args[0], gast.Name)):
        return None
    resolved = resolution.calls.get(statement.value)
    if resolved is None or resolved.callee is not operators.getitem:
        return None
    return statement.value.args[0].id


def is_generated(source):
    """True for code that adcompiler generated, which is differentiated
    again for higher derivatives. It keeps references to arrays that it
    updates in place on purpose, on its tape and among its saved values:
    its adjoint undoes each update before it reads them."""
    return source.filename.startswith(GENERATED_FILE_PREFIX)


def mapping_names(normalized):
    """Names that always hold a dict.

    A dict's item write `d[k] = v` rebinds an entry and changes no array's
    memory, and a loop over it reads keys, so neither makes a view. A name
    counts when every assignment to it is a dict display (dict
    comprehensions build one), and it has one, or it is a parameter that
    a loop over its .items(), .values() or .keys() reads as a mapping.
    """
    displays, others = set(), set()
    for node in normalized.nodes_of((gast.Assign, gast.For)):
        if isinstance(node, gast.Assign):
            for target in name_nodes(node.targets[0]):
                if isinstance(target.ctx, gast.Store):
                    is_display = (target is node.targets[0]
                                  and isinstance(node.value, gast.Dict))
                    (displays if is_display else others).add(target.id)
        elif isinstance(node, gast.For):
            others.update(n.id for n in name_nodes(node.target))
    read_as_mapping = {loop.iter.id for loop in normalized.key_loops
                       if isinstance(loop.iter, gast.Name)}
    parameters = set(normalized.params) & read_as_mapping
    return (displays | parameters) - others


def written_arrays(normalized):
    """Names updated with x[i] = v that may be arrays, not dicts."""
    return normalized.written - mapping_names(normalized)


def _memory_sources(value, resolution, namespaces):
    """Names whose memory the value of an assignment may share.

    `namespaces` are the names of array namespaces (`namespace_names`).
    """
    if isinstance(value, gast.Name):
        return [value.id]
    if isinstance(value, gast.Subscript) and isinstance(value.value,
                                                        gast.Name):
        return [value.value.id]
    if isinstance(value, gast.Attribute) and isinstance(value.value,
                                                        gast.Name):
        return [] if value.attr in METADATA else [value.value.id]
    if isinstance(value, (gast.Tuple, gast.List)):
        return [e.id for e in value.elts if isinstance(e, gast.Name)]
    if isinstance(value, gast.Dict):
        return [v.id for v in value.values if isinstance(v, gast.Name)]
    if isinstance(value, gast.Call):
        resolved = resolution.calls.get(value)
        if resolved is not None and (
                _returns_new_object(value, resolved)
                or namespace_function(value, resolved, namespaces)
                in NEW_OBJECT_FUNCTIONS_OF_NAMESPACES
                or getattr(resolved.callee, '__name__', None)
                in NAMESPACE_FUNCTIONS):
            return []
        names = [a.id for a in list(value.args) + [k.value for k in
                                                   value.keywords]
                 if isinstance(a, gast.Name)]
        if isinstance(value.func, gast.Attribute) and isinstance(
                value.func.value, gast.Name):
            names.append(value.func.value.id)
        return names
    return []

@dataclasses.dataclass(frozen=True)
class Flow:
    """A statement after which each of `targets` may refer to the memory of
    one of `sources`."""

    statement: gast.AST
    targets: tuple
    sources: tuple
    # The targets keep the sources as items (a display, lst.append(v),
    # c[i] = v), rather than being other names or views of them.
    contains: bool = False
    # c[i] = v: an array copies v, so only a list or a dict keeps it.
    stored: bool = False


def _container_names(flows, holders):
    """`holders` and the names that `x = holder` copies them to, which
    refer to the same container. An update through such a name changes the
    container, not its items. Every other assignment to a name that is
    updated in place must make a new object (see `_Checker.check_new_object`),
    so such a name refers to no item while it is updated."""
    found = set(holders)
    changed = True
    while changed:
        changed = False
        for flow in flows:
            statement = flow.statement
            if (isinstance(statement, gast.Assign)
                    and isinstance(statement.targets[0], gast.Name)
                    and isinstance(statement.value, gast.Name)
                    and statement.value.id in found
                    and statement.targets[0].id not in found):
                found.add(statement.targets[0].id)
                changed = True
    return found


def memory_flows(normalized, resolution):
    """Every `Flow` of a function: assignments, loops, list updates and
    stores into containers."""
    definitions = _single_definitions(normalized)
    namespaces = namespace_names(normalized, resolution)
    flows = []
    for node in walk(normalized.tree):
        if isinstance(node, gast.Assign):
            target, value = node.targets[0], node.value
            if isinstance(target, gast.Subscript):
                if isinstance(target.value, gast.Name) and isinstance(
                        value, gast.Name):
                    flows.append(Flow(node, (target.value.id,),
                                       (value.id,), True, True))
                continue
            flows += _assignment_flows(node, target, value, resolution,
                                       definitions, namespaces)
        elif isinstance(node, gast.For):
            flows.append(Flow(node, _names_in(node.target),
                               _names_in(node.iter)))
        elif (isinstance(node, gast.Expr)
              and isinstance(node.value, gast.Call)
              and isinstance(node.value.func, gast.Attribute)
              and node.value.func.attr in LIST_UPDATES
              and isinstance(node.value.func.value, gast.Name)):
            flows.append(Flow(
                node, (node.value.func.value.id,),
                tuple(a.id for a in node.value.args
                      if isinstance(a, gast.Name)), True))
    return flows


def _assignment_flows(statement, target, value, resolution, definitions,
                      namespaces):
    """Flows of `target = value`. Unpacking a tuple display that is
    assigned once pairs each target with its own item, so that
    `a, b = t` after `t = (x[0], y)` makes only `a` refer to x."""
    if isinstance(target, (gast.Tuple, gast.List)) and isinstance(
            value, gast.Name):
        display = definitions.get(value.id)
        if (isinstance(display, (gast.Tuple, gast.List))
                and len(display.elts) == len(target.elts)
                and not any(isinstance(e, gast.Starred)
                            for e in display.elts + target.elts)):
            return [Flow(statement, _names_in(element),
                          _memory_sources(item, resolution, namespaces))
                    for element, item in zip(target.elts, display.elts,
                                             strict=True)]
    contains = isinstance(value, (gast.Tuple, gast.List, gast.Dict))
    return [Flow(statement, _names_in(target),
                  tuple(_memory_sources(value, resolution, namespaces)),
                  contains)]


def _single_definitions(normalized):
    """Map each name assigned exactly once, by `name = value`, in the
    normalized function to value."""
    definitions, counts = {}, {}
    for node in normalized.nodes_of((gast.Name, gast.Assign)):
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
            counts[node.id] = counts.get(node.id, 0) + 1
        if isinstance(node, gast.Assign) and isinstance(node.targets[0],
                                                        gast.Name):
            definitions[node.targets[0].id] = node.value
    return {name: value for name, value in definitions.items()
            if counts.get(name) == 1}


def _names_in(node):
    return tuple(n.id for n in name_nodes(node))


def reachable(flows, names):
    """`names` and every name that may come to refer to their memory."""
    return _closure(flows, names, forward=True)


def sources(flows, names):
    """`names` and every name whose memory they may have come from."""
    return _closure(flows, names, forward=False)


def _closure(flows, names, forward):
    """`names` and every name that `flows` connect to them, following each
    flow from its sources to its targets, or back with `forward` False."""
    found = set(names)
    changed = True
    while changed:
        changed = False
        for flow in flows:
            start, end = ((flow.sources, flow.targets) if forward
                          else (flow.targets, flow.sources))
            if found.intersection(start) and not found.issuperset(end):
                found.update(end)
                changed = True
    return found


def _leaves_unchanged(call, resolved, receiver):
    """True if `call` does not change its arguments, or, when `receiver` is
    set, the object whose method it calls."""
    if resolved.kind is CallKind.METHOD:
        attr = call.func.attr
        return attr in VALUE_METHODS or (not receiver
                                         and attr in LIST_UPDATES)
    if resolved.callee is operators.getitem:
        # A subscript reads its object. NOTE: a __getitem__ method written
        # in Python that changes its object is not seen.
        return True
    return _returns_new_object(call, resolved)


def _leaves_unchanged_or_views(call, resolved, receiver):
    """True if `call` does not change its arguments or its receiver (see
    `_leaves_unchanged`), or only takes a view of them. Taking a view
    updates nothing: an update through the view goes through the view's
    name, whose assignment the checker checks on its own (as for `x.T`)."""
    if _leaves_unchanged(call, resolved, receiver):
        return True
    if any(k.arg in ('out', None) for k in call.keywords):
        return False
    if resolved.kind is CallKind.METHOD:
        return receiver and call.func.attr in runtime.VIEW_METHODS
    return any(resolved.callee is f for f in runtime.VIEW_FUNCTIONS)


def _sharing_is_safe(normalized, resolution, flows, statement, shared,
                     holders, contains):
    """True if `holders` may keep referring to the objects in the names
    `shared` after `statement`. That is safe when no later path updates
    those objects in place, through their names or through a name that may
    come to refer to them. The adjoint undoes each update in place on the
    one object the update names, so memory that no later update changes
    may have any number of names.
    """
    if any(update_order.updated_after(normalized.tree, statement, name,
                                      resolution, _leaves_unchanged)
           for name in shared):
        return False
    exposed = reachable(flows, holders)
    if contains:
        # Appending to the list that keeps an item, or to another name for
        # that list, leaves the item as it is.
        exposed -= _container_names(flows, holders)
    # A comprehension's own container (`{**d, k: v}` is lowered to one) is
    # a new object that only its loop changes, by storing items, which
    # leaves the objects it contains as they are.
    exposed -= normalized.built
    return not exposed & (normalized.written | normalized.mutated)


def _check_views(normalized, resolution, source, updated):
    """Reject a view or alias of an updated array that is used after an
    update: it would show the update, which the adjoint would not follow.

    A view is found by following assignments from the updated arrays
    through subscripts, attributes, displays, unpacking, loops and calls
    that may return their argument. A part read straight into a variable
    (`v = x[i]`) is checked when the code runs instead (`element_reads`).
    A view is also allowed when no update follows the statements that make
    it (`_sharing_is_safe`), as in `u = un` at the end of a loop body whose
    next iteration starts with `un = u.copy()`.
    """
    # Only x[i] = v on an array changes memory that another object can see:
    # a list changed by append or pop keeps its old items unchanged, and a
    # dict's item write rebinds an entry.
    written = updated & written_arrays(normalized)
    if not written:
        return
    checked = element_reads(normalized, None, resolution, updated) + \
        _container_reads(normalized, resolution, updated)
    checked_at_run_time = set()
    for statement in checked:
        checked_at_run_time.update(n.id for n in walk(
            statement.targets[0]) if isinstance(n, gast.Name))
    # A part that the generated code checks to be an element is no view.
    flows = [f for f in memory_flows(normalized, resolution)
             if f.statement not in checked]
    origins = _view_origins(flows, written)
    for block in _blocks(normalized.tree):
        for position, statement in enumerate(block):
            if not isinstance(statement, (gast.Assign, gast.For)):
                continue
            target = (statement.targets[0] if isinstance(statement,
                                                         gast.Assign)
                      else statement.target)
            if isinstance(target, gast.Subscript):
                continue
            for node in walk(target):
                name = getattr(node, 'id', None)
                if (name is None or name not in origins or name in written
                        or name in checked_at_run_time
                        or name == normalized.result_name
                        or _used_before_any_update(normalized.tree, block,
                                                   position, name, written)):
                    continue
                unsafe = _unsafe_flow_into(normalized, resolution, flows,
                                           origins, name)
                if unsafe is not None:
                    raise UnsupportedSyntaxError(
                        f'keeping {_describe(normalized, name, flows)}, '
                        'which may share memory with an array that is '
                        'updated in place', source.location(unsafe),
                        'it would show the update while the gradient would '
                        'not follow; take a copy (.copy()) or index the '
                        'array where the value is used')


def _view_origins(flows, written):
    """Map each name that may share memory with an array in `written` (a
    view) to those arrays."""
    origins = {name: {name} for name in written}
    changed = True
    while changed:
        changed = False
        for flow in flows:
            if flow.stored:
                continue  # Already updated in place: checked as written.
            found = set()
            for name in flow.sources:
                found |= origins.get(name, set())
            for target in flow.targets:
                if found and not found <= origins.setdefault(target, set()):
                    origins[target] |= found
                    changed = True
    return origins


def _unsafe_flow_into(normalized, resolution, flows, origins, name):
    """Return the first statement that makes `name` a view of an array
    that may be updated afterwards, or None."""
    for flow in flows:
        if name not in flow.targets:
            continue
        shared = set()
        for source_name in flow.sources:
            shared |= origins.get(source_name, set())
        if shared and not _sharing_is_safe(normalized, resolution, flows,
                                           flow.statement, shared, (name,),
                                           flow.contains):
            return flow.statement
    return None


def _describe(normalized, name, flows=()):
    """Name a variable as the user wrote it: `'x'` for x and its versions
    (x_1), `the value of 's[0] * 2'` for a temporary of that expression,
    and for a temporary unpacked from a tuple display, the item that it
    receives."""
    if name not in normalized.temporaries:
        return repr(normalized.display_names.get(name, name))
    for flow in flows:
        if (flow.targets == (name,) and len(flow.sources) == 1
                and isinstance(flow.statement, gast.Assign)
                and isinstance(flow.statement.targets[0],
                               (gast.Tuple, gast.List))):
            return _describe(normalized, flow.sources[0], flows)
    text = normalized.display_names.get(name)
    return f'the value of {text!r}' if text else 'a value on this line'


def _used_before_any_update(tree, block, position, variable, updated):
    """True if every read of `variable` comes later in `block`, before any
    statement that may update one of `updated`."""
    if _count(tree, variable, gast.Store) != 1:
        return False
    remaining = _count(tree, variable, gast.Load)
    for later in block[position + 1:]:
        if remaining == 0:
            return True
        uses = _count(later, variable, gast.Load)
        if any(_updates(later, base) for base in updated):
            return (isinstance(later, gast.Assign)
                    and isinstance(later.targets[0], gast.Subscript)
                    and uses == remaining
                    and _count(later.targets[0], variable, gast.Load) == 0)
        remaining -= uses
    return remaining == 0


class _Checker:

    def __init__(self, normalized, resolution, source, updated):
        self.normalized = normalized
        self.resolution = resolution
        self.source = source
        self.updated = updated
        self.written = written_arrays(normalized)
        self.mappings = None  # mapping_names(normalized), when first read
        # Temporaries holding a part (maybe a view) of an updated array.
        self.parts = {
            s.targets[0].id for s in normalized.nodes_of(gast.Assign)
            if isinstance(s.targets[0], gast.Name)
            and isinstance(s.value, gast.Subscript)
            and isinstance(s.value.value, gast.Name)
            and s.value.value.id in updated & self.written}
        # What each temporary holds, to tell new objects from shared ones.
        self.definitions = {
            s.targets[0].id: s.value for s in normalized.nodes_of(gast.Assign)
            if isinstance(s.targets[0], gast.Name)
            and s.targets[0].id in normalized.temporaries}
        self.single_definitions = _single_definitions(normalized)
        self.slice_copy_assignments = {
            assignment for assignment, _ in _slice_copy_pairs(
                normalized, resolution, updated)}
        self.flows = memory_flows(normalized, resolution)
        self.namespaces = namespace_names(normalized, resolution)

    def is_display(self, node):
        """True if `node` names a list or tuple display, assigned once."""
        return isinstance(node, gast.Name) and isinstance(
            self.single_definitions.get(node.id), (gast.List, gast.Tuple))

    def reject(self, name, node, why):
        shown = _describe(self.normalized, name, self.flows)
        method_call = self.method_update(name)
        if method_call is not None:
            self.reject_method_update(shown, node, why, method_call)
        item_update = self.item_list_update(name)
        if item_update is not None:
            self.reject_item_list_update(name, item_update)
        if name in self.normalized.temporaries:
            copied = 'call .copy() on it'
        else:
            copied = f'{name}.copy()'
        raise UnsupportedSyntaxError(
            f'this use of {shown}, which is updated in place,',
            self.source.location(node),
            f'{why}, so it would change together with {shown} and the '
            f'gradient would not follow. Take a copy first ({copied}), or '
            f'index {shown} where the value is used')

    def item_list_update(self, name):
        """Return the call `t.append(v)` (or extend, insert) when `name`
        is a temporary t that reads an item of a container
        (`d['k'].append(v)`), else None."""
        if not (name in self.normalized.temporaries and isinstance(
                self.single_definitions.get(name), gast.Subscript)):
            return None
        for call in self.normalized.nodes_of(gast.Call):
            method = call.func
            if (isinstance(method, gast.Attribute)
                    and isinstance(method.value, gast.Name)
                    and method.value.id == name
                    and method.attr in LIST_UPDATES - {'pop'}):
                return call
        return None

    def reject_item_list_update(self, name, call):
        """Raise for `d['k'].append(v)`: an update of a list that an item
        of a container holds."""
        item = self.normalized.display_names.get(name) or 'c[k]'
        method = call.func.attr
        new_items = '[v]' if method in ('append', 'insert') else 'v'
        raise UnsupportedSyntaxError(
            f'{item}.{method}(...), an update of a list that an item of a '
            'container holds,', self.source.location(call),
            'adcompiler follows in-place updates only of lists that a '
            'local variable names, and the list may be shared with another '
            'name',
            fixes=[f'store a new list in the item: {item} = {item} + '
                   f'{new_items}',
                   'or build the list in a local variable, and store it in '
                   'the container after its last update'])

    def method_update(self, name):
        """Return the first call `name.method(...)` of a method that is
        not one of a list, dict, set or array (a method of the user's
        class, which may assign attributes of its object), or None."""
        for call in self.normalized.nodes_of(gast.Call):
            method = call.func
            if not (isinstance(method, gast.Attribute)
                    and isinstance(method.value, gast.Name)
                    and method.value.id == name):
                continue
            if method.attr in VALUE_METHODS:
                continue
            if (method.attr not in BOUND_IN_PLACE_METHODS
                    or self.is_user_object(name)):
                return call
        return None

    def is_user_object(self, name, depth=0):
        """True if `name` is assigned once, from a call of a class that
        the user defined (`a = Acc(w)`), or from a method call on such an
        object (`t = a.add(x)`), so that `name.add(...)` is not set.add."""
        value = self.single_definitions.get(name)
        if not isinstance(value, gast.Call) or depth > 8:
            return False
        if (isinstance(value.func, gast.Attribute)
                and isinstance(value.func.value, gast.Name)):
            return self.is_user_object(value.func.value.id, depth + 1)
        resolved = self.resolution.calls.get(value)
        callee = getattr(resolved, 'callee', None)
        return isinstance(callee, type) and runtime.searchable(callee)

    def reject_method_update(self, shown, node, why, method_call):
        """Raise for a use of `shown`, an object that `method_call`, a
        call of one of its methods, changes in place."""
        method = method_call.func.attr
        text = self.source.text_of(method_call) or f'.{method}(...)'
        line = getattr(method_call, 'lineno', None)
        where = f' on line {line}' if line else ''
        raise UnsupportedSyntaxError(
            f'this use of {shown}, which the method call {text}{where} '
            'changes in place,',
            self.source.location(node),
            f'{why}, so it would change together with {shown} and the '
            f'gradient would not follow. The method {method} may change '
            'its object (self.attr = ...), which adcompiler does not '
            'follow',
            fixes=[f'let {method} return a new object built from the new '
                   'values in place of assigning attributes of self, and '
                   'use the returned object',
                   'or keep the value that changes in a local variable of '
                   'this function'])

    def unpacks_into_dict(self, statement):
        """True if `statement` comes from a dict display with `**`, which
        normalize lowers to a loop over a tuple of its parts."""
        text = self.source.text_of(statement)
        try:
            display = ast.parse(text or '', mode='eval').body
        except SyntaxError:
            return False
        return isinstance(display, ast.Dict) and None in display.keys

    def reject_dict_unpacking(self, name, statement):
        described = _describe(self.normalized, name, self.flows)
        raise UnsupportedSyntaxError(
            f'unpacking {described} into a dict display (`{{**{name}, ...}}`) '
            f'when {described} or one of its entries may be updated in place '
            'later',
            self.source.location(statement),
            f'the new dict shares the entries of {described}, and adcompiler '
            f'reads them through a tuple that refers to {described}, so it '
            'cannot tell whether a later update changes both',
            fixes=[f'update {described} and its entries before the display only',
                   f'or, if only {described} itself is updated later '
                   f'({name}[k] = v), unpack a copy: '
                   f'{{**{name}.copy(), ...}}'])

    def callee_text(self, call, resolved):
        """Name the callee of `call` as the user wrote it. Normalize
        lowers an operator on a list or an object (`l * 2`) to a call of a
        function of its own, which the source text of the call shows as
        the operator."""
        if resolved is not None and getattr(resolved.callee, '__module__',
                                            None) == operators.__name__:
            text = self.source.text_of(call)
            if text:
                return f'`{text}`'
        return resolved.name if resolved else 'the callee'

    def describe_target(self, target):
        """Name an assignment target as the user wrote it: `'b'`, or the
        source text of the conditional or boolean expression whose value a
        compiler variable receives."""
        if isinstance(target, gast.Name):
            return _describe(self.normalized, target.id, self.flows)
        return 'the target'

    def shares_safely(self, statement, name, holders, contains):
        """True if `holders` may keep `name`'s object after `statement`
        because nothing updates it afterwards (see `_sharing_is_safe`)."""
        return _sharing_is_safe(self.normalized, self.resolution, self.flows,
                                statement, {name}, tuple(holders), contains)

    def check(self, statement):
        if isinstance(statement, gast.For):
            self.check_loop(statement)
        elif isinstance(statement, gast.Assign):
            self.check_assign(statement)
        elif isinstance(statement, gast.Expr):
            self.check_call(statement.value, statement)
        # Reads in return, if and assert take values.

    def check_loop(self, loop):
        for name in walk(loop.target):
            if isinstance(name, gast.Name) and name.id in self.updated:
                self.reject(name.id, loop,
                            'a loop item may be a view of what the loop '
                            'iterates over')
        if loop in self.normalized.key_loops:
            return  # The items are a mapping's keys.
        iterable = loop.iter
        names = [iterable] if isinstance(iterable, gast.Name) else getattr(
            iterable, 'args', [])
        for node in names:
            if isinstance(node, gast.Name) and node.id in self.updated \
                    and node.id in self.written:
                self.reject(node.id, loop,
                            'if it is an array, each loop item is a view of '
                            'it (a loop over .items() or .values() reads the '
                            'values of a dict instead)')
            if isinstance(node, gast.Name) and node.id in self.parts:
                self.reject(node.id, loop,
                            'the loop reads a view of an updated array')

    def check_assign(self, statement):
        target = statement.targets[0]
        value = statement.value
        if isinstance(target, gast.Name) and target.id in self.updated:
            self.check_new_object(target.id, value, statement)
        if isinstance(target, (gast.Tuple, gast.List)):
            self.check_unpacked_objects(target, value, statement)
        if isinstance(target, gast.Subscript):
            # x[i] = v: v's values are copied into an array, but a list or a
            # dict would keep v itself.
            if (isinstance(value, gast.Name) and value.id in self.updated
                    and not self.shares_safely(statement, value.id,
                                               _names_in(target.value),
                                               True)):
                self.reject(value.id, statement,
                            'storing it in a container keeps a reference')
            return
        holders = _names_in(target)
        if isinstance(value, gast.Name):
            # A name that is only returned, or read by calls that return
            # new objects, still refers to the object, so a read after a
            # later update returns the updated value
            # (`other = lst; lst.append(v); return sum(other)`).
            returned = isinstance(target, gast.Name) and (
                target.id == self.normalized.result_name
                or (self.only_returned(target.id) and (
                    not update_order.updated_after(
                        self.normalized.tree, statement, value.id,
                        self.resolution, _leaves_unchanged)
                    or self.read_before_update(statement, target.id,
                                               value.id))))
            fresh = value.id in self.definitions or self.moved(value.id)
            if (value.id in self.updated and not returned and not fresh
                    and not self.shares_safely(statement, value.id, holders,
                                               False)
                    and not self.moves(statement, value.id)):
                self.reject(value.id, statement,
                            f'{self.describe_target(target)} becomes another '
                            'name for it')
        elif isinstance(value, (gast.Tuple, gast.List, gast.Dict)):
            if isinstance(target, gast.Name) and self.only_returned(
                    target.id):
                return  # Returned, as the saved values of generated code.
            elements = value.values if isinstance(value, gast.Dict) else \
                value.elts
            for element in elements:
                if (isinstance(element, gast.Name)
                        and element.id in self.updated
                        and not self.shares_safely(statement, element.id,
                                                   holders, True)):
                    if self.unpacks_into_dict(statement):
                        self.reject_dict_unpacking(element.id, statement)
                    self.reject(element.id, statement,
                                'the container keeps a reference to it')
        elif isinstance(value, gast.Subscript):
            # A part of an updated array read into a variable must be an
            # element, not a view; the reverse stage checks that at run time
            # (see `element_reads`).
            pass
        elif isinstance(value, gast.Attribute):
            base = value.value
            if (isinstance(base, gast.Name) and base.id in self.updated
                    and value.attr not in METADATA
                    and not self.shares_safely(statement, base.id, holders,
                                               False)):
                self.reject(base.id, statement,
                            f'.{value.attr} may be a view of it')
        elif isinstance(value, gast.Call):
            self.check_call(value, statement)

    def read_before_update(self, statement, name, base):
        """True if every read of `name` comes after `statement` in its
        block, before any statement that may update `base`."""
        tree = self.normalized.tree
        for node in walk(tree):
            for field in ('body', 'orelse', 'finalbody'):
                block = getattr(node, field, None)
                if not isinstance(block, list):
                    continue
                for position, item in enumerate(block):
                    if item is statement:
                        return _used_before_any_update(tree, block, position,
                                                       name, {base})
        return False

    def moved(self, identifier):
        """True for a name assigned once and read once, where every loop
        around the read also runs the assignment: `x = t` moves t. A read
        in a loop that does not assign t reads the same object on every
        iteration."""
        tree = self.normalized.tree
        if (_count(tree, identifier, gast.Store) != 1
                or _count(tree, identifier, gast.Load) != 1):
            return False
        stores, loads = [], []
        for node, loops in _names_with_loops(tree, identifier):
            (stores if isinstance(node.ctx, gast.Store) else loads).append(
                loops)
        return all(loop in stores[0] for loop in loads[0])

    def definition(self, identifier):
        """Return the value of the one assignment to `identifier`, or None."""
        for node in walk(self.normalized.tree):
            if (isinstance(node, gast.Assign)
                    and isinstance(node.targets[0], gast.Name)
                    and node.targets[0].id == identifier):
                return node.value
        return None

    def only_returned(self, identifier, depth=0):
        """True for a name that is read only to be returned: by `return`,
        copied into the variable that early returns assign, or put in a
        tuple that is itself only returned."""
        tree = self.normalized.tree
        loads = _count(tree, identifier, gast.Load)
        returned = 0
        for node in walk(tree):
            resolved = self.resolution.calls.get(node) if isinstance(
                node, gast.Call) else None
            if resolved is not None and _returns_new_object(node, resolved):
                returned += _count(node, identifier, gast.Load)  # A value read.
            elif isinstance(node, gast.Return):
                returned += _count(node, identifier, gast.Load)
            elif (isinstance(node, gast.Assign)
                  and isinstance(node.targets[0], gast.Name)
                  and node.targets[0].id == self.normalized.result_name
                  and isinstance(node.value, gast.Name)
                  and node.value.id == identifier):
                returned += 1
            elif (depth < 3 and isinstance(node, gast.Assign)
                  and isinstance(node.targets[0], gast.Name)
                  and isinstance(node.value, gast.Tuple)
                  and self.only_returned(node.targets[0].id, depth + 1)):
                returned += _count(node.value, identifier, gast.Load)
        return loads == returned

    def check_new_object(self, name, value, statement):
        """An assignment to an updated name must make a new object."""
        if isinstance(value, gast.Name) and self.moved(value.id):
            value = self.definition(value.id) or value
        if isinstance(value, gast.Name) and value.id in self.definitions:
            value = self.definitions[value.id]  # x = t, where t = x * 2.
        if isinstance(value, gast.Name) and value.id in self.normalized.built:
            return  # A comprehension's list, which only this name reads.
        if isinstance(value, (gast.BinOp, gast.UnaryOp, gast.Compare,
                              gast.Constant, gast.List, gast.Dict)):
            return
        if isinstance(value, gast.Call):
            resolved = self.resolution.calls.get(value)
            if resolved is not None and (
                    _returns_new_object(value, resolved)
                    or _returns_fresh_container(value, resolved)
                    or self.namespace_creates(value, resolved)):
                return
        if isinstance(value, gast.Name) and self.moves(statement, value.id):
            return
        if self.views_fresh_temporary(value):
            return
        if not update_order.updated_after(self.normalized.tree, statement,
                                          name, self.resolution,
                                          _leaves_unchanged_or_views):
            return  # Rebound to a new object before any update.
        if statement in self.slice_copy_assignments:
            # `lst[:]` copies a list; the generated code checks that `lst`
            # is one (see `slice_copies`), as an array's `a[:]` is a view.
            return
        if isinstance(value, gast.Call):
            resolved = self.resolution.calls.get(value)
            if getattr(resolved, 'callee', None) in (set, frozenset):
                self.reject_set_update(name, statement)
        self.reject(name, statement,
                    'the value assigned to it may be shared with another name')

    def views_fresh_temporary(self, value):
        """True for `t.ravel()` and the other view methods in
        `_FRESH_VIEW_METHODS` of a temporary t whose value is a new object and
        that nothing else reads, as in `a = x.copy().ravel()`."""
        if not (isinstance(value, gast.Call)
                and isinstance(value.func, gast.Attribute)
                and value.func.attr in _FRESH_VIEW_METHODS
                and isinstance(value.func.value, gast.Name)):
            return False
        base = value.func.value.id
        definition = self.definitions.get(base)
        if not isinstance(definition, gast.Call) or _count(
                self.normalized.tree, base, gast.Load) != 1:
            return False
        resolved = self.resolution.calls.get(definition)
        return resolved is not None and _returns_new_object(definition,
                                                            resolved)

    def reject_set_update(self, name, statement):
        """Raise for a new set `name` that gets values carrying a
        derivative, at the first `name.add(...)` or `name.update(...)`."""
        shown = _describe(self.normalized, name, self.flows)
        node = next((n for n in walk(self.normalized.tree)
                     if isinstance(n, gast.Call)
                     and isinstance(n.func, gast.Attribute)
                     and n.func.attr in ('add', 'update')
                     and isinstance(n.func.value, gast.Name)
                     and n.func.value.id == name), statement)
        raise UnsupportedSyntaxError(
            f'adding a value that carries a derivative to the set {shown}',
            self.source.location(node),
            'adcompiler does not follow derivatives through the items of a '
            'set, which are kept in the order of their hashes',
            fixes=['collect the values in a list',
                   'or add adcompiler.stop_gradient(value) to keep the value '
                   'without its derivative'])

    def namespace_creates(self, call, resolved):
        """True for `xp.zeros_like(x)` and the like: a NumPy function that
        returns a new array, called through an array namespace that
        `xp = array_namespace(...)` assigned (array_api_compat and SciPy's
        wrapper of it give a module whose functions of these names return
        new arrays)."""
        return namespace_function(call, resolved, self.namespaces) in \
            NEW_OBJECT_FUNCTIONS_OF_NAMESPACES

    def moves(self, statement, source):
        """True if `x = source` hands over an object that no other name can
        reach: `source` is updated in place (so it got a new object), this
        is the only statement that lets its object escape, and `source` is
        not read again before it is rebound."""
        escapes = [f.statement for f in self.flows if source in f.sources]
        return (source in self.updated
                and all(s is statement for s in escapes)
                and not update_order.updated_after(
                    self.normalized.tree, statement, source, self.resolution,
                    _leaves_unchanged, reads_count=True))

    def check_unpacked_objects(self, target, value, statement):
        """`a, b = v` with `a` updated in place: its item must be a new
        object, as for `a = item`."""
        updated = [e for e in target.elts
                   if isinstance(e, gast.Name) and e.id in self.updated]
        if not updated:
            return
        display = self.definitions.get(value.id) if isinstance(
            value, gast.Name) else None
        if isinstance(display, (gast.Tuple, gast.List)) and len(
                display.elts) == len(target.elts):
            for element, item in zip(target.elts, display.elts, strict=True):
                if element in updated:
                    self.check_new_object(element.id, item, statement)
            return
        resolved = (self.resolution.calls.get(value)
                    if isinstance(value, gast.Call) else None)
        if resolved is not None and _returns_new_object(value, resolved):
            return  # q, r = np.linalg.qr(a)
        self.reject(updated[0].id, statement,
                    'the value unpacked into it may be shared with another '
                    'name')

    def is_dict_item_read(self, call, receiver):
        """True for `d.get(key, default)` on a name that is always a
        dict (see `mapping_names`). It returns an item or the default, as
        `d[key]` does, and an item write `d[k] = v` rebinds an entry
        without changing that item."""
        if call.func.attr != 'get':
            return False
        if self.mappings is None:
            self.mappings = mapping_names(self.normalized)
        return receiver in self.mappings

    def check_call(self, call, statement):
        if not isinstance(call, gast.Call):
            return
        resolved = self.resolution.calls.get(call)
        arguments = list(call.args) + [k.value for k in call.keywords]
        holders = (_names_in(statement.targets[0])
                   if isinstance(statement, gast.Assign) else None)
        if resolved is not None and resolved.kind is CallKind.METHOD:
            receiver = call.func.value
            if (isinstance(receiver, gast.Name)
                    and receiver.id in self.updated
                    and call.func.attr not in VALUE_METHODS | LIST_UPDATES
                    and not self.is_dict_item_read(call, receiver.id)
                    and not (holders is not None and self.shares_safely(
                        statement, receiver.id, holders, False))):
                self.reject(receiver.id, statement,
                            f'.{call.func.attr}() may return a view of it or '
                            'keep a reference')
        if resolved is not None and resolved.kind is CallKind.METHOD and \
                call.func.attr in LIST_UPDATES:
            # lst.append(y) keeps y itself in the list.
            for argument in arguments:
                if (isinstance(argument, gast.Name)
                        and argument.id in self.updated
                        and not self.shares_safely(
                            statement, argument.id,
                            _names_in(call.func.value), True)):
                    self.reject(argument.id, statement,
                                'the list keeps a reference to it')
            return
        if resolved is not None and _returns_new_object(call, resolved):
            return
        if (resolved is not None and resolved.callee is np.asarray
                and call.args and self.is_display(call.args[0])):
            return  # np.asarray copies a list or tuple into a new array.
        if _item_read_receiver(statement, self.resolution) is not None:
            # The generated code checks that the receiver is a container,
            # whose items no update changes (see `container_reads`).
            arguments = arguments[1:]
        # list(a), dict(a) and copy.copy(a) make a new container that
        # keeps a's items, as a display does.
        contains = resolved is not None and _returns_fresh_container(
            call, resolved)
        for argument in arguments:
            if (isinstance(argument, gast.Name)
                    and argument.id in self.updated
                    and not self.shares_safely(statement, argument.id,
                                               holders or (), contains)):
                self.reject(argument.id, statement,
                            f'{self.callee_text(call, resolved)} may keep or '
                            'return a reference to it')


def read_globals(normalized, namespace):
    """Return the globals and closure variables that the function reads
    and whose values may hold an array (see `runtime.searchable`). Sorted
    by name."""
    found = set()
    for node in normalized.nodes_of(gast.Name):
        if (isinstance(node.ctx, gast.Load)
                and node.id not in normalized.local_names
                and node.id not in normalized.params
                and node.id in namespace
                and runtime.searchable(namespace[node.id])):
            found.add(node.id)
    return sorted(found)


def declared_globals(function):
    """Return the names that the gast def `function` declares `global` in
    its own body (not in nested functions), sorted."""
    return sorted({variable for node in closures.own_nodes(function.body)
                   if isinstance(node, gast.Global)
                   for variable in node.names})


def has_out_argument(call, resolution):
    """True for `f(..., out=y)`, and for a ufunc given its output
    positionally (`np.sin(x, y)`). An out=None argument writes nowhere."""
    if any(k.arg == 'out' and not _is_none(k.value) for k in call.keywords):
        return True
    resolved = resolution.calls.get(call)
    callee = getattr(resolved, 'callee', None)
    if isinstance(callee, np.ufunc):
        return any(not _is_none(a) for a in call.args[callee.nin:])
    if resolved is None or resolved.kind is CallKind.USER:
        return False  # A user function's parameter may just be named out.
    try:
        parameters = list(inspect.signature(callee).parameters.values())
    except (TypeError, ValueError):
        parameters = _method_parameters(call, resolved)
    for position, parameter in enumerate(parameters):
        if parameter.kind is not parameter.POSITIONAL_OR_KEYWORD:
            return False
        if parameter.name == 'out':
            # A constant (None, or the 10.0 of xp.clip(x, -10.0, 10.0) when
            # xp may be a module) is no output array.
            return position < len(call.args) and not isinstance(
                call.args[position], gast.Constant)
    return False


def _method_parameters(call, resolved):
    """Return the parameters after the array of the NumPy function named
    like the array method of the call `x.m(...)` (np.round for x.round).

    `resolved` resolves such a call without a callee whose signature
    could be read. The result is [] when the call is not an array method
    or NumPy has no such function.

    NumPy's array methods take their arguments in the order of those
    functions, so `x.round(0, y)` passes y as out= like np.round(x, 0, y).
    """
    if not (isinstance(call.func, gast.Attribute)
            and resolved.kind in (CallKind.METHOD,
                                  CallKind.NON_DIFFERENTIABLE)
            and resolved.callee is None
            and resolved.name == call.func.attr):
        return []
    function = vars(np).get(call.func.attr)
    if not callable(function) or isinstance(function, (type, np.ufunc)):
        return []
    try:
        return list(inspect.signature(function).parameters.values())[1:]
    except (TypeError, ValueError):
        return []


def _is_none(node):
    return isinstance(node, gast.Constant) and node.value is None


def _check_out_arguments(normalized, resolution, activity, source, read):
    """Reject writing a call's result into an existing array when a value
    that carries a derivative is involved, or when the array is read by
    a computation that carries one: the adjoint would not see the write.
    `read` is the `_DerivativeReads` of the function."""
    for call in normalized.nodes_of(gast.Call):
        if not has_out_argument(
                call, resolution):
            continue
        names = [n.id for n in walk(call) if isinstance(n, gast.Name)]
        if any(name in activity.varied or name in read for name in names):
            raise UnsupportedSyntaxError(
                'an out= argument', source.location(call),
                'writing a result into an existing array is an update in '
                'place that the gradient would not follow; assign the result '
                'instead')


# Methods that change an array or a list in place.
IN_PLACE_METHODS = frozenset({
    'sort', 'fill', 'put', 'partition', 'resize', 'itemset', 'setfield',
    'reverse', 'clear', 'remove', 'update', 'popitem', 'setdefault',
})


# Methods that change their array, list, dict or set in place, checked
# where such a method is used as a value rather than called.
BOUND_IN_PLACE_METHODS = IN_PLACE_METHODS | LIST_UPDATES | {
    'add', 'discard'}


# The fix offered for an IN_PLACE_METHODS call, where a method needs
# words of its own; the others change a copy.
_IN_PLACE_METHOD_FIXES = {
    'sort': 'sort a copy instead (sorted({v}) for a list, np.sort({v}) '
            'for an array)',
    'reverse': 'reverse a copy instead ({v}[::-1])',
    'update': 'build a new dict instead ({{**{v}, **other}})',
    'setdefault': 'read the entry with {v}.get(key, default), or build a '
                  'new dict with the entry ({{key: default, **{v}}})',
    'popitem': 'build a new dict without the entry instead',
    'clear': 'assign a new, empty container instead',
}


def read_by_derivative(normalized, activity):
    """Names read by a statement whose result carries a derivative."""
    read = set()
    for statement in normalized.nodes_of(gast.Assign):
        targets = [n.id for n in name_nodes(statement.targets[0])]
        if any(activity.is_active(t) for t in targets):
            read.update(n.id for n in name_nodes(statement.value))
    return read


class _DerivativeReads:
    """The names that `read_by_derivative` returns, found at the first
    membership test. Most functions have no call that the in-place checks
    must judge, and then no statement is walked for them."""

    def __init__(self, normalized, activity):
        self.normalized, self.activity = normalized, activity
        self.names = None

    def __contains__(self, name):
        if self.names is None:
            self.names = read_by_derivative(self.normalized, self.activity)
        return name in self.names


def _check_in_place_methods(normalized, resolution, activity, source,
                            read):
    """Reject `w.sort()` and the like on a value that a computation with a
    derivative reads: the adjoint would read the changed value. `read` is
    the `_DerivativeReads` of the function."""
    for call in normalized.nodes_of(gast.Call):
        if (isinstance(call.func, gast.Attribute)
                and isinstance(call.func.value, gast.Name)
                and call.func.attr in IN_PLACE_METHODS
                and getattr(resolution.calls.get(call), 'kind',
                            None) is CallKind.METHOD
                and (call.func.value.id in read
                     or call.func.value.id in activity.varied)):
            name = _describe(normalized, call.func.value.id)
            written = normalized.display_names.get(call.func.value.id,
                                                   call.func.value.id)
            fix = _IN_PLACE_METHOD_FIXES.get(
                call.func.attr, 'change a copy instead').format(v=written)
            raise UnsupportedSyntaxError(
                f'.{call.func.attr}() on {name}', source.location(call),
                f'it changes {name} in place, and a computation that '
                f'carries a derivative reads it; {fix}')


def _names_getattr(func, normalized, source):
    """True when `func` names the built-in getattr."""
    return (isinstance(func, gast.Name)
            and func.id not in normalized.local_names
            and source.namespace.get(func.id, getattr(builtins, func.id,
                                                       None))
            is builtins.getattr)


def _check_bound_in_place_methods(normalized, resolution, activity, source,
                                  read):
    """Reject an in-place method of a value that carries a derivative, or
    that a computation with one reads, used other than in a direct call:
    `fill = a.fill`, `getattr(a, 'fill')`, `apply(a.fill, v)`,
    `map(a.fill, vs)`. The stages see a call of such a value only as a
    call of an unknown function, so the update would be missed. `read` is
    the `_DerivativeReads` of the function."""
    namespaces = namespace_names(normalized, resolution)
    nodes = list(normalized.nodes_of((gast.Attribute, gast.Call)))
    for statement in normalized.nodes_of(Verbatim):
        # A statement without a derivative hides its own nodes.
        nodes += [node for node in walk(statement.statement)
                  if isinstance(node, (gast.Attribute, gast.Call))]
    called = {id(node.func) for node in nodes if isinstance(node, gast.Call)}
    for node in nodes:
        if isinstance(node, gast.Attribute):
            receiver, method = node.value, node.attr
            if id(node) in called:
                continue  # A direct call, which the other checks judge.
        elif (_names_getattr(node.func, normalized, source)
              and len(node.args) >= 2
              and isinstance(node.args[1], gast.Constant)
              and isinstance(node.args[1].value, str)):
            receiver, method = node.args[0], node.args[1].value
        else:
            continue
        if not (isinstance(receiver, gast.Name)
                and receiver.id in normalized.local_names
                and receiver.id not in namespaces  # xp.add.reduce
                and method in BOUND_IN_PLACE_METHODS
                and (receiver.id in read or receiver.id in activity.varied)):
            continue
        name = _describe(normalized, receiver.id)
        written = normalized.display_names.get(receiver.id, receiver.id)
        fix = _IN_PLACE_METHOD_FIXES.get(
            method, 'build a new value instead of changing {v} in place '
                    '(np.full_like({v}, value) in place of {v}.fill(value), '
                    '{v} + [item] in place of {v}.append(item))')
        raise UnsupportedSyntaxError(
            f'the method {written}.{method} used as a value',
            source.location(node),
            f'it changes {name} in place, and a computation that carries a '
            f'derivative reads it, but a call through a variable, getattr(), '
            f'a helper or map() hides that update from the gradient; '
            f'{fix.format(v=written)}')


def element_reads(normalized, activity, resolution, updated=None):
    """Statements `v = x[i]` that read part of an updated array into a
    variable that is used after x may be updated. The value must be an
    element, which the generated code checks: a view would change with x.

    The value is followed into a tuple display and the names unpacked from
    it, so that the swap `s[0], s[1] = s[1], s[0]` checks its reads. A read
    after which x is not updated needs no check, even as a view.
    """
    if updated is None:
        updated = normalized.written & activity.varied
    updated = updated & written_arrays(normalized) - normalized.built
    if not updated:
        return []  # Only reads of updated arrays are listed.
    definitions = _single_definitions(normalized)
    flows = memory_flows(normalized, resolution)
    reads = []
    for block in _blocks(normalized.tree):
        for position, s in enumerate(block):
            if (isinstance(s, gast.Assign)
                    and isinstance(s.value, gast.Subscript)
                    and isinstance(s.value.value, gast.Name)
                    and s.value.value.id in updated
                    and _kept_past_update(normalized.tree, block, position,
                                          resolution, definitions,
                                          s.value.value.id)
                    and not _sharing_is_safe(
                        normalized, resolution, flows, s,
                        {s.value.value.id}, _names_in(s.targets[0]), False)):
                reads.append(s)
    return reads


def _blocks(tree):
    """Every statement list of a function: its body, branches, loop bodies."""
    for node in walk(tree):
        for field in ('body', 'orelse'):
            block = getattr(node, field, None)
            if isinstance(block, list) and block and isinstance(
                    block[0], gast.stmt):
                yield block


def _names_with_loops(node, identifier, loops=()):
    """Yield (name, loops) for each `identifier` under `node`, where loops
    are the ids of the loops whose repeated part (body, else branch, while
    test) contains the name. A for loop's iterable is evaluated once."""
    if isinstance(node, gast.Name) and node.id == identifier:
        yield node, loops
    for field, child in gast.iter_fields(node):
        inner = loops
        if (isinstance(node, (gast.For, gast.While))
                and field in ('body', 'orelse', 'test')):
            inner = loops + (id(node),)
        children = child if isinstance(child, list) else [child]
        for item in children:
            if isinstance(item, gast.AST):
                yield from _names_with_loops(item, identifier, inner)


def _count(tree, identifier, ctx):
    return sum(1 for n in walk(tree) if isinstance(n, gast.Name)
               and n.id == identifier and isinstance(n.ctx, ctx))


def _updates(statement, base):
    """True if `statement` may update `base` in place or rebind it."""
    for node in walk(statement):
        if isinstance(node, gast.Subscript) and isinstance(
                node.ctx, gast.Store) and isinstance(node.value, gast.Name) \
                and node.value.id == base:
            return True
        if isinstance(node, gast.Name) and node.id == base and isinstance(
                node.ctx, gast.Store):
            return True
        if isinstance(node, gast.Call) and any(
                isinstance(a, gast.Name) and a.id == base
                for a in list(node.args) + [getattr(node.func, 'value', None)]):
            return True
    return False


def _kept_past_update(tree, block, position, resolution, definitions, base):
    """True unless `v = x[i]` at block[position], where x is `base`, is read
    only later in the same block, before any statement that may update x.
    Then v is used while it still equals x[i], view or not.

    A statement `x[j] = ... v ...` reads v before it writes x, so it counts
    as a use. A tuple display that v is put in, and the name unpacked from
    its item, carry the value on.
    """
    statement = block[position]
    target = statement.targets[0]
    if not isinstance(target, gast.Name):
        return True

    def loads(node, names):
        return sum(1 for n in walk(node) if isinstance(n, gast.Name)
                   and n.id in names and isinstance(n.ctx, gast.Load))

    carriers = {target.id}
    if _count(tree, target.id, gast.Store) != 1:
        return True
    remaining = loads(tree, carriers)
    for later in block[position + 1:]:
        if remaining == 0:
            return False
        uses = loads(later, carriers)
        if _count(later, base, gast.Store) or update_order.may_update(
                later, base, resolution, _leaves_unchanged):
            reads_first = (isinstance(later, gast.Assign)
                           and isinstance(later.targets[0], gast.Subscript)
                           and uses == remaining
                           and loads(later.targets[0], carriers) == 0)
            return not reads_first
        remaining -= uses
        for name in _carried_into(later, carriers, definitions):
            if _count(tree, name, gast.Store) != 1:
                return True
            carriers.add(name)
            remaining += loads(tree, {name})
    return remaining != 0


def _carried_into(statement, carriers, definitions):
    """Names that `statement` gives a value of `carriers`: the name of a
    tuple display that contains one, and the targets that unpack it."""
    if not isinstance(statement, gast.Assign):
        return []
    target, value = statement.targets[0], statement.value
    if isinstance(target, gast.Name) and isinstance(
            value, (gast.Tuple, gast.List)) and any(
                isinstance(e, gast.Name) and e.id in carriers
                for e in value.elts):
        return [target.id]
    if isinstance(target, (gast.Tuple, gast.List)) and isinstance(
            value, gast.Name) and value.id in carriers:
        display = definitions.get(value.id)
        if isinstance(display, (gast.Tuple, gast.List)) and len(
                display.elts) == len(target.elts):
            return [e.id for e, item in zip(target.elts, display.elts,
                                             strict=True)
                    if isinstance(e, gast.Name) and isinstance(item, gast.Name)
                    and item.id in carriers]
        return list(_names_in(target))
    return []


def _returns_new_object(call, resolved):
    if any(k.arg == 'out' or (k.arg == 'copy' and not (
            isinstance(k.value, gast.Constant) and k.value.value is True))
           for k in call.keywords):
        return False
    if resolved.kind is CallKind.METHOD:
        # lst.pop() returns the item itself, which other names may hold.
        # x.astype(t) copies unless copy=False, the fifth parameter.
        return call.func.attr in VALUE_METHODS | LIST_UPDATES - {'pop'} or (
            call.func.attr == 'astype' and len(call.args) < 5)
    callee = resolved.callee
    if isinstance(callee, np.ufunc):
        return True
    if isinstance(callee, types.BuiltinFunctionType) and getattr(
            callee, '__module__', None) == 'math':
        return True
    if callee is np.diff:
        # np.diff(a, n=0) returns a itself.
        order = _argument(call, 1, 'n')
        return order is None or (isinstance(order, gast.Constant)
                                 and order.value != 0)
    if callee is sum:
        # sum([], start) returns start itself, a new object only when it
        # is a constant.
        start = _argument(call, 1, 'start')
        return start is None or isinstance(start, gast.Constant)
    if any(callee is f for f in NEW_OBJECT_FUNCTIONS) or (
            callee is np.array) or any(
                callee is f for f in operators.NEW_VALUE_OPERATORS):
        return True
    # A helper whose source shows that it returns a new object and keeps
    # no reference to its arguments.
    return resolved.kind is CallKind.USER and \
        unshared_results.returns_unshared(callee,
                                          NEW_OBJECT_FUNCTIONS_OF_NAMESPACES)


def _returns_fresh_container(call, resolved):
    # The resolver gives the replacement of a function that has one
    # (dict -> dict_new in adcompiler/rules/builtins.py), so both count.
    return (resolved.kind is not CallKind.METHOD
            and any(resolved.callee is f
                    or resolved.callee is REGISTRY.substitute_of(f)
                    for f in FRESH_CONTAINER_FUNCTIONS))


def _argument(call, position, keyword):
    """Return the node passed as parameter `keyword` at `position`, or
    None when the call does not pass it."""
    if len(call.args) > position:
        return call.args[position]
    for k in call.keywords:
        if k.arg == keyword:
            return k.value
    return None
