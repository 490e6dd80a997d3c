"""Python operators on values that are not arrays or numbers.

The reverse and forward stages give `x + y` the rule of NumPy addition.
That is right for arrays and numbers only: on a tuple `+` concatenates, on
a dict `|` merges, and on an object of a user's class the operator calls
a method such as `__add__` written in Python. So normalize writes an
operator as a call of one of the functions below when an operand is known
to be such a value (a display, a constructor call). It always does so for
the operators that have no rule on arrays (`| & ^ << >> // ~`).

Each function does what Python does for the operator, with calls that
adcompiler differentiates: for arrays and numbers it calls the `operator`
function, which has the NumPy rule (or none); for lists, tuples and dicts
it builds the result from their items; for other objects it calls the
class's method, which is transformed from its source like any method.
"""

import collections
import operator
import types

import numpy as np

# Values whose operators have the NumPy rules (bool is a subclass of int).
_NUMERIC = (np.ndarray, np.generic, int, float, complex)


def _numpy_operands(x, y):
    """Return whether `x op y` has NumPy's meaning: both are arrays or
    numbers, or one is and the other is a list or a tuple, which NumPy
    reads as an array."""
    if isinstance(x, _NUMERIC):
        return isinstance(y, _NUMERIC) or _is_sequence(y)
    return _is_sequence(x) and isinstance(y, _NUMERIC)


def _unsupported(symbol, x, y):
    return TypeError(f'unsupported operand type(s) for {symbol}: '
                     f'{type(x).__name__!r} and {type(y).__name__!r}')


def _reflected_first(x, y, reflected):
    """Return whether Python tries `y.<reflected>` before `x`'s method: when
    the class of y is a proper subclass of x's that overrides it."""
    left, right = type(x), type(y)
    return (left is not right and issubclass(right, left)
            and getattr(right, reflected, None)
            is not getattr(left, reflected, None))


def call_operator_methods(x, y, method, reflected, symbol):
    """Return `x <symbol> y` from the methods of the operands' classes.

    A method that is missing or returns NotImplemented passes the
    operation to the other operand's reflected method, as Python does. A
    number or an array leaves an object on its right to that object's
    method.
    """
    # NOTE: NumPy would apply an object's method to each item of an array
    # on its left. Here the object's reflected method gets the whole array.
    result = NotImplemented
    if not _reflected_first(x, y, reflected) and not isinstance(x, _NUMERIC):
        forward = getattr(type(x), method, None)
        if forward is not None:
            result = forward(x, y)
    if result is NotImplemented:
        backward = getattr(type(y), reflected, None)
        if backward is not None:
            result = backward(y, x)
    if result is NotImplemented and _reflected_first(x, y, reflected):
        forward = getattr(type(x), method, None)
        if forward is not None:
            result = forward(x, y)
    if result is NotImplemented:
        raise _unsupported(symbol, x, y)
    return result


def call_unary_method(x, method, symbol):
    """Return `<symbol>x` from the method of x's class."""
    function = getattr(type(x), method, None)
    if function is None:
        raise TypeError(f'bad operand type for unary {symbol}: '
                        f'{type(x).__name__!r}')
    return function(x)


def _is_sequence(value):
    return type(value) is list or type(value) is tuple


def _array_operand(value):
    """Return np.asarray(value) for a list or tuple, the array that NumPy
    makes of it, so that the operator's NumPy rule gets an array."""
    if _is_sequence(value):
        return np.asarray(value)
    return value


def concatenate(x, y):
    """Return `x + y` for two lists or two tuples, item by item."""
    if type(x) is not type(y):
        raise TypeError(f'can only concatenate {type(x).__name__} (not '
                        f'"{type(y).__name__}") to {type(x).__name__}')
    items = []
    for item in x:
        items.append(item)
    for item in y:
        items.append(item)
    if type(x) is tuple:
        return tuple(items.copy())
    return items


def repeat(sequence, count):
    """Return `sequence * count` for a list or a tuple and an int."""
    items = []
    for _ in range(operator.index(count)):
        for item in sequence:
            items.append(item)
    if type(sequence) is tuple:
        return tuple(items.copy())
    return items


def merge(x, y):
    """Return `x | y` for two dicts: the entries of x, then those of y,
    a later value of a key replacing the earlier one in its place."""
    result = {}
    for key in x:
        result[key] = x[key]
    for key in y:
        result[key] = y[key]
    return result


def add(x, y):
    """Return x + y."""
    if _is_sequence(x) and _is_sequence(y):
        return concatenate(x, y)
    if _numpy_operands(x, y):
        return operator.add(_array_operand(x), _array_operand(y))
    return call_operator_methods(x, y, '__add__', '__radd__', '+')


def sub(x, y):
    """Return x - y."""
    if _numpy_operands(x, y):
        return operator.sub(_array_operand(x), _array_operand(y))
    return call_operator_methods(x, y, '__sub__', '__rsub__', '-')


def mul(x, y):
    """Return x * y."""
    if _is_sequence(x) and isinstance(y, int):
        return repeat(x, y)
    if isinstance(x, int) and _is_sequence(y):
        return repeat(y, x)
    if _numpy_operands(x, y):
        return operator.mul(_array_operand(x), _array_operand(y))
    return call_operator_methods(x, y, '__mul__', '__rmul__', '*')


def truediv(x, y):
    """Return x / y."""
    if _numpy_operands(x, y):
        return operator.truediv(_array_operand(x), _array_operand(y))
    return call_operator_methods(x, y, '__truediv__', '__rtruediv__', '/')


def pow_(x, y):
    """Return x ** y."""
    if _numpy_operands(x, y):
        return operator.pow(_array_operand(x), _array_operand(y))
    return call_operator_methods(x, y, '__pow__', '__rpow__', '**')


def mod(x, y):
    """Return x % y."""
    if _numpy_operands(x, y):
        return operator.mod(_array_operand(x), _array_operand(y))
    return call_operator_methods(x, y, '__mod__', '__rmod__', '%')


def matmul(x, y):
    """Return x @ y."""
    if _numpy_operands(x, y):
        return operator.matmul(_array_operand(x), _array_operand(y))
    return call_operator_methods(x, y, '__matmul__', '__rmatmul__', '@')


def floordiv(x, y):
    """Return x // y."""
    if _numpy_operands(x, y):
        return operator.floordiv(_array_operand(x), _array_operand(y))
    return call_operator_methods(x, y, '__floordiv__', '__rfloordiv__', '//')


def or_(x, y):
    """Return x | y."""
    if _numpy_operands(x, y):
        return operator.or_(_array_operand(x), _array_operand(y))
    if type(x) is dict and type(y) is dict:
        return merge(x, y)
    return call_operator_methods(x, y, '__or__', '__ror__', '|')


def and_(x, y):
    """Return x & y."""
    if _numpy_operands(x, y):
        return operator.and_(_array_operand(x), _array_operand(y))
    return call_operator_methods(x, y, '__and__', '__rand__', '&')


def xor(x, y):
    """Return x ^ y."""
    if _numpy_operands(x, y):
        return operator.xor(_array_operand(x), _array_operand(y))
    return call_operator_methods(x, y, '__xor__', '__rxor__', '^')


def lshift(x, y):
    """Return x << y."""
    if _numpy_operands(x, y):
        return operator.lshift(_array_operand(x), _array_operand(y))
    return call_operator_methods(x, y, '__lshift__', '__rlshift__', '<<')


def rshift(x, y):
    """Return x >> y."""
    if _numpy_operands(x, y):
        return operator.rshift(_array_operand(x), _array_operand(y))
    return call_operator_methods(x, y, '__rshift__', '__rrshift__', '>>')


def neg(x):
    """Return -x."""
    if isinstance(x, _NUMERIC):
        return operator.neg(x)
    return call_unary_method(x, '__neg__', '-')


def pos(x):
    """Return +x."""
    if isinstance(x, _NUMERIC):
        return operator.pos(x)
    return call_unary_method(x, '__pos__', '+')


def invert(x):
    """Return ~x."""
    if isinstance(x, _NUMERIC):
        return operator.invert(x)
    return call_unary_method(x, '__invert__', '~')


def absolute(x):
    """Return abs(x)."""
    if isinstance(x, _NUMERIC):
        return abs(x)
    return call_unary_method(x, '__abs__', 'abs()')


# The operator functions that return a new object for arrays, numbers and
# containers, as the operators they stand for do.
NEW_VALUE_OPERATORS = (add, sub, mul, truediv, pow_, mod, matmul, floordiv,
                       or_, and_, xor, lshift, rshift, neg, pos, invert,
                       absolute)


def getitem(x, index):
    """Return x[index] for an object whose class defines __getitem__."""
    function = getattr(type(x), '__getitem__', None)
    if function is None:
        raise TypeError(f'{type(x).__name__!r} object is not subscriptable')
    if isinstance(x, _NUMERIC) or not isinstance(function,
                                                 types.FunctionType):
        return x[index]  # An array, or a built-in container.
    return function(x, index)


def index_tuple(key):
    """Return np.index_exp[key]: the key if it is a tuple, else (key,)."""
    if isinstance(key, tuple):
        return key
    return (key,)


def concatenate_rows(*items):
    """Return np.r_[items] for items that are arrays, numbers or lists
    (not slices or string directives): each made at least 1-D, then
    joined along the first axis."""
    parts = []
    for item in items:
        parts.append(np.atleast_1d(item))
    return np.concatenate(parts)


def concatenate_columns(*items):
    """Return np.c_[items] for items that are arrays, numbers or lists
    (not slices or string directives): a number becomes a 1 x 1 array and
    a 1-D array a column, then all are joined along the last axis."""
    parts = []
    for item in items:
        part = np.asarray(item)
        if np.ndim(part) == 0:
            part = np.reshape(part, (1, 1))
        elif np.ndim(part) == 1:
            part = np.reshape(part, (-1, 1))
        parts.append(part)
    return np.concatenate(parts, axis=-1)


# The functions that replace a subscript of NumPy's index concatenators.
INDEX_CONCATENATORS = ((np.r_, concatenate_rows),
                       (np.c_, concatenate_columns))


def sum_items(iterable, start=0):
    """Return sum(iterable, start), adding with Python's protocol."""
    total = start
    for item in iterable:
        total = add(total, item)
    return total


# The function of each operator node of gast, by the node's class name.
BINARY = {'Add': add, 'Sub': sub, 'Mult': mul, 'Div': truediv,
          'Pow': pow_, 'Mod': mod, 'MatMult': matmul, 'FloorDiv': floordiv,
          'BitOr': or_, 'BitAnd': and_, 'BitXor': xor, 'LShift': lshift,
          'RShift': rshift}
UNARY = {'USub': neg, 'UAdd': pos, 'Invert': invert}

# The functions above by the function of the operator module (or the
# built-in) that they replace, for calls such as operator.or_(a, b).
BY_FUNCTION = {operator.add: add, operator.sub: sub, operator.mul: mul,
               operator.truediv: truediv, operator.pow: pow_,
               operator.mod: mod, operator.matmul: matmul,
               operator.floordiv: floordiv, operator.or_: or_,
               operator.and_: and_, operator.xor: xor,
               operator.lshift: lshift, operator.rshift: rshift,
               operator.neg: neg, operator.pos: pos,
               operator.invert: invert, abs: absolute,
               operator.getitem: getitem, sum: sum_items}

# Operators without a NumPy rule, always written as a call: their result
# carries no derivative for arrays, but it may for other values.
WITHOUT_ARRAY_RULE = frozenset({'FloorDiv', 'BitOr', 'BitAnd', 'BitXor',
                                'LShift', 'RShift', 'Invert'})

# Methods of a user's class that make an operand of it call a function above.
OPERATOR_METHODS = frozenset({
    '__add__', '__radd__', '__sub__', '__rsub__', '__mul__', '__rmul__',
    '__truediv__', '__rtruediv__', '__pow__', '__rpow__', '__mod__',
    '__rmod__', '__matmul__', '__rmatmul__', '__floordiv__',
    '__rfloordiv__', '__or__', '__ror__', '__and__', '__rand__', '__xor__',
    '__rxor__', '__lshift__', '__rlshift__', '__rshift__', '__rrshift__',
    '__neg__', '__pos__', '__invert__', '__abs__', '__getitem__'})
WITHOUT_ARRAY_RULE_FUNCTIONS = frozenset({
    'floordiv', 'or_', 'and_', 'xor', 'lshift', 'rshift', 'invert'})

# Types whose values hold no object with operator methods.
_PLAIN_TYPES = frozenset({float, int, complex, bool, str, bytes, type(None),
                          np.float64, np.float32, np.int64, np.int32,
                          np.complex128, np.bool_, slice, range})

# The depth of nesting that `holds_operator_object` searches.
_MAX_DEPTH = 32


def holds_operator_object(value, depth=0, seen=None):
    """Return whether `value` may be, or contain in its items or
    attributes, an object whose class defines an operator method in Python.

    A class that has a member named like an array method with a rule
    (`sum`, `dot`, see `_defines_operator_method`) counts as defining one,
    so that a call `v.sum()` on such an object runs its own method instead
    of the array rule. Numbers, strings, arrays of numbers, functions,
    classes and modules are not such objects. Containers and objects are
    searched to
    `_MAX_DEPTH` levels, and `seen` contains the ids of those being
    searched. An object whose attributes a property or __getattr__ may
    compute counts as such an object.
    """
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return False
    if kind is np.ndarray:
        return value.dtype.hasobject
    if kind is list or kind is tuple:
        # Lists of arrays are common arguments: a loop without recursion.
        for item in value:
            if type(item) is np.ndarray:
                if item.dtype.hasobject:
                    return True
            elif type(item) not in _PLAIN_TYPES:
                break
        else:
            return False
    if depth > _MAX_DEPTH:
        return True
    # A value met again inside itself adds nothing to what is searched.
    seen = set() if seen is None else seen
    if id(value) in seen:
        return False
    seen.add(id(value))
    if kind in (list, tuple, set, frozenset, collections.deque):
        return any(holds_operator_object(item, depth + 1, seen)
                   for item in value)
    if kind in (dict, types.MappingProxyType):
        return any(holds_operator_object(item, depth + 1, seen)
                   for item in value.values())
    if isinstance(value, (np.generic, types.FunctionType,
                          types.BuiltinFunctionType, types.ModuleType, type,
                          np.ufunc)):
        return False
    defines_operator, computes_attributes = _class_facts(kind)
    if defines_operator or not _array_method_names().isdisjoint(
            getattr(value, '__dict__', ())):
        return True  # An attribute such as `v.sum = f` hides the method.
    # Subclasses such as namedtuple and OrderedDict: their items.
    if isinstance(value, (tuple, list)):
        return any(holds_operator_object(item, depth + 1, seen)
                   for item in value)
    if isinstance(value, dict):
        return any(holds_operator_object(item, depth + 1, seen)
                   for item in value.values())
    if computes_attributes:
        return True
    if kind.__module__ == 'builtins' or not hasattr(value, '__dict__') \
            and not hasattr(kind, '__slots__'):
        return True  # Another built-in type whose contents are not known.
    return any(holds_operator_object(field, depth + 1, seen)
               for field in _fields(value))


def computes_attributes(cls):
    """Return whether reading an attribute of an object of `cls` may run
    code: a property or other descriptor, or __getattr__."""
    return _class_facts(cls)[1]


# class -> (stamp, members, (`_defines_operator_method`,
# `_computes_attributes`)), see `_class_facts`.
_class_facts_cache = {}
_MAX_CACHED_CLASSES = 1024


def _class_facts(cls):
    """Return `(_defines_operator_method(cls), _computes_attributes(cls))`,
    computed again when the registry or a member of a class of `cls`'s MRO
    has changed since the last call.

    The stamp compares the members by id. The cache entry keeps the
    members alive, so that no new member can reuse a replaced member's id
    while the entry exists. Built-in classes cannot change.
    """
    from adcompiler.rules.registry import REGISTRY
    names, ids, members = [], [], []
    for base in cls.__mro__:
        if base.__module__ != 'builtins':
            namespace = vars(base)
            names.append(tuple(namespace))
            members.append(tuple(namespace.values()))
            ids.append(tuple(map(id, members[-1])))
    stamp = (REGISTRY.version, id(cls.__mro__), tuple(names), tuple(ids))
    cached = _class_facts_cache.get(cls)
    if cached is not None and cached[0] == stamp:
        return cached[2]
    facts = (_defines_operator_method(cls), _computes_attributes(cls))
    if len(_class_facts_cache) >= _MAX_CACHED_CLASSES:
        _class_facts_cache.clear()
    _class_facts_cache[cls] = (stamp, (cls.__mro__, members), facts)
    return facts


def _defines_operator_method(cls):
    """Return whether `cls` defines an operator method in Python, or has a
    member named like an array method with a rule (`sum`, `dot`, `copy`).
    Members of classes in `builtins` and `collections` do not count. The
    rule of that array method would be wrong for such a member."""
    if any(isinstance(getattr(cls, method, None), types.FunctionType)
           for method in OPERATOR_METHODS):
        return True
    names = _array_method_names()
    return any(not names.isdisjoint(vars(base)) for base in cls.__mro__
               if base.__module__ not in ('builtins', 'collections'))


# (registry version, names of the array methods with rules).
_array_methods = (None, frozenset())


def _array_method_names():
    """Return the names of the array methods with a registered rule."""
    global _array_methods
    from adcompiler.rules.registry import REGISTRY
    if _array_methods[0] != REGISTRY.version:
        _array_methods = (REGISTRY.version, frozenset(REGISTRY.entries()[1]))
    return _array_methods[1]


def _computes_attributes(cls):
    """Return whether reading an attribute of an object of `cls` may run
    code: a property or other descriptor, or __getattr__."""
    if cls.__getattribute__ is not object.__getattribute__ or hasattr(
            cls, '__getattr__'):
        return True
    for base in cls.__mro__[:-1]:
        for name, member in vars(base).items():
            if name.startswith('__') and name.endswith('__'):
                continue  # __dict__ and __weakref__ are descriptors.
            if hasattr(type(member), '__get__') and not isinstance(
                    member, (types.FunctionType, staticmethod, classmethod,
                             types.MemberDescriptorType)):
                return True
    return False


def _fields(value):
    """Return the attribute values of an object: its __dict__ and its
    slots."""
    fields = list(getattr(value, '__dict__', {}).values())
    for base in type(value).__mro__:
        for name in getattr(base, '__slots__', ()):
            if name not in ('__dict__', '__weakref__'):
                fields.append(getattr(value, name, None))
    return fields


# Levels of `operator_object_level`, in increasing order.
PLAIN, SHALLOW, DEEP = 0, 1, 2


def operator_object_level(value):
    """Return PLAIN when `value` contains no object with operators (see
    `holds_operator_object`), SHALLOW when it is one object whose
    attributes are plain and whose attributes no code computes, and DEEP
    otherwise."""
    if not holds_operator_object(value):
        return PLAIN
    kind = type(value)
    if (kind.__module__ == 'builtins' or isinstance(value, (tuple, list,
                                                            dict))
            or _class_facts(kind)[1]):
        return DEEP
    if any(holds_operator_object(field) for field in _fields(value)):
        return DEEP
    for base in kind.__mro__[:-1]:
        # A class attribute read through the object, such as a constant.
        if any(holds_operator_object(member) for name, member
               in vars(base).items() if not callable(member)
               and not (name.startswith('__') and name.endswith('__'))):
            return DEEP
    return SHALLOW
