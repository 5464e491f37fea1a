"""The Adam family: ``Adam`` (with AMSGrad and decoupled weight decay), ``AdamW``, ``Adamax``, ``NAdam``, ``RAdam``.

Each ``_update`` is the optimizer's formula on one parameter's arrays; ``shendu.optim._parallel``
runs it in place over chunks of the parameters on the available cores.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

from shendu.backend import array_module
from shendu.optim.optimizer import Optimizer, l2_grad


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

    state_arrays = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def _init_state(self, p, state: dict, group: dict) -> None:
        if not state:
            self._start_state(p, state, "exp_avg", "exp_avg_sq")
        if group["amsgrad"] and "max_exp_avg_sq" not in state:  # (also when amsgrad is switched on mid-training)
            state["max_exp_avg_sq"] = self._zeros_like(p)

    def _settings(self, state: dict, group: dict) -> dict:
        step = self._next_step(state)
        beta1, beta2 = (float(b) for b in group["betas"])
        return dict(lr=float(group["lr"]), beta1=beta1, beta2=beta2, eps=float(group["eps"]),
                    weight_decay=float(group["weight_decay"]),
                    decoupled=bool(group.get("decoupled_weight_decay", False) and group["weight_decay"] != 0),
                    amsgrad=group["amsgrad"], maximize=group["maximize"], bc1=1.0 - beta1 ** step,
                    bc2=1.0 - beta2 ** step)

    @staticmethod
    def _update(p, g, state, *, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize, bc1, bc2):
        xp = array_module(p)
        if decoupled:
            p = p * (1.0 - lr * weight_decay)
            weight_decay = 0.0
        g = l2_grad(p, g, weight_decay, maximize)
        m = state["exp_avg"] = beta1 * state["exp_avg"] + (1.0 - beta1) * g
        v = state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1.0 - beta2) * (g * g)
        if amsgrad:  # normalize by the running maximum of v
            v = state["max_exp_avg_sq"] = xp.maximum(state["max_exp_avg_sq"], v)
        # lr / bc1 * m / (sqrt(v / bc2) + eps), with sqrt(bc2) moved onto the scalars
        return p - (lr * bc2 ** 0.5 / bc1) * (m / (xp.sqrt(v) + eps * bc2 ** 0.5))


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

    state_arrays = ("exp_avg", "exp_inf")

    def _init_state(self, p, state: dict, group: dict) -> None:
        if not state:
            self._start_state(p, state, "exp_avg", "exp_inf")

    def _settings(self, state: dict, group: dict) -> dict:
        step = self._next_step(state)
        beta1, beta2 = (float(b) for b in group["betas"])
        return dict(lr=float(group["lr"]), beta1=beta1, beta2=beta2, eps=float(group["eps"]),
                    weight_decay=float(group["weight_decay"]), maximize=group["maximize"], bc1=1.0 - beta1 ** step)

    @staticmethod
    def _update(p, g, state, *, lr, beta1, beta2, eps, weight_decay, maximize, bc1):
        xp = array_module(p)
        g = l2_grad(p, g, weight_decay, maximize)
        m = state["exp_avg"] = beta1 * state["exp_avg"] + (1.0 - beta1) * g
        u = state["exp_inf"] = xp.maximum(beta2 * state["exp_inf"], xp.abs(g) + eps)
        return p - (lr / bc1) * m / u


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

    state_arrays = ("exp_avg", "exp_avg_sq")

    def _init_state(self, p, state: dict, group: dict) -> None:
        if not state:
            state["step"] = self._step_tensor()
            state["mu_product"] = self._step_tensor()
            state["mu_product"]._data[...] = 1.0
            state["exp_avg"] = self._zeros_like(p)
            state["exp_avg_sq"] = self._zeros_like(p)

    def _settings(self, state: dict, group: dict) -> dict:
        step = self._next_step(state)
        lr = float(group["lr"])
        beta1, beta2 = (float(b) for b in group["betas"])
        psi = float(group["momentum_decay"])
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        mu_product = state["mu_product"]._data
        mu_product *= mu  # kept in float32, as PyTorch does
        mu_prod = float(mu_product)
        return dict(lr=lr, beta1=beta1, beta2=beta2, eps=float(group["eps"]),
                    weight_decay=float(group["weight_decay"]),
                    decoupled=bool(group["decoupled_weight_decay"] and group["weight_decay"] != 0),
                    maximize=group["maximize"], bc2=1.0 - beta2 ** step,
                    c_g=lr * (1.0 - mu) / (1.0 - mu_prod), c_m=lr * mu_next / (1.0 - mu_prod * mu_next))

    @staticmethod
    def _update(p, g, state, *, lr, beta1, beta2, eps, weight_decay, decoupled, maximize, bc2, c_g, c_m):
        xp = array_module(p)
        if decoupled:
            p = p * (1.0 - lr * weight_decay)
            weight_decay = 0.0
        g = l2_grad(p, g, weight_decay, maximize)
        m = state["exp_avg"] = beta1 * state["exp_avg"] + (1.0 - beta1) * g
        v = state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1.0 - beta2) * (g * g)
        # the gradient weighted by the current momentum, the moment by the next one
        return p - (c_g * g + c_m * m) / (xp.sqrt(v / bc2) + eps)


class RAdam(Optimizer):
    r"""RAdam, rectified Adam (Liu et al., 2020): plain momentum SGD while the variance of the adaptive
    learning rate is intractable (the approximated SMA length :math:`\rho_t \le 5`), then Adam scaled by
    the rectification term :math:`r_t`.

    .. math::
        \rho_\infty = \frac{2}{1 - \beta_2} - 1,\quad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t},\quad
        r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}},\\
        \theta_t = \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t} m_t \cdot \begin{cases}
            r_t \sqrt{1 - \beta_2^t} / (\sqrt{v_t} + \epsilon) & \rho_t > 5 \\ 1 & \text{otherwise} \end{cases}

    Args:
        params: iterable of parameters or dicts defining parameter groups.
        lr: learning rate γ. Default: 1e-3.
        betas: (β1, β2). Default: (0.9, 0.999).
        eps: added to the denominator. Default: 1e-8.
        weight_decay: L2 penalty λ, or with ``decoupled_weight_decay`` the shrink ``θ <- θ (1 - γλ)``. Default: 0.
        decoupled_weight_decay: apply weight decay as AdamW does. Default: False.
        maximize: maximize the objective instead of minimizing it. Default: False.
        foreach, capturable, differentiable: accepted for compatibility with PyTorch.

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        if differentiable:
            raise NotImplementedError("RAdam: differentiable=True is not supported")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        self._check_common(group, "lr", "eps", "betas", "weight_decay")

    state_arrays = ("exp_avg", "exp_avg_sq")

    def _init_state(self, p, state: dict, group: dict) -> None:
        if not state:
            self._start_state(p, state, "exp_avg", "exp_avg_sq")

    def _settings(self, state: dict, group: dict) -> dict:
        step = self._next_step(state)
        beta1, beta2 = (float(b) for b in group["betas"])
        bc2 = 1.0 - beta2 ** step
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho_t = rho_inf - 2.0 * step * beta2 ** step / bc2
        rect = None
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        return dict(lr=float(group["lr"]), beta1=beta1, beta2=beta2, eps=float(group["eps"]),
                    weight_decay=float(group["weight_decay"]),
                    decoupled=bool(group["decoupled_weight_decay"] and group["weight_decay"] != 0),
                    maximize=group["maximize"], bc1=1.0 - beta1 ** step, bc2=bc2, rect=rect)

    @staticmethod
    def _update(p, g, state, *, lr, beta1, beta2, eps, weight_decay, decoupled, maximize, bc1, bc2, rect):
        xp = array_module(p)
        if decoupled:
            p = p * (1.0 - lr * weight_decay)
            weight_decay = 0.0
        g = l2_grad(p, g, weight_decay, maximize)
        m = state["exp_avg"] = beta1 * state["exp_avg"] + (1.0 - beta1) * g
        v = state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1.0 - beta2) * (g * g)
        if rect is None:  # the variance is not yet tractable: SGD with momentum
            return p - (lr / bc1) * m
        return p - (lr * rect * bc2 ** 0.5 / bc1) * (m / (xp.sqrt(v) + eps))
