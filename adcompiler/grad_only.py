"""Grad-only primal: the primal that `grad` runs when it drops the value.

`grad` returns the gradient alone, but the primal computes the function's
value, which only `value_and_grad` returns. `grad_only_primal` copies the
optimized primal, returns the adjoint's seed in place of the value, and
removes every assignment that nothing left reads and whose evaluation is
proven pure: it can neither raise, nor change an object, nor call user code.
What remains computes the saved values, runs the control flow and keeps
every statement with a possible effect. For the softplus sum
`np.sum(np.log1p(np.exp(-np.abs(x))) + 0.5 * (x + np.abs(x)))`, only
`np.exp(-np.abs(x))`, which the adjoint reads, is left. In what is left,
a function of `REAL_UFUNCS` whose argument is a new array computes in
that array: `ad.apply_in_place(np.exp, -np.abs(x))`.

The proof is an abstract interpretation of the primal over these types:

- `float`: a Python float; `int`: a Python int;
- `float64`: a `np.float64` scalar;
- `array`: a NumPy float64 value, an ndarray of dtype float64 of any shape
  or a `np.float64` (a ufunc of a 0-d array returns a scalar);
- `bool`: the result of comparing two real scalars;
- `namespace`: NumPy's array namespace, the result of a function marked
  with `Registry.namespace_source` (`array_namespace(x)`) of `array` and
  `float64` values. NOTE: this assumes that every such function returns
  NumPy's namespace (or array_api_compat's copy) for NumPy values, as
  SciPy 1.17.1's and array_api_compat's `array_namespace` do;
- `dtype`: the dtype float64, read as `x.dtype` of an `array` or a
  `float64`;
- `other`: anything else; `unbound`: a name that may not be assigned yet.

Each name has a set of the types it may have at a point of the function.
An assignment to a name replaces its set, and the two branches of an
`if` join theirs. A loop's sets are joined with the sets at the end of its
body (and at each `break` and `continue`) until they no longer grow. An
expression is pure when every name it reads is bound and every operation
it applies is one of:

- `+`, `-`, `*` of real numbers, and `/` and `**` with a NumPy operand on
  the left or right as NumPy allows (NumPy warns, where Python raises, on a
  division by zero); an int operand only as a constant below 2**53 in size,
  or both operands ints; two `array` operands only when the shape facts
  (`adcompiler.shapes`) prove that they have one shape, because arrays of
  other shapes may not broadcast;
- unary `-` and `+`; a comparison of two real scalars;
- the NumPy functions of `adcompiler.scalars.REAL_UFUNCS` of one real value;
- `np.sum` and `np.mean` of one real value, with the keywords `dtype`
  (None or a `dtype` value) and `keepdims` (a bool constant), and `axis`
  (None, or an int constant that is a valid axis of a value whose number
  of axes `adcompiler.known_shapes` proves);
- `x.dtype` of an `array` or a `float64`.

Anything else is impure, so calls of user functions, indexing, other
attribute reads and containers always stay. An item or a slice of an
`array` is an `array`, but taking it is impure, because the index may be
out of range. So is `a @ b` of two `array` operands, whose shapes may not
match. A call of a conversion marked with `Registry.conversion`
(`xp_promote(x, force_floating=True, xp=xp)`) of an `array`, whose
namespace keyword is a `namespace`, stays, but its result is an `array`.
Such a result may be its argument itself, so it is never a new array (see
`_is_new_value`).

A saved `ad.shape_and_kind(y)` reads `y` only for its shape. It may read
another real value of that shape in its place, proven by the shape facts:
a parameter that the function never assigns, or a name in the saved
values. Then the assignment of `y` can go.

The variant is made only when the value is proven to be a `float` or a
`float64` whose type fixes the seed (`1.0`, or `np.float64(1.0)` unless the
adjoint accepts a Python float seed), and when it removes something. It
assumes that every parameter not given a float scalar holds a float64
ndarray. `GradOnlyPrimal.float64_arrays` names the parameters the proof
depends on, which `grad` checks at each call; for other arguments it runs
the full primal, which also raises the error for a value that is not a real
scalar.

NOTE: NumPy operations that are removed no longer emit their RuntimeWarning
(overflow in `np.exp`, say). `grad` runs the full primal when `np.seterr`
makes such an error raise or call a function, or when a warnings filter
turns RuntimeWarning into an exception.
"""

import bisect
import dataclasses
import types

import gast
import numpy as np

from adcompiler import codegen, optimize, shapes, verbatim
from adcompiler.known_shapes import constant_value
from adcompiler.rules.registry import REGISTRY
from adcompiler.scalars import REAL_UFUNCS
from adcompiler.statement_names import StatementNames
from adcompiler.traversal import (copy_tree, find_nodes, name_nodes,
                                  parts_outside_body, statement_nodes, walk)

FLOAT, INT, FLOAT64, ARRAY, BOOL, NAMESPACE, DTYPE, OTHER, UNBOUND = (
    'float', 'int', 'float64', 'array', 'bool', 'namespace', 'dtype',
    'other', 'unbound')

_REAL = frozenset((FLOAT, INT, FLOAT64, ARRAY))
_REAL_SCALAR = frozenset((FLOAT, INT, FLOAT64))
_NUMPY_REAL = frozenset((ARRAY, FLOAT64))
_ONE_OTHER = frozenset((OTHER,))

_REDUCTIONS = frozenset(id(f) for f in (np.sum, np.mean))


def _reductions(registry):
    """Return the ids of np.sum, np.mean and the `sum` and `mean` of the
    namespaces that SciPy's array_namespace is known to return (calls of
    `xp.sum` are resolved to those when compiling)."""
    found = set(_REDUCTIONS)
    for namespace in registry.known_namespaces():
        found.update(id(getattr(namespace, name)) for name in ('sum', 'mean')
                     if getattr(namespace, name, None) is not None)
    return frozenset(found)

# An int constant below this size converts to a float exactly, so adding,
# subtracting or multiplying it with floats cannot raise OverflowError.
# Division and powers of Python numbers are not pure (see `_arithmetic`).
_MAX_INT_CONSTANT = 2 ** 53

_ARITHMETIC = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow)
_COMPARISONS = (gast.Lt, gast.LtE, gast.Gt, gast.GtE, gast.Eq, gast.NotEq)

# Statements that may rebind local names in ways the analysis does not follow.
_UNSUPPORTED = (gast.FunctionDef, gast.AsyncFunctionDef, gast.Lambda,
                gast.ClassDef, gast.Global, gast.Nonlocal, gast.Yield,
                gast.YieldFrom, gast.Await, gast.NamedExpr)
_UNSUPPORTED_OR_VERBATIM = (*_UNSUPPORTED, verbatim.Verbatim)


@dataclasses.dataclass
class GradOnlyPrimal:
    """The grad-only primal of a function and what it assumes.

    `function` returns `(seed, saved)` where the full primal returns
    `(value, saved)`. `float64_arrays` contains the parameters whose
    arguments must be ndarrays of dtype float64 for the proof to hold.
    """

    function: gast.FunctionDef
    float64_arrays: tuple
    # Positions in the saved values of new NumPy values that nothing else
    # refers to (see `owned_saved`).
    owned_saved: tuple = ()
    # Positions in the saved values of float64 ndarrays and `np.float64`
    # scalars.
    float64_saved: tuple = ()
    # True when the seed is `np.float64(1.0)`, False for the float `1.0`.
    numpy_seed: bool = False


def grad_only_primal(primal, namespace, numpy_alias, runtime_alias,
                     scalar_params, float_seed, temporaries, name,
                     shape_facts=shapes.NO_FACTS, registry=REGISTRY):
    """Return the `GradOnlyPrimal` of the optimized `primal`, named `name`,
    or None when no variant is proven or it would remove nothing.

    `namespace` contains the globals of the generated code, which resolve
    the calls. `scalar_params` contains the parameters given float scalars,
    and `float_seed` is whether the adjoint accepts the seed 1.0 for a
    `np.float64` value. `shape_facts` are the `adcompiler.shapes.ShapeFacts`
    of the primal's names, and `registry` has the namespace sources and
    conversions.
    """
    function = copy_tree(primal)
    function.name = name
    # The names of each statement, kept current by the passes below.
    names = StatementNames()
    if _has_unsupported_code(function, namespace, names):
        return None
    body = function.body
    returned = body[-1] if body else None
    if not (isinstance(returned, gast.Return)
            and isinstance(returned.value, gast.Tuple)
            and len(returned.value.elts) == 2):
        return None
    if any(node is not returned
           for node in statement_nodes(function, gast.Return)):
        return None

    arguments = function.args
    params = [arg.id for arg in (*arguments.posonlyargs, *arguments.args,
                                 *arguments.kwonlyargs)]
    assumed = {param: frozenset((FLOAT, FLOAT64)) if param in scalar_params
               else frozenset((ARRAY,)) for param in params}
    for packed in (arguments.vararg, arguments.kwarg):
        if packed is not None:
            assumed[packed.id] = _ONE_OTHER  # a tuple or a dict
    interpreter = _Interpreter(function, namespace, assumed, shape_facts,
                               registry, _function_stores(function, names))
    if not interpreter.run():
        return None
    seed = _seed(interpreter.value_types, float_seed, numpy_alias)
    if seed is None or not interpreter.value_pure:
        return None

    value = returned.value.elts[0]
    returned.value.elts[0] = seed
    names.forget(returned)
    assigned = _function_stores(function, names)
    _share_saved_shapes(returned.value.elts[1],
                        [param for param in params if param not in assigned],
                        interpreter, runtime_alias)
    names.forget(returned)
    reads_of = _reads_of_assigned(function, names)
    pure = interpreter.pure_statements
    # `del y` reads nothing, but raises if the assignment of y is removed,
    # and a statement kept verbatim may do the same.
    protected = {name for node in statement_nodes(
                     function, (gast.Delete, verbatim.Verbatim))
                 for name in _stores(node)}
    policy = optimize.DeadCodePolicy(
        removable=lambda statement: id(statement) in pure and
        statement.targets[0].id not in protected,
        removable_if=lambda statement: id(statement) in pure)
    removed = _removable_statements(function)
    optimize.remove_dead_code(function, policy, names)
    removed -= _removable_statements(function)
    if not removed and isinstance(value, (gast.Name, gast.Constant)):
        return None  # Only the seed is new: nothing would run faster.
    function.body = optimize.drop_orphan_comments(function.body)
    optimize.inline_temporaries(function, temporaries, names=names)
    owned = owned_saved(function, interpreter, names)
    float64_saved = _float64_saved(function, interpreter)
    _compute_in_place(function, interpreter, runtime_alias)

    depends_on = _parameters_read(reads_of, [value, *removed], params)
    return GradOnlyPrimal(function, tuple(
        param for param in params
        if param in depends_on and param not in scalar_params), owned,
        float64_saved, isinstance(seed, gast.Call))


def _float64_saved(function, interpreter):
    """Return the positions in the saved values of `function` whose values
    are proven float64 ndarrays or `np.float64` scalars."""
    saved = function.body[-1].value.elts[1]
    if not isinstance(saved, gast.Tuple):
        return ()
    positions = []
    for position, element in enumerate(saved.elts):
        types, _ = interpreter.expression(element, interpreter.final_state)
        if types and types <= {ARRAY, FLOAT64}:
            positions.append(position)
    return tuple(positions)


def _share_saved_shapes(saved, params, interpreter, runtime_alias):
    """Write each saved `ad.shape_and_kind(y)` of `saved` (the saved values
    of a grad-only primal) as `ad.shape_and_kind(z)`, where `z` is one of
    `params` or a name in `saved` proven to have the shape of `y`.

    `params` are the parameters that the function never assigns, and
    the names in `saved` are read at the return already, so reading `z`
    there keeps no other statement. Both `y` and `z` must be real values
    of the interpreter, so `shape_and_kind` returns equal `ShapeAndKind`s
    for them: one shape, and not complex.
    """
    if not isinstance(saved, gast.Tuple):
        return
    state = interpreter.final_state
    candidates = list(params) + [element.id for element in saved.elts
                                 if isinstance(element, gast.Name)]
    real = _REAL - {INT}
    # candidate -> a `Name` node of it for the checks, and whether its
    # types allow it. The types of a name depend only on the name, and
    # each saved shape would look at the same candidates first.
    checked = {}
    for element in saved.elts:
        if not (isinstance(element, gast.Call) and len(element.args) == 1
                and not element.keywords
                and isinstance(element.func, gast.Attribute)
                and element.func.attr == 'shape_and_kind'
                and isinstance(element.func.value, gast.Name)
                and element.func.value.id == runtime_alias
                and isinstance(element.args[0], gast.Name)):
            continue
        shaped = element.args[0]
        types, pure = interpreter.expression(shaped, state)
        if not (pure and types and types <= real):
            continue
        for candidate in candidates:
            if candidate == shaped.id:
                break  # already a name that stays
            try:
                candidate_node, usable = checked[candidate]
            except KeyError:
                candidate_node = codegen.name(candidate)
                types, pure = interpreter.expression(candidate_node, state)
                usable = bool(pure and types and types <= real)
                checked[candidate] = candidate_node, usable
            if usable and interpreter.same_shape(shaped, candidate_node):
                element.args[0] = codegen.name(candidate)
                break


def _is_new_value(node, interpreter):
    """True when `node` computes a value that nothing else refers to, if
    the interpreter gives it real types: arithmetic, or a call of a
    function of `REAL_UFUNCS` or a reduction. A conversion may return its
    argument, and an item or a slice is a view."""
    if isinstance(node, (gast.BinOp, gast.UnaryOp)):
        return True
    return isinstance(node, gast.Call) and id(
        interpreter.resolve(node.func)) in REAL_UFUNCS | interpreter.reductions


def _compute_in_place(function, interpreter, runtime_alias):
    """Write `f(e)`, with `f` a function of `REAL_UFUNCS` and `e` a new
    value, as `ad.apply_in_place(f, e)`, in the top-level statements.

    `e` is new when it is arithmetic or such a call on float64 values
    (the interpreter gives it no other types), so nothing else refers to
    its array. NumPy computes `f` in that array, where `f(e)` would
    allocate a second one. The values are the same bit for bit.
    """
    for statement in function.body:
        state = interpreter.top_level_states.get(id(statement))
        if state is None or not isinstance(statement,
                                           (gast.Assign, gast.Return)):
            continue
        for node in find_nodes(statement.value, gast.Call):
            if not (len(node.args) == 1
                    and not node.keywords
                    and id(interpreter.resolve(node.func)) in REAL_UFUNCS):
                continue
            argument = node.args[0]
            if not _is_new_value(argument, interpreter):
                continue
            types, _ = interpreter.expression(argument, state)
            # Only an array can take the result; a scalar would pay for
            # the call of the helper and gain nothing.
            if ARRAY in types and types <= {ARRAY, FLOAT64, FLOAT}:
                node.args = [node.func, argument]
                node.func = gast.Attribute(value=codegen.name(runtime_alias),
                                           attr='apply_in_place',
                                           ctx=gast.Load())


def owned_saved(function, interpreter, names=None):
    """Return the positions in the saved values of `function` (a grad-only
    primal) whose values are new NumPy values that nothing else refers to.

    Such a value is the result of arithmetic or of a function of
    `REAL_UFUNCS` on float64 values, which NumPy computes in a new array
    (or returns as a scalar). It is either written in the saved values, or
    assigned once at the top level to a name that the saved values contain
    once. Elsewhere that name is read only as an operand of arithmetic or
    as the argument of such a function or of a reduction. The adjoint that `grad` runs after this primal may
    write into those arrays, because nothing reads the saved values after
    it. `names` is a current `StatementNames` table of `function`, or None.
    """
    saved = function.body[-1].value.elts[1]
    if not isinstance(saved, gast.Tuple) or statement_nodes(
            function, verbatim.Verbatim):
        return ()
    # The walks of `_SavedNameReads` are skipped for names that no
    # top-level assignment gives such a value, such as parameters.
    assigned = None
    reads = None  # found on the first saved name that may be owned
    owned = []
    for position, element in enumerate(saved.elts):
        value = element
        if isinstance(element, gast.Name):
            if assigned is None:
                assigned = _assigned_new_values(function, names)
            if element.id not in assigned:
                continue
            if reads is None:
                reads = _SavedNameReads(function, interpreter)
            value = reads.only_value(element.id)
        if _is_new_value(value, interpreter):
            types, _ = interpreter.expression(element,
                                              interpreter.final_state)
            if types and types <= {ARRAY, FLOAT64, FLOAT}:
                owned.append(position)
    return tuple(owned)


# The expressions whose values `owned_saved` may find new.
_NEW_VALUES = (gast.BinOp, gast.UnaryOp, gast.Call)


def _assigned_new_values(function, names=None):
    """Return the names that a top-level `target = value` of `function`
    assigns, with `value` of a kind in `_NEW_VALUES`. As in
    `_SavedNameReads`, these are the names stored anywhere in it. The
    statements are looked up in the `StatementNames` table `names`."""
    if names is None:
        names = StatementNames()
    assigned = set()
    for statement in function.body:
        if (isinstance(statement, gast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.value, _NEW_VALUES)):
            uses = names.uses(statement)
            assigned.update(uses.stores)
            assigned.update(uses.deletes)
    return assigned


# The nodes that `_SavedNameReads` looks at.
_SAVED_READ_KINDS = (gast.Assign, gast.AugAssign, gast.AnnAssign, gast.For,
                     gast.BinOp, gast.UnaryOp, gast.Compare, gast.Call)


class _SavedNameReads:
    """The assignments and reads of the names in the saved values of a
    grad-only primal, found in one walk of the function for all of them."""

    def __init__(self, function, interpreter):
        saved = function.body[-1].value.elts[1]
        self.saved_counts = {}
        for element in saved.elts:
            if isinstance(element, gast.Name):
                self.saved_counts[element.id] = \
                    self.saved_counts.get(element.id, 0) + 1
        self.top_level = {id(statement) for statement in function.body}

        # Name -> the statements that assign it, in the order of `walk`.
        self.assignments = {}
        # The ids of the nodes read as operands of arithmetic, of
        # comparisons, or of a NumPy function of one argument.
        operands = set()
        operand_functions = REAL_UFUNCS | interpreter.reductions
        loads = []  # the `Name` nodes read, found in the same walk
        for node in find_nodes(function, (*_SAVED_READ_KINDS, gast.Name)):
            if node.__class__ is gast.Name:
                if isinstance(node.ctx, gast.Load):
                    loads.append(node)
                continue
            if isinstance(node, (gast.Assign, gast.AugAssign,
                                 gast.AnnAssign, gast.For)):
                for name in _stores(node):
                    self.assignments.setdefault(name, []).append(node)
            if isinstance(node, gast.BinOp):
                operands.update((id(node.left), id(node.right)))
            elif isinstance(node, gast.UnaryOp):
                operands.add(id(node.operand))
            elif isinstance(node, gast.Compare):
                operands.update(id(side) for side in (node.left,
                                                      *node.comparators))
            elif (isinstance(node, gast.Call) and len(node.args) == 1
                  and not node.keywords
                  and id(interpreter.resolve(node.func))
                  in operand_functions):
                operands.add(id(node.args[0]))

        # Names read somewhere other than as such an operand or as an
        # element of the saved values.
        saved_elements = {id(element) for element in saved.elts}
        self.kept_by_reads = {
            node.id for node in loads
            if id(node) not in operands and id(node) not in saved_elements}

    def only_value(self, name):
        """Return the value of the one top-level assignment to `name`, or
        None. The value is returned only when `name` is once in the saved
        values and its other reads keep no reference to its value."""
        if self.saved_counts.get(name) != 1:
            return None
        assignments = self.assignments.get(name, [])
        if len(assignments) != 1 or \
                id(assignments[0]) not in self.top_level or \
                not isinstance(assignments[0], gast.Assign) or \
                len(assignments[0].targets) != 1:
            return None
        if name in self.kept_by_reads:
            return None
        return assignments[0].value


def _unsupported(node):
    """True for a node that may rebind names or jump in ways that the
    interpreter does not follow."""
    if isinstance(node, verbatim.Verbatim):
        # Its syntax is hidden from walk: a `break` in a verbatim
        # `try` would leave the loop unseen.
        return any(isinstance(inner, (*_UNSUPPORTED, gast.Break,
                                      gast.Continue, gast.Return))
                   for inner in walk(node.statement))
    return isinstance(node, _UNSUPPORTED)


# The NumPy functions that decide whether a floating-point warning is
# raised as an error. `grad` checks that state when it starts, so a
# function that changes it itself gets no grad-only primal.
_ERROR_STATE_SETTERS = (np.seterr, np.seterrcall, np.errstate)


# The nodes that `_has_unsupported_code` looks at.
_CHECKED_KINDS = (*_UNSUPPORTED_OR_VERBATIM, gast.Name, gast.Attribute)


def _has_unsupported_code(function, namespace, names):
    """Return whether `function` contains a node that `_unsupported`
    rejects or names NumPy's error-state setters (`_sets_error_state`).

    The one walk of each statement also records its names in the
    `StatementNames` table `names`.
    """
    found = []
    for statement in function.body:
        nodes = find_nodes(statement, _CHECKED_KINDS)
        if any(_unsupported(node) for node in nodes):
            return True
        names.record(statement, [node for node in nodes
                                 if node.__class__ is gast.Name])
        found += nodes
    for part in parts_outside_body(function):
        found += find_nodes(part, (gast.Name, gast.Attribute))
    return _sets_error_state(found, namespace)


def _sets_error_state(nodes, namespace):
    """Return whether the `nodes` of a function name NumPy's error-state
    setters or the warnings module, directly or as an attribute of a
    global."""
    checked = set()  # names and (name, attribute) pairs, each looked up once
    for node in nodes:
        if isinstance(node, gast.Name):
            if node.id in checked:
                continue
            checked.add(node.id)
            value = namespace.get(node.id)
        elif (isinstance(node, gast.Attribute)
              and isinstance(node.value, gast.Name)):
            if (node.value.id, node.attr) in checked:
                continue
            checked.add((node.value.id, node.attr))
            value = getattr(namespace.get(node.value.id), node.attr, None)
        else:
            continue
        if any(value is setter for setter in _ERROR_STATE_SETTERS) or (
                getattr(value, '__module__', None) == 'warnings'
                or getattr(value, '__name__', None) == 'warnings'):
            return True
    return False


def _seed(value_types, float_seed, numpy_alias):
    """Return the seed expression for a value of `value_types`, or None."""
    one = gast.Constant(value=1.0, kind=None)
    if value_types == {FLOAT} or (float_seed and value_types and
                                  value_types <= {FLOAT, FLOAT64}):
        return one
    if value_types == {FLOAT64}:
        return codegen.call(gast.Attribute(value=codegen.name(numpy_alias),
                                           attr='float64', ctx=gast.Load()),
                            one)
    return None


def _removable_statements(function):
    """Return the assignments and `if` statements of `function`."""
    return set(statement_nodes(function, (gast.Assign, gast.If)))


def _reads_of_assigned(function, names):
    """Map each name to the names read by the statements assigning it.

    An assignment to names alone reads the names that its value reads,
    which the `StatementNames` table `names` has.
    """
    reads_of = {}
    for node in statement_nodes(function, (gast.Assign, gast.For)):
        if isinstance(node, (gast.Assign, gast.For)):
            targets = node.targets if isinstance(node, gast.Assign) else [
                node.target]
            source = node.value if isinstance(node, gast.Assign) else node.iter
            if isinstance(node, gast.Assign) and all(
                    target.__class__ is gast.Name for target in targets):
                read = set(names.uses(node).loads)
            else:
                read = _loads(source)
            for target in targets:
                for stored in _stores(target):
                    reads_of.setdefault(stored, set()).update(read)
    return reads_of


def _parameters_read(reads_of, removed, params):
    """Return the parameters whose types the removed nodes depend on: those
    they read, and through every assignment of a name they read, those that
    the assigned value reads, and so on."""
    pending = [name for node in removed for name in _loads(node)]
    seen = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        pending.extend(reads_of.get(current, ()))
    return seen.intersection(params)


def _loads(node):
    return {n.id for n in name_nodes(node) if isinstance(n.ctx, gast.Load)}


def _stores(node):
    return {n.id for n in name_nodes(node)
            if isinstance(n.ctx, (gast.Store, gast.Del))}


def _function_stores(function, names):
    """Return `_stores(function)`, with the statements of its body looked
    up in the `StatementNames` table `names`."""
    stores = set()
    for statement in function.body:
        uses = names.uses(statement)
        stores.update(uses.stores)
        stores.update(uses.deletes)
    for field in function._fields:
        value = getattr(function, field, None)
        if field == 'body':
            continue
        for part in value if isinstance(value, list) else (value,):
            if isinstance(part, gast.AST):
                stores |= _stores(part)
    return stores


class _Unsupported(Exception):
    """A construct the interpreter cannot follow: no variant is made."""


@dataclasses.dataclass
class _Loop:
    """The states at the `break` and `continue` statements of one loop."""

    breaks: list = dataclasses.field(default_factory=list)
    continues: list = dataclasses.field(default_factory=list)


class _Interpreter:
    """The abstract interpretation of the module docstring.

    A state maps each local name to its set of types; None is the state of
    code that is never reached. `run` records the assignments and `if`
    statements that are pure, and the types and purity of the value.
    """

    def __init__(self, function, namespace, assumed, shape_facts,
                 registry=REGISTRY, stores=None):
        """`stores` contains the names that `function` assigns or
        deletes, or is None to find them here."""
        self.function = function
        self.namespace = namespace
        self.assumed = assumed
        self.shape_facts = shape_facts
        self.registry = registry
        self.reductions = _reductions(registry)
        self.local = set(assumed) | (_stores(function) if stores is None
                                     else stores)
        self.loops = []
        self.pure_statements = set()
        self.value_types = frozenset()
        self.value_pure = False
        self.final_state = None
        # The state before each top-level statement, by the statement's id.
        self.top_level_states = {}

    def run(self):
        """Interpret the function; return False for an unsupported one."""
        state = {name: frozenset((UNBOUND,)) for name in self.local}
        state.update(self.assumed)
        # The top-level states share one history of their changes, where
        # a copy of each state would make the run quadratic in the length.
        history = _StateHistory(state)
        try:
            for statement in self.function.body[:-1]:
                if state is None:
                    break
                self.top_level_states[id(statement)] = history.current()
                if (isinstance(statement, gast.Assign)
                        and len(statement.targets) == 1
                        and isinstance(statement.targets[0], gast.Name)):
                    # As `assignment` does, but in place, because no other
                    # code refers to the top-level state.
                    value_types, pure = self.expression(statement.value,
                                                        state)
                    self.mark(statement, pure)
                    state[statement.targets[0].id] = value_types
                    history.assigned(statement.targets[0].id, value_types)
                    continue
                before = state
                state = self.statement(statement, state)
                if state is not None:
                    history.replaced(before, state)
        except _Unsupported:
            return False
        if state is None:
            return False
        returned = self.function.body[-1]
        self.top_level_states[id(returned)] = state
        self.value_types, self.value_pure = self.expression(
            returned.value.elts[0], state)
        self.final_state = state
        return True

    # Statements -----------------------------------------------------------

    def block(self, statements, state):
        for statement in statements:
            if state is None:
                return None
            state = self.statement(statement, state)
        return state

    def statement(self, statement, state):
        if isinstance(statement, gast.Assign):
            return self.assignment(statement, state)
        if isinstance(statement, gast.If):
            test_types, test_pure = self.expression(statement.test, state)
            # Taking the truth of a real scalar or a bool cannot raise (the
            # types exclude arrays, whose truth raises for several items).
            self.mark(statement, test_pure and bool(test_types) and
                      test_types <= _REAL_SCALAR | {BOOL})
            return _join(self.block(statement.body, dict(state)),
                         self.block(statement.orelse, dict(state)))
        if isinstance(statement, (gast.For, gast.While)):
            return self.loop(statement, state)
        if isinstance(statement, gast.Break):
            self.loops[-1].breaks.append(state)
            return None
        if isinstance(statement, gast.Continue):
            self.loops[-1].continues.append(state)
            return None
        if isinstance(statement, (gast.Try, gast.With, gast.AsyncWith,
                                  gast.AsyncFor)):
            if any(isinstance(node, (gast.Break, gast.Continue))
                   for node in walk(statement)):
                raise _Unsupported
        if isinstance(statement, gast.Delete):
            state = dict(state)
            for name in _stores(statement):
                state[name] = frozenset((UNBOUND,))
            return state
        # Any other statement (an expression, an assertion, a raise, a
        # try) may assign anything to the names it stores.
        return _assigned_other(state, _stores(statement))

    def mark(self, statement, pure):
        if pure:
            self.pure_statements.add(id(statement))
        else:
            self.pure_statements.discard(id(statement))

    def assignment(self, statement, state):
        value_types, pure = self.expression(statement.value, state)
        target = statement.targets[0]
        if len(statement.targets) == 1 and isinstance(target, gast.Name):
            self.mark(statement, pure)
            state = dict(state)
            state[target.id] = value_types
            return state
        if len(statement.targets) == 1 and isinstance(target, gast.Subscript):
            # An item written into an array does not change its dtype.
            return _assigned_other(state, _stores(target))
        stored = set()
        for node in statement.targets:
            stored |= _stores(node)
            if isinstance(node, gast.Attribute):
                stored |= _loads(node.value)  # `x.dtype = ...` changes x.
        return _assigned_other(state, stored)

    def loop(self, statement, state):
        head = state
        while True:
            self.loops.append(_Loop())
            start = dict(head)
            if isinstance(statement, gast.For):
                start = _assigned_other(start, _stores(statement.target))
            else:
                self.expression(statement.test, start)
            end = self.block(statement.body, start)
            loop = self.loops.pop()
            widened = _join(head, end, *loop.continues)
            if widened == head:
                break
            head = widened
        after = self.block(statement.orelse, dict(head))
        return _join(after, *loop.breaks)

    # Expressions ----------------------------------------------------------

    def expression(self, node, state):
        """Return the set of types of `node` and whether it is pure.

        The types hold whenever the evaluation does not raise, so an
        impure expression may still have known types.
        """
        if isinstance(node, gast.Constant):
            value = node.value
            if type(value) is float:
                return frozenset((FLOAT,)), True
            if type(value) is int:
                return frozenset((INT,)), abs(value) < _MAX_INT_CONSTANT
            return _ONE_OTHER, True
        if isinstance(node, gast.Name):
            return self.name(node.id, state)
        if isinstance(node, gast.UnaryOp):
            operand, pure = self.expression(node.operand, state)
            if isinstance(node.op, (gast.USub, gast.UAdd)) and operand and \
                    operand <= _REAL:
                return operand, pure
            return _ONE_OTHER, False
        if isinstance(node, gast.BinOp):
            return self.binary(node, state)
        if isinstance(node, gast.Compare):
            return self.comparison(node, state)
        if isinstance(node, gast.Call):
            return self.call(node, state)
        if isinstance(node, gast.Subscript):
            # An item or a slice of a float64 value that does not raise an
            # IndexError is a float64 value. The index is not checked.
            value, _ = self.expression(node.value, state)
            if value == {ARRAY}:
                return value, False
        if isinstance(node, gast.Attribute) and node.attr == 'dtype':
            # Every ndarray and NumPy scalar has a dtype, float64 here.
            value, pure = self.expression(node.value, state)
            if value and value <= _NUMPY_REAL:
                return frozenset((DTYPE,)), pure
        return _ONE_OTHER, False

    def name(self, identifier, state):
        if identifier in self.local:
            kinds = state.get(identifier, frozenset((UNBOUND,)))
            if UNBOUND in kinds:
                return (kinds - {UNBOUND}) or _ONE_OTHER, False
            return kinds, True
        # A global or builtin: its read raises only when it is missing.
        return _ONE_OTHER, identifier in self.namespace

    def binary(self, node, state):
        left, left_pure = self.expression(node.left, state)
        right, right_pure = self.expression(node.right, state)
        if isinstance(node.op, gast.MatMult) and left == right == {ARRAY}:
            # A float64 matrix product, impure because the shapes may not
            # match (and a product of scalars raises).
            return frozenset((ARRAY,)), False
        if not (isinstance(node.op, _ARITHMETIC) and left and right):
            return _ONE_OTHER, False
        result = set()
        for a in left:
            for b in right:
                kind = _arithmetic(node.op, a, b)
                if kind is None:
                    return _ONE_OTHER, False
                result.add(kind)
        pure = left_pure and right_pure
        # An int that is not a constant may be too large to become a float.
        for side, side_types, other_types in ((node.left, left, right),
                                              (node.right, right, left)):
            if (INT in side_types and other_types != {INT}
                    and not isinstance(side, gast.Constant)):
                pure = False
        if ARRAY in left and ARRAY in right and not self.same_shape(
                node.left, node.right):
            # NumPy raises ValueError for shapes that do not broadcast.
            pure = False
        return frozenset(result), pure

    def same_shape(self, left, right):
        """True when the shape facts prove that two expressions always have
        one shape."""
        shape = self.shape_class(left)
        if shape is not None and shape == self.shape_class(right):
            return True
        known = self.known_shape(left)
        return known is not None and known == self.known_shape(right)

    def known_shape(self, node):
        """Return the shape that `adcompiler.known_shapes` proves for an
        expression's value, or None."""
        if isinstance(node, gast.Name):
            known = self.shape_facts.known.get(node.id)
            return None if known is None else known.shape
        if isinstance(node, gast.Constant):
            return () if type(node.value) in (int, float) else None
        if isinstance(node, gast.UnaryOp):
            return self.known_shape(node.operand)
        if isinstance(node, gast.BinOp) and isinstance(node.op,
                                                       _ARITHMETIC):
            # Elementwise operators broadcast, but a matrix product has
            # another shape.
            left, right = self.known_shape(node.left), self.known_shape(
                node.right)
            if left is None or right is None:
                return None
            try:
                return tuple(np.broadcast_shapes(left, right))
            except ValueError:
                return None
        if (isinstance(node, gast.Call) and len(node.args) == 1
                and not node.keywords
                and id(self.resolve(node.func)) in REAL_UFUNCS):
            return self.known_shape(node.args[0])
        return None

    def shape_class(self, node):
        """Return the shape class of an expression's value (see
        `adcompiler.shapes`), or None when it is not known. In code
        compiled for the argument shapes, a name whose shape
        `adcompiler.known_shapes` proves has that shape as its class."""
        if isinstance(node, gast.Name):
            known = self.shape_facts.known.get(node.id)
            if known is not None:
                return ('known', known.shape)
            return self.shape_facts.shape_class.get(node.id)
        if isinstance(node, gast.UnaryOp):
            return self.shape_class(node.operand)
        if isinstance(node, gast.BinOp):
            # A number constant keeps the other operand's shape.
            if isinstance(node.left, gast.Constant):
                return self.shape_class(node.right)
            if isinstance(node.right, gast.Constant):
                return self.shape_class(node.left)
            shape = self.shape_class(node.left)
            return shape if shape == self.shape_class(node.right) else None
        if (isinstance(node, gast.Call) and len(node.args) == 1
                and not node.keywords
                and id(self.resolve(node.func)) in REAL_UFUNCS):
            return self.shape_class(node.args[0])
        return None

    def comparison(self, node, state):
        pure = len(node.ops) == 1 and isinstance(node.ops[0], _COMPARISONS)
        for operand in (node.left, *node.comparators):
            operand_types, operand_pure = self.expression(operand, state)
            pure = pure and operand_pure and bool(operand_types) and \
                operand_types <= _REAL_SCALAR
        return (frozenset((BOOL,)), True) if pure else (_ONE_OTHER, False)

    def call(self, node, state):
        arguments = [self.expression(arg, state) for arg in node.args]
        keywords = {keyword.arg: self.expression(keyword.value, state)
                    for keyword in node.keywords}
        callee = self.resolve(node.func)
        if callee is None or any(isinstance(arg, gast.Starred)
                                 for arg in node.args) or None in keywords:
            return _ONE_OTHER, False
        if self.registry.returns_namespace(callee):
            # Only the namespace of NumPy values is known. The call stays.
            if not keywords and arguments and all(
                    types and types <= _NUMPY_REAL for types, _ in arguments):
                return frozenset((NAMESPACE,)), False
            return _ONE_OTHER, False
        if len(arguments) != 1:
            return _ONE_OTHER, False
        argument, pure = arguments[0]
        conversion = self.registry.lookup_conversion(callee)
        if conversion is not None:
            return self.conversion(node, conversion, argument, keywords)
        if not (argument and argument <= _REAL - {INT}):
            return _ONE_OTHER, False
        if id(callee) in self.reductions:
            return self.reduction(node, argument, pure, keywords)
        if keywords:
            return _ONE_OTHER, False
        if id(callee) in REAL_UFUNCS:
            # A ufunc keeps an array an array, and returns np.float64 for a
            # Python or NumPy float.
            return frozenset(ARRAY if kind == ARRAY else FLOAT64
                             for kind in argument), pure
        return _ONE_OTHER, False

    @staticmethod
    def conversion(node, conversion, argument, keywords):
        """Return the types of a call of a conversion (see
        `Registry.conversion`), which is never pure: it calls library
        code."""
        nodes = {keyword.arg: keyword.value for keyword in node.keywords}
        if not (argument and argument <= _NUMPY_REAL
                and conversion.accepts_keywords(nodes, constant_value)):
            return _ONE_OTHER, False
        if conversion.namespace is not None and (
                conversion.namespace not in keywords
                or keywords[conversion.namespace][0] != {NAMESPACE}):
            return _ONE_OTHER, False
        # A float64 value stays float64 with or without `floating`.
        return frozenset((ARRAY,)), False

    def reduction(self, node, argument, pure, keywords):
        """Return the types and purity of `np.sum(x, ...)` or
        `np.mean(x, ...)` of a real `x` (see the module docstring)."""
        nodes = {keyword.arg: keyword.value for keyword in node.keywords}
        if not set(nodes) <= {'axis', 'dtype', 'keepdims'}:
            return _ONE_OTHER, False

        if 'dtype' in nodes and constant_value(nodes['dtype']) is not None:
            dtype_types, dtype_pure = keywords['dtype']
            if dtype_types != {DTYPE}:
                return _ONE_OTHER, False
            pure = pure and dtype_pure

        keepdims = constant_value(nodes['keepdims']) if 'keepdims' in \
            nodes else False
        axis = constant_value(nodes['axis']) if 'axis' in nodes else None
        if type(keepdims) is not bool or not (axis is None
                                              or type(axis) is int):
            return _ONE_OTHER, False

        if axis is None:
            # Over all axes: a scalar, or with keepdims an array of ones in
            # every axis (a scalar for a scalar).
            return frozenset((ARRAY if keepdims else FLOAT64,)), pure

        shape = self.known_shape(node.args[0])
        if shape is None:
            # The axis may not exist (AxisError), and the result may be an
            # array or a scalar.
            return frozenset((ARRAY, FLOAT64)), False
        if not -len(shape) <= axis < len(shape):
            return _ONE_OTHER, False
        if keepdims or len(shape) > 1:
            return frozenset((ARRAY,)), pure
        return frozenset((FLOAT64,)), pure

    def resolve(self, func):
        """Return the object a call's target names (a global or an
        attribute of a module), or None."""
        if isinstance(func, gast.Name):
            if func.id in self.local:
                return None
            return self.namespace.get(func.id)
        if isinstance(func, gast.Attribute):
            owner = self.resolve(func.value)
            if isinstance(owner, types.ModuleType):
                return getattr(owner, func.attr, None)
        return None


class _StateHistory:
    """The states of the top-level statements of a function, kept as each
    name's sequence of types with the step at which it took them."""

    def __init__(self, state):
        self.step = 0
        self.steps = {name: [0] for name in state}
        self.values = {name: [kinds] for name, kinds in state.items()}

    def current(self):
        """Return the state now, which later changes leave as it is."""
        return _StateAt(self, self.step)

    def assigned(self, name, kinds):
        self.step += 1
        self.steps.setdefault(name, []).append(self.step)
        self.values.setdefault(name, []).append(kinds)

    def replaced(self, before, after):
        """Record the changes from the state `before` to `after`, a state
        that a statement returned, which is `before` when the statement
        changed nothing (statements copy a state that they change)."""
        if after is before:
            return
        self.step += 1
        for name, kinds in after.items() - before.items():
            self.steps.setdefault(name, []).append(self.step)
            self.values.setdefault(name, []).append(kinds)
        for name in before.keys() - after.keys():
            self.steps[name].append(self.step)
            self.values[name].append(_MISSING)


_MISSING = object()


class _StateAt:
    """A read-only state (name -> set of types) at one step of a
    `_StateHistory`."""

    __slots__ = ('history', 'step')

    def __init__(self, history, step):
        self.history = history
        self.step = step

    def get(self, name, default=None):
        steps = self.history.steps.get(name)
        if steps is None:
            return default
        position = bisect.bisect_right(steps, self.step) - 1
        if position < 0:
            return default
        kinds = self.history.values[name][position]
        return default if kinds is _MISSING else kinds


def _arithmetic(op, a, b):
    """Return the type of `a op b`, or None when it may raise or is not
    known."""
    if a not in _REAL or b not in _REAL:
        return None
    if ARRAY in (a, b):
        return ARRAY
    if FLOAT64 in (a, b):
        return FLOAT64
    # Python numbers: division by zero and large powers raise.
    if isinstance(op, (gast.Div, gast.Pow)):
        return None
    return INT if a == b == INT else FLOAT


def _assigned_other(state, names):
    """Return `state` after a statement that may assign anything to `names`
    (and may leave unbound those that were)."""
    if not names:
        return state
    state = dict(state)
    for name in names:
        state[name] = _ONE_OTHER | (state.get(name, frozenset()) &
                                    {UNBOUND})
    return state


def _join(*states):
    """Join the states of code paths that meet; None is a path never taken."""
    reached = [s for s in states if s is not None]
    if not reached:
        return None
    joined = dict(reached[0])
    for state in reached[1:]:
        for name, kinds in state.items():
            joined[name] = joined.get(name, frozenset()) | kinds
    return joined
