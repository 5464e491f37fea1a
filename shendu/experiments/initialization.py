"""Activation and gradient statistics across a deep network for three initializations.

A 10-layer fully connected network of width 256 (tanh, ReLU or logistic sigmoid after every layer) is
fed standard-normal inputs, and a mean-squared error to random targets is backpropagated once. For
each layer ℓ the experiment records the standard deviation of the activations h_ℓ, of the
backpropagated gradient ∂L/∂h_ℓ, and of the weight gradient ∂L/∂W_ℓ = (∂L/∂z_ℓ) h_{ℓ-1}ᵀ, for weights
drawn N(0, 0.01²) ("small random"), by Glorot/Xavier (Var W = 2/(fan_in + fan_out)) or by He/Kaiming
(Var W = 2/fan_in). Too small weights shrink h_ℓ layer after layer on the way in and ∂L/∂h_ℓ on the
way out; for tanh and ReLU the two shrinkages cancel in ∂L/∂W_ℓ, which is tiny but equally tiny in
every layer. The sigmoid's slope of at most ¼ shrinks ∂L/∂h_ℓ further at every layer while its
activations (about ½) do not shrink, so the weight gradients of the early layers vanish.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import shendu as sd
from shendu import nn
from shendu.experiments._progress import stages
from shendu.experiments.plotting import figure, integer_ticks, legend_outside, save

DEPTH, WIDTH, BATCH, SMALL_STD = 10, 256, 512, 0.01
ACTIVATIONS = ("tanh", "relu", "sigmoid")
SCHEMES = ("small random", "Xavier", "He")
SCHEME_LABELS = {"small random": f"small random: N(0, {SMALL_STD}²)",
                 "Xavier": "Xavier: N(0, 2/(fan_in + fan_out))", "He": "He: N(0, 2/fan_in)"}
VANISHED = 1e-2  # layer 1's weight-gradient std below this fraction of layer 10's: "vanished"


def build(activation: str, scheme: str, seed: int) -> nn.Sequential:
    sd.manual_seed(seed)
    layers = []
    for _ in range(DEPTH):
        linear = nn.Linear(WIDTH, WIDTH)
        nn.init.zeros_(linear.bias)
        if scheme == "small random":
            nn.init.normal_(linear.weight, 0.0, SMALL_STD)
        elif scheme == "Xavier":
            nn.init.xavier_normal_(linear.weight, gain=1.0)
        else:
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        layers += [linear, {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}[activation]()]
    return nn.Sequential(*layers)


def layer_statistics(activation: str, scheme: str, seed: int = 0) -> dict:
    """Per-layer std of the activations h_ℓ, of ∂L/∂h_ℓ and of ∂L/∂W_ℓ for one batch, L = MSE to random targets."""
    model = build(activation, scheme, seed)
    h = sd.randn(BATCH, WIDTH)
    acts = []
    for layer in model:
        h = layer(h)
        if not isinstance(layer, nn.Linear):
            h.retain_grad()
            acts.append(h)
    loss = ((h - sd.randn(BATCH, WIDTH)) ** 2).mean()
    loss.backward()
    return {"activation_std": [float(a.detach().std()) for a in acts],
            "activation_grad_std": [float(a.grad.std()) for a in acts],
            "weight_grad_std": [float(m.weight.grad.std()) for m in model if isinstance(m, nn.Linear)]}


def run(out: Path, seed: int = 0, quick: bool = False, progress=None) -> dict:
    """``quick`` changes nothing: the full run takes about a second."""
    stage = stages(progress, "initialization", len(ACTIVATIONS) + 1)
    out = Path(out)
    stats = {}
    for act in ACTIVATIONS:
        stage(f"{act} network: forward and backward for each initialization")
        stats[act] = {s: layer_statistics(act, s, seed) for s in SCHEMES}
    stage("figure and report")
    _plot(stats, out / "initialization_statistics.png")
    results = {}
    for act in ACTIVATIONS:
        for scheme in SCHEMES:
            st = stats[act][scheme]
            results[f"{act}/{scheme}/last_activation_std"] = st["activation_std"][-1]
            results[f"{act}/{scheme}/first_grad_std"] = st["weight_grad_std"][0]
            results[f"{act}/{scheme}/last_grad_std"] = st["weight_grad_std"][-1]
            results[f"{act}/{scheme}/grad_ratio"] = st["weight_grad_std"][0] / st["weight_grad_std"][-1]
    results["vanishing_early_gradients"] = [f"{act}/{s}" for act in ACTIVATIONS for s in SCHEMES
                                            if results[f"{act}/{s}/grad_ratio"] < VANISHED]
    _write_report(out, stats, results, seed)
    results["stats"] = stats
    stage.close()
    return results


def _plot(stats: dict, path: Path) -> None:
    fig, axes = figure(len(ACTIVATIONS), 3, figsize=(13, 10), squeeze=False,
                       title=f"{DEPTH} layers of width {WIDTH}, batch {BATCH}, standard-normal inputs, "
                             "L = mean squared error to random targets")
    columns = (("activation_std", r"std of activations $h_\ell$"),
               ("activation_grad_std", r"std of $\partial L/\partial h_\ell$ (backpropagated)"),
               ("weight_grad_std", r"std of weight gradient $\partial L/\partial W_\ell$"))
    layers = np.arange(1, DEPTH + 1)
    for row, act in enumerate(ACTIVATIONS):
        for col, (key, label) in enumerate(columns):
            ax = axes[row, col]
            for scheme, marker in zip(SCHEMES, "osd"):
                ax.semilogy(layers, np.maximum(stats[act][scheme][key], 1e-30), marker + "-", ms=4,
                            label=SCHEME_LABELS[scheme])
            ax.set_title(f"{act}: {label}", fontsize=10)
            ax.set_xlabel(r"layer $\ell$ (1 = next to the input)")
            ax.set_ylabel(label.split(" (")[0])
            ax.set_xticks(layers)
            integer_ticks(ax, "x")
            ax.grid(alpha=0.3, which="major")
    legend_outside(fig, axes[0, 0], loc="lower center", ncol=3)
    save(fig, path)


def _factor(ratio: float) -> str:
    return f"{ratio:.2g}" if 0.01 <= ratio <= 100 else f"{ratio:.0e}"


def _describe(act: str, scheme: str, st: dict, best_grad: float) -> str:
    """One sentence about one network, every claim read off its numbers."""
    a = st["activation_std"][-1] / st["activation_std"][0]
    g = st["weight_grad_std"][0] / st["weight_grad_std"][-1]
    d = st["activation_grad_std"][0] / st["activation_grad_std"][-1]
    if a < 0.1:
        acts = f"the activations shrink by a factor {_factor(a)} from layer 1 to layer {DEPTH}"
    elif a > 10:
        acts = f"the activations grow by a factor {_factor(a)} from layer 1 to layer {DEPTH}"
    else:
        acts = f"the activations keep their scale (layer {DEPTH} / layer 1 = {_factor(a)})"
    back = f"∂L/∂h at layer 1 is {_factor(d)} times that at layer {DEPTH}"
    if g < VANISHED:
        grads = f"the early layers' weight gradients vanish: layer 1's are {_factor(g)} times layer {DEPTH}'s"
    else:
        grads = f"the weight gradients have the same scale in every layer (layer 1 / layer {DEPTH} = {_factor(g)})"
        scale = st["weight_grad_std"][-1] / best_grad
        if scale < 1e-2:
            grads += f", but are all {_factor(scale)} times those of the initialization with the largest ones"
    return f"- **{act}, {scheme}**: {acts}; {back}; {grads}."


def _write_report(out: Path, stats: dict, results: dict, seed: int) -> None:
    lines = ["# Initialization: activations and gradients through a deep network", "",
             f"**Settings.** {DEPTH} fully connected layers of width {WIDTH}, each followed by tanh, ReLU or the "
             f"logistic sigmoid; biases 0; a batch of {BATCH} standard-normal inputs; one backward pass of "
             "L = mean squared error to standard-normal targets. Weights: "
             + "; ".join(SCHEME_LABELS.values()) + f" (He's with ReLU's gain √2 for every activation). Seed {seed}.",
             ""]
    for act in ACTIVATIONS:
        lines += [f"## {act}", "", f"| initialization | std h, layer 1 | std h, layer {DEPTH} | "
                  f"std ∂L/∂h, layer 1 | std ∂L/∂h, layer {DEPTH} | std ∂L/∂W, layer 1 | std ∂L/∂W, layer {DEPTH} |",
                  "|---|---|---|---|---|---|---|"]
        for scheme in SCHEMES:
            st = stats[act][scheme]
            lines.append(f"| {scheme} | " + " | ".join(
                f"{st[k][i]:.3g}" for k in ("activation_std", "activation_grad_std", "weight_grad_std")
                for i in (0, -1)) + " |")
        best = max(stats[act][s]["weight_grad_std"][-1] for s in SCHEMES)
        lines += ["", *(_describe(act, s, stats[act][s], best) for s in SCHEMES), ""]
    vanished = results["vanishing_early_gradients"]
    lines += ["![statistics](initialization_statistics.png)", "",
              "*Figure.* One row per activation function, one line per initialization, layers 1 (next to the "
              f"input) to {DEPTH} on the x-axis and a logarithmic y-axis. Left: the forward signal; middle: the "
              "gradient flowing back into each layer's output; right: the gradient each weight matrix receives. "
              "Look at the slope of each line: a straight falling line is a constant factor lost per layer.", "",
              "## What the numbers show", "",
              f"Networks whose layer-1 weight gradients are below {VANISHED:g} of layer {DEPTH}'s: "
              + (", ".join(vanished) if vanished else "none") + "."]

    def ratio(act, scheme, key):
        values = stats[act][scheme][key]
        return values[0] / values[-1]
    cancel = [act for act in ACTIVATIONS if ratio(act, "small random", "activation_grad_std") < VANISHED
              and VANISHED <= ratio(act, "small random", "weight_grad_std") <= 1 / VANISHED]
    if cancel:
        lines.append(f"With small random weights, ∂L/∂h vanishes toward the input for {', '.join(cancel)}, but the "
                     "activations h shrink as fast on the way in, so their product ∂L/∂W is uniformly small in "
                     "every layer rather than vanishing toward the input.")
    every = [act for act in ACTIVATIONS if all(f"{act}/{s}" in vanished for s in SCHEMES)]
    if every:
        steady = all(0.1 <= 1 / ratio(act, s, "activation_std") <= 10 for act in every for s in SCHEMES)
        lines.append(f"For {', '.join(every)} the early layers' weight gradients vanish under every initialization "
                     "tried: " + ("the activations keep their scale while " if steady else "")
                     + "∂L/∂h loses a factor at every layer (the sigmoid's slope is at most ¼), and no weight "
                     "scale tried here makes up for it.")
    lines.append("")
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
