"""Bayesian linear regression (Bishop, Pattern Recognition and Machine Learning, §3.3 and §3.5).

The model: ``t = wᵀφ(x) + ε`` with noise precision β (ε ~ N(0, β⁻¹)) and the prior
``w ~ N(0, α⁻¹ I)``. Here φ(x) is the row of X, with a leading 1 appended when
``fit_intercept=True``: the intercept is the weight w₀ of Bishop's basis function φ₀ = 1 and shares
the prior (unlike scikit-learn's BayesianRidge, which centres the data and leaves it flat).

- Posterior (3.53-3.54): ``S_N⁻¹ = αI + βΦᵀΦ``, ``m_N = β S_N Φᵀt``.
- Predictive (3.58-3.59): mean ``m_Nᵀφ(x)``, variance ``σ²(x) = 1/β + φ(x)ᵀ S_N φ(x)``.
- Log evidence (3.86): ``M/2 ln α + N/2 ln β - E(m_N) - ½ ln|A| - N/2 ln 2π`` with
  ``E(m) = β/2 ‖t - Φm‖² + α/2 mᵀm`` and ``A = S_N⁻¹``.
- Evidence maximisation (3.91-3.95), ``fit_alpha_beta=True``: with λ_i the eigenvalues of βΦᵀΦ,
  ``γ = Σ λ_i/(α + λ_i)``, ``α = γ / m_Nᵀm_N``, ``1/β = ‖t - Φm_N‖² / (N - γ)``, iterated until
  α and β change by less than ``tol`` (relative). This is the choice of the curve-fitting
  chapter's λ = α/β made by the data alone.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from shendu.ml.base import BaseEstimator, RegressorMixin, check_array, check_is_fitted, check_X_y, like_input, tdot

__all__ = ["BayesianLinearRegression"]


class BayesianLinearRegression(RegressorMixin, BaseEstimator):
    """Linear regression with a Gaussian prior on the weights; predictions with error bars.

    Args:
        alpha: prior precision α of the weights (the starting value when ``fit_alpha_beta``). Default: 1.0.
        beta: noise precision β (the starting value when ``fit_alpha_beta``). Default: 1.0.
        fit_intercept: add the basis function φ₀ = 1 (its weight is ``intercept_``). Default: True.
        fit_alpha_beta: choose α and β by maximising the evidence p(t | α, β). Default: False.
        max_iter: evidence iterations at most. Default: 300.
        tol: relative change of α and β that stops the evidence iterations. Default: 1e-6.

    Attributes:
        coef_: (n_features,) posterior mean of the feature weights. intercept_: its w₀ (0.0 without).
        mean_: (M,) the whole posterior mean m_N (w₀ first when fit_intercept). cov_: (M, M) S_N.
        alpha_, beta_: the precisions used (fitted ones with ``fit_alpha_beta``).
        gamma_: the effective number of well-determined parameters γ.
        log_evidence_: ln p(t | α_, β_) of the training data. n_iter_: evidence iterations run.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, fit_intercept: bool = True, *,
                 fit_alpha_beta: bool = False, max_iter: int = 300, tol: float = 1e-6):
        self.alpha = alpha
        self.beta = beta
        self.fit_intercept = fit_intercept
        self.fit_alpha_beta = fit_alpha_beta
        self.max_iter = max_iter
        self.tol = tol

    def _design(self, X: np.ndarray) -> np.ndarray:
        X = X.astype(np.float64)
        return np.hstack([np.ones((X.shape[0], 1)), X]) if self.fit_intercept else X

    def fit(self, X: Any, y: Any) -> BayesianLinearRegression:
        """The posterior over the weights given X (n_samples, n_features) and targets y (n_samples,); returns self."""
        X, t = check_X_y(X, y, y_numeric=True, estimator=self)
        t = t.astype(np.float64)
        if self.alpha <= 0 or self.beta <= 0:
            raise ValueError(f"BayesianLinearRegression: alpha and beta must be positive, got alpha={self.alpha!r}, "
                             f"beta={self.beta!r}")
        phi = self._design(X)
        N, M = phi.shape
        gram, phit = tdot(phi, phi), tdot(phi, t)
        eig = np.clip(np.linalg.eigvalsh(gram), 0.0, None)     # of ΦᵀΦ; βΦᵀΦ's are β·eig
        alpha, beta = float(self.alpha), float(self.beta)
        self.n_iter_ = 0
        if self.fit_alpha_beta:
            for it in range(1, self.max_iter + 1):
                m, _ = self._posterior(gram, phit, alpha, beta)
                lam = beta * eig
                gamma = float((lam / (alpha + lam)).sum())
                new_alpha = gamma / max(float(m @ m), 1e-300)
                new_beta = (N - gamma) / max(float(((t - phi @ m) ** 2).sum()), 1e-300)
                done = abs(new_alpha - alpha) <= self.tol * alpha and abs(new_beta - beta) <= self.tol * beta
                alpha, beta = new_alpha, new_beta
                self.n_iter_ = it
                if done:
                    break
        m, S = self._posterior(gram, phit, alpha, beta)
        self.alpha_, self.beta_ = alpha, beta
        self.mean_, self.cov_ = m, S
        lam = beta * eig
        self.gamma_ = float((lam / (alpha + lam)).sum())
        self.coef_ = m[1:].copy() if self.fit_intercept else m.copy()
        self.intercept_ = float(m[0]) if self.fit_intercept else 0.0
        self.n_features_in_ = X.shape[1]
        self.log_evidence_ = self._log_evidence(phi, t, alpha, beta, m)
        return self

    @staticmethod
    def _posterior(gram, phit, alpha, beta):
        A = beta * gram
        A[np.diag_indices_from(A)] += alpha
        L = np.linalg.cholesky(A)                             # A = LLᵀ (positive definite: α > 0)
        L_inv = np.linalg.solve(L, np.eye(len(A)))
        S = L_inv.T @ L_inv                                   # S_N = A⁻¹
        return beta * (S @ phit), S

    @staticmethod
    def _log_evidence(phi, t, alpha, beta, m):
        N, M = phi.shape
        A = beta * tdot(phi, phi)
        A[np.diag_indices_from(A)] += alpha
        E = 0.5 * beta * float(((t - phi @ m) ** 2).sum()) + 0.5 * alpha * float(m @ m)
        _, logdet = np.linalg.slogdet(A)
        return float(0.5 * M * math.log(alpha) + 0.5 * N * math.log(beta) - E - 0.5 * logdet
                     - 0.5 * N * math.log(2 * math.pi))

    def log_evidence(self, X: Any, y: Any) -> float:
        """ln p(t | X, α_, β_): the marginal likelihood of (X, y) under the fitted α_ and β_ (3.86)."""
        check_is_fitted(self, "mean_")
        X, t = check_X_y(X, y, y_numeric=True, estimator=self)
        phi, t = self._design(X), t.astype(np.float64)
        m, _ = self._posterior(tdot(phi, phi), tdot(phi, t), self.alpha_, self.beta_)
        return self._log_evidence(phi, t, self.alpha_, self.beta_, m)

    def predict(self, X: Any, return_std: bool = False):
        """The predictive mean m_Nᵀφ(x); with ``return_std`` also ``(mean, std)``, std = √(1/β + φᵀS_Nφ)."""
        check_is_fitted(self, "mean_")
        Xn = check_array(X, estimator=self)
        if Xn.shape[1] != self.n_features_in_:
            raise ValueError(f"BayesianLinearRegression: X has {Xn.shape[1]} features, but the model was fitted "
                             f"with {self.n_features_in_}")
        phi = self._design(Xn)
        mean = phi @ self.mean_
        if not return_std:
            return like_input(mean, X)
        var = 1.0 / self.beta_ + np.einsum("na,ab,nb->n", phi, self.cov_, phi, optimize=True)
        return like_input(mean, X), like_input(np.sqrt(var), X)
