"""Add the adjoint contributions that share a factor before multiplying.

Each use of a value adds its own contribution to that value's adjoint, so
the adjoint of `np.log1p(np.exp(-np.abs(x))) + 0.5 * (x + np.abs(x))` adds
two products of the form `g * ad.abs_sign(x)` into `dx`, one per
`np.abs(x)`. This pass rewrites two top-level statements

    d = d + p * f        (or the first contribution, d = p * f)
    ...
    d = d + q * f

as one statement `d = d + (p + q) * f` (or `d = (p + q) * f`) in place of
the second. On arrays this saves a multiplication, the array of one
product and, when `f` is a call, the array of one of its values.

The rewrite is exact in real arithmetic, but floating-point rounding may
change the result: `p * f + q * f` and `(p + q) * f` each differ from the
exact value by a few units in the last place of `|p * f| + |q * f|`, so
the two may differ by that much, more than that in relative terms where
the two products cancel. Where `|p + q|` overflows but `(p + q) * f` would
not (with `|f| < 1`), the result is infinite where the sum of the products
was finite. A reverse-mode tool that accumulates adjoints in another
order makes rounding changes of the same size.

The rewrite applies when

- `f` is the same name, or the same call of a pure function of names and
  constants (see `adcompiler.shared_calls`), in both statements;
- `p`, `q` and `f` read no name that a statement between the two assigns,
  and call no function other than NumPy's and the runtime's pure helpers;
- every statement between the two is an assignment to names other than
  `d` that does not read `d`, or a comment marker.

Then `p` is evaluated after those statements rather than before, with the
same values, and `f` is evaluated once. When `f` is a name that
`adcompiler.shared_calls` assigned a call to, and the combined statement
is now its only reader, the call moves back into that statement, so that
its array is freed as soon as the product is computed.
"""

import gast

from adcompiler import shared_calls
from adcompiler.codegen import COMMENT_PREFIX
from adcompiler.traversal import walk

# Runtime calls that change the tape or run a callee's adjoint; a term
# containing one is never moved.
_EFFECTS = frozenset(('pop', 'append', 'call_adjoint'))


def combine_shared_factors(function, numpy_alias, runtime_alias):
    """Rewrite the top-level statements of `function` in place; see the
    module docstring. Returns whether anything changed."""
    body = function.body
    removed = set()
    combined_factors = set()
    for position, statement in enumerate(body):
        contribution = _contribution(statement)
        if contribution is None or contribution[1] is None:
            continue
        target, _, term, factor = contribution
        earlier = _previous_assignment(body, position, target, removed)
        if earlier is None:
            continue
        previous = _contribution(body[earlier])
        if previous is None:
            continue
        _, accumulated, previous_term, previous_factor = previous
        if not _same_factor(factor, previous_factor, numpy_alias,
                            runtime_alias):
            continue
        moved = [previous_term, factor]
        if not all(_pure(node, numpy_alias, runtime_alias)
                   for node in (previous_term, term, factor)):
            continue
        if _assigned_between(body, earlier, position, removed) & {
                name for node in moved for name in _loads(node)}:
            continue
        statement.value = _product_sum(accumulated, previous_term, term,
                                       factor)
        removed.add(earlier)
        if isinstance(factor, gast.Name):
            combined_factors.add(factor.id)
    function.body = [statement for position, statement in enumerate(body)
                     if position not in removed]
    for name in combined_factors:
        _call_where_read(function, name, numpy_alias, runtime_alias)
    return bool(removed)


def _call_where_read(function, name, numpy_alias, runtime_alias):
    """Replace the only read of `name`, assigned a shareable call once at
    the top level, by that call, when no statement between the two assigns
    the call's arguments."""
    body = function.body
    definitions = [position for position, statement in enumerate(body)
                   if name in _stores(statement)]
    readers = [position for position, statement in enumerate(body)
               if name in _loads(statement)]
    if len(definitions) != 1 or len(readers) != 1:
        return
    definition, reader = definitions[0], readers[0]
    statement = body[definition]
    call = statement.value
    if not (isinstance(statement, gast.Assign)
            and len(statement.targets) == 1
            and _is_name(statement.targets[0], name)
            and isinstance(call, gast.Call)
            and shared_calls.call_key(call, numpy_alias, runtime_alias)
            and isinstance(body[reader], gast.Assign) and reader > definition
            and sum(1 for node in walk(body[reader])
                    if _is_name(node, name)) == 1):
        return
    if _assigned_between(body, definition, reader, ()) & _loads(call):
        return
    for node in walk(body[reader]):
        for field, value in gast.iter_fields(node):
            if value is not None and _is_name(value, name):
                setattr(node, field, call)
            elif isinstance(value, list):
                setattr(node, field, [call if _is_name(item, name) else item
                                      for item in value])
    del body[definition]


def _contribution(statement):
    """Return `(d, d, p, f)` for `d = d + p * f`, `(d, None, p, f)` for
    `d = p * f`, or None for any other statement."""
    if not (isinstance(statement, gast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], gast.Name)):
        return None
    target = statement.targets[0].id
    value = statement.value
    accumulated = None
    if (isinstance(value, gast.BinOp) and isinstance(value.op, gast.Add)
            and _is_name(value.left, target)):
        accumulated, value = value.left, value.right
    if not (isinstance(value, gast.BinOp)
            and isinstance(value.op, gast.Mult)):
        return None
    if target in _loads(value):
        return None
    return target, accumulated, value.left, value.right


def _previous_assignment(body, position, target, removed):
    """Return the position of the last statement before `position` that
    assigns `target`, when every statement in between is a comment marker
    or an assignment that neither reads nor assigns `target`; else None."""
    for earlier in range(position - 1, -1, -1):
        if earlier in removed:
            continue
        statement = body[earlier]
        if _is_comment(statement):
            continue
        if not (isinstance(statement, gast.Assign)
                and all(isinstance(t, (gast.Name, gast.Tuple))
                        for t in statement.targets)):
            return None
        if target in _stores(statement):
            return earlier
        if target in _loads(statement):
            return None
    return None


def _assigned_between(body, earlier, position, removed):
    return {name for between in range(earlier + 1, position)
            if between not in removed for name in _stores(body[between])}


def _same_factor(first, second, numpy_alias, runtime_alias):
    """True when `first` and `second` are the same name, or calls of the
    same pure function with the same names and constants."""
    if isinstance(first, gast.Name) and isinstance(second, gast.Name):
        return first.id == second.id
    if not (isinstance(first, gast.Call) and isinstance(second, gast.Call)):
        return False
    key = shared_calls.call_key(first, numpy_alias, runtime_alias)
    return key is not None and key == shared_calls.call_key(
        second, numpy_alias, runtime_alias)


def _pure(node, numpy_alias, runtime_alias):
    """True when every call in `node` is of a function of NumPy or of the
    runtime other than those in `_EFFECTS`, and nothing in it is evaluated
    conditionally or assigns a name."""
    for child in walk(node):
        if isinstance(child, (gast.NamedExpr, gast.Lambda, gast.Yield,
                              gast.YieldFrom, gast.Await)):
            return False
        if not isinstance(child, gast.Call):
            continue
        func = child.func
        if not (isinstance(func, gast.Attribute)
                and isinstance(func.value, gast.Name)
                and func.value.id in (numpy_alias, runtime_alias)
                and func.attr not in _EFFECTS):
            return False
    return True


def _product_sum(accumulated, first, second, factor):
    """Return `accumulated + (first + second) * factor`, or the product
    alone when `accumulated` is None.

    When only `second` is an arithmetic operation, the sum is written
    `second + first`: NumPy computes a sum in the buffer of a temporary
    array on its left, but not in one on its right when the left operand
    is a NumPy scalar. Both terms are pure, and addition of numbers and
    arrays is commutative, so the order changes no bit of the result.
    """
    if isinstance(second, gast.BinOp) and not isinstance(first, gast.BinOp):
        first, second = second, first
    product = gast.BinOp(left=gast.BinOp(left=first, op=gast.Add(),
                                         right=second),
                         op=gast.Mult(), right=factor)
    if accumulated is None:
        return product
    return gast.BinOp(left=accumulated, op=gast.Add(), right=product)


def _is_name(node, name):
    return isinstance(node, gast.Name) and node.id == name


def _is_comment(statement):
    return (isinstance(statement, gast.Expr)
            and isinstance(statement.value, gast.Constant)
            and isinstance(statement.value.value, str)
            and statement.value.value.startswith(COMMENT_PREFIX))


def _loads(node):
    return {n.id for n in walk(node)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}


def _stores(node):
    return {n.id for n in walk(node)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
