"""``LearningRateScheduler``: step an LR scheduler per epoch or per optimizer step."""
from __future__ import annotations

from typing import Any

from shendu.train.callbacks._base import Callback
from shendu.train.callbacks._monitor import monitored


def _is_plateau(scheduler: Any) -> bool:
    from shendu.optim.lr_scheduler import ReduceLROnPlateau

    return isinstance(scheduler, ReduceLROnPlateau)


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
            self.scheduler.step(monitored(logs, monitor, "LearningRateScheduler"))
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
