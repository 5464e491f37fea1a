"""``Lion``: sign-of-momentum updates (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms")."""
from __future__ import annotations

from collections.abc import Iterable

from shendu.backend import array_module
from shendu.optim.optimizer import Optimizer


class Lion(Optimizer):
    r"""Lion: every coordinate moves by ±γ, the sign of an interpolation of momentum and gradient.

    .. math::
        c_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t,\quad
        \theta_t = \theta_{t-1}(1 - \gamma\lambda) - \gamma\,\mathrm{sign}(c_t),\quad
        m_t = \beta_2 m_{t-1} + (1 - \beta_2) g_t

    Not in PyTorch; the defaults are the paper's (a learning rate 3-10x smaller than AdamW's, and a
    weight decay that much larger, keep the product γλ similar).

    Args:
        params: iterable of parameters or dicts defining parameter groups.
        lr: learning rate γ. Default: 1e-4.
        betas: (β1, β2). Default: (0.9, 0.99).
        weight_decay: decoupled weight decay λ. Default: 0.
        maximize: maximize the objective instead of minimizing it. Default: False.

    State per parameter: ``exp_avg`` (m).
    """

    def __init__(self, params: Iterable, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay, maximize=maximize))

    def _check_group(self, group: dict) -> None:
        self._check_common(group, "lr", "betas", "weight_decay")

    state_arrays = ("exp_avg",)

    def _init_state(self, p, state: dict, group: dict) -> None:
        if not state:
            self._start_state(p, state, "exp_avg", step=False)

    def _settings(self, state: dict, group: dict) -> dict:
        beta1, beta2 = (float(b) for b in group["betas"])
        return dict(lr=float(group["lr"]), weight_decay=float(group["weight_decay"]), beta1=beta1, beta2=beta2,
                    maximize=group["maximize"])

    @staticmethod
    def _update(p, g, state, *, lr, weight_decay, beta1, beta2, maximize):
        xp = array_module(p)
        if maximize:
            g = -g
        m = state["exp_avg"]
        c = beta1 * m + (1.0 - beta1) * g
        state["exp_avg"] = beta2 * m + (1.0 - beta2) * g
        if weight_decay != 0:
            p = p * (1.0 - lr * weight_decay)
        return p - lr * xp.sign(c)
