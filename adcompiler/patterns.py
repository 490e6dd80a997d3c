"""Match statements and starred assignment targets, lowered to plain Python.

Part of the normalize stage. `lower_matches` rewrites every `match`
statement of a function into an if/elif chain before the function is
lowered, so that its derivatives flow through the usual branches. The case
`case [v, 'a']:` of `match pair:` becomes

    if is_match_sequence(pair) and len(pair) == 2 and pair[1] == 'a':
        v = pair[0]
        ...

The subject is evaluated once, into a variable named `subject`, unless it
is a local name that nothing can rebind while the match runs (see
`reads_subject_by_name`). Each case becomes one test made of the checks
that Python's match statement makes:

    sequence pattern   is_match_sequence(s) (a type registered as a
                       sequence, other than str, bytes and bytearray)
                       and len(s)
    mapping pattern    is_match_mapping(s), len(s) >= number of keys, and
                       s.get(key, NOT_FOUND) is not NOT_FOUND for each key
    class pattern      isinstance(s, cls), and for each attribute
                       match_attribute(s, name) is not NOT_FOUND, where a
                       positional subpattern's name is read from
                       cls.__match_args__ when the match runs
    literal, a.b       s == value
    None, True, False  s is value

A key's value and an attribute are looked up once, into a new name such as
`m_w` that the later tests and the bindings read. Such a case, an OR
pattern that binds names, and a case whose guard reads the names its
pattern binds set a flag `matched` in nested if statements and then branch
on it. So every test runs at most once, in Python's order (except in the
alternatives of an OR pattern nested in another pattern, see
`compile_MatchOr`), and the bindings persist when the guard is false.

The names a pattern binds are assigned when its tests hold, reading the
parts of the subject by index, key or attribute. A named `*rest` in a
sequence pattern makes `list(s)` once, which every subpattern reads, as
Python does, and binds a slice of it. `**rest` in a mapping pattern binds
a dict of the other keys.

`assign_starred` lowers `a, *rest, b = value` (also nested, in for-loop
targets and comprehensions) into `items = list(value)`, a length check and
one indexed read per target. So `rest` is a new list of the items or, for
an ndarray, of its rows.

Two forms raise `UnsupportedSyntaxError`, because no exact lowering is
known here: a class pattern with positional subpatterns whose class is not
a class defined outside the function with enough names in `__match_args__`
when the function compiles, and an OR pattern that binds names inside
another pattern.
"""

import builtins

import gast

from adcompiler import codegen, runtime
from adcompiler.errors import UnsupportedSyntaxError
from adcompiler.resolve import dotted_value
from adcompiler.traversal import copy_tree, walk

# Classes whose class pattern with one positional subpattern matches the
# subject itself (`case float(v):`), as Python's match statement defines.
_SELF_MATCHING = (bool, bytearray, bytes, dict, float, frozenset, int, list,
                  set, str, tuple)


def lower_matches(tree, source, namespace, namer):
    """Rewrite each match statement inside `tree` into if statements.

    `source` locates errors. The tests call helpers by their names in
    `namespace`, which gets a new entry where a name is missing or taken.
    `namer` gives the new local and global names.
    """
    if not any(isinstance(node, gast.Match) for node in walk(tree)):
        return
    lowering = _MatchLowering(tree, source, namespace, namer)
    lowering.rewrite(tree)


def assign_starred(normalizer, target, value, origin):
    """Emit `target = value` for a tuple or list target with a starred
    element, and return the atom of the value.

    This is the normalizer's `assign` for such targets.
    """
    elements = target.elts
    star = next(i for i, e in enumerate(elements)
                if isinstance(e, gast.Starred))
    after = len(elements) - star - 1
    atom = value if normalizer.is_atom(value) else normalizer.bind(value,
                                                                   origin)
    names = _GlobalNames(normalizer.source.namespace, normalizer.namer,
                         normalizer.local_names)

    # Python iterates the value once, so items = list(value) reads it once
    # in the same order, for a tuple, a list, an ndarray (its rows), a
    # dict (its keys) or any other iterable.
    items = normalizer.namer.fresh('items')
    call = _call(names.of(builtins.list, 'list'), [atom])
    normalizer.assign(_located(_store(items), origin),
                      _located(call, origin), origin)
    required = len(elements) - 1
    if required:
        check = _call(names.of(runtime.check_unpack_length,
                               'check_unpack_length'),
                      [_load(items), _constant(required)])
        normalizer.emit(gast.Expr(value=_located(check, origin)), origin)

    for position, element in enumerate(elements):
        if position < star:
            index = _constant(position)
        elif position == star:
            index = gast.Slice(lower=_constant(star) if star else None,
                               upper=_constant(-after) if after else None,
                               step=None)
            element = element.value
        else:
            index = _constant(position - len(elements))
        read = gast.Subscript(value=_load(items), slice=index,
                              ctx=gast.Load())
        if position == star:
            # A slice of the list `items` is a new list, but normalize
            # cannot tell `items` from an array, whose slice is a view that
            # an update of `rest` would write through.
            part = normalizer.bind(_located(read, element), origin)
            read = normalizer.lower_value(_located(
                _call(names.of(builtins.list, 'list'), [part]), element))
        normalizer.assign(element, _located(read, element), origin)
    return atom


class _GlobalNames:
    """Names by which generated code reads objects such as `list` and the
    runtime's pattern checks, added to the namespace where needed."""

    def __init__(self, namespace, namer, local_names):
        self.namespace = namespace
        self.namer = namer
        self.local_names = local_names

    def of(self, value, preferred):
        """Return a global name of `value`, `preferred` when it is free."""
        if (self.namespace.get(preferred) is value
                and preferred not in self.local_names):
            return preferred
        for name, known in self.namespace.items():
            if known is value and name not in self.local_names \
                    and name.startswith(preferred):
                return name
        name = self.namer.fresh(preferred)
        self.namespace[name] = value
        return name


class _OrWithBindings(Exception):
    """An OR pattern that binds names, found inside another pattern."""

    def __init__(self, pattern):
        super().__init__()
        self.pattern = pattern


class _MatchLowering:

    def __init__(self, tree, source, namespace, namer):
        self.source = source
        self.namer = namer
        # Every name bound anywhere in the tree, nested functions included,
        # so that no name that a local shadows is read as a global.
        local = {node.id for node in walk(tree)
                 if isinstance(node, gast.Name)
                 and not isinstance(node.ctx, gast.Load)}
        self.names = _GlobalNames(namespace, namer, local)
        self.namespace = namespace
        self.local = local
        # Names that a nested function may rebind in the enclosing scope.
        self.declared = {name for node in walk(tree)
                         if isinstance(node, (gast.Global, gast.Nonlocal))
                         for name in node.names}
        # The local names of the innermost function being rewritten.
        self.function_locals = _own_locals(tree)
        # Whether a pattern may keep a looked-up value in a name (a
        # _Lookup test), which an OR pattern's alternatives may not.
        self.lookups = True

    def rewrite(self, node):
        """Replace the match statements in every statement list under node."""
        for field, value in gast.iter_fields(node):
            if isinstance(value, list):
                if any(isinstance(v, gast.stmt) for v in value):
                    setattr(node, field, self.rewrite_block(value))
                else:
                    for item in value:
                        if isinstance(item, gast.AST):
                            self.rewrite(item)
            elif isinstance(value, gast.AST):
                self.rewrite(value)

    def rewrite_function(self, function):
        outer = self.function_locals
        self.function_locals = _own_locals(function)
        try:
            self.rewrite(function)
        finally:
            self.function_locals = outer

    def rewrite_block(self, statements):
        block = []
        for statement in statements:
            if isinstance(statement, gast.Match):
                for case in statement.cases:
                    case.body = self.rewrite_block(case.body)
                block.extend(self.lower(statement))
            elif isinstance(statement, (gast.FunctionDef,
                                        gast.AsyncFunctionDef)):
                self.rewrite_function(statement)
                block.append(statement)
            else:
                self.rewrite(statement)
                block.append(statement)
        return block

    # Statements ------------------------------------------------------------

    def lower(self, match):
        """Return the statements that replace `match`."""
        statements = []
        subject = match.subject
        if not self.reads_subject_by_name(match):
            name = self.namer.fresh('subject')
            statements.append(_located(gast.Assign(
                targets=[_store(name)], value=subject, type_comment=None),
                match))
            subject = _load(name)
        chain = []
        for case in reversed(match.cases):
            chain = self.lower_case(case, subject, chain)
        return statements + chain

    def reads_subject_by_name(self, match):
        """Return True if the tests may read the subject by its own name,
        because it is a local name that nothing can rebind while the match
        runs: no pattern or guard assigns it, and no function declares it
        nonlocal or global."""
        if not isinstance(match.subject, gast.Name):
            return False
        name = match.subject.id
        if name not in self.function_locals or name in self.declared:
            return False
        assigned = set()
        for case in match.cases:
            assigned |= _bound_names(case.pattern)
            if case.guard is not None:
                assigned |= {n.id for n in walk(case.guard)
                             if isinstance(n, gast.Name)
                             and isinstance(n.ctx, gast.Store)}
        return name not in assigned

    def lower_case(self, case, subject, rest):
        """Return the statements of one case, with `rest` (the later
        cases) run when it does not match."""
        pattern = case.pattern
        name = None
        if isinstance(pattern, gast.MatchAs) and isinstance(pattern.pattern,
                                                            gast.MatchOr):
            name, pattern = pattern.name, pattern.pattern
        if isinstance(pattern, gast.MatchOr) and _bound_names(pattern):
            alternatives = [self.compile(p, subject)
                            for p in pattern.patterns]
            if name is not None:
                alternatives = [(tests, bindings + [(name, subject)])
                                for tests, bindings in alternatives]
            return self.lower_with_flag(case, alternatives, rest)
        if name is not None:
            pattern = gast.copy_location(
                gast.MatchAs(pattern=pattern, name=name), pattern)
        tests, bindings = self.compile(pattern, subject)
        if any(isinstance(t, _Lookup) for t in tests):
            return self.lower_with_flag(case, [(tests, bindings)], rest)

        binds = [self.bind(n, v, pattern) for n, v in bindings]
        body = binds + case.body
        if case.guard is None:
            if not tests:
                return body  # An irrefutable pattern ends the match.
            return [_located(gast.If(test=_all(tests), body=body,
                                     orelse=rest), pattern)]
        if not binds:
            test = _all(tests + [case.guard])
            return [_located(gast.If(test=test, body=case.body, orelse=rest),
                             pattern)]
        if not tests:
            return binds + [_located(gast.If(test=case.guard, body=case.body,
                                             orelse=rest), pattern)]
        return self.lower_with_flag(case, [(tests, bindings)], rest)

    def lower_with_flag(self, case, alternatives, rest):
        """Return the statements of a case whose pattern has lookups or
        alternatives, or binds names that its guard reads.

        They set a flag `matched` in the alternative that matches first,
        binding its names, then test the guard, then branch on the flag.
        So each test and each lookup runs at most once, and the bindings
        persist when the guard is false, as in Python.
        """
        pattern = case.pattern
        flag = self.namer.fresh('matched')

        def set_flag(value, origin):
            return _located(gast.Assign(targets=[_store(flag)], value=value,
                                        type_comment=None), origin)

        statements = [set_flag(_constant(False), pattern)]
        for number, (tests, bindings) in enumerate(alternatives):
            matched = [self.bind(n, v, pattern) for n, v in bindings]
            matched.append(set_flag(_constant(True), pattern))
            tried = _nest(tests, matched, pattern)
            if number:
                # Python tries an alternative only if the earlier ones
                # failed.
                tried = [_located(gast.If(
                    test=gast.UnaryOp(op=gast.Not(), operand=_load(flag)),
                    body=tried, orelse=[]), pattern)]
            statements += tried
        if case.guard is not None:
            statements.append(_located(gast.If(
                test=_load(flag), body=[set_flag(case.guard, case.guard)],
                orelse=[]), case.guard))
        statements.append(_located(gast.If(test=_load(flag), body=case.body,
                                           orelse=rest), pattern))
        return statements

    def bind(self, name, value, pattern):
        return _located(gast.Assign(targets=[_store(name)],
                                    value=copy_tree(value),
                                    type_comment=None), pattern)

    # Patterns --------------------------------------------------------------

    def compile(self, pattern, subject):
        """Return (tests, bindings) of `pattern` against the expression
        `subject`: the checks that all hold when it matches, in the order
        Python makes them, and (name, expression) pairs."""
        try:
            return self.compile_pattern(pattern, subject)
        except _OrWithBindings as found:
            raise UnsupportedSyntaxError(
                'an OR pattern that binds names inside another pattern',
                self.source.location(found.pattern),
                'adcompiler lowers the match statement to if statements, '
                'and binds the names of an OR pattern only at the top of a '
                'case',
                fixes=['write the alternatives as whole patterns (case [x, '
                       '1] | [x, 2]:), or as separate cases']) from None

    def compile_pattern(self, pattern, subject):
        method = getattr(self, 'compile_' + type(pattern).__name__)
        return method(pattern, subject)

    def compile_MatchValue(self, pattern, subject):
        test = gast.Compare(left=copy_tree(subject), ops=[gast.Eq()],
                            comparators=[copy_tree(pattern.value)])
        return [_located(test, pattern)], []

    def compile_MatchSingleton(self, pattern, subject):
        test = gast.Compare(left=copy_tree(subject), ops=[gast.Is()],
                            comparators=[_constant(pattern.value)])
        return [_located(test, pattern)], []

    def compile_MatchAs(self, pattern, subject):
        tests, bindings = [], []
        if pattern.pattern is not None:
            tests, bindings = self.compile_pattern(pattern.pattern, subject)
        if pattern.name is not None:
            bindings = bindings + [(pattern.name, subject)]
        return tests, bindings

    def compile_MatchOr(self, pattern, subject):
        if _bound_names(pattern):
            raise _OrWithBindings(pattern)
        # NOTE: the alternatives become one boolean expression, so their
        # mapping keys and class attributes are read in the tests without
        # a name to keep them in: a value that a subpattern tests is read
        # again for that test.
        outer = self.lookups
        self.lookups = False
        try:
            alternatives = [self.compile_pattern(p, subject)
                            for p in pattern.patterns]
        finally:
            self.lookups = outer
        if any(not tests for tests, _ in alternatives):
            return [], []
        return [_any([_all(tests) for tests, _ in alternatives])], []

    def compile_MatchSequence(self, pattern, subject):
        elements = pattern.patterns
        star = next((i for i, p in enumerate(elements)
                     if isinstance(p, gast.MatchStar)), None)
        length = _call(self.names.of(builtins.len, 'len'),
                       [copy_tree(subject)])
        if star is None:
            size = gast.Compare(left=length, ops=[gast.Eq()],
                                comparators=[_constant(len(elements))])
        else:
            size = gast.Compare(left=length, ops=[gast.GtE()],
                                comparators=[_constant(len(elements) - 1)])
        check = _call(self.names.of(runtime.is_match_sequence,
                                    'is_match_sequence'),
                      [copy_tree(subject)])
        tests = [_located(check, pattern), _located(size, pattern)]
        bindings = []
        after = 0 if star is None else len(elements) - star - 1
        if star is not None and elements[star].name is not None:
            # Python iterates the subject into a list for a named star, and
            # matches every subpattern against that list's items, so a
            # sequence without slices (a deque) matches too.
            items = _located(_call(self.names.of(builtins.list, 'list'),
                                   [copy_tree(subject)]), pattern)
            if self.lookups:
                name = self.namer.fresh(_part_name(subject, 'items'))
                tests.append(_Lookup(name, items))
                items = _load(name)
            subject = items
        for position, element in enumerate(elements):
            if position == star:
                if element.name is not None:
                    part = gast.Slice(
                        lower=_constant(star) if star else None,
                        upper=_constant(-after) if after else None, step=None)
                    read = _subscript(subject, part)
                    bindings.append((element.name, _located(read, element)))
                continue
            if star is not None and position > star:
                index = _constant(position - len(elements))
            else:
                index = _constant(position)
            item = _located(_subscript(subject, index), element)
            more_tests, more_bindings = self.compile_pattern(element, item)
            tests += more_tests
            bindings += more_bindings
        return tests, bindings

    def compile_MatchMapping(self, pattern, subject):
        check = _call(self.names.of(runtime.is_match_mapping,
                                    'is_match_mapping'), [copy_tree(subject)])
        tests = [_located(check, pattern)]

        if pattern.keys:
            length = _call(self.names.of(builtins.len, 'len'),
                           [copy_tree(subject)])
            tests.append(_located(gast.Compare(
                left=length, ops=[gast.GtE()],
                comparators=[_constant(len(pattern.keys))]), pattern))
        # Python looks each key up once with subject.get(key, default),
        # all keys before any value subpattern, and a subclass's
        # __contains__ plays no part.
        items = []
        for key in pattern.keys:
            lookup = gast.Call(
                func=gast.Attribute(value=copy_tree(subject), attr='get',
                                    ctx=gast.Load()),
                args=[copy_tree(key), self.not_found()], keywords=[])
            base = _part_name(subject, _key_name(key))
            item = self.look_up(base, _located(lookup, key), tests)
            items.append(item)

        bindings = []
        for item, value in zip(items, pattern.patterns, strict=True):
            more_tests, more_bindings = self.compile_pattern(
                value, _located(item, value))
            tests += more_tests
            bindings += more_bindings
        if pattern.rest is not None:
            bindings.append((pattern.rest, self.other_items(pattern,
                                                            subject)))
        return tests, bindings

    def not_found(self):
        return _load(self.names.of(runtime.NOT_FOUND, 'NOT_FOUND'))

    def look_up(self, base, lookup, tests):
        """Append to `tests` the test that `lookup` found a value, and
        return the expression of that value.

        The value is kept in a new name derived from `base` (`lookup` runs
        once), except inside an OR pattern's alternatives.
        """
        if self.lookups:
            name = self.namer.fresh(base)
            tests.append(_Lookup(name, lookup))
            value = _load(name)
        else:
            value = lookup
        tests.append(_located(gast.Compare(
            left=copy_tree(value), ops=[gast.IsNot()],
            comparators=[self.not_found()]), lookup))
        return value

    def other_items(self, pattern, subject):
        """Return the dict that `**rest` binds, the comprehension
        `{key: subject[key] for key in subject if key not in (keys)}`."""
        key = self.namer.fresh('key')
        listed = gast.Tuple(elts=[copy_tree(k) for k in pattern.keys],
                            ctx=gast.Load())
        condition = gast.Compare(left=_load(key), ops=[gast.NotIn()],
                                 comparators=[listed])
        loop = gast.comprehension(target=_store(key),
                                  iter=copy_tree(subject),
                                  ifs=[condition], is_async=0)
        items = gast.DictComp(key=_load(key),
                              value=_subscript(subject, _load(key)),
                              generators=[loop])
        return _located(items, pattern)

    def compile_MatchClass(self, pattern, subject):
        check = _call(self.names.of(builtins.isinstance, 'isinstance'),
                      [copy_tree(subject), copy_tree(pattern.cls)])
        tests = [_located(check, pattern)]
        bindings = []
        attributes = list(zip(self.positional_attributes(pattern),
                              pattern.patterns, strict=True))
        attributes += zip(pattern.kwd_attrs, pattern.kwd_patterns,
                          strict=True)
        for index, (attribute, element) in enumerate(attributes):
            if attribute is None:  # case float(v): v is the subject.
                item = subject
            else:
                if isinstance(attribute, str):
                    base = _part_name(subject, attribute)
                    attribute = _constant(attribute)
                else:
                    base = _part_name(subject, str(index))
                read = _call(self.names.of(runtime.match_attribute,
                                           'match_attribute'),
                             [copy_tree(subject), attribute])
                item = self.look_up(base, _located(read, element), tests)
            more_tests, more_bindings = self.compile_pattern(element, item)
            tests += more_tests
            bindings += more_bindings
        return tests, bindings

    def positional_attributes(self, pattern):
        """Return the attribute each positional subpattern of a class
        pattern matches: None for the subject itself, else an expression
        that reads the class's `__match_args__` when the match runs.

        The class must be known when compiling, to tell whether it matches
        the subject itself (a built-in such as float, or its subclass
        without `__match_args__`), and must have enough names in
        `__match_args__` then. A later change of those names is followed.
        """
        count = len(pattern.patterns)
        if not count:
            return []
        cls = self.global_value(pattern.cls)
        names = getattr(cls, '__match_args__', None)
        if (isinstance(cls, type) and issubclass(cls, _SELF_MATCHING)
                and count == 1 and names is None):
            return [None]
        if not isinstance(cls, type) or not isinstance(names, tuple) or len(
                names) < count:
            raise UnsupportedSyntaxError(
                'a class pattern with positional subpatterns',
                self.source.location(pattern),
                'adcompiler needs a class defined outside the function, '
                'with enough names in __match_args__ when it compiles the '
                'function, to tell whether the subpattern matches the '
                'subject itself',
                fixes=['match the attributes by keyword (case Point(x=px, '
                       'y=py):)'])
        function = self.names.of(runtime.match_argument, 'match_argument')
        return [_call(function, [copy_tree(pattern.cls), _constant(index),
                                 _constant(count)])
                for index in range(count)]

    def global_value(self, node):
        """Return the object a global name or dotted name is, or None."""
        return dotted_value(node, self.namespace, self.local)


def _own_locals(function):
    """Return the local names of `function` (a gast function node or a
    module): its parameters and the names its own statements bind, but not
    those of nested functions, classes, lambdas and comprehensions."""
    scopes = (gast.FunctionDef, gast.AsyncFunctionDef, gast.ClassDef,
              gast.Lambda, gast.ListComp, gast.SetComp, gast.DictComp,
              gast.GeneratorExp)
    names = set()
    pending = [function]
    while pending:
        node = pending.pop()
        if isinstance(node, gast.Name) and not isinstance(node.ctx,
                                                          gast.Load):
            names.add(node.id)
        elif isinstance(node, (gast.FunctionDef, gast.AsyncFunctionDef,
                               gast.ClassDef)) and node is not function:
            names.add(node.name)
            continue
        elif isinstance(node, scopes) and node is not function:
            continue
        pending.extend(gast.iter_child_nodes(node))
    return names


class _Lookup:
    """A step among a pattern's tests: `name = value`, then the later tests
    may read `name`."""

    def __init__(self, name, value):
        self.name = name
        self.value = value


def _nest(tests, body, origin):
    """Return statements that run `body` if all `tests` hold, where a test
    may be a _Lookup: `if t1 and t2: name = v; if t3: body`."""
    statements = body
    group = []
    for test in reversed(tests):
        if isinstance(test, _Lookup):
            if group:
                statements = [_located(gast.If(test=_all(group[::-1]),
                                               body=statements, orelse=[]),
                                       origin)]
                group = []
            statements = [_located(gast.Assign(
                targets=[_store(test.name)], value=test.value,
                type_comment=None), test.value)] + statements
        else:
            group.append(test)
    if group:
        statements = [_located(gast.If(test=_all(group[::-1]),
                                       body=statements, orelse=[]), origin)]
    return statements


def _key_name(key):
    """Return a name part for the value of a mapping pattern's key."""
    if isinstance(key, gast.Constant) and isinstance(key.value, str) \
            and key.value.isidentifier():
        return key.value
    return 'item'


def _part_name(subject, part):
    """Return the name of a value looked up in `subject`: `m_w` for the
    key or attribute `w` of `m`."""
    owner = subject.id if isinstance(subject, gast.Name) else 'part'
    return f'{owner}_{part}'


def _bound_names(pattern):
    names = set()
    for node in walk(pattern):
        if isinstance(node, (gast.MatchAs, gast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, gast.MatchMapping) and node.rest:
            names.add(node.rest)
    return names


def _all(tests):
    if len(tests) == 1:
        return tests[0]
    return gast.BoolOp(op=gast.And(), values=tests)


def _any(tests):
    if len(tests) == 1:
        return tests[0]
    return gast.BoolOp(op=gast.Or(), values=tests)


def _located(node, origin):
    """Give `node` and its parts without a position the position of origin."""
    for part in walk(node):
        if 'lineno' in part._attributes and getattr(part, 'lineno',
                                                    None) is None:
            gast.copy_location(part, origin)
    return node


def _subscript(value, index):
    return gast.Subscript(value=copy_tree(value), slice=index,
                          ctx=gast.Load())


def _call(name, args):
    return gast.Call(func=_load(name), args=args, keywords=[])


def _constant(value):
    return gast.Constant(value=value, kind=None)


def _load(identifier):
    return codegen.name(identifier)


def _store(identifier):
    return codegen.name(identifier, gast.Store())
