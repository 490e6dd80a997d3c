"""Rewrite break, continue and early return into structured control flow.

Part of the normalize stage. Input: the statements of a function body that
uses control flow. Output: equivalent statements in which

- `return` appears once, as the last statement: every earlier `return v` is
  replaced by `result = v` (the name is fresh), and the statements it skips
  are moved into the branch that does not return;
- `continue` does not appear: the rest of the loop body moves into the
  branch that does not continue;
- `break` appears only as `if stop: break`, the last statement of a loop
  body, where `stop` is a fresh flag set where the user's `break` was;
- `while test: body` becomes `while True:` whose body evaluates the test and
  sets the loop's flag when it is false. A `while True:` loop keeps its
  body as it is. A loop whose body has no break or return and whose test
  is plain (see `plain_loop_test`) keeps its test, so that the generated
  code reads like the user's;
- a loop's else clause moves after the loop, into `if not broke:`, where
  `broke` is a fresh flag that each break leaving the loop sets first;
- a `return` inside a `with` statement assigns the result and sets a
  returned flag, and the statements after the `with` run only when the flag
  is not set.

After the rewrite every loop iteration runs its body to the end, so the
reverse stage can replay iterations by count. Statements after a jump in the
same block are dropped, as Python never runs them.
"""

import copy
import dataclasses

import gast

from adcompiler.errors import UnsupportedSyntaxError
from adcompiler.traversal import child_nodes


@dataclasses.dataclass
class _Loop:
    """The innermost loop around the statements being rewritten."""

    stop_flag: str


def _name(identifier, ctx=None):
    return gast.Name(id=identifier, ctx=ctx or gast.Load(), annotation=None,
                     type_comment=None)


def _assign(name, value, origin):
    statement = gast.Assign(targets=[_name(name, gast.Store())], value=value,
                            type_comment=None)
    return gast.copy_location(statement, origin)


def _constant(value):
    return gast.Constant(value=value, kind=None)


def jumps(statements, include_loop_jumps=True):
    """True if running `statements` may leave them early.

    A return always counts. A break or continue counts only when
    `include_loop_jumps` is set and it is not inside a nested loop, whose
    own body it leaves.
    """
    return any(_jumps_in(s, include_loop_jumps) for s in statements)


def _jumps_in(node, loop_jumps):
    if isinstance(node, gast.Return):
        return True
    if isinstance(node, (gast.Break, gast.Continue)):
        return loop_jumps
    if isinstance(node, (gast.FunctionDef, gast.Lambda, gast.ClassDef)):
        return False
    if isinstance(node, (gast.For, gast.While)):
        # A break in a nested loop's else clause leaves the outer loop.
        return (any(_jumps_in(s, False) for s in node.body)
                or any(_jumps_in(s, loop_jumps) for s in node.orelse))
    return any(_jumps_in(child, loop_jumps) for child in child_nodes(node))


def _loop_jumps_in(node):
    """True for a break or continue in `node` outside nested loops, or in
    the else clause of a nested loop, which leaves the loop around it."""
    if isinstance(node, (gast.Break, gast.Continue)):
        return True
    if isinstance(node, (gast.For, gast.While)):
        return any(_loop_jumps_in(s) for s in node.orelse)
    if isinstance(node, (gast.FunctionDef, gast.Lambda, gast.ClassDef)):
        return False
    return any(_loop_jumps_in(child) for child in child_nodes(node))


def _count_breaks(statements):
    """Count the breaks in `statements` that leave the loop around them:
    those outside nested loops, or in a nested loop's else clause."""
    count = 0
    for node in statements:
        if isinstance(node, gast.Break):
            count += 1
        elif isinstance(node, (gast.For, gast.While)):
            count += _count_breaks(node.orelse)
        elif not isinstance(node, (gast.FunctionDef, gast.Lambda,
                                   gast.ClassDef)):
            count += _count_breaks(child_nodes(node))
    return count


def _count_marks(statements, flag):
    """Count the statements `flag = True` among `statements` and in the
    blocks nested in them."""
    count = 0
    for node in statements:
        if (isinstance(node, gast.Assign)
                and isinstance(node.targets[0], gast.Name)
                and node.targets[0].id == flag
                and isinstance(node.value, gast.Constant)
                and node.value.value is True):
            count += 1
        elif not isinstance(node, (gast.FunctionDef, gast.Lambda,
                                   gast.ClassDef)):
            count += _count_marks(child_nodes(node), flag)
    return count


def _mark_breaks(statements, flag):
    """Return a copy of `statements` in which `flag = True` comes before
    each break that leaves the loop around them. The blocks of if, with
    and try statements, and the else clauses of nested loops, are
    entered; other statements are kept as they are."""
    out = []
    for statement in statements:
        if isinstance(statement, gast.Break):
            out += [_assign(flag, _constant(True), statement), statement]
            continue
        if isinstance(statement, (gast.FunctionDef, gast.ClassDef)):
            out.append(statement)
            continue
        statement = copy.copy(statement)
        fields = (('orelse',) if isinstance(statement, (gast.For, gast.While))
                  else ('body', 'orelse', 'finalbody'))
        for field in fields:
            block = getattr(statement, field, None)
            if isinstance(block, list):
                setattr(statement, field, _mark_breaks(block, flag))
        if isinstance(statement, gast.Try):
            statement.handlers = [copy.copy(h) for h in statement.handlers]
            for handler in statement.handlers:
                handler.body = _mark_breaks(handler.body, flag)
        out.append(statement)
    return out


def plain_loop_test(test, indirect_names=frozenset()):
    """True for a while test that normalize lowers to one expression with
    no statements before it: a name, a constant, or a comparison of names
    and constants. `indirect_names` are names whose reads normalize lowers
    to statements (globals that the function assigns)."""
    if isinstance(test, gast.Compare):
        operands = [test.left] + list(test.comparators)
    else:
        operands = [test]
    return all(isinstance(operand, gast.Constant)
               or (isinstance(operand, gast.Name)
                   and operand.id not in indirect_names)
               for operand in operands)


class Restructurer:
    """Apply the rewrite in the module docstring to one function body."""

    def __init__(self, source, namer, indirect_names=frozenset()):
        self.source = source
        self.namer = namer
        # Names that a kept while test must not read (see plain_loop_test).
        self.indirect_names = indirect_names
        self.result = namer.fresh('result')
        self.returned = None  # The flag set by a return inside a loop.

    def run(self, body):
        origin = self.source.tree
        statements = []
        if not (body and isinstance(body[-1], gast.Return)):
            # Falling off the end returns None. A body that ends in a return
            # assigns the result on every path.
            statements.append(_assign(self.result, _constant(None), origin))
        statements += self.block(list(body), None)
        ret = gast.Return(value=_name(self.result))
        statements.append(gast.copy_location(ret, body[-1] if body else
                                             origin))
        if self.returned is not None:
            statements.insert(0, _assign(self.returned, _constant(False),
                                         origin))
        return statements

    def block(self, statements, loop):
        """Rewrite a statement list; stop at the first jump."""
        out = []
        for position, statement in enumerate(statements):
            rest = statements[position + 1:]
            if isinstance(statement, (gast.For, gast.While)) and \
                    statement.orelse:
                out += self.block(self.without_else(statement) + rest, loop)
                return out
            if isinstance(statement, gast.Return):
                value = statement.value or _constant(None)
                out.append(_assign(self.result, value, statement))
                if loop is not None:
                    out.append(_assign(self.returned_flag(statement),
                                       _constant(True), statement))
                    if loop.stop_flag != self.returned:
                        out.append(_assign(loop.stop_flag, _constant(True),
                                           statement))
                return out
            if isinstance(statement, gast.Break):
                if loop is None:
                    raise UnsupportedSyntaxError(
                        'a break statement outside a loop',
                        self.source.location(statement))
                out.append(_assign(loop.stop_flag, _constant(True), statement))
                return out
            if isinstance(statement, gast.Continue):
                return out
            if isinstance(statement, gast.If) and jumps([statement]):
                # The statements after the if run only on paths that do not
                # jump, so they move into both branches.
                branch = gast.If(test=statement.test,
                                 body=self.block(statement.body + rest, loop),
                                 orelse=self.block(statement.orelse + rest,
                                                   loop))
                out.append(gast.copy_location(branch, statement))
                return out
            if isinstance(statement, gast.With) and jumps([statement]) \
                    and not self.leaves_loop(statement.body):
                out += self.with_return(statement, rest, loop)
                return out
            if isinstance(statement, (gast.For, gast.While)):
                out += self.loop(statement)
                if jumps([statement], include_loop_jumps=False):
                    # A return inside the loop skips the rest of this block.
                    guard = gast.If(
                        test=_name(self.returned),
                        body=([_assign(loop.stop_flag, _constant(True),
                                       statement)] if loop else []),
                        orelse=self.block(rest, loop))
                    out.append(gast.copy_location(guard, statement))
                    return out
                continue
            out.append(self.nested(statement, loop))
        return out

    @staticmethod
    def leaves_loop(statements):
        """True if a break or continue in `statements` leaves a loop around
        them (the normalize stage rejects that inside a with statement)."""
        return any(_loop_jumps_in(s) for s in statements)

    def with_return(self, statement, rest, loop):
        """Rewrite a with statement whose body returns.

        Each `return v` in the body becomes `result = v` and sets the
        function's returned flag; the statements after the with statement
        run only when the flag is not set.
        """
        flag = self.returned_flag(statement)
        body = self.block(statement.body, _Loop(flag))
        managed = gast.With(items=statement.items, body=body,
                            type_comment=None)
        out = [gast.copy_location(managed, statement)]
        if rest or loop is not None:
            guard = gast.If(
                test=_name(flag),
                body=([_assign(loop.stop_flag, _constant(True), statement)]
                      if loop else []),
                orelse=self.block(rest, loop))
            out.append(gast.copy_location(guard, statement))
        return out

    def without_else(self, statement):
        """Rewrite `loop: body else: rest` as `broke = False`, the loop
        without its else clause, and `if not broke: rest`, where each break
        that leaves this loop first sets `broke`. The else clause runs when
        the loop ends without a break, as in Python."""
        loop = copy.copy(statement)
        loop.orelse = []
        if _count_breaks(statement.body) == 0:
            return [loop] + list(statement.orelse)
        flag = self.namer.fresh('broke')
        loop.body = _mark_breaks(statement.body, flag)
        if _count_breaks(loop.body) != _count_marks(loop.body, flag):
            # A break inside a statement that _mark_breaks does not enter.
            kind = 'for' if isinstance(statement, gast.For) else 'while'
            raise UnsupportedSyntaxError(
                f'an else clause on a {kind} loop whose break is inside a '
                'match statement', self.source.location(statement),
                fixes=['set a flag before the break and test it after the '
                       'loop in place of the else clause'])
        not_broke = gast.UnaryOp(op=gast.Not(), operand=_name(flag))
        check = gast.If(test=not_broke, body=list(statement.orelse),
                        orelse=[])
        return [_assign(flag, _constant(False), statement), loop,
                gast.copy_location(check, statement.orelse[0])]

    def nested(self, statement, loop):
        """Rewrite the blocks inside a compound statement without jumps."""
        if isinstance(statement, gast.If):
            statement = copy.copy(statement)
            statement.body = self.block(statement.body, loop)
            statement.orelse = self.block(statement.orelse, loop)
        return statement

    def returned_flag(self, origin):
        if self.returned is None:
            self.returned = self.namer.fresh('returned')
        return self.returned

    def loop(self, statement):
        """Rewrite a for or while loop so that every iteration runs to the end."""
        if statement.orelse:
            kind = 'for' if isinstance(statement, gast.For) else 'while'
            raise UnsupportedSyntaxError(
                f'an else clause on a {kind} loop',
                self.source.location(statement.orelse[0]))
        body = list(statement.body)
        # Without a break or a return, every iteration runs to the end
        # already: a continue only skips the rest of its body.
        runs_to_end = (_count_breaks(body) == 0
                       and not jumps(body, include_loop_jumps=False))
        if isinstance(statement, gast.For) and runs_to_end:
            new = gast.For(target=statement.target, iter=statement.iter,
                           body=self.block(body, None), orelse=[],
                           type_comment=None)
            return [gast.copy_location(new, statement)]
        if isinstance(statement, gast.While) and runs_to_end and \
                plain_loop_test(statement.test, self.indirect_names):
            # The test needs no statements of its own, so the loop keeps
            # it, and the reverse stage counts the trips as for a for loop.
            new = gast.While(test=statement.test, body=self.block(body, None),
                             orelse=[])
            return [gast.copy_location(new, statement)]
        stop = self.namer.fresh('stop')
        loop = _Loop(stop)
        test = getattr(statement, 'test', None)
        if isinstance(statement, gast.While) and not (
                isinstance(test, gast.Constant) and test.value is True):
            # while test: body  ->  while True: if test: body else: stop
            # True; if stop: break. `while True` needs no such if.
            body = [gast.copy_location(gast.If(
                test=statement.test, body=body,
                orelse=[gast.Break()]), statement)]
            gast.copy_location(body[0].orelse[0], statement)
        body = self.block(body, loop)
        check = gast.If(test=_name(stop), body=[gast.Break()], orelse=[])
        gast.copy_location(check, statement)
        gast.copy_location(check.body[0], statement)
        body.append(check)
        if isinstance(statement, gast.While):
            new = gast.While(test=_constant(True), body=body, orelse=[])
        else:
            new = gast.For(target=statement.target, iter=statement.iter,
                           body=body, orelse=[], type_comment=None)
        gast.copy_location(new, statement)
        return [_assign(stop, _constant(False), statement), new]
