"""``RMSprop``: gradients scaled by a running root mean square, optionally centered and with momentum."""
from __future__ import annotations

from collections.abc import Iterable

from shendu.backend import array_module
from shendu.optim.optimizer import Optimizer, l2_grad


class RMSprop(Optimizer):
    r"""RMSprop (Hinton's lecture 6e), in PyTorch's form.

    .. math::
        v_t = \alpha v_{t-1} + (1 - \alpha) g_t^2,\quad
        \bar g_t = \alpha \bar g_{t-1} + (1 - \alpha) g_t \text{ (centered)},\quad
        d_t = \frac{g_t}{\sqrt{v_t - \bar g_t^2} + \epsilon},\quad
        b_t = \mu b_{t-1} + d_t,\quad \theta_t = \theta_{t-1} - \gamma b_t\ (\text{or } \gamma d_t \text{ if } \mu = 0)

    Args:
        params: iterable of parameters or dicts defining parameter groups.
        lr: learning rate γ. Default: 1e-2.
        alpha: smoothing constant α. Default: 0.99.
        eps: added to the denominator. Default: 1e-8.
        weight_decay: L2 penalty. Default: 0.
        momentum: momentum factor μ. Default: 0.
        centered: normalize by an estimate of the gradient's variance instead of its second moment. Default: False.
        maximize: maximize the objective instead of minimizing it. Default: False.
        capturable, foreach, differentiable: accepted for compatibility with PyTorch.

    State per parameter: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0), ``grad_avg`` (centered).
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False):
        if differentiable:
            raise NotImplementedError("RMSprop: differentiable=True is not supported")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered, weight_decay=weight_decay,
                        capturable=capturable, foreach=foreach, maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        self._check_common(group, "lr", "eps", "momentum", "weight_decay")
        if "alpha" in group:
            self._check(float(group["alpha"]) >= 0, "alpha value", group["alpha"], "alpha >= 0")

    state_arrays = ("square_avg", "momentum_buffer", "grad_avg")

    def _init_state(self, p, state: dict, group: dict) -> None:
        if not state:
            self._start_state(p, state, "square_avg")
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = self._zeros_like(p)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = self._zeros_like(p)

    def _settings(self, state: dict, group: dict) -> dict:
        self._next_step(state)
        return dict(lr=float(group["lr"]), alpha=float(group["alpha"]), eps=float(group["eps"]),
                    momentum=float(group["momentum"]), centered=group["centered"],
                    weight_decay=float(group["weight_decay"]), maximize=group["maximize"])

    @staticmethod
    def _update(p, g, state, *, lr, alpha, eps, momentum, centered, weight_decay, maximize):
        xp = array_module(p)
        g = l2_grad(p, g, weight_decay, maximize)
        v = state["square_avg"] = alpha * state["square_avg"] + (1.0 - alpha) * (g * g)
        if centered:  # the variance of g instead of its second moment
            g_avg = state["grad_avg"] = alpha * state["grad_avg"] + (1.0 - alpha) * g
            v = v - g_avg * g_avg
        d = g / (xp.sqrt(v) + eps)
        if momentum != 0:
            d = state["momentum_buffer"] = momentum * state["momentum_buffer"] + d
        return p - lr * d
