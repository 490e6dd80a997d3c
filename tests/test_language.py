"""The rest of the Python users write: closures, lambdas, comprehensions,
*args and **kwargs, globals and with statements.

Every function in TABLE is differentiated with respect to each of its float
arguments and compared with central finite differences. The error tests
check that the forms left unsupported raise UnsupportedSyntaxError at the
right line.
"""

import functools
import inspect
import warnings

import numpy as np
import pytest

import adcompiler
from closure_factory import make_layer as make_foreign_layer
from finite_differences import assert_gradient_close, numerical_gradient

OFFSET = 0.25
WEIGHTS = np.array([0.5, -1.0, 2.0])


# Nested functions and closures ------------------------------------------------

def captured_array(x, w):
    def affine(v):
        return v * w + OFFSET
    return np.sum(np.tanh(affine(x)))


def captured_float_late_binding(x, s):
    scale = s * 2.0

    def scaled(v):
        return v * scale
    first = scaled(x)
    scale = s * s  # The inner function reads the variable when called.
    return np.sum(first + scaled(x))


def inner_calls_inner(x, w):
    def square(v):
        return v * v

    def energy(v):
        return np.sum(square(v) * w)
    return energy(x) + energy(x * 0.5)


def inner_with_defaults_and_keywords(x, w):
    def combine(a, b=2.0, *, power=2.0):
        return np.sum(a ** power * b)
    return combine(x) + combine(x, b=w, power=3.0) + combine(w, 0.5)


def inner_with_global_defaults(x, w):
    def dense(v, activation=np.tanh, flag=np.pi):
        if flag:
            return activation(v * w) * flag
        return v
    pair = (x, np.pi)
    total = 0.0
    for _ in range(2):
        total = total + np.sum(np.multiply(*pair))
    return np.sum(dense(x)) + total


def inner_in_loop(x, w):
    def step(v):
        return np.sin(v) * w
    total = 0.0
    for i in range(3):
        total = total + np.sum(step(x * i))
    return total


def inner_with_branch(x, w):
    def clipped(v):
        if np.sum(v) > 0.0:
            return v * w
        return -v
    return np.sum(clipped(x)) + np.sum(clipped(-x))


def nonlocal_accumulator(x, w):
    total = 0.0

    def add(v):
        nonlocal total
        total = total + np.sum(v * w)
    add(x)
    add(x * x)
    return total


def nonlocal_in_loop(x, w):
    state = x * 1.0

    def advance(rate):
        nonlocal state
        state = state + rate * np.tanh(state * w)
    for _ in range(3):
        advance(0.5)
    return np.sum(state)


def apply_twice(function, v):
    return function(function(v))


def passes_inner_to_module_function(x, w):
    def layer(v):
        return np.tanh(v * w)
    return np.sum(apply_twice(layer, x))


def make_layer(w, b):
    def layer(v):
        return np.tanh(v * w + b)
    return layer


def calls_returned_closure(x, w):
    layer = make_layer(w, OFFSET)
    return np.sum(layer(layer(x)))


def calls_factory_result_directly(x, w):
    return np.sum(make_layer(w, OFFSET)(x) ** 2)


def compose(f, g):
    return lambda v: f(g(v))


def composes_lambdas(x, w):
    both = compose(lambda v: v * w, np.sin)
    return np.sum(both(x))


# Lambdas and higher-order built-ins ---------------------------------------------

def lambda_with_default(x, w):
    scale = lambda v, k=2.0: v * k * w  # noqa: E731
    return np.sum(scale(x) + scale(x, 3.0))


def immediately_called_lambda(x):
    return np.sum((lambda v: v * v + 1.0)(x))


def sum_of_map(x, w):
    return sum(map(lambda v, u: v * u, x, w))


def sum_of_generator(x):
    return sum(np.sin(v) * i for i, v in enumerate(x))


def sorted_by_key(x):
    ordered = sorted(x, key=lambda v: abs(v))
    return ordered[0] * 3.0 + ordered[-1]


def sorted_reverse(x, w):
    ordered = sorted([x[0] * w, x[1], x[2] * 2.0], reverse=True)
    return ordered[0] - ordered[1] * 0.5


def max_and_min_by_key(x, w):
    largest = max(x, key=lambda v: v * v)
    smallest = min([x[0] * w, x[1], x[2]], key=abs)
    return largest * 2.0 + smallest


def sorted_by_key_squared(x, w):
    ordered = sorted(x * w, key=lambda v: abs(v))
    return ordered[0] ** 2 * 3.0 + ordered[-1] * ordered[1]


def max_and_min_by_key_cubed(x, w):
    largest = max(x * w, key=lambda v: v * v)
    return largest ** 3 + min(x, key=abs) * np.sum(w * w)


def max_and_min_of_arguments_by_key(x, w):
    largest = max(x[0] * w[1], x[1] * w[0], x[2], key=abs)
    smallest = min(x[0] * w[2], x[2], key=lambda v: v * v)
    return largest * smallest + largest ** 2


def max_of_arrays_by_key(x, w):
    heavier = max(x * 2.0, w, key=np.sum)
    lighter = min(np.sin(x), w * w, key=lambda a: np.sum(a))
    return np.sum(heavier ** 2) + np.sum(lighter * w)


def list_of_map(x, w):
    scaled = list(map(lambda v: v * w, x))
    return scaled[0] * scaled[-1]


def reduce_product(x):
    return functools.reduce(lambda a, b: a * b, x)


def reduce_with_initial(x, w):
    return functools.reduce(lambda acc, v: acc + v * w, x, 1.0)


def reduce_over_zip(x, w):
    total = functools.reduce(lambda acc, p: acc + np.sin(p[0]) * p[1],
                             zip(x, w), 0.0)
    return np.sum(total ** 2)


def sorted_pairs_by_second(x, w):
    pairs = sorted(zip(x, w), key=lambda p: p[1])
    return pairs[0][0] * pairs[-1][1] + pairs[1][0] ** 2


def loop_over_enumerated_zip(x, w):
    total = 0.0
    for i, (a, b) in enumerate(zip(x, w)):
        total = total + np.sum(a * b) * (i + 1.0) + np.sum(a ** 2)
    return total


def zip_and_enumerate_keywords(x, w):
    total = 0.0
    for i, (a, b) in enumerate(zip(x, w, strict=True), start=1):
        total = total + np.sum(a * b) * i
    pairs = sorted(zip(x, w, strict=True), key=lambda p: np.sum(p[1]))
    return total + np.sum(pairs[0][0] ** 2)


def generator_over_zip_items(x, w):
    return sum(np.sum(p[0] ** 2 * p[1]) for p in zip(x, w))


def enumerated_and_reversed_lists(x):
    numbered = list(enumerate(x, 1))
    backwards = list(reversed(x))
    return sum(i * np.sum(v ** 2) for i, v in numbered) + np.sum(
        backwards[0] * backwards[-1])


def filter_positive(x):
    return sum(filter(lambda v: v > 0.0, x))


# Dict views and get ------------------------------------------------------------

def sum_of_dict_values(x, w):
    layers = {'scaled': x * w, 'wave': np.sin(x)}
    return np.sum(sum(layers.values()) ** 2)


def dict_items_as_value(x, w):
    layers = {'ab': x * w, 'c': np.cos(x * w)}
    pairs = layers.items()
    return sum(np.sum(v ** 2) * len(k) for k, v in pairs)


def loop_over_dict_items(x, w):
    layers = {'ab': x * w, 'c': np.sin(x)}
    total = 0.0
    for name, value in layers.items():
        total = total + np.sum(value * value) * len(name)
    return total


def options_get_with_default(x, w):
    options = {'scale': w, 'shift': x * 0.5}
    scale = options.get('scale', 1.0)
    missing = options.get('bias', x * x)
    return np.sum(np.tanh(x * scale) + missing * options.get('shift'))


# A dict whose item is assigned, then iterated over: its loop reads keys, and
# the item write rebinds an entry, so no value is a view.
def dict_updated_then_summed(x, w):
    d = {'a': x ** 2, 'b': x * w}
    d['b'] = d['b'] * 10.0
    return np.sum(sum(v for k, v in d.items()))


def dict_updated_then_looped(x, w):
    d = {'a': np.sin(x), 'b': w}
    d['b'] = d['b'] * x
    s = 0.0
    for v in d.values():
        s = s + np.sum(v * v)
    return s


# An entry rebound to a value of another shape: the old value's adjoint
# keeps its own shape.
def dict_entry_rebound(x, w):
    d = {'b': w, 'c': x}
    d['b'] = d['b'] * x
    return np.sum(d['b'] ** 2) + np.sum(d['c'])


def list_entry_rebound(x, w):
    items = [w, x]
    items[0] = items[0] * x
    return np.sum(items[0] ** 2) + np.sum(items[1])


def dict_of_rows_updated(x, w):
    d = {'first': x[0], 'second': x[1]}  # Views of x's rows for a matrix.
    d['second'] = d['second'] * w
    total = 0.0
    for key in d:
        total = total + np.sum(d[key] ** 2)
    return total


# Comprehensions ---------------------------------------------------------------

def list_comprehension_with_condition(x):
    return sum([v ** 2 for v in x if v > 0.0])


def nested_comprehension(x, y):
    return sum([a * b for a in x for b in y if a != b])


def comprehension_of_rows(m, w):
    return sum(np.sum(row * w) ** 2 for row in m)


def comprehension_list_extended(x):
    squares = [v * v for v in x]
    squares.append(x[0] * 3.0)
    return squares[0] * squares[-1] + squares[1]


def dict_comprehension(x, w):
    powers = {k: x ** k * w for k in range(1, 4)}
    return np.sum(powers[1] + powers[3])


def set_comprehension_counts(x):
    sizes = {len(str(k)) for k in range(12)}
    return np.sum(x * len(sizes))


def counts_distinct_values(x, w):
    distinct = {v * 2.0 for v in x * w}
    return np.sum(x * w) * len(distinct) + (1.0 if 0.0 in distinct else 0.0)


def comprehension_unpacks_pairs(x, y):
    pairs = [(a, b) for a in x for b in y]
    return sum(a * np.cos(b) for a, b in pairs)


def comprehension_target_is_local(x):
    v = x * 2.0
    squares = [v * v for v in x]
    return np.sum(v) + sum(squares)


# *args, **kwargs, defaults and keywords -----------------------------------------

def weighted_total(*values, scale=1.0, **weights):
    total = 0.0
    for v in values:
        total = total + np.sum(v * v)
    for key in weights:
        total = total + np.sum(weights[key]) * 2.0
    return total * scale


def calls_with_varargs(x, w):
    return weighted_total(x, w * 2.0, scale=3.0, first=x, second=w)


def unpacks_displays(x, w):
    arrays = (x, w)
    options = {'scale': 0.5, 'extra': x * w}
    return weighted_total(*arrays, **options) + np.sum(np.multiply(*arrays))


def inner_with_varargs(x, w):
    def mean_of(*vs, **named):
        return sum(np.sum(v) for v in vs) / len(vs) + named['bias']
    return mean_of(x, w, x * w, bias=np.sum(w))


def star_parameters(x, *rest):
    return np.sum(x * rest[0]) + np.sum(rest[1])


def layer_loss(x, w, b=0.0, *, scale=1.0):
    return np.sum(np.tanh(x * w + b)) * scale


def forwards_everything(*args, **kwargs):
    return layer_loss(*args, **kwargs)


def calls_forwarding_wrapper(x, w):
    return forwards_everything(x, w, b=0.5, scale=2.0)


def unpacks_appended_list(x, w):
    params = [x, w]
    params.append(0.3)
    return layer_loss(*params)


def unpacks_options_argument(x, w, options):
    return layer_loss(x, w, **options)


def unpacks_built_mapping(x, w):
    options = {k: v for k, v in zip(('b', 'scale'), (x[0] * 0.5,
                                                     np.sum(w * w)))}
    params = [x]
    params.append(w)
    return layer_loss(*params, **options)


def unpacks_into_methods(x, w):
    vectors = [w * w]
    vectors.append(x)
    bounds = [-1.0, 1.0]
    return np.sum(np.sin(x).dot(*vectors[:1]) * x) + np.sum(
        x.clip(*bounds) ** 2)


def unpacks_mapping_into_method(x, w):
    options = {k: v for k, v in zip(('axis',), (-1,))}
    return np.sum(np.sin(x * w).sum(**options) ** 2)


class Scaler:
    def apply(self, v, scale=1.0):
        return np.sin(v) * scale


SCALER = Scaler()


def method_with_keyword_derivative(x, w):
    return np.sum(SCALER.apply(x * w, scale=w * w) ** 2)


def scaled_star_loss(x, *rest, scale=1.0, **named):
    return np.sum(np.sin(x) * rest[0]) * scale + np.sum(
        named['b'] ** 2 * x)


GRADIENT_OF_FORWARDING = adcompiler.grad(forwards_everything, wrt=0)
GRADIENT_OF_STAR_LOSS = adcompiler.grad(scaled_star_loss, wrt='x')
GRADIENT_OF_NAMED = adcompiler.grad(scaled_star_loss, wrt='named')


def calls_gradient_of_forwarding(x, w):
    dx, dw = GRADIENT_OF_FORWARDING(x, w, b=0.5, scale=2.0)
    return dx * w + dw


def calls_gradient_of_star_loss(x, w):
    return GRADIENT_OF_STAR_LOSS(x, w * x, scale=2.0, b=w)


def calls_gradient_of_named(x, w):
    return GRADIENT_OF_NAMED(x, w, b=w * x)['b']


# Globals and with statements ----------------------------------------------------

def reads_globals(x):
    return np.sum(x * WEIGHTS[:x.shape[-1]]) + OFFSET


def with_errstate(x, w):
    with np.errstate(divide='ignore', invalid='ignore'):
        y = np.log(x * x) * w
    return np.sum(y)


def with_catch_warnings(x):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        y = np.sqrt(x * x + 1.0)
    return np.sum(y)


def opens_a_file(x):
    with open(__file__) as handle:
        handle.read(1)
    return x * 2.0


def returns_inside_with(x):
    with np.errstate(divide='ignore'):
        return np.sum(np.log(x * x))


def returns_early_inside_with(x):
    total = 0.0
    for i in range(3):
        with np.errstate(all='ignore'):
            if i == 2:
                return total + np.sum(x * x)
            total = total + np.sum(np.sin(x * i))
    return total


def with_in_loop(x):
    total = 0.0
    for i in range(2):
        with np.errstate(all='ignore'):
            total = total + np.sum(np.log(x * x + i))
    return total


V3 = np.array([0.4, -1.3, 1.1])
W3 = np.array([1.2, 0.7, -0.5])
M23 = np.array([[0.3, -0.8, 1.1], [0.6, 0.2, -0.4]])

TABLE = [
    pytest.param(captured_array, (V3, W3), id='captured-array'),
    pytest.param(captured_array, (M23, W3), id='captured-array-broadcast'),
    pytest.param(captured_array, (0.7, 1.3), id='captured-float'),
    pytest.param(captured_float_late_binding, (V3, 0.8),
                 id='captured-late-binding'),
    pytest.param(inner_calls_inner, (V3, W3), id='inner-calls-inner'),
    pytest.param(inner_calls_inner, (M23, W3), id='inner-calls-inner-broadcast'),
    pytest.param(inner_with_defaults_and_keywords, (V3, W3),
                 id='inner-defaults-keywords'),
    pytest.param(inner_with_global_defaults, (V3, W3),
                 id='inner-global-defaults'),
    pytest.param(inner_in_loop, (V3, W3), id='inner-in-loop'),
    pytest.param(inner_with_branch, (V3, W3), id='inner-with-branch'),
    pytest.param(nonlocal_accumulator, (V3, W3), id='nonlocal-accumulator'),
    pytest.param(nonlocal_in_loop, (M23, W3), id='nonlocal-in-loop'),
    pytest.param(passes_inner_to_module_function, (V3, W3),
                 id='inner-passed-to-function'),
    pytest.param(calls_returned_closure, (V3, 0.9), id='returned-closure'),
    pytest.param(calls_factory_result_directly, (V3, W3),
                 id='factory-result-called'),
    pytest.param(calls_returned_closure, (M23, W3),
                 id='returned-closure-broadcast'),
    pytest.param(composes_lambdas, (V3, W3), id='composed-lambdas'),
    pytest.param(lambda_with_default, (V3, 1.7), id='lambda-default'),
    pytest.param(immediately_called_lambda, (M23,), id='lambda-called'),
    pytest.param(sum_of_map, (V3, W3), id='sum-of-map'),
    pytest.param(sum_of_generator, (V3,), id='sum-of-generator'),
    pytest.param(sorted_by_key, (V3,), id='sorted-key'),
    pytest.param(sorted_reverse, (V3, 0.3), id='sorted-reverse'),
    pytest.param(max_and_min_by_key, (V3, 0.3), id='max-min-key'),
    pytest.param(sorted_by_key_squared, (V3, W3), id='sorted-key-squared'),
    pytest.param(max_and_min_by_key_cubed, (V3, W3), id='max-min-key-cubed'),
    pytest.param(max_and_min_of_arguments_by_key, (V3, W3),
                 id='max-min-arguments-key'),
    pytest.param(max_of_arrays_by_key, (V3, W3), id='max-arrays-key'),
    pytest.param(max_of_arrays_by_key, (M23, W3),
                 id='max-arrays-key-broadcast'),
    pytest.param(list_of_map, (V3, 0.6), id='list-of-map'),
    pytest.param(reduce_product, (V3,), id='reduce'),
    pytest.param(reduce_with_initial, (V3, 1.4), id='reduce-initial'),
    pytest.param(reduce_over_zip, (V3, W3), id='reduce-over-zip'),
    pytest.param(reduce_over_zip, (M23, W3), id='reduce-over-zip-rows'),
    pytest.param(sorted_pairs_by_second, (V3, W3), id='sorted-zip'),
    pytest.param(loop_over_enumerated_zip, (V3, W3),
                 id='enumerate-zip-loop'),
    pytest.param(loop_over_enumerated_zip, (M23, W3),
                 id='enumerate-zip-loop-rows'),
    pytest.param(zip_and_enumerate_keywords, (V3, W3),
                 id='zip-enumerate-keywords'),
    pytest.param(zip_and_enumerate_keywords, (M23, M23 * 0.5 - 0.1),
                 id='zip-enumerate-keywords-rows'),
    pytest.param(generator_over_zip_items, (V3, W3), id='zip-items'),
    pytest.param(generator_over_zip_items, (M23, W3), id='zip-items-rows'),
    pytest.param(enumerated_and_reversed_lists, (V3,),
                 id='enumerate-reversed-lists'),
    pytest.param(enumerated_and_reversed_lists, (M23,),
                 id='enumerate-reversed-lists-rows'),
    pytest.param(filter_positive, (V3,), id='filter'),
    pytest.param(sum_of_dict_values, (V3, W3), id='dict-values'),
    pytest.param(sum_of_dict_values, (M23, W3), id='dict-values-broadcast'),
    pytest.param(dict_items_as_value, (V3, W3), id='dict-items-value'),
    pytest.param(loop_over_dict_items, (M23, W3), id='dict-items-loop'),
    pytest.param(options_get_with_default, (V3, W3), id='dict-get'),
    pytest.param(options_get_with_default, (M23, W3),
                 id='dict-get-broadcast'),
    pytest.param(dict_updated_then_summed, (V3, W3), id='dict-updated-items'),
    pytest.param(dict_updated_then_summed, (M23, W3),
                 id='dict-updated-items-broadcast'),
    pytest.param(dict_updated_then_looped, (V3, W3), id='dict-updated-values'),
    pytest.param(dict_updated_then_looped, (M23, W3),
                 id='dict-updated-values-broadcast'),
    pytest.param(dict_entry_rebound, (V3, W3), id='dict-entry-rebound'),
    pytest.param(dict_entry_rebound, (M23, W3),
                 id='dict-entry-rebound-broadcast'),
    pytest.param(list_entry_rebound, (M23, W3),
                 id='list-entry-rebound-broadcast'),
    pytest.param(dict_of_rows_updated, (V3, W3), id='dict-updated-keys'),
    pytest.param(dict_of_rows_updated, (M23, W3), id='dict-updated-rows'),
    pytest.param(list_comprehension_with_condition, (V3,),
                 id='list-comprehension-if'),
    pytest.param(nested_comprehension, (V3, W3), id='nested-for'),
    pytest.param(comprehension_of_rows, (M23, W3), id='comprehension-rows'),
    pytest.param(comprehension_list_extended, (V3,),
                 id='comprehension-then-append'),
    pytest.param(dict_comprehension, (V3, W3), id='dict-comprehension'),
    pytest.param(dict_comprehension, (M23, W3),
                 id='dict-comprehension-broadcast'),
    pytest.param(set_comprehension_counts, (V3,), id='set-comprehension'),
    pytest.param(counts_distinct_values, (V3, W3),
                 id='set-comprehension-of-floats-counted'),
    pytest.param(comprehension_unpacks_pairs, (V3, W3), id='unpacked-pairs'),
    pytest.param(comprehension_target_is_local, (V3,),
                 id='comprehension-scope'),
    pytest.param(calls_with_varargs, (V3, W3), id='varargs-call'),
    pytest.param(unpacks_displays, (V3, W3), id='star-unpacking'),
    pytest.param(inner_with_varargs, (V3, W3), id='inner-varargs'),
    pytest.param(star_parameters, (V3, W3, M23), id='star-parameters'),
    pytest.param(calls_forwarding_wrapper, (V3, W3), id='forwarding-wrapper'),
    pytest.param(calls_forwarding_wrapper, (M23, W3),
                 id='forwarding-wrapper-broadcast'),
    pytest.param(unpacks_appended_list, (V3, W3), id='unpack-runtime-list'),
    pytest.param(unpacks_options_argument, (V3, W3, {'b': 0.2, 'scale': 1.5}),
                 id='unpack-runtime-dict'),
    pytest.param(unpacks_built_mapping, (V3, W3), id='unpack-built-mapping'),
    pytest.param(unpacks_built_mapping, (M23, W3),
                 id='unpack-built-mapping-broadcast'),
    pytest.param(unpacks_into_methods, (V3, W3), id='unpack-into-method'),
    pytest.param(method_with_keyword_derivative, (V3, W3),
                 id='dispatched-keyword-derivative'),
    pytest.param(unpacks_mapping_into_method, (V3, W3),
                 id='unpack-mapping-into-method'),
    pytest.param(unpacks_mapping_into_method, (M23, W3),
                 id='unpack-mapping-into-method-broadcast'),
    pytest.param(reads_globals, (V3,), id='globals'),
    pytest.param(reads_globals, (M23,), id='globals-broadcast'),
    pytest.param(with_errstate, (V3, W3), id='with-errstate'),
    pytest.param(with_catch_warnings, (M23,), id='with-catch-warnings'),
    pytest.param(with_in_loop, (V3,), id='with-in-loop'),
    pytest.param(opens_a_file, (0.7,), id='with-open-inactive'),
    pytest.param(returns_inside_with, (V3,), id='return-in-with'),
    pytest.param(returns_early_inside_with, (M23,),
                 id='early-return-in-with'),
]


@pytest.mark.parametrize('function, args', TABLE)
def test_language_form_gradient(function, args):
    parameters = inspect.signature(function).parameters.values()
    named = [p for p in parameters if p.kind is not p.VAR_POSITIONAL]
    for position in range(min(len(args), len(named))):
        if not isinstance(args[position], (float, np.ndarray)):
            continue  # A container; tested on its own below.
        expected = numerical_gradient(function, args, position)
        computed = adcompiler.grad(function, wrt=position)(*args)
        assert_gradient_close(computed, expected)


# Forward mode on a few of the same functions.
FORWARD = [captured_array, nonlocal_accumulator, calls_returned_closure,
           calls_factory_result_directly,
           dict_comprehension, calls_with_varargs, with_errstate,
           sorted_by_key_squared, max_and_min_by_key_cubed,
           max_and_min_of_arguments_by_key, max_of_arrays_by_key,
           reduce_over_zip, sorted_pairs_by_second, loop_over_enumerated_zip,
           zip_and_enumerate_keywords, generator_over_zip_items,
           sum_of_dict_values, dict_items_as_value, loop_over_dict_items,
           options_get_with_default, counts_distinct_values,
           unpacks_appended_list, unpacks_built_mapping, unpacks_into_methods,
           unpacks_mapping_into_method, dict_updated_then_summed,
           dict_updated_then_looped, dict_of_rows_updated]


@pytest.mark.parametrize('function', FORWARD, ids=lambda f: f.__name__)
def test_language_form_jvp(function):
    args = (V3, W3)
    directions = (np.array([0.3, -0.2, 0.5]), np.array([0.1, 0.4, -0.6]))
    _, tangent = adcompiler.jvp(function, args, directions)
    expected = sum(np.dot(numerical_gradient(function, args, p), d)
                   for p, d in enumerate(directions))
    np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-6)


# Hessian-vector products in each composition, on functions whose
# second derivatives go through the forms above.
SECOND_ORDER = [sorted_by_key_squared, max_and_min_by_key_cubed,
                max_and_min_of_arguments_by_key, max_of_arrays_by_key,
                reduce_over_zip, sorted_pairs_by_second,
                loop_over_enumerated_zip, zip_and_enumerate_keywords,
                generator_over_zip_items, dict_updated_then_summed,
                dict_updated_then_looped, dict_of_rows_updated,
                dict_entry_rebound, list_entry_rebound]
COMPOSITIONS = ['forward-over-reverse', 'reverse-over-forward',
                'reverse-over-reverse']


# Functions that call dict methods, which are dispatched at run time.
DISPATCHED_SECOND_ORDER = [sum_of_dict_values, dict_items_as_value,
                           options_get_with_default, unpacks_built_mapping,
                           unpacks_into_methods, unpacks_mapping_into_method,
                           method_with_keyword_derivative]
# Reverse over reverse does not go through a call dispatched at run time
# with *seq or **mapping, one whose keyword argument carries a derivative,
# nor one whose generated code keeps a tape (values() and items() build
# their lists in loops).
NOT_REVERSE_OVER_REVERSE = [sum_of_dict_values, dict_items_as_value,
                            unpacks_built_mapping, unpacks_into_methods,
                            unpacks_mapping_into_method,
                            method_with_keyword_derivative]
SECOND_ORDER_CASES = [
    pytest.param(function, mode, id=f'{function.__name__}-{mode}')
    for function in SECOND_ORDER + [loop_over_dict_items]
    for mode in COMPOSITIONS] + [
    pytest.param(function, mode, id=f'{function.__name__}-{mode}', marks=(
        [pytest.mark.xfail(strict=True, raises=adcompiler.AdCompilerError,
                           reason='reverse over reverse does not go through '
                                  'these calls dispatched at run time')]
        if mode == 'reverse-over-reverse'
        and function in NOT_REVERSE_OVER_REVERSE else []))
    for function in DISPATCHED_SECOND_ORDER for mode in COMPOSITIONS]


@pytest.mark.parametrize('function, mode', SECOND_ORDER_CASES)
def test_language_form_hvp(function, mode):
    args = (V3, W3)
    direction = np.array([0.3, -0.2, 0.5])
    for position in range(len(args)):
        product = adcompiler.hvp(function, wrt=position, mode=mode)(
            *args, direction)
        gradient = adcompiler.grad(function, wrt=position)

        def directional(step):
            shifted = list(args)
            shifted[position] = args[position] + step * direction
            return gradient(*shifted)
        step = 1e-5
        expected = (directional(step) - directional(-step)) / (2 * step)
        np.testing.assert_allclose(product, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('function', [
    calls_gradient_of_forwarding, calls_gradient_of_star_loss,
    calls_gradient_of_named], ids=lambda f: f.__name__)
def test_forward_over_gradient_with_star_parameters(function):
    args = (V3, W3)
    directions = (np.array([0.3, -0.2, 0.5]), np.array([0.1, 0.4, -0.6]))
    _, tangent = adcompiler.jvp(function, args, directions)
    step = 1e-6
    ahead = function(*[a + step * d for a, d in zip(args, directions)])
    behind = function(*[a - step * d for a, d in zip(args, directions)])
    np.testing.assert_allclose(tangent, (ahead - behind) / (2 * step),
                               rtol=1e-5, atol=1e-6)


def test_unpacked_mapping_gradient_is_dict():
    options = {'b': W3 * 0.1, 'scale': 1.5}
    gradient = adcompiler.grad(unpacks_options_argument, wrt=2)(V3, W3,
                                                                 options)
    assert set(gradient) == {'b', 'scale'}

    def with_b(b):
        return unpacks_options_argument(V3, W3, {'b': b, 'scale': 1.5})

    def with_scale(scale):
        return unpacks_options_argument(V3, W3, {'b': W3 * 0.1,
                                                 'scale': scale})
    assert_gradient_close(gradient['b'],
                          numerical_gradient(with_b, (W3 * 0.1,), 0))
    assert_gradient_close(gradient['scale'],
                          numerical_gradient(with_scale, (1.5,), 0))


def test_varargs_gradient_is_tuple():
    gradient = adcompiler.grad(star_parameters, wrt='rest')(V3, W3, M23)
    assert isinstance(gradient, tuple)
    assert_gradient_close(gradient[0], V3)
    assert_gradient_close(gradient[1], np.ones_like(M23))


# Generated code ----------------------------------------------------------------

def test_inlined_inner_function_reads_like_source():
    source = adcompiler.grad(captured_array, wrt=(0, 1)).source
    lines, first = inspect.getsourcelines(captured_array)
    inner_line = first + 2
    assert f'# line {inner_line}: return v * w + OFFSET' in source
    assert 'dw' in source
    assert '\n    None\n' not in source


def test_global_function_argument_is_called_directly():
    source = adcompiler.grad(inner_with_global_defaults).source
    assert 'np.tanh(' in source
    assert 'call_function' not in source


def test_nonlocal_call_leaves_no_statement():
    source = adcompiler.grad(nonlocal_accumulator).source
    assert '\n    None\n' not in source
    code = [line.strip() for line in source.splitlines()
            if not line.strip().startswith('#')]
    assert not any(line.startswith('add(') for line in code)


# Forms that stay unsupported ------------------------------------------------------

COUNT = 0.0


def writes_global(x):
    global COUNT
    COUNT = COUNT + 1.0
    return x * 2.0


def returns_inner_function(x):
    def double(v):
        return v * 2.0
    return double


def stores_lambda_in_list(x):
    functions = [lambda v: v * 2.0]
    return functions[0](x)


def recursive_inner(x):
    def power(v, n):
        if n == 0:
            return 1.0
        return v * power(v, n - 1)
    return power(x, 3)


def recursive_inner_inactive(x):
    def factorial(n):
        return 1.0 if n <= 1 else n * factorial(n - 1)
    return x * factorial(3)


def recursive_lambda_inactive(x):
    factorial = lambda n: 1.0 if n <= 1 else n * factorial(n - 1)
    return x * factorial(3)


def differentiates_inside_open(x):
    with open(__file__) as handle:
        y = x * 2.0 + len(handle.read(1))
    return y


def breaks_inside_with(x):
    total = 0.0
    for i in range(3):
        with np.errstate(all='ignore'):
            if i == 1:
                break
            total = total + x
    return total


def make_nonlocal_writer():
    count = 0.0

    def writer(x):
        nonlocal count
        count = count + x
        return x * count
    return writer


def set_of_differentiated_values(x):
    doubled = {v * 2.0 for v in x}
    return sum(doubled)


def copies_into_buffer(x):
    y = np.zeros(3)
    _ = np.copyto(y, x * 2.0)
    return np.sum(y)


def rebinds_inner_name(x):
    f = lambda v: v * 2.0  # noqa: E731
    f = lambda v: v * x  # noqa: E731
    return f(x)


def calls_closure_from_other_module(x, w):
    layer = make_foreign_layer(w)
    return np.sum(layer(x))


def calls_closure_with_constant(x, w):
    layer = make_foreign_layer(w)
    return layer(2.0) + x


def loops_over_updated_argument(params, x):
    params['w'] = params['w'] * x
    total = 0.0
    for name in params:  # An array's rows would be views; a dict's keys not.
        total = total + np.sum(params[name])
    return total


def sums_inner_generator(x):
    def doubled():
        for v in x:
            yield v * 2.0
    return sum(doubled())


def _line_of(function, marker):
    lines, first = inspect.getsourcelines(function)
    matches = [first + i for i, line in enumerate(lines) if marker in line]
    assert len(matches) == 1, f'{marker!r} must occur once in {function}'
    return matches[0]


REJECTED = [
    pytest.param(returns_inner_function, (1.5,), 'return double',
                 'inner function', id='returned-inner'),
    pytest.param(stores_lambda_in_list, (1.5,), 'return functions[0](x)',
                 'computed function', id='lambda-in-list'),
    pytest.param(recursive_inner, (1.5,), 'return v * power(v, n - 1)',
                 'recursive', id='recursive-inner'),
    pytest.param(recursive_inner_inactive, (1.5,),
                 'return 1.0 if n <= 1 else n * factorial(n - 1)',
                 'recursive call of factorial', id='recursive-inner-inactive'),
    pytest.param(recursive_lambda_inactive, (1.5,),
                 'factorial = lambda n: 1.0 if n <= 1 else n * factorial(',
                 'recursive call of <lambda>', id='recursive-lambda-inactive'),
    pytest.param(differentiates_inside_open, (1.5,), 'with open(__file__)',
                 'with', id='with-open'),
    pytest.param(breaks_inside_with, (1.5,), 'with np.errstate',
                 'break', id='break-in-with'),
    pytest.param(make_nonlocal_writer(), (1.5,), 'nonlocal count',
                 'nonlocal', id='nonlocal-at-top'),
    pytest.param(copies_into_buffer, (V3,), '_ = np.copyto(y, x * 2.0)',
                 'numpy.copyto', id='foreign-write-into-buffer'),
    pytest.param(rebinds_inner_name, (1.5,), 'f = lambda v: v * x',
                 'more than once', id='rebound-inner-name'),
    pytest.param(set_of_differentiated_values, (V3,),
                 'doubled = {v * 2.0 for v in x}', 'set comprehension',
                 id='set-comprehension-of-floats'),
    pytest.param(loops_over_updated_argument, ({'w': W3}, V3),
                 'for name in params:', '.items()',
                 id='loop-over-updated-argument'),
    pytest.param(sums_inner_generator, (V3,), 'yield v * 2.0',
                 'yield', id='inner-generator'),
]


@pytest.mark.parametrize('function, args, line_text, word', REJECTED)
def test_unsupported_language_form_points_at_line(function, args, line_text,
                                                  word):
    wrt = len(args) - 1  # The last argument reaches the unsupported form.
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(function, wrt=wrt)(*args)
    error = info.value
    assert error.filename == __file__
    assert error.lineno == _line_of(function, line_text)
    assert word in str(error)
    assert '^' in str(error)


def test_inner_generator_rejected_forward():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.jvp(sums_inner_generator, (V3,), (V3,))
    assert info.value.lineno == _line_of(sums_inner_generator,
                                         'yield v * 2.0')


@pytest.mark.parametrize('function, line_text', [
    (recursive_inner, 'return v * power(v, n - 1)'),
    (recursive_inner_inactive,
     'return 1.0 if n <= 1 else n * factorial(n - 1)'),
    (recursive_lambda_inactive,
     'factorial = lambda n: 1.0 if n <= 1 else n * factorial('),
], ids=['inner', 'inner-inactive', 'lambda-inactive'])
def test_recursive_inner_rejected_forward(function, line_text):
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.jvp(function, (1.5,), (1.0,))
    error = info.value
    assert error.filename == __file__
    assert error.lineno == _line_of(function, line_text)
    assert 'recursive call' in str(error)


def test_set_comprehension_rejected_forward():
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.jvp(set_of_differentiated_values, (V3,), (V3,))
    error = info.value
    assert error.lineno == _line_of(set_of_differentiated_values,
                                    'doubled = {v * 2.0 for v in x}')
    assert 'set comprehension' in str(error)
    assert '.add()' not in str(error)


@pytest.mark.parametrize('function, args', [
    pytest.param(calls_closure_from_other_module, (V3, 0.5),
                 id='array-argument'),
    pytest.param(calls_closure_with_constant, (1.5, 0.5),
                 id='constant-argument'),
])
def test_closure_from_other_module_raises(function, args):
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(function, wrt=1)(*args)
    error = info.value
    assert error.filename == inspect.getsourcefile(make_foreign_layer)
    assert error.lineno == _line_of(make_foreign_layer, 'return layer')
    assert 'returning an inner function' in str(error)
    assert 'make_layer' in str(error)


def writes_derivative_to_global(x):
    global COUNT
    COUNT = COUNT + x
    return x * 2.0


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_global_write_runs_once_per_evaluation(mode):
    before = COUNT
    if mode == 'reverse':
        assert adcompiler.grad(writes_global)(1.5) == 2.0
    else:
        assert adcompiler.jvp(writes_global, (1.5,), (1.0,))[1] == 2.0
    assert COUNT == before + 1.0


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_global_write_with_derivative_leaves_global_unchanged(mode):
    before = COUNT
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        if mode == 'reverse':
            adcompiler.grad(writes_derivative_to_global)(1.5)
        else:
            adcompiler.jvp(writes_derivative_to_global, (1.5,), (1.0,))
    error = info.value
    assert error.filename == __file__
    assert error.lineno == _line_of(writes_derivative_to_global,
                                    'COUNT = COUNT + x')
    assert 'COUNT' in str(error)
    assert COUNT == before


def reads_written_global_inside_with(x):
    global COUNT
    COUNT = COUNT + 1.0
    with open(__file__) as handle:
        seen = COUNT + len(handle.read(1))
    return x * seen


def test_written_global_inside_kept_statement_rejected():
    before = COUNT
    with pytest.raises(adcompiler.UnsupportedSyntaxError) as info:
        adcompiler.grad(reads_written_global_inside_with)(1.5)
    error = info.value
    assert error.lineno == _line_of(reads_written_global_inside_with,
                                    'seen = COUNT + len(handle.read(1))')
    assert "global variable 'COUNT'" in str(error)
    assert COUNT == before
