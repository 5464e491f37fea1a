"""Support vector machines: LinearSVC (dual coordinate descent) and kernel SVC (SMO).

Both solve the soft-margin dual ``min_α ½ αᵀQα - Σα`` with ``Q_ij = y_i y_j k(x_i, x_j)``, labels
y ∈ {-1, +1} and ``0 ≤ α_i ≤ C``; the primal weights are ``w = Σ_i α_i y_i φ(x_i)``.

- LinearSVC follows liblinear's dual coordinate descent (Hsieh et al., 2008): the bias is an extra
  feature of value ``intercept_scaling`` (so it is penalised, as in liblinear), every epoch updates
  each α_i in a random order by its exact one-dimensional minimiser, and the fit stops when the
  spread of the projected gradient is below ``tol``. Squared hinge: no upper bound on α and
  ``1/(2C)`` added to Q's diagonal. Multiclass: one-vs-rest. The hinge loss (whose coordinate loop
  is the slowest, one Python step per sample and epoch) is solved instead by Newton's method on a
  smoothed hinge whose zones name the free dual variables, followed by an exact solve for them, with
  the same stopping rule (:func:`_hinge_smoothed_newton`); the squared hinge with ``n ≥ p`` goes to
  Newton's method on the primal.
- SVC follows libsvm's SMO with the second-order working-set selection (Fan, Chen and Lin, 2005): each
  step picks the maximal-violating i, the j with the largest guaranteed decrease, solves the two-
  variable problem in closed form under the box and ``yᵀα = 0``, updates the gradient with two kernel
  columns, and stops when the KKT violation ``max_{I_up} -yG - min_{I_low} -yG`` is below ``tol``.
  The kernel matrix is computed once per fit. Multiclass: one-vs-one with scikit-learn's layout of
  ``support_``, ``n_support_``, ``dual_coef_`` and ``intercept_``, prediction by vote. With many
  classes the one-vs-one problems run in lockstep (one SMO step of every unfinished problem per array
  operation over a (problems, samples) block), each taking exactly the steps it takes alone.

SMO is sequential by nature (each update depends on the previous one); the work inside a step is
vector operations.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from shendu.ml.base import BaseEstimator, ClassifierMixin, check_array, check_is_fitted, check_X_y, like_input, tdot

__all__ = ["LinearSVC", "SVC", "kernel_matrix"]


def kernel_matrix(A: np.ndarray, B: np.ndarray, kernel: str, gamma: float, degree: int, coef0: float) -> np.ndarray:
    """k(a, b) for all pairs: linear ``a·b``, poly ``(γ a·b + coef0)^degree``, rbf ``exp(-γ‖a - b‖²)``,
    sigmoid ``tanh(γ a·b + coef0)``."""
    if kernel == "linear":
        return A @ B.T
    if kernel == "poly":
        return (gamma * (A @ B.T) + coef0) ** degree
    if kernel == "rbf":
        K = A @ B.T                                           # in place from here: no (n, m) temporaries
        K *= -2.0
        K += (A * A).sum(axis=1)[:, None]
        K += (B * B).sum(axis=1)[None, :]
        np.maximum(K, 0.0, out=K)
        K *= -gamma
        return np.exp(K, out=K)
    if kernel == "sigmoid":
        return np.tanh(gamma * (A @ B.T) + coef0)
    raise ValueError(f"SVC: kernel must be 'linear', 'poly', 'rbf' or 'sigmoid', got {kernel!r}")


# -- LinearSVC ------------------------------------------------------------------------------------
def _dual_cd(Xh: np.ndarray, y: np.ndarray, C: float, loss: str, tol: float, max_iter: int, rng) -> tuple:
    """liblinear's dual coordinate descent with shrinking for one binary problem; returns (w, epochs).

    Shrinking (liblinear's rule): a variable at a bound whose gradient points out of the box by more
    than the previous epoch's extreme projected gradient leaves the active set; when the active set
    converges, everything is checked once more before stopping.
    """
    n = Xh.shape[0]
    if loss == "hinge":
        U, Dii = C, 0.0
    else:
        U, Dii = np.inf, 0.5 / C
    Xy = Xh * y[:, None]                                      # rows y_i x̂_i
    rows = list(Xy)
    Qii = ((Xh * Xh).sum(axis=1) + Dii).tolist()
    alpha = [0.0] * n
    w = np.zeros(Xh.shape[1])
    index = list(range(n))
    active = n
    pg_max_old, pg_min_old = np.inf, -np.inf
    epoch = 0
    while epoch < max_iter:
        pg_max, pg_min = -np.inf, np.inf
        order = rng.permutation(active).tolist()
        index[:active] = [index[k] for k in order]
        s = 0
        while s < active:
            i = index[s]
            a_i = alpha[i]
            G = float(rows[i] @ w) - 1.0 + Dii * a_i
            pg = 0.0
            if a_i == 0.0:
                if G > pg_max_old:                             # shrink: stays at 0
                    active -= 1
                    index[s], index[active] = index[active], index[s]
                    continue
                if G < 0.0:
                    pg = G
            elif a_i == U:
                if G < pg_min_old:                             # shrink: stays at C
                    active -= 1
                    index[s], index[active] = index[active], index[s]
                    continue
                if G > 0.0:
                    pg = G
            else:
                pg = G
            if pg > pg_max:
                pg_max = pg
            if pg < pg_min:
                pg_min = pg
            if abs(pg) > 1e-12:
                new = min(max(a_i - G / Qii[i], 0.0), U)
                alpha[i] = new
                w += (new - a_i) * rows[i]
            s += 1
        epoch += 1
        if pg_max - pg_min <= tol:
            if active == n:
                break
            active, pg_max_old, pg_min_old = n, np.inf, -np.inf   # unshrink and check everything
            continue
        pg_max_old = pg_max if pg_max > 0 else np.inf
        pg_min_old = pg_min if pg_min < 0 else -np.inf
    return w, epoch


def _primal_newton(Xh: np.ndarray, y: np.ndarray, C: float, tol: float, max_iter: int) -> tuple:
    """Newton's method on the squared-hinge primal ``½‖w‖² + C Σ max(0, 1 - y_i w·x̂_i)²`` (liblinear's
    primal problem; piecewise quadratic, so the generalised Hessian ``I + 2C X̂_Iᵀ X̂_I`` over the
    margin violators I gives exact steps). Stops when ‖∇‖ ≤ tol · ‖∇ at 0‖; returns (w, iterations)."""
    p = Xh.shape[1]
    Xy = Xh * y[:, None]

    def value_grad(w):
        slack = 1.0 - Xy @ w                                   # (n,)
        act = slack > 0
        f = 0.5 * w @ w + C * float((slack[act] ** 2).sum())
        g = w - 2.0 * C * tdot(Xy[act], slack[act])
        return f, g, act

    w = np.zeros(p)
    f, g, act = value_grad(w)
    g0 = np.linalg.norm(g)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        if np.linalg.norm(g) <= tol * g0:
            it -= 1
            break
        H = 2.0 * C * tdot(Xh[act], Xh[act])
        H[np.diag_indices(p)] += 1.0
        d = -np.linalg.solve(H, g)
        t, slope = 1.0, float(g @ d)
        for _ in range(30):
            f_new, g_new, act_new = value_grad(w + t * d)
            if f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        w, f, g, act = w + t * d, f_new, g_new, act_new
    return w, it


def _hinge_smoothed_newton(Xh: np.ndarray, y: np.ndarray, C: float, tol: float, max_iter: int) -> tuple:
    """The hinge-loss problem ``min ½‖w‖² + C Σ max(0, 1 - y_i w·x̂_i)`` solved exactly; returns (w, steps).

    The hinge is smoothed into a Huber hinge of width h (quadratic ``(1 - m)² / 2h`` for margins m in
    (1 - h, 1), linear below): its problem is piecewise quadratic, so Newton's method with the generalised
    Hessian ``I + (C/h) X̂_zᵀ X̂_z`` over the quadratic zone z and an exact line search reaches its
    minimiser in a few steps. The zone's samples are the candidates for the margin (the free dual
    variables 0 < α < C), those past it have α = C, the rest α = 0; an exact solve of ``y_S w·x̂_S = 1``
    for the free α's (clipped to the box) gives a dual point, accepted when liblinear's stopping rule
    holds for it: the spread of its projected gradient is at most ``tol``. Otherwise h shrinks tenfold
    (warm start). Each step is a handful of (n, p) products instead of n scalar updates, and the result is
    the optimum to liblinear's tolerance without its epoch loop.
    """
    n, p = Xh.shape
    Z = Xh * y[:, None]                                       # rows y_i x̂_i
    diag = np.diag_indices(p)

    w, h, steps = np.zeros(p), 0.1, 0
    while True:
        s = 1.0 - Z @ w                                       # 1 - margin
        q = np.minimum(np.maximum(s, 0.0), h)                 # h · (-ℓ'): h past the zone, 0 beyond the margin
        while steps < max_iter:                               # Newton on the smoothed problem
            steps += 1
            zone = (q > 0.0) & (q < h)
            g = w - (C / h) * (Z.T @ q)
            Zz = Z[zone]
            H = (C / h) * tdot(Zz, Zz)
            H[diag] += 1.0
            d = -np.linalg.solve(H, g)
            slope = float(g @ d)
            if -slope <= 1e-20 * (1.0 + float(w @ w)):
                break
            # exact line search: φ(t) = f(w + t d) is a convex piecewise quadratic; φ'(0) = slope, and the
            # Newton step t = 1 is exact while no margin crosses 0 or h. Else safeguarded Newton on φ'.
            delta = Z @ d                                     # 1 - margin moves by -t·delta
            wd, dd = float(w @ d), float(d @ d)
            lo, hi, f_lo, f_hi, t, side = 0.0, 1.0, slope, 0.0, 1.0, 0
            for _ in range(60):                               # regula falsi (Illinois) on φ' over [lo, hi]
                s_new = s - t * delta
                q_new = np.maximum(s_new, 0.0)                # clip to [0, h] (np.clip's wrapper is slower)
                np.minimum(q_new, h, out=q_new)
                dphi = wd + t * dd - (C / h) * float(q_new @ delta)
                if (t == 1.0 and dphi <= 0.0) or abs(dphi) <= 1e-13 * -slope or hi - lo <= 1e-15:
                    break
                if dphi > 0:
                    hi, f_hi = t, dphi
                    if side == 1:
                        f_lo *= 0.5
                    side = 1
                else:
                    lo, f_lo = t, dphi
                    if side == -1:
                        f_hi *= 0.5
                    side = -1
                t = lo - f_lo * (hi - lo) / (f_hi - f_lo)
            w = w + t * d
            settled = t == 1.0 and np.array_equal((s > 0.0) + (s >= h), (s_new > 0.0) + (s_new >= h))
            s, q = s_new, q_new
            if settled:                                       # a full step inside one quadratic piece: exact
                break
        lin, zone = s >= h, (s > 0.0) & (s < h)
        alpha = np.where(lin, C, 0.0)                         # the dual point the zones suggest
        S = np.flatnonzero(zone)
        if len(S):
            ZS = Z[S]
            rhs = 1.0 - ZS @ (C * Z[lin].sum(axis=0))
            alpha[S] = np.clip(np.linalg.lstsq(ZS @ ZS.T, rhs, rcond=None)[0], 0.0, C)
        w_dual = Z.T @ alpha
        G = Z @ w_dual - 1.0
        PG = np.where(alpha <= 0, np.minimum(G, 0.0), np.where(alpha >= C, np.maximum(G, 0.0), G))
        if PG.max() - PG.min() <= tol:
            return w_dual, steps
        if steps >= max_iter or h < 1e-12:
            return w, steps
        h *= 0.1


class LinearSVC(ClassifierMixin, BaseEstimator):
    """Linear support vector classification, ``min ½‖ŵ‖² + C Σ_i ℓ(y_i ŵ·x̂_i)`` with x̂ = [x, intercept_scaling].

    Args:
        penalty: ``'l2'`` only. Default: ``'l2'``.
        loss: ``'hinge'`` (``max(0, 1 - m)``) or ``'squared_hinge'`` (its square). Default: ``'squared_hinge'``.
        dual: ``True``: dual coordinate descent; ``False``: Newton's method on the primal (squared hinge
            only); ``'auto'``: the primal when the loss is the squared hinge and there are at least as
            many samples as features, else the dual (scikit-learn's rule). Default: ``'auto'``.
        tol: the projected-gradient spread that stops the fit. Default: 1e-4.
        C: the misclassification cost. Default: 1.0.
        fit_intercept: append the constant feature. Default: True.
        intercept_scaling: its value (the bias is ``intercept_scaling * ŵ_last``). Default: 1.0.
        random_state: the seed of the coordinate order (the squared hinge's dual). Default: None.
        max_iter: epochs (coordinate descent) or Newton steps at most. Default: 1000.

    Attributes: ``classes_``, ``coef_`` (1 or n_classes, n_features), ``intercept_`` (1 or n_classes,),
    ``n_iter_`` (the largest number of epochs or Newton steps over the one-vs-rest problems).
    """

    def __init__(self, penalty: str = "l2", loss: str = "squared_hinge", *, dual: Any = "auto", tol: float = 1e-4,
                 C: float = 1.0, fit_intercept: bool = True, intercept_scaling: float = 1.0,
                 random_state: int | None = None, max_iter: int = 1000):
        self.penalty = penalty
        self.loss = loss
        self.dual = dual
        self.tol = tol
        self.C = C
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.random_state = random_state
        self.max_iter = max_iter

    def fit(self, X: Any, y: Any) -> LinearSVC:
        """Fit to X (n_samples, n_features) and class labels y; returns self."""
        X, y = check_X_y(X, y, estimator=self)
        if self.penalty != "l2":
            raise ValueError(f"LinearSVC: only penalty='l2' is implemented, got {self.penalty!r}")
        if self.loss not in ("hinge", "squared_hinge"):
            raise ValueError(f"LinearSVC: loss must be 'hinge' or 'squared_hinge', got {self.loss!r}")
        if self.dual not in (True, False, "auto"):
            raise ValueError(f"LinearSVC: dual must be True, False or 'auto', got {self.dual!r}")
        if self.dual is False and self.loss == "hinge":
            raise ValueError("LinearSVC: loss='hinge' is only solved in the dual (dual=True or 'auto')")
        primal = self.dual is False or (self.dual == "auto" and self.loss == "squared_hinge"
                                        and X.shape[0] >= X.shape[1])
        if self.C <= 0:
            raise ValueError(f"LinearSVC: C must be positive, got {self.C!r}")
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        K = len(self.classes_)
        if K < 2:
            raise ValueError(f"LinearSVC: needs samples of at least 2 classes in y, got only {self.classes_.tolist()}")
        X = X.astype(np.float64)
        Xh = np.hstack([X, np.full((len(X), 1), float(self.intercept_scaling))]) if self.fit_intercept else X
        rng = np.random.default_rng(self.random_state)
        problems = [1] if K == 2 else range(K)                 # binary: classes_[1] is the positive class
        W, iters = [], []
        for k in problems:
            yk = np.where(y_idx == k, 1.0, -1.0)
            if primal:
                w, it = _primal_newton(Xh, yk, float(self.C), self.tol, self.max_iter)
            elif self.loss == "hinge":
                w, it = _hinge_smoothed_newton(Xh, yk, float(self.C), self.tol, self.max_iter)
            else:
                w, it = _dual_cd(Xh, yk, float(self.C), self.loss, self.tol, self.max_iter, rng)
            W.append(w)
            iters.append(it)
        W = np.stack(W)
        self.coef_ = W[:, :X.shape[1]].copy()
        self.intercept_ = W[:, -1] * self.intercept_scaling if self.fit_intercept else np.zeros(len(W))
        self.n_iter_ = max(iters)
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X: Any):
        """Signed distances times ‖w‖: (n_samples,) for two classes, else (n_samples, n_classes)."""
        check_is_fitted(self, "coef_")
        Xn = check_array(X, estimator=self).astype(np.float64)
        if Xn.shape[1] != self.n_features_in_:
            raise ValueError(f"LinearSVC: X has {Xn.shape[1]} features, but the model was fitted "
                             f"with {self.n_features_in_}")
        Z = Xn @ self.coef_.T + self.intercept_
        return like_input(Z[:, 0] if Z.shape[1] == 1 else Z, X)

    def predict(self, X: Any):
        """``classes_[1]`` where the decision is positive (two classes), else the largest one-vs-rest score."""
        Z = np.asarray(_raw(self.decision_function(X)))
        idx = (Z > 0).astype(int) if Z.ndim == 1 else Z.argmax(axis=1)
        return like_input(self.classes_[idx], X)


def _raw(z):
    return z._data if hasattr(z, "_data") else z


# -- SVC --------------------------------------------------------------------------------------------
def _smo(Kmat: np.ndarray, y: np.ndarray, C: float, tol: float, max_iter: int) -> tuple:
    """libsvm's SMO (WSS3) on the kernel matrix; returns (α, ρ, iterations). Decision: Σ α_i y_i k_i(x) - ρ."""
    n = len(y)
    Kmat = np.ascontiguousarray(Kmat)                         # rows (= columns: K is symmetric) contiguous
    QD = np.diag(Kmat).copy()
    qd, ys = QD.tolist(), y.tolist()                          # Python floats for the per-step scalar work
    alpha = [0.0] * n
    myG = y.astype(np.float64).copy()                         # -y_t G_t with G = ∇ = Qα - e (G = -1 at α = 0)
    limit = max_iter if max_iter > 0 else max(10_000_000, 100 * n)
    # I_up (α_t y_t can grow) and I_low (it can shrink) as additive masks: 0 inside, ∓inf outside
    up_pen = np.where(y > 0, 0.0, -np.inf)
    low_pen = np.where(y > 0, np.inf, 0.0)
    cand, b, a = np.empty(n), np.empty(n), np.empty(n)
    it = 0
    while it < limit:
        np.add(myG, up_pen, out=cand)
        i = int(cand.argmax())
        g_max = float(cand[i])
        np.add(myG, low_pen, out=b)                           # -yG on I_low, +inf elsewhere
        if g_max - float(b.min()) < tol:
            break
        # second-order choice of j among I_low with b_j = g_max - (-y_j G_j) > 0: the largest b_j² / a_ij
        Ki = Kmat[i]
        np.subtract(g_max, b, out=b)
        np.maximum(b, 0.0, out=b)
        np.multiply(Ki, -2.0, out=a)
        a += QD
        a += qd[i]
        np.maximum(a, 1e-12, out=a)
        b *= b
        b /= a
        j = int(b.argmax())
        it += 1
        yi, yj = ys[i], ys[j]
        ai, aj = alpha[i], alpha[j]
        Gi, Gj = -yi * float(myG[i]), -yj * float(myG[j])
        quad = qd[i] + qd[j] - 2.0 * float(Ki[j])
        quad = quad if quad > 0 else 1e-12
        if yi != yj:
            delta = (-Gi - Gj) / quad
            diff = ai - aj
            ai_new, aj_new = ai + delta, aj + delta
            if diff > 0:
                if aj_new < 0:
                    aj_new, ai_new = 0.0, diff
            elif ai_new < 0:
                ai_new, aj_new = 0.0, -diff
            if diff > 0:
                if ai_new > C:
                    ai_new, aj_new = C, C - diff
            elif aj_new > C:
                aj_new, ai_new = C, C + diff
        else:
            delta = (Gi - Gj) / quad
            total = ai + aj
            ai_new, aj_new = ai - delta, aj + delta
            if total > C:
                if ai_new > C:
                    ai_new, aj_new = C, total - C
            elif aj_new < 0:
                aj_new, ai_new = 0.0, total
            if total > C:
                if aj_new > C:
                    aj_new, ai_new = C, total - C
            elif ai_new < 0:
                ai_new, aj_new = 0.0, total
        alpha[i], alpha[j] = ai_new, aj_new
        # G += Q[:, i] d_i + Q[:, j] d_j with Q[:, t] = y y_t K[:, t], so -yG changes by -(y_i d_i K_i + y_j d_j K_j)
        np.multiply(Ki, yi * (ai_new - ai), out=a)
        myG -= a
        np.multiply(Kmat[j], yj * (aj_new - aj), out=a)
        myG -= a
        for t, a_t in ((i, ai_new), (j, aj_new)):
            if ys[t] > 0:
                up_pen[t] = 0.0 if a_t < C else -np.inf
                low_pen[t] = 0.0 if a_t > 0 else np.inf
            else:
                up_pen[t] = 0.0 if a_t > 0 else -np.inf
                low_pen[t] = 0.0 if a_t < C else np.inf
    alpha = np.array(alpha)
    return alpha, _rho(alpha, y, myG, C), it


def _rho(alpha: np.ndarray, y: np.ndarray, myG: np.ndarray, C: float) -> float:
    """libsvm's ρ: the mean of y_i G_i over free vectors, else the middle of the feasible interval."""
    yG = -myG                                                 # y G with y² = 1
    free = (alpha > 0) & (alpha < C)
    if free.any():
        return float(yG[free].mean())
    pos = y > 0
    at_upper, at_lower = alpha >= C, alpha <= 0
    ub_mask = (at_upper & ~pos) | (at_lower & pos)
    lb_mask = (at_upper & pos) | (at_lower & ~pos)
    ub = yG[ub_mask].min() if ub_mask.any() else np.inf
    lb = yG[lb_mask].max() if lb_mask.any() else -np.inf
    return float((ub + lb) / 2)


def _smo_batch(Kfull: np.ndarray, index: list, labels: list, C: float, tol: float, max_iter: int) -> list:
    """SMO (WSS3) on several binary problems in lockstep: problem p is the kernel matrix
    ``Kfull[index[p]][:, index[p]]`` with labels ``labels[p]``; returns [(α, ρ, iterations)] in order.

    Each problem follows exactly the steps :func:`_smo` takes on it alone (the same i, j, clipped
    two-variable solution and gradient update), but one step of every unfinished problem is a few array
    operations over a (problems, samples) block, padded to the longest problem: a one-vs-one fit with
    many classes pays the Python overhead once per step rather than once per problem and step. A
    problem leaves the block when it converges (or reaches ``max_iter``).
    """
    P, m = len(index), max(len(ix) for ix in index)
    I = np.zeros((P, m), np.intp)                             # each slot's row of Kfull (padding: row 0)
    y = np.zeros((P, m))
    for p, (ix, yy) in enumerate(zip(index, labels)):
        I[p, :len(ix)], y[p, :len(ix)] = ix, yy
    QD = np.diag(Kfull)[I]
    alpha = np.zeros((P, m))
    myG = y.copy()                                            # -y G, G = Qα - e
    up_pen = np.where(y > 0, 0.0, -np.inf)                    # padding: in neither set
    low_pen = np.where(y < 0, 0.0, np.inf)
    rows = np.arange(P)                                       # each block row's problem
    limit = max_iter if max_iter > 0 else max(10_000_000, 100 * m)
    out: list = [None] * P
    it = 0
    while True:
        cand = myG + up_pen
        i = cand.argmax(axis=1)
        r = np.arange(len(rows))
        g_max = cand[r, i]
        b = myG + low_pen
        done = (g_max - b.min(axis=1) < tol) | (it >= limit)
        if done.any():
            for k in np.flatnonzero(done):
                n_p = len(index[rows[k]])
                out[rows[k]] = (alpha[k, :n_p].copy(), _rho(alpha[k, :n_p], y[k, :n_p], myG[k, :n_p], C), it)
            keep = ~done
            if not keep.any():
                return out
            rows, I, y, QD, alpha, myG, up_pen, low_pen, i, g_max, b = (
                a[keep] for a in (rows, I, y, QD, alpha, myG, up_pen, low_pen, i, g_max, b))
            r = np.arange(len(rows))
        it += 1
        gi = I[r, i]
        Ki = Kfull[gi[:, None], I]                            # (P', m) kernel row of each i
        qi = QD[r, i]
        np.subtract(g_max[:, None], b, out=b)
        np.maximum(b, 0.0, out=b)
        a = QD - 2.0 * Ki
        a += qi[:, None]
        np.maximum(a, 1e-12, out=a)
        b *= b
        b /= a
        j = b.argmax(axis=1)
        Kj = Kfull[I[r, j][:, None], I]
        quad = np.maximum(qi + QD[r, j] - 2.0 * Ki[r, j], 1e-12)
        # move y_i α_i up and y_j α_j down by t (keeps yᵀα), clipped to the box; a variable that reaches
        # its bound is set to it exactly
        yi, yj, ai, aj = y[r, i], y[r, j], alpha[r, i], alpha[r, j]
        room_i = np.where(yi > 0, C - ai, ai)
        room_j = np.where(yj > 0, aj, C - aj)
        t = np.minimum((g_max - myG[r, j]) / quad, np.minimum(room_i, room_j))
        ai_new = np.where(t >= room_i, np.where(yi > 0, C, 0.0), ai + yi * t)
        aj_new = np.where(t >= room_j, np.where(yj > 0, 0.0, C), aj - yj * t)
        alpha[r, i], alpha[r, j] = ai_new, aj_new
        myG -= Ki * (yi * (ai_new - ai))[:, None]
        myG -= Kj * (yj * (aj_new - aj))[:, None]
        for pos, a_t, y_t in ((i, ai_new, yi), (j, aj_new, yj)):
            up_pen[r, pos] = np.where(np.where(y_t > 0, a_t < C, a_t > 0), 0.0, -np.inf)
            low_pen[r, pos] = np.where(np.where(y_t > 0, a_t > 0, a_t < C), 0.0, np.inf)


class SVC(ClassifierMixin, BaseEstimator):
    """Kernel support vector classification (C-SVC), solved by SMO.

    Args:
        C: the misclassification cost. Default: 1.0.
        kernel: ``'linear'``, ``'poly'``, ``'rbf'`` or ``'sigmoid'``. Default: ``'rbf'``.
        degree: the polynomial kernel's degree. Default: 3.
        gamma: ``'scale'`` (1 / (n_features · X.var())), ``'auto'`` (1 / n_features) or a float. Default: ``'scale'``.
        coef0: the poly/sigmoid kernels' constant. Default: 0.0.
        tol: the KKT-violation tolerance that stops SMO. Default: 1e-3.
        max_iter: SMO steps at most per binary problem (-1: no limit). Default: -1.
        decision_function_shape: ``'ovr'`` (votes plus scaled confidences, (n, n_classes)) or ``'ovo'``
            (the raw pairwise values, (n, n_classes·(n_classes-1)/2)). Default: ``'ovr'``.

    Attributes:
        classes_, support_ (indices of the support vectors, grouped by class), support_vectors_,
        n_support_ (per class), dual_coef_ (n_classes - 1, n_SV): α_i y_i in libsvm's one-vs-one layout,
        intercept_ (n_classes·(n_classes-1)/2,), n_iter_ (per pair), _gamma (the value used).
        Two classes: ``decision_function > 0`` means ``classes_[1]``.
    """

    def __init__(self, *, C: float = 1.0, kernel: str = "rbf", degree: int = 3, gamma: Any = "scale",
                 coef0: float = 0.0, tol: float = 1e-3, max_iter: int = -1, decision_function_shape: str = "ovr"):
        self.C = C
        self.kernel = kernel
        self.degree = degree
        self.gamma = gamma
        self.coef0 = coef0
        self.tol = tol
        self.max_iter = max_iter
        self.decision_function_shape = decision_function_shape

    def _kernel(self, A, B):
        return kernel_matrix(A, B, self.kernel, self._gamma, self.degree, self.coef0)

    def fit(self, X: Any, y: Any) -> SVC:
        """Solve the dual of every one-vs-one problem by SMO; returns self."""
        X, y = check_X_y(X, y, estimator=self)
        if self.C <= 0:
            raise ValueError(f"SVC: C must be positive, got {self.C!r}")
        if not self.tol > 0:
            raise ValueError(f"SVC: tol must be positive, got {self.tol!r}")
        if self.decision_function_shape not in ("ovr", "ovo"):
            raise ValueError("SVC: decision_function_shape must be 'ovr' or 'ovo', "
                             f"got {self.decision_function_shape!r}")
        X = X.astype(np.float64)
        if self.gamma == "scale":
            var = X.var()
            self._gamma = 1.0 / (X.shape[1] * var) if var > 0 else 1.0
        elif self.gamma == "auto":
            self._gamma = 1.0 / X.shape[1]
        elif isinstance(self.gamma, (int, float)) and self.gamma > 0:
            self._gamma = float(self.gamma)
        else:
            raise ValueError(f"SVC: gamma must be 'scale', 'auto' or a positive float, got {self.gamma!r}")
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        K = len(self.classes_)
        if K < 2:
            raise ValueError(f"SVC: needs samples of at least 2 classes in y, got only {self.classes_.tolist()}")
        # Samples grouped by class (as libsvm does): each one-vs-one problem's kernel matrix is then four
        # contiguous blocks of the one kernel matrix computed for all samples.
        by_class = np.lexsort((np.arange(len(X)), y_idx))
        bounds = np.concatenate([[0], np.cumsum(np.bincount(y_idx, minlength=K))])
        Kfull = self._kernel(X[by_class], X[by_class])        # (n, n), once
        coef = np.zeros((len(X), K - 1))                      # per sample, libsvm's dual_coef_ columns
        pairs = [(a, b) for a in range(K) for b in range(a + 1, K)]   # one-vs-one: class a is +1
        index, labels = [], []
        for a, b in pairs:
            index.append(np.arange(bounds[a], bounds[a + 1]).tolist() + np.arange(bounds[b], bounds[b + 1]).tolist())
            labels.append(np.repeat([1.0, -1.0], [bounds[a + 1] - bounds[a], bounds[b + 1] - bounds[b]]))
        if len(pairs) < 6:   # a step of the lockstep block costs ~5 scalar steps: worth it from 6 problems
            results = [_smo(Kfull[np.ix_(ix, ix)] if K > 2 else Kfull, yy, float(self.C), self.tol, self.max_iter)
                       for ix, yy in zip(index, labels)]
        else:
            results = _smo_batch(Kfull, index, labels, float(self.C), self.tol, self.max_iter)
        for (a, b), ix, yy, res in zip(pairs, index, labels, results):
            idx, alpha = by_class[ix], res[0]
            coef[idx[yy > 0], b - 1] = (alpha * yy)[yy > 0]   # class a's vectors: row b - 1
            coef[idx[yy < 0], a] = (alpha * yy)[yy < 0]       # class b's vectors: row a
        rhos = [res[1] for res in results]
        iters = [res[2] for res in results]
        is_sv = (coef != 0).any(axis=1)
        order = np.lexsort((np.arange(len(X)), y_idx))        # grouped by class, then by index
        self.support_ = order[is_sv[order]]
        self.support_vectors_ = X[self.support_]
        self.n_support_ = np.bincount(y_idx[self.support_], minlength=K).astype(np.int32)
        self.dual_coef_ = coef[self.support_].T.copy()        # (K - 1, n_SV)
        self.intercept_ = -np.asarray(rhos)
        self.n_iter_ = np.asarray(iters)
        if K == 2:                                            # positive decision = classes_[1]
            self.dual_coef_, self.intercept_ = -self.dual_coef_, -self.intercept_
        self.n_features_in_ = X.shape[1]
        self._y_sv = y_idx[self.support_]
        return self

    def _ovo(self, Xn):
        Ks = self._kernel(Xn, self.support_vectors_)          # (n, n_SV)
        K = len(self.classes_)
        if K == 2:
            return (Ks @ self.dual_coef_[0] + self.intercept_[0])[:, None]
        out, p = [], 0
        for a in range(K):
            for b in range(a + 1, K):
                ma, mb = self._y_sv == a, self._y_sv == b
                out.append(Ks[:, ma] @ self.dual_coef_[b - 1, ma] + Ks[:, mb] @ self.dual_coef_[a, mb]
                           + self.intercept_[p])
                p += 1
        return np.stack(out, axis=1)                          # (n, K(K-1)/2): > 0 means the first class

    def _check(self, X):
        check_is_fitted(self, "support_")
        Xn = check_array(X, estimator=self).astype(np.float64)
        if Xn.shape[1] != self.n_features_in_:
            raise ValueError(f"SVC: X has {Xn.shape[1]} features, but the model was fitted with {self.n_features_in_}")
        return Xn

    def _votes(self, dec):
        K, n = len(self.classes_), len(dec)
        votes, conf, p = np.zeros((n, K)), np.zeros((n, K)), 0
        for a in range(K):
            for b in range(a + 1, K):
                votes[:, a] += dec[:, p] > 0
                votes[:, b] += dec[:, p] <= 0
                conf[:, a] += dec[:, p]
                conf[:, b] -= dec[:, p]
                p += 1
        return votes, conf

    def decision_function(self, X: Any):
        """Two classes: (n_samples,) with > 0 meaning ``classes_[1]``. More: ``'ovr'`` gives votes +
        conf / (3(|conf| + 1)) per class (scikit-learn's transform), ``'ovo'`` the pairwise values."""
        dec = self._ovo(self._check(X))
        if len(self.classes_) == 2:
            return like_input(dec[:, 0], X)
        if self.decision_function_shape == "ovo":
            return like_input(dec, X)
        votes, conf = self._votes(dec)
        return like_input(votes + conf / (3.0 * (np.abs(conf) + 1.0)), X)

    def predict(self, X: Any):
        """The class winning the most one-vs-one votes (two classes: the sign of the decision)."""
        dec = self._ovo(self._check(X))
        if len(self.classes_) == 2:
            return like_input(self.classes_[(dec[:, 0] > 0).astype(int)], X)
        votes, _ = self._votes(dec)
        return like_input(self.classes_[votes.argmax(axis=1)], X)
