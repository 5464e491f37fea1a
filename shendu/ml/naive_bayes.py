"""Naive Bayes classifiers: Gaussian and multinomial class-conditional densities.

Both compute the joint log-likelihood ``log p(c) + log p(x | c)`` for all samples and classes with
one matrix expression and normalise it with log-sum-exp (scikit-learn's attribute names).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from shendu.ml.base import BaseEstimator, ClassifierMixin, check_array, check_is_fitted, check_X_y, like_input, tdot

__all__ = ["GaussianNB", "MultinomialNB"]


def _log_normalise(jll: np.ndarray) -> np.ndarray:
    m = jll.max(axis=1, keepdims=True)
    return jll - (m + np.log(np.exp(jll - m).sum(axis=1, keepdims=True)))


class _BaseNB(ClassifierMixin, BaseEstimator):
    def _check_predict(self, X):
        check_is_fitted(self, "classes_")
        Xn = check_array(X, estimator=self).astype(np.float64)
        if Xn.shape[1] != self.n_features_in_:
            raise ValueError(f"{type(self).__name__}: X has {Xn.shape[1]} features, but the model was fitted "
                             f"with {self.n_features_in_}")
        return Xn

    def _fit_classes(self, X, y):
        X, y = check_X_y(X, y, estimator=self)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        Y = (y_idx[:, None] == np.arange(len(self.classes_))[None, :]).astype(np.float64)   # (n, K) one-hot
        self.n_features_in_ = X.shape[1]
        return X.astype(np.float64), Y

    def predict_log_proba(self, X: Any):
        """log p(c | x) for every class, (n_samples, n_classes)."""
        return like_input(_log_normalise(self._joint_log_likelihood(self._check_predict(X))), X)

    def predict_proba(self, X: Any):
        """p(c | x) for every class, (n_samples, n_classes), columns in the order of ``classes_``."""
        return like_input(np.exp(_log_normalise(self._joint_log_likelihood(self._check_predict(X)))), X)

    def predict(self, X: Any):
        """The class of largest posterior probability."""
        return like_input(self.classes_[self._joint_log_likelihood(self._check_predict(X)).argmax(axis=1)], X)


class GaussianNB(_BaseNB):
    """Gaussian naive Bayes: ``p(x | c) = Π_j N(x_j; θ_cj, σ²_cj)``.

    Args:
        priors: class prior probabilities (n_classes,), or None for the class frequencies. Default: None.
        var_smoothing: ``var_smoothing · max_j Var(X_j)`` is added to every variance. Default: 1e-9.

    Attributes: ``classes_``, ``class_count_``, ``class_prior_``, ``theta_`` (n_classes, n_features)
    means, ``var_`` (n_classes, n_features) variances, ``epsilon_`` the added variance.
    """

    def __init__(self, *, priors: Any = None, var_smoothing: float = 1e-9):
        self.priors = priors
        self.var_smoothing = var_smoothing

    def fit(self, X: Any, y: Any) -> GaussianNB:
        """Per-class means and variances of X and the class priors from y; returns self."""
        X, Y = self._fit_classes(X, y)
        counts = Y.sum(axis=0)                                      # (K,)
        self.epsilon_ = self.var_smoothing * float(X.var(axis=0).max())
        self.theta_ = tdot(Y, X) / counts[:, None]                   # (K, p)
        self.var_ = tdot(Y, X**2) / counts[:, None] - self.theta_**2
        self.var_ = np.maximum(self.var_, 0.0) + self.epsilon_
        self.class_count_ = counts
        if self.priors is None:
            self.class_prior_ = counts / counts.sum()
        else:
            priors = np.asarray(self.priors, dtype=np.float64)
            if priors.shape != counts.shape:
                raise ValueError(f"GaussianNB: priors has shape {priors.shape}, expected ({len(counts)},)")
            if not np.isclose(priors.sum(), 1.0) or (priors < 0).any():
                raise ValueError("GaussianNB: priors must be non-negative and sum to 1")
            self.class_prior_ = priors
        return self

    def _joint_log_likelihood(self, X):
        # Σ_j (x_j - θ_cj)² / σ²_cj expanded so that it is three matrix products, (n, K)
        inv = 1.0 / self.var_
        quad = (X**2) @ inv.T - 2.0 * X @ (self.theta_ * inv).T + (self.theta_**2 * inv).sum(axis=1)
        norm = -0.5 * np.log(2.0 * np.pi * self.var_).sum(axis=1)
        return np.log(self.class_prior_) + norm - 0.5 * quad


class MultinomialNB(_BaseNB):
    """Multinomial naive Bayes for count features: ``log p(x | c) = Σ_j x_j log θ_cj`` (+ const).

    ``θ_cj = (N_cj + alpha) / (N_c + alpha · n_features)`` (Lidstone smoothing; alpha=1 is Laplace).

    Args:
        alpha: additive smoothing (>= 0). Default: 1.0.
        fit_prior: learn class priors (else uniform). Default: True.
        class_prior: fixed class priors (n_classes,). Default: None.

    Attributes: ``classes_``, ``class_count_``, ``feature_count_`` (n_classes, n_features),
    ``class_log_prior_``, ``feature_log_prob_`` (n_classes, n_features).
    """

    def __init__(self, *, alpha: float = 1.0, fit_prior: bool = True, class_prior: Any = None):
        self.alpha = alpha
        self.fit_prior = fit_prior
        self.class_prior = class_prior

    def fit(self, X: Any, y: Any) -> MultinomialNB:
        """Smoothed per-class feature counts of X (non-negative) and the class priors from y; returns self."""
        X, Y = self._fit_classes(X, y)
        if (X < 0).any():
            raise ValueError("MultinomialNB: X must be non-negative (counts or frequencies), got a negative entry")
        if self.alpha < 0:
            raise ValueError(f"MultinomialNB: alpha must be >= 0, got {self.alpha!r}")
        K = Y.shape[1]
        self.class_count_ = Y.sum(axis=0)
        self.feature_count_ = tdot(Y, X)
        smoothed = self.feature_count_ + self.alpha
        with np.errstate(divide="ignore"):
            self.feature_log_prob_ = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))
        if self.class_prior is not None:
            prior = np.asarray(self.class_prior, dtype=np.float64)
            if prior.shape != (K,):
                raise ValueError(f"MultinomialNB: class_prior has shape {prior.shape}, expected ({K},)")
            self.class_log_prior_ = np.log(prior)
        elif self.fit_prior:
            self.class_log_prior_ = np.log(self.class_count_) - np.log(self.class_count_.sum())
        else:
            self.class_log_prior_ = np.full(K, -np.log(K))
        return self

    def _joint_log_likelihood(self, X):
        return X @ self.feature_log_prob_.T + self.class_log_prior_
