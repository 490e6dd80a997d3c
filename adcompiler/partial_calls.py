"""Calls of functools.partial objects, rewritten as calls of their function.

A call `p(x, k=v)` of `p = functools.partial(f, a, b, k0=c)` runs
`f(a, b, x, k0=c, k=v)`, a keyword of the call replacing one that the
partial binds. Normalize rewrites the call that way, so that `f` is
differentiated (or inlined) as if the user had called it:

- for a partial that is a global (or a closure variable), the bound
  values become constants of the generated code, and the function is
  read as `p.func`: `p.func(a_bound, ..., x, k0=k0_bound, ...)`. The
  generated code still reads `p`, so rebinding the global makes the
  compiled code out of date;
- for a partial made in the function and only ever called, the function
  expression and the atoms of the bound values are kept where the partial
  was made, and each call passes them.
"""

import dataclasses
import functools

import gast

from adcompiler.traversal import copy_tree as _copy
from adcompiler.traversal import walk


@dataclasses.dataclass
class LocalPartial:
    """A partial made in the function: the function expression as written
    and the atoms of its bound positional and keyword values."""

    function: gast.AST
    args: list
    keywords: list  # (name, atom) pairs


def is_partial_constructor(call, global_object):
    """Return whether `call` is `functools.partial(f, ...)` with no
    unpacked arguments, where `global_object` maps a callee expression to
    the global object it reads (or None)."""
    return (isinstance(call, gast.Call)
            and global_object(call.func) is functools.partial
            and bool(call.args)
            and not any(isinstance(a, gast.Starred) for a in call.args)
            and all(k.arg is not None for k in call.keywords))


def only_called(tree, name):
    """Return whether every read of `name` in `tree` is the callee of a
    call, so that no other code needs the partial object itself."""
    callees = {id(n.func) for n in walk(tree) if isinstance(n, gast.Call)}
    return all(id(n) in callees for n in walk(tree)
               if isinstance(n, gast.Name) and n.id == name
               and isinstance(n.ctx, gast.Load))


def global_call(call, partial, constant):
    """Return the call of the function of `partial`, the object that the
    global expression `call.func` reads, that `call` makes.

    `constant(hint, value)` returns a name for a value fixed at compile
    time.
    """
    # NOTE: a bound value changed in place later (p.keywords['k'] = v)
    # does not make the compiled code out of date; rebinding p does.
    function = gast.Attribute(value=_copy(call.func), attr='func',
                              ctx=gast.Load())
    args = [constant('arg', value) for value in partial.args]
    keywords = [(name, constant(name, value))
                for name, value in partial.keywords.items()]
    return _merged_call(function, args, keywords, call)


def local_call(call, partial):
    """Return the call of the function of the `LocalPartial` `partial`
    that `call` makes."""
    return _merged_call(_copy(partial.function),
                        [_copy(a) for a in partial.args],
                        [(name, _copy(atom))
                         for name, atom in partial.keywords], call)


def _merged_call(function, args, keywords, call):
    # A keyword that the call passes replaces the bound one, as in
    # functools.partial.__call__.
    # NOTE: a `**mapping` in the call is not checked against the bound
    # keywords, so a key in both raises TypeError (multiple values).
    passed = {k.arg for k in call.keywords}
    merged = [gast.keyword(arg=name, value=value)
              for name, value in keywords if name not in passed]
    rewritten = gast.Call(func=function, args=args + list(call.args),
                          keywords=merged + list(call.keywords))
    # The new parts point at the call, so that errors about them do.
    for node in walk(rewritten):
        if 'lineno' in node._attributes and getattr(
                node, 'lineno', None) is None:
            gast.copy_location(node, call)
    return rewritten
