"""Callbacks that write one row per epoch: ``CSVLogger`` and ``JSONLLogger``.

The file loggers open, append and close the file at every epoch, so rows written before a crash
are on disk and a resumed run (``append=True``) continues the same file.
"""
from __future__ import annotations

import csv
import json
import math
import os

from shendu.train.callbacks._base import Callback


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
