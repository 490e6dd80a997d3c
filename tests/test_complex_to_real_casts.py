"""Derivatives where NumPy casts a complex value to a real dtype.

NumPy keeps the real part (with a ComplexWarning) when a complex value
becomes real: through a reduction's dtype=, np.asarray(..., dtype=float),
a store into a float array, float() and np.float64(). Each case is checked
in reverse mode, forward mode and jacobian(mode='forward') against central
differences along the real and imaginary parts of the complex input, and
the real-input cases against plain central differences.
"""

import warnings

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient
from test_rules import complex_sample, sample

COMPLEX_WARNING = getattr(np, 'exceptions', np).ComplexWarning


@pytest.fixture(autouse=True)
def _ignore_complex_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', COMPLEX_WARNING)
        yield


def complex_difference_gradient(function, z, w):
    """Return df/dRe - 1j df/dIm of real `function(z, w)` by central
    differences, the convention of adcompiler's complex gradients."""
    real, imag = np.real(z), np.imag(z)
    along_real = numerical_gradient(
        lambda x: function(x + 1j * imag, w), (real,), 0)
    along_imag = numerical_gradient(
        lambda y: function(real + 1j * y, w), (imag,), 0)
    return along_real - 1j * along_imag


def directional_difference(function, z, w, v, step=1e-6):
    """Return the central difference of `function(z, w)` along v."""
    return (function(z + step * v, w) - function(z - step * v, w)) / (
        2 * step)


def check_complex_input(function, z, w):
    """Check grad, jvp and jacobian(mode='forward') of a real function of a
    complex z against central differences."""
    expected = complex_difference_gradient(function, z, w)

    gradient = adcompiler.grad(function)(z, w)
    assert_gradient_close(np.asarray(gradient) + 0j, expected)

    forward = adcompiler.jacobian(function, mode='forward')(z, w)
    assert_gradient_close(np.asarray(forward) + 0j, expected)

    direction = complex_sample(np.shape(z), seed=7)
    _, tangent = adcompiler.jvp(function, (z, w), (direction, None))
    assert not np.iscomplexobj(tangent)
    assert tangent == pytest.approx(
        directional_difference(function, z, w, direction), abs=1e-6)


def check_real_input(function, x, w):
    """Check grad and jvp of a real function of a real x."""
    expected = numerical_gradient(function, (x, w), 0)
    assert_gradient_close(adcompiler.grad(function)(x, w), expected)

    direction = sample(np.shape(x), seed=7)
    _, tangent = adcompiler.jvp(function, (x, w), (direction, None))
    assert not np.iscomplexobj(tangent)
    assert tangent == pytest.approx(float(np.sum(expected * direction)),
                                    abs=1e-6)


# Reductions with a real dtype: ans = f(z, axis, dtype=np.float64) --------
# z has shape (2, 3); w broadcasts against the result.

def prod_dtype(z, w):
    return np.sum(w * np.prod(z, axis=1, dtype=np.float64))


def prod_dtype_all(z, w):
    return w * np.prod(z, dtype=np.float64)


def method_prod_dtype(z, w):
    return np.sum(w * z.prod(axis=0, dtype=np.float64))


def nanprod_dtype(z, w):
    return np.sum(w * np.nanprod(z, axis=1, dtype=np.float64))


def cumprod_dtype(z, w):
    return np.sum(w * np.cumprod(z, axis=1, dtype=np.float64))


def method_cumprod_dtype(z, w):
    return np.sum(w * z.cumprod(axis=0, dtype=np.float64))


def nancumprod_dtype(z, w):
    return np.sum(w * np.nancumprod(z, axis=0, dtype=np.float64))


def multiply_reduce_dtype(z, w):
    return np.sum(w * np.multiply.reduce(z, axis=1, dtype=np.float64))


def multiply_accumulate_dtype(z, w):
    return np.sum(w * np.multiply.accumulate(z, axis=1, dtype=np.float64))


def var_dtype(z, w):
    return np.sum(w * np.var(z, axis=1, dtype=np.float64))


def var_dtype_ddof(z, w):
    return w * np.var(z, dtype=np.float64, ddof=1)


def var_dtype_where(z, w):
    selected = np.array([[True, False, True], [True, True, True]])
    return np.sum(w * np.var(z, axis=1, dtype=np.float64, where=selected))


def method_var_dtype(z, w):
    return np.sum(w * z.var(axis=0, dtype=np.float64))


def std_dtype(z, w):
    return np.sum(w * np.std(z, axis=0, dtype=np.float64, keepdims=True))


def method_std_dtype(z, w):
    return np.sum(w * z.std(axis=1, dtype=np.float64))


def nanvar_dtype(z, w):
    return np.sum(w * np.nanvar(z, axis=1, dtype=np.float64))


def nanstd_dtype(z, w):
    return np.sum(w * np.nanstd(z, axis=0, dtype=np.float64))


def einsum_dtype(z, w):
    return np.sum(w * np.einsum('ij,ij->i', z, z, dtype=np.float64,
                                casting='unsafe'))


def sum_dtype(z, w):
    return np.sum(w * np.sum(z * (1.0 + 2.0j), axis=1, dtype=np.float64))


def mean_dtype(z, w):
    return np.sum(w * np.mean(z * (1.0 + 2.0j), axis=0, dtype=np.float64))


def add_reduce_dtype(z, w):
    return np.sum(w * np.add.reduce(z * (1.0 + 2.0j), axis=1,
                                    dtype=np.float64))


def add_accumulate_dtype(z, w):
    return np.sum(w * np.add.accumulate(z * (1.0 + 2.0j), axis=1,
                                        dtype=np.float64))


REDUCTIONS = [prod_dtype, prod_dtype_all, method_prod_dtype, nanprod_dtype,
              cumprod_dtype, method_cumprod_dtype, nancumprod_dtype,
              multiply_reduce_dtype, multiply_accumulate_dtype, var_dtype,
              var_dtype_ddof, var_dtype_where, method_var_dtype, std_dtype,
              method_std_dtype, nanvar_dtype, nanstd_dtype, einsum_dtype,
              sum_dtype, mean_dtype, add_reduce_dtype, add_accumulate_dtype]


@pytest.mark.parametrize('function', REDUCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize('weight', [1.3, 'broadcast'])
def test_reduction_real_dtype(function, weight):
    z = complex_sample((2, 3))
    if weight == 'broadcast':
        shape = np.shape(function(z, 1.0))
        weight = sample(shape, 0.5, 1.5, seed=3) if shape else 0.7
    check_complex_input(function, z, weight)


def test_prod_real_dtype_gradient():
    z = np.array([1.7 - 0.1j, -1.9 - 1.8j])
    gradient = adcompiler.grad(lambda z: np.prod(z, dtype=np.float64))(z)
    np.testing.assert_allclose(gradient, [-1.9, 1.7])


def test_cumulative_prod_real_dtype():
    if not hasattr(np, 'cumulative_prod'):
        pytest.skip('np.cumulative_prod needs NumPy 2.1')

    def function(z, w):
        return np.sum(w * np.cumulative_prod(z, axis=1, dtype=np.float64))

    check_complex_input(function, complex_sample((2, 3)), 1.0)


# Real inputs whose values are complex inside the function ----------------

def prod_of_spectrum(t, w):
    return w * np.prod(np.fft.fft(t), dtype=np.float64)


def var_of_rotation(t, w):
    return w * np.var(t * np.exp(1j * t), dtype=np.float64)


def std_of_rotation(t, w):
    return w * np.std(t * np.exp(1j * t), dtype=np.float64, ddof=1)


def store_spectrum(t, w):
    a = np.zeros(np.shape(t))
    a[:] = np.fft.fft(t)
    return np.sum(w * a ** 2)


@pytest.mark.parametrize('function', [prod_of_spectrum, var_of_rotation,
                                      std_of_rotation, store_spectrum],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('shape', [(3,), (4,)])
def test_real_input_complex_inside(function, shape):
    check_real_input(function, sample(shape), 1.3)


def test_store_spectrum_hessian_modes():
    t = sample((3,))
    expected = adcompiler.hessian(store_spectrum)(t, 1.0)
    for mode in ('reverse-over-forward', 'reverse-over-reverse'):
        np.testing.assert_allclose(
            adcompiler.hessian(store_spectrum, mode=mode)(t, 1.0), expected,
            rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('mode', [None, 'reverse-over-forward',
                                  'reverse-over-reverse'])
def test_real_dtype_hessian_modes(mode):
    def function(t, w):
        return w * np.prod(np.fft.fft(t), dtype=np.float64)

    def explicit(t, w):
        return w * np.prod(np.real(np.fft.fft(t)))

    def gradient_entry(t, i):
        return adcompiler.grad(explicit)(t, 1.0)[i]

    t = sample((3,))
    expected = np.array([numerical_gradient(gradient_entry, (t, i), 0)
                         for i in range(3)])
    hessian = adcompiler.hessian(function, mode=mode)(t, 1.0)
    assert not np.iscomplexobj(hessian)
    np.testing.assert_allclose(hessian, expected, rtol=1e-5, atol=1e-5)


# Conversions and stores into real arrays: the tangent is real -------------
# z has shape (2,); w has the shape of the real result.

def asarray_float(z, w):
    return np.sum(w * np.asarray(z * (1.0 + 2.0j), dtype=float))


def array_float64(z, w):
    return np.sum(w * np.array(z * (1.0 + 2.0j), dtype=np.float64))


def array_of_items(z, w):
    return np.sum(w * np.array([z[0] * 1j, z[1]], dtype=float))


def full_float(z, w):
    return np.sum(w * np.full(2, z[0] * (1.0 - 1.0j), dtype=float))


def store_slice(z, w):
    a = np.zeros(2)
    a[:] = z * (1.0 + 2.0j)
    return np.sum(w * a)


def store_item(z, w):
    a = np.ones(2)
    a[1] = z[0] * (2.0 - 1.0j)
    return np.sum(w * a)


def store_mask(z, w):
    a = np.zeros(2)
    a[np.array([True, False])] = z[1:] * 1j
    return np.sum(w * a)


def store_put(z, w):
    a = np.zeros(2)
    np.put(a, [1, 0], z * (1.0 + 2.0j))
    return np.sum(w * a)


def store_fill_diagonal(z, w):
    a = np.zeros((2, 2))
    np.fill_diagonal(a, z * (1.0 + 2.0j))
    return np.sum(w * a)


def builtin_float(z, w):
    return w * float(z[0] * (1.0 + 2.0j)) + w * float(z[1])


def numpy_float64(z, w):
    return w * np.float64(z[1] * (1.0 + 2.0j))


CONVERSIONS = [asarray_float, array_float64, array_of_items, full_float,
               store_slice, store_item, store_mask, store_put,
               store_fill_diagonal, builtin_float, numpy_float64]


@pytest.mark.parametrize('function', CONVERSIONS, ids=lambda f: f.__name__)
def test_conversion_to_real(function):
    z = complex_sample((2,))
    shape = np.shape(function(z, 1.0))
    weight = sample(shape, 0.5, 1.5, seed=3) if shape else 0.7
    check_complex_input(function, z, weight)
