"""Float scalar facts: which names always hold a real 64-bit float scalar.

A NumPy function called on a Python float returns a NumPy scalar, and
arithmetic on NumPy scalars costs three to five times as much as on Python
floats. When a function is compiled for arguments that are Python floats,
`scalar_names` finds the names of the normalized function whose every value
is a Python `float` or a `np.float64`. The optimize stage then calls the
`math` module, through the runtime's `float_*` helpers, where the adjoint
applies a NumPy function to such a value (`rewrite_float_calls`), and the
adjoint's arithmetic stays on Python floats.

A name is a float scalar when every assignment to it gives one:

- a parameter whose argument is a float scalar (the caller passes these
  names, and the cache keeps one compiled version per set of them);
- a float constant;
- `-x`, `+x`, and `x op y` with `op` one of `+ - * /` and each operand a
  float scalar name or an int or float constant;
- `x ** n` with `x` a float scalar name and `n` an int constant (a float
  exponent of a negative float would give a complex number);
- a NumPy function of one float scalar name from `REAL_UFUNCS` (it returns
  a `np.float64`, NaN where the value is undefined);
- a function of the `math` module from `_FLOAT_MATH` (it returns a float or
  raises).

Any other assignment, a loop target, a global and an in-place update make
the name something else. The facts hold for the whole function, whatever
the order of the statements, so they hold in the adjoint too, where the
primal's values are read back under the same names.
"""

import math

import gast
import numpy as np

from adcompiler.resolve import CallKind
from adcompiler.shapes import greatest_fixed_point
from adcompiler.traversal import find_nodes, walk

# NumPy functions that map a real float64 scalar to a real float64 scalar.
REAL_UFUNCS = frozenset(id(f) for f in (
    np.sin, np.cos, np.tan, np.arcsin, np.arccos, np.arctan,
    np.sinh, np.cosh, np.tanh, np.arcsinh, np.arccosh, np.arctanh,
    np.exp, np.exp2, np.expm1, np.log, np.log2, np.log10, np.log1p,
    np.sqrt, np.cbrt, np.square, np.negative, np.positive, np.reciprocal,
    np.abs, np.absolute, np.fabs,
))

# Functions of the math module that always return a float.
_FLOAT_MATH = frozenset(id(f) for f in (
    math.sin, math.cos, math.tan, math.asin, math.acos, math.atan,
    math.atan2, math.sinh, math.cosh, math.tanh, math.asinh, math.acosh,
    math.atanh, math.exp, math.expm1, math.log, math.log2, math.log10,
    math.log1p, math.sqrt, math.pow, math.hypot, math.fabs, math.degrees,
    math.radians, math.erf, math.erfc, math.gamma, math.lgamma,
    math.copysign, math.fmod, math.remainder, math.fsum,
))

# NumPy function name -> runtime helper that applies the math function to a
# float scalar (see `adcompiler.runtime.float_sin`): the functions that the
# adjoints of the elementwise rules apply to primal values.
FLOAT_HELPERS = {
    'sin': 'float_sin', 'cos': 'float_cos', 'sinh': 'float_sinh',
    'cosh': 'float_cosh', 'exp': 'float_exp', 'log': 'float_log',
    'sqrt': 'float_sqrt',
}

_ARITHMETIC = (gast.Add, gast.Sub, gast.Mult, gast.Div)

_NEVER = object()  # an assignment that may give something else
_ALWAYS = ()  # an assignment that gives a float scalar whatever the operands


def scalar_names(normalized, resolution, scalar_params):
    """Return the names of `normalized` that always hold a float scalar.

    `scalar_params` contains the parameters whose arguments are Python
    floats or `np.float64` scalars.
    """
    if not scalar_params:
        return frozenset()
    definitions = {name: [_ALWAYS if name in scalar_params else _NEVER]
                   for name in normalized.params}
    _collect(normalized.tree.body, resolution, definitions)
    for node in walk(normalized.tree):
        if isinstance(node, gast.Name) and node.id not in definitions:
            definitions[node.id] = [_NEVER]  # a global, or a name never set

    # Every definition of every name left reads only names left.
    def keeps(entry, scalars):
        return entry is not _NEVER and all(o in scalars for o in entry)
    return frozenset(greatest_fixed_point(definitions, keeps))


def _collect(statements, resolution, definitions):
    """Record what each assignment in `statements` needs, nested blocks too."""
    for statement in statements:
        if isinstance(statement, (gast.For, gast.While, gast.If)):
            if isinstance(statement, gast.For):
                _set_never(statement.target, definitions)
            _collect(statement.body, resolution, definitions)
            _collect(statement.orelse, resolution, definitions)
        elif (isinstance(statement, gast.Assign)
              and len(statement.targets) == 1
              and isinstance(statement.targets[0], gast.Name)):
            definitions.setdefault(statement.targets[0].id, []).append(
                _operands(statement.value, resolution))
        else:
            _set_never(statement, definitions)
        _mark_updates(statement, definitions)


def _set_never(node, definitions):
    for child in walk(node):
        if isinstance(child, gast.Name) and isinstance(
                child.ctx, (gast.Store, gast.Del)):
            definitions.setdefault(child.id, []).append(_NEVER)


def _mark_updates(statement, definitions):
    """Mark names whose attributes or items are written: they may hold
    anything."""
    for node in walk(statement):
        if isinstance(node, (gast.Subscript, gast.Attribute)) and isinstance(
                node.ctx, gast.Store) and isinstance(node.value, gast.Name):
            definitions.setdefault(node.value.id, []).append(_NEVER)


def _operands(value, resolution):
    """Return the names that must be float scalars for `value` to be one,
    or `_NEVER`."""
    if isinstance(value, gast.Constant):
        return _ALWAYS if type(value.value) is float else _NEVER
    if isinstance(value, gast.Name):
        return (value.id,)
    if isinstance(value, gast.UnaryOp) and isinstance(
            value.op, (gast.USub, gast.UAdd)) and isinstance(value.operand,
                                                            gast.Name):
        return (value.operand.id,)
    if isinstance(value, gast.BinOp):
        return _binary_operands(value)
    if isinstance(value, gast.Call) and not value.keywords:
        resolved = resolution.calls.get(value)
        if resolved is None or resolved.kind is not CallKind.RULE:
            return _NEVER
        if id(resolved.callee) in _FLOAT_MATH:
            return _ALWAYS
        if (id(resolved.callee) in REAL_UFUNCS and len(value.args) == 1
                and isinstance(value.args[0], gast.Name)):
            return (value.args[0].id,)
    return _NEVER


def _binary_operands(value):
    sides = (value.left, value.right)
    if isinstance(value.op, gast.Pow):
        if (isinstance(value.left, gast.Name)
                and isinstance(value.right, gast.Constant)
                and type(value.right.value) is int):
            return (value.left.id,)
        return _NEVER
    if not isinstance(value.op, _ARITHMETIC):
        return _NEVER
    names = []
    for side in sides:
        if isinstance(side, gast.Name):
            names.append(side.id)
        elif not (isinstance(side, gast.Constant)
                  and type(side.value) in (int, float)):
            return _NEVER
    if not names:
        return _NEVER  # Two constants, which may give an int.
    return tuple(names)


def is_float_scalar(node, scalars):
    """True when expression `node` surely evaluates to a float scalar (or
    raises) given the names in `scalars`."""
    if isinstance(node, gast.Name):
        return node.id in scalars
    if isinstance(node, gast.Constant):
        return type(node.value) is float
    if isinstance(node, gast.UnaryOp) and isinstance(node.op,
                                                     (gast.USub, gast.UAdd)):
        return is_float_scalar(node.operand, scalars)
    if isinstance(node, gast.BinOp) and isinstance(node.op, gast.Pow):
        return (is_float_scalar(node.left, scalars)
                and isinstance(node.right, gast.Constant)
                and type(node.right.value) is int)
    if isinstance(node, gast.BinOp) and isinstance(node.op, _ARITHMETIC):
        sides = (node.left, node.right)
        return (any(is_float_scalar(side, scalars) for side in sides)
                and all(is_float_scalar(side, scalars)
                        or (isinstance(side, gast.Constant)
                            and type(side.value) is int)
                        for side in sides))
    return False


def rewrite_float_calls(function, scalars, numpy_alias, runtime_alias):
    """Replace `np.f(e)` by `ad.float_f(e)` in `function` where `e` is a
    float scalar, for the functions in `FLOAT_HELPERS`.

    The argument is evaluated as before; only the function applied to it
    changes, and the helper returns NumPy's result where `math` raises. The
    result is a Python float where NumPy's is a np.float64, and the two
    differ where they are divided by zero or raised to a fractional power
    (ZeroDivisionError or a complex number, against infinity or NaN). So a
    call is only replaced where its result is added, subtracted, negated or
    multiplied on the way to the value of the statement.

    NOTE: the cotangents that such a product makes may then be Python
    floats. A later rule may divide one by a zero primal value and raise
    ZeroDivisionError (the adjoint of `math.atan(np.log(x))` at 0, say), as
    it does without this rewrite when the function's output is a Python
    float.
    """
    if not scalars:
        return
    rewriter = _FloatCallRewriter(scalars, numpy_alias, runtime_alias)
    for node in find_nodes(function, (gast.Assign, gast.Return)):
        if node.value:
            node.value = rewriter.rewrite(node.value)


class _FloatCallRewriter:

    def __init__(self, scalars, numpy_alias, runtime_alias):
        self.scalars = scalars
        self.numpy_alias = numpy_alias
        self.runtime_alias = runtime_alias

    def rewrite(self, node):
        """Rewrite the calls in `node` reached through sums, differences,
        negations and products, and through the branches of `a if t else b`."""
        if isinstance(node, gast.BinOp) and isinstance(
                node.op, (gast.Add, gast.Sub, gast.Mult)):
            node.left = self.rewrite(node.left)
            node.right = self.rewrite(node.right)
        elif isinstance(node, gast.UnaryOp) and isinstance(
                node.op, (gast.USub, gast.UAdd)):
            node.operand = self.rewrite(node.operand)
        elif isinstance(node, gast.IfExp):
            node.body = self.rewrite(node.body)
            node.orelse = self.rewrite(node.orelse)
        elif self.is_float_call(node):
            node.func = gast.Attribute(
                value=gast.Name(id=self.runtime_alias, ctx=gast.Load(),
                                annotation=None, type_comment=None),
                attr=FLOAT_HELPERS[node.func.attr], ctx=gast.Load())
        return node

    def is_float_call(self, node):
        return (isinstance(node, gast.Call) and not node.keywords
                and len(node.args) == 1
                and isinstance(node.func, gast.Attribute)
                and isinstance(node.func.value, gast.Name)
                and node.func.value.id == self.numpy_alias
                and node.func.attr in FLOAT_HELPERS
                and is_float_scalar(node.args[0], self.scalars))


def accepts_float_seed(adjoint, scalars, runtime_alias):
    """True when `adjoint` gives the same results, in float64, for the
    cotangent 1.0 as for np.float64(1.0).

    A Python float cotangent keeps the adjoint's arithmetic on Python
    floats. That is the same as NumPy's float64 arithmetic for `+`, `-` and
    `*` of float scalars (NumPy warns on an overflow where Python does not),
    but not for a division by zero, a power, or a value of another dtype. So
    every statement must be bookkeeping (tape pops, `None` tests, the loops
    over trips, the return) or assign an expression of sums, differences and
    products of float scalars, cotangents and `float_*` helper calls.
    """
    if not scalars:
        return False
    checker = _SeedChecker(scalars, runtime_alias)
    # A statement found safe with fewer safe names is safe with more, so
    # code that fails with every name safe fails at the fixed point too.
    # Finding that point walks the adjoint and then takes a pass over its
    # names for each name it removes.
    if not checker.block_is_safe(adjoint.body):
        return False
    checker.find_safe_names(adjoint)
    return checker.block_is_safe(adjoint.body)


class _EveryName:
    """The set of all names."""

    def __contains__(self, name):
        return True


class _SeedChecker:

    def __init__(self, scalars, runtime_alias):
        self.runtime_alias = runtime_alias
        self.scalars = scalars
        # The names that hold float scalars or None. Until
        # `find_safe_names` runs, every name is taken as safe.
        self.safe = _EveryName()

    def find_safe_names(self, adjoint):
        """Set `safe` to the greatest fixed point, starting from every name
        that `adjoint` assigns."""
        seed = adjoint.args.args[1].id
        values = {}  # name -> assigned expressions, None for other stores
        simple_targets = set()
        stores = []
        for node in find_nodes(adjoint, (gast.Assign, gast.Name)):
            if isinstance(node, gast.Assign) and isinstance(node.targets[0],
                                                            gast.Name):
                values.setdefault(node.targets[0].id, []).append(node.value)
                simple_targets.add(id(node.targets[0]))
            elif isinstance(node, gast.Name) and isinstance(node.ctx,
                                                            gast.Store):
                stores.append(node)
        for node in stores:
            if id(node) not in simple_targets:
                values.setdefault(node.id, []).append(None)
        self.safe = set(values) | {seed}
        self.remove_unsafe_names(values)

    def remove_unsafe_names(self, values):
        scalars = self.scalars
        changed = True
        while changed:
            changed = False
            for name, assigned in values.items():
                if name in self.safe and name not in scalars and not all(
                        value is not None and self.is_safe(value)
                        for value in assigned):
                    self.safe.discard(name)
                    changed = True

    def is_runtime_call(self, node, names):
        return (isinstance(node, gast.Call) and not node.keywords
                and isinstance(node.func, gast.Attribute)
                and isinstance(node.func.value, gast.Name)
                and node.func.value.id == self.runtime_alias
                and node.func.attr in names)

    def is_safe(self, node):
        """True for an expression whose value is a float scalar or None."""
        if isinstance(node, gast.Constant):
            return node.value is None or type(node.value) in (int, float)
        if isinstance(node, gast.Name):
            return node.id in self.safe or node.id in self.scalars
        if isinstance(node, gast.BinOp):
            return (isinstance(node.op, (gast.Add, gast.Sub, gast.Mult))
                    and self.is_safe(node.left) and self.is_safe(node.right))
        if isinstance(node, gast.UnaryOp):
            return isinstance(node.op, (gast.USub, gast.UAdd)) and \
                self.is_safe(node.operand)
        if isinstance(node, gast.IfExp):
            return (self.is_test(node.test) and self.is_safe(node.body)
                    and self.is_safe(node.orelse))
        if self.is_runtime_call(node, FLOAT_HELPERS.values()):
            return is_float_scalar(node.args[0], self.scalars)
        if self.is_runtime_call(node, ('add',)):
            return all(self.is_safe(arg) for arg in node.args)
        return False

    @staticmethod
    def is_test(node):
        """True for a test without arithmetic or calls (`dx is None`)."""
        return not any(isinstance(n, (gast.Call, gast.BinOp))
                       for n in walk(node))

    def block_is_safe(self, statements):
        return all(self.statement_is_safe(s) for s in statements)

    def statement_is_safe(self, statement):
        if isinstance(statement, gast.Expr):
            return isinstance(statement.value, gast.Constant)  # a comment
        if isinstance(statement, gast.If):
            return (self.is_test(statement.test)
                    and self.block_is_safe(statement.body)
                    and self.block_is_safe(statement.orelse))
        if isinstance(statement, gast.For):
            return (self.is_runtime_call(statement.iter, ('reversed_range',))
                    and not statement.orelse
                    and self.block_is_safe(statement.body))
        if isinstance(statement, gast.Return):
            return statement.value is not None and all(
                self.is_runtime_call(node, ('materialize', 'input_adjoint'))
                for node in walk(statement.value)
                if isinstance(node, gast.Call))
        if isinstance(statement, gast.Assign) and len(statement.targets) == 1:
            value = statement.value
            if isinstance(statement.targets[0], gast.Tuple):
                return isinstance(value, gast.Name)  # unpacking saved values
            return self.is_safe(value) or (
                isinstance(value, gast.Call) and not value.args
                and isinstance(value.func, gast.Attribute)
                and value.func.attr == 'pop')  # a value from the tape
        return False
