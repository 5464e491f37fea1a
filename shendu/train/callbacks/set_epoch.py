"""``SetEpoch``: tell a per-epoch data source which epoch begins (as ``DistributedSampler.set_epoch``)."""
from __future__ import annotations

from shendu.train.callbacks._base import Callback


class SetEpoch(Callback):
    """At each epoch's start, call ``source.set_epoch(epoch)``: a sampler, or a stream of batches whose
    draws depend on the epoch, so a resumed run reads the same batches as an uninterrupted one.

    Args:
        source: any object with a ``set_epoch(epoch: int)`` method.
    """

    order = -20  # before the callbacks that read the epoch's data

    def __init__(self, source):
        super().__init__()
        self.source = source

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.source.set_epoch(epoch)
