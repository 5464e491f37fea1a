"""``Adagrad``: per-coordinate learning rates from the running sum of squared gradients."""
from __future__ import annotations

from collections.abc import Iterable

from shendu import backend
from shendu.optim.optimizer import Optimizer, _grad_with_decay
from shendu.tensor import Tensor


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011).

    .. math::
        s_t = s_{t-1} + g_t^2,\quad
        \theta_t = \theta_{t-1} - \frac{\gamma}{1 + (t - 1)\eta}\,\frac{g_t}{\sqrt{s_t} + \epsilon}

    Args:
        params: iterable of parameters or dicts defining parameter groups.
        lr: learning rate γ. Default: 1e-2.
        lr_decay: η. Default: 0.
        weight_decay: L2 penalty. Default: 0.
        initial_accumulator_value: the starting value of s. Default: 0. (A param group's own value is
            used for its parameters; PyTorch uses the constructor's for all.)
        eps: added to the denominator. Default: 1e-10.
        maximize: maximize the objective instead of minimizing it. Default: False.
        foreach, differentiable, fused: accepted for compatibility with PyTorch.

    State per parameter: ``step``, ``sum``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None):
        if differentiable:
            raise NotImplementedError("Adagrad: differentiable=True is not supported")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        self._check_common(group, "lr", "eps", "weight_decay")
        if "lr_decay" in group:
            self._check(float(group["lr_decay"]) >= 0, "lr_decay value", group["lr_decay"], "lr_decay >= 0")
        if "initial_accumulator_value" in group:
            self._check(float(group["initial_accumulator_value"]) >= 0, "initial_accumulator_value",
                        group["initial_accumulator_value"], "initial_accumulator_value >= 0")

    def _prepare(self, p, grad, state: dict, group: dict):
        if not state:
            state["step"] = self._step_tensor()
            state["sum"] = Tensor._wrap(backend.array_module(p).full_like(p, float(group["initial_accumulator_value"])))
        step = self._next_step(state)
        consts = dict(clr=float(group["lr"]) / (1.0 + (step - 1.0) * float(group["lr_decay"])),
                      eps=float(group["eps"]), l2=float(group["weight_decay"]), maximize=group["maximize"])
        return (p, grad, state["sum"]._data), consts

    def _apply(self, arrays: tuple, c: dict, scratch) -> None:
        p, grad, s = arrays
        xp = backend.array_module(p)
        tmp = scratch.get(p, 0)
        g, sign = _grad_with_decay(xp, p, grad, c["l2"], c["maximize"], scratch)
        xp.multiply(g, g, out=tmp)
        s += tmp
        xp.sqrt(s, out=tmp)
        tmp += c["eps"]
        xp.divide(g, tmp, out=tmp)
        tmp *= sign * c["clr"]
        p -= tmp
