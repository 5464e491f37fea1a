"""Matrix norms against PyTorch: matrix_norm (every ord, dims, keepdim), linalg.norm's dispatch,
matrix_rank (tolerances, hermitian), cond (every p); values, gradients, gradcheck, errors."""
import math

import numpy as np
import pytest
import torch
from helpers import case, check_op, spec_tests

import shendu as sd

INF = math.inf
TOL = {"rtol": 1e-4, "atol": 1e-5, "grad_rtol": 1e-3, "grad_atol": 1e-4}
ORDS = ("fro", "nuc", 2, -2, 1, -1, INF, -INF)


def lib_of(x):
    return torch if isinstance(x, torch.Tensor) else sd


def both(id, fn, shapes, **kw):
    return case(id, fn, None, shapes, **{**TOL, **kw})


CASES = [
    *[both(f"matrix_norm_{o}", lambda a, o=o: lib_of(a).linalg.matrix_norm(a, o), [(2, 4, 3)]) for o in ORDS],
    *[both(f"matrix_norm_{o}_dims_keepdim", lambda a, o=o: lib_of(a).linalg.matrix_norm(a, o, (0, 2), True),
           [(3, 2, 4)]) for o in ORDS],
    *[both(f"matrix_norm_{o}_dims_reversed", lambda a, o=o: lib_of(a).linalg.matrix_norm(a, o, (-1, 0)),
           [(3, 2, 4)]) for o in (1, INF, "nuc")],
    both("norm_flat", lambda a: lib_of(a).linalg.norm(a), [(2, 3, 4)]),
    both("norm_vector_dim", lambda a: lib_of(a).linalg.norm(a, 3, 1), [(2, 3)]),
    both("norm_vector_1d", lambda a: lib_of(a).linalg.norm(a, INF), [(5,)]),
    both("norm_matrix_2d", lambda a: lib_of(a).linalg.norm(a, "nuc"), [(3, 4)]),
    both("norm_matrix_dims", lambda a: lib_of(a).linalg.norm(a, -2, (1, 2), keepdim=True), [(2, 3, 4)]),
    both("norm_fro_default", lambda a: lib_of(a).linalg.norm(a, dim=(0, 1)), [(3, 4)]),
    *[both(f"cond_{p}", lambda a, p=p: lib_of(a).linalg.cond(a + 3 * lib_of(a).eye(3, dtype=a.dtype), p),
           [(2, 3, 3)]) for p in (None, 2, -2, "nuc")],
    # PyTorch's backward fails for these orders (an in-place write inside linalg.cond): values only there;
    # the gradient is still gradchecked
    *[both(f"cond_{p}", lambda a, p=p: lib_of(a).linalg.cond(a + 3 * lib_of(a).eye(3, dtype=a.dtype), p),
           [(2, 3, 3)], forward_only=True) for p in ("fro", 1, -1, INF, -INF)],
    both("cond_rectangular", lambda a: lib_of(a).linalg.cond(a), [(5, 3)]),
    both("torch.nuclear_norm", lambda a: lib_of(a).nuclear_norm(a), [(3, 4)]),
    both("torch.nuclear_norm_dims", lambda a: lib_of(a).nuclear_norm(a, (0, 2), keepdim=True), [(3, 2, 4)]),
    both("torch.frobenius_norm", lambda a: lib_of(a).frobenius_norm(a, (0, 1)), [(3, 4)]),
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def test_inf_norm_ties_share_the_gradient_like_pytorch():
    ties = np.array([[1.0, -2.0], [2.0, 1.0]], dtype=np.float32)  # equal row and column sums
    for o in (1, INF, -1, -INF):
        check_op(lambda a, o=o: lib_of(a).linalg.matrix_norm(a, o), None, [ties])


def test_matrix_rank_matches_pytorch():
    rng = np.random.default_rng(0)
    low = (rng.standard_normal((3, 5, 2)) @ rng.standard_normal((3, 2, 4))).astype(np.float32)
    sym = (low @ low.transpose(0, 2, 1)).astype(np.float32)
    t_low, t_sym = torch.from_numpy(low), torch.from_numpy(sym)
    s_low, s_sym = sd.from_numpy(low), sd.from_numpy(sym)
    for kw in ({}, {"atol": 1.0}, {"rtol": 0.3}, {"atol": 0.5, "rtol": 0.1}):
        r = sd.linalg.matrix_rank(s_low, **kw)
        assert r.dtype == np.int64 and r.tolist() == torch.linalg.matrix_rank(t_low, **kw).tolist(), kw
    assert (sd.linalg.matrix_rank(s_sym, hermitian=True).tolist()
            == torch.linalg.matrix_rank(t_sym, hermitian=True).tolist() == [2, 2, 2])
    assert int(sd.linalg.matrix_rank(sd.eye(4))) == 4


def test_errors():
    with pytest.raises(RuntimeError, match="linalg.matrix_norm: Order 3 not supported"):
        sd.linalg.matrix_norm(sd.ones(2, 2), 3)
    with pytest.raises(RuntimeError, match="dim must be a 2-tuple"):
        sd.linalg.matrix_norm(sd.ones(2, 2), dim=(0,))
    with pytest.raises(IndexError):
        sd.linalg.matrix_norm(sd.ones(2, 2), dim=(0, 5))
    with pytest.raises(RuntimeError, match="If dim is not specified but ord is, the input must be 1D or 2D. Got 3D"):
        sd.linalg.norm(sd.ones(2, 2, 2), 2)
    with pytest.raises(RuntimeError, match="Order fro not supported for vector norms"):
        sd.linalg.norm(sd.ones(3), "fro")
    with pytest.raises(RuntimeError, match="must have at least 2 dimensions"):
        sd.linalg.matrix_norm(sd.ones(3))
