"""``shendu.sparse``: sparse COO tensors as graph and recommender models use them.

``sparse_coo_tensor(indices, values, size)`` and ``dense.to_sparse()`` build one; ``to_dense``,
``coalesce``, ``indices``/``values``, ``t`` and ``sum`` work on it; ``shendu.sparse.mm(s, dense)``
(also ``shendu.mm``, ``shendu.matmul`` and ``s @ dense``, ``dense @ s``) multiplies with SciPy's CSR
kernels, with gradients to the dense operand and to the sparse operand's values (on its pattern).
"""
from __future__ import annotations

import numpy as np

from shendu import backend, dtypes
from shendu.autograd.function import Function
from shendu.sparse._coo import SparseTensor, layout, sparse_coo, strided
from shendu.tensor import Tensor


# -- building -------------------------------------------------------------------------------------
def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None, requires_grad: bool = False,
                      check_invariants: bool | None = None, is_coalesced: bool | None = None) -> SparseTensor:
    """A sparse tensor with ``values[k]`` at ``indices[:, k]``.

    Args:
        indices: (sparse_dim, nnz) integer indices (a tensor, array or nested list).
        values: (nnz, *dense dims) values; a Tensor that requires grad links the result into the graph.
        size: the shape (default: one past the largest index per sparse dim, then values' dense dims).
        dtype, device: of the values; requires_grad: make the result a leaf that requires grad.
        is_coalesced: declare the indices sorted and free of duplicates (not checked).
    """
    idx = backend.to_numpy(indices._data if isinstance(indices, Tensor) else np.asarray(indices))
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"sparse_coo_tensor: indices must be an int64 tensor, got dtype {idx.dtype}")
    if idx.ndim != 2:
        raise RuntimeError(f"sparse_coo_tensor: indices must be 2-D (sparse_dim, nnz), got shape {tuple(idx.shape)}")
    idx = idx.astype(np.int64)
    if not isinstance(values, Tensor):
        from shendu.creation import tensor
        values = tensor(values, dtype=dtype)
    elif dtype is not None and dtypes.as_dtype(dtype) != values.dtype:
        values = values.to(dtype)
    if device is not None:
        values = values.to(device)
    if values.ndim == 0:
        raise RuntimeError("sparse_coo_tensor: values must have at least one dim (nnz), got a 0-d tensor")
    nnz, sd = idx.shape[1], idx.shape[0]
    if values.shape[0] != nnz:
        raise RuntimeError(f"sparse_coo_tensor: indices hold {nnz} entries (shape {tuple(idx.shape)}) but values "
                           f"hold {values.shape[0]} (shape {tuple(values.shape)})")
    if nnz and idx.min() < 0:
        raise RuntimeError("sparse_coo_tensor: found a negative index")
    if size is None:
        size = tuple((idx.max(axis=1) + 1).tolist() if nnz else [0] * sd) + tuple(values.shape[1:])
    size = tuple(int(s) for s in size)
    if len(size) != sd + values.ndim - 1:
        raise RuntimeError(f"sparse_coo_tensor: size {size} has {len(size)} dims, but indices give {sd} sparse "
                           f"dims and values {values.ndim - 1} dense dims")
    if nnz and np.any(idx.max(axis=1) >= np.asarray(size[:sd])):
        raise RuntimeError(f"sparse_coo_tensor: an index is out of bounds for size {size} "
                           f"(largest indices per dim: {idx.max(axis=1).tolist()})")
    if tuple(values.shape[1:]) != size[sd:]:
        raise RuntimeError(f"sparse_coo_tensor: values' dense dims {tuple(values.shape[1:])} do not match size {size}")
    if requires_grad:
        values = values.detach().requires_grad_()
    return SparseTensor._make(idx, values, size, bool(is_coalesced))


def to_sparse(input: Tensor, sparse_dim: int | None = None, *, layout=None) -> SparseTensor:
    """The nonzero entries of a dense tensor as a coalesced sparse COO tensor (differentiable).

    ``sparse_dim`` (default all dims) leading dims become sparse; the rest stay dense in the values.
    """
    if isinstance(input, SparseTensor):
        return input
    if layout is not None and layout is not sparse_coo:
        raise RuntimeError(f"to_sparse: only layout=shendu.sparse_coo is supported, got {layout}")
    sd = input.ndim if sparse_dim is None else int(sparse_dim)
    if not 0 < sd <= input.ndim:
        raise RuntimeError(f"to_sparse: sparse_dim must be in [1, {input.ndim}], got {sparse_dim}")
    raw = backend.to_numpy(input._data)
    lead = raw.reshape(raw.shape[:sd] + (-1,))
    mask = np.any(lead != 0, axis=-1) if sd < input.ndim else raw != 0
    idx = np.stack(np.nonzero(mask)).astype(np.int64).reshape(sd, -1)
    lin = np.ravel_multi_index(tuple(idx), input.shape[:sd]) if idx.shape[1] else np.zeros(0, dtype=np.int64)
    flat = input.reshape((int(np.prod(input.shape[:sd])),) + tuple(input.shape[sd:]))
    from shendu.ops.index import index_select
    values = index_select(flat, 0, Tensor._wrap(lin.astype(np.int64)))
    return SparseTensor._make(idx, values, tuple(input.shape), True)


# -- products -------------------------------------------------------------------------------------
class SparseMM(Function):
    """``sparse @ dense`` for a 2-D sparse matrix; differentiable in its values and in the dense matrix."""

    raw = True

    def forward(ctx, values, dense, *, sparse):
        ctx.sparse = sparse
        out = sparse._scipy(values) @ backend.to_numpy(dense)
        return np.asarray(out, dtype=np.result_type(values.dtype, dense.dtype))

    def backward(ctx, grad):
        s, (values, dense) = ctx.sparse, ctx.inputs
        grad_values = grad_dense = None
        if ctx.needs_input_grad[1]:  # d(S D)/dD: S^T grad
            st = SparseTensor._make(s._idx[::-1].copy(), values, s._shape[::-1], False)
            grad_dense = SparseMM.apply(values, grad, sparse=st)
        if ctx.needs_input_grad[0]:  # d/dS[i, j] = grad[i] . D[j], only on the pattern
            from shendu.ops.index import index_select
            rows, cols = Tensor._wrap(s._idx[0]), Tensor._wrap(s._idx[1])
            grad_values = (index_select(grad, 0, rows) * index_select(dense, 0, cols)).sum(-1)
        return grad_values, grad_dense


def _sparse_dense_mm(s: SparseTensor, dense: Tensor, op: str) -> Tensor:
    if isinstance(dense, SparseTensor):
        raise RuntimeError(f"{op}: sparse @ sparse is not supported here; call .to_dense() on one operand")
    if dense.ndim != 2 or s.ndim != 2:
        raise RuntimeError(f"{op}: expected 2-D operands, got sparse {tuple(s.shape)} and dense {tuple(dense.shape)}")
    if s.shape[1] != dense.shape[0]:
        raise RuntimeError(f"{op}: mat1 and mat2 shapes cannot be multiplied ({s.shape[0]}x{s.shape[1]} and "
                           f"{dense.shape[0]}x{dense.shape[1]})")
    return SparseMM.apply(s._vals, dense, sparse=s)


def mm(mat1: Tensor, mat2: Tensor, *, out: Tensor | None = None) -> Tensor:
    """Matrix product where either operand may be sparse (dense result); dense @ dense as ``shendu.mm``.

    Shape: (n, m) @ (m, p) -> (n, p).
    """
    if out is not None:
        from shendu.autograd.inplace import write_out
        return write_out(out, mm(mat1, mat2), "mm")
    if isinstance(mat1, SparseTensor):
        return _sparse_dense_mm(mat1, mat2, "mm")
    if isinstance(mat2, SparseTensor):  # D S = (S^T D^T)^T
        return _sparse_dense_mm(mat2.t(), mat1.t(), "mm").t()
    from shendu.ops.linalg import mm as dense_mm
    return dense_mm(mat1, mat2)


def matmul(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    """``shendu.matmul`` that also takes a 2-D sparse operand (with a 1-D or 2-D dense one)."""
    if out is not None:
        from shendu.autograd.inplace import write_out
        return write_out(out, matmul(input, other), "matmul")
    if isinstance(input, SparseTensor):
        if other.ndim == 1:
            return _sparse_dense_mm(input, other.unsqueeze(1), "matmul").squeeze(1)
        return _sparse_dense_mm(input, other, "matmul")
    if isinstance(other, SparseTensor):
        if input.ndim == 1:
            return _sparse_dense_mm(other.t(), input.unsqueeze(1), "matmul").squeeze(1)
        return _sparse_dense_mm(other.t(), input.t(), "matmul").t()
    from shendu.ops.linalg import matmul as dense_matmul
    return dense_matmul(input, other)


def addmm(mat: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """``beta * mat + alpha * (mat1 @ mat2)`` with a sparse ``mat1`` (PyTorch's ``torch.sparse.addmm``)."""
    return beta * mat + alpha * mm(mat1, mat2)


def sum(input: SparseTensor, dim=None, dtype=None):  # noqa: A001 - PyTorch's name
    """Sum of a sparse tensor: all entries (a 0-d dense tensor) or over ``dim``.

    Summing over some sparse dims gives a coalesced sparse tensor of the remaining dims; over all
    sparse dims, a dense tensor of the dense dims. Differentiable in the values.
    """
    if not isinstance(input, SparseTensor):
        from shendu.ops.reduce import sum as dense_sum
        return dense_sum(input, dim, dtype=dtype) if dim is not None else dense_sum(input, dtype=dtype)
    vals = input._vals if dtype is None else input._vals.to(dtype)
    if dim is None:
        return vals.sum()
    from shendu.ops.dims import wrap_dims
    dims = wrap_dims(dim, input.ndim, "sparse.sum")
    sd = input.sparse_dim()
    dense_axes = tuple(d - sd + 1 for d in dims if d >= sd)
    if dense_axes:
        vals = vals.sum(dense_axes)
    keep = [d for d in range(sd) if d not in dims]
    if not keep:
        return vals.sum(0)
    dense_kept = tuple(n for d, n in enumerate(input.shape) if d >= sd and d not in dims)
    shape = tuple(input.shape[d] for d in keep) + dense_kept
    return SparseTensor._make(input._idx[keep], vals, shape, False).coalesce()


__all__ = ["SparseMM", "SparseTensor", "addmm", "layout", "matmul", "mm", "sparse_coo", "sparse_coo_tensor",
           "strided", "sum", "to_sparse"]
