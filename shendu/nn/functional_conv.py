"""Convolution, pooling and resampling functions of ``shendu.nn.functional`` (PyTorch's names and defaults).

The 2-D kernels live in ``shendu.ops.conv`` and ``shendu.ops.pool``; the 1-D variants run them on
(N, C, 1, L) views. As in PyTorch, every entry point also takes unbatched input ((C, L) for the
1-D ops, (C, H, W) for the 2-D ones) and returns an unbatched result. Adaptive average pooling with
unequal windows is a product with a small (out, in) averaging matrix per axis. Interpolation is in
``shendu.ops.resize``.
"""
from __future__ import annotations

from shendu.amp import autocast_mode as _amp
from shendu.grad_mode import is_grad_enabled
from shendu.ops import pool
from shendu.ops.conv import Convolution, ConvolutionTranspose, Fold, Geometry, Unfold
from shendu.ops.index import gather
from shendu.tensor import Tensor

__all__ = [
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d", "avg_pool1d",
    "avg_pool2d", "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "fold", "max_pool1d",
    "max_pool2d", "unfold",
]


def _unbatched(fn):
    """Let a conv entry point take an input without its batch dim, as PyTorch does: (C, *spatial)."""
    import functools

    @functools.wraps(fn)
    def wrapper(input, weight, *args, **kwargs):
        if isinstance(weight, Tensor) and input.ndim == weight.ndim - 1:
            return fn(input.unsqueeze(0), weight, *args, **kwargs).squeeze(0)
        return fn(input, weight, *args, **kwargs)
    return wrapper


# -- argument handling and the 2-D convolutions ------------------------------------------------
def _tuple(value, n: int, name: str, op: str) -> tuple:
    """An int or a sequence of ``n`` ints -> a tuple of ``n`` Python ints."""
    if isinstance(value, (list, tuple)):
        out = tuple(int(v) for v in value)
        if len(out) == 1:
            out = out * n
    else:
        out = (int(value),) * n
    if len(out) != n:
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return out


def _padding(padding, khw: tuple, stride: tuple, dilation: tuple, op: str) -> tuple:
    """int, pair, 'valid' or 'same' -> (top, bottom, left, right); 'same' puts the odd pixel last."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
        out = []
        for k, d in zip(khw, dilation):
            total = d * (k - 1)
            out += [total // 2, total - total // 2]
        return tuple(out)
    ph, pw = _tuple(padding, 2, "padding", op)
    if ph < 0 or pw < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return (ph, ph, pw, pw)


def _geometry(op: str, khw: tuple, stride, padding, dilation, groups: int) -> Geometry:
    stride = _tuple(stride, 2, "stride", op)
    dilation = _tuple(dilation, 2, "dilation", op)
    if min(stride) < 1 or min(dilation) < 1 or int(groups) < 1:
        raise ValueError(f"{op}: stride, dilation and groups must be positive, got stride={stride}, "
                         f"dilation={dilation}, groups={groups}")
    return Geometry(stride, _padding(padding, khw, stride, dilation, op), dilation, int(groups))


def _check_input(op: str, input: Tensor, weight: Tensor | None = None) -> None:
    if input.ndim != 4:
        raise RuntimeError(f"{op}: expected a 3-D (unbatched: C, H, W) or 4-D (batched: N, C, H, W) input, "
                           f"got shape {tuple(input.shape)}")
    if not input.is_floating_point():
        raise RuntimeError(f"{op}: expected a floating-point input, got {input.dtype}")
    if weight is not None:
        if weight.ndim != 4:
            raise RuntimeError(f"{op}: expected a 4-D weight, got shape {tuple(weight.shape)}")
        if weight.dtype != input.dtype:
            raise RuntimeError(f"{op}: input ({input.dtype}) and weight ({weight.dtype}) must have the same dtype")


def _check_fits(op: str, hw: tuple, geom: Geometry, khw: tuple, input_shape: tuple) -> None:
    pt, pb, pl, pr = geom.padding
    padded = (hw[0] + pt + pb, hw[1] + pl + pr)
    eff = tuple(d * (k - 1) + 1 for k, d in zip(khw, geom.dilation))
    if eff[0] > padded[0] or eff[1] > padded[1]:
        raise RuntimeError(f"{op}: the (dilated) kernel size {eff} is larger than the padded input size "
                           f"{padded} (input shape {tuple(input_shape)}, padding {geom.padding})")


@_unbatched
def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1, *, _op: str = "conv2d") -> Tensor:
    """2-D cross-correlation: input (N, C, H, W), weight (O, C/groups, kH, kW), bias (O,) -> (N, O, Ho, Wo).

    ``padding`` is an int, a pair, ``'valid'`` or ``'same'`` (stride 1 only; an odd total pads one more
    pixel at the bottom/right, as PyTorch does).
    """
    op = _op
    if _amp.active:
        input, weight, bias = _amp.cast(op, input, weight, bias)
    _check_input(op, input, weight)
    O, Cg, kh, kw = weight.shape
    geom = _geometry(op, (kh, kw), stride, padding, dilation, groups)
    G = geom.groups
    if input.shape[1] != Cg * G or O % G:
        raise RuntimeError(f"{op}: weight of shape {tuple(weight.shape)} with groups={G} expects input with "
                           f"{Cg * G} channels and {O} divisible by {G}, got input of shape {tuple(input.shape)}")
    if bias is not None and tuple(bias.shape) != (O,):
        raise RuntimeError(f"{op}: expected bias of shape ({O},), got {tuple(bias.shape)}")
    _check_fits(op, input.shape[2:], geom, (kh, kw), input.shape)
    keep = weight.requires_grad and is_grad_enabled()
    return Convolution.apply(input, weight, bias, geom=geom, keep_cols=keep)


@_unbatched
def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1, *, _op: str = "conv_transpose2d") -> Tensor:
    """Transposed convolution: input (N, C_in, H, W), weight (C_in, C_out/groups, kH, kW) -> (N, C_out, Ho, Wo).

    Ho = (H - 1)*stride - 2*padding + dilation*(kH - 1) + output_padding + 1.
    """
    op = _op
    if _amp.active:
        input, weight, bias = _amp.cast(op, input, weight, bias)
    _check_input(op, input, weight)
    Cin, Cg, kh, kw = weight.shape
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple, got {padding!r}")
    geom = _geometry(op, (kh, kw), stride, padding, dilation, groups)
    G = geom.groups
    if input.shape[1] != Cin or Cin % G:
        raise RuntimeError(f"{op}: weight of shape {tuple(weight.shape)} with groups={G} expects input with "
                           f"{Cin} channels (divisible by {G}), got input of shape {tuple(input.shape)}")
    if bias is not None and tuple(bias.shape) != (Cg * G,):
        raise RuntimeError(f"{op}: expected bias of shape ({Cg * G},), got {tuple(bias.shape)}")
    oph, opw = _tuple(output_padding, 2, "output_padding", op)
    for o, s, d in ((oph, geom.stride[0], geom.dilation[0]), (opw, geom.stride[1], geom.dilation[1])):
        if o < 0 or (o >= s and o >= d):
            raise ValueError(f"{op}: output_padding must be smaller than either stride or dilation, got "
                             f"output_padding={(oph, opw)}, stride={geom.stride}, dilation={geom.dilation}")
    (sh, sw), (pt, pb, pl, pr), (dh, dw) = geom.stride, geom.padding, geom.dilation
    H, W = input.shape[2:]
    Ho = (H - 1) * sh - pt - pb + dh * (kh - 1) + oph + 1
    Wo = (W - 1) * sw - pl - pr + dw * (kw - 1) + opw + 1
    if Ho < 1 or Wo < 1:
        raise RuntimeError(f"{op}: output size ({Ho}, {Wo}) is too small for input shape "
                           f"{tuple(input.shape)}, weight shape {tuple(weight.shape)} and padding {padding!r}")
    return ConvolutionTranspose.apply(input, weight, bias, geom=geom, x_shape=(input.shape[0], Cg * G, Ho, Wo))


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sliding local blocks (im2col): (N, C, H, W) -> (N, C*kH*kW, L), rows ordered (c, kh, kw)."""
    _check_input("unfold", input)
    khw = _tuple(kernel_size, 2, "kernel_size", "unfold")
    geom = _geometry("unfold", khw, stride, padding, dilation, 1)
    _check_fits("unfold", input.shape[2:], geom, khw, input.shape)
    return Unfold.apply(input, khw=khw, geom=geom)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sum sliding local blocks into an image (col2im): (N, C*kH*kW, L) -> (N, C, *output_size)."""
    khw = _tuple(kernel_size, 2, "kernel_size", "fold")
    hw = _tuple(output_size, 2, "output_size", "fold")
    geom = _geometry("fold", khw, stride, padding, dilation, 1)
    if input.ndim != 3 or input.shape[1] % (khw[0] * khw[1]):
        raise RuntimeError(f"fold: expected input (N, C*{khw[0]}*{khw[1]}, L), got shape {tuple(input.shape)}")
    L = geom.out_size(hw, khw)
    if input.shape[2] != L[0] * L[1]:
        raise RuntimeError(f"fold: output_size {hw} with kernel {khw} gives {L[0] * L[1]} blocks, but the "
                           f"input of shape {tuple(input.shape)} has {input.shape[2]}")
    C = input.shape[1] // (khw[0] * khw[1])
    return Fold.apply(input, x_shape=(input.shape[0], C) + hw, khw=khw, geom=geom)


# -- 1-D convolutions -----------------------------------------------------------------------------
def _check_1d(op: str, input: Tensor, weight: Tensor) -> None:
    if input.ndim != 3:
        raise RuntimeError(f"{op}: expected a 2-D (unbatched: C, L) or 3-D (batched: N, C, L) input, "
                           f"got shape {tuple(input.shape)}")
    if weight.ndim != 3:
        raise RuntimeError(f"{op}: expected a 3-D weight, got shape {tuple(weight.shape)}")


def _1d(value, name: str, op: str) -> tuple:
    return (1, _tuple(value, 1, name, op)[0])


@_unbatched
def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """1-D cross-correlation: input (N, C, L), weight (O, C/groups, k), bias (O,) -> (N, O, Lo)."""
    _check_1d("conv1d", input, weight)
    pad = padding if isinstance(padding, str) else (0, _tuple(padding, 1, "padding", "conv1d")[0])
    out = conv2d(input.unsqueeze(2), weight.unsqueeze(2), bias, _1d(stride, "stride", "conv1d"), pad,
                 _1d(dilation, "dilation", "conv1d"), groups, _op="conv1d")
    return out.squeeze(2)


@_unbatched
def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution: input (N, C_in, L), weight (C_in, C_out/groups, k) -> (N, C_out, Lo)."""
    op = "conv_transpose1d"
    _check_1d(op, input, weight)
    pad = (0, _tuple(padding, 1, "padding", op)[0])
    out_pad = (0, _tuple(output_padding, 1, "output_padding", op)[0])
    out = conv_transpose2d(input.unsqueeze(2), weight.unsqueeze(2), bias, _1d(stride, "stride", op), pad, out_pad,
                           groups, _1d(dilation, "dilation", op), _op=op)
    return out.squeeze(2)


# -- pooling -------------------------------------------------------------------------------------
def _pool_args(op: str, input: Tensor, nd: int, kernel_size, stride, padding, dilation, ceil_mode: bool):
    """Validate the rank and return (input as (..., H, W), PoolGeometry)."""
    if input.ndim not in (nd + 1, nd + 2):
        names = "(N, C, L) or (C, L)" if nd == 1 else "(N, C, H, W) or (C, H, W)"
        raise RuntimeError(f"{op}: expected a {nd + 1}-D or {nd + 2}-D input {names}, got shape {tuple(input.shape)}")
    k = _tuple(kernel_size, nd, "kernel_size", op)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and not stride) else _tuple(stride, nd, "stride", op)
    p, d = _tuple(padding, nd, "padding", op), _tuple(dilation, nd, "dilation", op)
    if nd == 1:
        input, k, s, p, d = input.unsqueeze(-2), (1,) + k, (1,) + s, (0,) + p, (1,) + d
    return input, pool.pool_geometry(op, input.shape, k, s, p, d, ceil_mode)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max over kH x kW windows: (N, C, H, W) -> (N, C, Ho, Wo); the gradient goes to the first maximum.

    ``return_indices=True`` also returns each maximum's flat index in its H*W plane (int64).
    """
    x, pg = _pool_args("max_pool2d", input, 2, kernel_size, stride, padding, dilation, ceil_mode)
    return pool.max_pool2d(x, pg, return_indices)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max over windows of length k: (N, C, L) -> (N, C, Lo)."""
    x, pg = _pool_args("max_pool1d", input, 1, kernel_size, stride, padding, dilation, ceil_mode)
    out = pool.max_pool2d(x, pg, return_indices)
    return (out[0].squeeze(-2), out[1].squeeze(-2)) if return_indices else out.squeeze(-2)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over kH x kW windows: (N, C, H, W) -> (N, C, Ho, Wo) (zero padding counts unless told otherwise)."""
    x, pg = _pool_args("avg_pool2d", input, 2, kernel_size, stride, padding, 1, ceil_mode)
    return pool.avg_pool2d(x, pg, count_include_pad, divisor_override)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over windows of length k: (N, C, L) -> (N, C, Lo)."""
    x, pg = _pool_args("avg_pool1d", input, 1, kernel_size, stride, padding, 1, ceil_mode)
    return pool.avg_pool2d(x, pg, count_include_pad).squeeze(-2)


def _adaptive_args(op: str, input: Tensor, nd: int, output_size) -> tuple:
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: expected a {nd + 1}-D or {nd + 2}-D input, got shape {tuple(input.shape)}")
    sizes = output_size if isinstance(output_size, (list, tuple)) else (output_size,) * nd
    if len(sizes) != nd:
        raise ValueError(f"{op}: output_size must be an int or a tuple of {nd}, got {output_size!r}")
    out = tuple(input.shape[-nd + i] if s is None else int(s) for i, s in enumerate(sizes))
    if any(s < 1 for s in out):
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    if any(n < 1 for n in input.shape[-nd:]):
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} has an empty spatial dim")
    return out


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed (Ho, Wo): (N, C, H, W) -> (N, C, Ho, Wo); None keeps that input size."""
    oh, ow = _adaptive_args("adaptive_avg_pool2d", input, 2, output_size)
    H, W = input.shape[-2:]
    if H % oh == 0 and W % ow == 0:  # equal windows: an ordinary average pool
        k = (H // oh, W // ow)
        return pool.avg_pool2d(input, pool.pool_geometry("adaptive_avg_pool2d", input.shape, k, k, (0, 0), (1, 1),
                                                         False))
    xp = input._xp()
    out = input if ow == W else input @ pool.average_matrix(xp, W, ow, input.dtype).mT  # (..., H, Wo)
    return out if oh == H else pool.average_matrix(xp, H, oh, input.dtype) @ out  # (..., Ho, Wo)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Average pooling to ``output_size`` positions whatever the input length (window o covers
    [⌊oL/L_o⌋, ⌈(o+1)L/L_o⌉)).

    Shape: (N, C, L) or (C, L) -> (N, C, L_o) or (C, L_o).
    """
    (o,) = _adaptive_args("adaptive_avg_pool1d", input, 1, output_size)
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, o)).squeeze(-2)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed (Ho, Wo); the gradient goes to each window's first maximum."""
    oh, ow = _adaptive_args("adaptive_max_pool2d", input, 2, output_size)
    H, W = input.shape[-2:]
    if H % oh == 0 and W % ow == 0:
        k = (H // oh, W // ow)
        pg = pool.pool_geometry("adaptive_max_pool2d", input.shape, k, k, (0, 0), (1, 1), False)
        return pool.max_pool2d(input, pg, return_indices)
    xp = input._xp()
    ih, iw = pool.adaptive_window_index(H, oh), pool.adaptive_window_index(W, ow)
    flat = (ih[:, None, :, None] * W + iw[None, :, None, :]).reshape(oh, ow, -1)  # (Ho, Wo, kh*kw)
    flat = xp.asarray(flat)
    planes = input._data.reshape(input.shape[:-2] + (H * W,))
    values = planes[..., flat]  # (..., Ho, Wo, kh*kw)
    first = xp.argmax(values, axis=-1)  # the first maximum (NaN counts as the maximum)
    idx = xp.take_along_axis(xp.broadcast_to(flat, values.shape), first[..., None], axis=-1)[..., 0]
    index = Tensor._wrap(idx.reshape(input.shape[:-2] + (oh * ow,)))
    out = gather(input.reshape(input.shape[:-2] + (H * W,)), -1, index).reshape(input.shape[:-2] + (oh, ow))
    return (out, Tensor._wrap(idx)) if return_indices else out


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to ``output_size`` positions whatever the input length (windows as
    ``adaptive_avg_pool1d``); with ``return_indices``, also the index of each maximum along L.

    Shape: (N, C, L) or (C, L) -> (N, C, L_o) or (C, L_o).
    """
    (o,) = _adaptive_args("adaptive_max_pool1d", input, 1, output_size)
    out = adaptive_max_pool2d(input.unsqueeze(-2), (1, o), return_indices)
    return (out[0].squeeze(-2), out[1].squeeze(-2)) if return_indices else out.squeeze(-2)
