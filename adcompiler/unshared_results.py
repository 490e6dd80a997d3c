"""Tell whether a Python function keeps or returns a reference to its arguments.

Used by the aliasing check (adcompiler.aliasing) for calls of user
functions. An array that is passed to a helper and later updated in place
must not be visible through the helper's result or through anything the
helper stored. Such a value would show the update, and the derivative
would not follow it. `returns_unshared(function, ...)` is true only when
the function's source proves, for any arguments, that:

- every value it returns is a new object. Arithmetic, functions that
  return new arrays (ufuncs, reductions, `np.copy`), methods such as
  `.sum()` and `.copy()`, displays of such values, and user functions for
  which this is true in turn build new objects;
- it changes none of its parameters in place, and puts no parameter (or
  part of one) into a global, a closure variable or another object that
  outlives the call;
- it defines no inner function, lambda or class, has no `global` or
  `nonlocal` statement, and is not a generator.

The analysis follows assignments without regard to their order, so a name
assigned once from a parameter counts as a part of it everywhere. What it
cannot read (a call of an unknown function given a parameter, a `match`
statement) makes the result False.
"""

import inspect
import math
import types

import gast
import numpy as np

from adcompiler import bounded, parse, resolve, runtime
from adcompiler.errors import AdCompilerError
from adcompiler.resolve import CallKind
from adcompiler.rules import REGISTRY
from adcompiler.traversal import walk

# The roots a value may share memory with: the function's parameters, or
# an object from outside the call (a global, a closure variable, a result
# of an unknown function).
PARAMETER = 'parameter'
OUTSIDE = 'outside'
_SHARED = frozenset({PARAMETER, OUTSIDE})

# The maximum depth of user function calls that are read. A deeper call
# counts as keeping its arguments.
_MAX_DEPTH = 4

# Methods that return a new value and change nothing (as in
# adcompiler.aliasing.VALUE_METHODS), and methods of dicts that read.
_VALUE_METHODS = frozenset({
    'sum', 'mean', 'max', 'min', 'prod', 'std', 'var', 'dot', 'any', 'all',
    'argmax', 'argmin', 'tolist', 'item', 'copy', 'count', 'index',
    'flatten', 'astype',
})
# The maximum number of positional arguments each of those methods takes
# before its output array (`a.sum(axis, dtype, out)`) or its copy=False flag
# (`a.astype(t, order, casting, subok, copy)`). A call with more may write
# into an array or return the receiver. `item` takes only indices.
_VALUE_METHOD_ARGUMENTS = {
    'sum': 2, 'mean': 2, 'prod': 2, 'std': 2, 'var': 2, 'max': 1, 'min': 1,
    'any': 1, 'all': 1, 'argmax': 1, 'argmin': 1, 'dot': 1, 'copy': 1,
    'flatten': 1, 'astype': 4, 'tolist': 0, 'count': 1, 'index': 3,
}
_READING_METHODS = frozenset({'keys', 'values', 'items', 'get'})
_LIST_UPDATES = frozenset({'append', 'extend', 'insert'})
_METADATA = frozenset({'shape', 'ndim', 'size', 'dtype'})

# Built-in functions that change nothing and return their arguments or
# parts of them (an iterator, an item), and those that return a new value.
_PASSING_BUILTINS = (zip, enumerate, reversed, range, iter, next, min, max,
                     sorted, list, tuple, dict, getattr)
_VALUE_BUILTINS = (len, isinstance, issubclass, id, hash, bool, int, float,
                   complex, str, repr, format, print, abs, round, callable,
                   hasattr, type)


def returns_unshared(function, new_object_functions):
    """Return whether `function` (a Python function) returns only new
    objects and keeps no reference to its arguments (see the module
    docstring). A call of a function in `new_object_functions` (a
    container of the library functions known to return a new object)
    counts as making a new value."""
    return _read(function, new_object_functions, ()).unshared


class _Summary:
    """The result of `returns_unshared` for one function, and the globals
    and closure variables that it relied on, as (function, dotted name,
    value) triples."""

    def __init__(self, unshared, lookups):
        self.unshared = unshared
        self.lookups = lookups

    def is_current(self):
        """True if every name it relied on still has the same value."""
        namespaces = {}
        for function, name, value in self.lookups:
            if function not in namespaces:
                namespaces[function] = parse.function_namespace(function)
            if _lookup(namespaces[function], name) is not value:
                return False
        return True


# (function, code) -> its `_Summary`, for the most recently used functions.
_SUMMARIES = bounded.LruCache(256)


def _read(function, new_object_functions, active):
    """Return the `_Summary` of `function`, read from its source, or kept
    from an earlier read while the names it relied on keep their values."""
    key = (function, getattr(function, '__code__', None))
    summary = _SUMMARIES.get(key)
    if summary is not None and summary.is_current():
        return summary
    reader = _FunctionReader(function, new_object_functions, active)
    summary = _Summary(reader.unshared(), tuple(reader.lookups))
    if not reader.guessed:
        _SUMMARIES[key] = summary
    return summary


def _lookup(namespace, name):
    """Return what the dotted `name` is in `namespace`, or None."""
    root, *attributes = name.split('.')
    value = namespace.get(root)
    for attribute in attributes:
        value = getattr(value, attribute, None)
    return value


class _FunctionReader:
    """The reader of one function's source, which follows the roots of its
    values (see the module docstring)."""

    def __init__(self, function, new_object_functions, active):
        self.function = function
        self.new_object_functions = new_object_functions
        self.active = active + (function,)
        self.origins = {}  # local name -> the roots it may share memory with
        self.returned = set()
        self.safe = True
        self.changed = False
        self.lookups = []  # see `_Summary`
        # True when a nested call was cut off by recursion or depth, so
        # that the result is not kept for reuse.
        self.guessed = False

    def unshared(self):
        if not isinstance(self.function, types.FunctionType):
            return False
        try:
            source = parse.get_source(self.function)
        except AdCompilerError:
            return False
        tree = source.tree
        self.namespace = source.namespace
        self.local_names = {n.id for n in walk(tree) if isinstance(
            n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Param))}
        for argument in (tree.args.posonlyargs + tree.args.args
                         + tree.args.kwonlyargs
                         + [tree.args.vararg, tree.args.kwarg]):
            if argument is not None:
                self.origins[argument.id] = {PARAMETER}
                self.local_names.add(argument.id)
        if any(isinstance(node, (gast.Yield, gast.YieldFrom, gast.Await,
                                 gast.Lambda, gast.Global, gast.Nonlocal))
               or (isinstance(node, (gast.FunctionDef, gast.AsyncFunctionDef,
                                     gast.ClassDef)) and node is not tree)
               for node in walk(tree)):
            return False

        # Roots only grow, so the passes end.
        self.changed = True
        while self.changed and self.safe:
            self.changed = False
            self.block(tree.body)
        return self.safe and not self.returned

    # Statements --------------------------------------------------------------

    def block(self, statements):
        for statement in statements:
            self.statement(statement)

    def statement(self, node):
        if isinstance(node, gast.Assign):
            roots = self.roots(node.value)
            for target in node.targets:
                self.bind(target, roots)
        elif isinstance(node, gast.AugAssign):
            self.update(node.target, self.roots(node.value))
        elif isinstance(node, gast.AnnAssign):
            if node.value is not None:
                self.bind(node.target, self.roots(node.value))
        elif isinstance(node, gast.Expr):
            self.roots(node.value)
        elif isinstance(node, gast.Return):
            self.returned |= self.roots(node.value)
        elif isinstance(node, (gast.If, gast.While)):
            self.roots(node.test)
            self.block(node.body)
            self.block(node.orelse)
        elif isinstance(node, gast.For):
            self.bind(node.target, self.roots(node.iter))
            self.block(node.body)
            self.block(node.orelse)
        elif isinstance(node, gast.With):
            for item in node.items:
                roots = self.roots(item.context_expr)
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, roots)
            self.block(node.body)
        elif isinstance(node, gast.Try):
            self.block(node.body)
            for handler in node.handlers:
                self.roots(handler.type)
                self.block(handler.body)
            self.block(node.orelse)
            self.block(node.finalbody)
        elif isinstance(node, gast.Raise):
            self.roots(node.exc)
            self.roots(node.cause)
        elif isinstance(node, gast.Assert):
            self.roots(node.test)
            self.roots(node.msg)
        elif isinstance(node, gast.Delete):
            for target in node.targets:
                if not isinstance(target, gast.Name):
                    self.store(target, set())
        elif isinstance(node, (gast.Import, gast.ImportFrom)):
            for alias in node.names:
                self.add((alias.asname or alias.name).split('.')[0],
                         {OUTSIDE})
        elif not isinstance(node, (gast.Pass, gast.Break, gast.Continue)):
            self.safe = False  # match, and statements not read here

    def bind(self, target, roots):
        """Give `target` (a name, an unpacking or a store) `roots`."""
        if isinstance(target, gast.Name):
            self.add(target.id, roots)
        elif isinstance(target, (gast.Tuple, gast.List)):
            for element in target.elts:
                self.bind(element, roots)
        elif isinstance(target, gast.Starred):
            self.bind(target.value, roots)
        else:
            self.store(target, roots)

    def update(self, target, roots):
        """`target op= value`: an update in place of an array or a list,
        which then keeps `roots` (a list extended with a parameter)."""
        if isinstance(target, gast.Name):
            if self.origins.get(target.id, set()) & _SHARED:
                self.safe = False
            self.add(target.id, roots)
        else:
            self.store(target, roots)

    def store(self, target, roots):
        """`c[k] = v` or `c.a = v`: the object c changes and keeps v, which
        is safe only for an object that the call made.

        NOTE: a store into a new array (`out[:] = c`) counts as keeping c,
        although an array copies the values, because the reader does not
        tell arrays from lists.
        """
        if isinstance(target, gast.Subscript):
            self.roots(target.slice)
        base = target.value
        if self.roots(base) & _SHARED:
            self.safe = False
        while isinstance(base, (gast.Subscript, gast.Attribute)):
            base = base.value
        if isinstance(base, gast.Name):
            self.add(base.id, roots)

    def add(self, name, roots):
        known = self.origins.setdefault(name, set())
        if not roots <= known:
            known |= roots
            self.changed = True

    # Expressions -------------------------------------------------------------

    def roots(self, node):
        """Return the roots that the value of `node` may share memory
        with, and note any effect that makes the function unsafe."""
        if node is None or isinstance(node, gast.Constant):
            return set()

        if isinstance(node, gast.Name):
            if node.id in self.local_names:
                return set(self.origins.get(node.id, set()))
            return {OUTSIDE}
        if isinstance(node, (gast.BinOp, gast.UnaryOp, gast.Compare,
                             gast.JoinedStr, gast.FormattedValue,
                             gast.Slice)):
            # Arithmetic and comparisons make new values. NOTE: an operator
            # method of a user class that returns its own operand is not
            # seen.
            for child in gast.iter_child_nodes(node):
                if isinstance(child, gast.expr):
                    self.roots(child)
            return set()

        # Displays and the operators that return one of their operands.
        if isinstance(node, (gast.BoolOp, gast.Tuple, gast.List, gast.Set,
                             gast.Dict, gast.IfExp)):
            found = set()
            for child in gast.iter_child_nodes(node):
                if isinstance(child, gast.expr):
                    found |= self.roots(child)
            return found

        # Parts and views.
        if isinstance(node, gast.Subscript):
            self.roots(node.slice)
            return self.roots(node.value)
        if isinstance(node, gast.Attribute):
            found = self.roots(node.value)
            return set() if node.attr in _METADATA else found
        if isinstance(node, gast.Starred):
            return self.roots(node.value)

        if isinstance(node, gast.NamedExpr):
            found = self.roots(node.value)
            self.bind(node.target, found)
            return found
        if isinstance(node, (gast.ListComp, gast.SetComp, gast.GeneratorExp,
                             gast.DictComp)):
            return self.comprehension(node)
        if isinstance(node, gast.Call):
            return self.call(node)
        self.safe = False  # An expression not read here, such as await.
        return {OUTSIDE}

    def comprehension(self, node):
        """A comprehension's value, which may contain its items and, for a
        generator, refers to what it iterates over."""
        found = set()
        for generator in node.generators:
            iterated = self.roots(generator.iter)
            found |= iterated
            self.bind(generator.target, iterated)
            for condition in generator.ifs:
                self.roots(condition)
        for field in ('elt', 'key', 'value'):
            found |= self.roots(getattr(node, field, None))
        return found

    def call(self, node):
        arguments = set()
        for argument in list(node.args) + [k.value for k in node.keywords]:
            arguments |= self.roots(argument)
        if any(k.arg == 'out' for k in node.keywords):
            self.safe = False
            return {OUTSIDE}
        func = node.func
        root = func
        while isinstance(root, gast.Attribute):
            root = root.value
        is_global = (isinstance(root, gast.Name)
                     and root.id not in self.local_names)
        if isinstance(func, gast.Attribute) and not is_global:
            return self.method(node, self.roots(func.value), arguments)
        if not isinstance(root, gast.Name):
            # f(x)(c) or fs[0](c): a function that an expression returns.
            return self.unknown(arguments | self.roots(func))
        if not is_global:
            # A function held in a variable, which may keep its arguments.
            return self.unknown(arguments)
        name = resolve.dotted_name(func)
        callee = resolve.dotted_value(func, self.namespace, self.local_names)
        if name is None or callee is None:
            return self.unknown(arguments)
        self.lookups.append((self.function, name, callee))
        return self.function_call(node, name, callee, arguments)

    def method(self, node, receiver, arguments):
        """`r.m(...)` on a local value r (or on the value of an expression)."""
        attr = node.func.attr
        if any(k.arg == 'copy' for k in node.keywords):
            return receiver | arguments  # a.astype(t, copy=False) may be a.
        if attr in _VALUE_METHODS:
            if (attr != 'item' and _starred(node)) or len(node.args) > (
                    _VALUE_METHOD_ARGUMENTS.get(attr, len(node.args))):
                # An output array passed by position (a.sum(None, None, b)).
                return self.unknown(receiver | arguments)
            return set()
        if attr in runtime.VIEW_METHODS or attr in _READING_METHODS:
            return receiver | arguments
        if attr in _LIST_UPDATES or attr == 'pop':
            if receiver & _SHARED:
                self.safe = False
            base = node.func.value
            if isinstance(base, gast.Name):
                self.add(base.id, arguments)
            return receiver
        if receiver or arguments:
            self.safe = False
        return {OUTSIDE}

    def function_call(self, node, name, callee, arguments):
        """A call of a global or closure function `callee`."""
        if any(k.arg == 'copy' and not (isinstance(k.value, gast.Constant)
                                        and k.value.value is True)
               for k in node.keywords):
            return arguments  # np.array(a, copy=False) may return a.
        if callee is sum or callee is np.diff:
            # sum([], start) returns start, and np.diff(a, n=0) returns a.
            return arguments
        if _passes_output(callee, node) and (
                callee in self.new_object_functions
                or runtime.returns_new_array(callee)):
            # np.sin(a, a) writes into a and returns it.
            return self.unknown(arguments)
        if (callee in self.new_object_functions
                or runtime.returns_new_array(callee)
                or (isinstance(callee, types.BuiltinFunctionType)
                    and callee.__self__ is math)
                or any(callee is f for f in _VALUE_BUILTINS)):
            return set()
        if any(callee is f for f in runtime.VIEW_FUNCTIONS + _PASSING_BUILTINS):
            if any(k.arg == 'key' for k in node.keywords):
                # A key function may keep its arguments.
                return self.unknown(arguments)
            return arguments
        resolved = resolve.classify(callee, name, REGISTRY)
        if resolved.kind is CallKind.USER:
            return self.user_call(resolved.callee, arguments)
        owner = getattr(callee, '__self__', None)
        if owner is not None and not isinstance(owner, (types.ModuleType,
                                                        type, np.ufunc)):
            # A method of a global object, which may keep its arguments.
            return self.unknown(arguments)
        if resolved.kind is CallKind.RULE or (
                resolved.kind in (CallKind.NON_DIFFERENTIABLE,
                                  CallKind.CONSTRUCTOR)
                and not isinstance(callee, types.FunctionType)):
            # A library function with a rule reads its arguments, and its
            # result may be a view of them.
            return arguments
        return self.unknown(arguments)

    def user_call(self, callee, arguments):
        if callee in self.active or len(self.active) >= _MAX_DEPTH:
            self.guessed = True
            return self.unknown(arguments)
        summary = _read(callee, self.new_object_functions, self.active)
        self.lookups.extend(summary.lookups)
        if summary.unshared:
            return set()
        return self.unknown(arguments)

    def unknown(self, arguments):
        """A call of a function that may keep its arguments or return an
        object from outside."""
        if arguments:
            self.safe = False
        return {OUTSIDE}


def _starred(node):
    """Return whether the call `node` unpacks arguments (f(*args))."""
    return any(isinstance(a, gast.Starred) for a in node.args)


def _passes_output(callee, node):
    """Return whether the call `node` of the NumPy function `callee` may
    pass an output array by position, as in np.sin(a, a) or
    np.cumsum(a, 0, None, a).

    A ufunc takes its outputs after its `nin` inputs. Another function
    takes `out` at its place in the signature. Where the signature cannot
    be read (a function written in C), any call with more than one
    positional argument counts as passing one.
    """
    if _starred(node):
        return True
    if isinstance(callee, np.ufunc):
        return len(node.args) > callee.nin
    try:
        parameters = list(inspect.signature(callee).parameters.values())
    except (TypeError, ValueError):
        return len(node.args) > 1
    for position, parameter in enumerate(parameters):
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return False  # out after *args can only be a keyword.
        if parameter.name == 'out':
            return len(node.args) > position
    return False
