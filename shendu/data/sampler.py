"""Samplers: which dataset indices a ``DataLoader`` visits, and in what order (PyTorch's names).

Random samplers draw one whole permutation (or one array of draws) per epoch, eagerly when
``iter(sampler)`` is called, from a passed ``shendu.Generator`` or the global generator
(``shendu.manual_seed``): each epoch reshuffles, and the same seed gives the same order.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from shendu.random import Generator, _generator


class Sampler:
    """Yields dataset indices; subclasses define ``__iter__`` and usually ``__len__``."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError

    def indices(self) -> np.ndarray:
        """One epoch's indices as an int64 array (samplers that can, build it in one call)."""
        return np.fromiter(iter(self), dtype=np.int64)


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
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def indices(self) -> np.ndarray:
        n, rng = len(self.data_source), _generator(self.generator)
        if self.replacement:
            return rng.integers(0, n, size=self.num_samples, dtype=np.int64)
        reps = -(-self.num_samples // n)
        return np.concatenate([rng.permutation(n) for _ in range(reps)])[: self.num_samples].astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

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
        w = np.asarray(weights._data if hasattr(weights, "_data") else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be 1-D, got shape {w.shape}")
        if not replacement and num_samples > len(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples from {len(w)} "
                             "weights without replacement")
        self.weights, self.num_samples, self.replacement, self.generator = w, int(num_samples), replacement, generator

    def indices(self) -> np.ndarray:
        p = self.weights / self.weights.sum()
        draws = _generator(self.generator).choice(len(p), size=self.num_samples, replace=self.replacement, p=p)
        return draws.astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter unless dropped)."""

    def __init__(self, sampler: Sampler, batch_size: int, drop_last: bool):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size should be a positive integer, got {batch_size!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def batches(self) -> Iterator[np.ndarray]:
        """The epoch's batches as int64 arrays: one slice of the epoch's index array each."""
        order = self.sampler.indices() if isinstance(self.sampler, Sampler) else np.asarray(list(self.sampler))
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        return (order[i:i + self.batch_size] for i in range(0, stop, self.batch_size))

    def __iter__(self) -> Iterator[list[int]]:
        return (b.tolist() for b in self.batches())

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
