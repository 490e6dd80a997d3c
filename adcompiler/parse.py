"""Source stage: find a function's source and parse it with gast.

(The module is `parse`, not `source`, because `adcompiler.source` is the
public function that returns generated code.)

Input: a Python function object. Output: a `FunctionSource` holding the gast
`FunctionDef` (decorators removed, line and column numbers pointing into the
original file), the file name, the original source lines, and the namespace
the body reads (module globals, closure cells, builtins).

Lambdas written in a file are accepted and turned into an equivalent
`def` whose body is one `return`. Functions whose source is unavailable
(built-ins, lambdas typed at an interactive prompt, code made by `exec`)
raise `SourceUnavailableError`.
"""

import ast
import builtins
import dataclasses
import functools
import inspect
import linecache
import os
import textwrap
import time
import tokenize
import types

import gast

from adcompiler.errors import (SourceLocation, SourceUnavailableError,
                               StaleSourceError, UnsupportedSyntaxError,
                               with_article)
from adcompiler.traversal import walk


@dataclasses.dataclass
class FunctionSource:
    """A parsed user function and what is needed to resolve its names."""

    function: object
    tree: gast.FunctionDef
    filename: str
    lines: list
    namespace: dict

    @property
    def name(self):
        return self.tree.name

    @property
    def traceback_name(self):
        """Return the name that Python's tracebacks give the function:
        `<lambda>` for a lambda, whose tree is named `lambda_`."""
        code = getattr(self.function, '__code__', None)
        return self.tree.name if code is None else code.co_name

    def text_of(self, node):
        """Return a node's source text, or None if it spans lines."""
        lineno = getattr(node, 'lineno', None)
        end = getattr(node, 'end_col_offset', None)
        if (lineno is None or end is None
                or getattr(node, 'end_lineno', lineno) != lineno
                or not 0 < lineno <= len(self.lines)):
            return None
        line = self.lines[lineno - 1]
        return line[character_column(line, node.col_offset):
                    character_column(line, end)]

    def location(self, node):
        """Return the `SourceLocation` of a gast node of this function."""
        lineno = getattr(node, 'lineno', None) or self.tree.lineno
        col_offset = getattr(node, 'col_offset', None) or 0
        line = self.line_text(lineno)
        return SourceLocation(self.filename, lineno,
                              character_column(line, col_offset), line,
                              self.traceback_name)

    def line_text(self, lineno):
        """Return line `lineno` (1-based) of the file, or '' when the file
        has no such line. Cheaper than `location(node).source_line`, which
        makes a frozen dataclass, for the comments of every statement."""
        return self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ''


def function_namespace(function):
    """Return the names a function's body can read: globals, closure, builtins."""
    namespace = dict(vars(builtins))
    namespace.update(function.__globals__)
    if function.__closure__:
        for name, cell in zip(function.__code__.co_freevars,
                              function.__closure__, strict=True):
            try:
                namespace[name] = cell.cell_contents
            except ValueError:  # An empty cell: the variable is not bound yet.
                pass
    return namespace


def character_column(line, byte_offset):
    """Return the character column in `line` of `byte_offset`, a column
    that `ast` gives in bytes of UTF-8. They differ on a line with
    non-ASCII characters (`μ, σ = ...`) before the column."""
    if line.isascii():
        return byte_offset
    return len(line.encode('utf-8')[:byte_offset].decode('utf-8',
                                                          errors='ignore'))


def get_source(function):
    """Parse `function` and return its `FunctionSource`."""
    if not isinstance(function, types.FunctionType):
        kind = type(function).__name__
        raise SourceUnavailableError(
            f'cannot transform {function!r}: it is {with_article(kind)}, '
            'not a Python function with source code. adcompiler transforms '
            'Python source; '
            'wrap the call in a Python function, or register a gradient rule '
            'for it with adcompiler.register_vjp.')

    code = function.__code__
    filename = code.co_filename
    generated = _generated_definition(function)
    if generated is not None:
        tree, all_lines = generated
        _make_super_explicit(tree, function)
        return FunctionSource(function, tree, filename, all_lines,
                              function_namespace(function))
    try:
        lines, first_line = inspect.findsource(function)
    except (OSError, TypeError) as err:
        if _edited_since_import(filename):
            raise _stale_source_error(function, filename) from err
        raise SourceUnavailableError(
            f'cannot find the source of {function.__qualname__!r} (file '
            f'{filename!r}): {err}. adcompiler needs the function\'s source '
            'text: define it in a file (or a notebook cell), not with exec '
            'or at an interactive prompt.') from err
    all_lines = list(lines) or linecache.getlines(filename)

    module = _parse_def_block(lines, first_line, function)
    if module is None:
        try:
            block = inspect.getblock(lines[first_line:])
        except (tokenize.TokenError, SyntaxError) as err:
            # The tokenizer stops at text such as an unclosed bracket.
            if _edited_since_import(filename):
                raise _stale_source_error(function, filename) from err
            raise SourceUnavailableError(
                f'cannot parse the source of {function.__qualname__!r} in '
                f'{filename!r}: {err}') from err
        text = ''.join(block)
        indent = len(block[0]) - len(block[0].lstrip()) if block else 0
        module = _parse(textwrap.dedent(text), function, filename)
        _move_positions(module, first_line, indent)
    try:
        definition = _find_definition(module, function, filename,
                                      first_line + 1, all_lines)
    except SourceUnavailableError as err:
        if _edited_since_import(filename):
            raise _stale_source_error(function, filename) from err
        if function.__code__.co_name != '<lambda>':
            raise
        # A lambda inside a display or call that spans lines: its first line
        # alone does not parse, so look for it in the whole file.
        definition = _find_lambda_in_file(function, filename, first_line + 1,
                                          all_lines)
    _check_current(function, filename, all_lines)
    tree = _as_function_def(definition)
    tree.decorator_list = []
    _make_super_explicit(tree, function)
    return FunctionSource(function, tree, filename, all_lines,
                          function_namespace(function))


# File names of the code that adcompiler generates and registers in
# linecache: emitted modules, dispatch wrappers and objectives.
_GENERATED_FILE_PREFIX = '<adcompiler '


def _generated_definition(function):
    """Return the gast def of a function that adcompiler generated, and the
    lines of its file; None for other functions.

    Generated code is a module of top-level defs without decorators, so
    the whole text is parsed with `ast.parse`, which is faster than the
    tokenizer walk of `inspect.getblock`. Only the function's def is
    converted to gast, and its line and column numbers are the file's
    already.
    """
    code = function.__code__
    if not code.co_filename.startswith(_GENERATED_FILE_PREFIX):
        return None
    lines = linecache.getlines(code.co_filename)
    if not lines:
        return None
    module = _parse_generated(code.co_filename, ''.join(lines))
    if module is None:
        return None
    for node in module.body:
        if (isinstance(node, ast.FunctionDef) and node.name == code.co_name
                and node.lineno == code.co_firstlineno
                and not node.decorator_list):
            return gast.ast_to_gast(node), list(lines)
    return None


# Forward mode over generated code reads the primal and the adjoint of one
# module a few compilations apart, so the last modules parsed are kept.
@functools.lru_cache(maxsize=32)
def _parse_generated(filename, text):
    """Return the `ast.Module` of generated code, or None if it does not
    parse. The caller must not change it: `gast.ast_to_gast` copies."""
    try:
        return ast.parse(text, filename)
    except SyntaxError:
        return None


def _make_super_explicit(tree, function):
    """Rewrite `super()` as `super(__class__, self)` in a method.

    Python gives a method that calls super() with no arguments a closure
    cell `__class__`, and finds the instance in the first local variable.
    Generated code is not in the class body, so it names both.
    """
    if '__class__' not in function.__code__.co_freevars or \
            not tree.args.args:
        return
    instance = tree.args.args[0].id
    for node in walk(tree):
        if (isinstance(node, gast.Call) and isinstance(node.func, gast.Name)
                and node.func.id == 'super' and not node.args
                and not node.keywords):
            node.args = [
                gast.Name(id='__class__', ctx=gast.Load(), annotation=None,
                          type_comment=None),
                gast.Name(id=instance, ctx=gast.Load(), annotation=None,
                          type_comment=None)]


def _move_positions(module, lines, columns):
    """Add `lines` to the line numbers and `columns` to the column offsets
    of the nodes of `module`."""
    if not lines and not columns:
        return
    for node in walk(module):
        if lines and getattr(node, 'lineno', None) is not None:
            node.lineno += lines
            if getattr(node, 'end_lineno', None) is not None:
                node.end_lineno += lines
        if columns and getattr(node, 'col_offset', None) is not None:
            node.col_offset += columns
        if columns and getattr(node, 'end_col_offset', None) is not None:
            node.end_col_offset += columns


def _parse_def_block(lines, first_line, function):
    """Parse the `def` statement of `function` that starts at
    `lines[first_line]`, without decorators, and return the module, with
    the line numbers and column offsets of the file. Return None when the
    statement starts otherwise, or when the block found does not parse or
    ends before a line of the function's code.

    `inspect.getblock` finds the block with Python's tokenizer, written in
    Python before 3.12: for a 1000-line function that took 11 ms of the
    14 ms that parsing took (Python 3.11). Here the block ends before the
    first line after the `def` that is neither blank nor a comment and is
    indented no deeper than the `def`. A statement there ends the
    function. A line of a string, of brackets or after a backslash there
    leaves the block cut inside that construct, which does not parse.
    """
    header = lines[first_line] if first_line < len(lines) else ''
    statement = header.lstrip()
    if not statement.startswith('def '):
        return None
    indent = header[:len(header) - len(statement)]
    end = first_line + 1  # after the last line that is not blank or a comment
    for position in range(first_line + 1, len(lines)):
        line = lines[position]
        text = line.strip()
        if not text or text.startswith('#'):
            continue
        if not (line.startswith(indent) and line[len(indent)] in ' \t'):
            break
        end = position + 1
    if _last_code_line(function.__code__) > end:
        return None
    text = textwrap.dedent(''.join(lines[first_line:end]))
    try:
        # Leading line feeds give the nodes the line numbers of the file.
        module = gast.parse('\n' * first_line + text)
    except SyntaxError:
        return None
    _move_positions(module, 0, len(indent))
    return module


def _last_code_line(code):
    """Return the last line number of `code` and of the code objects in it
    (nested functions, lambdas, comprehensions), or 0 for none."""
    last = max((line for _, _, line in code.co_lines() if line is not None),
               default=0)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            last = max(last, _last_code_line(constant))
    return last


def _parse(text, function, filename):
    try:
        return gast.parse(text)
    except SyntaxError:
        pass
    # A lambda in the middle of an expression: getblock returned a fragment
    # such as 'f = lambda x: x ** 2' or 'grad(lambda x: x, wrt=0))'. Parse the
    # first line alone, trimmed of unbalanced closing brackets. Most trims
    # fail, so they are tried with ast.parse, and only the one that parses
    # is converted to gast.
    first = text.splitlines()[0]
    for end in range(len(first), 0, -1):
        try:
            module = ast.parse(first[:end].strip())
        except SyntaxError:
            continue
        return gast.ast_to_gast(module)
    raise SourceUnavailableError(
        f'cannot parse the source of {function.__qualname__!r} in {filename!r}')


def _find_definition(module, function, filename, lineno, all_lines=()):
    """Find the def or lambda of `function` in a parsed block."""
    # The code's own name: functools.wraps gives a wrapper its wrappee's name.
    name = function.__code__.co_name
    if name != '<lambda>':
        for node in walk(module):
            if isinstance(node, gast.FunctionDef) and node.name == name:
                return node
            if isinstance(node, gast.AsyncFunctionDef) and node.name == name:
                line = all_lines[node.lineno - 1] if all_lines else ''
                location = SourceLocation(
                    filename, node.lineno,
                    character_column(line, node.col_offset), line, name)
                raise UnsupportedSyntaxError('an async function', location)
    else:
        arg_names = function.__code__.co_varnames[:function.__code__.co_argcount]
        lambdas = [node for node in walk(module)
                   if isinstance(node, gast.Lambda)
                   and [a.id for a in node.args.args] == list(arg_names)]
        return _one_lambda(lambdas, filename, lineno)
    raise SourceUnavailableError(
        f'cannot find the definition of {function.__qualname__!r} at line '
        f'{lineno} of {filename!r}')


def _one_lambda(lambdas, filename, lineno):
    """Return the only lambda of `lambdas`, or raise."""
    if len(lambdas) > 1:
        raise SourceUnavailableError(
            f'line {lineno} of {filename!r} contains several lambdas with '
            'the same arguments, so adcompiler cannot tell which one to '
            'transform; give the function a name with def.')
    if not lambdas:
        raise SourceUnavailableError(
            f'cannot find the lambda defined at line {lineno} of '
            f'{filename!r}; give the function a name with def.')
    return lambdas[0]


def _find_lambda_in_file(function, filename, lineno, all_lines):
    """Find the lambda of `function` that starts at `lineno` by parsing the
    whole file.

    The file is parsed with ast.parse, and only the lambdas found are
    converted to gast, which takes much longer per node.
    """
    try:
        module = ast.parse(''.join(all_lines))
    except SyntaxError:
        module = ast.Module(body=[], type_ignores=[])
    code = function.__code__
    arg_names = list(code.co_varnames[:code.co_argcount])
    lambdas = [gast.ast_to_gast(node) for node in ast.walk(module)
               if isinstance(node, ast.Lambda) and node.lineno == lineno
               and [a.arg for a in node.args.args] == arg_names]
    return _one_lambda(lambdas, filename, lineno)


def _as_function_def(definition):
    """Return a def for a def or lambda node: a lambda becomes `lambda_`,
    whose body is one return."""
    if isinstance(definition, gast.FunctionDef):
        return definition
    ret = gast.Return(value=definition.body)
    gast.copy_location(ret, definition.body)
    tree = gast.FunctionDef(
        name='lambda_', args=definition.args, body=[ret], decorator_list=[],
        returns=None, type_comment=None, type_params=[])
    return gast.copy_location(tree, definition)


# Files last modified before this time cannot have been edited after the
# functions that the program runs were loaded from them.
_IMPORTED_AT = time.time()


def _check_current(function, filename, all_lines):
    """Raise `StaleSourceError` if the source found for `function` no longer
    compiles to the code it runs: its file was edited after it was loaded.

    Transforming the edited text would differentiate a function other than
    the one called. Only files modified since adcompiler was imported are
    checked: their text is compiled as a whole (its imports and enclosing
    scopes shape the code) and the code object defined at the function's
    first line is compared with the running one. (Import hooks such as
    pytest's assert rewriting compile other code from the same text, so an
    unmodified file is not compared.)
    """
    if not _edited_since_import(filename):
        return
    code = function.__code__
    compiled = _code_by_line(filename, ''.join(all_lines)).get(
        (code.co_name, code.co_firstlineno))
    if compiled is not None and _same_code(compiled, code):
        return
    if compiled is None and not _file_compiles(filename, all_lines):
        return  # Text this check cannot compile; the parse stage judges it.
    raise _stale_source_error(function, filename)


def _edited_since_import(filename):
    """True if `filename` is a file modified since adcompiler was imported;
    False for an older file and for text that is not a file (a notebook
    cell, generated code)."""
    try:
        return os.stat(filename).st_mtime >= _IMPORTED_AT
    except OSError:
        return False


def _stale_source_error(function, filename):
    return StaleSourceError(
        f'the source of {function.__qualname__!r} in {filename!r} has '
        'changed since the function was defined (the file was edited after '
        'it was imported), so adcompiler would differentiate other code than '
        'the code that runs; reload the module (importlib.reload) or '
        'restart, then take the gradient of the new function.')


@functools.lru_cache(maxsize=64)
def _code_by_line(filename, text):
    """Compile a file's text; return its code objects by (name, first line).
    Empty if the text does not compile alone."""
    try:
        top = compile(text, filename, 'exec', dont_inherit=True)
    except (SyntaxError, ValueError):
        return {}
    found = {}
    pending = [top]
    while pending:
        current = pending.pop()
        found.setdefault((current.co_name, current.co_firstlineno), current)
        pending.extend(c for c in current.co_consts
                       if isinstance(c, types.CodeType))
    return found


def _file_compiles(filename, all_lines):
    return bool(_code_by_line(filename, ''.join(all_lines)))


def _same_code(a, b):
    """Return whether two code objects have the same instructions, names and
    constants (nested code compared alike)."""
    if (a.co_code != b.co_code or a.co_names != b.co_names
            or a.co_varnames != b.co_varnames
            or a.co_freevars != b.co_freevars
            or len(a.co_consts) != len(b.co_consts)):
        return False
    for p, q in zip(a.co_consts, b.co_consts, strict=True):
        if isinstance(p, types.CodeType) and isinstance(q, types.CodeType):
            if not _same_code(p, q):
                return False
        elif type(p) is not type(q) or not (p == q or (p != p and q != q)):
            return False
    return True
