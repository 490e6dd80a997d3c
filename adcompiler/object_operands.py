"""The expressions of a function that may give an object whose class
defines operators in Python.

The reverse and forward stages give `x + y` the rule of NumPy addition,
which is right only when the operands are arrays or numbers. normalize
writes an operator as a call of its function in `rules.operators`, which
follows Python's operator protocol when it runs, unless this module proves
that no operand can be such an object. A value is *plain* when it is not
such an object and reaches none through its items or attributes: an array
or a number, or a container of them.

`ObjectOperands` proves plainness for the names of the function's source
tree, and for the names that lowering adds (`note`, `add_code`). It
ignores the order of the statements. A name is plain when every value
assigned to it is plain, and so is every value stored in it by
`c[k] = v`, `o.attr = v` or `c.append(v)`. These values are plain:

- constants, f-strings, comparisons of plain values, lambdas;
- parameters, except those that `describe_arguments` lists for the
  arguments the code is compiled for. A parameter listed at the level
  SHALLOW (one object whose attributes are plain) and never reassigned
  has plain attributes, and `isinstance` of it is known;
- a global that is a number, an array of numbers, a tuple of plain values,
  a function, a class or a module;
- arithmetic, items (`x[i]`), attributes (`x.T`), iteration and displays
  of plain values;
- a call of a NumPy, SciPy, `math` or built-in function, or of a method of
  a plain value, whose arguments are plain;
- the result of an inlined function whose returned values are plain;
- a call, with plain arguments, of the user's function whose every
  `return` gives the result of NumPy, SciPy or math, of a method that
  only arrays have (`x.mean()`, `x.T`), arithmetic on it, or
  a local name assigned only such values (`F = np.zeros_like(p)`, then
  `F[0] += v`), proven plain by the same analysis of that function. A
  recursive call in it counts as plain while its returns are checked.

Any other value may be such an object. That includes the result of a call
of another Python function or of a function held in a variable, which is known
only when the call runs. It also includes a call of a user's class, a
global list or dict (its items may change after compiling), and a local
name bound in another way or made by lowering without being followed.
Code that adcompiler generated is trusted (`GeneratedOperands`).
"""

import builtins
import functools
import inspect
import types

import gast
import numpy as np

from adcompiler import parse
from adcompiler.errors import AdCompilerError
from adcompiler.resolve import dotted_value
from adcompiler.rules import operators
from adcompiler.traversal import nodes_of, walk

# Modules whose functions return plain values for plain arguments.
_LIBRARY_MODULES = frozenset({'numpy', 'scipy', 'math', 'cmath', 'builtins',
                              'operator', 'functools', 'itertools', 'copy',
                              '_operator', '_functools', 'adcompiler'})

# Builtins that can return values the compiler cannot see.
_OPAQUE_BUILTINS = (builtins.globals, builtins.vars, builtins.locals,
                    builtins.eval, builtins.exec, builtins.__import__)

# Calls whose result comes from calling a function argument.
_HIGHER_ORDER = (builtins.map, builtins.filter, functools.reduce)

# Methods of arrays and NumPy numbers that return an array or a number.
# No other plain value (list, tuple, dict, set, str, Python number) has them,
# so a call of such a method that succeeds was made on an array or a NumPy
# number.
_ARRAY_METHODS = frozenset({
    'all', 'any', 'argmax', 'argmin', 'argpartition', 'argsort', 'astype',
    'clip', 'conj', 'cumprod', 'cumsum', 'diagonal', 'dot', 'flatten',
    'item', 'max', 'mean', 'min', 'prod', 'ravel', 'repeat', 'reshape',
    'round', 'squeeze', 'std', 'sum', 'swapaxes', 'take', 'trace',
    'transpose', 'var'})


class GeneratedOperands:
    """The operands of code that adcompiler generated: every operator in
    it had its operands proven plain when it was generated, or was
    written as a call of rules.operators, so all of them are plain."""

    shallow = {}

    def may_be_object(self, node):
        return False

    def describe_call(self, call):
        return None

    def note(self, name, value):
        pass

    def add_code(self, node, arguments=None, objects=()):
        pass

    @property
    def inlined_results(self):
        return {}

    @property
    def known_callees(self):
        return {}


class ObjectOperands:
    """The plain names of a function (see the module docstring).

    `object_params` describes the arguments that hold objects with
    operators, as `describe_arguments` returns it.
    """

    def __init__(self, tree, object_params, global_object, is_local,
                 return_summaries=None, index=None):
        self.global_object = global_object
        self.is_local = is_local
        # Code of the user's functions -> whether a call of it with plain
        # arguments may return an object (see `_may_return_object`).
        self.return_summaries = ({} if return_summaries is None
                                 else return_summaries)
        # Inlined parameters bound to a global function, by name -> it.
        self.known_callees = {}
        # Calls of inlined functions -> whether the result may be an object.
        self.inlined_results = {}
        sources, unknown, parameters = _bindings(tree, tree.args, index)
        # The names this analysis followed; other local names, which
        # lowering makes, may hold anything.
        self.covered = set(sources) | unknown | parameters
        described = {name: (level, cls) for name, level, cls in object_params}
        if EVERY_PARAMETER in described:
            described = dict.fromkeys(parameters, (operators.DEEP, None))
        unknown.update(name for name in described if name in parameters)
        # Parameters never reassigned whose argument is one object with
        # plain fields, by name -> its class.
        self.shallow = {name: cls for name, (level, cls) in described.items()
                        if level == operators.SHALLOW and name in parameters
                        and name not in sources}
        self.parameters = parameters
        self.maybe_object = _fixpoint(sources, unknown, self)

    def may_be_object(self, node):
        """Return whether the value of the expression `node` may be, or
        hold, an object whose class defines operators in Python."""
        return _may_be_object(node, self.maybe_object, self)

    def note(self, name, value):
        """Follow a temporary `name` that lowering assigns `value`."""
        self.covered.add(name)
        if self.may_be_object(value):
            self.maybe_object.add(name)

    def add_code(self, node, arguments=None, objects=()):
        """Follow the names that lowering binds in `node`: the copy of an
        inlined function (`arguments` its parameters, of which `objects`
        may be objects), or statements lowered from a comprehension."""
        sources, unknown, parameters = _bindings(node, arguments)
        self.covered.update(set(sources) | unknown | parameters)
        self.maybe_object = _fixpoint(
            sources, unknown | set(objects) | self.maybe_object, self)

    def describe_call(self, call):
        """Return what the user's `call` passes (see `callee_objects`), or
        None when it passes no object with operators."""
        arguments = [self.describe_argument(a) for a in call.args
                     if not isinstance(a, gast.Starred)]
        keywords = {k.arg: self.describe_argument(k.value)
                    for k in call.keywords if k.arg is not None}
        passes = any(arguments) or any(keywords.values())
        if any(isinstance(a, gast.Starred) for a in call.args) or any(
                k.arg is None for k in call.keywords):
            unpacked = [a.value for a in call.args
                        if isinstance(a, gast.Starred)] + [
                            k.value for k in call.keywords if k.arg is None]
            if passes or any(map(self.may_be_object, unpacked)):
                return _UNBOUND  # The positions are known when it runs.
            return None
        if not passes:
            return None
        return tuple(arguments), tuple(sorted(keywords.items()))

    def describe_argument(self, node):
        """Return (level, class) for an argument, or None for a plain one."""
        if not self.may_be_object(node):
            return None
        if isinstance(node, gast.Name) and node.id in self.shallow:
            return operators.SHALLOW, self.shallow[node.id]
        return operators.DEEP, None


# Stands for every parameter in a description of the arguments.
EVERY_PARAMETER = '*'

# The description of a call that unpacks objects into its arguments.
_UNBOUND = 'unbound'


def describe_arguments(arguments):
    """Describe which `arguments`, an iterable of (parameter name, value),
    hold objects with operators, as a hashable frozenset of (name, level,
    class). The level is SHALLOW or DEEP (see
    `rules.operators.operator_object_level`). The class is that of a
    SHALLOW value, else None. The set is empty for arrays and numbers.
    An object whose class has a method named like an array method with a
    rule counts as one with operators (see
    `rules.operators.holds_operator_object`), and its methods are
    dispatched when they run (see adcompiler.array_receivers)."""
    described = []
    for name, value in arguments:
        if type(value) is np.ndarray or type(value) is float:
            continue
        level = operators.operator_object_level(value)
        if level:
            described.append((name, level, type(value)
                              if level == operators.SHALLOW else None))
    return frozenset(described)


def callee_objects(callee, call_description):
    """Return the description of the arguments (see `describe_arguments`)
    that a call described by `ObjectOperands.describe_call` passes
    `callee`."""
    if call_description is None:
        return frozenset()
    every = frozenset({(EVERY_PARAMETER, operators.DEEP, None)})
    if call_description == _UNBOUND:
        return every
    arguments, keywords = call_description
    try:
        bound = inspect.signature(callee).bind(*arguments, **dict(keywords))
    except (TypeError, ValueError):
        return every
    described = []
    parameters = bound.signature.parameters
    for name, value in bound.arguments.items():
        kind = parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            value = (operators.DEEP, None) if any(value) else None
        elif kind is inspect.Parameter.VAR_KEYWORD:
            value = (operators.DEEP, None) if any(value.values()) else None
        if value is not None:
            described.append((name, *value))
    return frozenset(described)


def _library_callable(value):
    """Return whether `value` is a function, class or other callable of a
    library whose results hold no user object when its arguments hold
    none."""
    if isinstance(value, functools.partial):
        return False  # It may call a function of the user's.
    module = getattr(value, '__module__', None)
    if not isinstance(module, str):
        module = type(value).__module__ or ''
    return module.split('.')[0] in _LIBRARY_MODULES


def plain_global(value):
    """Return whether a global's value is plain now and stays so."""
    if value is None or isinstance(value, (
            types.FunctionType, types.BuiltinFunctionType, types.ModuleType,
            type, np.ufunc)):
        return True
    module = type(value).__module__ or ''
    if module.split('.')[0] in ('numpy', 'scipy') and not isinstance(
            value, np.ndarray):
        return True  # Such as np.s_ and np.r_, which keep their rules.
    if not isinstance(value, (tuple, str, bytes, int, float, complex,
                              np.ndarray, np.generic)):
        # The items of a list or dict, or the attributes of an object,
        # may change after the code is compiled.
        return False
    return not operators.holds_operator_object(value)


def _may_be_object(node, names, context):
    """Return whether `node` may give a value that is not plain."""
    recurse = functools.partial(_may_be_object, names=names, context=context)
    if node is None or isinstance(node, (gast.Constant, gast.JoinedStr,
                                         gast.Lambda)):
        return False
    if isinstance(node, (gast.Name, gast.Attribute)) and not context.is_local(
            node):
        return not plain_global(context.global_object(node))
    if isinstance(node, gast.Name):
        return node.id in names or node.id not in context.covered
    if isinstance(node, gast.Attribute) and isinstance(
            node.value, gast.Name) and node.value.id in context.shallow:
        return False  # A field of an object whose fields are plain.
    if isinstance(node, gast.IfExp):
        known = _known_isinstance(node.test, context)
        if known is not None:
            return recurse(node.body if known else node.orelse)
    if isinstance(node, (gast.Attribute, gast.Starred, gast.Subscript)):
        return recurse(node.value)
    if isinstance(node, gast.BinOp):
        return recurse(node.left) or recurse(node.right)
    if isinstance(node, gast.UnaryOp):
        return not isinstance(node.op, gast.Not) and recurse(node.operand)
    if isinstance(node, gast.Compare):
        return recurse(node.left) or any(map(recurse, node.comparators))
    if isinstance(node, gast.BoolOp):
        return any(map(recurse, node.values))
    if isinstance(node, gast.IfExp):
        return recurse(node.body) or recurse(node.orelse)
    if isinstance(node, (gast.List, gast.Tuple, gast.Set)):
        return any(map(recurse, node.elts))
    if isinstance(node, gast.Dict):
        return any(map(recurse, node.values))
    if isinstance(node, (gast.ListComp, gast.SetComp, gast.GeneratorExp)):
        return recurse(node.elt)
    if isinstance(node, gast.DictComp):
        return recurse(node.value)
    if isinstance(node, gast.Slice):
        return False
    if isinstance(node, gast.Call):
        return _call_may_give_object(node, recurse, context)
    return True


def _known_isinstance(test, context):
    """Return the value of `isinstance(p, C)` when p is a parameter whose
    class the compiled code is for (see `ObjectOperands.shallow`) and C a
    global class or tuple of classes, else None."""
    if not (isinstance(test, gast.Call) and len(test.args) == 2
            and not test.keywords
            and context.global_object(test.func) is builtins.isinstance
            and isinstance(test.args[0], gast.Name)
            and test.args[0].id in context.shallow
            and not context.is_local(test.args[1])):
        return None
    classes = context.global_object(test.args[1])
    members = classes if isinstance(classes, tuple) else (classes,)
    if not all(type(c) is type for c in members):
        return None  # Not classes, or a metaclass with __instancecheck__.
    return issubclass(context.shallow[test.args[0].id], classes)


def _call_may_give_object(node, recurse, context):
    if node in context.inlined_results:
        return context.inlined_results[node]
    arguments = list(node.args) + [k.value for k in node.keywords]
    if any(recurse(argument) for argument in arguments):
        return True
    func = node.func
    if isinstance(func, gast.Name) and func.id in context.known_callees:
        return not _library_callable(context.known_callees[func.id])
    if isinstance(func, gast.Attribute) and (
            context.is_local(func) or not _is_dotted_name(func.value)):
        # A method of a local or computed value: x.sum(), lst.copy(),
        # xp.asarray(x), ((x - m) ** 2).mean().
        return recurse(func.value)
    if not isinstance(func, (gast.Name, gast.Attribute)) or context.is_local(
            func):
        return True  # A function held in a variable, or a computed one.
    callee = context.global_object(func)
    if callee is None or any(callee is opaque for opaque in _OPAQUE_BUILTINS):
        return True
    if any(callee is function for function in _HIGHER_ORDER):
        return True
    if _library_callable(callee):
        return False
    return _may_return_object(callee, context)


def _is_dotted_name(node):
    """Return whether `node` is a name or a chain of attributes of one."""
    while isinstance(node, gast.Attribute):
        node = node.value
    return isinstance(node, gast.Name)


def _may_return_object(function, context):
    """Return whether the user's Python `function`, given plain arguments,
    may return a value that is not an array or a number: True unless
    every `return` gives NumPy's or math's result, or arithmetic on one,
    that its own analysis proves plain. Summaries are kept for one compile
    (`context.return_summaries`), since the globals they read may change.
    """
    if type(function) is not types.FunctionType or function.__closure__:
        return True
    summaries = context.return_summaries
    code = function.__code__
    if code in summaries:
        return summaries[code]
    summaries[code] = True  # Unless the analysis below proves it plain.
    defaults = list(function.__defaults__ or ()) + list(
        (function.__kwdefaults__ or {}).values())
    if not all(map(plain_global, defaults)):
        return True
    try:
        source = parse.get_source(function)
    except AdCompilerError:
        return True
    tree = source.tree
    returns = []
    pending = list(tree.body)
    for node in pending:  # The list grows while the loop runs.
        if isinstance(node, (gast.Yield, gast.YieldFrom, gast.Await)):
            return True
        if isinstance(node, gast.Return):
            returns.append(node.value)
        if not isinstance(node, (gast.FunctionDef, gast.AsyncFunctionDef,
                                 gast.Lambda, gast.ClassDef)):
            pending.extend(gast.iter_child_nodes(node))
    local_names = {node.id for node in walk(tree)
                   if isinstance(node, gast.Name)
                   and not isinstance(node.ctx, gast.Load)}
    assigned = _assigned_values(tree, local_names)

    def is_local(node):
        while isinstance(node, gast.Attribute):
            node = node.value
        return isinstance(node, gast.Name) and node.id in local_names

    def global_object(node):
        return dotted_value(node, source.namespace)

    def gives_array(node, following=frozenset()):
        # A NumPy, SciPy or math call, an array method (`x.mean()`, `x.T`),
        # or arithmetic with one, or with a float constant: an array or a
        # number, since the analysis below proves the value plain. Other values, such as a
        # list, keep the protocol, which concatenates lists. A local name
        # counts when every value assigned to it counts, because
        # `F[0] += v` and `F += v` change an array and keep it an array.
        if isinstance(node, gast.Name):
            values = assigned.get(node.id)
            return (bool(values) and node.id not in following
                    and all(gives_array(value, following | {node.id})
                            for value in values))
        if isinstance(node, gast.Attribute):
            return node.attr in ('T', 'mT')  # Only arrays have them.
        if isinstance(node, gast.Call) and isinstance(
                node.func, gast.Attribute) and node.func.attr in _ARRAY_METHODS:
            return True
        if isinstance(node, gast.Call):
            callee = (None if is_local(node.func)
                      or not isinstance(node.func, (gast.Name, gast.Attribute))
                      else global_object(node.func))
            module = getattr(callee, '__module__', None) or ''
            return (isinstance(callee, np.ufunc)
                    or module.split('.')[0] in ('numpy', 'scipy', 'math'))
        if isinstance(node, gast.BinOp):
            return any(gives_array(side, following) or (
                isinstance(side, gast.Constant)
                and type(side.value) in (float, complex))
                for side in (node.left, node.right))
        if isinstance(node, gast.UnaryOp):
            return gives_array(node.operand, following)
        return False

    # A recursive call is assumed to return a plain value while the
    # returns are checked. If every return is then plain, the assumption
    # is true by induction on the depth of the recursion. Otherwise the
    # summaries found under it, of this function's callees too, are
    # dropped, because they may rest on it.
    known = set(summaries)
    summaries[code] = False
    result = True  # Also when the analysis raises.
    try:
        analysis = ObjectOperands(tree, (), global_object, is_local,
                                  summaries)
        result = not all(value is not None and gives_array(value)
                         and not analysis.may_be_object(value)
                         for value in returns)
    finally:
        if result:
            for key in set(summaries) - known:
                del summaries[key]
        summaries[code] = result
    return result


# Patterns of `match` that bind a name given as a string (`case [*rest]`).
_MATCH_CAPTURES = tuple(getattr(gast, name) for name in
                        ('MatchAs', 'MatchStar', 'MatchMapping')
                        if hasattr(gast, name))


def _assigned_values(tree, local_names):
    """Map each local name of the function `tree` to the values that
    `name = value` assigns to it.

    A name that is also bound in another way maps to None: a parameter,
    a name bound by unpacking, `for`, `with`, `import`, `global`,
    `nonlocal` or `:=`, and a nested function or class. `name op= v` and
    stores into items and attributes (`name[i] = v`) are left out,
    because they keep an array an array.
    """
    values = {name: [] for name in local_names}
    plain_stores = set()
    for node in walk(tree):
        targets = []
        if isinstance(node, gast.Assign):
            targets = node.targets
        elif isinstance(node, gast.AnnAssign) and node.value is not None:
            targets = [node.target]
        for target in targets:
            # A name bound in another way (global, import, def, ...) maps
            # to None, and keeps None even if a plain store follows.
            if isinstance(target, gast.Name) and values[target.id] is not None:
                values[target.id].append(node.value)
                plain_stores.add(id(target))
        if isinstance(node, gast.AugAssign) and isinstance(node.target,
                                                           gast.Name):
            plain_stores.add(id(node.target))
        if isinstance(node, (gast.Global, gast.Nonlocal)):
            for name in node.names:
                values[name] = None
        elif isinstance(node, (gast.Import, gast.ImportFrom)):
            for alias in node.names:
                values[(alias.asname or alias.name).split('.')[0]] = None
        elif isinstance(node, (gast.FunctionDef, gast.AsyncFunctionDef,
                               gast.ClassDef)) and node is not tree:
            values[node.name] = None
        elif isinstance(node, _MATCH_CAPTURES):
            for name in (getattr(node, 'name', None),
                         getattr(node, 'rest', None)):
                if name is not None:
                    values[name] = None
    for node in walk(tree):
        if (isinstance(node, gast.Name)
                and not isinstance(node.ctx, gast.Load)
                and id(node) not in plain_stores):
            values[node.id] = None  # A parameter, a loop target, ...
    return values


# Methods that put their arguments into the container they are called on.
_STORING_METHODS = frozenset({'append', 'extend', 'insert', 'update',
                              'setdefault', 'add', 'appendleft',
                              'extendleft'})


def _bindings(tree, arguments, index=None):
    """Return the expressions each name of `tree` is assigned or stores in
    its items or attributes (name -> list), the names bound in other ways,
    and the parameter names of `arguments` (a gast.arguments or None).
    `index` is a `NodeIndex` of `tree`, or None."""
    sources = {}
    bound = set()  # ids of the Name nodes that `sources` covers
    unknown = set()

    def bind(target, value):
        if isinstance(target, gast.Name):
            sources.setdefault(target.id, []).append(value)
            bound.add(id(target))
        elif isinstance(target, (gast.Tuple, gast.List)):
            for element in target.elts:
                bind(element, value)
        elif isinstance(target, gast.Starred):
            bind(target.value, value)
        elif isinstance(target, (gast.Subscript, gast.Attribute)):
            # c[k] = v or o.attr = v: c and o now hold v.
            while isinstance(target, (gast.Subscript, gast.Attribute)):
                target = target.value
            if isinstance(target, gast.Name):
                sources.setdefault(target.id, []).append(value)

    parameters = set()
    if arguments is not None:
        parameters = {a.id for a in walk(arguments)
                      if isinstance(a, gast.Name)}
    for node in nodes_of(tree, _BINDING_NODES, index):
        if isinstance(node, gast.Assign):
            for target in node.targets:
                bind(target, node.value)
        elif isinstance(node, gast.AugAssign):
            bind(node.target, node.value)
            bind(node.target, node.target)
        elif isinstance(node, gast.AnnAssign) and node.value is not None:
            bind(node.target, node.value)
        elif isinstance(node, (gast.For, gast.comprehension)):
            bind(node.target, node.iter)
        elif isinstance(node, gast.NamedExpr):
            bind(node.target, node.value)
        elif isinstance(node, gast.ExceptHandler) and node.name is not None:
            bound.add(id(node.name))  # An exception.
        elif (isinstance(node, gast.Call)
              and isinstance(node.func, gast.Attribute)
              and node.func.attr in _STORING_METHODS
              and isinstance(node.func.value, gast.Name)):
            for argument in node.args + [k.value for k in node.keywords]:
                bind(node.func.value, argument)
        elif isinstance(node, (gast.FunctionDef, gast.Lambda)) and \
                node is not tree:
            # Inlined where called; `add_code` follows each copy.
            unknown.update(a.id for a in walk(node.args)
                           if isinstance(a, gast.Name))
            bound.update(id(a) for a in walk(node.args))
            if isinstance(node, gast.FunctionDef):
                sources.setdefault(node.name, [])
        elif isinstance(node, (gast.Import, gast.ImportFrom)):
            unknown.update((alias.asname or alias.name).split('.')[0]
                           for alias in node.names)
    for node in nodes_of(tree, gast.Name, index):
        if (isinstance(node.ctx, gast.Store)
                and id(node) not in bound):
            unknown.add(node.id)  # with ... as name, match, ...
    return sources, unknown, parameters


# The classes of the nodes that `_bindings` reads bindings from.
_BINDING_NODES = (gast.Assign, gast.AugAssign, gast.AnnAssign, gast.For,
                  gast.comprehension, gast.NamedExpr, gast.ExceptHandler,
                  gast.Call, gast.FunctionDef, gast.Lambda, gast.Import,
                  gast.ImportFrom)


def _fixpoint(sources, unknown, context):
    """Return the names that may hold a value that is not plain: those in
    `unknown` and those assigned such a value."""
    names = set(unknown)
    changed = True
    while changed:
        changed = False
        for name, values in sources.items():
            if name not in names and any(
                    _may_be_object(value, names, context)
                    for value in values):
                names.add(name)
                changed = True
    return names
