"""Control flow and in-place updates, checked against finite differences.

Each row of `CASES` is a small function with control flow or mutation and the
argument tuples to try it at. The inputs are chosen so that the rows take
different branches and different trip counts (a loop that runs zero times, a
break on the first iteration, a while loop whose length depends on the data).
Every gradient is compared with `numerical_gradient`, first one argument at a
time and then all at once with a tuple `wrt`. The value from `value_and_grad`
must be the function's own value, and the caller's arrays must not change.

Rows that show a bug carry `fails`, the tests they fail, and `reason`; those
tests are marked `xfail(strict=True)` so that a fix shows up as an XPASS.
The last part checks that every construct that is still unsupported raises
`UnsupportedSyntaxError` at the line that uses it.
"""

import dataclasses
import inspect
import math

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, assert_matches_autograd
from finite_differences import numerical_gradient

COUNTER = 0.0
TOTALS = np.zeros(2)


# Branches --------------------------------------------------------------------

def relu_constant_arm(x):
    if x < 0.0:
        y = 0.0
    else:
        y = 3.0 * x * x
    return y


def constant_overwrites_active(x):
    y = x * 2.0
    if x > 1.0:
        y = 3.0
    return y * x


def branch_on_sum(x):
    if np.sum(x) > 0.0:
        return np.sum(x ** 2)
    else:
        return -np.sum(np.sin(x))


def elif_chain(x):
    if x < -1.0:
        y = -x
    elif x < 0.0:
        y = x * x
    elif x < 1.0:
        y = np.sin(x)
    else:
        y = np.log(x) + 0.5
    return y * x


def nested_if(x, y):
    if x > 0.0:
        if y > 0.0:
            z = x * y
        else:
            z = x - y * y
    else:
        z = np.exp(x) + y
    return z * z


def branch_reassigns_its_test(x):
    if x > 0.0:
        x = -x * 2.0
    return x * x + x


def defined_in_one_branch(x):
    if x > 0.0:
        y = x * x
    return y if x > 0.0 else x


def branch_max(x, y):
    if x > y:
        m = x
    else:
        m = y
    return m * x + m * y


def conditional_expression(x):
    y = x * x if x > 0.0 else -x
    return y * np.cos(x)


def nested_conditional_expression(x):
    y = x * x if x > 0.0 else (-x if x > -1.0 else x * 3.0)
    return y * x


def and_condition(x, y):
    if x > 0.0 and y > 0.0:
        z = x * y
    else:
        z = x + 2.0 * y
    return z * x


def or_not_elif(x, y):
    if x > 0.0 or y > 0.0:
        z = x * y
    elif not x < -1.0:
        z = x + y
    else:
        z = x - y
    return z * z


def chained_comparison(x):
    if 0.0 < x < 1.0:
        return x ** 3
    return np.sin(x)


def boolean_operator_value(x):
    return (x > 1.0 and x * x) or -x


def mutate_in_both_arms(x):
    y = np.zeros(2)
    if x > 0.0:
        y[0] = x
        y[1] = x * y[0]
    else:
        y[1] = x
        y[0] = y[1] ** 3
    return y[0] * y[1] + y[1]


# Loops over range, with writes -----------------------------------------------

def log_sum_exp(a):
    m = a[0]
    for i in range(1, len(a)):
        if a[i] > m:
            m = a[i]
    s = 0.0
    for i in range(len(a)):
        s += np.exp(a[i] - m)
    return m + np.log(s)


def shadowed_sum_of_squares(x):
    sum = 0.0
    nr, nc = x.shape
    for i in range(nr):
        for j in range(nc):
            sum += x[i, j] ** 2
    return sum


def diagonal_fill(d, w):
    n = len(d)
    S = np.zeros((n, n))
    for i in range(n):
        if d[i] > 0.0:
            S[i, i] += d[i]
        S[i, i] += w[i] * d[i]
    return np.sum(S @ S)


def taylor_exp(x):
    s = 0.0
    for n in range(40):
        term = x ** n / math.factorial(n)
        if abs(term) < 1e-12:
            return s
        s = s + term
    return s


def continue_and_break(x):
    s = 0.0
    for i in range(len(x)):
        if x[i] < 0.0:
            continue
        if s > 3.0:
            break
        s = s + x[i] * x[i]
    return s


def rnn(W, x):
    steps = x.shape[0]
    h = np.zeros((steps + 1, W.shape[0]))
    for t in range(steps):
        h[t + 1] = np.tanh(W @ h[t] + x[t])
    return np.sum(h[steps] ** 2)


def loop_carried_reassignment(x):
    for i in range(4):
        x = x * 0.9 + np.sin(x)
    return np.sum(x)


def cumulative_sum_output(x, w):
    out = np.zeros_like(x)
    out[0] = x[0]
    for i in range(1, len(x)):
        out[i] = out[i - 1] + x[i]
    return np.sum(out * w)


def slice_write_argument(x):
    x[1:3] = x[0:2] * 2.0
    if x[0] > 0.0:
        x[3:] = np.sin(x[3:])
    return np.sum(x ** 2)


def argument_write_in_loop(x):
    for i in range(1, len(x)):
        x[i] = x[i - 1] * x[i]
    return np.sum(x * x)


def argument_written_then_reassigned(x):
    x[0] = 1.0
    x = x * x
    x[1] = x[2] * 3.0
    return np.sum(x * x)


def write_into_second_argument(x, buffer):
    for i in range(len(buffer)):
        if i % 2 == 0:
            buffer[i] = buffer[i] * x
    return np.sum(buffer * buffer) + x


def same_element_written_twice(x):
    y = np.zeros_like(x)
    for i in range(len(x)):
        y[i] = x[i] * x[i]
        y[i] = y[i] * x[i] + y[i]
    return np.sum(y)


def read_whole_array_after_write(x):
    y = np.zeros_like(x)
    s = 0.0
    for i in range(len(x)):
        y[i] = np.sin(x[i])
        s = s + y[i] * y[i] + np.sum(y * x)
    return s


def fresh_array_each_iteration(x):
    s = 0.0
    for k in range(3):
        y = np.zeros(2)
        y[0] = x * k
        s = s + np.dot(y, y)
        y[1] = s * x
        s = s + y[1] * y[0]
    return s


def chain_of_element_writes(x):
    y = np.zeros(3)
    y[0] = x
    y[1] = y[0] * y[0]
    y[0] = y[1] + y[0]
    return y[0] * y[1]


def pairwise_augmented_writes(x):
    S = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            S[i, j] += x[i] * x[j]
            S[j, i] += x[i]
    return np.sum(S * S)


def augmented_slice_writes(x):
    y = np.zeros(4)
    y[1:3] += x[0:2]
    y[0:2] += x[1:3] * y[1:3]
    return np.sum(y * y)


def overlapping_shift(x):
    y = np.zeros(4)
    y[0:3] = x
    y[1:] = y[:-1] * 2.0
    return np.sum(y * y)


def reversed_slice_write(x):
    y = np.zeros(4)
    y[::-1] = x * 2.0
    y[1:3] = y[1:3] * y[0:2]
    return np.sum(y * x)


def mask_write(x):
    y = np.zeros_like(x)
    y[x > 0.0] = x[x > 0.0] ** 2
    return np.sum(y)


def empty_filled_in_loop(x):
    y = np.empty(3)
    for i in range(3):
        y[i] = x * (i + 1.0)
    return np.sum(np.cos(y))


def bubble_sort_weighted(x, w):
    y = np.array(x)
    n = len(y)
    for i in range(n):
        for j in range(n - 1 - i):
            if y[j] > y[j + 1]:
                smaller = y[j + 1]
                y[j + 1] = y[j]
                y[j] = smaller
    return np.sum(y * w)


def euler_oscillator(position, velocity):
    steps = 5
    trajectory = np.zeros(steps)
    for t in range(steps):
        acceleration = -position - 0.1 * velocity * velocity
        position = position + 0.1 * velocity
        velocity = velocity + 0.1 * acceleration
        trajectory[t] = position
    return np.sum(trajectory ** 2)


def back_substitution(U, b):
    n = len(b)
    x = np.zeros(n)
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s = s - U[i, j] * x[j]
        x[i] = s / U[i, i]
    return np.sum(x * x)


def cholesky_log_determinant(A):
    n = A.shape[0]
    L = np.zeros((n, n))
    for j in range(n):
        s = A[j, j]
        for k in range(j):
            s = s - L[j, k] ** 2
        L[j, j] = np.sqrt(s)
        for i in range(j + 1, n):
            t = A[i, j]
            for k in range(j):
                t = t - L[i, k] * L[j, k]
            L[i, j] = t / L[j, j]
    total = 0.0
    for j in range(n):
        total = total + 2.0 * np.log(L[j, j])
    return total


def dynamic_time_warping(x, y):
    n = len(x)
    m = len(y)
    D = np.zeros((n + 1, m + 1))
    for i in range(1, n + 1):
        D[i, 0] = 1e10
    for j in range(1, m + 1):
        D[0, j] = 1e10
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            best = D[i - 1, j - 1]
            if D[i - 1, j] < best:
                best = D[i - 1, j]
            if D[i, j - 1] < best:
                best = D[i, j - 1]
            D[i, j] = (x[i - 1] - y[j - 1]) ** 2 + best
    return D[n, m]


def two_arrays_written_in_turn(x):
    p = np.zeros(3)
    q = np.zeros(3)
    for i in range(3):
        p[i] = x[i] * 2.0
        q[i] = p[i] * x[i]
        p[i] = q[i] + p[(i + 1) % 3]
    return np.sum(p * q)


def branch_on_written_element(x):
    y = np.zeros(3)
    for i in range(3):
        y[i] = x[i] * x[i]
        if y[i] > 1.0:
            y[i] = 1.0
    return np.sum(y * x)


def rows_and_columns_written(x):
    S = np.zeros((3, 3))
    for i in range(3):
        S[i] = x * (i + 1.0)
        S[:, i] = S[:, i] + x[i]
    return np.sum(S ** 2)


def written_array_rebound(x):
    y = np.zeros(3)
    y[0] = x
    y = y * 2.0
    y[1] = y[0] * x
    for i in range(2):
        y = y + x
        y[2] = y[1] * y[0]
    return np.sum(y * y)


def list_append_in_loop(x):
    states = []
    h = x * 1.0
    for i in range(3):
        h = np.sin(h) + x
        states.append(h)
    s = 0.0
    for state in states:
        s = s + np.sum(state * state)
    return s


# Loops over arrays, lists and tuples -----------------------------------------

def sum_rows(X):
    total = np.zeros(X.shape[1])
    for row in X:
        total = total + row * row
    return np.sum(total * total)


def signed_elements(x):
    s = 0.0
    for a in x:
        if a > 0.0:
            s = s + a
        else:
            s = s - a * a
    return s


def enumerate_weights(X):
    s = 0.0
    for i, row in enumerate(X):
        s = s + (i + 1.0) * np.sum(row ** 3)
    return s


def enumerate_from_one(x):
    s = 0.0
    for i, a in enumerate(x, 1):
        s = s + i * a * a
    return s


def zip_pairs(x, y):
    s = 0.0
    for a, b in zip(x, y):
        if a > b:
            s = s + a * b
        else:
            s = s - b
    return s


def zip_uneven(x, y):
    s = 0.0
    for a, b in zip(x, y):
        s = s + a * b * b
    return s


def zip_pairs_reversed(x, y):
    s = 0.0
    for a, b in reversed(list(zip(x, y))):
        s = s * 0.9 + a * b * b
    return s


def enumerate_reversed(x):
    s = 0.0
    for i, a in reversed(list(enumerate(x))):
        s = s * 0.5 + i * np.sin(a)
    return s


def horner_reversed(coefficients, x):
    value = 0.0
    for c in reversed(coefficients):
        value = value * x + c
    return value


def list_of_arrays(x):
    arrays = [x, x * 2.0, np.sin(x)]
    s = 0.0
    for a in arrays:
        s = s * 0.5 + np.sum(a * a)
    return s


def reversed_list(x):
    arrays = [x, x * 2.0, np.sin(x)]
    s = 0.0
    for a in reversed(arrays):
        s = s * 0.5 + np.sum(a)
    return s


def tuple_of_arrays(x, y):
    s = 0.0
    for a in (x, y, x * y):
        s = s + np.sum(a * a)
    return s


def iterate_over_slice(x):
    s = 0.0
    for a in x[::-1]:
        s = s * 0.5 + a
    return s


def loop_variable_after_loop(x):
    best = 0.0
    for a in x:
        if a > 0.0:
            best = a
    return best * 3.0 + a


def loop_variable_reassigned(x):
    s = 0.0
    for a in x:
        a = a * a
        s = s + a
    return s


# Helpers called in loops -----------------------------------------------------

def sum_of_squares_loop(v):
    s = 0.0
    for e in v:
        s = s + e * e
    return s


def first_above_one(v):
    for i in range(len(v)):
        if v[i] > 1.0:
            return v[i] * 2.0
    return v[0]


def scaled_copy(v):
    out = np.zeros_like(v)
    for i in range(len(v)):
        out[i] = v[i] * (i + 1)
    return out


def helper_with_loop_in_loop(x):
    t = 0.0
    for i in range(3):
        t = t + sum_of_squares_loop(x * (i + 1.0))
        x = x * 0.5
    return t


def helper_with_return_in_while(x):
    s = 0.0
    k = 0
    while k < 3:
        s = s + first_above_one(x * (k + 1.0))
        k += 1
    return s


def helper_with_writes_in_branches(x):
    a = scaled_copy(x)
    if a[0] > 0.0:
        b = scaled_copy(a)
    else:
        b = scaled_copy(x * 2.0)
    return np.sum(a * b)


# Early exits, trip counts and while loops ------------------------------------

def return_from_nested_loops(x):
    s = 0.0
    for i in range(3):
        for j in range(3):
            s = s + x[i] * x[j]
            if s > 2.0:
                return s * s
    return -s


def break_in_inner_loop(X):
    s = 0.0
    nr, nc = X.shape
    for i in range(nr):
        for j in range(nc):
            if X[i, j] < 0.0:
                break
            s = s + X[i, j] ** 2
    return s


def continue_in_outer_loop(X):
    s = 0.0
    for i in range(X.shape[0]):
        if X[i, 0] < 0.0:
            continue
        for j in range(X.shape[1]):
            s = s + X[i, j] * X[i, 0]
    return s


def break_on_first_iteration(x):
    s = x
    for i in range(5):
        s = s * x
        break
    return s


def data_dependent_trip_count(x):
    n = int(np.sum(x > 0.0))
    s = 1.0
    for i in range(n):
        s = s * x[i]
    return s


def loop_bound_from_argument(x, n):
    s = x * 1.0
    for i in range(int(n)):
        s = s * x
    return s


def newton_sqrt(a):
    y = a
    while abs(y * y - a) > 1e-12:
        y = 0.5 * (y + a / y)
    return y


def halving_until_small(x):
    y = x
    n = 0
    while y > 0.1:
        y = y / 2.0
        n = n + 1
    return y * (n + 1)


def return_from_while(x):
    y = x
    n = 0
    while True:
        y = y * 1.5
        n += 1
        if y > 5.0:
            return y + n
        if n > 50:
            break
    return 0.0


def gradient_descent(target, rate):
    w = target * 0.0
    for step in range(5):
        w = w - rate * 2.0 * (w - target)
    return np.sum(w * w)


def power_iteration(A):
    v = np.ones(A.shape[0])
    for i in range(6):
        v = A @ v
        v = v / np.sqrt(np.sum(v * v))
    return v @ A @ v


def alternate_on_index(x):
    s = 0.0
    for i in range(len(x)):
        if i % 2 == 0:
            s = s + x[i] ** 2
        else:
            s = s * x[i]
    return s


def while_inside_for(x):
    s = 0.0
    for i in range(len(x)):
        y = x[i]
        while abs(y) > 0.3:
            y = y * 0.5
            s = s + y * x[i]
    return s


def for_inside_if_inside_while(x):
    k = 0
    s = x * 1.0
    while k < 4:
        if k % 2 == 0:
            for j in range(k):
                s = s * x + j
        else:
            s = np.sin(s)
        k = k + 1
    return s


def return_from_for_inside_while(x):
    k = 0
    if x[0] > 0.0:
        while k < 5:
            for i in range(len(x)):
                if x[i] * k > 1.0:
                    return x[i] * k * x[0]
            k = k + 1
    return np.sum(x)


def condition_carried_across_iterations(x):
    c = x[0] > 0.0
    s = 0.0
    for i in range(3):
        if c:
            s = s + x[i] * x[i]
        else:
            s = s - x[i]
        c = not c
    return s


def flag_set_in_loop(x):
    y = x * 1.0
    seen = False
    for i in range(4):
        if seen:
            y = y * 0.5
        else:
            y = y * x
        if y > 1.0:
            seen = True
    return y


def default_loop_bound(x, n=3):
    s = 0.0
    for i in range(n):
        s = s + x ** (i + 1)
    return s


def loop_target_shadows_argument(x):
    s = x * 1.0
    for x in range(3):
        s = s * 2.0
    return s


def power_recursive(x, n):
    if n == 0:
        return 1.0
    return x * power_recursive(x, n - 1)


def even_step(x, n):
    if n == 0:
        return x
    return odd_step(x * 1.5, n - 1)


def odd_step(x, n):
    if n == 0:
        return -x * x
    return even_step(x + x * x, n - 1)


def recursive_helpers(x):
    return power_recursive(x, 3) + power_recursive(x * 2.0, 0) + even_step(
        x, 3)


# Names: augmented assignment, swaps, shadowing -------------------------------

def augmented_name_operators(x):
    y = x * 1.0
    for i in range(3):
        y += x
        y -= 0.5 * x
        y *= x
        y /= 1.5
    return np.sum(y)


def matmul_and_power_assign(W, v):
    h = v * 1.0
    for i in range(3):
        h @= W
        h **= 1.0
    return np.sum(h)


def swap_in_loop(x, y):
    a = x * 1.0
    b = y * 1.0
    for i in range(3):
        a, b = b, a * b
    return a + b * 2.0


def names_like_generated_code(x):
    tape = x * 2.0
    stop = 0.0
    result = 1.0
    trips = 0
    for i in range(3):
        dx = tape * x
        stop = stop + dx
        trips += 1
    saved = stop * trips
    ad = saved + result
    return ad


def print_assert_docstring(x):
    """The docstring, the print and the assert run in the primal."""
    s = 0.0
    for i in range(2):
        assert i >= 0, 'range gave a negative index'
        s = s + x * i
    print('s is', s)
    return s


# Known bugs found by this table (see `reason` on each row) -------------------

def view_of_written_array(x):
    z = np.zeros(3)
    v = z[0:2]
    for i in range(2):
        z[i] = x * (i + 1.0)
    return np.sum(v)


def augmented_assignment_on_alias(x):
    y = x * 2.0
    z = y
    for i in range(2):
        y += x
    return np.sum(y * z)


def array_without_copy_aliases_written(x):
    y = np.zeros(3)
    z = np.array(y, copy=False)
    for i in range(3):
        y[i] = x * i
    return np.sum(z)


def iterate_over_reassigned_name(x):
    for e in x:
        x = x * e
    return np.sum(x)


def loop_target_name_reused(X, Y):
    s = 0.0
    for row in X:
        s = s + np.sum(row ** 2)
    for row in Y:
        s = s + np.sum(row * X[0])
    return s


def duplicate_index_write(x):
    y = np.zeros(3)
    index = np.array([0, 0])
    for i in range(1):
        y[index] = x[0:2]
    return np.sum(y * y)


def list_appended_through_alias(x):
    a = [x * 1.0]
    b = a
    for i in range(2):
        b.append(a[-1] * x)
    return np.sum(a[-1])


def float_written_into_int_array(x):
    y = np.zeros(3, dtype=int)
    for i in range(3):
        y[i] = x * 10.0
    return np.sum(y * 1.0) + x


def copy_then_write(x):
    y = np.copy(x)
    for i in range(2):
        y[i] = y[i] * y[i + 1]
    return np.sum(y * y)


# The table -------------------------------------------------------------------

def vec(*values):
    return np.array(values, dtype=float)


V3 = vec(0.5, -1.2, 2.0)
M23 = np.array([[0.5, 1.2, -2.0], [0.3, 0.9, 1.1]])
W22 = np.array([[0.5, -0.3], [0.2, 0.4]])
X32 = np.array([[0.1, 0.2], [-0.3, 0.5], [0.7, -0.1]])

@dataclasses.dataclass(frozen=True)
class Case:
    """A function, the argument tuples to try it at, and what to differentiate.

    `fails` names the tests a known bug makes fail; `reason` describes it.
    """

    function: object
    inputs: list
    wrt: tuple = (0,)
    fails: tuple = ()
    reason: str = ''

    @property
    def name(self):
        return self.function.__name__


CASES = [
    # Branches.
    Case(relu_constant_arm, [(1.3,), (-0.8,)]),
    Case(constant_overwrites_active, [(1.3,), (0.4,), (-2.0,)]),
    Case(branch_on_sum, [(vec(0.5, 1.2, -0.3),), (vec(-0.5, -1.2, 0.3),)]),
    Case(elif_chain, [(-1.7,), (-0.4,), (0.6,), (2.5,)]),
    Case(nested_if, [(0.7, 1.1), (0.7, -1.1), (-0.7, 0.4)], wrt=(0, 1)),
    Case(branch_reassigns_its_test, [(1.3,), (-0.6,)]),
    Case(defined_in_one_branch, [(1.3,), (-0.6,)]),
    Case(branch_max, [(1.3, 0.2), (-0.6, 0.9)], wrt=(0, 1)),
    Case(conditional_expression, [(1.3,), (-0.6,)]),
    Case(nested_conditional_expression, [(1.3,), (-0.3,), (-1.3,)]),
    Case(and_condition, [(0.7, 1.1), (0.7, -1.1), (-0.7, 1.1)], wrt=(0, 1)),
    Case(or_not_elif, [(1.3, -0.4), (-0.5, -0.4), (-1.5, -0.4)], wrt=(0, 1)),
    Case(chained_comparison, [(0.3,), (1.3,), (-0.4,)]),
    Case(boolean_operator_value, [(1.5,), (0.5,)]),
    Case(mutate_in_both_arms, [(1.3,), (-1.3,)]),
    # Loops over range, with writes.
    Case(log_sum_exp, [(vec(0.3, 2.0, -1.0, 1.5),),
                       (vec(3.0, 2.0, -1.0, 1.5),),
                       (vec(-1.0, -0.5, 0.2, 1.0),), (vec(0.7),)]),
    Case(shadowed_sum_of_squares, [(M23,), (X32,)]),
    Case(diagonal_fill, [(V3, vec(0.3, 0.7, -0.4)),
                         (vec(-0.5, -1.2, -2.0), vec(0.3, 0.7, -0.4))],
         wrt=(0, 1)),
    Case(taylor_exp, [(0.5,), (-2.3,), (4.0,)]),
    Case(continue_and_break, [(vec(0.5, -1.2, 2.0, 1.0, 0.3),),
                              (vec(-0.5, -1.2, -2.0),),
                              (vec(0.4, 0.3, 0.2),)]),
    Case(rnn, [(W22, X32), (-W22.T, X32[::-1])], wrt=(0, 1)),
    Case(loop_carried_reassignment, [(V3,), (vec(3.0),)]),
    Case(cumulative_sum_output, [(V3, vec(0.3, 1.0, 2.0)),
                                 (vec(0.7), vec(1.5))], wrt=(0, 1)),
    Case(slice_write_argument, [(vec(0.5, -1.2, 2.0, 0.3, 0.8),),
                                (vec(-0.5, -1.2, 2.0, 0.3),)]),
    Case(argument_write_in_loop, [(V3,), (vec(1.1),)]),
    Case(argument_written_then_reassigned, [(V3,)]),
    Case(write_into_second_argument, [(1.3, V3),
                                      (-0.6, vec(0.7))], wrt=(0, 1)),
    Case(same_element_written_twice, [(V3,)]),
    Case(read_whole_array_after_write, [(V3,)]),
    Case(fresh_array_each_iteration, [(1.3,), (-0.6,)]),
    Case(chain_of_element_writes, [(1.3,), (-0.6,)]),
    Case(pairwise_augmented_writes, [(V3,)]),
    Case(augmented_slice_writes, [(V3,)]),
    Case(overlapping_shift, [(V3,)]),
    Case(reversed_slice_write, [(vec(0.5, -1.2, 2.0, 0.7),)]),
    Case(mask_write, [(vec(0.5, -1.2, 2.0, 0.7),), (vec(-0.5, -1.2),)]),
    Case(empty_filled_in_loop, [(1.3,), (-0.6,)]),
    Case(bubble_sort_weighted,
         [(vec(0.5, -1.2, 2.0, 0.7), vec(1.0, 2.0, 3.0, 4.0)),
          (vec(2.0, 1.0, 0.5, -1.0), vec(0.5, -1.0, 2.0, 1.5))],
         wrt=(0, 1)),
    Case(euler_oscillator, [(1.0, 0.0), (-0.5, 2.0)], wrt=(0, 1)),
    Case(back_substitution,
         [(np.array([[2.0, 0.5, -0.3], [0.0, 1.5, 0.2], [0.0, 0.0, 3.0]]),
           V3)], wrt=(0, 1)),
    Case(cholesky_log_determinant,
         [(np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]]),)]),
    Case(dynamic_time_warping, [(V3, vec(0.4, -1.0, 1.5, 2.2)),
                                (vec(1.0, 0.1), vec(-0.3, 0.8, 0.2))],
         wrt=(0, 1)),
    Case(two_arrays_written_in_turn, [(V3,)]),
    Case(branch_on_written_element, [(V3,)]),
    Case(rows_and_columns_written, [(V3,)]),
    Case(written_array_rebound, [(1.3,), (-0.6,)]),
    Case(list_append_in_loop, [(V3,)]),
    # Loops over arrays, lists and tuples.
    Case(sum_rows, [(M23,), (X32,)]),
    Case(signed_elements, [(V3,), (vec(-0.3),)]),
    Case(enumerate_weights, [(M23,), (X32,)]),
    Case(enumerate_from_one, [(V3,)]),
    Case(zip_pairs, [(V3, vec(0.3, 0.7, 2.5))], wrt=(0, 1)),
    Case(zip_uneven, [(V3, vec(0.3, 0.9))], wrt=(0, 1)),
    Case(zip_pairs_reversed, [(V3, vec(0.3, 0.7, 2.5)), (V3, vec(0.3, 0.9))],
         wrt=(0, 1)),
    Case(enumerate_reversed, [(V3,), (vec(0.2),)]),
    Case(horner_reversed, [(vec(1.0, -2.0, 0.5, 3.0), 0.7), (vec(2.0), -1.3)],
         wrt=(0, 1)),
    Case(list_of_arrays, [(vec(0.5, -1.2),)]),
    Case(reversed_list, [(vec(0.5, -1.2),)]),
    Case(tuple_of_arrays, [(vec(0.5, -1.2), vec(0.3, 0.7))], wrt=(0, 1)),
    Case(iterate_over_slice, [(V3,)]),
    Case(loop_variable_after_loop, [(V3,), (vec(-0.5, 1.2, -2.0),)]),
    Case(loop_variable_reassigned, [(V3,)]),
    # Helpers called in loops.
    Case(helper_with_loop_in_loop, [(V3,)]),
    Case(helper_with_return_in_while, [(vec(0.3, 0.2, 0.45),),
                                       (vec(1.3, 0.2),)]),
    Case(helper_with_writes_in_branches, [(V3,),
                                          (vec(-0.5, -1.2, 2.0),)]),
    # Early exits, trip counts and while loops.
    Case(return_from_nested_loops, [(V3,), (vec(0.5, 0.2, 0.3),),
                                    (vec(1.6, 0.2, 0.3),)]),
    Case(break_in_inner_loop, [(M23,), (-M23,), (X32,)]),
    Case(continue_in_outer_loop, [(M23,), (X32,)]),
    Case(break_on_first_iteration, [(1.3,), (-0.6,)]),
    Case(data_dependent_trip_count, [(V3,), (vec(0.5, 1.2, 2.0),),
                                     (vec(-0.5, -1.2),)]),
    Case(loop_bound_from_argument, [(1.3, 0.0), (1.3, 3.0)]),
    Case(newton_sqrt, [(2.0,), (9.5,), (0.3,)]),
    Case(halving_until_small, [(3.3,), (0.05,), (0.7,)]),
    Case(return_from_while, [(1.3,), (4.0,), (-1.0,)]),
    Case(gradient_descent, [(vec(0.5, -1.2), 0.1), (vec(2.0), 0.3)],
         wrt=(0, 1)),
    Case(power_iteration, [(np.array([[2.0, 0.3], [0.3, 1.0]]),)]),
    Case(alternate_on_index, [(vec(0.5, -1.2, 2.0, 0.7),), (vec(1.5),)]),
    Case(while_inside_for, [(vec(0.5, -1.3, 2.0),), (vec(0.1, 0.2),)]),
    Case(for_inside_if_inside_while, [(0.7,), (-0.4,)]),
    Case(return_from_for_inside_while, [(V3,),
                                        (vec(0.2, 0.1, 0.3),),
                                        (vec(-0.5, 1.2, -2.0),)]),
    Case(condition_carried_across_iterations, [(V3,),
                                               (vec(-0.5, 1.2, -2.0),)]),
    Case(flag_set_in_loop, [(1.3,), (0.9,), (-1.2,)]),
    Case(default_loop_bound, [(1.3,), (-0.6,)]),
    Case(loop_target_shadows_argument, [(1.3,)]),
    Case(recursive_helpers, [(0.7,), (-1.1,)]),
    # Names.
    Case(augmented_name_operators, [(V3,)]),
    Case(matmul_and_power_assign, [(W22, vec(0.3, 0.9))], wrt=(0, 1)),
    Case(swap_in_loop, [(1.3, 0.7), (-0.4, 1.1)], wrt=(0, 1)),
    Case(names_like_generated_code, [(1.3,)]),
    Case(print_assert_docstring, [(1.3,)]),
    # Formerly wrong, now fixed.
    Case(loop_target_name_reused, [(M23, M23[::-1] * 0.5)], wrt=(0, 1)),
    Case(duplicate_index_write, [(V3,)]),
    Case(float_written_into_int_array, [(1.37,)]),
    Case(copy_then_write, [(V3,)]),
]


def _has_matmul_assign():
    matrix = np.eye(2)
    try:
        matrix @= matrix
    except TypeError:
        return False
    return True


# NumPy 1.25 added `a @= b` for arrays: before it, matmul_and_power_assign
# raises TypeError when Python runs it, so no reference value exists.
MATMUL_ASSIGN = _has_matmul_assign()
if not MATMUL_ASSIGN:
    CASES = [case for case in CASES
             if case.function is not matmul_and_power_assign]


def case_params(test, cases=CASES):
    """Build pytest params for `cases`; rows that fail `test` get xfail."""
    params = []
    for case in cases:
        marks = []
        if test in case.fails:
            marks.append(pytest.mark.xfail(strict=True, reason=case.reason))
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


def fresh(args):
    """Return copies of the arguments, so that calls share no array."""
    return tuple(np.copy(arg) if isinstance(arg, np.ndarray) else arg
                 for arg in args)


def reference(function):
    """Wrap `function` so that it runs on copies of its arguments."""
    return lambda *args: function(*fresh(args))


def test_table_is_large_enough():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 64 + MATMUL_ASSIGN


if not MATMUL_ASSIGN:
    def test_matmul_assign_case_is_left_out():
        """Report the row that this NumPy cannot run as a skip."""
        pytest.skip(f'NumPy {np.__version__} has no `a @= b` for arrays '
                    '(new in 1.25): matmul_and_power_assign is left out')


@pytest.mark.parametrize('case', case_params('gradient'))
def test_gradient_matches_finite_differences(case):
    for args in case.inputs:
        for position in case.wrt:
            computed = adcompiler.grad(case.function, wrt=position)(
                *fresh(args))
            expected = numerical_gradient(reference(case.function), args,
                                          position)
            assert_gradient_close(computed, expected)
            assert_matches_autograd(case.function, fresh(args), position,
                                    computed, expected)


@pytest.mark.parametrize('case', case_params(
    'tuple_wrt', [c for c in CASES if len(c.wrt) > 1]))
def test_tuple_wrt_matches_finite_differences(case):
    for args in case.inputs:
        computed = adcompiler.grad(case.function, wrt=case.wrt)(*fresh(args))
        assert isinstance(computed, tuple)
        assert len(computed) == len(case.wrt)
        for gradient, position in zip(computed, case.wrt, strict=True):
            expected = numerical_gradient(reference(case.function), args,
                                          position)
            assert_gradient_close(gradient, expected)


@pytest.mark.parametrize('case', case_params(
    'wrt_name', [c for c in CASES if len(c.wrt) > 1]))
def test_wrt_by_name_matches_position(case):
    names = list(inspect.signature(case.function).parameters)
    args = case.inputs[0]
    for position in case.wrt:
        by_name = adcompiler.grad(case.function, wrt=names[position])(
            *fresh(args))
        by_position = adcompiler.grad(case.function, wrt=position)(
            *fresh(args))
        np.testing.assert_array_equal(by_name, by_position)


@pytest.mark.parametrize('case', case_params('value'))
def test_value_is_the_function_value(case):
    for args in case.inputs:
        value, _ = adcompiler.value_and_grad(case.function, wrt=case.wrt[0])(
            *fresh(args))
        np.testing.assert_allclose(value, case.function(*fresh(args)),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('case', case_params('inputs_unchanged'))
def test_inputs_unchanged(case):
    for args in case.inputs:
        before = fresh(args)
        passed = fresh(args)
        adcompiler.grad(case.function, wrt=case.wrt)(*passed)
        for old, new in zip(before, passed, strict=True):
            np.testing.assert_array_equal(old, new)


def test_source_shows_tape_pushes_and_pops():
    text = adcompiler.grad(log_sum_exp).source
    assert 'tape.append(' in text
    assert 'tape.pop()' in text
    # Every loop's trip count is pushed in the primal and popped in the
    # adjoint, which replays the loop backwards.
    assert 'range(trips' in text


def test_print_runs_once_in_the_primal(capsys):
    adcompiler.grad(print_assert_docstring)(1.3)
    assert capsys.readouterr().out == 's is 1.3\n'


# Unsupported syntax ----------------------------------------------------------

def uses_try(x):
    s = 0.0
    for i in range(2):
        try:
            s = s + x
        except ValueError:
            s = 0.0
    return s


def uses_with(x):
    s = x * 1.0
    if x > 0.0:
        with np.errstate(all='ignore'):
            s = np.log(x)
    return s


def uses_yield(x):
    for i in range(2):
        yield x * i


def uses_generator_expression(x):
    s = 0.0
    if x > 0.0:
        s = sum(x * i for i in range(3))
    return s


def uses_global_write(x):
    global COUNTER
    for i in range(2):
        COUNTER = COUNTER + 1.0
    return x * x


def test_global_counter_in_loop_runs():
    before = COUNTER
    assert adcompiler.grad(uses_global_write)(1.5) == pytest.approx(3.0)
    assert COUNTER == before + 2.0


def uses_del(x):
    y = x * 2.0
    for i in range(2):
        y = y * x
    del y
    return x


def uses_lambda(x):
    s = 0.0
    for i in range(2):
        square = lambda v: v * v  # noqa: E731
        s = s + square(x)
    return s


def uses_list_comprehension(x):
    s = 0.0
    if x > 0.0:
        s = sum([x * i for i in range(3)])
    return s


def uses_dict_comprehension(x):
    s = 0.0
    for i in range(2):
        powers = {k: x ** k for k in range(3)}
        s = s + powers[2]
    return s


def uses_alias_write(x):
    y = x
    for i in range(2):
        y[0] = 1.0
    return np.sum(y * x)


def uses_augmented_argument(x):
    for i in range(2):
        x += 1.0
    return np.sum(x * x)


def uses_write_into_row(X):
    s = 0.0
    for row in X:
        row[0] = 0.0
        s = s + np.sum(row)
    return s


def uses_global_array_write(x):
    for i in range(2):
        TOTALS[i] = x * i
    return x * x


def source_lineno(function, marker):
    """Return the line number of the one line of `function` with `marker`."""
    lines, first = inspect.getsourcelines(function)
    matches = [first + i for i, line in enumerate(lines) if marker in line]
    assert len(matches) == 1, f'{marker!r} must occur once in {function}'
    return matches[0]


# (function, argument, text of the line the error must point at, a word the
# message must contain).
UNSUPPORTED = [
    (uses_yield, 1.5, 'yield x * i', 'yield'),
    (uses_global_array_write, 1.5, 'TOTALS[i] = x * i', 'global'),
    (uses_alias_write, vec(0.5, 1.0), 'y = x', "'y'"),
    (uses_augmented_argument, vec(0.5, 1.0), 'x += 1.0', "'x'"),
    (uses_write_into_row, M23, 'for row in X:', "'row'"),
    # Each of these once gave a wrong gradient; now each is rejected.
    (view_of_written_array, 1.5, 'v = z[0:2]', "'z'"),
    (augmented_assignment_on_alias, vec(0.5, 1.0), 'y += x', "'y'"),
    (array_without_copy_aliases_written, 1.5, 'np.array(y, copy=False)',
     "'y'"),
    (iterate_over_reassigned_name, V3, 'for e in x:', "'x'"),
    (list_appended_through_alias, V3, 'b = a', "'b'"),
]


@pytest.mark.parametrize('function', [uses_del, uses_lambda, uses_try])
def test_statement_in_loop_differentiates(function):
    expected = numerical_gradient(function, (1.5,), 0)
    assert_gradient_close(adcompiler.grad(function)(1.5), expected)


def try_with_empty_finally(x):
    try:
        y = np.sum(x ** 2)
    finally:
        pass
    return y


def try_with_empty_handler_and_finally(x):
    try:
        y = np.sum(np.sin(x))
    except ValueError:
        pass
    finally:
        pass
    return y


@pytest.mark.parametrize('function', [try_with_empty_finally,
                                      try_with_empty_handler_and_finally])
@pytest.mark.parametrize('x', [1.5, vec(0.3, -0.7, 1.1), M23],
                         ids=['scalar', 'vector', 'matrix'])
def test_try_with_empty_finally_differentiates(function, x):
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)
    tangent = np.ones_like(x)
    _, derivative = adcompiler.jvp(function, (x,), (tangent,))
    assert_gradient_close(derivative, np.sum(expected * tangent))


# Forms inside branches and loops that normalize lowers to supported code.
LOWERED = [uses_with, uses_generator_expression, uses_lambda,
           uses_list_comprehension, uses_dict_comprehension]


@pytest.mark.parametrize('function', LOWERED, ids=lambda f: f.__name__)
@pytest.mark.parametrize('x', [1.5, -0.5])
def test_lowered_form_in_control_flow_gradient(function, x):
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x), expected)


@pytest.mark.parametrize('function, argument, line_text, word', [
    pytest.param(*row, id=row[0].__name__) for row in UNSUPPORTED])
def test_unsupported_syntax_points_at_its_line(function, argument, line_text,
                                               word):
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(function)(fresh((argument,))[0])
    error = info.value
    assert error.lineno == source_lineno(function, line_text)
    assert error.filename == __file__
    assert word in str(error)
