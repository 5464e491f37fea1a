"""nn.utils.rnn against PyTorch: pad/unpad, pack/unpack (values, batch_sizes, index permutations,
every input's gradient under a random upstream gradient), float64 gradchecks and the errors."""
import numpy as np
import pytest
import torch

import shendu as sd
from shendu.nn.utils import rnn

LENGTH_CASES = [
    ([4, 2, 1], True),           # sorted
    ([1, 4, 2], False),          # unsorted
    ([2, 3, 2, 3, 1], False),    # ties: the stable order torch.sort gives
    ([3], True),                 # one sequence
    ([4, 4, 4], True),           # no padding at all
]


def _assert_indices(ours, ref):
    if ref is None:
        assert ours is None
    else:
        assert ours.dtype == sd.int64
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())


def _assert_packed(ours, ref):
    np.testing.assert_array_equal(ours.data.detach().numpy(), ref.data.detach().numpy())
    assert ours.data.dtype == np.dtype(str(ref.data.dtype).replace("torch.", ""))
    assert ours.batch_sizes.dtype == sd.int64 and ours.batch_sizes.device.type == "cpu"
    np.testing.assert_array_equal(ours.batch_sizes.numpy(), ref.batch_sizes.numpy())
    _assert_indices(ours.sorted_indices, ref.sorted_indices)
    _assert_indices(ours.unsorted_indices, ref.unsorted_indices)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths,enforce_sorted", LENGTH_CASES)
def test_pack_padded_sequence_matches_torch(lengths, enforce_sorted, batch_first):
    rng = np.random.default_rng(1)
    steps, batch = 5, len(lengths)
    shape = (batch, steps, 3) if batch_first else (steps, batch, 3)
    x = rng.standard_normal(shape).astype(np.float32)
    ours = sd.tensor(x, requires_grad=True)
    ref = torch.tensor(x, requires_grad=True)
    packed = rnn.pack_padded_sequence(ours, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    tpacked = torch.nn.utils.rnn.pack_padded_sequence(ref, lengths, batch_first=batch_first,
                                                      enforce_sorted=enforce_sorted)
    _assert_packed(packed, tpacked)
    g = rng.standard_normal(tuple(tpacked.data.shape)).astype(np.float32)
    packed.data.backward(sd.tensor(g))
    tpacked.data.backward(torch.tensor(g))
    np.testing.assert_array_equal(ours.grad.numpy(), ref.grad.numpy())  # zero at the padded steps


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("total_length", [None, 7])
@pytest.mark.parametrize("lengths,enforce_sorted", LENGTH_CASES)
def test_pad_packed_sequence_matches_torch(lengths, enforce_sorted, total_length, batch_first):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, len(lengths), 2)).astype(np.float32)
    tpacked = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), lengths, enforce_sorted=enforce_sorted)
    data = tpacked.data.numpy()
    ours_data = sd.tensor(data, requires_grad=True)
    ref_data = torch.tensor(data, requires_grad=True)
    ours = rnn.PackedSequence(ours_data, sd.tensor(tpacked.batch_sizes.numpy()),
                              None if tpacked.sorted_indices is None else sd.tensor(tpacked.sorted_indices.numpy()))
    ref = torch.nn.utils.rnn.PackedSequence(ref_data, tpacked.batch_sizes, tpacked.sorted_indices)
    out, out_lengths = rnn.pad_packed_sequence(ours, batch_first=batch_first, padding_value=-2.5,
                                               total_length=total_length)
    tout, tlengths = torch.nn.utils.rnn.pad_packed_sequence(ref, batch_first=batch_first, padding_value=-2.5,
                                                            total_length=total_length)
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    assert out_lengths.dtype == sd.int64 and out_lengths.device.type == "cpu"
    np.testing.assert_array_equal(out_lengths.numpy(), tlengths.numpy())
    np.testing.assert_array_equal(out_lengths.numpy(), lengths)
    g = rng.standard_normal(tuple(tout.shape)).astype(np.float32)
    out.backward(sd.tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_array_equal(ours_data.grad.numpy(), ref_data.grad.numpy())


def test_pack_then_pad_round_trip_and_gradcheck():
    rng = np.random.default_rng(3)
    lengths = [2, 4, 1]
    x = sd.tensor(rng.standard_normal((3, 4, 2)), requires_grad=True)  # float64, batch first

    def round_trip(t):
        packed = rnn.pack_padded_sequence(t, lengths, batch_first=True, enforce_sorted=False)
        return rnn.pad_packed_sequence(packed, batch_first=True, padding_value=7.0)[0]

    out = round_trip(x).detach().numpy()
    mask = np.arange(4)[None, :] < np.array(lengths)[:, None]
    np.testing.assert_array_equal(out[mask], x.detach().numpy()[mask])
    assert np.all(out[~mask] == 7.0)
    assert sd.gradcheck(round_trip, (x,))
    assert sd.gradgradcheck(round_trip, (x,))


@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_sequence_and_unpack_sequence_match_torch(enforce_sorted):
    rng = np.random.default_rng(4)
    sizes = [4, 3, 3, 1] if enforce_sorted else [2, 4, 1, 3]
    arrays = [rng.standard_normal((n, 2, 2)).astype(np.float32) for n in sizes]
    ours = [sd.tensor(a, requires_grad=True) for a in arrays]
    ref = [torch.tensor(a, requires_grad=True) for a in arrays]
    packed = rnn.pack_sequence(ours, enforce_sorted=enforce_sorted)
    tpacked = torch.nn.utils.rnn.pack_sequence(ref, enforce_sorted=enforce_sorted)
    _assert_packed(packed, tpacked)
    g = rng.standard_normal(tuple(tpacked.data.shape)).astype(np.float32)
    packed.data.backward(sd.tensor(g))
    tpacked.data.backward(torch.tensor(g))
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    back = rnn.unpack_sequence(packed)
    tback = torch.nn.utils.rnn.unpack_sequence(tpacked)
    assert len(back) == len(tback)
    for a, b in zip(back, tback):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_pack_sequence_gradcheck():
    rng = np.random.default_rng(5)
    seqs = [sd.tensor(rng.standard_normal((n, 3)), requires_grad=True) for n in (2, 3, 1)]
    assert sd.gradcheck(lambda *s: rnn.pack_sequence(list(s), enforce_sorted=False).data, seqs)


def test_integer_sequences_pack_like_torch():
    seqs = [[5, 6], [1, 2, 3], [9]]
    packed = rnn.pack_sequence([sd.tensor(s) for s in seqs], enforce_sorted=False)
    tpacked = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    _assert_packed(packed, tpacked)
    padded, lengths = rnn.pad_packed_sequence(packed, batch_first=True, padding_value=-1)
    tpadded, _ = torch.nn.utils.rnn.pad_packed_sequence(tpacked, batch_first=True, padding_value=-1)
    assert padded.dtype == sd.int64
    np.testing.assert_array_equal(padded.numpy(), tpadded.numpy())


def test_lengths_as_tensors_and_without_trailing_dims():
    x = np.arange(6, dtype=np.float32).reshape(3, 2)  # (T, B): no feature dim
    for lengths in (sd.tensor([3, 1]), torch.tensor([3, 1]), np.array([3, 1]), (3, 1)):
        packed = rnn.pack_padded_sequence(sd.tensor(x), lengths)
        np.testing.assert_array_equal(packed.data.numpy(), [0, 1, 2, 4])
        np.testing.assert_array_equal(packed.batch_sizes.numpy(), [2, 1, 1])


def test_packed_sequence_is_a_named_tuple_with_tensor_methods():
    packed = rnn.pack_padded_sequence(sd.zeros(3, 2, 1), [1, 3], enforce_sorted=False)
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    assert isinstance(packed, tuple) and data is packed.data and batch_sizes is packed.batch_sizes
    assert not packed.is_cuda and not packed.is_pinned() and packed.pin_memory() is packed
    assert packed.float() is packed and packed.to(sd.float32) is packed
    for method, dtype in (("double", sd.float64), ("half", sd.float16), ("long", sd.int64), ("int", sd.int32),
                          ("short", sd.int16), ("char", sd.int8), ("byte", sd.uint8)):
        moved = getattr(packed, method)()
        assert type(moved) is rnn.PackedSequence and moved.data.dtype == dtype
        assert moved.batch_sizes is packed.batch_sizes
        np.testing.assert_array_equal(moved.sorted_indices.numpy(), sorted_indices.numpy())
    assert packed.cpu() is packed
    legacy = rnn.PackedSequence((data, batch_sizes))
    assert legacy.sorted_indices is None and legacy.unsorted_indices is None
    rebuilt = rnn.PackedSequence(data, batch_sizes, sorted_indices)
    np.testing.assert_array_equal(rebuilt.unsorted_indices.numpy(), unsorted_indices.numpy())
    assert sd.nn.utils.rnn.PackedSequence is rnn.PackedSequence


def test_pack_errors():
    x = sd.zeros(3, 2, 4)
    with pytest.raises(RuntimeError, match=r"sorted in decreasing order.*\[2, 3\].*enforce_sorted=False"):
        rnn.pack_padded_sequence(x, [2, 3])
    with pytest.raises(RuntimeError, match=r"greater than 0.*\[2, 0\]"):
        rnn.pack_padded_sequence(x, [2, 0])
    with pytest.raises(RuntimeError, match=r"\[4, 2\] include 4, longer than .*3 steps.*\(3, 2, 4\)"):
        rnn.pack_padded_sequence(x, [4, 2])
    with pytest.raises(RuntimeError, match=r"longer than .*2 steps.*batch_first=True"):
        rnn.pack_padded_sequence(sd.zeros(3, 2, 4), [3, 1, 1], batch_first=True)
    with pytest.raises(RuntimeError, match=r"len\(lengths\) to be equal to batch_size, but got 3 \(batch_size=2"):
        rnn.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(RuntimeError, match=r"'lengths' must be 1-D.*\(1, 2\)"):
        rnn.pack_padded_sequence(x, sd.tensor([[3, 2]]))
    with pytest.raises(ValueError, match=r"\(T, B, \*\).*shape \(3,\)"):
        rnn.pack_padded_sequence(sd.zeros(3), [3])
    with pytest.raises(RuntimeError, match="empty list"):
        rnn.pack_sequence([])
    with pytest.raises(RuntimeError, match=r"sorted in decreasing order.*\[1, 2\]"):
        rnn.pack_sequence([sd.zeros(1, 2), sd.zeros(2, 2)])
    with pytest.raises(RuntimeError, match=r"pack_sequence: every sequence .* sequence 1 has shape \(2, 3\)"):
        rnn.pack_sequence([sd.zeros(2, 2), sd.zeros(2, 3)])
    with pytest.raises(RuntimeError, match=r"pack_sequence: length .*greater than 0.*\[2, 0\]"):
        rnn.pack_sequence([sd.zeros(2, 2), sd.zeros(0, 2)], enforce_sorted=False)


def test_pad_packed_errors():
    packed = rnn.pack_padded_sequence(sd.zeros(3, 2, 4), [3, 2])
    with pytest.raises(ValueError, match="total_length=2 and max sequence length being 3"):
        rnn.pad_packed_sequence(packed, total_length=2)
    with pytest.raises(ValueError, match=r"data has shape \(4, 4\) but batch_sizes \[2, 2, 1\] sum to 5"):
        rnn.pad_packed_sequence(rnn.PackedSequence(sd.zeros(4, 4), packed.batch_sizes))
    with pytest.raises(TypeError, match="data and batch_sizes"):
        rnn.PackedSequence(sd.zeros(4, 4))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, side):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((n, 2)).astype(np.float32) for n in (3, 1, 4)]
    ours = [sd.tensor(a, requires_grad=True) for a in arrays]
    ref = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = rnn.pad_sequence(ours, batch_first=batch_first, padding_value=-1.0, padding_side=side)
    tout = torch.nn.utils.rnn.pad_sequence(ref, batch_first=batch_first, padding_value=-1.0, padding_side=side)
    g = rng.standard_normal(tuple(tout.shape)).astype(np.float32)
    out.backward(sd.tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    if side == "right":
        back = rnn.unpad_sequence(out, sd.tensor([3, 1, 4]), batch_first=batch_first)
        tback = torch.nn.utils.rnn.unpad_sequence(tout.detach().clone(), torch.tensor([3, 1, 4]),
                                                  batch_first=batch_first)
        for a, b in zip(back, tback):
            np.testing.assert_array_equal(a.detach().numpy(), b.numpy())


def test_pad_sequence_errors():
    with pytest.raises(RuntimeError, match="empty list"):
        rnn.pad_sequence([])
    with pytest.raises(RuntimeError, match=r"sequence 1 has shape \(2, 3\)"):
        rnn.pad_sequence([sd.zeros(2, 2), sd.zeros(2, 3)])
    with pytest.raises(ValueError, match="padding_side must be 'left' or 'right'"):
        rnn.pad_sequence([sd.zeros(2, 2)], padding_side="middle")
