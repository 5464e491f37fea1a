"""W2: CNN on 1x28x28 inputs, batch 64, cross-entropy, Adam.

conv(1->32, 3x3, pad 1) + ReLU + maxpool 2; conv(32->64, 3x3, pad 1) + ReLU + maxpool 2; flatten;
linear(3136->128) + ReLU; linear(128->10).
"""
from __future__ import annotations

import numpy as np

from benchmarks.workloads import Workload

BATCH = 64


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((BATCH, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, BATCH)


def flops() -> float:
    conv1 = 2 * BATCH * 28 * 28 * 32 * 1 * 9
    conv2 = 2 * BATCH * 14 * 14 * 64 * 32 * 9
    fc = 2 * BATCH * (3136 * 128 + 128 * 10)
    return 3 * (conv1 + conv2 + fc)  # forward + input and weight gradients


def _model(nn):
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


def build_shendu():
    import shendu as sd
    from shendu import nn
    sd.manual_seed(0)
    x, y = (sd.tensor(a) for a in _data())
    model = _model(nn)
    opt = sd.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return step


def build_torch():
    import torch
    from torch import nn
    torch.manual_seed(0)
    x, y = (torch.tensor(a) for a in _data())
    model = _model(nn)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return step


WORKLOAD = Workload("W2", "CNN 2xconv+pool, 2xlinear + Adam, batch 64", build_shendu, build_torch, flops=flops())
