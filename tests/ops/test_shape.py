"""Shape ops: reshape/view, flatten, transpose/permute, expand, squeeze, cat/stack/split, pad, repeat, flip, tri."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import case, check_op, spec_tests

import shendu as sd
import shendu.nn.functional as F

X = (2, 3, 4)


def _lib(fn):
    """A case function written once against a module: ``fn(lib, *inputs)`` for lib in (shendu, torch)."""
    return (lambda *a: fn(sd, *a)), (lambda *a: fn(torch, *a))


def both(id, fn, shapes, **kw):
    s, t = _lib(fn)
    return case(id, s, t, shapes, **kw)


CASES = [
    case("reshape", lambda x: x.reshape(4, 6), None, [X]),
    case("reshape_tuple", lambda x: x.reshape((3, -1)), None, [X]),
    case("reshape_neg1", lambda x: x.reshape(-1), None, [X]),
    case("view", lambda x: x.view(2, -1), None, [X]),
    case("view_as", lambda x, y: x.view_as(y), None, [X, (6, 4)]),
    case("flatten", lambda x: x.flatten(), None, [X]),
    case("flatten_1", lambda x: x.flatten(1), None, [X]),
    case("flatten_0_1", lambda x: x.flatten(0, 1), None, [(2, 3, 4, 5)]),
    case("flatten_neg", lambda x: x.flatten(-3, -2), None, [(2, 3, 4, 5)]),
    case("unflatten", lambda x: x.unflatten(2, (2, 2)), None, [X]),
    case("unflatten_neg", lambda x: x.unflatten(-2, (3, 1)), None, [X]),
    case("transpose", lambda x: x.transpose(0, 2), None, [X]),
    case("transpose_neg", lambda x: x.transpose(-1, -2), None, [X]),
    case("swapaxes", lambda x: x.swapaxes(0, 1), None, [X]),
    case("permute", lambda x: x.permute(2, 0, 1), None, [X]),
    case("permute_tuple_neg", lambda x: x.permute((-1, 0, 1)), None, [X]),
    case("T", lambda x: x.T, None, [(3, 4)]),
    case("t", lambda x: x.t(), None, [(3, 4)]),
    case("mT", lambda x: x.mT, None, [X]),
    case("movedim", lambda x: x.movedim(0, -1), None, [X]),
    case("movedim_multi", lambda x: x.movedim((0, 1), (2, 0)), None, [X]),
    case("expand", lambda x: x.expand(2, 3, 4), None, [(3, 1)]),
    case("expand_neg1", lambda x: x.expand(5, -1, 4), None, [(3, 1)]),
    case("expand_as", lambda x, y: x.expand_as(y), None, [(1, 4), (3, 4)]),
    case("broadcast_to", lambda x: x.broadcast_to((2, 3, 4)), None, [(4,)]),
    case("squeeze", lambda x: x.squeeze(), None, [(2, 1, 3, 1)]),
    case("squeeze_dim", lambda x: x.squeeze(1), None, [(2, 1, 3, 1)]),
    case("squeeze_neg", lambda x: x.squeeze(-1), None, [(2, 1, 3, 1)]),
    case("squeeze_noop", lambda x: x.squeeze(0), None, [(2, 1, 3)]),
    case("unsqueeze", lambda x: x.unsqueeze(1), None, [X]),
    case("unsqueeze_neg", lambda x: x.unsqueeze(-1), None, [X]),
    both("cat", lambda L, x, y: L.cat([x, y], 1), [(2, 3, 4), (2, 5, 4)]),
    both("cat_neg", lambda L, x, y, z: L.cat([x, y, z], -1), [(2, 3), (2, 1), (2, 4)]),
    both("cat_same_tensor", lambda L, x: L.cat([x, x * 2], 0), [(2, 3)]),
    both("stack", lambda L, x, y: L.stack([x, y]), [(3, 4), (3, 4)]),
    both("stack_dim_neg", lambda L, x, y: L.stack([x, y], -1), [(3, 4), (3, 4)]),
    both("stack_1d", lambda L, x, y: L.stack((x, y), 1), [(3,), (3,)]),
    case("split_int", lambda x: x.split(2, 1), None, [(2, 5, 3)]),
    case("split_sections", lambda x: x.split([1, 3, 1], -2), None, [(2, 5, 3)]),
    case("split_part", lambda x: x.split(2)[1] * 3, None, [(5, 3)]),
    case("chunk", lambda x: x.chunk(3, 1), None, [(2, 7)]),
    case("chunk_uneven", lambda x: x.chunk(4, 0), None, [(6, 2)]),
    case("unbind", lambda x: x.unbind(1), None, [X]),
    case("unbind_part", lambda x: x.unbind(0)[1].exp(), None, [X]),
    both("F.pad", lambda L, x: (F if L is sd else TF).pad(x, (1, 2)), [X]),
    both("F.pad_2d_value", lambda L, x: (F if L is sd else TF).pad(x, (1, 0, 2, 1), value=1.5), [X]),
    both("F.pad_negative", lambda L, x: (F if L is sd else TF).pad(x, (-1, 1)), [X]),
    both("F.pad_reflect", lambda L, x: (F if L is sd else TF).pad(x, (2, 1), mode="reflect"), [X]),
    both("F.pad_replicate", lambda L, x: (F if L is sd else TF).pad(x, (2, 1), mode="replicate"), [X]),
    both("F.pad_reflect_2d", lambda L, x: (F if L is sd else TF).pad(x, (1, 1, 2, 1), mode="reflect"),
         [(1, 2, 3, 4)]),
    both("F.pad_circular", lambda L, x: (F if L is sd else TF).pad(x, (1, 2), mode="circular"), [X]),
    case("repeat", lambda x: x.repeat(2, 1, 3), None, [X]),
    case("repeat_more_dims", lambda x: x.repeat(2, 2, 1), None, [(3, 4)]),
    case("tile", lambda x: x.tile((2,)), None, [(3, 4)]),
    case("tile_more_dims", lambda x: x.tile((2, 1, 2)), None, [(3, 4)]),
    case("repeat_interleave", lambda x: x.repeat_interleave(2, 1), None, [X]),
    case("repeat_interleave_flat", lambda x: x.repeat_interleave(3), None, [(2, 3)]),
    case("flip", lambda x: x.flip(0), None, [X]),
    case("flip_multi", lambda x: x.flip((0, -1)), None, [X]),
    case("triu", lambda x: x.triu(), None, [(4, 5)]),
    case("triu_1", lambda x: x.triu(1), None, [(2, 4, 5)]),
    case("tril", lambda x: x.tril(), None, [(4, 5)]),
    case("tril_neg", lambda x: x.tril(-1), None, [(4, 4)]),
    both("torch.tril", lambda L, x: L.tril(x, 1), [(3, 3)]),
    both("hstack", lambda L, x, y: L.hstack([x, y]), [(2, 3), (2, 2)]),
    both("vstack", lambda L, x, y: L.vstack([x, y]), [(3,), (2, 3)]),
    both("broadcast_tensors", lambda L, x, y: L.broadcast_tensors(x, y), [(3, 1), (1, 4)]),
    case("contiguous", lambda x: x.mT.contiguous() * 2, None, [X]),
    case("reshape_noncontig", lambda x: x.reshape(-1), None, [(3, 4)], noncontig=True),
    case("permute_noncontig", lambda x: x.permute(1, 0).reshape(2, 6), None, [(3, 4)], noncontig=True),
    case("empty_cat", lambda x, y: sd.cat([x, y], 0), lambda x, y: torch.cat([x, y], 0), [(0, 3), (2, 3)]),
    case("size1_expand", lambda x: x.expand(3, 1, 4) * 2, None, [(1, 1, 4)]),
]


CASES += [
    case("roll", lambda x: x.roll(1, 0), None, [X]),
    case("roll_multi", lambda x: x.roll((2, -1), (2, 0)), None, [X]),
    case("roll_flat", lambda x: x.roll(5), None, [X]),
    both("roll_fn", lambda L, x: L.roll(x, shifts=-7, dims=-1), [X]),
    case("narrow", lambda x: x.narrow(1, 1, 2), None, [X]),
    case("narrow_neg_start", lambda x: x.narrow(-1, -3, 2), None, [X]),
    both("narrow_fn", lambda L, x: L.narrow(x, 0, 0, 1), [X]),
    case("rot90", lambda x: x.rot90(), None, [X]),
    case("rot90_k2", lambda x: x.rot90(2, (1, 2)), None, [X]),
    case("rot90_k3_neg", lambda x: x.rot90(-1, (0, 2)), None, [X]),
    both("atleast_1d", lambda L, x: L.atleast_1d(x.sum()), [(3,)]),
    both("atleast_2d", lambda L, x: L.atleast_2d(x), [(3,)]),
    both("atleast_3d_1d", lambda L, x: L.atleast_3d(x), [(3,)]),
    both("atleast_3d_2d", lambda L, x: L.atleast_3d(x), [(3, 2)]),
    both("atleast_3d_many", lambda L, a, b: L.atleast_3d(a, b), [(3,), (2, 2)]),
    both("column_stack", lambda L, a, b, c: L.column_stack((a, b, c)), [(3,), (3, 2), (3,)]),
    both("dstack", lambda L, a, b: L.dstack([a, b]), [(3, 2), (3, 2)]),
    both("dstack_1d", lambda L, a, b: L.dstack([a, b]), [(3,), (3,)]),
    case("tensor_split_int", lambda x: x.tensor_split(3, 2), None, [X]),
    case("tensor_split_idx", lambda x: x.tensor_split([1, 3], -1), None, [X]),
    case("tensor_split_decreasing", lambda x: x.tensor_split([3, 1], 2), None, [X]),
    case("tensor_split_beyond", lambda x: x.tensor_split([1, 9], 1), None, [X]),
    case("hsplit", lambda x: x.hsplit(3), None, [X]),
    case("hsplit_idx", lambda x: x.hsplit([1]), None, [X]),
    case("vsplit", lambda x: x.vsplit(2), None, [X]),
    case("dsplit", lambda x: x.dsplit([1, 2]), None, [X]),
    case("unfold", lambda x: x.unfold(2, 2, 1), None, [X]),
    case("unfold_step", lambda x: x.unfold(-1, 2, 2), None, [X]),
    case("unfold_dim0", lambda x: x.unfold(0, 2, 3), None, [(5, 3)]),
    case("flatten_mid", lambda x: x.flatten(1, 2), None, [(2, 3, 4, 2)]),
    case("flatten_neg", lambda x: x.flatten(-3, -2), None, [(2, 3, 4, 2)]),
    case("unflatten", lambda x: x.unflatten(1, (3, 1)), None, [X]),
    case("unflatten_neg", lambda x: x.unflatten(-1, (2, -1)), None, [X]),
    case("squeeze_tuple", lambda x: x.squeeze((0, 2)), None, [(1, 3, 1, 2)]),
    case("squeeze_neg_dim", lambda x: x.squeeze(-2), None, [(1, 3, 1, 2)]),
    case("movedim_multi", lambda x: x.movedim((0, 2), (2, 0)), None, [X]),
    case("moveaxis", lambda x: x.moveaxis(-1, 0), None, [X]),
    case("swapdims", lambda x: x.swapdims(0, -1), None, [X]),
    case("expand_as", lambda x, y: x.expand_as(y), None, [(3, 1), (2, 3, 4)]),
    case("view_as", lambda x, y: x.view_as(y), None, [X, (4, 6)]),
    case("reshape_as", lambda x, y: x.reshape_as(y), None, [X, (6, 4)]),
    case("type_as", lambda x, y: x.type_as(y), None, [X, (2,)]),
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def test_views_share_nothing_wrong():
    """reshape/transpose results compare equal to torch on every value, and to_list round-trips."""
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    s = sd.tensor(a).permute(1, 2, 0).reshape(12, 2)
    t = torch.tensor(a).permute(1, 2, 0).reshape(12, 2)
    assert s.tolist() == t.tolist()


def test_split_and_chunk_sizes():
    x = sd.ones(2, 7)
    assert [p.shape for p in x.split(3, 1)] == [(2, 3), (2, 3), (2, 1)]
    assert [p.shape for p in x.chunk(3, 1)] == [tuple(p.shape) for p in torch.ones(2, 7).chunk(3, 1)]
    assert [p.shape for p in sd.ones(5, 2).chunk(4)] == [tuple(p.shape) for p in torch.ones(5, 2).chunk(4)]


def test_cat_int_and_float_promotes():
    s = sd.cat([sd.arange(3), sd.ones(2)])
    t = torch.cat([torch.arange(3), torch.ones(2)])
    assert s.dtype == t.numpy().dtype
    np.testing.assert_array_equal(s.numpy(), t.numpy())


def test_cat_mismatched_shapes_raises():
    with pytest.raises(RuntimeError, match=r"cat.*\(2, 3\).*\(3, 4\)|cat.*\(3, 4\).*\(2, 3\)"):
        sd.cat([sd.ones(2, 3), sd.ones(3, 4)], 0)
    with pytest.raises(RuntimeError, match="cat"):
        sd.cat([sd.ones(2, 3), sd.ones(3)], 0)
    with pytest.raises(RuntimeError, match="stack"):
        sd.stack([sd.ones(2, 3), sd.ones(3, 2)])


def test_reshape_incompatible_raises():
    with pytest.raises(RuntimeError, match=r"reshape.*\(5, -1\).*\(2, 3, 4\)|reshape.*\(2, 3, 4\).*\(5"):
        sd.ones(2, 3, 4).reshape(5, -1)
    with pytest.raises(RuntimeError, match="(reshape|view).*24"):
        sd.ones(2, 3, 4).view(7, 3)


def test_expand_bad_shape_raises():
    with pytest.raises(RuntimeError, match=r"expand.*\(3, 2\)"):
        sd.ones(3, 2).expand(3, 4)


def test_permute_bad_dims_raises():
    with pytest.raises(RuntimeError, match="permute"):
        sd.ones(2, 3).permute(0, 0)


def test_split_bad_sections_raises():
    with pytest.raises(RuntimeError, match="split"):
        sd.ones(5, 2).split([2, 2])


def test_reflect_pad_values():
    a = np.arange(10, dtype=np.float32).reshape(1, 2, 5)
    for mode in ("reflect", "replicate", "circular"):
        s = F.pad(sd.tensor(a), (2, 3), mode=mode)
        t = TF.pad(torch.tensor(a), (2, 3), mode=mode)
        np.testing.assert_array_equal(s.numpy(), t.numpy())


def test_squeeze_tuple_of_dims():
    check_op(lambda x: x.squeeze((1, 3)), None, [(2, 1, 3, 1)])


def test_pad_errors():
    with pytest.raises(ValueError, match=r"pad: reflect.*size 3"):
        F.pad(sd.ones(2, 3), (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="pad"):
        F.pad(sd.ones(2, 3), (1, 1, 1))
    with pytest.raises(ValueError, match="pad"):
        F.pad(sd.ones(2, 3), (1, 1), mode="mirror")


def test_out_of_range_dims_raise_index_error():
    x = sd.ones(2, 3)
    for fn in (lambda: x.flip(5), lambda: x.flip((0, 2)), lambda: x.movedim(0, 5), lambda: x.movedim(-3, 0),
               lambda: x.transpose(0, 2), lambda: x.permute(0, 2), lambda: x.squeeze(2), lambda: x.squeeze((0, 3)),
               lambda: x.unsqueeze(3), lambda: x.flatten(0, 2), lambda: x.unflatten(2, (1, 3)),
               lambda: x.roll(1, 2), lambda: x.narrow(2, 0, 1), lambda: x.unfold(2, 1, 1),
               lambda: x.split(1, 2), lambda: x.chunk(2, -3), lambda: x.unbind(2), lambda: x.tensor_split(2, 2),
               lambda: sd.cat([x, x], 2), lambda: sd.stack([x, x], 3), lambda: x.repeat_interleave(2, 2),
               lambda: x.rot90(1, (0, 2)), lambda: x.stride(2), lambda: x.sum(2), lambda: x.softmax(2)):
        with pytest.raises(IndexError, match="dim"):
            fn()
    with pytest.raises(RuntimeError, match="movedim"):
        x.movedim((0, 0), (1, 0))


def test_stride_and_new_factories():
    for shape, perm in (((2, 3, 4), None), ((2, 3, 4), (2, 0, 1)), ((5,), None)):
        s, t = sd.zeros(*shape), torch.zeros(*shape)
        if perm:
            s, t = s.permute(*perm), t.permute(*perm)
        assert s.stride() == t.stride()
        assert s.stride(-1) == t.stride(-1)
    assert sd.zeros(3, 1).expand(3, 4).stride() == torch.zeros(3, 1).expand(3, 4).stride()
    x = sd.ones(2, dtype=sd.float64)
    for name, args in (("new_zeros", (2, 3)), ("new_ones", ((2, 3),)), ("new_empty", (4,)),
                       ("new_full", ((2, 2), 7.0))):
        y = getattr(x, name)(*args)
        assert y.dtype == sd.float64 and not y.requires_grad
        ty = getattr(torch.ones(2, dtype=torch.float64), name)(*args)
        assert y.shape == tuple(ty.shape)
        if name != "new_empty":
            np.testing.assert_array_equal(y.numpy(), ty.numpy())
    assert x.new_zeros(2, dtype=sd.int64).dtype == sd.int64
    assert x.new_tensor([1, 2]).dtype == sd.float64
    assert x.new_ones(1, requires_grad=True).requires_grad
    assert sd.arange(3).new_full((2,), 5).dtype == sd.int64
