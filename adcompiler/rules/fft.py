"""Reverse rules for numpy.fft.

Letters: `ans = f(a, ...)`, `g` is the adjoint of `ans`, `d[a]` the adjoint
of `a`. Transforms are linear, so each adjoint is the transpose of the
transform under the complex convention of `adcompiler.rules.numpy`: fft for
fft and ifft for ifft (the DFT matrix is symmetric), with the same norm,
and the crop or zero-padding of n= and s= undone. A real input receives the
real part. The `out=` argument is not accepted.
"""

import numpy as np

from adcompiler.rules.registry import REGISTRY

vjp = REGISTRY.vjp


# Complex transforms: ans = f(a, n, axis, norm) or f(a, s, axes, norm).
vjp(np.fft.fft,       lambda a, n=None, axis=-1, norm=None: ad.fft_adjoint(g, a, n, axis, norm))
vjp(np.fft.ifft,      lambda a, n=None, axis=-1, norm=None: ad.fft_adjoint(g, a, n, axis, norm, inverse=True))
vjp(np.fft.fft2,      lambda a, s=None, axes=(-2, -1), norm=None: ad.fftn_adjoint(g, a, s, axes, norm))
vjp(np.fft.ifft2,     lambda a, s=None, axes=(-2, -1), norm=None: ad.fftn_adjoint(g, a, s, axes, norm, inverse=True))
vjp(np.fft.fftn,      lambda a, s=None, axes=None, norm=None: ad.fftn_adjoint(g, a, s, axes, norm))
vjp(np.fft.ifftn,     lambda a, s=None, axes=None, norm=None: ad.fftn_adjoint(g, a, s, axes, norm, inverse=True))

# Real transforms: rfft* take real input, irfft* return real output.
vjp(np.fft.rfft,      lambda a, n=None, axis=-1, norm=None: ad.rfft_adjoint(g, a, n, axis, norm))
vjp(np.fft.irfft,     lambda a, n=None, axis=-1, norm=None: ad.irfft_adjoint(g, a, n, axis, norm))
vjp(np.fft.rfft2,     lambda a, s=None, axes=(-2, -1), norm=None: ad.rfftn_adjoint(g, a, s, axes, norm))
vjp(np.fft.irfft2,    lambda a, s=None, axes=(-2, -1), norm=None: ad.irfftn_adjoint(g, a, s, axes, norm))
vjp(np.fft.rfftn,     lambda a, s=None, axes=None, norm=None: ad.rfftn_adjoint(g, a, s, axes, norm))
vjp(np.fft.irfftn,    lambda a, s=None, axes=None, norm=None: ad.irfftn_adjoint(g, a, s, axes, norm))

# Shifts are permutations: ans = f(x, axes).
vjp(np.fft.fftshift,  lambda x, axes=None: np.fft.ifftshift(g, axes))
vjp(np.fft.ifftshift, lambda x, axes=None: np.fft.fftshift(g, axes))

# Sample frequencies: ans = k / (n * d) for integers k, so d ans / d d = -ans / d.
vjp(np.fft.fftfreq,   lambda n, d=1.0, device=None: (None, ad.unbroadcast(-g * ans / d, d)))
vjp(np.fft.rfftfreq,  lambda n, d=1.0, device=None: (None, ad.unbroadcast(-g * ans / d, d)))
