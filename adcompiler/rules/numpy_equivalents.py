"""NumPy functions replaced by Python equivalents made of differentiable
operations.

A call of one of these NumPy functions calls its equivalent here instead,
which adcompiler transforms from source like user code, so the reverse,
forward and higher derivatives all come from the rules of the operations
it uses. Each equivalent takes the arguments of its NumPy function and
returns the values NumPy returns, up to rounding. An argument that NumPy
rejects raises the error type that NumPy raises (ValueError, TypeError or
IndexError), and an option that an equivalent does not implement raises
`UnsupportedOptionError`.
"""

import math

import numpy as np

from adcompiler.errors import UnsupportedOptionError
from adcompiler.rules.registry import REGISTRY

# NumPy 1.25 moved AxisError to np.exceptions, and NumPy 2.0 removed
# np.AxisError.
AXIS_ERROR = getattr(np, 'exceptions', np).AxisError


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """Integrate `y` along `axis` with the trapezoidal rule, as
    np.trapezoid does; `x` gives the sample points, else `dx` their
    spacing."""
    y = np.asarray(y)
    count = np.shape(y)[axis]
    upper = np.take(y, np.arange(1, count), axis=axis)
    lower = np.take(y, np.arange(0, count - 1), axis=axis)
    if x is None:
        spacing = dx
    else:
        x = np.asarray(x)
        if np.ndim(x) == 1:
            spacing = np.diff(x)
            shape = [1] * np.ndim(y)
            shape[axis] = count - 1
            spacing = np.reshape(spacing, shape)
        else:
            spacing = np.diff(x, axis=axis)
    return np.sum(spacing * (upper + lower) / 2.0, axis=axis)


def _numpy_interp(x, xp, fp, left, right):
    """Return np.interp(x, xp, fp, left, right), which gives no derivative."""
    return np.interp(x, xp, fp, left, right)


def _constant(value):
    """Return `value`, which gives no derivative."""
    return value


def interp(x, xp, fp, left=None, right=None, period=None):
    """Interpolate `fp` linearly at `x` between the points `xp`, as
    np.interp does.

    The value is np.interp's own. The derivative in x is the slope of the
    segment that x lies in, and at a point of `xp` it is the slope of the
    segment to its right (the last segment at xp[-1]). Outside
    [xp[0], xp[-1]] the value is `left` or `right`, so x there has
    derivative 0. The derivative in xp is that of the same formula, which
    is exact while no x moves to another segment.
    """
    if period is not None:
        raise UnsupportedOptionError(
            f'np.interp with period={period!r} is not differentiable by '
            'adcompiler: wrap x into one period and pass period=None')
    xp = np.asarray(xp, dtype=np.float64)
    if np.iscomplexobj(fp):
        fp = np.asarray(fp, dtype=np.complex128)
    else:
        fp = np.asarray(fp, dtype=np.float64)
    if np.ndim(xp) != 1 or np.ndim(fp) != 1:
        raise ValueError('np.interp needs 1-D xp and fp, got shapes '
                         f'{np.shape(xp)} and {np.shape(fp)}')
    count = np.shape(fp)[0]
    if count == 0:
        raise ValueError('array of sample points is empty')
    if np.shape(xp)[0] != count:
        raise ValueError('fp and xp are not of the same length.')
    x = np.asarray(x, dtype=np.float64)
    exact = _numpy_interp(x, xp, fp, left, right)
    if left is None:
        left = fp[0]
    if right is None:
        right = fp[-1]
    if count == 1:
        # NumPy returns fp[0] for every x that is not below or above xp[0],
        # NaN included.
        inside = np.zeros_like(x) + fp[0]
    else:
        # The segment [xp[j], xp[j + 1]] that each x lies in. At
        # x == xp[-1] it is the last segment.
        j = np.clip(np.searchsorted(xp, x, side='right') - 1, 0, count - 2)
        width = xp[j + 1] - xp[j]
        # A repeated point gives a segment of width 0, which x lies in only
        # at xp[-1], where the value is fp[-1]. Dividing by 1 there keeps
        # the derivatives of the branch that np.where drops finite.
        safe_width = np.where(width == 0.0, 1.0, width)
        slope = (fp[j + 1] - fp[j]) / safe_width
        inside = np.where(width == 0.0, fp[j + 1],
                          fp[j] + slope * (x - xp[j]))
    formula = np.where(x < xp[0], left, np.where(x > xp[-1], right, inside))
    # The formula can differ from np.interp by rounding. Next to an
    # infinite or NaN entry of fp it gives NaN where NumPy does not,
    # because NumPy returns fp[j] at x == xp[j] and retries from xp[j + 1]
    # when its formula gives NaN. So the result takes NumPy's value and
    # the formula's derivative.
    # NOTE: where the formula is not finite, the tangent is 0 and the
    # gradient is NaN (a zero cotangent times an infinite slope).
    difference = _constant(formula) - formula
    result = exact - np.where(np.isfinite(formula), difference, 0.0)
    if np.ndim(result) == 0:
        return result[()]
    return result


REGISTRY.non_differentiable(_numpy_interp)
REGISTRY.non_differentiable(_constant)


def _full_convolution(a, v):
    """Return the full discrete convolution of the 1-D arrays a and v,
    with len(v) <= len(a).

    Entry k is the sum over j of a_pad[k + j] * v[m - 1 - j], where a_pad
    is a with m - 1 zeros on each side. The windows are gathered with one
    index array, so the work runs in NumPy but takes memory for
    (n + m - 1) * m products.
    """
    n = np.shape(a)[0]
    m = np.shape(v)[0]
    zeros = np.zeros(m - 1, dtype=np.result_type(a, v))
    padded = np.concatenate([zeros, a, zeros])
    windows = np.arange(n + m - 1)[:, None] + np.arange(m)[None, :]
    return np.sum(padded[windows] * v[::-1], axis=1)


def _convolution_mode(full, n, m, mode):
    """Return the part of a full convolution of lengths n >= m that `mode`
    keeps, as np.convolve does."""
    if mode == 'full':
        return full
    if mode == 'same':
        start = (m - 1) // 2
        return full[start:start + n]
    if mode == 'valid':
        return full[m - 1:n]
    raise ValueError(f"mode must be one of 'full', 'same' or 'valid', "
                     f'got {mode!r}')


def _check_signals(a, v):
    if np.ndim(a) != 1 or np.ndim(v) != 1:
        raise ValueError('object too deep for desired array: np.convolve '
                         'and np.correlate take 1-D arrays, got shapes '
                         f'{np.shape(a)} and {np.shape(v)}')
    if np.shape(a)[0] == 0:
        raise ValueError('a cannot be empty')
    if np.shape(v)[0] == 0:
        raise ValueError('v cannot be empty')


def convolve(a, v, mode='full'):
    """Return the discrete linear convolution of the 1-D arrays a and v, as
    np.convolve does."""
    a = np.atleast_1d(np.asarray(a))
    v = np.atleast_1d(np.asarray(v))
    _check_signals(a, v)
    if np.shape(v)[0] > np.shape(a)[0]:
        a, v = v, a
    full = _full_convolution(a, v)
    return _convolution_mode(full, np.shape(a)[0], np.shape(v)[0], mode)


def correlate(a, v, mode='valid'):
    """Return the cross-correlation of the 1-D arrays a and v, as
    np.correlate does: entry k is the sum over i of a[i + k] * conj(v[i]),
    for the shifts k that `mode` keeps."""
    a = np.asarray(a)
    v = np.asarray(v)
    if np.ndim(a) == 0 or np.ndim(v) == 0:
        # np.convolve takes a 0-d argument as a 1-D one, np.correlate not.
        raise ValueError('object of too small depth for desired array: '
                         'np.correlate takes 1-D arrays, got shapes '
                         f'{np.shape(a)} and {np.shape(v)}')
    _check_signals(a, v)
    if np.iscomplexobj(v):
        v = np.conj(v)
    if np.shape(v)[0] > np.shape(a)[0]:
        # NumPy correlates the other way round and reverses the part that
        # `mode` keeps.
        full = _full_convolution(v, a[::-1])
        trimmed = _convolution_mode(full, np.shape(v)[0], np.shape(a)[0],
                                    mode)
        return trimmed[::-1]
    full = _full_convolution(a, v[::-1])
    return _convolution_mode(full, np.shape(a)[0], np.shape(v)[0], mode)


REGISTRY.substitute(np.interp, interp)
REGISTRY.substitute(np.convolve, convolve)
REGISTRY.substitute(np.correlate, correlate)
for _name in ('trapezoid', 'trapz'):
    # NumPy 2.0 deprecated np.trapz, and NumPy 2.4.6 no longer has it.
    if hasattr(np, _name):
        REGISTRY.substitute(getattr(np, _name), trapezoid)


# Methods of ufuncs -----------------------------------------------------------

def _outer_equivalent(ufunc):
    """Return the equivalent of `ufunc.outer` for a binary ufunc with an
    elementwise rule."""

    def outer(A, B):
        """Apply the ufunc to every pair of entries of A and B, as
        ufunc.outer does: the result has the shape A.shape + B.shape."""
        A = np.asarray(A)
        B = np.asarray(B)
        return ufunc(np.reshape(A, np.shape(A) + (1,) * np.ndim(B)), B)

    return outer


def logaddexp_reduce(array, axis=0, dtype=None, out=None, keepdims=False,
                     initial=None, where=True):
    """Return log(sum(exp(array))) along `axis`, as np.logaddexp.reduce
    does, over the entries that `where` selects and with `initial` as one
    more term.

    The largest entry of each slice is subtracted before exp and added
    back, so that exp does not overflow. A slice of -inf entries gives -inf,
    as in NumPy, and derivative 0, because log reads 1 in its place.
    """
    if out is not None:
        raise UnsupportedOptionError(
            'np.logaddexp.reduce with out= is not differentiable by '
            'adcompiler: assign the result instead')
    array = np.asarray(array)
    if dtype is not None:
        array = array.astype(dtype)
    if where is not True:
        array = np.where(where, array, -np.inf)
    peak = np.max(array, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    total = np.sum(np.exp(array - peak), axis=axis, keepdims=keepdims)
    empty = total == 0.0
    logarithm = np.where(empty, -np.inf, np.log(np.where(empty, 1.0, total)))
    result = logarithm + np.reshape(peak, np.shape(total))
    if initial is not None:
        result = np.logaddexp(result, initial)
    return result


def add_reduceat(array, indices, axis=0, dtype=None, out=None):
    """Return the sums of `array` over the slices that start at `indices`
    along `axis`, as np.add.reduceat does.

    Slice i runs from indices[i] to indices[i + 1], or to the end for the
    last index. Where indices[i + 1] <= indices[i], the slice is the one
    entry at indices[i]. The sums are one product with a 0/1 matrix, so
    the derivative is that of np.tensordot.
    """
    if out is not None:
        raise UnsupportedOptionError(
            'np.add.reduceat with out= is not differentiable by adcompiler: '
            'assign the result instead')
    array = np.asarray(array)
    if dtype is not None:
        array = array.astype(dtype)
    indices = np.asarray(indices)
    if np.ndim(indices) != 1 or not np.issubdtype(indices.dtype, np.integer):
        raise TypeError('np.add.reduceat needs a 1-D array of integer '
                        f'indices, got {indices!r}')
    length = np.shape(array)[axis]
    for index in indices:
        if index < 0 or index >= length:
            raise IndexError(f'np.add.reduceat index {index} is out of '
                             f'bounds for an axis of length {length}')
    following = np.append(indices[1:], length)
    stops = np.where(following > indices, following, indices + 1)
    positions = np.arange(length)
    selection = ((positions >= indices[:, None])
                 & (positions < stops[:, None]))
    sums = np.tensordot(np.asarray(selection, dtype=array.dtype), array,
                        axes=([1], [axis]))
    return np.moveaxis(sums, 0, axis)


# Finite differences, polynomials and running sums --------------------------

def _gradient_axes(axis, ndim):
    """Return `axis` of np.gradient as a tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:
        axes = (axis,)
    normalized = []
    for a in axes:
        if a < -ndim or a >= ndim:
            raise AXIS_ERROR(a, ndim)
        normalized.append(a % ndim)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f'np.gradient got a repeated axis in {axis!r}')
    return tuple(normalized)


def _gradient_spacings(varargs, count):
    """Return one spacing per differentiated axis from the spacing
    arguments of np.gradient: none (1.0), one for every axis, or one per
    axis."""
    if len(varargs) == 0:
        return [1.0] * count
    if len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        return [varargs[0]] * count
    if len(varargs) == count:
        return list(varargs)
    raise TypeError(f'np.gradient takes no spacing, one spacing or one per '
                    f'axis ({count}), got {len(varargs)}')


def _gradient_along_first_axis(f, spacing, edge_order):
    """Return the derivative of f along axis 0 from its samples, as
    np.gradient does: central differences inside, and one-sided
    differences of order `edge_order` at the two ends.

    `spacing` is one distance between neighbours, or the coordinates of
    the samples. For coordinates, with h1 and h2 the distances to the left
    and right neighbours, the inner formula is exact for quadratics:
    f'_i = (h1**2 f_(i+1) - h2**2 f_(i-1) + (h2**2 - h1**2) f_i)
    / (h1 h2 (h1 + h2)).
    """
    if np.ndim(spacing) == 0:
        inner = (f[2:] - f[:-2]) / (2.0 * spacing)
        if edge_order == 1:
            first = (f[1] - f[0]) / spacing
            last = (f[-1] - f[-2]) / spacing
        else:
            first = (-1.5 * f[0] + 2.0 * f[1] - 0.5 * f[2]) / spacing
            last = (0.5 * f[-3] - 2.0 * f[-2] + 1.5 * f[-1]) / spacing
    else:
        distances = np.diff(spacing)
        shape = (-1,) + (1,) * (np.ndim(f) - 1)
        left = np.reshape(distances[:-1], shape)
        right = np.reshape(distances[1:], shape)
        inner = ((left ** 2 * f[2:] - right ** 2 * f[:-2]
                  + (right ** 2 - left ** 2) * f[1:-1])
                 / (left * right * (left + right)))
        if edge_order == 1:
            first = (f[1] - f[0]) / distances[0]
            last = (f[-1] - f[-2]) / distances[-1]
        else:
            h1 = distances[0]
            h2 = distances[1]
            first = (-(2.0 * h1 + h2) / (h1 * (h1 + h2)) * f[0]
                     + (h1 + h2) / (h1 * h2) * f[1]
                     - h1 / (h2 * (h1 + h2)) * f[2])
            h1 = distances[-2]
            h2 = distances[-1]
            last = (h2 / (h1 * (h1 + h2)) * f[-3]
                    - (h1 + h2) / (h1 * h2) * f[-2]
                    + (2.0 * h2 + h1) / (h2 * (h1 + h2)) * f[-1])
    return np.concatenate([first[None], inner, last[None]])


def gradient(f, *varargs, axis=None, edge_order=1):
    """Return the derivative of the samples f along each axis in `axis`,
    as np.gradient does: one array for one axis, else a tuple.

    Each spacing argument is a distance between neighbours or the
    coordinates of the samples along its axis. The derivative in the
    coordinates is that of the same formula.
    """
    f = np.asarray(f)
    if edge_order not in (1, 2):
        raise ValueError(f'np.gradient takes edge_order 1 or 2, got '
                         f'{edge_order!r}')
    result_type = f.dtype if np.issubdtype(f.dtype, np.inexact) \
        else np.float64
    f = f.astype(result_type, copy=False)
    axes = _gradient_axes(axis, np.ndim(f))
    spacings = _gradient_spacings(varargs, len(axes))
    derivatives = []
    for position in range(len(axes)):
        axis_number = axes[position]
        spacing = spacings[position]
        count = np.shape(f)[axis_number]
        if count < edge_order + 1:
            raise ValueError(
                f'np.gradient with edge_order={edge_order} needs at least '
                f'{edge_order + 1} samples along axis {axis_number}, got '
                f'{count}')
        if np.ndim(spacing) == 1:
            if np.shape(spacing)[0] != count:
                raise ValueError(
                    f'np.gradient got {np.shape(spacing)[0]} coordinates for '
                    f'axis {axis_number} of length {count}: pass one '
                    f'coordinate per sample')
            if not np.issubdtype(np.asarray(spacing).dtype, np.inexact):
                spacing = np.asarray(spacing, dtype=np.float64)
        elif np.ndim(spacing) != 0:
            raise ValueError(
                f'np.gradient takes a number or 1-D coordinates as a '
                f'spacing, got an array of shape {np.shape(spacing)}')
        moved = np.moveaxis(f, axis_number, 0)
        derivative = _gradient_along_first_axis(moved, spacing, edge_order)
        derivative = np.moveaxis(derivative, 0, axis_number)
        derivatives.append(derivative.astype(result_type, copy=False))
    if len(derivatives) == 1:
        return derivatives[0]
    return tuple(derivatives)


def polyval(p, x):
    """Evaluate the polynomial with coefficients p, highest power first, at
    x by Horner's scheme, as np.polyval does."""
    p = np.asarray(p)
    x = np.asanyarray(x)
    y = np.zeros_like(x)
    for i in range(len(p)):
        y = y * x + p[i]
    return y


def cumulative_sum(x, *, axis=None, dtype=None, include_initial=False):
    """Return the running sums of x along `axis`, as np.cumulative_sum does;
    with `include_initial`, a 0 comes first."""
    x = np.asarray(x)
    if axis is None:
        if np.ndim(x) > 1:
            raise ValueError(f'np.cumulative_sum of an array with '
                             f'{np.ndim(x)} dimensions needs an axis')
        axis = 0
    sums = np.cumsum(x, axis=axis, dtype=dtype)
    if not include_initial:
        return sums
    shape = list(np.shape(sums))
    shape[axis] = 1
    zeros = np.zeros(tuple(shape), dtype=sums.dtype)
    return np.concatenate([zeros, sums], axis=axis)


def dist(p, q):
    """Return the Euclidean distance between the points p and q, as
    math.dist does, with derivative 0 where they coincide, as np.linalg.norm
    of a zero vector.

    The differences are divided by the largest one before they are
    squared, so that squares of very small or large differences do not
    underflow or overflow.
    """
    if len(p) != len(q):
        raise ValueError(f'math.dist needs two points with the same number '
                         f'of coordinates, got {len(p)} and {len(q)}')
    differences = [a - b for a, b in zip(p, q)]
    if len(differences) == 0:
        return 0.0
    largest = max([abs(d) for d in differences])
    if largest == 0.0 or math.isinf(largest) or math.isnan(largest):
        return float(largest)
    scaled = math.fsum([(d / largest) ** 2 for d in differences])
    return float(largest * math.sqrt(scaled))


for _ufunc in (np.add, np.subtract, np.multiply, np.divide, np.power,
               np.maximum, np.minimum, np.fmax, np.fmin, np.logaddexp,
               np.logaddexp2, np.arctan2, np.hypot, np.float_power, np.mod,
               np.fmod, np.copysign, np.heaviside):
    REGISTRY.substitute(_ufunc.outer, _outer_equivalent(_ufunc))
REGISTRY.substitute(np.logaddexp.reduce, logaddexp_reduce)
REGISTRY.substitute(np.add.reduceat, add_reduceat)
REGISTRY.substitute(np.gradient, gradient)
REGISTRY.substitute(np.polyval, polyval)
REGISTRY.substitute(math.dist, dist)
# NumPy 2.1 added np.cumulative_sum.
if hasattr(np, 'cumulative_sum'):
    REGISTRY.substitute(np.cumulative_sum, cumulative_sum)
