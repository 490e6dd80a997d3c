"""Compute a repeated pure call of straight-line adjoint code once.

Rules write their templates independently, so the adjoint of
`np.abs(x) + np.log1p(np.exp(-np.abs(x)))` calls `ad.abs_sign(x)` twice,
once for each `np.abs(x)`. This pass finds calls that appear more than once
among the top-level statements of an adjoint, assigns the first to a name
(`abs_sign_x`) right after the last assignment to its arguments, and reads
that name in every occurrence.

Only calls of elementwise functions known to be pure (the NumPy functions
in `_PURE_NUMPY` and `ad.abs_sign`) are shared, when their arguments are
all names or constants. An occurrence after a statement that assigns one
of those names is not shared. A call inside a part of an
expression that may not run (`a if c else b`, `and`, `or`, a lambda) is
left alone.
"""

import gast

from adcompiler.traversal import child_nodes, name_nodes

_PURE_NUMPY = frozenset((
    'sin', 'cos', 'tan', 'sinh', 'cosh', 'tanh', 'exp', 'expm1', 'log',
    'log1p', 'sqrt', 'square', 'sign', 'abs', 'absolute', 'real', 'imag',
    'conj', 'conjugate', 'reciprocal',
))
_PURE_RUNTIME = frozenset(('abs_sign',))
_CONDITIONAL = (gast.IfExp, gast.BoolOp, gast.Lambda, gast.ListComp,
                gast.SetComp, gast.DictComp, gast.GeneratorExp)


def share_repeated_calls(function, numpy_alias, runtime_alias,
                         all_calls=None):
    """Rewrite `function` in place; see the module docstring. Returns
    whether anything changed.

    `all_calls`, if given, contains every call in `function` (and perhaps
    calls no longer in it). When no call among them repeats, nothing is
    shared, and the statements are not walked.
    """
    if all_calls is not None and not _any_repeated(all_calls, numpy_alias,
                                                   runtime_alias):
        return False
    taken = None  # every name in the function, once a call is shared
    occurrences = {}  # key -> [(statement position, call node)]
    for position, statement in enumerate(function.body):
        if not isinstance(statement, (gast.Assign, gast.Return, gast.Expr)):
            continue
        for call in _unconditional_calls(statement):
            key = call_key(call, numpy_alias, runtime_alias)
            if key is not None:
                occurrences.setdefault(key, []).append((position, call))

    definitions = {}  # statement position -> assignments to insert
    for key, found in occurrences.items():
        found = _before_reassignment(function.body, found)
        if len(found) < 2:
            continue
        if taken is None:
            taken = {node.id for node in name_nodes(function)}
        name = _fresh_name(found[0][1], taken)
        first_position, first_call = found[0]
        position = _earliest_position(function.body, first_call,
                                      first_position)
        definitions.setdefault(position, []).append(gast.Assign(
            targets=[_name(name, gast.Store())], value=first_call,
            type_comment=None))
        replaced = {id(call) for _, call in found}
        for position in {position for position, _ in found}:
            function.body[position] = _replace(function.body[position],
                                               replaced, name)
    if not definitions:
        return False
    body = []
    for position, statement in enumerate(function.body):
        body += definitions.get(position, [])
        body.append(statement)
    function.body = body
    return True


def _any_repeated(calls, numpy_alias, runtime_alias):
    """Return whether two of `calls` have the same `call_key`."""
    keys = set()
    for call in calls:
        key = call_key(call, numpy_alias, runtime_alias)
        if key is None:
            continue
        if key in keys:
            return True
        keys.add(key)
    return False


def _unconditional_calls(node, calls=None):
    """Return the calls in `node` that run whenever `node` runs, in the
    order of a depth-first walk (appended to `calls` if given)."""
    if calls is None:
        calls = []
    for child in child_nodes(node):
        if isinstance(child, _WITHOUT_CALLS) or isinstance(child,
                                                           _CONDITIONAL):
            continue
        if isinstance(child, gast.Call):
            calls.append(child)
        _unconditional_calls(child, calls)
    return calls


# Nodes with no call below them in a statement. A name's only child
# besides its context is the annotation of a parameter.
_WITHOUT_CALLS = (gast.Name, gast.Constant, gast.expr_context,
                  gast.operator, gast.unaryop, gast.cmpop, gast.boolop)


def call_key(call, numpy_alias, runtime_alias):
    """Return a hashable description of a shareable call, or None."""
    func = call.func
    if call.keywords or not call.args or not (
            isinstance(func, gast.Attribute)
            and isinstance(func.value, gast.Name)):
        return None
    module = func.value.id
    if not ((module == numpy_alias and func.attr in _PURE_NUMPY)
            or (module == runtime_alias and func.attr in _PURE_RUNTIME)):
        return None
    arguments = []
    for argument in call.args:
        if isinstance(argument, gast.Name):
            arguments.append(('name', argument.id))
        elif isinstance(argument, gast.Constant) and isinstance(
                argument.value, (int, float, complex, str)):
            arguments.append(('constant', type(argument.value),
                              argument.value))
        else:
            return None
    return (module, func.attr, tuple(arguments))


def _before_reassignment(body, found):
    """Return the occurrences up to the first statement that follows an
    assignment to one of the call's argument names."""
    names = {a.id for a in found[0][1].args if isinstance(a, gast.Name)}
    kept = []
    # No statement from the first occurrence to just before body[checked]
    # assigns one of `names`.
    checked = found[0][0]
    for position, call in found:
        # The positions ascend, so each statement is walked once.
        while checked < position:
            if any(isinstance(node.ctx, gast.Store) and node.id in names
                   for node in name_nodes(body[checked])):
                return kept
            checked += 1
        kept.append((position, call))
    return kept


def _earliest_position(body, call, first_position):
    """Return the position of the first statement before which `call` may
    run: the one after the last assignment to its argument names.

    Defining the shared value there, and not right before its first use,
    keeps it out of the runs of temporaries that optimize writes into the
    expressions reading them.
    """
    names = {a.id for a in call.args if isinstance(a, gast.Name)}
    for position in range(first_position - 1, -1, -1):
        statement = body[position]
        stores = {node.id for node in name_nodes(statement)
                  if isinstance(node.ctx, gast.Store)}
        if stores & names or not isinstance(statement, (gast.Assign,
                                                        gast.Expr)):
            return position + 1
    return 0


def _fresh_name(call, taken):
    """Return a name for the shared value of `call`: the function's name,
    then its first argument's (`abs_sign_x`), unique among `taken`."""
    name = call.func.attr
    if isinstance(call.args[0], gast.Name):
        name = f'{name}_{call.args[0].id}'
    while name in taken:
        name += '_'
    taken.add(name)
    return name


def _replace(node, replaced, name):
    """Return `node` with the calls whose id is in `replaced` read as
    `name`."""
    if id(node) in replaced:
        return _name(name)
    for field, value in gast.iter_fields(node):
        if isinstance(value, list):
            setattr(node, field, [_replace(v, replaced, name)
                                  if isinstance(v, gast.AST) else v
                                  for v in value])
        elif isinstance(value, gast.AST):
            setattr(node, field, _replace(value, replaced, name))
    return node


def _name(identifier, ctx=None):
    return gast.Name(id=identifier, ctx=ctx or gast.Load(), annotation=None,
                     type_comment=None)
