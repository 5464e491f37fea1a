"""Sorting and searching: sort, argsort, msort, topk, kthvalue, median, nanmedian, mode (values,
indices and the values' gradient), ties as PyTorch; unique, bincount, histc, searchsorted, bucketize."""
import numpy as np
import pytest
import torch
from helpers import case, spec_tests

import shendu as sd

X = (3, 5)
# Distinct values: kthvalue/median pick among ties by an unspecified rule (quickselect) in PyTorch.
DISTINCT = np.random.default_rng(4).permutation(15).reshape(3, 5).astype(np.float64) / 4 - 1.5
ODD = np.random.default_rng(5).permutation(21).reshape(3, 7).astype(np.float64) / 4 - 2.0
# Ties: sort (stable in both directions), topk and max must order equal values as PyTorch does.
TIES = np.array([[1.0, 3.0, 1.0, 2.0, 3.0, 1.0], [0.5, 0.5, 0.5, -1.0, 2.0, 2.0]])
NAN = np.array([[1.0, np.nan, 3.0, 2.0], [np.nan, np.nan, 0.5, 0.25], [4.0, 1.0, 2.0, 3.0]])


def row(id, fn, shape=DISTINCT, **opts):
    return case(id, fn, None, [shape], **opts)


CASES = [
    row("sort", lambda x: x.sort()),
    row("sort_dim0", lambda x: x.sort(0)),
    row("sort_desc", lambda x: x.sort(-1, descending=True)),
    row("sort_stable_ties", lambda x: x.sort(stable=True), TIES, grad=False),
    row("sort_desc_stable_ties", lambda x: x.sort(descending=True, stable=True), TIES, grad=False),
    row("sort_kw", lambda x: torch.sort(x, dim=0, descending=True, stable=True) if isinstance(x, torch.Tensor)
        else sd.sort(x, dim=0, descending=True, stable=True), TIES, grad=False),
    row("argsort", lambda x: x.argsort(1), TIES, grad=False),
    row("argsort_desc", lambda x: x.argsort(0, descending=True), grad=False),
    row("msort", lambda x: x.msort()),
    row("msort_fn", lambda x: (sd if isinstance(x, sd.Tensor) else torch).msort(x)),
    row("topk", lambda x: x.topk(2)),
    row("topk_smallest_dim0", lambda x: x.topk(2, 0, largest=False)),
    # topk orders ties by its partial sort, not by position (row 1 gives [5, 4, 1]): no tie row
    row("topk_all", lambda x: x.topk(5, sorted=True)),
    row("max_ties", lambda x: x.max(1), TIES, grad=False),
    row("min_ties", lambda x: x.min(1), TIES, grad=False),
    row("kthvalue", lambda x: x.kthvalue(2)),
    row("kthvalue_dim0_keep", lambda x: x.kthvalue(3, 0, keepdim=True)),
    row("median_all", lambda x: x.median(), ODD),
    row("median_all_even", lambda x: x.median()),  # 15 entries: odd; DISTINCT[:, :4] below is even
    row("median_even", lambda x: x[:, :4].median()),
    row("median_dim", lambda x: x.median(1)),
    row("median_dim_even_keep", lambda x: x[:, :4].median(1, keepdim=True)),
    row("median_dim0", lambda x: x.median(0), ODD),
    row("median_nan", lambda x: x.median(1), NAN, grad=False),
    row("median_nan_all", lambda x: x.median(), NAN, grad=False),
    row("median_all_ties", lambda x: x.median(), TIES, grad=False),  # the gradient is shared by the ties
    row("nanmedian_all_ties", lambda x: x.nanmedian(), TIES, grad=False),
    row("nanmedian", lambda x: x.nanmedian(1), NAN, grad=False),
    row("nanmedian_all", lambda x: x.nanmedian(), NAN, grad=False),
    row("nanmedian_clean", lambda x: x.nanmedian(0)),
    row("mode", lambda x: x.mode(1), TIES, grad=False),
    row("mode_dim0_keep", lambda x: x.mode(0, keepdim=True), TIES, grad=False),
    row("mode_fn", lambda x: (sd if isinstance(x, sd.Tensor) else torch).mode(x), TIES, grad=False),
    row("sort_3d", lambda x: x.reshape(3, 1, 5).sort(-1, descending=True)),
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def _pair(fn, *arrays):
    """fn run on shendu and on PyTorch tensors of the same arrays; every output compared exactly."""
    out_s = fn(sd, *[sd.from_numpy(np.asarray(a)) for a in arrays])
    out_t = fn(torch, *[torch.tensor(a) for a in arrays])
    out_s = out_s if isinstance(out_s, tuple) else (out_s,)
    out_t = out_t if isinstance(out_t, tuple) else (out_t,)
    assert len(out_s) == len(out_t)
    for s, t in zip(out_s, out_t):
        assert s.shape == tuple(t.shape)
        assert s.dtype == t.numpy().dtype, (s.dtype, t.dtype)
        np.testing.assert_allclose(s.numpy(), t.numpy())


def test_return_types_are_namedtuples():
    x = sd.tensor(DISTINCT)
    for name, args in (("sort", ()), ("topk", (2,)), ("kthvalue", (1,)), ("median", (1,)), ("mode", ()),
                       ("nanmedian", (0,))):
        out = getattr(x, name)(*args)
        assert type(out).__name__ == name
        assert out.values is out[0] and out.indices is out[1]
        assert out.indices.dtype == sd.int64


INTS = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5])


@pytest.mark.parametrize("kw", [{}, {"return_inverse": True}, {"return_counts": True},
                                {"return_inverse": True, "return_counts": True}])
def test_unique(kw):
    _pair(lambda L, x: L.unique(x, **kw), INTS)
    _pair(lambda L, x: L.unique(x, **kw), INTS.reshape(1, 11).astype(np.float32))
    _pair(lambda L, x: L.unique_consecutive(x, **kw), np.array([1, 1, 2, 2, 3, 1, 1, 2]))


def test_unique_dim():
    rows = np.array([[1, 2], [0, 5], [1, 2], [0, 1]])
    _pair(lambda L, x: L.unique(x, dim=0, return_inverse=True, return_counts=True), rows)
    _pair(lambda L, x: L.unique_consecutive(x, dim=0, return_counts=True), np.array([[1, 2], [1, 2], [0, 1]]))


def test_bincount_histc():
    _pair(lambda L, x: L.bincount(x), INTS)
    _pair(lambda L, x: L.bincount(x, minlength=12), INTS)
    _pair(lambda L, x, w: L.bincount(x, weights=w), INTS, np.linspace(0, 1, 11).astype(np.float32))
    _pair(lambda L, x, w: L.bincount(x, w), INTS, np.linspace(0, 1, 11))
    data = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, -1.0, 2.5], dtype=np.float32)
    _pair(lambda L, x: L.histc(x, bins=4, min=0, max=2), data)
    _pair(lambda L, x: L.histc(x, bins=5), data)
    _pair(lambda L, x: x.histc(3, -1, 3), data)
    with pytest.raises(RuntimeError, match="bincount"):
        sd.bincount(sd.tensor([-1, 2]))


def test_searchsorted_bucketize():
    seq = np.array([1.0, 2.0, 2.0, 4.0, 7.0])
    vals = np.array([[0.0, 2.0, 3.0], [7.0, 8.0, 2.0]])
    for kw in ({}, {"right": True}, {"side": "right"}, {"side": "left"}, {"out_int32": True}):
        _pair(lambda L, s, v: L.searchsorted(s, v, **kw), seq, vals)
        _pair(lambda L, s, v: L.bucketize(v, s, **{k: w for k, w in kw.items() if k != "side"}), seq, vals)
    rows = np.array([[1.0, 3.0, 5.0], [2.0, 2.0, 6.0]])
    _pair(lambda L, s, v: L.searchsorted(s, v), rows, vals)
    _pair(lambda L, s, v: L.searchsorted(s, v, right=True), rows, vals)
    assert sd.searchsorted(sd.tensor(seq), 2.0).item() == 1


def test_errors_and_dims():
    x = sd.tensor(DISTINCT)
    for fn in (lambda: x.sort(2), lambda: x.topk(1, dim=-3), lambda: x.kthvalue(1, 5), lambda: x.median(2),
               lambda: x.mode(3), lambda: x.argsort(-3)):
        with pytest.raises(IndexError, match="dim"):
            fn()
    with pytest.raises(RuntimeError, match="topk"):
        x.topk(6)
    with pytest.raises(RuntimeError, match="kthvalue"):
        x.kthvalue(0)


def test_sort_values_gradient_goes_to_the_sorted_positions():
    x = sd.tensor([3.0, 1.0, 2.0], requires_grad=True)
    x.sort(descending=True).values.backward(sd.tensor([10.0, 20.0, 30.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [10.0, 30.0, 20.0])
