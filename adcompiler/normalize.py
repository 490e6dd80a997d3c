"""Normalize stage: reject unsupported syntax, then lower to A-normal form.

Input: a `FunctionSource`. Output: a `NormalizedFunction` whose tree is a
`FunctionDef` with the user's parameters (positional, `*args`, keyword-only,
`**kwargs`; defaults are kept by the compiled function object) and a body
made of exactly these statement forms, where an *atom* is a `Name` or a
`Constant`, or a dotted reference to a global such as `np.pi` (read, never
assigned):

    name = atom
    name = atom <binop> atom                  (+ - * / // % ** @ and bit ops)
    name = <unaryop> atom                     (- + ~ not)
    name = atom <cmpop> atom [<cmpop> atom]   (comparisons)
    name = atom[index]                        (index: atoms, slices of atoms,
                                               None, Ellipsis, tuples of these)
    name = atom.attr                          (attribute of a local value)
    name = func(atom, ..., key=atom, ...)     (func: a global name, a dotted
                                               global, or local_atom.method;
                                               also *atom and **atom)
    name = (atom, ...)  /  name = [atom, ...]
    name = f'...'                             (f-strings are kept whole)
    name, name, ... = atom                    (tuple unpacking, flattened)
    func(atom, ...)                           (a call kept for its effect)
    assert atom[, atom]
    with manager(atom, ...) [as name]: body   (np.errstate and
                                               warnings.catch_warnings only)
    return atom                               (last statement, exactly once)

and, when the function has control flow, `if`, `for`, `while True` and
`while test` where the test is an atom or a comparison of atoms (see
control_flow). Before lowering, these forms are rewritten:

- match statements become if/elif chains, and `a, *rest = v` becomes
  `items = list(v)` and indexed reads (see patterns);
- nested `def`s, lambdas, and functions of the same module that take or
  return one are inlined where they are called (see closures);
- comprehensions, generator expressions, `map`, `filter`, `sorted`,
  `max(..., key=)`, `min(..., key=)` and `functools.reduce` become loops
  (see comprehensions), and so do `zip`, `enumerate` and `reversed` used
  other than as the iterable of a loop with one target per item value;
- `f(*seq, **mapping)` passes the items of a tuple, list or dict display
  written out in the function; other unpacking stays in the call, as
  `*atom` and `**atom`, and is bound when the call runs;
- `for a, b in pairs` reads each item into a temporary and unpacks it.

A name declared `global` may be read, and assigning it raises
`UnsupportedSyntaxError`.

Every local variable is assigned once (static single assignment): a second
assignment to `x` writes `x_1`, and later reads of `x` read `x_1`. Augmented
assignment `x += y` is expanded to `x = x + y` when `x` holds a value that
no other name can see (made by arithmetic or a function that returns a new
array, and not stored, copied or viewed since); otherwise Python would
update shared memory in place, and it raises `UnsupportedSyntaxError`.
A `.copy()` of a local value counts as a new object. On a name that only
ever holds lists (`lst = []`), `lst += v` becomes `lst.extend(v)`, which is
what Python runs, when v is known to be a list or a tuple. Otherwise it is
expanded to `lst = lst + v` (an ndarray v makes lst a new array).
Docstrings and `pass` are dropped, and code after the `return` is removed.
Each new statement keeps the line and column of the expression it came from,
so later stages can point at the user's source.

Any other statement (try, a with statement over other context managers,
raise, an import, or another construct not lowered here) is kept as written
inside a `Verbatim` node (see adcompiler.verbatim), with its reads renamed
to the current versions; the activity stage raises its
`UnsupportedSyntaxError` if it carries a derivative. When such a statement
assigns a local, the function is lowered without single assignment, as with
control flow. A statement that returns, yields, or jumps out of its loop
from inside such a construct, and a `nonlocal` declaration outside an
inlined function, still raise `UnsupportedSyntaxError` here.
"""

import builtins as _builtins
import collections
import copy
import dataclasses
import functools
import io
import math
import types
import warnings

import gast
import numpy as np

from adcompiler import (closures, comprehensions, library_iterators, parse,
                        partial_calls, patterns, runtime, verbatim)
from adcompiler.control_flow import Restructurer
from adcompiler.control_flow import jumps
from adcompiler.errors import (AdCompilerError, InternalCompilerError,
                               UnsupportedSyntaxError, is_library_file)
from adcompiler.naming import Namer
from adcompiler.object_operands import GeneratedOperands, ObjectOperands
from adcompiler.rules import REGISTRY, operators
from adcompiler.traversal import (NodeIndex, child_nodes, copy_tree,
                                  find_nodes, name_node, nodes_of, walk)


@dataclasses.dataclass
class NormalizedFunction:
    """A function body lowered to A-normal form, in single-assignment form."""

    tree: gast.FunctionDef
    params: list
    namer: Namer
    local_names: set
    # False when the body has control flow: then names keep their user
    # spelling and may be assigned many times (see the module docstring).
    single_assignment: bool = True
    # Arrays updated in place with x[i] = v (only with control flow).
    written: set = dataclasses.field(default_factory=set)
    # Names of containers changed by a method such as append or add.
    mutated: set = dataclasses.field(default_factory=set)
    # The variable that contains the return value when returns were rewritten
    # into assignments (see control_flow), else None.
    result_name: str = None
    # Statement -> (name, error) for `x += y` on a value that may be an array:
    # the generated code checks before the statement that it is not one.
    immutable_checks: dict = dataclasses.field(default_factory=dict)
    # Names of the temporaries normalize introduced.
    temporaries: set = dataclasses.field(default_factory=set)
    # Generated name -> what the user wrote: 'x' for x_1, 'x * 2.0' for t1.
    display_names: dict = dataclasses.field(default_factory=dict)
    # Containers built by a comprehension's loop and never changed after it.
    built: set = dataclasses.field(default_factory=set)
    # The sets built by set comprehensions, which reverse and forward reject
    # when their elements carry a derivative.
    set_comprehensions: set = dataclasses.field(default_factory=set)
    # Loops over a mapping's keys that `for ... in d.items()`, `d.values()`
    # or `d.keys()` became: their items are keys, never views.
    key_loops: set = dataclasses.field(default_factory=set)
    # Functions of the same file inlined at their calls, with their defaults
    # as constants.
    inlined_functions: tuple = ()
    # If statements lowered from an expression (`a if c else b`, `a or b`)
    # -> the description of that expression, for error messages.
    expression_branches: dict = dataclasses.field(default_factory=dict)
    # (table, key, entry) of each call compiled for the function that
    # earlier calls ran (see adcompiler.observed_calls): the code is stale
    # once `table[key]` is no longer `entry`.
    observed_entries: list = dataclasses.field(default_factory=list)
    # Global name -> the function name `f` of each `xp.f` that
    # known_results.call_known_namespaces bound to it.
    namespace_calls: dict = dataclasses.field(default_factory=dict)
    # Call -> what it may pass its callee of objects with operators (see
    # `ObjectOperands.describe_call`), for which the callee is compiled;
    # calls that pass none are left out.
    call_objects: dict = dataclasses.field(default_factory=dict)
    # The `traversal.NodeIndex` of `tree`, or None. The compiler builds it
    # after the last pass that changes the tree, and checks at the end of
    # the compilation that no stage changed the tree since.
    index: NodeIndex = None

    def nodes_of(self, kinds):
        """Return the nodes of `tree` that are instances of `kinds`, in
        `walk` order: from `index` when there is one, else by a walk."""
        return nodes_of(self.tree, kinds, self.index)


# Descriptions used in error messages, by node type name.
_CONSTRUCT_NAMES = {
    'If': 'an if statement',
    'For': 'a for loop',
    'AsyncFor': 'an async for loop',
    'While': 'a while loop',
    'With': 'a with statement',
    'AsyncWith': 'an async with statement',
    'Try': 'a try statement',
    'TryStar': 'a try statement with except* clauses',
    'Raise': 'a raise statement',
    'Import': 'an import inside a function',
    'ImportFrom': 'an import inside a function',
    'Global': 'a global declaration',
    'Nonlocal': 'a nonlocal declaration',
    'Delete': 'a del statement',
    'FunctionDef': 'a nested function definition',
    'AsyncFunctionDef': 'an async function definition',
    'ClassDef': 'a class definition inside a function',
    'Match': 'a match statement',
    'Break': 'a break statement',
    'Continue': 'a continue statement',
    'AnnAssign': 'an annotated assignment',
    'BoolOp': 'the and/or operator',
    'IfExp': 'a conditional expression',
    'Lambda': 'a lambda expression',
    'Dict': 'a dict display',
    'Set': 'a set display',
    'ListComp': 'a list comprehension',
    'SetComp': 'a set comprehension',
    'DictComp': 'a dict comprehension',
    'GeneratorExp': 'a generator expression',
    'Await': 'an await expression',
    'Yield': 'a yield expression',
    'YieldFrom': 'a yield from expression',
    'NamedExpr': 'an assignment expression (:=)',
    'Starred': 'a starred expression',
}


# The fixes of rejected constructs, by node type.
_CONSTRUCT_FIXES = {
    'Delete': ['build a new list or dict without the item '
               '(lst = lst[1:], or a comprehension)'],
    'NamedExpr': ['assign the value in a statement of its own before the '
                  'expression that uses it (n = np.sum(x); if n > 1.0: ...)'],
    **dict.fromkeys(('Yield', 'YieldFrom'), [
        'make the generator a function that returns a list of its values '
        '(values.append(v) in place of yield v, then return values), and '
        'loop over that list']),
    'Delete': ['build a new list or dict without the item: lst = lst[1:], '
               'or d = {k: v for k, v in d.items() if k != key}'],
    'TryStar': ['catch the group with a plain except clause (except '
                'ExceptionGroup as group:) and test its exceptions in the '
                'handler (if group.subgroup(ValueError) is not None: ...)'],
    'Starred': ['join the sequences with + in place of unpacking them into '
                'a display: a + [v] + a for [*a, v, *a]'],
}
# The reasons for rejecting a construct that is supported in other places,
# by node type.
_CONSTRUCT_REASONS = {
    'NamedExpr': 'adcompiler moves `n := v` into an assignment before its '
                 'statement only where Python would run it, and only after '
                 'names and constants: not after a call, an operator or a '
                 'read of n in the same statement, and not in a later '
                 'operand of and/or, a branch of a conditional expression, '
                 'a later link of a comparison chain, or the body of a '
                 'lambda or inner function that adcompiler inlines',
    'Delete': 'deleting an item or a slice that carries a derivative '
              'changes the container in place, which the adjoint does not '
              'follow',
    'TryStar': 'adcompiler differentiates try statements whose except '
               'clauses are plain except clauses',
    **dict.fromkeys(('Yield', 'YieldFrom'), 'adcompiler does not transform '
                    'generator functions, whose code runs only as the '
                    'caller asks for each value'),
}


def describe(node):
    """Return an English description of a syntax node for error messages."""
    name = type(node).__name__
    return _CONSTRUCT_NAMES.get(name, f'the syntax {name}')


def normalize(source, object_params=frozenset()):
    """Lower `source.tree` to A-normal form; see the module docstring.

    `object_params` describes the arguments that hold objects whose
    classes define operators in Python (see
    `object_operands.describe_arguments`): operators on values read from
    them follow Python's protocol.
    """
    nodes = NodeIndex(source.tree)
    if nodes.find(gast.Match):
        namer = Namer.for_function(source.tree, source.namespace, nodes)
        patterns.lower_matches(source.tree, source, source.namespace, namer)
        nodes = NodeIndex(source.tree)  # The match statements were replaced.
    if _rewrite_in_place_calls(source, nodes):
        nodes = NodeIndex(source.tree)  # Some statements were replaced.
    try:
        return _Normalizer(source, object_params=object_params,
                           nodes=nodes).run()
    except (_VerbatimAssigns, _NeedsControlFlow):
        # Start again, keeping names as written: a statement kept verbatim
        # assigns a local, or lowering made a loop or branch (a
        # comprehension, an inlined function) in code that had none.
        return _Normalizer(source, keep_names=True,
                           object_params=object_params).run()


def _rewrite_in_place_calls(source, nodes):
    """Rewrite each statement `f(a, ...)` of a registered in-place function
    f, whose first argument is a local name or a parameter, as
    `a[...] = pure(a, ...)`, in place in `source.tree` (see
    `Registry.in_place`). So also `a.put(...)` and `a.fill(v)` where the
    function makes `a` with a NumPy constructor (see
    `Registry.in_place_method`). `nodes` is the `NodeIndex` of the tree before.
    Returns whether it rewrote a statement.

    The pure function gets a global name of its own in `source.namespace`.
    Both new nodes keep the position of the call, so the comment of the
    generated lines shows the user's line. A call kept for its result, or
    with another first argument, stays as it is and is rejected later as a
    foreign call.
    """
    tree = source.tree
    local = closures.local_names(tree, nodes) | {
        n.id for n in walk(tree.args) if isinstance(n, gast.Name)}
    names = {}  # pure function -> its global name
    namer = None
    rewritten = False
    arrays = None
    for node in nodes.find(_BLOCK_OWNERS):
        for field in ('body', 'orelse', 'finalbody'):
            statements = getattr(node, field, None)
            if not isinstance(statements, list):
                continue
            for position, statement in enumerate(statements):
                pure = _in_place_replacement(statement, source.namespace,
                                             local)
                if pure is not None:
                    call = statement.value
                    args = call.args
                else:
                    if arrays is None and _in_place_method(statement):
                        arrays = _constructed_arrays(tree, source.namespace,
                                                     local)
                    pure = _in_place_method_replacement(statement, arrays)
                    if pure is None:
                        continue
                    call = statement.value
                    args = [_load(call.func.value.id)] + call.args
                if pure not in names:
                    if namer is None:
                        namer = Namer.for_function(tree, source.namespace,
                                                   nodes)
                    names[pure] = namer.fresh(pure.__name__)
                    source.namespace[names[pure]] = pure
                target = gast.Subscript(
                    value=_load(args[0].id),
                    slice=gast.Constant(value=Ellipsis, kind=None),
                    ctx=gast.Store())
                value = gast.Call(func=_load(names[pure]), args=args,
                                  keywords=call.keywords)
                for new in (target, target.value, target.slice, value,
                            value.func):
                    gast.copy_location(new, call)
                statements[position] = gast.copy_location(gast.Assign(
                    targets=[target], value=value, type_comment=None),
                    statement)
                rewritten = True
    return rewritten


# The classes of nodes with a statement list in `body`, `orelse` or
# `finalbody`.
_BLOCK_OWNERS = tuple(
    kind for kind in vars(gast).values()
    if isinstance(kind, type) and issubclass(kind, gast.AST)
    and {'body', 'orelse', 'finalbody'} & set(kind._fields))


def _in_place_replacement(statement, namespace, local):
    """Return the pure function of the in-place call that `statement` is,
    or None (see `_rewrite_in_place_calls`)."""
    if not (isinstance(statement, gast.Expr)
            and isinstance(statement.value, gast.Call)):
        return None
    call = statement.value
    if not call.args or not isinstance(call.args[0], gast.Name) or \
            call.args[0].id not in local:
        return None  # A global array keeps the foreign call's handling.
    callee = _module_callee(call, namespace, local)
    return None if callee is None else REGISTRY.in_place_replacement(callee)


def _in_place_method(statement):
    """True for a statement `a.name(...)` of a local name `a` and a method
    in `Registry.in_place_method`."""
    return (isinstance(statement, gast.Expr)
            and isinstance(statement.value, gast.Call)
            and isinstance(statement.value.func, gast.Attribute)
            and isinstance(statement.value.func.value, gast.Name)
            and REGISTRY.in_place_method_replacement(
                statement.value.func.attr) is not None)


def _in_place_method_replacement(statement, arrays):
    """Return the pure function of the statement `a.put(...)` or
    `a.fill(v)` where `a` is in `arrays`, or None."""
    if not _in_place_method(statement):
        return None
    if statement.value.func.value.id not in arrays:
        return None  # Perhaps another class's put, as queue.Queue has.
    return REGISTRY.in_place_method_replacement(statement.value.func.attr)


# NumPy functions that return a new base-class ndarray whatever their
# arguments are (np.zeros_like is left out: it keeps a subclass such as a
# masked array, whose fill and put also change the mask).
_ARRAY_CONSTRUCTORS = (np.zeros, np.ones, np.empty, np.full, np.arange,
                       np.linspace, np.eye, np.identity, np.array, np.copy)


def _constructed_arrays(tree, namespace, local):
    """Return the local names that the function binds only with
    `name = np.zeros(...)` and the other calls of `_ARRAY_CONSTRUCTORS`
    (without subok=), so that they contain a base-class ndarray."""
    constructed = {}  # id of the target Name node -> its name
    for node in walk(tree):
        if isinstance(node, gast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], gast.Name):
            callee = _module_callee(node.value, namespace, local)
            if any(callee is f for f in _ARRAY_CONSTRUCTORS) and not any(
                    k.arg in ('subok', None) for k in node.value.keywords):
                constructed[id(node.targets[0])] = node.targets[0].id
    others = {node.id for node in walk(tree)
              if isinstance(node, gast.Name)
              and isinstance(node.ctx, (gast.Store, gast.Del, gast.Param))
              and id(node) not in constructed}
    return (set(constructed.values()) & local) - others


def _module_callee(value, namespace, local):
    """Return what the call `value` calls when that is a global or an
    attribute of one, as `np.zeros` in `np.zeros(3)`, or None."""
    if not isinstance(value, gast.Call):
        return None
    parts = []
    node = value.func
    while isinstance(node, gast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, gast.Name) or node.id in local or \
            node.id not in namespace:
        return None
    callee = namespace[node.id]
    try:
        for attr in reversed(parts):
            callee = getattr(callee, attr)
    except AttributeError:
        return None
    return callee


class _VerbatimAssigns(Exception):
    """A statement kept verbatim assigns a local: lower again without
    single assignment, which could not rename its targets."""


class _NeedsControlFlow(Exception):
    """Raised when a lowering emits a branch or loop in single assignment."""


# Statements that can never be kept verbatim: they leave or change the
# function's scope, which the generated primal does not have.
_NEVER_VERBATIM = (gast.Return, gast.Yield, gast.YieldFrom, gast.Await,
                   gast.Global, gast.Nonlocal)


class _Normalizer:

    def __init__(self, source, keep_names=False,
                 object_params=frozenset(), nodes=None):
        self.source = source
        self.object_params = object_params
        self.tree = source.tree
        # The `NodeIndex` of the user's tree, which lowering reads but does
        # not change; `run` checks that at its end.
        self.nodes = NodeIndex(self.tree) if nodes is None else nodes
        self.namer = Namer.for_function(self.tree, source.namespace,
                                        self.nodes)
        self.local_names = _assigned_names(self.tree, self.nodes)
        # Inner functions and lambdas bound to names, inlined where called.
        self.functions = {}
        # Names bound to functools.partial objects made in the function and
        # only called: name -> its partial_calls.LocalPartial.
        self.partials = {}
        self.inlining = []  # The functions being inlined, innermost last.
        # Each parameter of an inlined function bound to a caller's name,
        # mapped to the version that refers to the caller's object.
        self.caller_objects = {}
        self.module_functions = {}  # function -> its InnerFunction
        self.built = set()  # Containers that comprehensions built.
        self.set_comprehensions = set()
        self.key_loops = set()
        # Names of the itertools functions that library_iterators calls
        # over positions.
        self.position_calls = set()
        self.expression_branches = {}
        self.displays = {}  # name -> atoms of the tuple or list it contains
        # Parameters of inlined functions bound to constants or globals
        # (np.tanh) that they keep.
        self.constants = {}
        # Names that the function declares global and assigns: they are
        # read and written through the module's globals (see
        # `check_global_writes`).
        self.global_writes = set()
        self.keyword_displays = {}  # name -> (key, atom) of its dict
        self.current = {}  # user name -> the name of its latest version
        self.body = []
        # Versions whose value is a new object that no other name refers to,
        # so that `x += y` may rebind x instead of updating memory in place.
        self.unshared = set()
        # Versions that would be unshared if the functions that made their
        # values, known only at run time (xp.sum), return new objects:
        # version -> those callees as expressions.
        self.unshared_if_new = {}
        self.temporaries = set()
        # Statement -> (name, error, callees) or (name, error, (), container):
        # check before it that the name contains a value that cannot change
        # in place, or one that the callees made, or an item of an array
        # container (see visit_AugAssign).
        self.immutable_checks = {}
        self.display_names = {}
        self.result_name = None  # The variable early returns assign.
        # Lists that `lst += v` extends in place (see `extended_lists`).
        self.extended_lists = extended_lists(self.tree, self.nodes)
        # Function of rules.operators -> the global name calls of it use.
        self.operator_globals = {}
        self.call_objects = {}
        self.single_assignment = not (
            keep_names or has_control_flow(self.tree, self.nodes))
        self.check_global_writes()
        # Names changed in place: x[i] = v, lst.append(v), lst.pop(), ...
        self.updated_in_place = {
            n.value.id for n in self.nodes.find(gast.Subscript)
            if isinstance(n.ctx, gast.Store)
            and isinstance(n.value, gast.Name)} | mutated_receivers(
                self.tree, index=self.nodes) | self.extended_lists
        self.written = set()
        if not self.single_assignment:
            self.unshared, self.unshared_if_new = _unshared_names(self.tree,
                                                                  self)
            self.written = self.check_written_arrays()

    @functools.cached_property
    def number_counters(self):
        """Names that only ever contain numbers: each assignment to them
        is `k = <number>` or `k op= <number>`, so `k += 1` needs no check
        that k is not an array."""
        return _number_counters(self.tree)

    @functools.cached_property
    def fresh_item_containers(self):
        """Names of containers whose items are new arrays that no other name
        refers to (see `_fresh_item_containers`); computed on first use,
        which only `c[i] += v` makes."""
        return _fresh_item_containers(self.tree, self.returns_new_object)

    @functools.cached_property
    def store_counts(self):
        """How many times the user's code assigns each name."""
        return collections.Counter(
            n.id for n in self.nodes.find(gast.Name)
            if isinstance(n.ctx, gast.Store))

    def unsupported(self, node, reason=''):
        kind = type(node).__name__
        return UnsupportedSyntaxError(
            describe(node), self.source.location(node),
            reason or _CONSTRUCT_REASONS.get(kind, ''),
            fixes=_CONSTRUCT_FIXES.get(kind, ()))

    def run(self):
        comprehensions.check_lazy_iterators(self.tree, self.source,
                                            self.nodes)
        params = self.check_arguments(self.tree.args)
        for name in params:
            self.current[name] = name
            self.local_names.add(name)

        body = self.tree.body
        if not self.single_assignment:
            restructurer = Restructurer(self.source, self.namer,
                                        self.global_writes)
            body = restructurer.run(body)
            self.result_name = restructurer.result
        for statement in body:
            if self.visit_statement(statement):
                break
        else:
            # Falling off the end returns None, as in Python.
            self.emit(gast.Return(value=gast.Constant(value=None, kind=None)),
                      self.tree.body[-1] if self.tree.body else self.tree)

        packed = {self.vararg, self.kwarg} - {None}
        positional = [p for p in params
                      if p not in self.keyword_only and p not in packed]
        new_args = gast.arguments(
            args=[_parameter(p) for p in positional],
            posonlyargs=[],
            vararg=_parameter(self.vararg) if self.vararg else None,
            kwonlyargs=[_parameter(p) for p in self.keyword_only],
            kw_defaults=[None] * len(self.keyword_only),
            kwarg=_parameter(self.kwarg) if self.kwarg else None,
            defaults=[])
        tree = gast.FunctionDef(
            name=self.tree.name, args=new_args, body=self.body,
            decorator_list=[], returns=None, type_comment=None,
            type_params=[])
        gast.copy_location(tree, self.tree)
        if not self.nodes.is_current():
            raise InternalCompilerError(
                self.source.name, 'normalize',
                "the function's tree changed while it was lowered")
        mutated = mutated_receivers(tree, self.local_names)
        # The cached `object_operands` refers back to this normalizer
        # through `global_object` and a lambda. Compilation pauses the
        # garbage collector, so this cycle would keep the normalizer and
        # the source tree alive until the first collection after
        # compilation. For a 1000-line function, that collection took
        # 12 ms (Python 3.11, loaded 2-core AMD EPYC). Dropped here, they
        # are freed by reference counting.
        self.__dict__.pop('object_operands', None)
        return NormalizedFunction(tree, params, self.namer, self.local_names,
                                  self.single_assignment, self.written,
                                  mutated, self.result_name,
                                  self.immutable_checks, self.temporaries,
                                  self.display_names, self.built,
                                  self.set_comprehensions, self.key_loops,
                                  tuple(self.module_functions),
                                  self.expression_branches,
                                  call_objects=self.call_objects)


    def check_arguments(self, args):
        """Return the parameter names in signature order.

        A `*args` parameter is a tuple and a `**kwargs` parameter a dict,
        differentiated like any other container parameter.
        """
        self.keyword_only = [a.id for a in args.kwonlyargs]
        self.vararg = args.vararg.id if args.vararg is not None else None
        self.kwarg = args.kwarg.id if args.kwarg is not None else None
        return closures.parameter_names(args)

    # Statements ------------------------------------------------------------

    def emit(self, statement, origin):
        if self.single_assignment and isinstance(
                statement, (gast.If, gast.For, gast.While)):
            raise _NeedsControlFlow
        gast.copy_location(statement, origin)
        self.body.append(statement)
        if self.single_assignment:
            reads = self.escaping_reads(statement)
            self.unshared.difference_update(reads)
            for read in reads:
                self.unshared_if_new.pop(read, None)
        return statement

    def lower_block(self, statements):
        """Lower a nested statement list (a branch or a loop body)."""
        outer = self.body
        self.body = []
        try:
            for statement in statements:
                if self.visit_statement(statement):
                    raise self.unsupported(statement)  # Removed by control_flow.
            return self.body
        finally:
            self.body = outer

    def visit_If(self, node):
        test = self.condition(node.test, node.body + node.orelse)
        body = self.lower_block(node.body)
        orelse = self.lower_block(node.orelse)
        self.emit(gast.If(test=test, body=body, orelse=orelse), node)
        return False

    def condition(self, test, branches):
        """Lower a branch condition to a name that the branches do not assign.

        The reverse stage records the condition after the branch ran, so a
        name the branches reassign is first copied to a temporary.
        """
        atom = self.atomize(test)
        if not isinstance(atom, gast.Name) or atom.id in self.temporaries:
            return atom
        if atom.id in self.updated_in_place:
            # A list or array changed in place: record its truth value, not
            # the object, whose truth may change before the adjoint runs.
            negated = self.bind(gast.UnaryOp(op=gast.Not(), operand=atom),
                                test)
            return self.bind(gast.UnaryOp(op=gast.Not(), operand=negated),
                             test)
        assigned = {n.id for b in branches for n in walk(b)
                    if isinstance(n, gast.Name) and isinstance(n.ctx,
                                                               gast.Store)}
        if atom.id not in assigned:
            return atom
        return self.bind(atom, test)

    def visit_Try(self, node):
        """Lower the blocks of try/except/else/finally; the reverse stage
        records which of them ran."""
        if jumps(node.body + node.orelse + node.finalbody + node.handlers):
            raise UnsupportedSyntaxError(
                'a return, break or continue inside a try statement',
                self.source.location(node),
                'assign the result to a variable and return after the try '
                'statement')
        body = self.lower_block(node.body)
        handlers = []
        for handler in node.handlers:
            if handler.type is not None and not self.is_exception_type(
                    handler.type):
                raise UnsupportedSyntaxError(
                    'an exception type other than a name, a dotted name or '
                    'a tuple of them', self.source.location(handler.type))
            lowered = gast.ExceptHandler(
                type=copy_tree(handler.type),
                name=copy_tree(handler.name),
                body=self.lower_block(handler.body))
            handlers.append(gast.copy_location(lowered, handler))
        orelse = self.lower_block(node.orelse)
        finalbody = self.lower_block(node.finalbody)
        self.emit(gast.Try(body=body, handlers=handlers, orelse=orelse,
                           finalbody=finalbody), node)
        return False

    def is_exception_type(self, node):
        if isinstance(node, gast.Tuple):
            return all(self.is_exception_type(e) for e in node.elts)
        return isinstance(node, (gast.Name, gast.Attribute)) and \
            self.is_global_reference(node)

    def visit_While(self, node):
        # control_flow leaves `while True:` with the test in the body, or
        # a loop whose test lowers to one expression (plain_loop_test).
        outer = self.body
        self.body = []
        try:
            test = self.lower_expression(node.test)
            head = self.body
        finally:
            self.body = outer
        if head:
            raise InternalCompilerError(
                self.source.name, 'normalize',
                'a while test kept by control_flow needs statements of its '
                'own')
        body = self.lower_block(node.body)
        self.emit(gast.While(test=test, body=body, orelse=[]), node)
        return False

    def visit_With(self, node):
        """Keep a with statement whose context managers only change
        warning or floating-point error settings; see BOOKKEEPING_CONTEXTS."""
        items = []
        for item in node.items:
            manager = item.context_expr
            callee = (self.global_object(manager.func)
                      if isinstance(manager, gast.Call) else None)
            if not any(callee is c for c in BOOKKEEPING_CONTEXTS):
                raise UnsupportedSyntaxError(
                    'a with statement whose context manager is not '
                    'np.errstate or warnings.catch_warnings',
                    self.source.location(manager),
                    'only context managers that change warning or error '
                    'settings can run around differentiated code',
                    fixes=['move the with statement outside the '
                           'differentiated function'])
            lowered = self.lower_expression(manager)
            target = None
            if isinstance(item.optional_vars, gast.Name):
                target = _store(self.new_version(item.optional_vars.id))
            elif item.optional_vars is not None:
                raise self.unsupported_target(item.optional_vars)
            items.append(gast.withitem(context_expr=lowered,
                                       optional_vars=target))
        if jumps(node.body):
            # control_flow has turned returns into assignments already.
            raise UnsupportedSyntaxError(
                'a break or continue inside a with statement',
                self.source.location(node),
                fixes=['set a flag in the with statement and break after '
                       'it'])
        body = self.lower_block(node.body)
        self.emit(gast.With(items=items, body=body, type_comment=None), node)
        return False

    def visit_For(self, node):
        view_loop = self.lower_dict_view_loop(node)
        over_keys = view_loop is not node
        node = self.unpack_in_body(view_loop)
        target = node.target
        if isinstance(target, gast.Name):
            names = [target.id]
        elif isinstance(target, (gast.Tuple, gast.List)) and all(
                isinstance(e, gast.Name) for e in target.elts):
            names = [e.id for e in target.elts]
        else:
            raise UnsupportedSyntaxError(
                'a for loop target other than a name or a tuple of names',
                self.source.location(target))
        self.local_names.update(names)
        iterable = self.lower_iterable(node.iter, len(names))
        body = self.lower_block(node.body)
        if len(names) == 1 and isinstance(target, gast.Name):
            new_target = _store(names[0])
        else:
            new_target = gast.copy_location(gast.Tuple(
                elts=[_store(n) for n in names], ctx=gast.Store()), target)
        loop = self.emit(gast.For(target=new_target, iter=iterable,
                                  body=body, orelse=[], type_comment=None),
                         node)
        if over_keys:
            self.key_loops.add(loop)
        return False

    def unpack_in_body(self, node):
        """`for a, b in pairs: body` -> `for item in pairs: a, b = item; body`.

        Loops over range, enumerate, zip and reversed keep their targets,
        which the reverse stage matches with the iterables, when each item
        has one value per target (`for a, b in reversed(pairs)` does not).
        """
        target = node.target
        iterable = node.iter
        if not isinstance(target, (gast.Tuple, gast.List)):
            return node
        if (isinstance(iterable, gast.Call)
                and not any(isinstance(e, gast.Starred) for e in target.elts)
                and not any(isinstance(a, gast.Starred) for a in iterable.args)
                and isinstance(iterable.func, gast.Name)
                and iterable.func.id in ITERATION_BUILTINS
                and _item_size(iterable.func.id, iterable.args)
                in (None, len(target.elts))):
            return self.unpack_nested_targets(node)
        item = self.namer.fresh('item')
        unpack = gast.copy_location(gast.Assign(
            targets=[target], value=_load(item), type_comment=None), target)
        loop = gast.For(target=_store(item), iter=iterable,
                        body=[unpack] + list(node.body), orelse=[],
                        type_comment=None)
        return gast.copy_location(loop, node)

    def unpack_nested_targets(self, node):
        """`for i, (a, b) in enumerate(pairs): body` ->
        `for i, item in enumerate(pairs): a, b = item; body`."""
        elements = []
        unpacks = []
        for element in node.target.elts:
            if isinstance(element, (gast.Tuple, gast.List)):
                item = self.namer.fresh('item')
                elements.append(_store(item))
                unpacks.append(gast.copy_location(gast.Assign(
                    targets=[element], value=_load(item), type_comment=None),
                    element))
            else:
                elements.append(element)
        if not unpacks:
            return node
        loop = gast.For(target=gast.Tuple(elts=elements, ctx=gast.Store()),
                        iter=node.iter, body=unpacks + list(node.body),
                        orelse=node.orelse, type_comment=None)
        return gast.copy_location(loop, node)

    def lower_dict_view_loop(self, node):
        """Loop over a dict's keys instead of d.items(), d.values(), d.keys().

        `for k, v in d.items(): body` becomes `for k in d: v = d[k]; body`, so
        each value is a subscript of d, which the reverse stage differentiates.
        """
        call = node.iter
        if not (isinstance(call, gast.Call) and not call.args
                and not call.keywords and isinstance(call.func, gast.Attribute)
                and call.func.attr in ('items', 'values', 'keys')):
            return node
        view = call.func.attr
        target = node.target
        if view == 'items' and not (isinstance(target, (gast.Tuple, gast.List))
                                    and len(target.elts) == 2):
            return node
        mapping = self.atomize(call.func.value)
        if view == 'keys':
            key_target, value_target = target, None
        elif view == 'values':
            key_target = _store(self.namer.temporary())
            self.local_names.add(key_target.id)
            value_target = target
        else:
            key_target, value_target = target.elts
        body = list(node.body)
        if value_target is not None:
            key = _load(key_target.id) if isinstance(key_target, gast.Name) \
                else None
            if key is None:
                return node
            read = gast.Subscript(value=copy_tree(mapping), slice=key,
                                  ctx=gast.Load())
            assign = gast.Assign(targets=[value_target], value=read,
                                 type_comment=None)
            body.insert(0, gast.copy_location(assign, node))
        loop = gast.For(target=key_target, iter=mapping, body=body, orelse=[],
                        type_comment=None)
        return gast.copy_location(loop, node)

    def lower_iterable(self, node, count):
        """Keep range/enumerate/zip/reversed calls visible when the loop
        has `count` targets, one for each value an item of the call has;
        atomize the rest (see `lower_iterated_items`)."""
        if self.is_iteration_call(node) and \
                _item_size(node.func.id, node.args) in (None, count):
            keywords = [gast.keyword(arg=k.arg, value=self.atomize(k.value))
                        for k in node.keywords]
            return gast.copy_location(gast.Call(
                func=_load(node.func.id),
                args=[self.atomize(a) for a in node.args],
                keywords=keywords), node)
        return self.atomize(node)

    def is_iteration_call(self, node):
        """True for a call of a built-in in ITERATION_BUILTINS with no
        unpacking and no keywords but zip's strict= and enumerate's
        start=."""
        return (isinstance(node, gast.Call)
                and isinstance(node.func, gast.Name)
                and node.func.id in ITERATION_BUILTINS
                and node.func.id not in self.local_names
                and self.source.namespace.get(node.func.id)
                is ITERATION_BUILTINS[node.func.id]
                and {k.arg for k in node.keywords}
                <= _ITERATION_KEYWORDS.get(node.func.id, set())
                and not any(isinstance(a, gast.Starred) for a in node.args))

    def visit_Break(self, node):
        self.emit(gast.Break(), node)
        return False

    def lower_IfExp(self, node):
        result = self.namer.temporary()
        self.local_names.add(result)
        self.name_in_errors(result, node)
        test = self.condition(node.test, [])
        body = self.lower_block([gast.copy_location(gast.Assign(
            targets=[_store(result)], value=node.body, type_comment=None),
            node.body)])
        orelse = self.lower_block([gast.copy_location(gast.Assign(
            targets=[_store(result)], value=node.orelse, type_comment=None),
            node.orelse)])
        branch = self.emit(gast.If(test=test, body=body, orelse=orelse),
                           node)
        self.expression_branches[branch] = describe(node)
        return _load(result)

    def lower_BoolOp(self, node):
        # a and b: the value of a if it is false, else the value of b.
        result = self.namer.temporary()
        self.local_names.add(result)
        self.name_in_errors(result, node)
        first, *others = node.values
        self.emit(gast.Assign(targets=[_store(result)],
                              value=self.lower_expression(first),
                              type_comment=None), first)
        self.lower_bool_rest(result, node.op, others, node)
        return _load(result)

    def name_in_errors(self, result, node):
        """Let errors show `result` as the source text of `node`. The name
        is not added to the temporaries, because it is assigned in more
        than one branch."""
        text = self.source.text_of(node)
        if text:
            self.display_names[result] = text

    def lower_bool_rest(self, result, op, values, origin):
        if not values:
            return
        test = self.bind(_load(result), origin)
        outer = self.body
        self.body = []
        try:
            value, *others = values
            self.emit(gast.Assign(targets=[_store(result)],
                                  value=self.lower_expression(value),
                                  type_comment=None), value)
            self.lower_bool_rest(result, op, others, origin)
            evaluated = self.body
        finally:
            self.body = outer
        if isinstance(op, gast.And):
            branch = gast.If(test=test, body=evaluated, orelse=[])
        else:
            branch = gast.If(test=test, body=[], orelse=evaluated)
        self.emit(branch, origin)
        self.expression_branches[branch] = describe(origin)

    def escaping_reads(self, statement):
        """Names a statement reads in a way that may keep a reference to them."""
        value = getattr(statement, 'value', None)
        if isinstance(value, (gast.BinOp, gast.UnaryOp, gast.Compare)):
            return []
        if isinstance(value, gast.Call) and self.returns_new_object(value):
            return []
        if isinstance(value, gast.Attribute) and value.attr in _METADATA:
            return []  # n = x.shape
        if (isinstance(value, gast.Call)
                and isinstance(value.func, gast.Attribute)
                and isinstance(value.func.value, gast.Name)
                and value.func.attr in _VALUE_METHODS
                and not any(k.arg in ('out', None) for k in value.keywords)):
            # s = x.sum(axis): a new value; only the arguments may escape.
            return [n.id for argument in value.args + value.keywords
                    for n in walk(argument) if isinstance(n, gast.Name)
                    and isinstance(n.ctx, gast.Load)]
        if isinstance(statement, gast.Assign) and all(
                isinstance(t, gast.Subscript) for t in statement.targets):
            # `c[i] = v` keeps a reference to v (in a list or dict), not
            # to c or to the index.
            return [n.id for n in walk(value)
                    if isinstance(n, gast.Name)
                    and isinstance(n.ctx, gast.Load)]
        return [n.id for n in walk(statement)
                if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)]

    def returns_new_object(self, value):
        """True if `value` always makes a new object: arithmetic, new arrays."""
        if isinstance(value, (gast.BinOp, gast.UnaryOp, gast.Compare,
                              gast.Constant, gast.List, gast.Dict)):
            return True
        if (isinstance(value, gast.Call) and not value.args
                and not value.keywords
                and isinstance(value.func, gast.Attribute)
                and value.func.attr == 'copy'
                and isinstance(value.func.value, gast.Name)
                and value.func.value.id in self.local_names):
            return True  # x.copy() of an array, a list or a dict.
        if (isinstance(value, gast.Call)
                and isinstance(value.func, gast.Attribute)
                and value.func.attr == 'flatten'
                and isinstance(value.func.value, gast.Name)
                and value.func.value.id in self.local_names
                and not any(k.arg in ('out', None) for k in value.keywords)):
            return True  # x.flatten() of an array always copies.
        if not isinstance(value, gast.Call) or not self.is_global_reference(
                value.func):
            return False
        callee = self.source.namespace
        parts = []
        node = value.func
        while isinstance(node, gast.Attribute):
            parts.append(node.attr)
            node = node.value
        try:
            callee = callee[node.id]
            for attr in reversed(parts):
                callee = getattr(callee, attr)
        except (KeyError, AttributeError):
            return False
        if any(k.arg == 'out' or (k.arg == 'copy' and not (
                isinstance(k.value, gast.Constant) and k.value.value is True))
               for k in value.keywords):
            return False  # np.array(y, copy=False) may return y itself.
        if isinstance(callee, np.ufunc):
            return True
        if isinstance(callee, types.BuiltinFunctionType) and callee.__self__ \
                is math:
            return True
        return any(callee is f for f in runtime.NEW_ARRAY_FUNCTIONS) or any(
            callee is f for f in operators.NEW_VALUE_OPERATORS)

    def returns_view(self, value):
        """True if `value` calls a NumPy function that returns its first
        argument or a view of it and keeps no other reference to it."""
        if not isinstance(value, gast.Call) or any(
                k.arg in ('out', None) for k in value.keywords):
            return False
        node, parts = value.func, []
        while isinstance(node, gast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, gast.Name) or node.id in self.local_names:
            return False
        callee = self.source.namespace.get(node.id)
        for attr in reversed(parts):
            callee = getattr(callee, attr, None)
        return any(callee is f for f in runtime.VIEW_FUNCTIONS)

    def dynamic_callee(self, value):
        """Return `r.method` for `value` = `r.method(...)`, a call of a method
        of a local value r (such as xp.sum), whose callee is known only when
        it runs; else None."""
        if not (isinstance(value, gast.Call)
                and isinstance(value.func, gast.Attribute)
                and isinstance(value.func.value, gast.Name)
                and not self.is_global_reference(value.func.value)):
            return None
        if any(k.arg in ('out', None) for k in value.keywords) or any(
                isinstance(a, gast.Starred) for a in value.args):
            return None
        return value.func

    def visit_statement(self, node):
        """Lower one statement; return True when it was a `return`."""
        hoisted = _hoist_named_expressions(node)
        if hoisted is not None:
            assignments, node = hoisted
            for assignment in assignments:
                self.visit_statement(assignment)
        method = getattr(self, 'visit_' + type(node).__name__, None)
        if method is None:
            self.keep_verbatim(node, self.unsupported(node))
            return False
        if isinstance(node, gast.Return):
            return method(node)
        length, current = len(self.body), dict(self.current)
        try:
            return method(node)
        except UnsupportedSyntaxError as err:
            # Undo what the failed lowering emitted, then keep it as written.
            del self.body[length:]
            self.current = current
            self.keep_verbatim(node, err)
            return False

    def keep_verbatim(self, node, error):
        """Emit `node` as written, for the activity stage to check."""
        for child in walk(node):
            if isinstance(child, _NEVER_VERBATIM) or (
                    isinstance(child, (gast.Break, gast.Continue))
                    and _leaves_loop(node, child)):
                raise error
        # Inner functions are inlined, so the generated code never defines
        # them and a statement that reads one could not run as written.
        # A recursive call of an inner function fails here.
        if any(isinstance(child, gast.Name) and child.id in self.functions
               and isinstance(child.ctx, gast.Load) for child in walk(node)):
            raise error
        written_global = next((child for child in walk(node)
                               if isinstance(child, gast.Name)
                               and child.id in self.global_writes), None)
        if written_global is not None:
            raise UnsupportedSyntaxError(
                f'the global variable {written_global.id!r}, which the '
                f'function assigns, inside {describe(node)}',
                self.source.location(written_global),
                'adcompiler keeps this statement as written, and such a '
                'statement reads globals as constants',
                fixes=[f'read or assign {written_global.id} in a statement '
                       'of its own before or after it'])
        statement = copy_tree(node)
        wrapped = verbatim.keep(statement, error, self.local_names)
        if wrapped.writes and self.single_assignment:
            raise _VerbatimAssigns()
        for name in wrapped.reads:
            name.id = self.current.get(name.id, name.id)
        if isinstance(node, gast.With):
            wrapped.fresh = self.new_file_targets(node)
        self.emit(wrapped, node)

    def new_file_targets(self, node):
        """Return the names that the with statement `node` binds to a new
        file object (`with open(path) as log:`, io.StringIO, io.BytesIO)
        and assigns nowhere else in it, so that no other name refers to
        their objects."""
        stores = collections.Counter(
            child.id for child in walk(node)
            if isinstance(child, gast.Name)
            and isinstance(child.ctx, gast.Store))
        fresh = set()
        for item in node.items:
            manager, target = item.context_expr, item.optional_vars
            if not (isinstance(manager, gast.Call)
                    and isinstance(target, gast.Name)
                    and stores[target.id] == 1):
                continue
            callee = self.global_object(manager.func)
            if any(callee is c for c in NEW_FILE_CONTEXTS):
                fresh.add(target.id)
        return frozenset(fresh)

    def visit_Expr(self, node):
        value = node.value
        if isinstance(value, gast.Constant):
            return False  # A docstring or a bare constant does nothing.
        if not isinstance(value, gast.Call):
            raise self.unsupported(value, _CONSTRUCT_REASONS.get(
                type(value).__name__,
                'only a call can stand alone as a statement'))
        if isinstance(value.func, gast.Attribute) and value.func.attr == 'pop':
            # The popped value is kept, so that the adjoint can put it back.
            self.atomize(value)
            return False
        if self.appends_outside(value):
            self.append_outside(value, node)
            return False
        if self.extends_itself(value):
            # `lst.extend(lst)` adds the items lst had before the call. The
            # adjoint reads what was added after the call, so it gets a copy.
            copy = gast.Call(func=gast.Attribute(
                value=value.args[0], attr='copy', ctx=gast.Load()),
                args=[], keywords=[])
            value = gast.copy_location(gast.Call(
                func=value.func, args=[copy], keywords=[]), value)
        lowered = self.lower_value(value)
        if isinstance(lowered, closures.InnerFunction) or self.is_atom(
                lowered):
            return False  # An inlined call: its statements are emitted.
        self.emit(gast.Expr(value=lowered), node)
        return False

    def appends_outside(self, call):
        """True for `obj.items.append(v)` or `obj.items.extend(v)`: a list
        update of a container that an attribute holds. Like a store into
        one (`obj.cache[k] = v`, see `store_outside`), it is kept as
        written.

        Other list updates (insert, pop, remove) move the items that are
        there, so they are lowered as usual.
        """
        method = call.func
        if not (isinstance(method, gast.Attribute)
                and method.attr in ('append', 'extend')
                and isinstance(method.value, gast.Attribute)
                and len(call.args) == 1 and not call.keywords
                and not isinstance(call.args[0], gast.Starred)):
            return False
        root = method.value
        while isinstance(root, gast.Attribute):
            root = root.value
        return isinstance(root, gast.Name)

    def append_outside(self, call, origin):
        """Emit `obj.items.append(v)` (or `.extend(v)`) as written, with
        the container read through `runtime.store_container`, which has no
        derivative. So a bookkeeping update
        (`self.log.append(step)`) runs in a differentiated method, and the
        activity stage rejects an update whose value carries a
        derivative."""
        method = call.func
        atom = self.atomize(call.args[0])
        text = self.source.text_of(method.value) or 'obj.attr'
        location = self.source.location(call)

        array_error = UnsupportedSyntaxError(
            f'{text}.{method.attr}(...) on an array stored in an attribute',
            location,
            f'an array has no {method.attr} method that changes it in place',
            fixes=[f'keep a list in {text}'])
        # Items are only added at the end, so the derivative of each item
        # that the list held stays at its position (see
        # `Dispatcher.attribute_tangent`).
        container = self.bind(gast.Call(
            func=self.constant('store_container', runtime.store_container),
            args=[self.atomize(method.value),
                  self.constant('store_error', array_error)],
            keywords=[]), origin)

        update = gast.Call(
            func=gast.Attribute(value=container, attr=method.attr,
                                ctx=gast.Load()),
            args=[atom], keywords=[])
        error = UnsupportedSyntaxError(
            f'adding a value that carries a derivative to {text} '
            f'({text}.{method.attr}(...))',
            location,
            'adcompiler follows derivatives only through local containers, '
            'so code that reads the item back would get no derivative',
            fixes=['collect the values in a local list, or return them',
                   f'{method.attr} adcompiler.stop_gradient(...) to keep a '
                   'copy without a derivative (for logging)'])
        statement = gast.Expr(value=gast.copy_location(update, call))
        self.keep_verbatim(gast.copy_location(statement, origin), error)

    def extends_itself(self, call):
        """Return whether `call` is `lst.extend(lst)` on a name that always
        refers to a list (or a tuple or a dict, which have no extend method)."""
        method = call.func
        return (isinstance(method, gast.Attribute) and method.attr == 'extend'
                and isinstance(method.value, gast.Name)
                and len(call.args) == 1 and not call.keywords
                and isinstance(call.args[0], gast.Name)
                and call.args[0].id == method.value.id
                and self.object_names.get(method.value.id) == {_CONTAINER})

    def visit_Pass(self, node):
        return False

    def visit_Assert(self, node):
        test = self.atomize(node.test)
        msg = self.atomize(node.msg) if node.msg is not None else None
        self.emit(gast.Assert(test=test, msg=msg), node)
        return False

    def visit_Return(self, node):
        if node.value is None:
            value = gast.Constant(value=None, kind=None)
        else:
            value = self.lower_argument(node.value)
        if isinstance(value, closures.InnerFunction):
            raise UnsupportedSyntaxError(
                f'returning an inner function or lambda from '
                f'{self.tree.name}, which adcompiler compiles on its own',
                self.source.location(node.value),
                'a function value cannot carry the gradients of the values '
                'it captures; adcompiler inlines a function that returns one '
                'only where a caller in the same module calls it',
                fixes=[f'define {self.tree.name} in the module that calls it',
                       'pass the captured values as arguments to the '
                       'returned function'])
        self.emit(gast.Return(value=value), node)
        return True

    def visit_Assign(self, node):
        first, *others = node.targets
        if (not others and isinstance(first, gast.Name)
                and partial_calls.is_partial_constructor(
                    node.value, self.global_object)
                and partial_calls.only_called(self.tree, first.id)):
            self.record_partial(first.id, node)
            return False
        value = self.lower_value(node.value)
        if isinstance(value, closures.InnerFunction):
            # f = lambda ... or f = make(w): f names a function to inline.
            if others or not isinstance(first, gast.Name):
                raise self.function_as_value(node.value)
            self.check_bound_once(first.id, node)
            self.functions[first.id] = value
            return False
        atom = self.assign(first, value, node)
        for target in others:
            self.assign(target, atom, node)
        return False

    def record_partial(self, name, node):
        """Record `name = functools.partial(f, ...)`, whose calls become
        calls of f. The bound values are evaluated here, as Python does,
        into temporaries that later assignments cannot change."""
        self.check_bound_once(name, node)
        function, *args = node.value.args
        if isinstance(function, gast.Name) and function.id in self.functions:
            function = copy_tree(function)
        elif not isinstance(function, gast.Lambda):
            function = self.atomize(function)
        atoms = [self.partial_atom(arg) for arg in args]
        keywords = [(k.arg, self.partial_atom(k.value))
                    for k in node.value.keywords]
        self.partials[name] = partial_calls.LocalPartial(function, atoms,
                                                         keywords)

    def partial_atom(self, node):
        atom = self.atomize(node)
        if isinstance(atom, gast.Name) and atom.id not in self.temporaries:
            atom = self.bind(atom, node)
        return atom

    def visit_AugAssign(self, node):
        if isinstance(node.target, gast.Name) and \
                node.target.id in self.global_writes:
            node = gast.copy_location(gast.AugAssign(
                target=self.global_item(node.target, gast.Store()),
                op=node.op, value=node.value), node)
        if isinstance(node.target, gast.Subscript):
            # x[i] += v reads x[i], adds, and writes the sum back. Python
            # evaluates the index once, before the right side, so the read
            # and the store share its atoms.
            rebound = self.names_rebound_by(node.value)
            container = node.target.value
            if isinstance(container, gast.Name) and container.id in rebound:
                raise UnsupportedSyntaxError(
                    f'augmented assignment to an item of {container.id!r}, '
                    'which the right side assigns again',
                    self.source.location(node),
                    'Python updates the object that the name referred to '
                    'before the right side ran',
                    fixes=[f'compute the right side into a variable first, '
                           f'then update {container.id}'])
            index = self.evaluate_index(node.target.slice, rebound)
            read = gast.Subscript(value=container, slice=index,
                                  ctx=gast.Load())
            gast.copy_location(read, node.target)
            binop = gast.copy_location(
                gast.BinOp(left=read, op=node.op, right=node.value), node)
            value = self.atomize(binop)
            self.check_item_update(node, self.body[-1])
            store = gast.Subscript(value=container, slice=copy_tree(index),
                                   ctx=gast.Store())
            self.assign(gast.copy_location(store, node.target), value, node)
            return False
        if not isinstance(node.target, gast.Name):
            text = self.source.text_of(node.target) or 'obj.attr'
            raise UnsupportedSyntaxError(
                'augmented assignment to an attribute',
                self.source.location(node.target),
                'adcompiler does not follow derivatives through attributes '
                'that the function sets, so it runs such a statement only on '
                'an object that carries no derivative',
                fixes=['keep a counter in a global variable (`global CALLS` '
                       'and `CALLS += 1`) or in a variable of an enclosing '
                       'function (`nonlocal`)',
                       f'or compute the new value of {text} in a local '
                       'variable, and return it'])
        if node.target.id in self.extended_lists:
            # lst += v on a list extends it in place, as Python does.
            extend = gast.Attribute(value=_load(node.target.id),
                                    attr='extend', ctx=gast.Load())
            call = gast.Call(func=gast.copy_location(extend, node.target),
                             args=[node.value], keywords=[])
            return self.visit_Expr(gast.copy_location(
                gast.Expr(value=gast.copy_location(call, node)), node))
        version = self.current.get(node.target.id, node.target.id)
        # Lowering the right side may read x into a temporary view
        # (`x += x[::-1].copy()`), which removes x from `unshared` although
        # the view dies with the statement.
        unshared_before = version in self.unshared
        start = len(self.body)
        load = gast.Name(id=node.target.id, ctx=gast.Load(), annotation=None,
                         type_comment=None)
        gast.copy_location(load, node.target)
        binop = gast.copy_location(
            gast.BinOp(left=load, op=node.op, right=node.value), node)
        value = self.lower_expression(binop)
        self.assign(node.target, value, node)
        # A parameter of an inlined function that still refers to the
        # caller's object: Python updates that object in place.
        caller_object = self.caller_objects.get(node.target.id) == version
        unshared = not caller_object and (version in self.unshared or (
            unshared_before and self.reads_only_values(node)))
        in_place_safe = not caller_object and (
            node.target.id in self.number_counters or (
                isinstance(node.op, (gast.BitOr, gast.Mult, gast.Add))
                and node.target.id in self.private_containers))
        if not unshared and not in_place_safe:
            # x may be an array that another name (or the caller) also sees,
            # which Python would update in place: the generated code checks,
            # before the update, that x holds a number or another value that
            # cannot change in place.
            symbol = _OPERATOR_SYMBOLS.get(type(node.op), '+')
            shown = self.display_names.get(node.target.id, node.target.id)
            error = UnsupportedSyntaxError(
                f'augmented assignment to {shown!r}, which contains '
                'an array or another value that changes in place',
                self.source.location(node),
                'Python updates it in place, and another name (or the '
                'caller) may see that', fixes=[
                    f'if {shown} is part of another array (a view '
                    f'such as {shown} = y[1:3]) that must change '
                    'too, update that array by index instead '
                    f'(y[1:3] {symbol}= ...)',
                    f'or, if no other name needs the change, write '
                    f'{shown} = {shown} {symbol} ... to '
                    'make a new value'])
            self.immutable_checks[self.body[start]] = (
                version, error, self.unshared_if_new.get(version, ()))
        return False

    def names_rebound_by(self, node):
        """Return the local names that evaluating `node` may assign.

        When `node` refers to an inner function, these are all the names
        that inner functions declare nonlocal. An assignment expression
        (:=) in `node` is moved out before the statement or rejected (see
        _hoist_named_expressions), so it assigns nothing here.
        """
        rebound = set()
        if any(isinstance(n, gast.Name) and n.id in self.functions
               for n in walk(node)):
            for function in self.functions.values():
                rebound.update(name for n in walk(function.node)
                               if isinstance(n, gast.Nonlocal)
                               for name in n.names)
        return rebound

    def evaluate_index(self, node, rebound):
        """Evaluate the parts of the index `node` of a subscript target
        and return the index with atoms in their place.

        A part that is a name stays a name, so that the read and the store
        look the same, unless it is in `rebound`: then it is copied to a
        temporary that keeps the value it has now.
        """
        if isinstance(node, gast.Slice):
            parts = [None if part is None
                     else self.evaluate_index(part, rebound)
                     for part in (node.lower, node.upper, node.step)]
            return gast.copy_location(gast.Slice(*parts), node)
        if isinstance(node, gast.Tuple):
            elements = [self.evaluate_index(element, rebound)
                        for element in node.elts]
            return gast.copy_location(
                gast.Tuple(elts=elements, ctx=gast.Load()), node)
        if isinstance(node, gast.Constant) or (
                isinstance(node, gast.Name) and node.id not in rebound
                and node.id not in self.functions):
            return node
        atom = self.atomize(node)
        if isinstance(atom, gast.Name) and atom.id not in self.temporaries:
            atom = self.bind(atom, node)
        return atom

    def reads_only_values(self, node):
        """True if the right side of `x op= v` reads x only in ways that
        keep no reference to it after the statement (see `_consumed`)."""
        parents = {}
        for parent in walk(node):
            for child in child_nodes(parent):
                parents[child] = parent
        return all(_consumed(n, parents, self) for n in walk(node.value)
                   if isinstance(n, gast.Name) and n.id == node.target.id
                   and isinstance(n.ctx, gast.Load))

    def check_item_update(self, node, addition):
        """Check at run time, before `addition` (`s = item + v` lowered from
        `c[i] += v`), that the item cannot change in place, unless c is an
        array. Python would update an array item of a list or a dict in
        place, so another name that refers to it would change too, while
        the lowered `c[i] = s` stores a new object. A container whose items
        are all new arrays that no other name refers to needs no check."""
        container = node.target.value
        if (not self.inlining and isinstance(container, gast.Name)
                and container.id in self.fresh_item_containers):
            return
        value = addition.value
        # `item + v`, or the protocol call normalize wrote for an operand
        # that may be an object (see adcompiler.object_operands).
        item = value.left if isinstance(value, gast.BinOp) else value.args[0]
        read = next(s for s in reversed(self.body)
                    if isinstance(s, gast.Assign)
                    and isinstance(s.targets[0], gast.Name)
                    and s.targets[0].id == item.id)
        # `c[i]`, or the protocol call for a `c` that may be an object.
        subscripted = (read.value.value
                       if isinstance(read.value, gast.Subscript)
                       else read.value.args[0])
        if not isinstance(subscripted, gast.Name):
            return  # A constant container, such as a tuple display.
        text = self.source.text_of(node.target) or 'c[i]'
        symbol = _OPERATOR_SYMBOLS.get(type(node.op), '+')
        error = UnsupportedSyntaxError(
            f'augmented assignment to {text!r}, an item that is an array or '
            'another value that changes in place',
            self.source.location(node),
            'Python updates that item in place, and another name may refer '
            'to it, which the gradient would not follow. Write '
            f'{text} = {text} {symbol} ... to store a new object instead')
        self.immutable_checks[addition] = (item.id, error, (),
                                           subscripted.id)

    def assign(self, target, value, origin):
        """Emit `target = value` for a name or a (nested) tuple of names.

        Returns an atom that contains the assigned value.
        """
        if isinstance(target, gast.Name) and target.id in self.global_writes:
            return self.store_outside(
                self.global_item(target, gast.Store()), value, origin)
        if isinstance(target, gast.Name):
            if not self.single_assignment and target.id in _loaded(value):
                # x = x + y: keep the old x readable by the adjoint of the
                # addition, which runs after x is overwritten.
                value = self.bind(value, origin)
            name = self.new_version(target.id)
            self.emit(gast.Assign(targets=[_store(name)], value=value,
                                  type_comment=None), origin)
            self.record_display(name, value)
            if self.single_assignment and self.returns_new_object(value):
                self.unshared.add(name)
            elif self.single_assignment and self.dynamic_callee(value):
                self.unshared_if_new[name] = (
                    copy_tree(self.dynamic_callee(value)),)
            return _load(name)
        if isinstance(target, (gast.Tuple, gast.List)) and any(
                isinstance(element, gast.Starred) for element in target.elts):
            return patterns.assign_starred(self, target, value, origin)
        if isinstance(target, (gast.Tuple, gast.List)):
            atom = value if self.is_atom(value) else self.bind(value, origin)
            stored = {node.id for node in walk(target)
                      if isinstance(node, gast.Name)}
            if not self.single_assignment and stored & set(_loaded(atom)):
                # p, s = p: as for x = x + y, the adjoint of the unpacking
                # reads the old p after p is overwritten.
                atom = self.bind(atom, origin)
            # Python stores the targets from left to right, so in
            # `lst[i], i = v, 2` the store into lst reads the old i. A name
            # after a nested or subscript target is therefore unpacked into
            # a temporary too and bound when its turn comes.
            names = []
            nested = []
            for element in target.elts:
                if isinstance(element, gast.Name) and not nested:
                    names.append(self.new_version(element.id))
                elif isinstance(element, gast.Name):
                    temporary = self.namer.temporary()
                    self.local_names.add(temporary)
                    self.temporaries.add(temporary)
                    names.append(temporary)
                    nested.append((element, temporary))
                elif isinstance(element, (gast.Tuple, gast.List,
                                          gast.Subscript)):
                    # Unpacked into a temporary, then assigned on its own.
                    temporary = self.namer.temporary()
                    self.local_names.add(temporary)
                    self.temporaries.add(temporary)
                    names.append(temporary)
                    nested.append((element, temporary))
                else:
                    raise self.unsupported_target(element)
            unpack = gast.Tuple(elts=[_store(n) for n in names],
                                ctx=gast.Store())
            self.emit(gast.Assign(targets=[unpack], value=atom,
                                  type_comment=None), origin)
            for element, temporary in nested:
                self.assign(element, _load(temporary), origin)
            return atom
        if isinstance(target, gast.Subscript) and isinstance(
                target.value, gast.Name) and target.value.id in self.written:
            atom = value if self.is_atom(value) else self.bind(value, origin)
            store = gast.Subscript(value=_load(target.value.id),
                                   slice=self.lower_index(target.slice),
                                   ctx=gast.Store())
            gast.copy_location(store, target)
            self.emit(gast.Assign(targets=[store], value=atom,
                                  type_comment=None), origin)
            return atom
        if isinstance(target, gast.Subscript) and self.stores_outside(
                target):
            return self.store_outside(target, value, origin)
        if isinstance(target, gast.Attribute):
            # obj.attr = value: the value is computed as usual and the store
            # kept as written, which the activity stage rejects if the
            # stored value carries a derivative.
            atom = value if self.is_atom(value) else self.bind(value, origin)
            store = gast.Assign(targets=[copy_tree(target)], value=atom,
                                type_comment=None)
            error = UnsupportedSyntaxError(
                'assignment to an attribute (obj.attr = ...)',
                self.source.location(target),
                'adcompiler does not follow derivatives through attributes '
                'that the function sets, so code that reads the attribute '
                'back would get no derivative',
                fixes=['keep the value in a local variable, or return it',
                       'store adcompiler.stop_gradient(value) to keep a '
                       'copy without a derivative (for logging)'])
            self.keep_verbatim(gast.copy_location(store, origin), error)
            return atom
        raise self.unsupported_target(target)

    def store_outside(self, target, value, origin):
        """Emit `c[k] = value` for a container `c` held by a global or an
        attribute, kept as written, and return the value's atom.

        The activity stage rejects the store if the key or the value
        carries a derivative. The container is read through
        `runtime.store_container`, which has no derivative, so that a
        bookkeeping store into a model that is differentiated
        (`model.cache[k] = x.shape`) runs. It raises for an ndarray,
        because an adjoint may read that array after the store changed it
        in place.
        """
        atom = value if self.is_atom(value) else self.bind(value, origin)
        text = self.source.text_of(target) or 'c[k]'
        container_text = self.source.text_of(target.value) or 'c'
        location = self.source.location(target)
        array_error = UnsupportedSyntaxError(
            f'the store {text} = ... into an array that a global or an '
            'attribute holds', location,
            f'it changes {container_text} in place, and the derivative may '
            f'read {container_text} after the store',
            fixes=[f'build a new array from {container_text} in a local '
                   'variable, or pass the array in as an argument'])
        local = self.local_attribute_base(target)
        if local is not None:
            array_error = UnsupportedSyntaxError(
                f'the store {text} = ... through {container_text}, an '
                f'attribute of the local variable {local}', location,
                f'it changes {local} in place through a view, which '
                'adcompiler does not follow',
                fixes=[f'write with np.put({local}, indices, v), which '
                       'takes flat indices as .flat does, or with an index '
                       f'({local}[i] = v)'])
        index = self.lower_index(target.slice)
        if self.is_global_root(target.value):
            container = self.bind(gast.Call(
                func=self.constant('store_container',
                                   runtime.store_container),
                args=[self.atomize(target.value),
                      self.constant('store_error', array_error)],
                keywords=[]), origin)
        else:
            item_error = UnsupportedSyntaxError(
                f'the store {text} = ..., which replaces an item that may '
                'carry a derivative', location,
                f'adcompiler builds the derivative of {container_text} '
                'from its items before the store, so a later read of the '
                'item would get the derivative of the replaced value',
                fixes=[f'store the value under a new key of '
                       f'{container_text}',
                       'or keep the value in a local variable, or return '
                       'it'])
            container = self.bind(gast.Call(
                func=self.constant('store_item_container',
                                   runtime.store_item_container),
                args=[self.atomize(target.value), self.index_as_value(index),
                      self.constant('store_error', array_error),
                      self.constant('item_error', item_error)],
                keywords=[]), origin)
        store = gast.Subscript(value=container, slice=index,
                               ctx=gast.Store())
        statement = gast.Assign(targets=[gast.copy_location(store, target)],
                                value=atom, type_comment=None)
        error = UnsupportedSyntaxError(
            f'storing a value that carries a derivative into {text}',
            location,
            'adcompiler follows derivatives only through local containers, '
            'so code that reads the item back would get no derivative',
            fixes=['keep the value in a local variable, or return it',
                   f'store adcompiler.stop_gradient(...) in {text} to keep '
                   'a copy without a derivative (for logging)'])
        self.keep_verbatim(gast.copy_location(statement, origin), error)
        return atom

    def unsupported_target(self, target):
        if isinstance(target, gast.Subscript):
            construct = 'assignment to a subscript (x[i] = ...)'
        elif isinstance(target, gast.Attribute):
            construct = 'assignment to an attribute (obj.attr = ...)'
        else:
            construct = describe(target) + ' as an assignment target'
        fixes = ()
        if isinstance(target, gast.Starred):
            fixes = ['unpack by index: for `a, *rest = v`, write '
                     '`a = v[0]` and `rest = list(v[1:])`']
        return UnsupportedSyntaxError(construct, self.source.location(target),
                                      fixes=fixes)

    def new_version(self, user_name):
        """Return the name the next assignment to `user_name` writes."""
        if not self.single_assignment:
            self.current[user_name] = user_name
            self.local_names.add(user_name)
            return user_name
        if user_name in self.current:
            name = self.namer.fresh(user_name)
            self.display_names[name] = user_name
        else:
            name = user_name
            self.namer.reserve(name)
        self.current[user_name] = name
        self.local_names.add(name)
        return name

    def check_written_arrays(self):
        """Collect the names updated with x[i] = v; aliasing checks their uses."""
        written = set()
        for node in walk(self.tree):
            if isinstance(node, (gast.Assign, gast.AugAssign)):
                targets = (node.targets if isinstance(node, gast.Assign)
                           else [node.target])
                # Nested and starred targets too: (a, d[k]), *c[j] = ...
                pending = list(targets)
                while pending:
                    element = pending.pop()
                    if isinstance(element, (gast.Tuple, gast.List)):
                        pending.extend(element.elts)
                    elif isinstance(element, gast.Starred):
                        pending.append(element.value)
                    elif isinstance(element, gast.Subscript) and \
                            not self.stores_outside(element):
                        written.add(self.written_base(element))
        return written

    def stores_outside(self, target):
        """True if the subscript `target` stores into a container that a
        global or an attribute refers to (`CACHE[k] = v`,
        `self.cache[k] = v`). Such a store is kept as written (see
        `store_outside`)."""
        base = target.value
        while isinstance(base, gast.Attribute):
            base = base.value
        if not isinstance(base, gast.Name):
            return False
        if target.value is not base:
            return True
        # A module global, not a parameter of an inlined inner function.
        return (base.id not in self.local_names
                and base.id not in {a.id for a in self.tree.args.args}
                and base.id in self.source.namespace)

    def local_attribute_base(self, target):
        """Return the name of the local variable or parameter `a` when the
        subscript `target` stores through an attribute of it
        (`a.flat[i] = v`), else None."""
        if not isinstance(target.value, gast.Attribute):
            return None
        base = target.value
        while isinstance(base, gast.Attribute):
            base = base.value
        if not isinstance(base, gast.Name):
            return None
        if base.id in self.local_names or \
                base.id in {a.id for a in self.tree.args.args}:
            return base.id
        return None

    def written_base(self, target):
        base = target.value
        if isinstance(base, gast.Subscript):
            raise UnsupportedSyntaxError(
                'assignment into a subscript of a subscript (x[i][j] = ...)',
                self.source.location(target),
                'an item of a list or dict, or a part of an array taken by '
                'x[i], cannot be updated in place', fixes=[
                    'write x[i, j] = ... for an array',
                    'for an array stored in a list or dict (d[k][i] = ...), '
                    'update it through the name it was created with, or '
                    'store a new array (d[k] = new_array)'])
        if not isinstance(base, gast.Name) or base.id not in self.local_names \
                and base.id not in {a.id for a in self.tree.args.args}:
            owner = self.inner_function_with_parameter(base)
            if owner is not None:
                raise UnsupportedSyntaxError(
                    f'assignment into a subscript of {base.id!r}, a '
                    f'parameter of the inner function {owner}',
                    self.source.location(target),
                    'the update would change the caller\'s value in place',
                    fixes=[f'let {owner} return the new value and assign '
                           f'it where {owner} is called (a = {owner}(a, '
                           '...))'])
            raise UnsupportedSyntaxError(
                'assignment into a subscript of an attribute, a global or an '
                'expression', self.source.location(target),
                'only local arrays and parameters can be updated in place')
        return base.id

    def inner_function_with_parameter(self, base):
        """Return the name of an inner def or lambda of the function that
        has a parameter named like `base`, or None."""
        if not isinstance(base, gast.Name):
            return None
        for node in walk(self.tree):
            if node is self.tree or not isinstance(
                    node, (gast.FunctionDef, gast.Lambda)):
                continue
            arguments = node.args
            names = [a.id for a in arguments.posonlyargs + arguments.args
                     + arguments.kwonlyargs]
            if base.id in names:
                return getattr(node, 'name', 'lambda')
        return None

    # Expressions -----------------------------------------------------------

    def bind(self, value, origin):
        """Assign a non-atomic expression to a temporary; return its atom."""
        name = self.namer.temporary()
        self.local_names.add(name)
        self.temporaries.add(name)
        # Lowerings such as lower_sorted read temporaries in expressions
        # they build, which object_operands then judges.
        self.object_operands.note(name, value)
        text = self.source.text_of(origin)
        if text:
            self.display_names[name] = text
        self.emit(gast.Assign(targets=[_store(name)], value=value,
                              type_comment=None), origin)
        self.record_display(name, value)
        return _load(name)

    def atomize(self, node):
        """Lower `node` and return an atom for its value."""
        value = self.lower_value(node)
        if isinstance(value, closures.InnerFunction):
            raise self.function_as_value(node)
        if self.is_atom(value):
            return value
        return self.bind(value, node)

    def lower_value(self, node):
        """Lower `node`; an inner function or lambda gives its `InnerFunction`."""
        method = getattr(self, 'lower_' + type(node).__name__, None)
        if method is None:
            raise self.unsupported(node)
        value = method(node)
        if isinstance(value, closures.InnerFunction):
            return value
        return gast.copy_location(value, node)

    def lower_expression(self, node):
        """Lower `node` to one of the right-hand sides in the module docstring."""
        value = self.lower_value(node)
        if isinstance(value, closures.InnerFunction):
            raise self.function_as_value(node)
        return value

    def function_as_value(self, node, callee=None):
        """Return the error for an inner function or lambda used as a value,
        such as an argument of `callee`, the library function that `node`
        calls, when it is known."""
        return UnsupportedSyntaxError(
            'an inner function or lambda used as a value here',
            self.source.location(node),
            'adcompiler inlines inner functions and lambdas where they are '
            'called', fixes=_function_argument_fixes(callee))

    def lower_Name(self, node):
        if not isinstance(node.ctx, gast.Load):
            raise self.unsupported(node)
        if node.id in self.global_writes:
            return self.lower_value(self.global_item(node, gast.Load()))
        if node.id in self.functions:
            return self.functions[node.id]
        if node.id in self.constants:
            return copy_tree(self.constants[node.id])
        return _load(self.current.get(node.id, node.id))

    def lower_Constant(self, node):
        return gast.Constant(value=node.value, kind=None)

    def lower_Attribute(self, node):
        if self.is_global_reference(node):
            return _copy_reference(node)
        value = self.atomize(node.value)
        if isinstance(value, gast.Constant):
            # ', '.join(...): a method of a constant is called on a name.
            value = self.bind(value, node.value)
        return gast.Attribute(value=value, attr=node.attr, ctx=gast.Load())

    def lower_BinOp(self, node):
        left = self.atomize(node.left)
        right = self.atomize(node.right)
        # Decided after lowering the operands, because lowering an inlined
        # call records in object_operands what it returns.
        by_call = self.operator_by_call(node.op, [node.left, node.right])
        if by_call:
            return self.operator_call(operators.BINARY[type(node.op).__name__],
                                      [left, right])
        return gast.BinOp(left=left, op=node.op, right=right)

    def lower_operator_function_call(self, node):
        """Lower `operator.or_(a, b)` or `abs(v)` to a call of the function
        of rules.operators that replaces it, as `lower_BinOp` does for
        `a | b`, or return None."""
        callee = self.global_object(node.func)
        try:
            function = operators.BY_FUNCTION.get(callee)
        except TypeError:  # An unhashable value.
            return None
        if function is None or node.keywords or any(
                isinstance(a, gast.Starred) for a in node.args) or (
                self.source.namespace.get('__name__') == operators.__name__):
            # The functions of rules.operators call the operator module
            # for arrays and numbers.
            return None
        if function is operators.sum_items:
            # sum of a list or tuple of arrays keeps the rule of sum.
            if not any(self.object_operands.may_be_object(a)
                       for a in node.args):
                return None
        elif not (function.__name__ in operators.WITHOUT_ARRAY_RULE_FUNCTIONS
                  or any(self.is_object(a) for a in node.args)):
            return None
        return self.operator_call(function, [self.atomize(a)
                                             for a in node.args])

    def operator_by_call(self, op, operands):
        """Return whether the operator `op` on `operands` is written as a
        call of its function in adcompiler.rules.operators: the NumPy rule
        of the operator would not hold for them, or it has none."""
        return type(op).__name__ in operators.WITHOUT_ARRAY_RULE or any(
            self.is_object(operand) for operand in operands)

    def is_object(self, node):
        """Return whether `node` is known to give a list, tuple or dict, or
        an object whose class defines an operator method in Python, or
        may give such an object. An object with __array__ keeps its
        conversion."""
        kinds = self.object_kinds(node)
        if _ARRAY_OBJECT in kinds:
            return bool(kinds - {_ARRAY_OBJECT})
        return bool(kinds) or self.object_operands.may_be_object(node)

    @functools.cached_property
    def object_operands(self):
        """The names that may hold an object with operator methods."""
        filename = self.source.filename or ''
        if filename.startswith('<adcompiler ') and not filename.startswith(
                '<adcompiler dispatch'):
            # A dispatch wrapper passes its arguments on; other generated
            # code was checked when it was generated.
            return GeneratedOperands()
        return ObjectOperands(
            self.tree, self.object_params, self.global_object,
            lambda node: not self.is_global_reference(node),
            index=self.nodes)

    def object_kinds(self, node):
        """Return the kinds `node` gives, as `_value_kinds` does."""
        return _value_kinds(node, self.object_names, self.global_object)

    @functools.cached_property
    def private_containers(self):
        """Names that only hold lists, tuples and dicts made in the function
        whose items are read but which no other name can refer to, so that
        `d |= e` may bind d to a new dict instead of updating it in place."""
        return {name for name in _private_names(self.tree)
                if self.object_names.get(name) == {_CONTAINER}}

    @functools.cached_property
    def object_names(self):
        """Map each name of the function that always contains a list,
        tuple or dict, or an object with operator methods, to its kinds."""
        return _object_names(self.tree, self.global_object, self.nodes)

    def operator_call(self, function, operands):
        """Return a call of an operator's function on atomized operands."""
        name = self.operator_globals.get(function)
        if name is None:
            name = self.namer.fresh(f'operator_{function.__name__}'.rstrip(
                '_'))
            self.source.namespace[name] = function
            self.operator_globals[function] = name
        return gast.Call(func=_load(name), args=operands, keywords=[])

    def lower_UnaryOp(self, node):
        operand = node.operand
        if type(node.op).__name__ in operators.UNARY and \
                self.operator_by_call(node.op, [operand]):
            return self.operator_call(operators.UNARY[type(node.op).__name__],
                                      [self.atomize(operand)])
        if (isinstance(node.op, (gast.USub, gast.UAdd))
                and isinstance(operand, gast.Constant)
                and isinstance(operand.value, (int, float, complex))
                and not isinstance(operand.value, bool)):
            sign = -1 if isinstance(node.op, gast.USub) else 1
            return gast.Constant(value=sign * operand.value, kind=None)
        return gast.UnaryOp(op=node.op, operand=self.atomize(operand))

    def lower_Compare(self, node):
        left = self.atomize(node.left)
        first, *others = node.comparators
        if all(isinstance(c, (gast.Name, gast.Constant)) for c in others):
            comparators = [self.atomize(c) for c in node.comparators]
            return gast.Compare(left=left, ops=node.ops,
                                comparators=comparators)
        # `a < b < f(c)` is `a < b and b < f(c)` with b evaluated once:
        # Python evaluates f(c) only when a < b is true.
        result = self.namer.temporary()
        self.local_names.add(result)
        self.name_in_errors(result, node)
        right = self.atomize(first)
        self.emit(gast.Assign(targets=[_store(result)], value=gast.Compare(
            left=left, ops=node.ops[:1], comparators=[right]),
            type_comment=None), node)
        self.lower_chain_rest(result, right, node.ops[1:], others, node)
        return _load(result)

    def lower_chain_rest(self, result, left, ops, comparators, origin):
        """Emit the links `left <op> comparator ...` of a comparison chain,
        each one in a branch that runs only when `result`, the link before
        it, is true."""
        if not ops:
            return
        test = self.bind(_load(result), origin)
        outer = self.body
        self.body = []
        try:
            right = self.atomize(comparators[0])
            self.emit(gast.Assign(targets=[_store(result)], value=gast.Compare(
                left=left, ops=ops[:1], comparators=[right]),
                type_comment=None), comparators[0])
            self.lower_chain_rest(result, right, ops[1:], comparators[1:],
                                  origin)
            evaluated = self.body
        finally:
            self.body = outer
        branch = gast.If(test=test, body=evaluated, orelse=[])
        self.emit(branch, origin)
        self.expression_branches[branch] = describe(origin)

    def lower_Subscript(self, node):
        expression = self.index_expression(node)
        if expression is not None:
            return expression
        concatenator = self.index_concatenator(node)
        if concatenator is not None:
            items = (node.slice.elts if isinstance(node.slice, gast.Tuple)
                     else [node.slice])
            return self.operator_call(concatenator,
                                      [self.atomize(item) for item in items])
        kinds = self.object_kinds(node.value)
        if not kinds and self.object_operands.may_be_object(node.value):
            # The value may be an object whose class defines __getitem__.
            value = self.atomize(node.value)
            return self.operator_call(operators.getitem, [
                value, self.index_value(node.slice)])
        if kinds == {_OBJECT}:
            # x[i] of an object whose class defines __getitem__ in Python.
            if isinstance(node.slice, (gast.Slice, gast.Tuple)):
                raise UnsupportedSyntaxError(
                    'a slice or a tuple index of an object whose class '
                    'defines __getitem__', self.source.location(node),
                    fixes=['call a method that takes the index'])
            value = self.atomize(node.value)
            return self.operator_call(operators.getitem, [
                value, self.atomize(node.slice)])
        value = self.atomize(node.value)
        return gast.Subscript(value=value, slice=self.lower_index(node.slice),
                              ctx=gast.Load())

    def index_expression(self, node):
        """Return the value of the subscript `node` of np.s_ or
        np.index_exp, or None for a subscript of anything else.

        np.s_[key] is the key itself, with each slice made a slice object;
        np.index_exp[key] is the key as a tuple. Lowering them to the key
        lets a derivative that the key carries flow on.
        """
        target = self.global_object(node.value)
        if not isinstance(target, type(np.s_)):
            return None
        items = (node.slice.elts if isinstance(node.slice, gast.Tuple)
                 else [node.slice])
        if any(isinstance(item, gast.Starred) for item in items):
            return None
        values = [self.index_item(item) for item in items]
        if isinstance(node.slice, gast.Tuple):
            return gast.Tuple(elts=values, ctx=gast.Load())
        if not target.maketuple:
            return values[0]
        if isinstance(node.slice, (gast.Slice, gast.Constant)):
            return gast.Tuple(elts=values, ctx=gast.Load())
        # A name may hold a tuple, which np.index_exp returns unchanged.
        return self.operator_call(operators.index_tuple, values)

    def index_item(self, node):
        """Return the atom of one item of an index, with a slice made a
        call of slice()."""
        if not isinstance(node, gast.Slice):
            return self.atomize(node)
        bounds = [gast.Constant(value=None, kind=None) if bound is None
                  else self.atomize(bound)
                  for bound in (node.lower, node.upper, node.step)]
        return self.bind(self.operator_call(_builtins.slice, bounds), node)

    def index_concatenator(self, node):
        """Return the function of rules.operators that computes the
        subscript `node` of np.r_ or np.c_, or None. Slices (`np.r_[0:3]`)
        and string directives (`np.r_['0,2', a, b]`) keep the subscript,
        which raises an error when run on a value that carries a
        derivative."""
        items = (node.slice.elts if isinstance(node.slice, gast.Tuple)
                 else [node.slice])
        if any(isinstance(item, (gast.Slice, gast.Starred)) or (
                isinstance(item, gast.Constant)
                and isinstance(item.value, str)) for item in items):
            return None
        target = self.global_object(node.value)
        for concatenator, function in operators.INDEX_CONCATENATORS:
            if target is concatenator:
                return function
        return None

    def reads_as_array(self, call, arg):
        """Return whether `arg`, a positional argument of `call`, is a list
        or tuple that the called ufunc or np.where reads as an array."""
        callee = self.global_object(call.func)
        if not (isinstance(callee, np.ufunc) or callee is np.where):
            return False
        kinds = self.object_kinds(arg)
        return _CONTAINER in kinds and _OBJECT not in kinds

    def numpy_function(self, func, name):
        """Return an expression for numpy.<name>, read from the module of
        the NumPy function `func` when it is written as `np.f`."""
        if isinstance(func, gast.Attribute) and \
                self.global_object(func.value) is np:
            return gast.Attribute(value=copy_tree(func.value), attr=name,
                                  ctx=gast.Load())
        return self.constant(name, getattr(np, name))

    def converts_to_array(self, call):
        """Return whether `call` calls a NumPy function, which converts an
        argument with __array__."""
        callee = self.global_object(call.func)
        if isinstance(callee, np.ufunc):
            return True
        module = getattr(callee, '__module__', None) or ''
        return callable(callee) and module.split('.')[0] == 'numpy'

    def index_value(self, node):
        """Return an atom of the value of the index `node`: slices become
        slice objects and tuples tuple displays."""
        if isinstance(node, gast.Slice):
            parts = [gast.Constant(value=None, kind=None) if p is None
                     else self.atomize(p)
                     for p in (node.lower, node.upper, node.step)]
            return self.bind(self.operator_call(_builtins.slice, parts), node)
        if isinstance(node, gast.Tuple):
            elements = [self.index_value(e) for e in node.elts]
            return self.bind(gast.Tuple(elts=elements, ctx=gast.Load()), node)
        return self.atomize(node)

    def index_as_value(self, index):
        """Return a value expression for the lowered index `index`, so that
        the key of a store can be passed to a runtime helper:
        `slice(a, b, c)` for a slice."""
        if isinstance(index, gast.Slice):
            parts = [gast.Constant(value=None, kind=None) if p is None else p
                     for p in (index.lower, index.upper, index.step)]
            return gast.Call(func=self.constant('slice', slice), args=parts,
                             keywords=[])
        if isinstance(index, gast.Tuple):
            return gast.Tuple(elts=[self.index_as_value(e)
                                    for e in index.elts], ctx=gast.Load())
        return copy_tree(index)

    def is_global_root(self, node):
        """True if the attribute chain or name `node` starts at a module
        global (`LAYER.cache`), which generated code reads as a constant
        without a derivative."""
        while isinstance(node, gast.Attribute):
            node = node.value
        return (isinstance(node, gast.Name)
                and node.id not in self.local_names
                and node.id not in {a.id for a in self.tree.args.args}
                and node.id in self.source.namespace)

    def lower_index(self, node):
        if isinstance(node, gast.Slice):
            parts = [None if p is None else self.atomize(p)
                     for p in (node.lower, node.upper, node.step)]
            return gast.copy_location(gast.Slice(*parts), node)
        if isinstance(node, gast.Tuple):
            elements = [self.lower_index(e) for e in node.elts]
            return gast.copy_location(
                gast.Tuple(elts=elements, ctx=gast.Load()), node)
        return self.atomize(node)

    def lower_Call(self, node):
        rewritten = self.lower_operator_function_call(node)
        if rewritten is not None:
            return rewritten
        rewritten = self.lower_builtin_call(node)
        if rewritten is not None:
            return rewritten
        func = node.func
        if isinstance(func, gast.Name) and func.id in self.partials:
            return self.lower_Call(partial_calls.local_call(
                node, self.partials[func.id]))
        partial = self.global_object(func)
        # A rule or a non-differentiable mark registered for the partial
        # itself is used in place of its function's code.
        if isinstance(partial, functools.partial) and REGISTRY.lookup(
                partial) is None and REGISTRY.lookup_jvp(partial) is None:
            return self.lower_Call(partial_calls.global_call(
                node, partial, functools.partial(self.constant,
                                                 suffix='bound')))
        if isinstance(func, gast.Lambda):
            return self.inline(self.lower_Lambda(func), node)
        if isinstance(func, gast.Name) and func.id in self.functions:
            return self.inline(self.functions[func.id], node)
        if isinstance(func, gast.Name):
            func = self.lower_Name(func)
        elif isinstance(func, gast.Attribute):
            func = self.lower_Attribute(func)
        else:
            # make_layer(w)(x): a call that returns an inner function.
            made = self.lower_value(func) if isinstance(func, gast.Call) \
                else None
            if isinstance(made, closures.InnerFunction):
                return self.inline(made, node)
            raise UnsupportedSyntaxError(
                'a call of a computed function (such as f(x)(y) or fs[0](x))',
                self.source.location(node))
        module_function = self.module_function(node.func)
        if module_function is not None:
            self.check_callee_global_writes(module_function, node)
        if module_function is not None and self.returns_function(
                module_function):
            # A factory such as make_layer(w) is inlined, so that the
            # values its returned function captures keep their gradients.
            return self.inline(module_function, node)
        args = []
        converts = self.converts_to_array(node)
        for arg in node.args:
            if isinstance(arg, gast.Starred):
                args += self.unpacked_sequence(arg)
                continue
            if self.reads_as_array(node, arg):
                # NumPy reads a list or tuple operand as np.asarray of it,
                # and the rules do array arithmetic on their operands.
                arg = gast.copy_location(gast.Call(
                    func=self.numpy_function(node.func, 'asarray'),
                    args=[arg], keywords=[]), arg)
            elif converts and _ARRAY_OBJECT in self.object_kinds(arg):
                # NumPy converts the object with its __array__ method, which
                # is transformed from its source when called here.
                method = gast.Attribute(value=arg, attr='__array__',
                                        ctx=gast.Load())
                arg = gast.copy_location(gast.Call(
                    func=gast.copy_location(method, arg), args=[],
                    keywords=[]), arg)
            args.append(self.lower_argument(arg))
        keywords = []
        for keyword in node.keywords:
            if keyword.arg is None:
                keywords += [gast.keyword(arg=k, value=v) for k, v in
                             self.unpacked_mapping(keyword.value)]
            else:
                keywords.append(gast.keyword(
                    arg=keyword.arg,
                    value=self.lower_argument(keyword.value)))
        passed = [a for a in args + [k.value for k in keywords]
                  if isinstance(a, closures.InnerFunction)]
        if passed:
            if module_function is None:
                raise self.function_as_value(
                    node, self.global_object(node.func))
            if any(isinstance(a, gast.Starred) for a in args) or any(
                    k.arg is None for k in keywords):
                raise UnsupportedSyntaxError(
                    f'unpacking a sequence or mapping into a call of '
                    f'{module_function.name}, which is inlined because it '
                    'takes an inner function', self.source.location(node),
                    fixes=['pass the items one by one'])
            return self.inline(module_function, node, args,
                               [(k.arg, k.value) for k in keywords])
        call = gast.Call(func=func, args=args, keywords=keywords)
        passed = self.object_operands.describe_call(node)
        if passed is not None:
            self.call_objects[call] = passed
        return call

    def unpacked_sequence(self, starred):
        """Return the atoms of `*seq` in a call when seq is a tuple or list
        display of this function whose items cannot change before the call,
        else `*atom`."""
        atom = self.atomize(starred.value)
        if isinstance(atom, gast.Name) and atom.id in self.displays:
            return [copy_tree(a) for a in self.displays[atom.id]]
        # Bound to parameters when the call runs (see adcompiler.dispatch).
        unpacked = gast.Starred(value=atom, ctx=gast.Load())
        return [gast.copy_location(unpacked, starred)]

    def unpacked_mapping(self, node):
        """Return the (keyword, atom) pairs of `**mapping` in a call; see
        `unpacked_sequence`. The keyword None stands for `**atom`."""
        atom = self.atomize(node)
        if isinstance(atom, gast.Name) and atom.id in self.keyword_displays:
            return [(k, copy_tree(v))
                    for k, v in self.keyword_displays[atom.id]]
        return [(None, atom)]  # Bound when the call runs, like `*seq`.

    def record_display(self, name, value):
        """Remember a tuple, list or dict display assigned to `name`, for
        unpacking with * and ** in calls, if its items stay what they are."""
        self.displays.pop(name, None)
        self.keyword_displays.pop(name, None)
        if name in self.updated_in_place:
            return
        if isinstance(value, gast.Dict):
            items = list(value.values)
        elif isinstance(value, (gast.Tuple, gast.List)):
            items = list(value.elts)
        else:
            return
        if not self.single_assignment and not (
                self.assigned_once(name) and all(
                    not isinstance(a, gast.Name) or a.id in self.temporaries
                    or self.assigned_once(a.id, 0) for a in items)):
            return  # A later statement, or the next iteration, may reassign.
        if isinstance(value, gast.Dict):
            if all(isinstance(k, gast.Constant) and isinstance(k.value, str)
                   for k in value.keys):
                self.keyword_displays[name] = [
                    (k.value, v) for k, v in zip(value.keys, value.values,
                                                 strict=True)]
        else:
            self.displays[name] = items

    def assigned_once(self, name, most=1):
        """True if the user's code assigns `name` at most `most` times."""
        return self.store_counts[name] <= most

    def lower_argument(self, node):
        """Lower a call argument to an atom or an `InnerFunction`."""
        value = self.lower_value(node)
        if isinstance(value, closures.InnerFunction) or self.is_atom(value):
            return value
        return self.bind(value, node)

    # Inner functions and lambdas (see adcompiler.closures) -----------------

    def visit_FunctionDef(self, node):
        if node.decorator_list:
            raise UnsupportedSyntaxError(
                'a decorator on an inner function',
                self.source.location(node.decorator_list[0]),
                fixes=['define the decorated function at module level'])
        # A generator cannot be inlined where it is called, because its
        # body runs piece by piece as the caller asks for values.
        yields = [n for n in closures.own_nodes(node.body)
                  if isinstance(n, (gast.Yield, gast.YieldFrom))]
        if yields:
            raise self.unsupported(min(
                yields, key=lambda n: (n.lineno, n.col_offset)))
        self.check_bound_once(node.name, node)
        self.functions[node.name] = closures.InnerFunction(
            node, self.default_atoms(node.args))
        return False

    def lower_Lambda(self, node):
        return closures.InnerFunction(closures.lambda_as_def(node),
                                      self.default_atoms(node.args))

    def default_atoms(self, args):
        """Evaluate a definition's default values where it is defined."""
        positional = list(args.posonlyargs) + list(args.args)
        pairs = list(zip(positional[len(positional) - len(args.defaults):],
                         args.defaults))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults)
                  if d is not None]
        defaults = {}
        for param, default in pairs:
            atom = self.atomize(default)
            if not self.single_assignment and isinstance(atom, gast.Name) \
                    and atom.id not in self.temporaries:
                # The variable may change before the call; keep its value.
                atom = self.bind(atom, default)
            defaults[param.id] = atom
        return defaults

    def check_bound_once(self, name, node):
        definitions = [n for n in closures.own_nodes(self.tree.body)
                       if isinstance(n, gast.FunctionDef) and n.name == name
                       or isinstance(n, gast.Name) and n.id == name
                       and isinstance(n.ctx, gast.Store)]
        if len(definitions) > 1:
            raise UnsupportedSyntaxError(
                f'the inner function {name!r} defined or assigned more than '
                'once', self.source.location(node),
                'adcompiler inlines inner functions where they are called, so '
                'each name must stand for one function',
                fixes=['give each function its own name'])

    def visit_Nonlocal(self, node):
        if not self.inlining:
            raise UnsupportedSyntaxError(
                'a nonlocal declaration in the function being '
                'differentiated', self.source.location(node),
                'its assignments change a variable of the enclosing function, '
                'which the gradient would not follow',
                fixes=['return the new value instead',
                       'differentiate the enclosing function, which inlines '
                       'this one'])
        missing = [n for n in node.names if n not in self.current]
        if missing:
            raise UnsupportedSyntaxError(
                f'a nonlocal declaration of {missing[0]!r}, which is not a '
                'variable of the differentiated function',
                self.source.location(node))
        return False

    def visit_Global(self, node):
        return False  # Writes were rejected by check_global_writes.

    def check_global_writes(self, function=None):
        """Note the names that the differentiated function declares
        global and assigns, or reject such an assignment in a function
        that is inlined, or a `del` of such a name.

        The generated code reads other globals as constants. These are
        read and written through the module's globals dict instead, so
        that a counter (`global CALLS; CALLS += 1`) runs as written.
        """
        inlined = function is not None
        function = function or self.tree
        declared = set()
        for node in closures.own_nodes(function.body):
            if isinstance(node, gast.Global):
                declared.update(node.names)
        if not declared:
            return
        module_globals = getattr(self.source.function, '__globals__', None)
        for node in closures.own_nodes(function.body):
            if not (isinstance(node, gast.Name) and node.id in declared):
                continue
            if isinstance(node.ctx, gast.Store) and not inlined \
                    and module_globals is not None:
                self.global_writes.add(node.id)
            elif isinstance(node.ctx, (gast.Store, gast.Del)):
                raise UnsupportedSyntaxError(
                    f'an assignment to the global variable {node.id!r}',
                    self.source.location(node),
                    'a differentiated function reads module globals as '
                    'constants and cannot change them',
                    fixes=[f'return the new value of {node.id} and assign it '
                           'outside the differentiated function'])

    def global_item(self, node, context):
        """Return `module_globals['name']` for the Name `node` of a global
        that the function assigns, with the `context` Load or Store."""
        module_globals = self.constant('module_globals',
                                       self.source.function.__globals__)
        item = gast.Subscript(value=module_globals,
                              slice=gast.Constant(value=node.id, kind=None),
                              ctx=context)
        return gast.copy_location(item, node)

    def check_callee_global_writes(self, callee, call):
        """Reject a call of a module function that assigns a global
        variable (`global state; state = ...`).

        The generated code reads module globals as constants, so it would
        not see the new value.
        """
        declared = {name for n in walk(callee.node)
                    if isinstance(n, gast.Global) for name in n.names}
        for node in walk(callee.node):
            if isinstance(node, gast.Name) and node.id in declared and \
                    isinstance(node.ctx, (gast.Store, gast.Del)):
                raise UnsupportedSyntaxError(
                    f'a call of {callee.name}, which assigns the global '
                    f'variable {node.id!r}',
                    self.source.location(call),
                    'a differentiated function reads module globals as '
                    'constants, so the code after the call would not see '
                    'the new value',
                    fixes=[f'return the new value of {node.id} from '
                           f'{callee.name} and assign it outside the '
                           'differentiated function'])

    def module_function(self, func):
        """The module-level Python function a call's callee names, or None.

        Only functions of the same module without closure cells qualify,
        because their bodies read the same globals as this function.
        """
        callee = self.global_object(func)
        if not isinstance(callee, types.FunctionType) or callee.__closure__:
            return None
        if callee.__globals__ is not getattr(self.source.function,
                                             '__globals__', None):
            return None
        if callee.__code__.co_filename != self.source.filename:
            return None
        cached = self.module_functions.get(callee)
        if cached is None:
            try:
                callee_source = parse.get_source(callee)
            except AdCompilerError:
                return None
            tree = callee_source.tree
            patterns.lower_matches(tree, callee_source, self.source.namespace,
                                   self.namer)
            defaults = {}
            positional = callee.__code__.co_varnames[
                :callee.__code__.co_argcount]
            for param, value in zip(
                    positional[len(positional) - len(callee.__defaults__ or
                                                     ()):],
                    callee.__defaults__ or ()):
                defaults[param] = self.constant(param, value)
            for param, value in (callee.__kwdefaults__ or {}).items():
                defaults[param] = self.constant(param, value)
            cached = closures.InnerFunction(tree, defaults, callee)
            self.module_functions[callee] = cached
        return cached

    def constant(self, hint, value, suffix='default'):
        """Return a global name for a value computed at compile time."""
        name = self.namer.fresh(f'{hint}_{suffix}')
        self.source.namespace[name] = value
        return _load(name)

    def returns_function(self, function):
        inner = {n.name for n in closures.own_nodes(function.node.body)
                 if isinstance(n, gast.FunctionDef)}
        return any(isinstance(n, gast.Return) and (
            isinstance(n.value, gast.Lambda)
            or isinstance(n.value, gast.Name) and n.value.id in inner)
            for n in closures.own_nodes(function.node.body))

    def global_object(self, node):
        """Return the object a global name or dotted global reference is, or None."""
        if not (isinstance(node, (gast.Name, gast.Attribute))
                and self.is_global_reference(node)):
            return None
        parts = []
        while isinstance(node, gast.Attribute):
            parts.append(node.attr)
            node = node.value
        if node.id in self.functions:
            return None
        try:
            value = self.source.namespace[node.id]
            for attr in reversed(parts):
                value = getattr(value, attr)
        except (KeyError, AttributeError):
            return None
        return value

    def inline(self, function, call, args=None, keywords=None):
        """Lower a call of `function` to its body; return the result's atom.

        The result is an `InnerFunction` when the function returns one.
        """
        location = self.source.location(call)
        if any(f.node is function.node for f in self.inlining):
            raise UnsupportedSyntaxError(
                f'a recursive call of {function.display_name}', location,
                'adcompiler inlines functions that are defined inside the '
                'differentiated function or take or return one',
                fixes=['define the recursive function at module level and '
                       'pass what it captures as arguments'])
        if args is None:
            args, keywords = self.inline_arguments(call)
        bound = closures.bind_arguments(function, args, keywords, location)
        node = copy_tree(function.node)
        mapping = {name: self.namer.fresh(name)
                   for name in sorted(closures.local_names(node))}
        aliases = {}
        if function.function is not None:
            aliases = self.global_aliases(function.function, node)
        closures.rename(node, {**mapping, **aliases})
        for old, new in mapping.items():
            self.display_names[new] = old
            self.local_names.add(new)
            if old in self.written:
                self.written.add(new)
            if old in self.updated_in_place:
                self.updated_in_place.add(new)
        self.check_global_writes(node)

        stored = {n.id for n in walk(node)
                  if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
        for param, value in bound.items():
            target = mapping[param]
            if isinstance(value, closures.InnerFunction):
                self.functions[target] = value
            elif isinstance(value, gast.Name) and (
                    self.single_assignment
                    or target not in stored and value.id not in stored):
                # Neither name changes while the body runs: no copy needed.
                self.current[target] = value.id
                if value.id not in self.temporaries:
                    self.caller_objects[target] = value.id
            elif isinstance(value, gast.Constant) and target not in stored \
                    and not _needs_variable(node, target):
                self.constants[target] = value
            elif isinstance(value, gast.Attribute) and target not in stored \
                    and not _needs_variable(node, target, calls=False):
                # A global such as np.tanh: calls of it resolve statically.
                self.constants[target] = value
            else:
                atom = self.assign(_store(target), value, call)
                if isinstance(value, gast.Name) and \
                        value.id not in self.temporaries:
                    self.caller_objects[target] = atom.id

        self.follow_inlined_objects(function, node, call, args, keywords,
                                    mapping)
        self.inlining.append(function)
        try:
            result = self.inline_body(node.body)
        finally:
            self.inlining.pop()
        returned = [n.value for n in closures.own_nodes(node.body)
                    if isinstance(n, gast.Return)] if isinstance(
                        node, gast.FunctionDef) else [node.body]
        self.object_operands.inlined_results[call] = any(
            self.object_operands.may_be_object(value) for value in returned)
        return result

    def follow_inlined_objects(self, function, node, call, args, keywords,
                               mapping):
        """Tell `object_operands` which parameters of the inlined copy
        `node` may hold objects with operators, from the user's arguments
        of `call`."""
        user_keywords = [(k.arg, k.value) for k in getattr(call, 'keywords',
                                                           [])]
        user_args = list(getattr(call, 'args', []))
        objects = set(mapping.values())  # Unless the binding below works.
        aligned = (isinstance(call, gast.Call)
                   and not any(isinstance(a, gast.Starred) for a in user_args)
                   and all(name is not None for name, _ in user_keywords)
                   and len(user_args) == len(args)
                   and len(user_keywords) == len(keywords))
        if aligned:
            try:
                bound = closures.bind_arguments(
                    function, user_args, user_keywords,
                    self.source.location(call))
            except AdCompilerError:
                bound = None
            if bound is not None:
                objects = set()
                for param, value in bound.items():
                    if isinstance(value, closures.InnerFunction):
                        continue
                    if param not in mapping:
                        continue
                    if self.object_operands.may_be_object(value):
                        objects.add(mapping[param])
                    elif isinstance(value, (gast.Name, gast.Attribute)) and \
                            self.is_global_reference(value):
                        self.object_operands.known_callees[
                            mapping[param]] = self.global_object(value)
        self.object_operands.add_code(node, node.args, objects)

    def inline_arguments(self, call):
        args = []
        for arg in call.args:
            if isinstance(arg, gast.Starred):
                raise UnsupportedSyntaxError(
                    'a starred argument (*args) in a call of an inner '
                    'function', self.source.location(arg),
                    fixes=['pass the items one by one (f(a[0], a[1]))',
                           'define the function at module level, where a '
                           'call may unpack its arguments'])
            args.append(self.lower_argument(arg))
        keywords = []
        for keyword in call.keywords:
            if keyword.arg is None:
                raise UnsupportedSyntaxError(
                    'a **kwargs argument in a call of an inner function',
                    self.source.location(keyword.value),
                    fixes=["pass the keywords one by one (f(x, k=d['k']))",
                           'define the function at module level, where a '
                           'call may unpack a mapping'])
            keywords.append((keyword.arg, self.lower_argument(keyword.value)))
        return args, keywords

    def global_aliases(self, callee, node):
        """Fresh global names for the module names a function reads that
        this function also uses as locals."""
        aliases = {}
        for name in sorted(closures.free_names(node)):
            if name in self.local_names or name in self.functions:
                if name in callee.__globals__:
                    value = callee.__globals__[name]
                elif hasattr(_builtins, name):
                    value = getattr(_builtins, name)
                else:
                    continue
                aliases[name] = self.constant(name, value).id
        return aliases

    def inline_body(self, body):
        returns = [n for n in closures.own_nodes(body)
                   if isinstance(n, gast.Return)]
        if self.single_assignment or not returns or returns == body[-1:]:
            for statement in body:
                if isinstance(statement, gast.Return):
                    if statement.value is None:
                        return gast.Constant(value=None, kind=None)
                    return self.lower_argument(statement.value)
                self.visit_statement(statement)
            return gast.Constant(value=None, kind=None)
        statements = Restructurer(self.source, self.namer,
                                  self.global_writes).run(body)
        for statement in statements[:-1]:
            self.visit_statement(statement)
        return self.lower_argument(statements[-1].value)

    # Comprehensions and higher-order built-ins (see comprehensions) --------

    def lower_comprehension(self, node):
        result = self.namer.fresh(
            'entries' if isinstance(node, gast.DictComp) else 'items')
        statements, renames = comprehensions.comprehension_loop(
            node, result, self.namer)
        self.object_operands.add_code(gast.Module(body=statements,
                                                  type_ignores=[]))
        self.display_names.update({new: old for old, new in renames.items()})
        self.local_names.update(renames.values())
        if isinstance(node, gast.DictComp):
            self.written.add(result)
        for statement in statements:
            self.visit_statement(statement)
        self.built.add(result)
        final = self.current.get(result, result)
        # The loop appended to the empty display it started from.
        self.displays.pop(result, None)
        self.displays.pop(final, None)
        if isinstance(node, gast.SetComp):
            self.set_comprehensions.add(final)
        text = self.source.text_of(node)
        if text:
            # Errors name the list as the user wrote it.
            self.display_names[result] = self.display_names[final] = text
        return _load(final)

    lower_ListComp = lower_comprehension
    lower_SetComp = lower_comprehension
    lower_DictComp = lower_comprehension
    lower_GeneratorExp = lower_comprehension

    def lower_builtin_call(self, node):
        """Lower map, filter, sorted and functools.reduce to loops, or None."""
        callee = self.global_object(node.func)
        if (library_iterators.is_rewritten(callee) or callee is _builtins.zip) \
                and getattr(node.func, 'id', None) not in self.position_calls:
            rewritten = self.lower_library_iterator(callee, node)
            if rewritten is not None:
                return rewritten
        if callee is None or any(isinstance(a, gast.Starred)
                                 for a in node.args) or any(
                k.arg is None for k in node.keywords):
            return None
        args = node.args
        keywords = {k.arg: k.value for k in node.keywords}
        if callee is _builtins.map and len(args) >= 2 and not keywords:
            function = self.function_reference(args[0])
            names = self.item_names(function, len(args) - 1)
            comprehension = comprehensions.map_as_comprehension(
                function, args[1:], node, names)
            result = self.lower_comprehension(comprehension)
            # Messages name a generated item as an item of the iterable
            # that the user wrote.
            shown = {name: f'{self.source.text_of(iterable)}[i]'
                     for name, iterable in zip(names, args[1:], strict=True)
                     if name.startswith('item')
                     and self.source.text_of(iterable)}
            for name, display in list(self.display_names.items()):
                if display in shown:
                    self.display_names[name] = shown[display]
            return result
        if callee is _builtins.filter and len(args) == 2 and not keywords:
            function = None
            if not (isinstance(args[0], gast.Constant)
                    and args[0].value is None):
                function = self.function_reference(args[0])
            comprehension = comprehensions.filter_as_comprehension(
                function, args[1], node,
                self.item_names(function, 1)[0] if function else 'item')
            return self.lower_comprehension(comprehension)
        if callee in (_builtins.any, _builtins.all) and len(args) == 1 \
                and not keywords and isinstance(args[0], gast.GeneratorExp) \
                and len(args[0].generators) == 1:
            result = self.namer.fresh('found' if callee is _builtins.any
                                      else 'every')
            self.local_names.add(result)
            statements, renames = comprehensions.short_circuit_loop(
                args[0], result, callee is _builtins.any, self.namer)
            self.display_names.update(
                {new: old for old, new in renames.items()})
            self.local_names.update(renames.values())
            for statement in statements:
                self.visit_statement(statement)
            return _load(self.current.get(result, result))
        if callee is functools.reduce and len(args) in (2, 3) and \
                not keywords:
            result = self.namer.fresh('reduced')
            self.local_names.add(result)
            text = self.source.text_of(node)
            if text:
                # The running value, named in messages as the call.
                self.display_names[result] = text
            statements = comprehensions.reduce_loop(
                self.function_reference(args[0]), args[1],
                args[2] if len(args) == 3 else None, result, node,
                self.namer)
            for statement in statements:
                self.visit_statement(statement)
            return _load(self.current.get(result, result))
        if callee is math.hypot and len(args) != 2 and not keywords:
            # Rules take a fixed number of arguments, so math.hypot with
            # any other number than two becomes a call with one list.
            items = gast.copy_location(
                gast.List(elts=list(args), ctx=gast.Load()), node)
            call = gast.Call(func=self.constant('hypot', runtime.hypot_items),
                             args=[items], keywords=[])
            return self.lower_value(gast.copy_location(call, node))
        if callee is _builtins.sorted and len(args) == 1 and set(
                keywords) <= {'key', 'reverse'}:
            return self.lower_sorted(node, args[0], keywords)
        if callee in (_builtins.max, _builtins.min) and args \
                and set(keywords) in ({'key'}, {'key', 'default'}) \
                and (len(args) == 1 or 'default' not in keywords):
            # The first item with the largest (smallest) key, as max and min
            # return: a stable sort keeps equal keys in their order.
            keywords['reverse'] = gast.Constant(
                value=callee is _builtins.max, kind=None)
            candidates = args[0] if len(args) == 1 else gast.copy_location(
                gast.List(elts=list(args), ctx=gast.Load()), node)
            candidates = self.atomize(candidates)
            default = keywords.pop('default', None)
            if default is not None:
                # Evaluated before any key is computed, as Python does.
                default = self.atomize(default)
            ordered = self.lower_sorted(node, candidates, keywords)
            first = gast.Subscript(value=ordered,
                                   slice=gast.Constant(value=0, kind=None),
                                   ctx=gast.Load())
            if default is None:
                return first
            # The default is the result only when there is no item.
            return self.lower_value(gast.copy_location(gast.IfExp(
                test=ordered, body=first, orelse=default), node))
        if self.is_iteration_call(node) and \
                _item_size(node.func.id, args) not in (None, 0):
            return self.lower_iterated_items(node)
        if callee is _builtins.list and len(args) == 1 and not keywords \
                and self.makes_new_list(args[0]):
            return self.atomize(args[0])  # Already a new list.
        return None

    def lower_library_iterator(self, callee, node):
        """Lower an itertools iterator, np.ndenumerate or zip(*rows) to the
        list of its items (see library_iterators), or return None."""
        def fresh(hint):
            name = self.namer.fresh(hint)
            self.local_names.add(name)
            return name

        def positions(function):
            reference = self.constant(function.__name__, function,
                                      suffix='positions')
            self.position_calls.add(reference.id)
            return reference

        rewriter = library_iterators.IteratorRewriter(
            fresh, self.helper_reference, positions)
        rewrite = rewriter.rewrite(callee, node)
        if rewrite is None:
            return None
        for statement in rewrite.statements:
            self.visit_statement(statement)
        return self.lower_expression(rewrite.value)

    def helper_reference(self, identifier):
        """Return a reference to library_iterators.HELPERS[identifier]:
        its name when the function's namespace has that function under it,
        else a constant."""
        function = library_iterators.HELPERS[identifier]
        if identifier not in self.local_names and \
                self.source.namespace.get(
                    identifier, getattr(_builtins, identifier, None)) \
                is function:
            return _load(identifier)
        return self.constant(identifier, function, suffix='function')

    def lower_iterated_items(self, node):
        """zip(xs, ys), enumerate(xs) or reversed(xs) used as a value: the
        list of its items, built by a loop over the call, whose items the
        reverse stage matches with the iterables."""
        return self.lower_comprehension(comprehensions.items_as_comprehension(
            node, _item_size(node.func.id, node.args)))

    def makes_new_list(self, node):
        """True for a comprehension, generator, map, filter, zip,
        enumerate or reversed call: their lowering builds a new list."""
        if isinstance(node, (gast.ListComp, gast.GeneratorExp)):
            return True
        if self.is_iteration_call(node):
            return _item_size(node.func.id, node.args) not in (None, 0)
        return isinstance(node, gast.Call) and not any(
            isinstance(a, gast.Starred) for a in node.args) and any(
            self.global_object(node.func) is f
            for f in (_builtins.map, _builtins.filter))

    def item_names(self, function, count):
        """Names for the items a higher-order call passes to `function`:
        its parameter names when it is a lambda or inner function."""
        inner = self.functions.get(getattr(function, 'id', None))
        if inner is not None:
            spec = inner.node.args
            names = [a.id for a in list(spec.posonlyargs) + list(spec.args)]
            if len(names) >= count:
                return names[:count]
        if count == 1:
            return ['item']
        return [f'item{position}' for position in range(count)]

    def function_reference(self, node):
        """A name for the function a higher-order call receives.

        Evaluated once, before the loop that calls it.
        """
        value = self.lower_argument(node)
        if isinstance(value, closures.InnerFunction):
            name = self.namer.fresh(
                'function' if value.name == closures.LAMBDA_NAME
                else value.name)
            self.functions[name] = value
            return _load(name)
        return value

    def lower_sorted(self, node, iterable, keywords):
        """sorted(xs, key=f): gather the items of xs in the order of the keys.

        The order is computed from the keys as Python sorts them (stably),
        and carries no derivative; the items are read by index, so their
        gradients go back to the right places.
        """
        items = self.atomize(iterable)
        if not (isinstance(items, gast.Name) and (
                items.id in self.built or items.id in self.displays)):
            # A copy as a list, which can be indexed whatever xs is.
            items = self.lower_comprehension(gast.copy_location(
                gast.ListComp(elt=_load('item'), generators=[
                    gast.comprehension(target=_store('item'), iter=items,
                                       ifs=[], is_async=0)]), node))
        keys = items
        if 'key' in keywords and not (
                isinstance(keywords['key'], gast.Constant)
                and keywords['key'].value is None):
            function = self.function_reference(keywords['key'])
            keys = self.lower_comprehension(
                comprehensions.map_as_comprehension(
                    function, [items], node, self.item_names(function, 1)))
        count = self.bind(gast.Call(func=self.builtin('len'), args=[keys],
                                    keywords=[]), node)
        positions = self.bind(gast.Call(func=self.builtin('range'),
                                        args=[count], keywords=[]), node)
        key = self.bind(gast.Attribute(value=keys, attr='__getitem__',
                                       ctx=gast.Load()), node)
        order_keywords = [gast.keyword(arg='key', value=key)]
        if 'reverse' in keywords:
            order_keywords.append(gast.keyword(
                arg='reverse', value=self.atomize(keywords['reverse'])))
        order = self.bind(gast.Call(func=self.builtin('sorted'),
                                    args=[positions],
                                    keywords=order_keywords), node)
        position = self.namer.fresh('position')
        gathered = gast.ListComp(
            elt=gast.Subscript(value=items, slice=_load(position),
                               ctx=gast.Load()),
            generators=[gast.comprehension(target=_store(position),
                                           iter=order, ifs=[], is_async=0)])
        return self.lower_comprehension(gast.copy_location(gathered, node))

    def builtin(self, name):
        """Return a name that refers to the built-in `name` in generated code."""
        if self.source.namespace.get(name) is getattr(_builtins, name) \
                and name not in self.local_names:
            return _load(name)
        return self.constant(name, getattr(_builtins, name))

    def lower_Tuple(self, node):
        if not isinstance(node.ctx, gast.Load):
            raise self.unsupported(node)
        return gast.Tuple(elts=[self.atomize(e) for e in node.elts],
                          ctx=gast.Load())

    def lower_List(self, node):
        if not isinstance(node.ctx, gast.Load):
            raise self.unsupported(node)
        return gast.List(elts=[self.atomize(e) for e in node.elts],
                         ctx=gast.Load())

    def lower_Dict(self, node):
        if any(key is None for key in node.keys):
            return self.lower_dict_unpacking(node)
        # Python evaluates each key, then its value, entry after entry.
        keys, values = [], []
        for key, value in zip(node.keys, node.values, strict=True):
            keys.append(self.atomize(key))
            values.append(self.atomize(value))
        return gast.Dict(keys=keys, values=values)

    def lower_dict_unpacking(self, node):
        """Lower `{**a, 'k': v, **b}` to the dict comprehension
        `{key: value for part in (a, {'k': v}, b) for key, value in
        part.items()}`, which stores the entries in the same order, a later
        value of a key replacing the earlier one in its first position."""
        parts = []
        entries = None
        for key, value in zip(node.keys, node.values):
            if key is None:
                parts.append(value)
                entries = None
            elif entries is None:
                entries = gast.Dict(keys=[key], values=[value])
                parts.append(entries)
            else:
                entries.keys.append(key)
                entries.values.append(value)
        part, key, value = (self.namer.fresh(label)
                            for label in ('part', 'key', 'value'))
        items = gast.Call(
            func=gast.Attribute(value=_load(part), attr='items',
                                ctx=gast.Load()),
            args=[], keywords=[])
        merged = gast.DictComp(
            key=_load(key), value=_load(value),
            generators=[
                gast.comprehension(
                    target=_store(part),
                    iter=gast.Tuple(elts=parts, ctx=gast.Load()), ifs=[],
                    is_async=0),
                gast.comprehension(
                    target=gast.Tuple(elts=[_store(key), _store(value)],
                                      ctx=gast.Store()),
                    iter=items, ifs=[], is_async=0)])
        return self.lower_comprehension(gast.copy_location(merged, node))

    def lower_JoinedStr(self, node):
        """Lower the fields of an f-string to atoms, left to right, and keep
        the string whole: an f-string is never differentiated."""
        node = copy_tree(node)
        for value in node.values:
            if isinstance(value, gast.FormattedValue):
                value.value = self.atomize(value.value)
                if value.format_spec is not None:
                    value.format_spec = self.lower_JoinedStr(
                        value.format_spec)
        return node

    def is_global_reference(self, node):
        """True if `node` is a name or dotted name that reads a global."""
        while isinstance(node, gast.Attribute):
            node = node.value
        return isinstance(node, gast.Name) and node.id not in self.local_names

    def is_atom(self, node):
        """True for a name, a constant or a dotted global such as np.pi."""
        if isinstance(node, (gast.Name, gast.Constant)):
            return True
        return isinstance(node, gast.Attribute) and self.is_global_reference(node)


_OPERATOR_SYMBOLS = {
    gast.Add: '+', gast.Sub: '-', gast.Mult: '*', gast.Div: '/',
    gast.Pow: '**', gast.MatMult: '@', gast.Mod: '%', gast.FloorDiv: '//',
}


# Context managers that only change warning and floating-point error
# settings: a with statement over them runs in the primal around the
# differentiated code, and again around its adjoint.
BOOKKEEPING_CONTEXTS = (np.errstate, warnings.catch_warnings)
# Calls that return a new file object, whose `with` statement runs as
# written when its body carries no derivative (a log of the loss).
NEW_FILE_CONTEXTS = (_builtins.open, io.open, io.StringIO, io.BytesIO)

# Loops over these calls keep the call, so that the reverse stage can tell
# which element each iteration reads.
ITERATION_BUILTINS = {name: getattr(_builtins, name)
                      for name in ('range', 'enumerate', 'zip', 'reversed')}

def _item_size(function, args):
    """Return how many values each item of the call `function(*args)` of
    an ITERATION_BUILTINS name has (a zip of two: 2), None for range, whose
    items carry no derivative, and 0 for a call of the wrong arity."""
    if function == 'range':
        return None
    if function == 'zip':
        return len(args)
    if function == 'enumerate':
        return 2 if len(args) in (1, 2) else 0
    return 1 if len(args) == 1 else 0


# The keywords of ITERATION_BUILTINS calls that normalize keeps.
_ITERATION_KEYWORDS = {'zip': {'strict'}, 'enumerate': {'start'}}

# Methods that change a list, dict or set in place.
MUTATING_METHODS = frozenset({
    'append', 'extend', 'insert', 'pop', 'remove', 'clear', 'sort', 'reverse',
    'update', 'setdefault', 'popitem', 'add', 'discard',
})

# The methods above that return None on lists, dicts and sets. A call of
# one whose result is used (`a = a.add(v)`) calls a method of another
# class that happens to have the name, which need not change its object.
_NONE_RESULT_METHODS = MUTATING_METHODS - {'pop', 'setdefault', 'popitem'}


def written_and_method_updated(normalized):
    """Return the parameters that the function writes by index
    (`cfg[k] = v`) and also updates with a list or dict method
    (`cfg.pop(k)`, `log.append(v)`), in the order of the parameters.

    Arrays have no such method. The generated code updates a copy of a
    list or dict parameter and writes the copy's contents back into the
    caller's object when the function returns (`runtime.write_back`).
    Other objects are not copied (`runtime.copy`).
    """
    candidates = normalized.written & normalized.mutated
    if not candidates.intersection(normalized.params):
        return ()
    # An array's sort() also changes it, and runtime.write_back leaves
    # arrays as they are.
    updated = mutated_receivers(normalized.tree, candidates,
                                methods=MUTATING_METHODS - {'sort'})
    return tuple(p for p in normalized.params if p in updated)


def mutated_receivers(tree, names=None, index=None,
                      methods=MUTATING_METHODS):
    """Return the names whose object a list, dict or set method call may
    change (`lst.append(v)`, `seen.add(k)`). With `names`, return only
    names in it. `index` is a `NodeIndex` of `tree`, or None. `methods`
    are the method names that count."""
    found = nodes_of(tree, (gast.Expr, gast.Call), index)
    statement_calls = {id(node.value) for node in found
                       if isinstance(node, gast.Expr)}
    mutated = set()
    for node in found:
        if not (isinstance(node, gast.Call)
                and isinstance(node.func, gast.Attribute)
                and node.func.attr in methods
                and isinstance(node.func.value, gast.Name)):
            continue
        if (node.func.attr in _NONE_RESULT_METHODS
                and id(node) not in statement_calls):
            continue
        if names is None or node.func.value.id in names:
            mutated.add(node.func.value.id)
    return mutated

_CONTROL_FLOW = (gast.If, gast.For, gast.While, gast.Break, gast.Continue,
                 gast.IfExp, gast.BoolOp, gast.Try, gast.ListComp,
                 gast.SetComp, gast.DictComp, gast.GeneratorExp)


def has_control_flow(tree, index=None):
    """True if the body branches, loops, returns early, or updates arrays.

    Nested functions count: their bodies are inlined where they are called.
    `index` is a `NodeIndex` of `tree`, or None.
    """
    if index is None or any(node is not tree.body[-1]
                            for node in index.find(gast.Return)):
        # Some return is not the last statement.
        for statement in tree.body[:-1]:
            if any(isinstance(n, gast.Return)
                   for n in closures.own_nodes([statement])):
                return True
        last = tree.body[-1:]
        if last and not isinstance(last[0], gast.Return) and any(
                isinstance(n, gast.Return)
                for n in closures.own_nodes(last)):
            return True  # A return inside the last statement, as a with.
    if extended_lists(tree, index):
        return True  # lst += v becomes lst.extend(v), a mutating method.
    searched = nodes_of(tree, (*_CONTROL_FLOW, gast.Subscript, gast.Call),
                        index)
    for node in searched:
        if isinstance(node, _CONTROL_FLOW):
            return True
        if isinstance(node, gast.Subscript) and isinstance(node.ctx,
                                                           gast.Store):
            return True
        if (isinstance(node, gast.Call) and isinstance(node.func,
                                                       gast.Attribute)
                and node.func.attr in MUTATING_METHODS):
            return True
    return False


def extended_lists(tree, index=None):
    """Names that `name += v` extends in place: every assignment to them is
    a list display, a list comprehension, `list(...)` or `sorted(...)`, or
    an augmented addition of a list or a tuple. Python runs `lst += v` as `lst.extend(v)`
    only then: list has no in-place number method, so for an ndarray `v` it
    calls v.__radd__ and binds lst to the new array, as `lst = lst + v`.
    `index` is a `NodeIndex` of `tree`, or None."""
    if not any(isinstance(node.op, gast.Add)
               for node in nodes_of(tree, gast.AugAssign, index)):
        return set()  # Most functions have no `+=`: skip the analysis.
    sequences = _sequence_names(tree)
    list_bindings = set()
    augmented = set()
    # `lst = lst * 2` and `lst = lst + [v]` make a list when every name
    # they read is a list. Each entry pairs the target with those names.
    derived = []
    for node in nodes_of(tree, (gast.Assign, gast.AugAssign), index):
        if (isinstance(node, gast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], gast.Name)
                and (isinstance(node.value, (gast.List, gast.ListComp))
                     or _is_list_call(node.value, tree))):
            list_bindings.add(id(node.targets[0]))
        elif (isinstance(node, gast.Assign) and len(node.targets) == 1
              and isinstance(node.targets[0], gast.Name)
              and _list_operands(node.value) is not None):
            list_bindings.add(id(node.targets[0]))
            derived.append((node.targets[0].id, _list_operands(node.value)))
        elif (isinstance(node, gast.AugAssign)
              and isinstance(node.target, gast.Name)
              and isinstance(node.op, gast.Add)
              and _is_sequence(node.value, sequences, tree)):
            list_bindings.add(id(node.target))
            augmented.add(node.target.id)
    other_bindings = {
        node.id for node in nodes_of(tree, gast.Name, index)
        if not isinstance(node.ctx, gast.Load)
        and id(node) not in list_bindings}
    names = augmented - other_bindings
    changed = True
    while changed:
        # Drop a name that some binding makes from a value not known to be
        # a list, until every binding reads only names that are kept.
        changed = False
        for target, operands in derived:
            if target in names and not operands <= names:
                names.discard(target)
                changed = True
    return names


def _list_operands(value):
    """Return the names that must contain lists for `value` to make a new
    list, or None.

    `value` qualifies as `a * n` or `n * a` with n an integer constant, or
    as `a + b`, where a and b are names or list displays. An array operand
    would make an array instead, because list + ndarray calls
    ndarray.__radd__."""
    if not isinstance(value, gast.BinOp):
        return None
    operands = [value.left, value.right]
    if isinstance(value.op, gast.Mult):
        counts = [o for o in operands if isinstance(o, gast.Constant)
                  and type(o.value) is int]
        if len(counts) != 1:
            return None
        operands.remove(counts[0])
    elif not isinstance(value.op, gast.Add):
        return None
    if not all(isinstance(o, (gast.Name, gast.List, gast.ListComp))
               for o in operands):
        return None
    return {o.id for o in operands if isinstance(o, gast.Name)}


# Kinds of values whose operators are not those of NumPy.
_CONTAINER = 'container'  # a list, tuple or dict
_OBJECT = 'object'  # an object whose class defines an operator in Python
# An object whose class defines __array__ in Python, which NumPy calls to
# convert it to an array.
_ARRAY_OBJECT = 'array object'
_CONTAINER_BUILTINS = (_builtins.list, _builtins.tuple, _builtins.dict,
                       _builtins.sorted)


def _defines_operator(cls):
    """Return whether the class `cls` has an operator method written in
    Python, which calls of the functions of rules.operators reach."""
    if not isinstance(cls, type) or issubclass(cls, (np.ndarray, np.generic)):
        return False
    return any(isinstance(getattr(cls, method, None), types.FunctionType)
               for method in operators.OPERATOR_METHODS)


def _defines_array(cls):
    """Return whether the class `cls`, which is not an array or a NumPy
    scalar type, defines __array__ in Python."""
    if not isinstance(cls, type) or issubclass(cls, (np.ndarray, np.generic)):
        return False
    return isinstance(getattr(cls, '__array__', None), types.FunctionType)


def _user_operator_object(value):
    """Return whether `value` is an object of a class outside NumPy and
    SciPy with an operator method (or __getitem__) written in Python.
    Library objects such as np.s_, which defines __getitem__, keep their
    rules."""
    cls = type(value)
    module = getattr(cls, '__module__', '') or ''
    if module.split('.')[0] in ('numpy', 'scipy', 'builtins'):
        return False
    return any(isinstance(getattr(cls, method, None), types.FunctionType)
               for method in operators.OPERATOR_METHODS)


def _value_kinds(node, names, global_object):
    """Return the set of kinds (`_CONTAINER`, `_OBJECT`) that the value of
    the expression `node` is known to have. The set is empty when the value
    may be an array or a number. `names` maps names to their kinds."""
    if isinstance(node, (gast.Name, gast.Attribute)):
        # A global (or a dotted global) that refers to such an object now.
        # The code is compiled again when the global is rebound.
        value = global_object(node)
        kinds = set()
        if _user_operator_object(value):
            kinds.add(_OBJECT)
        if _defines_array(type(value)):
            kinds.add(_ARRAY_OBJECT)
        if kinds:
            return frozenset(kinds)
    if isinstance(node, gast.Name):
        return names.get(node.id, frozenset())
    if isinstance(node, (gast.List, gast.Tuple, gast.Dict, gast.ListComp,
                         gast.DictComp)):
        return frozenset({_CONTAINER})
    if isinstance(node, gast.BinOp):
        return _binary_kinds(node, names, global_object)
    if isinstance(node, gast.Subscript) and isinstance(node.slice,
                                                       gast.Slice):
        # A slice of a list or a tuple is a list or a tuple. For a dict with
        # a slice key, the operator's function checks the types at run time.
        if _CONTAINER in _value_kinds(node.value, names, global_object):
            return frozenset({_CONTAINER})
    if isinstance(node, gast.Call):
        callee = global_object(node.func)
        if any(callee is known for known in _CONTAINER_BUILTINS):
            return frozenset({_CONTAINER})
        kinds = set()
        if _defines_operator(callee):
            kinds.add(_OBJECT)
        if _defines_array(callee):
            kinds.add(_ARRAY_OBJECT)
        return frozenset(kinds)
    return frozenset()


def _binary_kinds(node, names, global_object):
    """Return the kinds of `x + y`, `x | y` and `x * n` (see `_value_kinds`).

    Two containers concatenate (two dicts merge), and a container times an
    int constant repeats, so the result is a container. With an operand of
    another kind the result may be an array (`[1.0] + np.ones(2)`), so it
    has no kind.
    """
    left = _value_kinds(node.left, names, global_object)
    right = _value_kinds(node.right, names, global_object)
    container = frozenset({_CONTAINER})
    if isinstance(node.op, (gast.Add, gast.BitOr)) and \
            left == right == container:
        return container
    if isinstance(node.op, gast.Mult):
        for sequence, count in ((left, node.right), (right, node.left)):
            if sequence == container and isinstance(count, gast.Constant) \
                    and type(count.value) is int:
                return container
    return frozenset()


def _private_names(tree):
    """Return the names of `tree` that are not parameters and whose every
    read takes an item (`d[k]`), calls a method that reads the items
    (`d.items()`), tests membership, is the target of an augmented
    assignment, or is an operand of `+`, `|` or `*` with a display, a
    constant or itself: no read makes another reference to the value.
    A name assigned another name (`e = d`) refers to the same value, so
    neither is private."""
    parents = {}
    for node in walk(tree):
        for child in gast.iter_child_nodes(node):
            parents[child] = node
    shared = {a.id for a in tree.args.args + tree.args.posonlyargs
              + tree.args.kwonlyargs}
    names = set()
    for node in walk(tree):
        if not isinstance(node, gast.Name):
            continue
        names.add(node.id)
        if not isinstance(node.ctx, gast.Load):
            continue
        parent = parents.get(node)
        if isinstance(parent, gast.Assign) and parent.value is node:
            shared.update(target.id for target in parent.targets
                          if isinstance(target, gast.Name))
        if _is_copying_operand(node, parent):
            continue
        if isinstance(parent, gast.Subscript) and parent.value is node:
            continue
        if isinstance(parent, gast.Attribute) and parent.attr in (
                'items', 'keys', 'values', 'get') and isinstance(
                    parents.get(parent), gast.Call):
            continue
        if isinstance(parent, gast.Compare) and node in parent.comparators:
            continue
        if isinstance(parent, gast.AugAssign) and (
                parent.target is node or (
                    parent.value is node
                    and isinstance(parent.target, gast.Name)
                    and parent.target.id == node.id)):
            continue
        shared.add(node.id)
    return names - shared


def _is_copying_operand(node, parent):
    """Return whether the name `node` is an operand of a `+`, `|` or `*`
    (`parent`) whose other operand is a display, a constant or the same
    name. Such an operation on a list, tuple or dict makes a new one."""
    if not (isinstance(parent, gast.BinOp)
            and isinstance(parent.op, (gast.Add, gast.BitOr, gast.Mult))):
        return False
    other = parent.right if parent.left is node else parent.left
    if isinstance(other, gast.Name):
        return other.id == node.id
    return isinstance(other, (gast.List, gast.Tuple, gast.Dict,
                              gast.Constant))


def _object_names(tree, global_object, index=None):
    """Return the names of `tree` whose every binding is an assignment of
    a value with a kind (see `_value_kinds`), mapped to their kinds.
    `index` is a `NodeIndex` of `tree`, or None."""
    bindings = {}
    values = {}
    for node in nodes_of(tree, (gast.Assign, gast.AugAssign), index):
        if (isinstance(node, gast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], gast.Name)):
            values[id(node.targets[0])] = node.value
        elif (isinstance(node, gast.AugAssign)
              and isinstance(node.target, gast.Name)):
            # `d |= e` and `t += u` give a container if e and u are ones;
            # `lst *= 2` gives what lst held.
            if isinstance(node.op, (gast.BitOr, gast.Add)):
                values[id(node.target)] = node.value
            elif isinstance(node.op, gast.Mult):
                values[id(node.target)] = _load(node.target.id)
    for node in nodes_of(tree, gast.Name, index):
        if not isinstance(node.ctx, gast.Load):
            bindings.setdefault(node.id, []).append(values.get(id(node)))
    if not any(value is not None for found in bindings.values()
               for value in found):
        return {}

    # Start from the kinds of the bindings that are not names, so that
    # `lst *= 2`, which binds lst to what it held, keeps lst's kinds.
    kinds = {}
    for name, found in bindings.items():
        if all(value is not None for value in found):
            kinds[name] = frozenset().union(*(
                _value_kinds(value, {}, global_object) for value in found
                if not isinstance(value, gast.Name))) or frozenset(
                    {_CONTAINER, _OBJECT})

    changed = True
    while changed:
        changed = False
        for name in list(kinds):
            found = frozenset().union(*(
                _value_kinds(value, kinds, global_object)
                for value in bindings[name]))
            if not all(_value_kinds(value, kinds, global_object)
                       for value in bindings[name]):
                found = frozenset()
            if found != kinds[name]:
                changed = True
                if found:
                    kinds[name] = found
                else:
                    del kinds[name]
    return kinds


# Builtins that return a new list or tuple.
_SEQUENCE_BUILTINS = frozenset({'list', 'tuple', 'sorted'})


def _is_list_call(value, tree):
    """True if `value` is a call of the builtin list or sorted."""
    return (isinstance(value, gast.Call) and isinstance(value.func, gast.Name)
            and value.func.id in ('list', 'sorted')
            and _is_sequence(value, set(), tree))


def _is_sequence(value, sequences, tree):
    """True if `value` is known to be a list or a tuple: a display, a list
    comprehension, list(...), tuple(...), sorted(...), or a name in
    `sequences`."""
    if isinstance(value, (gast.List, gast.Tuple, gast.ListComp)):
        return True
    if isinstance(value, gast.Name):
        return value.id in sequences
    if (isinstance(value, gast.Call) and isinstance(value.func, gast.Name)
            and value.func.id in _SEQUENCE_BUILTINS):
        # A local variable named list would hide the builtin.
        return not any(isinstance(n, gast.Name) and n.id == value.func.id
                       and not isinstance(n.ctx, gast.Load)
                       for n in walk(tree))
    return False


def _sequence_names(tree):
    """Names that only ever hold a list or a tuple: every binding is an
    assignment of one (see `_is_sequence`) or `+=` of one."""
    bindings = {}
    for node in walk(tree):
        if isinstance(node, gast.Name) and not isinstance(node.ctx,
                                                          gast.Load):
            bindings.setdefault(node.id, [])
    values = {}
    for node in walk(tree):
        if (isinstance(node, gast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], gast.Name)):
            values.setdefault(id(node.targets[0]), node.value)
        elif (isinstance(node, gast.AugAssign)
              and isinstance(node.target, gast.Name)
              and isinstance(node.op, gast.Add)):
            values.setdefault(id(node.target), node.value)
    for node in walk(tree):
        if isinstance(node, gast.Name) and node.id in bindings and \
                not isinstance(node.ctx, gast.Load):
            bindings[node.id].append(values.get(id(node)))
    sequences = set(bindings)
    changed = True
    while changed:
        changed = False
        for name in list(sequences):
            if not all(value is not None
                       and _is_sequence(value, sequences, tree)
                       for value in bindings[name]):
                sequences.discard(name)
                changed = True
    return sequences


def _fresh_item_containers(tree, returns_new_object):
    """Names of lists and dicts whose items are new arrays that no other
    name refers to, so that `c[i] += v` may store a new object in c[i].
    Every assignment to such a name is a display of new objects (arithmetic
    or calls that return new arrays). Every read of it is `c[k]`, used as an
    augmented assignment's target or value, or as an operand of arithmetic
    or of a call that returns a new array."""
    parents = {}
    for node in walk(tree):
        for child in child_nodes(node):
            parents[child] = node
    rejected = set()
    candidates = set()
    for node in walk(tree):
        if not isinstance(node, gast.Name):
            continue
        parent = parents.get(node)
        if isinstance(node.ctx, gast.Load):
            if not _reads_item_value(node, parents, returns_new_object):
                rejected.add(node.id)
        elif (isinstance(parent, gast.Assign) and parent.targets == [node]
              and isinstance(parent.value, (gast.List, gast.Dict))
              and all(_is_new_item(item, returns_new_object) for item in (
                  parent.value.values if isinstance(parent.value, gast.Dict)
                  else parent.value.elts))):
            candidates.add(node.id)
        else:
            rejected.add(node.id)
    return candidates - rejected


def _is_new_item(item, returns_new_object):
    return not isinstance(item, (gast.List, gast.Dict, gast.Tuple,
                                 gast.Starred)) and returns_new_object(item)


def _reads_item_value(name, parents, returns_new_object):
    """True if the read `name` is `name[k]` used as described in
    `_fresh_item_containers`."""
    subscript = parents.get(name)
    if not isinstance(subscript, gast.Subscript) or subscript.value is not name:
        return False
    user = parents.get(subscript)
    if isinstance(user, gast.AugAssign):
        return True
    if isinstance(subscript.ctx, gast.Load) and isinstance(
            user, (gast.BinOp, gast.UnaryOp, gast.Compare)):
        return True
    return (isinstance(subscript.ctx, gast.Load) and isinstance(
        user, gast.Call) and subscript in user.args
        and returns_new_object(user))


# The fields of the expressions through which an assignment expression
# may be moved out, in the order Python evaluates them.
_EVALUATION_ORDER = {
    gast.BinOp: ('left', 'right'), gast.UnaryOp: ('operand',),
    gast.Compare: ('left', 'comparators'), gast.BoolOp: ('values',),
    gast.IfExp: ('test', 'body', 'orelse'),
    gast.Call: ('func', 'args', 'keywords'), gast.keyword: ('value',),
    gast.Starred: ('value',), gast.Subscript: ('value', 'slice'),
    gast.Attribute: ('value',), gast.Tuple: ('elts',),
    gast.List: ('elts',), gast.Slice: ('lower', 'upper', 'step'),
}
# Statement -> the field that contains the expression it evaluates first.
_HOISTING_FIELDS = {gast.Assign: 'value', gast.Expr: 'value',
                    gast.Return: 'value', gast.If: 'test',
                    gast.AugAssign: 'value'}


def _hoist_named_expressions(statement):
    """Move the assignment expressions `(n := v)` of a statement into
    assignments `n = v` before it, and read n in their place.

    Returns the assignments and the rewritten statement, or None when the
    statement has none, or when one cannot move without changing what the
    statement computes (it then stays as written, and is rejected where
    it carries a derivative). A move keeps Python's evaluation order
    only if the assignment expression always runs (not in a later operand
    of `and`/`or`, a branch of a conditional expression, a later link of
    a comparison chain, a comprehension or a lambda). Everything Python
    evaluates before it must also be a name or a constant, and no earlier
    read may be of one of its targets.
    """
    field = _HOISTING_FIELDS.get(type(statement))
    expression = getattr(statement, field, None) if field else None
    if expression is None or not find_nodes(expression, gast.NamedExpr):
        return None
    if isinstance(statement, gast.Assign) and any(
            find_nodes(t, gast.NamedExpr) for t in statement.targets):
        return None
    mover = _NamedExpressionMover()
    if isinstance(statement, gast.AugAssign):
        # `n += ...` reads n, and `x[i] += ...` evaluates x and i, first.
        mover.visit_completed(statement.target)
    rewritten = mover.move(expression, conditional=False)
    if rewritten is None:
        return None
    statement = copy.copy(statement)
    setattr(statement, field, rewritten)
    return mover.assignments, statement


class _NamedExpressionMover:
    """Rewrites one expression for `_hoist_named_expressions`."""

    def __init__(self):
        self.assignments = []
        # False once something evaluated before the next assignment
        # expression could see or make a change: a call, an operator, an
        # attribute or a subscript, which does not move with it.
        self.only_reads = True
        self.read_names = set()  # The names read so far.

    def visit_completed(self, node):
        """Note a subexpression evaluated in full before what follows."""
        self.read_names |= _identifiers(node)
        if isinstance(node, gast.UnaryOp):
            node = node.operand  # -1.0 is a constant too.
        if not isinstance(node, (gast.Constant, gast.Name)):
            self.only_reads = False

    def move(self, node, conditional):
        """Return `node` with its assignment expressions replaced by reads
        of their targets, or None if one cannot move."""
        if not any(isinstance(n, gast.NamedExpr) for n in walk(node)):
            self.visit_completed(node)
            return node
        if isinstance(node, gast.NamedExpr):
            if (conditional or not self.only_reads
                    or node.target.id in self.read_names):
                return None
            value = self.move(node.value, conditional)
            if value is None:
                return None
            # The value moves out whole and in order, so what it evaluates
            # does not keep a later assignment expression from moving.
            self.only_reads = True
            assignment = gast.Assign(targets=[copy_tree(node.target)],
                                     value=value, type_comment=None)
            self.assignments.append(gast.copy_location(assignment, node))
            # The read left in place has the right value only if nothing
            # later in the expression assigns the name again.
            self.read_names.add(node.target.id)
            return gast.copy_location(_load(node.target.id), node)
        fields = _EVALUATION_ORDER.get(type(node))
        if fields is None:
            return None  # A comprehension, a lambda, a dict display...
        node = copy.copy(node)
        if isinstance(node, gast.Call) and _is_dotted_name(node.func):
            # Looking up `np.sum` changes nothing, but reads its names.
            self.read_names |= _identifiers(node.func)
            fields = fields[1:]
        for name in fields:
            value = getattr(node, name)
            if isinstance(value, list):
                moved = []
                for position, item in enumerate(value):
                    # Only the first operand of `and`/`or`, and the first
                    # comparator of a chain, always run.
                    later = position > 0 and isinstance(
                        node, (gast.BoolOp, gast.Compare))
                    item = self.move(item, conditional or later)
                    if item is None:
                        return None
                    moved.append(item)
                setattr(node, name, moved)
            elif value is not None:
                branch = isinstance(node, gast.IfExp) and name != 'test'
                value = self.move(value, conditional or branch)
                if value is None:
                    return None
                setattr(node, name, value)
        return node


def _is_dotted_name(node):
    """True for a name or a chain of attributes of a name (np.linalg.norm)."""
    while isinstance(node, gast.Attribute):
        node = node.value
    return isinstance(node, gast.Name)


def _identifiers(node):
    """Return the identifiers of the names in `node`."""
    return {n.id for n in walk(node) if isinstance(n, gast.Name)}


def _leaves_loop(statement, jump):
    """True if `jump` (break or continue) is not inside a loop of
    `statement`, so it would leave a loop around the statement."""
    for node in walk(statement):
        if isinstance(node, (gast.For, gast.While, gast.AsyncFor)) and any(
                child is jump for child in walk(node)):
            return False
    return True


def _loaded(node):
    return {n.id for n in walk(node)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}


def _unshared_names(tree, normalizer):
    """Names that only ever hold new objects no other name can see.

    Used with control flow, where a name is assigned in several places: every
    assignment must make a new object, and no read may keep a reference
    (reads as operands of arithmetic, or as arguments of functions that
    return new arrays, keep none).

    Returns those names, and a dict of the names that qualify only if some
    calls known only at run time (`xp.sum(...)` with xp assigned once, at
    the top of the function) return new objects: name -> those callees.
    """
    parents = {}
    for node in walk(tree):
        for child in child_nodes(node):
            parents[child] = node
    stable = _stable_names(tree)
    fresh = {}
    callees = {}
    escaped = set(a.id for a in tree.args.args + tree.args.posonlyargs)
    for node in walk(tree):
        if isinstance(node, gast.Assign):
            for target in node.targets:
                if isinstance(target, gast.Subscript):
                    continue  # c[i] = v changes the object c refers to, not c.
                is_fresh = isinstance(target, gast.Name) and \
                    normalizer.returns_new_object(node.value)
                callee = normalizer.dynamic_callee(node.value) if isinstance(
                    target, gast.Name) and not is_fresh else None
                if callee is not None and callee.value.id in stable:
                    callees.setdefault(target.id, []).append(callee)
                    is_fresh = True
                for name in walk(target):
                    if isinstance(name, gast.Name):
                        fresh[name.id] = fresh.get(name.id, True) and is_fresh
        elif isinstance(node, gast.For):
            for name in walk(node.target):
                if isinstance(name, gast.Name):
                    fresh[name.id] = False
        elif isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
            parent = parents.get(node)
            if (isinstance(parent, gast.Subscript)
                    and isinstance(parent.ctx, gast.Store)
                    and parent.value is node):
                continue  # c[i] = v keeps no reference to c.
            if _consumed(node, parents, normalizer):
                continue
            escaped.add(node.id)
    unshared = {name for name, ok in fresh.items()
                if ok and name not in escaped}
    conditional = {name: tuple(copy_tree(c) for c in callees[name])
                   for name in unshared if name in callees}
    return unshared - set(conditional), conditional


# Methods that return a new value (a reduction, an index, a copy) and keep
# no reference to their receiver, and attributes that only describe it.
# The receiver here is a name that every assignment gives a new object,
# so an array, a number or a display.
_VALUE_METHODS = frozenset({
    'sum', 'mean', 'prod', 'max', 'min', 'std', 'var', 'any', 'all',
    'argmax', 'argmin', 'argsort', 'nonzero', 'cumsum', 'cumprod', 'copy',
    'tolist', 'item', 'trace', 'flatten',
})
_METADATA = frozenset({'shape', 'ndim', 'size', 'dtype'})
# Array attributes that are views of the array.
_VIEW_ATTRIBUTES = frozenset({'T', 'real', 'imag'})


def _consumed(node, parents, normalizer):
    """True if the value of expression `node` is used in a way that keeps
    no reference to it: as an operand of arithmetic, a returned value, an
    argument of a function that returns a new object, `node.shape`, the
    receiver of `node.sum(...)` (a method in `_VALUE_METHODS`, without
    out=), or indexed (`node[i]`, which may be a view) or viewed
    (`node.T`, `np.flip(node)`) where the result is itself used so."""
    parent = parents.get(node)
    if isinstance(parent, (gast.BinOp, gast.UnaryOp, gast.Compare,
                           gast.Return)):
        return True
    if isinstance(parent, gast.AugAssign) and parent.value is node:
        return True
    if isinstance(parent, gast.Call) and node in parent.args and \
            normalizer.returns_new_object(parent):
        return True
    if isinstance(parent, gast.Call) and parent.args and \
            parent.args[0] is node and normalizer.returns_view(parent):
        return _consumed(parent, parents, normalizer)  # np.flip(x).copy()
    if isinstance(parent, gast.Subscript) and parent.value is node and \
            isinstance(parent.ctx, gast.Load):
        return _consumed(parent, parents, normalizer)
    if not (isinstance(parent, gast.Attribute) and parent.value is node):
        return False
    if parent.attr in _METADATA:
        return True
    if parent.attr in _VIEW_ATTRIBUTES:
        return _consumed(parent, parents, normalizer)
    call = parents.get(parent)
    if (isinstance(call, gast.Call) and call.func is parent
            and parent.attr in runtime.VIEW_METHODS
            and not any(k.arg in ('out', None) for k in call.keywords)
            and not normalizer.object_operands.may_be_object(node)):
        return _consumed(call, parents, normalizer)  # x.reshape(n).sum()
    return (isinstance(call, gast.Call) and call.func is parent
            and parent.attr in _VALUE_METHODS
            and not any(k.arg in ('out', None) for k in call.keywords))


def _stable_names(tree):
    """Names that hold one value for the whole call: parameters never
    assigned, and names assigned once, by a statement at the top of the
    body (not inside a branch or loop)."""
    stores = {}
    for node in walk(tree):
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
            stores[node.id] = stores.get(node.id, 0) + 1
    top = {target.id for statement in tree.body
           if isinstance(statement, gast.Assign)
           for target in statement.targets if isinstance(target, gast.Name)}
    params = {a.id for a in tree.args.args + tree.args.posonlyargs
              + tree.args.kwonlyargs}
    return {name for name in params | top if stores.get(name, 0) == (
        0 if name in params else 1)}


def _number_counters(tree):
    """Return the names whose every store in `tree` assigns a number
    constant or updates with one (see `_Normalizer.number_counters`)."""
    numbers = {}
    plain_targets = set()
    for node in walk(tree):
        if isinstance(node, gast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, gast.AugAssign):
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, gast.Name):
            plain_targets.add(id(target))
            numbers[target.id] = numbers.get(target.id, True) and (
                isinstance(value, gast.Constant)
                and type(value.value) in (int, float))
    for node in walk(tree):
        # Any other store (a loop or tuple target, :=, with ... as, del).
        if isinstance(node, gast.Name) and not isinstance(
                node.ctx, gast.Load) and id(node) not in plain_targets:
            numbers[node.id] = False
    return {name for name, only_numbers in numbers.items() if only_numbers}


def _assigned_names(tree, index=None):
    """Names local to the function, also those bound inside statements kept
    verbatim; nested functions' own locals are not among them. `index` is
    a `NodeIndex` of `tree`, or None."""
    names = closures.local_names(tree, index)
    if index is not None and all(
            node is tree for node in index.find(_NAME_BINDING_STATEMENTS)):
        return names  # No statement binds a name without a Name node.
    for statement in tree.body:
        names.update(verbatim.bound_names(statement))
    return names


# The nodes by which `verbatim.bound_names` finds names bound without a
# Name node.
_NAME_BINDING_STATEMENTS = (
    gast.Import, gast.ImportFrom, gast.MatchAs, gast.MatchStar,
    gast.MatchMapping, gast.FunctionDef, gast.AsyncFunctionDef,
    gast.ClassDef)


def _copy_reference(node):
    if isinstance(node, gast.Name):
        return _load(node.id)
    copy = gast.Attribute(value=_copy_reference(node.value), attr=node.attr,
                          ctx=gast.Load())
    return gast.copy_location(copy, node)


def _needs_variable(tree, name, calls=True):
    """True if `tree` reads `name` in an f-string, or calls it (when `calls`
    is set), which a constant cannot stand in for."""
    for node in walk(tree):
        if calls and isinstance(node, gast.Call) and isinstance(
                node.func, gast.Name) and node.func.id == name:
            return True
        if isinstance(node, gast.JoinedStr) and any(
                isinstance(n, gast.Name) and n.id == name
                for n in walk(node)):
            return True
    return False


def _parameter(name):
    return gast.Name(id=name, ctx=gast.Param(), annotation=None,
                     type_comment=None)


def _load(name):
    return name_node(name)


def _store(name):
    return name_node(name, gast.Store())


def _function_argument_fixes(callee):
    """Return the fixes for a lambda or inner function passed to `callee`,
    a function of a library that calls it (np.apply_along_axis,
    scipy.integrate.quad), or None for another call."""
    module = getattr(callee, '__module__', None) or ''
    name = getattr(callee, '__name__', '')
    if callee is np.apply_along_axis:
        return ['loop over the rows or use a comprehension, and stack the '
                'results: np.stack([f(row) for row in X]) for axis=1 of a '
                '2-D X, or the same over X.T for axis=0']
    if module.startswith('scipy.integrate'):
        return [f'compute the integral with NumPy operations in place of '
                f'scipy.integrate.{name}, which runs compiled code that '
                'adcompiler cannot differentiate: for example '
                'np.trapezoid(f(t), t) (np.trapz before NumPy 2.0) on a '
                'grid t = np.linspace(a, b, n)',
                'or register a gradient rule (adcompiler.register_vjp) for '
                f'a module-level function that calls {name}']
    if callee is not None and (module.partition('.')[0] in ('numpy', 'scipy')
                               or is_library_file(getattr(
                                   getattr(callee, '__code__', None),
                                   'co_filename', ''))):
        return [f'compute what {name or "the library function"} computes '
                'with operations that adcompiler differentiates, such as a '
                'loop or a comprehension that calls your function directly',
                'or register a gradient rule (adcompiler.register_vjp) for '
                f'a module-level function that makes this call']
    return ['call it, assign it to a name, pass it to map, filter, '
            'sorted, functools.reduce or a function of the same '
            'module, or return it from such a function',
            'define it at module level and pass the values it '
            'captures as arguments']
