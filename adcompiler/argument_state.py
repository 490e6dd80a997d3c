"""Record the contents of a call's arguments and put them back in place.

`jacobian`, `hessian` and `hvp` run the user's function more than once, and
`grad`, `jvp` and `vjp` run it again after some errors. A function that
writes into an argument (`np.copyto(c, ...)`, `c.fill(0.0)`,
`log.append(...)`) would leave each later run a changed argument, so the
runs would differentiate different functions. `Runs` records the arguments'
contents before the first run and restores them before each later one, so
that every run starts from the caller's values and the caller's objects end
as after one run.

The record reaches arrays, lists, dicts, sets, bytearrays, the attributes
of objects, and the state of NumPy random generators, through tuples,
containers and attributes. Objects keep their identity: a restore writes
the old contents into the same objects, so views and aliases between
arguments stay as the caller made them.

NOTE: an object array's items, objects with `__slots__`, and globals or
closure variables that the function changes are not recorded.
"""

import types

import numpy as np

# Types whose values never change in place.
_IMMUTABLE_TYPES = (int, float, complex, bool, str, bytes, type(None),
                    np.generic, range, frozenset)

# Objects with a __dict__ that are not data: their attributes are not
# recorded.
_CODE_TYPES = (type, types.ModuleType, types.FunctionType,
               types.BuiltinFunctionType, types.MethodType)


class ArgumentState:
    """The contents of the mutable objects reachable from some values."""

    def __init__(self, values):
        # (object, its contents): a copy of an array, the items of a list,
        # and so on (see `_contents`).
        self._entries = []
        seen = set()
        pending = list(values)
        while pending:
            item = pending.pop()
            if isinstance(item, _IMMUTABLE_TYPES) or id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, tuple):
                pending.extend(item)
                continue
            recorded = _contents(item)
            if recorded is None:
                continue
            contents, children = recorded
            self._entries.append((item, contents))
            pending.extend(children)

    def restore(self):
        """Write the recorded contents back into the same objects."""
        for item, contents in self._entries:
            _write(item, contents)

    def restore_unless_changed(self, later):
        """Write the recorded contents back into each object, except the
        objects whose contents differ from what the `ArgumentState`
        `later`, taken after this one, recorded for them.

        `vjp` runs the primal again after the caller may have changed
        some arguments on purpose, and those keep the caller's values.
        """
        recorded_later = {id(item): contents
                          for item, contents in later._entries}
        for item, contents in self._entries:
            after = recorded_later.get(id(item), _NOT_RECORDED)
            if after is _NOT_RECORDED or _still_contains(item, after):
                _write(item, contents)


_NOT_RECORDED = object()


def _equal(first, second):
    """Return whether two recorded values are equal, comparing the arrays
    in a random generator's state item by item."""
    if isinstance(first, np.ndarray) or isinstance(second, np.ndarray):
        return np.array_equal(first, second)
    if isinstance(first, dict) and isinstance(second, dict):
        return first.keys() == second.keys() and all(
            _equal(value, second[key]) for key, value in first.items())
    if isinstance(first, tuple) and isinstance(second, tuple):
        return len(first) == len(second) and all(
            _equal(a, b) for a, b in zip(first, second, strict=True))
    return first == second


def _write(item, contents):
    """Write `contents`, recorded by `_contents`, back into `item`."""
    if isinstance(item, np.ndarray):
        item[...] = contents
    elif isinstance(item, (list, bytearray)):
        item[:] = contents
    elif isinstance(item, (dict, set)):
        item.clear()
        item.update(contents)
    elif isinstance(item, np.random.Generator):
        item.bit_generator.state = contents
    elif isinstance(item, np.random.RandomState):
        item.set_state(contents)
    else:
        attributes = item.__dict__
        attributes.clear()
        attributes.update(contents)


def _still_contains(item, contents):
    """Return whether `item` still contains `contents`, recorded by
    `_contents`: equal values in an array, the same objects in a
    container."""
    if isinstance(item, np.ndarray):
        return (item.shape == contents.shape
                and np.array_equal(item, contents,
                                   equal_nan=item.dtype.kind in 'fc'))
    if isinstance(item, (set, bytearray, np.random.Generator,
                         np.random.RandomState)):
        return _equal(_contents(item)[0], contents)
    current = item if isinstance(item, (list, dict)) else item.__dict__
    if len(current) != len(contents):
        return False
    if isinstance(current, list):
        return all(a is b for a, b in zip(current, contents, strict=True))
    return all(key in contents and value is contents[key]
               for key, value in current.items())


def _contents(item):
    """Return `(contents, children)` for a mutable object: a copy of what
    it contains that `ArgumentState.restore` can write back, and the values in
    it to record too. Return None for an object that is not recorded."""
    if isinstance(item, np.ndarray):
        # A read-only array may still change through a writeable view, but
        # then the view is the argument to record.
        if item.flags.writeable and item.size:
            return item.copy(), ()
        return None
    if isinstance(item, list):
        return item.copy(), item
    if isinstance(item, dict):
        return item.copy(), item.values()
    if isinstance(item, (set, bytearray)):
        return item.copy(), ()
    if isinstance(item, np.random.Generator):
        return item.bit_generator.state, ()
    if isinstance(item, np.random.RandomState):
        return item.get_state(), ()
    if isinstance(item, _CODE_TYPES):
        return None
    attributes = getattr(item, '__dict__', None)
    if type(attributes) is dict:
        return dict(attributes), attributes.values()
    return None


class Runs:
    """The runs of a function on one set of arguments, each from the
    arguments' contents before the first.

    Call `start` right before each run. With `needed` false (the function
    writes into no argument) it does nothing.
    """

    def __init__(self, values, needed=True):
        self._values = tuple(values) if needed else None
        self._state = None

    def start(self):
        """Record the arguments before the first run, and restore them
        before each later one."""
        if self._values is None:
            return
        if self._state is None:
            self._state = ArgumentState(self._values)
        else:
            self._state.restore()

    def reset(self):
        """Restore the arguments when a run has changed them."""
        if self._state is not None:
            self._state.restore()
