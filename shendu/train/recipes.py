"""Ready-made training runs (``shendu train TASK``, ``shendu demo``): a registry of recipes.

A recipe is ordinary library code — Sequential, an optimizer, ``fit`` with callbacks — put together
with sensible defaults, so the command line and the demo train the way a user's program would.

Each entry of ``RECIPES`` names a module, a config dataclass and a run function in it (imported
only when used). The contract the command line relies on:

- the config is a dataclass whose fields all have defaults; a field's ``metadata`` gives its
  ``help`` (required), and optionally ``choices``, bounds ``min`` (>=), ``above`` (>), ``below``
  (<), ``item`` (the element type of a tuple field), ``metavar`` and ``resumable=True`` when the value may change
  on ``--resume`` (the number of epochs). ``check_config`` validates a config against them.
- ``run(config, *, out, resume=False, callbacks=(), verbose=0) -> dict`` trains, writes
  ``out/last.safetensors`` after every epoch (and continues from it with ``resume=True``), and
  returns at least ``epochs`` (completed), ``summary`` (one line of results) and ``files``.

Adding a task is one line in ``RECIPES``.
"""
from __future__ import annotations

import dataclasses
import importlib
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import shendu as sd
from shendu import nn, optim
from shendu.train.callbacks import Callback, ModelCheckpoint
from shendu.train.trainer import Trainer


@dataclass(frozen=True)
class Recipe:
    """One ``shendu train TASK``: the module holding its config dataclass and its run function."""

    module: str
    config: str
    run: str
    help: str

    def load(self) -> tuple[type, Callable[..., dict]]:
        """``(config class, run function)``, importing the module."""
        mod = importlib.import_module(self.module)
        return getattr(mod, self.config), getattr(mod, self.run)


# -- configs ------------------------------------------------------------------------------------------
def value_problem(meta: Mapping, value: Any) -> str | None:
    """What is wrong with ``value`` for a config field with metadata ``meta`` (None when it is fine)."""
    values = value if isinstance(value, (tuple, list)) else (value,)
    for v in values:
        if "choices" in meta and v not in meta["choices"]:
            return f"expected one of {', '.join(map(str, meta['choices']))}, got {v!r}"
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            what = "an integer" if isinstance(v, int) else "a number"
            if not math.isfinite(v):
                return f"expected a finite number, got {v}"
            if "min" in meta and v < meta["min"]:
                return f"expected {what} >= {meta['min']}, got {v}"
            if "above" in meta and v <= meta["above"]:
                return f"expected {what} > {meta['above']}, got {v}"
            if "below" in meta and v >= meta["below"]:
                return f"expected {what} < {meta['below']}, got {v}"
    return None


def check_config(config: Any) -> None:
    """Raise ValueError naming the field when a config value breaks its field's bounds or choices."""
    for f in dataclasses.fields(config):
        problem = value_problem(f.metadata, getattr(config, f.name))
        if problem:
            raise ValueError(f"{type(config).__name__}: {f.name}: {problem}")


DATASETS = ("digits", "iris", "wine", "breast_cancer", "moons", "spirals", "xor")
_TABULAR = ("digits", "iris", "wine", "breast_cancer")  # scikit-learn's sets: standardized features

OPTIMIZERS = {
    "sgd": lambda ps, lr, wd: optim.SGD(ps, lr=lr, weight_decay=wd),
    "momentum": lambda ps, lr, wd: optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd),
    "adam": lambda ps, lr, wd: optim.Adam(ps, lr=lr, weight_decay=wd),
    "adamw": lambda ps, lr, wd: optim.AdamW(ps, lr=lr, weight_decay=wd or 1e-2),
    "rmsprop": lambda ps, lr, wd: optim.RMSprop(ps, lr=lr, weight_decay=wd),
}


@dataclass
class ClassifierConfig:
    """The settings of ``shendu train mlp`` (``train_classifier``'s arguments)."""

    dataset: str = field(default="digits", metadata={
        "help": "the bundled dataset to learn (nothing is downloaded)", "choices": DATASETS})
    hidden: tuple[int, ...] = field(default=(128, 64), metadata={
        "help": "hidden layer widths, e.g. 128 64 (none given: a linear classifier)", "item": int, "min": 1,
        "metavar": "WIDTH"})
    epochs: int = field(default=30, metadata={
        "help": "epochs to train in all (with --resume: train until this many are done)", "min": 1,
        "resumable": True})
    lr: float = field(default=1e-3, metadata={"help": "learning rate", "above": 0.0})
    optimizer: str = field(default="adam", metadata={
        "help": "the optimizer (momentum: SGD with Nesterov momentum 0.9)", "choices": tuple(OPTIMIZERS)})
    batch_size: int = field(default=64, metadata={"help": "samples per step", "min": 1})
    dropout: float = field(default=0.0, metadata={
        "help": "dropout probability after every hidden ReLU", "min": 0.0, "below": 1.0})
    weight_decay: float = field(default=0.0, metadata={
        "help": "weight decay (L2 penalty); adamw takes 0 as its own default 0.01", "min": 0.0})
    seed: int = field(default=0, metadata={
        "help": "seeds the data split, the initialization and the shuffling"})


# -- data ---------------------------------------------------------------------------------------------
def noisy_xor(n: int = 400, noise: float = 0.15, seed: int | None = 0) -> tuple[sd.Tensor, sd.Tensor]:
    """XOR as a learning problem: n points scattered with N(0, noise²) around the unit square's corners.

    Each corner gets n // 4 points (the first n % 4 corners one more), labelled x1 XOR x2 of its
    corner: X float32 (n, 2), y int64 (n,). Four points cannot be split into train and test sets;
    n of them can.
    """
    rng = np.random.default_rng(seed)
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    which = rng.permutation(np.arange(n) % 4)
    X = corners[which] + rng.normal(0.0, noise, size=(n, 2))
    y = corners[which, 0] ^ corners[which, 1]
    return sd.tensor(X.astype(np.float32)), sd.tensor(y.astype(np.int64))


def load_classification(name: str, seed: int = 0) -> tuple[sd.Tensor, sd.Tensor]:
    """(X float32 (N, D), y int64 (N,)) for a bundled classification dataset, features unscaled.

    Scale with ``shendu.data.splits.standardize(X, train_idx)`` after splitting, so the held-out
    rows' statistics stay out of training (``train_classifier`` does).
    """
    from shendu import data
    loaders = {"digits": data.load_digits, "iris": data.load_iris, "wine": data.load_wine,
               "breast_cancer": data.load_breast_cancer}
    if name in loaders:
        return loaders[name]()
    if name == "moons":
        return data.two_moons(1000, noise=0.2, seed=seed)
    if name == "spirals":
        return data.spirals(900, classes=3, noise=0.2, seed=seed)
    if name == "xor":
        return noisy_xor(400, seed=seed)
    raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")


def mlp(in_features: int, hidden: Sequence[int], classes: int, dropout: float = 0.0) -> nn.Sequential:
    """Linear-ReLU(-Dropout) blocks of widths ``hidden``, then a Linear layer to ``classes`` logits."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        in_features = width
    layers.append(nn.Linear(in_features, classes))
    return nn.Sequential(*layers)


# -- history files ------------------------------------------------------------------------------------
def write_history_csv(history: dict, path: str | os.PathLike) -> None:
    """``history`` (``{name: [value per epoch]}``) as CSV, a row per epoch (1-based), written atomically."""
    from shendu.io.atomic import atomic_write_bytes
    keys = sorted(history)
    n = max((len(v) for v in history.values()), default=0)
    rows = [",".join(["epoch", *keys])]
    for i in range(n):
        cells = [f"{history[k][i]:.9g}" if i < len(history[k]) else "" for k in keys]
        rows.append(",".join([str(i + 1), *cells]))
    atomic_write_bytes(path, ("\n".join(rows) + "\n").encode())


_PANELS = (("loss", "cross-entropy loss (nats per sample)"), ("accuracy", "accuracy (fraction correct)"))


def history_figure(history: dict, *, title: str, best_epoch: int | None = None,
                   panels: Sequence[tuple[str, str]] = _PANELS):
    """Training and validation curves against the epoch, one panel per ``(metric, y-axis label)``.

    ``best_epoch`` (1-based) draws a dotted line where the evaluated weights come from. Returns the
    matplotlib Figure (headless backend; close it with ``matplotlib.pyplot.close``).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    panels = [(k, label) for k, label in panels if k in history or f"val_{k}" in history]
    if not panels:
        raise ValueError(f"history_figure: none of the metrics {[k for k, _ in _PANELS]} is in the history")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        for name, style, legend in ((key, "-o", "training"), (f"val_{key}", "--s", "validation")):
            if name in history:
                values = history[name]
                ax.plot(range(1, len(values) + 1), values, style, markersize=3, label=legend)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="gray", linestyle=":", label=f"best validation loss (epoch {best_epoch})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history: dict, path: str | os.PathLike, **kwargs) -> None:
    """``history_figure(history, **kwargs)`` saved to ``path`` (PNG)."""
    import matplotlib.pyplot as plt
    fig = history_figure(history, **kwargs)
    fig.savefig(path, dpi=110)
    plt.close(fig)


class _HistoryFiles(Callback):
    """Rewrites ``history.csv`` after every checkpoint (so the file matches the checkpoint on resume)."""

    order = 20  # after ModelCheckpoint (10)

    def __init__(self, path: Path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        write_history_csv(self.trainer.history.history, self.path)


# -- the classifier recipe ----------------------------------------------------------------------------
def train_classifier(dataset: str = "digits", hidden: Sequence[int] = (128, 64), epochs: int = 30,
                     lr: float = 1e-3, optimizer: str = "adam", batch_size: int = 64, dropout: float = 0.0,
                     weight_decay: float = 0.0, seed: int = 0, out: str | os.PathLike = "runs/train",
                     resume: bool = False, verbose: int = 1, callbacks: Sequence[Callback] = (),
                     plot: bool = True) -> dict:
    """Train an MLP classifier on a bundled dataset; checkpoints, history and plot go to ``out``.

    The samples are split 70/15/15 (stratified, seeded by ``seed``) into training, validation and
    test sets; the tabular sets' features are standardized with the training split's mean and
    standard deviation. ``out`` receives ``last.safetensors`` (after every epoch),
    ``best.safetensors`` (lowest validation loss), ``history.csv`` and ``history.png``.
    With ``resume=True`` training continues from ``out/last.safetensors`` exactly where it stopped.

    Returns a dict: ``test_accuracy`` and ``test_loss`` of the best-validation weights on the test
    split, ``best_epoch`` (1-based), ``epochs`` (completed), ``history``, ``seconds``, ``out``,
    ``n_train``, ``split`` (``{"train", "val", "test"}`` sorted index arrays), ``mean``/``std`` (the
    standardization statistics, None for the 2-D sets), ``model`` (holding the evaluated weights),
    ``files`` and ``summary``.
    """
    from shendu.data import TensorDataset, train_val_test_split
    from shendu.data.splits import standardize
    config = ClassifierConfig(dataset=dataset, hidden=tuple(hidden), epochs=epochs, lr=lr, optimizer=optimizer,
                              batch_size=batch_size, dropout=dropout, weight_decay=weight_decay, seed=seed)
    check_config(config)
    start = time.perf_counter()
    x, y = load_classification(dataset, seed)
    train_idx, val_idx, test_idx = train_val_test_split(len(y), fractions=(0.7, 0.15, 0.15), seed=seed,
                                                        stratify=y.numpy())
    mean = std = None
    if dataset in _TABULAR:
        x, mean, std = standardize(x, train_idx)
    sd.manual_seed(seed)
    classes = int(y.numpy().max()) + 1
    model = mlp(x.shape[1], list(hidden), classes, dropout)
    opt = OPTIMIZERS[optimizer](model.parameters(), lr, weight_decay)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = ModelCheckpoint(dirpath=out, monitor="val_loss", save_best_only=True, save_last=True)
    trainer = Trainer(model, loss=nn.CrossEntropyLoss(), optimizer=opt, metrics=["accuracy"],
                      callbacks=[checkpoint, _HistoryFiles(out / "history.csv"), *callbacks])
    last = out / "last.safetensors"
    history = trainer.fit(TensorDataset(x[train_idx], y[train_idx]), epochs=epochs, batch_size=batch_size,
                          validation_data=(x[val_idx], y[val_idx]), seed=seed, verbose=verbose,
                          resume_from=str(last) if resume and last.exists() else None)
    best_epoch = None
    if checkpoint.best_path:  # evaluate the weights that did best on validation data
        from shendu.io import load_checkpoint
        best = out / Path(checkpoint.best_path).name  # the folder may have moved since it was written
        ckpt = load_checkpoint(best, model=model, restore_rng=False)
        best_epoch = int(ckpt["epoch"])
    test = trainer.evaluate((x[test_idx], y[test_idx]))
    files = [last, out / "best.safetensors", out / "history.csv"]
    write_history_csv(history.history, out / "history.csv")
    if plot and history.history:
        try:
            widths = "-".join(str(w) for w in (x.shape[1], *hidden, classes))
            plot_history(history.history, out / "history.png", best_epoch=best_epoch,
                         title=f"{dataset}: MLP {widths}, {optimizer} lr={lr:g}, batch {batch_size}")
            files.append(out / "history.png")
        except ImportError:  # matplotlib is optional: the run itself is complete without the figure
            pass
    done = len(history.history.get("loss", []))
    result = {"test_accuracy": float(test["accuracy"]), "test_loss": float(test["loss"]), "best_epoch": best_epoch,
              "epochs": done, "history": history.history, "seconds": time.perf_counter() - start,
              "out": str(out), "n_train": int(np.size(train_idx)),
              "split": {"train": train_idx, "val": val_idx, "test": test_idx}, "mean": mean, "std": std,
              "model": model, "files": [str(f) for f in files]}
    epochs_done = f"{done} epoch{'s' * (done != 1)}"
    result["summary"] = (f"{dataset}: test accuracy {result['test_accuracy']:.4f} on {len(test_idx)} held-out samples "
                         f"(weights of epoch {best_epoch}, the best validation loss) after {epochs_done}")
    return result


def run_classifier(config: ClassifierConfig, *, out: str | os.PathLike, resume: bool = False,
                   callbacks: Sequence[Callback] = (), verbose: int = 0) -> dict:
    """``train_classifier`` with a ``ClassifierConfig`` (the ``mlp`` entry of ``RECIPES``)."""
    return train_classifier(**dataclasses.asdict(config), out=out, resume=resume, callbacks=callbacks,
                            verbose=verbose)


RECIPES: dict[str, Recipe] = {
    "mlp": Recipe("shendu.train.recipes", "ClassifierConfig", "run_classifier",
                  "an MLP classifier on a bundled dataset (digits, iris, ..., xor)"),
    "charrnn": Recipe("shendu.train.charrnn", "CharRNNTrainConfig", "run_charrnn",
                      "a character-level LSTM/GRU language model on a text file (--data) or the Python stdlib"),
    "gpt": Recipe("shendu.train.gpt", "GPTTrainConfig", "run_gpt",
                  "pretrain a GPT (BPE or characters) on a text file (--data) or the Python stdlib"),
    "sft": Recipe("shendu.train.sft_recipe", "SFTConfig", "run_sft",
                  "instruction-tune a 'train gpt' run (--base) on the built-in instructions, chat template"),
    "bert": Recipe("shendu.train.bert", "BertTrainConfig", "run_bert",
                   "pretrain a BERT (masked LM, optional NSP, WordPiece) on a text file (--data) or the stdlib"),
}
