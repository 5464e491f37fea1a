"""Resizing: ``interpolate`` (nearest, nearest-exact, linear, bilinear, bicubic, trilinear, area) and pixel shuffle.

Every interpolation mode is separable, so it runs one spatial axis at a time as a small gather:
output ``o`` along an axis is ``Σ_k weight[o, k] · x[index[o, k]]`` with at most a few taps ``k``
(1 for nearest, 2 for linear, 4 for cubic, the window length for area). The index and weight
arrays are precomputed with PyTorch's source-index formulas (in float32 for float32 input, as its
CPU kernels do). The gradient of that gather is its transpose, a scatter-add of the weighted
gradient back to the sources; the two ops (``Resample`` and ``ResampleTranspose``) are each
other's backward, so gradients of any order exist.

Where PyTorch's own kernels disagree, the forward follows PyTorch and the gradient is the true one:
an axis whose size a ``scale_factor`` leaves unchanged is copied by its linear kernels and its 2-D
nearest kernel (so here too), but not by its 1-D/3-D nearest and bicubic kernels, whose backward
nevertheless copies the gradient straight through.
"""
from __future__ import annotations

import math

import numpy as np

from shendu.autograd.function import Function
from shendu.backend import array_module, scatter_add
from shendu.tensor import Tensor


# -- the per-axis gather and its transpose -----------------------------------------------------------
def _gather_axis(x, axis: int, index, weight):
    """Σ_k weight[:, k] * x[..., index[:, k], ...] along ``axis``: (..., n, ...) -> (..., o, ...)."""
    xp = array_module(x)
    xm = xp.moveaxis(x, axis, -1)
    out = None
    for k in range(index.shape[1]):
        term = xm[..., index[:, k]]
        if weight is not None:
            term = term * weight[:, k]
        out = term if out is None else out + term
    return xp.moveaxis(out, -1, axis)


def _scatter_axis(g, axis: int, index, weight, n: int):
    """The transpose of ``_gather_axis``: (..., o, ...) -> (..., n, ...), repeated sources summed."""
    xp = array_module(g)
    gm = xp.moveaxis(g, axis, -1)
    out = xp.zeros(gm.shape[:-1] + (n,), dtype=g.dtype)
    for k in range(index.shape[1]):
        v = gm * weight[:, k] if weight is not None else gm
        idx = index[:, k]
        if xp is np:  # each tap's indices are non-decreasing in o: sum runs of equal indices at once
            starts = np.flatnonzero(np.diff(idx, prepend=-1))
            out[..., idx[starts]] += np.add.reduceat(v, starts, axis=-1) if v.shape[-1] else 0
        else:  # pragma: no cover - GPU only
            scatter_add(out, (Ellipsis, idx), v)
    return xp.moveaxis(out, -1, axis)


class Resample(Function):
    """One axis of an interpolation: a weighted gather with fixed (o, k) ``index`` and ``weight``."""

    saved_inputs = ()  # linear: the backward reads no input values

    def forward(ctx, x, *, axis, index, weight):
        ctx.axis, ctx.index, ctx.weight, ctx.n = axis, index, weight, x.shape[axis]
        return _gather_axis(x, axis, index, weight)

    def backward(ctx, grad):
        return ResampleTranspose.apply(grad, axis=ctx.axis, index=ctx.index, weight=ctx.weight, n=ctx.n)


class ResampleTranspose(Function):
    """The adjoint of ``Resample``: scatter-add the weighted gradient back to the sources."""

    saved_inputs = ()

    def forward(ctx, g, *, axis, index, weight, n):
        ctx.axis, ctx.index, ctx.weight = axis, index, weight
        return _scatter_axis(g, axis, index, weight, n)

    def backward(ctx, grad):
        return Resample.apply(grad, axis=ctx.axis, index=ctx.index, weight=ctx.weight)


# -- PyTorch's source-index formulas -------------------------------------------------------------------
def _scale(n: int, o: int, align_corners: bool, scale: float | None, dtype):
    """``area_pixel_compute_scale``: the step between source positions of consecutive outputs."""
    if align_corners:
        return dtype.type((n - 1) / (o - 1)) if o > 1 else dtype.type(0)
    return dtype.type(1.0 / scale) if scale is not None and scale > 0 else dtype.type(n) / dtype.type(o)


def _nearest_taps(n: int, o: int, scale: float | None, exact: bool, shortcut: bool):
    """nearest: floor(o * s); nearest-exact: floor((o + 0.5) * s); both in float32, clamped to n - 1."""
    if shortcut and o in (n, 2 * n):  # PyTorch's 2-D nearest_idx short-cuts these whatever the scale
        return (np.arange(o) * n // o)[:, None], None
    s = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(n) / np.float32(o)
    dst = np.arange(o, dtype=np.float32) + (np.float32(0.5) if exact else np.float32(0))
    return np.minimum(np.floor(dst * s).astype(np.int64), n - 1)[:, None], None


def _source(n, o, align_corners, scale, dtype, cubic: bool):
    """``area_pixel_compute_source_index``: each output's real-valued source position."""
    s = _scale(n, o, align_corners, scale, dtype)
    dst = np.arange(o, dtype=dtype)
    if align_corners:
        return s * dst
    src = s * (dst + dtype.type(0.5)) - dtype.type(0.5)
    return src if cubic else np.maximum(src, dtype.type(0))


def _linear_taps(n, o, align_corners, scale, dtype):
    if n == o:  # PyTorch's linear kernels copy an axis whose size does not change, whatever the scale
        return np.arange(n)[:, None], None
    src = _source(n, o, align_corners, scale, dtype, cubic=False)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    lam = np.clip(src - i0.astype(dtype), 0, 1).astype(dtype)
    i1 = i0 + (i0 < n - 1)
    return np.stack([i0, i1], axis=1), np.stack([1 - lam, lam], axis=1).astype(dtype)


def _cubic_taps(n, o, align_corners, scale, dtype):
    """Keys' cubic convolution (A = -0.75, PyTorch's) on the 4 sources round floor(src), edges clamped."""
    src = _source(n, o, align_corners, scale, dtype, cubic=True)
    i = np.floor(src)
    t = (src - i).astype(dtype)
    A = dtype.type(-0.75)

    def near(x):  # |x| <= 1
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    w = np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=1).astype(dtype)
    idx = np.clip(i.astype(np.int64)[:, None] + np.arange(-1, 3), 0, n - 1)
    return idx, w


def _area_taps(n, o, dtype):
    """Adaptive average pooling: window [floor(i n / o), ceil((i + 1) n / o)), equal weights."""
    i = np.arange(o)
    start = (i * n) // o
    end = -((-(i + 1) * n) // o)
    k = int((end - start).max())
    idx = start[:, None] + np.arange(k)
    inside = idx < end[:, None]
    w = np.where(inside, 1.0 / (end - start)[:, None], 0.0).astype(dtype)
    return np.minimum(idx, n - 1), w


_MODE_DIMS = {"nearest": (1, 2, 3), "nearest-exact": (1, 2, 3), "area": (1, 2, 3), "linear": (1,),
              "bilinear": (2,), "bicubic": (2,), "trilinear": (3,)}


def _output_size(input: Tensor, nd: int, size, scale_factor, recompute_scale_factor) -> tuple:
    """(output sizes, the scale factors the index formulas use, or None to use in/out)."""
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: only one of size or scale_factor should be defined")
    if size is not None:
        sizes = tuple(size) if isinstance(size, (list, tuple)) else (size,) * nd
        if len(sizes) != nd:
            raise ValueError(f"interpolate: size {size!r} must have {nd} elements for an input of shape "
                             f"{input.shape} ({nd} spatial dims)")
        return tuple(int(s) for s in sizes), (None,) * nd
    factors = tuple(scale_factor) if isinstance(scale_factor, (list, tuple)) else (scale_factor,) * nd
    if len(factors) != nd:
        raise ValueError(f"interpolate: scale_factor {scale_factor!r} must have {nd} elements for an input "
                         f"of shape {input.shape}")
    factors = tuple(float(f) for f in factors)
    out = tuple(int(math.floor(n * f)) for n, f in zip(input.shape[2:], factors))
    return out, (None,) * nd if recompute_scale_factor else factors


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resample the spatial dims of (N, C, L), (N, C, H, W) or (N, C, D, H, W) input.

    Args:
        size: the output spatial size (int or tuple). Give this or ``scale_factor``.
        scale_factor: multiplier of each spatial size; the output size is floored, and the source
            positions use 1 / scale_factor unless ``recompute_scale_factor=True``.
        mode: 'nearest' (PyTorch's floor rule), 'nearest-exact', 'linear' (3-D), 'bilinear' and
            'bicubic' (4-D), 'trilinear' (5-D) or 'area' (adaptive average pooling).
        align_corners: for linear/bilinear/bicubic/trilinear: map corner pixel centres onto each
            other (True) or pixel edges (False, the default).

    The gradient of each output sums into the input pixels it was read from, with its weights.
    """
    if mode not in _MODE_DIMS:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported; expected one of "
                                  f"{sorted(_MODE_DIMS)}")
    nd = input.ndim - 2
    if nd not in _MODE_DIMS[mode]:
        need = " or ".join(f"{d + 2}-D" for d in _MODE_DIMS[mode])
        raise NotImplementedError(f"interpolate: got a {input.ndim}-D input of shape {input.shape}, but mode "
                                  f"{mode!r} needs a {need} input (N, C, spatial...)")
    interpolating = mode in ("linear", "bilinear", "bicubic", "trilinear")
    if align_corners is not None and not interpolating:
        raise ValueError("interpolate: align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if input.dtype.kind != "f":
        raise RuntimeError(f"interpolate: expected a floating-point input, got {input.dtype}")
    out_sizes, scales = _output_size(input, nd, size, scale_factor, recompute_scale_factor)
    if any(o < 1 for o in out_sizes):
        raise ValueError(f"interpolate: output size {out_sizes} must be positive (input shape {input.shape})")
    dtype = np.dtype(input.dtype)
    xp = input._xp()
    y = input
    for axis, (n, o, s) in enumerate(zip(input.shape[2:], out_sizes, scales)):
        if mode in ("nearest", "nearest-exact"):
            index, weight = _nearest_taps(n, o, s, mode == "nearest-exact", shortcut=mode == "nearest" and nd == 2)
        elif mode == "area":
            index, weight = _area_taps(n, o, dtype)
        elif mode == "bicubic":
            index, weight = _cubic_taps(n, o, bool(align_corners), s, dtype)
        else:
            index, weight = _linear_taps(n, o, bool(align_corners), s, dtype)
        if n == o and (weight is None or weight.shape[1] == 1 or np.all(weight[:, 1:] == 0)) \
                and np.array_equal(index[:, 0], np.arange(n)):
            continue  # this axis is copied as it is
        y = Resample.apply(y, axis=2 + axis, index=xp.asarray(index),
                           weight=None if weight is None else xp.asarray(weight))
    return y


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """Deprecated alias of ``interpolate`` (kept for PyTorch code that still calls it)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """Deprecated: ``interpolate(..., mode='nearest')``."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """Deprecated: ``interpolate(..., mode='bilinear', align_corners=True)``."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# -- pixel shuffle ---------------------------------------------------------------------------------
def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C r², H, W) -> (*, C, H r, W r): each group of r² channels becomes an r x r block of pixels."""
    r = int(upscale_factor)
    if input.ndim < 3 or r < 1 or input.shape[-3] % (r * r):
        raise RuntimeError(f"pixel_shuffle: expected an input (*, C*r^2, H, W) with channels divisible by "
                           f"upscale_factor^2 = {r * r}, got shape {input.shape}")
    *lead, C, H, W = input.shape
    c = C // (r * r)
    x = input.reshape(*lead, c, r, r, H, W)  # (*, c, r, r, H, W)
    n = len(lead)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)  # (*, c, H, r, W, r)
    return x.reshape(*lead, c, H * r, W * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r², H, W): the inverse of ``pixel_shuffle``."""
    r = int(downscale_factor)
    if input.ndim < 3 or r < 1 or input.shape[-2] % r or input.shape[-1] % r:
        raise RuntimeError(f"pixel_unshuffle: expected an input (*, C, H*r, W*r) with H and W divisible by "
                           f"downscale_factor = {r}, got shape {input.shape}")
    *lead, C, Hr, Wr = input.shape
    H, W = Hr // r, Wr // r
    x = input.reshape(*lead, C, H, r, W, r)  # (*, C, H, r, W, r)
    n = len(lead)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)  # (*, C, r, r, H, W)
    return x.reshape(*lead, C * r * r, H, W)
