"""The sparse COO tensor: ``indices`` (sparse_dim, nnz) int64, ``values`` (nnz, *dense dims), a shape.

``SparseTensor`` subclasses ``Tensor`` so ``isinstance(s, shendu.Tensor)`` holds, but it has no dense
array: its ``_data`` raises, so a dense op handed a sparse tensor fails with a message naming
``to_dense()`` instead of computing garbage. Autograd runs through ``values``, an ordinary
Tensor: ``sparse_coo_tensor(i, v)`` with ``v`` requiring grad, or ``x.to_sparse()`` of an ``x``
that requires grad, link the sparse tensor into the graph, and ``s.grad`` (for a leaf made with
``requires_grad=True``) is the sparse tensor of ``values.grad`` on the same pattern, as in PyTorch.
Products run on SciPy's CSR matrices, built once per values array and cached.
"""
from __future__ import annotations

import numpy as np

from shendu import backend, dtypes
from shendu.tensor import Tensor


class layout:  # noqa: N801 - PyTorch's name (torch.layout)
    """A tensor's memory layout: ``shendu.strided`` (dense) or ``shendu.sparse_coo``."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"shendu.{self.name}"


strided = layout("strided")
sparse_coo = layout("sparse_coo")


class SparseTensor(Tensor):
    """A sparse COO tensor (PyTorch's ``layout=torch.sparse_coo``); build with ``sparse_coo_tensor``."""

    is_sparse = True
    layout = sparse_coo

    def __init__(self, *args, **kwargs):
        raise TypeError("SparseTensor: build sparse tensors with shendu.sparse_coo_tensor(indices, values, size) "
                        "or dense.to_sparse()")

    @classmethod
    def _make(cls, indices: np.ndarray, values: Tensor, shape: tuple, coalesced: bool = False) -> SparseTensor:
        s = object.__new__(cls)
        s._idx, s._vals, s._shape, s._coalesced = indices, values, tuple(int(n) for n in shape), coalesced
        s._csr_cache = None
        return s

    # -- no dense storage ---------------------------------------------------------------------------
    @property
    def _data(self):
        raise TypeError(f"this operation needs a dense tensor, got a sparse COO tensor of shape {self._shape}; "
                        "call .to_dense() first (sparse tensors support to_dense, coalesce, indices, values, "
                        "t, mm/matmul with a dense matrix, sum, and scalar multiplication)")

    # -- structure ----------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        from shendu.size import Size
        return Size(self._shape)

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self._shape[dim]

    @property
    def ndim(self) -> int:
        return len(self._shape)

    def dim(self) -> int:
        return len(self._shape)

    def numel(self) -> int:
        return int(np.prod(self._shape))

    def __len__(self) -> int:
        return self._shape[0]

    @property
    def dtype(self):
        return self._vals.dtype

    @property
    def device(self):
        return self._vals.device

    @property
    def is_cuda(self) -> bool:
        return self._vals.device.type == "cuda"

    def sparse_dim(self) -> int:
        return self._idx.shape[0]

    def dense_dim(self) -> int:
        return self.ndim - self.sparse_dim()

    def _nnz(self) -> int:
        return self._idx.shape[1]

    def is_coalesced(self) -> bool:
        return self._coalesced

    def _indices(self) -> Tensor:
        return Tensor._wrap(self._idx)

    def _values(self) -> Tensor:
        return self._vals

    def indices(self) -> Tensor:
        """The (sparse_dim, nnz) int64 indices of a coalesced tensor."""
        if not self._coalesced:
            raise RuntimeError("indices(): cannot get indices on an uncoalesced tensor, please call .coalesce() "
                               "first (or read the raw ones with ._indices())")
        return Tensor._wrap(self._idx)

    def values(self) -> Tensor:
        """The (nnz, *dense dims) values of a coalesced tensor (differentiable)."""
        if not self._coalesced:
            raise RuntimeError("values(): cannot get values on an uncoalesced tensor, please call .coalesce() "
                               "first (or read the raw ones with ._values())")
        return self._vals

    # -- autograd runs through the values -------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._vals.requires_grad

    @property
    def is_leaf(self) -> bool:
        return self._vals.is_leaf

    @property
    def grad_fn(self):
        return self._vals.grad_fn

    @property
    def grad(self):
        g = self._vals.grad
        return None if g is None else SparseTensor._make(self._idx, g, self._shape, self._coalesced)

    @grad.setter
    def grad(self, value) -> None:
        if value is not None and not isinstance(value, SparseTensor):
            raise TypeError(f"SparseTensor.grad: expected a sparse tensor or None, got {type(value).__name__}")
        self._vals.grad = None if value is None else value._vals

    def requires_grad_(self, requires_grad: bool = True) -> SparseTensor:
        self._vals.requires_grad_(requires_grad)
        return self

    def detach(self) -> SparseTensor:
        return SparseTensor._make(self._idx, self._vals.detach(), self._shape, self._coalesced)

    def clone(self) -> SparseTensor:
        return SparseTensor._make(self._idx.copy(), self._vals.clone(), self._shape, self._coalesced)

    def backward(self, *args, **kwargs):
        raise RuntimeError("backward: call it on a dense result (e.g. shendu.sparse.sum(s) or s.to_dense().sum())")

    # -- conversions ----------------------------------------------------------------------------------
    def _lin(self) -> np.ndarray:
        """Each entry's position in the flattened sparse dims (row-major)."""
        return np.ravel_multi_index(tuple(self._idx), self._shape[:self.sparse_dim()]) if self._nnz() else \
            np.zeros(0, dtype=np.int64)

    def to_dense(self, dtype=None, *, masked_grad: bool | None = None) -> Tensor:
        """The dense tensor (duplicate entries summed); differentiable in the values."""
        from shendu.creation import zeros
        from shendu.ops.index import index_add
        sd = self.sparse_dim()
        flat_shape = (int(np.prod(self._shape[:sd])),) + self._shape[sd:]
        vals = self._vals if dtype is None else self._vals.to(dtype)
        base = zeros(*flat_shape, dtype=vals.dtype, device=vals.device)
        out = index_add(base, 0, Tensor._wrap(self._lin().astype(np.int64)), vals)
        return out.reshape(self._shape)

    def to_sparse(self, sparse_dim: int | None = None) -> SparseTensor:
        return self

    def coalesce(self) -> SparseTensor:
        """Sorted, duplicate-free indices; duplicates' values summed (differentiable in the values)."""
        if self._coalesced:
            return self
        from shendu.creation import zeros
        from shendu.ops.index import index_add
        lin = self._lin()
        uniq, inverse = np.unique(lin, return_inverse=True)
        vals = index_add(zeros(len(uniq), *self._vals.shape[1:], dtype=self.dtype, device=self.device),
                         0, Tensor._wrap(inverse.reshape(-1).astype(np.int64)), self._vals)
        idx = np.stack(np.unravel_index(uniq, self._shape[:self.sparse_dim()])).astype(np.int64) \
            if len(uniq) else np.zeros((self.sparse_dim(), 0), dtype=np.int64)
        return SparseTensor._make(idx.reshape(self.sparse_dim(), -1), vals, self._shape, True)

    def to(self, *args, **kwargs) -> SparseTensor:
        return SparseTensor._make(self._idx, self._vals.to(*args, **kwargs), self._shape, self._coalesced)

    def float(self) -> SparseTensor:
        return self.to(dtypes.float32)

    def double(self) -> SparseTensor:
        return self.to(dtypes.float64)

    def numpy(self):
        raise TypeError("numpy(): a sparse tensor has no dense array; use .to_dense().numpy()")

    def _scipy(self, values=None):
        """The 2-D tensor as a SciPy CSR matrix of ``values`` (raw array; default this tensor's), cached."""
        import scipy.sparse as sp
        if self.ndim != 2 or self.dense_dim() != 0:
            raise RuntimeError(f"sparse mm: expected a 2-D sparse matrix with scalar values, got shape {self._shape} "
                               f"with {self.dense_dim()} dense dims")
        vals = self._vals._data if values is None else values
        cache = self._csr_cache
        if cache is not None and cache[0] is vals:
            return cache[1]
        m = sp.csr_array((backend.to_numpy(vals), (self._idx[0], self._idx[1])), shape=self._shape)
        self._csr_cache = (vals, m)
        return m

    # -- algebra ---------------------------------------------------------------------------------------
    def t(self) -> SparseTensor:
        if self.ndim != 2 or self.dense_dim() != 0:
            raise RuntimeError(f"t(): expected a 2-D sparse matrix, got shape {self._shape}")
        return SparseTensor._make(self._idx[::-1].copy(), self._vals, self._shape[::-1], False)

    def transpose(self, dim0: int, dim1: int) -> SparseTensor:
        from shendu.ops.dims import wrap_dim
        d0, d1 = wrap_dim(dim0, self.ndim, "transpose"), wrap_dim(dim1, self.ndim, "transpose")
        if max(d0, d1) >= self.sparse_dim():
            raise RuntimeError("transpose: only sparse dims of a sparse tensor can be swapped here")
        order = list(range(self.sparse_dim()))
        order[d0], order[d1] = order[d1], order[d0]
        shape = list(self._shape)
        shape[d0], shape[d1] = shape[d1], shape[d0]
        return SparseTensor._make(self._idx[order], self._vals, tuple(shape), False)

    @property
    def T(self) -> SparseTensor:
        return self.t()

    def mm(self, mat2: Tensor) -> Tensor:
        from shendu.sparse import mm
        return mm(self, mat2)

    def matmul(self, other: Tensor) -> Tensor:
        from shendu.sparse import matmul
        return matmul(self, other)

    def __matmul__(self, other):
        return self.matmul(other)

    def __rmatmul__(self, other):
        from shendu.sparse import matmul
        return matmul(other, self)

    def sum(self, dim=None, keepdim: bool = False, dtype=None):
        from shendu.sparse import sum as sparse_sum
        if keepdim:
            raise RuntimeError("sum(keepdim=True) is not supported for sparse tensors")
        return sparse_sum(self, dim, dtype=dtype)

    def mul(self, other) -> SparseTensor:
        if isinstance(other, Tensor) and other.ndim:
            raise RuntimeError("sparse mul: only numbers and 0-d tensors multiply a sparse tensor here; "
                               "use .to_dense() for elementwise products")
        return SparseTensor._make(self._idx, self._vals * other, self._shape, self._coalesced)

    __mul__ = __rmul__ = mul

    def __truediv__(self, other) -> SparseTensor:
        return self.mul(1.0 / other)

    def __neg__(self) -> SparseTensor:
        return self.mul(-1)

    def add(self, other, alpha: float = 1):
        from shendu.ops.shape import cat
        if isinstance(other, SparseTensor):
            if other._shape != self._shape:
                raise RuntimeError(f"sparse add: shapes {self._shape} and {other._shape} differ")
            vals = cat([self._vals, other._vals * alpha if alpha != 1 else other._vals])
            return SparseTensor._make(np.concatenate([self._idx, other._idx], axis=1), vals, self._shape, False)
        return self.to_dense() + (other * alpha if alpha != 1 else other)

    __add__ = add

    def __radd__(self, other):
        return self.add(other)

    def __sub__(self, other):
        return self.add(other, alpha=-1)

    def __repr__(self) -> str:
        vals = repr(self._vals.detach())
        return (f"tensor(indices={Tensor._wrap(self._idx)!r},\n       values={vals},\n       size={self._shape}, "
                f"nnz={self._nnz()}, layout=shendu.sparse_coo"
                + (", requires_grad=True" if self.requires_grad and self.is_leaf else "")
                + (f", grad_fn=<{type(self.grad_fn).__name__}Backward>" if self.grad_fn is not None else "") + ")")
