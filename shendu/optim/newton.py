"""``NewtonCG``: Newton's method for small problems, the Newton system solved by conjugate gradients.

The Hessian is never formed: conjugate gradients needs only Hessian-vector products, and shendu's
higher-order gradients give them exactly. With g = ∇f computed under ``create_graph=True``,

    H v = ∇(g · v),

one more backward pass through the graph of g (Pearlmutter's trick). CG solves (H + λI) d = -g in at
most n products for n parameters, so a quadratic is minimized in a single step.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from shendu import backend
from shendu.autograd.engine import grad as autograd_grad
from shendu.grad_mode import enable_grad, no_grad
from shendu.optim.optimizer import Optimizer
from shendu.tensor import Tensor


class NewtonCG(Optimizer):
    r"""Truncated Newton: each ``step(closure)`` solves :math:`(H + \lambda I) d = -g` by conjugate
    gradients with exact Hessian-vector products, then moves :math:`\theta \leftarrow \theta + \gamma d`.

    The closure computes and returns the loss (a scalar Tensor with its graph); it must not call
    ``backward`` (the optimizer differentiates the loss itself, twice). Only one parameter group is
    supported. Meant for problems with up to a few thousand parameters: each CG iteration costs one
    backward pass through the gradient's graph.

    Args:
        params: iterable of parameters.
        lr: step scale γ (1 is the full Newton step). Default: 1.
        max_cg_iter: CG iterations per step; None for the number of parameters (exact on quadratics).
        cg_tol: stop CG when the residual norm falls below ``cg_tol * ||g||``. Default: 1e-10.
        damping: λ, added to the Hessian's diagonal (Levenberg); makes an indefinite Hessian usable. Default: 0.
        line_search_fn: None (take the step) or ``"backtracking"``: halve γ until the Armijo condition
            ``f(θ + γd) <= f(θ) + 1e-4 γ g·d`` holds (at most 30 halvings).

    When CG meets a direction of non-positive curvature it stops there (Steihaug); on the first
    iteration it falls back to the steepest-descent direction -g.

    State (under the first parameter): ``n_iter`` (steps taken), ``cg_iters`` (CG iterations in the last step).
    """

    def __init__(self, params: Iterable, lr: float = 1.0, max_cg_iter: int | None = None, cg_tol: float = 1e-10,
                 damping: float = 0.0, line_search_fn: str | None = None):
        defaults = dict(lr=lr, max_cg_iter=max_cg_iter, cg_tol=cg_tol, damping=damping, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("NewtonCG doesn't support per-parameter options (parameter groups)")

    def _check_group(self, group: dict) -> None:
        self._check_common(group, "lr")
        if "damping" in group:
            self._check(float(group["damping"]) >= 0, "damping", group["damping"], "damping >= 0")
        if "cg_tol" in group:
            self._check(float(group["cg_tol"]) >= 0, "cg_tol", group["cg_tol"], "cg_tol >= 0")
        if group.get("line_search_fn") not in (None, "backtracking"):
            raise ValueError(f"NewtonCG: invalid line_search_fn {group['line_search_fn']!r} "
                             "(expected None or 'backtracking')")

    def step(self, closure: Callable):  # type: ignore[override]
        """One Newton-CG step; returns the loss before it."""
        if closure is None:
            raise RuntimeError("NewtonCG.step: a closure that computes and returns the loss is required")
        group = self.param_groups[0]
        params = group["params"]
        xp = backend.array_module(params[0]._data)
        with enable_grad():
            loss = closure()
            if not isinstance(loss, Tensor) or loss._data.size != 1 or not loss.requires_grad:
                raise RuntimeError("NewtonCG.step: the closure must return a scalar Tensor that requires grad "
                                   "(computed from the parameters, without calling backward)")
            grads = autograd_grad(loss, params, create_graph=True, allow_unused=True)
        grads = [g if g is not None else Tensor._wrap(xp.zeros_like(p._data)) for g, p in zip(grads, params)]
        for p, g in zip(params, grads):
            p.grad = g.detach()
        flat_g = xp.concatenate([g._data.reshape(-1) for g in grads])
        # Only gradients that depend on the parameters have a Hessian term.
        curved = [i for i, g in enumerate(grads) if g.requires_grad]
        damping = float(group["damping"])

        def hvp(v):
            out = damping * v
            if curved:
                pieces = _split(v, params)
                with enable_grad():
                    hv = autograd_grad([grads[i] for i in curved], params,
                                       grad_outputs=[Tensor._wrap(pieces[i]) for i in curved],
                                       retain_graph=True, allow_unused=True)
                out = out + xp.concatenate([(h._data if h is not None else xp.zeros_like(p._data)).reshape(-1)
                                            for h, p in zip(hv, params)])
            return out

        max_iter = group["max_cg_iter"] or flat_g.size
        d, iters = _conjugate_gradient(hvp, -flat_g, max_iter, float(group["cg_tol"]))
        state = self.state[params[0]]
        state["n_iter"] = state.get("n_iter", 0) + 1
        state["cg_iters"] = iters
        lr = float(group["lr"])
        with no_grad():
            if group["line_search_fn"] == "backtracking":
                f0, slope = float(loss), float(xp.dot(flat_g, d))
                x0 = [p._data.copy() for p in params]
                for _ in range(30):
                    _add(params, lr, d)
                    if float(closure()) <= f0 + 1e-4 * lr * slope:
                        break
                    for p, x in zip(params, x0):
                        p._data[...] = x
                    lr *= 0.5
            else:
                _add(params, lr, d)
        return loss


def _split(v, params) -> list:
    out, offset = [], 0
    for p in params:
        n = p._data.size
        out.append(v[offset:offset + n].reshape(p.shape).astype(p.dtype, copy=False))
        offset += n
    return out


def _add(params, scale: float, d) -> None:
    for p, piece in zip(params, _split(d, params)):
        p._data += scale * piece


def _conjugate_gradient(matvec: Callable, b, max_iter: int, tol: float):
    """Approximately solve A x = b for symmetric A given ``matvec(v) = A v``; returns (x, iterations).

    Stops at a direction of non-positive curvature (returning the iterate so far, or b itself when
    that happens on the first iteration: b = -g is then a descent direction).
    """
    xp = backend.array_module(b)
    x = xp.zeros_like(b)
    r = b.copy()
    direction = r.copy()
    rs = float(xp.dot(r, r))
    threshold = tol * math.sqrt(rs)
    if rs == 0:
        return x, 0
    for i in range(max_iter):
        a_dir = matvec(direction)
        curvature = float(xp.dot(direction, a_dir))
        if curvature <= 0:
            return (b.copy() if i == 0 else x), i + 1
        alpha = rs / curvature
        x += alpha * direction
        r -= alpha * a_dir
        rs_new = float(xp.dot(r, r))
        if math.sqrt(rs_new) <= threshold:
            return x, i + 1
        direction *= rs_new / rs
        direction += r
        rs = rs_new
    return x, max_iter
