"""Record the contents of a call's arguments and put them back in place.

`jacobian`, `hessian` and `hvp` run the user's function more than once, and
`grad`, `jvp` and `vjp` run it again after some errors. A function that
writes into an argument (`np.copyto(c, ...)`, `c.fill(0.0)`,
`log.append(...)`) would leave each later run a changed argument, so the
runs would differentiate different functions. `Runs` records the arguments'
contents before the first run and restores them before each later one, so
that every run starts from the caller's values and the caller's objects end
as after one run.

The record reaches arrays (the items of an object array too), lists, dicts,
sets, bytearrays, `array.array`, deques, the attributes of objects (in
`__dict__` and in `__slots__`, also for subclasses of list, dict and the
other containers), `io.StringIO` and `io.BytesIO` (contents and position),
the position of a write-only file, `random.Random`, and NumPy's
RandomState, Generator, BitGenerator and SeedSequence (the spawn count
too). It goes through tuples, containers, attributes and callables: the
closure cells, default values and attributes of a Python function, the
object of a bound method and the parts of a `functools.partial`. Given the
differentiated function, `Runs` also records its closure cells and the
globals of its module that it or the functions reached from it name.
Objects keep their identity: a restore writes the old contents into the
same objects, so views and aliases between arguments stay as the caller
made them.

Some objects cannot be restored: iterators and generators, readable
files other than StringIO and BytesIO, queues and `random.SystemRandom`. A set that
lost items cannot be restored either, because CPython's `set.pop` keeps a
search position that `clear` and `update` do not reset, so a later run
would pop other items. A run after the first raises InvalidArgumentError
when the arguments contain such an object or set.

Hidden state of C extension objects, class attributes, and globals of
modules other than the differentiated function's (read as `module.name` or
by functions defined there) are not recorded. `Runs.check_output` raises
ChangedStateError when such state makes a later run return another value
than the first.
"""

import array
import collections
import collections.abc
import functools
import io
import os
import queue
import random
import types

import numpy as np

from adcompiler.errors import ChangedStateError, InvalidArgumentError

# Types whose values never change in place.
_IMMUTABLE_TYPES = (int, float, complex, bool, str, bytes, type(None),
                    np.generic, range, frozenset)

# Objects with a __dict__ that are not data: their attributes are not
# recorded.
_CODE_TYPES = (type, types.ModuleType)

# Callables implemented in C whose state, if any, is their `__self__`:
# `lst.append`, `iterator.__next__`, `obj.__call__` of a C class.
_C_METHOD_TYPES = (types.BuiltinMethodType, types.MethodWrapperType)

# Stateful objects whose state cannot be read and written back. StringIO
# and BytesIO are files and iterators too, but they are restored.
_UNRESTORABLE_TYPES = (collections.abc.Iterator, io.IOBase, queue.Queue,
                       queue.SimpleQueue, random.SystemRandom)

# The built-in containers whose contents `_contents` records; an instance
# of a subclass may have attributes as well.
_CONTAINER_TYPES = (list, dict, set, bytearray, array.array,
                    collections.deque, np.ndarray)

# The recorded value of a closure cell, slot or global that had no value.
_UNBOUND = object()


class _GlobalName:
    """One name in a module's globals, recorded as a binding: the name may
    be bound to another object by a run (`global total; total = 0.0`)."""

    def __init__(self, namespace, name):
        self.namespace = namespace
        self.name = name


class _Slots:
    """The `__slots__` attributes of one object."""

    def __init__(self, target, descriptors):
        self.target = target
        self.descriptors = descriptors


def _key(item):
    """Return what identifies the recorded object `item` across two
    records: its id, or for a `_GlobalName` or `_Slots` the ids of what it
    stands for."""
    if isinstance(item, _GlobalName):
        return ('global', id(item.namespace), item.name)
    if isinstance(item, _Slots):
        return ('slots', id(item.target))
    return id(item)


class ArgumentState:
    """The contents of the mutable objects reachable from some values."""

    def __init__(self, values, names=None, function=None):
        # (object, its contents): a copy of an array, the items of a list,
        # and so on (see `_contents`).
        self._entries = []
        # (where, object) for each object that cannot be restored, and
        # (where, object, its contents) for each set and each write-only
        # file. "where" names the argument or global that reaches the
        # object, or is None.
        self._unrestorable = []
        self._sets = []
        self._files = []
        self._function = function
        # The module globals of `function`. For each function defined in
        # that module, the globals that its code names are recorded too.
        self._namespace = _globals_of(function)
        # Where `function` first reaches state that a run may change
        # (see `_is_hidden_state`), or None.
        self.hidden_state = None
        # The ids of the empty `__dict__`s of the functions reached.
        function_attributes = set()

        seen = set()
        values = list(values)
        if names is None:
            names = [None] * len(values)
        # (where, object, whether it was reached through `function`), the
        # function first, so that an object that an argument reaches too
        # is named after the argument.
        pending = []
        if function is not None:
            pending.append((f'a closure variable of {_name_of(function)}',
                            function, True))
        pending.extend((None if name is None else f'argument {name!r}',
                        value, False)
                       for name, value in zip(names, values, strict=True))
        while pending:
            where, item, hidden = pending.pop()
            if isinstance(item, _IMMUTABLE_TYPES) or _key(item) in seen:
                continue
            seen.add(_key(item))
            if isinstance(item, tuple):
                pending.extend((where, child, hidden) for child in item)
                continue
            if isinstance(item, _GlobalName) and hidden:
                where = f'global {item.name!r}'
            if isinstance(item, types.FunctionType) and not item.__dict__:
                function_attributes.add(id(item.__dict__))
            if (hidden and self.hidden_state is None
                    and id(item) not in function_attributes
                    and _is_hidden_state(item)):
                self.hidden_state = where
            if _is_unrestorable(item):
                # NOTE: an iterator, readable file or queue that only
                # globals or closure variables reach is not rejected,
                # because many functions reach one (a logger's stream)
                # without reading it. `Runs.check_output` catches a read
                # only when it changes the function's output.
                if not hidden:
                    self._unrestorable.append((where, item))
                continue
            recorded = _contents(item)
            if recorded is not None:
                contents, children = recorded
                self._entries.append((item, contents))
                if isinstance(item, set):
                    self._sets.append((where, item, contents))
                if _is_write_only_file(item):
                    self._files.append((where, item, contents))
                pending.extend((where, child, hidden) for child in children)
            pending.extend((where, part, hidden)
                           for part in _parts(item, self._namespace))

    def check_restorable(self):
        """Raise InvalidArgumentError when the objects recorded cannot all
        be put back as they were: an iterator, readable file, queue or
        SystemRandom, a set that lost items, or an appended file that was
        not at its end (see the module's docstring)."""
        problem = None
        if self._unrestorable:
            where, item = self._unrestorable[0]
            problem = (f'is or contains a {type(item).__name__} object, '
                       'whose state adcompiler cannot restore')
        if problem is None:
            for where, item, contents in self._sets:
                if not item.issuperset(contents):
                    problem = ('is or contains a set that lost items, and '
                               'the order in which set.pop returns items '
                               'cannot be restored')
                    break
        if problem is None:
            for where, item, contents in self._files:
                if not _position_restorable(item, contents):
                    problem = ('is or contains a file opened for appending '
                               'whose position was not at its end, so the '
                               'text a run appended cannot be removed')
                    break
        if problem is None:
            return
        subject = 'an argument' if where is None else where
        raise InvalidArgumentError(
            f'{subject} {problem}. jacobian, hessian and hvp run the '
            'function more than once (other transforms after some errors), '
            'and each run must start from the same state.'
            f'{_definition_of(self._function)} Pass a fresh '
            'object per call, restorable data in its place (a list, a '
            'random.Random, a NumPy Generator), or use grad, vjp or jvp, '
            'which run the function once.')

    def restore(self):
        """Write the recorded contents back into the same objects."""
        for item, contents in self._entries:
            _write(item, contents)

    def changes_since(self, earlier):
        """Return the (object, contents) entries of this record for the
        objects whose contents differ from what the `ArgumentState`
        `earlier` recorded for them, or that it did not record.

        `vjp` runs the primal again from the state of its first run, and
        then writes these entries back, so that the changes that the
        caller made in between stay in the caller's objects.
        """
        recorded_earlier = {_key(item): contents
                            for item, contents in earlier._entries}
        changed = []
        for item, contents in self._entries:
            before = recorded_earlier.get(_key(item), _NOT_RECORDED)
            if before is _NOT_RECORDED or not _still_contains(item, before):
                changed.append((item, contents))
        return changed


def restore_entries(entries):
    """Write the contents of `ArgumentState.changes_since` entries back
    into their objects."""
    for item, contents in entries:
        _write(item, contents)


_NOT_RECORDED = object()


def _name_of(function):
    return getattr(function, '__qualname__', None) or type(function).__name__


def _definition_of(function):
    """Return ' loss is defined at File "f.py", line 3.' for a Python
    function `loss`, or '' when its file is not known."""
    code = getattr(getattr(function, '__func__', function), '__code__', None)
    if code is None:
        return ''
    return (f' {_name_of(function)} is defined at File '
            f'"{code.co_filename}", line {code.co_firstlineno}.')


def _globals_of(function):
    """Return the globals of `function` (a Python function or a method of
    one), or None."""
    function = getattr(function, '__func__', function)
    if isinstance(function, types.FunctionType):
        return function.__globals__
    return None


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
    elif isinstance(item, (list, bytearray, array.array)):
        item[:] = contents
    elif isinstance(item, (dict, set)):
        item.clear()
        item.update(contents)
    elif isinstance(item, collections.deque):
        item.clear()
        item.extend(contents)
    elif isinstance(item, types.CellType):
        if contents is not _UNBOUND:
            item.cell_contents = contents
        elif _cell_value(item) is not _UNBOUND:
            del item.cell_contents
    elif isinstance(item, _GlobalName):
        if contents is _UNBOUND:
            item.namespace.pop(item.name, None)
        else:
            item.namespace[item.name] = contents
    elif isinstance(item, _Slots):
        for descriptor, value in zip(item.descriptors, contents,
                                     strict=True):
            if value is not _UNBOUND:
                descriptor.__set__(item.target, value)
            elif _slot_value(item.target, descriptor) is not _UNBOUND:
                descriptor.__delete__(item.target)
    elif isinstance(item, np.random.Generator):
        pass  # Its bit generator is recorded and restored on its own.
    elif isinstance(item, np.random.BitGenerator):
        item.state = contents
    elif isinstance(item, (np.random.SeedSequence, io.StringIO, io.BytesIO)):
        item.__setstate__(contents)
    elif isinstance(item, io.IOBase):
        _write_position(item, contents)
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
    if isinstance(item, (set, bytearray, array.array, np.random.Generator,
                         np.random.BitGenerator, np.random.SeedSequence,
                         np.random.RandomState, random.Random, io.IOBase)):
        return _equal(_contents(item)[0], contents)
    if isinstance(item, (types.CellType, _GlobalName)):
        return _contents(item)[0] is contents
    if isinstance(item, _Slots):
        return all(a is b for a, b in zip(_contents(item)[0], contents,
                                          strict=True))
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
            children = list(item.flat) if item.dtype.hasobject else ()
            return item.copy(), children
        return None
    if isinstance(item, list):
        return item.copy(), item
    if isinstance(item, dict):
        return item.copy(), item.values()
    if isinstance(item, (set, bytearray)):
        return item.copy(), ()
    if isinstance(item, array.array):
        return array.array(item.typecode, item), ()
    if isinstance(item, collections.deque):
        return list(item), item
    if isinstance(item, types.CellType):
        value = _cell_value(item)
        return value, () if value is _UNBOUND else (value,)
    if isinstance(item, _GlobalName):
        value = item.namespace.get(item.name, _UNBOUND)
        return value, () if value is _UNBOUND else (value,)
    if isinstance(item, _Slots):
        values = tuple(_slot_value(item.target, descriptor)
                       for descriptor in item.descriptors)
        return values, [v for v in values if v is not _UNBOUND]
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
    if isinstance(item, io.IOBase):
        return _file_position(item)
    if isinstance(item, np.random.RandomState):
        return item.get_state(), ()
    if isinstance(item, random.Random):
        return (item.getstate(), dict(item.__dict__)), item.__dict__.values()
    if isinstance(item, (_CODE_TYPES, types.FunctionType, types.MethodType,
                         _C_METHOD_TYPES, functools.partial)):
        return None  # `_parts` lists what they contain.
    attributes = getattr(item, '__dict__', None)
    if type(attributes) is dict and not _is_own_object(item):
        return dict(attributes), attributes.values()
    return None


def _parts(item, namespace):
    """Return the objects that `item` references beyond what `_contents`
    records: the attributes of a container subclass, `__slots__` values,
    and the closure cells, defaults and attributes of a callable. For a
    function whose globals are `namespace`, also the globals that it
    names."""
    if isinstance(item, (_GlobalName, _Slots, types.CellType, _CODE_TYPES)) \
            or _is_own_object(item):
        return []
    parts = []

    if isinstance(item, types.FunctionType):
        parts.extend(item.__closure__ or ())
        parts.append(item.__defaults__)
        parts.append(item.__kwdefaults__)
        parts.append(item.__dict__)
        if item.__globals__ is namespace:
            parts.extend(_GlobalName(namespace, name)
                         for name in _global_names(item.__code__))
        return [part for part in parts if part is not None]

    if isinstance(item, (types.MethodType, _C_METHOD_TYPES)):
        owner = getattr(item, '__self__', None)
        if owner is not None and not isinstance(owner, types.ModuleType):
            parts.append(owner)
        parts.append(getattr(item, '__func__', None))
        return [part for part in parts if part is not None]

    if isinstance(item, functools.partial):
        return [item.func, item.args, item.keywords, item.__dict__]

    descriptors = _slot_descriptors(type(item))
    if descriptors:
        parts.append(_Slots(item, descriptors))
    if isinstance(item, _CONTAINER_TYPES):
        # `_contents` records these objects' own data, but not the
        # attributes of a subclass's instance.
        attributes = getattr(item, '__dict__', None)
        if type(attributes) is dict:
            parts.append(attributes)
    return parts


def _is_own_object(item):
    """Return whether `item` is an adcompiler object, such as a gradient
    function and its caches, whose state no run of user code reads."""
    return type(item).__module__.partition('.')[0] == 'adcompiler'


@functools.lru_cache(maxsize=256)
def _global_names(code):
    """Return the global names that `code` and the functions, classes and
    comprehensions defined in it may read or bind."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _global_names(constant)
    return frozenset(names)


@functools.lru_cache(maxsize=256)
def _slot_descriptors(cls):
    """Return the descriptors of the `__slots__` attributes that `cls` and
    its Python base classes define."""
    descriptors = []
    for klass in cls.__mro__:
        if '__slots__' not in vars(klass):
            continue
        # A name in __slots__ (mangled when private) becomes a member
        # descriptor in the class's namespace.
        descriptors.extend(
            value for value in vars(klass).values()
            if isinstance(value, types.MemberDescriptorType)
            and value.__objclass__ is klass)
    return tuple(descriptors)


def _slot_value(target, descriptor):
    try:
        return descriptor.__get__(target, type(target))
    except AttributeError:
        return _UNBOUND


def _cell_value(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return _UNBOUND


def _file_position(item):
    """Return `((position, at_end, appends), ())` for a seekable write-only
    file, or None for a closed or unseekable one, whose position a
    function cannot read. `at_end` is None when the file's size is not
    known."""
    try:
        if item.closed or not item.seekable():
            return None
        position = item.tell()
    except (OSError, ValueError):
        return None
    appends = 'a' in getattr(item, 'mode', '')
    at_end = None
    if appends:
        try:
            item.flush()
            # A text file's tell() returns an opaque cookie, so the byte
            # offset comes from its binary buffer.
            offset = getattr(item, 'buffer', item).tell()
            at_end = offset == os.fstat(item.fileno()).st_size
        except (OSError, ValueError):
            pass
    return (position, at_end, appends), ()


def _position_restorable(item, contents):
    """Return whether `_write_position` can put the file `item` back at
    its recorded position."""
    position, at_end, appends = contents
    if item.closed or item.tell() == position or not appends:
        return True
    # Writes to a file opened for appending go to its end, so the text
    # that runs appended must be cut off. That is right only when the file
    # ended at the recorded position, or the cut would lose the caller's
    # text.
    return bool(at_end)


def _write_position(item, contents):
    """Move the write-only file `item` back to its recorded position, so
    that the next run writes over what the last one wrote."""
    position, _, appends = contents
    if item.closed or item.tell() == position:
        return
    item.seek(position)
    if appends:
        item.truncate()


def _is_write_only_file(item):
    return isinstance(item, io.IOBase) and not isinstance(
        item, (io.StringIO, io.BytesIO))


def _is_hidden_state(item):
    """Return whether `item`, reached from a function's closure or
    globals, is or may hold state that a run changes.

    Such state is a mutable object, an object that cannot be recorded, or
    a class outside the libraries, whose attributes a run may change. A
    function whose code names `random` counts too, because it may draw
    from the `random` module or `np.random`.
    """
    if isinstance(item, (_GlobalName, _Slots, types.CellType)):
        return False  # The values they hold are checked on their own.
    if isinstance(item, types.FunctionType):
        return 'random' in _global_names(item.__code__)
    if isinstance(item, type):
        package = item.__module__.partition('.')[0]
        return package not in _LIBRARY_PACKAGES
    return _is_unrestorable(item) or _contents(item) is not None


# Packages whose classes hold no state that a differentiated function
# changes.
_LIBRARY_PACKAGES = frozenset({
    'numpy', 'scipy', 'math', 'cmath', 'builtins', 'collections',
    'functools', 'itertools', 'operator', 'types', 'typing', 'dataclasses',
    'enum', 'adcompiler'})


def hidden_state_of(function):
    """Return where `function` reaches state beyond its arguments that
    a run may change ("global 'rng'", "a closure variable of f"), or None
    when it reaches none. See `_is_hidden_state` for what counts."""
    return ArgumentState((), function=function).hidden_state


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
    writes into no argument) it does nothing. Given `function`, the runs
    also start from its closure's and module's state before the first (see
    `ArgumentState`), and `check_output` compares their outputs.
    """

    def __init__(self, values, needed=True, names=None, function=None):
        self._values = tuple(values) if needed else None
        self._names = names
        self._function = function
        self._state = None
        # key -> the output of the first run that `check_output` got for it.
        self._outputs = {}

    def start(self):
        """Record the arguments before the first run, and restore them
        before each later one."""
        if self._values is None:
            return
        if self._state is None:
            self._state = ArgumentState(self._values, self._names,
                                        self._function)
        else:
            self._state.check_restorable()
            self._state.restore()

    def reset(self):
        """Restore the arguments when a run has changed them, and forget
        the outputs of the runs so far."""
        self._outputs.clear()
        if self._state is not None:
            self._state.check_restorable()
            self._state.restore()

    def check_output(self, key, output):
        """Raise ChangedStateError when `output`, what a run returned, is
        not what the first run with the same `key` returned.

        Runs with one key compute the same values from the same state, so a
        difference shows state that a run changed and `ArgumentState` does
        not restore (see the module's docstring). The check cannot see such
        state when it changes only derivatives, not values.
        """
        first = self._outputs.setdefault(key, output)
        if first is output or same_output(first, output):
            return
        name = _name_of(self._function)
        raise ChangedStateError(
            f'{name} returned another value when it ran again on the same '
            'arguments: jacobian, hessian and hvp run it more than once, and '
            'it reads state that an earlier run changed and that adcompiler '
            'does not restore, such as a class attribute, a global of '
            'another module, or the state of a C extension object or of '
            "NumPy's global random generator (np.random.normal)."
            f'{_definition_of(self._function)} Pass that state as an '
            'argument (a NumPy Generator in place of np.random, say), or use '
            'grad, vjp or jvp, which run the function once.')


# The largest difference between an entry of two runs' outputs, relative
# to that entry's magnitude, that `same_output` takes for rounding. Two runs
# of one generated function on the same arguments returned the same bits
# in the test suite (NumPy 2.4 with OpenBLAS on x86-64). The bound leaves
# room for a BLAS whose kernels depend on memory alignment or thread count.
# It also leaves room for two code variants that compute one value (the
# objectives of a Hessian's rows), which may round apart by a few units in
# the last place.
# Float32 and float16 entries get `_OUTPUT_ULPS` of their own units.
_OUTPUT_RTOL = 1e-9
_OUTPUT_ULPS = 16


def same_output(first, second):
    """Return whether two runs' outputs hold the same numbers, up to
    rounding of each entry. Values other than numbers, arrays and the
    built-in containers count as the same."""
    if isinstance(first, (list, tuple)) and isinstance(second, (list, tuple)):
        return len(first) == len(second) and all(
            same_output(a, b) for a, b in zip(first, second, strict=True))
    if isinstance(first, dict) and isinstance(second, dict):
        return first.keys() == second.keys() and all(
            same_output(value, second[key]) for key, value in first.items())
    if not (_is_numeric(first) and _is_numeric(second)):
        return True
    first, second = np.asarray(first), np.asarray(second)
    if first.shape != second.shape:
        return False
    if first.dtype.kind not in 'fc' and second.dtype.kind not in 'fc':
        return np.array_equal(first, second)
    finite = np.isfinite(first) & np.isfinite(second)
    if not np.array_equal(first[~finite], second[~finite], equal_nan=True):
        return False
    if not finite.any():
        return True
    first, second = first[finite], second[finite]
    # Each entry is compared with its own magnitude, so an entry next to a
    # much larger one cannot change unseen. NOTE: an entry that cancels to
    # near zero (a dot product of terms of opposite sign) may round apart
    # by more than this bound under such a BLAS, and then raises
    # ChangedStateError although no state changed.
    precision = np.finfo(np.result_type(first.dtype, second.dtype))
    rtol = max(_OUTPUT_RTOL, _OUTPUT_ULPS * float(precision.eps))
    magnitude = np.maximum(np.abs(first), np.abs(second))
    tolerance = rtol * magnitude + float(precision.smallest_normal)
    return bool(np.all(np.abs(first - second) <= tolerance))


def _is_numeric(value):
    if isinstance(value, (bool, int, float, complex, np.generic)):
        return True
    return isinstance(value, np.ndarray) and value.dtype.kind in 'biufc'
