"""Run the pipeline on a function and cache the result.

source -> normalize -> resolve -> activity -> reverse -> optimize -> emit.
A compiled gradient is cached per (function, differentiated parameters) and
recompiled when a rule is registered afterwards, or when the function's
code, defaults or a global or closure value that it reads changes. The
cache keeps the `MAX_CACHED_COMPILATIONS` most recently used compilations. Exceptions that are not
`AdCompilerError` are bugs in adcompiler and are wrapped in
`InternalCompilerError`, naming the function and the stage.
"""

import contextlib
import dataclasses
import gc
import logging
import threading
import types

import gast

from adcompiler import activity as activity_stage
from adcompiler import (aliasing, bounded, chunked, codegen, decorators,
                        donation,
                        known_results, object_operands, origins, runtime,
                        unit_seed)
from adcompiler import emit as emit_stage
from adcompiler import forward as forward_stage
from adcompiler import grad_only as grad_only_stage
from adcompiler import normalize as normalize_stage
from adcompiler import observed_calls
from adcompiler import optimize as optimize_stage
from adcompiler import resolve as resolve_stage
from adcompiler import reverse as reverse_stage
from adcompiler import tangent_copies
from adcompiler import parse as source_stage
from adcompiler.errors import (AdCompilerError, InternalCompilerError,
                               LocatedError, UnsupportedSyntaxError,
                               chain_start, with_call_chain)
from adcompiler.rules import REGISTRY
from adcompiler.traversal import NodeIndex

logger = logging.getLogger(__name__)


class _GeneratedCode:
    """Shared by compiled functions: their source text and staleness check."""

    def is_current(self):
        """True if the function's code and defaults, every global it reads
        and every callee are still what it was compiled with."""
        checks = self._checks
        if checks is None:
            checks = self._checks = _staleness_checks(self)
        codes, defaults, dependencies = checks
        for function, code in codes:
            if function.__code__ is not code:
                return False
        for function, positional, keyword, keyword_items in defaults:
            if (function.__defaults__ is not positional
                    or function.__kwdefaults__ is not keyword
                    or (keyword is not None and not same_defaults(
                        defaults_of(function), (positional, keyword_items)))):
                return False
        for namespace, name, value in dependencies:
            if namespace.get(name, _MISSING) is not value:
                return False
        return True

    @property
    def source(self):
        """The generated source of this function and of every callee.

        A `# line N:` comment of code from another file than this
        function's names that file. Code transformed from adcompiler's own
        functions, such as the operator helpers that run `a - b` on values
        that may be objects, comes last, under a heading.
        """
        home = origins.source_file(self.function)
        texts, own_texts = [], []
        seen = set()
        pending = [self]
        while pending:
            compiled = pending.pop(0)
            if compiled.filename in seen:
                continue
            seen.add(compiled.filename)
            pending.extend(compiled.callees)
            text = compiled.module_source
            filename = origins.source_file(compiled.function)
            if filename is None or filename == home:
                texts.append(text)
                continue
            text = origins.with_file_in_line_comments(text, filename)
            if origins.is_adcompiler_file(filename):
                own_texts.append(text)
            else:
                texts.append(text)
        if own_texts:
            texts.append(origins.OWN_CODE_HEADING + '\n\n'.join(own_texts))
        return '\n\n'.join(texts)


def _staleness_checks(compiled):
    """Return what `is_current` compares, for `compiled` and its callees
    at any depth, each entry once: the (function, code) pairs, the
    `defaults` entries and the `dependencies` entries.

    A callee list is fixed when its function is compiled, so these are
    collected on the first check and kept.
    """
    codes, defaults, dependencies = {}, {}, {}
    pending, visited = [compiled], set()
    while pending:
        current = pending.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        codes[id(current.function), id(current.code)] = (current.function,
                                                        current.code)
        for entry in current.defaults:
            defaults[tuple(map(id, entry))] = entry
        for entry in current.dependencies:
            dependencies[tuple(map(id, entry))] = entry
        pending.extend(current.callees)
    return (tuple(codes.values()), tuple(defaults.values()),
            tuple(dependencies.values()))


@dataclasses.dataclass
class CompiledTangent(_GeneratedCode):
    """The generated tangent (forward-mode) function of one function."""

    function: object
    wrt: tuple
    tangent: object
    name: str
    tangent_params: tuple
    module_source: str
    filename: str
    callees: list
    updated: tuple = ()
    updated_with_derivative: tuple = ()
    dependencies: list = dataclasses.field(default_factory=list)
    code: object = None  # the function's __code__ when it was compiled
    # (function, __defaults__, __kwdefaults__, the items of __kwdefaults__)
    # for the function and the functions inlined into it, as compiled.
    defaults: tuple = ()
    written_in_place: tuple = ()  # see CompiledFunction
    call_chain: tuple = None  # see CompiledFunction
    # What `is_current` compares, collected on its first call.
    _checks: tuple = dataclasses.field(default=None, init=False, repr=False,
                                       compare=False)


@dataclasses.dataclass
class CompiledFunction(_GeneratedCode):
    """The generated primal and adjoint of one function, and their source."""

    function: object
    wrt: tuple
    primal: object
    adjoint: object
    primal_name: str
    adjoint_name: str
    module_source: str
    filename: str
    callees: list
    updated: tuple = ()  # parameters changed in place
    # Parameters changed in place with values that carry a derivative.
    updated_with_derivative: tuple = ()
    has_tape: bool = False  # the last saved value is the tape
    # The adjoint undoes in-place updates, so it can run only once per run
    # of the primal.
    undoes_updates: bool = False
    # (namespace, name, value) for every global the code was compiled
    # against; a different value now means the code is out of date.
    dependencies: list = dataclasses.field(default_factory=list)
    code: object = None  # the function's __code__ when it was compiled
    # (function, __defaults__, __kwdefaults__, the items of __kwdefaults__)
    # for the function and the functions inlined into it, as compiled.
    defaults: tuple = ()
    # The adjoint may be given the cotangent 1.0 for a np.float64 result.
    float_seed: bool = False
    # The primal for grad, which returns the seed in place of the value
    # (see adcompiler.grad_only), or None. It applies when the parameters
    # in `grad_only_arrays` are float64 ndarrays.
    grad_only_primal: object = None
    grad_only_arrays: tuple = ()
    # The adjoint to run after `grad_only_primal`, which may write into the
    # saved values (see adcompiler.donation), or None to run `adjoint`.
    grad_only_adjoint: object = None
    # The grad-only primal and its adjoint apply only elementwise operations
    # to the arguments' arrays, so `grad` may run them on slices (see
    # adcompiler.chunked).
    elementwise: bool = False
    # Whether the grad-only primal was built when it applies. Code compiled
    # for callers other than `grad` (callees, dispatched calls, Hessians)
    # leaves it out, because only `grad` runs it.
    with_grad_only: bool = False
    # Parameters written with x[i] = v whose values carry no derivative.
    # The generated code writes into the caller's object, because a caller
    # in differentiated code must see the write. The public API passes
    # copies of these arguments.
    written_in_place: tuple = ()
    # The adcompiler.known_shapes.ArgumentShapes that the code was compiled
    # for, or None for arguments of any shape.
    argument_shapes: object = None
    # Parameters whose arrays its calls may change in place (see
    # adcompiler.call_writes).
    call_written: tuple = ()
    # The call chain the code was compiled for, when errors that it raises
    # at run time or its calls dispatched at run time report that chain,
    # so that a caller reached through another chain needs other code.
    # None when the code is the same for every caller.
    call_chain: tuple = None
    # What `is_current` compares, collected on its first call.
    _checks: tuple = dataclasses.field(default=None, init=False, repr=False,
                                       compare=False)


_MISSING = object()

# How many variants for argument shapes `Compiler.compile_for_shapes`
# compiles per function and differentiated parameters.
MAX_SHAPE_VARIANTS = 4


def defaults_of(function):
    """Return the default values of `function`'s parameters, positional
    ones then keyword-only ones by name."""
    keyword = function.__kwdefaults__
    return (function.__defaults__,
            None if keyword is None else tuple(keyword.items()))


def same_defaults(now, then):
    """Return whether two `defaults_of` results hold the same objects."""
    if not _same_objects(now[0], then[0]):
        return False
    keywords_now, keywords_then = now[1], then[1]
    if keywords_now is None or keywords_then is None:
        return keywords_now is keywords_then
    names_now = [name for name, _ in keywords_now]
    names_then = [name for name, _ in keywords_then]
    return names_now == names_then and _same_objects(
        [value for _, value in keywords_now],
        [value for _, value in keywords_then])


def _same_objects(now, then):
    """Return whether two sequences (or None) hold the same objects in the
    same order."""
    if now is None or then is None:
        return now is then
    return len(now) == len(then) and all(
        a is b for a, b in zip(now, then, strict=True))


class _CellNamespace:
    """Closure cells seen as a mapping, for dependency checks."""

    def __init__(self, cells):
        self.cells = cells

    def get(self, name, default=None):
        try:
            return self.cells[name].cell_contents
        except (KeyError, ValueError):
            return default


# Packages whose module attributes are taken as fixed: checking np.sum and
# the like on every call would cost more than a rebinding of them is likely.
_FIXED_PACKAGES = frozenset({'numpy', 'math', 'cmath', 'scipy'})


def _is_library_module(value):
    """Return whether `value` is a module of one of `_FIXED_PACKAGES`."""
    return isinstance(value, types.ModuleType) and (
        value.__name__.partition('.')[0] in _FIXED_PACKAGES)


class _AttributeNamespace:
    """The attributes of an object seen as a mapping, for dependency
    checks."""

    def __init__(self, owner):
        self.owner = owner

    def get(self, name, default=None):
        return getattr(self.owner, name, default)


def _is_bound_method(value):
    """True for a method bound to an object: `obj.method` of a Python
    class, or `lst.append` of a built-in type."""
    if isinstance(value, types.MethodType):
        return True
    return isinstance(value, types.BuiltinMethodType) and not isinstance(
        getattr(value, '__self__', None), (types.ModuleType, type(None)))


def _dependencies(function, normalized, local_names):
    """Return the globals and closure variables that the normalized tree
    reads, with their values."""
    code = function.__code__
    cells = _CellNamespace(dict(zip(code.co_freevars, function.__closure__ or (),
                                    strict=True)))
    dependencies = []
    seen = set()
    callees = []
    for node in normalized.nodes_of((gast.Call, gast.Name)):
        if isinstance(node, gast.Call):
            callees.append(node.func)
        if (isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load)
                and node.id not in local_names and node.id not in seen):
            seen.add(node.id)
            namespace = (cells if node.id in code.co_freevars
                         else function.__globals__)
            dependencies.append((namespace, node.id,
                                 namespace.get(node.id, _MISSING)))
    # A callee reached through attributes (cfg.act, helpers.act) was
    # resolved when compiling, so rebinding any attribute on the way makes
    # the code out of date as rebinding the global does.
    for func in callees:
        chain = []
        while isinstance(func, gast.Attribute):
            chain.append(func.attr)
            func = func.value
        if (not chain or not isinstance(func, gast.Name)
                or func.id in local_names):
            continue
        namespace = (cells if func.id in code.co_freevars
                     else function.__globals__)
        owner = namespace.get(func.id, _MISSING)
        for attr in reversed(chain):
            if (owner is _MISSING or (id(owner), attr) in seen
                    or _is_library_module(owner)):
                break
            seen.add((id(owner), attr))
            value = getattr(owner, attr, _MISSING)
            if _is_bound_method(value):
                # Each read makes a new bound method (LOG.append), so its
                # identity would never match; its function is the class's.
                break
            attributes = getattr(owner, '__dict__', None)
            if not (isinstance(owner, types.ModuleType)
                    and attributes.get(attr, _MISSING) is value):
                # Module attributes are checked in the module's dict, which
                # is faster; others through getattr.
                attributes = _AttributeNamespace(owner)
            dependencies.append((attributes, attr, value))
            owner = value
    return dependencies


def _check_index(function_name, normalized):
    """Raise `InternalCompilerError` when a stage changed the normalized
    tree after `Compiler._analyze` indexed it, because the stages that
    found nodes through the stale index may have written wrong code."""
    if normalized.index is not None and not normalized.index.is_current():
        raise InternalCompilerError(
            function_name, 'reverse',
            'the normalized tree changed after its nodes were indexed')


def _defaults_read(function, normalized):
    """Return the defaults of `function` and of each function inlined into
    it, in the form `is_current` checks."""
    return tuple((f, f.__defaults__, f.__kwdefaults__, defaults_of(f)[1])
                 for f in (function, *normalized.inlined_functions))


def _read_globals(compiled):
    """Return the values of the globals and closure variables that
    `compiled` and its callees read and that may hold an array."""
    values = []
    visited = set()
    pending = [compiled]
    while pending:
        current = pending.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        values += [value for _, _, value in current.dependencies
                   if value is not _MISSING
                   and type(value) is not observed_calls.ObservedCall
                   and runtime.searchable(value)]
        pending += current.callees
    return tuple(values)


def _is_push(statement, tapes):
    """True for `tape.append(value)` where `tape` is in `tapes`."""
    call = getattr(statement, 'value', None)
    return (isinstance(statement, gast.Expr) and isinstance(call, gast.Call)
            and isinstance(call.func, gast.Attribute)
            and call.func.attr == 'append'
            and isinstance(call.func.value, gast.Name)
            and call.func.value.id in tapes and len(call.args) == 1)


def _copied_name(value):
    """Return the variable that the expression `value` copies
    (`a.copy()`, `np.copy(a)`, `np.array(a)`, `list(a)`), or None. An
    operator's result (`a / s`) is a new object too.

    NOTE: an operator method of a user class that returns its own operand
    (`__truediv__` returning self) is not seen.
    """
    if isinstance(value, gast.BinOp):
        for operand in (value.left, value.right):
            if isinstance(operand, gast.Name):
                return operand.id
        return None
    if not isinstance(value, gast.Call) or value.keywords:
        return None
    if (isinstance(value.func, gast.Attribute) and value.func.attr == 'copy'
            and not value.args and isinstance(value.func.value, gast.Name)):
        return value.func.value.id
    if (len(value.args) == 1 and isinstance(value.args[0], gast.Name)
            and resolve_stage.dotted_name(value.func) in _COPY_FUNCTIONS):
        return value.args[0].id
    return None


# Functions whose result is a new object with the items of its argument.
_COPY_FUNCTIONS = frozenset({'np.copy', 'numpy.copy', 'np.array',
                             'numpy.array', 'list', 'dict'})


def _caller_visible_updates(normalized):
    """Parameters the function updates in place without first rebinding
    them to a copy (as generated code does with `x = ad.copy(x)`)."""
    rebound = set()
    copies = {}  # temporary -> the parameter it copies
    tapes = set()  # lists set to [] before the body
    for statement in normalized.tree.body:
        if (isinstance(statement, gast.Expr)
                and isinstance(statement.value, gast.Call)
                and getattr(statement.value.func, 'attr', None)
                == 'check_unshared'):
            continue  # The check that comes before the copies.
        if _is_push(statement, tapes):
            continue  # A reassigned parameter kept on the tape.
        if not (isinstance(statement, gast.Assign)
                and isinstance(statement.targets[0], gast.Name)):
            break
        target = statement.targets[0].id
        value = statement.value
        if isinstance(value, gast.List) and not value.elts:
            tapes.add(target)
            continue  # tape = [], set before the body.
        if isinstance(value, gast.Constant):
            continue  # result = None, set before the body.
        if (isinstance(value, gast.Call)
                and isinstance(value.func, gast.Attribute)
                and value.func.attr == 'copy' and len(value.args) == 1
                and isinstance(value.args[0], gast.Name)):
            copies[target] = value.args[0].id
            if target == value.args[0].id:
                rebound.add(target)
            continue
        if isinstance(value, gast.Name) and copies.get(value.id) == target:
            rebound.add(target)
            continue
        copied = _copied_name(value)
        if copied is not None:
            # The user's `a = a.copy()`, normalized as `t = a.copy(); a = t`.
            copies[target] = copied
            if target == copied:
                rebound.add(target)
            continue
        if (isinstance(value, gast.Name) and value.id in normalized.params
                and target not in normalized.params):
            continue  # x_argument = x, for `ad.write_back` at the end.
        break
    return tuple(p for p in normalized.params
                 if (p in normalized.written or p in normalized.mutated)
                 and p not in rebound)


def _written_in_place(normalized, activity, updated):
    """Return the parameters in `updated` that the function writes with
    x[i] = v and whose values carry no derivative. The generated code
    copies only the parameters it updates with values that carry one, and
    those that a list or dict method also updates
    (`normalize.written_and_method_updated`)."""
    copied_by_code = normalize_stage.written_and_method_updated(normalized)
    return tuple(p for p in updated
                 if p in normalized.written and p not in activity.varied
                 and p not in copied_by_code)


def _tangent_parameters(function, wrt):
    """Names of the tangent parameters of `function`: d<param>, unless the
    function already uses that name.

    Fixed before compiling, so that a recursive call can pass them.
    """
    code = function.__code__
    used = set(code.co_varnames) | set(code.co_names) | set(code.co_freevars)
    names = {}
    for param in wrt:
        tangent = 'd' + param
        while tangent in used or tangent in names.values():
            tangent += '_'
        names[param] = tangent
    return names


def _errors_at_user_lines(extra_globals):
    """Return the globals of generated code with the errors it raises at
    run time moved to the user's lines (see adcompiler.origins)."""
    return {name: origins.at_user_line(value)
            if isinstance(value, LocatedError) else value
            for name, value in extra_globals.items()}


def _chain_in_code(call_chain, extra_globals, callees):
    """Return `call_chain` if the generated code reports it, else None.

    A `ForeignCallError` stored for the generated code to raise at run
    time, and a call site dispatched at run time, carry the call chain of
    the compilation. So do the callees that such code is compiled for.
    """
    if any(getattr(value, 'call_chain', None) is not None
           for value in extra_globals.values()):
        return call_chain
    if any(callee.call_chain is not None for callee in callees):
        return call_chain
    return None


@contextlib.contextmanager
def _collection_paused():
    """Pause the cyclic garbage collector while compiling.

    The stages allocate many tree nodes that stay alive until the end, so
    each collection finds little garbage and takes longer as the trees
    grow. Paused, a 1000-line function compiled in about 20% less CPU
    time (2.4 s against 3.1 s on a loaded 2-core AMD EPYC). Reference
    counting still frees what becomes garbage.
    """
    if not gc.isenabled():
        yield  # Paused by an outer compilation, or by the caller.
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _wrapper_parameters_error(function, source, parameter):
    """Return the error for a wrapper that is transformed as it is but
    lacks `parameter`, a parameter of the function it wraps.

    inspect.signature reports the wrapped function's parameters, but the
    code that runs is the wrapper's.
    """
    blocking = decorators.blocking_statement(function)
    if blocking is None:
        return UnsupportedSyntaxError(
            'a decorator whose wrapper takes other parameters (such as '
            '*args and **kwargs) than the function it wraps',
            source.location(source.tree),
            f'{parameter!r} names a parameter of the wrapped function',
            fixes=['differentiate the undecorated function',
                   'give the wrapper the same parameters'])
    statement = source.text_of(blocking) or 'this statement'
    return UnsupportedSyntaxError(
        "a decorator's wrapper with other parameters than the function it "
        'wraps (such as *args and **kwargs) that does more than forward its '
        'arguments',
        source.location(blocking),
        f'the statement `{statement}` may change what the wrapped '
        f'function computes, so adcompiler transforms the wrapper as '
        f'written, and the wrapper has no parameter {parameter!r}',
        fixes=['give the wrapper the parameters of the function it wraps, '
               'so that the statement runs as written',
               'count calls in a closure cell of the wrapper (nonlocal '
               'count; count += 1) or in an attribute of the wrapper '
               '(wrapper.calls += 1): adcompiler then differentiates the '
               'wrapped function and skips the count',
               'differentiate the undecorated function'])


def _run_stage(function_name, stage, step, *args):
    try:
        return step(*args)
    except AdCompilerError:
        raise
    except Exception as err:
        raise InternalCompilerError(function_name, stage, err) from err


# Marks the cache keys of code compiled for arguments that may hold objects
# with operator methods (see `Compiler.compile`).
_OBJECTS = 'objects'

# How many compilations (of a function for one set of differentiated
# parameters and one variant) the compiler keeps. Each keeps the values of
# the globals and closure variables that its function read when compiled,
# such as the data batch that a lambda made in a training loop captures.
# A `GradientFunction` keeps a reference to its own compiled code, so a call
# of one never needs an evicted entry, and a caller's generated code
# references its callees' generated functions directly.
MAX_CACHED_COMPILATIONS = 128


class _FunctionKey:
    """The function part of a cache key: the function's code, globals,
    closure cells and defaults, compared by identity.

    Two functions made by one `def` or lambda that capture the same cells
    and defaults, such as a lambda made again on each pass of a loop, get
    equal keys and share one compilation. The generated code depends only
    on these objects (the name of the first function appears in messages),
    so it is the same for both, and `is_current` checks the values in these
    cells and globals when either is called. Cells are compared by identity
    and not by contents, because a cell of another frame can be rebound
    later without this one.
    """

    __slots__ = ('code', 'globals', 'cells', 'defaults', 'name', '_hash')

    def __init__(self, function):
        self.code = function.__code__
        self.globals = function.__globals__
        self.cells = function.__closure__ or ()
        self.defaults = defaults_of(function)
        self.name = function.__name__
        self._hash = hash((self.code, id(self.globals),
                           tuple(map(id, self.cells))))

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return (isinstance(other, _FunctionKey)
                and self.code is other.code
                and self.globals is other.globals
                and _same_objects(self.cells, other.cells)
                and same_defaults(self.defaults, other.defaults))


def _function_key(function):
    """Return the form of `function` in cache keys: a `_FunctionKey` for
    a Python function, else the object itself."""
    if isinstance(function, types.FunctionType):
        return _FunctionKey(function)
    return function


class Compiler:
    """Compiles functions to primal/adjoint pairs, with a cache."""

    def __init__(self, registry=REGISTRY, optimize=True):
        self.registry = registry
        self.optimize = optimize
        self._cache = bounded.LruCache(MAX_CACHED_COMPILATIONS,
                                       on_evict=self._note_eviction)
        # Whether an entry was evicted since unused names were last dropped.
        self._evicted = False
        self._lock = threading.RLock()
        self._in_progress = []
        self._waiting = {}  # key in progress -> module scopes that call it
        self._names = {}  # key -> (primal, adjoint) generated function names
        self._issued_names = set()
        # (function key, wrt) -> the variants compiled for argument shapes.
        self._shape_variants = bounded.LruCache(MAX_CACHED_COMPILATIONS)
        # The module functions that dispatched calls `xp.f(...)` ran (see
        # adcompiler.dispatch.Dispatcher._observe), which code compiled
        # for argument shapes calls directly behind a check.
        self.observed_calls = {}

    def compile(self, function, wrt, call_chain=None,
                scalar_params=frozenset(), argument_shapes=None,
                objects=frozenset(), grad_only=True):
        """Return the `CompiledFunction` of `function` w.r.t. parameter names.

        `scalar_params` names the parameters whose arguments are Python
        floats or np.float64 scalars. `argument_shapes`, an
        `adcompiler.known_shapes.ArgumentShapes`, gives the shapes and
        kinds of the arguments, for code that runs only with them. The code
        compiled for either is cached apart from the code for other
        arguments, and its adjoint must be given a cotangent, not None
        (grad, which alone compiles such code, always gives one).
        `objects` describes the arguments that hold objects whose classes
        define operators in Python (see
        `object_operands.describe_arguments`); the code for them is cached
        apart too.

        With `grad_only` False, the grad-only primal and its adjoint (see
        adcompiler.grad_only), which only `grad` runs, are left out. A
        later request with `grad_only` compiles the function again.
        """
        function = decorators.unwrap_forwarding(function)
        variant = frozenset(scalar_params)
        if argument_shapes is not None:
            variant = (variant, argument_shapes)
        if objects:
            variant = (_OBJECTS, objects, variant)
        key = (_function_key(function), tuple(wrt), variant)
        chain = tuple(call_chain or chain_start(function))
        with self._lock:
            cache_key, cached = self._cached(key, chain)
            if (cached is not None and cached[0] == self.registry.version
                    and cached[1].is_current()
                    and (cached[1].with_grad_only or not grad_only)):
                return cached[1]
            self._in_progress.append(key)
            try:
                with _collection_paused():
                    compiled = self._compile(function, tuple(wrt),
                                             call_chain, key, objects,
                                             grad_only)
            except LocatedError as err:
                moved = origins.at_user_line(err)
                chained = with_call_chain(moved, call_chain)
                if chained is err:
                    raise
                if moved is err:  # Only the chain was added.
                    raise chained.with_traceback(err.__traceback__) from None
                raise chained from err
            finally:
                self._in_progress.remove(key)
            self._store(key, cache_key, compiled)
            # Callers compiled while this function was in progress (it is
            # recursive) get its generated functions now.
            for scope in self._waiting.pop(key, []):
                scope[compiled.primal_name] = compiled.primal
                scope[compiled.adjoint_name] = compiled.adjoint
            self._drop_unused_names()
            return compiled

    def compile_for_shapes(self, function, wrt, scalar_params,
                           argument_shapes,
                           objects=frozenset()):
        """Return the `CompiledFunction` of `function` for arguments of
        these shapes (see `compile`), or None when `MAX_SHAPE_VARIANTS`
        other variants of it were compiled already, or when compiling it
        raised an error that the general code did not."""
        function = decorators.unwrap_forwarding(function)
        with self._lock:
            variants_key = (_function_key(function), tuple(wrt))
            variants = self._shape_variants.get(variants_key)
            if variants is None:
                variants = self._shape_variants[variants_key] = set()
            key = (frozenset(scalar_params), argument_shapes, objects)
            if key not in variants:
                if len(variants) >= MAX_SHAPE_VARIANTS:
                    return None
                variants.add(key)
            try:
                return self.compile(function, wrt,
                                    scalar_params=scalar_params,
                                    argument_shapes=argument_shapes,
                                    objects=objects)
            except AdCompilerError:
                # The general code compiled, so this is a bug in adcompiler;
                # the general code still gives the right numbers.
                logger.debug('compiling %s for %s failed', function,
                             argument_shapes.describe(), exc_info=True)
                return None

    def _compile(self, function, wrt, call_chain, key, objects,
                 with_grad_only=True):
        scalar_params, argument_shapes = key[2], None
        if objects:
            scalar_params = scalar_params[2]
        if isinstance(scalar_params, tuple):
            scalar_params, argument_shapes = scalar_params
        source, normalized, resolution, activity = self._analyze(
            function, wrt, observed=argument_shapes is not None,
            objects=objects)
        name = source.name
        call_chain = tuple(call_chain or chain_start(function))
        logger.debug('compiling %s with respect to %s', name, wrt)

        callees = []
        recursive = []  # keys of callees still being compiled

        def compile_callee(callee, callee_wrt, chain, passed):
            objects = object_operands.callee_objects(callee, passed)
            callee_key = (_function_key(callee), tuple(callee_wrt),
                          frozenset())
            if objects:
                callee_key = (callee_key[0], tuple(callee_wrt),
                              (_OBJECTS, objects, frozenset()))
            if callee_key in self._in_progress:
                # A recursive call: the names are known now, the functions
                # are linked when the callee's compilation finishes.
                recursive.append(callee_key)
                primal_name, adjoint_name = self.function_names(
                    callee_key, callee.__name__)
                return reverse_stage.CalleeProgram(
                    primal_name, adjoint_name, None, None, tuple(callee_wrt))
            compiled = self.compile(callee, callee_wrt, chain,
                                    objects=objects, grad_only=False)
            callees.append(compiled)
            return reverse_stage.CalleeProgram(
                compiled.primal_name, compiled.adjoint_name, compiled.primal,
                compiled.adjoint, compiled.wrt, compiled.updated,
                compiled.updated_with_derivative, _read_globals(compiled),
                compiled.call_written, compiled)

        context = reverse_stage.ReverseContext(
            source, call_chain, compile_callee,
            self.function_names(key, name), self.registry,
            self.optimize, scalar_params, argument_shapes)
        program = _run_stage(name, 'reverse', reverse_stage.reverse,
                             normalized, resolution, activity, wrt, context)
        if self.optimize:
            _run_stage(name, 'optimize', optimize_stage.optimize, program)

        namespace = dict(source.namespace)
        namespace.update(_errors_at_user_lines(program.extra_globals))
        for callee_key in recursive:
            names = self.function_names(callee_key, callee_key[0].name)
            for generated in names:
                namespace.pop(generated, None)
        grad_only = None
        if self.optimize and with_grad_only:
            grad_only = _run_stage(
                name, 'optimize', grad_only_stage.grad_only_primal,
                program.primal, namespace, program.numpy_alias,
                program.runtime_alias, scalar_params,
                program.float_seed, program.temporaries,
                self.function_names(key, name, ('grad_only_primal',))[0],
                program.shape_facts, self.registry)
        functions = [program.primal, program.adjoint]
        donating = None
        if grad_only is not None:
            functions.append(grad_only.function)
            adjoint_name = self.function_names(
                key, name, ('grad_only_adjoint',))[0]
            seeded = None
            if grad_only.numpy_seed:
                seeded = _run_stage(
                    name, 'optimize', unit_seed.unit_seed_adjoint,
                    program.adjoint, grad_only.float64_saved,
                    program.numpy_alias, program.runtime_alias, adjoint_name)
            donating = _run_stage(
                name, 'optimize', donation.donating_adjoint,
                seeded or program.adjoint, grad_only.owned_saved,
                program.numpy_alias, program.runtime_alias,
                adjoint_name) or seeded
        if donating is not None:
            functions.append(donating)
        elementwise = grad_only is not None and chunked.is_elementwise(
            grad_only.function, donating or program.adjoint,
            program.numpy_alias, program.runtime_alias)
        module = _run_stage(name, 'emit', emit_stage.emit, functions,
                            namespace, name, codegen.index_definitions(
                                program.extra_globals, program.numpy_alias))
        origins.record(module.filename, source,
                       module.functions[program.primal.name])
        for callee_key in recursive:
            if callee_key != key:
                self._waiting.setdefault(callee_key, []).append(module.scope)
        updated = _caller_visible_updates(normalized)
        dependencies = _dependencies(function, normalized,
                                     normalized.local_names)
        _check_index(name, normalized)
        primal = module.functions[program.primal.name]
        # Defaults are the caller's objects, not their source re-evaluated.
        primal.__defaults__ = function.__defaults__
        primal.__kwdefaults__ = function.__kwdefaults__
        grad_only_primal = None
        if grad_only is not None:
            grad_only_primal = module.functions[grad_only.function.name]
            grad_only_primal.__defaults__ = function.__defaults__
            grad_only_primal.__kwdefaults__ = function.__kwdefaults__
        return CompiledFunction(
            function, wrt, primal, module.functions[program.adjoint.name],
            program.primal.name, program.adjoint.name, module.source,
            module.filename, callees,
            updated, tuple(p for p in updated if p in activity.varied),
            program.has_tape,
            # Callees keep tapes of their own inside the saved values.
            bool(normalized.written or normalized.mutated or recursive
                 or callees or program.extra_globals_have_sites),
            dependencies + normalized.observed_entries,
            function.__code__, float_seed=program.float_seed,
            defaults=_defaults_read(function, normalized),
            grad_only_primal=grad_only_primal,
            grad_only_arrays=(grad_only.float64_arrays
                              if grad_only is not None else ()),
            grad_only_adjoint=(module.functions[donating.name]
                               if donating is not None else None),
            elementwise=elementwise,
            written_in_place=_written_in_place(normalized, activity, updated),
            argument_shapes=argument_shapes, with_grad_only=with_grad_only,
            call_written=program.call_written,
            call_chain=_chain_in_code(call_chain, program.extra_globals,
                                      callees))

    def compile_forward(self, function, wrt, call_chain=None,
                        objects=frozenset()):
        """Return the `CompiledTangent` of `function` w.r.t. parameter names
        (with `objects`, for arguments that may hold objects with operator
        methods, as in `compile`)."""
        function = decorators.unwrap_forwarding(function)
        key = (_function_key(function), tuple(wrt),
               ('forward', objects) if objects else 'forward')
        chain = tuple(call_chain or chain_start(function))
        with self._lock:
            cache_key, cached = self._cached(key, chain)
            if (cached is not None and cached[0] == self.registry.version
                    and cached[1].is_current()):
                return cached[1]
            self._in_progress.append(key)
            try:
                with _collection_paused():
                    compiled = self._compile_forward(function, tuple(wrt),
                                                     call_chain, key)
            except LocatedError as err:
                moved = origins.at_user_line(err)
                chained = with_call_chain(moved, call_chain)
                if chained is err:
                    raise
                if moved is err:  # Only the chain was added.
                    raise chained.with_traceback(err.__traceback__) from None
                raise chained from err
            finally:
                self._in_progress.remove(key)
            self._store(key, cache_key, compiled)
            for scope in self._waiting.pop(key, []):
                scope[compiled.name] = compiled.tangent
            self._drop_unused_names()
            return compiled

    def _compile_forward(self, function, wrt, call_chain, key):
        source, normalized, resolution, activity = self._analyze(
            function, wrt,
            objects=frozenset() if key[2] == 'forward' else key[2][1])
        name = source.name
        call_chain = tuple(call_chain or chain_start(function))
        callees = []
        recursive = []  # keys of callees still being compiled

        def compile_callee(callee, callee_wrt, chain, passed):
            objects = object_operands.callee_objects(callee, passed)
            callee_key = (_function_key(callee), tuple(callee_wrt),
                          ('forward', objects) if objects else 'forward')
            if callee_key in self._in_progress:
                # A recursive call: linked when that compilation finishes.
                recursive.append(callee_key)
                tangent_name = self.function_names(
                    callee_key, callee.__name__, prefixes=('tangent',))[0]
                params = _tangent_parameters(callee, callee_wrt)
                return forward_stage.CalleeTangent(
                    tangent_name, None, tuple(params.values()),
                    tuple(callee_wrt))
            compiled = self.compile_forward(callee, callee_wrt, chain,
                                            objects=objects)
            callees.append(compiled)
            return forward_stage.CalleeTangent(
                compiled.name, compiled.tangent, compiled.tangent_params,
                compiled.wrt, compiled.updated,
                compiled.updated_with_derivative, _read_globals(compiled),
                compiled)

        function_name = self.function_names(key, name,
                                            prefixes=('tangent',))[0]
        context = forward_stage.ForwardContext(
            source, call_chain, compile_callee, function_name,
            _tangent_parameters(function, wrt), self.registry)
        program = _run_stage(name, 'forward', forward_stage.forward,
                             normalized, resolution, activity, wrt, context)
        if self.optimize:
            _run_stage(name, 'optimize', optimize_stage.optimize_function,
                       program.function, program.numpy_alias,
                       program.runtime_alias, program.tangent_names)
            _run_stage(name, 'optimize', tangent_copies.rejoin_copies,
                       program.function, normalized.temporaries,
                       program.tangents)
        namespace = dict(source.namespace)
        namespace.update(_errors_at_user_lines(program.extra_globals))
        for callee_key in recursive:
            namespace.pop(self.function_names(
                callee_key, callee_key[0].name,
                prefixes=('tangent',))[0], None)
        module = _run_stage(name, 'emit', emit_stage.emit,
                            [program.function], namespace, name,
                            codegen.index_definitions(
                                program.extra_globals, program.numpy_alias))
        origins.record(module.filename, source,
                       module.functions[program.function.name])
        for callee_key in recursive:
            if callee_key != key:
                self._waiting.setdefault(callee_key, []).append(module.scope)
        tangent = module.functions[program.function.name]
        tangent.__defaults__ = function.__defaults__
        tangent.__kwdefaults__ = function.__kwdefaults__
        updated = _caller_visible_updates(normalized)
        dependencies = _dependencies(function, normalized,
                                     normalized.local_names)
        _check_index(name, normalized)
        return CompiledTangent(
            function, wrt, tangent, program.function.name,
            program.tangent_params, module.source, module.filename, callees,
            updated, tuple(p for p in updated if p in activity.varied),
            dependencies,
            function.__code__, defaults=_defaults_read(function, normalized),
            written_in_place=_written_in_place(normalized, activity, updated),
            call_chain=_chain_in_code(call_chain, program.extra_globals,
                                      callees))

    def _analyze(self, function, wrt, observed=False, objects=frozenset()):
        """Run source, normalize, resolve and activity; check in-place updates.

        With `observed`, calls through a module held in a variable that
        earlier calls resolved to one function are compiled as calls of
        that function behind a check (see adcompiler.observed_calls).
        `objects` describes the arguments that hold objects with operators
        (see `Compiler.compile`).
        """
        source = source_stage.get_source(function)
        name = source.name
        normalized = _run_stage(name, 'normalize', normalize_stage.normalize,
                                source, objects)
        _run_stage(name, 'normalize', known_results.fold, normalized,
                   source.namespace, self.registry)
        if not aliasing.is_generated(source):
            # Generated code calls the namespace's functions directly
            # already.
            _run_stage(name, 'normalize',
                       known_results.call_known_namespaces, normalized,
                       source.namespace, self.registry)
            _run_stage(name, 'normalize',
                       known_results.call_methods_of_known_classes,
                       normalized, source.namespace, self.registry)
        if observed:
            source = _run_stage(name, 'normalize',
                                observed_calls.call_observed_functions,
                                normalized, source, self.observed_calls,
                                self.registry)
        # No later stage changes the tree, so the stages share one index
        # of its nodes; `_check_index` makes sure of it at the end.
        normalized.index = NodeIndex(normalized.tree)
        missing = [w for w in wrt if w not in normalized.params]
        if missing and hasattr(function, '__wrapped__'):
            raise _wrapper_parameters_error(function, source, missing[0])
        if missing:
            raise InternalCompilerError(name, 'compile',
                                        f'unknown parameters {missing}')
        resolution = _run_stage(name, 'resolve', resolve_stage.resolve,
                                normalized, source.namespace, self.registry)
        activity = _run_stage(name, 'activity', activity_stage.analyze,
                              normalized, resolution, wrt, self.registry,
                              objects)
        _run_stage(name, 'activity', aliasing.check_in_place_updates,
                   normalized, resolution, activity, source)
        _run_stage(name, 'activity', activity_stage.check_namespace_reads,
                   normalized, resolution, activity, source)
        _run_stage(name, 'activity', activity_stage.check_object_casts,
                   normalized, resolution, activity, source)
        _run_stage(name, 'activity', activity_stage.check_caught_exceptions,
                   normalized, activity, source)
        return source, normalized, resolution, activity

    def _cached(self, key, chain):
        """Return the cache key under which the compilation of `key` for
        callers through `chain` is stored, and its entry or None.

        Code that reports its call chain (see `CompiledFunction.call_chain`)
        is stored under `key` for the first chain it was compiled for, and
        under `(key, chain)` for each other chain.
        """
        cached = self._cache.get(key)
        if cached is None or cached[1].call_chain in (None, chain):
            return key, cached
        return (key, chain), self._cache.get((key, chain))

    def _store(self, key, cache_key, compiled):
        """Cache `compiled`, the compilation of `key`, under `cache_key`
        from `_cached`, or under `key` when its code is the same for every
        caller."""
        if compiled.call_chain is None:
            cache_key = key
        self._cache[cache_key] = (self.registry.version, compiled)

    def _note_eviction(self, key, entry):
        self._evicted = True

    def _drop_unused_names(self):
        """Forget the generated names of the compilations that are no
        longer cached, after an eviction, so that `_names` stays as small
        as the cache.

        This runs only when no compilation is in progress: a caller being
        compiled binds its callees' names in one namespace, so a name must
        stay issued until the caller is done. A dropped name may then be
        issued again, because each generated module binds the names it
        calls in a namespace of its own.
        """
        if not self._evicted or self._in_progress or self._waiting:
            return
        self._evicted = False
        # A key of two items is (compile key, call chain); see `_cached`.
        cached = {key[0] if len(key) == 2 else key for key in self._cache}
        for names_key in list(self._names):
            if names_key[0] not in cached:
                self._issued_names.difference_update(
                    self._names.pop(names_key))

    def function_names(self, compile_key, name,
                       prefixes=('primal', 'adjoint')):
        """Names of the generated pair, unique among the cached
        compilations and those in progress.

        `compile_key` is the cache key of the compilation. A caller's
        generated code refers to its callees by these names, so two callees
        (or one callee differentiated with respect to different arguments)
        must never share one. Names of evicted compilations may be issued
        again (see `_drop_unused_names`).
        """
        key = (compile_key, prefixes)
        function, wrt, variant = compile_key
        forward = variant == 'forward' or (isinstance(variant, tuple)
                                           and variant[0] == 'forward')
        if key not in self._names and variant != frozenset() and not forward:
            # The code for float scalars or for argument shapes takes the
            # next names after the general code's, whichever is compiled
            # first.
            self.function_names((function, wrt, frozenset()), name, prefixes)
        if key not in self._names:
            # The first free number, so that a function compiled again
            # after its entry was evicted gets its earlier names back.
            count = 0
            while True:
                suffix = f'_{count}' if count else ''
                names = tuple(f'{prefix}_{name}{suffix}'
                              for prefix in prefixes)
                count += 1
                # A function whose own name ends in a number (the generated
                # tangent_f_1) would otherwise get the names of f's second pair.
                if not self._issued_names.intersection(names):
                    break
            self._issued_names.update(names)
            self._names[key] = names
        return self._names[key]
