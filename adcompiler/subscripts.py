"""Subscripts whose key carries a derivative.

The reverse and forward stages give `y = v[key]` the rule of indexing an
array, list, tuple or dict, in which the key gets no derivative, as an
integer index has none. The rule is wrong for an object whose class
defines `__getitem__` (an object of a user's class that arrives as an
argument, NumPy's `np.r_`), because its method may compute with the key.
Normalize routes the subscripts it can prove to be of such an object
through the method. For the others, when the key carries a derivative,
both stages call `ad.require_indexable(v, error)` before the subscript:
it raises the error below unless `v` is an array, a number, a list, a
tuple, a dict or a string.
"""

import dataclasses

import gast

from adcompiler.codegen import call, name
from adcompiler.errors import UnsupportedSyntaxError
from adcompiler.traversal import copy_tree, walk


@dataclasses.dataclass(frozen=True)
class KeyCheck:
    """A run-time check before `y = v[key]`: v (a name or a dotted global
    such as `np.r_`) and the error."""

    value: gast.expr
    error: UnsupportedSyntaxError


def key_check(statement, activity, source, display_names):
    """Return the `KeyCheck` that `statement` needs, or None.

    Activity analysis lets no derivative flow from a key to the result, so
    the check is needed where the key is varied and the result is useful
    (see adcompiler.activity), whether or not the value is varied.
    """
    if not (isinstance(statement, gast.Assign)
            and isinstance(statement.value, gast.Subscript)
            and isinstance(statement.targets[0], gast.Name)
            and statement.targets[0].id in activity.useful):
        return None
    subscript = statement.value
    active = [node.id for node in walk(subscript.slice)
              if isinstance(node, gast.Name) and node.id in activity.varied]
    if not active:
        return None
    value_text = _display(subscript.value, display_names)
    key = display_names.get(active[0], active[0])
    error = UnsupportedSyntaxError(
        f'{value_text}[{key}], a subscript with a key that carries a derivative, '
        'of an object that is not an array, a list, a tuple or a dict,',
        source.location(subscript),
        'adcompiler cannot follow the derivative through the __getitem__ '
        'method of its class',
        fixes=[f'call the method ({value_text}.__getitem__({key})): adcompiler '
               'transforms a method written in Python from its source',
               'build the object in the differentiated function, or keep it '
               'in a global variable, so that adcompiler sees its class',
               'register a rule with adcompiler.register_vjp for a function '
               'that does the lookup'])
    return KeyCheck(copy_tree(subscript.value), error)


def _display(node, display_names):
    """Return the source text of a name or a dotted name."""
    if isinstance(node, gast.Name):
        return display_names.get(node.id, node.id)
    if isinstance(node, gast.Attribute):
        return f'{_display(node.value, display_names)}.{node.attr}'
    return 'the value'


def key_check_statements(stage, statement):
    """Return `[ad.require_indexable(v, error)]` to put before `y = v[key]`
    whose key carries a derivative, or [] (`stage` is the reverse or the
    forward stage writing `statement`)."""
    check = key_check(statement, stage.activity, stage.source,
                      stage.normalized.display_names)
    if check is None:
        return []
    error_name = stage.namer.fresh('key_error')
    stage.extra_globals[error_name] = check.error
    return [gast.Expr(value=call(
        stage.runtime_function('require_indexable'), check.value,
        name(error_name)))]


def container_check_statements(stage, statement, reads):
    """Return `[ad.require_unshared_item(c, v, error)]` to put after
    `v = operator_getitem(c, key)` when `reads` (see
    `aliasing.container_reads`) has that statement, or []."""
    if statement not in reads:
        return []
    if isinstance(statement.value, gast.Subscript):
        return _slice_copy_check(stage, statement)
    call_node = statement.value
    receiver = call_node.args[0]
    base = stage.normalized.display_names.get(receiver.id, receiver.id)
    text = stage.source.text_of(call_node) or f'{base}[...]'
    error = UnsupportedSyntaxError(
        f'keeping {text!r} while {base!r} is updated in place',
        stage.source.location(call_node),
        f'{base!r} is not a list, a tuple or a dict here, and the value is a '
        f'view of it or may come from its __getitem__ method, so it would '
        f'change with {base!r} while the derivative would not follow',
        fixes=['read the value with .copy()',
               f'index {base!r} where the value is used'])
    error_name = stage.namer.fresh('container_error')
    stage.extra_globals[error_name] = error
    return [gast.Expr(value=call(
        stage.runtime_function('require_unshared_item'), copy_tree(receiver),
        name(statement.targets[0].id), name(error_name)))]


def _slice_copy_check(stage, statement):
    """Return `[ad.require_container(c, error)]` for `t = c[:]`, a copy
    that is updated in place (see `aliasing.slice_copies`)."""
    receiver = statement.value.value
    base = stage.normalized.display_names.get(receiver.id, receiver.id)
    text = stage.source.text_of(statement.value) or f'{base}[:]'
    error = UnsupportedSyntaxError(
        f'updating {text!r} in place',
        stage.source.location(statement.value),
        f'{base!r} is not a list, a tuple or a dict here, so {text!r} may be '
        f'a view that shares its memory, and the derivative would not '
        f'follow the update into {base!r}',
        fixes=[f'copy it with {base}.copy() or list({base})'])
    error_name = stage.namer.fresh('container_error')
    stage.extra_globals[error_name] = error
    return [gast.Expr(value=call(stage.runtime_function('require_container'),
                                 copy_tree(receiver), name(error_name)))]
