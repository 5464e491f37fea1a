"""``ProgressBar``: a tqdm bar per epoch (or a line per epoch), only on a terminal."""
from __future__ import annotations

import sys

from shendu.train.callbacks._base import Callback


class ProgressBar(Callback):
    """A tqdm bar per epoch with the running loss; quiet when ``verbose=0`` or stderr is not a terminal.

    Args:
        verbose: 0 silent, 1 a bar per epoch, 2 one summary line per epoch (no bar).
        force: show even when stderr is not a terminal (e.g. in a notebook).
    """

    def __init__(self, verbose: int = 1, force: bool = False):
        super().__init__()
        self.verbose, self.force = verbose, force
        self.bar = None
        self.epochs = None

    @property
    def enabled(self) -> bool:
        """Whether the bar is drawn: ``verbose > 0`` and stderr is a terminal (or ``force=True``)."""
        return self.verbose > 0 and (self.force or sys.stderr.isatty())

    def on_train_begin(self, logs=None) -> None:
        self.epochs = self.trainer.params.get("epochs")

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if not self.enabled or self.verbose != 1:
            return
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.trainer.params.get("steps"), desc=f"Epoch {epoch + 1}/{self.epochs}",
                        unit="step", file=sys.stderr, leave=True, dynamic_ncols=True)

    def on_batch_end(self, batch: int, logs=None) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.4g}", refresh=False)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        text = " ".join(f"{k}={float(v):.4g}" for k, v in (logs or {}).items())
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.close()
            self.bar = None
        elif self.enabled:
            sys.stderr.write(f"Epoch {epoch + 1}/{self.epochs}: {text}\n")

    def on_train_end(self, logs=None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
