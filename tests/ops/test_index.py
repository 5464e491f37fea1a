"""Indexing: slices, ints, None/Ellipsis, negative steps, integer arrays (repeats accumulate), bool masks,
gather, scatter_add, index_add, index_select, take_along_dim, masked_fill."""
import numpy as np
import pytest
import torch
from helpers import Const, case, spec_tests

import shendu as sd

X = (4, 5, 3)
REPEATED = np.array([0, 2, 0, 3, 2, 2])
MASK = np.random.default_rng(1).random((4, 5)) > 0.4
GATHER_IDX = np.array([[0, 2, 2], [1, 1, 0], [3, 0, 3]])  # for a (4, 3) input along dim 0 / (3, 4) along 1


def _idx(fn):
    """``fn(lib)`` builds an index from lib.tensor; used to write one index for both libraries."""
    return (lambda x: x[fn(sd)]), (lambda x: x[fn(torch)])


def idx_case(id, fn, shape=X, **kw):
    s, t = _idx(fn)
    return case(id, s, t, [shape], **kw)


def ip_case(id, fn, values, accumulate, x=(4, 5), grad=True):
    """index_put(x, fn(lib), v, accumulate) in both libraries; ``fn`` builds the indices tuple."""
    return case(id, lambda x, v: sd.index_put(x, fn(sd), v, accumulate),
                lambda x, v: torch.index_put(x, fn(torch), v, accumulate), [x, values],
                grad=grad or accumulate)


IP_ROWS = [  # name, indices, values shape, gradcheck without accumulate
    ("rows", lambda L: (L.tensor([0, 3]),), (2, 5), True),
    ("rows_bcast", lambda L: (L.tensor([0, 3]),), (5,), True),
    ("scalar_value", lambda L: (L.tensor([1, 2]),), (), True),
    ("pairs", lambda L: (L.tensor([0, 1, 3]), L.tensor([4, 4, 0])), (3,), True),
    ("pairs_bcast_index", lambda L: (L.tensor([[0], [2]]), L.tensor([1, 3, 4])), (2, 3), True),
    # a repeated position: one value wins the write, but PyTorch sends the gradient to all of them,
    # so a numerical gradcheck of the values cannot agree there; parity checks it.
    ("repeated", lambda L: (L.tensor([0, 2, 0]),), (3, 5), False),
    ("repeated_pairs", lambda L: (L.tensor([1, 1, 1]), L.tensor([2, 2, 0])), (3,), False),
    ("bool_mask", lambda L: (L.tensor(MASK),), (int(MASK.sum()),), True),
    ("bool_mask_scalar", lambda L: (L.tensor(MASK),), (), True),
    ("bool_rows", lambda L: (L.tensor(np.array([True, False, False, True])),), (1, 5), True),
]


SC_IDX = np.array([[0, 2, 2], [1, 1, 0], [3, 0, 3]])  # (3, 3) into a (4, 3) input along dim 0
DISTINCT_SRC = np.random.default_rng(7).permutation(9).reshape(3, 3).astype(np.float64) / 3 - 1.2
DISTINCT_X = np.random.default_rng(8).permutation(12).reshape(4, 3).astype(np.float64) / 5 - 1.1


def sr_case(reduce, include_self, grad=True):
    return case(f"scatter_reduce_{reduce}_{include_self}",
                lambda x, i, s: x.scatter_reduce(0, i, s, reduce, include_self=include_self), None,
                [DISTINCT_X, Const(SC_IDX), DISTINCT_SRC], grad=grad)


SCATTER_CASES = [
    # no repeated positions per column in UNIQUE_IDX: scatter's written value is then well defined
    case("scatter", lambda x, i, s: x.scatter(0, i, s), None, [(4, 3), Const(np.array([[0, 2, 1], [3, 1, 0]])),
                                                                (2, 3)]),
    case("scatter_dim1", lambda x, i, s: x.scatter(1, i, s), None,
         [(3, 4), Const(np.array([[3, 0], [1, 2], [0, 3]])), (3, 2)]),
    case("scatter_value", lambda x, i: x.scatter(-1, i, 2.5), None, [(3, 4), Const(np.array([[3, 0], [1, 2],
                                                                                             [0, 3]]))]),
    case("torch.scatter_value_kw", lambda x, i: (sd if isinstance(x, sd.Tensor) else torch).scatter(
        x, 0, i, value=-1.0), None, [(4, 3), Const(np.array([[0, 2, 1]]))]),
    case("scatter_reduce_add", lambda x, i, s: x.scatter(0, i, s, reduce="add"), None,
         [(4, 3), Const(SC_IDX), (3, 3)], forward_only=True),
    case("scatter_reduce_multiply", lambda x, i, s: x.scatter(0, i, s, reduce="multiply"), None,
         [(4, 3), Const(SC_IDX), (3, 3)], forward_only=True),
    *[sr_case(r, inc) for r in ("sum", "mean", "amax", "amin") for inc in (True, False)],
    sr_case("prod", True), sr_case("prod", False),
    # ties between input and src (and within src) share amax's gradient equally, as PyTorch
    case("scatter_reduce_amax_ties", lambda x, i, s: x.scatter_reduce(0, i, s, "amax"), None,
         [np.ones((4, 3)), Const(SC_IDX), np.ones((3, 3))], grad=False),
    case("scatter_reduce_mean_int", lambda x, i, s: x.scatter_reduce(0, i, s, "mean"), None,
         [Const(np.arange(12).reshape(4, 3)), Const(SC_IDX), Const(np.arange(9).reshape(3, 3) * 5)],
         grad=False),
    case("index_fill", lambda x, i: x.index_fill(1, i, -2.0), None, [(3, 4), Const(np.array([0, 2]))]),
    case("index_fill_tensor_value", lambda x, i, v: x.index_fill(0, i, v), None,
         [(3, 4), Const(np.array([2])), ()]),
    case("index_copy", lambda x, i, s: x.index_copy(0, i, s), None, [(4, 3), Const(np.array([3, 0])), (2, 3)]),
    case("index_copy_dim1", lambda x, i, s: x.index_copy(-1, i, s), None,
         [(2, 4), Const(np.array([1, 3, 0])), (2, 3)]),
    case("masked_select", lambda x, m: x.masked_select(m), None, [(4, 5), Const(MASK)]),
    case("masked_select_bcast", lambda x, m: x.masked_select(m), None, [(3, 4, 5), Const(MASK)]),
    case("masked_select_bcast_input", lambda x, m: x.masked_select(m), None, [(5,), Const(MASK)]),
    case("masked_scatter", lambda x, m, s: x.masked_scatter(m, s), None, [(4, 5), Const(MASK), (30,)]),
    case("masked_scatter_bcast", lambda x, m, s: x.masked_scatter(m, s), None,
         [(4, 5), Const(MASK[:1]), (4, 5)]),
    case("take", lambda x, i: x.take(i), None, [(3, 4), Const(np.array([[11, 0], [-1, 5]]))]),
    case("take_repeated", lambda x, i: (sd if isinstance(x, sd.Tensor) else torch).take(x, i), None,
         [(3, 4), Const(np.array([1, 1, 7]))]),
]


CASES = [
    case("slice", lambda x: x[:, 2:5], None, [X]),
    case("int", lambda x: x[1], None, [X]),
    case("neg_int", lambda x: x[-1, 2], None, [X]),
    case("scalar_elem", lambda x: x[1, 2, 0], None, [X]),
    case("none_ellipsis", lambda x: x[..., None], None, [X]),
    case("none_middle", lambda x: x[:, None, 1:3], None, [X]),
    case("ellipsis_int", lambda x: x[..., 1], None, [X]),
    case("step", lambda x: x[::2, 1::2], None, [X]),
    # PyTorch has no negative steps; flip is the same selection.
    case("neg_step", lambda x: x[::-1], lambda x: x.flip(0), [X]),
    case("neg_step_2", lambda x: x[::-1, ::-2], lambda x: x.flip((0, 1))[:, ::2], [X]),
    idx_case("int_list", lambda L: L.tensor([0, 2, 3])),
    idx_case("int_repeated", lambda L: L.tensor(REPEATED)),
    idx_case("int_repeated_2d", lambda L: L.tensor(REPEATED.reshape(2, 3))),
    idx_case("int_negative", lambda L: L.tensor([-1, 0, -1])),
    idx_case("int_pair", lambda L: (L.tensor([0, 0, 3]), L.tensor([1, 1, 4]))),
    idx_case("int_second_dim", lambda L: (slice(None), L.tensor([4, 0, 4]))),
    idx_case("mixed_idx_slice", lambda L: (L.tensor([1, 1, 2]), slice(1, 3))),
    idx_case("mixed_slice_idx_slice", lambda L: (slice(None, 2), L.tensor([3, 3]), slice(None))),
    idx_case("bool_mask", lambda L: L.tensor(MASK)),
    idx_case("bool_mask_1d", lambda L: L.tensor(np.array([True, False, True, True]))),
    idx_case("bool_mask_dim1", lambda L: (slice(None), L.tensor(np.array([True, False, True, False, True])))),
    case("list_index", lambda x: x[[0, 0, 1]], None, [X]),
    case("gather", lambda x, i: x.gather(0, i), None, [(4, 3), Const(GATHER_IDX)]),
    case("gather_dim1", lambda x, i: x.gather(1, i), None, [(3, 4), Const(GATHER_IDX)]),
    case("gather_neg_dim", lambda x, i: x.gather(-1, i), None, [(3, 4), Const(GATHER_IDX[:, :2])]),
    case("torch.gather", lambda x, i: sd.gather(x, 1, i), lambda x, i: torch.gather(x, 1, i),
         [(3, 5), Const(GATHER_IDX)]),
    case("scatter_add", lambda x, i, s: x.scatter_add(0, i, s), None, [(4, 3), Const(GATHER_IDX), (3, 3)]),
    case("scatter_add_dim1", lambda x, i, s: x.scatter_add(1, i, s), None, [(3, 4), Const(GATHER_IDX), (3, 3)]),
    # PyTorch's backward rejects an index smaller than src (its gradient has the index's shape): forward only.
    case("scatter_add_small_idx", lambda x, i, s: x.scatter_add(1, i, s), None,
         [(3, 4), Const(GATHER_IDX[:2, :2]), (3, 3)], forward_only=True),
    case("torch.scatter_add", lambda x, i, s: sd.scatter_add(x, 0, i, s),
         lambda x, i, s: torch.scatter_add(x, 0, i, s), [(4, 3), Const(GATHER_IDX), (3, 3)]),
    case("index_add", lambda x, i, s: x.index_add(0, i, s), None, [(4, 3), Const(REPEATED), (6, 3)]),
    case("index_add_dim1_alpha", lambda x, i, s: x.index_add(1, i, s, alpha=2.0), None,
         [(2, 4), Const(REPEATED), (2, 6)]),
    case("torch.index_add", lambda x, i, s: sd.index_add(x, -1, i, s),
         lambda x, i, s: torch.index_add(x, -1, i, s), [(2, 4), Const(REPEATED), (2, 6)]),
    case("index_select", lambda x, i: x.index_select(0, i), None, [X, Const(REPEATED)]),
    case("index_select_dim", lambda x, i: x.index_select(-1, i), None, [X, Const(np.array([2, 0, 2]))]),
    case("torch.index_select", lambda x, i: sd.index_select(x, 1, i), lambda x, i: torch.index_select(x, 1, i),
         [X, Const(np.array([4, 4, 1]))]),
    case("take_along_dim", lambda x, i: sd.take_along_dim(x, i, 1), lambda x, i: torch.take_along_dim(x, i, 1),
         [(3, 4), Const(GATHER_IDX)]),
    case("take_along_dim_bcast", lambda x, i: sd.take_along_dim(x, i, 1),
         lambda x, i: torch.take_along_dim(x, i, 1), [(3, 4), Const(np.array([[3, 0]]))]),
    case("take_along_dim_flat", lambda x, i: sd.take_along_dim(x, i), lambda x, i: torch.take_along_dim(x, i),
         [(3, 4), Const(np.array([11, 0, 11, 5]))]),
    case("take_along_argmax", lambda x: sd.take_along_dim(x, x.argmax(1, keepdim=True), 1),
         lambda x: torch.take_along_dim(x, x.argmax(1, keepdim=True), 1), [(3, 4)]),
    case("masked_fill", lambda x, m: x.masked_fill(m, -1.5), None, [(4, 5), Const(MASK)]),
    case("masked_fill_bcast", lambda x, m: x.masked_fill(m, 0.0), None, [X, Const(MASK[0][:, None])]),
    case("masked_fill_neg_inf_softmax", lambda x, m: x.masked_fill(m, float("-inf")).softmax(-1), None,
         [(4, 5), Const(~np.eye(4, 5, dtype=bool))]),
    case("torch.masked_fill", lambda x, m: sd.masked_fill(x, m, 2), lambda x, m: torch.masked_fill(x, m, 2),
         [(4, 5), Const(MASK)]),
    case("getitem_noncontig", lambda x: x[1:, [0, 0, 2]], None, [(3, 4)], noncontig=True),
    case("getitem_transposed", lambda x: x.mT[[1, 1, 0]], None, [(3, 4)]),
    *[ip_case(f"index_put_{name}{'_acc' if acc else ''}", fn, v, acc, grad=grad)
      for name, fn, v, grad in IP_ROWS for acc in (False, True)],
    *SCATTER_CASES,
    case("empty_index", lambda x: x[sd.tensor(np.zeros(0, dtype=np.int64))] if isinstance(x, sd.Tensor)
         else x[torch.zeros(0, dtype=torch.int64)], None, [(3, 4)]),
]


test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def test_repeated_index_gradient_accumulates():
    x = sd.zeros(4, requires_grad=True)
    x[sd.tensor([1, 1, 1, 3])].backward(sd.tensor([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 6.0, 0.0, 4.0])


def test_index_dtypes():
    x = sd.arange(12).reshape(3, 4)
    assert x[1].dtype == sd.int64
    assert x[sd.tensor([True, False, True])].shape == (2, 4)
    with pytest.raises(IndexError, match="index"):
        x[sd.tensor([0.0, 1.0])]


def test_setitem_under_no_grad():
    x = sd.zeros(3, 4)
    x[1, 2:] = 5.0
    x[sd.tensor([0, 2])] = sd.ones(4)
    t = torch.zeros(3, 4)
    t[1, 2:] = 5.0
    t[torch.tensor([0, 2])] = torch.ones(4)
    np.testing.assert_array_equal(x.numpy(), t.numpy())


def test_index_out_of_range_raises_index_error():
    x = sd.ones(3, 4)
    with pytest.raises(IndexError, match=r"\(3, 4\)"):
        x[3]
    with pytest.raises(IndexError, match=r"\(3, 4\)"):
        x[:, 4]
    with pytest.raises(IndexError, match=r"\(3, 4\)"):
        x[sd.tensor([0, 5])]
    with pytest.raises(IndexError):
        x[0, 0, 0]
    with pytest.raises(IndexError, match=r"\(3, 4\)"):
        x[3] = 1.0


def test_gather_out_of_range_raises():
    x = sd.ones(3, 4)
    with pytest.raises((IndexError, RuntimeError), match=r"gather.*4"):
        x.gather(1, sd.tensor([[0, 4]]))
    with pytest.raises(RuntimeError, match="gather"):
        x.gather(1, sd.tensor([0, 1]))  # index has fewer dims than the input
    with pytest.raises(RuntimeError, match="gather"):
        x.gather(1, sd.tensor([[0.0]]))


def test_scatter_add_and_index_add_errors():
    x = sd.zeros(3, 4)
    with pytest.raises((IndexError, RuntimeError), match="scatter_add"):
        x.scatter_add(0, sd.tensor([[5, 0]]), sd.ones(1, 2))
    with pytest.raises((IndexError, RuntimeError), match="index_add"):
        x.index_add(0, sd.tensor([0, 7]), sd.ones(2, 4))
    with pytest.raises((IndexError, RuntimeError), match="index_select"):
        x.index_select(1, sd.tensor([4]))


def test_index_put_general_index_and_dtype():
    """Any getitem index works (what ``x[idx] = v`` needs), values take the input's dtype."""
    x = sd.zeros(3, 4, requires_grad=True)
    v = sd.tensor([1.0, 2.0], dtype=sd.float64, requires_grad=True)
    y = sd.index_put(x, (slice(1, None), 2), v)
    t = torch.zeros(3, 4)
    t[1:, 2] = torch.tensor([1.0, 2.0])
    assert y.dtype == sd.float32
    np.testing.assert_array_equal(y.detach().numpy(), t.numpy())
    g = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    y.backward(sd.tensor(g))
    np.testing.assert_array_equal(v.grad.numpy(), [6.0, 10.0])
    assert v.grad.dtype == sd.float64
    expected = g.copy()
    expected[1:, 2] = 0.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    assert x.index_put((sd.tensor([0]),), sd.tensor(5.0)).detach().numpy()[0].tolist() == [5.0] * 4
    assert sd.arange(4).index_put((sd.tensor([1]),), sd.tensor(7), accumulate=True).tolist() == [0, 8, 2, 3]


def test_index_put_errors():
    x = sd.zeros(3, 4)
    with pytest.raises(IndexError, match="index_put"):
        sd.index_put(x, (sd.tensor([3]),), sd.tensor(1.0))
    with pytest.raises(ValueError, match="index_put"):
        sd.index_put(x, (sd.tensor([0, 1]),), sd.ones(3))


def test_masked_fill_needs_bool_mask():
    with pytest.raises(RuntimeError, match="masked_fill"):
        sd.ones(3).masked_fill(sd.tensor([1, 0, 1]), 0.0)


def test_masked_fill_keeps_dtype():
    assert sd.ones(3).masked_fill(sd.tensor([True, False, True]), 0).dtype == sd.float32
    assert sd.arange(3).masked_fill(sd.tensor([True, False, True]), 7).dtype == sd.int64


def test_nonzero_argwhere_and_single_argument_where():
    a = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    for arr in (a, a > 0, np.array([0, 3, 0, 4]), np.array(2.0), np.array(0.0), np.zeros((2, 0))):
        s, t = sd.from_numpy(arr.copy()), torch.from_numpy(arr.copy())
        np.testing.assert_array_equal(s.nonzero().numpy(), t.nonzero().numpy())
        assert s.nonzero().dtype == sd.int64 and s.nonzero().shape == tuple(t.nonzero().shape)
        np.testing.assert_array_equal(sd.argwhere(s).numpy(), torch.argwhere(t).numpy())
        for si, ti in zip(s.nonzero(as_tuple=True), t.nonzero(as_tuple=True)):
            np.testing.assert_array_equal(si.numpy(), ti.numpy())
        ws, wt = sd.where(s), torch.where(t)
        assert len(ws) == len(wt)
        for si, ti in zip(ws, wt):
            assert si.dtype == sd.int64
            np.testing.assert_array_equal(si.numpy(), ti.numpy())


def test_out_of_range_dims_raise_index_error():
    x = sd.ones(3, 4)
    i = sd.tensor([[0, 1]])
    for fn in (lambda: x.gather(4, i), lambda: x.gather(-3, i), lambda: x.scatter_add(2, i, sd.ones(1, 2)),
               lambda: x.scatter(2, i, 1.0), lambda: x.scatter_reduce(-3, i, sd.ones(1, 2), "sum"),
               lambda: x.index_select(2, sd.tensor([0])), lambda: x.index_add(2, sd.tensor([0]), sd.ones(3, 1)),
               lambda: x.index_fill(3, sd.tensor([0]), 1.0), lambda: x.index_copy(2, sd.tensor([0]), x),
               lambda: sd.take_along_dim(x, i, 2)):
        with pytest.raises(IndexError, match="dim"):
            fn()


def test_scatter_errors():
    x = sd.zeros(3, 4)
    with pytest.raises(RuntimeError, match="scatter_reduce"):
        x.scatter_reduce(0, sd.tensor([[0]]), sd.ones(1, 1), "max")
    with pytest.raises(IndexError, match="scatter"):
        x.scatter(0, sd.tensor([[3]]), sd.ones(1, 1))
    with pytest.raises(RuntimeError, match="masked_scatter"):
        x.masked_scatter(sd.ones(3, 4).bool(), sd.ones(5))
    with pytest.raises(IndexError, match="take"):
        x.take(sd.tensor([12]))
