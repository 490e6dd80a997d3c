"""Central finite differences, the reference every gradient test compares to."""

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
