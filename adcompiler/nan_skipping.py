"""Find the values whose only uses skip their NaN entries.

A function that skips NaNs, such as np.nansum, gives the entries it skips
an adjoint of 0. Reverse mode then multiplies that 0 by the partial
derivatives of the operation that made the value, taken at NaN, and
0 * NaN is NaN. Forward mode leaves the NaN tangents out (see
`ad.skip_nan_tangent`), so the two modes would disagree at those entries:
`grad` of `np.nansum(x ** 3)` would be NaN where x is NaN and `jvp` 0.

`nan_skipped_names` returns the names of a straight-line function whose
every use is either the array argument of such a function or an operand
of an elementwise operation whose result is such a name. The adjoint of
each of them is 0 at its NaN entries. The reverse stage writes the
adjoints that an elementwise operation with such a result passes to its
operands as `ad.skip_nan_adjoint(adjoint, result)`, which is 0 where the
result is NaN. That changes only products 0 * partial, so both modes give
0 there, which is also what central differences give: a NaN entry stays
NaN when it moves.
"""

import numpy as np

import gast

from adcompiler.codegen import BINARY_OPERATORS, UNARY_OPERATORS
from adcompiler.resolve import CallKind
from adcompiler.traversal import name_nodes

# Functions whose adjoint is 0 at the NaN entries of their first argument.
NAN_SKIPPING_FUNCTIONS = (
    np.nansum, np.nanmean, np.nanmax, np.nanmin, np.nanprod, np.nanvar,
    np.nanstd, np.nanmedian, np.nanquantile, np.nanpercentile,
    np.nancumsum, np.nancumprod)


def nan_skipped_names(normalized, resolution, registry):
    """Return the names whose adjoint is 0 at their NaN entries (see the
    module docstring), or an empty set for a function with control flow."""
    if not normalized.single_assignment:
        return frozenset()
    body = normalized.tree.body
    uses = {}  # name -> [(statement, Name node)] for every read
    for statement in body:
        for node in name_nodes(statement):
            if isinstance(node.ctx, gast.Load):
                uses.setdefault(node.id, []).append((statement, node))

    # A use comes after the assignment in straight-line code, so walking
    # backwards decides every result before its operands.
    skipped = set()
    for statement in reversed(body):
        name = _assigned_name(statement)
        if name is None or name not in uses:
            continue
        if all(_skips_nans(use, node, skipped, resolution, registry)
               for use, node in uses[name]):
            skipped.add(name)
    return frozenset(skipped)


def _assigned_name(statement):
    if (isinstance(statement, gast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], gast.Name)):
        return statement.targets[0].id
    return None


def _skips_nans(statement, node, skipped, resolution, registry):
    """Return whether the read `node` in `statement` passes 0 to the NaN
    entries of the value it reads."""
    target = _assigned_name(statement)
    if target is None:
        return False
    value = statement.value
    if isinstance(value, gast.Call):
        resolved = resolution.calls.get(value)
        if resolved is None or resolved.kind is not CallKind.RULE:
            return False
        if (resolved.callee in NAN_SKIPPING_FUNCTIONS and value.args
                and value.args[0] is node):
            return True
        return target in skipped and _is_elementwise(resolved.rule)
    if isinstance(value, gast.BinOp):
        function = BINARY_OPERATORS.get(type(value.op))
    elif isinstance(value, gast.UnaryOp):
        function = UNARY_OPERATORS.get(type(value.op))
    else:
        return False
    return (target in skipped and function is not None
            and _is_elementwise(registry.lookup(function)))


def _is_elementwise(rule):
    """Return whether `rule` is a reverse template of a broadcasting
    operation."""
    template = getattr(rule, 'template', None)
    return template is not None and template.unbroadcast
