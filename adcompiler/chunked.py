"""Grad of an elementwise sum, run on slices of its arrays.

When the grad-only primal and the adjoint that `grad` runs apply only
elementwise operations to the arguments' arrays, each element of the
gradient depends only on the elements of the arguments at the same
index. `grad` then runs both functions on slices of `CHUNK_SIZE` elements
and writes each slice's gradients into arrays of the full shape. The
temporaries of one slice are then still in the CPU cache when the next
operation reads them, and malloc reuses their memory. On whole arrays of
millions of elements, each operation reads and writes arrays larger than a
core's L2 cache. glibc may also return such arrays to the system when they
are freed, so that the next call page-faults their memory in again.

`is_elementwise` proves the property on the generated code. It accepts
only this grammar and rejects everything else:

- statements: `name = expr`, `a, b = saved` (the adjoint's unpacking of
  its saved values), comments, and one `return` at the end. No control
  flow, no in-place statement;
- expressions: names bound before in the function (parameters or
  assigned names), int and float constants, `+ - * / **`, unary `-` and
  `+`, a comparison with one operator, and tuples only as the returned
  value;
- calls without keywords: a NumPy function of `ELEMENTWISE_UFUNCS` with
  its number of inputs and no output argument, `np.where` of three
  arguments, `np.float64` of a constant, and the runtime helpers of
  `_HELPERS` in the forms documented there.

A name that is not bound in the function (a global array, say) is
rejected, so that every array the code reads is a slice of an argument
or computed from slices. `plan` then decides per argument key whether
the arguments fit: every array is a float64 array of one shape, every
differentiated argument is such an array, and the others are real
scalars. `gradient` also checks at each call that the arrays are
C-contiguous, and that the adjoint returned one float64 array of the
slice's shape per argument. Where a check fails, it returns None, and
`grad` runs the code on the whole arrays.

NOTE: a NumPy RuntimeWarning (overflow in `np.exp`, say) is emitted once
per slice that causes it. Under Python's default warnings filter it is
shown once either way, but under an "always" filter it may repeat.
"""

import gast
import numpy as np

# Elements per slice: 1 MiB per float64 array. On the 2-core AMD EPYC of
# benchmarks/RESULTS.md (1 MiB L2 cache per core), the gradient of the
# `elementwise` workload on 10**6 elements took the least CPU time with
# slices of 2**17 to 2**18 elements, among sizes from 2**12 to 2**19.
# Smaller slices spend more time in the Python calls of each slice, and
# the 4 MiB arrays of 2**19 elements were page-faulted in on every call.
# NOTE: the best size depends on the machine's cache sizes and on when
# its malloc returns freed memory to the system, so this is an estimate
# for current x86-64 Linux machines, not a tuned value.
CHUNK_SIZE = 2 ** 17

# Arrays smaller than this run whole. On the same machine, the
# `elementwise` gradient on 2**18 elements took 1.1x of the whole-array
# time in two slices, with as many page faults per call as the whole
# arrays. From 3 * 2**17 to 4 * 10**6 elements it took 0.3x to 0.6x.
MIN_SIZE = 3 * CHUNK_SIZE

# NumPy functions that compute each element of their result from the
# elements at the same index of their inputs, with the number of inputs
# they take. A call with one more positional argument would pass `out`.
ELEMENTWISE_UFUNCS = {
    **dict.fromkeys((
        'exp', 'expm1', 'exp2', 'log', 'log1p', 'log2', 'log10', 'sqrt',
        'cbrt', 'square', 'reciprocal', 'negative', 'positive', 'abs',
        'absolute', 'fabs', 'sign', 'sin', 'cos', 'tan', 'arcsin',
        'arccos', 'arctan', 'sinh', 'cosh', 'tanh', 'arcsinh', 'arccosh',
        'arctanh'), 1),
    **dict.fromkeys((
        'add', 'subtract', 'multiply', 'divide', 'true_divide', 'power',
        'maximum', 'minimum', 'arctan2', 'hypot', 'logaddexp'), 2),
}

# Other NumPy functions that generated code calls, elementwise in the
# number of arguments given: `np.where(condition, a, b)`.
_NUMPY_FUNCTIONS = {**ELEMENTWISE_UFUNCS, 'where': 3}

_OPERATORS = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow)
_COMPARISONS = (gast.Eq, gast.NotEq, gast.Lt, gast.LtE, gast.Gt, gast.GtE)
_UNARY_OPERATORS = (gast.USub, gast.UAdd)


def _is_comment(statement):
    """True for the string statements that carry the generated code's
    comments (`# line 3: ...`)."""
    return (isinstance(statement, gast.Expr)
            and isinstance(statement.value, gast.Constant)
            and type(statement.value.value) is str)


def _is_constant_none(node):
    return isinstance(node, gast.Constant) and node.value is None


def _is_bool_constant(node):
    return isinstance(node, gast.Constant) and type(node.value) is bool


class _Checker:
    """Check one generated function against the grammar of the module
    docstring."""

    def __init__(self, function, numpy_alias, runtime_alias, saved=None):
        self.numpy_alias = numpy_alias
        self.runtime_alias = runtime_alias
        # `saved` is the adjoint's tuple of saved values, which only the
        # unpacking may read.
        self.saved = saved
        self.bound = {argument.id for argument in function.args.args} - {
            saved}
        self.function = function

    def function_is_elementwise(self):
        arguments = self.function.args
        if (arguments.vararg or arguments.kwarg or arguments.kwonlyargs
                or getattr(arguments, 'posonlyargs', None)):
            return False
        body = self.function.body
        if not body or not isinstance(body[-1], gast.Return):
            return False
        for statement in body[:-1]:
            if _is_comment(statement):
                continue
            if not self.assignment_is_elementwise(statement):
                return False
        value = body[-1].value
        return value is not None and self.returned_is_elementwise(value)

    def returned_is_elementwise(self, node):
        # Tuples only in the returned value: the seed and the saved values
        # of the primal, and the gradients of the adjoint.
        if isinstance(node, gast.Tuple):
            return all(map(self.returned_is_elementwise, node.elts))
        return self.expression_is_elementwise(node)

    def assignment_is_elementwise(self, statement):
        if not isinstance(statement, gast.Assign) or len(
                statement.targets) != 1:
            return False
        target = statement.targets[0]
        if isinstance(target, gast.Tuple):
            # The unpacking of the saved values: `x, t3 = saved`.
            targets = target.elts
            if not (isinstance(statement.value, gast.Name)
                    and statement.value.id == self.saved):
                return False
        else:
            targets = [target]
            if not self.expression_is_elementwise(statement.value):
                return False
        for name in targets:
            if not isinstance(name, gast.Name) or name.id in (
                    self.numpy_alias, self.runtime_alias):
                return False
            self.bound.add(name.id)
        return True

    def expression_is_elementwise(self, node):
        if isinstance(node, gast.Name):
            return node.id in self.bound
        if isinstance(node, gast.Constant):
            return type(node.value) in (int, float)
        if isinstance(node, gast.BinOp):
            return (isinstance(node.op, _OPERATORS)
                    and self.expression_is_elementwise(node.left)
                    and self.expression_is_elementwise(node.right))
        if isinstance(node, gast.Compare):
            # One operator: a chain `a < b < c` tests the truth of an array.
            return (len(node.ops) == 1
                    and isinstance(node.ops[0], _COMPARISONS)
                    and self.expression_is_elementwise(node.left)
                    and self.expression_is_elementwise(node.comparators[0]))
        if isinstance(node, gast.UnaryOp):
            return (isinstance(node.op, _UNARY_OPERATORS)
                    and self.expression_is_elementwise(node.operand))
        if isinstance(node, gast.Call):
            return self.call_is_elementwise(node)
        return False

    def module_function(self, node, alias):
        """Return the name of `alias.name` at `node`, or None."""
        if (isinstance(node, gast.Attribute)
                and isinstance(node.value, gast.Name)
                and node.value.id == alias and alias not in self.bound):
            return node.attr
        return None

    def call_is_elementwise(self, call):
        if call.keywords:
            return False
        args = call.args
        name = self.module_function(call.func, self.numpy_alias)
        if name is not None:
            if name == 'float64':
                return len(args) == 1 and isinstance(
                    args[0], gast.Constant) and type(args[0].value) in (
                        int, float)
            return (_NUMPY_FUNCTIONS.get(name) == len(args)
                    and all(map(self.expression_is_elementwise, args)))
        name = self.module_function(call.func, self.runtime_alias)
        check = _HELPERS.get(name)
        return check is not None and check(self, args)

    def ufunc_arity(self, node):
        """Return the number of inputs of the elementwise NumPy function
        that `node` names, or None."""
        return ELEMENTWISE_UFUNCS.get(
            self.module_function(node, self.numpy_alias))

    def all_elementwise(self, args):
        return all(map(self.expression_is_elementwise, args))


# The runtime helpers that generated elementwise code calls, with the
# argument forms under which each computes elementwise:
# - `compact_sum_adjoint(g, x, None, keepdims)`: the adjoint of a sum over
#   all axes, which is `g` itself;
# - `apply_in_place(ufunc, *inputs)`: `ufunc(*inputs)` for an elementwise
#   NumPy function;
# - `call_into(out, f, x)` with `f` a one-input elementwise NumPy function
#   or `abs_sign`: `f(x)`;
# - `quotient_in_divisor(c, d)`: `c / d`; `abs_sign(x)`: the derivative of
#   `abs`; `add(a, b)`: `a + b` for arrays and numbers;
# - `pow_exponent_adjoint(g, x, ans, y)` and `pow_base_adjoint(g, x, y)`,
#   optionally with `np.power` or `np.float_power` last: the adjoints of
#   `y` and `x` in `x ** y`;
# - `expand(c, like)` with `like` a name: `c` broadcast to the shape of
#   `like`, which is the shape of a slice or of a scalar.
_HELPERS = {
    'compact_sum_adjoint': lambda checker, args: (
        len(args) == 4 and _is_constant_none(args[2])
        and _is_bool_constant(args[3])
        and (_is_constant_none(args[1])
             or checker.expression_is_elementwise(args[1]))
        and checker.expression_is_elementwise(args[0])),
    'apply_in_place': lambda checker, args: (
        len(args) >= 2 and checker.ufunc_arity(args[0]) == len(args) - 1
        and checker.all_elementwise(args[1:])),
    'call_into': lambda checker, args: (
        len(args) == 3
        and (checker.ufunc_arity(args[1]) == 1
             or checker.module_function(
                 args[1], checker.runtime_alias) == 'abs_sign')
        and checker.expression_is_elementwise(args[0])
        and checker.expression_is_elementwise(args[2])),
    'quotient_in_divisor': lambda checker, args: (
        len(args) == 2 and checker.all_elementwise(args)),
    'abs_sign': lambda checker, args: (
        len(args) == 1 and checker.all_elementwise(args)),
    'add': lambda checker, args: (
        len(args) == 2 and checker.all_elementwise(args)),
    'pow_exponent_adjoint': lambda checker, args: (
        len(args) == 4 and checker.all_elementwise(args)),
    'pow_base_adjoint': lambda checker, args: (
        (len(args) == 3 or (len(args) == 4 and checker.module_function(
            args[3], checker.numpy_alias) in ('power', 'float_power')))
        and checker.all_elementwise(args[:3])),
    'expand': lambda checker, args: (
        len(args) == 2 and isinstance(args[1], gast.Name)
        and checker.all_elementwise(args)),
}


def is_elementwise(primal, adjoint, numpy_alias, runtime_alias):
    """Return whether the grad-only `primal` and the `adjoint` that runs
    after it (gast FunctionDefs) fit the grammar of the module docstring,
    so that they may run on slices of the arguments' arrays."""
    arguments = adjoint.args.args
    if len(arguments) != 2:
        return False
    primal_checker = _Checker(primal, numpy_alias, runtime_alias)
    adjoint_checker = _Checker(adjoint, numpy_alias, runtime_alias,
                               saved=arguments[0].id)
    return (primal_checker.function_is_elementwise()
            and adjoint_checker.function_is_elementwise())


def plan(arguments, wrt):
    """Return the positions of the array arguments, for arguments
    (parameter name -> value, in the parameters' order) that `gradient`
    may slice, or None.

    Every array is a float64 ndarray of one shape with at least
    `MIN_SIZE` elements, every argument in `wrt` is such an array, and
    every other argument is a Python float or int or a `np.float64`.
    """
    shape = None
    positions = []
    for position, (name, value) in enumerate(arguments.items()):
        if type(value) is np.ndarray:
            if value.dtype != np.float64 or (
                    shape is not None and value.shape != shape):
                return None
            shape = value.shape
            positions.append(position)
        elif name in wrt or type(value) not in (float, int, np.float64):
            return None
    if shape is None or np.prod(shape) < MIN_SIZE:
        return None
    if not all(type(arguments[name]) is np.ndarray for name in wrt):
        return None
    return tuple(positions)


def gradient(primal, adjoint, args, array_positions, count):
    """Return the tuple of `count` gradients that `adjoint(*primal(*args))`
    returns, computed slice by slice, or None where `args` or the
    gradients of a slice do not fit (see the module docstring).

    `array_positions` is what `plan` returned for `args`.
    """
    shape = args[array_positions[0]].shape
    sliced = list(args)
    for position in array_positions:
        array = args[position]
        if not array.flags.c_contiguous:
            return None
        sliced[position] = array.reshape(-1)  # A view of a C-contiguous array.
    size = sliced[array_positions[0]].shape[0]
    results = [np.empty(size) for _ in range(count)]

    chunk_args = list(sliced)
    for start in range(0, size, CHUNK_SIZE):
        stop = min(start + CHUNK_SIZE, size)
        for position in array_positions:
            chunk_args[position] = sliced[position][start:stop]
        try:
            seed, saved = primal(*chunk_args)
            gradients = adjoint(saved, seed)
        except Exception:
            # The code runs again on the whole arrays, which raises the
            # error with the user's lines in its traceback, or retries a
            # Python float's ZeroDivisionError with NumPy floats.
            return None
        if type(gradients) is not tuple or len(gradients) != count:
            return None
        for result, g in zip(results, gradients, strict=True):
            if (type(g) is not np.ndarray or g.dtype != np.float64
                    or g.shape != (stop - start,)):
                return None
            result[start:stop] = g
    return tuple(result.reshape(shape) for result in results)
