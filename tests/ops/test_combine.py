"""Diagonals (diagonal, diag, diag_embed, trace), index grids (tril/triu_indices, meshgrid,
cartesian_prod, combinations), block_diag, kron, tensordot, cross."""
import numpy as np
import pytest
import torch
from helpers import case, spec_tests

import shendu as sd


def lib(x):
    return sd if isinstance(x, sd.Tensor) else torch


CASES = [
    case("diagonal", lambda x: x.diagonal(), None, [(4, 5)]),
    case("diagonal_offset", lambda x: x.diagonal(1), None, [(4, 5)]),
    case("diagonal_neg_offset", lambda x: x.diagonal(-2), None, [(4, 5)]),
    case("diagonal_dims", lambda x: x.diagonal(0, 2, 0), None, [(3, 2, 4)]),
    case("diagonal_dims_neg", lambda x: x.diagonal(offset=1, dim1=-1, dim2=1), None, [(3, 2, 4)]),
    case("diag_1d", lambda x: lib(x).diag(x), None, [(4,)]),
    case("diag_1d_k", lambda x: lib(x).diag(x, 2), None, [(3,)]),
    case("diag_1d_neg_k", lambda x: lib(x).diag(x, -1), None, [(3,)]),
    case("diag_2d", lambda x: lib(x).diag(x, 1), None, [(3, 4)]),
    case("diag_embed", lambda x: lib(x).diag_embed(x), None, [(2, 3)]),
    case("diag_embed_offset_dims", lambda x: lib(x).diag_embed(x, -1, 0, 2), None, [(2, 3)]),
    case("trace", lambda x: x.trace(), None, [(3, 4)]),
    case("meshgrid_ij", lambda a, b: lib(a).meshgrid(a, b, indexing="ij"), None, [(3,), (4,)]),
    case("meshgrid_xy", lambda a, b, c: lib(a).meshgrid(a, b, c, indexing="xy"), None, [(3,), (4,), (2,)]),
    case("cartesian_prod", lambda a, b: lib(a).cartesian_prod(a, b), None, [(3,), (2,)]),
    case("combinations", lambda x: lib(x).combinations(x), None, [(4,)]),
    case("combinations_r3_repl", lambda x: lib(x).combinations(x, 3, with_replacement=True), None, [(3,)]),
    case("block_diag", lambda a, b, c: lib(a).block_diag(a, b, c), None, [(2, 3), (1, 2), (3,)]),
    case("kron", lambda a, b: lib(a).kron(a, b), None, [(2, 3), (3, 2)]),
    case("kron_mixed_ndim", lambda a, b: lib(a).kron(a, b), None, [(3,), (2, 2)]),
    case("tensordot", lambda a, b: lib(a).tensordot(a, b), None, [(2, 3, 4), (3, 4, 2)]),
    case("tensordot_int", lambda a, b: lib(a).tensordot(a, b, dims=1), None, [(2, 3), (3, 4)]),
    case("tensordot_lists", lambda a, b: lib(a).tensordot(a, b, dims=([0, 2], [2, 0])), None,
         [(2, 3, 4), (4, 5, 2)]),
    case("cross", lambda a, b: lib(a).cross(a, b, dim=1), None, [(4, 3), (4, 3)]),
    case("cross_bcast", lambda a, b: lib(a).cross(a, b, dim=-1), None, [(2, 1, 3), (1, 4, 3)]),
    case("cross_method_dim0", lambda a, b: a.cross(b, dim=0), None, [(3, 2), (3, 2)]),
    case("linalg_cross", lambda a, b: sd.ops.combine.linalg_cross(a, b) if isinstance(a, sd.Tensor)
         else torch.linalg.cross(a, b), None, [(2, 3), (2, 3)]),
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


@pytest.mark.parametrize("args", [(3, 3), (4, 3, 1), (3, 5, -1), (2, 4, 2), (0, 3)])
def test_tri_indices(args):
    for name in ("tril_indices", "triu_indices"):
        s, t = getattr(sd, name)(*args), getattr(torch, name)(*args)
        assert s.dtype == sd.int64
        np.testing.assert_array_equal(s.numpy(), t.numpy())


def test_errors():
    with pytest.raises(IndexError, match="diagonal"):
        sd.ones(2, 3).diagonal(0, 0, 2)
    with pytest.raises(RuntimeError, match="diagonal"):
        sd.ones(2, 3).diagonal(0, 1, 1)
    with pytest.raises(RuntimeError, match="diag"):
        sd.diag(sd.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match="cross"):
        sd.cross(sd.ones(2, 4), sd.ones(2, 4), dim=1)
    with pytest.raises(RuntimeError, match="tensordot"):
        sd.tensordot(sd.ones(2, 3), sd.ones(4, 3), dims=1)
    with pytest.raises(RuntimeError, match="meshgrid"):
        sd.meshgrid(sd.ones(2), indexing="ab")


def test_int_trace_and_kron_dtypes():
    a = torch.arange(9).reshape(3, 3)
    assert sd.arange(9).reshape(3, 3).trace().item() == a.trace().item()
    assert sd.arange(9).reshape(3, 3).trace().dtype == sd.int64
    np.testing.assert_array_equal(sd.kron(sd.tensor([[1, 2]]), sd.tensor([[1], [3]])).numpy(),
                                  torch.kron(torch.tensor([[1, 2]]), torch.tensor([[1], [3]])).numpy())
