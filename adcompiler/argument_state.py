"""Record the contents of a call's arguments and put them back in place.

`jacobian`, `hessian` and `hvp` run the user's function more than once, and
`grad`, `jvp` and `vjp` run it again after some errors. A function that
writes into an argument (`np.copyto(c, ...)`, `c.fill(0.0)`,
`log.append(...)`) would leave each later run a changed argument, so the
runs would differentiate different functions. `Runs` records the arguments'
contents before the first run and restores them before each later one, so
that every run starts from the caller's values and the caller's objects end
as after one run.

The record reaches arrays, lists, dicts, sets, bytearrays, deques, the
attributes of objects, `io.StringIO` and `io.BytesIO` (contents and
position), `random.Random`, and NumPy's RandomState, Generator,
BitGenerator and SeedSequence (the spawn count too), through tuples,
containers and attributes. Objects keep their identity: a restore writes
the old contents into the same objects, so views and aliases between
arguments stay as the caller made them.

Some objects cannot be restored: iterators and generators, readable
files other than StringIO and BytesIO, queues and `random.SystemRandom`. A set that
lost items cannot be restored either, because CPython's `set.pop` keeps a
search position that `clear` and `update` do not reset, so a later run
would pop other items. A run after the first raises InvalidArgumentError
when the arguments contain such an object or set.

NOTE: an object array's items, objects with `__slots__` or other hidden
state (C extension objects), and globals or closure variables that the
function changes are not recorded.
"""

import collections
import collections.abc
import io
import queue
import random
import types

import numpy as np

from adcompiler.errors import InvalidArgumentError

# Types whose values never change in place.
_IMMUTABLE_TYPES = (int, float, complex, bool, str, bytes, type(None),
                    np.generic, range, frozenset)

# Objects with a __dict__ that are not data: their attributes are not
# recorded.
_CODE_TYPES = (type, types.ModuleType, types.FunctionType,
               types.BuiltinFunctionType, types.MethodType)

# Stateful objects whose state cannot be read and written back. StringIO
# and BytesIO are files and iterators too, but they are restored.
_UNRESTORABLE_TYPES = (collections.abc.Iterator, io.IOBase, queue.Queue,
                       queue.SimpleQueue, random.SystemRandom)


class ArgumentState:
    """The contents of the mutable objects reachable from some values."""

    def __init__(self, values, names=None):
        # (object, its contents): a copy of an array, the items of a list,
        # and so on (see `_contents`).
        self._entries = []
        # (argument name or None, object) for each object that cannot be
        # restored, and (argument name or None, set, its items) for each set.
        self._unrestorable = []
        self._sets = []

        seen = set()
        values = list(values)
        if names is None:
            names = [None] * len(values)
        pending = list(zip(names, values, strict=True))
        while pending:
            name, item = pending.pop()
            if isinstance(item, _IMMUTABLE_TYPES) or id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, tuple):
                pending.extend((name, child) for child in item)
                continue
            if _is_unrestorable(item):
                self._unrestorable.append((name, item))
                continue
            recorded = _contents(item)
            if recorded is None:
                continue
            contents, children = recorded
            self._entries.append((item, contents))
            if isinstance(item, set):
                self._sets.append((name, item, contents))
            pending.extend((name, child) for child in children)

    def check_restorable(self):
        """Raise InvalidArgumentError when the objects recorded cannot all
        be put back as they were: an iterator, readable file, queue or
        SystemRandom, or a set that lost items (see the module's
        docstring)."""
        problem = None
        if self._unrestorable:
            name, item = self._unrestorable[0]
            problem = (f'is or contains a {type(item).__name__} object, '
                       'whose state adcompiler cannot restore')
        else:
            for name, item, contents in self._sets:
                if not item.issuperset(contents):
                    problem = ('is or contains a set that lost items, and '
                               'the order in which set.pop returns items '
                               'cannot be restored')
                    break
        if problem is None:
            return
        argument = 'an argument' if name is None else f'argument {name!r}'
        raise InvalidArgumentError(
            f'{argument} {problem}. jacobian, hessian and hvp run the '
            'function more than once (other transforms after some errors), '
            'and each run must start from the same state. Pass a fresh '
            'object per call, restorable data in its place (a list, a '
            'random.Random, a NumPy Generator), or use grad, vjp or jvp, '
            'which run the function once.')

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
    elif isinstance(item, collections.deque):
        item.clear()
        item.extend(contents)
    elif isinstance(item, np.random.Generator):
        pass  # Its bit generator is recorded and restored on its own.
    elif isinstance(item, np.random.BitGenerator):
        item.state = contents
    elif isinstance(item, (np.random.SeedSequence, io.StringIO, io.BytesIO)):
        item.__setstate__(contents)
    elif isinstance(item, np.random.RandomState):
        item.set_state(contents)
    elif isinstance(item, random.Random):
        state, attributes = contents
        item.setstate(state)
        item.__dict__.clear()
        item.__dict__.update(attributes)
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
                         np.random.BitGenerator, np.random.SeedSequence,
                         np.random.RandomState, random.Random, io.StringIO,
                         io.BytesIO)):
        return _equal(_contents(item)[0], contents)
    if isinstance(item, collections.deque):
        item = list(item)
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
    if isinstance(item, collections.deque):
        return list(item), item
    if isinstance(item, np.random.Generator):
        return (), (item.bit_generator,)
    if isinstance(item, np.random.BitGenerator):
        # The seed sequence counts its spawns (Generator.spawn).
        seed_sequence = getattr(item, 'seed_seq', None)
        children = () if seed_sequence is None else (seed_sequence,)
        return item.state, children
    if isinstance(item, np.random.SeedSequence):
        # The pickle state: entropy, spawn key, pool size and spawn count.
        return item.__reduce__()[2], ()
    if isinstance(item, (io.StringIO, io.BytesIO)):
        if item.closed:
            return None
        return item.__getstate__(), ()
    if isinstance(item, np.random.RandomState):
        return item.get_state(), ()
    if isinstance(item, random.Random):
        return (item.getstate(), dict(item.__dict__)), item.__dict__.values()
    if isinstance(item, _CODE_TYPES):
        return None
    attributes = getattr(item, '__dict__', None)
    if type(attributes) is dict:
        return dict(attributes), attributes.values()
    return None


def _is_unrestorable(item):
    """Return whether `item` is a stateful object that `_contents` cannot
    record."""
    if isinstance(item, (io.StringIO, io.BytesIO)):
        return False
    if isinstance(item, io.IOBase):
        # What a run writes to a file (a log, sys.stderr) cannot change
        # what a later run computes, but what it reads can.
        try:
            return item.readable()
        except ValueError:  # closed
            return False
    return isinstance(item, _UNRESTORABLE_TYPES)


class Runs:
    """The runs of a function on one set of arguments, each from the
    arguments' contents before the first.

    Call `start` right before each run. With `needed` false (the function
    writes into no argument) it does nothing.
    """

    def __init__(self, values, needed=True, names=None):
        self._values = tuple(values) if needed else None
        self._names = names
        self._state = None

    def start(self):
        """Record the arguments before the first run, and restore them
        before each later one."""
        if self._values is None:
            return
        if self._state is None:
            self._state = ArgumentState(self._values, self._names)
        else:
            self._state.check_restorable()
            self._state.restore()

    def reset(self):
        """Restore the arguments when a run has changed them."""
        if self._state is not None:
            self._state.check_restorable()
            self._state.restore()
