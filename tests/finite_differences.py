"""Central finite differences, the reference every gradient test compares to."""

import types
import warnings

import numpy as np


def numerical_gradient(function, args, position, step=1e-6):
    """Central-difference gradient of scalar `function(*args)` w.r.t. one arg.

    The argument may be a Python float or a float array; the result has its
    shape. Each component costs two evaluations.
    """
    args = list(args)
    x = args[position]
    scalar = np.ndim(x) == 0 and not isinstance(x, np.ndarray)
    x = np.array(x, dtype=float)
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        shifted = []
        for sign in (1.0, -1.0):
            point = x.copy()
            point[index] += sign * step
            args[position] = float(point) if scalar else point
            shifted.append(function(*args))
        gradient[index] = (shifted[0] - shifted[1]) / (2 * step)
    return float(gradient) if scalar else gradient


def assert_gradient_close(computed, expected, rtol=1e-5, atol=1e-6):
    """Compare a gradient with its finite-difference estimate."""
    assert np.shape(computed) == np.shape(expected), (
        f'gradient shape {np.shape(computed)} != expected {np.shape(expected)}')
    np.testing.assert_allclose(computed, expected, rtol=rtol, atol=atol)


def autograd_gradient(function, args, position):
    """autograd's gradient of `function(*args)` w.r.t. one argument, or None.

    The function runs again with autograd.numpy as its `np`. None means
    autograd is not installed or cannot differentiate the function (it
    calls `math`, writes into an array, or uses a function autograd lacks).
    """
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        return None
    code = getattr(function, '__code__', None)
    if code is None or 'np' not in code.co_names:
        return None
    rebound = types.FunctionType(code, {**function.__globals__, 'np': anp},
                                 function.__name__, function.__defaults__,
                                 function.__closure__)
    try:
        with warnings.catch_warnings():
            # autograd warns when a write into an array hides the input from
            # it. The zero gradient it then returns is not used, because it
            # disagrees with finite differences.
            warnings.simplefilter('ignore', UserWarning)
            return autograd.grad(rebound, position)(*args)
    except Exception:            # a limit of autograd, not a failure of ours
        return None


def assert_matches_autograd(function, args, position, computed, estimate,
                            rtol=1e-7, atol=1e-9):
    """Compare a gradient with autograd's, a reference more precise than
    the finite-difference `estimate`, wherever autograd computes one.

    autograd's gradient counts only where it agrees with the estimate:
    it returns wrong shapes or NaN for some broadcasting cases and
    removable singularities (sinc at 0), and uses other conventions for
    structured matrices (a symmetric gradient for cholesky).
    """
    expected = autograd_gradient(function, args, position)
    if expected is None or np.shape(expected) != np.shape(estimate):
        return
    if not np.allclose(expected, estimate, rtol=1e-4, atol=1e-5):
        return
    scale = 1.0 + np.max(np.abs(expected), initial=0.0)
    np.testing.assert_allclose(computed, expected, rtol=rtol, atol=atol * scale,
                               err_msg=f'{function.__name__} disagrees with autograd')
