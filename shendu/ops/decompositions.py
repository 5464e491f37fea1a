"""Matrix decompositions: svd, svdvals, eigh, eigvalsh, eig, eigvals, qr (and torch.svd / torch.qr), and
LAPACK's Householder form of QR (geqrf, householder_product / orgqr, ormqr).

``SVD``, ``Eigh`` and ``QR`` have backward formulas of their own, PyTorch's (gauge-invariant for the
singular and eigen vectors: only the parts of their gradients a gauge-invariant loss can produce
are used), written with shendu ops so that ``create_graph`` differentiates them again. Repeated
singular values or eigenvalues make those formulas divide by zero: as in PyTorch, the gradient is
then inf/nan unless the loss depends on the vectors only through invariant subspaces.

``eig``/``eigvals`` return complex tensors (PyTorch's contract); their gradient is computed on raw
arrays (no double backward).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from shendu.autograd.function import Function, once_differentiable
from shendu.backend import array_module
from shendu.ops.solve import check_matrix, solve_triangular
from shendu.tensor import Tensor

svd_result = namedtuple("linalg_svd", ["U", "S", "Vh"])
svd_legacy_result = namedtuple("svd", ["U", "S", "V"])
eigh_result = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
eig_result = namedtuple("linalg_eig", ["eigenvalues", "eigenvectors"])
qr_result = namedtuple("linalg_qr", ["Q", "R"])
qr_legacy_result = namedtuple("qr", ["Q", "R"])
geqrf_result = namedtuple("geqrf", ["a", "tau"])


def _keep_outputs(outs: tuple) -> tuple:
    """Let a several-output node's backward read all its outputs (the caller may keep only some)."""
    ctx = next((o._ctx for o in outs if o._ctx is not None), None)
    if ctx is not None:
        ctx.outs = outs
    return outs


def _write_outs(out, result, op: str):
    """Copy ``result`` (a Tensor or a namedtuple of them) into the caller's ``out`` tensor(s)."""
    if out is None:
        return result
    from shendu.autograd.inplace import write_out
    if isinstance(result, Tensor):
        return write_out(out, result, op)
    if len(out) != len(result):
        raise TypeError(f"{op}: out must be a tuple of {len(result)} tensors, got {len(out)}")
    return type(result)(*(write_out(o, r, op) for o, r in zip(out, result)))


def _refuse_repeated(keys, op: str, what: str, values) -> None:
    """Raise where the vector gradient's formula would divide by zero: two equal ``keys`` in one matrix.

    PyTorch returns inf/nan there (and warns in its documentation); the gradient of the vectors is not
    defined at a repeated value, so a clear error is more useful than a nan in the parameters.
    """
    if keys.shape[-1] < 2:
        return
    xp = array_module(keys)
    ordered = xp.sort(keys, axis=-1)
    equal = ordered[..., 1:] == ordered[..., :-1]
    if bool(equal.any()):
        flat = xp.sort(values, axis=-1).reshape(-1, values.shape[-1])
        b, i = (int(v) for v in np.argwhere(equal.reshape(-1, keys.shape[-1] - 1))[0])
        where = f" (batch element {b})" if keys.ndim > 1 else ""
        raise RuntimeError(f"{op}: backward through the vectors is not defined: the {what} are repeated"
                           f"{where} ({float(flat[b, i])!r} twice); only losses of the {what} themselves (or "
                           f"of their invariant subspaces, computed another way) are differentiable there")


# -- SVD ------------------------------------------------------------------------------------------
class SVD(Function):
    """``A = U diag(S) Vh``; PyTorch's svd_backward (full matrices use their first min(m, n) vectors)."""

    saved_inputs = ()
    _materialize_grads = False  # None for unused outputs: svdvals' gradient skips the vector terms

    def forward(ctx, a, *, full_matrices):
        xp = array_module(a)
        with np.errstate(all="ignore"):
            U, S, Vh = xp.linalg.svd(a, full_matrices=full_matrices)
        ctx.full_matrices = full_matrices
        return U, S, Vh

    def backward(ctx, gU, gS, gVh):
        U, S, Vh = ctx.outs
        k = S.shape[-1]
        if ctx.full_matrices:
            U, Vh = U.narrow(-1, 0, k), Vh.narrow(-2, 0, k)
            gU = gU.narrow(-1, 0, k) if gU is not None else None
            gVh = gVh.narrow(-2, 0, k) if gVh is not None else None
        m, n = U.shape[-2], Vh.shape[-1]
        if gU is None and gVh is None:
            if gS is None:
                return None
            return U @ (gS.unsqueeze(-1) * Vh) if m >= n else (U * gS.unsqueeze(-2)) @ Vh
        UhgU = None if gU is None else U.mT @ gU
        VhgV = None if gVh is None else Vh @ gVh.mT
        UhgU = None if UhgU is None else UhgU - UhgU.mT
        VhgV = None if VhgV is None else VhgV - VhgV.mT
        _refuse_repeated(S._data ** 2, "linalg.svd", "singular values", S._data)
        S2 = S * S
        xp = S._xp()
        eye = Tensor._wrap(xp.eye(k, dtype=S.dtype))
        E = S2.unsqueeze(-2) - S2.unsqueeze(-1) + eye  # E[i, j] = S_j^2 - S_i^2, 1 on the diagonal
        if gU is not None and gVh is not None:
            gA = (UhgU * S.unsqueeze(-2) + S.unsqueeze(-1) * VhgV) / E
        elif gVh is None:
            gA = (UhgU / E) * S.unsqueeze(-2)
        else:
            gA = S.unsqueeze(-1) * (VhgV / E)
        if gS is not None:
            gA = gA + gS.diag_embed()
        if m > n and gU is not None:
            gA = U @ gA
            gUSinv = gU / S.unsqueeze(-2)
            gA = gA + gUSinv - U @ (U.mT @ gUSinv)
            return gA @ Vh
        if m < n and gVh is not None:
            gA = gA @ Vh
            SinvgVh = gVh / S.unsqueeze(-1)
            gA = gA + SinvgVh - (SinvgVh @ Vh.mT) @ Vh
            return U @ gA
        return U @ (gA @ Vh) if m >= n else (U @ gA) @ Vh


def svd(A: Tensor, full_matrices: bool = True, *, driver: str | None = None, out=None) -> tuple:
    """Singular value decomposition ``A = U diag(S) Vh``, singular values in descending order.

    ``full_matrices=False`` gives the reduced form (U (*, m, k), Vh (*, k, n), k = min(m, n)). The
    vectors are unique up to sign; their gradient is defined for losses that do not depend on the signs
    and is inf/nan at repeated singular values (as in PyTorch). ``driver`` (a CUDA option) is ignored.

    Shape: (*, m, n) -> U (*, m, m), S (*, k), Vh (*, n, n).
    """
    check_matrix(A, "linalg.svd", square=False)
    return _write_outs(out, svd_result(*_keep_outputs(SVD.apply(A, full_matrices=bool(full_matrices)))), "linalg.svd")


def svdvals(A: Tensor, *, driver: str | None = None, out=None) -> Tensor:
    """Singular values of A in descending order (always differentiable: ``U diag(g) Vh``).

    Shape: (*, m, n) -> (*, min(m, n)).
    """
    check_matrix(A, "linalg.svdvals", square=False)
    return _write_outs(out, svd_result(*_keep_outputs(SVD.apply(A, full_matrices=False))).S, "linalg.svdvals")


def svd_legacy(input: Tensor, some: bool = True, compute_uv: bool = True) -> tuple:
    """``torch.svd``: ``(U, S, V)`` with V (not Vh); ``some=True`` the reduced form. Without
    ``compute_uv`` U and V are zeros (and carry no gradient), as in PyTorch."""
    check_matrix(input, "svd", square=False)
    if not compute_uv:
        xp = input._xp()
        m, n = input.shape[-2], input.shape[-1]
        S = svdvals(input)
        zeros = input.shape[:-2]
        return svd_legacy_result(Tensor._wrap(xp.zeros(zeros + (m, m), dtype=input.dtype)), S,
                                 Tensor._wrap(xp.zeros(zeros + (n, n), dtype=input.dtype)))
    U, S, Vh = svd(input, full_matrices=not some)
    return svd_legacy_result(U, S, Vh.mT)


# -- symmetric eigendecomposition ---------------------------------------------------------------------
class Eigh(Function):
    """``A = V diag(L) V^T`` for symmetric A (one triangle read); PyTorch's linalg_eig_backward (hermitian)."""

    saved_inputs = ()
    _materialize_grads = False

    def forward(ctx, a, *, UPLO):
        return tuple(array_module(a).linalg.eigh(a, UPLO=UPLO))

    def backward(ctx, gL, gV):
        L, V = ctx.outs
        if gV is None:
            if gL is None:
                return None
            return (V * gL.unsqueeze(-2)) @ V.mT
        _refuse_repeated(L._data, "linalg.eigh", "eigenvalues", L._data)
        VhgV = V.mT @ gV
        VhgV = 0.5 * (VhgV - VhgV.mT)
        n = L.shape[-1]
        eye = Tensor._wrap(L._xp().eye(n, dtype=L.dtype))
        E = L.unsqueeze(-2) - L.unsqueeze(-1) + eye  # E[i, j] = L_j - L_i, 1 on the diagonal
        ret = VhgV / E
        if gL is not None:
            ret = ret + gL.diag_embed()
        return V @ (ret @ V.mT)


def _check_uplo(UPLO: str, op: str) -> str:
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"{op}: Expected UPLO argument to be 'L' or 'U', but got {UPLO!r}")
    return UPLO


def eigh(A: Tensor, UPLO: str = "L", *, out=None) -> tuple:
    """Eigenvalues (ascending) and orthonormal eigenvectors of symmetric matrices, reading the lower
    (``UPLO='L'``) or upper triangle. Eigenvectors are unique up to sign; their gradient is inf/nan
    at repeated eigenvalues unless the loss is invariant to the choice within the eigenspace.

    Shape: (*, n, n) -> eigenvalues (*, n), eigenvectors (*, n, n).
    """
    check_matrix(A, "linalg.eigh")
    return _write_outs(out, eigh_result(*_keep_outputs(Eigh.apply(A, UPLO=_check_uplo(UPLO, "linalg.eigh")))),
                       "linalg.eigh")


def eigvalsh(A: Tensor, UPLO: str = "L", *, out=None) -> Tensor:
    """Eigenvalues of symmetric matrices in ascending order (gradient ``V diag(g) V^T``). Shape: (*, n, n) -> (*, n)."""
    check_matrix(A, "linalg.eigvalsh")
    values = eigh_result(*_keep_outputs(Eigh.apply(A, UPLO=_check_uplo(UPLO, "linalg.eigvalsh")))).eigenvalues
    return _write_outs(out, values, "linalg.eigvalsh")


# -- general eigendecomposition (complex results) ----------------------------------------------------------
def _complex_dtype(dtype):
    return np.dtype(np.complex128 if np.dtype(dtype) in (np.float64, np.complex128) else np.complex64)


class Eig(Function):
    """``A V = V diag(L)`` for a general square A; complex L and V, V's columns of unit norm."""

    saved_inputs = ()
    _materialize_grads = False

    def forward(ctx, a):
        xp = array_module(a)
        L, V = xp.linalg.eig(a)
        cdt = _complex_dtype(a.dtype)
        return L.astype(cdt), V.astype(cdt)

    @once_differentiable
    def backward(ctx, gL, gV):  # on raw arrays (complex): differentiating it again raises
        (A,) = ctx.inputs
        L, V = (o._data for o in ctx.outs)
        xp = array_module(L)
        Vh = V.swapaxes(-1, -2).conj()
        n = L.shape[-1]
        if gV is None:
            ret = xp.zeros(L.shape + (n,), dtype=L.dtype)
        else:
            gv = gV._data
            VhgV = Vh @ gv
            diag = xp.real(xp.diagonal(VhgV, 0, -2, -1))
            VhgV = VhgV - Vh @ (V * diag[..., None, :])
            E = (L[..., None, :] - L[..., :, None]).conj()
            idx = xp.arange(n)
            E[..., idx, idx] = 1
            ret = VhgV / E
        if gL is not None:
            idx = xp.arange(n)
            ret = ret.copy()
            ret[..., idx, idx] = gL._data
        gA = xp.linalg.solve(Vh, ret @ Vh)
        if A.dtype.kind == "f":
            gA = xp.real(gA).astype(A.dtype)
        return Tensor._wrap(gA)


def eig(A: Tensor, *, out=None) -> tuple:
    """Eigenvalues and eigenvectors of a general square matrix, as complex tensors (complex64 for
    float32 input). Each eigenvector has unit norm (its phase is arbitrary); the gradient follows
    PyTorch's formula but is computed once (no ``create_graph``).

    Shape: (*, n, n) -> eigenvalues (*, n), eigenvectors (*, n, n), complex.
    """
    check_matrix(A, "linalg.eig")
    return _write_outs(out, eig_result(*_keep_outputs(Eig.apply(A))), "linalg.eig")


def eigvals(A: Tensor, *, out=None) -> Tensor:
    """Eigenvalues of a general square matrix, complex. Shape: (*, n, n) -> (*, n)."""
    check_matrix(A, "linalg.eigvals")
    return _write_outs(out, eig_result(*_keep_outputs(Eig.apply(A))).eigenvalues, "linalg.eigvals")


# -- QR --------------------------------------------------------------------------------------------------
def _copyltu(M: Tensor) -> Tensor:
    """The symmetric matrix with M's lower triangle (and diagonal)."""
    return M.tril() + M.tril(-1).mT


def _qr_backward_tall(gQ, gR, Q, R):
    """gA for A = QR with A (m, n), m >= n, Q (m, n), R (n, n)."""
    M = None
    if gR is not None:
        M = R @ gR.mT
    if gQ is not None:
        M = -(gQ.mT @ Q) if M is None else M - gQ.mT @ Q
    b = Q @ _copyltu(M)
    if gQ is not None:
        b = b + gQ
    return solve_triangular(R.mT, b, upper=False, left=False)  # b R^{-T}


class QR(Function):
    """``A = Q R`` (Householder, LAPACK's signs); the gradient for the reduced form and for m <= n."""

    _materialize_grads = False

    def forward(ctx, a, *, mode):
        xp = array_module(a)
        ctx.mode = mode
        if mode == "r":
            R = xp.linalg.qr(a, mode="r")
            return xp.zeros(0, dtype=a.dtype), R
        return tuple(xp.linalg.qr(a, mode=mode))

    def backward(ctx, gQ, gR):
        Q, R = ctx.outs
        if ctx.mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                               "Please use linalg.qr(A, mode='reduced') if you are going to differentiate "
                               "through linalg.qr.")
        m, n = Q.shape[-2], R.shape[-1]
        if ctx.mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and "
                               "nrows > ncols.")
        if gQ is None and gR is None:
            return None
        if m >= n:
            return _qr_backward_tall(gQ, gR, Q, R)
        # wide: A = [X | Y], R = [U | V]: X = Q U is the square case, Y = Q V
        U, V = R.narrow(-1, 0, m), R.narrow(-1, m, n - m)
        Y = ctx.inputs[0].narrow(-1, m, n - m)
        gU = gR.narrow(-1, 0, m) if gR is not None else None
        gV = gR.narrow(-1, m, n - m) if gR is not None else None
        if gV is not None:
            gQ = Y @ gV.mT if gQ is None else gQ + Y @ gV.mT
        gX = _qr_backward_tall(gQ, gU, Q, U)
        gY = Q @ gV if gV is not None else Tensor._wrap(Q._xp().zeros(V.shape, dtype=V.dtype))
        from shendu.ops.shape import cat
        return cat([gX, gY], -1)


def qr(A: Tensor, mode: str = "reduced", *, out=None) -> tuple:
    """QR decomposition ``A = Q R`` with orthonormal Q and upper-triangular R.

    mode: 'reduced' (Q (*, m, k), R (*, k, n), k = min(m, n)), 'complete' (Q (*, m, m), R (*, m, n)) or
    'r' (R only; Q is an empty tensor and the result is not differentiable).
    """
    check_matrix(A, "linalg.qr", square=False)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' "
                           "(default), 'r', or 'complete'")
    return _write_outs(out, qr_result(*_keep_outputs(QR.apply(A, mode=mode))), "linalg.qr")


def qr_legacy(input: Tensor, some: bool = True) -> tuple:
    """``torch.qr(input, some=True)``: the reduced (``some``) or complete QR decomposition."""
    Q, R = qr(input, "reduced" if some else "complete")
    return qr_legacy_result(Q, R)


# -- Householder reflectors (LAPACK's geqrf / orgqr / ormqr) ------------------------------------------
def geqrf(input: Tensor) -> tuple:
    """``torch.geqrf``: QR in LAPACK's packed form ``(a, tau)``: R on and above the diagonal of a, the
    Householder vectors below it (not differentiable, as in PyTorch). Shape: (*, m, n) -> a (*, m, n), tau (*, k)."""
    check_matrix(input, "geqrf", square=False)
    xp = input._xp()
    h, tau = xp.linalg.qr(input._data, mode="raw")
    return geqrf_result(Tensor._wrap(xp.ascontiguousarray(h.swapaxes(-1, -2)).astype(input.dtype)),
                        Tensor._wrap(tau.astype(input.dtype)))


def _reflector(A: Tensor, i: int) -> Tensor:
    """v_i = (0, ..., 0, 1, A[i+1:, i]): the i-th Householder vector stored in A's column i. (*, m)."""
    xp = A._xp()
    m = A.shape[-2]
    below = Tensor._wrap((xp.arange(m) > i).astype(A.dtype))
    one = Tensor._wrap((xp.arange(m) == i).astype(A.dtype))
    return A.narrow(-1, i, 1).squeeze(-1) * below + one


def _apply_reflector(X: Tensor, v: Tensor, t: Tensor, left: bool) -> Tensor:
    """(I - t v vᵀ) X (``left``) or X (I - t v vᵀ), batched; t (*,) and v (*, m)."""
    if left:
        return X - (t.unsqueeze(-1) * v).unsqueeze(-1) * (v.unsqueeze(-2) @ X)
    return X - (X @ v.unsqueeze(-1)) * (t.unsqueeze(-1) * v).unsqueeze(-2)


def householder_product(A: Tensor, tau: Tensor, *, out=None) -> Tensor:
    """The first n columns of ``H_1 H_2 ... H_k``, ``H_i = I - tau_i v_i v_iᵀ`` with v_i stored below the
    diagonal of A's column i (LAPACK's orgqr). Differentiable in A and tau (a composition).

    Shape: A (*, m, n), tau (*, k) with k <= n <= m -> (*, m, n).
    """
    op = "linalg.householder_product"
    check_matrix(A, op, square=False)
    m, n = A.shape[-2], A.shape[-1]
    k = tau.shape[-1]
    if n > m:
        raise RuntimeError(f"{op}: input.shape[-2] must be greater than or equal to input.shape[-1] (got {m}, {n})")
    if k > n:
        raise RuntimeError(f"{op}: input.shape[-1] must be greater than or equal to tau.shape[-1] (got {n}, {k})")
    xp = A._xp()
    Q = Tensor._wrap(xp.broadcast_to(xp.eye(m, n, dtype=A.dtype), A.shape).copy())
    for i in reversed(range(k)):  # H_1 (H_2 (... (H_k E)))
        Q = _apply_reflector(Q, _reflector(A, i), tau.narrow(-1, i, 1).squeeze(-1), left=True)
    return _write_outs(out, Q, op)


def orgqr(input: Tensor, tau: Tensor) -> Tensor:
    """``torch.orgqr``: the same as ``linalg.householder_product``."""
    return householder_product(input, tau)


def ormqr(input: Tensor, tau: Tensor, other: Tensor, left: bool = True, transpose: bool = False, *,
          out=None) -> Tensor:
    """``torch.ormqr``: ``other`` multiplied by the full Q = H_1 ... H_k of ``geqrf``'s output: Q C, Qᵀ C
    (``transpose``), C Q or C Qᵀ (``left=False``). Differentiable (a composition)."""
    k = tau.shape[-1]
    # left: Q C applies H_k first, Qᵀ C applies H_1 first; right: C Q applies H_1 first, C Qᵀ H_k first
    order = range(k) if left == transpose else reversed(range(k))
    X = other
    for i in order:
        X = _apply_reflector(X, _reflector(input, i), tau.narrow(-1, i, 1).squeeze(-1), left=left)
    return _write_outs(out, X, "ormqr")


# -- randomized low-rank SVD (Halko, Martinsson & Tropp) ---------------------------------------------------
def svd_lowrank(A: Tensor, q: int | None = 6, niter: int = 2, M: Tensor | None = None) -> tuple:
    """``torch.svd_lowrank``: an approximate rank-q SVD ``(U, S, V)`` of ``A - M`` by a random range finder
    with ``niter`` power iterations (shendu's RNG draws the test matrix: set ``shendu.manual_seed`` for
    repeatable results). Exact, up to signs, when A has rank <= q. Differentiable (a composition).

    Shape: (*, m, n) -> U (*, m, q), S (*, q), V (*, n, q).
    """
    from shendu.random import randn
    check_matrix(A, "svd_lowrank", square=False)
    if M is not None:
        A = A - M
    m, n = A.shape[-2], A.shape[-1]
    q = min(6 if q is None else int(q), m, n)
    R = randn(*A.shape[:-2], n, q, dtype=A.dtype)
    Q = qr(A @ R).Q
    for _ in range(niter):  # power iterations sharpen the spectrum's decay
        Q = qr(A.mT @ Q).Q
        Q = qr(A @ Q).Q
    U, S, Vh = svd(Q.mT @ A, full_matrices=False)  # (q, n) = Qᵀ A
    return svd_legacy_result(Q @ U, S, Vh.mT)


def pca_lowrank(A: Tensor, q: int | None = None, center: bool = True, niter: int = 2) -> tuple:
    """``torch.pca_lowrank``: ``svd_lowrank`` of A with its column means removed (``center``); q defaults to
    min(6, m, n). The principal directions are V's columns, the variances ``S**2 / (m - 1)``."""
    check_matrix(A, "pca_lowrank", square=False)
    q = min(6, A.shape[-2], A.shape[-1]) if q is None else q
    if center:
        A = A - A.mean(-2, keepdim=True)
    return svd_lowrank(A, q, niter)
