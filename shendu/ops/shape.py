"""Shape ops: reshape, transpose/permute, expand, squeeze, cat/stack/split, pad, repeat, flip, tri
(roll, narrow, rot90, tensor_split, unfold, new_* and friends, built on these, are in rearrange.py).

Each returns a view where NumPy does (reshape, transpose, broadcast_to) and its gradient is the
inverse rearrangement of the incoming gradient.
"""
from __future__ import annotations

import math

import numpy as np

from shendu.amp import autocast_mode as _amp
from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.ops.dims import wrap_dim, wrap_dims
from shendu.tensor import Tensor


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


class Reshape(Function):
    saved_inputs = ()

    def forward(ctx, x, *, shape):
        ctx.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise RuntimeError(f"reshape: shape {shape} is invalid for a tensor of shape {x.shape} "
                               f"({x.size} elements)") from None

    def backward(ctx, grad):
        return grad.reshape(ctx.in_shape)

    def grad_arrays(ctx, grad):
        return grad.reshape(ctx.in_shape)


class Permute(Function):
    saved_inputs = ()

    def forward(ctx, x, *, dims):
        ctx.dims = dims
        return x.transpose(dims)

    def backward(ctx, grad):
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return grad.permute(tuple(inverse))

    def grad_arrays(ctx, grad):
        return grad.transpose(tuple(np.argsort(ctx.dims)))


_SMALL = 1 << 16


class Expand(Function):
    saved_inputs = ()

    def forward(ctx, x, *, shape):
        ctx.in_shape = x.shape
        xp = array_module(x)
        if x.size == 1 and math.prod(shape) <= _SMALL:
            # A filled array costs less than broadcast_to's Python set-up at this size (the
            # gradient of a full reduction); large expansions stay zero-copy views.
            return xp.full(shape, x.reshape(()), dtype=x.dtype)
        return xp.broadcast_to(x, shape)

    def backward(ctx, grad):
        from shendu.ops.reduce import sum_to
        return sum_to(grad, ctx.in_shape)


class Contiguous(Function):
    saved_inputs = ()

    def forward(ctx, x):
        return array_module(x).ascontiguousarray(x)

    def backward(ctx, grad):
        return grad


class Cat(Function):
    saved_inputs = ()

    def forward(ctx, *xs, axis):
        dtype = xs[0].dtype
        if any(x.dtype != dtype for x in xs):  # PyTorch: floats win over ints, wider floats win
            kinds = [x.dtype for x in xs]
            floats = [d for d in kinds if d.kind == "f"]
            dtype = np.result_type(*(floats or kinds))
        ctx.axis, ctx.sizes = axis, [x.shape[axis] for x in xs]
        return array_module(xs[0]).concatenate([x.astype(dtype, copy=False) for x in xs], axis=axis)

    def backward(ctx, grad):
        return tuple(split(grad, ctx.sizes, ctx.axis))


class Split(Function):
    saved_inputs = ()

    def forward(ctx, x, *, bounds, axis):
        ctx.axis = axis
        index = [slice(None)] * x.ndim
        outs = []
        for lo, hi in bounds:
            index[axis] = slice(lo, hi)
            outs.append(x[tuple(index)])
        return tuple(outs)

    def backward(ctx, *grads):
        return cat(list(grads), ctx.axis)


class Pad(Function):
    """Constant padding; the other modes are gathers along each dim (see ``pad``)."""

    saved_inputs = ()

    def forward(ctx, x, *, widths, value):
        ctx.widths = widths
        return array_module(x).pad(x, widths, mode="constant", constant_values=value)

    def backward(ctx, grad):
        index = tuple(slice(lo, grad.shape[i] - hi) for i, (lo, hi) in enumerate(ctx.widths))
        return grad[index]


class Flip(Function):
    saved_inputs = ()

    def forward(ctx, x, *, axes):
        ctx.axes = axes
        return array_module(x).flip(x, axis=axes)

    def backward(ctx, grad):
        return grad.flip(ctx.axes)


class Roll(Function):
    saved_inputs = ()

    def forward(ctx, x, *, shifts, axes):
        ctx.shifts, ctx.axes = shifts, axes
        return array_module(x).roll(x, shifts, axes)

    def backward(ctx, grad):
        return Roll.apply(grad, shifts=tuple(-s for s in ctx.shifts), axes=ctx.axes)


class Tile(Function):
    saved_inputs = ()

    def forward(ctx, x, *, reps):
        ctx.reps, ctx.in_shape = reps, x.shape
        return array_module(x).tile(x, reps)

    def backward(ctx, grad):
        reps, in_shape = ctx.reps, ctx.in_shape
        shape = (1,) * (len(reps) - len(in_shape)) + in_shape
        # (r0, s0, r1, s1, ...) then sum the repeat axes
        split_shape = tuple(v for r, s in zip(reps, shape) for v in (r, s))
        g = grad.reshape(split_shape).sum(tuple(range(0, 2 * len(reps), 2)))
        return g.reshape(in_shape)


class Triangle(Function):
    saved_inputs = ()

    def forward(ctx, x, *, diagonal, upper):
        ctx.diagonal, ctx.upper = diagonal, upper
        xp = array_module(x)
        return (xp.triu if upper else xp.tril)(x, diagonal)

    def backward(ctx, grad):
        return (triu if ctx.upper else tril)(grad, ctx.diagonal)


# -- the functions ------------------------------------------------------------------------------
def reshape(input: Tensor, *shape) -> Tensor:
    """``input``'s elements in a new ``shape`` (one size may be -1); a view when the memory allows, else a copy.

    Shape: ``shape``, with the same number of elements as ``input``.
    """
    shape = _shape_arg(shape)
    if shape == input.shape:
        return input
    return Reshape.apply(input, shape=shape)


def view(input: Tensor, *shape) -> Tensor:
    """``input``'s elements in a new ``shape`` (one size may be -1), sharing its memory.

    Shape: ``shape``, with the same number of elements as ``input``.
    """
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)):
        return input.to(shape[0])  # view(dtype)
    return reshape(input, *shape)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Dims ``start_dim`` .. ``end_dim`` merged into one."""
    s = wrap_dim(start_dim, input.ndim, "flatten")
    e = wrap_dim(end_dim, input.ndim, "flatten")
    if input.ndim == 0:
        return reshape(input, 1)
    if s > e:
        raise RuntimeError(f"flatten: start_dim ({start_dim}) cannot come after end_dim ({end_dim})")
    shape = input.shape[:s] + (math.prod(input.shape[s:e + 1]),) + input.shape[e + 1:]
    return reshape(input, shape)


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    """Dim ``dim`` split into ``sizes`` (one entry may be -1)."""
    d = wrap_dim(dim, input.ndim, "unflatten")
    sizes = tuple(int(v) for v in sizes)
    n = input.shape[d]
    if sizes.count(-1) > 1 or (-1 not in sizes and math.prod(sizes) != n) or (
            -1 in sizes and n % max(1, -math.prod(sizes))):
        raise RuntimeError(f"unflatten: sizes {sizes} do not multiply to the size {n} of dim {dim} "
                           f"(tensor of shape {input.shape})")
    return reshape(input, input.shape[:d] + sizes + input.shape[d + 1:])


def permute(input: Tensor, *dims) -> Tensor:
    """``input`` with its dims reordered: output dim i is input dim ``dims[i]`` (a view).

    Shape: ``tuple(input.shape[d] for d in dims)``.
    """
    dims = _shape_arg(dims)
    axes = tuple(wrap_dim(d, input.ndim, "permute") for d in dims)
    if sorted(axes) != list(range(input.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of the {input.ndim} dims "
                           f"of a tensor of shape {input.shape}")
    return Permute.apply(input, dims=axes) if input.ndim else input


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """``input`` with dims ``dim0`` and ``dim1`` swapped (a view). Aliases: ``swapaxes``, ``swapdims``.

    Shape: ``input``'s shape with sizes ``dim0`` and ``dim1`` exchanged.
    """
    a, b = wrap_dim(dim0, input.ndim, "transpose"), wrap_dim(dim1, input.ndim, "transpose")
    if input.ndim < 2 or a == b:
        return input
    dims = list(range(input.ndim))
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(input, dims=tuple(dims))


swapaxes = swapdims = transpose


def t(input: Tensor) -> Tensor:
    """Transpose of a tensor with at most 2 dims: (M, N) -> (N, M); 0-d and 1-D tensors are returned as they are."""
    if input.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dims, got shape {input.shape}")
    return transpose(input, 0, -1) if input.ndim == 2 else input


def movedim(input: Tensor, source, destination) -> Tensor:
    """Dims ``source`` moved to positions ``destination`` (ints or equal-length sequences)."""
    src = [source] if not isinstance(source, (tuple, list)) else list(source)
    dst = [destination] if not isinstance(destination, (tuple, list)) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: source {tuple(src)} and destination {tuple(dst)} need the same "
                           "number of dims")
    n = input.ndim
    src = [wrap_dim(s, n, "movedim") for s in src]
    dst = [wrap_dim(d, n, "movedim") for d in dst]
    for name, dims in (("source", src), ("destination", dst)):
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"movedim: repeated dim in {name} {tuple(dims)}")
    if n == 0:
        return input
    order = [i for i in range(n) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(input, *order)


moveaxis = movedim


def expand(input: Tensor, *shape) -> Tensor:
    """``input`` broadcast to ``shape`` without copying (-1 keeps a size; new dims go in front).

    Shape: ``shape``; sizes of 1 may grow, others must match.
    """
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
    return Expand.apply(input, shape=full)


def broadcast_to(input: Tensor, shape) -> Tensor:
    """``input`` broadcast to ``shape`` (a view; -1 keeps a size). Shape: ``shape``."""
    return expand(input, tuple(shape))


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    """``input.expand(other.shape)``. Shape: ``other.shape``."""
    return expand(input, other.shape)


def broadcast_tensors(*tensors: Tensor) -> list:
    """The tensors broadcast against each other (NumPy's rules), as a list of views.

    Shape: every output has the common broadcast shape.
    """
    shape = np.broadcast_shapes(*[t.shape for t in tensors])
    return [expand(t, shape) for t in tensors]


def squeeze(input: Tensor, dim=None) -> Tensor:
    """``input`` without its size-1 dims (only those in ``dim``: an int or a tuple, when given)."""
    if dim is None:
        shape = tuple(s for s in input.shape if s != 1)
    else:
        dims = wrap_dims(dim, input.ndim, "squeeze") or ()
        shape = tuple(s for i, s in enumerate(input.shape) if not (i in dims and s == 1))
    return reshape(input, shape)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """``input`` with a new dim of size 1 at ``dim`` (a view; ``dim`` may be -1 for the end)."""
    d = wrap_dim(dim, input.ndim + 1, "unsqueeze")
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


def contiguous(input: Tensor) -> Tensor:
    return Contiguous.apply(input)


def cat(tensors, dim: int = 0) -> Tensor:
    """Join ``tensors`` along an existing ``dim``. Aliases: ``concat``, ``concatenate``.

    Shape: the inputs agree on every dim but ``dim``; the output's ``dim`` is the sum of theirs.
    """
    tensors = list(tensors)
    if _amp.active:
        tensors = list(_amp.cast("cat", *tensors))
    if not tensors:
        raise RuntimeError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    n = ref.ndim
    if n == 0:
        raise RuntimeError("cat: zero-dimensional tensor cannot be concatenated")
    axis = wrap_dim(dim, n, "cat")
    for i, t in enumerate(tensors):
        if t.ndim != n or any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape)) if j != axis):
            raise RuntimeError(f"cat: tensor {i} has shape {t.shape}, which does not match tensor 0's "
                               f"shape {ref.shape} outside dim {axis}")
    if len(tensors) == 1:
        return tensors[0]
    return Cat.apply(*tensors, axis=axis)


concatenate = concat = cat


def stack(tensors, dim: int = 0) -> Tensor:
    """Join ``tensors`` (all of one shape) along a new ``dim``.

    Shape: ``tensors[0].shape`` with ``len(tensors)`` inserted at ``dim``.
    """
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack: expects tensors of equal shape, but tensor 0 has shape "
                               f"{tensors[0].shape} and tensor {i} has shape {t.shape}")
    d = wrap_dim(dim, tensors[0].ndim + 1, "stack")
    return cat([unsqueeze(t, d) for t in tensors], d)


def hstack(tensors) -> Tensor:
    """Stack ``tensors`` horizontally: ``cat`` along dim 1 (dim 0 for 1-D tensors)."""
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    """Stack ``tensors`` vertically: ``cat`` along dim 0, after turning 1-D tensors of size N into (1, N)."""
    return cat([t if t.ndim > 1 else t.reshape(1, -1) for t in tensors], 0)


def split(input: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Split ``input`` along ``dim`` into pieces of ``split_size_or_sections`` (an int: equal pieces, the last
    smaller; a list: those sizes); a tuple of views.
    """
    axis = wrap_dim(dim, input.ndim, "split")
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
    bounds, start = [], 0
    for s in sizes:
        bounds.append((start, start + s))
        start += s
    return Split.apply(input, bounds=tuple(bounds), axis=axis)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Split ``input`` into ``chunks`` pieces of equal size along ``dim`` (the last may be smaller); a tuple
    of views.

    Shape: each piece is ``ceil(size / chunks)`` long along ``dim`` (fewer pieces if the size runs out).
    """
    if chunks <= 0:
        raise RuntimeError(f"chunk: expected a positive number of chunks, got {chunks}")
    n = input.shape[wrap_dim(dim, input.ndim, "chunk")]
    return split(input, max(1, -(-n // chunks)), dim)


def unbind(input: Tensor, dim: int = 0) -> tuple:
    """The slices of ``input`` along ``dim``, as a tuple of ``input.shape[dim]`` views without that dim."""
    dim = wrap_dim(dim, input.ndim, "unbind")
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
        return Pad.apply(input, widths=tuple(widths), value=value)
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
    """``input`` reversed along each of ``dims``. Shape: the same as ``input``."""
    return Flip.apply(input, axes=wrap_dims(dims, input.ndim, "flip") or ())


def tile(input: Tensor, dims) -> Tensor:
    """Repeat ``input`` ``dims[i]`` times along dim i (``dims`` shorter than ``input.ndim`` is padded with 1s
    in front).

    Shape: each size multiplied by its repeat count.
    """
    reps = tuple(dims)
    if len(reps) < input.ndim:
        reps = (1,) * (input.ndim - len(reps)) + reps
    return Tile.apply(input, reps=reps)


def repeat(input: Tensor, *sizes) -> Tensor:
    """PyTorch's ``Tensor.repeat``: tile the tensor ``sizes`` times along each dim."""
    sizes = _shape_arg(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError(f"repeat: got {len(sizes)} repeat counts for a tensor with {input.ndim} dims")
    return Tile.apply(input, reps=sizes)


def repeat_interleave(input: Tensor, repeats: int, dim: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times along ``dim`` (of the flattened input when None).

    Shape: ``input``'s shape with ``dim`` multiplied by ``repeats`` (1-D of ``numel * repeats`` when None).
    """
    if dim is None:
        input, dim = input.reshape(-1), 0
    d = wrap_dim(dim, input.ndim, "repeat_interleave")
    x = unsqueeze(input, d + 1)
    shape = list(x.shape)
    shape[d + 1] = repeats
    x = expand(x, tuple(shape))
    return flatten(x, d, d + 1)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims: elements below diagonal ``diagonal`` become 0.

    Shape: the same as ``input`` (..., M, N).
    """
    return Triangle.apply(input, diagonal=diagonal, upper=True)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims: elements above diagonal ``diagonal`` become 0.

    Shape: the same as ``input`` (..., M, N).
    """
    return Triangle.apply(input, diagonal=diagonal, upper=False)


def _T(self: Tensor) -> Tensor:
    """The tensor with all dims reversed (``permute(n-1, ..., 0)``); for a matrix, its transpose."""
    return permute(self, *reversed(range(self.ndim))) if self.ndim >= 2 else self


def _mT(self: Tensor) -> Tensor:
    """The transpose of the last two dims: (..., M, N) -> (..., N, M)."""
    return transpose(self, -2, -1)
