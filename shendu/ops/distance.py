"""Norms and distances: vector p-norms, cdist, pdist, pairwise_distance, cosine_similarity, normalize.

``VectorNorm`` is the one p-norm with PyTorch's gradient conventions (``norm_backward``): zero where
the norm is zero, ties of the inf-norm share the gradient equally, p = 0 has none. ``CDist``
computes all pairwise distances between two sets of rows with a hand-written backward: for p = 2
it needs only matrix products (never the (P, R, M) differences), as PyTorch's ``_cdist_backward``.
Every backward is written with Tensor ops, so ``create_graph`` differentiates it again.
"""
from __future__ import annotations

import math

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.ops.dims import wrap_dim, wrap_dims
from shendu.ops.elementwise import where
from shendu.tensor import Tensor

_INF = math.inf


def _p(p, op: str) -> float:
    p = float(p)
    if p < 0 or math.isnan(p):
        raise RuntimeError(f"{op}: p must be a non-negative number or inf, got {p}")
    return p


def _norm_array(x, p: float, axes, keepdim: bool):
    xp = array_module(x)
    a = xp.abs(x)
    if p == _INF:
        return a.max(axis=axes, keepdims=keepdim) if a.size else xp.zeros(
            xp.sum(a, axis=axes, keepdims=keepdim).shape, dtype=x.dtype)
    if p == 0:
        return (a != 0).sum(axis=axes, keepdims=keepdim).astype(x.dtype)
    if p == 1:
        return a.sum(axis=axes, keepdims=keepdim)
    if p == 2:
        return xp.sqrt((x * x).sum(axis=axes, keepdims=keepdim))
    return ((a ** p).sum(axis=axes, keepdims=keepdim)) ** (1.0 / p)


class VectorNorm(Function):
    """(Σ |x|^p)^(1/p) over ``axes`` (p = 0: the count of non-zeros, p = inf: max |x|)."""


    def forward(ctx, x, *, p, axes, keepdim):
        ctx.p, ctx.axes, ctx.keepdim = p, axes, keepdim
        return _norm_array(x, p, axes, keepdim)

    def backward(ctx, grad):
        (x,) = ctx.inputs
        p, axes = ctx.p, ctx.axes
        norm = ctx.output
        if not ctx.keepdim and axes is not None:
            shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
            grad, norm = grad.reshape(shape), norm.reshape(shape)
        return _norm_grad(x, norm, grad, p, axes)


def _norm_grad(x: Tensor, norm: Tensor, grad: Tensor, p: float, axes) -> Tensor:
    """d‖x‖_p/dx · grad, with ``norm`` and ``grad`` broadcastable to x (PyTorch's norm_backward)."""
    if p == 0:
        return x * 0.0
    if p == 1:
        return x.sign() * grad
    zero = Tensor._wrap(norm._data == 0)
    safe = where(zero, 1.0, norm)  # no 0/0 where the norm is zero (the gradient is 0 there)
    if p == 2:
        return x * where(zero, 0.0, grad / safe)
    if p == _INF:
        mask = Tensor._wrap((abs(x._data) == norm._data).astype(x.dtype))
        count = mask.sum(axes, keepdim=True) if axes is not None else mask.sum()
        return x.sign() * mask * (grad / count)
    ax = x.abs()
    # |x|^(p-1) with 0 where x = 0 (it would be inf for p < 1)
    scaled = x.sign() * where(Tensor._wrap(x._data == 0), 0.0, ax) ** (p - 1)
    return scaled * where(zero, 0.0, grad / safe ** (p - 1))


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """PyTorch's ``linalg.vector_norm``: the p-norm over ``dim`` (all dims when None)."""
    if dtype is not None:
        x = x.to(dtype)
    axes = wrap_dims(dim, x.ndim, "vector_norm")
    return VectorNorm.apply(x, p=_p(ord, "vector_norm"), axes=axes, keepdim=bool(keepdim))


# -- distances between rows ------------------------------------------------------------------------
class CDist(Function):
    """‖x1_i - x2_j‖_p for every row pair: (..., P, M) and (..., R, M) -> (..., P, R)."""


    def forward(ctx, x1, x2, *, p, use_mm):
        ctx.p = p
        xp = array_module(x1)
        if p == 2 and use_mm:  # PyTorch's matrix-product form: |a|² + |b|² - 2 a·b, clamped at 0
            sq = (x1 * x1).sum(-1)[..., :, None] + (x2 * x2).sum(-1)[..., None, :] - 2 * (x1 @ xp.swapaxes(x2, -1, -2))
            return xp.sqrt(xp.maximum(sq, 0))
        return _norm_array(x1[..., :, None, :] - x2[..., None, :, :], p, -1, False)

    def backward(ctx, grad):
        x1, x2 = ctx.inputs
        need1, need2 = ctx.needs_input_grad
        p, dist = ctx.p, ctx.output
        if p == 2:  # Σ_j g_ij (x1_i - x2_j) / d_ij needs only matrix products
            zero = Tensor._wrap(dist._data == 0)
            w = where(zero, 0.0, grad / where(zero, 1.0, dist))  # (..., P, R)
            g1 = w.sum(-1, keepdim=True) * x1 - w @ x2 if need1 else None
            g2 = w.sum(-2).unsqueeze(-1) * x2 - w.mT @ x1 if need2 else None
            return g1, g2
        diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (..., P, R, M)
        if p == _INF:  # PyTorch's cdist gives every tied coordinate the whole gradient
            mask = Tensor._wrap((abs(diff._data) == dist._data[..., None]).astype(diff.dtype))
            gd = diff.sign() * mask * grad.unsqueeze(-1)
        else:
            gd = _norm_grad(diff, dist.unsqueeze(-1), grad.unsqueeze(-1), p, (diff.ndim - 1,))
        return (gd.sum(-2) if need1 else None), (-gd.sum(-3) if need2 else None)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """p-norm distance between each row of x1 and each row of x2.

    Shape: x1 (B..., P, M), x2 (B..., R, M) with broadcastable batch dims -> (B..., P, R).
    ``compute_mode`` picks PyTorch's matrix-product form for p = 2 ('use_mm_for_euclid_dist' always,
    '..._if_necessary' when P > 25 or R > 25, 'donot_use_mm_for_euclid_dist' never).
    """
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: expected x1 (..., P, M) and x2 (..., R, M) with the same M, got shapes "
                           f"{x1.shape} and {x2.shape}")
    if x1.dtype.kind != "f" or x1.dtype != x2.dtype:
        raise RuntimeError(f"cdist: expected two floating-point inputs of one dtype, got {x1.dtype} and {x2.dtype}")
    modes = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")
    if compute_mode not in modes:
        raise ValueError(f"cdist: compute_mode must be one of {modes}, got {compute_mode!r}")
    use_mm = compute_mode == modes[1] or (compute_mode == modes[0] and (x1.shape[-2] > 25 or x2.shape[-2] > 25))
    return CDist.apply(x1, x2, p=_p(p, "cdist"), use_mm=use_mm)


def pdist(input: Tensor, p: float = 2) -> Tensor:
    """p-norm distances between every pair of rows i < j of (N, M) input -> (N (N - 1) / 2,), row-major."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist: expected a 2-D input (N, M), got shape {input.shape}")
    xp = input._xp()
    i, j = xp.triu_indices(input.shape[0], 1)
    diff = input[Tensor._wrap(i)] - input[Tensor._wrap(j)]  # (pairs, M)
    return VectorNorm.apply(diff, p=_p(p, "pdist"), axes=(1,), keepdim=False)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """‖x1 - x2 + eps‖_p over the last dim of the broadcast inputs, as PyTorch computes it.

    Shape: (N, D) or (D,) inputs (broadcastable) -> (N,) or () (keepdim keeps the last dim as 1).
    """
    if not isinstance(x2, Tensor):
        x2 = Tensor._wrap(x1._xp().asarray(x2, dtype=x1.dtype))
    d = x1 - x2 + eps
    axis = max(d.ndim - 1, 0)
    if d.ndim == 0:
        d = d.reshape(1)
    return VectorNorm.apply(d, p=_p(p, "pairwise_distance"), axes=(axis,), keepdim=bool(keepdim))


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Σ (x1 / max(‖x1‖, eps)) (x2 / max(‖x2‖, eps)) along ``dim`` of the broadcast inputs (dim removed).

    As in PyTorch, the clamp to ``eps`` changes the value but not the gradient: a norm below eps is
    differentiated as the unclamped norm (PyTorch clamps it in place under no_grad).
    """
    shape = tuple(array_module(x1._data).broadcast_shapes(x1.shape, x2.shape))
    x1 = x1 if x1.shape == shape else x1.expand(shape)
    x2 = x2 if x2.shape == shape else x2.expand(shape)
    if not shape:
        x1, x2 = x1.reshape(1), x2.reshape(1)
    axis = wrap_dim(dim, len(shape), "cosine_similarity")
    out = (_unit(x1, axis, eps) * _unit(x2, axis, eps)).sum(axis)
    return out.reshape(()) if not shape else out


def _unit(x: Tensor, axis: int, eps: float) -> Tensor:
    norm = VectorNorm.apply(x, p=2.0, axes=(axis,), keepdim=True)
    xp = x._xp()
    return x / (norm + Tensor._wrap(xp.maximum(norm._data, eps) - norm._data))  # max(‖x‖, eps), straight-through


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None) -> Tensor:
    """input / max(‖input‖_p, eps) along ``dim``: unit vectors (zero vectors stay zero). Shape: as input."""
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported; use the returned tensor")
    axis = wrap_dim(dim, input.ndim, "normalize")
    norm = VectorNorm.apply(input, p=_p(p, "normalize"), axes=(axis,) if input.ndim else None, keepdim=True)
    return input / where(Tensor._wrap(norm._data >= eps), norm, eps)
