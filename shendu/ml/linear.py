"""Linear models: least squares, ridge, lasso, logistic and softmax regression.

Every model here fits ``y ≈ X @ coef_.T + intercept_`` (scikit-learn's attribute names and shapes).
The fits are done in float64 NumPy (or shendu autograd, where said); see shendu/ml/base.py for the
input and output conventions.

- LinearRegression: ``min ‖y - Xw - b‖²`` by ``lstsq`` on centred data (the minimum-norm solution
  when X is rank deficient, as scikit-learn).
- Ridge: ``min ‖y - Xw - b‖² + alpha ‖w‖²`` in closed form, ``(XcᵀXc + alpha I) w = Xcᵀyc``.
- Lasso: ``min 1/(2n) ‖y - Xw - b‖² + alpha ‖w‖₁`` (scikit-learn's objective) by cyclic
  coordinate descent on the Gram matrix, stopped by the duality gap like scikit-learn's ``cd_fast``,
  with an exact active-set finish once the signs settle.
- LogisticRegression: ``min C Σ_i loss_i + ½‖W‖²`` (l2) or ``Σ_i loss_i`` (None), sigmoid for two
  classes and multinomial (softmax) for more, solved by Newton's method (``'newton-cholesky'``,
  exact Hessian, backtracking line search) or by ``shendu.optim.LBFGS`` with the closed-form gradient
  (``'lbfgs'``).
- SoftmaxRegression: the multinomial model for any number of classes (two included), trained with
  shendu autograd (cross-entropy + ``‖W‖²/(2Cn)``) and ``shendu.optim.LBFGS``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from shendu.ml.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    check_array,
    check_is_fitted,
    check_X_y,
    like_input,
    tdot,
)

__all__ = ["LinearRegression", "Ridge", "Lasso", "LogisticRegression", "SoftmaxRegression"]


def _center(X: np.ndarray, y: np.ndarray, fit_intercept: bool):
    X, y = X.astype(np.float64), y.astype(np.float64)
    if not fit_intercept:
        return X, y, np.zeros(X.shape[1]), np.zeros(y.shape[1:])
    x_mean, y_mean = X.mean(axis=0), y.mean(axis=0)
    return X - x_mean, y - y_mean, x_mean, y_mean


class _LinearModel(RegressorMixin, BaseEstimator):
    """Shared fit bookkeeping and ``predict`` of the least-squares family."""

    def _solve(self, Xc: np.ndarray, yc: np.ndarray) -> np.ndarray:  # (p,) or (p, t)
        raise NotImplementedError

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _LinearModel:
        """Fit to X (n_samples, n_features) and y (n_samples,) or (n_samples, n_targets); returns self."""
        X, y = check_X_y(X, y, y_numeric=True, multi_output=True, estimator=self)
        if sample_weight is not None:
            raise NotImplementedError(f"{type(self).__name__}.fit: sample_weight is not supported")
        Xc, yc, x_mean, y_mean = _center(X, y, self.fit_intercept)
        w = self._solve(Xc, yc)                              # (p,) or (p, t)
        self.coef_ = w.T.copy()                              # (p,) or (t, p)
        self.intercept_ = y_mean - x_mean @ w if self.fit_intercept else (0.0 if y.ndim == 1 else np.zeros(y.shape[1]))
        if y.ndim == 1 and self.fit_intercept:
            self.intercept_ = float(self.intercept_)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: Any):
        """``X @ coef_.T + intercept_``, in the kind (tensor or array) of X."""
        check_is_fitted(self, "coef_")
        Xn = check_array(X, estimator=self)
        if Xn.shape[1] != self.n_features_in_:
            raise ValueError(f"{type(self).__name__}: X has {Xn.shape[1]} features, but the model was fitted "
                             f"with {self.n_features_in_}")
        return like_input(Xn.astype(np.float64) @ np.asarray(self.coef_).T + self.intercept_, X)


class LinearRegression(_LinearModel):
    """Ordinary least squares: ``min_w,b ‖y - Xw - b‖²``.

    Args:
        fit_intercept: fit ``b`` (by centring X and y). Default: True.

    Attributes:
        coef_: (n_features,) for 1-D y, (n_targets, n_features) for 2-D y.
        intercept_: a float (1-D y) or (n_targets,).
        rank_, singular_: the rank and singular values of the (centred) X.
    """

    def __init__(self, *, fit_intercept: bool = True):
        self.fit_intercept = fit_intercept

    def _solve(self, Xc, yc):
        w, _, self.rank_, self.singular_ = np.linalg.lstsq(Xc, yc, rcond=None)
        return w


class Ridge(_LinearModel):
    """Least squares with an L2 penalty: ``min_w,b ‖y - Xw - b‖² + alpha ‖w‖²`` (b unpenalised).

    Solved in closed form, ``(XcᵀXc + alpha I) w = Xcᵀyc`` (Cholesky), or through the
    ``n_samples × n_samples`` system when there are more features than samples.

    Args:
        alpha: the penalty's strength (>= 0). Default: 1.0.
        fit_intercept: fit ``b``. Default: True.

    Attributes: ``coef_``, ``intercept_`` as for LinearRegression.
    """

    def __init__(self, alpha: float = 1.0, *, fit_intercept: bool = True):
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def _solve(self, Xc, yc):
        if not np.isscalar(self.alpha) or self.alpha < 0:
            raise ValueError(f"Ridge: alpha must be a non-negative float, got {self.alpha!r}")
        n, p = Xc.shape
        if p <= n:
            A = tdot(Xc, Xc)
            A[np.diag_indices(p)] += self.alpha
            return np.linalg.solve(A, tdot(Xc, yc))
        K = Xc @ Xc.T                                        # the dual (kernel) form: w = Xcᵀ (K + αI)⁻¹ yc
        K[np.diag_indices(n)] += self.alpha
        return tdot(Xc, np.linalg.solve(K, yc))


class Lasso(_LinearModel):
    """Least squares with an L1 penalty (scikit-learn's objective):
    ``min_w,b 1/(2 n_samples) ‖y - Xw - b‖² + alpha ‖w‖₁``.

    Cyclic coordinate descent: each coordinate's exact minimiser is a soft threshold,
    ``w_j ← S(X_jᵀr + ‖X_j‖² w_j, n·alpha) / ‖X_j‖²``. The updates run on the Gram matrix XᵀX
    (O(n_features) per coordinate); every sweep whose largest update is below ``tol`` times the
    largest weight computes the duality gap, and the fit stops when the gap is below
    ``tol · ‖y‖²`` (scikit-learn's rule). The sweep over coordinates is sequential by nature. Once
    two sweeps agree on the signs of w, an active-set finish (feature-sign search: exact solves on the
    support) is tried and kept only if its duality gap passes the same test, so ``n_iter_`` is
    usually far below scikit-learn's for the same optimum.

    Args:
        alpha: the L1 strength. Default: 1.0.
        fit_intercept: Default: True.
        max_iter: sweeps at most. Default: 1000.
        tol: the duality-gap tolerance (relative to ‖y‖²). Default: 1e-4.

    Attributes: ``coef_``, ``intercept_``, ``n_iter_`` (sweeps run), ``dual_gap_`` (final gap / n).
    """

    def __init__(self, alpha: float = 1.0, *, fit_intercept: bool = True, max_iter: int = 1000, tol: float = 1e-4):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol

    def _solve(self, Xc, yc):
        if yc.ndim == 2:
            cols = [self._solve_one(Xc, yc[:, t]) for t in range(yc.shape[1])]
            self.n_iter_ = max(c[1] for c in cols)
            self.dual_gap_ = np.array([c[2] for c in cols])
            return np.stack([c[0] for c in cols], axis=1)
        w, self.n_iter_, self.dual_gap_ = self._solve_one(Xc, yc)
        return w

    def _solve_one(self, X, y):
        n, p = X.shape
        alpha_n = self.alpha * n
        G, q, yy = tdot(X, X), tdot(X, y), float(y @ y)
        diag, q_l = np.diag(G).tolist(), q.tolist()           # Python floats: the scalar work stays cheap
        rows = [np.ascontiguousarray(G[j]) for j in range(p)]  # G is symmetric: row j = column j
        w = [0.0] * p
        Gw = np.zeros(p)                                     # G @ w, kept up to date
        tol = self.tol * yy
        gap, n_iter = tol + 1.0, 0
        prev_signs = tried = None
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 (n_iter is reported)
            w_max = d_w_max = 0.0
            for j in range(p):
                d = diag[j]
                if d == 0.0:
                    continue
                w_j = w[j]
                rho = q_l[j] - float(Gw[j]) + d * w_j        # X_jᵀ(r + X_j w_j)
                new = (rho - alpha_n if rho > alpha_n else rho + alpha_n if rho < -alpha_n else 0.0) / d
                if new != w_j:
                    Gw += rows[j] * (new - w_j)
                    w[j] = new
                    d_w_max = max(d_w_max, abs(new - w_j))
                w_max = max(w_max, abs(new))
            if w_max == 0.0 or d_w_max / w_max < self.tol or n_iter == self.max_iter:
                gap = self._duality_gap(np.array(w), Gw, q, yy, alpha_n)
                if gap < tol:
                    break
            # Once two sweeps agree on the signs, finish exactly by feature-sign search (an active-set method
            # on the same objective) and accept its answer if the duality gap is below tol; else sweep on.
            signs = tuple(0 if v == 0.0 else (1 if v > 0 else -1) for v in w)
            if signs == prev_signs and signs != tried:
                tried = signs
                exact = self._refit_support(G, q, w, alpha_n)
                if exact is not None:
                    Gw_exact = G @ exact
                    gap_exact = self._duality_gap(exact, Gw_exact, q, yy, alpha_n)
                    if gap_exact < tol:
                        w, Gw, gap = exact.tolist(), Gw_exact, gap_exact
                        break
            prev_signs = signs
        w = np.array(w)
        return w, n_iter, gap / n

    @staticmethod
    def _refit_support(G, q, w0, alpha_n, max_steps: int = 100):
        """Feature-sign search (Lee et al., 2007) from the sweeps' w: f(w) = ½wᵀGw - qᵀw + n·alpha‖w‖₁.

        On the support S with signs θ the optimum solves G_SS w_S = q_S - n·alpha·θ_S; a step towards it
        stops at the best of its end point and the points where a coordinate crosses zero (that coordinate
        leaves S); a zero coordinate whose gradient exceeds n·alpha joins S. Returns the optimum, or
        None if a singular G_SS or ``max_steps`` stops the search (the caller checks the duality gap).
        """
        def f(v):
            return 0.5 * v @ G @ v - q @ v + alpha_n * np.abs(v).sum()

        w = np.asarray(w0, dtype=np.float64).copy()
        eps = 1e-9 * max(alpha_n, float(np.abs(q).max()))          # the optimality conditions' tolerance
        for _ in range(max_steps):
            S = w != 0
            grad = G @ w - q
            viol = np.where(~S, np.abs(grad) - alpha_n, -np.inf)
            theta = np.sign(w)
            if viol.max() > eps:
                j = int(viol.argmax())
                S[j], theta[j] = True, -np.sign(grad[j])
            elif np.abs(grad[S] + alpha_n * theta[S]).max(initial=0.0) <= eps:
                return w                                            # optimality conditions hold
            try:
                target_S = np.linalg.solve(G[np.ix_(S, S)], q[S] - alpha_n * theta[S])
            except np.linalg.LinAlgError:
                return None
            target = np.zeros_like(w)
            target[S] = target_S
            # candidates: the end point and every zero crossing on the segment w -> target
            d = target - w
            with np.errstate(divide="ignore", invalid="ignore"):
                ts = np.where(S & (w != 0) & (np.sign(target) != np.sign(w)), -w / d, np.inf)
            points = [target]
            for t in np.unique(ts[(ts > 0) & (ts < 1)]):
                pt = w + t * d
                pt[np.isclose(ts, t)] = 0.0                          # the crossing coordinate(s) exactly 0
                points.append(pt)
            w = min(points, key=f)
        return None

    @staticmethod
    def _duality_gap(w, Gw, q, yy, alpha_n):
        XtR = q - Gw                                         # Xᵀ(y - Xw)
        R_norm2 = yy - 2.0 * w @ q + w @ Gw
        R_y = yy - w @ q
        dual_norm = np.abs(XtR).max() if XtR.size else 0.0
        if dual_norm > alpha_n:
            const = alpha_n / dual_norm
            gap = 0.5 * (R_norm2 + R_norm2 * const * const)
        else:
            const, gap = 1.0, R_norm2
        return float(gap + alpha_n * np.abs(w).sum() - const * R_y)


# -- logistic and softmax regression ----------------------------------------------------------------
def _logsumexp(Z: np.ndarray) -> np.ndarray:
    m = Z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True)))[:, 0]


def _softmax(Z: np.ndarray) -> np.ndarray:
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def _newton_logistic(Xa, y_idx, K, lam, fit_intercept, tol, max_iter):
    """Minimise F(Θ) = mean loss + lam/2 ‖W‖² by Newton's method with an Armijo backtracking search.

    Θ is (K, p1) with K = 1 (sigmoid, y_idx in {0, 1}) or the number of classes (softmax). Returns
    (Θ, iterations). The Hessian is built with two matrix products, not per sample.
    """
    n, p1 = Xa.shape
    mask = np.ones(p1)
    if fit_intercept:
        mask[-1] = 0.0                                       # the intercept is not penalised
    Y = (y_idx[:, None] == np.arange(K)[None, :]).astype(np.float64) if K > 1 else y_idx[:, None].astype(np.float64)

    def value(T):
        Z = Xa @ T.T                                         # (n, K)
        if K == 1:
            loss = np.logaddexp(0.0, Z[:, 0]) - Y[:, 0] * Z[:, 0]
        else:
            loss = _logsumexp(Z) - (Z * Y).sum(axis=1)
        return loss.mean() + 0.5 * lam * ((T * mask) ** 2).sum()

    T = np.zeros((K, p1))
    n_iter = 0
    f = value(T)
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        Z = Xa @ T.T
        P = _sigmoid(Z) if K == 1 else _softmax(Z)          # (n, K)
        grad = tdot(P - Y, Xa) / n + lam * T * mask           # (K, p1)
        if np.abs(grad).max() <= tol:
            n_iter -= 1
            break
        if K == 1:
            s = P[:, 0] * (1.0 - P[:, 0])
            H = (Xa.T * s) @ Xa / n                     # (p1, n) contiguous: a fast BLAS call
        else:
            # H[(k,a),(l,b)] = Σ_i p_ik (δ_kl - p_il) x_ia x_ib / n
            PX = (P[:, :, None] * Xa[:, None, :]).reshape(n, K * p1)   # (n, K·p1)
            H = -tdot(PX, PX)
            H = H.reshape(K, p1, K, p1)
            for k in range(K):                               # the diagonal blocks Xᵀ diag(p_k) X
                H[k, :, k, :] += (Xa.T * P[:, k]) @ Xa
            H = H.reshape(K * p1, K * p1) / n
        H[np.diag_indices(K * p1)] += lam * np.tile(mask, K)
        if K > 1:
            # Softmax is unchanged by adding the same vector to every class row, so H is singular along
            # Σ_k Θ_k for the unpenalised columns (the intercept; all of them without a penalty). The
            # gradient is always zero along that direction, so adding curvature there only pins it.
            free = (1.0 - mask) if lam > 0 else np.ones(p1)
            H += np.kron(np.ones((K, K)) / K, np.diag(free))
        g = grad.reshape(-1)
        try:
            step = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = -np.linalg.lstsq(H, g, rcond=None)[0]    # collinear features: the minimum-norm step
        step = step.reshape(K, p1)
        t, slope = 1.0, float(g @ step.reshape(-1))
        for _ in range(40):
            f_new = value(T + t * step)
            if f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        T = T + t * step
        if abs(f - f_new) <= 1e-16 * max(1.0, abs(f)) and t < 1.0:
            f = f_new
            break
        f = f_new
    return T, n_iter


def _lbfgs_analytic(Xa, y_idx, K, lam, fit_intercept, tol, max_iter):
    """The same objective as _newton_logistic, minimised by shendu.optim.LBFGS with the closed-form
    gradient ``(P - Y)ᵀX / n + lam W`` written into ``theta.grad`` (no autograd graph per evaluation)."""
    import shendu
    from shendu.optim import LBFGS

    n, p1 = Xa.shape
    mask = np.ones(p1)
    if fit_intercept:
        mask[-1] = 0.0
    Y = (y_idx[:, None] == np.arange(K)[None, :]).astype(np.float64) if K > 1 else y_idx[:, None].astype(np.float64)
    theta = shendu.zeros((K, p1), dtype=shendu.float64, requires_grad=True)
    opt = LBFGS([theta], lr=1.0, max_iter=max_iter, max_eval=max_iter * 2, tolerance_grad=tol,
                tolerance_change=1e-15, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        T = theta._data
        Z = Xa @ T.T                                         # (n, K)
        if K == 1:
            loss = np.logaddexp(0.0, Z[:, 0]) - Y[:, 0] * Z[:, 0]
            P = _sigmoid(Z)
        else:
            loss = _logsumexp(Z) - (Z * Y).sum(axis=1)
            P = _softmax(Z)
        W = T * mask
        theta.grad = shendu.tensor(tdot(P - Y, Xa) / n + lam * W, dtype=shendu.float64)
        return float(loss.mean() + 0.5 * lam * (W * W).sum())

    opt.step(closure)
    n_iter = int(opt.state[opt._params[0]].get("n_iter", max_iter))
    return theta.detach()._data.copy(), n_iter


def _lbfgs_logistic(Xa, y_idx, K, lam, fit_intercept, tol, max_iter):
    """The same objective as _newton_logistic, minimised by shendu.optim.LBFGS through autograd."""
    import shendu
    import shendu.nn.functional as F
    from shendu.optim import LBFGS

    n, p1 = Xa.shape
    X_t = shendu.tensor(Xa, dtype=shendu.float64)
    mask = np.ones((1, p1))
    if fit_intercept:
        mask[0, -1] = 0.0
    mask_t = shendu.tensor(mask, dtype=shendu.float64)
    theta = shendu.zeros((K, p1), dtype=shendu.float64, requires_grad=True)
    if K == 1:
        target = shendu.tensor(y_idx.astype(np.float64), dtype=shendu.float64)
    else:
        target = shendu.tensor(y_idx.astype(np.int64))
    opt = LBFGS([theta], lr=1.0, max_iter=max_iter, max_eval=max_iter * 2, tolerance_grad=tol,
                tolerance_change=1e-15, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        Z = X_t @ theta.T                                    # (n, K)
        if K == 1:
            loss = F.binary_cross_entropy_with_logits(Z[:, 0], target)
        else:
            loss = F.cross_entropy(Z, target)
        W = theta * mask_t
        loss = loss + 0.5 * lam * (W * W).sum()
        loss.backward()
        return loss

    opt.step(closure)
    n_iter = int(opt.state[opt._params[0]].get("n_iter", max_iter))
    return theta.detach()._data.copy(), n_iter


class _LogisticBase(ClassifierMixin, BaseEstimator):
    _multinomial_always = False

    def _fit(self, X, y, penalty, solver):
        X, y = check_X_y(X, y, estimator=self)
        name = type(self).__name__
        if self.C <= 0:
            raise ValueError(f"{name}: C must be positive, got {self.C!r}")
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(f"{name}: needs samples of at least 2 classes in y, got only {self.classes_.tolist()}")
        X = X.astype(np.float64)
        Xa = np.hstack([X, np.ones((X.shape[0], 1))]) if self.fit_intercept else X
        K = 1 if (n_classes == 2 and not self._multinomial_always) else n_classes
        lam = 0.0 if penalty is None else 1.0 / (self.C * X.shape[0])
        solve = {"newton-cholesky": _newton_logistic, "lbfgs": _lbfgs_analytic, "autograd": _lbfgs_logistic}[solver]
        T, n_iter = solve(Xa, y_idx, K, lam, self.fit_intercept, self.tol, self.max_iter)
        self.coef_ = T[:, :X.shape[1]].copy()               # (1 or n_classes, n_features)
        self.intercept_ = T[:, -1].copy() if self.fit_intercept else np.zeros(K)
        if K > 1:
            self.intercept_ -= self.intercept_.mean()       # the softmax's free shift: sum-zero, like scikit-learn
        self.n_iter_ = np.array([n_iter])
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X: Any):
        """The logits ``X @ coef_.T + intercept_``: (n_samples,) for the sigmoid model, else (n_samples, n_classes)."""
        check_is_fitted(self, "coef_")
        Xn = check_array(X, estimator=self).astype(np.float64)
        if Xn.shape[1] != self.n_features_in_:
            raise ValueError(f"{type(self).__name__}: X has {Xn.shape[1]} features, but the model was fitted "
                             f"with {self.n_features_in_}")
        Z = Xn @ self.coef_.T + self.intercept_
        return like_input(Z[:, 0] if Z.shape[1] == 1 else Z, X)

    def _proba(self, X):
        Z = np.asarray(self._decision_np(X))
        if Z.ndim == 1:
            p1 = _sigmoid(Z)
            return np.stack([1.0 - p1, p1], axis=1)
        return _softmax(Z)

    def _decision_np(self, X):
        z = self.decision_function(X)
        return z._data if hasattr(z, "_data") else z

    def predict_proba(self, X: Any):
        """Class probabilities, (n_samples, n_classes), columns in the order of ``classes_``."""
        return like_input(self._proba(X), X)

    def predict_log_proba(self, X: Any):
        """The logarithm of ``predict_proba(X)``."""
        return like_input(np.log(self._proba(X)), X)

    def predict(self, X: Any):
        """The most probable class of each sample, from ``classes_``."""
        return like_input(self.classes_[self._proba(X).argmax(axis=1)], X)


class LogisticRegression(_LogisticBase):
    """Logistic regression: ``min C Σ_i -log p(y_i | x_i) + ½‖W‖²`` (intercept unpenalised).

    Two classes: one weight row, ``p(classes_[1] | x) = σ(x·w + b)``; more: the multinomial
    (softmax) model with a row per class (scikit-learn's default since 1.5).

    Args:
        penalty: ``'l2'`` or ``None``. Default: ``'l2'``.
        tol: stop when the largest entry of the gradient of the mean loss (+ ‖W‖²/(2Cn)) is at most
            this. Default: 1e-4.
        C: inverse regularisation strength. Default: 1.0.
        fit_intercept: Default: True.
        solver: ``'lbfgs'`` (shendu.optim.LBFGS, strong-Wolfe search, with the closed-form gradient)
            or ``'newton-cholesky'`` (Newton's method with the exact Hessian, quadratic convergence; the
            one to use for tight tolerances). Default: ``'lbfgs'``.
        max_iter: iterations at most. Default: 100.

    Attributes:
        classes_, coef_ (1 or n_classes, n_features), intercept_ (1 or n_classes,), n_iter_ (1,).
    """

    def __init__(self, penalty: str | None = "l2", *, tol: float = 1e-4, C: float = 1.0, fit_intercept: bool = True,
                 solver: str = "lbfgs", max_iter: int = 100):
        self.penalty = penalty
        self.tol = tol
        self.C = C
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter

    def fit(self, X: Any, y: Any) -> LogisticRegression:
        """Fit to X (n_samples, n_features) and class labels y (n_samples,); returns self."""
        if self.penalty not in ("l2", None, "none"):
            raise ValueError(f"LogisticRegression: penalty must be 'l2' or None, got {self.penalty!r}")
        if self.solver not in ("lbfgs", "newton-cholesky"):
            raise ValueError(f"LogisticRegression: solver must be 'lbfgs' or 'newton-cholesky', got {self.solver!r}")
        return self._fit(X, y, None if self.penalty in (None, "none") else "l2", self.solver)


class SoftmaxRegression(_LogisticBase):
    """Multinomial logistic regression for any number of classes, trained by shendu autograd.

    ``p(k | x) = softmax(x Wᵀ + b)_k`` with one row per class (also for two classes), minimising
    ``mean cross-entropy + ‖W‖²/(2 C n)`` (= scikit-learn's multinomial objective divided by C n)
    with ``shendu.optim.LBFGS`` (strong-Wolfe line search) on float64 tensors; ``solver=
    'newton-cholesky'`` uses Newton's method instead.

    Args:
        C: inverse regularisation strength (``None``-like ``float('inf')`` means no penalty). Default: 1.0.
        fit_intercept: Default: True.
        tol: gradient tolerance (largest entry), LogisticRegression's default. Default: 1e-4.
        max_iter: iterations at most. Default: 500.
        solver: ``'lbfgs'`` or ``'newton-cholesky'``. Default: ``'lbfgs'``.

    Attributes: ``classes_``, ``coef_`` (n_classes, n_features), ``intercept_`` (n_classes,), ``n_iter_``.
    """
    _multinomial_always = True

    def __init__(self, C: float = 1.0, *, fit_intercept: bool = True, tol: float = 1e-4, max_iter: int = 500,
                 solver: str = "lbfgs"):
        self.C = C
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver

    def fit(self, X: Any, y: Any) -> SoftmaxRegression:
        """Fit to X (n_samples, n_features) and class labels y (n_samples,); returns self."""
        if self.solver not in ("lbfgs", "newton-cholesky"):
            raise ValueError(f"SoftmaxRegression: solver must be 'lbfgs' or 'newton-cholesky', got {self.solver!r}")
        solver = "autograd" if self.solver == "lbfgs" else self.solver   # the autograd loss, by design
        return self._fit(X, y, None if np.isinf(self.C) else "l2", solver)
