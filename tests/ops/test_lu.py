"""LU with partial pivoting against PyTorch: lu_factor (packed form, pivots), lu_factor_ex (info), lu,
lu_unpack, lu_solve (left / right, adjoint); values, gradients, gradcheck and gradgradcheck; errors."""
import numpy as np
import pytest
import torch
from helpers import case, spec_tests

import shendu as sd

TOL = {"rtol": 1e-4, "atol": 1e-5, "grad_rtol": 1e-3, "grad_atol": 1e-4}


def lib_of(x):
    return torch if isinstance(x, torch.Tensor) else sd


def both(id, fn, shapes, **kw):
    return case(id, fn, None, shapes, **{**TOL, **kw})


def lu_solve(a, b, left=True, adjoint=False):
    L = lib_of(a)
    LU, piv = L.linalg.lu_factor(a + 2 * L.eye(a.shape[-1], dtype=a.dtype))
    return L.linalg.lu_solve(LU, piv, b, left=left, adjoint=adjoint)


CASES = [
    both("lu_factor", lambda a: lib_of(a).linalg.lu_factor(a).LU, [(4, 4)]),
    both("lu_factor_batched", lambda a: lib_of(a).linalg.lu_factor(a).LU, [(2, 3, 3)]),
    both("lu_factor_tall", lambda a: lib_of(a).linalg.lu_factor(a).LU, [(5, 3)], grad=False, forward_only=True),
    both("lu_factor_wide", lambda a: lib_of(a).linalg.lu_factor(a).LU, [(3, 5)], grad=False, forward_only=True),
    both("lu", lambda a: lib_of(a).linalg.lu(a)[1:], [(2, 4, 4)]),
    both("lu_P", lambda a: lib_of(a).linalg.lu(a).P, [(2, 4, 4)], grad=False, forward_only=True),
    both("lu_rectangular", lambda a: lib_of(a).linalg.lu(a), [(5, 3)], grad=False, forward_only=True),
    both("lu_unpack", lambda a: lib_of(a).lu_unpack(*lib_of(a).linalg.lu_factor(a)), [(3, 3)]),
    *[both(f"lu_solve_left{lf}_adjoint{adj}", lambda a, b, lf=lf, adj=adj: lu_solve(a, b if lf else b.mT, lf, adj),
           [(2, 3, 3), (2, 3, 2)]) for lf in (True, False) for adj in (False, True)],
    both("torch.lu", lambda a: lib_of(a).lu(a)[0], [(2, 3, 3)]),
    both("torch.lu_solve", lambda a, b: lib_of(a).lu_solve(b, *lib_of(a).lu(a + 2 * lib_of(a).eye(3, dtype=a.dtype))),
         [(3, 3), (3, 2)]),
    both("method_lu_solve", lambda a, b: b.lu_solve(*(a + 2 * lib_of(a).eye(3, dtype=a.dtype)).lu()), [(3, 3), (3, 2)]),
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def test_pivots_info_and_reconstruction():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4, 4)).astype(np.float32)
    LU, piv = sd.linalg.lu_factor(sd.from_numpy(a))
    t_piv = torch.linalg.lu_factor(torch.from_numpy(a)).pivots
    assert piv.dtype == np.int32 and piv.tolist() == t_piv.tolist() and not piv.requires_grad
    P, L, U = sd.linalg.lu(sd.from_numpy(a))
    np.testing.assert_allclose(P._data @ L._data @ U._data, a, atol=1e-5)
    singular = sd.stack([sd.eye(2), sd.tensor([[1.0, 2.0], [2.0, 4.0]])])
    _, _, info = sd.linalg.lu_factor_ex(singular)
    assert info.tolist() == torch.linalg.lu_factor_ex(torch.from_numpy(singular._data)).info.tolist() == [0, 2]


def test_errors():
    with pytest.raises(sd.linalg.LinAlgError, match=r"lu_factor: \(Batch element 1\): U\[2,2\] is zero"):
        sd.linalg.lu_factor(sd.stack([sd.eye(2), sd.tensor([[1.0, 2.0], [2.0, 4.0]])]))
    with pytest.raises(RuntimeError, match="gradient is implemented for square matrices only"):
        sd.linalg.lu(sd.randn(4, 3, requires_grad=True)).U.sum().backward()
    with pytest.raises(RuntimeError, match="lu_solve: Incompatible shapes"):
        LU, piv = sd.linalg.lu_factor(sd.eye(3))
        sd.linalg.lu_solve(LU, piv, sd.ones(2, 1))
