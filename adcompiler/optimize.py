"""Optimize stage: clean up generated straight-line code.

Input: a gast `FunctionDef` written by the reverse stage. Output: the same
function with these rewrites applied until none changes anything:

- constant folding: operations on number constants are evaluated,
  `c * e ** 1` and `c / e ** 1` lose the power, `np.where(constant, a, b)`
  of two numbers picks its branch, `np.power(e, n)` becomes `e ** n` for
  a float n with a whole value, `ad.pow_base_adjoint(g, x, n)` becomes
  `g * n * x ** (n - 1.0)` for a number n, and `ad.cast_adjoint(e, None)`,
  `ad.cast_tangent(e, None)` and `ad.cast_operand(e, None)` become `e`.
  Each keeps the value, dtype and shape of the expression, and a result
  that is a new array stays one (`e ** 1` alone copies `e`);
- symbolic zero adjoints: `if dx is not None:` checks and `ad.add` calls
  that facts known before the code runs decide are simplified (see
  `adcompiler.zero_adjoints`);
- dead code: an assignment to a name that nothing later reads is removed when
  its value has no side effect (NumPy and the runtime's adjoint helpers;
  pops from the tape and adjoints of called functions are kept), inside
  branches and loops too, and so is an `if` left with nothing to do;
- copy propagation: after `a = b` between names, later reads of `a` read `b`,
  when `a` is assigned once, `b` is not assigned again, and `a` is not in the
  returned value (so returned adjoints keep their derived names).

Comment markers are kept only where a statement follows them. Then index
adjoints of one array are added into one buffer in place, the values the
primal saves are cut down to those the optimized adjoint reads (a value read
only for its shape is saved as `ad.shape_and_kind(value)`), and in both
functions a temporary read once is written into the expression that reads
it, so that NumPy frees its array early. In the adjoint, contributions
that share a factor are added before multiplying (see
`adcompiler.shared_factors`), `c / d * y` becomes `y / d * c` (for
`adcompiler.unit_seed`), and a quotient
`c / (a + 1.0)` becomes `ad.quotient_in_divisor(c, a + 1.0)`, which
divides in the buffer of the divisor. Last, NumPy functions of float scalars in the adjoint call the
`math` module instead, and the program records whether its adjoint may run
on Python floats (see `adcompiler.scalars`).
"""

import dataclasses
import math
import operator

import gast

from adcompiler import (accumulate, adjoint_moves, compact, known_shapes,
                        rematerialize, scalars, shared_calls, shared_factors,
                        zero_adjoints)
from adcompiler.codegen import COMMENT_PREFIX
from adcompiler.statement_names import NameUses, StatementNames
from adcompiler.traversal import (Transformer, evaluation_order,
                                  find_nodes, name_node, name_nodes,
                                  new_node, node_count, parts_outside_body,
                                  walk)

_FOLDABLE = {
    gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul,
    gast.Div: operator.truediv, gast.Pow: operator.pow,
}


def _number(node):
    return (isinstance(node, gast.Constant)
            and isinstance(node.value, (int, float, complex))
            and not isinstance(node.value, bool))


# The smallest positive normal float32 and the largest finite float32.
_FLOAT32_TINY = 2.0 ** -126
_FLOAT32_MAX = (2.0 - 2.0 ** -23) * 2.0 ** 127


def _safe_product(first, second, product):
    """Return whether `a * product` may stand for `a * first * second`: the
    folded constant neither overflows nor underflows where the two factors
    did not, and an integer product fits in 32 bits (NumPy integer arrays
    reject larger Python integers). The float range checked is float32's,
    because a float32 array converts the constant to float32."""
    if isinstance(product, int):
        return abs(product) < 2 ** 31
    if first == 0 or second == 0:
        return True
    for part in (product.real, product.imag) if isinstance(
            product, complex) else (product,):
        if not math.isfinite(part):
            return False
    return _FLOAT32_TINY <= abs(product) <= _FLOAT32_MAX


def _constant_factor(node):
    """Return the number constant c of a product `a * c` or `a * c * b`, or None."""
    if not (isinstance(node, gast.BinOp) and isinstance(node.op, gast.Mult)):
        return None
    if _number(node.right):
        return node.right
    left = node.left
    if (isinstance(left, gast.BinOp) and isinstance(left.op, gast.Mult)
            and _number(left.right)):
        return left.right
    return None


class _ConstantFolder(Transformer):
    """Evaluate operations on number constants; see the module docstring."""

    def __init__(self, numpy_alias, runtime_alias):
        self.numpy_alias = numpy_alias
        self.runtime_alias = runtime_alias

    # Names and constants fold to themselves. These two methods visit them
    # without the generic visit of their fields, which finds no child in
    # a constant, nor in a name without an annotation.
    def visit_Name(self, node):
        if getattr(node, 'annotation', None) is None:
            return node
        return self.generic_visit(node)

    def visit_Constant(self, node):
        return node

    def is_function(self, func, module, name):
        return (isinstance(func, gast.Attribute) and func.attr == name
                and isinstance(func.value, gast.Name)
                and func.value.id == module)

    def visit_BinOp(self, node):
        self.generic_visit(node)
        function = _FOLDABLE.get(type(node.op))
        if function and _number(node.left) and _number(node.right):
            try:
                value = function(node.left.value, node.right.value)
            except (ArithmeticError, ValueError):
                return node
            return gast.Constant(value=value, kind=None)
        right = node.right
        if (isinstance(node.op, (gast.Mult, gast.Div))
                and isinstance(right, gast.BinOp)
                and isinstance(right.op, gast.Pow) and _number(right.right)
                and right.right.value == 1):
            # c * e ** 1 is c * e: the product is a new value either way,
            # and NumPy converts a list e as it converts e ** 1's result.
            node.right = right.left
        left = node.left
        if (isinstance(node.op, gast.Mult) and _number(node.right)
                and self.is_unbroadcast(left) and left.args
                and isinstance(left.args[0], gast.UnaryOp)
                and isinstance(left.args[0].op, gast.USub)):
            # unbroadcast(-a, x) * c is unbroadcast(a, x) * -c, exactly:
            # unbroadcasting is linear, and the negation costs no pass.
            left.args[0] = left.args[0].operand
            node.right = gast.Constant(value=-node.right.value, kind=None)
            return node
        if (isinstance(node.op, gast.Mult) and _number(node.right)
                and isinstance(left, gast.UnaryOp)
                and isinstance(left.op, gast.USub)):
            # -a * c is a * -c, exactly, and the negation costs no pass.
            node.left = left.operand
            node.right = gast.Constant(value=-node.right.value, kind=None)
            return node
        if (isinstance(node.op, gast.Mult) and _number(node.right)
                and isinstance(left, gast.BinOp)
                and isinstance(left.op, gast.Mult) and _number(left.right)):
            # a * c1 * c2 is a * (c1 * c2): one pass over an array, not two.
            # The product may differ from the original in the last bit.
            product = left.right.value * node.right.value
            if _safe_product(left.right.value, node.right.value, product):
                return gast.BinOp(left=left.left, op=gast.Mult(),
                                  right=gast.Constant(value=product,
                                                      kind=None))
        return node

    def is_unbroadcast(self, node):
        return isinstance(node, gast.Call) and any(
            self.is_function(node.func, self.runtime_alias, name)
            for name in ('unbroadcast', 'compact_unbroadcast'))

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, gast.USub) and _number(node.operand):
            return gast.Constant(value=-node.operand.value, kind=None)
        if isinstance(node.op, gast.USub):
            # -(a * c * b) is a * -c * b, exactly: the negation costs no pass.
            factor = _constant_factor(node.operand)
            if factor is not None:
                factor.value = -factor.value
                return node.operand
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        func = node.func
        if not (func.__class__ is gast.Attribute
                and func.attr in _FOLDED_FUNCTIONS):
            return node  # No rule below applies, and this test is cheaper.
        if (self.is_function(func, self.numpy_alias, 'where')
                and len(node.args) == 3 and not node.keywords
                and isinstance(node.args[0], gast.Constant)
                and _number(node.args[1]) and _number(node.args[2])):
            # Of two numbers, the branch taken in their common type. With
            # an array, the branch alone would lose the broadcast and copy.
            first, second = node.args[1].value, node.args[2].value
            value = first if node.args[0].value else second
            return gast.Constant(value=type(first + second)(value),
                                 kind=None)
        if (func.attr in ('cast_adjoint', 'cast_tangent', 'cast_operand')
                and self.is_function(func, self.runtime_alias, func.attr)
                and len(node.args) == 2 and isinstance(node.args[1],
                                                       gast.Constant)
                and node.args[1].value is None):
            return node.args[0]  # No cast: the value passes through.
        folded = self.fold_default_options(node)
        if folded is not None:
            return folded
        if (self.is_function(func, self.runtime_alias, 'pow_base_adjoint')
                and len(node.args) in (3, 4) and not node.keywords
                and _number(node.args[2])
                and not isinstance(node.args[2].value, complex)):
            return self.visit(self.power_base_product(node.args))
        if (self.is_function(func, self.numpy_alias, 'power')
                and len(node.args) == 2 and not node.keywords
                and isinstance(node.args[1], gast.Constant)
                and type(node.args[1].value) is float
                and node.args[1].value.is_integer()):
            # `**` takes NumPy's fast paths for small integer exponents, and
            # on a Python float it gives NumPy's value or raises an error
            # that the API retries with NumPy floats. Only a fractional
            # exponent of a negative Python float gives a complex number.
            # An int exponent stays: a Python int base would give an exact
            # int where NumPy's int64 overflows.
            return gast.BinOp(left=node.args[0], op=gast.Pow(),
                              right=node.args[1])
        return node

    @staticmethod
    def power_base_product(args):
        """Return `g * n * power(x, m)` for `ad.pow_base_adjoint(g, x, n,
        power)` with a number n, where m is n - 1.0, or 1.0 for n == 0, and
        power(x, m) is `x ** m` when power is missing or None. Without a
        derivative in the exponent, this product is the base's adjoint.
        The float m is what the helper's np.where(n, n - 1, 1.0) gives."""
        g, x, exponent = args[:3]
        n = exponent.value
        lowered = gast.Constant(value=float(n - 1) if n else 1.0, kind=None)
        function = args[3] if len(args) == 4 else None
        if function is None or (isinstance(function, gast.Constant)
                                and function.value is None):
            raised = gast.BinOp(left=x, op=gast.Pow(), right=lowered)
        else:
            raised = gast.Call(func=function, args=[x, lowered], keywords=[])
        factor = gast.BinOp(left=g, op=gast.Mult(),
                            right=gast.Constant(value=n, kind=None))
        return gast.BinOp(left=factor, op=gast.Mult(), right=raised)

    def fold_default_options(self, node):
        """Return the call of a reduction or of its adjoint helper without
        the where= and initial= options that a call leaves at their
        defaults, or None when `node` is no such call.

        `np.sum(t, ..., where=True)` loses the keyword, and
        `ad.masked_sum_adjoint(g, x, axis, keepdims, True)` becomes
        `ad.sum_adjoint(g, x, axis, keepdims)`, which later passes know.
        """
        func = node.func
        for name in ('sum', 'mean'):
            if self.is_function(func, self.numpy_alias, name):
                keywords = [k for k in node.keywords
                            if not (k.arg == 'where' and _is_true(k.value))]
                if len(keywords) == len(node.keywords):
                    return None
                node.keywords = keywords
                return node
        for masked, plain, count, defaults in _OPTION_HELPERS:
            if not self.is_function(func, self.runtime_alias, masked):
                continue
            options = node.args[count:]
            if node.keywords or len(node.args) < count or len(options) > len(
                    defaults):
                return None
            kept_count = len(options)
            while kept_count > 0 and _is_constant(options[kept_count - 1],
                                                  defaults[kept_count - 1]):
                kept_count -= 1
            if masked != plain and kept_count > 0:
                return None
            if masked == plain and kept_count == len(options):
                return None
            # A helper that keeps its name loses its trailing defaults only.
            func.attr = plain
            node.args = node.args[:count + kept_count]
            return node
        return None


# Adjoint and tangent helpers with where= (and initial=) options, the
# helpers that they reduce to without them, how many leading arguments the
# latter take, and the default values of the options that follow those.
_OPTION_HELPERS = (
    ('masked_sum_adjoint', 'sum_adjoint', 4, (True,)),
    ('masked_mean_adjoint', 'mean_adjoint', 4, (True,)),
    # initial=None, where=True, initial_varies=False.
    ('bounded_extremum_adjoint', 'extremum_adjoint', 5, (None, True, False)),
    ('bounded_extremum_tangent', 'extremum_tangent', 5, (None, True, False)),
    # These keep their name and lose a trailing where=True (and, for var
    # and std, mean=None and dtype=None).
    ('prod_adjoint', 'prod_adjoint', 4, (True,)),
    ('var_adjoint', 'var_adjoint', 5, (True, None, None)),
    ('std_adjoint', 'std_adjoint', 6, (True, None, None)),
    ('nansum_adjoint', 'nansum_adjoint', 4, (True,)),
    ('nanvar_adjoint', 'nanvar_adjoint', 5, (True, None)),
    ('prod_tangent', 'prod_tangent', 5, (True,)),
    ('var_tangent', 'var_tangent', 6, (True, None, None)),
    ('std_tangent', 'std_tangent', 6, (True, None, None)),
    ('nansum_tangent', 'nansum_tangent', 5, (True,)),
    ('nanvar_tangent', 'nanvar_tangent', 6, (True, None)),
    # skip_nan=False and weights=None.
    ('quantile_adjoint', 'quantile_adjoint', 6, (False, None)),
    ('quantile_tangent', 'quantile_tangent', 7, (False, None)),
    # These lose a trailing dtype=None.
    ('nanstd_adjoint', 'nanstd_adjoint', 6, (None,)),
    ('nanstd_tangent', 'nanstd_tangent', 6, (None,)),
)


# The attribute names of the NumPy functions and runtime helpers whose
# calls `_ConstantFolder.visit_Call` may fold.
_FOLDED_FUNCTIONS = frozenset(
    ('where', 'cast_adjoint', 'cast_tangent', 'cast_operand',
     'pow_base_adjoint', 'power', 'sum', 'mean')
    + tuple(masked for masked, _, _, _ in _OPTION_HELPERS))


def _is_constant(node, value):
    """Return whether `node` is the constant `value` (compared with `is`)."""
    return isinstance(node, gast.Constant) and node.value is value


def _is_true(node):
    return isinstance(node, gast.Constant) and node.value is True


# The classes of nodes, besides names, that the table of the adjoint's
# statements keeps in `optimize`. The passes given the table search for
# nodes of these classes.
_INDEXED_KINDS = (gast.Call, gast.Constant, gast.BinOp, gast.UnaryOp)


def optimize(program):
    """Optimize a `ReverseProgram` in place and return it."""
    # One table of the names, calls, constants and operators of the
    # adjoint's statements serves the passes from the first constant
    # folding to the second, so that most statements are walked once for
    # all of them. Each pass given the table forgets the statements that
    # it changes. After a pass that reports a change but not where, the
    # table is cleared. It is not used after the second folding.
    names = StatementNames(_INDEXED_KINDS)
    _fold_constants(program.adjoint, program.numpy_alias,
                    program.runtime_alias, names)
    # Code compiled for float scalar arguments or for argument shapes is
    # called by grad alone, which always gives a cotangent.
    seed = program.adjoint.args.args[1].id
    # grad's cotangent of a real scalar is 1.0 or a NumPy float 1.
    numbers = (seed,) if program.seeded and program.scalar_result else ()
    # The primal's names that the adjoint reads back hold numbers or arrays.
    numeric_names = frozenset(program.scalar_types) | frozenset(
        program.shape_facts.known)
    optimize_adjoint(program.adjoint, program.numpy_alias,
                     program.runtime_alias,
                     (seed,) if program.seeded else (), numbers,
                     numeric_names, program.scalars, names)
    if adjoint_moves.forward_moved_adjoints(program.adjoint,
                                            program.numpy_alias,
                                            program.runtime_alias):
        names.clear()
        # The temporaries' initial `dt = None` are read by nothing now.
        _remove_dead_code(program.adjoint, names)
    calls = []
    if compact.keep_compact(program.adjoint, program.shape_facts,
                            program.numpy_alias, program.runtime_alias,
                            calls, names):
        # An expansion inserted before a statement may be read by nothing.
        _remove_dead_code(program.adjoint, names)
    # NOTE: `calls` still contains every call of the adjoint for the two
    # passes that read it below, because the passes since keep_compact
    # make no call: they remove statements, write matrix products, and
    # move calls. A pass added among them that makes calls must walk the
    # adjoint for them instead.
    if known_shapes.inline_matrix_adjoints(
            program.adjoint, program.shape_facts, program.runtime_alias):
        names.clear()
    if shared_calls.share_repeated_calls(
            program.adjoint, program.numpy_alias, program.runtime_alias,
            calls):
        names.clear()
    if accumulate.accumulate_index_adjoints(program.adjoint,
                                            program.runtime_alias, calls):
        names.clear()
    # A table of the primal's statements serves the two passes that need
    # all of its names.
    primal_names = StatementNames()
    _prune_saved(program, names, primal_names)
    if rematerialize.share_slices(program.primal, program.numpy_alias,
                                  program.runtime_alias):
        primal_names.clear()
    if rematerialize.rematerialize(program.primal, program.adjoint,
                                   program.numpy_alias,
                                   program.runtime_alias):
        names.clear()
        primal_names.clear()
    inline_temporaries(program.primal, program.temporaries,
                       names=primal_names)
    del primal_names  # Not kept current by the passes below.
    # The adjoints of temporaries are temporaries too; user names keep theirs.
    # A cap on the size keeps adjoint statements short enough to read.
    inline_temporaries(program.adjoint,
                       {'d' + name for name in program.temporaries},
                       _ADJOINT_EXPRESSION_NODES, names)
    negates_product, with_quotients = _negations_and_quotients(
        program.adjoint, names)
    compact.negate_compact_factors(program.adjoint, program.numpy_alias,
                                   program.runtime_alias, negates_product,
                                   names)
    # Inlining puts constant factors of several rules side by side.
    _fold_constants(program.adjoint, program.numpy_alias,
                    program.runtime_alias, names)
    del names  # The passes below change statements without forgetting them.
    if shared_factors.combine_shared_factors(program.adjoint,
                                             program.numpy_alias,
                                             program.runtime_alias):
        # A combined statement may divide where neither statement did.
        with_quotients = [statement for statement in program.adjoint.body
                          if _divides(statement)]
    _add_sums_into_temporaries(program.adjoint.body)
    # Both rewrites apply only in a statement with a division, and the
    # first keeps the division, so the statements are found once.
    _visit_statements(_ScaleQuotients(), program.adjoint, with_quotients)
    _visit_statements(_QuotientInDivisor(program.scalar_types,
                                         program.runtime_alias),
                      program.adjoint, with_quotients)
    scalars.rewrite_float_calls(program.adjoint, program.scalar_types,
                                program.numpy_alias, program.runtime_alias)
    program.float_seed = scalars.accepts_float_seed(
        program.adjoint, program.scalar_types, program.runtime_alias)
    return program


def _fold_constants(function, numpy_alias, runtime_alias, names):
    """Visit `function` with a `_ConstantFolder`, but of its body only the
    top-level statements where a rule of the folder may apply.

    Every rule of the folder needs a number constant in the statement, or
    a call of an attribute named in `_FOLDED_FUNCTIONS`, and makes no
    such node where there was none. Most adjoint statements have neither,
    and the `StatementNames` table `names` (made with `_INDEXED_KINDS`)
    has the nodes of each statement. The statements visited are
    forgotten in the table.
    """
    foldable = [statement for statement in function.body
                if _may_fold(statement, names)]
    _visit_statements(_ConstantFolder(numpy_alias, runtime_alias), function,
                      foldable)
    for statement in foldable:
        names.forget(statement)


def _may_fold(statement, names):
    """Return whether `statement` contains a number constant or a call
    that `_ConstantFolder.visit_Call` may fold."""
    for node in names.nodes(statement, (gast.Constant, gast.Call)):
        if node.__class__ is gast.Call:
            func = node.func
            if (func.__class__ is gast.Attribute
                    and func.attr in _FOLDED_FUNCTIONS):
                return True
        elif _number(node):
            return True
    return False


def _negations_and_quotients(function, names=None):
    """Return whether `function` contains a negated product (see
    `compact.is_negated_product`), and the top-level statements of its
    body that contain a division, found in the `StatementNames` table
    `names` (made with `_INDEXED_KINDS`) of its statements, or in a new
    one.

    The statements found are a superset of those that divide once
    `compact.negate_compact_factors`, the constant folder and
    `_add_sums_into_temporaries` have run. None of them makes a division
    or replaces a statement of the body, and the folder may remove a
    division of two constants. The quotient rewrites change nothing in a
    statement without a division, so visiting such a statement too
    changes no output.
    """
    if names is None:
        names = StatementNames(_INDEXED_KINDS)
    negates_product = False
    with_quotients = []
    for statement in function.body:
        divides = False
        for node in names.nodes(statement, (gast.BinOp, gast.UnaryOp)):
            if isinstance(node, gast.BinOp):
                divides = divides or isinstance(node.op, gast.Div)
            elif not negates_product:
                negates_product = compact.is_negated_product(node)
        if divides:
            with_quotients.append(statement)
    for field in function._fields:
        value = getattr(function, field, None)
        if field == 'body' or negates_product:
            continue
        for part in value if isinstance(value, list) else (value,):
            if isinstance(part, gast.AST) and any(map(
                    compact.is_negated_product,
                    find_nodes(part, gast.UnaryOp))):
                negates_product = True
    return negates_product, with_quotients


def _divides(statement):
    return any(isinstance(node.op, gast.Div)
               for node in find_nodes(statement, gast.BinOp))


def _visit_statements(transformer, function, statements):
    """Visit `function` with `transformer`, but of its body only the
    top-level `statements`, a sublist in order.

    The transformers of this module rewrite expressions, not statements,
    and keep no state from one statement to the next. So a statement left
    out, because no rule can apply in it, would come out of the visit as
    it went in.
    """
    body = function.body
    function.body = list(statements)
    try:
        transformer.visit(function)
        if len(function.body) != len(statements) or any(
                new is not old
                for new, old in zip(function.body, statements)):
            raise AssertionError(
                f'{type(transformer).__name__} replaced a statement')
    finally:
        function.body = body


def _add_sums_into_temporaries(statements):
    """Write `d = d + e` as `d = e + d` when `e` is an operation or a call.

    NumPy reuses the buffer of a temporary array on the left of `+` (and
    only there, when the right operand is a scalar) for the sum, so the
    sum allocates no array of its own. Adjoint code adds only numbers and
    arrays with `+`, and for them the order of the operands changes no bit
    of the sum. Because `d` is a name, evaluating it second has no effect.
    """
    for statement in statements:
        for field in ('body', 'orelse'):
            if isinstance(statement, (gast.If, gast.For, gast.While)):
                _add_sums_into_temporaries(getattr(statement, field))
        if not (isinstance(statement, gast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.targets[0], gast.Name)):
            continue
        value = statement.value
        if (isinstance(value, gast.BinOp) and isinstance(value.op, gast.Add)
                and isinstance(value.left, gast.Name)
                and value.left.id == statement.targets[0].id
                and isinstance(value.right, (gast.BinOp, gast.Call,
                                             gast.UnaryOp))):
            value.left, value.right = value.right, value.left


class _ScaleQuotients(Transformer):
    """Write `c / d * y` as `y / d * c` when `c` is a name or a negated
    name, `y` is a name, and `d` is an operation with a float constant.

    Both make one pass over an array for the quotient and one for the
    product (`_QuotientInDivisor` then divides in the buffer of `d`). In
    the new form the factor `c`, often a cotangent that broadcasts, comes
    last. In the adjoint that `grad` runs from the seed of one, such a
    factor is often one or minus one and goes away (see
    `adcompiler.unit_seed`): the adjoint of `np.sum(np.log1p(t))` with
    `t = np.exp(e)` computes `t / (t + 1.0)` and no product. The product
    may differ from `c / d * y` in the last place, because it rounds
    `y / d` where that rounds `c / d`. Evaluating `y` before `d` and `c`
    after it has no effect, since they are names.

    NOTE: when `y` and `d` are Python floats and `d` is zero, `y / d`
    raises ZeroDivisionError where `c / d` with a NumPy `c` gave inf.
    """

    def visit_BinOp(self, node):
        self.generic_visit(node)
        quotient = node.left
        if (isinstance(node.op, gast.Mult) and isinstance(quotient, gast.BinOp)
                and isinstance(quotient.op, gast.Div)
                and isinstance(_without_negation(quotient.left), gast.Name)
                and isinstance(node.right, gast.Name)
                and _has_float_operand(quotient.right)):
            return gast.BinOp(
                left=gast.BinOp(left=node.right, op=gast.Div(),
                                right=quotient.right),
                op=gast.Mult(), right=quotient.left)
        return node


class _QuotientInDivisor(Transformer):
    """Write `c / (a + 1.0)` as `ad.quotient_in_divisor(c, a + 1.0)` when
    `c` is a name or a number.

    NumPy may write the result of an operator into the buffer of a
    temporary array on its left, but not on the right of `/`, so
    `c / (a + 1.0)` allocates a second array the size of `a`. The helper
    divides in the buffer of the divisor, a new array. For the adjoint of
    the `elementwise` benchmark at 1,000,000 elements, the peak fell from
    four arrays of that size to three with `(a + 1.0) ** -1 * c`, which
    needs two passes where the helper needs one, and the quotient is the
    same bit for bit as `c / (a + 1.0)`. The divisor must be an operation
    with a float constant, so that NumPy computes it in a new array when
    `a` is an array. Divisors that are float scalars stay, because there
    `/` is faster.

    NOTE: the helper writes into the divisor whenever it is a float64
    ndarray. An operand type of the user's whose operator returned an
    array that it keeps would see that array overwritten.
    """

    def __init__(self, scalar_types, runtime_alias):
        self.scalar_types = scalar_types
        self.runtime_alias = runtime_alias

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if not (isinstance(node.op, gast.Div)
                and _is_name_or_number(node.left)
                and _has_float_operand(node.right)
                and not scalars.is_float_scalar(node.right,
                                                self.scalar_types)):
            return node
        helper = gast.Attribute(
            value=gast.Name(id=self.runtime_alias, ctx=gast.Load(),
                            annotation=None, type_comment=None),
            attr='quotient_in_divisor', ctx=gast.Load())
        return gast.Call(func=helper, args=[node.left, node.right],
                         keywords=[])


def _without_negation(node):
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        return node.operand
    return node


def _is_name_or_number(node):
    node = _without_negation(node)
    return isinstance(node, gast.Name) or _number(node)


def _has_float_operand(node):
    """True for `a op k` or `k op a` with `k` a float constant and `op` an
    arithmetic operator: its value is a new inexact array or scalar."""
    return (isinstance(node, gast.BinOp)
            and isinstance(node.op, (gast.Add, gast.Sub, gast.Mult,
                                     gast.Div))
            and any(isinstance(side, gast.Constant)
                    and type(side.value) is float
                    for side in (node.left, node.right)))


_ADJOINT_EXPRESSION_NODES = 24


def inline_temporaries(function, temporaries, max_nodes=None, names=None):
    """Write each temporary that is read once into the statement reading it.

    Inside one expression NumPy frees an intermediate array as soon as the
    next operation has used it, where a named temporary lives until the
    function returns. A run of definitions is inlined only into the
    statement right after it, and only when that statement reads them in the
    order they were defined, so every operation still runs in its order.

    `names` is a `StatementNames` table of the caller's for the statements
    of `function`, kept current here, or None.
    """
    temporaries = frozenset(temporaries)
    if not temporaries:
        return  # No name can be inlined, and no statement needs a walk.
    loads, stores = {}, {}
    if names is None:
        # No table to fill, so one walk of the whole function counts.
        names = StatementNames()
        for node in name_nodes(function):
            name = node.id
            if name in temporaries:
                counts = loads if node.ctx.__class__ is gast.Load else stores
                counts[name] = counts.get(name, 0) + 1
    else:
        for uses in _function_uses(function, names):
            for name in uses.loads:
                if name in temporaries:
                    loads[name] = loads.get(name, 0) + 1
            for kind in (uses.stores, uses.deletes, uses.others):
                for name in kind:
                    if name in temporaries:
                        stores[name] = stores.get(name, 0) + 1
    single_use = {name for name in temporaries
                  if loads.get(name) == 1 and stores.get(name) == 1}
    if single_use:
        function.body = _inline_block(function.body, single_use, max_nodes,
                                      names)


def _function_uses(function, names):
    """Return the `NameUses` of the statements of `function`, looked up in
    the table `names`, and of its other parts (parameters, decorators)."""
    found = [names.uses(statement) for statement in function.body]
    found += [NameUses(name_nodes(part))
              for part in parts_outside_body(function)]
    return found


def _inline_block(statements, single_use, max_nodes, names):
    kept = []
    for statement in statements:
        if isinstance(statement, (gast.If, gast.For, gast.While)):
            statement.body = _inline_block(statement.body, single_use,
                                           max_nodes, names)
            statement.orelse = _inline_block(statement.orelse, single_use,
                                             max_nodes, names)
        elif isinstance(statement, (gast.Assign, gast.Return, gast.Expr)) \
                and statement.value is not None:
            run = len(kept)
            while run and _defines_single_use(kept[run - 1], single_use):
                run -= 1
            inlined = _inline_run(statement, kept[run:], max_nodes)
            if inlined:
                del kept[len(kept) - inlined:]
                names.forget(statement)
        kept.append(statement)
    return kept


def _defines_single_use(statement, single_use):
    return (isinstance(statement, gast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], gast.Name)
            and statement.targets[0].id in single_use)


def _inline_run(statement, definitions, max_nodes):
    """Inline the longest tail of `definitions` that `statement` reads in
    order, within `max_nodes` nodes if given; return how many definitions
    were inlined."""
    if not definitions:
        return 0
    if max_nodes is not None:
        size = node_count(statement.value)
        # The nodes each definition adds when inlined, counted once, not
        # once per tail that contains it.
        added = [node_count(d.value) - 1 for d in definitions]
        if size + added[-1] > max_nodes:
            # Every tail contains the last definition, so none fits, and
            # the order of the reads, a longer walk, is not needed.
            return 0
    reads = evaluation_order(statement.value)
    if reads is None:
        return 0
    for start in range(len(definitions)):
        tail = definitions[start:]
        names = [d.targets[0].id for d in tail]
        read_names = [n for n in reads if n.id in names]
        if [n.id for n in read_names] != names:
            continue
        if max_nodes is not None and size + sum(added[start:]) > max_nodes:
            continue
        values = {d.targets[0].id: d.value for d in tail}
        replacements = {id(n): values[n.id] for n in read_names}
        statement.value = _replace_nodes(statement.value, replacements,
                                         [len(replacements)])
        return len(tail)
    return 0


def _replace_nodes(node, replacements, remaining):
    """Return `node` with the nodes whose id is in `replacements` replaced.

    `remaining` is a list of one count, of the nodes still to replace. Once
    it is zero, no node is searched further.
    """
    if id(node) in replacements:
        remaining[0] -= 1
        return replacements[id(node)]
    for field in node._fields:
        if not remaining[0]:
            break
        try:
            value = getattr(node, field)
        except AttributeError:
            continue  # As in ast.iter_fields, a missing field is skipped.
        if isinstance(value, list):
            for position, item in enumerate(value):
                if not remaining[0]:
                    break
                if isinstance(item, gast.AST):
                    value[position] = _replace_nodes(item, replacements,
                                                     remaining)
        elif isinstance(value, gast.AST):
            setattr(node, field, _replace_nodes(value, replacements,
                                                remaining))
    return node


def _prune_saved(program, names, primal_names):
    """Drop saved values that the adjoint no longer reads. `names` is the
    `StatementNames` table (made with `_INDEXED_KINDS`) of the adjoint's
    statements, and `primal_names` one of the primal's statements, both
    kept current here."""
    body = program.adjoint.body
    saved_param = program.adjoint.args.args[0].id
    if not body or not (isinstance(body[0], gast.Assign)
                        and isinstance(body[0].value, gast.Name)
                        and body[0].value.id == saved_param):
        return
    read, other_reads, shape_reads, body_names = _adjoint_reads(program,
                                                                names)
    unpack = body[0].targets[0]
    names.forget(body[0])
    primal_return = program.primal.body[-1]
    saved_tuple = primal_return.value.elts[1]
    keep = [i for i, n in enumerate(unpack.elts) if n.id in read]
    unpack.elts = [unpack.elts[i] for i in keep]
    saved_tuple.elts = [saved_tuple.elts[i] for i in keep]
    primal_names.forget(primal_return)
    if not keep:
        del body[0]
        return
    _save_shapes(program, unpack, saved_tuple, other_reads, shape_reads,
                 body_names, names, primal_names)
    primal_names.forget(primal_return)


# Runtime helpers that read only the shape (and kind) of some arguments,
# and accept an `ad.shape_and_kind(x)` in their place: name -> positions.
_SHAPE_READERS = {
    'unbroadcast': (1,), 'sum_adjoint': (1,), 'mean_adjoint': (1,),
    'masked_sum_adjoint': (1,), 'masked_mean_adjoint': (1,),
    'compact_sum_adjoint': (1,), 'compact_mean_adjoint': (1,),
    'expand': (1,), 'compact_unbroadcast': (1, 2),
}


def _adjoint_reads(program, table):
    """Return what the adjoint's statements after the unpacking of the
    saved values read, and the names in them, found in `table`, the
    `StatementNames` table of those statements.

    The first value is the set of names read, and the second the set of
    names read other than for their shape. The third maps each name to the
    pairs of a statement and a `Name` node in it that a runtime helper
    reads only for its shape (see `_SHAPE_READERS`). The fourth is the set
    of all names in those statements.
    """
    runtime_alias = program.runtime_alias
    shape_reads, names = {}, set()
    read, other_reads = set(), set()
    shape_nodes = set()  # the ids of the nodes in `shape_reads`
    for statement in program.adjoint.body[1:]:
        # A call comes before its arguments in the breadth-first order of
        # `find_nodes`, so a shape read is known before its name is seen.
        for node in table.nodes(statement, (gast.Name, gast.Call)):
            if isinstance(node, gast.Name):
                names.add(node.id)
                if isinstance(node.ctx, gast.Load):
                    read.add(node.id)
                    if id(node) not in shape_nodes:
                        other_reads.add(node.id)
                continue
            if not (isinstance(node, gast.Call)
                    and isinstance(node.func, gast.Attribute)
                    and isinstance(node.func.value, gast.Name)
                    and node.func.value.id == runtime_alias
                    and node.func.attr in _SHAPE_READERS):
                continue
            for position in _SHAPE_READERS[node.func.attr]:
                if position < len(node.args) and isinstance(
                        node.args[position], gast.Name):
                    argument = node.args[position]
                    shape_reads.setdefault(argument.id, []).append(
                        (statement, argument))
                    shape_nodes.add(id(argument))
    return read, other_reads, shape_reads, names


def _save_shapes(program, unpack, saved_tuple, other_reads, shape_reads,
                 body_names, names, primal_names):
    """Save `ad.shape_and_kind(t)` for values the adjoint reads only for
    their shape, so that their arrays are freed when the primal returns.

    Parameters stay: saving them keeps no array alive that the caller does
    not hold anyway. `other_reads`, `shape_reads` and `body_names` are what
    `_adjoint_reads` returns. `names` is the `StatementNames` table of
    the adjoint's statements, kept current here, and `primal_names` one
    of the primal's statements, whose changed return statement the caller
    forgets.
    """
    runtime_alias = program.runtime_alias
    params = {a.id for a in program.primal.args.args}
    used_names = None  # every name in both functions, once one is renamed
    for position, target in enumerate(unpack.elts):
        name = target.id
        if name not in shape_reads or name in other_reads or name in params:
            continue
        if used_names is None:
            used_names = _names_in_both(program, body_names, primal_names)
        new_name = f'{name}_shape'
        while new_name in used_names:
            new_name += '_'
        used_names.add(new_name)
        target.id = new_name
        for statement, read in shape_reads[name]:
            read.id = new_name
            names.renamed(statement)
        saved_tuple.elts[position] = new_node(
            gast.Call, func=new_node(
                gast.Attribute, value=name_node(runtime_alias),
                attr='shape_and_kind', ctx=new_node(gast.Load)),
            args=[saved_tuple.elts[position]], keywords=[])


def _names_in_both(program, body_names, primal_names):
    """Return every name in the primal and the adjoint of `program`, given
    `body_names`, those in the adjoint's statements after the first, and
    `primal_names`, a `StatementNames` table of the primal's statements.
    The adjoint's statements are not walked again."""
    names = set()
    for uses in _function_uses(program.primal, primal_names):
        for kind in (uses.loads, uses.stores, uses.deletes, uses.others):
            names.update(kind)
    names.update(body_names)
    adjoint = program.adjoint
    parts = [adjoint.body[0]] if adjoint.body else []
    for field in adjoint._fields:
        value = getattr(adjoint, field, None)
        if field != 'body' and isinstance(value, list):
            parts.extend(item for item in value
                         if isinstance(item, gast.AST))
        elif isinstance(value, gast.AST):
            parts.append(value)
    for part in parts:
        names.update(node.id for node in name_nodes(part))
    return names


def optimize_function(function, numpy_alias, runtime_alias, tangent_names):
    """Fold constants in the tangents of a forward-mode function.

    Only assignments to the names in `tangent_names` (or into their items)
    and the tangent of the returned pair are folded. The function also runs
    the user's own statements, which must compute what they compute in
    Python: there, a folded `np.where(True, 2, 3)` would be an int where
    NumPy gives an int64 array. Dead-code removal is not applied, because
    the user's calls may have effects.
    """
    _fold_tangents(function.body, _ConstantFolder(numpy_alias, runtime_alias),
                   frozenset(tangent_names))
    function.body = drop_orphan_comments(function.body)
    return function


def _fold_tangents(statements, folder, tangent_names):
    """Fold the values of the tangent assignments in `statements` and in the
    blocks nested in them (see `optimize_function`)."""
    for statement in statements:
        if isinstance(statement, gast.Assign):
            if all(_assigns_tangent(target, tangent_names)
                   for target in statement.targets):
                statement.value = folder.visit(statement.value)
        elif isinstance(statement, gast.Return):
            value = statement.value
            if isinstance(value, gast.Tuple) and len(value.elts) == 2:
                value.elts[1] = folder.visit(value.elts[1])
        else:
            for field in ('body', 'orelse', 'finalbody'):
                _fold_tangents(getattr(statement, field, []), folder,
                               tangent_names)
            for handler in getattr(statement, 'handlers', []):
                _fold_tangents(handler.body, folder, tangent_names)


def _assigns_tangent(target, tangent_names):
    while isinstance(target, gast.Subscript):
        target = target.value
    return isinstance(target, gast.Name) and target.id in tangent_names


def optimize_adjoint(function, numpy_alias, runtime_alias, not_none=(),
                     numbers=(), numeric_names=frozenset(),
                     float_names=frozenset(), names=None):
    """Apply the rewrites in the module docstring to an adjoint function,
    given the parameters in `not_none` that are never None and those in
    `numbers` that are numbers (see `zero_adjoints.simplify` for the
    names).

    `names` is a `StatementNames` table of the caller's for the statements
    of `function`, kept current here, or None.
    """
    if names is None:
        names = StatementNames()
    changed = True
    while changed:
        changed = zero_adjoints.simplify(function, numpy_alias, runtime_alias,
                                         not_none, numbers, numeric_names,
                                         float_names, names)
        changed = _propagate_copies(function, names) or changed
        changed = _remove_dead_code(function, names) or changed
    function.body = drop_orphan_comments(function.body)
    return function


def _is_comment(statement):
    return (isinstance(statement, gast.Expr)
            and isinstance(statement.value, gast.Constant)
            and isinstance(statement.value.value, str)
            and statement.value.value.startswith(COMMENT_PREFIX))


def _loads(node):
    return [n.id for n in name_nodes(node) if isinstance(n.ctx, gast.Load)]


def _removable(statement):
    """True for an assignment whose value has no effect besides the value.

    NumPy and the runtime's adjoint helpers are pure, but a `tape.pop()`
    must stay even when its value is unused, or later pops would read the
    wrong entries. The adjoint of a called function (a plain name, or
    `ad.call_adjoint`) stays too: it may undo the callee's in-place updates.
    """
    if not isinstance(statement, gast.Assign):
        return False
    for node in walk(statement.value):
        if not isinstance(node, gast.Call):
            continue
        if isinstance(node.func, gast.Attribute) and node.func.attr in (
                'pop', 'append', 'call_adjoint'):
            return False
        if isinstance(node.func, gast.Name):
            return False
    return True


def _removable_if(statement):
    """True for an `if` of the adjoint whose test calls nothing: when both
    branches are empty, the test can go too."""
    return not any(isinstance(n, gast.Call) for n in walk(statement.test))


@dataclasses.dataclass(frozen=True)
class DeadCodePolicy:
    """The rules of dead-code removal: an assignment whose targets nothing
    reads may go when `removable(statement)` is true, and an `if` with two
    empty branches when `removable_if(statement)` is true."""

    removable: object = _removable
    removable_if: object = _removable_if


_ADJOINT_POLICY = DeadCodePolicy()


def _remove_dead_code(function, names=None):
    return remove_dead_code(function, _ADJOINT_POLICY, names)


def remove_dead_code(function, policy, names=None):
    """Drop the dead assignments and empty `if`s of `function` that
    `policy` allows; return whether anything was dropped.

    `names` is a `StatementNames` table of the caller's for the statements
    of `function`, or None for a new one. This pass changes no statement
    that such a table keeps: it only drops statements and rebuilds blocks.
    """
    if names is None:
        names = StatementNames()
    function.body, _, changed = _live_block(function.body, set(), True,
                                            policy, names)
    return changed


def _live_block(statements, live, remove, policy, names, exits=None):
    """Drop dead assignments from `statements`, given the names read after.

    Returns the statements kept, the names read before them, and whether
    anything was dropped. With `remove` false, only the names are computed.
    `names` is the `StatementNames` table of the statements. Inside a for
    loop, `exits` contains the names read after a `break` (those read
    after the loop) and after a `continue` (those read at its head).
    """
    live = set(live)
    kept = []
    changed = False
    for statement in reversed(statements):
        if isinstance(statement, gast.If):
            body, body_live, body_changed = _live_block(
                statement.body, live, remove, policy, names, exits)
            orelse, else_live, else_changed = _live_block(
                statement.orelse, live, remove, policy, names, exits)
            if remove:
                statement.body, statement.orelse = body, orelse
            changed = changed or body_changed or else_changed
            if remove and _only_comments(body + orelse) and \
                    policy.removable_if(statement):
                changed = True  # Neither branch does anything.
                continue
            if remove and _only_comments(body) and orelse:
                # `if t: pass else: ...` reads better as `if not t: ...`.
                statement.test = gast.UnaryOp(op=gast.Not(),
                                              operand=statement.test)
                statement.body, statement.orelse = orelse, []
                changed = True
            live = body_live | else_live | set(_loads(statement.test))
        elif isinstance(statement, gast.For) and not statement.orelse:
            loop_changed, live = _live_loop(statement, live, remove, policy,
                                            names)
            changed = changed or loop_changed
        elif isinstance(statement, (gast.Break, gast.Continue)) and exits:
            live = set(exits[0] if isinstance(statement, gast.Break)
                       else exits[1])
        elif isinstance(statement, gast.Assign):
            uses = names.uses(statement)
            # Liveness is checked first because it is cheaper to decide.
            if live.isdisjoint(uses.stores) and policy.removable(statement):
                changed = True
                continue
            live.difference_update(uses.stores)
            live.update(uses.loads)
        else:
            # Other statements only read here: their stores may not run.
            live.update(names.uses(statement).loads)
        kept.append(statement)
    return list(reversed(kept)), live, changed


def _live_loop(loop, live_after, remove, policy, names):
    """Drop dead assignments from a for loop's body; return the names read
    before the loop. A name read at the start of the body is live at its end,
    because the next trip reads it."""
    live_head = set(live_after)
    while True:
        _, live_in, _ = _live_block(loop.body, live_head, False, policy,
                                    names, (live_after, live_head))
        widened = live_head | live_in
        if widened == live_head:
            break
        live_head = widened
    changed = False
    if remove:
        loop.body, _, changed = _live_block(loop.body, live_head, True,
                                            policy, names,
                                            (live_after, live_head))
    return changed, live_head | set(_loads(loop.iter))


def _propagate_copies(function, names):
    """Replace reads of copies by reads of the originals, in one pass.

    A top-level `a = b` between names is removed, and later reads of `a`
    read `b`, when `a` is assigned once, `b` is not assigned after the copy,
    and `a` is not in the returned value. `names` is the `StatementNames`
    table of the statements, kept current here.
    """
    body = function.body
    if not any(_is_copy(statement) for statement in body):
        return False  # Nothing to do, and no statement needs a walk.
    returned = set()
    if body and isinstance(body[-1], gast.Return):
        returned = set(names.uses(body[-1]).loads)
    store_counts = {}
    last_store = {}
    for position, statement in enumerate(body):
        for name in names.uses(statement).stores:
            store_counts[name] = store_counts.get(name, 0) + 1
            last_store[name] = position

    renames = {}
    kept = []
    for position, statement in enumerate(body):
        if renames and not renames.keys().isdisjoint(
                names.uses(statement).loads):
            for node in name_nodes(statement):
                if node.id in renames and isinstance(node.ctx, gast.Load):
                    node.id = renames[node.id]
            names.renamed(statement)
        if _is_copy(statement):
            copy_name = statement.targets[0].id
            original = statement.value.id
            if (copy_name not in returned
                    and store_counts.get(copy_name) == 1
                    and last_store.get(original, -1) <= position
                    and copy_name != original):
                renames[copy_name] = original
                continue
        kept.append(statement)
    function.body = kept
    return bool(renames)


def _is_copy(statement):
    """True for an assignment `a = b` between names."""
    return (isinstance(statement, gast.Assign)
            and isinstance(statement.targets[0], gast.Name)
            and isinstance(statement.value, gast.Name))


def _only_comments(statements):
    return all(_is_comment(statement) for statement in statements)


def drop_orphan_comments(body):
    """Drop comment markers that no statement follows, in nested blocks too."""
    kept = []
    for statement in body:
        for field in ('body', 'orelse'):
            if isinstance(statement, (gast.If, gast.For, gast.While)):
                setattr(statement, field, drop_orphan_comments(
                    getattr(statement, field)))
    for position, statement in enumerate(body):
        if _is_comment(statement):
            following = body[position + 1] if position + 1 < len(body) else None
            if following is None or _is_comment(following) or isinstance(
                    following, gast.Return):
                continue
        kept.append(statement)
    return kept
