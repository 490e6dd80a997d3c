"""Fresh names for generated code that never collide with the user's names."""

import keyword
import re

import gast

from adcompiler.traversal import nodes_of


class Namer:
    """Hand out identifiers that are unused in a function and its namespace.

    Generated names are derived from the user's: the adjoint of `x` is `dx`,
    a second version of `x` is `x_1`, temporaries are `t1`, `t2`, ... . A name
    the user already uses gets a numeric suffix instead of being shadowed.
    """

    def __init__(self, taken=()):
        self.taken = set(taken)
        self._next_temporary = 1
        # base -> the last suffix `fresh` gave it. Names are never freed, so
        # the smaller suffixes are all taken, and `fresh` starts after it
        # rather than at 1 (which was quadratic in the versions of a name).
        self._last_suffix = {}

    @classmethod
    def for_function(cls, tree, namespace=(), index=None):
        """Make a namer that avoids every identifier in `tree` and
        `namespace`. `index` is a `NodeIndex` of `tree`, or None."""
        taken = set(namespace)
        for node in nodes_of(tree, (gast.Name, gast.FunctionDef), index):
            if isinstance(node, gast.Name):
                taken.add(node.id)
            else:
                taken.add(node.name)
        return cls(taken)

    def reserve(self, name):
        """Mark `name` as used."""
        self.taken.add(name)

    def fresh(self, base):
        """Return `base` if unused, else `base_1`, `base_2`, ...; mark it used."""
        suffix = self._last_suffix.get(base, 0)
        name = f'{base}_{suffix}' if suffix else base
        while name in self.taken:
            suffix += 1
            name = f'{base}_{suffix}'
        self._last_suffix[base] = suffix
        self.taken.add(name)
        return name

    def temporary(self):
        """Return a new temporary name t1, t2, ... ."""
        index = self._next_temporary
        while f't{index}' in self.taken:
            index += 1
        self._next_temporary = index + 1
        name = f't{index}'
        self.taken.add(name)
        return name


def identifier(name):
    """Return `name` made into a valid Python identifier, for names of
    generated functions: a lambda's `<lambda>` becomes `lambda_`."""
    text = re.sub(r'\W', '_', name).strip('_') or 'function'
    if text[0].isdigit():
        text = f'function_{text}'
    if keyword.iskeyword(text):
        text += '_'
    return text
