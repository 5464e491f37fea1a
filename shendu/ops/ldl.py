"""LDLᵀ factorisation of symmetric matrices with Bunch-Kaufman pivoting: ldl_factor(_ex), ldl_solve.

LAPACK's unblocked ``sytf2`` / ``sytrs`` (lower triangle) step for step, so the packed ``LD`` and the
pivots (1-based; a pair of equal negative pivots marks a 2x2 block of D) are PyTorch's. The pivot
choices depend on each matrix's values, so the batch is factored one matrix at a time. Not
differentiable, as in PyTorch.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from shendu.backend import array_module
from shendu.ops.solve import LinAlgError, check_matrix
from shendu.tensor import Tensor

ldl_factor_result = namedtuple("linalg_ldl_factor", ["LD", "pivots"])
ldl_factor_ex_result = namedtuple("linalg_ldl_factor_ex", ["LD", "pivots", "info"])
_ALPHA = (1 + math.sqrt(17)) / 8  # Bunch-Kaufman's threshold


def _sytf2_lower(a: np.ndarray) -> tuple:
    """One matrix (its lower triangle): (LD, 1-based pivots, info) as LAPACK's dsytf2 with uplo = 'L'."""
    a = np.tril(a).astype(a.dtype, copy=True)
    a = a + np.tril(a, -1).T  # work on the full symmetric matrix; only the lower triangle is returned
    n = a.shape[0]
    ipiv = np.zeros(n, dtype=np.int32)
    info, k = 0, 0
    while k < n:
        kstep = 1
        absakk = abs(a[k, k])
        if k < n - 1:
            imax = k + 1 + int(np.argmax(np.abs(a[k + 1:, k])))
            colmax = abs(a[imax, k])
        else:
            imax, colmax = k, 0.0
        if max(absakk, colmax) == 0:
            info = info or k + 1
            kp = k
        else:
            if absakk >= _ALPHA * colmax:
                kp = k
            else:
                rowmax = np.abs(a[imax, k:imax]).max()
                if imax < n - 1:
                    rowmax = max(rowmax, np.abs(a[imax + 1:, imax]).max())
                if absakk >= _ALPHA * colmax * (colmax / rowmax):
                    kp = k
                elif abs(a[imax, imax]) >= _ALPHA * rowmax:
                    kp = imax
                else:
                    kp, kstep = imax, 2
            kk = k + kstep - 1
            if kp != kk:  # symmetric interchange of rows and columns kk and kp in the trailing block
                perm = np.arange(n)
                perm[kk], perm[kp] = kp, kk
                sub = np.arange(k, n)
                block = a[np.ix_(sub, sub)]
                local = perm[k:] - k
                a[np.ix_(sub, sub)] = block[np.ix_(local, local)]
            if kstep == 1:
                if k < n - 1:
                    d11 = 1.0 / a[k, k]
                    x = a[k + 1:, k].copy()
                    a[k + 1:, k + 1:] -= d11 * np.outer(x, x)
                    a[k + 1:, k] = x * d11
                    a[k, k + 1:] = a[k + 1:, k]
            elif k < n - 2:
                d21 = a[k + 1, k]
                d11 = a[k + 1, k + 1] / d21
                d22 = a[k, k] / d21
                t = 1.0 / (d11 * d22 - 1.0)
                d21 = t / d21
                ak, ak1 = a[k + 2:, k].copy(), a[k + 2:, k + 1].copy()
                wk = d21 * (d11 * ak - ak1)
                wkp1 = d21 * (d22 * ak1 - ak)
                a[k + 2:, k + 2:] -= np.outer(ak, wk) + np.outer(ak1, wkp1)
                a[k + 2:, k], a[k + 2:, k + 1] = wk, wkp1
                a[k, k + 2:], a[k + 1, k + 2:] = wk, wkp1
        if kstep == 1:
            ipiv[k] = kp + 1
        else:
            ipiv[k] = ipiv[k + 1] = -(kp + 1)
        k += kstep
    return np.tril(a), ipiv, info


def ldl_arrays(a) -> tuple:
    """The lower Bunch-Kaufman LDLᵀ factorisation (LAPACK's ``sytf2``) of each (n, n) matrix of the raw array
    ``a`` (..., n, n), reading its lower triangle: ``(LD (..., n, n), 1-based pivots (..., n) int32, info (...)
    int32)`` in ``a``'s array module."""
    xp = array_module(a)
    n = a.shape[-1]
    flat = np.asarray(a).reshape(-1, n, n)
    LD = np.empty_like(flat)
    piv = np.empty(flat.shape[:1] + (n,), dtype=np.int32)
    info = np.empty(flat.shape[0], dtype=np.int32)
    for i, m in enumerate(flat):  # pivoting is data-dependent: one matrix at a time
        LD[i], piv[i], info[i] = _sytf2_lower(m)
    batch = a.shape[:-2]
    return (xp.asarray(LD.reshape(a.shape)), xp.asarray(piv.reshape(batch + (n,))),
            xp.asarray(info.reshape(batch)))


def _check(A: Tensor, hermitian: bool, op: str) -> None:
    check_matrix(A, op)
    if A.dtype.kind == "c":
        raise RuntimeError(f"{op}: complex matrices are not supported")


def ldl_factor_ex(A: Tensor, *, hermitian: bool = False, check_errors: bool = False, out=None) -> tuple:
    """``(LD, pivots, info)`` of ``A = P L D Lᵀ Pᵀ`` read from A's lower triangle (Bunch-Kaufman pivoting).

    Shape: (*, n, n) -> LD (*, n, n), pivots (*, n) int32, info (*) int32.
    """
    _check(A, hermitian, "linalg.ldl_factor_ex")
    LD, piv, info = ldl_arrays(A._data)
    if check_errors and bool((info != 0).any()):
        raise LinAlgError(f"linalg.ldl_factor_ex: the factorization has a zero pivot (info = {int(info.max())})")
    return ldl_factor_ex_result(Tensor._wrap(LD), Tensor._wrap(piv), Tensor._wrap(info))


def ldl_factor(A: Tensor, *, hermitian: bool = False, out=None) -> tuple:
    """``(LD, pivots)``: the LDLᵀ factorisation of symmetric A (lower triangle), LAPACK's packed form;
    ``LinAlgError`` for a singular A.

    Shape: (*, n, n) -> LD (*, n, n), pivots (*, n) int32.
    """
    LD, piv, info = ldl_factor_ex(A, hermitian=hermitian)
    if bool((info._data != 0).any()):
        flat = np.asarray(info._data).reshape(-1)
        b = int(np.flatnonzero(flat)[0])
        where = f"(Batch element {b}): " if A.ndim > 2 else ""
        raise LinAlgError(f"torch.linalg.ldl_factor: {where}D[{int(flat[b])},{int(flat[b])}] is zero: the matrix is "
                          "singular (use linalg.ldl_factor_ex to get the factorization anyway)")
    return ldl_factor_result(LD, piv)


def _sytrs_lower(ld: np.ndarray, ipiv: np.ndarray, b: np.ndarray) -> np.ndarray:
    """X with A X = B from dsytf2's output (LAPACK's dsytrs, uplo = 'L'), one matrix."""
    b = b.copy()
    n = ld.shape[0]
    k = 0
    while k < n:  # L D X = B
        if ipiv[k] > 0:
            kp = ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            b[k + 1:] -= np.outer(ld[k + 1:, k], b[k])
            b[k] /= ld[k, k]
            k += 1
        else:
            kp = -ipiv[k] - 1
            if kp != k + 1:
                b[[k + 1, kp]] = b[[kp, k + 1]]
            b[k + 2:] -= np.outer(ld[k + 2:, k], b[k]) + np.outer(ld[k + 2:, k + 1], b[k + 1])
            akm1k = ld[k + 1, k]
            akm1, ak = ld[k, k] / akm1k, ld[k + 1, k + 1] / akm1k
            denom = akm1 * ak - 1
            bkm1, bk = b[k] / akm1k, b[k + 1] / akm1k
            b[k], b[k + 1] = (ak * bkm1 - bk) / denom, (akm1 * bk - bkm1) / denom
            k += 2
    k = n - 1
    while k >= 0:  # Lᵀ X = B
        if ipiv[k] > 0:
            b[k] -= ld[k + 1:, k] @ b[k + 1:]
            kp = ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            k -= 1
        else:
            b[k] -= ld[k + 1:, k] @ b[k + 1:]
            b[k - 1] -= ld[k + 1:, k - 1] @ b[k + 1:]
            kp = -ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            k -= 2
    return b


def ldl_solve(LD: Tensor, pivots: Tensor, B: Tensor, *, hermitian: bool = False, out=None) -> Tensor:
    """Solve ``A X = B`` from ``ldl_factor``'s output. Shape: LD (*, n, n), B (*, n, k) -> (*, n, k)."""
    op = "linalg.ldl_solve"
    check_matrix(LD, op, name="LD")
    check_matrix(B, op, square=False, name="B")
    n = LD.shape[-1]
    if B.shape[-2] != n:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation AX = B ({n}x{n} and "
                           f"{B.shape[-2]}x{B.shape[-1]})")
    batch = np.broadcast_shapes(LD.shape[:-2], B.shape[:-2])
    xp = LD._xp()
    ld = np.broadcast_to(np.asarray(LD._data), batch + (n, n)).reshape(-1, n, n)
    pv = np.broadcast_to(np.asarray(pivots._data), batch + (n,)).reshape(-1, n)
    b = np.broadcast_to(np.asarray(B._data), batch + tuple(B.shape[-2:])).reshape(-1, n, B.shape[-1])
    x = np.stack([_sytrs_lower(ld[i], pv[i], b[i]) for i in range(ld.shape[0])]) if ld.shape[0] else b.copy()
    return Tensor._wrap(xp.asarray(x.reshape(batch + tuple(B.shape[-2:]))))
