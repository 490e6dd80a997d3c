"""Copy the arrays in a primal's saved values that the caller can change.

`vjp` runs the adjoint when the caller calls `vjp_fn`, possibly after the
caller changed an argument, a global array or an attribute in place. The
saved values refer to such arrays, not to copies: the argument `x`, a
global `W` that adcompiler.free_reads saves, an array read from a dict. So
`fixed_saved_values` replaces each array that something besides the saved
values refers to by a copy, and the adjoint computes at the primal point.

An array that only the saved values refer to is one the primal made, and
no one else can write into it. This is decided from reference counts: an
array is kept when its count is what the saved values and this module's
own references explain. Any other reference (a caller's variable, a
global, an attribute, a view whose base it is) makes it a copy. A view is
kept only when its base is an array kept as well. NOTE: weak references
and raw pointers (`arr.ctypes.data`) are not counted.

Tuples are rebuilt with copies in them. Lists that only the saved values
refer to (the tape) get the copies in place, so that the adjoint still
finds one list where the primal made one, and so do the records of
dispatched calls (`dispatch.SAVED_FIELDS`). Other containers and
objects (a caller's list, an object whose attribute gradient the adjoint
builds) are left as they are. NOTE: so an adjoint that reads an array
through such a container, not through a saved name of its own, still reads
the caller's later changes to it.
"""

import sys

import numpy as np

from adcompiler.dispatch import SAVED_FIELDS


def fixed_saved_values(saved):
    """Return `saved` with a copy in place of each array in it that other
    objects refer to as well."""
    objects = {}  # id -> each array, tuple, list and record in `saved`
    counts = {}  # id -> the references to it from those objects
    neighbors = {}  # id -> ids of the objects that hold it or share memory
    _find_references(saved, objects, counts, neighbors)
    private = _private_objects(objects, counts)
    # The saved tuple is new, but the caller's variables refer to it.
    private[id(saved)] = True
    # An object is private only if every container that refers to it and
    # every array that shares its memory is private too.
    changed = True
    while changed:
        changed = False
        for key, linked in neighbors.items():
            if not private[key]:
                continue
            for other in linked:
                if not private[other]:
                    private[key] = False
                    changed = True
                    break
    if all(private.values()):
        return saved
    return _copied(saved, private, {})


def _find_references(saved, objects, counts, neighbors):
    """Fill in `fixed_saved_values`'s tables for `saved`."""
    root = id(saved)
    pending = [(saved, None)]
    while pending:
        item, holder = pending.pop()
        kind = type(item)
        if (kind is not tuple and kind is not list and kind is not _NDARRAY
                and kind not in SAVED_FIELDS):
            continue
        key = id(item)
        if holder is not None and holder != root:
            # The saved tuple itself is private, so it needs no link.
            neighbors.setdefault(key, []).append(holder)
        if key in objects:
            counts[key] += 1
            continue
        objects[key] = item
        counts[key] = 0 if holder is None else 1
        if kind in SAVED_FIELDS:
            pending.append((getattr(item, SAVED_FIELDS[kind]), key))
            continue
        if kind is not _NDARRAY:
            pending.extend([(child, key) for child in item])
            continue
        base = item.base
        if type(base) is _NDARRAY:
            # The view refers to its base, and a write to either changes
            # the other.
            pending.append((base, key))
            neighbors.setdefault(key, []).append(id(base))
        elif base is not None:
            # Memory of another object, such as bytes, an mmap or an
            # array subclass, that the caller may write into.
            counts[key] = -1


def _private_objects(objects, counts):
    """Return id -> whether only the references in `counts` (and this
    function's own) refer to each object of `objects`."""
    # While an object is counted, `objects`, the loop variable and the
    # argument of sys.getrefcount refer to it as well. Those are measured
    # on an object that only `objects` refers to, in case an interpreter
    # counts them otherwise.
    probe = object()
    objects[id(probe)] = probe
    counts[id(probe)] = 0
    del probe
    others = {key: sys.getrefcount(item) - counts[key]
              for key, item in objects.items()}
    baseline = others.popitem()[1]  # the probe's, added last
    return {key: count == baseline for key, count in others.items()}


def _copied(value, private, done):
    """Return `value` with the arrays that are not private copied. Lists
    that are private get the copies in place."""
    key = id(value)
    if key in done:
        return done[key]
    kind = type(value)
    if kind is _NDARRAY:
        result = value if private[key] else value.copy()
    elif kind is tuple:
        result = tuple([_copied(item, private, done) for item in value])
    elif kind is list and private[key]:
        done[key] = value
        value[:] = [_copied(item, private, done) for item in value]
        result = value
    elif kind in SAVED_FIELDS and private[key]:
        done[key] = value
        field = SAVED_FIELDS[kind]
        setattr(value, field, _copied(getattr(value, field), private, done))
        result = value
    else:
        result = value
    done[key] = result
    return result


_NDARRAY = np.ndarray
