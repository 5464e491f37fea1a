"""Splitting data for model selection: hold-out splits and cross-validation (scikit-learn's semantics).

``KFold``, ``StratifiedKFold`` and ``LeaveOneOut`` have scikit-learn's names, arguments and
``split(X, y=None, groups=None)`` generators of ``(train_idx, val_idx)`` int arrays; with the same
integer ``random_state`` they give exactly scikit-learn's folds (both shuffle with NumPy's
``RandomState(random_state)``). ``random_state=None`` shuffles with NumPy's global stream, which
``shendu.manual_seed`` seeds; a ``shendu.Generator`` or ``np.random.RandomState`` also works.
``train_val_test_split`` cuts a hold-out split; ``standardize`` scales features with statistics of
the training rows only, so nothing of the held-out rows leaks into training.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from shendu.random import Generator

IndexPair = tuple[np.ndarray, np.ndarray]


def _num_samples(X: Any) -> int:
    if isinstance(X, (int, np.integer)):
        return int(X)
    shape = getattr(X, "shape", None)
    if shape is not None:
        if len(shape) == 0:
            raise TypeError(f"splits: expected an array-like of samples, got a 0-d array {X!r}")
        return int(shape[0])
    return len(X)


def _labels(y: Any) -> np.ndarray:
    y = np.asarray(getattr(y, "_data", y))
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"splits: expected class labels of shape (N,), got shape {y.shape}")
    return y


def _random_state(random_state):
    """A shuffler with ``shuffle(array)`` in place, as scikit-learn's ``check_random_state``."""
    if random_state is None:
        return np.random.mtrand._rand
    if isinstance(random_state, (int, np.integer)):
        return np.random.RandomState(int(random_state))
    if isinstance(random_state, Generator):
        return random_state._rng
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    raise ValueError(f"splits: random_state must be None, an int, a shendu.Generator or a NumPy random state, "
                     f"got {random_state!r}")


class _KFoldBase:
    def __init__(self, n_splits: int, shuffle: bool, random_state):
        if not isinstance(n_splits, (int, np.integer)) or isinstance(n_splits, bool):
            raise ValueError(f"{type(self).__name__}: the number of folds must be an integer, got {n_splits!r}")
        if n_splits <= 1:
            raise ValueError(f"{type(self).__name__}: k-fold cross-validation needs n_splits >= 2, got {n_splits}")
        if not isinstance(shuffle, bool):
            raise TypeError(f"{type(self).__name__}: shuffle must be True or False, got {shuffle!r}")
        if not shuffle and random_state is not None:
            raise ValueError(f"{type(self).__name__}: random_state has no effect since shuffle is False; "
                             "leave random_state=None or set shuffle=True")
        self.n_splits, self.shuffle, self.random_state = int(n_splits), shuffle, random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """The number of folds, ``n_splits`` (the arguments are ignored, as in scikit-learn)."""
        return self.n_splits

    def _check(self, n: int) -> None:
        if self.n_splits > n:
            raise ValueError(f"{type(self).__name__}: cannot have n_splits={self.n_splits} greater than the "
                             f"number of samples n_samples={n}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_splits={self.n_splits}, random_state={self.random_state}, " \
               f"shuffle={self.shuffle})"


class KFold(_KFoldBase):
    """K consecutive folds (shuffled first if ``shuffle``); each fold is the validation set once.

    The first ``n_samples % n_splits`` folds have ``n_samples // n_splits + 1`` samples, the others
    ``n_samples // n_splits`` (as in scikit-learn).
    """

    def __init__(self, n_splits: int = 5, *, shuffle: bool = False, random_state=None):
        super().__init__(n_splits, shuffle, random_state)

    def split(self, X, y=None, groups=None) -> Iterator[IndexPair]:
        """Yields ``(train_idx, val_idx)`` int64 index arrays, one pair per fold; ``X`` is the number of samples N or
        an array-like of N samples. ``y`` and ``groups`` are ignored.
        """
        n = _num_samples(X)
        self._check(n)
        indices = np.arange(n)
        if self.shuffle:
            _random_state(self.random_state).shuffle(indices)
        sizes = np.full(self.n_splits, n // self.n_splits, dtype=np.int64)
        sizes[: n % self.n_splits] += 1
        all_idx = np.arange(n)
        for start, size in zip(np.cumsum(sizes) - sizes, sizes):
            mask = np.zeros(n, dtype=bool)
            mask[indices[start:start + size]] = True
            yield all_idx[~mask], all_idx[mask]


class StratifiedKFold(_KFoldBase):
    """K folds that keep each class's proportion (scikit-learn's allocation, class by class).

    Classes are numbered by first appearance; each class's samples are dealt to the folds in
    blocks whose sizes come from a round robin over the sorted labels.
    """

    def __init__(self, n_splits: int = 5, *, shuffle: bool = False, random_state=None):
        super().__init__(n_splits, shuffle, random_state)

    def _test_folds(self, y: np.ndarray) -> np.ndarray:
        rng = _random_state(self.random_state)
        _, first, inverse = np.unique(y, return_index=True, return_inverse=True)
        _, class_perm = np.unique(first, return_inverse=True)
        encoded = class_perm[inverse.reshape(-1)]  # classes in order of first appearance
        n_classes = len(first)
        counts = np.bincount(encoded, minlength=n_classes)
        if np.all(self.n_splits > counts):
            raise ValueError(f"StratifiedKFold: n_splits={self.n_splits} cannot be greater than the number of "
                             f"members in each class (class counts {counts.tolist()})")
        if self.n_splits > counts.min():
            warnings.warn(f"StratifiedKFold: the least populated class in y has only {counts.min()} members, "
                          f"which is less than n_splits={self.n_splits}", UserWarning, stacklevel=3)
        order = np.sort(encoded)
        fold_of_position = np.arange(len(order)) % self.n_splits
        allocation = np.bincount(fold_of_position * n_classes + order,
                                 minlength=self.n_splits * n_classes).reshape(self.n_splits, n_classes)
        test_folds = np.empty(len(y), dtype=np.int64)
        for k in range(n_classes):
            folds_for_class = np.repeat(np.arange(self.n_splits), allocation[:, k])
            if self.shuffle:
                rng.shuffle(folds_for_class)
            test_folds[encoded == k] = folds_for_class
        return test_folds

    def split(self, X, y, groups=None) -> Iterator[IndexPair]:
        """Yields ``(train_idx, val_idx)`` int64 index arrays, one pair per fold; ``X`` is the number of samples N or
        an array-like of N samples. ``y``: class labels of shape (N,), whose proportions every fold keeps.
        """
        n = _num_samples(X)
        self._check(n)
        y = _labels(y)
        if len(y) != n:
            raise ValueError(f"StratifiedKFold: X has {n} samples but y has {len(y)}")
        folds = self._test_folds(y)
        indices = np.arange(n)
        for i in range(self.n_splits):
            mask = folds == i
            yield indices[~mask], indices[mask]


class LeaveOneOut:
    """N splits: each sample is the validation set once, the other N - 1 the training set."""

    def get_n_splits(self, X, y=None, groups=None) -> int:
        """N, the number of samples in ``X``: one split per sample."""
        return _num_samples(X)

    def split(self, X, y=None, groups=None) -> Iterator[IndexPair]:
        """Yields N pairs ``(train_idx, val_idx)``: the other N - 1 indices and the one held-out index."""
        n = _num_samples(X)
        if n <= 1:
            raise ValueError(f"LeaveOneOut: cannot perform LeaveOneOut with n_samples={n}")
        indices = np.arange(n)
        for i in range(n):
            yield np.concatenate([indices[:i], indices[i + 1:]]), indices[i:i + 1]

    def __repr__(self) -> str:
        return "LeaveOneOut()"


def _split_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    """Every split but the first gets ceil(frac * n) (at least 1 if frac > 0); the first the rest."""
    rest = [math.ceil(f * n - 1e-9) for f in fractions[1:]]
    first = n - sum(rest)
    if first < 0 or (fractions[0] > 0 and first == 0):
        raise ValueError(f"train_val_test_split: fractions {tuple(fractions)} leave no training samples of {n}")
    return [first, *rest]


def train_val_test_split(data: Any, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int | None = 0,
                         stratify: Any = None) -> tuple:
    """Shuffle the N samples and cut them into train / validation (/ test) parts.

    Args:
        data: the number of samples N, an array-like of N samples, or a ``Dataset``.
        fractions: two or three fractions summing to 1: (train, val) or (train, val, test). The
            val and test parts get ceil(frac * N) samples, the training part the remainder.
        seed: seeds the permutation (``np.random.default_rng(seed)``); None draws from shendu's
            global generator.
        stratify: class labels of shape (N,): each part then holds every class in (rounded)
            proportion to its size, as scikit-learn's ``stratify=``.

    Returns:
        a tuple of sorted int64 index arrays, one per fraction, or of ``Subset``s when ``data``
        is a ``Dataset``.
    """
    from shendu.data.dataset import Dataset, Subset
    from shendu.random import _generator
    if len(fractions) not in (2, 3) or any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"train_val_test_split: expected 2 or 3 non-negative fractions summing to 1, "
                         f"got {tuple(fractions)}")
    n = _num_samples(data)
    rng = np.random.default_rng(seed) if seed is not None else _generator()
    sizes = _split_sizes(n, fractions)
    order = rng.permutation(n)
    if stratify is not None:
        y = _labels(stratify)
        if len(y) != n:
            raise ValueError(f"train_val_test_split: stratify has {len(y)} labels for {n} samples")
        # Rank the shuffled samples within their class and sort by rank / class size: every
        # stretch of the result (so every part) holds each class in proportion to its size.
        _, encoded = np.unique(y[order], return_inverse=True)
        by_class = np.argsort(encoded, kind="stable")
        counts = np.bincount(encoded)
        starts = np.cumsum(counts) - counts
        rank = np.empty(n, dtype=np.int64)
        rank[by_class] = np.arange(n) - np.repeat(starts, counts)
        order = order[np.argsort((rank + 0.5) / counts[encoded], kind="stable")]
    part = np.empty(n, dtype=np.int64)
    part[order] = np.repeat(np.arange(len(fractions)), sizes)
    out = tuple(np.flatnonzero(part == i) for i in range(len(fractions)))
    if isinstance(data, Dataset):
        return tuple(Subset(data, idx.tolist()) for idx in out)
    return out


def standardize(X: Any, fit_on: Any, eps: float = 0.0) -> tuple:
    """Scale every feature (column) to zero mean and unit variance with statistics of ``fit_on`` rows only.

    Model selection must not see the held-out rows: fit the mean and standard deviation on the
    training split and apply them to every split (scikit-learn's ``StandardScaler().fit(X[train])``).

    Args:
        X: samples of shape (N, D), a Tensor or an array.
        fit_on: the training rows: an int index array (as ``train_val_test_split`` returns) or a
            boolean mask of shape (N,).
        eps: added to the standard deviation; a feature that is constant on the training rows is
            divided by 1 instead of 0.

    Returns:
        ``(X_scaled, mean, std)``: ``X_scaled`` of shape (N, D) in ``X``'s type and dtype (a Tensor
        for a Tensor), ``mean`` and ``std`` the (D,) statistics used, as NumPy arrays.
    """
    from shendu.tensor import Tensor
    raw = X._data if isinstance(X, Tensor) else np.asarray(X)
    if raw.ndim != 2:
        raise ValueError(f"standardize: expected samples of shape (N, D), got shape {tuple(raw.shape)}")
    idx = np.asarray(getattr(fit_on, "_data", fit_on))
    if idx.dtype == bool and idx.shape != (raw.shape[0],):
        raise ValueError(f"standardize: a boolean fit_on must have shape ({raw.shape[0]},), got {idx.shape}")
    if idx.dtype != bool and (idx.ndim != 1 or idx.dtype.kind not in "iu"):
        raise ValueError(f"standardize: fit_on must be int row indices or a boolean mask, got {idx.dtype} "
                         f"of shape {idx.shape}")
    rows = raw[idx].astype(np.float64)
    if rows.shape[0] == 0:
        raise ValueError("standardize: fit_on selects no rows to take the statistics from")
    mean, std = rows.mean(axis=0), rows.std(axis=0) + eps
    std = np.where(std == 0, 1.0, std)
    scaled = ((raw - mean) / std).astype(raw.dtype if raw.dtype.kind == "f" else np.float32)
    return (Tensor._wrap(scaled) if isinstance(X, Tensor) else scaled), mean, std
