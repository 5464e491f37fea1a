"""Classification metrics with scikit-learn's names, arguments and values.

``y_true`` holds class labels (N,); ``y_pred`` labels (N,) or, for ``accuracy``, scores (N, C)
whose argmax is the prediction; ``y_score``/``y_proba`` are scores or probabilities (N, C).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from shendu.metrics.base import Metric, check_lengths, to_numpy


class UndefinedMetricWarning(UserWarning):
    """A metric is ill-defined for the given input (e.g. precision with no predicted positives)."""


def _labels_1d(y: Any, name: str) -> np.ndarray:
    y = to_numpy(y, name)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"metrics: {name} must be class labels of shape (N,), got shape {y.shape}")
    return y


def _predictions(y_pred: Any) -> np.ndarray:
    """Labels (N,), or the argmax of scores (N, C)."""
    p = to_numpy(y_pred, "y_pred")
    return p.argmax(axis=1) if p.ndim == 2 and p.shape[1] > 1 else _labels_1d(p, "y_pred")


def _weights(sample_weight: Any, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = np.asarray(to_numpy(sample_weight, "sample_weight"), dtype=np.float64).reshape(-1)
    if len(w) != n:
        raise ValueError(f"metrics: sample_weight has {len(w)} entries for {n} samples")
    return w


def accuracy(y_true: Any, y_pred: Any, normalize: bool = True, sample_weight: Any = None) -> float:
    """The fraction (or with ``normalize=False`` the number) of correct predictions."""
    t, p = _labels_1d(y_true, "y_true"), _predictions(y_pred)
    check_lengths("accuracy", y_true=t, y_pred=p)
    hits = (t == p).astype(np.float64)
    w = _weights(sample_weight, len(t))
    if not normalize:
        return float(hits.sum() if w is None else (hits * w).sum())
    return float(np.average(hits, weights=w))


def top_k_accuracy(y_true: Any, y_score: Any, k: int = 2, normalize: bool = True, sample_weight: Any = None,
                   labels: Sequence | None = None) -> float:
    """The fraction of samples whose true class is among the k highest scores (N, C).

    Column j of ``y_score`` belongs to ``labels[j]`` (default: the sorted classes of ``y_true``,
    which must then number C). Ties rank the later column first, as in scikit-learn.
    """
    t, s = _labels_1d(y_true, "y_true"), to_numpy(y_score, "y_score")
    check_lengths("top_k_accuracy", y_true=t, y_score=s)
    classes = np.unique(t) if labels is None else np.asarray(labels)
    if s.ndim == 1 or s.shape[1] == 1:  # binary scores for the positive class
        if k == 1:
            threshold = 0.5 if s.min() >= 0 and s.max() <= 1 else 0
            hits = (s.reshape(-1) > threshold).astype(np.int64) == np.searchsorted(classes, t)
        else:
            hits = np.ones(len(t), dtype=bool)
    else:
        if len(classes) != s.shape[1]:
            raise ValueError(f"top_k_accuracy: {len(classes)} classes in y_true (or labels) but y_score has "
                             f"{s.shape[1]} columns; pass labels= with all {s.shape[1]} classes")
        encoded = np.searchsorted(classes, t)
        top = np.argsort(s, axis=1, kind="mergesort")[:, ::-1][:, :k]
        hits = (top == encoded[:, None]).any(axis=1)
    w = _weights(sample_weight, len(t))
    if not normalize:
        return float(hits.sum() if w is None else (hits * w).sum())
    return float(np.average(hits, weights=w))


def confusion_matrix(y_true: Any, y_pred: Any, labels: Sequence | None = None, sample_weight: Any = None,
                     normalize: str | None = None) -> np.ndarray:
    """C[i, j] = number of samples of true class labels[i] predicted as labels[j].

    ``labels`` default to the sorted union of both inputs; samples whose labels are not in
    ``labels`` are ignored. ``normalize``: None, ``"true"`` (rows sum to 1), ``"pred"`` (columns)
    or ``"all"``. Returns an int64 array (float64 when weighted or normalized) of shape (K, K).
    """
    t, p = _labels_1d(y_true, "y_true"), _predictions(y_pred)
    check_lengths("confusion_matrix", y_true=t, y_pred=p)
    labels = np.unique(np.concatenate([t, p])) if labels is None else np.asarray(labels)
    k = len(labels)
    ti, pi = _index_in(t, labels), _index_in(p, labels)
    keep = (ti >= 0) & (pi >= 0)
    w = _weights(sample_weight, len(t))
    cm = np.bincount(ti[keep] * k + pi[keep], weights=None if w is None else w[keep], minlength=k * k).reshape(k, k)
    if w is None:
        cm = cm.astype(np.int64)
    if normalize is None:
        return cm
    axis = {"true": 1, "pred": 0, "all": None}.get(normalize, "bad")
    if axis == "bad":
        raise ValueError(f"confusion_matrix: normalize must be None, 'true', 'pred' or 'all', got {normalize!r}")
    with np.errstate(all="ignore"):
        out = cm / cm.sum(axis=axis, keepdims=axis is not None)
    return np.nan_to_num(out)


def _index_in(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Position of each value in ``labels`` (any order), -1 where absent."""
    if len(labels) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    order = np.argsort(labels, kind="stable")
    pos = np.minimum(np.searchsorted(labels[order], values), len(labels) - 1)
    return np.where(labels[order][pos] == values, order[pos], -1)


def _divide(num: np.ndarray, den: np.ndarray, zero_division, what: str) -> np.ndarray:
    """num / den with ``zero_division`` where den == 0 ("warn": 0.0 and a warning)."""
    mask = den == 0
    out = num / np.where(mask, 1.0, den)
    if mask.any():
        out[mask] = 0.0 if zero_division == "warn" else float(zero_division)
        if zero_division == "warn":
            warnings.warn(f"{what} is ill-defined and being set to 0.0 for labels with no samples; use "
                          "zero_division to control this", UndefinedMetricWarning, stacklevel=4)
    return out


def _nanaverage(a: np.ndarray, weights: np.ndarray | None) -> float:
    keep = ~np.isnan(a)
    if not keep.any():
        return float("nan")
    if weights is None or weights[keep].sum() == 0:
        return float(np.average(a[keep]))
    return float(np.average(a[keep], weights=weights[keep]))


def precision_recall_fscore_support(y_true: Any, y_pred: Any, beta: float = 1.0, labels: Sequence | None = None,
                                    pos_label: Any = 1, average: str | None = None, sample_weight: Any = None,
                                    zero_division: str | float = "warn"):
    """Precision tp/(tp+fp), recall tp/(tp+fn), F-beta and support per label, or averaged.

    Args:
        average: None (per-label arrays), ``"binary"`` (only ``pos_label``; the labels must be at
            most two), ``"micro"`` (from the summed counts), ``"macro"`` (unweighted mean over
            labels), ``"weighted"`` (mean weighted by support).
        zero_division: the value where a denominator is 0: ``"warn"`` (0.0 with a warning), 0, 1
            or ``np.nan`` (then left out of the averages).

    Returns:
        (precision, recall, fbeta, support); floats and support None when averaged.
    """
    if average not in (None, "binary", "micro", "macro", "weighted"):
        raise ValueError(f"precision_recall_fscore_support: average must be None, 'binary', 'micro', 'macro' "
                         f"or 'weighted', got {average!r}")
    t, p = _labels_1d(y_true, "y_true"), _predictions(y_pred)
    check_lengths("precision_recall_fscore_support", y_true=t, y_pred=p)
    present = np.unique(np.concatenate([t, p]))
    if average == "binary":
        if len(present) > 2:
            raise ValueError(f"precision_recall_fscore_support: target is multiclass ({len(present)} labels) but "
                             "average='binary'; choose average='micro', 'macro' or 'weighted'")
        if pos_label not in present and len(present) >= 2:
            raise ValueError(f"precision_recall_fscore_support: pos_label={pos_label} is not a valid label; "
                             f"it should be one of {present.tolist()}")
        labels = np.asarray([pos_label])
    elif labels is None:
        labels = present
    else:
        labels = np.asarray(labels)
    k, w = len(labels), _weights(sample_weight, len(t))
    ti, pi = _index_in(t, labels), _index_in(p, labels)
    hit = (ti == pi) & (ti >= 0)
    tp = np.bincount(ti[hit], weights=None if w is None else w[hit], minlength=k).astype(np.float64)
    true_sum = np.bincount(ti[ti >= 0], weights=None if w is None else w[ti >= 0], minlength=k).astype(np.float64)
    pred_sum = np.bincount(pi[pi >= 0], weights=None if w is None else w[pi >= 0], minlength=k).astype(np.float64)
    if average == "micro":
        tp, true_sum, pred_sum = tp.sum(keepdims=True), true_sum.sum(keepdims=True), pred_sum.sum(keepdims=True)
    precision = _divide(tp, pred_sum, zero_division, "Precision")
    recall = _divide(tp, true_sum, zero_division, "Recall")
    if np.isposinf(beta):
        fscore = recall
    elif beta == 0:
        fscore = precision
    else:
        b2 = beta * beta
        fscore = _divide((1 + b2) * tp, b2 * true_sum + pred_sum, zero_division, "F-score")
    if average is None:
        return precision, recall, fscore, true_sum.astype(np.int64) if w is None else true_sum
    weights = true_sum if average == "weighted" else None
    return _nanaverage(precision, weights), _nanaverage(recall, weights), _nanaverage(fscore, weights), None


def precision_score(y_true: Any, y_pred: Any, labels=None, pos_label: Any = 1, average: str | None = "binary",
                    sample_weight: Any = None, zero_division: str | float = "warn"):
    """tp / (tp + fp): see ``precision_recall_fscore_support`` (default ``average="binary"``)."""
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
                                           sample_weight=sample_weight, zero_division=zero_division)[0]


def recall_score(y_true: Any, y_pred: Any, labels=None, pos_label: Any = 1, average: str | None = "binary",
                 sample_weight: Any = None, zero_division: str | float = "warn"):
    """tp / (tp + fn): see ``precision_recall_fscore_support`` (default ``average="binary"``)."""
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
                                           sample_weight=sample_weight, zero_division=zero_division)[1]


def fbeta_score(y_true: Any, y_pred: Any, beta: float, labels=None, pos_label: Any = 1,
                average: str | None = "binary", sample_weight: Any = None, zero_division: str | float = "warn"):
    """(1 + β²) tp / ((1 + β²) tp + β² fn + fp): see ``precision_recall_fscore_support``."""
    return precision_recall_fscore_support(y_true, y_pred, beta=beta, labels=labels, pos_label=pos_label,
                                           average=average, sample_weight=sample_weight,
                                           zero_division=zero_division)[2]


def f1_score(y_true: Any, y_pred: Any, labels=None, pos_label: Any = 1, average: str | None = "binary",
             sample_weight: Any = None, zero_division: str | float = "warn"):
    """The harmonic mean of precision and recall, 2 tp / (2 tp + fp + fn)."""
    return fbeta_score(y_true, y_pred, 1.0, labels=labels, pos_label=pos_label, average=average,
                       sample_weight=sample_weight, zero_division=zero_division)


precision, recall, f1 = precision_score, recall_score, f1_score
accuracy_score, top_k_accuracy_score = accuracy, top_k_accuracy


def log_loss(y_true: Any, y_proba: Any, normalize: bool = True, sample_weight: Any = None,
             labels: Sequence | None = None) -> float:
    """Mean negative log-likelihood -mean_n log p_n[y_n] of probabilities (N, C) or (N,) (binary, p = P(class 1)).

    Columns follow the sorted ``labels`` (default: the classes of ``y_true``); probabilities are
    clipped to [eps, 1 - eps] with eps the dtype's machine epsilon, as in scikit-learn.
    """
    t, prob = _labels_1d(y_true, "y_true"), to_numpy(y_proba, "y_proba")
    prob = prob.astype(np.float64) if prob.dtype.kind != "f" else prob
    if prob.ndim == 1:
        prob = prob[:, None]
    if prob.shape[1] == 1:
        prob = np.concatenate([1 - prob, prob], axis=1)
    check_lengths("log_loss", y_true=t, y_proba=prob)
    classes = np.unique(t) if labels is None else np.unique(np.asarray(labels))
    if len(classes) < 2:
        raise ValueError(f"log_loss: y_true contains only one label ({classes.tolist()}); pass labels= with all "
                         "the classes")
    if len(classes) != prob.shape[1]:
        raise ValueError(f"log_loss: {len(classes)} classes but y_proba has {prob.shape[1]} columns")
    idx = _index_in(t, classes)
    if (idx < 0).any():
        raise ValueError(f"log_loss: y_true contains labels not in labels={classes.tolist()}")
    eps = np.finfo(prob.dtype).eps
    nll = -np.log(np.clip(prob[np.arange(len(t)), idx], eps, 1 - eps)).astype(np.float64)
    w = _weights(sample_weight, len(t))
    if not normalize:
        return float(nll.sum() if w is None else (nll * w).sum())
    return float(np.average(nll, weights=w))


class Accuracy(Metric):
    """Running (top-k) accuracy: ``update(preds, target)`` with preds labels (N,) or scores (N, C)."""

    def __init__(self, top_k: int = 1):
        self.top_k = top_k
        super().__init__()

    def reset(self) -> None:
        self.correct, self.total = 0, 0

    def update(self, preds: Any, target: Any) -> None:
        """Add a batch: ``preds`` class labels (N,) or scores (N, C) (the top ``top_k`` scores count), ``target``
        labels (N,).
        """
        p, t = to_numpy(preds, "preds"), _labels_1d(target, "target")
        check_lengths("Accuracy.update", preds=p, target=t)
        if p.ndim == 2 and p.shape[1] > 1:
            if self.top_k == 1:
                top = p.argmax(axis=1)[:, None]
            else:  # ties rank the later column first, as top_k_accuracy
                top = np.argsort(p, axis=1, kind="mergesort")[:, ::-1][:, : self.top_k]
            self.correct += int((top == t[:, None]).any(axis=1).sum())
        else:
            self.correct += int((p.reshape(-1) == t).sum())
        self.total += len(t)

    def compute(self) -> float:
        return self.correct / self.total if self.total else float("nan")
