"""W1: MLP 784-512-512-10, ReLU, cross-entropy, Adam, batch 128: forward, backward, update.

Two shendu versions: with shendu.nn + shendu.optim.Adam (the main row), and "raw" — parameters as
plain tensors with a hand-written Adam, the engine alone (the first version of the workload).
"""
from __future__ import annotations

import math

import numpy as np

from benchmarks.workloads import Workload

SIZES = (784, 512, 512, 10)
BATCH = 128


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    return x, y


def flops() -> float:
    # forward 2*N*in*out per layer; backward twice that (input and weight gradients)
    return sum(6 * BATCH * a * b for a, b in zip(SIZES[:-1], SIZES[1:]))


def build_shendu():
    import shendu as sd
    from shendu import nn
    sd.manual_seed(0)
    x, y = _data()
    x, y = sd.tensor(x), sd.tensor(y)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = sd.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


def build_shendu_raw():
    """The engine alone: weights as tensors, Adam written out with in-place tensor updates."""
    import shendu as sd
    import shendu.nn.functional as F
    sd.manual_seed(0)
    x, y = _data()
    x, y = sd.tensor(x), sd.tensor(y)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / math.sqrt(fan_in)
        params.append(((sd.rand(fan_out, fan_in) * 2 - 1) * bound).requires_grad_())
        params.append(((sd.rand(fan_out) * 2 - 1) * bound).requires_grad_())
    m = [np.zeros_like(p._data) for p in params]
    v = [np.zeros_like(p._data) for p in params]
    scratch = [np.empty_like(p._data) for p in params]
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
    t = [0]

    def step():
        for p in params:
            p.grad = None
        h = x
        for i in range(0, len(params) - 2, 2):
            h = F.linear(h, params[i], params[i + 1]).relu()
        loss = F.cross_entropy(F.linear(h, params[-2], params[-1]), y)
        loss.backward()
        t[0] += 1
        c1, c2 = 1 - b1 ** t[0], 1 - b2 ** t[0]
        for p, mi, vi, s in zip(params, m, v, scratch):
            g = p.grad._data
            mi *= b1
            mi += (1 - b1) * g
            np.multiply(g, g, out=s)
            vi *= b2
            s *= 1 - b2
            vi += s
            np.sqrt(vi, out=s)
            s *= 1 / math.sqrt(c2)
            s += eps
            np.divide(mi, s, out=s)
            s *= lr / c1
            p._data -= s
    return step


def build_torch():
    import torch
    from torch import nn
    torch.manual_seed(0)
    x, y = _data()
    x, y = torch.tensor(x), torch.tensor(y)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


WORKLOAD = Workload("W1", "MLP 784-512-512-10 + Adam, batch 128", build_shendu, build_torch, flops=flops(),
                    variants={"shendu raw engine": build_shendu_raw})
