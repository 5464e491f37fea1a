"""``SGD``: stochastic gradient descent with optional (Nesterov) momentum and weight decay."""
from __future__ import annotations

from collections.abc import Iterable

from shendu.optim.optimizer import Optimizer, l2_grad


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum (heavy ball or Nesterov) and L2 weight decay.

    .. math::
        g_t \leftarrow g_t + \lambda \theta_{t-1},\quad
        b_t = \mu b_{t-1} + (1 - \tau) g_t\ (b_1 = g_1),\quad
        \theta_t = \theta_{t-1} - \gamma\,(g_t + \mu b_t \text{ if nesterov else } b_t)

    Args:
        params: iterable of parameters or dicts defining parameter groups.
        lr: learning rate γ. Default: 1e-3.
        momentum: momentum factor μ. Default: 0.
        dampening: dampening τ of the momentum. Default: 0.
        weight_decay: L2 penalty λ. Default: 0.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening = 0). Default: False.
        maximize: maximize the objective instead of minimizing it. Default: False.
        foreach, differentiable, fused: accepted for compatibility with PyTorch.

    State per parameter (with momentum): ``momentum_buffer``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None):
        if differentiable:
            raise NotImplementedError("SGD: differentiable=True is not supported")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                        maximize=maximize, foreach=foreach, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        self._check_common(group, "lr", "momentum", "weight_decay")
        if group.get("nesterov") and (float(group.get("momentum", 0)) <= 0 or float(group.get("dampening", 0)) != 0):
            raise ValueError(f"SGD: Nesterov momentum requires a momentum > 0 and zero dampening, got momentum="
                             f"{group.get('momentum')} and dampening={group.get('dampening')}")

    state_arrays = ("momentum_buffer",)

    def _init_state(self, p, state: dict, group: dict) -> None:
        if group["momentum"] != 0 and state.get("momentum_buffer") is None:
            state["momentum_buffer"] = self._zeros_like(p)
            state["_first"] = True  # the buffer starts at the first gradient, undamped

    def _settings(self, state: dict, group: dict) -> dict:
        return dict(lr=float(group["lr"]), momentum=float(group["momentum"]), dampening=float(group["dampening"]),
                    nesterov=group["nesterov"], weight_decay=float(group["weight_decay"]),
                    maximize=group["maximize"], first=state.pop("_first", False))

    @staticmethod
    def _update(p, g, state, *, lr, momentum, dampening, nesterov, weight_decay, maximize, first):
        g = l2_grad(p, g, weight_decay, maximize)
        if momentum == 0:
            return p - lr * g
        b = state["momentum_buffer"] = g if first else momentum * state["momentum_buffer"] + (1.0 - dampening) * g
        return p - lr * (g + momentum * b if nesterov else b)
