"""Errors raised by adcompiler, and the one formatter that renders them.

Every user-facing error derives from `AdCompilerError`. Errors about a place in
the user's code carry a `SourceLocation`; `format_diagnostic` renders the
location, the source line with a caret under the offending column, any extra
details and the ways out, so that all messages share one layout.
"""

import dataclasses
import os
import re
import sysconfig


@dataclasses.dataclass(frozen=True)
class SourceLocation:
    """A position in the user's source: file, 1-based line, 0-based column."""

    filename: str
    lineno: int
    col_offset: int
    source_line: str
    function_name: str = ''

    def render(self):
        """Render 'File "f.py", line 3, in loss' followed by the line and a caret."""
        where = f'File "{self.filename}", line {self.lineno}'
        if self.function_name:
            where += f', in {self.function_name}'
        text = self.source_line.rstrip('\n')
        if not text.strip():
            return where
        stripped = text.lstrip()
        caret_column = max(self.col_offset - (len(text) - len(stripped)), 0)
        return f'{where}\n    {stripped}\n    {" " * caret_column}^'


def format_diagnostic(summary, location=None, details=(), fixes=()):
    """Render an error message: summary, location with caret, details, fixes."""
    parts = [summary]
    if location is not None:
        parts.append(location.render())
    parts.extend(details)
    if len(fixes) == 1:
        parts.append(f'To fix this, {fixes[0]}')
    elif fixes:
        parts.append('To fix this, either:')
        parts.extend(f'  {number}. {fix}' for number, fix in enumerate(fixes, 1))
    return '\n'.join(parts)


def with_article(noun):
    """Return `noun` after 'a' or 'an', by its first letter: 'an Opaque',
    'a Params'."""
    # 'an ndarray': the name is read letter by letter.
    article = 'an' if noun and (noun[:1].lower() in 'aeiou'
                                or noun.startswith('nd')) else 'a'
    return f'{article} {noun}'


class ChainName(str):
    """An entry of a call chain: the name shown, with the module and the
    qualified name of the function it names."""

    def __new__(cls, text, module=None, qualname=None):
        entry = super().__new__(cls, text)
        entry.module = module
        entry.qualname = qualname
        return entry

    def __getnewargs__(self):
        # copy and pickle rebuild the entry from these.
        return str(self), self.module, self.qualname


def chain_start(function):
    """Return the call chain of a function that the user differentiates."""
    return (ChainName(function.__qualname__,
                      getattr(function, '__module__', None),
                      function.__qualname__),)


def _is_internal(module):
    return module == 'adcompiler' or module.startswith('adcompiler.')


def call_chain_detail(call_chain):
    """Render the names of the user functions that led to an error,
    outermost first, as a detail line.

    adcompiler's own functions, such as the operator helpers between a
    user's `a * b` and `type(a).__mul__`, are left out. A function is named
    by its qualified name when it comes from the module of the function
    shown before it.
    """
    names = []
    previous = None
    for entry in call_chain:
        module = getattr(entry, 'module', None)
        if module is not None and _is_internal(module):
            continue
        if module is not None and module == previous:
            names.append(entry.qualname)
        else:
            names.append(str(entry))
        previous = module
    return 'Call chain (outermost first): ' + ' -> '.join(names)


def with_call_chain(error, call_chain):
    """Return `error`, raised while compiling a function that the user's
    code reached through the calls in `call_chain`, with the chain as a
    detail. An error of the outermost function, and one that shows a
    chain already, is returned unchanged."""
    if (not isinstance(error, LocatedError) or len(call_chain or ()) < 2
            or any(detail.startswith('Call chain')
                   for detail in error.details)):
        return error
    # copy.copy would call the class with the message as its only argument.
    chained = type(error).__new__(type(error))
    chained.__dict__.update(error.__dict__)
    chained.details = error.details + (call_chain_detail(call_chain),)
    chained.args = (format_diagnostic(chained.summary, chained.location,
                                      chained.details, chained.fixes),)
    return chained


# The ways out of an error in a statement of a library, which the user does
# not edit. A ForeignCallError keeps its own, which name the callee.
LIBRARY_FIXES = (
    'compute the value without the library function that contains this '
    'statement, with operations that adcompiler differentiates',
    'or register a gradient rule for the library function that your code '
    'calls, with @adcompiler.register_vjp (and @adcompiler.register_jvp for '
    'forward mode)')


def is_library_file(filename):
    """Return whether `filename` is a file of the standard library or of an
    installed package (under site-packages or dist-packages), which the
    user does not edit."""
    parts = filename.replace('\\', '/').split('/')
    if 'site-packages' in parts or 'dist-packages' in parts:
        return True
    standard_library = sysconfig.get_paths()['stdlib']
    return os.path.abspath(filename).startswith(
        os.path.join(standard_library, ''))


class AdCompilerError(Exception):
    """Base class of every error raised by adcompiler."""


class LocatedError(AdCompilerError):
    """An error about one place in the user's source code."""

    def __init__(self, summary, location=None, details=(), fixes=()):
        self.summary = summary
        self.location = location
        self.details = tuple(details)
        if (fixes and location is not None
                and not isinstance(self, ForeignCallError)
                and is_library_file(location.filename)):
            # The fixes would edit a statement of the library.
            fixes = LIBRARY_FIXES
        self.fixes = tuple(fixes)
        super().__init__(format_diagnostic(summary, location, details, fixes))

    @property
    def filename(self):
        return self.location.filename if self.location else None

    @property
    def lineno(self):
        return self.location.lineno if self.location else None

    @property
    def source_line(self):
        return self.location.source_line if self.location else None


class UnsupportedSyntaxError(LocatedError):
    """A construct that adcompiler cannot differentiate (yet)."""

    def __init__(self, construct, location, reason='', fixes=()):
        self.construct = construct
        self.reason = reason
        summary = f'{construct} is not supported by adcompiler'
        if reason:
            summary += f': {reason}'
        super().__init__(summary, location, fixes=fixes)


class UndefinedNameError(LocatedError):
    """A call of a name that is not defined when the function is compiled
    (raised when the call runs if it sits in a branch)."""

    def __init__(self, name, location):
        self.name = name
        super().__init__(f'name {name!r} is not defined', location)


class SourceUnavailableError(AdCompilerError):
    """The Python source of a function to transform cannot be found."""


class StaleSourceError(SourceUnavailableError):
    """The source file of a function was edited after the function was
    defined, so its text is not the code that runs."""


# The reason adcompiler.resolve.foreign_reason gives for a class.
CLASS_REASON = 'class (calling it constructs an object)'
# Built-in classes that normalize lowers to loops when their arguments are
# written out, so a ForeignCallError about them comes from unpacked
# arguments.
_LOWERED_ITERATORS = frozenset(f'builtins.{name}' for name in (
    'zip', 'map', 'filter', 'enumerate', 'reversed'))

# The arguments a rule receives, for the fixes of ForeignCallError.
_RULE_ARGUMENTS = ("# args and kwargs are the call's; a method's object "
                   'comes first')


# Methods of built-in containers that store their argument in the
# container, such as a loss history kept in a global list.
_CONTAINER_STORES = frozenset({
    'list.append', 'list.extend', 'list.insert', 'set.add', 'set.update',
    'dict.update', 'dict.setdefault', 'collections.deque.append',
    'collections.deque.appendleft', 'collections.deque.extend',
    'collections.deque.extendleft'})


class ForeignCallError(LocatedError):
    """A call that carries a derivative into a function with no source and no rule.

    Attributes:
        callee_name: qualified name of the function called.
        reason: why the callee is foreign, e.g. 'built-in function, no Python source'.
        active_argument: the argument expression that carries the derivative.
        wrt_input: the differentiated input that argument depends on.
        call_chain: names of the user functions that led to the call, outermost first.
    """

    def __init__(self, callee_name, reason, location, active_argument,
                 wrt_input, call_chain, written_name=None,
                 updates_argument=False, forward=False):
        """Keep the parts of the diagnostic.

        `written_name` is the callee as the user's code spells it
        (np.add.at), for the fixes. `updates_argument` is true for a call
        whose result is discarded because it updates an argument in place.
        `forward` is true in forward mode, whose fix is a forward rule.
        """
        self.callee_name = callee_name
        self.written_name = written_name
        self.forward = forward
        self.reason = reason
        self.active_argument = active_argument
        self.wrt_input = wrt_input
        self.call_chain = list(call_chain)
        kind = 'forward' if forward else 'gradient'
        summary = (f'cannot differentiate through {callee_name}: it is a '
                   f'{reason}, and no {kind} rule is registered for it')
        if len(self.call_chain) > 1:
            # Compiled as a callee: its origins are its own parameters.
            source = (f'{wrt_input!r}, a parameter of the last function '
                      f'in the call chain below')
        else:
            source = f'the input {wrt_input!r}'
        details = [
            f'The argument {active_argument!r} carries a derivative: it depends '
            f'on {source}.',
            call_chain_detail(self.call_chain),
        ]
        name = written_name or callee_name
        marking = marking_fix(name)
        if callee_name in _LOWERED_ITERATORS:
            short = callee_name.rsplit('.', 1)[-1]
            fixes = [
                f'pass the sequences one by one ({short}(pairs[0], '
                f'pairs[1])) in place of unpacking them ({short}(*pairs)): '
                f'adcompiler turns a call of {short} whose arguments are '
                'written out into a loop',
                'or build the result with a comprehension over indices',
            ]
        elif callee_name.startswith('itertools.'):
            fixes = [
                'build the items as a list with a comprehension over '
                'indices, such as [(xs[i], xs[i + 1]) for i in '
                'range(len(xs) - 1)]: a gradient rule for '
                f'{name} would receive the iterator, not its items',
                'itertools.chain, combinations, '
                'combinations_with_replacement, permutations, product, '
                'pairwise, islice and accumulate become such lists when '
                'their arguments are written out (no *args) and the '
                'iterables are finite',
            ]
        elif callee_name == 'functools.partial':
            # Marking functools.partial non-differentiable would drop the
            # derivative of every bound argument in the whole program.
            fixes = [
                'write a lambda that calls the function with the bound '
                'arguments, such as `lambda r: f(r, delta=delta)` in place '
                'of `functools.partial(f, delta=delta)`: adcompiler follows '
                'the derivatives of the values that a lambda reads',
                'or call the partial only in the function that builds it',
            ]
        elif reason == CLASS_REASON:
            fixes = [
                f'make {name} a dataclass: adcompiler follows the '
                'derivatives of its fields through the constructor',
                f'or build the {name} object outside the function and pass '
                'it in (as a dataclass, or registered with '
                'adcompiler.register_container), differentiating with '
                'respect to it',
            ]
        elif updates_argument and callee_name in _CONTAINER_STORES:
            fixes = [
                'store the value without its derivative if you keep it '
                f'only to log or inspect it: {name}(adcompiler.stop_gradient('
                f'{active_argument}))',
                marking,
            ]
        elif updates_argument:
            fixes = [
                f'compute the values as a new array with operations that '
                f'adcompiler differentiates: {name} updates an argument in '
                'place, which a gradient rule of its own cannot follow',
                marking,
            ]
        else:
            fixes = [rule_fix(name, written_name or callee_name, forward),
                     marking]
        super().__init__(summary, location, details, fixes)


def rule_fix(name, qualified_name, forward):
    """Return the fix that registers a gradient rule (or, with `forward`,
    a forward rule) for the function the user's code calls as `name`."""
    short_name = re.sub(r'\W+', '_', qualified_name.rsplit('.', 1)[-1])
    short_name = short_name.strip('_') or 'callee'
    if forward:
        return ('register a forward rule:\n'
                f'       @adcompiler.register_jvp({name})\n'
                f'       def {short_name}_jvp(tangents, ans, *args, '
                '**kwargs):\n'
                f'           {_RULE_ARGUMENTS}\n'
                '           return ...  # the tangent of ans, from one tangent '
                'per positional argument (None where constant)')
    return ('register a gradient rule:\n'
            f'       @adcompiler.register_vjp({name})\n'
            f'       def {short_name}_vjp(g, ans, *args, **kwargs):\n'
            f'           {_RULE_ARGUMENTS}\n'
            '           return (...,)  # one cotangent per positional '
            'argument')


def marking_fix(name):
    """Return the fix that marks the function called as `name`
    non-differentiable, with its risk."""
    return ('or, only if its result carries none of the derivative you want '
            '(a count, an index, a flag), mark it non-differentiable. Its '
            'derivative is then zero, so this silently drops any derivative '
            f'that flows through it:\n       adcompiler.non_differentiable('
            f'{name})')


class GlobalRebindError(LocatedError):
    """A global or closure variable that the generated code reads was
    rebound while it ran. The generated code reads such variables as they
    were when it was compiled, so it would have used the old value."""

    def __init__(self, name, function_name, location, summary):
        self.name = name  # None when the check does not know which one
        self.function_name = function_name
        variable = name or 'the variable'
        super().__init__(summary, location, fixes=(
            f'pass {variable} to {function_name} as an argument',
            f'rebind {variable} before or after the differentiated call'))


class UnsupportedOptionError(AdCompilerError, NotImplementedError):
    """An option of a differentiated call, or a kind of argument, that its
    rule does not differentiate (np.pad with mode='mean', np.linalg.svd of
    a complex matrix). It is raised when the derivative is computed."""


class InvalidArgumentError(AdCompilerError, ValueError):
    """An argument of an adcompiler transform is invalid."""


class ChangedStateError(InvalidArgumentError):
    """A function returned another value when a transform ran it again on
    the same arguments, because it reads state that its earlier run
    changed and that adcompiler does not restore."""


class NonScalarOutputError(AdCompilerError):
    """grad or value_and_grad was applied to a function whose output is not
    a real scalar: an array, None, another object, or a complex number."""


class InternalCompilerError(AdCompilerError):
    """A bug in adcompiler itself, not in the user's code."""

    def __init__(self, function_name, stage, cause):
        self.function_name = function_name
        self.stage = stage
        super().__init__(
            f'internal error in adcompiler while compiling {function_name!r} '
            f'(stage: {stage}): {type(cause).__name__}: {cause}. This is a bug '
            'in adcompiler, not in your code; please report it with the function '
            'that triggers it.')
