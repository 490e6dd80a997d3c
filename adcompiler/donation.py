"""The adjoint that `grad` runs after the grad-only primal, written into
saved arrays that nothing reads any more.

`vjp` may run an adjoint several times on the same saved values, so the
adjoint never writes into them. `grad` runs the grad-only primal (see
`adcompiler.grad_only`), then the adjoint once, and drops the saved
values. Some of them are new arrays that only the saved values refer to
(`GradOnlyPrimal.owned_saved`). After its last read, such an array can
hold the value of a call that would otherwise allocate one: this pass
copies the optimized adjoint and rewrites that call, `np.sign(x)` or
`ad.abs_sign(x)`, as `ad.call_into(t3, ad.abs_sign, x)`. For the softplus
sum of 1,000,000 elements, `ad.abs_sign(x)` then goes into the array of
`np.exp(-np.abs(x))`, and the adjoint keeps two arrays of the input's size
alive at once instead of three.

An owned saved value is *donated* when every read of its name in the
adjoint is at the top level and keeps no reference to its array: an
operand of arithmetic or of a comparison, an operand that
`ad.apply_in_place` or `ad.quotient_in_divisor` only reads (not the last,
which they may write into), the argument of a call that
`call_into` accepts, or an argument that a runtime helper reads only for
its shape. The rewritten call is the first one that runs after the last
such read, outside loops, comprehensions and conditional expressions, and
each donated array takes one call. `ad.call_into` checks at run time that
the array has the dtype and shape of the result, and otherwise allocates
as the call would.
"""

import gast

from adcompiler.codegen import saved_unpacking
from adcompiler.traversal import copy_tree, evaluation_order, walk

# NumPy functions of one argument that are ufuncs computing a float64
# result of the argument's shape from a float64 array.
_UFUNCS = frozenset((
    'sin', 'cos', 'tan', 'sinh', 'cosh', 'tanh', 'exp', 'expm1', 'log',
    'log1p', 'sqrt', 'square', 'sign', 'abs', 'absolute', 'conj',
    'conjugate', 'reciprocal', 'negative',
))
_RUNTIME_FUNCTIONS = frozenset(('abs_sign',))

# Runtime helpers that read only the shape (and kind) of the arguments at
# these positions.
_SHAPE_READERS = {
    'unbroadcast': (1,), 'sum_adjoint': (1,), 'mean_adjoint': (1,),
    'compact_sum_adjoint': (1,), 'compact_mean_adjoint': (1,),
    'expand': (1,), 'compact_unbroadcast': (1, 2), 'reduction_size': (0,),
}

# Parts of an expression that may not run, or that may run later or
# several times.
_DEFERRED = (gast.Lambda, gast.ListComp, gast.SetComp, gast.DictComp,
             gast.GeneratorExp)
_CONDITIONAL = (gast.IfExp, gast.BoolOp, *_DEFERRED)


def donating_adjoint(adjoint, owned_saved, numpy_alias, runtime_alias,
                     name):
    """Return a copy of `adjoint` named `name` that writes into the owned
    saved values at the positions `owned_saved`, or None when no call can
    use one."""
    if not owned_saved:
        return None
    function = copy_tree(adjoint)
    function.name = name
    body = function.body
    unpacking = saved_unpacking(function)
    if unpacking is None:
        return None
    unpacked = unpacking.elts
    calls = _Calls(numpy_alias, runtime_alias)
    rewritten = set()
    changed = False
    for position in owned_saved:
        if position >= len(unpacked) or not isinstance(unpacked[position],
                                                       gast.Name):
            continue
        donated = unpacked[position].id
        if not _donatable(function, donated, calls):
            continue
        call = _first_call_after_last_read(body, donated, calls, rewritten)
        if call is None:
            continue
        rewritten.add(id(call))
        call.args = [_name(donated), call.func, call.args[0]]
        call.func = gast.Attribute(value=_name(runtime_alias),
                                   attr='call_into', ctx=gast.Load())
        changed = True
    return function if changed else None


class _Calls:
    """Recognize the calls of generated code that this pass reads."""

    def __init__(self, numpy_alias, runtime_alias):
        self.numpy_alias = numpy_alias
        self.runtime_alias = runtime_alias

    def function(self, call):
        """Return (module alias, attribute) of a call of a module's
        function with positional arguments only, or (None, None)."""
        func = call.func
        if (call.keywords or not isinstance(func, gast.Attribute)
                or not isinstance(func.value, gast.Name)):
            return None, None
        return func.value.id, func.attr

    def accepts_output(self, call):
        """True for a call that `ad.call_into` can compute in an array."""
        module, attribute = self.function(call)
        return len(call.args) == 1 and not isinstance(
            call.args[0], gast.Starred) and (
            (module == self.numpy_alias and attribute in _UFUNCS)
            or (module == self.runtime_alias
                and attribute in _RUNTIME_FUNCTIONS))

    def operands_read(self, call):
        """Return the arguments of `ad.apply_in_place(f, *args)` and
        `ad.quotient_in_divisor(c, d)` that they only read: all but the
        last, whose array they may write into."""
        module, attribute = self.function(call)
        if (module != self.runtime_alias
                or attribute not in ('apply_in_place', 'quotient_in_divisor')
                or any(isinstance(argument, gast.Starred)
                       for argument in call.args)):
            return ()
        first = 1 if attribute == 'apply_in_place' else 0
        return call.args[first:-1]

    def shape_positions(self, call):
        module, attribute = self.function(call)
        if module != self.runtime_alias:
            return ()
        return _SHAPE_READERS.get(attribute, ())


def _donatable(function, donated, calls):
    """True when `donated` is assigned only by the unpacking of the saved
    values and every read of it is at the top level and keeps no reference
    to its array (see the module docstring)."""
    body = function.body
    safe_reads = set()
    for statement in body[1:]:
        if not isinstance(statement, (gast.Assign, gast.Return, gast.Expr)):
            if donated in _names(statement):
                return False
            continue
        if isinstance(statement, gast.Return) and donated in _names(
                statement):
            return False  # The saved value itself would be the gradient.
        for node in walk(statement):
            if isinstance(node, gast.BinOp):
                safe_reads.update((id(node.left), id(node.right)))
            elif isinstance(node, gast.UnaryOp):
                safe_reads.add(id(node.operand))
            elif isinstance(node, gast.Compare):
                safe_reads.update(id(side) for side in (
                    node.left, *node.comparators))
            elif isinstance(node, gast.Call):
                if calls.accepts_output(node):
                    safe_reads.add(id(node.args[0]))
                for argument in calls.operands_read(node):
                    safe_reads.add(id(argument))
                for position in calls.shape_positions(node):
                    if position < len(node.args):
                        safe_reads.add(id(node.args[position]))
    for statement in body[1:]:
        for node in walk(statement):
            if isinstance(node, _DEFERRED) and donated in _names(node):
                return False  # It may read the array after the call.
            if isinstance(node, gast.Name) and node.id == donated and (
                    not isinstance(node.ctx, gast.Load)
                    or id(node) not in safe_reads):
                return False
    return True


def _first_call_after_last_read(body, donated, calls, rewritten):
    """Return the first call that `ad.call_into` accepts and that runs
    after the last read of `donated`, or None."""
    last = max((position for position, statement in enumerate(body)
                if position and donated in _names(statement)), default=None)
    if last is None:
        return None
    for position in range(last, len(body)):
        statement = body[position]
        if not isinstance(statement, (gast.Assign, gast.Return, gast.Expr)):
            return None  # A loop or a branch: its calls may run again.
        order = evaluation_order(statement.value, calls=True,
                                 opaque=_CONDITIONAL)
        if order is None:
            continue
        if position == last:
            reads = [index for index, node in enumerate(order)
                     if isinstance(node, gast.Name) and node.id == donated]
            order = order[reads[-1] + 1:] if reads else order
        for node in order:
            # A call runs after its arguments, so its argument may read
            # the donated array for the last time.
            if (isinstance(node, gast.Call) and id(node) not in rewritten
                    and calls.accepts_output(node)):
                return node
    return None


def _names(node):
    return {n.id for n in walk(node) if isinstance(n, gast.Name)}


def _name(identifier):
    return gast.Name(id=identifier, ctx=gast.Load(), annotation=None,
                     type_comment=None)
