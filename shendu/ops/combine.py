"""Tensors built from parts: diagonals (diagonal, diag, diag_embed, trace), index grids
(tril/triu_indices, meshgrid, cartesian_prod, combinations), block_diag, and products over dims
(kron, tensordot, cross).

Each is a composition of differentiable primitives (indexing, reshape, expand, pad, matmul), so
its gradient is theirs; only the integer index grids are built directly.
"""
from __future__ import annotations

import itertools
import math

from shendu.ops.dims import wrap_dim
from shendu.tensor import Tensor


def _diag_index(xp, n1: int, n2: int, offset: int):
    """Row and column indices of diagonal ``offset`` of an (n1, n2) matrix."""
    length = max(0, min(n1 + min(offset, 0), n2 - max(offset, 0)))
    i = xp.arange(length) + max(-offset, 0)
    return i, i + offset


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """Diagonal ``offset`` of the (dim1, dim2) planes, as a new last dim (as PyTorch and NumPy).

    Shape: ``input`` without dims ``dim1`` and ``dim2``, plus the diagonal's length last.
    """
    a, b = wrap_dim(dim1, input.ndim, "diagonal"), wrap_dim(dim2, input.ndim, "diagonal")
    if a == b:
        raise RuntimeError(f"diagonal: dim1 and dim2 cannot be the same dim ({dim1}, {dim2})")
    moved = input.movedim((a, b), (-2, -1))  # (..., n1, n2)
    i, j = _diag_index(input._xp(), moved.shape[-2], moved.shape[-1], offset)
    return moved[(Ellipsis, Tensor._wrap(i), Tensor._wrap(j))]


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices (in dims ``dim1``, ``dim2`` of the output) with ``input``'s last dim on diagonal
    ``offset`` and zeros elsewhere. Shape: (..., L) -> (..., L + |offset|, L + |offset|)."""
    from shendu.ops.index import Placed
    a, b = wrap_dim(dim1, input.ndim + 1, "diag_embed"), wrap_dim(dim2, input.ndim + 1, "diag_embed")
    if a == b:
        raise RuntimeError(f"diag_embed: dim1 and dim2 cannot be the same dim ({dim1}, {dim2})")
    length = input.shape[-1] if input.ndim else 1
    n = length + abs(offset)
    i, j = _diag_index(input._xp(), n, n, offset)
    out = Placed.apply(input.reshape(input.shape or (1,)), shape=input.shape[:-1] + (n, n),
                       index=(Ellipsis, i, j))
    return out.movedim((-2, -1), (a, b))


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-D tensor as the ``diagonal``-th diagonal of a square matrix, or a matrix's diagonal."""
    if input.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if input.ndim == 2:
        return globals()["diagonal"](input, diagonal, 0, 1)
    raise RuntimeError(f"diag: expected a 1-D or 2-D tensor, got shape {input.shape}")


def trace(input: Tensor) -> Tensor:
    """The sum of a matrix's main diagonal."""
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a 2-D tensor, got shape {input.shape}")
    return diagonal(input).sum()


def _tri_indices(row: int, col: int, offset: int, upper: bool, dtype, device) -> Tensor:
    import numpy as np

    from shendu import creation
    fn = np.triu_indices if upper else np.tril_indices
    rows, cols = fn(row, offset, col)
    return creation.tensor(np.stack([rows, cols]), dtype=dtype or "int64", device=device)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None) -> Tensor:
    """The (2, N) row/column indices of the lower triangle (on and below diagonal ``offset``), row by row."""
    return _tri_indices(row, col, offset, False, dtype, device)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None) -> Tensor:
    """The (2, N) row/column indices of the upper triangle (on and above diagonal ``offset``), row by row."""
    return _tri_indices(row, col, offset, True, dtype, device)


def _tensors(tensors) -> list:
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        return list(tensors[0])
    return list(tensors)


def meshgrid(*tensors, indexing: str = "ij") -> tuple:
    """Coordinate grids from 1-D (or 0-D) tensors: ``indexing='ij'`` puts tensor k along dim k,
    ``'xy'`` swaps the first two (Cartesian, as NumPy's default)."""
    ts = _tensors(tensors)
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for k, t in enumerate(ts):
        if t.ndim > 1:
            raise RuntimeError(f"meshgrid: expects 0-D or 1-D tensors, tensor {k} has shape {t.shape}")
    ts = [t.reshape(-1) for t in ts]
    order = list(range(len(ts)))
    if indexing == "xy" and len(ts) >= 2:
        order[0], order[1] = 1, 0
    shape = tuple(ts[k].shape[0] for k in order)
    out = []
    for k, t in enumerate(ts):
        view = [1] * len(ts)
        view[order.index(k)] = t.shape[0]
        out.append(t.reshape(view).expand(shape))
    return tuple(out)


def cartesian_prod(*tensors) -> Tensor:
    """Every combination of one entry from each 1-D tensor, as rows (the product's order)."""
    ts = _tensors(tensors)
    if len(ts) == 1:
        return ts[0]
    from shendu.ops.shape import stack
    return stack([g.reshape(-1) for g in meshgrid(*ts, indexing="ij")], 1)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-``r`` combinations of a 1-D tensor's entries, as rows (itertools' order)."""
    if input.ndim != 1:
        raise RuntimeError(f"combinations: expects a 1-D tensor, got shape {input.shape}")
    xp = input._xp()
    n = input.shape[0]
    make = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = xp.asarray(list(make(range(n), r)), dtype=xp.int64).reshape(-1, r)
    if r == 0 or idx.shape[0] == 0:
        return Tensor._wrap(xp.zeros((0,) if r == 0 else (0, r), dtype=input.dtype))
    return input[Tensor._wrap(idx)]


def block_diag(*tensors) -> Tensor:
    """The tensors (0-D, 1-D as a row, or 2-D) along the diagonal of one matrix, zeros elsewhere."""
    from shendu.ops.shape import cat, pad
    ts = [t.reshape(1, -1) if t.ndim < 2 else t for t in _tensors(tensors)]
    for k, t in enumerate(ts):
        if t.ndim != 2:
            raise RuntimeError(f"block_diag: expects tensors with at most 2 dims, tensor {k} has shape {t.shape}")
    if not ts:
        from shendu import creation
        return creation.zeros(1, 0)
    width = sum(t.shape[1] for t in ts)
    rows, left = [], 0
    for t in ts:
        rows.append(pad(t, (left, width - left - t.shape[1])))
        left += t.shape[1]
    return cat(rows, 0)


def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: every entry of ``input`` times the whole of ``other``.

    Shape: (a0, a1, ...) and (b0, b1, ...) -> (a0 b0, a1 b1, ...), the shorter padded with 1s in front.
    """
    n = max(input.ndim, other.ndim)
    a = input.reshape((1,) * (n - input.ndim) + input.shape)
    b = other.reshape((1,) * (n - other.ndim) + other.shape)
    a = a.reshape(tuple(v for s in a.shape for v in (s, 1)))  # (a0, 1, a1, 1, ...)
    b = b.reshape(tuple(v for s in b.shape for v in (1, s)))  # (1, b0, 1, b1, ...)
    prod = a * b
    return prod.reshape(tuple(prod.shape[2 * i] * prod.shape[2 * i + 1] for i in range(n)))


def tensordot(a: Tensor, b: Tensor, dims=2) -> Tensor:
    """Sum of products over ``dims``: the last ``dims`` dims of ``a`` with the first of ``b``, or the
    paired lists ``dims = (dims_a, dims_b)``. Shape: a's free dims then b's."""
    from shendu.ops.linalg import matmul
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot: expects a non-negative number of dims, got {dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = dims
        da = [da] if isinstance(da, int) else list(da)
        db = [db] if isinstance(db, int) else list(db)
    if len(da) != len(db):
        raise RuntimeError(f"tensordot: both sides need the same number of dims, got {da} and {db}")
    da = [wrap_dim(d, a.ndim, "tensordot") for d in da]
    db = [wrap_dim(d, b.ndim, "tensordot") for d in db]
    for x, y in zip(da, db):
        if a.shape[x] != b.shape[y]:
            raise RuntimeError(f"tensordot: contracted dims differ in size: dim {x} of {a.shape} and "
                               f"dim {y} of {b.shape}")
    free_a = [d for d in range(a.ndim) if d not in da]
    free_b = [d for d in range(b.ndim) if d not in db]
    k = math.prod(a.shape[d] for d in da)
    left = a.permute(*(free_a + da)).reshape(-1, k)
    right = b.permute(*(db + free_b)).reshape(k, -1)
    return matmul(left, right).reshape(tuple(a.shape[d] for d in free_a) + tuple(b.shape[d] for d in free_b))


def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
    """The 3-vector cross product along ``dim`` (default: the first dim of size 3, as torch.cross)."""
    from shendu.ops.shape import broadcast_tensors, stack
    if input.shape != other.shape:
        input, other = broadcast_tensors(input, other)
    if dim is None:
        sizes = [d for d, s in enumerate(input.shape) if s == 3]
        if not sizes:
            raise RuntimeError(f"cross: no dim of size 3 in the inputs of shape {input.shape}")
        dim = sizes[0]
    d = wrap_dim(dim, input.ndim, "cross")
    if input.shape[d] != 3:
        raise RuntimeError(f"cross: dim {dim} must have size 3, got inputs of shape {input.shape}")
    a0, a1, a2 = input.unbind(d)
    b0, b1, b2 = other.unbind(d)
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


def linalg_cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """``torch.linalg.cross``: as ``cross`` with ``dim=-1`` by default."""
    return cross(input, other, dim)
