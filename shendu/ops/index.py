"""Indexing: ``x[idx]`` (basic and advanced), gather, scatter_add, index_add, masked_fill.

The gradient of a read is a scatter-add into zeros; the gradient of a scatter is a read. Repeated
indices accumulate (``backend.scatter_add``), so ``x[[0, 0]]`` sends both gradients to ``x[0]``.
"""
from __future__ import annotations

import numpy as np

from shendu import backend
from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.tensor import Tensor


def _raw_index(index):
    """Turn Tensors inside an index into arrays, checking index dtypes."""
    if isinstance(index, Tensor):
        if index.dtype.kind not in "biu":
            raise IndexError(f"index: tensors used as indices must be integer or bool, got {index.dtype}")
        return index._data
    if isinstance(index, tuple):
        return tuple(_raw_index(i) for i in index)
    if isinstance(index, list) and any(isinstance(i, (Tensor, list, tuple)) for i in index):
        return tuple(_raw_index(i) for i in index)
    return index


def _is_advanced(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(hasattr(i, "dtype") and i.dtype.kind in "iu" or isinstance(i, list) for i in items)


class GetItem(Function):
    raw = True
    saved_inputs = ()

    def forward(ctx, x, *, index):
        ctx.index, ctx.shape = index, x.shape
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"index: {e} (tensor of shape {x.shape}, index {index!r})") from None

    def backward(ctx, grad):
        return Placed.apply(grad, shape=ctx.shape, index=ctx.index)


class Placed(Function):
    """zeros(shape) with ``grad`` added at ``index``: the gradient of ``GetItem``."""

    raw = True
    saved_inputs = ()

    def forward(ctx, grad, *, shape, index):
        ctx.index = index
        xp = array_module(grad)
        out = xp.zeros(shape, dtype=grad.dtype)
        if _is_advanced(index):
            backend.scatter_add(out, index, grad)
        else:
            out[index] = grad
        return out

    def backward(ctx, grad):
        return GetItem.apply(grad, index=ctx.index)


class IndexPut(Function):
    """``input`` with ``values`` written (or, with ``accumulate``, added) at ``index``, out of place.

    The gradient of ``input`` is the incoming gradient, zeroed where it was overwritten (unless
    accumulating); that of ``values`` is the incoming gradient read at ``index`` (the engine sums it
    over broadcast dims), so a repeated position sends its gradient to every value written there,
    as in PyTorch.
    """

    raw = True
    saved_inputs = ()

    def forward(ctx, x, values, *, index, accumulate):
        ctx.index, ctx.accumulate = index, accumulate
        out = x.copy()
        try:
            if accumulate:
                target_shape = out[index].shape
                backend.scatter_add(out, index, array_module(x).broadcast_to(values, target_shape))
            else:
                out[index] = values
        except (IndexError, ValueError) as e:
            raise type(e)(f"index_put: {e} (tensor of shape {x.shape}, values of shape "
                          f"{values.shape}, index {index!r})") from None
        return out

    def backward(ctx, grad):
        grad_x = grad_values = None
        if ctx.needs_input_grad[0]:
            if ctx.accumulate:
                grad_x = grad
            else:
                keep = grad._xp().ones(grad.shape, dtype=grad.dtype)
                keep[ctx.index] = 0
                grad_x = grad * Tensor._wrap(keep)
        if ctx.needs_input_grad[1]:
            grad_values = GetItem.apply(grad, index=ctx.index)
        return grad_x, grad_values


def _along(index, axis: int):
    """The full NumPy index that addresses ``index``'s entries along ``axis`` (gather/scatter)."""
    xp = array_module(index)
    grids = list(xp.ogrid[tuple(slice(0, s) for s in index.shape)]) if index.ndim else []
    grids[axis] = index
    return tuple(grids)


class Gather(Function):
    raw = True

    def forward(ctx, x, axis, index):
        if index.ndim != x.ndim:
            raise RuntimeError(f"gather: index has {index.ndim} dims but the input has {x.ndim} "
                               f"(input shape {x.shape}, index shape {index.shape})")
        _check_range(index, x.shape, axis, "gather")
        return x[_along(index, axis)]

    def backward(ctx, grad):
        x, axis, index = ctx.inputs
        zeros = Tensor._wrap(grad._xp().zeros(x.shape, dtype=grad.dtype))
        return scatter_add(zeros, axis, index, grad), None, None


class ScatterAdd(Function):
    raw = True

    def forward(ctx, x, axis, index, src):
        if index.ndim != x.ndim or src.ndim != x.ndim:
            raise RuntimeError(f"scatter_add: index and src need as many dims as the input, got input "
                               f"{x.shape}, index {index.shape}, src {src.shape}")
        _check_range(index, x.shape, axis, "scatter_add")
        if any(i > s for i, s in zip(index.shape, src.shape)):
            raise RuntimeError(f"scatter_add: index of shape {index.shape} is larger than src of shape {src.shape}")
        out = x.copy()
        src = src[tuple(slice(0, s) for s in index.shape)] if src.shape != index.shape else src
        backend.scatter_add(out, _along(index, axis), src)
        return out

    def backward(ctx, grad):
        _, axis, index, src = ctx.inputs
        grad_src = None
        if ctx.needs_input_grad[3]:
            grad_src = gather(grad, axis, index)
            if grad_src.shape != src.shape:  # src entries beyond index's extent were not used
                grad_src = Placed.apply(grad_src, shape=src.shape, index=tuple(slice(0, s) for s in index.shape))
        return grad, None, None, grad_src


# -- the functions ------------------------------------------------------------------------------
def getitem(input: Tensor, index) -> Tensor:
    return GetItem.apply(input, index=_raw_index(index))


def index_put(input: Tensor, indices, values, accumulate: bool = False) -> Tensor:
    """A copy of ``input`` with ``values`` put at ``indices`` (added there when ``accumulate``).

    ``indices`` is a tuple of integer or bool tensors, one per leading dim, as in PyTorch; any index
    ``x[...]`` accepts (slices, ints, None, Ellipsis) works too, so ``x[idx] = v`` is
    ``index_put(x, idx, v)``. ``values`` broadcasts to the shape of ``input[indices]``. Without
    ``accumulate`` a repeated position keeps one of its values (which one is unspecified, as in
    PyTorch). Differentiable in ``input`` and ``values``.
    """
    if isinstance(indices, list):
        indices = tuple(indices)
    index = _raw_index(indices)
    if isinstance(values, Tensor):
        if values.dtype != input.dtype:
            values = values.to(input.dtype)
    else:
        values = Tensor._wrap(input._xp().asarray(values, dtype=input.dtype))
    return IndexPut.apply(input, values, index=index, accumulate=bool(accumulate))


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    return Gather.apply(input, dim % input.ndim, _as_index(index, "gather"))


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """Entries of ``input`` at ``indices`` along ``dim``; the other dims broadcast (as in PyTorch)."""
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    if input.ndim != indices.ndim:
        raise RuntimeError(f"take_along_dim: input of shape {input.shape} and indices of shape "
                           f"{indices.shape} need the same number of dims")
    d = dim % input.ndim
    try:
        shape = list(np.broadcast_shapes(input.shape[:d] + (1,) + input.shape[d + 1:],
                                         indices.shape[:d] + (1,) + indices.shape[d + 1:]))
    except ValueError:
        raise RuntimeError(f"take_along_dim: input of shape {input.shape} and indices of shape "
                           f"{indices.shape} do not broadcast outside dim {d}") from None
    shape[d] = input.shape[d]
    input = input.expand(tuple(shape))
    shape[d] = indices.shape[d]
    idx = _as_index(indices, "take_along_dim")
    return gather(input, d, array_module(idx).broadcast_to(idx, tuple(shape)))


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    return ScatterAdd.apply(input, dim % input.ndim, _as_index(index, "scatter_add"), src)


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    idx = _as_index(index, "index_select")
    _check_range(idx, input.shape, dim % input.ndim, "index_select")
    return GetItem.apply(input, index=(slice(None),) * (dim % input.ndim) + (idx,))


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: float = 1) -> Tensor:
    """``input`` with ``source``'s slices added at ``index`` along ``dim`` (repeats accumulate)."""
    d = dim % input.ndim
    idx = _as_index(index, "index_add")
    _check_range(idx, input.shape, d, "index_add")
    expected = input.shape[:d] + idx.shape + input.shape[d + 1:]
    if idx.ndim > 1 or tuple(source.shape) != expected:
        raise RuntimeError(f"index_add: expected a 1-D index and a source of shape {expected} for an input "
                           f"of shape {input.shape} along dim {d}, got index {idx.shape} and source {source.shape}")
    if alpha != 1:
        source = source * alpha
    placed = Placed.apply(source, shape=input.shape, index=(slice(None),) * d + (idx,))
    return input + placed


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    from shendu.ops.elementwise import where
    if isinstance(value, Tensor):
        value = value.to(input.dtype)
    else:
        value = float(value) if input.dtype.kind == "f" else value
    mask_arr = mask._data if isinstance(mask, Tensor) else mask
    if mask_arr.dtype.kind != "b":
        raise RuntimeError(f"masked_fill: expected a bool mask, got dtype {mask_arr.dtype}")
    return where(Tensor._wrap(mask_arr), value, input)


def nonzero(input: Tensor, as_tuple: bool = False):
    xp = input._xp()
    idx = xp.nonzero(input._data)
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(xp.int64)) for i in idx)
    return Tensor._wrap(xp.stack(idx, axis=1).astype(xp.int64))


def _check_range(index, shape: tuple, axis: int, op: str) -> None:
    """Raise an IndexError naming ``op`` when an entry of ``index`` is outside dim ``axis`` of ``shape``."""
    n = shape[axis]
    if index.size:
        lo, hi = int(index.min()), int(index.max())
        if lo < -n or hi >= n:
            raise IndexError(f"{op}: index {hi if hi >= n else lo} is out of range for dim {axis} of size "
                             f"{n} (tensor of shape {shape})")


def _as_index(index, op: str):
    arr = index._data if isinstance(index, Tensor) else array_module(index).asarray(index)
    if arr.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected an integer index tensor, got dtype {arr.dtype}")
    return arr
