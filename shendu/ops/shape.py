"""Shape ops: reshape, transpose/permute, expand, squeeze, cat/stack/split, pad, repeat, flip, tri.

Each returns a view where NumPy does (reshape, transpose, broadcast_to) and its gradient is the
inverse rearrangement of the incoming gradient.
"""
from __future__ import annotations

import math

import numpy as np

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
    shape = _shape_arg(shape)
    if shape == input.shape:
        return input
    return Reshape.apply(input, shape=shape)


def view(input: Tensor, *shape) -> Tensor:
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
    dims = _shape_arg(dims)
    axes = tuple(wrap_dim(d, input.ndim, "permute") for d in dims)
    if sorted(axes) != list(range(input.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of the {input.ndim} dims "
                           f"of a tensor of shape {input.shape}")
    return Permute.apply(input, dims=axes) if input.ndim else input


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    a, b = wrap_dim(dim0, input.ndim, "transpose"), wrap_dim(dim1, input.ndim, "transpose")
    if input.ndim < 2 or a == b:
        return input
    dims = list(range(input.ndim))
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(input, dims=tuple(dims))


swapaxes = swapdims = transpose


def t(input: Tensor) -> Tensor:
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
    return expand(input, tuple(shape))


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    return expand(input, other.shape)


def broadcast_tensors(*tensors: Tensor) -> list:
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
    d = wrap_dim(dim, input.ndim + 1, "unsqueeze")
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


def contiguous(input: Tensor) -> Tensor:
    return Contiguous.apply(input)


def cat(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
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
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    return cat([t if t.ndim > 1 else t.reshape(1, -1) for t in tensors], 0)


def split(input: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
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
    if chunks <= 0:
        raise RuntimeError(f"chunk: expected a positive number of chunks, got {chunks}")
    n = input.shape[wrap_dim(dim, input.ndim, "chunk")]
    return split(input, max(1, -(-n // chunks)), dim)


def unbind(input: Tensor, dim: int = 0) -> tuple:
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
    return Flip.apply(input, axes=wrap_dims(dims, input.ndim, "flip") or ())


def tile(input: Tensor, dims) -> Tensor:
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
    if dim is None:
        input, dim = input.reshape(-1), 0
    d = wrap_dim(dim, input.ndim, "repeat_interleave")
    x = unsqueeze(input, d + 1)
    shape = list(x.shape)
    shape[d + 1] = repeats
    x = expand(x, tuple(shape))
    return flatten(x, d, d + 1)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    return Triangle.apply(input, diagonal=diagonal, upper=True)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    return Triangle.apply(input, diagonal=diagonal, upper=False)


def _T(self: Tensor) -> Tensor:
    return permute(self, *reversed(range(self.ndim))) if self.ndim >= 2 else self


def _mT(self: Tensor) -> Tensor:
    return transpose(self, -2, -1)


# -- more rearrangements (views or gathers; gradients come from the ops they are built on) -----------
def roll(input: Tensor, shifts, dims=None) -> Tensor:
    """Entries shifted cyclically by ``shifts`` along ``dims`` (the flattened tensor when None)."""
    if dims is None:
        if isinstance(shifts, (tuple, list)) and len(shifts) != 1:
            raise RuntimeError(f"roll: without dims, shifts must be one int, got {tuple(shifts)}")
        shift = shifts[0] if isinstance(shifts, (tuple, list)) else shifts
        return Roll.apply(input.reshape(-1), shifts=(int(shift),), axes=(0,)).reshape(input.shape)
    shifts = (shifts,) if not isinstance(shifts, (tuple, list)) else tuple(shifts)
    dims = (dims,) if not isinstance(dims, (tuple, list)) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    axes = tuple(wrap_dim(d, input.ndim, "roll") for d in dims)
    if input.ndim == 0:
        return input * 1
    return Roll.apply(input, shifts=tuple(int(s) for s in shifts), axes=axes)


def narrow(input: Tensor, dim: int, start, length: int) -> Tensor:
    """The ``length`` entries of dim ``dim`` from ``start`` on (a view)."""
    d = wrap_dim(dim, input.ndim, "narrow")
    n = input.shape[d]
    start = int(start)
    if start < 0:
        start += n
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise IndexError(f"narrow: start {start} and length {length} are out of range for dim {dim} of "
                         f"size {n} (tensor of shape {input.shape})")
    return input[(slice(None),) * d + (slice(start, start + length),)]


def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """``input`` rotated by 90° ``k`` times in the plane of ``dims`` (from the first towards the second)."""
    dims = tuple(dims)
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected exactly two dims, got {dims}")
    a, b = wrap_dim(dims[0], input.ndim, "rot90"), wrap_dim(dims[1], input.ndim, "rot90")
    if input.ndim < 2 or a == b:
        raise RuntimeError(f"rot90: expected two distinct dims of a tensor with >= 2 dims, got {dims} "
                           f"for shape {input.shape}")
    k %= 4
    if k == 1:
        return flip(input, b).transpose(a, b)
    if k == 2:
        return flip(input, (a, b))
    if k == 3:
        return flip(input, a).transpose(a, b)
    return input * 1


def _atleast(tensors, fn):
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        return tuple(fn(t) for t in tensors[0])
    if len(tensors) == 1:
        return fn(tensors[0])
    return tuple(fn(t) for t in tensors)


def atleast_1d(*tensors):
    return _atleast(tensors, lambda t: t.reshape(1) if t.ndim == 0 else t)


def atleast_2d(*tensors):
    return _atleast(tensors, lambda t: t.reshape(1, -1) if t.ndim < 2 else t)


def atleast_3d(*tensors):
    def fn(t):
        if t.ndim == 0:
            return t.reshape(1, 1, 1)
        if t.ndim == 1:
            return t.reshape(1, -1, 1)
        return t.unsqueeze(-1) if t.ndim == 2 else t
    return _atleast(tensors, fn)


def column_stack(tensors) -> Tensor:
    """1-D (and 0-D) tensors as columns, side by side with 2-D ones."""
    return cat([t.reshape(-1, 1) if t.ndim < 2 else t for t in tensors], 1)


def dstack(tensors) -> Tensor:
    return cat(list(atleast_3d(list(tensors))), 2)


def tensor_split(input: Tensor, indices_or_sections, dim: int = 0) -> tuple:
    """``input`` cut into ``n`` nearly equal parts (an int) or at the given indices along ``dim``."""
    axis = wrap_dim(dim, input.ndim, "tensor_split")
    n = input.shape[axis]
    if isinstance(indices_or_sections, Tensor):
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        if k <= 0:
            raise RuntimeError(f"tensor_split: expected a positive number of sections, got {k}")
        sizes = [n // k + 1] * (n % k) + [n // k] * (k - n % k)
        cuts, start = [], 0
        for s in sizes[:-1]:
            start += s
            cuts.append(start)
    else:
        cuts = [int(i) for i in indices_or_sections]
    edges = [0] + [min(max(c + n if c < 0 else c, 0), n) for c in cuts] + [n]
    bounds = tuple(zip(edges, edges[1:]))
    if any(lo > hi for lo, hi in bounds):  # decreasing indices: pieces overlap (some are empty)
        return tuple(input[(slice(None),) * axis + (slice(lo, hi),)] for lo, hi in bounds)
    return Split.apply(input, bounds=bounds, axis=axis)


def _dir_split(input: Tensor, sections, dim: int, need: int, name: str) -> tuple:
    if input.ndim < need:
        raise RuntimeError(f"{name}: expects a tensor with at least {need} dims, got shape {input.shape}")
    if isinstance(sections, int) and input.shape[dim] % sections:
        raise RuntimeError(f"{name}: dim {dim} of size {input.shape[dim]} is not divisible by {sections}")
    return tensor_split(input, sections, dim)


def hsplit(input: Tensor, sections) -> tuple:
    return _dir_split(input, sections, 1 if input.ndim > 1 else 0, 1, "hsplit")


def vsplit(input: Tensor, sections) -> tuple:
    return _dir_split(input, sections, 0, 2, "vsplit")


def dsplit(input: Tensor, sections) -> tuple:
    return _dir_split(input, sections, 2, 3, "dsplit")


def unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """``Tensor.unfold``: every window of ``size`` entries along ``dimension``, ``step`` apart, as a
    new last dim. Shape: dim ``dimension`` becomes ``(n - size) // step + 1``."""
    d = wrap_dim(dimension, input.ndim, "unfold")
    n = input.shape[d] if input.ndim else 1
    if size < 0 or size > n or step <= 0:
        raise RuntimeError(f"unfold: size {size} and step {step} are invalid for dim {dimension} of size "
                           f"{n} (expected 0 <= size <= {n} and step > 0)")
    if input.ndim == 0:
        return input.reshape(1)
    from shendu.ops.index import index_select
    xp = input._xp()
    count = (n - size) // step + 1
    idx = (xp.arange(count)[:, None] * step + xp.arange(size)).reshape(-1)
    windows = index_select(input, d, Tensor._wrap(idx))
    windows = windows.reshape(input.shape[:d] + (count, size) + input.shape[d + 1:])
    return movedim(windows, d + 1, -1)


def view_as(input: Tensor, other: Tensor) -> Tensor:
    return reshape(input, other.shape)


reshape_as = view_as


def type_as(input: Tensor, other: Tensor) -> Tensor:
    return input.to(other.dtype)


def stride(input: Tensor, dim: int | None = None):
    """Steps between neighbours along each dim, in elements (as PyTorch counts them)."""
    data = input._data
    steps = tuple(s // data.itemsize for s in data.strides) if data.itemsize else (0,) * data.ndim
    if dim is None:
        return steps
    return steps[wrap_dim(dim, input.ndim, "stride")]


# -- new_* factories: dtype and device default to self's ------------------------------------------
def _new(fill, self: Tensor, size, dtype, device, requires_grad):
    from shendu import creation
    shape = _shape_arg(size)
    out = creation.full(shape, fill, dtype=self.dtype if dtype is None else dtype,
                        device=self.device if device is None else device)
    return out.requires_grad_() if requires_grad else out


def new_zeros(self: Tensor, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _new(0, self, size, dtype, device, requires_grad)


def new_ones(self: Tensor, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _new(1, self, size, dtype, device, requires_grad)


def new_empty(self: Tensor, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _new(0, self, size, dtype, device, requires_grad)


def new_full(self: Tensor, size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _new(fill_value, self, (tuple(size),), dtype, device, requires_grad)


def new_tensor(self: Tensor, data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    from shendu import creation
    if isinstance(data, Tensor):
        data = data.detach()._data
    out = creation.tensor(data, dtype=self.dtype if dtype is None else dtype,
                          device=self.device if device is None else device)
    return out.requires_grad_() if requires_grad else out
