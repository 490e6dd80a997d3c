"""Differential fuzzing: random programs, each derivative checked against numbers.

A hypothesis strategy builds random well-typed functions `f(x, s)` of a float
vector `x` (length 4) and a float scalar `s`. They use the language of
README.md ("What is supported"): arithmetic on bounded domains, NumPy calls, `if`/`else`
on data, `for` over `range` with `break` and `continue`, `while` loops with a
bounded trip count, subscript reads and writes into `np.zeros` arrays, calls
to a generated helper function, lists with `append` and dicts. Each program
is written to a file, imported, and checked:

1. `value_and_grad` against central finite differences, and its value
   against the program's own value; when autograd is installed and can run
   the program (it cannot write into arrays), also against autograd;
2. `jvp` against a central difference along a random direction;
3. `hvp`, for about a third of the programs, against central differences of
   the gradient;

and the inputs must be unchanged after every call. Compilation may raise an
`AdCompilerError` other than `InternalCompilerError`, which counts as a
documented gap (see `hypothesis.event` in the statistics). Any other exception
or mismatch fails the test.

The default budget (60 programs, derandomized) runs in well under a minute.
For a long campaign, raise the budget and pick a seed:

    ADCOMPILER_FUZZ_EXAMPLES=5000 ADCOMPILER_FUZZ_SEED=1 \
        python -m pytest -q tests/test_fuzz.py --hypothesis-show-statistics

A failure found this way is kept, minimized, as a test in tests/test_regressions.py.
"""

import dataclasses
import importlib.util
import itertools
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, seed, settings
from hypothesis import strategies as st

import adcompiler
from adcompiler.errors import InternalCompilerError

try:
    import autograd
except ImportError:            # autograd is in the test extra, but optional
    autograd = None

SIZE = 4                      # length of the vector argument and of every array
EXAMPLES = int(os.environ.get('ADCOMPILER_FUZZ_EXAMPLES', '60'))
SEED = os.environ.get('ADCOMPILER_FUZZ_SEED')
STEP = 1e-6                   # finite-difference step
RTOL, ATOL = 1e-4, 1e-5
PARAMETERS = ('x', 's', 'u', 'c')   # of f(x, s) and helper(u, c)


# ---------------------------------------------------------------------------
# Program generation. A `Builder` draws choices from hypothesis one integer at
# a time, so shrinking a failure shrinks the program. Scalars and vectors are
# tracked separately so every expression is well typed. Names are defined only
# at the top level of the function body; nested blocks only update them, so
# every name is bound on every path.
# ---------------------------------------------------------------------------

@dataclasses.dataclass
class Scope:
    """Names visible at one point of the generated function."""
    scalars: list
    vectors: list
    arrays: list              # vectors made with np.zeros, safe to write into
    lists: list
    dicts: list
    indices: list             # loop variables known to lie in range(SIZE)
    in_loop: bool = False


class Builder:
    """Draws one random program and renders it as source text."""

    def __init__(self, draw):
        self.draw = draw
        self.counter = itertools.count(1)

    def choice(self, options):
        return options[self.draw(st.integers(0, len(options) - 1))]

    def chance(self, percent):
        return self.draw(st.integers(0, 99)) < percent

    def fresh(self, prefix):
        return f'{prefix}{next(self.counter)}'

    # Expressions ------------------------------------------------------------

    def index(self, scope):
        options = [str(k) for k in range(-SIZE, SIZE)] + scope.indices
        return self.choice(options)

    def scalar_leaf(self, scope):
        kinds = ['const', 'scalar', 'item']
        if scope.lists:
            kinds.append('list')
        if scope.dicts:
            kinds.append('dict')
        kind = self.choice(kinds)
        if kind == 'const':
            return self.choice(['0.5', '1.5', '2.0', '-0.75', '3.0'])
        if kind == 'scalar':
            return self.choice(scope.scalars)
        if kind == 'item':
            return f'{self.choice(scope.vectors)}[{self.index(scope)}]'
        if kind == 'list':
            return f'{self.choice(scope.lists)}[{self.choice(["0", "-1"])}]'
        return f"{self.choice(scope.dicts)}['a']"

    def scalar(self, scope, depth=2):
        """Draw a scalar expression whose value stays finite and moderate."""
        if depth == 0 or self.chance(25):
            return self.scalar_leaf(scope)

        a = self.scalar(scope, depth - 1)
        kind = self.choice(['add', 'sub', 'mul', 'div', 'pow', 'sin', 'exp',
                            'tanh', 'log', 'sum', 'mean', 'helper'])
        if kind in ('add', 'sub', 'mul'):
            b = self.scalar(scope, depth - 1)
            op = {'add': '+', 'sub': '-', 'mul': '*'}[kind]
            # tanh keeps products of products from growing without bound.
            return f'np.tanh({a} {op} {b})' if kind == 'mul' else f'({a} {op} {b})'
        if kind == 'div':
            b = self.scalar(scope, depth - 1)
            return f'({a} / (1.0 + {b} ** 2))'
        if kind == 'pow':
            # Negative constant bases check that the generated code keeps
            # their parentheses: -0.5 ** 2 is -(0.5 ** 2).
            return self.choice([f'(np.tanh({a}) ** 2)', f'(np.tanh({a}) ** 3)',
                                f'((1.0 + {a} ** 2) ** 0.5)',
                                f'((-0.5) ** 2 * {a})', f'({a} * (-1) ** 3)'])
        if kind == 'sin':
            return f'np.sin({a})'
        if kind == 'exp':
            return f'np.exp(np.tanh({a}))'
        if kind == 'tanh':
            return f'np.tanh({a})'
        if kind == 'log':
            return f'np.log(1.0 + {a} ** 2)'
        if kind in ('sum', 'mean'):
            return f'np.{kind}({self.vector(scope, depth - 1)})'
        if self.helper is None:
            return f'np.sin({a})'
        return f'{self.helper}({self.vector(scope, depth - 1)}, {a})'

    def vector(self, scope, depth=2):
        """Draw a vector expression of length SIZE."""
        if depth == 0 or self.chance(30):
            return self.choice(scope.vectors)
        a = self.vector(scope, depth - 1)
        kind = self.choice(['scale', 'add', 'mul', 'sin', 'tanh', 'log',
                            'square', 'slice'])
        if kind == 'scale':
            return f'({a} * {self.scalar(scope, depth - 1)})'
        if kind == 'add':
            return f'({a} + {self.vector(scope, depth - 1)})'
        if kind == 'mul':
            return f'np.tanh({a} * {self.vector(scope, depth - 1)})'
        if kind == 'square':
            return f'(np.tanh({a}) ** 2)'
        if kind == 'log':
            return f'np.log(1.0 + {a} ** 2)'
        if kind == 'slice':
            return f'({a})[::-1]'
        return f'np.{kind}({a})'

    def condition(self, scope):
        op = self.choice(['>', '<'])
        threshold = self.choice(['0.0', '0.3', '-0.2', '1.0'])
        return f'{self.scalar(scope, 1)} {op} {threshold}'

    # Statements -------------------------------------------------------------

    def update(self, scope, depth):
        """Draw a statement that rebinds or mutates existing names, as lines."""
        kinds = ['assign', 'augment', 'vector']
        if scope.arrays:
            kinds += ['write', 'write']
        if scope.lists:
            kinds.append('append')
        if scope.dicts:
            kinds.append('dict')
        if depth > 0:
            kinds += ['if', 'for', 'while']
        if scope.in_loop:
            kinds += ['break']
        kind = self.choice(kinds)

        if kind == 'assign':
            return [f'{self.choice(scope.scalars)} = {self.scalar(scope)}']
        if kind == 'augment':
            op = self.choice(['+', '-'])
            name = self.choice(scope.scalars)
            # adcompiler rejects `+=` on a parameter, since the caller may
            # pass an array that it would then update in place.
            if name in PARAMETERS:
                return [f'{name} = {name} {op} {self.scalar(scope)}']
            return [f'{name} {op}= {self.scalar(scope)}']
        if kind == 'vector':
            # Arrays from np.zeros are never rebound, so subscript writes only
            # go into arrays that the function made itself.
            plain = [v for v in scope.vectors if v not in scope.arrays]
            return [f'{self.choice(plain)} = {self.vector(scope)}']
        if kind == 'write':
            op = self.choice(['=', '+='])
            target = f'{self.choice(scope.arrays)}[{self.index(scope)}]'
            return [f'{target} {op} {self.scalar(scope)}']
        if kind == 'append':
            return [f'{self.choice(scope.lists)}.append({self.scalar(scope)})']
        if kind == 'dict':
            op = self.choice(['=', '+='])
            return [f"{self.choice(scope.dicts)}['a'] {op} {self.scalar(scope)}"]
        if kind == 'break':
            return [f'if {self.condition(scope)}:',
                    f'    {self.choice(["break", "continue"])}']
        if kind == 'if':
            lines = [f'if {self.condition(scope)}:']
            lines += indent(self.block(scope, depth - 1))
            if self.chance(60):
                lines += ['else:'] + indent(self.block(scope, depth - 1))
            return lines
        if kind == 'for':
            name = self.fresh('i')
            trips = self.draw(st.integers(1, SIZE))
            inner = dataclasses.replace(scope, indices=scope.indices + [name],
                                        in_loop=True)
            return [f'for {name} in range({trips}):'] + indent(
                self.block(inner, depth - 1))
        # A while loop: the counter bounds the trip count, the data can end
        # it earlier, and the counter steps first so `continue` cannot spin.
        name = self.fresh('j')
        trips = self.draw(st.integers(1, SIZE))
        inner = dataclasses.replace(scope, in_loop=True)
        return ([f'{name} = 0',
                 f'while {name} < {trips} and {self.condition(scope)}:',
                 f'    {name} += 1']
                + indent(self.block(inner, depth - 1)))

    def block(self, scope, depth):
        lines = []
        for _ in range(self.draw(st.integers(1, 3))):
            lines += self.update(scope, depth)
        return lines

    def definition(self, scope):
        """Draw a top-level statement that binds a new name, as lines."""
        kind = self.choice(['scalar', 'vector', 'zeros', 'list', 'dict'])
        if kind == 'scalar':
            name = self.fresh('s')
            line = f'{name} = {self.scalar(scope)}'
            scope.scalars.append(name)
        elif kind == 'vector':
            name = self.fresh('v')
            line = f'{name} = {self.vector(scope)}'
            scope.vectors.append(name)
        elif kind == 'zeros':
            name = self.fresh('a')
            line = f'{name} = np.zeros({SIZE})'
            scope.vectors.append(name)
            scope.arrays.append(name)
        elif kind == 'list':
            name = self.fresh('l')
            line = f'{name} = [{self.scalar(scope)}]'
            scope.lists.append(name)
        else:
            name = self.fresh('d')
            line = f"{name} = {{'a': {self.scalar(scope)}, 'b': {self.vector(scope)}}}"
            scope.dicts.append(name)
        return [line]

    def body(self, scope, statements):
        lines = []
        for _ in range(statements):
            if self.chance(45):
                lines += self.definition(scope)
            else:
                lines += self.update(scope, depth=2)
        lines.append(f'return {self.result(scope)}')
        return lines

    def result(self, scope):
        """Build a return value that depends on every name, so each one is checked."""
        terms = list(scope.scalars)
        terms += [f'np.sum(np.tanh({v}))' for v in scope.vectors]
        terms += [f'{name}[-1]' for name in scope.lists]
        terms += [f"{name}['a'] + np.mean({name}['b'])" for name in scope.dicts]
        return ' + '.join(terms)

    def program(self):
        """Draw the source text of a module defining `f(x, s)` and maybe `helper`."""
        lines = ['import numpy as np', '']
        self.helper = None
        if self.chance(40):
            scope = Scope(scalars=['c'], vectors=['u'], arrays=[], lists=[],
                          dicts=[], indices=[])
            body = self.body(scope, self.draw(st.integers(0, 2)))
            lines += ['def helper(u, c):'] + indent(body) + ['', '']
            self.helper = 'helper'
        scope = Scope(scalars=['s'], vectors=['x'], arrays=[], lists=[],
                      dicts=[], indices=[])
        body = self.body(scope, self.draw(st.integers(1, 6)))
        lines += ['def f(x, s):'] + indent(body)
        return '\n'.join(lines) + '\n'


def indent(lines):
    return ['    ' + line for line in lines]


@st.composite
def programs(draw):
    return Builder(draw).program()


@st.composite
def points(draw):
    """A point (x, s), and tangent directions (vx, vs), with moderate entries."""
    entry = st.floats(-1.5, 1.5, allow_nan=False, allow_infinity=False)
    x = np.array(draw(st.lists(entry, min_size=SIZE, max_size=SIZE)))
    s = draw(entry)
    vx = np.array(draw(st.lists(entry, min_size=SIZE, max_size=SIZE)))
    vs = draw(entry)
    return x, s, vx, vs


# ---------------------------------------------------------------------------
# Checking.
# ---------------------------------------------------------------------------

_modules = itertools.count()


def load(source, directory, numpy_module='numpy'):
    """Import `source` from a new file in `directory` and return its `f`.

    `numpy_module` replaces numpy as the module the program calls `np`.
    """
    source = source.replace('import numpy as np', f'import {numpy_module} as np', 1)
    name = f'fuzz_program_{next(_modules)}'
    path = directory / f'{name}.py'
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


def central_gradient(function, x, s, step):
    """Central differences of scalar `function(x, s)` w.r.t. x and s."""
    dx = np.zeros(SIZE)
    for k in range(SIZE):
        e = np.zeros(SIZE)
        e[k] = step
        dx[k] = (function(x + e, s) - function(x - e, s)) / (2 * step)
    ds = (function(x, s + step) - function(x, s - step)) / (2 * step)
    return dx, ds


def one_sided_gradients(function, x, s, step):
    """Forward and backward differences w.r.t. x and s, flattened."""
    value = function(x, s)
    forward, backward = [], []
    for k in range(SIZE + 1):
        if k < SIZE:
            e = np.zeros(SIZE)
            e[k] = step
            up, down = function(x + e, s), function(x - e, s)
        else:
            up, down = function(x, s + step), function(x, s - step)
        forward.append((up - value) / step)
        backward.append((value - down) / step)
    return np.array(forward), np.array(backward)


def assume_smooth(function, x, s):
    """Discard a point where two step sizes disagree, or where the forward
    and backward differences do: a branch, a break or a while condition
    flips within a step (or at the point itself, such as s > 0.0 at
    s = 0.0), so the function has a kink there."""
    fine = np.concatenate([np.ravel(p) for p in central_gradient(function, x, s, STEP)])
    coarse = np.concatenate([np.ravel(p) for p in central_gradient(function, x, s, 1e-4)])
    scale = 1.0 + np.max(np.abs(fine))
    assume(np.all(np.abs(fine - coarse) < 1e-2 * scale))
    forward, backward = one_sided_gradients(function, x, s, 1e-5)
    assume(np.all(np.abs(forward - backward) < 1e-2 * scale))


def assume_smooth_along(function, x, s, vx, vs, step=1e-5):
    """Discard a direction along which the forward and backward differences
    disagree: moving x and s together can flip a branch that moving either
    alone does not (s == 0.0 exactly under `np.sin(s) > 0.0`, say)."""
    value = function(x, s)
    forward = (function(x + step * vx, s + step * vs) - value) / step
    backward = (value - function(x - step * vx, s - step * vs)) / step
    scale = 1.0 + abs(forward)
    assume(abs(forward - backward) < 1e-2 * scale)


def assert_close(got, expected, what, source):
    scale = 1.0 + np.max(np.abs(expected))
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL * scale,
                               err_msg=f'{what} of\n{source}')


def autograd_gradient(source, directory, x, s):
    """autograd's gradient of the program w.r.t. (x, s), or None where
    autograd cannot run it (writes into arrays, for one)."""
    if autograd is None:
        return None
    f = load(source, directory, 'autograd.numpy')
    try:
        return autograd.grad(f, argnum=(0, 1))(x, s)
    except Exception:            # a limit of autograd, so only finite differences check
        return None


def check_program(f, source, x, s, vx, vs, with_hvp, directory):
    x0, vx0 = x.copy(), vx.copy()
    value = f(x, s)
    assume(np.isfinite(value) and abs(value) < 1e6)
    assume_smooth(f, x, s)

    # Reverse mode.
    value_rev, (dx, ds) = adcompiler.value_and_grad(f, wrt=(0, 1))(x, s)
    np.testing.assert_array_equal(x, x0, err_msg='grad changed x')
    np.testing.assert_allclose(value_rev, value, rtol=1e-12, atol=0,
                               err_msg=f'value_and_grad value of\n{source}')
    expected_dx, expected_ds = central_gradient(f, x, s, STEP)
    assert_close(dx, expected_dx, 'gradient w.r.t. x', source)
    assert_close(ds, expected_ds, 'gradient w.r.t. s', source)
    reference = autograd_gradient(source, directory, x, s)
    if reference is not None:
        assert_close(dx, reference[0], 'gradient w.r.t. x (autograd)', source)
        assert_close(ds, reference[1], 'gradient w.r.t. s (autograd)', source)
        TALLY['autograd'] += 1

    # Forward mode.
    assume_smooth_along(f, x, s, vx, vs)
    value_fwd, tangent = adcompiler.jvp(f, (x, s), (vx, vs))
    np.testing.assert_array_equal(x, x0, err_msg='jvp changed x')
    np.testing.assert_array_equal(vx, vx0, err_msg='jvp changed the tangent')
    np.testing.assert_allclose(value_fwd, value, rtol=1e-12, atol=0,
                               err_msg=f'jvp value of\n{source}')
    expected = (f(x + STEP * vx, s + STEP * vs)
                - f(x - STEP * vx, s - STEP * vs)) / (2 * STEP)
    assert_close(tangent, expected, 'jvp', source)

    # Second order, reverse over forward, against differences of the gradient.
    if with_hvp:
        grad_x = adcompiler.grad(f)
        step = 1e-5
        expected = (grad_x(x + step * vx, s) - grad_x(x - step * vx, s)) / (2 * step)
        product = adcompiler.hvp(f)(x, s, vx)
        np.testing.assert_array_equal(x, x0, err_msg='hvp changed x')
        np.testing.assert_array_equal(vx, vx0, err_msg='hvp changed v')
        scale = 1.0 + np.max(np.abs(expected))
        np.testing.assert_allclose(product, expected, rtol=1e-3, atol=1e-4 * scale,
                                   err_msg=f'hvp of\n{source}')


@pytest.fixture(scope='module')
def program_directory(tmp_path_factory):
    return tmp_path_factory.mktemp('fuzz_programs')


# Programs run in this session, for the report line in tests/conftest.py.
TALLY = {'checked': 0, 'rejected': 0, 'autograd': 0}

fuzz_settings = settings(max_examples=EXAMPLES, deadline=None,
                         derandomize=SEED is None,
                         suppress_health_check=[HealthCheck.too_slow,
                                                HealthCheck.filter_too_much,
                                                HealthCheck.data_too_large])


def with_seed(test):
    return seed(int(SEED))(test) if SEED is not None else test


@with_seed
@fuzz_settings
@given(source=programs(), point=points(), with_hvp=st.integers(0, 2))
def test_random_program(program_directory, source, point, with_hvp):
    x, s, vx, vs = point
    f = load(source, program_directory)
    try:
        check_program(f, source, x, s, vx, vs, with_hvp == 0, program_directory)
    except InternalCompilerError:
        raise
    except adcompiler.AdCompilerError as err:
        TALLY['rejected'] += 1
        event(f'rejected: {type(err).__name__}: {str(err).splitlines()[0][:90]}')
        return
    TALLY['checked'] += 1
    event('checked')
