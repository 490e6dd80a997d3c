"""itertools iterators, np.ndenumerate and zip(*rows), rewritten as lists.

Part of the normalize stage, beside comprehensions. These iterators hand
out items of the iterables they are given, so each becomes a list built
from indexed reads of those iterables, which the reverse and forward
stages differentiate like code the user wrote. The positions come from
the same itertools function applied to `range(len(pool))`, which carries
no derivative and runs in the primal:

    itertools.chain(a, b)             ->  list(a) + list(b)
    itertools.chain.from_iterable(xs) ->  [item for part in xs for item in part]
    itertools.combinations(xs, r)     ->  pool = list(xs)
                                          [tuple([pool[k] for k in indices])
                                           for indices in itertools.combinations(
                                               range(len(pool)), r)]
        (also combinations_with_replacement, permutations and product)
    itertools.pairwise(xs)            ->  pool = list(xs)
                                          [(pool[k], pool[k + 1])
                                           for k in range(len(pool) - 1)]
    itertools.islice(xs, start, stop, step)
                                      ->  [item for position, item in
                                           zip(range(stop), xs)
                                           if position >= start and
                                           (position - start) % step == 0]
    itertools.accumulate(xs, f)       ->  a loop that appends each running
                                          value to a list
    np.ndenumerate(a)                 ->  array = np.asarray(a)
                                          [(index, array[index])
                                           for index in np.ndindex(array.shape)]
    zip(*rows)                        ->  pools = [list(row) for row in rows]
                                          [tuple([pool[k] for pool in pools])
                                           for k in range(min(
                                               [len(pool) for pool in pools],
                                               default=0))]

As with `map` and generator expressions, the whole list is computed where
the call is, not one item at a time when a loop reads it. A call with
arguments of another form (keywords other than those shown, `*args`
elsewhere, zip's `strict=`) is left as it is.
"""

import builtins
import itertools
import types
from dataclasses import dataclass, field

import gast
import numpy as np

from adcompiler.traversal import walk


@dataclass
class Rewrite:
    """Statements to run first, then the expression whose value is the list."""

    value: object
    statements: list = field(default_factory=list)


def _name(identifier, ctx=None):
    return gast.Name(id=identifier, ctx=ctx or gast.Load(), annotation=None,
                     type_comment=None)


def _call(function, *args, keywords=()):
    return gast.Call(func=function, args=list(args), keywords=list(keywords))


def _constant(value):
    return gast.Constant(value=value, kind=None)


def _index(value, position):
    return gast.Subscript(value=value, slice=position, ctx=gast.Load())


def _assign(identifier, value):
    return gast.Assign(targets=[_name(identifier, gast.Store())], value=value,
                       type_comment=None)


def _comprehension(element, target, iterable, conditions=()):
    """Return `[element for target in iterable if conditions]`; a list of
    names as `target` unpacks each item into them."""
    if isinstance(target, str):
        store = _name(target, gast.Store())
    else:
        store = gast.Tuple(elts=[_name(t, gast.Store()) for t in target],
                           ctx=gast.Store())
    return gast.ListComp(elt=element, generators=[gast.comprehension(
        target=store, iter=iterable, ifs=list(conditions), is_async=0)])


class IteratorRewriter:
    """Rewrite one call of a supported iterator; see the module docstring.

    `fresh(hint)` returns a new local name. `builtin(name)` returns a
    reference to the built-in or NumPy function of that name that the
    user's code cannot shadow. `positions(callee)` returns a reference to
    the itertools function `callee` whose calls are not rewritten again.
    """

    def __init__(self, fresh, builtin, positions):
        self.fresh = fresh
        self.builtin = builtin
        self.positions = positions

    def rewrite(self, callee, call):
        """Return a `Rewrite` for `call`, whose function is `callee`, or None.

        Every new node has the location of `call`, so messages point there.
        """
        rewrite = self.rewrite_call(callee, call)
        if rewrite is not None:
            for node in [rewrite.value] + rewrite.statements:
                for child in walk(node):
                    if getattr(child, 'lineno', None) is None and hasattr(
                            call, 'lineno'):
                        gast.copy_location(child, call)
        return rewrite

    def rewrite_call(self, callee, call):
        args = call.args
        keywords = {k.arg: k.value for k in call.keywords}
        if None in keywords:
            return None
        if callee is builtins.zip:
            if keywords or not any(isinstance(a, gast.Starred) for a in args):
                return None
            return self.transpose(args)
        if any(isinstance(a, gast.Starred) for a in args):
            return None

        if callee is itertools.chain and not keywords:
            return self.chain(args)
        if _is_from_iterable(callee) and len(args) == 1 \
                and not keywords:
            return self.flatten(args[0])
        if (callee is itertools.combinations
                or callee is itertools.combinations_with_replacement) \
                and args and len(args) + len(keywords) == 2 \
                and set(keywords) <= {'r'}:
            return self.selections(callee, call, args[:1])
        if callee is itertools.permutations and 1 <= len(args) + len(
                keywords) <= 2 and set(keywords) <= {'r'} and args:
            return self.selections(callee, call, args[:1])
        if callee is itertools.product and set(keywords) <= {'repeat'}:
            return self.selections(callee, call, args)

        if callee is itertools.pairwise and len(args) == 1 and not keywords:
            return self.pairwise(args[0])
        if callee is itertools.islice and 2 <= len(args) <= 4 \
                and not keywords:
            return self.islice(args)
        if callee is itertools.accumulate and 1 <= len(args) <= 2 \
                and set(keywords) <= {'initial'}:
            return self.accumulate(args, keywords.get('initial'))

        if callee is np.ndenumerate and len(args) == 1 and not keywords:
            return self.ndenumerate(args[0])
        return None

    def items_of(self, iterable):
        return _call(self.builtin('list'), iterable)

    def pool(self, iterable, statements):
        """Append `pool = list(iterable)` to `statements`; return the name."""
        name = self.fresh('pool')
        statements.append(_assign(name, self.items_of(iterable)))
        return name

    def chain(self, iterables):
        if not iterables:
            return Rewrite(gast.List(elts=[], ctx=gast.Load()))
        value = self.items_of(iterables[0])
        for iterable in iterables[1:]:
            value = gast.BinOp(left=value, op=gast.Add(),
                               right=self.items_of(iterable))
        return Rewrite(value)

    def flatten(self, iterables):
        element = _name('item')
        return Rewrite(gast.ListComp(elt=element, generators=[
            gast.comprehension(target=_name('part', gast.Store()),
                               iter=iterables, ifs=[], is_async=0),
            gast.comprehension(target=_name('item', gast.Store()),
                               iter=_name('part'), ifs=[], is_async=0)]))

    def selections(self, callee, call, iterables):
        """combinations, permutations and product: the same function of
        the positions, then the items at those positions."""
        statements = []
        pools = [self.pool(iterable, statements) for iterable in iterables]
        positions = [_call(self.builtin('range'),
                           _call(self.builtin('len'), _name(pool)))
                     for pool in pools]
        rest = call.args[len(iterables):]
        indices = _call(self.positions(callee), *positions, *rest,
                        keywords=call.keywords)
        if len(pools) == 1:
            element = _call(self.builtin('tuple'), _comprehension(
                _index(_name(pools[0]), _name('k')), 'k', _name('indices')))
        else:
            # product(a, b, repeat=n): position p of an item comes from
            # pool p % len(pools).
            table = self.fresh('pools')
            statements.append(_assign(table, gast.List(
                elts=[_name(pool) for pool in pools], ctx=gast.Load())))
            pool_position = gast.BinOp(left=_name('p'), op=gast.Mod(),
                                       right=_constant(len(pools)))
            element = _call(self.builtin('tuple'), _comprehension(
                _index(_index(_name(table), pool_position), _name('k')),
                ['p', 'k'],
                _call(self.builtin('enumerate'), _name('indices'))))
        return Rewrite(_comprehension(element, 'indices', indices),
                       statements)

    def pairwise(self, iterable):
        statements = []
        pool = self.pool(iterable, statements)
        following = gast.BinOp(left=_name('k'), op=gast.Add(),
                               right=_constant(1))
        element = gast.Tuple(elts=[_index(_name(pool), _name('k')),
                                   _index(_name(pool), following)],
                             ctx=gast.Load())
        count = gast.BinOp(left=_call(self.builtin('len'), _name(pool)),
                           op=gast.Sub(), right=_constant(1))
        return Rewrite(_comprehension(
            element, 'k', _call(self.builtin('range'), count)), statements)

    def islice(self, args):
        """Read at most `stop` items, as islice does, so that an endless
        iterable ends. NOTE: a `stop` that is None only when the code runs
        makes `range(stop)` raise TypeError."""
        iterable, *limits = args
        if len(limits) == 1:
            start, stop, step = None, limits[0], None
        else:
            start, stop, step = (limits + [None])[:3]
        if _is_none(stop):
            pairs = _call(self.builtin('enumerate'), iterable)
        else:
            pairs = _call(self.builtin('zip'),
                          _call(self.builtin('range'), stop), iterable)
        conditions = []
        if not _is_none(start):
            conditions.append(gast.Compare(left=_name('position'),
                                           ops=[gast.GtE()],
                                           comparators=[start]))
        if not _is_none(step):
            offset = _name('position') if _is_none(start) else gast.BinOp(
                left=_name('position'), op=gast.Sub(), right=start)
            conditions.append(gast.Compare(
                left=gast.BinOp(left=offset, op=gast.Mod(), right=step),
                ops=[gast.Eq()], comparators=[_constant(0)]))
        return Rewrite(_comprehension(_name('item'), ['position', 'item'],
                                      pairs, conditions))

    def accumulate(self, args, initial):
        """Build the list of running values of `function`, which is
        addition when the call names none."""
        iterable = args[0]
        function = args[1] if len(args) == 2 and not _is_none(args[1]) \
            else None
        result = self.fresh('accumulated')
        running = self.fresh('running')
        item = self.fresh('item')

        def step():
            if function is None:
                value = gast.BinOp(left=_name(running), op=gast.Add(),
                                   right=_name(item))
            else:
                value = _call(function, _name(running), _name(item))
            return _assign(running, value)

        append = gast.Expr(value=_call(
            gast.Attribute(value=_name(result), attr='append',
                           ctx=gast.Load()), _name(running)))
        if initial is not None and not _is_none(initial):
            statements = [
                _assign(running, initial),
                _assign(result, gast.List(elts=[_name(running)],
                                          ctx=gast.Load())),
                gast.For(target=_name(item, gast.Store()), iter=iterable,
                         body=[step(), append], orelse=[], type_comment=None)]
            return Rewrite(_name(result), statements)
        position = self.fresh('position')
        first = gast.Compare(left=_name(position), ops=[gast.Eq()],
                             comparators=[_constant(0)])
        start = _assign(running, _name(item))
        loop = gast.For(
            target=gast.Tuple(elts=[_name(position, gast.Store()),
                                    _name(item, gast.Store())],
                              ctx=gast.Store()),
            iter=_call(self.builtin('enumerate'), iterable),
            body=[gast.If(test=first, body=[start], orelse=[step()]), append],
            orelse=[], type_comment=None)
        statements = [_assign(result, gast.List(elts=[], ctx=gast.Load())),
                      loop]
        return Rewrite(_name(result), statements)

    def ndenumerate(self, array_like):
        array = self.fresh('array')
        statements = [_assign(array, _call(self.builtin('asarray'),
                                           array_like))]
        shape = gast.Attribute(value=_name(array), attr='shape',
                               ctx=gast.Load())
        element = gast.Tuple(elts=[_name('index'),
                                   _index(_name(array), _name('index'))],
                             ctx=gast.Load())
        return Rewrite(_comprehension(
            element, 'index', _call(self.builtin('ndindex'), shape)),
            statements)

    def transpose(self, args):
        """zip with `*rows` among its arguments: the k-th items of all rows."""
        rows = None
        for argument in args:
            if isinstance(argument, gast.Starred):
                part = _comprehension(self.items_of(_name('row')), 'row',
                                      argument.value)
            else:
                part = gast.List(elts=[self.items_of(argument)],
                                 ctx=gast.Load())
            rows = part if rows is None else gast.BinOp(
                left=rows, op=gast.Add(), right=part)
        pools = self.fresh('pools')
        statements = [_assign(pools, rows)]
        lengths = _comprehension(_call(self.builtin('len'), _name('pool')),
                                 'pool', _name(pools))
        count = _call(self.builtin('min'), lengths,
                      keywords=[gast.keyword(arg='default',
                                             value=_constant(0))])
        element = _call(self.builtin('tuple'), _comprehension(
            _index(_name('pool'), _name('k')), 'pool', _name(pools)))
        return Rewrite(_comprehension(
            element, 'k', _call(self.builtin('range'), count)), statements)


def _is_none(node):
    """True for a missing argument or a literal None."""
    return node is None or (isinstance(node, gast.Constant)
                            and node.value is None)


# The functions `IteratorRewriter.builtin` refers to, by name.
HELPERS = {
    'list': builtins.list, 'tuple': builtins.tuple, 'range': builtins.range,
    'len': builtins.len, 'enumerate': builtins.enumerate,
    'zip': builtins.zip, 'min': builtins.min, 'asarray': np.asarray,
    'ndindex': np.ndindex,
}


def is_rewritten(callee):
    """True for a function whose calls `IteratorRewriter` may rewrite."""
    return any(callee is f for f in _REWRITTEN) or _is_from_iterable(callee)


def _is_from_iterable(callee):
    # Each read of the attribute makes a new bound method, so `is` fails.
    return isinstance(callee, types.BuiltinMethodType) \
        and callee == itertools.chain.from_iterable


_REWRITTEN = (itertools.chain, itertools.combinations,
              itertools.combinations_with_replacement,
              itertools.permutations, itertools.product, itertools.pairwise,
              itertools.islice, itertools.accumulate, np.ndenumerate)
