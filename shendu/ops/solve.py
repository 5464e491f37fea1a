"""Factor-and-solve linear algebra: cholesky, solve_triangular, inv, solve, det, slogdet, cholesky_solve.

Each op with a backward of its own (``Cholesky``, ``SolveTriangular``, ``Inv``, ``Solve``, ``Det``,
``SlogDet``, ``CholeskySolve``) writes that backward with shendu ops, so ``create_graph`` gives
second derivatives; the rest (cholesky_inverse, inv_ex, logdet) are compositions. Pseudo-inverses,
least squares and matrix functions are in ``shendu.ops.matrix_functions``.
Errors follow PyTorch's ``torch.linalg.LinAlgError`` messages: the batch element and the pivot or
leading minor that failed.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.grad_mode import is_grad_enabled
from shendu.tensor import Tensor


class LinAlgError(RuntimeError):
    """A linear-algebra routine failed on its input (singular or not positive-definite matrix)."""


cholesky_ex_result = namedtuple("linalg_cholesky_ex", ["L", "info"])
inv_ex_result = namedtuple("linalg_inv_ex", ["inverse", "info"])
slogdet_result = namedtuple("linalg_slogdet", ["sign", "logabsdet"])


# -- checks shared by the linalg families ----------------------------------------------------------
def check_matrix(A, op: str, square: bool = True, name: str = "A") -> None:
    """PyTorch's input checks: a Tensor of >= 2 dims, floating point, square when ``square``."""
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}: expected {name} to be a Tensor, got {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor {name} must have at least 2 dimensions.")
    if A.dtype.kind not in "fc":
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. Got {A.dtype}")
    if square and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{op}: {name} must be batches of square matrices, but they are "
                           f"{A.shape[-2]} by {A.shape[-1]} matrices")
    if A.dtype.kind == "c" and A.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{op}: gradients of complex inputs are not implemented (shendu's linear algebra "
                           "differentiates real matrices; detach the input or use a real dtype)")


def check_same_dtype(A: Tensor, B: Tensor, op: str) -> None:
    """Raise (naming ``op``) unless ``B`` is a Tensor of ``A``'s dtype, as PyTorch's solves do."""
    if not isinstance(B, Tensor):
        raise TypeError(f"{op}: expected B to be a Tensor, got {type(B).__name__}")
    if A.dtype != B.dtype:
        raise RuntimeError(f"{op}: Expected A and B to have the same dtype, but got A's dtype {A.dtype} "
                           f"and B's dtype {B.dtype}")


def _batch_prefix(shape, flat_index: int) -> str:
    return f"(Batch element {flat_index}): " if len(shape) > 2 else ""


def _first_bad_minor(m: np.ndarray) -> int:
    """Order of the first leading minor of ``m`` that is not positive-definite (0: all are)."""
    xp = array_module(m)
    n = m.shape[-1]

    def ok(k: int) -> bool:
        try:
            L = xp.linalg.cholesky(m[:k, :k])
        except np.linalg.LinAlgError:
            return False
        return bool(xp.isfinite(L).all())

    if ok(n):
        return 0
    lo, hi = 1, n  # the answer lies in [lo, hi]: leading minors are PD up to some order, then never
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _first_zero_pivot(m: np.ndarray) -> int:
    """1-based index of the first zero pivot of LU with partial pivoting (LAPACK getrf's info), 0 if none."""
    xp = array_module(m)
    u = m.astype(xp.float64 if m.dtype.kind == "f" else xp.complex128, copy=True)
    n = u.shape[-1]
    for k in range(n):  # Gaussian elimination, one column per step (the failure path only)
        p = k + int(xp.argmax(xp.abs(u[k:, k])))
        if u[p, k] == 0:
            return k + 1
        if p != k:
            u[[k, p]] = u[[p, k]]
        u[k + 1:, k:] -= xp.multiply.outer(u[k + 1:, k] / u[k, k], u[k, k:])
    return 0


def cholesky_arrays(a, check_errors: bool, op: str = "linalg.cholesky"):
    """The lower Cholesky factor of every matrix in ``a`` and LAPACK's info (0, or the failing minor's order)."""
    xp = array_module(a)
    info = xp.zeros(a.shape[:-2], dtype=np.int32)
    try:
        L = xp.linalg.cholesky(a)
        if bool(xp.isfinite(L).all()):  # CuPy returns nan instead of raising
            return L, info
    except np.linalg.LinAlgError:
        pass
    n = a.shape[-1]
    flat = a.reshape(-1, n, n)
    L = xp.zeros_like(flat)
    flat_info = info.reshape(-1)
    for i in range(flat.shape[0]):  # the failure path: find which matrices failed and where
        order = _first_bad_minor(flat[i])
        if order:
            if check_errors:
                raise LinAlgError(f"{op}: {_batch_prefix(a.shape, i)}The factorization could not be completed "
                                  f"because the input is not positive-definite (the leading minor of order "
                                  f"{order} is not positive-definite).")
            flat_info[i] = order
        else:
            L[i] = xp.linalg.cholesky(flat[i])
    return L.reshape(a.shape), flat_info.reshape(info.shape)


def _raise_singular_inverse(a, op: str):
    n = a.shape[-1]
    flat = a.reshape(-1, n, n)
    for i in range(flat.shape[0]):
        pivot = _first_zero_pivot(flat[i])
        if pivot:
            raise LinAlgError(f"{op}: {_batch_prefix(a.shape, i)}The diagonal element {pivot} is zero, the "
                              "inversion could not be completed because the input matrix is singular.")
    raise LinAlgError(f"{op}: the inversion could not be completed because the input matrix is singular.")


# -- cholesky ---------------------------------------------------------------------------------------
class Cholesky(Function):
    """The Cholesky factor (lower, or its transpose with ``upper``) of symmetric positive-definite matrices."""

    saved_inputs = ()  # backward reads the factor only

    def forward(ctx, a, *, upper, check_errors):
        ctx.upper = upper
        if upper:  # PyTorch reads the upper triangle then: the lower one of the transpose
            L, info = cholesky_arrays(a.swapaxes(-1, -2), check_errors)
            ctx.info = info
            return L.swapaxes(-1, -2).copy()
        L, ctx.info = cholesky_arrays(a, check_errors)
        return L

    def backward(ctx, grad):
        L = ctx.output
        if ctx.upper:
            L, grad = L.mT, grad.mT
        # PyTorch's formula: gA = L^-T Phi(L^T gL) L^-1, Phi symmetrising the lower triangle (diagonal halved)
        gA = (L.mT @ grad).tril()
        gA = 0.5 * (gA + gA.tril(-1).mT)
        gA = solve_triangular(L.mT, gA, upper=True, left=True)
        return solve_triangular(L, gA, upper=False, left=False)


def cholesky(A: Tensor, *, upper: bool = False, out: Tensor | None = None) -> Tensor:
    """Cholesky factor ``L`` of a symmetric positive-definite ``A = L L^T`` (``upper``: ``U = L^T``, ``A = U^T U``).

    Reads only the lower (``upper``: upper) triangle of A. Raises ``LinAlgError`` naming the batch
    element and the first leading minor that is not positive-definite.

    Shape: (*, n, n) -> (*, n, n).
    """
    check_matrix(A, "linalg.cholesky")
    result = Cholesky.apply(A, upper=bool(upper), check_errors=True)
    return _write_out(out, result, "linalg.cholesky")


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False) -> tuple:
    """``(L, info)``: the Cholesky factor and LAPACK's info per matrix (0 on success, else the order of
    the first leading minor that is not positive-definite; that matrix's ``L`` is then zeros).

    Shape: (*, n, n) -> L (*, n, n), info (*) int32.
    """
    check_matrix(A, "linalg.cholesky_ex")
    L = Cholesky.apply(A, upper=bool(upper), check_errors=bool(check_errors))
    info = L._ctx.info if L._ctx is not None else _info_of(A, upper)
    return cholesky_ex_result(L, Tensor._wrap(info))


def _info_of(A: Tensor, upper: bool):
    a = A._data.swapaxes(-1, -2) if upper else A._data
    return cholesky_arrays(a, False)[1]


def _cholesky_legacy(input: Tensor, upper: bool = False) -> Tensor:
    """``torch.cholesky(input, upper=False)`` (the deprecated spelling of ``linalg.cholesky``)."""
    return cholesky(input, upper=upper)


# -- triangular solves ------------------------------------------------------------------------------
def _triangle(a, upper: bool, unitriangular: bool):
    xp = array_module(a)
    t = xp.triu(a) if upper else xp.tril(a)
    if unitriangular:
        t = t.copy() if t is a else t
        idx = xp.arange(a.shape[-1])
        t[..., idx, idx] = 1
    return t


def _solve_arrays(a, b, op: str):
    xp = array_module(a)
    try:
        if a.ndim == 2 and b.ndim > 2:  # one matrix, many right-hand sides: one factorisation, not one per batch
            n, k = b.shape[-2], b.shape[-1]
            cols = xp.moveaxis(b, -2, 0).reshape(n, -1)  # (n, batch * k)
            x = xp.linalg.solve(a, cols)
            return xp.moveaxis(x.reshape((n,) + b.shape[:-2] + (k,)), 0, -2)
        return xp.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        n = a.shape[-1]
        flat = xp.broadcast_to(a, np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (n, n)).reshape(-1, n, n)
        for i in range(flat.shape[0]):
            if _first_zero_pivot(flat[i]):
                raise LinAlgError(f"{op}: {_batch_prefix(a.shape if a.ndim > 2 else b.shape, i)}The solver "
                                  "failed because the input matrix is singular.") from None
        raise LinAlgError(f"{op}: The solver failed because the input matrix is singular.") from None


class SolveTriangular(Function):
    """``X`` with ``A X = B`` (``left``) or ``X A = B``, A triangular (the other triangle is ignored)."""

    def forward(ctx, a, b, *, upper, left, unitriangular):
        ctx.upper, ctx.left, ctx.unitriangular = upper, left, unitriangular
        t = _triangle(a, upper, unitriangular)
        xp = array_module(a)
        with np.errstate(all="ignore"):
            if left:
                out = _solve_arrays(t, b, "linalg.solve_triangular")
            else:
                out = _solve_arrays(t.swapaxes(-1, -2), b.swapaxes(-1, -2), "linalg.solve_triangular")
                out = out.swapaxes(-1, -2)
        return xp.ascontiguousarray(out)

    def backward(ctx, grad):
        A, _ = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        X = ctx.output
        gB = solve_triangular(A.mT, grad, upper=not ctx.upper, left=ctx.left, unitriangular=ctx.unitriangular)
        gA = None
        if need_a:
            gA = -(gB @ X.mT) if ctx.left else -(X.mT @ gB)
            k = 1 if ctx.unitriangular else 0
            gA = gA.triu(k) if ctx.upper else gA.tril(-k)
        return gA, (gB if need_b else None)


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True, unitriangular: bool = False,
                     out: Tensor | None = None) -> Tensor:
    """Solve ``A X = B`` (``left=False``: ``X A = B``) for a triangular A; only A's ``upper`` (or lower)
    triangle is read, and its diagonal is taken as ones with ``unitriangular``. Batch dims broadcast.

    Shape: A (*, n, n), B (*, n, k) (``left=False``: (*, k, n)) -> X of B's shape (batch dims broadcast).
    """
    op = "linalg.solve_triangular"
    check_matrix(A, op)
    check_matrix(B, op, square=False, name="B")
    check_same_dtype(A, B, op)
    n = A.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({A.shape[-2]}x{n} and "
                           f"{B.shape[-2]}x{B.shape[-1]})")
    result = SolveTriangular.apply(A, B, upper=bool(upper), left=bool(left), unitriangular=bool(unitriangular))
    return _write_out(out, result, op)


# -- inverse and solve ------------------------------------------------------------------------------
class Inv(Function):
    """``A^{-1}``; backward ``-A^{-T} g A^{-T}`` from the output."""

    saved_inputs = ()

    def forward(ctx, a):
        xp = array_module(a)
        try:
            out = xp.linalg.inv(a)
        except np.linalg.LinAlgError:
            _raise_singular_inverse(a, "linalg.inv")
        return out

    def backward(ctx, grad):
        X = ctx.output
        return -(X.mT @ grad @ X.mT)


def inv(A: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The inverse of each square matrix in A; ``LinAlgError`` naming the zero pivot for singular ones.

    Shape: (*, n, n) -> (*, n, n).
    """
    check_matrix(A, "linalg.inv")
    return _write_out(out, Inv.apply(A), "linalg.inv")


def inv_ex(A: Tensor, *, check_errors: bool = False) -> tuple:
    """``(inverse, info)``: info is 0, or the 1-based index of the first zero pivot (then the inverse is nan)."""
    check_matrix(A, "linalg.inv_ex")
    n = A.shape[-1]
    xp = A._xp()
    flat = A._data.reshape(-1, n, n)
    info = np.array([_first_zero_pivot(m) for m in flat] if not _invertible(A._data) else [0] * flat.shape[0],
                    dtype=np.int32).reshape(A.shape[:-2])
    if info.any():
        if check_errors:
            _raise_singular_inverse(A._data, "linalg.inv_ex")
        fixed = xp.where(xp.asarray(info != 0)[..., None, None], xp.eye(n, dtype=A.dtype), A._data)
        result = inv(Tensor._wrap(fixed))
        result = Tensor._wrap(xp.where(xp.asarray(info != 0)[..., None, None], xp.nan, result._data))
        return inv_ex_result(result, Tensor._wrap(xp.asarray(info)))
    return inv_ex_result(inv(A), Tensor._wrap(xp.asarray(info)))


def _invertible(a) -> bool:
    xp = array_module(a)
    try:
        xp.linalg.inv(a)
        return True
    except np.linalg.LinAlgError:
        return False


def inverse(input: Tensor) -> Tensor:
    """``torch.inverse``: the same as ``linalg.inv``."""
    return inv(input)


class Solve(Function):
    """``X = A^{-1} B`` for square A; B's batch dims broadcast with A's."""

    def forward(ctx, a, b):
        return _solve_arrays(a, b, "torch.linalg.solve")

    def backward(ctx, grad):
        A, _ = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        gB = solve(A.mT, grad)
        gA = -(gB @ ctx.output.mT) if need_a else None
        return gA, (gB if need_b else None)


def _vector_rhs(A: Tensor, B: Tensor) -> bool:
    """PyTorch's rule: B is a (batch of) vector(s) when 1-D, or when it has A's shape without the last dim."""
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


def solve(A: Tensor, B: Tensor, *, left: bool = True, out: Tensor | None = None) -> Tensor:
    """Solve ``A X = B`` (``left=False``: ``X A = B``) for square, invertible A; batch dims broadcast.

    B may be a vector (or a batch of vectors of A's batch shape). Raises ``LinAlgError`` for a singular A.

    Shape: A (*, n, n), B (*, n, k) or (*, n) -> X of B's shape (batch dims broadcast).
    """
    op = "linalg.solve"
    check_matrix(A, op)
    if not isinstance(B, Tensor):
        raise TypeError(f"{op}: expected B to be a Tensor, got {type(B).__name__}")
    check_same_dtype(A, B, op)
    vector = _vector_rhs(A, B)
    if not left:
        if vector:
            raise RuntimeError(f"{op}: Vector broadcasting of the left hand side is not supported for "
                               "left=False. In this case linalg.solve is equivalent to B / A.squeeze(-1)")
        return _write_out(out, solve(A.mT, B.mT).mT, op)
    b = B.unsqueeze(-1) if vector else B
    n = A.shape[-1]
    if b.shape[-2] != n:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation AX = B "
                           f"({A.shape[-2]}x{n} and {b.shape[-2]}x{b.shape[-1]})")
    x = Solve.apply(A, b)
    return _write_out(out, x.squeeze(-1) if vector else x, op)


# -- determinants -------------------------------------------------------------------------------------
class Det(Function):
    """``det(A)``; gradient ``g det(A) A^{-T}``, through the SVD where A is singular."""

    def forward(ctx, a):
        return array_module(a).linalg.det(a)

    def backward(ctx, grad):
        (A,) = ctx.inputs
        d = ctx.output
        if bool((d._data != 0).all()):
            return (grad * d).unsqueeze(-1).unsqueeze(-1) * inv(A).mT
        # singular somewhere: d det / dA = det(U) det(V) U diag(prod_{j != i} s_j) V^T
        from shendu.ops.decompositions import svd
        U, S, Vh = svd(A)
        xp = A._xp()
        signs = Tensor._wrap((xp.linalg.det(U._data) * xp.linalg.det(Vh._data)).astype(A.dtype))
        n = A.shape[-1]
        eye = Tensor._wrap(xp.eye(n, dtype=bool))
        others = S.unsqueeze(-2).expand(*S.shape[:-1], n, n).where(~eye, 1.0).prod(-1)
        cof = (U * (signs.unsqueeze(-1) * others).unsqueeze(-2)) @ Vh
        return grad.unsqueeze(-1).unsqueeze(-1) * cof


def det(A: Tensor, *, out: Tensor | None = None) -> Tensor:
    """Determinant of each square matrix. Shape: (*, n, n) -> (*)."""
    check_matrix(A, "linalg.det")
    return _write_out(out, Det.apply(A), "linalg.det")


class SlogDet(Function):
    """``(sign, log|det(A)|)``; the gradient comes through logabsdet only (``g A^{-T}``), as in PyTorch."""

    _materialize_grads = False

    def forward(ctx, a):
        return tuple(array_module(a).linalg.slogdet(a))

    def backward(ctx, grad_sign, grad):
        if grad is None:
            return None
        (A,) = ctx.inputs
        return grad.unsqueeze(-1).unsqueeze(-1) * inv(A).mT


def slogdet(A: Tensor, *, out=None) -> tuple:
    """``(sign, logabsdet)`` of ``det(A)``: overflow-safe for large matrices; the sign gets no gradient.

    Shape: (*, n, n) -> sign (*), logabsdet (*).
    """
    check_matrix(A, "linalg.slogdet")
    result = slogdet_result(*SlogDet.apply(A))
    if out is not None:
        for o, r in zip(out, result):
            _write_out(o, r, "linalg.slogdet")
        return slogdet_result(*out)
    return result


def logdet(input: Tensor) -> Tensor:
    """``log(det(A))``: nan where the determinant is negative, -inf where it is zero."""
    check_matrix(input, "logdet")
    sign, logabs = slogdet(input)
    return logabs.where(sign >= 0, float("nan"))


# -- Cholesky-based solves ----------------------------------------------------------------------------
class CholeskySolve(Function):
    """``X = (L L^T)^{-1} B`` (``upper``: ``(U^T U)^{-1} B``) from a Cholesky factor; PyTorch's gradients."""

    def forward(ctx, b, l, *, upper):
        ctx.upper = upper
        lower = l.swapaxes(-1, -2) if upper else l
        with np.errstate(all="ignore"):
            y = _solve_arrays(array_module(l).tril(lower), b, "cholesky_solve")
            return _solve_arrays(array_module(l).tril(lower).swapaxes(-1, -2), y, "cholesky_solve")

    def backward(ctx, grad):
        _, L = ctx.inputs
        need_b, need_l = ctx.needs_input_grad
        gB = cholesky_solve(grad, L, upper=ctx.upper)
        gL = None
        if need_l:
            X = ctx.output
            common = gB @ X.mT
            common = common + common.mT
            gL = -(L @ common) if ctx.upper else -(common @ L)
        return (gB if need_b else None), gL


def cholesky_solve(B: Tensor, L: Tensor, upper: bool = False, *, out: Tensor | None = None) -> Tensor:
    """``torch.cholesky_solve(B, L, upper=False)``: solve ``A X = B`` given A's Cholesky factor L.

    Shape: B (*, n, k), L (*, n, n) -> (*, n, k).
    """
    op = "cholesky_solve"
    check_matrix(L, op, name="L")
    check_matrix(B, op, square=False, name="B")
    check_same_dtype(L, B, op)
    if B.shape[-2] != L.shape[-1]:
        raise RuntimeError(f"{op}: Incompatible matrix sizes for cholesky_solve: each A matrix is "
                           f"{L.shape[-1]} by {L.shape[-1]} but each b matrix is {B.shape[-2]} by {B.shape[-1]}")
    return _write_out(out, CholeskySolve.apply(B, L, upper=bool(upper)), op)


def cholesky_inverse(L: Tensor, upper: bool = False, *, out: Tensor | None = None) -> Tensor:
    """``torch.cholesky_inverse``: ``(L L^T)^{-1}`` from a Cholesky factor. Shape: (*, n, n) -> (*, n, n)."""
    check_matrix(L, "cholesky_inverse", name="L")
    xp = L._xp()
    eye = Tensor._wrap(xp.broadcast_to(xp.eye(L.shape[-1], dtype=L.dtype), L.shape).copy())
    return _write_out(out, cholesky_solve(eye, L, upper), "cholesky_inverse")


def _write_out(out, result: Tensor, op: str) -> Tensor:
    if out is None:
        return result
    from shendu.autograd.inplace import write_out
    return write_out(out, result, op)


triangular_solve_result = namedtuple("triangular_solve", ["solution", "cloned_coefficient"])


def triangular_solve(b: Tensor, A: Tensor, upper: bool = True, transpose: bool = False,
                     unitriangular: bool = False) -> tuple:
    """``torch.triangular_solve`` (deprecated in PyTorch for ``linalg.solve_triangular``): X with
    ``A X = b`` (``transpose``: ``Aᵀ X = b``), returned with a copy of A."""
    coefficient = A.mT if transpose else A
    solution = solve_triangular(coefficient, b, upper=bool(upper) != bool(transpose), unitriangular=unitriangular)
    return triangular_solve_result(solution, A.clone())
