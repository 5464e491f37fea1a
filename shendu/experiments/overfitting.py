"""Over-fitting: an MLP's training vs validation loss as its capacity and its training set change.

The data are scikit-learn's two moons with Gaussian noise (σ = 0.3), so the classes overlap and
no classifier is perfect: a model that drives its training loss towards zero is fitting the
noise of its particular sample. One-hidden-layer ReLU MLPs (2-w-2) are trained with Adam
(lr = 0.003, mini-batches of 32, no regularisation) and evaluated on 1000 fresh points.

(a) Capacity. With 100 training points, sweeping the width w from 2 to 1024: the training loss
    keeps falling as w grows, the validation loss first falls (under-fitting: the model cannot
    bend the boundary enough) and then rises again (over-fitting: the boundary wraps around
    individual noisy points), the textbook's U-shaped generalisation curve; the gap between the
    two grows with capacity.
(b) Data. With the largest model fixed, growing the training set from 25 to 1600 points (every
    run gets the same number of optimizer steps): the training loss rises towards the noise
    floor, the validation loss falls, and the gap closes.
(c) Learning curves, loss per epoch, for a small and a large model: the small model's two curves
    stay together, the large model's validation loss turns up while its training loss keeps
    falling.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import shendu as sd
from shendu.experiments._training import evaluate, mlp, train
from shendu.experiments.plotting import pyplot, save

NOISE, N_TRAIN, N_VAL, LR, BATCH = 0.3, 100, 1000, 3e-3, 32
WIDTHS = (2, 4, 8, 16, 64, 256, 1024)
SIZES = (25, 50, 100, 200, 400, 800, 1600)
SMALL, LARGE = 4, 1024
BOUNDARY_WIDTHS = (4, 64, 1024)


def moons(n: int, seed: int) -> tuple[sd.Tensor, sd.Tensor]:
    from shendu.data import two_moons
    return two_moons(n, noise=NOISE, seed=seed)


def fit_width(width: int, train_data: tuple, val_data: tuple, epochs: int, seed: int) -> dict:
    """Train a 2-width-2 MLP; its history, final train/validation loss and accuracy, and the model."""
    model = mlp([2, width, 2], seed=seed)
    _, history = train(model, train_data, val_data, epochs=epochs, lr=LR, batch_size=BATCH, seed=seed)
    return {"model": model, "history": {k: list(v) for k, v in history.items()},
            "train": evaluate(model, *train_data), "val": evaluate(model, *val_data)}


def capacity_sweep(seed: int, epochs: int, widths=WIDTHS) -> dict:
    """(a): every width on the same N_TRAIN points."""
    train_data, val_data = moons(N_TRAIN, seed), moons(N_VAL, seed + 1000)
    return {w: fit_width(w, train_data, val_data, epochs, seed) for w in widths}


def size_sweep(seed: int, steps: int, sizes=SIZES, width: int = LARGE) -> dict:
    """(b): the width-``width`` model on nested training sets; ~``steps`` optimizer steps each."""
    pool, val_data = moons(max(sizes), seed), moons(N_VAL, seed + 1000)
    out = {}
    for n in sizes:
        train_data = (pool[0][:n], pool[1][:n])
        epochs = max(1, round(steps / math.ceil(n / BATCH)))
        model = mlp([2, width, 2], seed=seed)
        train(model, train_data, None, epochs=epochs, lr=LR, batch_size=BATCH, seed=seed)
        out[n] = {"train": evaluate(model, *train_data), "val": evaluate(model, *val_data), "epochs": epochs}
    return out


# -- figures ------------------------------------------------------------------------------------
def _plot_sweep(plt, xs, runs: list, xlabel: str, title: str, path: Path) -> None:
    """Train and validation loss/accuracy against ``xs``; error bars: std over the training-set draws."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, ylabel in ((axes[0], "loss", "cross-entropy"), (axes[1], "accuracy", "accuracy")):
        for part, marker, label in (("train", "o-", "training"), ("val", "s-", "validation")):
            ax.errorbar(xs, [r[part][key] for r in runs], yerr=[r[part + "_std"][key] for r in runs], fmt=marker,
                        capsize=3, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs)
        ax.set_xticklabels([str(x) for x in xs])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}: {ylabel}")
        ax.grid(alpha=0.3)
        ax.legend()
    save(fig, path)


def _plot_learning_curves(plt, runs: dict, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, width in zip(axes, (SMALL, LARGE)):
        h = runs[width]["history"]
        epochs = np.arange(1, len(h["loss"]) + 1)
        ax.plot(epochs, h["loss"], label="training (mean over the epoch's batches)")
        ax.plot(epochs, h["val_loss"], label="validation")
        best = int(np.argmin(h["val_loss"]))
        ax.axvline(best + 1, color="grey", ls=":", label=f"lowest validation loss (epoch {best + 1})")
        ax.set_title(f"width {width}: loss per epoch ({N_TRAIN} training points)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save(fig, path)


def _plot_boundaries(plt, runs: dict, train_data: tuple, path: Path) -> None:
    x, y = (t.numpy() for t in train_data)
    gx, gy = np.meshgrid(np.linspace(-1.7, 2.7, 200), np.linspace(-1.4, 1.9, 200))
    grid = sd.tensor(np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32))
    fig, axes = plt.subplots(1, len(BOUNDARY_WIDTHS), figsize=(5 * len(BOUNDARY_WIDTHS), 4))
    for ax, width in zip(axes, BOUNDARY_WIDTHS):
        model = runs[width]["model"]
        model.eval()
        with sd.no_grad():
            p = sd.nn.functional.softmax(model(grid), dim=1)[:, 1].numpy().reshape(gx.shape)
        ax.contourf(gx, gy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
        ax.contour(gx, gy, p, levels=[0.5], colors="k", linewidths=1.5)
        for label, color, marker in ((0, "tab:blue", "o"), (1, "tab:red", "^")):
            ax.scatter(x[y == label, 0], x[y == label, 1], c=color, marker=marker, edgecolors="k", s=22,
                       label=f"class {label}")
        r = runs[width]
        ax.set_title(f"width {width}: train loss {r['train']['loss']:.2f}, val loss {r['val']['loss']:.2f}")
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
        ax.legend(loc="lower left", fontsize=8)
    fig.suptitle("decision boundaries (black: p = 0.5) on the training points")
    save(fig, path)


# -- the experiment -----------------------------------------------------------------------------
def _mean_over_draws(draws: list[dict], keys) -> list[dict]:
    """Per key: mean and std over the draws of the train/val loss and accuracy (and the gap)."""
    out = []
    for k in keys:
        rs = [d[k] for d in draws]
        row = {"epochs": rs[0].get("epochs")}
        for part in ("train", "val"):
            row[part] = {m: float(np.mean([r[part][m] for r in rs])) for m in ("loss", "accuracy")}
            row[part + "_std"] = {m: float(np.std([r[part][m] for r in rs])) for m in ("loss", "accuracy")}
        row["gap"] = float(np.mean([r["val"]["loss"] - r["train"]["loss"] for r in rs]))
        out.append(row)
    return out


def run(out: Path, seed: int = 0, quick: bool = False) -> dict:
    """(a) and (b) on ``draws`` independent training sets (seeds ``seed``, ``seed + 1``, ...), averaged;
    the learning curves and decision boundaries are those of the first draw."""
    plt = pyplot()
    out = Path(out)
    epochs, steps, draws = (80, 300, 1) if quick else (300, 1200, 3)
    sizes = (25, 100, 400, 1600) if quick else SIZES
    caps = [capacity_sweep(s, epochs) for s in range(seed, seed + draws)]
    cap_runs = _mean_over_draws(caps, WIDTHS)
    data_runs = _mean_over_draws([size_sweep(s, steps, sizes) for s in range(seed, seed + draws)], sizes)

    title = f"{N_TRAIN} training points" + (f", mean ± std of {draws} draws" if draws > 1 else "")
    _plot_sweep(plt, list(WIDTHS), cap_runs, "hidden units (width)", title, out / "overfitting_capacity.png")
    title = f"width {LARGE}" + (f", mean ± std of {draws} draws" if draws > 1 else "")
    _plot_sweep(plt, list(sizes), data_runs, "training points", title, out / "overfitting_data.png")
    _plot_learning_curves(plt, caps[0], out / "overfitting_learning_curves.png")
    _plot_boundaries(plt, caps[0], moons(N_TRAIN, seed), out / "overfitting_boundaries.png")

    results = {
        "seed": seed, "draws": draws, "widths": list(WIDTHS), "sizes": list(sizes),
        "capacity_train_loss": [r["train"]["loss"] for r in cap_runs],
        "capacity_val_loss": [r["val"]["loss"] for r in cap_runs],
        "capacity_gap": [r["gap"] for r in cap_runs],
        "capacity_val_accuracy": [r["val"]["accuracy"] for r in cap_runs],
        "best_width": WIDTHS[int(np.argmin([r["val"]["loss"] for r in cap_runs]))],
        "data_train_loss": [r["train"]["loss"] for r in data_runs],
        "data_val_loss": [r["val"]["loss"] for r in data_runs],
        "data_gap": [r["gap"] for r in data_runs],
        "data_val_accuracy": [r["val"]["accuracy"] for r in data_runs],
        "small_best_epoch": int(np.argmin(caps[0][SMALL]["history"]["val_loss"])) + 1,
        "large_best_epoch": int(np.argmin(caps[0][LARGE]["history"]["val_loss"])) + 1,
    }
    _write_report(out, results, cap_runs, data_runs, epochs, steps)
    return results


def _row(first, r: dict, extra: str = "") -> str:
    return (f"| {first} |{extra} {r['train']['loss']:.3f} | {r['val']['loss']:.3f} ± {r['val_std']['loss']:.3f} | "
            f"{r['gap']:.3f} | {r['train']['accuracy']:.3f} | {r['val']['accuracy']:.3f} |")


def _write_report(out: Path, results: dict, cap_runs: list, data_runs: list, epochs: int, steps: int) -> None:
    draws = results["draws"]
    averaged = f"Means over {draws} independent training sets (± the std over them)" if draws > 1 else \
        "One training set (± 0: a single draw)"
    lines = ["# Over-fitting: capacity, data and learning curves", "",
             f"Two moons with noise σ = {NOISE}; {N_VAL} validation points; one-hidden-layer ReLU MLPs 2-w-2, "
             f"Adam (lr {LR}), mini-batches of {BATCH}, no regularisation; seed {results['seed']}. {averaged}.", "",
             f"## (a) Capacity: width sweep on {N_TRAIN} training points, {epochs} epochs", "",
             "| width | parameters | train loss | val loss | gap | train acc | val acc |",
             "|---|---|---|---|---|---|---|"]
    lines += [_row(w, r, f" {5 * w + 2} |") for w, r in zip(results["widths"], cap_runs)]
    lines += ["", f"The validation loss is lowest at width {results['best_width']}: narrower models under-fit, "
              "wider ones fit the noise — the training loss keeps falling while the gap grows.", "",
              "![capacity](overfitting_capacity.png)", "",
              "Decision boundaries of the first draw: the narrow model cannot bend enough, the wide one bends "
              "around single noisy points.", "", "![boundaries](overfitting_boundaries.png)", "",
              f"## (b) Data: width {LARGE} on growing training sets, ~{steps} optimizer steps each", "",
              "| training points | epochs | train loss | val loss | gap | train acc | val acc |",
              "|---|---|---|---|---|---|---|"]
    lines += [_row(n, r, f" {r['epochs']} |") for n, r in zip(results["sizes"], data_runs)]
    lines += ["", "More data closes the gap: the same large model can no longer memorise its sample.", "",
              "![data](overfitting_data.png)", "",
              f"## (c) Learning curves: width {SMALL} vs width {LARGE}", "",
              f"Lowest validation loss at epoch {results['small_best_epoch']} (width {SMALL}) and "
              f"{results['large_best_epoch']} (width {LARGE}) of {epochs}: the large model starts over-fitting early, "
              "which is what early stopping exploits.", "",
              "![learning curves](overfitting_learning_curves.png)", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
