"""Stateful metrics for training loops: ``update`` per batch, ``compute`` at the end, ``reset``.

The functional metrics (``shendu.metrics.accuracy``, ``r2_score``...) follow scikit-learn's
argument order ``(y_true, y_pred)``; the stateful ones follow torchmetrics' ``update(preds, target)``.
Both accept Tensors (any device), NumPy arrays or lists, and return Python floats or NumPy arrays.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from shendu import backend


def to_numpy(x: Any, name: str = "input") -> np.ndarray:
    """A NumPy array from a Tensor (detached, moved to the CPU), an array, a list or a number."""
    data = getattr(x, "_data", x)
    if data is None:
        raise TypeError(f"metrics: {name} is None")
    return backend.to_numpy(data) if not isinstance(data, np.ndarray) else data


def check_lengths(name: str, **arrays: np.ndarray) -> None:
    sizes = {k: len(v) for k, v in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{name}: inputs have different numbers of samples: {sizes}")


class Metric:
    """A running metric: ``update(...)`` accumulates, ``compute()`` reads, ``reset()`` clears."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Clear the accumulated state (``__init__`` calls it; the trainer calls it every epoch)."""
        raise NotImplementedError

    def update(self, *args, **kwargs) -> None:
        """Accumulate one batch (the arguments depend on the metric: usually ``preds, target``)."""
        raise NotImplementedError

    def compute(self) -> Any:
        """The metric over everything accumulated since the last ``reset()`` (NaN before any ``update``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Mean(Metric):
    """The (weighted) mean of every value passed to ``update`` (e.g. a loss averaged over an epoch).

    ``update(value, weight=1.0)``: value is a number, a 0-d Tensor or an array (all its elements
    count, each with ``weight``); pass ``weight=batch_size`` to average a per-batch mean loss
    per sample.
    """

    def reset(self) -> None:
        self.total, self.weight = 0.0, 0.0

    def update(self, value: Any, weight: float = 1.0) -> None:
        """Add ``value`` (a number, 0-d Tensor or array: each element counts with ``weight``)."""
        v = np.asarray(to_numpy(value, "value"), dtype=np.float64)
        self.total += float(v.sum()) * float(weight)
        self.weight += v.size * float(weight)

    def compute(self) -> float:
        return self.total / self.weight if self.weight else float("nan")


class Sum(Metric):
    """The sum of every value passed to ``update``."""

    def reset(self) -> None:
        self.total = 0.0

    def update(self, value: Any) -> None:
        """Add the sum of ``value``'s elements (a number, Tensor or array)."""
        self.total += float(np.asarray(to_numpy(value, "value"), dtype=np.float64).sum())

    def compute(self) -> float:
        return self.total
