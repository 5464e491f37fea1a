"""W0 probe: what its backward could cost. Walks shendu's own W0 graph with first-order raw-array rules
(pending gradients keyed by node, leaf ``.grad`` accumulated in place, sum's gradient by empty + fill),
checks that the gradients equal the engine's bitwise, and prints the main thread's CPU time per step
of both (``time.thread_time``: other load on the machine barely moves it).

    python -m benchmarks.w0_raw_backward_probe
"""
from __future__ import annotations

import time

import numpy as np

import shendu as sd
from shendu.autograd.engine import _topological_order
from shendu.ops.binary import Add, Mul
from shendu.ops.elementwise import Relu
from shendu.ops.reduce import Sum
from shendu.tensor import Tensor


def _sum_raw(node, g):
    out = np.empty(node.shape, g.dtype)
    out.fill(g)
    return (out,)


def _relu_raw(node, g):
    return (g * (node._out_ref()._data > 0),)


def _add_raw(node, g):
    return g, g


def _mul_raw(node, g):
    x, y = node.inputs
    return g * y._data, g * x._data


RULES = {Sum: _sum_raw, Relu: _relu_raw, Add: _add_raw, Mul: _mul_raw}


def backward_raw(root: Tensor) -> None:
    pending = {root._ctx: np.ones((), root._data.dtype)}
    for node in _topological_order([root]):
        g = pending.pop(node)
        for inp, need, gi in zip(node.inputs, node.needs_input_grad, RULES[type(node)](node, g)):
            if not need:
                continue
            child = inp._ctx
            if child is None:  # a leaf
                if inp.grad is None:
                    inp.grad = Tensor._wrap(gi.copy() if gi is g else gi)
                else:
                    inp.grad._data += gi
            else:
                pending[child] = pending[child] + gi if child in pending else gi
        node.__dict__.clear()


def _cpu_us(fn, n: int = 3000, repeats: int = 7) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.thread_time()
        for _ in range(n):
            fn()
        best = min(best, (time.thread_time() - t) / n * 1e6)
    return best


def main() -> int:
    rng = np.random.default_rng(0)
    a, b, c = (sd.tensor(rng.standard_normal((64, 64), dtype=np.float32), requires_grad=True) for _ in range(3))

    def forward():
        return ((a * b + c).relu()).sum()

    def engine_step():
        forward().backward()

    def raw_step():
        backward_raw(forward())

    grads = []
    for step in (engine_step, raw_step):
        a.grad = b.grad = c.grad = None
        step()
        grads.append([t.grad._data.copy() for t in (a, b, c)])
    assert all(np.array_equal(x, y) for x, y in zip(*grads)), "the raw walk must give the engine's gradients"
    print(f"CPU us per W0 step: engine {_cpu_us(engine_step):.2f} | raw-rule walk {_cpu_us(raw_step):.2f} | "
          f"forward alone {_cpu_us(forward):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
