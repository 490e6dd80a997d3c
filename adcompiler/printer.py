"""Print gast trees as Python source, the text astor 0.8.1 writes for them.

Emit's `to_source` used to convert each tree to `ast` and print it with
astor. For a 1000-line function that took 0.27 s of emit's 0.37 s, and
this printer writes the same text straight from the gast tree in 0.07 s
(CPU time, Python 3.11, loaded 2-core AMD EPYC).

It follows astor's rules, parentheses included: a node gets brackets when
its precedence is below the one its parent requires. A parent that sets
none (for the value of an attribute or a subscript, or the function of a
call) requires more than any operator has. The precedences come from
astor's own table. Comments, negative numbers and empty blocks are
printed as `emit._PrintableTree` prepares them for astor.

A statement with a node or a value this printer does not know, or with a
line longer than astor leaves as it is, raises `Unsupported` inside, and
the caller prints that statement with astor instead.
"""

import keyword
import math
import warnings

import gast

# astor 0.8.1 reads ast.Num and other names that Python 3.12 deprecates;
# see the import in adcompiler.emit.
with warnings.catch_warnings():
    warnings.filterwarnings('ignore', category=DeprecationWarning)
    from astor.op_util import Precedence, symbol_data

from adcompiler import verbatim
from adcompiler.codegen import COMMENT_PREFIX

# astor writes a line of at most this many characters, its indentation
# included, as it is. emit rewraps a longer line with `wrap_line` when astor
# writes it in more than MAX_FRAGMENTS_FOR_ASTOR fragments, and leaves it to
# astor otherwise.
MAX_LINE_LENGTH = 79
MAX_FRAGMENTS_FOR_ASTOR = 200
INDENTATION = '    '
COMMENT_MARKER = '__adcompiler_comment_{}__'


class Unsupported(Exception):
    """A statement that this printer cannot print as astor does."""


class _LongLine(Unsupported):
    """A line longer than MAX_LINE_LENGTH, which astor rewraps."""


# Separates the fragments that `SourcePrinter.fragments` marks. repr()
# escapes it in strings, and names cannot contain it.
_MARK = '\x00'
_PLAIN_BRACKETS = (('(', ')'), ('[', ']'), ('{', '}'))
_MARKED_BRACKETS = tuple((_MARK + opening + _MARK, _MARK + closing + _MARK)
                         for opening, closing in _PLAIN_BRACKETS)


def _by_gast_class(values):
    """Map the gast classes named like the ast classes in `values`."""
    return {getattr(gast, kind.__name__): value
            for kind, value in values.items()
            if kind is not None and hasattr(gast, kind.__name__)}


_SYMBOLS = _by_gast_class(symbol_data)
_OPERATOR_PRECEDENCE = {kind: getattr(Precedence, kind.__name__)
                        for kind in _SYMBOLS}

_HIGHEST = Precedence.highest
_NAME = gast.Name
_COMMA = Precedence.Comma
_CONSTANT = Precedence.Constant
_TUPLE = Precedence.Tuple
_USUB = Precedence.USub

# Blocks whose empty body astor would print as nothing: emit gives them
# `pass`. An empty function body stays empty, as before.
_PASS_IF_EMPTY = (gast.If, gast.For, gast.While, gast.Try, gast.ExceptHandler,
                  gast.With)


def _statements(statements):
    """Return the list `statements` with each `Verbatim` node replaced in
    place by its statement, as `emit._PrintableTree` does."""
    for position, statement in enumerate(statements):
        if statement.__class__ is verbatim.Verbatim:
            statements[position] = statement.statement
    return statements


class SourcePrinter:
    """Collect the lines astor would write for a module (see `module`).

    `comments` is the list of comment texts in the order astor would see
    them, shared with `print_with_astor(statement, level, first)`. That
    function returns the lines astor writes for one statement at an
    indentation level, the line feeds it writes before them, and the line
    feeds it leaves for the next statement.
    """

    def __init__(self, comments, print_with_astor):
        self.comments = comments
        self.print_with_astor = print_with_astor
        self.lines = []
        # Line feeds astor writes before the next line: one starts a line,
        # more leave blank lines.
        self.new_lines = 0
        self.plain_text()

    def plain_text(self):
        """Write the separators and brackets of expressions as text."""
        self.separator = ', '
        self.round, self.square, self.curly = _PLAIN_BRACKETS

    def fragments(self):
        """Write the separators and brackets of expressions between
        `_MARK` characters, where astor writes them as fragments of their
        own, which `wrap_line` reads."""
        self.separator = _MARK + ', ' + _MARK
        self.round, self.square, self.curly = _MARKED_BRACKETS

    def module(self, node):
        """Return the lines of the gast module `node`."""
        for statement in _statements(node.body):
            self.statement(statement, 0)
        return self.lines

    # Lines -------------------------------------------------------------------

    def line(self, level, text, checked=True):
        """Add a line at indentation `level`, after the pending blank lines.
        Astor writes no line feed before the first line of a module. A
        `checked` line longer than MAX_LINE_LENGTH raises Unsupported."""
        lines = self.lines
        if lines:
            for _ in range(self.new_lines - 1):
                lines.append('')
        line = INDENTATION * level + text
        if checked and len(line) > MAX_LINE_LENGTH:
            raise _LongLine(line)
        lines.append(line)
        self.new_lines = 0

    def block(self, statements, level):
        for statement in _statements(statements):
            self.statement(statement, level)

    def statement(self, node, level):
        lines_before = len(self.lines)
        comments_before = len(self.comments)
        new_lines = self.new_lines
        try:
            method = _STATEMENTS.get(node.__class__)
            if method is None:
                raise Unsupported(node)
            method(self, node, level)
        except Unsupported:
            del self.lines[lines_before:]
            del self.comments[comments_before:]
            lines, leading, pending = self.print_with_astor(
                node, level, not self.lines)
            self.new_lines = max(new_lines, leading)
            if self.lines:
                for _ in range(self.new_lines - 1):
                    self.lines.append('')
            self.lines.extend(lines)
            self.new_lines = pending

    # Statements --------------------------------------------------------------

    def simple(self, level, text):
        self.new_lines = max(self.new_lines, 1)
        self.line(level, text)

    def body(self, node, statements, level):
        if not statements and isinstance(node, _PASS_IF_EMPTY):
            self.simple(level, 'pass')
        else:
            self.block(statements, level)

    def else_body(self, statements, level):
        if statements:
            self.simple(level, 'else:')
            self.block(statements, level + 1)

    def print_Assign(self, node, level):
        parts = [self.expression(target, Precedence.Assign)
                 for target in node.targets]
        parts.append(self.expression(node.value, Precedence.Assign))
        text = ' = '.join(parts)
        if text[0] in '\'"':
            # astor may write a string that starts a line with triple
            # quotes.
            raise Unsupported(node)
        try:
            self.simple(level, text)
        except _LongLine:
            self.long_line(node, level)

    def print_AugAssign(self, node, level):
        text = (self.expression(node.target, Precedence.AugAssign) + ' '
                + _SYMBOLS[node.op.__class__] + '= '
                + self.expression(node.value, Precedence.AugAssign))
        if text[0] in '\'"':
            raise Unsupported(node)
        self.simple(level, text)

    def print_Expr(self, node, level):
        value = node.value
        if (value.__class__ is gast.Constant and value.value.__class__ is str
                and value.value.startswith(COMMENT_PREFIX)):
            # astor prints a marker name in its place, and a marker line
            # longer than MAX_LINE_LENGTH goes through astor's wrapping.
            marker = COMMENT_MARKER.format(len(self.comments))
            if len(INDENTATION) * level + len(marker) > MAX_LINE_LENGTH:
                raise Unsupported(node)
            self.comments.append(value.value)
            self.new_lines = max(self.new_lines, 1)
            self.line(level, value.value, checked=False)
            return
        text = self.expression(value, Precedence.Expr)
        if text[0] in '\'"':
            raise Unsupported(node)
        self.simple(level, text)

    def print_Return(self, node, level):
        if node.value is None:
            self.simple(level, 'return')
        else:
            try:
                self.simple(level, 'return ' + self.expression(
                    node.value, Precedence.Return))
            except _LongLine:
                self.long_line(node, level)

    def long_line(self, node, level):
        """Add the lines of an assignment or a return statement longer
        than MAX_LINE_LENGTH as emit writes them: wrapped by `wrap_line`
        when astor writes more than MAX_FRAGMENTS_FOR_ASTOR fragments.
        Other long lines, which astor wraps, raise Unsupported.

        `wrap_line` reads the fragments that are brackets, separators
        (', '), the `return` keyword with its space, and the ' = ' of
        assignments, and those are the marked ones here.
        """
        if node.__class__ is gast.Assign:
            # wrap_line puts brackets around a tuple assigned to targets
            # only where the first fragment is a name.
            first = node.targets[0]
            if first.__class__ is gast.Tuple and first.elts:
                first = first.elts[0]
            if first.__class__ is not gast.Name:
                raise Unsupported(node)
        self.fragments()
        try:
            if node.__class__ is gast.Return:
                text = 'return' + _MARK + ' ' + _MARK + self.expression(
                    node.value, Precedence.Return)
            else:
                parts = [self.expression(target, Precedence.Assign)
                         for target in node.targets]
                parts.append(self.expression(node.value, Precedence.Assign))
                text = (_MARK + ' = ' + _MARK).join(parts)
        finally:
            self.plain_text()
        line = [INDENTATION * level] + text.split(_MARK)
        # Each piece is one or more of astor's fragments, and astor's line
        # starts with its indentation.
        fragments = 1 + sum(1 for piece in line[1:] if piece)
        if fragments <= MAX_FRAGMENTS_FOR_ASTOR:
            raise Unsupported(node)
        try:
            wrapped = wrap_line(line)
        except Exception as err:
            # In astor's path the error sends the module to ast.unparse.
            raise Unsupported(node) from err
        first, *rest = ''.join(wrapped).split('\n')
        self.new_lines = max(self.new_lines, 1)
        self.line(0, first, checked=False)
        self.lines.extend(rest)

    def print_Pass(self, node, level):
        self.simple(level, 'pass')

    def print_Break(self, node, level):
        self.simple(level, 'break')

    def print_Continue(self, node, level):
        self.simple(level, 'continue')

    def print_Delete(self, node, level):
        self.simple(level, 'del ' + ', '.join(
            self.expression(target, _COMMA) for target in node.targets))

    def print_Global(self, node, level):
        self.simple(level, 'global ' + ', '.join(node.names))

    def print_Nonlocal(self, node, level):
        self.simple(level, 'nonlocal ' + ', '.join(node.names))

    def print_Raise(self, node, level):
        text = 'raise'
        if node.exc is not None:
            text += ' ' + self.expression(node.exc, _HIGHEST)
            if node.cause is not None:
                text += ' from ' + self.expression(node.cause, _HIGHEST)
        self.simple(level, text)

    def print_Assert(self, node, level):
        text = 'assert ' + self.expression(node.test, Precedence.Assert)
        if node.msg is not None:
            text += ', ' + self.expression(node.msg, Precedence.Assert)
        self.simple(level, text)

    def print_If(self, node, level):
        self.simple(level, 'if ' + self.expression(node.test, Precedence.If)
                    + ':')
        self.body(node, node.body, level + 1)
        while True:
            orelse = _statements(node.orelse)
            if len(orelse) == 1 and orelse[0].__class__ is gast.If:
                node = orelse[0]
                self.simple(level, 'elif ' + self.expression(
                    node.test, Precedence.If) + ':')
                self.body(node, node.body, level + 1)
            else:
                self.else_body(orelse, level)
                break

    def print_For(self, node, level):
        self.simple(level, 'for ' + self.expression(
            node.target, Precedence.For) + ' in ' + self.expression(
                node.iter, _HIGHEST) + ':')
        self.body(node, node.body, level + 1)
        self.else_body(node.orelse, level)

    def print_While(self, node, level):
        self.simple(level, 'while ' + self.expression(
            node.test, Precedence.While) + ':')
        self.body(node, node.body, level + 1)
        self.else_body(node.orelse, level)

    def print_With(self, node, level):
        items = []
        for item in node.items:
            text = self.expression(item.context_expr, _HIGHEST)
            if item.optional_vars is not None:
                text += ' as ' + self.expression(item.optional_vars,
                                                 _HIGHEST)
            items.append(text)
        self.simple(level, 'with ' + ', '.join(items) + ':')
        self.body(node, node.body, level + 1)

    def print_Try(self, node, level):
        self.simple(level, 'try:')
        self.body(node, node.body, level + 1)
        for handler in node.handlers:
            if handler.__class__ is not gast.ExceptHandler:
                raise Unsupported(handler)
            text = 'except'
            if handler.type is not None:
                text += ' ' + self.expression(handler.type, _HIGHEST)
                if handler.name is not None:
                    if handler.name.__class__ is not gast.Name:
                        raise Unsupported(handler)
                    text += ' as ' + handler.name.id
            self.simple(level, text + ':')
            self.body(handler, handler.body, level + 1)
        self.else_body(node.orelse, level)
        # A pass of the compiler may have emptied the body of
        # `finally: pass`, and a `try` needs a handler or a `finally`.
        if node.finalbody or not node.handlers:
            self.simple(level, 'finally:')
            self.body(node, node.finalbody, level + 1)

    def print_FunctionDef(self, node, level):
        if (node.decorator_list or node.returns is not None
                or getattr(node, 'type_params', None)):
            raise Unsupported(node)
        self.new_lines = max(self.new_lines, 2 if level else 3)
        self.line(level, 'def ' + node.name + '(' + self.arguments(node.args)
                  + '):')
        self.block(node.body, level + 1)
        if not level:
            self.new_lines = max(self.new_lines, 3)

    def arguments(self, node):
        if node.posonlyargs:
            raise Unsupported(node)
        parts = []
        defaults = [None] * (len(node.args) - len(node.defaults))
        defaults += node.defaults
        for argument, default in zip(node.args, defaults):
            text = self.parameter(argument)
            if default is not None:
                text += '=' + self.expression(default, _COMMA)
            parts.append(text)
        if node.vararg is not None:
            parts.append('*' + self.parameter(node.vararg))
        elif node.kwonlyargs:
            parts.append('*')
        for argument, default in zip(node.kwonlyargs, node.kw_defaults):
            text = self.parameter(argument)
            if default is not None:
                text += '=' + self.expression(default, _COMMA)
            parts.append(text)
        if node.kwarg is not None:
            parts.append('**' + self.parameter(node.kwarg))
        return ', '.join(parts)

    def parameter(self, node):
        if node.__class__ is not gast.Name or node.annotation is not None:
            raise Unsupported(node)
        return node.id

    # Expressions -------------------------------------------------------------

    def expression(self, node, required):
        """Return the text of the expression `node` where its parent
        requires precedence `required`, in brackets if its own is lower."""
        if node.__class__ is _NAME:
            return node.id
        method = _EXPRESSIONS.get(node.__class__)
        if method is None:
            raise Unsupported(node)
        return method(self, node, required)

    def print_Name(self, node, required):
        return node.id

    def print_Constant(self, node, required):
        value = node.value
        kind = value.__class__
        if kind is str:
            if node.kind is not None or '\n' in value:
                raise Unsupported(node)  # astor may use triple quotes.
            return repr(value)
        if kind is int or kind is float:
            if kind is float and not math.isfinite(value):
                raise Unsupported(node)  # astor writes 1e1000 for inf.
            if math.copysign(1.0, value) < 0 if kind is float else value < 0:
                # emit writes a negative number as a negation.
                text = '-' + repr(-value)
                return text if _USUB >= required else self.bracketed(text)
            text = repr(value)
        elif kind is bool:
            text = repr(value)
        elif value is None:
            return 'None'
        elif value is Ellipsis:
            return '...'
        elif kind is bytes:
            return repr(value)
        else:
            raise Unsupported(node)
        return text if _CONSTANT >= required else self.bracketed(text)

    def print_Attribute(self, node, required):
        return self.expression(node.value, _HIGHEST) + '.' + node.attr

    def print_Call(self, node, required):
        expression = self.expression
        keywords = node.keywords
        argument_precedence = (_COMMA if len(node.args) + len(keywords) > 1
                               else Precedence.call_one_arg)
        parts = [expression(argument, argument_precedence)
                 for argument in node.args]
        for item in keywords:
            if item.arg is None:
                parts.append('**' + expression(item.value, _COMMA))
            else:
                parts.append(item.arg + '=' + expression(item.value, _COMMA))
        opening, closing = self.round
        return (expression(node.func, _HIGHEST) + opening
                + self.separator.join(parts) + closing)

    def print_Starred(self, node, required):
        return '*' + self.expression(node.value, _HIGHEST)

    def print_BinOp(self, node, required):
        operator = node.op.__class__
        precedence = _OPERATOR_PRECEDENCE[operator]
        if operator is gast.Pow:
            left = self.expression(node.left, Precedence.Pow + 1)
            right = self.expression(node.right, Precedence.PowRHS)
        else:
            left = self.expression(node.left, precedence)
            right = self.expression(node.right, precedence + 1)
        text = left + ' ' + _SYMBOLS[operator] + ' ' + right
        return text if precedence >= required else self.bracketed(text)

    def print_UnaryOp(self, node, required):
        operator = node.op.__class__
        precedence = _OPERATOR_PRECEDENCE[operator]
        symbol = _SYMBOLS[operator]
        operand = self.expression(node.operand, precedence)
        text = (symbol + ' ' + operand if symbol.isalpha()
                else symbol + operand)
        return text if precedence >= required else self.bracketed(text)

    def print_BoolOp(self, node, required):
        operator = node.op.__class__
        precedence = _OPERATOR_PRECEDENCE[operator]
        text = (' ' + _SYMBOLS[operator] + ' ').join(
            self.expression(value, precedence + 1) for value in node.values)
        return text if precedence >= required else self.bracketed(text)

    def print_Compare(self, node, required):
        precedence = _OPERATOR_PRECEDENCE[node.ops[0].__class__]
        parts = [self.expression(node.left, precedence + 1)]
        for operator, right in zip(node.ops, node.comparators):
            parts.append(' ' + _SYMBOLS[operator.__class__] + ' ')
            parts.append(self.expression(right, precedence + 1))
        text = ''.join(parts)
        return text if precedence >= required else self.bracketed(text)

    def print_IfExp(self, node, required):
        precedence = Precedence.IfExp
        text = (self.expression(node.body, precedence + 1) + ' if '
                + self.expression(node.test, precedence + 1) + ' else '
                + self.expression(node.orelse, precedence))
        return text if precedence >= required else self.bracketed(text)

    def print_Subscript(self, node, required):
        opening, closing = self.square
        return (self.expression(node.value, _HIGHEST) + opening
                + self.expression(node.slice, Precedence.Subscript) + closing)

    def print_Slice(self, node, required):
        precedence = Precedence.Slice
        text = ''
        if node.lower is not None:
            text = self.expression(node.lower, precedence)
        text += ':'
        if node.upper is not None:
            text += self.expression(node.upper, precedence)
        step = node.step
        if step is not None:
            text += ':'
            if not (step.__class__ is gast.Name and step.id == 'None'):
                text += self.expression(step, precedence)
        return text

    def print_Tuple(self, node, required):
        elements = node.elts
        if not elements:
            return '()'
        text = self.separator.join(self.expression(element, _COMMA)
                                   for element in elements)
        if len(elements) == 1:
            text += ','
        return text if _TUPLE >= required else self.bracketed(text)

    def print_List(self, node, required):
        opening, closing = self.square
        text = self.separator.join(self.expression(element, _COMMA)
                                   for element in node.elts)
        return opening + text + closing

    def print_Set(self, node, required):
        if not node.elts:
            return '{1}.__class__()'  # astor's empty set
        opening, closing = self.curly
        text = self.separator.join(self.expression(element, _COMMA)
                                   for element in node.elts)
        return opening + text + closing

    def print_Dict(self, node, required):
        parts = []
        for key, value in zip(node.keys, node.values):
            value = self.expression(value, _COMMA)
            if key is None:
                parts.append('**' + value)
            else:
                parts.append(self.expression(key, _HIGHEST) + ': ' + value)
        opening, closing = self.curly
        return opening + self.separator.join(parts) + closing

    def bracketed(self, text):
        opening, closing = self.round
        return opening + text + closing


def _methods(names):
    return {getattr(gast, name): getattr(SourcePrinter, 'print_' + name)
            for name in names}


_STATEMENTS = _methods((
    'Assign', 'AugAssign', 'Expr', 'Return', 'Pass', 'Break', 'Continue',
    'Delete', 'Global', 'Nonlocal', 'Raise', 'Assert', 'If', 'For', 'While',
    'With', 'Try', 'FunctionDef'))
_EXPRESSIONS = _methods((
    'Name', 'Constant', 'Attribute', 'Call', 'Starred', 'BinOp', 'UnaryOp',
    'BoolOp', 'Compare', 'IfExp', 'Subscript', 'Slice', 'Tuple', 'List',
    'Set', 'Dict'))


def wrap_line(line):
    """Return the fragments of one line with line breaks after commas inside
    brackets, so that each line stays within `MAX_LINE_LENGTH` where it
    can, in one pass."""
    line = _parenthesize_tuple(line)
    indentation = line[0] if not line[0].strip() else ''
    continuation = '\n' + indentation + ' ' * 4

    # Items end at the commas inside brackets, where a line may break.
    items = [[]]
    depth = 0
    for fragment in line:
        items[-1].append(fragment)
        if fragment in _OPENING:
            depth += 1
        elif fragment in _CLOSING:
            depth -= 1
        elif fragment == ', ' and depth > 0:
            items.append([])

    wrapped = []
    width = 0
    for item in items:
        length = sum(len(fragment) for fragment in item)
        if wrapped and wrapped[-1] == ', ' and \
                width + length > MAX_LINE_LENGTH:
            wrapped[-1] = ','
            wrapped.append(continuation)
            width = len(continuation) - 1
        wrapped.extend(item)
        width += length
    return wrapped


_OPENING = ('(', '[', '{')
_CLOSING = (')', ']', '}')


def _parenthesize_tuple(line):
    """Put brackets around the tuple of `return a, b` or `a, b = value`
    (written by astor without them), so that the line can break inside."""
    depth = 0
    first_comma = None
    assignments = []  # positions of ' = ' outside brackets
    for position, fragment in enumerate(line):
        if fragment in _OPENING:
            depth += 1
        elif fragment in _CLOSING:
            depth -= 1
        elif depth == 0 and fragment == ', ' and first_comma is None:
            first_comma = position
        elif depth == 0 and fragment == ' = ':
            assignments.append(position)
    if first_comma is None:
        return line

    start = 1 if not line[0].strip() else 0
    statement = next((f for f in line[start:] if f), '')
    if statement == 'return':
        start = line.index('return') + 2  # after 'return' and ' '
    elif not (assignments and statement.isidentifier()
              and not keyword.iskeyword(statement)):
        return line  # Another statement: its line stays as it is.
    before = [p for p in assignments if p < first_comma]
    if before:
        start = before[-1] + 1
    after = [p for p in assignments if p > first_comma]
    end = after[0] if after else len(line)
    return line[:start] + ['('] + line[start:end] + [')'] + line[end:]
