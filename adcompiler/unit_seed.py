"""Grad's adjoint from a seed of one: products with the seed dropped, and
operators with a new array on their right computed in that array.

`grad` runs the grad-only adjoint (see `adcompiler.grad_only`) with the
seed that the grad-only primal returns. When that seed is
`np.float64(1.0)`, `unit_seed_adjoint` copies the optimized adjoint and
rewrites its top-level statements with what follows from it. A *unit* is a
name assigned once whose value is one or minus one of type `np.float64`:
the seed, a copy or a negation of a unit, or
`ad.compact_sum_adjoint(u, x, None, keepdims)` or `np.real(u)` of a unit
`u` (the cotangent of `np.sum(x)` over all axes, and of a real value). With
`u` a unit, `k` a name, a number or the real part of a name, and `e` a
float64 value (below):

- `u * e` and `e * u` become `e`, or `-e` when `u` is minus one, when `e`
  is a new array. A name stays multiplied: the product is a new array,
  which later code may add into in place, and the name may be an array
  that the user can read;
- `-e + k` and `k + -e` become `k - e`, which reads `k` before `e`;
- `k - e` and `k / e`, with `e` a new array, become
  `ad.apply_in_place(np.subtract, k, e)` and
  `ad.apply_in_place(np.divide, k, e)`, so the result goes into the
  array of `e`. NumPy reuses a temporary array for the result of an
  operator only when it is the left operand (or either operand of `+` and
  `*`), so `k - e` allocates an array where the helper makes none.

All of them give the same values bit for bit. The optimizer writes the
adjoint of the softplus sum
`np.sum(np.log1p(np.exp(-np.abs(x))) + 0.5 * (x + np.abs(x)))` as
`ad.quotient_in_divisor(t3, t3 + 1.0) * -dt8 + dt6`, where `dt8` is the
seed: three passes over the array, the product and the sum in the buffer
of the quotient. Here it becomes
`ad.apply_in_place(np.subtract, dt6, ad.quotient_in_divisor(t3, t3 + 1.0))`,
two passes.

*Float64 values* keep the types of these rewrites exact: dropping a
factor `np.float64(1.0)` from an int or a Python float would change its
type. A float64 value is a saved value that the grad-only primal proves a
float64 ndarray or `np.float64` (`GradOnlyPrimal.float64_saved`), a unit,
or a name whose every assignment assigns a float64 value at the top level.
Arithmetic (`+ - * /`) of a float64 value with a float64 value or a
number, a negation of one, and a NumPy function of `_UFUNCS`,
`ad.abs_sign`, `ad.call_into`, `ad.quotient_in_divisor` or
`ad.apply_in_place` of float64 values are float64 values too. A *new
array* is such an operation: NumPy computes it in an array that nothing
else refers to, or computes a scalar. `ad.call_into` returns an array
that the adjoint owns and no longer reads (see `adcompiler.donation`).
`ad.apply_in_place` writes into its last argument only when that is a
float64 array with an axis and the other arguments broadcast to its shape
without changing its dtype. It checks this at run time, and otherwise it
computes a new value.
"""

import collections

import gast

from adcompiler import optimize
from adcompiler.codegen import saved_unpacking
from adcompiler.traversal import Transformer, copy_tree, name_nodes

# NumPy functions of one argument that compute a float64 value from a
# float64 value.
_UFUNCS = frozenset((
    'sin', 'cos', 'tan', 'sinh', 'cosh', 'tanh', 'exp', 'expm1', 'log',
    'log1p', 'sqrt', 'square', 'sign', 'abs', 'absolute', 'reciprocal',
    'negative',
))
# Runtime helpers whose result is a float64 value when all their value
# arguments are, with the positions of the functions they take.
_RUNTIME_FUNCTIONS = {
    'abs_sign': (), 'call_into': (1,), 'quotient_in_divisor': (),
    'apply_in_place': (0,),
}

_ARITHMETIC = (gast.Add, gast.Sub, gast.Mult, gast.Div)
# The NumPy functions that generated code passes to `ad.apply_in_place`.
_APPLIED_UFUNCS = _UFUNCS | {'add', 'subtract', 'multiply', 'divide'}


def unit_seed_adjoint(adjoint, float64_saved, numpy_alias, runtime_alias,
                      name):
    """Return a copy of the optimized `adjoint` named `name`, rewritten
    for the seed `np.float64(1.0)` by the rules of the module docstring, or
    None when no rule applies.

    `float64_saved` contains the positions of float64 values in the saved
    values (`GradOnlyPrimal.float64_saved`).
    """
    unpacking = saved_unpacking(adjoint)
    if unpacking is None or len(adjoint.args.args) != 2:
        return None
    seed = adjoint.args.args[1].id
    # Counting the assignments walks every expression, so a first probe
    # takes each name but the seed as assigned once. Its facts then include
    # every unit and float64 value that the counts give, and perhaps more,
    # and each rule applies only where such facts hold. So when no rule
    # applies in the probe, none applies with the counts either.
    assumed = _EachAssignedOnce({seed: 0})
    if _rewrite(adjoint, unpacking, float64_saved, assumed, numpy_alias,
                runtime_alias, None) is None:
        return None
    stores = _stores(adjoint)
    if stores[seed]:
        return None
    function = _rewrite(adjoint, unpacking, float64_saved, stores,
                        numpy_alias, runtime_alias, name)
    if function is not None:
        # A unit that a dropped product read may be read by nothing now.
        optimize.remove_dead_code(function, optimize.DeadCodePolicy())
    return function


class _EachAssignedOnce(dict):
    """Assignment counts, by name, that take a name not in the dictionary
    as assigned once."""

    def __missing__(self, name):
        return 1


def _rewrite(adjoint, unpacking, float64_saved, stores, numpy_alias,
             runtime_alias, name):
    """Return a copy of `adjoint` named `name` with the rules applied,
    given `stores`, how many times each name is assigned, or None when no
    rule applies. With `name` None, only return whether a rule applies:
    `adjoint` itself, or None."""
    seed = adjoint.args.args[1].id
    types = _Types(numpy_alias, runtime_alias)
    types.float64.add(seed)
    types.units[seed] = 1
    for position in float64_saved:
        if position < len(unpacking.elts):
            element = unpacking.elts[position]
            if isinstance(element, gast.Name) and stores[element.id] == 1:
                types.float64.add(element.id)

    nested = {stored for statement in adjoint.body[1:]
              if not isinstance(statement, (gast.Assign, gast.Return,
                                            gast.Expr))
              for stored in _stores_in(statement)}
    # The statements are first visited in `adjoint` itself by a rewriter
    # that raises at the first rule that applies, before it changes any
    # node. Only then is the adjoint copied, and the rewriting goes on in
    # the copy from that statement, because `types` contains names, not
    # nodes. Most adjoints are never copied.
    rewriter = _Rewriter(types, numpy_alias, runtime_alias, probing=True)
    function = adjoint
    position = 1
    while position < len(function.body):
        try:
            _rewrite_statement(function.body[position], rewriter, types,
                               stores, nested)
        except _RuleApplies:
            if name is None:
                return adjoint
            function = copy_tree(adjoint)
            function.name = name
            rewriter.probing = False
            continue
        position += 1
    if not rewriter.changed:
        return None
    return function


def _rewrite_statement(statement, rewriter, types, stores, nested):
    """Rewrite one top-level statement of the adjoint after its saved
    values are unpacked, and record the float64 values and units that it
    assigns."""
    if isinstance(statement, (gast.Return, gast.Expr)):
        statement.value = rewriter.visit(statement.value)
    elif (isinstance(statement, gast.Assign)
          and len(statement.targets) == 1
          and isinstance(statement.targets[0], gast.Name)):
        statement.value = rewriter.visit(statement.value)
        target = statement.targets[0].id
        types.units.pop(target, None)
        types.float64.discard(target)
        if target in nested:
            return
        if types.is_float64(statement.value):
            types.float64.add(target)
        unit = types.unit(statement.value)
        if unit is not None and stores[target] == 1:
            types.units[target] = unit
    else:
        # Names that a loop, a branch or an unpacking assigns are no
        # longer known.
        for target in _stores_in(statement):
            types.units.pop(target, None)
            types.float64.discard(target)


class _RuleApplies(Exception):
    """Raised by a probing `_Rewriter` where a rule would change a node."""


class _Types:
    """Record of the float64 values and the units of the adjoint so far."""

    def __init__(self, numpy_alias, runtime_alias):
        self.numpy_alias = numpy_alias
        self.runtime_alias = runtime_alias
        self.float64 = set()
        self.units = {}  # name -> 1 or -1

    def unit(self, node):
        """Return 1 or -1 for a unit, or its negation, or the compact
        cotangent of a sum of a unit over all axes; else None."""
        if isinstance(node, gast.Name):
            return self.units.get(node.id)
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
            inner = self.unit(node.operand)
            return None if inner is None else -inner
        if (self.numpy_function(node) == 'real' and len(node.args) == 1
                and not node.keywords):
            return self.unit(node.args[0])
        if (self.runtime_function(node) == 'compact_sum_adjoint'
                and 1 <= len(node.args) <= 4 and not node.keywords):
            axis = node.args[2] if len(node.args) > 2 else None
            if axis is None or (isinstance(axis, gast.Constant)
                                and axis.value is None):
                return self.unit(node.args[0])
        return None

    def is_float64(self, node):
        """True for a float64 value (see the module docstring)."""
        if isinstance(node, gast.Name):
            return node.id in self.float64
        if isinstance(node, gast.BinOp) and isinstance(node.op, _ARITHMETIC):
            left, right = node.left, node.right
            return ((self.is_float64(left) and self.is_float64_or_number(
                right)) or (self.is_float64(right)
                            and self.is_float64_or_number(left)))
        if isinstance(node, gast.UnaryOp) and isinstance(
                node.op, (gast.USub, gast.UAdd)):
            return self.is_float64(node.operand)
        if not isinstance(node, gast.Call) or node.keywords or any(
                isinstance(argument, gast.Starred) for argument in node.args):
            return False

        if self.numpy_function(node) in _UFUNCS | {'real'}:
            return len(node.args) == 1 and self.is_float64(node.args[0])
        helper = self.runtime_function(node)
        if helper == 'compact_sum_adjoint':
            return self.unit(node) is not None
        if helper not in _RUNTIME_FUNCTIONS:
            return False
        functions = _RUNTIME_FUNCTIONS[helper]
        values = [argument for position, argument in enumerate(node.args)
                  if position not in functions]
        if helper == 'apply_in_place' and not (
                node.args and self.numpy_attribute(node.args[0])
                in _APPLIED_UFUNCS):
            return False
        return bool(values) and all(self.is_float64_or_number(value)
                                    for value in values) and any(
            self.is_float64(value) for value in values)

    def is_float64_or_number(self, node):
        return self.is_float64(node) or _is_number(node)

    def is_new(self, node):
        """True for a float64 value that NumPy computes in an array that
        nothing else refers to (or as a scalar)."""
        if not isinstance(node, (gast.BinOp, gast.UnaryOp, gast.Call)):
            return False
        # The real part of a real array is that array.
        return self.numpy_function(node) != 'real' and self.is_float64(node)

    def numpy_function(self, node):
        """Return the attribute name of a call `np.f(...)`, or None."""
        if not isinstance(node, gast.Call):
            return None
        return self.numpy_attribute(node.func)

    def numpy_attribute(self, node):
        """Return the attribute name of `np.f`, or None."""
        if (isinstance(node, gast.Attribute)
                and isinstance(node.value, gast.Name)
                and node.value.id == self.numpy_alias):
            return node.attr
        return None

    def runtime_function(self, node):
        """Return the attribute name of `ad.f(...)`, or None."""
        if not isinstance(node, gast.Call):
            return None
        func = node.func
        if (isinstance(func, gast.Attribute)
                and isinstance(func.value, gast.Name)
                and func.value.id == self.runtime_alias):
            return func.attr
        return None


class _Rewriter(Transformer):
    """Apply the rules of the module docstring to one expression, from
    the leaves up."""

    def __init__(self, types, numpy_alias, runtime_alias, probing=False):
        self.types = types
        self.numpy_alias = numpy_alias
        self.runtime_alias = runtime_alias
        # While probing, the first rule that applies raises `_RuleApplies`
        # before any node of the tree changes.
        self.probing = probing
        self.changed = False

    # Expressions that run later, or not at all, are left as they are.
    def visit_Lambda(self, node):
        return node

    visit_IfExp = visit_BoolOp = visit_ListComp = visit_SetComp = \
        visit_DictComp = visit_GeneratorExp = visit_Lambda

    def visit_BinOp(self, node):
        self.generic_visit(node)
        types = self.types
        if isinstance(node.op, gast.Mult):
            for factor, other in ((node.left, node.right),
                                  (node.right, node.left)):
                # A name stays: its product is a new array, which later
                # code may add into in place, where the name may be the
                # user's array.
                unit = types.unit(factor)
                if unit is not None and types.is_new(other):
                    return self._changed(_negated(other, unit))
        if isinstance(node.op, gast.Add):
            for negation, other in ((node.left, node.right),
                                    (node.right, node.left)):
                if (_is_negation(negation) and self._is_plain(other)
                        and types.is_float64(negation.operand)
                        and types.is_float64_or_number(other)):
                    self._mark_changed()
                    node = gast.BinOp(left=other, op=gast.Sub(),
                                      right=negation.operand)
                    break
        if (isinstance(node.op, (gast.Sub, gast.Div))
                and self._is_plain(node.left)
                and types.is_new(node.right)
                and types.is_float64_or_number(node.left)):
            ufunc = 'subtract' if isinstance(node.op, gast.Sub) else 'divide'
            return self._changed(self._in_place(ufunc, node.left,
                                                node.right))
        return node

    def _is_plain(self, node):
        """True for a name, a number or the real part of a name, whose
        evaluation has no effect and may move."""
        if (self.types.numpy_function(node) == 'real' and len(node.args) == 1
                and not node.keywords):
            node = node.args[0]
        return _is_name_or_number(node)

    def _in_place(self, ufunc, left, right):
        function = gast.Attribute(value=_name(self.numpy_alias), attr=ufunc,
                                  ctx=gast.Load())
        helper = gast.Attribute(value=_name(self.runtime_alias),
                                attr='apply_in_place', ctx=gast.Load())
        return gast.Call(func=helper, args=[function, left, right],
                         keywords=[])

    def _changed(self, node):
        self._mark_changed()
        return node

    def _mark_changed(self):
        if self.probing:
            raise _RuleApplies
        self.changed = True


def _negated(node, sign):
    if sign == 1:
        return node
    return gast.UnaryOp(op=gast.USub(), operand=node)


def _is_negation(node):
    return isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub)


def _is_number(node):
    return (isinstance(node, gast.Constant)
            and type(node.value) in (int, float))


def _is_name_or_number(node):
    return isinstance(node, gast.Name) or _is_number(node)


# The contexts of names assigned or deleted. No gast context class has a
# subclass, so a name's context class is looked up in the set.
_STORE_OR_DEL = frozenset((gast.Store, gast.Del))


def _stores(function):
    """Return how many times each name of `function` is assigned."""
    return collections.Counter([node.id for node in name_nodes(function)
                                if node.ctx.__class__ in _STORE_OR_DEL])


def _stores_in(node):
    return {n.id for n in name_nodes(node)
            if isinstance(n.ctx, (gast.Store, gast.Del))}


def _name(identifier):
    return gast.Name(id=identifier, ctx=gast.Load(), annotation=None,
                     type_comment=None)
