"""Methods of user objects passed as differentiated arguments, named like
array methods with a rule (`sum`, `dot`, `mean`, `copy`, `reshape`) but
computing something else. The rule of the array method would give a wrong
derivative, so each call must run the user's method, transformed from its
source. Every derivative is checked against central finite differences."""

import dataclasses

import numpy as np
import pytest

import adcompiler
from tests.finite_differences import assert_gradient_close, numerical_gradient

A = np.array([0.5, 1.5, -0.7])
B = np.array([2.0, -1.0, 0.3])
W = np.array([1.0, 2.0, -0.5])


@dataclasses.dataclass
class Pair:
    """Two fields whose array-named methods mix them, unlike NumPy's."""

    a: np.ndarray
    b: np.ndarray

    def sum(self):
        return np.sum(self.a * 2.0 + self.b ** 2)

    def mean(self):
        return np.sum(self.a * self.b)

    def dot(self, w):
        return np.sum(self.a * w) + np.sum(np.sin(self.b))

    def copy(self):
        return Pair(self.b, self.a)

    def reshape(self, *shape):
        return Pair(self.a * 3.0, self.b)


@dataclasses.dataclass
class OperatorPair(Pair):
    """A Pair whose class also defines an operator."""

    def __add__(self, other):
        return OperatorPair(self.a + other.a, self.b + other.b)


@dataclasses.dataclass
class Holder:
    """An object without array-named methods with a Pair in an attribute."""

    pair: Pair


def calls_sum(v):
    return v.sum()


def calls_mean(v):
    return v.mean()


def calls_dot(v):
    return v.dot(W)


def calls_copy(v):
    c = v.copy()
    return np.sum(c.a * W)


def calls_reshape(v):
    c = v.reshape(3)
    return np.sum(c.a ** 2)


def calls_methods_of_item(vs):
    return vs[0].sum() + vs[1].dot(W)


def calls_method_of_attribute(h):
    return h.pair.dot(W) * 2.0


FUNCTIONS = [calls_sum, calls_mean, calls_dot, calls_copy, calls_reshape]
CLASSES = [Pair, OperatorPair]


def field_gradients(function, cls):
    """Finite differences of function(cls(a, b)) w.r.t. a and b."""
    return (numerical_gradient(lambda a: function(cls(a, B)), (A,), 0),
            numerical_gradient(lambda b: function(cls(A, b)), (B,), 0))


@pytest.mark.parametrize('cls', CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
def test_method_gradient(function, cls):
    expected_a, expected_b = field_gradients(function, cls)
    gradient = adcompiler.grad(function)(cls(A, B))
    assert type(gradient) is cls
    assert_gradient_close(gradient.a, expected_a)
    assert_gradient_close(gradient.b, expected_b)


@pytest.mark.parametrize('cls', CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
def test_method_value_and_grad(function, cls):
    expected_a, expected_b = field_gradients(function, cls)
    value, gradient = adcompiler.value_and_grad(function)(cls(A, B))
    assert value == pytest.approx(function(cls(A, B)))
    assert_gradient_close(gradient.a, expected_a)
    assert_gradient_close(gradient.b, expected_b)


@pytest.mark.parametrize('cls', CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
def test_method_vjp(function, cls):
    expected_a, expected_b = field_gradients(function, cls)
    value, vjp_fn = adcompiler.vjp(function, cls(A, B))
    assert value == pytest.approx(function(cls(A, B)))
    (cotangent,) = vjp_fn(2.0)
    assert_gradient_close(cotangent.a, 2.0 * expected_a)
    assert_gradient_close(cotangent.b, 2.0 * expected_b)


@pytest.mark.parametrize('cls', CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize('function', FUNCTIONS, ids=lambda f: f.__name__)
def test_method_jvp(function, cls):
    expected_a, expected_b = field_gradients(function, cls)
    direction_a = np.array([0.5, -0.25, 1.5])
    direction_b = np.array([-1.0, 0.75, 0.2])
    value, tangent = adcompiler.jvp(function, (cls(A, B),),
                                    (cls(direction_a, direction_b),))
    assert value == pytest.approx(function(cls(A, B)))
    expected = expected_a @ direction_a + expected_b @ direction_b
    assert tangent == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_method_of_list_item_gradient():
    vs = [Pair(A, B), Pair(B, A)]
    gradient = adcompiler.grad(calls_methods_of_item)(vs)
    for position in (0, 1):
        def by_a(a, position=position):
            changed = list(vs)
            changed[position] = Pair(a, vs[position].b)
            return calls_methods_of_item(changed)

        expected = numerical_gradient(by_a, (vs[position].a,), 0)
        assert_gradient_close(gradient[position].a, expected)


def test_method_of_attribute_gradient():
    gradient = adcompiler.grad(calls_method_of_attribute)(Holder(Pair(A, B)))
    expected_b = numerical_gradient(
        lambda b: calls_method_of_attribute(Holder(Pair(A, b))), (B,), 0)
    assert_gradient_close(gradient.pair.b, expected_b)


def dot_with_array(v, x):
    return v.dot(x * x)


def test_method_hessian_wrt_array():
    v = Pair(A, B)
    hessian = adcompiler.hessian(dot_with_array, wrt=1)(v, W)
    expected = np.diag(2.0 * A)
    np.testing.assert_allclose(hessian, expected, rtol=1e-6, atol=1e-8)


def test_method_hessian_wrt_object_rejected():
    with pytest.raises(adcompiler.AdCompilerError, match='needs a float or '
                       'an array of numbers, got Pair'):
        adcompiler.hessian(calls_mean)(Pair(A, B))


def array_sum(x):
    return x.sum() + x.dot(x)


def test_array_argument_keeps_array_rule():
    gradient = adcompiler.grad(array_sum)(A)
    assert_gradient_close(gradient, 1.0 + 2.0 * A)
    assert 'dispatch' not in adcompiler.grad(array_sum).source


class StaticSum:
    """A class whose `sum` is a staticmethod, not a plain function."""

    def __init__(self, a):
        self.a = a

    @staticmethod
    def sum():
        return 0.0


adcompiler.register_container(StaticSum, lambda s: ((s.a,), None),
                              lambda aux, children: StaticSum(*children))


def sums_static(s):
    return s.sum() + np.sum(s.a ** 2)


def test_static_method_gradient():
    gradient = adcompiler.grad(sums_static)(StaticSum(A))
    assert_gradient_close(gradient.a, 2.0 * A)


def test_instance_stored_function_rejected():
    # A function stored on the object is a called value, not the array
    # method `dot`.
    s = StaticSum(A)
    s.dot = lambda w: 0.0

    def dots(s):
        return s.dot(W) + np.sum(s.a ** 2)

    with pytest.raises(adcompiler.AdCompilerError, match='a call of s.dot'):
        adcompiler.grad(dots)(s)


def sum_in_helper(v):
    return calls_dot(v) * 2.0


def test_method_in_helper_gradient():
    expected_a, expected_b = field_gradients(sum_in_helper, Pair)
    gradient = adcompiler.grad(sum_in_helper)(Pair(A, B))
    assert_gradient_close(gradient.a, expected_a)
    assert_gradient_close(gradient.b, expected_b)


def test_method_repeated_calls_gradient():
    # The second call compiles code for the arguments' shapes, and a call
    # with an array in between runs other code.
    expected_a, expected_b = field_gradients(calls_copy, Pair)
    gradient = adcompiler.grad(calls_copy)
    for _ in range(3):
        computed = gradient(Pair(A, B))
        assert_gradient_close(computed.a, expected_a)
        assert_gradient_close(computed.b, expected_b)

    def sums(x):
        return x.sum() + x.dot(W)

    gradient = adcompiler.grad(sums)
    for value in (A, Pair(A, B), A, Pair(A, B)):
        if isinstance(value, Pair):
            expected_a, expected_b = field_gradients(sums, Pair)
            computed = gradient(value)
            assert_gradient_close(computed.a, expected_a)
            assert_gradient_close(computed.b, expected_b)
        else:
            assert_gradient_close(gradient(value), 1.0 + W)


def test_list_of_arrays_then_objects_gradient():
    # Both lists have one type, so the arguments' key alone cannot tell
    # them apart.
    gradient = adcompiler.grad(calls_methods_of_item)
    arrays = [np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.5, 0.5])]
    for _ in range(2):
        computed = gradient(arrays)
        assert_gradient_close(computed[0], np.ones(3))
        assert_gradient_close(computed[1], W)
    vs = [Pair(A, B), Pair(B, A)]
    computed = gradient(vs)
    expected = numerical_gradient(
        lambda a: calls_methods_of_item([Pair(a, B), vs[1]]), (A,), 0)
    assert_gradient_close(computed[0].a, expected)
