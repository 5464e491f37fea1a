"""Datasets: PyTorch's ``torch.utils.data`` map-style and iterable datasets, subsets and splits.

A map-style dataset has ``__getitem__(i)`` and ``__len__``. One that can also gather a whole batch
with one array operation defines ``get_batch(indices) -> list[Tensor]`` (indices: an int64 array);
``DataLoader`` then uses it instead of fetching items one by one and collating them.
``TensorDataset`` and ``Subset``s of it do, as does ``shendu.data.datasets.text.CharDataset``.
"""
from __future__ import annotations

import bisect
import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from shendu.random import Generator, _generator
from shendu.tensor import Tensor


class Dataset:
    """A map-style dataset: ``dataset[i]`` is one sample, ``len(dataset)`` their number."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset:
    """A stream of samples: subclasses define ``__iter__``; ``DataLoader`` groups it into batches."""

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


def _as_tensor(t: Any) -> Tensor:
    if isinstance(t, Tensor):
        return t
    from shendu.creation import as_tensor
    return as_tensor(t)


def _take(t: Tensor, index: np.ndarray) -> Tensor:
    """``t[index]``: through autograd when ``t`` requires grad, else one raw fancy-index."""
    if t.requires_grad:
        return t[index]
    xp_index = index if isinstance(t._data, np.ndarray) else t._xp().asarray(index)
    return Tensor._wrap(t._data[xp_index])


class TensorDataset(Dataset):
    """Samples are slices along the first dim of each tensor: ``dataset[i] = (t[i] for t in tensors)``.

    Args:
        *tensors: Tensors (or arrays, converted with ``shendu.as_tensor``) with equal first dims.

    Shape:
        each tensor ``(N, *)``; a sample is a tuple of ``(*)`` tensors; ``get_batch(idx)`` a list
        of ``(len(idx), *)`` tensors gathered with one fancy index per tensor.
    """

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        tensors = tuple(_as_tensor(t) for t in tensors)
        sizes = [t.shape[0] if t.ndim else None for t in tensors]
        if None in sizes or len(set(sizes)) != 1:
            shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
            raise ValueError(f"TensorDataset: size mismatch between tensors: first dims {sizes} "
                             f"(shapes {shapes}); every tensor needs the same size in dim 0")
        self.tensors = tensors

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer, slice)):  # the per-item path: skip the autograd op if we can
            return tuple(t[index] if t.requires_grad else Tensor._wrap(t._data[index]) for t in self.tensors)
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def get_batch(self, indices: np.ndarray) -> list[Tensor]:
        """The samples at ``indices`` as one batch, ``[t[indices] for t in tensors]`` (the DataLoader's fast path
        that skips per-sample collation). Shape: each (len(indices), *t.shape[1:]).
        """
        return [_take(t, indices) for t in self.tensors]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (in that order)."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """The samples of several datasets one after another."""

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int):
        if idx < 0:
            if -idx > len(self):
                raise ValueError(f"ConcatDataset: index {idx} out of range for length {len(self)}")
            idx += len(self)
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        offset = self.cumulative_sizes[d - 1] if d > 0 else 0
        return self.datasets[d][idx - offset]


def batch_fetcher(dataset: Any):
    """A function ``indices -> list of batched Tensors`` for ``dataset``, or None if it has none.

    ``Subset`` chains compose their index arrays, so a Subset of a TensorDataset is still gathered
    with one fancy index per tensor.
    """
    if isinstance(dataset, Subset):
        inner = batch_fetcher(dataset.dataset)
        if inner is None:
            return None
        indices = np.asarray(dataset.indices, dtype=np.int64)
        return lambda idx: inner(indices[idx])
    fetch = getattr(dataset, "get_batch", None)
    return fetch if callable(fetch) else None


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """PyTorch's rule: fractions summing to 1 become floor(frac * n), remainders dealt round-robin."""
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        out = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"random_split: fraction at index {i} is {frac}, not between 0 and 1")
            out.append(math.floor(n * frac))
        for i in range(n - sum(out)):
            out[i % len(out)] += 1
        for i, length in enumerate(out):
            if length == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0", stacklevel=3)
        return out
    return [int(x) for x in lengths]


def random_split(dataset: Dataset, lengths: Sequence[float], generator: Generator | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random ``Subset``s of the given lengths or fractions.

    Args:
        dataset: a map-style dataset.
        lengths: integer lengths summing to ``len(dataset)``, or fractions summing to 1 (each split
            gets floor(frac * N); the remainder is dealt one by one from the first split on).
        generator: the ``shendu.Generator`` drawing the permutation (default: the global one).
    """
    n = len(dataset)
    sizes = _split_lengths(n, lengths)
    if sum(sizes) != n:
        raise ValueError(f"random_split: sum of input lengths {list(lengths)} = {sum(sizes)} does not equal "
                         f"the length of the input dataset ({n})")
    perm = _generator(generator).permutation(n)
    return [Subset(dataset, perm[end - size:end].tolist()) for end, size in zip(itertools.accumulate(sizes), sizes)]
