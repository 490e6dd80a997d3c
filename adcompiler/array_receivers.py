"""Names proven to contain arrays, numbers or containers made in the
function, for the activity stage.

A method call `v.f(...)` whose method name has an array-method rule gets
that rule only when `v` is proven to contain an array or a number, or a
list, tuple or dict made in the function. The methods of these containers
that share a name with an array method with a rule (`copy`) get the same
derivative from it. Otherwise `v` may contain a module (`xp = namespace_of(x)` with
a user helper that returns `np`), whose `xp.copy(x)` is `np.copy(x)`, or
an object of a user's class, so the call is dispatched when it runs (see
adcompiler.dispatch).

`array_names` returns the local names all of whose assignments give one
of these values:

- a differentiated parameter (its argument is an array, a number, or a
  container that the array rules of its methods are assumed to fit),
  unless `object_params` describes its argument. Such an argument
  contains an object of a user's class, whose method `sum` or `dot` may
  differ from the array method of that name (see
  `object_operands.describe_arguments`);
- a number constant, and a list, tuple or dict display;
- a copy of such a name, an item or a slice of one (`v[i]`), and an
  attribute of one (`v.T`);
- an operator applied to atoms of which one is such a name or a number;
- a call of a NumPy, SciPy or math function, of a built-in numeric
  function such as float or abs, or of list, tuple, dict or sorted;
- a method call with an array-method rule, such as `v.sum()` (on an
  array it returns an array, and through a module the function of that
  name, `np.sum`), except `tolist`;
- the target of `for i in range(...)`, and of a loop over such a name.

Every other assignment (a call of user code or of a value, tuple
unpacking, a statement kept verbatim) may give any object.
"""

import builtins
import math
import operator

import gast
import numpy as np

from adcompiler.object_operands import EVERY_PARAMETER
from adcompiler.resolve import CallKind
from adcompiler.traversal import walk
from adcompiler.verbatim import Verbatim

# Built-in functions with rules that return a number or a new container.
_NUMERIC_BUILTINS = (builtins.float, builtins.complex, builtins.abs,
                     builtins.pow, builtins.round, builtins.int,
                     operator.add, operator.sub, operator.mul,
                     operator.truediv, operator.pow, operator.neg,
                     operator.matmul, math.fsum, builtins.list,
                     builtins.tuple, builtins.dict, builtins.sorted)

# Methods with an array rule that return something other than an array.
_NON_ARRAY_METHODS = frozenset({'tolist'})


def array_names(normalized, resolution, wrt, object_params=frozenset()):
    """Return the set of local names of `normalized` proven to contain an
    array, a number or a container made in the function.

    The module docstring gives the rules of the proof.
    """
    objects = {name for name, _, _ in object_params}
    if EVERY_PARAMETER in objects:
        objects = set(normalized.params)
    # For each name, what each assignment to it depends on: a list of
    # names that must all be proven (a copy), or None (any object).
    sources = {name: [] for name in normalized.local_names}
    for name in normalized.params:
        sources.setdefault(name, []).append(
            [] if name in wrt and name not in objects else None)

    def add(name, depends):
        sources.setdefault(name, []).append(depends)

    for statement in normalized.nodes_of((gast.Assign, gast.For, Verbatim,
                                          gast.withitem)):
        if isinstance(statement, gast.Assign):
            target = statement.targets[0]
            if isinstance(target, gast.Name):
                add(target.id, _value_sources(statement.value, resolution))
            elif isinstance(target, (gast.Tuple, gast.List)):
                for element in target.elts:
                    for node in walk(element):
                        if isinstance(node, gast.Name):
                            add(node.id, None)
        elif isinstance(statement, gast.For):
            depends = _iteration_sources(statement.iter, resolution)
            for node in walk(statement.target):
                if isinstance(node, gast.Name):
                    add(node.id, depends)
        elif isinstance(statement, Verbatim):
            for node in statement.writes:
                add(node.id, None)
        elif isinstance(statement, gast.withitem) and \
                statement.optional_vars is not None:
            for node in walk(statement.optional_vars):
                if isinstance(node, gast.Name):
                    add(node.id, None)

    # Greatest fixed point: drop names until every kept name depends on
    # kept names only.
    proven = {name for name, found in sources.items()
              if all(depends is not None for depends in found)}
    changed = True
    while changed:
        changed = False
        for name in list(proven):
            if any(not _any_or_all_proven(depends, proven)
                   for depends in sources[name]):
                proven.discard(name)
                changed = True
    return proven


class _AnyOf(list):
    """Names of which one proven name is enough (the operands of an
    operator, whose result is an array when one of them is)."""


def _any_or_all_proven(depends, proven):
    if isinstance(depends, _AnyOf):
        return any(name in proven for name in depends)
    return all(name in proven for name in depends)


def _value_sources(value, resolution):
    """Return what the value of `name = value` depends on (see
    `array_names`), or None when it may be any object."""
    if isinstance(value, gast.Name):
        return [value.id]
    if isinstance(value, gast.Constant):
        return [] if _is_number(value.value) else None
    if isinstance(value, (gast.BinOp, gast.UnaryOp)):
        operands = ([value.left, value.right]
                    if isinstance(value, gast.BinOp) else [value.operand])
        if any(isinstance(o, gast.Constant) and _is_number(o.value)
               for o in operands):
            return []
        return _AnyOf(o.id for o in operands if isinstance(o, gast.Name))
    if isinstance(value, (gast.Compare, gast.List, gast.Tuple, gast.Dict)):
        return []
    if isinstance(value, (gast.Subscript, gast.Attribute)):
        base = value.value
        return [base.id] if isinstance(base, gast.Name) else None
    if isinstance(value, gast.Call):
        return [] if _returns_array(value, resolution) else None
    return None


def _returns_array(call, resolution):
    """Return whether `call` is known to return an array or a number."""
    resolved = resolution.calls.get(call)
    if resolved is None:
        return False
    if resolved.kind is CallKind.NON_DIFFERENTIABLE:
        return any(resolved.callee is known for known in _NUMERIC_BUILTINS)
    if resolved.kind is CallKind.METHOD:
        return resolved.rule is not None and \
            call.func.attr not in _NON_ARRAY_METHODS
    if resolved.kind is not CallKind.RULE:
        return False
    callee = resolved.callee
    if isinstance(callee, np.ufunc) or any(
            callee is known for known in _NUMERIC_BUILTINS):
        return True
    module = getattr(callee, '__module__', None) or ''
    return module.split('.')[0] in ('numpy', 'scipy', 'math')


def _iteration_sources(iterable, resolution):
    """Return what each target of `for ... in iterable` depends on."""
    if isinstance(iterable, gast.Name):
        return [iterable.id]
    if not (isinstance(iterable, gast.Call)
            and isinstance(iterable.func, gast.Name)):
        return None
    if iterable.func.id == 'range':
        return []
    # enumerate(x) gives ints and the items of x. zip(a, b) and
    # reversed(x) give the items of their arguments.
    resolved = resolution.calls.get(iterable)
    function = getattr(resolved, 'callee', None)
    args = iterable.args
    if function is builtins.enumerate:
        args = args[:1]
    elif function is not builtins.zip and function is not builtins.reversed:
        return None
    if args and not iterable.keywords and all(
            isinstance(a, gast.Name) for a in args):
        return [a.id for a in args]
    return None


def _is_number(value):
    return isinstance(value, (int, float, complex))
