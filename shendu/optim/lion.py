"""``Lion``: sign-of-momentum updates (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms")."""
from __future__ import annotations

from collections.abc import Iterable

from shendu import backend
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

    def _prepare(self, p, grad, state: dict, group: dict):
        if not state:
            state["exp_avg"] = self._zeros_like(p)
        lr, wd = float(group["lr"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        consts = dict(lr=lr, shrink=1.0 - lr * wd, beta1=beta1, beta2=beta2,
                      sign=-1.0 if group["maximize"] else 1.0)
        return (p, grad, state["exp_avg"]._data), consts

    def _apply(self, arrays: tuple, c: dict, scratch) -> None:
        p, grad, m = arrays
        xp = backend.array_module(p)
        tmp, sign, beta1 = scratch.get(p, 0), c["sign"], c["beta1"]
        if c["shrink"] != 1.0:
            p *= c["shrink"]
        # sign(c) = sign(c / (1 - beta1)) = sign(g + beta1 / (1 - beta1) m): two passes instead of three
        xp.multiply(m, beta1 / (1.0 - beta1), out=tmp)
        if sign > 0:
            tmp += grad
        else:
            tmp -= grad
        xp.sign(tmp, out=tmp)
        tmp *= c["lr"]
        p -= tmp
        xp.multiply(grad, sign * (1.0 - c["beta2"]), out=tmp)  # m <- beta2 m + (1 - beta2) g
        m *= c["beta2"]
        m += tmp
