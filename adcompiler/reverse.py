"""Reverse stage: write the primal and adjoint functions of a normalized function.

Input: a `NormalizedFunction`, its `Resolution` and `Activity`, the positions
of the parameters to differentiate, and a `ReverseContext`. Output: a
`ReverseProgram` with two gast function definitions,

    def primal_f(<params>):            # runs f, keeps what the adjoint reads
        ...
        return <result>, (<saved values>)

    def adjoint_f(saved, d<result>):   # d<result>: cotangent of the result
        <saved values> = saved
        ...                            # one block per active statement,
        return (d<param>, ...)         # in reverse order

and the globals the generated code needs besides the user's namespace. The
adjoint of a value that no use reached is None, a zero that was never
built. This holds for entries of containers and for the adjoints the
function returns too, so that a caller skips the blocks that would only
multiply it (0 * inf is nan). The public API turns None into zeros.

Each adjoint block comes from the rule of its operation: the rule template is
inlined with its parameters replaced by the call's arguments, `g` by the
adjoint of the result and `d[x] = e` by an accumulation into `dx`. Statements
that are not active produce no adjoint. Calls of user functions call the
callee's own generated primal and adjoint, compiled through the context.
Comment markers (`comment_marker`) note the user's line above each block;
emit turns them into comments.
"""

import copy
import dataclasses
import functools
import inspect
import operator

import gast

from adcompiler import (aliasing, call_writes, comprehensions, free_reads,
                        global_rebinds, known_shapes, nan_skipping,
                        numeric_checks, repeated_pushes, runtime, scalars,
                        shapes, subscripts)
from adcompiler.codegen import BINARY_OPERATORS as _BINARY_OPERATORS
from adcompiler.codegen import UNARY_OPERATORS as _UNARY_OPERATORS
from adcompiler.codegen import as_expression as _as_expression
from adcompiler.codegen import assign as _assign
from adcompiler.codegen import branch as _branch
from adcompiler.codegen import call as _call
from adcompiler.codegen import (COMMENT_PREFIX, StageWriter, argument_atoms,
                                comment_marker, identifier,
                                substitute_template)
from adcompiler.codegen import name as _name
from adcompiler.dispatch import call_site
from adcompiler.errors import (ForeignCallError, InternalCompilerError,
                               LocatedError, UndefinedNameError,
                               UnsupportedSyntaxError)
from adcompiler.normalize import describe, written_and_method_updated
from adcompiler.resolve import (CallKind, ResolvedCall, chain_name,
                                has_unpacking,
                                reject_unused_unpacking_call,
                                transformed_signature)
from adcompiler.rules import NON_DIFFERENTIABLE, REGISTRY, adjoint_target
from adcompiler.rules.call_arguments import (argument_description,
                                             option_message, rule_arguments,
                                             user_rule_name)
from adcompiler.traversal import (copy_tree, find_nodes, name_bindings,
                                  name_nodes, walk)
from adcompiler.verbatim import Verbatim

@dataclasses.dataclass
class CalleeProgram:
    """The generated functions of a callee, as its caller calls them."""

    primal_name: str
    adjoint_name: str
    primal: object
    adjoint: object
    differentiated: tuple  # names of the callee parameters given adjoints
    updated: tuple = ()  # parameters it changes in place (append, x[i] = v)
    updated_with_derivative: tuple = ()  # ... with values that carry one
    # Values of the globals and closure variables that the callee and its
    # own callees read and that may hold an array.
    read_globals: tuple = ()
    # Parameters whose arrays its calls may change in place (see
    # adcompiler.call_writes).
    call_written: tuple = ()
    # The callee's `CompiledFunction`, whose `is_current` the caller checks
    # where a global may have been rebound; None for a recursive call.
    compiled: object = None


@dataclasses.dataclass
class _TryRecord:
    """Names the primal of a try statement sets for its adjoint."""

    path: str  # 0 when no handler ran, else the number of the handler
    progress: str  # how many statements of the try block completed
    completed: set  # positions in the try block after which it is set


@dataclasses.dataclass
class ReverseContext:
    """How to reach the rest of the compiler from the reverse stage."""

    source: object  # FunctionSource
    call_chain: tuple
    # (function, wrt names, call_chain, level of the objects with operators
    # that the call passes) -> CalleeProgram
    compile_callee: object
    function_names: tuple  # (primal, adjoint) names, unique per compilation
    registry: object = REGISTRY
    # Use shape facts to leave out unneeded unbroadcasting (off to compare
    # the optimized code with the plain one).
    optimize: bool = True
    # Parameters whose arguments are Python floats or np.float64 scalars.
    scalar_params: frozenset = frozenset()
    # The shapes and kinds of the arguments the code is compiled for (an
    # adcompiler.known_shapes.ArgumentShapes), or None for any arguments.
    argument_shapes: object = None


@dataclasses.dataclass
class ReverseProgram:
    """The generated primal and adjoint of one function."""

    primal: gast.FunctionDef
    adjoint: gast.FunctionDef
    wrt: tuple
    extra_globals: dict
    numpy_alias: str
    runtime_alias: str
    has_tape: bool = False  # the last saved value is the tape
    extra_globals_have_sites: bool = False  # it dispatches calls at run time
    # Names normalize introduced for sub-expressions (t1, t2, ...).
    temporaries: frozenset = frozenset()
    # Which names of the primal always share a shape (adcompiler.shapes).
    shape_facts: shapes.ShapeFacts = dataclasses.field(
        default_factory=lambda: shapes.NO_FACTS)
    # Names whose values are all float scalars (see adcompiler.scalars).
    scalars: frozenset = frozenset()
    # Name -> INT, FLOAT or NUMBER for the names whose values are all real
    # scalars, the float scalars included (see adcompiler.scalars).
    scalar_types: dict = dataclasses.field(default_factory=dict)
    # The adjoint may be given the cotangent 1.0 for a np.float64 result
    # (see adcompiler.scalars.accepts_float_seed); set by optimize.
    float_seed: bool = False
    # The adjoint is always given a cotangent, never None: code compiled
    # for float scalars or for argument shapes, which only grad calls.
    seeded: bool = False
    # The returned name is in `scalar_types`, so a cotangent that grad
    # gives is a number.
    scalar_result: bool = False
    # Parameters whose arrays its calls may change in place.
    call_written: tuple = ()


def reverse(normalized, resolution, activity, wrt, context):
    """Write the primal and adjoint of `normalized`; see the module docstring.

    When a call may change in place a value that the adjoint reads (see
    adcompiler.call_writes), the functions are written a second time, with
    the adjoint reading copies of those values.
    """
    namer = copy.deepcopy(normalized.namer)
    writer = _ReverseWriter(normalized, resolution, activity, wrt, context)
    program = writer.run()
    writes = call_writes.call_writes(
        normalized, resolution, activity, context.source.namespace,
        writer.callee_programs, set(writer.dynamic_calls),
        writer.callee_saved)
    program.call_written = writes.parameters
    # NOTE: the records of calls resolved at run time are not copied, as
    # call_writes assumes those calls change nothing (see its docstring).
    if not writes.changed:
        return program
    dispatched_records = {writer.callee_saved[s] for s in writer.dynamic_calls}
    snapshots = (writes.changed & _names_read(program.adjoint)
                 - dispatched_records)
    if not snapshots:
        return program
    normalized.namer = namer  # the same names as the first time
    writer = _ReverseWriter(normalized, resolution, activity, wrt, context,
                            snapshots)
    program = writer.run()
    program.call_written = writes.parameters
    return program


def _names_read(function):
    return frozenset(n.id for n in name_nodes(function)
                     if isinstance(n.ctx, gast.Load))


class _ReverseWriter(StageWriter):

    def __init__(self, normalized, resolution, activity, wrt, context,
                 snapshots=frozenset()):
        super().__init__(normalized, resolution, activity, wrt, context)
        # Values that a call may change in place after the adjoint reads
        # them: the tape keeps a copy (ad.snapshot) of each after every
        # statement whose adjoint reads it.
        self.snapshots = snapshots
        self.global_checks = global_rebinds.global_checks(
            normalized, resolution, context.source)
        # The line of the statement whose block is being built: its first
        # statements need no `# line N:` comment when they come from the
        # same line (the test of a lowered `while`).
        self.enclosing_line = None
        self.adjoint_names = {}
        # The values of `adjoint_names`, kept by `adjoint_name`, so that a
        # walk over each statement does not rebuild the set.
        self.adjoint_name_values = set()
        self.defined = set()  # adjoints assigned so far in the adjoint body
        # Without control flow, the adjoints in `defined` that may still be
        # None at run time: an entry of a callee's adjoints or of a
        # container's adjoint, where None is a symbolic zero. With control
        # flow every adjoint is guarded, so the set stays empty.
        self.optional = set()
        self.primal_body = []
        self.adjoint_body = []
        self.dynamic = not normalized.single_assignment
        self.scalar_types = (scalars.scalar_types(normalized, resolution,
                                                  context.scalar_params)
                             if context.optimize else {})
        self.scalars = frozenset(
            name for name, kind in self.scalar_types.items()
            if kind == scalars.FLOAT)
        known = None
        if context.optimize and context.argument_shapes is not None:
            known = known_shapes.known_values(normalized, resolution,
                                              context.argument_shapes,
                                              context.registry)
        self.shapes = (shapes.shape_facts(normalized, resolution,
                                          frozenset(self.scalar_types),
                                          known)
                       if context.optimize else shapes.NO_FACTS)
        self.tape_name = None
        self.pushed = {}  # statement -> names pushed on the tape after it
        # statement -> {name: adjoint-side name} for values the adjoint reads
        # only for their shape: the tape keeps ad.shape_and_kind(name).
        self.shape_pushes = {}
        self.tape_entries = repeated_pushes.TapeEntries(self.pushed)
        self.loop_trips = {}  # loop statement -> name of its trip counter
        self.iteration_index = {}  # for statement -> adjoint loop index name
        # The index of adjoint loops that do not read it, shared by all of
        # them: nested loops may reuse it because no statement reads it.
        self.unread_index = None
        self.restored = set()  # subscript writes whose old values are kept
        self.popped = set()  # v = lst.pop() statements, undone in the adjoint
        self.element_reads = set() if aliasing.is_generated(
            context.source) else set(aliasing.element_reads(
                normalized, activity, resolution))
        self.container_reads = set() if aliasing.is_generated(
            context.source) else set(aliasing.container_reads(
                normalized, activity, resolution))
        # Names whose adjoint is 0 at their NaN entries. The adjoints that
        # elementwise operations with such a result pass on are 0 there too.
        self.nan_skipped = nan_skipping.nan_skipped_names(
            normalized, resolution, self.registry)
        self.callee_programs = {}  # call statement -> CalleeProgram
        self.callee_saved = {}  # call statement -> name of the callee's saved
        self.dynamic_calls = {}  # call statement -> name of its CallSite
        self.try_records = {}  # try statement -> _TryRecord
        self.branch_depth = 0  # if statements around the current statement
        # Statement in a branch that cannot be differentiated -> name of the
        # error its primal raises instead, if the branch runs.
        self.deferred_errors = {}
        self.choose_aliases()

    # Helpers -----------------------------------------------------------------

    def adjoint_name(self, name):
        if name not in self.adjoint_names:
            adjoint = self.namer.fresh('d' + name)
            self.adjoint_names[name] = adjoint
            self.adjoint_name_values.add(adjoint)
        return self.adjoint_names[name]

    def accumulate(self, name, value, optional=False):
        """Emit `d<name> += value`, where an unassigned adjoint is zero.

        `optional` is true when `value` may be None at run time.
        """
        target = self.adjoint_name(name)
        if target not in self.defined and not self.dynamic:
            self.defined.add(target)
            if optional:
                self.optional.add(target)
            return [_assign(target, value)]
        if not optional:
            self.optional.discard(target)  # ad.add(None, value) is value
        self.defined.add(target)
        runtime_add = gast.Attribute(value=_name(self.runtime_alias),
                                     attr='add', ctx=gast.Load())
        return [_assign(target, _call(runtime_add, _name(target), value))]

    def line_comment(self, statement):
        lineno = getattr(statement, 'lineno', None)
        if not lineno:
            return None
        text = self.source.line_text(lineno).strip()
        return comment_marker(f'line {lineno}: {text}')

    # The two functions -----------------------------------------------------

    def run(self):
        body = self.normalized.tree.body
        returned = body[-1]
        if not isinstance(returned, gast.Return):
            raise InternalCompilerError(self.source.name, 'reverse',
                                        'normalized body does not end in return')
        self.stable = self.stable_names()
        self.result_name = None
        if self.is_active(returned.value):
            self.result_name = returned.value.id
            self.defined.add(self.adjoint_name(self.result_name))

        # The adjoint is written first: it decides what the primal records.
        self.adjoint_body = self.adjoint_statements(body[:-1])
        self.tape_entries.shapes = self.shape_pushes
        self.tape_entries.snapshots = frozenset(self.snapshots)
        self.tape_entries.changeable = frozenset(
            self.normalized.written | self.normalized.mutated)
        repeated_pushes.drop_repeated_pushes(body[:-1], self.tape_entries,
                                             self.adjoint_body)
        self.number_loop_counters(body[:-1])
        self.primal_body = self.primal_block(body[:-1])
        self.protect_arguments()
        return self.finish(returned)

    def protect_arguments(self):
        """Copy parameters that the function updates with values that carry
        a derivative.

        The gradient must not change the caller's arrays; bookkeeping updates
        (a counter list, a set of ids) still reach the caller. The compiler
        caches one version of a function for all callers, so a function
        called from differentiated code copies them too. Such a call is
        rejected anyway (see `check_callee_updates`).

        A list or dict written by index and by a method is copied too, and
        the copy is written back at the end: the adjoint undoes the index
        writes in the copy, not in the caller's object.
        """
        by_method = written_and_method_updated(self.normalized)
        params = [p for p in self.normalized.params
                  if ((p in self.normalized.written
                       or p in self.normalized.mutated)
                      and p in self.activity.varied) or p in by_method]
        before, after, self.write_backs = self.argument_write_backs(params)
        self.primal_body[:0] = before + self.argument_copies(params) + after

    def argument_copies(self, params):
        """`x = ad.copy(x)` for each parameter, after a check that no other
        reference reaches its array, from which the copy would hide the
        update."""
        if not params:
            return []
        return self.unshared_check(params) + [
            _assign(p, _call(self.runtime_function('copy'), _name(p)))
            for p in params]

    def stable_names(self):
        """Names whose final value is the only value they ever hold.

        The adjoint reads a stable name from the saved values; any other name
        it reads is recorded on the tape after the statement that needs it.
        """
        if not self.dynamic:
            return None  # Every name is assigned once.
        counts = {name: 1 for name in self.normalized.params}
        top_level = set(self.normalized.tree.body)
        for statement in self.normalized.nodes_of((Verbatim, gast.Assign,
                                                   gast.For)):
            if isinstance(statement, Verbatim):
                # After `del y` the primal no longer has y by its end, so
                # the tape keeps what the adjoint reads of it.
                for node in statement.writes:
                    if isinstance(node.ctx, gast.Del):
                        counts[node.id] = 2
                continue
            if not isinstance(statement, (gast.Assign, gast.For)):
                continue
            targets = (statement.targets if isinstance(statement, gast.Assign)
                       else [statement.target])
            weight = 1 if statement in top_level and isinstance(
                statement, gast.Assign) else 2
            for target in targets:
                for node in walk(target):
                    if isinstance(node, gast.Name) and isinstance(
                            node.ctx, gast.Store):
                        counts[node.id] = counts.get(node.id, 0) + weight
        return {name for name, count in counts.items() if count == 1}

    def is_stable(self, name):
        if name in self.snapshots:
            return False
        return self.stable is None or name in self.stable

    def add_comment(self, body, statement, last_line):
        lineno = getattr(statement, 'lineno', None)
        if lineno and lineno != last_line:
            marker = self.line_comment(statement)
            if marker is not None:
                body.append(marker)
        return lineno or last_line

    def finish(self, returned):
        primal_name, adjoint_name = self.context.function_names
        self.namer.reserve(primal_name)
        self.namer.reserve(adjoint_name)
        saved_name = self.namer.fresh('saved')

        results = []
        for param in self.wrt:
            adjoint = self.adjoint_names.get(param)
            # None, the symbolic zero, is returned as it is: zeros built
            # here would reach the caller's guarded blocks.
            if self.dynamic and adjoint is not None:
                results.append(_call(self.runtime_function('input_adjoint'),
                                     _name(adjoint), _name(param)))
            elif adjoint in self.defined:
                results.append(_name(adjoint))
            else:
                results.append(gast.Constant(value=None, kind=None))
        self.adjoint_body.append(gast.Return(
            value=gast.Tuple(elts=results, ctx=gast.Load())))
        if self.dynamic:
            # A reassigned parameter contains another value by the end;
            # its adjoint is shaped like the input, which the tape keeps.
            reassigned = [p for p in self.wrt if not self.is_stable(p)]
            if reassigned:
                self.primal_body.insert(0, self.push(reassigned))
                # Under the def line, so that the pop does not read as part
                # of the first statement's adjoint.
                marker = self.line_comment(self.source.tree)
                restore = [self.pop(reassigned)]
                self.adjoint_body[-1:-1] = ([] if marker is None
                                            else [marker]) + restore

        if self.dynamic:
            # Adjoints assigned inside branches and loops start as None, the
            # zero that was never built.
            seed_name = self.adjoint_names.get(self.result_name)
            initial = [_assign(adjoint, gast.Constant(value=None, kind=None))
                       for adjoint in self.adjoints_read()
                       if adjoint != seed_name]
            self.adjoint_body[:0] = initial

        # The adjoint reads these primal values; the primal saves them.
        primal_names = set(self.normalized.local_names)
        primal_names.update(self.callee_saved.values())
        adjoints = set(self.adjoint_names.values())
        read = {}  # an ordered set
        # One walk of each adjoint statement finds its names, in the order
        # of `name_nodes`, and the attributes that `hoist_free_reads` needs.
        found = [find_nodes(statement, (gast.Name, gast.Attribute))
                 for statement in self.adjoint_body]
        for nodes in found:
            for node in nodes:
                if (node.__class__ is gast.Name
                        and isinstance(node.ctx, gast.Load)
                        and node.id in primal_names and node.id not in read
                        and node.id not in adjoints
                        and self.is_stable(node.id)):
                    read[node.id] = None
        read = list(read)
        # Names the reverse stage itself defines (inside a with block, say)
        # have no place in the normalized code; they go last.
        order = self.definition_order()
        read.sort(key=lambda name: order.get(name, len(order)))
        # Globals and class attributes the adjoint reads are saved too, so
        # that a later change by the caller does not reach a `vjp`.
        free = free_reads.hoist_free_reads(
            self.adjoint_body, self.context.source.namespace,
            primal_names | adjoints | set(self.normalized.params)
            | self.snapshots,
            {*self.extra_globals, self.numpy_alias, self.runtime_alias,
             saved_name, primal_name, adjoint_name}, self.namer, found)
        free = [(name, value) for name, value in free if name not in read]
        read += [name for name, _ in free]
        if self.tape_name is not None:
            read.append(self.tape_name)
            self.primal_body.insert(0, _assign(self.tape_name, gast.List(
                elts=[], ctx=gast.Load())))
        saved_values = dict(free)  # names of free reads -> what they save
        saved = gast.Tuple(elts=[saved_values.get(n) or _name(n)
                                 for n in read], ctx=gast.Load())
        self.primal_body += self.write_backs
        self.primal_body.append(gast.Return(
            value=gast.Tuple(elts=[copy_tree(returned.value), saved],
                             ctx=gast.Load())))
        if read:
            unpack = gast.Tuple(elts=[_name(n, gast.Store()) for n in read],
                                ctx=gast.Store())
            self.adjoint_body.insert(0, _assign(unpack, _name(saved_name)))

        seed = self.adjoint_name(self.result_name) if self.result_name \
            else self.namer.fresh('dresult')
        primal = gast.FunctionDef(
            name=primal_name,
            args=copy_tree(self.normalized.tree.args),
            body=self.primal_body, decorator_list=[], returns=None,
            type_comment=None, type_params=[])
        adjoint_args = gast.arguments(
            args=[_name(saved_name, gast.Param()), _name(seed, gast.Param())],
            posonlyargs=[], vararg=None, kwonlyargs=[], kw_defaults=[],
            kwarg=None, defaults=[])
        adjoint = gast.FunctionDef(
            name=adjoint_name, args=adjoint_args, body=self.adjoint_body,
            decorator_list=[], returns=None, type_comment=None,
            type_params=[])
        return ReverseProgram(primal, adjoint, self.wrt, self.extra_globals,
                              self.numpy_alias, self.runtime_alias,
                              self.tape_name is not None,
                              bool(self.dynamic_calls),
                              frozenset(self.normalized.temporaries),
                              self.shapes, self.scalars, self.scalar_types,
                              seeded=bool(self.context.scalar_params) or (
                                  self.context.argument_shapes is not None),
                              scalar_result=self.result_name
                              in self.scalar_types)

    def adjoints_read(self):
        adjoints = set(self.adjoint_names.values())
        read = {}  # an ordered set
        for statement in self.adjoint_body:
            for node in name_nodes(statement):
                if node.id in adjoints and node.id not in read:
                    read[node.id] = None
        return list(read)

    def definition_order(self):
        """Map each local name to its position in the primal; params first."""
        order = {name: -1 for name in self.normalized.params}
        for position, statement in enumerate(self.normalized.tree.body):
            if statement in self.callee_saved:
                order[self.callee_saved[statement]] = position
            for node in name_nodes(statement):
                if isinstance(node.ctx, gast.Store):
                    order.setdefault(node.id, position)
        return order

    # Tape ------------------------------------------------------------------

    @property
    def tape(self):
        if self.tape_name is None:
            self.tape_name = self.namer.fresh('tape')
        return self.tape_name

    def push_value(self, value):
        """`tape.append(value)` for an expression."""
        append = gast.Attribute(value=_name(self.tape), attr='append',
                                ctx=gast.Load())
        return gast.Expr(value=_call(append, value))

    def push(self, names, shapes=None):
        """`tape.append(x)` or `tape.append((x, y))` for a list of names.

        A name in `shapes` is pushed as `ad.shape_and_kind(name)`.
        """
        shapes = shapes or {}
        values = []
        for n in names:
            if n in shapes:
                values.append(_call(self.runtime_function('shape_and_kind'),
                                    _name(n)))
            elif n in self.snapshots:
                values.append(_call(self.runtime_function('snapshot'),
                                    _name(n)))
            else:
                values.append(_name(n))
        if len(names) == 1:
            value = values[0]
        else:
            value = gast.Tuple(elts=values, ctx=gast.Load())
        append = gast.Attribute(value=_name(self.tape), attr='append',
                                ctx=gast.Load())
        return gast.Expr(value=_call(append, value))

    def pop(self, names):
        """`x = tape.pop()` or `x, y = tape.pop()`, the inverse of `push`."""
        if len(names) == 1:
            target = _name(names[0], gast.Store())
        else:
            target = gast.Tuple(elts=[_name(n, gast.Store()) for n in names],
                                ctx=gast.Store())
        pop = gast.Attribute(value=_name(self.tape), attr='pop',
                             ctx=gast.Load())
        return _assign(target, _call(pop))

    def unstable_reads(self, statements):
        """Primal names read by adjoint code that are not stable, in order."""
        # Each set is checked as it is, not merged into a new one, because
        # this runs once per statement, and a merged copy of the local names
        # made the reverse stage quadratic in the function's length.
        local_names = self.normalized.local_names
        saved = set(self.callee_saved.values())
        snapshots = self.snapshots  # globals among them too
        adjoints = self.adjoint_name_values
        read = []
        for statement in statements:
            for node in name_nodes(statement):
                name = node.id
                if (isinstance(node.ctx, gast.Load)
                        and (name in local_names or name in saved
                             or name in snapshots)
                        and name not in adjoints
                        and not self.is_stable(name)
                        and name not in read):
                    read.append(name)
        return read

    # Primal ------------------------------------------------------------------

    def primal_block(self, statements):
        """Return a statement list's primal, with the tape pushes it needs."""
        body = []
        outer = last_line = self.enclosing_line
        for statement in statements:
            if not _is_loop_exit(statement):
                last_line = self.add_comment(body, statement, last_line)
            self.enclosing_line = getattr(statement, 'lineno', None) or outer
            if isinstance(statement, gast.If):
                branch = _branch(
                    copy_tree(statement.test),
                    self.primal_block(statement.body),
                    self.primal_block(statement.orelse))
                body.append(gast.copy_location(branch, statement))
            elif isinstance(statement, (gast.For, gast.While)):
                body += self.primal_loop(statement)
                last_line = None
            elif isinstance(statement, gast.Try):
                body += self.primal_try(statement)
                last_line = None
            elif isinstance(statement, gast.With):
                managed = gast.With(items=copy_tree(statement.items),
                                    body=self.primal_block(statement.body),
                                    type_comment=None)
                body.append(gast.copy_location(managed, statement))
                last_line = None
            else:
                body += self.immutable_check(statement)
                body += self.key_check(statement)
                checks = self.numeric_checks(statement)
                body += [self.numeric_check_statement(check)
                         for check in checks if not check.after]
                body += self.primal_statements(statement)
                body += self.item_check(statement)
                body += [self.numeric_check_statement(check)
                         for check in checks if check.after]
                body += self.global_check_after(statement)
            if self.pushed.get(statement):
                body.append(self.push(self.pushed[statement],
                                      self.shape_pushes.get(statement, {})))
        self.enclosing_line = outer
        return body

    def global_check_after(self, statement):
        """Check the globals read after `statement` when it may rebind
        them (see adcompiler.global_rebinds)."""
        names = self.global_checks.after.get(statement)
        if not names:
            return []
        return [global_rebinds.check_statement(
            self, self.global_checks.reads, names, statement)]

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
            return [gast.Expr(value=_call(
                self.runtime_function('require_immutable_item'),
                _name(variable), _name(container[0]), _name(error_name)))]
        return [gast.Expr(value=_call(self.runtime_function('require_immutable'),
                                      _name(variable), _name(error_name),
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

    def numeric_checks(self, statement):
        """Return the run-time checks of values that `statement` needs
        (see adcompiler.numeric_checks)."""
        checks = numeric_checks.numeric_checks(
            statement, self.resolution, self.activity, self.source,
            self.normalized.display_names)
        # Forward mode differentiates a length change; reverse mode does not.
        length = numeric_checks.length_check(
            statement, self.activity, self.source,
            self.normalized.display_names)
        return checks + ([] if length is None else [length])

    def numeric_check_statement(self, check):
        return numeric_checks.check_statement(
            check, self.runtime_function, self.namer, self.extra_globals)

    def primal_loop(self, statement):
        trips = self.loop_trips.get(statement)
        inner = self.primal_block(statement.body)
        if trips is not None:
            count = gast.BinOp(left=_name(trips), op=gast.Add(),
                               right=gast.Constant(value=1, kind=None))
            inner.insert(0, _assign(trips, count))
        if isinstance(statement, gast.For):
            loop = gast.For(target=copy_tree(statement.target),
                            iter=copy_tree(statement.iter), body=inner,
                            orelse=[], type_comment=None)
        else:
            loop = gast.While(test=copy_tree(statement.test), body=inner,
                              orelse=[])
        gast.copy_location(loop, statement)
        before = [] if trips is None else [
            _assign(trips, gast.Constant(value=0, kind=None))]
        return before + self.iteration_check(statement) + [loop]

    def iteration_check(self, statement):
        """`ad.require_plain_iterable(v, error)` before `for item in v`
        when v carries a derivative: the adjoint of the loop scatters the
        items' adjoints into v as into a list or an array, so it cannot
        follow a __getitem__ or __iter__ written in Python."""
        iterable = getattr(statement, 'iter', None)
        if not (isinstance(iterable, gast.Name)
                and iterable.id in self.activity.varied
                and iterable.id not in self.activity.arrays):
            return []
        text = self.normalized.display_names.get(iterable.id, iterable.id)
        error = UnsupportedSyntaxError(
            f'a for loop over {text!r}, an object whose class defines '
            '__getitem__ or __iter__ in Python,',
            self.source.location(statement),
            'the adjoint of the loop reads the items as entries of a list or '
            'an array, not through that method',
            fixes=[f'loop over the indices instead: for i in '
                   f'range(len({text})): item = {text}[i]'])
        error_name = self.namer.fresh('iteration_error')
        self.extra_globals[error_name] = error
        return [gast.Expr(value=_call(
            self.runtime_function('require_plain_iterable'),
            _name(iterable.id), _name(error_name)))]

    def primal_statements(self, statement):
        """Return one statement's primal: as written, or a callee's primal."""
        if statement in self.deferred_errors:
            return [gast.Raise(exc=_name(self.deferred_errors[statement]),
                               cause=None)]
        if statement in self.dynamic_calls:
            call = statement.value
            site_name, helper, is_method = self.dynamic_calls[statement]
            first = copy_tree(call.func.value if is_method else call.func)
            args = [copy_tree(a) for a in call.args]
            keywords = copy_tree(call.keywords)
            if helper == 'call_unpacking':
                # Every argument in order, sequences and mappings whole.
                args = [_unstarred(a) for a in args] + [k.value
                                                        for k in keywords]
                keywords = []
            dispatched = gast.Call(
                func=self.runtime_function(helper),
                args=[_name(site_name), first] + args, keywords=keywords)
            record = _name(self.callee_saved[statement], gast.Store())
            target = copy_tree(statement.targets[0])
            return [_assign(gast.Tuple(elts=[target, record],
                                       ctx=gast.Store()), dispatched)]
        if isinstance(statement, gast.Assign) and isinstance(
                statement.value, gast.Call):
            callee = self.callee_programs.get(statement)
            if callee is not None:
                target = statement.targets[0]
                saved = _name(self.callee_saved[statement], gast.Store())
                call = copy_tree(statement.value)
                call.func = _name(callee.primal_name)
                check = global_rebinds.callee_check(
                    self, self.global_checks, statement, callee.compiled)
                return check + [_assign(gast.Tuple(
                    elts=[copy_tree(target), saved], ctx=gast.Store()), call)]
        restored = statement in self.restored
        if restored and isinstance(statement, gast.Expr):
            return self.recorded_undo(statement)
        if statement in self.element_reads:
            return self.checked_element_read(statement)
        statement = copy_tree(statement)
        if _is_subscript_write(statement):
            if not restored:
                return [statement]
            # Keep the values the write overwrites, to restore them.
            target = statement.targets[0]
            old = _call(self.runtime_function('old_item'),
                        copy_tree(target.value),
                        self.index_value(target.slice))
            return [self.push_value(old), statement]
        return [statement]

    def recorded_undo(self, statement):
        """Primal of an undo in generated adjoint code (reverse over
        reverse): what it overwrites or removes, pushed, then the undo."""
        call = statement.value
        x, index = call.args[:2]
        callee = self.resolution.calls[call].callee
        if callee is runtime.restore_item:
            kept = _call(self.runtime_function('old_item'), copy_tree(x),
                         copy_tree(index))
        elif callee is runtime.undo_insert:
            kept = _call(self.runtime_function('inserted_item'),
                         copy_tree(x), copy_tree(index))
        else:
            kept = _call(self.runtime_function('last_items'),
                         copy_tree(x), copy_tree(index))
        return [self.push_value(kept), copy_tree(statement)]

    # Adjoint of statement lists and control flow -----------------------------

    def adjoint_statements(self, statements):
        """Return a statement list's adjoint: each statement's, in reverse."""
        body = []
        outer = self.enclosing_line
        last_line = outer
        for statement in reversed(statements):
            self.enclosing_line = getattr(statement, 'lineno', None) or outer
            if isinstance(statement, gast.If):
                block = self.adjoint_if(statement)
            elif isinstance(statement, gast.Try):
                block = self.adjoint_try(statement)
            elif isinstance(statement, (gast.For, gast.While)):
                block = self.adjoint_loop(statement)
            elif isinstance(statement, gast.With):
                block = self.adjoint_with(statement)
            elif isinstance(statement, gast.Expr):
                block = self.container_update_adjoint(statement)
            else:
                defined, optional = self.sets_before(statement)
                block = self.branch_adjoint_block(statement)
                if self.dynamic and self.assigns_active(statement):
                    block = self.record_assignment(statement, block)
                elif not self.dynamic:
                    block = self.guard_optional(statement, block, defined,
                                                optional)
                    block = self.with_snapshots(statement, block)
            if block:
                last_line = self.add_comment(body, statement, last_line)
                body.extend(block)
                self.note_tape_entries(statement, block)
        self.enclosing_line = outer
        return body

    def number_loop_counters(self, statements):
        """Give the loops' trip counters `trips`, `trips_1`, ... in the
        order of the loops in the source, outer loops first.

        The adjoint is written last statement first, so the names were
        taken in the reverse order. Only counters change names, so the
        names they swap are not used otherwise.
        """
        loops = [loop for loop in _loops_in_order(statements)
                 if loop in self.loop_trips]
        names = [self.loop_trips[loop] for loop in loops]
        ordered = sorted(names, key=_name_suffix)
        renames = {old: new for old, new in zip(names, ordered, strict=True)
                   if old != new}
        if not renames:
            return
        for loop, new in zip(loops, ordered, strict=True):
            self.loop_trips[loop] = new
        for statement, pushed in self.pushed.items():
            self.pushed[statement] = [renames.get(n, n) for n in pushed]
        for node in walk(gast.Module(body=self.adjoint_body,
                                     type_ignores=[])):
            if isinstance(node, gast.Name) and node.id in renames:
                node.id = renames[node.id]

    def note_tape_entries(self, statement, block):
        """Keep `statement`'s adjoint block, and the pop that starts it,
        for `repeated_pushes.drop_repeated_pushes`."""
        self.tape_entries.blocks[statement] = block
        first = block[0]
        if (statement in self.pushed and isinstance(first, gast.Assign)
                and isinstance(first.value, gast.Call)
                and isinstance(first.value.func, gast.Attribute)
                and first.value.func.attr == 'pop'
                and isinstance(first.value.func.value, gast.Name)
                and first.value.func.value.id == self.tape_name):
            self.tape_entries.pops[statement] = first

    def sets_before(self, statement):
        """Return copies of `defined` and `optional` for `guard_optional`.

        Copying them for every statement took time quadratic in the length
        of the function. When the adjoint of the statement's target is not
        optional before its block, `guard_optional` returns the block as it
        is, whatever the sets contain, so empty sets stand in for them.
        """
        target = statement.targets[0] if isinstance(
            statement, gast.Assign) else None
        if isinstance(target, gast.Name) and self.adjoint_names.get(
                target.id) in self.optional:
            return set(self.defined), set(self.optional)
        return set(), set()

    def with_snapshots(self, statement, block):
        """Without control flow, pop the copies of the values in
        `snapshots` that `block` reads, which the primal pushes after
        `statement` (with control flow, `record_assignment` does it)."""
        if not block or statement in self.pushed:
            return block
        reads = self.unstable_reads(block)
        if not reads:
            return block
        self.pushed[statement] = reads
        return [self.pop(reads)] + block

    def guard_optional(self, statement, block, defined, optional):
        """Guard the adjoint block of `statement` by `if g is not None:`
        when g, the adjoint of its target, may be None.

        `defined` and `optional` are the sets before the block was written.
        Adjoints the block assigns first are set to None before the guard,
        and may be None after it, as may those that could be before.
        """
        target = statement.targets[0] if isinstance(
            statement, gast.Assign) else None
        if not block or not isinstance(target, gast.Name):
            return block
        g_name = self.adjoint_name(target.id)
        if g_name not in optional:
            return block
        assigned = []
        for node in walk(gast.Module(body=block, type_ignores=[])):
            if (isinstance(node, gast.Name) and isinstance(node.ctx,
                                                           gast.Store)
                    and node.id in self.defined and node.id not in defined
                    and node.id not in assigned):
                assigned.append(node.id)
        self.optional |= optional | set(assigned)
        initial = [_assign(name, gast.Constant(value=None, kind=None))
                   for name in assigned]
        return initial + [self.guarded(g_name, block)]

    def assigns_active(self, statement):
        if not isinstance(statement, gast.Assign) or _is_subscript_write(
                statement) or statement in self.popped:
            return False
        return any(isinstance(n, gast.Name) and self.activity.is_active(n.id)
                   for n in walk(statement.targets[0]))

    def record_assignment(self, statement, block):
        """Guard an assignment's adjoint, reset it, and restore its inputs.

        With control flow the adjoint of the target may be None (no use of
        the value was reached), and after this block the target's earlier
        value starts with no adjoint. Primal values the block reads that are
        overwritten later are pushed after the statement and popped here.
        """
        target = statement.targets[0]
        targets = ([target.id] if isinstance(target, gast.Name)
                   else [e.id for e in target.elts])
        adjoints = [self.adjoint_name(t) for t in targets]
        reset = [_assign(a, gast.Constant(value=None, kind=None))
                 for a in adjoints]
        if not block:
            return reset
        if isinstance(target, gast.Name):
            test = gast.Compare(left=_name(adjoints[0]), ops=[gast.IsNot()],
                                comparators=[gast.Constant(value=None,
                                                           kind=None)])
            block = [gast.If(test=test, body=block + reset, orelse=[])]
        else:
            block = block + reset
        reads = self.unstable_reads(block)
        if reads:
            self.pushed[statement] = reads
            shapes = self.read_only_for_shape(block, reads)
            if shapes:
                self.shape_pushes[statement] = shapes
            block = [self.pop([shapes.get(n, n) for n in reads])] + block
        return block

    def branch_adjoint_block(self, statement):
        """`adjoint_block`, except that inside a branch a statement that
        cannot be differentiated makes the primal raise its error when the
        branch runs. Library code has branches for other array types (a
        masked array's .mask) that NumPy input never takes."""
        if not self.branch_depth:
            return self.adjoint_block(statement)
        try:
            return self.adjoint_block(statement)
        except (UnsupportedSyntaxError, ForeignCallError,
                UndefinedNameError) as err:
            error_name = self.namer.fresh(
                f'error_line{getattr(statement, "lineno", 0)}')
            self.extra_globals[error_name] = err
            self.deferred_errors[statement] = error_name
            return []

    def read_only_for_shape(self, block, names):
        """Rename the names of `names` that `block` reads only as the second
        argument of `ad.unbroadcast`; return {name: new name}.

        Those reads need the shape and kind, not the array, so the tape can
        keep `ad.shape_and_kind(name)` and the array can be freed.
        """
        shape_reads = {}
        other_reads = set()
        for node in walk(gast.Module(body=block, type_ignores=[])):
            if (isinstance(node, gast.Call)
                    and isinstance(node.func, gast.Attribute)
                    and isinstance(node.func.value, gast.Name)
                    and node.func.value.id == self.runtime_alias
                    and node.func.attr == 'unbroadcast'
                    and len(node.args) == 2
                    and isinstance(node.args[1], gast.Name)):
                shape_reads.setdefault(node.args[1].id, []).append(
                    node.args[1])
        for node in walk(gast.Module(body=block, type_ignores=[])):
            if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load)\
                    and not any(node is read for read in shape_reads.get(
                        node.id, ())):
                other_reads.add(node.id)
        renamed = {}
        for name in names:
            if name in shape_reads and name not in other_reads:
                renamed[name] = self.namer.fresh(f'{name}_shape')
                for read in shape_reads[name]:
                    read.id = renamed[name]
        return renamed

    def adjoint_if(self, statement):
        self.branch_depth += 1
        try:
            body = self.adjoint_statements(statement.body)
            orelse = self.adjoint_statements(statement.orelse)
        finally:
            self.branch_depth -= 1
        if not body and not orelse:
            return []
        test = statement.test
        block = [gast.If(test=copy_tree(test), body=body, orelse=orelse)]
        if isinstance(test, gast.Name) and not self.is_stable(test.id):
            self.pushed[statement] = [test.id]
            block.insert(0, self.pop([test.id]))
        return block

    def adjoint_try(self, statement):
        """Replay the blocks of a try statement that ran, last first.

        The primal records which handler ran (`path`: 0 for none, k for the
        k-th) and how many statements of the try block completed
        (`progress`), so an exception part way through the try block undoes
        only the statements before it.
        """
        body = []
        for position, inner in enumerate(statement.body, 1):
            block = self.adjoint_statements([inner])
            if block and not isinstance(inner, (gast.Assign, gast.Expr)):
                construct = self.normalized.expression_branches.get(
                    inner) or describe(inner)
                raise UnsupportedSyntaxError(
                    f'{construct} that carries a derivative inside a '
                    'try block', self.source.location(inner),
                    'an exception part way through it could not be undone; '
                    'move it out of the try block or into a function')
            body.append((position, block))
        handlers = [self.adjoint_statements(h.body)
                    for h in statement.handlers]
        orelse = self.adjoint_statements(statement.orelse)
        finalbody = self.adjoint_statements(statement.finalbody)
        if not (any(b for _, b in body) or any(handlers) or orelse
                or finalbody):
            return []

        record = _TryRecord(self.namer.fresh('try_path'),
                            self.namer.fresh('try_progress'),
                            {p for p, b in body if b})
        self.try_records[statement] = record
        self.pushed[statement] = [record.path, record.progress]
        block = [self.pop([record.path, record.progress])] + finalbody
        branches = [(0, orelse)] + list(enumerate(handlers, 1))
        chain = []
        for number, adjoint in reversed(branches):
            if not adjoint:
                continue
            test = gast.Compare(left=_name(record.path), ops=[gast.Eq()],
                                comparators=[gast.Constant(value=number,
                                                           kind=None)])
            chain = [gast.If(test=test, body=adjoint, orelse=chain)]
        block += chain
        for position, adjoint in reversed(body):
            if adjoint:
                test = gast.Compare(
                    left=_name(record.progress), ops=[gast.GtE()],
                    comparators=[gast.Constant(value=position, kind=None)])
                block.append(gast.If(test=test, body=adjoint, orelse=[]))
        return block

    def primal_try(self, statement):
        """Return the try statement with its blocks' primals, and the
        assignments that record which blocks ran."""
        record = self.try_records.get(statement)

        body = []
        last_comment = None
        for position, inner in enumerate(statement.body, 1):
            for primal in self.primal_block([inner]):
                # One comment per user line, as in any other block.
                comment = primal.value.value if _is_comment(primal) else None
                if comment is None or comment != last_comment:
                    body.append(primal)
                last_comment = comment or last_comment
            if record is not None and position in record.completed:
                body.append(_assign(record.progress,
                                    gast.Constant(value=position, kind=None)))

        handlers = []
        for number, handler in enumerate(statement.handlers, 1):
            handler_body = self.primal_block(handler.body)
            if record is not None:
                handler_body.insert(0, _assign(
                    record.path, gast.Constant(value=number, kind=None)))
            handlers.append(gast.copy_location(gast.ExceptHandler(
                type=copy_tree(handler.type),
                name=copy_tree(handler.name), body=handler_body),
                handler))
        primal = gast.Try(body=body, handlers=handlers,
                          orelse=self.primal_block(statement.orelse),
                          finalbody=self.primal_block(statement.finalbody))
        gast.copy_location(primal, statement)
        if record is None:
            return [primal]
        start = [_assign(record.path, gast.Constant(value=0, kind=None)),
                 _assign(record.progress, gast.Constant(value=0, kind=None))]
        return start + [primal]


    def adjoint_with(self, statement):
        """Run the body's adjoint under the same context managers.

        The managers are made again from their arguments; the `as` names,
        which the body's adjoint does not read, are not bound.
        """
        body = self.adjoint_statements(statement.body)
        if not body:
            return []
        items = [gast.withitem(context_expr=copy_tree(item.context_expr),
                               optional_vars=None)
                 for item in statement.items]
        block = [gast.With(items=items, body=body, type_comment=None)]
        reads = self.unstable_reads([gast.Expr(value=item.context_expr)
                                     for item in items])
        if reads:
            self.pushed[statement] = reads
            block.insert(0, self.pop(reads))
        return block

    def adjoint_loop(self, statement):
        """Replay a loop backwards: the same number of trips, last first."""
        body = self.adjoint_statements(statement.body)
        element = (self.iteration_adjoint(statement)
                   if isinstance(statement, gast.For) else [])
        if not body and not element:
            return []
        # `number_loop_counters` puts the names in source order later.
        trips = self.namer.fresh('trips')
        self.loop_trips[statement] = trips
        index = self.iteration_index.get(statement)
        if index is None:
            if self.unread_index is None:
                self.unread_index = self.namer.fresh('_')
            index = self.unread_index
        reverse_range = _call(self.runtime_function('reversed_range'),
                              _name(trips))
        loop = gast.For(target=_name(index, gast.Store()), iter=reverse_range,
                        body=body + element, orelse=[], type_comment=None)
        recorded = [trips] + self.unstable_reads(element)
        self.pushed[statement] = recorded
        return [self.pop(recorded), loop]

    def iteration_adjoint(self, statement):
        """Adjoint of the element each iteration of `for target in ...` reads."""
        sources = self.iteration_sources(statement)
        index = self.namer.fresh('k')
        self.iteration_index[statement] = index
        block = []
        assigned = {n.id for b in statement.body for n in walk(b)
                    if isinstance(n, gast.Name) and isinstance(n.ctx,
                                                               gast.Store)}
        # Updated in place in the body (x[i] = v, lst.append(v)): the loop
        # item the adjoint reads would be the changed one.
        assigned |= {n.value.id for b in statement.body for n in walk(b)
                     if isinstance(n, gast.Subscript)
                     and isinstance(n.ctx, gast.Store)
                     and isinstance(n.value, gast.Name)}
        assigned |= {n.func.value.id for b in statement.body
                     for n in walk(b) if isinstance(n, gast.Call)
                     and isinstance(n.func, gast.Attribute)
                     and isinstance(n.func.value, gast.Name)
                     and n.func.attr in ('append', 'extend', 'insert', 'pop',
                                         'remove', 'sort', 'reverse')}
        for iterable, position, target_name in sources:
            if not (self.activity.is_active(target_name)
                    and self.is_active(iterable)):
                continue
            if iterable.id in assigned:
                raise UnsupportedSyntaxError(
                    f'a loop over {iterable.id!r} that assigns or updates '
                    f'{iterable.id!r} in its body',
                    self.source.location(statement),
                    'the loop keeps reading the old value; iterate over a '
                    'copy under another name')
            adjoint = self.adjoint_name(target_name)
            if position == 'reversed':
                item = gast.BinOp(left=gast.Constant(value=-1, kind=None),
                                  op=gast.Sub(), right=_name(index))
            else:
                item = _name(index)
            # A loop over a dict takes its keys, which carry no derivative
            # (ad.iteration_adjoint gives the dict none).
            scattered = _call(self.runtime_function('iteration_adjoint'),
                              _name(adjoint), _name(iterable.id), item)
            guarded = gast.If(
                test=gast.Compare(left=_name(adjoint), ops=[gast.IsNot()],
                                  comparators=[gast.Constant(value=None,
                                                             kind=None)]),
                body=self.accumulate(iterable.id, scattered) + [
                    _assign(adjoint, gast.Constant(value=None, kind=None))],
                orelse=[])
            block.append(guarded)
        # Each iteration assigns the targets anew, so an adjoint left over
        # from this iteration's uses must not reach the previous iteration.
        for name in self.target_names(statement):
            if self.activity.is_active(name):
                block.append(_assign(self.adjoint_name(name),
                                     gast.Constant(value=None, kind=None)))
        if not any(isinstance(b, gast.If) for b in block):
            del self.iteration_index[statement]
        return block

    @staticmethod
    def target_names(loop):
        target = loop.target
        return ([target.id] if isinstance(target, gast.Name)
                else [e.id for e in target.elts])

    def iteration_sources(self, statement):
        """[(iterable atom, kind, target name)] for the elements a loop reads.

        `for a in x` reads x[k] into a; enumerate(x) reads x[k] into the
        second target; zip(x, y) reads x[k] and y[k]; reversed(x) reads
        x[-1 - k]; range reads no element.
        """
        iterable = statement.iter
        target = statement.target
        names = ([target.id] if isinstance(target, gast.Name)
                 else [e.id for e in target.elts])
        if isinstance(iterable, gast.Call):
            function = iterable.func.id
            args = iterable.args
            if function == 'range':
                return []
            if function == 'enumerate' and len(names) == 2:
                return [(args[0], 'index', names[1])]
            if function == 'zip' and len(names) == len(args):
                return [(a, 'index', n) for a, n in zip(args, names,
                                                        strict=True)]
            if function == 'reversed' and len(names) == 1:
                return [(args[0], 'reversed', names[0])]
            if any(self.is_active(a) for a in args):
                raise UnsupportedSyntaxError(
                    f'a loop over {function}(...) unpacked into '
                    f'{len(names)} names', self.source.location(statement))
            return []
        if len(names) != 1:
            if self.is_active(iterable):
                raise UnsupportedSyntaxError(
                    'unpacking the rows of a differentiated value in a for '
                    'loop target', self.source.location(statement.target))
            return []
        return [(iterable, 'index', names[0])]

    # Adjoint ---------------------------------------------------------------

    def adjoint_block(self, statement):
        """Return one statement's adjoint, or [] if it is not active."""
        if not isinstance(statement, gast.Assign):
            return []
        target = statement.targets[0]
        value = statement.value
        if isinstance(value, gast.Call) and isinstance(target, gast.Name) \
                and not self.activity.is_active(target.id):
            self.check_foreign_writes(statement)
        if isinstance(value, gast.Call) and not any(
                isinstance(n, gast.Name) and self.activity.is_active(n.id)
                for n in walk(target)):
            self.check_unused_result(statement)
        if isinstance(target, (gast.Tuple, gast.List)):
            return self.unpack_adjoint(target, value)
        if isinstance(target, gast.Subscript):
            return self.subscript_write_adjoint(statement)
        if (isinstance(value, gast.Call)
                and isinstance(value.func, gast.Attribute)
                and value.func.attr == 'pop'
                and isinstance(value.func.value, gast.Name)
                and value.func.value.id in self.activity.varied):
            # Undone in the adjoint even when the popped value is unused,
            # and even when the list carries no derivative: the adjoint may
            # read the list's structure (a tape that generated code pops).
            return self.list_pop_adjoint(statement)
        if not self.activity.is_active(target.id):
            return []
        g_name = self.adjoint_name(target.id)
        if not self.dynamic and g_name not in self.defined:
            return []  # The adjoint of the result is zero.
        g = _name(g_name)

        if isinstance(value, (gast.Constant, gast.Compare, gast.JoinedStr)):
            return []
        if isinstance(value, gast.UnaryOp) and isinstance(value.op, gast.Not):
            # A bool, which has no derivative. Its target may still be
            # active when a lowered `or`/`and` also stores a value there.
            return []
        if isinstance(value, gast.Name):
            return self.accumulate(value.id, g) if self.is_active(value) else []
        if isinstance(value, (gast.Tuple, gast.List)):
            return self.literal_adjoint(value, g)
        if isinstance(value, gast.Dict):
            block = []
            for key, element in zip(value.keys, value.values, strict=True):
                if self.is_active(element):
                    item = gast.Subscript(value=copy_tree(g),
                                          slice=copy_tree(key),
                                          ctx=gast.Load())
                    block += self.accumulate(element.id, item,
                                             optional=True)
            return block
        if isinstance(value, gast.BinOp):
            function = _BINARY_OPERATORS.get(type(value.op))
            return self.rule_adjoint(statement, function, [value.left,
                                                           value.right], {})
        if isinstance(value, gast.UnaryOp):
            function = _UNARY_OPERATORS.get(type(value.op))
            return self.rule_adjoint(statement, function, [value.operand], {})
        if isinstance(value, gast.Subscript):
            index = self.index_value(value.slice)
            return self.rule_adjoint(statement, operator.getitem,
                                     [value.value, index], {})
        if isinstance(value, gast.Attribute):
            template = self.registry.lookup_attribute(value.attr)
            if template is NON_DIFFERENTIABLE:
                return []
            if template is None:
                # An attribute of an object, such as a dataclass field or a
                # property: the runtime finds which part of the object it is.
                return self.accumulate(value.value.id, _call(
                    self.runtime_function('attribute_adjoint'),
                    _name(self.adjoint_name(statement.targets[0].id)),
                    _name(value.value.id),
                    gast.Constant(value=value.attr, kind=None)),
                    optional=True)
            # NOTE: a rule registered for an array attribute (.T, .size) is
            # applied by name. grad rejects a container argument with a float
            # field of such a name, but other objects are not checked.
            return self.expand(template, statement, [value.value], {})
        if isinstance(value, gast.Call):
            return self.call_adjoint(statement)
        raise InternalCompilerError(self.source.name, 'reverse',
                                    f'active {type(value).__name__} statement')

    def check_unused_result(self, statement):
        """Reject an assignment from a call that may change in place a
        value that carries a derivative, when its target carries none
        (`_ = np.copyto(a, v)`, `b = set_first(a, v)` with b never read):
        the adjoint would have no block for the change."""
        if aliasing.is_generated(self.source):
            return  # Generated code assigns what its calls change.
        if _is_list_pop(statement.value):
            return  # Differentiated by list_pop_adjoint, used or not.
        if call_writes.check_unused_result(statement, self.normalized,
                                           self.resolution, self.activity,
                                           self.source):
            self.check_discarded_call(
                statement, self.resolution.calls[statement.value])

    def check_foreign_writes(self, statement):
        """Reject a foreign call such as `_ = np.copyto(y, x)`.

        Its result carries no derivative, it is given a value that carries
        one, and it is given an array that carries none but that the output
        depends on. The call may write into that array, and the gradient
        would not follow.
        """
        call = statement.value
        resolved = self.resolution.calls.get(call)
        if resolved is None or resolved.kind is not CallKind.FOREIGN:
            return
        names = [a for a in [_unstarred(a) for a in call.args]
                 + [k.value for k in call.keywords]
                 if isinstance(a, gast.Name)]
        varied = [a for a in names if a.id in self.activity.varied]
        written = [a for a in names if a.id in self.activity.useful
                   and a.id not in self.activity.varied]
        if varied and written:
            display = self.normalized.display_names
            raise UnsupportedSyntaxError(
                f'a call of {resolved.name} with '
                f'{display.get(varied[0].id, varied[0].id)!r}, which carries '
                'a derivative, and '
                f'{display.get(written[0].id, written[0].id)!r}, which the '
                'result depends on', self.source.location(call),
                f'{resolved.name} has no gradient rule and may write into '
                'its arguments, which the gradient would not follow',
                fixes=['assign the new value instead of writing it into an '
                       'existing array',
                       'register a rule with adcompiler.register_vjp'])

    def subscript_write_adjoint(self, statement):
        """Adjoint of `x[index] = v`, then the old values of x[index] restored.

        The written part of x passes its adjoint to v; the old values there
        no longer reach the output, so their adjoint is zero.
        """
        target = statement.targets[0]
        base = target.value.id
        value = statement.value
        index = self.index_value(target.slice)
        block = []
        if self.activity.is_active(base):
            adjoint = self.adjoint_name(base)
            inner = []
            if self.is_active(value):
                inner += self.accumulate(value.id, _call(
                    self.runtime_function('written_adjoint'), _name(adjoint),
                    _name(base), copy_tree(index), _name(value.id)))
            inner.append(_assign(adjoint, _call(
                self.runtime_function('zero_index'), _name(adjoint), index)))
            block.append(gast.If(
                test=gast.Compare(left=_name(adjoint), ops=[gast.IsNot()],
                                  comparators=[gast.Constant(value=None,
                                                             kind=None)]),
                body=inner, orelse=[]))
        reads = self.unstable_reads(block + [copy_tree(statement)])
        if reads:
            self.pushed[statement] = reads
            block.insert(0, self.pop(reads))
        # Undo the write, so that earlier statements see the old values.
        self.restored.add(statement)
        pop = gast.Attribute(value=_name(self.tape), attr='pop',
                             ctx=gast.Load())
        block.append(gast.Expr(value=_call(
            self.runtime_function('restore_item'), _name(base), index,
            _call(pop))))
        return block

    def container_update_adjoint(self, statement):
        """Adjoint of `lst.append(v)` or `lst.extend(seq)`, then the undo.

        The last entries of the list's adjoint go to what was added; the
        primal list gets them removed again, so that earlier statements see
        the list they saw.
        """
        call = statement.value
        resolved = self.resolution.calls.get(call)
        helper = getattr(resolved, 'callee', None)
        if helper is runtime.restore_item:
            return self.restore_item_adjoint(statement)
        if helper is runtime.remove_last:
            return self.remove_last_adjoint(statement)
        if helper is runtime.undo_insert:
            return self.undo_insert_adjoint(statement)
        if helper is runtime.undo_pop:
            return self.undo_pop_adjoint(statement)
        if resolved is not None and resolved.kind is CallKind.USER:
            self.check_discarded_call(statement, resolved)
            return []
        if resolved is not None:
            self.check_effect_only_call(statement, resolved)
        if not (isinstance(call, gast.Call)
                and isinstance(call.func, gast.Attribute)
                and isinstance(call.func.value, gast.Name)
                and self.activity.is_active(call.func.value.id)):
            return []
        method = call.func.attr
        receiver = call.func.value.id
        if method == 'insert' and len(call.args) == 2 and not call.keywords:
            return self.list_insert_adjoint(statement)
        if method not in ('append', 'extend') or len(call.args) != 1 or \
                call.keywords:
            raise UnsupportedSyntaxError(
                f'the method {method}() on {receiver!r}, which carries a '
                'derivative', self.source.location(call),
                'only append, extend, insert and pop can change a '
                'differentiated list')
        added = call.args[0]
        adjoint = self.adjoint_name(receiver)
        inner = []
        if self.is_active(added):
            helper = 'last_adjoint' if method == 'append' else 'tail_adjoint'
            inner += self.accumulate(added.id, _call(
                self.runtime_function(helper), _name(adjoint),
                copy_tree(added)))
        count = (gast.Constant(value=1, kind=None) if method == 'append'
                 else _call(self.runtime_function('length'),
                            copy_tree(added)))
        inner.append(_assign(adjoint, _call(
            self.runtime_function('drop_last'), _name(adjoint), count)))
        block = [gast.If(
            test=gast.Compare(left=_name(adjoint), ops=[gast.IsNot()],
                              comparators=[gast.Constant(value=None,
                                                         kind=None)]),
            body=inner, orelse=[])]
        block.append(gast.Expr(value=_call(
            self.runtime_function('remove_last'), _name(receiver),
            copy_tree(count))))
        reads = self.unstable_reads(block)
        if reads:
            self.pushed[statement] = reads
            block.insert(0, self.pop(reads))
        return block

    def restore_item_adjoint(self, statement):
        """Adjoint of `ad.restore_item(x, index, old)` in generated adjoint
        code (reverse over reverse): the write `x[index] = old`."""
        x, index, old = statement.value.args
        # NOTE: restoring a dict key that the write added deletes the key.
        # Seen as a write of the marker value, its adjoint fails at run time.
        write = gast.copy_location(gast.Assign(
            targets=[gast.Subscript(value=copy_tree(x),
                                    slice=copy_tree(index),
                                    ctx=gast.Store())],
            value=copy_tree(old), type_comment=None), statement)
        block = self.subscript_write_adjoint(write)
        # The primal records the overwritten values for this statement.
        self.restored.discard(write)
        self.restored.add(statement)
        if write in self.pushed:
            self.pushed[statement] = self.pushed.pop(write)
        return block

    def remove_last_adjoint(self, statement):
        """Adjoint of `ad.remove_last(x, count)` in generated adjoint code
        (reverse over reverse): the removed entries get zero adjoints, and
        the primal list gets them back from the tape."""
        x, _ = statement.value.args
        removed = self.namer.fresh('removed')
        block = [self.pop([removed])]
        if self.is_active(x):
            adjoint = self.adjoint_name(x.id)
            block.append(self.guarded(adjoint, [_assign(adjoint, _call(
                self.runtime_function('pad_tail'), _name(adjoint),
                _name(removed), _call(self.runtime_function('length'),
                                      _name(removed))))]))
        extend = gast.Attribute(value=copy_tree(x), attr='extend',
                                ctx=gast.Load())
        block.append(gast.Expr(value=_call(extend, _name(removed))))
        self.restored.add(statement)
        return self.with_recorded_reads(statement, block)

    def undo_insert_adjoint(self, statement):
        """Adjoint of `ad.undo_insert(x, index)` in generated adjoint code
        (reverse over reverse): the removed entry, which nothing read
        afterwards, gets a zero adjoint and goes back into the list."""
        x, index = statement.value.args
        removed = self.namer.fresh('removed')
        insert = gast.Attribute(value=copy_tree(x), attr='insert',
                                ctx=gast.Load())
        block = [self.pop([removed]), gast.Expr(value=_call(
            insert, copy_tree(index), _name(removed)))]
        if self.is_active(x):
            adjoint = self.adjoint_name(x.id)
            position = _call(self.runtime_function('inserted_position'),
                             copy_tree(x), copy_tree(index))
            block.append(self.guarded(adjoint, [_assign(adjoint, _call(
                self.runtime_function('pad_entry'), _name(adjoint),
                position))]))
        self.restored.add(statement)
        return self.with_recorded_reads(statement, block)

    def undo_pop_adjoint(self, statement):
        """Adjoint of `ad.undo_pop(x, index, v)` in generated adjoint code
        (reverse over reverse): v, put back into the list, is taken out
        again, and the adjoint of its entry goes to v."""
        x, index, value = statement.value.args
        pop = gast.Attribute(value=copy_tree(x), attr='pop',
                             ctx=gast.Load())
        block = [gast.Expr(value=_call(pop, copy_tree(index)))]
        if self.is_active(x):
            adjoint = self.adjoint_name(x.id)
            inner = []
            if self.is_active(value):
                inner += self.accumulate(value.id, _call(
                    self.runtime_function('popped_entry'), _name(adjoint),
                    copy_tree(x), copy_tree(index)), optional=True)
            inner.append(_assign(adjoint, _call(
                self.runtime_function('without_popped_entry'),
                _name(adjoint), copy_tree(x), copy_tree(index))))
            block.append(self.guarded(adjoint, inner))
        return self.with_recorded_reads(statement, block)

    def dynamic_call_adjoint(self, statement, resolved, unpacking=False):
        """Adjoint of a call resolved at run time (see adcompiler.dispatch)."""
        call = statement.value
        is_method = resolved.kind is CallKind.METHOD
        # Number 0 is the receiver of a method, or the called value itself.
        arguments = [call.func.value if is_method else call.func] + [
            _unstarred(a) for a in call.args] + [k.value for k in
                                                 call.keywords]
        site = call_site(call, is_method, self.is_active, self.normalized,
                         self.activity, self.source.location(call),
                         self.context.call_chain)
        active = site.active
        lineno = getattr(call, 'lineno', 0)
        site_name = self.namer.fresh(f'call_site_line{lineno}')
        self.extra_globals[site_name] = site

        target = statement.targets[0].id
        record = self.namer.fresh(f'{target}_record')
        self.callee_saved[statement] = record
        if unpacking or any(number > len(call.args) for number in active):
            # call_unpacking takes every argument by position, so that the
            # rules of second derivatives reach keyword arguments too.
            helper = 'call_unpacking'
        else:
            helper = 'call_method' if is_method else 'call_function'
        self.dynamic_calls[statement] = (site_name, helper, is_method)
        results = self.namer.fresh(f'd{target}_args')
        block = [_assign(results, _call(self.runtime_function('call_adjoint'),
                                        _name(record),
                                        _name(self.adjoint_name(target))))]
        for position, number in enumerate(active):
            item = gast.Subscript(value=_name(results),
                                  slice=gast.Constant(value=position,
                                                      kind=None),
                                  ctx=gast.Load())
            block += self.accumulate(arguments[number].id, item,
                                     optional=True)
        return block

    def guarded(self, adjoint, body):
        """`if <adjoint> is not None: body`."""
        test = gast.Compare(left=_name(adjoint), ops=[gast.IsNot()],
                            comparators=[gast.Constant(value=None, kind=None)])
        return gast.If(test=test, body=body, orelse=[])

    def with_recorded_reads(self, statement, block):
        reads = self.unstable_reads(block)
        if reads:
            self.pushed[statement] = reads
            block.insert(0, self.pop(reads))
        return block

    def list_insert_adjoint(self, statement):
        """Adjoint of `lst.insert(i, v)`, then the entry removed again."""
        call = statement.value
        receiver = call.func.value.id
        index, added = call.args
        adjoint = self.adjoint_name(receiver)
        position = _call(self.runtime_function('inserted_position'),
                         _name(receiver), copy_tree(index))
        inner = []
        if self.is_active(added):
            item = gast.Subscript(value=_name(adjoint), slice=position,
                                  ctx=gast.Load())
            inner += self.accumulate(added.id, _call(
                self.runtime_function('unbroadcast'), item,
                copy_tree(added)))
        inner.append(_assign(adjoint, _call(
            self.runtime_function('drop_entry'), _name(adjoint),
            copy_tree(position))))
        undo = gast.Expr(value=_call(self.runtime_function('undo_insert'),
                                     _name(receiver), copy_tree(index)))
        return self.with_recorded_reads(
            statement, [self.guarded(adjoint, inner), undo])

    def list_pop_adjoint(self, statement):
        """Adjoint of `v = lst.pop(i)`, then v put back into the list."""
        call = statement.value
        receiver = call.func.value.id
        if len(call.args) > 1 or call.keywords:
            raise UnsupportedSyntaxError(
                'pop() with a default value or keywords',
                self.source.location(call),
                'adcompiler differentiates lst.pop(), lst.pop(i) and '
                'd.pop(key), which remove an item that exists',
                fixes=['read the value with d.get(key, default), then build '
                       'the dict without the key: d = {k: v for k, v in '
                       'd.items() if k != key}'])
        index = (copy_tree(call.args[0]) if call.args
                 else gast.Constant(value=-1, kind=None))
        target = statement.targets[0].id
        adjoint = self.adjoint_name(receiver)
        popped = (_name(self.adjoint_name(target))
                  if self.activity.is_active(target)
                  else gast.Constant(value=None, kind=None))
        restore = _assign(adjoint, _call(
            self.runtime_function('insert_adjoint'), _name(adjoint),
            _name(receiver), copy_tree(index), popped, _name(target)))
        block = [restore]
        if self.activity.is_active(target):
            block.append(_assign(self.adjoint_name(target),
                                 gast.Constant(value=None, kind=None)))
        block.append(gast.Expr(value=_call(
            self.runtime_function('undo_pop'), _name(receiver),
            copy_tree(index), _name(target))))
        self.popped.add(statement)
        return self.with_recorded_reads(statement, block)

    def check_effect_only_call(self, statement, resolved):
        """Reject a call kept only for its effect that may store a value
        carrying a derivative somewhere the adjoint cannot see."""
        call = statement.value
        is_method = resolved.kind is CallKind.METHOD
        receiver = call.func.value if is_method else None
        varied = [a for a in [_unstarred(a) for a in call.args]
                  + [k.value for k in call.keywords]
                  if isinstance(a, gast.Name) and a.id in self.activity.varied]
        receiver_varied = isinstance(receiver, gast.Name) and \
            receiver.id in self.activity.varied
        if not varied and not receiver_varied:
            return
        location = self.source.location(call)
        if any(k.arg == 'out' for k in call.keywords):
            raise UnsupportedSyntaxError(
                'an out= argument', location,
                'writing a result into an existing array is an update in '
                'place that the gradient would not follow; assign the result '
                'instead')
        if is_method:
            if call.func.attr in aliasing.LIST_UPDATES | aliasing.VALUE_METHODS:
                return
            if receiver.id in self.normalized.set_comprehensions:
                if not self.activity.is_active(receiver.id):
                    return  # Only its size or membership is read.
                raise comprehensions.set_comprehension_error(location)
            raise UnsupportedSyntaxError(
                f'the method .{call.func.attr}() on a value that carries a '
                'derivative, or with one as argument, whose result is unused',
                location,
                'it may change its object in place, which the gradient would '
                'not follow; use a function that returns a new value, or, if '
                'the method only reads its arguments (plotting or logging), '
                'pass adcompiler.stop_gradient(value) in place of each value '
                'that carries a derivative')
        if resolved.kind is CallKind.FOREIGN:
            self.raise_foreign(statement, resolved.name, resolved.reason)
        if resolved.kind is CallKind.UNKNOWN:
            raise UnsupportedSyntaxError(
                f'a call of {resolved.name!r} ({resolved.reason}) with a value '
                'that carries a derivative, whose result is unused', location,
                'the callee may keep the value or change it in place; assign '
                'the result, or make the call outside the differentiated '
                'function')

    def check_discarded_call(self, statement, resolved):
        """A call whose result is unused may still fill a container argument
        with values that carry a derivative; reject that case."""
        call = statement.value
        if has_unpacking(call):
            reject_unused_unpacking_call(call, resolved.name,
                                         self.activity.varied,
                                         self.source.location(call))
            return
        signature = transformed_signature(resolved.callee)
        try:
            bound = signature.bind(*call.args,
                                   **{k.arg: k.value for k in call.keywords})
        except TypeError:
            return  # Python raises the TypeError when the primal runs.
        varied = tuple(p for p, a in bound.arguments.items()
                       if isinstance(a, gast.Name)
                       and a.id in self.activity.varied)
        if not varied:
            return
        chain = tuple(self.context.call_chain) + (
            chain_name(resolved.callee, self.source.namespace,
                       resolved.name),)
        callee = self.compile_callee_at(call, resolved.callee, varied, chain)
        self.check_callee_updates(call, resolved, callee, bound,
                                  discarded=True)

    def check_callee_updates(self, call, resolved, callee, bound,
                             discarded=False):
        """Reject a callee that changes a container argument in place when
        that container carries a derivative.

        With `discarded`, the call runs as written, so a parameter that an
        augmented assignment may update in place (`a *= s`) counts as
        updated too when its argument carries a derivative or is read by
        code that carries one. A call whose result is used runs the
        callee's primal instead, which checks when it runs that such a
        parameter holds a number.
        """
        augmented = (call_writes.augmented_parameters(resolved.callee)
                     if discarded else frozenset())
        for param in list(callee.updated) + sorted(
                augmented - set(callee.updated)):
            argument = bound.arguments.get(param)
            if param in augmented and isinstance(argument, gast.Name) and (
                    argument.id in self.activity.useful):
                self.raise_callee_update(call, resolved, argument, param)
            if param in callee.updated_with_derivative or (
                    isinstance(argument, gast.Name)
                    and argument.id in self.activity.varied):
                self.raise_callee_update(call, resolved, argument, param)

    def raise_callee_update(self, call, resolved, argument, param):
        raise call_writes.callee_update_error(
            resolved.name, param, self.display(argument),
            self.source.location(call), resolved.callee)

    def display(self, node):
        return _display(node, self.normalized.display_names)

    def unpack_adjoint(self, target, value):
        names = [e.id for e in target.elts]
        if not self.is_active(value):
            return []
        adjoints = []
        for name in names:
            adjoint = self.adjoint_names.get(name)
            if self.dynamic and self.activity.is_active(name):
                adjoint = self.adjoint_name(name)
            if self.activity.is_active(name) and (
                    self.dynamic or adjoint in self.defined):
                adjoints.append(_name(adjoint))
            else:
                adjoints.append(gast.Constant(value=None, kind=None))
        if all(isinstance(a, gast.Constant) for a in adjoints):
            return []
        combined = _call(self.runtime_function('unpack_adjoint'),
                         _name(value.id),
                         gast.Tuple(elts=adjoints, ctx=gast.Load()))
        # The result is None when every adjoint is.
        optional = all(isinstance(a, gast.Constant) or a.id in self.optional
                       for a in adjoints)
        return self.accumulate(value.id, combined, optional=optional)

    def literal_adjoint(self, value, g):
        block = []
        for position, element in enumerate(value.elts):
            if self.is_active(element):
                item = gast.Subscript(value=copy_tree(g),
                                      slice=gast.Constant(value=position,
                                                          kind=None),
                                      ctx=gast.Load())
                block += self.accumulate(element.id, item, optional=True)
        return block

    def call_adjoint(self, statement):
        call = statement.value
        resolved = self.resolution.calls[call]
        kind = resolved.kind
        if has_unpacking(call) and kind is not CallKind.NON_DIFFERENTIABLE:
            return self.unpacking_call_adjoint(statement, resolved)
        if kind is CallKind.RULE:
            return self.rule_adjoint(statement, resolved.callee, call.args,
                                     {k.arg: k.value for k in call.keywords},
                                     resolved.rule)
        if kind is CallKind.METHOD:
            if resolved.rule is None or \
                    call in self.activity.dispatched_calls:
                return self.dynamic_call_adjoint(statement, resolved)
            # A method with an array rule (x.sum(), x.dot(y)) on a receiver
            # proven to be an array (see adcompiler.array_receivers) gets
            # that rule. A differentiated parameter counts as one unless its
            # argument contains an object with a member of such a name (see
            # rules.operators.holds_operator_object).
            return self.expand(resolved.rule, statement,
                               [call.func.value] + list(call.args),
                               {k.arg: k.value for k in call.keywords})
        if kind is CallKind.USER:
            return self.user_call_adjoint(statement, resolved)
        if kind is CallKind.CONSTRUCTOR:
            return self.constructor_adjoint(statement, resolved)
        if kind is CallKind.NON_DIFFERENTIABLE:
            return []
        if kind is CallKind.FOREIGN:
            self.raise_foreign(statement, resolved.name, resolved.reason)
        if kind is CallKind.UNKNOWN and resolved.reason != 'name not defined':
            return self.dynamic_call_adjoint(statement, resolved)
        if kind is CallKind.UNKNOWN:
            if resolved.reason == 'name not defined':
                raise UndefinedNameError(resolved.name,
                                         self.source.location(call))
            raise UnsupportedSyntaxError(
                f'a call of {resolved.reason} ({resolved.name})',
                self.source.location(call),
                'the callee is not known when the function is compiled')
        raise InternalCompilerError(self.source.name, 'reverse',
                                    f'active call of kind {kind}')

    def unpacking_call_adjoint(self, statement, resolved):
        """Adjoint of `f(*seq, **mapping)`: the call is bound to f's
        parameters when it runs, by the dispatcher."""
        call = statement.value
        location = self.source.location(call)
        if resolved.kind is CallKind.FOREIGN:
            self.raise_foreign(statement, resolved.name, resolved.reason)
        if resolved.kind is CallKind.UNKNOWN and \
                resolved.reason == 'name not defined':
            raise UndefinedNameError(resolved.name, location)
        return self.dynamic_call_adjoint(statement, resolved, unpacking=True)

    def raise_foreign(self, statement, callee_name, reason, receiver=None):
        call = statement.value
        arguments = ([receiver] if receiver is not None else []) + list(
            call.args) + [k.value for k in call.keywords]
        active = next((a for a in arguments if isinstance(a, gast.Name)
                       and a.id in self.activity.varied), None)
        active_name = active.id if active is not None else '?'
        display = self.normalized.display_names
        wrt_input = self.activity.origin.get(active_name, '?')
        raise ForeignCallError(
            callee_name, reason, self.source.location(call),
            display.get(active_name, active_name),
            display.get(wrt_input, wrt_input), list(self.context.call_chain),
            written_name=self.written_name(call.func),
            updates_argument=isinstance(statement, gast.Expr))

    def rule_adjoint(self, statement, function, args, keywords, rule=None):
        if rule is None:
            rule = self.registry.lookup(function)
        if rule is NON_DIFFERENTIABLE:
            return []
        if rule is None:
            raise InternalCompilerError(
                self.source.name, 'reverse',
                f'no gradient rule for the operation {function!r}')
        if rule.template is not None:
            args, keywords = rule_arguments(function, rule.template, args,
                                            keywords)
            return self.expand(rule.template, statement, args, keywords,
                               function)
        if rule.vjp_function is None and _has_source_to_transform(function):
            # A helper of generated code with only a forward rule: reverse
            # mode goes through its source, as through a user function.
            return self.user_call_adjoint(statement, ResolvedCall(
                CallKind.USER, function.__name__, function))
        if rule.vjp_function is None:
            raise UnsupportedSyntaxError(
                f'reverse mode through {getattr(function, "__name__", function)}',
                self.source.location(statement.value),
                'it has only a forward rule',
                fixes=['use forward mode: jvp, or hvp and hessian with '
                       "mode='forward-over-reverse' (the default)",
                       'or register a reverse rule with '
                       'adcompiler.register_vjp'])
        return self.function_rule_adjoint(statement, rule, args, keywords)

    def function_rule_adjoint(self, statement, rule, args, keywords):
        """Adjoint of a call whose rule is a user callable (register_vjp)."""
        name = getattr(rule.callee, '__name__', 'callee')
        block = []
        for keyword, value in keywords.items():
            if self.is_active(value):
                # The rule returns cotangents for positional arguments only.
                # Activity may mark a keyword active that contains no float
                # at run time (a module unpacked from saved values in
                # generated code), so the check runs with the adjoint.
                error = UnsupportedSyntaxError(
                    f'the keyword argument {keyword}= that carries a '
                    f'derivative in a call of {name}, whose gradient rule is '
                    'a function', self.source.location(statement.value),
                    'its rule returns one cotangent per positional argument',
                    fixes=[f'pass {keyword} by position'])
                error_name = self.namer.fresh('keyword_error')
                self.extra_globals[error_name] = error
                block.append(gast.Expr(value=_call(
                    self.runtime_function('require_constant'),
                    copy_tree(value), _name(error_name))))
        rule_name = self.namer.fresh(identifier(f'{name}_vjp'))
        self.extra_globals[rule_name] = rule.vjp_function
        target = statement.targets[0].id
        cotangents = self.namer.fresh(f'cotangents_{target}')
        g = _name(self.adjoint_name(target))
        if rule.user:
            g = _call(self.runtime_function('full_cotangent'), g,
                      _name(target))
        call = gast.Call(
            func=_name(rule_name),
            args=[g, _name(target)] + [copy_tree(a) for a in args],
            keywords=[gast.keyword(arg=k, value=copy_tree(v))
                      for k, v in keywords.items()])
        checked = _call(self.runtime_function('check_cotangents'), call,
                        gast.Constant(value=len(args), kind=None),
                        gast.Constant(value=name, kind=None))
        block.append(_assign(cotangents, checked))
        for position, arg in enumerate(args):
            if self.is_active(arg):
                item = gast.Subscript(value=_name(cotangents),
                                      slice=gast.Constant(value=position,
                                                          kind=None),
                                      ctx=gast.Load())
                if rule.user:
                    # A user's rule must return the argument's shape: a
                    # broadcast or summed cotangent would hide its error.
                    value = _call(
                        self.runtime_function('rule_cotangent'), item,
                        copy_tree(arg),
                        gast.Constant(value=user_rule_name(
                            rule.vjp_function, name), kind=None),
                        gast.Constant(value=argument_description(
                            rule.callee, position), kind=None))
                else:
                    value = _call(self.runtime_function('unbroadcast'),
                                  item, copy_tree(arg))
                block += self.accumulate(arg.id, value)
        return block

    def constructor_adjoint(self, statement, resolved):
        """Adjoint of `Point(x, y=v)`: each argument gets its field of g."""
        call = statement.value
        try:
            bound = inspect.signature(resolved.callee).bind(
                *call.args, **{k.arg: k.value for k in call.keywords})
        except TypeError as err:
            raise LocatedError(f'invalid call of {resolved.name}: {err}',
                               self.source.location(call)) from err
        g = self.adjoint_name(statement.targets[0].id)
        block = []
        for param, arg in bound.arguments.items():
            if self.is_active(arg):
                block += self.accumulate(arg.id, _call(
                    self.runtime_function('field_of'), _name(g),
                    gast.Constant(value=param, kind=None)))
        return block

    def user_call_adjoint(self, statement, resolved):
        call = statement.value
        if resolved.callee in (runtime.call_method, runtime.call_function,
                               runtime.call_adjoint):
            raise UnsupportedSyntaxError(
                'reverse mode over a call that generated adjoint code '
                'resolves at run time', self.source.location(call),
                fixes=["use hvp or hessian with mode='reverse-over-forward'"])
        signature = transformed_signature(resolved.callee)
        try:
            bound = signature.bind(*call.args,
                                   **{k.arg: k.value for k in call.keywords})
        except TypeError as err:
            raise LocatedError(
                f'invalid call of {resolved.name}: {err}',
                self.source.location(call)) from err
        active = {param: arg for param, arg in bound.arguments.items()
                  if any(self.is_active(atom)
                         for _, atom in argument_atoms(arg))}
        if not active:
            return []
        wrt = tuple(p for p in signature.parameters if p in active)
        chain = tuple(self.context.call_chain) + (
            chain_name(resolved.callee, self.source.namespace,
                       resolved.name),)
        callee = self.compile_callee_at(call, resolved.callee, wrt, chain)
        self.check_callee_updates(call, resolved, callee, bound)
        self.extra_globals[callee.primal_name] = callee.primal
        self.extra_globals[callee.adjoint_name] = callee.adjoint

        target = statement.targets[0].id
        saved = self.namer.fresh(f'{target}_saved')
        self.callee_saved[statement] = saved
        self.callee_programs[statement] = callee

        adjoint_call = _call(_name(callee.adjoint_name), _name(saved),
                             _name(self.adjoint_name(target)))
        results = self.namer.fresh(f'd{target}_args')
        block = [_assign(results, adjoint_call)]
        for position, param in enumerate(callee.differentiated):
            item = gast.Subscript(value=_name(results),
                                  slice=gast.Constant(value=position,
                                                      kind=None),
                                  ctx=gast.Load())
            for key, atom in argument_atoms(active[param]):
                if not self.is_active(atom):
                    continue
                # The adjoint of *args or **kwargs is None when it is zero.
                part = item if key is None else _call(
                    self.runtime_function('entry_of'), copy_tree(item),
                    gast.Constant(value=key, kind=None))
                block += self.accumulate(atom.id, part, optional=True)
        return block

    # Template expansion ------------------------------------------------------

    def expand(self, template, statement, args, keywords, function=None):
        """Inline `template` for `statement`; see adcompiler.rules.registry.
        `function` is the callee, which names the options of a call that
        the template does not take."""
        try:
            arguments = template.bind(args, keywords)
        except TypeError as err:
            message = option_message('gradient', function, template,
                                     keywords, 'register_vjp')
            if message is not None:
                raise LocatedError(message[0],
                                   self.source.location(statement.value),
                                   fixes=message[1]) from err
            raise LocatedError(
                f'the gradient rule {template.name} does not accept this '
                f'call ({err})', self.source.location(statement.value),
                fixes=['pass only the arguments that the rule accepts: '
                       f'{template.accepted_call()}, or register a rule '
                       'for this form with adcompiler.register_vjp']
            ) from err
        target = statement.targets[0].id
        substitutions = {
            'g': _name(self.adjoint_name(target)),
            'ans': _name(target),
            'np': _name(self.numpy_alias),
            'ad': _name(self.runtime_alias),
        }
        for param, value in arguments.items():
            substitutions[param] = _as_expression(value)
        active = {param: isinstance(value, gast.AST) and self.is_active(value)
                  for param, value in arguments.items()}

        renames = {}
        block = []
        for template_statement in template.body:
            param = adjoint_target(template_statement)
            if param is None:
                block.append(self.substitute(template_statement,
                                             substitutions, renames, active))
                continue
            arg = arguments[param]
            if not self.is_active(arg):
                continue
            value = self.substitute(template_statement.value, substitutions,
                                    renames, active)
            self.read_shapes_from_parameters(value)
            if template.unbroadcast and target in self.nan_skipped:
                value = self.skip_nan_entries(value, target)
            if template.unbroadcast and self.may_reshape_adjoint(
                    arg, list(args) + list(keywords.values())):
                if self.may_concatenate(statement):
                    value = self.concatenation_operand_adjoint(
                        value, args, arg)
                else:
                    value = self.unbroadcast(value, target, arg.id)
            block += self.accumulate(arg.id, value)
        return block

    def may_concatenate(self, statement):
        """True for `z = x + y` where x or y is a slice of a value that
        may be a list or a tuple (`l[:2] + l[1:]`), so that `+` may
        concatenate them.

        Other operands of unknown kind keep the NumPy rule, which raises
        for two lists when the adjoint runs.
        """
        value = statement.value
        if not (isinstance(value, gast.BinOp) and isinstance(value.op,
                                                             gast.Add)):
            return False
        operands = [value.left, value.right]
        if not all(isinstance(operand, gast.Name) for operand in operands):
            return False
        if any(operand.id in self.shapes.known
               or operand.id in self.shapes.scalars for operand in operands):
            return False  # An array or a number.
        return any(operand.id in self.slice_names for operand in operands)

    @functools.cached_property
    def slice_names(self):
        """Names assigned once, from a slice of a name: `t = v[1:]`."""
        bindings, assignments = name_bindings(self.normalized.tree,
                                              self.normalized.index)
        return frozenset(
            statement.targets[0].id for statement in assignments
            if bindings.get(statement.targets[0].id) == 1
            and isinstance(statement.value, gast.Subscript)
            and isinstance(statement.value.value, gast.Name)
            and isinstance(statement.value.slice, gast.Slice))

    def concatenation_operand_adjoint(self, value, args, arg):
        """`ad.add_operand_adjoint(value, x, other, position)`: the
        adjoint of the operand `arg` of `x + other`, which is `value`'s
        part for `arg` when `+` concatenates two lists or tuples."""
        args = list(args)
        position = next(i for i, a in enumerate(args) if a is arg)
        other = args[1 - position]
        return _call(self.runtime_function('add_operand_adjoint'), value,
                     _name(arg.id), _name(other.id),
                     gast.Constant(value=position, kind=None))

    def skip_nan_entries(self, value, target):
        """Return the adjoint `value` that an elementwise operation passes
        back from its result `target`, with 0 where `target` is NaN.

        The adjoint of `target` is 0 there (see adcompiler.nan_skipping).
        So a product `g * partial` becomes `g * skip_nan_adjoint(partial,
        target)`, the same values: its derivative in g is then 0 at those
        entries, where that of `skip_nan_adjoint(g * partial, target)` is
        0 * NaN, which a Hessian in reverse mode would sum into every entry.
        """
        adjoint = self.adjoint_name(target)
        if isinstance(value, gast.BinOp) and isinstance(value.op, gast.Mult):
            for factor, partial in ((value.left, value.right),
                                    (value.right, value.left)):
                if isinstance(factor, gast.Name) and factor.id == adjoint:
                    masked = _call(self.runtime_function('skip_nan_adjoint'),
                                   partial, _name(target))
                    return gast.BinOp(left=factor, op=gast.Mult(),
                                      right=masked)
        return _call(self.runtime_function('skip_nan_adjoint'), value,
                     _name(target))

    def read_shapes_from_parameters(self, expression):
        """Pass a parameter of the same shape to helpers that read only a
        shape, so that the primal need not save the value for them."""
        stable_params = [p for p in self.normalized.params
                         if self.is_stable(p)]
        for node in find_nodes(expression, gast.Call):
            if not (isinstance(node.func, gast.Attribute)
                    and isinstance(node.func.value, gast.Name)
                    and node.func.value.id == self.runtime_alias
                    and node.func.attr in _SHAPE_ONLY_HELPERS
                    and len(node.args) >= 2
                    and isinstance(node.args[1], gast.Name)):
                continue
            like = self.shapes.shaped_like(node.args[1].id, stable_params)
            if like is not None:
                node.args[1] = _name(like)

    def unbroadcast(self, value, target, arg):
        """`ad.unbroadcast(value, arg)`, or a cheaper equivalent.

        When `target` and `arg` provably have one shape, nothing is summed:
        the value passes through when both have one kind, and only its real
        part is kept when `arg` is known to be real.
        """
        if self.shapes.same_shape_and_kind(target, arg):
            return value
        if self.shapes.same_shape(target, arg) and arg in self.shapes.real:
            real = gast.Attribute(value=_name(self.numpy_alias), attr='real',
                                  ctx=gast.Load())
            return _call(real, value)
        return _call(self.runtime_function('unbroadcast'), value, _name(arg))

    @staticmethod
    def may_reshape_adjoint(arg, args):
        """False when every other operand is a float constant.

        A Python float changes neither the shape nor the kind of the result,
        so the adjoint of `arg` already has its shape and kind. A complex
        constant makes the result of a real `arg` complex, and the adjoint
        of that real `arg` is the real part of the product (`1j * x`).
        """
        others = [a for a in args if a is not arg]
        # An int can repeat a list (`[x] * 2`); only a float constant surely
        # leaves the shape and the kind alone.
        return not all(isinstance(a, gast.Constant)
                       and isinstance(a.value, float)
                       for a in others)

    def substitute(self, node, substitutions, renames, active=None):
        return substitute_template(node, substitutions, renames, self.namer,
                                   active)


# Runtime helpers that read only the shape of their second argument.
_SHAPE_ONLY_HELPERS = ('sum_adjoint', 'mean_adjoint', 'masked_sum_adjoint',
                        'masked_mean_adjoint')


def _unstarred(node):
    """Return the sequence of `*seq`, or the argument itself."""
    return node.value if isinstance(node, gast.Starred) else node


def _display(node, display_names):
    """Name an argument as the user wrote it (`'x'` for x_1, `'y[0:2]'` for
    a temporary holding that part of y)."""
    if isinstance(node, gast.Name):
        return repr(display_names.get(node.id, node.id))
    if isinstance(node, gast.Constant):
        return repr(node.value)
    return 'an argument'


def _is_comment(statement):
    return (isinstance(statement, gast.Expr)
            and isinstance(statement.value, gast.Constant)
            and isinstance(statement.value.value, str)
            and statement.value.value.startswith(COMMENT_PREFIX))


def _is_list_pop(call):
    """True for `lst.pop(...)` on a local name."""
    return (isinstance(call, gast.Call)
            and isinstance(call.func, gast.Attribute)
            and call.func.attr == 'pop'
            and isinstance(call.func.value, gast.Name))


def _is_subscript_write(statement):
    return isinstance(statement, gast.Assign) and isinstance(
        statement.targets[0], gast.Subscript)


def _is_loop_exit(statement):
    """True for the `if stop: break` that ends every normalized loop body."""
    return isinstance(statement, gast.If) and any(
        isinstance(s, gast.Break) for s in statement.body)


def _has_source_to_transform(function):
    """True for a Python function of adcompiler.runtime other than the
    helpers that dispatch calls at run time, which have no source to
    transform for the callee."""
    return (inspect.isfunction(function)
            and function.__module__ == runtime.__name__
            and function not in (runtime.call_method, runtime.call_function,
                                 runtime.call_adjoint,
                                 runtime.call_unpacking))


def _loops_in_order(statements):
    """Yield the for and while loops in `statements` in source order, each
    before the loops inside it."""
    for statement in statements:
        if isinstance(statement, (gast.For, gast.While)):
            yield statement
        for field in ('body', 'orelse', 'finalbody'):
            block = getattr(statement, field, None)
            if isinstance(block, list):
                yield from _loops_in_order(block)
        for handler in getattr(statement, 'handlers', ()):
            yield from _loops_in_order(handler.body)


def _name_suffix(identifier):
    """Return the number that `Namer.fresh` appended to `identifier`, or 0."""
    _, _, suffix = identifier.rpartition('_')
    return int(suffix) if suffix.isdigit() else 0
