"""Checkpoints in multi-process training: rank 0 writes, every rank reads, any world size resumes.

``save_checkpoint`` unwraps ``DistributedDataParallel`` (the file holds the plain model's keys, so a
run resumes on any number of processes, or in one without DDP), consolidates a
``ZeroRedundancyOptimizer``'s shards onto rank 0, writes from rank 0 only and ends with a barrier so
no rank reads a half-written file. ``load_checkpoint`` runs on every rank.
"""
from __future__ import annotations

import os

from shendu.io import checkpoint as _ckpt


def _plain(model):
    return getattr(model, "module", model) if type(model).__name__ == "DistributedDataParallel" else model


def save_checkpoint(path: str | os.PathLike, *, model=None, optimizer=None, scheduler=None, **kwargs) -> None:
    """Every rank calls it; rank 0 writes ``path`` (``shendu.io.checkpoint.save_checkpoint``'s format)."""
    from shendu.distributed import process_group as pg
    from shendu.distributed.collectives import barrier
    initialized = pg.is_initialized()
    if optimizer is not None and hasattr(optimizer, "consolidate_state_dict"):
        optimizer.consolidate_state_dict(to=0)
    if not initialized or pg.get_rank() == 0:
        _ckpt.save_checkpoint(path, model=_plain(model), optimizer=optimizer, scheduler=scheduler, **kwargs)
    if initialized:
        barrier()


def load_checkpoint(path: str | os.PathLike, *, model=None, optimizer=None, scheduler=None, **kwargs) -> dict:
    """Every rank reads ``path`` and restores the objects given (a DDP model loads into ``.module``)."""
    return _ckpt.load_checkpoint(path, model=_plain(model), optimizer=optimizer, scheduler=scheduler, **kwargs)
