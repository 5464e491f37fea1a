"""The textbooks' experiments as commands: ``shendu experiment NAME`` or ``run_experiment(NAME, out)``.

Each experiment writes matplotlib figures (PNG) and a Markdown report into an output folder, runs on
the CPU in at most a few minutes, is deterministic for a seed, and returns its key numbers as a dict.
``run_experiment(..., progress=True)`` reports each stage on standard error (see ``_progress.py``).
"""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import NamedTuple

from shendu.experiments._progress import Stage, stages

__all__ = ["EXPERIMENTS", "Experiment", "Stage", "available", "describe", "run_experiment", "runtime"]


class Experiment(NamedTuple):
    """A registry entry: the module (with ``run(out, seed, quick[, progress]) -> dict``), a one-line title,
    and the measured run time in seconds of a full run and of a ``--quick`` run (None: not measured)."""
    module: str
    title: str
    seconds: float | None = None
    quick_seconds: float | None = None


_PKG = "shendu.experiments."
# One line per experiment: Experiment(module, title, full-run seconds, --quick seconds). The times are
# wall-clock seconds of `shendu experiment NAME [--quick]` on a quiet 2-core CPU, rounded up; measure yours
# (`time shendu experiment NAME`) and fill them in, or leave them out (a plain (module, title) works too).
EXPERIMENTS = {
    "curve-fitting": Experiment(_PKG + "curve_fitting", "Polynomial curve fitting (the first chapter's example)",
                                4, 2),
    "overfitting": Experiment(_PKG + "overfitting",
                              "An MLP's training vs validation loss as capacity and data change", 20, 3),
    "regularization": Experiment(_PKG + "regularization",
                                 "None / L2 / L1 / dropout / early stopping / augmentation / noise", 40, 5),
    "optimizers": Experiment(_PKG + "optimizers", "SGD, momentum, Nesterov, AdaGrad, RMSprop, Adam trajectories",
                             5, 3),
    "initialization": Experiment(_PKG + "initialization",
                                 "Activations and gradients of deep tanh/ReLU/sigmoid nets: small / Xavier / He",
                                 2, 2),
    "perceptron-and-backprop": Experiment(_PKG + "perceptron",
                                          "The perceptron, its failure on XOR, backprop solving XOR", 2, 2),
    "rnn-memory": Experiment(_PKG + "rnn_memory",
                             "RNN vs LSTM vs GRU on the adding problem: length, gradients, clipping", 120, 10),
    "char-lm": Experiment(_PKG + "char_lm", "A character-level LSTM on the Python stdlib: bits per character, samples",
                          250, 12),
    "seq2seq": Experiment(_PKG + "seq2seq", "Attention encoder-decoder reversing digit strings: greedy vs beam search",
                          75, 10),
    "least-squares": Experiment(_PKG + "least_squares", "Least squares four ways: normal equations, QR, SVD, gradient "
                                "descent against the condition number", 15, 5),
    "numerical": Experiment(_PKG + "numerical", "Newton vs gradient descent (quadratic, Rosenbrock), projected "
                            "gradient, KKT and the augmented Lagrangian", 15, 6),
    "bayesian-regression": Experiment(_PKG + "bayesian_regression",
                                      "Bayesian linear regression: predictive band as N grows, evidence against M",
                                      10, 6),
    "svm": Experiment(_PKG + "svm", "Support vector machines: the margin, soft margin against C, kernels", 10, 6),
    "pca": Experiment(_PKG + "pca", "PCA on the digits: covariance eigh vs SVD, explained variance, 2-D projection",
                      10, 8),
    "kmeans-gmm": Experiment(_PKG + "kmeans_gmm", "k-means and Gaussian-mixture EM iterations on round and stretched "
                             "blobs", 9, 8),
    "classic-ml": Experiment(_PKG + "classic_ml", "Every shendu.ml classifier: decision regions, accuracy against "
                             "scikit-learn and an MLP", 35, 15),
    "distributions": Experiment(_PKG + "distributions", "Densities, sampling, the central limit theorem, forward vs "
                                "reverse KL", 10, 5),
    "transfer": Experiment(_PKG + "transfer", "A small BERT pretrained on the stdlib vs from scratch at several label "
                           "counts; LoRA vs full fine-tuning", 240, 8),
}


def _entry(value) -> Experiment:
    return value if isinstance(value, Experiment) else Experiment(*value)


def _present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def runtime(name: str) -> str:
    """The expected run time of experiment ``name`` as text: ``"about 40 s (--quick 12 s)"`` ('' if unmeasured)."""
    entry = _entry(EXPERIMENTS[name])
    if entry.seconds is None:
        return ""
    quick = f" (--quick {_duration(entry.quick_seconds)})" if entry.quick_seconds is not None else ""
    return f"about {_duration(entry.seconds)}{quick}"


def describe() -> dict[str, Experiment]:
    """The registry entries (module, title, measured seconds) of the experiments whose module is present."""
    return {name: _entry(value) for name, value in EXPERIMENTS.items() if _present(_entry(value).module)}


def available() -> dict[str, str]:
    """Experiment names and one-line descriptions ending in the expected run time, for those present."""
    return {name: entry.title + (f" [{runtime(name)}]" if runtime(name) else "")
            for name, entry in describe().items()}


def run_experiment(name: str, out_dir: str | Path, seed: int = 0, quick: bool = False, progress=False) -> dict:
    """Run experiment ``name``, writing into ``out_dir``; returns its key numbers.

    ``progress``: ``False`` (silent), ``True`` (a bar or one line per stage on standard error) or a
    callable taking a :class:`Stage` (see ``shendu.experiments._progress``).
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {sorted(EXPERIMENTS)}")
    module = importlib.import_module(_entry(EXPERIMENTS[name]).module)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if "progress" in inspect.signature(module.run).parameters:
        return module.run(out, seed=seed, quick=quick, progress=progress)
    with stages(progress, name, 1) as stage:  # an experiment without stages of its own: one stage
        stage("running")
        return module.run(out, seed=seed, quick=quick)
