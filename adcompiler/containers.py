"""Containers: values made of other values, and how to take them apart.

A container is a tuple, list, dict, named tuple, dataclass instance, or an
instance of a class registered with `register_container(cls, flatten,
unflatten)`. `flatten(obj)` returns `(children, aux_data)`, and
`unflatten(aux_data, children)` builds an object of the same class from
new children, as `jax.tree_util.register_pytree_node` does. Everything
else is a leaf.

Adjoints and tangents of a container are containers of the same class, so
the gradient with respect to a dataclass is an instance of that dataclass.
Inside generated code an adjoint child may be None, which means zero.
Therefore `unflatten` must accept None (and any other value) as a child
without checking it. Dataclasses are rebuilt without calling `__init__`, so
`__post_init__` checks do not run on gradients.

The runtime reads this table through the function that `install` gives it,
because the runtime imports nothing from adcompiler.
"""

import collections
import dataclasses
import inspect
import threading

import numpy as np

from adcompiler import runtime
from adcompiler.errors import AdCompilerError, with_article
from adcompiler.rules import REGISTRY


class ContainerError(AdCompilerError, TypeError):
    """A value cannot be taken apart into parts that carry a derivative."""


@dataclasses.dataclass(frozen=True)
class Registration:
    """How to take apart and rebuild instances of one registered class."""

    cls: type
    flatten: object
    unflatten: object


_REGISTERED = {}  # class -> Registration
_LOCK = threading.Lock()


def register_container(cls, flatten, unflatten):
    """Register `cls` as a container whose children can carry derivatives.

    Args:
        cls: the class. Subclasses are not included; register each one.
        flatten: `flatten(obj)` returns `(children, aux_data)`, where
            `children` is a sequence of the values that may carry a
            derivative and `aux_data` is everything else.
        unflatten: `unflatten(aux_data, children)` returns a new instance.
            Gradients and tangents are built with it, and inside generated
            code a child may be None (a zero adjoint), so it must not check
            or convert its children.

    Example:
        >>> class Affine:
        ...     def __init__(self, W, b):
        ...         self.W, self.b = W, b
        >>> register_container(Affine, lambda a: ((a.W, a.b), None),
        ...                    lambda aux, children: Affine(*children))
    """
    if not isinstance(cls, type):
        raise ContainerError(
            f'register_container expects a class, got {cls!r}')
    for name, function in (('flatten', flatten), ('unflatten', unflatten)):
        if not callable(function):
            raise ContainerError(
                f'register_container({cls.__name__}, ...): {name} must be '
                f'callable, got {function!r}')
    with _LOCK:
        _REGISTERED[cls] = Registration(cls, flatten, unflatten)
    # A call of cls may have been compiled as a dataclass constructor.
    REGISTRY.mark_changed()
    return cls


def is_namedtuple(value):
    return isinstance(value, tuple) and hasattr(type(value), '_fields')


def is_dataclass_instance(value):
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def is_registered(value):
    """Return True for an instance of a class given to register_container."""
    return type(value) in _REGISTERED


def is_container(value):
    """Return True for a tuple, list, dict, dataclass or registered object."""
    return (isinstance(value, (tuple, list, dict))
            or type(value) in _REGISTERED or is_dataclass_instance(value))


def _dataclass_fields(cls):
    return tuple(field.name for field in dataclasses.fields(cls))


def _rebuild_dataclass(cls, names, children):
    """Build a dataclass instance from field values, without __init__."""
    instance = object.__new__(cls)
    for name, child in zip(names, children, strict=True):
        object.__setattr__(instance, name, child)
    return instance


def _dict_like(value, entries):
    """Return a dict of `entries`, an OrderedDict or a defaultdict (with
    the default factory of `value`) when `value` is one."""
    if isinstance(value, collections.defaultdict):
        return collections.defaultdict(value.default_factory, entries)
    if isinstance(value, collections.OrderedDict):
        return collections.OrderedDict(entries)
    return dict(entries)


def flatten(value):
    """Return `(children, rebuild)` for a container, or None for a leaf.

    `rebuild(children)` makes a container of the same class and layout with
    new children. Dict children are in the dict's key order.
    """
    cls = type(value)
    registration = _REGISTERED.get(cls)
    if registration is not None:
        children, aux = registration.flatten(value)
        return list(children), lambda new: registration.unflatten(aux, new)
    if isinstance(value, dict):
        keys = list(value)
        return [value[key] for key in keys], lambda new: _dict_like(
            value, zip(keys, new, strict=True))
    if is_namedtuple(value):
        return list(value), lambda new: cls(*new)
    if isinstance(value, (tuple, list)):
        return list(value), lambda new: cls(new)
    if is_dataclass_instance(value):
        names = _dataclass_fields(cls)
        return ([getattr(value, name) for name in names],
                lambda new: _rebuild_dataclass(cls, names, new))
    return None


def child_index(value, name):
    """Return the index of attribute `name` of container `value` among its
    children, or None when the attribute is not one of them."""
    registration = _REGISTERED.get(type(value))
    if registration is None and is_namedtuple(value):
        fields = type(value)._fields
        return fields.index(name) if name in fields else None
    if registration is None and is_dataclass_instance(value):
        names = _dataclass_fields(type(value))
        return names.index(name) if name in names else None
    if registration is None:
        return None
    # A registered class gives its children but not the attributes that
    # contain them, so find the child that is the attribute's object.
    attribute = getattr(value, name)
    children, _ = registration.flatten(value)
    matches = [i for i, child in enumerate(children) if child is attribute]
    if len(matches) > 1:
        raise ContainerError(
            f'the attribute .{name} of the {type(value).__name__} object is '
            f'the same object as its children number {matches}, so '
            'adcompiler cannot tell which child its derivative belongs to; '
            'give each child its own object (for example with np.copy)')
    return matches[0] if matches else None


def constructor_fields(cls):
    """Return the field that each parameter of `cls` sets, in parameter order.

    Only a named tuple class or a dataclass whose `__init__` only stores its
    arguments has such fields. For any other class this returns None.
    """
    if not isinstance(cls, type) or cls in _REGISTERED:
        # A registered class may keep some fields out of its children.
        return None
    if issubclass(cls, tuple) and hasattr(cls, '_fields') and \
            '__new__' not in _own_definitions(cls, tuple):
        return tuple(cls._fields)
    if not dataclasses.is_dataclass(cls) or hasattr(cls, '__post_init__'):
        return None
    init = getattr(cls.__init__, '__code__', None)
    # The dataclass decorator compiles __init__ from text, so its file name
    # is '<string>'. An __init__ written by the user has a real file.
    if init is None or not init.co_filename.startswith('<'):
        return None
    names = _dataclass_fields(cls)
    parameters = tuple(inspect.signature(cls).parameters)
    if not set(parameters) <= set(names):
        return None  # An InitVar parameter: it is not stored as it is.
    if any(REGISTRY.lookup_attribute(name) is not None for name in names):
        return None  # See _check_field_names.
    return parameters


def _own_definitions(cls, base):
    """Names defined by the classes between `cls` and `base` in the MRO,
    other than those the named tuple factory itself writes."""
    names = set()
    for klass in cls.__mro__:
        if klass is base:
            break
        if '_fields' in vars(klass):
            continue  # The class that namedtuple() created.
        names.update(vars(klass))
    return names


def registration_hint(value):
    """Describe how to make `value`'s class a container, for error messages."""
    name = type(value).__name__
    return (f'register its class as a container: adcompiler.register_'
            f'container({name}, flatten, unflatten), where flatten(obj) '
            'returns (children, aux_data) and unflatten(aux_data, children) '
            f'rebuilds it; or make {name} a dataclass')


# Leaves ------------------------------------------------------------------------

def is_float_leaf(value):
    """Return True for a leaf that has a derivative: a float, a complex
    number, or an array of them."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (float, complex, np.inexact)):
        return True
    return isinstance(value, np.ndarray) and value.dtype.kind in 'fc'


def is_constant_leaf(value):
    """Return True for a leaf that gets no gradient: an int, bool, string,
    None, or an array of integers, booleans or strings."""
    if value is None or isinstance(value, (bool, int, str, bytes, np.bool_,
                                           np.integer)):
        return True
    return isinstance(value, np.ndarray) and value.dtype.kind not in 'fc'


def check_differentiable(value, function_name, parameter):
    """Raise `ContainerError` for a part of `value` with no known structure.

    A float leaf, a constant leaf or a container of them passes.
    """
    pending = [(value, parameter)]
    while pending:
        item, path = pending.pop()
        parts = flatten(item)
        if parts is not None:
            children, _ = parts
            _check_field_names(item, children, function_name)
            pending.extend((child, f'{path}[{i}]')
                           for i, child in enumerate(children))
            continue
        where = (f'argument {parameter!r}' if path == parameter
                 else f'{path} in argument {parameter!r}')
        if isinstance(item, np.matrix):
            # `*` and `**` on np.matrix are matrix products, and the rules
            # are written for the elementwise operators of ndarray.
            raise ContainerError(
                f'cannot differentiate {function_name} with respect to '
                f'{where}: it is an np.matrix, whose * and ** operators '
                'are matrix products, and adcompiler differentiates '
                'ndarray arithmetic only. Pass np.asarray(m) instead, and '
                'write @ for a matrix product.')
        if is_float_leaf(item) or is_constant_leaf(item):
            continue
        raise ContainerError(
            f'cannot differentiate {function_name} with respect to {where}: '
            f'it is {with_article(type(item).__name__)} object, which '
            'adcompiler does not know how to take apart into arrays. To '
            f'differentiate with respect to it, {registration_hint(item)}. '
            'Otherwise pass it as an argument that is not in wrt.')


def _check_field_names(value, children, function_name):
    """Raise `ContainerError` for a float field of a dataclass (or child of
    a registered object) named like an array attribute that has a rule
    (.T, .real, .size, ...).

    Rules for attributes are found by name when the function is compiled,
    so `p.T` would be differentiated as an array's transpose, and `p.size`
    as having no derivative.
    """
    if type(value) in _REGISTERED:
        # The attributes of the instance that are children.
        named = [(name, attribute)
                 for name, attribute in getattr(value, '__dict__', {}).items()
                 if any(attribute is child for child in children)]
    elif is_dataclass_instance(value):
        named = zip(_dataclass_fields(type(value)), children, strict=True)
    else:
        return
    for name, child in named:
        if REGISTRY.lookup_attribute(name) is not None and \
                is_float_leaf(child):
            raise ContainerError(
                f'cannot differentiate {function_name} with respect to the '
                f'field {name!r} of {type(value).__name__}: .{name} is also '
                'a NumPy array attribute, and adcompiler applies the '
                "array's rule to every attribute of that name. Rename the "
                'field.')


def gradient_like(g, x):
    """Return the final gradient of input `x` given its adjoint `g`.

    The gradient has the structure and classes of `x`. Float leaves get an
    array or number (zeros where `g` has no adjoint); other leaves (ints,
    strings, None, integer arrays) get None.
    """
    parts = flatten(x)
    if parts is not None:
        children, rebuild = parts
        adjoints = _children_of(g, x, len(children))
        return rebuild([gradient_like(gi, xi)
                        for gi, xi in zip(adjoints, children, strict=True)])
    if not is_float_leaf(x):
        return None
    return runtime.materialize(g, x)


def tangent_like(t, x):
    """Return the tangent `t` of output `x` with the structure and classes
    of `x`: zeros for float leaves without one, None for other leaves."""
    parts = flatten(x)
    if parts is not None:
        children, rebuild = parts
        tangents = _children_of(t, x, len(children))
        return rebuild([tangent_like(ti, xi)
                        for ti, xi in zip(tangents, children, strict=True)])
    if not is_float_leaf(x):
        return None
    return runtime.zeros_like(x) if t is None else t


def tangent_input(t, x):
    """Return the tangent `t` given for input `x`, with the structure and
    classes of `x` and zeros at every leaf that has no derivative (an int
    or string in a container has a zero tangent whatever was given)."""
    parts = flatten(x)
    if parts is not None:
        children, rebuild = parts
        tangents = _children_of(t, x, len(children))
        return rebuild([tangent_input(ti, xi)
                        for ti, xi in zip(tangents, children, strict=True)])
    if t is None or not is_float_leaf(x):
        return runtime.zeros_like(x)
    return t


def _children_of(g, x, count):
    """Return the children of adjoint `g` of container `x` (all None when
    `g` is None)."""
    if g is None:
        return [None] * count
    if isinstance(x, dict):
        return [g.get(key) for key in x]
    if isinstance(g, np.ndarray) and isinstance(x, (list, tuple)) and \
            np.ndim(g) >= 1 and len(g) == count:
        # A NumPy function read the list as an array (np.asarray(x)), and
        # the rule gave the adjoint of that array: row i is that of x[i].
        return list(g)
    parts = flatten(g)
    if parts is None or len(parts[0]) != count:
        raise ContainerError(
            f'a derivative of {with_article(type(x).__name__)} has the wrong '
            f'structure: expected {with_article(type(x).__name__)} with '
            f'{count} children, got {type(g).__name__}')
    return parts[0]


def leaves(value):
    """Return the leaves of `value` in order, and `rebuild(leaves)`."""
    parts = flatten(value)
    if parts is None:
        return [value], lambda new: new[0]
    children, rebuild = parts
    collected = []
    rebuilders = []
    for child in children:
        child_leaves, child_rebuild = leaves(child)
        rebuilders.append((len(child_leaves), child_rebuild))
        collected.extend(child_leaves)

    def rebuild_all(new):
        new = list(new)
        built = []
        start = 0
        for count, child_rebuild in rebuilders:
            built.append(child_rebuild(new[start:start + count]))
            start += count
        return rebuild(built)

    return collected, rebuild_all


def install():
    """Give the runtime the function that takes containers apart."""
    runtime.install_containers(flatten)
