"""Bound methods and functools.partial objects taken apart for the transforms.

`grad(obj.method)` and `grad(functools.partial(f, a, y=2.0))` transform
the underlying Python function (the method's function, or `f`).
`grad(obj)` of an object whose class defines `__call__` transforms the
method `obj.__call__` in the same way. The result is called with the bound values first: the object of a method, then a
partial's positional arguments. A partial's keywords go under the call's
own keywords, as calling the partial would. So the compile cache is keyed
on the underlying function, and bound values are arguments like any other.
A new object or a new partial of the same function reuses the compiled
code, and errors point at the function's own lines.

The bound values are constants: the object of a bound method (even a
dataclass or a registered container) and a partial's arguments and
keywords. A call may still replace a keyword that a partial binds, as it
may when calling the partial, but `wrt` may not name it. A `wrt` position
counts the parameters of `inspect.signature(callable_)` that are not bound
by keyword, so for a method position 0 is the first parameter after
`self`.
"""

import dataclasses
import functools
import inspect
import types

from adcompiler.errors import (InvalidArgumentError, SourceUnavailableError,
                               with_article)
from adcompiler.resolve import transformed_call


@dataclasses.dataclass(frozen=True)
class Unbound:
    """A bound method or partial taken apart: `function` called with the
    positional values `args` first and the keywords `keywords`."""

    function: object
    args: tuple
    keywords: dict
    # The parameters that the callable takes, as `inspect.signature` gives
    # them (a bound keyword stays as a keyword-only parameter).
    signature: inspect.Signature
    # The callable's name in messages, such as 'the bound method C.m'.
    description: str

    def wrt_names(self, wrt):
        """Return `wrt` (a position, a name, or a tuple or list of them)
        with each position replaced by the name of the parameter it selects
        among the parameters not bound by keyword."""
        free = [name for name in self.signature.parameters
                if name not in self.keywords]
        items = wrt if isinstance(wrt, (tuple, list)) else (wrt,)
        names = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                raise InvalidArgumentError(
                    f'wrt must be an argument position, an argument name, '
                    f'or a tuple of them; got {item!r}')
            if isinstance(item, int):
                if not -len(free) <= item < len(free):
                    raise InvalidArgumentError(
                        f'wrt={item} is out of range: {self.description} '
                        f'has {len(free)} parameters that it does not '
                        f'bind: {free}')
                item = free[item]
            elif item in self.keywords:
                raise InvalidArgumentError(
                    f'wrt={item!r} names a parameter that '
                    f'{self.description} binds to a constant keyword '
                    f'argument. Leave {item!r} out of the partial and pass '
                    'it in the call to differentiate with respect to it.')
            elif item not in free:
                raise InvalidArgumentError(
                    f'wrt={item!r} is not a parameter that '
                    f'{self.description} leaves free; those are {free}')
            names.append(item)
        return tuple(names) if isinstance(wrt, (tuple, list)) else names[0]

    def replace_function(self, function):
        """Return this `Unbound` with `function` in place of its own."""
        return dataclasses.replace(self, function=function)


def unbind(callable_):
    """Return the `Unbound` of a bound method or partial of a Python
    function, nested in any way (a partial of a method, a partial of a
    partial), or of an object whose class defines `__call__` in Python (as
    what calling it runs, see `resolve.python_call`), or None for any other
    callable.

    Raise `SourceUnavailableError` for a method or partial of something
    that is not a Python function (a NumPy function, a built-in, a
    gradient), and `InvalidArgumentError` for a partial whose arguments do
    not fit its function's parameters.
    """
    call = transformed_call(callable_)
    if isinstance(call, types.FunctionType):
        # A static method __call__ binds nothing.
        return Unbound(call, (), {}, inspect.signature(call),
                       f'the static method {call.__qualname__}')
    if call is not None:
        callable_ = call
    if not (inspect.ismethod(callable_)
            or isinstance(callable_, functools.partial)):
        return None
    args, keywords = (), {}
    target = callable_
    while True:
        if isinstance(target, functools.partial):
            args = target.args + args
            # An outer partial's keywords replace an inner one's.
            keywords = {**target.keywords, **keywords}
            target = target.func
        elif inspect.ismethod(target):
            args = (target.__self__,) + args
            target = target.__func__
        else:
            break
    if type(target) is not types.FunctionType:
        raise SourceUnavailableError(
            f'cannot differentiate {callable_!r}: it calls {target!r}, '
            f'{with_article(type(target).__name__)}, not a Python function '
            'with source code. Wrap the call in a Python function '
            '(def f(x): ...).')
    kind = 'bound method' if inspect.ismethod(callable_) else 'partial of'
    description = f'the {kind} {target.__qualname__}'
    try:
        signature = inspect.signature(callable_)
    except (TypeError, ValueError) as error:
        raise InvalidArgumentError(
            f'cannot differentiate {description}: the values it binds do '
            f'not fit the parameters of {target.__qualname__} ({error})'
        ) from None
    return Unbound(target, args, keywords, signature, description)

