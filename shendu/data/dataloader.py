"""``DataLoader``: batches of a dataset, shuffled per epoch, optionally prefetched by a thread.

PyTorch's signature and semantics (``torch.utils.data.DataLoader``), with two differences:
- ``num_workers > 0`` starts ONE background thread (not processes) that fetches and collates up to
  ``prefetch_factor * num_workers`` batches ahead of the training loop. NumPy releases the GIL in
  its kernels, so fetching overlaps with compute; the batches and their order are the same as with
  ``num_workers=0`` because the epoch's indices are drawn in the calling thread first.
- A dataset with ``get_batch(indices)`` (``TensorDataset`` and Subsets of it) with the default
  ``collate_fn`` is gathered with one fancy index per tensor instead of item by item.
"""
from __future__ import annotations

import collections.abc
import copy
import itertools
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from shendu import backend, dtypes
from shendu.data.dataset import IterableDataset, batch_fetcher
from shendu.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, _iter_chunks
from shendu.random import Generator
from shendu.tensor import Tensor


def _stack(arrays: list, kind: str) -> Tensor:
    xp = backend.array_module(arrays[0])
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise RuntimeError(f"default_collate: stack expects each {kind} to be equal size, got shapes {sorted(shapes)}")
    return Tensor._wrap(xp.stack(arrays))


def default_collate(batch: list) -> Any:
    """Stack a list of samples into a batch (PyTorch's ``default_collate``).

    Tensors and NumPy arrays are stacked along a new dim 0 (keeping their dtype); Python floats
    become a float64 tensor, ints an int64 tensor, bools a bool tensor, NumPy scalars a tensor of
    their dtype; strings stay a list. Dicts collate per key, namedtuples per field, and other
    sequences (tuples included, which become lists as in PyTorch) per position.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        if any(t.requires_grad for t in batch):
            from shendu.ops.shape import stack
            return stack(list(batch))
        return _stack([t._data for t in batch], "tensor")
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OUSV":
            raise TypeError(f"default_collate: NumPy arrays of dtype {elem.dtype} cannot be collated")
        return _stack(list(batch), "array")
    if isinstance(elem, (np.bool_, np.number)):
        return Tensor._wrap(np.asarray(batch))
    if isinstance(elem, bool):
        return Tensor._wrap(np.asarray(batch, dtype=dtypes.bool_))
    if isinstance(elem, float):
        return Tensor._wrap(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, int):
        return Tensor._wrap(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(out)
            return clone
        return out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("default_collate: each element in list of batch should be of equal size")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, NumPy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays (also inside dicts and sequences) into Tensors; other values pass through."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OUSV":
        return Tensor._wrap(data)
    if isinstance(data, (np.bool_, np.number)):
        return Tensor._wrap(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return [default_convert(d) for d in data]
    return data


def get_worker_info() -> None:
    """None: datasets are always read in the main process here (PyTorch returns None there too).

    shendu's ``num_workers > 0`` prefetches in one thread over the same dataset object, so an
    ``IterableDataset`` that shards itself by ``get_worker_info()`` correctly yields its whole stream once.
    """
    return None


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Args:
        dataset: a map-style ``Dataset`` (or anything with ``__getitem__``/``__len__``) or an
            ``IterableDataset``.
        batch_size: samples per batch (default 1); None yields single samples (``default_convert``).
        shuffle: reshuffle at every epoch (default False), drawing from ``generator`` or the global
            generator (``shendu.manual_seed``).
        sampler: the index order (exclusive with ``shuffle``); batch_sampler: lists of indices
            (exclusive with ``batch_size``, ``shuffle``, ``sampler``, ``drop_last``).
        num_workers: if > 0, one background thread prefetches batches (see the module docstring).
        collate_fn: merges a list of samples into a batch (default ``default_collate``).
        pin_memory, timeout, persistent_workers, multiprocessing_context, pin_memory_device,
            in_order: accepted for PyTorch compatibility; they change nothing here.
        drop_last: drop the last incomplete batch (default False).
        worker_init_fn: called as ``worker_init_fn(0)`` in the prefetch thread before it starts.
        generator: the ``shendu.Generator`` for shuffling.
        prefetch_factor: batches prefetched per worker (default 2 when ``num_workers > 0``).
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn: Callable | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable | None = None, multiprocessing_context=None,
                 generator: Generator | None = None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = "", in_order: bool = True):
        if num_workers < 0:
            raise ValueError(f"DataLoader: num_workers option should be non-negative, got {num_workers}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor option could only be specified with num_workers > 0")
        self.dataset, self.num_workers, self.generator = dataset, num_workers, generator
        self.prefetch_factor = (2 if prefetch_factor is None else prefetch_factor) if num_workers > 0 else None
        self.worker_init_fn, self.pin_memory, self.timeout = worker_init_fn, pin_memory, timeout
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable and (shuffle or sampler is not None or batch_sampler is not None):
            raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle, sampler and "
                             f"batch_sampler, got shuffle={shuffle}, sampler={sampler}, batch_sampler={batch_sampler}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last = batch_size, drop_last
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self._auto_collation = batch_sampler is not None or (self._iterable and batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._fetch_batch = batch_fetcher(dataset) if collate_fn is default_collate else None

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # TypeError for datasets without a length, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler) if self.batch_sampler is not None else len(self.sampler)

    # -- producing batches ---------------------------------------------------------------------
    def _index_batches(self) -> Iterator:
        """The epoch's index batches (the random order is drawn here, at the call)."""
        if isinstance(self.batch_sampler, BatchSampler):
            return self.batch_sampler.batches()
        if self.batch_sampler is not None:
            return iter(list(self.batch_sampler))
        if not isinstance(self.sampler, Sampler):
            return iter(list(self.sampler))
        chunks = self.sampler.chunks()
        first = next(chunks, None)  # the epoch's order is drawn here; later chunks as consumed
        return itertools.chain([] if first is None else first.tolist(), _iter_chunks(chunks))

    def _batches(self) -> Iterator:
        if self._iterable:
            yield from self._iterable_batches()
            return
        for index in self._index_batches():
            if not self._auto_collation:
                yield self.collate_fn(self.dataset[index])
            elif self._fetch_batch is not None:
                yield self._fetch_batch(np.asarray(index, dtype=np.int64))
            else:
                yield self.collate_fn([self.dataset[int(i)] for i in index])

    def _iterable_batches(self) -> Iterator:
        it = iter(self.dataset)
        if self.batch_size is None:
            yield from (self.collate_fn(s) for s in it)
            return
        while True:
            chunk = [s for _, s in zip(range(self.batch_size), it)]
            if not chunk or (self.drop_last and len(chunk) < self.batch_size):
                return
            yield self.collate_fn(chunk)

    def __iter__(self) -> Iterator:
        if self.num_workers == 0:
            return self._batches()
        return _prefetch(self._batches(), self.num_workers * self.prefetch_factor, self.worker_init_fn)


_DONE = object()


def _prefetch(batches: Iterator, depth: int, worker_init_fn: Callable | None) -> Iterator:
    """Run ``batches`` in a daemon thread, at most ``depth`` batches ahead; re-raise its errors here.

    The generator's first step (which draws the epoch's shuffle) runs in the calling thread, so the
    global random stream is consumed in the same order as without prefetching.
    """
    first = next(batches, _DONE)
    q: queue.Queue = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            if worker_init_fn is not None:
                worker_init_fn(0)
            for b in batches:
                if not put((b, None)):
                    return
            put((_DONE, None))
        except BaseException as e:  # handed to the consumer, which re-raises it
            put((_DONE, e))

    if first is _DONE:
        return
    thread = threading.Thread(target=work, name="shendu-DataLoader-prefetch", daemon=True)
    thread.start()
    try:
        yield first
        while True:
            item, err = q.get()
            if err is not None:
                raise err
            if item is _DONE:
                return
            yield item
    finally:  # also on break / close: let the thread exit
        stop.set()
        thread.join(timeout=1.0)
