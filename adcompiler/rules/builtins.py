"""Reverse rules for Python operators and built-in functions.

Letters: `ans = op(x, y)`, `g` is the adjoint of `ans`, `d[x]` the adjoint
of `x`. Operators broadcast on arrays, so their rules are registered with
`unbroadcast=True`.
"""

import builtins
import collections
import copy
import logging
import operator

import numpy as np

from adcompiler.errors import UnsupportedOptionError
from adcompiler.rules.numpy import divmod_vjp
from adcompiler.rules.registry import REGISTRY

vjp = REGISTRY.vjp
non_differentiable = REGISTRY.non_differentiable


def elementwise_vjp(callee, template):
    """Register a rule of a broadcasting operator: each d[x] is unbroadcast."""
    vjp(callee, template, unbroadcast=True)


# Binary operators: ans = x op y.
elementwise_vjp(operator.add,     lambda x, y: (g, g))
elementwise_vjp(operator.sub,     lambda x, y: (g, -g))
elementwise_vjp(operator.mul,     lambda x, y: (g * y, g * x))
elementwise_vjp(operator.truediv, lambda x, y: (g / y, -g * ans / y))
elementwise_vjp(operator.pow,     lambda x, y: (ad.pow_base_adjoint(g, x, y), ad.pow_exponent_adjoint(g, x, ans, y)))
elementwise_vjp(operator.mod,     lambda x, y: (g, -g * np.floor_divide(x, y)))
vjp(operator.matmul,              lambda x, y: (ad.matmul_adjoint_x(g, x, y), ad.matmul_adjoint_y(g, x, y)))

# Unary operators: ans = op x. Normalize calls rules.operators in place of
# these for an operand known to be an object whose class defines them.
# NOTE: an object of such a class that only reaches the function at run
# time (an argument) gets these rules unchecked, so its gradient is wrong
# unless its methods work field by field like array arithmetic.
elementwise_vjp(operator.neg,     lambda x: -g)
elementwise_vjp(operator.pos,     lambda x: g)

# Built-in functions with a derivative.
elementwise_vjp(builtins.abs,     lambda x: g * ad.abs_sign(x))
elementwise_vjp(builtins.pow,     lambda base, exp, mod=None: (ad.pow_base_adjoint(g, base, exp), ad.pow_exponent_adjoint(g, base, ans, exp)))
elementwise_vjp(builtins.divmod,  divmod_vjp)
vjp(builtins.float,               lambda x=0.0: ad.unbroadcast(g, x))
# NumPy's float types called as constructors: np.float32(x) casts x.
for _float_type in (np.float64, np.float32, np.float16):
    vjp(_float_type, lambda x=0.0: ad.unbroadcast(g, x))
# sum(seq, start) adds, or concatenates when start is a list or tuple.
vjp(builtins.sum,                 lambda iterable, start=0: (ad.sum_items_adjoint(g, iterable, start), ad.sum_start_adjoint(g, start)))
# list(x) and tuple(x): the items of x in a new container.
vjp(builtins.list,                lambda iterable=(): ad.items_adjoint(g, iterable))
vjp(builtins.tuple,               lambda iterable=(): ad.items_adjoint(g, iterable))
# super(cls, obj) stands for obj when its methods are called.
vjp(builtins.super,               lambda cls, obj: (None, g))


# ans = max(x0, x1, ...) or min(...) with at most six arguments, or max(x0)
# of a sequence x0, which returns `default` when x0 is empty. Ties split the
# adjoint evenly.
def extremum_vjp(x0, x1=None, x2=None, x3=None, x4=None, x5=None, *,
                 default=None):
    args = (x0, x1, x2, x3, x4, x5)
    d[x0] = ad.builtin_extremum_adjoint(g, ans, args, 0)
    d[x1] = ad.builtin_extremum_adjoint(g, ans, args, 1)
    d[x2] = ad.builtin_extremum_adjoint(g, ans, args, 2)
    d[x3] = ad.builtin_extremum_adjoint(g, ans, args, 3)
    d[x4] = ad.builtin_extremum_adjoint(g, ans, args, 4)
    d[x5] = ad.builtin_extremum_adjoint(g, ans, args, 5)
    d[default] = ad.extremum_default_adjoint(g, x0, default)


vjp(builtins.max,                 extremum_vjp)
vjp(builtins.min,                 extremum_vjp)

# Operators and built-ins whose result carries no derivative. sorted,
# enumerate, set and frozenset are not here, because they return the values
# of their argument: marking them would turn a gradient into a silent zero,
# so they stay foreign. (The items of a set are in the order of their
# hashes, which an adjoint could not follow.)
# str and repr of a float that carries a derivative return its digits, so
# float(repr(x)) would be x without its derivative. adcompiler.numeric_checks
# rejects such text when the result depends on it, and a float dict key
# that carries a derivative, which dict.keys would return without one.
for _callee in (operator.floordiv, operator.and_, operator.or_, operator.xor,
                operator.lshift, operator.rshift, operator.invert,
                operator.not_, builtins.len, builtins.range, builtins.id,
                builtins.hash, builtins.type, builtins.isinstance,
                builtins.issubclass, builtins.print, builtins.int,
                builtins.bool, builtins.str, builtins.repr, builtins.round,
                builtins.callable, builtins.hasattr, builtins.any,
                builtins.all, set.add,
                set.discard, set.remove, set.__contains__, dict.keys,
                dict.__contains__, list.index, list.count, tuple.index,
                tuple.count):
    non_differentiable(_callee)

# Logging writes text: log.info('loss %s', loss) on a logging.Logger.
for _callee in (logging.Logger.debug, logging.Logger.info,
                logging.Logger.warning, logging.Logger.error,
                logging.Logger.critical, logging.Logger.exception,
                logging.Logger.log):
    non_differentiable(_callee)

# Subscript reads: ans = x[index]; the index is passed as a value, np.s_[...].
vjp(operator.getitem,             lambda x, index: ad.index_adjoint(g, x, index))


# Methods of dict that return its values. A call dispatched at run time
# (`d.values()` on a dict that carries a derivative) calls these Python
# versions instead, which adcompiler differentiates: each value is read as
# mapping[key], whose adjoint is a dict.
# NOTE: values() and items() return lists, not views that follow later
# changes of the dict.
def dict_values(mapping):
    """Return the values of `mapping` in its key order, as a list."""
    return [mapping[key] for key in mapping]


def dict_items(mapping):
    """Return the (key, value) pairs of `mapping` in its key order."""
    return [(key, mapping[key]) for key in mapping]


def dict_get(mapping, key, default=None):
    """Return mapping[key] if `mapping` has `key`, else `default`."""
    # dict.get ignores a subclass's __contains__, so this does too.
    if dict.__contains__(mapping, key):
        return mapping[key]
    return default


# The copy methods of list and dict, for a call dispatched at run time
# (`m = l.copy()` on a list that a helper returned): each item is read
# with its own derivative into the new container.
def list_copy(items):
    """Return a new list of the items of `items`, as list.copy does."""
    return list(items)


def dict_copy(mapping):
    """Return a new dict of the entries of `mapping`, as dict.copy does."""
    return {key: mapping[key] for key in mapping}


def dict_new(*mapping_or_pairs, **entries):
    """Build dict(mapping_or_pairs, **entries) from reads and stores that
    adcompiler differentiates.

    As dict() does, it copies the entries of an object with a keys()
    method, or else takes (key, value) pairs from an iterable, and then
    adds `entries`, the later value of a key replacing the earlier one.
    The positional argument is taken with * so that every keyword, even
    one named like it, is an entry.
    """
    if len(mapping_or_pairs) > 1:
        raise TypeError(f'dict expected at most 1 argument, got '
                        f'{len(mapping_or_pairs)}')
    result = {}
    for source in mapping_or_pairs:
        if hasattr(source, 'keys'):
            for key in source.keys():
                result[key] = source[key]
        else:
            for key, value in source:
                result[key] = value
    for key in entries:
        result[key] = entries[key]
    return result


# Values that copy.copy and copy.deepcopy return as they are.
_IMMUTABLE = (float, int, complex, bool, str, type(None), np.generic)


def _uncopyable(function_name, value):
    """Return the error for a copy of a value that carries a derivative
    and is not one of the kinds the replacements below copy."""
    kind = type(value).__name__
    return UnsupportedOptionError(
        f'{function_name} of a {kind}, in a value that carries a '
        f'derivative: adcompiler '
        f'differentiates copies of lists, tuples, dicts, NumPy arrays and '
        f'numbers. Build the new {kind} from the values it holds instead')


def shallow_copy(value):
    """Return copy.copy(value) for lists, tuples, dicts, arrays and numbers,
    with the copy made by calls that adcompiler differentiates."""
    kind = type(value)
    if kind is list:
        return list(value)
    if kind is dict:
        return dict(value)
    if kind is np.ndarray:
        return value.copy()
    if kind is tuple or isinstance(value, _IMMUTABLE):
        return value
    raise _uncopyable('copy.copy', value)


def deep_copy(value, memo=None):
    """Return copy.deepcopy(value) for lists, tuples, dicts, arrays and
    numbers, nested in any way, from calls that adcompiler differentiates.

    `memo` is accepted for the signature of copy.deepcopy and ignored.
    """
    # NOTE: unlike copy.deepcopy, an object reached twice gets two copies,
    # and a list that contains itself recurses without end. The values are
    # the same. Because the compiler rejects updating an item of a
    # container in place, the copies differ only when compared with `is`.
    kind = type(value)
    if kind is np.ndarray:
        return value.copy()
    if kind is list:
        return [deep_copy(item) for item in value]
    if kind is dict:
        return {deep_copy(entry): deep_copy(value[entry]) for entry in value}
    if kind is tuple:
        return tuple([deep_copy(item) for item in value])
    if isinstance(value, _IMMUTABLE):
        return value
    raise _uncopyable('copy.deepcopy', value)


REGISTRY.substitute(dict, dict_new)
REGISTRY.substitute(copy.copy, shallow_copy)
REGISTRY.substitute(copy.deepcopy, deep_copy)
REGISTRY.substitute(dict.values, dict_values)
REGISTRY.substitute(dict.items,  dict_items)
REGISTRY.substitute(dict.get,    dict_get)
REGISTRY.substitute(dict.copy,   dict_copy)
REGISTRY.substitute(list.copy,   list_copy)


def namedtuple_replace(self, /, **changes):
    """Return a copy of the named tuple `self` with the fields in `changes`
    replaced, as its `_replace` method does."""
    cls = type(self)
    fields = cls._fields
    unknown = [name for name in changes if name not in fields]
    if unknown:
        raise ValueError(f'Got unexpected field names: {unknown!r}')
    values = [changes[name] if name in changes else value
              for name, value in zip(fields, self)]
    return cls(*values)


# Every named tuple class's _replace has this code. Its own _replace pops
# the changes from a dict inside map(), which adcompiler cannot follow.
REGISTRY.substitute(collections.namedtuple('Pair', 'first second')._replace
                    .__code__, namedtuple_replace)
