"""Run-time checks of values that the rules of NumPy cannot differentiate.

The rules of index writes and of NumPy functions are written for arrays of
numbers. An array of object, str or bytes dtype that takes in a value that
carries a derivative would give a zero derivative (`o[:] = x` on an object
array) or a derivative in its own dtype (strings, after
`np.array(list(x) + ['a'])`). The dtype is known only when the code runs,
so the reverse and forward stages call
`ad.require_numeric_array(v, error)`:

- before `v[key] = value` when `value` carries a derivative and the new
  `v` may reach the output;
- after `v = f(...)` for a NumPy function `f` that builds an array from
  its arguments (`np.array`, `np.stack`, `np.full`, ...), or a cast
  `v = x.astype(dtype)`, when an argument carries a derivative and `v`
  may reach the output.

The runtime function raises the error below when `v` is an array whose
dtype is not boolean, integer, floating or complex.

A NumPy function converts an object whose class defines `__array__` by
calling that method, which its rule does not see. Normalize calls the
method itself where the object's class is known when compiling (see
adcompiler.normalize).
Before a NumPy function call with an argument that carries a derivative
and is not proven to be an array or a number (see
adcompiler.array_receivers), the stages call `ad.require_array_like(v,
error)`, which raises when `v` is such an object.
"""

import builtins
import dataclasses

import gast
import numpy as np

from adcompiler.activity import NAMESPACE_READERS, namespace_read_error
from adcompiler.errors import UnsupportedSyntaxError
from adcompiler.resolve import CallKind
from adcompiler.traversal import copy_tree, walk

# NumPy functions with rules whose result may have a non-numeric dtype
# when an argument does (a string, None or an object in a list).
_CONSTRUCTOR_NAMES = (
    'array', 'asarray', 'asanyarray', 'ascontiguousarray', 'asfortranarray',
    'stack', 'hstack', 'vstack', 'dstack', 'column_stack', 'concatenate',
    'append', 'insert', 'full', 'full_like', 'where', 'select', 'block',
)
_CONSTRUCTORS = tuple(getattr(np, name) for name in _CONSTRUCTOR_NAMES
                      if hasattr(np, name))


@dataclasses.dataclass(frozen=True)
class NumericCheck:
    """A run-time check of `value` (a name), before the statement (a
    write) or after it (a construction), and the error it raises."""

    value: gast.expr
    error: UnsupportedSyntaxError
    after: bool
    function: str = 'require_numeric_array'  # of adcompiler.runtime
    # Objects passed between the value and the error, or None.
    rejected: tuple = None


def numeric_checks(statement, resolution, activity, source, display_names):
    """Return the list of `NumericCheck`s that `statement` needs."""
    check = _called_value_check(statement, resolution, activity, source,
                                display_names)
    if check is not None:
        return [check]
    if not isinstance(statement, gast.Assign):
        return []
    dropped = _dropped_derivative_checks(statement, resolution, activity,
                                         source)
    if dropped:
        return dropped
    target = statement.targets[0]
    if isinstance(target, gast.Subscript) and isinstance(target.value,
                                                         gast.Name):
        check = _write_check(statement, activity, source, display_names)
        return [] if check is None else [check]
    if not (isinstance(target, gast.Name)
            and isinstance(statement.value, gast.Call)):
        return []
    checks = _converted_object_checks(statement, resolution, activity,
                                      source, display_names)
    check = _construction_check(statement, resolution, activity, source,
                                display_names)
    return checks + ([] if check is None else [check])


def length_check(statement, activity, source, display_names):
    """Return the `NumericCheck` that raises before `lst[a:b] = v` changes
    the length of a list that carries a derivative, or None.

    The adjoint of such a write and the undo of it on the tape assume that
    the written region keeps its length, as it must for an array.
    """
    if not isinstance(statement, gast.Assign):
        return None
    target = statement.targets[0]
    if not (isinstance(target, gast.Subscript)
            and isinstance(target.value, gast.Name)
            and isinstance(target.slice, gast.Slice)
            and target.value.id in activity.useful):
        return None
    parts = [target.slice.lower, target.slice.upper, target.slice.step]
    value = statement.value
    if not all(_is_plain(part) for part in parts + [value]):
        return None
    name = target.value.id
    text = display_names.get(name, name)
    error = UnsupportedSyntaxError(
        f'a slice assignment that changes the length of the list {text!r}',
        source.location(statement),
        'adcompiler differentiates a write into a list slice only when the '
        'new items are as many as the items they replace',
        fixes=[f'build a new list instead, such as {text} = '
               f'list({text}[:a]) + new_items + list({text}[b:])',
               'write as many items as the slice selects'])
    none = gast.Constant(value=None, kind=None)
    items = [_load(name)] + [none if part is None else copy_tree(part)
                             for part in parts] + [copy_tree(value)]
    return NumericCheck(gast.Tuple(elts=items, ctx=gast.Load()), error,
                        after=False, function='require_same_slice_length')


def _is_plain(node):
    """Return True for an expression that can be evaluated twice: None (a
    missing part), a name, a constant or a display of them."""
    if node is None or isinstance(node, (gast.Name, gast.Constant)):
        return True
    if isinstance(node, (gast.List, gast.Tuple)):
        return all(_is_plain(item) for item in node.elts)
    return False


def _write_check(statement, activity, source, display_names):
    array = statement.targets[0].value.id
    if array not in activity.useful or not _reads_varied(statement.value,
                                                         activity):
        return None
    text = display_names.get(array, array)
    error = UnsupportedSyntaxError(
        f'a write of a value that carries a derivative into {text!r}, an '
        'array of a dtype that is not a number type (object, str or bytes),',
        source.location(statement),
        'the rules of adcompiler are written for arrays of numbers, and the '
        'derivative would be lost in this array',
        fixes=[f'make {text!r} an array of a float dtype (np.zeros(n) or '
               'np.empty(n, dtype=float))'])
    return NumericCheck(gast.Name(id=array, ctx=gast.Load(), annotation=None,
                                  type_comment=None), error, after=False)


def _construction_check(statement, resolution, activity, source,
                        display_names):
    target = statement.targets[0].id
    call = statement.value
    resolved = resolution.calls.get(call)
    callee = getattr(resolved, 'callee', None)
    casts = isinstance(call.func, gast.Attribute) and \
        call.func.attr == 'astype' and resolved is not None and \
        resolved.kind is CallKind.METHOD
    if not (casts or any(callee is f for f in _CONSTRUCTORS)) or \
            target not in activity.useful or not _reads_varied(call,
                                                               activity):
        return None
    text = source.text_of(call) or display_names.get(target, target)
    error = UnsupportedSyntaxError(
        f'{text}, an array of a dtype that is not a number type (object, '
        'str or bytes) built from values that carry a derivative,',
        source.location(call),
        'the rules of adcompiler are written for arrays of numbers, and the '
        'derivative would be lost in this array',
        fixes=['build the array from numbers only, with a float dtype'])
    return NumericCheck(gast.Name(id=target, ctx=gast.Load(),
                                  annotation=None, type_comment=None),
                        error, after=True)


def _converted_object_checks(statement, resolution, activity, source,
                             display_names):
    # A differentiated parameter counts as an array here (see
    # adcompiler.array_receivers), so an argument object with a Python
    # __array__ goes unchecked. grad then raises ContainerError, and jvp,
    # jacobian, hessian and hvp reject such an argument before compiling
    # (see `_reject_array_conversion` in adcompiler.api).
    target = statement.targets[0].id
    call = statement.value
    resolved = resolution.calls.get(call)
    if target not in activity.useful or resolved is None or \
            resolved.kind is not CallKind.RULE or \
            not _is_numpy_function(resolved.callee):
        return []
    checks = []
    arguments = list(call.args) + [k.value for k in call.keywords]
    for argument in arguments:
        if not isinstance(argument, gast.Name) or \
                argument.id not in activity.varied or \
                argument.id in activity.arrays:
            continue
        text = display_names.get(argument.id, argument.id)
        call_text = source.text_of(call) or resolved.name
        error = UnsupportedSyntaxError(
            f'{call_text} with {text}, an object whose class defines '
            '__array__ in Python,', source.location(call),
            'NumPy calls that method to convert the object, and the rule of '
            f'{resolved.name} does not differentiate it',
            fixes=[f'call the method yourself ({text}.__array__()): '
                   'adcompiler transforms a method written in Python from '
                   'its source'])
        checks.append(NumericCheck(copy_tree(argument), error, after=False,
                                   function='require_array_like'))
    return checks


# Calls that return the text of a number: str(x), repr(x) and NumPy's
# formatting functions. The text carries no derivative, so a number parsed
# back from it (float(str(x))) would be x without its derivative.
TEXT_CONVERSIONS = (builtins.str, builtins.repr, builtins.ascii,
                    builtins.format, np.array2string, np.array_str,
                    np.array_repr, np.format_float_positional,
                    np.format_float_scientific)


def _dropped_derivative_checks(statement, resolution, activity, source):
    """Return checks that no float that carries a derivative becomes text
    that the output depends on, or a dict key or index of a store.

    d.keys() and iteration over a dict return its keys without a
    derivative, and so does parsing text. Text that goes only to print or
    logging is not useful, so it needs no check. A varied value may turn
    out to be a str or an int (a key read from a dict of arrays), so the
    checks run with the code (`ad.require_constant`).
    """
    target = statement.targets[0]
    value = statement.value
    if isinstance(target, gast.Subscript):
        keys = [] if isinstance(target.slice, gast.Slice) else [target.slice]
    elif isinstance(value, gast.Dict):
        keys = [key for key in value.keys if key is not None]
    else:
        keys = []
    keys = [key for key in keys if _reads_varied(key, activity)]
    if keys:
        error = UnsupportedSyntaxError(
            'a float that carries a derivative as a dict key or as the index '
            'of a store', source.location(statement),
            'a key read back with d.keys() or by iterating over the dict '
            'has no derivative',
            fixes=['use a key without a derivative (an int or a str) and '
                   'store the value in the dict instead'])
        return [NumericCheck(copy_tree(key), error, after=False,
                             function='require_constant') for key in keys]
    if not (_is_text_conversion(value, resolution) and any(
            isinstance(node, gast.Name) and node.id in activity.useful
            for node in walk(target))):
        return []
    varied = [node for node in walk(value) if isinstance(node, gast.Name)
              and node.id in activity.varied]
    error = UnsupportedSyntaxError(
        'the text of a float that carries a derivative (str, repr, format, '
        'an f-string or % formatting) in a value that the result depends on',
        source.location(value),
        'text has no derivative, so a number parsed back from it would '
        'drop the derivative',
        fixes=['use the number itself in the computation',
               'keep such text for printing and logging'])
    return [NumericCheck(copy_tree(node), error, after=False,
                         function='require_constant') for node in varied]


def _is_text_conversion(value, resolution):
    """Return whether the expression `value` makes text from its operands."""
    if isinstance(value, gast.JoinedStr):
        return True
    if isinstance(value, gast.BinOp) and isinstance(value.op, gast.Mod) \
            and isinstance(value.left, gast.Constant) \
            and isinstance(value.left.value, (str, bytes)):
        return True
    if not isinstance(value, gast.Call):
        return False
    callee = getattr(resolution.calls.get(value), 'callee', None)
    return any(callee is conversion for conversion in TEXT_CONVERSIONS)


def _called_value_check(statement, resolution, activity, source,
                        display_names):
    """Return the check before a call of a function held in a local
    variable (`ev = eval; ev(text)`) that may be one of
    `activity.NAMESPACE_READERS`, or None."""
    if not (isinstance(statement, (gast.Assign, gast.Expr))
            and isinstance(statement.value, gast.Call)
            and isinstance(statement.value.func, gast.Name)
            and activity.varied):
        return None
    call = statement.value
    resolved = resolution.calls.get(call)
    if resolved is None or resolved.kind is not CallKind.UNKNOWN or \
            resolved.callee is not None:
        return None
    if isinstance(statement, gast.Assign) and not any(
            isinstance(node, gast.Name) and node.id in activity.useful
            for node in walk(statement.targets[0])):
        return None
    # vars(obj) reads the attributes of obj, not the local variables.
    rejected = tuple(reader for reader in NAMESPACE_READERS
                     if not (reader is vars and call.args))
    name = display_names.get(call.func.id, call.func.id)
    error = namespace_read_error(
        name, source.location(call),
        f'a call of {name}() in a differentiated function, when {name} '
        'holds eval, exec, locals, vars, sys._getframe, '
        'inspect.currentframe or inspect.stack')
    return NumericCheck(copy_tree(call.func), error, after=False,
                        function='require_other_function',
                        rejected=rejected)


def _is_numpy_function(callee):
    if isinstance(callee, np.ufunc):
        return True
    module = getattr(callee, '__module__', None) or ''
    return module.split('.')[0] == 'numpy'


def _reads_varied(node, activity):
    return any(isinstance(n, gast.Name) and n.id in activity.varied
               for n in walk(node))


def check_statement(check, runtime_function, namer, extra_globals):
    """Return the statement `ad.<check.function>(v, error)` of `check`,
    with the error bound to a new global of the generated code."""
    error_name = namer.fresh('value_error')
    extra_globals[error_name] = check.error
    arguments = [copy_tree(check.value)]
    if check.rejected is not None:
        rejected_name = namer.fresh('rejected_functions')
        extra_globals[rejected_name] = check.rejected
        arguments.append(_load(rejected_name))
    arguments.append(_load(error_name))
    call = gast.Call(func=runtime_function(check.function), args=arguments,
                     keywords=[])
    return gast.Expr(value=call)


def _load(name):
    return gast.Name(id=name, ctx=gast.Load(), annotation=None,
                     type_comment=None)
