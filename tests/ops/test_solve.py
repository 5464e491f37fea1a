"""Factor-and-solve linear algebra against PyTorch: cholesky (+ upper, _ex), solve_triangular, inv,
solve, det, slogdet, logdet, cholesky_solve / cholesky_inverse; values,
gradients under random upstream gradients, float64 gradcheck and gradgradcheck; LinAlgError messages."""
import numpy as np
import pytest
import torch
from helpers import case, spec_tests

import shendu as sd

TOL = {"rtol": 1e-4, "atol": 1e-5, "grad_rtol": 1e-3, "grad_atol": 1e-4}


def lib_of(x):
    return torch if isinstance(x, torch.Tensor) else sd


def spd(a):
    """A well-conditioned symmetric positive-definite matrix built from a (so gradcheck perturbs freely)."""
    lib = lib_of(a)
    return a @ a.mT + a.shape[-1] * lib.eye(a.shape[-1], dtype=a.dtype)


def well(a):
    """a shifted to be diagonally dominant (invertible, modest condition number)."""
    lib = lib_of(a)
    return a + 3 * lib.eye(a.shape[-1], dtype=a.dtype)


def tri(a, upper):
    lib = lib_of(a)
    t = a.triu() if upper else a.tril()
    return t + 3 * lib.eye(a.shape[-1], dtype=a.dtype)


def both(id, fn, shapes, **kw):
    """``fn(lib, *inputs)`` run with lib = shendu and lib = torch."""
    return case(id, lambda *x: fn(sd, *x), lambda *x: fn(torch, *x), shapes, **{**TOL, **kw})


CASES = [
    both("cholesky", lambda L, a: L.linalg.cholesky(spd(a)), [(4, 4)]),
    both("cholesky_batched", lambda L, a: L.linalg.cholesky(spd(a)), [(2, 3, 3, 3)]),
    both("cholesky_upper", lambda L, a: L.linalg.cholesky(spd(a), upper=True), [(2, 4, 4)]),
    both("cholesky_ex", lambda L, a: L.linalg.cholesky_ex(spd(a)).L, [(3, 3)]),
    both("torch.cholesky", lambda L, a: L.cholesky(spd(a)), [(3, 3)]),
    both("method_cholesky_upper", lambda L, a: spd(a).cholesky(upper=True), [(3, 3)]),
    *[both(f"solve_triangular_up{u}_left{lf}_unit{un}",
           lambda L, a, b, u=u, lf=lf, un=un: L.linalg.solve_triangular(
               tri(a, u), b if lf else b.mT, upper=u, left=lf, unitriangular=un), [(2, 3, 3), (2, 3, 2)])
      for u in (True, False) for lf in (True, False) for un in (True, False)],
    both("solve_triangular_ignores_other_triangle",
         lambda L, a, b: L.linalg.solve_triangular(a + 3 * L.eye(3, dtype=a.dtype), b, upper=True), [(3, 3), (3, 2)]),
    both("solve_triangular_bcast", lambda L, a, b: L.linalg.solve_triangular(tri(a, False), b, upper=False),
         [(3, 3), (2, 3, 2)]),
    *[both(f"torch.triangular_solve_up{u}_tr{t}", lambda L, a, b, u=u, t=t: L.triangular_solve(
        b, tri(a, u), upper=u, transpose=t).solution, [(3, 3), (3, 2)]) for u in (True, False) for t in (True, False)],
    both("method_triangular_solve", lambda L, a, b: b.triangular_solve(tri(a, True)).solution, [(3, 3), (3, 2)]),
    both("inv", lambda L, a: L.linalg.inv(well(a)), [(4, 4)]),
    both("inv_noncontig", lambda L, a: L.linalg.inv(a.mT + 3 * L.eye(4, dtype=a.dtype)), [(4, 4)], noncontig=True),
    both("solve_noncontig", lambda L, a, b: L.linalg.solve(well(a.mT), b.mT), [(2, 3, 3), (2, 2, 3)], noncontig=True),
    both("cholesky_noncontig", lambda L, a: L.linalg.cholesky(spd(a.mT)), [(2, 3, 3)], noncontig=True),
    both("inv_batched", lambda L, a: L.linalg.inv(well(a)), [(2, 3, 3)]),
    both("torch.inverse", lambda L, a: L.inverse(well(a)), [(3, 3)]),
    both("method_inverse", lambda L, a: well(a).inverse(), [(3, 3)]),
    both("inv_ex", lambda L, a: L.linalg.inv_ex(well(a)).inverse, [(3, 3)]),
    both("solve_matrix", lambda L, a, b: L.linalg.solve(well(a), b), [(3, 3), (3, 2)]),
    both("solve_vector", lambda L, a, b: L.linalg.solve(well(a), b), [(3, 3), (3,)]),
    both("solve_batch_vectors", lambda L, a, b: L.linalg.solve(well(a), b), [(2, 3, 3), (2, 3)]),
    both("solve_bcast", lambda L, a, b: L.linalg.solve(well(a), b), [(2, 1, 3, 3), (4, 3, 2)]),
    both("solve_right", lambda L, a, b: L.linalg.solve(well(a), b, left=False), [(3, 3), (2, 3)]),
    both("det", lambda L, a: L.linalg.det(a), [(4, 4)]),
    both("det_batched", lambda L, a: L.linalg.det(a), [(2, 3, 3)]),
    both("torch.det", lambda L, a: L.det(a), [(3, 3)]),
    both("method_det", lambda L, a: a.det(), [(2, 2)]),
    both("slogdet", lambda L, a: L.linalg.slogdet(a), [(2, 3, 3)]),
    both("slogdet_method", lambda L, a: a.slogdet(), [(3, 3)]),
    both("logdet", lambda L, a: L.logdet(spd(a)), [(3, 3)]),
    both("cholesky_solve", lambda L, b, a: L.cholesky_solve(b, L.linalg.cholesky(spd(a))), [(3, 2), (3, 3)]),
    both("cholesky_solve_upper", lambda L, b, l: L.cholesky_solve(b, tri(l, True), upper=True), [(2, 3, 2), (3, 3)]),
    both("cholesky_solve_raw_factor", lambda L, b, l: L.cholesky_solve(b, tri(l, False)), [(3, 2), (3, 3)]),
    both("cholesky_inverse", lambda L, l: L.cholesky_inverse(tri(l, False)), [(3, 3)]),
    both("cholesky_inverse_upper", lambda L, l: L.cholesky_inverse(tri(l, True), upper=True), [(3, 3)]),
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def test_float32_stays_float32_and_float64_stays_float64():
    for dtype in (sd.float32, sd.float64):
        a = sd.randn(3, 3, dtype=dtype) + 3 * sd.eye(3, dtype=dtype)
        for out in (sd.linalg.inv(a), sd.linalg.cholesky(a @ a.mT), sd.linalg.det(a), sd.linalg.solve(a, a),
                    sd.linalg.pinv(a), sd.linalg.slogdet(a).logabsdet, sd.linalg.lstsq(a, a).solution):
            assert out.dtype == dtype


def test_return_types_are_namedtuples():
    a = sd.randn(4, 3)
    s = a @ a.mT + sd.eye(4)
    assert sd.linalg.cholesky_ex(s)._fields == ("L", "info")
    assert sd.linalg.slogdet(s)._fields == ("sign", "logabsdet")


def test_cholesky_ex_info_and_upper():
    bad = sd.tensor([[[4.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[2.0, 0.0, 0.0], [0.0, 3.0, 0.0],
                                                                          [0.0, 0.0, 1.0]]])
    L, info = sd.linalg.cholesky_ex(bad)
    t_info = torch.linalg.cholesky_ex(torch.from_numpy(bad._data)).info
    assert info.dtype == np.int32 and info.tolist() == t_info.tolist() == [2, 0]
    np.testing.assert_allclose(L._data[1], np.linalg.cholesky(bad._data[1]), rtol=1e-6)


def test_singular_and_not_positive_definite_errors_name_the_matrix():
    singular = sd.tensor([[1.0, 2.0], [2.0, 4.0]])
    batch = sd.stack([sd.eye(2), singular])
    with pytest.raises(sd.linalg.LinAlgError, match=r"linalg.inv: The diagonal element 2 is zero, the inversion "
                                                    r"could not be completed because the input matrix is singular"):
        sd.linalg.inv(singular)
    with pytest.raises(RuntimeError, match=r"linalg.inv: \(Batch element 1\): The diagonal element 2 is zero"):
        sd.linalg.inv(batch)
    with pytest.raises(sd.linalg.LinAlgError, match="linalg.solve: The solver failed because the input matrix is "
                                                    "singular"):
        sd.linalg.solve(singular, sd.ones(2))
    with pytest.raises(sd.linalg.LinAlgError, match=r"linalg.cholesky: The factorization could not be completed "
                                                    r"because the input is not positive-definite \(the leading "
                                                    r"minor of order 2 is not positive-definite\)"):
        sd.linalg.cholesky(singular)
    with pytest.raises(sd.linalg.LinAlgError, match=r"\(Batch element 1\).*leading minor of order 2"):
        sd.linalg.cholesky(batch)
    minus = -sd.eye(3)
    with pytest.raises(sd.linalg.LinAlgError, match="leading minor of order 1"):
        sd.linalg.cholesky(minus)
    with pytest.raises(sd.linalg.LinAlgError, match="Batch element 1"):
        sd.linalg.inv_ex(batch, check_errors=True)
    inv, info = sd.linalg.inv_ex(batch)
    assert info.tolist() == [0, 2] and np.isnan(inv._data[1]).all() and np.allclose(inv._data[0], np.eye(2))


def test_bad_inputs_raise():
    with pytest.raises(RuntimeError, match="linalg.inv: A must be batches of square matrices, but they are 2 by 3"):
        sd.linalg.inv(sd.ones(2, 3))
    with pytest.raises(RuntimeError, match="linalg.cholesky: The input tensor A must have at least 2 dimensions"):
        sd.linalg.cholesky(sd.ones(3))
    with pytest.raises(RuntimeError, match="linalg.det: Expected a floating point"):
        sd.linalg.det(sd.ones(2, 2, dtype=sd.int64))
    with pytest.raises(RuntimeError, match="linalg.solve: Incompatible shapes"):
        sd.linalg.solve(sd.eye(3), sd.ones(2, 2))
    with pytest.raises(RuntimeError, match="same dtype"):
        sd.linalg.solve(sd.eye(2), sd.ones(2, dtype=sd.float64))


def test_det_gradient_at_a_singular_matrix_is_the_cofactor_matrix():
    # (PyTorch returns zeros at an exactly singular matrix; the derivative is the cofactor matrix)
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, -1.0, 2.0]], dtype=np.float64)
    x = sd.from_numpy(a).requires_grad_()
    (g,) = sd.autograd.grad(sd.linalg.det(x), x)
    cof = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1)) for j in range(3)]
                    for i in range(3)])
    np.testing.assert_allclose(g._data, cof, atol=1e-10)
    assert sd.gradcheck(lambda m: sd.linalg.det(m), [x])


def test_solve_double_backward_matches_pytorch():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    b = rng.standard_normal((3, 2))
    w = rng.standard_normal((3, 3))
    grads = []
    for L, wrap in ((sd, sd.from_numpy), (torch, torch.from_numpy)):
        A, B = wrap(a.copy()).requires_grad_(), wrap(b.copy()).requires_grad_()
        (gA,) = L.autograd.grad((L.linalg.solve(A, B) ** 2).sum(), A, create_graph=True)
        (ggB,) = L.autograd.grad((gA * wrap(w.copy())).sum(), B)
        grads.append(ggB.detach().numpy() if L is torch else ggB._data)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-10, atol=1e-12)
