"""``Rprop``: resilient backpropagation, per-coordinate step sizes driven by the gradient's sign alone."""
from __future__ import annotations

from collections.abc import Iterable

from shendu.backend import array_module
from shendu.optim.optimizer import Optimizer
from shendu.tensor import Tensor


class Rprop(Optimizer):
    r"""Rprop (Riedmiller & Braun, 1993), in PyTorch's form (Rprop-: no weight backtracking).

    .. math::
        s_t = \mathrm{clamp}(s_{t-1} \cdot \begin{cases} \eta_+ & g_t g_{t-1} > 0 \\ \eta_- & g_t g_{t-1} < 0
            \\ 1 & \text{otherwise} \end{cases}, \Gamma_{min}, \Gamma_{max}),\quad
        g_t \leftarrow 0 \text{ where } g_t g_{t-1} < 0,\quad
        \theta_t = \theta_{t-1} - s_t\,\mathrm{sign}(g_t)

    Args:
        params: iterable of parameters or dicts defining parameter groups.
        lr: the initial step size of every coordinate. Default: 1e-2.
        etas: (η-, η+), the factors that shrink and grow a step size (0 < η- < 1 < η+). Default: (0.5, 1.2).
        step_sizes: (Γmin, Γmax), the bounds of a step size. Default: (1e-6, 50).
        maximize: maximize the objective instead of minimizing it. Default: False.
        capturable, foreach, differentiable: accepted for compatibility with PyTorch.

    State per parameter: ``step``, ``prev`` (the last gradient used), ``step_size``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False):
        if differentiable:
            raise NotImplementedError("Rprop: differentiable=True is not supported")
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        self._check_common(group, "lr")
        if "etas" in group:
            minus, plus = group["etas"]
            self._check(0.0 < minus < 1.0 < plus, "eta values", tuple(group["etas"]), "0 < etas[0] < 1 < etas[1]")

    state_arrays = ("prev", "step_size")

    def _init_state(self, p, state: dict, group: dict) -> None:
        if not state:
            state["step"] = self._step_tensor()
            state["prev"] = self._zeros_like(p)
            state["step_size"] = Tensor._wrap(array_module(p).full_like(p, float(group["lr"])))

    def _settings(self, state: dict, group: dict) -> dict:
        self._next_step(state)
        (eta_minus, eta_plus), (step_min, step_max) = group["etas"], group["step_sizes"]
        return dict(eta_minus=float(eta_minus), eta_plus=float(eta_plus), step_min=float(step_min),
                    step_max=float(step_max), maximize=group["maximize"])

    @staticmethod
    def _update(p, g, state, *, eta_minus, eta_plus, step_min, step_max, maximize):
        xp = array_module(p)
        if maximize:
            g = -g
        agree = xp.sign(g * state["prev"])  # 1: same sign as last time, -1: it flipped, 0: either is 0
        grew, flipped = xp.maximum(agree, 0.0), xp.maximum(-agree, 0.0)  # 0/1 masks, in the parameter's dtype
        factor = 1.0 + (eta_plus - 1.0) * grew + (eta_minus - 1.0) * flipped
        step = state["step_size"] = xp.minimum(xp.maximum(state["step_size"] * factor, step_min), step_max)
        g = state["prev"] = g * (1.0 - flipped)  # after a sign flip: no move, and no flip seen next time
        return p - xp.sign(g) * step
