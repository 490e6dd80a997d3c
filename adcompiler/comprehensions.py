"""Comprehensions and higher-order built-ins, rewritten as loops.

Part of the normalize stage. Each function here takes user syntax and
returns equivalent user syntax made of assignments, `for` loops and `if`
statements, which normalize then lowers like code the user wrote:

    [e for x in xs if c]      ->  items = []
                                  for x_1 in xs:
                                      if c: items.append(e)
    {k: v for x in xs}        ->  entries = {}; for ...: entries[k] = v
    {e for x in xs}           ->  items = set(); for ...: items.add(e)
    (e for x in xs)           ->  the list comprehension
    map(f, xs, ys)            ->  [f(a, b) for a, b in zip(xs, ys)]
    filter(f, xs)             ->  [x for x in xs if f(x)]
    functools.reduce(f, xs, s) -> acc = s; for x in xs: acc = f(acc, x)
    zip(xs, ys) as a value    ->  [(a, b) for a, b in zip(xs, ys)]

A comprehension's targets are local to it in Python 3, so they are renamed
to fresh names. The first iterable is evaluated in the enclosing scope.

`any(e for x in xs)` and `all(...)` of a generator with one `for` become
a loop that stops at the first item that decides the result, as Python
does. Elsewhere a generator expression and `map` become lists, so all of
their elements are computed before the consumer runs, not one at a time.
"""


import builtins

import gast

from adcompiler import closures, library_iterators
from adcompiler.errors import UnsupportedSyntaxError
from adcompiler.traversal import child_nodes, copy_tree, nodes_of, walk


def _name(identifier, ctx=None):
    return gast.Name(id=identifier, ctx=ctx or gast.Load(), annotation=None,
                     type_comment=None)


def _located(node, origin):
    """Copy `origin`'s location to `node` and to each child that has none."""
    for child in walk(node):
        if getattr(child, 'lineno', None) is None and hasattr(origin,
                                                              'lineno'):
            gast.copy_location(child, origin)
    return node


def _method_call(receiver, method, *args):
    func = gast.Attribute(value=_name(receiver), attr=method, ctx=gast.Load())
    return gast.Expr(value=gast.Call(func=func, args=list(args), keywords=[]))


def comprehension_loop(node, result, namer):
    """Return the statements that build `result` as comprehension `node` does.

    Also returns the renaming of the comprehension's targets, so that error
    messages and names can show what the user wrote.
    """
    node = copy_tree(node)
    targets = set()
    for generator in node.generators:
        targets.update(n.id for n in walk(generator.target)
                       if isinstance(n, gast.Name))
    renames = {name: namer.fresh(name) for name in sorted(targets)}
    first_iterable = node.generators[0].iter
    node.generators[0].iter = gast.Constant(value=None, kind=None)
    closures.rename(node, renames)
    node.generators[0].iter = first_iterable

    if isinstance(node, gast.DictComp):
        initial = gast.Dict(keys=[], values=[])
        # A dict comprehension evaluates the key before the value, and an
        # assignment `d[key] = value` evaluates them the other way round.
        key = node.key
        adds = []
        if not isinstance(key, (gast.Name, gast.Constant)):
            key_name = namer.fresh('key')
            adds.append(gast.Assign(targets=[_name(key_name, gast.Store())],
                                    value=node.key, type_comment=None))
            key = _name(key_name)
        store = gast.Subscript(value=_name(result), slice=key,
                               ctx=gast.Store())
        adds.append(gast.Assign(targets=[store], value=node.value,
                                type_comment=None))
    elif isinstance(node, gast.SetComp):
        initial = gast.Call(func=_name('set'), args=[], keywords=[])
        adds = [_method_call(result, 'add', node.elt)]
    else:
        initial = gast.List(elts=[], ctx=gast.Load())
        adds = [_method_call(result, 'append', node.elt)]

    body = adds
    for generator in reversed(node.generators):
        for condition in reversed(generator.ifs):
            body = [gast.If(test=condition, body=body, orelse=[])]
        body = [gast.For(target=generator.target, iter=generator.iter,
                         body=body, orelse=[], type_comment=None)]
    statements = [gast.Assign(targets=[_name(result, gast.Store())],
                              value=initial, type_comment=None)] + body
    return [_located(s, node) for s in statements], renames


def short_circuit_loop(node, result, stop, namer):
    """Return the statements that set `result` as any(node) (`stop` True)
    or all(node) (`stop` False) does, for a generator expression `node`
    with one `for`.

    The loop stops at the first item that decides the result, so the items
    after it are not computed. Also returns the renaming of the
    generator's targets.
    """
    node = copy_tree(node)
    generator, = node.generators
    renames = {n.id: namer.fresh(n.id) for n in walk(generator.target)
               if isinstance(n, gast.Name)}
    iterable = generator.iter
    generator.iter = gast.Constant(value=None, kind=None)
    closures.rename(node, renames)
    test = node.elt if stop else gast.UnaryOp(op=gast.Not(), operand=node.elt)
    body = [gast.If(test=test, body=[
        gast.Assign(targets=[_name(result, gast.Store())],
                    value=gast.Constant(value=stop, kind=None),
                    type_comment=None),
        gast.Break()], orelse=[])]
    for condition in reversed(generator.ifs):
        body = [gast.If(test=condition, body=body, orelse=[])]
    statements = [
        gast.Assign(targets=[_name(result, gast.Store())],
                    value=gast.Constant(value=not stop, kind=None),
                    type_comment=None),
        gast.For(target=generator.target, iter=iterable, body=body,
                 orelse=[], type_comment=None)]
    return [_located(s, node) for s in statements], renames


# Built-ins that return an iterator computing its items on request.
LAZY_BUILTINS = (map, filter, zip, enumerate, reversed, iter)
# Built-ins that run through an iterator once, whole or up to the item that
# decides their result (any, all).
CONSUMING_BUILTINS = (sum, list, tuple, sorted, min, max, set, frozenset,
                      dict, any, all) + LAZY_BUILTINS


def check_lazy_iterators(tree, source, index=None):
    """Raise UnsupportedSyntaxError for an iterator kept in a variable
    that is not read as adcompiler can compute it.

    The iterator is a generator expression, a call of map, filter, zip,
    enumerate, reversed or iter, or one that library_iterators rewrites. Accepted is one later read by a `for` loop
    or a call that consumes it, with no name it reads assigned in between
    and no loop around the read alone.

    Normalize computes such an iterator's items when it is made, as a
    list. Python computes each one when the consumer reads it, so the two
    agree only in that pattern. Elsewhere `list(...)` makes the user's code
    mean what adcompiler runs. `index` is a `NodeIndex` of `tree`, or None.
    """
    namespace = source.namespace

    def builtin(node):
        if isinstance(node, gast.Name):
            return namespace.get(node.id, getattr(builtins, node.id, None))
        if isinstance(node, gast.Attribute):
            # A dotted global such as itertools.chain.
            owner = builtin(node.value)
            return None if owner is None else getattr(owner, node.attr, None)
        return None

    def is_lazy(value):
        if isinstance(value, gast.GeneratorExp):
            return True
        if not isinstance(value, gast.Call):
            return False
        callee = builtin(value.func)
        return any(callee is f for f in LAZY_BUILTINS) \
            or library_iterators.is_rewritten(callee)

    assignments = [node for node in nodes_of(tree, gast.Assign, index)
                   if len(node.targets) == 1
                   and isinstance(node.targets[0], gast.Name)
                   and is_lazy(node.value)]
    if not assignments:
        return
    parents = {}
    loads, stores = {}, {}
    for node in walk(tree):
        for child in child_nodes(node):
            parents[child] = node
        if isinstance(node, gast.Name):
            found = loads if isinstance(node.ctx, gast.Load) else stores
            found.setdefault(node.id, []).append(node)
    for assignment in assignments:
        name = assignment.targets[0].id
        uses = loads.get(name, [])
        if _read_only_by_next(assignment, uses, parents, builtin):
            continue
        problem = None
        if len(stores.get(name, [])) != 1 or len(uses) != 1:
            problem = f'{name!r} is assigned or read more than once'
        else:
            use, = uses
            problem = _lazy_use_problem(assignment, use, parents, stores,
                                        builtin)
        if problem is not None:
            raise UnsupportedSyntaxError(
                f'an iterator kept in the variable {name!r}',
                source.location(assignment),
                f'adcompiler computes all of its items here, where Python '
                f'computes each when it is read, and {problem}',
                fixes=[f'make it a list where it is made: {name} = '
                       f'list(...)',
                       'pass the generator straight to the call that '
                       'reads it'])


def _read_only_by_next(assignment, uses, parents, builtin):
    """True for `it = iter(items)` whose every read is `next(it)` or
    `next(it, default)`.

    Normalize keeps such an iterator as Python makes it, so it runs as
    written where no item carries a derivative. On items that carry one,
    `iter` and `next` are foreign calls, which the reverse and forward
    stages reject.
    """
    value = assignment.value
    if not (isinstance(value, gast.Call) and builtin(value.func) is iter
            and uses):
        return False
    for use in uses:
        call = parents.get(use)
        if not (isinstance(call, gast.Call) and builtin(call.func) is next
                and call.args[:1] == [use] and len(call.args) <= 2
                and not call.keywords):
            return False
    return True


def _position(node, end=False):
    if end:
        return (node.end_lineno or node.lineno,
                node.end_col_offset or node.col_offset)
    return (node.lineno, node.col_offset)


def _changed_in_place(node, builtin):
    """Return the names that `node` may change in place: `v` of
    `v.append(...)`, `v[i] = ...`, `np.copyto(v, ...)`.

    NOTE: a change through another name for the same list (`w = v;
    w.append(...)`) is not seen.
    """
    if isinstance(node, (gast.Subscript, gast.Attribute)) and isinstance(
            node.ctx, (gast.Store, gast.Del)):
        base = node.value
        while isinstance(base, (gast.Subscript, gast.Attribute)):
            base = base.value
        return {base.id} if isinstance(base, gast.Name) else set()
    if not isinstance(node, gast.Call):
        return set()
    names = set()
    if isinstance(node.func, gast.Attribute) and isinstance(
            node.func.value, gast.Name):
        names.add(node.func.value.id)
    if not any(builtin(node.func) is f
               for f in CONSUMING_BUILTINS + (len, print)):
        names.update(a.id for a in node.args if isinstance(a, gast.Name))
        names.update(k.value.id for k in node.keywords
                     if isinstance(k.value, gast.Name))
    return names


def _lazy_use_problem(assignment, use, parents, stores, builtin):
    """Return why `use`, the one read of the iterator that `assignment`
    makes, may see other items than the list adcompiler computes, or None."""
    if _position(use) <= _position(assignment, end=True):
        return 'it is read before it is made'
    parent = parents.get(use)
    consumed = (
        isinstance(parent, (gast.For, gast.comprehension))
        and parent.iter is use) or (
        isinstance(parent, gast.Starred)) or (
        isinstance(parent, gast.Call) and parent.args[:1] == [use]
        and (any(builtin(parent.func) is f for f in CONSUMING_BUILTINS)
             or (isinstance(parent.func, gast.Attribute)
                 and parent.func.attr == 'join')))
    if not consumed:
        return 'the code that reads it may not read it whole, at once'

    names = {n.id for n in walk(assignment.value)
             if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}
    for read in sorted(names):
        for store in stores.get(read, []):
            if _position(assignment, end=True) < _position(store) \
                    < _position(use):
                return f'{read!r} is assigned before it is read'
    for node in parents:
        if getattr(node, 'lineno', None) is None or not (
                _position(assignment, end=True) < _position(node)
                < _position(use)):
            continue
        changed = sorted(_changed_in_place(node, builtin) & names)
        if changed:
            return f'{changed[0]!r} may change before it is read'
    if isinstance(parent, gast.comprehension) and \
            parents[parent].generators[0] is not parent:
        return 'a loop reads it more than once'
    # The loop that reads it evaluates it once; a loop around both the
    # assignment and the read makes a new iterator each time.
    ancestor = parent if not isinstance(parent, gast.For) else parents.get(
        parent)
    while ancestor is not None:
        if isinstance(ancestor, (gast.For, gast.While)) and not any(
                node is assignment for node in walk(ancestor)):
            return 'a loop reads it more than once'
        ancestor = parents.get(ancestor)
    return None


def map_as_comprehension(function, iterables, origin, items):
    """Return `[function(a, ...) for a, ... in zip(*iterables)]`.

    `function` is a name node, so it is evaluated once, before the loop.
    `items` are the target names, which `comprehension_loop` makes fresh.
    """
    call = gast.Call(func=function, args=[_name(i) for i in items],
                     keywords=[])
    return _located(gast.ListComp(
        elt=call, generators=[_generator(items, iterables, [])]), origin)


def filter_as_comprehension(function, iterable, origin, item):
    """Return `[item for item in iterable if function(item)]`."""
    if function is None:
        test = _name(item)
    else:
        test = gast.Call(func=function, args=[_name(item)], keywords=[])
    return _located(gast.ListComp(
        elt=_name(item), generators=[_generator([item], [iterable], [test])]),
        origin)


def items_as_comprehension(call, count):
    """Return `[(a, b) for a, b in call]` for a call whose items have
    `count` values (zip of two), or `[item for item in call]` for one."""
    names = ['item'] if count == 1 else [
        f'item{position}' for position in range(count)]
    if count == 1:
        element = _name(names[0])
    else:
        element = gast.Tuple(elts=[_name(n) for n in names],
                             ctx=gast.Load())
    return _located(gast.ListComp(elt=element, generators=[
        _generator(names, [call], [], zipped=False)]), call)


def _generator(items, iterables, conditions, zipped=True):
    """Return `for items in iterable`, over zip(*iterables) when there are
    several `items` and `zipped` is True."""
    if len(items) == 1:
        target = _name(items[0], gast.Store())
        iterable = iterables[0]
    else:
        target = gast.Tuple(elts=[_name(i, gast.Store()) for i in items],
                            ctx=gast.Store())
        iterable = gast.Call(func=_name('zip'), args=list(iterables),
                             keywords=[]) if zipped else iterables[0]
    return gast.comprehension(target=target, iter=iterable, ifs=conditions,
                              is_async=0)


def reduce_loop(function, iterable, initial, result, origin, namer):
    """Return the statements of `result = functools.reduce(...)`.

    Without an initial value the first item starts the accumulation.
    NOTE: reducing an empty sequence without an initial value leaves
    `result` unbound, so the error is a NameError, not Python's TypeError.
    """
    item = namer.fresh('item')
    step = gast.Assign(
        targets=[_name(result, gast.Store())],
        value=gast.Call(func=function, args=[_name(result), _name(item)],
                        keywords=[]), type_comment=None)
    if initial is not None:
        start = gast.Assign(targets=[_name(result, gast.Store())],
                            value=initial, type_comment=None)
        loop = gast.For(target=_name(item, gast.Store()), iter=iterable,
                        body=[step], orelse=[], type_comment=None)
        return [_located(start, origin), _located(loop, origin)]
    position = namer.fresh('position')
    first = gast.Compare(left=_name(position), ops=[gast.Eq()],
                         comparators=[gast.Constant(value=0, kind=None)])
    take_first = gast.Assign(targets=[_name(result, gast.Store())],
                             value=_name(item), type_comment=None)
    branch = gast.If(test=first, body=[take_first], orelse=[step])
    target = gast.Tuple(elts=[_name(position, gast.Store()),
                              _name(item, gast.Store())], ctx=gast.Store())
    loop = gast.For(target=target,
                    iter=gast.Call(func=_name('enumerate'), args=[iterable],
                                   keywords=[]),
                    body=[branch], orelse=[], type_comment=None)
    return [_located(loop, origin)]


def set_comprehension_error(location):
    """Return the error for a set comprehension whose elements carry a
    derivative: the reverse and forward stages raise it at its `.add()`."""
    return UnsupportedSyntaxError(
        'a set comprehension whose elements carry a derivative', location,
        'a set drops elements equal to one it has and orders the rest by '
        'their hashes, so adcompiler cannot tell which input each element '
        'came from',
        fixes=['build a list instead: [e for ...] in place of {e for ...}',
               'or, if the set only counts or tests values, build it from '
               'values that carry no derivative'])
