"""Symbolic zero adjoints: simplify code where an adjoint is known to be None.

Adjoint code with control flow stores "no adjoint yet" as `None`, a zero
that was never built: each block is guarded by `if dx is not None:` and each
contribution is added with `ad.add(dx, value)`, which treats None as zero.
Most of these checks are decided before the code runs. `simplify` walks an
adjoint function forward and tracks, for each name, whether its value is
surely None, surely not None, or either, and whether it is surely a number
or an array (never a tuple, list or dict, which `ad.add` adds element by
element). With those facts it rewrites:

- `if dx is not None: body` to `body` when `dx` is surely not None, and to
  nothing (or the `else` branch) when it is surely None;
- `ad.add(a, b)` to `b` when `a` is surely None, to `a` when `b` is;
- `ad.add(a, b)` to `a + b` when both are surely numbers or arrays and not
  None, and to `b if a is None else a + b` when only `a` may be None.

Loops are analysed to a fixed point before their bodies are rewritten. Any
statement other than an assignment, `if`, `for`, an expression statement or
`return` makes every name it assigns unknown.
"""

import dataclasses
import enum

import gast

from adcompiler.traversal import walk


# Runtime helpers that return a number or an array whatever their arguments
# (compact_mean_adjoint divides its result, so it returns one or raises).
_NUMERIC_HELPERS = frozenset((
    'abs_sign', 'sum_adjoint', 'mean_adjoint', 'compact_mean_adjoint',
    'matmul_adjoint_x', 'matmul_adjoint_y',
))


class Noneness(enum.Enum):
    NONE = 'surely None'
    VALUE = 'surely not None'
    EITHER = 'None or not'


@dataclasses.dataclass(frozen=True)
class _Fact:
    """Knowledge about the value of a name at one point of the code."""

    noneness: Noneness
    numeric: bool  # when not None, a number or an array

    def join(self, other):
        noneness = (self.noneness if self.noneness is other.noneness
                    else Noneness.EITHER)
        return _Fact(noneness, self.numeric and other.numeric)


_UNKNOWN = _Fact(Noneness.EITHER, False)
_NONE = _Fact(Noneness.NONE, True)
_NUMERIC = _Fact(Noneness.VALUE, True)


def _join_facts(first, second):
    names = set(first) | set(second)
    return {name: first.get(name, _UNKNOWN).join(second.get(name, _UNKNOWN))
            for name in names}


def simplify(function, numpy_alias, runtime_alias, not_none=(),
             numbers=(), numeric_names=frozenset(), float_names=frozenset(),
             names=None):
    """Rewrite `function` in place (see the module docstring), given the
    parameters in `not_none` that are never None and those in `numbers`
    that are numbers when the function starts.

    `numeric_names` contains names of the primal whose values are all
    numbers or arrays, and `float_names` those whose values are all float
    scalars (see `adcompiler.scalars` and `adcompiler.known_shapes`). They
    hold the primal's values in the adjoint too.

    `names` is a `StatementNames` table of the caller's for the statements
    of `function`, in which each assignment rewritten is forgotten, or
    None.

    Returns True when anything changed.
    """
    simplifier = _Simplifier(numpy_alias, runtime_alias, numeric_names,
                             float_names, names)
    facts = {name: _Fact(Noneness.VALUE, False) for name in not_none}
    facts.update({name: _Fact(Noneness.VALUE, True) for name in numbers})
    function.body, _ = simplifier.block(function.body, facts, rewrite=True)
    return simplifier.changed


class _Simplifier:

    def __init__(self, numpy_alias, runtime_alias, numeric_names,
                 float_names, names=None):
        self.numpy_alias = numpy_alias
        self.runtime_alias = runtime_alias
        self.numeric_names = numeric_names
        self.float_names = float_names
        self.names = names  # a StatementNames table, or None
        self.changed = False

    # Facts about expressions --------------------------------------------------

    def is_module_call(self, node, module, attr=None):
        return (isinstance(node, gast.Call)
                and isinstance(node.func, gast.Attribute)
                and isinstance(node.func.value, gast.Name)
                and node.func.value.id == module
                and (attr is None or node.func.attr == attr))

    def is_numeric_call(self, node):
        """True for a call of NumPy or of a runtime helper in
        `_NUMERIC_HELPERS`."""
        return self.is_module_call(node, self.numpy_alias) or (
            self.is_module_call(node, self.runtime_alias)
            and node.func.attr in _NUMERIC_HELPERS)

    def fact(self, node, facts):
        """Return the `_Fact` of the value of expression `node`."""
        if isinstance(node, gast.Constant):
            if node.value is None:
                return _NONE
            return _Fact(Noneness.VALUE, _is_number(node.value))
        if isinstance(node, gast.Name):
            if node.id in self.numeric_names:
                return _NUMERIC
            return facts.get(node.id, _UNKNOWN)
        if isinstance(node, gast.UnaryOp):
            # A tuple, list or dict has no unary minus or plus.
            return _Fact(Noneness.VALUE,
                         isinstance(node.op, (gast.USub, gast.UAdd)))
        if isinstance(node, gast.BinOp):
            return _Fact(Noneness.VALUE, self.numeric_binary(node, facts))
        if self.is_numeric_call(node):
            return _NUMERIC
        if self.is_module_call(node, self.runtime_alias, 'add') and len(
                node.args) == 2:
            first, second = (self.fact(a, facts) for a in node.args)
            if Noneness.VALUE in (first.noneness, second.noneness):
                noneness = Noneness.VALUE
            elif first.noneness is second.noneness is Noneness.NONE:
                noneness = Noneness.NONE
            else:
                noneness = Noneness.EITHER
            return _Fact(noneness, first.numeric and second.numeric)
        if isinstance(node, gast.IfExp):
            return self.fact(node.body, facts).join(
                self.fact(node.orelse, facts))
        return _UNKNOWN

    def numeric_binary(self, node, facts):
        """True when `left op right` surely gives a number or an array.

        A float or complex constant, a name of a float scalar, or a NumPy
        or numeric helper result, on either side does:
        a list times a float is an error, and a list plus an array is an
        array. An int does not (`[g] * 2` repeats a list).
        """
        sides = (node.left, node.right)
        for side in sides:
            if isinstance(side, gast.Constant) and isinstance(
                    side.value, (float, complex)):
                return True
            if isinstance(side, gast.Name) and side.id in self.float_names:
                return True
            if self.is_numeric_call(side):
                return True
        return all(self.fact(side, facts).numeric
                   and not isinstance(side, gast.Constant) for side in sides)

    # Statements ----------------------------------------------------------------

    def block(self, statements, facts, rewrite):
        """Return the (rewritten) statements and the facts after them."""
        facts = dict(facts)
        kept = []
        for statement in statements:
            kept += self.statement(statement, facts, rewrite)
        return kept, facts

    def statement(self, statement, facts, rewrite):
        """Update `facts` past `statement`; return what replaces it."""
        if isinstance(statement, gast.Assign):
            return [self.assignment(statement, facts, rewrite)]
        if isinstance(statement, gast.If):
            return self.branch(statement, facts, rewrite)
        if isinstance(statement, gast.For):
            return [self.loop(statement, facts, rewrite)]
        if isinstance(statement, (gast.Expr, gast.Return, gast.Pass)):
            return [statement]
        for node in walk(statement):
            if isinstance(node, gast.Name) and isinstance(
                    node.ctx, (gast.Store, gast.Del)):
                facts[node.id] = _UNKNOWN
        return [statement]

    def assignment(self, statement, facts, rewrite):
        if rewrite:
            # Only this replacement of the value changes an assignment.
            value = self.simplify_add(statement.value, facts)
            if value is not statement.value:
                statement.value = value
                if self.names is not None:
                    self.names.forget(statement)
        target = statement.targets[0]
        if len(statement.targets) == 1 and isinstance(target, gast.Name):
            facts[target.id] = self.fact(statement.value, facts)
            return statement
        for node in walk(statement):
            if isinstance(node, gast.Name) and isinstance(node.ctx,
                                                          gast.Store):
                facts[node.id] = _UNKNOWN
        return statement

    def simplify_add(self, value, facts):
        """Rewrite `ad.add(a, b)` where the facts decide it."""
        if not (self.is_module_call(value, self.runtime_alias, 'add')
                and len(value.args) == 2 and not value.keywords):
            return value
        first, second = value.args
        first_fact, second_fact = (self.fact(a, facts) for a in value.args)
        if first_fact.noneness is Noneness.NONE:
            self.changed = True
            return second
        if second_fact.noneness is Noneness.NONE:
            self.changed = True
            return first
        if not (first_fact.numeric and second_fact.numeric
                and second_fact.noneness is Noneness.VALUE):
            return value
        total = gast.BinOp(left=first, op=gast.Add(), right=second)
        if first_fact.noneness is Noneness.VALUE:
            self.changed = True
            return total
        if not isinstance(first, gast.Name):
            return value  # The test would evaluate `first` twice.
        self.changed = True
        test = gast.Compare(left=gast.Name(id=first.id, ctx=gast.Load(),
                                           annotation=None, type_comment=None),
                            ops=[gast.Is()],
                            comparators=[gast.Constant(value=None, kind=None)])
        return gast.IfExp(test=test, body=second, orelse=total)

    def branch(self, statement, facts, rewrite):
        tested = _tested_not_none(statement.test)
        if tested is not None:
            fact = facts.get(tested, _UNKNOWN)
            if fact.noneness is not Noneness.EITHER:
                # The test is decided: only one branch runs.
                taken = (statement.body if fact.noneness is Noneness.VALUE
                         else statement.orelse)
                kept, after = self.block(taken, facts, rewrite)
                facts.clear()
                facts.update(after)
                if rewrite:
                    self.changed = True
                    return kept
                return [statement]
        body_facts, else_facts = dict(facts), dict(facts)
        if tested is not None:
            body_facts[tested] = _Fact(Noneness.VALUE,
                                       facts.get(tested, _UNKNOWN).numeric)
            else_facts[tested] = _NONE
        body, body_facts = self.block(statement.body, body_facts, rewrite)
        orelse, else_facts = self.block(statement.orelse, else_facts, rewrite)
        if rewrite:
            statement.body, statement.orelse = body, orelse
        after = _join_facts(body_facts, else_facts)
        facts.clear()
        facts.update(after)
        return [statement]

    def loop(self, statement, facts, rewrite):
        """Analyse a for loop to a fixed point, then rewrite its body."""
        stored = {n.id for n in walk(statement.target)
                  if isinstance(n, gast.Name)}
        head = dict(facts)
        while True:
            entry = dict(head)
            for name in stored:
                entry[name] = _UNKNOWN
            _, end = self.block(statement.body, entry, rewrite=False)
            joined = _join_facts(head, end)
            if joined == head:
                break
            head = joined
        entry = dict(head)
        for name in stored:
            entry[name] = _UNKNOWN
        if rewrite:
            statement.body, _ = self.block(statement.body, entry, rewrite=True)
        # The loop may run no trips or many: the head facts hold after it.
        after = dict(head)
        if statement.orelse:
            statement.orelse, after = self.block(statement.orelse, after,
                                                 rewrite)
        facts.clear()
        facts.update(after)
        return statement


def _tested_not_none(test):
    """Return `x` for the test `x is not None`, else None."""
    if (isinstance(test, gast.Compare) and isinstance(test.left, gast.Name)
            and len(test.ops) == 1 and isinstance(test.ops[0], gast.IsNot)
            and isinstance(test.comparators[0], gast.Constant)
            and test.comparators[0].value is None):
        return test.left.id
    return None


def _is_number(value):
    return isinstance(value, (int, float, complex)) and not isinstance(
        value, bool)
