"""``DistributedSampler``: each of ``num_replicas`` processes visits its own share of a dataset.

``num_replicas`` and ``rank`` default to the process group's world size and rank
(``shendu.distributed.init_process_group``); with no process group they default to 1 and 0 (one
process sees every index). Each rank gets the share PyTorch's sampler gives it: the
epoch's order is padded (or, with ``drop_last``, cut) to a multiple of ``num_replicas``, and rank
``r`` takes every ``num_replicas``-th index starting at ``r``. The shuffle is ``randperm`` from a
``shendu.Generator`` seeded with ``seed + epoch`` (as PyTorch's, though shendu's generator draws other
values than PyTorch's), so every rank draws the same permutation.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from shendu.data.sampler import Sampler


class DistributedSampler(Sampler):
    """Restricts loading to this rank's share of the dataset (PyTorch's ``DistributedSampler``).

    Args:
        dataset: the dataset (anything with ``__len__``).
        num_replicas: the number of processes (default: the process group's world size, else 1).
        rank: this process's rank in ``[0, num_replicas)`` (default: the process group's rank, else 0).
        shuffle: shuffle the indices each epoch (default True); call ``set_epoch`` every epoch.
        seed: the shuffle's seed, the same on every rank (default 0).
        drop_last: cut the tail so every rank gets the same number of indices without padding.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if num_replicas is None or rank is None:
            from shendu.distributed import get_rank, get_world_size, is_initialized
            grouped = is_initialized()
            if num_replicas is None:
                num_replicas = get_world_size() if grouped else 1
            if rank is None:
                rank = get_rank() if grouped else 0
        num_replicas, rank = int(num_replicas), int(rank)
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas should be a positive integer, got {num_replicas}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"DistributedSampler: invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.epoch, self.drop_last, self.shuffle, self.seed = 0, drop_last, shuffle, seed
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def indices(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            from shendu.random import Generator, randperm
            g = Generator()
            g.manual_seed(self.seed + self.epoch)
            order = randperm(n, generator=g)._data.astype(np.int64)
        else:
            order = np.arange(n)
        if self.total_size > n:  # pad by repeating the order from its start
            order = np.resize(order, self.total_size)
        order = order[: self.total_size]
        return order[self.rank:self.total_size:self.num_replicas].astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch, which (with ``seed``) decides the next iteration's shuffle."""
        self.epoch = int(epoch)
