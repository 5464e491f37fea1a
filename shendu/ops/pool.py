"""Pooling over 2-D windows: max (gradient to the first maximum), average, and their adjoints.

Every kernel is a loop over the kh*kw kernel offsets, each one a strided slice of the (padded)
input covering all windows at once; nothing loops over pixels or images. The ops come in adjoint
pairs so that every backward is itself differentiable (higher-order gradients):

    MaxPool(x) -> (y, code)      MaxPoolScatter(g, code) = its gradient   MaxPoolGather = its adjoint
    PoolSum(x) (window sums)     PoolSumT(g) = its adjoint (and its gradient)

``code`` is the kernel offset (i*kw + j) of each window's maximum, the small int cache of the max.
Max pooling and its gradient run split along the first axis on shendu's thread pool
(``shendu.threads``): NumPy releases the GIL in every pass they make.
The index and weight-matrix builders of the adaptive pools and of ``interpolate`` close the file.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.tensor import Tensor
from shendu.threads import split_batch


class PoolGeometry(NamedTuple):
    """Windows of ``kernel`` every ``stride`` over an input padded by ``padding`` on top/left.

    ``extent`` is the padded size that holds every window: (Ho - 1)*s + d*(k - 1) + 1 per dim.
    """

    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    out: tuple
    extent: tuple

    @property
    def disjoint(self) -> bool:
        """Whether no input pixel lies in two windows (so gradients need no accumulation)."""
        return all(s >= d * (k - 1) + 1 for k, s, d in zip(self.kernel, self.stride, self.dilation))


def pool_output_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's ``pooling_output_shape``: in ceil mode the last window must start inside the input or its left pad."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def pool_geometry(op: str, shape: tuple, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple,
                  ceil_mode: bool) -> PoolGeometry:
    out, extent = [], []
    for size, k, s, p, d in zip(shape[-2:], kernel, stride, padding, dilation):
        if k < 1 or s < 1 or d < 1:
            raise ValueError(f"{op}: kernel_size, stride and dilation must be positive, got kernel_size={kernel}, "
                             f"stride={stride}, dilation={dilation}")
        if p < 0 or p > k // 2:
            raise ValueError(f"{op}: padding should be non-negative and at most half of the kernel size, got "
                             f"padding={padding} for kernel_size={kernel}")
        o = pool_output_size(size, k, s, p, d, ceil_mode)
        if o < 1:
            raise RuntimeError(f"{op}: input of shape {tuple(shape)} is too small for kernel_size={kernel}, "
                               f"stride={stride}, padding={padding}, dilation={dilation} (output size {o})")
        out.append(o)
        extent.append((o - 1) * s + d * (k - 1) + 1)
    return PoolGeometry(tuple(kernel), tuple(stride), tuple(padding), tuple(dilation), tuple(out), tuple(extent))


def _offsets(pg: PoolGeometry):
    """(k, slice index) for each kernel offset: the windows' pixels at that offset, in a padded array."""
    (kh, kw), (sh, sw), (dh, dw), (Ho, Wo) = pg.kernel, pg.stride, pg.dilation, pg.out
    for i in range(kh):
        rows = slice(i * dh, i * dh + (Ho - 1) * sh + 1, sh)
        for j in range(kw):
            yield i * kw + j, (Ellipsis, rows, slice(j * dw, j * dw + (Wo - 1) * sw + 1, sw))


def _padded(x, pg: PoolGeometry, value):
    """x (..., H, W) padded by ``padding`` on top/left and up to ``extent`` on bottom/right."""
    H, W = x.shape[-2:]
    (ph, pw), (eh, ew) = pg.padding, pg.extent
    bottom, right = max(eh - H - ph, 0), max(ew - W - pw, 0)
    if not (ph or pw or bottom or right):
        return x
    xp = array_module(x)
    out = xp.full(x.shape[:-2] + (H + ph + bottom, W + pw + right), value, dtype=x.dtype)
    out[..., ph:ph + H, pw:pw + W] = x
    return out


def _covers(x_shape: tuple, pg: PoolGeometry) -> bool:
    """Whether disjoint windows tile the whole input, without padding (every pixel in exactly one window)."""
    return (pg.disjoint and pg.padding == (0, 0) and pg.extent == tuple(x_shape[-2:])
            and all(s == d * (k - 1) + 1 for k, s, d in zip(pg.kernel, pg.stride, pg.dilation)))


def _scatter(grad, code, x_shape: tuple, pg: PoolGeometry):
    """Each window's gradient to its ``code`` position, summed where windows overlap; -> ``x_shape``."""
    xp = array_module(grad)
    H, W = x_shape[-2:]
    (ph, pw), (eh, ew) = pg.padding, pg.extent
    shape = x_shape[:-2] + (max(H + ph, eh), max(W + pw, ew))
    covers = _covers(x_shape, pg)
    out = xp.empty(shape, dtype=grad.dtype) if covers else xp.zeros(shape, dtype=grad.dtype)
    zero = xp.zeros((), dtype=grad.dtype)

    def scatter(a: int, b: int) -> None:
        g, c, o = (grad, code, out) if len(x_shape) < 3 else (grad[a:b], code[a:b], out[a:b])
        # g * mask is exact for finite gradients and much faster than a masked copy; a NaN or inf
        # gradient must not leak to the other pixels of its window (inf * 0 = NaN): the slow path
        finite = bool(xp.isfinite(g).all())
        for k, idx in _offsets(pg):
            if pg.disjoint and finite:  # each pixel is in one window at one offset: write in place
                xp.multiply(g, c == k, out=o[idx])
                continue
            picked = g * (c == k) if finite else xp.where(c == k, g, zero)
            if pg.disjoint:
                o[idx] = picked
            else:
                o[idx] += picked

    split_batch(scatter, x_shape[0] if len(x_shape) >= 3 else 1, out.size, xp)
    return out if covers else out[..., ph:ph + H, pw:pw + W]


def _gather(x, code, pg: PoolGeometry):
    """Each window's entry at its ``code`` position: (..., H, W) -> (..., Ho, Wo)."""
    xp = array_module(x)
    xpad = _padded(x, pg, 0)
    out = xp.zeros(x.shape[:-2] + pg.out, dtype=x.dtype)
    for k, idx in _offsets(pg):
        xp.copyto(out, xpad[idx], where=code == k)
    return out


class MaxPool(Function):
    """Window maxima: x (..., H, W) -> (y (..., Ho, Wo), code); ties and NaNs follow PyTorch (first max, NaN wins).

    Settings: ``pg`` (a PoolGeometry). ``code`` (int8) is the offset of each window's maximum.
    """

    raw = True
    saved_inputs = ()  # backward reads only the cached code and the input's shape

    def forward(ctx, x, *, pg: PoolGeometry):
        xp = array_module(x)
        low = -math.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min
        xpad = _padded(x, pg, low)
        n = pg.kernel[0] * pg.kernel[1]
        best = xp.empty(x.shape[:-2] + pg.out, dtype=x.dtype)
        code = xp.empty(best.shape, dtype=xp.int8 if n < 128 else xp.int32)

        def pool(a: int, b: int) -> None:
            xs, bst, c = (xpad, best, code) if x.ndim < 3 else (xpad[a:b], best[a:b], code[a:b])
            views = [xs[idx] for _, idx in _offsets(pg)]
            xp.copyto(bst, views[0])
            for v in views[1:]:
                xp.maximum(bst, v, out=bst)  # propagates NaN, as PyTorch's max pool does
            # the first offset holding the maximum: walk the offsets backwards, the earliest match wins
            # (integer arithmetic on the match mask: masked copies of random masks are several times slower)
            c.fill(n - 1)
            step = xp.empty_like(c)
            for k in range(n - 2, -1, -1):
                xp.subtract(k, c, out=step)
                step *= views[k] == bst
                c += step
            if x.dtype.kind == "f":
                nan = xp.isnan(bst)
                if nan.any():  # PyTorch points a NaN window at its last NaN
                    for k, v in enumerate(views):
                        xp.copyto(c, k, where=nan & xp.isnan(v))

        split_batch(pool, x.shape[0] if x.ndim >= 3 else 1, x.size, xp)
        ctx.code, ctx.pg, ctx.x_shape = code, pg, x.shape
        ctx.set_materialize_grads(False)
        return best, code

    def backward(ctx, grad, _):
        return MaxPoolScatter.apply(grad, code=ctx.code, x_shape=ctx.x_shape, pg=ctx.pg)


class MaxPoolScatter(Function):
    """The gradient of ``MaxPool``: g (..., Ho, Wo) -> (..., H, W) at each window's maximum.

    Settings: ``code`` (MaxPool's cache), ``x_shape`` of the result, ``pg``.
    """

    raw = True
    saved_inputs = ()

    def forward(ctx, grad, *, code, x_shape: tuple, pg: PoolGeometry):
        ctx.code, ctx.pg = code, pg
        return _scatter(grad, code, x_shape, pg)

    def backward(ctx, grad):
        return MaxPoolGather.apply(grad, code=ctx.code, pg=ctx.pg)


class MaxPoolGather(Function):
    """The adjoint of ``MaxPoolScatter``: x (..., H, W) -> (..., Ho, Wo) read at each window's maximum.

    Settings: ``code``, ``pg``.
    """

    raw = True
    saved_inputs = ()

    def forward(ctx, x, *, code, pg: PoolGeometry):
        ctx.code, ctx.pg, ctx.x_shape = code, pg, x.shape
        return _gather(x, code, pg)

    def backward(ctx, grad):
        return MaxPoolScatter.apply(grad, code=ctx.code, x_shape=ctx.x_shape, pg=ctx.pg)


def max_indices(code, x_shape: tuple, pg: PoolGeometry):
    """PyTorch's ``return_indices``: each maximum's flat index in its (H, W) plane, int64."""
    xp = array_module(code)
    kw = pg.kernel[1]
    (sh, sw), (ph, pw), (dh, dw), (Ho, Wo) = pg.stride, pg.padding, pg.dilation, pg.out
    c = code.astype(xp.int64)
    rows = xp.arange(Ho).reshape(-1, 1) * sh - ph + (c // kw) * dh
    cols = xp.arange(Wo) * sw - pw + (c % kw) * dw
    return rows * x_shape[-1] + cols


class PoolSum(Function):
    """Window sums of the zero-padded input: x (..., H, W) -> (..., Ho, Wo). Settings: ``pg``."""

    raw = True
    saved_inputs = ()

    def forward(ctx, x, *, pg: PoolGeometry):
        ctx.pg, ctx.x_shape = pg, x.shape
        xpad = _padded(x, pg, 0)
        out = None
        for _, idx in _offsets(pg):
            if out is None:
                out = xpad[idx].copy()
            else:
                out += xpad[idx]
        return out

    def backward(ctx, grad):
        return PoolSumT.apply(grad, x_shape=ctx.x_shape, pg=ctx.pg)


class PoolSumT(Function):
    """The adjoint of ``PoolSum``: g (..., Ho, Wo) -> (..., H, W), each window's value to all its pixels.

    Settings: ``x_shape`` of the result, ``pg``.
    """

    raw = True
    saved_inputs = ()

    def forward(ctx, grad, *, x_shape: tuple, pg: PoolGeometry):
        ctx.pg = pg
        xp = array_module(grad)
        H, W = x_shape[-2:]
        (ph, pw), (eh, ew) = pg.padding, pg.extent
        out = xp.zeros(x_shape[:-2] + (max(H + ph, eh), max(W + pw, ew)), dtype=grad.dtype)
        for _, idx in _offsets(pg):
            if pg.disjoint:
                out[idx] = grad
            else:
                out[idx] += grad
        return out[..., ph:ph + H, pw:pw + W]

    def backward(ctx, grad):
        return PoolSum.apply(grad, pg=ctx.pg)


def avg_divisor(xp, x_hw: tuple, pg: PoolGeometry, count_include_pad: bool, dtype):
    """1 / (pixels averaged) per output cell (Ho, Wo), PyTorch's rule: windows are clipped to the
    padded input; ``count_include_pad=False`` also drops the padding."""
    lengths = []
    for size, k, s, p, o in zip(x_hw, pg.kernel, pg.stride, pg.padding, pg.out):
        start = xp.arange(o) * s - p
        end = xp.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, size)
        lengths.append(end - start)
    return (1.0 / (lengths[0][:, None] * lengths[1][None, :])).astype(dtype)


def max_pool2d(input: Tensor, pg: PoolGeometry, return_indices: bool = False):
    """Max pooling over the last two dims with precomputed geometry; see shendu.nn.functional.max_pool2d."""
    y, code = MaxPool.apply(input, pg=pg)
    if return_indices:
        return y, Tensor._wrap(max_indices(code._data, input.shape, pg))
    return y


def avg_pool2d(input: Tensor, pg: PoolGeometry, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Average pooling over the last two dims with precomputed geometry."""
    sums = PoolSum.apply(input, pg=pg)
    if divisor_override:
        return sums * (1.0 / divisor_override)
    return sums * Tensor._wrap(avg_divisor(input._xp(), input.shape[-2:], pg, count_include_pad, input.dtype))


# -- index and matrix builders of the adaptive pools and of resampling (NumPy, on the host) ----
def adaptive_bounds(size: int, out: int):
    """PyTorch's adaptive windows: [floor(o*size/out), ceil((o+1)*size/out)) for each output o."""
    o = np.arange(out)
    return (o * size) // out, ((o + 1) * size + out - 1) // out


def average_matrix(xp, size: int, out: int, dtype):
    """(out, size) matrix whose row o averages the o-th adaptive window."""
    start, end = adaptive_bounds(size, out)
    idx = np.arange(size)
    m = ((idx >= start[:, None]) & (idx < end[:, None])) / (end - start)[:, None]
    return Tensor._wrap(xp.asarray(m.astype(dtype)))


def adaptive_window_index(size: int, out: int):
    """(out, kmax) indices of each adaptive window, short windows padded by repeating their last index
    (a repeat after the original never changes which maximum comes first)."""
    start, end = adaptive_bounds(size, out)
    k = int((end - start).max())
    return np.minimum(start[:, None] + np.arange(k), end[:, None] - 1)


def nearest_index(size: int, out: int, scale, exact: bool):
    """PyTorch's nearest source index, computed in float32 as its CPU kernel does."""
    s = np.float32(size / out if scale is None else scale)
    dst = np.arange(out, dtype=np.float32) + (np.float32(0.5) if exact else np.float32(0))
    return np.minimum(np.floor(dst * s).astype(np.int64), size - 1)


def linear_matrix(size: int, out: int, scale, align_corners: bool, dtype):
    """(out, size) matrix of linear interpolation weights (PyTorch's source-index rule)."""
    dst = np.arange(out, dtype=np.float32)
    if align_corners:
        src = dst * np.float32((size - 1) / (out - 1) if out > 1 else 0.0)
    else:
        s = np.float32(size / out if scale is None else scale)
        src = np.maximum((dst + np.float32(0.5)) * s - np.float32(0.5), np.float32(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), size - 1)
    i1 = np.minimum(i0 + 1, size - 1)
    lam = (src - i0).astype(np.float32)
    m = np.zeros((out, size), dtype=np.float32)
    rows = np.arange(out)
    np.add.at(m, (rows, i0), np.float32(1) - lam)
    np.add.at(m, (rows, i1), lam)
    return m.astype(dtype)
