"""adcompiler: source-to-source automatic differentiation for Python and NumPy.

    >>> import adcompiler, numpy as np
    >>> def f(x):
    ...     return np.sum(np.sin(x) * x)
    >>> df = adcompiler.grad(f)
    >>> print(df.source)   # the generated primal and adjoint
"""

from adcompiler.api import (Composition, GradientFunction,
                            ArgumentBindingError, ArraySubclassError,
                            InvalidArgumentError,
                            HigherOrderGradient, check_grads, grad, hessian,
                            hvp, jacfwd, jacobian, jacrev, jvp,
                            non_differentiable, register_jvp, register_vjp,
                            source, stop_gradient, value_and_grad, vjp)
from adcompiler.containers import ContainerError, register_container
from adcompiler.errors import (AdCompilerError, ChangedStateError,
                               ForeignCallError, GlobalRebindError,
                               InternalCompilerError, LocatedError,
                               NonScalarOutputError,
                               SourceUnavailableError, StaleSourceError,
                               UndefinedNameError, UnsupportedOptionError,
                               UnsupportedSyntaxError)

__version__ = '0.1.0'

__all__ = [
    'AdCompilerError', 'ArgumentBindingError', 'ArraySubclassError',
    'ChangedStateError',
    'Composition', 'ContainerError', 'ForeignCallError',
    'GlobalRebindError', 'GradientFunction',
    'InternalCompilerError', 'InvalidArgumentError', 'LocatedError',
    'NonScalarOutputError',
    'HigherOrderGradient', 'check_grads', 'hessian', 'hvp', 'jacfwd',
    'jacobian', 'jacrev', 'jvp', 'vjp',
    'SourceUnavailableError', 'StaleSourceError', 'UndefinedNameError',
    'UnsupportedOptionError',
    'UnsupportedSyntaxError', 'grad', 'non_differentiable',
    'register_container', 'register_jvp', 'register_vjp', 'source',
    'stop_gradient',
    'value_and_grad',
]
