"""Indexing: ``x[idx]`` and index_put, gather/scatter (add, reduce), index_select/add/copy/fill,
masked fill/select/scatter, take, nonzero.

The gradient of a read is a scatter-add into zeros; the gradient of a scatter is a read. Repeated
indices accumulate (``backend.scatter_add``), so ``x[[0, 0]]`` sends both gradients to ``x[0]``.
"""
from __future__ import annotations

import numpy as np

from shendu import backend
from shendu.amp import autocast_mode as _amp
from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.ops.dims import wrap_dim
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
    saved_inputs = ()

    def forward(ctx, x, *, index):
        ctx.index, ctx.shape = index, x.shape
        try:
            out = x[index]
        except IndexError as e:
            raise IndexError(f"index: {e} (tensor of shape {x.shape}, index {index!r})") from None
        if type(out) is not type(x):  # NumPy gives a scalar for a full integer index: take the 0-d view
            out = x[(*index, Ellipsis) if isinstance(index, tuple) else (index, Ellipsis)]
        return out

    def backward(ctx, grad):
        return Placed.apply(grad, shape=ctx.shape, index=ctx.index)


class Placed(Function):
    """zeros(shape) with ``grad`` added at ``index``: the gradient of ``GetItem``."""

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

    saved_inputs = ()

    def forward(ctx, x, values, *, index, accumulate):
        ctx.index, ctx.accumulate, ctx.values_ndim = index, accumulate, values.ndim
        out = x.copy()
        try:
            if accumulate:
                target_shape = out[index].shape
                extra = values.ndim - len(target_shape)
                if extra > 0 and all(s == 1 for s in values.shape[:extra]):
                    values = values.reshape(values.shape[extra:])
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
            missing = ctx.values_ndim - grad_values.ndim
            if missing > 0:  # values with extra leading 1-dims (NumPy drops them when writing)
                grad_values = grad_values.reshape((1,) * missing + tuple(grad_values.shape))
        return grad_x, grad_values


def _along(index, axis: int):
    """The full NumPy index that addresses ``index``'s entries along ``axis`` (gather/scatter)."""
    xp = array_module(index)
    grids = list(xp.ogrid[tuple(slice(0, s) for s in index.shape)]) if index.ndim else []
    grids[axis] = index
    return tuple(grids)


class Gather(Function):
    saved_inputs = ()

    def forward(ctx, x, *, axis, index):
        if index.ndim != x.ndim:
            raise RuntimeError(f"gather: index has {index.ndim} dims but the input has {x.ndim} "
                               f"(input shape {x.shape}, index shape {index.shape})")
        _check_range(index, x.shape, axis, "gather")
        ctx.axis, ctx.index, ctx.shape = axis, index, x.shape
        return x[_along(index, axis)]

    def backward(ctx, grad):
        zeros = Tensor._wrap(grad._xp().zeros(ctx.shape, dtype=grad.dtype))
        return ScatterAdd.apply(zeros, grad, axis=ctx.axis, index=ctx.index)


def _check_scatter(x, index, src, op: str, axis: int):
    if index.ndim != x.ndim or (src is not None and src.ndim != x.ndim):
        raise RuntimeError(f"{op}: index and src need as many dims as the input, got input {x.shape}, "
                           f"index {index.shape}, src {None if src is None else src.shape}")
    _check_range(index, x.shape, axis, op)
    if src is not None and any(i > s for i, s in zip(index.shape, src.shape)):
        raise RuntimeError(f"{op}: index of shape {index.shape} is larger than src of shape {src.shape}")
    if any(i > s for d, (i, s) in enumerate(zip(index.shape, x.shape)) if d != axis):
        raise RuntimeError(f"{op}: index of shape {index.shape} is larger than the input of shape {x.shape} "
                           f"outside dim {axis}")
    if src is not None and src.shape != index.shape:  # src entries beyond index's extent are unused
        src = src[tuple(slice(0, s) for s in index.shape)]
    return src


def _src_grad(grad: Tensor, ctx) -> Tensor:
    """The gradient that reaches src from ``grad`` at the scattered positions, in src's shape."""
    g = Gather.apply(grad, axis=ctx.axis, index=ctx.index)
    if g.shape != ctx.src_shape:
        g = Placed.apply(g, shape=ctx.src_shape, index=tuple(slice(0, s) for s in ctx.index.shape))
    return g


def _hit(ctx, dtype):
    """1 where some index points (the scattered positions of the input), else 0."""
    xp = array_module(ctx.index)
    hit = xp.zeros(ctx.shape, dtype=dtype)
    hit[_along(ctx.index, ctx.axis)] = 1
    return hit


class ScatterAdd(Function):
    saved_inputs = ()

    def forward(ctx, x, src, *, axis, index):
        ctx.axis, ctx.index, ctx.src_shape = axis, index, src.shape
        src = _check_scatter(x, index, src, "scatter_add", axis)
        out = x.copy()
        backend.scatter_add(out, _along(index, axis), src)
        return out

    def backward(ctx, grad):
        return grad, (_src_grad(grad, ctx) if ctx.needs_input_grad[1] else None)


class Scatter(Function):
    """``input`` with ``src`` written at ``index`` along ``axis`` (a repeated position keeps one)."""

    saved_inputs = ()

    def forward(ctx, x, src, *, axis, index):
        ctx.axis, ctx.index, ctx.shape, ctx.src_shape = axis, index, x.shape, src.shape
        src = _check_scatter(x, index, src, "scatter", axis)
        out = x.copy()
        out[_along(index, axis)] = src
        return out

    def backward(ctx, grad):
        grad_x = grad_src = None
        if ctx.needs_input_grad[0]:
            grad_x = grad * Tensor._wrap(1 - _hit(ctx, grad.dtype))
        if ctx.needs_input_grad[1]:
            grad_src = _src_grad(grad, ctx)
        return grad_x, grad_src


_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


class ScatterReduce(Function):
    """PyTorch's ``scatter_reduce``: src combined into ``input`` at ``index`` by sum, prod, mean,
    amax or amin, with or without the input's own value (``include_self``)."""


    def forward(ctx, x, src, *, axis, index, reduce, include_self):
        ctx.axis, ctx.index, ctx.shape, ctx.src_shape = axis, index, x.shape, src.shape
        ctx.reduce, ctx.include_self = reduce, include_self
        src = _check_scatter(x, index, src, "scatter_reduce", axis)
        xp = array_module(x)
        where = _along(index, axis)
        out = x.copy()
        if not include_self:  # scattered positions start from the reduction's identity
            identity = {"sum": 0, "mean": 0, "prod": 1,
                        "amax": -xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min,
                        "amin": xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).max}[reduce]
            out[where] = identity
        if reduce in ("sum", "mean"):
            backend.scatter_add(out, where, src)
        else:
            ufunc = {"prod": xp.multiply, "amax": xp.maximum, "amin": xp.minimum}[reduce]
            ufunc.at(out, where, src)
        if reduce == "mean":
            count = xp.zeros(x.shape, dtype=xp.int64)
            backend.scatter_add(count, where, 1)
            if include_self:
                count += 1
            count = xp.maximum(count, 1)
            ctx.count = count
            out = out // count if out.dtype.kind in "iub" else (out / count).astype(x.dtype)
        return out

    def backward(ctx, grad):
        x, src = ctx.inputs
        xp = grad._xp()
        hit = _hit(ctx, grad.dtype)
        keep_self = Tensor._wrap(xp.ones(ctx.shape, dtype=grad.dtype) if ctx.include_self else 1 - hit)
        grad_x = grad_src = None
        if ctx.reduce == "sum":
            grad_x, grad_src_full = grad * keep_self, grad
        elif ctx.reduce == "mean":
            scaled = grad / Tensor._wrap(ctx.count.astype(grad.dtype))
            grad_x, grad_src_full = scaled * keep_self, scaled
        elif ctx.reduce == "prod":  # the product without one factor (no zeros among the factors)
            out = ctx.output
            grad_x = grad * out / x * keep_self if ctx.needs_input_grad[0] else None
            grad_src = _src_grad(grad * out, ctx) / src if ctx.needs_input_grad[1] else None
            return grad_x, grad_src
        else:  # amax / amin: the gradient is shared equally between the inputs equal to the result
            out = ctx.output.detach()
            self_is = (x._data == out._data) * keep_self._data
            src_used = src._data[tuple(slice(0, s) for s in ctx.index.shape)]
            src_is = (src_used == out._data[_along(ctx.index, ctx.axis)]).astype(grad.dtype)
            count = self_is.astype(grad.dtype)
            backend.scatter_add(count, _along(ctx.index, ctx.axis), src_is)
            share = grad / Tensor._wrap(xp.maximum(count, 1))
            grad_x = share * Tensor._wrap(self_is.astype(grad.dtype))
            if ctx.needs_input_grad[1]:
                g = Gather.apply(share, axis=ctx.axis, index=ctx.index) * Tensor._wrap(src_is)
                if g.shape != ctx.src_shape:
                    g = Placed.apply(g, shape=ctx.src_shape, index=tuple(slice(0, s) for s in ctx.index.shape))
                grad_src = g
            return (grad_x if ctx.needs_input_grad[0] else None), grad_src
        if ctx.needs_input_grad[1]:
            grad_src = _src_grad(grad_src_full, ctx)
        return (grad_x if ctx.needs_input_grad[0] else None), grad_src


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
    """``out[i][j][k] = input[index[i][j][k]][j][k]`` along ``dim`` (here 0). Shape: index's."""
    return Gather.apply(input, axis=wrap_dim(dim, input.ndim, "gather"), index=_as_index(index, "gather"))


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """Entries of ``input`` at ``indices`` along ``dim``; the other dims broadcast (as in PyTorch)."""
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    d = wrap_dim(dim, input.ndim, "take_along_dim")
    if input.ndim != indices.ndim:
        raise RuntimeError(f"take_along_dim: input of shape {input.shape} and indices of shape "
                           f"{indices.shape} need the same number of dims")
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


def _scatter_src(input: Tensor, index, src, op: str) -> Tensor:
    if isinstance(src, Tensor):
        return src.to(input.dtype) if src.dtype != input.dtype else src
    xp = input._xp()
    return Tensor._wrap(xp.full(index.shape, src, dtype=input.dtype))


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """``input`` with ``src`` added at ``index`` along ``dim`` (repeats accumulate)."""
    idx = _as_index(index, "scatter_add")
    return ScatterAdd.apply(input, _scatter_src(input, idx, src, "scatter_add"),
                            axis=wrap_dim(dim, input.ndim, "scatter_add"), index=idx)


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce: str | None = None) -> Tensor:
    """``input`` with ``src`` (a tensor, or the scalar ``value``) written at ``index`` along ``dim``:
    ``out[index[i][j]][j] = src[i][j]`` for dim 0. ``reduce='add'`` or ``'multiply'`` combines
    instead of writing."""
    if src is None:
        if value is None:
            raise TypeError("scatter: expected src (a tensor) or value (a number)")
        src = value
    idx = _as_index(index, "scatter")
    axis = wrap_dim(dim, input.ndim, "scatter")
    src = _scatter_src(input, idx, src, "scatter")
    if reduce is None:
        return Scatter.apply(input, src, axis=axis, index=idx)
    if reduce not in ("add", "multiply"):
        raise RuntimeError(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}")
    return ScatterReduce.apply(input, src, axis=axis, index=idx, reduce="sum" if reduce == "add" else "prod",
                               include_self=True)


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """``input`` with ``src`` reduced into it at ``index`` along ``dim`` by ``reduce`` ('sum',
    'prod', 'mean', 'amax', 'amin'); ``include_self=False`` leaves the input's own value out at the
    scattered positions."""
    if reduce not in _REDUCTIONS:
        raise RuntimeError(f"scatter_reduce: reduce must be one of {_REDUCTIONS}, got {reduce!r}")
    idx = _as_index(index, "scatter_reduce")
    return ScatterReduce.apply(input, _scatter_src(input, idx, src, "scatter_reduce"),
                               axis=wrap_dim(dim, input.ndim, "scatter_reduce"), index=idx,
                               reduce=reduce, include_self=bool(include_self))


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The entries of ``input`` at the positions ``index`` (1-D, int) along ``dim``.

    Shape: ``input``'s shape with size ``len(index)`` at ``dim``.
    """
    d = wrap_dim(dim, input.ndim, "index_select")
    idx = _as_index(index, "index_select")
    if idx.ndim > 1:
        raise IndexError(f"index_select: index must be 0-D or 1-D, got shape {idx.shape}")
    if input.ndim == 0:
        return GetItem.apply(input.reshape(1), index=idx.reshape(-1)).reshape(idx.shape)
    _check_range(idx, input.shape, d, "index_select")
    return GetItem.apply(input, index=(slice(None),) * d + (idx.reshape(-1),))


def _dim_index(input: Tensor, dim: int, index, op: str):
    d = wrap_dim(dim, input.ndim, op)
    idx = _as_index(index, op)
    if idx.ndim > 1:
        raise IndexError(f"{op}: index must be 0-D or 1-D, got shape {idx.shape}")
    idx = idx.reshape(-1)
    _check_range(idx, input.shape, d, op)
    return d, idx


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: float = 1) -> Tensor:
    """``input`` with ``source``'s slices added at ``index`` along ``dim`` (repeats accumulate)."""
    d, idx = _dim_index(input, dim, index, "index_add")
    expected = input.shape[:d] + idx.shape + input.shape[d + 1:]
    if tuple(source.shape) != expected:
        raise RuntimeError(f"index_add: expected a 1-D index and a source of shape {expected} for an input "
                           f"of shape {input.shape} along dim {d}, got index {idx.shape} and source {source.shape}")
    if alpha != 1:
        source = source * alpha
    placed = Placed.apply(source, shape=input.shape, index=(slice(None),) * d + (idx,))
    return input + placed


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """``input`` with its slices at ``index`` along ``dim`` replaced by ``source``'s."""
    if _amp.active:
        input, source = _amp.cast("index_copy", input, source)
    d, idx = _dim_index(input, dim, index, "index_copy")
    expected = input.shape[:d] + idx.shape + input.shape[d + 1:]
    if tuple(source.shape) != expected:
        raise RuntimeError(f"index_copy: expected a source of shape {expected} for an input of shape "
                           f"{input.shape} and {idx.shape[0]} indices along dim {d}, got {source.shape}")
    return index_put(input, (slice(None),) * d + (Tensor._wrap(idx),), source)


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """``input`` with its slices at ``index`` along ``dim`` set to ``value`` (a number or a 0-D tensor)."""
    d, idx = _dim_index(input, dim, index, "index_fill")
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"index_fill: value must be a number or a 0-D tensor, got shape {value.shape}")
    return index_put(input, (slice(None),) * d + (Tensor._wrap(idx),), value)


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The entries of ``input`` where ``mask`` (broadcast against it) holds, as a 1-D tensor."""
    m = _bool_mask(mask, "masked_select")
    xp = input._xp()
    shape = tuple(np.broadcast_shapes(input.shape, m.shape))
    if input.shape != shape:
        input = input.expand(shape)
    return GetItem.apply(input, index=xp.broadcast_to(m, shape))


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """``input`` with the positions where ``mask`` holds filled, in order, from ``source``'s first entries."""
    m = _bool_mask(mask, "masked_scatter")
    m = input._xp().broadcast_to(m, input.shape)
    k = int(m.sum())
    if source.numel() < k:
        raise RuntimeError(f"masked_scatter: the mask selects {k} positions but source has only "
                           f"{source.numel()} elements")
    return index_put(input, (Tensor._wrap(m),), source.reshape(-1)[:k])


def take(input: Tensor, index: Tensor) -> Tensor:
    """Entries of the flattened ``input`` at ``index``. Shape: index's."""
    idx = _as_index(index, "take")
    _check_range(idx.reshape(-1), (input.numel(),), 0, "take")
    return GetItem.apply(input.reshape(-1), index=idx)


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    """``input`` with ``value`` wherever ``mask`` (bool) is True; the gradient to ``input`` is zero there.

    Shape: ``mask`` broadcasts to ``input``'s shape; the output has ``input``'s shape.
    """
    from shendu.ops.elementwise import where
    if isinstance(value, Tensor):
        value = value.to(input.dtype)
    else:
        value = float(value) if input.dtype.kind == "f" else value
    return where(Tensor._wrap(_bool_mask(mask, "masked_fill")), value, input)


def nonzero(input: Tensor, as_tuple: bool = False):
    """The indices of the non-zero entries: an (N, ndim) int64 tensor, or one 1-D tensor per dim."""
    xp = input._xp()
    data = input._data
    if data.ndim == 0:
        data = data.reshape(1)
        idx = xp.nonzero(data)
        if as_tuple:
            return (Tensor._wrap(idx[0].astype(xp.int64)),)
        return Tensor._wrap(xp.zeros((len(idx[0]), 0), dtype=xp.int64))
    idx = xp.nonzero(data)
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(xp.int64)) for i in idx)
    return Tensor._wrap(xp.stack(idx, axis=1).astype(xp.int64))


def argwhere(input: Tensor) -> Tensor:
    """The indices of the nonzero elements of ``input``, one row per element (int64, no gradient).

    Shape: (number of nonzero elements, ``input.ndim``).
    """
    return nonzero(input)


def _bool_mask(mask, op: str):
    arr = mask._data if isinstance(mask, Tensor) else mask
    if getattr(arr, "dtype", None) is None or arr.dtype.kind != "b":
        raise RuntimeError(f"{op}: expected a bool mask, got dtype {getattr(arr, 'dtype', type(arr).__name__)}")
    return arr


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
