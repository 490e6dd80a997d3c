"""Compute cheap saved values again in the adjoint instead of saving them.

The primal of `np.sum(... + (1.0 - x[:-1]) ** 2)` saves `t8 = 1.0 - x[:-1]`
for the adjoint of the square, an array the size of `x` that stays alive
from the primal's return to the end of the adjoint. Computing `1.0 - x[:-1]`
again where the adjoint reads it costs one pass over the array and frees
that memory. The grad-only primal (adcompiler.grad_only) then no longer
computes the value at all, so for `grad` the pass only moves from the
primal to the adjoint. The full primal, which `value_and_grad` and `vjp`
run, computes it for the value and the adjoint computes it once more.

A saved value `t` is computed again when all of these hold:

- the primal is straight-line code of assignments to plain names, whose
  only calls are NumPy functions without an `out` argument, so nothing
  changes an array in place;
- it assigns `t` once, to `k op a`, `a op k` (`op` one of `+`, `-`, `*`)
  or `-a`. Here `k` is a number constant, and `a` is a saved name or a
  name assigned once to a saved name indexed by constant slices;
- the adjoint reads `t` once, in a top-level statement, so the pass runs
  once per call of the adjoint.

Since nothing changes the arrays in place and every name involved is
assigned once, the expression gives the same array in the adjoint as in
the primal. The caller must not change the arguments between the primal
and the adjoint, as for the views that the primal saves anyway.

NOTE: the operands' types are not checked. An argument of a class whose
arithmetic methods (`__rsub__`, say) are written in Python runs them
again in the adjoint.
"""

import gast

from adcompiler.codegen import saved_unpacking
from adcompiler.traversal import copy_tree, find_nodes, name_nodes, walk

_OPERATIONS = (gast.Add, gast.Sub, gast.Mult)


def rematerialize(primal, adjoint, numpy_alias, runtime_alias):
    """Compute cheap saved values again in `adjoint`, rewriting both
    functions in place (see the module docstring).

    Returns whether any saved value was dropped.
    """
    if not any(_is_cheap_operation(value)
               for value in _top_level_values(primal)):
        return False  # Checked first, because it walks no expression.
    layout = _saved_layout(primal, adjoint)
    if layout is None or not _changes_nothing(primal, numpy_alias,
                                              runtime_alias):
        return False
    unpack, saved_tuple = layout
    definitions, assigned_once = _single_definitions(primal)
    # Saved names that keep one value through the primal, by their names
    # in the adjoint.
    saved = {element.id: target.id
             for element, target in zip(saved_tuple.elts, unpack.elts)
             if isinstance(element, gast.Name)
             and element.id in assigned_once}
    reads = None  # walked only once some saved value can be recomputed
    dropped = []
    # Saved names that a replacement reads stay saved.
    needed = set()
    for position, (element, target) in enumerate(zip(saved_tuple.elts,
                                                     unpack.elts)):
        if not isinstance(element, gast.Name) or element.id in needed:
            continue
        value = definitions.get(element.id)
        if value is None:
            continue
        replacement = _in_adjoint_terms(value, definitions, saved,
                                        element.id)
        if replacement is None:
            continue
        if reads is None:
            reads = _top_level_reads(adjoint.body[1:])
        read = reads.get(target.id)
        if read is None:
            continue
        _replace(adjoint, read, replacement)
        dropped.append(position)
        # A later replacement must not read this value, which is no
        # longer saved.
        saved.pop(element.id, None)
        needed.update(name for name, adjoint_name in saved.items()
                      if any(isinstance(n, gast.Name)
                             and n.id == adjoint_name
                             for n in walk(replacement)))
    if not dropped:
        return False
    for position in reversed(dropped):
        del saved_tuple.elts[position]
        del unpack.elts[position]
    return True


def share_slices(primal, numpy_alias, runtime_alias):
    """Read one name for each repeated constant slice of a name in a
    primal that changes nothing in place.

    Normalize names each `x[:-1]` apart (`t2` and `t7`). After this pass
    the later ones read the first, so the primal makes one view. An
    expression that reads it then reads a name, not an index, which the
    proof of the grad-only primal needs to call it pure. Returns whether
    anything changed.
    """
    slices = [value for value in _top_level_values(primal)
              if isinstance(value, gast.Subscript)
              and isinstance(value.value, gast.Name)
              and _constant_slices(value.slice)]
    if len(slices) < 2:
        return False  # Nothing repeats. Checked first: it walks no code.
    if not _changes_nothing(primal, numpy_alias, runtime_alias):
        return False
    definitions, assigned_once = _single_definitions(primal)
    first = {}  # (name, dump of the index) -> the name assigned first
    renames = {}
    kept = []
    for statement in primal.body:
        if (isinstance(statement, gast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], gast.Name)):
            target, value = statement.targets[0].id, statement.value
            if (target in definitions and isinstance(value, gast.Subscript)
                    and isinstance(value.value, gast.Name)
                    and value.value.id in assigned_once
                    and _constant_slices(value.slice)):
                key = (value.value.id, gast.dump(value.slice))
                if key in first:
                    renames[target] = first[key]
                    continue
                first[key] = target
        kept.append(statement)
    if not renames:
        return False
    primal.body = kept
    for node in name_nodes(primal):
        if node.id in renames:
            node.id = renames[node.id]
    return True


def _top_level_values(primal):
    """Yield the values of the top-level assignments `name = value`."""
    for statement in primal.body:
        if (isinstance(statement, gast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], gast.Name)):
            yield statement.value


def _is_cheap_operation(value):
    """True for the forms that `_in_adjoint_terms` may compute again:
    `-a`, and `k op a` or `a op k` with `k` a number constant."""
    if isinstance(value, gast.UnaryOp):
        return isinstance(value.op, gast.USub)
    return (isinstance(value, gast.BinOp)
            and isinstance(value.op, _OPERATIONS)
            and (_is_number(value.left) or _is_number(value.right)))


def _saved_layout(primal, adjoint):
    """Return the adjoint's unpacking of the saved values and the primal's
    tuple of them, or None when the functions are not of that form."""
    unpack = saved_unpacking(adjoint)
    if unpack is None:
        return None
    last = primal.body[-1] if primal.body else None
    if not (isinstance(last, gast.Return) and isinstance(last.value,
                                                         gast.Tuple)
            and len(last.value.elts) == 2
            and isinstance(last.value.elts[1], gast.Tuple)):
        return None
    saved_tuple = last.value.elts[1]
    if len(unpack.elts) != len(saved_tuple.elts) or not all(
            isinstance(target, gast.Name) for target in unpack.elts):
        return None
    return unpack, saved_tuple


def _changes_nothing(primal, numpy_alias, runtime_alias):
    """True when the primal is straight-line code that changes no value in
    place: assignments to plain names, comments and the final return, and
    calls of NumPy functions without `out` and of `ad.shape_and_kind`."""
    for statement in primal.body[:-1]:
        if isinstance(statement, gast.Expr) and isinstance(
                statement.value, gast.Constant):
            continue  # A comment marker.
        if not (isinstance(statement, gast.Assign)
                and all(isinstance(target, gast.Name)
                        for target in statement.targets)):
            return False
    for node in find_nodes(primal, (gast.Call, gast.Lambda,
                                    gast.NamedExpr)):
        if isinstance(node, gast.Call) and not (
                _is_call_of(node, numpy_alias)
                and all(k.arg not in ('out', None) for k in node.keywords)
                or _is_call_of(node, runtime_alias, 'shape_and_kind')):
            return False
        if isinstance(node, (gast.Lambda, gast.NamedExpr)):
            return False
    return True


def _is_call_of(node, module, attribute=None):
    """True for a call `module.attribute(...)`, of any attribute if None."""
    func = node.func
    return (isinstance(func, gast.Attribute)
            and isinstance(func.value, gast.Name) and func.value.id == module
            and attribute in (None, func.attr))


def _single_definitions(primal):
    """Return name -> value for the names the primal assigns exactly once
    by an assignment, and the set of those names and the parameters that
    it never assigns."""
    counts, values = {}, {}
    for node in name_nodes(primal):
        # Parameters count once, by their Name nodes in the arguments.
        if not isinstance(node.ctx, gast.Load):
            counts[node.id] = counts.get(node.id, 0) + 1
    for statement in primal.body:
        if isinstance(statement, gast.Assign) and len(
                statement.targets) == 1 and isinstance(statement.targets[0],
                                                       gast.Name):
            values[statement.targets[0].id] = statement.value
    assigned_once = {name for name, count in counts.items() if count == 1}
    return ({name: value for name, value in values.items()
             if name in assigned_once}, assigned_once)


def _top_level_reads(statements):
    """Return name -> its one Name node, for the names read exactly once in
    `statements`, where that read is outside any nested block."""
    nodes, counts = {}, {}
    for statement in statements:
        nested = isinstance(statement, (gast.If, gast.For, gast.While,
                                        gast.With, gast.Try))
        in_lambdas = set() if nested else _nodes_in_lambdas(statement)
        for node in name_nodes(statement):
            if isinstance(node.ctx, gast.Load):
                counts[node.id] = counts.get(node.id, 0) + 1
                if not nested and id(node) not in in_lambdas:
                    nodes[node.id] = node
    return {name: node for name, node in nodes.items()
            if counts[name] == 1}


def _nodes_in_lambdas(statement):
    """Return the ids of the nodes inside the lambdas and comprehensions
    of `statement`, whose reads may run any number of times."""
    inside = set()
    for node in walk(statement):
        if isinstance(node, (gast.Lambda, gast.ListComp, gast.SetComp,
                             gast.DictComp, gast.GeneratorExp)):
            inside.update(id(n) for n in walk(node))
    return inside


def _in_adjoint_terms(value, definitions, saved, name):
    """Return `value`, the primal's expression for `name`, written with the
    adjoint's names of saved values, or None if it is not a cheap
    expression of them (see the module docstring)."""
    if isinstance(value, gast.UnaryOp) and isinstance(value.op, gast.USub):
        operand = _saved_operand(value.operand, definitions, saved, name)
        if operand is None:
            return None
        return gast.UnaryOp(op=gast.USub(), operand=operand)
    if not (isinstance(value, gast.BinOp) and isinstance(value.op,
                                                         _OPERATIONS)):
        return None
    if _is_number(value.left):
        operand = _saved_operand(value.right, definitions, saved, name)
        left, right = copy_tree(value.left), operand
    elif _is_number(value.right):
        operand = _saved_operand(value.left, definitions, saved, name)
        left, right = operand, copy_tree(value.right)
    else:
        return None
    if operand is None:
        return None
    return gast.BinOp(left=left, op=type(value.op)(), right=right)


def _saved_operand(node, definitions, saved, name):
    """Return an adjoint expression for the operand `node`: a saved name,
    or a name assigned a saved name indexed by constant slices."""
    if not isinstance(node, gast.Name) or node.id == name:
        return None
    if node.id in saved:
        return _load(saved[node.id])
    value = definitions.get(node.id)
    if not (isinstance(value, gast.Subscript)
            and isinstance(value.value, gast.Name)
            and value.value.id in saved and value.value.id != name
            and _constant_slices(value.slice)):
        return None
    return gast.Subscript(value=_load(saved[value.value.id]),
                          slice=copy_tree(value.slice), ctx=gast.Load())


def _constant_slices(index):
    """True for a slice, or a tuple of slices, whose bounds are None or
    int constants (a negative one is written `-k`)."""
    if isinstance(index, gast.Tuple):
        return bool(index.elts) and all(_constant_slices(e)
                                        for e in index.elts)
    if not isinstance(index, gast.Slice):
        return False
    return all(bound is None or _is_int(bound)
               for bound in (index.lower, index.upper, index.step))


def _is_int(node):
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        node = node.operand
    return (isinstance(node, gast.Constant) and type(node.value) is int)


def _is_number(node):
    return (isinstance(node, gast.Constant)
            and type(node.value) in (int, float, complex))


def _load(name):
    return gast.Name(id=name, ctx=gast.Load(), annotation=None,
                     type_comment=None)


def _replace(tree, old, new):
    """Replace the node `old` by `new` in its parent within `tree`."""
    for node in walk(tree):
        for field, value in gast.iter_fields(node):
            if value is old:
                setattr(node, field, new)
                return
            if isinstance(value, list):
                for position, item in enumerate(value):
                    if item is old:
                        value[position] = new
                        return
    raise ValueError('node not found in tree')
