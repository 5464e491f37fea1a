"""Matrix norms and what is built on them: matrix_norm, norm (torch.linalg.norm), matrix_rank, cond.

All are compositions of differentiable ops (vector_norm, abs, sum, amax/amin, svdvals, inv), so
their gradients, under ``create_graph`` too, come from those ops: amax/amin share the gradient
among ties as PyTorch's do.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from shendu.ops.decompositions import svdvals
from shendu.ops.dims import wrap_dim
from shendu.ops.distance import vector_norm
from shendu.ops.matrix_functions import default_rtol
from shendu.ops.solve import check_matrix, inv
from shendu.tensor import Tensor

_INF = math.inf
_MATRIX_ORDS = ("fro", "nuc", 2, -2, 1, -1, _INF, -_INF)


def _matrix_dims(dim, ndim: int, op: str) -> tuple:
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise RuntimeError(f"{op}: dim must be a 2-tuple. Got {dim}")
    d0, d1 = (wrap_dim(d, ndim, op) for d in dim)
    if d0 == d1:
        raise RuntimeError(f"{op}: dims must be different. Got ({dim[0]}, {dim[1]})")
    return d0, d1


def _to_last(A: Tensor, d0: int, d1: int) -> Tensor:
    """A with dims d0, d1 moved to the end (rows, columns), the others in order."""
    rest = [d for d in range(A.ndim) if d not in (d0, d1)]
    return A.permute(*rest, d0, d1)


def _restore(out: Tensor, d0: int, d1: int, keepdim: bool) -> Tensor:
    if not keepdim:
        return out
    for d in sorted((d0, d1)):
        out = out.unsqueeze(d)
    return out


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None,
                out: Tensor | None = None) -> Tensor:
    """Matrix norm over the two dims ``dim``: 'fro' (Frobenius), 'nuc' (sum of singular values),
    2 / -2 (largest / smallest singular value), 1 / -1 (max / min column sum of |A|), inf / -inf
    (max / min row sum of |A|).

    Shape: A (*, m, n) -> (*) (the two dims kept with size 1 with ``keepdim``).
    """
    op = "linalg.matrix_norm"
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}: expected A to be a Tensor, got {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor A must have at least 2 dimensions.")
    if A.dtype.kind not in "fc":
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. Got {A.dtype}")
    if dtype is not None:
        A = A.to(dtype)
    if ord not in _MATRIX_ORDS:
        raise RuntimeError(f"{op}: Order {ord} not supported.")
    d0, d1 = _matrix_dims(dim, A.ndim, op)
    if ord == "fro":
        result = vector_norm(A, 2, (d0, d1), keepdim)
    elif ord in ("nuc", 2, -2):
        s = svdvals(_to_last(A, d0, d1))
        if ord == "nuc":
            result = s.sum(-1)
        elif s.numel() == 0:  # no singular values (or no matrices): PyTorch gives 0
            result = s.sum(-1)
        else:
            result = s.amax(-1) if ord == 2 else s.amin(-1)
        result = _restore(result, d0, d1, keepdim)
    else:
        # 1: max over columns of the column sums (sum over rows, dim d0); inf: the same transposed
        sum_dim, red_dim = (d0, d1) if abs(ord) == 1 else (d1, d0)
        sums = A.abs().sum(sum_dim, keepdim=True)
        result = sums.amax(red_dim, keepdim=True) if ord > 0 else sums.amin(red_dim, keepdim=True)
        if not keepdim:
            result = result.squeeze(max(d0, d1)).squeeze(min(d0, d1))
    return _write_out(out, result, op)


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None, out: Tensor | None = None) -> Tensor:
    """``torch.linalg.norm``: a vector norm when ``dim`` is an int (or A is 1-D), a matrix norm when ``dim``
    is a 2-tuple (or A is 2-D and ``ord`` is given); with neither ``dim`` nor ``ord``, the 2-norm of A
    flattened.
    """
    op = "linalg.norm"
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}: expected A to be a Tensor, got {type(A).__name__}")
    if dim is not None:
        if isinstance(dim, (tuple, list)):
            dims = tuple(dim)
        else:
            dims = (operator.index(dim),)
        if len(dims) == 1:
            if isinstance(ord, str):
                raise RuntimeError(f"{op}: Order {ord} not supported for vector norms.")
            result = vector_norm(A, 2 if ord is None else ord, dims[0], keepdim, dtype=dtype)
        elif len(dims) == 2:
            result = matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
        else:
            raise RuntimeError(f"{op}: If dim is specified, it must be of length 1 or 2. Got {list(dims)}")
    elif ord is None:
        result = vector_norm(A, 2, None, keepdim, dtype=dtype)
    elif A.ndim == 1:
        if isinstance(ord, str):
            raise RuntimeError(f"{op}: Order {ord} not supported for vector norms.")
        result = vector_norm(A, ord, None, keepdim, dtype=dtype)
    elif A.ndim == 2:
        result = matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    else:
        raise RuntimeError(f"{op}: If dim is not specified but ord is, the input must be 1D or 2D. "
                           f"Got {A.ndim}D.")
    return _write_out(out, result, op)


def matrix_rank(A: Tensor, tol=None, hermitian: bool = False, *, atol=None, rtol=None,
                out: Tensor | None = None) -> Tensor:
    """Number of singular values (|eigenvalues| with ``hermitian``) above ``max(atol, rtol * sigma_max)``;
    rtol defaults to ``eps * max(m, n)`` (0 when only a positive atol is given); ``tol`` is the old
    name of atol. int64, not differentiable.

    Shape: (*, m, n) -> (*).
    """
    op = "linalg.matrix_rank"
    check_matrix(A, op, square=hermitian)
    if tol is not None:
        atol, rtol = tol, 0.0 if rtol is None else rtol
    atol, rtol = default_rtol(A, atol, rtol)
    xp = A._xp()
    if hermitian:
        s = xp.abs(xp.linalg.eigvalsh(A._data))
    else:
        s = xp.linalg.svd(A._data, compute_uv=False)
    atol = atol._data if isinstance(atol, Tensor) else atol
    rtol = rtol._data if isinstance(rtol, Tensor) else rtol
    smax = s.max(-1, keepdims=True) if s.shape[-1] else xp.zeros(s.shape[:-1] + (1,), dtype=s.dtype)
    thresh = xp.maximum(xp.asarray(atol)[..., None], xp.asarray(rtol)[..., None] * smax)
    result = Tensor._wrap((s > thresh).sum(-1).astype(np.int64))
    return _write_out(out, result, op)


def cond(A: Tensor, p=None, *, out: Tensor | None = None) -> Tensor:
    """Condition number ``norm(A, p) * norm(inv(A), p)``; for p None / 2 / -2 the singular-value ratio
    (``sigma_max / sigma_min`` or its inverse), defined for rectangular A too.

    Shape: (*, m, n) -> (*).
    """
    op = "linalg.cond"
    if p is None or p in (2, -2):
        check_matrix(A, op, square=False)
        s = svdvals(A)
        result = s.amax(-1) / s.amin(-1) if p != -2 else s.amin(-1) / s.amax(-1)
        return _write_out(out, result, op)
    if p not in _MATRIX_ORDS:
        raise RuntimeError(f"{op}: Order {p} not supported.")
    check_matrix(A, op)
    return _write_out(out, matrix_norm(A, p) * matrix_norm(inv(A), p), op)


def _write_out(out, result: Tensor, op: str) -> Tensor:
    if out is None:
        return result
    from shendu.autograd.inplace import write_out
    return write_out(out, result, op)


def nuclear_norm(input: Tensor, dim=(-2, -1), keepdim: bool = False) -> Tensor:
    """``torch.nuclear_norm``: the sum of singular values (``matrix_norm(input, 'nuc', dim, keepdim)``)."""
    return matrix_norm(input, "nuc", tuple(dim), keepdim)


def frobenius_norm(input: Tensor, dim=(-2, -1), keepdim: bool = False) -> Tensor:
    """``torch.frobenius_norm``: the square root of the sum of squares over ``dim``."""
    return vector_norm(input, 2, tuple(dim) if not isinstance(dim, int) else dim, keepdim)
