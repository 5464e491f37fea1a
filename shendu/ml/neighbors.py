"""k-nearest neighbours: classification by (weighted) vote, regression by (weighted) mean.

Brute force, fully vectorised: the query-by-train distance matrix is computed in row chunks of at
most ``chunk_size`` entries (``‖a‖² - 2a·b + ‖b‖²`` with one matrix product for p = 2; a broadcast
``Σ|a - b|^p`` for other p), and the k smallest per row are found with ``argpartition`` and then
ordered by (distance, training index), so ties go to the earlier training sample.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from shendu.ml.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    check_array,
    check_is_fitted,
    check_X_y,
    like_input,
)

__all__ = ["KNeighborsClassifier", "KNeighborsRegressor", "pairwise_distances"]


def pairwise_distances(A: np.ndarray, B: np.ndarray, p: float = 2) -> np.ndarray:
    """The (len(A), len(B)) Minkowski distances ``(Σ_j |a_j - b_j|^p)^(1/p)``."""
    if p == 2:
        sq = (A * A).sum(axis=1)[:, None] - 2.0 * (A @ B.T) + (B * B).sum(axis=1)[None, :]
        return np.sqrt(np.maximum(sq, 0.0))
    diff = np.abs(A[:, None, :] - B[None, :, :])           # (a, b, p): only for chunks of A
    if p == 1:
        return diff.sum(axis=2)
    if np.isinf(p):
        return diff.max(axis=2)
    return (diff**p).sum(axis=2) ** (1.0 / p)


class _KNeighborsBase(BaseEstimator):
    def __init__(self, n_neighbors: int = 5, *, weights: str | Callable = "uniform", p: float = 2,
                 metric: str = "minkowski", chunk_size: int = 1 << 22):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.p = p
        self.metric = metric
        self.chunk_size = chunk_size

    def _fit(self, X, y):
        name = type(self).__name__
        if not (isinstance(self.n_neighbors, (int, np.integer)) and self.n_neighbors >= 1):
            raise ValueError(f"{name}: n_neighbors must be a positive integer, got {self.n_neighbors!r}")
        if self.metric not in ("minkowski", "euclidean", "manhattan"):
            raise ValueError(f"{name}: metric must be 'minkowski', 'euclidean' or 'manhattan', got {self.metric!r}")
        if self.weights not in ("uniform", "distance") and not callable(self.weights):
            raise ValueError(f"{name}: weights must be 'uniform', 'distance' or a callable, got {self.weights!r}")
        if not self.p >= 1:
            raise ValueError(f"{name}: p must be >= 1, got {self.p!r}")
        self._fit_X = X.astype(np.float64)
        self.n_features_in_ = X.shape[1]
        self.n_samples_fit_ = X.shape[0]
        self.effective_metric_ = "euclidean" if self._p() == 2 else ("manhattan" if self._p() == 1 else "minkowski")
        return y

    def _p(self):
        return {"euclidean": 2, "manhattan": 1}.get(self.metric, self.p)

    def kneighbors(self, X: Any, n_neighbors: int | None = None, return_distance: bool = True):
        """The ``n_neighbors`` nearest training samples of each row of X: ``(distances, indices)``,
        each (n_queries, n_neighbors), nearest first (or the indices alone)."""
        check_is_fitted(self, "_fit_X")
        Xn = check_array(X, estimator=self).astype(np.float64)
        if Xn.shape[1] != self.n_features_in_:
            raise ValueError(f"{type(self).__name__}: X has {Xn.shape[1]} features, but the model was fitted "
                             f"with {self.n_features_in_}")
        dist, ind = self._kneighbors(Xn, n_neighbors)
        if return_distance:
            return like_input(dist, X), like_input(ind, X)
        return like_input(ind, X)

    def _kneighbors(self, Xn, n_neighbors=None):
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        n_train = self._fit_X.shape[0]
        if k > n_train:
            raise ValueError(f"{type(self).__name__}: n_neighbors={k} is larger than the {n_train} fitted samples")
        p = self._p()
        per_row = n_train * (1 if p == 2 else self.n_features_in_)
        rows = max(1, self.chunk_size // max(per_row, 1))
        dists, inds = [], []
        for start in range(0, Xn.shape[0], rows):           # chunks of query rows, not single samples
            D = pairwise_distances(Xn[start:start + rows], self._fit_X, p)   # (r, n_train)
            part = np.argpartition(D, k - 1, axis=1)[:, :k] if k < n_train else np.tile(np.arange(n_train), (len(D), 1))
            d = np.take_along_axis(D, part, axis=1)
            order = np.lexsort((part, d), axis=1)             # by distance, then by training index
            inds.append(np.take_along_axis(part, order, axis=1))
            dists.append(np.take_along_axis(d, order, axis=1))
        return np.concatenate(dists), np.concatenate(inds)

    def _weights(self, dist):
        if self.weights == "uniform":
            return np.ones_like(dist)
        if self.weights == "distance":
            with np.errstate(divide="ignore"):
                w = 1.0 / dist
            exact = dist == 0                                  # a query on a training point: only those count
            rows = exact.any(axis=1)
            w[rows] = exact[rows].astype(np.float64)
            return w
        return np.asarray(self.weights(dist), dtype=np.float64)


class KNeighborsClassifier(ClassifierMixin, _KNeighborsBase):
    """Classify by the (weighted) vote of the ``n_neighbors`` nearest training samples.

    Args:
        n_neighbors: k. Default: 5.
        weights: ``'uniform'``, ``'distance'`` (1/d; exact matches take all the weight) or a callable
            on the (n_queries, k) distance array. Default: ``'uniform'``.
        p: the Minkowski power (2: Euclidean, 1: Manhattan). Default: 2.
        metric: ``'minkowski'`` (with p), ``'euclidean'`` or ``'manhattan'``. Default: ``'minkowski'``.
        chunk_size: distance-matrix entries computed at a time. Default: 2**22.

    Attributes: ``classes_``, ``n_features_in_``, ``n_samples_fit_``, ``effective_metric_``.
    """

    def fit(self, X: Any, y: Any) -> KNeighborsClassifier:
        """Store the training samples X and their labels y; returns self."""
        X, y = check_X_y(X, y, estimator=self)
        self.classes_, self._y = np.unique(y, return_inverse=True)
        self._fit(X, y)
        return self

    def predict_proba(self, X: Any):
        """The weighted vote shares, (n_samples, n_classes), columns in the order of ``classes_``."""
        check_is_fitted(self, "_fit_X")
        return like_input(self._proba(check_array(X, estimator=self)), X)

    def _proba(self, Xn):
        if Xn.shape[1] != self.n_features_in_:
            raise ValueError(f"KNeighborsClassifier: X has {Xn.shape[1]} features, but the model was fitted "
                             f"with {self.n_features_in_}")
        dist, ind = self._kneighbors(Xn.astype(np.float64))
        w = self._weights(dist)                               # (n, k)
        K, n = len(self.classes_), len(ind)
        votes = np.bincount((np.arange(n)[:, None] * K + self._y[ind]).ravel(), weights=w.ravel(), minlength=n * K)
        votes = votes.reshape(n, K)
        total = votes.sum(axis=1, keepdims=True)
        return votes / np.where(total == 0, 1.0, total)

    def predict(self, X: Any):
        """The class with the largest (weighted) vote among the nearest neighbours."""
        check_is_fitted(self, "_fit_X")
        return like_input(self.classes_[self._proba(check_array(X, estimator=self)).argmax(axis=1)], X)


class KNeighborsRegressor(RegressorMixin, _KNeighborsBase):
    """Predict the (weighted) mean target of the ``n_neighbors`` nearest training samples.

    Arguments as for KNeighborsClassifier; y may be (n_samples,) or (n_samples, n_targets).
    """

    def fit(self, X: Any, y: Any) -> KNeighborsRegressor:
        """Store the training samples X and their targets y; returns self."""
        X, y = check_X_y(X, y, y_numeric=True, multi_output=True, estimator=self)
        self._y = y.astype(np.float64)
        self._fit(X, y)
        return self

    def predict(self, X: Any):
        """The (weighted) mean target of the nearest neighbours."""
        check_is_fitted(self, "_fit_X")
        Xn = check_array(X, estimator=self)
        if Xn.shape[1] != self.n_features_in_:
            raise ValueError(f"KNeighborsRegressor: X has {Xn.shape[1]} features, but the model was fitted "
                             f"with {self.n_features_in_}")
        dist, ind = self._kneighbors(Xn.astype(np.float64))
        w = self._weights(dist)
        w = w / w.sum(axis=1, keepdims=True)
        Yn = self._y[ind]                                     # (n, k) or (n, k, t)
        out = (Yn * w[..., None]).sum(axis=1) if Yn.ndim == 3 else (Yn * w).sum(axis=1)
        return like_input(out, X)
