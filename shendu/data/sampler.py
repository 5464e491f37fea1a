"""Samplers: which dataset indices a ``DataLoader`` visits, and in what order (PyTorch's names).

A sampler hands out an epoch's indices as int64 arrays: ``indices()`` the whole epoch at once,
``chunks()`` piece by piece. Random samplers draw from a passed ``shendu.Generator`` or the global
generator (``shendu.manual_seed``): each epoch reshuffles, and the same seed gives the same order.
A permutation of the dataset is drawn whole when the epoch starts. Epochs longer than the dataset
(``RandomSampler(replacement=True, num_samples=10**10)``, minGPT's "infinite" sampler) are drawn
lazily, ``CHUNK`` indices at a time, from a private stream seeded by one draw from the global
generator when the epoch starts (as PyTorch does), so a prefetch thread drawing them never races
the training loop for the global stream.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np

from shendu.random import Generator, _generator

CHUNK = 1 << 16  # indices drawn at a time by samplers whose epochs are drawn lazily


def _epoch_stream(generator: Generator | None) -> np.random.Generator:
    """The stream a lazily drawn epoch uses: ``generator``'s, or a private one seeded from the global one."""
    if generator is not None:
        return _generator(generator)
    return np.random.Generator(np.random.PCG64(int(_generator(None).integers(0, 2 ** 63))))


class Sampler:
    """Yields dataset indices; subclasses define ``__iter__`` and usually ``__len__``."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError

    def indices(self) -> np.ndarray:
        """One epoch's indices as an int64 array (samplers that can, build it in one call)."""
        return np.fromiter(iter(self), dtype=np.int64)

    def chunks(self) -> Iterator[np.ndarray]:
        """One epoch's indices as consecutive int64 arrays (lazily drawn samplers yield many)."""
        yield self.indices()


def _iter_chunks(chunks: Iterator[np.ndarray]) -> Iterator[int]:
    for c in chunks:
        yield from c.tolist()


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def indices(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the indices, or ``num_samples`` draws with replacement.

    Args:
        data_source: the dataset.
        replacement: draw with replacement (then ``num_samples`` may exceed ``len(data_source)``).
        num_samples: how many indices per epoch (default ``len(data_source)``); without
            replacement, more than ``len(data_source)`` concatenates fresh permutations.
        generator: the ``shendu.Generator`` to draw from (default: the global one).
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator: Generator | None = None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"RandomSampler: num_samples should be a positive integer, got {self.num_samples}")

    @property
    def num_samples(self) -> int:
        """How many indices one pass yields: ``num_samples`` if given, else ``len(data_source)``."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def chunks(self) -> Iterator[np.ndarray]:
        n, total = len(self.data_source), self.num_samples
        if not self.replacement and total <= n:  # one permutation, drawn whole
            yield _generator(self.generator).permutation(n)[:total].astype(np.int64)
            return
        rng = _epoch_stream(self.generator)
        step = CHUNK if self.replacement else n
        for start in range(0, total, step):
            size = min(step, total - start)
            if self.replacement:
                yield rng.integers(0, n, size=size, dtype=np.int64)
            else:  # fresh permutations, one after another
                yield rng.permutation(n)[:size].astype(np.int64)

    def indices(self) -> np.ndarray:
        return np.concatenate(list(self.chunks()))

    def __iter__(self) -> Iterator[int]:
        return _iter_chunks(self.chunks())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order (a fresh permutation each epoch)."""

    def __init__(self, indices: Sequence[int], generator: Generator | None = None):
        self._indices = np.asarray(indices, dtype=np.int64)
        self.generator = generator

    def indices(self) -> np.ndarray:
        return self._indices[_generator(self.generator).permutation(len(self._indices))]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return len(self._indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights``."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Generator | None = None):
        if not isinstance(num_samples, (int, np.integer)) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples should be a positive integer value, "
                             f"but got num_samples={num_samples!r}")
        if not isinstance(replacement, bool):
            raise ValueError(f"WeightedRandomSampler: replacement should be a boolean value, "
                             f"but got replacement={replacement!r}")
        w = np.asarray(weights._data if hasattr(weights, "_data") else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be 1-D, got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise RuntimeError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > np.count_nonzero(w):
            raise RuntimeError(f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement "
                               f"from {np.count_nonzero(w)} non-zero weights")
        self.weights, self.num_samples, self.replacement, self.generator = w, int(num_samples), replacement, generator

    def chunks(self) -> Iterator[np.ndarray]:
        p = self.weights / self.weights.sum()
        if not self.replacement:  # at most len(weights) draws: one call
            yield _generator(self.generator).choice(len(p), size=self.num_samples, replace=False, p=p).astype(np.int64)
            return
        rng = _epoch_stream(self.generator) if self.num_samples > CHUNK else _generator(self.generator)
        for start in range(0, self.num_samples, CHUNK):
            size = min(CHUNK, self.num_samples - start)
            yield rng.choice(len(p), size=size, replace=True, p=p).astype(np.int64)

    def indices(self) -> np.ndarray:
        return np.concatenate(list(self.chunks()))

    def __iter__(self) -> Iterator[int]:
        return _iter_chunks(self.chunks())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter unless dropped)."""

    def __init__(self, sampler: Sampler, batch_size: int, drop_last: bool):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size should be a positive integer, got {batch_size!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def batches(self) -> Iterator[np.ndarray]:
        """The epoch's batches as int64 arrays, sliced from the sampler's chunks as they are drawn.

        The sampler's first chunk (the epoch's shuffle) is drawn at this call, not at the first batch.
        """
        if isinstance(self.sampler, Sampler):
            chunks = self.sampler.chunks()
        else:
            chunks = iter([np.asarray(list(self.sampler), dtype=np.int64)])
        first = next(chunks, None)
        return self._slice(first, chunks)

    def _slice(self, first, chunks) -> Iterator[np.ndarray]:
        if first is None:
            return
        size, rest = self.batch_size, np.zeros(0, dtype=np.int64)
        for order in itertools.chain([first], chunks):
            if len(rest):
                order = np.concatenate([rest, order])
            stop = len(order) - len(order) % size
            for i in range(0, stop, size):
                yield order[i:i + size]
            rest = order[stop:]
        if len(rest) and not self.drop_last:
            yield rest

    def __iter__(self) -> Iterator[list[int]]:
        return (b.tolist() for b in self.batches())

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
