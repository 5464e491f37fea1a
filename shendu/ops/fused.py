"""Fused ops on hot paths, with hand-simplified backward formulas: softmax, log-softmax, softmax-CE.

softmax / log_softmax write their backward with Tensor ops on their own output (so they stay
differentiable). The softmax cross-entropy computes its first-order backward on raw arrays from a
small cache (llm.c style: the row max and log-sum-exp); when the backward itself must be
differentiated (``create_graph=True``) it recomputes its composite definition and differentiates
that, the same composite the tests use as the oracle. The public ``cross_entropy`` / ``nll_loss``
(argument checks, ``reduction`` and the legacy flags) live with the other losses in
``shendu.nn.functional_losses``; the normalization ops live in ``shendu.ops.norm``.
"""
from __future__ import annotations

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.grad_mode import enable_grad, is_grad_enabled
from shendu.ops.dims import wrap_dim
from shendu.tensor import Tensor


def composite_backward(ctx, composite, grads) -> tuple:
    """Differentiate ``composite(*ctx.inputs)`` instead of the fused op (create_graph path)."""
    from shendu.autograd.engine import grad as autograd_grad
    inputs = ctx.inputs
    wanted = [t for t, need in zip(inputs, ctx.needs_input_grad) if need]
    with enable_grad():
        out = composite(*inputs)
    found = iter(autograd_grad(out, wanted, grad_outputs=grads, create_graph=True, allow_unused=True))
    return tuple(next(found) if need else None for need in ctx.needs_input_grad)


# -- softmax ------------------------------------------------------------------------------------
def _softmax_array(x, axis):
    xp = array_module(x)
    if x.ndim == 0:  # a single element: probability 1
        return xp.ones_like(x)
    e = x - xp.max(x, axis=axis, keepdims=True)
    xp.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


class Softmax(Function):
    """exp(x) / Σ exp(x) along ``axis``; backward reads only the output: y (g - Σ g y)."""

    saved_inputs = ()

    def forward(ctx, x, *, axis):
        ctx.axis = axis
        return _softmax_array(x, axis)

    def backward(ctx, grad):
        out = ctx.output
        return out * (grad - (grad * out).sum(ctx.axis, keepdim=True))


class LogSoftmax(Function):
    """x - log Σ exp(x) along ``axis``; backward reads only the output: g - exp(y) Σ g."""

    saved_inputs = ()

    def forward(ctx, x, *, axis):
        ctx.axis = axis
        xp = array_module(x)
        if x.ndim == 0:
            return xp.zeros_like(x)
        shifted = x - xp.max(x, axis=axis, keepdims=True)
        shifted -= xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        return shifted

    def backward(ctx, grad):
        return grad - ctx.output.exp() * grad.sum(ctx.axis, keepdim=True)


def _dim(dim, ndim, op):
    if dim is None:  # PyTorch's legacy implicit dim
        dim = 0 if ndim in (0, 1, 3) else 1
    return wrap_dim(dim, ndim, op)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x_i) / Σ_j exp(x_j) along ``dim`` (computed in ``dtype`` when given). Shape: output as input."""
    if dtype is not None:
        input = input.to(dtype)
    return Softmax.apply(input, axis=_dim(dim, input.ndim, "softmax"))


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """x_i - log Σ_j exp(x_j) along ``dim``, stable for any logits. Shape: output as input."""
    if dtype is not None:
        input = input.to(dtype)
    return LogSoftmax.apply(input, axis=_dim(dim, input.ndim, "log_softmax"))


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """softmax(-x) along ``dim``."""
    return softmax(-input, dim, dtype=dtype)


# -- cross-entropy ------------------------------------------------------------------------------
def _ce_coefficients(xp, target, C, dtype, weight, ignore_index, reduction):
    """Validity mask, safe indices, per-row scale r = w_y [y != ignore] and the 'mean' normaliser Σ r.

    For integer targets the loss of row i is  (1-ε) r_i (lse_i - z_{i,y_i})
    + (ε/C) m_i Σ_c w_c (lse_i - z_ic), divided by ``denom`` for 'mean'.
    """
    valid = target != ignore_index
    safe = xp.where(valid, target, 0)
    if safe.size and (safe.min() < 0 or safe.max() >= C):
        bad = target[valid & ((target < 0) | (target >= C))]
        raise IndexError(f"cross_entropy: target {int(bad.flat[0])} is out of range for {C} classes "
                         f"(expected 0 <= target < {C}, or ignore_index={ignore_index})")
    r = (weight[safe] if weight is not None else xp.ones(safe.shape, dtype=dtype)) * valid
    denom = r.sum() if reduction == "mean" else None
    return valid, safe, r.astype(dtype, copy=False), denom


class CrossEntropy(Function):
    """Softmax cross-entropy on logits (M, C) with integer (M,) or probability (M, C) targets.

    Settings: ``target`` (raw array), ``weight`` ((C,) raw array or None), ``ignore_index``,
    ``smoothing`` (label smoothing ε) and ``reduction``.
    """


    def forward(ctx, z, *, target, weight, ignore_index, smoothing, reduction):
        ctx.target, ctx.weight, ctx.ignore_index = target, weight, ignore_index
        ctx.smoothing, ctx.reduction = smoothing, reduction
        xp = array_module(z)
        M, C = z.shape
        soft = target.dtype.kind == "f"
        # Work with logits shifted by the row max and keep log Σ exp(shifted) apart from the max:
        # lse = m + logs rounded to float32 loses the small logs when |m| is large (logits ~1e4).
        m = z.max(axis=1, keepdims=True) if C else xp.zeros((M, 1), dtype=z.dtype)  # (M, 1)
        zs = z - m  # (M, C)
        if soft:
            t = target * (1 - smoothing) + smoothing / C if smoothing else target
            tw = t * weight if weight is not None else t
            ctx.tw = tw
        else:
            valid, safe, r, denom = _ce_coefficients(xp, target, C, z.dtype, weight, ignore_index, reduction)
            ctx.cache = (valid, safe, r, denom)
            picked = xp.take_along_axis(zs, safe[:, None], axis=1)[:, 0]
            if smoothing:
                wsum_z = zs @ weight if weight is not None else zs.sum(axis=1)
                wtot = weight.sum() if weight is not None else C
        tzs = (tw * zs).sum(axis=1) if soft else None
        xp.exp(zs, out=zs)
        logs = xp.log(zs.sum(axis=1, keepdims=True))  # (M, 1)
        ctx.m, ctx.logs = m, logs
        if soft:
            per_row = tw.sum(axis=1) * logs[:, 0] - tzs
            if reduction == "mean":
                return (per_row.sum() / max(M, 1)).astype(z.dtype)
        else:
            per_row = (1 - smoothing) * r * (logs[:, 0] - picked)
            if smoothing:
                per_row += (smoothing / C) * valid * (logs[:, 0] * wtot - wsum_z)
            if reduction == "mean":
                return (per_row.sum() / denom).astype(z.dtype)
        if reduction == "sum":
            return per_row.sum().astype(z.dtype)
        return per_row.astype(z.dtype, copy=False)

    def backward(ctx, grad):
        target, weight, smoothing, reduction = ctx.target, ctx.weight, ctx.smoothing, ctx.reduction
        if is_grad_enabled():
            return composite_backward(ctx, lambda z_: cross_entropy_composite(
                z_, target, weight, ctx.ignore_index, smoothing, reduction), (grad,))
        (z,) = ctx.inputs
        zd = z._data
        M, C = zd.shape
        g = grad._data
        p = zd - ctx.m
        p -= ctx.logs
        array_module(p).exp(p, out=p)  # softmax, recomputed from the cached max and log-sum-exp
        if target.dtype.kind == "f":
            tw = ctx.tw
            scale = g / max(M, 1) if reduction == "mean" else (g[:, None] if reduction == "none" else g)
            # d/dz Σ_c tw_c (lse - z_c) = p Σ_c tw_c - tw
            dz = (p * tw.sum(axis=1, keepdims=True) - tw) * scale
            return Tensor._wrap(dz.astype(zd.dtype, copy=False))
        valid, safe, r, denom = ctx.cache
        row = g / denom if reduction == "mean" else g
        a = (1 - smoothing) * r  # weight on the one-hot term
        if smoothing:
            wtot = weight.sum() if weight is not None else C
            b = (smoothing / C) * valid  # weight on the class-wise term
            total = a + b * wtot  # Σ_c of the coefficients of row i
            dz = p * total[:, None]
            dz -= b[:, None] * (weight if weight is not None else 1.0)
        else:
            dz = p * a[:, None]
        _sub_at(dz, safe, a)
        dz *= row[:, None] if reduction == "none" else row
        return Tensor._wrap(dz.astype(zd.dtype, copy=False))


def softmax_cross_entropy(z: Tensor, target, weight=None, ignore_index: int = -100, smoothing: float = 0.0,
                          reduction: str = "mean") -> Tensor:
    """The fused op on (M, C) logits and a raw (M,) int or (M, C) float target (no argument checks)."""
    return CrossEntropy.apply(z, target=target, weight=weight, ignore_index=ignore_index,
                              smoothing=float(smoothing), reduction=reduction)


def _sub_at(dz, cols, values) -> None:
    """dz[i, cols[i]] -= values[i] (one entry per row, so no accumulation is needed)."""
    xp = array_module(dz)
    rows = xp.arange(dz.shape[0])
    dz[rows, cols] -= values


def _move_class_last(input: Tensor, target: Tensor):
    """(N, C, d1, ...) logits and (N, d1, ...) targets -> (M, C) and (M,)."""
    if input.ndim > 2:
        C = input.shape[1]
        input = input.movedim(1, -1).reshape(-1, C)
        target = target.movedim(1, -1).reshape(-1, C) if target.dtype.kind == "f" else target.reshape(-1)
    return input, target


def cross_entropy_composite(z: Tensor, target, weight, ignore_index, smoothing, reduction) -> Tensor:
    """cross_entropy on (M, C) logits from log_softmax and gather: the oracle and create_graph path."""
    M, C = z.shape
    logp = log_softmax(z, 1)
    xp = z._xp()
    w = Tensor._wrap(weight) if weight is not None else None
    if target.dtype.kind == "f":
        t = target * (1 - smoothing) + smoothing / C if smoothing else target
        tw = Tensor._wrap(t * weight if weight is not None else t)
        per_row = -(logp * tw).sum(1)
        return per_row.mean() if reduction == "mean" else per_row.sum() if reduction == "sum" else per_row
    valid = target != ignore_index
    safe = xp.where(valid, target, 0)
    r = (weight[safe] if weight is not None else xp.ones(M, dtype=z.dtype)) * valid
    nll = -logp.gather(1, Tensor._wrap(safe[:, None])).squeeze(1) * Tensor._wrap(r.astype(z.dtype))
    per_row = nll * (1 - smoothing)
    if smoothing:
        smooth = -(logp * w).sum(1) if w is not None else -logp.sum(1)
        per_row = per_row + smooth * Tensor._wrap(valid.astype(z.dtype)) * (smoothing / C)
    if reduction == "mean":
        return per_row.sum() / float(r.sum())
    return per_row.sum() if reduction == "sum" else per_row
