"""``EarlyStopping``: end training when a monitored log stops improving."""
from __future__ import annotations

import logging
import math

from shendu.train.callbacks._base import Callback
from shendu.train.callbacks._monitor import copy_state, improved, monitor_mode, monitored

logger = logging.getLogger("shendu.train")


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
        self.mode = monitor_mode(monitor, mode, "EarlyStopping")
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
        current = monitored(logs, self.monitor, "EarlyStopping")
        self.wait += 1
        if improved(current, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = copy_state(self.model)
            if self.baseline is None or improved(current, self.baseline, self.mode, 0.0):
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
