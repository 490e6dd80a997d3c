"""Gradients of real objectives, checked against SciPy and scikit-learn.

Rosenbrock's gradient is compared with `scipy.optimize.rosen_der`. An
L2-regularised logistic regression on the breast cancer data set is trained
with L-BFGS-B on adcompiler's gradient and must reach the optimum that
scikit-learn's LogisticRegression reaches.
"""

import numpy as np
import pytest
from scipy.optimize import minimize, rosen, rosen_der
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import adcompiler
from finite_differences import assert_gradient_close, numerical_gradient


# Rosenbrock -----------------------------------------------------------------------

def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0
                  + (1 - x[:-1]) ** 2.0)


@pytest.mark.parametrize('size', [2, 10, 1000])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_rosenbrock_matches_rosen_der(size, seed):
    x = np.random.default_rng(seed).uniform(-2.0, 2.0, size=size)
    gradient = adcompiler.grad(rosenbrock)(x)
    expected = rosen_der(x)
    assert gradient.shape == expected.shape
    scale = np.max(np.abs(expected))
    assert np.max(np.abs(gradient - expected)) <= 1e-10 * scale


@pytest.mark.parametrize('size', [2, 10, 1000])
def test_rosenbrock_value_matches_rosen(size):
    x = np.random.default_rng(3).uniform(-2.0, 2.0, size=size)
    value, _ = adcompiler.value_and_grad(rosenbrock)(x)
    assert value == pytest.approx(rosen(x), rel=1e-12)


def test_rosenbrock_gradient_zero_at_minimum():
    gradient = adcompiler.grad(rosenbrock)(np.ones(10))
    np.testing.assert_array_equal(gradient, np.zeros(10))


# Logistic regression on the breast cancer data set ------------------------------

# scikit-learn minimises C * sum(log-loss) + 0.5 * ||w||^2 with an
# unregularised intercept. Dividing by C * n gives the same minimiser and the
# scale of a mean: mean(log-loss) + 0.5 / (C * n) * ||w||^2.
C = 0.5


def logistic_loss(params, X, y, C):
    w = params[:-1]
    b = params[-1]
    z = X @ w + b
    n = X.shape[0]
    data_term = np.mean(np.logaddexp(0.0, -y * z))
    return data_term + 0.5 / (C * n) * np.sum(w ** 2)


def logistic_loss_log1p(params, X, y, C):
    w, b = params[:-1], params[-1]
    margins = y * (X.dot(w) + b)
    n = len(y)
    return np.mean(np.log1p(np.exp(-margins))) + 0.5 / (C * n) * w @ w


def analytic_logistic_gradient(params, X, y, C):
    """Hand-derived gradient of `logistic_loss`, written independently."""
    w, b = params[:-1], params[-1]
    n = X.shape[0]
    margins = y * (X @ w + b)
    weights = -y / (1.0 + np.exp(margins)) / n
    return np.concatenate([X.T @ weights + w / (C * n), [np.sum(weights)]])


@pytest.fixture(scope='module')
def breast_cancer():
    """Standardised features (569 x 30), labels in {-1, 1} and in {0, 1}."""
    X, labels = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = np.where(labels == 1, 1.0, -1.0)
    return X, y, labels


def test_breast_cancer_shape(breast_cancer):
    X, y, _ = breast_cancer
    assert X.shape == (569, 30)
    assert set(np.unique(y)) == {-1.0, 1.0}


def test_logistic_gradient_matches_analytic(breast_cancer):
    X, y, _ = breast_cancer
    params = np.random.default_rng(0).normal(scale=0.3, size=31)
    gradient = adcompiler.grad(logistic_loss)(params, X, y, C)
    expected = analytic_logistic_gradient(params, X, y, C)
    np.testing.assert_allclose(gradient, expected, rtol=1e-10, atol=1e-14)


def test_logistic_gradient_matches_finite_differences(breast_cancer):
    X, y, _ = breast_cancer
    params = np.random.default_rng(1).normal(scale=0.3, size=31)
    gradient = adcompiler.grad(logistic_loss)(params, X, y, C)
    expected = numerical_gradient(logistic_loss, (params, X, y, C), 0)
    assert_gradient_close(gradient, expected)


def test_log1p_form_matches_logaddexp_form(breast_cancer):
    X, y, _ = breast_cancer
    params = np.random.default_rng(2).normal(scale=0.3, size=31)
    gradient = adcompiler.grad(logistic_loss_log1p)(params, X, y, C)
    expected = adcompiler.grad(logistic_loss)(params, X, y, C)
    np.testing.assert_allclose(gradient, expected, rtol=1e-10, atol=1e-14)


def test_logistic_inputs_unchanged(breast_cancer):
    X, y, _ = breast_cancer
    X_before, y_before = X.copy(), y.copy()
    params = np.random.default_rng(3).normal(size=31)
    params_before = params.copy()
    adcompiler.value_and_grad(logistic_loss)(params, X, y, C)
    np.testing.assert_array_equal(params, params_before)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


@pytest.fixture(scope='module')
def lbfgs_result(breast_cancer):
    X, y, _ = breast_cancer
    objective = adcompiler.value_and_grad(logistic_loss)
    return minimize(objective, np.zeros(31), args=(X, y, C), jac=True,
                    method='L-BFGS-B',
                    options={'gtol': 1e-10, 'ftol': 1e-15, 'maxiter': 10000})


@pytest.fixture(scope='module')
def sklearn_params(breast_cancer):
    X, _, labels = breast_cancer
    model = LogisticRegression(C=C, tol=1e-12, max_iter=100000)
    model.fit(X, labels)
    return np.concatenate([model.coef_[0], model.intercept_])


def test_lbfgs_reaches_small_gradient(breast_cancer, lbfgs_result):
    X, y, _ = breast_cancer
    gradient = adcompiler.grad(logistic_loss)(lbfgs_result.x, X, y, C)
    assert np.linalg.norm(gradient) < 1e-5


def test_lbfgs_value_is_loss_at_solution(breast_cancer, lbfgs_result):
    X, y, _ = breast_cancer
    assert lbfgs_result.fun == pytest.approx(
        logistic_loss(lbfgs_result.x, X, y, C), rel=1e-14)


def test_lbfgs_loss_matches_sklearn(breast_cancer, lbfgs_result,
                                    sklearn_params):
    X, y, _ = breast_cancer
    sklearn_loss = logistic_loss(sklearn_params, X, y, C)
    assert lbfgs_result.fun == pytest.approx(sklearn_loss, rel=1e-6)


def test_lbfgs_params_match_sklearn(lbfgs_result, sklearn_params):
    np.testing.assert_allclose(lbfgs_result.x, sklearn_params, atol=1e-4)


def test_sklearn_optimum_has_small_gradient(breast_cancer, sklearn_params):
    # Checks the objective scaling: a wrong factor on the penalty would move
    # the minimiser away from scikit-learn's.
    X, y, _ = breast_cancer
    gradient = adcompiler.grad(logistic_loss)(sklearn_params, X, y, C)
    assert np.linalg.norm(gradient) < 1e-5
