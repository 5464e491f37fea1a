"""Threshold curves of a binary classifier's scores: ROC and precision-recall, and their areas.

Same points, thresholds and areas as scikit-learn: scores are sorted in decreasing order (stable),
tied scores form one threshold, and the cumulative true/false positive counts at each distinct
score are the curve.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from shendu.metrics.base import check_lengths, to_numpy
from shendu.metrics.classification import UndefinedMetricWarning, _labels_1d, _weights


def _binary_scores(y_score: Any) -> np.ndarray:
    s = to_numpy(y_score, "y_score")
    if s.ndim == 2 and s.shape[1] == 2:  # (N, 2) probabilities: the positive class's column
        s = s[:, 1]
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim != 1:
        raise ValueError(f"metrics: binary curves need scores of shape (N,) (or (N, 2)), got shape {s.shape}")
    return s


def _pos_label(t: np.ndarray, pos_label: Any) -> Any:
    classes = np.unique(t)
    if pos_label is not None:
        return pos_label
    if len(classes) > 2 or not (set(classes.tolist()) <= {0, 1} or set(classes.tolist()) <= {-1, 1}):
        raise ValueError(f"metrics: y_true takes values {classes.tolist()}; pass pos_label= (binary labels "
                         "other than {0, 1} or {-1, 1} need it)")
    return 1


def _clf_curve(y_true: Any, y_score: Any, pos_label: Any = None, sample_weight: Any = None):
    """(fps, tps, thresholds): weighted false/true positive counts at each distinct score, high to low."""
    t, s = _labels_1d(y_true, "y_true"), _binary_scores(y_score)
    check_lengths("metrics", y_true=t, y_score=s)
    if not np.all(np.isfinite(s)):
        raise ValueError("metrics: y_score contains NaN or infinity")
    positive = (t == _pos_label(t, pos_label)).astype(np.float64)
    w = _weights(sample_weight, len(t))
    if w is not None:
        keep = w != 0
        positive, s, w = positive[keep], s[keep], w[keep]
    order = np.argsort(-s, kind="stable")
    s, positive = s[order], positive[order]
    w = 1.0 if w is None else w[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last index of each distinct score
    tps = np.cumsum(positive * w)[last]
    fps = np.cumsum((1 - positive) * w)[last] if sample_weight is not None else 1 + last - tps
    return fps, tps, s[last]


def roc_curve(y_true: Any, y_score: Any, pos_label: Any = None, sample_weight: Any = None,
              drop_intermediate: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Receiver operating characteristic: false and true positive rates at decreasing thresholds.

    Returns ``(fpr, tpr, thresholds)``; the first point is (0, 0) at threshold +inf.
    ``drop_intermediate`` removes points collinear with their neighbours (the area is unchanged).
    """
    fps, tps, thr = _clf_curve(y_true, y_score, pos_label, sample_weight)
    if drop_intermediate and len(fps) > 2:
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    thr = np.r_[np.inf, thr.astype(np.float64)]
    if fps[-1] <= 0:
        warnings.warn("roc_curve: no negative samples in y_true; the false positive rate is undefined",
                      UndefinedMetricWarning, stacklevel=2)
        fpr = np.full(fps.shape, np.nan)
    else:
        fpr = fps / fps[-1]
    if tps[-1] <= 0:
        warnings.warn("roc_curve: no positive samples in y_true; the true positive rate is undefined",
                      UndefinedMetricWarning, stacklevel=2)
        tpr = np.full(tps.shape, np.nan)
    else:
        tpr = tps / tps[-1]
    return fpr, tpr, thr


def auc(x: Any, y: Any) -> float:
    """The area under the curve y(x) by the trapezoidal rule (x monotonic, either direction)."""
    x, y = np.asarray(to_numpy(x, "x"), dtype=np.float64), np.asarray(to_numpy(y, "y"), dtype=np.float64)
    if len(x) < 2:
        raise ValueError(f"auc: at least 2 points are needed to compute the area under a curve, got {len(x)}")
    dx = np.diff(x)
    direction = 1.0
    if np.any(dx < 0):
        if np.all(dx <= 0):
            direction = -1.0
        else:
            raise ValueError("auc: x is neither increasing nor decreasing")
    return float(direction * np.sum(dx * (y[1:] + y[:-1]) / 2))


def roc_auc_score(y_true: Any, y_score: Any, sample_weight: Any = None, pos_label: Any = None) -> float:
    """Area under the ROC curve of a binary problem: P(score of a positive > score of a negative),
    ties counting one half. ``y_score`` (N,) scores the positive class (or is (N, 2) probabilities).
    """
    t = _labels_1d(y_true, "y_true")
    if len(np.unique(t)) != 2:
        warnings.warn("roc_auc_score: only one class is present in y_true; ROC AUC is not defined",
                      UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    fpr, tpr, _ = roc_curve(t, y_score, pos_label=pos_label, sample_weight=sample_weight)
    return auc(fpr, tpr)


def precision_recall_curve(y_true: Any, y_score: Any, pos_label: Any = None, sample_weight: Any = None,
                           drop_intermediate: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall at increasing thresholds.

    Returns ``(precision, recall, thresholds)``; precision and recall have one more entry than
    thresholds: the final point (precision 1, recall 0).
    """
    fps, tps, thr = _clf_curve(y_true, y_score, pos_label, sample_weight)
    if drop_intermediate and len(fps) > 2:
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:])), True])
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    ps = tps + fps
    precision = np.where(ps != 0, tps / np.where(ps != 0, ps, 1.0), 0.0)
    if tps[-1] == 0:
        warnings.warn("precision_recall_curve: no positive class found in y_true; recall is set to one for all "
                      "thresholds", UndefinedMetricWarning, stacklevel=2)
        recall = np.ones_like(tps)
    else:
        recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thr[::-1]


def average_precision_score(y_true: Any, y_score: Any, pos_label: Any = 1, sample_weight: Any = None) -> float:
    """AP = Σ_n (R_n - R_{n-1}) P_n: precision averaged over the recall steps (no interpolation)."""
    t = _labels_1d(y_true, "y_true")
    present = np.unique(t)
    if len(present) == 2 and pos_label not in present:
        raise ValueError(f"average_precision_score: pos_label={pos_label} is not a valid label; it should be one "
                         f"of {present.tolist()}")
    precision, recall, _ = precision_recall_curve(t, y_score, pos_label=pos_label, sample_weight=sample_weight)
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))
