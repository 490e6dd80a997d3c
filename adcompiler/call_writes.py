"""Find the values that a call may change in place while the adjoint needs them.

Used by the reverse stage, and by both stages to reject a call whose
result carries no derivative but which may change one in place
(`check_unused_result`). The adjoint reads primal values by reference.
An update written as syntax (`x[i] = v`, `lst.append(v)`) is undone in the
adjoint before the statements before it are differentiated, but a call such
as `np.copyto(c, 0.0)`, `rng.shuffle(idx)` or a helper that writes into its
parameter cannot be undone. The reverse stage therefore keeps a copy
(`ad.snapshot`) of each value in `CallWrites.changed` that an adjoint block
reads, taken right after the statement that the block differentiates. The
record of saved values of a differentiated callee is copied the same way.
NOTE: a view inside such a record becomes an array of its own, so a
callee whose adjoint undoes an update in place through one name and reads
the view through another would read the copy unchanged.

A call may write into:

- every argument and the receiver of a foreign call without a rule, and
  of a method that no rule describes as returning a value;
- the arguments of a user function that runs as written (it receives no
  derivative) that its source may change (`parameters_written`);
- the arguments of a differentiated user function that are bound to the
  parameters its own calls may write into (`CalleeProgram.call_written`);
- every argument of a call with an `out=` argument;
- the names that a statement kept as written (`Verbatim`) updates, or
  passes to a call that may write into them, found as for
  `parameters_written`.

Calls with a gradient rule, registered non-differentiable functions and
constructors of containers write into nothing. A write reaches every name
that may share memory with the written one: views, aliases, containers
and attributes, found by following assignments both ways
(`aliasing.memory_flows`), and the saved values of a differentiated call
that was given such a name. A value needs a copy only when such a write
may run after a statement that reads or assigns it: later in its block,
or anywhere in a loop or a try statement around both.

NOTE: a call that writes into a global or a closure variable that it is
not given as an argument (a helper that updates a module-level array) is
not seen. A method of an object found at run time that receives a
derivative is assumed to change nothing that it is given, and the values
that such a call saves are not copied.
"""

import builtins
import dataclasses
import inspect
import math
import operator
import sys
import types
import warnings

import gast
import numpy as np

from adcompiler import aliasing, bounded, parse, resolve, runtime
from adcompiler.errors import (LIBRARY_FIXES, AdCompilerError,
                               UnsupportedSyntaxError, is_library_file)
from adcompiler.resolve import CallKind
from adcompiler.rules import REGISTRY, operators
from adcompiler.rules import builtins as rules_builtins
from adcompiler.traversal import walk
from adcompiler.verbatim import (READ_ONLY_BUILTINS, Verbatim,
                                 bound_parameter_nodes)


@dataclasses.dataclass(frozen=True)
class CallWrites:
    """The values that the calls of one function may change in place."""

    # Names (locals, parameters, globals holding arrays) whose memory a
    # call may change.
    changed: frozenset = frozenset()
    # The function's parameters among them, in order.
    parameters: tuple = ()


NO_WRITES = CallWrites()

# Kinds of calls that never change their arguments, unless given `out=`.
_READ_ONLY_KINDS = (CallKind.RULE, CallKind.NON_DIFFERENTIABLE,
                    CallKind.CONSTRUCTOR)


def call_writes(normalized, resolution, activity, namespace, callees,
                dispatched, saved_records):
    """Return the `CallWrites` of a function.

    `callees` maps each call statement of a differentiated user function to
    its `CalleeProgram`, and `dispatched` contains the differentiated calls
    resolved at run time. `saved_records` maps each statement that calls a
    generated primal to the name of the record of saved values it returns.
    """
    writes = {}  # statement -> names its calls may write into
    namespaces = None  # computed at the first call that needs them
    # Flows that `aliasing.memory_flows` does not find. Those are computed
    # only when a call writes, because most functions have no such call.
    extra_flows = []
    for statement in normalized.nodes_of((Verbatim, gast.Assign,
                                          gast.Expr)):
        if isinstance(statement, Verbatim):
            writes[statement] = _written_roots(statement.statement,
                                               namespace)
            reads = tuple(n.id for n in statement.reads)
            targets = tuple(n.id for n in statement.writes)
            if reads and targets:
                extra_flows.append(aliasing.Flow(statement, targets, reads))
            continue
        call = statement.value
        if not isinstance(call, gast.Call):
            continue
        if statement not in dispatched:  # See the module docstring.
            if namespaces is None:
                namespaces = aliasing.namespace_names(normalized, resolution)
            writes[statement] = _written_by(call, statement, normalized,
                                            resolution, activity, callees,
                                            namespaces)
        record = saved_records.get(statement)
        if record is not None:
            extra_flows.append(aliasing.Flow(statement, (record,),
                                             tuple(_call_names(call))))
    writes = {statement: {name for name in names
                          if _may_hold_array(name, normalized, namespace)}
              for statement, names in writes.items()}
    writes = {statement: names for statement, names in writes.items()
              if names}
    if not writes:
        return NO_WRITES
    flows = list(aliasing.memory_flows(normalized, resolution)) + extra_flows

    # A name needs a copy when a write that may run after a statement that
    # reads or assigns it reaches its memory.
    order = _Order(normalized.tree)
    uses = _statements_using(normalized.tree, saved_records)
    changed = set()
    parameters = set()
    for statement, names in writes.items():
        reached = _changed(flows, [names])
        parameters |= reached & set(normalized.params)
        for name in reached - changed:
            if any(order.may_run_after(statement, use)
                   for use in uses.get(name, ())):
                changed.add(name)
    changed = frozenset(name for name in changed
                        if _may_hold_array(name, normalized, namespace))
    return CallWrites(changed, tuple(p for p in normalized.params
                                     if p in parameters))


def check_unused_result(statement, normalized, resolution, activity,
                        source):
    """Reject `r = call(...)` whose target carries no derivative when the
    call may change in place a value that carries one, or that code
    carrying one reads (`_ = np.copyto(a, v)`, `r = out.append(v)`).

    The stages differentiate only what an assignment stores in its target,
    so the change would reach the value but not the derivative. Only a
    call given a value that carries a derivative is checked: any other
    call changes what it writes into by a constant. A user function runs
    as written, so its source shows which arguments it may change
    (`parameters_written`). Return True when that is unknown and nothing
    reads the result: the stage then checks the compiled callee.
    """
    call = statement.value
    resolved = resolution.calls.get(call)
    if resolved is None:
        return False
    if not any(name in activity.varied for name in _call_names(call)):
        return False
    if resolved.kind is CallKind.USER:
        written = parameters_written(resolved.callee)
        if written is None:
            return not _is_read(statement.targets[0], normalized)
        _check_user_writes(call, resolved, written, normalized, activity,
                           source)
        return False
    receiver = _receiver(call)
    method = call.func.attr if receiver is not None else None
    if resolved.kind is CallKind.UNKNOWN:
        # A function value found at run time is taken to change nothing
        # (see the module docstring), unless it is a method that changes
        # its object (`push = out.append`, then `map(push, v)`).
        owner = _bound_mutator_owner(call, normalized)
        written = set() if owner is None else {owner}
    else:
        namespaces = aliasing.namespace_names(normalized, resolution)
        written = _written_by(call, statement, normalized, resolution,
                              activity, {}, namespaces)
        if method in _MUTATORS:
            # A bare `lst.append(v)` is differentiated and undone by the
            # stages, but not one whose result is assigned.
            written = written | {receiver}
        elif resolved.kind is CallKind.METHOD and _is_read(
                statement.targets[0], normalized):
            # As for a method found at run time, a method whose result is
            # read (`ok = obj.accepts(x)` for a branch) is taken to change
            # nothing that it is given.
            return False
    container_update = method in _ASSIGNED_LIST_UPDATES or (
        resolved.kind is CallKind.UNKNOWN and bool(written))
    changed = sorted(name for name in written
                     if (name in activity.varied or name in activity.useful)
                     and _may_hold_array(name, normalized, source.namespace))
    if not changed:
        return False
    display = normalized.display_names.get(changed[0], changed[0])
    callee = _callee_display(call, resolved, normalized)
    if container_update:
        fixes = [f'call {callee}(...) as a statement of its own, not in an '
                 'assignment, an expression or a comprehension (write a '
                 'for loop instead of [lst.append(v) for v in x])']
    else:
        fixes = [f'assign the new value to {display} instead of changing '
                 'it in place (a = a * s, or np.where for an index write)',
                 'register a rule with adcompiler.register_vjp for a '
                 'function that returns the new value']
        if method is not None and method not in _MUTATORS:
            # The callee may be a plotting or logging method that only
            # reads its arguments.
            fixes.insert(0, f'if {callee} only reads {display}, pass '
                            f'adcompiler.stop_gradient({display}) instead')
    raise UnsupportedSyntaxError(
        f'a call of {callee} that may change {display!r} in place, inside '
        'an assignment or an expression whose result carries no derivative',
        source.location(call),
        f'{display!r} carries a derivative, or code that carries one reads '
        'it, and adcompiler follows only the result of such a call, so the '
        'gradient would miss the change', fixes=fixes)


def _check_user_writes(call, resolved, written, normalized, activity,
                       source):
    """Raise for an argument of the user function's `call` that is bound
    to a parameter in `written` and carries a derivative or is read by
    code that carries one."""
    for param in sorted(written):
        for argument in _bound_arguments(call, resolved.callee, [param]):
            names = [n.id for n in walk(argument) if isinstance(n, gast.Name)]
            if any(n in activity.varied or n in activity.useful
                   for n in names):
                argument_text = source.text_of(argument) or \
                    normalized.display_names.get(names[0], names[0])
                raise callee_update_error(resolved.name, param,
                                          repr(argument_text),
                                          source.location(call),
                                          resolved.callee)


def callee_update_error(callee, param, argument, location, function=None):
    """Return the error for passing `argument` (its text as shown, quoted)
    to the user function `callee`, which updates its parameter `param` in
    place where the gradient cannot follow. When `function`, the callee
    itself, is a library function, the fixes do not edit it."""
    if function is not None and is_library_function(function):
        fixes = LIBRARY_FIXES
    else:
        fixes = [f'let {callee} make a new value and return it (for example '
                 f'{param} = {param} + v in place of {param} += v, which '
                 'also fits a list), and use the returned value in the '
                 'caller']
    return UnsupportedSyntaxError(
        f'passing {argument} to {callee}, which updates its parameter '
        f'{param!r} in place', location,
        'the caller would see the update but its gradient would not',
        fixes=fixes)


def is_library_function(function):
    """Return whether `function` belongs to the standard library or to an
    installed package, where the user cannot edit it."""
    module = getattr(function, '__module__', None) or ''
    if module.partition('.')[0] in sys.stdlib_module_names:
        return True
    code = getattr(function, '__code__', None)
    return code is not None and is_library_file(code.co_filename)


def _callee_display(call, resolved, normalized):
    """Return the callee of `call` as the user wrote it: `out.append`, or
    the function's name."""
    display = normalized.display_names
    func = call.func
    if isinstance(func, gast.Name):
        return display.get(func.id, resolved.name or func.id)
    if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
            and func.value.id in normalized.local_names:
        return f'{display.get(func.value.id, func.value.id)}.{func.attr}'
    return resolved.name


def _bound_mutator_owner(call, normalized):
    """Return the name whose method `call` calls through a variable bound
    to a method in `_MUTATORS` (`out` for `push(v)` after
    `push = out.append`), or None."""
    if not isinstance(call.func, gast.Name):
        return None
    for assignment in normalized.nodes_of(gast.Assign):
        target = assignment.targets[0]
        value = assignment.value
        if (isinstance(target, gast.Name) and target.id == call.func.id
                and isinstance(value, gast.Attribute)
                and isinstance(value.value, gast.Name)
                and value.attr in _MUTATORS):
            return value.value.id
    return None


def _is_read(target, normalized):
    """True when a name in the assignment target `target` is read."""
    assigned = {n.id for n in walk(target) if isinstance(n, gast.Name)}
    return any(isinstance(n.ctx, gast.Load) and n.id in assigned
               for n in normalized.nodes_of(gast.Name))


# Methods that change their object in place: those of lists, dicts, sets
# and arrays, and the in-place operator methods.
_MUTATORS = (aliasing.LIST_UPDATES | aliasing.IN_PLACE_METHODS
             | {'add', 'discard', '__setitem__', '__delitem__', '__iadd__',
                '__isub__', '__imul__', '__imatmul__', '__itruediv__',
                '__ifloordiv__', '__imod__', '__ipow__', '__iand__',
                '__ior__', '__ixor__', '__ilshift__', '__irshift__'})

# Methods that change a list, which the stages differentiate only as a
# statement of their own. `pop` is differentiated in an assignment too.
_ASSIGNED_LIST_UPDATES = aliasing.LIST_UPDATES - {'pop'}


def augmented_parameters(function):
    """Return the parameters of the Python function `function` whose
    objects an augmented assignment in its body may update in place
    (`a *= s` on an array, `lst += [v]` on a list), directly or through a
    name that may refer to part of them. The set is empty when the source
    is unavailable."""
    try:
        source = parse.get_source(function)
    except AdCompilerError:
        return frozenset()
    tree = source.tree
    params = [a.id for a in bound_parameter_nodes(tree.args)]
    origins, _ = _parameter_origins(tree, params)
    updated = set()
    for node in walk(tree):
        if isinstance(node, gast.AugAssign) and isinstance(node.target,
                                                           gast.Name):
            updated |= origins.get(node.target.id, set())
    return frozenset(updated)


def _changed(flows, writes):
    """Return every name that may share memory with a name in `writes`,
    a collection of sets of names."""
    written = set().union(*writes)
    if not written:
        return set()
    return aliasing.reachable(flows, aliasing.sources(flows, written))


def _statements_using(tree, saved_records):
    """Map each name to the statements that read or assign it, and the
    record of saved values of a call to the statement of the call."""
    uses = {}
    for owner in walk(tree):
        for field in ('body', 'orelse', 'finalbody'):
            block = getattr(owner, field, None)
            if not isinstance(block, list):
                continue
            for statement in block:
                for head in _statement_heads(statement):
                    for name in walk(head):
                        if isinstance(name, gast.Name):
                            uses.setdefault(name.id, []).append(statement)
    for statement, record in saved_records.items():
        uses.setdefault(record, []).append(statement)
    return uses


def _statement_heads(statement):
    """Return the parts of a statement outside its nested blocks."""
    if isinstance(statement, (gast.If, gast.While)):
        return [statement.test]
    if isinstance(statement, gast.For):
        return [statement.target, statement.iter]
    if isinstance(statement, gast.With):
        return list(statement.items)
    if isinstance(statement, gast.Try):
        return []
    return [statement]


class _Order:
    """The order in which the statements of a function may run."""

    def __init__(self, tree):
        self.chains = {}  # id(statement) -> [(id(block), position, owner)]
        self._index(tree, [])

    def _index(self, owner, outer):
        for field in ('body', 'orelse', 'finalbody', 'handlers'):
            block = getattr(owner, field, None)
            if not isinstance(block, list):
                continue
            for position, statement in enumerate(block):
                chain = [(id(block), position, owner)] + outer
                self.chains[id(statement)] = chain
                self._index(statement, chain)

    def may_run_after(self, later, earlier):
        """True if `later` may run after `earlier` in one call: it comes
        after it in a block, or a loop or a try statement contains both."""
        later_chain = self.chains.get(id(later))
        earlier_chain = self.chains.get(id(earlier))
        if later_chain is None or earlier_chain is None:
            return True
        earlier_owners = {id(owner) for _, _, owner in earlier_chain}
        if any(id(owner) in earlier_owners
               and isinstance(owner, (gast.For, gast.While, gast.Try,
                                      gast.ExceptHandler))
               for _, _, owner in later_chain):
            return True
        earlier_positions = {block: position
                             for block, position, _ in earlier_chain}
        for block, position, _ in later_chain:
            if block in earlier_positions:
                return position > earlier_positions[block]
        return True


def _written_by(call, statement, normalized, resolution, activity,
                callees, namespaces):
    """Names that `call` may write into."""
    resolved = resolution.calls.get(call)
    if resolved is None:
        return set()
    if any(k.arg == 'out' for k in call.keywords) or (
            resolved.kind is CallKind.RULE
            and aliasing.has_out_argument(call, resolution)):
        return set(_call_names(call))
    function = aliasing.namespace_function(call, resolved, namespaces)
    if function is not None:
        if (function in aliasing.NEW_OBJECT_FUNCTIONS_OF_NAMESPACES
                or REGISTRY.lookup(function) is not None):
            return set()
        return {n.id for argument in call.args + [k.value for k in
                                                  call.keywords]
                for n in walk(argument) if isinstance(n, gast.Name)}
    receiver = _receiver(call)
    if receiver is not None and receiver in normalized.local_names and (
            resolved.kind in (CallKind.METHOD,
                              CallKind.NON_DIFFERENTIABLE)):
        return _written_by_method(call, resolved, receiver, activity)
    if (resolved.kind in _READ_ONLY_KINDS or _is_runtime_helper(resolved)
            or _is_read_only_builtin(resolved.callee)):
        return set()
    if resolved.kind is CallKind.USER and statement in callees:
        return _written_by_callee(call, resolved, callees[statement])
    if resolved.kind is CallKind.USER:
        return _bound_names(call, resolved.callee,
                            parameters_written(resolved.callee))
    return set(_call_names(call))


def _is_runtime_helper(resolved):
    """True for a helper of adcompiler.runtime in generated code that is
    differentiated again, or a function of adcompiler.rules.operators,
    which normalize calls for operators such as `a | b`. The runtime
    helpers that change their arguments (`ad.restore_item`, ...) are undone
    by the reverse stage, and the others change nothing."""
    return getattr(resolved.callee, '__module__', None) in _HELPER_MODULES


# NOTE: an operator method of a user class (`__or__`) that changes its
# operands in place is not seen, as for the methods dispatched at run time.
_HELPER_MODULES = frozenset({runtime.__name__, operators.__name__,
                             rules_builtins.__name__})


def _is_read_only_builtin(callee):
    """True for a built-in function that never changes its arguments: one
    of READ_ONLY_BUILTINS, a function of `math`, a function of `operator`
    other than its in-place ones, an exception class, warnings.warn or a
    NumPy function that only reads its arguments."""
    if isinstance(callee, type) and issubclass(callee, BaseException):
        return True
    if callee is warnings.warn or _is_numpy_reader(callee):
        return True
    name = getattr(callee, '__name__', None)
    if not isinstance(name, str):
        return False
    if getattr(math, name, None) is callee:
        return True
    if getattr(operator, name, None) is callee:
        return name not in _OPERATOR_UPDATES
    return (name in READ_ONLY_BUILTINS
            and getattr(builtins, name, None) is callee)


# The functions of `operator` that change their first argument in place.
_OPERATOR_UPDATES = frozenset({
    'setitem', 'delitem', 'iadd', 'iand', 'iconcat', 'ifloordiv',
    'ilshift', 'imatmul', 'imod', 'imul', 'ior', 'ipow', 'irshift', 'isub',
    'itruediv', 'ixor',
})


def _written_by_method(call, resolved, receiver, activity):
    """Names that `x.method(...)`, a method of a local value, may write."""
    attr = call.func.attr
    if attr in aliasing.LIST_UPDATES and (
            activity.is_active(receiver)
            or attr == 'pop' and receiver in activity.varied):
        return set()  # The reverse stage undoes it.
    if attr in aliasing.IN_PLACE_METHODS or attr in aliasing.LIST_UPDATES:
        return {receiver}
    if (resolved.kind is CallKind.NON_DIFFERENTIABLE
            or resolved.rule is not None
            or attr in aliasing.VALUE_METHODS or attr in _MAPPING_READS
            or _names_pure_numpy_function(attr)):
        return set()
    if _names_numpy_function_only(attr):
        if attr not in _NUMPY_WRITERS:
            return set()
        return {n.id for argument in call.args + [k.value for k in
                                                  call.keywords]
                for n in walk(argument) if isinstance(n, gast.Name)}
    return set(_call_names(call))


def _names_numpy_function_only(attr):
    """True when `attr` names a NumPy function but no array method
    (`isdtype`, `copyto`): its object is then an array namespace, which a
    call changes nothing of, though the function may write into its
    arguments (see `_NUMPY_WRITERS`)."""
    return callable(vars(np).get(attr)) and not hasattr(np.ndarray, attr)


# The functions of the numpy module that write into an argument without
# an `out=` argument (NumPy 1.26 and 2.x).
_NUMPY_WRITERS = frozenset({
    'copyto', 'put', 'place', 'putmask', 'fill_diagonal', 'put_along_axis',
})


def _is_numpy_reader(callee):
    """True for a function of NumPy that does not write into its arguments
    unless given `out=`: one of the numpy module, or of a submodule other
    than numpy.random (np.ma.isMaskedArray, which SciPy calls)."""
    name = getattr(callee, '__name__', None)
    if not isinstance(name, str) or name in _NUMPY_WRITERS:
        return False
    # vars(np), not getattr: NumPy's module __getattr__ warns for some
    # names (np.str in NumPy 2, np.core), and adcompiler must not warn.
    if vars(np).get(name) is callee:
        return True
    module = getattr(callee, '__module__', None)
    return (isinstance(module, str) and module.startswith('numpy.')
            and not module.startswith('numpy.random'))


def _names_pure_numpy_function(attr):
    """True when `attr` is the name of a NumPy function that has a rule or
    returns a new array. A method of that name is taken to be the function
    of an array namespace (`xp.isnan(w)` where `xp` was found at run time).
    Arrays have no such method that changes them: those that do, such as
    sort, are IN_PLACE_METHODS and checked first."""
    function = vars(np).get(attr)
    if function is None or not callable(function):
        return False
    return (function in aliasing.NEW_OBJECT_FUNCTIONS_OF_NAMESPACES
            or REGISTRY.lookup(function) is not None)


def _written_by_callee(call, resolved, callee):
    """Arguments of a differentiated user function that its own calls may
    write into."""
    return _bound_names(call, resolved.callee, callee.call_written)


def _bound_names(call, function, parameters):
    """Names in the arguments of `call` that bind to `parameters` of
    `function`; every name when `parameters` is None or the call cannot
    be bound."""
    if parameters is None:
        return set(_call_names(call))
    return {node.id
            for argument in _bound_arguments(call, function, parameters)
            for node in walk(argument) if isinstance(node, gast.Name)}


def _receiver(call):
    """The name whose method `call` calls (`x` in `x.sort()`), or None."""
    if isinstance(call.func, gast.Attribute) and isinstance(call.func.value,
                                                            gast.Name):
        return call.func.value.id
    return None


def _call_names(call):
    """Return every name in the arguments of `call` and at the root of its
    callee (`rng` in `rng.shuffle(idx)`, `np` in `np.copyto(c, v)`)."""
    names = [n.id for argument in call.args + [k.value for k in call.keywords]
             for n in walk(argument) if isinstance(n, gast.Name)]
    root = call.func
    while isinstance(root, gast.Attribute):
        root = root.value
    if isinstance(root, gast.Name) and root is not call.func:
        names.append(root.id)
    return names


def _may_hold_array(name, normalized, namespace):
    """False for a global or a builtin that is a function, a module or an
    atom (see `runtime.searchable`): a call cannot change it in place."""
    if name in normalized.local_names or name in normalized.params:
        return True
    if name not in namespace:
        return True  # A name that the reverse stage made.
    return runtime.searchable(namespace[name])


# Callee summaries -----------------------------------------------------------

# The maximum depth of the calls of user functions that
# `parameters_written` follows. A deeper call counts as writing every
# argument.
_MAX_DEPTH = 6

# Methods of dicts that change nothing.
_MAPPING_READS = frozenset({'keys', 'values', 'items', 'get'})

# Methods that change their object but not their arguments.
_RECEIVER_ONLY_METHODS = (aliasing.LIST_UPDATES | aliasing.IN_PLACE_METHODS
                          | {'add', 'discard'})


def parameters_written(function):
    """Return the names of the parameters of the Python function
    `function` whose objects it may change in place when it runs as
    written, or None when it may change any of them.

    The result is read from its source. A parameter, or a name that may
    refer to part of it, is written when it is the base of an item or
    attribute store (`p[i] = v`, `p.m += 1`) or the target of an augmented
    assignment. It is also written when it is the object of a method that
    is not known to return a value, or an argument of a call that may write
    into it. A user function's call is read the same way, and for other
    callees `resolve.classify` decides.
    """
    key = (function, getattr(function, '__code__', None))
    summary = _SUMMARIES.get(key, _UNKNOWN)
    if summary is _UNKNOWN:
        summary = _SUMMARIES[key] = _Summaries().of(function, ())
    return summary


# (function, code) -> its `parameters_written`, for the most recently used
# functions.
_SUMMARIES = bounded.LruCache(256)
_UNKNOWN = object()


class _Summaries:
    """`parameters_written` of the functions that one function calls.

    A recursive call first counts as writing nothing, and the function is
    read again until its result no longer grows. A result that relied on
    such a guess of a function still being read is not kept for reuse.
    """

    def __init__(self):
        self.guesses = {}  # function being read -> its result so far
        self.known = {}  # function -> its final result
        self.guessed = False  # a guess was read since this flag was reset

    def of(self, function, active):
        if function in self.known:
            return self.known[function]
        if function in self.guesses:
            self.guessed = True
            return self.guesses[function]
        if len(active) >= _MAX_DEPTH:
            return None
        try:
            source = parse.get_source(function)
        except AdCompilerError:
            return None
        self.guesses[function] = frozenset()
        outer_guessed, self.guessed = self.guessed, False
        while True:
            written = _summarize(source, active + (function,), self)
            if written is not None:
                written = frozenset(written)
            if written is None or written == self.guesses[function]:
                break
            self.guesses[function] = written
        del self.guesses[function]
        if not self.guessed or not self.guesses:
            self.known[function] = written
        self.guessed = outer_guessed or (self.guessed and bool(self.guesses))
        return written


def _summarize(source, active, summaries):
    tree = source.tree
    params = [a.id for a in bound_parameter_nodes(tree.args)]
    if any(isinstance(node, (gast.FunctionDef, gast.AsyncFunctionDef,
                             gast.Lambda, gast.ClassDef))
           for statement in tree.body for node in walk(statement)):
        return None  # Inner scopes may write through their free names.
    origins, item_origins = _parameter_origins(tree, params)
    written = set()
    deep = set()
    for root in _written_roots(tree, source.namespace, active, summaries,
                               deep):
        written.update(origins.get(root, ()))
        if root in deep:
            written.update(item_origins.get(root, ()))
    return written


def _written_roots(tree, namespace, active=(), summaries=None, deep=None):
    """Names at the root of what the code in `tree`, run as written, may
    change in place: `p` for `p[i] = v`, `p.m += 1`, `p.sort()` or
    `np.copyto(p, v)`.

    With a set `deep`, add to it the roots that a write may reach past
    the named object into an object that it holds: `p[i][j] = v`,
    `p[i] *= s`, `helper(p)`, or a method that is not known to change only
    its object. `p[i] = v`, `p *= s` and `p.append(v)` change only `p`.
    """
    summaries = summaries or _Summaries()
    roots = set()

    def write(node, direct=False):
        if isinstance(node, gast.Attribute) and node.attr in aliasing.METADATA:
            return  # `a.dtype` and `a.shape` share no memory with `a`.
        root = node
        while isinstance(root, (gast.Attribute, gast.Subscript,
                                gast.Starred)):
            root = root.value
        if isinstance(root, gast.Name):
            roots.add(root.id)
            if deep is not None and not (direct and root is node):
                deep.add(root.id)

    called = {id(node.func) for node in walk(tree)
              if isinstance(node, gast.Call)}
    for node in walk(tree):
        if isinstance(node, (gast.Subscript, gast.Attribute)) and isinstance(
                node.ctx, (gast.Store, gast.Del)):
            write(node.value, direct=True)
        elif (isinstance(node, gast.Attribute) and id(node) not in called
              and node.attr in _MUTATORS):
            write(node.value)  # `z = a.fill`, then `z(v)` changes `a`.
        elif _gets_mutator(node):
            write(node.args[0])  # getattr(a, 'fill')(v)
        elif isinstance(node, gast.AugAssign):
            write(node.target, direct=True)
        elif isinstance(node, gast.Call):
            receiver_only = (isinstance(node.func, gast.Attribute)
                             and node.func.attr in _RECEIVER_ONLY_METHODS)
            for argument in _arguments_written(node, namespace, active,
                                               summaries):
                write(argument, direct=receiver_only
                      and argument is node.func.value)
    return roots


def _gets_mutator(node):
    """True for `getattr(v, 'name')` where 'name' is a method in
    `_MUTATORS`.

    NOTE: a computed name (`getattr(v, name)`) is taken to name no such
    method, as the helpers in adcompiler.rules.operators read class
    attributes that way.
    """
    if not (isinstance(node, gast.Call) and resolve.dotted_name(node.func)
            == 'getattr' and len(node.args) >= 2):
        return False
    name = node.args[1]
    return (isinstance(name, gast.Constant) and isinstance(name.value, str)
            and name.value in _MUTATORS)


def _parameter_origins(tree, params):
    """Map each name of the function that may refer to part of a
    parameter's object to those parameters.

    Return the map and a second one, of names bound to a shallow copy
    (`b = a.copy()`, `list(a)`, `dict(a)`): such a name is a new object,
    but the objects it contains are the parameter's. A deep copy
    (`np.array(a)`, `np.copy(a)`, `a.flatten()`) shares nothing. A
    parameter whose first use in the body is a copy assigned to it
    (`a = a.copy()`) no longer refers to the caller's object. The other
    assignments are followed without regard to their order.
    """
    rebound = _rebound_to_copies(tree, params)
    origins = {p: set() if p in rebound else {p} for p in params}
    item_origins = {p: {p} for p in rebound if rebound[p] == 'shallow'}
    changed = True
    while changed:
        changed = False
        for node in walk(tree):
            if isinstance(node, (gast.Assign, gast.AugAssign, gast.AnnAssign,
                                 gast.NamedExpr)):
                targets = (node.targets if isinstance(node, gast.Assign)
                           else [node.target])
                value = node.value
            elif isinstance(node, (gast.For, gast.AsyncFor)):
                targets, value = [node.target], node.iter
            elif isinstance(node, gast.withitem) and node.optional_vars:
                targets, value = [node.optional_vars], node.context_expr
            else:
                continue
            if value is None or _makes_unshared_value(value):
                continue
            copy = _copy_kind(value)
            if copy == 'deep':
                continue
            found, found_items = set(), set()
            for name in walk(value):
                if isinstance(name, gast.Name):
                    found |= origins.get(name.id, set())
                    found_items |= item_origins.get(name.id, set())
            if copy == 'shallow':
                found, found_items = set(), found | found_items
            elif not isinstance(value, gast.Name):
                # `c = b[0]` or `for c in b`: an item of a copy is shared.
                found, found_items = found | found_items, set()
            for target in targets:
                for name in walk(target):
                    if not isinstance(name, gast.Name):
                        continue
                    for known, new in ((origins, found),
                                       (item_origins, found_items)):
                        if new and not new <= known.setdefault(name.id,
                                                               set()):
                            known[name.id] |= new
                            changed = True
    return origins, item_origins


def _rebound_to_copies(tree, params):
    """Map each parameter whose first use in the body of `tree` is an
    assignment of a copy to it (`a = a.copy()`) to the kind of that copy,
    'deep' or 'shallow'."""
    rebound = {}
    for param in params:
        for statement in tree.body:
            if not any(isinstance(n, gast.Name) and n.id == param
                       for n in walk(statement)):
                continue
            if (isinstance(statement, gast.Assign)
                    and len(statement.targets) == 1
                    and isinstance(statement.targets[0], gast.Name)
                    and statement.targets[0].id == param):
                kind = _copy_kind(statement.value)
                if kind is not None:
                    rebound[param] = kind
            break
    return rebound


# Built-in functions whose results share no memory with their arguments.
_UNSHARED_RESULTS = frozenset({
    'type', 'len', 'isinstance', 'issubclass', 'id', 'hash', 'bool', 'int',
    'float', 'str', 'repr', 'format', 'callable', 'hasattr',
})

# Functions and methods that return a new container whose items are
# those of their argument.
_SHALLOW_COPY_FUNCTIONS = frozenset({'list', 'dict', 'tuple', 'set',
                                     'copy.copy'})
# Functions and methods that return an array sharing no memory with
# their argument (np.array copies unless given copy=False or copy=None).
_DEEP_COPY_FUNCTIONS = frozenset({'np.copy', 'numpy.copy', 'np.array',
                                  'numpy.array', 'copy.deepcopy'})
_DEEP_COPY_METHODS = frozenset({'flatten'})


def _copy_kind(value):
    """Return 'deep' when the expression `value` makes a copy that shares
    nothing with its operands, 'shallow' for a new container that contains
    their objects (`a.copy()`, which is shallow for a list or a dict), or
    None. An operator's result counts as shallow: `lst + [v]` is a new
    list of the items of both."""
    if isinstance(value, (gast.BinOp, gast.UnaryOp)):
        # NOTE: an operator method of a user class that returns its own
        # operand (`__add__` returning self) is not seen.
        return 'shallow'
    if not isinstance(value, gast.Call):
        return None
    name = resolve.dotted_name(value.func) or ''
    if name in _DEEP_COPY_FUNCTIONS:
        if any(k.arg == 'copy' and not (isinstance(k.value, gast.Constant)
                                        and k.value.value is True)
               for k in value.keywords):
            return None
        return 'deep' if len(value.args) >= 1 else None
    if name in _SHALLOW_COPY_FUNCTIONS:
        return 'shallow' if len(value.args) == 1 else None
    if isinstance(value.func, gast.Attribute) and not value.args \
            and not value.keywords:
        if value.func.attr in _DEEP_COPY_METHODS:
            return 'deep'
        if value.func.attr == 'copy':
            return 'shallow'
    return None


def _makes_unshared_value(value):
    """True for a comparison, a call of a built-in in _UNSHARED_RESULTS
    (`cls = type(x)`) or of `array_namespace`, whose result is not part of
    its operands."""
    if isinstance(value, gast.Compare):
        return True
    if not isinstance(value, gast.Call):
        return False
    name = resolve.dotted_name(value.func) or ''
    return (name in _UNSHARED_RESULTS
            or name.rpartition('.')[2] in aliasing.NAMESPACE_FUNCTIONS)


def _arguments_written(call, namespace, active, summaries):
    """The argument nodes (and the object of a method) that `call`, in the
    source of a function that runs as written, may write into."""
    arguments = list(call.args) + [k.value for k in call.keywords]
    if any(k.arg == 'out' for k in call.keywords):
        return arguments
    func = call.func
    name = resolve.dotted_name(func)
    if name is None:
        # A method of an expression's value, such as at(x, i).set(v) of
        # array_api_extra: it may change that value.
        # NOTE: such a method is taken not to change its arguments.
        return [func.value] if isinstance(func, gast.Attribute) else (
            arguments)
    callee = _lookup(name, namespace)
    if callee is _MISSING and isinstance(func, gast.Attribute):
        # A method of a local value (or of an argument).
        if func.attr in _RECEIVER_ONLY_METHODS:
            return [func.value]
        rule = REGISTRY.lookup_method(func.attr)
        if (rule is not None or func.attr in aliasing.VALUE_METHODS
                or _names_pure_numpy_function(func.attr)):
            return []
        if _names_numpy_function_only(func.attr):
            return arguments if func.attr in _NUMPY_WRITERS else []
        if func.attr in _MAPPING_READS:
            return []
        return [func.value] + arguments
    if callee is _MISSING:
        # NOTE: a function held in a variable of the callee (a callback
        # such as `f(*args)` in a helper) is taken to change nothing.
        return []
    if (getattr(callee, '__module__', None) in _HELPER_MODULES
            or _is_read_only_builtin(callee)):
        return []
    resolved = resolve.classify(callee, name, REGISTRY)
    if resolved.kind in _READ_ONLY_KINDS:
        return []
    function = resolved.callee
    if resolved.kind is CallKind.FOREIGN and isinstance(
            getattr(callee, '__wrapped__', None), types.FunctionType):
        function = callee.__wrapped__  # functools.cache and the like
    if resolved.kind is CallKind.USER or function is not resolved.callee:
        written = summaries.of(function, active)
        if written is None:
            return arguments
        return _bound_arguments(call, function, written)
    receiver = [func.value] if isinstance(func, gast.Attribute) else []
    return arguments + receiver


_MISSING = object()


def _lookup(name, namespace):
    """Return the object that a dotted name refers to in `namespace`, or
    _MISSING for a local variable or a name that is not defined."""
    root, *attributes = name.split('.')
    if root not in namespace:
        return _MISSING
    value = namespace[root]
    for attribute in attributes:
        try:
            value = getattr(value, attribute)
        except AttributeError:
            return _MISSING
    return value


def _bound_arguments(call, function, parameters):
    """Return the argument nodes of `call` that bind to `parameters` of
    `function`, or every argument when the call cannot be bound."""
    arguments = list(call.args) + [k.value for k in call.keywords]
    if not parameters:
        return []
    try:
        bound = inspect.signature(function).bind(
            *call.args, **{k.arg: k.value for k in call.keywords if k.arg})
    except (TypeError, ValueError):
        return arguments
    if any(isinstance(a, gast.Starred) for a in call.args) or any(
            k.arg is None for k in call.keywords):
        return arguments
    found = []
    for param in parameters:
        argument = bound.arguments.get(param)
        if isinstance(argument, tuple):
            found.extend(argument)
        elif isinstance(argument, dict):
            found.extend(argument.values())
        elif argument is not None:
            found.append(argument)
    return found
