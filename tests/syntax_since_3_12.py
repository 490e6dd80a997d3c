"""Syntax functions for test_syntax_coverage that Python 3.11 cannot parse.

test_syntax_coverage imports this module only on Python 3.12 and later.
"""

import numpy as np


def uses_type_alias(x):
    type Scalar = float
    return x * 2.0


def scaled_sine[T](x: T) -> T:
    return x * np.sin(x)


def uses_generic_function(x):
    return scaled_sine(x) + 1.0


def uses_generic_inner_function(x):
    def tripled[T](v: T) -> T:
        return v * 3.0
    return tripled(x) * x
