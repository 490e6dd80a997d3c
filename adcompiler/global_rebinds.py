"""Check at run time that the user's code rebinds no global that the
generated code reads.

Used by the reverse and forward stages. The generated code runs in a copy
of its function's namespace made when it is compiled (see
adcompiler.emit), so it reads each global and closure variable as it was
then. A call can rebind one while the function runs: a helper with a
`global` statement, or one that runs `mod.scale = 3.0`,
`setattr(mod, 'scale', 3.0)`, `sys.modules[__name__].scale = 3.0` or
`globals()['scale'] = 3.0`. Plain Python reads the new value after that
call, but the generated code reads the old one, so its values and
derivatives would be wrong. Two checks raise `GlobalRebindError` instead:

- after each statement that may run the user's Python code (a call that
  no gradient rule handles, or an attribute assignment), the globals that
  the function reads later, or anywhere in the loop around the statement;
- before a call of a compiled callee that runs after such a statement,
  that the callee and the functions it calls are still current (see
  `is_current`), which covers a global that the callee reads. A callee
  found when the call runs is checked by adcompiler.dispatch, which
  compiles it again when it is out of date.

Only values that a rebinding plausibly reaches are checked: names bound
to modules, classes and functions are left out, as `is_current` checks
them before each call of the compiled code.

NOTE: an operator or subscript on an object of the user's class runs a
method (`__mul__`, `__getitem__`) that may rebind a global too, but such
statements are not taken as statements that may rebind, so no check
follows them.
"""

import dataclasses
import types

import gast
import numpy as np

from adcompiler import aliasing
from adcompiler.errors import GlobalRebindError
from adcompiler.resolve import CallKind
from adcompiler.traversal import find_nodes, walk
from adcompiler.verbatim import Verbatim

# Values whose names are not checked (see the module docstring).
_FIXED_KINDS = (types.ModuleType, type, types.FunctionType,
                types.BuiltinFunctionType, types.MethodType, np.ufunc)

# Calls of these built-ins can rebind a global although no user code runs.
_NAMESPACE_WRITERS = frozenset({'setattr', 'delattr', 'globals', 'vars',
                                'exec', 'eval'})

# Statement fields that hold nested statement lists.
_BLOCK_FIELDS = ('body', 'orelse', 'finalbody', 'handlers')


@dataclasses.dataclass
class _Read:
    """One global or closure variable that the function reads."""

    owner: object  # the module's globals dict, or the closure cell
    value: object  # the value when the function is compiled


@dataclasses.dataclass
class GlobalChecks:
    """The checks of one function: the names to check after each
    statement that may rebind them, and the statements that run after
    one that may rebind a global, where a compiled callee is checked."""

    after: dict  # normalized statement -> {name: its next read}
    reads: dict  # name -> _Read
    after_rebind: frozenset = frozenset()


def global_checks(normalized, resolution, source):
    """Return the `GlobalChecks` of the normalized function of `source`.

    Code that adcompiler generated reads its own copy of a namespace,
    which nothing rebinds, so it gets no checks."""
    if aliasing.is_generated(source):
        return GlobalChecks({}, {})
    reads = _checked_reads(normalized, source.function)
    ordered = []  # (statement, names it reads, enclosing outermost loop)
    # Without a checked read, no statement's names are needed, but the
    # order of the statements still is, for the checks of callees.
    _number(normalized.tree.body, None, ordered, bool(reads))
    positions = {id(statement): i for i, (statement, _, _) in
                 enumerate(ordered)}
    after = {}
    after_rebind = set()
    for position, (statement, _, loop) in enumerate(ordered):
        if not _may_rebind(statement, resolution):
            continue
        following = ordered[position + 1:]
        if loop is not None:
            # The next pass of the loop runs its earlier statements again.
            start = positions[id(loop)]
            following += [entry for entry in ordered[start:position + 1]
                          if entry[0] is loop or entry[2] is loop]
        after_rebind.update(entry[0] for entry in following)
        later = {}  # name -> its first read after `statement`
        for _, names, _ in following:
            for name, node in names.items():
                if name in reads:
                    later.setdefault(name, node)
        if later:
            after[statement] = later
    return GlobalChecks(after, reads, frozenset(after_rebind))


def _checked_reads(normalized, function):
    """Return the `_Read` of each global and closure variable that the
    tree of `normalized` reads and that a rebinding can reach."""
    code = function.__code__
    cells = dict(zip(code.co_freevars, function.__closure__ or (),
                     strict=True))
    reads = {}
    for node in _loads(normalized.tree):
        if node.id in reads or node.id in normalized.local_names:
            continue
        if node.id in cells:
            owner = cells[node.id]
            try:
                value = owner.cell_contents
            except ValueError:
                continue  # Not yet assigned, so never read as a constant.
        elif node.id in function.__globals__:
            owner = function.__globals__
            value = owner[node.id]
        else:
            continue  # A built-in.
        if isinstance(value, _FIXED_KINDS):
            continue
        reads[node.id] = _Read(owner, value)
    return reads


def _number(statements, loop, ordered, with_names=True):
    """Append each statement of `statements`, nested ones after their
    parent, to `ordered` with the names its own parts read and the
    outermost loop around it. With `with_names` false, the names are
    left out: each statement gets an empty dict."""
    for statement in statements:
        inner_loop = loop
        if loop is None and isinstance(statement, (gast.For, gast.While)):
            inner_loop = statement
        names = {}  # name -> its first read in the statement
        nested = []
        for field, value in gast.iter_fields(statement):
            if field in _BLOCK_FIELDS and isinstance(value, list):
                nested.append(value)
            elif with_names:
                for part in value if isinstance(value, list) else [value]:
                    for node in _loads(part):
                        names.setdefault(node.id, node)
        ordered.append((statement, names, loop))
        for block in nested:
            handlers = [s for s in block if isinstance(s, gast.ExceptHandler)]
            for handler in handlers:
                _number(handler.body, inner_loop, ordered, with_names)
            _number([s for s in block if s not in handlers], inner_loop,
                    ordered, with_names)


def _loads(node):
    """Return the `Name` nodes that read a variable in `node`, including
    those inside the statements that `Verbatim` nodes hide."""
    loads = []
    for part in walk(node) if isinstance(node, gast.AST) else ():
        if isinstance(part, Verbatim):
            loads += _loads(part.statement)
        elif isinstance(part, gast.Name) and isinstance(part.ctx, gast.Load):
            loads.append(part)
    return loads


def _may_rebind(statement, resolution):
    """True for a simple statement that may run the user's Python code
    or assign an attribute, so that a global may change."""
    if isinstance(statement, Verbatim):
        # Kept as written, so it may do anything that calls or stores do.
        return any(isinstance(node, (gast.Call, gast.Attribute,
                                     gast.Subscript, gast.Global,
                                     gast.Nonlocal))
                   for node in walk(statement.statement))
    if isinstance(statement, (gast.If, gast.For, gast.While, gast.Try,
                              gast.With, gast.ExceptHandler)):
        return False
    if isinstance(statement, (gast.Assign, gast.AugAssign, gast.AnnAssign)):
        targets = getattr(statement, 'targets', None) or [statement.target]
        if any(isinstance(t, gast.Attribute) for t in targets):
            return True
    for call in find_nodes(statement, gast.Call):
        resolved = resolution.calls.get(call)
        if resolved is None:
            return True
        if resolved.kind in (CallKind.RULE, CallKind.CONSTRUCTOR):
            continue
        if resolved.kind is CallKind.METHOD and resolved.rule is not None:
            continue  # An array method with a rule, such as x.sum().
        if resolved.kind is CallKind.NON_DIFFERENTIABLE and not isinstance(
                resolved.callee, (types.FunctionType, types.MethodType)):
            if resolved.name.rpartition('.')[2] in _NAMESPACE_WRITERS:
                return True
            continue  # len, range, np.zeros_like and the like.
        return True
    return False


def check_statement(writer, reads, names, statement):
    """Return `ad.check_globals_unchanged(reads_N)`, which runs after
    `statement` and checks `names`, a dict of each name to its next read.
    """
    entries = []
    function_name = writer.source.name
    for global_name, next_read in names.items():
        read = reads[global_name]
        read_line = writer.source.location(next_read).lineno
        error = GlobalRebindError(
            global_name, function_name, writer.source.location(statement),
            f'this statement rebinds {global_name!r}, which '
            f'{function_name} reads afterwards (line {read_line})')
        entries.append((read.owner, global_name, read.value, error))
    entries_name = writer.namer.fresh('global_reads')
    writer.extra_globals[entries_name] = tuple(entries)
    return gast.Expr(value=gast.Call(
        func=writer.runtime_function('check_globals_unchanged'),
        args=[gast.Name(id=entries_name, ctx=gast.Load(), annotation=None,
                        type_comment=None)],
        keywords=[]))


def callee_check(writer, checks, statement, compiled):
    """Return `[ad.require_current(callee, error)]` before `statement`, a
    call of the compiled callee `compiled`, when a statement before it
    may have rebound a global, else []."""
    if compiled is None or statement not in checks.after_rebind:
        return []
    function_name = writer.source.name
    callee_name = getattr(compiled.function, '__qualname__', 'the callee')
    error = GlobalRebindError(
        None, function_name, writer.source.location(statement),
        f'a global or closure variable that {callee_name} or a function '
        f'it calls reads was rebound while {function_name} ran, before '
        'this call')
    compiled_name = writer.namer.fresh('compiled_callee')
    error_name = writer.namer.fresh('callee_rebind_error')
    writer.extra_globals[compiled_name] = compiled
    writer.extra_globals[error_name] = error
    return [gast.Expr(value=gast.Call(
        func=writer.runtime_function('require_current'),
        args=[_load(compiled_name), _load(error_name)], keywords=[]))]


def _load(identifier):
    return gast.Name(id=identifier, ctx=gast.Load(), annotation=None,
                     type_comment=None)
