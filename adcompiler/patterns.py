"""Match statements and starred assignment targets, lowered to plain Python.

Part of the normalize stage. `lower_matches` rewrites every `match`
statement of a function into an if/elif chain before the function is
lowered, so that its derivatives flow through the usual branches. The case
`case [v, 'a']:` of `match pair:` becomes

    if is_match_sequence(pair) and len(pair) == 2 and pair[1] == 'a':
        v = pair[0]
        ...

The subject is evaluated once, into a variable named `subject` unless it is
a name that no case rebinds. Each case becomes one test made of the checks
that Python's match statement makes:

    sequence pattern   is_match_sequence(s) (a type registered as a
                       sequence, other than str, bytes and bytearray)
                       and len(s)
    mapping pattern    is_match_mapping(s) and key in s
    class pattern      isinstance(s, cls) and hasattr(s, attribute)
    literal, a.b       s == value
    None, True, False  s is value

The names a pattern binds are assigned at the start of the case's body,
reading the parts of the subject by index, key or attribute. `*rest` in a
sequence pattern binds `list(s[i:-j])`, and `**rest` in a mapping pattern
binds a dict of the other keys. A case with a guard binds its names and
evaluates the guard into a flag before the test of its body. So the
bindings persist when the guard is false, as in Python.

`assign_starred` lowers `a, *rest, b = value` (also nested, in for-loop
targets and comprehensions) into `items = list(value)`, a length check and
one indexed read per target. So `rest` is a new list of the items or, for
an ndarray, of its rows.

Two forms raise `UnsupportedSyntaxError`, because no exact lowering is
known here: a class pattern with positional subpatterns whose class is not
a global with `__match_args__`, and an OR pattern that binds names inside
another pattern.
"""

import builtins

import gast

from adcompiler import runtime
from adcompiler.errors import UnsupportedSyntaxError
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

    def rewrite_block(self, statements):
        block = []
        for statement in statements:
            if isinstance(statement, gast.Match):
                for case in statement.cases:
                    case.body = self.rewrite_block(case.body)
                block.extend(self.lower(statement))
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
        because it is a name that no pattern and no guard assigns."""
        if not isinstance(match.subject, gast.Name):
            return False
        assigned = set()
        for case in match.cases:
            assigned |= _bound_names(case.pattern)
            if case.guard is not None:
                assigned |= {n.id for n in walk(case.guard)
                             if isinstance(n, gast.Name)
                             and isinstance(n.ctx, gast.Store)}
        return match.subject.id not in assigned

    def lower_case(self, case, subject, rest):
        """Return the statements of one case, with `rest` (the later
        cases) run when it does not match."""
        pattern = case.pattern
        tests, binds = self.top_level(pattern, subject)
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

        # The guard reads the names the pattern binds, and they stay bound
        # when the guard is false, so bind them before testing it.
        flag = self.namer.fresh('matched')
        matched = _located(gast.If(
            test=_all(tests),
            body=binds + [_located(gast.Assign(
                targets=[_store(flag)], value=case.guard, type_comment=None),
                case.guard)],
            orelse=[_located(gast.Assign(
                targets=[_store(flag)], value=_constant(False),
                type_comment=None), pattern)]), pattern)
        branch = _located(gast.If(test=_load(flag), body=case.body,
                                  orelse=rest), pattern)
        return [matched, branch]

    def top_level(self, pattern, subject):
        """Return the tests of a case's pattern and the statements that
        bind its names; an OR pattern may bind names only here."""
        name = None
        if isinstance(pattern, gast.MatchAs) and isinstance(pattern.pattern,
                                                            gast.MatchOr):
            name, pattern = pattern.name, pattern.pattern
        if isinstance(pattern, gast.MatchOr) and _bound_names(pattern):
            alternatives = [self.compile(p, subject)
                            for p in pattern.patterns]
            test = _any([_all(t) if t else _constant(True)
                         for t, _ in alternatives])
            binds = self.alternative_binds(alternatives, pattern)
            if name is not None:
                binds.append(self.bind(name, subject, pattern))
            return [test], binds
        if name is not None:
            pattern = gast.copy_location(
                gast.MatchAs(pattern=pattern, name=name), pattern)
        tests, bindings = self.compile(pattern, subject)
        return tests, [self.bind(n, v, pattern) for n, v in bindings]

    def alternative_binds(self, alternatives, pattern):
        """`if test1: binds1 elif test2: binds2 ... else: binds_last`."""
        # Python rejects an irrefutable alternative before the last one
        # ("makes remaining patterns unreachable"), so only the last one may
        # have no tests.
        _, bindings = alternatives[-1]
        statements = [self.bind(n, v, pattern) for n, v in bindings]
        for tests, bindings in reversed(alternatives[:-1]):
            statements = [_located(gast.If(
                test=_all(tests),
                body=[self.bind(n, v, pattern) for n, v in bindings],
                orelse=statements), pattern)]
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
        alternatives = [self.compile_pattern(p, subject)
                        for p in pattern.patterns]
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
        for position, element in enumerate(elements):
            if position == star:
                if element.name is not None:
                    part = gast.Slice(
                        lower=_constant(star) if star else None,
                        upper=_constant(-after) if after else None, step=None)
                    read = _call(self.names.of(builtins.list, 'list'),
                                 [_subscript(subject, part)])
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
        for key in pattern.keys:
            tests.append(_located(gast.Compare(
                left=copy_tree(key), ops=[gast.In()],
                comparators=[copy_tree(subject)]), key))
        bindings = []
        for key, value in zip(pattern.keys, pattern.patterns, strict=True):
            item = _located(_subscript(subject, copy_tree(key)), value)
            more_tests, more_bindings = self.compile_pattern(value, item)
            tests += more_tests
            bindings += more_bindings
        if pattern.rest is not None:
            bindings.append((pattern.rest, self.other_items(pattern,
                                                            subject)))
        return tests, bindings

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
        for attribute, element in attributes:
            if attribute is None:  # case float(v): v is the subject.
                item = subject
            else:
                found = _call(self.names.of(builtins.hasattr, 'hasattr'),
                              [copy_tree(subject), _constant(attribute)])
                tests.append(_located(found, element))
                item = _located(gast.Attribute(
                    value=copy_tree(subject), attr=attribute,
                    ctx=gast.Load()), element)
            more_tests, more_bindings = self.compile_pattern(element, item)
            tests += more_tests
            bindings += more_bindings
        return tests, bindings

    def positional_attributes(self, pattern):
        """Return the attribute each positional subpattern of a class
        pattern matches (None for the subject itself), from the class's
        `__match_args__`, which must be known when compiling."""
        if not pattern.patterns:
            return []
        cls = self.global_value(pattern.cls)
        if cls in _SELF_MATCHING and len(pattern.patterns) == 1:
            return [None]
        names = getattr(cls, '__match_args__', None) if isinstance(
            cls, type) else None
        if not isinstance(names, tuple) or len(names) < len(
                pattern.patterns) or not all(isinstance(n, str)
                                             for n in names):
            raise UnsupportedSyntaxError(
                'a class pattern with positional subpatterns',
                self.source.location(pattern),
                'adcompiler maps them to attributes through the class\'s '
                '__match_args__ when it compiles the function, which needs '
                'a class defined outside the function with enough names in '
                '__match_args__',
                fixes=['match the attributes by keyword (case Point(x=px, '
                       'y=py):)'])
        return list(names[:len(pattern.patterns)])

    def global_value(self, node):
        """Return the object a global name or dotted name is, or None."""
        parts = []
        while isinstance(node, gast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, gast.Name) or node.id in self.local:
            return None
        try:
            value = self.namespace[node.id]
            for attribute in reversed(parts):
                value = getattr(value, attribute)
        except (KeyError, AttributeError):
            return None
        return value


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


def _load(name):
    return gast.Name(id=name, ctx=gast.Load(), annotation=None,
                     type_comment=None)


def _store(name):
    return gast.Name(id=name, ctx=gast.Store(), annotation=None,
                     type_comment=None)
