"""The callback protocol: ``Callback`` (every hook a no-op) and ``CallbackList`` (calls them in order).

A callback overrides any of ``on_train_begin/end(logs)``, ``on_epoch_begin/end(epoch, logs)`` and
``on_batch_begin/end(batch, logs)`` (``epoch`` and ``batch`` are 0-based indices). It reaches the
run through ``self.trainer`` (``.model``, ``.optimizer``, ``.history``, ``.stop_training``).

Epoch-end order matters, so callbacks run sorted by their ``order`` (ties keep the given order):
``LearningRateScheduler`` (-10) steps first, then ordinary callbacks (0), then loggers (5), then
``ModelCheckpoint`` (10), which thus saves the state every other callback has already updated.
A callback whose ``state_dict()`` is not empty is saved in checkpoints and restored on resume.
"""
from __future__ import annotations

from collections.abc import Callable


class Callback:
    """Base class: every hook does nothing."""

    order = 0

    def __init__(self):
        self.trainer = None

    def set_trainer(self, trainer) -> None:
        """Attach the ``Trainer`` this callback serves (``fit`` calls it)."""
        self.trainer = trainer

    @property
    def model(self):
        """The model being trained (``self.trainer.model``)."""
        return self.trainer.model

    @property
    def optimizer(self):
        """The trainer's optimizer (``self.trainer.optimizer``)."""
        return self.trainer.optimizer

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Called once when ``fit`` starts (before any resume is restored)."""

    def on_train_end(self, logs: dict | None = None) -> None:
        """Called once when ``fit`` ends; ``logs`` are the last epoch's."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Called before epoch ``epoch`` (0-based) trains."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Called after epoch ``epoch`` (0-based) with its logs (``loss``, metrics, ``val_*``, ``lr``); a callback
        may add entries to ``logs`` or set ``self.trainer.stop_training``."""

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before training batch ``batch`` (0-based index within the epoch)."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after training batch ``batch`` with that batch's logs (``loss`` and what ``train_step`` returned)."""

    def state_dict(self) -> dict:
        """What a checkpoint keeps of this callback (restored by ``load_state_dict`` on resume)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict()`` returned (on resume); the base class keeps nothing."""


class CallbackList:
    """Calls each hook on every callback, in ``order``."""

    def __init__(self, callbacks, trainer):
        self.callbacks = sorted(callbacks, key=lambda c: c.order)
        for c in self.callbacks:
            c.set_trainer(trainer)

    def keys(self) -> list[str]:
        """A stable name per callback for checkpoints: ``ClassName:k`` (k-th of its class)."""
        seen: dict[str, int] = {}
        out = []
        for c in self.callbacks:
            name = type(c).__name__
            out.append(f"{name}:{seen.get(name, 0)}")
            seen[name] = seen.get(name, 0) + 1
        return out

    def state_dict(self) -> dict:
        """``{key: state}`` of every callback with a non-empty ``state_dict()`` (keys from ``keys()``)."""
        return {k: s for k, c in zip(self.keys(), self.callbacks) if (s := c.state_dict())}

    def load_state_dict(self, state: dict) -> None:
        """Give each callback its entry of ``state`` (what ``state_dict()`` returned)."""
        for k, c in zip(self.keys(), self.callbacks):
            if k in state:
                c.load_state_dict(state[k])

    def __getattr__(self, hook: str) -> Callable:
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args):
            for c in self.callbacks:
                getattr(c, hook)(*args)
        return call
