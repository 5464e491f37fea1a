"""``RMSprop``: gradients scaled by a running root mean square, optionally centered and with momentum."""
from __future__ import annotations

from collections.abc import Iterable

from shendu import backend
from shendu.optim.optimizer import Optimizer, _ema_, _ema_sq_, _grad_with_decay


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

    def _prepare(self, p, grad, state: dict, group: dict):
        momentum, centered = float(group["momentum"]), group["centered"]
        if not state:
            state["step"] = self._step_tensor()
            state["square_avg"] = self._zeros_like(p)
        if momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = self._zeros_like(p)
        if centered and "grad_avg" not in state:
            state["grad_avg"] = self._zeros_like(p)
        self._next_step(state)
        consts = dict(lr=float(group["lr"]), alpha=float(group["alpha"]), eps=float(group["eps"]), momentum=momentum,
                      centered=centered, l2=float(group["weight_decay"]), maximize=group["maximize"])
        arrays = (p, grad, state["square_avg"]._data,
                  state["momentum_buffer"]._data if momentum > 0 else None,
                  state["grad_avg"]._data if centered else None)
        return tuple(a for a in arrays if a is not None), consts

    def _apply(self, arrays: tuple, c: dict, scratch) -> None:
        p, grad, v, *rest = arrays
        b = rest.pop(0) if c["momentum"] > 0 else None
        g_avg = rest.pop(0) if c["centered"] else None
        xp = backend.array_module(p)
        tmp = scratch.get(p, 0)
        g, sign = _grad_with_decay(xp, p, grad, c["l2"], c["maximize"], scratch)
        _ema_sq_(xp, v, g, c["alpha"], tmp)
        if g_avg is not None:
            _ema_(xp, g_avg, g, c["alpha"], sign, tmp)
            xp.multiply(g_avg, g_avg, out=tmp)
            xp.subtract(v, tmp, out=tmp)
            xp.sqrt(tmp, out=tmp)
        else:
            xp.sqrt(v, out=tmp)
        tmp += c["eps"]
        xp.divide(g, tmp, out=tmp)
        if b is not None:
            b *= c["momentum"]
            if sign > 0:
                b += tmp
            else:
                b -= tmp
            xp.multiply(b, c["lr"], out=tmp)
        else:
            tmp *= sign * c["lr"]
        p -= tmp
