"""``TerminateOnNaN``: stop after a non-finite loss."""
from __future__ import annotations

import logging
import math

from shendu.tensor import Tensor
from shendu.train.callbacks._base import Callback

logger = logging.getLogger("shendu.train")


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
