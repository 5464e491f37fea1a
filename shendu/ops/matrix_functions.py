"""Pseudo-inverses, least squares and functions of a matrix: pinv, lstsq, matrix_power, matrix_exp,
tensorinv, tensorsolve, vecdot, vander, solve_ex.

``Pinv`` and ``MatrixExp`` have backward formulas of their own (PyTorch's pinv_backward; the block-matrix
identity for the exponential's adjoint), written in shendu ops; lstsq is ``pinv(A) @ B``, so its
gradient is PyTorch's (which also goes through the pseudo-inverse).
"""
from __future__ import annotations

import operator
from collections import namedtuple

import numpy as np

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.ops.solve import LinAlgError, _write_out, check_matrix, inv, solve
from shendu.tensor import Tensor

lstsq_result = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])
solve_ex_result = namedtuple("linalg_solve_ex", ["result", "info"])


# -- pseudo-inverse, least squares, powers --------------------------------------------------------------
def default_rtol(A: Tensor, atol, rtol):
    """PyTorch's tolerance rule: rtol = eps * max(m, n) unless given, and 0 when only a positive atol is."""
    if rtol is None:
        atol_positive = atol is not None and (
            bool((atol._data > 0).any()) if isinstance(atol, Tensor) else atol > 0)
        rtol = 0.0 if atol_positive else float(np.finfo(A.dtype).eps) * max(A.shape[-2], A.shape[-1])
    return 0.0 if atol is None else atol, rtol


def _raw(v, xp):
    return v._data if isinstance(v, Tensor) else v


class Pinv(Function):
    """Moore-Penrose pseudo-inverse through the SVD (eigh with ``hermitian``); PyTorch's pinv_backward."""

    def forward(ctx, a, *, atol, rtol, hermitian):
        xp = array_module(a)
        if hermitian:
            w, V = xp.linalg.eigh(a)
            s = xp.abs(w)
            smax = s.max(-1, keepdims=True) if s.shape[-1] else s
        else:
            U, s, Vh = xp.linalg.svd(a, full_matrices=False)
            smax = s[..., :1]
        atol, rtol = xp.asarray(atol, dtype=a.dtype)[..., None], xp.asarray(rtol, dtype=a.dtype)[..., None]
        thresh = xp.maximum(atol, rtol * smax)
        keep = s > thresh
        with np.errstate(divide="ignore"):
            if hermitian:
                inv_w = xp.where(keep, 1 / xp.where(keep, w, 1), 0).astype(a.dtype)
                return (V * inv_w[..., None, :]) @ V.swapaxes(-1, -2).conj()
            inv_s = xp.where(keep, 1 / xp.where(keep, s, 1), 0).astype(a.dtype)
        return Vh.swapaxes(-1, -2).conj() @ (inv_s[..., :, None] * U.swapaxes(-1, -2).conj())

    def backward(ctx, grad):
        (A,) = ctx.inputs
        P = ctx.output
        m, n = A.shape[-2], A.shape[-1]
        Ph, gh = P.mT, grad.mT
        if m <= n:
            K = gh @ P
            KPh = K @ Ph
            gA = -(P @ K).mT + KPh - (A @ P) @ KPh + (Ph @ P) @ (gh - K @ A)
        else:
            K = P @ gh
            PhK = Ph @ K
            gA = -(K @ P).mT + (gh - A @ K) @ P @ Ph + PhK - PhK @ P @ A
        return gA


def pinv(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False, out: Tensor | None = None) -> Tensor:
    """Moore-Penrose pseudo-inverse: singular values at most ``max(atol, rtol * sigma_max)`` count as zero
    (rtol defaults to ``eps * max(m, n)``, or 0 when only a positive atol is given).

    Shape: (*, m, n) -> (*, n, m).
    """
    check_matrix(A, "linalg.pinv", square=hermitian)
    atol, rtol = default_rtol(A, atol, rtol)
    xp = A._xp()
    result = Pinv.apply(A, atol=_raw(atol, xp), rtol=_raw(rtol, xp), hermitian=bool(hermitian))
    return _write_out(out, result, "linalg.pinv")


def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """``torch.pinverse(input, rcond=1e-15)``: ``linalg.pinv`` with ``rtol=rcond``."""
    return pinv(input, rtol=rcond)


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A: Tensor, B: Tensor, rcond: float | None = None, *, driver: str | None = None) -> tuple:
    """Least-squares solution of ``A X = B``: ``(solution, residuals, rank, singular_values)``.

    The solution is the minimum-norm one, ``pinv(A) @ B`` with singular values below ``rcond *
    sigma_max`` (default ``eps * max(m, n)``) dropped; its gradient is PyTorch's (through pinv).
    ``residuals`` (squared, per column) is filled when m > n, A has full rank and the driver is not
    'gelsy'; ``rank`` for every driver but 'gels'; ``singular_values`` for 'gelsd' and 'gelss'.

    Shape: A (*, m, n), B (*, m, k) or (*, m) -> solution (*, n, k) or (*, n).
    """
    op = "torch.linalg.lstsq"
    check_matrix(A, op, square=False)
    if not isinstance(B, Tensor):
        raise TypeError(f"{op}: expected B to be a Tensor, got {type(B).__name__}")
    if A.dtype != B.dtype:
        raise RuntimeError(f"{op}: Expected input and other to have the same dtype, but got input's dtype "
                           f"{A.dtype} and other's dtype {B.dtype}")
    if not (0 <= A.ndim - B.ndim <= 1):
        raise RuntimeError(f"{op}: input.dim() must be greater or equal to other.dim() and "
                           f"(input.dim() - other.dim()) <= 1 (got {A.ndim} and {B.ndim})")
    driver = "gelsy" if driver is None else driver
    if driver not in _DRIVERS:
        raise RuntimeError(f"{op}: parameter `driver` should be one of {_DRIVERS}, got {driver!r}")
    vector = B.ndim == A.ndim - 1
    b = B.unsqueeze(-1) if vector else B
    m, n = A.shape[-2], A.shape[-1]
    if b.shape[-2] != m:
        raise RuntimeError(f"{op}: input.size(-2) should match other.size(-2) (got {m} and {b.shape[-2]})")
    if rcond is None:
        rcond = float(np.finfo(A.dtype).eps) * max(m, n)
    P = pinv(A, rtol=rcond)
    X = P @ b
    xp = A._xp()
    s = xp.linalg.svd(A._data, compute_uv=False)
    thresh = rcond * (s[..., :1] if s.shape[-1] else s)
    rank_arr = (s > thresh).sum(-1).astype(np.int64)
    empty = Tensor._wrap(xp.zeros(0, dtype=A.dtype))
    residuals = empty
    if driver != "gelsy" and m > n and bool((rank_arr == n).all()):
        residuals = ((A @ X - b) ** 2).sum(-2)
        if vector:
            residuals = residuals.squeeze(-1)
    rank = Tensor._wrap(xp.asarray(rank_arr)) if driver != "gels" else Tensor._wrap(xp.zeros(0, dtype=np.int64))
    sv = Tensor._wrap(s) if driver in ("gelsd", "gelss") else empty
    return lstsq_result(X.squeeze(-1) if vector else X, residuals, rank, sv)


def matrix_power(A: Tensor, n: int, *, out: Tensor | None = None) -> Tensor:
    """``A`` to an integer power by repeated squaring; negative powers invert first, 0 gives the identity.

    Shape: (*, m, m) -> (*, m, m).
    """
    op = "linalg.matrix_power"
    if not isinstance(A, Tensor) or A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        shape = getattr(A, "shape", None)
        raise RuntimeError(f"{op}: A must be batches of square matrices, got shape {shape}")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{op}: n must be an integer, got {type(n).__name__}") from None
    if n == 0:
        xp = A._xp()
        return _write_out(out, Tensor._wrap(xp.broadcast_to(xp.eye(A.shape[-1], dtype=A.dtype), A.shape).copy()), op)
    base = inv(A) if n < 0 else A
    n = abs(n)
    result = None
    while n:  # binary powering: log2(n) products
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return _write_out(out, result, op)


# -- the matrix exponential -------------------------------------------------------------------------
_THETA13 = 5.371920351148152  # Higham's bound on the 1-norm for the [13/13] Padé approximant
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0, 129060195264000.0,
           10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0)


def _expm_arrays(a):
    """exp of each square matrix: scaling and squaring with the [13/13] Padé approximant (Higham 2005)."""
    xp = array_module(a)
    n = a.shape[-1]
    norm1 = xp.abs(a).sum(-2).max(-1) if n else xp.zeros(a.shape[:-2])
    s = xp.maximum(0, xp.ceil(xp.log2(xp.maximum(norm1, 1e-300) / _THETA13))).astype(np.int64)
    a = a / (2.0 ** s)[..., None, None].astype(a.dtype)
    eye = xp.broadcast_to(xp.eye(n, dtype=a.dtype), a.shape)
    b = _PADE13
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    r = xp.linalg.solve(v - u, v + u)
    for k in range(int(s.max()) if s.size else 0):  # square back up, each matrix its own number of times
        squared = r @ r
        r = xp.where((s > k)[..., None, None], squared, r)
    return r


class MatrixExp(Function):
    """``exp(A) = Σ A^k / k!``; backward: the top-right block of exp([[Aᵀ, G], [0, Aᵀ]])."""

    saved_inputs = (0,)

    def forward(ctx, a):
        return _expm_arrays(a)

    def backward(ctx, grad):
        (A,) = ctx.inputs
        n = A.shape[-1]
        from shendu.ops.shape import cat
        zeros = Tensor._wrap(A._xp().zeros(A.shape, dtype=A.dtype)).expand(*grad.shape[:-2], n, n)
        At = A.mT.expand(*grad.shape[:-2], n, n)
        block = cat([cat([At, grad], -1), cat([zeros, At], -1)], -2)  # (*, 2n, 2n)
        return matrix_exp(block).narrow(-2, 0, n).narrow(-1, n, n)


def matrix_exp(A: Tensor) -> Tensor:
    """The matrix exponential ``Σ_k A^k / k!`` of each square matrix (differentiable, twice as well).

    Shape: (*, n, n) -> (*, n, n).
    """
    check_matrix(A, "linalg.matrix_exp")
    return MatrixExp.apply(A)


# -- tensor equations, vectors, Vandermonde ---------------------------------------------------------------
def tensorinv(A: Tensor, ind: int = 2, *, out: Tensor | None = None) -> Tensor:
    """The inverse of A for ``tensordot(A, X, ind)``: A reshaped to (prod(shape[:ind]), prod(shape[ind:])) and
    inverted. Shape: A (*I, *J) with prod(I) = prod(J) -> (*J, *I)."""
    op = "linalg.tensorinv"
    if ind <= 0:
        raise RuntimeError(f"{op}: Expected a strictly positive integer for 'ind', but got {ind}")
    left, right = A.shape[:ind], A.shape[ind:]
    rows, cols = int(np.prod(left)), int(np.prod(right))
    if rows != cols:
        raise RuntimeError(f"{op}: Expected self to satisfy the requirement prod(self.shape[ind:]) == "
                           f"prod(self.shape[:ind]), but got {cols} != {rows}")
    return _write_out(out, inv(A.reshape(rows, cols)).reshape(*right, *left), op)


def tensorsolve(A: Tensor, B: Tensor, dims=None, *, out: Tensor | None = None) -> Tensor:
    """X with ``tensordot(A, X, X.ndim) = B``: A's leading dims match B's, the rest are X's shape.
    ``dims`` moves those dims of A to the end first."""
    op = "linalg.tensorsolve"
    if dims is not None:
        dims = [d % A.ndim for d in dims]
        keep = [d for d in range(A.ndim) if d not in dims]
        A = A.permute(*keep, *dims)
    x_shape = A.shape[B.ndim:]
    rows, cols = int(np.prod(B.shape)), int(np.prod(x_shape))
    if rows != cols or tuple(A.shape[:B.ndim]) != tuple(B.shape):
        raise RuntimeError(f"{op}: Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == "
                           f"prod(self.shape[:other.ndim]) with other's shape {tuple(B.shape)}, got A of shape "
                           f"{tuple(A.shape)}")
    return _write_out(out, solve(A.reshape(rows, cols), B.reshape(rows)).reshape(*x_shape), op)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1, out: Tensor | None = None) -> Tensor:
    """The dot product of vectors along ``dim`` (batch dims broadcast): ``(x * y).sum(dim)`` for real tensors."""
    return _write_out(out, (x * y).sum(dim), "linalg.vecdot")


def vander(x: Tensor, *, N: int | None = None) -> Tensor:
    """The Vandermonde matrix with increasing powers ``[1, x, x², ..., x^(N-1)]`` in the last dim.

    Shape: (*, n) -> (*, n, N) (N defaults to n).
    """
    if x.ndim < 1:
        raise RuntimeError("linalg.vander: x must have at least one dimension")
    N = x.shape[-1] if N is None else operator.index(N)
    if N <= 0:
        raise RuntimeError(f"linalg.vander: N must be greater than 0, got {N}")
    if N == 1:
        return x.unsqueeze(-1) ** 0
    from shendu.ops.scan import cumprod
    from shendu.ops.shape import cat
    powers = cumprod(x.unsqueeze(-1).expand(*x.shape, N - 1), -1)
    return cat([powers.narrow(-1, 0, 1) ** 0, powers], -1)


def vander_legacy(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:
    """``torch.vander(x, N=None, increasing=False)``: the powers of a 1-D x, decreasing unless ``increasing``.

    Shape: (n,) -> (n, N).
    """
    if x.ndim != 1:
        raise RuntimeError(f"vander: x must be a one-dimensional tensor, got {x.ndim} dims")
    out = vander(x, N=N)
    return out if increasing else out.flip(-1)


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False) -> tuple:
    """``(result, info)``: ``linalg.solve`` with LAPACK's info (0, or the 1-based index of the first zero pivot)
    per matrix instead of an error (the result is then nan) unless ``check_errors``."""
    from shendu.ops.solve import _first_zero_pivot
    check_matrix(A, "linalg.solve_ex")
    n = A.shape[-1]
    xp = A._xp()
    flat = A._data.reshape(-1, n, n)
    try:
        xp.linalg.inv(A._data)
        info = np.zeros(flat.shape[0], dtype=np.int32)
    except np.linalg.LinAlgError:
        info = np.array([_first_zero_pivot(m) for m in flat], dtype=np.int32)
    info = info.reshape(A.shape[:-2])
    if not info.any():
        return solve_ex_result(solve(A, B, left=left), Tensor._wrap(xp.asarray(info)))
    if check_errors:
        raise LinAlgError("linalg.solve_ex: The solver failed because the input matrix is singular.")
    bad = xp.asarray(info != 0)[..., None, None]
    fixed = Tensor._wrap(xp.where(bad, xp.eye(n, dtype=A.dtype), A._data))
    x = solve(fixed, B, left=left)
    mask = bad if x.ndim == A.ndim else bad[..., 0]
    return solve_ex_result(Tensor._wrap(xp.where(mask, xp.nan, x._data)), Tensor._wrap(xp.asarray(info)))
