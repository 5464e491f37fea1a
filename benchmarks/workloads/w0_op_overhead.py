"""W0: op overhead. y = ((a * b + c).relu()).sum(); y.backward() on (64, 64) tensors."""
from __future__ import annotations

import numpy as np

from benchmarks.workloads import Workload

SHAPE = (64, 64)


def _data():
    rng = np.random.default_rng(0)
    return [rng.standard_normal(SHAPE, dtype=np.float32) for _ in range(3)]


def build_shendu():
    import shendu as sd
    a, b, c = (sd.tensor(x, requires_grad=True) for x in _data())

    def step():
        y = ((a * b + c).relu()).sum()
        y.backward()
    return step


def build_shendu_reset(create_graph: str = ""):
    """W0 with ``.grad`` reset every step, with or without create_graph (a like-for-like pair).

    With create_graph=True the backward formulas record a graph of their own; the pair shows what
    first-order backward does not pay for that ability (its formulas run under no_grad).
    """
    import shendu as sd
    a, b, c = (sd.tensor(x, requires_grad=True) for x in _data())
    create_graph = create_graph == "create_graph"

    def step():
        y = ((a * b + c).relu()).sum()
        y.backward(create_graph=create_graph)
        a.grad = b.grad = c.grad = None
    return step


def build_torch():
    import torch
    a, b, c = (torch.tensor(x, requires_grad=True) for x in _data())

    def step():
        y = ((a * b + c).relu()).sum()
        y.backward()
    return step


WORKLOAD = Workload("W0", "op overhead (64x64 mul-add-relu-sum + backward)", build_shendu, build_torch, steps=2000,
                    variants={"shendu, .grad reset each step": build_shendu_reset,
                              "shendu, .grad reset, create_graph=True": (build_shendu_reset, "create_graph")})
