"""`dataclasses.replace` replaced by a Python equivalent that adcompiler
transforms from source.

dataclasses.replace fills a dict of the changes in place with the fields
that it reads by name, which adcompiler cannot follow. The equivalent here
builds a new dict, and reads each field through `field_value`, whose rules
are those of an attribute read `x.name`. So a derivative flows from the
fields of the instance that are kept and from the values in `changes` to
the new instance, for frozen and other dataclasses alike.
"""

import dataclasses

from adcompiler.rules.registry import REGISTRY


def field_value(x, name):
    """Return the field `name` of the dataclass instance `x`."""
    return getattr(x, name)


def replaced_field_names(instance, changes):
    """Return the names of the arguments with which
    `dataclasses.replace(instance, **changes)` calls the class: the fields
    that `__init__` takes, then the other names in `changes` (InitVar
    fields).

    Raises TypeError for an argument that is not a dataclass instance, and
    ValueError for a field with init=False in `changes`, as
    dataclasses.replace does.
    """
    if not dataclasses.is_dataclass(instance) or isinstance(instance, type):
        raise TypeError('replace() should be called on dataclass instances')
    names = []
    for field in dataclasses.fields(instance):
        if field.init:
            names.append(field.name)
        elif field.name in changes:
            raise ValueError(f'field {field.name} is declared with '
                             'init=False, it cannot be specified with '
                             'replace()')
    # NOTE: an InitVar field without a default that `changes` lacks makes
    # the class raise TypeError, where dataclasses.replace raises
    # ValueError.
    return tuple(names + [name for name in changes if name not in names])


def replace(instance, /, **changes):
    """Return a new instance of the dataclass of `instance` with the
    fields in `changes` replaced, as dataclasses.replace does."""
    arguments = {}
    for name in replaced_field_names(instance, changes):
        if name in changes:
            arguments[name] = changes[name]
        else:
            arguments[name] = field_value(instance, name)
    cls = type(instance)
    return cls(**arguments)


REGISTRY.non_differentiable(replaced_field_names)
# ans = field_value(x, name) is the attribute read x.name.
REGISTRY.vjp(field_value, lambda x, name: (ad.attribute_adjoint(g, x, name), None))
REGISTRY.jvp(field_value, lambda x, name: (ad.attribute_tangent(t, x, name), None))
REGISTRY.substitute(dataclasses.replace, replace)
