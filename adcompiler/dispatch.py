"""Run-time dispatch of calls whose callee is known only when they run.

A method of an argument (`model.predict(x)`) or a function held in a
variable (`f(x)`) cannot be resolved when the caller is compiled. The
generated code calls `ad.call_method` or `ad.call_function` instead; the
runtime hands the call to the `Dispatcher` installed here, which applies the
same policy as the compiler: it writes a one-line wrapper around the callee
it now has (`def call(receiver, a0): return receiver.predict(a0)`),
compiles the wrapper with respect to the arguments that carry a derivative,
and runs its primal. The adjoint later runs the wrapper's adjoint.

Wrappers are cached by callee (or receiver type and method name) and
argument layout, and compiled through the compiler's cache. A foreign
callee raises the same `ForeignCallError` as at compile time, pointing at
the call in the user's code.

The dispatcher also differentiates attribute reads of objects
(`params.W`), whose meaning depends on the object's class: a child of a
container (see adcompiler.containers), a property, whose getter is
compiled like a method, or a constant of the class.
"""

import copy
import dataclasses
import inspect
import itertools
import sys
import threading
import types

import gast
import numpy as np

from adcompiler import bounded, containers, emit, origins, runtime
from adcompiler.argument_state import same_output
from adcompiler.errors import (ChangedStateError, ForeignCallError,
                               LocatedError,
                               SourceLocation,
                               UnsupportedSyntaxError, with_article)
from adcompiler.observed_calls import (
    SEVERAL_CALLEES, ObservedCall, observed_call_key)
from adcompiler.resolve import (differentiable_equivalent, dotted_name,
                                has_python_call, qualified_name,
                                transformed_call)
from adcompiler.object_operands import describe_arguments as describe_objects
from adcompiler.rules import REGISTRY, operators

# Receivers whose methods are NumPy array methods with rules in the registry.
_ARRAY_TYPES = (np.ndarray, np.generic, float, int, complex)


@dataclasses.dataclass(frozen=True)
class CallSite:
    """A dynamically dispatched call in generated code, fixed at compile time.

    Arguments are numbered from the receiver of a method or the called
    value (number 0), then positional arguments, then keyword arguments in
    `keywords` order.
    """

    location: SourceLocation
    callee_text: str
    method: str  # The method name, or '' for a call of a function value.
    positional_count: int
    keywords: tuple
    active: tuple  # Numbers of the arguments that carry a derivative.
    argument_text: tuple  # Each argument as the user wrote it.
    origins: tuple  # For each active argument, the input it depends on.
    call_chain: tuple
    # Numbers of the positional arguments written `*seq`; a keyword None in
    # `keywords` is a `**mapping` argument (see `call_unpacking`).
    starred: tuple = ()


def call_site(call, is_method, is_active, normalized, activity, location,
              call_chain):
    """Return the `CallSite` of a dispatched gast call in normalized code.

    `is_active(node)` returns whether an argument carries a derivative.
    """
    # Number 0 is the receiver of a method, or the called value itself.
    # A `*seq` argument is numbered as one argument, its sequence.
    arguments = [call.func.value if is_method else call.func] + [
        a.value if isinstance(a, gast.Starred) else a for a in call.args] + [
        k.value for k in call.keywords]
    active = tuple(i for i, a in enumerate(arguments) if is_active(a))
    display = normalized.display_names

    def text(node):
        if isinstance(node, gast.Starred):
            return '*' + text(node.value)
        if isinstance(node, gast.Name):
            return display.get(node.id, node.id)
        if isinstance(node, gast.Attribute):
            return dotted_name(node) or node.attr
        return repr(getattr(node, 'value', '?'))

    origins = tuple(
        display.get(activity.origin.get(arguments[i].id, '?'),
                    activity.origin.get(arguments[i].id, '?'))
        for i in active)
    callee_text = (f'{text(call.func.value)}.{call.func.attr}' if is_method
                   else text(call.func))
    return CallSite(
        location, callee_text, call.func.attr if is_method else '',
        len(call.args), tuple(k.arg for k in call.keywords), active,
        tuple(text(a) for a in arguments), origins, tuple(call_chain),
        tuple(1 + i for i, a in enumerate(call.args)
              if isinstance(a, gast.Starred)))


# How many call sites `Compiler.observed_calls` keeps; past that it starts
# again.
_MAX_OBSERVED_CALLS = 4096


@dataclasses.dataclass
class _Record:
    compiled: object
    saved: object
    active: tuple  # The site's active argument numbers.
    passed: tuple  # Those the wrapper takes, in its parameter order.
    dropped: int = 0  # leading cotangents the site did not ask for
    values: tuple = ()  # The wrapper's arguments, to run its primal again.
    site: CallSite = None
    # Copies of the random generators among `values` as they were before
    # the call, or None when there are none (see `rerun_values`).
    generators_before: tuple = None

    def rerun_values(self):
        """Return the arguments for running the primal again.

        A random generator's state moved on when the call drew from it, so
        a second run with it would draw other numbers than the ones the
        derivatives are of. It gets a copy of the generator as it was.
        """
        if self.generators_before is None:
            return self.values
        return tuple(value if before is None else copy.deepcopy(before)
                     for value, before in zip(self.values,
                                              self.generators_before,
                                              strict=True))


_RANDOM_STATE_TYPES = (np.random.Generator, np.random.RandomState,
                       np.random.BitGenerator)


def generators_before(values):
    """Return copies of the random generators among `values` (None in the
    other positions), or None when there are none."""
    if not any(isinstance(v, _RANDOM_STATE_TYPES) for v in values):
        return None
    return tuple(copy.deepcopy(v) if isinstance(v, _RANDOM_STATE_TYPES)
                 else None for v in values)


# The number of an array receiver the site did not differentiate. The
# wrapper differentiates it anyway, so that its method call gets the array
# rule instead of being dispatched again, and drops its cotangent.
_UNASKED_RECEIVER = 'unasked receiver'


@dataclasses.dataclass
class _UnpackedRecord:
    """The record of a call with `*seq` or `**mapping`, and for each active
    argument of the site the active arguments of the flat call it became:
    one position, or a (type, positions) pair for `*seq` (the array itself
    in place of the type for an array), or a dict from keyword to position
    for `**mapping`."""

    record: _Record
    groups: tuple


# The records that generated primals save for dispatched calls, and the
# field of each with the callee's saved values (see adcompiler.saved_values).
SAVED_FIELDS = {_Record: 'saved', _UnpackedRecord: 'record'}


# Callees that `Dispatcher._function` wraps as they are: no instance to
# bind, no `__call__` written in Python, no equivalent to substitute.
# NumPy's functions with `__array_function__` dispatch (np.sum) are of the
# type of np.sum.
_PLAIN_FUNCTION_TYPES = (types.FunctionType, types.BuiltinFunctionType,
                         np.ufunc, type(np.sum))


@dataclasses.dataclass(repr=False)
class _KnownCall:
    """The compiled wrapper of a plain function at one call site.

    The arguments of such a call are the site's positional arguments, then
    its keyword arguments in the site's order, so running it again needs
    neither the resolution nor a new wrapper.
    """

    site: CallSite
    compiled: object
    passed: tuple
    version: int  # the registry version when the wrapper was compiled
    registry: object

    def is_current(self, site):
        """True if this entry was made for `site` (not another site that
        had its id), and no rule or source changed since."""
        return (self.site is site and self.registry.version == self.version
                and self.compiled.is_current())

    def run(self, args, kwargs):
        site = self.site
        values = tuple(args) + tuple(kwargs[k] for k in site.keywords)
        before = generators_before(values)
        value, saved = self.compiled.primal(*values)
        return value, _Record(self.compiled, saved, site.active, self.passed,
                              0, values, site, before)


# Types of arguments that are never objects with operators.
_PLAIN_ARGUMENT_TYPES = frozenset({np.ndarray, float, int, bool})

# How many entries each cache of a `Dispatcher` keeps.
MAX_CACHED_CALLS = 256


class Dispatcher:
    """Compiles and runs dynamically dispatched calls; see the module docstring."""

    def __init__(self, compiler):
        self.compiler = compiler
        # Each cache keeps its MAX_CACHED_CALLS most recently used entries,
        # because the callees of dispatched calls may be functions that the
        # program makes without end (a lambda passed on each call).
        self._wrappers = bounded.LruCache(MAX_CACHED_CALLS)
        # (wrapper, numbers, active) -> differentiated names
        self._wrt = bounded.LruCache(MAX_CACHED_CALLS)
        # wrapper -> its parameter names
        self._parameter_names = bounded.LruCache(MAX_CACHED_CALLS)
        # (id of a CallSite, plain function) -> _KnownCall
        self._known_calls = bounded.LruCache(MAX_CACHED_CALLS)
        self._lock = threading.Lock()

    def call_method(self, site, receiver, args, kwargs, request=None,
                    remember=True):
        """Run `receiver.<site.method>(*args, **kwargs)`; see `call_function`."""
        # A function of a module held in a variable (`xp.sum`) is called
        # like a function value, so it can take the fast path.
        function = (receiver.__dict__.get(site.method)
                    if type(receiver) is types.ModuleType else None)
        if type(function) not in _PLAIN_FUNCTION_TYPES:
            function = None
        if function is not None and request is None:
            self._observe(site, receiver, function)
        return self._call(site, function, args, kwargs,
                          lambda: self._method(site, receiver, args, kwargs),
                          request, remember)

    def call_function(self, site, function, args, kwargs, request=None,
                      remember=True):
        """Run `function(*args, **kwargs)` for the call at `site`.

        Returns the value and a record for `adjoint`. Given a `Tangents`
        request, it returns the value and its tangent instead; given a
        `TangentCotangent` request, the cotangents of that forward call.
        With `remember`, a plain function's compiled wrapper is kept for
        the next call at `site`; a site made for one call only passes False.
        """
        plain = function if type(function) in _PLAIN_FUNCTION_TYPES else None
        return self._call(site, plain, args, kwargs,
                          lambda: self._function(site, function, args, kwargs),
                          request, remember)

    def _observe(self, site, receiver, function):
        """Record in `compiler.observed_calls` that the call at `site` ran
        `function` of the module `receiver`, or that it ran several."""
        observed = self.compiler.observed_calls
        key = observed_call_key(site.location, site.method)
        seen = observed.get(key)
        if seen is None:
            if len(observed) >= _MAX_OBSERVED_CALLS:
                observed.clear()
            observed[key] = ObservedCall(receiver, function)
        elif seen is not SEVERAL_CALLEES and (
                seen.receiver is not receiver or seen.function is not function):
            observed[key] = SEVERAL_CALLEES

    def _call(self, site, plain, args, kwargs, bind, request, remember):
        """Run a call at `site` through `bind()`, which returns what `_run`
        takes after the site, and return the value and record.

        `plain` is the plain function called, or None. Its compiled wrapper
        from an earlier call at `site` runs directly while it is current,
        and with `remember` a new one is kept.
        """
        # Kept wrappers are compiled for arguments without objects whose
        # classes define operators (see adcompiler.object_operands).
        without_objects = True
        for value in itertools.chain(args, kwargs.values()) if kwargs \
                else args:
            if type(value) not in _PLAIN_ARGUMENT_TYPES and \
                    operators.holds_operator_object(value):
                without_objects = False
                break
        if request is None and plain is not None and without_objects:
            known = self._known_calls.get((id(site), plain))
            if known is not None and known.is_current(site):
                return known.run(args, kwargs)
        version = self.compiler.registry.version
        value, record = self._run(site, *bind(), request)
        # A called value that carries a derivative is not a plain call;
        # a module receiver (`site.method`) carries none.
        if remember and request is None and plain is not None \
                and (site.method or 0 not in site.active) \
                and without_objects:
            self._remember(site, plain, record, version)
        return value, record

    def _remember(self, site, function, record, version):
        """Keep what a call of a plain function at `site` compiled, so that
        the next call of the same function there skips the resolution."""
        if not isinstance(record, _Record):
            return
        self._known_calls[(id(site), function)] = _KnownCall(
            site, record.compiled, record.passed, version,
            self.compiler.registry)

    def call_method_tangent(self, site, tangents, receiver, args, kwargs):
        """Run a dispatched method call in forward mode: (value, tangent)."""
        return self.call_method(site, receiver, args, kwargs,
                                Tangents(tangents))

    def call_function_tangent(self, site, tangents, function, args, kwargs):
        """Run a dispatched function call in forward mode: (value, tangent)."""
        return self.call_function(site, function, args, kwargs,
                                  Tangents(tangents))

    def tangent_cotangents(self, g, site, tangents, first, args, kwargs,
                           value=None):
        """Cotangents of the positional arguments of
        `call_method_tangent(site, tangents, first, *args, **kwargs)` (or of
        `call_function_tangent`), given the cotangent `g` of its result.

        `first` is the receiver or the called value, number 0 of the site.
        `value` is the value that the forward call returned, or None.
        """
        numbers_by_position = list(range(1 + len(args)))
        if any(number not in numbers_by_position for number in site.active):
            raise UnsupportedSyntaxError(
                f'a keyword argument that carries a derivative in the call '
                f'of {site.callee_text} (reverse mode over forward mode)',
                site.location,
                fixes=['pass the argument by position'])
        request = TangentCotangent(tangents, g, value)
        if site.method:
            of_arguments, of_tangents = self.call_method(
                site, first, args, kwargs, request)
        else:
            of_arguments, of_tangents = self.call_function(
                site, first, args, kwargs, request)
        return (None, of_tangents) + tuple(
            of_arguments.get(number) for number in numbers_by_position)

    def _method(self, site, receiver, args, kwargs):
        """Return the wrapper of a method call, its arguments and numbers."""
        keyword_values = tuple(kwargs[k] for k in site.keywords)
        numbers = list(range(1 + len(args) + len(keyword_values)))
        if site.method in getattr(receiver, '__dict__', {}) or isinstance(
                receiver, type):
            # Python looks up an attribute of the instance (a stored function,
            # or a function of a module used as a namespace, such as xp.sum)
            # before the class's method of the same name. A method of a
            # class (cls.method) is a function value.
            stored = getattr(receiver, site.method)
            # A module carries no derivative, even when the site finds it
            # varied (a module that a user function returned): xp.copy(x)
            # is a call of the module's function.
            if 0 in site.active and not isinstance(
                    receiver, (type, types.ModuleType)):
                if not has_python_call(stored):
                    raise _active_callee_error(site, stored)
                # A callable object stored in a field of the receiver (a
                # layer of a model): read the field, then call it, so that
                # the derivative reaches the receiver through the field.
                key = ('stored callable', site.method, len(args),
                       site.keywords)
                wrapper = self._wrapper(key, lambda: self._stored_call_source(
                    site, len(args)), {})
                return wrapper, (receiver,) + tuple(args) + keyword_values, \
                    numbers
            return self._function(site, stored, args, kwargs)
        if isinstance(receiver, super):
            return self._super_method(site, receiver, args, keyword_values,
                                      numbers)
        descriptor = inspect.getattr_static(type(receiver), site.method, None)
        if isinstance(descriptor, (staticmethod, classmethod)):
            # The receiver is not passed; its class is, for a classmethod.
            return self._function(site, getattr(receiver, site.method),
                                  args, kwargs)
        if isinstance(receiver, _ARRAY_TYPES) and REGISTRY.lookup_method(
                site.method) is not None:
            key = ('array method', site.method, len(args), site.keywords)
            wrapper = self._wrapper(key, lambda: self._array_method_source(
                site, len(args)), {})
            if 0 not in site.active:
                numbers[0] = _UNASKED_RECEIVER
        else:
            # The method as found on the class: a Python function, or a
            # descriptor of a built-in type that may have a registered rule.
            function = REGISTRY.substitute_of(
                getattr(type(receiver), site.method, None))
            if function is None:
                # An attribute of the instance itself, such as a stored
                # function: call it like a function value.
                return self._function(site, getattr(receiver, site.method),
                                      args, kwargs)
            key = ('method', function, len(args), site.keywords)
            wrapper = self._wrapper(key, lambda: self._call_source(
                site, len(args), receiver=True), {'callee': function})
        values = (receiver,) + tuple(args) + keyword_values
        return wrapper, values, numbers

    def _super_method(self, site, receiver, args, keyword_values, numbers):
        """Return the wrapper of `super().method(...)`: the parent's method,
        given the instance, whose derivative the super object passes on."""
        function = getattr(receiver, site.method)
        if not (inspect.ismethod(function) and isinstance(
                function.__func__, types.FunctionType)
                and function.__self__ is receiver.__self__):
            # A static or class method, or a built-in one.
            return self._function(site, function, args,
                                  dict(zip(site.keywords, keyword_values,
                                           strict=True)))
        key = ('method', function.__func__, len(args), site.keywords)
        wrapper = self._wrapper(key, lambda: self._call_source(
            site, len(args), receiver=True), {'callee': function.__func__})
        values = (function.__self__,) + tuple(args) + keyword_values
        return wrapper, values, numbers

    def _function(self, site, function, args, kwargs):
        """Return the wrapper of a function call, its arguments and numbers."""
        keyword_values = tuple(kwargs[k] for k in site.keywords)
        numbers = list(range(1, 1 + len(args) + len(keyword_values)))
        # For a method call, number 0 is the receiver, not this function.
        callee_active = not site.method and 0 in site.active
        equivalent = differentiable_equivalent(function)
        if equivalent is not None:
            function = equivalent
        else:
            _reject_unsupported_transform(site, function)
        instance = None
        call = transformed_call(function)
        if call is not None:
            # An object with a __call__ method written in Python: its
            # derivative is that of the instance. NumPy's objects
            # (np.vectorize) are foreign callees, like NumPy functions.
            if getattr(call, '__self__', None) is function:
                instance = function
            function = call
        elif callee_active:
            raise _active_callee_error(site, function)
        if inspect.ismethod(function) and isinstance(function.__func__,
                                                     types.FunctionType):
            # A bound method: its function with the instance as first argument.
            unbound = REGISTRY.substitute_of(function.__func__)
            key = ('bound', unbound, len(args), site.keywords)
            wrapper = self._wrapper(key, lambda: self._call_source(
                site, len(args), receiver=True), {'callee': unbound})
            values = (function.__self__,) + tuple(args) + keyword_values
            number = 0 if instance is not None and callee_active else None
            numbers = [number] + numbers
        else:
            key = ('function', function, len(args), site.keywords)
            wrapper = self._wrapper(key, lambda: self._call_source(
                site, len(args), receiver=False), {'callee': function})
            values = tuple(args) + keyword_values
        return wrapper, values, numbers

    def call_unpacking(self, site, first, arguments):
        """Run a call with `*seq` or `**mapping`: `first(...)`, or for a
        method (`site.method`), `first.<method>(...)`.

        `arguments` are the site's arguments after the receiver or the
        called value, in order, each sequence and mapping whole. They are
        spread into a flat call, which runs like any dispatched call.
        """
        flat = _FlatCall.spread(site, arguments)
        run = self.call_method if site.method else self.call_function
        # The flat site is new on every call, so nothing is kept for it.
        value, record = run(flat.site, first, flat.positional, flat.kwargs,
                            remember=False)
        return value, _UnpackedRecord(record, flat.active_groups(site))

    def call_unpacking_tangent(self, site, tangents, first, arguments):
        """Run a call with `*seq` or `**mapping` in forward mode: (value,
        tangent). `tangents` has one tangent per argument in `site.active`,
        a sequence's or mapping's whole."""
        flat = _FlatCall.spread(site, arguments)
        by_number = dict(zip(site.active, tangents, strict=True))
        run = self.call_method if site.method else self.call_function
        return run(flat.site, first, flat.positional, flat.kwargs,
                   Tangents(flat.tangents(by_number, flat.site.active)))

    def unpacking_tangent_cotangents(self, g, site, tangents, first,
                                     arguments, value=None):
        """Cotangents of the positional arguments of
        `call_unpacking_tangent(site, tangents, first, *arguments)`, given
        the cotangent `g` of its result; see `tangent_cotangents`."""
        flat = _FlatCall.spread(site, arguments)
        by_number = dict(zip(site.active, tangents, strict=True))
        request = TangentCotangent(
            flat.tangents(by_number, flat.site.active), g, value)
        run = self.call_method if site.method else self.call_function
        by_flat_number, of_tangents = run(flat.site, first, flat.positional,
                                          flat.kwargs, request)
        # Every argument, with a tangent or not, gets the cotangents of its
        # flat arguments (see `_tangent_cotangents`).
        flat_cotangents = [by_flat_number.get(index)
                           for index in range(len(flat.numbers))]
        numbers = [n for n in range(1 + len(arguments)) if n in flat.groups]
        of_arguments = dict(zip(numbers, _regrouped(
            flat_cotangents, [flat.groups[n] for n in numbers]), strict=True))
        groups = flat.active_groups(site)
        return (None, _regrouped(of_tangents, groups)) + tuple(
            of_arguments.get(number) for number in range(1 + len(arguments)))

    def adjoint(self, record, g):
        """Cotangents of the active arguments, in the order of `site.active`.

        An active argument the callee does not take, such as the receiver
        of a static method, gets None: the result does not depend on it.
        """
        if isinstance(record, _UnpackedRecord):
            return _regrouped(self.adjoint(record.record, g), record.groups)
        cotangents = record.compiled.adjoint(record.saved, g)
        cotangents = cotangents[record.dropped:]
        if record.passed == record.active:
            return cotangents
        by_number = dict(zip(record.passed, cotangents, strict=True))
        return tuple(by_number.get(number) for number in record.active)

    # Attributes of objects -------------------------------------------------------

    def attribute_adjoint(self, g, x, name):
        """Adjoint of `x.name`: `g` in the child of container `x` that the
        attribute is, or the adjoint of the property's getter at `x`."""
        getter = _property_getter(x, name)
        if getter is not None:
            # The primal read the property without recording anything, so
            # the getter runs again here, then its adjoint.
            compiled = self.compiler.compile(self._getter(getter),
                                             ('receiver',), grad_only=False)
            _, saved = compiled.primal(x)
            return compiled.adjoint(saved, g)[0]
        if _is_class_attribute(x, name) or _is_constant_aux(x, name):
            return None
        index = self._child_index(x, name)
        children, rebuild = containers.flatten(x)
        adjoints = [None] * len(children)
        adjoints[index] = g
        return rebuild(adjoints)

    def attribute_tangent(self, t, x, name):
        """Tangent of `x.name` given the tangent `t` of the object `x`."""
        getter = _property_getter(x, name)
        if getter is not None:
            compiled = self.compiler.compile_forward(self._getter(getter),
                                                     ('receiver',))
            _, tangent = compiled.tangent(
                x, **{compiled.tangent_params[0]: t})
            return tangent
        if _is_class_attribute(x, name) or _is_constant_aux(x, name):
            return runtime.zeros_like(getattr(x, name))
        index = self._child_index(x, name)
        children, _ = containers.flatten(x)
        tangents = containers.flatten(t)[0] if t is not None else None
        if tangents is None or tangents[index] is None:
            return runtime.zeros_like(children[index])
        return _with_added_items(children[index], tangents[index])

    def check_field(self, x, name):
        """Raise `ContainerError` if `x.name` is a property; see
        runtime.check_field."""
        if _property_getter(x, name) is not None:
            raise containers.ContainerError(
                f'cannot take second derivatives through the property '
                f'.{name} of {type(x).__name__} yet: only its first '
                'derivative is supported. Compute the value in the '
                'differentiated function instead of in a property.')

    def _child_index(self, x, name):
        index = containers.child_index(x, name) if containers.flatten(
            x) is not None else None
        if index is None and isinstance(x, _ARRAY_TYPES):
            raise containers.ContainerError(
                f'cannot differentiate the attribute .{name} of '
                f'{with_article(type(x).__name__)}: it has no gradient rule. '
                'Compute the '
                'value with a NumPy function that has one, or register a '
                'rule with adcompiler.register_vjp for a function that '
                'returns it.')
        if index is None and containers.is_registered(x):
            raise containers.ContainerError(
                f'cannot differentiate the attribute .{name} of '
                f'{with_article(type(x).__name__)} object: it contains floats but is not '
                'one of the children its registered flatten returns '
                '(compared by identity), so adcompiler cannot tell whether '
                'it carries a derivative. Return the attribute\'s own object '
                'among the children, or, if it is a constant, read it as '
                f'adcompiler.stop_gradient(obj.{name}).')
        if index is None:
            raise containers.ContainerError(
                f'cannot differentiate the attribute .{name} of '
                f'{with_article(type(x).__name__)} object: adcompiler does '
                'not know that '
                f'it is part of the object. To fix this, '
                f'{containers.registration_hint(x)}.')
        return index

    def _getter(self, getter):
        """Return the wrapper `call(receiver)` around a property getter."""
        return self._wrapper(('property', getter), lambda: (
            'def call(receiver):\n    return callee(receiver)\n'),
            {'callee': getter})

    # Wrappers ----------------------------------------------------------------

    def _wrapper(self, key, make_source, namespace):
        try:
            with self._lock:
                cached = self._wrappers.get(key)
        except TypeError:  # An unhashable callee: no caching.
            cached = None
        if cached is not None:
            return cached
        source = make_source()
        filename = emit.generated_filename('dispatch')
        scope = dict(namespace)
        scope['__name__'] = __name__
        exec(compile(source, filename, 'exec'), scope)  # noqa: S102
        wrapper = scope['call']
        emit.register_lines(filename, source, wrapper)
        try:
            with self._lock:
                self._wrappers[key] = wrapper
        except TypeError:
            pass
        return wrapper

    @staticmethod
    def _parameters(site, count, receiver):
        names = (['receiver'] if receiver else []) + [
            f'a{i}' for i in range(count)]
        keywords = [f'k_{k}' for k in site.keywords]
        return names, keywords

    def _array_method_source(self, site, count):
        names, keywords = self._parameters(site, count, receiver=True)
        arguments = ', '.join(names[1:] + [f'{k}=k_{k}' for k in site.keywords])
        return (f'def call({", ".join(names + keywords)}):\n'
                f'    return receiver.{site.method}({arguments})\n')

    def _stored_call_source(self, site, count):
        names, keywords = self._parameters(site, count, receiver=True)
        arguments = ', '.join(names[1:] + [f'{k}=k_{k}' for k in site.keywords])
        return (f'def call({", ".join(names + keywords)}):\n'
                f'    stored = receiver.{site.method}\n'
                f'    return stored({arguments})\n')

    def _call_source(self, site, count, receiver):
        names, keywords = self._parameters(site, count, receiver)
        arguments = ', '.join(names + [f'{k}=k_{k}' for k in site.keywords])
        return (f'def call({", ".join(names + keywords)}):\n'
                f'    return callee({arguments})\n')

    # Running -------------------------------------------------------------------

    def _differentiated(self, site, wrapper, numbers):
        """Return the wrapper's parameters that receive the site's active arguments."""
        key = (wrapper, tuple(numbers), site.active)
        wrt = self._wrt.get(key)
        if wrt is None:
            # inspect.signature costs more than a small gradient: cache it.
            parameters = list(inspect.signature(wrapper).parameters)
            wrt = tuple(name for name, number in zip(parameters, numbers,
                                                     strict=True)
                        if number in site.active
                        or number == _UNASKED_RECEIVER)
            self._wrt[key] = wrt
        return wrt

    def _objects(self, wrapper, values):
        """Describe the objects with operators among the wrapper's arguments
        (see `object_operands.describe_arguments`)."""
        if all(type(v) is np.ndarray or type(v) is float for v in values):
            return frozenset()  # Skips the signature for the common case.
        names = self._parameter_names.get(wrapper)
        if names is None:
            names = tuple(inspect.signature(wrapper).parameters)
            self._parameter_names[wrapper] = names
        return describe_objects(zip(names, values, strict=True))

    def _run(self, site, wrapper, values, numbers, request=None):
        """Compile `wrapper` for the site's active arguments and run its primal
        (or what `request` requests; see `call_function`).

        `numbers[i]` is the site's number of the wrapper's i-th parameter
        (None for an instance the site did not pass).
        """
        wrt = self._differentiated(site, wrapper, numbers)
        if request is not None:
            parameters = inspect.signature(wrapper).parameters
            return self._run_tangent(site, wrapper, values, dict(zip(
                parameters, numbers, strict=True)), wrt, request)
        try:
            compiled = self.compiler.compile(
                wrapper, wrt, site.call_chain,
                objects=self._objects(wrapper, values), grad_only=False)
        except ForeignCallError as err:
            raise _at_site(err, site, wrapper) from None
        except LocatedError as err:
            if not _in_wrapper(err):
                raise
            # Such as a rule that does not accept the call: the user knows
            # the call at the site.
            raise origins.moved_to(err, site.location) from None
        before = generators_before(values)
        value, saved = compiled.primal(*values)
        passed = tuple(number for number in numbers if number in site.active)
        return value, _Record(compiled, saved, site.active, passed,
                              numbers.count(_UNASKED_RECEIVER), values, site,
                              before)

    def _run_tangent(self, site, wrapper, values, by_parameter, wrt,
                     request):
        """Run the tangent function of `wrapper`, or with a
        `TangentCotangent` request, reverse mode over it.

        `by_parameter` maps each wrapper parameter to the site's number of
        its argument. An active argument the wrapper does not take gets a
        zero cotangent: the result does not depend on it.
        """
        compiled = self._tangent_function(site, wrapper, wrt,
                                          self._objects(wrapper, values))
        by_number = dict(zip(site.active, request.tangents, strict=True))
        # An array receiver the site did not ask for has no tangent.
        by_number[_UNASKED_RECEIVER] = runtime.zeros_like(values[0])
        given = {tangent: by_number[by_parameter[name]]
                 for name, tangent in zip(compiled.wrt,
                                          compiled.tangent_params,
                                          strict=True)}
        if isinstance(request, TangentCotangent):
            return self._tangent_cotangents(site, compiled, values, given,
                                            by_parameter, request)
        value, tangent = compiled.tangent(*values, **given)
        if tangent is None:
            tangent = runtime.zeros_like(value)
        return value, tangent

    def _tangent_function(self, site, wrapper, wrt, objects=frozenset()):
        """Compile the tangent function of `wrapper`, with errors at the site."""
        try:
            return self.compiler.compile_forward(wrapper, wrt,
                                                 site.call_chain,
                                                 objects=objects)
        except ForeignCallError as err:
            raise _at_site(err, site, wrapper) from None
        except UnsupportedSyntaxError as err:
            if not _in_wrapper(err):
                raise
            # The one-line wrapper: the user knows the call at the site.
            raise UnsupportedSyntaxError(
                f'{err.construct} (the call of {site.callee_text})',
                site.location, err.reason, err.fixes) from None
        except LocatedError as err:
            if not _in_wrapper(err):
                raise
            raise origins.moved_to(err, site.location) from None

    def _tangent_cotangents(self, site, compiled, values, given, by_parameter,
                            request):
        """Cotangents of a dispatched forward call (reverse over forward).

        The generated tangent function of the wrapper is compiled in reverse
        mode with respect to its active parameters and their tangents. The
        result is a pair: a dict from the site's number of each argument in
        `site.active`, and of an array receiver the site did not ask for, to
        its cotangent, and a tuple of one cotangent per tangent.
        """
        # The reverse pass may differentiate an argument that has no
        # tangent (a mixed second derivative), so every argument with a
        # float in it gets a cotangent.
        untangented = tuple(
            name for name, value in zip(by_parameter, values, strict=True)
            if name not in compiled.wrt
            and isinstance(by_parameter[name], int)
            and any(containers.is_float_leaf(leaf)
                    for leaf in containers.leaves(value)[0]))
        primals = tuple(compiled.wrt) + untangented
        names = primals + tuple(compiled.tangent_params)
        reverse = self.compiler.compile(compiled.tangent, names,
                                        site.call_chain, grad_only=False)
        # The tangent function returns (value, tangent).
        (rerun_value, _), saved = reverse.primal(*values, **given)
        if request.value is not None:
            _check_rerun_value(site, request.value, rerun_value)
        cotangents = reverse.adjoint(saved, request.cotangent)
        by_name = dict(zip(names, cotangents, strict=True))
        of_arguments = {by_parameter[name]: by_name[name]
                        for name in primals}
        of_tangents = {by_parameter[name]: by_name[tangent]
                       for name, tangent in zip(compiled.wrt,
                                                compiled.tangent_params,
                                                strict=True)}
        # Reverse mode may differentiate a receiver that has no tangent.
        if _UNASKED_RECEIVER in of_arguments:
            of_arguments[0] = of_arguments.pop(_UNASKED_RECEIVER)
        return (of_arguments,
                tuple(of_tangents.get(n) for n in site.active))

    # Forward mode over generated adjoint code --------------------------------

    def primal_tangent(self, tangents, ans, site, first, args, kwargs,
                       method):
        """Return the tangent of `(value, record)` from a dispatched call.

        `first` is the receiver (a method) or the function; `tangents` has
        one entry for it and one per positional argument. Keyword arguments
        have no tangent here, so one that carries a derivative is rejected.
        """
        if any(number > len(args) for number in site.active):
            raise UnsupportedSyntaxError(
                f'forward mode through {site.callee_text} with a keyword '
                'argument that carries a derivative', site.location,
                'pass the argument by position')
        # Number 0 is the receiver or the called value, then the arguments.
        return self._primal_tangent(dict(enumerate(tangents)), ans, site,
                                    first, args, kwargs, method)

    def unpacking_primal_tangent(self, tangents, ans, site, first,
                                 arguments):
        """Return the tangent of `(value, record)` from
        `call_unpacking(site, first, *arguments)`; `tangents` has one entry
        for `first` and one per argument, a sequence's or mapping's whole."""
        value, record = ans
        flat = _FlatCall.spread(site, arguments)
        flat_numbers = range(1 + len(flat.positional) + len(flat.kwargs))
        by_flat_number = dict(zip(
            flat_numbers, flat.tangents(dict(enumerate(tangents)),
                                        flat_numbers), strict=True))
        return self._primal_tangent(by_flat_number, (value, record.record),
                                    flat.site, first, flat.positional,
                                    flat.kwargs, bool(site.method))

    def _primal_tangent(self, by_number, ans, site, first, args, kwargs,
                        method):
        value, record = ans
        if all(t is None for t in by_number.values()):
            return None, None
        found = (self._method(site, first, args, kwargs) if method
                 else self._function(site, first, args, kwargs))
        wrapper, values, numbers = found
        if getattr(record, 'generators_before', None) is not None:
            # The call drew from a random generator, so the tangent runs
            # with a copy of it as it was, to draw the same numbers.
            values = record.rerun_values()
        if _UNASKED_RECEIVER in numbers:
            # The first derivative did not ask for the receiver, but its
            # tangent here (a mixed second derivative) moves the saved values.
            by_number[_UNASKED_RECEIVER] = (
                runtime.zeros_like(values[0]) if by_number.get(0) is None
                else by_number[0])
        parameters = list(inspect.signature(wrapper).parameters)
        by_parameter = {p: by_number.get(n) for p, n in zip(
            parameters, numbers, strict=True)}
        # A module, a string or an int (xp=xp, nan_policy='omit' passed in
        # **kwargs) has no derivative, whatever zero tangent it was given.
        by_parameter = {p: t for (p, t), value in zip(
                            by_parameter.items(), values, strict=True)
                        if t is not None and not _is_constant(value)}
        try:
            compiled = self.compiler.compile_forward(
                record.compiled.primal,
                tuple(p for p in parameters if p in by_parameter),
                site.call_chain)
        except UnsupportedSyntaxError as err:
            if not (err.filename or '').startswith('<adcompiler dispatch'):
                raise
            # The one-line wrapper: the user knows the call at the site.
            raise origins.at_dispatched_call(
                err, site.location, site.callee_text) from None
        named = {name: by_parameter[p] for p, name in zip(
            compiled.wrt, compiled.tangent_params, strict=True)}
        # The wrapper's primal returns (value, saved values).
        (rerun_value, _), tangent = compiled.tangent(*values, **named)
        _check_rerun_value(site, value, rerun_value)
        return tangent

    def adjoint_tangent(self, tangents, record, g):
        """Return the tangent of `adjoint(record, g)` given the tangents of
        the record (that of its saved values, from `primal_tangent`) and g."""
        if isinstance(record, _UnpackedRecord):
            return _regrouped(self.adjoint_tangent(tangents, record.record, g),
                              record.groups)
        saved_tangent, g_tangent = tangents
        adjoint = record.compiled.adjoint
        parameters = list(inspect.signature(adjoint).parameters)
        by_parameter = {p: t for p, t in zip(
            parameters, (saved_tangent, g_tangent), strict=True)
            if t is not None}
        if not by_parameter:
            return None
        compiled = self.compiler.compile_forward(adjoint, tuple(by_parameter))
        named = {name: by_parameter[p] for p, name in zip(
            compiled.wrt, compiled.tangent_params, strict=True)}
        # Forward mode over adjoint code runs `adjoint(record, g)` before
        # asking for its tangent, and that adjoint has popped the tape in
        # record.saved and undone the list updates it records. The primal
        # runs again for saved values the tangent can read.
        _, saved = record.compiled.primal(*record.rerun_values())
        _, tangent = compiled.tangent(saved, g, **named)
        tangent = tangent[record.dropped:]
        if record.passed == record.active:
            return tangent
        by_number = dict(zip(record.passed, tangent, strict=True))
        return tuple(by_number.get(number) for number in record.active)


    # Reverse mode over generated adjoint code ---------------------------------
    #
    # The record of a dispatched call carries the saved values of the
    # wrapper's generated primal. The cotangent of a record is the cotangent
    # of those saved values, built by `adjoint_cotangents` and read by
    # `primal_cotangents`.

    def primal_cotangents(self, g, ans, site, first, args, kwargs, method):
        """Return the cotangents of the positional arguments of
        `call_method(site, first, *args, **kwargs)` (or `call_function`),
        given the cotangent `g` of its result `(value, record)`.

        The wrapper's generated primal is compiled in reverse mode and runs
        again. Keyword arguments get no cotangent: the generated code checks
        that they hold no float (see runtime.require_constant).
        """
        value, record = ans
        _check_reversible(record)
        g_value, g_record = (None, None) if g is None else g
        if g_value is None and g_record is None:
            return (None,) * (2 + len(args))
        found = (self._method(site, first, args, kwargs) if method
                 else self._function(site, first, args, kwargs))
        wrapper, values, numbers = found
        compiled = record.compiled
        parameters = list(inspect.signature(wrapper).parameters)
        # The outer reverse pass may differentiate an argument that the
        # first derivative did not (a mixed second derivative): the values
        # it saved depend on it. So every argument with a float in it gets
        # a cotangent.
        wrt = tuple(compiled.wrt) + tuple(
            parameter for parameter, value in zip(parameters, values,
                                                  strict=True)
            if parameter not in compiled.wrt
            and any(containers.is_float_leaf(leaf)
                    for leaf in containers.leaves(value)[0]))
        reverse = self.compiler.compile(compiled.primal, wrt,
                                        site.call_chain, grad_only=False)
        (rerun_value, _), saved = reverse.primal(*values)
        _check_rerun_value(site, value, rerun_value)
        cotangents = reverse.adjoint(saved, (g_value, g_record))
        by_parameter = dict(zip(wrt, cotangents, strict=True))
        by_number = {number: by_parameter.get(parameter) for parameter, number
                     in zip(parameters, numbers, strict=True)}
        if _UNASKED_RECEIVER in by_number:
            by_number[0] = by_number.pop(_UNASKED_RECEIVER)
        # call_method's positional arguments: the site, then number 0 (the
        # receiver or the called value), then the positional arguments.
        return (None,) + tuple(by_number.get(number)
                               for number in range(1 + len(args)))

    def adjoint_cotangents(self, c, record, g):
        """Return the cotangents of `record` and `g` in `adjoint(record, g)`,
        given the cotangent `c` of its result (one per active argument)."""
        _check_reversible(record)
        if getattr(record, 'generators_before', None) is not None:
            # NOTE: the Hessians this gave were wrong in the rows of the
            # draw's parameters even with the generator's state restored.
            site = record.site
            raise UnsupportedSyntaxError(
                f'reverse mode over adjoint code through the call of '
                f'{site.callee_text}, which is resolved at run time and '
                'draws random numbers', site.location,
                fixes=['draw with the np.random functions (np.random.normal '
                       'after np.random.seed) in the differentiated code',
                       'take the draws as an argument'])
        if c is None:
            return None, None
        by_number = dict(zip(record.active, c, strict=True))
        of_result = (None,) * record.dropped + tuple(
            by_number.get(number) for number in record.passed)
        adjoint = record.compiled.adjoint
        parameters = tuple(inspect.signature(adjoint).parameters)
        reverse = self.compiler.compile(adjoint, parameters, grad_only=False)
        # The adjoint that ran has emptied the tapes in record.saved; the
        # primal runs again for saved values of the same structure.
        _, fresh = record.compiled.primal(*record.rerun_values())
        _, saved = reverse.primal(fresh, g)
        of_saved, of_g = reverse.adjoint(saved, of_result)
        return of_saved, of_g


def _is_constant(value):
    """Return whether `value` is a module or is built only of leaves
    without a derivative (see `containers.is_constant_leaf`)."""
    if isinstance(value, types.ModuleType):
        return True
    return all(containers.is_constant_leaf(leaf)
               for leaf in containers.leaves(value)[0])


def _contains_list(saved):
    """Return whether saved values contain a list: the tape of a callee, or
    a list the primal built."""
    if isinstance(saved, list):
        return True
    return isinstance(saved, tuple) and any(_contains_list(item)
                                            for item in saved)


def _check_reversible(record):
    """Raise for a dispatched call that reverse mode over adjoint code does
    not go through: one with `*seq` or `**mapping`, and one whose generated
    code keeps a tape or updates its arguments in place. Running such an
    adjoint again, as the reverse rules do, needs its tapes rebuilt in the
    structure that the cotangents of the saved values take."""
    if isinstance(record, _UnpackedRecord):
        # TODO: regroup the cotangents as `adjoint` does.
        raise UnsupportedSyntaxError(
            'reverse mode over adjoint code through a call with *args or '
            '**kwargs that is resolved at run time', record.record.site
            and record.record.site.location,
            fixes=["use hvp or hessian with mode='forward-over-reverse'"])
    compiled = record.compiled
    if compiled.has_tape or compiled.updated or _contains_list(record.saved):
        site = record.site
        reason = ''
        fixes = ["use hvp or hessian with mode='forward-over-reverse'"]
        computing = _class_computing_attributes(record.values)
        if computing is not None:
            # Such an object's attributes may hold objects with operator
            # methods, so arithmetic on them runs adcompiler's operator
            # helpers, which branch on the operands' types.
            name = computing.__qualname__
            reason = (
                f'the class {name} has a property, another descriptor or '
                f'__getattr__, so adcompiler cannot prove that its '
                f'attributes are arrays or numbers, and arithmetic on them '
                f'runs adcompiler\'s operator helpers, which keep a tape')
            fixes.append(f'make the properties of {name} methods: the '
                         f'attributes of a class without them are read as '
                         f'the arrays and numbers they are')
        raise UnsupportedSyntaxError(
            f'reverse mode over adjoint code through the call of '
            f'{site.callee_text}, which is resolved at run time and whose '
            'generated code keeps a tape (a loop, a branch or a call of '
            'another Python function)', site.location, reason, fixes=fixes)


def _class_computing_attributes(values):
    """Return the class of the first of `values` whose attribute reads may
    run code (see `operators.computes_attributes`), or None."""
    for value in values:
        kind = type(value)
        if kind.__module__ != 'builtins' and \
                operators.computes_attributes(kind):
            return kind
    return None


@dataclasses.dataclass
class Tangents:
    """Request of a dispatched call in forward mode: one tangent per
    argument in `site.active`."""

    tangents: tuple


@dataclasses.dataclass
class TangentCotangent:
    """Request of the cotangents of a dispatched forward call, given the
    cotangent of its (value, tangent) pair."""

    tangents: tuple
    cotangent: object
    # The value that the forward call returned when it first ran, or None
    # when it is not known.
    value: object = None


def _check_rerun_value(site, first_value, rerun_value):
    """Raise ChangedStateError when the callee of a dispatched call, run
    again to differentiate its derivative, returned another value than in
    its first run."""
    if same_output(first_value, rerun_value):
        return
    location = '' if site.location is None else site.location.render() + '\n'
    raise ChangedStateError(
        f'{site.callee_text} returned another value when adcompiler ran it '
        'again to differentiate its derivative, so it changes state that '
        'its result depends on, such as an attribute of an argument or a '
        'closure variable. hessian and hvp run a call resolved at run time '
        '(of a function passed as an argument, a method of an argument, or '
        f'a call with *args) more than once.\n{location}'
        'To fix this, change that state outside the called function, or '
        'call a module-level function by its name, which adcompiler '
        'compiles with its caller.')


@dataclasses.dataclass
class _FlatCall:
    """A call with `*seq` or `**mapping` spread into a flat call.

    `groups` maps each number of the original site to the flat index of
    its argument: an int, a dict from keyword to index for `**mapping`, or
    a (type, indices) pair for `*seq`. Index 0 is the receiver or the
    called value, as in `CallSite`.
    """

    site: CallSite
    positional: tuple
    kwargs: dict
    groups: dict
    numbers: list  # The original site's number of each flat argument.

    @classmethod
    def spread(cls, site, arguments):
        """Spread `arguments`, the site's arguments after number 0 with
        each sequence and mapping whole, into a flat call."""
        positional = []
        numbers = [0]
        groups = {0: 0}
        for offset, value in enumerate(arguments[:site.positional_count]):
            number = 1 + offset
            if number in site.starred:
                items = tuple(value)
                first = len(numbers)
                # An array keeps itself, so that the cotangents of its rows
                # can be stacked back into its shape.
                container = value if isinstance(value, np.ndarray) \
                    else type(value)
                groups[number] = (container,
                                  list(range(first, first + len(items))))
                positional += items
                numbers += [number] * len(items)
            else:
                groups[number] = len(numbers)
                positional.append(value)
                numbers.append(number)
        kwargs = {}
        for offset, (key, value) in enumerate(zip(
                site.keywords, arguments[site.positional_count:],
                strict=True)):
            number = 1 + site.positional_count + offset
            repeated = set(kwargs) & (set(value) if key is None else {key})
            if repeated:
                raise TypeError(f'{site.callee_text}() got multiple values '
                                f'for keyword argument {repeated.pop()!r}')
            first = len(numbers)
            if key is None:
                groups[number] = {k: first + i for i, k in enumerate(value)}
                kwargs.update(value)
                numbers += [number] * len(value)
            else:
                groups[number] = first
                kwargs[key] = value
                numbers.append(number)

        active = tuple(i for i, number in enumerate(numbers)
                       if number in site.active)
        flat_site = dataclasses.replace(
            site, positional_count=len(positional), keywords=tuple(kwargs),
            active=active,
            argument_text=tuple(site.argument_text[n] for n in numbers),
            origins=tuple(site.origins[site.active.index(numbers[i])]
                          for i in active),
            starred=())
        return cls(flat_site, tuple(positional), kwargs, groups, numbers)

    def tangents(self, by_number, indices):
        """Return the tangents of the flat arguments at `indices`, given
        those of the original site's arguments by number: item i of a
        sequence's tangent, entry k of a mapping's."""
        values = self.positional + tuple(self.kwargs.values())
        flat = []
        for index in indices:
            number = self.numbers[index]
            tangent = by_number.get(number)
            group = self.groups[number]
            if tangent is not None and isinstance(group, dict):
                key = next(k for k, i in group.items() if i == index)
                tangent = tangent[key]
            elif tangent is not None and isinstance(group, tuple):
                tangent = tangent[group[1].index(index)]
            if tangent is None and index > 0:
                tangent = runtime.zeros_like(values[index - 1])
            flat.append(tangent)
        return tuple(flat)

    def active_groups(self, site):
        """Return, for each active argument of the original site, where
        its parts are among the flat site's active arguments, in the form
        `_UnpackedRecord.groups` has."""
        position = {index: i for i, index in enumerate(self.site.active)}
        groups = []
        for number in site.active:
            group = self.groups[number]
            if isinstance(group, int):
                groups.append(position[group])
            elif isinstance(group, dict):
                groups.append({k: position[i] for k, i in group.items()})
            else:
                container, indices = group
                groups.append((container, [position[i] for i in indices]))
        return tuple(groups)


def _regrouped(flat, groups):
    """Regroup the cotangents of the flat call that a call with `*seq` or
    `**mapping` became; see `_UnpackedRecord`."""
    cotangents = []
    for group in groups:
        if isinstance(group, int):
            cotangents.append(flat[group])
        elif isinstance(group, dict):
            cotangents.append({k: flat[i] for k, i in group.items()})
        else:
            container, positions = group
            items = [flat[i] for i in positions]
            if isinstance(container, np.ndarray):
                cotangents.append(_stacked_rows(items, container))
            else:
                cotangents.append(items if container is list
                                  else tuple(items))
    return tuple(cotangents)


def _stacked_rows(items, array):
    """Return the cotangent of `array` given those of its rows (`*array`
    spreads them), None where a row has none, or None for all zero."""
    if all(item is None for item in items):
        return None
    rows = [runtime.zeros_like(row) if item is None else item
            for item, row in zip(items, array, strict=True)]
    return np.stack([np.asarray(row) for row in rows]).reshape(array.shape)


def _reject_unsupported_transform(site, function):
    """Raise for a call of an adcompiler transform (a gradient made by
    value_and_grad, say) that a differentiated function may not call."""
    explain = getattr(type(function), '__adcompiler_unsupported__', None)
    explanation = explain(function) if explain is not None else None
    if explanation is not None:
        transform, fix = explanation
        raise UnsupportedSyntaxError(
            f'a call of {site.callee_text} inside a differentiated function',
            site.location,
            f'{site.callee_text} is {transform}, and a differentiated '
            'function may call only a gradient made by adcompiler.grad of '
            'one argument without has_aux', fixes=(fix,))


def _active_callee_error(site, function):
    """The error for a called value that carries a derivative but is not an
    object with a __call__ method, such as a function whose closure does."""
    return UnsupportedSyntaxError(
        f'a call of {site.callee_text}, '
        f'{with_article(type(function).__name__)} that '
        'carries a derivative itself', site.location,
        'adcompiler follows derivatives into a called value only when it is '
        'an object with a __call__ method written in Python; pass the '
        'values the function uses as arguments instead')


def _is_class_attribute(x, name):
    """Return True when `x.name` is found on x's class, not on x itself:
    a constant of the class, which has no derivative."""
    if name in getattr(x, '__dict__', {}) or containers.child_index(
            x, name) is not None:
        return False
    attribute = inspect.getattr_static(type(x), name, _MISSING)
    # A data descriptor (a slot, or an array's .flat) reads the instance.
    return attribute is not _MISSING and not hasattr(type(attribute),
                                                     '__set__')


def _is_constant_aux(x, name):
    """Return True when `x.name` is aux data of a registered container
    without a float in it (a name, a size, a flag), which has no derivative."""
    if not containers.is_registered(x) or \
            containers.child_index(x, name) is not None:
        return False
    return not any(containers.is_float_leaf(leaf)
                   for leaf in containers.leaves(getattr(x, name))[0])


_MISSING = object()


def _property_getter(x, name):
    """Return the getter of property `name` of x's class, or None when the
    attribute is not a property with a Python getter."""
    attribute = inspect.getattr_static(type(x), name, None)
    if isinstance(attribute, property) and isinstance(attribute.fget,
                                                      types.FunctionType):
        return attribute.fget
    return None


def _in_wrapper(err):
    """True if `err` is located in the one-line wrapper that runs a call
    dispatched at run time."""
    return (err.filename or '').startswith('<adcompiler dispatch')


def _at_site(err, site, wrapper=None):
    """Return a ForeignCallError raised while compiling a wrapper, at the
    user's call when the wrapper's own call raised it.

    An error inside a function that the wrapper calls (a method of the
    user's class) keeps the line of that function, with the call chain
    from the user's outermost function through the site.
    """
    chain = list(err.call_chain)
    if chain[:len(site.call_chain)] != list(site.call_chain):
        chain = list(site.call_chain) + chain[1:]
    in_wrapper = err.location is None or (
        err.location.filename or '').startswith('<adcompiler dispatch')
    if not in_wrapper:
        return ForeignCallError(
            err.callee_name, err.reason, err.location, err.active_argument,
            err.wrt_input, chain, written_name=err.written_name,
            forward=err.forward)
    argument = err.active_argument
    text = argument
    if argument.startswith('a') and argument[1:].isdigit():
        number = int(argument[1:]) + 1
        if number < len(site.argument_text):
            text = site.argument_text[number]
    elif argument == 'receiver' and site.argument_text:
        text = site.argument_text[0]
    origin = site.origins[0] if site.origins else err.wrt_input
    # The wrapper calls the callee under the name 'callee'; the user knows
    # it by the expression at the call.
    written_name = None
    callee_name = err.callee_name
    if callee_name == 'callee':
        callee_name = site.callee_text
        callee = getattr(wrapper, '__globals__', {}).get('callee')
        if callee is not None and site.callee_text.isidentifier():
            # A function passed in: `fn` is a name only inside the function
            # that calls it, so the fixes need the object's own name.
            own_name = _own_name(callee, site.location.filename)
            callee_name = (f'{site.callee_text} (the '
                           f'{type(callee).__name__} {own_name!r})')
            written_name = (own_name if own_name.replace('.', '_')
                            .isidentifier() else site.callee_text)
    return ForeignCallError(callee_name, err.reason, site.location, text,
                            origin, chain, written_name=written_name,
                            forward=err.forward)


def _own_name(callee, filename):
    """Return a name of `callee` that the user can write at module level:
    a global of the module in `filename` bound to it, its importable
    dotted name, or else its __name__."""
    for module in list(sys.modules.values()):
        if getattr(module, '__file__', None) != filename:
            continue
        for name, value in vars(module).items():
            if value is callee and not name.startswith('__'):
                return name
    qualified = qualified_name(callee, None)
    if qualified and not qualified.startswith('__main__.'):
        return qualified
    return getattr(callee, '__name__', None) or type(callee).__name__


def install(compiler):
    """Make generated code's dynamic calls go through `compiler`."""
    runtime.install_dispatcher(Dispatcher(compiler))
    runtime.register_opaque(_Record)
    runtime.register_opaque(_UnpackedRecord)
    containers.install()


def _with_added_items(value, tangent):
    """Return the tangent of the list or dict `value`, given `tangent`,
    the tangent it had before a bookkeeping update that generated code
    keeps as written added items (`self.log.append(step)`,
    `self.cache[key] = shape`). The added items carry no derivative, so
    their tangents are zeros.

    Such an update only adds items at the end of a list or under a new
    key: the runtime rejects one that replaces an item that may carry a
    derivative (see `runtime.store_item_container`).
    """
    if (isinstance(value, list) and isinstance(tangent, list)
            and len(value) > len(tangent)):
        return tangent + [runtime.zeros_like(item)
                          for item in value[len(tangent):]]
    if (isinstance(value, dict) and isinstance(tangent, dict)
            and value.keys() - tangent.keys()):
        added = {key: runtime.zeros_like(item) for key, item in value.items()
                 if key not in tangent}
        return {**tangent, **added}
    return tangent
