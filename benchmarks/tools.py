"""The tools the benchmark compares, behind one small interface.

A `Tool` turns a workload into a callable. `load()` imports the library (an
`ImportError` means the tool is skipped), sets it to one thread and warms it
up on a trivial function, so that no workload pays for the library's own
first use. `convert(workload, args)` turns the NumPy arguments into the
library's arrays, outside of any timing. `make(workload, function)` returns
a callable that takes the converted arguments and returns a finished
result: JAX results are waited for with `block_until_ready`, so the time of
a call is the time of the computation. `to_numpy(result)` returns the
gradients as a tuple of NumPy values, one per position in `workload.wrt`.

`make` receives the function to transform rather than reading
`workload.function`, so that the first-call measurement can pass a fresh
copy (see `fresh_copy`), whose compiled or traced gradient no cache holds.

The peers (autograd, JAX, PyTorch) run the workload's own code with its
global `np` rebound to `autograd.numpy`, `jax.numpy` or `torch`: the
workloads call only functions that exist under the same name in all four.
"""

import importlib.metadata
import types

import numpy as np


def fresh_copy(function, **globals_update):
    """Return a new function object with `function`'s code.

    Caches keyed on the function object (adcompiler's compile cache, JAX's
    jit cache) miss on the copy. `globals_update` rebinds module globals,
    such as `np`, for the copy only.
    """
    namespace = function.__globals__
    if globals_update:
        namespace = dict(namespace, **globals_update)
    copy = types.FunctionType(function.__code__, namespace, function.__name__,
                              function.__defaults__, function.__closure__)
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__ = function.__qualname__
    return copy


def _distribution_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return 'not installed as a distribution'


def _warm_up_function(x):
    # A trivial function with source, so that adcompiler can compile it.
    return np.sum(np.sin(x) * x)


def _as_numpy_tuple(values):
    return tuple(np.asarray(value) for value in values)


class Tool:
    """Base of the tools: NumPy arguments are used as they are."""

    name = ''
    label = ''
    computes_gradient = True
    # False where tracemalloc does not see the library's array memory.
    memory_traced = True

    def load(self):
        """Import the library; raise ImportError when it is not installed."""

    def versions(self):
        """Library name -> version of what this tool runs."""
        return {}

    def convert(self, workload, args):
        return args

    def make(self, workload, function):
        raise NotImplementedError

    def to_numpy(self, result):
        return _as_numpy_tuple(result)


class Primal(Tool):
    """The workload function itself, the denominator of every ratio."""

    name = 'primal'
    label = 'NumPy primal'
    computes_gradient = False

    def versions(self):
        return {'NumPy': np.__version__}

    def make(self, workload, function):
        return function

    def to_numpy(self, result):
        raise TypeError('the primal computes no gradient')


class Hand(Tool):
    """The hand-written NumPy gradient: the reference values."""

    name = 'hand'
    label = 'hand-written NumPy'

    def make(self, workload, function):
        # The hand-written gradient has no source that a copy would change.
        return workload.gradient


class AdCompiler(Tool):
    name = 'adcompiler'
    label = 'adcompiler'

    def load(self):
        import adcompiler
        self.adcompiler = adcompiler
        adcompiler.grad(_warm_up_function)(np.ones(2))

    def versions(self):
        return {'adcompiler': self.adcompiler.__version__}

    def make(self, workload, function):
        # A tuple `wrt` makes the gradient a tuple even for one argument.
        return self.adcompiler.grad(function, wrt=tuple(workload.wrt))


class Autograd(Tool):
    name = 'autograd'
    label = 'autograd'

    def load(self):
        import autograd
        import autograd.numpy
        self.autograd = autograd
        self.numpy = autograd.numpy
        warm_up = fresh_copy(_warm_up_function, np=autograd.numpy)
        autograd.grad(warm_up)(np.ones(2))

    def versions(self):
        return {'autograd': _distribution_version('autograd')}

    def make(self, workload, function):
        function = fresh_copy(function, np=self.numpy)
        return self.autograd.grad(function, argnum=tuple(workload.wrt))


class _Jax(Tool):
    """Shared by JAX eager and JAX jit."""

    memory_traced = False

    def load(self):
        import jax
        import jax.numpy
        jax.config.update('jax_enable_x64', True)
        self.jax = jax
        self.numpy = jax.numpy
        warm = jax.grad(lambda x: jax.numpy.sin(x) * x)
        jax.block_until_ready(warm(1.0))
        jax.block_until_ready(jax.jit(warm)(1.0))

    def versions(self):
        return {'jax': self.jax.__version__,
                'jaxlib': _distribution_version('jaxlib')}

    def convert(self, workload, args):
        return tuple(value if i in workload.static or np.ndim(value) == 0
                     else self.numpy.asarray(value)
                     for i, value in enumerate(args))

    def _gradient(self, workload, function):
        function = fresh_copy(function, np=self.numpy)
        return self.jax.grad(function, argnums=tuple(workload.wrt))

    def to_numpy(self, result):
        return _as_numpy_tuple(result)


class JaxEager(_Jax):
    name = 'jax'
    label = 'JAX grad (eager)'

    def make(self, workload, function):
        gradient = self._gradient(workload, function)
        block = self.jax.block_until_ready

        def call(*args):
            return block(gradient(*args))
        return call


class JaxJit(_Jax):
    name = 'jax_jit'
    label = 'JAX jit(grad)'

    def make(self, workload, function):
        gradient = self.jax.jit(self._gradient(workload, function),
                                static_argnums=tuple(workload.static))
        block = self.jax.block_until_ready

        def call(*args):
            return block(gradient(*args))
        return call


class Torch(Tool):
    name = 'torch'
    label = 'PyTorch eager'
    memory_traced = False

    def load(self):
        import torch
        torch.set_num_threads(1)
        self.torch = torch
        x = torch.ones(2, dtype=torch.float64, requires_grad=True)
        torch.autograd.grad(torch.sum(torch.sin(x)), [x])

    def versions(self):
        return {'torch': self.torch.__version__}

    def convert(self, workload, args):
        converted = []
        for i, value in enumerate(args):
            if i in workload.static:
                converted.append(value)
                continue
            tensor = self.torch.as_tensor(np.asarray(value, dtype=np.float64))
            if i in workload.wrt:
                # A leaf of its own, so that the NumPy array is not shared.
                tensor = tensor.clone().requires_grad_(True)
            converted.append(tensor)
        return tuple(converted)

    def make(self, workload, function):
        function = fresh_copy(function, np=self.torch)
        grad = self.torch.autograd.grad
        wrt = tuple(workload.wrt)

        def call(*args):
            # autograd.grad returns the gradients without accumulating them
            # into `.grad`, so repeated calls stay independent.
            return grad(function(*args), [args[i] for i in wrt])
        return call

    def to_numpy(self, result):
        return tuple(tensor.detach().numpy() for tensor in result)


ALL_TOOLS = (Primal, Hand, AdCompiler, Autograd, JaxEager, JaxJit, Torch)
