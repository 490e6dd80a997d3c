"""Inner functions and lambdas, inlined where they are called.

Part of the normalize stage. A nested `def`, a lambda, and a function of the
same module that takes or returns one of them are not values in the
normalized function. Each call of one is replaced by the function's body:
parameters are bound to the call's arguments, and the function's own local
names are renamed to fresh names, so they cannot collide with the caller's.
The body then reads the enclosing function's variables as they are when the
call runs, as a closure in Python does, and a `nonlocal` assignment assigns
the enclosing variable. The adjoint of the inlined statements gives the
captured variables their gradients like any other statement.

This module holds what does not depend on the normalizer's state: the
`InnerFunction` record, binding call arguments to parameters, and renaming.
"""

import dataclasses
import types

import gast

from adcompiler.errors import LocatedError
from adcompiler.traversal import Transformer, child_nodes, walk


@dataclasses.dataclass
class InnerFunction:
    """A function known at compile time, to be inlined where it is called.

    `defaults` maps each parameter that has a default to the atom of its
    value, evaluated where the function was defined.
    """

    node: gast.FunctionDef
    defaults: dict
    # The module-level function this is, or None for a nested def or lambda.
    function: types.FunctionType = None

    @property
    def name(self):
        return self.node.name

    @property
    def display_name(self):
        """The name to show in messages: `<lambda>` for a lambda, as
        Python's tracebacks show it."""
        return '<lambda>' if self.node.name == LAMBDA_NAME else self.node.name


# The name of the `def` that `lambda_as_def` makes of a lambda.
LAMBDA_NAME = 'lambda_'


def lambda_as_def(node, name=LAMBDA_NAME):
    """Return the `def` equivalent to a lambda: its body is one return."""
    returned = gast.copy_location(gast.Return(value=node.body), node.body)
    function = gast.FunctionDef(
        name=name, args=node.args, body=[returned], decorator_list=[],
        returns=None, type_comment=None, type_params=[])
    return gast.copy_location(function, node)


def parameter_names(args):
    """Return every parameter name of a gast `arguments`, in signature order."""
    names = [a.id for a in list(args.posonlyargs) + list(args.args)]
    if args.vararg is not None:
        names.append(args.vararg.id)
    names += [a.id for a in args.kwonlyargs]
    if args.kwarg is not None:
        names.append(args.kwarg.id)
    return names


def declared_outside(function, index=None):
    """Return the names the function's body declares `nonlocal` or `global`.
    `index` is a `NodeIndex` of `function`, or None."""
    names = set()
    kinds = (gast.Nonlocal, gast.Global)
    found = _body_nodes(function, kinds, index)
    for node in own_nodes(function.body) if found is None else found:
        if isinstance(node, kinds):
            names.update(node.names)
    return names


def local_names(function, index=None):
    """Return the names local to `function`: parameters, assigned names and
    inner defs. `index` is a `NodeIndex` of `function`, or None."""
    names = set(parameter_names(function.args))
    found = _body_nodes(function, gast.Name, index)
    for node in own_nodes(function.body) if found is None else found:
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
            names.add(node.id)
        elif isinstance(node, gast.FunctionDef):
            names.add(node.name)
    return names - declared_outside(function, index)


def _body_nodes(function, kinds, index):
    """Return the nodes of `kinds` that `own_nodes(function.body)` yields,
    in another order, found in `index`, a `NodeIndex` of `function`. Return
    None when there is no index, or when `function` contains a nested
    function or lambda, whose nodes `own_nodes` leaves out."""
    if index is None:
        return None
    if any(node is not function
           for node in index.find((gast.FunctionDef, gast.Lambda))):
        return None
    # The index also contains the function itself and the nodes of its
    # signature and decorators, which are not in its body.
    parts = [function.args, *function.decorator_list, function.returns,
             *(getattr(function, 'type_params', None) or ())]
    outside = {id(node) for part in parts if part is not None
               for node in walk(part)}
    outside.add(id(function))
    return [node for node in index.find(kinds) if id(node) not in outside]


def free_names(function):
    """Return the names `function` reads that are not its own locals."""
    own = local_names(function)
    return {n.id for n in walk(function)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)
            and n.id not in own}


def own_nodes(statements):
    """Walk statements without entering nested functions and lambdas."""
    pending = list(statements)
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, gast.FunctionDef):
            continue  # Its name is yielded; its body has a scope of its own.
        if isinstance(node, gast.Lambda):
            continue
        pending.extend(child_nodes(node))


class _Renamer(Transformer):

    def __init__(self, mapping):
        self.mapping = mapping

    def visit_Name(self, node):
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_FunctionDef(self, node):
        node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node

    def visit_Nonlocal(self, node):
        node.names = [self.mapping.get(n, n) for n in node.names]
        return node


def rename(node, mapping):
    """Rename every occurrence of the names in `mapping` inside `node`, in place.

    The new names are fresh, so renaming every occurrence, also inside
    nested functions, keeps the meaning of the code.
    """
    return _Renamer(mapping).visit(node)


def bind_arguments(function, args, keywords, location):
    """Bind a call's argument atoms to `function`'s parameters.

    `args` is a list of atoms, `keywords` a list of (name, atom). Returns a
    dict from parameter name to atom; a `*args` parameter gets a `Tuple` of
    atoms and a `**kwargs` parameter a `Dict`. Parameters left out get the
    atom of their default. A call Python would reject raises `LocatedError`
    with Python's reason.
    """
    spec = function.node.args
    positional = [a.id for a in list(spec.posonlyargs) + list(spec.args)]
    positional_only = {a.id for a in spec.posonlyargs}
    keyword_only = [a.id for a in spec.kwonlyargs]
    name = function.name

    def invalid(reason):
        return LocatedError(f'invalid call of {name}: {reason}', location)

    bound = {}
    for param, value in zip(positional, args):
        bound[param] = value
    extra = list(args[len(positional):])
    if extra and spec.vararg is None:
        raise invalid(f'it takes {len(positional)} positional arguments but '
                      f'{len(args)} were given')
    if spec.vararg is not None:
        bound[spec.vararg.id] = gast.Tuple(elts=extra, ctx=gast.Load())

    extra_keywords = []
    for keyword, value in keywords:
        if keyword in bound or (keyword in positional_only
                                and spec.kwarg is None):
            raise invalid(f'got multiple values for argument {keyword!r}')
        if keyword in positional and keyword not in positional_only or \
                keyword in keyword_only:
            bound[keyword] = value
        elif spec.kwarg is not None:
            extra_keywords.append((keyword, value))
        else:
            raise invalid(f'got an unexpected keyword argument {keyword!r}')
    if spec.kwarg is not None:
        bound[spec.kwarg.id] = gast.Dict(
            keys=[gast.Constant(value=k, kind=None) for k, _ in extra_keywords],
            values=[v for _, v in extra_keywords])

    missing = []
    for param in positional + keyword_only:
        if param in bound:
            continue
        if param in function.defaults:
            bound[param] = function.defaults[param]
        else:
            missing.append(param)
    if missing:
        raise invalid(f'missing required argument {missing[0]!r}')
    order = parameter_names(spec)
    return {param: bound[param] for param in order}
