"""Losses and metrics for the trainer: resolve names, check targets, track values over an epoch.

A loss is a Module (``nn.CrossEntropyLoss()``), a function ``(outputs, targets) -> scalar Tensor``
or a name (``'cross_entropy'``, ``'mse'``...). Known losses carry a *kind* that says what targets
they take, so bad labels fail with a clear message instead of a cryptic one inside the op:

- ``"class"`` (cross-entropy, NLL): integer class indices in ``[0, C)`` of shape (N, d1, ...) for
  outputs (N, C, d1, ...), or float probabilities of the outputs' shape (cross-entropy only);
- ``"binary_logits"`` / ``"binary_prob"`` (BCE with logits / BCE): float targets in [0, 1] of the
  outputs' shape;
- ``"regression"`` (MSE, L1, Huber, smooth L1): float targets of the outputs' shape.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from shendu import backend
from shendu.metrics.base import Mean, Metric
from shendu.tensor import Tensor


@dataclass
class LossSpec:
    fn: Callable
    name: str
    kind: str | None = None  # "class" | "binary_logits" | "binary_prob" | "regression" | None (unknown)
    ignore_index: int = -100


def _loss_table() -> dict:
    from shendu.nn import functional as F

    return {
        "cross_entropy": (F.cross_entropy, "class"), "nll_loss": (F.nll_loss, "class"),
        "mse_loss": (F.mse_loss, "regression"), "l1_loss": (F.l1_loss, "regression"),
        "smooth_l1_loss": (F.smooth_l1_loss, "regression"), "huber_loss": (F.huber_loss, "regression"),
        "binary_cross_entropy": (F.binary_cross_entropy, "binary_prob"),
        "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits, "binary_logits"),
    }


_ALIASES = {
    "ce": "cross_entropy", "crossentropy": "cross_entropy", "categorical_crossentropy": "cross_entropy",
    "sparse_categorical_crossentropy": "cross_entropy", "nll": "nll_loss", "mse": "mse_loss",
    "mean_squared_error": "mse_loss", "l1": "l1_loss", "mae": "l1_loss", "mean_absolute_error": "l1_loss",
    "smooth_l1": "smooth_l1_loss", "huber": "huber_loss", "bce": "binary_cross_entropy",
    "binary_crossentropy": "binary_cross_entropy", "bce_with_logits": "binary_cross_entropy_with_logits",
}
_MODULE_KINDS = {
    "CrossEntropyLoss": "class", "NLLLoss": "class", "MSELoss": "regression", "L1Loss": "regression",
    "SmoothL1Loss": "regression", "HuberLoss": "regression", "BCELoss": "binary_prob",
    "BCEWithLogitsLoss": "binary_logits",
}


def resolve_loss(loss: Any) -> LossSpec | None:
    """A ``LossSpec`` for a loss Module, function or name (None stays None)."""
    if loss is None:
        return None
    if isinstance(loss, str):
        table = _loss_table()
        key = _ALIASES.get(loss.lower(), loss.lower())
        if key not in table:
            names = sorted(set(table) | set(_ALIASES))
            raise ValueError(f"fit: unknown loss {loss!r}; expected a loss Module, a function or one of {names}")
        fn, kind = table[key]
        return LossSpec(fn, key, kind)
    if not callable(loss):
        raise TypeError(f"fit: loss must be a Module, a function or a name, got {type(loss).__name__}")
    if type(loss).__name__ in _MODULE_KINDS:
        name = type(loss).__name__
        return LossSpec(loss, name, _MODULE_KINDS[name], int(getattr(loss, "ignore_index", -100)))
    name = getattr(loss, "__name__", type(loss).__name__)
    kind = _loss_table()[name][1] if name in _loss_table() else None
    return LossSpec(loss, name, kind)


def check_targets(spec: LossSpec, outputs: Any, targets: Any) -> None:
    """Raise a ValueError when ``targets`` cannot be what ``spec``'s loss expects for ``outputs``."""
    if spec is None or spec.kind is None or not isinstance(outputs, Tensor) or not isinstance(targets, Tensor):
        return
    out, tgt = outputs.shape, targets.shape
    kind = targets.dtype.kind
    if spec.kind == "class":
        if kind == "f" and tgt == out and spec.name in ("cross_entropy", "CrossEntropyLoss"):
            return  # class probabilities
        if kind not in "iu":
            raise ValueError(f"{spec.name} expects integer class indices as labels (or float class probabilities "
                             f"of the outputs' shape {out}), got labels of dtype {targets.dtype} and shape {tgt}; "
                             "convert them with y.long() or pick a regression loss")
        expected = (out[0],) + out[2:] if len(out) >= 2 else ()
        if tgt != expected:
            raise ValueError(f"{spec.name}: outputs of shape {out} expect labels of shape {expected}, got {tgt}")
        check_label_range(spec, targets._data, out[1] if len(out) >= 2 else out[0])
        return
    if kind not in "f":
        raise ValueError(f"{spec.name} expects floating-point targets, got dtype {targets.dtype}; for class labels "
                         "use cross_entropy, otherwise convert them with y.float()")
    if tgt != out:
        raise ValueError(f"{spec.name}: outputs of shape {out} and targets of shape {tgt} differ (they would "
                         f"broadcast); reshape the targets to {out}")
    if spec.kind.startswith("binary"):
        xp = backend.array_module(targets._data)
        if targets._data.size and (float(xp.min(targets._data)) < 0 or float(xp.max(targets._data)) > 1):
            raise ValueError(f"{spec.name} expects targets in [0, 1], got values in "
                             f"[{float(xp.min(targets._data))}, {float(xp.max(targets._data))}]")


def check_label_range(spec: LossSpec, labels, num_classes: int) -> None:
    """Class indices must lie in [0, num_classes) (or equal the loss's ignore_index)."""
    xp = backend.array_module(labels)
    valid = labels[labels != spec.ignore_index]
    if valid.size == 0:
        return
    lo, hi = int(xp.min(valid)), int(xp.max(valid))
    if lo < 0 or hi >= num_classes:
        raise ValueError(f"{spec.name}: labels must be class indices in [0, {num_classes}) (the model outputs "
                         f"{num_classes} classes), got labels in [{lo}, {hi}]")


# -- metrics ---------------------------------------------------------------------------------------
class ClassAccuracy(Metric):
    """Accuracy of argmax over dim 1 of outputs (N, C, d1, ...) against labels (N, d1, ...), skipping
    ``ignore_index``; float (probability) targets are compared by their argmax too."""

    def __init__(self, ignore_index: int = -100):
        self.ignore_index = ignore_index
        super().__init__()

    def reset(self) -> None:
        self.correct, self.total = 0, 0

    def update(self, preds: Tensor, target: Tensor) -> None:
        p, t = preds._data, target._data
        xp = backend.array_module(p)
        if t.dtype.kind == "f" and t.shape == p.shape:
            t = xp.argmax(t, axis=1) if p.ndim >= 2 else xp.argmax(t)
        pred = xp.argmax(p, axis=1) if p.ndim >= 2 else xp.argmax(p)
        keep = t != self.ignore_index
        self.correct += int(((pred == t) & keep).sum())
        self.total += int(keep.sum())

    def compute(self) -> float:
        return self.correct / self.total if self.total else float("nan")


class BinaryAccuracy(Metric):
    """Accuracy of ``outputs > threshold`` against targets in {0, 1} of the same shape."""

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold
        super().__init__()

    def reset(self) -> None:
        self.correct, self.total = 0, 0

    def update(self, preds: Tensor, target: Tensor) -> None:
        hits = (preds._data > self.threshold) == (target._data > 0.5)
        self.correct += int(hits.sum())
        self.total += int(hits.size)

    def compute(self) -> float:
        return self.correct / self.total if self.total else float("nan")


class EpochFunction(Metric):
    """A function metric ``fn(y_true, y_pred)`` (scikit-learn's order) computed once per epoch on the
    concatenated targets and outputs, so metrics that do not average over batches (F1, AUC) are exact."""

    def __init__(self, fn: Callable):
        self.fn = fn
        super().__init__()

    def reset(self) -> None:
        self.outputs, self.targets = [], []

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.outputs.append(backend.to_numpy(preds._data))
        self.targets.append(backend.to_numpy(target._data))

    def compute(self) -> float:
        if not self.outputs:
            return float("nan")
        y_true, y_pred = np.concatenate(self.targets), np.concatenate(self.outputs)
        value = self.fn(Tensor._wrap(y_true), Tensor._wrap(y_pred))
        return float(value.item() if isinstance(value, Tensor) else value)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def resolve_metrics(metrics: Any, spec: LossSpec | None) -> dict[str, Metric]:
    """``{log name: Metric}`` for names, Metric instances and ``fn(y_true, y_pred)`` callables.

    ``metrics=None`` means accuracy for classification losses and nothing otherwise.
    """
    import shendu.metrics as M

    kind = spec.kind if spec is not None else None
    if metrics is None:
        metrics = ("accuracy",) if kind in ("class", "binary_logits", "binary_prob") else ()
    if isinstance(metrics, (str, Metric)) or callable(metrics):
        metrics = (metrics,)
    out: dict[str, Metric] = {}
    for m in metrics:
        if isinstance(m, str):
            name, key = m, m.lower()
            if key in ("accuracy", "acc"):
                if kind == "class":
                    metric = ClassAccuracy(spec.ignore_index)
                elif kind in ("binary_logits", "binary_prob"):
                    metric = BinaryAccuracy(0.0 if kind == "binary_logits" else 0.5)
                else:
                    raise ValueError(f"fit: metric 'accuracy' needs a classification loss (cross_entropy, nll_loss, "
                                     f"BCE), got loss {spec.name if spec else None!r}")
            elif key in ("mse", "mean_squared_error"):
                metric = M.MeanSquaredError()
            elif key in ("rmse", "root_mean_squared_error"):
                metric = M.MeanSquaredError(squared=False)
            elif key in ("mae", "mean_absolute_error"):
                metric = M.MeanAbsoluteError()
            elif key == "perplexity":
                metric = M.Perplexity(spec.ignore_index if spec else -100)
            elif isinstance(getattr(M, m, None), type) and issubclass(getattr(M, m), Metric):
                metric = getattr(M, m)()
            elif callable(getattr(M, m, None)):
                metric = EpochFunction(getattr(M, m))
            else:
                raise ValueError(f"fit: unknown metric {m!r}; expected a shendu.metrics name, a Metric or a callable")
        elif isinstance(m, Metric):
            name, metric = getattr(m, "name", None) or _snake(type(m).__name__), m
        elif callable(m):
            name, metric = getattr(m, "__name__", type(m).__name__), EpochFunction(m)
        else:
            raise TypeError(f"fit: a metric must be a name, a Metric or a callable, got {type(m).__name__}")
        if name in out or name == "loss":
            raise ValueError(f"fit: metric name {name!r} is used twice")
        out[name] = metric
    return out


__all__ = ["BinaryAccuracy", "ClassAccuracy", "EpochFunction", "LossSpec", "Mean", "check_label_range",
           "check_targets", "resolve_loss", "resolve_metrics"]
