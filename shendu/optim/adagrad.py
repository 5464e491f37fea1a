"""``Adagrad``: per-coordinate learning rates from the running sum of squared gradients."""
from __future__ import annotations

from collections.abc import Iterable

from shendu.backend import array_module
from shendu.optim.optimizer import Optimizer, l2_grad
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

    state_arrays = ("sum",)

    def _init_state(self, p, state: dict, group: dict) -> None:
        if not state:
            state["step"] = self._step_tensor()
            state["sum"] = Tensor._wrap(array_module(p).full_like(p, float(group["initial_accumulator_value"])))

    def _settings(self, state: dict, group: dict) -> dict:
        step = self._next_step(state)
        return dict(clr=float(group["lr"]) / (1.0 + (step - 1.0) * float(group["lr_decay"])), eps=float(group["eps"]),
                    weight_decay=float(group["weight_decay"]), maximize=group["maximize"])

    @staticmethod
    def _update(p, g, state, *, clr, eps, weight_decay, maximize):
        xp = array_module(p)
        g = l2_grad(p, g, weight_decay, maximize)
        s = state["sum"] = state["sum"] + g * g
        return p - clr * g / (xp.sqrt(s) + eps)
