"""Optimize stage: clean up generated straight-line code.

Input: a gast `FunctionDef` written by the reverse stage. Output: the same
function with these rewrites applied until none changes anything:

- constant folding: operations on number constants are evaluated,
  `e ** 1` becomes `e`, `np.where(constant, a, b)` picks its branch, and
  `ad.cast_adjoint(e, None)` becomes `e`;
- dead code: an assignment to a name that nothing later reads is removed when
  its value has no side effect (adjoint code calls only NumPy and the
  runtime; pops from the tape are kept);
- copy propagation: after `a = b` between names, later reads of `a` read `b`,
  when `a` is assigned once, `b` is not assigned again, and `a` is not in the
  returned value (so returned adjoints keep their derived names).

Comment markers are kept only where a statement follows them. Finally the
values the primal saves are cut down to those the optimized adjoint reads.
"""

import operator

import gast

from adcompiler.codegen import COMMENT_PREFIX

_FOLDABLE = {
    gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul,
    gast.Div: operator.truediv, gast.Pow: operator.pow,
}


def _number(node):
    return (isinstance(node, gast.Constant)
            and isinstance(node.value, (int, float, complex))
            and not isinstance(node.value, bool))


class _ConstantFolder(gast.NodeTransformer):
    """Evaluate operations on number constants; see the module docstring."""

    def __init__(self, numpy_alias, runtime_alias):
        self.numpy_alias = numpy_alias
        self.runtime_alias = runtime_alias

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
        if isinstance(node.op, gast.Pow) and _number(node.right) \
                and node.right.value == 1:
            return node.left
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, gast.USub) and _number(node.operand):
            return gast.Constant(value=-node.operand.value, kind=None)
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        func = node.func
        if (self.is_function(func, self.numpy_alias, 'where')
                and len(node.args) == 3 and not node.keywords
                and isinstance(node.args[0], gast.Constant)):
            return node.args[1] if node.args[0].value else node.args[2]
        if (self.is_function(func, self.runtime_alias, 'cast_adjoint')
                and len(node.args) == 2 and isinstance(node.args[1],
                                                       gast.Constant)
                and node.args[1].value is None):
            return node.args[0]  # No cast: the adjoint passes through.
        return node


def optimize(program):
    """Optimize a `ReverseProgram` in place and return it."""
    _ConstantFolder(program.numpy_alias,
                    program.runtime_alias).visit(program.adjoint)
    optimize_adjoint(program.adjoint)
    _prune_saved(program)
    return program


def _prune_saved(program):
    """Drop saved values that the adjoint no longer reads."""
    body = program.adjoint.body
    saved_param = program.adjoint.args.args[0].id
    if not body or not (isinstance(body[0], gast.Assign)
                        and isinstance(body[0].value, gast.Name)
                        and body[0].value.id == saved_param):
        return
    read = set()
    for statement in body[1:]:
        read.update(_loads(statement))
    unpack = body[0].targets[0]
    primal_return = program.primal.body[-1]
    saved_tuple = primal_return.value.elts[1]
    keep = [i for i, n in enumerate(unpack.elts) if n.id in read]
    unpack.elts = [unpack.elts[i] for i in keep]
    saved_tuple.elts = [saved_tuple.elts[i] for i in keep]
    if not keep:
        del body[0]


def optimize_function(function, numpy_alias, runtime_alias):
    """Fold constants in a generated function that also runs user code.

    Dead-code removal is not applied: the function contains the user's own
    statements, whose calls may have effects.
    """
    _ConstantFolder(numpy_alias, runtime_alias).visit(function)
    function.body = _drop_orphan_comments(function.body)
    return function


def optimize_adjoint(function):
    """Apply the rewrites in the module docstring to an adjoint function."""
    changed = True
    while changed:
        changed = _propagate_copies(function)
        changed = _remove_dead_code(function) or changed
    function.body = _drop_orphan_comments(function.body)
    return function


def _is_comment(statement):
    return (isinstance(statement, gast.Expr)
            and isinstance(statement.value, gast.Constant)
            and isinstance(statement.value.value, str)
            and statement.value.value.startswith(COMMENT_PREFIX))


def _loads(node):
    return [n.id for n in gast.walk(node)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)]


def _stores(statement):
    """Return every name `statement` assigns, inside nested blocks too."""
    return [n.id for n in gast.walk(statement)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)]


def _removable(statement):
    """True for an assignment whose value has no effect besides the value.

    Adjoint code calls only NumPy and the runtime, which are pure, but a
    `tape.pop()` must stay even when its value is unused, or later pops
    would read the wrong entries.
    """
    if not isinstance(statement, gast.Assign):
        return False
    for node in gast.walk(statement.value):
        if (isinstance(node, gast.Call) and isinstance(node.func,
                                                       gast.Attribute)
                and node.func.attr in ('pop', 'append')):
            return False
    return True


def _remove_dead_code(function):
    live = set()
    kept = []
    changed = False
    for statement in reversed(function.body):
        stores = _stores(statement)
        if _removable(statement) and not any(name in live for name in stores):
            changed = True
            continue
        if isinstance(statement, gast.Assign):
            # Only a plain assignment surely replaces the value; one inside a
            # branch or loop may not run.
            for name in stores:
                live.discard(name)
        live.update(_loads(statement))
        kept.append(statement)
    function.body = list(reversed(kept))
    return changed


def _propagate_copies(function):
    body = function.body
    returned = set()
    if body and isinstance(body[-1], gast.Return):
        returned = set(_loads(body[-1]))
    store_counts = {}
    for statement in body:
        for name in _stores(statement):
            store_counts[name] = store_counts.get(name, 0) + 1

    for index, statement in enumerate(body):
        if not (isinstance(statement, gast.Assign)
                and isinstance(statement.targets[0], gast.Name)
                and isinstance(statement.value, gast.Name)):
            continue
        copy_name = statement.targets[0].id
        original = statement.value.id
        if copy_name in returned or store_counts.get(copy_name) != 1:
            continue
        later = body[index + 1:]
        if any(original in _stores(s) for s in later):
            continue
        for later_statement in later:
            for node in gast.walk(later_statement):
                if (isinstance(node, gast.Name) and node.id == copy_name
                        and isinstance(node.ctx, gast.Load)):
                    node.id = original
        del body[index]
        return True
    return False


def _drop_orphan_comments(body):
    kept = []
    for position, statement in enumerate(body):
        if _is_comment(statement):
            following = body[position + 1] if position + 1 < len(body) else None
            if following is None or _is_comment(following) or isinstance(
                    following, gast.Return):
                continue
        kept.append(statement)
    return kept
