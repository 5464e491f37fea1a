"""Numerical computation (the optimisation half): Newton's method against gradient descent, and
constrained optimisation by projected gradient and by the KKT conditions / the Lagrangian.

Every gradient and Hessian comes from shendu's autograd (``shendu.autograd.functional.hessian``);
linear systems are solved with ``shendu.linalg.solve``. Each constrained answer is checked against
its closed form.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import shendu as sd
from shendu.autograd.functional import hessian
from shendu.experiments._progress import stages
from shendu.experiments.plotting import figure, save

# a 2-D quadratic f(x) = ½ xᵀHx − gᵀx with condition number 20, rotated so its axes are not the coordinates
_R = np.array([[math.cos(0.5), -math.sin(0.5)], [math.sin(0.5), math.cos(0.5)]])
H_QUAD = _R @ np.diag([1.0, 20.0]) @ _R.T
G_QUAD = np.array([1.0, 2.0])
START_QUAD = np.array([-2.5, 1.5])
START_ROSEN = np.array([-1.2, 1.0])


def quadratic(x: sd.Tensor) -> sd.Tensor:
    H, g = sd.tensor(H_QUAD, dtype=x.dtype), sd.tensor(G_QUAD, dtype=x.dtype)
    return 0.5 * (x @ (H @ x)) - g @ x


def rosenbrock(x: sd.Tensor) -> sd.Tensor:
    """(1 − x)² + 100 (y − x²)²: the curved valley, minimum 0 at (1, 1)."""
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def _grad(f, x: np.ndarray) -> tuple[float, np.ndarray]:
    t = sd.tensor(x, dtype=sd.float64, requires_grad=True)
    y = f(t)
    (g,) = sd.autograd.grad(y, t)
    return float(y), g.numpy()


def gradient_descent(f, x0: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """Plain gradient descent with ``shendu.optim.SGD``; returns the trajectory (steps + 1, 2)."""
    x = sd.tensor(x0, dtype=sd.float64, requires_grad=True)
    opt = sd.optim.SGD([x], lr=lr)
    path = [x0.copy()]
    for _ in range(steps):
        opt.zero_grad()
        f(x).backward()
        opt.step()
        path.append(x.detach().numpy().copy())
    return np.array(path)


def newton(f, x0: np.ndarray, steps: int, tol: float = 1e-12) -> np.ndarray:
    """Newton's method x ← x − H(x)⁻¹∇f(x) with the autograd gradient and Hessian; the trajectory."""
    x, path = x0.astype(np.float64), [x0.astype(np.float64)]
    for _ in range(steps):
        t = sd.tensor(x, dtype=sd.float64)
        _, g = _grad(f, x)
        if np.linalg.norm(g) < tol:
            break
        H = hessian(f, t)
        x = x - sd.linalg.solve(H, sd.tensor(g)).numpy()
        path.append(x.copy())
    return np.array(path)


def values(f, path: np.ndarray) -> np.ndarray:
    return np.array([float(f(sd.tensor(p, dtype=sd.float64))) for p in path])


# -- constrained problems --------------------------------------------------------------------------
# minimise ‖Ax − b‖² (the textbook's example) over the box [-1, 1] × [-1, 2] or the unit ball ‖x‖ ≤ 1
BOX_LOW, BOX_HIGH = np.array([-1.0, -1.0]), np.array([1.0, 2.0])
A_CON = np.array([[2.0, 0.5], [0.5, 1.0], [1.0, -1.0]])
B_CON = np.array([3.0, 2.5, 0.5])


def constrained_loss(x: sd.Tensor) -> sd.Tensor:
    r = sd.tensor(A_CON, dtype=x.dtype) @ x - sd.tensor(B_CON, dtype=x.dtype)
    return (r * r).sum()


def project_box(x: np.ndarray) -> np.ndarray:
    return np.clip(x, BOX_LOW, BOX_HIGH)


def project_ball(x: np.ndarray, radius: float = 1.0) -> np.ndarray:
    n = np.linalg.norm(x)
    return x if n <= radius else x * (radius / n)


def projected_gradient(project, x0: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """x ← P(x − lr ∇f(x)): SGD steps followed by the projection onto the feasible set; the trajectory."""
    x = sd.tensor(project(x0), dtype=sd.float64, requires_grad=True)
    opt = sd.optim.SGD([x], lr=lr)
    path = [x.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        constrained_loss(x).backward()
        opt.step()
        with sd.no_grad():
            x.copy_(sd.tensor(project(x.detach().numpy())))
        path.append(x.detach().numpy().copy())
    return np.array(path)


def ball_kkt_solution(radius: float = 1.0) -> tuple[np.ndarray, float]:
    """The KKT point of min ‖Ax − b‖² s.t. xᵀx ≤ r²: x(λ) = (AᵀA + λI)⁻¹Aᵀb with λ ≥ 0 and λ(‖x‖² − r²) = 0.

    The Lagrangian is ‖Ax − b‖² + λ(xᵀx − r²); ‖x(λ)‖ falls as λ grows, so λ is found by bisection on
    ‖x(λ)‖ = r (λ = 0 when the unconstrained minimum is feasible). Each x(λ) is a shendu.linalg.solve.
    """
    AtA, Atb = sd.tensor(A_CON.T @ A_CON), sd.tensor(A_CON.T @ B_CON)

    def x_of(lam: float) -> np.ndarray:
        return sd.linalg.solve(AtA + lam * sd.eye(2, dtype=sd.float64), Atb).numpy()

    if np.linalg.norm(x_of(0.0)) <= radius:
        return x_of(0.0), 0.0
    lo, hi = 0.0, 1.0
    while np.linalg.norm(x_of(hi)) > radius:
        hi *= 2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.linalg.norm(x_of(mid)) > radius else (lo, mid)
    lam = 0.5 * (lo + hi)
    return x_of(lam), lam


def box_solution_by_active_sets(low: np.ndarray = BOX_LOW, high: np.ndarray = BOX_HIGH) -> np.ndarray:
    """The exact box-constrained minimiser by enumerating the active sets (each coordinate free or at a bound)
    and keeping the feasible candidate satisfying KKT with the lowest loss: the closed form for a 2-D box."""
    AtA, Atb = A_CON.T @ A_CON, A_CON.T @ B_CON
    best, best_val = None, math.inf
    for s0 in (None, low[0], high[0]):
        for s1 in (None, low[1], high[1]):
            fixed = {i: v for i, v in enumerate((s0, s1)) if v is not None}
            x = np.zeros(2)
            for i, v in fixed.items():
                x[i] = v
            free = [i for i in range(2) if i not in fixed]
            if free:
                rhs = Atb[free] - AtA[np.ix_(free, list(fixed))] @ x[list(fixed)] if fixed else Atb[free]
                x[free] = np.linalg.solve(AtA[np.ix_(free, free)], rhs)
            if np.all(x >= low - 1e-12) and np.all(x <= high + 1e-12):
                val = float(np.sum((A_CON @ x - B_CON) ** 2))
                if val < best_val:
                    best, best_val = x, val
    return best


# min ½ xᵀQx − cᵀx  s.t.  Ex = d (two constraints in three unknowns)
Q_EQ = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]])
C_EQ = np.array([1.0, -2.0, 0.5])
E_EQ = np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 2.0]])
D_EQ = np.array([1.0, 0.5])


def equality_closed_form() -> tuple[np.ndarray, np.ndarray]:
    """x* and ν* by elimination: ν = (E Q⁻¹ Eᵀ)⁻¹ (E Q⁻¹ c − d), x = Q⁻¹(c − Eᵀν) (NumPy, float64)."""
    Qi = np.linalg.inv(Q_EQ)
    nu = np.linalg.solve(E_EQ @ Qi @ E_EQ.T, E_EQ @ Qi @ C_EQ - D_EQ)
    return Qi @ (C_EQ - E_EQ.T @ nu), nu


def equality_kkt() -> tuple[np.ndarray, np.ndarray]:
    """x* and ν* from the KKT system [[Q, Eᵀ], [E, 0]] [x; ν] = [c; d] (∇ₓL = 0 and the constraints), solved
    with shendu.linalg.solve."""
    n, m = Q_EQ.shape[0], E_EQ.shape[0]
    K = np.block([[Q_EQ, E_EQ.T], [E_EQ, np.zeros((m, m))]])
    sol = sd.linalg.solve(sd.tensor(K), sd.tensor(np.concatenate([C_EQ, D_EQ]))).numpy()
    return sol[:n], sol[n:]


def equality_augmented_lagrangian(rho: float = 10.0, outer: int = 30, inner: int = 200) -> tuple:
    """The method of multipliers: minimise L_ρ(x, ν) = f(x) + νᵀ(Ex − d) + ρ/2 ‖Ex − d‖² over x with
    shendu.optim.SGD, then ν ← ν + ρ(Ex − d). Returns x, ν and the constraint violation per outer step."""
    Q, c, E, d = (sd.tensor(a) for a in (Q_EQ, C_EQ, E_EQ, D_EQ))
    x = sd.zeros(3, dtype=sd.float64, requires_grad=True)
    nu = sd.zeros(2, dtype=sd.float64)
    curvature = float(np.linalg.eigvalsh(Q_EQ + rho * E_EQ.T @ E_EQ)[-1])
    opt = sd.optim.SGD([x], lr=1.0 / curvature, momentum=0.9)
    violations = []
    for _ in range(outer):
        for _ in range(inner):
            opt.zero_grad()
            r = E @ x - d
            (0.5 * (x @ (Q @ x)) - c @ x + nu @ r + 0.5 * rho * (r * r).sum()).backward()
            opt.step()
        with sd.no_grad():
            r = E @ x - d
            nu = nu + rho * r
        violations.append(float(sd.linalg.vector_norm(r)))
    return x.detach().numpy(), nu.numpy(), violations


# -- the experiment -----------------------------------------------------------------------------
def _contours(ax, f, xlim, ylim, levels, log=False):
    xs, ys = np.linspace(*xlim, 200), np.linspace(*ylim, 200)
    X, Y = np.meshgrid(xs, ys)
    pts = sd.tensor(np.stack([X.ravel(), Y.ravel()]), dtype=sd.float64)
    Z = f(pts).numpy().reshape(X.shape) if f is not quadratic else _quad_grid(X, Y)
    ax.contour(X, Y, np.log10(Z + 1e-3) if log else Z, levels=levels, cmap="Greys", linewidths=0.7)


def _quad_grid(X, Y):
    P = np.stack([X, Y], -1)
    return 0.5 * np.einsum("...i,ij,...j->...", P, H_QUAD, P) - P @ G_QUAD


def _loss_grid(x):  # constrained_loss on a (2, N) grid
    r = sd.tensor(A_CON) @ x - sd.tensor(B_CON).unsqueeze(-1)
    return (r * r).sum(0)


def run(out: Path, seed: int = 0, quick: bool = False, progress=None) -> dict:
    stage = stages(progress, "numerical", 5)
    out = Path(out)
    results: dict = {"seed": seed}

    stage("Newton against gradient descent on a quadratic")
    x_star = np.linalg.solve(H_QUAD, G_QUAD)
    f_star = float(quadratic(sd.tensor(x_star)))
    L = float(np.linalg.eigvalsh(H_QUAD)[-1])
    gd_q = gradient_descent(quadratic, START_QUAD, 1.0 / L, 300)
    nt_q = newton(quadratic, START_QUAD, 5)
    gap_gd, gap_nt = values(quadratic, gd_q) - f_star, values(quadratic, nt_q) - f_star
    results["quadratic"] = {"condition_number": float(np.linalg.cond(H_QUAD)), "newton_steps": len(nt_q) - 1,
                            "newton_error": float(np.linalg.norm(nt_q[1] - x_star)),
                            "gd_steps": len(gd_q) - 1, "gd_final_gap": float(gap_gd[-1]),
                            "gd_steps_to_1e-6": int(np.argmax(gap_gd < 1e-6)) if (gap_gd < 1e-6).any() else None}
    fig, axes = figure(1, 2, figsize=(11, 4.6), title="A quadratic with condition number 20: gradient descent "
                       "zig-zags, Newton's method lands on the minimum in one step")
    _contours(axes[0], quadratic, (-3, 2), (-1.5, 2.5), 25)
    axes[0].plot(gd_q[:, 0], gd_q[:, 1], ".-", ms=3, lw=0.8, label="gradient descent (step 1/L)")
    axes[0].plot(nt_q[:, 0], nt_q[:, 1], "o-", color="C3", label="Newton")
    axes[0].plot(*x_star, "k*", ms=12, label="minimum")
    axes[0].set_aspect("equal")
    axes[0].legend(fontsize=8, loc="lower right")
    axes[1].semilogy(np.maximum(gap_gd, 1e-16), label="gradient descent")
    axes[1].semilogy(np.maximum(gap_nt, 1e-16), "o-", color="C3", label="Newton")
    axes[1].set_xlabel("iteration")
    axes[1].set_ylabel("f(x) − f(x*)  (floored at 1e-16)")
    axes[1].legend(fontsize=8)
    save(fig, out / "newton_vs_gd_quadratic.png")

    stage("Newton against gradient descent on Rosenbrock")
    gd_steps = 2000 if quick else 10000
    gd_r = gradient_descent(rosenbrock, START_ROSEN, 1e-3, gd_steps)
    nt_r = newton(rosenbrock, START_ROSEN, 50)
    vr_gd, vr_nt = values(rosenbrock, gd_r), values(rosenbrock, nt_r)
    results["rosenbrock"] = {"gd_steps": gd_steps, "gd_final_value": float(vr_gd[-1]),
                             "gd_final_distance": float(np.linalg.norm(gd_r[-1] - 1)),
                             "newton_steps": len(nt_r) - 1, "newton_final_value": float(vr_nt[-1]),
                             "newton_final_distance": float(np.linalg.norm(nt_r[-1] - 1))}
    fig, axes = figure(1, 2, figsize=(11, 4.6), title="Rosenbrock's valley: gradient descent (step 1e-3) crawls "
                       "along it; plain Newton overshoots once, then converges quadratically")
    _contours(axes[0], rosenbrock, (-2, 2), (-1, 3), 20, log=True)
    axes[0].plot(gd_r[::20, 0], gd_r[::20, 1], ".-", ms=2, lw=0.8, label=f"gradient descent ({gd_steps} steps)")
    axes[0].plot(nt_r[:, 0], nt_r[:, 1], "o-", color="C3", label=f"Newton ({len(nt_r) - 1} steps)")
    axes[0].plot(1, 1, "k*", ms=12, label="minimum (1, 1)")
    axes[0].legend(fontsize=8, loc="upper left")
    axes[1].loglog(np.arange(1, len(vr_gd) + 1), np.maximum(vr_gd, 1e-20), label="gradient descent")
    axes[1].loglog(np.arange(1, len(vr_nt) + 1), np.maximum(vr_nt, 1e-20), "o-", color="C3", label="Newton")
    axes[1].set_xlabel("iteration + 1")
    axes[1].set_ylabel("f(x)  (floored at 1e-20)")
    axes[1].legend(fontsize=8)
    save(fig, out / "rosenbrock.png")

    stage("projected gradient on a box and a ball, the ball's KKT solution")
    lr = 0.5 / float(np.linalg.eigvalsh(A_CON.T @ A_CON)[-1])  # 1/L for ‖Ax − b‖², L = 2 σ_max²
    start = np.array([-0.4, -0.45])
    steps = 100 if quick else 300
    box_path = projected_gradient(project_box, start, lr, steps)
    ball_path = projected_gradient(project_ball, start, lr, steps)
    box_exact = box_solution_by_active_sets()
    ball_exact, lam = ball_kkt_solution()
    unconstrained = np.linalg.lstsq(A_CON, B_CON, rcond=None)[0]
    results["box"] = {"projected_gradient": box_path[-1].tolist(), "exact": box_exact.tolist(),
                      "error": float(np.linalg.norm(box_path[-1] - box_exact))}
    results["ball"] = {"projected_gradient": ball_path[-1].tolist(), "kkt": ball_exact.tolist(), "lambda": lam,
                       "error": float(np.linalg.norm(ball_path[-1] - ball_exact)),
                       "kkt_norm": float(np.linalg.norm(ball_exact))}
    results["unconstrained"] = unconstrained.tolist()
    fig, axes = figure(1, 2, figsize=(11, 5), title="min ‖Ax − b‖² under constraints: projected gradient descent "
                       "against the exact constrained minimiser")
    theta = np.linspace(0, 2 * np.pi, 200)
    for ax, path, exact, name in ((axes[0], box_path, box_exact, "box [−1, 1] × [−1, 2]"),
                                  (axes[1], ball_path, ball_exact, "unit ball ‖x‖ ≤ 1")):
        xs, ys = np.linspace(-1.5, 2.5, 200), np.linspace(-1.5, 2.5, 200)
        X, Y = np.meshgrid(xs, ys)
        Z = _loss_grid(sd.tensor(np.stack([X.ravel(), Y.ravel()]))).numpy().reshape(X.shape)
        ax.contour(X, Y, Z, levels=25, cmap="Greys", linewidths=0.7)
        if ax is axes[0]:
            (x0, y0), (x1, y1) = BOX_LOW, BOX_HIGH
            ax.fill([x0, x1, x1, x0], [y0, y0, y1, y1], color="C2", alpha=0.2, label="feasible set")
        else:
            ax.fill(np.cos(theta), np.sin(theta), color="C2", alpha=0.2, label="feasible set")
        ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=0.8, label="projected gradient")
        ax.plot(*exact, "r*", ms=13, label="exact (active sets)" if ax is axes[0] else f"KKT (λ = {lam:.3f})")
        ax.plot(*unconstrained, "kx", ms=9, label="unconstrained minimum")
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
    save(fig, out / "constrained.png")

    stage("an equality-constrained quadratic: KKT system, augmented Lagrangian, closed form")
    x_cf, nu_cf = equality_closed_form()
    x_kkt, nu_kkt = equality_kkt()
    x_al, nu_al, violations = equality_augmented_lagrangian(outer=10 if quick else 30)
    results["equality"] = {"closed_form": x_cf.tolist(), "multipliers": nu_cf.tolist(),
                           "kkt_error": float(np.linalg.norm(x_kkt - x_cf)),
                           "kkt_multiplier_error": float(np.linalg.norm(nu_kkt - nu_cf)),
                           "augmented_lagrangian_error": float(np.linalg.norm(x_al - x_cf)),
                           "augmented_lagrangian_multiplier_error": float(np.linalg.norm(nu_al - nu_cf)),
                           "violations": violations}
    fig, ax = figure(figsize=(6.5, 4.2), title="Method of multipliers: the constraint violation ‖Ex − d‖")
    ax.semilogy(np.arange(1, len(violations) + 1), np.maximum(violations, 1e-16), "o-")
    ax.set_xlabel("outer iteration (ν ← ν + ρ(Ex − d))")
    ax.set_ylabel("‖Ex − d‖")
    save(fig, out / "augmented_lagrangian.png")

    _write_report(out, results)
    stage.close()
    return results


def _v(x) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in x) + ")"


def _write_report(out: Path, r: dict) -> None:
    q, ro, box, ball, eq = r["quadratic"], r["rosenbrock"], r["box"], r["ball"], r["equality"]
    lines = ["# Numerical computation: Newton's method, gradient descent, constrained optimisation", "",
             "**Settings.** Gradients and Hessians from shendu's autograd (float64); linear systems by "
             "shendu.linalg.solve; gradient descent with shendu.optim.SGD. Deterministic (no random draws).", "",
             "## Newton's method against gradient descent", "",
             f"On f(x) = ½ xᵀHx − gᵀx with κ(H) = {q['condition_number']:.0f}, Newton's step −H⁻¹∇f lands on the "
             f"minimum in {q['newton_steps']} step (error {q['newton_error']:.1e}); gradient descent with the best "
             f"fixed step 1/L needs {q['gd_steps_to_1e-6']} steps to bring f − f* under 1e-6, shrinking the error "
             "by about (1 − 1/κ) per step along the flat direction.", "",
             "![quadratic](newton_vs_gd_quadratic.png)", "",
             "*Figure 1.* Left: trajectories on the contours of the quadratic. Right: f − f* per iteration.", "",
             f"On Rosenbrock's function from (−1.2, 1), Newton's method reaches (1, 1) in {ro['newton_steps']} steps "
             f"(f = {ro['newton_final_value']:.1e}; unsafeguarded, it overshoots out of the valley on the way, "
             "then converges quadratically); gradient descent with step 1e-3 (larger steps diverge in the "
             f"steep walls) is still {ro['gd_final_distance']:.2e} from the minimum after {ro['gd_steps']} steps "
             f"(f = {ro['gd_final_value']:.1e}): the valley's curvature differs by orders of magnitude across and "
             "along it.", "",
             "![rosenbrock](rosenbrock.png)", "",
             "*Figure 2.* Left: the trajectories on log-spaced contours (every 20th gradient step drawn). Right: "
             "f(x) per iteration (log-log).", "",
             "## Constrained optimisation", "",
             "min ‖Ax − b‖² (A 3×2) over a box and over the unit ball by projected gradient descent: a gradient "
             "step, then the projection onto the feasible set (clipping; scaling back onto the sphere).", "",
             "| feasible set | projected gradient | exact | distance |", "|---|---|---|---|",
             f"| box [−1, 1] × [−1, 2] | {_v(box['projected_gradient'])} | {_v(box['exact'])} (active sets) | "
             f"{box['error']:.1e} |",
             f"| unit ball | {_v(ball['projected_gradient'])} | {_v(ball['kkt'])} (KKT, λ = {ball['lambda']:.4f}) | "
             f"{ball['error']:.1e} |", "",
             "The ball's exact answer comes from the Lagrangian ‖Ax − b‖² + λ(xᵀx − 1): stationarity gives "
             "x(λ) = (AᵀA + λI)⁻¹Aᵀb, and complementary slackness with λ > 0 (the unconstrained minimum "
             f"{_v(r['unconstrained'])} lies outside) puts x on the sphere (‖x‖ = {ball['kkt_norm']:.6f}); λ is "
             "found by bisection since ‖x(λ)‖ decreases in λ.", "",
             "![constrained](constrained.png)", "",
             "*Figure 3.* Contours of ‖Ax − b‖², the feasible set (green), the projected-gradient path and the "
             "exact constrained minimiser (red star).", "",
             "## An equality-constrained quadratic", "",
             "min ½ xᵀQx − cᵀx subject to Ex = d (three unknowns, two constraints). The KKT conditions "
             "Qx − c + Eᵀν = 0, Ex = d are one linear system [[Q, Eᵀ], [E, 0]] [x; ν] = [c; d].", "",
             f"- closed form by elimination: x* = {_v(eq['closed_form'])}, ν* = {_v(eq['multipliers'])}",
             f"- KKT system (shendu.linalg.solve): |x − x*| = {eq['kkt_error']:.1e}, |ν − ν*| = "
             f"{eq['kkt_multiplier_error']:.1e}",
             f"- augmented Lagrangian (SGD on x, ν ← ν + ρ(Ex − d), {len(eq['violations'])} outer steps): "
             f"|x − x*| = {eq['augmented_lagrangian_error']:.1e}, |ν − ν*| = "
             f"{eq['augmented_lagrangian_multiplier_error']:.1e}", "",
             "![augmented lagrangian](augmented_lagrangian.png)", "",
             "*Figure 4.* The constraint violation of the method of multipliers per outer iteration: it falls "
             "geometrically as the multipliers converge.", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
