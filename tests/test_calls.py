"""Calls: user functions (recursive too), rules, and the foreign-call policy."""

import inspect
import math
import operator
import re

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


def differentiate_in_mode(function, x, mode):
    """Differentiate `function` at `x` with grad (mode 'reverse') or with
    jvp along a vector of ones (mode 'forward')."""
    if mode == 'reverse':
        return adcompiler.grad(function)(x)
    return adcompiler.jvp(function, (x,), (np.ones_like(x),))


def check_gradient_and_tangent(function, x):
    """Check grad of `function` at `x` against central differences, and
    jvp along one direction against the same gradient."""
    expected = numerical_gradient(function, (x.copy(),), 0)
    assert_gradient_close(adcompiler.grad(function)(x.copy()), expected)
    direction = np.linspace(0.5, -0.5, x.size)
    _, tangent = adcompiler.jvp(function, (x.copy(),), (direction,))
    np.testing.assert_allclose(tangent, np.sum(expected * direction),
                               rtol=1e-5, atol=1e-8)


def marker_lines(function, marker):
    """Return the numbers of the source lines of `function` that contain
    `marker`."""
    lines, first = inspect.getsourcelines(function)
    return [first + i for i, line in enumerate(lines) if marker in line]


def power(x, n):
    if n == 0:
        return 1.0
    return x * power(x, n - 1)


def even_chain(x, n):
    if n == 0:
        return x
    return np.sin(odd_chain(x, n - 1))


def odd_chain(x, n):
    if n == 0:
        return x * 2.0
    return np.cos(even_chain(x, n - 1)) * x


def tree_sum(values, lo, hi):
    """Sum of tanh over values[lo:hi], splitting the range in two halves."""
    if hi - lo == 1:
        return np.tanh(values[lo])
    mid = (lo + hi) // 2
    return tree_sum(values, lo, mid) + tree_sum(values, mid, hi) * 0.5


RECURSIVE = [
    pytest.param(power, (1.3, 5), id='power'),
    pytest.param(power, (-0.7, 0), id='power-base-case'),
    pytest.param(even_chain, (0.4, 5), id='mutual-even'),
    pytest.param(odd_chain, (0.4, 4), id='mutual-odd'),
    pytest.param(tree_sum, (np.linspace(-1.0, 2.0, 7), 0, 7), id='tree-sum'),
]


@pytest.mark.parametrize('function, args', RECURSIVE)
def test_recursive_function_gradient(function, args):
    expected = numerical_gradient(function, args, 0)
    assert_gradient_close(adcompiler.grad(function)(*args), expected)


def test_recursive_source_calls_itself():
    source = adcompiler.grad(power).source
    # Names are numbered per function name, so a `power` compiled by an
    # earlier test makes this one adjoint_power_2.
    name = re.search(r'def (adjoint_power(_\d+)?)\(', source).group(1)
    assert source.count(f'def {name}(') == 1
    assert f'{name}(' in source.split(f'def {name}(')[1]


# Containers and the parameter-collection case ----------------------------------

def collect(tree, seen):
    """Leaves of a nested dict/list, each array object once (by id)."""
    out = []
    if isinstance(tree, dict):
        for key in tree:
            out.extend(collect(tree[key], seen))
    elif isinstance(tree, list):
        for item in tree:
            out.extend(collect(item, seen))
    elif id(tree) not in seen:
        seen.add(id(tree))
        out.append(tree)
    return out


def parameters(model):
    return collect(model, set())


def first_parameter_loss(model):
    params = parameters(model)
    return np.sum(params[0] ** 2) + 3.0 * np.sum(params[-1])


def make_model(tied):
    w = np.array([1.0, 2.0])
    b = np.array([0.5])
    second = w if tied else np.array([7.0, 8.0])
    return {'layer1': {'w': w, 'b': b},
            'layers': [{'w': second}, np.array([4.0, 5.0])]}


def test_collector_with_tied_arrays():
    gradient = adcompiler.grad(first_parameter_loss)(make_model(tied=True))
    np.testing.assert_allclose(gradient['layer1']['w'], [2.0, 4.0])
    np.testing.assert_allclose(gradient['layer1']['b'], [0.0])
    # The tied array is collected once, at its first occurrence.
    np.testing.assert_allclose(gradient['layers'][0]['w'], [0.0, 0.0])
    np.testing.assert_allclose(gradient['layers'][1], [3.0, 3.0])


def test_collector_without_tied_arrays():
    gradient = adcompiler.grad(first_parameter_loss)(make_model(tied=False))
    np.testing.assert_allclose(gradient['layer1']['w'], [2.0, 4.0])
    np.testing.assert_allclose(gradient['layers'][0]['w'], [0.0, 0.0])
    np.testing.assert_allclose(gradient['layers'][1], [3.0, 3.0])


def test_collector_gradient_has_model_structure():
    gradient = adcompiler.grad(first_parameter_loss)(make_model(tied=True))
    assert set(gradient) == {'layer1', 'layers'}
    assert isinstance(gradient['layers'], list)
    assert len(gradient['layers']) == 2


def test_collector_bookkeeping_stays_in_primal():
    source = adcompiler.grad(first_parameter_loss).source
    adjoint = source.split('def adjoint_collect')[1]
    primal = source.split('def primal_collect')[1].split('def adjoint')[0]
    adjoint_code = '\n'.join(line for line in adjoint.splitlines()
                             if not line.strip().startswith('#'))
    assert 'seen.add(' in primal
    assert 'id(' not in adjoint_code
    assert 'seen' not in adjoint_code


def collect_into(tree, seen, out):
    if isinstance(tree, dict):
        for key in tree:
            collect_into(tree[key], seen, out)
    elif id(tree) not in seen:
        seen.add(id(tree))
        out.append(tree)


def accumulator_loss(model):
    out = []
    collect_into(model, set(), out)
    return np.sum(out[0] ** 2)


def test_container_filled_by_callee_raises():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(accumulator_loss)({'a': np.ones(2)})
    assert "'out'" in str(info.value)
    assert 'collect_into' in str(info.value)
    assert info.value.lineno == collect_into.__code__.co_firstlineno + 3


def dict_model(p, x):
    h = np.tanh(p['w'] @ x + p['b'])
    scales = {'h': 2.0, 'total': 0.5}
    total = 0.0
    for name, value in p.items():
        total = total + np.sum(value ** 2)
    for value in p.values():
        total = total + np.sum(value)
    outputs = {}
    outputs['z'] = h * scales['h']
    return np.sum(outputs['z']) + scales['total'] * total


def list_model(layers, x):
    activations = [x]
    for w in layers:
        activations.append(np.tanh(w @ activations[-1]))
    extra = []
    extra.extend(activations[1:])
    return np.sum(extra[-1] ** 2) + np.sum(extra[0])


def tuple_model(pair, x):
    a, b = pair
    return np.sum(np.sin(a * x) + b ** 2)


def _leaf_gradients(function, args, position):
    """Finite differences w.r.t. every array leaf of a dict, list or tuple."""
    def leaves(tree, path=()):
        if isinstance(tree, dict):
            for key, value in tree.items():
                yield from leaves(value, path + (key,))
        elif isinstance(tree, (list, tuple)):
            for index, value in enumerate(tree):
                yield from leaves(value, path + (index,))
        else:
            yield path

    def get(tree, path):
        for key in path:
            tree = tree[key]
        return tree

    def replaced(tree, path, value):
        if not path:
            return value
        if isinstance(tree, dict):
            new = dict(tree)
        else:
            new = list(tree)
        new[path[0]] = replaced(tree[path[0]], path[1:], value)
        return new if not isinstance(tree, tuple) else tuple(new)

    tree = args[position]
    for path in leaves(tree):
        def of_leaf(leaf, path=path):
            new_args = list(args)
            new_args[position] = replaced(tree, path, leaf)
            return function(*new_args)
        yield path, get, numerical_gradient(of_leaf, (get(tree, path),), 0)


RNG = np.random.default_rng(3)
CONTAINER_CASES = [
    pytest.param(dict_model, ({'w': RNG.normal(size=(3, 2)),
                               'b': RNG.normal(size=3)}, RNG.normal(size=2)),
                 id='dict'),
    pytest.param(list_model, ([RNG.normal(size=(3, 2)) * 0.5,
                               RNG.normal(size=(2, 3)) * 0.5],
                              RNG.normal(size=2)), id='list-append-extend'),
    pytest.param(tuple_model, ((RNG.normal(size=3), RNG.normal(size=3)),
                               RNG.normal(size=3)), id='tuple'),
]


@pytest.mark.parametrize('function, args', CONTAINER_CASES)
def test_container_argument_gradient(function, args):
    gradient = adcompiler.grad(function)(*args)
    assert type(gradient) is type(args[0])
    for path, get, expected in _leaf_gradients(function, args, 0):
        assert_gradient_close(get(gradient, path), expected)


# Calls resolved at run time ------------------------------------------------------

class Linear:
    def __init__(self, weights):
        self.weights = weights

    def apply(self, x):
        return np.tanh(self.weights @ x)

    def __call__(self, x):
        return self.apply(x) * 2.0


def method_of_argument(x, layer, f):
    h = layer.apply(x)
    z = f(h)
    return np.sum(z ** 2) + h.sum()


def square(v):
    return v * v


def test_method_and_function_value_gradients():
    rng = np.random.default_rng(5)
    x, weights = rng.normal(size=2), rng.normal(size=(3, 2))
    args = (x, Linear(weights), square)
    expected = numerical_gradient(method_of_argument, args, 0)
    assert_gradient_close(adcompiler.grad(method_of_argument)(*args), expected)


def test_dispatched_call_in_source():
    source = adcompiler.grad(method_of_argument).source
    assert 'ad.call_method(' in source
    assert 'ad.call_function(' in source
    assert 'ad.call_adjoint(' in source


def calls_held_function(x, f):
    y = x * 2.0
    return np.sum(f(y))


def test_dispatched_foreign_call_raises_at_the_call():
    cube = np.frompyfunc(lambda v: v ** 3, 1, 1)
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(calls_held_function)(np.ones(3), cube)
    error = info.value
    assert error.lineno == calls_held_function.__code__.co_firstlineno + 2
    assert error.filename == __file__
    # A local object has no name to register it by but the parameter's.
    assert error.callee_name == "f (the ufunc '<lambda> (vectorized)')"
    assert 'register_vjp(f)' in str(error)
    assert error.active_argument == 'y'
    assert error.call_chain == ['calls_held_function']
    assert 'ufunc' in str(error)


def test_dispatched_foreign_call_with_rule():
    cube = np.frompyfunc(lambda v: v ** 3, 1, 1)
    adcompiler.register_vjp(cube, lambda g, ans, v: (g * 3.0 * v ** 2,))
    x = np.array([0.5, -1.0, 2.0])
    gradient = adcompiler.grad(calls_held_function)(x, cube)
    np.testing.assert_allclose(gradient.astype(float), 24.0 * x ** 2)


def calls_model_object(x, model):
    return np.sum(model(x))


def test_callable_object_gradient():
    rng = np.random.default_rng(6)
    x, weights = rng.normal(size=2), rng.normal(size=(3, 2))
    args = (x, Linear(weights))
    expected = numerical_gradient(calls_model_object, args, 0)
    assert_gradient_close(adcompiler.grad(calls_model_object)(*args), expected)


def bookkeeping_calls(x, counter):
    n = len(x)
    shape = x.shape
    key = id(x)
    counter.append(n)
    scale = float(shape[0] + (key > 0))
    return np.sum(x ** 2) * scale


def test_inactive_foreign_calls_run():
    x = np.array([1.0, 2.0])
    counter = []
    gradient = adcompiler.grad(bookkeeping_calls)(x, counter)
    np.testing.assert_allclose(gradient, 2.0 * x * 3.0)
    assert counter == [2]


# Calls kept for their effect, and callees that cannot be transformed -------------

def copies_into(x):
    y = np.zeros(3)
    np.copyto(y, x)
    return np.sum(y ** 2)


def fills(x):
    # A product may be any object with a fill method, unlike np.zeros(3),
    # whose fill runs as a write.
    y = np.zeros(3) * 1.0
    y.fill(x)
    return np.sum(y)


def sorts_in_place(x):
    y = x * 1.0
    y.sort()
    return y[0] * 3.0 + y[1]


def writes_out(x):
    y = np.zeros(3)
    np.exp(x, out=y)
    return np.sum(y)


def sums_into_out(x):
    y = np.zeros(())
    z = np.sum(x, out=y)
    return z + y


def calls_held_function_for_effect(x, log):
    log(x)
    return np.sum(x)


@pytest.mark.parametrize('function, args, error, marker', [
    pytest.param(copies_into, (np.ones(3),), adcompiler.ForeignCallError,
                 'np.copyto(y, x)', id='np.copyto'),
    pytest.param(fills, (2.0,), adcompiler.UnsupportedSyntaxError,
                 'y.fill(x)', id='fill'),
    pytest.param(sorts_in_place, (np.array([3.0, 1.0, 2.0]),),
                 adcompiler.UnsupportedSyntaxError, 'y.sort()', id='sort'),
    pytest.param(writes_out, (np.ones(3),), adcompiler.UnsupportedSyntaxError,
                 'out=y)', id='out'),
    pytest.param(sums_into_out, (np.ones(3),),
                 adcompiler.UnsupportedSyntaxError, 'out=y)', id='sum-out'),
    pytest.param(calls_held_function_for_effect, (np.ones(2), print),
                 adcompiler.UnsupportedSyntaxError, 'log(x)', id='held'),
])
def test_update_through_call_raises(function, args, error, marker):
    with pytest.raises(error) as info:
        adcompiler.grad(function)(*args)
    expected = marker_lines(function, marker)
    assert info.value.lineno == expected[0]


def cube(x):
    return x ** 3


def test_grad_of_grad_of_cube():
    assert adcompiler.grad(adcompiler.grad(cube))(3.0) == pytest.approx(18.0)


def doubled(function):
    @__import__('functools').wraps(function)
    def wrapper(*args, **kwargs):
        return 2.0 * function(*args, **kwargs)
    return wrapper


@doubled
def doubled_square(x):
    return x * x


def test_wrapped_function_is_not_unwrapped():
    # The wrapper's own code runs (it doubles); it is not silently skipped.
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(doubled_square)(3.0)
    assert '*args' in str(info.value)


def array_getfield(x):
    return np.sum(x.getfield(np.float64) ** 2)


VECTORIZED_SIN = np.vectorize(math.sin)


def calls_vectorized(x):
    return np.sum(VECTORIZED_SIN(x * 2.0))


def test_vectorize_object_named_as_called():
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(calls_vectorized)(np.ones(3))
    error = info.value
    assert error.callee_name == 'VECTORIZED_SIN'
    assert error.lineno == calls_vectorized.__code__.co_firstlineno + 1
    assert 'vectorize object of NumPy' in str(error)
    assert 'register_vjp(VECTORIZED_SIN)' in str(error)


def test_held_vectorize_object_named_as_called():
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(calls_held_function)(np.ones(3), VECTORIZED_SIN)
    assert info.value.callee_name == "f (the vectorize 'VECTORIZED_SIN')"
    assert 'register_vjp(VECTORIZED_SIN)' in str(info.value)
    assert 'vectorize object of NumPy' in str(info.value)


def test_vectorize_object_with_rule():
    vectorized = np.vectorize(math.cos)

    def calls_it(x):
        return np.sum(vectorized(x) * x)

    adcompiler.register_vjp(vectorized,
                            lambda g, ans, v: (-g * np.sin(v),))
    for shape in [(3,), (2, 3)]:
        x = np.random.default_rng(3).normal(size=shape)
        expected = numerical_gradient(calls_it, (x,), 0)
        assert_gradient_close(adcompiler.grad(calls_it)(x), expected)


def getfield_vjp(g, ans, v, dtype):
    return (g, None)


def test_array_method_without_rule_then_rule():
    x = np.array([1.0, 2.0, 4.0])
    with pytest.raises(adcompiler.ForeignCallError) as info:
        adcompiler.grad(array_getfield)(x)
    assert info.value.callee_name == 'numpy.ndarray.getfield'
    assert 'register_vjp(numpy.ndarray.getfield)' in str(info.value)
    adcompiler.register_vjp(np.ndarray.getfield, getfield_vjp)
    expected = numerical_gradient(array_getfield, (x,), 0)
    assert_gradient_close(adcompiler.grad(array_getfield)(x), expected)


class Quadratic:
    def __init__(self, weights):
        self.weights = weights

    def loss(self, x):
        return np.sum((self.weights * x) ** 2)


GLOBAL_MODEL = Quadratic(np.array([1.0, 2.0]))


def uses_global_model(x):
    return GLOBAL_MODEL.loss(x)


def test_method_of_global_object():
    x = np.array([0.5, -1.5])
    expected = numerical_gradient(uses_global_model, (x,), 0)
    assert_gradient_close(adcompiler.grad(uses_global_model)(x), expected)


def test_bound_method_given_to_grad():
    x = np.array([0.5, -1.5])
    expected = numerical_gradient(GLOBAL_MODEL.loss, (x,), 0)
    assert_gradient_close(adcompiler.grad(GLOBAL_MODEL.loss)(x), expected)


def list_stack(x):
    stack = [x[0], x[1] * 2.0]
    stack.insert(1, x[2] ** 2)
    stack.insert(-1, np.sin(x[0]))
    top = stack.pop()
    stack.pop(0)
    total = top * 3.0
    while len(stack) > 0:
        value = stack.pop()
        total = total + value * (len(stack) + 1.5)
    return total


@pytest.mark.parametrize('x', [
    pytest.param(np.array([0.4, -1.3, 2.2]), id='mixed'),
    pytest.param(np.array([-2.0, 0.5, 0.1]), id='negative-first'),
])
def test_list_insert_and_pop(x):
    expected = numerical_gradient(list_stack, (x,), 0)
    assert_gradient_close(adcompiler.grad(list_stack)(x), expected)


def test_register_jvp_as_decorator():
    def opaque(x):
        return x

    @adcompiler.register_jvp(opaque)
    def opaque_jvp(tangents, ans, x):
        return tangents[0]

    assert opaque_jvp.__name__ == 'opaque_jvp'
    from adcompiler.rules import REGISTRY
    assert REGISTRY.lookup_jvp(opaque) is opaque_jvp


def tripled(v):
    return 3.0 * v


adcompiler.register_vjp(tripled, lambda g, ans, v: (3.0 * g,))


def tripled_by_keyword(x):
    return np.sum(tripled(v=x))


def tripled_by_position(x):
    return np.sum(tripled(x))


def test_function_rule_with_keyword_argument_raises():
    with pytest.raises(adcompiler.UnsupportedSyntaxError,
                       match='keyword argument v=') as info:
        adcompiler.grad(tripled_by_keyword)(np.ones(3))
    assert info.value.lineno == tripled_by_keyword.__code__.co_firstlineno + 1


def test_function_rule_with_positional_argument():
    gradient = adcompiler.grad(tripled_by_position)(np.ones(3))
    np.testing.assert_allclose(gradient, np.full(3, 3.0))


# A module that a user function returns is varied (it comes from a call
# that takes x), but carries no derivative: xp.copy(x) is np.copy(x), not
# the array method copy of xp.
def namespace_of(x):
    return np


def module_copy(x):
    xp = namespace_of(x)
    return np.sum(xp.copy(x) ** 2)


def module_reductions(x):
    xp = namespace_of(x)
    y = xp.transpose(x * 2.0)
    return xp.sum(y * y) + xp.prod(y) + xp.max(y) + xp.mean(xp.exp(y))


def module_reshapes(x):
    xp = namespace_of(x)
    return np.sum(xp.ravel(x) * xp.squeeze(x) * xp.clip(x, -10.0, 10.0))


@pytest.mark.parametrize('function', [module_copy, module_reductions,
                                      module_reshapes],
                         ids=lambda f: f.__name__)
def test_module_from_user_function(function):
    x = np.array([0.5, -1.5, 2.0])
    expected = numerical_gradient(function, (x,), 0)
    assert_gradient_close(adcompiler.grad(function)(x.copy()), expected)
    # The second call may take code compiled for the arguments' shapes.
    assert_gradient_close(adcompiler.grad(function)(x.copy()), expected)
    direction = np.array([1.0, 0.5, -0.25])
    _, tangent = adcompiler.jvp(function, (x.copy(),), (direction,))
    np.testing.assert_allclose(tangent, np.sum(expected * direction),
                               rtol=1e-5)
    hessian = adcompiler.hessian(function)(x.copy())
    expected_hessian = np.stack([
        numerical_gradient(lambda v: adcompiler.grad(function)(v)[i],
                           (x,), 0) for i in range(3)])
    np.testing.assert_allclose(hessian, expected_hessian, rtol=1e-4,
                               atol=1e-5)


# Calls that may change a value in place, whose result nothing reads ----------
#
# The stages differentiate what an assignment stores in its target. Here
# nothing that carries a derivative reads the target (`_ = np.copyto(a, v)`,
# a comprehension run for its appends, `b = set_first(a, v)` with b never
# read). A change that the call makes in place to a value that carries a
# derivative must then raise, or the gradient would silently miss it. Each
# function below is right in Python, and the marker is the text of the line
# that the error points at.

def appends_in_comprehension(x):
    out = []
    _ = [out.append(v ** 2) for v in x]
    return sum(out)


def appends_in_any(x):
    out = []
    any(out.append(v ** 2) for v in x)
    return sum(out)


def appends_through_map(x):
    out = []
    list(map(out.append, x ** 2))
    return sum(out)


def append_result_assigned(x):
    out = []
    r = out.append(x[0] ** 2)  # noqa: F841
    return sum(out) + x[1]


def extend_result_assigned(x):
    out = [x[0]]
    _ = out.extend([x[2] ** 2])
    return out[-1] * 2.0


def insert_result_assigned(x):
    out = [x[0], x[1]]
    _ = out.insert(0, x[2] * 5.0)
    return out[0] * 2.0 + out[1]


def list_iadd_method_assigned(x):
    out = [x[0]]
    _ = out.__iadd__([x[2] ** 2])
    return out[-1] * 2.0


def dict_update_assigned(x):
    d = {}
    _ = d.update(k=x[1] ** 2)
    return d['k'] * x[2]


def copyto_assigned(x):
    a = x ** 2
    _ = np.copyto(a, x * x[0])
    return np.sum(a * np.arange(1.0, 4.0))


def add_at_assigned(x):
    a = x ** 2
    _ = np.add.at(a, [0, 0], x[1])
    return np.sum(a * np.arange(1.0, 4.0))


def setitem_method_assigned(x):
    a = x ** 2
    _ = a.__setitem__(0, x[1] ** 3)
    return np.sum(a * np.arange(1.0, 4.0))


def put_along_axis_assigned(x):
    a = x ** 2
    _ = np.put_along_axis(a, np.array([0]), x[1] ** 3, axis=0)
    return np.sum(a * np.arange(1.0, 4.0))


def itruediv_method_assigned(x):
    a = x ** 2
    _ = a.__itruediv__(x[1])
    return np.sum(a * np.arange(1.0, 4.0))


def operator_iadd_assigned(x):
    a = x * 1.0
    b = operator.iadd(a, x ** 2)  # noqa: F841
    return np.sum(a * np.arange(1.0, 4.0))


def imul_method_assigned(x):
    a = x * 1.0
    b = a.__imul__(x[1])  # noqa: F841
    return np.sum(a * np.arange(1.0, 4.0))


def imul_method_in_lambda(x):
    a = x * 1.0
    update = lambda s: a.__imul__(s)  # noqa: E731
    update(x[1])
    return np.sum(a * np.arange(1.0, 4.0))


def scale_in_place(a, s):
    a *= s


def normalize_in_place(v):
    v /= np.linalg.norm(v)


def square_in_place(a):
    a **= 2


def scale_under_condition(a, s):
    if s > 0:
        a *= s


def scale_in_loop(a, s):
    for _ in range(2):
        a += s


def scale_through_helper(a, s):
    scale_in_place(a, s)


def push_by_iadd(items, v):
    items += [v * 2.0]


def set_first(a, v):
    a[0] = v
    return a


def push_and_count(items, v):
    items.append(v * 2.0)
    return len(items)


def set_key(d, v):
    d['k'] = v ** 2
    return True


class InPlaceOps:
    @staticmethod
    def scale(a, s):
        a *= s


def helper_scales_local(x):
    a = x * 1.0
    scale_in_place(a, x[1])
    return np.sum(a * np.arange(1.0, 4.0))


def helper_normalizes_local(x):
    a = x * 1.0
    normalize_in_place(a)
    return np.sum(a * np.arange(1.0, 4.0))


def helper_squares_row(x):
    m = np.outer(x, x) * 1.0
    square_in_place(m[0])
    return np.sum(m)


def helper_scales_under_condition(x):
    a = x * 1.0
    scale_under_condition(a, x[1])
    return np.sum(a * np.arange(1.0, 4.0))


def helper_adds_in_loop(x):
    a = x * 1.0
    scale_in_loop(a, x[1])
    return np.sum(a * np.arange(1.0, 4.0))


def helper_scales_through_helper(x):
    a = x * 1.0
    scale_through_helper(a, x[1])
    return np.sum(a * np.arange(1.0, 4.0))


def helper_scales_constant(x):
    a = np.ones(3)
    scale_in_place(a, x[1])
    return np.sum(a * x)


def helper_scales_argument(x):
    scale_in_place(x, 2.0)
    return np.sum(x * np.arange(1.0, 4.0))


def helper_extends_list(x):
    items = [x[0]]
    push_by_iadd(items, x[1])
    return items[0] + items[1] ** 2


def static_method_scales_local(x):
    a = x * 1.0
    InPlaceOps.scale(a, x[1])
    return np.sum(a * np.arange(1.0, 4.0))


def helper_writes_index_result_unread(x):
    a = x * 1.0
    b = set_first(a, x[1] ** 2)  # noqa: F841
    return np.sum(a * np.arange(1.0, 4.0))


def helper_appends_count_unread(x):
    items = [x[0]]
    n = push_and_count(items, x[1])  # noqa: F841
    return items[0] + items[1] ** 2


def helper_stores_key_flag_unread(x):
    d = {'k': x[0]}
    ok = set_key(d, x[1])  # noqa: F841
    return d['k'] * x[0]


@pytest.mark.parametrize('function, marker', [
    (appends_in_comprehension, '[out.append(v ** 2) for v in x]'),
    (appends_in_any, 'any(out.append(v ** 2) for v in x)'),
    (appends_through_map, 'list(map(out.append, x ** 2))'),
    (append_result_assigned, 'r = out.append'),
    (extend_result_assigned, '_ = out.extend'),
    (insert_result_assigned, '_ = out.insert'),
    (list_iadd_method_assigned, '_ = out.__iadd__'),
    (dict_update_assigned, '_ = d.update'),
    (copyto_assigned, '_ = np.copyto'),
    (add_at_assigned, '_ = np.add.at'),
    (setitem_method_assigned, '_ = a.__setitem__'),
    (put_along_axis_assigned, '_ = np.put_along_axis'),
    (itruediv_method_assigned, '_ = a.__itruediv__'),
    (operator_iadd_assigned, 'iadd(a, x ** 2)'),
    (imul_method_assigned, 'b = a.__imul__'),
    (imul_method_in_lambda, 'a.__imul__(s)'),
    (helper_scales_local, 'scale_in_place(a, x[1])'),
    (helper_normalizes_local, 'normalize_in_place(a)'),
    (helper_squares_row, 'square_in_place(m[0])'),
    (helper_scales_under_condition, 'scale_under_condition(a, x[1])'),
    (helper_adds_in_loop, 'scale_in_loop(a, x[1])'),
    (helper_scales_through_helper, 'scale_in_place(a, s)'),
    (helper_scales_constant, 'scale_in_place(a, x[1])'),
    (helper_scales_argument, 'scale_in_place(x, 2.0)'),
    (helper_extends_list, 'push_by_iadd(items, x[1])'),
    (static_method_scales_local, 'InPlaceOps.scale(a, x[1])'),
    (helper_writes_index_result_unread, 'b = set_first('),
    (helper_appends_count_unread, 'n = push_and_count('),
    (helper_stores_key_flag_unread, 'ok = set_key('),
], ids=lambda value: getattr(value, '__name__', ''))
@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_unread_result_update_raises(function, marker, mode):
    x = np.array([3.0, 2.0, 1.0])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        differentiate_in_mode(function, x, mode)
    # The error of a helper's own call points into the helper.
    located = {helper_scales_through_helper: scale_through_helper}.get(
        function, function)
    expected = marker_lines(located, marker)
    assert expected, marker
    if located is not function or function is imul_method_in_lambda:
        assert info.value.lineno == expected[0]
    else:
        assert info.value.lineno == expected[-1]
    assert 'in place' in str(info.value) or 'keep the value' in str(
        info.value)


def test_helper_update_message_names_parameter():
    x = np.array([3.0, 2.0, 1.0])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(helper_normalizes_local)(x)
    message = str(info.value)
    assert "passing 'a' to normalize_in_place" in message
    assert "its parameter 'v' in place" in message
    assert 'return it' in message


# An inner function's augmented assignment to its parameter updates the
# caller's object in Python. The generated code checks, when it runs, that
# the object cannot change in place, and raises otherwise.

def inner_def_scales_array(x):
    def scale(arr, s):
        arr *= s

    a = x * 1.0
    scale(a, x[1])
    return np.sum(a * np.arange(1.0, 4.0))


def inner_def_extends_list(x):
    def push(items, v):
        items += [v * 2.0]

    lst = [x[0]]
    push(lst, x[1])
    return lst[0] + lst[1] ** 2


def inner_def_divides_and_returns(x):
    def normalize(arr, s):
        arr /= s
        return arr

    a = x * 1.0
    b = normalize(a, x[1])  # noqa: F841
    return np.sum(a * np.arange(1.0, 4.0))


def inner_def_scales_row_view(x):
    def scale(arr, s):
        arr *= s

    m = np.outer(x, x) * 1.0
    scale(m[0], x[1])
    return np.sum(m)


@pytest.mark.parametrize('function, marker', [
    (inner_def_scales_array, 'arr *= s'),
    (inner_def_extends_list, 'items += [v * 2.0]'),
    (inner_def_divides_and_returns, 'arr /= s'),
    (inner_def_scales_row_view, 'arr *= s'),
], ids=lambda value: getattr(value, '__name__', ''))
@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_inner_def_parameter_update_raises(function, marker, mode):
    x = np.array([3.0, 2.0, 1.0])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        differentiate_in_mode(function, x, mode)
    expected = marker_lines(function, marker)
    assert info.value.lineno == expected[0]
    name = marker.split()[0]
    assert f'augmented assignment to {name!r}' in str(info.value)


# Their twins that change nothing that carries a derivative, or change it
# through a returned value, still differentiate.

def accumulate(total, v):
    total += v
    return total


def scaled_copy(a, s):
    b = a.copy()
    b *= s
    return b


def unread_pure_results(x):
    _ = np.sum(x)
    n = len(x)
    m = x.mean()  # noqa: F841
    _ = print('x[0] is', x[0])
    return np.sum(x ** 2) * n


def unread_pop(x):
    items = [x[0], x[1] ** 2, x[2] ** 3]
    _ = items.pop(0)
    return items[0] * 2.0 + items[1]


def inner_def_accumulates_float(x):
    def add(total, v):
        total += v
        return total

    s = add(x[0] * 1.0, x[1] ** 2)
    return s * x[2]


def helper_accumulates_float(x):
    s = accumulate(x[0] * 1.0, x[1] ** 2)
    return s * x[2]


def helper_scales_own_copy(x):
    c = scaled_copy(x * 1.0, x[1])
    return np.sum(c * np.arange(1.0, x.size + 1.0))


def inner_def_rebinds_parameter(x):
    def scale(arr, s):
        arr = arr * s
        return arr

    a = x * 1.0
    b = scale(a, x[1])
    return np.sum(a + b)


@pytest.mark.parametrize('x', [np.array([3.0, 2.0, 1.0]),
                               np.array([0.5, -1.5, 2.0, 0.25])],
                         ids=['three', 'four'])
@pytest.mark.parametrize('function', [
    unread_pure_results, unread_pop, inner_def_accumulates_float,
    helper_accumulates_float, helper_scales_own_copy,
    inner_def_rebinds_parameter,
], ids=lambda f: f.__name__)
def test_unread_result_without_update_gradient(function, x):
    check_gradient_and_tangent(function, x)


# An in-place method of a value that carries a derivative, used as a value
# rather than called directly, hides its update from the gradient.

def fill_through_name(x):
    a = x * 1.0
    fill = a.fill
    fill(0.5)
    return np.sum(a * x)


def fill_through_getattr(x):
    a = x * 1.0
    getattr(a, 'fill')(0.5)
    return np.sum(a * x)


def sort_through_name(x):
    a = x * 1.0
    s = a.sort
    s()
    return a[0] * 1.0 + a[1] * 10.0


def reverse_list_through_name(x):
    items = [x[0] * 1.0, x[1] * 2.0, x[2] ** 3]
    rev = items.reverse
    rev()
    return items[0] * 10.0 + items[2]


def reset_through_name(a):
    z = a.fill
    z(0.5)


def reset_through_getattr(a):
    getattr(a, 'fill')(0.5)


def helper_fills_through_name(x):
    a = x * 1.0
    reset_through_name(a)
    return np.sum(a * x)


def helper_fills_through_name_unread(x):
    a = x * 1.0
    _ = reset_through_name(a)
    return np.sum(a * x)


def helper_fills_through_getattr(x):
    a = x * 1.0
    reset_through_getattr(a)
    return np.sum(a * x)


def call_with(f, v):
    f(v)


def fill_passed_to_helper(x):
    a = x * 1.0
    call_with(a.fill, 0.5)
    return np.sum(a * x)


def fill_through_map(x):
    a = x * 1.0
    list(map(a.fill, [0.5]))
    return np.sum(a * x)


def fill_kept_in_tuple(x):
    a = x * 1.0
    for op in (a.fill,):
        op(0.5)
    return np.sum(a * x)


@pytest.mark.parametrize('function, located, marker', [
    (fill_through_name, fill_through_name, 'fill = a.fill'),
    (fill_through_getattr, fill_through_getattr, "getattr(a, 'fill')"),
    (sort_through_name, sort_through_name, 's = a.sort'),
    (reverse_list_through_name, reverse_list_through_name,
     'rev = items.reverse'),
    (helper_fills_through_name, reset_through_name, 'z = a.fill'),
    (helper_fills_through_name_unread, helper_fills_through_name_unread,
     '_ = reset_through_name(a)'),
    (helper_fills_through_getattr, reset_through_getattr,
     "getattr(a, 'fill')"),
    (fill_passed_to_helper, fill_passed_to_helper, 'call_with(a.fill'),
    (fill_through_map, fill_through_map, 'map(a.fill'),
    (fill_kept_in_tuple, fill_kept_in_tuple, '(a.fill,)'),
], ids=lambda value: getattr(value, '__name__', ''))
@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_in_place_method_as_value_raises(function, located, marker, mode):
    x = np.array([3.0, 1.0, 2.0])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        differentiate_in_mode(function, x, mode)
    expected = marker_lines(located, marker)
    assert expected, marker
    assert info.value.lineno == expected[0]
    assert 'in place' in str(info.value)
    if function is helper_fills_through_name_unread:
        # The unread result is checked from the helper's source, so the
        # error names the call.
        assert 'passing' in str(info.value)
    else:
        assert 'used as a value' in str(info.value)


def append_to_passive_list_through_name(x):
    names = []
    push = names.append
    push('first')
    return np.sum(x ** 2) * len(names)


def fill_direct_call(x):
    a = x * 1.0
    a.fill(0.5)
    return np.sum(a * x)


@pytest.mark.parametrize('x', [np.array([3.0, 2.0, 1.0]),
                               np.array([0.5, -1.5, 2.0, 0.25])],
                         ids=['three', 'four'])
def test_passive_method_as_value_gradient(x):
    function = append_to_passive_list_through_name
    check_gradient_and_tangent(function, x)


def test_direct_in_place_call_message_unchanged():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(fill_direct_call)(np.array([3.0, 1.0, 2.0]))
    assert '.fill() on' in str(info.value)


# A helper that updates a copy of its parameter changes nothing of the
# caller's object, but a shallow copy (list(m), lst.copy()) still contains
# the caller's items.

def scaled_array_copy(a, s):
    b = a.copy()
    b *= s
    return b


def scaled_numpy_copy(a, s):
    b = np.array(a)
    b[0] = b[0] * s
    return b


def helper_scales_copy_unread(x):
    _ = scaled_array_copy(x, 2.0)
    return np.sum(x ** 2)


def helper_writes_numpy_copy_unread(x):
    a = x * 1.0
    _ = scaled_numpy_copy(a, x[1])
    return np.sum(a * x)


@pytest.mark.parametrize('x', [np.array([3.0, 2.0, 1.0]),
                               np.array([0.5, -1.5, 2.0, 0.25])],
                         ids=['three', 'four'])
@pytest.mark.parametrize('function', [
    helper_scales_copy_unread, helper_writes_numpy_copy_unread,
], ids=lambda f: f.__name__)
def test_unread_copying_helper_gradient(function, x):
    check_gradient_and_tangent(function, x)


def scale_first_row(m, s):
    rows = list(m)
    rows[0] *= s
    return rows


def helper_scales_row_of_shallow_copy_unread(x):
    m = x.reshape(1, -1) * 1.0
    _ = scale_first_row(m, 2.0)
    return np.sum(m[0] * x)


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_shallow_copy_item_update_raises(mode):
    function = helper_scales_row_of_shallow_copy_unread
    x = np.array([3.0, 2.0, 1.0])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        differentiate_in_mode(function, x, mode)
    expected = marker_lines(function, '_ = scale_first_row')
    assert info.value.lineno == expected[0]
    assert "its parameter 'm' in place" in str(info.value)


# A helper that rebinds its parameter to a copy and then changes the copy
# leaves the caller's object as it was.

def set_first_of_copy(a, v):
    a = a.copy()
    a[0] = v
    return a


def clip_low_of_array_copy(a, lo):
    a = np.array(a)
    a[a < lo] = lo
    return a


def normalize_rows_of_copy(m):
    m = m.copy()
    for i in range(m.shape[0]):
        m[i] /= np.linalg.norm(m[i])
    return m


def zero_first_of_quotient(a, s):
    a = a / s
    a[0] = 0.0
    return a


def append_to_list_copy(items, v):
    items = items.copy()
    items.append(v)
    return items


def helper_sets_first_of_copy(x):
    b = set_first_of_copy(x, x[1] * 3.0)
    return np.sum(b ** 2) + np.sum(x * b)


def helper_clips_array_copy(x):
    return np.sum(clip_low_of_array_copy(x, x[1] * 0.9) ** 2)


def helper_normalizes_rows_of_copy(x):
    m = np.stack([x, x[::-1] * 2.0])
    r = normalize_rows_of_copy(m)
    return np.sum(r * np.arange(1.0, x.size + 1.0)) + np.sum(m)


def helper_zeros_first_of_quotient(x):
    b = zero_first_of_quotient(x, x[1])
    return np.sum(b ** 2) + np.sum(x * b)


def helper_appends_to_list_copy(x):
    items = [x[0] * 1.0, x[1] ** 2]
    longer = append_to_list_copy(items, x[2] * 3.0)
    return longer[0] * longer[2] + items[1] * longer[1]


@pytest.mark.parametrize('x', [np.array([1.0, 2.0, 3.0]),
                               np.array([0.5, -1.5, 2.0, 0.25])],
                         ids=['three', 'four'])
@pytest.mark.parametrize('function', [
    helper_sets_first_of_copy, helper_clips_array_copy,
    helper_normalizes_rows_of_copy, helper_zeros_first_of_quotient,
    helper_appends_to_list_copy,
], ids=lambda f: f.__name__)
def test_helper_updates_own_copy_gradient(function, x):
    check_gradient_and_tangent(function, x)


def scale_first_item_of_copy(items, s):
    items = items.copy()
    items[0] *= s
    return items


def helper_scales_item_of_list_copy(x):
    a = x * 1.0
    b = scale_first_item_of_copy([a], x[1])
    return np.sum(a * x) + np.sum(b[0])


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_list_copy_item_update_raises(mode):
    function = helper_scales_item_of_list_copy
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        differentiate_in_mode(function, x, mode)
    expected = marker_lines(scale_first_item_of_copy, 'items[0] *= s')
    assert info.value.lineno == expected[0]
    assert 'in place' in str(info.value)


class PlotAxes:
    """A stand-in for a plotting object passed to a loss function."""

    def plot(self, *values):
        return ['line']


class InPlaceNormalizer:
    """An argument object whose method divides its argument in place."""

    def normalize(self, a):
        a /= np.linalg.norm(a)


def plots_on_argument_unread(x, ax):
    y = np.sin(x)
    _ = ax.plot(y)
    return np.sum(y * x)


def plots_on_argument(x, ax):
    y = np.sin(x)
    ax.plot(y)
    return np.sum(y * x)


def normalizes_with_argument_unread(x, ax):
    y = x * 1.0
    _ = ax.normalize(y)
    return np.sum(y * np.arange(1.0, x.size + 1.0))


def plots_stopped_value(x, ax):
    y = np.sin(x)
    ax.plot(adcompiler.stop_gradient(y))
    _ = ax.plot(adcompiler.stop_gradient(y))
    return np.sum(y * x)


# The compiler has neither an argument object's class nor its method's
# source, so the method may write into the value it is given.
@pytest.mark.parametrize('function, receiver, marker', [
    (plots_on_argument_unread, PlotAxes(), '_ = ax.plot(y)'),
    (plots_on_argument, PlotAxes(), 'ax.plot(y)'),
    (normalizes_with_argument_unread, InPlaceNormalizer(),
     '_ = ax.normalize(y)'),
], ids=lambda value: getattr(value, '__name__', ''))
@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_argument_object_method_raises(function, receiver, marker, mode):
    x = np.array([0.1, 0.2, 0.4])
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        if mode == 'reverse':
            adcompiler.grad(function)(x, receiver)
        else:
            adcompiler.jvp(lambda v: function(v, receiver), (x,),
                           (np.ones(3),))
    expected = marker_lines(function, marker)
    assert info.value.lineno == expected[0]
    assert 'stop_gradient' in str(info.value)


@pytest.mark.parametrize('x', [np.array([0.1, 0.2]),
                               np.array([0.5, -1.5, 2.0, 0.25])],
                         ids=['two', 'four'])
def test_argument_object_stopped_value_gradient(x):
    function = plots_stopped_value
    axes = PlotAxes()
    expected = numerical_gradient(function, (x.copy(), axes), 0)
    assert_gradient_close(adcompiler.grad(function)(x.copy(), axes),
                          expected)
    direction = np.linspace(0.5, -0.5, x.size)
    _, tangent = adcompiler.jvp(lambda v: function(v, axes), (x.copy(),),
                                (direction,))
    np.testing.assert_allclose(tangent, np.sum(expected * direction),
                               rtol=1e-5, atol=1e-8)
