"""Public transforms: grad, value_and_grad, source, and rule registration.

Names and conventions follow JAX and autograd: `wrt` selects the arguments
to differentiate, by position or by name, and a tuple of them returns a
tuple of gradients.
"""

import contextlib
import contextvars
import enum
import functools
import inspect
import types
import warnings
import weakref

import numpy as np

from adcompiler import (bound_callables, bounded, chunked, containers,
                        dispatch, emit, origins, resolve, runtime,
                        saved_values)
from adcompiler.argument_state import (ArgumentState, Runs, hidden_state_of,
                                       restore_entries, same_output)
from adcompiler.compiler import Compiler, defaults_of, same_defaults
from adcompiler.errors import (AdCompilerError, ChangedStateError,
                               ForeignCallError, InvalidArgumentError,
                               NonScalarOutputError, SourceUnavailableError,
                               UnsupportedSyntaxError, with_article)
from adcompiler.known_shapes import describe_arguments
from adcompiler.object_operands import describe_arguments as describe_objects
from adcompiler.naming import identifier
from adcompiler.rules import REGISTRY
from adcompiler.rules.operators import holds_operator_object

_COMPILER = Compiler()
dispatch.install(_COMPILER)


class ArgumentBindingError(InvalidArgumentError, TypeError):
    """The arguments given to a transformed function do not fit its
    parameters (a TypeError, as the same call of the function would be)."""


class ArraySubclassError(InvalidArgumentError, containers.ContainerError):
    """An argument is an instance of a subclass of np.ndarray (a masked
    array, np.matrix, np.memmap, a user's subclass), whose operations may
    differ from those of the ndarray that the rules are written for."""


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
                    f'{len(names)} '
                    f'{"parameter" if len(names) == 1 else "parameters"} '
                    f'{names}')
            item = names[item]
        elif item not in names:
            raise InvalidArgumentError(
                f'wrt={item!r} is not a parameter of '
                f'{getattr(function, "__name__", function)}; its parameters '
                f'are {names}')
        result.append(item)
    return tuple(result), isinstance(wrt, (tuple, list))


# Types of the arguments that code is compiled apart for (see
# `scalar_parameters`), and of the values the fast path of a call checks
# without a function call.
_FLOAT_SCALAR_TYPES = frozenset((float, np.float64))
_ONE = {float: 1.0, np.float64: np.float64(1.0)}


def _noting_user_lines(function):
    """Wrap a public entry point so that an exception raised while generated
    code runs gets a note naming the user's lines it came from (see
    `origins.note_user_lines`)."""
    @functools.wraps(function)
    def entry(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception as error:
            origins.note_user_lines(error)
            raise
    return entry


# Marks the end of the argument key of `GradientFunction` for arguments that
# hold objects with operator methods.
_OBJECTS = 'objects'

# Types of arguments that are never objects with operator methods.
_SCALAR_TYPES = frozenset({float, int, bool, complex, np.float64,
                           type(None)})


def scalar_parameters(arguments):
    """Return the names in `arguments` (name -> value) whose values are
    Python floats or np.float64 scalars."""
    return frozenset(name for name, value in arguments.items()
                     if type(value) in _FLOAT_SCALAR_TYPES)


class GradientFunction:
    """The gradient of a function, compiled on first use.

    Calling it returns the gradient (or `(value, gradient)` for
    `value_and_grad`). `.source` is the generated Python source. The code
    is compiled apart for each set of parameters given float scalars.
    """

    def __init__(self, function, wrt, with_value, has_aux=False):
        _check_differentiable(function)
        self.function = function
        self.wrt, self._as_tuple = _wrt_names(function, wrt)
        self.with_value = with_value
        self.has_aux = has_aux
        functools.update_wrapper(self, function)
        # update_wrapper links the original; a gradient is not a wrapper of
        # it, and inspect.unwrap must not treat it as one.
        del self.__wrapped__
        kind = 'value_and_grad' if with_value else 'grad'
        self.__name__ = f'{kind}_{getattr(function, "__name__", "function")}'
        self.__qualname__ = self.__name__
        # The parameter names when every parameter is positional-or-keyword,
        # so that a call that gives each by position needs no binding.
        self._names = _positional_names(function)
        # The number of arguments of a call that `__call__` may key without
        # binding them, or -1 when some parameter is not
        # positional-or-keyword.
        self._arity = -1 if self._names is None else len(self._names)
        # Argument key (see `_Variant`) -> `_Variant`.
        self._variants = {}
        # Keys of arguments with arrays seen once, for which the general
        # code ran (see `_compile_for`).
        self._seen_once = set()

    def compiled(self, scalar_params=frozenset(), objects=frozenset()):
        """Compile (or fetch from the cache) the primal and adjoint, for
        float scalar arguments of the parameters in `scalar_params`, and
        for arguments that hold objects with operator methods when
        `objects` is set."""
        return _COMPILER.compile(self.function, self.wrt,
                                 scalar_params=scalar_params,
                                 objects=objects)

    @property
    def source(self):
        """The generated module's source text, for arguments that are not
        float scalars."""
        return self.compiled().source

    def __call__(self, *args, **kwargs):
        # A call that gives every parameter by position is keyed (see
        # `_Variant`) by `args` alone, in the parameters' order.
        variant = None
        if not kwargs and len(args) == self._arity:
            variant = self._variants.get(_argument_key(args))
            if variant is not None and variant.may_get_objects:
                for value in args:
                    if (type(value) is not _NDARRAY
                            and type(value) not in _SCALAR_TYPES
                            and holds_operator_object(value)):
                        # A key without objects, for arguments with them.
                        variant = None
                        break
        if (variant is None or not variant.direct
                or variant.version != REGISTRY.version
                or not variant.compiled.is_current()):
            return self._call(args, kwargs)

        # The code that the key selected, with only the checks that the key
        # does not decide.
        if variant.slice_arrays is not None and _floating_errors_quiet():
            adjoints = chunked.gradient(
                variant.grad_only_primal, variant.grad_only_adjoint, args,
                variant.slice_arrays, len(self.wrt))
            if adjoints is not None:
                return adjoints if self._as_tuple else adjoints[0]
        value = None  # The grad-only primal does not return the value.
        try:
            if variant.grad_only and _floating_errors_quiet():
                seed, saved = variant.grad_only_primal(*args)
                adjoint = variant.grad_only_adjoint
            else:
                value, saved = variant.primal(*args)
                seed = _ONE.get(type(value))
                if seed is None:
                    _check_scalar(self.function, value)
                    seed = runtime.seed(value)
                    if self.with_value and variant.compiled.undoes_updates:
                        value = _detached(value)  # A 0-d array.
                elif variant.float_seed:
                    seed = 1.0
                adjoint = variant.adjoint
        except runtime.GuardFailed:
            return self._call_general_code(args, kwargs)
        except Exception as error:
            origins.note_user_lines(error)
            raise
        try:
            adjoints = adjoint(saved, seed)
        except (ZeroDivisionError, OverflowError) as error:
            # See `_gradient`.
            if _float_scalars_as_numpy(args, kwargs) is None:
                origins.note_user_lines(error)
                raise
            return self._call_with_numpy_floats(args, kwargs,
                                                value_type=type(value))
        except Exception as error:
            origins.note_user_lines(error)
            raise

        # Gradients that need no conversion are returned as they are.
        positions = variant.result_positions
        if (positions is not None and type(adjoints) is tuple
                and len(adjoints) == len(positions)
                and _plain_gradients(adjoints, args, positions)):
            gradient = adjoints if self._as_tuple else adjoints[0]
        else:
            gradient = _gradients(adjoints, self.wrt,
                                  dict(zip(self._names, args)))
            if not self._as_tuple:
                gradient = gradient[0]
        return (value, gradient) if self.with_value else gradient

    @_noting_user_lines
    def _call(self, args, kwargs, runs=None):
        """Return what `__call__` returns, by the general path: bind the
        arguments, compile or fetch the code, and check what the argument
        key does not decide.

        `runs` restores the arguments before a run after a failed one (see
        `_call_general_code` and `_call_with_numpy_floats`).
        """
        if not kwargs and len(args) == self._arity:
            # Every parameter is given by position: no defaults to apply.
            arguments = dict(zip(self._names, args))
        else:
            bound = _bind(self.function, args, kwargs)
            args, kwargs, arguments = bound.args, bound.kwargs, \
                bound.arguments
        variant = self._compiled_for(arguments)
        if variant.numpy_floats_first:
            return self._call_with_numpy_floats(args, kwargs, runs)
        compiled = variant.compiled
        if runs is None:
            runs = Runs(arguments.values(), needed=_writes_arguments(compiled),
                        names=tuple(arguments))
        runs.start()
        arguments = _structures_before_updates(arguments, self.wrt, compiled)
        primal_args, primal_kwargs = args, kwargs
        if compiled.written_in_place:
            primal_args, primal_kwargs = _protected(self.function, compiled,
                                                    args, kwargs)
        if not variant.floats_checked:
            for name in self.wrt:
                value = arguments[name]
                if not _is_float(value):
                    _require_float(self.function, name, value)
        if (variant.grad_only_dtypes and not self.with_value
                and not self.has_aux and _floating_errors_quiet()):
            try:
                seed, saved = compiled.grad_only_primal(*primal_args,
                                                        **primal_kwargs)
            except runtime.GuardFailed:
                return self._call_general_code(args, kwargs, runs)
            gradient = self._gradient(
                compiled.grad_only_adjoint or compiled.adjoint, saved, seed,
                args, kwargs, arguments)
            if gradient is _RETRY_WITH_NUMPY_FLOATS:
                return self._call_with_numpy_floats(args, kwargs, runs)
            return gradient
        try:
            ans, saved = compiled.primal(*primal_args, **primal_kwargs)
        except runtime.GuardFailed:
            return self._call_general_code(args, kwargs, runs)
        if self.has_aux:
            value, aux = _split_aux(self.function, ans)
            _check_scalar(self.function, value)
            seed = (runtime.seed(value), runtime.zeros_like(aux))
            if isinstance(ans, list):
                seed = list(seed)
            if compiled.undoes_updates:
                value, aux = _detached((value, aux))
        else:
            value = ans
            seed = _ONE.get(type(value))
            if seed is None:
                _check_scalar(self.function, value)
                seed = runtime.seed(value)
                if self.with_value and compiled.undoes_updates:
                    value = _detached(value)  # A 0-d array.
            elif compiled.float_seed:
                seed = 1.0
        gradient = self._gradient(compiled.adjoint, saved, seed, args, kwargs,
                                  arguments)
        if gradient is _RETRY_WITH_NUMPY_FLOATS:
            return self._call_with_numpy_floats(args, kwargs, runs,
                                                type(value))
        if self.has_aux:
            return ((value, aux), gradient) if self.with_value else (
                gradient, aux)
        return (value, gradient) if self.with_value else gradient

    def _gradient(self, adjoint, saved, seed, args, kwargs, arguments):
        """Run `adjoint` from `seed` and return the gradient, or
        `_RETRY_WITH_NUMPY_FLOATS`."""
        try:
            adjoints = adjoint(saved, seed)
        except (ZeroDivisionError, OverflowError):
            # Python floats raise where NumPy gives inf or nan with a
            # warning: 0.0 ** -0.5 in the derivative of x ** 0.5 at 0. The
            # primal ran, so the same values in NumPy floats run it alike.
            if _float_scalars_as_numpy(args, kwargs) is None:
                raise
            return _RETRY_WITH_NUMPY_FLOATS
        gradient = _gradients(adjoints, self.wrt, arguments)
        return gradient if self._as_tuple else gradient[0]

    @_noting_user_lines
    def _call_general_code(self, args, kwargs, runs=None):
        """Return what `__call__` returns, by the general code, which this
        gradient keeps for the arguments' key from now on.

        Code compiled for the arguments' shapes raised
        `runtime.GuardFailed`: a call in it that was compiled for the
        function an earlier call ran (see adcompiler.observed_calls) now
        reaches another one.
        """
        # The statements before the failed check ran once already, and the
        # general code runs them again, after `runs` restores what they
        # wrote into the arguments.
        arguments = _bind(self.function, args, kwargs).arguments
        key = _argument_objects_key(arguments)
        compiled = self.compiled(scalar_parameters(arguments),
                                 _described_objects(key))
        self._seen_once.discard(key)
        self._variants[key] = _Variant(REGISTRY.version, compiled, self,
                                       arguments)
        return self._call(args, kwargs, runs)

    def _call_with_numpy_floats(self, args, kwargs, runs=None,
                                value_type=None):
        """Return what `_call` returns for the arguments with each Python
        float as a NumPy float, with each derivative for a Python float as
        a Python float again. A value of type np.float64 becomes a
        `value_type` float, the type of the value that a run on Python
        floats returned."""
        as_numpy = _float_scalars_as_numpy(args, kwargs)
        result = self._call(*as_numpy, runs)
        arguments = _bind(self.function, args, kwargs).arguments
        floats = [type(arguments[name]) is float for name in self.wrt]

        def gradient_of_floats(gradient):
            if not self._as_tuple:
                return _python_float(gradient) if floats[0] else gradient
            return tuple(_python_float(g) if is_float else g
                         for g, is_float in zip(gradient, floats,
                                                strict=True))

        def value_of_floats(value):
            if value_type is float:
                return _python_float(value)
            return value

        if self.has_aux:
            if self.with_value:
                (value, aux), gradient = result
                return ((value_of_floats(value), aux),
                        gradient_of_floats(gradient))
            gradient, aux = result
            return gradient_of_floats(gradient), aux
        if self.with_value:
            value, gradient = result
            return value_of_floats(value), gradient_of_floats(gradient)
        return gradient_of_floats(result)

    def _compiled_for(self, arguments):
        """Return the `_Variant` for these arguments, from the variants this
        gradient has used while the compiler's cache would return the same
        code (no rule registered since, no dependency changed)."""
        key = _argument_objects_key(arguments)
        variant = self._variants.get(key)
        if (variant is not None and variant.version == REGISTRY.version
                and variant.compiled.is_current()):
            return variant
        return self._compile_for(key, arguments)

    def _compile_for(self, key, arguments):
        """Compile (or fetch) the code for arguments of this key: the type
        of each argument, and the shape and dtype of each np.ndarray.

        The first call with a key that has arrays runs the general code.
        A second call compiles code for the shapes of its arrays (see
        adcompiler.known_shapes), until the compiler has compiled
        `compiler.MAX_SHAPE_VARIANTS` of them for this function, after
        which every new key runs the general code.
        """
        version = REGISTRY.version
        _reject_array_subclasses(self.function, arguments, 'grad')
        scalar_params = scalar_parameters(arguments)
        objects = _described_objects(key)
        compiled = None
        has_arrays = any(type(v) is _NDARRAY for v in arguments.values())
        if has_arrays and key in self._seen_once:
            compiled = _COMPILER.compile_for_shapes(
                self.function, self.wrt, scalar_params,
                describe_arguments(arguments), objects)
        if compiled is None:
            compiled = self.compiled(scalar_params, objects)
        variant = _Variant(version, compiled, self, arguments)
        if compiled.argument_shapes is None and has_arrays and \
                key not in self._seen_once:
            # Not kept in `_variants`, so that the next call with this key
            # comes back here.
            if len(self._seen_once) >= _MAX_KEYS:
                self._seen_once.clear()
            self._seen_once.add(key)
            return variant
        self._seen_once.discard(key)
        if len(self._variants) >= _MAX_KEYS:
            self._variants.clear()
        self._variants[key] = variant
        return variant

    def __repr__(self):
        return f'<adcompiler {self.__name__} wrt {self.wrt}>'

    def __adcompiler_equivalent__(self):
        """Return a function with source that computes this gradient, so
        that a differentiated function may call it; None if there is none
        (a tuple `wrt`, `value_and_grad` or `has_aux`)."""
        if self.with_value or self.has_aux or self._as_tuple:
            return None
        return gradient_objective(self.function, self.wrt[0])

    def __adcompiler_unsupported__(self):
        """Return (what this gradient is, what to call instead) when a
        differentiated function may not call it, or None when it may."""
        name = getattr(self.function, '__name__', 'f')
        if self.with_value:
            return (f'value_and_grad({name})',
                    f'call {name}(...) for the value and '
                    f'adcompiler.grad({name})(...) for the gradient')
        if self.has_aux:
            return (f'grad({name}, has_aux=True)',
                    f'call adcompiler.grad of a function that returns only '
                    f'the value of {name}, and {name}(...) for the aux data')
        if self._as_tuple:
            return (f'grad({name}, wrt={self.wrt!r})',
                    'call one adcompiler.grad per argument, such as '
                    f'adcompiler.grad({name}, wrt={self.wrt[0]!r})')
        return None


class _Variant:
    """The compiled code for the arguments of one key (the type of each
    argument, and the shape and dtype of each np.ndarray), with the checks
    of `GradientFunction.__call__` that the key decides."""

    __slots__ = ('version', 'compiled', 'floats_checked', 'grad_only_dtypes',
                 'direct', 'grad_only', 'primal', 'adjoint',
                 'grad_only_primal', 'grad_only_adjoint', 'float_seed',
                 'result_positions', 'may_get_objects', 'slice_arrays',
                 'numpy_floats_first')

    def __init__(self, version, compiled, gradient, arguments):
        self.version = version  # of the rule registry
        self.compiled = compiled
        # Every argument in `wrt` is a float scalar or an array of floats.
        self.floats_checked = all(_is_float(arguments[name])
                                  for name in gradient.wrt)
        # The grad-only primal applies unless NumPy's error state or a
        # warnings filter rules it out (see `_grad_only_applies`).
        self.grad_only_dtypes = compiled.grad_only_primal is not None and \
            _grad_only_dtypes(compiled, arguments)

        # Code on Python floats may raise ZeroDivisionError where NumPy
        # floats give inf, and then runs again on NumPy floats (see
        # `_gradient`). A function that reaches state beyond its arguments
        # (a global Generator or list) would see the first run's changes
        # there, so it runs on NumPy floats at once. NOTE: its value is
        # then an np.float64 where the code on Python floats may have
        # returned a Python float; its derivatives are Python floats.
        self.numpy_floats_first = any(
            type(value) is float for value in arguments.values()) and \
            hidden_state_of(gradient.function) is not None
        # What `GradientFunction.__call__` runs for a call with every
        # argument given by position: grad or value_and_grad without aux
        # data, with no argument to copy and no argument to check further.
        self.direct = (self.floats_checked and not gradient.has_aux
                       and not compiled.written_in_place
                       and not _writes_arguments(compiled)
                       and not self.numpy_floats_first)
        # An argument is a container or an object, so that arguments of the
        # same types may hold objects with operators (see `_argument_key`).
        self.may_get_objects = any(
            type(value) is not _NDARRAY and type(value) not in _SCALAR_TYPES
            for value in arguments.values())
        self.grad_only = (self.grad_only_dtypes and not gradient.with_value
                          and not gradient.has_aux)
        self.primal = compiled.primal
        self.adjoint = compiled.adjoint
        self.grad_only_primal = compiled.grad_only_primal
        self.grad_only_adjoint = (compiled.grad_only_adjoint
                                  or compiled.adjoint)
        self.float_seed = compiled.float_seed
        # The positions of the arrays that `__call__` runs the grad-only
        # code on in slices (see adcompiler.chunked), or None to run it on
        # the whole arrays.
        self.slice_arrays = None
        if self.grad_only and self.direct and compiled.elementwise:
            self.slice_arrays = chunked.plan(arguments, gradient.wrt)
        # The positions of the differentiated arguments when each is a
        # Python float or an np.ndarray, whose gradients may need no
        # conversion (see `_plain_gradients`); otherwise None.
        names = list(arguments)
        self.result_positions = None
        if all(type(arguments[name]) in (float, _NDARRAY)
               for name in gradient.wrt):
            self.result_positions = tuple(names.index(name)
                                          for name in gradient.wrt)


def _plain_gradients(adjoints, args, positions):
    """True when `_gradients` would return `adjoints` as they are: a float
    for each float argument, a writeable array of the argument's dtype for
    each array argument, and no object twice.

    `positions` are the positions in `args` of the differentiated
    arguments, each a Python float or an np.ndarray.
    """
    for g, position in zip(adjoints, positions):
        x = args[position]
        if type(g) is _NDARRAY:
            if (type(x) is not _NDARRAY or g.dtype is not x.dtype
                    or not g.flags.writeable):
                return False
        elif type(g) is not float or type(x) is not float:
            return False
    count = len(adjoints)
    if count <= 2:
        return count == 1 or adjoints[0] is not adjoints[1]
    return len(set(map(id, adjoints))) == count


def _argument_key(values):
    """Return the key of `_Variant` for the arguments `values`: the type of
    each, the shape and dtype of each np.ndarray, and each module itself.

    A module argument is keyed by identity because the code compiled for
    the arguments' shapes calls the functions that `xp.f(...)` reached
    before (adcompiler.observed_calls): another module gets its own code
    instead of failing that code's check after earlier statements ran.
    """
    return tuple([(value.shape, value.dtype) if type(value) is _NDARRAY
                  else value if type(value) is _MODULE else type(value)
                  for value in values])


def _argument_objects_key(arguments):
    """Return `_argument_key` of `arguments` (name -> value), extended by
    the objects with operators that they contain.

    A list of arrays and a list of such objects have one type. So when an
    argument is neither an array nor a scalar, the key ends with
    `_OBJECTS` and the description of such objects in the arguments (see
    `object_operands.describe_arguments`), if there are any.
    """
    key = _argument_key(arguments.values())
    for entry in key:
        if type(entry) is not tuple and entry not in _SCALAR_TYPES:
            objects = describe_objects(arguments.items())
            if objects:
                key += (_OBJECTS, objects)
            break
    return key


def _described_objects(key):
    """Return the description of objects at the end of an argument key."""
    if len(key) > 1 and key[-2] is _OBJECTS:
        return key[-1]
    return frozenset()


def _reject_array_subclasses(function, arguments, transform):
    """Raise ArraySubclassError for an argument, in wrt or not, that is or
    contains an instance of a subclass of np.ndarray.

    The rules are written for ndarray. A subclass changes what operations
    do: np.ma skips masked entries in np.sum and np.mean, `*` on np.matrix
    is a matrix product, and a subclass may define __array_function__ or
    __array_ufunc__. Its gradient would silently follow ndarray's rule, so
    every subclass is rejected, np.memmap too (its methods recurse in
    generated code). The key of `_Variant` contains each argument's type,
    so grad runs this once per key.
    """
    for name, value in arguments.items():
        item = _first_leaf(value, lambda leaf: isinstance(leaf, _NDARRAY))
        if item is not None:
            raise ArraySubclassError(_array_subclass_message(
                function, name, item, transform))


def _first_leaf(value, matches):
    """Return the first object in `value` or the containers in it
    (other than a plain np.ndarray) for which `matches` is true, or None."""
    pending = [value]
    seen = set()
    while pending:
        item = pending.pop()
        if type(item) is _NDARRAY or id(item) in seen:
            continue
        seen.add(id(item))
        if matches(item):
            return item
        parts = containers.flatten(item)
        if parts is not None:
            pending.extend(parts[0])
    return None


def _array_subclass_message(function, name, value, transform):
    """Return the message of ArraySubclassError for `value`."""
    kind = f'{type(value).__module__}.{type(value).__qualname__}'
    start = (f'{transform} of {function.__name__} got a {kind} in argument '
             f'{name!r}, a subclass of np.ndarray. ')
    if isinstance(value, np.matrix):
        return (start + 'Its * and ** operators are matrix products, and '
                'adcompiler differentiates ndarray arithmetic only. Pass '
                'np.asarray(m) instead, and write @ for a matrix product.')
    if isinstance(value, np.ma.MaskedArray):
        return (start + 'NumPy functions skip its masked entries, and '
                f'adcompiler differentiates ndarray operations only. Pass '
                f'{name}.filled(value) (for example {name}.filled(0.0) for '
                f'a sum), or np.asarray({name}) together with the mask as a '
                'separate argument.')
    return (start + 'Its operations may differ from those of ndarray, '
            'which adcompiler differentiates. Pass np.asarray'
            f'({name}) instead.')


def _is_float(value):
    """Return whether `value` is a float scalar or an array of floats or
    complex numbers, which every transform may differentiate."""
    return type(value) in _FLOAT_SCALAR_TYPES or (
        type(value) is np.ndarray and value.dtype.kind in 'fc')


_RETRY_WITH_NUMPY_FLOATS = object()
_NDARRAY = np.ndarray
_MODULE = types.ModuleType
# How many argument keys a gradient remembers; past that it starts again.
_MAX_KEYS = 64
_FLOAT64 = np.dtype(np.float64)


def _grad_only_applies(compiled, arguments):
    """True when the proof of the grad-only primal holds for `arguments`, and
    the NumPy operations it skips could not have raised: neither np.seterr
    nor a warnings filter turns their floating-point errors into
    exceptions, calls or printed messages."""
    return _grad_only_dtypes(compiled, arguments) and \
        _floating_errors_quiet()


def _grad_only_dtypes(compiled, arguments):
    """True when the arguments that the proof of the grad-only primal
    depends on are float64 arrays."""
    for name in compiled.grad_only_arrays:
        value = arguments[name]
        if type(value) is not np.ndarray or value.dtype != _FLOAT64:
            return False
    return True


# np.seterr modes under which a floating-point error only warns (or nothing).
_QUIET_ERROR_MODES = frozenset(('ignore', 'warn'))

# NumPy 2 keeps the np.seterr state in a context variable, whose value is a
# new object after each change. np.geterr() took 0.7 us on the 2-core AMD
# EPYC of benchmarks/RESULTS.md, so its result is cached with the object it
# was computed for. The cache holds a reference to that object, so its
# identity is not reused.
try:
    from numpy._core._ufunc_config import _extobj_contextvar as _ERROR_STATE
except ImportError:  # NumPy 1.x
    _ERROR_STATE = None
_error_state_quiet = (None, False)


def _numpy_errors_quiet():
    """True when np.seterr makes every floating-point error warn or pass."""
    global _error_state_quiet
    if _ERROR_STATE is None:
        return _QUIET_ERROR_MODES.issuperset(np.geterr().values())
    state = _ERROR_STATE.get()
    if _error_state_quiet[0] is not state:
        _error_state_quiet = (state, _QUIET_ERROR_MODES.issuperset(
            np.geterr().values()))
    return _error_state_quiet[1]


# The NumPy error state and a copy of warnings.filters that
# `_floating_errors_quiet` last computed its result for, and that result.
_quiet_for = (None, None, False)


def _floating_errors_quiet():
    """True when neither np.seterr nor a warnings filter turns a
    floating-point error of NumPy into an exception; see
    `_grad_only_applies`."""
    global _quiet_for
    state = None if _ERROR_STATE is None else _ERROR_STATE.get()
    cached_state, cached_filters, quiet = _quiet_for
    # Comparing the list with a copy finds an entry replaced in place too.
    # Entries that are the same objects compare by identity alone.
    if (state is not None and state is cached_state
            and cached_filters == warnings.filters):
        return quiet
    quiet = _numpy_errors_quiet() and not _runtime_warnings_raise()
    _quiet_for = (state, list(warnings.filters), quiet)
    return quiet


# The result of `_runtime_warnings_raise` and the filters it was computed
# for, as a tuple. Comparing the tuple with the current list also detects
# an entry replaced in the middle of the list, at about the cost of
# checking the list's identity, length and first entry.
_warnings_raise = (None, False)


def _runtime_warnings_raise():
    """True when a warnings filter may turn a RuntimeWarning into an
    exception."""
    global _warnings_raise
    filters = tuple(warnings.filters)
    cached_filters, raises = _warnings_raise
    if cached_filters == filters:
        return raises
    raises = any(action == 'error' and issubclass(RuntimeWarning, category)
                 for action, _, category, _, _ in filters)
    _warnings_raise = (filters, raises)
    return raises


def _python_float(value):
    """Return an np.float64 `value` as a Python float, and any other value
    as it is."""
    return float(value) if type(value) is np.float64 else value


def _float_scalars_as_numpy(args, kwargs):
    """Return `(args, kwargs)` with each Python float as a NumPy float, or
    None if there is no Python float among them."""
    def convert(value):
        return np.float64(value) if type(value) is float else value
    if not any(type(v) is float for v in (*args, *kwargs.values())):
        return None
    return ([convert(v) for v in args],
            {k: convert(v) for k, v in kwargs.items()})


def _with_numpy_floats_on_error(function, call, args, kwargs, runs=None):
    """Return `call(args, kwargs)`, run again with NumPy floats for Python
    floats when derivative code raised where NumPy gives inf or nan.

    Python floats raise ZeroDivisionError or OverflowError where NumPy
    floats warn: 0.0 ** -0.5 in the derivative of x ** 0.5 at 0. When
    `function` itself raises on the original arguments, that error is
    raised. `runs`, the `Runs` that `call` starts each run with, restores
    what the failed run wrote into the arguments first.
    """
    try:
        return call(args, kwargs)
    except (ZeroDivisionError, OverflowError):
        as_numpy = _float_scalars_as_numpy(args, kwargs)
        if as_numpy is None:
            raise
        if runs is not None:
            runs.reset()
        if _raises_arithmetic_error(function, args, kwargs):
            raise
    return call(*as_numpy)


def _writes_arguments(compiled):
    """Return whether the primal of `compiled` may write into an argument,
    by syntax (`x[i] = v`, `lst.append(v)`) or through a call (see
    adcompiler.call_writes)."""
    return bool(compiled.updated or compiled.call_written)


def _runs_of(function, args, kwargs, needed=True):
    """Return the `Runs` of `function` on these arguments, defaults
    included, which restore the function's globals and closure too. For
    an objective that runs generated code of a user's function, these are
    the user function's globals and closure."""
    arguments = _bind(function, args, kwargs).arguments
    return Runs(arguments.values(), needed, names=tuple(arguments),
                function=_OBJECTIVE_SOURCES.get(function, function))


def _raises_arithmetic_error(function, args, kwargs):
    """Return whether `function(*args, **kwargs)` raises ZeroDivisionError
    or OverflowError."""
    try:
        # On copies, because the function may write into its arguments.
        function(*map(runtime.copy, args), **{
            name: runtime.copy(value) for name, value in kwargs.items()})
    except (ZeroDivisionError, OverflowError):
        return True
    return False


def _with_source(function):
    """Return `function`, or for a gradient made by `grad` a Python function
    with source that computes it, so that jvp, vjp and jacobian can
    transform it. Raise a clear error for anything else without source."""
    if isinstance(function, GradientFunction):
        equivalent = function.__adcompiler_equivalent__()
        if equivalent is not None:
            return equivalent
    _check_differentiable(function)
    return function


def _check_differentiable(function):
    """Raise a clear error unless `function` is a Python function. The
    transforms take bound methods and partials apart before this check."""
    if not callable(function):
        raise InvalidArgumentError(
            f'expected a function to differentiate, got {function!r}')
    if isinstance(function, GradientFunction):
        raise SourceUnavailableError(
            f'cannot differentiate {function.__name__} this way: it is a '
            'gradient made by adcompiler. Use grad(grad(f)) for a scalar '
            'argument, or hessian and hvp.')
    if resolve.has_python_call(function):
        # An object whose __call__ is not transformed: np.vectorize(f).
        raise SourceUnavailableError(
            f'cannot differentiate {function!r}: it is '
            f'{with_article(type(function).__name__)} object of NumPy, whose '
            '__call__ is NumPy-internal source that adcompiler does not '
            'transform. Register a rule for the object '
            '(adcompiler.register_vjp(obj)) and call it from a Python '
            'function.')
    if not isinstance(function, types.FunctionType):
        raise SourceUnavailableError(
            f'cannot differentiate {function!r}: it is '
            f'{with_article(type(function).__name__)}, not a Python function '
            'with source code. Wrap it in a Python function (def f(x): ...).')


def _signature(function):
    """Return `inspect.signature(function)`, made again when the function's
    defaults were replaced since the last call."""
    defaults = defaults_of(function)
    cached = _SIGNATURES.get(function)
    if cached is None or not same_defaults(cached[0], defaults):
        if len(_SIGNATURES) >= 256:
            _SIGNATURES.clear()
        cached = _SIGNATURES[function] = (defaults,
                                          inspect.signature(function))
    return cached[1]


_SIGNATURES = {}  # function -> (its defaults, its signature)


@functools.lru_cache(maxsize=256)
def _positional_names(function):
    """Return the parameter names when every parameter is a plain
    positional-or-keyword one, else None."""
    parameters = _signature(function).parameters.values()
    if all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
           for p in parameters):
        return tuple(p.name for p in parameters)
    return None


def _bind(function, args, kwargs):
    """Bind a call's arguments to `function`'s parameters, with defaults."""
    names = _positional_names(function)
    if not kwargs and names is not None and len(args) == len(names):
        # Every parameter is given by position: no defaults to apply, and
        # Signature.bind (about 5 us) has nothing to check.
        return inspect.BoundArguments(_signature(function),
                                      dict(zip(names, args)))
    try:
        bound = _signature(function).bind(*args, **kwargs)
    except TypeError as err:
        raise ArgumentBindingError(f'{function.__name__}(): {err}') from None
    bound.apply_defaults()
    return bound


def _protected(function, compiled, args, kwargs):
    """Return `(args, kwargs)` of a call of `function` with a copy of each
    argument in `compiled.written_in_place`.

    The generated code writes into those arguments in place, and the
    caller's objects must never change: not after a primal without an
    adjoint (jvp, jacobian), and not when the adjoint stops early.
    """
    written = compiled.written_in_place
    if not written:
        return args, kwargs
    bound = _bind(function, args, kwargs)
    arguments = dict(bound.arguments)
    others = []
    for name, value in arguments.items():
        kind = bound.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            others.extend(value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            others.extend(value.values())
        elif name not in written:
            others.append(value)
    error = InvalidArgumentError(
        f'{function.__name__} writes in place into its argument '
        f'{written[0]!r}, and another argument is the same object or shares '
        'memory with it. adcompiler passes a copy of the written argument, '
        'so the other argument would not see the writes. Pass a copy of '
        'one of them.')
    runtime.check_unshared(error, len(written),
                           *[arguments[name] for name in written], *others)
    for name in written:
        arguments[name] = runtime.copy(arguments[name])
    copied = inspect.BoundArguments(bound.signature, arguments)
    return copied.args, copied.kwargs


def _structures_before_updates(arguments, wrt, compiled):
    """Return `arguments` with a shallow copy of each list, dict or set
    among `wrt` that the function updates in place.

    The generated code gives the caller's container the updates that the
    function makes (see `runtime.write_back`), while the adjoint of that
    argument has the structure it had when the function was called. So
    `_gradients` reads the structure from the copy made before the call.
    """
    copies = None
    for name in wrt:
        value = arguments[name]
        if name in compiled.updated and isinstance(value, (list, dict, set)):
            if copies is None:
                copies = dict(arguments)
            copies[name] = value.copy()
    return arguments if copies is None else copies


def _gradients(adjoints, wrt, arguments):
    """Final gradients: zeros where there was none, no two the same object."""
    if type(adjoints) is tuple and len(adjoints) == 1 == len(wrt):
        # One writeable array gradient of the argument's dtype: the common
        # case, returned as it is without the loop below.
        g, x = adjoints[0], arguments[wrt[0]]
        if (type(x) is np.ndarray and type(g) is np.ndarray
                and g.dtype is x.dtype and g.flags.writeable):
            return adjoints
    gradients = []
    for g, name in zip(adjoints, wrt, strict=True):
        x = arguments[name]
        if type(x) is float and type(g) is float:
            pass  # materialize would return g unchanged.
        elif type(x) is np.float64 and type(g) is float:
            g = np.float64(g)  # From an adjoint run on Python floats.
        elif (type(x) is np.ndarray and type(g) is np.ndarray
              and g.dtype is x.dtype and g.flags.writeable):
            pass
        elif containers.is_container(x):
            g = containers.gradient_like(g, x)
        elif containers.is_constant_leaf(x):
            g = None  # A string or None gets None, as such a leaf does.
        else:
            g = runtime.materialize(g, x)
        for other in gradients:
            if g is other:
                g = runtime.copy(g)  # Each gradient can be updated in place.
                break
        gradients.append(g)
    return tuple(gradients)


def _not_sharing(gradients, cotangent):
    """Return `gradients` with a copy of each array leaf that is an array of
    `cotangent`, so that updating a gradient leaves the caller's cotangent
    as it was (the adjoint of `return x` is the cotangent itself)."""
    given = {id(leaf) for leaf in containers.leaves(cotangent)[0]
             if isinstance(leaf, np.ndarray)}
    if not given:
        return gradients
    copied = []
    for g in gradients:
        parts, rebuild = containers.leaves(g)
        copied.append(rebuild([runtime.copy(leaf) if id(leaf) in given
                               else leaf for leaf in parts]))
    return tuple(copied)


def _detached(value, copies=None):
    """Return `value` with a copy of each array and container in it.

    The adjoint undoes the function's in-place updates (`x[i] = v`,
    `lst.append(v)`) on the objects that the primal made, so that it reads
    the values they held before. What the caller receives (the value of
    `vjp`, the aux data, a 0-d value) must be copied before the adjoint
    runs, or the caller would see those undone updates. An array that
    occurs twice is copied once, and `copies` maps the id of each array
    already copied to its copy.
    """
    if copies is None:
        copies = {}
    if isinstance(value, np.ndarray):
        if id(value) not in copies:
            copies[id(value)] = value.copy()
        return copies[id(value)]
    parts = containers.flatten(value)
    if parts is None:
        return value
    children, rebuild = parts
    return rebuild([_detached(child, copies) for child in children])


def _require_float(function, name, value, alternative=''):
    """Reject an argument to differentiate that is an integer, a boolean, or
    an object that is not a container (see adcompiler.containers).

    `alternative` ends the message with another way out, such as
    ", or None as its tangent".
    """
    if containers.is_container(value):
        containers.check_differentiable(value, function.__name__, name)
        return
    kind = None
    if isinstance(value, (bool, np.bool_)):
        kind = 'a boolean'
    elif isinstance(value, (int, np.integer)):
        kind = 'an integer'
    elif isinstance(value, np.ndarray) and value.dtype.kind in 'biu':
        kind = f'an array of {value.dtype}'
    if kind is not None:
        raise InvalidArgumentError(
            f'cannot differentiate {function.__name__} with respect to '
            f'{name!r}: it is {kind}, which has no derivative. Pass a float '
            f'(for example {name}=float(...) or an array with dtype=float)'
            f'{alternative}.')
    containers.check_differentiable(value, function.__name__, name)


def _split_aux(function, ans):
    if not isinstance(ans, (tuple, list)) or len(ans) != 2:
        raise InvalidArgumentError(
            f'{function.__name__} must return a pair (value, aux) when '
            f'has_aux=True; it returned {type(ans).__name__}')
    return ans[0], ans[1]


def _check_scalar(function, ans):
    _require_scalar(getattr(function, '__name__', repr(function)), ans,
                    'grad and value_and_grad need')


def check_objective_output(ans, name):
    """Raise NonScalarOutputError unless `ans`, the output of the user's
    function `name`, is a scalar.

    The gradient and tangent objectives call it because the transforms that
    differentiate them again need a scalar function. A check of the
    objective's own output would name the generated function instead, and
    forward over reverse would not check at all.
    """
    _require_scalar(name, ans, 'hessian, hvp and grad of grad need')
    runs = _OUTPUT_CHECKS.get()
    if runs is not None:
        runs.check_output('value', ans)


REGISTRY.non_differentiable(check_objective_output)

# The `Runs` of the Hessian-vector product being computed, which
# `check_objective_output` gives the user function's output to.
_OUTPUT_CHECKS = contextvars.ContextVar('adcompiler_output_checks',
                                        default=None)


@contextlib.contextmanager
def _outputs_checked_by(runs):
    """Give the outputs that objectives see in this block to
    `runs.check_output`."""
    token = _OUTPUT_CHECKS.set(runs)
    try:
        yield
    finally:
        _OUTPUT_CHECKS.reset(token)


def _require_scalar(name, ans, transforms_need):
    if ans is None:
        raise NonScalarOutputError(
            f'{name} returned None; {transforms_need} a function that returns '
            'a scalar (add a return statement)')
    shape = np.shape(ans)
    if shape != ():
        raise NonScalarOutputError(
            f'{name} returned {_describe_output(ans, shape)}; '
            f'{transforms_need} a scalar output. Reduce it to a scalar (for '
            'example with np.sum), or use adcompiler.jacobian or '
            'adcompiler.vjp.')
    if not isinstance(ans, (int, float, complex, np.number, np.ndarray)) or \
            isinstance(ans, bool):
        raise NonScalarOutputError(
            f'{name} returned {with_article(type(ans).__name__)}, not a number; '
            f'{transforms_need} a function whose output is a float')
    if np.iscomplexobj(ans):
        # As in JAX: a complex output has a derivative for each of its real
        # and imaginary parts, and grad cannot choose between them.
        raise NonScalarOutputError(
            f'{name} returned the complex number {ans!r}; {transforms_need} '
            'a real output. Differentiate a real function of it (np.real, '
            'np.imag, np.abs), or call adcompiler.vjp, whose cotangent 1.0 '
            'gives the derivative of the real part for a real input, and '
            'f\'(z) for a holomorphic f of a complex z.')


# How many objectives `tangent_objective` and `gradient_objective` keep each,
# and how many failures `_FAILED_WHEN_RUN` keeps.
MAX_CACHED_OBJECTIVES = 256

# (function, parameter, objects) -> (compiled tangent, objective)
_OBJECTIVES = bounded.LruCache(MAX_CACHED_OBJECTIVES)


def tangent_objective(function, parameter, objects=frozenset()):
    """A function with source that returns the tangent of `function`.

    `objective(*args, direction=v, **kwargs)` is the derivative of
    `function(*args, **kwargs)` along `v` for `parameter`. The direction
    is a keyword-only parameter, renamed when `function` has a parameter of
    that name. The objective calls the generated tangent function, so
    differentiating it again differentiates generated code.
    """
    compiled = _COMPILER.compile_forward(function, (parameter,),
                                         objects=objects)
    cached = _OBJECTIVES.get((function, parameter, objects))
    if cached is not None and cached[0] is compiled:
        return cached[1]
    signature = _signature(function)
    direction = 'direction'
    while direction in signature.parameters:
        direction += '_'
    params, arguments = _forwarded_parameters(signature, direction)
    arguments += f', {compiled.tangent_params[0]}={direction}'
    name = f'tangent_of_{identifier(function.__name__)}'
    text = (f'def {name}({params}):\n'
            f'    value, tangent = {compiled.name}({arguments})\n'
            f'    check_objective_output(value, {function.__name__!r})\n'
            f'    return tangent\n')
    objective = _define_objective(name, text, function,
                                  {compiled.name: compiled.tangent})
    _OBJECTIVES[(function, parameter, objects)] = (compiled, objective)
    return objective


def _forwarded_parameters(signature, keyword_only=None):
    """Return the parameter list and the call arguments of a wrapper that
    takes the parameters of `signature` and passes each on in the same way.

    Defaults are left out of the list. `keyword_only` names an extra
    keyword-only parameter of the wrapper, which is not passed on.
    """
    parameters = [p.replace(default=inspect.Parameter.empty,
                            annotation=inspect.Parameter.empty)
                  for p in signature.parameters.values()]
    arguments = []
    for p in parameters:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            arguments.append(f'*{p.name}')
        elif p.kind is inspect.Parameter.VAR_KEYWORD:
            arguments.append(f'**{p.name}')
        elif p.kind is inspect.Parameter.KEYWORD_ONLY:
            arguments.append(f'{p.name}={p.name}')
        else:
            arguments.append(p.name)
    if keyword_only is not None:
        extra = inspect.Parameter(keyword_only, inspect.Parameter.KEYWORD_ONLY)
        position = len(parameters)
        if parameters and parameters[-1].kind is \
                inspect.Parameter.VAR_KEYWORD:
            position -= 1
        parameters.insert(position, extra)
    rendered = str(signature.replace(parameters=parameters,
                                     return_annotation=inspect.Signature.empty))
    return rendered[1:-1], ', '.join(arguments)


def _direction_names(objective, function):
    """Return the names of the direction parameters that `tangent_objective`
    added to `function`'s parameters to make `objective`, innermost first."""
    given = _signature(function).parameters
    return [name for name in _signature(objective).parameters
            if name not in given]


def _define_objective(name, text, function, scope):
    """Compile `text`, the definition of function `name`, with `scope` as
    its globals, and return the function with the defaults of `function`.

    The lines are registered in linecache, so that adcompiler can read the
    source again and tracebacks show it.
    """
    filename = emit.generated_filename('objective')
    scope = {**scope, 'check_objective_output': check_objective_output,
             '__name__': __name__}
    exec(compile(text, filename, 'exec'), scope)  # noqa: S102
    objective = scope[name]
    emit.register_lines(filename, text, objective)
    objective.__defaults__ = function.__defaults__
    objective.__kwdefaults__ = function.__kwdefaults__
    _OBJECTIVE_SOURCES[objective] = _OBJECTIVE_SOURCES.get(function,
                                                        function)
    return objective


# objective -> the user's function whose generated code it runs. The
# objective's globals are its own, so `Runs` records the user function's.
_OBJECTIVE_SOURCES = weakref.WeakKeyDictionary()

# (function, parameter, objects) -> (compiled, objective)
_GRADIENT_OBJECTIVES = bounded.LruCache(MAX_CACHED_OBJECTIVES)


def gradient_objective(function, parameter, objects=frozenset()):
    """A function with source that returns the gradient of `function`.

    `objective(*args)` runs the generated primal and adjoint of `function`
    for `parameter`, so forward mode over it differentiates generated
    adjoint code (forward over reverse).

    The adjoint of a list or tuple that a rule read as an array
    (`np.dot(rows, x)`) is an array, which the objective turns into the
    list or tuple of its rows, as `grad` returns (see
    `runtime.sequence_gradient`).

    NOTE: otherwise it returns the adjoint as the generated code computes
    it, without the rest of the final conversion of `_gradients`: a named
    tuple read as an array keeps an array adjoint, and a float leaf may
    get a NumPy float.
    """
    compiled = _COMPILER.compile(function, (parameter,), objects=objects,
                                 grad_only=False)
    cached = _GRADIENT_OBJECTIVES.get((function, parameter, objects))
    if cached is not None and cached[0] is compiled:
        return cached[1]
    params, arguments = _forwarded_parameters(_signature(function))
    name = f'gradient_of_{identifier(function.__name__)}'
    text = (f'def {name}({params}):\n'
            f'    value, saved = {compiled.primal_name}({arguments})\n'
            f'    check_objective_output(value, {function.__name__!r})\n'
            f'    gradients = {compiled.adjoint_name}(saved, 1.0)\n'
            f'    return sequence_gradient(gradients[0], {parameter})\n')
    objective = _define_objective(name, text, function, {
        compiled.primal_name: compiled.primal,
        compiled.adjoint_name: compiled.adjoint,
        'sequence_gradient': runtime.sequence_gradient})
    _GRADIENT_OBJECTIVES[(function, parameter, objects)] = (compiled,
                                                             objective)
    return objective


class HigherOrderGradient:
    """`grad` of a gradient: forward mode for the inner derivatives, then
    reverse mode for the outer one.

    The inner derivatives must be with respect to scalar arguments (for
    arrays, use `hessian` or `hvp`).
    """

    def __init__(self, inner, wrt):
        if isinstance(inner, HigherOrderGradient):
            self.function = inner.function
            self.inner_wrt = inner.inner_wrt + (inner.wrt,)
        else:
            if inner.with_value or inner.has_aux or len(inner.wrt) != 1:
                raise InvalidArgumentError(
                    'grad of a gradient needs an inner grad of one argument, '
                    'without value or has_aux')
            self.function = inner.function
            self.inner_wrt = (inner.wrt[0],)
        names, as_tuple = _wrt_names(self.function, wrt)
        if as_tuple or len(names) != 1:
            raise InvalidArgumentError(
                'grad of a gradient takes one wrt argument')
        self.wrt = names[0]
        self.__name__ = f'grad_{getattr(inner, "__name__", "gradient")}'

    @_noting_user_lines
    def __call__(self, *args, **kwargs):
        runs = _runs_of(self.function, args, kwargs)
        return _with_numpy_floats_on_error(
            self.function, lambda a, k: self._call(a, k, runs), args, kwargs,
            runs)

    def _call(self, args, kwargs, runs):
        bound = _bind(self.function, args, kwargs)
        for parameter in self.inner_wrt:
            if np.ndim(bound.arguments[parameter]) != 0:
                raise NonScalarOutputError(
                    f'grad of a gradient differentiates the gradient with '
                    f'respect to {parameter!r}, which must be a scalar for '
                    'the gradient to be one; use hessian or hvp for arrays')
        objects = describe_objects(bound.arguments.items())
        objective = self.function
        for parameter in self.inner_wrt:
            objective = tangent_objective(objective, parameter, objects)
        directions = dict.fromkeys(_direction_names(objective, self.function),
                                   1.0)
        runs.start()
        # The objective runs the tangent function of self.function, which
        # may write into some arguments.
        args, kwargs = _protected(
            self.function,
            _COMPILER.compile_forward(self.function, self.inner_wrt[:1],
                                      objects=objects),
            bound.args, bound.kwargs)
        return grad(objective, wrt=self.wrt)(*args, **kwargs, **directions)


class BoundGradient:
    """The gradient of a bound method or partial: the gradient of the
    underlying function, called with the bound values first (see
    adcompiler.bound_callables)."""

    def __init__(self, gradient, unbound):
        self.gradient = gradient  # a GradientFunction or HigherOrderGradient
        self.unbound = unbound
        self.__name__ = gradient.__name__
        self.__qualname__ = gradient.__name__

    def __call__(self, *args, **kwargs):
        unbound = self.unbound
        return self.gradient(*unbound.args, *args,
                             **{**unbound.keywords, **kwargs})

    @property
    def source(self):
        """The generated source of the underlying function's gradient."""
        return self.gradient.source

    def __repr__(self):
        return f'<adcompiler {self.__name__} of {self.unbound.description}>'

    def __adcompiler_unsupported__(self):
        """Return (what this gradient is, what to call instead): a
        differentiated function may not call it."""
        name = self.unbound.function.__name__
        return (f'a gradient of {self.unbound.description}',
                f'call adcompiler.grad({name}) and pass the bound values '
                'as arguments')


def _unbind(function):
    """Return the `bound_callables.Unbound` of a bound method, a partial, a
    callable object or a `BoundGradient`, or None for any other callable."""
    if isinstance(function, BoundGradient):
        return function.unbound.replace_function(function.gradient)
    if isinstance(function, (GradientFunction, HigherOrderGradient)):
        return None  # Objects of adcompiler, with their own paths.
    return bound_callables.unbind(function)


def _with_bound_values(transformed, unbound):
    """Return a function that calls `transformed` with the values that
    `unbound` binds first, as calling the partial or method would."""
    def call(*args, **kwargs):
        return transformed(*unbound.args, *args,
                           **{**unbound.keywords, **kwargs})

    call.__name__ = call.__qualname__ = transformed.__name__
    return call


class Composition(enum.Enum):
    """The order in which `hvp` and `hessian` compose two first-order modes, outer first."""

    FORWARD_OVER_REVERSE = 'forward-over-reverse'
    REVERSE_OVER_FORWARD = 'reverse-over-forward'
    REVERSE_OVER_REVERSE = 'reverse-over-reverse'


def _composition(mode):
    """Return the `Composition` for `mode` (None, a member or its value)."""
    if mode is None or isinstance(mode, Composition):
        return mode
    try:
        return Composition(mode)
    except ValueError:
        choices = ', '.join(repr(c.value) for c in Composition)
        raise InvalidArgumentError(
            f'mode must be one of {choices} or None, got {mode!r}') from None


# Each method returns H_ij v_j, the block of the Hessian for the arguments
# `row` (i) and `column` (j) times a direction `direction` (v_j) of
# argument j, with argument i's shape. For one argument, row is column.
# Each runs the function once, and calls `runs.start()` (see
# adcompiler.argument_state) right before.

def _reverse_over_forward(function, row, column, bound, direction, runs):
    """H_ij v_j as the gradient for i of the generated derivative along
    v_j."""
    objects = describe_objects(bound.arguments.items())
    objective = tangent_objective(function, column, objects)
    name, = _direction_names(objective, function)
    runs.start()
    # The objective runs the tangent function of `function`, which may
    # write into some arguments.
    args, kwargs = _protected(
        function, _COMPILER.compile_forward(function, (column,),
                                            objects=objects),
        bound.args, bound.kwargs)
    return grad(objective, wrt=row)(*args, **kwargs, **{name: direction})


def _forward_over_reverse(function, row, column, bound, direction, runs):
    """H_ij v_j as the tangent along v_j of the generated gradient for i."""
    objects = describe_objects(bound.arguments.items())
    objective = gradient_objective(function, row, objects)
    compiled = _COMPILER.compile_forward(objective, (column,),
                                         objects=objects)
    runs.start()
    # The objective runs the primal of `function`, which may write into
    # some arguments.
    args, kwargs = _protected(
        function, _COMPILER.compile(function, (row,), objects=objects,
                                    grad_only=False),
        bound.args, bound.kwargs)
    gradient, product = compiled.tangent(
        *args, **kwargs, **{compiled.tangent_params[0]: direction})
    runs.check_output(('gradient', row), gradient)
    return runtime.materialize(product, bound.arguments[row])


def _reverse_over_reverse(function, row, column, bound, direction, runs):
    """H_ij v_j as the gradient for i of the generated gradient for j, with
    cotangent v_j (the Hessian is symmetric)."""
    objects = describe_objects(bound.arguments.items())
    objective = gradient_objective(function, column, objects)
    compiled = _COMPILER.compile(objective, (row,), objects=objects,
                                 grad_only=False)
    runs.start()
    # The objective runs the primal of `function`, which may write into
    # some arguments.
    args, kwargs = _protected(
        function, _COMPILER.compile(function, (column,), objects=objects,
                                    grad_only=False),
        bound.args, bound.kwargs)
    gradient, saved = compiled.primal(*args, **kwargs)
    runs.check_output(('gradient', column), gradient)
    product, = compiled.adjoint(saved, direction)
    return runtime.materialize(product, bound.arguments[row])


_HVP_METHODS = {
    Composition.FORWARD_OVER_REVERSE: _forward_over_reverse,
    Composition.REVERSE_OVER_FORWARD: _reverse_over_forward,
    Composition.REVERSE_OVER_REVERSE: _reverse_over_reverse,
}


# (function, row, column, objects) -> (registry version, function's code)
# when forward over reverse mode raised while it ran.
_FAILED_WHEN_RUN = bounded.LruCache(MAX_CACHED_OBJECTIVES)


def _hessian_block_product(function, composition, row, column, bound,
                           direction, runs):
    """Return H_ij v_j (see the methods above) in the mode `composition`,
    or for None the default mode that `hvp` describes."""
    with _outputs_checked_by(runs):
        return _block_product_in_mode(function, composition, row, column,
                                      bound, direction, runs)


def _block_product_in_mode(function, composition, row, column, bound,
                           direction, runs):
    """Return what `_hessian_block_product` returns."""
    if composition is not None:
        return _HVP_METHODS[composition](function, row, column, bound,
                                         direction, runs)
    methods = [_reverse_over_forward]
    objects = describe_objects(bound.arguments.items())
    key = (function, row, column, objects)
    try:
        tangent = _COMPILER.compile_forward(
            gradient_objective(function, row, objects), (column,),
            objects=objects)
    except (UnsupportedSyntaxError, ForeignCallError):
        tangent = None
    state = (REGISTRY.version, function.__code__)
    if tangent is not None and _FAILED_WHEN_RUN.get(key) != state:
        methods.insert(0, _forward_over_reverse)
    first_error = None
    for method in methods:
        try:
            return method(function, row, column, bound, direction, runs)
        except (UnsupportedSyntaxError, ForeignCallError) as err:
            # A call dispatched at run time, or a branch that the compiled
            # code could not differentiate, may raise only now, after the
            # function's statements ran once.
            # NOTE: so a first call that falls back runs them twice. Later
            # calls skip the method that raised until a rule is registered
            # or the function's code changes.
            if method is _forward_over_reverse:
                _FAILED_WHEN_RUN[key] = state
            first_error = first_error or err
    # Forward mode cannot go through a callee with only a reverse rule
    # (register_vjp), but reverse mode over reverse mode can.
    try:
        return _reverse_over_reverse(function, row, column, bound, direction,
                                     runs)
    except AdCompilerError:
        raise first_error from None


def _hessian_product(function, composition, names, bound, directions, runs):
    """Return H v for the arguments `names`, one product per argument:
    (H v)_i is the sum over j of H_ij v_j. A None direction is zero."""
    products = []
    for row in names:
        total = None
        for column, direction in zip(names, directions, strict=True):
            if direction is None:
                continue
            block = _hessian_block_product(function, composition, row,
                                           column, bound, direction, runs)
            total = block if total is None else total + block
        if total is None:
            total = runtime.zeros_like(bound.arguments[row])
        products.append(total)
    return products


def hvp(function, wrt=0, mode=None):
    """Return `hvp_fn(*args, v, **kwargs)`, the Hessian of scalar
    `function` with respect to argument `wrt` times the vector `v`, without
    forming the Hessian.

    For a tuple `wrt`, `v` is a tuple with one direction per argument in
    `wrt` (None for a zero), and `hvp_fn` returns a tuple with one product
    per argument: for arguments x and y, (H_xx v_x + H_xy v_y,
    H_yx v_x + H_yy v_y).

    `mode` picks how generated code is differentiated again:
    'forward-over-reverse' (forward mode over the generated gradient),
    'reverse-over-forward' (reverse mode over the generated directional
    derivative) or 'reverse-over-reverse' (reverse mode over the generated
    gradient). The default, None, is forward over reverse, reverse over
    forward where forward mode cannot go through the generated adjoint code,
    and reverse over reverse where neither forward composition can be built
    (a callee with only a reverse rule, say).
    """
    unbound = _unbind(function)
    if unbound is not None:
        return _with_bound_values(
            hvp(unbound.function, unbound.wrt_names(wrt), mode), unbound)
    _check_differentiable(function)
    names, as_tuple = _wrt_names(function, wrt)
    composition = _composition(mode)

    @_noting_user_lines
    def hvp_fn(*args, **kwargs):
        if not args:
            raise ArgumentBindingError(
                f'hvp of {function.__name__} takes the arguments of '
                f'{function.__name__} followed by a direction; got none')
        *primals, direction = args
        runs = _runs_of(function, primals, kwargs)
        return _with_numpy_floats_on_error(
            function, lambda a, k: product(a, k, direction, runs), primals,
            kwargs, runs)

    def product(primals, kwargs, direction, runs):
        bound = _bind(function, primals, kwargs)
        _reject_array_subclasses(function, bound.arguments, 'hvp')
        checked = []
        for name, given in zip(names, _hvp_directions(
                function, names, as_tuple, direction), strict=True):
            _require_float(function, name, bound.arguments[name])
            _reject_array_conversion(function, name, bound.arguments[name],
                                     'hvp')
            if isinstance(bound.arguments[name], np.matrix):
                containers.check_differentiable(bound.arguments[name],
                                                function.__name__, name)
            checked.append(_check_like(
                given, bound.arguments[name],
                f'the direction given to hvp of {function.__name__} '
                f'for {name!r}' if as_tuple else
                f'the direction given to hvp of {function.__name__}',
                f'argument {name!r}'))
        directions = tuple(checked)
        direction = directions if as_tuple else directions[0]
        if not as_tuple:
            return _hessian_block_product(function, composition, names[0],
                                          names[0], bound, direction, runs)
        return tuple(_hessian_product(function, composition, names, bound,
                                      directions, runs))

    hvp_fn.__name__ = f'hvp_{function.__name__}'
    return hvp_fn


def _hvp_directions(function, names, as_tuple, direction):
    """Return one direction per argument in `names` from the `v` given to
    `hvp_fn`: a tuple of them for a tuple `wrt`."""
    if not as_tuple:
        return (direction,)
    if not isinstance(direction, (tuple, list)) or len(direction) != len(
            names):
        raise InvalidArgumentError(
            f'hvp of {function.__name__} with respect to {len(names)} '
            f'arguments {list(names)} takes a tuple of {len(names)} '
            f'directions, one per argument, as its last argument; got '
            f'{_describe_value(direction)}')
    return tuple(direction)


def hessian(function, wrt=0, mode=None):
    """Return a function computing the Hessian of scalar `function` with
    respect to argument `wrt`: shape A + A for an argument of shape A.

    For a tuple `wrt`, the Hessian is a tuple of tuples of blocks, as in
    jax.hessian: block [i][j] has shape A_i + A_j and holds the second
    derivatives with respect to arguments wrt[i] and wrt[j].

    `mode` is as for `hvp`; the Hessian is built one `hvp` per column.
    """
    unbound = _unbind(function)
    if unbound is not None:
        return _with_bound_values(
            hessian(unbound.function, unbound.wrt_names(wrt), mode), unbound)
    _check_differentiable(function)
    names, as_tuple = _wrt_names(function, wrt)
    composition = _composition(mode)

    @_noting_user_lines
    def hessian_fn(*args, **kwargs):
        bound = _bind(function, args, kwargs)
        _reject_array_subclasses(function, bound.arguments, 'hessian')
        runs = Runs(bound.arguments.values(), names=tuple(bound.arguments),
                    function=function)
        for name in names:
            _reject_array_conversion(function, name, bound.arguments[name],
                                     'hessian')
            _require_hessian_argument(function, name, bound.arguments[name])
        blocks = [[None] * len(names) for _ in names]
        for j, column in enumerate(names):
            x = bound.arguments[column]
            products = [[] for _ in names]  # per row, one per entry of x
            for direction in _hessian_directions(x):
                for i, row in enumerate(names):
                    products[i].append(_with_numpy_floats_on_error(
                        function, lambda a, k: _hessian_block_product(
                            function, composition, row, column,
                            _bind(function, a, k), direction, runs),
                        bound.args, bound.kwargs, runs))
            for i, row in enumerate(names):
                blocks[i][j] = _hessian_block(products[i],
                                              bound.arguments[row], x)
        if not as_tuple:
            return blocks[0][0]
        return tuple(tuple(row) for row in blocks)

    hessian_fn.__name__ = f'hessian_{function.__name__}'
    return hessian_fn


def _require_hessian_argument(function, name, x):
    """Raise a clear error for an argument `hessian` cannot index."""
    if isinstance(x, np.matrix):
        containers.check_differentiable(x, function.__name__, name)
    _require_array(function, name, x, 'hessian')
    if np.iscomplexobj(x):
        raise InvalidArgumentError(
            f'hessian of {function.__name__} with respect to the complex '
            f'argument {name!r} is not one complex matrix (a complex '
            'entry has two real directions); use hvp along each '
            'direction, or split the argument into its real and '
            'imaginary parts')


def _hessian_dtype(x):
    # The Hessian has the input's precision, as its gradient has.
    dtype = np.result_type(x)
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(float)


def _hessian_directions(x):
    """Yield the unit direction of each entry of argument `x`, in C order,
    with the type of `x` (a Python float for a float)."""
    shape = np.shape(x)
    dtype = _hessian_dtype(x)
    for index in np.ndindex(shape):
        if not shape:
            yield 1.0 if isinstance(x, float) else dtype.type(1.0)
            continue
        direction = np.zeros(shape, dtype=dtype)
        direction[index] = 1.0
        yield direction


def _hessian_block(columns, row_argument, column_argument):
    """Stack the products H_ij e_k, one per entry k of argument j, into the
    block of shape A_i + A_j."""
    row_shape = np.shape(row_argument)
    column_shape = np.shape(column_argument)
    dtype = np.result_type(_hessian_dtype(row_argument),
                           _hessian_dtype(column_argument))
    if not columns:
        block = np.zeros(row_shape + column_shape, dtype=dtype)
    else:
        entries = [np.asarray(c, dtype=dtype) for c in columns]
        block = np.stack(entries, axis=-1).reshape(row_shape + column_shape)
    return _scalar_of_kind(block, row_argument, column_argument)


def _scalar_of_kind(derivative, *references):
    """Return a 0-d real `derivative` with the kind of the scalar
    `references`, the arguments of a Jacobian or Hessian block or the
    output of a tangent. It is a Python float when they all are Python
    floats, and a NumPy scalar when one is a NumPy float scalar. Any other
    derivative is returned as it is."""
    if derivative is None or np.ndim(derivative) != 0 or np.iscomplexobj(
            derivative):
        return derivative
    if all(type(x) is float for x in references):
        return float(derivative)
    if any(isinstance(x, np.floating) for x in references):
        return np.asarray(derivative)[()]
    return derivative


def _describe_output(ans, shape):
    if isinstance(ans, (list, tuple)):
        return f'{with_article(type(ans).__name__)} of {len(ans)} items'
    return f'an array of shape {shape}'


def grad(function=None, *, wrt=0, has_aux=False):
    """Return a function that computes the gradient of `function`.

    Args:
        function: a Python function with a scalar output.
        wrt: the argument to differentiate, by position or name, or a tuple
            of them; a tuple returns a tuple of gradients.
        has_aux: the function returns a pair (value, aux); the gradient
            function then returns (gradient, aux).

    Usable as `grad(f)`, `@grad` and `@grad(wrt=...)`.

    Example:
        >>> def f(x):
        ...     return np.sum(x ** 2)
        >>> grad(f)(np.array([1.0, 2.0]))
        array([2., 4.])
    """
    if function is None:
        return functools.partial(grad, wrt=wrt, has_aux=has_aux)
    unbound = _unbind(function)
    if unbound is not None:
        return BoundGradient(grad(unbound.function,
                                  wrt=unbound.wrt_names(wrt),
                                  has_aux=has_aux), unbound)
    if isinstance(function, (GradientFunction, HigherOrderGradient)):
        return HigherOrderGradient(function, wrt)
    return GradientFunction(function, wrt, with_value=False, has_aux=has_aux)


def value_and_grad(function=None, *, wrt=0, has_aux=False):
    """Like `grad`, but the returned function returns `(value, gradient)`."""
    if function is None:
        return functools.partial(value_and_grad, wrt=wrt, has_aux=has_aux)
    unbound = _unbind(function)
    if unbound is not None:
        return BoundGradient(value_and_grad(unbound.function,
                                            wrt=unbound.wrt_names(wrt),
                                            has_aux=has_aux), unbound)
    return GradientFunction(function, wrt, with_value=True, has_aux=has_aux)


@_noting_user_lines
def jvp(function, primals, tangents):
    """Return `(function(*primals), tangent of the output)` in forward mode.

    Args:
        function: a Python function.
        primals: a tuple of its positional arguments.
        tangents: a tuple of the same length; None where an argument is
            held constant.

    Example:
        >>> jvp(np.sin, ...)  # doctest: +SKIP
        >>> value, tangent = jvp(f, (x,), (v,))   # the directional derivative
    """
    return _jvp(function, primals, tangents)


def _jvp(function, primals, tangents, runs=None):
    """Return what `jvp` returns. Each run of `function` starts with
    `runs`, which by default records the arguments only when a run on
    NumPy floats may follow (see `_with_numpy_floats_on_error`).

    For a bound method or partial, the bound values come before `primals`
    and are held constant."""
    unbound = _unbind(function)
    bound_args, bound_keywords = (), {}
    if unbound is not None:
        function = unbound.function
        bound_args, bound_keywords = unbound.args, unbound.keywords
    function = _with_source(function)
    for name, given in (('primals', primals), ('tangents', tangents)):
        if not isinstance(given, (tuple, list)):
            raise InvalidArgumentError(
                f'jvp takes {name} as a tuple with one entry per positional '
                f'argument of {function.__name__}, such as (x,) for one, '
                f'not {type(given).__name__}')
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise InvalidArgumentError(
            f'jvp needs one tangent per primal; got {len(primals)} primals '
            f'and {len(tangents)} tangents')
    bound = _bind(function, bound_args + primals, bound_keywords)
    tangents = (None,) * len(bound_args) + tangents
    return _bound_jvp(function, bound,
                      _tangents_by_parameter(function, bound, tangents),
                      runs)


def _tangents_by_parameter(function, bound, tangents):
    """Return the dict of parameter name -> tangent for the positional
    `tangents` of a call bound to `bound`. A `*args` parameter gets the
    tuple of its arguments' tangents, with zeros in place of None, and no
    entry when all of them are None."""
    parameters = _signature(function).parameters
    by_name = {}
    position = 0
    for name, value in bound.arguments.items():
        kind = parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            collected = tangents[position:position + len(value)]
            position += len(value)
            if any(tangent is not None for tangent in collected):
                by_name[name] = tuple(
                    runtime.zeros_like(primal) if tangent is None
                    else tangent for primal, tangent in zip(
                        value, collected, strict=True))
        elif kind in (inspect.Parameter.POSITIONAL_ONLY,
                      inspect.Parameter.POSITIONAL_OR_KEYWORD) \
                and position < len(tangents):
            by_name[name] = tangents[position]
            position += 1
    return by_name


def _bound_jvp(function, bound, tangents, runs=None):
    """Return what `jvp` returns for the bound arguments `bound` and a dict
    `tangents` of parameter name -> tangent (None or absent where the
    argument is held constant), which may name keyword-only parameters.
    `runs` is as in `_jvp`."""
    arguments = bound.arguments
    _reject_array_subclasses(function, arguments, 'jvp')
    tangents = dict(tangents)
    for name, tangent in list(tangents.items()):
        if tangent is not None:
            primal = arguments[name]
            # An int has no derivative, as in grad and jacobian: ignoring
            # the tangent would drop a derivative where a float was meant.
            _require_float(function, name, primal,
                           ', or None as its tangent')
            _reject_array_conversion(function, name, primal, 'jvp')
            if containers.is_container(primal) or isinstance(primal,
                                                             np.matrix):
                containers.check_differentiable(primal, function.__name__,
                                                name)
            tangents[name] = _check_tangent(function, name, primal, tangent)
    wrt = tuple(name for name in arguments
                if tangents.get(name) is not None)
    compiled = _COMPILER.compile_forward(
        function, wrt, objects=describe_objects(arguments.items()))
    given = {}
    for param, tangent_param in zip(wrt, compiled.tangent_params,
                                    strict=True):
        tangent = tangents[param]
        if containers.is_container(arguments[param]):
            tangent = containers.tangent_input(tangent, arguments[param])
        given[tangent_param] = tangent

    def tangent_at(args, kwargs):
        runs.start()
        args, kwargs = _protected(function, compiled, args, kwargs)
        return compiled.tangent(*args, **kwargs, **given)

    as_numpy = _float_scalars_as_numpy(bound.args, bound.kwargs)
    if runs is None:
        runs = Runs(arguments.values(), needed=as_numpy is not None,
                    names=tuple(arguments))
        if as_numpy is not None and _reaches_hidden_state(function,
                                                          compiled):
            # See `_Variant.numpy_floats_first`.
            value, tangent = tangent_at(*as_numpy)
        else:
            value, tangent = _with_numpy_floats_on_error(
                function, tangent_at, bound.args, bound.kwargs, runs)
    else:
        value, tangent = _with_numpy_floats_on_error(
            function, tangent_at, bound.args, bound.kwargs, runs)
    if containers.is_container(value):
        return value, containers.tangent_like(tangent, value)
    if tangent is None:
        return value, runtime.zeros_like(value)
    return value, _scalar_of_kind(tangent, value)


# id of a compiled tangent function -> (it, what `hidden_state_of` returned
# for the function it was compiled from).
_HIDDEN_STATE = {}


def _reaches_hidden_state(function, compiled):
    """Return whether `function`, compiled as `compiled`, reaches state
    beyond its arguments (see `argument_state.hidden_state_of`)."""
    cached = _HIDDEN_STATE.get(id(compiled))
    if cached is None or cached[0] is not compiled:
        if len(_HIDDEN_STATE) >= _MAX_KEYS:
            _HIDDEN_STATE.clear()
        cached = (compiled, hidden_state_of(function))
        _HIDDEN_STATE[id(compiled)] = cached
    return cached[1] is not None


def _check_tangent(function, name, primal, tangent):
    """Raise a clear error for a tangent whose structure or shapes are not
    its primal's."""
    if containers.is_container(primal):
        containers.check_differentiable(primal, function.__name__, name)
        primal_leaves = containers.leaves(primal)[0]
        tangent_leaves = containers.leaves(tangent)[0]
        if type(tangent) is not type(primal) or \
                len(tangent_leaves) != len(primal_leaves):
            raise InvalidArgumentError(
                f'the tangent of {name!r} must have the structure of the '
                f'primal, {with_article(type(primal).__name__)} with '
                f'{len(primal_leaves)} leaves; got a '
                f'{type(tangent).__name__} with {len(tangent_leaves)}')
    return _check_like(tangent, primal, f'the tangent of {name!r}',
                       'the primal')


def _check_like(given, reference, label, owner):
    """Return `given` with the structure of `reference`, or raise
    InvalidArgumentError.

    At each float leaf of `reference`, `given` must have its shape, and
    it becomes an array or number of the leaf's dtype when it is a list,
    a tuple or an integer. A boolean, a string, an object, and a complex
    value for a real leaf are rejected: the generated code would repeat
    a list (`[1.0] * 2`) or drop an imaginary part instead of failing.
    `label` names `given` in the message ("the tangent of 'x'") and
    `owner` names `reference` ("the primal"). None in `given` stands for
    a zero and matches anything.
    """
    return _conformed(given, reference, label, owner, '')


def _conformed(t, x, label, owner, path):
    if t is None:
        return None
    at_path = f' at {path}' if path else ''
    at_same_path = ' there' if path else ''
    parts = containers.flatten(x)
    if parts is not None:
        children = _matching_children(t, x)
        if children is None:
            raise InvalidArgumentError(
                f'{label}{at_path} must have the structure of {owner}'
                f'{at_same_path}, {_describe_value(x)}; got '
                f'{_describe_value(t)}')
        if isinstance(x, dict):
            return {key: _conformed(t_child, x_child, label, owner,
                                    child_path)
                    for (t_child, x_child, child_path), key
                    in zip(children(path), x, strict=True)}
        conformed = [_conformed(t_child, x_child, label, owner, child_path)
                     for t_child, x_child, child_path in children(path)]
        t_children, rebuild = containers.flatten(t)
        if all(new is old for new, old in zip(conformed, t_children,
                                              strict=True)):
            return t
        return rebuild(conformed)
    if not containers.is_float_leaf(x):
        return t
    t = _numeric_leaf(t, x, f'{label}{at_path}', f'{owner}{at_same_path}')
    if np.shape(t) != np.shape(x):
        raise InvalidArgumentError(
            f'{label}{at_path} must have shape {np.shape(x)}, as {owner} '
            f'has{at_same_path}; got shape {np.shape(t)}')
    return t


def _numeric_leaf(t, x, label, owner):
    """Return `t`, given for the float leaf `x`, as a float or complex
    array or number (see `_check_like`)."""
    if isinstance(t, (float, complex, np.inexact)) or (
            isinstance(t, np.ndarray) and t.dtype.kind in 'fc'):
        converted = t
    else:
        try:
            values = np.asarray(t)
        except (TypeError, ValueError):  # A ragged list.
            values = np.asarray(None)
        if isinstance(t, (bool, np.bool_)) or values.dtype.kind not in 'iufc':
            raise InvalidArgumentError(
                f'{label} must be a float, a complex number or an array of '
                f'them, like {owner}; got {_describe_leaf(t)}. Pass '
                f'np.asarray(..., dtype=float) of the numbers')
        if isinstance(x, (np.ndarray, np.generic)):
            dtype = np.result_type(x.dtype, values.dtype)
        else:
            dtype = np.result_type(type(x), values.dtype, float)
        converted = values.astype(dtype)
        if type(x) in (float, complex) and converted.ndim == 0:
            converted = converted.item()  # A Python number, as x is.
    if isinstance(x, (np.ndarray, np.generic)) and \
            not isinstance(converted, (np.ndarray, np.generic)):
        # A Python number for a 0-d array or a NumPy scalar: the generated
        # code may index it or call array methods on it, as on x.
        converted = np.asarray(converted,
                               dtype=np.result_type(x.dtype, converted))
        if isinstance(x, np.generic):
            converted = converted[()]
    if np.iscomplexobj(converted) and not np.iscomplexobj(x):
        raise InvalidArgumentError(
            f'{label} must be real, as {owner} is real; got a complex '
            f'value. Pass its real part if that is the one you mean')
    return converted


def _describe_leaf(value):
    if isinstance(value, np.ndarray):
        return f'an array of {value.dtype} of shape {value.shape}'
    return with_article(type(value).__name__)


def _matching_children(t, x):
    """Return a function of a path that lists (child of t, child of x,
    child path) for container `x`, or None when `t` has another structure.

    Lists and tuples (not named tuples) may stand for each other.
    """
    if isinstance(x, dict):
        if not isinstance(t, dict) or set(t) != set(x):
            return None
        return lambda path: [(t[key], x[key], f'{path}[{key!r}]')
                             for key in x]
    sequences = (list, tuple)
    same_kind = type(t) is type(x) or (
        type(t) in sequences and type(x) in sequences)
    t_parts = containers.flatten(t) if same_kind else None
    x_children = containers.flatten(x)[0]
    if t_parts is None or len(t_parts[0]) != len(x_children):
        return None
    return lambda path: [(ti, xi, f'{path}[{i}]') for i, (ti, xi) in
                         enumerate(zip(t_parts[0], x_children, strict=True))]


def _describe_value(value):
    if containers.is_container(value):
        count = len(containers.flatten(value)[0])
        entries = 'entry' if count == 1 else 'entries'
        return f'{with_article(type(value).__name__)} with {count} {entries}'
    return f'a value of shape {np.shape(value)} (type {type(value).__name__})'


@_noting_user_lines
def vjp(function, *primals):
    """Return `(function(*primals), vjp_fn)`; `vjp_fn(cotangent)` returns one
    cotangent per primal. The primal runs once; `vjp_fn` may be called with
    several cotangents. None, as the cotangent or in place of one of its
    leaves, is a zero cotangent.

    For a bound method or partial, the bound values come before `primals`
    and are held constant: `vjp_fn` returns cotangents for `primals` only.

    `vjp_fn` computes at the primal point, as JAX's does: changing an
    argument, a global or a class attribute after `vjp` does not change
    what it returns. To that end `vjp` copies the arrays among the values
    the adjoint reads that the caller can reach.
    """
    unbound = _unbind(function)
    bound_args, bound_keywords = (), {}
    if unbound is not None:
        function = unbound.function
        bound_args, bound_keywords = unbound.args, unbound.keywords
    function = _with_source(function)
    bound = _bind(function, bound_args + primals, bound_keywords)
    _reject_array_subclasses(function, bound.arguments, 'vjp')
    wrt = tuple(bound.arguments)[len(bound_args):len(bound_args)
                                 + len(primals)]
    for name in wrt:
        value = bound.arguments[name]
        if containers.is_container(value) or isinstance(value, np.matrix):
            containers.check_differentiable(value, function.__name__, name)
    compiled = _COMPILER.compile(
        function, wrt, objects=describe_objects(bound.arguments.items()),
        grad_only=False)
    # The arguments before the first run of the primal and after its last
    # run, and the first run's output, when it may run again (see `rerun`).
    states = None

    def record():
        """Record the arguments, and the globals and closure of the
        function."""
        return ArgumentState(bound.arguments.values(), function=function)

    if compiled.undoes_updates or _float_scalars_as_numpy(
            bound.args, bound.kwargs) is not None:
        states = [record(), None, None]
    structures = _structures_before_updates(bound.arguments, wrt, compiled)
    args, kwargs = _protected(function, compiled, bound.args, bound.kwargs)
    value, saved = compiled.primal(*args, **kwargs)
    if states is not None:
        states[1] = record()
        states[2] = _detached(value)
    # The adjoint may read the value's arrays (tanh's adjoint reads its
    # output), so the caller gets copies to update as they like.
    value = _detached(value)
    # The adjoint runs at the primal point even when the caller changes an
    # argument or a global array before calling `vjp_fn`. The copies of
    # `_protected` are the primal's own, once `args` no longer refers to
    # them.
    del args, kwargs
    saved = saved_values.fixed_saved_values(saved)
    calls = [0]

    def rerun(args, kwargs):
        """Run the primal again from the state of its first run and return
        its saved values.

        What the caller changed since the last run is written back after
        it, so the caller's objects keep their changes.
        """
        changed = record().changes_since(states[1])
        states[0].restore()
        args, kwargs = _protected(function, compiled, args, kwargs)
        output, rerun_saved = compiled.primal(*args, **kwargs)
        states[1] = record()
        same = same_output(states[2], output)
        del args, kwargs, output
        # Copied before the caller's changes are back in their arrays.
        rerun_saved = saved_values.fixed_saved_values(rerun_saved)
        restore_entries(changed)
        if not same:
            raise ChangedStateError(
                f'{function.__name__} returned another value when vjp_fn '
                'ran it again, because it reads state that changed after '
                'vjp and that adcompiler does not record, such as a class '
                'attribute or a global of another module. vjp_fn runs it '
                'again for each cotangent after the first when its adjoint '
                'undoes in-place updates or it calls other Python '
                'functions. Call adcompiler.vjp again after changing that '
                'state.')
        # NOTE: such state that changes the derivatives but not the output
        # is not detected here.
        return rerun_saved

    @_noting_user_lines
    def vjp_fn(cotangent):
        nonlocal saved
        if calls[0] and compiled.undoes_updates:
            # The first adjoint undid the function's in-place updates; a
            # later one needs them again, so the primal runs again.
            saved = rerun(bound.args, bound.kwargs)
        cotangent = _check_like(
            cotangent, value,
            f'the cotangent of the output of {function.__name__}',
            'the output')
        if cotangent is None:
            # The generated adjoint takes None only for leaves.
            cotangent = runtime.zeros_like(value)
        calls[0] += 1
        current = saved
        if compiled.has_tape:
            current = saved[:-1] + (list(saved[-1]),)  # a tape to consume
        try:
            adjoints = compiled.adjoint(current, cotangent)
        except (ZeroDivisionError, OverflowError):
            # The primal ran, so only the derivative raised on Python floats.
            as_numpy = _float_scalars_as_numpy(bound.args, bound.kwargs)
            if as_numpy is None:
                raise
            current = rerun(*as_numpy)
            adjoints = compiled.adjoint(current, cotangent)
        return _not_sharing(_gradients(adjoints, wrt, structures),
                            cotangent)

    return value, vjp_fn


def jacobian(function, wrt=0, mode='reverse'):
    """Return a function computing the Jacobian of `function`.

    The Jacobian of an output of shape S with respect to an argument of shape
    A has shape S + A (a tuple of them for a tuple `wrt`). When the output
    or the argument is a container, the Jacobian has the output's structure,
    and each of its float leaves is replaced by the argument's structure
    with a block of shape S + A at each float leaf of the argument (as
    jax.jacobian does). An int or bool output leaf gets a block of zeros,
    and other leaves that are not floats get None. `mode` is 'reverse'
    (one adjoint per output component, two for a complex one) or
    'forward' (one tangent per input component).

    A complex output of a real argument gets its complex Jacobian in both
    modes. A complex output of a complex argument needs a holomorphic
    function: reverse mode returns the complex derivative where it exists
    (the Cauchy-Riemann equations hold) and raises InvalidArgumentError
    elsewhere, and forward mode always raises.
    """
    unbound = _unbind(function)
    if unbound is not None:
        return _with_bound_values(
            jacobian(unbound.function, unbound.wrt_names(wrt), mode), unbound)
    function = _with_source(function)
    names, as_tuple = _wrt_names(function, wrt)
    if mode not in ('reverse', 'forward'):
        raise InvalidArgumentError(
            f"mode must be 'reverse' or 'forward', got {mode!r}")

    @_noting_user_lines
    def jacobian_function(*args, **kwargs):
        runs = _runs_of(function, args, kwargs)
        return _with_numpy_floats_on_error(
            function, lambda a, k: jacobian_at(a, k, runs), args, kwargs,
            runs)

    def jacobian_at(args, kwargs, runs):
        bound = _bind(function, args, kwargs)
        _reject_array_subclasses(function, bound.arguments, 'jacobian')
        for name in names:
            _reject_array_conversion(function, name, bound.arguments[name],
                                     'jacobian')
        if mode == 'forward':
            blocks = _forward_jacobian(function, bound, names, runs)
        else:
            blocks = _reverse_jacobian(function, bound, names, runs)
        return blocks if as_tuple else blocks[0]

    jacobian_function.__name__ = f'jacobian_{function.__name__}'
    return jacobian_function


def jacfwd(function, wrt=0):
    """`jacobian` in forward mode."""
    return jacobian(function, wrt, mode='forward')


def jacrev(function, wrt=0):
    """`jacobian` in reverse mode."""
    return jacobian(function, wrt, mode='reverse')


def _reject_array_conversion(function, name, value, transform):
    """Raise ContainerError when the argument `value` of parameter `name`
    is, or contains, an object whose class defines __array__ in Python.

    Generated code treats a differentiated argument as an array, so NumPy
    would convert such an object with its __array__ method. That method is
    not differentiated, so jvp would return a wrong tangent. NOTE: a
    function that calls `v.__array__()` itself is rejected too, although
    that call would be transformed from its source.
    """
    item = _first_leaf(value, lambda leaf: isinstance(
        getattr(type(leaf), '__array__', None), types.FunctionType))
    if item is not None:
        raise containers.ContainerError(
            f'{transform} of {function.__name__} with respect to '
            f'{name!r} got {with_article(type(item).__name__)} object, '
            'whose class defines __array__ in Python. NumPy calls that '
            'method to convert the object, and adcompiler does not '
            'differentiate through that conversion. Convert the object '
            'before the call and pass the array that __array__ returns '
            'instead.')


def _require_array(function, name, value, transform):
    """Raise a clear error for an argument `transform` cannot index."""
    if isinstance(value, (dict, list, tuple)) or not np.issubdtype(
            np.asarray(value).dtype, np.number):
        raise InvalidArgumentError(
            f'{transform} of {function.__name__} with respect to {name!r} '
            f'needs a float or an array of numbers, got '
            f'{type(value).__name__}; differentiate with respect to one '
            'array of it at a time, or use grad for containers')


def _forward_jacobian(function, bound, names, runs):
    """Return the Jacobian of each argument in `names` (see `jacobian`),
    with one jvp per float entry of the argument, each run started with
    `runs`."""
    arguments = bound.arguments
    blocks = []
    for name in names:
        _require_jacobian_argument(function, name, arguments[name])
        leaves, rebuild = containers.leaves(arguments[name])
        columns = []  # For each input leaf, the output tangent per entry.
        # For a complex input leaf, also the tangents along 1j per entry.
        imaginary_columns = []
        value = None

        def along(position, direction):
            directions = [_zero_direction(other) for other in leaves]
            directions[position] = direction
            value, tangent = _bound_jvp(
                function, bound, {name: rebuild(directions)}, runs)
            runs.check_output('value', value)
            return value, tangent

        for position, leaf in enumerate(leaves):
            leaf_columns = []
            leaf_imaginary = [] if np.iscomplexobj(leaf) else None
            for direction in _unit_directions(leaf):
                value, tangent = along(position, direction)
                leaf_columns.append(tangent)
                if leaf_imaginary is not None:
                    leaf_imaginary.append(along(position, 1j * direction)[1])
            columns.append(leaf_columns)
            imaginary_columns.append(leaf_imaginary)
        if value is None:  # Only empty arrays: run the function once.
            runs.start()
            value = function(*bound.args, **bound.kwargs)
        out_leaves, out_rebuild = containers.leaves(value)
        per_output = []
        for out_position, out_leaf in enumerate(out_leaves):
            per_input = []
            for leaf, leaf_columns, leaf_imaginary in zip(
                    leaves, columns, imaginary_columns, strict=True):
                if not containers.is_float_leaf(out_leaf) or \
                        not containers.is_float_leaf(leaf):
                    per_input.append(_constant_output_block(out_leaf, leaf))
                    continue
                entries = [np.asarray(containers.leaves(t)[0][out_position],
                                      dtype=_entry_dtype(out_leaf, leaf))
                           for t in leaf_columns]
                if leaf_imaginary is not None:
                    entries = _complex_input_entries(
                        function, name, out_leaf, out_position, entries,
                        leaf_imaginary)
                per_input.append(_stack_block(entries, np.shape(out_leaf),
                                              np.shape(leaf), out_leaf, leaf,
                                              axis=-1))
            per_output.append(rebuild(per_input))
        blocks.append(out_rebuild(per_output))
    return tuple(blocks)


def _complex_input_entries(function, name, out_leaf, out_position, entries,
                           imaginary_tangents):
    """Return the forward Jacobian entries of a real output with respect to
    a complex input, in the convention of `grad`: df/dx - 1j * df/dy, where
    `entries` hold the tangents along 1 (df/dx) and `imaginary_tangents`
    those along 1j (df/dy)."""
    if np.iscomplexobj(out_leaf):
        raise InvalidArgumentError(
            f"jacobian(mode='forward') of {function.__name__} with respect "
            f'to the complex argument {name!r} has a complex output, whose '
            'derivative along the real and the imaginary direction no single '
            "complex matrix holds; use jvp along each direction, or split the "
            'argument into its real and imaginary parts')
    return [along_real - 1j * np.asarray(
                containers.leaves(t)[0][out_position])
            for along_real, t in zip(entries, imaginary_tangents,
                                     strict=True)]


def _reverse_jacobian(function, bound, names, runs):
    """Return the Jacobian of each argument in `names` (see `jacobian`),
    with one adjoint per float entry of the output.

    The primal runs once, started with `runs`, unless the adjoint undoes
    in-place updates that a later adjoint reads again: then it runs again
    before each adjoint after the first.
    """
    for name in names:
        _require_jacobian_argument(function, name, bound.arguments[name])
    compiled = _COMPILER.compile(
        function, names, objects=describe_objects(bound.arguments.items()),
        grad_only=False)
    runs.start()
    structures = _structures_before_updates(bound.arguments, names, compiled)
    args, kwargs = _protected(function, compiled, bound.args, bound.kwargs)
    value, saved = compiled.primal(*args, **kwargs)
    if compiled.undoes_updates:
        value = _detached(value)
        runs.check_output('value', value)
    fresh = True  # No adjoint has read `saved` yet.
    out_leaves, out_rebuild = containers.leaves(value)
    in_leaves = {name: containers.leaves(structures[name])
                 for name in names}

    def adjoint_leaves(seeds):
        """Return, per name, the leaves of the adjoint of the output
        cotangent `seeds` (one per output leaf)."""
        nonlocal fresh, saved
        if not fresh and compiled.undoes_updates:
            runs.start()
            args, kwargs = _protected(function, compiled, bound.args,
                                      bound.kwargs)
            rerun_value, saved = compiled.primal(*args, **kwargs)
            runs.check_output('value', rerun_value)
            fresh = True
        current = saved
        if compiled.has_tape:
            # The adjoint pops the tape, so each one gets its own.
            current = saved[:-1] + (list(saved[-1]),)
        fresh = False
        adjoints = compiled.adjoint(current, out_rebuild(seeds))
        return {name: containers.leaves(g)[0]
                for name, g in zip(names, _gradients(adjoints, names,
                                                     structures),
                                   strict=True)}

    # Per name, per output leaf, per entry: the adjoint's leaves, or for a
    # complex output the pair of adjoints of the cotangents 1 and 1j.
    rows = {name: [] for name in names}
    for position, out_leaf in enumerate(out_leaves):
        leaf_rows = {name: [] for name in names}
        for seed in _unit_directions(out_leaf):
            seeds = [_zero_direction(other) for other in out_leaves]
            seeds[position] = seed
            along_real = adjoint_leaves(seeds)
            along_imaginary = None
            if np.iscomplexobj(out_leaf):
                seeds[position] = 1j * seed
                along_imaginary = adjoint_leaves(seeds)
            for name in names:
                if along_imaginary is None:
                    leaf_rows[name].append(along_real[name])
                else:
                    leaf_rows[name].append((along_real[name],
                                            along_imaginary[name]))
        for name in names:
            rows[name].append(leaf_rows[name])
    blocks = []
    for name in names:
        leaves, rebuild = in_leaves[name]
        per_output = []
        for out_leaf, leaf_rows in zip(out_leaves, rows[name], strict=True):
            per_input = []
            for position, leaf in enumerate(leaves):
                if not containers.is_float_leaf(out_leaf) or \
                        not containers.is_float_leaf(leaf):
                    per_input.append(_constant_output_block(out_leaf, leaf))
                    continue
                if np.iscomplexobj(out_leaf):
                    entries = _complex_output_entries(
                        function, name, leaf, leaf_rows, position)
                else:
                    entries = [np.asarray(row[position],
                                          dtype=_entry_dtype(out_leaf, leaf))
                               for row in leaf_rows]
                per_input.append(_stack_block(entries, np.shape(out_leaf),
                                              np.shape(leaf), out_leaf, leaf,
                                              axis=0))
            per_output.append(rebuild(per_input))
        blocks.append(out_rebuild(per_output))
    return tuple(blocks)


def _complex_output_entries(function, name, leaf, leaf_rows, position):
    """Return the reverse Jacobian rows of a complex output with respect to
    input leaf `position`, from the pairs of adjoints of the cotangents 1
    and 1j in `leaf_rows`.

    The adjoint of cotangent c is the gradient of Re(c * y). Writing y =
    u + 1j v, cotangent 1 gives du/dx and 1j gives -dv/dx for a real
    input x, so the row is du/dx + 1j dv/dx. For a complex input z the
    gradients are taken as df/dx - 1j df/dy (the convention of `grad`),
    so cotangent 1 gives dy/dz, and 1j gives 1j dy/dz exactly when y is
    holomorphic at z.
    """
    entries = []
    for along_real, along_imaginary in leaf_rows:
        real_row = np.asarray(along_real[position])
        imaginary_row = np.asarray(along_imaginary[position])
        if not np.iscomplexobj(leaf):
            entries.append(real_row - 1j * imaginary_row)
            continue
        scale = max(np.max(np.abs(real_row), initial=0.0),
                    np.max(np.abs(imaginary_row), initial=0.0))
        if not np.allclose(imaginary_row, 1j * real_row, rtol=1e-9,
                           atol=1e-12 * scale):
            raise InvalidArgumentError(
                f'jacobian of {function.__name__} with respect to the '
                f'complex argument {name!r} has a complex output that is '
                'not holomorphic at this point, so no single complex matrix '
                'holds its derivative along the real and the imaginary '
                'direction; use jvp or vjp along each direction, or split '
                'the argument into its real and imaginary parts')
        entries.append(real_row.astype(complex))
    return entries


def _constant_output_block(out_leaf, leaf):
    """Return zeros of shape S + A, the derivative of an int or bool
    output leaf of shape S in a float input leaf of shape A, and None for
    other pairs without a derivative."""
    if not containers.is_float_leaf(leaf):
        return None
    integer = isinstance(out_leaf, (bool, int, np.bool_, np.integer)) or (
        isinstance(out_leaf, np.ndarray) and out_leaf.dtype.kind in 'biu')
    if not integer:
        return None
    return _scalar_of_kind(np.zeros(np.shape(out_leaf) + np.shape(leaf),
                                  dtype=np.result_type(leaf, 0.0)), leaf)


def _require_jacobian_argument(function, name, value):
    """Raise a clear error for an argument jacobian cannot take apart."""
    _require_float(function, name, value)
    if not any(containers.is_float_leaf(leaf)
               for leaf in containers.leaves(value)[0]):
        raise InvalidArgumentError(
            f'jacobian of {function.__name__} with respect to {name!r} needs '
            f'a float, an array of floats, or a container of them; got '
            f'{type(value).__name__} with no float in it')


def _unit_directions(leaf):
    """Yield one unit direction per entry of a float leaf, and none for
    other leaves."""
    if not containers.is_float_leaf(leaf):
        return
    shape = np.shape(leaf)
    for index in np.ndindex(shape):
        direction = np.zeros(shape, dtype=np.result_type(leaf, float))
        direction[index] = 1.0
        yield direction if isinstance(leaf, np.ndarray) else direction[()]


def _zero_direction(leaf):
    """Return the zero tangent or cotangent of a leaf (None for a leaf
    that is not a float)."""
    return runtime.zeros_like(leaf) if containers.is_float_leaf(leaf) else None


def _entry_dtype(out_leaf, leaf):
    # 0.0, not float: a Python float keeps float32 entries float32.
    return np.result_type(out_leaf, leaf, 0.0)


def _stack_block(entries, out_shape, in_shape, out_leaf, leaf, axis):
    """Stack per-entry rows (axis 0) or columns (axis -1) into one block of
    shape out_shape + in_shape."""
    if not entries:
        block = np.zeros(out_shape + in_shape,
                         dtype=_entry_dtype(out_leaf, leaf))
    else:
        block = np.stack(entries, axis=axis).reshape(out_shape + in_shape)
    return _scalar_of_kind(block, leaf)


def check_grads(function, modes=('forward', 'reverse'), order=1, rtol=1e-5,
                atol=1e-6, step=1e-6):
    """Return a checker that compares derivatives with central differences.

    `check_grads(f)(*args)` raises AssertionError when the reverse-mode
    gradient (a vector-Jacobian product with a random cotangent) or the
    forward-mode directional derivative (in a random direction) of `f` at
    `args` differs from central differences. Float and array arguments, and
    the float leaves of container arguments, are differentiated; the output
    may be a container too. Second order checks only float and array
    arguments.
    """
    if order not in (1, 2):
        raise InvalidArgumentError(
            f'check_grads supports order 1 and 2, got order={order}')
    unknown = set(modes) - {'forward', 'reverse'}
    if unknown:
        raise InvalidArgumentError(f'unknown modes {sorted(unknown)}')

    def checker(*args):
        rng = np.random.default_rng(0)
        flat = [containers.leaves(a) for a in args]
        directions = [[_random_like(leaf, rng) for leaf in leaves]
                      for leaves, _ in flat]

        def along(epsilon):
            moved = [rebuild([_moved(leaf, d, epsilon) for leaf, d in zip(
                leaves, leaf_directions, strict=True)])
                for (leaves, rebuild), leaf_directions in zip(
                    flat, directions, strict=True)]
            return _float_leaves(function(*moved))

        numeric = [(plus - minus) / (2 * step) for plus, minus in zip(
            along(step), along(-step), strict=True)]
        if 'forward' in modes:
            _, tangent = jvp(function, args, [
                _tangent_of(arg, rebuild, leaf_directions)
                for arg, (_, rebuild), leaf_directions in zip(
                    args, flat, directions, strict=True)])
            for computed, expected in zip(_float_leaves(tangent), numeric,
                                          strict=True):
                np.testing.assert_allclose(computed, expected, rtol=rtol,
                                           atol=atol, err_msg='forward mode')
        if 'reverse' in modes:
            value, vjp_fn = vjp(function, *args)
            out_leaves, out_rebuild = containers.leaves(value)
            seeds = [_random_like(leaf, rng, containers.is_float_leaf)
                     for leaf in out_leaves]
            cotangents = vjp_fn(out_rebuild([
                _zero_direction(leaf) if seed is None else seed
                for leaf, seed in zip(out_leaves, seeds, strict=True)]))
            projected = sum(
                np.sum(g * d)
                for cotangent, leaf_directions in zip(cotangents, directions,
                                                      strict=True)
                for g, d in zip(containers.leaves(cotangent)[0],
                                leaf_directions, strict=True)
                if d is not None)
            expected = sum(np.sum(seed * n) for seed, n in zip(
                [s for s in seeds if s is not None], numeric, strict=True))
            np.testing.assert_allclose(projected, expected, rtol=rtol,
                                       atol=atol, err_msg='reverse mode')
        if order == 2:
            # Second order: the float and array arguments, one at a time.
            positions = [i for i, a in enumerate(args) if _is_float_like(a)]
            _check_second_order(function, args, positions,
                                [directions[i][0] for i in positions], rtol,
                                atol)

    return checker


def _random_like(leaf, rng, differentiable=None):
    """Return a random direction for a leaf that passes `differentiable`
    (by default, a real float or array of them), and None for other leaves.
    The direction of a Python float is a float."""
    if not (differentiable or _is_float_like)(leaf):
        return None
    direction = rng.normal(size=np.shape(leaf))
    return direction if np.ndim(leaf) else float(direction)


def _moved(leaf, direction, epsilon):
    """Return `leaf + epsilon * direction`, or a copy of a leaf without a
    direction, which the function may write into in place."""
    if direction is None:
        return runtime.copy(leaf)
    moved = leaf + epsilon * direction
    return moved if np.ndim(leaf) else float(moved)


def _tangent_of(arg, rebuild, leaf_directions):
    """Return the tangent of one argument for jvp, or None when the
    argument has no float in it."""
    if all(d is None for d in leaf_directions):
        return None
    if not containers.is_container(arg):
        return leaf_directions[0]
    return rebuild(leaf_directions)


def _float_leaves(value):
    """Return the float leaves of an output as float or complex arrays."""
    return [np.asarray(leaf, dtype=np.result_type(leaf, float))
            for leaf in containers.leaves(value)[0]
            if containers.is_float_leaf(leaf)]


def _check_second_order(function, args, positions, directions, rtol, atol):
    """Compare hvp with central differences of the gradient, per argument."""
    step = 1e-5
    for position, direction in zip(positions, directions, strict=True):
        if np.ndim(args[position]) == 0:
            direction = float(direction)
        gradient = grad(function, wrt=position)

        def along(epsilon, position=position, direction=direction):
            moved = list(args)
            moved[position] = args[position] + epsilon * direction
            return np.asarray(gradient(*moved), dtype=float)

        numeric = (along(step) - along(-step)) / (2 * step)
        product = hvp(function, wrt=position)(*args, direction)
        np.testing.assert_allclose(product, numeric, rtol=max(rtol, 1e-4),
                                   atol=max(atol, 1e-5),
                                   err_msg='second order')


def _is_float_like(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, (float, np.floating)):
        return True
    return isinstance(value, np.ndarray) and np.issubdtype(value.dtype,
                                                           np.floating)


def source(gradient_function):
    """Return the generated source of a function made by `grad`."""
    if isinstance(gradient_function, BoundGradient):
        gradient_function = gradient_function.gradient
    if not isinstance(gradient_function, GradientFunction):
        raise InvalidArgumentError(
            f'source() expects a function made by adcompiler.grad or '
            f'value_and_grad, got {gradient_function!r}')
    return gradient_function.source


def register_vjp(function, vjp=None):
    """Register `vjp(g, ans, *args, **kwargs)` as the reverse rule of `function`.

    `vjp` receives `g` in the shape of `ans` and returns one cotangent per
    positional argument of `function`, in that argument's shape (None where
    there is no gradient). Another shape raises RuleResultError when the
    gradient is computed. Usable as a decorator:
    `@register_vjp(function)`. Functions compiled before take the new rule
    on their next call.
    """
    if vjp is None:
        return functools.partial(register_vjp, function)
    REGISTRY.vjp_function(function, vjp, user=True)
    return vjp


def register_jvp(function, jvp=None):
    """Register `jvp(tangents, ans, *args, **kwargs)` as the forward rule of
    `function`; it returns the tangent of the output, given one tangent per
    positional argument (None where the argument is constant). A tangent
    whose shape is not the output's raises RuleResultError.

    Forward mode (jvp, jacfwd) calls the rule in place of transforming the
    source of a Python function. Reverse mode does not use it: it uses a
    rule registered with `register_vjp`, or else the source. Usable as a
    decorator: `@register_jvp(function)`.
    """
    if jvp is None:
        return functools.partial(register_jvp, function)
    REGISTRY.jvp_function(function, jvp, user=True)
    return jvp


def non_differentiable(function):
    """Mark `function` as contributing no gradient; usable as a decorator."""
    REGISTRY.non_differentiable(function)
    return function


@non_differentiable
def stop_gradient(x):
    """Return `x` unchanged; no gradient flows back through it."""
    return x
