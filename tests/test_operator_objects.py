"""Operators on objects of user classes that reach the differentiated
function as arguments, as items of a list or dict argument, as attributes
of an argument, or as the result of another function. The classes below
define operators that do not work field by field, so the NumPy rule of an
operator would give a wrong derivative: each gradient is checked against
central finite differences."""

import dataclasses

import numpy as np
import pytest

import adcompiler
from tests.finite_differences import assert_gradient_close, numerical_gradient

X = np.array([0.3, -1.2, 0.7])
Y = np.array([0.9, 0.4, -0.5])
DIRECTION = np.array([0.5, -0.25, 1.5])


class Dual:
    """A pair (a, b) whose product mixes the fields: (a1 a2, a1 b2 + b1 a2)."""

    def __init__(self, a, b):
        self.a = a
        self.b = b

    def __add__(self, other):
        if isinstance(other, Dual):
            return Dual(self.a + other.a, self.b + other.b)
        return Dual(self.a + other, self.b)

    def __radd__(self, other):
        return Dual(other + self.a, self.b)

    def __sub__(self, other):
        return Dual(self.a - other.a, self.b - other.b)

    def __mul__(self, other):
        if isinstance(other, Dual):
            return Dual(self.a * other.a, self.a * other.b + self.b * other.a)
        return Dual(self.a * other, self.b * other)

    def __rmul__(self, other):
        return Dual(other * self.a, other * self.b)

    def __truediv__(self, other):
        return Dual(self.a / other.a,
                    (self.b * other.a - self.a * other.b) / other.a ** 2)

    def __pow__(self, exponent):
        return Dual(self.a ** exponent,
                    exponent * self.a ** (exponent - 1) * self.b)

    def __neg__(self):
        return Dual(-self.a, -self.b)


class Poly:
    """A polynomial by its coefficients: + pads, * is a convolution."""

    def __init__(self, coefficients):
        self.c = coefficients

    def __add__(self, other):
        size = max(len(self.c), len(other.c))
        total = np.zeros(size)
        total[:len(self.c)] = self.c
        total[:len(other.c)] = total[:len(other.c)] + other.c
        return Poly(total)

    def __mul__(self, other):
        product = np.zeros(len(self.c) + len(other.c) - 1)
        for i in range(len(self.c)):
            product[i:i + len(other.c)] = (product[i:i + len(other.c)]
                                           + self.c[i] * other.c)
        return Poly(product)


class Shifted:
    """A value and an offset; + adds to the value only."""

    def __init__(self, value, offset):
        self.value = value
        self.offset = offset

    def __add__(self, other):
        return Shifted(self.value + other, self.offset)

    def __radd__(self, other):
        return Shifted(other + self.value, self.offset)


@dataclasses.dataclass
class Weighted:
    """A weight vector whose @ scales by the squared weights."""

    w: np.ndarray

    def __matmul__(self, other):
        return np.sum(self.w ** 2 * other)

    def __rmul__(self, other):
        return Weighted(np.cos(self.w) * other)


class Holder:
    """A plain object that holds a Dual in an attribute."""

    def __init__(self, dual):
        self.dual = dual


def dual_total(d):
    return np.sum(d.a) + 3.0 * np.sum(d.b)


def make_dual(x):
    return Dual(x, x ** 2)


# (a) The object is an argument.
def dual_mul_argument(d, x):
    return dual_total(d * d + x * d)


def dual_ops_argument(d, x):
    e = d / (d + x) - (-d) ** 3
    return dual_total(e)


def poly_mul_argument(p, x):
    q = p * Poly(x) + p
    return np.sum(q.c * np.arange(1.0, len(q.c) + 1.0))


def shifted_add_argument(s, x):
    t = s + x
    u = 2.0 + t
    return np.sum(u.value * u.offset)


def weighted_matmul_argument(w, x):
    return w @ x + np.sum((2.0 * w).w * x)


# (b) The object is the result of another function.
def dual_from_helper(x, y):
    return dual_total(make_dual(x) * make_dual(y) + make_dual(x))


# (c) The object is an item of a list or dict argument.
def dual_list_argument(ds, x):
    return dual_total(ds[0] * ds[1] + x * ds[0])


def dual_dict_argument(ds, x):
    return dual_total(ds['u'] * ds['v'] + x)


def dual_loop_argument(ds, x):
    product = Dual(x, np.ones(3))
    for d in ds:
        product = product * d
    return dual_total(product)


# (d) The object is an attribute of an argument.
def dual_attribute_argument(h, x):
    return dual_total(h.dual * h.dual + x)


def fields_function(function, build):
    """Return f(a, b, x) = function(build(a, b), x)."""
    return lambda a, b, x: function(build(a, b), x)


def check_field_gradients(function, build, gradient_of_object, x):
    """Compare the gradient w.r.t. the object (its fields a and b) with
    finite differences of the function of the fields."""
    by_fields = fields_function(function, build)
    for position, field in enumerate(FIELDS):
        expected = numerical_gradient(by_fields, (X, Y, x), position)
        assert_gradient_close(field(gradient_of_object), expected)


FIELDS = (lambda d: d.a, lambda d: d.b)

ARGUMENT_CASES = [
    (dual_mul_argument, lambda a, b: Dual(a, b)),
    (dual_ops_argument, lambda a, b: Dual(a + 3.0, b)),
]


@pytest.mark.parametrize('function, build', ARGUMENT_CASES,
                         ids=lambda case: getattr(case, '__name__', ''))
def test_object_argument_gradient(function, build):
    d = build(X, Y)
    x = np.array([0.2, 0.5, -0.3])
    gradient = adcompiler.grad(function, wrt=(0, 1))(d, x)
    expected_x = numerical_gradient(lambda x: function(d, x), (x,), 0)
    assert_gradient_close(gradient[1], expected_x)
    check_field_gradients(function, build, gradient[0], x)


@pytest.mark.parametrize('function, build', ARGUMENT_CASES,
                         ids=lambda case: getattr(case, '__name__', ''))
def test_object_argument_value_and_grad(function, build):
    d = build(X, Y)
    x = np.array([0.2, 0.5, -0.3])
    value, gradient = adcompiler.value_and_grad(function, wrt=1)(d, x)
    assert value == pytest.approx(function(d, x))
    expected = numerical_gradient(lambda x: function(d, x), (x,), 0)
    assert_gradient_close(gradient, expected)


def test_object_argument_repeated_call():
    # The second call with arrays of the same shape may run other code.
    d = Dual(X, Y)
    x = np.array([0.2, 0.5, -0.3])
    gradient = adcompiler.grad(dual_mul_argument, wrt=1)
    expected = numerical_gradient(lambda x: dual_mul_argument(d, x), (x,), 0)
    for _ in range(3):
        assert_gradient_close(gradient(d, x), expected)


def product_b(d, x):
    product = d * d * x
    if isinstance(product, Dual):
        return np.sum(product.b)
    return np.sum(product)


def test_object_argument_after_array_argument():
    # The same gradient given arrays first, then an object.
    gradient = adcompiler.grad(product_b, wrt=1)
    x = np.array([0.2, 0.5, -0.3])
    assert_gradient_close(gradient(X, x), X * X)
    assert_gradient_close(gradient(X, x), X * X)
    d = Dual(X, Y)
    expected = numerical_gradient(lambda x: product_b(d, x), (x,), 0)
    assert_gradient_close(gradient(d, x), expected)
    assert_gradient_close(gradient(X, x), X * X)


def test_poly_argument_gradient():
    p = Poly(np.array([1.0, -2.0, 0.5]))
    x = np.array([0.3, 0.8])
    gradient = adcompiler.grad(poly_mul_argument, wrt=(0, 1))(p, x)
    expected_x = numerical_gradient(lambda x: poly_mul_argument(p, x), (x,), 0)
    assert_gradient_close(gradient[1], expected_x)
    expected_c = numerical_gradient(
        lambda c: poly_mul_argument(Poly(c), x), (p.c,), 0)
    assert_gradient_close(gradient[0].c, expected_c)


def test_shifted_argument_gradient():
    s = Shifted(X, Y)
    gradient = adcompiler.grad(shifted_add_argument, wrt=(0, 1))(s, X)
    expected_x = numerical_gradient(
        lambda x: shifted_add_argument(s, x), (X,), 0)
    assert_gradient_close(gradient[1], expected_x)
    expected_offset = numerical_gradient(
        lambda o: shifted_add_argument(Shifted(X, o), X), (Y,), 0)
    assert_gradient_close(gradient[0].offset, expected_offset)


def test_dataclass_argument_gradient():
    w = Weighted(X)
    gradient = adcompiler.grad(weighted_matmul_argument, wrt=(0, 1))(w, Y)
    expected_y = numerical_gradient(
        lambda y: weighted_matmul_argument(w, y), (Y,), 0)
    assert_gradient_close(gradient[1], expected_y)
    expected_w = numerical_gradient(
        lambda v: weighted_matmul_argument(Weighted(v), Y), (X,), 0)
    assert_gradient_close(gradient[0].w, expected_w)


def test_object_from_helper_gradient():
    gradient = adcompiler.grad(dual_from_helper, wrt=(0, 1))(X, Y)
    for position in (0, 1):
        expected = numerical_gradient(dual_from_helper, (X, Y), position)
        assert_gradient_close(gradient[position], expected)


def test_object_from_helper_jvp():
    expected = numerical_gradient(dual_from_helper, (X, Y), 0) @ DIRECTION
    _, tangent = adcompiler.jvp(dual_from_helper, (X, Y),
                                (DIRECTION, np.zeros(3)))
    assert tangent == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_object_from_helper_vjp():
    value, vjp_fn = adcompiler.vjp(dual_from_helper, X, Y)
    assert value == pytest.approx(dual_from_helper(X, Y))
    cotangents = vjp_fn(2.0)
    expected = numerical_gradient(dual_from_helper, (X, Y), 1)
    assert_gradient_close(cotangents[1], 2.0 * expected)


@pytest.mark.parametrize('mode', ['forward-over-reverse',
                                  'reverse-over-forward',
                                  'reverse-over-reverse'])
def test_object_from_helper_hessian(mode):
    def function(x):
        return dual_from_helper(x, Y)

    step = 1e-4
    rows = []
    for index in range(3):
        shift = np.zeros(3)
        shift[index] = step
        plus = numerical_gradient(function, (X + shift,), 0)
        minus = numerical_gradient(function, (X - shift,), 0)
        rows.append((plus - minus) / (2 * step))
    computed = adcompiler.hessian(function, mode=mode)(X)
    assert_gradient_close(computed, np.array(rows), rtol=1e-4, atol=1e-5)


def test_object_list_argument_gradient():
    ds = [Dual(X, Y), Dual(Y, X ** 2)]
    gradient = adcompiler.grad(dual_list_argument, wrt=(0, 1))(ds, Y)
    expected_x = numerical_gradient(
        lambda x: dual_list_argument(ds, x), (Y,), 0)
    assert_gradient_close(gradient[1], expected_x)
    expected_b = numerical_gradient(
        lambda b: dual_list_argument([Dual(X, b), ds[1]], Y), (Y,), 0)
    assert_gradient_close(gradient[0][0].b, expected_b)


def test_object_dict_argument_gradient():
    ds = {'u': Dual(X, Y), 'v': Dual(Y, X)}
    gradient = adcompiler.grad(dual_dict_argument, wrt=0)(ds, Y)
    expected = numerical_gradient(
        lambda a: dual_dict_argument({'u': Dual(X, Y), 'v': Dual(a, X)}, Y),
        (Y,), 0)
    assert_gradient_close(gradient['v'].a, expected)


def test_object_loop_over_list_gradient():
    ds = [Dual(X, Y), Dual(Y, X), Dual(X ** 2, Y)]
    gradient = adcompiler.grad(dual_loop_argument, wrt=1)(ds, Y)
    expected = numerical_gradient(lambda x: dual_loop_argument(ds, x), (Y,), 0)
    assert_gradient_close(gradient, expected)


def test_object_attribute_argument_gradient():
    h = Holder(Dual(X, Y))
    gradient = adcompiler.grad(dual_attribute_argument, wrt=(0, 1))(h, Y)
    expected_x = numerical_gradient(
        lambda x: dual_attribute_argument(h, x), (Y,), 0)
    assert_gradient_close(gradient[1], expected_x)
    expected_b = numerical_gradient(
        lambda b: dual_attribute_argument(Holder(Dual(X, b)), Y), (Y,), 0)
    assert_gradient_close(gradient[0].dual.b, expected_b)


def test_object_argument_jvp():
    d = Dual(X, Y)

    def function(x):
        return dual_mul_argument(d, x)

    expected = numerical_gradient(function, (Y,), 0) @ DIRECTION
    _, tangent = adcompiler.jvp(dual_mul_argument, (d, Y),
                                (Dual(np.zeros(3), np.zeros(3)), DIRECTION))
    assert tangent == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_object_argument_vjp():
    d = Dual(X, Y)
    _, vjp_fn = adcompiler.vjp(dual_mul_argument, d, Y)
    cotangents = vjp_fn(1.0)
    expected = numerical_gradient(lambda x: dual_mul_argument(d, x), (Y,), 0)
    assert_gradient_close(cotangents[1], expected)


def test_object_argument_hessian_wrt_array():
    d = Dual(X, Y)

    def function(x):
        return dual_mul_argument(d, x)

    hessian = adcompiler.hessian(dual_mul_argument, wrt=1)(d, Y)
    step = 1e-4
    rows = []
    for index in range(3):
        shift = np.zeros(3)
        shift[index] = step
        plus = numerical_gradient(function, (Y + shift,), 0)
        minus = numerical_gradient(function, (Y - shift,), 0)
        rows.append((plus - minus) / (2 * step))
    assert_gradient_close(hessian, np.array(rows), rtol=1e-4, atol=1e-5)
