"""Resolve stage: classify every call site of a normalized function.

Input: a `NormalizedFunction` and the function's namespace. Output: a
`Resolution`, a side table from each call node to a `ResolvedCall` that records
what the call reaches and which policy applies (see `CallKind`):

    RULE                a registered gradient rule (template or callable)
    NON_DIFFERENTIABLE  registered as contributing no adjoint
    USER                a Python function with source, transformed recursively
    METHOD              a method of a local value, such as x.sum(axis=0)
    CONSTRUCTOR         a dataclass or named tuple class whose constructor
                        only stores its arguments as fields
    FOREIGN             no source and no rule (a C built-in, a ufunc, ...)
    UNKNOWN             a name that is not defined, or a local held function

Targets that are names or dotted attributes of globals are resolved now,
against the namespace; methods of local values are resolved by name against
the array-method table of the registry. A function of an array namespace
held in a local (`xp.isfinite` after `xp = array_namespace(x)`) is looked up
by name in the registry's table of namespace functions.
"""

import dataclasses
import enum
import functools
import inspect
import sys
import types

import gast
import numpy as np

from adcompiler import containers, decorators
from adcompiler.errors import CLASS_REASON, ChainName, UnsupportedSyntaxError
from adcompiler.rules import NON_DIFFERENTIABLE, REGISTRY
from adcompiler.traversal import name_bindings


class CallKind(enum.Enum):
    RULE = 'rule'
    NON_DIFFERENTIABLE = 'non-differentiable'
    USER = 'user function'
    METHOD = 'array method'
    CONSTRUCTOR = 'container constructor'
    FOREIGN = 'foreign'
    UNKNOWN = 'unknown'


@dataclasses.dataclass
class ResolvedCall:
    """The callee of one call site and the policy that applies to it."""

    kind: CallKind
    name: str
    callee: object = None
    rule: object = None
    reason: str = ''


@dataclasses.dataclass
class Resolution:
    """Side table: call node -> `ResolvedCall`."""

    calls: dict


def resolve(normalized, namespace, registry=REGISTRY):
    """Classify every call in `normalized.tree`; see the module docstring."""
    calls = {}
    for node in normalized.nodes_of(gast.Call):
        calls[node] = resolve_call(node, normalized.local_names, namespace,
                                   registry)
    _classify_namespace_calls(normalized, calls, registry)
    return Resolution(calls)


def _classify_namespace_calls(normalized, calls, registry):
    """Mark `xp.f(...)` non-differentiable in `calls` where the local `xp`
    refers to an array namespace and the registry marks its function `f` so.

    A local refers to a namespace when every assignment of it is a call of
    a function registered with `Registry.namespace_source`
    (`xp = array_namespace(x)`) and it is not a parameter.
    """
    candidates = [call for call, resolved in calls.items()
                  if resolved.kind is CallKind.METHOD
                  and isinstance(call.func.value, gast.Name)
                  and registry.lookup_namespace_function(call.func.attr)
                  is NON_DIFFERENTIABLE]
    if not candidates:
        return
    bindings, assignments = name_bindings(normalized.tree, normalized.index)
    from_sources = {}
    for node in assignments:
        if (node.value in calls
                and registry.returns_namespace(calls[node.value].callee)):
            target = node.targets[0].id
            from_sources[target] = from_sources.get(target, 0) + 1
    namespaces = {name for name, count in from_sources.items()
                  if bindings.get(name) == count
                  and name not in normalized.params}
    for call in candidates:
        if call.func.value.id in namespaces:
            calls[call] = ResolvedCall(CallKind.NON_DIFFERENTIABLE,
                                       dotted_name(call.func))


def has_unpacking(call):
    """True for a call with `*seq` or `**mapping` left by normalize."""
    return any(isinstance(a, gast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords)


def reject_unused_unpacking_call(call, callee_name, varied, location):
    """Raise for a call with `*seq`/`**mapping` arguments that carry a
    derivative when its result is unused: the callee may keep the values
    or change them in place, which the adjoint cannot follow."""
    values = [getattr(a, 'value', a) for a in call.args] + [
        k.value for k in call.keywords]
    if any(isinstance(v, gast.Name) and v.id in varied for v in values):
        raise UnsupportedSyntaxError(
            f'a call of {callee_name} with unpacked arguments that carry a '
            'derivative, whose result is unused', location,
            'the callee may keep the values or change them in place; assign '
            'the result')


def dotted_name(node):
    """Return 'np.linalg.norm' for a dotted reference, or None."""
    parts = []
    while isinstance(node, gast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, gast.Name):
        return None
    parts.append(node.id)
    return '.'.join(reversed(parts))


def dotted_value(node, namespace, local_names=()):
    """Return the object that a name or dotted reference (np.linalg.norm)
    not in `local_names` is in `namespace`, or None if it is not one."""
    name = dotted_name(node)
    if name is None:
        return None
    root, *attributes = name.split('.')
    if root in local_names:
        return None
    try:
        value = namespace[root]
        for attribute in attributes:
            value = getattr(value, attribute)
    except (KeyError, AttributeError):
        return None
    return value


def resolve_call(node, local_names, namespace, registry=REGISTRY):
    func = node.func
    root = func
    while isinstance(root, gast.Attribute):
        root = root.value

    if isinstance(func, gast.Attribute) and root.id in local_names:
        # A method of a local value; only x.method with x a name is left by
        # normalize.
        rule = registry.lookup_method(func.attr)
        if rule is NON_DIFFERENTIABLE:
            return ResolvedCall(CallKind.NON_DIFFERENTIABLE, func.attr)
        return ResolvedCall(CallKind.METHOD, func.attr, rule=rule)

    name = dotted_name(func)
    if root.id in local_names:
        return ResolvedCall(CallKind.UNKNOWN, name,
                            reason='a function held in a local variable')
    try:
        callee = namespace[root.id]
        for attr in name.split('.')[1:]:
            callee = getattr(callee, attr)
    except (KeyError, AttributeError):
        return ResolvedCall(CallKind.UNKNOWN, name, reason='name not defined')
    return classify(callee, name, registry, namespace.get('__name__'),
                    call=node)


def transformed_signature(function):
    """Return the signature of the code that adcompiler transforms for the
    Python function `function`.

    A decorator's wrapper that only forwards its arguments is replaced by
    the function it wraps (`decorators.unwrap_forwarding`). Any other
    wrapper is transformed as written, with its own parameters, where
    inspect.signature would report those of the function it wraps
    (`__wrapped__`, set by functools.wraps).
    """
    return inspect.signature(decorators.unwrap_forwarding(function),
                             follow_wrapped=False)


def _accepts_call(call):
    """Return a test of whether `call`'s arguments bind to the parameters
    of a function. Calls with `*seq` or `**mapping` never pass it, because
    their arguments are known only when they run."""
    def accepts(function):
        if has_unpacking(call):
            return False
        try:
            inspect.signature(function).bind(
                *call.args, **{k.arg: k.value for k in call.keywords})
        except (TypeError, ValueError):
            return False
        return True
    return accepts


def classify(callee, name, registry=REGISTRY, module=None, call=None):
    """Classify a callable object under the foreign-call policy.

    `module` is the name of the caller's module, where a callee without a
    module of its own (a ufunc of a library) is looked for. `call` is the
    call site's node, which decides whether a decorator's wrapper may be
    skipped (see `Registry.transparent_wrapper`).
    """
    accepts = None if call is None else _accepts_call(call)
    callee = registry.substitute_of(registry.unwrap(callee, accepts))
    entry = registry.lookup(callee)
    if entry is None and inspect.ismethod(callee) and registry.lookup(
            callee.__func__) is NON_DIFFERENTIABLE:
        # A Python method marked on its class, such as
        # logging.Logger.info, called on an object: log.info(...). Methods
        # of built-in types are not looked up so: set.add is marked for
        # local sets, whose items activity follows, but not for a global
        # set.
        entry = NON_DIFFERENTIABLE
    if entry is None and inspect.ismethod(callee) and isinstance(
            callee.__func__, types.FunctionType):
        # A method of an object: its class is fixed only when the call runs.
        return ResolvedCall(CallKind.UNKNOWN, name, callee,
                            reason='a method of an object')
    if entry is None and has_python_call(callee):
        if transformed_call(callee) is None:
            # np.vectorize(f): named as called, the name a rule takes.
            return ResolvedCall(
                CallKind.FOREIGN, name, callee,
                reason=f'{type(callee).__name__} object of NumPy, whose '
                       '__call__ is NumPy-internal source that adcompiler '
                       'does not transform')
        # An object whose class defines __call__ in Python (a model held in
        # a global): dispatched when the call runs, like a method.
        return ResolvedCall(CallKind.UNKNOWN, name, callee,
                            reason='an object with a __call__ method')
    if entry is NON_DIFFERENTIABLE:
        return ResolvedCall(CallKind.NON_DIFFERENTIABLE, name, callee)
    if entry is not None:
        return ResolvedCall(CallKind.RULE, name, callee, rule=entry)
    if containers.constructor_fields(callee) is not None:
        return ResolvedCall(CallKind.CONSTRUCTOR, name, callee)
    equivalent = differentiable_equivalent(callee)
    if equivalent is not None:
        return ResolvedCall(CallKind.USER, name, equivalent)
    reason = foreign_reason(callee)
    if reason is None:
        return ResolvedCall(CallKind.USER, name, callee)
    return ResolvedCall(CallKind.FOREIGN, qualified_name(callee, name, module),
                        callee, reason=reason)


def _is_bound_builtin_method(callee):
    """True for a method of a built-in type bound to an object, such as
    history.append; False for a built-in function such as math.exp."""
    owner = getattr(callee, '__self__', None)
    # A ufunc's methods (np.add.reduce) read as functions of NumPy.
    return owner is not None and not isinstance(
        owner, (types.ModuleType, type, np.ufunc))


def python_call(value):
    """Return what `value(...)` calls when `value` is an object (not a
    class, function or method) whose class defines __call__ as a Python
    function, or None.

    That is a bound method, the function of a static method, or a method
    bound to the class for a class method. As in Python, the class's
    __call__ counts, not one stored on the instance.
    """
    if isinstance(value, (type, types.FunctionType, types.MethodType)):
        return None
    attribute = inspect.getattr_static(type(value), '__call__', None)
    function = attribute
    if isinstance(attribute, (staticmethod, classmethod)):
        function = attribute.__func__
    if not isinstance(function, types.FunctionType):
        return None
    return attribute.__get__(value, type(value))


def has_python_call(value):
    """Return whether `value` is an object whose class defines __call__
    as a Python function (see `python_call`)."""
    return python_call(value) is not None


def transformed_call(value):
    """Return `python_call(value)` when adcompiler transforms the function
    it calls from source (a model object, not an np.vectorize object), or
    None."""
    call = python_call(value)
    if call is None or foreign_reason(getattr(call, '__func__', call)):
        return None
    return call


def differentiable_equivalent(callee):
    """Return a Python function with source that computes what `callee`
    computes, if `callee` offers one; otherwise None.

    An object offers one through a method `__adcompiler_equivalent__()` on
    its class. A gradient made by adcompiler.grad returns a function that
    runs the generated primal and adjoint, so that calls of it can be
    differentiated again.
    """
    method = getattr(type(callee), '__adcompiler_equivalent__', None)
    if method is None or isinstance(callee, type):
        return None
    return method(callee)


def qualified_name(callee, fallback, module=None):
    """Return the dotted name by which `callee` can be imported, or
    `fallback` (its name as called) when there is none."""
    own_module = getattr(callee, '__module__', None)
    qualname = getattr(callee, '__qualname__', None) or getattr(
        callee, '__name__', None)
    owner = getattr(callee, '__objclass__', None)
    receiver = getattr(callee, '__self__', None)
    if isinstance(receiver, np.ufunc) and qualname:
        # A method of a ufunc such as np.maximum.reduce: named as called.
        return f'{qualified_name(receiver, fallback)}.{callee.__name__}'
    if owner is not None and qualname:
        return f'{owner.__module__}.{qualname}'
    if isinstance(callee, np.ufunc):
        if vars(np).get(callee.__name__) is callee:
            return f'numpy.{callee.__name__}'
        # A ufunc of a library gets the name its package exports it by
        # (scipy.special.gammaln, imported as loggam). One that
        # np.frompyfunc made keeps its name as called.
        return public_name(callee, module) or fallback
    if own_module and qualname:
        return f'{own_module}.{qualname}'
    return qualname or fallback


def public_name(callee, module=None):
    """Return `package.name` for the shortest package among the parents of
    the callee's module (or of `module`) that has `callee` (or a wrapper
    of it) as attribute `name`; None if none has."""
    name = getattr(callee, '__name__', None)
    home = getattr(callee, '__module__', None) or module
    if not isinstance(name, str) or not isinstance(home, str):
        return None
    parts = home.split('.')
    for end in range(1, len(parts) + 1):
        package = '.'.join(parts[:end])
        found = getattr(sys.modules.get(package), name, None)
        if found is callee or (callable(found)
                               and _unwrapped(found) is callee):
            return f'{package}.{name}'
    return None


def _unwrapped(function):
    try:
        return inspect.unwrap(function)
    except ValueError:  # A cycle of __wrapped__ attributes.
        return function


def chain_name(callee, namespace, fallback):
    """Return how the call chain of an error names `callee`, called from a
    function with globals `namespace`: its qualified name when it is
    defined in the caller's module, else its dotted public name."""
    qualname = getattr(callee, '__qualname__', None) or fallback
    module = getattr(callee, '__module__', None)
    if not module or module == namespace.get('__name__'):
        return ChainName(qualname, module, qualname)
    return ChainName(public_name(callee) or f'{module}.{qualname}', module,
                     qualname)


# NumPy's Python functions reach compiled code through internals that vary
# between NumPy versions; they are differentiated only through rules.
_NUMPY_PYTHON_FUNCTION = ('NumPy function, whose NumPy-internal source '
                          'adcompiler does not transform')


def _is_python_class(cls):
    """True if `cls` or one of its bases other than `object` is written
    in Python (defines a Python function), so that the user can make it a
    dataclass; False for a class of C code such as complex or
    collections.deque."""
    return any(isinstance(value, (types.FunctionType, staticmethod,
                                  classmethod, property))
               for klass in cls.__mro__[:-1]
               for value in vars(klass).values())


def foreign_reason(callee):
    """Why `callee` cannot be transformed, or None if it is a user function."""
    if isinstance(callee, np.ufunc):
        return 'NumPy ufunc (compiled code, no Python source)'
    if isinstance(callee, functools.partial):
        return 'functools.partial object'
    if isinstance(callee, (types.BuiltinFunctionType,
                           types.BuiltinMethodType)):
        if _is_bound_builtin_method(callee):
            return 'method of a built-in type, no Python source'
        return 'built-in function, no Python source'
    if isinstance(callee, (types.MethodDescriptorType,
                           types.WrapperDescriptorType,
                           types.MethodWrapperType,
                           types.ClassMethodDescriptorType)):
        return 'method of a built-in type, no Python source'
    if isinstance(callee, type):
        return CLASS_REASON if _is_python_class(callee) else \
            'built-in class, no Python source'
    type_module = type(callee).__module__  # Not a str for some C types.
    if isinstance(type_module, str) and type_module.startswith('numpy'):
        if isinstance(getattr(callee, '__wrapped__', None),
                      types.FunctionType):
            return _NUMPY_PYTHON_FUNCTION
        return 'NumPy function (compiled code, no Python source)'
    if isinstance(callee, types.FunctionType):
        module = getattr(callee, '__module__', '') or ''
        if module == 'numpy' or module.startswith('numpy.'):
            return _NUMPY_PYTHON_FUNCTION
        return None
    if isinstance(callee, types.MethodType):
        return 'bound method'
    if type(callee).__name__ == 'cython_function_or_method':
        return 'compiled (Cython) function, no Python source'
    if hasattr(callee, 'cache_info') and isinstance(
            getattr(callee, '__wrapped__', None), types.FunctionType):
        return ('function cached by functools.lru_cache or functools.cache, '
                'whose cached results carry no derivative')
    return f'{type(callee).__name__} object'
