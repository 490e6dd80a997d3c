"""Decorated functions: differentiate the function a wrapper forwards to.

A decorator written with `functools.wraps` returns a wrapper whose
`__wrapped__` is the original function. When the wrapper only forwards its
arguments unchanged to that function and returns its result unchanged, its
derivative is the original function's, so the compiler transforms the
original (`unwrap_forwarding`). Code around the forwarding call then does
not run in generated code, so it is allowed only where it cannot change what
the original function computes: calls of `print`, of `logging` functions and
`Logger` methods and of `time` clocks, and assignments to the wrapper's
locals, and counters in closure cells that only the wrapper refers to or
in attributes of the wrapper that no function of the module reads (see
`_leaves_alone`). A wrapper that does anything else (sets a global flag the
function reads, changes the arguments or the result) is transformed as it
is.

NOTE: a logging handler may run any code, which then does not run either.
"""

import builtins
import functools
import gc
import logging
import time
import types

import gast

from adcompiler import parse
from adcompiler.errors import AdCompilerError
from adcompiler.traversal import walk


@functools.lru_cache(maxsize=256)
def unwrap_forwarding(function):
    """Return the function that `function` only forwards to, or `function`.

    Follows chains of forwarding wrappers; see the module docstring.
    """
    seen = set()
    while getattr(function, '__wrapped__', None) is not None and \
            id(function) not in seen:
        seen.add(id(function))
        inner = function.__wrapped__
        try:
            tree = parse.get_source(function).tree
        except AdCompilerError:  # No source: transform the wrapper as it is.
            return function
        if not _forwards(tree, _names_bound_to(function, inner),
                         _Scope(function, inner)):
            return function
        function = inner
    return function


def _names_bound_to(function, inner):
    """Names under which `function`'s body can read `inner`."""
    names = set()
    code = getattr(function, '__code__', None)
    if code is not None and function.__closure__:
        for name, cell in zip(code.co_freevars, function.__closure__,
                              strict=True):
            try:
                if cell.cell_contents is inner:
                    names.add(name)
            except ValueError:  # An empty cell.
                continue
    for name, value in getattr(function, '__globals__', {}).items():
        if value is inner:
            names.add(name)
    return names


def blocking_statement(function):
    """Return the statement of wrapper `function` that keeps it from being
    replaced by the function it wraps, or None.

    None also means that the wrapper's forwarding call itself differs from
    `return f(*args, **kwargs)` or that its source is unavailable.
    """
    inner = getattr(function, '__wrapped__', None)
    if inner is None:
        return None
    try:
        tree = parse.get_source(function).tree
    except AdCompilerError:
        return None
    scope = _Scope(function, inner)
    forwarding = _forwarding_statement(
        tree, _names_bound_to(function, inner), scope)
    if forwarding is None:
        return None
    statement, protected = forwarding
    for other in tree.body[:-1]:
        if other is not statement and not _leaves_alone(other, protected,
                                                         scope):
            return other
    return None


def _forwards(tree, callee_names, scope):
    """Return True when the body of wrapper `tree` returns
    `callee(*its arguments)` and does not use the arguments or the result
    in any other statement."""
    forwarding = _forwarding_statement(tree, callee_names, scope)
    if forwarding is None:
        return False
    statement, protected = forwarding
    return all(_leaves_alone(other, protected, scope)
               for other in tree.body[:-1] if other is not statement)


def _forwarding_statement(tree, callee_names, scope):
    """Return the statement of wrapper `tree` that forwards its arguments
    and the names other statements must not use, or None.

    Also sets `scope.locals` to the wrapper's other local names.
    """
    args = tree.args
    if args.posonlyargs or args.kwonlyargs or not callee_names:
        return None
    params = [a.id for a in args.args]
    vararg = args.vararg.id if args.vararg else None
    kwarg = args.kwarg.id if args.kwarg else None
    body = tree.body
    if not body or not isinstance(body[-1], gast.Return) or \
            body[-1].value is None:
        return None

    # Either `return f(*args, **kwargs)`, or `result = f(*args, **kwargs)`
    # somewhere before `return result`.
    returned = body[-1].value
    result = None
    forwarding = body[-1]
    if isinstance(returned, gast.Name):
        result = returned.id
        calls = [s for s in body[:-1] if isinstance(s, gast.Assign)
                 and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name)
                 and s.targets[0].id == result]
        if len(calls) != 1:
            return None
        forwarding = calls[0]
        returned = forwarding.value
    if not _is_forwarding_call(returned, callee_names, params, vararg, kwarg):
        return None

    # Other statements (logging, timing, counting) must not see the
    # arguments or the result: a call given one could change it in place.
    protected = (set(params) | {vararg, kwarg, result}) - {None}
    scope.locals = _assigned_locals(tree) - protected
    return forwarding, protected


def _is_forwarding_call(node, callee_names, params, vararg, kwarg):
    if not (isinstance(node, gast.Call) and isinstance(node.func, gast.Name)
            and node.func.id in callee_names):
        return False
    expected = [('name', p) for p in params]
    if vararg:
        expected.append(('starred', vararg))
    found = []
    for arg in node.args:
        if isinstance(arg, gast.Name):
            found.append(('name', arg.id))
        elif isinstance(arg, gast.Starred) and isinstance(arg.value,
                                                          gast.Name):
            found.append(('starred', arg.value.id))
        else:
            return False
    keywords = [(k.arg, k.value.id if isinstance(k.value, gast.Name) else None)
                for k in node.keywords]
    return found == expected and keywords == ([(None, kwarg)] if kwarg else [])


# Callables that a wrapper may call around the forwarding call: they write
# output or read a clock, and the wrapped function cannot see either.
_CLOCKS = frozenset({time.time, time.time_ns, time.perf_counter,
                     time.perf_counter_ns, time.monotonic, time.monotonic_ns,
                     time.process_time, time.process_time_ns})
_LOGGING_NAMES = frozenset({'debug', 'info', 'warning', 'error', 'critical',
                            'exception', 'log'})


class _Scope:
    """The names a wrapper's body reads, resolved in its closure and globals."""

    def __init__(self, wrapper, inner):
        self.wrapper = wrapper
        self.inner = inner
        self.locals = set()
        self.cells = {}
        code = getattr(wrapper, '__code__', None)
        if code is not None and wrapper.__closure__:
            self.cells = dict(zip(code.co_freevars, wrapper.__closure__,
                                  strict=True))
        self.globals = getattr(wrapper, '__globals__', {})

    def lookup(self, name):
        """Return (True, value) for a name the wrapper reads from outside
        its body, or (False, None) when it cannot be resolved now."""
        if name in self.cells:
            try:
                return True, self.cells[name].cell_contents
            except ValueError:  # An empty cell.
                return False, None
        if name in self.globals:
            return True, self.globals[name]
        if hasattr(builtins, name):
            return True, getattr(builtins, name)
        return False, None

    def resolve(self, node):
        """Return (True, value) for a name or a chain of attributes of a
        module, or (False, None)."""
        if isinstance(node, gast.Name) and node.id not in self.locals:
            return self.lookup(node.id)
        if isinstance(node, gast.Attribute):
            found, base = self.resolve(node.value)
            if found and isinstance(base, types.ModuleType) and \
                    hasattr(base, node.attr):
                return True, getattr(base, node.attr)
        return False, None

    def shares_cell(self, name):
        """Return True if the wrapped function can read closure cell `name`."""
        cell = self.cells.get(name)
        inner_cells = getattr(self.inner, '__closure__', None) or ()
        return cell is None or any(c is cell for c in inner_cells)

    def module_reads_attribute(self, attr):
        """Return True if any function or method of the wrapped function's
        module names attribute `attr` (`counted.calls`), so that the
        function, or a helper it calls, may read the count."""
        pending = []
        for value in getattr(self.inner, '__globals__', {}).values():
            if isinstance(value, type):
                pending.extend(vars(value).values())
            else:
                pending.append(value)
        codes = [getattr(getattr(v, '__func__', v), '__code__', None)
                 for v in pending]
        codes = [c for c in codes if isinstance(c, types.CodeType)]
        inner_code = getattr(self.inner, '__code__', None)
        if inner_code is not None:
            codes.append(inner_code)
        # The wrapper's code, and the decorator's that sets the attribute
        # (wrapper.calls = 0), name it without reading the count.
        wrapper_code = self.wrapper.__code__
        while codes:
            code = codes.pop()
            if code is wrapper_code or wrapper_code in code.co_consts:
                continue
            if attr in code.co_names:
                return True
            codes.extend(c for c in code.co_consts
                         if isinstance(c, types.CodeType))
        return False

    def owns_cell(self, name):
        """Return True if the closure cell `name` of the wrapper is held by
        the wrapper alone: no other function (a helper the decorator also
        made) can read the count kept in it."""
        cell = self.cells.get(name)
        if cell is None:
            return False
        closure = self.wrapper.__closure__
        # Another function that reads the cell has it in its __closure__.
        return all(referrer is closure or referrer is self.cells
                   or isinstance(referrer, types.FrameType)
                   for referrer in gc.get_referrers(cell))


def _assigned_locals(tree):
    """Names the wrapper's body assigns and does not declare nonlocal or
    global."""
    assigned, declared = set(), set()
    for node in walk(tree):
        if isinstance(node, (gast.Global, gast.Nonlocal)):
            declared.update(node.names)
        elif isinstance(node, gast.Name) and \
                isinstance(node.ctx, gast.Store):
            assigned.add(node.id)
    return assigned - declared


def _is_quiet_callable(value):
    """Return True for `print`, a clock of `time` or a logging call."""
    if value is builtins.print or value in _CLOCKS:
        return True
    if isinstance(value, types.FunctionType):
        return value.__module__ == 'logging' and \
            value.__name__ in _LOGGING_NAMES
    if isinstance(value, types.MethodType):
        return isinstance(value.__self__, logging.Logger) and \
            value.__func__.__name__ in _LOGGING_NAMES
    return False


def _is_plain_value(value):
    return value is None or isinstance(
        value, (bool, int, float, complex, str, bytes, types.ModuleType,
                types.FunctionType, types.BuiltinFunctionType, type))


def _reads_only(node, protected, scope):
    """Return True if evaluating expression `node` can change no state:
    it reads constants, the wrapper's locals and resolvable plain values,
    formats them and calls only `print`, logging and clocks."""
    if isinstance(node, gast.Constant):
        return True
    if isinstance(node, gast.Name):
        if node.id in protected:
            return False
        if node.id in scope.locals:
            return True
        found, value = scope.lookup(node.id)
        return found and _is_plain_value(value)
    if isinstance(node, gast.Attribute):
        # Reading `__name__` of a function or an attribute of a module
        # runs no code of the user's.
        found, base = scope.resolve(node.value)
        return found and isinstance(base, (types.ModuleType,
                                           types.FunctionType))
    if isinstance(node, (gast.JoinedStr, gast.FormattedValue, gast.BinOp,
                         gast.UnaryOp, gast.BoolOp, gast.Compare,
                         gast.IfExp, gast.Tuple, gast.keyword)):
        children = [c for c in gast.iter_child_nodes(node)
                    if not isinstance(c, (gast.operator, gast.unaryop,
                                          gast.boolop, gast.cmpop,
                                          gast.expr_context))]
        return all(_reads_only(c, protected, scope) for c in children)
    if isinstance(node, gast.Call):
        found, callee = scope.resolve(node.func)
        if not found:
            # A method of a logger the wrapper's globals hold.
            if isinstance(node.func, gast.Attribute):
                found, owner = scope.resolve(node.func.value)
                if found and isinstance(owner, logging.Logger):
                    callee = getattr(owner, node.func.attr, None)
                    found = True
        return found and _is_quiet_callable(callee) and all(
            _reads_only(c, protected, scope)
            for c in list(node.args) + list(node.keywords))
    return False


def _leaves_alone(statement, protected, scope):
    """Return True if `statement` cannot change what the wrapped function
    computes: it does not use a protected name (the arguments and the
    result), and does not return or define anything. It may only log, read
    a clock, assign the wrapper's locals, or count in a closure cell of the
    wrapper alone (`_Scope.owns_cell`) or in an attribute that no function
    of the module reads (`_Scope.module_reads_attribute`)."""
    if isinstance(statement, gast.Pass):
        return True
    if isinstance(statement, gast.Nonlocal):
        return not any(scope.shares_cell(name) for name in statement.names)
    if isinstance(statement, gast.Expr):  # A docstring or a call.
        return isinstance(statement.value, (gast.Call, gast.Constant)) and \
            _reads_only(statement.value, protected, scope)
    if isinstance(statement, gast.Assign):
        return all(isinstance(t, gast.Name) and t.id in scope.locals
                   for t in statement.targets) and \
            _reads_only(statement.value, protected, scope)
    if isinstance(statement, gast.AugAssign):
        target = statement.target
        if isinstance(target, gast.Attribute):
            found, owner = scope.resolve(target.value)
            return isinstance(statement.value, gast.Constant) and found and \
                owner is scope.wrapper and \
                not scope.module_reads_attribute(target.attr)
        if not isinstance(target, gast.Name):
            return False
        if target.id in scope.locals:
            return _reads_only(statement.value, protected, scope)
        return isinstance(statement.value, gast.Constant) and \
            scope.owns_cell(target.id)
    return False
