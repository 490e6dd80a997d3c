"""Shape facts for the reverse stage: which names always have equal shapes.

The adjoint of a broadcasting operation `z = x + y` passes through
`ad.unbroadcast(dz, x)`, which sums `dz` down to the shape of `x` and drops
its imaginary part when `x` is real. When `z` and `x` provably have the same
shape and are both real or both complex, the call returns `dz` unchanged, so
the reverse stage leaves it out (and the primal need not save `x` for it).

`shape_facts` groups the names of a normalized function into classes:

- a shape class contains names whose values all have one shape;
- a kind class contains names whose values are all real, or all of one
  kind (real or complex) that is not known when compiling.

A name joins the class of an operand when every assignment to it preserves
that operand's shape (or kind): `z = -x`, `z = x * 2.0`, `z = np.sin(x)`,
and `z = x + y` when `x` and `y` are already in one class. Slices that drop
the same number of entries from each axis of one value have one shape:
`x[1:]`, `x[:-1]` and `x[2:-1]`, `x[:-3]` (see `_slice_drops`). Such a
slice joins the class of a pseudo-name for the value and that count, which
is a source once for each assignment to the value. Any other
assignment, a parameter, and an in-place update that may change a shape
(`lst.append(v)`) is a *source*. A class is only trusted when it has one
source at most and that source runs at most once per call (it is not inside
a loop): a source run many times could produce a different shape each
time. A name whose every value is known to be real (`np.abs(x)`, a float
constant, an operation on real values) needs no kind class.

In code compiled for the shapes of the arguments, the caller also passes
the shape and kind that `adcompiler.known_shapes` proves for names: two
names of one known shape have one shape, and a name of a known real kind
is real.
"""

import dataclasses
import math

import gast
import numpy as np

from adcompiler.codegen import int_constant
from adcompiler.resolve import CallKind
from adcompiler.traversal import find_nodes, walk

# Functions of one array that return an array of the same shape and of the
# same kind (real or complex) as their argument.
SAME_SHAPE_AND_KIND = frozenset(id(f) for f in (
    np.sin, np.cos, np.tan, np.arcsin, np.arccos, np.arctan,
    np.sinh, np.cosh, np.tanh, np.arcsinh, np.arccosh, np.arctanh,
    np.exp, np.exp2, np.expm1, np.log, np.log2, np.log10, np.log1p,
    np.sqrt, np.cbrt, np.square, np.negative, np.positive, np.reciprocal,
    np.conj, np.conjugate,
))

# Functions of one array that return a real array of the same shape.
SAME_SHAPE_REAL = frozenset(id(f) for f in (
    np.abs, np.absolute, np.fabs, np.real, np.imag, np.angle,
))

# Binary operators whose result has the broadcast shape of the operands.
_ELEMENTWISE_OPERATORS = (gast.Add, gast.Sub, gast.Mult, gast.Div,
                          gast.FloorDiv, gast.Mod, gast.Pow)

# Functions that always return one array or number, beside the ufuncs.
_ARRAY_FUNCTIONS = frozenset(id(f) for f in (
    np.array, np.asarray, np.zeros, np.ones, np.full, np.zeros_like,
    np.ones_like, np.full_like, np.empty, np.empty_like, np.sum, np.mean,
    np.prod, np.max, np.min, np.amax, np.amin, np.var, np.std, np.dot,
    np.tensordot, np.einsum, np.outer, np.inner, np.clip,
    np.reshape, np.transpose, np.concatenate, np.stack, np.cumsum,
    np.cumprod, np.diff, np.trace, np.linalg.norm, np.linalg.inv,
    np.linalg.det, np.linalg.solve,
))
_NUMBERS = (int, float, complex)  # bool is an int

_SOURCE = object()  # a definition that preserves nothing
_SLICED = 'slice'  # first item of the pseudo-name of a slice's shape


@dataclasses.dataclass
class ShapeFacts:
    """Classes of names with equal shapes and kinds; see the module docstring."""

    shape_class: dict  # name -> representative, for trusted classes only
    kind_class: dict  # name -> representative, for trusted classes only
    real: set  # names whose values are known to be real
    # Names whose values are all float or int scalars (see
    # adcompiler.scalars): their shape is () and they are real.
    scalars: frozenset = frozenset()
    # In code compiled for the shapes of the arguments, name -> the shape
    # and kind of its values (see adcompiler.known_shapes).
    known: dict = dataclasses.field(default_factory=dict)

    def same_shape(self, a, b):
        """True when `a` and `b` always have one shape."""
        if a in self.scalars and b in self.scalars:
            return True
        shape_a = self.shape_class.get(a)
        if shape_a is not None and shape_a == self.shape_class.get(b):
            return True
        known_a, known_b = self.known.get(a), self.known.get(b)
        return (known_a is not None and known_b is not None
                and known_a.shape == known_b.shape)

    def shaped_like(self, name, candidates):
        """Return a name in `candidates` with the shape of `name`, or None."""
        for candidate in candidates:
            if self.same_shape(name, candidate):
                return candidate
        return None

    def same_shape_and_kind(self, a, b):
        """True when `a` and `b` always have one shape and one kind."""
        if not self.same_shape(a, b):
            return False
        if a in self.real and b in self.real or a in self.scalars and \
                b in self.scalars:
            return True
        kind_a = self.kind_class.get(a)
        if kind_a is not None and kind_a == self.kind_class.get(b):
            return True
        # Both complex: the known kinds are INT, REAL and COMPLEX, and a
        # name of another kind is in `real`.
        known_a, known_b = self.known.get(a), self.known.get(b)
        return (known_a is not None and known_b is not None
                and known_a.kind == known_b.kind)


NO_FACTS = ShapeFacts({}, {}, set())


@dataclasses.dataclass
class _Definition:
    """One assignment to a name: what its value keeps from which operands."""

    shape_operands: object  # tuple of names, or _SOURCE
    kind_operands: object  # tuple of names, or _SOURCE
    real: bool  # the value is known to be real
    in_loop: bool
    # Whether the value is an array or a number: True when known, and
    # otherwise when all (or, with `numeric_any`, any) of
    # `numeric_operands` are.
    numeric: bool = False
    numeric_operands: tuple = ()
    numeric_any: bool = False
    # `x + y` of two names, which concatenates two lists or two tuples: it
    # keeps the shape of x and y only when x or y is an array or a number.
    may_concatenate: bool = False


class _UnionFind:

    def __init__(self):
        self.parent = {}

    def find(self, item):
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a, b):
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return False
        self.parent[root_a] = root_b
        return True


def shape_facts(normalized, resolution, scalars=frozenset(), known=None):
    """Return the `ShapeFacts` of a `NormalizedFunction`, given the names
    that hold float or int scalars and, for code compiled for the shapes of the
    arguments, the `known` shapes and kinds of names (name -> `Known` of
    adcompiler.known_shapes)."""
    definitions = {name: [_Definition(_SOURCE, _SOURCE, False, False)]
                   for name in normalized.params}
    _collect(normalized.tree.body, resolution, definitions, in_loop=False)
    # A global can change between reads (a callee may update it), so a name
    # read but never assigned here is a source that is never trusted.
    for node in normalized.nodes_of(gast.Name):
        if node.id not in definitions:
            definitions[node.id] = [_Definition(_SOURCE, _SOURCE, False,
                                                True)]
    _add_slice_sources(definitions)
    _drop_concatenations(definitions, set(scalars) | set(known or {}))

    real = _real_names(definitions)
    shapes, kinds = _UnionFind(), _UnionFind()
    changed = True
    while changed:
        changed = False
        for name, entries in definitions.items():
            changed = _join(name, entries, 'shape_operands', shapes,
                            set()) or changed
            if name not in real:
                changed = _join(name, entries, 'kind_operands', kinds,
                                real) or changed

    shape_class = _trusted(definitions, shapes, 'shape_operands', set())
    kind_class = _trusted(definitions, kinds, 'kind_operands', real)
    known = dict(known or {})
    real |= {name for name, value in known.items()
             if value.kind != 'complex'}
    return ShapeFacts(shape_class, kind_class, real, frozenset(scalars),
                      known)


def greatest_fixed_point(definitions, keeps):
    """Return the largest set of names of `definitions` (name -> entries)
    such that `keeps(entry, names)` is true for every entry of every name
    in the set: names are dropped until none is left to drop."""
    names = set(definitions)
    changed = True
    while changed:
        changed = False
        for name, entries in definitions.items():
            if name in names and not all(keeps(entry, names)
                                         for entry in entries):
                names.discard(name)
                changed = True
    return names


def _drop_concatenations(definitions, numeric):
    """Make each `x + y` that may concatenate sequences a source of shape.

    The sum of two lists of one length is twice as long, so it has the
    shape of neither. Only `x + y` where x or y is known to be an array or
    a number (see `_numeric_names`) keeps the shape of its operands.
    """
    numeric = _numeric_names(definitions) | numeric
    for entries in definitions.values():
        for entry in entries:
            if entry.may_concatenate and not any(
                    operand in numeric for operand in entry.numeric_operands):
                entry.shape_operands = _SOURCE


def _numeric_names(definitions):
    """Return the names whose every value is an array or a number."""
    def keeps(entry, numeric):
        if entry.numeric:
            return True
        if not entry.numeric_operands:
            return False
        found = [operand in numeric for operand in entry.numeric_operands]
        return any(found) if entry.numeric_any else all(found)
    return greatest_fixed_point(definitions, keeps)


def _real_names(definitions):
    """Return the names whose every value is real."""
    def keeps(entry, real):
        return entry.real or (entry.kind_operands is not _SOURCE
                              and all(o in real for o in entry.kind_operands))
    return greatest_fixed_point(definitions, keeps)


def _operand_roots(operands, classes, real):
    """Return the classes of the operands that are not known to be real."""
    return {classes.find(o) for o in operands if o not in real}


def _join(name, entries, field, classes, real):
    """Join `name` to its operands' class where a definition allows it.

    Operands known to be real are left out for kinds: `x + r` with `r`
    real has the kind of `x`.
    """
    changed = False
    for entry in entries:
        operands = getattr(entry, field)
        if operands is _SOURCE:
            continue
        roots = _operand_roots(operands, classes, real)
        if len(roots) == 1:
            changed = classes.union(name, roots.pop()) or changed
    return changed


def _trusted(definitions, classes, field, real):
    """Map each name of a trusted class to its representative.

    A class is trusted when its members are assigned only by definitions
    that join them to the class, apart from one source at most, run at most
    once. Names in `real` are left out: their kind is known.
    """
    sources = {}
    for name, entries in definitions.items():
        if name in real:
            continue
        root = classes.find(name)
        for entry in entries:
            operands = getattr(entry, field)
            if operands is not _SOURCE and _operand_roots(
                    operands, classes, real) == {root}:
                continue
            weight = 2 if entry.in_loop else 1
            sources[root] = sources.get(root, 0) + weight
    return {name: classes.find(name) for name in definitions
            if name not in real and sources.get(classes.find(name), 0) <= 1}


def _collect(statements, resolution, definitions, in_loop):
    """Record every assignment in `statements`, nested blocks included."""
    for statement in statements:
        if isinstance(statement, (gast.For, gast.While)):
            if isinstance(statement, gast.For):
                _add_sources(statement.target, definitions, True)
            _collect(statement.body, resolution, definitions, True)
            _collect(statement.orelse, resolution, definitions, True)
        elif isinstance(statement, gast.If):
            _collect(statement.body, resolution, definitions, in_loop)
            _collect(statement.orelse, resolution, definitions, in_loop)
        elif (isinstance(statement, gast.Assign)
              and len(statement.targets) == 1
              and isinstance(statement.targets[0], gast.Name)):
            definition = _definition(statement.value, resolution, in_loop)
            definitions.setdefault(statement.targets[0].id, []).append(
                definition)
        else:
            # Other statements (unpacking, try, with) may assign in nested
            # blocks, so their targets count as sources run many times.
            for target in _stored(statement):
                _add_sources(target, definitions, True)
        _mark_updates(statement, resolution, definitions)


def _stored(statement):
    if isinstance(statement, gast.Assign):
        return statement.targets
    if isinstance(statement, (gast.AugAssign, gast.AnnAssign)):
        return [statement.target]
    return [node for node in walk(statement)
            if isinstance(node, gast.Name) and isinstance(node.ctx,
                                                          gast.Store)]


def _add_sources(target, definitions, in_loop):
    for node in walk(target):
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
            definitions.setdefault(node.id, []).append(
                _Definition(_SOURCE, _SOURCE, False, in_loop))


def _mark_updates(statement, resolution, definitions):
    """Treat names that may change shape in place as sources run many times.

    A method call on a name (`lst.append(v)`), a write into it (`x[i] = v`,
    `obj.a = v`) or passing it to a function that is not a known rule may
    change its length, so its class is never trusted.
    """
    updated = set()
    for node in find_nodes(statement,
                           (gast.Subscript, gast.Attribute, gast.Call)):
        if isinstance(node, (gast.Subscript, gast.Attribute)) and isinstance(
                node.ctx, gast.Store) and isinstance(node.value, gast.Name):
            updated.add(node.value.id)
        elif isinstance(node, gast.Call):
            if isinstance(node.func, gast.Attribute) and isinstance(
                    node.func.value, gast.Name):
                updated.add(node.func.value.id)
            resolved = resolution.calls.get(node)
            if resolved is None or resolved.kind is not CallKind.RULE:
                arguments = list(node.args) + [k.value for k in node.keywords]
                updated.update(a.id for a in arguments
                               if isinstance(a, gast.Name))
    for name in updated:
        definitions.setdefault(name, []).append(
            _Definition(_SOURCE, _SOURCE, False, True))


def _definition(value, resolution, in_loop):
    """Describe `name = value` (see `_Definition`)."""
    if isinstance(value, gast.Constant):
        real = _is_real_number(value.value)
        return _Definition(_SOURCE, _SOURCE, real, in_loop,
                           numeric=isinstance(value.value, _NUMBERS))
    if isinstance(value, gast.Name):
        return _Definition((value.id,), (value.id,), False, in_loop,
                           numeric_operands=(value.id,))
    if isinstance(value, gast.UnaryOp) and isinstance(
            value.op, (gast.USub, gast.UAdd)) and isinstance(value.operand,
                                                            gast.Name):
        # A list or a tuple has no unary minus, so the value is numeric.
        operand = (value.operand.id,)
        return _Definition(operand, operand, False, in_loop, numeric=True)
    if isinstance(value, gast.BinOp) and isinstance(value.op,
                                                    _ELEMENTWISE_OPERATORS):
        return _binary_definition(value, in_loop)
    if isinstance(value, gast.Subscript):
        definition = _slice_definition(value, in_loop)
        if definition is not None:
            return definition
    if isinstance(value, gast.Call) and len(value.args) == 1 \
            and not value.keywords and isinstance(value.args[0], gast.Name):
        resolved = resolution.calls.get(value)
        if resolved is not None and resolved.kind is CallKind.RULE:
            operand = (value.args[0].id,)
            if id(resolved.callee) in SAME_SHAPE_AND_KIND:
                return _Definition(operand, operand, False, in_loop,
                                   numeric=True)
            if id(resolved.callee) in SAME_SHAPE_REAL:
                return _Definition(operand, _SOURCE, True, in_loop,
                                   numeric=True)
            if getattr(resolved.callee, '__module__', None) == 'math' or \
                    getattr(resolved.callee, '__self__', None) is math:
                # math functions return a real float, but accept any
                # one-element array, so the shape may change.
                return _Definition(_SOURCE, _SOURCE, True, in_loop,
                                   numeric=True)
    if isinstance(value, gast.Call):
        resolved = resolution.calls.get(value)
        if resolved is not None and resolved.kind is CallKind.RULE and (
                _returns_one_array(resolved.callee)):
            return _Definition(_SOURCE, _SOURCE, False, in_loop,
                               numeric=True)
    return _Definition(_SOURCE, _SOURCE, False, in_loop)


def _returns_one_array(callee):
    """Return whether `callee` always returns an array or a number (and
    never a tuple or a list of them)."""
    if isinstance(callee, np.ufunc):
        return callee.nout == 1
    try:
        return id(callee) in _ARRAY_FUNCTIONS
    except TypeError:
        return False


def _slice_definition(value, in_loop):
    """Describe `name = base[slices]`: a slice that `_slice_drops` reads has
    the shape of the pseudo-name `(base, drops)` and the kind of `base`."""
    if not isinstance(value.value, gast.Name):
        return None
    drops = _slice_drops(value.slice)
    if drops is None:
        return None
    base = (value.value.id,)
    return _Definition(((_SLICED, value.value.id, drops),), base, False,
                       in_loop, numeric_operands=base)


def _slice_drops(index):
    """Return how many entries `index` drops from each leading axis, as a
    tuple without trailing zeros, or None for another kind of index.

    Only slices `a:` and `a:-b` with `a` and `b` int constants, `a >= 0`,
    `b > 0`, and a step of None or 1, are read. Such a slice keeps
    max(n - a - b, 0) of the n entries of its axis, so two of them with the
    same `a + b` keep the same number whatever n is.
    """
    slices = index.elts if isinstance(index, gast.Tuple) else [index]
    drops = []
    for item in slices:
        if not isinstance(item, gast.Slice):
            return None
        step = int_constant(item.step)
        start = 0 if item.lower is None else int_constant(item.lower)
        stop = 0 if item.upper is None else int_constant(item.upper)
        if (item.step is not None and step != 1) or start is None or \
                stop is None or start < 0 or stop > 0 or (
                    item.upper is not None and stop == 0):
            return None
        drops.append(start - stop)
    while drops and drops[-1] == 0:
        drops.pop()
    return tuple(drops)


def _add_slice_sources(definitions):
    """Define the pseudo-names that slices read (see `_slice_definition`).

    A pseudo-name has a source for each assignment to its base: it has one
    shape only while the base is assigned once, outside loops, and is never
    updated in place.
    """
    pseudo_names = {operand for entries in definitions.values()
                    for entry in entries
                    if entry.shape_operands is not _SOURCE
                    for operand in entry.shape_operands
                    if isinstance(operand, tuple)}
    for pseudo in pseudo_names:
        base = definitions.get(pseudo[1], [])
        definitions[pseudo] = [_Definition(_SOURCE, _SOURCE, False,
                                           entry.in_loop) for entry in base]


def _binary_definition(value, in_loop):
    """Describe `name = left <op> right` for an elementwise operator."""
    names = [side.id for side in (value.left, value.right)
             if isinstance(side, gast.Name)]
    constants = [side.value for side in (value.left, value.right)
                 if isinstance(side, gast.Constant)]
    # Only `+` and `*` accept a list or a tuple: an operator that gives a
    # value gives an array or a number.
    sequence_operator = isinstance(value.op, (gast.Add, gast.Mult))
    if len(names) + len(constants) != 2 or not names:
        return _Definition(_SOURCE, _SOURCE, False, in_loop,
                           numeric=not sequence_operator)
    if not constants:
        # x op y keeps the shape of x and y when they have one shape. It
        # keeps the kind of x when y is real. `_join` checks both. An array
        # plus a list is an array, but a list times an int repeats it.
        return _Definition(tuple(names), tuple(names), False, in_loop,
                           numeric=not sequence_operator,
                           numeric_operands=tuple(names),
                           numeric_any=isinstance(value.op, gast.Add),
                           may_concatenate=isinstance(value.op, gast.Add))
    constant = constants[0]
    if isinstance(constant, bool) or not isinstance(constant,
                                                    (int, float, complex)):
        return _Definition(_SOURCE, _SOURCE, False, in_loop)
    if isinstance(constant, int) and isinstance(value.op, gast.Mult):
        # `[x] * 2` repeats a list: the shape changes.
        return _Definition(_SOURCE, _SOURCE, False, in_loop,
                           numeric_operands=(names[0],))
    kind = (names[0],) if _is_real_number(constant) else _SOURCE
    return _Definition((names[0],), kind, False, in_loop, numeric=True)


def _is_real_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)
