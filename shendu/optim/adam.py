"""The Adam family: ``Adam`` (with AMSGrad and decoupled weight decay), ``AdamW``, ``Adamax``, ``NAdam``.

Each update is a short chain of in-place ufuncs over the parameter, its gradient, the two moments
and one scratch buffer. Adam folds both bias corrections into two scalars,

    p <- p - a * m / (sqrt(v) + eps * sqrt(bc2)),   a = lr * sqrt(bc2) / bc1,

which equals PyTorch's ``p - lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)`` and takes 12 passes
(PyTorch's CPU kernel makes about as many); the base class runs them over chunks of the parameters
on the available cores (``shendu.optim._parallel``).
"""
from __future__ import annotations

import math
from collections.abc import Iterable

from shendu import backend
from shendu.optim.optimizer import Optimizer, _ema_, _ema_sq_, _grad_with_decay


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), optionally AMSGrad, with L2 or decoupled (AdamW) weight decay.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t,\quad v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2,\quad
        \theta_t = \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t} \frac{m_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}

    Args:
        params: iterable of parameters or dicts defining parameter groups.
        lr: learning rate γ. Default: 1e-3.
        betas: (β1, β2), the decay rates of the first and second moment estimates. Default: (0.9, 0.999).
        eps: added to the denominator for numerical stability. Default: 1e-8.
        weight_decay: L2 penalty λ added to the gradient (``g + λθ``), or with
            ``decoupled_weight_decay`` the AdamW shrink ``θ <- θ (1 - γλ)``. Default: 0.
        amsgrad: use the running maximum of v_t (AMSGrad). Default: False.
        maximize: maximize the objective instead of minimizing it. Default: False.
        decoupled_weight_decay: apply weight decay as AdamW does. Default: False.
        foreach, fused, capturable, differentiable: PyTorch's implementation switches; accepted for
            compatibility (shendu has one implementation), ``differentiable=True`` is not supported.

    State per parameter: ``step`` (0-d float32 tensor), ``exp_avg``, ``exp_avg_sq`` (parameter's shape),
    and ``max_exp_avg_sq`` with AMSGrad.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False):
        if differentiable:
            raise NotImplementedError(f"{type(self).__name__}: differentiable=True is not supported")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        self._check_common(group, "lr", "eps", "betas", "weight_decay")

    def _prepare(self, p, grad, state: dict, group: dict):
        amsgrad = group["amsgrad"]
        if not state:
            state["step"] = self._step_tensor()
            state["exp_avg"] = self._zeros_like(p)
            state["exp_avg_sq"] = self._zeros_like(p)
        if amsgrad and "max_exp_avg_sq" not in state:  # (also when amsgrad is switched on mid-training)
            state["max_exp_avg_sq"] = self._zeros_like(p)
        step = self._next_step(state)
        lr, wd = float(group["lr"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        bc1 = 1.0 - beta1 ** step
        bc2_sqrt = math.sqrt(1.0 - beta2 ** step)
        decoupled = wd != 0 and group.get("decoupled_weight_decay", False)
        consts = dict(beta1=beta1, beta2=beta2, maximize=group["maximize"], l2=0.0 if decoupled else wd,
                      shrink=1.0 - lr * wd if decoupled else 1.0, eps=float(group["eps"]) * bc2_sqrt,
                      step_size=lr * bc2_sqrt / bc1)
        arrays = (p, grad, state["exp_avg"]._data, state["exp_avg_sq"]._data)
        return (arrays + (state["max_exp_avg_sq"]._data,) if amsgrad else arrays), consts

    def _apply(self, arrays: tuple, c: dict, scratch) -> None:
        p, grad, m, v = arrays[:4]
        xp = backend.array_module(p)
        tmp = scratch.get(p, 0)
        if c["shrink"] != 1.0:
            p *= c["shrink"]
        g, sign = _grad_with_decay(xp, p, grad, c["l2"], c["maximize"], scratch)
        _ema_(xp, m, g, c["beta1"], sign, tmp)
        _ema_sq_(xp, v, g, c["beta2"], tmp)
        if len(arrays) == 5:  # AMSGrad: normalize by the running maximum of v
            xp.maximum(arrays[4], v, out=arrays[4])
            v = arrays[4]
        xp.sqrt(v, out=tmp)
        tmp += c["eps"]
        xp.divide(m, tmp, out=tmp)
        tmp *= c["step_size"]
        p -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): ``θ <- θ (1 - γλ)`` before the Adam step.

    Same arguments as ``Adam``; ``weight_decay`` defaults to 1e-2.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)


class Adamax(Adam):
    r"""Adamax, Adam's infinity-norm variant: ``u_t = max(β2 u_{t-1}, |g_t| + ε)``,
    ``θ_t = θ_{t-1} - γ / (1 - β1^t) · m_t / u_t``.

    Args:
        params, lr (default 2e-3), betas (default (0.9, 0.999)), eps (default 1e-8), weight_decay (L2,
        default 0), maximize (default False); foreach, capturable, differentiable accepted for compatibility.

    State per parameter: ``step``, ``exp_avg``, ``exp_inf``.
    """

    def __init__(self, params: Iterable, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        if differentiable:
            raise NotImplementedError("Adamax: differentiable=True is not supported")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        Optimizer.__init__(self, params, defaults)

    def _prepare(self, p, grad, state: dict, group: dict):
        if not state:
            state["step"] = self._step_tensor()
            state["exp_avg"] = self._zeros_like(p)
            state["exp_inf"] = self._zeros_like(p)
        step = self._next_step(state)
        beta1, beta2 = (float(b) for b in group["betas"])
        consts = dict(beta1=beta1, beta2=beta2, eps=float(group["eps"]), l2=float(group["weight_decay"]),
                      maximize=group["maximize"], step_size=float(group["lr"]) / (1.0 - beta1 ** step))
        return (p, grad, state["exp_avg"]._data, state["exp_inf"]._data), consts

    def _apply(self, arrays: tuple, c: dict, scratch) -> None:
        p, grad, m, u = arrays
        xp = backend.array_module(p)
        tmp = scratch.get(p, 0)
        g, sign = _grad_with_decay(xp, p, grad, c["l2"], c["maximize"], scratch)
        _ema_(xp, m, g, c["beta1"], sign, tmp)
        u *= c["beta2"]
        xp.abs(g, out=tmp)
        tmp += c["eps"]
        xp.maximum(u, tmp, out=u)
        xp.divide(m, u, out=tmp)
        tmp *= c["step_size"]
        p -= tmp


class NAdam(Adam):
    r"""NAdam: Adam with Nesterov momentum (Dozat, 2016), with PyTorch's momentum schedule
    ``μ_t = β1 (1 - ½ · 0.96^{t ψ})`` (ψ = ``momentum_decay``).

    .. math::
        \theta_t = \theta_{t-1} - \gamma \Big(\frac{1 - \mu_t}{1 - \prod_{i \le t} \mu_i} g_t
            + \frac{\mu_{t+1}}{1 - \prod_{i \le t+1} \mu_i} m_t\Big)
            \Big/ \big(\sqrt{v_t / (1 - \beta_2^t)} + \epsilon\big)

    Args:
        params, lr (default 2e-3), betas (default (0.9, 0.999)), eps (default 1e-8), weight_decay
        (default 0), momentum_decay ψ (default 4e-3), decoupled_weight_decay (NAdamW, default False),
        maximize (default False); foreach, capturable, differentiable accepted for compatibility.

    State per parameter: ``step``, ``mu_product`` (0-d float32 tensor), ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params: Iterable, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False):
        if differentiable:
            raise NotImplementedError("NAdam: differentiable=True is not supported")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        Optimizer.__init__(self, params, defaults)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        if "momentum_decay" in group:
            self._check(float(group["momentum_decay"]) >= 0, "momentum_decay value", group["momentum_decay"],
                        "momentum_decay >= 0")

    def _prepare(self, p, grad, state: dict, group: dict):
        if not state:
            state["step"] = self._step_tensor()
            state["mu_product"] = self._step_tensor()
            state["mu_product"]._data[...] = 1.0
            state["exp_avg"] = self._zeros_like(p)
            state["exp_avg_sq"] = self._zeros_like(p)
        step = self._next_step(state)
        lr, wd = float(group["lr"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        psi = float(group["momentum_decay"])
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        mu_product = state["mu_product"]._data
        mu_product *= mu  # kept in float32, as PyTorch does
        mu_prod = float(mu_product)
        decoupled = wd != 0 and group["decoupled_weight_decay"]
        consts = dict(beta1=beta1, beta2=beta2, maximize=group["maximize"], l2=0.0 if decoupled else wd,
                      shrink=1.0 - lr * wd if decoupled else 1.0, eps=float(group["eps"]),
                      inv_bc2_sqrt=1.0 / math.sqrt(1.0 - beta2 ** step),
                      c_g=lr * (1.0 - mu) / (1.0 - mu_prod), c_m=lr * mu_next / (1.0 - mu_prod * mu_next))
        return (p, grad, state["exp_avg"]._data, state["exp_avg_sq"]._data), consts

    def _apply(self, arrays: tuple, c: dict, scratch) -> None:
        p, grad, m, v = arrays
        xp = backend.array_module(p)
        tmp, tmp2 = scratch.get(p, 0), scratch.get(p, 2)
        if c["shrink"] != 1.0:
            p *= c["shrink"]
        g, sign = _grad_with_decay(xp, p, grad, c["l2"], c["maximize"], scratch)
        _ema_(xp, m, g, c["beta1"], sign, tmp)
        _ema_sq_(xp, v, g, c["beta2"], tmp)
        # denom = sqrt(v / bc2) + eps; the update c_g g + c_m m over it is c_m (g c_g / c_m + m) / denom
        xp.sqrt(v, out=tmp)
        tmp *= c["inv_bc2_sqrt"]
        tmp += c["eps"]
        c_g, c_m = sign * c["c_g"], c["c_m"]
        if c_m == 0.0:  # beta1 = 0: no momentum term
            xp.divide(g, tmp, out=tmp2)
            tmp2 *= c_g
        else:
            xp.multiply(g, c_g / c_m, out=tmp2)
            tmp2 += m
            tmp2 /= tmp
            tmp2 *= c_m
        p -= tmp2
