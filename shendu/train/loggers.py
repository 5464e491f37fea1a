"""Callbacks that report: ``CSVLogger``, ``JSONLLogger`` (one row per epoch) and ``ProgressBar`` (tqdm).

The file loggers open, append and close the file at every epoch, so rows written before a crash
are on disk and a resumed run (``append=True``) continues the same file.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys

from shendu.train.callbacks import Callback


def _number(value):
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 2 ** 53 else value


class CSVLogger(Callback):
    """Write ``epoch`` (0-based) and each epoch's logs to a CSV file.

    Args:
        filename: the CSV file. separator: the field delimiter. append: keep existing rows (and the
            header) instead of starting a new file. The columns are those of the first row written,
            sorted; a value missing later is written as ``NA``.
    """

    order = 5

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.keys: list[str] | None = None

    def on_train_begin(self, logs=None) -> None:
        self.keys = None
        if self.append and os.path.exists(self.filename) and os.path.getsize(self.filename):
            with open(self.filename, newline="") as f:
                header = next(csv.reader(f, delimiter=self.sep), None)
            self.keys = header[1:] if header else None
        else:
            os.makedirs(os.path.dirname(os.path.abspath(self.filename)), exist_ok=True)
            open(self.filename, "w").close()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        with open(self.filename, "a", newline="") as f:
            writer = csv.writer(f, delimiter=self.sep)
            if self.keys is None:
                self.keys = sorted(logs)
                writer.writerow(["epoch", *self.keys])
            writer.writerow([epoch, *(_number(logs[k]) if k in logs else "NA" for k in self.keys)])


class JSONLLogger(Callback):
    """Append one JSON object per epoch, ``{"epoch": e, **logs}``, to a JSON Lines file.

    Non-finite values are written as ``null`` (JSON has no NaN). ``append=False`` starts a new file.
    """

    order = 5

    def __init__(self, filename: str | os.PathLike, append: bool = False):
        super().__init__()
        self.filename, self.append = os.fspath(filename), append

    def on_train_begin(self, logs=None) -> None:
        if not self.append:
            os.makedirs(os.path.dirname(os.path.abspath(self.filename)), exist_ok=True)
            open(self.filename, "w").close()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        row = {"epoch": epoch}
        for k, v in (logs or {}).items():
            v = float(v)
            row[k] = _number(v) if math.isfinite(v) else None
        with open(self.filename, "a") as f:
            f.write(json.dumps(row, allow_nan=False) + "\n")


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
