"""Callbacks: code that runs at fixed points of ``fit`` (Keras' callback protocol).

A callback overrides any of ``on_train_begin/end(logs)``, ``on_epoch_begin/end(epoch, logs)`` and
``on_batch_begin/end(batch, logs)`` (``epoch`` and ``batch`` are 0-based indices). It reaches the
run through ``self.trainer`` (``.model``, ``.optimizer``, ``.history``, ``.stop_training``).

Epoch-end order matters, so callbacks run sorted by their ``order`` (ties keep the given order):
``LearningRateScheduler`` (-10) steps first, then ordinary callbacks (0), then loggers (5), then
``ModelCheckpoint`` (10), which thus saves the state every other callback has already updated.
A callback whose ``state_dict()`` is not empty is saved in checkpoints and restored on resume.
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from typing import Any

from shendu.tensor import Tensor

logger = logging.getLogger("shendu.train")


class Callback:
    """Base class: every hook does nothing."""

    order = 0

    def __init__(self):
        self.trainer = None

    def set_trainer(self, trainer) -> None:
        self.trainer = trainer

    @property
    def model(self):
        return self.trainer.model

    @property
    def optimizer(self):
        return self.trainer.optimizer

    def on_train_begin(self, logs: dict | None = None) -> None: ...

    def on_train_end(self, logs: dict | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    def state_dict(self) -> dict:
        """What a checkpoint keeps of this callback (restored by ``load_state_dict`` on resume)."""
        return {}

    def load_state_dict(self, state: dict) -> None: ...


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
        return {k: s for k, c in zip(self.keys(), self.callbacks) if (s := c.state_dict())}

    def load_state_dict(self, state: dict) -> None:
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


def _monitor_mode(monitor: str, mode: str, who: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    return "max" if any(s in name for s in ("acc", "auc", "f1", "precision", "recall", "r2")) else "min"


def _monitored(logs: dict | None, monitor: str, who: str) -> float:
    if not logs or monitor not in logs:
        have = ", ".join(sorted(logs or {})) or "nothing"
        hint = " (pass validation_data or validation_split, or monitor='loss')" if monitor.startswith("val_") else ""
        raise KeyError(f"{who}: monitor {monitor!r} is not in the logs (they have {have}){hint}")
    return float(logs[monitor])


def _improved(current: float, best: float, mode: str, min_delta: float) -> bool:
    if math.isnan(current):
        return False
    return current < best - min_delta if mode == "min" else current > best + min_delta


def _copy_state(model) -> dict:
    return {k: v._data.copy() for k, v in model.state_dict().items()}


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: the log to watch (default ``"val_loss"``).
        min_delta: an improvement must beat the best by more than this.
        patience: epochs without improvement before stopping.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy-like names).
        baseline: training stops unless the monitor beats this within ``patience`` epochs.
        restore_best_weights: when training ends (stopped or not), load the weights of the best epoch.
        start_from_epoch: epochs to wait before watching (warm-up).

    Attributes: ``best``, ``best_epoch``, ``stopped_epoch`` (-1 if it never stopped), ``wait``.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__()
        self.monitor, self.min_delta, self.patience = monitor, abs(min_delta), patience
        self.verbose, self.baseline, self.restore_best_weights = verbose, baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.mode = _monitor_mode(monitor, mode, "EarlyStopping")
        self._reset()

    def _reset(self) -> None:
        self.wait, self.stopped_epoch, self.best_epoch = 0, -1, -1
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None

    def on_train_begin(self, logs=None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if epoch < self.start_from_epoch:
            return
        current = _monitored(logs, self.monitor, "EarlyStopping")
        self.wait += 1
        if _improved(current, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = _copy_state(self.model)
            if self.baseline is None or _improved(current, self.baseline, self.mode, 0.0):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True
            if self.verbose:
                logger.info("EarlyStopping: stopped at epoch %d; best %s=%.6g at epoch %d",
                            epoch + 1, self.monitor, self.best, self.best_epoch + 1)

    def on_train_end(self, logs=None) -> None:
        # After ModelCheckpoint saved the last epoch as it was, so a resume is unaffected.
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict) -> None:
        self.wait, self.best = int(state["wait"]), float(state["best"])
        self.best_epoch, self.stopped_epoch = int(state["best_epoch"]), int(state["stopped_epoch"])
        self.best_weights = state.get("best_weights")


class ModelCheckpoint(Callback):
    """Save checkpoints during ``fit``.

    Args:
        filepath: the file to write; may hold ``str.format`` fields filled from the epoch (1-based)
            and the logs, e.g. ``"ckpt/e{epoch:02d}-{val_loss:.3f}.safetensors"``.
        dirpath: a folder instead; the file is ``dirpath/best.safetensors`` with ``save_best_only``,
            else ``dirpath/epoch{epoch:03d}.safetensors``.
        monitor, mode: what "best" means (as in ``EarlyStopping``); used by ``save_best_only``.
        save_best_only: write the file only when ``monitor`` improves.
        save_last: also write ``last.safetensors`` (next to the file) after every epoch: a full
            checkpoint to resume from with ``fit(resume_from=...)``.
        save_weights_only: the (non-last) file holds only ``model.state_dict()`` (``shendu.save``);
            otherwise it is a full checkpoint (``shendu.io.load_checkpoint`` reads both kinds' model).
        every_n_epochs: write the per-epoch file every n epochs.

    Attributes: ``best``, ``best_path``, ``last_path``, ``saved`` (every path written).
    """

    order = 10

    def __init__(self, filepath: str | os.PathLike | None = None, *, dirpath: str | os.PathLike | None = None,
                 monitor: str = "val_loss", mode: str = "auto", save_best_only: bool = False,
                 save_last: bool = True, save_weights_only: bool = False, every_n_epochs: int = 1, verbose: int = 0):
        super().__init__()
        if filepath is None and dirpath is None:
            raise ValueError("ModelCheckpoint: pass filepath or dirpath")
        if dirpath is not None and filepath is None:
            name = "best.safetensors" if save_best_only else "epoch{epoch:03d}.safetensors"
            filepath = os.path.join(os.fspath(dirpath), name)
        self.filepath = os.fspath(filepath)
        self.dirpath = os.fspath(dirpath) if dirpath is not None else os.path.dirname(self.filepath) or "."
        self.monitor, self.save_best_only, self.save_last = monitor, save_best_only, save_last
        self.save_weights_only, self.every_n_epochs, self.verbose = save_weights_only, every_n_epochs, verbose
        self.mode = _monitor_mode(monitor, mode, "ModelCheckpoint")
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_path: str | None = None
        self.last_path = os.path.join(self.dirpath, "last.safetensors")
        self.saved: list[str] = []

    def _write(self, path: str) -> None:
        if self.save_weights_only:
            from shendu.io import save
            save(self.model.state_dict(), path)
        else:
            self.trainer.save_checkpoint(path)
        self.saved.append(path)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        if self.save_best_only:
            current = _monitored(logs, self.monitor, "ModelCheckpoint")
            if _improved(current, self.best, self.mode, 0.0):
                self.best = current
                self.best_path = self.filepath.format(epoch=epoch + 1, **logs)
                self._write(self.best_path)
                if self.verbose:
                    logger.info("ModelCheckpoint: %s improved to %.6g, saved %s", self.monitor, current,
                                self.best_path)
        elif (epoch + 1) % self.every_n_epochs == 0:
            self._write(self.filepath.format(epoch=epoch + 1, **logs))
        if self.save_last:
            self.trainer.save_checkpoint(self.last_path)
            self.saved.append(self.last_path)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_path": self.best_path}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_path = float(state["best"]), state.get("best_path")


def _is_plateau(scheduler: Any) -> bool:
    return any(c.__name__ == "ReduceLROnPlateau" for c in type(scheduler).__mro__)


class LearningRateScheduler(Callback):
    """Step a ``shendu.optim.lr_scheduler`` scheduler once per epoch or once per optimizer step.

    Args:
        scheduler: an LR scheduler (``step()``, ``state_dict()``), or Keras' form: a function
            ``schedule(epoch, lr) -> lr`` applied to every param group at each epoch's start.
        interval: ``"epoch"`` (after each epoch's validation) or ``"step"`` (after each optimizer
            step, so gradient accumulation counts one step per update).
        monitor: for ``ReduceLROnPlateau``, the log it is fed (default: ``"val_loss"`` when there
            is validation, else ``"loss"``; per step: the batch loss).
    """

    order = -10

    def __init__(self, scheduler: Any, interval: str = "epoch", monitor: str | None = None, verbose: int = 0):
        super().__init__()
        if interval not in ("epoch", "step"):
            raise ValueError(f"LearningRateScheduler: interval must be 'epoch' or 'step', got {interval!r}")
        self.scheduler, self.interval, self.monitor, self.verbose = scheduler, interval, monitor, verbose
        self._function = not hasattr(scheduler, "step")
        if self._function and not callable(scheduler):
            raise TypeError(f"LearningRateScheduler: expected an LR scheduler or a function, got "
                            f"{type(scheduler).__name__}")

    def _step(self, logs: dict | None, default_monitor: str) -> None:
        if _is_plateau(self.scheduler):
            monitor = self.monitor or (default_monitor if default_monitor in (logs or {}) else "loss")
            self.scheduler.step(_monitored(logs, monitor, "LearningRateScheduler"))
        else:
            self.scheduler.step()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if self._function:
            for group in self.optimizer.param_groups:
                group["lr"] = float(self.scheduler(epoch, group["lr"]))

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if not self._function and self.interval == "epoch":
            self._step(logs, "val_loss")

    def on_batch_end(self, batch: int, logs=None) -> None:
        if not self._function and self.interval == "step" and self.trainer.last_step_applied:
            self._step(logs, "loss")

    def state_dict(self) -> dict:
        return {} if self._function else {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])


class TerminateOnNaN(Callback):
    """Stop training after a batch (or an epoch) whose loss is NaN or infinite."""

    def _check(self, logs) -> None:
        for key in ("loss", "val_loss"):
            value = (logs or {}).get(key)
            if isinstance(value, Tensor):
                value = value.item()
            if value is not None and not math.isfinite(value):
                self.trainer.stop_training = True
                logger.warning("TerminateOnNaN: %s is %s, stopping", key, value)

    def on_batch_end(self, batch: int, logs=None) -> None:
        self._check(logs)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self._check(logs)


from shendu.train.loggers import CSVLogger, JSONLLogger, ProgressBar  # noqa: E402  (they subclass Callback)

__all__ = ["CSVLogger", "Callback", "CallbackList", "EarlyStopping", "JSONLLogger", "LearningRateScheduler",
           "ModelCheckpoint", "ProgressBar", "TerminateOnNaN"]
