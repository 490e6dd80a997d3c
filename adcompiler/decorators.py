"""Decorated functions: differentiate the function a wrapper forwards to.

A decorator written with `functools.wraps` returns a wrapper whose
`__wrapped__` is the original function. When the wrapper only forwards its
arguments unchanged to that function and returns its result unchanged, its
derivative is the original function's, so the compiler transforms the
original (`unwrap_forwarding`). Code around the forwarding call (logging,
timing, counting) then does not run in generated code. A wrapper that does
anything else with the arguments or the result is transformed as it is.
"""

import functools

import gast

from adcompiler import parse
from adcompiler.errors import AdCompilerError
from adcompiler.traversal import walk


@functools.lru_cache(maxsize=256)
def unwrap_forwarding(function):
    """Return the function that `function` only forwards to, or `function`.

    Follows chains of forwarding wrappers; see the module docstring.
    """
    seen = set()
    while getattr(function, '__wrapped__', None) is not None and \
            id(function) not in seen:
        seen.add(id(function))
        inner = function.__wrapped__
        try:
            tree = parse.get_source(function).tree
        except AdCompilerError:  # No source: transform the wrapper as it is.
            return function
        if not _forwards(tree, _names_bound_to(function, inner)):
            return function
        function = inner
    return function


def _names_bound_to(function, inner):
    """Names under which `function`'s body can read `inner`."""
    names = set()
    code = getattr(function, '__code__', None)
    if code is not None and function.__closure__:
        for name, cell in zip(code.co_freevars, function.__closure__,
                              strict=True):
            try:
                if cell.cell_contents is inner:
                    names.add(name)
            except ValueError:  # An empty cell.
                continue
    for name, value in getattr(function, '__globals__', {}).items():
        if value is inner:
            names.add(name)
    return names


def _forwards(tree, callee_names):
    """Return True when the body of wrapper `tree` returns
    `callee(*its arguments)` and does not use the arguments or the result
    in any other statement."""
    args = tree.args
    if args.posonlyargs or args.kwonlyargs or not callee_names:
        return False
    params = [a.id for a in args.args]
    vararg = args.vararg.id if args.vararg else None
    kwarg = args.kwarg.id if args.kwarg else None
    body = tree.body
    if not body or not isinstance(body[-1], gast.Return) or \
            body[-1].value is None:
        return False

    # Either `return f(*args, **kwargs)`, or `result = f(*args, **kwargs)`
    # somewhere before `return result`.
    returned = body[-1].value
    result = None
    forwarding = body[-1]
    if isinstance(returned, gast.Name):
        result = returned.id
        calls = [s for s in body[:-1] if isinstance(s, gast.Assign)
                 and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name)
                 and s.targets[0].id == result]
        if len(calls) != 1:
            return False
        forwarding = calls[0]
        returned = forwarding.value
    if not _is_forwarding_call(returned, callee_names, params, vararg, kwarg):
        return False

    # Other statements (logging, timing, counting) must not see the
    # arguments or the result: a call given one could change it in place.
    protected = (set(params) | {vararg, kwarg, result}) - {None}
    return all(_leaves_alone(statement, protected)
               for statement in body[:-1] if statement is not forwarding)


def _is_forwarding_call(node, callee_names, params, vararg, kwarg):
    if not (isinstance(node, gast.Call) and isinstance(node.func, gast.Name)
            and node.func.id in callee_names):
        return False
    expected = [('name', p) for p in params]
    if vararg:
        expected.append(('starred', vararg))
    found = []
    for arg in node.args:
        if isinstance(arg, gast.Name):
            found.append(('name', arg.id))
        elif isinstance(arg, gast.Starred) and isinstance(arg.value,
                                                          gast.Name):
            found.append(('starred', arg.value.id))
        else:
            return False
    keywords = [(k.arg, k.value.id if isinstance(k.value, gast.Name) else None)
                for k in node.keywords]
    return found == expected and keywords == ([(None, kwarg)] if kwarg else [])


def _leaves_alone(statement, protected):
    """Return True if `statement` does not use a protected name (the
    arguments and the result) and cannot return or rebind names outside it."""
    for node in walk(statement):
        if isinstance(node, (gast.Return, gast.Yield, gast.YieldFrom,
                             gast.Global, gast.Nonlocal, gast.FunctionDef,
                             gast.Lambda, gast.ClassDef)):
            return False
        if isinstance(node, gast.Name) and node.id in protected:
            return False
    return True
