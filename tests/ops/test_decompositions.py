"""Decompositions against PyTorch: svd (full / reduced, torch.svd), svdvals, eigh / eigvalsh (UPLO),
eig / eigvals (complex results), qr (reduced / complete / r, torch.qr).

Singular and eigen vectors are unique only up to sign, so parity compares gauge-invariant quantities
(reconstructions, one projector ``u u^T`` per vector, R with a positive diagonal), and the random
upstream gradient flows through those: the gradients compared are those of gauge-invariant losses."""
import numpy as np
import pytest
import torch
from helpers import case, spec_tests

import shendu as sd

TOL = {"rtol": 1e-4, "atol": 1e-5, "grad_rtol": 1e-3, "grad_atol": 1e-4}


def lib_of(x):
    return torch if isinstance(x, torch.Tensor) else sd


def projectors(vectors_as_rows):
    """``v v^T`` for each row v: (..., k, n) -> (..., k, n, n), unchanged by v -> -v."""
    return vectors_as_rows.unsqueeze(-1) * vectors_as_rows.unsqueeze(-2)


def svd_invariants(a, full_matrices=False):
    U, S, Vh = lib_of(a).linalg.svd(a, full_matrices=full_matrices)
    k = S.shape[-1]
    U, Vh = U.narrow(-1, 0, k), Vh.narrow(-2, 0, k)
    return S, projectors(U.mT), projectors(Vh), (U * S.unsqueeze(-2)) @ Vh


def svd_legacy_invariants(a, some=True):
    U, S, V = lib_of(a).svd(a, some=some)
    k = S.shape[-1]
    U, V = U.narrow(-1, 0, k), V.narrow(-1, 0, k)
    return S, projectors(U.mT), projectors(V.mT)


def eigh_invariants(a, UPLO="L"):
    L, V = lib_of(a).linalg.eigh(a + a.mT, UPLO=UPLO)
    return L, projectors(V.mT)


def qr_invariants(a, mode="reduced"):
    Q, R = lib_of(a).linalg.qr(a, mode=mode)
    d = R.diagonal(0, -2, -1).sign()  # make R's diagonal positive: Q and R are then unique
    k = d.shape[-1]
    return Q.narrow(-1, 0, k) * d.unsqueeze(-2), R.narrow(-2, 0, k) * d.unsqueeze(-1)


def both(id, fn, shapes, **kw):
    return case(id, fn, None, shapes, **{**TOL, **kw})


CASES = [
    both("svd_square", svd_invariants, [(4, 4)]),
    both("svd_tall", svd_invariants, [(5, 3)]),
    both("svd_wide", svd_invariants, [(3, 5)]),
    both("svd_batched", svd_invariants, [(2, 3, 4, 3)]),
    both("svd_noncontig", lambda a: svd_invariants(a.mT), [(2, 3, 4)], noncontig=True),
    both("eigh_noncontig", lambda a: eigh_invariants(a.mT), [(2, 3, 3)], noncontig=True),
    both("qr_noncontig", lambda a: qr_invariants(a.mT), [(3, 5)], noncontig=True),
    both("svd_full_tall", lambda a: svd_invariants(a, True), [(5, 3)]),
    both("svd_full_wide", lambda a: svd_invariants(a, True), [(2, 3, 5)]),
    both("svd_U_only", lambda a: projectors(lib_of(a).linalg.svd(a, full_matrices=False).U.mT), [(5, 3)]),
    both("svd_Vh_only", lambda a: projectors(lib_of(a).linalg.svd(a, full_matrices=False).Vh), [(3, 5)]),
    both("svdvals", lambda a: lib_of(a).linalg.svdvals(a), [(2, 4, 3)]),
    both("torch.svd", svd_legacy_invariants, [(5, 3)]),
    both("torch.svd_not_some", lambda a: svd_legacy_invariants(a, False), [(3, 4)]),
    both("method_svd", lambda a: a.svd().S, [(3, 3)]),
    both("eigh", eigh_invariants, [(4, 4)]),
    both("eigh_batched_upper", lambda a: eigh_invariants(a, "U"), [(2, 3, 3)]),
    both("eigvalsh", lambda a: lib_of(a).linalg.eigvalsh(a + a.mT), [(2, 4, 4)]),
    both("eigvalsh_reads_one_triangle", lambda a: lib_of(a).linalg.eigvalsh(a, UPLO="U"), [(3, 3)], grad=False,
         forward_only=True),
    both("qr_tall", qr_invariants, [(5, 3)]),
    both("qr_square_batched", qr_invariants, [(2, 4, 4)]),
    both("qr_wide", qr_invariants, [(3, 5)]),
    both("qr_complete_wide", lambda a: qr_invariants(a, "complete"), [(3, 4)]),
    both("qr_r", lambda a: lib_of(a).linalg.qr(a, mode="r").R.abs(), [(4, 3)], grad=False, forward_only=True),
    both("torch.qr", lambda a: lib_of(a).qr(a)[1].abs(), [(4, 3)]),
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def test_reconstructions_and_orthogonality():
    rng = np.random.default_rng(0)
    a = sd.from_numpy(rng.standard_normal((2, 5, 3)).astype(np.float32))
    U, S, Vh = sd.linalg.svd(a)
    assert U.shape == (2, 5, 5) and S.shape == (2, 3) and Vh.shape == (2, 3, 3) and U.dtype == np.float32
    np.testing.assert_allclose(U._data[..., :3] * S._data[..., None, :] @ Vh._data, a._data, atol=1e-5)
    np.testing.assert_allclose(U.mT._data @ U._data, np.broadcast_to(np.eye(5), (2, 5, 5)), atol=1e-5)
    Q, R = sd.linalg.qr(a, mode="complete")
    assert Q.shape == (2, 5, 5) and R.shape == (2, 5, 3)
    np.testing.assert_allclose(Q._data @ R._data, a._data, atol=1e-5)
    s = a.mT @ a
    L, V = sd.linalg.eigh(s)
    np.testing.assert_allclose(V._data @ (L._data[..., None] * V.mT._data), s._data, atol=1e-4)
    ref = torch.linalg.svd(torch.from_numpy(a._data))
    np.testing.assert_allclose(np.abs(U.mT._data[..., :3, :] @ ref.U.numpy()[..., :3]),  # |U^T U_ref| = I
                               np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-5)


def test_return_types():
    a = sd.randn(3, 3)
    assert sd.linalg.svd(a)._fields == ("U", "S", "Vh")
    assert sd.svd(a)._fields == ("U", "S", "V")
    assert sd.linalg.eigh(a)._fields == ("eigenvalues", "eigenvectors")
    assert sd.linalg.eig(a)._fields == ("eigenvalues", "eigenvectors")
    assert sd.linalg.qr(a)._fields == ("Q", "R")
    Q, R = sd.linalg.qr(a, mode="r")
    assert Q.shape == (0,) and R.shape == (3, 3)


def test_eig_complex_eigenvalues_match_pytorch():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2, 4, 4)).astype(np.float32)
    w, V = sd.linalg.eig(sd.from_numpy(a))
    tw = torch.linalg.eigvals(torch.from_numpy(a)).numpy()
    assert w.dtype == np.complex64 and V.dtype == np.complex64
    for mine, ref in zip(w._data, tw):  # the same spectrum (order is LAPACK's; compare sorted)
        np.testing.assert_allclose(np.sort_complex(mine), np.sort_complex(ref), atol=1e-4)
    np.testing.assert_allclose(a.astype(np.complex64) @ V._data, V._data * w._data[..., None, :], atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(V._data, axis=-2), 1, atol=1e-5)
    assert sd.linalg.eigvals(sd.from_numpy(a.astype(np.float64))).dtype == np.complex128


def test_eig_gradient_matches_pytorch():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 3))
    gw = (rng.standard_normal(3) + 1j * rng.standard_normal(3))
    x, t = sd.from_numpy(a.copy()).requires_grad_(), torch.from_numpy(a.copy()).requires_grad_()
    w, tw = sd.linalg.eigvals(x), torch.linalg.eigvals(t)
    order, torder = np.argsort(w._data.real), np.argsort(tw.detach().numpy().real)
    assert np.allclose(w._data[order], tw.detach().numpy()[torder])
    g = np.empty(3, complex)
    g[order] = gw
    tg = np.empty(3, complex)
    tg[torder] = gw
    sd.autograd.backward([w], [sd.from_numpy(g)])
    torch.autograd.backward([tw], [torch.from_numpy(tg)])
    np.testing.assert_allclose(x.grad._data, t.grad.numpy(), atol=1e-10)


def test_svd_double_backward_matches_pytorch():
    rng = np.random.default_rng(5)
    a, w = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    grads = []
    for L, wrap in ((sd, sd.from_numpy), (torch, torch.from_numpy)):
        A = wrap(a.copy()).requires_grad_()
        S = L.linalg.svdvals(A)
        (gA,) = L.autograd.grad((S ** 3).sum(), A, create_graph=True)
        (ggA,) = L.autograd.grad((gA * wrap(w.copy())).sum(), A)
        grads.append(ggA.detach().numpy() if L is torch else ggA._data)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-8, atol=1e-10)


def test_errors():
    with pytest.raises(RuntimeError, match="linalg.svd: The input tensor A must have at least 2 dimensions"):
        sd.linalg.svd(sd.ones(3))
    with pytest.raises(RuntimeError, match="linalg.eigh: A must be batches of square matrices"):
        sd.linalg.eigh(sd.ones(2, 3))
    with pytest.raises(RuntimeError, match="UPLO argument to be 'L' or 'U'"):
        sd.linalg.eigh(sd.eye(2), UPLO="X")
    with pytest.raises(RuntimeError, match="qr received unrecognized mode 'full'"):
        sd.linalg.qr(sd.eye(2), mode="full")
    x = sd.randn(3, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="mode='r'"):
        sd.linalg.qr(x, mode="r").R.sum().backward()
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete' and nrows > ncols"):
        sd.linalg.qr(sd.randn(4, 2, requires_grad=True), mode="complete").Q.sum().backward()


def test_vector_gradients_at_repeated_values_raise_but_value_gradients_work():
    x = sd.eye(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"linalg.eigh: backward through the vectors is not defined: the "
                                           r"eigenvalues are repeated \(1.0 twice\)"):
        sd.linalg.eigh(x).eigenvectors.sum().backward()
    sd.linalg.eigvalsh(x).sum().backward()  # the eigenvalues' gradient V diag(g) V^T is fine
    np.testing.assert_allclose(x.grad._data, np.eye(3))
    y = sd.stack([sd.diag(sd.tensor([3.0, 2.0])), sd.eye(2)]).requires_grad_()
    with pytest.raises(RuntimeError, match=r"linalg.svd: .*singular values are repeated \(batch element 1\)"):
        sd.linalg.svd(y).U.sum().backward()
    sd.linalg.svdvals(y).sum().backward()
    np.testing.assert_allclose(y.grad._data, np.broadcast_to(np.eye(2), (2, 2, 2)))


def test_geqrf_householder_product_ormqr_match_pytorch():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((2, 5, 3))
    h, tau = sd.geqrf(sd.from_numpy(a))
    th, ttau = torch.geqrf(torch.from_numpy(a))
    np.testing.assert_allclose(h._data, th.numpy(), atol=1e-12)
    np.testing.assert_allclose(tau._data, ttau.numpy(), atol=1e-12)
    for left in (True, False):
        for transpose in (True, False):
            c = rng.standard_normal((2, 5, 4) if left else (2, 4, 5))
            np.testing.assert_allclose(sd.ormqr(h, tau, sd.from_numpy(c), left, transpose)._data,
                                       torch.ormqr(th, ttau, torch.from_numpy(c), left, transpose).numpy(), atol=1e-12)
    np.testing.assert_allclose(h.orgqr(tau)._data, torch.linalg.householder_product(th, ttau).numpy(), atol=1e-12)


HOUSEHOLDER = [
    both("householder_product", lambda a, t: lib_of(a).linalg.householder_product(a, t), [(4, 3), (2,)]),
    both("householder_product_batched", lambda a, t: lib_of(a).linalg.householder_product(a, t), [(2, 4, 3), (2, 3)]),
]
test_householder_parity, test_householder_gradcheck, test_householder_gradgradcheck = spec_tests(HOUSEHOLDER)


def test_svd_lowrank_and_pca_lowrank_recover_a_low_rank_matrix():
    rng = np.random.default_rng(8)
    a = rng.standard_normal((2, 30, 3)) @ rng.standard_normal((2, 3, 12))  # rank 3
    sd.manual_seed(0)
    U, S, V = sd.svd_lowrank(sd.from_numpy(a), q=4)
    assert U.shape == (2, 30, 4) and S.shape == (2, 4) and V.shape == (2, 12, 4)
    np.testing.assert_allclose(S._data[:, :3], np.linalg.svd(a, compute_uv=False)[:, :3], rtol=1e-10)
    np.testing.assert_allclose((U._data * S._data[:, None]) @ V.mT._data, a, atol=1e-10)
    x = rng.standard_normal((40, 5)) @ np.diag([5.0, 3.0, 1.0, 0.0, 0.0])
    _, S, V = sd.pca_lowrank(sd.from_numpy(x), q=3)
    _, t_s, t_v = torch.pca_lowrank(torch.from_numpy(x), q=3)
    np.testing.assert_allclose(S._data, t_s.numpy(), rtol=1e-8)
    np.testing.assert_allclose(np.abs(V._data.T @ t_v.numpy()), np.eye(3), atol=1e-8)  # the same directions
    # differentiable: the gradient of the captured energy is 2A on a rank-q matrix
    y = sd.from_numpy(a[0]).requires_grad_()
    (sd.svd_lowrank(y, q=3).S ** 2).sum().backward()
    np.testing.assert_allclose(y.grad._data, 2 * a[0], atol=1e-8)
