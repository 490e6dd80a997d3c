"""jacobian of complex outputs and of int or bool outputs, in both modes.

Expected Jacobians are central finite differences, taken on the real and
imaginary parts of the output separately.
"""

import numpy as np
import pytest

import adcompiler
from adcompiler.api import InvalidArgumentError
from finite_differences import numerical_gradient

MODES = ['forward', 'reverse']


def rotate_scale(x):
    return np.exp(1j * x) * x


def complex_polynomial(x):
    return (x + 2j) ** 2 * np.sin(x)


def outer_phase(x):
    return np.outer(np.exp(1j * x), x)


def complex_total(x):
    return np.sum(np.exp(1j * x) * x ** 2)


def complex_square(z):
    return z ** 2


def complex_exponential(z):
    return np.exp(z) * z


def conjugate_twice(z):
    return np.conj(z) * 2.0


def real_part_product(z):
    return np.real(z) * z


def numerical_jacobian(function, x):
    """Central differences of a complex output of a real argument x."""
    x = np.asarray(x, dtype=float)
    out_shape = np.shape(function(x))
    jacobian = np.zeros(out_shape + x.shape, dtype=complex)
    for index in np.ndindex(out_shape):
        def real_entry(y, index=index):
            return np.real(function(y)[index])

        def imaginary_entry(y, index=index):
            return np.imag(function(y)[index])
        jacobian[index] = (numerical_gradient(real_entry, [x], 0)
                           + 1j * numerical_gradient(imaginary_entry, [x], 0))
    return jacobian


def numerical_complex_derivative(function, z):
    """Central differences of a holomorphic elementwise function along
    the real direction, which is its complex derivative."""
    step = 1e-6
    return (function(z + step) - function(z - step)) / (2 * step)


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('function, shape', [
    (rotate_scale, (2,)), (rotate_scale, (3,)), (rotate_scale, (2, 2)),
    (complex_polynomial, (3,)), (complex_polynomial, (2, 2)),
    (outer_phase, (2,)), (outer_phase, (3,)),
])
def test_complex_output_real_input(function, shape, mode):
    x = np.random.default_rng(3).uniform(-1.0, 1.0, size=shape)
    jacobian = adcompiler.jacobian(function, mode=mode)(x)
    expected = numerical_jacobian(function, x)
    assert jacobian.shape == expected.shape
    assert np.iscomplexobj(jacobian)
    np.testing.assert_allclose(jacobian, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize('mode', MODES)
def test_complex_scalar_output_real_input(mode):
    x = np.array([0.3, -0.7, 1.1])
    jacobian = adcompiler.jacobian(complex_total, mode=mode)(x)
    expected = numerical_jacobian(lambda y: complex_total(y)[()], x)
    np.testing.assert_allclose(jacobian, expected, rtol=1e-6, atol=1e-8)

    scalar = adcompiler.jacobian(rotate_scale, mode=mode)(0.3)
    expected_scalar = np.exp(0.3j) * (1 + 0.3j)
    np.testing.assert_allclose(scalar, expected_scalar, rtol=1e-12)


@pytest.mark.parametrize('function', [complex_square, complex_exponential])
@pytest.mark.parametrize('shape', [(2,), (2, 3)])
def test_holomorphic_reverse_jacobian(function, shape):
    rng = np.random.default_rng(4)
    z = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    jacobian = adcompiler.jacobian(function, mode='reverse')(z)
    derivative = numerical_complex_derivative(function, z)
    expected = np.diag(derivative.ravel()).reshape(shape + shape)
    np.testing.assert_allclose(jacobian, expected, rtol=1e-6, atol=1e-8)

    along_imaginary = (function(z + 1e-6j) - function(z - 1e-6j)) / 2e-6j
    np.testing.assert_allclose(derivative, along_imaginary, rtol=1e-6)


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('function', [conjugate_twice, real_part_product])
def test_non_holomorphic_jacobian_raises(function, mode):
    z = np.array([0.3 + 0.4j, -0.7 + 0.1j])
    with pytest.raises(InvalidArgumentError, match='complex output'):
        adcompiler.jacobian(function, mode=mode)(z)


def argmax_output(x):
    return np.argmax(x)


def positive_mask(x):
    return x > 0


def int_count(x):
    return int(np.sum(x > 0))


def mixed_outputs(x):
    return np.sin(x), np.argsort(x)


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('shape', [(2,), (3, 2)])
@pytest.mark.parametrize('function', [argmax_output, positive_mask,
                                      int_count])
def test_int_output_jacobian_zeros(function, shape, mode):
    x = np.random.default_rng(5).normal(size=shape)
    jacobian = adcompiler.jacobian(function, mode=mode)(x)
    expected_shape = np.shape(function(x)) + shape
    assert isinstance(jacobian, np.ndarray)
    assert jacobian.shape == expected_shape
    assert jacobian.dtype == np.float64
    assert not np.any(jacobian)


@pytest.mark.parametrize('mode', MODES)
def test_mixed_int_output_jacobian(mode):
    x = np.array([0.3, -0.7, 1.1])
    sine_block, order_block = adcompiler.jacobian(mixed_outputs, mode=mode)(x)
    np.testing.assert_allclose(sine_block, np.diag(np.cos(x)), rtol=1e-12)
    assert order_block.shape == (3, 3)
    assert not np.any(order_block)
