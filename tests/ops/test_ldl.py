"""LDLᵀ with Bunch-Kaufman pivoting against PyTorch: the packed LD and the pivots (1x1 and 2x2 blocks)
equal PyTorch's (LAPACK's) on random symmetric matrices, ldl_solve solves, batches, errors."""
import numpy as np
import pytest
import torch

import shendu as sd


def symmetric(rng, n, scale_diagonal=1.0):
    a = rng.standard_normal((n, n))
    a = a + a.T
    a[np.diag_indices(n)] *= scale_diagonal
    return a


@pytest.mark.parametrize("scale", [1.0, 0.01, 0.0])  # small / zero diagonals force 2x2 pivots
def test_ldl_factor_matches_pytorch(scale):
    rng = np.random.default_rng(int(scale * 100))
    two_by_two = 0
    for n in (1, 2, 3, 5, 8):
        for _ in range(4):
            a = symmetric(rng, n, scale)
            try:
                t_ld, t_piv = torch.linalg.ldl_factor(torch.from_numpy(a))
            except RuntimeError:  # singular: PyTorch raises
                continue
            ld, piv = sd.linalg.ldl_factor(sd.from_numpy(a))
            assert piv.dtype == np.int32 and piv.tolist() == t_piv.tolist()
            np.testing.assert_allclose(ld._data, t_ld.numpy(), atol=1e-10)
            two_by_two += int((piv._data < 0).any())
            b = rng.standard_normal((n, 2))
            x = sd.linalg.ldl_solve(ld, piv, sd.from_numpy(b))
            np.testing.assert_allclose(a @ x._data, b, atol=1e-9)
            np.testing.assert_allclose(x._data, torch.linalg.ldl_solve(t_ld, t_piv, torch.from_numpy(b)).numpy(),
                                       atol=1e-9)
    if scale < 1:
        assert two_by_two > 0  # the 2x2 branch was exercised


def test_batched_float32_reads_the_lower_triangle():
    rng = np.random.default_rng(3)
    a = np.stack([symmetric(rng, 4) for _ in range(3)]).astype(np.float32)
    a_upper_garbage = a + np.triu(rng.standard_normal((4, 4)), 1).astype(np.float32)
    ld, piv = sd.linalg.ldl_factor(sd.from_numpy(a_upper_garbage))
    t_ld, t_piv = torch.linalg.ldl_factor(torch.from_numpy(a))
    assert ld.dtype == np.float32 and ld.shape == (3, 4, 4) and piv.shape == (3, 4)
    np.testing.assert_allclose(ld._data, t_ld.numpy(), rtol=1e-5, atol=1e-5)
    b = rng.standard_normal((3, 4, 1)).astype(np.float32)
    np.testing.assert_allclose(a @ sd.linalg.ldl_solve(ld, piv, sd.from_numpy(b))._data, b, atol=1e-4)


def test_singular_matrices():
    z = sd.zeros(2, 2, dtype=sd.float64)
    ld, piv, info = sd.linalg.ldl_factor_ex(z)
    assert int(info) == 1
    with pytest.raises(sd.linalg.LinAlgError, match="ldl_factor: D\\[1,1\\] is zero"):
        sd.linalg.ldl_factor(z)
    with pytest.raises(RuntimeError, match="ldl_solve: Incompatible shapes"):
        sd.linalg.ldl_solve(ld, piv, sd.ones(3, 1, dtype=sd.float64))
