"""Central finite differences, the reference every gradient test compares to."""

import copy
import dataclasses
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


def check_gradient_and_tangent(function, x, rng, calls=3):
    """Check grad of `function` at the array `x` against central finite
    differences on `calls` calls (the later ones run the code compiled for
    the argument's shape), and jvp along a random direction from `rng`."""
    import adcompiler
    expected = numerical_gradient(function, (x,), 0)
    for _ in range(calls):
        assert_gradient_close(adcompiler.grad(function)(x), expected)
    v = rng.normal(size=x.shape)
    _, tangent = adcompiler.jvp(function, (x,), (v,))
    np.testing.assert_allclose(tangent, np.sum(expected * v), rtol=1e-5,
                               atol=1e-6)


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
            # autograd warns when a write into an array hides the input, or
            # when it divides by zero (prod with zeros, sinc at 0). Such a
            # gradient is not used, because it disagrees with finite
            # differences.
            warnings.simplefilter('ignore')
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


# Containers --------------------------------------------------------------------
#
# Written independently of adcompiler.containers, so that the tests do not
# take structures apart with the code they check. A path is a tuple of
# steps; a step is ('item', key) for dicts, lists and tuples, or
# ('attr', name) for dataclasses and other objects.

def leaf_paths(tree, path=()):
    """Yield the path of every leaf of a nested container."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaf_paths(value, path + (('item', key),))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            yield from leaf_paths(value, path + (('item', index),))
    elif dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        for field in dataclasses.fields(tree):
            yield from leaf_paths(getattr(tree, field.name),
                                  path + (('attr', field.name),))
    elif hasattr(tree, '__dict__') and not callable(tree):
        for name, value in vars(tree).items():
            yield from leaf_paths(value, path + (('attr', name),))
    else:
        yield path


def get_path(tree, path):
    for kind, key in path:
        tree = tree[key] if kind == 'item' else getattr(tree, key)
    return tree


def replace_path(tree, path, value):
    """Return a copy of `tree` with the leaf at `path` replaced."""
    if not path:
        return value
    (_, key), rest = path[0], path[1:]
    child = replace_path(get_path(tree, path[:1]), rest, value)
    if isinstance(tree, dict):
        return {**tree, key: child}
    if isinstance(tree, list):
        return [child if i == key else v for i, v in enumerate(tree)]
    if isinstance(tree, tuple) and hasattr(tree, '_fields'):
        return tree._replace(**{tree._fields[key]: child})
    if isinstance(tree, tuple):
        return tuple(child if i == key else v for i, v in enumerate(tree))
    if dataclasses.is_dataclass(tree):
        return dataclasses.replace(tree, **{key: child})
    new = copy.copy(tree)
    object.__setattr__(new, key, child)
    return new


def is_float_leaf(value):
    return (isinstance(value, (float, np.floating)) or (
        isinstance(value, np.ndarray) and value.dtype.kind == 'f'))


def numerical_leaf_gradients(function, args, position, step=1e-6):
    """Central differences of scalar `function(*args)` with respect to each
    float leaf of the container `args[position]`: a list of (path, gradient)."""
    tree = args[position]
    results = []
    for path in leaf_paths(tree):
        leaf = get_path(tree, path)
        if not is_float_leaf(leaf):
            continue

        def of_leaf(new_leaf, path=path):
            moved = list(args)
            moved[position] = replace_path(tree, path, new_leaf)
            return function(*moved)

        results.append((path, numerical_gradient(of_leaf, (leaf,), 0, step)))
    return results


def assert_container_gradient_close(function, args, position, gradient,
                                    constants_are_none=True):
    """Check every float leaf of a container gradient against central
    differences, and that the other leaves got None.

    Pass `constants_are_none=False` for a registered class that keeps such
    values in its aux data.
    """
    assert type(gradient) is type(args[position])
    for path, expected in numerical_leaf_gradients(function, args, position):
        assert_gradient_close(get_path(gradient, path), expected)
    if not constants_are_none:
        return
    for path in leaf_paths(args[position]):
        if not is_float_leaf(get_path(args[position], path)):
            assert get_path(gradient, path) is None, path
