"""Gaussian mixture models fitted by expectation-maximisation (scikit-learn's GaussianMixture).

p(x) = Σ_k π_k N(x | μ_k, Σ_k). The E-step computes the responsibilities γ_nk = π_k N(x_n|μ_k, Σ_k) /
p(x_n) in log space (log-sum-exp over k), the M-step sets π_k = N_k / N, μ_k = Σ_n γ_nk x_n / N_k and
Σ_k = Σ_n γ_nk (x_n − μ_k)(x_n − μ_k)ᵀ / N_k + reg_covar·I, where N_k = Σ_n γ_nk. EM stops when the mean
log-likelihood (``lower_bound_``) changes by less than ``tol``. Densities use the Cholesky factors of
the precisions: log N(x|μ, Σ) = −½ d log 2π + log|L| − ½ ‖(x − μ) L‖² with Σ⁻¹ = L Lᵀ.

Covariance types: ``"full"`` (k, d, d), ``"tied"`` (d, d) shared, ``"diag"`` (k, d), ``"spherical"`` (k,).
"""
from __future__ import annotations

import numbers

import numpy as np

from shendu.ml.base import BaseEstimator, check_array, check_is_fitted, like_input
from shendu.ml.cluster import KMeans, _rng, kmeans_plusplus

__all__ = ["GaussianMixture"]

_COV_TYPES = ("full", "tied", "diag", "spherical")
_ILL_DEFINED = ("GaussianMixture: fitting failed because some components have an ill-defined empirical "
                "covariance (for instance caused by singleton or collapsed samples). Try fewer components, "
                "a larger reg_covar, or scaled input data.")


def logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    """log Σ exp(a) along ``axis``, shifted by the maximum so nothing overflows."""
    m = a.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.log(np.exp(a - m).sum(axis=axis)) + np.squeeze(m, axis=axis)


def _estimate_parameters(X: np.ndarray, resp: np.ndarray, reg_covar: float, cov_type: str):
    """M-step: (N_k, means, covariances) from the responsibilities resp (n, k)."""
    nk = resp.sum(0) + 10 * np.finfo(resp.dtype).eps
    means = resp.T @ X / nk[:, None]                                  # (k, d)
    d = X.shape[1]
    if cov_type == "full":
        cov = np.empty((len(nk), d, d))
        for k in range(len(nk)):  # a loop over components, each a (d, n) @ (n, d) product
            diff = X - means[k]
            cov[k] = (resp[:, k] * diff.T) @ diff / nk[k]
            cov[k].flat[::d + 1] += reg_covar
    elif cov_type == "tied":
        cov = X.T @ X - (nk * means.T) @ means
        cov = cov / nk.sum()
        cov.flat[::d + 1] += reg_covar
    else:
        avg_sq = resp.T @ (X * X) / nk[:, None]
        diag = avg_sq - 2 * means * (resp.T @ X) / nk[:, None] + means ** 2 + reg_covar
        cov = diag if cov_type == "diag" else diag.mean(1)
    return nk, means, cov


def _precision_cholesky(cov: np.ndarray, cov_type: str) -> np.ndarray:
    """The Cholesky factor L of each precision Σ⁻¹ = L Lᵀ (upper-triangular, scikit-learn's layout)."""
    if cov_type in ("full", "tied"):
        mats = cov[None] if cov_type == "tied" else cov
        try:
            chol = np.linalg.cholesky(mats)                                       # (k, d, d) lower
        except np.linalg.LinAlgError:
            raise ValueError(_ILL_DEFINED) from None
        out = np.swapaxes(np.linalg.solve(chol, np.broadcast_to(np.eye(mats.shape[-1]), mats.shape)), 1, 2)
        return out[0] if cov_type == "tied" else out
    if np.any(cov <= 0.0):
        raise ValueError(_ILL_DEFINED)
    return 1.0 / np.sqrt(cov)


def _precision_cholesky_from_precisions(prec: np.ndarray, cov_type: str) -> np.ndarray:
    if cov_type == "full":
        return np.stack([np.linalg.cholesky(p) for p in prec])
    if cov_type == "tied":
        return np.linalg.cholesky(prec)
    return np.sqrt(prec)


def _log_gaussian(X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray, cov_type: str) -> np.ndarray:
    """(n, k) log N(x_n | μ_k, Σ_k)."""
    d = X.shape[1]
    if cov_type == "full":
        log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(1)          # (k,)
        y = np.einsum("nd,kde->nke", X, prec_chol) - np.einsum("kd,kde->ke", means, prec_chol)[None]
        maha = (y * y).sum(2)
    elif cov_type == "tied":
        log_det = np.log(np.diag(prec_chol)).sum()
        y = (X @ prec_chol)[:, None, :] - (means @ prec_chol)[None]
        maha = (y * y).sum(2)
    elif cov_type == "diag":
        log_det = np.log(prec_chol).sum(1)
        prec = prec_chol ** 2
        maha = ((means ** 2) * prec).sum(1) - 2.0 * X @ (means * prec).T + (X ** 2) @ prec.T
    else:
        log_det = d * np.log(prec_chol)
        prec = prec_chol ** 2
        maha = ((means ** 2).sum(1) * prec - 2.0 * (X @ means.T) * prec
                + np.outer((X ** 2).sum(1), prec))
    return -0.5 * (d * np.log(2 * np.pi) + maha) + log_det


class GaussianMixture(BaseEstimator):
    """A Gaussian mixture fitted by EM (scikit-learn's GaussianMixture).

    Args:
        n_components: the number of components k (default 1).
        covariance_type: ``"full"`` (default), ``"tied"``, ``"diag"`` or ``"spherical"``.
        tol: EM stops when the mean log-likelihood changes by less than this (1e-3).
        reg_covar: added to the covariances' diagonals to keep them positive definite (1e-6).
        max_iter: most EM iterations per initialisation (100).
        n_init: initialisations, the one with the highest final lower bound kept (1).
        init_params: how the responsibilities start: ``"kmeans"`` (default; one-hot k-means labels),
            ``"k-means++"`` (one-hot on the k-means++ seeds), ``"random"`` or ``"random_from_data"``.
        weights_init, means_init, precisions_init: initial π (k,), μ (k, d), Σ⁻¹ (shape by covariance type),
            overriding those estimated from the initial responsibilities.
        random_state: seed (or a NumPy RandomState) of the initialisation.

    Attributes:
        weights_, means_, covariances_, precisions_, precisions_cholesky_, converged_, n_iter_,
        lower_bound_ (the mean log-likelihood of the best run), lower_bounds_ (its value at every iteration),
        n_features_in_.
    """

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full", tol: float = 1e-3,
                 reg_covar: float = 1e-6, max_iter: int = 100, n_init: int = 1, init_params: str = "kmeans",
                 weights_init=None, means_init=None, precisions_init=None, random_state=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state

    # -- checks and initialisation ---------------------------------------------------------------
    def _check_params(self, X: np.ndarray) -> None:
        name, k, (n, d) = "GaussianMixture", self.n_components, X.shape
        if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
            raise ValueError(f"{name}: n_components must be an int >= 1, got {k!r}")
        if n < k:
            raise ValueError(f"{name}: expected n_samples >= n_components, got n_samples={n}, n_components={k}")
        if self.covariance_type not in _COV_TYPES:
            raise ValueError(f"{name}: covariance_type must be one of {_COV_TYPES}, got {self.covariance_type!r}")
        if self.init_params not in ("kmeans", "k-means++", "random", "random_from_data"):
            raise ValueError(f"{name}: init_params must be 'kmeans', 'k-means++', 'random' or 'random_from_data', "
                             f"got {self.init_params!r}")
        if self.tol < 0 or self.reg_covar < 0:
            raise ValueError(f"{name}: tol and reg_covar must be >= 0, got tol={self.tol}, reg_covar={self.reg_covar}")
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 0:
            raise ValueError(f"{name}: max_iter must be an int >= 0, got {self.max_iter!r}")
        if not isinstance(self.n_init, numbers.Integral) or self.n_init < 1:
            raise ValueError(f"{name}: n_init must be an int >= 1, got {self.n_init!r}")
        self._weights0 = self._means0 = self._prec0 = None
        if self.weights_init is not None:
            w = np.asarray(check_array(self.weights_init, ensure_2d=False, name="weights_init"), dtype=np.float64)
            if w.shape != (k,):
                raise ValueError(f"{name}: weights_init has shape {w.shape}, expected (n_components,) = ({k},)")
            if np.any(w < 0) or np.any(w > 1) or not np.isclose(w.sum(), 1.0):
                raise ValueError(f"{name}: weights_init must be in [0, 1] and sum to 1, got sum {w.sum():.6g}")
            self._weights0 = w
        if self.means_init is not None:
            m = np.asarray(check_array(self.means_init, name="means_init"), dtype=np.float64)
            if m.shape != (k, d):
                raise ValueError(f"{name}: means_init has shape {m.shape}, expected (n_components, n_features) "
                                 f"= ({k}, {d})")
            self._means0 = m
        if self.precisions_init is not None:
            p = np.asarray(check_array(self.precisions_init, ensure_2d=False, name="precisions_init"),
                           dtype=np.float64)
            expected = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[self.covariance_type]
            if p.shape != expected:
                raise ValueError(f"{name}: precisions_init has shape {p.shape}, expected {expected} for "
                                 f"covariance_type={self.covariance_type!r}")
            if self.covariance_type in ("full", "tied"):
                mats = p if p.ndim == 3 else p[None]
                if not np.allclose(mats, np.swapaxes(mats, 1, 2)) or np.any(np.linalg.eigvalsh(mats) <= 0):
                    raise ValueError(f"{name}: precisions_init must be symmetric positive definite")
            elif np.any(p <= 0):
                raise ValueError(f"{name}: precisions_init must be positive")
            self._prec0 = p

    def _initial_resp(self, X: np.ndarray, rng) -> np.ndarray:
        n, k = X.shape[0], self.n_components
        resp = np.zeros((n, k))
        if self.init_params == "kmeans":
            resp[np.arange(n), KMeans(n_clusters=k, n_init=1, random_state=rng).fit(X).labels_] = 1.0
        elif self.init_params == "random":
            resp = rng.uniform(size=(n, k))
            resp /= resp.sum(1, keepdims=True)
        elif self.init_params == "random_from_data":
            resp[rng.choice(n, size=k, replace=False), np.arange(k)] = 1.0
        else:
            resp[kmeans_plusplus(X, k, random_state=rng)[1], np.arange(k)] = 1.0
        return resp

    def _initialize(self, X: np.ndarray, resp: np.ndarray) -> None:
        nk, means, cov = _estimate_parameters(X, resp, self.reg_covar, self.covariance_type)
        self.weights_ = nk / X.shape[0] if self._weights0 is None else self._weights0.copy()
        self.means_ = means if self._means0 is None else self._means0.copy()
        if self._prec0 is None:
            self.covariances_ = cov
            self.precisions_cholesky_ = _precision_cholesky(cov, self.covariance_type)
        else:
            self.covariances_ = None  # set by the first M-step (or from the precisions if max_iter=0)
            self.precisions_cholesky_ = _precision_cholesky_from_precisions(self._prec0, self.covariance_type)

    # -- EM --------------------------------------------------------------------------------------
    def _weighted_log_prob(self, X: np.ndarray) -> np.ndarray:
        return _log_gaussian(X, self.means_, self.precisions_cholesky_, self.covariance_type) + np.log(self.weights_)

    def _e_step(self, X: np.ndarray):
        wlp = self._weighted_log_prob(X)
        log_norm = logsumexp(wlp, axis=1)                             # (n,) log p(x_n)
        return float(log_norm.mean()), wlp - log_norm[:, None]

    def _m_step(self, X: np.ndarray, log_resp: np.ndarray) -> None:
        nk, self.means_, self.covariances_ = _estimate_parameters(X, np.exp(log_resp), self.reg_covar,
                                                                  self.covariance_type)
        self.weights_ = nk / nk.sum()
        self.precisions_cholesky_ = _precision_cholesky(self.covariances_, self.covariance_type)

    def _params(self):
        return (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def fit(self, X, y=None) -> GaussianMixture:
        """Fit the mixture to X (n_samples, n_features) by EM from ``n_init`` initialisations, keeping the run
        with the highest lower bound in ``weights_`` (k,), ``means_`` (k, n_features) and the covariances.
        ``y`` is ignored. Returns self."""
        self.fit_predict(X, y)
        return self

    def fit_predict(self, X, y=None):
        """Fit by EM and return the component with the highest responsibility for each sample."""
        Xn = check_array(X, estimator=self)
        self._check_params(Xn)
        X64 = Xn.astype(np.float64)
        rng = _rng(self.random_state)
        best, best_bound, self.converged_ = None, -np.inf, False
        for _ in range(self.n_init):
            self._initialize(X64, self._initial_resp(X64, rng))
            bound, converged, n_iter, bounds = -np.inf, False, 0, []
            for n_iter in range(1, self.max_iter + 1):  # noqa: B007 (read after the loop)
                previous = bound
                bound, log_resp = self._e_step(X64)
                self._m_step(X64, log_resp)
                bounds.append(bound)
                if abs(bound - previous) < self.tol:
                    converged = True
                    break
            if best is None or bound > best_bound:
                best, best_bound, best_iter, self.converged_ = self._params(), bound, n_iter, converged
                best_bounds = bounds
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = best
        self.n_iter_, self.lower_bound_, self.lower_bounds_ = best_iter, best_bound, best_bounds
        self.n_features_in_ = X64.shape[1]
        self._set_precisions()
        labels = self._e_step(X64)[1].argmax(1)
        return like_input(labels, X)

    def _set_precisions(self) -> None:
        pc = self.precisions_cholesky_
        if self.covariance_type == "full":
            self.precisions_ = pc @ np.swapaxes(pc, 1, 2)
        elif self.covariance_type == "tied":
            self.precisions_ = pc @ pc.T
        else:
            self.precisions_ = pc ** 2
        if self.covariances_ is None:  # max_iter=0 with precisions_init: covariances from the precisions
            self.covariances_ = (np.linalg.inv(self.precisions_) if self.covariance_type in ("full", "tied")
                                 else 1.0 / self.precisions_)

    # -- inference -------------------------------------------------------------------------------
    def _check_X(self, X) -> np.ndarray:
        check_is_fitted(self, "means_")
        Xc = check_array(X, estimator=self)
        if Xc.shape[1] != self.n_features_in_:
            raise ValueError(f"GaussianMixture: X has {Xc.shape[1]} features, but the model was fitted with "
                             f"{self.n_features_in_}")
        return Xc.astype(np.float64)

    def score_samples(self, X):
        """log p(x) of each sample, shape (n_samples,)."""
        return like_input(logsumexp(self._weighted_log_prob(self._check_X(X)), axis=1), X)

    def score(self, X, y=None) -> float:
        """The mean log-likelihood of X."""
        return float(np.mean(logsumexp(self._weighted_log_prob(self._check_X(X)), axis=1)))

    def predict_proba(self, X):
        """The responsibilities p(k | x), shape (n_samples, n_components)."""
        return like_input(np.exp(self._e_step(self._check_X(X))[1]), X)

    def predict(self, X):
        """The most responsible component of each sample."""
        return like_input(self._weighted_log_prob(self._check_X(X)).argmax(1), X)

    def _n_parameters(self) -> int:
        k, d = self.means_.shape
        cov = {"full": k * d * (d + 1) / 2, "diag": k * d, "tied": d * (d + 1) / 2, "spherical": k}
        return int(cov[self.covariance_type] + k * d + k - 1)

    def bic(self, X) -> float:
        """Bayesian information criterion −2 log L + p ln n (lower is better)."""
        Xc = self._check_X(X)
        return -2 * self.score(Xc) * Xc.shape[0] + self._n_parameters() * np.log(Xc.shape[0])

    def aic(self, X) -> float:
        """Akaike information criterion −2 log L + 2p (lower is better)."""
        Xc = self._check_X(X)
        return -2 * self.score(Xc) * Xc.shape[0] + 2 * self._n_parameters()

    def sample(self, n_samples: int = 1, random_state=None):
        """``(X, labels)``: n_samples drawn from the fitted mixture (components by ``weights_``)."""
        check_is_fitted(self, "means_")
        rng = _rng(random_state if random_state is not None else self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        d = self.means_.shape[1]
        cov = self.covariances_
        parts = []
        for k, c in enumerate(counts):  # a loop over components
            if self.covariance_type == "full":
                ck = cov[k]
            elif self.covariance_type == "tied":
                ck = cov
            elif self.covariance_type == "diag":
                ck = np.diag(cov[k])
            else:
                ck = cov[k] * np.eye(d)
            parts.append(rng.multivariate_normal(self.means_[k], ck, c))
        labels = np.repeat(np.arange(len(counts)), counts)
        return np.vstack(parts), labels
