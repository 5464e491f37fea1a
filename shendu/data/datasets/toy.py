"""Small two-dimensional classification problems: XOR, two moons, spirals, Gaussian blobs.

Each returns ``(X, y)``: X float32 of shape (N, 2) (or (N, D) for blobs), y int64 class indices of
shape (N,), ready for ``TensorDataset(X, y)``. A seed gives the same data every time.
"""
from __future__ import annotations

import numpy as np

from shendu.tensor import Tensor


def _out(X: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor]:
    return Tensor._wrap(np.ascontiguousarray(X, dtype=np.float32)), Tensor._wrap(y.astype(np.int64))


def _counts(n: int, k: int) -> np.ndarray:
    """n split into k near-equal parts, the first n % k one larger."""
    counts = np.full(k, n // k, dtype=np.int64)
    counts[: n % k] += 1
    return counts


def xor() -> tuple[Tensor, Tensor]:
    """The four corners of the unit square, labelled x1 XOR x2: X (4, 2), y (4,)."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    return _out(X, np.array([0, 1, 1, 0]))


def two_moons(n: int = 100, noise: float = 0.1, seed: int | None = 0, shuffle: bool = True) -> tuple[Tensor, Tensor]:
    """Two interleaving half circles (scikit-learn's ``make_moons`` layout).

    Class 0 is the upper half circle of radius 1 centred at (0, 0), class 1 the lower one centred
    at (1, 0.5); ceil(n/2) and floor(n/2) points, plus N(0, noise²) on each coordinate.
    """
    rng = np.random.default_rng(seed)
    n_out, n_in = n - n // 2, n // 2
    a, b = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    X = np.concatenate([np.stack([np.cos(a), np.sin(a)], 1), np.stack([1 - np.cos(b), 0.5 - np.sin(b)], 1)])
    y = np.repeat([0, 1], [n_out, n_in])
    X = X + rng.normal(0.0, noise, size=X.shape)
    if shuffle:
        perm = rng.permutation(n)
        X, y = X[perm], y[perm]
    return _out(X, y)


def spirals(n: int = 300, classes: int = 3, noise: float = 0.2, seed: int | None = 0) -> tuple[Tensor, Tensor]:
    """``classes`` interleaved spiral arms (CS231n's spiral data), n points in all.

    Arm k has radii r equally spaced on [0, 1] and angles θ = 4r + 2πk/classes + N(0, noise²);
    its points are (r sin θ, r cos θ). Points are ordered arm by arm.
    """
    if classes < 1:
        raise ValueError(f"spirals: expected classes >= 1, got {classes}")
    rng = np.random.default_rng(seed)
    counts = _counts(n, classes)
    y = np.repeat(np.arange(classes), counts)
    starts = np.cumsum(counts) - counts
    pos = np.arange(n) - np.repeat(starts, counts)  # position within the arm
    r = pos / np.maximum(np.repeat(counts, counts) - 1, 1)
    theta = 4.0 * r + y * (2 * np.pi / classes) + rng.normal(0.0, noise, size=n)
    return _out(np.stack([r * np.sin(theta), r * np.cos(theta)], 1), y)


def gaussian_blobs(n: int = 300, centers: int | np.ndarray = 3, std: float = 1.0, seed: int | None = 0,
                   n_features: int = 2, center_box: tuple[float, float] = (-10.0, 10.0)) -> tuple[Tensor, Tensor]:
    """Isotropic Gaussian clusters (scikit-learn's ``make_blobs`` layout), shuffled.

    Args:
        n: total number of points, split as evenly as possible between the clusters.
        centers: the number of clusters (centres drawn uniformly from ``center_box``) or an array
            of centres of shape (K, D).
        std: each cluster's standard deviation.
    """
    rng = np.random.default_rng(seed)
    if isinstance(centers, (int, np.integer)):
        centers = rng.uniform(*center_box, size=(int(centers), n_features))
    centers = np.asarray(getattr(centers, "_data", centers), dtype=np.float64)
    if centers.ndim != 2:
        raise ValueError(f"gaussian_blobs: centers must be an int or an array (K, D), got shape {centers.shape}")
    y = np.repeat(np.arange(len(centers)), _counts(n, len(centers)))
    X = centers[y] + rng.normal(0.0, std, size=(n, centers.shape[1]))
    perm = rng.permutation(n)
    return _out(X[perm], y[perm])
