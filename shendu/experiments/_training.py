"""Pieces shared by the ``overfitting`` and ``regularization`` experiments: the digits, an MLP
builder, and thin wrappers over ``shendu.train`` (``Trainer.fit`` with a seed, ``evaluate``)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import shendu as sd
from shendu import nn


def digits() -> tuple[sd.Tensor, sd.Tensor]:
    """The 8x8 digits: X (1797, 64) float32 as pixel / 16, in [0, 1] with a background of 0 (a shifted
    image is still a valid image), and y (1797,) int64.

    A fixed scale, not standardisation: statistics taken over the whole set would leak the held-out
    rows into training (``shendu.data.standardize`` fits them on the training rows).
    """
    from shendu.data import load_digits
    x, y = load_digits()
    return sd.tensor(x.numpy() / np.float32(16.0)), y


def mlp(sizes: Sequence[int], dropout: float = 0.0, input_dropout: float = 0.0, seed: int = 0) -> nn.Sequential:
    """A ReLU MLP with layer widths ``sizes`` (input first, classes last), seeded initialization.

    ``dropout`` follows every hidden ReLU, ``input_dropout`` the input (Srivastava et al. 2014
    drop 20 % of the inputs and 50 % of the hidden units).
    """
    sd.manual_seed(seed)
    layers: list = [nn.Dropout(input_dropout)] if input_dropout else []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def train(model: nn.Module, train_data: tuple, validation_data: tuple | None = None, *, epochs: int, lr: float = 1e-3,
          batch_size: int = 32, seed: int = 0, trainer_cls=None, callbacks: Sequence = (), **trainer_kwargs):
    """Adam(lr) on the cross-entropy for ``epochs`` epochs of shuffled mini-batches; returns (trainer, History).

    ``seed`` seeds the shuffling and the global generator (dropout), so a run is reproducible.
    ``trainer_cls`` (default ``shendu.train.Trainer``) gets ``trainer_kwargs``.
    """
    from threadpoolctl import threadpool_limits

    from shendu import optim
    from shendu.data import DataLoader, TensorDataset
    from shendu.train import Trainer
    if validation_data is not None:  # evaluated in one batch: it is small, and fewer batches are faster
        validation_data = DataLoader(TensorDataset(*validation_data), batch_size=len(validation_data[1]))
    trainer = (trainer_cls or Trainer)(model, "cross_entropy", optim.Adam(model.parameters(), lr=lr),
                                       **trainer_kwargs)
    # One BLAS thread while training: these matmuls (batches of 32, widths <= 1024) gain nothing from more,
    # and on a busy machine BLAS threads spinning against other processes made a 40 s run take 15 minutes.
    with threadpool_limits(1, user_api="blas"):
        history = trainer.fit(train_data, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
                              callbacks=callbacks, seed=seed, verbose=0)
    return trainer, history


def evaluate(model: nn.Module, x: sd.Tensor, y: sd.Tensor) -> dict:
    """``{"loss": mean cross-entropy, "accuracy": ...}`` of ``model`` on (x, y), in eval mode."""
    from shendu.train import evaluate as _evaluate
    out = _evaluate(model, (x, y), loss="cross_entropy", metrics=["accuracy"], batch_size=len(y))
    return {"loss": float(out["loss"]), "accuracy": float(out["accuracy"])}
