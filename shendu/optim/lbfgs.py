"""``LBFGS``: limited-memory BFGS with an optional strong-Wolfe line search (PyTorch's ``torch.optim.LBFGS``).

The parameters are handled as one flat vector: the gradient is gathered into it, the search
direction comes from the two-loop recursion over the last ``history_size`` curvature pairs
(s, y) (Nocedal & Wright, Algorithm 7.4), and the step is added back slice by slice.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from shendu import backend
from shendu.grad_mode import enable_grad
from shendu.optim.optimizer import Optimizer


def _cubic_minimizer(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float, lo: float, hi: float) -> float:
    """The minimizer in [lo, hi] of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2
    (Nocedal & Wright eq. 3.59); the midpoint when the cubic has no minimizer."""
    if x1 == x2:
        return (lo + hi) / 2.0
    d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0 or not math.isfinite(disc):
        return (lo + hi) / 2.0
    d2 = math.sqrt(disc)
    if x1 > x2:  # the formula below takes x1 as the earlier point; swap so that it stays symmetric
        x1, f1, g1, x2, f2, g2 = x2, f2, g2, x1, f1, g1
    denom = g2 - g1 + 2.0 * d2
    if denom == 0:
        return (lo + hi) / 2.0
    x = x2 - (x2 - x1) * (g2 + d2 - d1) / denom
    return min(max(x, lo), hi)


def _strong_wolfe(evaluate: Callable, t: float, d, f: float, g, gtd: float, c1: float = 1e-4, c2: float = 0.9,
                  tolerance_change: float = 1e-9, max_ls: int = 25):
    """A step t along d satisfying the strong Wolfe conditions (Nocedal & Wright, Algorithms 3.5 and 3.6).

    ``evaluate(t)`` returns (loss, flat gradient) at x + t d. Returns (loss, gradient, t, evaluations).
    """
    xp = backend.array_module(d)
    d_norm = float(xp.abs(d).max())
    f_new, g_new = evaluate(t)
    evals, gtd_new = 1, float(xp.dot(g_new, d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done, ls_iter = False, 0
    # Phase 1: grow t until [t_prev, t] brackets a point satisfying the conditions.
    while True:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):  # too far: the minimum is behind
            bracket = [(t_prev, f_prev, g_prev, gtd_prev), (t, f_new, g_new, gtd_new)]
            break
        if abs(gtd_new) <= -c2 * gtd:  # sufficient decrease and curvature: accept t
            bracket, done = [(t, f_new, g_new, gtd_new)], True
            break
        if gtd_new >= 0:  # the slope turned: a minimum lies between t_prev and t
            bracket = [(t_prev, f_prev, g_prev, gtd_prev), (t, f_new, g_new, gtd_new)]
            break
        if ls_iter >= max_ls:
            bracket = [(0.0, f, g, gtd), (t, f_new, g_new, gtd_new)]
            break
        t_next = _cubic_minimizer(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, t + 0.01 * (t - t_prev), 10.0 * t)
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals, ls_iter, gtd_new = evals + 1, ls_iter + 1, float(xp.dot(g_new, d))
    # Phase 2 (zoom): shrink the bracket, keeping at `low` the end with the lower loss.
    insufficient = False
    while not done and ls_iter < max_ls:
        (a, fa, _, ga), (b, fb, _, gb) = bracket
        low, high = (0, 1) if fa <= fb else (1, 0)
        if abs(b - a) * d_norm < tolerance_change:
            break
        lo_t, hi_t = min(a, b), max(a, b)
        t = _cubic_minimizer(a, fa, ga, b, fb, gb, lo_t, hi_t)
        margin = 0.1 * (hi_t - lo_t)
        if min(hi_t - t, t - lo_t) < margin:  # too close to an end: move inside unless progress was good
            if insufficient or t >= hi_t or t <= lo_t:
                t = hi_t - margin if abs(t - hi_t) < abs(t - lo_t) else lo_t + margin
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = evaluate(t)
        evals, ls_iter, gtd_new = evals + 1, ls_iter + 1, float(xp.dot(g_new, d))
        point = (t, f_new, g_new, gtd_new)
        if f_new > f + c1 * t * gtd or f_new >= bracket[low][1]:
            bracket[high] = point
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high][0] - bracket[low][0]) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = point
    t, f_new, g_new, _ = min(bracket, key=lambda e: e[1])  # an accepted point is the lowest
    return f_new, g_new, t, evals


class LBFGS(Optimizer):
    """L-BFGS (PyTorch's ``torch.optim.LBFGS``): each ``step(closure)`` runs up to ``max_iter`` iterations.

    The closure must zero the gradients, compute the loss, call ``backward()`` and return the loss.
    Only one parameter group is supported.

    Args:
        params: iterable of parameters.
        lr: learning rate (the step along the direction without a line search; the first trial step
            with one). Default: 1.
        max_iter: iterations per ``step``. Default: 20.
        max_eval: closure evaluations per ``step``. Default: ``max_iter * 5 // 4``.
        tolerance_grad: stop when the largest gradient entry is at most this. Default: 1e-7.
        tolerance_change: stop when the loss or the step changes by less than this. Default: 1e-9.
        history_size: curvature pairs kept. Default: 100.
        line_search_fn: None (fixed step ``lr``) or ``"strong_wolfe"``.

    State (under the first parameter): ``func_evals``, ``n_iter``, ``d``, ``t``, ``old_dirs``,
    ``old_stps``, ``ro``, ``H_diag``, ``prev_flat_grad``, ``prev_loss``.
    """

    def __init__(self, params: Iterable, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _check_group(self, group: dict) -> None:
        self._check_common(group, "lr")
        if group.get("line_search_fn") not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: invalid line_search_fn {group['line_search_fn']!r} "
                             "(expected None or 'strong_wolfe')")

    # -- the parameters as one flat vector ---------------------------------------------------------
    def _gather_flat_grad(self):
        xp = backend.array_module(self._params[0]._data)
        return xp.concatenate([(p.grad._data if p.grad is not None else xp.zeros_like(p._data)).reshape(-1)
                               for p in self._params])

    def _add_to_params(self, t: float, d) -> None:
        offset = 0
        for p in self._params:
            n = p._data.size
            p._data += (t * d[offset:offset + n]).reshape(p.shape).astype(p.dtype, copy=False)
            offset += n

    def _set_params(self, values: list) -> None:
        for p, v in zip(self._params, values):
            p._data[...] = v

    def _evaluate_at(self, closure: Callable, x: list, t: float, d):
        """(loss, flat gradient) at x + t d; the parameters are left at x."""
        self._add_to_params(t, d)
        with enable_grad():
            loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_params(x)
        return loss, flat_grad

    def step(self, closure: Callable):  # type: ignore[override]
        """Run up to ``max_iter`` L-BFGS iterations; returns the loss at the start."""
        if closure is None:
            raise RuntimeError("LBFGS.step: a closure that re-evaluates the model is required")
        group = self.param_groups[0]
        lr, max_iter, max_eval = float(group["lr"]), group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, line_search_fn = group["history_size"], group["line_search_fn"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        xp = backend.array_module(flat_grad)
        if float(xp.abs(flat_grad).max()) <= tol_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs", []), state.get("old_stps", []), state.get("ro", [])
        h_diag = state.get("H_diag", 1.0)
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro, h_diag = [], [], [], 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(xp.dot(y, s))
                if ys > 1e-10:  # keep the pair only when the curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                    old_dirs.append(y), old_stps.append(s), ro.append(1.0 / ys)
                    h_diag = ys / float(xp.dot(y, y))
                # two-loop recursion: d = -H g with H the L-BFGS inverse-Hessian estimate
                q = -flat_grad
                alphas = [0.0] * len(old_dirs)
                for i in range(len(old_dirs) - 1, -1, -1):
                    alphas[i] = float(xp.dot(old_stps[i], q)) * ro[i]
                    q -= alphas[i] * old_dirs[i]
                d = q * h_diag
                for i in range(len(old_dirs)):
                    beta = float(xp.dot(old_dirs[i], d)) * ro[i]
                    d += old_stps[i] * (alphas[i] - beta)
            prev_flat_grad, prev_loss = flat_grad.copy(), loss
            # the first step is scaled by the gradient's size, the later ones trust the curvature
            t = min(1.0, 1.0 / float(xp.abs(flat_grad).sum())) * lr if state["n_iter"] == 1 else lr
            gtd = float(xp.dot(flat_grad, d))
            if gtd > -tol_change:  # not a descent direction
                break
            ls_evals = 0
            if line_search_fn == "strong_wolfe":
                x0 = [p._data.copy() for p in self._params]
                loss, flat_grad, t, ls_evals = _strong_wolfe(
                    lambda step: self._evaluate_at(closure, x0, step, d), t, d, loss, flat_grad, gtd,
                    tolerance_change=tol_change)
                self._add_to_params(t, d)
            else:
                self._add_to_params(t, d)
                if n_iter != max_iter:  # re-evaluate, except after the last iteration
                    with enable_grad():
                        loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals
            if n_iter == max_iter or evals >= max_eval:
                break
            if float(xp.abs(flat_grad).max()) <= tol_grad:
                break
            if float(xp.abs(d).max()) * abs(t) <= tol_change or abs(loss - prev_loss) < tol_change:
                break
        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss
