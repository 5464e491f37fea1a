"""W3: LSTM language model: vocab 96, embedding 128, 2-layer LSTM hidden 256, sequence 64, batch 32,
cross-entropy on every position, Adam.

Three sides: shendu's nn.LSTM (the row), torch.nn.LSTM (PyTorch's fused CPU kernels: the baseline) and
the same LSTM unrolled step by step from torch.nn.Linear cells (a second baseline, ``torch_unrolled``).
``python -m benchmarks.workloads.w3_lstm --matmul-share`` estimates the share of shendu's step spent in
matrix products by replaying the step's matmuls (same shapes, same order) alone.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.workloads import Workload

VOCAB, EMBED, HIDDEN, LAYERS, SEQ, BATCH = 96, 128, 256, 2, 64, 32


def _data():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB, (SEQ + 1, BATCH))
    return tokens[:-1], tokens[1:]  # (T, B) inputs and next-token targets


def flops() -> float:
    n, g = SEQ * BATCH, 4 * HIDDEN
    per_layer = [2 * n * (EMBED if k == 0 else HIDDEN) * g + 2 * n * HIDDEN * g for k in range(LAYERS)]
    return 3 * (sum(per_layer) + 2 * n * HIDDEN * VOCAB)  # forward + input and weight gradients


def _model(nn):
    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, EMBED)
            self.lstm = nn.LSTM(EMBED, HIDDEN, LAYERS)
            self.head = nn.Linear(HIDDEN, VOCAB)

        def forward(self, x):
            out, _ = self.lstm(self.embed(x))  # (T, B, H)
            return self.head(out)  # (T, B, V)
    return LM()


def _step(framework, model, x, y):
    opt = framework.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = framework.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x).reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        opt.step()
    return step


def build_shendu():
    import shendu as sd
    sd.manual_seed(0)
    x, y = (sd.tensor(a) for a in _data())
    return _step(sd, _model(sd.nn), x, y)


def build_torch():
    import torch
    torch.manual_seed(0)
    x, y = (torch.tensor(a) for a in _data())
    return _step(torch, _model(torch.nn), x, y)


def build_torch_unrolled():
    """PyTorch, the LSTM written as a PyTorch user writes a cell: two nn.Linear per layer, a loop over time."""
    import torch
    from torch import nn
    torch.manual_seed(0)

    class Cell(nn.Module):
        def __init__(self, n_in):
            super().__init__()
            self.ih = nn.Linear(n_in, 4 * HIDDEN)
            self.hh = nn.Linear(HIDDEN, 4 * HIDDEN)

        def forward(self, x, state):
            h, c = state
            i, f, g, o = (self.ih(x) + self.hh(h)).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, EMBED)
            self.cells = nn.ModuleList([Cell(EMBED if k == 0 else HIDDEN) for k in range(LAYERS)])
            self.head = nn.Linear(HIDDEN, VOCAB)

        def forward(self, x):
            h = self.embed(x)  # (T, B, E)
            for cell in self.cells:
                state = (h.new_zeros(BATCH, HIDDEN), h.new_zeros(BATCH, HIDDEN))
                outs = []
                for t in range(h.shape[0]):
                    state = cell(h[t], state)
                    outs.append(state[0])
                h = torch.stack(outs)  # (T, B, H)
            return self.head(h)

    x, y = (torch.tensor(a) for a in _data())
    return _step(torch, LM(), x, y)


def matmul_share(repeats: int = 5) -> dict:
    """shendu's step time, and the time of the same step's matmuls replayed alone, the way shendu runs them:
    the large products through ``shendu.ops.linalg.product`` (rows split across the pool), the time loops'
    per-step products on the batch pieces of ``shendu.threads.split_batch`` (one BLAS thread each, the
    same orientation as ``shendu.ops.recurrent``), the recurrent weight's gradient split by its rows."""
    from shendu import threads
    from shendu.ops.linalg import product
    step = build_shendu()
    for _ in range(3):
        step()
    step_s = min(_timed(step) for _ in range(repeats))
    rng = np.random.default_rng(0)
    n, g, h = SEQ * BATCH, 4 * HIDDEN, HIDDEN
    mats = {}

    def m(*shape):
        if shape not in mats:
            mats[shape] = rng.standard_normal(shape, dtype=np.float32)
        return mats[shape]

    def loop(r0: int, r1: int, backward: bool) -> None:
        k = r1 - r0
        w, x, out = (m(h, g), m(g, k), m(h, k)) if backward else (m(g, h), m(h, k), m(g, k))
        for _ in range(SEQ):
            np.matmul(w, x, out=out)  # (4H, b) forward, (H, b) backward: as shendu.ops.recurrent

    def weight_grad() -> None:
        d, p, out = m(n, g), m(n, h), m(g, h)
        threads.parallel_for(lambda j0, j1: np.matmul(d[:, j0:j1].T, p, out=out[j0:j1]), g, min_chunk=64,
                             blas=True)

    def replay():
        for k in range(LAYERS):
            n_in = EMBED if k == 0 else HIDDEN
            product(m(n, n_in), m(g, n_in).T)  # input projection
            threads.split_batch(lambda a, b: loop(a, b, False), BATCH, n * g, np, blas=True)
        product(m(n, h), m(VOCAB, h).T)  # head forward, d input, d weight
        product(m(n, VOCAB), m(VOCAB, h))
        product(m(VOCAB, n), m(n, h))
        for k in range(LAYERS):
            n_in = EMBED if k == 0 else HIDDEN
            threads.split_batch(lambda a, b: loop(a, b, True), BATCH, n * g, np, blas=True)
            weight_grad()  # d W_hh
            product(m(n, g), m(g, n_in))  # d x
            product(m(n, g).T, m(n, n_in))  # d W_ih

    replay()
    mm_s = min(_timed(replay) for _ in range(repeats))
    return {"step_ms": step_s * 1e3, "matmul_ms": mm_s * 1e3, "share": mm_s / step_s}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


WORKLOAD = Workload("W3", "LSTM LM (vocab 96, emb 128, 2x256, T 64, B 32) + Adam", build_shendu, build_torch,
                    flops=flops(), baselines={"torch_unrolled": build_torch_unrolled})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--matmul-share", action="store_true", help="estimate shendu's matmul share of a step")
    if parser.parse_args().matmul_share:
        r = matmul_share()
        print(f"shendu W3 step {r['step_ms']:.1f} ms, its matmuls alone {r['matmul_ms']:.1f} ms: "
              f"{r['share']:.0%} of the step")
