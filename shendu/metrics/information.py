"""Information theory of discrete tables and of distributions: entropy, cross-entropy, KL divergence,
mutual information (in nats; ``base=2`` gives bits).

Tables are probability vectors along ``dim`` (NumPy arrays, lists or shendu tensors; they are
normalised to sum to 1 along ``dim``, as scipy.stats.entropy does); the terms with p = 0 contribute 0.
``entropy``, ``cross_entropy`` and ``kl_divergence`` also take ``shendu.distributions`` objects
(closed forms where registered). Results are shendu tensors with ``dim`` reduced, differentiable when
the inputs require grad.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from shendu.tensor import Tensor

__all__ = ["conditional_entropy", "cross_entropy", "entropy", "joint_entropy", "kl_divergence",
           "mutual_information"]


def _table(p: Any, name: str, dim: int) -> Tensor:
    from shendu.creation import tensor
    if not isinstance(p, Tensor):
        p = tensor(np.asarray(p, dtype=np.float64))
    if p.dtype.kind != "f":
        p = p.to(np.float64)
    if p.dim() == 0:
        raise ValueError(f"{name}: expected a probability table with at least one dimension, got a scalar")
    if bool((p < 0).any()) or not bool(p.isfinite().all()):
        raise ValueError(f"{name}: probabilities must be finite and non-negative (shape {tuple(p.shape)})")
    total = p.sum(dim, keepdim=True)
    if bool((total <= 0).any()):
        raise ValueError(f"{name}: each table along dim={dim} needs a positive total (shape {tuple(p.shape)})")
    return p / total


def _in_base(nats: Tensor, base: float | None) -> Tensor:
    if base is None:
        return nats
    if base <= 0 or base == 1:
        raise ValueError(f"base must be positive and not 1, got {base}")
    return nats / math.log(base)


def _is_distribution(p) -> bool:
    from shendu.distributions import Distribution
    return isinstance(p, Distribution)


def _plogq(p: Tensor, q: Tensor) -> Tensor:
    from shendu.ops.special import xlogy
    return xlogy(p, q)  # 0 where p = 0, -inf where q = 0 < p


def entropy(p, base: float | None = None, dim: int = -1) -> Tensor:
    """``H(p) = -Σ p log p`` of a table (along ``dim``) or a distribution (its ``entropy()``)."""
    if _is_distribution(p):
        return _in_base(p.entropy(), base)
    p = _table(p, "entropy", dim)
    return _in_base(-_plogq(p, p).sum(dim), base)


def cross_entropy(p, q, base: float | None = None, dim: int = -1) -> Tensor:
    """``H(p, q) = -Σ p log q = H(p) + KL(p ‖ q)``: tables along ``dim`` or two distributions."""
    if _is_distribution(p):
        from shendu.distributions import kl_divergence as kl
        return _in_base(p.entropy() + kl(p, q), base)
    p, q = _table(p, "cross_entropy", dim), _table(q, "cross_entropy", dim)
    if p.shape[dim] != q.shape[dim]:
        raise ValueError(f"cross_entropy: p and q need the same number of outcomes along dim={dim}, got "
                         f"shapes {tuple(p.shape)} and {tuple(q.shape)}")
    return _in_base(-_plogq(p, q).sum(dim), base)


def kl_divergence(p, q, base: float | None = None, dim: int = -1) -> Tensor:
    """``KL(p ‖ q) = Σ p log(p / q)`` (>= 0, infinite where q = 0 < p): tables or distributions."""
    if _is_distribution(p):
        from shendu.distributions import kl_divergence as kl
        return _in_base(kl(p, q), base)
    p, q = _table(p, "kl_divergence", dim), _table(q, "kl_divergence", dim)
    if p.shape[dim] != q.shape[dim]:
        raise ValueError(f"kl_divergence: p and q need the same number of outcomes along dim={dim}, got "
                         f"shapes {tuple(p.shape)} and {tuple(q.shape)}")
    return _in_base((_plogq(p, p) - _plogq(p, q)).sum(dim), base)


def _joint(joint, name: str) -> Tensor:
    """A 2-D joint table p(x, y), normalised to sum to 1 over both dims."""
    shape = tuple(joint.shape) if isinstance(joint, Tensor) else np.shape(joint)
    if len(shape) != 2:
        raise ValueError(f"{name}: expected a 2-D joint table p(x, y), got shape {shape}")
    flat = joint.reshape(-1) if isinstance(joint, Tensor) else np.ravel(np.asarray(joint, dtype=np.float64))
    return _table(flat, name, -1).reshape(shape)


def joint_entropy(joint, base: float | None = None) -> Tensor:
    """``H(X, Y)`` of a 2-D joint table ``joint[x, y]`` (normalised to sum to 1)."""
    j = _joint(joint, "joint_entropy")
    return _in_base(-_plogq(j, j).sum(), base)


def conditional_entropy(joint, base: float | None = None) -> Tensor:
    """``H(Y | X) = H(X, Y) - H(X)`` of a joint table ``joint[x, y]``."""
    j = _joint(joint, "conditional_entropy")
    px = j.sum(1)
    return _in_base(-_plogq(j, j).sum() + _plogq(px, px).sum(), base)


def mutual_information(joint, base: float | None = None) -> Tensor:
    """``I(X; Y) = Σ p(x, y) log(p(x, y) / (p(x) p(y))) = H(X) + H(Y) - H(X, Y)`` of a joint table."""
    j = _joint(joint, "mutual_information")
    px, py = j.sum(1), j.sum(0)
    h = lambda t: -_plogq(t, t).sum()  # noqa: E731
    return _in_base(h(px) + h(py) - h(j), base)
