"""Compiling emits no warning of its own.

Under warnings as errors (`python -W error`, pytest's
`filterwarnings = error`) a warning that adcompiler triggers while it
compiles becomes an InternalCompilerError. NumPy 2 warns when the names
`np.str`, `np.bytes` and `np.object` are read, and NumPy 2 also warns for
`np.core`. Those names are also names of builtins and of users' methods.
"""

import warnings

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def printed_in_block(x):
    with np.printoptions(precision=3):
        text = str(x)
    return np.sum(x * x) + 0.0 * len(text)


def builtins_named_as_numpy(x):
    marker = object()
    raw = bytes(3)
    label = str(len(raw))
    return np.sum(x * x) * (marker is not None) + 0.0 * len(label)


class Model:
    """An object whose method names NumPy reads with a warning."""

    def core(self, x):
        return x * 2.0

    def str(self, x):
        return x * 3.0


MODEL = Model()


def methods_named_as_numpy(x, model):
    return np.sum(model.core(x) * model.str(x))


def global_methods_named_as_numpy(x):
    return np.sum(MODEL.core(x) * MODEL.str(x))


CASES = [
    (printed_in_block, ()),
    (builtins_named_as_numpy, ()),
    (methods_named_as_numpy, (MODEL,)),
    (global_methods_named_as_numpy, ()),
]


@pytest.mark.parametrize('function, rest', CASES,
                         ids=[f.__name__ for f, _ in CASES])
def test_grad_emits_no_warning(function, rest):
    x = np.array([0.3, -0.7, 1.2])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        gradient = adcompiler.grad(function)(x, *rest)
        _, tangent = adcompiler.jvp(function, (x,) + rest,
                                    (np.ones(3),) + (None,) * len(rest))
    expected = numerical_gradient(function, (x,) + rest, 0)
    assert_gradient_close(gradient, expected)
    np.testing.assert_allclose(tangent, np.sum(expected), rtol=1e-6)
