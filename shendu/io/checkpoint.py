"""Training checkpoints: model, optimizer, scheduler, RNG streams, epoch and history in one file.

A checkpoint is a ``shendu.save`` file of a dict::

    {"format": "shendu.checkpoint", "version": 1, "epoch": int, "model": state_dict,
     "optimizer": state_dict | None, "scheduler": state_dict | None, "history": dict | None,
     "rng": {"shendu": ..., "numpy": ..., "python": ...}, "extra": dict | None}

so its tensors live in the safetensors table and the rest in JSON metadata. Written atomically: a
crash mid-save leaves the previous checkpoint at ``path`` intact.
"""
from __future__ import annotations

import os
import random
from typing import Any

import numpy as np

from shendu.io.serialization import load, save

CHECKPOINT_FORMAT = "shendu.checkpoint"
CHECKPOINT_VERSION = 1


def get_rng_states() -> dict:
    """The global random streams: shendu's generator, NumPy's legacy one and Python's ``random``."""
    from shendu.random import get_rng_state

    return {"shendu": get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_states(states: dict) -> None:
    """Restore what ``get_rng_states`` returned (entries that are absent are left alone)."""
    from shendu.random import set_rng_state

    if states.get("shendu") is not None:
        set_rng_state(states["shendu"])
    if states.get("numpy") is not None:
        np.random.set_state(tuple(states["numpy"]))
    if states.get("python") is not None:
        version, internal, gauss = states["python"]
        random.setstate((version, tuple(internal), gauss))


def _state(obj: Any) -> Any:
    return None if obj is None else obj.state_dict()


def save_checkpoint(path: str | os.PathLike, *, model=None, optimizer=None, scheduler=None, epoch: int = 0,
                    history: dict | None = None, extra: dict | None = None, rng: bool = True) -> None:
    """Write a training checkpoint to ``path`` atomically.

    Args:
        path: the file to write (conventionally ``*.safetensors``).
        model, optimizer, scheduler: objects with ``state_dict()``; None to leave out.
        epoch: the number of epochs completed (training resumes at this epoch index).
        history: per-epoch metrics, ``{name: [value per epoch]}``.
        extra: anything else ``shendu.save`` can store (e.g. callback states, a data-loader
            generator's state).
        rng: also store the global random streams (``get_rng_states``) so a resumed run draws the
            same numbers as an uninterrupted one.
    """
    save({
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "epoch": int(epoch),
        "model": _state(model), "optimizer": _state(optimizer), "scheduler": _state(scheduler),
        "history": history, "rng": get_rng_states() if rng else None, "extra": extra,
    }, path)


def load_checkpoint(path: str | os.PathLike, *, model=None, optimizer=None, scheduler=None,
                    restore_rng: bool = True, strict: bool = True, map_location=None) -> dict:
    """Read a checkpoint written by ``save_checkpoint`` and restore the objects given.

    The model, optimizer and scheduler passed get ``load_state_dict`` of their saved state
    (``strict`` applies to the model); with ``restore_rng`` the global random streams are reset
    to their saved state. Returns the whole checkpoint dict (``"epoch"``, ``"history"``,
    ``"extra"``, ...) for the caller to use.
    """
    ckpt = load(path, map_location=map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"load_checkpoint: {os.fspath(path)!r} is not a shendu checkpoint "
                         f"(expected format {CHECKPOINT_FORMAT!r}); use shendu.load for plain files")
    if ckpt.get("version", 0) > CHECKPOINT_VERSION:
        raise ValueError(f"load_checkpoint: {os.fspath(path)!r} has version {ckpt['version']}, newer than "
                         f"this shendu reads ({CHECKPOINT_VERSION})")
    for name, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is None:
            continue
        if ckpt.get(name) is None:
            raise KeyError(f"load_checkpoint: {os.fspath(path)!r} holds no {name} state, but a {name} was given")
        if name == "model":
            obj.load_state_dict(ckpt[name], strict=strict)
        else:
            obj.load_state_dict(ckpt[name])
    if restore_rng and ckpt.get("rng"):
        set_rng_states(ckpt["rng"])
    return ckpt
