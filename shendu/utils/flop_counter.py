"""Counting the floating-point operations a program actually runs (PyTorch's ``torch.utils.flop_counter``).

    with FlopCounterMode(display=False) as counter:
        loss = model(x, y)[1]
        loss.backward()
    counter.get_total_flops()

Inside the context, every product-like op that runs is counted as PyTorch counts it: a multiply-add is
2 FLOPs; ``matmul``/``linear`` 2·M·N·K (a bias add is not counted), convolution 2·(output elements)·
(C_in/groups)·(kernel size), scaled dot-product attention 4·B·H·L·S·E. Their backward passes are
counted when they run: each operand's gradient costs one forward's FLOPs (so a Linear whose input
needs no gradient costs 2x its forward in all, as in PyTorch), attention's backward 2x its forward.
Elementwise ops, reductions and norms are not counted (PyTorch doesn't either): they are memory-bound
and a small share of a Transformer's arithmetic.

How: the context wraps ``Function.apply`` and the counted ops' backward rules for its duration only
(restored on exit, also after an exception); nothing is hooked outside it.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from shendu.autograd.function import Function

__all__ = ["FlopCounterMode"]


def _matmul_flops(a_shape, b_shape) -> int:
    """2·M·N·K per matrix of the broadcast batch: (..., M, K) @ (..., K, N)."""
    m, k, n = a_shape[-2], a_shape[-1], b_shape[-1]
    return 2 * math.prod(np.broadcast_shapes(a_shape[:-2], b_shape[:-2])) * m * n * k


def _forward_flops(cls_name: str, ctx, args, out) -> int | None:
    """FLOPs of one forward call of a counted op (None: not counted)."""
    shape = lambda a: tuple(a.shape)  # noqa: E731
    if cls_name == "MatMul":
        return _matmul_flops(shape(args[0]), shape(args[1]))
    if cls_name == "Linear":
        x, w = args[0], args[1]
        rows = math.prod(shape(x)[:-1])
        return 2 * rows * w.shape[0] * w.shape[1]
    if cls_name == "ScaledDotProductAttention":
        q, k, v = args[0], args[1], args[2]
        *batch, L, E = shape(q)
        S, Ev = k.shape[-2], v.shape[-1]
        b = math.prod(batch)
        return 2 * b * L * S * E + 2 * b * L * S * Ev
    if cls_name == "Convolution":
        w = args[1]
        return 2 * math.prod(shape(out)) * math.prod(shape(w)[1:])
    return None


# Backward cost as a multiple of the forward's, per operand that needs a gradient (None: a fixed factor).
_BACKWARD = {"MatMul": (0, 1), "Linear": (0, 1), "Convolution": (0, 1), "ScaledDotProductAttention": None}
_NAMES = {"MatMul": "matmul", "Linear": "linear", "ScaledDotProductAttention": "scaled_dot_product_attention",
          "Convolution": "convolution"}


class FlopCounterMode:
    """Count the FLOPs of the counted ops run inside the ``with`` block (see the module docstring).

    Args:
        mods, depth: PyTorch's per-module breakdown arguments; accepted, the counts here are global.
        display: print the table when the block ends.
        custom_mapping: ``{Function subclass: fn(ctx, args, out) -> flops}`` for ops of your own.
    """

    def __init__(self, mods=None, depth: int = 2, display: bool = True, custom_mapping: dict | None = None):
        self.depth, self.display = depth, display
        self.custom_mapping = dict(custom_mapping or {})
        self.flop_counts: dict = defaultdict(lambda: defaultdict(int))
        self._saved: list = []
        self._inside_backward = 0

    # -- counting --------------------------------------------------------------------------------
    def _count(self, name: str, flops: int) -> None:
        self.flop_counts["Global"][name] += int(flops)

    def get_total_flops(self) -> int:
        """All FLOPs counted so far."""
        return sum(self.flop_counts["Global"].values())

    def get_flop_counts(self) -> dict:
        """``{"Global": {op name: FLOPs}}``."""
        return {k: dict(v) for k, v in self.flop_counts.items()}

    def get_table(self, depth: int | None = None) -> str:
        """The counts as a text table, largest first."""
        rows = sorted(self.flop_counts["Global"].items(), key=lambda kv: -kv[1])
        total = self.get_total_flops()
        lines = [f"{'op':32s} {'FLOPs':>14s} {'share':>7s}"]
        lines += [f"{name:32s} {_human(n):>14s} {n / total if total else 0:7.1%}" for name, n in rows]
        lines.append(f"{'total':32s} {_human(total):>14s}")
        return "\n".join(lines)

    # -- the context -------------------------------------------------------------------------------
    def __enter__(self):
        self.flop_counts.clear()
        counter = self
        original_apply = Function.__dict__["apply"]
        self._saved.append((Function, "apply", original_apply))

        def apply(cls, *args, **kwargs):
            out = original_apply.__func__(cls, *args, **kwargs)
            if counter._inside_backward:
                return out
            custom = counter.custom_mapping.get(cls)
            name = cls.__name__
            if custom is not None:
                counter._count(name, custom(None, args, out))
            elif name in _NAMES and cls.__module__.startswith("shendu.ops"):
                flops = _forward_flops(name, None, args, out if not isinstance(out, tuple) else out[0])
                if flops:
                    counter._count(_NAMES[name], flops)
                    node = getattr(out, "_ctx", None)
                    if node is not None:
                        node._flops = flops
            return out

        Function.apply = classmethod(apply)
        for cls in _counted_classes():
            for rule in ("backward", "grad_arrays"):
                fn = cls.__dict__.get(rule)
                if fn is not None:
                    self._saved.append((cls, rule, fn))
                    setattr(cls, rule, self._counting_rule(cls.__name__, fn))
        return self

    def _counting_rule(self, name: str, rule):
        counter = self

        def counted(ctx, *grads):
            flops = getattr(ctx, "_flops", 0)
            if flops and not counter._inside_backward:
                factor = _BACKWARD[name]
                if factor is None:
                    extra = 2 * flops
                else:
                    extra = flops * sum(1 for i in factor if i < len(ctx.needs_input_grad) and ctx.needs_input_grad[i])
                counter._count(_NAMES[name], extra)
            counter._inside_backward += 1
            try:
                return rule(ctx, *grads)
            finally:
                counter._inside_backward -= 1
        return counted

    def __exit__(self, *exc) -> None:
        while self._saved:
            cls, attr, value = self._saved.pop()
            setattr(cls, attr, value)
        if self.display and exc[0] is None:
            print(self.get_table())


def _counted_classes() -> list:
    from shendu.ops.attention import ScaledDotProductAttention
    from shendu.ops.conv import Convolution
    from shendu.ops.linalg import Linear, MatMul
    return [MatMul, Linear, ScaledDotProductAttention, Convolution]


def _human(n: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3f}{unit}"
    return str(int(n))
