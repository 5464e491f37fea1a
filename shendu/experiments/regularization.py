"""Regularisation: one over-parameterised MLP on a small training set, trained seven ways.

A 64-512-512-10 ReLU MLP (about 300 000 parameters) learns the 8x8 digits from about 300
examples (a stratified 17 % / 25 % / 58 % train / validation / test split). Unregularised, it
drives its training loss to ~0 and its validation loss, after an early minimum, creeps up as the
network grows over-confident. Each regulariser below trades a little training fit for a better
held-out fit (all trained with Adam, lr = 1e-3, mini-batches of 32, the same initial weights):

- L2 (weight decay): + λ Σ w² over the weight matrices (not the biases), λ = 1e-4;
- L1: + λ Σ |w|, λ = 1e-5, which also pushes many weights towards exactly zero;
- dropout: units dropped with p = 0.5 after each hidden layer (Srivastava et al. 2014; their
  extra 20 % input dropout did not help on these 64 pixels), nothing dropped at evaluation;
- early stopping: stop when the validation loss has not improved for 10 epochs and restore the
  weights of the best epoch;
- data augmentation: half the training images of every batch shifted by a random -1..1 pixels
  in x and in y (a whole-pixel shift crops the ink of these tightly framed digits, so not all);
- input noise: Gaussian noise (σ = 0.3) added to every training pixel (equivalent, for small σ,
  to a Tikhonov penalty on the input gradient; Bishop 1995).

Pixels are scaled to [0, 1] (x / 16) rather than standardised, so that a shifted image, with 0
filling the uncovered border, is still a digit on a blank background. The penalties, the
augmentation and the noise enter training only: ``RegularizedTrainer`` overrides
``shendu.train.Trainer``'s ``train_step`` (perturb the batch) and ``compute_loss`` (add the
penalty while the model is in training mode), so validation and test losses are the plain
cross-entropy and comparable across variants.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import shendu as sd
from shendu.experiments._progress import stages
from shendu.experiments._training import digits, evaluate, mlp, train
from shendu.experiments.plotting import figure, integer_ticks, legend_outside, save
from shendu.train import EarlyStopping, Trainer

SIZES = (64, 512, 512, 10)
QUICK_SIZES = (64, 256, 256, 10)  # quick=True: a quarter of the compute, 60 epochs instead of 100
FRACTIONS = (0.17, 0.25, 0.58)
LR, BATCH = 1e-3, 32
LOOSER = 1.1  # a training loss counts as higher than none's when above 1.1 times it
SMOOTHING = 5  # epochs in the moving average drawn over the per-epoch validation losses


@dataclass(frozen=True)
class Variant:
    """One way of training the MLP (all zeros: no regularisation)."""
    name: str
    setting: str
    l2: float = 0.0
    l1: float = 0.0
    dropout: float = 0.0
    input_dropout: float = 0.0
    early_stopping: int = 0  # patience in epochs; 0 = off
    shift: int = 0  # largest random shift in pixels
    noise: float = 0.0  # std of the Gaussian input noise


VARIANTS = (
    Variant("none", "no regularisation"),
    Variant("L2", "λ Σw², λ = 1e-4", l2=1e-4),
    Variant("L1", "λ Σ|w|, λ = 1e-5", l1=1e-5),
    Variant("dropout", "p = 0.5 after each hidden layer", dropout=0.5),
    Variant("early stopping", "patience 10, best weights", early_stopping=10),
    Variant("augmentation", "shifts of ±1 pixel, half the images", shift=1),
    Variant("input noise", "Gaussian, σ = 0.3", noise=0.3),
)


class RegularizedTrainer(Trainer):
    """A ``Trainer`` that perturbs each training batch's inputs and adds a penalty to the training loss.

    Args (besides ``Trainer``'s):
        transform: ``inputs (N, 64) -> inputs (N, 64)`` applied to every training batch (not to
            validation or test batches).
        penalty: ``model -> 0-d Tensor`` added to the loss of every training batch.
    """

    def __init__(self, *args, transform: Callable | None = None, penalty: Callable | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.transform, self.penalty = transform, penalty

    def train_step(self, batch) -> dict:
        if self.transform is not None:
            x, y = batch
            batch = (self.transform(x), y)
        return super().train_step(batch)

    def compute_loss(self, outputs, targets) -> sd.Tensor:
        loss = super().compute_loss(outputs, targets)
        if self.penalty is not None and self.model.training:  # evaluation runs in eval mode: plain loss
            loss = loss + self.penalty(self.model)
        return loss


def _weights(model) -> list:
    """The weight matrices of the model's Linear layers (biases are not penalised)."""
    return [p for name, p in model.named_parameters() if name.endswith("weight")]


def _penalty(variant: Variant) -> Callable | None:
    from shendu.nn.penalties import l1_penalty, l2_penalty
    if not (variant.l1 or variant.l2):
        return None

    def penalty(model):
        ws = _weights(model)
        total = 0.0
        if variant.l2:
            total = total + variant.l2 * l2_penalty(ws)
        if variant.l1:
            total = total + variant.l1 * l1_penalty(ws)
        return total
    return penalty


class ShiftSome:
    """``RandomShift(max_shift)`` applied to each image of a batch with probability ``p`` (a
    per-image ``RandomApply``): shifts of a whole pixel crop the ink at the 8x8 digits' edges, so
    half of every batch stays as it is. Takes and returns (N, 64) rows of 8x8 images."""

    def __init__(self, max_shift: int = 1, p: float = 0.5, generator: sd.Generator | None = None):
        from shendu.data.transforms import RandomShift
        self.shift, self.p, self.generator = RandomShift(max_shift, fill=0.0, generator=generator), p, generator

    def __call__(self, x: sd.Tensor) -> sd.Tensor:
        shifted = self.shift(x.reshape(-1, 1, 8, 8)).reshape(-1, 64)  # (N, 64) <-> (N, 1, 8, 8)
        chosen = sd.rand(x.shape[0], 1, generator=self.generator) < self.p  # (N, 1)
        return sd.where(chosen, shifted, x)


def _transform(variant: Variant, seed: int) -> Callable | None:
    from shendu.data.transforms import GaussianNoise
    generator = sd.Generator().manual_seed(seed + 1)
    if variant.shift:
        return ShiftSome(variant.shift, p=0.5, generator=generator)
    if variant.noise:
        return GaussianNoise(variant.noise, generator=generator)
    return None


def split(seed: int) -> dict:
    """``{"train"|"val"|"test": (X, y)}``: the stratified split of the digits (pixels / 16)."""
    from shendu.data import train_val_test_split
    x, y = digits()
    parts = train_val_test_split(len(y), fractions=FRACTIONS, seed=seed, stratify=y.numpy())
    return {name: (x[idx], y[idx]) for name, idx in zip(("train", "val", "test"), parts)}


def train_variant(variant: Variant, data: dict, epochs: int, seed: int = 0, sizes: tuple = SIZES) -> dict:
    """Train one variant from the seed's initial weights; its per-epoch history and final numbers."""
    model = mlp(sizes, dropout=variant.dropout, input_dropout=variant.input_dropout, seed=seed)
    callbacks = [EarlyStopping("val_loss", patience=variant.early_stopping, restore_best_weights=True)] \
        if variant.early_stopping else []
    _, history = train(model, data["train"], data["val"], epochs=epochs, lr=LR, batch_size=BATCH, seed=seed,
                       trainer_cls=RegularizedTrainer, callbacks=callbacks,
                       transform=_transform(variant, seed), penalty=_penalty(variant))
    ws = np.concatenate([w.detach().numpy().ravel() for w in _weights(model)])
    return {"history": {k: list(v) for k, v in history.items()}, "epochs": len(history),
            **{part: evaluate(model, *data[part]) for part in ("train", "val", "test")},
            "small_weights": float(np.mean(np.abs(ws) < 1e-3)), "weight_norm": float(np.sqrt(np.sum(ws ** 2)))}


# -- figures ------------------------------------------------------------------------------------
STYLES = {"none": ("k", "-"), "L2": ("tab:blue", "-"), "L1": ("tab:cyan", "--"), "dropout": ("tab:orange", "-"),
          "early stopping": ("tab:red", "-"), "augmentation": ("tab:green", "-"), "input noise": ("tab:purple", "--")}


def _smooth(values: list, window: int = SMOOTHING) -> np.ndarray:
    """Centred moving average over ``window`` epochs (shorter at the ends), so curves keep their length."""
    values = np.asarray(values, dtype=np.float64)
    kernel = np.ones(min(window, len(values)))
    return np.convolve(values, kernel, "same") / np.convolve(np.ones_like(values), kernel, "same")


def _plot_curves(runs: dict, sizes: tuple, seed: int, path: Path) -> None:
    """Small multiples: one panel per regulariser, its validation loss per epoch over that of 'none'."""
    others = [v for v in VARIANTS if v.name != "none"]
    fig, axes = figure(2, 3, figsize=(13, 7.5), sharex=True, sharey=True,
                       title=f"Validation cross-entropy per epoch, {'-'.join(map(str, sizes))} MLP, the split and "
                             f"initial weights of seed {seed}")
    none = runs["none"]["history"]["val_loss"]
    low = min(min(r["history"]["val_loss"]) for r in runs.values())
    high = max(max(r["history"]["val_loss"][len(r["history"]["val_loss"]) // 5:]) for r in runs.values())
    for ax, v in zip(axes.flat, others):
        h = runs[v.name]["history"]["val_loss"]
        for values, color in ((none, "0.45"), (h, STYLES[v.name][0])):  # thin: per epoch; thick: smoothed
            ax.plot(np.arange(1, len(values) + 1), values, color=color, lw=0.8, alpha=0.35)
            ax.plot(np.arange(1, len(values) + 1), _smooth(values), color=color, lw=1.8)
        if len(h) < len(none):  # stopped early: mark the epoch whose weights were restored
            best = int(np.argmin(h))
            ax.plot(best + 1, h[best], "o", color=STYLES[v.name][0], mec="k", ms=7, label="weights kept")
            ax.axvline(len(h), color=STYLES[v.name][0], ls=":", lw=1, label="stopped")
        ax.set_title(f"{v.name}: {v.setting}", fontsize=10)
        ax.set_ylim(0.9 * low, 1.1 * high)  # the first epochs' losses are off the top
        ax.grid(alpha=0.3)
        integer_ticks(ax, "x")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("validation cross-entropy")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color="0.45", lw=1.8), Line2D([], [], color="tab:blue", lw=1.8),
               Line2D([], [], ls="", marker="o", color="tab:red", mec="k", ms=7),
               Line2D([], [], color="tab:red", ls=":")]
    labels = ["none (no regularisation)", "the regulariser named above the panel",
              "early stopping: the epoch whose weights are kept", "early stopping: the epoch it stopped"]
    legend_outside(fig, handles=handles, labels=labels, ncol=4)
    save(fig, path)


def _plot_bars(runs: dict, results: dict, path: Path) -> None:
    """Training loss, validation loss and test accuracy per variant (the last two on a zoomed axis)."""
    names = [v.name for v in VARIANTS]
    colors = [STYLES.get(n, ("tab:gray", "-"))[0] for n in names]
    fig, axes = figure(1, 3, figsize=(15, 4.6), title=f"After training, on the split and initial weights of seed "
                                                      f"{results['seed']}")
    panels = ((axes[0], "train", "loss", "training loss (unperturbed, eval mode)", True),
              (axes[1], "val", "loss", "validation loss", False),
              (axes[2], "test", "accuracy", "test accuracy", False))
    for ax, part, key, label, log in panels:
        values = [runs[n][part][key] for n in names]
        bars = ax.bar(names, values, color=colors, alpha=0.8)
        ax.axhline(runs["none"][part][key], color="k", ls=":", lw=1)
        ax.bar_label(bars, fmt="%.2g" if log else "%.3f", fontsize=8, padding=2)
        ax.set_ylabel(label)
        ax.set_title(f"{label} (dotted: 'none')", fontsize=10)
        ax.tick_params(axis="x", labelrotation=30)
        if log:
            ax.set_yscale("log")
            ax.set_ylim(min(values) / 3, max(values) * 5)  # room above the bars for their labels
        elif key == "accuracy":
            ax.set_ylim(min(values) - 0.03, min(1.0, max(values) + 0.02))
        else:  # zoomed: the differences are a few percent of the loss
            ax.set_ylim(0.8 * min(values), 1.08 * max(values))
    save(fig, path)


# -- the experiment -----------------------------------------------------------------------------
def run(out: Path, seed: int = 0, quick: bool = False, progress=None) -> dict:
    """Every variant on the split and initial weights of ``seed`` (curves, table) and, at full size,
    of ``seed + 1`` and ``seed + 2`` too (a mean over three splits: one split's test set of ~1000
    digits moves the accuracy by about ±0.6 %, as much as some regularisers do)."""
    out = Path(out)
    sizes, epochs, repeats = (QUICK_SIZES, 60, 1) if quick else (SIZES, 100, 3)
    stage = stages(progress, "regularization", len(VARIANTS) * repeats + 1)
    per_seed = []
    for s in range(seed, seed + repeats):
        data_s = split(s)
        if s == seed:
            data = data_s
        rs = {}
        for v in VARIANTS:
            stage(f"split {s}: training with {v.name} ({epochs} epochs)")
            rs[v.name] = train_variant(v, data_s, epochs, s, sizes)
        per_seed.append(rs)
    runs = per_seed[0]
    stage("figures and report")

    def table(part: str, key: str, rs: dict) -> dict:
        return {name: r[part][key] for name, r in rs.items()}

    results = {"seed": seed, "sizes": list(sizes), "epochs": epochs, "n_train": len(data["train"][1]),
               "repeats": repeats,
               "train_loss": table("train", "loss", runs),
               "val_loss": table("val", "loss", runs), "val_accuracy": table("val", "accuracy", runs),
               "test_loss": table("test", "loss", runs), "test_accuracy": table("test", "accuracy", runs),
               "epochs_run": {n: r["epochs"] for n, r in runs.items()},
               "small_weights": {n: r["small_weights"] for n, r in runs.items()},
               "weight_norm": {n: r["weight_norm"] for n, r in runs.items()}}
    for part, key in (("train", "loss"), ("val", "loss"), ("test", "accuracy")):
        tables = [table(part, key, rs) for rs in per_seed]
        results[f"mean_{part}_{key}"] = {n: float(np.mean([t[n] for t in tables])) for n in runs}
        results[f"std_{part}_{key}"] = {n: float(np.std([t[n] for t in tables])) for n in runs}
    others = [v.name for v in VARIANTS if v.name != "none"]
    # paired over the splits: the splits differ in difficulty more than the variants do
    results["splits_lower_val_loss"] = {n: sum(rs[n]["val"]["loss"] < rs["none"]["val"]["loss"] for rs in per_seed)
                                        for n in others}
    def looser(a, b):  # a training loss within 10 % of none's is as tight a fit, not a looser one
        return a > LOOSER * b
    for what, better in (("train_loss", looser), ("val_loss", np.less), ("test_accuracy", np.greater),
                         ("mean_train_loss", looser), ("mean_val_loss", np.less),
                         ("mean_test_accuracy", np.greater)):
        results[f"beat_none_{what}"] = [n for n in others if better(results[what][n], results[what]["none"])]
    _plot_curves(runs, sizes, seed, out / "regularization_curves.png")
    _plot_bars(runs, results, out / "regularization_summary.png")
    _write_report(out, results, runs, data)
    stage.close()
    return results


def _names(names: list) -> str:
    return ", ".join(names) if names else "none of them"


def _write_report(out: Path, results: dict, runs: dict, data: dict) -> None:
    n = {k: len(v[1]) for k, v in data.items()}
    k = len(VARIANTS) - 1
    others = [v.name for v in VARIANTS if v.name != "none"]
    lines = ["# Regularisation: one over-parameterised MLP, seven ways to train it", "",
             f"**Settings.** A {'-'.join(map(str, results['sizes']))} ReLU MLP on the 8x8 digits (pixels / 16): "
             f"{n['train']} training, {n['val']} validation, {n['test']} test examples (a stratified split). Adam "
             f"(lr {LR}), mini-batches of {BATCH}, up to {results['epochs']} epochs, the same initial weights for "
             "every variant. Losses are the plain cross-entropy (penalties excluded); 'train loss' is measured on "
             "the unperturbed training set in evaluation mode (no dropout). The table and the figures are for "
             "seed " + f"{results['seed']}'s split and initial weights.", "",
             f"## Seed {results['seed']}", "",
             "| regulariser | setting | epochs | train loss | val loss | val acc | test loss | test acc | "
             "weights with abs < 1e-3 |", "|---|---|---|---|---|---|---|---|---|"]
    for v in VARIANTS:
        r = runs[v.name]
        lines.append(f"| {v.name} | {v.setting} | {r['epochs']} | {r['train']['loss']:.4f} | {r['val']['loss']:.4f} "
                     f"| {r['val']['accuracy']:.3f} | {r['test']['loss']:.4f} | {r['test']['accuracy']:.3f} | "
                     f"{r['small_weights']:.1%} |")
    fit, beat_loss, beat_acc = (results[f"beat_none_{w}"] for w in ("train_loss", "val_loss", "test_accuracy"))
    not_fit = [name for name in others if name not in fit]
    acc = results["test_accuracy"]["none"]
    noise = float(np.sqrt(acc * (1 - acc) / n["test"]))  # binomial std of one test set's accuracy
    lines += ["",
              f"- Training loss more than {LOOSER:g} times that of 'none' (a looser fit of the training set): "
              f"{len(fit)} of {k} "
              f"({_names(fit)})" + (f"; not {_names(not_fit)} (" + ", ".join(
                  f"{name} {results['train_loss'][name]:.2g} against {results['train_loss']['none']:.2g}"
                  for name in not_fit) + ")" if not_fit else "") + ".",
              f"- Lower validation loss than 'none': {len(beat_loss)} of {k} ({_names(beat_loss)}).",
              f"- Higher test accuracy than 'none': {len(beat_acc)} of {k} ({_names(beat_acc)}). A test accuracy "
              f"near {acc:.2f} on {n['test']} digits has a sampling std of about {noise:.1%}, so differences smaller "
              "than that are within noise" + (" (hence the mean over splits below)." if results["repeats"] > 1
                                               else "."),
              f"- L1 leaves {results['small_weights']['L1']:.0%} of the weights below 1e-3 in size, against "
              f"{results['small_weights']['none']:.0%} without a penalty; L2's weight norm is "
              f"{results['weight_norm']['L2']:.1f} against {results['weight_norm']['none']:.1f}.",
              f"- Early stopping ran {results['epochs_run']['early stopping']} of {results['epochs']} epochs and kept "
              "the weights of its best validation epoch.", "",
              "![curves](regularization_curves.png)", "",
              "*Figure 1.* One panel per regulariser: its validation cross-entropy per epoch (colour) over that of "
              "the unregularised network (grey), on the same split and initial weights; thin lines per epoch, thick "
              f"lines a {SMOOTHING}-epoch moving average; the first epochs, where every loss is high, are cut off. "
              "Look at where each coloured curve ends relative to the grey one, and whether it turns up late in "
              "training as the grey one does.", "",
              "![summary](regularization_summary.png)", "",
              "*Figure 2.* After training: the training loss (log scale; low means the training set is fitted "
              "tightly), the validation loss and the test accuracy (both on axes that do not start at 0) of each "
              "variant; the dotted line is 'none'.", ""]
    if results["repeats"] > 1:
        seeds = ", ".join(str(results["seed"] + i) for i in range(results["repeats"]))
        lines += [f"## Mean over {results['repeats']} splits and initialisations (seeds {seeds})", "",
                  "| regulariser | mean train loss | mean val loss | mean test acc (± std) | splits with a lower val "
                  "loss than 'none' |", "|---|---|---|---|---|"]
        lines += [f"| {v.name} | {results['mean_train_loss'][v.name]:.4f} | {results['mean_val_loss'][v.name]:.4f} | "
                  f"{results['mean_test_accuracy'][v.name]:.3f} ± {results['std_test_accuracy'][v.name]:.3f} | "
                  + ("—" if v.name == "none" else f"{results['splits_lower_val_loss'][v.name]} of {results['repeats']}")
                  + " |" for v in VARIANTS]
        fit, beat_loss, beat_acc = (results[f"beat_none_mean_{w}"] for w in ("train_loss", "val_loss", "test_accuracy"))
        lines += ["", f"On average: training loss above {LOOSER:g} times that of 'none': {len(fit)} of {k} "
                  f"({_names(fit)}); lower "
                  f"validation loss: {len(beat_loss)} of {k} ({_names(beat_loss)}); higher test accuracy: "
                  f"{len(beat_acc)} of {k} ({_names(beat_acc)}).", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
