"""Runtime support imported by generated code, and only by generated code.

Generated modules import this module (as `ad`, or a fresh name when the user
already uses `ad`) and nothing else from adcompiler. It contains the helpers that
adjoint code calls: undoing broadcasting, adding adjoints where "no adjoint
yet" is `None`, zero adjoints for values and containers, and the adjoints of
indexing, reductions and products that do not fit on one template line.

This module imports only NumPy and the standard library's `math`.
"""

import math

import numpy as np


# Adjoint accumulation --------------------------------------------------------

def _rebuild(like, items):
    """Return a tuple or list of `items` with the type of `like`.

    Named tuples, which np.linalg.eigh, svd and slogdet return, take their
    fields as separate arguments. Other sequences take one iterable.
    """
    if isinstance(like, tuple) and hasattr(type(like), '_fields'):
        return type(like)(*items)
    if isinstance(like, np.ndarray):
        # A tuple of arrays that NumPy turned into one array (np.prod of
        # np.broadcast_arrays(...)): np.ndarray(items) would read the
        # items as a shape.
        return np.asarray([np.zeros_like(row, dtype=float) if item is None
                           else item for item, row in zip(items, like)])
    return type(like)(items)

_NUMBER_TYPES = (float, int, np.float64, np.float32, complex)
_REAL_TYPES = (float, int, np.float64, np.float32)


def add(a, b):
    """Return a + b for adjoints, where None is a zero that was never built.

    Tuples and lists are added element by element, because `+` would
    concatenate them. The adjoint of a list or tuple is a list (or tuple)
    of its items' adjoints, or an array of the same shape where a rule read
    the sequence as an array (np.array(lst), np.mean(lst)). Such an array
    adds to the list form row by row, so that the sum keeps the list form
    and its None entries stay zeros. Neither argument is modified.
    """
    if a is None:
        return b
    if b is None:
        return a
    # The common cases first, for speed.
    if type(a) in _NUMBER_TYPES:
        return a + b
    if type(a) is np.ndarray:
        if type(b) is not list and type(b) is not tuple:
            return a + b
        a, b = b, a  # An array adjoint and a sequence's list form.
    if isinstance(a, (tuple, list)):
        return _rebuild(a, [add(x, y) for x, y in zip(a, b, strict=True)])
    if isinstance(a, dict):
        return {key: add(a.get(key), b.get(key)) for key in {**a, **b}}
    parts = _flatten_container(a)
    if parts is not None:
        children, rebuild = parts
        return rebuild([add(x, y) for x, y in zip(
            children, _flatten_container(b)[0], strict=True)])
    return a + b


class ShapeAndKind:
    """The shape of an array and whether it is complex: all that
    `unbroadcast` reads from its second argument."""

    __slots__ = ('shape', 'is_complex')

    def __init__(self, shape, is_complex):
        self.shape = shape
        self.is_complex = is_complex


def shape_and_kind(x):
    """Return what `unbroadcast(g, x)` needs of `x`, so that `x` can be freed.

    Only arrays and numbers are reduced to a `ShapeAndKind`. Anything else
    (containers, dataclasses, other objects) is returned as it is, because
    unbroadcast reads its structure.
    """
    if type(x) is np.ndarray:
        return ShapeAndKind(x.shape, x.dtype.kind == 'c')
    if isinstance(x, (np.ndarray, np.generic, int, float, complex)):
        return ShapeAndKind(np.shape(x), bool(np.iscomplexobj(x)))
    return x


def unbroadcast(g, x):
    """Sum `g` down to the shape of `x`, undoing NumPy broadcasting.

    Also drops the imaginary part when `x` is real and `g` is complex. `x`
    may be a `ShapeAndKind` in place of the value.
    """
    # Fast paths for the common cases, where nothing was broadcast.
    g_type, x_type = type(g), type(x)
    if x_type is ShapeAndKind:
        if g_type is np.ndarray and g.shape == x.shape and (
                x.is_complex or g.dtype.kind != 'c'):
            return g
        return _unbroadcast_to(g, x.shape, x.is_complex)
    if g_type is float and x_type in _REAL_TYPES:
        return g
    if g_type is np.ndarray and x_type is np.ndarray and g.shape == x.shape \
            and (x.dtype.kind == 'c' or g.dtype.kind != 'c'):
        return g
    if g is None:
        return None  # No gradient, as a rule may return for an argument.
    if isinstance(x, list) and isinstance(g, (list, tuple)) and \
            len(g) > len(x) and all(_is_zero(row) for row in g[len(x):]):
        # A tape entry that refers to a list the primal appended to later:
        # its adjoint has the final length, and the entries for the later
        # items are zero because the reference is only bookkeeping.
        g = g[:len(x)]
    if isinstance(x, (list, tuple)) and isinstance(g, (list, tuple)) and \
            len(g) == len(x):
        # A container's own adjoint, such as an entry of a tape that
        # generated code pushes (reverse over reverse).
        return _rebuild(x, [None if row is None else unbroadcast(row, item)
                            for row, item in zip(g, x, strict=True)])
    if isinstance(x, (list, tuple)) and not isinstance(g, (list, tuple)) \
            and np.ndim(g) >= 1:
        return _sequence_operand_adjoint(g, x)
    if isinstance(x, dict) and isinstance(g, dict):
        return g
    if isinstance(x, (list, tuple, dict)):
        raise TypeError(
            f'adcompiler cannot differentiate an arithmetic operation on a '
            f'{type(x).__name__} here (for example concatenation with + of '
            'a list or tuple that is an argument or the result of another '
            'function); convert it first (list(v) or tuple(v)) so that '
            'adcompiler knows it is one, use lst.extend(...), or build an '
            'array with np.array')
    if type(g) is x_type and _flatten_container(x) is not None:
        return g  # A dataclass or registered container: never broadcast.
    if not isinstance(x, (np.ndarray, np.generic, int, float, complex)):
        # Another object (such as a pending update at(x, idx)): nothing
        # broadcast it, and its adjoint has the structure its rule gave.
        return g
    return _unbroadcast_to(g, np.shape(x), np.iscomplexobj(x))


def add_operand_adjoint(g, x, other, position):
    """Return the adjoint of `x`, the operand at `position` (0 or 1) of a
    `+` with `other`, from `g`, the adjoint of the result.

    When both are lists or both are tuples, `+` concatenated them, and `x`
    gets its part of `g`: a list or tuple of one entry per item, or an
    array with one row per item. Otherwise it is `unbroadcast(g, x)`.
    """
    if (isinstance(x, (list, tuple)) and type(other) is type(x)
            and g is not None):
        count = len(x) + len(other)
        if (isinstance(g, (list, tuple)) and len(g) == count) or (
                isinstance(g, np.ndarray) and g.ndim >= 1
                and g.shape[0] == count):
            g = g[:len(x)] if position == 0 else g[len(other):]
    return unbroadcast(g, x)


def _sequence_operand_adjoint(g, x):
    """Return the adjoint of a list or tuple `x` that NumPy read as the
    array np.asarray(x), from the adjoint `g` of a result it broadcast to.

    NumPy aligns the array's trailing axes with the result's, so a list of
    n numbers runs along the result's last axis. `g` is summed down to
    the array's shape first, then split into one row per item.
    """
    try:
        shape = np.shape(x)
    except ValueError:
        shape = None  # NumPy makes no array of items of different shapes.
    if shape is None or len(shape) > np.ndim(g) or \
            np.broadcast_shapes(shape, np.shape(g)) != np.shape(g):
        raise TypeError(
            f'adcompiler cannot differentiate an arithmetic operation on a '
            f'{type(x).__name__} of {len(x)} items with a result of shape '
            f'{np.shape(g)} here; build an array with np.array first')
    g = _unbroadcast_to(g, shape, np.iscomplexobj(x))
    return _rebuild(x, [unbroadcast(row, item) for row, item in
                        zip(g, x, strict=True)])


def _is_zero(g):
    """Return whether the adjoint `g` is zero in every entry."""
    if g is None:
        return True
    if isinstance(g, (list, tuple)):
        return all(_is_zero(item) for item in g)
    if isinstance(g, dict):
        return all(_is_zero(item) for item in g.values())
    try:
        return not np.any(g)
    except (TypeError, ValueError):
        return False


def _unbroadcast_to(g, shape, is_complex):
    """Sum `g` down to `shape`; keep its real part unless `is_complex`."""
    g_shape = np.shape(g)
    if g_shape != shape:
        extra = len(g_shape) - len(shape)
        if extra > 0:
            g = np.sum(g, axis=tuple(range(extra)))
        axes = tuple(i for i, n in enumerate(shape)
                     if n == 1 and np.shape(g)[i] != 1)
        if axes:
            g = np.sum(g, axis=axes, keepdims=True)
        if np.shape(g) != shape:
            g = np.broadcast_to(g, shape)
    if not is_complex and np.iscomplexobj(g):
        g = np.real(g)
    return g


# Types whose adjoints generated code passes on as the rules built them,
# with None as their zero; see `register_opaque`.
_OPAQUE_TYPES = set()


def register_opaque(cls):
    """Keep adjoints of `cls` instances as built: `materialize` and
    `input_adjoint` return them unchanged and `zeros_like` returns None.
    The record of a dispatched call is one: its cotangent is that of the
    values it saved."""
    _OPAQUE_TYPES.add(cls)


def zeros_like(x):
    """Return a zero adjoint with the structure and shape of `x`.

    The zero of None (an adjoint that was never built) is None, so that
    tangents of adjoint code keep the structure of the adjoints.
    """
    if x is None or type(x) in _OPAQUE_TYPES:
        return None
    if isinstance(x, (tuple, list)):
        return _rebuild(x, [zeros_like(item) for item in x])
    if isinstance(x, dict):
        return {key: zeros_like(value) for key, value in x.items()}
    if isinstance(x, np.ndarray):
        dtype = x.dtype if np.issubdtype(x.dtype, np.inexact) else float
        return np.zeros(x.shape, dtype=dtype)
    if isinstance(x, (complex, np.complexfloating)):
        return 0j
    parts = _flatten_container(x)
    if parts is not None:
        children, rebuild = parts
        return rebuild([zeros_like(child) for child in children])
    return 0.0


def materialize(g, x):
    """Return the final adjoint of input `x`: zeros for None, writable arrays.

    The public API calls it on the adjoints that generated code returns.
    A Python float input gets a Python float, and a NumPy float scalar a
    NumPy scalar of its type, where the adjoint may be a NumPy scalar or a
    0-d array (after `np.sin(x)` or `y ** x`, say).
    """
    if g is None:
        g = zeros_like(x)
    else:
        g = _finish_adjoint(g, x, materialize)
    if type(g) is not type(x) and np.ndim(g) == 0 \
            and not np.iscomplexobj(g):
        if type(x) is float:
            g = float(g)
        elif isinstance(x, np.floating):
            g = x.dtype.type(g)
    return g


def input_adjoint(g, x):
    """Return the adjoint of input `x` as a generated adjoint returns it.

    It is `materialize` except that None, and None entries of containers,
    stay None. None is a symbolic zero: a caller that differentiates
    through this adjoint skips the blocks it guards, where a built zero
    would give 0 * inf = nan (the adjoint of sqrt at 0, say).
    """
    if g is None:
        return None
    if type(g) is np.ndarray and type(x) is np.ndarray and \
            g.dtype is x.dtype and g.flags.writeable:
        # What _finish_adjoint returns: 0.2 us against its 1.4 us for a
        # float64 matrix (CPU time, on a loaded 2-core AMD EPYC).
        return g
    return _finish_adjoint(g, x, input_adjoint)


def _finish_adjoint(g, x, finish):
    """Apply `finish` to each entry of a container `g`, or give an array or
    number `g` the kind, shape and precision of `x`."""
    if type(x) in _OPAQUE_TYPES:
        return g
    if isinstance(x, (tuple, list)):
        return _rebuild(x, [finish(gi, xi)
                            for gi, xi in zip(g, x, strict=True)])
    if isinstance(x, dict):
        return {key: finish(g.get(key), value) for key, value in x.items()}
    if isinstance(x, np.ndarray) and isinstance(g, (list, tuple)):
        # Code that iterated over the array, or that got it where it read
        # a list, gives one adjoint per row, None where a row's is zero.
        g = _sequence_as_array(g, np.result_type(x, float), x.shape)
    if np.iscomplexobj(g) and not np.iscomplexobj(x):
        # A real input moves only along the real axis, even where the
        # function passes through complex values.
        g = np.real(g)
        if np.ndim(g) == 0 and isinstance(x, np.floating):
            g = x.dtype.type(g)
        elif np.ndim(g) == 0 and isinstance(x, float):
            g = float(g)
    if isinstance(g, np.ndarray) and not g.flags.writeable:
        g = np.array(g)
    if isinstance(x, np.ndarray) and not isinstance(g, np.ndarray):
        g = np.full(x.shape, g, dtype=np.result_type(g, float))
    if (isinstance(x, np.ndarray) and isinstance(g, np.ndarray)
            and np.issubdtype(x.dtype, np.inexact) and g.dtype != x.dtype
            and _casts_to_precision(g.dtype, x.dtype)):
        # The gradient has the input's precision: float32 stays float32,
        # and float64 stays float64 after a cast to float32.
        g = g.astype(x.dtype)
    elif (isinstance(x, np.inexact) and np.ndim(g) == 0
          and np.result_type(g) != x.dtype
          and _casts_to_precision(np.result_type(g), x.dtype)):
        g = x.dtype.type(g)  # The same for a NumPy scalar input.
    return g


def _casts_to_precision(adjoint_dtype, input_dtype):
    """True when an adjoint of `adjoint_dtype` is cast to the dtype of an
    input of `input_dtype`: when the adjoint's dtype is wider, or of the
    same kind (float and float, complex and complex)."""
    return np.can_cast(input_dtype, adjoint_dtype) or (
        adjoint_dtype.kind == input_dtype.kind)


def seed(ans):
    """Return the cotangent 1 of a scalar output, in its dtype.

    A NumPy output gets a NumPy 1 of its dtype: a Python 1.0 times a float16
    or float32 constant in the adjoint would drop to that constant's
    precision. A Python float output keeps the faster Python 1.0.
    """
    if isinstance(ans, (complex, np.complexfloating)):
        return np.ones((), dtype=np.result_type(ans))[()]
    if isinstance(ans, (np.floating, np.ndarray)) and np.issubdtype(
            np.result_type(ans), np.floating):
        return np.ones((), dtype=np.result_type(ans))[()]
    return 1.0


def cast_adjoint(g, dtype):
    """Adjoint through a cast to `dtype`: zero when `dtype` is not inexact.

    A cast to an integer or boolean type is piecewise constant.
    """
    if dtype is None or (type(dtype) is np.dtype and dtype.kind in 'fc'):
        return g  # The common cases, checked first for speed.
    if np.issubdtype(np.dtype(dtype), np.inexact):
        return g
    _require_numeric_dtype(dtype)
    return np.zeros(np.shape(g))


def cast_tangent(t, dtype):
    """Tangent through a cast to `dtype`: zero when `dtype` is not inexact,
    and the real part of a complex t when `dtype` is real.

    NumPy keeps the real part when it casts a complex value to a real type
    (with a ComplexWarning). The adjoint of that cast needs no such step:
    the cotangent of a real result is real already.
    """
    if dtype is None:
        return t
    kind = np.dtype(dtype).kind
    if kind == 'f':
        return np.real(t) if np.iscomplexobj(t) else t
    return cast_adjoint(t, dtype)


def cast_operand(x, dtype):
    """Return x as a reduction with dtype=`dtype` reads it: the real part
    of a complex x when `dtype` is real, else x itself.

    NumPy casts the input of np.prod(x, dtype=np.float64) and of the other
    reductions to `dtype` before it reduces, so a rule that reads x must
    read this value, and the tangent of x goes through it too.
    """
    if dtype is None or not np.iscomplexobj(x):
        return x
    if np.dtype(dtype).kind == 'f':
        return np.real(x)
    return x


def float_tangent(t):
    """Tangent of float(x): the real part, because float() of a NumPy
    complex number keeps the real part (with a ComplexWarning)."""
    total = np.sum(t)
    return np.real(total) if np.iscomplexobj(total) else total


def _require_numeric_dtype(dtype):
    """Raise TypeError for object, str and bytes dtypes, whose cast a rule
    must not read as piecewise constant: the objects may be the numbers
    themselves, and a string may be read back as a number."""
    if np.dtype(dtype).kind not in 'biufc':
        raise TypeError(
            f'adcompiler cannot differentiate a cast to {np.dtype(dtype)} '
            'dtype; keep a float dtype (float, np.float64 or complex)')


# Indexing ------------------------------------------------------------------

def _has_array_index(index):
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, (list, np.ndarray)) for i in items)


# Type -> `adjoint(g, x, index)` of `x[index]` for objects that are not
# arrays or containers; rules register these (see `register_index_adjoint`).
_INDEX_ADJOINTS = {}


def register_index_adjoint(cls, adjoint):
    """Use `adjoint(g, x, index)` for the adjoint of `x[index]` when `x` is
    an instance of `cls`."""
    _INDEX_ADJOINTS[cls] = adjoint


def iteration_adjoint(g, iterable, position):
    """Adjoint of `iterable` from the adjoint `g` of the item that a
    `for` loop took at `position`; None for a dict or a set, whose loop
    takes keys, which carry no derivative."""
    if isinstance(iterable, (dict, set, frozenset)):
        return None
    return index_adjoint(g, iterable, position)


def iteration_item(g, iterable, position):
    """Transpose of `iteration_adjoint`: the entry of `g` at `position`,
    or None for a dict or a set."""
    if isinstance(iterable, (dict, set, frozenset)):
        return None
    return g[position]


def index_adjoint(g, x, index):
    """Adjoint of `x[index]`: `g` scattered into zeros shaped like `x`."""
    if type(x) is np.ndarray and type(g) is np.ndarray and type(
            index) is slice:
        # The common case, a slice of a float array, checked first for speed.
        dtype = x.dtype
        if g.dtype is dtype and dtype.kind == 'f':
            result = np.zeros(x.shape, dtype)
            result[index] = g
            return result
    special = _INDEX_ADJOINTS.get(type(x)) if _INDEX_ADJOINTS else None
    if special is not None:
        return special(g, x, index)
    # The other entries of a container get None, the symbolic zero (see
    # `input_adjoint`).
    if isinstance(x, dict):
        result = dict.fromkeys(x)
        result[index] = g
        return result
    if isinstance(x, (tuple, list)):
        result = [None] * len(x)
        positions = range(len(x))[index]
        if isinstance(positions, int):
            result[positions] = g
        else:
            for position, item in zip(positions, g, strict=True):
                result[position] = item
        return _rebuild(x, result)
    dtype = np.result_type(np.asarray(x).dtype, np.asarray(g).dtype, float)
    result = np.zeros(np.shape(x), dtype=dtype)
    if _has_array_index(index):
        np.add.at(result, index, g)
    else:
        result[index] = g
    return result


def loop_item_tangent(t, position):
    """Return the tangent of the item that iteration `position` of
    `for item in x` reads, given the tangent `t` of x.

    That is `t[position]`, or zero in two cases. A loop over a dict reads
    keys, which have no tangent. And a scalar `t` is the zero that
    `zeros_like` gives an object it cannot take apart, such as a dict's
    keys view, because no sequence has a scalar tangent.
    """
    if isinstance(t, (dict, float, complex, np.number)):
        return 0.0
    return t[position]


def loop_item_tangent_adjoint(g, t, position):
    """Adjoint of `t` in `loop_item_tangent(t, position)`: zeros for a
    dict, else `index_adjoint(g, t, position)`."""
    if isinstance(t, dict):
        return zeros_like(t)
    return index_adjoint(g, t, position)


def index_accumulate(d, g, x, index):
    """Return `add(d, index_adjoint(g, x, index))`, adding into `d` in place.

    The caller must own `d`: None, a read-only view, or an array that
    `index_adjoint` or this function returned and that nothing else refers
    to. Other values of `d`, a `g` whose dtype `d` cannot hold, and an `x`
    whose index adjoint is registered (it may return `g` itself) take the
    path that allocates.
    """
    if type(d) is np.ndarray and type(g) is np.ndarray and type(
            index) is slice and g.dtype is d.dtype and type(
                x) is np.ndarray and d.flags.writeable:
        d[index] += g  # The common case, checked first for speed.
        return d
    if type(d) is np.ndarray and d.flags.writeable and np.result_type(
            d.dtype, np.asarray(g).dtype) == d.dtype and type(
                x) not in _INDEX_ADJOINTS:
        if _has_array_index(index):
            np.add.at(d, index, g)
        else:
            d[index] += g
        return d
    return add(d, index_adjoint(g, x, index))


def unpack_adjoint(x, adjoints):
    """Adjoint of `a, b, ... = x` given the adjoints of a, b, ... .

    None entries stay None in a tuple or list adjoint, and the adjoint is
    None when all of them are: zeros built here would reach the blocks of
    the adjoint that guard against None (see `input_adjoint`).
    """
    if all(g is None for g in adjoints):
        return None
    if isinstance(x, (tuple, list)):
        return _rebuild(x, [g for _, g in zip(x, adjoints, strict=True)])
    dtype = np.result_type(np.asarray(x).dtype, float)
    result = np.zeros(np.shape(x), dtype=dtype)
    for position, g in enumerate(adjoints):
        if g is not None:
            result[position] = g
    return result


# Reductions ----------------------------------------------------------------

def _normalize_axes(axis, ndim):
    """Return `axis` (None, one integer or a sequence of integers) as a
    tuple of non-negative ints; every axis when it is None. NumPy's
    reductions take axis 0 or -1 of a 0-d array and reduce nothing, so a
    0-d array has no axes to reduce."""
    if axis is None or ndim == 0:
        return tuple(range(ndim))
    single = _as_index(axis)
    axes = (single,) if single is not None else axis
    return tuple(_as_index(a) % ndim for a in axes)


def _as_index(value):
    """Return `value` as an int if it is one integer (an int, a NumPy
    integer, a 0-d integer array, any type with `__index__`), else None.
    It converts as `operator.index` does, but returns None where that
    raises TypeError."""
    convert = getattr(type(value), '__index__', None)
    if convert is None:
        return None
    try:
        return convert(value)
    except TypeError:
        return None  # An array of several integers.


def _shape(x):
    """Return `np.shape(x)`, where `x` may be a `ShapeAndKind`."""
    return x.shape if type(x) is ShapeAndKind else np.shape(x)


def _restore_reduced(g, x, axis, keepdims):
    """Reshape a reduction's adjoint `g` so that it broadcasts against `x`."""
    shape = _shape(x)
    if not keepdims:
        axes = _normalize_axes(axis, len(shape))
        g = np.expand_dims(g, axes) if axes else g
    return g


def sum_adjoint(g, x, axis=None, keepdims=False):
    """Adjoint of `np.sum(x, axis, keepdims=keepdims)`; `x` may be a
    `ShapeAndKind`, like the `x` of `mean_adjoint`."""
    if np.ndim(g):
        g = _restore_reduced(g, x, axis, keepdims)
    return np.broadcast_to(g, _shape(x))


def mean_adjoint(g, x, axis=None, keepdims=False):
    """Adjoint of `np.mean(x, axis, keepdims=keepdims)`."""
    shape = _shape(x)
    count = 1
    for a in _normalize_axes(axis, len(shape)):
        count *= shape[a]
    return sum_adjoint(g, x, axis, keepdims) / count


# Compact cotangents. The adjoint of a reduction is a constant along the
# reduced axes, so optimized adjoint code keeps it unbroadcast: a value that
# broadcasts to the reduced array's shape, such as the scalar seed of a sum.
# Elementwise arithmetic with it then costs scalar operations, and `expand`
# makes the full view where an operation needs the shape.

_PYTHON_NUMBERS = (float, int, complex)


def compact_sum_adjoint(g, x, axis=None, keepdims=False):
    """Return the adjoint of `np.sum(x, axis, keepdims=keepdims)` before
    broadcasting: a value that broadcasts to the shape of `x`.

    A Python number becomes a NumPy scalar, so that dividing it by a zero
    gives inf, as dividing the broadcast array would, not ZeroDivisionError.
    """
    if type(g) in _PYTHON_NUMBERS:
        g = np.asarray(g)[()]
    if axis is None or not np.ndim(g):
        return g  # A scalar broadcasts against any shape.
    return _restore_reduced(g, x, axis, keepdims)


def compact_mean_adjoint(g, x, axis=None, keepdims=False):
    """Return the adjoint of `np.mean(x, axis, keepdims=keepdims)` before
    broadcasting (see `compact_sum_adjoint`)."""
    return compact_sum_adjoint(g, x, axis, keepdims) / reduction_size(
        x, axis)


def reduction_size(x, axis=None):
    """Return how many entries of `x` each reduction over `axis` reads; `x`
    may be a `ShapeAndKind`."""
    return _reduced_count(_shape(x), axis)


def expand(c, like):
    """Return the compact cotangent `c` broadcast to the shape of `like`, a
    value or a `ShapeAndKind`.

    The result is a read-only view where `c` is smaller, as the result of
    `sum_adjoint` is. A container `c` is returned as it is.
    """
    if type(c) is np.ndarray and c.shape == _shape(like):
        return c
    if isinstance(c, (list, tuple, dict)):
        return c
    return np.broadcast_to(c, _shape(like))


def _shape_and_kind_of(x):
    """Return (shape, is_complex) of an array, number or `ShapeAndKind`,
    or None for anything else."""
    if type(x) is ShapeAndKind:
        return x.shape, x.is_complex
    if isinstance(x, (np.ndarray, np.generic) + _PYTHON_NUMBERS):
        return np.shape(x), bool(np.iscomplexobj(x))
    return None


def _summed_count(full_shape, shape):
    """Return how many entries of a `full_shape` array each entry of its
    unbroadcast to `shape` sums; 1 for an empty `shape`, whose sums no
    entry reads."""
    size = _reduced_count(shape, None)
    return _reduced_count(full_shape, None) // size if size else 1


def compact_unbroadcast(c, full, x):
    """Return `unbroadcast(expand(c, full), x)`, compact where it can be.

    The result broadcasts to the shape of `x`. When `full` and `x` have one
    shape, it is `c` itself. When `c` is a scalar, it is `c` times the
    number of entries of `full` that each entry of `x` sums. Only the real
    part is kept when `x` is real.
    """
    described = _shape_and_kind_of(x)
    if described is None:
        return unbroadcast(expand(c, full), x)
    shape, is_complex = described
    full_shape = _shape(full)
    if full_shape == shape or np.ndim(c) == 0:
        if full_shape != shape:
            c = c * _summed_count(full_shape, shape)
        if not is_complex and np.iscomplexobj(c):
            c = np.real(c)
        return c
    return _unbroadcast_to(np.broadcast_to(c, full_shape), shape, is_complex)


def compact_unbroadcast_transpose(g, c, full, x):
    """Return the transpose of `compact_unbroadcast(c, full, x)` in `c`,
    applied to `g`, the cotangent of its result; it takes the same branch.
    """
    described = _shape_and_kind_of(x)
    if described is None:
        return unbroadcast(broadcast_to_like(g, expand(c, full)), c)
    shape = described[0]
    full_shape = _shape(full)
    if full_shape == shape or np.ndim(c) == 0:
        if full_shape != shape:
            g = g * _summed_count(full_shape, shape)
        return unbroadcast(g, c)
    return unbroadcast(np.broadcast_to(g, full_shape), c)


def extremum_adjoint(g, x, ans, axis=None, keepdims=False):
    """Adjoint of max or min: `g` split evenly among the tied extrema."""
    ans = _restore_reduced(ans, x, axis, keepdims)
    g = _restore_reduced(g, x, axis, keepdims)
    mask = np.asarray(x) == ans
    count = np.sum(mask, axis=_normalize_axes(axis, np.ndim(x)), keepdims=True)
    return g * mask / count


# Elementwise helpers ---------------------------------------------------------

def balanced_eq(x, ans, y, y_varies=True):
    """Return the weight of `x` in max(x, y) or min(x, y).

    It is 1 where x is the result and 0 where y is. A tie gets 0.5 when y
    varies too. Against a constant y it gets 0, so that maximum(x, 0.0) has
    derivative 0 at 0, as relu does.
    """
    # Compare a list or tuple operand as the array NumPy made of it,
    # because == on two containers compares them as a whole.
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if isinstance(y, (list, tuple)):
        y = np.asarray(y)
    if y_varies:
        # One in the dtype of ans keeps a float32 weight float32.
        one = np.ones((), _real_float_dtype(ans))
        return (x == ans) / (one + (x == y))
    return (x == ans) & (x != y)


def _real_float_dtype(*values):
    """Return the dtype of the arrays of `values` when it is a real float
    dtype, else float64. A Python float gives float64 as its array does."""
    dtype = np.result_type(*[np.asarray(v).dtype for v in values])
    return dtype if dtype.kind == 'f' else np.dtype(np.float64)


def pow_exponent_adjoint(g, x, ans, exponent):
    """Adjoint of the exponent in `ans = x ** exponent`: g * ans * log(x).

    At x == 0 it is the limit of x**y * log(x) as x goes to 0 from above:
    0 where ans is 0 (y > 0), and -inf where ans is 1 or inf (y <= 0),
    where x**y jumps. For negative real x the logarithm is undefined and
    the result is NaN. Where g is zero the result is 0, so an exponent that
    carries no derivative gives 0. The value does not read `exponent`, but
    the rules of this helper do (see adcompiler.rules.runtime).
    """
    x = np.asarray(x)
    with np.errstate(invalid='ignore'):
        log_x = np.log(np.where(x == 0, 1, x))
        # At x == 0, ans * log(1) is already 0 where ans is 0.
        jumps = (x == 0) & (np.asarray(ans) != 0)
        product = np.where(jumps, -np.inf, ans * log_x)
        return np.where(np.asarray(g) == 0, 0.0, g * product)


def pow_base_adjoint(g, x, exponent, power=None):
    """Adjoint of the base x in `x ** exponent`: g * y * x**(y - 1), with 0
    where g == 0 or y == 0.

    `power` is np.power or np.float_power for the NumPy functions, and None
    for `**`. The optimizer writes a call with a number for the exponent as
    that product (see adcompiler.optimize). The rules of this helper give
    the second derivatives in the exponent too: at y == 0 the derivative of
    y * x**(y - 1) in y is 1 / x. A zero g or tangent gives 0, also where
    x**(y - 2) is infinite at x == 0.
    """
    lowered = np.where(exponent, exponent - 1, 1.0)
    with np.errstate(divide='ignore', invalid='ignore'):
        if power is None:
            partial = exponent * x ** lowered
        else:
            partial = exponent * power(x, lowered)
        # [()] makes a 0-d result a NumPy scalar, as the product would be.
        return np.where(np.asarray(g) == 0, 0.0, g * partial)[()]


def pow_base_partial(v, x, exponent):
    """Return v * x**(y - 1) * (1 + y * log(x)), the derivative of
    x**y * log(x) in x and of y * x**(y - 1) in y, and 0 where v == 0.

    At x == 0 it is the limit from above: 0 for y > 1, -inf for
    0 < y <= 1 and inf for y <= 0, times the sign of v.
    """
    x = np.asarray(x)
    with np.errstate(divide='ignore', invalid='ignore'):
        safe = np.where(x == 0, 1, x)
        partial = (np.power(safe, exponent - 1.0)
                   * (1.0 + exponent * np.log(safe)))
        at_zero = np.where(exponent > 1, 0.0,
                           np.where(exponent > 0, -np.inf, np.inf))
        return np.where(np.asarray(v) == 0, 0.0,
                        v * np.where(x == 0, at_zero, partial))


def pow_log_squared(v, x, power):
    """Return v * power * log(x)**2, the derivative of v * power * log(x)
    in the exponent of power = x**y, and 0 where v == 0.

    At x == 0 it is the limit from above: 0 where power is 0 (y > 0), and
    inf where power is 1 or inf (y <= 0).
    """
    x = np.asarray(x)
    with np.errstate(invalid='ignore'):
        log_x = np.log(np.where(x == 0, 1, x))
        at_zero = np.where(np.asarray(power) == 0, 0.0, np.inf)
        product = np.where(x == 0, at_zero, power * log_x * log_x)
        return np.where(np.asarray(v) == 0, 0.0, v * product)


def log_of_base(base):
    """Natural logarithm of a logarithm's base; None means base e."""
    return 1.0 if base is None else np.log(base)


# Float scalars ---------------------------------------------------------------
# The optimizer calls these in adjoints in place of NumPy functions of values
# known to be Python floats or np.float64 scalars (see adcompiler.scalars).
# On a scalar, float_cos took 74 ns and np.cos 157 ns (timeit, Python 3.11,
# NumPy 2.4, on a 2-core AMD EPYC). Its float result also keeps the
# arithmetic that follows on Python floats.

def _float_function(math_function, numpy_function):
    """Return a function of a float scalar that calls `math_function`, or
    `numpy_function` where that raises (out of the domain, or an overflow),
    so that the result is NumPy's NaN or infinity, with NumPy's warning."""
    def function(x):
        try:
            return math_function(x)
        except (ValueError, OverflowError):
            return numpy_function(x)

    function.__name__ = function.__qualname__ = \
        f'float_{numpy_function.__name__}'
    function.__doc__ = (f'Return np.{numpy_function.__name__}(x) of a float '
                        f'scalar x, computed by math.{math_function.__name__}.')
    return function


float_sin = _float_function(math.sin, np.sin)
float_cos = _float_function(math.cos, np.cos)
float_sinh = _float_function(math.sinh, np.sinh)
float_cosh = _float_function(math.cosh, np.cosh)
float_exp = _float_function(math.exp, np.exp)
float_log = _float_function(math.log, np.log)
float_sqrt = _float_function(math.sqrt, np.sqrt)


# Products --------------------------------------------------------------------
# The matmul adjoints return the adjoint of their operand with its shape and
# kind: they unbroadcast the stack dimensions themselves, so the matmul rules
# need no `ad.unbroadcast` around them. For two matrices, the common case,
# the product already has the operand's shape and no call is made.

def _matrices(x, y):
    """True when `x` and `y` are both 2-D arrays (checked without np.ndim,
    which costs more than a small product's adjoint)."""
    return (type(x) is np.ndarray and type(y) is np.ndarray
            and x.ndim == 2 and y.ndim == 2)


def _with_shape_of(d, x):
    """Return `unbroadcast(d, x)` for an array `x`, without the call when
    `d` already has the shape and kind of `x`."""
    if d.shape == x.shape and (d.dtype.kind != 'c' or x.dtype.kind == 'c'):
        return d
    return unbroadcast(d, x)


def _matrix_operand(g, x, y):
    """Return which operand of `x @ y` is a matrix when the other is a
    vector: 'x', 'y', or None for other operands. `g` must be a vector of
    the product's length, as the cotangent of a first derivative is."""
    if not (type(x) is np.ndarray and type(y) is np.ndarray
            and type(g) is np.ndarray and g.ndim == 1):
        return None
    if x.ndim == 2 and y.ndim == 1 and g.shape[0] == x.shape[0]:
        return 'x'
    if x.ndim == 1 and y.ndim == 2 and g.shape[0] == y.shape[1]:
        return 'y'
    return None


def matmul_adjoint_x(g, x, y):
    """Adjoint of `x` in `x @ y` for vectors, matrices and stacks of them,
    with the shape and kind of `x`."""
    if _matrices(x, y):
        return _with_shape_of(g @ y.T, x)
    matrix = _matrix_operand(g, x, y)
    if matrix == 'x':
        return _with_shape_of(g[:, None] * y, x)  # The outer product.
    if matrix == 'y':
        return _with_shape_of(y @ g, x)
    return unbroadcast(matmul_stacked_adjoint_a(g, y, x, y), x)


def matmul_adjoint_y(g, x, y):
    """Adjoint of `y` in `x @ y` for vectors, matrices and stacks of them,
    with the shape and kind of `y`."""
    if _matrices(x, y):
        return _with_shape_of(x.T @ g, y)
    matrix = _matrix_operand(g, x, y)
    if matrix == 'x':
        return _with_shape_of(g @ x, y)
    if matrix == 'y':
        return _with_shape_of(x[:, None] * g, y)  # The outer product.
    return unbroadcast(matmul_stacked_adjoint_b(g, x, x, y), y)


# Second derivatives multiply the cotangents of the matmul adjoints by the
# factors again. A cotangent then stands for x or y, and the adjoints of
# matmul_stacked below give it the stack of the product in front. Where x
# is a vector, a (3,) x and a stack y of shape (2, 3, 3) give a (2, 3)
# stacked cotangent for x, which np.matmul would take for a matrix. The helpers below take the roles from x and y instead. In
# matmul_stacked(a, b, x, y), `a` stands for x and `b` for y, each with any
# stack dimensions in front. Where x or y is 1-D, the last axis of the
# operand that stands for it is a vector.

def _matmul_vectors(x, y):
    """Return whether x and whether y is a vector in `x @ y`."""
    return np.ndim(x) == 1, np.ndim(y) == 1


def _as_row(a, vector):
    """Return the vector `a` as a stack of 1-by-n matrices, else `a`."""
    return np.expand_dims(a, -2) if vector else a


def _as_column(b, vector):
    """Return the vector `b` as a stack of n-by-1 matrices, else `b`."""
    return np.expand_dims(b, -1) if vector else b


def _product_as_matrix(g, x_vector, y_vector):
    """Return `g`, a product of the roles of x and y, as a stack of matrices."""
    if y_vector:
        g = np.expand_dims(g, -1)
    return np.expand_dims(g, -2) if x_vector else g


def matmul_stacked(a, b, x, y):
    """Return `a @ b`, where `a` stands for x and `b` for y in `x @ y`."""
    x_vector, y_vector = _matmul_vectors(x, y)
    product = np.matmul(_as_row(a, x_vector), _as_column(b, y_vector))
    vector_axes = (-2,) * x_vector + (-1,) * y_vector
    return np.squeeze(product, axis=vector_axes) if vector_axes else product


def matmul_stacked_adjoint_a(g, b, x, y):
    """Adjoint of `a` in `matmul_stacked(a, b, x, y)`, with the stack of `g`."""
    x_vector, y_vector = _matmul_vectors(x, y)
    result = np.matmul(_product_as_matrix(g, x_vector, y_vector),
                       np.swapaxes(_as_column(b, y_vector), -1, -2))
    return result[..., 0, :] if x_vector else result


def matmul_stacked_adjoint_b(g, a, x, y):
    """Adjoint of `b` in `matmul_stacked(a, b, x, y)`, with the stack of `g`."""
    x_vector, y_vector = _matmul_vectors(x, y)
    result = np.matmul(np.swapaxes(_as_row(a, x_vector), -1, -2),
                       _product_as_matrix(g, x_vector, y_vector))
    return result[..., 0] if y_vector else result


def dot_adjoint_x(g, x, y):
    """Adjoint of `x` in `np.dot(x, y)`.

    np.dot sums over the last axis of x and the second-to-last axis of y, or
    the only axis of a vector y. The axes of `g` are the other axes of x,
    followed by the other axes of y.
    """
    if np.ndim(x) == 0 or np.ndim(y) == 0:
        return unbroadcast(g * y, x)
    if np.ndim(y) == 1:
        return np.multiply.outer(g, y)
    y_axes = [a for a in range(np.ndim(y)) if a != np.ndim(y) - 2]
    g_axes = list(range(np.ndim(x) - 1, np.ndim(g)))
    return np.tensordot(g, y, axes=(g_axes, y_axes))


def dot_adjoint_y(g, x, y):
    """Adjoint of `y` in `np.dot(x, y)`, with the axes of `dot_adjoint_x`."""
    if np.ndim(x) == 0 or np.ndim(y) == 0:
        return unbroadcast(g * x, y)
    x_axes = list(range(np.ndim(x) - 1))
    result = np.tensordot(x, g, axes=(x_axes, x_axes))
    return result if np.ndim(y) == 1 else np.moveaxis(result, 0, -2)


def transpose_adjoint(g, axes=None):
    """Adjoint of `np.transpose(x, axes)` and of `x.transpose(*axes)`."""
    if isinstance(axes, tuple) and len(axes) == 1 and not isinstance(
            axes[0], (int, np.integer)):
        axes = axes[0]  # x.transpose((1, 0)) or x.transpose(None)
    if axes is None or len(axes) == 0:
        return np.transpose(g)
    return np.transpose(g, np.argsort(np.mod(axes, np.ndim(g))))


# Selection -------------------------------------------------------------------

def arange_weights(ans, stop):
    """Return the derivatives of ans = np.arange(start, stop, step) =
    start + i * step in start and in step, one entry per sample.

    When stop is None, the call had one positional argument, which NumPy
    reads as stop and counts from 0: that argument gets weight zero.
    """
    count = np.shape(ans)[0]
    positions = np.arange(count, dtype=float)
    if stop is None:
        return np.zeros(count), positions
    return np.ones(count), positions


def clip_weights(x, a_min, a_max):
    """Weights of x, a_min and a_max in `np.clip(x, a_min, a_max)`.

    np.clip is `minimum(maximum(x, a_min), a_max)`, with None for no bound.
    A bound gets the adjoint where it is the result. At a tie, x gets it.
    """
    x = np.asarray(x)
    low = x if a_min is None else np.maximum(x, a_min)
    above = np.zeros(np.shape(low), bool) if a_max is None else low > a_max
    below = np.zeros(x.shape, bool) if a_min is None else x < a_min
    return ~below & ~above, below & ~above, above


# User rules ------------------------------------------------------------------

def check_cotangents(cotangents, count, name):
    """Check that a user VJP returned one cotangent per positional argument."""
    if count == 1 and not isinstance(cotangents, (tuple, list)):
        return (cotangents,)  # One argument: a bare cotangent is accepted.
    if not isinstance(cotangents, (tuple, list)) or len(cotangents) != count:
        noun = 'cotangent' if count == 1 else 'cotangents'
        raise _rule_result_error(
            f'the VJP registered for {name} must return a tuple of {count} '
            f'{noun} (one per positional argument, None for no '
            f'gradient), but returned {cotangents!r}')
    return cotangents


_ARRAY_LIKE_LEAVES = (np.ndarray, np.generic, int, float, complex)


def full_cotangent(c, output):
    """Return the cotangent `c` of an array or number `output` with the
    shape of `output`, as a user's VJP rule receives it.

    adcompiler's own adjoints may be compact (the scalar adjoint of the
    input of np.sum), but a user's rule may rely on the full shape, and it
    must return cotangents of its arguments' shapes. The result is a new
    writable array where `c` was compact. None and containers are
    returned as they are.
    """
    if c is None or isinstance(c, (list, tuple, dict)) or not isinstance(
            output, _ARRAY_LIKE_LEAVES):
        return c
    shape = np.shape(output)
    if np.shape(c) == shape:
        return c
    return np.array(np.broadcast_to(c, shape))


def rule_cotangent(c, x, rule, argument):
    """Return the cotangent `c` that a user's VJP `rule` returned for the
    argument `x`, after checking that it has the shape of `x`.

    `argument` names the argument in the error, such as "argument 0 (y)".
    A complex `c` for a real `x` keeps its real part, as in `unbroadcast`.
    The cotangent of a list, tuple, dict or other object goes through
    `unbroadcast` unchecked.
    """
    if c is None:
        return None
    if isinstance(x, _ARRAY_LIKE_LEAVES) and not isinstance(x, bool):
        problem = _leaf_result_problem(c, x, complex_allowed=True)
        if problem is not None:
            raise _rule_result_error(
                f'the VJP rule {rule} returned {problem} as the cotangent '
                f'of {argument}, whose shape is {np.shape(x)}. A cotangent '
                'must be a float array of the shape of its argument, or '
                'None for a zero gradient')
    return unbroadcast(c, x)


def rule_tangent(tangent, output, rule):
    """Return the `tangent` that a user's JVP `rule` returned for its
    `output`, after checking that it has the shape of `output`.

    A tuple or list output takes a tuple or list of tangents of the same
    length, checked item by item. Tangents of other objects (dicts,
    dataclasses) are returned unchecked.
    """
    if tangent is None:
        # The code that reads the tangent needs a value, not a symbolic zero.
        return zeros_like(output)
    problem = _tangent_problem(tangent, output)
    if problem is not None:
        raise _rule_result_error(
            f'the JVP rule {rule} returned {problem}. A tangent must be a '
            'float array of the shape of the output (complex only for a '
            'complex output), or None for a zero tangent')
    return tangent


def _tangent_problem(t, ans, where=''):
    """Describe how the tangent `t` does not fit the output `ans`, or
    return None when it fits."""
    if t is None:
        return None
    if isinstance(ans, _ARRAY_LIKE_LEAVES) and not isinstance(ans, bool):
        problem = _leaf_result_problem(t, ans, complex_allowed=False)
        if problem is None:
            return None
        return (f'{problem} as the tangent of the output{where}, whose '
                f'shape is {np.shape(ans)}')
    if isinstance(ans, (tuple, list)) and isinstance(t, (tuple, list)):
        if len(t) != len(ans):
            return (f'{len(t)} tangents for the output{where}, a '
                    f'{type(ans).__name__} of {len(ans)} items')
        for position, (item, output) in enumerate(zip(t, ans, strict=True)):
            problem = _tangent_problem(item, output, f'{where}[{position}]')
            if problem is not None:
                return problem
    return None


def _leaf_result_problem(result, primal, complex_allowed):
    """Describe how a rule's `result` does not fit the array or number
    `primal`, or return None when it has its shape and a numeric dtype.

    A complex `result` for a real `primal` fits only when
    `complex_allowed`.
    """
    if not isinstance(result, _ARRAY_LIKE_LEAVES) or isinstance(result, bool):
        return f'a {type(result).__name__}'
    dtype = np.result_type(result)
    if dtype.kind not in 'iufc':
        return f'an array of dtype {dtype}'
    if np.shape(result) != np.shape(primal):
        return f'a value of shape {np.shape(result)}'
    if dtype.kind == 'c' and not complex_allowed and \
            not np.iscomplexobj(primal):
        return 'a complex value'
    return None


# In-place updates ------------------------------------------------------------

def copy(x):
    """Return a copy of an array, list or dict that can be updated in place
    (a shallow one: `x[i] = v` rebinds an item of a list or dict)."""
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, list):
        return list(x)
    if isinstance(x, dict):
        return x.copy()
    return x


def write_back(original, copied):
    """Give the caller's list, dict or set `original` the contents of
    `copied`, the copy that the generated code updated in its place.

    Arrays are left as they are: an array argument that the function
    writes into keeps the caller's values.
    """
    if copied is original:
        return
    if isinstance(original, list) and isinstance(copied, list):
        original[:] = copied
    elif isinstance(original, dict) and isinstance(copied, dict):
        original.clear()
        original.update(copied)
    elif isinstance(original, set) and isinstance(copied, set):
        original.clear()
        original.update(copied)


def snapshot(x, memo=None):
    """Return a copy of `x` that no later update of `x` changes: arrays are
    copied, and lists, tuples and dicts are rebuilt with their items
    copied the same way. Other objects are returned as they are. An object
    reached twice gets one copy, so a record of saved values keeps the
    identities its adjoint relies on (a view, though, becomes an array of
    its own)."""
    if memo is None:
        memo = {}
    if id(x) in memo:
        return memo[id(x)]
    if isinstance(x, np.ndarray):
        copied = x.copy()
    elif isinstance(x, list):
        copied = []
        memo[id(x)] = copied
        copied.extend(snapshot(item, memo) for item in x)
    elif type(x) is tuple:
        copied = tuple(snapshot(item, memo) for item in x)
    elif isinstance(x, dict):
        copied = {}
        memo[id(x)] = copied
        copied.update((key, snapshot(item, memo)) for key, item in x.items())
    else:
        copied = x
    memo[id(x)] = copied
    return copied


def written_adjoint(g, x, index, v):
    """Adjoint of v in `x[index] = v`, given the adjoint g of the new x.

    Only the entries that the write kept get an adjoint: an integer array
    index that repeats a position keeps the last value written there, and an
    integer array truncates (a zero derivative).
    """
    if isinstance(x, np.ndarray) and not np.issubdtype(x.dtype, np.inexact):
        return zeros_like(v)
    part = g[index]
    if isinstance(x, np.ndarray) and _has_array_index(index):
        region = np.shape(x[index])
        order = np.arange(int(np.prod(region))).reshape(region)
        last = np.full(x.shape, -1)
        last[index] = order
        part = part * (last[index] == order)
    return unbroadcast(part, v)


def zero_index(g, index):
    """Return a copy of adjoint `g` with `g[index]` set to zero.

    For an entry of a dict or a list the zero is None: `d[key] = v` rebinds
    the entry, and v may have another shape than the value it replaces.
    """
    if isinstance(g, dict):
        result = dict(g)
        if index in result:
            result[index] = None
        return result
    if isinstance(g, (list, tuple)):
        result = list(g)
        if isinstance(index, (int, np.integer)):
            result[index] = None
        else:
            result[index] = zeros_like(result[index])
        return _rebuild(g, result)
    result = np.array(g, dtype=np.result_type(g, float))
    result[index] = 0
    return result


# Containers ------------------------------------------------------------------

def element(value, error):
    """Return `value`, a part of an array updated in place; raise `error`
    if it is a view of the array rather than an element."""
    if isinstance(value, np.ndarray) and value.base is not None:
        raise error
    return value


def reversed_range(trips):
    """Return the iterations of a loop that ran `trips` times, last first."""
    return range(trips - 1, -1, -1)


def length(x):
    """len(x), under a name that a user's local variable cannot shadow."""
    return len(x)


# Patterns of match statements and starred targets ----------------------------

# The type flags that CPython's match statement tests (Py_TPFLAGS_SEQUENCE
# and Py_TPFLAGS_MAPPING, Python 3.10 and later). Registering a class with
# collections.abc.Sequence or Mapping sets them, and str, bytes and
# bytearray do not have the sequence flag.
_SEQUENCE_FLAG = 1 << 5
_MAPPING_FLAG = 1 << 6


def is_match_sequence(subject):
    """Return True if a sequence pattern (`case [a, b]:`) may match `subject`.

    An ndarray is no registered sequence, so such a pattern never matches
    it, as in Python.
    """
    return bool(type(subject).__flags__ & _SEQUENCE_FLAG)


def is_match_mapping(subject):
    """Return True if a mapping pattern (`case {"w": w}:`) may match `subject`."""
    return bool(type(subject).__flags__ & _MAPPING_FLAG)


# The result of match_attribute for a missing attribute, and the default
# of a mapping pattern's get(key, NOT_FOUND) for a missing key.
NOT_FOUND = object()


def match_attribute(subject, name):
    """Return `subject.name`, or NOT_FOUND when it is missing.

    A class pattern reads each attribute once this way, as Python's match
    statement does with getattr.
    """
    return getattr(subject, name, NOT_FOUND)


def match_argument(cls, index, count):
    """Return the attribute that positional subpattern `index` of a class
    pattern `cls(p0, ..., p{count - 1})` matches.

    It reads `cls.__match_args__` when the match runs, and raises Python's
    TypeError when it is not a tuple of enough strings.
    """
    names = getattr(cls, '__match_args__', ())
    if not isinstance(names, tuple):
        raise TypeError(f'{cls.__name__}.__match_args__ must be a tuple '
                        f'(got {type(names).__name__})')
    if len(names) < count:
        raise TypeError(f'{cls.__name__}() accepts {len(names)} positional '
                        f'sub-pattern{"" if len(names) == 1 else "s"} '
                        f'({count} given)')
    name = names[index]
    if not isinstance(name, str):
        raise TypeError(f'__match_args__ elements must be strings (got '
                        f'{type(name).__name__})')
    return name


def check_unpack_length(items, least):
    """Raise the ValueError of `a, *rest, b = items` when `items` has fewer
    than `least` values, as Python's unpacking does."""
    if len(items) < least:
        raise ValueError(f'not enough values to unpack (expected at least '
                         f'{least}, got {len(items)})')


_MISSING = object()  # A key that a dict did not have before a write.


def old_item(x, index):
    """Return what `x[index] = ...` overwrites, as a copy, to restore it later."""
    if isinstance(x, dict) and index not in x:
        return _MISSING
    return copy(x[index])


def restore_item(x, index, old):
    """Undo `x[index] = ...` with the value `old_item` returned."""
    if old is _MISSING:
        del x[index]
    else:
        x[index] = old


def last_adjoint(g, v):
    """Adjoint of v in `lst.append(v)`: the last entry of the list's adjoint."""
    return unbroadcast(g[-1], v) if g[-1] is not None else None


def tail_adjoint(g, seq):
    """Adjoint of seq in `lst.extend(seq)`: the last len(seq) entries."""
    tail = list(g[len(g) - len(seq):])
    tail = [zeros_like(item) if a is None else a for a, item in
            zip(tail, seq, strict=True)]
    if isinstance(seq, np.ndarray):
        return np.array(tail)
    return _rebuild(seq, tail) if isinstance(seq, (list, tuple)) else tail


def drop_last(g, count):
    """Return the adjoint list `g` without its last `count` entries."""
    return g[:len(g) - count]


def remove_last(x, count):
    """Remove the last `count` entries of list `x` in place (undo an append)."""
    del x[len(x) - count:]


# Containers --------------------------------------------------------------------

def _no_containers(value):
    return None


# flatten(value) -> (children, rebuild) for a dataclass or registered
# container, None for anything else; adcompiler.containers installs it.
_flatten_container = _no_containers


def install_containers(flatten):
    """Set the function that takes dataclasses and registered containers
    apart; see adcompiler.containers.flatten."""
    global _flatten_container
    _flatten_container = flatten


def field_of(g, name):
    """Field `name` of the adjoint `g` of a dataclass or named tuple, where
    None means zero."""
    if g is None:
        return None
    return getattr(g, name)


def field_of_tangent(t, g, name):
    """Tangent of `field_of(g, name)` given the tangent `t` of `g`, where
    None means zero: zeros of the field's shape when only `t` is None."""
    if g is None:
        return None
    if t is None:
        return zeros_like(getattr(g, name))
    return getattr(t, name)


def entry_of(g, key):
    """Entry `key` of the adjoint `g` of a tuple or dict, such as the
    `*args` or `**kwargs` of a call, where None means zero."""
    if g is None:
        return None
    return g[key]


def attribute_adjoint(g, x, name):
    """Adjoint of `x.name` for an object `x` that is not an array: `g` in the
    child that the attribute is, or the adjoint through a property."""
    if g is None:
        return None
    return _dispatcher.attribute_adjoint(g, x, name)


def attribute_tangent(t, x, name):
    """Tangent of `x.name` given the tangent `t` of the object `x`."""
    return _dispatcher.attribute_tangent(t, x, name)


def check_field(x, name):
    """Return None, the second-order term of a field read `x.name`; raise
    for a property, whose second derivatives are not supported."""
    _dispatcher.check_field(x, name)


# Options that a rule does not differentiate ----------------------------------

# The error type the helpers raise for an option (or a kind of argument) that
# their rule does not differentiate. Importing adcompiler installs its
# UnsupportedOptionError, an AdCompilerError and a NotImplementedError.
_unsupported_error = NotImplementedError


# The error type raised when a user's rule returns a result of the wrong
# structure or shape. Importing adcompiler installs its RuleResultError, an
# AdCompilerError and a TypeError.
_rule_result_error = TypeError


def install_rule_result_error(error_type):
    """Set the error type raised for a user's rule that returns a result
    of the wrong structure or shape."""
    global _rule_result_error
    _rule_result_error = error_type


def install_unsupported_error(error_type):
    """Set the error type raised for options that a rule does not
    differentiate, because the runtime imports nothing from adcompiler."""
    global _unsupported_error
    _unsupported_error = error_type


# Calls resolved at run time ----------------------------------------------------

_dispatcher = None


def install_dispatcher(dispatcher):
    """Set the object that compiles calls known only at run time.

    The compiler installs it; the runtime imports nothing from adcompiler.
    """
    global _dispatcher
    _dispatcher = dispatcher


class GuardFailed(Exception):
    """Raised by `require_attribute` in code compiled for what an earlier
    call observed, when that observation no longer holds. The caller runs
    the general code instead."""


_ABSENT = object()


def require_attribute(receiver, name, expected):
    """Raise GuardFailed unless `receiver.name` is the object `expected`.

    Code compiled for the arguments' shapes calls `expected` where the
    source calls `receiver.name(...)`, after this check.
    """
    if getattr(receiver, name, _ABSENT) is not expected:
        raise GuardFailed(f'{name} of {receiver!r} is not {expected!r}')


def call_method(site, receiver, *args, **kwargs):
    """Run `receiver.method(...)` for a call the compiler could not resolve.

    Returns the value and a record for `call_adjoint`.
    """
    return _dispatcher.call_method(site, receiver, args, kwargs)


def call_function(site, function, *args, **kwargs):
    """Run `function(...)` held in a variable; see `call_method`."""
    return _dispatcher.call_function(site, function, args, kwargs)


def call_method_tangent(site, tangents, receiver, *args, **kwargs):
    """Run `receiver.method(...)` in forward mode for a call the compiler
    could not resolve; `tangents` has one tangent per argument in
    `site.active`. Returns the value and its tangent."""
    return _dispatcher.call_method_tangent(site, tangents, receiver, args,
                                           kwargs)


def call_function_tangent(site, tangents, function, *args, **kwargs):
    """Run `function(...)` held in a variable in forward mode; see
    `call_method_tangent`."""
    return _dispatcher.call_function_tangent(site, tangents, function, args,
                                             kwargs)


def dispatched_tangent_vjp(g, ans, site, tangents, first, *args, **kwargs):
    """Reverse rule of `call_method_tangent` and `call_function_tangent`:
    reverse mode over the callee's generated tangent function. `ans` is
    the (value, tangent) pair that the forward call returned."""
    return _dispatcher.tangent_cotangents(g, site, tangents, first, args,
                                          kwargs, value=ans[0])


def call_unpacking(site, first, *arguments):
    """Run `first(...)`, or the method `first.<site.method>(...)`, at a call
    with `*seq` or `**mapping`; each of `arguments` is the site's argument,
    the sequences and mappings whole."""
    return _dispatcher.call_unpacking(site, first, arguments)


def call_unpacking_tangent(site, tangents, first, *arguments):
    """Run a call with `*seq` or `**mapping` in forward mode; see
    `call_unpacking` and `call_method_tangent`."""
    return _dispatcher.call_unpacking_tangent(site, tangents, first,
                                              arguments)


def call_adjoint(record, g):
    """Cotangents of a dispatched call's active arguments, in order."""
    return _dispatcher.adjoint(record, g)


# Forward rules of the three helpers above, for forward mode over generated
# adjoint code (Hessians): `tangents` has one entry per positional argument.

def call_method_jvp(tangents, ans, site, receiver, *args, **kwargs):
    """Tangent of `call_method(...)`: that of the value and of the record."""
    return _dispatcher.primal_tangent(tangents[1:], ans, site, receiver,
                                      args, kwargs, method=True)


def call_function_jvp(tangents, ans, site, function, *args, **kwargs):
    """Tangent of `call_function(...)`; see `call_method_jvp`."""
    return _dispatcher.primal_tangent(tangents[1:], ans, site, function,
                                      args, kwargs, method=False)


def call_unpacking_jvp(tangents, ans, site, first, *arguments):
    """Tangent of `call_unpacking(...)`: that of the value and of the
    record."""
    return _dispatcher.unpacking_primal_tangent(tangents[1:], ans, site,
                                                first, arguments)


def unpacking_tangent_vjp(g, ans, site, tangents, first, *arguments):
    """Reverse rule of `call_unpacking_tangent`: reverse mode over the
    callee's generated tangent function; see `dispatched_tangent_vjp`."""
    return _dispatcher.unpacking_tangent_cotangents(g, site, tangents, first,
                                                    arguments, value=ans[0])


def call_adjoint_jvp(tangents, ans, record, g):
    """Tangent of `call_adjoint(record, g)`, given those of record and g."""
    return _dispatcher.adjoint_tangent(tangents, record, g)


# Reverse rules of the same helpers, for reverse mode over generated adjoint
# code (Hessians by reverse over reverse). The cotangent of a record is that
# of the values it saved.

def call_method_vjp(g, ans, site, receiver, *args, **kwargs):
    """Cotangents of the positional arguments of `call_method(...)`."""
    return _dispatcher.primal_cotangents(g, ans, site, receiver, args,
                                         kwargs, method=True)


def call_function_vjp(g, ans, site, function, *args, **kwargs):
    """Cotangents of the positional arguments of `call_function(...)`."""
    return _dispatcher.primal_cotangents(g, ans, site, function, args,
                                         kwargs, method=False)


def call_adjoint_vjp(c, ans, record, g):
    """Cotangents of `record` and `g` in `call_adjoint(record, g)`, given
    the cotangent `c` of its result."""
    return _dispatcher.adjoint_cotangents(c, record, g)


def inserted_position(x, index):
    """Return where `x.insert(index, v)` put v, given x after the insert."""
    size = len(x) - 1
    if index < 0:
        index = max(index + size, 0)
    return min(index, size)


def undo_insert(x, index):
    """Remove what `x.insert(index, v)` added."""
    del x[inserted_position(x, index)]


def drop_entry(g, position):
    """Return the adjoint list `g` without the entry at `position`."""
    return g[:position] + g[position + 1:]


def pad_entry(g, position):
    """Return the adjoint list `g` with None, a zero, put in at `position`:
    the transpose of `drop_entry(c, position)`."""
    return list(g[:position]) + [None] + list(g[position:])


def inserted_item(x, index):
    """Return the entry that `undo_insert(x, index)` is about to remove."""
    return x[inserted_position(x, index)]


def popped_position(x, index):
    """Return where `v = x.pop(index)` took v from, given x after the pop."""
    if isinstance(x, dict):
        return index  # The key.
    return index if index >= 0 else len(x) + 1 + index


def insert_adjoint(g, x, index, dv, v):
    """Adjoint of the list before `v = x.pop(index)`: dv put back in place.

    `g` is the adjoint of x after the pop (None for zero).
    """
    if g is None and dv is None:
        return None
    # Zeros stay None rather than zeros_like(v): v may be a list that is
    # still to change length (a tape entry holding a list that the adjoint
    # pass empties and refills), and a zero built now would keep its
    # current length.
    if isinstance(x, dict):
        result = dict(g) if g is not None else dict.fromkeys(x)
        result[index] = dv
        return result
    if g is None:
        g = [None] * len(x)
    position = popped_position(x, index)
    return list(g[:position]) + [dv] + list(g[position:])


def undo_pop(x, index, v):
    """Put back the value that `v = x.pop(index)` removed."""
    if isinstance(x, dict):
        x[index] = v
    else:
        x.insert(popped_position(x, index), v)


# Forward mode ------------------------------------------------------------------

def tangent_like(tangent, result):
    """Return `tangent` in the dtype of `result` when both are real floats
    or both complex, as grad gives each input's dtype.

    Helpers that divide by a count or build float64 weights would make
    the tangent of a float32 result float64.
    """
    dtype = getattr(result, 'dtype', None)
    current = getattr(tangent, 'dtype', None)
    if (dtype is None or current is None or current == dtype
            or dtype.kind not in 'fc' or current.kind != dtype.kind):
        return tangent
    return tangent.astype(dtype)


def extremum_tangent(t, x, ans, axis=None, keepdims=False):
    """Tangent of max or min: the mean of the tangents at the tied extrema."""
    mask = np.asarray(x) == _restore_reduced(ans, x, axis, keepdims)
    axes = _normalize_axes(axis, np.ndim(x))
    count = np.sum(mask, axis=axes, keepdims=keepdims)
    return tangent_like(
        np.sum(np.asarray(t) * mask, axis=axes, keepdims=keepdims) / count,
        ans)


def transpose_axes(axes):
    """Return the axes of `x.transpose(*axes)` as np.transpose takes them."""
    if not axes:
        return None
    if len(axes) == 1 and _as_index(axes[0]) is None:
        return tuple(axes[0])
    return tuple(axes)


def broadcast_like(t, ans):
    """Broadcast a tangent to the shape of the value it belongs to."""
    if isinstance(ans, (list, tuple)) or isinstance(t, (list, tuple)):
        raise TypeError(
            'adcompiler cannot differentiate an arithmetic operation on a '
            f'{type(ans).__name__} here (for example repeating a list with '
            '*); build an array with np.array')
    shape = np.shape(ans)
    if np.shape(t) == shape:
        return t
    return np.broadcast_to(t, shape) * 1.0


def tangent_write(dx, x, index, dv):
    """Tangent of x after `x[index] = v`: a copy of dx with dv written in."""
    if isinstance(x, np.ndarray) and not np.issubdtype(x.dtype, np.inexact):
        return zeros_like(x)
    if isinstance(x, dict):
        result = dict(dx)
    elif isinstance(x, list):
        result = list(dx)
    else:
        # dv may be a list (the tangent of `x[i] = [a, b]`), which
        # np.result_type would read as a structured dtype, so convert it.
        if (isinstance(x, np.ndarray) and x.dtype.kind == 'f'
                and np.iscomplexobj(dv)):
            # NumPy stores the real part of a complex value in a real array.
            dv = np.real(dv)
        dtype = np.result_type(np.asarray(dx), np.asarray(dv), float)
        result = np.array(dx, dtype=dtype)
    result[index] = dv
    return result


def tangent_pop(dx, index):
    """Tangents of `v = x.pop(index)`: (tangent of v, tangent of the list)."""
    result = dict(dx) if isinstance(dx, dict) else list(dx)
    value = result.pop(index)
    return value, result


def tangent_pop_transpose(g, dx, index):
    """Return the cotangent of dx in `tangent_pop(dx, index)`, given the
    cotangent g = (g_v, g_rest) of its result: g_v put back into g_rest
    where the pop took the value from. None entries are zeros."""
    g_v, g_rest = (None, None) if g is None else g
    if isinstance(dx, dict):
        result = dict.fromkeys(dx)
        if g_rest is not None:
            result.update(g_rest)
        result[index] = g_v
        return result
    rest = [None] * (len(dx) - 1) if g_rest is None else list(g_rest)
    position = index if index >= 0 else len(dx) + index
    return rest[:position] + [g_v] + rest[position:]


def tangent_insert(dx, index, dv):
    """Tangent of the list after `x.insert(index, v)`."""
    result = list(dx)
    result.insert(index, dv)
    return result


def tangent_append(dx, dv):
    """Tangent of the list after `x.append(v)`."""
    return list(dx) + [dv]


def tangent_extend(dx, dseq):
    """Tangent of the list after `x.extend(seq)`."""
    return list(dx) + list(dseq)


# Elementwise and complex helpers ---------------------------------------------
# Complex convention (JAX's and autograd's): the adjoint of a complex input z
# of a real-valued function f is df/dRe(z) - 1j * df/dIm(z), twice the
# Wirtinger derivative df/dz. Holomorphic rules multiply by f'(z) without
# conjugating it.

def abs_sign(x):
    """Return the derivative of |x|: sign(x) for real x, conj(x) / |x| for
    complex x.

    Both are 0 at 0.
    """
    if not np.iscomplexobj(x):
        return np.sign(x)
    magnitude = np.abs(x)
    return np.conj(x) / np.where(magnitude == 0, 1, magnitude)


# NumPy 2.0 defines the sign of a complex z as z / |z|, which is smooth
# away from 0. NumPy 1.x gives sign(Re z) (sign(Im z) where Re z is 0) as a
# complex number, which is piecewise constant like the real sign.
_COMPLEX_SIGN_IS_SMOOTH = bool(np.sign(1j) == 1j)

_FLOAT64 = np.dtype(np.float64)


def call_into(out, function, x):
    """Return `function(x)` for a unary NumPy ufunc or `abs_sign`, computed
    in the array of `out` when `x` and `out` are float64 ndarrays of one
    shape with at least one axis; otherwise in a new array or scalar.

    The compiler passes as `out` an array that the code owns and no longer
    reads. Where `x` has no axis, `function(x)` is a NumPy scalar, which an
    `out` array would replace with a 0-d array, so `out` is not used.
    """
    if (type(x) is np.ndarray and type(out) is np.ndarray
            and x.dtype == _FLOAT64 and out.dtype == _FLOAT64 and x.ndim
            and out.shape == x.shape and out.flags.writeable):
        if function is abs_sign:
            function = np.sign  # The derivative of |x| for real x.
        return function(x, out=out)
    return function(x)


def quotient_in_divisor(c, d):
    """Return `c / d`, computed in the array of `d` when `d` is a float64
    ndarray with at least one axis and `c` is a float, a `np.float64` or a
    float64 ndarray of the shape of `d`.

    The compiler passes as `d` a new array that nothing else refers to.
    """
    if (type(d) is np.ndarray and d.dtype == _FLOAT64 and d.ndim
            and d.flags.writeable):
        kind = type(c)
        if kind is float or kind is np.float64 or (
                kind is np.ndarray and c.dtype == _FLOAT64
                and c.shape == d.shape):
            return np.divide(c, d, out=d)
    return c / d


def apply_in_place(function, *args):
    """Return `function(*args)` for a NumPy ufunc, computed in the array of
    the last argument where possible.

    That argument must be a writeable float64 ndarray with at least one
    axis, and every other argument a Python float or int, a `np.float64` or
    a float64 ndarray of its shape. Otherwise the result is a new array or
    scalar.

    The compiler passes as the last argument a new value that nothing else
    refers to. NumPy reuses such a temporary by itself only on the left of
    an operator, so `k - a` and `k / a` allocate where
    `ad.apply_in_place(np.subtract, k, a)` does not. The result is the
    same bit for bit.
    """
    out = args[-1]
    if not (type(out) is np.ndarray and out.dtype == _FLOAT64 and out.ndim
            and out.flags.writeable):
        return function(*args)
    for operand in args[:-1]:
        kind = type(operand)
        if not (kind is float or kind is np.float64 or kind is int or (
                kind is np.ndarray and operand.dtype == _FLOAT64
                and operand.shape == out.shape)):
            return function(*args)
    return function(*args, out=out)


def sign_adjoint(g, x):
    """Adjoint of np.sign(x): 0 where sign is piecewise constant (real x,
    or complex x under NumPy 1.x); for complex x under NumPy 2, sign is
    x / |x| and the adjoint is 1j * Im(sign(x) * g) / x, and 0 at 0."""
    if not np.iscomplexobj(x):
        return np.zeros(np.shape(x))
    if not _COMPLEX_SIGN_IS_SMOOTH:
        return np.zeros(np.shape(x), dtype=np.result_type(x))
    x = np.asarray(x)
    safe = np.where(x == 0, 1, x)
    turn = 1j * np.imag(np.sign(x) * np.asarray(g))
    return np.where(x == 0, 0, turn / safe)


def sign_tangent(t, x):
    """Tangent of np.sign(x): 0 for real x, and for complex x under NumPy
    1.x. For complex x under NumPy 2, sign(x) = x / |x| turns by
    1j * sign(x) * Im(conj(sign(x)) t) / |x|, and 0 at 0."""
    if not np.iscomplexobj(x) and not np.iscomplexobj(t):
        return np.zeros(np.broadcast_shapes(np.shape(x), np.shape(t)),
                        dtype=_real_float_dtype(x, t))
    if not _COMPLEX_SIGN_IS_SMOOTH:
        return np.zeros(np.broadcast_shapes(np.shape(x), np.shape(t)),
                        dtype=np.result_type(x, t))
    x = np.asarray(x)
    sign = np.sign(x)
    magnitude = np.where(x == 0, 1.0, np.abs(x))
    return np.where(x == 0, 0, 1j * np.imag(np.conj(sign) * t) * sign
                    / magnitude)


def real_if_close_tangent(t, ans):
    """Tangent of np.real_if_close(a) = ans: real where the result is."""
    return t if np.iscomplexobj(ans) else np.real(t)


def hypot_partial(x, ans):
    """Return x / ans, the partial derivative of ans = hypot(x, y) in x,
    with 0 where ans is 0, as np.linalg.norm of a zero vector has."""
    zero = np.asarray(ans) == 0
    partial = np.where(zero, 0.0, x / np.where(zero, 1.0, ans))
    return partial[()] if np.ndim(partial) == 0 else partial


def store_container(container, error):
    """Return `container`, of the store `container[key] = value` that
    generated code keeps as written, for a container that a global or an
    attribute holds.

    Raises `error` for an ndarray or a view into one (`a.flat`, an object
    with `__array__`): the store would change the array in place, and an
    adjoint may read it after the store.
    """
    if isinstance(container, (np.ndarray, np.flatiter)) or hasattr(
            container, '__array__') or hasattr(container,
                                               '__array_interface__'):
        raise error
    return container


def store_item_container(container, key, array_error, item_error):
    """Return `container` of the store `container[key] = value` that
    generated code keeps as written, for a container that an attribute of
    a local variable or an argument holds.

    Raises `array_error` as `store_container` does, and `item_error` when
    the store replaces an item that may carry a derivative. The derivative
    of the object that contains the container is built from its items
    before the store, so a later read of that key would get the derivative
    of the replaced item. A store under a new key replaces nothing.
    """
    store_container(container, array_error)
    try:
        old = container[key]
    except (KeyError, IndexError, TypeError):
        return container
    if may_carry_derivative(old):
        raise item_error
    return container


def may_carry_derivative(value):
    """Return whether `value` is, or contains, a float, a complex number
    or an array of an inexact dtype. Ints, bools, strings, None and integer
    arrays have no derivative. Searches lists, tuples, sets, dicts and the
    attributes of objects, each once."""
    pending = [value]
    searched = set()
    while pending:
        current = pending.pop()
        if isinstance(current, (float, complex, np.inexact)):
            return True
        if isinstance(current, np.ndarray):
            if np.issubdtype(current.dtype, np.inexact):
                return True
            if current.dtype.hasobject:
                pending.extend(current.flat)
            continue
        if isinstance(current, UNSEARCHED_TYPES) or id(current) in searched:
            continue
        searched.add(id(current))
        if isinstance(current, (list, tuple, set, frozenset)):
            pending.extend(current)
        elif isinstance(current, dict):
            pending.extend(current.values())
        else:
            pending.extend(_attribute_values(current))
    return False


def hypot_items(items):
    """Return math.hypot(*items).

    Normalize rewrites a call of math.hypot with other than two arguments
    to this function, because a rule takes a fixed number of arguments.
    """
    return math.hypot(*items)


def hypot_items_adjoint(g, items, ans):
    """Adjoint of items in ans = hypot_items(items): g * item / ans for
    each item, 0 where ans is 0."""
    return _items_like(items, [g * hypot_partial(item, ans)
                               for item in items])


def hypot_items_tangent(t, items, ans):
    """Tangent of ans = hypot_items(items) along the tangents t of the
    items: the sum of each tangent times item / ans."""
    total = 0.0
    for item, tangent in zip(items, t, strict=True):
        if tangent is not None:
            total = total + tangent * hypot_partial(item, ans)
    return total


def sinc_derivative(x):
    """d/dx sinc(x) = (cos(pi x) - sinc(x)) / x, from its series near 0."""
    x = np.asarray(x)
    small = np.abs(x) < 1e-3
    safe = np.where(small, 1.0, x)
    series = -np.pi ** 2 * x / 3.0 + np.pi ** 4 * x ** 3 / 30.0
    quotient = (np.cos(np.pi * safe) - np.sinc(safe)) / safe
    return np.where(small, series, quotient)


def angle_adjoint(g, z, deg=False):
    """Adjoint of np.angle(z): g * -1j / z, and 0 at z = 0.

    For real z the reverse stage keeps the real part, which is 0: the angle
    of a real number is piecewise constant.
    """
    z = np.asarray(z)
    safe = np.where(z == 0, 1, z)
    result = np.where(z == 0, 0, -1j * np.asarray(g) / safe)
    return result * (180.0 / np.pi) if deg else result


def astype_adjoint(g, x, dtype):
    """Adjoint of x.astype(dtype): zero for integer and boolean dtypes, and
    the real part when a real x was cast to a complex dtype."""
    if not np.issubdtype(np.dtype(dtype), np.inexact):
        _require_numeric_dtype(dtype)
        return np.zeros(np.shape(g))
    if np.iscomplexobj(g) and not np.iscomplexobj(x):
        return np.real(g)
    return g


def astype_tangent(t, dtype):
    """Tangent of x.astype(dtype): zero for integer and boolean dtypes, the
    real part for a real dtype, and t in the dtype otherwise."""
    if not np.issubdtype(np.dtype(dtype), np.inexact):
        _require_numeric_dtype(dtype)
        return np.zeros(np.shape(t))
    if np.iscomplexobj(t) and not np.issubdtype(np.dtype(dtype),
                                                np.complexfloating):
        t = np.real(t)
    return np.asarray(t).astype(dtype)


def logsumexp_weights(a, ans, axis=None, b=None, keepdims=False):
    """Return exp(a - ans) over the shape of a (broadcast with b): the
    derivative of ans = logsumexp(a, axis, b=b, keepdims=keepdims) with
    respect to b, and, times b, with respect to a.

    The shift by ans keeps it finite where the sum of exponentials
    underflows or overflows.
    """
    a = np.asarray(a)
    shape = a.shape if b is None else np.broadcast_shapes(a.shape,
                                                          np.shape(b))
    restored = ans if keepdims else np.expand_dims(
        ans, _normalize_axes(axis, len(shape)) or ())
    with np.errstate(under='ignore'):
        return np.exp(np.broadcast_to(a, shape) - restored)


def logsumexp_adjoints(g, a, ans, axis=None, b=None, keepdims=False,
                       return_sign=False):
    """Adjoints of a and b in ans = scipy.special.logsumexp(a, axis, b,
    keepdims): g times the (weighted) softmax weights."""
    _check_logsumexp_sign(return_sign)
    weights = logsumexp_weights(a, ans, axis, b, keepdims)
    g = _restore_reduced(g, weights, axis, keepdims)
    if b is None:
        return unbroadcast(g * weights, a), None
    return (unbroadcast(g * weights * b, a),
            unbroadcast(g * weights, b))


def logsumexp_tangent(t_a, t_b, a, ans, axis=None, b=None, keepdims=False,
                      return_sign=False):
    """Tangent of ans = scipy.special.logsumexp(a, axis, b, keepdims) along
    the tangents t_a of a and t_b of b (either may be None)."""
    _check_logsumexp_sign(return_sign)
    weights = logsumexp_weights(a, ans, axis, b, keepdims)
    total = 0.0
    if t_a is not None:
        total = total + weights * t_a * (1.0 if b is None else b)
    if t_b is not None:
        total = total + weights * t_b
    axes = _normalize_axes(axis, np.ndim(weights))
    return np.sum(total, axis=axes, keepdims=keepdims)


def _check_logsumexp_sign(return_sign):
    if return_sign:
        raise _unsupported_error(
            'adcompiler differentiates scipy.special.logsumexp with '
            'return_sign=False only')


def _check_nan_to_num_copy(copy):
    if not copy:
        raise _unsupported_error(
            'adcompiler differentiates np.nan_to_num with copy=True only, '
            'not copy=False, which overwrites its argument')


def nan_to_num_adjoints(g, x, copy=True):
    """Adjoints of x and of the replacement values nan, posinf and neginf in
    np.nan_to_num(x, copy, nan, posinf, neginf).

    x gets g where it is finite, and each replacement value gets the sum of
    g over the entries it replaced. A complex x is replaced part by part.
    With copy=False, x is replaced in place and the positions of its
    non-finite entries are lost, so that option is rejected.
    """
    _check_nan_to_num_copy(copy)
    g = np.asarray(g)
    # Each part of x with the derivative of the loss along it: Re(g) and,
    # by the complex convention, -Im(g).
    parts = [(np.real(x), np.real(g))]
    if np.iscomplexobj(x):
        parts.append((np.imag(x), -np.imag(g)))
    kept = [np.where(np.isfinite(part), part_g, 0) for part, part_g in parts]
    d_x = kept[0] if len(kept) == 1 else kept[0] - 1j * kept[1]
    totals = [sum(np.sum(np.where(test(part), part_g, 0))
                  for part, part_g in parts)
              for test in (np.isnan, np.isposinf, np.isneginf)]
    return d_x, totals[0], totals[1], totals[2]


def nan_to_num_tangent(t, x, copy=True, replaced=None):
    """Tangent of np.nan_to_num(x, copy, ...) along the tangent t of x (with
    `replaced` None), or of the replacement value for the entries where
    `replaced` (np.isnan, np.isposinf or np.isneginf) holds. A complex x is
    replaced part by part."""
    _check_nan_to_num_copy(copy)
    parts = [(np.real(x), np.real(t))]
    if np.iscomplexobj(x):
        parts.append((np.imag(x), np.imag(t)))
    if replaced is None:
        kept = [np.where(np.isfinite(part), part_t, 0)
                for part, part_t in parts]
    else:
        kept = [np.where(replaced(part), t, 0) for part, _ in parts]
    return kept[0] if len(kept) == 1 else kept[0] + 1j * kept[1]


def tuple_entry(g, position):
    """Entry `position` of a tuple adjoint, where None means zero."""
    if g is None or g[position] is None:
        return 0.0
    return g[position]


def _field_position(x, name):
    """Return the position of the field `name` of the named tuple x."""
    fields = getattr(type(x), '_fields', None)
    if not isinstance(x, tuple) or fields is None or name not in fields:
        raise TypeError(
            f'adcompiler differentiates the attribute .{name} of a named '
            f'tuple (a NumPy result such as np.linalg.svd(a).S), not of a '
            f'{type(x).__name__}; register a rule for this attribute')
    return fields.index(name)


def field_adjoint(g, x, name):
    """Adjoint of `x.name` for a named tuple x, such as the results of
    np.linalg.eigh, svd, qr and slogdet: g in that field, zeros elsewhere."""
    return index_adjoint(g, x, _field_position(x, name))


def match_kind(d, x):
    """Return the adjoint `d` of input `x` as a complex adjoint for a complex
    x, and as a real one for a real x: a real input only moves along the
    real axis, so the imaginary part is dropped."""
    if np.iscomplexobj(d) and not np.iscomplexobj(x):
        return np.real(d)
    if np.iscomplexobj(x) and not np.iscomplexobj(d):
        return d + 0j
    return d


# Shapes and joins ------------------------------------------------------------

def rollaxis_adjoint(g, x, axis, start=0):
    """Adjoint of np.rollaxis(x, axis, start): the inverse permutation."""
    ndim = np.ndim(x)
    axis = axis % ndim
    if start < 0:
        start += ndim
    if axis < start:
        start -= 1
    order = list(range(ndim))
    order.remove(axis)
    order.insert(start, axis)
    return np.transpose(g, np.argsort(order))


def _sequence_like(seq, pieces):
    """Return the adjoints `pieces` of the items of `seq` as a sequence like
    `seq`."""
    pieces = [unbroadcast(piece, item) if np.shape(piece) == np.shape(item)
              else np.reshape(piece, np.shape(item))
              for piece, item in zip(pieces, seq, strict=True)]
    if isinstance(seq, (list, tuple)):
        return _rebuild(seq, pieces)
    return np.stack(pieces) if pieces else np.zeros(np.shape(seq))


def _cut(g, sizes, axis):
    """Split g along `axis` into consecutive pieces of the given sizes."""
    return np.split(g, np.cumsum(sizes)[:-1], axis=axis)


def _joined_adjoint(g, seq, shapes, axis):
    """Adjoint of joining the items of `seq`, reshaped to `shapes`, along
    `axis` (np.concatenate and the stack functions built on it)."""
    if axis is None:
        pieces = _cut(np.ravel(g), [int(np.prod(s)) for s in shapes], 0)
    else:
        pieces = _cut(g, [s[axis] for s in shapes], axis)
    return _sequence_like(seq, [np.reshape(p, np.shape(item))
                                for p, item in zip(pieces, seq, strict=True)])


def cast_items(adjoints, seq, dtype):
    """Adjoints of the items of `seq` through a cast to `dtype`: zeros when
    `dtype` is not inexact (see `cast_adjoint`)."""
    if dtype is None or np.issubdtype(np.dtype(dtype), np.inexact):
        return adjoints
    return zeros_like(seq)


def concatenate_adjoint(g, arrays, axis=0):
    """Adjoint of np.concatenate(arrays, axis): g cut back into the pieces."""
    return _joined_adjoint(g, arrays, [np.shape(a) for a in arrays], axis)


def stack_adjoint(g, arrays, axis=0):
    """Adjoint of np.stack(arrays, axis): the slices of g along `axis`."""
    return _sequence_like(arrays, list(np.moveaxis(g, axis, 0)))


def vstack_adjoint(g, tup):
    """Adjoint of np.vstack(tup): rows of g, per item made at least 2-D."""
    return _joined_adjoint(g, tup, [np.shape(np.atleast_2d(a)) for a in tup],
                           0)


def hstack_adjoint(g, tup):
    """Adjoint of np.hstack(tup): along axis 0 for vectors, 1 otherwise."""
    shapes = [np.shape(np.atleast_1d(a)) for a in tup]
    return _joined_adjoint(g, tup, shapes, 0 if len(shapes[0]) == 1 else 1)


def dstack_adjoint(g, tup):
    """Adjoint of np.dstack(tup): along axis 2, items made at least 3-D."""
    return _joined_adjoint(g, tup, [np.shape(np.atleast_3d(a)) for a in tup],
                           2)


def column_stack_adjoint(g, tup):
    """Adjoint of np.column_stack(tup): vectors became columns."""
    shapes = [np.shape(a) if np.ndim(a) >= 2 else
              np.shape(np.array(a, ndmin=2).T) for a in tup]
    return _joined_adjoint(g, tup, shapes, 1)


def split_adjoint(g, ans, axis=0):
    """Adjoint of np.split and its relatives: the adjoints of the pieces
    joined along `axis`, where None (or a missing piece) means zeros."""
    pieces = [zeros_like(part) if piece is None else piece
              for piece, part in zip(g, ans, strict=True)]
    return np.concatenate(pieces, axis=axis)


def append_adjoint(g, arr, values, axis=None):
    """Adjoints of arr and values in np.append(arr, values, axis)."""
    if axis is None:
        head, tail = _cut(np.ravel(g), [np.size(arr), np.size(values)], 0)
        return (np.reshape(head, np.shape(arr)),
                np.reshape(tail, np.shape(values)))
    head, tail = _cut(g, [np.shape(arr)[axis], np.shape(values)[axis]], axis)
    return head, tail


def append_parts(g, arr, values, axis=None):
    """Transpose of `append_adjoint`: the pair of cotangents g appended."""
    head, tail = g
    if head is None:
        head = np.zeros(np.shape(arr))
    if tail is None:
        tail = np.zeros(np.shape(values))
    return np.append(head, tail, axis)


def repeat_adjoint(g, a, repeats, axis=None):
    """Adjoint of np.repeat(a, repeats, axis): the copies' adjoints summed.
    NumPy repeats a 0-d a as one entry whatever the axis."""
    shape = np.shape(a)
    axis = None if not shape else axis
    count = int(np.prod(shape)) if axis is None else shape[axis]
    along = 0 if axis is None else axis
    index = np.repeat(np.arange(count), repeats)
    moved = np.moveaxis(np.asarray(g), along, 0)
    result = np.zeros((count,) + moved.shape[1:],
                      dtype=np.result_type(moved, float))
    np.add.at(result, index, moved)
    result = np.moveaxis(result, 0, along)
    return np.reshape(result, shape) if axis is None else result


def tile_adjoint(g, a, reps):
    """Adjoint of np.tile(a, reps): the tiles' adjoints summed."""
    shape = np.shape(a)
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
    ndim = max(len(reps), len(shape))
    full = (1,) * (ndim - len(shape)) + tuple(shape)
    reps = (1,) * (ndim - len(reps)) + reps
    tiled = np.reshape(g, [n for pair in zip(reps, full) for n in pair])
    return np.reshape(np.sum(tiled, axis=tuple(range(0, 2 * ndim, 2))),
                      shape)


def _scatter_add(g, source, size):
    """Sum the entries of g into `size` bins numbered by `source`, dropping
    the entries whose source is negative."""
    keep = source >= 0
    index = source[keep]
    values = np.asarray(g)[keep]
    if np.iscomplexobj(values):
        return (np.bincount(index, np.real(values), size)
                + 1j * np.bincount(index, np.imag(values), size))
    return np.bincount(index, values.astype(float), size)


# The np.pad modes in which every entry of the result is a copy of one entry
# of the input or a constant.
_COPYING_PAD_MODES = ('constant', 'edge', 'reflect', 'symmetric', 'wrap')


def _check_pad_mode(mode):
    if not isinstance(mode, str) or mode not in _COPYING_PAD_MODES:
        raise _unsupported_error(
            f'adcompiler differentiates np.pad with mode in '
            f'{_COPYING_PAD_MODES}, not mode={mode!r}')


def pad_adjoint(g, array, pad_width, mode='constant'):
    """Adjoint of `array` in np.pad(array, pad_width, mode).

    Padding the positions of the entries with the same arguments shows where
    each entry of the result came from.
    """
    _check_pad_mode(mode)
    shape = np.shape(array)
    size = int(np.prod(shape))
    positions = np.arange(size).reshape(shape)
    if mode == 'constant':
        source = np.pad(positions, pad_width, mode='constant',
                        constant_values=-1)
    else:
        source = np.pad(positions, pad_width, mode=mode)
    return np.reshape(_scatter_add(g, source, size), shape)


def pad_tangent(t, pad_width, mode='constant'):
    """Tangent of np.pad(array, pad_width, mode) along the tangent t of
    array: t padded the same way, with zeros for constant padding."""
    _check_pad_mode(mode)
    if mode == 'constant':
        return np.pad(t, pad_width, mode='constant')
    return np.pad(t, pad_width, mode=mode)


def pad_constant_tangent(t, array, pad_width):
    """Tangent of np.pad(array, pad_width, constant_values=c) along the
    tangent t of c: t in the padding, zero elsewhere.

    For constant_values given as pairs, t is a tuple of tangents like it.
    """
    t = np.asarray(t)
    return np.pad(np.zeros(np.shape(array), dtype=np.result_type(t, float)),
                  pad_width, mode='constant', constant_values=t)


def pad_constant_adjoint(g, array, pad_width, constant_values):
    """Adjoint of constant_values in np.pad(array, pad_width, 'constant',
    constant_values=...): each value gets the adjoints of the entries it
    filled (a later axis overwrites the corners of an earlier one)."""
    ndim = np.ndim(array)
    labels = np.arange(2 * ndim).reshape(ndim, 2)
    owner = np.pad(np.full(np.shape(array), -1), pad_width, mode='constant',
                   constant_values=labels)
    total = np.reshape(_scatter_add(g, owner, 2 * ndim), (ndim, 2))
    return unbroadcast(total, constant_values)


def diagonal_adjoint(g, a, offset=0, axis1=0, axis2=1):
    """Adjoint of np.diagonal(a, offset, axis1, axis2): g on that diagonal."""
    g = np.asarray(g)
    result = np.zeros(np.shape(a), dtype=np.result_type(g, float))
    view = np.moveaxis(result, (axis1, axis2), (-2, -1))
    count = g.shape[-1]
    rows = np.arange(count) + max(-offset, 0)
    columns = np.arange(count) + max(offset, 0)
    view[..., rows, columns] = g
    return result


def diag_adjoint(g, v, k=0):
    """Adjoint of np.diag(v, k): builds a matrix from a vector, or takes the
    diagonal of a matrix."""
    if np.ndim(v) == 1:
        return np.diagonal(g, k).copy()
    return diagonal_adjoint(g, v, k)


def trace_adjoint(g, a, offset=0, axis1=0, axis2=1):
    """Adjoint of np.trace(a, offset, axis1, axis2)."""
    length = np.diagonal(np.empty(np.shape(a), bool), offset, axis1,
                         axis2).shape[-1]
    diagonal = np.broadcast_to(np.expand_dims(g, -1),
                               np.shape(g) + (length,))
    return diagonal_adjoint(diagonal, a, offset, axis1, axis2)


def select_adjoints(g, condlist, choicelist, default=0):
    """Adjoints of choicelist and default in np.select: each entry of the
    result came from the first choice whose condition holds, or default."""
    g = np.asarray(g)
    taken = np.zeros(g.shape, bool)
    choices = []
    for condition, choice in zip(condlist, choicelist, strict=True):
        picked = np.broadcast_to(condition, g.shape) & ~taken
        choices.append(unbroadcast(np.where(picked, g, 0), choice))
        taken = taken | picked
    # The list itself or a tuple, not _rebuild(choicelist, choices): when
    # this helper is differentiated again (reverse over reverse), passing
    # the list that the loop appended to into _rebuild is rejected,
    # because _rebuild may keep a reference to it.
    if isinstance(choicelist, list):
        return choices, unbroadcast(np.where(taken, 0, g), default)
    if isinstance(choicelist, tuple):
        return tuple(choices), unbroadcast(np.where(taken, 0, g), default)
    return np.stack(choices), unbroadcast(np.where(taken, 0, g), default)


def compress_adjoint(g, a, condition, axis=None):
    """Adjoint of a.compress(condition, axis), which takes the entries
    where condition is true (of the flattened a when axis is None)."""
    return take_adjoint(g, a, np.flatnonzero(condition), axis)


def take_adjoint(g, a, indices, axis=None, mode='raise'):
    """Adjoint of np.take(a, indices, axis, mode=mode): g added back at the
    indices it was taken from, repeats included. NumPy takes from a 0-d a
    as from one entry whatever the axis."""
    shape = np.shape(a)
    axis = None if not shape else axis
    count = int(np.prod(shape)) if axis is None else shape[axis]
    along = 0 if axis is None else axis % len(shape)
    indices = np.asarray(indices)
    if mode == 'wrap':
        indices = np.mod(indices, count)
    elif mode == 'clip':
        indices = np.clip(indices, 0, count - 1)
    g = np.asarray(g)
    target = (count,) if axis is None else shape
    result = np.zeros(target, dtype=np.result_type(g, float))
    taken_axes = list(range(along, along + indices.ndim))
    np.add.at(np.moveaxis(result, along, 0), indices,
              np.moveaxis(g, taken_axes, list(range(indices.ndim))))
    return np.reshape(result, shape)


def take_along_axis_adjoint(g, arr, indices, axis=-1):
    """Adjoint of np.take_along_axis(arr, indices, axis)."""
    shape = np.shape(arr)
    if axis is None:
        result = np.zeros(int(np.prod(shape)),
                          dtype=np.result_type(g, float))
        np.add.at(result, indices, g)
        return np.reshape(result, shape)
    ndim = len(shape)
    axis = axis % ndim
    grids = [np.arange(n).reshape([-1 if i == k else 1 for i in range(ndim)])
             for k, n in enumerate(shape)]
    grids[axis] = indices
    result = np.zeros(shape, dtype=np.result_type(g, float))
    np.add.at(result, tuple(grids), g)
    return result


def item_adjoint(g, x, args):
    """Adjoint of x.item(*args): g at the entry that was read."""
    result = np.zeros(np.shape(x), dtype=np.result_type(g, float))
    if not args:
        result.reshape(-1)[0] = g
    elif len(args) == 1 and isinstance(args[0], (int, np.integer)):
        result.reshape(-1)[args[0]] = g
    elif len(args) == 1:
        result[tuple(args[0])] = g
    else:
        result[tuple(args)] = g
    return result


def linspace_adjoints(g, start, stop, num=50, endpoint=True, retstep=False,
                      axis=0):
    """Adjoints of start and stop in np.linspace: the samples are
    start + t * (stop - start) with t = k / div, and the step, returned with
    retstep=True, is (stop - start) / div."""
    # NOTE: new names, not `g, step_g = g`: reverse over reverse goes
    # through this source, and reverse mode loses the adjoint of a tuple
    # unpacked into its own name inside a branch.
    samples_g, step_g = g, None
    if retstep:
        samples_g, step_g = g
    divisions = num - 1 if endpoint else num
    if samples_g is None:
        # Only the step has a cotangent, shaped like start and stop
        # broadcast together.
        d_start = np.zeros(np.shape(step_g))
        d_stop = np.zeros(np.shape(step_g))
    else:
        t = np.arange(num) / divisions if divisions > 0 else np.zeros(num)
        samples_g = np.asarray(samples_g)
        axis = axis % samples_g.ndim
        t = np.reshape(t, [-1 if i == axis else 1
                           for i in range(samples_g.ndim)])
        d_start = np.sum(samples_g * (1.0 - t), axis=axis)
        d_stop = np.sum(samples_g * t, axis=axis)
    if step_g is not None and divisions > 0:
        d_start = d_start - step_g / divisions
        d_stop = d_stop + step_g / divisions
    return unbroadcast(d_start, start), unbroadcast(d_stop, stop)


# Reductions and scans --------------------------------------------------------

def _reduced_count(shape, axis):
    """Return how many entries each reduction over `axis` of a `shape` array
    reads."""
    count = 1
    for a in _normalize_axes(axis, len(shape)):
        count *= shape[a]
    return count


def _reduction_order(shape, axes):
    """Return the kept axes, the order that moves the reduced `axes` last,
    and the number of entries each reduction reads."""
    kept = [a for a in range(len(shape)) if a not in axes]
    count = int(np.prod([shape[a] for a in axes]))
    return kept, kept + list(axes), count


def _products_of_others(x, axes):
    """Return, for each entry of x, the product of the other entries along
    `axes`.

    Exclusive running products from both ends, multiplied: no division, so
    zeros in x are exact.
    """
    x = np.asarray(x)
    kept, order, count = _reduction_order(x.shape, axes)
    moved = np.transpose(x, order)
    if count == 0:
        return np.zeros(x.shape, dtype=np.result_type(x, float))
    lines = moved.reshape(moved.shape[:len(kept)] + (count,))
    ones = np.ones(lines.shape[:-1] + (1,), dtype=np.result_type(lines, float))
    before = np.cumprod(np.concatenate([ones, lines[..., :-1]], -1), -1)
    reversed_lines = np.flip(lines, -1)
    after = np.flip(np.cumprod(np.concatenate(
        [ones, reversed_lines[..., :-1]], -1), -1), -1)
    others = (before * after).reshape(moved.shape)
    return np.transpose(others, np.argsort(order))


def prod_adjoint(g, x, axis=None, keepdims=False, where=True):
    """Adjoint of np.prod(x, axis, keepdims=keepdims, where=where): each
    selected entry gets g times the product of the other selected entries,
    exact when x has zeros, and the entries that `where` leaves out get 0."""
    g = _restore_reduced(g, x, axis, keepdims)
    axes = _normalize_axes(axis, np.ndim(x))
    if where is True:
        return g * _products_of_others(x, axes)
    selected = np.asarray(where, dtype=bool)
    partials = _products_of_others(np.where(selected, x, 1), axes)
    return np.where(selected, g * partials, 0.0)


def var_adjoint(g, x, axis=None, ddof=0, keepdims=False, where=True,
                mean=None, dtype=None):
    """Adjoint of np.var(x, axis, dtype, ddof=ddof, keepdims=keepdims,
    where=where, mean=mean): 2 g conj(x - mean) / max(n - ddof, 0) over the
    n selected entries of a slice, where conj is there because var is
    |x - mean|**2. The entries that `where` leaves out get 0. Without
    `mean` (NumPy 2.0 added the option) it is the mean of the slice.

    NumPy computes the mean in `dtype`, so with a real dtype the mean of a
    complex x is the mean of its real parts, while x - mean stays complex.

    NumPy 2.4 divides by max(n - ddof, 0) too, so where ddof >= n the
    value is inf or nan and the adjoint is inf or nan, each with NumPy's
    RuntimeWarning, never a finite number."""
    x = np.asarray(x)
    g = _restore_reduced(g, x, axis, keepdims)
    axes = _normalize_axes(axis, x.ndim)
    if where is not True:
        selected = np.asarray(where, dtype=bool)
        return _selected_var_adjoint(g, x, selected, axes, ddof, mean, dtype)
    if mean is None:
        mean = cast_operand(np.mean(x, axis=axes, keepdims=True), dtype)
    count = _reduced_count(x.shape, axis)
    return 2.0 * g * np.conj(x - mean) / max(count - ddof, 0)


def var_mean_adjoint(g, x, axis=None, ddof=0, keepdims=False, where=True,
                     mean=None, dtype=None):
    """Adjoint of the `mean` passed to np.var(x, axis, ..., mean=mean):
    the variance reads x - mean, so it is minus x's adjoint, summed over
    the axes along which `mean` broadcasts."""
    return unbroadcast(
        -var_adjoint(g, x, axis, ddof, keepdims, where, mean, dtype), mean)


def _selected_var_adjoint(g, x, selected, axes, ddof, mean=None, dtype=None):
    """Return the adjoint of the variance over `axes` of the entries of x
    that `selected` marks, and 0 at the other entries. A slice without a
    selected entry gets 0 everywhere. Without `mean`, the variance is
    about the mean of the selected entries, taken in `dtype` as in
    `var_adjoint`."""
    selected = np.broadcast_to(selected, x.shape)
    count = np.sum(selected, axis=axes, keepdims=True)
    filled = np.where(selected, x, 0.0)
    if mean is None:
        mean = cast_operand(np.sum(filled, axis=axes, keepdims=True),
                            dtype) / np.maximum(count, 1)
    # An empty slice has no entry to divide by max(count - ddof, 0), which
    # may be 0 there. A slice with count <= ddof divides by it, as np.var
    # does.
    divisor = np.where(count > 0, np.maximum(count - ddof, 0), 1)
    return np.where(selected, 2.0 * g * np.conj(filled - mean) / divisor, 0.0)


def std_adjoint(g, x, ans, axis=None, ddof=0, keepdims=False, where=True,
                mean=None, dtype=None):
    """Adjoint of np.std: the var adjoint divided by 2 std, and 0 where the
    standard deviation is 0 (as the norm of a zero vector)."""
    g = _restore_reduced(g, x, axis, keepdims)
    ans = _restore_reduced(ans, x, axis, keepdims)
    zero = ans == 0
    scaled = g / (2.0 * np.where(zero, 1.0, ans))
    return np.where(zero, 0.0, var_adjoint(scaled, x, axis, ddof, True, where,
                                           mean, dtype))


def std_mean_adjoint(g, x, ans, axis=None, ddof=0, keepdims=False,
                     where=True, mean=None, dtype=None):
    """Adjoint of the `mean` passed to np.std (see `var_mean_adjoint`)."""
    return unbroadcast(
        -std_adjoint(g, x, ans, axis, ddof, keepdims, where, mean, dtype),
        mean)


def ptp_adjoint(g, x, axis=None, keepdims=False):
    """Adjoint of np.ptp, max - min: ties split evenly as for max and min."""
    axes = _normalize_axes(axis, np.ndim(x))
    high = np.max(x, axis=axes, keepdims=keepdims)
    low = np.min(x, axis=axes, keepdims=keepdims)
    return (extremum_adjoint(g, x, high, axes, keepdims)
            - extremum_adjoint(g, x, low, axes, keepdims))


def nansum_adjoint(g, x, axis=None, keepdims=False, where=True):
    """Adjoint of np.nansum(x, axis, keepdims=keepdims, where=where): g,
    except at the NaNs and at the entries that `where` leaves out."""
    skipped = np.isnan(x) | ~np.asarray(where, dtype=bool)
    return np.where(skipped, 0.0, sum_adjoint(g, x, axis, keepdims))


def nanmean_adjoint(g, x, axis=None, keepdims=False):
    """Adjoint of np.nanmean: g / (number of non-NaN entries), 0 at NaNs."""
    kept = ~np.isnan(x)
    count = np.sum(kept, axis=_normalize_axes(axis, np.ndim(x)),
                   keepdims=True)
    share = sum_adjoint(g, x, axis, keepdims) / np.where(count == 0, 1, count)
    return np.where(kept, share, 0.0)


def skip_nan_adjoint(g, y):
    """Return the adjoint g that an elementwise operation with result y
    passes to an operand, with 0 where y is NaN.

    The reverse stage calls it where the adjoint of y is already 0 at its
    NaN entries, because a function that skips NaNs reads y (see
    adcompiler.nan_skipping). There g is 0 times a partial derivative taken
    at NaN, which is NaN, while the tangent in forward mode is 0. For an
    adjoint `c * partial` with c the adjoint of y, the reverse stage passes
    the partial derivative as g, which gives the same product.
    """
    return np.where(np.isnan(y), 0.0, g)


def nan_filled(x, value):
    """Return x with `value` in place of its NaN entries: the array that a
    function skipping NaNs reduces (0 for sums, 1 for products)."""
    return np.where(np.isnan(x), value, x)


def nan_extremum_adjoint(g, x, ans, axis=None, keepdims=False):
    """Adjoint of np.nanmax or np.nanmin: g split evenly among the tied
    extrema, 0 at the NaNs, and 0 in an all-NaN slice, whose result is NaN
    and reads no entry."""
    ans = _restore_reduced(ans, x, axis, keepdims)
    g = _restore_reduced(g, x, axis, keepdims)
    mask = np.asarray(x) == ans
    count = np.sum(mask, axis=_normalize_axes(axis, np.ndim(x)), keepdims=True)
    return np.where(mask, g / np.maximum(count, 1), 0.0)


def nanprod_adjoint(g, x, axis=None, keepdims=False):
    """Adjoint of np.nanprod: that of np.prod with the NaNs read as 1, and
    0 at the NaNs."""
    partials = prod_adjoint(g, nan_filled(x, 1.0), axis, keepdims)
    return np.where(np.isnan(x), 0.0, partials)


def nanvar_adjoint(g, x, axis=None, ddof=0, keepdims=False, where=True,
                   dtype=None):
    """Adjoint of np.nanvar(x, axis, ddof=ddof, keepdims=keepdims,
    where=where): that of np.var over the non-NaN entries that `where`
    selects in each slice, and 0 at the other entries.

    NumPy returns NaN for a slice with count <= ddof such entries, the
    all-NaN slices included, so every entry of such a slice gets 0.
    """
    x = np.asarray(x)
    g = _restore_reduced(g, x, axis, keepdims)
    axes = _normalize_axes(axis, x.ndim)
    selected = np.broadcast_to(~np.isnan(x) & np.asarray(where, dtype=bool),
                               x.shape)
    count = np.sum(selected, axis=axes, keepdims=True)
    is_defined = (count > 0) & (count > ddof)
    return _selected_var_adjoint(g, x, selected & is_defined, axes, ddof,
                                 dtype=dtype)


def nanstd_adjoint(g, x, ans, axis=None, ddof=0, keepdims=False,
                   dtype=None):
    """Adjoint of np.nanstd: the nanvar adjoint divided by 2 std, and 0
    where the standard deviation is 0 (see `std_adjoint`) or NaN because
    a slice has count <= ddof non-NaN entries (see `nanvar_adjoint`)."""
    g = _restore_reduced(g, x, axis, keepdims)
    ans = _restore_reduced(ans, x, axis, keepdims)
    # Dividing by 1 in place of a NaN std keeps the derivatives of the
    # branch that np.where drops finite.
    count = np.sum(~np.isnan(x), axis=_normalize_axes(axis, np.ndim(x)),
                   keepdims=True)
    zero = (ans == 0) | (count == 0) | (count <= ddof)
    scaled = g / (2.0 * np.where(zero, 1.0, ans))
    return np.where(zero, 0.0, nanvar_adjoint(scaled, x, axis, ddof, True,
                                              True, dtype))


def _quantile_positions(count, levels, method):
    """Return the positions, among `count` sorted entries, that
    np.quantile(..., levels, method=method) reads, one per level.

    Each method returns (1 - gamma) * v[j] + gamma * v[j + 1] of the sorted
    values v, for an index j and a fraction gamma that depend only on the
    level and `count`. So the quantile of the values 0, 1, ..., count - 1 is
    the position j + gamma, which NumPy computes here with its own formula
    for each method.
    """
    if count == 0:
        return np.zeros(np.shape(levels))
    return np.quantile(np.arange(count, dtype=np.float64), levels,
                       method=method)


def _quantile_weights(x, q, axes, method='linear', skip_nan=True):
    """Return the partial derivatives of np.nanquantile(x, q, axes,
    method=method), or of np.quantile without `skip_nan`, with one leading
    axis per level: shape (number of levels,) + x.shape.

    Of the n sorted entries of a slice (its non-NaN entries with
    `skip_nan`), the quantile reads the two around a position p (see
    `_quantile_positions`). The one below gets 1 - (p - floor(p)) and the
    one above gets p - floor(p).

    The weights of tied values are replaced by their mean, as for np.sort,
    so the result does not depend on how the sort ordered them. With
    `skip_nan`, the NaNs, and every entry of an all-NaN slice, get 0.
    Without it, a slice with a NaN has the result NaN and NaN weights.
    """
    x = np.asarray(x)
    levels = np.ravel(np.asarray(q, dtype=np.float64))
    kept, order, count = _reduction_order(x.shape, axes)
    moved = np.transpose(x, order)
    lines = moved.reshape(moved.shape[:len(kept)] + (count,))
    sorting = np.argsort(lines, axis=-1, kind='stable')
    values = np.take_along_axis(lines, sorting, -1)
    has_nan = np.isnan(lines)
    if skip_nan:
        valid = np.sum(~has_nan, axis=-1, keepdims=True)
    else:
        valid = np.full(lines.shape[:-1] + (1,), count)
    # One row of positions per distinct number of entries in a slice.
    counts, row = np.unique(valid, return_inverse=True)
    table = np.array([_quantile_positions(int(n), levels, method)
                      for n in counts]).reshape(len(counts), len(levels))
    position = np.moveaxis(table[np.reshape(row, valid.shape)], -1, 0)
    low = np.floor(position)
    gamma = position - low
    last = np.maximum(valid - 1, 0)
    low = np.clip(low, 0, last).astype(np.intp)
    high = np.minimum(low + 1, last)
    ranks = np.arange(count)
    weights = (ranks == low) * (1.0 - gamma) + (ranks == high) * gamma
    weights = np.where(valid > 0, weights, 0.0)
    weights = _tie_means(weights, np.broadcast_to(values, weights.shape))
    if not skip_nan:
        weights = np.where(np.any(has_nan, axis=-1, keepdims=True), np.nan,
                           weights)
    result = np.zeros(weights.shape)
    np.put_along_axis(result, np.broadcast_to(sorting, weights.shape),
                      weights, -1)
    result = result.reshape((len(levels),) + moved.shape)
    return np.transpose(result, [0] + [a + 1 for a in np.argsort(order)])


# NOTE: the derivative of a weighted quantile is checked against finite
# differences with NumPy 2.4 and 2.5. With NumPy 2.2 it selected another
# entry in some tests, and the cause is not known, so older versions raise.
_WEIGHTED_QUANTILES_CHECKED = np.lib.NumpyVersion(np.__version__) >= '2.4.0'


def _selected_quantile_weights(x, q, axes, method, weights, skip_nan):
    """Return the partial derivatives of np.quantile(x, q, axes,
    method=method, weights=weights), or of np.nanquantile with `skip_nan`,
    in the layout of `_quantile_weights`.

    With weights, NumPy 2.4 accepts only method='inverted_cdf', which
    returns an entry of each slice. So the entries equal to it that have a
    nonzero weight share the derivative 1, as tied values do without
    weights.
    """
    if not _WEIGHTED_QUANTILES_CHECKED:
        raise _unsupported_error(
            'adcompiler differentiates quantiles and percentiles with '
            'weights= only with NumPy 2.4 or newer: with NumPy '
            f'{np.__version__} its gradient put the derivative on a '
            'different entry than finite differences in tests. Upgrade '
            'NumPy, or compute the weighted quantile from np.sort and '
            'np.cumsum of the weights')
    x = np.asarray(x)
    weights = np.asarray(weights)
    if np.shape(weights) != np.shape(x):
        # 1-D weights along the one axis of the reduction.
        shape = [1] * np.ndim(x)
        shape[axes[0]] = -1
        weights = np.reshape(weights, shape)
    quantile = np.nanquantile if skip_nan else np.quantile
    levels = np.ravel(np.asarray(q, dtype=np.float64))
    values = quantile(x, levels, axis=axes, method=method,
                      weights=np.broadcast_to(weights, np.shape(x)),
                      keepdims=True)
    selected = (x[None] == values) & (weights[None] > 0)
    count = np.sum(selected, axis=tuple(a + 1 for a in axes), keepdims=True)
    return selected / np.maximum(count, 1)


def _quantile_partials(x, q, axes, method, skip_nan, weights):
    if weights is None:
        return _quantile_weights(x, q, axes, method, skip_nan)
    return _selected_quantile_weights(x, q, axes, method, weights, skip_nan)


def quantile_adjoint(g, x, q, axis=None, keepdims=False, method='linear',
                     skip_nan=False, weights=None):
    """Adjoint of np.quantile(x, q, axis, keepdims=keepdims, method=method,
    weights=weights) in x, or of np.nanquantile with `skip_nan` (see
    `_quantile_weights` and `_selected_quantile_weights`).

    An array of levels q puts its axes first in the result, so g has them
    first too.
    """
    axes = _normalize_axes(axis, np.ndim(x))
    partials = _quantile_partials(x, q, axes, method, skip_nan, weights)
    g = np.reshape(g, (np.size(q),) + np.shape(g)[np.ndim(q):])
    if not keepdims and axes:
        g = np.expand_dims(g, tuple(a + 1 for a in axes))
    return np.sum(g * partials, axis=0)


def quantile_tangent(t, x, q, ans, axis=None, keepdims=False,
                     method='linear', skip_nan=False, weights=None):
    """Tangent of np.quantile(x, q, axis, keepdims=keepdims, method=method,
    weights=weights) = ans, or of np.nanquantile with `skip_nan`."""
    axes = _normalize_axes(axis, np.ndim(x))
    partials = _quantile_partials(x, q, axes, method, skip_nan, weights)
    if skip_nan:
        t = skip_nan_tangent(t, x)
    tangent = np.sum(partials * np.asarray(t), axis=tuple(a + 1 for a in axes),
                     keepdims=keepdims)
    return tangent_like(np.reshape(tangent, np.shape(ans)), ans)


def percentile_level(q):
    """Return the quantile level q / 100 of the percentile q. The rules do
    not differentiate with respect to q, so q may be a list."""
    return np.true_divide(q, 100.0)


def quantile_level_adjoint(name):
    """Raise for a derivative with respect to the level q of a quantile."""
    raise _unsupported_error(
        f'adcompiler does not differentiate {name} with respect to its '
        f'level q; pass q as a constant')


def _reverse_cumsum(g, axis):
    return np.flip(np.cumsum(np.flip(g, axis), axis), axis)


def cumsum_adjoint(g, x, axis=None):
    """Adjoint of np.cumsum(x, axis): cumulative sums of g from the end.

    NumPy scans a 0-d x as one entry whatever the axis, and returns shape
    (1,), so that case goes through the flattened path too.
    """
    if axis is None or np.ndim(x) == 0:
        return np.reshape(_reverse_cumsum(np.ravel(g), 0), np.shape(x))
    return _reverse_cumsum(np.asarray(g), axis)


def cumprod_adjoint(g, x, ans, axis=None):
    """Adjoint of np.cumprod(x, axis) = ans, the transpose of
    `cumprod_tangent`.

    d[x_i] = ans_(i-1) * sum over k >= i of g_k * x_(i+1) * ... * x_k, a
    linear recurrence run from the end. There is no division, so zeros in x
    are exact, at every order of derivative.
    """
    shape = np.shape(x)
    if axis is None or np.ndim(x) == 0:
        g = np.ravel(g)
        x = np.ravel(x)
        ans = np.ravel(ans)
        axis = 0
    g = np.moveaxis(np.asarray(g), axis, -1)
    x = np.moveaxis(np.asarray(x), axis, -1)
    ans = np.moveaxis(np.asarray(ans), axis, -1)
    adjoint = _exclusive_products(ans) * linear_recurrence_transpose(g, x)
    return np.reshape(np.moveaxis(adjoint, -1, axis), shape)


def _exclusive_products(ans):
    """Return, along the last axis of ans = np.cumprod(x), the product of
    the entries of x before each one: 1, ans_0, ..., ans_(n-2)."""
    return np.concatenate([np.ones_like(ans[..., :1]), ans[..., :-1]], -1)


def linear_recurrence(u, x):
    """Return r with r_k = x_k * r_(k-1) + u_k along the last axis, r_(-1) = 0.

    r_k is the sum over m <= k of u_m * x_(m+1) * ... * x_k. The tangent and
    adjoint of np.cumprod are made of this recurrence and its transpose,
    which have rules of their own (adcompiler.rules.runtime), so their
    derivatives of every order are products with no division. The loop
    runs in Python over the last axis and in NumPy over the others.
    """
    u, x = np.broadcast_arrays(u, x)
    products = _safe_products(x)
    if products is not None:
        # r_k = P_k * (sum over m <= k of u_m / P_m), P = cumprod(x).
        return products * np.cumsum(u / products, axis=-1)
    result = np.empty(u.shape, dtype=np.result_type(u, x, float))
    running = np.zeros(u.shape[:-1], dtype=result.dtype)
    for k in range(u.shape[-1]):
        running = x[..., k] * running + u[..., k]
        result[..., k] = running
    return result


def _safe_products(x):
    """Return cumprod(x) along the last axis when dividing by it is safe (no
    zero, no product near underflow or overflow), else None.

    The recurrences then take NumPy's vectorized form; the rules of their
    derivatives do not depend on which form ran.
    """
    if x.size == 0 or not np.all(x != 0):
        return None
    with np.errstate(over='ignore', under='ignore'):
        products = np.cumprod(x, axis=-1)
    # Within the square roots of the dtype's smallest normal and largest
    # numbers, a quotient of two products stays normal and finite.
    limits = np.finfo(np.result_type(products, np.float16))
    magnitude = np.abs(products)
    if not (np.all(magnitude > np.sqrt(limits.tiny))
            and np.all(magnitude < np.sqrt(limits.max))):
        return None
    return products


def linear_recurrence_transpose(v, x):
    """Return q with q_k = v_k + x_(k+1) * q_(k+1) along the last axis, from
    q_(n-1) = v_(n-1): the transpose of `linear_recurrence(u, x)` in u."""
    v, x = np.broadcast_arrays(v, x)
    products = _safe_products(x)
    if products is not None:
        # q_k = (sum over j >= k of v_j * P_j) / P_k, P = cumprod(x).
        tail = np.cumsum((v * products)[..., ::-1], axis=-1)[..., ::-1]
        return tail / products
    result = np.empty(v.shape, dtype=np.result_type(v, x, float))
    running = np.zeros(v.shape[:-1], dtype=result.dtype)
    for k in range(v.shape[-1] - 1, -1, -1):
        if k + 1 < v.shape[-1]:
            running = x[..., k + 1] * running
        running = running + v[..., k]
        result[..., k] = running
    return result


def shift_forward(v):
    """Return v moved one place along the last axis: 0, v_0, ..., v_(n-2)."""
    v = np.asarray(v)
    result = np.zeros(v.shape, dtype=np.result_type(v, float))
    result[..., 1:] = v[..., :-1]
    return result


def shift_backward(v):
    """Return v moved one place back along the last axis: v_1, ..., v_(n-1),
    0. It is the transpose of `shift_forward`."""
    v = np.asarray(v)
    result = np.zeros(v.shape, dtype=np.result_type(v, float))
    result[..., :-1] = v[..., 1:]
    return result


def diff_adjoint(g, n=1, axis=-1):
    """Adjoint of np.diff(x, n, axis): each difference y_i = x_(i+1) - x_i
    sends +g_i to x_(i+1) and -g_i to x_i, once for each of the n
    differences."""
    g = np.asarray(g)
    for _ in range(n):
        shape = list(g.shape)
        shape[axis] = 1
        zero = np.zeros(shape, dtype=np.result_type(g, float))
        g = np.concatenate([zero, g], axis) - np.concatenate([g, zero], axis)
    return g


def diff_adjoints(g, a, n=1, axis=-1, prepend=None, append=None):
    """Adjoints of a, prepend and append in np.diff(a, n, axis,
    prepend=prepend, append=append), None for an option not given.

    NumPy differentiates the concatenation of prepend, a and append along
    axis, and a number in prepend or append stands for a slice of length 1.
    """
    axis = axis % np.ndim(a)
    before = after = 0
    if prepend is not None:
        before = 1 if np.ndim(prepend) == 0 else np.shape(prepend)[axis]
    if append is not None:
        after = 1 if np.ndim(append) == 0 else np.shape(append)[axis]
    length = np.shape(a)[axis]
    whole = diff_adjoint(g, n, axis)
    if np.shape(whole)[axis] != before + length + after:
        # n is larger than the length along axis, so the result is empty
        # and every entry has adjoint 0.
        shape = list(np.shape(whole))
        shape[axis] = before + length + after
        whole = np.zeros(shape, dtype=whole.dtype)
    if prepend is None and append is None:
        return whole, None, None
    pieces = np.split(whole, [before, before + length], axis=axis)
    return (pieces[1],
            None if prepend is None else unbroadcast(pieces[0], prepend),
            None if append is None else unbroadcast(pieces[2], append))


def variance_ddof(ddof, correction=None):
    """Return the ddof of np.var or np.std, which NumPy 2 also takes as
    `correction`."""
    if correction is None:
        return ddof
    if ddof != 0:
        raise ValueError("ddof and correction can't be provided "
                         "simultaneously.")
    return correction


def _weights_shape(ndim, axis):
    """Return the shape that lays 1-D weights along `axis` of an average."""
    return [-1 if i == axis % ndim else 1 for i in range(ndim)]


def average_adjoints(g, ans, a, axis=None, weights=None, returned=False,
                     keepdims=False):
    """Adjoints of a and weights in np.average(a, axis, weights).

    The average is sum(a * w) / sum(w): a gets g * w / sum(w), and w gets
    g * (a - average) / sum(w). A 1-D w lies along `axis`.
    """
    _check_average_options(returned)
    a = np.asarray(a)
    g = _restore_reduced(g, a, axis, keepdims)
    if weights is None:
        return (np.broadcast_to(g, a.shape) / _reduced_count(a.shape, axis),
                None)
    w = np.asarray(weights)
    if w.shape != a.shape:
        w = np.reshape(w, _weights_shape(a.ndim, axis))
    axes = _normalize_axes(axis, a.ndim)
    total = np.sum(np.broadcast_to(w, a.shape), axis=axes, keepdims=True)
    average = _restore_reduced(ans, a, axis, keepdims)
    d_a = np.broadcast_to(g * w / total, a.shape)
    d_w = unbroadcast(g * (a - average) / total, w)
    return d_a, np.reshape(d_w, np.shape(weights))


# More products ---------------------------------------------------------------
# Products are bilinear, so under the complex convention above their
# adjoints are not conjugated. `match_kind` drops imaginary parts for real
# operands.

def _tensordot_axes(axes, a_ndim, b_ndim):
    """Return the summed axes of a and of b in np.tensordot(a, b, axes)."""
    if isinstance(axes, (int, np.integer)):
        return list(range(a_ndim - axes, a_ndim)), list(range(axes))
    a_axes, b_axes = axes
    a_axes = [a_axes] if isinstance(a_axes, (int, np.integer)) else a_axes
    b_axes = [b_axes] if isinstance(b_axes, (int, np.integer)) else b_axes
    return ([a % a_ndim for a in a_axes], [b % b_ndim for b in b_axes])


def tensordot_adjoint_a(g, a, b, axes=2):
    """Adjoint of a in np.tensordot(a, b, axes). The axes of g are the free
    axes of a followed by the free axes of b."""
    a_axes, b_axes = _tensordot_axes(axes, np.ndim(a), np.ndim(b))
    a_free = [i for i in range(np.ndim(a)) if i not in a_axes]
    b_free = [i for i in range(np.ndim(b)) if i not in b_axes]
    g_b_axes = list(range(len(a_free), np.ndim(g)))
    result = np.tensordot(g, b, axes=(g_b_axes, b_free))
    # result axes: the free axes of a, then b's summed axes in b's order.
    order = a_free + [a_axes[b_axes.index(j)] for j in sorted(b_axes)]
    return match_kind(np.transpose(result, np.argsort(order)), a)


def tensordot_adjoint_b(g, a, b, axes=2):
    """Adjoint of b in np.tensordot(a, b, axes)."""
    a_axes, b_axes = _tensordot_axes(axes, np.ndim(a), np.ndim(b))
    a_free = [i for i in range(np.ndim(a)) if i not in a_axes]
    b_free = [i for i in range(np.ndim(b)) if i not in b_axes]
    g_a_axes = list(range(len(a_free)))
    result = np.tensordot(a, g, axes=(a_free, g_a_axes))
    # result axes: a's summed axes in a's order, then the free axes of b.
    order = [b_axes[a_axes.index(i)] for i in sorted(a_axes)] + b_free
    return match_kind(np.transpose(result, np.argsort(order)), b)


def inner_adjoints(g, a, b):
    """Adjoints of a and b in np.inner(a, b), a sum over the last axes."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return unbroadcast(g * b, a), unbroadcast(g * a, b)
    axes = ([np.ndim(a) - 1], [np.ndim(b) - 1])
    return (tensordot_adjoint_a(g, a, b, axes),
            tensordot_adjoint_b(g, a, b, axes))


def outer_adjoints(g, a, b):
    """Adjoints of a and b in np.outer(a, b), which flattens both."""
    return (match_kind(np.reshape(np.dot(g, np.ravel(b)), np.shape(a)), a),
            match_kind(np.reshape(np.dot(np.ravel(a), g), np.shape(b)), b))


def outer_adjoints_transpose(g, c, a, b):
    """Return the cotangents of c, a and b in `outer_adjoints(c, a, b)`,
    given the cotangent g = (g_a, g_b) of its two results.

    The adjoint of a is c times b and that of b is a times c, so each is
    linear in c and in one factor. A None entry of g is zero.
    """
    g_a, g_b = _entries(g, 2)
    if g_a is None:
        g_a = np.zeros(np.shape(a))
    if g_b is None:
        g_b = np.zeros(np.shape(b))
    dc = match_kind(np.outer(g_a, b) + np.outer(a, g_b), c)
    da, _ = outer_adjoints(c, a, g_b)
    _, db = outer_adjoints(c, g_a, b)
    return dc, da, db


def vdot_adjoints(g, a, b):
    """Adjoints of a and b in np.vdot(a, b) = sum(conj(a) * b), flattened.

    b enters holomorphically, so its adjoint is g * conj(a). a enters through
    its conjugate, so its adjoint is conjugated: conj(g * b).
    """
    return (match_kind(np.reshape(np.conj(g * np.asarray(b)), np.shape(a)),
                       a),
            match_kind(np.reshape(g * np.conj(np.asarray(a)), np.shape(b)),
                       b))


def vecdot_adjoints(g, a, b, axis=-1):
    """Adjoints of a and b in np.vecdot(a, b, axis=axis) =
    sum(conj(a) * b, axis), with broadcasting: as for np.vdot, a gets
    conj(g * b) and b gets g * conj(a)."""
    g = np.expand_dims(g, axis)
    a, b = np.asarray(a), np.asarray(b)
    return (unbroadcast(np.conj(g * b), a), unbroadcast(g * np.conj(a), b))


def kron_adjoints(g, a, b):
    """Adjoints of a and b in np.kron(a, b): entry (i * len(b) + j) of each
    axis of the result is a[i] * b[j]."""
    a_shape, b_shape = np.shape(a), np.shape(b)
    ndim = max(len(a_shape), len(b_shape))
    a_full = (1,) * (ndim - len(a_shape)) + tuple(a_shape)
    b_full = (1,) * (ndim - len(b_shape)) + tuple(b_shape)
    g = np.reshape(g, [n for pair in zip(a_full, b_full) for n in pair])
    a_axes = tuple(range(0, 2 * ndim, 2))
    b_axes = tuple(range(1, 2 * ndim, 2))
    a_spread = np.expand_dims(np.reshape(a, a_full), b_axes)
    b_spread = np.expand_dims(np.reshape(b, b_full), a_axes)
    d_a = np.reshape(np.sum(g * b_spread, axis=b_axes), a_shape)
    d_b = np.reshape(np.sum(g * a_spread, axis=a_axes), b_shape)
    return match_kind(d_a, a), match_kind(d_b, b)


def _with_zero_z(v):
    """Return a stack of 2-vectors (last axis) as 3-vectors with z = 0."""
    return np.concatenate([v, np.zeros(v.shape[:-1] + (1,), v.dtype)], -1)


def cross_adjoints(g, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Adjoints of a and b in np.cross(a, b, ...).

    The identities <g, a x b> = <a, b x g> = <b, g x a> give them. A
    2-vector is a 3-vector with z = 0, and the cross product of two
    2-vectors is the z component alone.
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    a_moved = np.moveaxis(np.asarray(a), axisa, -1)
    b_moved = np.moveaxis(np.asarray(b), axisb, -1)
    a_two, b_two = a_moved.shape[-1] == 2, b_moved.shape[-1] == 2
    a3 = _with_zero_z(a_moved) if a_two else a_moved
    b3 = _with_zero_z(b_moved) if b_two else b_moved
    g = np.asarray(g)
    if a_two and b_two:
        zero = np.zeros_like(g)
        g3 = np.stack([zero, zero, g], -1)
    else:
        g3 = np.moveaxis(g, axisc, -1)
    d_a = np.cross(b3, g3)
    d_b = np.cross(g3, a3)
    d_a = d_a[..., :2] if a_two else d_a
    d_b = d_b[..., :2] if b_two else d_b
    d_a = np.moveaxis(unbroadcast(d_a, a_moved), -1, axisa)
    d_b = np.moveaxis(unbroadcast(d_b, b_moved), -1, axisb)
    return d_a, d_b


# Einstein summation ----------------------------------------------------------

_LETTERS = ''.join(map(chr, range(ord('A'), ord('Z') + 1))) + ''.join(
    map(chr, range(ord('a'), ord('z') + 1)))


def _einsum_terms(subscripts, shapes):
    """Return the input terms and output term of np.einsum `subscripts`, with
    the ellipsis spelled out in letters and an implicit output made explicit."""
    if not isinstance(subscripts, str):
        raise _unsupported_error(
            'adcompiler differentiates np.einsum with a subscripts string, '
            'not with the interleaved operand and sublist form')

    subscripts = subscripts.replace(' ', '')
    inputs, arrow, output = subscripts.partition('->')
    terms = inputs.split(',')
    if len(terms) != len(shapes):
        raise ValueError(f'np.einsum subscripts {subscripts!r} name '
                         f'{len(terms)} operands, but {len(shapes)} were '
                         'given')
    spare = [c for c in _LETTERS if c not in subscripts]
    width = max([len(s) - (len(t) - 3) for t, s in zip(terms, shapes,
                                                       strict=True)
                 if '...' in t] + [0])
    ellipsis = ''.join(spare[:width])

    # An operand with fewer ellipsis dimensions takes the last letters.
    spelled = []
    for term, shape in zip(terms, shapes, strict=True):
        if '...' in term:
            count = len(shape) - (len(term) - 3)
            term = term.replace('...', ellipsis[width - count:])
        spelled.append(term)

    # An implicit output is the ellipsis, then the letters used once, sorted.
    if arrow:
        output = output.replace('...', ellipsis)
    else:
        letters = ''.join(t for t in terms).replace('.', '')
        output = ellipsis + ''.join(sorted(c for c in set(letters)
                                           if letters.count(c) == 1))
    return spelled, output


def _einsum_form(arguments):
    """Return the subscripts string, the operands and the positions of the
    operands among `arguments`, the arguments of np.einsum (trailing Nones
    are unused parameters of the rule).

    The sublist form einsum(a, [0, 1], b, [1, 2], [0, 2]) becomes
    einsum('AB,BC->AC', a, b): NumPy names the axes 0 to 25 by the letters
    A to Z and 26 to 51 by a to z, and Ellipsis by '...'.
    """
    arguments = list(arguments)
    while arguments and arguments[-1] is None:
        arguments.pop()
    if isinstance(arguments[0], str):
        count = len(arguments[0].partition('->')[0].split(','))
        return arguments[0], arguments[1:count + 1], list(range(1, count + 1))
    pairs = len(arguments) // 2
    terms = [''.join('...' if axis is Ellipsis else _LETTERS[axis]
                     for axis in sublist)
             for sublist in arguments[1:2 * pairs:2]]
    subscripts = ','.join(terms)
    if len(arguments) % 2:
        subscripts += '->' + ''.join(
            '...' if axis is Ellipsis else _LETTERS[axis]
            for axis in arguments[-1])
    return (subscripts, arguments[0:2 * pairs:2],
            list(range(0, 2 * pairs, 2)))


def einsum_adjoint(g, arguments, position, optimize=False, dtype=None):
    """Adjoint of argument `position` of np.einsum(*arguments), in the
    subscripts form or the sublist form; None for a subscripts string or a
    sublist.

    It is the einsum of g with the other operands that produces the letters
    of the operand (zero for an integer or boolean `dtype`). Letters that
    appear nowhere else are broadcast, size-1 dimensions that were
    broadcast are summed back, and a repeated letter (a diagonal, as in
    'ii->i') scatters the result onto that diagonal.
    """
    subscripts, operands, positions = _einsum_form(arguments)
    if position not in positions:
        return None
    position = positions.index(position)
    # With a real dtype and casting='unsafe', NumPy multiplies the real
    # parts of complex operands.
    operands = [cast_operand(np.asarray(o), dtype) for o in operands]
    terms, output = _einsum_terms(subscripts, [o.shape for o in operands])
    sizes = {}
    for term, operand in zip(terms, operands, strict=True):
        for letter, size in zip(term, operand.shape, strict=True):
            # Broadcasting: a size 1 takes the other size, 0 included.
            if sizes.get(letter, 1) == 1:
                sizes[letter] = size
    term = terms[position]
    others = [t for i, t in enumerate(terms) if i != position]
    other_operands = [o for i, o in enumerate(operands) if i != position]
    seen = set(output).union(*others)
    unique = ''.join(dict.fromkeys(term))
    made = ''.join(c for c in unique if c in seen)

    spec = ','.join([output] + others) + '->' + made
    result = np.einsum(spec, g, *other_operands, optimize=optimize)
    missing = [c for c in unique if c not in made]
    result = np.expand_dims(result, tuple(range(len(made),
                                              len(made) + len(missing))))
    result = np.transpose(result, [(made + ''.join(missing)).index(c)
                                   for c in unique])
    result = np.broadcast_to(result, [sizes[c] for c in unique])

    operand = operands[position]
    first = [term.index(c) for c in unique]
    summed = tuple(i for i, p in enumerate(first)
                   if operand.shape[p] == 1 and result.shape[i] != 1)
    if summed:
        result = np.sum(result, axis=summed, keepdims=True)
    if len(unique) < len(term):
        full = np.zeros(operand.shape, dtype=np.result_type(result, float))
        grids = {c: np.arange(result.shape[i]).reshape(
            [-1 if k == i else 1 for k in range(len(unique))])
            for i, c in enumerate(unique)}
        full[tuple(grids[c] for c in term)] = result
        result = full
    return cast_adjoint(match_kind(result, operand), dtype)


def einsum_adjoint_transpose(g, c, arguments, position, optimize=False,
                             dtype=None):
    """Return the cotangents of c and of `arguments` in
    `einsum_adjoint(c, arguments, position, optimize, dtype)`, given the
    cotangent g of its result.

    The adjoint is linear in c and in each operand other than the one at
    `position`. Its transpose in c is the einsum itself with g in place of
    that operand. The cotangent of another operand is that operand's
    adjoint with g in place. The cotangent of `arguments` is a tuple with
    None for the subscripts, the sublists and the operand at `position`.
    """
    _, _, positions = _einsum_form(arguments)
    if g is None or position not in positions:
        return None, None
    replaced = list(arguments)
    replaced[position] = g
    while replaced and replaced[-1] is None:
        replaced.pop()
    dc = match_kind(cast_adjoint(np.einsum(*replaced, optimize=optimize),
                                 dtype), c)
    entries = [None] * len(arguments)
    for other in positions:
        if other != position:
            entries[other] = einsum_adjoint(c, replaced, other, optimize,
                                            dtype)
    return dc, tuple(entries)


def item_tangent(t, args):
    """Tangent of `x.item(*args)`: the same entry of x's tangent t."""
    return np.asarray(t).item(*args)


def einsum_adjoint_tangent(t, g, arguments, position, optimize=False,
                           dtype=None):
    """Tangent of `einsum_adjoint(g, arguments, position)` along the
    tangents t of the arguments (None for no tangent): one term per other
    operand, because the adjoint is linear in each."""
    _, _, positions = _einsum_form(arguments)
    total = None
    for k in positions:
        if k == position or t[k] is None:
            continue
        replaced = list(arguments)
        replaced[k] = t[k]
        total = add(total, einsum_adjoint(g, replaced, position, optimize,
                                          dtype))
    if total is None and position in positions:
        return zeros_like(np.asarray(arguments[position]))
    return total


# Sorting ---------------------------------------------------------------------

def _tie_means(g, values):
    """Replace the adjoints of each run of equal values (last axis, sorted)
    by the mean of the run.

    Sort is not differentiable at a tie. The mean is a symmetric choice, as
    max splits its adjoint evenly among tied maxima. For a tied pair it is
    also what central differences measure.
    """
    length = values.shape[-1]
    if length == 0:
        return g
    starts = np.ones(values.shape, bool)
    starts[..., 1:] = values[..., 1:] != values[..., :-1]
    groups = np.cumsum(starts.ravel()) - 1
    counts = np.bincount(groups)
    flat = np.broadcast_to(g, values.shape).ravel()
    if np.iscomplexobj(flat):
        means = (np.bincount(groups, np.real(flat))
                 + 1j * np.bincount(groups, np.imag(flat))) / counts
    else:
        means = np.bincount(groups, flat.astype(float)) / counts
    return means[groups].reshape(values.shape)


def _unsort(g_sorted, a, axis):
    """Send the adjoints of the sorted values of a back to their entries."""
    a = np.moveaxis(np.asarray(a), axis, -1)
    g_sorted = np.moveaxis(np.asarray(g_sorted), axis, -1)
    order = np.argsort(a, axis=-1, kind='stable')
    values = np.take_along_axis(a, order, -1)
    g_sorted = _tie_means(g_sorted, values)
    result = np.zeros(a.shape, dtype=np.result_type(g_sorted, float))
    np.put_along_axis(result, order, g_sorted, -1)
    return np.moveaxis(result, -1, axis)


def sort_adjoint(g, a, axis=-1):
    """Adjoint of np.sort(a, axis): g through the inverse permutation, where
    tied values share the mean of their adjoints."""
    if axis is None:
        return np.reshape(_unsort(np.ravel(g), np.ravel(a), 0), np.shape(a))
    return _unsort(g, a, axis)


def partition_adjoint(g, a, ans, axis=-1):
    """Adjoint of np.partition(a, kth, axis): the entries of ans are sorted
    with their adjoints, which then go back as for np.sort, so that the
    result does not depend on how np.partition ordered equal values."""
    if axis is None:
        flat = partition_adjoint(np.ravel(g), np.ravel(a), ans, 0)
        return np.reshape(flat, np.shape(a))
    order = np.argsort(ans, axis=axis, kind='stable')
    g_sorted = np.take_along_axis(np.broadcast_to(g, np.shape(ans)), order,
                                  axis)
    return _unsort(g_sorted, a, axis)


# Random numbers --------------------------------------------------------------
# The pathwise derivative: a draw is loc + scale * z with z independent of
# the parameters, so for a fixed seed the draw is smooth in loc and scale.

def standardized(ans, loc, scale):
    """Return the standard draw z behind a draw loc + scale * z."""
    return (np.asarray(ans) - loc) / scale


# Forward rules of reductions, scans, sorting and tuple results ---------------
# A reduction's tangent is the sum over the reduced axes of its partial
# derivatives times t. The partial derivatives are the reverse helper's
# result for a unit cotangent, so both modes agree at kinks and zeros.

def reduction_tangent(t, partials, ans, axis=None, keepdims=False):
    """Tangent of a reduction over `axis` of an array with the given partial
    derivatives. A real result of a complex input gets Re(partials * t),
    the tangent under the complex convention of the reverse rules."""
    axes = _normalize_axes(axis, np.ndim(partials))
    tangent = np.sum(partials * np.asarray(t), axis=axes, keepdims=keepdims)
    if np.iscomplexobj(tangent) and not np.iscomplexobj(ans):
        tangent = np.real(tangent)
    return tangent_like(tangent, ans)


def unit_cotangent(ans):
    """Return ones shaped like `ans`: the cotangent that makes a reverse
    helper return partial derivatives."""
    return np.ones(np.shape(ans))


def prod_tangent(t, x, ans, axis=None, keepdims=False, where=True):
    """Tangent of np.prod(x, axis, keepdims=keepdims, where=where) = ans,
    exact with zeros in x (see `prod_adjoint`)."""
    partials = prod_adjoint(unit_cotangent(ans), x, axis, keepdims, where)
    return reduction_tangent(_selected_tangent(t, where), partials, ans, axis,
                             keepdims)


def _selected_tangent(t, where):
    """Return the tangent t with 0 at the entries that `where` leaves out,
    which a reduction does not read even where their tangent is NaN."""
    if where is True:
        return t
    return np.where(where, t, 0.0)


def var_tangent(t, x, ans, axis=None, ddof=0, keepdims=False, where=True,
                mean=None, dtype=None):
    """Tangent of np.var(x, axis, dtype, ddof=ddof, keepdims=keepdims,
    where=where, mean=mean) = ans."""
    partials = var_adjoint(unit_cotangent(ans), x, axis, ddof, keepdims,
                           where, mean, dtype)
    return reduction_tangent(_selected_tangent(t, where), partials, ans, axis,
                             keepdims)


def var_mean_tangent(t, x, ans, axis=None, ddof=0, keepdims=False,
                     where=True, mean=None, dtype=None):
    """Tangent of np.var(x, ..., mean=mean) = ans from the tangent t of
    `mean`: x - mean gets -t in every entry of its slice."""
    partials = var_adjoint(unit_cotangent(ans), x, axis, ddof, keepdims,
                           where, mean, dtype)
    spread = np.broadcast_to(t, np.shape(partials))
    return -reduction_tangent(_selected_tangent(spread, where), partials, ans,
                              axis, keepdims)


def std_tangent(t, x, ans, axis=None, ddof=0, keepdims=False, where=True,
                mean=None, dtype=None):
    """Tangent of np.std(x, axis, dtype, ddof=ddof, keepdims=keepdims,
    where=where, mean=mean) = ans, 0 where ans is 0 (see `std_adjoint`)."""
    partials = std_adjoint(unit_cotangent(ans), x, ans, axis, ddof, keepdims,
                           where, mean, dtype)
    return reduction_tangent(_selected_tangent(t, where), partials, ans, axis,
                             keepdims)


def std_mean_tangent(t, x, ans, axis=None, ddof=0, keepdims=False,
                     where=True, mean=None, dtype=None):
    """Tangent of np.std(x, ..., mean=mean) = ans from the tangent t of
    `mean` (see `var_mean_tangent`)."""
    partials = std_adjoint(unit_cotangent(ans), x, ans, axis, ddof, keepdims,
                           where, mean, dtype)
    spread = np.broadcast_to(t, np.shape(partials))
    return -reduction_tangent(_selected_tangent(spread, where), partials, ans,
                              axis, keepdims)


def ptp_tangent(t, x, ans, axis=None, keepdims=False):
    """Tangent of np.ptp(x, axis, keepdims=keepdims) = ans, with ties split
    evenly."""
    partials = ptp_adjoint(unit_cotangent(ans), x, axis, keepdims)
    return reduction_tangent(t, partials, ans, axis, keepdims)


def skip_nan_tangent(t, x):
    """Return the tangent t of x with 0 at the NaN entries of x.

    A function that skips NaNs (np.nansum, np.fmax) does not read those
    entries, but their tangent is often NaN too (the tangent of y ** 2 at
    y = NaN is 2 * NaN * t), and NaN * 0 would make the result NaN.
    """
    return np.where(np.isnan(x), 0.0, t)


def nansum_tangent(t, x, ans, axis=None, keepdims=False, where=True):
    """Tangent of np.nansum(x, axis, keepdims=keepdims, where=where) = ans:
    the NaNs that it skips, and the entries that `where` leaves out, do not
    move it."""
    partials = nansum_adjoint(unit_cotangent(ans), x, axis, keepdims, where)
    t = _selected_tangent(skip_nan_tangent(t, x), where)
    return reduction_tangent(t, partials, ans, axis, keepdims)


def nanmean_tangent(t, x, ans, axis=None, keepdims=False):
    """Tangent of np.nanmean(x, axis, keepdims=keepdims) = ans."""
    partials = nanmean_adjoint(unit_cotangent(ans), x, axis, keepdims)
    return reduction_tangent(skip_nan_tangent(t, x), partials, ans, axis,
                             keepdims)


def nan_extremum_tangent(t, x, ans, axis=None, keepdims=False):
    """Tangent of np.nanmax or np.nanmin: the mean of the tangents at the
    tied extrema, 0 for an all-NaN slice. np.where leaves out the tangents
    of the other entries even where they are NaN."""
    mask = np.asarray(x) == _restore_reduced(ans, x, axis, keepdims)
    axes = _normalize_axes(axis, np.ndim(x))
    count = np.sum(mask, axis=axes, keepdims=keepdims)
    return tangent_like(
        np.sum(np.where(mask, t, 0.0), axis=axes, keepdims=keepdims)
        / np.maximum(count, 1), ans)


def nanprod_tangent(t, x, ans, axis=None, keepdims=False):
    """Tangent of np.nanprod(x, axis, keepdims=keepdims) = ans."""
    partials = nanprod_adjoint(unit_cotangent(ans), x, axis, keepdims)
    return reduction_tangent(skip_nan_tangent(t, x), partials, ans, axis,
                             keepdims)


def nanvar_tangent(t, x, ans, axis=None, ddof=0, keepdims=False,
                   where=True, dtype=None):
    """Tangent of np.nanvar(x, axis, dtype, ddof=ddof, keepdims=keepdims,
    where=where) = ans."""
    partials = nanvar_adjoint(unit_cotangent(ans), x, axis, ddof, keepdims,
                              where, dtype)
    t = _selected_tangent(skip_nan_tangent(t, x), where)
    return reduction_tangent(t, partials, ans, axis, keepdims)


def nanstd_tangent(t, x, ans, axis=None, ddof=0, keepdims=False,
                   dtype=None):
    """Tangent of np.nanstd(x, axis, dtype, ddof=ddof, keepdims=keepdims)
    = ans."""
    partials = nanstd_adjoint(unit_cotangent(ans), x, ans, axis, ddof,
                              keepdims, dtype)
    return reduction_tangent(skip_nan_tangent(t, x), partials, ans, axis,
                             keepdims)


def nancumsum_adjoint(g, x, axis=None):
    """Adjoint of np.nancumsum(x, axis): that of np.cumsum, 0 at the NaNs."""
    return np.where(np.isnan(x), 0.0, cumsum_adjoint(g, x, axis))


def nancumprod_adjoint(g, x, ans, axis=None):
    """Adjoint of np.nancumprod(x, axis) = ans: that of np.cumprod with the
    NaNs read as 1, and 0 at the NaNs."""
    partials = cumprod_adjoint(g, nan_filled(x, 1.0), ans, axis)
    return np.where(np.isnan(x), 0.0, partials)


def nancumprod_tangent(t, x, ans, axis=None):
    """Tangent of np.nancumprod(x, axis) = ans (see `cumprod_tangent`)."""
    return cumprod_tangent(skip_nan_tangent(t, x), nan_filled(x, 1.0), ans,
                           axis)


def average_tangent(t_a, t_weights, a, ans, axis=None, weights=None,
                    returned=False, keepdims=False):
    """Tangent of np.average(a, axis, weights) = sum(a * w) / sum(w) along
    t_a (the tangent of a) or t_weights; the other one is None."""
    _check_average_options(returned)
    a = np.asarray(a)
    axes = _normalize_axes(axis, a.ndim)
    if weights is None:
        return np.mean(t_a, axis=axes, keepdims=keepdims)
    w = np.asarray(weights)
    if w.shape != a.shape:
        w = np.reshape(w, _weights_shape(a.ndim, axis))
    total = np.sum(np.broadcast_to(w, a.shape), axis=axes, keepdims=True)
    if t_a is not None:
        share = w * np.asarray(t_a)
    else:
        average = _restore_reduced(ans, a, axis, keepdims)
        share = np.reshape(t_weights, w.shape) * (a - average)
    share = np.broadcast_to(share, np.broadcast_shapes(share.shape, a.shape))
    return np.sum(share / total, axis=axes, keepdims=keepdims)


def cumprod_tangent(t, x, ans, axis=None):
    """Tangent of np.cumprod(x, axis) = ans by the recurrence
    d ans_k = x_k * d ans_(k-1) + ans_(k-1) * t_k: no division, so zeros in
    x are exact, at every order of derivative (see `linear_recurrence`)."""
    t = np.broadcast_to(t, np.shape(x))
    if axis is None or np.ndim(x) == 0:
        t = np.ravel(t)
        x = np.ravel(x)
        ans = np.ravel(ans)
        axis = 0
    t = np.moveaxis(t, axis, -1)
    x = np.moveaxis(np.asarray(x), axis, -1)
    ans = np.moveaxis(np.asarray(ans), axis, -1)
    tangent = linear_recurrence(_exclusive_products(ans) * t, x)
    return np.moveaxis(tangent, -1, axis)


def sorted_tangent(t, a, ans, axis=-1):
    """Tangent of np.sort(a, axis) or np.partition(a, kth, axis) = ans.

    Each entry of ans takes the tangent of the entry of a with its value,
    and tied values share the mean of their tangents: the transpose of
    `partition_adjoint`, which does not depend on how equal values were
    ordered.
    """
    if axis is None:
        return sorted_tangent(np.ravel(t), np.ravel(a), ans, 0)
    a = np.moveaxis(np.asarray(a), axis, -1)
    t = np.moveaxis(np.broadcast_to(t, np.shape(ans)), axis, -1)
    order = np.argsort(a, axis=-1, kind='stable')
    values = np.take_along_axis(a, order, -1)
    means = _tie_means(np.take_along_axis(t, order, -1), values)
    positions = np.argsort(np.moveaxis(np.asarray(ans), axis, -1), axis=-1,
                           kind='stable')
    tangent = np.zeros(a.shape, dtype=np.result_type(means, float))
    np.put_along_axis(tangent, positions, means, -1)
    return tangent_like(np.moveaxis(tangent, -1, axis), ans)


def divmod_tangent(t_remainder, ans):
    """Tangent of (quotient, remainder) = divmod(x, y), given the tangent of
    the remainder: the quotient is piecewise constant."""
    return (zeros_like(ans[0]), broadcast_like(t_remainder, ans[1]))


def field_tangent(t, x, name):
    """Tangent of `x.name` for a named tuple x, given the tuple tangent t."""
    return t[_field_position(x, name)]


# Linear algebra --------------------------------------------------------------
# Matrices are the last two axes, and leading axes are stacks. A tuple
# result's adjoint is a tuple of adjoints where None is zero.

def _mT(a):
    return np.swapaxes(a, -1, -2)


# The checks of arguments that a rule does not differentiate are functions of
# their own, registered as non-differentiable, so that forward mode can go
# through the adjoint helpers (forward over reverse) without meeting a raise.

def _real_matrices(a, name):
    if np.iscomplexobj(a):
        raise _unsupported_error(
            f'adcompiler differentiates {name} of real matrices only, and '
            'this one is complex')


def _check_pinv_options(a, hermitian):
    if hermitian:
        raise _unsupported_error(
            'adcompiler differentiates np.linalg.pinv with hermitian=False '
            'only, not hermitian=True')
    _real_matrices(a, 'np.linalg.pinv')


def _check_svd_options(a, full_matrices, hermitian):
    if hermitian:
        raise _unsupported_error(
            'adcompiler differentiates np.linalg.svd with hermitian=False '
            'only, not hermitian=True')
    _real_matrices(a, 'np.linalg.svd')
    rows, columns = np.shape(a)[-2:]
    if full_matrices and rows != columns:
        raise _unsupported_error(
            'adcompiler differentiates np.linalg.svd of a non-square matrix '
            'with full_matrices=False only, not full_matrices=True')


def _check_qr_mode(a, mode):
    _real_matrices(a, 'np.linalg.qr')
    rows, columns = np.shape(a)[-2:]
    if mode not in ('reduced', 'r', 'complete') or (
            mode == 'complete' and rows > columns):
        raise _unsupported_error(
            f"adcompiler differentiates np.linalg.qr with mode='reduced' or "
            f"mode='r' (and mode='complete' for a wide matrix), not "
            f"mode={mode!r} here")


def _check_average_options(returned):
    if returned:
        raise _unsupported_error(
            'adcompiler differentiates np.average with returned=False only, '
            'not returned=True')


def _entries(g, count):
    """Return the entries of a tuple adjoint as arrays, None for zero."""
    if g is None:
        return [None] * count
    return [None if item is None else np.asarray(item) for item in g]


def spectral_quotients(w, m):
    """Return F * m with F_ij = 1 / (w_j - w_i) off the diagonal, 0 on it.

    Where m is 0 the result is 0, even if w_i == w_j. Where m is not 0 and
    the values are equal, the gradient does not exist, and the result is an
    inf or NaN that shows it.
    """
    difference = w[..., None, :] - w[..., :, None]
    off = ~np.eye(w.shape[-1], dtype=bool)
    with np.errstate(divide='ignore', invalid='ignore'):
        quotient = m / difference
    return np.where(off & (m != 0), quotient, 0.0)


def spectral_quotients_tangent(t, w, m):
    """Tangent of `spectral_quotients(w, m)` along the tangent t of w:
    -m (t_j - t_i) / (w_j - w_i)**2 off the diagonal, 0 where m is 0."""
    difference = w[..., None, :] - w[..., :, None]
    moved = t[..., None, :] - t[..., :, None]
    off = ~np.eye(w.shape[-1], dtype=bool)
    with np.errstate(divide='ignore', invalid='ignore'):
        quotient = -m * moved / difference ** 2
    return np.where(off & (m != 0), quotient, 0.0)


def spectral_quotients_adjoint_w(g, w, m):
    """Adjoint of w in `spectral_quotients(w, m)`: with
    h_ij = g_ij m_ij / (w_j - w_i)**2, entry k gets the sum of row k of h
    minus the sum of its column k."""
    difference = w[..., None, :] - w[..., :, None]
    off = ~np.eye(w.shape[-1], dtype=bool)
    with np.errstate(divide='ignore', invalid='ignore'):
        h = g * m / difference ** 2
    h = np.where(off & (m != 0), h, 0.0)
    return np.sum(h, axis=-1) - np.sum(h, axis=-2)


def _one_triangle(symmetric, uplo):
    """Return the gradient of a function that reads one triangle of its
    (as eigh and cholesky do), from its gradient `symmetric` with respect
    to symmetric matrices: zero in the other triangle and doubled off the
    diagonal of the read one."""
    diagonal = symmetric * np.eye(symmetric.shape[-1])
    if str(uplo).upper() == 'U':
        return 2.0 * np.triu(symmetric, 1) + diagonal
    return 2.0 * np.tril(symmetric, -1) + diagonal


def cofactor_matrix(a):
    """Return the cofactor matrix of a (its transposed adjugate), the
    derivative of np.linalg.det(a).

    The cofactors come from an SVD a = u diag(s) vh, as
    det(u) det(vh) conj(u) diag(products of the other s) conj(vh), which
    needs no inverse: a singular matrix gets its adjugate. Its derivatives
    are rules of their own (`cofactor_tangent`), so higher derivatives of
    det never differentiate the singular vectors, which are not smooth
    where singular values repeat (at the identity, for example).
    """
    u, s, vh = np.linalg.svd(a)
    others = _products_of_others(s, (np.ndim(s) - 1,))
    phase = (np.linalg.det(u) * np.linalg.det(vh))[..., None, None]
    return phase * np.matmul(np.conj(u) * others[..., None, :], np.conj(vh))


def _products_of_other_pairs(s):
    """Return q with q_ij the product of the entries of s (along its last
    axis) other than s_i and s_j, for i != j, and 0 on the diagonal."""
    n = s.shape[-1]
    eye = np.eye(n, dtype=bool)
    skipped = eye[:, None, :] | eye[None, :, :]
    factors = np.where(skipped, 1.0, s[..., None, None, :])
    return np.where(eye, 0.0, np.prod(factors, axis=-1))


def cofactor_tangent(t, a):
    """Tangent of `cofactor_matrix(a)` along t: the matrix m with
    sum(m * e) = the second derivative of det at a along t and e.

    With the SVD a = u diag(s) vh and p = det(u) det(vh),
    det(a + e) = p det(diag(s) + u^H e vh^H) for fixed u and vh. So with
    t' = u^H t vh^H and q_ij the product of the s_k other than s_i and s_j,
    m = p conj(u) m' conj(vh), where m'_jj is the sum over i != j of
    q_ij t'_ii and m'_ij = -q_ij t'_ji off the diagonal. Nothing is divided
    and the singular vectors are not differentiated, so this holds for
    singular matrices and repeated singular values alike. m is symmetric
    in t and e, so it is also the transpose of this map (the reverse rule).
    """
    u, s, vh = np.linalg.svd(a)
    q = _products_of_other_pairs(s)
    rotated = np.conj(_mT(u)) @ np.asarray(t) @ np.conj(_mT(vh))
    summed = np.sum(q * _diagonal(rotated)[..., :, None], axis=-2)
    inner = -q * _mT(rotated) + summed[..., None, :] * np.eye(s.shape[-1])
    phase = (np.linalg.det(u) * np.linalg.det(vh))[..., None, None]
    return phase * (np.conj(u) @ inner @ np.conj(vh))


def det_adjoint(g, a):
    """Adjoint of np.linalg.det(a): g times the cofactor matrix."""
    return np.asarray(g)[..., None, None] * cofactor_matrix(a)


def slogdet_adjoint(g, a, ans):
    """Adjoint of (sign, logabsdet) = np.linalg.slogdet(a).

    logabsdet gives g inv(a)^T. The sign only moves for a complex a, where
    it gives 1j * Im(sign * g_sign) inv(a)^T.
    """
    g_sign, g_log = _entries(g, 2)
    result = np.zeros(np.shape(a), dtype=np.result_type(a, float))
    if g_log is None and (g_sign is None or not np.iscomplexobj(a)):
        return result
    inverse_t = _mT(np.linalg.inv(a))
    if g_log is not None:
        result = result + g_log[..., None, None] * inverse_t
    if g_sign is not None and np.iscomplexobj(a):
        turn = 1j * np.asarray(np.imag(np.asarray(ans[0]) * g_sign))
        result = result + turn[..., None, None] * inverse_t
    return result


def inv_adjoint(g, ans):
    """Adjoint of np.linalg.inv(a) = ans: -ans^T g ans^T."""
    return -_mT(ans) @ g @ _mT(ans)


# NumPy 2.0 reads the b of np.linalg.solve(a, b) as vectors only when it is
# 1-D; NumPy 1.x also when b has one axis fewer than a (a stack of
# vectors). With that rule, a (1, 1, 1) and b (1, 1) solve to shape (1, 1).
_SOLVE_READS_STACKED_VECTORS = np.linalg.solve(
    np.ones((1, 1, 1)), np.ones((1, 1))).shape == (1, 1)


def _solve_reads_vectors(a, b):
    """Return whether np.linalg.solve(a, b) reads b as one vector per
    matrix of a, as the installed NumPy decides."""
    b_axes = np.ndim(b)
    return b_axes == 1 or (_SOLVE_READS_STACKED_VECTORS
                           and b_axes == np.ndim(a) - 1)


def solve_adjoints(g, a, b, ans):
    """Adjoints of a and b in x = np.linalg.solve(a, b): b gets
    solve(a^T, g) and a gets -solve(a^T, g) x^T. A b that solve reads as
    vectors is moved to columns and back."""
    vector = _solve_reads_vectors(a, b)
    g_columns = np.asarray(g)[..., None] if vector else g
    x_columns = np.asarray(ans)[..., None] if vector else ans
    d_b = np.linalg.solve(_mT(a), g_columns)
    d_a = -d_b @ _mT(x_columns)
    d_b = d_b[..., 0] if vector else d_b
    return unbroadcast(d_a, a), unbroadcast(d_b, b)


def _pinv_adjoint(g, a, x):
    """Adjoint of a in x = pinv(a), for a matrix of constant rank."""
    x_t, g_t = _mT(x), _mT(g)
    return (-x_t @ g @ x_t + (g_t - a @ x @ g_t) @ (x @ x_t)
            + (x_t @ x) @ (g_t - g_t @ x @ a))


def pinv_adjoint(g, a, ans, hermitian=False):
    """Adjoint of np.linalg.pinv(a), valid where the rank does not change."""
    _check_pinv_options(a, hermitian)
    return _pinv_adjoint(np.asarray(g), np.asarray(a), np.asarray(ans))


def _tie_weights(values, target, axis):
    """Return weights that split an adjoint evenly among the entries equal to
    `target` along `axis`."""
    mask = values == np.expand_dims(target, axis)
    return mask / np.sum(mask, axis=axis, keepdims=True)


def _invalid_matrix_norm(ord):
    raise ValueError(f'invalid norm order {ord!r} for matrices')


def _matrix_norm_adjoint(g, x, ord, axes):
    """Adjoint of a matrix norm over `axes`, where g has size-1 dimensions."""
    x = np.moveaxis(x, axes, (-2, -1))
    g = np.moveaxis(g, axes, (-2, -1))
    if ord in ('nuc', 2, -2):
        u, s, vh = np.linalg.svd(x, full_matrices=False)
        if ord == 'nuc':
            weights = np.ones_like(s)
        else:
            extreme = np.max(s, -1) if ord == 2 else np.min(s, -1)
            weights = _tie_weights(s, extreme, -1)
        result = g * np.conj(u @ (weights[..., :, None] * vh))
    elif ord in (1, -1, np.inf, -np.inf):
        summed = -2 if ord in (1, -1) else -1
        sums = np.sum(np.abs(x), axis=summed)
        extreme = np.max(sums, -1) if ord > 0 else np.min(sums, -1)
        weights = np.expand_dims(_tie_weights(sums, extreme, -1), summed)
        result = g * abs_sign(x) * weights
    else:
        result = _invalid_matrix_norm(ord)
    return np.moveaxis(result, (-2, -1), axes)


def _norm_axes(ndim, ord, axis, vector):
    """Return the axes that np.linalg.norm (or, with `vector`,
    np.linalg.vector_norm) reduces."""
    if axis is None and (vector or ord is None):
        return tuple(range(ndim))
    if axis is None:
        return tuple(range(ndim))[:2]
    return _normalize_axes(axis, ndim)


def norm_adjoint(g, x, ans, ord=None, axis=None, keepdims=False,
                 vector=False):
    """Adjoint of np.linalg.norm(x, ord, axis, keepdims).

    The norm of a zero vector has a zero gradient. Entries tied for the
    largest (or smallest) magnitude, column sum, row sum or singular value
    share the adjoint evenly. `vector=True` reduces over all of `axis` as
    one vector, as np.linalg.vector_norm does.
    """
    x = np.asarray(x)
    axes = _norm_axes(x.ndim, ord, axis, vector)
    g = _restore_reduced(g, x, axes, keepdims)
    ans = _restore_reduced(ans, x, axes, keepdims)
    matrix = len(axes) == 2 and not vector and not (
        axis is None and ord is None)
    if ord in (None, 'fro') or (ord == 2 and not matrix):
        zero = ans == 0
        return np.where(zero, 0, g * np.conj(x) / np.where(zero, 1, ans))
    if matrix:
        return _matrix_norm_adjoint(g, x, ord, axes)
    if ord in (np.inf, -np.inf):
        magnitude = np.abs(x)
        mask = magnitude == ans
        share = mask / np.sum(mask, axis=axes, keepdims=True)
        return g * abs_sign(x) * share
    if ord == 0:
        return np.zeros(x.shape, dtype=np.result_type(x, float))
    if ord == 1:
        return g * abs_sign(x)
    zero = ans == 0
    scale = np.abs(x) ** (ord - 1) / np.where(zero, 1, ans) ** (ord - 1)
    return np.where(zero, 0, g * abs_sign(x) * scale)


def eigh_adjoint(g, a, ans, UPLO='L'):
    """Adjoint of (w, v) = np.linalg.eigh(a, UPLO), a symmetric.

    With respect to symmetric matrices it is v (diag(g_w) + F * (v^T g_v))
    v^T, symmetrized, with F from `spectral_quotients`. eigh reads only the
    UPLO triangle, so `_one_triangle` turns that into its gradient.
    """
    _real_matrices(a, 'np.linalg.eigh')
    w, v = np.asarray(ans[0]), np.asarray(ans[1])
    g_w, g_v = _entries(g, 2)
    inner = np.zeros(np.shape(v))
    if g_w is not None:
        inner = inner + g_w[..., None, :] * np.eye(w.shape[-1])
    if g_v is not None and np.any(g_v):
        inner = inner + spectral_quotients(w, _mT(v) @ g_v)
    symmetric = v @ inner @ _mT(v)
    return _one_triangle((symmetric + _mT(symmetric)) / 2.0, UPLO)


def eigvalsh_adjoint(g, a, UPLO='L'):
    """Adjoint of np.linalg.eigvalsh(a, UPLO): v diag(g) v^T, one triangle.

    Its derivatives are rules of their own (`eigvalsh_adjoint_tangent`),
    so second derivatives never differentiate the eigenvectors.
    """
    _real_matrices(a, 'np.linalg.eigvalsh')
    _, v = np.linalg.eigh(a, UPLO)
    return _one_triangle(v @ (np.asarray(g)[..., :, None] * _mT(v)), UPLO)


# Relative size below which two eigenvalues or singular values count as
# equal. It is about 500 float64 machine epsilons, an estimate of the size
# below which LAPACK's rounding error dominates their difference.
_TIE_TOLERANCE = 1e-13


def _divided_product(numerator, denominator, m, values):
    """Return m * numerator / denominator entrywise, and 0 where m is 0.

    The quotients are divided differences of a function of the spectrum
    `values`. Where the denominator is zero up to rounding (a tie), the
    limit of the quotient depends on the function's derivative, which the
    arguments do not give, so the entry is NaN unless m is 0 there.
    """
    scale = np.max(np.abs(values), axis=-1, keepdims=True)[..., None]
    tie = np.abs(denominator) <= _TIE_TOLERANCE * scale
    with np.errstate(divide='ignore', invalid='ignore'):
        quotient = numerator / np.where(tie, 1.0, denominator)
    quotient = np.where(tie, np.nan, quotient)
    return np.where(m == 0, 0.0, quotient * m)


def _off_diagonal(m):
    return m * ~np.eye(m.shape[-1], dtype=bool)


def eigvalsh_adjoint_tangent(t, g, a, UPLO='L'):
    """Tangent of `eigvalsh_adjoint(g, a, UPLO)` along the tangent t of a,
    with g fixed.

    With m = v^T s v for the tangent s of the symmetric matrix read from
    the UPLO triangle, it is one triangle of v (K * m) v^T, where
    K_ij = (g_i - g_j) / (w_i - w_j) off the diagonal, the divided
    differences of g. Where eigenvalues are equal, K_ij is NaN unless m_ij
    is 0, because its limit is the derivative of g, which the user's code
    computes and this helper does not receive. The map is self-adjoint, so
    it also gives the cotangent of a from the cotangent t of the result.
    """
    _real_matrices(a, 'np.linalg.eigvalsh')
    w, v = np.linalg.eigh(a, UPLO)
    g = np.asarray(g)
    m = _off_diagonal(_mT(v) @ _read_triangle(t, UPLO) @ v)
    inner = _divided_product(g[..., :, None] - g[..., None, :],
                             w[..., :, None] - w[..., None, :], m, w)
    return _one_triangle(v @ inner @ _mT(v), UPLO)


def _second_tangent(adjoint_tangent, t, s, a, *options):
    """Return the second derivative of the eigenvalues or singular values
    of a along t and s, entry k being sum(adjoint_tangent(s, e_k, a) * t),
    where e_k is the k-th unit cotangent."""
    count = min(np.shape(a)[-2:])
    entries = []
    for k in range(count):
        unit = np.zeros(count)
        unit[k] = 1.0
        changed = adjoint_tangent(s, unit, a, *options)
        entries.append(np.sum(changed * t, axis=(-2, -1)))
    return np.stack(entries, axis=-1)


def eigvalsh_second_tangent(t, s, a, UPLO='L'):
    """Tangent along s of `eigvalsh_tangent(t, a, UPLO)`: the second
    derivative of the eigenvalues, NaN where equal eigenvalues make it
    undefined."""
    return _second_tangent(eigvalsh_adjoint_tangent, t, s, a, UPLO)


def unsupported_derivative(name):
    """Raise for a derivative of a higher order than the rules of `name`
    provide."""
    raise _unsupported_error(
        f'adcompiler differentiates {name} at most twice; a higher '
        f'derivative of it is not supported')


def _eigenvalue_adjoint(g_w, v, a):
    """Adjoint of a from the eigenvalues' adjoints: inv(v)^T diag(g_w) v^T."""
    result = _mT(np.linalg.inv(v)) @ (np.asarray(g_w)[..., :, None] * _mT(v))
    return match_kind(result, a)


def _normalized_cotangent(g_v, v):
    """Return the cotangent of the raw eigenvector tangent v (F * (inv(v) t
    v)) from the cotangent g_v of the eigenvectors that LAPACK normalizes:
    the transpose of the correction alpha_k v_k in `_eigenvector_tangent`.

    With c_k = sum_i g_v[i, k] v[i, k], column k gets -Re(c_k) conj(v_k),
    and its largest entry p also -1j Im(c_k) / v[p, k].
    """
    c = np.sum(g_v * v, axis=-2)
    result = g_v - np.real(c)[..., None, :] * np.conj(v)
    if np.iscomplexobj(v):
        largest = np.argmax(np.abs(v), axis=-2)[..., None, :]
        pivot = np.real(np.take_along_axis(v, largest, -2))
        rows = np.arange(v.shape[-2])[:, None] == largest
        result = result - rows * (1j * np.imag(c)[..., None, :] / pivot)
    return result


def eig_adjoint(g, a, ans):
    """Adjoint of (w, v) = np.linalg.eig(a): inv(v)^T (diag(g_w) +
    F * (v^T g')) v^T, where g' is the cotangent of the eigenvectors before
    LAPACK's normalization (`_normalized_cotangent`) and F is as in
    `spectral_quotients`. The eigenvalues must be distinct where the
    eigenvectors carry a cotangent."""
    w, v = np.asarray(ans[0]), np.asarray(ans[1])
    g_w, g_v = _entries(g, 2)
    inner = np.zeros(v.shape, dtype=np.result_type(v, complex))
    if g_w is not None:
        inner = inner + g_w[..., None, :] * np.eye(w.shape[-1])
    if g_v is not None and np.any(g_v):
        inner = inner + spectral_quotients(
            w, _mT(v) @ _normalized_cotangent(g_v, v))
    return match_kind(np.linalg.solve(_mT(v), inner @ _mT(v)), a)


def eigvals_adjoint(g, a):
    """Adjoint of np.linalg.eigvals(a)."""
    return _eigenvalue_adjoint(g, np.linalg.eig(a)[1], a)


def cholesky_adjoint(g, a, ans, upper=False):
    """Adjoint of np.linalg.cholesky(a), a = l l^T (u^T u with upper=True).

    With respect to symmetric matrices it is the symmetric part of
    l^-T phi(l^T g) l^-1, where phi keeps the lower triangle with half the
    diagonal. cholesky reads one triangle of a, see `_one_triangle`.
    """
    _real_matrices(a, 'np.linalg.cholesky')
    lower = _mT(ans) if upper else np.asarray(ans)
    g = _mT(g) if upper else np.asarray(g)
    phi = _mT(lower) @ g
    phi = np.tril(phi) - 0.5 * phi * np.eye(phi.shape[-1])
    left = np.linalg.solve(_mT(lower), phi)
    middle = _mT(np.linalg.solve(_mT(lower), _mT(left)))
    return _one_triangle((middle + _mT(middle)) / 2.0, 'U' if upper else 'L')


def svd_adjoint(g, a, ans, full_matrices=True, compute_uv=True,
                hermitian=False):
    """Adjoint of np.linalg.svd(a, full_matrices, compute_uv, hermitian).

    For the thin SVD it is u [diag(g_s) + (F * (u^T g_u - g_u^T u)) s
    + s (F * (v^T g_v - g_v^T v))] v^T plus the parts of g_u and g_v
    outside the spans of u and v, with F_ij = 1 / (s_j**2 - s_i**2).
    """
    _check_svd_options(a, full_matrices and compute_uv, hermitian)
    a = np.asarray(a)
    if not compute_uv:
        return singular_value_adjoint(g, a)
    rows, columns = a.shape[-2:]
    u, s, vh = np.asarray(ans[0]), np.asarray(ans[1]), np.asarray(ans[2])
    g_u, g_s, g_vh = _entries(g, 3)
    v = _mT(vh)
    inner = np.zeros(s.shape + s.shape[-1:])
    if g_s is not None:
        inner = inner + g_s[..., None, :] * np.eye(s.shape[-1])
    if g_u is not None and np.any(g_u):
        projected = _mT(u) @ g_u
        inner = inner + spectral_quotients(
            s ** 2, projected - _mT(projected)) * s[..., None, :]
    if g_vh is not None and np.any(g_vh):
        g_v = _mT(g_vh)
        projected = _mT(v) @ g_v
        inner = inner + s[..., :, None] * spectral_quotients(
            s ** 2, projected - _mT(projected))
    result = u @ inner @ vh
    if g_u is not None and rows > columns:
        outside = g_u - u @ (_mT(u) @ g_u)
        result = result + (outside / s[..., None, :]) @ vh
    if g_vh is not None and columns > rows:
        outside = g_vh - (g_vh @ v) @ vh
        result = result + u @ (outside / s[..., :, None])
    return result


def singular_value_adjoint(g, a):
    """Adjoint of the singular values of a: u diag(g) vh (thin SVD).

    Its derivatives are rules of their own
    (`singular_value_adjoint_tangent`), so second derivatives never
    differentiate the singular vectors.
    """
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    return u @ (np.asarray(g)[..., :, None] * vh)


def singular_value_tangent(t, a):
    """Tangent of the singular values of a: diag(u^T t v) (thin SVD)."""
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    return _diagonal(_mT(u) @ np.asarray(t) @ _mT(vh))


def singular_value_adjoint_tangent(t, g, a):
    """Tangent of `singular_value_adjoint(g, a)` along the tangent t of a,
    with g fixed.

    With the thin SVD a = u diag(s) v^T and p = u^T t v split into its
    symmetric part p+ and antisymmetric part p-, it is
    u (K+ * p+ + K- * p-) v^T + (t v - u p) diag(g / s) v^T
    + u diag(g / s) (u^T t - p v^T), where K+_ij = (g_i - g_j) /
    (s_i - s_j) and K-_ij = (g_i + g_j) / (s_i + s_j) off the diagonal.
    A tie (equal singular values, or zero ones) gives NaN unless the term
    it multiplies is 0, because its limit is the derivative of g. The map
    is self-adjoint, so it also gives the cotangent of a.
    """
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    v, t, g = _mT(vh), np.asarray(t), np.asarray(g)
    p = _mT(u) @ t @ v
    symmetric = _off_diagonal(p + _mT(p)) / 2.0
    antisymmetric = _off_diagonal(p - _mT(p)) / 2.0
    inner = (_divided_product(g[..., :, None] - g[..., None, :],
                              s[..., :, None] - s[..., None, :], symmetric, s)
             + _divided_product(g[..., :, None] + g[..., None, :],
                                s[..., :, None] + s[..., None, :],
                                antisymmetric, s))
    result = u @ inner @ vh
    rows, columns = np.shape(a)[-2:]
    if rows > columns:
        outside = t @ v - u @ p
        result = result + _divided_product(
            g[..., None, :], s[..., None, :], outside, s) @ vh
    if columns > rows:
        outside = _mT(u) @ t - p @ vh
        result = result + u @ _divided_product(
            g[..., :, None], s[..., :, None], outside, s)
    return result


def singular_value_second_tangent(t, s, a):
    """Tangent along s of `singular_value_tangent(t, a)`: the second
    derivative of the singular values, NaN where ties make it undefined."""
    return _second_tangent(singular_value_adjoint_tangent, t, s, a)


def pseudo_inverse(a, rank):
    """Return the pseudo-inverse of a that keeps its `rank` largest
    singular values, as np.linalg.lstsq uses it. Its derivatives are rules
    of their own (those of np.linalg.pinv, for a constant rank), so the
    singular vectors are never differentiated."""
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    kept = np.arange(s.shape[-1]) < rank
    s_inverse = np.where(kept, 1.0 / np.where(kept, s, 1.0), 0.0)
    return _mT(vh) @ (s_inverse[..., :, None] * _mT(u))


def _qr_tall_adjoint(q, r, g_q, g_r):
    """Adjoint of a in (q, r) = qr(a) for a with at least as many rows as
    columns: (g_q + q copyltu(m)) r^-T with m = r g_r^T - g_q^T q, where
    copyltu mirrors the lower triangle of m onto the upper one."""
    m = r @ _mT(g_r) - _mT(g_q) @ q
    copied = np.tril(m) + _mT(np.tril(m, -1))
    return _mT(np.linalg.solve(r, _mT(g_q + q @ copied)))


def qr_adjoint(g, a, ans, mode='reduced'):
    """Adjoint of np.linalg.qr(a, mode) for modes 'reduced' and 'r', and
    'complete' when a has no more rows than columns.

    A wide a = [x | y] has r = [r1 | q^T y]: x is differentiated as a tall
    (square) matrix with g_q + y g_r2^T, and y gets q g_r2.
    """
    _check_qr_mode(a, mode)
    a = np.asarray(a)
    rows, columns = a.shape[-2:]
    if mode == 'r':
        q, r = np.linalg.qr(a)
        g_q, g_r = None, np.asarray(g)
    else:
        q, r = np.asarray(ans[0]), np.asarray(ans[1])
        g_q, g_r = _entries(g, 2)
    g_q = np.zeros(q.shape) if g_q is None else g_q
    g_r = np.zeros(r.shape) if g_r is None else g_r
    if rows >= columns:
        return _qr_tall_adjoint(q, r, g_q, g_r)
    y = a[..., :, rows:]
    g_r1, g_r2 = g_r[..., :, :rows], g_r[..., :, rows:]
    d_x = _qr_tall_adjoint(q, r[..., :, :rows], g_q + y @ _mT(g_r2), g_r1)
    return np.concatenate([d_x, q @ g_r2], axis=-1)


def lstsq_adjoints(g, a, b, ans):
    """Adjoints of a and b in (x, residuals, rank, s) = np.linalg.lstsq(a, b).

    x is pinv(a) b with the rank that lstsq found. A residual |b - a x|**2
    gives 2 r to b and -2 r x^T to a, because x is optimal and its change
    does not count. The singular values give u diag(g_s) vh.
    """
    _real_matrices(a, 'np.linalg.lstsq')
    _real_matrices(b, 'np.linalg.lstsq')
    a, b = np.asarray(a), np.asarray(b)
    x, residuals, rank = np.asarray(ans[0]), np.asarray(ans[1]), ans[2]
    g_x, g_residuals, _, g_s = _entries(g, 4)
    vector = b.ndim == 1
    b_columns = b[:, None] if vector else b
    x_columns = x[:, None] if vector else x
    inverse = pseudo_inverse(a, rank)
    d_a = np.zeros(a.shape)
    d_b = np.zeros(b_columns.shape)
    if g_x is not None:
        g_columns = g_x[:, None] if vector else g_x
        d_b = d_b + _mT(inverse) @ g_columns
        d_a = d_a + _pinv_adjoint(g_columns @ _mT(b_columns), a, inverse)
    if g_residuals is not None and residuals.size:
        r = b_columns - a @ x_columns
        d_b = d_b + 2.0 * r * g_residuals
        d_a = d_a - 2.0 * (r * g_residuals) @ _mT(x_columns)
    if g_s is not None:
        d_a = d_a + singular_value_adjoint(g_s, a)
    return d_a, d_b[:, 0] if vector else d_b


def matrix_power_adjoint(g, a, n):
    """Adjoint of np.linalg.matrix_power(a, n): the sum over k of
    (a^k)^T g (a^(n-1-k))^T, through inv(a) for negative n."""
    a, g = np.asarray(a), np.asarray(g)
    if n == 0:
        return np.zeros(a.shape, dtype=np.result_type(a, float))
    if n < 0:
        inverse = np.linalg.inv(a)
        return inv_adjoint(matrix_power_adjoint(g, inverse, -n), inverse)
    powers = [np.broadcast_to(np.eye(a.shape[-1]), a.shape)]
    for _ in range(n - 1):
        powers.append(powers[-1] @ a)
    result = 0.0
    for k in range(n):
        result = result + _mT(powers[k]) @ g @ _mT(powers[n - 1 - k])
    return result


# Forward rules of linear algebra ---------------------------------------------
# `t` is the tangent of the matrix argument. A tuple result gets a tuple
# tangent of the same type, so that its named fields work.

def _read_triangle(t, uplo):
    """Return the tangent of the symmetric matrix that eigh or cholesky uses
    when it reads the `uplo` triangle of a matrix with tangent t."""
    if str(uplo).upper() == 'U':
        return np.triu(t) + _mT(np.triu(t, 1))
    return np.tril(t) + _mT(np.tril(t, -1))


def _diagonal(m):
    return np.diagonal(m, axis1=-2, axis2=-1)


def det_tangent(t, a):
    """Tangent of np.linalg.det(a): the sum of the cofactors times t, which
    needs no inverse (see `cofactor_matrix`)."""
    return tangent_like(np.sum(cofactor_matrix(a) * t, axis=(-2, -1)),
                        np.asarray(a))


def slogdet_tangent(t, a, ans):
    """Tangent of (sign, logabsdet) = np.linalg.slogdet(a): with
    c = trace(inv(a) t), logabsdet moves by Re(c) and a complex sign by
    sign * 1j * Im(c)."""
    change = np.trace(np.linalg.solve(a, t), axis1=-2, axis2=-1)
    sign = np.asarray(ans[0])
    if np.iscomplexobj(sign):
        sign_tangent = sign * 1j * np.imag(change)
    else:
        sign_tangent = np.zeros(sign.shape)
    return _rebuild(ans, [sign_tangent, np.real(change)])


def pinv_tangent(t, a, ans, hermitian=False):
    """Tangent of x = np.linalg.pinv(a) where the rank does not change:
    -x t x + x x^T t^T (I - a x) + (I - x a) t^T x^T x."""
    _check_pinv_options(a, hermitian)
    a, x, t = np.asarray(a), np.asarray(ans), np.asarray(t)
    t_t, x_t = _mT(t), _mT(x)
    return (-x @ t @ x + (x @ x_t) @ (t_t - t_t @ a @ x)
            + (t_t - x @ a @ t_t) @ (x_t @ x))


def matrix_power_tangent(t, a, n):
    """Tangent of np.linalg.matrix_power(a, n): the sum over k of
    a^k t a^(n-1-k), through inv(a) for negative n."""
    a, t = np.asarray(a), np.asarray(t)
    if n == 0:
        return np.zeros(np.broadcast_shapes(a.shape, t.shape),
                        dtype=np.result_type(a, t, float))
    if n < 0:
        inverse = np.linalg.inv(a)
        return matrix_power_tangent(-inverse @ t @ inverse, inverse, -n)
    powers = [np.broadcast_to(np.eye(a.shape[-1]), a.shape)]
    for _ in range(n - 1):
        powers.append(powers[-1] @ a)
    result = 0.0
    for k in range(n):
        result = result + powers[k] @ t @ powers[n - 1 - k]
    return result


def solve_tangent_a(t, a, b, ans):
    """Tangent of x = np.linalg.solve(a, b) along a: -solve(a, t x). A b
    that solve reads as vectors is moved to columns and back."""
    if _solve_reads_vectors(a, b):
        return -np.linalg.solve(a, t @ np.asarray(ans)[..., None])[..., 0]
    return -np.linalg.solve(a, t @ ans)


def norm_tangent(t, x, ans, ord=None, axis=None, keepdims=False,
                 vector=False):
    """Tangent of np.linalg.norm(x, ord, axis, keepdims), through the
    partial derivatives of `norm_adjoint` (zero for the zero vector, ties
    shared evenly)."""
    axes = _norm_axes(np.ndim(x), ord, axis, vector)
    partials = norm_adjoint(unit_cotangent(ans), x, ans, ord, axis,
                            keepdims, vector)
    return reduction_tangent(t, partials, ans, axes, keepdims)


def eigh_tangent(t, a, ans, UPLO='L'):
    """Tangent of (w, v) = np.linalg.eigh(a, UPLO): with m = v^T s v for the
    tangent s of the symmetric matrix read from the UPLO triangle,
    dw = diag(m) and dv = v (F * m), F as in `spectral_quotients`."""
    _real_matrices(a, 'np.linalg.eigh')
    w, v = np.asarray(ans[0]), np.asarray(ans[1])
    m = _mT(v) @ _read_triangle(t, UPLO) @ v
    return _rebuild(ans, [_diagonal(m), v @ spectral_quotients(w, m)])


def eigvalsh_tangent(t, a, UPLO='L'):
    """Tangent of np.linalg.eigvalsh(a, UPLO): diag(v^T s v)."""
    _real_matrices(a, 'np.linalg.eigvalsh')
    _, v = np.linalg.eigh(a, UPLO)
    return _diagonal(_mT(v) @ _read_triangle(t, UPLO) @ v)


def _eigenvalue_tangent(t, v, w):
    """Tangent of the eigenvalues w of a with eigenvectors v: diag(inv(v) t v)."""
    return match_kind(_diagonal(np.linalg.solve(v, t @ v)), w)


def _eigenvector_tangent(t, w, v):
    """Tangent of the eigenvectors v (columns) of a with distinct
    eigenvalues w, normalized as LAPACK returns them: unit norm, and the
    entry of largest magnitude real.

    v (F * (inv(v) t v)) moves each eigenvector within its eigenspace's
    complement; adding alpha_k v_k keeps the norm (Re alpha_k =
    -Re(v_k^H dv_k)) and the largest entry p real (Im alpha_k =
    -Im(dv_k[p]) / v_k[p]).
    """
    raw = v @ spectral_quotients(w, np.linalg.solve(v, t @ v))
    along = np.real(np.sum(np.conj(v) * raw, axis=-2))
    largest = np.argmax(np.abs(v), axis=-2)[..., None, :]
    pivot = np.take_along_axis(v, largest, -2)[..., 0, :]
    turn = np.imag(np.take_along_axis(raw, largest, -2)[..., 0, :]) / np.real(
        pivot)
    alpha = -along - 1j * turn if np.iscomplexobj(v) else -along
    return raw + v * alpha[..., None, :]


def eig_tangent(t, a, ans):
    """Tangent of (w, v) = np.linalg.eig(a). The eigenvalues must be
    distinct where the eigenvectors are used (see `_eigenvector_tangent`)."""
    w, v = np.asarray(ans[0]), np.asarray(ans[1])
    dw = _eigenvalue_tangent(t, v, w)
    return _rebuild(ans, [dw, match_kind(_eigenvector_tangent(t, w, v), v)])


def eigvals_tangent(t, a, ans):
    """Tangent of np.linalg.eigvals(a) = ans."""
    return _eigenvalue_tangent(t, np.linalg.eig(a)[1], ans)


def cholesky_tangent(t, a, ans, upper=False):
    """Tangent of l = np.linalg.cholesky(a) (u = l^T with upper=True):
    l phi(l^-1 s l^-T) for the tangent s of the symmetric matrix read from
    the lower (upper) triangle, where phi keeps the lower triangle with
    half the diagonal."""
    _real_matrices(a, 'np.linalg.cholesky')
    lower = _mT(ans) if upper else np.asarray(ans)
    s = _read_triangle(t, 'U' if upper else 'L')
    left = np.linalg.solve(lower, s)
    inner = _mT(np.linalg.solve(lower, _mT(left)))
    phi = np.tril(inner) - 0.5 * inner * np.eye(inner.shape[-1])
    tangent = tangent_like(lower @ phi, lower)
    return _mT(tangent) if upper else tangent


def svd_tangent(t, a, ans, full_matrices=True, compute_uv=True,
                hermitian=False):
    """Tangent of np.linalg.svd(a, full_matrices, compute_uv, hermitian).

    With p = u^T t v and F_ij = 1 / (s_j**2 - s_i**2): ds = diag(p),
    du = u (F * (p s + s p^T)) + (I - u u^T) t v / s and
    dv = v (F * (s p + p^T s)) + (I - v v^T) t^T u / s.
    """
    _check_svd_options(a, full_matrices and compute_uv, hermitian)
    a, t = np.asarray(a), np.asarray(t)
    if not compute_uv:
        return singular_value_tangent(t, a)
    rows, columns = a.shape[-2:]
    u, s, vh = np.asarray(ans[0]), np.asarray(ans[1]), np.asarray(ans[2])
    v = _mT(vh)
    p = _mT(u) @ t @ v
    column_s, row_s = s[..., None, :], s[..., :, None]
    du = u @ spectral_quotients(s ** 2, p * column_s + row_s * _mT(p))
    dv = v @ spectral_quotients(s ** 2, row_s * p + _mT(p) * column_s)
    if rows > columns:
        du = du + (t @ v - u @ p) / column_s
    if columns > rows:
        dv = dv + (_mT(t) @ u - v @ _mT(p)) / column_s
    return _rebuild(ans, [du, _diagonal(p), _mT(dv)])


def _qr_square_tangent(q, r, t):
    """Tangent (dq, dr) of (q, r) = qr(a) for a with at least as many rows
    as columns: with x = q^T t r^-1 and w its strictly lower part minus the
    transpose of that, dq = q w + (I - q q^T) t r^-1 and dr = (x - w) r."""
    t_over_r = _mT(np.linalg.solve(_mT(r), _mT(t)))
    x = _mT(q) @ t_over_r
    lower = np.tril(x, -1)
    w = lower - _mT(lower)
    dq = q @ w + t_over_r - q @ x
    return dq, (x - w) @ r


def qr_tangent(t, a, ans, mode='reduced'):
    """Tangent of np.linalg.qr(a, mode), with the modes of `qr_adjoint`.

    A wide a = [x | y] has r = [r1 | q^T y]: x is a square matrix, and
    the tangent of q^T y is dq^T y + q^T dy.
    """
    _check_qr_mode(a, mode)
    a, t = np.asarray(a), np.asarray(t)
    rows, columns = a.shape[-2:]
    q, r = np.linalg.qr(a) if mode == 'r' else (np.asarray(ans[0]),
                                                np.asarray(ans[1]))
    if rows >= columns:
        dq, dr = _qr_square_tangent(q, r, t)
    else:
        dq, dr1 = _qr_square_tangent(q, r[..., :, :rows], t[..., :, :rows])
        dr2 = _mT(dq) @ a[..., :, rows:] + _mT(q) @ t[..., :, rows:]
        dr = np.concatenate([dr1, dr2], axis=-1)
    if mode == 'r':
        return dr
    return _rebuild(ans, [dq, dr])


def lstsq_tangent(t_a, t_b, a, b, ans):
    """Tangent of (x, residuals, rank, s) = np.linalg.lstsq(a, b) along t_a
    (the tangent of a) or t_b; the other one is None.

    x is pinv(a) b with the rank that lstsq found. The residuals
    |b - a x|**2 move by 2 r (db - da x), because x is optimal and a^T r
    is 0. The singular values move by diag(u^T da v).
    """
    _real_matrices(a, 'np.linalg.lstsq')
    _real_matrices(b, 'np.linalg.lstsq')
    a, b = np.asarray(a), np.asarray(b)
    x, residuals, rank, s = ans
    vector = b.ndim == 1
    b_columns = b[:, None] if vector else b
    x_columns = np.asarray(x)[:, None] if vector else np.asarray(x)
    inverse = pseudo_inverse(a, rank)
    r = b_columns - a @ x_columns
    if t_a is not None:
        t_a = np.asarray(t_a)
        dx = pinv_tangent(t_a, a, inverse) @ b_columns
        moved = -t_a @ x_columns
        ds = singular_value_tangent(t_a, a)
    else:
        t_columns = np.asarray(t_b)[:, None] if vector else np.asarray(t_b)
        dx = inverse @ t_columns
        moved = t_columns
        ds = np.zeros(np.shape(s))
    dresiduals = (2.0 * np.sum(r * moved, axis=0) if np.size(residuals)
                  else np.zeros(np.shape(residuals)))
    return (dx[:, 0] if vector else dx, dresiduals, zeros_like(rank), ds)


# Fourier transforms ----------------------------------------------------------
# The DFT matrix is symmetric, so under the complex convention the adjoint of
# fft is fft and that of ifft is ifft, with the same norm. A length n= or s=
# crops or zero-pads the input first; the adjoint undoes that with `_resize`.

def _resize(g, axis, size):
    """Crop or zero-pad g along `axis` to `size` entries."""
    g = np.asarray(g)
    current = g.shape[axis]
    if current > size:
        return np.take(g, np.arange(size), axis=axis)
    if current < size:
        widths = [(0, 0)] * g.ndim
        widths[axis] = (0, size - current)
        return np.pad(g, widths)
    return g


def _fft_axes(x, s, axes, last_halved=False):
    """Return the axes and lengths that an n-dimensional transform of x uses.

    With `last_halved` (irfftn) the default length of the last axis is
    2 * (m - 1) for m input entries.
    """
    ndim = np.ndim(x)
    if axes is None:
        axes = range(ndim) if s is None else range(ndim - len(s), ndim)
    axes = [a % ndim for a in np.atleast_1d(axes)]
    shape = np.shape(x)
    if s is None:
        s = [shape[a] for a in axes]
        if last_halved:
            s[-1] = 2 * (shape[axes[-1]] - 1)
    s = [shape[a] if n == -1 else n for a, n in zip(axes, s, strict=True)]
    return axes, list(s)


def _resized_like(d, x, axes):
    for axis in axes:
        d = _resize(d, axis, np.shape(x)[axis])
    return match_kind(d, x)


def fft_adjoint(g, a, n=None, axis=-1, norm=None, inverse=False):
    """Adjoint of np.fft.fft (or ifft with `inverse`) along one axis."""
    transform = np.fft.ifft if inverse else np.fft.fft
    return _resized_like(transform(g, axis=axis, norm=norm), a, [axis])


def fftn_adjoint(g, a, s=None, axes=None, norm=None, inverse=False):
    """Adjoint of np.fft.fftn, fft2 (or ifftn, ifft2 with `inverse`)."""
    axes, _ = _fft_axes(a, s, axes)
    transform = np.fft.ifftn if inverse else np.fft.fftn
    return _resized_like(transform(g, axes=axes, norm=norm), a, axes)


def rfftn_adjoint(g, a, s=None, axes=None, norm=None):
    """Adjoint of np.fft.rfftn, rfft2 and rfft: the half spectrum g is
    zero-padded to the full length of the last axis, transformed by fftn,
    and its real part taken (a is real)."""
    axes, lengths = _fft_axes(a, s, axes)
    full = _resize(g, axes[-1], lengths[-1])
    return _resized_like(np.fft.fftn(full, axes=axes, norm=norm), a, axes)


def rfft_adjoint(g, a, n=None, axis=-1, norm=None):
    """Adjoint of np.fft.rfft(a, n, axis, norm), as `rfftn_adjoint`."""
    return rfftn_adjoint(g, a, None if n is None else (n,), (axis,), norm)


def irfft_adjoint(g, a, n=None, axis=-1, norm=None):
    """Adjoint of np.fft.irfft(a, n, axis, norm), as `irfftn_adjoint`."""
    return irfftn_adjoint(g, a, None if n is None else (n,), (axis,), norm)


def irfftn_adjoint(g, a, s=None, axes=None, norm=None):
    """Adjoint of np.fft.irfftn, irfft2 and irfft.

    irfft reads a half spectrum of n // 2 + 1 entries. Each entry between
    the first and the Nyquist one is used for itself and for its mirror
    image, so its adjoint counts twice. irfft ignores the imaginary parts of
    the first entry and, for even n, of the Nyquist entry, so their
    adjoints are real.
    """
    axes, lengths = _fft_axes(a, s, axes, last_halved=True)
    last, n = axes[-1], lengths[-1]
    d = np.fft.ifftn(g, axes=axes, norm=norm)
    d = np.take(d, np.arange(n // 2 + 1), axis=last)
    return _resized_like(d * _half_spectrum_weights(n, d.ndim, last), a, axes)


def _half_spectrum_weights(n, ndim, last):
    """Return how many times irfft of length n uses each entry of its half
    spectrum, shaped to multiply along axis `last` of an ndim-array."""
    weights = np.full(n // 2 + 1, 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    shape = [1] * ndim
    shape[last] = -1
    return weights.reshape(shape)


# Sequences: built-in sum, min, max and math.fsum, math.prod ------------------

def _items_like(seq, pieces):
    """Return the per-item adjoints `pieces` in a container like `seq`."""
    if isinstance(seq, np.ndarray):
        return np.reshape(np.array(pieces, dtype=np.result_type(*pieces,
                                                                 float)),
                          seq.shape)
    if isinstance(seq, (list, tuple)):
        return _rebuild(seq, pieces)
    raise _unsupported_error(
        f'adcompiler differentiates sums, products and extrema of lists, '
        f'tuples and arrays, not of a value of type {type(seq).__name__}, '
        'whose items it cannot follow; pass a list or an array (a rule for '
        'a function that returns an iterator gives no adjoints of its '
        'items)')


def items_adjoint(g, seq):
    """Adjoint of seq in list(seq) or tuple(seq): g contains one adjoint per
    item (None for a zero), given back in the structure of seq.

    The items of a dict are its keys, which carry no derivative.
    """
    if g is None or isinstance(seq, dict):
        return None
    if isinstance(seq, np.ndarray):
        if len(seq) == 0:
            return zeros_like(seq)
        rows = [zeros_like(item) if piece is None else piece
                for item, piece in zip(seq, g, strict=True)]
        return match_kind(np.stack(rows), seq)
    if isinstance(seq, (list, tuple)):
        return _rebuild(seq, list(g))
    raise _unsupported_error(
        f'adcompiler differentiates list(...) and tuple(...) of lists, '
        f'tuples, dicts and arrays, not of a value of type '
        f'{type(seq).__name__}; write [item for item in ...] instead')


def items_tangent(t, seq, ans):
    """Tangent of ans = list(seq) or tuple(seq), given the tangent t of
    seq: one tangent per item, in a container like ans."""
    if ans is None:
        return None
    if t is None or isinstance(seq, dict):
        return _rebuild(ans, [None] * len(ans))
    return _rebuild(ans, list(t))


def sequence_sum_adjoint(g, seq):
    """Adjoint of seq in sum(seq) or math.fsum(seq): g for every item,
    summed down to the item's shape."""
    if isinstance(seq, np.ndarray):
        if len(seq) == 0:
            return zeros_like(seq)
        row = unbroadcast(g, seq[0])
        return match_kind(np.broadcast_to(row, seq.shape), seq)
    return _items_like(seq, [unbroadcast(g, item) for item in seq])


def _concatenates(start):
    """Return True when sum(seq, start) concatenates: `start` is a list or
    a tuple, so each item must be one of the same type."""
    return isinstance(start, (list, tuple))


def _item_lengths(seq):
    return [len(item) for item in seq]


def sum_items_adjoint(g, seq, start):
    """Adjoint of seq in sum(seq, start). When the sum concatenates lists
    or tuples, g has one entry per item of the result (or is an array of
    them) and each item of seq gets its own part of g, after start's."""
    if not _concatenates(start):
        return sequence_sum_adjoint(g, seq)
    position = len(start)
    pieces = []
    for item in seq:
        pieces.append(_rebuild(item, list(g[position:position + len(item)])))
        position += len(item)
    return _items_like(seq, pieces)


def sum_start_adjoint(g, start):
    """Adjoint of start in sum(seq, start): g unbroadcast to start, or for
    a concatenation the first len(start) entries of g."""
    if not _concatenates(start):
        return unbroadcast(g, start)
    return _rebuild(start, list(g[:len(start)]))


def sum_items_tangent(t, ans, start):
    """Tangent of sum(seq, start) along the tangent t of seq: the sum of
    t's items, or for a concatenation their entries after zeros for
    start's."""
    if not _concatenates(start):
        return sequence_sum_tangent(t, ans)
    entries = [zeros_like(value) for value in ans[:len(start)]]
    for item in t:
        entries.extend(item)
    return _rebuild(ans, entries)


def sum_start_tangent(t, ans, start):
    """Tangent of sum(seq, start) along the tangent t of start: t
    broadcast to the result, or for a concatenation t's entries and zeros
    for the items'."""
    if not _concatenates(start):
        return broadcast_like(t, ans)
    entries = list(t) + [zeros_like(value) for value in ans[len(t):]]
    return _rebuild(ans, entries)


def sum_items_transpose(g, c, start):
    """Transpose of `sum_items_adjoint(c, seq, start)` applied to g (one
    cotangent per item of seq), for reverse mode over adjoint code."""
    if not _concatenates(start):
        return sequence_sum_tangent(g, c)
    entries = [None] * (len(c) - sum(_item_lengths(g)))
    for item in g:
        entries.extend(item)
    return _rebuild(c, entries) if isinstance(c, (list, tuple)) else \
        np.array([zeros_like(c[0]) if e is None else e for e in entries])


def sum_start_transpose(g, c, start):
    """Transpose of `sum_start_adjoint(c, start)` applied to g."""
    if not _concatenates(start):
        return broadcast_to_like(g, c)
    entries = list(g) + [None] * (len(c) - len(g))
    return _rebuild(c, entries) if isinstance(c, (list, tuple)) else \
        np.array([zeros_like(c[0]) if e is None else e for e in entries])


def sequence_product(seq):
    """Return the product of the items of seq, in order, without a start
    value."""
    product = 1.0
    for item in seq:
        product = product * item
    return product


def sequence_prod_adjoint(g, seq, start=1):
    """Adjoint of seq in math.prod(seq, start=start): each item gets g times
    the product of start and the other items, without division."""
    items = [item for item in seq]  # list(seq) has no derivative rule
    count = len(items)
    # prefixes[k] is start times the first k items, suffixes[k] the product
    # of the last k. The lists only grow (no reverse()), so that second
    # derivatives can transform this function's source.
    prefixes = [start]
    for item in items[:-1]:
        prefixes.append(prefixes[-1] * item)
    suffixes = [1.0]
    for item in reversed(items[1:]):
        suffixes.append(suffixes[-1] * item)
    pieces = [unbroadcast(g * prefixes[k] * suffixes[count - 1 - k], items[k])
              for k in range(count)]
    return _items_like(seq, pieces)


def builtin_extremum_adjoint(g, ans, args, position):
    """Adjoint of args[position] in max(*args) or min(*args), or of the
    sequence in max(seq): ties split the adjoint evenly. Unused trailing
    arguments are None."""
    given = [a for a in args if a is not None]
    if len(given) == 1:
        seq = given[0]
        ties = [bool(item == ans) for item in seq]
        count = sum(ties)
        return _items_like(seq, [g * tie / count for tie in ties])
    ties = [bool(item == ans) for item in given]
    return g * ties[position] / sum(ties)


def sequence_sum_tangent(t, ans):
    """Tangent of sum(seq) or math.fsum(seq), given the tangent t of seq (a
    list or tuple of tangents, or an array whose rows are the items)."""
    if isinstance(t, np.ndarray):
        total = np.sum(t, axis=0)
    else:
        total = 0.0
        for item in t:
            total = total + item
    return broadcast_like(total, ans) if np.ndim(ans) else total


def sequence_prod_tangent(t, seq, start=1):
    """Tangent of math.prod(seq, start=start) along the tangent t of seq:
    the sum of each item's tangent times start and the other items."""
    items = [item for item in seq]  # list(seq) has no derivative rule
    total = 0.0
    before = start
    for position, item in enumerate(items):
        after = sequence_product(items[position + 1:])
        total = total + before * t[position] * after
        before = before * item
    return total


def builtin_extremum_tangent(t, ans, args, position):
    """Tangent of max(*args) or min(*args) along the tangent t of
    args[position], or of max(seq) along the tangent of the sequence:
    tied extrema share it evenly, as in `builtin_extremum_adjoint`."""
    given = [a for a in args if a is not None]
    if len(given) == 1:
        ties = [bool(item == ans) for item in given[0]]
        if not ties:
            return 0.0  # An empty sequence: max returned its default.
        tangent = 0.0
        for tie, item_tangent in zip(ties, t, strict=True):
            if tie:
                tangent = tangent + item_tangent
        return tangent / sum(ties)
    ties = [bool(item == ans) for item in given]
    return t * ties[position] / sum(ties)


def sequence_gradient(adjoint, x):
    """Return `adjoint`, the adjoint of argument `x`, in the structure that
    `grad` returns.

    When `x` is a list or a tuple and `adjoint` an array with a row per
    item, that is the list or tuple of its rows. Otherwise it is `adjoint`
    itself.

    A rule that reads a list as an array (`np.dot(rows, v)`) gives it an
    array adjoint. The gradient objectives of higher derivatives call this
    function, whose rules give the derivatives the same structure.
    """
    if (type(x) in (list, tuple) and isinstance(adjoint, np.ndarray)
            and np.ndim(adjoint) >= 1 and len(adjoint) == len(x)):
        # The rows of a nested list (`[[1.0, 2.0], ...]`) are lists too.
        rows = [sequence_gradient(adjoint[i], x[i]) for i in range(len(x))]
        return tuple(rows) if type(x) is tuple else rows
    return adjoint


def sequence_gradient_adjoint(g, adjoint):
    """Adjoint of `adjoint` in sequence_gradient(adjoint, x) = ans: the
    cotangent g of ans, a list or tuple of rows, as an array shaped like
    `adjoint` when that is an array. A row that is None counts as 0."""
    if not (isinstance(adjoint, np.ndarray) and isinstance(g, (list, tuple))):
        return g
    row_shape = np.shape(adjoint)[1:]
    rows = [np.zeros(row_shape, adjoint.dtype) if row is None
            else np.broadcast_to(sequence_gradient_adjoint(row, adjoint[0]),
                                 row_shape)
            for row in g]
    return np.stack(rows) if rows else np.zeros_like(adjoint)


def extremum_default_adjoint(g, seq, default):
    """Adjoint of `default` in max(seq, default=default) or min(...): g
    when seq is empty and the call returned the default, else 0."""
    if len(seq) == 0:
        return g
    return zeros_like(default)


def extremum_default_tangent(t, seq):
    """Tangent of max(seq, default=default) or min(...) along the tangent
    t of `default`: t when seq is empty, else 0."""
    return t if len(seq) == 0 else 0.0


# Special functions -----------------------------------------------------------

def digamma(x):
    """Compute the digamma function, d/dx log(Gamma(x)), for real x.

    NumPy has none. The recurrence psi(x) = psi(x + 1) - 1/x moves x to 10
    or more, where the asymptotic series is accurate to about 1e-15 (an
    estimate, and the tests compare with SciPy to 1e-13). Below 1/2 the
    reflection psi(x) = psi(1 - x) - pi / tan(pi x) applies.
    """
    x = np.asarray(x, dtype=float)
    reflected = x < 0.5
    y = np.where(reflected, 1.0 - x, x)
    shift = np.zeros_like(y)
    while np.any(y < 10.0):
        small = y < 10.0
        shift = shift - np.where(small, 1.0 / y, 0.0)
        y = np.where(small, y + 1.0, y)
    inverse = 1.0 / y
    square = inverse * inverse
    series = np.log(y) - 0.5 * inverse - square * (
        1.0 / 12 - square * (1.0 / 120 - square * (
            1.0 / 252 - square * (1.0 / 240 - square / 132))))
    result = series + shift
    with np.errstate(divide='ignore'):
        reflection = np.pi / np.tan(np.pi * x)
    result = np.where(reflected, result - reflection, result)
    return result[()] if result.ndim == 0 else result


def angle_tangent(t, z, deg=False):
    """Tangent of np.angle(z): Im(conj(z) t) / |z|^2, in degrees if `deg`."""
    z = np.asarray(z)
    magnitude = np.abs(z) ** 2
    safe = np.where(magnitude == 0, 1.0, magnitude)
    tangent = np.where(magnitude == 0, 0.0, np.imag(np.conj(z) * t) / safe)
    return np.degrees(tangent) if deg else tangent


# Values whose contents `check_unshared` does not search for arrays: atoms,
# functions, types and modules. A function's closure or a module's
# namespace is its own reach, not the contents of an argument.
UNSEARCHED_TYPES = (
    type(None), bool, int, float, complex, str, bytes, slice, range,
    type(Ellipsis), np.generic, np.dtype, np.ufunc, type(np), type,
    type(_unbroadcast_to), type(len))


def check_globals_unchanged(reads):
    """Raise the error of the first entry of `reads` whose variable no
    longer refers to the value that the generated code was compiled with.

    Each entry is (the module's globals dict or a closure cell, the
    variable's name, the value, the error); see adcompiler.global_rebinds.
    A Python number or string equal to the value counts as unchanged.
    """
    for owner, name, value, error in reads:
        if type(owner) is dict:
            current = owner.get(name, _MISSING)
        else:
            try:
                current = owner.cell_contents
            except ValueError:  # The cell was emptied by `del`.
                current = _MISSING
        if current is value or (type(current) is type(value)
                                and type(value) in _IMMUTABLE_SCALARS
                                and current == value):
            continue  # An equal number or string reads the same.
        raise error


_IMMUTABLE_SCALARS = frozenset({int, float, complex, bool, str})


def require_current(compiled, error):
    """Raise `error` unless the compiled callee `compiled` still matches
    the globals, code and defaults that it was compiled with."""
    if not compiled.is_current():
        raise error


def check_unshared(error, count, *values):
    """Raise `error` if one of the first `count` values, which the function
    updates in place, can be reached from another of `values`.

    The generated code updates a copy of each such argument, so another
    reference to it would not see the updates that Python's own call makes.
    The other values are the other arguments and the globals the function
    reads. The search goes into lists, tuples, sets, dicts and the
    attributes of objects, and counts an array that shares memory with an
    updated array (a view of it, or one it is a view of) as the same array.
    """
    for position in range(count):
        others = values[:position] + values[position + 1:]
        if _reaches(others, values[position]):
            raise error


def _reaches(values, target):
    """Return whether `target` or an array sharing its memory is among
    `values` or inside one of them."""
    owner = _memory_owner(target) if isinstance(target, np.ndarray) else None
    pending = list(values)
    for value in values:
        # A module or class the function reads is searched one level deep:
        # the function may read an attribute of it (mm.W, Holder.w).
        if isinstance(value, (type(np), type)) and searchable(value):
            pending.extend(v for v in vars(value).values()
                           if not isinstance(v, type(np)))
    searched = set()  # ids of the containers and objects searched
    while pending:
        value = pending.pop()
        if value is target:
            return True
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                if id(value) not in searched:
                    searched.add(id(value))
                    pending.extend(value.flat)
            elif owner is not None and _shares_memory(target, owner, value):
                return True
            continue
        if isinstance(value, UNSEARCHED_TYPES) or id(value) in searched:
            continue
        searched.add(id(value))
        if isinstance(value, (list, tuple, set, frozenset)):
            pending.extend(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif type(value).__module__ in ('builtins', 'collections'):
            # A container of the standard library (a deque, a mapping
            # proxy); an iterator is left alone, as iterating consumes it.
            if hasattr(value, '__iter__') and iter(value) is not value:
                pending.extend(value.values() if hasattr(value, 'values')
                               else value)
        else:
            pending.extend(_attribute_values(value))
            if searchable(type(value)):
                # Class attributes are read through the instance too.
                pending.extend(vars(type(value)).values())
    return False


def searchable(value):
    """Return whether `check_unshared` searches `value` for arrays: not an
    atom, a function or a library's module or class (see
    `UNSEARCHED_TYPES`), which hold no array of the user's."""
    if isinstance(value, (type(np), type)):
        name = value.__name__ if isinstance(value, type(np)) else \
            value.__module__
        return name.partition('.')[0] not in _LIBRARY_PACKAGES
    return not isinstance(value, UNSEARCHED_TYPES)


# Packages whose modules and classes `_reaches` does not search: their
# attributes are library functions and constants, not the user's arrays.
_LIBRARY_PACKAGES = frozenset({
    'numpy', 'scipy', 'math', 'cmath', 'builtins', 'sys', 'os', 'random',
    'collections', 'functools', 'itertools', 'operator', 'types', 'typing',
    'dataclasses', 'adcompiler', 'jax', 'torch', 'autograd'})



def _memory_owner(x):
    """Return the array at the end of `x`'s chain of `base` arrays."""
    while isinstance(x.base, np.ndarray):
        x = x.base
    return x


def _shares_memory(target, owner, value):
    """Return whether arrays `target` (whose `_memory_owner` is `owner`)
    and `value` share memory. Two arrays whose chains end in different
    arrays that allocated their own memory (`base` None) cannot, which
    saves the slower `np.shares_memory` in the common case."""
    other = _memory_owner(value)
    if other is not owner and other.base is None and owner.base is None:
        return False
    return np.shares_memory(target, value)


def _attribute_values(value):
    """Return the values of an object's instance attributes, from its
    `__dict__` and its `__slots__`."""
    attributes = getattr(value, '__dict__', None)
    found = list(attributes.values()) if isinstance(attributes, dict) else []
    for cls in type(value).__mro__:
        slots = cls.__dict__.get('__slots__', ())
        for slot in ((slots,) if isinstance(slots, str) else slots):
            try:
                found.append(getattr(value, slot))
            except AttributeError:
                continue  # An empty slot.
    return found


def abs_tangent(t, x, ans):
    """Tangent of |x|: sign(x) t for real x, Re(conj(x) t) / |x| for complex."""
    if np.iscomplexobj(x) or np.iscomplexobj(t):
        safe = np.where(ans == 0, 1.0, ans)
        return np.where(ans == 0, 0.0, np.real(np.conj(x) * t) / safe)
    return np.sign(x) * t


def tangent_restore(dx, x, index, dold):
    """Tangent of x after `restore_item(x, index, old)`, given old's tangent."""
    if dold is _MISSING:
        result = dict(dx)
        del result[index]
        return result
    return tangent_write(dx, x, index, dold)


# Values that contain no float, so no derivative: options, flags, namespaces.
_CONSTANT_TYPES = (type(None), bool, int, str, bytes, slice, type(Ellipsis),
                   type(np), type, np.dtype, np.ufunc, np.integer, np.bool_)


def require_constant(value, error):
    """Raise `error` unless `value` contains no float or complex number (a
    module, a type, None, a flag, an integer array, or a tuple, list or dict
    of these), so that a rule may give it no cotangent."""
    if isinstance(value, _CONSTANT_TYPES):
        return
    if isinstance(value, np.ndarray) and not np.issubdtype(value.dtype,
                                                           np.inexact):
        return
    if isinstance(value, (tuple, list)):
        for item in value:
            require_constant(item, error)
        return
    if isinstance(value, dict):
        for item in value.values():
            require_constant(item, error)
        return
    raise error


# NumPy functions that always return a new array (never a view of an input)
# when called without out=.
NEW_ARRAY_FUNCTIONS = (
    np.sum, np.mean, np.prod, np.max, np.min, np.std, np.var, np.dot,
    np.matmul, np.zeros, np.ones, np.full, np.zeros_like, np.ones_like,
    np.full_like, np.outer, np.inner, np.cumsum, np.cumprod, np.linspace,
    np.arange, np.empty, np.empty_like, np.copy, np.array, np.eye,
    np.identity,
    # Reductions and other functions that return a new array or number.
    np.amax, np.amin, np.average, np.median, np.ptp, np.nansum, np.nanmean,
    np.nanmax, np.nanmin, np.nanprod, np.nanstd, np.nanvar, np.trace,
    np.linalg.norm, np.linalg.det,
)

# NumPy functions and array methods that return their first argument (or
# receiver) or a view of it, never write to it, and keep no other reference
# to it.
VIEW_FUNCTIONS = (
    np.transpose, np.reshape, np.ravel, np.squeeze, np.expand_dims,
    np.swapaxes, np.moveaxis, np.flip, np.fliplr, np.flipud, np.rot90,
    np.atleast_1d, np.atleast_2d, np.atleast_3d, np.asarray, np.real,
    np.imag, np.diagonal, np.broadcast_to,
)
VIEW_METHODS = frozenset({'reshape', 'transpose', 'ravel', 'squeeze',
                          'swapaxes', 'diagonal'})

# Methods of arrays that return a new array.
_NEW_ARRAY_METHODS = frozenset({
    'sum', 'mean', 'prod', 'max', 'min', 'std', 'var', 'dot', 'copy',
    'cumsum', 'cumprod',
})


def returns_new_array(callee):
    """Return whether calling `callee` (without out=) always makes a new
    array or number, which no other name can see."""
    if isinstance(callee, np.ufunc):
        return True
    if isinstance(getattr(callee, '__self__', None), np.ndarray):
        return getattr(callee, '__name__', None) in _NEW_ARRAY_METHODS
    return any(callee is f for f in NEW_ARRAY_FUNCTIONS)


def require_immutable(value, error, *callees):
    """Raise `error` unless `value` cannot change in place (a number, a string,
    a tuple): `x += y` on it rebinds x, as the generated code does.

    `callees` are the functions, known only at run time, whose results are
    the only values x may hold; an array is accepted when each of them
    returns a new one.
    """
    if not isinstance(value, (int, float, complex, np.number, str, bytes,
                              tuple, bool)) or isinstance(value, np.ndarray):
        if callees and all(returns_new_array(c) for c in callees):
            return
        raise error


def require_indexable(value, error):
    """Raise `error` unless `value[key]` has the rule of indexing whatever
    the key.

    That holds for an array, a number, a list, a tuple, a dict or a string,
    but not for an object of a subclass whose __getitem__ or __missing__
    method is written in Python.
    """
    if type(value) is np.ndarray or type(value) in _INDEXABLE:
        return
    if isinstance(value, _INDEXABLE_BASES) and getattr(
            type(value), '__getitem__', None) in _INDEXABLE_METHODS and \
            not hasattr(getattr(type(value), '__missing__', None),
                        '__code__'):
        # A dict subclass may compute a missing item from the key in a
        # __missing__ method written in Python.
        return
    raise error


def require_container(value, error):
    """Raise `error` unless `value` is a list, a tuple or a dict whose
    `value[key]` is the item stored (no __getitem__ or __missing__ method
    written in Python), so that `value[:]` is a copy and an update of
    `value` leaves an item read from it unchanged."""
    if not _is_plain_container(value):
        raise error


def _is_plain_container(value):
    """Return whether `value` passes `require_container`."""
    if type(value) in _CONTAINERS:
        return True
    return isinstance(value, _CONTAINERS) and getattr(
        type(value), '__getitem__', None) in _CONTAINER_METHODS and \
        not hasattr(getattr(type(value), '__missing__', None), '__code__')


def require_unshared_item(value, item, error):
    """Raise `error` unless an update of `value` in place leaves `item`,
    just read as `value[key]`, unchanged.

    That holds for a list, a tuple or a dict whose `value[key]` is the item
    stored (see `require_container`). It also holds for an ndarray (not a
    subclass) when `item` shares no memory with it. An element and the
    copy that an integer or boolean array index makes pass, and a view
    raises.
    """
    if _is_plain_container(value):
        return
    if type(value) is np.ndarray and not (
            isinstance(item, np.ndarray) and np.may_share_memory(item, value)):
        return
    raise error


_CONTAINERS = (list, tuple, dict)
_CONTAINER_METHODS = (list.__getitem__, tuple.__getitem__, dict.__getitem__)
_INDEXABLE = (list, tuple, dict, str, bytes, float, int, complex)
_INDEXABLE_BASES = (np.ndarray, np.generic, list, tuple, dict)
_INDEXABLE_METHODS = tuple(getattr(t, '__getitem__', None) for t in (
    np.ndarray, np.generic, list, tuple, dict))


def require_numeric_array(value, error):
    """Raise `error` when `value` is an array of a dtype that is not
    boolean, integer, floating or complex (object, str or bytes), which
    the rules of index writes and NumPy functions do not differentiate."""
    if isinstance(value, np.ndarray) and value.dtype.kind not in 'biufc':
        raise error


def require_same_slice_length(parts, error):
    """Raise `error` before `x[lower:upper:step] = v` (`parts` is the tuple
    (x, lower, upper, step, v)) when x is a list and v has another length
    than the slice. Other cases are left to Python."""
    x, lower, upper, step, v = parts
    if not isinstance(x, list) or not hasattr(v, '__len__'):
        return
    try:
        replaced = len(range(*slice(lower, upper, step).indices(len(x))))
    except (TypeError, ValueError):
        return  # The write itself raises Python's error.
    if replaced != len(v):
        raise error


def require_array_like(value, error):
    """Raise `error` when `value` is an object whose class defines
    __array__ in Python, which a NumPy function would call: the rule of
    the function would not see that computation."""
    if type(value) in _ARRAY_LIKE_TYPES:
        return
    method = getattr(type(value), '__array__', None)
    if hasattr(method, '__code__') and not isinstance(value, np.ndarray):
        raise error


def require_plain_iterable(value, error):
    """Raise `error` when `value` is an object whose class defines
    __getitem__ or __iter__ in Python, which a for loop over it calls."""
    if type(value) in _ARRAY_LIKE_TYPES:
        return
    for method in ('__iter__', '__getitem__'):
        if hasattr(getattr(type(value), method, None), '__code__'):
            raise error


_ARRAY_LIKE_TYPES = frozenset({np.ndarray, float, int, complex, bool,
                               np.float64, np.float32, np.complex128, list,
                               tuple})


def require_other_function(function, rejected, error):
    """Raise `error` when `function` is one of the functions `rejected`."""
    for item in rejected:
        if function is item:
            raise error


def require_immutable_item(value, container, error):
    """Raise `error` unless the item `value` of `container` cannot change in
    place, before a lowered `c[i] += y` stores c[i] + y in c[i]. Any item
    of a numeric array passes, because then both forms write the same
    memory."""
    if isinstance(container, np.ndarray) and container.dtype != object:
        return
    require_immutable(value, error)


# Reverse over reverse ----------------------------------------------------------
# Generated adjoint code is linear in the cotangents it carries, so the reverse
# rule of each of its helpers is the helper's transpose. These helpers are the
# transposes that do not fit on a template line: `c` is the cotangent argument
# of the helper, `g` the cotangent of its result.

def fft_adjoint_transpose(g, c, axis=-1, norm=None, inverse=False):
    """Return the transpose of `fft_adjoint(c, a, n, axis, norm, inverse)`
    in c: g cropped or zero-padded to c's length, then transformed again,
    because the DFT matrix is symmetric."""
    transform = np.fft.ifft if inverse else np.fft.fft
    length = np.shape(c)[axis]
    return match_kind(transform(g, n=length, axis=axis, norm=norm), c)


def fftn_adjoint_transpose(g, c, a, s=None, axes=None, norm=None,
                           inverse=False):
    """Return the transpose of `fftn_adjoint(c, a, s, axes, norm, inverse)`
    in c, as `fft_adjoint_transpose` along each axis."""
    axes, _ = _fft_axes(a, s, axes)
    lengths = [np.shape(c)[axis] for axis in axes]
    transform = np.fft.ifftn if inverse else np.fft.fftn
    return match_kind(transform(g, s=lengths, axes=axes, norm=norm), c)


def rfftn_adjoint_transpose(g, c, a, s=None, axes=None, norm=None):
    """Return the transpose of `rfftn_adjoint(c, a, s, axes, norm)` in c:
    the full spectrum of g, cropped to the half spectrum that c is."""
    axes, lengths = _fft_axes(a, s, axes)
    full = np.fft.fftn(g, s=lengths, axes=axes, norm=norm)
    return match_kind(_resize(full, axes[-1], np.shape(c)[axes[-1]]), c)


def rfft_adjoint_transpose(g, c, a, n=None, axis=-1, norm=None):
    """Return the transpose of `rfft_adjoint(c, a, n, axis, norm)` in c."""
    return rfftn_adjoint_transpose(g, c, a, None if n is None else (n,),
                                   (axis,), norm)


def irfftn_adjoint_transpose(g, c, a, s=None, axes=None, norm=None):
    """Return the transpose of `irfftn_adjoint(c, a, s, axes, norm)` in c:
    g resized to the half spectrum that irfftn reads, weighted by how often
    irfftn uses each entry, zero-padded to the full length and transformed
    by ifftn."""
    axes, lengths = _fft_axes(a, s, axes, last_halved=True)
    last, n = axes[-1], lengths[-1]
    d = np.asarray(g) + 0j
    for axis, size in zip(axes, lengths[:-1] + [n // 2 + 1], strict=True):
        d = _resize(d, axis, size)
    d = _resize(d * _half_spectrum_weights(n, d.ndim, last), last, n)
    return match_kind(np.fft.ifftn(d, axes=axes, norm=norm), c)


def irfft_adjoint_transpose(g, c, a, n=None, axis=-1, norm=None):
    """Return the transpose of `irfft_adjoint(c, a, n, axis, norm)` in c."""
    return irfftn_adjoint_transpose(g, c, a, None if n is None else (n,),
                                    (axis,), norm)


def broadcast_to_like(g, like):
    """Return the transpose of `unbroadcast(c, x)`: `g` broadcast back to c's
    shape."""
    if isinstance(like, (list, tuple, dict)) or isinstance(g, dict):
        return g  # unbroadcast passes containers through unchanged.
    if isinstance(g, (list, tuple)):
        # The adjoint of a list of numbers that NumPy read as an array
        # (see _sequence_operand_adjoint), or the list itself.
        g = _numbers_as_array(g)
    if np.shape(g) == np.shape(like):
        return g
    return np.broadcast_to(g, np.shape(like)) * 1.0


def _numbers_as_array(g):
    """Return nested lists or tuples of numbers, with None for 0, as an
    array."""
    if g is None:
        return 0.0
    if isinstance(g, (list, tuple)):
        return np.asarray([_numbers_as_array(row) for row in g])
    return g


def _sequence_as_array(g, dtype, shape=None):
    """Return the nested list or tuple `g` of arrays, numbers and None (a
    zero) as one array of `dtype`, as np.asarray reads a list of numbers.

    With `shape`, the array has that shape, and g's entries that of its
    rows. Without, the entries give the shape.
    """
    if not isinstance(g, (list, tuple)):
        value = np.zeros((), dtype) if g is None else np.asarray(g, dtype)
        return value if shape is None else np.broadcast_to(value, shape)
    if shape is not None and (len(shape) == 0 or shape[0] != len(g)):
        raise ValueError(
            f'an adjoint with {len(g)} rows for an array of shape {shape}; '
            'this is a bug in adcompiler')
    row_shape = None if shape is None else shape[1:]
    items = [_sequence_as_array(item, dtype, row_shape) for item in g]
    if not items:
        return np.zeros((0,) if shape is None else shape, dtype)
    common = np.broadcast_shapes(*[item.shape for item in items])
    return np.stack([np.broadcast_to(item, common) for item in items])


def apply_transpose(g, axes=None):
    """Return the transpose of `transpose_adjoint(c, axes)`: np.transpose with
    `axes`."""
    if isinstance(axes, tuple) and len(axes) == 1 and not isinstance(
            axes[0], (int, np.integer)):
        axes = axes[0]
    if axes is None or len(axes) == 0:
        return np.transpose(g)
    return np.transpose(g, np.mod(axes, np.ndim(g)))


def scatter_last(g, c):
    """Return the transpose of `last_adjoint(c, v)`: zeros shaped like list c,
    with g (broadcast to c's last entry) last."""
    result = [zeros_like(item) for item in c]
    result[-1] = broadcast_to_like(g, c[-1])
    return result


def scatter_tail(g, c):
    """Return the transpose of `tail_adjoint(c, seq)`: zeros shaped like list
    c, with the entries of g at its end."""
    result = [zeros_like(item) for item in c]
    start = len(c) - len(g)
    for position, item in enumerate(g):
        result[start + position] = item
    return result


def pad_tail(g, c, count):
    """Return the transpose of `drop_last(c, count)`: g followed by zeros
    shaped like the last `count` entries of c."""
    return list(g) + [zeros_like(item) for item in c[len(c) - count:]]


def split_entries(g, count):
    """Return the transpose of `unpack_adjoint(x, adjoints)`: one entry of g
    per adjoint."""
    return tuple(g[position] for position in range(count))


def popped_entry(g, x, index):
    """Return the entry of `g` where `insert_adjoint(c, x, index, dv, v)`
    put dv."""
    if isinstance(x, dict):
        return g[index]
    return g[popped_position(x, index)]


def without_popped_entry(g, x, index):
    """Return `g` without the entry where `insert_adjoint` put dv: the
    transpose of insert_adjoint with respect to its list cotangent."""
    if isinstance(x, dict):
        result = dict(g)
        del result[index]
        return result
    return drop_entry(list(g), popped_position(x, index))


def last_items(x, count):
    """Return the last `count` entries of list `x`, which `remove_last` is
    about to remove, so that they can be put back."""
    return list(x[len(x) - count:])


def item_of(g, args):
    """Return the transpose of `item_adjoint(c, x, args)`: the entry of g that
    `x.item(*args)` reads."""
    return np.asarray(g).item(*args)


def split_like(g, ans, axis=0):
    """Return the transpose of `split_adjoint(c, ans, axis)`: g cut into pieces
    shaped like the pieces in `ans`."""
    sizes = np.cumsum([np.shape(piece)[axis] for piece in ans])[:-1]
    return np.split(g, sizes, axis=axis)


def join_pieces(g, arrays, join, *args):
    """Return the transpose of the adjoint of a NumPy join
    (`concatenate_adjoint(c, arrays, axis)` and the like): `join(pieces of g,
    *args)`, with zeros for pieces that are None."""
    pieces = [zeros_like(np.asarray(array)) if piece is None else piece
              for piece, array in zip(g, arrays, strict=True)]
    return join(pieces, *args)


# Reductions with where= and initial=, and scans of ufunc.accumulate --------

def masked_sum_adjoint(g, x, axis=None, keepdims=False, where=True):
    """Adjoint of `np.sum(x, axis, keepdims=keepdims, where=where)`: the
    adjoint of the sum at the entries that `where` selects, 0 elsewhere."""
    full = sum_adjoint(g, x, axis, keepdims)
    return np.where(where, full, np.zeros((), dtype=np.result_type(full)))


def _selected_count(where, x, axis):
    """Return how many entries `where` selects in each reduction of `x`
    over `axis`, with the reduced axes kept as length 1."""
    shape = _shape(x)
    selected = np.broadcast_to(np.asarray(where, dtype=bool), shape)
    return np.sum(selected, axis=_normalize_axes(axis, len(shape)),
                  keepdims=True)


def masked_mean_adjoint(g, x, axis=None, keepdims=False, where=True):
    """Adjoint of `np.mean(x, axis, keepdims=keepdims, where=where)`: the
    adjoint of the mean over the entries that `where` selects.

    A reduction that selects no entry has the value NaN, and its entries
    get adjoint 0.
    """
    full = sum_adjoint(g, x, axis, keepdims)
    count = _selected_count(where, x, axis)
    with np.errstate(divide='ignore', invalid='ignore'):
        share = full / np.maximum(count, 1)
    return np.where(where, share, np.zeros((), dtype=np.result_type(share)))


def _initial_weights(x, ans, axis, keepdims, initial, where, initial_varies):
    """Return the weights of the entries of x and of `initial` in
    ans = np.max(x, axis, keepdims=keepdims, initial=initial, where=where)
    (or np.min), each with the reduced axes kept as length 1 in the second.

    The entries that `where` selects and that equal the result share the
    weight 1 equally. `initial` counts as one more such entry when it
    equals the result and varies. A constant `initial` that equals the
    result takes the whole weight, as np.maximum gives a tie with a
    constant to the constant.
    """
    shape = _shape(x)
    axes = _normalize_axes(axis, len(shape))
    ans = _restore_reduced(ans, x, axis, keepdims)
    hits = (np.asarray(x) == ans) & np.asarray(where, dtype=bool)
    count = np.sum(hits, axis=axes, keepdims=True)
    if initial is None:
        return hits / np.maximum(count, 1), None
    initial_hit = np.asarray(initial) == ans
    if initial_varies:
        total = count + initial_hit
        return hits / np.maximum(total, 1), initial_hit / np.maximum(total, 1)
    hits = hits & ~initial_hit
    return hits / np.maximum(count, 1), initial_hit * 1.0


def bounded_extremum_adjoint(g, x, ans, axis=None, keepdims=False,
                             initial=None, where=True, initial_varies=False):
    """Adjoint of x in `np.max(x, axis, keepdims=keepdims, initial=initial,
    where=where)` or np.min; see `_initial_weights` for ties."""
    weights = _initial_weights(x, ans, axis, keepdims, initial, where,
                               initial_varies)[0]
    return _restore_reduced(g, x, axis, keepdims) * weights


def initial_adjoint(g, x, ans, axis=None, keepdims=False, initial=None,
                    where=True):
    """Adjoint of `initial` in `np.max(x, ..., initial=initial,
    where=where)` or np.min, summed to the shape of `initial`."""
    weights = _initial_weights(x, ans, axis, keepdims, initial, where,
                               True)[1]
    shape = _shape(x)
    part = _restore_reduced(g, x, axis, keepdims) * weights
    if not keepdims:
        part = np.squeeze(part, _normalize_axes(axis, len(shape)))
    return unbroadcast(part, initial)


def bounded_extremum_tangent(t, x, ans, axis=None, keepdims=False,
                             initial=None, where=True, initial_varies=False):
    """Tangent of `np.max(x, ..., initial=initial, where=where)` (or np.min)
    from the tangent t of x; see `_initial_weights` for ties."""
    weights = _initial_weights(x, ans, axis, keepdims, initial, where,
                               initial_varies)[0]
    axes = _normalize_axes(axis, len(_shape(x)))
    return tangent_like(
        np.sum(np.asarray(t) * weights, axis=axes, keepdims=keepdims), ans)


def initial_tangent(t, x, ans, axis=None, keepdims=False, initial=None,
                    where=True):
    """Tangent of `np.max(x, ..., initial=initial, where=where)` (or
    np.min) from the tangent t of `initial`."""
    weights = _initial_weights(x, ans, axis, keepdims, initial, where,
                               True)[1]
    if not keepdims:
        weights = np.squeeze(weights, _normalize_axes(axis, len(_shape(x))))
    return t * weights


def _scan_weights(x, ans, axis):
    """Return (keep, take) along the last axis for ans =
    np.maximum.accumulate(x, axis) or np.minimum.accumulate: ans_k is
    keep_k * ans_(k-1) + take_k * x_k to first order.

    keep_k and take_k are the weights that np.maximum's rule gives its
    operands ans_(k-1) and x_k: 1 for the one that is the result, 0 for the
    other, and 1/2 each where they are equal. ans_0 is x_0.
    """
    x = np.moveaxis(np.asarray(x), axis, -1)
    ans = np.moveaxis(np.asarray(ans), axis, -1)
    previous = np.concatenate([ans[..., :1], ans[..., :-1]], -1)
    dtype = np.result_type(x.dtype, np.float16) if x.dtype.kind in 'fc' \
        else np.float64
    tie = (x == previous) + np.ones((), dtype)
    keep = (previous == ans) / tie
    take = (x == ans) / tie
    keep[..., :1] = 0
    take[..., :1] = 1
    return keep.astype(dtype, copy=False), take.astype(dtype, copy=False)


def extremum_scan_tangent(t, x, ans, axis=0):
    """Tangent of ans = np.maximum.accumulate(x, axis) (or of
    np.minimum.accumulate) from the tangent t of x."""
    keep, take = _scan_weights(x, ans, axis)
    t = np.moveaxis(np.asarray(t), axis, -1)
    tangent = linear_recurrence(take * t, keep)
    return np.moveaxis(tangent, -1, axis).astype(keep.dtype, copy=False)


def extremum_scan_adjoint(g, x, ans, axis=0):
    """Adjoint of x in ans = np.maximum.accumulate(x, axis) (or
    np.minimum.accumulate): the transpose of `extremum_scan_tangent`."""
    keep, take = _scan_weights(x, ans, axis)
    g = np.moveaxis(np.asarray(g), axis, -1)
    adjoint = take * linear_recurrence_transpose(g, keep)
    return np.moveaxis(adjoint, -1, axis).astype(keep.dtype, copy=False)


# In-place NumPy functions ------------------------------------------------------
# The normalize stage turns a statement `np.add.at(a, indices, b)` into
# `a[...] = added_at(a, indices, b)` (see `Registry.in_place`), a write
# that the reverse stage undoes like any other.

def added_at(a, indices, b):
    """Return a copy of `a` with `b` added at `indices`, as `np.add.at(a,
    indices, b)` would update `a`: a repeated index adds once per
    occurrence."""
    result = np.array(a, copy=True)
    np.add.at(result, indices, b)
    return result


def subtracted_at(a, indices, b):
    """Return a copy of `a` with `b` subtracted at `indices`, as
    `np.subtract.at(a, indices, b)` would update `a`."""
    result = np.array(a, copy=True)
    np.subtract.at(result, indices, b)
    return result


def multiplied_at(a, indices, b):
    """Return a copy of `a` multiplied by `b` at `indices`, as
    `np.multiply.at(a, indices, b)` would update `a`: a repeated index
    multiplies once per occurrence.

    It is linear in `a`, so `multiplied_at(t, indices, b)` is also the
    tangent and the adjoint for `a`.
    """
    result = np.array(a, copy=True)
    np.multiply.at(result, indices, b)
    return result


def multiplied_at_tangent(t, a, indices, b):
    """Return the tangent of `multiplied_at(a, indices, b)` for the
    tangent `t` of `b`: at each index, `a` times the sum over its
    occurrences of `t` times the other factors of that index."""
    occurrences, others = _other_factors(np.shape(a), indices, b)
    terms = np.broadcast_to(t, others.shape) * others
    summed = np.zeros(np.size(a), dtype=np.result_type(terms, a))
    np.add.at(summed, occurrences.ravel(), terms.ravel())
    return np.asarray(a) * summed.reshape(np.shape(a))


def multiplied_at_adjoint(g, a, indices, b):
    """Return the adjoint of `b` in `multiplied_at(a, indices, b)`: for
    each occurrence of an index, `g` and `a` at that index times the other
    factors of that index, summed over the axes that `b` was broadcast
    along."""
    occurrences, others = _other_factors(np.shape(a), indices, b)
    scale = (np.asarray(g) * np.asarray(a)).ravel()[occurrences]
    return unbroadcast(scale * others, b)


def _other_factors(shape, indices, b):
    """Return the flat position in an array of `shape` of each element of
    `b` broadcast to the shape of `array[indices]`, and for each such
    element the product of the other elements at the same position.

    The products are taken without dividing, so a zero factor gives the
    right result. Elements are grouped by position with a stable sort, and
    within each group a prefix and a suffix product are built by a
    Hillis-Steele scan: ceil(log2(m)) passes for a group of m elements.
    """
    positions = np.arange(math.prod(shape)).reshape(shape)[indices]
    factors = np.broadcast_to(b, positions.shape)
    flat_positions = positions.ravel()
    count = flat_positions.size
    order = np.argsort(flat_positions, kind='stable')
    grouped = flat_positions[order]
    values = factors.ravel()[order]
    # The rank of each element in its group, counted from the start and
    # from the end.
    steps = np.arange(count)
    new_group = np.ones(count, dtype=bool)
    new_group[1:] = grouped[1:] != grouped[:-1]
    starts = np.maximum.accumulate(np.where(new_group, steps, 0))
    last = np.ones(count, dtype=bool)
    last[:-1] = new_group[1:]
    ends = np.minimum.accumulate(
        np.where(last, steps, count - 1)[::-1])[::-1]
    before = _exclusive_product(values, steps - starts)
    after = _exclusive_product(values[::-1], (ends - steps)[::-1])[::-1]
    others = np.empty_like(before)
    others[order] = before * after
    return positions, others.reshape(positions.shape)


def _exclusive_product(values, ranks):
    """Return for each element the product of the elements of its group
    before it, where `ranks` numbers the elements of each group from 0 and
    each group is contiguous in `values`."""
    inclusive = np.array(values, copy=True)
    distance = 1
    while distance <= (ranks.max() if ranks.size else 0):
        targets = np.flatnonzero(ranks >= distance)
        inclusive[targets] = inclusive[targets] * inclusive[targets - distance]
        distance *= 2
    exclusive = np.ones_like(inclusive)
    exclusive[1:] = inclusive[:-1]
    exclusive[ranks == 0] = 1
    return exclusive


def along_axis_index(shape, indices, axis):
    """Return the index that `np.put_along_axis(arr, indices, values, axis)`
    writes through, for an `arr` of `shape`: `arr[index] = values` is the
    same write. With axis None, `indices` are positions in the flattened
    array."""
    indices = np.asarray(indices)
    if not np.issubdtype(indices.dtype, np.integer):
        raise IndexError('`indices` must be an integer array')
    if axis is None:
        if indices.ndim != 1:
            raise ValueError('when axis=None, `indices` must have a single '
                             'dimension.')
        return np.unravel_index(indices, shape)
    ndim = len(shape)
    if indices.ndim != ndim:
        raise ValueError('`indices` and `arr` must have the same number of '
                         'dimensions')
    axis = _as_index(axis) % ndim
    index = []
    for dimension, length in enumerate(shape):
        if dimension == axis:
            index.append(indices)
        else:
            place = [1] * ndim
            place[dimension] = length
            index.append(np.arange(length).reshape(place))
    return tuple(index)


def put_along(arr, indices, values, axis):
    """Return a copy of `arr` with `values` written at `indices` along
    `axis`, as `np.put_along_axis(arr, indices, values, axis)` would update
    `arr`."""
    result = np.array(arr, copy=True)
    np.put_along_axis(result, indices, values, axis)
    return result
