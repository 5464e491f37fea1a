"""Cumulative ops along a dim: cumsum, cumprod, cummax/cummin, logcumsumexp.

The gradient of a scan is a reverse scan of the incoming gradient: cumsum's is a reversed cumsum,
cumprod's divides one by the input (with PyTorch's exact handling of zeros), cummax/cummin read
their values with ``gather``.
"""
from __future__ import annotations

from collections import namedtuple

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.ops.dims import wrap_dim
from shendu.tensor import Tensor

cummax_result = namedtuple("cummax", ["values", "indices"])
cummin_result = namedtuple("cummin", ["values", "indices"])


def _reverse_cumsum(t: Tensor, axis: int) -> Tensor:
    return t.flip(axis).cumsum(axis).flip(axis)


class CumSum(Function):
    saved_inputs = ()

    def forward(ctx, x, *, axis):
        ctx.axis = axis
        return array_module(x).cumsum(x, axis=axis)

    def backward(ctx, grad):
        return _reverse_cumsum(grad, ctx.axis)


class CumProd(Function):

    def forward(ctx, x, *, axis):
        ctx.axis = axis
        return array_module(x).cumprod(x, axis=axis)

    def backward(ctx, grad):
        x, axis = ctx.inputs[0], ctx.axis
        out = ctx.output
        zero = x._data == 0
        if not zero.any():
            return _reverse_cumsum(grad * out, axis) / x
        # PyTorch's rule with zeros: in each slice, entries before the first zero get the usual
        # sum_{j>=i} g_j out_j / x_i; the first zero gets sum_{j>=k} g_j prod_{i<=j, i!=k} x_i
        # (the cumprod with that zero replaced by one); entries after it get nothing.
        from shendu.ops.elementwise import where
        xp = x._xp()
        seen = xp.cumsum(zero, axis=axis)
        before, first, from_first = seen == 0, zero & (seen == 1), seen >= 1
        before_t, first_t = Tensor._wrap(before), Tensor._wrap(first)
        usual = _reverse_cumsum(grad * out, axis) / where(before_t, x, 1.0)
        ones_at_first = where(first_t, 1.0, x)
        at_first = (grad * ones_at_first.cumprod(axis) * Tensor._wrap(from_first.astype(x.dtype))).sum(
            axis, keepdim=True)
        return where(before_t, usual, where(first_t, at_first, 0.0))


class LogCumSumExp(Function):

    def forward(ctx, x, *, axis):
        ctx.axis = axis
        xp = array_module(x)
        if hasattr(xp.logaddexp, "accumulate"):
            return xp.logaddexp.accumulate(x, axis=axis)
        m = xp.max(x, axis=axis, keepdims=True)  # pragma: no cover - array libraries without accumulate
        m = xp.where(xp.isfinite(m), m, 0)
        return xp.log(xp.cumsum(xp.exp(x - m), axis=axis)) + m

    def backward(ctx, grad):
        # d out_j / d x_i = exp(x_i - out_j) for j >= i; summed in log space with the gradient's
        # positive and negative parts apart, so nothing overflows (as PyTorch does).
        from shendu.ops.elementwise import where
        x, axis, out = ctx.inputs[0], ctx.axis, ctx.output
        pos = Tensor._wrap(grad._data > 0)
        neg = Tensor._wrap(grad._data < 0)
        safe = where(pos | neg, grad.abs(), 1.0)
        # a very negative finite stand-in for log(0): -inf would give inf - inf = nan under create_graph
        tiny = float(grad._xp().finfo(grad.dtype).min) / 4
        log_pos = where(pos, safe.log(), tiny) - out
        log_neg = where(neg, safe.log(), tiny) - out
        rev_pos = logcumsumexp(log_pos.flip(axis), axis).flip(axis)
        rev_neg = logcumsumexp(log_neg.flip(axis), axis).flip(axis)
        return (x + rev_pos).exp() - (x + rev_neg).exp()


def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Running sums along ``dim``; bool and integer tensors sum as int64, as in PyTorch."""
    if dtype is not None:
        input = input.to(dtype)
    elif input.dtype.kind in "biu":
        input = input.to("int64")
    axis = wrap_dim(dim, input.ndim, "cumsum")
    return CumSum.apply(input, axis=axis) if input.ndim else input * 1


def cumprod(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Running products along ``dim``; the gradient handles zeros in the input as PyTorch does."""
    if dtype is not None:
        input = input.to(dtype)
    elif input.dtype.kind in "biu":
        input = input.to("int64")
    axis = wrap_dim(dim, input.ndim, "cumprod")
    return CumProd.apply(input, axis=axis) if input.ndim else input * 1


def _cum_extreme(input: Tensor, dim: int, largest: bool, result, name: str):
    axis = wrap_dim(dim, input.ndim, name)
    xp = input._xp()
    if input.ndim == 0:
        return result(input * 1, Tensor._wrap(xp.zeros((), dtype=xp.int64)))
    x = input._data
    running = (xp.maximum if largest else xp.minimum).accumulate(x, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    positions = xp.arange(x.shape[axis]).reshape(shape)
    # an entry that reaches (or ties) the running extreme becomes its index; NaN, once seen, stays
    hit = x == running
    if x.dtype.kind == "f":
        hit |= xp.isnan(x)
    idx = xp.maximum.accumulate(xp.where(hit, positions, 0), axis=axis)
    from shendu.ops.index import gather
    return result(gather(input, axis, Tensor._wrap(idx)), Tensor._wrap(idx.astype(xp.int64)))


def cummax(input: Tensor, dim: int):
    """``(values, indices)``: the running maximum along ``dim`` and where it was last reached."""
    return _cum_extreme(input, dim, True, cummax_result, "cummax")


def cummin(input: Tensor, dim: int):
    """``(values, indices)``: the running minimum along ``dim`` and where it was last reached."""
    return _cum_extreme(input, dim, False, cummin_result, "cummin")


def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """log(cumsum(exp(input))) along ``dim``, computed without overflow."""
    if input.dtype.kind != "f":
        raise RuntimeError(f"logcumsumexp: expected a floating-point tensor, got dtype {input.dtype}")
    axis = wrap_dim(dim, input.ndim, "logcumsumexp")
    return LogCumSumExp.apply(input, axis=axis) if input.ndim else input * 1
