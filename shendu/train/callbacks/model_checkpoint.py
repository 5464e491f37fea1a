"""``ModelCheckpoint``: save the best and the last state during ``fit``."""
from __future__ import annotations

import logging
import math
import os

from shendu.train.callbacks._base import Callback
from shendu.train.callbacks._monitor import improved, monitor_mode, monitored

logger = logging.getLogger("shendu.train")


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
        self.mode = monitor_mode(monitor, mode, "ModelCheckpoint")
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
            current = monitored(logs, self.monitor, "ModelCheckpoint")
            if improved(current, self.best, self.mode, 0.0):
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
