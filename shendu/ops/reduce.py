"""Reductions over any dims: sum, mean, var, std, max, min, prod, logsumexp, norm, argmax.

Only ``sum``, ``sum_to``, ``amax``/``amin``, ``prod``, ``logsumexp`` and the p-norm have gradients
of their own; ``mean``, ``var`` and ``std`` (a 2-norm of the centered input) are compositions.
"""
from __future__ import annotations

import math
from collections import namedtuple

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.ops.dims import wrap_dims as normalize_dims
from shendu.tensor import Tensor

values_indices = namedtuple("values_indices", ["values", "indices"])


def _dims(dim, axis):
    return axis if dim is None else dim


def _unreduce(grad: Tensor, shape: tuple, axes, keepdim: bool) -> Tensor:
    """Reshape a reduced gradient so it broadcasts against the input of shape ``shape``."""
    if axes is not None and not keepdim:
        kept = list(grad.shape)
        for a in axes:
            kept.insert(a, 1)
        grad = grad.reshape(tuple(kept))
    elif axes is None and not keepdim:
        grad = grad.reshape((1,) * len(shape))
    return grad


class Sum(Function):
    saved_inputs = ()

    def forward(ctx, x, *, axes=None, keepdim=False):  # (the defaults: a loss's sum passes no settings)
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        if axes is None and not keepdim:  # the ufunc's reduce, positionally: no keyword handling
            return array_module(x).add.reduce(x, None)
        return array_module(x).sum(x, axis=axes, keepdims=keepdim)

    def backward(ctx, grad):
        if ctx.axes is None and not ctx.keepdim:  # a 0-d gradient broadcasts as it is
            return grad.expand(ctx.shape)
        return _unreduce(grad, ctx.shape, ctx.axes, ctx.keepdim).expand(ctx.shape)

    def grad_arrays(ctx, grad):
        xp = array_module(grad)
        if ctx.axes is None and not ctx.keepdim:  # a filled array: cheaper than a broadcast view, and owned
            out = xp.empty(ctx.shape, grad.dtype)  # (xp.full is Python-level: empty + fill is faster)
            out.fill(grad)
            return out
        if not ctx.keepdim and ctx.axes is not None:
            grad = xp.expand_dims(grad, ctx.axes)
        return xp.broadcast_to(grad, ctx.shape)


class SumTo(Function):
    """Sum a broadcast array back to ``shape`` (the engine's unbroadcast)."""

    saved_inputs = ()

    def forward(ctx, x, *, shape):
        ctx.in_shape = x.shape
        lead = x.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and x.shape[i + lead] != 1)
        out = x.sum(axis=axes, keepdims=True) if axes else x
        return out.reshape(shape) if lead or out.shape != shape else out

    def backward(ctx, grad):
        return grad.expand(ctx.in_shape)

    def grad_arrays(ctx, grad):
        return array_module(grad).broadcast_to(grad, ctx.in_shape)


class Extremum(Function):
    """amax / amin: the gradient is shared equally between tied extremes (as PyTorch's amax)."""


    def forward(ctx, x, *, axes, keepdim, largest):
        ctx.axes, ctx.keepdim = axes, keepdim
        xp = array_module(x)
        if x.size == 0:  # fine when only other dims are empty (an empty result), as in PyTorch
            name = "amax" if largest else "amin"
            if axes is None:
                raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0 "
                                   f"(input of shape {x.shape}). Specify the reduction dim with the 'dim' argument.")
            empty = [a for a in axes if x.shape[a] == 0]
            if empty:
                raise IndexError(f"{name}(): Expected reduction dim {empty[0]} to have "
                                 f"non-zero size (input of shape {x.shape})")
        return (xp.max if largest else xp.min)(x, axis=axes, keepdims=keepdim)

    def backward(ctx, grad):
        x, axes, keepdim = ctx.inputs[0], ctx.axes, ctx.keepdim
        out = _unreduce(ctx.output.detach(), x.shape, axes, keepdim)
        mask = (x._data == out._data)
        count = mask.sum(axis=axes, keepdims=True)
        share = Tensor._wrap((mask / count).astype(x.dtype))
        return _unreduce(grad, x.shape, axes, keepdim) * share


class Prod(Function):

    def forward(ctx, x, *, axis, keepdim):
        ctx.axis, ctx.keepdim = axis, keepdim
        return array_module(x).prod(x, axis=axis, keepdims=keepdim)

    def backward(ctx, grad):
        x, axis, keepdim = ctx.inputs[0], ctx.axis, ctx.keepdim
        g = _unreduce(grad, x.shape, None if axis is None else (axis,), keepdim)
        if not (x._data == 0).any():
            out = _unreduce(ctx.output, x.shape, None if axis is None else (axis,), keepdim)
            return g * out / x
        # With zeros: the product of the other elements, Π_{k≠j} x_k = (Π of the non-zeros but x_j)
        # x (Π of the zeros but x_j). The second factor is 1, the one remaining zero (value 0, but
        # its derivative matters under create_graph) or 0 (two or more zeros). Tensor ops throughout.
        from shendu.ops.elementwise import where
        axes = None if axis is None else (axis,)
        zero = x._data == 0
        zeros_in_slice = zero.sum(axis=axis, keepdims=True)
        others_zeros = zeros_in_slice - zero  # zeros in the slice other than x_j
        mask = Tensor._wrap(zero)
        x_safe = where(mask, 1.0, x)
        nonzero_part = Prod.apply(x_safe, axis=axis, keepdim=True) / x_safe
        remaining_zero = sum(x * Tensor._wrap(zero.astype(x.dtype)), axes, True) - where(mask, x, 0.0)
        zero_part = where(Tensor._wrap(others_zeros == 0), 1.0,
                          where(Tensor._wrap(others_zeros == 1), remaining_zero, 0.0))
        return g * (nonzero_part * zero_part)


class LogSumExp(Function):

    def forward(ctx, x, *, axes, keepdim):
        ctx.axes, ctx.keepdim = axes, keepdim
        xp = array_module(x)
        m = xp.max(x, axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        out = xp.log(xp.sum(xp.exp(x - m), axis=axes, keepdims=True)) + m
        return out if keepdim else out.squeeze(axis=axes) if axes is not None else out.reshape(())

    def backward(ctx, grad):
        x, axes, keepdim = ctx.inputs[0], ctx.axes, ctx.keepdim
        out = _unreduce(ctx.output, x.shape, axes, keepdim)
        return _unreduce(grad, x.shape, axes, keepdim) * (x - out).exp()


class PNorm(Function):
    """(Σ |x|^p)^(1/p) over ``axes``; where the norm is 0 the gradient is 0 (as PyTorch), not nan."""


    def forward(ctx, x, *, p, axes, keepdim):
        ctx.p, ctx.axes, ctx.keepdim = p, axes, keepdim
        xp = array_module(x)
        if p == 2:
            return xp.sqrt(xp.sum(x * x, axis=axes, keepdims=keepdim))
        if p == 0:  # the number of non-zero entries
            return xp.sum(x != 0, axis=axes, keepdims=keepdim).astype(x.dtype)
        return xp.sum(xp.abs(x) ** p, axis=axes, keepdims=keepdim) ** (1.0 / p)

    def backward(ctx, grad):
        from shendu.ops.elementwise import where
        x, p, axes, keepdim = ctx.inputs[0], ctx.p, ctx.axes, ctx.keepdim
        if p == 0:
            return x * 0.0
        out = _unreduce(ctx.output, x.shape, axes, keepdim)
        zero = Tensor._wrap(out._data == 0)
        safe = where(zero, 1.0, out)  # keeps create_graph's path through the norm
        # d||x||_p / dx = sign(x) |x|^(p-1) / ||x||^(p-1)
        scale = x / safe if p == 2 else x.sign() * x.abs() ** (p - 1) / safe ** (p - 1)
        return where(zero, 0.0, _unreduce(grad, x.shape, axes, keepdim) * scale)


class ArgExtremum(Function):
    differentiable = False

    def forward(ctx, x, *, axis, keepdim, largest):
        xp = array_module(x)
        fn = xp.argmax if largest else xp.argmin
        if axis is None:
            return fn(x).astype(xp.int64).reshape((1,) * x.ndim if keepdim else ())
        return fn(x, axis=axis, keepdims=keepdim).astype(xp.int64)


# -- the functions ------------------------------------------------------------------------------
def sum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None, axis=None,  # noqa: A001
        keepdims: bool | None = None) -> Tensor:
    """Sum over ``dim`` (all dims when None). ``axis``/``keepdims`` are the NumPy spellings PyTorch accepts."""
    if keepdims is not None:
        keepdim = keepdims
    if dim is None and axis is None and dtype is None and input._data.dtype.kind == "f":
        return Sum.apply(input, keepdim=True) if keepdim else Sum.apply(input)
    axes = normalize_dims(_dims(dim, axis), input.ndim, "sum")
    if dtype is not None:
        input = input.to(dtype)
    elif input.dtype.kind in "biu":
        input = input.to("int64")  # PyTorch sums bool and int tensors as int64
    return Sum.apply(input, axes=axes, keepdim=keepdim)


def sum_to(input: Tensor, shape: tuple) -> Tensor:
    return SumTo.apply(input, shape=tuple(shape))


def _count(shape, axes) -> int:
    if axes is None:
        return math.prod(shape)
    return math.prod(shape[a] for a in axes)


def mean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None, axis=None,
         keepdims: bool | None = None) -> Tensor:
    """Mean of ``input``'s elements over ``dim`` (all elements when None); ``dtype`` casts first.

    Args:
        input: the tensor to reduce.
        dim: an int or a tuple of ints; None reduces over every dim.
        keepdim: keep the reduced dims with size 1.

    Shape: ``input``'s shape without the reduced dims (size 1 with ``keepdim``); a 0-d tensor when ``dim`` is None.
    """
    if keepdims is not None:
        keepdim = keepdims
    if input.dtype.kind not in "fc" and dtype is None:
        raise RuntimeError(f"mean: expected a floating-point tensor, got dtype {input.dtype}; "
                           "use .float() first or pass dtype=")
    axes = normalize_dims(_dims(dim, axis), input.ndim, "mean")
    n = _count(input.shape, axes)
    return sum(input, axes, keepdim, dtype=dtype) * (1.0 / n if n else float("nan"))


def var(input: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: int | None = None, axis=None) -> Tensor:
    """Variance; ``correction=1`` (or ``unbiased=True``, the default) divides by n - 1."""
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    axes = normalize_dims(_dims(dim, axis), input.ndim, "var")
    n = _count(input.shape, axes)
    centered = input - mean(input, axes, keepdim=True)
    scale = 1.0 / (n - correction) if n > correction else float("inf")  # x / 0, as PyTorch: inf or nan
    return sum(centered * centered, axes, keepdim) * scale


def std(input: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: int | None = None, axis=None) -> Tensor:
    """Standard deviation, sqrt(var); its gradient is 0 (not nan) where it is 0, as in PyTorch."""
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    axes = normalize_dims(_dims(dim, axis), input.ndim, "std")
    n = _count(input.shape, axes)
    centered = input - mean(input, axes, keepdim=True)
    scale = 1.0 / math.sqrt(n - correction) if n > correction else float("inf")  # x / 0, as PyTorch
    return PNorm.apply(centered, p=2, axes=axes, keepdim=keepdim) * scale


def var_mean(input: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None):
    """``(var, mean)`` of ``input`` over ``dim`` in one call; ``correction`` (default 1, Bessel's) as in ``var``.

    Shape: both have ``input``'s shape without the reduced dims (size 1 with ``keepdim``).
    """
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def std_mean(input: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None):
    """``(std, mean)`` of ``input`` over ``dim`` in one call; ``correction`` (default 1, Bessel's) as in ``std``.

    Shape: both have ``input``'s shape without the reduced dims (size 1 with ``keepdim``).
    """
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def amax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Largest value over ``dim``; unlike ``max`` it returns values only, and the gradient is shared
    equally among tied maxima.

    Args:
        input: the tensor to reduce.
        dim: an int or a tuple of ints; None reduces over every dim.
        keepdim: keep the reduced dims with size 1.

    Shape: ``input``'s shape without the reduced dims (size 1 with ``keepdim``); a 0-d tensor when ``dim`` is None.
    """
    return Extremum.apply(input, axes=normalize_dims(dim, input.ndim, "amax"), keepdim=keepdim, largest=True)


def amin(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Smallest value over ``dim``; unlike ``min`` it returns values only, and the gradient is shared
    equally among tied minima.

    Args:
        input: the tensor to reduce.
        dim: an int or a tuple of ints; None reduces over every dim.
        keepdim: keep the reduced dims with size 1.

    Shape: ``input``'s shape without the reduced dims (size 1 with ``keepdim``); a 0-d tensor when ``dim`` is None.
    """
    return Extremum.apply(input, axes=normalize_dims(dim, input.ndim, "amin"), keepdim=keepdim, largest=False)


def _extreme(input: Tensor, dim, keepdim: bool, largest: bool, name: str):
    if isinstance(dim, Tensor):  # max(a, b) is the elementwise maximum
        from shendu.ops.binary import maximum, minimum
        return (maximum if largest else minimum)(input, dim)
    if dim is None:
        return Extremum.apply(input, axes=None, keepdim=False, largest=largest)
    axis = normalize_dims(dim, input.ndim, name)
    axis = axis[0] if axis else None
    idx = ArgExtremum.apply(input, axis=axis, keepdim=True, largest=largest)
    from shendu.ops.index import gather
    values = gather(input, axis, idx) if axis is not None else input.reshape(())
    if not keepdim and axis is not None:
        values, idx = values.squeeze(axis), idx.squeeze(axis)
    return values_indices(values, idx)


def max(input: Tensor, dim=None, keepdim: bool = False, *, axis=None):  # noqa: A001
    """``max(x)`` the largest element; ``max(x, dim)`` (values, indices); ``max(x, y)`` elementwise."""
    return _extreme(input, _dims(dim, axis), keepdim, True, "max")


def min(input: Tensor, dim=None, keepdim: bool = False, *, axis=None):  # noqa: A001
    """``min(x)`` the smallest element; ``min(x, dim)`` a ``(values, indices)`` namedtuple; ``min(x, y)`` elementwise.

    Shape: ``min(x, dim)``'s values and int64 indices have ``input``'s shape without ``dim`` (size 1 with
    ``keepdim``); ``min(x, y)`` has the broadcast shape.
    """
    return _extreme(input, _dims(dim, axis), keepdim, False, "min")


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False, *, axis=None) -> Tensor:
    """Index (int64) of the largest element: over the flattened tensor when ``dim`` is None, else along ``dim``.
    Ties give the first index.

    Shape: a 0-d tensor, or ``input``'s shape without ``dim`` (size 1 with ``keepdim``).
    """
    d = normalize_dims(_dims(dim, axis), input.ndim, "argmax")
    return ArgExtremum.apply(input, axis=d[0] if d else None, keepdim=keepdim, largest=True)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False, *, axis=None) -> Tensor:
    """Index (int64) of the smallest element: over the flattened tensor when ``dim`` is None, else along ``dim``.
    Ties give the first index.

    Shape: a 0-d tensor, or ``input``'s shape without ``dim`` (size 1 with ``keepdim``).
    """
    d = normalize_dims(_dims(dim, axis), input.ndim, "argmin")
    return ArgExtremum.apply(input, axis=d[0] if d else None, keepdim=keepdim, largest=False)


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Product of ``input``'s elements over ``dim`` (one int, or all elements when None); ``dtype`` casts first.

    Args:
        input: the tensor to reduce.
        dim: an int or a tuple of ints; None reduces over every dim.
        keepdim: keep the reduced dims with size 1.

    Shape: ``input``'s shape without the reduced dims (size 1 with ``keepdim``); a 0-d tensor when ``dim`` is None.
    """
    if dtype is not None:
        input = input.to(dtype)
    d = normalize_dims(dim, input.ndim, "prod")
    return Prod.apply(input, axis=d[0] if d else None, keepdim=keepdim)


def logsumexp(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(input)))`` over ``dim``, computed stably (the maximum is subtracted first).

    Args:
        input: the tensor to reduce.
        dim: an int or a tuple of ints; None reduces over every dim.
        keepdim: keep the reduced dims with size 1.

    Shape: ``input``'s shape without the reduced dims (size 1 with ``keepdim``); a 0-d tensor when ``dim`` is None.
    """
    return LogSumExp.apply(input, axes=normalize_dims(dim, input.ndim, "logsumexp"), keepdim=keepdim)


def norm(input: Tensor, p="fro", dim=None, keepdim: bool = False) -> Tensor:
    """Vector p-norm (p = 1, 2, inf, any real) over ``dim``, or the Frobenius norm ('fro')."""
    axes = normalize_dims(dim, input.ndim, "norm")
    if p == "fro" or p is None:
        p = 2
    if p == 1:
        return sum(input.abs(), axes, keepdim)
    if p in (float("inf"), "inf"):
        return amax(input.abs(), axes, keepdim)
    if p in (float("-inf"), "-inf"):
        return amin(input.abs(), axes, keepdim)
    if isinstance(p, (int, float)) and not isinstance(p, bool):
        return PNorm.apply(input, p=p, axes=axes, keepdim=keepdim)
    raise ValueError(f"norm: unsupported p={p!r}; expected 'fro', 1, 2, inf or a number")


def all(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where every element over ``dim`` is nonzero (bool, no gradient).

    Args:
        input: the tensor to reduce.
        dim: an int or a tuple of ints; None reduces over every dim.
        keepdim: keep the reduced dims with size 1.

    Shape: ``input``'s shape without the reduced dims (size 1 with ``keepdim``); a 0-d tensor when ``dim`` is None.
    """
    axes = normalize_dims(dim, input.ndim, "all")
    return Tensor._wrap(input._xp().all(input._data, axis=axes, keepdims=keepdim))


def any(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where some element over ``dim`` is nonzero (bool, no gradient).

    Args:
        input: the tensor to reduce.
        dim: an int or a tuple of ints; None reduces over every dim.
        keepdim: keep the reduced dims with size 1.

    Shape: ``input``'s shape without the reduced dims (size 1 with ``keepdim``); a 0-d tensor when ``dim`` is None.
    """
    axes = normalize_dims(dim, input.ndim, "any")
    return Tensor._wrap(input._xp().any(input._data, axis=axes, keepdims=keepdim))


def count_nonzero(input: Tensor, dim=None) -> Tensor:
    """The number of non-zero entries (over ``dim``: an int or a tuple of ints)."""
    xp = input._xp()
    axes = normalize_dims(dim, input.ndim, "count_nonzero")
    return Tensor._wrap(xp.asarray(xp.count_nonzero(input._data, axis=axes), dtype=xp.int64))


aminmax_result = namedtuple("aminmax", ["min", "max"])


def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False):
    """``(min, max)`` of all entries, or along ``dim``."""
    if dim is not None:
        dim = normalize_dims(dim, input.ndim, "aminmax")
    return aminmax_result(amin(input, dim, keepdim), amax(input, dim, keepdim))


def nansum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``sum`` treating NaN as zero (NaN entries get no gradient)."""
    if input.dtype.kind == "f":
        from shendu.ops.elementwise import where
        input = where(Tensor._wrap(input._xp().isnan(input._data)), 0.0, input)
    return sum(input, dim, keepdim, dtype=dtype)


def nanmean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``mean`` over the entries that are not NaN."""
    if input.dtype.kind not in "fc" and dtype is None:
        raise RuntimeError(f"nanmean: expected a floating-point tensor, got dtype {input.dtype}")
    axes = normalize_dims(dim, input.ndim, "nanmean")
    keep = Tensor._wrap(~input._xp().isnan(input._data))
    count = sum(keep, axes, keepdim).to(input.dtype if dtype is None else dtype)
    return nansum(input, axes, keepdim, dtype=dtype) / count
