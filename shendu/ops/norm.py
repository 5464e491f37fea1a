"""Fused normalization ops: layer and RMS norm over trailing dims, batch norm per channel.

Forward caches the per-group statistics (mean, rstd) and the first-order backward is a
hand-simplified formula on raw arrays (llm.c's ``doc/layernorm/layernorm.md`` derivation; for batch
norm the reduction runs over the batch and spatial axes instead of the feature axes). When the
backward itself is recorded (``create_graph=True``) each op differentiates its composite
definition instead (``*_composite`` below), which is also the oracle of the tests. The public
functions (argument checks) are in ``shendu.nn.functional_norm``.
"""
from __future__ import annotations

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.grad_mode import is_grad_enabled
from shendu.ops.fused import composite_backward
from shendu.tensor import Tensor


def _channel_axes(ndim: int) -> tuple:
    """The axes batch norm reduces over for an (N, C, *spatial) input: all but the channel axis."""
    return (0,) + tuple(range(2, ndim))


def _channel_shape(ndim: int, C: int) -> tuple:
    """(1, C, 1, ...): the shape that broadcasts a per-channel (C,) vector against (N, C, *spatial)."""
    return (1, C) + (1,) * (ndim - 2)


def _mean(a, axes: tuple):
    """``a.mean(axis=axes, keepdims=True)`` with the same sum and division, without NumPy's ``_mean``
    wrapper (a few microseconds a call: the norms of a one-token decoding step are dominated by it)."""
    n = 1
    for ax in axes:
        n *= a.shape[ax]
    return a.sum(axis=axes, keepdims=True) / n


# -- layer norm ---------------------------------------------------------------------------------
class LayerNorm(Function):
    """(x - mean) * rstd * weight + bias over the trailing ``n`` dims, caching mean and rstd."""

    saved_inputs = (0, 1)  # the bias's value never enters a gradient

    def forward(ctx, x, weight, bias, *, n, eps):
        ctx.n, ctx.eps = n, eps
        xp = array_module(x)
        axes = tuple(range(x.ndim - n, x.ndim))
        mean = _mean(x, axes)
        xc = x - mean
        var = _mean(xc * xc, axes)
        rstd = 1.0 / xp.sqrt(var + eps)
        xc *= rstd  # now the normalized input
        ctx.mean, ctx.rstd = mean, rstd
        if weight is not None:
            xc *= weight
        if bias is not None:
            xc += bias
        return xc

    def backward(ctx, grad):
        n = ctx.n
        if is_grad_enabled():
            return composite_backward(ctx, lambda x_, w_, b_: layer_norm_composite(x_, n, w_, b_, ctx.eps),
                                      (grad,))
        x, weight, bias = ctx.inputs
        need_x, need_w, need_b = ctx.needs_input_grad
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
            c1 = _mean(dnorm, axes)
            c2 = _mean(dnorm * norm, axes)
            dnorm -= c1
            norm *= c2
            dnorm -= norm
            dnorm *= ctx.rstd
            grad_x = Tensor._wrap(dnorm)
        return grad_x, grad_w, grad_b


def layer_norm_op(x: Tensor, n: int, weight: Tensor | None, bias: Tensor | None, eps: float) -> Tensor:
    """The fused op behind ``F.layer_norm`` over the trailing ``n`` dims (no argument checks)."""
    return LayerNorm.apply(x, weight, bias, n=int(n), eps=float(eps))


def layer_norm_composite(x: Tensor, n: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """layer norm from Tensor ops: the oracle and create_graph path."""
    axes = tuple(range(x.ndim - n, x.ndim))
    mean = x.mean(axes, keepdim=True)
    xc = x - mean
    out = xc * ((xc * xc).mean(axes, keepdim=True) + eps).rsqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


# -- batch norm ---------------------------------------------------------------------------------
class BatchNorm(Function):
    """(x - mean) * rstd * weight + bias per channel of an (N, C, *spatial) input.

    Training: mean and the biased variance come from the batch, and the running statistics (raw
    arrays, updated in place) move towards the batch mean and the *unbiased* batch variance by
    ``momentum``. Evaluation: mean and variance are the running statistics, constants of the graph.
    """

    saved_inputs = (0, 1)

    def forward(ctx, x, weight, bias, *, running_mean, running_var, training, momentum, eps):
        ctx.running, ctx.training, ctx.eps = (running_mean, running_var), training, eps
        xp = array_module(x)
        C = x.shape[1]
        axes, shape = _channel_axes(x.ndim), _channel_shape(x.ndim, C)
        if training:
            mean = _mean(x, axes)
            xc = x - mean
            var = _mean(xc * xc, axes)
            n = x.size // C
            if running_mean is not None:
                running_mean *= 1.0 - momentum
                running_mean += (momentum * mean).reshape(C).astype(running_mean.dtype, copy=False)
            if running_var is not None:
                unbiased = var * (n / (n - 1))  # the caller guarantees n > 1 in training
                running_var *= 1.0 - momentum
                running_var += (momentum * unbiased).reshape(C).astype(running_var.dtype, copy=False)
        else:
            mean = running_mean.reshape(shape).astype(x.dtype, copy=False)
            var = running_var.reshape(shape).astype(x.dtype, copy=False)
            xc = x - mean
        rstd = 1.0 / xp.sqrt(var + eps)
        ctx.mean, ctx.rstd = mean, rstd
        # one pass each for the scale and the shift: (x - mean) * (rstd * weight) + bias
        xc *= rstd * weight.reshape(shape) if weight is not None else rstd
        if bias is not None:
            xc += bias.reshape(shape)
        return xc

    def backward(ctx, grad):
        x, weight, bias = ctx.inputs
        training = ctx.training
        if is_grad_enabled():
            rm, rv = (Tensor._wrap(r) if r is not None else None for r in ctx.running)
            return composite_backward(ctx, lambda x_, w_, b_: batch_norm_composite(
                x_, rm, rv, w_, b_, training, ctx.eps), (grad,))
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g = grad._data
        C = g.shape[1]
        axes, shape = _channel_axes(g.ndim), _channel_shape(g.ndim, C)
        sum_g = g.sum(axis=axes, keepdims=True) if need_b or (need_x and training) else None
        sum_gn = None
        if need_w or (need_x and training):
            norm = x._data - ctx.mean
            norm *= ctx.rstd
            sum_gn = (g * norm).sum(axis=axes, keepdims=True)
        grad_w = Tensor._wrap(sum_gn.reshape(C)) if need_w else None
        grad_b = Tensor._wrap(sum_g.reshape(C)) if need_b else None
        grad_x = None
        if need_x:
            k = ctx.rstd * weight._data.reshape(shape) if weight is not None else ctx.rstd  # dy/dx at fixed stats
            grad_x = g * k
            if training:
                # The batch statistics depend on x too; with n values per channel:
                # dx = k * (g - Σg / n - norm * Σ(g * norm) / n)
                n = g.size // C
                norm *= k * sum_gn / n
                grad_x -= norm
                grad_x -= k * sum_g / n
            grad_x = Tensor._wrap(grad_x)
        return grad_x, grad_w, grad_b


def batch_norm_op(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                  weight: Tensor | None, bias: Tensor | None, training: bool, momentum: float,
                  eps: float) -> Tensor:
    """The fused op behind ``F.batch_norm`` (no argument checks: the functional does them)."""
    raw = [t._data if t is not None else None for t in (running_mean, running_var)]
    return BatchNorm.apply(x, weight, bias, running_mean=raw[0], running_var=raw[1], training=bool(training),
                           momentum=float(momentum), eps=float(eps))


def batch_norm_composite(x: Tensor, running_mean=None, running_var=None, weight=None, bias=None,
                         training: bool = True, eps: float = 1e-5) -> Tensor:
    """batch norm from Tensor ops (no running-statistics update): the oracle and create_graph path."""
    axes, shape = _channel_axes(x.ndim), _channel_shape(x.ndim, x.shape[1])
    if training:
        mean = x.mean(axes, keepdim=True)
        xc = x - mean
        var = (xc * xc).mean(axes, keepdim=True)
    else:
        xc = x - running_mean.reshape(shape).to(x.dtype)
        var = running_var.reshape(shape).to(x.dtype)
    out = xc * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


# -- RMS norm -----------------------------------------------------------------------------------
class RMSNorm(Function):
    """x * rsqrt(mean(x²) + eps) * weight over the trailing ``n`` dims, caching rstd."""


    def forward(ctx, x, weight, *, n, eps):
        ctx.n, ctx.eps = n, eps
        xp = array_module(x)
        axes = tuple(range(x.ndim - n, x.ndim))
        rstd = 1.0 / xp.sqrt(_mean(x * x, axes) + eps)
        ctx.rstd = rstd
        out = x * rstd
        if weight is not None:
            out *= weight
        return out

    def backward(ctx, grad):
        x, weight = ctx.inputs
        n = ctx.n
        if is_grad_enabled():
            return composite_backward(ctx, lambda x_, w_: rms_norm_composite(x_, n, w_, ctx.eps), (grad,))
        need_x, need_w = ctx.needs_input_grad[:2]
        g = grad._data
        axes = tuple(range(g.ndim - n, g.ndim))
        norm = x._data * ctx.rstd
        grad_w = Tensor._wrap((g * norm).sum(axis=tuple(range(g.ndim - n)))) if need_w else None
        grad_x = None
        if need_x:
            dnorm = g * weight._data if weight is not None else g.copy()
            # dx = rstd * (dnorm - norm * mean(dnorm * norm)): no mean term, nothing is centred
            norm *= _mean(dnorm * norm, axes)
            dnorm -= norm
            dnorm *= ctx.rstd
            grad_x = Tensor._wrap(dnorm)
        return grad_x, grad_w


def rms_norm_op(x: Tensor, n: int, weight: Tensor | None, eps: float) -> Tensor:
    """The fused op behind ``F.rms_norm`` over the trailing ``n`` dims (no argument checks)."""
    return RMSNorm.apply(x, weight, n=int(n), eps=float(eps))


def rms_norm_composite(x: Tensor, n: int, weight=None, eps: float = 1e-6) -> Tensor:
    """RMS norm from Tensor ops: the oracle and create_graph path."""
    axes = tuple(range(x.ndim - n, x.ndim))
    out = x * ((x * x).mean(axes, keepdim=True) + eps).rsqrt()
    return out * weight if weight is not None else out
