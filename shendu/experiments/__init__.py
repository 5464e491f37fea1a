"""The textbooks' experiments as commands: ``shendu experiment NAME`` or ``run_experiment(NAME, out)``.

Each experiment writes matplotlib figures (PNG) and a Markdown report into an output folder, runs on
the CPU in at most a few minutes, is deterministic for a seed, and returns its key numbers as a dict.
"""
from __future__ import annotations

import importlib
from pathlib import Path

_PKG = "shendu.experiments."
EXPERIMENTS = {
    "curve-fitting": (_PKG + "curve_fitting", "Polynomial curve fitting (the first chapter's example)"),
    "overfitting": (_PKG + "overfitting", "An MLP's training vs validation loss as capacity and data change"),
    "regularization": (_PKG + "regularization", "None / L2 / L1 / dropout / early stopping / augmentation / noise"),
    "optimizers": (_PKG + "optimizers", "SGD, momentum, Nesterov, AdaGrad, RMSprop, Adam trajectories"),
    "initialization": (_PKG + "initialization", "Activation and gradient statistics for small / Xavier / He init"),
    "perceptron-and-backprop": (_PKG + "perceptron", "The perceptron, its failure on XOR, backprop solving XOR"),
}


def available() -> dict:
    """Experiment names and one-line descriptions, for those whose module is present."""
    out = {}
    for name, (module, title) in EXPERIMENTS.items():
        try:
            importlib.util.find_spec(module)
        except ModuleNotFoundError:
            continue
        if importlib.util.find_spec(module) is not None:
            out[name] = title
    return out


def run_experiment(name: str, out_dir: str | Path, seed: int = 0, quick: bool = False) -> dict:
    """Run experiment ``name``, writing into ``out_dir``; returns its key numbers."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {sorted(EXPERIMENTS)}")
    module = importlib.import_module(EXPERIMENTS[name][0])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return module.run(out, seed=seed, quick=quick)
