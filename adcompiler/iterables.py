"""Find the loop iterables that cannot be dicts, for the forward stage.

A loop `for item in x` reads the items of a list, a tuple or an array, but
the keys of a dict, which carry no tangent. When x may be a dict, the
forward stage reads the item's tangent with `ad.loop_item_tangent(dx, k)`,
which checks the type at run time. When x cannot be one, it writes `dx[k]`.

A name cannot hold a dict when every assignment to it makes a list or a
tuple display, an arithmetic result, or the result of a NumPy function, or
copies another such name. A parameter that is never assigned qualifies when
an assignment or expression statement at the top level of the function,
before the loop, uses it as an operand of arithmetic: a dict there raises
TypeError before the loop runs. `|` does not count, because it merges dicts.
"""

import gast
import numpy as np

from adcompiler.traversal import walk
from adcompiler.verbatim import Verbatim

# Operators that a dict does not support (`|` merges two dicts).
_NOT_FOR_DICTS = (gast.Add, gast.Sub, gast.Mult, gast.MatMult, gast.Div,
                  gast.FloorDiv, gast.Mod, gast.Pow)
# Builtins whose result is never a dict.
_SEQUENCE_BUILTINS = (list, tuple, range, sorted, reversed, zip, enumerate)


class NotDicts:
    """The loop iterables of one normalized function that cannot be dicts."""

    def __init__(self, normalized, resolution):
        self.normalized = normalized
        self.resolution = resolution
        self.definitions = {}  # name -> assigned values, None if unknown
        for node in walk(normalized.tree):
            if isinstance(node, gast.Assign):
                target = node.targets[0]
                if isinstance(target, gast.Name):
                    self._define(target.id, node.value)
                elif not isinstance(target, gast.Subscript):
                    self._define_unknown(target)
            elif isinstance(node, gast.For):
                self._define_unknown(node.target)
            elif isinstance(node, Verbatim):
                for written in node.writes:
                    self.definitions[written.id] = None
        # The top-level statement that contains each node.
        self.top_level = {}
        for position, statement in enumerate(normalized.tree.body):
            for node in walk(statement):
                self.top_level[node] = position

    def _define(self, identifier, value):
        values = self.definitions.setdefault(identifier, [])
        if values is not None:
            values.append(value)

    def _define_unknown(self, target):
        for node in walk(target):
            if isinstance(node, gast.Name):
                self.definitions[node.id] = None

    def is_not_dict(self, loop):
        """True when the iterable of `loop`, an atom, cannot be a dict."""
        iterable = loop.iter
        if not isinstance(iterable, gast.Name):
            return isinstance(iterable, (gast.List, gast.Tuple))
        return self._name_is_not_dict(iterable.id, loop, set())

    def _name_is_not_dict(self, identifier, loop, visiting):
        if identifier in visiting:
            return False
        visiting.add(identifier)
        values = self.definitions.get(identifier, [])
        if values is None:
            return False
        if identifier in self.normalized.params:
            return not values and self._used_in_arithmetic_before(identifier,
                                                                  loop)
        return bool(values) and all(
            self._value_is_not_dict(value, loop, visiting) for value in values)

    def _value_is_not_dict(self, value, loop, visiting):
        if isinstance(value, (gast.List, gast.Tuple, gast.UnaryOp,
                              gast.Compare)):
            return True
        if isinstance(value, gast.BinOp):
            return isinstance(value.op, _NOT_FOR_DICTS)
        if isinstance(value, gast.Name):
            return self._name_is_not_dict(value.id, loop, visiting)
        if isinstance(value, gast.Call):
            resolved = self.resolution.calls.get(value)
            callee = getattr(resolved, 'callee', None)
            return (isinstance(callee, np.ufunc)
                    or any(callee is f for f in _SEQUENCE_BUILTINS)
                    or getattr(callee, '__module__', None) in ('numpy',
                                                              'numpy.linalg'))
        return False

    def _used_in_arithmetic_before(self, identifier, loop):
        """True if a top-level statement before the one that contains `loop`
        applies an operator that a dict lacks to `identifier`."""
        end = self.top_level.get(loop)
        if end is None:
            return False
        for statement in self.normalized.tree.body[:end]:
            if not isinstance(statement, (gast.Assign, gast.Expr)):
                continue  # A branch or loop may not run its body.
            for node in walk(statement):
                operands = ()
                if isinstance(node, gast.BinOp) and isinstance(
                        node.op, _NOT_FOR_DICTS):
                    operands = (node.left, node.right)
                elif isinstance(node, gast.UnaryOp) and isinstance(
                        node.op, (gast.USub, gast.UAdd, gast.Invert)):
                    operands = (node.operand,)
                if any(isinstance(operand, gast.Name)
                       and operand.id == identifier for operand in operands):
                    return True
        return False
