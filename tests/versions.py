"""Skip marks for tests of NumPy features that older releases lack.

Each mark checks for the feature itself, not a version number, and its
reason names the installed version and the release that added the
feature.
"""

import numpy as np
import pytest


def needs(owner, name, since):
    """Return a mark that skips a test where `owner` has no attribute
    `name`, which NumPy `since` added."""
    return pytest.mark.skipif(
        not hasattr(owner, name),
        reason=f'NumPy {np.__version__} has no {owner.__name__}.{name} '
               f'(new in {since})')


def param(function, owner, name, since):
    """Return `function` as a pytest parameter skipped where `owner` has
    no attribute `name`."""
    return pytest.param(function, marks=needs(owner, name, since))


def present(owner, *names):
    """Return the attributes of `owner` named in `names` that exist."""
    return {getattr(owner, name) for name in names if hasattr(owner, name)}


def _cholesky_has_upper():
    try:
        np.linalg.cholesky(np.eye(1), upper=True)
    except TypeError:
        return False
    return True


# NumPy 2.0 added the array API functions of numpy.linalg, np.vecdot and
# cholesky's `upper`; 1.26 has named-tuple results (svd(a).S), 1.23 not.
LINALG_ARRAY_API = hasattr(np.linalg, 'vecdot')
CHOLESKY_UPPER = _cholesky_has_upper()
NAMED_RESULTS = hasattr(np.linalg.svd(np.eye(1)), 'S')
