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
from shendu.experiments.plotting import pyplot, save

KAPPA = 20.0


def quadratic(p: sd.Tensor) -> sd.Tensor:
    return 0.5 * (p[0] ** 2 + KAPPA * p[1] ** 2)


def rosenbrock(p: sd.Tensor) -> sd.Tensor:
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


QUADRATIC_SETUPS = {
    "SGD": lambda p: optim.SGD([p], lr=0.09),
    # near the heavy-ball optimum for curvatures in [1, κ]: β ≈ ((√κ - 1)/(√κ + 1))², lr ≈ (1 + β)/κ
    "momentum": lambda p: optim.SGD([p], lr=0.05, momentum=0.6),
    "Nesterov": lambda p: optim.SGD([p], lr=0.05, momentum=0.6, nesterov=True),
    "AdaGrad": lambda p: optim.Adagrad([p], lr=1.0),
    "RMSprop": lambda p: optim.RMSprop([p], lr=0.05),
    "Adam": lambda p: optim.Adam([p], lr=0.5),
}
ROSENBROCK_SETUPS = {
    "SGD": lambda p: optim.SGD([p], lr=1e-3),
    "momentum": lambda p: optim.SGD([p], lr=1e-3, momentum=0.9),
    "Nesterov": lambda p: optim.SGD([p], lr=1e-3, momentum=0.9, nesterov=True),
    "AdaGrad": lambda p: optim.Adagrad([p], lr=0.5),
    "RMSprop": lambda p: optim.RMSprop([p], lr=1e-2),
    "Adam": lambda p: optim.Adam([p], lr=5e-2),
}


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
    setups = {"SGD": lambda ps: optim.SGD(ps, lr=0.05),
              "momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
              "Nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
              "AdaGrad": lambda ps: optim.Adagrad(ps, lr=0.05),
              "RMSprop": lambda ps: optim.RMSprop(ps, lr=1e-3),
              "Adam": lambda ps: optim.Adam(ps, lr=1e-3)}
    curves = {}
    for name, make in setups.items():
        sd.manual_seed(seed)
        model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
        opt = make(list(model.parameters()))
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


def run(out: Path, seed: int = 0, quick: bool = False) -> dict:
    plt = pyplot()
    out = Path(out)
    results: dict = {}
    rosenbrock_steps = 400 if quick else 2000
    panels = [("quadratic", quadratic, QUADRATIC_SETUPS, (-4.0, 1.5), 60, (-4.5, 4.5, -2.0, 2.0)),
              ("rosenbrock", rosenbrock, ROSENBROCK_SETUPS, (-1.5, 2.0), rosenbrock_steps, (-2.0, 2.0, -1.0, 3.0))]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, (name, fn, setups, start, steps, (x0, x1, y0, y1)) in zip(axes, panels):
        gx, gy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
        with sd.no_grad():
            zz = fn(sd.tensor(np.stack([gx, gy]), dtype=sd.float64)).numpy()
        ax.contour(gx, gy, np.log1p(zz), levels=30, cmap="Greys", linewidths=0.6)
        finals = {}
        for opt_name, make in setups.items():
            path = trajectory(fn, make, start, steps)
            ax.plot(path[:, 0], path[:, 1], "-", lw=1.2, label=opt_name)
            with sd.no_grad():
                finals[opt_name] = float(fn(sd.tensor(path[-1], dtype=sd.float64)))
        ax.plot(*((0, 0) if name == "quadratic" else (1, 1)), "k*", ms=12)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(f"{name}: {steps} steps")
        ax.legend(fontsize=8)
        results[f"{name}_final_loss"] = finals
    save(fig, out / "optimizer_trajectories.png")

    curves = mlp_curves(seed, 5 if quick else 20)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, losses in curves.items():
        ax.semilogy(range(1, len(losses) + 1), losses, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training cross-entropy")
    ax.set_title("64-64-10 MLP on the 8x8 digits")
    ax.legend(fontsize=8)
    save(fig, out / "optimizer_mlp_curves.png")
    results["mlp_final_train_loss"] = {k: v[-1] for k, v in curves.items()}

    lines = ["# Optimizers compared", ""]
    for key in ("quadratic_final_loss", "rosenbrock_final_loss", "mlp_final_train_loss"):
        lines += [f"## {key.replace('_', ' ')}", "", "| optimizer | value |", "|---|---|"]
        lines += [f"| {k} | {v:.3g} |" for k, v in results[key].items()] + [""]
    lines += ["![trajectories](optimizer_trajectories.png)", "", "![mlp](optimizer_mlp_curves.png)", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return results
