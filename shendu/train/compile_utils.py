"""What ``Trainer(loss=..., metrics=...)`` turns into: a ``LossSpec`` and ``{name: Metric}``.

A loss is a Module (``nn.CrossEntropyLoss()``), a function ``(outputs, targets) -> scalar Tensor``
or a name (``'cross_entropy'``, ``'mse'``...; a name stands for its loss Module). The loss itself
declares what targets it takes, in its ``target_kind`` attribute (``shendu.nn.losses``):

- ``"class_indices"``: integer class indices of shape (N, d1, ...) in ``[0, C)`` (or equal to the
  loss's ``ignore_index``) for outputs (N, C, d1, ...); float class probabilities of the outputs'
  shape are accepted too (cross-entropy's soft labels);
- ``"probabilities"``: float targets in [0, 1] of the outputs' shape (binary cross-entropy);
- ``"values"``: float targets of the outputs' shape (regression losses);
- ``"signs"``: labels 1 / -1 (hinge and soft-margin losses);
- ``"embeddings"``, ``"sequences"``: losses that compare inputs with each other or take label
  sequences (triplet, CTC); their targets are left to the loss (such runs need a custom step).

A callable without ``target_kind`` (a plain function, a lambda) is taken as it is: its targets
are not checked and it gets no default metric. ``check_targets`` raises ``TargetError`` (a
``ValueError``) with a message naming the loss, the shapes, dtypes or values, and the fix.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from shendu import backend
from shendu.metrics.base import Metric
from shendu.tensor import Tensor

TARGET_KINDS = ("class_indices", "probabilities", "values", "signs", "embeddings", "sequences")


class TargetError(ValueError):
    """Targets that cannot be what the loss expects."""


@dataclass(frozen=True)
class LossSpec:
    """A resolved loss: the callable, its name for messages, and what it declares about its targets."""

    fn: Callable
    name: str
    target_kind: str | None = None
    ignore_index: int = -100
    takes_logits: bool = False  # binary losses only: whether outputs are logits (accuracy threshold 0, not 0.5)


def _loss_modules() -> dict:
    from shendu import nn

    return {
        "cross_entropy": nn.CrossEntropyLoss, "nll_loss": nn.NLLLoss, "mse_loss": nn.MSELoss, "l1_loss": nn.L1Loss,
        "smooth_l1_loss": nn.SmoothL1Loss, "huber_loss": nn.HuberLoss, "binary_cross_entropy": nn.BCELoss,
        "binary_cross_entropy_with_logits": nn.BCEWithLogitsLoss, "kl_div": nn.KLDivLoss,
    }


_ALIASES = {
    "ce": "cross_entropy", "crossentropy": "cross_entropy", "categorical_crossentropy": "cross_entropy",
    "sparse_categorical_crossentropy": "cross_entropy", "nll": "nll_loss", "mse": "mse_loss",
    "mean_squared_error": "mse_loss", "l1": "l1_loss", "mae": "l1_loss", "mean_absolute_error": "l1_loss",
    "smooth_l1": "smooth_l1_loss", "huber": "huber_loss", "bce": "binary_cross_entropy",
    "binary_crossentropy": "binary_cross_entropy", "bce_with_logits": "binary_cross_entropy_with_logits",
    "kl_divergence": "kl_div",
}


def _takes_logits(loss: Any) -> bool:
    # target_kind says what the targets are, not what the outputs are; BCE-with-logits is the one
    # binary loss whose outputs are logits, so "accuracy" thresholds them at 0 instead of 0.5.
    from shendu.nn import BCEWithLogitsLoss
    from shendu.nn import functional as F

    return isinstance(loss, BCEWithLogitsLoss) or loss is F.binary_cross_entropy_with_logits


def resolve_loss(loss: Any) -> LossSpec | None:
    """A ``LossSpec`` for a loss Module, function or name (None stays None)."""
    if loss is None:
        return None
    name = None
    if isinstance(loss, str):
        table = _loss_modules()
        key = _ALIASES.get(loss.lower(), loss.lower())
        if key not in table:
            raise ValueError(f"Trainer: unknown loss {loss!r}; expected a loss Module, a function or one of "
                             f"{sorted(set(table) | set(_ALIASES))}")
        name, loss = key, table[key]()
    if not callable(loss):
        raise TypeError(f"Trainer: loss must be a Module, a function or a name, got {type(loss).__name__}")
    kind = getattr(loss, "target_kind", None)
    if kind is not None and kind not in TARGET_KINDS:
        raise ValueError(f"Trainer: the loss {type(loss).__name__} declares target_kind={kind!r}; expected one of "
                         f"{TARGET_KINDS} or None")
    name = name or getattr(loss, "__name__", None) or type(loss).__name__
    return LossSpec(loss, name, kind, int(getattr(loss, "ignore_index", -100)), _takes_logits(loss))


# -- targets -----------------------------------------------------------------------------------------
def _range(a) -> tuple:
    xp = backend.array_module(a)
    return xp.min(a).item(), xp.max(a).item()


def check_targets(spec: LossSpec | None, targets: Any, out_shape: tuple | None = None) -> None:
    """Raise ``TargetError`` when ``targets`` cannot be what ``spec``'s loss expects.

    Without ``out_shape`` (all labels of a dataset, before training) only what the labels show
    alone is checked: dtype, sign, [0, 1]. With the outputs' shape (one batch, in ``compute_loss``)
    also the shapes and the class range.
    """
    if spec is None or spec.target_kind in (None, "embeddings", "sequences") or not isinstance(targets, Tensor):
        return
    a, shape, dtype = targets._data, tuple(targets.shape), targets.dtype
    out = tuple(out_shape) if out_shape is not None else None
    if spec.target_kind == "class_indices":
        if dtype.kind == "f":
            if (out is None and len(shape) >= 2) or shape == out:
                return  # class probabilities over dim 1
            raise TargetError(f"{spec.name} expects integer class indices as labels (or float class probabilities "
                              f"of the outputs' shape{f' {out}' if out else ''}), got labels of dtype {dtype} and "
                              f"shape {shape}; convert them with y.long() or pick a regression loss")
        if dtype.kind not in "iu":
            raise TargetError(f"{spec.name} expects integer class indices as labels, got dtype {dtype}")
        if out is not None:
            expected = (out[0],) + out[2:] if len(out) >= 2 else ()
            if shape != expected:
                raise TargetError(f"{spec.name}: outputs of shape {out} expect labels of shape {expected}, "
                                  f"got {shape}")
        valid = a[a != spec.ignore_index]
        if valid.size == 0:
            return
        lo, hi = _range(valid)
        classes = None if out is None else (out[1] if len(out) >= 2 else out[0])
        if lo < 0 or (classes is not None and hi >= classes):
            bound = f"in [0, {classes}) (the model outputs {classes} classes)" if classes is not None else ">= 0"
            raise TargetError(f"{spec.name}: labels must be class indices {bound} or ignore_index="
                              f"{spec.ignore_index}, got labels in [{lo}, {hi}]")
        return
    if spec.target_kind == "signs":
        xp = backend.array_module(a)
        if a.size and not bool(xp.all((a == 1) | (a == -1))):
            lo, hi = _range(a)
            raise TargetError(f"{spec.name} expects labels 1 or -1, got values in [{lo}, {hi}]")
        return
    if dtype.kind != "f":
        hint = "for class labels use cross_entropy" if spec.target_kind == "values" else "convert them"
        raise TargetError(f"{spec.name} expects floating-point targets, got dtype {dtype}; {hint}, otherwise "
                          "convert them with y.float()")
    if out is not None and shape != out:
        raise TargetError(f"{spec.name}: outputs of shape {out} and targets of shape {shape} differ (they would "
                          f"broadcast); reshape the targets to {out}")
    if spec.target_kind == "probabilities" and a.size:
        lo, hi = _range(a)
        if lo < 0 or hi > 1:
            raise TargetError(f"{spec.name} expects targets in [0, 1], got values in [{lo}, {hi}]")


# -- metrics -------------------------------------------------------------------------------------------
class OnView(Metric):
    """A ``shendu.metrics`` Metric fed a view of ``(outputs, targets)``: ``view(outputs, targets) ->
    (preds, target)`` (e.g. class scores flattened to (M, C) with ignored labels dropped)."""

    def __init__(self, metric: Metric, view: Callable):
        self.metric, self.view = metric, view
        super().__init__()

    def reset(self) -> None:
        self.metric.reset()

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.metric.update(*self.view(preds, target))

    def compute(self) -> Any:
        return self.metric.compute()


def class_view(ignore_index: int) -> Callable:
    """Scores (N, C, d1, ...) -> (M, C) and labels (N, d1, ...) -> (M,), ignored labels dropped;
    probability targets become their argmax."""

    def view(preds: Tensor, target: Tensor) -> tuple:
        p, t = backend.to_numpy(preds._data), backend.to_numpy(target._data)
        if p.ndim < 2:  # one unbatched sample (C,)
            p, t = p[None], t[None]
        if t.dtype.kind == "f" and t.shape == p.shape:
            t = t.argmax(axis=1)
        p = np.moveaxis(p, 1, -1).reshape(-1, p.shape[1])
        t = t.reshape(-1)
        keep = t != ignore_index
        return p[keep], t[keep]
    return view


def binary_view(threshold: float) -> Callable:
    """Outputs thresholded to {0, 1} labels and targets in [0, 1] rounded at 0.5, both flattened."""

    def view(preds: Tensor, target: Tensor) -> tuple:
        p, t = backend.to_numpy(preds._data), backend.to_numpy(target._data)
        return (p > threshold).reshape(-1).astype(np.int64), (t > 0.5).reshape(-1).astype(np.int64)
    return view


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


def _accuracy(spec: LossSpec | None) -> Metric:
    from shendu.metrics import Accuracy

    kind = spec.target_kind if spec is not None else None
    if kind == "class_indices":
        return OnView(Accuracy(), class_view(spec.ignore_index))
    if kind == "probabilities":
        return OnView(Accuracy(), binary_view(0.0 if spec.takes_logits else 0.5))
    if kind is not None:
        raise ValueError(f"Trainer: metric 'accuracy' needs a classification loss (its target_kind "
                         f"'class_indices' or 'probabilities'), got loss {spec.name!r} with target_kind {kind!r}")
    return Accuracy()  # a loss that declares nothing: labels (N,) against scores (N, C) or labels


def _metric_by_name(m: str, spec: LossSpec | None) -> Metric:
    import shendu.metrics as M

    key = m.lower()
    if key in ("accuracy", "acc"):
        return _accuracy(spec)
    if key in ("mse", "mean_squared_error"):
        return M.MeanSquaredError()
    if key in ("rmse", "root_mean_squared_error"):
        return M.MeanSquaredError(squared=False)
    if key in ("mae", "mean_absolute_error"):
        return M.MeanAbsoluteError()
    if key == "perplexity":
        return M.Perplexity(spec.ignore_index if spec else -100)
    found = getattr(M, m, None)
    if isinstance(found, type) and issubclass(found, Metric):
        return found()
    if callable(found):
        return EpochFunction(found)
    raise ValueError(f"Trainer: unknown metric {m!r}; expected a shendu.metrics name, a Metric or a callable")


def resolve_metrics(metrics: Any, spec: LossSpec | None) -> dict[str, Metric]:
    """``{log name: Metric}`` for names, Metric instances and ``fn(y_true, y_pred)`` callables.

    ``metrics=None`` means accuracy for losses that take class indices and nothing otherwise.
    """
    if metrics is None:
        metrics = ("accuracy",) if spec is not None and spec.target_kind == "class_indices" else ()
    if isinstance(metrics, (str, Metric)) or callable(metrics):
        metrics = (metrics,)
    out: dict[str, Metric] = {}
    for m in metrics:
        if isinstance(m, str):
            name, metric = m, _metric_by_name(m, spec)
        elif isinstance(m, Metric):
            name, metric = getattr(m, "name", None) or _snake(type(m).__name__), m
        elif callable(m):
            name, metric = getattr(m, "__name__", type(m).__name__), EpochFunction(m)
        else:
            raise TypeError(f"Trainer: a metric must be a name, a Metric or a callable, got {type(m).__name__}")
        if name in out or name == "loss":
            raise ValueError(f"Trainer: metric name {name!r} is used twice")
        out[name] = metric
    return out


__all__ = ["TARGET_KINDS", "EpochFunction", "LossSpec", "OnView", "TargetError", "binary_view", "check_targets",
           "class_view", "resolve_loss", "resolve_metrics"]
