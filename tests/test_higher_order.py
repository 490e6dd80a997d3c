"""Second and higher derivatives: hessian, hvp and grad of grad."""

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


# Reverse over reverse raises UnsupportedSyntaxError on these rows.
_REVERSE_OVER_REVERSE_GAPS = {
    'argument_written_then_reassigned':
        'the generated primal updates its parameter in place, which the '
        'function that calls it cannot differentiate',
    'augmented_slice_writes':
        'the generated primal reads a part of an array that it updates in '
        'place into a variable',
    'reversed_slice_write':
        'the generated primal reads a part of an array that it updates in '
        'place into a variable',
}


def _scalar_output_cases(mode=None):
    params = []
    for case in test_control_flow.CASES:
        for index, inputs in enumerate(case.inputs):
            output = case.function(*test_control_flow.fresh(inputs))
            if np.ndim(output) != 0:
                continue
            marks = ()
            gap = _REVERSE_OVER_REVERSE_GAPS.get(case.name)
            if mode == 'reverse-over-reverse' and gap:
                marks = pytest.mark.xfail(
                    strict=True, raises=adcompiler.UnsupportedSyntaxError,
                    reason=gap)
            params.append(pytest.param(case, inputs, mode, marks=marks,
                                       id=f'{case.name}-{index}-{mode}'))
    return params


@pytest.mark.parametrize(
    'case, inputs, mode',
    _scalar_output_cases() + _scalar_output_cases('reverse-over-reverse'))
def test_control_flow_hvp_matches_gradient_differences(case, inputs, mode):
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
    product = adcompiler.hvp(case.function, wrt=position, mode=mode)(
        *args, direction)
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


# Reverse over reverse: reverse mode applied to the generated gradient.

@pytest.mark.parametrize('mode', [c.value for c in adcompiler.Composition])
@pytest.mark.parametrize('size', [2, 10, 30])
def test_rosenbrock_hessian_in_every_mode(size, mode):
    x = np.random.default_rng(size).normal(size=size)
    expected = rosen_hess(x)
    hessian = adcompiler.hessian(rosen, mode=mode)(x)
    assert np.max(np.abs(hessian - expected)) <= 1e-9 * np.max(np.abs(expected))


def test_hvp_rejects_unknown_mode():
    with pytest.raises(adcompiler.InvalidArgumentError, match='mode'):
        adcompiler.hvp(rosen, mode='sideways')
