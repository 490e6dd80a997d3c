"""Operators on objects of user classes that reach the differentiated
function as arguments, as items of a list or dict argument, as attributes
of an argument, or as the result of another function. The classes below
define operators that do not work field by field, so the NumPy rule of an
operator would give a wrong derivative: each gradient is checked against
central finite differences."""

import dataclasses
import re

import numpy as np
import pytest

import adcompiler
from tests.finite_differences import assert_gradient_close, numerical_gradient

X = np.array([0.3, -1.2, 0.7])
Y = np.array([0.9, 0.4, -0.5])
DIRECTION = np.array([0.5, -0.25, 1.5])


@dataclasses.dataclass
class Dual:
    """A pair (a, b) whose product mixes the fields: (a1 a2, a1 b2 + b1 a2)."""

    a: np.ndarray
    b: np.ndarray

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


@dataclasses.dataclass
class Poly:
    """A polynomial by its coefficients: + pads, * is a convolution."""

    c: np.ndarray

    def __add__(self, other):
        size = max(len(self.c), len(other.c))
        return Poly(padded(self.c, 0, size) + padded(other.c, 0, size))

    def __mul__(self, other):
        size = len(self.c) + len(other.c) - 1
        product = np.zeros(size)
        for i in range(len(self.c)):
            product = product + self.c[i] * padded(other.c, i, size)
        return Poly(product)


def padded(c, before, size):
    """Return c with `before` zeros in front and zeros after, to `size`."""
    return np.concatenate([np.zeros(before), c,
                           np.zeros(size - before - len(c))])


@dataclasses.dataclass
class Shifted:
    """A value and an offset; + adds to the value only."""

    value: np.ndarray
    offset: np.ndarray

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


@dataclasses.dataclass
class Holder:
    """An object without operators with a Dual in an attribute."""

    dual: Dual


def dual_total(d):
    return np.sum(d.a) + 3.0 * np.sum(d.b)


def make_dual(x):
    return Dual(x, x ** 2)


# (a) The object is an argument.
def dual_mul_argument(d, x):
    # Not x * d: NumPy would call d.__rmul__ on each item of x.
    return dual_total(d * d + d * x)


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
    return dual_total(ds[0] * ds[1] + ds[0] * x)


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
                                  'reverse-over-forward'])
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


def test_object_from_helper_reverse_over_reverse_error():
    # A method called through Python's operator protocol is resolved at
    # run time; reverse mode over its adjoint code raises.
    def function(x):
        return dual_from_helper(x, Y)

    with pytest.raises(adcompiler.AdCompilerError):
        adcompiler.hessian(function, mode='reverse-over-reverse')(X)


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


@dataclasses.dataclass
class Product:
    """A value whose + multiplies: sum() of these is a product."""

    a: np.ndarray

    def __add__(self, other):
        return Product(self.a * other.a)

    def __radd__(self, other):
        return Product(self.a + other)


def product_sum(ps, x):
    return np.sum(sum(ps).a * x)


def test_sum_of_object_list_gradient():
    ps = [Product(X), Product(Y)]
    gradient = adcompiler.grad(product_sum, wrt=0)(ps, Y)
    expected = numerical_gradient(
        lambda a: product_sum([Product(a), Product(Y)], Y), (X,), 0)
    assert_gradient_close(gradient[0].a, expected)


def array_helper(x):
    return np.tanh(x)


def arrays_only(w, x):
    h = np.tanh(x @ w) * 2.0 - x.T @ x
    return np.sum(h ** 2) + sum([w[0], w[1]])[0]


def arrays_and_helper(x):
    return np.sum(array_helper(x) * x)


def test_arrays_keep_numpy_operators():
    source = adcompiler.grad(arrays_only).source
    assert 'operator_' not in source
    assert 'primal_mul' not in source


def object_helper(x):
    return Shifted(x * 2.0, x)


def objects_and_helper(x):
    shifted = object_helper(x) + x
    return np.sum(shifted.value * shifted.offset)


def test_helper_result_goes_through_protocol():
    # This helper's result is an object with operators.
    x = np.array([0.5, -1.5, 2.0])
    gradient_function = adcompiler.grad(objects_and_helper)
    assert_gradient_close(gradient_function(x),
                          numerical_gradient(objects_and_helper, (x,), 0))
    assert re.search(r'primal_add(_\d+)?\(', gradient_function.source)


def test_array_helper_keeps_numpy_operator():
    # Every return of array_helper is NumPy's result.
    source = adcompiler.grad(arrays_and_helper).source
    assert 'primal_mul' not in source
    assert 'operator_' not in source


def layer_norm(x, g, b):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return g * (x - mu) / np.sqrt(var + 1e-5) + b.T


def layer_norm_loss(x, g, b):
    return np.sum(layer_norm(x, g, b) ** 2)


@pytest.mark.parametrize('shape', [(3,), (2, 3), (4, 2, 3)])
@pytest.mark.parametrize('wrt', [0, 1, 2])
def test_array_method_helper_keeps_numpy_operator(shape, wrt):
    # Only arrays have .mean() and .T, so layer_norm returns an array and
    # its result is squared with NumPy's rule, not the operator protocol.
    rng = np.random.default_rng(5)
    arguments = (rng.normal(size=shape), rng.normal(size=3),
                 rng.normal(size=3))
    gradient_function = adcompiler.grad(layer_norm_loss, wrt=wrt)
    assert_gradient_close(gradient_function(*arguments),
                          numerical_gradient(layer_norm_loss, arguments, wrt))
    assert 'primal_pow' not in gradient_function.source
    assert 'operator_' not in gradient_function.source


@dataclasses.dataclass
class Indexed:
    """A vector whose items are scaled by their position plus one."""

    a: np.ndarray

    def __getitem__(self, index):
        return self.a[index] * (index + 1.0)


def indexed_item(v, x):
    return v[1] * np.sum(x)


def helper_slices(x):
    h = array_helper(x)
    return np.sum(h[1:] * h[:-1]) + np.sum(h[::2, ...])


def comprehension_of_objects(ds, x):
    products = [d * d for d in ds]
    return dual_total(products[0] + products[1]) * np.sum(x)


def inner_function_of_objects(d, x):
    def square(e):
        return e * e
    return dual_total(square(d) + square(d * x))


def appended_objects(d, x):
    items = []
    items.append(d)
    return dual_total(items[0] * items[0] + d * x)


def test_object_item_uses_getitem():
    v = Indexed(X)
    gradient = adcompiler.grad(indexed_item, wrt=(0, 1))(v, Y)
    assert_gradient_close(gradient[1], np.full(3, X[1] * 2.0))
    assert_gradient_close(gradient[0].a, np.array([0.0, 2.0, 0.0])
                          * np.sum(Y))


def test_slices_of_helper_result_gradient():
    gradient = adcompiler.grad(helper_slices)(X)
    assert_gradient_close(gradient, numerical_gradient(helper_slices, (X,), 0))


@pytest.mark.parametrize('function', [comprehension_of_objects,
                                      inner_function_of_objects,
                                      appended_objects],
                         ids=lambda f: f.__name__)
def test_objects_through_lowered_code_gradient(function):
    if function is comprehension_of_objects:
        first = [Dual(X, Y), Dual(Y, X)]
    else:
        first = Dual(X, Y)
    gradient = adcompiler.grad(function, wrt=1)(first, Y)
    expected = numerical_gradient(lambda x: function(first, x), (Y,), 0)
    assert_gradient_close(gradient, expected)


def list_product(items, x):
    product = items[0] * items[1]
    if isinstance(product, Dual):
        return np.sum(product.b * x)
    return np.sum(product * x)


def test_list_of_objects_after_list_of_arrays():
    # Both lists have the type list, but need different code.
    gradient = adcompiler.grad(list_product, wrt=1)
    for _ in range(3):
        assert_gradient_close(gradient([X, Y], Y), X * Y)
    duals = [Dual(X, Y), Dual(Y, X)]
    expected = numerical_gradient(lambda x: list_product(duals, x), (Y,), 0)
    for _ in range(3):
        assert_gradient_close(gradient(duals, Y), expected)
    assert_gradient_close(gradient([X, Y], Y), X * Y)


# In-place updates of arithmetic on helpers' NumPy results ------------------

def sine_helper(x):
    return np.sin(x)


def doubled_sum_helper(a):
    return np.sum(a * 2.0)


def item_added_helper_sum(x):
    a = x * 2.0
    a[1] += doubled_sum_helper(x)
    return np.sum(a)


def scaled_helper_updated(x):
    r = sine_helper(x) * 2.0
    r += 1.0
    r[0] = 5.0
    return np.sum(r * r)


def negated_helper_shifted(x):
    y = -sine_helper(x)
    y[1:] = y[:-1] * 2
    return np.sum(y * y)


def product_helper_scaled(x):
    m = sine_helper(x) @ np.eye(3)
    m *= 2
    return np.sum(m * m)


@pytest.mark.parametrize('function', [
    item_added_helper_sum, scaled_helper_updated, negated_helper_shifted,
    product_helper_scaled], ids=lambda f: f.__name__)
def test_helper_result_updated_in_place(function):
    x = np.array([1.0, 2.0, 3.0])
    gradient_function = adcompiler.grad(function)
    for _ in range(3):
        assert_gradient_close(gradient_function(x),
                              numerical_gradient(function, (x,), 0))


@dataclasses.dataclass
class Box:
    """A holder of an array, whose class gains an operator after use."""

    values: np.ndarray


def sine_product(box, other):
    return Box(2.0 * box.values * np.sin(other))


def box_weighted_sum(box, x):
    return np.sum(box.values * x)


def box_product_sum(box, x):
    return np.sum((box * x).values)


def test_operator_added_to_class_after_use():
    # The facts about a class are cached, and adding an operator method to
    # it must not leave the NumPy rule of `*` in place for its objects.
    box = Box(Y.copy())
    assert_gradient_close(adcompiler.grad(box_weighted_sum, wrt=1)(box, X),
                          Y)
    Box.__mul__ = sine_product
    try:
        expected = numerical_gradient(box_product_sum, (box, X), 1)
        assert_gradient_close(
            adcompiler.grad(box_product_sum, wrt=1)(box, X), expected)
        np.testing.assert_allclose(expected, 2.0 * Y * np.cos(X))
    finally:
        del Box.__mul__
