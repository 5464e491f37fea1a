"""Seq2Seq: golden parity with the same model written in PyTorch (logits, attention, every parameter's
gradient), padding invariance, decoding consistency (greedy, beam search, attention), errors."""
import math

import numpy as np
import pytest
import torch

import shendu as sd
from shendu.models import Seq2Seq, Translation

PAD, BOS, EOS = 0, 1, 2
VS, VT = 9, 11


class TorchSeq2Seq(torch.nn.Module):
    """The reference: the architecture of shendu.models.Seq2Seq in plain PyTorch, parameters named alike."""

    def __init__(self, E, H, layers, cell, bidirectional, attention):
        super().__init__()
        rnn = torch.nn.GRU if cell == "gru" else torch.nn.LSTM
        self.cell, self.bidirectional, self.layers, self.H, self.kind = cell, bidirectional, layers, H, attention
        mem = H * (2 if bidirectional else 1)
        self.src_embedding = torch.nn.Embedding(VS, E, padding_idx=PAD)
        self.encoder = rnn(E, H, layers, batch_first=True, bidirectional=bidirectional)
        if bidirectional:
            self.bridge = torch.nn.Linear(mem, H)
            if cell == "lstm":
                self.bridge_cell = torch.nn.Linear(mem, H)
        self.tgt_embedding = torch.nn.Embedding(VT, E, padding_idx=PAD)
        self.decoder = rnn(E, H, layers, batch_first=True)
        self.attention = torch.nn.Module()
        if attention == "additive":
            self.attention.query_proj = torch.nn.Linear(H, H, bias=False)
            self.attention.key_proj = torch.nn.Linear(mem, H, bias=False)
            self.attention.v = torch.nn.Parameter(torch.zeros(H))
        elif attention == "general":
            self.attention.weight = torch.nn.Parameter(torch.zeros(H, mem))
        self.combine = torch.nn.Linear(H + mem, H)
        self.output = torch.nn.Linear(H, VT)

    def bridge_state(self, h, layer):
        if not self.bidirectional:
            return h
        both = h.reshape(self.layers, 2, h.shape[1], self.H)
        return torch.tanh(layer(torch.cat([both[:, 0], both[:, 1]], -1)))

    def forward(self, src, lengths, tgt):
        T = src.shape[1]
        packed = torch.nn.utils.rnn.pack_padded_sequence(self.src_embedding(src), lengths, batch_first=True,
                                                         enforce_sorted=False)
        out, state = self.encoder(packed)
        memory, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
        if self.cell == "lstm":
            state = (self.bridge_state(state[0], getattr(self, "bridge", None)),
                     self.bridge_state(state[1], getattr(self, "bridge_cell", None)))
        else:
            state = self.bridge_state(state, getattr(self, "bridge", None))
        dec, _ = self.decoder(self.tgt_embedding(tgt), state)
        if self.kind == "additive":
            a = self.attention
            scores = torch.tanh(a.query_proj(dec)[:, :, None] + a.key_proj(memory)[:, None]) @ a.v
        elif self.kind == "general":
            scores = dec @ self.attention.weight @ memory.transpose(1, 2)
        else:
            scores = dec @ memory.transpose(1, 2)
        keep = torch.arange(T)[None, None, :] < lengths[:, None, None]
        weights = torch.softmax(scores.masked_fill(~keep, float("-inf")), -1)
        attentional = torch.tanh(self.combine(torch.cat([weights @ memory, dec], -1)))
        return self.output(attentional), weights


CONFIGS = [
    dict(cell="gru", bidirectional=True, attention="additive", num_layers=1),
    dict(cell="lstm", bidirectional=True, attention="general", num_layers=2),
    dict(cell="gru", bidirectional=False, attention="dot", num_layers=2),
    dict(cell="lstm", bidirectional=False, attention="additive", num_layers=1),
]
IDS = ["gru-bi-additive", "lstm-bi-general-2layers", "gru-uni-dot-2layers", "lstm-uni-additive"]


def _data(seed=0, B=4, Ts=6, T=5):
    rng = np.random.default_rng(seed)
    lengths = np.array([6, 3, 5, 1][:B], dtype=np.int64)  # unsorted, with a length-1 source
    src = rng.integers(3, VS, size=(B, Ts))
    src[np.arange(Ts)[None, :] >= lengths[:, None]] = PAD
    tgt = rng.integers(3, VT, size=(B, T))
    tgt[:, 0] = BOS
    return src.astype(np.int64), lengths, tgt.astype(np.int64)


def _model(cfg, seed=0, E=5, H=4):
    sd.manual_seed(seed)
    return Seq2Seq(VS, VT, embedding_dim=E, hidden_size=H, pad_token=PAD, bos_token=BOS, eos_token=EOS, **cfg)


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_golden_parity_with_pytorch(cfg):
    model = _model(cfg)
    ref = TorchSeq2Seq(5, 4, cfg["num_layers"], cfg["cell"], cfg["bidirectional"], cfg["attention"])
    state = {k: torch.from_numpy(np.array(v._data)) for k, v in model.state_dict().items()}
    ref.load_state_dict(state)  # strict: the parameter names and shapes are the same
    src, lengths, tgt = _data()
    logits, weights = model(sd.from_numpy(src), sd.from_numpy(lengths), sd.from_numpy(tgt), return_attention=True)
    tlogits, tweights = ref(torch.from_numpy(src), torch.from_numpy(lengths), torch.from_numpy(tgt))
    assert logits.shape == (4, 5, VT) and weights.shape == (4, 5, 6) and logits.dtype == np.float32
    np.testing.assert_allclose(logits._data, tlogits.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(weights._data, tweights.detach().numpy(), rtol=1e-5, atol=1e-6)
    rng = np.random.default_rng(1)
    g1 = rng.standard_normal(logits.shape).astype(np.float32)
    g2 = rng.standard_normal(weights.shape).astype(np.float32)
    sd.autograd.backward([logits, weights], [sd.from_numpy(g1), sd.from_numpy(g2)])
    torch.autograd.backward([tlogits, tweights], [torch.from_numpy(g1), torch.from_numpy(g2)])
    tparams = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        tp = tparams[name]
        assert p.grad is not None, name
        np.testing.assert_allclose(p.grad._data, tp.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_loss_matches_pytorch_cross_entropy_and_ignores_padding():
    model = _model(CONFIGS[0])
    src, lengths, tgt = _data(seed=2)
    tgt_lengths = np.array([5, 2, 4, 3])
    target = tgt.copy()
    for b, L in enumerate(tgt_lengths):
        target[b, L - 1] = EOS
        target[b, L:] = PAD
    loss = model.loss(sd.from_numpy(src), sd.from_numpy(lengths), sd.from_numpy(target), sd.from_numpy(tgt_lengths))
    inputs = np.concatenate([np.full((4, 1), BOS), target[:, :-1]], axis=1)
    logits = model(sd.from_numpy(src), sd.from_numpy(lengths), sd.from_numpy(inputs)).detach().numpy()
    keep = np.arange(5)[None, :] < tgt_lengths[:, None]
    ref = torch.nn.functional.cross_entropy(torch.from_numpy(logits[keep]), torch.from_numpy(target[keep]))
    assert float(loss) == pytest.approx(float(ref), rel=1e-5)
    same = model.loss(sd.from_numpy(src), sd.from_numpy(lengths), sd.from_numpy(target))  # pad_token masks
    assert float(same) == pytest.approx(float(loss), rel=1e-6)


@pytest.mark.parametrize("cfg", CONFIGS[:2], ids=IDS[:2])
def test_padding_in_the_source_changes_nothing(cfg):
    model = _model(cfg)
    src, lengths, tgt = _data(seed=3)
    garbage = src.copy()
    garbage[np.arange(6)[None, :] >= lengths[:, None]] = 7
    a = model(sd.from_numpy(src), sd.from_numpy(lengths), sd.from_numpy(tgt)).detach().numpy()
    b = model(sd.from_numpy(garbage), sd.from_numpy(lengths), sd.from_numpy(tgt)).detach().numpy()
    np.testing.assert_array_equal(a, b)
    # each item alone (no padding at all) gives the same logits as inside the padded batch
    for i in range(4):
        L = int(lengths[i])
        alone = model(sd.from_numpy(src[i:i + 1, :L]), None, sd.from_numpy(tgt[i:i + 1])).detach().numpy()
        np.testing.assert_allclose(alone[0], a[i], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_greedy_is_the_argmax_of_teacher_forcing_and_beam_one_equals_it(cfg):
    model = _model(cfg, seed=4).eval()
    src, lengths, _ = _data(seed=5)
    s, lens = sd.from_numpy(src), sd.from_numpy(lengths)
    g = model.greedy(s, lens, max_length=7)
    assert isinstance(g, Translation) and g.hypotheses is None
    tokens = g.tokens.numpy()
    inputs = np.concatenate([np.full((4, 1), BOS), tokens[:, :-1]], axis=1)
    logits, weights = model(s, lens, sd.from_numpy(inputs), return_attention=True)
    logp = torch.log_softmax(torch.from_numpy(logits.detach().numpy()), -1).numpy()
    for b in range(4):
        n = int(g.lengths[b])
        assert tokens[b, :n].tolist() == logp[b, :n].argmax(-1).tolist()
        assert (tokens[b, n:] == PAD).all()
        assert float(g.scores[b]) == pytest.approx(logp[b, np.arange(n), tokens[b, :n]].sum(), rel=1e-4)
        np.testing.assert_allclose(g.attention.numpy()[b, :n], weights.detach().numpy()[b, :n], rtol=1e-5, atol=1e-6)
        assert (g.attention.numpy()[b, n:] == 0).all()
        assert (g.attention.numpy()[b, :n, lengths[b]:] == 0).all()  # never on padded source positions
    one = model.beam_search(s, lens, beam_width=1, max_length=7)
    np.testing.assert_array_equal(one.tokens.numpy(), tokens[:, :one.tokens.shape[1]])
    np.testing.assert_allclose(one.scores.numpy(), g.scores.numpy(), rtol=1e-5)


def test_beam_search_n_best_and_scores():
    model = _model(CONFIGS[1], seed=6).eval()
    src, lengths, _ = _data(seed=7)
    s, lens = sd.from_numpy(src), sd.from_numpy(lengths)
    out = model.beam_search(s, lens, beam_width=4, max_length=6, length_penalty=0.5, n_best=3)
    assert len(out.hypotheses) == 4 and all(len(h) == 3 for h in out.hypotheses)
    g = model.greedy(s, lens, max_length=6)
    for b, hyps in enumerate(out.hypotheses):
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        n = int(out.lengths[b])
        assert out.tokens.numpy()[b, :n].tolist() == hyps[0].tokens.tolist()
        assert float(out.scores[b]) == pytest.approx(scores[0], rel=1e-6)
        # the score is the hypothesis' log-probability under teacher forcing, length-normalised
        toks = hyps[0].tokens.numpy()
        inputs = np.concatenate([[BOS], toks[:-1]])[None]
        logits = model(s[b:b + 1], lens[b:b + 1], sd.from_numpy(inputs)).detach().numpy()
        logp = torch.log_softmax(torch.from_numpy(logits), -1).numpy()[0, np.arange(len(toks)), toks].sum()
        assert scores[0] == pytest.approx(logp / ((5 + len(toks)) / 6) ** 0.5, rel=1e-4)
        # beam search never finds worse than greedy under its own criterion
        gn = int(g.lengths[b])
        assert scores[0] >= float(g.scores[b]) / ((5 + gn) / 6) ** 0.5 - 1e-5
    rows = out.attention.numpy()
    for b in range(4):
        np.testing.assert_allclose(rows[b, :int(out.lengths[b])].sum(-1), 1.0, rtol=1e-5)


def test_training_steps_lower_the_loss():
    model = _model(CONFIGS[0], seed=8)
    src, lengths, tgt = _data(seed=9)
    opt = sd.optim.Adam(model.parameters(), lr=3e-2)
    args = (sd.from_numpy(src), sd.from_numpy(lengths), sd.from_numpy(tgt))
    first = float(model.loss(*args))
    for _ in range(50):
        opt.zero_grad()
        model.loss(*args).backward()
        opt.step()
    assert float(model.loss(*args)) < 0.5 * first
    assert first == pytest.approx(math.log(VT), rel=0.2)  # starts near uniform


def test_state_dict_round_trip_and_repr():
    model = _model(CONFIGS[1])
    fresh = _model(CONFIGS[1], seed=1)
    fresh.load_state_dict(model.state_dict())
    src, lengths, tgt = _data()
    args = (sd.from_numpy(src), sd.from_numpy(lengths), sd.from_numpy(tgt))
    np.testing.assert_array_equal(model(*args).detach().numpy(), fresh(*args).detach().numpy())
    assert "cell='lstm', bidirectional=True, attention='general'" in repr(model)


def test_errors():
    with pytest.raises(ValueError, match="cell must be 'gru' or 'lstm'"):
        Seq2Seq(5, 5, cell="rnn")
    with pytest.raises(ValueError, match="attention must be 'additive', 'dot' or 'general'"):
        Seq2Seq(5, 5, attention="concat")
    with pytest.raises(ValueError, match=r"attention='dot' needs memory size 8 == hidden size 4"):
        Seq2Seq(5, 5, hidden_size=4, attention="dot", bidirectional=True)
    model = _model(CONFIGS[0])
    with pytest.raises(ValueError, match=r"src must be \(B, T_src\) integer ids, got shape \(4,\)"):
        model(sd.tensor([1, 2, 3, 4]), None, sd.tensor([[1]]))
    with pytest.raises(ValueError, match=r"src_lengths must have shape \(2,\), got \(3,\)"):
        model(sd.tensor([[3, 4], [5, 6]]), [2, 2, 2], sd.tensor([[1], [1]]))
    with pytest.raises(ValueError, match=r"tgt must be \(B, T\) integer ids with B = 2, got shape \(3, 1\)"):
        model(sd.tensor([[3, 4], [5, 6]]), None, sd.tensor([[1], [1], [1]]))
