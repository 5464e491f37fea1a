"""Fused ops on hot paths, with hand-simplified backward formulas.

softmax / log_softmax write their backward with Tensor ops on their own output (so they stay
differentiable). cross_entropy and layer_norm compute the first-order backward on raw arrays
from a small cache (llm.c style: log-sum-exp per row; mean and rstd per row); when the backward
itself must be differentiated (``create_graph=True``) they recompute their composite definition
and differentiate that, the same composite that the tests use as the oracle.
"""
from __future__ import annotations

from shendu.autograd.function import Function
from shendu.grad_mode import enable_grad, is_grad_enabled
from shendu.backend import array_module
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
    raw = True

    def forward(ctx, x, axis):
        return _softmax_array(x, axis)

    def backward(ctx, grad):
        axis = ctx.inputs[1]
        out = ctx.output
        return out * (grad - (grad * out).sum(axis, keepdim=True)), None


class LogSoftmax(Function):
    raw = True

    def forward(ctx, x, axis):
        xp = array_module(x)
        if x.ndim == 0:
            return xp.zeros_like(x)
        shifted = x - xp.max(x, axis=axis, keepdims=True)
        shifted -= xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        return shifted

    def backward(ctx, grad):
        axis = ctx.inputs[1]
        return grad - ctx.output.exp() * grad.sum(axis, keepdim=True), None


def _dim(dim, ndim, op):
    if dim is None:  # PyTorch's legacy implicit dim
        dim = 0 if ndim in (0, 1, 3) else 1
    return wrap_dim(dim, ndim, op)


def softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    if dtype is not None:
        input = input.to(dtype)
    return Softmax.apply(input, _dim(dim, input.ndim, "softmax"))


def log_softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    if dtype is not None:
        input = input.to(dtype)
    return LogSoftmax.apply(input, _dim(dim, input.ndim, "log_softmax"))


# -- cross-entropy ------------------------------------------------------------------------------
def _ce_coefficients(xp, target, C, dtype, weight, ignore_index, smoothing, reduction, soft):
    """Per-row scale r, class-wise smoothing term, and the normaliser of PyTorch's cross_entropy.

    For integer targets the loss of row i is  (1-ε) r_i (lse_i - z_{i,y_i})
    + (ε/C) m_i Σ_c w_c (lse_i - z_ic), divided by ``denom`` for 'mean'.
    """
    if soft:
        return None
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
    """Softmax cross-entropy on logits (M, C) with integer (M,) or probability (M, C) targets."""

    raw = True

    def forward(ctx, z, target, weight, ignore_index, smoothing, reduction):
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
            valid, safe, r, denom = _ce_coefficients(xp, target, C, z.dtype, weight, ignore_index,
                                                      smoothing, reduction, soft)
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
        if is_grad_enabled():
            z, target, weight, ignore_index, smoothing, reduction = ctx.inputs
            return composite_backward(ctx, lambda z_, *rest: cross_entropy_composite(
                z_, target, weight, ignore_index, smoothing, reduction), (grad,))
        z, target, weight, _, smoothing, reduction = ctx.inputs
        xp = z._xp()
        zd = z._data
        M, C = zd.shape
        g = grad._data
        p = zd - ctx.m
        p -= ctx.logs
        xp.exp(p, out=p)  # softmax, recomputed from the cached max and log-sum-exp
        if target.dtype.kind == "f":  # target and weight are raw arrays here
            tw = ctx.tw
            scale = g / max(M, 1) if reduction == "mean" else (g[:, None] if reduction == "none" else g)
            # d/dz Σ_c tw_c (lse - z_c) = p Σ_c tw_c - tw
            dz = (p * tw.sum(axis=1, keepdims=True) - tw) * scale
            return Tensor._wrap(dz), None, None, None, None, None
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
        return Tensor._wrap(dz.astype(zd.dtype, copy=False)), None, None, None, None, None


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


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits (N, C) or (N, C, d1, ...) and class indices or probabilities."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    target = target if isinstance(target, Tensor) else Tensor._wrap(input._xp().asarray(target))
    soft = target.dtype.kind == "f"
    if input.ndim == 1:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
        out = cross_entropy(input, target, weight, ignore_index=ignore_index, reduction=reduction,
                            label_smoothing=label_smoothing)
        return out.squeeze(0) if reduction == "none" else out
    expected = input.shape if soft else (input.shape[0],) + input.shape[2:]
    if tuple(target.shape) != tuple(expected):
        raise RuntimeError(f"cross_entropy: input of shape {input.shape} expects a target of shape "
                           f"{expected} ({'probabilities' if soft else 'class indices'}), got "
                           f"{target.shape} with dtype {target.dtype}")
    if not soft and target.dtype.kind not in "iu":
        raise RuntimeError(f"cross_entropy: class-index targets must be integers, got {target.dtype}")
    if input.dtype.kind != "f":
        raise RuntimeError(f"cross_entropy: logits must be floating point, got {input.dtype}")
    spatial = input.shape[2:]
    z, t = _move_class_last(input, target)
    w = weight._data.astype(input.dtype, copy=False) if weight is not None else None
    out = CrossEntropy.apply(z, t._data, w, ignore_index, float(label_smoothing), reduction)
    if reduction == "none" and spatial:
        out = out.reshape((input.shape[0],) + spatial)
    return out


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


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C) or (N, C, d1, ...) at class indices."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"nll_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if input.ndim == 1:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    expected = (input.shape[0],) + input.shape[2:]
    if tuple(target.shape) != expected or target.dtype.kind not in "iu":
        raise RuntimeError(f"nll_loss: input of shape {input.shape} expects integer class indices of shape "
                           f"{expected}, got a target of shape {target.shape} and dtype {target.dtype}")
    spatial = input.shape[2:]
    z, t = _move_class_last(input, target)
    xp = input._xp()
    td = t._data
    valid = td != ignore_index
    safe = xp.where(valid, td, 0)
    C = z.shape[1]
    if safe.size and (safe.min() < 0 or safe.max() >= C):
        bad = td[valid & ((td < 0) | (td >= C))]
        raise IndexError(f"nll_loss: target {int(bad.flat[0])} is out of range for {C} classes "
                         f"(expected 0 <= target < {C}, or ignore_index={ignore_index})")
    r = (weight._data[safe] if weight is not None else xp.ones(safe.shape, dtype=z.dtype)) * valid
    picked = -z.gather(1, Tensor._wrap(safe[:, None])).squeeze(1) * Tensor._wrap(r.astype(z.dtype))
    if reduction == "mean":
        return picked.sum() / float(r.sum())
    if reduction == "sum":
        return picked.sum()
    return picked.reshape((input.shape[0],) + spatial) if spatial else picked


# -- layer norm ---------------------------------------------------------------------------------
class LayerNorm(Function):
    """(x - mean) * rstd * weight + bias over the trailing ``n`` dims, caching mean and rstd."""

    raw = True

    def forward(ctx, x, weight, bias, n, eps):
        xp = array_module(x)
        axes = tuple(range(x.ndim - n, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = (xc * xc).mean(axis=axes, keepdims=True)
        rstd = 1.0 / xp.sqrt(var + eps)
        xc *= rstd  # now the normalized input
        ctx.mean, ctx.rstd = mean, rstd
        if weight is not None:
            xc *= weight
        if bias is not None:
            xc += bias
        return xc

    def backward(ctx, grad):
        if is_grad_enabled():
            x, weight, bias, n, eps = ctx.inputs
            return composite_backward(ctx, lambda x_, w_, b_, *_: layer_norm_composite(x_, n, w_, b_, eps),
                                      (grad,))
        x, weight, bias, n, _ = ctx.inputs
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g = grad._data
        axes = tuple(range(g.ndim - n, g.ndim))
        lead = tuple(range(g.ndim - n))
        norm = (x._data - ctx.mean) * ctx.rstd
        grad_w = Tensor._wrap((g * norm).sum(axis=lead)) if need_w else None
        grad_b = Tensor._wrap(g.sum(axis=lead)) if need_b else None
        grad_x = None
        if need_x:
            dnorm = g * weight._data if weight is not None else g.copy()
            # dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm))
            c1 = dnorm.mean(axis=axes, keepdims=True)
            c2 = (dnorm * norm).mean(axis=axes, keepdims=True)
            dnorm -= c1
            norm *= c2
            dnorm -= norm
            dnorm *= ctx.rstd
            grad_x = Tensor._wrap(dnorm)
        return grad_x, grad_w, grad_b, None, None


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing dims given by ``normalized_shape``, then scale and shift."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise RuntimeError(f"layer_norm: normalized_shape {shape} does not match the trailing dims "
                           f"of the input of shape {input.shape}")
    return LayerNorm.apply(input, weight, bias, len(shape), eps)


def layer_norm_composite(x: Tensor, n: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    axes = tuple(range(x.ndim - n, x.ndim))
    mean = x.mean(axes, keepdim=True)
    xc = x - mean
    out = xc * ((xc * xc).mean(axes, keepdim=True) + eps).rsqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out
