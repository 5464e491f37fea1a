"""Recurrent layers on packed input: padded steps change nothing (outputs and final states equal running
each sequence alone), and parity with PyTorch on unsorted lengths (outputs, final states, every gradient)."""
import numpy as np
import pytest
import torch

import shendu as sd
from shendu.nn.utils import rnn

LENGTHS = [3, 5, 1, 4]  # unsorted, with a length-1 sequence
INPUT, HIDDEN = 3, 4
CONFIGS = [
    pytest.param(cell, layers, bidirectional, id=f"{cell}-{layers}layer{'-bi' if bidirectional else ''}")
    for cell in ("RNN", "LSTM", "GRU") for layers in (1, 2) for bidirectional in (False, True)
]


def _layers(cell, layers, bidirectional, dtype=torch.float32, **kwargs):
    torch.manual_seed(0)
    ref = getattr(torch.nn, cell)(INPUT, HIDDEN, num_layers=layers, bidirectional=bidirectional, **kwargs).to(dtype)
    ours = getattr(sd.nn, cell)(INPUT, HIDDEN, num_layers=layers, bidirectional=bidirectional, **kwargs)
    ours.load_state_dict({k: sd.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    return ours, ref


def _split(out, cell):
    """(output, [final states]) of a recurrent layer's return value."""
    output, state = out
    return output, (list(state) if cell == "LSTM" else [state])


def _padded(rng, lengths, fill, batch_first=False, dtype=np.float32):
    T = max(lengths)
    x = rng.standard_normal((T, len(lengths), INPUT)).astype(dtype)
    for b, n in enumerate(lengths):
        x[n:, b] = fill
    return x.transpose(1, 0, 2).copy() if batch_first else x


@pytest.mark.parametrize("cell,layers,bidirectional", CONFIGS)
def test_padding_changes_nothing(cell, layers, bidirectional):
    model, _ = _layers(cell, layers, bidirectional)
    rng = np.random.default_rng(0)
    x = _padded(rng, LENGTHS, 0.0)
    results = []
    for fill in (0.0, 1e3):  # whatever sits in the padded steps
        xf = x.copy()
        for b, n in enumerate(LENGTHS):
            xf[n:, b] = fill
        packed = rnn.pack_padded_sequence(sd.tensor(xf), LENGTHS, enforce_sorted=False)
        output, states = _split(model(packed), cell)
        padded, lengths = rnn.pad_packed_sequence(output, padding_value=-7.0)
        results.append((padded.detach().numpy(), [s.detach().numpy() for s in states]))
        np.testing.assert_array_equal(lengths.numpy(), LENGTHS)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)
    padded, states = results[0]
    for b, n in enumerate(LENGTHS):  # each sequence run alone, unpadded
        alone_out, alone_states = _split(model(sd.tensor(x[:n, b:b + 1])), cell)
        np.testing.assert_allclose(padded[:n, b], alone_out.detach().numpy()[:, 0], rtol=1e-5, atol=1e-6)
        assert np.all(padded[n:, b] == -7.0)  # nothing leaks into the padded steps
        for s, alone in zip(states, alone_states):
            np.testing.assert_allclose(s[:, b], alone.detach().numpy()[:, 0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("initial_state", [False, True])
@pytest.mark.parametrize("cell,layers,bidirectional", CONFIGS)
def test_packed_matches_torch(cell, layers, bidirectional, initial_state, batch_first):
    ours, ref = _layers(cell, layers, bidirectional, batch_first=batch_first)
    rng = np.random.default_rng(1)
    x = _padded(rng, LENGTHS, 0.5, batch_first=batch_first)
    x_sd, x_t = sd.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    packed = rnn.pack_padded_sequence(x_sd, LENGTHS, batch_first=batch_first, enforce_sorted=False)
    tpacked = torch.nn.utils.rnn.pack_padded_sequence(x_t, LENGTHS, batch_first=batch_first, enforce_sorted=False)
    args_sd, args_t, leaves = [], [], []
    if initial_state:
        shape = ((2 if bidirectional else 1) * layers, len(LENGTHS), HIDDEN)
        init = [rng.standard_normal(shape).astype(np.float32) for _ in range(2 if cell == "LSTM" else 1)]
        h_sd = [sd.tensor(a, requires_grad=True) for a in init]
        h_t = [torch.tensor(a, requires_grad=True) for a in init]
        args_sd, args_t = [tuple(h_sd) if cell == "LSTM" else h_sd[0]], [tuple(h_t) if cell == "LSTM" else h_t[0]]
        leaves = list(zip(h_sd, h_t))
    out, states = _split(ours(packed, *args_sd), cell)
    tout, tstates = _split(ref(tpacked, *args_t), cell)

    assert isinstance(out, rnn.PackedSequence)
    np.testing.assert_array_equal(out.batch_sizes.numpy(), tout.batch_sizes.numpy())
    np.testing.assert_array_equal(out.sorted_indices.numpy(), tout.sorted_indices.numpy())
    np.testing.assert_array_equal(out.unsorted_indices.numpy(), tout.unsorted_indices.numpy())
    np.testing.assert_allclose(out.data.detach().numpy(), tout.data.detach().numpy(), rtol=1e-5, atol=1e-6)
    for s, t in zip(states, tstates):
        np.testing.assert_allclose(s.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)
    padded, _ = rnn.pad_packed_sequence(out, batch_first=batch_first)
    tpadded, _ = torch.nn.utils.rnn.pad_packed_sequence(tout, batch_first=batch_first)
    np.testing.assert_allclose(padded.detach().numpy(), tpadded.detach().numpy(), rtol=1e-5, atol=1e-6)

    # a random upstream gradient on the padded output and on every final state
    grads = [rng.standard_normal(tuple(t.shape)).astype(np.float32) for t in [tpadded, *tstates]]
    sd.autograd.backward([padded, *states], [sd.tensor(g) for g in grads])
    torch.autograd.backward([tpadded, *tstates], [torch.tensor(g) for g in grads])
    np.testing.assert_allclose(x_sd.grad.numpy(), x_t.grad.numpy(), rtol=1e-4, atol=1e-5)
    for a, b in leaves:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-5)
    ref_params = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), ref_params[name].grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_pack_sequence_input_and_sorted_lengths(cell):
    ours, ref = _layers(cell, 1, False)
    rng = np.random.default_rng(2)
    seqs = [rng.standard_normal((n, INPUT)).astype(np.float32) for n in (5, 4, 4, 2)]
    out, states = _split(ours(rnn.pack_sequence([sd.tensor(s) for s in seqs])), cell)
    tout, tstates = _split(ref(torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs])), cell)
    assert out.sorted_indices is None and out.unsorted_indices is None
    np.testing.assert_allclose(out.data.detach().numpy(), tout.data.detach().numpy(), rtol=1e-5, atol=1e-6)
    for s, t in zip(states, tstates):
        np.testing.assert_allclose(s.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)
    back = rnn.unpack_sequence(out)
    for seq, piece in zip(seqs, back):
        assert piece.shape[0] == seq.shape[0]


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_packed_bidirectional_gradcheck(cell):
    torch.manual_seed(0)
    model = getattr(sd.nn, cell)(2, 3, bidirectional=True).double()
    x = sd.tensor(np.random.default_rng(3).standard_normal((3, 3, 2)), requires_grad=True)

    def run(inp):
        packed = rnn.pack_padded_sequence(inp, [2, 3, 1], enforce_sorted=False)
        out, _ = model(packed)
        return rnn.pad_packed_sequence(out)[0]

    assert sd.gradcheck(run, (x,))


def test_packed_lstm_with_projection_matches_torch():
    ours, ref = _layers("LSTM", 2, True, proj_size=2)
    rng = np.random.default_rng(4)
    x = _padded(rng, LENGTHS, 0.0)
    x_sd, x_t = sd.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, (h, c) = ours(rnn.pack_padded_sequence(x_sd, LENGTHS, enforce_sorted=False))
    tout, (th, tc) = ref(torch.nn.utils.rnn.pack_padded_sequence(x_t, LENGTHS, enforce_sorted=False))
    assert tuple(h.shape) == (4, len(LENGTHS), 2) and tuple(c.shape) == (4, len(LENGTHS), HIDDEN)
    for a, b in ((out.data, tout.data), (h, th), (c, tc)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    grads = [rng.standard_normal(tuple(t.shape)).astype(np.float32) for t in (tout.data, th, tc)]
    sd.autograd.backward([out.data, h, c], [sd.tensor(g) for g in grads])
    torch.autograd.backward([tout.data, th, tc], [torch.tensor(g) for g in grads])
    np.testing.assert_allclose(x_sd.grad.numpy(), x_t.grad.numpy(), rtol=1e-4, atol=1e-5)
    ref_params = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), ref_params[name].grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)
