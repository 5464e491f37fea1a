"""Convolution kernels and Functions behind conv2d, conv_transpose2d, unfold (im2col) and fold (col2im).

The argument handling and the public functions are in ``shendu.nn.functional_conv``; the window kernels
(im2col, col2im, the buffer pool) in ``shendu/ops/im2col.py``.

The kernels build the window matrix ``cols`` (M, G, Kg) once per call from a channels-last copy of
the input: M = N*Ho*Wo rows, Kg = kh*kw*C/G columns ordered (kh, kw, c), so the copy reads runs of
C contiguous floats. The products then take one of two layouts, chosen by the weight's shape:

* one BLAS product per group over all M rows (long reductions, Kg >= 64): the tall orientation
  where OpenBLAS is fastest, at the price of NCHW <-> channels-last copies of the output and the
  upstream gradient;
* one product per image (short reductions, e.g. a first layer with C = 1): reads and writes NCHW
  directly, so no transposes.

The input gradient is one product per kernel offset followed by col2im: kh*kw strided adds, never a
loop over pixels or images. Big temporaries come from a small pool of reusable buffers (``_Scratch``).
The copies around the products (padding, im2col, col2im, layout changes) and the per-image products
run split along the batch on shendu's thread pool (``shendu.threads``): NumPy releases the GIL in
them, and BLAS keeps the big products on all cores by itself.

Three Functions close under differentiation (PyTorch's own structure), so ``create_graph``
gives higher-order gradients for free:

    Convolution(x, w, b)           y  = x ⋆ w + b
    ConvolutionTranspose(g, w, b)  the adjoint of ⋆ in its input (conv_transpose2d, and dL/dx)
    ConvolutionWeight(x, g)        the adjoint of ⋆ in its weight (dL/dw)

each backward is written with the other two. Outside ``create_graph`` the first-order backward
runs on raw arrays and reuses the forward's window matrix and the gradient's channels-last copy.
"""
from __future__ import annotations

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.grad_mode import is_grad_enabled
from shendu.ops.im2col import (  # the window kernels
    Geometry,
    _chunk,
    _col2im_into,
    _col2im_planes,
    _im2col,
    _scratch,
    _Windows,
)
from shendu.tensor import Tensor
from shendu.threads import split_batch

_PER_IMAGE_MAX_K = 64


def _per_image(w_shape: tuple) -> bool:
    return w_shape[1] * w_shape[2] * w_shape[3] < _PER_IMAGE_MAX_K


def _weight_matrix(w, G: int):
    """(O, Cg, kh, kw) -> (G, Kg, Og), rows ordered (kh, kw, c) like the window matrix."""
    O, Cg, kh, kw = w.shape
    return w.reshape(G, O // G, Cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(G, kh * kw * Cg, O // G)


def _grad_matrix(g, G: int, per_image: bool):
    """(N, O, Ho, Wo) -> an (N, G, Og, P) view (per image) or a (G, M, Og) channels-last copy."""
    N, O, Ho, Wo = g.shape
    if per_image:
        return g.reshape(N, G, O // G, Ho * Wo)
    xp = array_module(g)
    out = _scratch.take(xp, (G, N, Ho, Wo, O // G), g.dtype)
    src = g.reshape(N, G, O // G, Ho, Wo).transpose(1, 0, 3, 4, 2)

    def copy(a: int, b: int) -> None:
        out[:, a:b] = src[:, a:b]

    split_batch(copy, N, g.size, xp)
    return out.reshape(G, N * Ho * Wo, O // G)


def _conv_from_cols(cols, w, bias, N: int, hw: tuple, G: int):
    """y (N, O, Ho, Wo) = window matrix (M, G, Kg) times the weight, plus the bias."""
    xp = array_module(cols)
    wk = _weight_matrix(w, G)  # (G, Kg, Og)
    hw = tuple(hw)
    y = xp.empty((N, w.shape[0]) + hw, dtype=cols.dtype)
    if _per_image(w.shape):  # one product per image of the planes (N, G, Kg [+1], P), written straight into NCHW
        wkT = wk.transpose(0, 2, 1)  # (G, Og, Kg)
        if bias is not None:  # the bias column meets the planes' row of ones
            wkT = xp.concatenate([wkT, bias.reshape(G, -1, 1).astype(wkT.dtype)], axis=2)
        yv = y.reshape(N, G, wk.shape[2], -1)  # (N, G, Og, P)
        split_batch(lambda a, b: xp.matmul(wkT, cols[a:b], out=yv[a:b]), N, cols.size + y.size, xp, blas=True)
        return y
    out = xp.matmul(cols.transpose(1, 0, 2), wk, out=_scratch.take(xp, (G, cols.shape[0], wk.shape[2]), cols.dtype))
    out4 = out.reshape(G, N, -1, out.shape[2])
    split_batch(lambda a, b: _to_nchw(out4[:, a:b], y[a:b], bias), N, y.size, xp)
    _scratch.give(out)
    return y


def _to_nchw(out, y, bias) -> None:
    """y (n, O, Ho, Wo) = products (G, n, Ho*Wo, Og) of the one-product layout, plus the bias riding along."""
    G, _, _, Og = out.shape
    n, _, Ho, Wo = y.shape
    src = out.reshape(G, n, Ho, Wo, Og).transpose(1, 0, 4, 2, 3)
    dst = y.reshape(n, G, Og, Ho, Wo)
    if bias is None:
        dst[...] = src
    else:
        array_module(out).add(src, bias.reshape(1, G, Og, 1, 1), out=dst)


def _conv_fused(x, w, bias, geom: Geometry):
    """y = x ⋆ w + b on the one-product layout, chunk by chunk of images (``_CHUNK_ELEMENTS``): the windows'
    copy, their product with the weight and its copy back to NCHW run while the chunk is in cache."""
    win = _Windows(x, w.shape[2:], geom)
    xp, (N, Ho, Wo, G), Kg = win.xp, win.shape[:4], win.Kg
    wk = _weight_matrix(w, G)  # (G, Kg, Og)
    Og, P = wk.shape[2], Ho * Wo
    y = xp.empty((N, w.shape[0], Ho, Wo), dtype=x.dtype)

    def work(a: int, b: int) -> None:
        k = min(_chunk(P * G * Kg), b - a)
        cols, flat = _scratch.take(xp, (k,) + win.shape[1:], x.dtype), _scratch.take(xp, (G * k * P * Og,), x.dtype)
        for c in range(a, b, k):
            n = min(k, b - c)
            win.fill(cols[:n], c, c + n)
            out = flat[:G * n * P * Og].reshape(G, n * P, Og)
            xp.matmul(cols[:n].reshape(n * P, G, Kg).transpose(1, 0, 2), wk, out=out)
            _to_nchw(out.reshape(G, n, P, Og), y[c:c + n], bias)
        _scratch.give(cols, flat)

    split_batch(work, N, N * P * G * Kg + y.size, xp, blas=True)
    win.close()
    return y


def _conv_fused_backward(x, w, g, geom: Geometry, need_x: bool, need_w: bool):
    """(dL/dx, dL/dw) on the one-product layout, chunk by chunk of images. dL/dw: the window matrix built
    again (cheaper than keeping the batch's, which goes to memory and back) times the upstream gradient's
    (O, n*P) copy, summed over the chunks; dL/dx: one product per image and kernel offset read straight
    from the NCHW gradient, then col2im."""
    xp = array_module(g)
    N, O, Ho, Wo = g.shape
    G, (_, Cg, kh, kw) = geom.groups, w.shape
    Og, P, kk = O // G, Ho * Wo, kh * kw
    win = _Windows(x, (kh, kw), geom, (Ho, Wo)) if need_w else None
    w_off = _offset_weights(w, G) if need_x else None
    gx = xp.empty(x.shape, dtype=g.dtype) if need_x else None

    def work(a: int, b: int):
        k = min(_chunk(P * G * kk * Cg), b - a)
        flat = _scratch.take(xp, (G * Og * k * P,), g.dtype) if need_w else None
        cols = _scratch.take(xp, (k,) + win.shape[1:], g.dtype) if need_w else None
        gw = None
        for c in range(a, b, k):
            n = min(k, b - c)
            g4 = g[c:c + n].reshape(n, G, Og, P)
            if need_w:
                win.fill(cols[:n], c, c + n)
                gt = flat[:G * Og * n * P].reshape(G, Og, n, P)
                gt[...] = g4.transpose(1, 2, 0, 3)
                part = xp.matmul(gt.reshape(G, Og, n * P), cols[:n].reshape(n * P, G, kk * Cg).transpose(1, 0, 2))
                gw = part if gw is None else xp.add(gw, part, out=gw)  # (G, Og, Kg)
            if need_x:
                _input_chunk(g4.transpose(1, 0, 3, 2), w_off, gx[c:c + n], geom, (kh, kw), (Ho, Wo))
        _scratch.give(flat, cols)
        return gw

    parts = split_batch(work, N, g.size + (N * P * G * kk * Cg) * (need_x + need_w), xp, blas=True)
    if win is not None:
        win.close()
    grad_w = None
    if need_w:
        gk = parts[0] if len(parts) == 1 else sum(parts[1:], parts[0])
        grad_w = gk.reshape(G, Og, kh, kw, Cg).transpose(0, 1, 4, 2, 3).reshape(w.shape)
    return gx, grad_w


def _offset_weights(w, G: int):
    """(O, Cg, kh, kw) -> (G, kh*kw, Og, Cg) contiguous: the input gradient's weight, one block per kernel offset."""
    O, Cg, kh, kw = w.shape
    return array_module(w).ascontiguousarray(w.reshape(G, O // G, Cg, kh * kw).transpose(0, 3, 1, 2))


def _input_chunk(gm, w_off, gx, geom: Geometry, khw: tuple, hw: tuple) -> None:
    """gx (n, C, H, W) from the gradient matrices gm (G, n, Ho*Wo, Og) of n images (any strides: a view of the
    NCHW gradient): one product per image and kernel offset into (G, kh*kw, n*P, Cg), each offset's block
    contiguous so col2im's strided adds run over long rows instead of Cg-long pieces."""
    xp = array_module(gm)
    G, n, P, _ = gm.shape
    (kh, kw), (Ho, Wo), Cg = khw, hw, w_off.shape[3]
    gc = _scratch.take(xp, (G, kh * kw, n, P, Cg), gm.dtype)
    xp.matmul(gm[:, None], w_off[:, :, None], out=gc)  # (G, 1, n, P, Og) x (G, kh*kw, 1, Og, Cg)
    c7 = gc.reshape(G, kh, kw, n, Ho, Wo, Cg).transpose(0, 3, 4, 5, 1, 2, 6)
    acc = _scratch.take(xp, (n,) + gx.shape[2:] + gx.shape[1:2], gm.dtype)
    _col2im_into(c7, gx, acc, geom)
    _scratch.give(gc, acc)


def _weight_from(cols, gm, w_shape: tuple, G: int):
    """dL/dw (O, Cg, kh, kw) from the window matrix (M, G, Kg) and the gradient matrix (``_grad_matrix``)."""
    xp = array_module(cols)
    O, Cg, kh, kw = w_shape
    if _per_image(w_shape):  # (N, G, Og, Kg) summed over the images, a partial sum per thread
        planes = cols[:, :, :kh * kw * Cg]  # without the bias row of ones
        parts = split_batch(lambda a, b: xp.matmul(gm[a:b], planes[a:b].transpose(0, 1, 3, 2)).sum(axis=0),
                            gm.shape[0], cols.size + gm.size, xp, blas=True)
        gk = parts[0] if len(parts) == 1 else sum(parts[1:], parts[0])
        return gk.reshape(G, O // G, kh, kw, Cg).transpose(0, 1, 4, 2, 3).reshape(w_shape)
    gk = xp.matmul(cols.transpose(1, 2, 0), gm)  # (G, Kg, Og)
    return gk.reshape(G, kh, kw, Cg, O // G).transpose(0, 4, 3, 1, 2).reshape(w_shape)


def _input_from(gm, w, x_shape: tuple, geom: Geometry, out_hw: tuple):
    """dL/dx (N, C, H, W) from the gradient matrix of an (Ho, Wo) output: products, then col2im."""
    xp, G, (_, Cg, kh, kw) = array_module(gm), geom.groups, w.shape
    N, (Ho, Wo) = x_shape[0], out_hw
    if _per_image(w.shape):
        wk = _weight_matrix(w, G)  # (G, Kg, Og)
        gc = _scratch.take(xp, (N, G, wk.shape[1], Ho * Wo), gm.dtype)  # planes' gradient (N, G, Kg, P)
        split_batch(lambda a, b: xp.matmul(wk, gm[a:b], out=gc[a:b]), N, gm.size + gc.size, xp, blas=True)
        gx = _col2im_planes(gc.reshape(N, G, kh, kw, Cg, Ho, Wo), x_shape, geom)
        _scratch.give(gc)
        return gx
    w_off, P = _offset_weights(w, G), Ho * Wo
    gx = xp.empty(x_shape, dtype=gm.dtype)
    gm4 = gm.reshape(G, N, P, gm.shape[2])

    def work(a: int, b: int) -> None:  # chunk by chunk of images, as _conv_fused_backward
        k = min(_chunk(P * G * kh * kw * Cg), b - a)
        for c in range(a, b, k):
            n = min(k, b - c)
            _input_chunk(gm4[:, c:c + n], w_off, gx[c:c + n], geom, (kh, kw), (Ho, Wo))

    split_batch(work, N, gm.size + N * P * G * kh * kw * Cg, xp, blas=True)
    return gx


def _bias_grad(g):
    """dL/db (O,) of an (N, O, Ho, Wo) upstream gradient: a product with ones (a reduction over the middle
    axis of an NCHW array is several times slower)."""
    xp = array_module(g)
    N, O = g.shape[:2]
    g3 = g.reshape(N, O, -1)
    return xp.matmul(g3, xp.ones(g3.shape[2], dtype=g.dtype)).sum(axis=0)


# -- the Functions -------------------------------------------------------------------------------
class Convolution(Function):
    """y = x ⋆ w + b: x (N, C, H, W), w (O, C/G, kh, kw), b (O,) or None -> (N, O, Ho, Wo).

    Settings: ``geom`` (a Geometry); ``keep_cols`` keeps the window matrix for the weight gradient.
    """

    raw = True
    saved_inputs = (0, 1)  # the bias gradient needs only the upstream gradient

    def forward(ctx, x, w, b, *, geom: Geometry, keep_cols: bool = False):
        ctx.geom = geom
        if not _per_image(w.shape):  # the backward builds the window matrix again, chunk by chunk
            return _conv_fused(x, w, b, geom)
        cols = _im2col(x, w.shape[2:], geom, per_image=True, ones=b is not None)
        y = _conv_from_cols(cols, w, b, x.shape[0], geom.out_size(x.shape[2:], w.shape[2:]), geom.groups)
        if keep_cols:  # the weight gradient reuses it
            ctx.cols = cols
        else:
            _scratch.give(cols)
        return y

    def backward(ctx, grad):
        x, w, _ = ctx.inputs
        geom = ctx.geom
        need_x, need_w, need_b = ctx.needs_input_grad
        if is_grad_enabled():  # create_graph: each gradient is itself a differentiable op
            return (ConvolutionTranspose.apply(grad, w, None, geom=geom, x_shape=x.shape) if need_x else None,
                    ConvolutionWeight.apply(x, grad, geom=geom, w_shape=w.shape) if need_w else None,
                    grad.sum((0, 2, 3)) if need_b else None)
        g = grad._data
        grad_x = grad_w = grad_b = None
        if need_b:
            grad_b = Tensor._wrap(_bias_grad(g))
        if not _per_image(w.shape):
            if need_x or need_w:
                gx, gw = _conv_fused_backward(x._data, w._data, g, geom, need_x, need_w)
                grad_x = None if gx is None else Tensor._wrap(gx)
                grad_w = None if gw is None else Tensor._wrap(gw)
            return grad_x, grad_w, grad_b
        gm = _grad_matrix(g, geom.groups, True) if need_x or need_w else None
        if need_x:
            grad_x = Tensor._wrap(_input_from(gm, w._data, x.shape, geom, g.shape[2:]))
        if need_w:
            cols = ctx.__dict__.pop("cols", None)
            if cols is None:
                cols = _im2col(x._data, w.shape[2:], geom, per_image=True)
            grad_w = Tensor._wrap(_weight_from(cols, gm, w.shape, geom.groups))
            _scratch.give(cols)
        return grad_x, grad_w, grad_b


class ConvolutionTranspose(Function):
    """The adjoint of ``Convolution`` in its input: x (N, O, Ho, Wo), w (O, C/G, kh, kw) -> ``x_shape``.

    This is ``conv_transpose2d`` (whose weight is (C_in, C_out/G, kh, kw): the same array), and
    the input gradient of a convolution. Settings: ``geom``, ``x_shape`` (N, C, H, W) of the result.
    """

    raw = True
    saved_inputs = (0, 1)

    def forward(ctx, x, w, b, *, geom: Geometry, x_shape: tuple):
        ctx.geom = geom
        N, C, H, W = x_shape
        gm = _grad_matrix(x, geom.groups, _per_image(w.shape))
        out = _input_from(gm, w, (x.shape[0], C, H, W), geom, x.shape[2:])
        _scratch.give(gm)
        if b is not None:
            out += b.reshape(1, -1, 1, 1)
        return out

    def backward(ctx, grad):
        x, w, _ = ctx.inputs
        geom = ctx.geom
        need_x, need_w, need_b = ctx.needs_input_grad
        if is_grad_enabled():
            grad_x = Convolution.apply(grad, w, None, geom=geom) if need_x else None
            grad_w = ConvolutionWeight.apply(grad, x, geom=geom, w_shape=w.shape) if need_w else None
            grad_b = grad.sum((0, 2, 3)) if need_b else None
        else:  # the window matrix of the upstream gradient serves both products
            per_image = _per_image(w.shape)
            cols = (_im2col(grad._data, w.shape[2:], geom, x.shape[2:], per_image=per_image)
                    if need_x or need_w else None)
            grad_x = grad_w = grad_b = None
            if need_x:
                grad_x = Tensor._wrap(_conv_from_cols(cols, w._data, None, grad.shape[0], x.shape[2:], geom.groups))
            if need_w:
                gm = _grad_matrix(x._data, geom.groups, per_image)
                grad_w = Tensor._wrap(_weight_from(cols, gm, w.shape, geom.groups))
                _scratch.give(gm)
            _scratch.give(cols)
            if need_b:
                grad_b = Tensor._wrap(_bias_grad(grad._data))
        if grad_x is not None and grad_x.shape != x.shape:  # output_padding >= stride: rows no input reaches
            grad_x = grad_x[:, :, :x.shape[2], :x.shape[3]]
        return grad_x, grad_w, grad_b


class ConvolutionWeight(Function):
    """The adjoint of ``Convolution`` in its weight: x (N, C, H, W), g (N, O, Ho, Wo) -> ``w_shape``.

    Settings: ``geom``, ``w_shape`` (O, C/G, kh, kw) of the result.
    """

    raw = True

    def forward(ctx, x, g, *, geom: Geometry, w_shape: tuple):
        ctx.geom = geom
        per_image = _per_image(w_shape)
        cols = _im2col(x, w_shape[2:], geom, g.shape[2:], per_image=per_image)
        gm = _grad_matrix(g, geom.groups, per_image)
        gw = _weight_from(cols, gm, w_shape, geom.groups)
        _scratch.give(cols, gm)
        return gw

    def backward(ctx, grad):
        x, g = ctx.inputs
        geom = ctx.geom
        need_x, need_g = ctx.needs_input_grad
        grad_g = Convolution.apply(x, grad, None, geom=geom) if need_g else None
        if grad_g is not None and grad_g.shape != g.shape:  # output_padding >= stride (see ConvolutionTranspose)
            grad_g = grad_g[:, :, :g.shape[2], :g.shape[3]]
        return (ConvolutionTranspose.apply(g, grad, None, geom=geom, x_shape=x.shape) if need_x else None, grad_g)


class Unfold(Function):
    """im2col in PyTorch's layout: x (N, C, H, W) -> (N, C*kh*kw, L), rows (c, kh, kw), L = Ho*Wo.

    Settings: ``khw`` (kh, kw), ``geom``.
    """

    raw = True
    saved_inputs = ()  # backward needs only the input's shape

    def forward(ctx, x, *, khw: tuple, geom: Geometry):
        ctx.khw, ctx.geom, ctx.x_shape = khw, geom, x.shape
        xp = array_module(x)
        (pt, pb, pl, pr), (kh, kw) = geom.padding, khw
        if pt or pb or pl or pr:
            x = xp.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        N, C = x.shape[:2]
        Ho, Wo = geom.out_size((x.shape[2] - pt - pb, x.shape[3] - pl - pr), khw)
        (sh, sw), (dh, dw) = geom.stride, geom.dilation
        sN, sC, sH, sW = x.strides
        win = xp.lib.stride_tricks.as_strided(x, (N, C, kh, kw, Ho, Wo),
                                              (sN, sC, sH * dh, sW * dw, sH * sh, sW * sw))
        out = win.reshape(N, C * kh * kw, Ho * Wo)
        return out.copy() if xp.may_share_memory(out, x) else out  # 1x1 windows: a view of x

    def backward(ctx, grad):
        return Fold.apply(grad, x_shape=ctx.x_shape, khw=ctx.khw, geom=ctx.geom)


class Fold(Function):
    """col2im, the adjoint of ``Unfold``: (N, C*kh*kw, L) -> ``x_shape`` (N, C, H, W), summing overlaps.

    Settings: ``x_shape``, ``khw`` (kh, kw), ``geom``.
    """

    raw = True
    saved_inputs = ()

    def forward(ctx, cols, *, x_shape: tuple, khw: tuple, geom: Geometry):
        ctx.khw, ctx.geom = khw, geom
        xp = array_module(cols)
        N, C, H, W = x_shape
        (kh, kw), (sh, sw), (pt, pb, pl, pr), (dh, dw) = khw, geom.stride, geom.padding, geom.dilation
        Ho, Wo = geom.out_size((H, W), khw)
        c6 = cols.reshape(N, C, kh, kw, Ho, Wo)
        out = xp.zeros((N, C, H + pt + pb, W + pl + pr), dtype=cols.dtype)
        for i in range(kh):
            rows = slice(i * dh, i * dh + sh * (Ho - 1) + 1, sh)
            for j in range(kw):
                out[:, :, rows, j * dw:j * dw + sw * (Wo - 1) + 1:sw] += c6[:, :, i, j]
        return out[:, :, pt:pt + H, pl:pl + W].copy() if (pt or pb or pl or pr) else out

    def backward(ctx, grad):
        return Unfold.apply(grad, khw=ctx.khw, geom=ctx.geom)
