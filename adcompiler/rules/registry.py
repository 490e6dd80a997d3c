"""The rule registry and the template language of reverse rules.

A reverse rule is a template: a Python function that is parsed, never called,
and whose body is inlined into the adjoint code. Its parameters are those of
the primal function, and it may read three more names:

    g      the adjoint (cotangent) of the result
    ans    the result of the primal call
    d[x]   the adjoint of parameter x, written as `d[x] = expression`
    active(x)  True when the call differentiates argument x, else False,
           decided when the template is inlined

and the modules `np` (NumPy) and `ad` (adcompiler.runtime). A one-line rule
is a lambda returning the adjoint of its first parameter, or a tuple with one
entry per parameter (`None` where there is no gradient):

    vjp(np.exp, lambda x: g * ans)
    vjp(np.where, lambda condition, x, y: (None, ...

A longer rule is a `def` whose body assigns `d[x]`; other statements in it are
temporaries. The parameters a template assigns `d[...]` to are the ones the
call differentiates; a rule that assigns none is a zero-gradient rule.

Rules registered with `unbroadcast=True` apply to broadcasting operations:
the reverse stage sums each `d[x]` back to the shape of `x`.

The registry also maps method and attribute names of NumPy arrays to
templates, for calls such as `x.sum(axis=0)` on local values, and keeps
user rules given as ordinary callables (`register_vjp`).
"""

import ast
import dataclasses
import functools
import inspect
import linecache
import sys
import logging
import threading

import gast
import numpy as np

from adcompiler.errors import AdCompilerError
from adcompiler.traversal import walk

logger = logging.getLogger(__name__)

# The names a template may read besides its own parameters and temporaries.
TEMPLATE_NAMES = frozenset({'g', 't', 'ans', 'd', 'active', 'np', 'ad', 'None', 'True',
                            'False'})


class Template:
    """A reverse rule; see the module docstring.

    Registration keeps the template function and parses it on first use,
    because parsing the 519 rules at import took 1.1 s of the 1.4 s that
    importing adcompiler took (Python 3.11, 2-core AMD EPYC). A
    malformed template raises `RuleError` when the compiler first reads
    its signature, body or differentiated parameters (or when
    `Registry.check_templates` runs).
    """

    def __init__(self, function, unbroadcast=False, name=None):
        self.function = function
        self.name = name or function.__qualname__
        self.unbroadcast = unbroadcast
        # A forward template whose entries are tuples (the tangent of a
        # tuple result): entries are added item by item, not concatenated.
        self.tuple_result = False
        self._parsed = None  # (signature, body, differentiated) once parsed
        # The (name, default) pair of each parameter, or () when one is
        # not positional-or-keyword. None until `bind` first reads it.
        self._plain_parameters = None

    def _parse(self):
        parsed = self._parsed
        if parsed is None:
            # Two threads may both parse, which is harmless because both
            # store equal results.
            parsed = self._parsed = _parse_function(self.function)
        return parsed

    @property
    def signature(self):
        """The `inspect.Signature` of the template function."""
        return self._parse()[0]

    @property
    def body(self):
        """The template statements: `d[x] = ...` entries and temporaries."""
        return self._parse()[1]

    @property
    def differentiated(self):
        """The parameters the template assigns `d[...]` to, in order."""
        return self._parse()[2]

    def bind(self, args, keywords):
        """Return the arguments of a call of the template by parameter, in
        the signature's order and with the defaults of those not passed:
        the `arguments` of `signature.bind(*args, **keywords)` after
        `apply_defaults()`. Raises TypeError as `bind` does.

        Most templates take only positional-or-keyword parameters, and
        then the arguments are matched here: inspect's `bind` and
        `apply_defaults` took about 10 microseconds a call (Python 3.11,
        loaded 2-core AMD EPYC), and a 1000-line function makes thousands.
        """
        plain = self._plain_parameters
        if plain is None:
            plain = self._plain_parameters = _plain_parameters(self.signature)
        if plain and len(args) <= len(plain):
            arguments = {}
            by_keyword = 0
            for position, (name, default) in enumerate(plain):
                if position < len(args):
                    arguments[name] = args[position]
                    if name in keywords:
                        break  # Passed twice: bind raises the error.
                elif name in keywords:
                    arguments[name] = keywords[name]
                    by_keyword += 1
                elif default is not inspect.Parameter.empty:
                    arguments[name] = default
                else:
                    break  # Missing: bind raises the error.
            else:
                if by_keyword == len(keywords):
                    return arguments
        bound = self.signature.bind(*args, **keywords)
        bound.apply_defaults()
        return bound.arguments

    def accepted_call(self):
        """Return the call form that the rule accepts, such as
        `numpy.prod(a, axis=None, dtype=None, *, keepdims=False)`, for
        error messages. A method's form leaves out its receiver."""
        signature = self.signature
        parameters = list(signature.parameters.values())
        if self.name.startswith('ndarray.'):
            parameters = parameters[1:]
        return f'{self.name}{signature.replace(parameters=parameters)}'

    def __repr__(self):
        return f'Template({self.name!r})'


@dataclasses.dataclass
class Rule:
    """The reverse-mode rule for calls of one callable."""

    callee: object
    template: Template = None
    vjp_function: object = None
    # True for a rule registered with adcompiler.register_vjp, whose
    # cotangents are checked against the shapes of the arguments. The
    # built-in rules may return compact cotangents that broadcast.
    user: bool = False

    @property
    def differentiable(self):
        if self.template is not None:
            return bool(self.template.differentiated)
        return self.vjp_function is not None


class NonDifferentiable:
    """Registry entry of a callable that contributes no adjoint."""


NON_DIFFERENTIABLE = NonDifferentiable()


class RuleError(AdCompilerError):
    """A gradient rule is malformed."""


class RuleResultError(RuleError, TypeError):
    """A user's gradient rule returned a result of the wrong structure or
    shape, found when the derivative is computed."""


def _key(callee):
    try:
        hash(callee)
    except TypeError:
        return ('id', id(callee))
    return callee


@dataclasses.dataclass(frozen=True)
class Conversion:
    """Facts about a call `callee(a, **keywords)` of a conversion, with one
    positional argument and only the keywords named here.

    The result has the shape of `a` (`()` for a number). Its dtype is the
    dtype of `a`, or a floating one for an integer or bool `a` when the
    keyword `floating` is True. In NumPy's namespace, which the keyword
    `namespace` passes where the callee takes one, the result for a NumPy
    array or number `a` is an np.ndarray (0-d for a number), possibly `a`
    itself, and a float64 `a` gives float64.
    """

    floating: object  # keyword name, or None
    namespace: object  # keyword name, or None
    fixed: dict  # keyword name -> the constant it must have

    def accepts_keywords(self, keywords, constant):
        """Return whether `keywords` (name -> node) are ones this
        conversion accepts; `constant(node)` returns a constant's value or
        a marker for any other node. The keyword `floating` must be a bool
        constant."""
        for name, node in keywords.items():
            if name == self.namespace:
                continue
            if name == self.floating:
                if type(constant(node)) is not bool:
                    return False
            elif name not in self.fixed:
                return False
            else:
                value, expected = constant(node), self.fixed[name]
                if type(value) is not type(expected) or value != expected:
                    return False
        return True


class Registry:
    """Rules and non-differentiable marks, looked up by callable."""

    def __init__(self):
        self._rules = {}
        self._jvps = {}
        self._user_jvps = set()  # keys of rules from register_jvp
        self._jvp_templates = {}  # key or ('method', name) -> Template
        self._derived_jvps = set()
        self._linear = {}
        self._methods = {}
        self._attributes = {}
        self._lock = threading.Lock()
        self.version = 0
        # Module name -> functions that register rules for that module's
        # callables, run once the module has been imported (see `defer`).
        self._deferred = {}
        self._modules_seen = 0
        # Code objects of decorator wrappers that call the function they
        # wrap with the same arguments -> the adapter of calls that pass
        # the wrapper's own parameters, or None (see `transparent_wrapper`).
        self._transparent = {}
        self._substitutes = {}  # callee -> replacement (see `substitute`)
        self._in_place = {}  # callee -> pure function (see `in_place`)
        # ndarray method name -> pure function (see `in_place_method`).
        self._in_place_methods = {}
        # Callables that return an array namespace, and the names of the
        # namespace functions whose results carry no derivative (see
        # `namespace_function`).
        self._namespace_sources = {}
        self._namespace_functions = {}
        self._itemwise = {}  # see `itemwise`
        self._conversions = {}  # callee -> `Conversion` (see `conversion`)
        self._false_checks = {}  # callee -> check (see `false_check`)
        self._false_check_callees = []  # kept alive, so their ids stay
        self._false_check_ids = frozenset()
        # callee -> (namespace, check) (see `known_namespace`)
        self._known_namespaces = {}
        self._known_namespace_callees = []  # kept alive, so their ids stay
        self._known_namespace_ids = frozenset()
        self._namespace_checks = {}  # the checks of `known_namespace`

    def _store(self, table, key, value):
        with self._lock:
            table[key] = value
            self.version += 1

    def mark_changed(self):
        """Make functions compiled so far compile again on their next call,
        after a change that their code may depend on (a new container)."""
        with self._lock:
            self.version += 1

    def vjp(self, callee, template, unbroadcast=False):
        """Register a template (lambda or def) as the reverse rule of `callee`."""
        parsed = parse_template(template, unbroadcast, _callee_name(callee))
        self._store(self._rules, _key(callee), Rule(callee, template=parsed))
        return template

    def vjp_function(self, callee, function, user=False):
        """Register an ordinary callable `function(g, ans, *args, **kwargs)`.

        `user` marks a rule that adcompiler.register_vjp registered (see
        `Rule.user`).
        """
        self._store(self._rules, _key(callee),
                    Rule(callee, vjp_function=function, user=user))
        return function

    def jvp_function(self, callee, function, user=False):
        """Register `function(tangents, ans, *args, **kwargs)` as the forward
        rule of `callee`; it returns the tangent of the output.

        `user` marks a rule that adcompiler.register_jvp registered, whose
        tangent is checked against the shape of the output.
        """
        with self._lock:
            if user:
                self._user_jvps.add(_key(callee))
            else:
                self._user_jvps.discard(_key(callee))
        self._store(self._jvps, _key(callee), function)
        return function

    def lookup_jvp(self, callee):
        """Return the forward rule registered for `callee`, or None."""
        return self._jvps.get(_key(callee))

    def is_user_jvp(self, callee):
        """Return whether the forward rule of `callee` is a user's rule."""
        return _key(callee) in self._user_jvps

    def non_differentiable(self, callee):
        """Mark `callee` as contributing no adjoint."""
        self._store(self._rules, _key(callee), NON_DIFFERENTIABLE)
        return callee

    def method(self, name, template, unbroadcast=False):
        """Register the rule of the array method `x.name(...)`."""
        value = (NON_DIFFERENTIABLE if template is NON_DIFFERENTIABLE
                 else parse_template(template, unbroadcast, f'ndarray.{name}'))
        self._store(self._methods, name, value)

    def attribute(self, name, template):
        """Register the rule of the array attribute `x.name`."""
        value = (NON_DIFFERENTIABLE if template is NON_DIFFERENTIABLE
                 else parse_template(template, name=f'ndarray.{name}'))
        self._store(self._attributes, name, value)

    def entries(self):
        """Return the registered callables, method names and attribute names."""
        with self._lock:
            callees = [entry.callee if isinstance(entry, Rule) else key
                       for key, entry in self._rules.items()]
            return callees, list(self._methods), list(self._attributes)

    def templates(self):
        """Return every registered `Template`, reverse and forward."""
        with self._lock:
            entries = (
                [rule.template for rule in self._rules.values()
                 if isinstance(rule, Rule)]
                + list(self._methods.values())
                + list(self._attributes.values())
                + list(self._jvp_templates.values()))
        return [entry for entry in entries if isinstance(entry, Template)]

    def check_templates(self):
        """Parse every registered template now; raise `RuleError` for the
        first malformed one. Templates are otherwise parsed on first use."""
        for template in self.templates():
            template.signature  # noqa: B018 (parses the template)

    def transparent_wrapper(self, wrapper, adapter=None):
        """Mark the wrapper function a decorator made as transparent.

        Every function that decorator wraps shares the wrapper's code. A call
        of one whose arguments the function it wraps (`__wrapped__`) accepts
        is transformed as a call of that function. For a call that passes a
        parameter only the wrapper has, `adapter(wrapped)` returns a Python
        function to transform in its place, which takes the wrapper's
        parameters. Without an adapter, such a call is transformed as a
        call of the wrapper.
        """
        with self._lock:
            self._transparent[wrapper.__code__] = adapter
            self.version += 1

    def substitute(self, callee, replacement):
        """Make calls of `callee`, resolved at compile time or dispatched at
        run time, call `replacement`, which computes the same values
        without writing into its arguments.

        `callee` may be a code object, which stands for every function made
        from it: each named tuple class has a `_replace` function of its
        own, and they all share one code object.
        """
        with self._lock:
            self._substitutes[_key(callee)] = replacement
            self.version += 1

    def in_place(self, callee, pure):
        """Make a statement `callee(a, ...)`, whose first argument is a
        local name, run as `a[...] = pure(a, ...)`.

        `callee` updates its first argument in place and returns None, and
        `pure` returns the updated value as a new array of the same shape,
        taking the same arguments. The normalize stage rewrites the
        statement, so the write is one that the reverse stage undoes.
        """
        self._store(self._in_place, _key(callee), pure)

    def in_place_method(self, name, pure):
        """Make a statement `a.name(...)`, where the local `a` is known to
        contain an ndarray, run as `a[...] = pure(a, ...)` (see
        `in_place`)."""
        self._store(self._in_place_methods, name, pure)

    def in_place_method_replacement(self, name):
        """Return the pure function of the ndarray method `name` (see
        `in_place_method`), or None."""
        return self._in_place_methods.get(name)

    def in_place_replacement(self, callee):
        """Return the pure function of `callee` (see `in_place`), or None."""
        try:
            return self._in_place.get(_key(callee))
        except TypeError:
            return None

    def substitute_of(self, callee):
        """Return the replacement of `callee` (see `substitute`), or it."""
        if self._deferred:
            self.load_deferred()
        try:
            replacement = self._substitutes.get(_key(callee))
        except TypeError:
            return callee
        if replacement is None:
            code = getattr(callee, '__code__', None)
            replacement = self._substitutes.get(code) if code else None
        return callee if replacement is None else replacement

    def unwrap(self, callee, accepts=None):
        """Return the function a transparent wrapper wraps, else `callee`.

        `accepts(function)` returns whether the call's arguments bind to the
        parameters of `function`. When the wrapped function does not accept
        them, the result is the wrapper's adapter for it, or the wrapper
        itself (see `transparent_wrapper`).
        """
        if self._deferred:
            self.load_deferred()
        while (getattr(callee, '__code__', None) in self._transparent
               and callable(getattr(callee, '__wrapped__', None))):
            wrapped = callee.__wrapped__
            if accepts is not None and not accepts(wrapped):
                adapter = self._transparent[callee.__code__]
                return callee if adapter is None else adapter(wrapped)
            callee = wrapped
        return callee

    def defer(self, module_name, register):
        """Run `register()` once `module_name` has been imported by someone.

        Rules for the callables of an optional library (SciPy) are registered
        this way, so that importing adcompiler never imports the library.
        """
        with self._lock:
            self._deferred.setdefault(module_name, []).append(register)
            self._modules_seen = 0
        self.load_deferred()

    def load_deferred(self):
        """Run the deferred registrations whose module is now imported."""
        if not self._deferred or len(sys.modules) == self._modules_seen:
            return
        with self._lock:
            self._modules_seen = len(sys.modules)
            ready = [m for m in self._deferred if m in sys.modules]
            registrations = [r for m in ready for r in self._deferred.pop(m)]
        for register in registrations:
            try:
                register()
            except (ImportError, AttributeError) as err:
                # Another version of the library: its callables stay without
                # rules and are transformed from source like user code.
                logger.debug('skipped the rules of %s: %s',
                             register.__qualname__, err)

    def lookup(self, callee):
        """Return the `Rule`, `NON_DIFFERENTIABLE`, or None for `callee`."""
        entry = self._rules.get(_key(callee))
        if entry is None and self._deferred:
            self.load_deferred()
            entry = self._rules.get(_key(callee))
        return entry

    def lookup_method(self, name):
        return self._methods.get(name)

    def itemwise(self, callee):
        """Mark `callee` as returning a tuple whose item i depends only on
        its positional argument i (an argument converted or broadcast), so
        that activity follows each item from its own argument."""
        self._store(self._itemwise, _key(callee), True)

    def conversion(self, callee, floating=None, namespace=None, fixed=None):
        """Mark `callee` as a conversion of one array (see `Conversion`).

        `floating` names the keyword that, when True, promotes an integer
        or bool dtype to float64. `namespace` names the keyword that passes
        the array namespace. `fixed` maps the other keywords to the one
        constant value each may have for the facts of `Conversion` to hold.
        """
        self._store(self._conversions, _key(callee), Conversion(
            floating, namespace, dict(fixed or {})))

    def lookup_conversion(self, callee):
        """Return the `Conversion` of `callee`, or None."""
        if self._deferred:
            self.load_deferred()
        return self._conversions.get(_key(callee))

    def false_check(self, callee, check):
        """Mark `callee` as returning False for every value adcompiler
        differentiates.

        `check` takes the same arguments, raises where `callee` would
        return True, and returns False. Generated code calls it in place of
        `callee` and keeps only the else branch of an `if` on the result
        (see adcompiler.known_results).
        """
        self._store(self._rules, _key(check), NON_DIFFERENTIABLE)
        self._store(self._false_checks, _key(callee), check)
        with self._lock:
            self._false_check_callees.append(callee)
            self._false_check_ids = self._false_check_ids | {id(callee)}

    def lookup_false_check(self, callee):
        """Return the check of `false_check` for `callee`, or None."""
        if self._deferred:
            self.load_deferred()
        return self._false_checks.get(_key(callee))

    def false_check_ids(self):
        """Return the ids of the callees marked with `false_check`."""
        if self._deferred:
            self.load_deferred()
        return self._false_check_ids

    def is_itemwise(self, callee):
        """Return whether `callee` was marked with `itemwise`."""
        return _key(callee) in self._itemwise

    # Array namespaces ------------------------------------------------------
    #
    # Library code calls array functions through a namespace held in a local
    # variable: `xp = array_namespace(x)`, then `xp.isfinite(m)`. Such a
    # call is resolved when it runs, and its result may carry a derivative
    # until then. The array API standard fixes what some of the functions
    # return, whatever the namespace, so calls of those are classified when
    # compiling.

    def namespace_source(self, callee):
        """Mark `callee` as returning an array namespace: a module of
        array functions that follows the array API standard."""
        self._store(self._namespace_sources, _key(callee), True)

    def namespace_function(self, name, entry):
        """Register `entry` (only `NON_DIFFERENTIABLE` for now) for the
        function `name` of every array namespace."""
        self._store(self._namespace_functions, name, entry)

    def known_namespace(self, callee, namespace, check):
        """Mark `callee`, a `namespace_source`, as returning the module
        `namespace` for every value adcompiler differentiates.

        `check(xp)` raises unless `xp` is `namespace`. Generated code calls
        it after `xp = callee(...)`, and calls `namespace`'s functions
        directly (see adcompiler.known_results).
        """
        self.namespace_source(callee)
        self._store(self._rules, _key(check), NON_DIFFERENTIABLE)
        self._store(self._namespace_checks, _key(check), True)
        self._store(self._known_namespaces, _key(callee), (namespace, check))
        with self._lock:
            self._known_namespace_callees.append(callee)
            self._known_namespace_ids = self._known_namespace_ids | {
                id(callee)}

    def lookup_known_namespace(self, callee):
        """Return the (namespace, check) pair of `known_namespace` for
        `callee`, or None."""
        if self._deferred:
            self.load_deferred()
        return self._known_namespaces.get(_key(callee))

    def is_namespace_check(self, callee):
        """Return whether `callee` is the check of a `known_namespace`,
        which only reads the namespace it is given."""
        return _key(callee) in self._namespace_checks

    def known_namespaces(self):
        """Return the modules that `known_namespace` callees return."""
        if self._deferred:
            self.load_deferred()
        return [namespace for namespace, _ in self._known_namespaces.values()]

    def known_namespace_ids(self):
        """Return the ids of the callees marked with `known_namespace`."""
        if self._deferred:
            self.load_deferred()
        return self._known_namespace_ids

    def returns_namespace(self, callee):
        """Return whether `callee` was marked with `namespace_source`."""
        if self._deferred:
            self.load_deferred()
        return _key(callee) in self._namespace_sources

    def lookup_namespace_function(self, name):
        """Return the entry of `namespace_function` for `name`, or None."""
        return self._namespace_functions.get(name)

    def lookup_attribute(self, name):
        return self._attributes.get(name)

    # Forward rules ---------------------------------------------------------
    #
    # A forward template has the reverse template's parameters; each entry
    # `d[x] = expression` is the contribution of x's tangent `t` to the
    # output's tangent, and the contributions of all arguments with a
    # tangent are added. An elementwise reverse rule, whose entries are
    # `g` times a partial derivative, is its own forward rule with `t` in
    # place of `g`; `derive_jvp` marks others of that form.

    def jvp(self, callee, template, tuple_result=False):
        """Register a forward template for `callee`.

        With `tuple_result` the callee returns a tuple and each entry of the
        template is a tuple of tangents, one per item of the result.
        """
        parsed = parse_template(template, name=_callee_name(callee))
        parsed.tuple_result = tuple_result
        self._store(self._jvp_templates, _key(callee), parsed)
        return template

    def method_jvp(self, name, template):
        """Register the forward template of the array method `x.name(...)`."""
        parsed = parse_template(template, name=f'ndarray.{name}')
        self._store(self._jvp_templates, ('method', name), parsed)

    def attribute_jvp(self, name, template):
        """Register the forward template of the array attribute `x.name`."""
        parsed = parse_template(template, name=f'ndarray.{name}')
        self._store(self._jvp_templates, ('attribute', name), parsed)

    def adjoint_helper_jvp(self, callee, template, tuple_result=False):
        """Register a forward template for a runtime helper of generated
        adjoint code that has no reverse rule (see `linear_adjoint_helper`)."""
        self._store(self._rules, _key(callee), Rule(callee))
        self.jvp(callee, template, tuple_result)

    def linear_adjoint_helper(self, callee, params=None, multilinear=False,
                              others_constant=True):
        """Register a runtime helper of adjoint code as linear in `params`.

        Forward mode over generated adjoint code (forward over reverse) then
        applies the helper to the tangents; there is no reverse rule. By
        default its other arguments only give shapes and dtypes, so they
        have no derivative. With `others_constant=False`, a tangent of one
        of them raises UnsupportedSyntaxError instead.
        """
        self._store(self._rules, _key(callee), Rule(callee))
        self.linear_jvp(callee, params, multilinear, others_constant)

    def linear_jvp(self, callee, params=None, multilinear=False,
                   others_constant=False):
        """Mark `callee` as linear in `params` (default: its first).

        The forward rule is then the function itself applied to the
        tangents: jointly linear functions (a shape change, an FFT, a join)
        take every listed argument's tangent in one call, and multilinear
        ones (products) add one call per argument with a tangent.
        """
        self._store(self._linear, _key(callee), (tuple(params or ()),
                                                 multilinear, others_constant))

    def linear_method_jvp(self, name):
        """Mark the array method `x.name(...)` as linear in `x`."""
        self._store(self._linear, ('method', name), ((), False, False))

    def lookup_linear(self, callee=None, method=None):
        """Return (params, multilinear, others_constant) for a linear
        function, or None."""
        key = ('method', method) if method is not None else _key(callee)
        return self._linear.get(key)

    def derive_jvp(self, *callees):
        """Mark reverse rules of the form `g * partial` as forward rules too."""
        for callee in callees:
            with self._lock:
                self._derived_jvps.add(_key(callee))
                self.version += 1

    def lookup_jvp_template(self, callee=None, method=None, attribute=None):
        """Return (template, derived) for a forward rule, or None.

        `derived` is True when the template is the reverse rule's, to be used
        with `t` in place of `g` and broadcast to the output's shape.
        """
        if method is not None:
            key = ('method', method)
        elif attribute is not None:
            key = ('attribute', attribute)
        else:
            key = _key(callee)
        template = self._jvp_templates.get(key)
        if template is not None:
            return template, False
        if callee is None:
            return None
        rule = self._rules.get(key)
        if isinstance(rule, Rule) and rule.template is not None and (
                rule.template.unbroadcast or key in self._derived_jvps):
            return rule.template, True
        return None


# Template parsing --------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _file_templates(filename):
    """Map each line of a file to the lambda and def nodes that start there."""
    with open(filename, encoding='utf-8') as file:
        module = gast.parse(file.read())
    starting = {}
    for node in walk(module):
        if isinstance(node, (gast.Lambda, gast.FunctionDef)):
            starting.setdefault(node.lineno, []).append(node)
    return starting


def _code_lines(code):
    """Return the lines of the file that hold `code`'s lambda or def, from
    its first line through the last line of its body, or None.

    The last line is the furthest one the instructions of the code point
    to. A def also takes the more indented lines after it, which hold
    statements without instructions (a final `pass`).
    """
    lines = linecache.getlines(code.co_filename)
    first = code.co_firstlineno
    if not lines or first > len(lines):
        return None
    if hasattr(code, 'co_positions'):
        last = max((end for _, end, _, _ in code.co_positions()
                    if end is not None), default=first)
    else:
        # Python 3.10 gives the first line of each instruction only; lines
        # that then do not parse alone send the caller to the whole file.
        last = max((line for _, _, line in code.co_lines()
                    if line is not None), default=first)
    if code.co_name != '<lambda>':
        header = lines[first - 1]
        indentation = len(header) - len(header.lstrip())
        while last < len(lines):
            line = lines[last]
            if line.strip() and not line.lstrip().startswith('#') and \
                    len(line) - len(line.lstrip()) <= indentation:
                break
            last += 1
    return lines[first - 1:last]


def _candidates(code, kind):
    """Return the `kind` nodes (gast) that start at the first line of `code`,
    parsed from the lines of the template alone (`_code_lines`), or None
    when those lines do not parse alone. The lines keep their numbers and
    columns.
    """
    lines = _code_lines(code)
    if lines is None:
        return None
    first = code.co_firstlineno
    text = ''.join(lines)
    # Empty lines before the snippet give it its line numbers. An indented
    # snippet is parsed as the body of `if 1:`, on the line before it (an
    # indented line is never a file's first).
    if text[:1] in (' ', '\t'):
        text = '\n' * (first - 2) + 'if 1:\n' + text
    else:
        text = '\n' * (first - 1) + text
    try:
        trees = [ast.parse(text)]
    except SyntaxError:
        if kind is not gast.Lambda:
            return None
        trees = _parse_lambdas(code, lines)
    python_kind = ast.Lambda if kind is gast.Lambda else ast.FunctionDef
    return [gast.ast_to_gast(node) for tree in trees for node in walk(tree)
            if isinstance(node, python_kind) and node.lineno == first]


def _parse_lambdas(code, lines):
    """Parse each lambda that starts on the first of `lines` alone, through
    the end of the body of `code`; return the trees that parse.

    This finds a lambda inside a longer statement, such as an entry of a
    dictionary display, whose lines do not parse alone. The columns of the
    instructions are UTF-8 offsets, so only ASCII lines are cut.
    """
    if not all(line.isascii() for line in lines) or not hasattr(
            code, 'co_positions'):
        return []  # Python 3.10 gives no columns: the file is parsed.
    first = code.co_firstlineno
    last = first + len(lines) - 1
    end = max((end_column for _, end_line, _, end_column
               in code.co_positions()
               if end_line == last and end_column is not None), default=None)
    if end is None or first < 2:
        return []
    trees = []
    column = lines[0].find('lambda')
    while column >= 2:
        # A parenthesized expression statement in `if 1:`, at the line and
        # the column of the lambda.
        cut = [lines[0][column:]] + lines[1:]
        cut[-1] = cut[-1][:end - (column if len(lines) == 1 else 0)]
        text = ('\n' * (first - 2) + 'if 1:\n' + ' ' * (column - 1) + '('
                + ''.join(cut) + ')\n')
        try:
            trees.append(ast.parse(text))
        except SyntaxError:
            pass
        column = lines[0].find('lambda', column + 1)
    return trees


# Code object -> template node; template functions made in a loop share one.
# Code objects never change, so nothing invalidates an entry.
_NODES = {}


def _template_node(function):
    """Find the lambda or def node of a template function in its file.

    The lines of the template are parsed alone where they can be, which
    costs far less than parsing the whole file. The whole file is parsed
    when they do not parse, or when they give no single candidate.
    """
    code = function.__code__
    node = _NODES.get(code)
    if node is not None:
        return node
    kind = gast.Lambda if function.__name__ == '<lambda>' else gast.FunctionDef
    candidates = _matching(function, _candidates(code, kind) or [])
    if len(candidates) != 1:
        candidates = _matching(function, [
            node for node in _file_templates(code.co_filename).get(
                code.co_firstlineno, ()) if isinstance(node, kind)])
    if len(candidates) != 1:
        raise RuleError(
            f'cannot locate the template {function.__qualname__} at line '
            f'{code.co_firstlineno} of {code.co_filename}: write one rule '
            'per line')
    _NODES[code] = candidates[0]
    return candidates[0]


def _matching(function, nodes):
    """Return the nodes with the name (for a def) and the parameters of
    `function`."""
    code = function.__code__
    params = list(code.co_varnames[:code.co_argcount + code.co_kwonlyargcount])
    matching = []
    for node in nodes:
        if isinstance(node, gast.FunctionDef) and \
                node.name != function.__name__:
            continue
        names = [a.id for a in node.args.args + node.args.kwonlyargs]
        if names == params:
            matching.append(node)
    return matching


def _callee_name(callee):
    module = getattr(callee, '__module__', None) or ''
    name = getattr(callee, '__name__', None) or repr(callee)
    owner = getattr(callee, '__self__', None)
    if isinstance(owner, np.ufunc):  # A method such as np.multiply.reduce.
        return f'numpy.{owner.__name__}.{name}'
    if module in ('', 'builtins', '_operator'):
        return name
    return f'{module}.{name}'


def parse_template(function, unbroadcast=False, name=None):
    """Return the `Template` of a template function, parsed on first use."""
    return Template(function, unbroadcast, name)


def _plain_parameters(signature):
    """Return the name and default of each parameter of `signature`, or an
    empty tuple when one is not a positional-or-keyword parameter."""
    parameters = tuple(signature.parameters.values())
    if any(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD
           for p in parameters):
        return ()
    return tuple((p.name, p.default) for p in parameters)


def _parse_function(function):
    """Parse a template function: its signature, body and differentiated
    parameters (see `Template`)."""
    node = _template_node(function)
    signature = inspect.signature(function)
    params = list(signature.parameters)
    if isinstance(node, gast.Lambda):
        body = _lambda_body(node, params)
    else:
        body = list(node.body)
        if body and isinstance(body[0], gast.Expr) and isinstance(
                body[0].value, gast.Constant):
            body = body[1:]  # The docstring.

    differentiated = []
    for statement in body:
        param = adjoint_target(statement)
        if param is not None:
            if param not in params:
                raise RuleError(f'template {function.__qualname__} assigns '
                                f'd[{param}] but has no parameter {param}')
            if param not in differentiated:
                differentiated.append(param)
    _check_free_names(function, body, params)
    return signature, body, tuple(differentiated)


def _lambda_body(node, params):
    value = node.body
    entries = value.elts if isinstance(value, gast.Tuple) else [value]
    body = []
    for param, entry in zip(params, entries):
        if isinstance(entry, gast.Constant) and entry.value is None:
            continue
        target = gast.Subscript(
            value=gast.Name(id='d', ctx=gast.Load(), annotation=None,
                            type_comment=None),
            slice=gast.Name(id=param, ctx=gast.Load(), annotation=None,
                            type_comment=None),
            ctx=gast.Store())
        body.append(gast.Assign(targets=[target], value=entry,
                                type_comment=None))
    return body


def adjoint_target(statement):
    """Return `x` if `statement` is `d[x] = ...`, else None."""
    if not isinstance(statement, gast.Assign) or len(statement.targets) != 1:
        return None
    target = statement.targets[0]
    if (isinstance(target, gast.Subscript)
            and isinstance(target.value, gast.Name)
            and target.value.id == 'd'
            and isinstance(target.slice, gast.Name)):
        return target.slice.id
    return None


def _check_free_names(function, body, params):
    assigned = {n.id for s in body for n in walk(s)
                if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
    allowed = TEMPLATE_NAMES | set(params) | assigned
    for statement in body:
        for node in walk(statement):
            if isinstance(node, gast.Name) and node.id not in allowed:
                raise RuleError(
                    f'template {function.__qualname__} reads {node.id!r}; a '
                    'template may read only its parameters, its temporaries, '
                    'g, ans, d[...], np and ad')


# The registry that the compiler and the public API use.
REGISTRY = Registry()
