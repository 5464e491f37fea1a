"""``Adadelta``: step sizes from the ratio of running RMS of updates to running RMS of gradients."""
from __future__ import annotations

from collections.abc import Iterable

from shendu.backend import array_module
from shendu.optim.optimizer import Optimizer, l2_grad


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012).

    .. math::
        v_t = \rho v_{t-1} + (1 - \rho) g_t^2,\quad
        \Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t,\quad
        u_t = \rho u_{t-1} + (1 - \rho) \Delta_t^2,\quad \theta_t = \theta_{t-1} - \gamma \Delta_t

    Args:
        params: iterable of parameters or dicts defining parameter groups.
        lr: scale γ applied to Δ. Default: 1.0.
        rho: decay ρ of the running averages. Default: 0.9.
        eps: added inside both square roots. Default: 1e-6.
        weight_decay: L2 penalty. Default: 0.
        maximize: maximize the objective instead of minimizing it. Default: False.
        foreach, capturable, differentiable: accepted for compatibility with PyTorch.

    State per parameter: ``step``, ``square_avg`` (v), ``acc_delta`` (u).
    """

    def __init__(self, params: Iterable, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False):
        if differentiable:
            raise NotImplementedError("Adadelta: differentiable=True is not supported")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize, capturable=capturable,
                        foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        self._check_common(group, "lr", "eps", "weight_decay")
        if "rho" in group:
            self._check(0.0 <= float(group["rho"]) <= 1.0, "rho value", group["rho"], "0 <= rho <= 1")

    state_arrays = ("square_avg", "acc_delta")

    def _init_state(self, p, state: dict, group: dict) -> None:
        if not state:
            self._start_state(p, state, "square_avg", "acc_delta")

    def _settings(self, state: dict, group: dict) -> dict:
        self._next_step(state)
        return dict(lr=float(group["lr"]), rho=float(group["rho"]), eps=float(group["eps"]),
                    weight_decay=float(group["weight_decay"]), maximize=group["maximize"])

    @staticmethod
    def _update(p, g, state, *, lr, rho, eps, weight_decay, maximize):
        xp = array_module(p)
        g = l2_grad(p, g, weight_decay, maximize)
        v = state["square_avg"] = rho * state["square_avg"] + (1.0 - rho) * (g * g)
        delta = xp.sqrt(state["acc_delta"] + eps) / xp.sqrt(v + eps) * g
        state["acc_delta"] = rho * state["acc_delta"] + (1.0 - rho) * (delta * delta)
        return p - lr * delta
