"""Sparse COO tensors against torch.sparse: construction, to_dense/to_sparse, coalesce, sum, and
mm/matmul with gradients to the dense operand and to the values, under random upstream gradients."""
import numpy as np
import pytest
import torch

import shendu as sd

IDX = [[0, 1, 1, 2, 0], [2, 0, 2, 1, 2]]  # (0, 2) twice: uncoalesced
VALS = [3.0, -4.0, 5.0, 6.0, 1.5]


def _pair(requires_grad=False, dtype=np.float32):
    v = np.array(VALS, dtype=dtype)
    sv = sd.tensor(v, requires_grad=requires_grad)
    tv = torch.tensor(v, requires_grad=requires_grad)
    return sv, tv, sd.sparse_coo_tensor(IDX, sv, (3, 4)), torch.sparse_coo_tensor(IDX, tv, (3, 4))


def test_construction_and_structure():
    _, _, s, t = _pair()
    assert isinstance(s, sd.Tensor) and s.is_sparse and s.layout == sd.sparse_coo
    assert s.shape == tuple(t.shape) and s.dtype == sd.float32 and s._nnz() == t._nnz() == 5
    assert s.sparse_dim() == t.sparse_dim() and s.dense_dim() == t.dense_dim() and not s.is_coalesced()
    np.testing.assert_array_equal(s.to_dense().numpy(), t.to_dense().numpy())
    np.testing.assert_array_equal(s._indices().numpy(), t._indices().numpy())
    inferred = sd.sparse_coo_tensor(IDX, VALS)
    assert inferred.shape == tuple(torch.sparse_coo_tensor(IDX, VALS).shape) == (3, 3)
    with pytest.raises(RuntimeError, match="coalesce"):
        s.indices()
    assert "nnz=5" in repr(s) and "sparse_coo" in repr(s)


def test_coalesce_matches_torch():
    _, _, s, t = _pair()
    c, tc = s.coalesce(), t.coalesce()
    assert c.is_coalesced()
    np.testing.assert_array_equal(c.indices().numpy(), tc.indices().numpy())
    np.testing.assert_allclose(c.values().numpy(), tc.values().numpy())


def test_hybrid_values_to_dense():
    v = np.arange(6, dtype=np.float32).reshape(3, 2)
    idx = [[0, 2, 2]]
    s, t = sd.sparse_coo_tensor(idx, sd.tensor(v), (4, 2)), torch.sparse_coo_tensor(idx, torch.tensor(v), (4, 2))
    assert s.dense_dim() == t.dense_dim() == 1
    np.testing.assert_array_equal(s.to_dense().numpy(), t.to_dense().numpy())


@pytest.mark.parametrize("sparse_dim", [None, 1])
def test_to_sparse_round_trip_and_gradient(sparse_dim):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4)).astype(np.float32) * (rng.random((3, 4)) > 0.5)
    a[1] = 0.0
    x, tx = sd.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    s = x.to_sparse() if sparse_dim is None else x.to_sparse(sparse_dim)
    t = tx.to_sparse() if sparse_dim is None else tx.to_sparse(sparse_dim)
    assert s._nnz() == t._nnz() and s.is_coalesced()
    np.testing.assert_array_equal(s.indices().numpy(), t.indices().numpy())
    g = rng.normal(size=(3, 4)).astype(np.float32)
    s.to_dense().backward(sd.tensor(g))
    t.to_dense().backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())  # masked to the nonzero pattern


@pytest.mark.parametrize("form", ["sparse.mm", "mm", "matmul", "operator"])
def test_sparse_dense_product_values_and_gradients(form):
    rng = np.random.default_rng(1)
    sv, tv, s, t = _pair(requires_grad=True)
    d = rng.normal(size=(4, 5)).astype(np.float32)
    dx, tdx = sd.tensor(d, requires_grad=True), torch.tensor(d, requires_grad=True)
    op = {"sparse.mm": (sd.sparse.mm, torch.sparse.mm), "mm": (sd.mm, torch.mm),
          "matmul": (sd.matmul, torch.matmul), "operator": (lambda a, b: a @ b, lambda a, b: a @ b)}[form]
    y, ty = op[0](s, dx), op[1](t, tdx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = rng.normal(size=(3, 5)).astype(np.float32)
    y.backward(sd.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(dx.grad.numpy(), tdx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sv.grad.numpy(), tv.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_leaf_sparse_gradient_is_sparse_on_the_pattern():
    i = [[0, 1, 2], [1, 0, 3]]
    s = sd.sparse_coo_tensor(i, [1.0, 2.0, 3.0], (3, 4), requires_grad=True)
    t = torch.sparse_coo_tensor(i, [1.0, 2.0, 3.0], (3, 4), requires_grad=True)
    d = np.random.default_rng(2).normal(size=(4, 2)).astype(np.float32)
    g = np.random.default_rng(3).normal(size=(3, 2)).astype(np.float32)
    sd.sparse.mm(s, sd.tensor(d)).backward(sd.tensor(g))
    torch.sparse.mm(t, torch.tensor(d)).backward(torch.tensor(g))
    assert s.grad.is_sparse and t.grad.is_sparse
    np.testing.assert_allclose(s.grad.to_dense().numpy(), t.grad.to_dense().numpy(), rtol=1e-5, atol=1e-6)


def test_dense_times_sparse_and_vectors():
    _, _, s, t = _pair()
    rng = np.random.default_rng(4)
    d, v = rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    np.testing.assert_allclose((sd.tensor(d) @ s).numpy(), (torch.tensor(d) @ t).numpy(), rtol=1e-5)
    np.testing.assert_allclose(sd.mm(sd.tensor(d), s).numpy(), torch.mm(torch.tensor(d), t).numpy(), rtol=1e-5)
    np.testing.assert_allclose(sd.matmul(s, sd.tensor(v)).numpy(), torch.matmul(t, torch.tensor(v)).numpy(),
                               rtol=1e-5)
    np.testing.assert_allclose(s.t().to_dense().numpy(), t.t().to_dense().numpy())


def test_sparse_mm_gradcheck_float64():
    sv = sd.tensor(np.array(VALS), requires_grad=True)
    d = sd.tensor(np.random.default_rng(5).normal(size=(4, 3)), requires_grad=True)
    assert sd.gradcheck(lambda v, m: sd.sparse.mm(sd.sparse_coo_tensor(IDX, v, (3, 4)), m), (sv, d))
    assert sd.gradgradcheck(lambda v, m: sd.sparse.mm(sd.sparse_coo_tensor(IDX, v, (3, 4)), m), (sv, d))


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1)])
def test_sparse_sum_matches_torch(dim):
    sv, tv, s, t = _pair(requires_grad=True)
    a = sd.sparse.sum(s) if dim is None else sd.sparse.sum(s, dim)
    b = torch.sparse.sum(t) if dim is None else torch.sparse.sum(t, dim)
    dense_a = a.to_dense() if getattr(a, "is_sparse", False) else a
    dense_b = b.to_dense() if b.is_sparse else b
    np.testing.assert_allclose(dense_a.detach().numpy(), dense_b.detach().numpy(), rtol=1e-6)
    g = np.random.default_rng(6).normal(size=tuple(dense_b.shape)).astype(np.float32)
    dense_a.backward(sd.tensor(g))
    dense_b.backward(torch.tensor(g))
    np.testing.assert_allclose(sv.grad.numpy(), tv.grad.numpy(), rtol=1e-6)


def test_scalar_multiplication_and_addition():
    _, _, s, t = _pair()
    np.testing.assert_allclose((s * 2).to_dense().numpy(), (t * 2).to_dense().numpy())
    np.testing.assert_allclose((s + s).to_dense().numpy(), (t + t).to_dense().numpy())
    dense = np.ones((3, 4), dtype=np.float32)
    np.testing.assert_allclose((sd.tensor(dense) + s).numpy(), (torch.tensor(dense) + t).numpy())


def test_dense_ops_on_sparse_raise_naming_to_dense():
    _, _, s, _ = _pair()
    with pytest.raises(TypeError, match="to_dense"):
        s.exp()
    with pytest.raises(TypeError, match="to_dense"):
        s.numpy()
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        sd.sparse.mm(s, sd.zeros(3, 2))


@pytest.mark.parametrize("indices, values, size, match", [
    ([[0, 5]], [1.0, 2.0], (3,), "out of bounds"),
    ([[0, 1]], [1.0], (3,), "entries"),
    ([[0.5, 1]], [1.0, 2.0], (3,), "int64"),
    ([[-1, 1]], [1.0, 2.0], (3,), "negative"),
])
def test_construction_errors(indices, values, size, match):
    with pytest.raises(RuntimeError, match=match):
        sd.sparse_coo_tensor(indices, values, size)
