"""Second and higher derivatives: hessian, hvp and grad of grad."""

import inspect
import math

import numpy as np
import pytest
from scipy.optimize import rosen_hess, rosen_hess_prod

import adcompiler
import test_control_flow
from finite_differences import assert_gradient_close, numerical_gradient


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0)


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('size', [2, 10, 30])
def test_rosenbrock_hessian_matches_scipy(size, seed):
    x = np.random.default_rng(seed).normal(size=size)
    expected = rosen_hess(x)
    hessian = adcompiler.hessian(rosen)(x)
    assert np.max(np.abs(hessian - expected)) <= 1e-9 * np.max(np.abs(expected))


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('size', [2, 10, 1000])
def test_rosenbrock_hvp_matches_scipy(size, seed):
    rng = np.random.default_rng(seed)
    x, v = rng.normal(size=size), rng.normal(size=size)
    expected = rosen_hess_prod(x, v)
    product = adcompiler.hvp(rosen)(x, v)
    assert np.max(np.abs(product - expected)) <= 1e-9 * np.max(np.abs(expected))


def cube(x):
    return x ** 3 + np.sin(x)


def taylor_exp(x):
    total = 0.0
    for n in range(30):
        term = x ** n / math.factorial(n)
        if abs(term) < 1e-12:
            return total
        total = total + term
    return total


def mixed(x, y):
    return x ** 2 * y + np.exp(x * y)


def test_grad_of_grad_scalar():
    assert adcompiler.grad(adcompiler.grad(cube))(0.7) == pytest.approx(
        6 * 0.7 - math.sin(0.7), rel=1e-12)


def test_third_derivative():
    third = adcompiler.grad(adcompiler.grad(adcompiler.grad(cube)))
    assert third(0.7) == pytest.approx(6 - math.cos(0.7), rel=1e-12)


def test_grad_of_grad_through_loop_and_early_return():
    second = adcompiler.grad(adcompiler.grad(taylor_exp))
    assert second(0.5) == pytest.approx(math.exp(0.5), rel=1e-9)


def test_mixed_partial_derivative():
    dxdy = adcompiler.grad(adcompiler.grad(mixed, wrt='x'), wrt='y')
    x, y = 0.3, -0.8
    expected = 2 * x + np.exp(x * y) + x * y * np.exp(x * y)
    assert dxdy(x, y) == pytest.approx(expected, rel=1e-12)


def test_grad_of_grad_of_array_argument_raises():
    with pytest.raises(adcompiler.NonScalarOutputError):
        adcompiler.grad(adcompiler.grad(rosen))(np.ones(3))


def _scalar_output_cases():
    params = []
    for case in test_control_flow.CASES:
        for index, inputs in enumerate(case.inputs):
            output = case.function(*test_control_flow.fresh(inputs))
            if np.ndim(output) == 0:
                params.append(pytest.param(case, inputs,
                                           id=f'{case.name}-{index}'))
    return params


@pytest.mark.parametrize('case, inputs', _scalar_output_cases())
def test_control_flow_hvp_matches_gradient_differences(case, inputs):
    args = test_control_flow.fresh(inputs)
    position = case.wrt[0]
    x = args[position]
    direction = np.random.default_rng(7).normal(size=np.shape(x))
    if np.ndim(x) == 0 and not isinstance(x, np.ndarray):
        direction = float(direction)
    gradient = adcompiler.grad(case.function, wrt=position)

    def along(epsilon):
        moved = list(test_control_flow.fresh(inputs))
        moved[position] = moved[position] + epsilon * direction
        return np.asarray(gradient(*moved), dtype=float)

    step = 1e-5
    expected = (along(step) - along(-step)) / (2 * step)
    product = adcompiler.hvp(case.function, wrt=position)(*args, direction)
    np.testing.assert_allclose(np.asarray(product, dtype=float), expected,
                               rtol=1e-4, atol=1e-5)


def smooth_abs(x):
    return np.sum(np.abs(x) ** 3)


def test_hvp_through_abs():
    x = np.array([0.5, -1.2, 2.0])
    v = np.array([1.0, 0.5, -0.3])
    expected = 6.0 * np.abs(x) * v
    np.testing.assert_allclose(adcompiler.hvp(smooth_abs)(x, v), expected,
                               rtol=1e-12)


# Second order, rule by rule: hvp against differences of the gradient.

import test_rules  # noqa: E402


from test_forward import _rule_params as _second_order_params  # noqa: E402


@pytest.mark.parametrize('function, low, high',
                         _second_order_params(test_rules.UNARY_FUNCTIONS, 1))
def test_unary_rule_second_order(function, low, high):
    x = test_rules.sample((3,), low, high, seed=3)
    w = test_rules.weights_for(function, (x,))
    adcompiler.check_grads(function, modes=(), order=2)(x, w)


@pytest.mark.parametrize(
    'function, x_domain, y_domain',
    _second_order_params(test_rules.BINARY_FUNCTIONS, 2))
def test_binary_rule_second_order(function, x_domain, y_domain):
    x = test_rules.sample((3,), *x_domain, seed=4)
    y = test_rules.sample((3,), *y_domain, seed=5)
    w = test_rules.weights_for(function, (x, y))
    adcompiler.check_grads(function, modes=(), order=2)(x, y, w)


def test_hvp_is_forward_over_reverse():
    # The tangent of the generated adjoint: forward mode over reverse mode.
    objective = adcompiler.api.gradient_objective(rosen, 'x')
    tangent = adcompiler.api._COMPILER.compile_forward(objective, ('x',))
    assert 'def tangent_adjoint_rosen(' in tangent.source
    x = np.random.default_rng(3).normal(size=8)
    v = np.random.default_rng(4).normal(size=8)
    _, product = tangent.tangent(x, dx=v)
    np.testing.assert_allclose(product, rosen_hess_prod(x, v), rtol=1e-10)


# Second order over the rule tables of test_rules_numpy, test_rules_linalg
# and test_rules_fft. Each function has the form np.sum(w * L(x, ...)). The
# forward-over-reverse derivative of its gradient with respect to each
# argument is checked along a random direction of all float arguments,
# the weight included. The w part of the direction checks the tangent
# through the reverse rule's adjoint, which is nonzero for a linear L too,
# and the rest checks the curvature of L.

import test_rules_fft  # noqa: E402
import test_rules_linalg  # noqa: E402
import test_rules_numpy  # noqa: E402
from test_forward import directional_difference  # noqa: E402

tn = test_rules_numpy
tl = test_rules_linalg
sample = test_rules.sample


def check_second_order(function, *args):
    """Compare the tangent of each argument's gradient (forward over
    reverse) with central differences of the gradient."""
    args = args + (test_rules.weights_for(function, args),)
    positions = [i for i, a in enumerate(args) if test_rules._is_float(a)]
    rng = np.random.default_rng(11)
    directions = [None] * len(args)
    for position in positions:
        direction = rng.normal(size=np.shape(args[position]))
        directions[position] = (float(direction)
                                if np.ndim(args[position]) == 0
                                and not isinstance(args[position], np.ndarray)
                                else direction)
    names = list(inspect.signature(function).parameters)
    for position in positions[:-1]:
        objective = adcompiler.api.gradient_objective(function,
                                                      names[position])
        _, tangent = adcompiler.jvp(objective, args, directions)
        gradient = adcompiler.grad(function, wrt=position)
        expected = directional_difference(gradient, args, directions,
                                          step=1e-5)
        np.testing.assert_allclose(np.asarray(tangent, dtype=float),
                                   expected, rtol=1e-4, atol=1e-5)


def _ids(cases):
    return [f'{case[0].__name__}-' + '-'.join(
        'x'.join(map(str, s)) or 'float' for s in case[1:])
        for case in cases]


@pytest.mark.parametrize('shape, axis, keepdims', test_rules.REDUCTION_CASES)
@pytest.mark.parametrize('function', test_rules.REDUCTIONS + tn.REDUCTIONS,
                         ids=lambda f: f.__name__)
def test_reduction_second_order(function, shape, axis, keepdims):
    check_second_order(function, sample(shape), axis, keepdims)


def test_prod_with_zeros_second_order():
    for axis in (None, 0, 1):
        check_second_order(tn.np_prod, tn.ZEROS, axis, False)


@pytest.mark.parametrize('function, x_shape, weights_shape',
                         tn.AVERAGE_CASES, ids=_ids(tn.AVERAGE_CASES))
def test_average_weights_second_order(function, x_shape, weights_shape):
    check_second_order(function, sample(x_shape, seed=1),
                       sample(weights_shape, 0.5, 2.0, seed=2))


@pytest.mark.parametrize('shape, axis', tn.SCAN_CASES)
@pytest.mark.parametrize('function', tn.SCANS, ids=lambda f: f.__name__)
def test_scan_second_order(function, shape, axis):
    check_second_order(function, sample(shape), axis)


@pytest.mark.parametrize('function, x_shape, y_shape',
                         tn.PRODUCT_CASES + tn.EINSUM_CASES,
                         ids=_ids(tn.PRODUCT_CASES + tn.EINSUM_CASES))
def test_product_second_order(function, x_shape, y_shape):
    check_second_order(function, sample(x_shape, seed=1),
                       sample(y_shape, seed=2))


@pytest.mark.parametrize('function', tn.AXIS_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_axes_second_order(function):
    check_second_order(function, sample((2, 3, 4)))


@pytest.mark.parametrize('function, shape',
                         tn.TRIANGLE_CASES + tn.INDEXING_CASES + tn.SPLIT_CASES,
                         ids=_ids(tn.TRIANGLE_CASES + tn.INDEXING_CASES
                                  + tn.SPLIT_CASES))
def test_shape_function_second_order(function, shape):
    check_second_order(function, sample(shape))


@pytest.mark.parametrize('function, x_shape, y_shape', tn.JOIN_CASES,
                         ids=_ids(tn.JOIN_CASES))
def test_join_second_order(function, x_shape, y_shape):
    check_second_order(function, sample(x_shape, seed=1),
                       sample(y_shape, seed=2))


@pytest.mark.parametrize('shape, axis', [
    pytest.param((4,), -1, id='vector'),
    pytest.param((3, 4), 0, id='matrix-axis0'),
    pytest.param((3, 4), None, id='matrix-flat'),
])
@pytest.mark.parametrize('function', tn.SORTS, ids=lambda f: f.__name__)
def test_sort_second_order(function, shape, axis):
    check_second_order(function, sample(shape), axis)


@pytest.mark.parametrize('function', tn.RANDOM_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_random_draws_second_order(function):
    check_second_order(function, sample((3,), 0.5, 2.0, seed=1),
                       sample((), 2.5, 3.0, seed=2))


@pytest.mark.parametrize('function, shape', tl.SQUARE_CASES,
                         ids=_ids(tl.SQUARE_CASES))
def test_matrix_function_second_order(function, shape):
    check_second_order(function, tl.general(shape))


@pytest.mark.parametrize('a_shape, b_shape', tl.SOLVE_CASES,
                         ids=[f'{a}-{b}' for a, b in tl.SOLVE_CASES])
def test_solve_second_order(a_shape, b_shape):
    b = np.random.default_rng(5).uniform(-1.0, 1.0, b_shape)
    check_second_order(tl.solve, tl.general(a_shape), b)


@pytest.mark.parametrize('function', [tl.lstsq_solution, tl.lstsq_residuals,
                                      tl.lstsq_singular_values, tl.lstsq_all],
                         ids=lambda f: f.__name__)
def test_lstsq_second_order(function):
    b = np.random.default_rng(5).uniform(-1.0, 1.0, (5, 2))
    check_second_order(function, tl.general((5, 3)), b)


@pytest.mark.parametrize(
    'shape, ord, axis, keepdims', tl.NORM_CASES,
    ids=[f'{"x".join(map(str, s))}-ord={o}-axis={a}{"-keepdims" if k else ""}'
         for s, o, a, k in tl.NORM_CASES])
def test_norm_second_order(shape, ord, axis, keepdims):
    x = np.random.default_rng(3).uniform(-2.0, 2.0, shape)
    check_second_order(tl.norm, x, (ord, axis, keepdims))


@pytest.mark.parametrize('shape', [(3, 3), (2, 3, 3)],
                         ids=['3x3', '2x3x3'])
@pytest.mark.parametrize('function', tl.SYMMETRIC_FUNCTIONS,
                         ids=lambda f: f.__name__)
def test_symmetric_matrix_function_second_order(function, shape):
    check_second_order(function, tl.positive_definite(shape))


@pytest.mark.parametrize('function', [tl.eig_values, tl.eigvals,
                                      tl.eig_vectors, tl.eig_vector_parts],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('a', [
    pytest.param(tl.general((3, 3)), id='real-eigenvalues'),
    pytest.param(tl.rotation_like(), id='complex-eigenvalues'),
])
def test_eig_second_order(function, a):
    check_second_order(function, a)


@pytest.mark.parametrize('shape', [(3, 3), (4, 2), (2, 4), (2, 3, 2)],
                         ids=['3x3', '4x2', '2x4', '2x3x2'])
@pytest.mark.parametrize('function', tl.DECOMPOSITIONS,
                         ids=lambda f: f.__name__)
def test_decomposition_second_order(function, shape):
    check_second_order(function, tl.general(shape, seed=2))


@pytest.mark.parametrize('function, shape', test_rules_fft.REAL_INPUT_CASES,
                         ids=_ids(test_rules_fft.REAL_INPUT_CASES))
def test_fft_second_order(function, shape):
    check_second_order(function, sample(shape))


@pytest.mark.parametrize(
    'function, x_shape, y_shape', tl.ARRAY_API_CASES,
    ids=_ids(tl.ARRAY_API_CASES))
def test_array_api_function_second_order(function, x_shape, y_shape):
    rng = np.random.default_rng(7)
    check_second_order(function, rng.uniform(-1.0, 1.0, x_shape),
                       rng.uniform(-1.0, 1.0, y_shape))
