"""LU factorisation with partial pivoting: lu_factor(_ex), lu, lu_unpack, lu_solve.

``LUFactor`` is the one op with a backward of its own (PyTorch's formula for square matrices,
``gA = P L^-T (tril_-1(L^T gL) + triu(gU U^T)) U^-T``, written in shendu ops); ``lu`` and ``lu_unpack``
slice its packed output and ``lu_solve`` is two triangular solves, so their gradients come for free.
The factorisation itself is Gaussian elimination vectorised over the batch (one step per column).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.ops.solve import LinAlgError, check_matrix, solve_triangular
from shendu.tensor import Tensor

lu_factor_result = namedtuple("linalg_lu_factor", ["LU", "pivots"])
lu_factor_ex_result = namedtuple("linalg_lu_factor_ex", ["LU", "pivots", "info"])
lu_result = namedtuple("linalg_lu", ["P", "L", "U"])
lu_unpack_result = namedtuple("lu_unpack", ["P", "L", "U"])


def lu_arrays(a):
    """``(LU, pivots, info)`` of every matrix in ``a`` (LAPACK getrf's conventions: 1-based int32 pivots,
    info = the 1-based index of the first zero pivot, 0 if none)."""
    xp = array_module(a)
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    lu = a.reshape(-1, m, n).copy()
    count = lu.shape[0]
    pivots = xp.zeros((count, k), dtype=np.int32)
    info = xp.zeros(count, dtype=np.int32)
    rows = xp.arange(count)
    for j in range(k):  # one elimination step per column, every matrix of the batch at once
        p = j + xp.argmax(xp.abs(lu[:, j:, j]), axis=1)
        pivots[:, j] = p + 1
        row_j = lu[rows, j].copy()
        lu[rows, j] = lu[rows, p]
        lu[rows, p] = row_j
        pivot = lu[:, j, j]
        zero = pivot == 0
        info = xp.where((info == 0) & zero, j + 1, info).astype(np.int32)
        lu[:, j + 1:, j] /= xp.where(zero, 1, pivot)[:, None]
        lu[:, j + 1:, j + 1:] -= lu[:, j + 1:, j:j + 1] * lu[:, j:j + 1, j + 1:]
    batch = a.shape[:-2]
    return lu.reshape(a.shape), pivots.reshape(batch + (k,)), info.reshape(batch)


def permutation_arrays(pivots, m: int, dtype):
    """The permutation matrices P (A = P L U) of LAPACK-style pivots: (*, k) -> (*, m, m)."""
    xp = array_module(pivots)
    flat = pivots.reshape(-1, pivots.shape[-1]) - 1
    perm = xp.broadcast_to(xp.arange(m), (flat.shape[0], m)).copy()
    rows = xp.arange(flat.shape[0])
    for j in range(flat.shape[1]):  # apply the row swaps in order
        pj = flat[:, j]
        a, b = perm[rows, j].copy(), perm[rows, pj].copy()
        perm[rows, j], perm[rows, pj] = b, a
    P = xp.zeros((flat.shape[0], m, m), dtype=dtype)
    P[rows[:, None], perm, xp.arange(m)[None, :]] = 1  # row perm[i] of A is row i of L U
    return P.reshape(pivots.shape[:-1] + (m, m))


class LUFactor(Function):
    """Packed ``LU`` (unit-lower L below the diagonal, U on and above) and the pivots of ``A = P L U``."""

    saved_inputs = ()
    _materialize_grads = False

    def forward(ctx, a, *, check_errors):
        LU, pivots, info = lu_arrays(a)
        if check_errors and bool(info.any()):
            flat = info.reshape(-1)
            b = int(np.flatnonzero(np.asarray(flat))[0])
            where = f"(Batch element {b}): " if a.ndim > 2 else ""
            k = int(flat[b])
            raise LinAlgError(f"torch.linalg.lu_factor: {where}U[{k},{k}] is zero and using it on lu_solve would "
                              "result in a division by zero. If you still want to perform the "
                              "factorization, consider calling linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)")
        ctx.info = info
        ctx.pivots = pivots
        return LU, pivots

    def backward(ctx, gLU, _):
        if gLU is None:
            return None
        LU = ctx.outs[0]
        m, n = LU.shape[-2], LU.shape[-1]
        if m != n:
            raise RuntimeError("linalg.lu_factor: the gradient is implemented for square matrices only "
                               f"(got {m} by {n})")
        xp = LU._xp()
        P = Tensor._wrap(permutation_arrays(ctx.pivots, m, LU.dtype))
        L = LU.tril(-1) + Tensor._wrap(xp.eye(m, dtype=LU.dtype))
        U = LU.triu()
        phi = (L.mT @ gLU.tril(-1)).tril(-1) + (gLU.triu() @ U.mT).triu()
        gA = solve_triangular(U.mT, phi, upper=False, left=False)  # phi U^-T
        gA = solve_triangular(L.mT, gA, upper=True, unitriangular=True)  # L^-T (...)
        return P @ gA


def _factor(A: Tensor, pivot: bool, check_errors: bool, op: str):
    check_matrix(A, op, square=False)
    if not pivot:
        raise RuntimeError(f"{op}: LU without pivoting is not implemented on the CPU")
    outs = LUFactor.apply(A, check_errors=check_errors)
    ctx = outs[0]._ctx
    if ctx is not None:
        ctx.outs = outs
        info = ctx.info
    else:
        info = lu_arrays(A._data)[2]
    return outs[0], outs[1], info


def lu_factor(A: Tensor, *, pivot: bool = True, out=None) -> tuple:
    """``(LU, pivots)`` of ``A = P L U`` (partial pivoting, LAPACK's packed form and 1-based int32 pivots).
    Raises ``LinAlgError`` at a zero pivot (a singular matrix).

    Shape: (*, m, n) -> LU (*, m, n), pivots (*, min(m, n)).
    """
    LU, pivots, _ = _factor(A, pivot, True, "linalg.lu_factor")
    return lu_factor_result(LU, pivots)


def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False, out=None) -> tuple:
    """``(LU, pivots, info)``: ``lu_factor`` with LAPACK's info per matrix instead of an error."""
    LU, pivots, info = _factor(A, pivot, check_errors, "linalg.lu_factor_ex")
    return lu_factor_ex_result(LU, pivots, Tensor._wrap(info))


def lu_unpack(LU_data: Tensor, LU_pivots: Tensor, unpack_data: bool = True, unpack_pivots: bool = True) -> tuple:
    """``torch.lu_unpack``: ``(P, L, U)`` from the packed factorisation (P (*, m, m), L (*, m, k), U (*, k, n))."""
    m, n = LU_data.shape[-2], LU_data.shape[-1]
    k = min(m, n)
    xp = LU_data._xp()
    P = Tensor._wrap(permutation_arrays(LU_pivots._data, m, LU_data.dtype)) if unpack_pivots else \
        Tensor._wrap(xp.zeros(0, dtype=LU_data.dtype))
    if not unpack_data:
        empty = Tensor._wrap(xp.zeros(0, dtype=LU_data.dtype))
        return lu_unpack_result(P, empty, empty)
    eye = Tensor._wrap(xp.eye(m, k, dtype=LU_data.dtype))
    L = LU_data.narrow(-1, 0, k).tril(-1) + eye
    U = LU_data.narrow(-2, 0, k).triu()
    return lu_unpack_result(P, L, U)


def lu(A: Tensor, *, pivot: bool = True, out=None) -> tuple:
    """``(P, L, U)`` with ``A = P L U``: P a permutation, L unit lower-triangular (*, m, k), U upper (*, k, n).

    Differentiable for square A (the gradient of L's strictly lower and U's upper part).
    """
    LU, pivots, _ = _factor(A, pivot, False, "linalg.lu")
    return lu_result(*lu_unpack(LU, pivots))


def lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True, adjoint: bool = False,
             out=None) -> Tensor:
    """Solve ``A X = B`` (``adjoint``: ``A^T X = B``; ``left=False``: ``X A = B`` / ``X A^T = B``) from
    ``lu_factor``'s output. Differentiable in LU and B. Shape: LU (*, n, n), B (*, n, k) -> (*, n, k)."""
    op = "linalg.lu_solve"
    check_matrix(LU, op, name="LU")
    check_matrix(B, op, square=False, name="B")
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return lu_solve(LU, pivots, B.mT, left=True, adjoint=not adjoint).mT
    n = LU.shape[-1]
    if B.shape[-2] != n:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation AX = B ({n}x{n} and "
                           f"{B.shape[-2]}x{B.shape[-1]})")
    P = Tensor._wrap(permutation_arrays(pivots._data, n, LU.dtype))
    if not adjoint:  # X = U^-1 L^-1 P^T B
        y = solve_triangular(LU, P.mT @ B, upper=False, unitriangular=True)
        return solve_triangular(LU, y, upper=True)
    # A^T = U^T L^T P^T: X = P L^-T U^-T B
    y = solve_triangular(LU.mT, B, upper=False)
    return P @ solve_triangular(LU.mT, y, upper=True, unitriangular=True)


def lu_legacy(A: Tensor, pivot: bool = True, get_infos: bool = False, out=None) -> tuple:
    """``torch.lu`` (deprecated in PyTorch for ``linalg.lu_factor``): ``(A_LU, pivots[, infos])``, no error."""
    LU, pivots, info = _factor(A, pivot, False, "lu")
    return (LU, pivots, Tensor._wrap(info)) if get_infos else (LU, pivots)


def lu_solve_legacy(b: Tensor, LU_data: Tensor, LU_pivots: Tensor, *, out=None) -> Tensor:
    """``torch.lu_solve(b, LU_data, LU_pivots)``: ``linalg.lu_solve(LU_data, LU_pivots, b)``."""
    return lu_solve(LU_data, LU_pivots, b)
