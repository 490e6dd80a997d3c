"""The type of a derivative with respect to a scalar argument.

A Python float argument gets a Python float, a NumPy float scalar a NumPy
scalar of its type, and a 0-d array a 0-d array. This holds for grad,
value_and_grad, vjp, jacobian, hessian and hvp, whatever the function
computes (Python arithmetic, `np.sin`, `y ** x`). The jvp tangent of a
Python float output is a Python float.
"""

import numpy as np
import pytest

import adcompiler
from finite_differences import numerical_gradient


def raised(x, y):
    return x ** y


def sine_product(x, y):
    return np.sin(x) * x * y


def product(x, y):
    return x * x * y


FUNCTIONS = [raised, sine_product, product]

KINDS = {
    'float': (float, float),
    'float64': (np.float64, np.float64),
    'float32': (np.float32, np.float32),
    '0-d array': (np.array, np.ndarray),
}


def _derivatives(function, wrt, x, y):
    """Return (transform name, first or second derivative) pairs."""
    pairs = [
        ('grad', adcompiler.grad(function, wrt=wrt)(x, y)),
        ('value_and_grad',
         adcompiler.value_and_grad(function, wrt=wrt)(x, y)[1]),
        ('vjp', adcompiler.vjp(function, x, y)[1](1.0)[wrt]),
        ('jacobian reverse', adcompiler.jacobian(function, wrt=wrt)(x, y)),
        ('jacobian forward',
         adcompiler.jacobian(function, wrt=wrt, mode='forward')(x, y)),
    ]
    # The second and later calls take the fast path of
    # GradientFunction.__call__.
    gradient = adcompiler.grad(function, wrt=wrt)
    for _ in range(3):
        pairs.append(('grad again', gradient(x, y)))
    for mode in adcompiler.Composition:
        pairs.append((f'hessian {mode.value}', adcompiler.hessian(
            function, wrt=wrt, mode=mode.value)(x, y)))
        pairs.append((f'hvp {mode.value}', adcompiler.hvp(
            function, wrt=wrt, mode=mode.value)(x, y, 1.0)))
    pairs.append(('grad of grad', adcompiler.grad(
        adcompiler.grad(function, wrt=wrt), wrt=wrt)(x, y)))
    return pairs


@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize('wrt', [0, 1])
@pytest.mark.parametrize('kind', list(KINDS))
def test_scalar_derivative_type(function, wrt, kind):
    make, expected_type = KINDS[kind]
    x, y = make(1.5), make(2.5)
    for transform, derivative in _derivatives(function, wrt, x, y):
        assert type(derivative) is expected_type, transform
        if expected_type is np.ndarray:
            assert derivative.shape == (), transform
        else:
            assert np.dtype(type(derivative)) == np.dtype(expected_type), \
                transform


@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize('wrt', [0, 1])
def test_float_gradient_values(function, wrt):
    gradient = adcompiler.grad(function, wrt=wrt)(1.5, 2.5)
    expected = numerical_gradient(function, (1.5, 2.5), wrt)
    assert gradient == pytest.approx(float(expected), rel=1e-6)
    second = adcompiler.hessian(function, wrt=wrt)(1.5, 2.5)
    expected_second = numerical_gradient(
        lambda *args: adcompiler.grad(function, wrt=wrt)(*args), (1.5, 2.5),
        wrt)
    assert second == pytest.approx(float(expected_second), rel=1e-5)


def test_zero_second_derivative_keeps_numpy_type():
    # `product` is linear in y, so the adjoint returns no second derivative
    # and the result is a built zero.
    y = np.float64(2.5)
    second = adcompiler.hessian(product, wrt=1)(np.float64(1.5), y)
    assert type(second) is np.float64
    assert second == 0.0


def test_float_leaf_of_container_gets_float():
    def loss(params):
        return params['a'] ** 2 * np.sin(params['b'])

    gradient = adcompiler.grad(loss)({'a': 2.0, 'b': 1.0})
    assert type(gradient['a']) is float
    assert type(gradient['b']) is float
    assert gradient['b'] == pytest.approx(4.0 * np.cos(1.0))


def test_jvp_tangent_has_output_type():
    value, tangent = adcompiler.jvp(raised, (1.5, 2.5), (1.0, 0.0))
    assert type(value) is float
    assert type(tangent) is float
    assert tangent == pytest.approx(2.5 * 1.5 ** 1.5)
    value, tangent = adcompiler.jvp(sine_product, (1.5, 2.5), (1.0, 0.0))
    assert type(value) is np.float64
    assert type(tangent) is np.float64
