"""Gradient clipping (PyTorch's ``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_``).

Both work in place on the raw gradient arrays, after ``backward()`` and before ``optimizer.step()``.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from shendu import backend
from shendu.tensor import Tensor


def _grads(parameters: Iterable[Tensor] | Tensor) -> list:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad._data for p in params if p.grad is not None]


def _norm(xp, g, norm_type: float) -> float:
    """The ``norm_type``-norm of one gradient array, as a Python float."""
    if norm_type == 2.0:
        flat = g.reshape(-1)
        return math.sqrt(float(xp.dot(flat, flat)))
    if norm_type == math.inf:
        return float(xp.abs(g).max()) if g.size else 0.0
    if norm_type == -math.inf:
        return float(xp.abs(g).min()) if g.size else math.inf
    if norm_type == 0:
        return float(xp.count_nonzero(g))
    if norm_type == 1.0:
        return float(xp.abs(g).sum())
    return float((xp.abs(g) ** norm_type).sum()) ** (1.0 / norm_type)


def get_total_norm(tensors: Iterable[Tensor] | Tensor, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The norm of the norms of ``tensors`` (as if all were concatenated into one vector)."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    return _total_norm([t._data for t in tensors], float(norm_type), error_if_nonfinite, "get_total_norm")


def _total_norm(arrays: list, norm_type: float, error_if_nonfinite: bool, who: str) -> Tensor:
    if not arrays:
        return Tensor._wrap(np.array(0.0, dtype=np.float32))
    xp = backend.array_module(arrays[0])
    norms = [_norm(xp, g, norm_type) for g in arrays]
    if norm_type == math.inf:
        total = max(norms)
    elif norm_type == -math.inf:
        total = min(norms)
    elif norm_type == 0:
        total = sum(norms)
    else:
        total = math.fsum(n ** norm_type for n in norms) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"{who}: the total norm of order {norm_type} of the gradients is non-finite ({total}), "
                           "so clipping them is impossible; pass error_if_nonfinite=False to clip anyway")
    dtype = arrays[0].dtype if arrays[0].dtype.kind == "f" else xp.float32
    return Tensor._wrap(xp.asarray(total, dtype=dtype))


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale all gradients together so that their total ``norm_type``-norm is at most ``max_norm``.

    The gradients are multiplied by ``min(1, max_norm / (total_norm + 1e-6))`` in place.

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` is clipped (those without one are skipped).
        max_norm: the largest total norm allowed.
        norm_type: the norm's order p (``math.inf`` for the largest absolute entry). Default: 2.0.
        error_if_nonfinite: raise RuntimeError if the total norm is nan or inf. Default: False.
        foreach: accepted for compatibility with PyTorch.

    Returns:
        the total norm of the gradients before clipping, a 0-d Tensor in the gradients' dtype.
    """
    grads = _grads(parameters)
    total = _total_norm(grads, float(norm_type), error_if_nonfinite, "clip_grad_norm_")
    if not grads:
        return total
    coef = float(max_norm) / (float(total._data) + 1e-6)
    if coef < 1.0 or math.isnan(coef):  # a nan total poisons the gradients, as in PyTorch
        with np.errstate(invalid="ignore"):  # inf * 0 is nan without a warning, as in PyTorch
            for g in grads:
                g *= coef
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]``, in place."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        backend.array_module(g).clip(g, -clip_value, clip_value, out=g)
