"""Principal component analysis (scikit-learn's PCA), by the SVD of the centred data or by the
eigendecomposition of the covariance matrix.

With Xc = X − mean = U S Vᵀ, the principal axes are the rows of Vᵀ, the explained variances
S² / (n − 1), and the projections Xc V = U S. The covariance route forms C = Xcᵀ Xc / (n − 1) (d × d)
and takes its eigenvectors (``numpy.linalg.eigh``), cheaper when n ≫ d; both give the same
components up to rounding. Signs are fixed as scikit-learn fixes them: each component's
largest-magnitude entry is positive.
"""
from __future__ import annotations

import numbers

import numpy as np

from shendu.ml.base import BaseEstimator, TransformerMixin, check_array, check_is_fitted, like_input

__all__ = ["PCA"]

_SOLVERS = ("auto", "full", "covariance_eigh", "eigh")


def _flip_signs(components: np.ndarray) -> np.ndarray:
    """Each row's largest-|entry| made positive (scikit-learn's svd_flip with u_based_decision=False)."""
    idx = np.abs(components).argmax(1)
    signs = np.sign(components[np.arange(len(components)), idx])
    signs[signs == 0] = 1.0
    return signs


class PCA(TransformerMixin, BaseEstimator):
    """Principal component analysis: a linear projection onto the directions of largest variance.

    Args:
        n_components: components kept: an int, a float in (0, 1) (the fewest components whose explained
            variance ratios sum above it), or None (min(n_samples, n_features)).
        whiten: scale the projections to unit variance (divide by √explained_variance_).
        svd_solver: ``"auto"`` (``"covariance_eigh"`` when n_samples ≥ 10·n_features and n_features ≤ 1000,
            else ``"full"``), ``"full"`` (SVD of the centred data) or ``"covariance_eigh"`` (alias
            ``"eigh"``: eigendecomposition of the covariance matrix).

    Attributes:
        components_ (n_components, n_features), explained_variance_, explained_variance_ratio_,
        singular_values_, mean_, n_components_, n_samples_, n_features_in_, noise_variance_.
    """

    def __init__(self, n_components=None, *, whiten: bool = False, svd_solver: str = "auto"):
        self.n_components = n_components
        self.whiten = whiten
        self.svd_solver = svd_solver

    def _check_params(self, X: np.ndarray) -> None:
        n, d = X.shape
        k = self.n_components
        if self.svd_solver not in _SOLVERS:
            raise ValueError(f"PCA: svd_solver must be one of {_SOLVERS}, got {self.svd_solver!r}")
        if k is None:
            return
        if isinstance(k, numbers.Integral) and not isinstance(k, bool):
            if not 0 <= k <= min(n, d):
                raise ValueError(f"PCA: n_components={k} must be between 0 and min(n_samples, n_features)="
                                 f"{min(n, d)}")
        elif isinstance(k, numbers.Real):
            if not 0.0 < k < 1.0:
                raise ValueError(f"PCA: a float n_components must be in (0, 1) (a fraction of the variance), got {k}")
        else:
            raise ValueError(f"PCA: n_components must be None, an int or a float in (0, 1), got {k!r}")
        if n < 2:
            raise ValueError(f"PCA: needs at least 2 samples to estimate variances, got {n}")

    def _solver(self, X: np.ndarray) -> str:
        if self.svd_solver == "auto":
            n, d = X.shape
            return "covariance_eigh" if n >= 10 * d and d <= 1000 else "full"
        return "covariance_eigh" if self.svd_solver == "eigh" else self.svd_solver

    def _fit(self, X: np.ndarray) -> np.ndarray | None:
        """Fit; returns U (n, r) of the SVD when the full solver ran (fit_transform reuses it)."""
        n, d = X.shape
        self._check_params(X)
        self.mean_ = X.mean(0)
        self._fit_svd_solver = solver = self._solver(X)
        Xc = X - self.mean_
        U = None
        if solver == "full":
            U, S, Vt = np.linalg.svd(Xc, full_matrices=False)
            variance = S ** 2 / (n - 1)
        else:
            cov = Xc.T @ Xc / (n - 1)
            eigval, eigvec = np.linalg.eigh(cov)                       # ascending
            eigval, Vt = np.maximum(eigval[::-1], 0.0), eigvec[:, ::-1].T
            variance = eigval
            S = np.sqrt(variance * (n - 1))  # all d eigenvalues kept (noise_variance_ averages the rest)
        signs = _flip_signs(Vt)
        Vt = Vt * signs[:, None]
        if U is not None:
            U = U * signs[None, :]
        total = variance.sum() if solver == "full" else np.trace(cov)
        ratio = variance / total if total > 0 else np.zeros_like(variance)
        k = self.n_components
        if k is None:
            k = min(n, d)
        elif not isinstance(k, numbers.Integral):
            k = int(np.searchsorted(np.cumsum(ratio), k, side="right")) + 1
            k = min(k, len(variance))
        self.n_components_ = int(k)
        self.components_ = Vt[:k].astype(X.dtype)
        self.explained_variance_ = variance[:k].astype(X.dtype)
        self.explained_variance_ratio_ = ratio[:k].astype(X.dtype)
        self.singular_values_ = S[:k].astype(X.dtype)
        self.noise_variance_ = float(variance[k:].mean()) if k < min(n, d) else 0.0
        self.n_samples_, self.n_features_in_ = n, d
        return None if U is None else U[:, :k]

    def fit(self, X, y=None) -> PCA:
        """Find the principal components of X (n_samples, n_features): ``components_`` (n_components,
        n_features), ``explained_variance_``, ``mean_`` and the rest. ``y`` is ignored. Returns self."""
        self._fit(check_array(X, estimator=self))
        return self

    def fit_transform(self, X, y=None):
        Xn = check_array(X, estimator=self)
        U = self._fit(Xn)
        if U is None:
            return self.transform(X)
        out = U * (np.sqrt(self.n_samples_ - 1) if self.whiten else self.singular_values_)
        return like_input(out.astype(Xn.dtype), X)

    def _check_X(self, X) -> np.ndarray:
        check_is_fitted(self, "components_")
        Xc = check_array(X, estimator=self)
        if Xc.shape[1] != self.n_features_in_:
            raise ValueError(f"PCA: X has {Xc.shape[1]} features, but PCA was fitted with {self.n_features_in_}")
        return Xc

    def transform(self, X):
        """Projections onto the components, (X − mean_) @ components_ᵀ (divided by √explained_variance_ if
        ``whiten``), shape (n_samples, n_components_)."""
        Xc = self._check_X(X)
        Z = (Xc - self.mean_) @ self.components_.T
        if self.whiten:
            Z = Z / np.sqrt(np.maximum(self.explained_variance_, np.finfo(Z.dtype).tiny))
        return like_input(Z.astype(Xc.dtype), X)

    def inverse_transform(self, X):
        """Back to feature space: Z @ components_ (scaled back if ``whiten``) + mean_."""
        check_is_fitted(self, "components_")
        Z = check_array(X, name="X", estimator=self)
        if Z.shape[1] != self.n_components_:
            raise ValueError(f"PCA: inverse_transform expects {self.n_components_} columns, got {Z.shape[1]}")
        W = self.components_ * np.sqrt(self.explained_variance_)[:, None] if self.whiten else self.components_
        return like_input((Z @ W + self.mean_).astype(Z.dtype), X)

    def get_covariance(self) -> np.ndarray:
        """The model's covariance components_ᵀ diag(explained_variance_ − σ²) components_ + σ² I."""
        check_is_fitted(self, "components_")
        W, var = self.components_, self.explained_variance_ - self.noise_variance_
        return (W.T * np.maximum(var, 0.0)) @ W + self.noise_variance_ * np.eye(W.shape[1])
