"""Scalar facts: which names always hold a real float or integer scalar.

A NumPy function called on a Python float returns a NumPy scalar, and
arithmetic on NumPy scalars costs three to five times as much as on Python
floats. When a function is compiled for arguments that are Python floats,
`scalar_types` finds the names of the normalized function whose every value
is a real scalar, and of which type:

- `FLOAT`: a Python `float` or a `np.float64`;
- `INT`: a Python `int` or a NumPy integer scalar (not a bool);
- `NUMBER`: either of these (`s = 0` before `s = s + x` in a loop).

The optimize stage then calls the `math` module, through the runtime's
`float_*` helpers, where the adjoint applies a NumPy function to a float
(`rewrite_float_calls`), and the adjoint's arithmetic stays on Python
floats. The shape facts take every name of the three types to have the
shape () and a real value, so their adjoints need no `ad.unbroadcast`.

These assignments give a type:

- a parameter whose argument is a float scalar (the caller passes these
  names, and the cache keeps one compiled version per set of them): FLOAT;
- a float constant: FLOAT; an int constant: INT;
- the target of `for i in range(...)`, and the count `i` of
  `for i, v in enumerate(...)`: INT;
- `len(e)` and `int(e)`: INT; `float(e)`: FLOAT; `np.float64(e)` of a
  name of one of the three types: FLOAT;
- `-x` and `+x`: the type of `x`;
- `x op y` with `op` one of `+ - * // %`: FLOAT when either operand is a
  FLOAT and the other of one of the three types, INT when both are INTs,
  else NUMBER; `x / y` of two such operands: FLOAT (`1 / 2` is 0.5);
- `x ** n` with `n` an INT (a float exponent of a negative float would
  give a complex number): FLOAT for a FLOAT `x`; INT for an INT `x` and an
  int constant `n >= 0` (`2 ** -1` is 0.5), else NUMBER;
- a NumPy function of `REAL_UFUNCS` of one name of the three types: FLOAT,
  except that the functions of `_INTEGER_UFUNCS` (`np.square`, `np.abs`,
  ...) keep the type of an INT or NUMBER argument;
- a function of the `math` module from `_FLOAT_MATH`: FLOAT.

Each of these either gives a value of that type or raises. Any other
assignment, any other loop target, a global and an in-place update make
the name something else. The analysis is an abstract interpretation that
ignores the order of the statements: a name's type joins what every
assignment to it can give, so the facts hold for the whole function, and
in the adjoint too, where the primal's values are read back under the same
names.
"""

import math
import operator

import gast
import numpy as np

from adcompiler.known_shapes import least_fixed_point
from adcompiler.resolve import CallKind
from adcompiler.rules import operators
from adcompiler.traversal import find_nodes, statement_nodes, walk
from adcompiler.verbatim import Verbatim

# NumPy functions that map a real float64 scalar to a real float64 scalar.
REAL_UFUNCS = frozenset(id(f) for f in (
    np.sin, np.cos, np.tan, np.arcsin, np.arccos, np.arctan,
    np.sinh, np.cosh, np.tanh, np.arcsinh, np.arccosh, np.arctanh,
    np.exp, np.exp2, np.expm1, np.log, np.log2, np.log10, np.log1p,
    np.sqrt, np.cbrt, np.square, np.negative, np.positive, np.reciprocal,
    np.abs, np.absolute, np.fabs,
))

# The functions of `REAL_UFUNCS` that return an integer for an integer
# (np.reciprocal(2) is 0).
_INTEGER_UFUNCS = frozenset(id(f) for f in (
    np.square, np.negative, np.positive, np.reciprocal, np.abs, np.absolute,
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

INT, FLOAT, NUMBER = 'int', 'float', 'number'
_OTHER = 'other'  # a value that may be anything

_ARITHMETIC = (gast.Add, gast.Sub, gast.Mult, gast.Div)
_MIXED_ARITHMETIC = (gast.Add, gast.Sub, gast.Mult, gast.FloorDiv, gast.Mod)


# Functions that apply the operator of `a op b` to two numbers -> the
# class of the gast operator: those of the operator module, and those that
# normalize writes for `a // b` and `a % b` (see adcompiler.rules.operators).
_OPERATOR_FUNCTIONS = {
    id(function): getattr(gast, name)
    for name, function in operators.BINARY.items()
    if name in ('Add', 'Sub', 'Mult', 'Div', 'FloorDiv', 'Mod', 'Pow')
}
_OPERATOR_FUNCTIONS.update({
    id(operator.add): gast.Add, id(operator.sub): gast.Sub,
    id(operator.mul): gast.Mult, id(operator.truediv): gast.Div,
    id(operator.floordiv): gast.FloorDiv, id(operator.mod): gast.Mod,
    id(operator.pow): gast.Pow,
})


class _Counter:
    """The value of a loop target that counts from an int: `range` items
    and the first item of what `enumerate` yields."""


_COUNTER = _Counter()


def scalar_types(normalized, resolution, scalar_params):
    """Return name -> INT, FLOAT or NUMBER for the names of `normalized`
    that always hold a real scalar (see the module docstring).

    `scalar_params` contains the parameters whose arguments are Python
    floats or `np.float64` scalars. Without them the result is empty.
    """
    if not scalar_params:
        return {}
    definitions = {name: [FLOAT if name in scalar_params else _OTHER]
                   for name in normalized.params}
    _collect(normalized.tree.body, resolution, definitions)
    for node in normalized.nodes_of(gast.Name):
        if node.id not in definitions:
            definitions[node.id] = [_OTHER]  # a global, or a name never set

    # The least fixed point: a name without a type yet (None) has no value
    # that could reach an operand, so expressions that read it add nothing.
    types = {}
    evaluator = _TypeEvaluator(types, resolution)
    least_fixed_point(types, definitions, evaluator.definition, _join,
                      _OTHER)
    return {name: kind for name, kind in types.items()
            if kind in (INT, FLOAT, NUMBER)}


def _join(a, b):
    if a is None or a == b:
        return b
    if b is None:
        return a
    if _OTHER in (a, b):
        return _OTHER
    return NUMBER  # INT with FLOAT, or either with NUMBER


def _collect(statements, resolution, definitions):
    """Record the value of each assignment in `statements`, nested blocks
    too."""
    for statement in statements:
        if isinstance(statement, (gast.For, gast.While, gast.If)):
            if isinstance(statement, gast.For):
                _collect_loop_target(statement, resolution, definitions)
            _collect(statement.body, resolution, definitions)
            _collect(statement.orelse, resolution, definitions)
        elif (isinstance(statement, gast.Assign)
              and len(statement.targets) == 1
              and isinstance(statement.targets[0], gast.Name)):
            definitions.setdefault(statement.targets[0].id, []).append(
                statement.value)
        elif isinstance(statement, Verbatim):
            for name in statement.writes:
                definitions.setdefault(name.id, []).append(_OTHER)
        else:
            _set_other(statement, definitions)
        _mark_updates(statement, definitions)


def _collect_loop_target(loop, resolution, definitions):
    """Record the loop target of `range(...)` and the count of
    `enumerate(...)` as counters. Any other target may hold anything."""
    target = loop.target
    resolved = (resolution.calls.get(loop.iter)
                if isinstance(loop.iter, gast.Call) else None)
    callee = None if resolved is None else resolved.callee
    if callee is range and isinstance(target, gast.Name):
        definitions.setdefault(target.id, []).append(_COUNTER)
        return
    if (callee is enumerate and isinstance(target, gast.Tuple)
            and len(target.elts) == 2
            and isinstance(target.elts[0], gast.Name)):
        definitions.setdefault(target.elts[0].id, []).append(_COUNTER)
        _set_other(target.elts[1], definitions)
        return
    _set_other(target, definitions)


def _set_other(node, definitions):
    for child in walk(node):
        if isinstance(child, gast.Name) and isinstance(
                child.ctx, (gast.Store, gast.Del)):
            definitions.setdefault(child.id, []).append(_OTHER)


def _mark_updates(statement, definitions):
    """Mark names whose attributes or items are written: they may hold
    anything."""
    for node in find_nodes(statement, (gast.Subscript, gast.Attribute)):
        if isinstance(node.ctx, gast.Store) and isinstance(node.value,
                                                           gast.Name):
            definitions.setdefault(node.value.id, []).append(_OTHER)


def _constant_type(value):
    # A bool is left out: NumPy functions of a bool return np.float16 or
    # np.bool_ (np.sin(True), np.square(True)).
    if type(value) is int:
        return INT
    return FLOAT if type(value) is float else _OTHER


class _TypeEvaluator:
    """Evaluate an expression over INT, FLOAT, NUMBER and other.

    `types` maps names to their types. During the analysis a name without
    an entry has no type yet and gives None; afterwards (`missing` set to
    `_OTHER`) it may hold anything. Without a `resolution` (for generated
    code), every call gives other.
    """

    def __init__(self, types, resolution=None, missing=None):
        self.types = types
        self.resolution = resolution
        self.missing = missing

    def definition(self, entry):
        if entry is _COUNTER:
            return INT
        if isinstance(entry, str):
            return entry
        return self.expression(entry)

    def expression(self, node):
        if isinstance(node, gast.Constant):
            return _constant_type(node.value)
        if isinstance(node, gast.Name):
            return self.types.get(node.id, self.missing)
        if isinstance(node, gast.UnaryOp) and isinstance(
                node.op, (gast.USub, gast.UAdd)):
            return self.expression(node.operand)
        if isinstance(node, gast.BinOp):
            return self.binary(node)
        if isinstance(node, gast.Call) and not node.keywords and not any(
                isinstance(a, gast.Starred) for a in node.args):
            return self.call(node)
        return _OTHER

    def binary(self, node):
        return self.operation(node.op, node.left, node.right)

    def operation(self, op, left_node, right_node):
        """Return the type of `left op right` for a gast operator `op`."""
        left = self.expression(left_node)
        right = self.expression(right_node)
        if _OTHER in (left, right):
            return _OTHER
        if left is None or right is None:
            return None
        if isinstance(op, gast.Pow):
            return self.power(left, right, right_node)
        if isinstance(op, gast.Div):
            return FLOAT
        if not isinstance(op, _MIXED_ARITHMETIC):
            return _OTHER
        if FLOAT in (left, right):
            return FLOAT
        return INT if left == right == INT else NUMBER

    @staticmethod
    def power(base, exponent, exponent_node):
        if exponent != INT:
            return _OTHER  # (-1.0) ** 0.5 is a complex number.
        if base == FLOAT:
            return FLOAT
        exponent_value = (exponent_node.value
                          if isinstance(exponent_node, gast.Constant)
                          else None)
        if base == INT and type(exponent_value) is int and \
                exponent_value >= 0:
            return INT
        return NUMBER

    def call(self, node):
        if self.resolution is None:
            return _OTHER
        resolved = self.resolution.calls.get(node)
        if resolved is None:
            return _OTHER
        callee = resolved.callee
        if id(callee) in _OPERATOR_FUNCTIONS and len(node.args) == 2:
            # Normalize writes `a // b` and `a % b` as calls of these.
            return self.operation(_OPERATOR_FUNCTIONS[id(callee)](),
                                  *node.args)
        if callee is len or callee is int:
            return INT
        if callee is float:
            return FLOAT
        if resolved.kind is not CallKind.RULE:
            return _OTHER
        if id(callee) in _FLOAT_MATH:
            return FLOAT
        if len(node.args) != 1 or not isinstance(node.args[0], gast.Name):
            return _OTHER
        argument = self.types.get(node.args[0].id, self.missing)
        if argument is None or argument is _OTHER:
            return argument
        if callee is np.float64:
            return FLOAT
        if id(callee) not in REAL_UFUNCS:
            return _OTHER
        return argument if id(callee) in _INTEGER_UFUNCS else FLOAT


def is_float_scalar(node, types):
    """True when expression `node` surely evaluates to a float scalar (or
    raises), given `types` (name -> INT, FLOAT or NUMBER)."""
    return _TypeEvaluator(types, missing=_OTHER).expression(node) == FLOAT


def is_real_scalar(node, types):
    """True when expression `node` surely evaluates to a float or an int
    scalar (or raises), given `types`."""
    return _TypeEvaluator(types, missing=_OTHER).expression(node) in (
        INT, FLOAT, NUMBER)


def rewrite_float_calls(function, types, numpy_alias, runtime_alias):
    """Replace `np.f(e)` by `ad.float_f(e)` in `function` where `e` is a
    float or int scalar by `types` (name -> INT, FLOAT or NUMBER), for the
    functions in `FLOAT_HELPERS`.

    The argument is evaluated as before; only the function applied to it
    changes, and the helper returns NumPy's result where `math` raises. The
    result is a Python float where NumPy's is a np.float64, and the two
    differ where they are divided by zero or raised to a fractional power
    (ZeroDivisionError or a complex number, against infinity or NaN). So a
    call is only replaced where its result is added, subtracted, negated or
    multiplied on the way to the value of the statement, `ad.add(a, b)`
    included.

    NOTE: the cotangents that such a product makes may then be Python
    floats. A later rule may divide one by a zero primal value and raise
    ZeroDivisionError (the adjoint of `math.atan(np.log(x))` at 0, say), as
    it does without this rewrite when the function's output is a Python
    float.
    """
    if not types:
        return
    rewriter = _FloatCallRewriter(types, numpy_alias, runtime_alias)
    for node in statement_nodes(function, (gast.Assign, gast.Return)):
        if node.value:
            node.value = rewriter.rewrite(node.value)


class _FloatCallRewriter:

    def __init__(self, types, numpy_alias, runtime_alias):
        self.types = types
        self.numpy_alias = numpy_alias
        self.runtime_alias = runtime_alias

    def rewrite(self, node):
        """Rewrite the calls in `node` reached through sums (`ad.add` too),
        differences, negations and products, and through the branches of
        `a if t else b`."""
        if isinstance(node, gast.BinOp) and isinstance(
                node.op, (gast.Add, gast.Sub, gast.Mult)):
            node.left = self.rewrite(node.left)
            node.right = self.rewrite(node.right)
        elif self.is_runtime_add(node):
            node.args = [self.rewrite(argument) for argument in node.args]
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
                and is_real_scalar(node.args[0], self.types))

    def is_runtime_add(self, node):
        return (isinstance(node, gast.Call) and not node.keywords
                and len(node.args) == 2
                and isinstance(node.func, gast.Attribute)
                and isinstance(node.func.value, gast.Name)
                and node.func.value.id == self.runtime_alias
                and node.func.attr == 'add')


def accepts_float_seed(adjoint, types, runtime_alias):
    """True when `adjoint` gives the same results, in float64, for the
    cotangent 1.0 as for np.float64(1.0).

    A Python float cotangent keeps the adjoint's arithmetic on Python
    floats. That is the same as NumPy's float64 arithmetic for `+`, `-` and
    `*` of float scalars (NumPy warns on an overflow where Python does not),
    but not for a division by zero, a power, or a value of another dtype. So
    every statement must be bookkeeping (tape pops, `None` tests, the loops
    over trips, the return) or assign an expression of sums, differences and
    products of the float and int scalars of `types`, cotangents and
    `float_*` helper calls.
    """
    if not types:
        return False
    checker = _SeedChecker(types, runtime_alias)
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

    def __init__(self, types, runtime_alias):
        self.runtime_alias = runtime_alias
        self.types = types
        # The names that hold float scalars, int scalars or None. Until
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
        types = self.types
        changed = True
        while changed:
            changed = False
            for name, assigned in values.items():
                if name in self.safe and name not in types and not all(
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
        """True for an expression whose value is a float or int scalar, or
        None."""
        if isinstance(node, gast.Constant):
            return node.value is None or type(node.value) in (int, float)
        if isinstance(node, gast.Name):
            return node.id in self.safe or node.id in self.types
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
            return is_real_scalar(node.args[0], self.types)
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
