"""Origins of generated code, so that errors in it point at the user's line.

Generated functions are compiled under file names of their own (see emit),
and carry a comment `# line N: text` above each block, naming the line of
the function they were generated from. That function may itself be
generated code, when a derivative is differentiated again. `record` notes
the source of each generated file. `at_user_line` moves an error located in
generated code to the line the user wrote, with a caret under the user's
call that the failing code came from and that call in the message.
`in_helper` moves an error inside one of adcompiler's own runtime helpers
to the helper's call in generated code, and `in_library` one inside an
installed library to the user's call of it. `note_user_lines` adds to an
exception raised while generated code ran the lines of the user's
functions that the failing generated lines came from.
"""

import ast
import functools
import linecache
import os
import re
import site
import sysconfig
import weakref

from adcompiler.errors import (ForeignCallError, LocatedError, SourceLocation,
                               format_diagnostic, marking_fix, rule_fix)
from adcompiler.traversal import walk

_LINE_COMMENT = re.compile(r'^\s*# line (\d+): ')

# File name of generated code -> (the FunctionSource it was generated
# from, a weak reference to one of the generated functions). An entry is
# removed when its functions are garbage, as emit removes their lines from
# linecache.
_ORIGINS = {}


def record(filename, source, function):
    """Note that the generated file `filename`, which defines `function`,
    was generated from `source`."""
    _ORIGINS[filename] = (source, weakref.ref(function))
    weakref.finalize(function, _ORIGINS.pop, filename, None)


def _scope_of(reference):
    """Return the globals of the generated function that `reference`
    refers to, or an empty dict once it is garbage."""
    function = reference()
    return {} if function is None else function.__globals__


def at_user_line(error):
    """Return `error` moved to the user's line if generated code raised it.

    Other errors are returned unchanged. The moved error keeps its class
    and fixes, and the failure in the generated code becomes a detail.
    """
    if not isinstance(error, LocatedError) or error.location is None:
        return error
    location, call, name = error.location, None, None
    moved = False
    while location.filename in _ORIGINS:
        location, call, name = _origin_of(location, name)
        moved = True
    if not moved:
        return error
    subject = call if call is not None else f'line {location.lineno}'
    summary = f'cannot differentiate the derivative of {subject} again'
    details = (f'In the generated code of that derivative, {error.summary}',
               error.location.render()) + error.details
    return _relocated(error, summary, location, details)


def at_dispatched_call(error, location, callee_text):
    """Return `error`, raised in the generated code of a wrapper that runs
    a call dispatched at run time (see adcompiler.dispatch), moved to that
    call in the user's code at `location`."""
    if not isinstance(error, LocatedError):
        return error
    summary = (f'cannot differentiate the derivative of the call of '
               f'{callee_text} again')
    return _relocated(error, summary, location, error.details)


def moved_to(error, location):
    """Return a copy of `error` at `location`, with the same message."""
    return _relocated(error, error.summary, location, error.details)


def in_helper(error, location, helper):
    """Return `error`, raised while transforming the adcompiler runtime
    helper named `helper`, moved to `location`, the helper's call in
    generated code."""
    if not isinstance(error, LocatedError):
        return error
    details = ()
    if error.location is not None:
        details = (f'In the adcompiler helper {helper}:',
                   error.location.render())
    summary = f'cannot differentiate the adcompiler helper {helper}'
    return _relocated(error, summary, location,
                      details + (error.summary,) + error.details)


@functools.cache
def library_directories():
    """Return the directories of the standard library and of installed
    packages (site-packages of this interpreter or virtual environment)."""
    paths = sysconfig.get_paths()
    found = {paths[key] for key in ('stdlib', 'platstdlib', 'purelib',
                                    'platlib') if key in paths}
    found.update(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        found.add(site.getusersitepackages())
    return tuple(os.path.join(os.path.realpath(p), '') for p in found)


def is_library_file(filename):
    """True if `filename` is a file of the standard library or of an
    installed package, whose code the user cannot change."""
    if not filename or filename.startswith('<'):
        return False
    return os.path.realpath(filename).startswith(library_directories())


def in_library(error, location, callee_text, qualified_name, forward):
    """Return `error`, raised while transforming the source of a library
    function that the user's code calls at `location` as `callee_text`,
    with that call as its location.

    The fixes of an error in library code (edit a decorator, rewrite a
    line) are replaced by those the user can apply at the call: a rule for
    the library function, or marking it non-differentiable. A
    ForeignCallError keeps its own fixes after those, because a rule for
    the inner function it names works too.

    NOTE: an error in a branch of the library function is raised only when
    that branch runs. The compiled library function is shared by every
    call of it, so the error keeps its line in the library. This happens
    with scipy.linalg.expm in SciPy 1.18 and solve_triangular in 1.15.
    """
    if not isinstance(error, LocatedError) or error.location is None:
        return error
    summary = (f'cannot differentiate through {qualified_name}: adcompiler '
               'transforms it from its source, and that source contains '
               'code it does not support')
    details = (f'In {qualified_name}: {error.summary}',
               error.location.render()) + error.details
    moved = _relocated(error, summary, location, details)
    fixes = (rule_fix(callee_text, qualified_name, forward),
             marking_fix(callee_text))
    if isinstance(error, ForeignCallError):
        fixes += error.fixes
    moved.fixes = fixes
    moved.args = (format_diagnostic(summary, location, moved.details,
                                    fixes),)
    return moved


def _relocated(error, summary, location, details):
    """Return a copy of `error` with a new summary, location and details."""
    # copy.copy would call the class with the message as its only argument.
    moved = type(error).__new__(type(error))
    moved.__dict__.update(error.__dict__)
    moved.summary = summary
    moved.location = location
    moved.details = tuple(details)
    if hasattr(moved, 'construct'):
        moved.construct, moved.reason = summary, ''
    moved.args = (format_diagnostic(summary, location, moved.details,
                                    moved.fixes),)
    return moved


def _origin_of(location, name):
    """Return the location in the source that the generated line at
    `location` came from, and the text and function name of the call there.

    The call is the first whose function name is a word of `name`, the
    function name the previous step found, or else of the function called at
    `location` (`outer` of `outer_adjoints`, `insert` of `undo_insert`).
    Failing that, it is the one call on the line that the generated code
    dispatches at run time. Without one, the call is None and the caret is
    at the start of the line.
    """
    source, reference = _ORIGINS[location.filename]
    scope = _scope_of(reference)
    lines = linecache.getlines(location.filename)
    lineno = source.tree.lineno
    for number in range(min(location.lineno, len(lines)), 0, -1):
        match = _LINE_COMMENT.match(lines[number - 1])
        if match:
            lineno = int(match.group(1))
            break
    text = (source.lines[lineno - 1] if 0 < lineno <= len(source.lines)
            else '')
    if name is None:
        name = _callee_name_at(location.source_line, location.col_offset)
    column, call, called = _find_call(text, name)
    if call is None:
        # A CallSite (see adcompiler.dispatch) of a call on this line.
        sites = [value for value in scope.values()
                 if hasattr(value, 'callee_text')
                 and getattr(value, 'location', None) is not None
                 and value.location.filename == source.filename
                 and value.location.lineno == lineno]
        if len(sites) == 1:
            column, call, called = _find_call(
                text, sites[0].callee_text.rsplit('.', 1)[-1])
    return SourceLocation(source.filename, lineno, column, text,
                          source.traceback_name), call, called


def _callee_name_at(line, column):
    """Return the name of the function called at `column` of `line`."""
    match = re.match(r'[\w.]*', line[column:])
    return match.group(0).rsplit('.', 1)[-1] if match else ''


def _find_call(text, name):
    """Return the column, the text and the function name of a call on the
    line `text`, or the column of the line's start and two Nones.

    The call's function name is a word of `name` (see `_origin_of`), or the
    words that `name` starts with (`nan_to_num` of `nan_to_num_adjoints`).
    """
    stripped = text.strip()
    indent = len(text) - len(text.lstrip())
    tree = None
    for attempt in (stripped, stripped + ' pass',
                    re.sub(r'^elif\b', 'if', stripped) + ' pass'):
        try:
            tree = ast.parse(attempt)
            break
        except SyntaxError:
            continue
    if tree is None:
        return indent, None, None
    words = (name or '').split('_')
    for call in walk(tree):
        if not isinstance(call, ast.Call):
            continue
        function = call.func
        called = (function.attr if isinstance(function, ast.Attribute)
                  else getattr(function, 'id', None))
        if called and (called in words or called == name
                       or (name or '').startswith(called + '_')):
            return (indent + call.col_offset,
                    ast.get_source_segment(stripped, call), called)
    return indent, None, None


def note_user_lines(error):
    """Add a note to `error` that lists the user's lines that the generated
    code in its traceback came from, outermost first.

    The traceback shows the generated lines, under file names such as
    `<adcompiler f #1>`, and the note names the file and line the user wrote.
    An error that already has a location (a `LocatedError`) and an error
    noted before are left as they are. Python 3.10 has no exception notes,
    so there the error is unchanged.
    """
    if (isinstance(error, LocatedError) or not hasattr(error, 'add_note')
            or getattr(error, '_adcompiler_noted', False)):
        return
    error._adcompiler_noted = True
    frames = []
    traceback = error.__traceback__
    while traceback is not None:
        frame = _user_frame(traceback.tb_frame.f_code.co_filename,
                            traceback.tb_lineno)
        if frame is not None and (not frames or frames[-1] != frame):
            frames.append(frame)
        traceback = traceback.tb_next
    if frames:
        lines = ['The error was raised in code that adcompiler generated '
                 'from these lines (outermost first):']
        for filename, lineno, name, text in frames:
            lines.append(f'  File "{filename}", line {lineno}, in {name}')
            if text.strip():
                lines.append(f'    {text.strip()}')
        error.add_note('\n'.join(lines))


def is_generated(filename):
    """Return whether `filename` names a module of generated code whose
    origin `record` noted."""
    return filename in _ORIGINS


def original_file(filename):
    """Return the file of the user's source that the generated file
    `filename` was compiled from, through any generated files between."""
    while filename in _ORIGINS:
        filename = _ORIGINS[filename][0].filename
    return filename


def with_user_line_comments(text, filename, home=None):
    """Return `text`, a generated module compiled from a function in the
    generated file `filename`, with each `# line N: ...` comment naming the
    user's line that line N of `filename` came from. A line of another
    file than `home` is named `# FILE, line N: ...`.

    Several generated lines come from one user line, so a comment that
    repeats the one before it in the same function is dropped.
    """
    lines = []
    previous = None
    for line in text.splitlines(keepends=True):
        if line.startswith('def '):
            previous = None
        match = _LINE_COMMENT.match(line)
        if match:
            frame = _user_frame(filename, int(match.group(1)))
            if frame is not None:
                user_file, lineno, _, user_text = frame
                indent = line[:len(line) - len(line.lstrip())]
                where = f'line {lineno}'
                if home is not None and user_file != home:
                    where = f'{_shown_path(user_file)}, {where}'
                line = f'{indent}# {where}: {user_text.strip()}\n'
            if line.strip() == previous:
                continue
            previous = line.strip()
        lines.append(line)
    return ''.join(lines)


# Printed above the generated code of adcompiler's own functions.
OWN_CODE_HEADING = (
    "# adcompiler's own helpers follow, transformed from its source with\n"
    '# your code. They run operators and calls on values whose type is\n'
    '# known only when the code runs, such as objects with operator '
    'methods.\n\n')


def source_file(function):
    """Return the file of `function`'s source, or None for a function
    without one or one that adcompiler wrote (`<adcompiler ...>`)."""
    code = getattr(function, '__code__', None)
    if code is None or code.co_filename.startswith('<'):
        return None
    return code.co_filename


def is_adcompiler_file(filename):
    """Return whether `filename` is a module of the adcompiler package."""
    if not filename or filename.startswith('<'):
        return False
    package = os.path.dirname(os.path.abspath(__file__))
    return os.path.abspath(filename).startswith(package + os.sep)


def _shown_path(filename):
    """Return how a line comment names `filename`: relative to the
    directory above the adcompiler package for adcompiler's files, to the
    working directory for files under it, else in full."""
    if is_adcompiler_file(filename):
        package_parent = os.path.dirname(
            os.path.dirname(os.path.abspath(__file__)))
        return os.path.relpath(filename, package_parent)
    relative = os.path.relpath(filename)
    return filename if relative.startswith(os.pardir) else relative


def with_file_in_line_comments(text, filename):
    """Return `text`, a generated module, with each `# line N: ...` comment
    made `# FILE, line N: ...`, for code that comes from another file,
    `filename`, than the function the user differentiates."""
    shown_file = _shown_path(filename)
    lines = []
    for line in text.splitlines(keepends=True):
        match = _LINE_COMMENT.match(line)
        if match:
            indent = line[:len(line) - len(line.lstrip())]
            line = (f'{indent}# {shown_file}, line {match.group(1)}: '
                    f'{line[match.end():]}')
        lines.append(line)
    return ''.join(lines)


def _user_frame(filename, lineno):
    """Return (file name, line, function name, text) of the user's line
    that line `lineno` of the generated file `filename` came from, or None
    for a file that adcompiler did not generate."""
    if filename not in _ORIGINS:
        return None
    while filename in _ORIGINS:
        source, _ = _ORIGINS[filename]
        lines = linecache.getlines(filename)
        found = source.tree.lineno
        for number in range(min(lineno, len(lines)), 0, -1):
            match = _LINE_COMMENT.match(lines[number - 1])
            if match:
                found = int(match.group(1))
                break
        filename, lineno, name = source.filename, found, source.traceback_name
    text = source.lines[lineno - 1] if 0 < lineno <= len(source.lines) else ''
    return filename, lineno, name, text
