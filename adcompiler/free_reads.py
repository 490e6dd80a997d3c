"""Make the adjoint read globals and class attributes from the saved values.

Used by the reverse stage when it finishes a function. An adjoint that read
`W` (a global array), `Model.scale` (a class attribute) or a closure
variable by name would see the values of the time it runs. `grad` runs it
right after the primal, but `vjp` hands it to the caller, who may change
that state first. So the primal saves each such value as it returns, and
the adjoint reads the saved one:

    primal:  return value, (x, W, Model.scale)
    adjoint: x, W, Model_scale = saved

A global keeps its name, because the saved value shadows it in the
adjoint. An attribute chain gets a new local name. The saved values are references:
`vjp` copies the arrays among them that the caller can reach (see
adcompiler.saved_values). For `grad` the adjoint reads the same objects as
before, at no cost beyond a longer tuple.

Left as they are:

- names bound to modules, callables and immutable values. The generated
  code's namespace is a copy of the function's globals and closure
  variables, made when it is compiled, so a later rebinding does not
  reach it.
- attribute chains on the modules of `_FIXED_PACKAGES`.
- chains that do not resolve when the function is compiled.
- objects of adcompiler's own classes, such as a dispatched call's site.
"""

import numbers
import types

import gast

from adcompiler.traversal import find_nodes

# Modules whose attributes are taken as fixed (np.pi, math.e). The same
# set as adcompiler.compiler's, which imports this module through the
# reverse stage.
_FIXED_PACKAGES = frozenset({'numpy', 'math', 'cmath', 'scipy'})

_IMMUTABLE_SCALARS = (numbers.Number, str, bytes, type(None),
                      type(Ellipsis), range)

_MISSING = object()


def hoist_free_reads(adjoint_body, namespace, local_names, reserved, namer,
                     found=None):
    """Rewrite the free reads in `adjoint_body` that the primal must save.

    `namespace` maps the function's global and closure names to their
    values. Names in `local_names` (the primal's and the adjoint's own)
    and in `reserved` (generated helpers, the NumPy and runtime aliases)
    are not free. `found`, when given, lists for each statement of
    `adjoint_body` what `find_nodes(statement, (gast.Name,
    gast.Attribute))` returns, so that no statement is walked for them.
    Return a list of (name in the adjoint, expression that the primal
    saves for it).
    """
    if found is None:
        found = [find_nodes(statement, (gast.Name, gast.Attribute))
                 for statement in adjoint_body]
    loaded, stored, roots = set(), set(), set()
    for nodes in found:
        for node in nodes:
            if isinstance(node, gast.Name):
                if isinstance(node.ctx, gast.Load):
                    loaded.add(node.id)
                else:
                    stored.add(node.id)
            elif isinstance(node, gast.Attribute) and isinstance(
                    node.value, gast.Name):
                roots.add(node.value.id)  # The root of a chain a.b.c.
    excluded = set(local_names) | set(reserved) | stored
    if not any(_may_be_hoisted(name, namespace, name in roots)
               for name in loaded - excluded):
        return []  # Most adjoints: `_rewrite` would change nothing.
    names = {}  # an ordered set
    chains = {}  # source text of a chain -> (local name, chain node)
    for statement in adjoint_body:
        _rewrite(statement, namespace, excluded, names, chains, namer)
    reads = [(name, gast.Name(id=name, ctx=gast.Load(), annotation=None,
                              type_comment=None))
             for name in names]
    return reads + list(chains.values())


def _rewrite(node, namespace, excluded, names, chains, namer):
    """Replace the free attribute chains under `node` by local names, and
    collect the free names to save."""
    for field, value in gast.iter_fields(node):
        children = value if isinstance(value, list) else [value]
        for position, child in enumerate(children):
            if not isinstance(child, gast.AST):
                continue
            replacement = None
            if isinstance(child, gast.Attribute):
                replacement = _hoisted_chain(child, namespace, excluded,
                                             chains, namer)
            elif (isinstance(child, gast.Name)
                  and isinstance(child.ctx, gast.Load)
                  and child.id not in excluded
                  and _is_mutable_data(namespace.get(child.id, _MISSING))):
                names[child.id] = None
                continue
            if replacement is None:
                _rewrite(child, namespace, excluded, names, chains, namer)
            elif isinstance(value, list):
                value[position] = replacement
            else:
                setattr(node, field, replacement)


def _hoisted_chain(node, namespace, excluded, chains, namer):
    """Return a local name for the longest data prefix of the attribute
    chain `node`, such as `Model.w` in `Model.w.sum`, and make `node` read
    it. Return None when the chain is not free or reads no data."""
    attributes = []
    root = node
    while isinstance(root, gast.Attribute):
        attributes.append(root)
        root = root.value
    if (not isinstance(root, gast.Name) or root.id in excluded
            or not isinstance(root.ctx, gast.Load)
            or not isinstance(node.ctx, gast.Load)):
        return None
    value = namespace.get(root.id, _MISSING)
    if (value is _MISSING or _is_fixed_module(value)
            or _is_compiler_object(value)):
        return None
    # The prefixes from the shortest. The chain is hoisted up to the last
    # one whose value is data, so that `Model.w.sum()` keeps its call.
    longest = None
    for attribute in reversed(attributes):
        value = getattr(value, attribute.attr, _MISSING)
        # NOTE: an attribute that the function's run creates is missing
        # here, so a chain through it stays a read at the adjoint's time.
        if value is _MISSING or _is_fixed_module(value):
            break
        if not _is_code(value):
            longest = attribute
    if longest is None:
        return None

    text = _chain_text(longest)
    if text not in chains:
        local = namer.fresh(text.replace('.', '_'))
        chains[text] = (local, _copy_chain(longest))
    local = gast.Name(id=chains[text][0], ctx=gast.Load(), annotation=None,
                      type_comment=None)
    if longest is node:
        return local

    # A longer chain such as `Model.w.sum`: only its data prefix changes.
    parent = node
    while parent.value is not longest:
        parent = parent.value
    parent.value = local
    return None


def _chain_text(node):
    if isinstance(node, gast.Attribute):
        return f'{_chain_text(node.value)}.{node.attr}'
    return node.id


def _copy_chain(node):
    if isinstance(node, gast.Attribute):
        return gast.Attribute(value=_copy_chain(node.value), attr=node.attr,
                              ctx=gast.Load())
    return gast.Name(id=node.id, ctx=gast.Load(), annotation=None,
                     type_comment=None)


def _may_be_hoisted(name, namespace, chain_root):
    """Return whether `_rewrite` may save the free name `name`, or a chain
    from it when `chain_root` (some attribute chain starts at it)."""
    value = namespace.get(name, _MISSING)
    if chain_root and value is not _MISSING and not (
            _is_fixed_module(value) or _is_compiler_object(value)):
        return True
    return _is_mutable_data(value)


def _is_fixed_module(value):
    return isinstance(value, types.ModuleType) and (
        value.__name__.partition('.')[0] in _FIXED_PACKAGES)


def _is_code(value):
    """True for modules, classes and other callables: what the adjoint
    calls or tests types against, not data it computes with."""
    return isinstance(value, types.ModuleType) or callable(value)


def _is_compiler_object(value):
    """True for the objects of adcompiler's own classes that generated
    code reads as globals, such as the call sites of dispatched calls. The
    code that differentiates generated code reads them too."""
    return type(value).__module__.partition('.')[0] == 'adcompiler'


def _is_mutable_data(value):
    """True for a value that is data and may change in place: an array, a
    list, an object with attributes, or a tuple that contains one."""
    if value is _MISSING or _is_code(value) or _is_compiler_object(value):
        return False
    if isinstance(value, _IMMUTABLE_SCALARS):
        return False
    if isinstance(value, (tuple, frozenset)):
        return any(_is_mutable_data(item) for item in value)
    return True
