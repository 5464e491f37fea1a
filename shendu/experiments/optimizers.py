"""Optimizers compared: trajectories on an ill-conditioned quadratic and on Rosenbrock's function,
and training curves of an MLP on the digits.

On f(x, y) = ½ (x² + κ y²) with κ = 20, plain SGD must use a step below 2/κ and crawls along the
shallow direction; momentum and Nesterov build speed along it; AdaGrad, RMSprop and Adam rescale
each coordinate. Rosenbrock's curved valley f = (1 - x)² + 100 (y - x²)² shows the same effects
on a non-convex function. Every step is ``shendu.optim``'s, with gradients from shendu's autograd.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import shendu as sd
from shendu import nn, optim
from shendu.experiments._progress import stages
from shendu.experiments.plotting import figure, integer_ticks, legend_outside, save

KAPPA = 20.0


def quadratic(p: sd.Tensor) -> sd.Tensor:
    return 0.5 * (p[0] ** 2 + KAPPA * p[1] ** 2)


def rosenbrock(p: sd.Tensor) -> sd.Tensor:
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


# name -> (optimizer class, its settings); the lambdas below build one for a parameter list
_QUADRATIC = {
    "SGD": (optim.SGD, {"lr": 0.09}),
    # near the heavy-ball optimum for curvatures in [1, κ]: β ≈ ((√κ - 1)/(√κ + 1))², lr ≈ (1 + β)/κ
    "momentum": (optim.SGD, {"lr": 0.05, "momentum": 0.6}),
    "Nesterov": (optim.SGD, {"lr": 0.05, "momentum": 0.6, "nesterov": True}),
    "AdaGrad": (optim.Adagrad, {"lr": 1.0}),
    "RMSprop": (optim.RMSprop, {"lr": 0.05}),
    "Adam": (optim.Adam, {"lr": 0.5}),
}
_ROSENBROCK = {
    "SGD": (optim.SGD, {"lr": 1e-3}),
    "momentum": (optim.SGD, {"lr": 1e-3, "momentum": 0.9}),
    "Nesterov": (optim.SGD, {"lr": 1e-3, "momentum": 0.9, "nesterov": True}),
    "AdaGrad": (optim.Adagrad, {"lr": 0.5}),
    "RMSprop": (optim.RMSprop, {"lr": 1e-2}),
    "Adam": (optim.Adam, {"lr": 5e-2}),
}
_MLP = {
    "SGD": (optim.SGD, {"lr": 0.05}),
    "momentum": (optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    "Nesterov": (optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    "AdaGrad": (optim.Adagrad, {"lr": 0.05}),
    "RMSprop": (optim.RMSprop, {"lr": 1e-3}),
    "Adam": (optim.Adam, {"lr": 1e-3}),
}
FAMILIES = (("SGD", "momentum", "Nesterov"), ("AdaGrad", "RMSprop", "Adam"))


def _maker(cls, settings: dict):
    return lambda params: cls(params if isinstance(params, list) else [params], **settings)


QUADRATIC_SETUPS = {name: _maker(*setup) for name, setup in _QUADRATIC.items()}
ROSENBROCK_SETUPS = {name: _maker(*setup) for name, setup in _ROSENBROCK.items()}


def settings_text(settings: dict) -> str:
    """``{"lr": 0.05, "momentum": 0.6, "nesterov": True}`` -> ``"lr 0.05, β 0.6"`` (Nesterov is in the name)."""
    parts = [f"lr {settings['lr']:g}"]
    if settings.get("momentum"):
        parts.append(f"β {settings['momentum']:g}")
    return ", ".join(parts)


def trajectory(fn, make_optimizer, start, steps: int) -> np.ndarray:
    """The iterates of ``make_optimizer`` minimising ``fn`` from ``start``: shape (steps + 1, 2)."""
    p = nn.Parameter(sd.tensor(start, dtype=sd.float64))
    opt = make_optimizer(p)
    points = [p.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        fn(p).backward()
        opt.step()
        points.append(p.detach().numpy().copy())
    return np.array(points)


def mlp_curves(seed: int, epochs: int) -> dict:
    """Training loss per epoch of one 64-64-10 MLP on the digits for each optimizer."""
    from shendu.data import DataLoader, TensorDataset, load_digits
    x, y = load_digits(standardize=True)
    curves = {}
    for name, (cls, settings) in _MLP.items():
        sd.manual_seed(seed)
        model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
        opt = cls(list(model.parameters()), **settings)
        loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True,
                            generator=sd.Generator().manual_seed(seed))
        losses = []
        for _ in range(epochs):
            total, count = 0.0, 0
            for xb, yb in loader:
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()
                total += float(loss) * len(yb)
                count += len(yb)
            losses.append(total / count)
        curves[name] = losses
    return curves


PROBLEMS = {  # name: (function, setups, start, minimum, plot window, title)
    "quadratic": (quadratic, _QUADRATIC, (-4.0, 1.5), (0.0, 0.0), (-4.5, 4.5, -2.0, 2.0),
                  f"quadratic f = ½(θ₁² + {KAPPA:g} θ₂²)"),
    "rosenbrock": (rosenbrock, _ROSENBROCK, (-1.5, 2.0), (1.0, 1.0), (-2.0, 2.0, -1.0, 3.0),
                   "Rosenbrock f = (1 − θ₁)² + 100 (θ₂ − θ₁²)²"),
}
TOLERANCE = 1e-3  # "reached the minimum": f(θ) − f* below this


def _values(fn, path: np.ndarray) -> np.ndarray:
    with sd.no_grad():
        return fn(sd.tensor(path.T.copy(), dtype=sd.float64)).numpy()  # f at every iterate, (steps + 1,)


def run(out: Path, seed: int = 0, quick: bool = False, progress=None) -> dict:
    """``seed`` seeds the MLP's initial weights and batches (the 2-D problems are deterministic)."""
    stage = stages(progress, "optimizers", len(PROBLEMS) + 3)
    out = Path(out)
    steps = {"quadratic": 60, "rosenbrock": 400 if quick else 2000}
    epochs = 5 if quick else 20
    results: dict = {"seed": seed, "steps": steps, "mlp_epochs": epochs, "tolerance": TOLERANCE}
    paths, values = {}, {}
    for name, (fn, setups, start, _, _, _) in PROBLEMS.items():
        stage(f"{name}: {steps[name]} steps of each optimizer")
        paths[name] = {k: trajectory(fn, _maker(*setup), start, steps[name]) for k, setup in setups.items()}
        values[name] = {k: _values(fn, p) for k, p in paths[name].items()}
        results[f"{name}_final_loss"] = {k: float(v[-1]) for k, v in values[name].items()}
        results[f"{name}_steps_to_tolerance"] = {
            k: (int(np.argmax(v < TOLERANCE)) if np.any(v < TOLERANCE) else None) for k, v in values[name].items()}
    stage("trajectory figures")
    _plot_trajectories(paths, steps, out / "optimizer_trajectories.png")
    _plot_values(values, steps, out / "optimizer_losses.png")

    stage(f"64-64-10 MLP on the digits, {epochs} epochs of each optimizer")
    curves = mlp_curves(seed, epochs)
    fig, ax = figure(figsize=(7, 4.8), title=f"64-64-10 ReLU MLP on the 8x8 digits (all 1797, standardised), "
                     f"batches of 64, seed {seed}")
    for name, losses in curves.items():
        ax.semilogy(range(1, len(losses) + 1), losses, "-" if name in FAMILIES[0] else "--",
                    label=f"{name} ({settings_text(_MLP[name][1])})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training cross-entropy (mean over the epoch)")
    integer_ticks(ax, "x")
    ax.grid(alpha=0.3)
    legend_outside(fig, ax, ncol=3)
    save(fig, out / "optimizer_mlp_curves.png")
    results["mlp_final_train_loss"] = {k: v[-1] for k, v in curves.items()}
    results["mlp_curves"] = curves

    stage("writing the report")
    _write_report(out, results)
    stage.close()
    return results


def _contours(ax, fn, window) -> None:
    x0, x1, y0, y1 = window
    gx, gy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    with sd.no_grad():
        zz = fn(sd.tensor(np.stack([gx, gy]), dtype=sd.float64)).numpy()
    ax.contour(gx, gy, np.log1p(zz), levels=25, cmap="Greys", linewidths=0.5, alpha=0.7)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("θ₁")
    ax.set_ylabel("θ₂")


def _plot_trajectories(paths: dict, steps: dict, path: Path) -> None:
    fig, axes = figure(len(PROBLEMS), 2, figsize=(12, 9.5), squeeze=False,
                       title="Optimizer trajectories (contours: levels of ln(1 + f))")
    for row, (name, (fn, setups, start, minimum, window, title)) in enumerate(PROBLEMS.items()):
        for col, family in enumerate(FAMILIES):
            ax = axes[row, col]
            _contours(ax, fn, window)
            # widest first, so that where paths share the valley floor each stays visible beside the next
            for k, color, lw in zip(family, ("tab:blue", "tab:orange", "tab:green"), (4.0, 2.2, 1.0)):
                p = paths[name][k]
                ax.plot(p[:, 0], p[:, 1], "-", color=color, lw=lw, alpha=0.85,
                        label=f"{k} ({settings_text(setups[k][1])})")
                ax.plot(*p[-1], "X", color=color, mec="k", mew=0.6, ms=9, zorder=4)
            ax.plot(*start, "ko", ms=6, label=f"start {start}")
            ax.plot(*minimum, "k*", ms=12, label=f"minimum {minimum}")
            ax.plot([], [], "X", color="w", mec="k", ms=8, label="where each path ends")
            ax.set_title(f"{title}: {steps[name]} steps", fontsize=10)
            ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
    save(fig, path)


def _plot_values(values: dict, steps: dict, path: Path) -> None:
    fig, axes = figure(1, len(PROBLEMS), figsize=(12, 4.8), title="Distance to the minimum's value, f(θₜ) − f*")
    for ax, (name, per_optimizer) in zip(axes, values.items()):
        for k, v in per_optimizer.items():
            ax.semilogy(np.arange(len(v)), np.maximum(v, 1e-16), "-" if k in FAMILIES[0] else "--", lw=1.3,
                        label=k)
        ax.axhline(TOLERANCE, color="grey", ls=":", lw=1, label=f"tolerance {TOLERANCE:g}")
        ax.set_xlabel("step t")
        ax.set_ylabel("f(θₜ) − f*  (f* = 0; floored at 1e-16)")
        ax.set_title(PROBLEMS[name][5], fontsize=10)
        integer_ticks(ax, "x")
        ax.grid(alpha=0.3)
    legend_outside(fig, axes[0], ncol=7)
    save(fig, path)


def _ranking(values: dict) -> str:
    order = sorted(values, key=values.get)
    return ", ".join(f"{k} ({values[k]:.2g})" for k in order)


def _write_report(out: Path, r: dict) -> None:
    lines = ["# Optimizers compared", "",
             "**Settings.** Every step is a `shendu.optim` optimizer's, with gradients from shendu's autograd "
             "(float64 for the 2-D problems). The settings below were chosen by hand per problem (no search), so "
             "a ranking says how these settings do rather than which method is best. f* = 0 for both 2-D "
             f"functions; 'steps to {TOLERANCE:g}' is the first step t with f(θₜ) < {TOLERANCE:g} (— if never).", ""]
    for name, (_, setups, start, minimum, _, title) in PROBLEMS.items():
        final, reach = r[f"{name}_final_loss"], r[f"{name}_steps_to_tolerance"]
        lines += [f"## {title}", "", f"{r['steps'][name]} steps from θ = {start}; the minimum is at {minimum}.", "",
                  f"| optimizer | settings | f after {r['steps'][name]} steps | steps to {TOLERANCE:g} |",
                  "|---|---|---|---|"]
        lines += [f"| {k} | {settings_text(setups[k][1])} | {final[k]:.3g} | "
                  f"{reach[k] if reach[k] is not None else '—'} |" for k in setups]
        reached = [k for k in setups if reach[k] is not None]
        fastest = min(reached, key=reach.get) if reached else None
        beat = [k for k in setups if k != "SGD" and final[k] < final["SGD"]]
        lines += ["", f"Ranked by the final value: {_ranking(final)}. "
                  + (f"Fastest below {TOLERANCE:g}: {fastest} (step {reach[fastest]}); "
                     f"{len(reached)} of {len(setups)} get there. " if fastest else
                     f"None gets below {TOLERANCE:g}. ")
                  + (f"Lower than plain SGD at the end: {', '.join(beat)}." if beat else
                     "None ends lower than plain SGD."), ""]
    lines += ["![trajectories](optimizer_trajectories.png)", "",
              "*Figure 1.* Trajectories on the contours of each function, the SGD family on the left and the "
              "adaptive methods on the right (three per panel so that the paths stay apart; where they share a "
              "route the wider line lies underneath), the start a black dot, each path's end a cross, the minimum "
              "a star. On the quadratic, look at plain SGD zig-zagging across "
              "the steep θ₂ direction while momentum builds speed along the shallow θ₁ direction; on Rosenbrock, "
              "at who follows the curved valley floor to (1, 1).", "",
              "![losses](optimizer_losses.png)", "",
              "*Figure 2.* The same runs as f(θₜ) − f* against the step (log scale): the slope is the rate of "
              "convergence; the dotted line is the tolerance used in the tables.", "",
              "## 64-64-10 MLP on the 8x8 digits", "",
              f"All 1797 digits (standardised pixels), cross-entropy, mini-batches of 64 for {r['mlp_epochs']} "
              f"epochs, the same initial weights and batch order (seed {r['seed']}) for each optimizer.", "",
              "| optimizer | settings | training loss after the last epoch |", "|---|---|---|"]
    lines += [f"| {k} | {settings_text(_MLP[k][1])} | {v:.3g} |" for k, v in r["mlp_final_train_loss"].items()]
    mlp = r["mlp_final_train_loss"]
    names = list(mlp)
    close = [f"{a} and {b}" for i, a in enumerate(names) for b in names[i + 1:]
             if abs(np.log(mlp[a] / mlp[b])) < 0.02 and max(abs(np.log(np.array(r["mlp_curves"][a]) /
                                                               np.array(r["mlp_curves"][b])))) < 0.1]
    lines += ["", f"Ranked: {_ranking(mlp)}. This is the training loss only (how fast each optimizer fits), not "
              "how well the fitted network generalises."
              + (f" Curves within 10 % of each other at every epoch (they overlap in Figure 3): {'; '.join(close)}."
                 if close else ""), "",
              "![mlp](optimizer_mlp_curves.png)", "",
              "*Figure 3.* Training cross-entropy per epoch (mean over the epoch's batches, log scale); solid: the SGD "
              "family, dashed: the adaptive methods.", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
