"""More NumPy functions replaced by Python equivalents made of operations
that have rules: moving windows, joins and deletions, grids, covariances,
condition numbers and the array API spellings of NumPy 2.

They work as those of `adcompiler.rules.numpy_equivalents`: a call of the
NumPy function calls the equivalent here, which adcompiler transforms from
source, so every mode and higher derivatives come from the rules of the
operations it uses. Functions that the installed NumPy lacks are not
registered.
"""

import warnings

import numpy as np

from adcompiler.errors import UnsupportedOptionError
from adcompiler.rules.numpy_equivalents import AXIS_ERROR
from adcompiler.rules.registry import REGISTRY

# NumPy 2.0 made np.meshgrid return a tuple; 1.x returns a list.
_MESHGRID_RESULT = type(np.meshgrid(np.zeros(1), np.zeros(1)))


def _no_out(function_name, out):
    if out is not None:
        raise UnsupportedOptionError(
            f'{function_name} with out= is not differentiable by adcompiler: '
            'assign the result instead')


# Moving windows --------------------------------------------------------------

def _window_indices(length, window, function_name):
    """Return the (length - window + 1, window) positions of the windows."""
    if window < 0:
        raise ValueError('`window_shape` cannot contain negative values')
    if window > length:
        raise ValueError(f'{function_name}: window shape cannot be larger '
                         f'than input array shape ({window} > {length})')
    return np.arange(length - window + 1)[:, None] + np.arange(window)[None, :]


def sliding_window_view(x, window_shape, axis=None, *, subok=False,
                        writeable=False):
    """Return the windows of `x`, as
    np.lib.stride_tricks.sliding_window_view does, with the window axes
    last.

    NumPy returns a read-only view. This returns a copy gathered with index
    arrays, so it takes memory for every entry of every window.
    """
    if writeable:
        raise UnsupportedOptionError(
            'sliding_window_view with writeable=True is not differentiable '
            'by adcompiler: write into a copy of the windows instead')
    x = np.asarray(x)
    if np.ndim(window_shape) == 0:
        window_shape = (window_shape,)
    else:
        window_shape = tuple(window_shape)
    if axis is None:
        if len(window_shape) != np.ndim(x):
            raise ValueError(
                f'Since axis is `None`, must provide window_shape for all '
                f'dimensions of `x`; got {len(window_shape)} window_shape '
                f'elements and `x.ndim` is {np.ndim(x)}.')
        axes = tuple(range(np.ndim(x)))
    elif np.ndim(axis) == 0:
        axes = (axis,)
    else:
        axes = tuple(axis)
    if len(axes) != len(window_shape):
        raise ValueError(
            f'Must provide matching length window_shape and axis; got '
            f'{len(window_shape)} window_shape elements and {len(axes)} '
            f'axes elements.')
    ndim = np.ndim(x)
    windows = x
    for position in range(len(axes)):
        axis_number = axes[position]
        if axis_number < -ndim or axis_number >= ndim:
            raise AXIS_ERROR(axis_number, ndim)
        axis_number = axis_number % ndim
        indices = _window_indices(np.shape(windows)[axis_number],
                                  window_shape[position],
                                  'sliding_window_view')
        # take puts the (start, offset) axes where the axis was; the
        # offset axis goes last, after the window axes made before.
        windows = np.take(windows, indices, axis=axis_number)
        windows = np.moveaxis(windows, axis_number + 1, -1)
    return windows


# Products and condition numbers ----------------------------------------------

def multi_dot(arrays, *, out=None):
    """Return the product of the matrices in `arrays`, as
    np.linalg.multi_dot does: a 1-D first array is a row vector and a 1-D
    last array a column vector.

    The products are taken from left to right. NumPy picks the cheapest
    order, so the values may differ from NumPy's by rounding. Two arrays
    go to np.dot unchecked, as in NumPy, so they may have any dimensions.
    """
    _no_out('np.linalg.multi_dot', out)
    count = len(arrays)
    if count < 2:
        raise ValueError('Expecting at least two arrays.')
    if count == 2:
        return np.dot(arrays[0], arrays[1])
    for position in range(count):
        dimensions = np.ndim(arrays[position])
        at_end = position == 0 or position == count - 1
        if dimensions != 2 and not (at_end and dimensions == 1):
            raise ValueError(
                f'{dimensions}-dimensional array given. Array must be '
                f'two-dimensional')
    product = arrays[0]
    for position in range(1, count):
        product = np.dot(product, arrays[position])
    return product


def cond(x, p=None):
    """Return the condition number of the matrices `x` in the norm `p`, as
    np.linalg.cond does: the ratio of the extreme singular values for p
    None, 2 and -2, and norm(x, p) * norm(inv(x), p) for the other norms.

    NOTE: NumPy returns inf for a singular matrix in the norms other than
    2 and -2; here np.linalg.inv raises LinAlgError there.
    """
    x = np.asarray(x)
    if np.ndim(x) < 2:
        raise np.linalg.LinAlgError(
            f'{np.ndim(x)}-dimensional array given. Array must be at least '
            f'two-dimensional')
    if p is None or p == 2 or p == -2:
        if np.iscomplexobj(x):
            # Named here: the error of np.linalg.svd would name svd, which
            # the caller did not call.
            raise UnsupportedOptionError(
                f'adcompiler differentiates np.linalg.cond with p={p!r} of '
                f'real matrices only, and this one is complex; a norm '
                f"other than 2 and -2 (such as p='fro') is supported")
        s = np.linalg.svd(x, compute_uv=False)
        if p == -2:
            return s[..., -1] / s[..., 0]
        return s[..., 0] / s[..., -1]
    if np.shape(x)[-1] != np.shape(x)[-2]:
        raise np.linalg.LinAlgError(
            'Last 2 dimensions of the array must be square')
    return (np.linalg.norm(x, p, axis=(-2, -1))
            * np.linalg.norm(np.linalg.inv(x), p, axis=(-2, -1)))


# Covariance and correlation --------------------------------------------------

def _observations(m, rowvar, dtype):
    """Return m as a 2-D array with one variable per row."""
    values = np.asarray(m)
    if np.ndim(values) > 2:
        raise ValueError('m has more than 2 dimensions')
    values = np.atleast_2d(values).astype(dtype)
    if not rowvar and np.shape(values)[0] != 1:
        values = values.T
    return values


def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None,
        aweights=None, *, dtype=None):
    """Return the covariance matrix of the variables in `m` (and `y`), as
    np.cov does, with frequency weights `fweights` and observation weights
    `aweights`.

    The weights are differentiated too. A covariance of one variable is a
    0-d array, as in NumPy.
    """
    if ddof is not None and ddof != int(ddof):
        raise ValueError('ddof must be integer')
    if dtype is None:
        if y is None:
            dtype = np.result_type(m, np.float64)
        else:
            dtype = np.result_type(m, y, np.float64)
    if not np.issubdtype(dtype, np.inexact):
        # NumPy subtracts the float mean from X in place, which fails for
        # an integer or boolean X.
        raise TypeError(f"Cannot cast ufunc 'subtract' output from "
                        f"dtype('float64') to {np.dtype(dtype)!r} with "
                        f"casting rule 'same_kind'")
    X = _observations(m, rowvar, dtype)
    if y is not None:
        X = np.concatenate((X, _observations(y, rowvar, dtype)), axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    count = np.shape(X)[1]
    weights = None
    if fweights is not None:
        fweights = np.asarray(fweights, dtype=float)
        if not np.all(fweights == np.around(fweights)):
            raise TypeError('fweights must be integer')
        if np.ndim(fweights) != 1 or np.shape(fweights)[0] != count:
            raise RuntimeError('incompatible numbers of samples and fweights')
        if np.any(fweights < 0):
            raise ValueError('fweights cannot be negative')
        weights = fweights
    if aweights is not None:
        aweights = np.asarray(aweights, dtype=float)
        if np.ndim(aweights) != 1 or np.shape(aweights)[0] != count:
            raise RuntimeError('incompatible numbers of samples and aweights')
        if np.any(aweights < 0):
            raise ValueError('aweights cannot be negative')
        weights = aweights if weights is None else weights * aweights
    if weights is None:
        total = count
        average = np.mean(X, axis=1)
        factor = count - ddof
    else:
        total = np.sum(weights)
        average = np.sum(X * weights, axis=1) / total
        if ddof == 0:
            factor = total
        elif aweights is None:
            factor = total - ddof
        else:
            factor = total - ddof * np.sum(weights * aweights) / total
    if factor <= 0:
        warnings.warn('Degrees of freedom <= 0 for slice', RuntimeWarning,
                      stacklevel=2)
        factor = 0.0
    centered = X - average[:, None]
    if weights is None:
        weighted = centered.T
    else:
        weighted = (centered * weights).T
    return np.squeeze(np.dot(centered, np.conj(weighted)) / factor)


def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """Return the correlation coefficients of the variables in `x` (and
    `y`), as np.corrcoef does: the covariances divided by the products of
    the standard deviations, clipped to [-1, 1]."""
    c = cov(x, y, rowvar, dtype=dtype)
    if np.ndim(c) == 0:
        return c / c
    deviations = np.sqrt(np.real(np.diag(c)))
    c = c / deviations[:, None]
    c = c / deviations[None, :]
    if np.iscomplexobj(c):
        return np.clip(np.real(c), -1, 1) + 1j * np.clip(np.imag(c), -1, 1)
    return np.clip(c, -1, 1)


# Joins, deletions and grids --------------------------------------------------

def _block_depth(arrays):
    """Return how deeply `arrays` nests lists, checking that every branch
    nests as deeply."""
    if isinstance(arrays, tuple):
        raise TypeError('np.block takes nested lists, not tuples: '
                        f'got {arrays!r}')
    if not isinstance(arrays, list):
        return 0
    if len(arrays) == 0:
        raise ValueError('Lists cannot be empty')
    depths = [_block_depth(item) for item in arrays]
    for depth in depths:
        if depth != depths[0]:
            raise ValueError('List depths are mismatched')
    return depths[0] + 1


def _block_ndim(arrays):
    """Return the largest number of dimensions of the arrays in `arrays`."""
    if isinstance(arrays, list):
        return max([_block_ndim(item) for item in arrays])
    return np.ndim(arrays)


def _block_join(arrays, depth, ndim):
    """Join `arrays`, nested `depth` lists deep, along axis -depth (the
    innermost lists along the last axis)."""
    if depth == 0:
        array = np.asarray(arrays)
        return np.reshape(array, (1,) * (ndim - np.ndim(array))
                          + np.shape(array))
    parts = [_block_join(item, depth - 1, ndim) for item in arrays]
    return np.concatenate(parts, axis=_join_axis(depth))


def _join_axis(depth):
    """Return the axis that lists `depth` levels deep are joined along.

    It has no derivative. Forward mode over the gradient of the recursion
    would otherwise take the integer for a value with a tangent.
    """
    return -depth


def block(arrays):
    """Assemble an array from nested lists of blocks, as np.block does."""
    depth = _block_depth(arrays)
    ndim = max(depth, _block_ndim(arrays))
    return _block_join(arrays, depth, ndim)


def delete(arr, obj, axis=None):
    """Return `arr` without the entries at `obj` along `axis` (of the
    flattened array when axis is None), as np.delete does."""
    arr = np.asarray(arr)
    if axis is None:
        arr = np.ravel(arr)
        axis = 0
    length = np.shape(arr)[axis]
    remaining = np.delete(np.arange(length), obj)
    return np.take(arr, remaining, axis=axis)


def meshgrid(*xi, copy=True, sparse=False, indexing='xy'):
    """Return coordinate arrays from the coordinate vectors `xi`, as
    np.meshgrid does."""
    if indexing not in ('xy', 'ij'):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    count = len(xi)
    grids = []
    for position in range(count):
        shape = [1] * count
        shape[position] = -1
        if indexing == 'xy' and count > 1 and position < 2:
            shape[position] = 1
            shape[1 - position] = -1
        grids.append(np.reshape(np.asarray(xi[position]), tuple(shape)))
    if not sparse:
        shape = np.broadcast_shapes(*[np.shape(grid) for grid in grids])
        grids = [np.broadcast_to(grid, shape) for grid in grids]
    if copy:
        grids = [np.copy(grid) for grid in grids]
    return _MESHGRID_RESULT(grids)


def diagflat(v, k=0):
    """Return the matrix with the flattened `v` on diagonal `k`, as
    np.diagflat does."""
    return np.diag(np.ravel(v), k)


def _ediff1d_padding(values, dtype, name):
    """Return `values` flattened and cast to `dtype`, or raise TypeError, as
    np.ediff1d does, when that cast is not a `same_kind` cast."""
    values = np.asarray(values)
    if not np.can_cast(values.dtype, dtype, casting='same_kind'):
        raise TypeError(f'dtype of `{name}` must be compatible with input '
                        f'`ary` under the `same_kind` rule: cannot cast '
                        f'{values.dtype} to {dtype}')
    return np.ravel(values).astype(dtype)


def ediff1d(ary, to_end=None, to_begin=None):
    """Return the differences of the flattened `ary`, with `to_begin`
    before and `to_end` after them, as np.ediff1d does."""
    ary = np.ravel(np.asarray(ary))
    parts = []
    if to_begin is not None:
        parts.append(_ediff1d_padding(to_begin, ary.dtype, 'to_begin'))
    parts.append(ary[1:] - ary[:-1])
    if to_end is not None:
        parts.append(_ediff1d_padding(to_end, ary.dtype, 'to_end'))
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts)


# Selections and broadcasting -------------------------------------------------

def compress(condition, a, axis=None, out=None):
    """Return the entries of `a` where `condition` is true along `axis` (of
    the flattened `a` for None), as np.compress does."""
    _no_out('np.compress', out)
    return np.asarray(a).compress(condition, axis=axis)


# NumPy 2.0 made np.broadcast_arrays return a tuple; 1.x returns a list.
_BROADCAST_RESULT = type(np.broadcast_arrays(np.zeros(1)))


def broadcast_arrays(*args, subok=False):
    """Return the arguments broadcast to their common shape, as
    np.broadcast_arrays does: a tuple (a list before NumPy 2.0)."""
    shape = np.broadcast_shapes(*[np.shape(a) for a in args])
    results = []
    for a in args:
        results.append(np.broadcast_to(a, shape, subok=subok))
    return _BROADCAST_RESULT(results)


def _insert_sources(shape, obj, values_shape, axis):
    """Return, for each entry of np.insert(arr, obj, values, axis) with arr
    of `shape` and values of `values_shape`, the flat index i >= 0 of the
    entry of arr it copies, or -1 - j for entry j of the flat values."""
    entries = np.arange(int(np.prod(shape))).reshape(shape)
    inserted = -1 - np.arange(int(np.prod(values_shape))).reshape(
        values_shape)
    return np.insert(entries, obj, inserted, axis=axis)


def insert(arr, obj, values, axis=None):
    """Return `arr` with `values` inserted before the indices `obj` along
    `axis` (of the flattened arr for None), as np.insert does.

    NumPy's own np.insert of the entry numbers places the entries, so the
    index forms and the broadcasting of values are NumPy's. The values
    are cast to the dtype of arr, as NumPy casts them.
    """
    arr = np.asarray(arr)
    values = np.asarray(values)
    sources = _insert_sources(np.shape(arr), obj, np.shape(values), axis)
    flat_values = np.ravel(values).astype(arr.dtype)
    if np.size(values) == 0:
        return np.take(np.ravel(arr), sources)
    if np.size(arr) == 0:
        return np.take(flat_values, -1 - sources)
    from_arr = np.take(np.ravel(arr), np.maximum(sources, 0))
    from_values = np.take(flat_values, np.maximum(-1 - sources, 0))
    return np.where(sources >= 0, from_arr, from_values)


# In-place writes -------------------------------------------------------------
# A statement `np.fill_diagonal(a, ...)`, `np.put(a, ...)`, `a.put(...)` or
# `a.fill(v)` on a local array a runs as `a[...] = filled_diagonal(a, ...)`
# (see Registry.in_place), so the write is differentiated like `a[i] = v`.

def _cycled(values, count):
    """Return `count` entries of the flattened `values`, repeated from the
    start as often as needed, as NumPy's flat assignment reads them."""
    values = np.ravel(np.asarray(values))
    if np.shape(values)[0] == 0:
        raise ValueError('cannot write an empty array of values')
    return np.take(values, np.arange(count) % np.shape(values)[0])


def filled_diagonal(a, val, wrap=False):
    """Return a copy of `a` with `val` written on its main diagonal, as
    np.fill_diagonal(a, val, wrap) would update a."""
    shape = np.shape(a)
    if len(shape) < 2:
        raise ValueError('array must be at least 2-d')
    size = int(np.prod(shape))
    if len(shape) == 2:
        step = shape[1] + 1
        # Without wrap, a tall matrix gets the diagonal of its top square
        # block only; with wrap, the diagonal starts again below it.
        end = size if wrap else shape[1] * shape[1]
    else:
        for length in shape:
            if length != shape[0]:
                raise ValueError('All dimensions of input must be of '
                                 'equal length')
        step = 1 + int(np.sum(np.cumprod(shape[:-1])))
        end = size
    positions = np.arange(0, min(end, size), step)
    result = np.array(np.ravel(a), copy=True)
    result[positions] = _cycled(val, np.shape(positions)[0])
    return np.reshape(result, shape)


def put_values(a, ind, v, mode='raise'):
    """Return a copy of `a` with `v` written at the flat indices `ind`, as
    np.put(a, ind, v, mode) would update a: v repeats when shorter than
    ind, and the last write of a repeated index stays."""
    shape = np.shape(a)
    size = int(np.prod(shape))
    indices = np.ravel(np.asarray(ind))
    if mode == 'wrap':
        indices = np.mod(indices, size)
    elif mode == 'clip':
        indices = np.clip(indices, 0, size - 1)
    elif mode == 'raise':
        for index in indices:
            if index < -size or index >= size:
                raise IndexError(f'index {index} is out of bounds for axis '
                                 f'0 with size {size}')
        indices = np.mod(indices, size)
    else:
        raise ValueError(f"np.put takes mode 'raise', 'wrap' or 'clip', "
                         f"got {mode!r}")
    result = np.array(np.ravel(a), copy=True)
    if np.shape(indices)[0] > 0:
        result[indices] = _cycled(v, np.shape(indices)[0])
    return np.reshape(result, shape)


def filled_values(a, value):
    """Return a new array shaped like `a` with every entry `value`, as
    a.fill(value) would update a."""
    result = np.empty_like(a)
    result[...] = value
    return result


# Array API spellings of NumPy 2 ----------------------------------------------

def cumulative_prod(x, *, axis=None, dtype=None, include_initial=False):
    """Return the running products of x along `axis`, as
    np.cumulative_prod does; with `include_initial`, a 1 comes first."""
    x = np.asarray(x)
    if axis is None:
        if np.ndim(x) > 1:
            raise ValueError(f'np.cumulative_prod of an array with '
                             f'{np.ndim(x)} dimensions needs an axis')
        axis = 0
    products = np.cumprod(x, axis=axis, dtype=dtype)
    if not include_initial:
        return products
    shape = list(np.shape(products))
    shape[axis] = 1
    ones = np.ones(tuple(shape), dtype=products.dtype)
    return np.concatenate([ones, products], axis=axis)


def unstack(x, /, *, axis=0):
    """Return the slices of x along `axis` as a tuple, as np.unstack does."""
    x = np.asarray(x)
    if np.ndim(x) == 0:
        raise ValueError('Input array must be at least 1-d.')
    moved = np.moveaxis(x, axis, 0)
    slices = []
    for position in range(np.shape(moved)[0]):
        slices.append(moved[position])
    return tuple(slices)


def matrix_transpose(x, /):
    """Return x with its last two axes swapped, as np.matrix_transpose
    does."""
    x = np.asarray(x)
    if np.ndim(x) < 2:
        raise ValueError(f'Input array must be at least 2-dimensional, but '
                         f'it is {np.ndim(x)}')
    return np.swapaxes(x, -1, -2)


def matvec(x1, x2, /, *, out=None):
    """Return the products of the matrices x1 (..., m, n) with the vectors
    x2 (..., n), broadcast over the leading axes, as np.matvec does."""
    _no_out('np.matvec', out)
    return np.matmul(x1, np.asarray(x2)[..., None])[..., 0]


def vecmat(x1, x2, /, *, out=None):
    """Return the products of the conjugated vectors x1 (..., n) with the
    matrices x2 (..., n, m), broadcast over the leading axes, as np.vecmat
    does."""
    _no_out('np.vecmat', out)
    return np.matmul(np.conj(np.asarray(x1))[..., None, :], x2)[..., 0, :]


REGISTRY.non_differentiable(_join_axis)
REGISTRY.non_differentiable(_insert_sources)
REGISTRY.in_place(np.fill_diagonal, filled_diagonal)
REGISTRY.in_place(np.put, put_values)
REGISTRY.in_place_method('put', put_values)
REGISTRY.in_place_method('fill', filled_values)
REGISTRY.substitute(np.lib.stride_tricks.sliding_window_view,
                    sliding_window_view)
REGISTRY.substitute(np.linalg.multi_dot, multi_dot)
REGISTRY.substitute(np.linalg.cond, cond)
REGISTRY.substitute(np.cov, cov)
REGISTRY.substitute(np.corrcoef, corrcoef)
REGISTRY.substitute(np.block, block)
REGISTRY.substitute(np.delete, delete)
REGISTRY.substitute(np.meshgrid, meshgrid)
REGISTRY.substitute(np.diagflat, diagflat)
REGISTRY.substitute(np.ediff1d, ediff1d)
REGISTRY.substitute(np.compress, compress)
REGISTRY.substitute(np.broadcast_arrays, broadcast_arrays)
REGISTRY.substitute(np.insert, insert)

# NumPy 2.0 added np.matrix_transpose (np.linalg.matrix_transpose has a
# rule), NumPy 2.1 np.cumulative_prod and np.unstack, and NumPy 2.2
# np.matvec and np.vecmat.
for _owner, _name, _equivalent in (
        (np, 'cumulative_prod', cumulative_prod),
        (np, 'unstack', unstack),
        (np, 'matrix_transpose', matrix_transpose),
        (np, 'matvec', matvec),
        (np, 'vecmat', vecmat)):
    if hasattr(_owner, _name):
        REGISTRY.substitute(getattr(_owner, _name), _equivalent)
