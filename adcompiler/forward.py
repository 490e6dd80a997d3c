"""Forward stage: write the tangent (JVP) function of a normalized function.

Input: a `NormalizedFunction`, its `Resolution` and `Activity`, the names of
the parameters that get a tangent, and a `ForwardContext`. Output: a
`ForwardProgram` with one gast function definition,

    def tangent_f(<params>, *, d<param>, ...):
        <statement as written>
        d<target> = <its tangent>        # from the forward rules
        ...
        return <result>, d<result>

Each statement is followed by the tangent of what it assigned, so branches
and loops are kept as written and no tape is needed. The tangent of a value
that carries no derivative is never built, except where a variable that
does is assigned one (`s = 0.0` before a loop), which assigns zeros. Calls
of user functions call their own tangent functions, compiled through the
context.
"""

import dataclasses
import inspect
import operator
import types

import gast
import numpy as np

from adcompiler import (aliasing, call_writes, comprehensions, global_rebinds,
                        numeric_checks, runtime, subscripts)
from adcompiler.aliasing import LIST_UPDATES
from adcompiler.normalize import written_and_method_updated
from adcompiler.codegen import (BINARY_OPERATORS, UNARY_OPERATORS, branch,
                                argument_atoms, as_expression, assign, call,
                                comment_marker, name, StageWriter,
                                substitute_template)
from adcompiler.dispatch import call_site
from adcompiler.iterables import NotDicts
from adcompiler.errors import (ForeignCallError, InternalCompilerError,
                               LocatedError, UndefinedNameError,
                               UnsupportedSyntaxError)
from adcompiler.resolve import (CallKind, chain_name, foreign_reason,
                                has_unpacking, reject_unused_unpacking_call,
                                transformed_signature)
from adcompiler.rules import NON_DIFFERENTIABLE, REGISTRY, adjoint_target
from adcompiler.rules.call_arguments import (option_message, rule_arguments,
                                             user_rule_name)
from adcompiler.traversal import copy_tree, walk
from adcompiler.verbatim import Verbatim

_NEW_VALUE_METHODS = frozenset({
    'sum', 'mean', 'max', 'min', 'prod', 'std', 'var', 'dot', 'any', 'all',
    'argmax', 'argmin', 'tolist', 'item', 'copy', 'count', 'index',
})


# Runtime helpers of generated adjoint code that run calls resolved at run
# time; their records have no derivative rules.
_DISPATCH_HELPERS = (runtime.call_method, runtime.call_function,
                     runtime.call_unpacking,
                     runtime.call_adjoint)


class _SignatureOnly:
    """A stand-in for a template where only the signature is needed."""

    def __init__(self, function):
        self.signature = inspect.signature(function)
        self.name = getattr(function, '__name__', 'helper')


@dataclasses.dataclass
class CalleeTangent:
    """The tangent function of a callee, as its caller calls it."""

    name: str
    function: object
    tangent_params: tuple  # names of its tangent parameters, in order
    wrt: tuple
    updated: tuple = ()
    updated_with_derivative: tuple = ()
    # Values of the globals and closure variables that the callee and its
    # own callees read and that may hold an array.
    read_globals: tuple = ()
    # The callee's `CompiledTangent` (see `CalleeProgram.compiled`).
    compiled: object = None


@dataclasses.dataclass
class ForwardContext:
    """How to reach the rest of the compiler from the forward stage."""

    source: object  # FunctionSource
    call_chain: tuple
    # (function, wrt names, call_chain, level of the objects with operators
    # that the call passes) -> CalleeTangent
    compile_callee: object
    function_name: str
    tangent_params: dict  # parameter -> name of its tangent parameter
    registry: object = REGISTRY


@dataclasses.dataclass
class ForwardProgram:
    """The generated tangent function of one function."""

    function: gast.FunctionDef
    wrt: tuple
    tangent_params: tuple
    extra_globals: dict
    numpy_alias: str
    runtime_alias: str
    # The names of the tangents, which only generated code assigns.
    tangent_names: frozenset = frozenset()
    # Each name with a tangent -> the name of its tangent.
    tangents: dict = dataclasses.field(default_factory=dict)


def forward(normalized, resolution, activity, wrt, context):
    """Write the tangent function of `normalized`; see the module docstring."""
    return _ForwardWriter(normalized, resolution, activity, wrt,
                          context).run()


class _ForwardWriter(StageWriter):

    FORWARD = True

    def __init__(self, normalized, resolution, activity, wrt, context):
        super().__init__(normalized, resolution, activity, wrt, context)
        self.tangent_names = dict(context.tangent_params)
        self.element_reads = set() if aliasing.is_generated(
            context.source) else set(aliasing.element_reads(
                normalized, activity, resolution))
        self.container_reads = set() if aliasing.is_generated(
            context.source) else set(aliasing.container_reads(
                normalized, activity, resolution))
        for tangent in self.tangent_names.values():
            self.namer.reserve(tangent)
        self.choose_aliases()
        self.not_dicts = NotDicts(normalized, resolution)
        self.global_checks = global_rebinds.global_checks(
            normalized, resolution, context.source)
        self.branch_depth = 0  # if statements around the current statement
        # The line of the statement whose blocks are being written: a
        # statement inside them on the same line gets no comment of its own.
        self.enclosing_line = None

    # Helpers -----------------------------------------------------------------

    def tangent_name(self, identifier):
        if identifier not in self.tangent_names:
            self.tangent_names[identifier] = self.namer.fresh('d' + identifier)
        return self.tangent_names[identifier]

    def zeros(self, node):
        return call(self.runtime_function('zeros_like'), copy_tree(node))

    def tangent_of(self, node):
        """Return the tangent of an atom: its tangent variable, or zeros."""
        if self.is_active(node):
            return name(self.tangent_name(node.id))
        return self.zeros(node)

    # The function ------------------------------------------------------------

    def run(self):
        body = self.block(self.normalized.tree.body)
        # As in reverse mode (see reverse._ReverseWriter.protect_arguments).
        by_method = written_and_method_updated(self.normalized)
        copies = [assign(p, call(self.runtime_function('copy'), name(p)))
                  for p in self.normalized.params
                  if ((p in self.normalized.written
                       or p in self.normalized.mutated)
                      and p in self.activity.varied) or p in by_method]
        write_backs = []
        if copies:
            written = [c.targets[0].id for c in copies]
            before, after, write_backs = self.argument_write_backs(written)
            copies[:0] = before + self.unshared_check(written)
            copies += after
        # A parameter without a tangent argument that is reassigned from
        # values with tangents starts with a zero tangent.
        copies += [assign(self.tangent_name(p), self.zeros(name(p)))
                   for p in self.normalized.params
                   if p not in self.wrt and self.activity.is_active(p)]
        tangent_params = tuple(self.tangent_name(p) for p in self.wrt)
        # Tangents are keyword-only, after the parameters that keep the
        # function's defaults.
        args = copy_tree(self.normalized.tree.args)
        args.kwonlyargs = list(args.kwonlyargs) + [
            name(t, gast.Param()) for t in tangent_params]
        args.kw_defaults = list(args.kw_defaults) + [None] * len(
            tangent_params)
        if write_backs:
            body[-1:-1] = write_backs  # before the return
        function = gast.FunctionDef(
            name=self.context.function_name, args=args, body=copies + body,
            decorator_list=[], returns=None, type_comment=None,
            type_params=[])
        return ForwardProgram(function, self.wrt, tangent_params,
                              self.extra_globals, self.numpy_alias,
                              self.runtime_alias,
                              frozenset(self.tangent_names.values()),
                              dict(self.tangent_names))

    def block(self, statements):
        body = []
        outer = self.enclosing_line
        last_line = outer
        for statement in statements:
            lineno = getattr(statement, 'lineno', None)
            is_exit = isinstance(statement, gast.Break) or (
                isinstance(statement, gast.If) and any(
                    isinstance(s, gast.Break) for s in statement.body))
            if lineno and lineno != last_line and not is_exit:
                text = self.source.line_text(lineno).strip()
                body.append(comment_marker(f'line {lineno}: {text}'))
                last_line = lineno
            self.enclosing_line = lineno or outer
            body += self.statement(statement)
            names = self.global_checks.after.get(statement)
            if names:
                body.append(global_rebinds.check_statement(
                    self, self.global_checks.reads, names, statement))
        self.enclosing_line = outer
        return body

    def statement(self, statement):
        if isinstance(statement, gast.Return):
            value = statement.value
            result = gast.Tuple(elts=[copy_tree(value),
                                      self.tangent_of(value)],
                                ctx=gast.Load())
            return [gast.Return(value=result)]
        if isinstance(statement, gast.If):
            self.branch_depth += 1
            try:
                written = branch(copy_tree(statement.test),
                                 self.block(statement.body),
                                 self.block(statement.orelse))
            finally:
                self.branch_depth -= 1
            return [gast.copy_location(written, statement)]
        if isinstance(statement, gast.While):
            loop = gast.While(test=copy_tree(statement.test),
                              body=self.block(statement.body), orelse=[])
            return [gast.copy_location(loop, statement)]
        if isinstance(statement, gast.For):
            return self.loop(statement)
        if isinstance(statement, gast.Try):
            handlers = [gast.copy_location(gast.ExceptHandler(
                type=copy_tree(h.type), name=copy_tree(h.name),
                body=self.block(h.body)), h) for h in statement.handlers]
            attempt = gast.Try(body=self.block(statement.body),
                               handlers=handlers,
                               orelse=self.block(statement.orelse),
                               finalbody=self.block(statement.finalbody))
            return [gast.copy_location(attempt, statement)]
        if isinstance(statement, gast.With):
            managed = gast.With(items=copy_tree(statement.items),
                                body=self.block(statement.body),
                                type_comment=None)
            return [gast.copy_location(managed, statement)]
        if isinstance(statement, gast.Assign):
            if statement in self.element_reads:
                # The tangent follows the primal statement, which is checked.
                _, *tangent = self.assignment(statement)
                return self.checked_element_read(statement) + tangent
            return self.branch_assignment(statement)
        if isinstance(statement, gast.Expr):
            undo = self.undo_tangent(statement)
            if undo is not None:
                return undo + [copy_tree(statement)]
            checks = [numeric_checks.check_statement(
                check, self.runtime_function, self.namer, self.extra_globals)
                for check in numeric_checks.numeric_checks(
                    statement, self.resolution, self.activity, self.source,
                    self.normalized.display_names)]
            return checks + [copy_tree(statement)] + self.effect(statement)
        if isinstance(statement, (gast.Break, gast.Assert, gast.Pass,
                                  Verbatim)):
            return [copy_tree(statement)]
        raise InternalCompilerError(self.source.name, 'forward',
                                    f'statement {type(statement).__name__}')

    def branch_assignment(self, statement):
        """Write the primal and tangent of an assignment. Inside a branch,
        an assignment that cannot be differentiated raises its error when
        the branch runs instead, as in reverse mode. Library code has branches
        for other array types that NumPy input never takes."""
        if not self.branch_depth:
            return self.checked_assignment(statement)
        try:
            return self.checked_assignment(statement)
        except (UnsupportedSyntaxError, ForeignCallError,
                UndefinedNameError) as err:
            error_name = self.namer.fresh(
                f'error_line{getattr(statement, "lineno", 0)}')
            self.extra_globals[error_name] = err
            return [gast.Raise(exc=name(error_name), cause=None)]

    def checked_assignment(self, statement):
        """Write an assignment with the run-time checks it needs."""
        before = self.immutable_check(statement) + self.key_check(statement)
        after = []
        for check in numeric_checks.numeric_checks(
                statement, self.resolution, self.activity, self.source,
                self.normalized.display_names):
            checked = numeric_checks.check_statement(
                check, self.runtime_function, self.namer, self.extra_globals)
            (after if check.after else before).append(checked)
        written = self.assignment(statement)
        # The primal comes first; the check runs before the tangent, whose
        # rule may itself reject the dtype with a less helpful error. A call
        # of a differentiated function assigns the item read by the
        # subscript operator only with its tangent, so the item check
        # comes last.
        return (before + written[:1] + after + written[1:]
                + self.item_check(statement))

    def immutable_check(self, statement):
        """`ad.require_immutable(x, error, *callees)` before a lowered
        `x += y`, or `ad.require_immutable_item(item, c, error)` before a
        lowered `c[i] += y`."""
        check = self.normalized.immutable_checks.get(statement)
        if check is None:
            return []
        variable, error, callees, *container = check
        error_name = self.namer.fresh('in_place_error')
        self.extra_globals[error_name] = error
        if container:
            return [gast.Expr(value=call(
                self.runtime_function('require_immutable_item'),
                name(variable), name(container[0]), name(error_name)))]
        return [gast.Expr(value=call(self.runtime_function('require_immutable'),
                                     name(variable), name(error_name),
                                     *[copy_tree(c) for c in callees]))]

    def key_check(self, statement):
        """`ad.require_indexable(v, error)` before `y = v[key]` whose key
        carries a derivative (see adcompiler.subscripts)."""
        return subscripts.key_check_statements(self, statement)

    def item_check(self, statement):
        """`ad.require_unshared_item(c, v, error)` after an item read
        `v = c[key]` of an updated value (see adcompiler.subscripts)."""
        return subscripts.container_check_statements(self, statement,
                                                     self.container_reads)

    # Loops -------------------------------------------------------------------

    def loop(self, statement):
        """A for loop whose targets get the tangents of the items they read."""
        target = statement.target
        names = ([target.id] if isinstance(target, gast.Name)
                 else [e.id for e in target.elts])
        sources = self.iteration_sources(statement, names)
        counter = None
        first = []
        for target_name in names:
            if not self.activity.is_active(target_name):
                continue
            source = sources.get(target_name)
            if source is None or not self.is_active(source[0]):
                first.append(assign(self.tangent_name(target_name),
                                    self.zeros(name(target_name))))
                continue
            if counter is None:
                counter = self.namer.fresh('k')
            iterable, reverse = source
            index = (gast.BinOp(left=gast.Constant(value=-1, kind=None),
                                op=gast.Sub(), right=name(counter))
                     if reverse else name(counter))
            tangent = name(self.tangent_name(iterable.id))
            if (len(names) == 1 and not isinstance(statement.iter, gast.Call)
                    and not self.not_dicts.is_not_dict(statement)):
                # `for key in d` reads the keys of a dict, not its values.
                item = call(self.runtime_function('loop_item_tangent'), tangent,
                            index)
            else:
                item = gast.Subscript(value=tangent, slice=index,
                                      ctx=gast.Load())
            first.append(assign(self.tangent_name(target_name), item))
        before = []
        if counter is not None:
            before.append(assign(counter, gast.Constant(value=0, kind=None)))
            first.append(assign(counter, gast.BinOp(
                left=name(counter), op=gast.Add(),
                right=gast.Constant(value=1, kind=None))))
        loop = gast.For(target=copy_tree(statement.target),
                        iter=copy_tree(statement.iter),
                        body=first + self.block(statement.body), orelse=[],
                        type_comment=None)
        return before + [gast.copy_location(loop, statement)]

    def iteration_sources(self, statement, names):
        """Map each target to (iterable atom, reversed?) for the item it reads."""
        iterable = statement.iter
        if not isinstance(iterable, gast.Call):
            if len(names) == 1:
                return {names[0]: (iterable, False)}
            if self.is_active(iterable):
                raise UnsupportedSyntaxError(
                    'unpacking the rows of a differentiated value in a for '
                    'loop target', self.source.location(statement.target))
            return {}
        function = iterable.func.id
        args = iterable.args
        if function == 'enumerate' and len(names) == 2:
            return {names[1]: (args[0], False)}
        if function == 'zip' and len(names) == len(args):
            return {n: (a, False) for n, a in zip(names, args, strict=True)}
        if function == 'reversed' and len(names) == 1:
            return {names[0]: (args[0], True)}
        if function != 'range' and any(self.is_active(a) for a in args):
            raise UnsupportedSyntaxError(
                f'a loop over {function}(...) unpacked into {len(names)} '
                'names', self.source.location(statement))
        return {}

    # Assignments -------------------------------------------------------------

    def assignment(self, statement):
        target = statement.targets[0]
        value = statement.value
        if isinstance(target, gast.Subscript):
            return [copy_tree(statement)] + self.subscript_write(statement)
        if isinstance(value, gast.Call) and not any(
                isinstance(n, gast.Name) and self.activity.is_active(n.id)
                for n in walk(target)):
            self.check_unused_result(statement)
        if isinstance(target, (gast.Tuple, gast.List)):
            return [copy_tree(statement)] + self.unpacking(target, value)
        if (isinstance(value, gast.Call)
                and isinstance(value.func, gast.Attribute)
                and value.func.attr == 'pop'
                and self.resolution.calls[value].kind is CallKind.METHOD
                and self.is_active(value.func.value)):
            # The tangent list loses the same entry, used or not.
            return self.list_pop(statement)
        if not self.activity.is_active(target.id):
            return [copy_tree(statement)]
        if isinstance(value, gast.Call):
            resolved = self.resolution.calls[value]
            if has_unpacking(value) and \
                    resolved.kind is not CallKind.NON_DIFFERENTIABLE:
                return self.unpacking_call(statement, resolved)
            if resolved.kind is CallKind.USER and not self.has_forward_rule(
                    resolved):
                return self.user_call(statement, resolved)
            if self.is_dispatched(value, resolved):
                return self.dynamic_call(statement, resolved)
        tangent = self.value_tangent(statement)
        if tangent is None:
            tangent = self.zeros(name(target.id))
        return [copy_tree(statement),
                assign(self.tangent_name(target.id), tangent)]

    def check_unused_result(self, statement):
        """Reject an assignment from a call that may change in place a
        value that carries a derivative, when its target carries none; see
        `reverse._ReverseWriter.check_unused_result`."""
        if aliasing.is_generated(self.source):
            return  # Generated code assigns what its calls change.
        call_node = statement.value
        if (isinstance(call_node.func, gast.Attribute)
                and call_node.func.attr == 'pop'):
            return  # The tangent list loses the same entry, used or not.
        if call_writes.check_unused_result(statement, self.normalized,
                                           self.resolution, self.activity,
                                           self.source):
            self.check_user_effect(call_node,
                                   self.resolution.calls[call_node])

    def unpacking(self, target, value):
        names = [e.id for e in target.elts]
        if not any(self.activity.is_active(n) for n in names):
            return []
        if self.is_active(value):
            targets = gast.Tuple(elts=[name(self.tangent_name(n), gast.Store())
                                       for n in names], ctx=gast.Store())
            return [assign(targets, name(self.tangent_name(value.id)))]
        return [assign(self.tangent_name(n), self.zeros(name(n)))
                for n in names if self.activity.is_active(n)]

    def subscript_write(self, statement):
        target = statement.targets[0]
        base = target.value.id
        if not self.activity.is_active(base):
            return []
        written = call(self.runtime_function('tangent_write'),
                       name(self.tangent_name(base)), name(base),
                       self.index_value(target.slice),
                       self.tangent_of(statement.value))
        return [assign(self.tangent_name(base), written)]

    def list_pop(self, statement):
        call_node = statement.value
        receiver = call_node.func.value.id
        index = (copy_tree(call_node.args[0]) if call_node.args
                 else gast.Constant(value=-1, kind=None))
        target = statement.targets[0].id
        targets = gast.Tuple(elts=[name(self.tangent_name(target),
                                        gast.Store()),
                                   name(self.tangent_name(receiver),
                                        gast.Store())], ctx=gast.Store())
        popped = call(self.runtime_function('tangent_pop'),
                      name(self.tangent_name(receiver)), index)
        return [copy_tree(statement), assign(targets, popped)]

    def undo_tangent(self, statement):
        """Tangent of a runtime call in adjoint code that undoes an update
        (forward over reverse), computed before the undo runs; or None."""
        call_node = statement.value
        resolved = self.resolution.calls.get(call_node)
        helper = getattr(resolved, 'callee', None)
        if not isinstance(call_node, gast.Call) or helper not in (
                runtime.restore_item, runtime.remove_last,
                runtime.undo_insert, runtime.undo_pop):
            return None
        target = call_node.args[0]
        if not self.is_active(target):
            return []
        tangent = name(self.tangent_name(target.id))
        args = [copy_tree(a) for a in call_node.args]
        if helper is runtime.restore_item:
            value = call(self.runtime_function('tangent_restore'), tangent,
                         args[0], args[1], self.tangent_of(call_node.args[2]))
        elif helper is runtime.remove_last:
            value = call(self.runtime_function('drop_last'), tangent, args[1])
        elif helper is runtime.undo_insert:
            value = call(self.runtime_function('drop_entry'), tangent, call(
                self.runtime_function('inserted_position'), args[0], args[1]))
        else:
            value = call(self.runtime_function('insert_adjoint'), tangent,
                         args[0], args[1], self.tangent_of(call_node.args[2]),
                         args[2])
        return [assign(self.tangent_name(target.id), value)]

    def effect(self, statement):
        """Tangents of a call kept for its effect: list updates."""
        call_node = statement.value
        resolved = self.resolution.calls.get(call_node)
        if resolved is None:
            return []
        varied = [a for a in list(call_node.args) + [
            k.value for k in call_node.keywords]
            if isinstance(a, gast.Name) and a.id in self.activity.varied]
        if resolved.kind is CallKind.USER:
            if varied:
                self.check_user_effect(call_node, resolved)
            return []
        if resolved.kind is CallKind.METHOD:
            receiver = call_node.func.value
            method = call_node.func.attr
            if self.is_active(receiver) and method in ('append', 'extend',
                                                       'insert'):
                return self.list_update(receiver.id, method, call_node.args)
            receiver_varied = isinstance(receiver, gast.Name) and \
                receiver.id in self.activity.varied
            if (varied or receiver_varied) and receiver.id in \
                    self.normalized.set_comprehensions:
                if not self.is_active(receiver):
                    return []  # Only its size or membership is read.
                raise comprehensions.set_comprehension_error(
                    self.source.location(call_node))
            if method in LIST_UPDATES and not self.is_active(receiver):
                # No tangent of the list is read: the keys that
                # sorted(key=...) sorts by, for example.
                return []
            if (varied or receiver_varied) and method not in \
                    _NEW_VALUE_METHODS:
                raise UnsupportedSyntaxError(
                    f'the method .{method}() on a value that carries a '
                    'derivative, or with one as argument, whose result is '
                    'unused', self.source.location(call_node),
                    'it may change its object in place; if the method only '
                    'reads its arguments (plotting or logging), pass '
                    'adcompiler.stop_gradient(value) in place of each value '
                    'that carries a derivative')
            return []
        if varied and resolved.kind is CallKind.FOREIGN:
            # As in reverse mode, a call kept for its effect.
            self.raise_foreign(call_node, resolved, updates_argument=True)
        if varied and resolved.kind is CallKind.UNKNOWN:
            raise UnsupportedSyntaxError(
                f'a call of {resolved.name!r} with a value that carries a '
                'derivative, whose result is unused',
                self.source.location(call_node),
                'the callee may keep the value or change it in place')
        return []

    def list_update(self, receiver, method, args):
        tangent = name(self.tangent_name(receiver))
        if method == 'append':
            value = call(self.runtime_function('tangent_append'), tangent,
                         self.tangent_of(args[0]))
        elif method == 'extend':
            value = call(self.runtime_function('tangent_extend'), tangent,
                         self.tangent_of(args[0]))
        else:
            value = call(self.runtime_function('tangent_insert'), tangent,
                         copy_tree(args[0]), self.tangent_of(args[1]))
        return [assign(self.tangent_name(receiver), value)]

    # Tangents of values ------------------------------------------------------

    def value_tangent(self, statement):
        """Return the tangent of an assignment's value, or None for zero."""
        value = statement.value
        if isinstance(value, gast.Constant) and value.value is None:
            # dx = None in adjoint code: a zero that was never built.
            return gast.Constant(value=None, kind=None)
        if isinstance(value, (gast.Constant, gast.Compare, gast.JoinedStr)):
            return None
        if isinstance(value, gast.Name):
            return self.tangent_of(value) if self.is_active(value) else None
        if isinstance(value, (gast.Tuple, gast.List)):
            elements = [self.tangent_of(e) for e in value.elts]
            return type(value)(elts=elements, ctx=gast.Load())
        if isinstance(value, gast.Dict):
            return gast.Dict(keys=[copy_tree(k) for k in value.keys],
                             values=[self.tangent_of(v) for v in value.values])
        if isinstance(value, gast.BinOp):
            function = BINARY_OPERATORS.get(type(value.op))
            return self.rule_tangent(statement, function,
                                     [value.left, value.right], {})
        if isinstance(value, gast.UnaryOp):
            function = UNARY_OPERATORS.get(type(value.op))
            if function is None:
                return None
            return self.rule_tangent(statement, function, [value.operand], {})
        if isinstance(value, gast.Subscript):
            if not self.is_active(value.value):
                return None
            return gast.Subscript(value=self.tangent_of(value.value),
                                  slice=copy_tree(value.slice),
                                  ctx=gast.Load())
        if isinstance(value, gast.Attribute):
            if self.registry.lookup_attribute(value.attr) is \
                    NON_DIFFERENTIABLE:
                return None
            found = self.registry.lookup_jvp_template(attribute=value.attr)
            if found is None and self.registry.lookup_attribute(
                    value.attr) is None:
                # An attribute of an object, such as a dataclass field or a
                # property: the runtime finds which part of the object it is.
                return call(self.runtime_function('attribute_tangent'),
                            self.tangent_of(value.value), name(value.value.id),
                            gast.Constant(value=value.attr, kind=None))
            if found is None:
                raise UnsupportedSyntaxError(
                    f'the attribute .{value.attr} of a differentiated value',
                    self.source.location(value), 'it has no forward rule')
            return self.expand(found, statement, [value.value], {})
        if isinstance(value, gast.Call):
            return self.call_tangent(statement)
        raise InternalCompilerError(self.source.name, 'forward',
                                    f'value {type(value).__name__}')

    def call_tangent(self, statement):
        call_node = statement.value
        resolved = self.resolution.calls[call_node]
        keywords = {k.arg: k.value for k in call_node.keywords}
        if resolved.kind is CallKind.NON_DIFFERENTIABLE:
            return None
        if resolved.kind is CallKind.RULE:
            return self.rule_tangent(statement, resolved.callee,
                                     list(call_node.args), keywords,
                                     resolved.rule)
        if resolved.kind is CallKind.METHOD and resolved.rule is not None:
            found = self.registry.lookup_jvp_template(
                method=call_node.func.attr)
            if found is None and self.registry.lookup_linear(
                    method=call_node.func.attr) is not None:
                return self.linear_tangent(statement, resolved.rule, (),
                                           False, receiver=True)  # noqa
            if found is None:
                raise UnsupportedSyntaxError(
                    f'the method .{call_node.func.attr}() in forward mode',
                    self.source.location(call_node), 'it has no forward rule')
            return self.expand(found, statement,
                               [call_node.func.value] + list(call_node.args),
                               keywords)
        if resolved.kind is CallKind.CONSTRUCTOR:
            # The constructor stores its arguments, so it builds the tangent
            # from theirs.
            return gast.Call(
                func=copy_tree(call_node.func),
                args=[self.tangent_of(a) for a in call_node.args],
                keywords=[gast.keyword(arg=k.arg, value=self.tangent_of(k.value))
                          for k in call_node.keywords])
        if self.has_forward_rule(resolved):
            # A forward rule alone is enough in forward mode, and it wins
            # over the source of a Python function.
            return self.function_rule_tangent(
                statement, resolved.callee, list(call_node.args), keywords)
        if resolved.kind is CallKind.FOREIGN:
            target = statement.targets[0]
            if isinstance(target, gast.Name) and \
                    target.id in self.normalized.set_comprehensions:
                # The empty set a set comprehension starts from.
                raise comprehensions.set_comprehension_error(
                    self.source.location(call_node))
            self.raise_foreign(call_node, resolved)
        location = self.source.location(call_node)
        if resolved.kind is CallKind.UNKNOWN and \
                resolved.reason == 'name not defined':
            raise UndefinedNameError(resolved.name, location)
        reason = resolved.reason or 'resolved when the call runs'
        raise UnsupportedSyntaxError(
            f'a call of {resolved.name} ({reason}) in forward mode', location,
            'forward mode supports calls the compiler can resolve; reverse '
            'mode (grad, vjp) also supports this call')

    def has_forward_rule(self, resolved):
        """True for a callee without a reverse rule that has a forward rule
        registered with register_jvp."""
        return resolved.kind in (CallKind.FOREIGN, CallKind.USER) and \
            self.registry.lookup_jvp(resolved.callee) is not None

    def raise_foreign(self, call_node, resolved, updates_argument=False):
        arguments = list(call_node.args) + [k.value for k in call_node.keywords]
        active = next((a for a in arguments if isinstance(a, gast.Name)
                       and a.id in self.activity.varied), None)
        active_name = active.id if active is not None else '?'
        display = self.normalized.display_names
        origin = self.activity.origin.get(active_name, '?')
        raise ForeignCallError(
            resolved.name, resolved.reason, self.source.location(call_node),
            display.get(active_name, active_name), display.get(origin, origin),
            list(self.context.call_chain),
            written_name=self.written_name(call_node.func),
            updates_argument=updates_argument, forward=True)

    def rule_tangent(self, statement, function, args, keywords, rule=None):
        if rule is None:
            rule = self.registry.lookup(function)
        if rule is NON_DIFFERENTIABLE or rule is None:
            return None
        linear = self.registry.lookup_linear(function)
        if rule.template is None and linear is not None:
            return self.linear_tangent(statement, _SignatureOnly(function),
                                       *linear)
        found = self.registry.lookup_jvp_template(function)
        if rule.template is None and found is None:
            return self.function_rule_tangent(statement, rule.callee, args,
                                              keywords)
        if found is None and linear is not None and isinstance(
                statement.value, gast.Call):
            # The parameter names of a linear entry are the function's own.
            # A reverse template may name them differently, because the
            # transpose of a runtime helper calls its cotangent argument c.
            # NumPy 1.x wraps its functions (np.inner, np.einsum) in Python
            # functions whose signature inspect reads as the wrapped one's,
            # or not at all. The reverse template names their parameters.
            numpy_wrapper = hasattr(function, '__wrapped__') and getattr(
                function, '__module__', '').startswith('numpy')
            signature = (_SignatureOnly(function) if isinstance(
                function, types.FunctionType) and not numpy_wrapper
                else rule.template)
            return self.linear_tangent(statement, signature, *linear,
                                       callee=function)
        if found is None:
            raise UnsupportedSyntaxError(
                f'a call of {rule.template.name} in forward mode',
                self.source.location(statement.value),
                'it has no forward rule yet; register one with '
                'adcompiler.register_jvp')
        args, keywords = rule_arguments(function, found[0], args, keywords)
        return self.expand(found, statement, args, keywords, function)

    def linear_tangent(self, statement, template, params, multilinear,
                       others_constant=False, receiver=False, callee=None):
        """The function itself applied to tangents (see Registry.linear_jvp)."""
        call_node = statement.value
        positional = ([call_node.func.value] if receiver else []) + list(
            call_node.args)
        keywords = {k.arg: k.value for k in call_node.keywords}
        if callee is not None:
            positional, keywords = rule_arguments(callee, template,
                                                  positional, keywords)
        try:
            bound = template.signature.bind(*positional, **keywords)
        except TypeError as err:
            raise LocatedError(
                f'the forward rule of {template.name} does not accept this '
                f'call ({err})', self.source.location(call_node)) from err
        params = params or (next(iter(template.signature.parameters)),)
        slots = []
        for param in params:
            value = bound.arguments.get(param)
            values = value if isinstance(value, tuple) else (value,)
            slots += [v for v in values if isinstance(v, gast.AST)]
        others = [v for p, v in bound.arguments.items() if p not in params
                  for v in (v if isinstance(v, tuple) else (v,))
                  if self.is_active(v)]
        if others and not others_constant:
            raise UnsupportedSyntaxError(
                f'a call of {template.name} in forward mode with a derivative '
                f'through {self.display(others[0])}',
                self.source.location(call_node),
                'its forward rule covers only the arguments it is linear in')
        active = [v for v in slots if self.is_active(v)]
        if not active:
            return None

        def rebuilt(replacements):
            def value(node):
                return replacements.get(id(node)) or copy_tree(node)
            if receiver:
                func = gast.Attribute(value=value(call_node.func.value),
                                      attr=call_node.func.attr,
                                      ctx=gast.Load())
            else:
                func = copy_tree(call_node.func)
            return gast.Call(
                func=func, args=[value(a) for a in call_node.args],
                keywords=[gast.keyword(arg=k.arg, value=value(k.value))
                          for k in call_node.keywords])

        if not multilinear:
            total = rebuilt({id(v): self.tangent_of(v) for v in slots})
        else:
            terms = [rebuilt({id(v): self.tangent_of(v)}) for v in active]
            total = terms[0]
            for term in terms[1:]:
                total = gast.BinOp(left=total, op=gast.Add(), right=term)
        return self.cast_tangent(total, bound.arguments.get('dtype'))

    def cast_tangent(self, tangent, dtype):
        """Wrap `tangent` in ad.cast_adjoint(tangent, dtype) for a dtype=
        argument, because the call applied to the tangent truncates it to
        an integer or boolean dtype where the derivative is 0."""
        if not isinstance(dtype, gast.AST) or (
                isinstance(dtype, gast.Constant) and dtype.value is None):
            return tangent
        return gast.Call(
            func=gast.Attribute(value=name(self.runtime_alias),
                                attr='cast_adjoint', ctx=gast.Load()),
            args=[tangent, copy_tree(dtype)], keywords=[])

    def display(self, node):
        names = self.normalized.display_names
        return repr(names.get(node.id, node.id)) if isinstance(
            node, gast.Name) else 'an argument'

    def function_rule_tangent(self, statement, callee, args, keywords):
        """Tangent of a call whose forward rule is a user callable."""
        function = self.registry.lookup_jvp(callee)
        call_node = statement.value
        reason = foreign_reason(callee)
        if function is None and reason is not None and isinstance(
                call_node, gast.Call) and call_node in self.resolution.calls:
            # Named as the code calls it: a ufunc that np.frompyfunc made
            # is named after its Python function, `<lambda> (vectorized)`.
            resolved = self.resolution.calls[call_node]
            self.raise_foreign(call_node, dataclasses.replace(
                resolved, reason=f'{reason} with only a reverse rule'))
        if function is None:
            callee = getattr(callee, '__name__', 'the callee')
            raise UnsupportedSyntaxError(
                f'a call of {callee} in forward mode',
                self.source.location(statement.value),
                f'only a reverse rule is registered for {callee}; register '
                f'a forward one with adcompiler.register_jvp({callee}, ...), '
                'or use reverse mode (grad, vjp, or hessian with '
                "mode='reverse-over-reverse')")
        args, keywords = self.keywords_by_position(statement, callee, args,
                                                   keywords)
        rule_name = self.namer.fresh('jvp_rule')
        self.extra_globals[rule_name] = function
        tangents = gast.Tuple(elts=[
            self.tangent_of(a) if self.is_active(a)
            else gast.Constant(value=None, kind=None) for a in args],
            ctx=gast.Load())
        target = statement.targets[0].id
        tangent = gast.Call(
            func=name(rule_name),
            args=[tangents, name(target)] + [copy_tree(a) for a in args],
            keywords=[gast.keyword(arg=k, value=copy_tree(v))
                      for k, v in keywords.items()])
        if not self.registry.is_user_jvp(callee):
            return tangent
        # A user's rule must return the output's shape: a tangent that
        # broadcasts would hide its error.
        callee_name = getattr(callee, '__name__', 'the callee')
        return call(self.runtime_function('rule_tangent'), tangent,
                    name(target), gast.Constant(
                        value=user_rule_name(function, callee_name),
                        kind=None))

    def keywords_by_position(self, statement, callee, args, keywords):
        """Return the arguments of a call of a forward rule with each keyword
        argument of a positional parameter passed by position, because the
        rule receives one tangent per positional argument.

        Raises UnsupportedSyntaxError for a keyword argument that carries a
        derivative and has no position, whose tangent the rule could not
        receive.
        """
        try:
            parameters = list(inspect.signature(callee).parameters.values())
        except (TypeError, ValueError):
            parameters = []
        args = list(args)
        keywords = dict(keywords)
        for parameter in parameters[len(args):]:
            if parameter.kind not in (parameter.POSITIONAL_ONLY,
                                      parameter.POSITIONAL_OR_KEYWORD):
                break
            if parameter.name not in keywords:
                break
            args.append(keywords.pop(parameter.name))
        for keyword, value in keywords.items():
            if any(self.is_active(atom) for _, atom in argument_atoms(value)):
                name_text = getattr(callee, '__name__', 'the callee')
                raise UnsupportedSyntaxError(
                    f'the keyword argument {keyword}= that carries a '
                    f'derivative in a call of {name_text}, whose forward rule '
                    'receives tangents only of positional arguments',
                    self.source.location(statement.value),
                    fixes=[f'pass {keyword} by position'])
        return args, keywords

    def expand(self, found, statement, args, keywords, function=None):
        """Sum a forward template's entries for the active arguments."""
        template, derived = found
        try:
            bound = template.signature.bind(*args, **keywords)
        except TypeError as err:
            message = option_message('forward', function, template, keywords,
                                     'register_jvp')
            if message is not None:
                raise LocatedError(message[0],
                                   self.source.location(statement.value),
                                   fixes=message[1]) from err
            raise LocatedError(
                f'the forward rule {template.name} does not accept this call '
                f'({err})', self.source.location(statement.value),
                fixes=['pass only the arguments that the rule accepts: '
                       f'{template.accepted_call()}, or register a rule '
                       'for this form with adcompiler.register_jvp']
            ) from err
        bound.apply_defaults()
        target = statement.targets[0].id
        substitutions = {
            'ans': name(target),
            'np': name(self.numpy_alias),
            'ad': name(self.runtime_alias),
        }
        for param, value in bound.arguments.items():
            substitutions[param] = as_expression(value)
        active = {param: isinstance(value, gast.AST) and self.is_active(value)
                  for param, value in bound.arguments.items()}
        if any(adjoint_target(s) is None for s in template.body):
            # NOTE: a template with temporaries would need them emitted as
            # statements; no forward rule uses one yet.
            raise UnsupportedSyntaxError(
                f'a multi-statement rule ({template.name}) in forward mode',
                self.source.location(statement.value))
        renames = {}
        terms = []
        for template_statement in template.body:
            arg = bound.arguments[adjoint_target(template_statement)]
            if not self.is_active(arg):
                continue
            tangent = name(self.tangent_name(arg.id))
            local = dict(substitutions, t=tangent)
            if 'g' not in bound.arguments:  # Else g is the helper's cotangent.
                local['g'] = tangent
            terms.append(substitute_template(template_statement.value, local,
                                             renames, self.namer, active))
        # Broadcasting: the sum of the terms has the output's shape when every
        # argument that may broadcast has a term; otherwise broadcast it.
        repeats = function in (operator.mul, np.multiply)  # [x] * 2
        others = [a for a in args if (isinstance(a, gast.Name)
                                      and not self.is_active(a))
                  or (repeats and isinstance(a, gast.Constant)
                      and isinstance(a.value, int))]
        if derived and template.unbroadcast and others and terms:
            terms = [call(self.runtime_function('broadcast_like'), term,
                          name(target)) for term in terms]
        if not terms:
            return None
        total = terms[0]
        for term in terms[1:]:
            if template.tuple_result:  # `+` would concatenate the tuples.
                total = call(self.runtime_function('add'), total, term)
            else:
                total = gast.BinOp(left=total, op=gast.Add(), right=term)
        return total

    # Calls of user functions -------------------------------------------------

    def is_dispatched(self, call_node, resolved):
        """True for a call whose callee is known only when it runs."""
        if resolved.kind is CallKind.METHOD:
            return resolved.rule is None or \
                call_node in self.activity.dispatched_calls
        return resolved.kind is CallKind.UNKNOWN and \
            resolved.reason != 'name not defined'

    def user_call(self, statement, resolved):
        call_node = statement.value
        if resolved.callee in _DISPATCH_HELPERS:
            raise UnsupportedSyntaxError(
                'forward mode over a call that generated adjoint code '
                'resolves at run time', self.source.location(call_node),
                fixes=["use hvp or hessian with mode='reverse-over-forward' "
                       '(the default falls back to it)'])
        signature = transformed_signature(resolved.callee)
        try:
            bound = signature.bind(*call_node.args,
                                   **{k.arg: k.value
                                      for k in call_node.keywords})
        except TypeError as err:
            raise LocatedError(f'invalid call of {resolved.name}: {err}',
                               self.source.location(call_node)) from err
        active = {p: a for p, a in bound.arguments.items()
                  if any(self.is_active(atom)
                         for _, atom in argument_atoms(a))}
        target = statement.targets[0].id
        if not active:
            return [copy_tree(statement),
                    assign(self.tangent_name(target), self.zeros(name(target)))]
        wrt = tuple(p for p in signature.parameters if p in active)
        chain = tuple(self.context.call_chain) + (
            chain_name(resolved.callee, self.source.namespace,
                       resolved.name),)
        callee = self.compile_callee_at(call_node, resolved.callee, wrt,
                                        chain)
        self.check_updates(call_node, resolved, callee, bound)
        self.extra_globals[callee.name] = callee.function
        keywords = [gast.keyword(arg=k.arg, value=copy_tree(k.value))
                    for k in call_node.keywords]
        keywords += [gast.keyword(arg=tangent_param,
                                  value=self.argument_tangent(active[p]))
                     for p, tangent_param in zip(
                         callee.wrt, callee.tangent_params, strict=True)]
        tangent_call = gast.Call(
            func=name(callee.name),
            args=[copy_tree(a) for a in call_node.args],
            keywords=keywords)
        targets = gast.Tuple(elts=[name(target, gast.Store()),
                                   name(self.tangent_name(target),
                                        gast.Store())], ctx=gast.Store())
        check = global_rebinds.callee_check(self, self.global_checks,
                                            statement, callee.compiled)
        return check + [gast.copy_location(assign(targets, tangent_call),
                                           statement)]

    def unpacking_call(self, statement, resolved):
        """Value and tangent of `f(*seq, **mapping)`, bound to f's
        parameters when it runs, by the dispatcher."""
        call_node = statement.value
        if resolved.kind is CallKind.FOREIGN:
            self.raise_foreign(call_node, resolved)
        if resolved.kind is CallKind.UNKNOWN and \
                resolved.reason == 'name not defined':
            raise UndefinedNameError(resolved.name,
                                     self.source.location(call_node))
        return self.dynamic_call(statement, resolved, unpacking=True)

    def dynamic_call(self, statement, resolved, unpacking=False):
        """Value and tangent of a call resolved at run time (see
        adcompiler.dispatch): `y, dy = ad.call_function_tangent(site,
        (dx,), f, x)`. A call with `*seq` or `**mapping` passes them whole
        to `ad.call_unpacking_tangent`, which spreads them."""
        call_node = statement.value
        is_method = resolved.kind is CallKind.METHOD
        site = call_site(call_node, is_method, self.is_active,
                         self.normalized, self.activity,
                         self.source.location(call_node),
                         self.context.call_chain)
        site_name = self.namer.fresh(
            f'call_site_line{getattr(call_node, "lineno", 0)}')
        self.extra_globals[site_name] = site

        # Number 0 is the receiver of a method, or the called value itself.
        arguments = [call_node.func.value if is_method else call_node.func
                     ] + [getattr(a, 'value', a) if isinstance(
                         a, gast.Starred) else a for a in call_node.args] + [
                         k.value for k in call_node.keywords]
        tangents = gast.Tuple(elts=[self.tangent_of(arguments[number])
                                    for number in site.active],
                              ctx=gast.Load())
        first = call_node.func.value if is_method else call_node.func
        args = [copy_tree(a) for a in call_node.args]
        keywords = copy_tree(call_node.keywords)
        if unpacking or any(number > len(call_node.args)
                            for number in site.active):
            # Every argument in order, sequences and mappings whole, so
            # that reverse mode over this call reaches keyword arguments.
            helper = 'call_unpacking_tangent'
            args = [copy_tree(a) for a in arguments[1:]]
            keywords = []
        elif is_method:
            helper = 'call_method_tangent'
        else:
            helper = 'call_function_tangent'
        dispatched = gast.Call(
            func=self.runtime_function(helper),
            args=[name(site_name), tangents, copy_tree(first)] + args,
            keywords=keywords)

        target = statement.targets[0].id
        targets = gast.Tuple(elts=[name(target, gast.Store()),
                                   name(self.tangent_name(target),
                                        gast.Store())], ctx=gast.Store())
        return [gast.copy_location(assign(targets, dispatched), statement)]

    def argument_tangent(self, argument):
        """Return the tangent of a bound argument, or a tuple or dict of
        tangents for the items of a `*args` or `**kwargs` parameter."""
        def tangent(atom):
            if self.is_active(atom):
                return name(self.tangent_name(atom.id))
            return self.zeros(copy_tree(atom))
        if isinstance(argument, tuple):
            return gast.Tuple(elts=[tangent(a) for a in argument],
                              ctx=gast.Load())
        if isinstance(argument, dict):
            return gast.Dict(keys=[gast.Constant(value=k, kind=None)
                                   for k in argument],
                             values=[tangent(a) for a in argument.values()])
        return tangent(argument)

    def check_user_effect(self, call_node, resolved):
        if has_unpacking(call_node):
            reject_unused_unpacking_call(call_node, resolved.name,
                                         self.activity.varied,
                                         self.source.location(call_node))
            return
        signature = transformed_signature(resolved.callee)
        try:
            bound = signature.bind(*call_node.args,
                                   **{k.arg: k.value
                                      for k in call_node.keywords})
        except TypeError:
            return
        varied = tuple(p for p, a in bound.arguments.items()
                       if isinstance(a, gast.Name)
                       and a.id in self.activity.varied)
        chain = tuple(self.context.call_chain) + (
            chain_name(resolved.callee, self.source.namespace,
                       resolved.name),)
        callee = self.compile_callee_at(call_node, resolved.callee, varied,
                                        chain)
        self.check_updates(call_node, resolved, callee, bound, discarded=True)

    def check_updates(self, call_node, resolved, callee, bound,
                      discarded=False):
        """Reject a callee that changes an argument in place when that
        argument carries a derivative; `discarded` as for
        `reverse._ReverseWriter.check_callee_updates`."""
        augmented = (call_writes.augmented_parameters(resolved.callee)
                     if discarded else frozenset())
        for param in list(callee.updated) + sorted(
                augmented - set(callee.updated)):
            argument = bound.arguments.get(param)
            used = isinstance(argument, gast.Name) and (
                argument.id in self.activity.varied
                or param in augmented and argument.id in self.activity.useful)
            if param in callee.updated_with_derivative or used:
                raise call_writes.callee_update_error(
                    resolved.name, param, self.display(argument),
                    self.source.location(call_node), resolved.callee)
