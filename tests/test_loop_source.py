"""Generated loop code: how it reads, and that its derivatives stay right.

The source checks pin the forms a reader sees in `.source`. Each function
here is also checked against central differences, at first and second
order, because a rewrite that reads better must not change a derivative.
"""

import textwrap

import gast
import numpy as np
import pytest

import adcompiler
from adcompiler import adjoint_moves, emit
from adcompiler.compiler import Compiler
from finite_differences import assert_gradient_close, numerical_gradient


def scaled_sine_sum(x, n):
    s = 0.0
    i = 0
    while i < n:
        s = s + np.sin(x) * i
        x = x * 1.1
        i += 1
    return np.sum(s)


def skipped_odd_trips(x, n):
    s = 0.0
    i = 0
    while i < n:
        i += 1
        if i % 2 == 1:
            continue
        s = s + np.cos(x) * i
    return np.sum(s)


def sine_over_range(x, n):
    s = 0.0
    for i in range(n):
        s = s + np.sin(x) * i
    return np.sum(s)


def tanh_over_rows(a, n):
    s = 0.0
    for row in np.atleast_2d(a):
        s = s + np.tanh(row) * row
    return np.sum(s) * n


def nested_loops(x, n):
    s = 0.0
    for i in range(n):
        j = 0
        while j < n:
            s = s + x * i * j
            x = np.sin(x)
            j += 1
    return np.sum(s)


def loop_with_break(x, n):
    s = 0.0
    i = 0
    while True:
        s = s + np.cos(x) * i
        i += 1
        if i >= n:
            break
    return np.sum(s)


def branch_in_loop(x, n):
    s = 0.0
    for i in range(n):
        if i % 2 == 0:
            s = s + np.sin(x)
        else:
            s = s - x * x
    return np.sum(s)


def reassigned_between_pushes(x, n):
    s = 0.0
    for i in range(n):
        y = np.tanh(x)
        z = y * x
        y = np.exp(y)
        s = s + y * z * i
    return np.sum(s)


def conditional_term(x, n):
    s = 0.0
    for i in range(n):
        s = s + (np.sin(x) if i % 2 else np.cos(x) * x)
    return np.sum(s)


def shared_shape(x, n):
    s = 0.0
    for i in range(n):
        w = x * i
        u = w + np.sin(x)
        v = w + np.cos(x)
        s = s + u * v
    return np.sum(s)


def two_loops(x, n):
    m = 0.0
    for i in range(n):
        m = m + x * i
    s = 0.0
    for i in range(n):
        s = s + np.sin(m) * i
    return np.sum(s)


LOOPS = [scaled_sine_sum, skipped_odd_trips, sine_over_range, tanh_over_rows,
         nested_loops, loop_with_break, branch_in_loop,
         reassigned_between_pushes, conditional_term, shared_shape,
         two_loops]

SHAPES = [(), (3,), (2, 3)]


def point(shape, seed=0):
    values = np.random.default_rng(seed).normal(size=shape)
    return float(values) if shape == () else values


@pytest.mark.parametrize('shape', SHAPES, ids=str)
@pytest.mark.parametrize('function', LOOPS, ids=lambda f: f.__name__)
def test_loop_gradient(function, shape):
    x = point(shape)
    gradient = adcompiler.grad(function)(x, 4)
    assert_gradient_close(gradient, numerical_gradient(function, (x, 4), 0))


@pytest.mark.parametrize('trips', [0, 1, 5])
def test_while_loop_gradient_by_trips(trips):
    x = point((3,))
    gradient = adcompiler.grad(scaled_sine_sum)(x, trips)
    assert_gradient_close(gradient, numerical_gradient(scaled_sine_sum,
                                                       (x, trips), 0))


def broadcast_while(x, y, n):
    i = 0
    while i < n:
        x = x * y + np.sin(x)
        i += 1
    return np.sum(x)


@pytest.mark.parametrize('x_shape, y_shape', [((3,), (2, 1)), ((2, 1), (3,)),
                                              ((), (2, 3))], ids=str)
@pytest.mark.parametrize('position', [0, 1])
def test_broadcast_while_gradient(x_shape, y_shape, position):
    args = (point(x_shape, 1), point(y_shape, 2) * 0.5, 3)
    gradient = adcompiler.grad(broadcast_while, wrt=position)(*args)
    assert_gradient_close(gradient, numerical_gradient(broadcast_while, args,
                                                       position))


@pytest.mark.parametrize('shape', SHAPES[1:], ids=str)
@pytest.mark.parametrize('function', LOOPS, ids=lambda f: f.__name__)
def test_loop_jvp(function, shape):
    x, u = point(shape, 6), point(shape, 7)
    value, tangent = adcompiler.jvp(function, (x, 4), (u, None))
    step = 1e-6
    expected = (function(x + step * u, 4) - function(x - step * u, 4)) / (
        2 * step)
    assert value == pytest.approx(function(x, 4), rel=1e-12)
    assert tangent == pytest.approx(expected, rel=1e-5, abs=1e-6)

# Second order: hessian in every composition, grad of grad, jvp of grad.

@pytest.mark.parametrize('mode', [c.value for c in adcompiler.Composition])
@pytest.mark.parametrize('function', LOOPS, ids=lambda f: f.__name__)
def test_loop_hessian(function, mode):
    x = point((3,), seed=3)
    hessian = adcompiler.hessian(function, mode=mode)(x, 3)

    def gradient(v):
        return adcompiler.grad(function)(v, 3)

    columns = [numerical_gradient(lambda v: gradient(v)[k], (x,), 0)
               for k in range(3)]
    np.testing.assert_allclose(hessian, np.array(columns), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize('function', LOOPS, ids=lambda f: f.__name__)
def test_loop_grad_of_grad(function):
    second = adcompiler.grad(adcompiler.grad(function))(0.4, 3)
    first = adcompiler.grad(function)
    expected = numerical_gradient(lambda v: first(v, 3), (0.4,), 0)
    assert second == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize('function', LOOPS, ids=lambda f: f.__name__)
def test_loop_jvp_of_grad(function):
    rng = np.random.default_rng(5)
    x, u = rng.normal(size=3), rng.normal(size=3)
    gradient = adcompiler.grad(function)
    _, tangent = adcompiler.jvp(lambda v: gradient(v, 3), (x,), (u,))
    hessian = adcompiler.hessian(function)(x, 3)
    np.testing.assert_allclose(tangent, hessian @ u, rtol=1e-7, atol=1e-9)


# How the generated code reads.

def test_while_loop_keeps_its_test():
    text = adcompiler.grad(scaled_sine_sum).source
    assert 'while i < n:' in text
    assert 'stop' not in text
    assert 'while True' not in text
    assert 'for _ in ad.reversed_range(trips):' in text


def test_while_loop_with_continue_keeps_its_test():
    text = adcompiler.grad(skipped_odd_trips).source
    assert 'while i < n:' in text
    assert 'stop' not in text


def test_scaled_adjoint_skips_temporary():
    text = adcompiler.grad(scaled_sine_sum).source
    assert 'dx = dx * 1.1' in text
    assert ' = dx\n' not in text


def test_sum_adjoint_skips_temporary():
    text = adcompiler.grad(sine_over_range).source
    assert 'ds = ad.unbroadcast(ds, s_shape)' in text
    assert ' = ds\n' not in text


def test_while_true_has_no_constant_branch():
    text = adcompiler.grad(loop_with_break).source
    assert 'if True' not in text
    assert 'while True:' in text


def test_loop_counters_follow_source_order():
    primal = adcompiler.grad(two_loops).source.split('def adjoint')[0]
    assert primal.index('trips = 0') < primal.index('trips_1 = 0')


def test_nested_counters_read_outside_in():
    text = adcompiler.grad(nested_loops).source
    outer = text.index('for _ in ad.reversed_range(trips):')
    inner = text.index('for _ in ad.reversed_range(trips_1):')
    assert outer < inner
    assert '__1' not in text


def test_restored_parameter_follows_def_line():
    text = adcompiler.grad(scaled_sine_sum).source
    restore = '# line {}: def scaled_sine_sum(x, n):\n    x = tape.pop()'
    line = scaled_sine_sum.__code__.co_firstlineno
    assert restore.format(line) in text

def test_repeated_push_is_saved_once():
    text = adcompiler.grad(tanh_over_rows).source
    assert 'tape.append((t2, row))' in text
    assert 'tape.append(t2)' not in text
    assert 't2 = tape.pop()' not in text

def test_tangent_branch_has_no_repeated_comment():
    text = Compiler().compile_forward(conditional_term, ('x',)).source
    assert text.count('s = s + (np.sin(x) if i % 2 else') == 1

def test_tangent_reassignment_is_one_statement():
    text = Compiler().compile_forward(scaled_sine_sum, ('x',)).source
    assert '        x = x * 1.1\n        dx = dx * 1.1\n' in text
    assert 's = s + t' in text


def test_tangent_reading_old_value_keeps_temporary():
    text = Compiler().compile_forward(nested_loops, ('x',)).source
    lines = [line.strip() for line in text.splitlines()]
    # The tangent of `x = np.sin(x)` reads the x before the assignment.
    assert 'x = np.sin(x)' not in lines
    assert 'dx * np.cos(x)' in text

def test_continue_branch_is_negated():
    primal = adcompiler.grad(skipped_odd_trips).source.split('def adjoint')[0]
    tangent = Compiler().compile_forward(skipped_odd_trips, ('x',)).source
    for text in (primal, tangent):
        assert 'pass' not in text
        assert 'if not t' in text

def test_repeated_shape_is_saved_once():
    text = adcompiler.grad(shared_shape).source
    assert text.count('ad.shape_and_kind(w)') == 1
    assert 'w_shape_1' not in text
    assert 'ad.unbroadcast(du, w_shape)' in text

# The move rewrite itself, on hand-written adjoint code.

def rewritten(code):
    function = gast.parse(textwrap.dedent(code)).body[0]
    changed = adjoint_moves.forward_moved_adjoints(function, 'np', 'ad')
    return changed, emit.to_source(function)


def test_move_is_forwarded():
    changed, text = rewritten('''
        def adjoint(dx, x):
            dt = None
            if dx is not None:
                dt = dx
                dx = None
            if dt is not None:
                dx = dt * np.cos(x)
                dt = None
            return dx
        ''')
    assert changed
    assert 'dx = dx * np.cos(x)' in text
    assert 'dt = dx' not in text


MOVES_KEPT = {
    # dx is assigned twice: the second statement would read the new dx.
    'accumulated': '''
        def adjoint(dx, x):
            dt = None
            if dx is not None:
                dt = dx
                dx = None
            if dt is not None:
                dx = dt * x
                dx = dx + dt * x
                dt = None
            return dx
        ''',
    # dt may hold a value from elsewhere when dx is None.
    'temporary assigned twice': '''
        def adjoint(dx, dy, x):
            dt = dy
            if dx is not None:
                dt = dx
                dx = None
            if dt is not None:
                dx = dt * x
                dt = None
            return dx
        ''',
    # The second block runs without the first one after the break.
    'break between': '''
        def adjoint(dx, x, n):
            dt = None
            for k in range(n):
                if dx is not None:
                    dt = dx
                    dx = None
                if k == 2:
                    break
                if dt is not None:
                    dx = dt * x
                    dt = None
            return dx
        ''',
    # Moving `dx = ...` below the call would change what the call reads.
    'impure reader after': '''
        def adjoint(dx, x, tape):
            dt = None
            if dx is not None:
                dt = dx
                dx = None
            if dt is not None:
                dx = dt * x
                dy = tape.pop() * dt
                dt = None
            return dx, dy
        ''',
}


@pytest.mark.parametrize('code', MOVES_KEPT.values(), ids=MOVES_KEPT.keys())
def test_move_is_kept(code):
    changed, text = rewritten(code)
    assert not changed
    assert 'dt = dx' in text
