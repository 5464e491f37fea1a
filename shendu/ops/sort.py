"""Sorting, searching and counting: sort, argsort, topk, kthvalue, median, mode, unique, bincount,
histc, searchsorted, bucketize.

Every selection computes its integer indices without a graph and reads the values with ``gather``,
so the values' gradient is gather's (a scatter-add back to the chosen positions) and the indices
are never differentiable. Sorting is stable; NaN sorts as the largest value, as in PyTorch.
"""
from __future__ import annotations

from collections import namedtuple

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.ops.dims import wrap_dim
from shendu.tensor import Tensor


def _return_type(name: str):
    return namedtuple(name, ["values", "indices"])


sort_result, topk_result, kthvalue_result = _return_type("sort"), _return_type("topk"), _return_type("kthvalue")
median_result, nanmedian_result, mode_result = (_return_type("median"), _return_type("nanmedian"),
                                                _return_type("mode"))


def _argsort(x, axis: int, descending: bool):
    """Stable argsort along ``axis``; descending keeps equal elements in their original order."""
    xp = array_module(x)
    if not descending:
        return xp.argsort(x, axis=axis, kind="stable")
    n = x.shape[axis]
    # a stable ascending sort of the reversed array, reversed again: ties stay in input order
    rev = xp.flip(xp.argsort(xp.flip(x, axis), axis=axis, kind="stable"), axis)
    return (n - 1) - rev


def _pick(input: Tensor, axis: int, idx) -> Tensor:
    """``input``'s entries at the integer array ``idx`` along ``axis`` (differentiable in ``input``)."""
    from shendu.ops.index import gather
    return gather(input, axis, Tensor._wrap(idx))


def _long(idx) -> Tensor:
    return Tensor._wrap(idx.astype(array_module(idx).int64, copy=False))


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """``(values, indices)`` sorted along ``dim`` (stable in both directions; NaN counts as largest).

    Shape: both outputs have ``input``'s shape.
    """
    if input.ndim == 0:
        wrap_dim(dim, 0, "sort")
        return sort_result(input * 1, _long(input._xp().zeros((), dtype="int64")))
    axis = wrap_dim(dim, input.ndim, "sort")
    idx = _argsort(input._data, axis, descending)
    return sort_result(_pick(input, axis, idx), _long(idx))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices (int64) that sort ``input`` along ``dim`` (ascending, or ``descending``); ``stable`` keeps
    the order of equal elements.

    Shape: the same as ``input``.
    """
    return sort(input, dim, descending, stable).indices


def msort(input: Tensor) -> Tensor:
    """``input`` sorted along its first dim."""
    return sort(input, 0).values


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """The ``k`` largest (``largest=False``: smallest) entries along ``dim`` and their indices."""
    axis = wrap_dim(dim, input.ndim, "topk")
    n = input.shape[axis] if input.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: k ({k}) is out of range for dim {dim} of size {n} "
                           f"(tensor of shape {input.shape})")
    if input.ndim == 0:
        return topk_result(input * 1, _long(input._xp().zeros((), dtype="int64")))
    xp = input._xp()
    idx = xp.take(_argsort(input._data, axis, largest), xp.arange(k), axis=axis)
    return topk_result(_pick(input, axis, idx), _long(idx))


def _nth(input: Tensor, axis, pos, keepdim: bool, result, nan_first: bool = False):
    """The entry at sorted position ``pos`` (an array over the other dims, or an int) along ``axis``."""
    xp = input._xp()
    if axis is None:
        flat = input.reshape(-1)
        order = _argsort(flat._data, 0, False)
        idx = order[pos].reshape(())
        return result(flat[Tensor._wrap(idx)], _long(idx))
    order = _argsort(input._data, axis, False)
    pos = xp.asarray(pos, dtype=xp.int64)
    if pos.ndim == 0:
        pos = pos.reshape((1,) * input.ndim)
    idx = xp.take_along_axis(order, xp.broadcast_to(pos, order.shape[:axis] + (1,) + order.shape[axis + 1:]),
                             axis=axis)
    values, indices = _pick(input, axis, idx), _long(idx)
    if not keepdim:
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    return result(values, indices)


class EvenlyShared(Function):
    """A value picked from ``x`` whose gradient is shared by the entries equal to it (``share``)."""

    saved_inputs = ()

    def forward(ctx, x, *, value, share):
        ctx.share = share
        return array_module(x).asarray(value, dtype=x.dtype)

    def backward(ctx, grad):
        return grad * Tensor._wrap(ctx.share.astype(grad.dtype))


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False):
    """The ``k``-th smallest entry (1-based) along ``dim`` and its index."""
    axis = wrap_dim(dim, input.ndim, "kthvalue")
    n = input.shape[axis] if input.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue: k ({k}) is out of range for dim {dim} of size {n} "
                           f"(tensor of shape {input.shape}); expected 1 <= k <= {n}")
    if input.ndim == 0:
        return kthvalue_result(input * 1, _long(input._xp().zeros((), dtype="int64")))
    return _nth(input, axis, k - 1, keepdim, kthvalue_result)


def _median(input: Tensor, dim, keepdim: bool, ignore_nan: bool, name: str):
    result = nanmedian_result if ignore_nan else median_result
    if input.numel() == 0:
        raise RuntimeError(f"{name}: cannot compute the median of an empty tensor of shape {input.shape}")
    xp = input._xp()
    nan = xp.isnan(input._data) if input.dtype.kind == "f" else xp.zeros(input.shape, dtype=bool)
    if dim is None:
        count = input.numel() - int(nan.sum())
        # PyTorch's lower median; without ignore_nan any NaN is the answer (NaN sorts last)
        pos = (count - 1) // 2 if ignore_nan or count == input.numel() else count
        if ignore_nan and count == 0:
            pos = 0
        flat = input._data.reshape(-1)
        value = flat[_argsort(flat, 0, False)[pos]]
        # as PyTorch, the gradient is shared evenly by every entry equal to the median (NaNs: by the NaNs)
        hit = nan if value != value else input._data == value
        return EvenlyShared.apply(input, value=value, share=hit / hit.sum())
    axis = wrap_dim(dim, input.ndim, name)
    if input.ndim == 0:
        return result(input * 1, _long(xp.zeros((), dtype="int64")))
    n = input.shape[axis]
    count = n - nan.sum(axis=axis, keepdims=True)
    pos = xp.maximum((count - 1) // 2, 0) if ignore_nan else xp.where(count == n, (n - 1) // 2, count)
    return _nth(input, axis, pos, keepdim, result)


def median(input: Tensor, dim: int | None = None, keepdim: bool = False):
    """The lower median (of all entries, or ``(values, indices)`` along ``dim``); NaN if any is NaN."""
    return _median(input, dim, keepdim, False, "median")


def nanmedian(input: Tensor, dim: int | None = None, keepdim: bool = False):
    """``median`` ignoring NaNs (NaN only where a slice is all NaN)."""
    return _median(input, dim, keepdim, True, "nanmedian")


def mode(input: Tensor, dim: int = -1, keepdim: bool = False):
    """The most frequent value along ``dim`` (the smallest among equally frequent ones) and the
    index of its last occurrence, as in PyTorch."""
    axis = wrap_dim(dim, input.ndim, "mode")
    xp = input._xp()
    if input.ndim == 0:
        return mode_result(input * 1, _long(xp.zeros((), dtype="int64")))
    x = xp.moveaxis(input._data, axis, -1)
    rows = x.reshape(-1, x.shape[-1])  # (R, n)
    n = rows.shape[1]
    if n == 0:
        raise RuntimeError(f"mode: dim {dim} of the tensor of shape {input.shape} is empty")
    order = xp.argsort(rows, axis=1, kind="stable")
    s = xp.take_along_axis(rows, order, axis=1)
    start = xp.ones(s.shape, dtype=bool)
    start[:, 1:] = s[:, 1:] != s[:, :-1]
    run = xp.cumsum(start, axis=1) - 1  # the run each sorted position belongs to
    flat_run = run + xp.arange(rows.shape[0])[:, None] * n
    counts = xp.bincount(flat_run.ravel(), minlength=rows.size).reshape(rows.shape)
    best_run = xp.argmax(counts, axis=1)  # the first (smallest value) of the most frequent runs
    in_best = run == best_run[:, None]
    # the last occurrence in the input: the largest original index within the chosen run
    idx = xp.max(xp.where(in_best, order, -1), axis=1).reshape(x.shape[:-1] + (1,))
    idx = xp.moveaxis(idx, -1, axis)
    values, indices = _pick(input, axis, idx), _long(idx)
    if not keepdim:
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    return mode_result(values, indices)


# -- uniques and counts (never differentiable) ------------------------------------------------------
def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim: int | None = None):
    """The distinct values (sorted), optionally with each entry's position in them and their counts.

    With ``dim`` the distinct slices along ``dim``. Returns a tensor, or a tuple when asked for more.
    """
    xp = input._xp()
    axis = None if dim is None else wrap_dim(dim, input.ndim, "unique")
    data = input._data
    values, inverse, counts = xp.unique(data, return_inverse=True, return_counts=True, axis=axis)
    inverse = inverse.reshape(input.shape if axis is None else (input.shape[axis],))
    out = [Tensor._wrap(values)]
    if return_inverse:
        out.append(_long(inverse))
    if return_counts:
        out.append(_long(counts))
    return out[0] if len(out) == 1 else tuple(out)


def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None):
    """``input`` with each run of equal consecutive values (or slices along ``dim``) kept once."""
    xp = input._xp()
    if dim is None:
        x = input._data.reshape(-1)
        change = x[1:] != x[:-1]
        shape = input.shape
    else:
        axis = wrap_dim(dim, input.ndim, "unique_consecutive")
        x = xp.moveaxis(input._data, axis, 0)
        change = (x[1:] != x[:-1]).reshape(max(x.shape[0] - 1, 0), -1).any(axis=1)
        shape = (x.shape[0],)
    start = xp.concatenate([xp.ones(min(x.shape[0], 1), dtype=bool), change])
    keep = xp.nonzero(start)[0]
    values = x[keep] if dim is None else xp.moveaxis(x[keep], 0, axis)
    out = [Tensor._wrap(values)]
    if return_inverse:
        out.append(_long((xp.cumsum(start) - 1).reshape(shape)))
    if return_counts:
        out.append(_long(xp.diff(xp.append(keep, x.shape[0]))))
    return out[0] if len(out) == 1 else tuple(out)


def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """How often each value 0, 1, ... occurs in the 1-D non-negative integer ``input`` (or the sum
    of its ``weights``)."""
    x = input._data
    if input.ndim != 1 or x.dtype.kind not in "biu":
        raise RuntimeError(f"bincount: expected a 1-D integer tensor, got shape {input.shape} and dtype {x.dtype}")
    if x.size and int(x.min()) < 0:
        raise RuntimeError(f"bincount: expected non-negative values, got {int(x.min())}")
    xp = input._xp()
    if weights is None:
        return _long(xp.bincount(x, minlength=minlength))
    w = weights._data if isinstance(weights, Tensor) else xp.asarray(weights)
    if w.shape != x.shape:
        raise RuntimeError(f"bincount: weights of shape {w.shape} do not match the input's {x.shape}")
    out_dtype = w.dtype if w.dtype in (xp.float32, xp.float64) else xp.float64  # as PyTorch
    return Tensor._wrap(xp.bincount(x, weights=w, minlength=minlength).astype(out_dtype))


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """A histogram of ``bins`` equal bins over [min, max] (the data's range when both are 0);
    entries outside are ignored, the last bin includes ``max``."""
    if input.dtype.kind != "f":
        raise RuntimeError(f"histc: expected a floating-point tensor, got dtype {input.dtype}")
    xp = input._xp()
    x = input._data.reshape(-1)
    lo, hi = float(min), float(max)
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"histc: max ({hi}) must be larger than min ({lo})")
    x = x[(x >= lo) & (x <= hi)]
    b = ((x - lo) * (bins / (hi - lo))).astype(xp.int64)
    b = xp.minimum(b, bins - 1)
    return Tensor._wrap(xp.bincount(b, minlength=bins).astype(input.dtype))


def searchsorted(sorted_sequence: Tensor, input, *, out_int32: bool = False, right: bool = False,
                 side: str | None = None, sorter: Tensor | None = None) -> Tensor:
    """Where each of ``input`` would be inserted into the innermost dim of ``sorted_sequence``.

    ``right`` (or ``side='right'``) puts a value equal to an entry after it. A 1-D sequence serves
    every value; an N-D one needs ``input`` to match its leading dims.
    """
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise RuntimeError("searchsorted: side='left' contradicts right=True")
        right = side == "right"
    seq = sorted_sequence._data
    xp = array_module(seq)
    scalar = not isinstance(input, Tensor)
    v = xp.asarray(input) if scalar else input._data
    if sorter is not None:
        seq = xp.take_along_axis(seq, sorter._data, axis=-1)
    how = "right" if right else "left"
    if seq.ndim == 1:
        out = xp.searchsorted(seq, v, side=how)
    else:
        if seq.shape[:-1] != v.shape[:-1]:
            raise RuntimeError(f"searchsorted: the boundaries' leading dims {seq.shape[:-1]} must match "
                               f"the input's {v.shape[:-1]} (shapes {seq.shape} and {v.shape})")
        below = seq[..., None, :] <= v[..., :, None] if right else seq[..., None, :] < v[..., :, None]
        out = below.sum(axis=-1)
    return Tensor._wrap(xp.asarray(out, dtype=xp.int32 if out_int32 else xp.int64))


def bucketize(input, boundaries: Tensor, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket of each entry given 1-D increasing ``boundaries``: i with
    boundaries[i-1] < x <= boundaries[i] (``right=True``: boundaries[i-1] <= x < boundaries[i])."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries must be 1-D, got shape {boundaries.shape}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)
