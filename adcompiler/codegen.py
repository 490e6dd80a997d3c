"""Builders of gast nodes for generated code, and template substitution.

Shared by the reverse and forward stages: short constructors for the few
node kinds generated code is made of, the comment markers that emit turns
into comments, and the substitution that inlines a rule template.
"""

import inspect
import operator
import re
import textwrap
import types

import gast
import numpy as np

from adcompiler import aliasing, origins, runtime
from adcompiler.errors import LocatedError, UnsupportedSyntaxError
from adcompiler.resolve import dotted_name
from adcompiler.traversal import Transformer, copy_tree, name_node, new_node

COMMENT_PREFIX = '# '

BINARY_OPERATORS = {
    gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul,
    gast.Div: operator.truediv, gast.Pow: operator.pow, gast.Mod: operator.mod,
    gast.MatMult: operator.matmul, gast.FloorDiv: operator.floordiv,
}
UNARY_OPERATORS = {gast.USub: operator.neg, gast.UAdd: operator.pos}


def comment_marker(text):
    """A statement that emit renders as the comment `# text`."""
    return new_node(gast.Expr, value=new_node(
        gast.Constant, value=COMMENT_PREFIX + text, kind=None))


def is_comment(statement):
    """True for a statement that `comment_marker` made."""
    return (isinstance(statement, gast.Expr)
            and isinstance(statement.value, gast.Constant)
            and isinstance(statement.value.value, str)
            and statement.value.value.startswith(COMMENT_PREFIX))


def branch(test, body, orelse):
    """Return `if test: body else: orelse`, or `if not test: orelse` when
    `body` only has comments (a continue leaves the branch empty)."""
    if orelse and all(is_comment(statement) for statement in body):
        return gast.If(test=gast.UnaryOp(op=gast.Not(), operand=test),
                       body=orelse, orelse=[])
    return gast.If(test=test, body=body, orelse=orelse)



def module_aliases(namespace, normalized, extra_globals):
    """Choose the names generated code uses for NumPy and the runtime.

    The function's own names for NumPy and the runtime (in generated code
    that is differentiated again) are kept where there are some; otherwise
    names the function does not use. Both modules are
    added to `extra_globals`. Returns (numpy alias, runtime alias).
    """
    aliases = [alias for alias in ('np', 'numpy')
               if namespace.get(alias) is np
               and alias not in normalized.local_names]
    numpy_alias = aliases[0] if aliases else normalized.namer.fresh('np')
    # Generated code differentiated again already calls the runtime `ad`.
    if namespace.get('ad') is runtime and 'ad' not in normalized.local_names:
        runtime_alias = 'ad'
    else:
        runtime_alias = normalized.namer.fresh('ad')
    extra_globals[numpy_alias] = np
    extra_globals[runtime_alias] = runtime
    return numpy_alias, runtime_alias


class StageWriter:
    """Base of the reverse and forward writers: the records they read and
    the helpers that build nodes calling NumPy and the runtime.

    A subclass reserves the names it needs, then calls `choose_aliases`.
    """

    FORWARD = False  # True for the forward writer, whose rules are jvps.

    def __init__(self, normalized, resolution, activity, wrt, context):
        self.normalized = normalized
        self.resolution = resolution
        self.activity = activity
        self.wrt = tuple(wrt)
        self.context = context
        self.source = context.source
        self.registry = context.registry
        self.namer = normalized.namer
        self.extra_globals = {}
        # repr of a constant index -> the global name bound to it.
        self.index_constants = {}
        # Globals and closure values that compiled callees read.
        self.callee_globals = []

    def choose_aliases(self):
        """Pick the names of NumPy and the runtime in the generated code."""
        self.numpy_alias, self.runtime_alias = module_aliases(
            self.source.namespace, self.normalized, self.extra_globals)

    def is_active(self, node):
        return isinstance(node, gast.Name) and self.activity.is_active(node.id)

    def runtime_function(self, attr):
        return new_node(gast.Attribute, value=name(self.runtime_alias),
                        attr=attr, ctx=new_node(gast.Load))

    def written_name(self, func):
        """Return the dotted name by which the code calls `func` when it
        is an attribute of an imported module (np.add.at) or of a global
        object (libm.cos of a ctypes library), else None.

        A function imported under another name (loggam for gammaln) is
        named by its qualified name instead, which is valid in any module.
        A bound method is not named by its attribute, since each read of
        the attribute makes a new one.
        """
        text = dotted_name(func)
        if text is None or '.' not in text:
            return None
        root, *attributes = text.split('.')
        if root in self.normalized.local_names or \
                root not in self.source.namespace:
            return None
        value = self.source.namespace[root]
        if isinstance(value, types.ModuleType):
            return text
        for attribute in attributes:
            value = inspect.getattr_static(value, attribute, None)
        if value is None or isinstance(value, (
                types.MethodType, types.FunctionType, property,
                staticmethod, classmethod)):
            return None
        return text

    def compile_callee_at(self, call, callee, wrt, chain):
        """Compile a callee through the context. An error inside one of
        adcompiler's runtime helpers is moved to `call`, the helper's call,
        and so is one inside a library that the user's code calls here."""
        try:
            compiled = self.context.compile_callee(
                callee, wrt, chain,
                self.normalized.call_objects.get(call))
        except LocatedError as err:
            module = getattr(callee, '__module__', None) or ''
            if module.startswith('adcompiler.'):
                raise origins.in_helper(err, self.source.location(call),
                                        callee.__name__) from err
            if (err.location is not None
                    and origins.is_library_file(err.location.filename)
                    and not origins.is_library_file(self.source.filename)):
                text = self.source.text_of(call.func) or chain[-1]
                raise origins.in_library(err, self.source.location(call),
                                         text, chain[-1],
                                         self.FORWARD) from err
            raise
        self.callee_globals.extend(compiled.read_globals)
        return compiled

    def argument_write_backs(self, copied):
        """Return (before, after, at_end) for the parameters in `copied`,
        which the generated code rebinds to copies between `before` and
        `after`.

        For each one that a list, dict or set method updates
        (`log.append(y)`), `before` keeps a reference to the caller's
        object, `after` one to the copy, and `at_end` writes the copy's
        contents back into the caller's object with `ad.write_back`. So
        the caller's container ends as plain Python leaves it, also when
        the function rebinds the parameter later.

        NOTE: when the function raises, nothing is written back, where
        plain Python would leave the updates made before the exception.
        """
        before, after, at_end = [], [], []
        for param in copied:
            if param not in self.normalized.mutated:
                continue
            original = self.namer.fresh(f'{param}_argument')
            updated = self.namer.fresh(f'{param}_updated')
            before.append(assign(original, name(param)))
            after.append(assign(updated, name(param)))
            at_end.append(gast.Expr(value=call(
                self.runtime_function('write_back'), name(original),
                name(updated))))
        return before, after, at_end

    def unshared_check(self, updated):
        """Return `[ad.check_unshared(error, n, *updated, *others)]` for the
        parameters in `updated`, which the generated code copies before it
        updates them in place, or [] when no other value can reach them.

        The copy hides the updates from any other reference to the same
        array. So the check raises when another parameter refers to the
        array, or a global or closure variable that this function or a
        compiled callee reads (the tuple `callee_globals` gathers the
        callees' values).

        NOTE: globals read only by functions that run uncompiled (a callee
        given no derivative, or one found by dynamic dispatch) are not
        checked.
        """
        others = [name(p) for p in self.normalized.params
                  if p not in updated]
        others += self.read_global_values()
        callee_globals = _unique(self.callee_globals)
        if callee_globals:
            callee_globals_name = self.namer.fresh('callee_globals')
            self.extra_globals[callee_globals_name] = callee_globals
            others.append(name(callee_globals_name))
        if len(updated) == 1 and not others:
            return []  # Nothing else can reach the array.

        quoted = ', '.join(repr(p) for p in updated)
        error = UnsupportedSyntaxError(
            f'passing as {quoted} a value that another argument, or a '
            f'global read by {self.source.name}, also refers to (the same '
            'object, an overlapping view of an array, or one inside a '
            'container or object)',
            self.source.location(self.normalized.tree),
            f'{self.source.name} updates {quoted} in place, which the other '
            'reference would see; pass a copy')
        error_name = self.namer.fresh('shared_argument_error')
        self.extra_globals[error_name] = error
        return [gast.Expr(value=call(
            self.runtime_function('check_unshared'), name(error_name),
            gast.Constant(value=len(updated), kind=None),
            *[name(p) for p in updated], *others))]

    def read_global_values(self):
        """Return expressions for the globals and closure variables that
        the function reads, for `unshared_check`.

        Normalize reads and assigns the names that the function declares
        `global` through the module's globals dict. Only the items of
        those names are values the function reads, not the whole module
        namespace, which holds the caller's own variables when the caller
        is the module's top level.
        """
        module_globals = getattr(self.source.function, '__globals__', None)
        values = []
        for variable in aliasing.read_globals(self.normalized,
                                              self.source.namespace):
            if self.source.namespace[variable] is not module_globals:
                values.append(name(variable))
                continue
            for declared in aliasing.declared_globals(self.source.tree):
                get = gast.Attribute(value=name(variable), attr='get',
                                     ctx=gast.Load())
                values.append(call(get, gast.Constant(value=declared,
                                                      kind=None)))
        return values

    def index_value(self, index):
        """Turn a subscript's index into a value expression: np.s_[...], or
        the name of a module constant for an index of constant slices.

        Evaluating `np.s_[:-1]` calls a Python method, about 0.15 us, where
        reading a global slice takes a few nanoseconds.
        """
        value = _constant_index(index)
        if isinstance(value, (slice, tuple)):
            key = repr(value)
            if key not in self.index_constants:
                self.index_constants[key] = self.namer.fresh(
                    _index_name(value))
                self.extra_globals[self.index_constants[key]] = value
            return name(self.index_constants[key])
        s_ = gast.Attribute(value=name(self.numpy_alias), attr='s_',
                            ctx=gast.Load())
        return gast.Subscript(value=s_, slice=copy_tree(index),
                              ctx=gast.Load())

    def checked_element_read(self, statement):
        """`v = x[i]` on an updated array x, checked to be an element.

        A view would follow later updates of x that the derivative does not
        see, so the generated code raises the prepared error if it gets one.
        """
        statement = copy_tree(statement)
        base = statement.value.value.id
        text = self.source.text_of(statement.value) or f'{base}[...]'
        error = UnsupportedSyntaxError(
            f'keeping {text!r} while {base!r} is updated in place',
            self.source.location(statement.value),
            f'it is a view of {base!r} here, so it would change with '
            f'{base!r} and the derivative would not follow; read it with '
            f'.copy(), or index {base!r} where the value is used')
        error_name = self.namer.fresh(f'view_error_line{statement.lineno}')
        self.extra_globals[error_name] = error
        statement.value = call(self.runtime_function('element'),
                               statement.value, name(error_name))
        return [statement]


def _constant_index(index):
    """Return the slice, or tuple of slices and ints, that the index node
    `index` always is, or None when it is anything else."""
    if isinstance(index, gast.Tuple):
        items = [_constant_index(item) for item in index.elts]
        if not items or any(item is None for item in items):
            return None
        if not any(isinstance(item, slice) for item in items):
            return None  # Item indices stay as written: np.s_[0, 1].
        return tuple(items)
    if isinstance(index, gast.Slice):
        bounds = [None if bound is None else int_constant(bound)
                  for bound in (index.lower, index.upper, index.step)]
        for bound, node in zip(bounds, (index.lower, index.upper,
                                        index.step)):
            if node is not None and bound is None:
                return None
        return slice(*bounds)
    return int_constant(index)


def index_definitions(extra_globals, numpy_alias):
    """Return `index_to_m1 = np.s_[:-1]` statements for the constant indices
    among `extra_globals`, so that the printed module defines every name it
    reads, and a comment for each error that a check raises, which cannot
    be written as code."""
    definitions = []
    for constant, value in extra_globals.items():
        if isinstance(value, Exception):
            summary = str(value).split('\n', 1)[0]
            definitions.extend(map(comment_marker, textwrap.wrap(
                f'{constant}: the {type(value).__name__} raised where the '
                f'check fails: {summary}', 77)))
            continue
        if not constant.startswith('index_') or not isinstance(
                value, (slice, tuple)):
            continue
        items = value if isinstance(value, tuple) else (value,)
        text = ', '.join(_index_text(item) for item in items)
        expression = gast.parse(f'{numpy_alias}.s_[{text}]').body[0].value
        definitions.append(assign(constant, expression))
    return definitions


def _index_text(item):
    """`1:-1` for slice(1, -1), `3` for 3."""
    if isinstance(item, int):
        return str(item)
    text = ':'.join('' if bound is None else str(bound)
                    for bound in (item.start, item.stop))
    return text if item.step is None else f'{text}:{item.step}'


def _index_name(value):
    """Return a readable name for a constant index: `index_to_m1` for
    `:-1`, `index_from_1_and_at_0` for `1:, 0`."""
    def part(item):
        if isinstance(item, int):
            return f'at_{item}'.replace('-', 'm')
        words = [f'{word}_{bound}' for word, bound in (
            ('from', item.start), ('to', item.stop), ('step', item.step))
            if bound is not None]
        return '_'.join(words).replace('-', 'm') or 'all'
    items = value if isinstance(value, tuple) else (value,)
    return 'index_' + '_and_'.join(part(item) for item in items)


def int_constant(node):
    """Return the int that `node` is (`3`, `-3`), or None."""
    sign = 1
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        sign, node = -1, node.operand
    if isinstance(node, gast.Constant) and type(node.value) is int:
        return sign * node.value
    return None


def _unique(values):
    """Return `values` as a tuple without repeats (by identity)."""
    found = {}
    for value in values:
        found.setdefault(id(value), value)
    return tuple(found.values())


def identifier(text):
    """Turn `text` into a valid Python identifier: 'f (vectorized)' -> 'f_vectorized'."""
    cleaned = re.sub(r'\W+', '_', text).strip('_') or 'function'
    return '_' + cleaned if cleaned[0].isdigit() else cleaned


def name(identifier_, ctx=None):
    """A `Name` node, loaded unless `ctx` is given."""
    return name_node(identifier_, ctx)


def assign(target, value):
    """`target = value`; `target` is a node or an identifier."""
    if isinstance(target, str):
        target = name(target, new_node(gast.Store))
    return new_node(gast.Assign, targets=[target], value=value,
                    type_comment=None)


def call(func, *args):
    """`func(*args)` with positional arguments only."""
    return new_node(gast.Call, func=func, args=list(args), keywords=[])


def is_not_none(identifier_):
    """`identifier_ is not None`."""
    return gast.Compare(left=name(identifier_), ops=[gast.IsNot()],
                        comparators=[gast.Constant(value=None, kind=None)])


def argument_atoms(argument):
    """Return the (key, atom) pairs of an argument bound to a parameter.

    That is the atom itself with key None, or each item of a `*args` tuple
    or `**kwargs` dict with its position or keyword.
    """
    if isinstance(argument, tuple):
        return list(enumerate(argument))
    if isinstance(argument, dict):
        return list(argument.items())
    return [(None, argument)]


def as_expression(value):
    """Turn a bound template argument into an expression node."""
    if isinstance(value, gast.AST):
        return value
    if isinstance(value, tuple):
        return gast.Tuple(elts=[as_expression(v) for v in value],
                          ctx=gast.Load())
    return gast.Constant(value=value, kind=None)


class _Substitute(Transformer):
    """Replace template names by arguments, temporaries by fresh names, and
    `active(x)` by a constant: whether the call differentiates argument x."""

    def __init__(self, substitutions, renames, namer, active=None):
        self.substitutions = substitutions
        self.renames = renames
        self.namer = namer
        self.active = active or {}

    def visit_Call(self, node):
        if isinstance(node.func, gast.Name) and node.func.id == 'active':
            (param,) = node.args
            return gast.Constant(value=bool(self.active.get(param.id)),
                                 kind=None)
        return self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in self.substitutions and isinstance(node.ctx, gast.Load):
            return copy_tree(self.substitutions[node.id])
        if isinstance(node.ctx, gast.Store) or node.id in self.renames:
            if node.id not in self.renames:
                self.renames[node.id] = self.namer.temporary()
            node.id = self.renames[node.id]
        return node


def substitute_template(node, substitutions, renames, namer, active=None):
    """Copy a template node, replacing its names (see `_Substitute`).

    `active` maps template parameters to whether the call differentiates
    their arguments.
    """
    return _Substitute(substitutions, renames, namer, active).visit(
        copy_tree(node))


def saved_unpacking(adjoint):
    """Return the tuple target of an adjoint's first statement, which
    unpacks its saved values (`x, t2 = saved`), or None when the adjoint
    does not start that way."""
    body = adjoint.body
    saved_param = adjoint.args.args[0].id
    if not (body and isinstance(body[0], gast.Assign)
            and isinstance(body[0].value, gast.Name)
            and body[0].value.id == saved_param
            and isinstance(body[0].targets[0], gast.Tuple)):
        return None
    return body[0].targets[0]
