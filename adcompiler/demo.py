"""The example that `adcompiler demo` runs: the gradient of Rosenbrock's function."""

import inspect

import numpy as np


def rosen(x):
    """Rosenbrock's function in plain NumPy, as scipy documents it."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0)


def rosen_derivative(x):
    """The gradient of `rosen`, derived by hand, to check the generated one."""
    xm, xm_m1, xm_p1 = x[1:-1], x[:-2], x[2:]
    der = np.zeros_like(x)
    der[1:-1] = (200 * (xm - xm_m1 ** 2) - 400 * (xm_p1 - xm ** 2) * xm
                 - 2 * (1 - xm))
    der[0] = -400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0])
    der[-1] = 200 * (x[-1] - x[-2] ** 2)
    return der


def run(grad, out):
    """Print the function, its generated gradient code, and the gradient."""
    drosen = grad(rosen)
    x = np.array([1.3, 0.7, 0.8, 1.9, 1.2])
    gradient = drosen(x)
    expected = rosen_derivative(x)
    error = np.max(np.abs(gradient - expected)) / np.max(np.abs(expected))
    out.write('# The function:\n\n' + inspect.getsource(rosen) + '\n')
    out.write('# The code adcompiler generates for its gradient:\n\n')
    out.write(drosen.source + '\n')
    with np.printoptions(precision=6, suppress=True):
        out.write(f'# At x = {x}:\n')
        out.write(f'#   rosen(x)       = {rosen(x):.6f}\n')
        out.write(f'#   grad(rosen)(x) = {gradient}\n')
        out.write(f'#   hand-derived   = {expected}\n')
    out.write(f'#   relative error = {error:.1e}\n')
    return 0 if error < 1e-12 else 1
