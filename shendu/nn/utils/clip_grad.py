"""Gradient clipping. PLACEHOLDER written by the Module helper so ``shendu.nn.utils`` imports;
the optimizer helper owns this file and replaces it."""
from __future__ import annotations

import math
from collections.abc import Iterable

from shendu.tensor import Tensor


def _grads(parameters) -> list:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    grads = _grads(parameters)
    if not grads:
        return Tensor(0.0)
    xp = grads[0]._xp()
    if norm_type == math.inf:
        total = max(float(xp.abs(g.data).max()) for g in grads)
    else:
        total = sum(float((xp.abs(g.data.astype(xp.float64)) ** norm_type).sum()) for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} is non-finite ({total})")
    coef = min(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g.data *= coef
    return Tensor(total)


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float, foreach=None) -> None:
    for g in _grads(parameters):
        g._xp().clip(g.data, -clip_value, clip_value, out=g.data)
