"""The windows of a 2-D convolution or pooling-like op on raw arrays: im2col (the window matrix, or its
per-image NCHW planes) and col2im (windows summed back into an image), the ``Geometry`` that says how
windows tile the input, and the pool of reusable buffers (``_Scratch``) the big temporaries come from.

``shendu/ops/conv.py`` builds the convolutions' products and Functions on these.
"""
from __future__ import annotations

import math
import threading
import weakref
from typing import NamedTuple

import numpy as np

from shendu.backend import array_module
from shendu.threads import split_batch


class Geometry(NamedTuple):
    """How windows tile a 2-D input: strides, zero padding (top, bottom, left, right), dilation, groups."""

    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int

    def out_size(self, hw: tuple, khw: tuple) -> tuple:
        (sh, sw), (pt, pb, pl, pr), (dh, dw) = self.stride, self.padding, self.dilation
        return ((hw[0] + pt + pb - dh * (khw[0] - 1) - 1) // sh + 1,
                (hw[1] + pl + pr - dw * (khw[1] - 1) - 1) // sw + 1)


class _Scratch:
    """Reusable NumPy buffers for the kernels' big temporaries (window matrices, col2im sums).

    A fresh multi-megabyte array is mapped by the C allocator and faults in page by page on first
    touch, which costs about as much as the copy that fills it (a third of a layer's time in the
    W2 benchmark); giving buffers back after use and taking them again on the next step avoids it.
    Only arrays that never escape the kernels come from here. CuPy has its own memory pool.
    """

    max_buffers, max_bytes = 32, 1 << 30

    def __init__(self):
        self.free: list = []  # flat uint8 owners, most recently given back last
        self.made = weakref.WeakValueDictionary()  # id -> every owner this pool allocated; nothing else is taken in
        self.lock = threading.Lock()  # the fused kernels take and give from pool threads

    def take(self, xp, shape: tuple, dtype):
        """An uninitialized array of ``shape``: the smallest free buffer that fits (up to twice the size)."""
        dtype = np.dtype(dtype)
        if xp is not np:
            return xp.empty(shape, dtype=dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        with self.lock:
            fits = [i for i, b in enumerate(self.free) if nbytes <= b.nbytes <= 2 * nbytes]
            buf = self.free.pop(min(fits, key=lambda i: self.free[i].nbytes)) if fits else None
        if buf is None:
            buf = np.empty(nbytes, np.uint8)
            with self.lock:
                self.made[id(buf)] = buf
        return buf[:nbytes].view(dtype).reshape(shape)

    def give(self, *arrays) -> None:
        """Hand arrays from ``take`` back; the caller must hold no view of them any more."""
        with self.lock:
            for a in arrays:
                owner = a
                while isinstance(owner, np.ndarray) and owner.base is not None:
                    owner = owner.base
                if (isinstance(owner, np.ndarray) and self.made.get(id(owner)) is owner
                        and all(b is not owner for b in self.free)):
                    self.free.append(owner)
            while len(self.free) > self.max_buffers or sum(b.nbytes for b in self.free) > self.max_bytes:
                self.free.pop(0)


_scratch = _Scratch()


# -- raw kernels on arrays ----------------------------------------------------------------------
def _im2col(x, khw: tuple, geom: Geometry, out_hw: tuple | None = None, *, per_image: bool = False,
            ones: bool = False):
    """(N, C, H, W) -> window matrix (M, G, Kg), rows (n, ho, wo), columns (kh, kw, c).

    ``out_hw`` keeps only the first (Ho, Wo) windows (a transposed convolution's output_padding).
    The windows are copied from a zero-padded channels-last copy of x (a view of x without padding).
    ``per_image`` gives the per-image layout instead (``_planes``, with ``ones``).
    """
    if per_image:
        return _planes(x, khw, geom, out_hw, ones)
    win = _Windows(x, khw, geom, out_hw)
    cols = _scratch.take(win.xp, win.shape, x.dtype)
    split_batch(lambda a, b: win.fill(cols[a:b], a, b), x.shape[0], cols.size, win.xp)
    win.close()
    return cols.reshape(-1, geom.groups, win.Kg)


# Images per chunk of the fused kernels: a chunk's window matrix (about this many elements, 2 MiB of float32)
# stays in cache from its im2col copy through its products to the copy of their results, where the
# whole batch's (14 MiB in W2's second layer) goes to memory and back between each of those passes.
_CHUNK_ELEMENTS = 1 << 19


def _chunk(per_image: int) -> int:
    return max(1, _CHUNK_ELEMENTS // max(per_image, 1))


class _Windows:
    """im2col for any range of images: the windows of a zero-padded channels-last copy of x (a view of x
    without padding), (N, Ho, Wo, G, kh, kw, Cg). ``fill`` pads the range's images, then copies their windows."""

    def __init__(self, x, khw: tuple, geom: Geometry, out_hw: tuple | None = None):
        self.xp = xp = array_module(x)
        N, C, H, W = x.shape
        (kh, kw), G = khw, geom.groups
        Cg = C // G
        Ho, Wo = out_hw or geom.out_size(x.shape[2:], khw)
        (sh, sw), self.pad, (dh, dw) = geom.stride, geom.padding, geom.dilation
        pt, pb, pl, pr = self.pad
        self.padded, self.hw = bool(pt or pb or pl or pr), (H, W)
        self.xt = x.transpose(0, 2, 3, 1)
        self.xh = _scratch.take(xp, (N, H + pt + pb, W + pl + pr, C), x.dtype) if self.padded else self.xt
        sN, sH, sW, sC = self.xh.strides
        self.shape, self.Kg = (N, Ho, Wo, G, kh, kw, Cg), kh * kw * Cg
        self.win = xp.lib.stride_tricks.as_strided(
            self.xh, self.shape, (sN, sH * sh, sW * sw, sC * Cg, sH * dh, sW * dw, sC))

    def fill(self, cols, a: int, b: int) -> None:
        """cols (b - a, Ho, Wo, G, kh, kw, Cg) = the windows of images a..b."""
        if self.padded:  # zero only the border, then the interior from x
            (pt, _, pl, _), (H, W) = self.pad, self.hw
            part = self.xh[a:b]
            part[:, :pt] = 0
            part[:, pt + H:] = 0
            part[:, pt:pt + H, :pl] = 0
            part[:, pt:pt + H, pl + W:] = 0
            part[:, pt:pt + H, pl:pl + W] = self.xt[a:b]
        cols[...] = self.win[a:b]

    def close(self) -> None:
        if self.padded:
            _scratch.give(self.xh)


def _planes(x, khw: tuple, geom: Geometry, out_hw: tuple | None = None, ones: bool = False):
    """(N, C, H, W) -> window planes (N, G, Kg, P), P = Ho*Wo: row (kh, kw, c) of image n is the input plane c
    at that kernel offset, read at every window; ``ones`` adds a row of ones (Kg + 1 rows) for the bias.

    The per-image layout of the products: built from NCHW by one strided copy per kernel offset, whose
    rows are Wo floats long, where the channels-last window copy would move Cg floats at a time.
    """
    xp = array_module(x)
    N, C, H, W = x.shape
    (kh, kw), G = khw, geom.groups
    Cg, Kg = C // G, kh * kw * (C // G)
    Ho, Wo = out_hw or geom.out_size(x.shape[2:], khw)
    (sh, sw), (pt, pb, pl, pr), (dh, dw) = geom.stride, geom.padding, geom.dilation
    padded = bool(pt or pb or pl or pr)
    xpad = _scratch.take(xp, (N, C, H + pt + pb, W + pl + pr), x.dtype) if padded else x
    src = xpad.reshape((N, G, Cg) + xpad.shape[2:])
    cols = _scratch.take(xp, (N, G, Kg + ones, Ho * Wo), x.dtype)
    c7 = cols[:, :, :Kg].reshape(N, G, kh, kw, Cg, Ho, Wo)

    def fill(a: int, b: int) -> None:
        if padded:  # zero only the border, then the interior from x
            part = xpad[a:b]
            part[:, :, :pt] = 0
            part[:, :, pt + H:] = 0
            part[:, :, pt:pt + H, :pl] = 0
            part[:, :, pt:pt + H, pl + W:] = 0
            part[:, :, pt:pt + H, pl:pl + W] = x[a:b]
        for i in range(kh):
            rows = slice(i * dh, i * dh + (Ho - 1) * sh + 1, sh)
            for j in range(kw):
                c7[a:b, :, i, j] = src[a:b, :, :, rows, j * dw:j * dw + (Wo - 1) * sw + 1:sw]
        if ones:
            cols[a:b, :, Kg] = 1

    split_batch(fill, N, cols.size, xp)
    if padded:
        _scratch.give(xpad)
    return cols


def _col2im_planes(c7, x_shape: tuple, geom: Geometry):
    """Adjoint of ``_planes``: window gradients (N, G, kh, kw, Cg, Ho, Wo) -> (N, C, H, W), one strided add
    per kernel offset straight into NCHW."""
    xp = array_module(c7)
    N, C, H, W = x_shape
    _, G, kh, kw, Cg, Ho, Wo = c7.shape
    (sh, sw), (pt, pb, pl, pr), (dh, dw) = geom.stride, geom.padding, geom.dilation
    # rows past H + pt + pb are reached only when output_padding >= stride; no input pixel lies there
    Hp = max(H + pt + pb, (Ho - 1) * sh + dh * (kh - 1) + 1)
    Wp = max(W + pl + pr, (Wo - 1) * sw + dw * (kw - 1) + 1)
    out = _scratch.take(xp, (N, G, Cg, Hp, Wp), c7.dtype)
    gx = xp.empty(x_shape, dtype=c7.dtype)

    def add(a: int, b: int) -> None:
        part = out[a:b]
        part.fill(0)
        for i in range(kh):
            rows = slice(i * dh, i * dh + sh * (Ho - 1) + 1, sh)
            for j in range(kw):
                part[:, :, :, rows, j * dw:j * dw + sw * (Wo - 1) + 1:sw] += c7[a:b, :, i, j]
        gx[a:b] = part.reshape(b - a, C, Hp, Wp)[:, :, pt:pt + H, pl:pl + W]

    split_batch(add, N, c7.size, xp)
    _scratch.give(out)
    return gx


def _col2im(c7, x_shape: tuple, geom: Geometry):
    """Adjoint of ``_im2col``: window gradients viewed as (G, N, Ho, Wo, kh, kw, Cg) -> (N, C, H, W).

    One strided add per kernel offset (kh*kw of them), never a loop over pixels or images.
    """
    xp = array_module(c7)
    N, C, H, W = x_shape
    gx = xp.empty(x_shape, dtype=c7.dtype)

    def add(a: int, b: int) -> None:
        acc = _scratch.take(xp, (b - a, H, W, C), c7.dtype)
        _col2im_into(c7[:, a:b], gx[a:b], acc, geom)
        _scratch.give(acc)

    split_batch(add, N, c7.size, xp)
    return gx


def _clip(k: int, d: int, s: int, p: int, n_out: int, size: int):
    """Windows ho whose kernel offset k lands inside the unpadded input: (input slice, window slice) or None."""
    first = max(0, -((k * d - p) // s))  # ceil((p - k*d) / s)
    last = min(n_out - 1, (size - 1 + p - k * d) // s)
    if first > last:
        return None
    start = k * d + s * first - p
    return slice(start, start + s * (last - first) + 1, s), slice(first, last + 1)


def _col2im_into(c7, gx, acc, geom: Geometry) -> None:
    """gx (n, C, H, W) = col2im of window gradients c7 (G, n, Ho, Wo, kh, kw, Cg), summed channels-last in
    ``acc`` (n, H, W, C). Each offset's add is clipped to the input: nothing is summed into the padding."""
    G, _, Ho, Wo, kh, kw, Cg = c7.shape
    H, W = gx.shape[2:]
    (sh, sw), (pt, _, pl, _), (dh, dw) = geom.stride, geom.padding, geom.dilation
    acc.fill(0)
    acc_g = acc.reshape(acc.shape[:3] + (G, Cg)).transpose(3, 0, 1, 2, 4)  # (G, n, H, W, Cg) view
    for i in range(kh):
        rows = _clip(i, dh, sh, pt, Ho, H)
        if rows is None:
            continue
        for j in range(kw):
            cols = _clip(j, dw, sw, pl, Wo, W)
            if cols is not None:
                acc_g[:, :, rows[0], cols[0]] += c7[:, :, rows[1], cols[1], i, j]
    gx[...] = acc.transpose(0, 3, 1, 2)


# Below this reduction length (kh*kw*C/G) a convolution runs one product per image, which reads and
# writes NCHW directly; above it, one big (M, Kg) x (Kg, Og) product, whose BLAS efficiency outweighs
# the NCHW <-> channels-last transposes of the output and the gradient. The layout is a function of
# the weight's shape alone, so a forward and its backward always agree.
