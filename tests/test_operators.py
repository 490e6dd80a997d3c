"""Python operators on arrays, numbers, lists, tuples, dicts and objects of
classes that define operator methods, checked against finite differences
in reverse mode, forward mode and every Hessian mode."""

import dataclasses
import operator

import numpy as np
import pytest

import adcompiler
from tests.finite_differences import assert_gradient_close, numerical_gradient

X = np.array([0.3, -1.2, 0.7])
DIRECTION = np.array([0.5, -0.25, 1.5])
HESSIAN_MODES = ['forward-over-reverse', 'reverse-over-forward',
                 'reverse-over-reverse']


@dataclasses.dataclass
class Vec:
    """A vector whose operators are not elementwise arithmetic."""

    a: np.ndarray

    def __add__(self, other):
        other_a = other.a if isinstance(other, Vec) else other
        return Vec(self.a * other_a + self.a)

    def __radd__(self, other):
        return Vec(np.sin(self.a) + other)

    def __sub__(self, other):
        return Vec(self.a - 2.0 * other.a)

    def __mul__(self, other):
        other_a = other.a if isinstance(other, Vec) else other
        return Vec(np.sin(self.a) * other_a)

    def __rmul__(self, other):
        return Vec(self.a ** 2 * other)

    def __truediv__(self, other):
        return Vec(self.a / (1.0 + other.a ** 2))

    def __pow__(self, exponent):
        return Vec(np.cos(self.a) * exponent)

    def __matmul__(self, other):
        return np.sum(self.a * other.a ** 2)

    def __mod__(self, other):
        return np.sum(np.exp(self.a) * other.a)

    def __floordiv__(self, other):
        return Vec(self.a ** 3 * other.a)

    def __or__(self, other):
        return np.sum(self.a * other.a)

    def __and__(self, other):
        return np.sum(self.a ** 2 * other.a)

    def __xor__(self, other):
        return np.sum(np.cos(self.a) * other.a)

    def __lshift__(self, other):
        return np.sum(self.a * 3.0 + other.a ** 3)

    def __rshift__(self, other):
        return np.sum(self.a / 4.0 - other.a)

    def __neg__(self):
        return Vec(self.a ** 3)

    def __pos__(self):
        return Vec(self.a * 5.0)

    def __invert__(self):
        return Vec(np.exp(self.a))

    def __abs__(self):
        return Vec(np.tanh(self.a))

    def __getitem__(self, index):
        return self.a[index] * 7.0


def total(value):
    """Return the sum of a Vec's entries or of an array or number."""
    if isinstance(value, Vec):
        return np.sum(value.a)
    return np.sum(value)


# Operators on objects of a class that defines them in Python.
def object_add(x): return total(Vec(x) + Vec(x ** 2))
def object_radd(x): return total(2.0 + Vec(x))
def object_sub(x): return total(Vec(x) - Vec(x ** 2))
def object_mul(x): return total(Vec(x) * Vec(x))
def object_rmul(x): return total(2.0 * Vec(x))
def object_div(x): return total(Vec(x) / Vec(x))
def object_pow(x): return total(Vec(x) ** 2)
def object_matmul(x): return Vec(x) @ Vec(x)
def object_mod(x): return Vec(x) % Vec(x)
def object_floordiv(x): return total(Vec(x) // Vec(x))
def object_or(x): return Vec(x) | Vec(x)
def object_and(x): return Vec(x) & Vec(x)
def object_xor(x): return Vec(x) ^ Vec(x)
def object_lshift(x): return Vec(x) << Vec(x)
def object_rshift(x): return Vec(x) >> Vec(x)
def object_neg(x): return total(-Vec(x))
def object_pos(x): return total(+Vec(x))
def object_invert(x): return total(~Vec(x))
def object_abs(x): return total(abs(Vec(x)))
def object_getitem(x): return Vec(x)[1]


def object_variable(x):
    v = Vec(x)
    w = -v
    return total(w * v)


# Operators on lists, tuples and dicts.
def tuple_add(x):
    t = (x,) + (x ** 2,)
    return np.sum(t[0] * t[1])


def list_add(x):
    items = [x] + [np.sin(x)]
    return np.sum(items[1] * items[0])


def list_repeat(x):
    items = [x] * 2
    return np.sum(items[1] ** 2 + items[0])


def tuple_repeat_left(x):
    t = 3 * (x ** 2,)
    return np.sum(t[2] * t[0])


def tuple_add_assign(x):
    t = (x,)
    t += (np.cos(x),)
    return np.sum(t[1] * t[0])


def list_repeat_assign(x):
    items = [x]
    items *= 2
    return np.sum(items[1] * items[0])


# A name rebound to an operation on itself still refers to a list or a tuple.
def list_add_itself(x):
    items = [x, np.sin(x)]
    items = items + items
    return np.sum(items[3] * 10.0 + items[0])


def tuple_add_itself(x):
    t = (x, x ** 2)
    t = t + t
    return np.sum(t[3] * t[0] + t[1])


def list_append_rebound(x):
    items = [x]
    items = items + [np.cos(x)]
    items = [x ** 2] + items
    return np.sum(items[0] * items[1] + items[2])


def tuple_append_rebound(x):
    t = (x,)
    t = t + (np.exp(x),)
    return np.sum(t[1] * t[0])


def list_repeat_rebound(x):
    items = [x, x ** 3]
    items = items * 2
    items = 2 * items
    return np.sum(items[7] * 10.0 + items[0] * items[5])


def list_extend_itself(x):
    items = list(np.sin(x))
    items.extend(items)
    return items[4] * 10.0 + items[0] * items[3] + len(items)


def list_add_assign_itself(x):
    items = [x, x ** 2]
    items += items
    items.extend(items)
    return np.sum(items[7] * 10.0 + items[0] * items[2])


def dict_or(x):
    d = {'a': x} | {'b': 3.0 * x}
    return np.sum(d['a'] * d['b'])


def dict_or_replaces(x):
    d = {'a': x, 'b': x} | {'b': 3.0 * x}
    return np.sum(d['a'] * d['b'])


def dict_or_assign(x):
    d = {'a': x}
    d |= {'b': 3.0 * x}
    return np.sum(d['b'] * d['a'])


def dict_operator_or(x):
    return np.sum(operator.or_({'a': x}, {'b': x ** 2})['b'])


# Operators on arrays and numbers keep their NumPy rules.
def array_floordiv(x):
    return np.sum(x * (x // 0.5))


def array_list_add(x):
    return np.sum(x * ([1.0, 2.0, 3.0] + x))


def array_mask(x):
    mask = (x > 0.0) & (x < 1.0)
    return np.sum(np.where(mask, x ** 2, x))


CASES = [object_add, object_radd, object_sub, object_mul, object_rmul,
         object_div, object_pow, object_matmul, object_mod, object_floordiv,
         object_or, object_and, object_xor, object_lshift, object_rshift,
         object_neg, object_pos, object_invert, object_abs, object_getitem,
         object_variable, tuple_add, list_add, list_repeat,
         tuple_repeat_left, tuple_add_assign, list_repeat_assign,
         list_add_itself, tuple_add_itself, list_append_rebound,
         tuple_append_rebound, list_repeat_rebound, list_extend_itself,
         list_add_assign_itself, dict_or,
         dict_or_replaces, dict_or_assign, dict_operator_or,
         array_floordiv, array_list_add, array_mask]


def numerical_hessian(function, x, step=1e-4):
    """Return the Hessian of `function` at `x` by central differences of
    its central-difference gradient."""
    rows = []
    for index in range(x.size):
        shift = np.zeros_like(x)
        shift[index] = step
        plus = numerical_gradient(function, (x + shift,), 0)
        minus = numerical_gradient(function, (x - shift,), 0)
        rows.append((plus - minus) / (2 * step))
    return np.array(rows)


@pytest.mark.parametrize('function', CASES, ids=lambda f: f.__name__)
def test_operator_gradient(function):
    expected = numerical_gradient(function, (X,), 0)
    assert_gradient_close(adcompiler.grad(function)(X.copy()), expected)


@pytest.mark.parametrize('function', CASES, ids=lambda f: f.__name__)
def test_operator_jvp(function):
    expected = numerical_gradient(function, (X,), 0) @ DIRECTION
    _, tangent = adcompiler.jvp(function, (X.copy(),), (DIRECTION,))
    np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('mode', HESSIAN_MODES)
@pytest.mark.parametrize('function', CASES, ids=lambda f: f.__name__)
def test_operator_hessian(function, mode):
    expected = numerical_hessian(function, X)
    computed = adcompiler.hessian(function, mode=mode)(X.copy())
    assert_gradient_close(computed, expected, rtol=1e-4, atol=1e-5)


REBOUND_CASES = [list_add_itself, tuple_add_itself, list_append_rebound,
                 tuple_append_rebound, list_repeat_rebound,
                 list_add_assign_itself]
SHAPES = [(), (4,), (2, 3)]


@pytest.mark.parametrize('shape', SHAPES, ids=str)
@pytest.mark.parametrize('function', REBOUND_CASES, ids=lambda f: f.__name__)
def test_rebound_sequence_shapes(function, shape):
    x = np.linspace(-0.8, 0.9, int(np.prod(shape))).reshape(shape)
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x.copy()), expected)
    direction = np.cos(np.arange(x.size) + 1.0).reshape(shape)
    _, tangent = adcompiler.jvp(function, (x.copy(),), (direction,))
    np.testing.assert_allclose(tangent, np.sum(expected * direction),
                               rtol=1e-5, atol=1e-6)


def pair(a, b):
    return [a, b]


def helper_list_add_itself(a, b):
    items = pair(a, b)
    items = items + items
    return items[3] * 10.0 + items[0]


def test_helper_list_add_itself_gradient():
    # The result of another function may be any value, so `+` follows
    # Python's operator protocol, which concatenates the lists.
    gradient = adcompiler.grad(helper_list_add_itself, wrt=(0, 1))(0.3, -1.2)
    assert gradient == pytest.approx((1.0, 10.0))


def scalar_concatenation(a, b):
    t = (a,) + (b,)
    return t[0] * t[1]


def test_tuple_add_scalar_gradient():
    gradient = adcompiler.grad(scalar_concatenation, wrt=(0, 1))(2.0, 3.0)
    assert gradient == pytest.approx((3.0, 2.0))


def broadcast_object_add(x, y):
    return total(Vec(x) + y)


def test_object_add_broadcast_gradient():
    y = np.array([[1.0], [2.0]])
    gradient = adcompiler.grad(broadcast_object_add, wrt=(0, 1))(X, y)
    expected = (numerical_gradient(broadcast_object_add, (X, y), 0),
                numerical_gradient(broadcast_object_add, (X, y), 1))
    assert_gradient_close(gradient[0], expected[0])
    assert_gradient_close(gradient[1], expected[1])


def set_sum(a, b):
    return sum(set([a, 2.0 * b]))


def frozenset_sum(a, b):
    return sum(frozenset([a, 2.0 * b]))


@pytest.mark.parametrize('function', [set_sum, frozenset_sum],
                         ids=lambda f: f.__name__)
def test_set_of_derivative_error(function):
    with pytest.raises(adcompiler.AdCompilerError, match='set'):
        adcompiler.grad(function, wrt=(0, 1))(0.3, 0.5)


def set_count(a):
    return a * len(set([1, 2, 2]))


def test_set_of_constants_gradient():
    assert adcompiler.grad(set_count)(0.3) == pytest.approx(2.0)


def object_slice(x):
    return Vec(x)[0:2]


def test_object_slice_error():
    with pytest.raises(adcompiler.AdCompilerError, match='slice'):
        adcompiler.grad(lambda x: np.sum(object_slice(x)))(X)


def argument_method(v):
    return total(v.__neg__())


def test_object_argument_method_gradient():
    gradient = adcompiler.grad(argument_method)(Vec(X))
    assert_gradient_close(gradient.a, 3.0 * X ** 2)


class Offset:
    """An object whose + scales its other operand: not elementwise."""

    def __init__(self, scale):
        self.scale = scale

    def __add__(self, other):
        return self.scale * other


OFFSET = Offset(3.0)


def global_object_add(x):
    return np.sum(np.sin(OFFSET + x))


def test_operator_on_global_object_uses_its_method():
    x = np.array([0.5, -0.2])
    gradient = adcompiler.grad(global_object_add)(x)
    assert_gradient_close(gradient,
                          numerical_gradient(global_object_add, (x,), 0))
    _, tangent = adcompiler.jvp(global_object_add, (x,), (np.ones(2),))
    assert tangent == pytest.approx(np.sum(gradient))


class Squares:
    """An object whose subscript computes with the key."""

    def __getitem__(self, key):
        return key ** 2


SQUARES = Squares()


def global_object_subscript(x):
    return np.sum(np.sin(SQUARES[x]))


def test_subscript_of_global_object_uses_its_method():
    gradient = adcompiler.grad(global_object_subscript)(X.copy())
    expected = numerical_gradient(global_object_subscript, (X,), 0)
    assert_gradient_close(gradient, expected)
    _, tangent = adcompiler.jvp(global_object_subscript, (X.copy(),),
                                (DIRECTION,))
    assert tangent == pytest.approx(expected @ DIRECTION)


def argument_object_subscript(x, squares):
    return np.sum(squares[x])


def array_subscript_by_key(x, table):
    return np.sum(table[x])


def squares_subscript(x):
    return argument_object_subscript(x, Squares())


def test_argument_object_subscript_uses_its_method():
    # An argument that may be an object goes through its __getitem__.
    gradient = adcompiler.grad(argument_object_subscript)(X, Squares())
    assert_gradient_close(gradient, 2.0 * X)
    _, tangent = adcompiler.jvp(squares_subscript, (X,), (DIRECTION,))
    assert tangent == pytest.approx(2.0 * X @ DIRECTION)


def test_dict_subscript_by_varied_key():
    # A dict lookup has no derivative in the key, as an integer index has
    # none: the key check lets it through.
    table = {0.5: 3.0}
    assert adcompiler.grad(array_subscript_by_key)(0.5, table) == 0.0


class SquaresWhenMissing(dict):
    """A dict that computes a missing item from its key."""

    def __missing__(self, key):
        return key * key


def test_dict_subclass_missing_by_varied_key_raises():
    # __missing__ computes with the key, which the rule of indexing would
    # give no derivative.
    with pytest.raises(adcompiler.AdCompilerError, match=r'\[x\]'):
        adcompiler.grad(array_subscript_by_key)(3.0, SquaresWhenMissing())


def r_pair(x):
    return np.sum(np.sin(np.r_[x, 2.0 * x, 1.5]))


def r_matrices(x):
    return np.sum(np.r_[x, x ** 2] ** 2)


def c_columns(x):
    return np.sum(np.cos(np.c_[x, x ** 2])[..., -1] + np.c_[x, x][..., 0])


def c_scalars(x):
    return np.sum(np.c_[np.sum(x), 2.0, np.prod(x)] ** 2)


def r_slice(x):
    return np.sum(np.r_[0:3, 5] * x)


INDEX_CONCATENATOR_CASES = [r_pair, r_matrices, c_columns, c_scalars]


@pytest.mark.parametrize('shape', [(), (4,), (2, 3)], ids=str)
@pytest.mark.parametrize('function', INDEX_CONCATENATOR_CASES,
                         ids=lambda f: f.__name__)
def test_index_concatenator_gradient(function, shape):
    x = np.linspace(-0.8, 0.9, int(np.prod(shape))).reshape(shape)
    try:
        function(x)
    except ValueError:
        pytest.skip(f'NumPy rejects {function.__name__} for shape {shape}')
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x.copy()), expected)
    direction = np.cos(np.arange(x.size) + 1.0).reshape(shape)
    _, tangent = adcompiler.jvp(function, (x.copy(),), (direction,))
    np.testing.assert_allclose(tangent, np.sum(expected * direction),
                               rtol=1e-5, atol=1e-6)


def test_index_concatenator_slice_error():
    with pytest.raises(adcompiler.AdCompilerError, match=r'np\.r_'):
        adcompiler.grad(lambda x: np.sum(np.r_[x, 0:2] * 2.0))(X)


def test_index_concatenator_inactive_slice():
    gradient = adcompiler.grad(r_slice)(np.ones(4))
    assert_gradient_close(gradient, np.array([0.0, 1.0, 2.0, 5.0]))


def s_key(x):
    return np.sum(np.s_[x] ** 2)


def index_exp_key(x):
    key = np.index_exp[x, 1]
    return np.sum(np.index_exp[x][0] ** 3) + np.sum(key[0])


def s_slices(x):
    n = np.shape(x)[0]
    key = np.s_[1:n]
    return np.sum(x[key] * x[np.index_exp[:n - 1]])


@pytest.mark.parametrize('function', [s_key, index_exp_key, s_slices],
                         ids=lambda f: f.__name__)
def test_index_expression_gradient(function):
    # np.s_[key] is the key and np.index_exp[key] the key as a tuple, so a
    # derivative that the key carries flows through them.
    x = np.array([0.5, -1.2, 2.0])
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x.copy()), expected)
    direction = np.array([1.0, -0.5, 0.25])
    _, tangent = adcompiler.jvp(function, (x.copy(),), (direction,))
    np.testing.assert_allclose(tangent, np.sum(expected * direction),
                               rtol=1e-5, atol=1e-6)
    hessian = adcompiler.hessian(function)(x.copy())
    expected_hessian = np.stack([
        numerical_gradient(lambda v: adcompiler.grad(function)(v)[i],
                           (x,), 0) for i in range(3)])
    np.testing.assert_allclose(hessian, expected_hessian, rtol=1e-4,
                               atol=1e-5)
