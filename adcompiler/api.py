"""Public transforms: grad, value_and_grad, source, and rule registration.

Names and conventions follow JAX and autograd: `wrt` selects the arguments
to differentiate, by position or by name, and a tuple of them returns a
tuple of gradients.
"""

import functools
import inspect
import types

import numpy as np

from adcompiler import dispatch, runtime
from adcompiler.compiler import Compiler
from adcompiler.errors import (AdCompilerError, NonScalarOutputError,
                               SourceUnavailableError)
from adcompiler.rules import REGISTRY

_COMPILER = Compiler()
dispatch.install(_COMPILER)


class InvalidArgumentError(AdCompilerError, ValueError):
    """An argument of an adcompiler transform is invalid."""


def _parameter_names(function):
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    return list(signature.parameters)


def _wrt_names(function, wrt):
    """Map `wrt` (position, name, or a tuple of them) to parameter names."""
    names = _parameter_names(function) or []
    items = wrt if isinstance(wrt, (tuple, list)) else (wrt,)
    result = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise InvalidArgumentError(
                f'wrt must be an argument position, an argument name, or a '
                f'tuple of them; got {item!r}')
        if isinstance(item, int):
            if not -len(names) <= item < len(names):
                raise InvalidArgumentError(
                    f'wrt={item} is out of range: '
                    f'{getattr(function, "__name__", function)} has '
                    f'{len(names)} parameters {names}')
            item = names[item]
        elif item not in names:
            raise InvalidArgumentError(
                f'wrt={item!r} is not a parameter of '
                f'{getattr(function, "__name__", function)}; its parameters '
                f'are {names}')
        result.append(item)
    return tuple(result), isinstance(wrt, (tuple, list))


class GradientFunction:
    """The gradient of a function, compiled on first use.

    Calling it returns the gradient (or `(value, gradient)` for
    `value_and_grad`). `.source` is the generated Python source.
    """

    def __init__(self, function, wrt, with_value):
        if not callable(function):
            raise InvalidArgumentError(
                f'expected a function to differentiate, got {function!r}')
        if isinstance(function, GradientFunction):
            raise SourceUnavailableError(
                f'cannot differentiate {function.__name__}: it is already a '
                'gradient made by adcompiler, and higher-order derivatives '
                '(grad of grad) are not supported yet.')
        if inspect.ismethod(function):
            raise SourceUnavailableError(
                f'cannot differentiate the bound method {function!r} '
                'directly yet. Wrap the call in a function: '
                f'def f(x): return obj.{function.__name__}(x)')
        if not isinstance(function, types.FunctionType):
            raise SourceUnavailableError(
                f'cannot differentiate {function!r}: it is a '
                f'{type(function).__name__}, not a Python function with '
                'source code. Wrap it in a Python function (def f(x): ...).')
        self.function = function
        self.wrt, self._as_tuple = _wrt_names(function, wrt)
        self.with_value = with_value
        functools.update_wrapper(self, function)
        # update_wrapper links the original; a gradient is not a wrapper of
        # it, and inspect.unwrap must not treat it as one.
        del self.__wrapped__
        kind = 'value_and_grad' if with_value else 'grad'
        self.__name__ = f'{kind}_{getattr(function, "__name__", "function")}'
        self.__qualname__ = self.__name__

    def compiled(self):
        """Compile (or fetch from the cache) the primal and adjoint."""
        return _COMPILER.compile(self.function, self.wrt)

    @property
    def source(self):
        """The generated module's source text."""
        return self.compiled().source

    def __call__(self, *args, **kwargs):
        compiled = self.compiled()
        signature = inspect.signature(self.function)
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as err:
            raise TypeError(f'{self.function.__name__}(): {err}') from None
        bound.apply_defaults()
        arguments = bound.arguments

        ans, saved = compiled.primal(*bound.args)
        _check_scalar(self.function, ans)
        adjoints = compiled.adjoint(saved, runtime.seed(ans))
        gradients = []
        for g, name in zip(adjoints, self.wrt, strict=True):
            g = runtime.materialize(g, arguments[name])
            if any(g is other for other in gradients):
                g = runtime.copy(g)  # Each gradient can be updated in place.
            gradients.append(g)
        gradients = tuple(gradients)
        gradient = gradients if self._as_tuple else gradients[0]
        return (ans, gradient) if self.with_value else gradient

    def __repr__(self):
        return f'<adcompiler {self.__name__} wrt {self.wrt}>'


def _check_scalar(function, ans):
    name = getattr(function, '__name__', repr(function))
    if ans is None:
        raise NonScalarOutputError(
            f'{name} returned None; grad needs a function that returns a '
            'scalar (add a return statement)')
    shape = np.shape(ans)
    if shape != ():
        raise NonScalarOutputError(
            f'{name} returned an array of shape {shape}; grad and '
            'value_and_grad need a scalar output. Reduce the output to a '
            'scalar (for example with np.sum), or take a vector-Jacobian '
            'product of each output.')


def grad(function=None, *, wrt=0):
    """Return a function that computes the gradient of `function`.

    Args:
        function: a Python function with a scalar output.
        wrt: the argument to differentiate, by position or name, or a tuple
            of them; a tuple returns a tuple of gradients.

    Usable as `grad(f)`, `@grad` and `@grad(wrt=...)`.

    Example:
        >>> def f(x):
        ...     return np.sum(x ** 2)
        >>> grad(f)(np.array([1.0, 2.0]))
        array([2., 4.])
    """
    if function is None:
        return functools.partial(grad, wrt=wrt)
    return GradientFunction(function, wrt, with_value=False)


def value_and_grad(function=None, *, wrt=0):
    """Like `grad`, but the returned function returns `(value, gradient)`."""
    if function is None:
        return functools.partial(value_and_grad, wrt=wrt)
    return GradientFunction(function, wrt, with_value=True)


def source(gradient_function):
    """Return the generated source of a function made by `grad`."""
    if not isinstance(gradient_function, GradientFunction):
        raise InvalidArgumentError(
            f'source() expects a function made by adcompiler.grad or '
            f'value_and_grad, got {gradient_function!r}')
    return gradient_function.source


def register_vjp(function, vjp=None):
    """Register `vjp(g, ans, *args, **kwargs)` as the reverse rule of `function`.

    `vjp` returns one cotangent per positional argument of `function` (None
    where there is no gradient). Usable as a decorator:
    `@register_vjp(function)`. Functions compiled before take the new rule
    on their next call.
    """
    if vjp is None:
        return functools.partial(register_vjp, function)
    REGISTRY.vjp_function(function, vjp)
    return vjp


def register_jvp(function, jvp=None):
    """Register `jvp(tangents, ans, *args, **kwargs)` as the forward rule of
    `function`; it returns the tangent of the output, given one tangent per
    positional argument (None where the argument is constant).

    Usable as a decorator: `@register_jvp(function)`.
    """
    # NOTE: only reverse mode exists so far; forward mode will read these.
    if jvp is None:
        return functools.partial(register_jvp, function)
    REGISTRY.jvp_function(function, jvp)
    return jvp


def non_differentiable(function):
    """Mark `function` as contributing no gradient; usable as a decorator."""
    REGISTRY.non_differentiable(function)
    return function


@non_differentiable
def stop_gradient(x):
    """Return `x` unchanged; no gradient flows back through it."""
    return x
