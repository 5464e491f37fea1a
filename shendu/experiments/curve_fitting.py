"""Polynomial curve fitting: the deep learning textbook's first example, end to end.

N = 10 points of sin(2πx) plus Gaussian noise (σ = 0.3) on [0, 1] are fitted with polynomials
y(x, w) = Σ_j w_j x^j of order M by least squares, minimising E(w) = ½ Σ_n (y(x_n, w) - t_n)²
(+ λ/2 ‖w‖² when regularised). The experiment shows over-fitting as M grows, its cure by more
data or by regularisation, model selection by a validation set and by cross-validation, and that
shendu's autograd (gradient descent, and Newton's method with an autograd Hessian) finds the same
w* as the closed form w* = (ΦᵀΦ + λI)⁻¹ Φᵀt.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import shendu as sd
from shendu.data.datasets.synthetic import sin_curve
from shendu.data.splits import KFold, LeaveOneOut
from shendu.experiments.plotting import pyplot, save

ORDERS = (0, 1, 3, 9)
LN_LAMBDAS = np.arange(-40.0, 1.0, 1.0)


# -- the model and its closed-form fit ----------------------------------------------------------
def design(x: np.ndarray, M: int) -> np.ndarray:
    """The (N, M + 1) matrix Φ with Φ[n, j] = x_n ** j."""
    return np.vander(np.asarray(x, dtype=np.float64), M + 1, increasing=True)


def fit_closed_form(x, t, M: int, ln_lambda: float | None = None) -> np.ndarray:
    """w* minimising ½‖Φw - t‖² + λ/2 ‖w‖² (λ = e^ln_lambda; None means no regularisation)."""
    phi = design(x, M)
    if ln_lambda is None:
        return np.linalg.lstsq(phi, t, rcond=None)[0]
    # The ridge normal equations (ΦᵀΦ + λI) w = Φᵀt, solved as the equivalent least-squares problem
    # [Φ; √λ I] w ≈ [t; 0]: forming ΦᵀΦ squares the condition number (~1e17 for M = 9 at ln λ = -18),
    # and LAPACK's solve then reports the matrix as singular.
    lam = math.exp(ln_lambda)
    augmented = np.vstack([phi, math.sqrt(lam) * np.eye(M + 1)])
    return np.linalg.lstsq(augmented, np.concatenate([t, np.zeros(M + 1)]), rcond=None)[0]


def predict(w: np.ndarray, x) -> np.ndarray:
    return design(x, len(w) - 1) @ w


def rms(w: np.ndarray, x, t) -> float:
    """E_RMS = sqrt(2 E(w*) / N): the root-mean-square error on (x, t)."""
    return float(np.sqrt(np.mean((predict(w, x) - t) ** 2)))


# -- the same fits with shendu's autograd -------------------------------------------------------
def _loss(w: sd.Tensor, phi: sd.Tensor, t: sd.Tensor, lam: float) -> sd.Tensor:
    r = phi @ w - t
    return 0.5 * (r * r).sum() + 0.5 * lam * (w * w).sum()


def fit_gradient_descent(x, t, M: int, ln_lambda: float | None = None, steps: int = 20000):
    """Nesterov-accelerated gradient descent on E(w), gradients by shendu's autograd (float64).

    The step size is 1/L and the momentum (√κ - 1)/(√κ + 1) for the quadratic's curvature range
    [μ, L] — the textbook's optimal constants for a quadratic. Returns (w, loss history).
    """
    phi_np = design(x, M)
    lam = 0.0 if ln_lambda is None else math.exp(ln_lambda)
    eig = np.linalg.eigvalsh(phi_np.T @ phi_np + lam * np.eye(M + 1))
    L, mu = eig[-1], max(eig[0], 1e-12)
    beta = (math.sqrt(L / mu) - 1) / (math.sqrt(L / mu) + 1)
    phi, target = sd.tensor(phi_np, dtype=sd.float64), sd.tensor(t, dtype=sd.float64)
    w = sd.zeros(M + 1, dtype=sd.float64, requires_grad=True)
    previous = w.detach().clone()
    history = []
    for step in range(steps):
        with sd.no_grad():  # look-ahead point of Nesterov's method
            lookahead = (w + beta * (w - previous)).requires_grad_()
        loss = _loss(lookahead, phi, target, lam)
        (grad,) = sd.grad(loss, [lookahead])
        with sd.no_grad():
            previous = w.detach().clone()
            w = (lookahead - grad / L).detach().requires_grad_()
        if step % 100 == 0:
            history.append(float(loss))
    return w.detach().numpy(), history


def fit_newton(x, t, M: int, ln_lambda: float | None = None) -> np.ndarray:
    """One Newton step w ← w - H⁻¹∇E from w = 0, with ∇E and the Hessian H from shendu's autograd.

    E is quadratic, so one step lands on the minimum exactly.
    """
    lam = 0.0 if ln_lambda is None else math.exp(ln_lambda)
    phi, target = sd.tensor(design(x, M), dtype=sd.float64), sd.tensor(t, dtype=sd.float64)
    w = sd.zeros(M + 1, dtype=sd.float64, requires_grad=True)
    (grad,) = sd.grad(_loss(w, phi, target, lam), [w], create_graph=True)
    hessian = np.stack([sd.grad(grad[j], [w], retain_graph=True)[0].numpy() for j in range(M + 1)])
    return w.detach().numpy() - np.linalg.solve(hessian, grad.detach().numpy())


# -- model selection ----------------------------------------------------------------------------
def cv_rms(x, t, M: int, ln_lambda: float | None, splitter) -> float:
    """Root of the mean held-out squared error over the splitter's folds."""
    errors = []
    for train_idx, val_idx in splitter.split(np.arange(len(x))):
        w = fit_closed_form(x[train_idx], t[train_idx], M, ln_lambda)
        errors.append((predict(w, x[val_idx]) - t[val_idx]) ** 2)
    return float(np.sqrt(np.mean(np.concatenate(errors))))


def median_rms_over_draws(x_test, t_test, seed: int, draws: int = 100) -> dict:
    """Median train/test E_RMS for M = 0..9 (and M = 9, ln λ = -18) over ``draws`` training sets of 10.

    One training set is one noise realisation, and whether its M = 9 interpolant swings wildly
    depends on it; the median over many shows the expected behaviour.
    """
    train, test, reg = [], [], []
    for d in range(draws):
        x, t = (a.numpy().astype(np.float64) for a in sin_curve(10, noise=0.3, seed=10_000 * (seed + 1) + d))
        fits = [fit_closed_form(x, t, M) for M in range(10)]
        train.append([rms(w, x, t) for w in fits])
        test.append([rms(w, x_test, t_test) for w in fits])
        reg.append(rms(fit_closed_form(x, t, 9, -18.0), x_test, t_test))
    return {"train": np.median(train, axis=0).tolist(), "test": np.median(test, axis=0).tolist(),
            "m9_ln_lambda_-18_test": float(np.median(reg)), "draws": draws}


# -- the experiment -----------------------------------------------------------------------------
def run(out: Path, seed: int = 0, quick: bool = False) -> dict:
    plt = pyplot()
    out = Path(out)
    x, t = (a.numpy().astype(np.float64) for a in sin_curve(10, noise=0.3, seed=seed))
    x_test, t_test = (a.numpy().astype(np.float64) for a in sin_curve(100, noise=0.3, seed=seed + 1))
    x_val, t_val = (a.numpy().astype(np.float64) for a in sin_curve(10, noise=0.3, seed=seed + 2))
    grid = np.linspace(0, 1, 400)
    truth = np.sin(2 * np.pi * grid)
    results: dict = {"seed": seed}

    def panel(ax, xs, ts, w, title):
        ax.plot(grid, truth, color="tab:green", lw=1.5, label="sin(2πx)")
        ax.plot(grid, predict(w, grid), color="tab:red", lw=1.5, label="fit")
        ax.scatter(xs, ts, facecolors="none", edgecolors="tab:blue", s=30, zorder=3, label="data")
        ax.set_ylim(-1.6, 1.6)
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("t")

    # 1. fits of order 0, 1, 3, 9
    fits = {M: fit_closed_form(x, t, M) for M in ORDERS}
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.5))
    for ax, M in zip(axes.flat, ORDERS):
        panel(ax, x, t, fits[M], f"M = {M}")
    axes.flat[0].legend(loc="lower left", fontsize=8)
    save(fig, out / "fits_by_order.png")

    # 2. training and test RMS error against M
    train_rms = [rms(fit_closed_form(x, t, M), x, t) for M in range(10)]
    test_rms = [rms(fit_closed_form(x, t, M), x_test, t_test) for M in range(10)]
    results["train_rms"], results["test_rms"] = train_rms, test_rms
    median = median_rms_over_draws(x_test, t_test, seed, draws=30 if quick else 100)
    results["median_over_draws"] = median
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(range(10), train_rms, "o-", color="tab:blue", label="training (this data set)")
    ax.plot(range(10), test_rms, "o-", color="tab:red", label="test (this data set)")
    ax.plot(range(10), median["train"], "--", color="tab:blue", label=f"training, median of {median['draws']} sets")
    ax.plot(range(10), median["test"], "--", color="tab:red", label=f"test, median of {median['draws']} sets")
    ax.set_xlabel("M")
    ax.set_ylabel("E_RMS")
    ax.set_ylim(0, 1.2)
    ax.legend()
    save(fig, out / "rms_vs_order.png")

    # 3. M = 9 with more data
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    results["m9_test_rms_by_n"] = {}
    for ax, n in zip(axes, (15, 100)):
        xn, tn = (a.numpy().astype(np.float64) for a in sin_curve(n, noise=0.3, seed=seed + 3))
        w = fit_closed_form(xn, tn, 9)
        results["m9_test_rms_by_n"][n] = rms(w, x_test, t_test)
        panel(ax, xn, tn, w, f"M = 9, N = {n}")
    save(fig, out / "m9_more_data.png")

    # 4. regularised M = 9 fits, and the coefficient tables
    regularised = {lnl: fit_closed_form(x, t, 9, lnl) for lnl in (-18.0, 0.0)}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, (lnl, w) in zip(axes, regularised.items()):
        panel(ax, x, t, w, f"M = 9, ln λ = {lnl:g}")
    save(fig, out / "m9_regularized.png")
    results["m9_test_rms_regularized"] = {lnl: rms(w, x_test, t_test) for lnl, w in regularised.items()}
    results["max_abs_coefficient"] = {
        "M=0": float(np.abs(fits[0]).max()), "M=1": float(np.abs(fits[1]).max()),
        "M=3": float(np.abs(fits[3]).max()), "M=9": float(np.abs(fits[9]).max()),
        "M=9, ln λ=-18": float(np.abs(regularised[-18.0]).max()),
        "M=9, ln λ=0": float(np.abs(regularised[0.0]).max())}

    # 5. RMS error against ln λ for M = 9
    lam_train = [rms(fit_closed_form(x, t, 9, lnl), x, t) for lnl in LN_LAMBDAS]
    lam_test = [rms(fit_closed_form(x, t, 9, lnl), x_test, t_test) for lnl in LN_LAMBDAS]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(LN_LAMBDAS, lam_train, label="training")
    ax.plot(LN_LAMBDAS, lam_test, label="test")
    ax.set_xlabel("ln λ")
    ax.set_ylabel("E_RMS")
    ax.set_ylim(0, 1.2)
    ax.legend()
    save(fig, out / "rms_vs_ln_lambda.png")

    # 6. model selection: validation set, S-fold and leave-one-out cross-validation
    val_by_m = [rms(fit_closed_form(x, t, M), x_val, t_val) for M in range(10)]
    kfold, loo = KFold(n_splits=5, shuffle=True, random_state=seed), LeaveOneOut()
    cv_by_m = [cv_rms(x, t, M, None, kfold) for M in range(8)]  # M + 1 <= 8 training points per fold
    loo_by_m = [cv_rms(x, t, M, None, loo) for M in range(9)]
    val_by_lam = [rms(fit_closed_form(x, t, 9, lnl), x_val, t_val) for lnl in LN_LAMBDAS]
    cv_by_lam = [cv_rms(x, t, 9, lnl, kfold) for lnl in LN_LAMBDAS]
    loo_by_lam = [cv_rms(x, t, 9, lnl, loo) for lnl in LN_LAMBDAS]
    selection = {
        "M by validation set": int(np.argmin(val_by_m)),
        "M by 5-fold CV": int(np.argmin(cv_by_m)),
        "M by leave-one-out": int(np.argmin(loo_by_m)),
        "ln λ (M=9) by validation set": float(LN_LAMBDAS[np.argmin(val_by_lam)]),
        "ln λ (M=9) by 5-fold CV": float(LN_LAMBDAS[np.argmin(cv_by_lam)]),
        "ln λ (M=9) by leave-one-out": float(LN_LAMBDAS[np.argmin(loo_by_lam)]),
    }
    results["selection"] = selection
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].plot(range(10), val_by_m, "o-", label="validation set")
    axes[0].plot(range(8), cv_by_m, "s-", label="5-fold CV")
    axes[0].plot(range(9), loo_by_m, "^-", label="leave-one-out")
    axes[0].set_xlabel("M")
    axes[0].set_ylabel("held-out E_RMS")
    axes[0].set_ylim(0, 1.5)
    axes[0].legend()
    axes[1].plot(LN_LAMBDAS, val_by_lam, label="validation set")
    axes[1].plot(LN_LAMBDAS, cv_by_lam, label="5-fold CV")
    axes[1].plot(LN_LAMBDAS, loo_by_lam, label="leave-one-out")
    axes[1].set_xlabel("ln λ (M = 9)")
    axes[1].set_ylim(0, 1.5)
    axes[1].legend()
    save(fig, out / "model_selection.png")

    # 7. closed form vs shendu autograd: gradient descent (M = 3) and Newton's method (M = 9)
    w_gd, history = fit_gradient_descent(x, t, 3, steps=3000 if quick else 20000)
    w_newton = fit_newton(x, t, 9, -18.0)
    agreement = {"M=3 gradient descent vs closed form (max |Δw|)": float(np.abs(w_gd - fits[3]).max()),
                 "M=9, ln λ=-18 Newton vs closed form (max |Δy| on [0,1])":
                     float(np.abs(predict(w_newton, grid) - predict(regularised[-18.0], grid)).max())}
    results["autograd_agreement"] = agreement
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    optimum = 0.5 * np.sum((predict(fits[3], x) - t) ** 2)
    axes[0].semilogy(np.arange(len(history)) * 100, np.array(history) - optimum + 1e-16)
    axes[0].set_xlabel("gradient-descent step")
    axes[0].set_ylabel("E(w) - E(w*)")
    axes[0].set_title("M = 3: Nesterov GD with shendu autograd")
    panel(axes[1], x, t, w_newton, "M = 9, ln λ = -18: Newton (autograd Hessian)")
    axes[1].plot(grid, predict(regularised[-18.0], grid), "k--", lw=1, label="closed form")
    axes[1].legend(fontsize=8)
    save(fig, out / "autograd_vs_closed_form.png")

    _write_report(out, results, fits, regularised, w_gd)
    return results


def _write_report(out: Path, r: dict, fits: dict, regularised: dict, w_gd) -> None:
    lines = ["# Polynomial curve fitting", "",
             f"N = 10 training points of sin(2πx) + N(0, 0.3²), 100 test points, seed {r['seed']}.", "",
             "![fits](fits_by_order.png)", "", "## Training and test error against the order M", "",
             "| M | " + " | ".join(str(m) for m in range(10)) + " |", "|---" * 11 + "|",
             "| train E_RMS | " + " | ".join(f"{v:.3f}" for v in r["train_rms"]) + " |",
             "| test E_RMS | " + " | ".join(f"{v:.3f}" for v in r["test_rms"]) + " |", "",
             "![rms](rms_vs_order.png)", "",
             f"Median over {r['median_over_draws']['draws']} training sets of ten points (same test set):", "",
             "| M | " + " | ".join(str(m) for m in range(10)) + " |", "|---" * 11 + "|",
             "| train E_RMS | " + " | ".join(f"{v:.3f}" for v in r["median_over_draws"]["train"]) + " |",
             "| test E_RMS | " + " | ".join(f"{v:.3f}" for v in r["median_over_draws"]["test"]) + " |", "",
             "M = 9 interpolates the ten points (training error ≈ 0) and swings between them; how wildly",
             "depends on the noise draw, so the median over many draws tells the typical story: test error",
             f"{r['median_over_draws']['test'][9]:.2f} for M = 9 against {r['median_over_draws']['test'][3]:.2f} "
             f"for M = 3, and {r['median_over_draws']['m9_ln_lambda_-18_test']:.2f} for M = 9 regularised at "
             "ln λ = -18.", "",
             "## More data", "",
             *(f"- M = 9, N = {n}: test E_RMS {v:.3f}" for n, v in r["m9_test_rms_by_n"].items()), "",
             "![more data](m9_more_data.png)", "", "## Regularisation", "",
             *(f"- M = 9, ln λ = {k:g}: test E_RMS {v:.3f}" for k, v in r["m9_test_rms_regularized"].items()), "",
             "![regularized](m9_regularized.png)", "", "![rms vs lambda](rms_vs_ln_lambda.png)", "",
             "### Coefficients w*", "", _coefficient_table(fits, regularised), "",
             "## Choosing M and λ", "", *(f"- {k}: **{v:g}**" for k, v in r["selection"].items()), "",
             "![selection](model_selection.png)", "", "## Closed form and shendu's autograd agree", "",
             *(f"- {k}: {v:.2e}" for k, v in r["autograd_agreement"].items()), "",
             "M = 3 by gradient descent: w = " + ", ".join(f"{v:.4f}" for v in w_gd), "",
             "![autograd](autograd_vs_closed_form.png)", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")


def _coefficient_table(fits: dict, regularised: dict) -> str:
    cols = [("M = 0", fits[0]), ("M = 1", fits[1]), ("M = 3", fits[3]), ("M = 9", fits[9]),
            ("M = 9, ln λ = -18", regularised[-18.0]), ("M = 9, ln λ = 0", regularised[0.0])]
    rows = ["| | " + " | ".join(c for c, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for j in range(10):
        cells = [f"{w[j]:.2f}" if j < len(w) else "" for _, w in cols]
        rows.append(f"| w{j} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
