"""Pseudo-inverses, least squares and matrix functions against PyTorch: pinv, lstsq (every driver's
outputs), matrix_power, matrix_exp, tensorinv, tensorsolve, vecdot, vander, solve_ex, linalg.diagonal."""
import numpy as np
import pytest
import torch
from helpers import case, spec_tests

import shendu as sd

TOL = {"rtol": 1e-4, "atol": 1e-5, "grad_rtol": 1e-3, "grad_atol": 1e-4}


def lib_of(x):
    return torch if isinstance(x, torch.Tensor) else sd


def well(a):
    return a + 3 * lib_of(a).eye(a.shape[-1], dtype=a.dtype)


def both(id, fn, shapes, **kw):
    """``fn(lib, *inputs)`` run with lib = shendu and lib = torch."""
    return case(id, lambda *x: fn(sd, *x), lambda *x: fn(torch, *x), shapes, **{**TOL, **kw})


CASES = [
    both("pinv_tall", lambda L, a: L.linalg.pinv(a), [(5, 3)]),
    both("pinv_wide", lambda L, a: L.linalg.pinv(a), [(2, 3, 5)]),
    both("pinv_hermitian", lambda L, a: L.linalg.pinv(a + a.mT, hermitian=True), [(4, 4)]),
    both("torch.pinverse", lambda L, a: L.pinverse(a), [(4, 3)]),
    both("lstsq_tall", lambda L, a, b: L.linalg.lstsq(a, b).solution, [(6, 3), (6, 2)]),
    both("lstsq_batched_vector", lambda L, a, b: L.linalg.lstsq(a, b).solution, [(2, 5, 3), (2, 5)]),
    both("lstsq_wide", lambda L, a, b: L.linalg.lstsq(a, b, driver="gelsd").solution, [(3, 5), (3, 2)]),
    both("lstsq_gelsd_residuals", lambda L, a, b: L.linalg.lstsq(a, b, driver="gelsd").residuals, [(6, 3), (6, 2)]),
    *[both(f"matrix_power_{n}", lambda L, a, n=n: L.linalg.matrix_power(well(a), n), [(2, 3, 3)])
      for n in (1, 2, 5, -1, -2)],
    both("matrix_power_0", lambda L, a: L.linalg.matrix_power(a, 0), [(3, 3)], grad=False, forward_only=True),
    both("method_matrix_power", lambda L, a: a.matrix_power(3), [(3, 3)]),
    both("matrix_exp", lambda L, a: L.linalg.matrix_exp(a), [(2, 3, 3)]),
    both("matrix_exp_large_norm", lambda L, a: L.linalg.matrix_exp(4 * a), [(3, 3)], rtol=1e-3, grad_rtol=3e-3),
    both("torch.matrix_exp", lambda L, a: L.matrix_exp(0.1 * a), [(3, 3)]),
    both("tensorinv", lambda L, a: L.linalg.tensorinv(well(a.reshape(6, 6)).reshape(2, 3, 6), ind=2), [(6, 6)]),
    both("tensorsolve", lambda L, a, b: L.linalg.tensorsolve(well(a.reshape(6, 6)).reshape(6, 2, 3), b),
         [(6, 6), (6,)]),
    both("vecdot", lambda L, x, y: L.linalg.vecdot(x, y, dim=0), [(3, 4), (3, 1)]),
    both("vander", lambda L, x: L.linalg.vander(x, N=4), [(2, 3)]),
    both("vander_default_N", lambda L, x: L.linalg.vander(x), [(3,)]),
    # (PyTorch's torch.vander backward fails with an in-place error: values only; ours is gradchecked)
    both("torch.vander", lambda L, x: L.vander(x), [(4,)], forward_only=True),
    both("torch.vander_increasing", lambda L, x: L.vander(x, 3, True), [(4,)], forward_only=True),
    both("solve_ex", lambda L, a, b: L.linalg.solve_ex(well(a), b).result, [(2, 3, 3), (2, 3, 2)]),
    both("linalg.diagonal", lambda L, a: L.linalg.diagonal(a, offset=1), [(2, 3, 4)]),
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def test_lstsq_return_type_and_rank():
    a = sd.randn(4, 3)
    r = sd.linalg.lstsq(a, sd.randn(4, 2), driver="gelsd")
    assert r._fields == ("solution", "residuals", "rank", "singular_values")
    t = torch.linalg.lstsq(torch.from_numpy(a._data), torch.from_numpy(a._data[:, :2].copy()), driver="gelsd")
    assert int(r.rank) == int(t.rank) == 3 and r.rank.dtype == np.int64
    np.testing.assert_allclose(r.singular_values._data, t.singular_values.numpy(), rtol=1e-5)


def test_lstsq_driver_outputs_match_pytorch():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((6, 3)).astype(np.float32), rng.standard_normal((6, 2)).astype(np.float32)
    for driver in (None, "gels", "gelsy", "gelsd", "gelss"):
        r = sd.linalg.lstsq(sd.from_numpy(a), sd.from_numpy(b), driver=driver)
        t = torch.linalg.lstsq(torch.from_numpy(a), torch.from_numpy(b), driver=driver)
        for mine, ref in zip(r, t):
            assert mine.shape == tuple(ref.shape), driver
            np.testing.assert_allclose(mine._data, ref.numpy(), rtol=1e-4, atol=1e-5)


def test_rank_deficient_lstsq_is_the_minimum_norm_solution():
    rng = np.random.default_rng(7)
    a = (rng.standard_normal((6, 2)) @ rng.standard_normal((2, 4)))  # rank 2
    b = rng.standard_normal((6, 1))
    r = sd.linalg.lstsq(sd.from_numpy(a), sd.from_numpy(b), driver="gelsd")
    np.testing.assert_allclose(r.solution._data, np.linalg.pinv(a) @ b, atol=1e-10)
    assert int(r.rank) == 2


def test_solve_ex_reports_singular_matrices():
    batch = sd.stack([sd.eye(2), sd.tensor([[1.0, 2.0], [2.0, 4.0]])])
    result, info = sd.linalg.solve_ex(batch, sd.ones(2, 2, 1))
    assert info.tolist() == [0, 2] and np.isnan(result._data[1]).all()
    np.testing.assert_allclose(result._data[0], np.ones((2, 1)))
    with pytest.raises(sd.linalg.LinAlgError, match="singular"):
        sd.linalg.solve_ex(batch, sd.ones(2, 2, 1), check_errors=True)


def test_matrix_exp_of_known_matrices():
    rot = sd.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=sd.float64) * (np.pi / 3)
    c, s = np.cos(np.pi / 3), np.sin(np.pi / 3)
    np.testing.assert_allclose(sd.linalg.matrix_exp(rot)._data, [[c, -s], [s, c]], atol=1e-14)
    d = sd.tensor([[1.0, 0.0], [0.0, -2.0]], dtype=sd.float64)
    np.testing.assert_allclose(sd.linalg.matrix_exp(d)._data, np.diag(np.exp([1.0, -2.0])), rtol=1e-14)
    assert sd.linalg.matrix_exp(sd.eye(3)).dtype == np.float32


def test_bad_inputs_raise():
    with pytest.raises(RuntimeError, match="lstsq: parameter `driver`"):
        sd.linalg.lstsq(sd.eye(2), sd.ones(2, 1), driver="magic")
    with pytest.raises(TypeError, match="matrix_power: n must be an integer"):
        sd.linalg.matrix_power(sd.eye(2), 1.5)
    with pytest.raises(RuntimeError, match="tensorinv: Expected self to satisfy"):
        sd.linalg.tensorinv(sd.ones(2, 3), ind=1)
    with pytest.raises(RuntimeError, match="vander: N must be greater than 0"):
        sd.linalg.vander(sd.ones(3), N=0)
    with pytest.raises(RuntimeError, match="linalg.pinv: A must be batches of square matrices"):
        sd.linalg.pinv(sd.ones(2, 3), hermitian=True)
