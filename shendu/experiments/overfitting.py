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
from shendu.experiments._progress import stages
from shendu.experiments._training import evaluate, mlp, train
from shendu.experiments.plotting import figure, integer_ticks, legend_outside, save

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
def _plot_sweep(xs, runs: list, xlabel: str, title: str, path: Path) -> None:
    """Train and validation loss/accuracy against ``xs``; error bars: std over the training-set draws."""
    fig, axes = figure(1, 2, figsize=(11, 4.5), title=title)
    for ax, key, ylabel in ((axes[0], "loss", "cross-entropy (nats)"), (axes[1], "accuracy", "accuracy")):
        for part, marker, label in (("train", "o-", "training set"), ("val", "s-", f"validation set ({N_VAL} points)")):
            ax.errorbar(xs, [r[part][key] for r in runs], yerr=[r[part + "_std"][key] for r in runs], fmt=marker,
                        capsize=3, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs)
        ax.set_xticklabels([str(x) for x in xs])
        ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    legend_outside(fig, axes[0], ncol=2)
    save(fig, path)


def _plot_learning_curves(runs: dict, path: Path) -> None:
    fig, axes = figure(1, 2, figsize=(11, 4.5), sharey=True,
                       title=f"Loss per epoch on {N_TRAIN} training points: a narrow and a wide MLP")
    for ax, width in zip(axes, (SMALL, LARGE)):
        h = runs[width]["history"]
        epochs = np.arange(1, len(h["loss"]) + 1)
        ax.plot(epochs, h["loss"], label="training (mean over the epoch's batches)")
        ax.plot(epochs, h["val_loss"], label=f"validation ({N_VAL} points)")
        best = int(np.argmin(h["val_loss"]))
        ax.axvline(best + 1, color="grey", ls=":")
        ax.annotate(f"lowest validation loss\n(epoch {best + 1})", (best + 1, 0.98), xycoords=("data", "axes fraction"),
                    ha="right" if best > len(epochs) / 2 else "left", va="top", fontsize=8, color="0.3",
                    xytext=(-4 if best > len(epochs) / 2 else 4, 0), textcoords="offset points")
        ax.set_title(f"width {width} ({5 * width + 2} parameters)", fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy (nats)")
        integer_ticks(ax, "x")
        ax.grid(alpha=0.3)
    legend_outside(fig, axes[0], ncol=2)
    save(fig, path)


def _plot_boundaries(runs: dict, train_data: tuple, path: Path) -> None:
    x, y = (t.numpy() for t in train_data)
    gx, gy = np.meshgrid(np.linspace(-1.7, 2.7, 200), np.linspace(-1.4, 1.9, 200))
    grid = sd.tensor(np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32))
    fig, axes = figure(1, len(BOUNDARY_WIDTHS), figsize=(5 * len(BOUNDARY_WIDTHS), 4.6),
                       title=f"Decision boundaries (black: p = 0.5; shading: p(class 1 | x)) on the {N_TRAIN} "
                             "training points")
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
        ax.set_title(f"width {width}: train loss {r['train']['loss']:.2f}, val loss {r['val']['loss']:.2f}",
                     fontsize=10)
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
    legend_outside(fig, axes[0], ncol=2)
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


def run(out: Path, seed: int = 0, quick: bool = False, progress=None) -> dict:
    """(a) and (b) on ``draws`` independent training sets (seeds ``seed``, ``seed + 1``, ...), averaged;
    the learning curves and decision boundaries are those of the first draw."""
    out = Path(out)
    epochs, steps, draws = (80, 300, 1) if quick else (300, 1200, 3)
    sizes = (25, 100, 400, 1600) if quick else SIZES
    stage = stages(progress, "overfitting", 2 * draws + 1)
    caps, by_size = [], []
    for s in range(seed, seed + draws):
        stage(f"draw {s - seed + 1} of {draws}: widths {WIDTHS[0]}-{WIDTHS[-1]} on {N_TRAIN} points, {epochs} epochs")
        caps.append(capacity_sweep(s, epochs))
        stage(f"draw {s - seed + 1} of {draws}: width {LARGE} on {sizes[0]}-{sizes[-1]} points, ~{steps} steps")
        by_size.append(size_sweep(s, steps, sizes))
    cap_runs = _mean_over_draws(caps, WIDTHS)
    data_runs = _mean_over_draws(by_size, sizes)

    stage("figures and report")
    spread = f", mean ± std of {draws} training-set draws" if draws > 1 else ", one training-set draw"
    _plot_sweep(list(WIDTHS), cap_runs, "hidden units (width, log scale)",
                f"(a) Capacity: 2-w-2 MLPs on {N_TRAIN} training points, {epochs} epochs{spread}",
                out / "overfitting_capacity.png")
    _plot_sweep(list(sizes), data_runs, "training points (log scale)",
                f"(b) Data: width {LARGE} on growing training sets, ~{steps} optimizer steps each{spread}",
                out / "overfitting_data.png")
    _plot_learning_curves(caps[0], out / "overfitting_learning_curves.png")
    _plot_boundaries(caps[0], moons(N_TRAIN, seed), out / "overfitting_boundaries.png")

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
    large = caps[0][LARGE]["history"]["val_loss"]
    results["large_final_over_best_val_loss"] = float(large[-1] / min(large))
    _write_report(out, results, cap_runs, data_runs, epochs, steps)
    stage.close()
    return results


def _row(first, r: dict, extra: str = "", spread: bool = True) -> str:
    std = f" ± {r['val_std']['loss']:.3f}" if spread else ""
    return (f"| {first} |{extra} {r['train']['loss']:.3f} | {r['val']['loss']:.3f}{std} | "
            f"{r['gap']:.3f} | {r['train']['accuracy']:.3f} | {r['val']['accuracy']:.3f} |")


def _trend(values: list) -> str:
    diffs = np.diff(values)
    if np.all(diffs < 0):
        return "falls at every step"
    if np.all(diffs > 0):
        return "rises at every step"
    return "falls overall (not at every step)" if values[-1] < values[0] else "rises overall (not at every step)"


def _capacity_claims(r: dict) -> list[str]:
    widths, train, val, gap = r["widths"], r["capacity_train_loss"], r["capacity_val_loss"], r["capacity_gap"]
    best = int(np.argmin(val))
    out = [f"- The training loss {_trend(train)} with the width: from {train[0]:.3f} (width {widths[0]}) to "
           f"{train[-1]:.3f} (width {widths[-1]})."]
    if 0 < best < len(widths) - 1:
        out.append(f"- The validation loss is lowest at width {widths[best]} ({val[best]:.3f}): narrower models "
                   f"under-fit (width {widths[0]}: {val[0]:.3f}) and wider ones do worse again (width {widths[-1]}: "
                   f"{val[-1]:.3f}): past the best width the validation loss turns up again, the mark of over-fitting.")
    elif best == len(widths) - 1:
        out.append(f"- The validation loss is lowest at the widest model ({val[best]:.3f}): within these widths "
                   "the validation loss has not turned up.")
    else:
        out.append(f"- The validation loss is lowest at the narrowest model ({val[best]:.3f}).")
    trend = _trend(gap).replace("falls", "shrinks").replace("rises", "grows")
    out.append(f"- The gap (validation − training loss) {trend}: {gap[0]:.3f} at width {widths[0]}, "
               f"{gap[-1]:.3f} at width {widths[-1]}"
               + (f", the largest at width {widths[int(np.argmax(gap))]}." if np.argmax(gap) != len(gap) - 1 else
                  ", the largest of all widths."))
    return out


def _data_claims(r: dict) -> list[str]:
    sizes, train, val, gap = r["sizes"], r["data_train_loss"], r["data_val_loss"], r["data_gap"]
    return [f"- The training loss {_trend(train)} as the training set grows: {train[0]:.3f} on {sizes[0]} points"
            + (" (memorised)" if train[0] < 0.05 else "") + f" to {train[-1]:.3f} on {sizes[-1]}.",
            f"- The validation loss {_trend(val)}: {val[0]:.3f} to {val[-1]:.3f}.",
            f"- The gap {'closes' if abs(gap[-1]) < 0.25 * abs(gap[0]) else 'changes'}: {gap[0]:.3f} on "
            f"{sizes[0]} points, {gap[-1]:.3f} on {sizes[-1]}."]


def _curve_claims(r: dict, epochs: int) -> str:
    small, large = r["small_best_epoch"], r["large_best_epoch"]
    text = (f"Lowest validation loss at epoch {small} of {epochs} for width {SMALL} and at epoch {large} for width "
            f"{LARGE}; the wide model's final validation loss is {r['large_final_over_best_val_loss']:.2f} times its "
            "lowest.")
    if large < small and r["large_final_over_best_val_loss"] > 1.02:
        text += " The wide model starts over-fitting earlier, which is what early stopping exploits."
    return text


def _write_report(out: Path, results: dict, cap_runs: list, data_runs: list, epochs: int, steps: int) -> None:
    draws = results["draws"]
    averaged = f"Means over {draws} independent training sets (± the std over them)" if draws > 1 else \
        "One training set"
    lines = ["# Over-fitting: capacity, data and learning curves", "",
             f"**Settings.** Two moons with noise σ = {NOISE}; {N_VAL} validation points; one-hidden-layer ReLU "
             f"MLPs 2-w-2, Adam (lr {LR}), mini-batches of {BATCH}, no regularisation; seed {results['seed']}. "
             f"{averaged}. Losses are the mean cross-entropy in nats, measured after training in evaluation mode.",
             "", f"## (a) Capacity: width sweep on {N_TRAIN} training points, {epochs} epochs", "",
             "| width | parameters | train loss | val loss | gap | train acc | val acc |",
             "|---|---|---|---|---|---|---|"]
    lines += [_row(w, r, f" {5 * w + 2} |", draws > 1) for w, r in zip(results["widths"], cap_runs)]
    lines += ["", *_capacity_claims(results), "",
              "![capacity](overfitting_capacity.png)", "",
              "*Figure 1.* Training (circles) and validation (squares) cross-entropy and accuracy against the "
              "hidden width, on a log scale; error bars: std over the training-set draws. Look at the distance "
              "between the two curves as the width grows.", "",
              "![boundaries](overfitting_boundaries.png)", "",
              f"*Figure 2.* Decision boundaries of widths {', '.join(map(str, BOUNDARY_WIDTHS))} trained on the first "
              "draw's training points (shown): the black line is p = 0.5, the shading the predicted probability "
              "of class 1. Look at whether the boundary follows the moons' shape or bends around single points.", "",
              f"## (b) Data: width {LARGE} on growing training sets, ~{steps} optimizer steps each", "",
              "| training points | epochs | train loss | val loss | gap | train acc | val acc |",
              "|---|---|---|---|---|---|---|"]
    lines += [_row(n, r, f" {r['epochs']} |", draws > 1) for n, r in zip(results["sizes"], data_runs)]
    lines += ["", *_data_claims(results), "",
              "![data](overfitting_data.png)", "",
              f"*Figure 3.* The width-{LARGE} model's training and validation loss and accuracy against the "
              "number of training points (log scale), each run given about the same number of optimizer steps.",
              "", f"## (c) Learning curves: width {SMALL} vs width {LARGE}", "",
              _curve_claims(results, epochs), "",
              "![learning curves](overfitting_learning_curves.png)", "",
              f"*Figure 4.* Loss per epoch on the first draw's {N_TRAIN} training points: the training loss is the "
              "mean over the epoch's mini-batches, the validation loss is measured at the end of the epoch; the "
              "dotted line marks the epoch of lowest validation loss.", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
