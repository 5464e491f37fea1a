"""Shape ops: reshape, transpose/permute, expand, squeeze, cat/stack/split, pad, repeat, flip, tri.

Each returns a view where NumPy does (reshape, transpose, broadcast_to) and its gradient is the
inverse rearrangement of the incoming gradient.
"""
from __future__ import annotations

import math

import numpy as np

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.tensor import Tensor


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


class Reshape(Function):
    raw = True

    def forward(ctx, x, shape):
        try:
            return x.reshape(shape)
        except ValueError:
            raise RuntimeError(f"reshape: shape {shape} is invalid for a tensor of shape {x.shape} "
                               f"({x.size} elements)") from None

    def backward(ctx, grad):
        return grad.reshape(ctx.inputs[0].shape), None


class Permute(Function):
    raw = True

    def forward(ctx, x, dims):
        return x.transpose(dims)

    def backward(ctx, grad):
        dims = ctx.inputs[1]
        inverse = [0] * len(dims)
        for i, d in enumerate(dims):
            inverse[d] = i
        return grad.permute(tuple(inverse)), None


_SMALL = 1 << 16


class Expand(Function):
    raw = True

    def forward(ctx, x, shape):
        xp = array_module(x)
        if x.size == 1 and math.prod(shape) <= _SMALL:
            # A filled array costs less than broadcast_to's Python set-up at this size (the
            # gradient of a full reduction); large expansions stay zero-copy views.
            return xp.full(shape, x.reshape(()), dtype=x.dtype)
        return xp.broadcast_to(x, shape)

    def backward(ctx, grad):
        from shendu.ops.reduce import sum_to
        return sum_to(grad, ctx.inputs[0].shape), None


class Contiguous(Function):
    raw = True

    def forward(ctx, x):
        return array_module(x).ascontiguousarray(x)

    def backward(ctx, grad):
        return grad


class Cat(Function):
    raw = True

    def forward(ctx, axis, *xs):
        dtype = xs[0].dtype
        if any(x.dtype != dtype for x in xs):  # PyTorch: floats win over ints, wider floats win
            kinds = [x.dtype for x in xs]
            floats = [d for d in kinds if d.kind == "f"]
            dtype = np.result_type(*(floats or kinds))
        ctx.sizes = [x.shape[axis] for x in xs]
        return array_module(xs[0]).concatenate([x.astype(dtype, copy=False) for x in xs], axis=axis)

    def backward(ctx, grad):
        axis = ctx.inputs[0]
        return (None,) + tuple(split(grad, ctx.sizes, axis))


class Split(Function):
    raw = True

    def forward(ctx, x, sizes, axis):
        bounds, start = [], 0
        for s in sizes:
            bounds.append((start, start + s))
            start += s
        index = [slice(None)] * x.ndim
        outs = []
        for lo, hi in bounds:
            index[axis] = slice(lo, hi)
            outs.append(x[tuple(index)])
        return tuple(outs)

    def backward(ctx, *grads):
        axis = ctx.inputs[2]
        return cat(list(grads), axis), None, None


class Pad(Function):
    """Constant padding; the other modes are gathers along each dim (see ``pad``)."""

    raw = True

    def forward(ctx, x, widths, value):
        return array_module(x).pad(x, widths, mode="constant", constant_values=value)

    def backward(ctx, grad):
        widths = ctx.inputs[1]
        index = tuple(slice(lo, grad.shape[i] - hi) for i, (lo, hi) in enumerate(widths))
        return grad[index], None, None


class Flip(Function):
    raw = True

    def forward(ctx, x, axes):
        return array_module(x).flip(x, axis=axes)

    def backward(ctx, grad):
        return grad.flip(ctx.inputs[1]), None


class Tile(Function):
    raw = True

    def forward(ctx, x, reps):
        return array_module(x).tile(x, reps)

    def backward(ctx, grad):
        x, reps = ctx.inputs
        shape = (1,) * (len(reps) - x.ndim) + x.shape
        # (r0, s0, r1, s1, ...) then sum the repeat axes
        split_shape = tuple(v for r, s in zip(reps, shape) for v in (r, s))
        g = grad.reshape(split_shape).sum(tuple(range(0, 2 * len(reps), 2)))
        return g.reshape(x.shape), None


class Triangle(Function):
    raw = True

    def forward(ctx, x, diagonal, upper):
        xp = array_module(x)
        return (xp.triu if upper else xp.tril)(x, diagonal)

    def backward(ctx, grad):
        _, diagonal, upper = ctx.inputs
        return (triu if upper else tril)(grad, diagonal), None, None


# -- the functions ------------------------------------------------------------------------------
def reshape(input: Tensor, *shape) -> Tensor:
    shape = _shape_arg(shape)
    if shape == input.shape:
        return input
    return Reshape.apply(input, shape)


def view(input: Tensor, *shape) -> Tensor:
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)):
        return input.to(shape[0])  # view(dtype)
    return reshape(input, *shape)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if input.ndim == 0:
        return reshape(input, 1)
    s, e = start_dim % input.ndim, end_dim % input.ndim
    shape = input.shape[:s] + (math.prod(input.shape[s:e + 1]),) + input.shape[e + 1:]
    return reshape(input, shape)


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    d = dim % input.ndim
    return reshape(input, input.shape[:d] + tuple(sizes) + input.shape[d + 1:])


def permute(input: Tensor, *dims) -> Tensor:
    dims = _shape_arg(dims)
    if sorted(d % max(input.ndim, 1) for d in dims) != list(range(input.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of the {input.ndim} dims "
                           f"of a tensor of shape {input.shape}")
    return Permute.apply(input, tuple(d % input.ndim for d in dims))


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    n = input.ndim
    if n < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return input
    for d in (dim0, dim1):
        if not -n <= d < n:
            raise IndexError(f"transpose: dim {d} is out of range for a tensor of shape {input.shape}")
    dims = list(range(n))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(input, tuple(dims))


swapaxes = swapdims = transpose


def t(input: Tensor) -> Tensor:
    if input.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dims, got shape {input.shape}")
    return transpose(input, 0, -1) if input.ndim == 2 else input


def movedim(input: Tensor, source, destination) -> Tensor:
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    n = input.ndim
    src, dst = [s % n for s in src], [d % n for d in dst]
    order = [i for i in range(n) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(input, *order)


def expand(input: Tensor, *shape) -> Tensor:
    shape = _shape_arg(shape)
    lead = len(shape) - input.ndim
    if lead < 0:
        raise RuntimeError(f"expand: target shape {shape} has fewer dims than the tensor's {input.shape}")
    full = tuple(input.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    if full == input.shape:
        return input
    for i, s in enumerate(input.shape):
        if s != 1 and s != full[i + lead]:
            raise RuntimeError(f"expand: the tensor of shape {input.shape} cannot be expanded to "
                               f"{shape}: dim {i} has size {s}, which is neither 1 nor {full[i + lead]}")
    return Expand.apply(input, full)


def broadcast_to(input: Tensor, shape) -> Tensor:
    return expand(input, tuple(shape))


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    return expand(input, other.shape)


def broadcast_tensors(*tensors: Tensor) -> list:
    shape = np.broadcast_shapes(*[t.shape for t in tensors])
    return [expand(t, shape) for t in tensors]


def squeeze(input: Tensor, dim=None) -> Tensor:
    if dim is None:
        shape = tuple(s for s in input.shape if s != 1)
    else:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        dims = {d % max(input.ndim, 1) for d in dims}
        shape = tuple(s for i, s in enumerate(input.shape) if not (i in dims and s == 1))
    return reshape(input, shape)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    n = input.ndim + 1
    if not -n <= dim < n:
        raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor of shape {input.shape} "
                         f"(expected -{n} <= dim < {n})")
    d = dim % n
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


def contiguous(input: Tensor) -> Tensor:
    return Contiguous.apply(input)


def cat(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    n = ref.ndim
    if not -n <= dim < max(n, 1):
        raise IndexError(f"cat: dim {dim} is out of range for tensors with {n} dims")
    axis = dim % n
    for i, t in enumerate(tensors):
        if t.ndim != n or any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape)) if j != axis):
            raise RuntimeError(f"cat: tensor {i} has shape {t.shape}, which does not match tensor 0's "
                               f"shape {ref.shape} outside dim {axis}")
    if len(tensors) == 1:
        return tensors[0]
    return Cat.apply(axis, *tensors)


concatenate = concat = cat


def stack(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack: expects tensors of equal shape, but tensor 0 has shape "
                               f"{tensors[0].shape} and tensor {i} has shape {t.shape}")
    d = dim % (tensors[0].ndim + 1)
    return cat([unsqueeze(t, d) for t in tensors], d)


def hstack(tensors) -> Tensor:
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    return cat([t if t.ndim > 1 else t.reshape(1, -1) for t in tensors], 0)


def split(input: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    axis = dim % input.ndim
    n = input.shape[axis]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(f"split: sizes {sizes} sum to {sum(sizes)}, but dim {dim} of the "
                               f"tensor of shape {input.shape} has size {n}")
    return Split.apply(input, tuple(sizes), axis)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    n = input.shape[dim % input.ndim]
    return split(input, max(1, -(-n // chunks)), dim)


def unbind(input: Tensor, dim: int = 0) -> tuple:
    return tuple(squeeze(p, dim) for p in split(input, 1, dim))


def pad(input: Tensor, pad, mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims; ``pad`` lists (left, right) from the last dim backward."""
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: expected an even-length pad of at most {2 * input.ndim} values "
                         f"for a tensor of shape {input.shape}, got {tuple(pad)}")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be constant, reflect, replicate or circular, got {mode!r}")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if any(lo < 0 or hi < 0 for lo, hi in widths):
        index = tuple(slice(max(-lo, 0), s - max(-hi, 0)) for (lo, hi), s in zip(widths, input.shape))
        input = input[index]
        widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if mode == "constant":
        return Pad.apply(input, tuple(widths), value)
    # reflect / replicate / circular read input elements: index_select along each padded dim, whose
    # gradient scatter-adds (an edge element feeds several outputs).
    from shendu.ops.index import index_select
    xp = input._xp()
    np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    for d, (lo, hi) in enumerate(widths):
        if not lo and not hi:
            continue
        n = input.shape[d]
        limit = n - 1 if mode == "reflect" else n
        if n == 0 or max(lo, hi) > limit:
            raise ValueError(f"pad: {mode} padding of ({lo}, {hi}) on dim {d} needs pads of at most "
                             f"{limit} for a dim of size {n} (input shape {input.shape})")
        input = index_select(input, d, xp.pad(xp.arange(n), (lo, hi), mode=np_mode))
    return input


def flip(input: Tensor, dims) -> Tensor:
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return Flip.apply(input, tuple(d % input.ndim for d in dims))


def tile(input: Tensor, dims) -> Tensor:
    reps = tuple(dims)
    if len(reps) < input.ndim:
        reps = (1,) * (input.ndim - len(reps)) + reps
    return Tile.apply(input, reps)


def repeat(input: Tensor, *sizes) -> Tensor:
    """PyTorch's ``Tensor.repeat``: tile the tensor ``sizes`` times along each dim."""
    sizes = _shape_arg(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError(f"repeat: got {len(sizes)} repeat counts for a tensor with {input.ndim} dims")
    return Tile.apply(input, sizes)


def repeat_interleave(input: Tensor, repeats: int, dim: int | None = None) -> Tensor:
    if dim is None:
        input, dim = input.reshape(-1), 0
    d = dim % input.ndim
    x = unsqueeze(input, d + 1)
    shape = list(x.shape)
    shape[d + 1] = repeats
    x = expand(x, tuple(shape))
    return flatten(x, d, d + 1)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    return Triangle.apply(input, diagonal, True)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    return Triangle.apply(input, diagonal, False)


def _T(self: Tensor) -> Tensor:
    return permute(self, *reversed(range(self.ndim))) if self.ndim >= 2 else self


def _mT(self: Tensor) -> Tensor:
    return transpose(self, -2, -1)
