"""End-to-end gradient table: small NumPy functions against central differences.

Each row of `CASES` is a function written the way NumPy users write it, the
shapes of its inputs, and the arguments to differentiate. Every gradient is
compared with `numerical_gradient` at several random points, one argument at
a time, then all at once with a tuple `wrt`.
"""

import dataclasses
import inspect
import math
import warnings

import numpy as np
import pytest

import adcompiler
from finite_differences import assert_gradient_close, assert_matches_autograd
from finite_differences import numerical_gradient

SEEDS = (0, 1, 2)


# Input makers. Each takes a NumPy Generator and returns one argument. ------

def normal(*shape):
    """Standard normal input; shape () gives a Python float."""
    def make(rng):
        value = rng.normal(size=shape)
        return float(value) if not shape else value
    return make


def positive(*shape):
    """Input in [0.5, 2), for log, sqrt, division and real powers."""
    def make(rng):
        value = rng.uniform(0.5, 2.0, size=shape)
        return float(value) if not shape else value
    return make


def away_from_zero(*shape):
    """Input with |value| in [0.2, 2), for abs, relu and where on x > 0."""
    def make(rng):
        value = rng.uniform(0.2, 2.0, size=shape) * rng.choice([-1.0, 1.0],
                                                              size=shape)
        return float(value) if not shape else value
    return make


def in_range(low, high, *shape):
    """Uniform input in [low, high), for functions defined on an interval."""
    def make(rng):
        value = rng.uniform(low, high, size=shape)
        return float(value) if not shape else value
    return make


def one_hot(rows, classes):
    def make(rng):
        return np.eye(classes)[rng.integers(classes, size=rows)]
    return make


def labels(rows, classes):
    def make(rng):
        return rng.integers(classes, size=rows)
    return make


def signs(rows):
    def make(rng):
        return rng.choice([-1.0, 1.0], size=rows)
    return make


# Functions under test. --------------------------------------------------------

def sum_of_squares(x):
    return np.sum(x ** 2)


def scalar_polynomial(x):
    return 3.0 * x ** 3 - 2.0 * x ** 2 + x - 7.0


def horner_polynomial(c, x):
    return np.sum(c[0] + x * (c[1] + x * (c[2] + x * c[3])))


def mlp_layer_tanh(W, b, x):
    h = np.tanh(x @ W + b)
    return np.sum(h ** 2)


def two_layer_mlp(W1, b1, W2, b2, x):
    h = np.tanh(np.dot(x, W1) + b1)
    out = np.dot(h, W2) + b2
    return np.mean(out ** 2)


def softmax_cross_entropy(logits, targets):
    z = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(np.sum(targets * log_probs, axis=1))


def cross_entropy_integer_labels(logits, y):
    n = logits.shape[0]
    z = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(n), y])


def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def least_squares(w, A, b):
    r = A @ w - b
    return 0.5 * np.dot(r, r)


def ridge_regression(w, lam, X, y):
    residual = X.dot(w) - y
    return np.sum(residual ** 2) + lam * np.sum(w ** 2)


def gaussian_log_likelihood(mu, log_sigma, x):
    sigma = np.exp(log_sigma)
    z = (x - mu) / sigma
    return np.sum(-0.5 * z ** 2 - log_sigma - 0.5 * np.log(2.0 * np.pi))


def gaussian_kl(mu, log_var):
    return -0.5 * np.sum(1.0 + log_var - mu ** 2 - np.exp(log_var))


def logistic_loss(w, X, y):
    z = X @ w
    return np.mean(np.logaddexp(0.0, -y * z))


def binary_cross_entropy_sigmoid(z, t):
    p = 1.0 / (1.0 + np.exp(-z))
    return -np.mean(t * np.log(p) + (1.0 - t) * np.log(1.0 - p))


def softplus_sum(x):
    return np.sum(np.log1p(np.exp(x)))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def dense(x, W, scale=1.0):
    return sigmoid(x @ W) * scale


def network_with_helpers(W, x):
    return np.sum(dense(x, W) ** 2)


def helper_with_keyword(x, W):
    return np.sum(dense(x, W=W, scale=3.0))


def helper_called_twice(x, W1, W2):
    h = dense(x, W1)
    return np.sum(dense(h, W2, 2.0))


def multiply(a, b):
    return a * b


def scale_then_scale(x):
    u = multiply(x, 2.0)
    return multiply(3.0, u)


def moments(x):
    m = np.mean(x)
    v = np.mean((x - m) ** 2)
    return m, v


def helper_returning_tuple(x):
    m, v = moments(x)
    return m * v + v


def scaled_norm(x, scale=2.0, power=2.0):
    return scale * np.sum(np.abs(x) ** power)


def default_left_out(x):
    return scaled_norm(x)


def defaults_given(x, scale, power=3.0):
    return np.sum(x * scale) + scaled_norm(x, scale, power)


def tuple_unpacking(p):
    a, b = p[0], p[1]
    c, (d, e) = p[2], (p[3], p[4])
    return a * b + c * d ** 2 - e


def unpack_array(w):
    a, b = w
    return a * b ** 2 + np.sin(a)


def reassignment(x):
    x = x * 2
    x = np.sin(x)
    x = x + 1.0
    return np.sum(x * x)


def augmented_assignment(x, y):
    z = x * 1.0
    z += y
    z *= 2.0
    z -= x / 3.0
    return np.sum(z ** 2)


def alias_then_rebind(x):
    y = x
    y = y * 2.0
    return np.sum(y * x)


def strided_slices(x):
    return np.sum(x[::2] ** 2) + np.sum(x[1::3] * 3.0) + np.sum(x[::-1] * x)


def negative_indices(x):
    return x[-1] * x[0] + np.sum(x[-3:-1] ** 2) + np.sum(x[:-2])


def first_column(X):
    return np.sum(np.exp(X[:, 0])) + np.sum(X[1, :] ** 2) + np.sum(X[:, 1:3])


def outer_with_new_axis(x, W):
    return np.sum(x[None, :] * x[:, np.newaxis] * W)


def smoothness_penalty(x):
    n = x.shape[0]
    return np.sum((x[1:n - 1] - x[:n - 2]) ** 2) + x[len(x) - 1]


def repeated_index(x):
    i = [0, 0, 2]
    return np.sum(x[i] ** 2)


def boolean_mask(x):
    return np.sum(x[x > 0] ** 3)


def array_methods(X):
    col_sums = X.sum(axis=0)
    return X.mean() + np.sum(col_sums ** 2) + np.sum(X.T[0] * 2.0)


def reshape_method(x):
    return np.sum(x.reshape(3, 2) * np.arange(6.0).reshape(3, 2)) \
        + x.reshape(-1)[0]


def dot_method(A, B):
    return np.sum(np.tanh(A.dot(B)))


def broadcast_column_row(a, b):
    return np.sum(np.sin(a + b) * (a * b))


def scalar_times_matrix(s, M):
    return np.sum((s * M) ** 2) + s * np.sum(M)


def quadratic_form(x, A):
    return x.T @ A @ x


def gram_trace(A):
    return np.sum(A * A.T) + np.sum(np.transpose(A) @ A)


def matrix_vector(M, v):
    return np.sum(np.matmul(M, v) ** 2)


def batched_matmul(X, W):
    return np.sum(np.tanh(X @ W))


def vector_times_batch(v, Y):
    return np.sum(np.sin(v @ Y))


def layer_norm(x, gain):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + 1e-5)
    return np.sum(y * gain)


def standardize_columns(X):
    centered = X - np.mean(X, axis=0)
    return np.sum(np.mean(centered ** 2, axis=0) ** 2)


def attention_scores(q, k, v):
    scores = q @ k.T / np.sqrt(4.0)
    scores = scores - np.max(scores, axis=1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / np.sum(weights, axis=1, keepdims=True)
    return np.sum(weights @ v)


def cosine_similarity(x, y):
    return np.dot(x, y) / (np.sqrt(np.sum(x ** 2)) * np.sqrt(np.sum(y ** 2)))


def huber(r):
    a = np.abs(r)
    return np.sum(np.where(a < 1.0, 0.5 * r ** 2, a - 0.5))


def relu_network(x, W):
    h = np.maximum(x @ W, 0.0)
    return np.sum(h ** 2)


def leaky_relu(x):
    return np.sum(np.where(x > 0, x, 0.01 * x) ** 2)


def clipped(x):
    return np.sum(np.clip(x, -0.5, 0.5) * x)


def elementwise_zoo(x):
    return np.sum(np.sin(x) * np.cos(x) + np.square(x) + np.sqrt(x)
                  + np.log(x) + np.abs(x - 1.0) - x / 3.0 + 1.0 / x)


def power_with_array_exponent(x, y):
    return np.sum(x ** y) + np.sum(2.0 ** y) + np.sum(x ** -1.0)


def unary_minus(x):
    return np.sum(-x ** 2) + np.sum(-(x * 3.0))


def sum_over_axes(x):
    return np.sum(np.sum(x, axis=(0, 2)) ** 2) + np.sum(np.mean(x, 1) ** 2)


def max_over_rows(x):
    return np.sum(np.max(x, axis=1) ** 2)


def reshape_and_transpose(x):
    y = np.reshape(x, (3, 2, 4))
    z = np.transpose(y, (1, 0, 2))
    return np.sum(z * np.arange(24.0).reshape(2, 3, 4)) + np.sum(x[..., 0] ** 2)


def asarray_input(x):
    a = np.asarray(x)
    return np.sum(a ** 3)


def math_module_scalars(x):
    return math.exp(x) * math.sin(x) + math.sqrt(x * x + 1.0)


def rosenbrock_2d(a, b):
    return (1.0 - a) ** 2 + 100.0 * (b - a ** 2) ** 2


def inactive_bookkeeping(x):
    n = x.shape[0]
    count = len(x) + x.size
    return np.sum(x ** 2) / n + count


def global_constant_weights(x):
    return np.sum(WEIGHTS * x ** 2) + np.pi * np.sum(x)


WEIGHTS = np.array([1.0, -2.0, 0.5])


def make_weighted_loss(c):
    def weighted_loss(x):
        return np.sum(c * x ** 2)
    return weighted_loss


weighted_loss = make_weighted_loss(np.array([1.0, 2.0, 3.0]))


def identity(v):
    return v


def through_identity(x):
    return np.sum(identity(x) ** 2)


def rebinds_parameter(v):
    v = v * 2.0
    return v


def through_rebinding_helper(x):
    return np.sum(rebinds_parameter(x) * x)


def helper_by_keywords(x, W):
    return np.sum(dense(W=W, x=x))


def shape_only(v):
    return float(v.shape[0])


def helper_with_zero_gradient(x):
    t = x * 2.0
    s = shape_only(t)
    return s * np.sum(x)


def tuple_subscript(x, y):
    pair = (x, y)
    return np.sum(pair[0] * pair[1])


def array_from_list(x, y):
    a = np.array([x, y])
    return np.sum(a ** 2 * np.arange(2.0)[:, None])


def local_axis_variable(x):
    axis = 0
    return np.sum(np.sum(x, axis=axis) ** 2) + np.sum(x.mean(1) ** 2) \
        + np.sum(x.sum(axis=-1, keepdims=True) * x)


def same_operand_twice(x):
    return x @ x + np.sum(np.dot(x[:, None], x[None, :]))


def matrix_square(M):
    return np.sum(M @ M)


def modulo_and_unary_plus(x):
    return np.sum((x % 1.0) ** 2) + np.sum(+x)


def keepdims_reductions(x):
    s = np.sum(x, keepdims=True)
    return np.sum(s * x) + np.max(x, axis=None, keepdims=True)[0, 0] \
        + np.sum(np.mean(x, axis=(0, 1), keepdims=True) * x)


def method_chain(x):
    return np.exp(x).sum() \
        + x.reshape(2, 3).T.sum(axis=1).dot(np.arange(3.0))


def scalar_to_array_powers(a):
    return np.sum(a ** np.arange(4.0))


def squeeze_and_expand(x):
    return np.sum(np.squeeze(x, axis=1) ** 2) \
        + np.sum(np.expand_dims(x, axis=0) * 2.0)


def transpose_method_axes(x):
    weights = np.arange(24.0).reshape(3, 2, 4)
    return np.sum(x.transpose((1, 0, 2)) * weights) \
        + np.sum(x.transpose(1, 0, 2) * weights)


def ravel_and_flatten(x):
    return np.sum(x.ravel() * np.arange(6.0)) + np.sum(x.flatten() ** 2) \
        + np.sum(np.ravel(x) ** 3)


def min_max_methods(x):
    return x.max(axis=0).sum() + x.min()


def where_between_arrays(x, y):
    return np.sum(np.where(x > 0, x, y) ** 2)


def minimum_of_arrays(x, y):
    return np.sum(np.minimum(x, y) ** 2)


def two_argument_ufuncs(x, y):
    return np.sum(np.arctan2(x, y) + np.hypot(x, y) + np.divide(x, y)
                  + np.true_divide(y, x) + np.subtract(x, y) * np.add(x, y)
                  + np.power(x, y) + np.multiply(x, y))


def trigonometric_zoo(x):
    return np.sum(np.tan(x) + np.arcsin(x) + np.arccos(x) + np.arctan(x)
                  + np.sinh(x) + np.cosh(x) + np.arctanh(x) + np.arcsinh(x))


def exponential_zoo(x):
    return np.sum(np.exp2(x) + np.expm1(x) + np.log2(x + 2) + np.log10(x + 2)
                  + np.cbrt(x + 2) + np.reciprocal(x + 2) + np.negative(x)
                  + np.positive(x) + np.logaddexp2(x, 0.5 * x)
                  + np.fabs(x - 3))


def math_module_zoo(x):
    return (math.tan(x) + math.atan(x) + math.tanh(x) + math.log(x + 2)
            + math.log1p(x + 1) + math.cos(x) + math.pow(x + 2, 1.5)
            + math.fabs(x - 3) + math.log(x + 2, 3.0))


# The table. --------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Case:
    """A function, its input makers, and the positions `wrt` to check."""

    name: str
    function: object
    inputs: tuple  # one input maker per positional argument passed
    wrt: tuple = (0,)
    xfail: tuple = ()  # (position, reason) pairs of known wrong gradients
    broken: str = ''  # reason every test of this case fails for now

    def arguments(self, seed):
        rng = np.random.default_rng(seed)
        return tuple(make(rng) for make in self.inputs)

    def shape_label(self):
        shapes = []
        for value in self.arguments(0):
            shape = np.shape(value)
            shapes.append('x'.join(map(str, shape)) if shape else 'scalar')
        return ','.join(shapes)


# Reasons of known wrong gradients. The xfail marks are strict, so a fix
# turns them into failures that ask for the mark to be removed.

CASES = [
    Case('sum_of_squares', sum_of_squares, (normal(),)),
    Case('sum_of_squares', sum_of_squares, (normal(5),)),
    Case('sum_of_squares', sum_of_squares, (normal(2, 3),)),
    Case('scalar_polynomial', scalar_polynomial, (normal(),)),
    Case('horner_polynomial', horner_polynomial, (normal(4), normal(6)),
         wrt=(0, 1)),
    Case('mlp_layer_tanh', mlp_layer_tanh,
         (normal(3, 4), normal(4), normal(5, 3)), wrt=(0, 1, 2)),
    Case('mlp_layer_tanh', mlp_layer_tanh,
         (normal(3, 1), normal(), normal(3)), wrt=(0, 1, 2)),
    Case('two_layer_mlp', two_layer_mlp,
         (normal(3, 4), normal(4), normal(4, 2), normal(2), normal(5, 3)),
         wrt=(0, 1, 2, 3, 4)),
    Case('softmax_cross_entropy', softmax_cross_entropy,
         (normal(4, 3), one_hot(4, 3))),
    Case('cross_entropy_integer_labels', cross_entropy_integer_labels,
         (normal(5, 3), labels(5, 3))),
    Case('logsumexp', logsumexp, (normal(6),)),
    Case('logsumexp', logsumexp, (normal(2, 3),)),
    Case('least_squares', least_squares, (normal(3), normal(5, 3), normal(5)),
         wrt=(0, 1, 2)),
    Case('ridge_regression', ridge_regression,
         (normal(3), positive(), normal(6, 3), normal(6)), wrt=(0, 1)),
    Case('gaussian_log_likelihood', gaussian_log_likelihood,
         (normal(), normal(), normal(6)), wrt=(0, 1, 2)),
    Case('gaussian_log_likelihood', gaussian_log_likelihood,
         (normal(3), normal(3), normal(4, 3)), wrt=(0, 1, 2)),
    Case('gaussian_kl', gaussian_kl, (normal(4), normal(4)), wrt=(0, 1)),
    Case('logistic_loss', logistic_loss, (normal(3), normal(7, 3), signs(7)),
         wrt=(0, 1)),
    Case('binary_cross_entropy_sigmoid', binary_cross_entropy_sigmoid,
         (normal(6), positive(6))),
    Case('softplus_sum', softplus_sum, (normal(2, 3),)),
    Case('network_with_helpers', network_with_helpers,
         (normal(3, 2), normal(4, 3)), wrt=(0, 1)),
    Case('helper_with_keyword', helper_with_keyword,
         (normal(2, 3), normal(3, 4)), wrt=(0, 1)),
    Case('helper_called_twice', helper_called_twice,
         (normal(2, 3), normal(3, 3), normal(3, 3)), wrt=(0, 1, 2)),
    Case('scale_then_scale', scale_then_scale, (normal(),)),
    Case('helper_returning_tuple', helper_returning_tuple, (normal(5),)),
    Case('default_left_out', default_left_out, (away_from_zero(4),)),
    Case('defaults_given', defaults_given, (away_from_zero(4), normal()),
         wrt=(0, 1)),
    Case('defaults_given', defaults_given,
         (away_from_zero(4), normal(), positive()), wrt=(0, 1, 2)),
    Case('tuple_unpacking', tuple_unpacking, (normal(5),)),
    Case('unpack_array', unpack_array, (normal(2),)),
    Case('reassignment', reassignment, (normal(4),)),
    Case('augmented_assignment', augmented_assignment, (normal(3), normal(3)),
         wrt=(0, 1)),
    Case('alias_then_rebind', alias_then_rebind, (normal(3),)),
    Case('strided_slices', strided_slices, (normal(7),)),
    Case('negative_indices', negative_indices, (normal(5),)),
    Case('first_column', first_column, (normal(3, 4),)),
    Case('outer_with_new_axis', outer_with_new_axis, (normal(3), normal(3, 3)),
         wrt=(0, 1)),
    Case('smoothness_penalty', smoothness_penalty, (normal(6),)),
    Case('repeated_index', repeated_index, (normal(4),)),
    Case('boolean_mask', boolean_mask, (away_from_zero(6),)),
    Case('array_methods', array_methods, (normal(3, 4),)),
    Case('reshape_method', reshape_method, (normal(6),)),
    Case('dot_method', dot_method, (normal(2, 3), normal(3, 4)), wrt=(0, 1)),
    Case('broadcast_column_row', broadcast_column_row,
         (normal(3, 1), normal(1, 4)), wrt=(0, 1)),
    Case('broadcast_column_row', broadcast_column_row,
         (normal(3, 1), normal(4)), wrt=(0, 1)),
    Case('broadcast_column_row', broadcast_column_row, (normal(), normal(2, 3)),
         wrt=(0, 1)),
    Case('scalar_times_matrix', scalar_times_matrix, (normal(), normal(3, 4)),
         wrt=(0, 1)),
    Case('quadratic_form', quadratic_form, (normal(3), normal(3, 3)),
         wrt=(0, 1)),
    Case('gram_trace', gram_trace, (normal(3, 3),)),
    Case('matrix_vector', matrix_vector, (normal(4, 3), normal(3)), wrt=(0, 1)),
    Case('batched_matmul', batched_matmul, (normal(2, 3, 4), normal(4, 5)),
         wrt=(0, 1)),
    Case('vector_times_batch', vector_times_batch,
         (normal(3), normal(2, 3, 4)), wrt=(0, 1)),
    Case('layer_norm', layer_norm, (normal(3, 4), normal(4)), wrt=(0, 1)),
    Case('standardize_columns', standardize_columns, (normal(5, 3),)),
    Case('attention_scores', attention_scores,
         (normal(2, 4), normal(3, 4), normal(3, 2)), wrt=(0, 1, 2)),
    Case('cosine_similarity', cosine_similarity, (normal(4), normal(4)),
         wrt=(0, 1)),
    Case('huber', huber, (normal(8),)),
    Case('relu_network', relu_network, (normal(4, 3), normal(3, 5)),
         wrt=(0, 1)),
    Case('leaky_relu', leaky_relu, (away_from_zero(6),)),
    Case('clipped', clipped, (normal(8),)),
    Case('elementwise_zoo', elementwise_zoo, (positive(2, 3),)),
    Case('elementwise_zoo', elementwise_zoo, (positive(),)),
    Case('power_with_array_exponent', power_with_array_exponent,
         (positive(4), normal(4)), wrt=(0, 1)),
    Case('unary_minus', unary_minus, (normal(3),)),
    Case('sum_over_axes', sum_over_axes, (normal(2, 3, 4),)),
    Case('max_over_rows', max_over_rows, (normal(3, 4),)),
    Case('reshape_and_transpose', reshape_and_transpose, (normal(6, 4),)),
    Case('asarray_input', asarray_input, (normal(4),)),
    Case('math_module_scalars', math_module_scalars, (normal(),)),
    Case('rosenbrock_2d', rosenbrock_2d, (normal(), normal()), wrt=(0, 1)),
    Case('inactive_bookkeeping', inactive_bookkeeping, (normal(5),)),
    Case('global_constant_weights', global_constant_weights, (normal(3),)),
    Case('closure_weighted_loss', weighted_loss, (normal(3),)),
    Case('through_identity', through_identity, (normal(3),)),
    Case('through_rebinding_helper', through_rebinding_helper, (normal(3),)),
    Case('helper_by_keywords', helper_by_keywords,
         (normal(2, 3), normal(3, 4)), wrt=(0, 1)),
    Case('helper_with_zero_gradient', helper_with_zero_gradient, (normal(3),)),
    Case('tuple_subscript', tuple_subscript, (normal(3), normal(3)),
         wrt=(0, 1)),
    Case('array_from_list', array_from_list, (normal(3), normal(3)),
         wrt=(0, 1)),
    Case('local_axis_variable', local_axis_variable, (normal(3, 4),)),
    Case('same_operand_twice', same_operand_twice, (normal(3),)),
    Case('matrix_square', matrix_square, (normal(3, 3),)),
    Case('modulo_and_unary_plus', modulo_and_unary_plus,
         (in_range(2.1, 2.9, 4),)),
    Case('keepdims_reductions', keepdims_reductions, (normal(2, 3),)),
    Case('method_chain', method_chain, (normal(6),)),
    Case('scalar_to_array_powers', scalar_to_array_powers, (positive(),)),
    Case('squeeze_and_expand', squeeze_and_expand, (normal(3, 1),)),
    Case('transpose_method_axes', transpose_method_axes, (normal(2, 3, 4),)),
    Case('ravel_and_flatten', ravel_and_flatten, (normal(2, 3),)),
    Case('min_max_methods', min_max_methods, (normal(2, 3),)),
    Case('where_between_arrays', where_between_arrays,
         (away_from_zero(2, 3), normal(3)), wrt=(0, 1)),
    Case('where_between_arrays', where_between_arrays,
         (away_from_zero(2, 3), normal()), wrt=(0, 1)),
    Case('minimum_of_arrays', minimum_of_arrays, (normal(2, 3), normal(2, 1)),
         wrt=(0, 1)),
    Case('two_argument_ufuncs', two_argument_ufuncs,
         (positive(3), positive(2, 3)), wrt=(0, 1)),
    Case('trigonometric_zoo', trigonometric_zoo, (in_range(-0.5, 0.5, 3),)),
    Case('exponential_zoo', exponential_zoo, (in_range(-0.5, 0.5, 3),)),
    Case('math_module_zoo', math_module_zoo, (in_range(-0.5, 0.5),)),
]


def parameter_name(function, position):
    return list(inspect.signature(function).parameters)[position]


def case_id(case):
    return f'{case.name}[{case.shape_label()}]'


def single_wrt_params():
    """One pytest param per (case, differentiated position)."""
    params = []
    for case in CASES:
        known_wrong = dict(case.xfail)
        for position in case.wrt:
            name = parameter_name(case.function, position)
            reason = case.broken or known_wrong.get(position, '')
            marks = ()
            if reason:
                marks = pytest.mark.xfail(strict=True, reason=reason)
            params.append(pytest.param(case, position, marks=marks,
                                       id=f'{case_id(case)}-d{name}'))
    return params


def case_params(cases, xfail_reason=lambda case: case.broken):
    """One pytest param per case, xfail where `xfail_reason` returns a reason."""
    params = []
    for case in cases:
        reason = xfail_reason(case)
        marks = pytest.mark.xfail(strict=True, reason=reason) if reason else ()
        params.append(pytest.param(case, marks=marks, id=case_id(case)))
    return params


def last_wrt_xfail(case):
    return case.broken or dict(case.xfail).get(case.wrt[-1], '')


def copy_arguments(args):
    return tuple(np.copy(a) if isinstance(a, np.ndarray) else a for a in args)


@pytest.mark.parametrize('case, position', single_wrt_params())
def test_gradient_matches_finite_differences(case, position):
    gradient_function = adcompiler.grad(case.function, wrt=position)
    for seed in SEEDS:
        args = case.arguments(seed)
        computed = gradient_function(*args)
        expected = numerical_gradient(case.function, args, position)
        assert_gradient_close(computed, expected)
        assert_matches_autograd(case.function, args, position, computed, expected)


MULTI_ARGUMENT_CASES = [case for case in CASES if len(case.wrt) > 1]


@pytest.mark.parametrize('case', case_params(MULTI_ARGUMENT_CASES))
def test_tuple_wrt_matches_finite_differences(case):
    gradient_function = adcompiler.grad(case.function, wrt=case.wrt)
    for seed in SEEDS:
        args = case.arguments(seed)
        computed = gradient_function(*args)
        assert isinstance(computed, tuple)
        assert len(computed) == len(case.wrt)
        for position, gradient in zip(case.wrt, computed, strict=True):
            expected = numerical_gradient(case.function, args, position)
            assert_gradient_close(gradient, expected)


@pytest.mark.parametrize('case', case_params(MULTI_ARGUMENT_CASES,
                                             last_wrt_xfail))
def test_wrt_by_name_matches_position(case):
    names = tuple(parameter_name(case.function, p) for p in case.wrt)
    by_name = adcompiler.grad(case.function, wrt=names)
    by_position = adcompiler.grad(case.function, wrt=case.wrt)
    args = case.arguments(0)
    for named, positional in zip(by_name(*args), by_position(*args),
                                 strict=True):
        np.testing.assert_array_equal(named, positional)

    last = case.wrt[-1]
    single = adcompiler.grad(case.function, wrt=names[-1])(*args)
    expected = numerical_gradient(case.function, args, last)
    assert_gradient_close(single, expected)


@pytest.mark.parametrize('case', case_params(CASES))
def test_inputs_unchanged(case):
    args = case.arguments(0)
    before = copy_arguments(args)
    gradients = adcompiler.grad(case.function, wrt=case.wrt)(*args)

    for arg, original in zip(args, before, strict=True):
        np.testing.assert_array_equal(arg, original)

    # Writing into the returned gradients must not write into the inputs.
    for gradient in gradients:
        if isinstance(gradient, np.ndarray):
            gradient[...] = 12345.0
    for arg, original in zip(args, before, strict=True):
        np.testing.assert_array_equal(arg, original)


@pytest.mark.parametrize('case', case_params(CASES))
def test_value_and_grad_returns_value(case):
    args = case.arguments(1)
    value, gradient = adcompiler.value_and_grad(case.function,
                                                wrt=case.wrt[0])(*args)
    expected_gradient = adcompiler.grad(case.function, wrt=case.wrt[0])(*args)
    assert value == case.function(*args)
    np.testing.assert_array_equal(gradient, expected_gradient)


# Constant outputs ---------------------------------------------------------------

def constant_output(x):
    return 3.0


def ignores_x(x, y):
    return np.sum(y ** 2)


def depends_only_through_shape(x):
    n = x.shape[0]
    return float(n) * 2.0


def depends_only_through_comparison(x):
    return np.sum(x > 0) * 1.0


@pytest.mark.parametrize('function, make_args', [
    pytest.param(constant_output, lambda rng: (rng.normal(size=(2, 3)),),
                 id='constant_output-2x3'),
    pytest.param(constant_output, lambda rng: (float(rng.normal()),),
                 id='constant_output-scalar'),
    pytest.param(ignores_x, lambda rng: (rng.normal(size=4),
                                         rng.normal(size=3)),
                 id='ignores_x-4'),
    pytest.param(depends_only_through_shape,
                 lambda rng: (rng.normal(size=(5, 2)),),
                 id='depends_only_through_shape-5x2'),
    pytest.param(depends_only_through_comparison,
                 lambda rng: (rng.normal(size=3),),
                 id='depends_only_through_comparison-3'),
])
def test_constant_output_gives_zeros(function, make_args):
    args = make_args(np.random.default_rng(0))
    gradient = adcompiler.grad(function, wrt=0)(*args)
    assert np.shape(gradient) == np.shape(args[0])
    assert np.all(np.asarray(gradient) == 0.0)


# API forms -------------------------------------------------------------------------

@adcompiler.grad
def decorated_gradient(x):
    return np.sum(np.sin(x))


@adcompiler.grad(wrt='y')
def decorated_gradient_wrt_y(x, y):
    return np.sum(x * y ** 2)


def test_grad_as_decorator():
    x = np.random.default_rng(0).normal(size=4)
    np.testing.assert_allclose(decorated_gradient(x), np.cos(x))


def test_grad_as_decorator_with_wrt():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=3), rng.normal(size=3)
    np.testing.assert_allclose(decorated_gradient_wrt_y(x, y), 2.0 * x * y)


def test_negative_wrt_position():
    rng = np.random.default_rng(0)
    args = (rng.normal(size=3), 0.7, rng.normal(size=(6, 3)),
            rng.normal(size=6))
    gradient = adcompiler.grad(ridge_regression, wrt=-3)(*args)
    expected = numerical_gradient(ridge_regression, args, 1)
    assert_gradient_close(gradient, expected)


def test_keyword_call_of_gradient():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, size=4)
    gradient = adcompiler.grad(defaults_given, wrt=0)(x, scale=1.5)
    expected = numerical_gradient(
        lambda x: defaults_given(x, 1.5), (x,), 0)
    assert_gradient_close(gradient, expected)


# Generated source ------------------------------------------------------------------

def source_example(x, weights):
    scaled = x * weights
    return np.sum(np.tanh(scaled))


def test_source_uses_user_names():
    gradient_function = adcompiler.grad(source_example, wrt=(0, 1))
    text = gradient_function.source
    assert 'dx' in text
    assert 'dweights' in text
    assert 'dscaled' in text


def test_source_has_line_comments():
    text = adcompiler.grad(source_example).source
    first_line = inspect.getsourcelines(source_example)[1]
    assert f'# line {first_line + 1}: scaled = x * weights' in text
    assert f'# line {first_line + 2}: return np.sum(np.tanh(scaled))' in text


def test_source_function_matches_attribute():
    gradient_function = adcompiler.grad(source_example)
    assert adcompiler.source(gradient_function) == gradient_function.source


def test_source_compiles_to_python():
    compile(adcompiler.grad(two_layer_mlp, wrt=(0, 1, 2, 3)).source,
            '<generated>', 'exec')


def log_base_three(x):
    return math.log(x, 3.0)


def test_generated_code_compiles_without_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        adcompiler.grad(log_base_three).source
    assert [str(w.message) for w in caught] == []


# Helpers that share a name ---------------------------------------------------------

def make_scaled_square(c):
    def scaled_square(x):
        return c * x ** 2
    return scaled_square


square_times_one = make_scaled_square(1.0)
square_times_five = make_scaled_square(5.0)


def sum_of_two_closures(x):
    return square_times_one(x) + square_times_five(x)




def test_closures_with_one_name_value():
    value, _ = adcompiler.value_and_grad(sum_of_two_closures)(1.0)
    assert value == sum_of_two_closures(1.0)


def test_closures_with_one_name_gradient():
    gradient = adcompiler.grad(sum_of_two_closures)(1.0)
    assert gradient == pytest.approx(12.0)


# Globals read at call time ------------------------------------------------------

BATCH = np.ones(3)


def loss_on_global_batch(w):
    return np.sum((BATCH * w - 1.0) ** 2)


def global_helper(v):
    return v * 2.0


def calls_global_helper(x):
    return global_helper(x) ** 2


def tripled(v):
    return v * 3.0




def test_reassigned_global_array_value(monkeypatch):
    value_and_gradient = adcompiler.value_and_grad(loss_on_global_batch)
    value_and_gradient(0.5)
    monkeypatch.setitem(globals(), 'BATCH', np.full(3, 2.0))
    value, _ = value_and_gradient(0.5)
    assert value == loss_on_global_batch(0.5)


def test_reassigned_global_array_gradient(monkeypatch):
    gradient_function = adcompiler.grad(loss_on_global_batch)
    gradient_function(0.5)
    monkeypatch.setitem(globals(), 'BATCH', np.full(3, 2.0))
    expected = numerical_gradient(loss_on_global_batch, (0.5,), 0)
    assert_gradient_close(gradient_function(0.5), expected)


def test_redefined_global_helper(monkeypatch):
    gradient_function = adcompiler.grad(calls_global_helper)
    gradient_function(1.0)
    monkeypatch.setitem(globals(), 'global_helper', tripled)
    assert gradient_function(1.0) == pytest.approx(18.0)


# Default values are evaluated once, where the function is defined -----------

FACTOR = 2.0


def scale_by_default(v, k=FACTOR):
    return v * k


FACTOR = 3.0


def calls_scale_by_default(x):
    return scale_by_default(x) ** 2


def make_weighted_square(weight):
    def weighted_square(x, w=weight):
        return np.sum(w * x ** 2)
    return weighted_square


square_weighted_by_three = make_weighted_square(3.0)



def test_default_from_reassigned_global():
    value, gradient = adcompiler.value_and_grad(calls_scale_by_default)(1.0)
    assert value == calls_scale_by_default(1.0)
    assert gradient == pytest.approx(8.0)


def test_default_from_enclosing_function():
    x = np.array([1.0, -2.0])
    gradient = adcompiler.grad(square_weighted_by_three)(x)
    np.testing.assert_allclose(gradient, 6.0 * x)


# Independence of the returned gradients ------------------------------------------

def mean_of_sum(x, y):
    return np.mean(x + y)


def sum_of_product(x, y):
    return np.sum(x * y)


def tanh_of_difference(x, y):
    return np.sum(np.tanh(x - y))


@pytest.mark.parametrize('function', [
    pytest.param(mean_of_sum, id='mean_of_sum'),
    pytest.param(sum_of_product, id='sum_of_product'),
    pytest.param(tanh_of_difference, id='tanh_of_difference'),
])
def test_in_place_update_of_one_gradient(function):
    # An SGD loop may scale each gradient in place (g *= lr), and that must
    # not change the gradient of another parameter.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=3), rng.normal(size=3)
    dx, dy = adcompiler.grad(function, wrt=(0, 1))(x, y)
    dy_before = np.copy(dy)
    dx *= 0.5
    np.testing.assert_array_equal(dy, dy_before)
