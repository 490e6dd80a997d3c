"""Keep the cotangents of reductions compact in straight-line adjoint code.

The adjoint of `s = np.sum(t)` is `ad.sum_adjoint(ds, t, None, False)`, the
scalar `ds` broadcast to the shape of `t`. Every elementwise operation on it
then makes a pass over a full array, even `dt * 0.5`. This pass rewrites it
to `ad.compact_sum_adjoint(ds, t, None, False)`, a value that only
broadcasts to the shape of `t` (the scalar itself), and follows such
*compact* values through the top-level statements of the adjoint:

- arithmetic of a compact value with numbers, elementwise functions of it
  (`np.real`, `ad.abs_sign`, ...) and `ad.cast_adjoint` of it stay compact;
- arithmetic with a compact value and a value known to have the shape that
  it broadcasts to (the shape facts of `adcompiler.shapes` decide) needs no
  change, since NumPy broadcasts the compact operand;
- `ad.unbroadcast(c, x)` of a compact `c` becomes `ad.compact_unbroadcast`,
  whose result is compact with the shape of `x`;
- anywhere else (a call, an index, a return, a statement with nested blocks)
  the compact value is written as `ad.expand(c, t)`, the broadcast view that
  the code read before.

Only top-level assignments to plain names are followed. A compact name that
a nested block reads or assigns is expanded before that block. So is one
shaped like a value that a call may change in place.
"""

import dataclasses

import gast

from adcompiler.traversal import find_nodes, name_node, name_nodes, new_node


# Functions of one array, applied entry by entry: applied to a value that
# broadcasts to a shape, their result broadcasts to it too.
_ELEMENTWISE_NUMPY = frozenset((
    'real', 'imag', 'conj', 'conjugate', 'negative', 'positive', 'abs',
    'absolute', 'sign', 'sin', 'cos', 'tan', 'sinh', 'cosh', 'tanh', 'exp',
    'expm1', 'log', 'log1p', 'sqrt', 'square', 'reciprocal',
))
_ELEMENTWISE_RUNTIME = frozenset(('abs_sign',))
_ARITHMETIC = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow)
# Runtime helpers that change an argument in place.
_CHANGING_HELPERS = frozenset((
    'restore_item', 'remove_last', 'undo_insert', 'undo_pop',
    'index_accumulate',
))
_REDUCTIONS = {'sum_adjoint': 'compact_sum_adjoint',
               'mean_adjoint': 'compact_mean_adjoint'}


@dataclasses.dataclass(frozen=True)
class _Form:
    """Facts about the value of an expression.

    `compact` is true for a compact cotangent, which broadcasts to the shape
    of the value named `shape`. Otherwise `shape` names a value of the same
    shape, or is None when the shape is unknown. `number` marks a number
    constant, which broadcasts to any shape.
    """

    compact: bool = False
    shape: str = None
    number: bool = False


_UNKNOWN = _Form()
_NUMBER = _Form(number=True)


def keep_compact(function, facts, numpy_alias, runtime_alias, calls=None,
                 names=None):
    """Rewrite the adjoint `function` in place; see the module docstring.

    Returns whether anything changed. A list given as `calls` is extended
    with every call that `function` contains afterwards, and perhaps a few
    more that it no longer contains. `names` is a `StatementNames` table
    of the caller's for the statements of `function`, made with
    `gast.Call` among its kinds and kept current here, or None.
    """
    rewriter = _Rewriter(facts, numpy_alias, runtime_alias, True, names)
    function.body = rewriter.block(function.body)
    # The rewriter found the calls of the body before it changed them, and
    # it adds no calls but expansions, so the body is not walked again.
    found = rewriter.calls
    for field in function._fields:
        if field != 'body':
            value = getattr(function, field, None)
            for item in value if isinstance(value, list) else (value,):
                if isinstance(item, gast.AST):
                    found += find_nodes(item, gast.Call)
    dropped = _drop_unread_shapes(found, runtime_alias)
    if dropped and names is not None:
        for statement, statement_calls in rewriter.statement_calls:
            if any(id(call) in dropped for call in statement_calls):
                names.forget(statement)
    if calls is not None:
        calls += found
    return rewriter.changed


def _drop_unread_shapes(calls, runtime_alias):
    """Pass None for the value in `ad.compact_sum_adjoint(g, t, None, k)`,
    among `calls`; return the ids of the calls changed.

    Over all axes the compact cotangent is `g` itself, so the call does not
    read `t`, and the primal need not save `t` or its shape for it.
    """
    dropped = set()
    for node in calls:
        if (not node.keywords
                and isinstance(node.func, gast.Attribute)
                and node.func.attr == 'compact_sum_adjoint'
                and isinstance(node.func.value, gast.Name)
                and node.func.value.id == runtime_alias
                and len(node.args) == 4
                and isinstance(node.args[2], gast.Constant)
                and node.args[2].value is None):
            node.args[1] = gast.Constant(value=None, kind=None)
            dropped.add(id(node))
    return dropped


def negate_compact_factors(function, numpy_alias, runtime_alias,
                           negates_product=None, names=None):
    """Move negations of products onto their compact first factors.

    `keep_compact` does this too, but only on products of one operation
    each. This pass runs again once temporaries are inlined. It adds
    no expansions, because `keep_compact` already made every compact value
    that needs one full, and it keeps the statements of the body (it
    changes only their expressions).

    `negates_product` is whether a node of `function` is a negated
    product (see `is_negated_product`), when the caller found it in a
    walk of its own, or None. `names` is as in `keep_compact`.
    """
    if negates_product is None:
        negates_product = any(map(is_negated_product,
                                  find_nodes(function, gast.UnaryOp)))
    if not negates_product:
        # Nothing to move, and one walk costs less than the rewriter's.
        return False
    rewriter = _Rewriter(None, numpy_alias, runtime_alias, False, names)
    function.body = rewriter.block(function.body)
    return rewriter.changed


def is_negated_product(node):
    """True for `-(a * b)` or `-(a / b)`, where `negate_compact_factors`
    may move the negation, given a `UnaryOp` node."""
    return (isinstance(node.op, gast.USub)
            and isinstance(node.operand, gast.BinOp)
            and isinstance(node.operand.op, (gast.Mult, gast.Div)))


class _Rewriter:

    def __init__(self, facts, numpy_alias, runtime_alias, expanding,
                 names=None):
        self.facts = facts
        self.numpy_alias = numpy_alias
        self.runtime_alias = runtime_alias
        self.expanding = expanding  # false: only negations move
        self.names = names  # a StatementNames table with calls, or None
        self.forms = {}  # name -> _Form of its current value
        # shape reference -> names whose form has it, so that an assignment
        # finds the forms it makes stale without looking at all of them.
        self.shaped_by = {}
        # How many rewrites changed a node in place or replaced one. Every
        # such rewrite counts, so that `forget_if_changed` finds the
        # statements that changed.
        self.changes = 0
        self.calls = []  # every call in the statements given to `block`
        # (statement, its calls) for the statements given to `block`
        self.statement_calls = []
        # name -> `_Form(shape=name)`, made once per name because a frozen
        # dataclass is slow to make and the rewriter visits every name.
        self.shaped_like = {}

    @property
    def changed(self):
        return self.changes > 0

    def block(self, statements):
        rewritten = []
        for statement in statements:
            # A call may change a shape reference in place (the adjoint
            # undoes `lst.append(v)` with `ad.remove_last(lst, 1)`), so the
            # compact values shaped like it are expanded before the call.
            rewritten += self.expand_stale(self.possibly_changed(statement))
            if (isinstance(statement, gast.Assign)
                    and len(statement.targets) == 1
                    and isinstance(statement.targets[0], gast.Name)):
                target = statement.targets[0].id
                changes_before = self.changes
                statement.value, form = self.visit(statement.value)
                if form.compact and form.shape == target:
                    # The value would be shaped like the name's old value.
                    statement.value = self.expand_call(statement.value, form)
                    form = _UNKNOWN
                self.forget_if_changed(statement, changes_before)
                rewritten += self.expand_stale({target})
                self.set_form(target, form)
            elif isinstance(statement, (gast.Return, gast.Expr)):
                if statement.value is not None:
                    changes_before = self.changes
                    statement.value = self.expanded(statement.value)
                    self.forget_if_changed(statement, changes_before)
            else:
                # A nested block or another store: its compact names become
                # full first, so that every path leaves them full.
                names = {node.id for node in name_nodes(statement)}
                rewritten += self.expand_names(
                    [n for n in names if self.is_compact(n)])
                rewritten += self.expand_stale(names)
                for name in names:
                    self.forget(name)
            rewritten.append(statement)
        return rewritten

    def forget_if_changed(self, statement, changes_before):
        """Forget `statement` in the table of names when a rewrite was
        counted since `self.changes` was `changes_before`."""
        if self.changes != changes_before and self.names is not None:
            self.names.forget(statement)

    def possibly_changed(self, statement):
        """Return the names that a call in `statement` may change in place:
        the arguments and receivers of calls other than NumPy functions and
        the runtime helpers that change none of their arguments."""
        changed = set()
        if self.names is None:
            calls = find_nodes(statement, gast.Call)
        else:
            calls = self.names.nodes(statement, gast.Call)
        self.calls += calls
        self.statement_calls.append((statement, calls))
        for node in calls:
            function = self.function_name(node)
            if function is not None and (
                    function[0] == self.numpy_alias
                    or function[1] not in _CHANGING_HELPERS):
                continue
            for part in [node.func] + node.args + [k.value
                                                   for k in node.keywords]:
                changed.update(n.id for n in name_nodes(part))
        return changed

    def is_compact(self, name):
        return self.forms.get(name, _UNKNOWN).compact

    def set_form(self, name, form):
        self.forget(name)
        self.forms[name] = form
        if form.shape is not None:
            self.shaped_by.setdefault(form.shape, set()).add(name)

    def forget(self, name):
        form = self.forms.pop(name, None)
        if form is not None and form.shape is not None:
            self.shaped_by[form.shape].discard(name)

    def expand_stale(self, stored):
        """Expand compact names whose shape reference is about to be
        assigned, and forget facts about the assigned names."""
        dependent = set()
        for shape in stored:
            dependent.update(self.shaped_by.get(shape, ()))
        stale = [name for name in dependent
                 if self.forms[name].compact and name not in stored]
        statements = self.expand_names(stale)
        for name in dependent:
            self.forget(name)
        return statements

    def expand_names(self, names):
        statements = []
        if not self.expanding:
            return statements
        for name in sorted(names):
            form = self.forms[name]
            statements.append(gast.Assign(
                targets=[_name(name, gast.Store())],
                value=self.expand_call(_name(name), form), type_comment=None))
            self.set_form(name, _Form(shape=form.shape))
        return statements

    def expand_call(self, node, form):
        if not self.expanding:
            return node
        self.changes += 1
        return _call(self.runtime_alias, 'expand', node, _name(form.shape))

    # Expressions -----------------------------------------------------------

    def expanded(self, node):
        """Return `node` rewritten, with a compact value expanded."""
        node, form = self.visit(node)
        if form.compact:
            return self.expand_call(node, form)
        return node

    def visit(self, node):
        """Return the rewritten `node` and the `_Form` of its value."""
        if isinstance(node, gast.Name):
            if isinstance(node.ctx, gast.Load) and node.id in self.forms:
                return node, self.forms[node.id]
            try:
                return node, self.shaped_like[node.id]
            except KeyError:
                form = self.shaped_like[node.id] = _Form(shape=node.id)
                return node, form
        if isinstance(node, gast.Constant):
            if isinstance(node.value, (int, float, complex)) \
                    and not isinstance(node.value, bool):
                return node, _NUMBER
            return node, _UNKNOWN
        if isinstance(node, gast.BinOp) and isinstance(node.op, _ARITHMETIC):
            return self.visit_arithmetic(node)
        if isinstance(node, gast.UnaryOp) and isinstance(
                node.op, (gast.USub, gast.UAdd)):
            node.operand, form = self.visit(node.operand)
            if isinstance(node.op, gast.USub) and not form.compact:
                negated = self.negate_compact_factor(node.operand)
                if negated is not None:
                    return negated, form
            return node, form
        if isinstance(node, gast.Call):
            return self.visit_call(node)
        return self.generic(node), _UNKNOWN

    def negate_compact_factor(self, node):
        """Return `node`, a product or quotient, with its first factor
        negated when that factor is a compact name; else None.

        -(c / a * b) is (-c) / a * b exactly, and negating the compact c
        costs no pass over a full array.
        """
        parent = None
        factor = node
        while isinstance(factor, gast.BinOp) and isinstance(
                factor.op, (gast.Mult, gast.Div)):
            parent, factor = factor, factor.left
        if parent is None or not (isinstance(factor, gast.Name)
                                  and self.is_compact(factor.id)):
            return None
        parent.left = gast.UnaryOp(op=gast.USub(), operand=factor)
        self.changes += 1
        return node

    def generic(self, node):
        """Rewrite the children of `node`, expanding compact values."""
        for field, value in gast.iter_fields(node):
            if isinstance(value, list):
                setattr(node, field, [self.expanded(v)
                                      if isinstance(v, gast.expr)
                                      else self.generic_child(v)
                                      for v in value])
            elif isinstance(value, gast.expr):
                setattr(node, field, self.expanded(value))
            elif isinstance(value, gast.AST):
                setattr(node, field, self.generic_child(value))
        return node

    def generic_child(self, value):
        return self.generic(value) if isinstance(value, gast.AST) else value

    def same_shape(self, a, b):
        return a is not None and b is not None and (
            a == b or (self.facts is not None
                       and self.facts.same_shape(a, b)))

    def visit_arithmetic(self, node):
        node.left, left = self.visit(node.left)
        node.right, right = self.visit(node.right)
        if left.number and right.number:
            return node, _NUMBER
        if left.number or right.number:
            return node, right if left.number else left
        if left.compact and right.compact:
            if self.same_shape(left.shape, right.shape):
                return node, left
        elif left.compact or right.compact:
            compact, full = (left, right) if left.compact else (right, left)
            if self.same_shape(compact.shape, full.shape):
                # NumPy broadcasts the compact operand to the full shape.
                return node, full
        elif self.same_shape(left.shape, right.shape):
            return node, left
        if left.compact:
            node.left = self.expand_call(node.left, left)
        if right.compact:
            node.right = self.expand_call(node.right, right)
        return node, _UNKNOWN

    def visit_call(self, node):
        function = self.function_name(node)
        if node.keywords or function is None:
            return self.generic(node), _UNKNOWN
        module, name = function
        if module == self.runtime_alias and name == 'expand' \
                and len(node.args) == 2:
            node.args[0], _ = self.visit(node.args[0])
            node.args[1] = self.expanded(node.args[1])
            shape = node.args[1]
            return node, _Form(shape=shape.id) if isinstance(
                shape, gast.Name) else _UNKNOWN
        if module == self.runtime_alias and (
                name in _REDUCTIONS or name in _REDUCTIONS.values()) \
                and len(node.args) == 4:
            node.args = [self.expanded(a) for a in node.args]
            if name in _REDUCTIONS and self.expanding:
                node.func.attr = _REDUCTIONS[name]
                self.changes += 1
            shape = node.args[1]
            if isinstance(shape, gast.Name):
                return node, _Form(compact=True, shape=shape.id)
            # `_drop_unread_shapes` passed None: only negations move now,
            # and they need no shape.
            return node, (_UNKNOWN if self.expanding
                          else _Form(compact=True))
        if module == self.runtime_alias and name == 'compact_unbroadcast' \
                and len(node.args) == 3 \
                and isinstance(node.args[2], gast.Name):
            node.args[0], _ = self.visit(node.args[0])
            node.args[1:] = [self.expanded(a) for a in node.args[1:]]
            return node, _Form(compact=True, shape=node.args[2].id)
        if module == self.runtime_alias and name == 'unbroadcast' \
                and len(node.args) == 2 \
                and isinstance(node.args[1], gast.Name):
            g, form = self.visit(node.args[0])
            target = node.args[1].id
            if form.compact and self.expanding:
                node.func.attr = 'compact_unbroadcast'
                node.args = [g, _name(form.shape), node.args[1]]
                self.changes += 1
                return node, _Form(compact=True, shape=target)
            node.args[0] = g
            return node, _Form(shape=target)
        if module == self.runtime_alias and name == 'cast_adjoint' \
                and len(node.args) == 2:
            # The cotangent itself, or zeros of its shape: compact when it is.
            node.args[0], form = self.visit(node.args[0])
            node.args[1] = self.expanded(node.args[1])
            return node, form
        elementwise = (_ELEMENTWISE_NUMPY if module == self.numpy_alias
                       else _ELEMENTWISE_RUNTIME)
        if name in elementwise and len(node.args) == 1:
            node.args[0], form = self.visit(node.args[0])
            return node, form
        return self.generic(node), _UNKNOWN

    def function_name(self, node):
        """Return (module alias, attribute) for `alias.attribute(...)`."""
        func = node.func
        if (isinstance(func, gast.Attribute)
                and isinstance(func.value, gast.Name)
                and func.value.id in (self.numpy_alias, self.runtime_alias)):
            return func.value.id, func.attr
        return None


def _name(identifier, ctx=None):
    return name_node(identifier, ctx)


def _call(module, attr, *args):
    # The arguments are not copied: each call replaces its first argument
    # in the tree, so no node is shared.
    return new_node(
        gast.Call, func=new_node(gast.Attribute, value=_name(module),
                                 attr=attr, ctx=new_node(gast.Load)),
        args=list(args), keywords=[])
