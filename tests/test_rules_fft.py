"""The numpy.fft rules, checked against central finite differences.

A transform's output is complex, so each function mixes its real and
imaginary parts with fixed weights before the random weight `w`. Complex
inputs are checked along their real and imaginary parts with
`check_complex_grads`, under JAX's convention.
"""

import numpy as np
import pytest

from test_rules import check_complex_grads, check_grads, complex_sample
from test_rules import sample


def mix(y):
    """Return a real, linear view of a complex array that keeps both parts."""
    return np.real(y) - 0.7 * np.imag(y)


def fft(x, w):
    return np.sum(w * mix(np.fft.fft(x)))


def fft_padded(x, w):
    return np.sum(w * mix(np.fft.fft(x, 7)))


def fft_cropped_axis0(x, w):
    return np.sum(w * mix(np.fft.fft(x, n=2, axis=0)))


def fft_ortho(x, w):
    return np.sum(w * mix(np.fft.fft(x, norm='ortho')))


def ifft(x, w):
    return np.sum(w * mix(np.fft.ifft(x)))


def ifft_padded_forward(x, w):
    return np.sum(w * mix(np.fft.ifft(x, 6, norm='forward')))


def fft2(x, w):
    return np.sum(w * mix(np.fft.fft2(x)))


def fft2_lengths(x, w):
    return np.sum(w * mix(np.fft.fft2(x, s=(3, 5))))


def ifft2_axes(x, w):
    return np.sum(w * mix(np.fft.ifft2(x, axes=(0, -1), norm='ortho')))


def fftn(x, w):
    return np.sum(w * mix(np.fft.fftn(x)))


def fftn_axes_lengths(x, w):
    return np.sum(w * mix(np.fft.fftn(x, s=(4, 2), axes=(2, 0))))


def ifftn(x, w):
    return np.sum(w * mix(np.fft.ifftn(x, axes=(1,))))


def rfft(x, w):
    return np.sum(w * mix(np.fft.rfft(x)))


def rfft_padded(x, w):
    return np.sum(w * mix(np.fft.rfft(x, 7)))


def rfft_cropped_ortho(x, w):
    return np.sum(w * mix(np.fft.rfft(x, n=2, axis=0, norm='ortho')))


def irfft(x, w):
    return np.sum(w * np.fft.irfft(x))


def irfft_odd(x, w):
    return np.sum(w * np.fft.irfft(x, 5))


def irfft_long_axis0(x, w):
    return np.sum(w * np.fft.irfft(x, n=8, axis=0, norm='forward'))


def rfft2(x, w):
    return np.sum(w * mix(np.fft.rfft2(x)))


def irfft2(x, w):
    return np.sum(w * np.fft.irfft2(x))


def rfftn(x, w):
    return np.sum(w * mix(np.fft.rfftn(x, s=(3, 5), axes=(0, 2))))


def irfftn(x, w):
    return np.sum(w * np.fft.irfftn(x, norm='ortho'))


def irfftn_lengths(x, w):
    return np.sum(w * np.fft.irfftn(x, s=(2, 3), axes=(2, 1)))


def fftshift(x, w):
    return np.sum(w * np.fft.fftshift(x))


def ifftshift_axes(x, w):
    return np.sum(w * np.fft.ifftshift(x, axes=(0,)))


def frequencies(x, w):
    scale = np.fft.fftfreq(4)[1] + np.fft.rfftfreq(4)[1]
    return np.sum(w * x * scale)


# (function, shape of a real input)
REAL_INPUT_CASES = [
    (fft, (5,)), (fft, (2, 4)), (fft_padded, (5,)),
    (fft_cropped_axis0, (3, 4)), (fft_ortho, (4,)),
    (ifft, (5,)), (ifft_padded_forward, (2, 4)),
    (fft2, (3, 4)), (fft2_lengths, (2, 4)), (ifft2_axes, (3, 2, 4)),
    (fftn, (2, 3, 4)), (fftn_axes_lengths, (3, 2, 3)), (ifftn, (2, 3)),
    (rfft, (6,)), (rfft, (5,)), (rfft, (2, 4)), (rfft_padded, (4,)),
    (rfft_cropped_ortho, (3, 2)),
    (irfft, (4,)), (irfft_odd, (3,)), (irfft_long_axis0, (3, 2)),
    (rfft2, (3, 4)), (rfft2, (2, 3, 5)), (irfft2, (3, 4)),
    (rfftn, (2, 3, 4)), (irfftn, (2, 3, 4)), (irfftn_lengths, (2, 3, 4)),
    (fftshift, (5,)), (fftshift, (2, 3)), (ifftshift_axes, (3, 4)),
    (frequencies, (4,)),
]


@pytest.mark.parametrize(
    'function, shape', REAL_INPUT_CASES,
    ids=[f'{f.__name__}-{"x".join(map(str, s))}' for f, s in REAL_INPUT_CASES])
def test_real_input(function, shape):
    gradient = check_grads(function, sample(shape))[0]
    assert not np.iscomplexobj(gradient)


def c_fft(z, w):
    return np.sum(w * np.abs(np.fft.fft(z, 6)))


def c_ifft2(z, w):
    return np.sum(w * mix(np.fft.ifft2(z, s=(2, 4)) ** 2))


def c_fftn(z, w):
    return np.sum(w * np.abs(np.fft.fftn(z, norm='ortho')))


def c_irfft(z, w):
    return np.sum(w * np.fft.irfft(z) ** 2)


def c_irfft_odd_cropped(z, w):
    return np.sum(w * np.fft.irfft(z, 3))


def c_irfft2(z, w):
    return np.sum(w * np.fft.irfft2(z, s=(3, 6)))


def c_irfftn(z, w):
    return np.sum(w * np.fft.irfftn(z, norm='forward') ** 2)


def c_fftshift(z, w):
    return np.sum(w * np.abs(np.fft.fftshift(z) * np.arange(4.0)))


# (function, shape of a complex input)
COMPLEX_INPUT_CASES = [
    (c_fft, (4,)), (c_ifft2, (3, 4)), (c_fftn, (2, 3, 2)), (c_irfft, (4,)),
    (c_irfft, (2, 5)), (c_irfft_odd_cropped, (4,)), (c_irfft2, (3, 3)),
    (c_irfftn, (2, 2, 3)), (c_fftshift, (4,)),
]


@pytest.mark.parametrize(
    'function, shape', COMPLEX_INPUT_CASES,
    ids=[f'{f.__name__}-{"x".join(map(str, s))}'
         for f, s in COMPLEX_INPUT_CASES])
def test_complex_input(function, shape):
    check_complex_grads(function, complex_sample(shape))


# Coverage --------------------------------------------------------------------

COVERED_CALLEES = {
    np.fft.fft, np.fft.ifft, np.fft.fft2, np.fft.ifft2, np.fft.fftn,
    np.fft.ifftn, np.fft.rfft, np.fft.irfft, np.fft.rfft2, np.fft.irfft2,
    np.fft.rfftn, np.fft.irfftn, np.fft.fftshift, np.fft.ifftshift,
    np.fft.fftfreq, np.fft.rfftfreq,
}
COVERED_METHODS = set()
COVERED_ATTRIBUTES = set()
