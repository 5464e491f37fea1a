"""More rearrangements, built on the shape ops (their gradients come from the ops they use):
roll, narrow, rot90, atleast_*d, column/dstack, tensor_split and h/v/dsplit, unfold, view_as/type_as,
stride, and the ``new_*`` factories (dtype and device default to the tensor's own).
"""
from __future__ import annotations

from shendu.ops.dims import wrap_dim
from shendu.ops.shape import Roll, Split, _shape_arg, cat, flip, movedim, reshape
from shendu.tensor import Tensor


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
    """Each tensor viewed with at least 1 dim (a 0-d tensor becomes shape (1,)); one tensor or a tuple."""
    return _atleast(tensors, lambda t: t.reshape(1) if t.ndim == 0 else t)


def atleast_2d(*tensors):
    """Each tensor viewed with at least 2 dims: () -> (1, 1), (N,) -> (1, N); one tensor or a tuple."""
    return _atleast(tensors, lambda t: t.reshape(1, -1) if t.ndim < 2 else t)


def atleast_3d(*tensors):
    """Each tensor viewed with at least 3 dims: () -> (1, 1, 1), (N,) -> (1, N, 1), (M, N) -> (M, N, 1)."""
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
    """Stack ``tensors`` depth-wise: each made at least 3-D (``atleast_3d``), then joined along dim 2."""
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
    """Split along dim 1 (dim 0 for 1-D tensors) into ``sections`` equal parts (an int) or at the given indices."""
    return _dir_split(input, sections, 1 if input.ndim > 1 else 0, 1, "hsplit")


def vsplit(input: Tensor, sections) -> tuple:
    """Split along dim 0 into ``sections`` equal parts (an int) or at the given indices (``input.ndim >= 2``)."""
    return _dir_split(input, sections, 0, 2, "vsplit")


def dsplit(input: Tensor, sections) -> tuple:
    """Split along dim 2 into ``sections`` equal parts (an int) or at the given indices (``input.ndim >= 3``)."""
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
    """``input`` cast to ``other``'s dtype (``input`` itself when they match)."""
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
    """A tensor of zeros of shape ``size``, with ``self``'s dtype and device unless given."""
    return _new(0, self, size, dtype, device, requires_grad)


def new_ones(self: Tensor, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones of shape ``size``, with ``self``'s dtype and device unless given."""
    return _new(1, self, size, dtype, device, requires_grad)


def new_empty(self: Tensor, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor of shape ``size``, with ``self``'s dtype and device unless given."""
    return _new(0, self, size, dtype, device, requires_grad)


def new_full(self: Tensor, size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value``, with ``self``'s dtype and device unless given."""
    return _new(fill_value, self, (tuple(size),), dtype, device, requires_grad)


def new_tensor(self: Tensor, data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor (a copy, no history) holding ``data``, with ``self``'s dtype and device unless given."""
    from shendu import creation
    if isinstance(data, Tensor):
        data = data.detach()._data
    out = creation.tensor(data, dtype=self.dtype if dtype is None else dtype,
                          device=self.device if device is None else device)
    return out.requires_grad_() if requires_grad else out
