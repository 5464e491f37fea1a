"""k-means clustering (scikit-learn's KMeans): k-means++ seeding and Lloyd's algorithm, vectorised.

Lloyd's algorithm alternates an assignment step (every sample to its nearest centre, from the
(n, k) matrix of squared distances ‖x‖² − 2x·c + ‖c‖²) and an update step (every centre to the mean
of its samples, one (k, n) @ (n, d) product), until the assignments stop changing or the centres
move less than ``tol`` times the data's mean per-feature variance. An empty cluster takes the
sample farthest from its centre. ``n_init`` runs keep the lowest inertia.
"""
from __future__ import annotations

import numbers

import numpy as np

from shendu.ml.base import BaseEstimator, TransformerMixin, check_array, check_is_fitted, like_input

__all__ = ["KMeans", "kmeans_plusplus"]


def _rng(random_state) -> np.random.RandomState:
    if isinstance(random_state, np.random.RandomState):
        return random_state
    return np.random.RandomState(random_state)


def _sq_distances(X: np.ndarray, centers: np.ndarray, x_sq: np.ndarray | None = None) -> np.ndarray:
    """(n, k) squared Euclidean distances, clipped at 0 (the expansion can round below)."""
    x_sq = (X * X).sum(1) if x_sq is None else x_sq
    d = x_sq[:, None] - 2.0 * (X @ centers.T) + (centers * centers).sum(1)[None, :]
    return np.maximum(d, 0.0)


def kmeans_plusplus(X, n_clusters: int, *, sample_weight=None, random_state=None, n_local_trials=None):
    """Greedy k-means++ seeding (Arthur & Vassilvitskii; scikit-learn's variant): the first centre is a
    random sample, each next one the best of ``2 + ln k`` samples drawn with probability ∝ D(x)².

    Returns ``(centers, indices)``: the (k, d) centres and the indices of the samples chosen.
    """
    X = check_array(X, name="X")
    n = X.shape[0]
    if not 1 <= n_clusters <= n:
        raise ValueError(f"kmeans_plusplus: n_clusters={n_clusters} must be in [1, n_samples={n}]")
    rng = _rng(random_state)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    trials = 2 + int(np.log(n_clusters)) if n_local_trials is None else n_local_trials
    x_sq = (X * X).sum(1)
    indices = np.empty(n_clusters, dtype=np.intp)
    indices[0] = rng.choice(n, p=w / w.sum())
    closest = _sq_distances(X, X[indices[:1]], x_sq)[:, 0]
    potential = closest @ w
    for c in range(1, n_clusters):
        draws = rng.uniform(size=trials) * potential
        candidates = np.minimum(np.searchsorted(np.cumsum(w * closest), draws), n - 1)
        dist = np.minimum(closest[:, None], _sq_distances(X, X[candidates], x_sq))   # (n, trials)
        pots = w @ dist
        best = int(np.argmin(pots))
        closest, potential, indices[c] = dist[:, best], pots[best], candidates[best]
    return X[indices].copy(), indices


class KMeans(TransformerMixin, BaseEstimator):
    """k-means clustering by Lloyd's algorithm (scikit-learn's KMeans, ``algorithm="lloyd"``).

    Args:
        n_clusters: the number of clusters k (default 8).
        init: ``"k-means++"`` (default), ``"random"`` (k distinct samples) or a (k, d) array of centres.
        n_init: runs from different seeds, the lowest inertia kept; ``"auto"`` is 1 for k-means++ and an
            array, 10 for ``"random"``.
        max_iter: most Lloyd iterations per run (300).
        tol: convergence when the squared centre shift sums below ``tol · mean(var(X, axis=0))`` (1e-4).
        random_state: seed (or a NumPy RandomState) of the seeding.

    Attributes:
        cluster_centers_ (k, d), labels_ (n,), inertia_ (sum of squared distances to the closest centre),
        n_iter_ (iterations of the best run), n_features_in_.
    """

    def __init__(self, n_clusters: int = 8, *, init="k-means++", n_init="auto", max_iter: int = 300,
                 tol: float = 1e-4, random_state=None):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _check_params(self, X: np.ndarray) -> int:
        name, k = type(self).__name__, self.n_clusters
        if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
            raise ValueError(f"{name}: n_clusters must be an int >= 1, got {k!r}")
        if X.shape[0] < k:
            raise ValueError(f"{name}: n_samples={X.shape[0]} should be >= n_clusters={k}")
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 1:
            raise ValueError(f"{name}: max_iter must be an int >= 1, got {self.max_iter!r}")
        if self.tol < 0:
            raise ValueError(f"{name}: tol must be >= 0, got {self.tol}")
        if isinstance(self.init, str):
            if self.init not in ("k-means++", "random"):
                raise ValueError(f"{name}: init must be 'k-means++', 'random' or an array of shape "
                                 f"(n_clusters, n_features), got {self.init!r}")
        else:
            init = np.asarray(check_array(self.init, name="init", estimator=self))
            if init.shape != (k, X.shape[1]):
                raise ValueError(f"{name}: init array has shape {init.shape}, expected (n_clusters, n_features) = "
                                 f"({k}, {X.shape[1]})")
        if self.n_init == "auto":
            return 10 if isinstance(self.init, str) and self.init == "random" else 1
        if not isinstance(self.n_init, numbers.Integral) or self.n_init < 1:
            raise ValueError(f"{name}: n_init must be 'auto' or an int >= 1, got {self.n_init!r}")
        return 1 if not isinstance(self.init, str) else int(self.n_init)

    def _init_centers(self, X: np.ndarray, rng) -> np.ndarray:
        if isinstance(self.init, str) and self.init == "k-means++":
            return kmeans_plusplus(X, self.n_clusters, random_state=rng)[0]
        if isinstance(self.init, str):
            return X[rng.permutation(X.shape[0])[:self.n_clusters]].copy()
        return np.asarray(check_array(self.init, name="init"), dtype=X.dtype).copy()

    @staticmethod
    def _lloyd(X: np.ndarray, centers: np.ndarray, max_iter: int, tol: float):
        """One run of Lloyd's algorithm from ``centers``: (labels, inertia, centers, n_iter)."""
        n, k = X.shape[0], centers.shape[0]
        x_sq = (X * X).sum(1)
        rows = np.arange(n)
        labels_old = np.full(n, -1)
        strict = False
        for i in range(max_iter):  # noqa: B007 (i + 1 iterations ran: read after the loop)
            dist = _sq_distances(X, centers, x_sq)                 # (n, k)
            labels = dist.argmin(1)
            onehot = np.zeros((k, n), dtype=X.dtype)
            onehot[labels, rows] = 1.0
            counts = onehot.sum(1)
            new = onehot @ X                                       # (k, d) sums of each cluster
            empty = np.flatnonzero(counts == 0)
            if len(empty):  # relocate empty clusters to the samples farthest from their centres
                far = np.argsort(-dist[rows, labels], kind="stable")[:len(empty)]
                new[empty], counts[empty] = X[far], 1.0
                for f in far:  # the relocated samples leave their old clusters
                    new[labels[f]] -= X[f]
                    counts[labels[f]] -= 1
            new /= counts[:, None]
            shift = ((new - centers) ** 2).sum()
            centers = new
            if np.array_equal(labels, labels_old):
                strict = True
                break
            if shift <= tol:
                break
            labels_old = labels
        if not strict:  # the assignments of the final centres
            labels = _sq_distances(X, centers, x_sq).argmin(1)
        inertia = float(((X - centers[labels]) ** 2).sum())
        return labels, inertia, centers, i + 1

    def fit(self, X, y=None, sample_weight=None) -> KMeans:
        """Cluster X (n_samples, n_features): ``n_init`` seedings, Lloyd iterations from each, the run with
        the lowest inertia kept in ``cluster_centers_`` (k, n_features) and ``labels_`` (n_samples,).
        ``y`` is ignored; ``sample_weight`` is not supported. Returns self."""
        X = check_array(X, estimator=self)
        if sample_weight is not None:
            raise NotImplementedError("KMeans: sample_weight is not supported")
        n_init = self._check_params(X)
        rng = _rng(self.random_state)
        mean = X.mean(0)
        Xc = X - mean  # centred, as scikit-learn does, for the distance expansion's accuracy
        tol = float(np.mean(X.var(0)) * self.tol)
        best = None
        for _ in range(n_init):
            centers = self._init_centers(Xc if isinstance(self.init, str) else X, rng)
            if not isinstance(self.init, str):
                centers = centers - mean
            run = self._lloyd(Xc, centers, self.max_iter, tol)
            if best is None or run[1] < best[1]:
                best = run
        labels, inertia, centers, n_iter = best
        self.cluster_centers_ = (centers + mean).astype(X.dtype)
        self.labels_, self.inertia_, self.n_iter_ = labels, inertia, n_iter
        self.n_features_in_ = X.shape[1]
        return self

    def _check_X(self, X) -> np.ndarray:
        check_is_fitted(self, "cluster_centers_")
        X = check_array(X, estimator=self)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"KMeans: X has {X.shape[1]} features, but KMeans was fitted with {self.n_features_in_}")
        return X

    def predict(self, X):
        """The index of each sample's closest centre."""
        Xc = self._check_X(X)
        return like_input(_sq_distances(Xc, self.cluster_centers_).argmin(1), X)

    def fit_predict(self, X, y=None):
        """``fit(X)``, then the cluster index of every sample (``labels_``): (n_samples,) int64, a tensor if X
        was one."""
        return like_input(self.fit(X).labels_, X)

    def transform(self, X):
        """Euclidean distances to every centre, shape (n_samples, n_clusters)."""
        Xc = self._check_X(X)
        return like_input(np.sqrt(_sq_distances(Xc, self.cluster_centers_)).astype(Xc.dtype), X)

    def score(self, X, y=None) -> float:
        """Minus the inertia of X with respect to the fitted centres."""
        Xc = self._check_X(X)
        return -float(_sq_distances(Xc, self.cluster_centers_).min(1).sum())
