"""shendu.models.CharRNN: golden parity with the same model in torch.nn (logits, states, every gradient,
an Adam trajectory with carried state), the layer contract, and sampling."""
import numpy as np
import pytest
import torch

import shendu as sd
from shendu.models import CharRNN
from shendu.train.charrnn import detach_state

V, E, H = 11, 6, 8


class TorchCharRNN(torch.nn.Module):
    """The reference: the same model written with torch.nn (same parameter names)."""

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, cell):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, embedding_dim)
        rnn = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
        self.rnn = rnn(embedding_dim, hidden_size, num_layers, batch_first=True)
        self.head = torch.nn.Linear(hidden_size, vocab_size)

    def forward(self, idx, state=None):
        out, state = self.rnn(self.embedding(idx), state)
        return self.head(out), state


def pair(cell, num_layers, seed=0):
    sd.manual_seed(seed)
    model = CharRNN(V, E, H, num_layers, cell=cell)
    ref = TorchCharRNN(V, E, H, num_layers, cell)
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    return model, ref


def as_states(state, lib):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(as_states(s, lib) for s in state)
    return sd.tensor(state) if lib == "sd" else torch.from_numpy(state)


def flat(state):
    return [s.detach().numpy() for s in (state if isinstance(state, tuple) else (state,))]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("given_state", [False, True])
def test_matches_torch_logits_states_and_gradients(cell, num_layers, given_state):
    model, ref = pair(cell, num_layers)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, V, size=(3, 7))
    state = None
    if given_state:
        h = rng.standard_normal((num_layers, 3, H)).astype(np.float32)
        state = (h, rng.standard_normal((num_layers, 3, H)).astype(np.float32)) if cell == "lstm" else h
    logits, final = model(sd.tensor(idx), as_states(state, "sd"))
    t_logits, t_final = ref(torch.from_numpy(idx), as_states(state, "torch"))
    assert tuple(logits.shape) == (3, 7, V) and logits.dtype == sd.float32
    np.testing.assert_allclose(logits.detach().numpy(), t_logits.detach().numpy(), rtol=1e-5, atol=1e-5)
    for a, b in zip(flat(final), flat(t_final)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # a random upstream gradient on the logits and on the final state (so the state's gradient path counts)
    g = rng.standard_normal((3, 7, V)).astype(np.float32)
    gs = [rng.standard_normal(s.shape).astype(np.float32) for s in flat(final)]
    finals = final if isinstance(final, tuple) else (final,)
    t_finals = t_final if isinstance(t_final, tuple) else (t_final,)
    (sum((f * sd.tensor(x)).sum() for f, x in zip(finals, gs)) + (logits * sd.tensor(g)).sum()).backward()
    (sum((f * torch.from_numpy(x)).sum() for f, x in zip(t_finals, gs)) + (t_logits * torch.from_numpy(g)).sum()
     ).backward()
    t_params = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_adam_trajectory_with_carried_state_matches_torch(cell):
    """Truncated BPTT as the recipe runs it: 8 chunks, the state carried and detached, clipping, Adam."""
    model, ref = pair(cell, 2, seed=3)
    opt, t_opt = sd.optim.Adam(model.parameters(), lr=1e-2), torch.optim.Adam(ref.parameters(), lr=1e-2)
    stream = np.random.default_rng(2).integers(0, V, size=(4, 8 * 6 + 1))
    state = t_state = None
    losses, t_losses = [], []
    for k in range(8):
        x, y = stream[:, 6 * k:6 * k + 6], stream[:, 6 * k + 1:6 * k + 7]
        logits, state = model(sd.tensor(x), state)
        loss = sd.nn.functional.cross_entropy(logits.reshape(-1, V), sd.tensor(y).reshape(-1))
        opt.zero_grad()
        loss.backward()
        sd.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        state = detach_state(state)
        t_logits, t_state = ref(torch.from_numpy(x), t_state)
        t_loss = torch.nn.functional.cross_entropy(t_logits.reshape(-1, V), torch.from_numpy(y).reshape(-1))
        t_opt.zero_grad()
        t_loss.backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
        t_opt.step()
        t_state = tuple(s.detach() for s in t_state) if isinstance(t_state, tuple) else t_state.detach()
        losses.append(float(loss))
        t_losses.append(t_loss.item())
    np.testing.assert_allclose(losses, t_losses, rtol=1e-4)
    t_params = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), t_params[name].detach().numpy(), rtol=1e-3, atol=1e-4)


def test_contract_names_round_trip_modes_and_errors():
    sd.manual_seed(0)
    model = CharRNN(V, E, H, 2, cell="gru", dropout=0.5)
    names = [n for n, _ in model.named_parameters()]
    rnn = [f"rnn.{w}_l{k}" for k in range(2) for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert names == ["embedding.weight", *rnn, "head.weight", "head.bias"]
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in TorchCharRNN(V, E, H, 2, "gru").parameters())
    other = CharRNN(V, E, H, 2, cell="gru", dropout=0.5)
    other.load_state_dict(model.state_dict())
    idx = sd.randint(0, V, (2, 5))
    model.eval()
    other.eval()
    with sd.no_grad():
        np.testing.assert_array_equal(model(idx)[0].numpy(), other(idx)[0].numpy())
        np.testing.assert_array_equal(model(idx)[0].numpy(), model(idx)[0].numpy())  # eval: no dropout
    model.train()
    assert not np.array_equal(model(idx)[0].detach().numpy(), model(idx)[0].detach().numpy())
    assert "cell='gru'" in repr(model)
    with pytest.raises(ValueError, match="cell must be one of"):
        CharRNN(V, cell="rnn")
    with pytest.raises(ValueError, match=r"expected int64 ids of shape \(N, T\), got a float32 tensor of shape"):
        model(sd.zeros(2, 5))
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        CharRNN(V, hidden_size=0)


def test_one_training_step_lowers_the_loss():
    sd.manual_seed(0)
    model = CharRNN(V, E, H, 1)
    opt = sd.optim.Adam(model.parameters(), lr=1e-2)
    x = sd.randint(0, V, (4, 9))
    losses = []
    for _ in range(2):
        logits, _ = model(x[:, :-1])
        loss = sd.nn.functional.cross_entropy(logits.reshape(-1, V), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[1] < losses[0]


def greedy_by_full_forward(model, prompt, length):
    """Greedy decoding that re-reads the whole sequence at every step (no carried state)."""
    ids = list(prompt)
    with sd.no_grad():
        for _ in range(length):
            logits, _ = model(sd.tensor([ids]))
            ids.append(int(logits[0, -1].argmax()))
    return ids


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sampling(cell):
    sd.manual_seed(0)
    model = CharRNN(V, E, H, 2, cell=cell, dropout=0.3)
    prompt = [1, 4, 2]
    a = model.sample(prompt, 20, temperature=1.0, generator=sd.Generator().manual_seed(5))
    b = model.sample(prompt, 20, temperature=1.0, generator=sd.Generator().manual_seed(5))
    c = model.sample(prompt, 20, temperature=1.0, generator=sd.Generator().manual_seed(6))
    assert a.shape == (23,) and a.dtype == sd.int64 and a.numpy()[:3].tolist() == prompt
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    assert model.training  # the mode is restored
    model.eval()
    greedy = model.sample(prompt, 15, temperature=0)
    assert greedy.numpy().tolist() == greedy_by_full_forward(model, prompt, 15)  # the carried state is right
    cold = model.sample(prompt, 15, temperature=1e-6, generator=sd.Generator().manual_seed(1))
    np.testing.assert_array_equal(cold.numpy(), greedy.numpy())  # temperature -> 0 is argmax
    np.testing.assert_array_equal(model.sample(prompt, 15, 1.5, top_k=1, generator=sd.Generator().manual_seed(2))
                                  .numpy(), greedy.numpy())
    top3 = model.sample(np.array([prompt, [0, 0, 0]]), 30, 2.0, top_k=3, generator=sd.Generator().manual_seed(3))
    assert top3.shape == (2, 33)
    assert model.sample(prompt, 0).numpy().tolist() == prompt


def test_sampling_follows_the_softmax_at_the_temperature():
    """The first sampled character's frequencies match softmax(logits / T) (chi-square-free bound)."""
    sd.manual_seed(0)
    model = CharRNN(V, E, H, 1).eval()
    prompt = np.zeros((4000, 1), dtype=np.int64)
    draws = model.sample(prompt, 1, temperature=2.0, generator=sd.Generator().manual_seed(0)).numpy()[:, 1]
    with sd.no_grad():
        logits = model(sd.tensor(prompt[:1]))[0][0, -1].double().numpy() / 2.0
    p = np.exp(logits - logits.max())
    p /= p.sum()
    freq = np.bincount(draws, minlength=V) / len(draws)
    np.testing.assert_allclose(freq, p, atol=4 * np.sqrt(p.max() / len(draws)))


@pytest.mark.parametrize("kwargs,match", [
    ({"prompt": []}, "prompt must be integer ids"),
    ({"prompt": [[0.5]]}, "prompt must be integer ids"),
    ({"prompt": [V]}, r"prompt ids must be in \[0, 11\)"),
    ({"length": -1}, "length must be an integer >= 0"),
    ({"temperature": -0.1}, "temperature must be >= 0"),
    ({"top_k": 0}, r"top_k must be in \[1, 11\]"),
])
def test_sampling_errors(kwargs, match):
    model = CharRNN(V, E, H, 1)
    args = {"prompt": [0], "length": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        model.sample(**args)
