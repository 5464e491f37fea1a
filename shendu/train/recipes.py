"""Ready-made training runs: an MLP classifier on a bundled dataset (``shendu train``, ``shendu demo``).

A recipe is ordinary library code — Sequential, an optimizer, ``fit`` with callbacks — put together
with sensible defaults, so the command line and the demo train the way a user's program would.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

import shendu as sd
from shendu import nn, optim
from shendu.train.callbacks import ModelCheckpoint
from shendu.train.trainer import Trainer

OPTIMIZERS = {
    "sgd": lambda ps, lr, wd: optim.SGD(ps, lr=lr, weight_decay=wd),
    "momentum": lambda ps, lr, wd: optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd),
    "adam": lambda ps, lr, wd: optim.Adam(ps, lr=lr, weight_decay=wd),
    "adamw": lambda ps, lr, wd: optim.AdamW(ps, lr=lr, weight_decay=wd or 1e-2),
    "rmsprop": lambda ps, lr, wd: optim.RMSprop(ps, lr=lr, weight_decay=wd),
}


def load_classification(name: str, seed: int = 0) -> tuple[sd.Tensor, sd.Tensor]:
    """(X float32, y int64) for a bundled classification dataset (nothing is downloaded)."""
    from shendu import data
    loaders = {"digits": data.load_digits, "iris": data.load_iris, "wine": data.load_wine,
               "breast_cancer": data.load_breast_cancer}
    if name in loaders:
        return loaders[name](standardize=True)
    if name == "moons":
        return data.two_moons(1000, noise=0.2, seed=seed)
    if name == "spirals":
        return data.spirals(900, classes=3, noise=0.2, seed=seed)
    if name == "xor":
        x, y = data.xor()
        return x.float(), y
    raise ValueError(f"unknown dataset {name!r}; choose from {sorted([*loaders, 'moons', 'spirals', 'xor'])}")


def mlp(in_features: int, hidden: list[int], classes: int, dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        in_features = width
    layers.append(nn.Linear(in_features, classes))
    return nn.Sequential(*layers)


def train_classifier(dataset: str = "digits", hidden=(128, 64), epochs: int = 30, lr: float = 1e-3,
                     optimizer: str = "adam", batch_size: int = 64, dropout: float = 0.0,
                     weight_decay: float = 0.0, seed: int = 0, out: str | os.PathLike = "runs/train",
                     resume: bool = False, verbose: int = 1) -> dict:
    """Train an MLP on ``dataset`` with a 70/15/15 stratified split; checkpoints go to ``out``.

    Returns the test accuracy and loss of the best-validation weights, the history and timings.
    With ``resume=True`` training continues from ``out/last.safetensors`` exactly where it stopped.
    """
    from shendu.data import TensorDataset, train_val_test_split
    start = time.perf_counter()
    x, y = load_classification(dataset, seed)
    train_idx, val_idx, test_idx = train_val_test_split(len(y), fractions=(0.7, 0.15, 0.15), seed=seed,
                                                        stratify=y.numpy())
    sd.manual_seed(seed)
    classes = int(y.numpy().max()) + 1
    model = mlp(x.shape[1], list(hidden), classes, dropout)
    opt = OPTIMIZERS[optimizer](model.parameters(), lr, weight_decay)
    out = Path(out)
    checkpoint = ModelCheckpoint(dirpath=out, monitor="val_loss", save_best_only=True, save_last=True)
    trainer = Trainer(model, loss=nn.CrossEntropyLoss(), optimizer=opt, metrics=["accuracy"], callbacks=[checkpoint])
    last = out / "last.safetensors"
    history = trainer.fit(TensorDataset(x[train_idx], y[train_idx]), epochs=epochs, batch_size=batch_size,
                          validation_data=(x[val_idx], y[val_idx]), seed=seed, verbose=verbose,
                          resume_from=str(last) if resume and last.exists() else None)
    if checkpoint.best_path:  # evaluate the weights that did best on validation data
        from shendu.io import load_checkpoint
        load_checkpoint(checkpoint.best_path, model=model, restore_rng=False)
    test = trainer.evaluate((x[test_idx], y[test_idx]))
    return {"test_accuracy": float(test["accuracy"]), "test_loss": float(test["loss"]),
            "epochs": len(history.history.get("loss", [])), "history": history.history,
            "seconds": time.perf_counter() - start, "out": str(out), "n_train": int(np.size(train_idx))}
