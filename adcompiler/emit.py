"""Emit stage: turn generated gast functions into source text and code objects.

Input: gast function definitions and the globals they read. Output: an
`EmittedModule` with the source text, and the compiled functions. The
source is compiled under a unique file name registered in `linecache`, so
tracebacks and pdb show the generated lines.

`to_source` is the only place that turns a tree into text. It writes the
text astor 0.8.1 would write, mostly with `adcompiler.printer`, which hands
the statements it does not know to astor. Where astor cannot handle a node
of a newer Python, the whole module goes to `ast.unparse`.
"""

import ast
import dataclasses
import functools
import itertools
import linecache
import math
import re
import warnings
import weakref

import gast

# astor 0.8.1 reads ast.Num and ast.Str, and Str's attribute `s`, which
# Python 3.12 deprecates. Those warnings are astor's, not the user's, so
# they are silenced where astor runs, and a program that turns warnings
# into errors can still import and use adcompiler.
with warnings.catch_warnings():
    warnings.filterwarnings('ignore', category=DeprecationWarning)
    import astor
    import astor.code_gen
    import astor.source_repr
    import astor.string_repr
from gast.ast3 import GAstToAst3

from adcompiler import printer, verbatim
from adcompiler.codegen import COMMENT_PREFIX

_counter = itertools.count(1)
_MARKER = printer.COMMENT_MARKER
_MARKER_LINE = re.compile(r'^(\s*)__adcompiler_comment_(\d+)__\s*$')


@dataclasses.dataclass
class EmittedModule:
    """Generated source text and the functions defined by running it."""

    source: str
    filename: str
    functions: dict
    scope: dict  # the globals of the generated functions


def _prints_negative(value):
    """True for a number whose text starts with a minus sign: a negative
    real, or a complex number with no real part and a negative imaginary one
    (printed as -1j)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, complex)):
        return False
    if isinstance(value, complex):
        return value.real == 0 and math.copysign(1.0, value.imag) < 0
    return math.copysign(1.0, value) < 0


def to_source(tree):
    """Return Python source for a gast tree, with comment markers as comments.

    A module is printed by `printer.SourcePrinter`, which hands the
    statements it cannot print as astor would to astor. The text is the
    same as `_to_source_with_astor` gives.
    """
    if tree.__class__ is not gast.Module:
        return _to_source_with_astor(tree)
    comments = []
    try:
        lines = printer.SourcePrinter(
            comments, functools.partial(_astor_lines, comments)).module(tree)
    except _AstorFailed:
        return _to_source_with_astor(tree)
    return '\n'.join(lines) + '\n'


class _AstorFailed(Exception):
    """astor could not print a statement, so the whole module goes to
    `ast.unparse`, as in `_to_source_with_astor`."""


def _astor_lines(comments, statement, level, first):
    """Return the lines astor writes for the gast `statement` at
    indentation `level`, the line feeds it writes before them and those it
    leaves for the next statement. `first` is true for the statement that
    starts the module, before which astor writes no line feed."""
    converter = _PrintableTree(comments)
    python_tree = converter.visit(statement)
    generator = astor.code_gen.SourceGenerator(
        printer.INDENTATION, False, astor.string_repr.pretty_string)
    generator.indentation = level
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', category=DeprecationWarning,
                                    module='astor')
            generator.visit(python_tree)
            fragments = generator.result
            # astor's first fragment is its line feeds.
            leading = len(fragments[0])
            if first:
                fragments[0] = ''
            text = _pretty_source(fragments + ['\n'])
    except Exception as err:  # astor lags new Python versions.
        raise _AstorFailed from err
    lines = _with_comments(text[0 if first else leading:-1], comments)
    return lines, leading, generator.new_lines


def _with_comments(text, comments):
    """Return the lines of `text` with comment marker lines replaced by
    their comments."""
    lines = []
    for line in text.splitlines():
        match = _MARKER_LINE.match(line)
        if match:
            lines.append(match.group(1) + comments[int(match.group(2))])
        else:
            lines.append(line)
    return lines


def _to_source_with_astor(tree):
    """Return Python source for a gast tree, printed by astor."""
    # The converter builds new nodes, so the markers never touch `tree`.
    # It puts statements kept verbatim back in `tree` as it goes.
    converter = _PrintableTree()
    python_tree = converter.visit(tree)
    comments = converter.comments
    # The text is compiled, not the tree, so the nodes need no line numbers.
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', category=DeprecationWarning,
                                    module='astor')
            text = astor.to_source(python_tree, pretty_source=_pretty_source)
    except Exception:  # astor lags new Python versions; ast.unparse does not.
        text = ast.unparse(ast.fix_missing_locations(python_tree)) + '\n'
    return '\n'.join(_with_comments(text, comments)) + '\n'


# Blocks that must not be left empty.
_BLOCKS = (ast.If, ast.For, ast.While, ast.Try, ast.ExceptHandler, ast.With)
_GAST_BLOCKS = frozenset(getattr(gast, kind.__name__) for kind in _BLOCKS)


def _same_fields():
    """Map each gast class that gast converts field by field to the ast
    class with the same name and fields.

    Those are the classes without a visit method of gast's converter. The
    method that ast.NodeVisitor has for constants also ends in a field by
    field conversion, so constants are among them.
    """
    classes = {}
    for name in dir(gast):
        kind = getattr(gast, name)
        python_kind = getattr(ast, name, None)
        if (isinstance(kind, type) and issubclass(kind, gast.AST)
                and isinstance(python_kind, type)
                and python_kind._fields == kind._fields
                and getattr(GAstToAst3, 'visit_' + name, None) is getattr(
                    ast.NodeVisitor, 'visit_' + name, None)):
            classes[kind] = python_kind
    return classes


class _PrintableTree(GAstToAst3):
    """Convert a gast tree into an ast tree ready for printing.

    The result is `gast.gast_to_ast` of the tree after `verbatim.expand`,
    prepared as `_printable` describes: comments become marker names
    (`comments` lists their text), negative numbers become negations, and
    empty blocks get `pass`. The nodes of generated code are converted
    here, and the others by gast's own conversion. One pass does the work
    of the three: for a function of 1000 lines, 0.15 s where the three
    took 0.5 s (2-core AMD EPYC, under load). The nodes get no line
    numbers.
    """

    _SAME_FIELDS = None  # built by `_same_fields` on first use

    def __init__(self, comments=None):
        self.comments = [] if comments is None else comments
        if _PrintableTree._SAME_FIELDS is None:
            _PrintableTree._SAME_FIELDS = _same_fields()
        self.same_fields = _PrintableTree._SAME_FIELDS

    def _visit(self, node):
        if isinstance(node, list):
            converted = []
            for position, item in enumerate(node):
                if isinstance(item, verbatim.Verbatim):
                    # As verbatim.expand does, in place.
                    item = node[position] = item.statement
                converted.append(self._visit(item))
            return converted
        if isinstance(node, gast.AST):
            return self.visit(node)
        return node

    def visit(self, node):
        kind = node.__class__
        python_kind = self.same_fields.get(kind)
        if python_kind is not None:
            # As python_kind(**fields), which stores them in the __dict__.
            converted = python_kind.__new__(python_kind)
            fields = converted.__dict__
            for field in kind._fields:
                value = getattr(node, field, _MISSING)
                if value is _MISSING:
                    continue
                if isinstance(value, list):
                    value = self._visit(value)
                elif isinstance(value, gast.AST):
                    value = self.visit(value)
                fields[field] = value
            if kind is gast.Constant or kind is gast.Expr:
                replacement = _printable(converted, self.comments)
                return converted if replacement is None else replacement
            if kind in _GAST_BLOCKS:
                _fill_empty_block(converted)
            return converted
        if kind is gast.Name:
            # astor only reads the context, so one instance of each is
            # shared, as in the trees that ast.parse returns.
            context = _CONTEXTS.get(node.ctx.__class__)
            return ast.Name(id=node.id, ctx=context if context is not None
                            else self.visit(node.ctx))
        if kind is gast.Assign:
            return ast.Assign(targets=self._visit(node.targets),
                              value=self._visit(node.value))
        converted = super().visit(node)
        if isinstance(converted, _BLOCKS):
            _fill_empty_block(converted)
        replacement = _printable(converted, self.comments)
        return converted if replacement is None else replacement


def _fill_empty_block(node):
    """Put `pass` in the bodies of block `node` that Python requires.

    Any pass of the compiler may remove every statement of a body, for
    example the `pass` of `finally: pass`. A `try` needs a handler or a
    `finally` body, so an empty `finally` body without handlers gets a
    `pass` too.
    """
    if not node.body:
        node.body = [ast.Pass()]
    if (isinstance(node, ast.Try) and not node.handlers
            and not node.finalbody):
        node.finalbody = [ast.Pass()]


_MISSING = object()
_CONTEXTS = {gast.Load: ast.Load(), gast.Store: ast.Store(),
             gast.Del: ast.Del()}


def _printable(node, comments):
    """Return the node to print in place of a comment statement or a
    negative constant `node`, or None to keep it."""
    if isinstance(node, ast.Expr):
        value = node.value
        if (isinstance(value, ast.Constant) and isinstance(value.value, str)
                and value.value.startswith(COMMENT_PREFIX)):
            comments.append(value.value)
            return ast.Expr(value=ast.Name(
                id=_MARKER.format(len(comments) - 1), ctx=ast.Load()))
    elif isinstance(node, ast.Constant) and _prints_negative(node.value):
        return ast.UnaryOp(op=ast.USub(),
                           operand=ast.Constant(value=-node.value))
    return None


# astor wraps a long line in time quadratic in its fragments (names,
# operators, brackets). Longer lines, such as the tuple of a thousand values
# that a long function saves, are wrapped by `printer.wrap_line` instead.
_MAX_FRAGMENTS_FOR_ASTOR = printer.MAX_FRAGMENTS_FOR_ASTOR
_MAX_LINE_LENGTH = printer.MAX_LINE_LENGTH


def _pretty_source(fragments):
    """Join the source fragments astor writes, wrapping long lines."""
    pieces = []
    line = []
    for fragment in fragments:
        if fragment.find('\n') != 0:
            line.append(fragment)
            continue
        # The fragment starts a new line.
        if len(line) > _MAX_FRAGMENTS_FOR_ASTOR and not any(
                '\n' in part for part in line):
            pieces.extend(printer.wrap_line(line))
            pieces.append(fragment)
        elif not line or line[-1].find('\n') > 0 or sum(
                len(part) for part in line) <= _MAX_LINE_LENGTH:
            # astor 0.8.1's split_lines keeps such a line as it is, because
            # it fits in 79 characters or its last fragment spans lines.
            pieces.extend(line)
            pieces.append(fragment)
        else:
            pieces.extend(astor.source_repr.split_lines(line + [fragment]))
        line = []
    pieces.extend(line)
    return ''.join(pieces)


def generated_filename(title):
    """Return a new file name for generated code, `<adcompiler title #N>`.

    One counter numbers every kind of generated code, so that a function
    named like one of adcompiler's own titles (objective, dispatch) never
    gets the file name, and the linecache entry, of other code.
    """
    return f'<adcompiler {title} #{next(_counter)}>'


def register_lines(filename, text, owner):
    """Register `text` as the lines of the generated file `filename` in
    linecache, so that tracebacks, pdb and adcompiler's parser can read it,
    until the function `owner`, defined by that text, is garbage.

    Entries with no modification time stay in linecache until removed, so
    each one is removed when its code can no longer run.
    """
    linecache.cache[filename] = (len(text), None,
                                 text.splitlines(keepends=True), filename)
    weakref.finalize(owner, linecache.cache.pop, filename, None)


def emit(functions, namespace, title, definitions=()):
    """Compile gast `functions` into one module executed in `namespace`.

    `definitions` are module-level assignments printed and run before the
    functions. `namespace` is copied, so the generated names do not leak
    into the user's module. Returns an `EmittedModule`.
    """
    module = gast.Module(body=[*definitions, *functions], type_ignores=[])
    source = to_source(module)
    filename = generated_filename(title)
    code = compile(source, filename, 'exec')
    scope = dict(namespace)
    exec(code, scope)  # noqa: S102 (the code is adcompiler's own output)
    defined = {f.name: scope[f.name] for f in functions}
    # Each function references the scope as its globals, and the scope
    # contains every function, so they become garbage together.
    register_lines(filename, source, defined[functions[0].name])
    return EmittedModule(source, filename, defined, scope)
