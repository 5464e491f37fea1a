"""Regression metrics with scikit-learn's names, arguments and values.

``y_true`` and ``y_pred`` have shape (N,) or (N, K) for K outputs; ``multioutput`` is
``"uniform_average"`` (the default: the mean over outputs), ``"raw_values"`` (one value per output)
or an array of K weights.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from shendu.metrics.base import Metric, to_numpy


def _pair(name: str, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(to_numpy(y_true, "y_true"), dtype=np.float64)
    p = np.asarray(to_numpy(y_pred, "y_pred"), dtype=np.float64)
    t, p = (t[:, None] if t.ndim == 1 else t), (p[:, None] if p.ndim == 1 else p)
    if t.shape != p.shape or t.ndim != 2:
        raise ValueError(f"{name}: y_true of shape {to_numpy(y_true).shape} and y_pred of shape "
                         f"{to_numpy(y_pred).shape} must both be (N,) or both (N, K) with equal shapes")
    return t, p


def _reduce(per_output: np.ndarray, multioutput: Any):
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return per_output
        if multioutput == "uniform_average":
            return float(np.mean(per_output))
        raise ValueError(f"metrics: multioutput must be 'raw_values', 'uniform_average' or an array of weights, "
                         f"got {multioutput!r}")
    return float(np.average(per_output, weights=np.asarray(multioutput, dtype=np.float64)))


def _mean(values: np.ndarray, sample_weight: Any) -> np.ndarray:
    w = None if sample_weight is None else np.asarray(to_numpy(sample_weight, "sample_weight"), dtype=np.float64)
    return np.average(values, axis=0, weights=w)


def mean_squared_error(y_true: Any, y_pred: Any, sample_weight: Any = None,
                       multioutput: Any = "uniform_average"):
    """MSE = mean_n (y_n - ŷ_n)²."""
    t, p = _pair("mean_squared_error", y_true, y_pred)
    return _reduce(_mean((t - p) ** 2, sample_weight), multioutput)


def root_mean_squared_error(y_true: Any, y_pred: Any, sample_weight: Any = None,
                            multioutput: Any = "uniform_average"):
    """RMSE = sqrt(MSE), per output before averaging over outputs (as scikit-learn)."""
    t, p = _pair("root_mean_squared_error", y_true, y_pred)
    return _reduce(np.sqrt(_mean((t - p) ** 2, sample_weight)), multioutput)


def mean_absolute_error(y_true: Any, y_pred: Any, sample_weight: Any = None,
                        multioutput: Any = "uniform_average"):
    """MAE = mean_n |y_n - ŷ_n|."""
    t, p = _pair("mean_absolute_error", y_true, y_pred)
    return _reduce(_mean(np.abs(t - p), sample_weight), multioutput)


def r2_score(y_true: Any, y_pred: Any, sample_weight: Any = None, multioutput: Any = "uniform_average",
             force_finite: bool = True):
    """Coefficient of determination R² = 1 - Σ(y - ŷ)² / Σ(y - ȳ)².

    A constant ``y_true`` gives 1.0 for a perfect prediction and 0.0 otherwise (``force_finite``;
    NaN / -inf without it). ``multioutput="variance_weighted"`` weights outputs by their variance.
    """
    t, p = _pair("r2_score", y_true, y_pred)
    if len(t) < 2:
        raise ValueError(f"r2_score: R² is not well-defined with fewer than two samples, got {len(t)}")
    w = np.ones((len(t), 1)) if sample_weight is None else \
        np.asarray(to_numpy(sample_weight, "sample_weight"), dtype=np.float64).reshape(-1, 1)
    num = (w * (t - p) ** 2).sum(axis=0)
    den = (w * (t - np.average(t, axis=0, weights=w[:, 0])) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = 1 - num / den
    if force_finite:
        scores = np.where(den == 0, np.where(num == 0, 1.0, 0.0), scores)
    if isinstance(multioutput, str) and multioutput == "variance_weighted":
        return float(np.average(scores, weights=den)) if den.sum() else float(np.mean(scores))
    return _reduce(scores, multioutput)


def explained_variance_score(y_true: Any, y_pred: Any, sample_weight: Any = None,
                             multioutput: Any = "uniform_average"):
    """1 - Var(y - ŷ) / Var(y) (a constant ``y_true`` gives 1.0 or 0.0 as in ``r2_score``)."""
    t, p = _pair("explained_variance_score", y_true, y_pred)
    diff = t - p
    num = _mean((diff - _mean(diff, sample_weight)) ** 2, sample_weight)
    den = _mean((t - _mean(t, sample_weight)) ** 2, sample_weight)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(den == 0, np.where(num == 0, 1.0, 0.0), 1 - num / den)
    return _reduce(scores, multioutput)


class MeanSquaredError(Metric):
    """Running MSE over every element seen: ``update(preds, target)``; ``squared=False`` gives RMSE."""

    def __init__(self, squared: bool = True):
        self.squared = squared
        super().__init__()

    def reset(self) -> None:
        self.sum_squared_error, self.total = 0.0, 0

    def update(self, preds: Any, target: Any) -> None:
        """Add a batch: ``preds`` and ``target`` of one shape; every element counts."""
        p = np.asarray(to_numpy(preds, "preds"), dtype=np.float64)
        t = np.asarray(to_numpy(target, "target"), dtype=np.float64)
        if p.shape != t.shape:
            raise ValueError(f"MeanSquaredError.update: preds of shape {p.shape} and target of shape {t.shape} differ")
        self.sum_squared_error += float(((p - t) ** 2).sum())
        self.total += p.size

    def compute(self) -> float:
        if not self.total:
            return float("nan")
        mse = self.sum_squared_error / self.total
        return mse if self.squared else float(np.sqrt(mse))


class MeanAbsoluteError(Metric):
    """Running MAE over every element seen: ``update(preds, target)``."""

    def reset(self) -> None:
        self.sum_abs_error, self.total = 0.0, 0

    def update(self, preds: Any, target: Any) -> None:
        """Add a batch: ``preds`` and ``target`` of one shape; every element counts."""
        p = np.asarray(to_numpy(preds, "preds"), dtype=np.float64)
        t = np.asarray(to_numpy(target, "target"), dtype=np.float64)
        if p.shape != t.shape:
            raise ValueError(f"MeanAbsoluteError.update: preds of shape {p.shape} and target of shape {t.shape} "
                             "differ")
        self.sum_abs_error += float(np.abs(p - t).sum())
        self.total += p.size

    def compute(self) -> float:
        return self.sum_abs_error / self.total if self.total else float("nan")
