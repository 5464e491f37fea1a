"""Scaled dot-product attention as one fused op with a hand-written backward.

softmax(scale · Q Kᵀ + mask) V with PyTorch's semantics: a bool mask marks the keys that take part
(True), a float mask is added to the scores, ``is_causal`` keeps key j <= query i (top-left aligned), a
row with every key masked gives 0 (and a 0 gradient), dropout acts on the weights. The forward keeps
only the probabilities P (before dropout) and the dropout mask; the first-order backward on arrays is

    dV = Pdᵀ dO,  dPd = dO Vᵀ,  dS = Pd ⊙ dPd − P ⊙ rowsum(Pd ⊙ dPd),  dQ = scale dS K,  dK = scale dSᵀ Q

with Pd = P ⊙ dropout mask (rowsum(P ⊙ dP) = rowsum(Pd ⊙ dPd), so P's softmax Jacobian needs no
second copy). The float mask's gradient is dS. Under ``create_graph`` the composite (matmul, softmax,
masked_fill) is differentiated instead; it is also the test oracle.
"""
from __future__ import annotations

import math

import numpy as np

from shendu.amp import autocast_mode as _amp
from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.grad_mode import is_grad_enabled
from shendu.ops.fused import composite_backward, softmax
from shendu.ops.index import masked_fill
from shendu.ops.linalg import matmul, product
from shendu.ops.shape import repeat_interleave
from shendu.tensor import Tensor


def _t(a):
    return a.swapaxes(-1, -2)


class ScaledDotProductAttention(Function):
    """(..., L, E) x (..., S, E) x (..., S, Ev) [+ float mask (..., L, S)] -> (..., L, Ev).

    Settings: ``scale``, ``keep`` (bool array broadcast to the scores: True = take part, or None),
    ``dropout_p``. Positional inputs: query, key, value and the float mask (or None).
    """

    def forward(ctx, q, k, v, mask, *, scale, keep, dropout_p):
        ctx.scale, ctx.keep = scale, keep
        xp = array_module(q)
        s = product(q * q.dtype.type(scale), _t(k))  # (..., L, S); scaling q costs L·E, not L·S
        if mask is not None:
            s = s + mask.astype(s.dtype, copy=False)
        if keep is not None:
            if keep.shape != s.shape:
                s = s + xp.zeros(keep.shape, dtype=s.dtype)  # broadcast the scores to the mask's shape
            xp.copyto(s, -xp.inf, where=~keep)
        m = s.max(axis=-1, keepdims=True)  # (..., L, 1)
        dead = m == -xp.inf  # rows with every key masked
        ctx.dead = dead if dead.any() else None
        if ctx.dead is not None:
            m[dead] = 0  # exp(-inf - 0) = 0: the row's probabilities become 0 once its sum is 1
        s -= m
        xp.exp(s, out=s)
        denom = s.sum(axis=-1, keepdims=True)
        if ctx.dead is not None:
            denom[dead] = 1
        s /= denom
        ctx.p = s  # P (..., L, S)
        ctx.drop = None
        if dropout_p > 0.0:
            if dropout_p >= 1.0:
                ctx.drop = xp.zeros(s.shape, dtype=s.dtype)
            else:
                from shendu.random import _generator
                kept = _generator().random(s.shape, dtype=s.dtype) >= dropout_p
                ctx.drop = kept.astype(s.dtype) * s.dtype.type(1.0 / (1.0 - dropout_p))
            s = s * ctx.drop
        return product(s, v)

    def backward(ctx, grad):
        if is_grad_enabled():
            return composite_backward(ctx, lambda q, k, v, mask: sdpa_composite(
                q, k, v, mask, scale=ctx.scale, keep=ctx.keep, dead=ctx.dead, drop=ctx.drop), (grad,))
        return tuple(None if g is None else Tensor._wrap(g)
                     for g in ScaledDotProductAttention.grad_arrays(ctx, grad._data))

    def grad_arrays(ctx, grad):
        q, k, v, mask = (x._data if isinstance(x, Tensor) else x for x in ctx.inputs)
        need_q, need_k, need_v, need_m = ctx.needs_input_grad
        p, drop, scale = ctx.p, ctx.drop, ctx.scale
        pd = p if drop is None else p * drop
        grad_v = product(_t(pd), grad) if need_v else None  # (..., S, Ev)
        grad_q = grad_k = grad_m = None
        if need_q or need_k or need_m:
            dpd = product(grad, _t(v))  # (..., L, S)
            dpd *= pd
            ds = dpd  # the gradient of the scores (after scale and mask), built in place
            ds -= p * dpd.sum(axis=-1, keepdims=True)
            grad_m = ds if need_m else None
            scale = ds.dtype.type(scale)
            if need_q:
                grad_q = product(ds, k)  # (..., L, E)
                grad_q *= scale
            if need_k:
                grad_k = product(_t(ds), q)  # (..., S, E)
                grad_k *= scale
        return grad_q, grad_k, grad_v, grad_m


def sdpa_composite(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, *, scale: float, keep=None,
                   dead=None, drop=None) -> Tensor:
    """The fused op written with matmul, softmax and masked_fill (oracle and ``create_graph`` path).

    ``keep``/``dead``/``drop`` are raw arrays: the bool mask, the fully masked rows, the dropout scale.
    """
    s = matmul(q, k.mT) * scale
    if mask is not None:
        s = s + mask
    if keep is not None:
        s = masked_fill(s, Tensor._wrap(~keep), -math.inf)
    if dead is not None:
        dead_t = Tensor._wrap(dead)
        s = masked_fill(s, dead_t, 0.0)  # a finite row, so softmax (and its gradient) stays finite
        p = masked_fill(softmax(s, -1), dead_t, 0.0)
    else:
        p = softmax(s, -1)
    if drop is not None:
        p = p * Tensor._wrap(drop)
    return matmul(p, v)


def _broadcast(shapes: list, what: str) -> tuple:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise RuntimeError(f"scaled_dot_product_attention: the batch dims of {what} "
                           f"{', '.join(str(tuple(s)) for s in shapes)} do not broadcast") from None


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(scale · Q Kᵀ + mask) V, fused, with PyTorch's masks, causality, dropout and scale.

    ``attn_mask``: bool (True = the key takes part) or float (added to the scores), broadcast to
    (..., L, S). ``is_causal``: query i sees keys 0..i (an error together with ``attn_mask``). ``scale``
    defaults to 1/sqrt(E). ``dropout_p`` zeroes weights with that probability (always, as in PyTorch:
    pass 0.0 in eval). ``enable_gqa``: key/value with fewer heads (dim -3) are shared by groups of query heads.

    Shape: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev).
    """
    op = "scaled_dot_product_attention"
    if _amp.active:
        query, key, value, attn_mask = _amp.cast(op, query, key, value, attn_mask)
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor) or t.ndim < 2:
            raise RuntimeError(f"{op}: expected {name} to be a tensor with at least 2 dims, got "
                               f"{getattr(t, 'shape', type(t).__name__)}")
    if not (query.dtype == key.dtype == value.dtype) or not query.is_floating_point():
        raise RuntimeError(f"{op}: expected query, key, and value to have the same floating dtype, got "
                           f"query.dtype: {query.dtype}, key.dtype: {key.dtype} and value.dtype: {value.dtype}")
    if not 0.0 <= dropout_p <= 1.0:
        raise RuntimeError(f"{op}: dropout probability has to be between 0 and 1, but got {dropout_p}")
    L, E = query.shape[-2:]
    S = key.shape[-2]
    if key.shape[-1] != E:
        raise RuntimeError(f"{op}: query {tuple(query.shape)} and key {tuple(key.shape)} must have the same "
                           f"last dim (E), got {E} and {key.shape[-1]}")
    if value.shape[-2] != S:
        raise RuntimeError(f"{op}: key {tuple(key.shape)} and value {tuple(value.shape)} must have the same "
                           f"sequence length (dim -2), got {S} and {value.shape[-2]}")
    if enable_gqa and query.ndim >= 3 and key.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hq % hk or hq % hv:
            raise RuntimeError(f"{op}: with enable_gqa the query's {hq} heads must be a multiple of the "
                               f"key's {hk} and the value's {hv}")
        key = repeat_interleave(key, hq // hk, dim=-3)
        value = repeat_interleave(value, hq // hv, dim=-3)
    batch = _broadcast([query.shape[:-2], key.shape[:-2], value.shape[:-2]], "query, key and value")
    keep = mask = None
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError(f"_{op}: Explicit attn_mask should not be set when is_causal=True")
        keep = np.tril(np.ones((L, S), dtype=bool))
        if array_module(query._data) is not np:
            keep = array_module(query._data).asarray(keep)
    elif attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            raise RuntimeError(f"{op}: attn_mask must be a tensor, got {type(attn_mask).__name__}")
        if attn_mask.dtype.kind not in "bf":
            raise RuntimeError(f"{op}: attn_mask must be bool or float, got {attn_mask.dtype}")
        if attn_mask.ndim > 0 and attn_mask.shape[-1] not in (1, S) or attn_mask.ndim > 1 and \
                attn_mask.shape[-2] not in (1, L):
            raise RuntimeError(f"{op}: attn_mask of shape {tuple(attn_mask.shape)} does not broadcast to the "
                               f"scores' (..., L={L}, S={S})")
        _broadcast([batch + (L, S), attn_mask.shape], "the scores and attn_mask")
        if attn_mask.dtype == np.bool_:
            keep = attn_mask._data
        else:
            mask = attn_mask
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    return ScaledDotProductAttention.apply(query, key, value, mask, scale=scale, keep=keep,
                                           dropout_p=float(dropout_p))
