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
from shendu.experiments._progress import stages
from shendu.experiments.plotting import figure, legend_outside, save

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
CANDIDATE_DRAWS = 10  # training sets of ten points considered for the figures (data seeds 10·seed + k)
TEST_SEED, VALIDATION_SEED, MORE_DATA_SEED = 1_000_000, 2_000_000, 3_000_000  # + seed
GRID = np.linspace(0, 1, 400)
Y_LIMITS = (-1.6, 1.6)  # the textbook's window: wilder fits leave it


def _draw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return tuple(a.numpy().astype(np.float64) for a in sin_curve(n, noise=0.3, seed=seed))


def swing(x, t) -> float:
    """How far the M = 9 interpolant of (x, t) strays from sin(2πx) on [0, 1]: max |y(x) - sin(2πx)|."""
    return float(np.abs(predict(fit_closed_form(x, t, 9), GRID) - np.sin(2 * np.pi * GRID)).max())


def choose_training_draw(seed: int) -> tuple[int, list[float]]:
    """The data seed, of ``10·seed + k`` for k < 10, whose M = 9 fit swings furthest from sin(2πx), as
    in the textbook's figure; and the swings of all ten candidates (the report says how typical it is)."""
    swings = [swing(*_draw(10, CANDIDATE_DRAWS * seed + k)) for k in range(CANDIDATE_DRAWS)]
    return CANDIDATE_DRAWS * seed + int(np.argmax(swings)), swings


def _panel(ax, xs, ts, w, title: str, fit_label: str = "fit y(x, w*)") -> None:
    """Data, sin(2πx) and the fit y(x, w) on [0, 1] in the textbook's window."""
    y = predict(w, GRID)
    ax.plot(GRID, np.sin(2 * np.pi * GRID), color="tab:green", lw=1.5, label="sin(2πx)")
    ax.plot(GRID, y, color="tab:red", lw=1.5, label=fit_label)
    ax.scatter(xs, ts, facecolors="none", edgecolors="tab:blue", s=30, zorder=3, label="data (xₙ, tₙ)")
    if np.abs(y).max() > Y_LIMITS[1]:
        title += f" (leaves the window: max |y| = {np.abs(y).max():.1f})"
    ax.set_ylim(*Y_LIMITS)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("x")
    ax.set_ylabel("t")


def run(out: Path, seed: int = 0, quick: bool = False, progress=None) -> dict:
    stage = stages(progress, "curve-fitting", 7)
    out = Path(out)
    stage("choosing the training set, fits of order 0, 1, 3, 9")
    data_seed, swings = choose_training_draw(seed)
    x, t = _draw(10, data_seed)
    x_test, t_test = _draw(100, TEST_SEED + seed)
    x_val, t_val = _draw(10, VALIDATION_SEED + seed)
    results: dict = {"seed": seed, "data_seed": data_seed, "candidate_swings": swings,
                     "m9_swing": max(swings), "median_candidate_swing": float(np.median(swings))}

    # 1. fits of order 0, 1, 3, 9
    fits = {M: fit_closed_form(x, t, M) for M in ORDERS}
    fig, axes = figure(2, 2, figsize=(9, 7), title=f"Polynomials of order M fitted by least squares to N = 10 "
                       f"points (data seed {data_seed})")
    for ax, M in zip(axes.flat, ORDERS):
        _panel(ax, x, t, fits[M], f"M = {M}")
    legend_outside(fig, axes.flat[0], ncol=3)
    save(fig, out / "fits_by_order.png")

    # 2. training and test RMS error against M
    stage("training and test error against M, median over noise draws")
    train_rms = [rms(fit_closed_form(x, t, M), x, t) for M in range(10)]
    test_rms = [rms(fit_closed_form(x, t, M), x_test, t_test) for M in range(10)]
    results["train_rms"], results["test_rms"] = train_rms, test_rms
    median = median_rms_over_draws(x_test, t_test, seed, draws=30 if quick else 100)
    results["median_over_draws"] = median
    fig, ax = figure(figsize=(6.5, 4.8), title="E_RMS against the order M (100 test points)")
    ax.plot(range(10), train_rms, "o-", color="tab:blue", label="training (the data set shown)")
    ax.plot(range(10), test_rms, "o-", color="tab:red", label="test (the data set shown)")
    ax.plot(range(10), median["train"], "--", color="tab:blue", label=f"training, median of {median['draws']} sets")
    ax.plot(range(10), median["test"], "--", color="tab:red", label=f"test, median of {median['draws']} sets")
    ax.set_xlabel("polynomial order M")
    ax.set_ylabel("E_RMS = √(2E(w*)/N)")
    ax.set_xticks(range(10))
    top = max(1.2, 1.1 * max(test_rms))
    ax.set_ylim(0, top)
    legend_outside(fig, ax, ncol=2)
    save(fig, out / "rms_vs_order.png")

    # 3. M = 9 with more data
    stage("M = 9 with more data")
    fig, axes = figure(1, 2, figsize=(9, 4), title="M = 9 fitted to more points (data seed "
                       f"{MORE_DATA_SEED + seed})")
    results["m9_test_rms_by_n"] = {}
    for ax, n in zip(axes, (15, 100)):
        xn, tn = _draw(n, MORE_DATA_SEED + seed)
        w = fit_closed_form(xn, tn, 9)
        results["m9_test_rms_by_n"][n] = rms(w, x_test, t_test)
        _panel(ax, xn, tn, w, f"M = 9, N = {n}")
    legend_outside(fig, axes[0], ncol=3)
    save(fig, out / "m9_more_data.png")

    # 4. regularised M = 9 fits, and the coefficient tables
    stage("regularised M = 9 fits, error against ln λ")
    regularised = {lnl: fit_closed_form(x, t, 9, lnl) for lnl in (-18.0, 0.0)}
    fig, axes = figure(1, 2, figsize=(9, 4), title="M = 9 with the penalty λ/2 ‖w‖², on the data set shown above")
    for ax, (lnl, w) in zip(axes, regularised.items()):
        _panel(ax, x, t, w, f"M = 9, ln λ = {lnl:g}")
    legend_outside(fig, axes[0], ncol=3)
    save(fig, out / "m9_regularized.png")
    results["m9_test_rms"] = test_rms[9]
    results["m9_test_rms_regularized"] = {lnl: rms(w, x_test, t_test) for lnl, w in regularised.items()}
    results["max_abs_coefficient"] = {
        "M=0": float(np.abs(fits[0]).max()), "M=1": float(np.abs(fits[1]).max()),
        "M=3": float(np.abs(fits[3]).max()), "M=9": float(np.abs(fits[9]).max()),
        "M=9, ln λ=-18": float(np.abs(regularised[-18.0]).max()),
        "M=9, ln λ=0": float(np.abs(regularised[0.0]).max())}

    # 5. RMS error against ln λ for M = 9
    lam_train = [rms(fit_closed_form(x, t, 9, lnl), x, t) for lnl in LN_LAMBDAS]
    lam_test = [rms(fit_closed_form(x, t, 9, lnl), x_test, t_test) for lnl in LN_LAMBDAS]
    results["best_ln_lambda_test"] = float(LN_LAMBDAS[int(np.argmin(lam_test))])
    results["train_rms_grows_with_lambda"] = bool(np.all(np.diff(lam_train) >= -1e-9))
    fig, ax = figure(figsize=(6.5, 4.5), title="M = 9: E_RMS against the regularisation strength")
    ax.plot(LN_LAMBDAS, lam_train, color="tab:blue", label="training")
    ax.plot(LN_LAMBDAS, lam_test, color="tab:red", label="test")
    ax.set_xlabel("ln λ")
    ax.set_ylabel("E_RMS")
    ax.set_ylim(0, max(1.2, 1.1 * max(lam_test)))
    legend_outside(fig, ax, ncol=2)
    save(fig, out / "rms_vs_ln_lambda.png")

    # 6. model selection: validation set, S-fold and leave-one-out cross-validation
    stage("choosing M and λ: validation set, 5-fold and leave-one-out CV")
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
    fig, axes = figure(1, 2, figsize=(10, 4.3), title="Held-out error of the data set shown: choosing M "
                       "(no penalty) and λ (M = 9)")
    axes[0].plot(range(10), val_by_m, "o-", label="validation set (10 new points)")
    axes[0].plot(range(8), cv_by_m, "s-", label="5-fold CV")
    axes[0].plot(range(9), loo_by_m, "^-", label="leave-one-out")
    axes[0].set_xlabel("polynomial order M")
    axes[0].set_xticks(range(10))
    axes[1].plot(LN_LAMBDAS, val_by_lam)
    axes[1].plot(LN_LAMBDAS, cv_by_lam)
    axes[1].plot(LN_LAMBDAS, loo_by_lam)
    axes[1].set_xlabel("ln λ (M = 9)")
    for ax in axes:
        ax.set_ylabel("held-out E_RMS")
        ax.set_ylim(0, 1.5)  # the interpolating orders' errors run off the top
    legend_outside(fig, axes[0], ncol=3)
    save(fig, out / "model_selection.png")

    # 7. closed form vs shendu autograd: gradient descent (M = 3) and Newton's method (M = 9)
    stage("closed form against shendu's autograd (gradient descent, Newton)")
    steps = 3000 if quick else 20000
    w_gd, history = fit_gradient_descent(x, t, 3, steps=steps)
    w_newton = fit_newton(x, t, 9, -18.0)
    agreement = {"M=3 gradient descent vs closed form (max |Δw|)": float(np.abs(w_gd - fits[3]).max()),
                 "M=9, ln λ=-18 Newton vs closed form (max |Δy| on [0,1])":
                     float(np.abs(predict(w_newton, GRID) - predict(regularised[-18.0], GRID)).max())}
    results["autograd_agreement"] = agreement
    results["gradient_descent_steps"] = steps
    fig, axes = figure(1, 2, figsize=(10, 4.3), title="The closed form and shendu's autograd find the same w*")
    optimum = 0.5 * np.sum((predict(fits[3], x) - t) ** 2)
    axes[0].semilogy(np.arange(len(history)) * 100, np.maximum(np.array(history) - optimum, 1e-16))
    axes[0].set_xlabel("gradient-descent step")
    axes[0].set_ylabel("E(w) − E(w*)  (floored at 1e-16, float64 rounding)")
    axes[0].set_title("M = 3: Nesterov gradient descent (step 1/L)", fontsize=10)
    _panel(axes[1], x, t, w_newton, "M = 9, ln λ = -18: one Newton step", fit_label="Newton, autograd Hessian")
    axes[1].plot(GRID, predict(regularised[-18.0], GRID), "k--", lw=1, label="closed form")
    axes[1].legend(fontsize=8, loc="lower left")
    save(fig, out / "autograd_vs_closed_form.png")

    stage("writing the report")
    _write_report(out, results, fits, regularised, w_gd)
    stage.close()
    return results


def _than(a: float, b: float, lower: str = "lower", higher: str = "higher") -> str:
    return lower if a < b else higher


def _write_report(out: Path, r: dict, fits: dict, regularised: dict, w_gd) -> None:
    med = r["median_over_draws"]
    rank = int(np.sum(np.array(r["candidate_swings"]) < r["m9_swing"]))
    n15, n100 = r["m9_test_rms_by_n"][15], r["m9_test_rms_by_n"][100]
    reg = r["m9_test_rms_regularized"]
    lines = ["# Polynomial curve fitting", "",
             "**Settings.** Training sets of N = 10 points tₙ = sin(2πxₙ) + εₙ, ε ~ N(0, 0.3²), at equally spaced "
             "xₙ in [0, 1]; a test set of 100 such points; polynomials y(x, w) = Σⱼ wⱼ xʲ of order M fitted by "
             "least squares, E(w) = ½ Σₙ (y(xₙ, w) − tₙ)² (+ λ/2 ‖w‖² where regularised). "
             f"Seed {r['seed']}.", "",
             f"**The data set shown.** Of the ten training sets with data seeds {CANDIDATE_DRAWS * r['seed']}–"
             f"{CANDIDATE_DRAWS * r['seed'] + CANDIDATE_DRAWS - 1}, the figures use the one (seed {r['data_seed']}) "
             f"whose M = 9 fit strays furthest from sin(2πx) between the points (max |y − sin 2πx| = "
             f"{r['m9_swing']:.2f}; the median of the ten is {r['median_candidate_swing']:.2f}), to show what the "
             "textbook's figure shows. How typical that is, the median over many training sets below says.", "",
             "![fits](fits_by_order.png)", "",
             "*Figure 1.* Data (circles), sin(2πx) (green) and the least-squares fit (red) for M = 0, 1, 3, 9. "
             "Look at how M = 0 and 1 under-fit, M = 3 follows sin(2πx), and M = 9 passes through every point "
             f"(training E_RMS {r['train_rms'][9]:.1e}) but swings between them.", "",
             "## Training and test error against the order M", "",
             "| M | " + " | ".join(str(m) for m in range(10)) + " |", "|---" * 11 + "|",
             "| train E_RMS | " + " | ".join(f"{v:.3f}" for v in r["train_rms"]) + " |",
             "| test E_RMS | " + " | ".join(f"{v:.3f}" for v in r["test_rms"]) + " |", "",
             f"Median over {med['draws']} training sets of ten points (same test set):", "",
             "| M | " + " | ".join(str(m) for m in range(10)) + " |", "|---" * 11 + "|",
             "| train E_RMS | " + " | ".join(f"{v:.3f}" for v in med["train"]) + " |",
             "| test E_RMS | " + " | ".join(f"{v:.3f}" for v in med["test"]) + " |", "",
             "![rms](rms_vs_order.png)", "",
             "*Figure 2.* E_RMS = √(2E(w*)/N) on the training set (blue) and the test set (red) for M = 0–9: solid "
             "for the data set shown, dashed the median over "
             f"{med['draws']} training sets. The training error falls to {med['train'][9]:.1e} (median) at M = 9; "
             f"the median test error is {med['test'][9]:.2f} at M = 9, "
             f"{_than(med['test'][9], med['test'][3])} than {med['test'][3]:.2f} at M = 3. For the data set shown the "
             f"M = 9 test error is {r['test_rms'][9]:.2f}, {_than(r['test_rms'][9], med['test'][9])} than the median "
             f"(its swing is the largest of the {CANDIDATE_DRAWS} candidates; {rank} of the others swing less).", "",
             "## More data", "",
             f"- M = 9, N = 15: test E_RMS {n15:.3f}",
             f"- M = 9, N = 100: test E_RMS {n100:.3f}", "",
             "![more data](m9_more_data.png)", "",
             f"*Figure 3.* The same M = 9 model fitted to 15 and to 100 points: with 100 points the test error is "
             f"{_than(n100, n15)} ({n100:.2f} against {n15:.2f}); more data "
             f"{'constrains the fit between the points' if n100 < n15 else 'did not help here'}.", "",
             "## Regularisation", "",
             f"- M = 9, no penalty: test E_RMS {r['m9_test_rms']:.3f}",
             *(f"- M = 9, ln λ = {k:g}: test E_RMS {v:.3f}" for k, v in reg.items()), "",
             "![regularized](m9_regularized.png)", "",
             f"*Figure 4.* M = 9 on the data set of Figure 1 with the penalty λ/2 ‖w‖²: ln λ = -18 "
             f"{_than(reg[-18.0], r['m9_test_rms'], 'lowers', 'raises')} the test error from {r['m9_test_rms']:.2f} "
             f"to {reg[-18.0]:.2f}; ln λ = 0 gives {reg[0.0]:.2f}"
             f"{' (too smooth: worse than ln λ = -18)' if reg[0.0] > reg[-18.0] else ''}.", "",
             "![rms vs lambda](rms_vs_ln_lambda.png)", "",
             "*Figure 5.* Training and test E_RMS of M = 9 against ln λ: the training error "
             + ("grows with λ" if r["train_rms_grows_with_lambda"] else "does not grow steadily with λ")
             + f"; the test error is lowest at ln λ = {r['best_ln_lambda_test']:g}.", "",
             "### Coefficients w*", "",
             f"The largest |wⱼ| is {r['max_abs_coefficient']['M=9']:.3g} for M = 9 unregularised and "
             f"{r['max_abs_coefficient']['M=9, ln λ=-18']:.3g} at ln λ = -18: the penalty keeps the coefficients "
             "from cancelling each other at huge magnitudes.", "", _coefficient_table(fits, regularised), "",
             "## Choosing M and λ", "", *(f"- {k}: **{v:g}**" for k, v in r["selection"].items()), "",
             "![selection](model_selection.png)", "",
             "*Figure 6.* Held-out E_RMS against M (left, no penalty) and against ln λ (right, M = 9), estimated from "
             "a separate validation set of 10 points, by 5-fold and by leave-one-out cross-validation on the "
             "training set; the minima give the choices listed above (5-fold CV stops at M = 7: a fold trains on "
             "8 points).", "",
             "## Closed form and shendu's autograd agree", "",
             *(f"- {k}: {v:.2e}" for k, v in r["autograd_agreement"].items()), "",
             f"M = 3 by {r['gradient_descent_steps']} gradient-descent steps: w = "
             + ", ".join(f"{v:.4f}" for v in w_gd), "",
             "![autograd](autograd_vs_closed_form.png)", "",
             "*Figure 7.* Left: E(w) − E(w*) during Nesterov-accelerated gradient descent on M = 3 (gradients from "
             "shendu's autograd, step 1/L). Right: one Newton step with the autograd Hessian (red) on top of the "
             "closed-form ridge fit (dashed) for M = 9, ln λ = -18.", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")


def _coefficient_table(fits: dict, regularised: dict) -> str:
    cols = [("M = 0", fits[0]), ("M = 1", fits[1]), ("M = 3", fits[3]), ("M = 9", fits[9]),
            ("M = 9, ln λ = -18", regularised[-18.0]), ("M = 9, ln λ = 0", regularised[0.0])]
    rows = ["| | " + " | ".join(c for c, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for j in range(10):
        cells = [f"{w[j]:.2f}" if j < len(w) else "" for _, w in cols]
        rows.append(f"| w{j} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
