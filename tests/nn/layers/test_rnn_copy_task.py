"""The copy task: a recurrent layer reads L symbols and a go marker, then writes the L symbols back.

Learned to 100% exact match (every symbol of every one of 1,000 fresh sequences) in a few seconds:
the recurrent layers train, not only match PyTorch's numbers.
"""
import numpy as np
import pytest

import shendu as sd
from shendu import nn

SYMBOLS, LENGTH = 6, 5  # symbols 1..6; 0 is the blank input/target, 7 the go marker
STEPS = 2 * LENGTH + 1


class Copier(nn.Module):
    def __init__(self, cell: str, hidden: int = 64):
        super().__init__()
        self.embed = nn.Embedding(SYMBOLS + 2, 32)
        self.rnn = getattr(nn, cell)(32, hidden, batch_first=True)
        self.head = nn.Linear(hidden, SYMBOLS + 1)

    def forward(self, x):  # (B, T) -> (B, T, SYMBOLS + 1)
        h, _ = self.rnn(self.embed(x))
        return self.head(h)


def _batch(rng, n):
    seq = rng.integers(1, SYMBOLS + 1, (n, LENGTH))
    x = np.zeros((n, STEPS), np.int64)
    x[:, :LENGTH], x[:, LENGTH] = seq, SYMBOLS + 1
    y = np.zeros((n, STEPS), np.int64)
    y[:, LENGTH + 1:] = seq
    return sd.tensor(x), sd.tensor(y)


def _exact_match(model, seed: int, n: int = 1000) -> float:
    x, y = _batch(np.random.default_rng(seed), n)
    with sd.no_grad():
        copied = model(x).argmax(-1)[:, LENGTH + 1:]
    return (copied == y[:, LENGTH + 1:]).all(1).float().mean().item()


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_the_copy_task_is_learned_to_100_percent(cell):
    # trained in rounds of 200 steps until a fresh set is copied perfectly (~1,000 steps, ~3 s); the
    # budget leaves room for rounding changes in the kernels, the claim checked is 100% on new sequences
    sd.manual_seed(0)
    rng = np.random.default_rng(0)
    model = Copier(cell)
    opt = sd.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(15):
        for _ in range(200):
            x, y = _batch(rng, 64)
            loss = nn.functional.cross_entropy(model(x).reshape(-1, SYMBOLS + 1), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        if _exact_match(model, seed=1, n=500) == 1.0:
            break
    exact = _exact_match(model, seed=2)
    assert exact == 1.0, f"{cell}: {exact:.3f} of 1,000 new sequences copied exactly"
