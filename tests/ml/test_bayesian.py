"""BayesianLinearRegression: Bishop's formulas, scikit-learn's BayesianRidge, the evidence."""
import math

import numpy as np
import pytest
from sklearn import datasets
from sklearn.linear_model import BayesianRidge

import shendu as sd
from shendu.ml import BayesianLinearRegression, NotFittedError


def _diabetes():
    X, y = datasets.load_diabetes(return_X_y=True)
    return X - X.mean(0), y - y.mean()


def test_posterior_and_predictive_match_the_formulas():
    rng = np.random.default_rng(0)
    X, t = rng.normal(size=(30, 3)), rng.normal(size=30)
    alpha, beta = 2.0, 25.0
    m = BayesianLinearRegression(alpha, beta).fit(X, t)
    phi = np.hstack([np.ones((30, 1)), X])                        # φ₀ = 1 first
    S = np.linalg.inv(alpha * np.eye(4) + beta * phi.T @ phi)
    mean = beta * S @ phi.T @ t
    np.testing.assert_allclose(m.cov_, S, rtol=1e-10)
    np.testing.assert_allclose(m.mean_, mean, rtol=1e-10)
    assert m.intercept_ == pytest.approx(mean[0]) and np.allclose(m.coef_, mean[1:])
    Xq = rng.normal(size=(5, 3))
    pq = np.hstack([np.ones((5, 1)), Xq])
    mu, std = m.predict(Xq, return_std=True)
    np.testing.assert_allclose(mu, pq @ mean, rtol=1e-10)
    np.testing.assert_allclose(std, np.sqrt(1 / beta + np.einsum("ni,ij,nj->n", pq, S, pq)), rtol=1e-10)
    # the log evidence is the log density of t under N(0, Φ Φᵀ/α + I/β)
    C = phi @ phi.T / alpha + np.eye(30) / beta
    _, logdet = np.linalg.slogdet(C)
    direct = -0.5 * (t @ np.linalg.solve(C, t) + logdet + 30 * math.log(2 * math.pi))
    assert m.log_evidence_ == pytest.approx(direct, rel=1e-10)
    assert m.log_evidence(X, t) == pytest.approx(direct, rel=1e-10)


def test_evidence_maximisation_matches_bayesian_ridge():
    X, y = _diabetes()
    m = BayesianLinearRegression(1.0, 1e-3, fit_intercept=False, fit_alpha_beta=True, tol=1e-12, max_iter=1000)
    m.fit(X, y)
    ref = BayesianRidge(fit_intercept=False, tol=1e-12, max_iter=1000, alpha_1=0, alpha_2=0, lambda_1=0, lambda_2=0,
                        compute_score=True, alpha_init=1e-3, lambda_init=1.0).fit(X, y)
    assert m.alpha_ == pytest.approx(ref.lambda_, rel=1e-6)       # sklearn: lambda_ = weight precision
    assert m.beta_ == pytest.approx(ref.alpha_, rel=1e-6)         # sklearn: alpha_ = noise precision
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-5)
    np.testing.assert_allclose(m.cov_, ref.sigma_, rtol=1e-5)
    assert m.log_evidence_ == pytest.approx(ref.scores_[-1], rel=1e-8)
    mu, std = m.predict(X[:5], return_std=True)
    mu_ref, std_ref = ref.predict(X[:5], return_std=True)
    np.testing.assert_allclose(mu, mu_ref, rtol=1e-5)
    np.testing.assert_allclose(std, std_ref, rtol=1e-5)
    # at the optimum the fixed point holds: α = γ / mᵀm
    assert m.alpha_ == pytest.approx(m.gamma_ / (m.coef_ @ m.coef_), rel=1e-6)


def test_evidence_is_maximal_at_the_fitted_alpha_beta():
    X, y = _diabetes()
    m = BayesianLinearRegression(fit_alpha_beta=True, tol=1e-10, max_iter=1000).fit(X, y)
    for da, db in [(1.2, 1.0), (0.8, 1.0), (1.0, 1.2), (1.0, 0.8)]:
        other = BayesianLinearRegression(m.alpha_ * da, m.beta_ * db).fit(X, y)
        assert other.log_evidence_ < m.log_evidence_


def test_tensor_in_tensor_out_and_errors():
    X, y = _diabetes()
    m = BayesianLinearRegression().fit(sd.tensor(X), sd.tensor(y))
    mu, std = m.predict(sd.tensor(X[:3], dtype=sd.float64), return_std=True)
    assert isinstance(mu, sd.Tensor) and isinstance(std, sd.Tensor)
    with pytest.raises(NotFittedError, match="BayesianLinearRegression"):
        BayesianLinearRegression().predict(X)
    with pytest.raises(ValueError, match="alpha and beta must be positive"):
        BayesianLinearRegression(alpha=0.0).fit(X, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        BayesianLinearRegression().fit(X, y[:-1])
