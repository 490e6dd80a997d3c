"""Gradient rules, one module per library, registered in `REGISTRY`."""

from adcompiler.rules.registry import (NON_DIFFERENTIABLE, REGISTRY, Rule,
                                       RuleError, RuleResultError, Template,
                                       adjoint_target)
from adcompiler.rules import builtins as _builtins  # noqa: F401  (registers)
from adcompiler.rules import numpy as _numpy  # noqa: F401  (registers)
from adcompiler.rules import math as _math  # noqa: F401  (registers)
from adcompiler.rules import linalg as _linalg  # noqa: F401  (registers)
from adcompiler.rules import fft as _fft  # noqa: F401  (registers)
from adcompiler.rules import forward as _forward  # noqa: F401  (registers)
from adcompiler.rules import runtime as _runtime  # noqa: F401  (registers)
from adcompiler.rules import numpy_equivalents as _numpy_equivalents  # noqa: F401  (registers)
from adcompiler.rules import numpy_compositions as _numpy_compositions  # noqa: F401  (registers)
from adcompiler.rules import dataclass_equivalents as _dataclass_equivalents  # noqa: F401  (registers)
from adcompiler.rules import scipy as _scipy  # noqa: F401  (registers later)
from adcompiler import runtime as _helpers
from adcompiler.errors import UnsupportedOptionError as _UnsupportedOption

_helpers.install_unsupported_error(_UnsupportedOption)
_helpers.install_rule_result_error(RuleResultError)

__all__ = ['NON_DIFFERENTIABLE', 'REGISTRY', 'Rule', 'RuleError',
           'RuleResultError', 'Template', 'adjoint_target']
