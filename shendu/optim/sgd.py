"""``SGD``: stochastic gradient descent with optional (Nesterov) momentum and weight decay."""
from __future__ import annotations

from collections.abc import Iterable

from shendu import backend
from shendu.optim.optimizer import Optimizer, _grad_with_decay


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

    def _prepare(self, p, grad, state: dict, group: dict):
        momentum = float(group["momentum"])
        first = False
        if momentum != 0 and state.get("momentum_buffer") is None:
            state["momentum_buffer"] = self._zeros_like(p)
            first = True  # the first step starts the buffer at the gradient, undamped
        consts = dict(lr=float(group["lr"]), momentum=momentum, damp=1.0 - float(group["dampening"]),
                      nesterov=group["nesterov"], l2=float(group["weight_decay"]), maximize=group["maximize"],
                      first=first)
        arrays = (p, grad, state["momentum_buffer"]._data) if momentum != 0 else (p, grad)
        return arrays, consts

    def _apply(self, arrays: tuple, c: dict, scratch) -> None:
        p, grad = arrays[:2]
        xp = backend.array_module(p)
        tmp = scratch.get(p, 0)
        g, sign = _grad_with_decay(xp, p, grad, c["l2"], c["maximize"], scratch)
        if len(arrays) == 2:
            xp.multiply(g, sign * c["lr"], out=tmp)
            p -= tmp
            return
        b, momentum = arrays[2], c["momentum"]
        if c["first"]:
            xp.multiply(g, sign, out=b)
        else:
            b *= momentum
            scale = sign * c["damp"]
            if scale == 1.0:
                b += g
            else:
                xp.multiply(g, scale, out=tmp)
                b += tmp
        if c["nesterov"]:
            xp.multiply(b, momentum, out=tmp)
            if sign > 0:
                tmp += g
            else:
                tmp -= g
            tmp *= c["lr"]
        else:
            xp.multiply(b, c["lr"], out=tmp)
        p -= tmp
