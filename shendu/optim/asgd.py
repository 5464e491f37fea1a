"""``ASGD``: averaged stochastic gradient descent (Polyak-Ruppert averaging of the SGD iterates)."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from shendu.optim.optimizer import Optimizer, l2_grad
from shendu.tensor import Tensor


class ASGD(Optimizer):
    r"""Averaged SGD (Polyak & Juditsky, 1992), in PyTorch's form: SGD with a decaying step η_t whose
    iterates are averaged (in ``ax``) from step ``t0`` on.

    .. math::
        \theta_t = \theta_{t-1}(1 - \lambda \eta_t) - \eta_t g_t,\quad
        \bar\theta_t = \bar\theta_{t-1} + \mu_t (\theta_t - \bar\theta_{t-1}),\quad
        \eta_{t+1} = \frac{\gamma}{(1 + \lambda \gamma t)^\alpha},\quad \mu_{t+1} = \frac{1}{\max(1, t - t_0)}

    Args:
        params: iterable of parameters or dicts defining parameter groups.
        lr: learning rate γ. Default: 1e-2.
        lambd: decay term λ. Default: 1e-4.
        alpha: power α of the η decay. Default: 0.75.
        t0: the step at which averaging starts. Default: 1e6.
        weight_decay: L2 penalty. Default: 0.
        maximize: maximize the objective instead of minimizing it. Default: False.
        foreach, capturable, differentiable: accepted for compatibility with PyTorch.

    State per parameter: ``step``, ``eta``, ``mu`` (0-d float32 tensors), ``ax`` (the average).
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        if differentiable:
            raise NotImplementedError("ASGD: differentiable=True is not supported")
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        self._check_common(group, "lr", "weight_decay")

    state_arrays = ("ax",)

    def _init_state(self, p, state: dict, group: dict) -> None:
        if not state:
            state["step"] = self._step_tensor()
            state["eta"] = Tensor._wrap(np.array(float(group["lr"]), dtype=np.float32))
            state["mu"] = Tensor._wrap(np.ones((), dtype=np.float32))
            state["ax"] = self._zeros_like(p)

    def _settings(self, state: dict, group: dict) -> dict:
        step = self._next_step(state)
        eta, mu = float(state["eta"]._data), float(state["mu"]._data)
        lr, lambd = float(group["lr"]), float(group["lambd"])
        # the next step's η and μ, kept in float32 as PyTorch does
        state["eta"]._data[...] = lr / (1 + lambd * lr * step) ** float(group["alpha"])
        state["mu"]._data[...] = 1 / max(1, step - float(group["t0"]))
        return dict(eta=eta, lambd=lambd, mu=mu, average=mu != 1, weight_decay=float(group["weight_decay"]),
                    maximize=group["maximize"])

    @staticmethod
    def _update(p, g, state, *, eta, lambd, mu, average, weight_decay, maximize):
        g = l2_grad(p, g, weight_decay, maximize)
        p = p * (1.0 - lambd * eta) - eta * g
        state["ax"] = state["ax"] + mu * (p - state["ax"]) if average else p
        return p
