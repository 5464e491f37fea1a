"""Data enters the trainer here, once: whatever ``fit``/``evaluate``/``predict`` accept becomes
``Batches`` (a loader and what is known about it), checked on the way in.

Accepted: ``(X, y)`` or ``(X,)`` (arrays, tensors or nested lists), a bare array or tensor, a
map-style ``Dataset`` of ``(x, y)`` samples, or a ``DataLoader`` (or any iterable of batches), used
as it is. NumPy float arrays take the default float dtype (float32), as Keras casts to its floatx,
so a float64 array from scikit-learn meets float32 weights; Tensors keep their dtype.

The checks made here need no model: sample counts, emptiness, ``batch_size`` against a loader,
``validation_split``, and the labels against the loss's ``target_kind`` when all of them are at
hand (arrays, ``TensorDataset``). What needs the outputs is checked by ``Trainer.compute_loss``
on the real batches: the labels at hand against the first batch's class count, once, and each
batch's label shape and range; nothing runs the model before training.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from shendu import backend, dtypes
from shendu.data import DataLoader, Dataset, IterableDataset, Subset, TensorDataset
from shendu.random import Generator
from shendu.tensor import Tensor
from shendu.train.compile_utils import LossSpec, TargetError, check_targets

DEFAULT_BATCH_SIZE = 32


@dataclass
class Batches:
    """Data adapted for one loop.

    Attributes:
        loader: the iterable of batches.
        what: how messages name the data (``"fit: train_data"``, ``"evaluate: data"``...).
        num_batches: ``len(loader)`` when the loader has a length, else None.
        labels: every label as one Tensor when they were at hand without iterating, else None.
    """

    loader: Iterable
    what: str
    num_batches: int | None = None
    labels: Tensor | None = None

    def __iter__(self) -> Iterator:
        return iter(self.loader)


def to_tensor(x: Any, what: str = "data") -> Tensor:
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        arr = arr.astype(dtypes.get_default_dtype(), copy=False)
    elif arr.dtype.kind in "OUS":
        raise TypeError(f"{what}: cannot turn an array of dtype {arr.dtype} into a tensor")
    return Tensor._wrap(arr)


def _is_arrays(data: Any) -> bool:
    return isinstance(data, (tuple, list)) and 1 <= len(data) <= 2 and all(
        isinstance(d, (Tensor, np.ndarray, list)) for d in data)


def _is_loader(data: Any) -> bool:
    return isinstance(data, DataLoader) or (hasattr(data, "__iter__") and not hasattr(data, "__getitem__")
                                            and not isinstance(data, (Dataset, IterableDataset, dict, str, bytes)))


def _source(data: Any, what: str) -> Dataset | Iterable:
    """A map-style dataset for arrays and Datasets, the iterable itself for a loader; raises for the rest."""
    if isinstance(data, (Tensor, np.ndarray)):
        data = (data,)
    if _is_arrays(data):
        tensors = tuple(to_tensor(d, what) for d in data)
        sizes = [t.shape[0] if t.ndim else 0 for t in tensors]
        if len(set(sizes)) > 1:
            raise ValueError(f"{what}: inputs and labels must have the same number of samples (first dimension), "
                             f"got {sizes[0]} inputs and {sizes[1]} labels")
        if sizes[0] == 0:
            raise ValueError(f"{what}: no samples (inputs of shape {tuple(tensors[0].shape)})")
        return TensorDataset(*tensors)
    if _is_loader(data) or isinstance(data, IterableDataset):
        return data
    if isinstance(data, Dataset) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")
                                     and not isinstance(data, (dict, str, bytes))):
        if len(data) == 0:
            raise ValueError(f"{what}: the dataset is empty")
        return data
    raise TypeError(f"{what}: expected (X, y) arrays or tensors, a Dataset or a DataLoader, got {type(data).__name__}")


def _labels(source: Any) -> Tensor | None:
    if isinstance(source, TensorDataset) and len(source.tensors) >= 2:
        return source.tensors[-1]
    return None


def _batches(source: Any, what: str, *, batch_size: int | None, shuffle: bool, generator: Generator | None,
             spec: LossSpec | None) -> Batches:
    if _is_loader(source):
        if batch_size is not None:
            raise ValueError(f"{what}: batch_size={batch_size} cannot be used with a DataLoader (it has its own "
                             "batch_size); leave batch_size=None")
        loader = source
    else:
        loader = DataLoader(source, batch_size=batch_size or DEFAULT_BATCH_SIZE,
                            shuffle=shuffle and not isinstance(source, IterableDataset), generator=generator)
    labels = _labels(source)
    try:
        check_targets(spec, labels)
    except TargetError as e:
        raise TargetError(f"{what}: {e}") from None
    return Batches(loader, what, _length(loader), labels)


def _length(loader: Iterable) -> int | None:
    try:
        return len(loader)
    except TypeError:  # no __len__, or a DataLoader over an IterableDataset without one
        return None


def _check_batch_size(batch_size: Any, what: str) -> None:
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"{what}: batch_size must be a positive integer, got {batch_size!r}")


def adapt(data: Any, what: str, *, batch_size: int | None = None, spec: LossSpec | None = None) -> Batches:
    """``Batches`` for ``evaluate``/``predict`` (no shuffling); ``spec`` checks labels at hand."""
    _check_batch_size(batch_size, what)
    return _batches(_source(data, what), what, batch_size=batch_size, shuffle=False, generator=None, spec=spec)


def _split(source: Any, fraction: Any, what: str) -> tuple[Any, Any]:
    """Hold out the LAST ``fraction`` of the samples (Keras' rule: before any shuffling, no randomness)."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction < 1.0:
        raise ValueError(f"fit: validation_split must be a fraction in (0, 1), got {fraction!r}")
    if _is_loader(source) or isinstance(source, IterableDataset):
        raise ValueError(f"fit: validation_split needs (X, y) arrays or a Dataset as {what}, got a "
                         f"{type(source).__name__}; pass validation_data instead")
    n = len(source)
    n_val = int(math.floor(n * fraction))
    if n_val == 0 or n_val == n:
        raise ValueError(f"fit: validation_split={fraction} of {n} samples leaves an empty split")
    cut = n - n_val
    if isinstance(source, TensorDataset):
        return (TensorDataset(*(t[:cut] for t in source.tensors)),
                TensorDataset(*(t[cut:] for t in source.tensors)))
    return Subset(source, range(cut)), Subset(source, range(cut, n))


def adapt_fit(train_data: Any, *, validation_data: Any = None, validation_split: float | None = None,
              batch_size: int | None = None, shuffle: bool = True, generator: Generator | None = None,
              spec: LossSpec | None = None) -> tuple[Batches, Batches | None]:
    """Training and validation ``Batches`` for ``fit``: the training data shuffled with ``generator``,
    the validation data (given, or the last ``validation_split`` of the training data) in order."""
    _check_batch_size(batch_size, "fit")
    train = _source(train_data, "fit: train_data")
    if validation_split:
        if validation_data is not None:
            raise ValueError("fit: pass validation_data or validation_split, not both")
        train, val = _split(train, validation_split, "train_data")
    else:
        val = None if validation_data is None else _source(validation_data, "fit: validation_data")
    train_batches = _batches(train, "fit: train_data", batch_size=batch_size, shuffle=shuffle, generator=generator,
                             spec=spec)
    if val is None:
        return train_batches, None
    return train_batches, _batches(val, "fit: validation_data", batch_size=None if _is_loader(val) else batch_size,
                                   shuffle=False, generator=None, spec=spec)


# -- batches -----------------------------------------------------------------------------------------
def unpack_batch(batch: Any) -> tuple[tuple, Any]:
    """``(inputs tuple, targets)`` of a batch: ``(x, y)``, ``((x1, x2), y)``, ``[x]`` or ``x`` (targets None)."""
    if isinstance(batch, Tensor):
        return (batch,), None
    if isinstance(batch, dict):
        raise TypeError("Trainer: dict batches need a custom train_step / test_step / predict_step")
    if isinstance(batch, (tuple, list)):
        if len(batch) == 1:
            return (batch[0],), None
        if len(batch) == 2:
            x, y = batch
            return (tuple(x) if isinstance(x, (tuple, list)) else (x,)), y
    raise TypeError(f"Trainer: expected batches (inputs, targets), got {type(batch).__name__} of length "
                    f"{len(batch) if hasattr(batch, '__len__') else '?'}; override train_step for other layouts")


def batch_size_of(targets: Any, inputs: tuple) -> int:
    for t in (targets, *inputs):
        if isinstance(t, Tensor) and t.ndim:
            return int(t.shape[0])
    return 1


def with_last(iterable: Iterable) -> Iterator[tuple[Any, bool]]:
    """``(item, is_last)`` pairs, looking one item ahead."""
    it = iter(iterable)
    try:
        prev = next(it)
    except StopIteration:
        return
    for item in it:
        yield prev, False
        prev = item
    yield prev, True


def concat_outputs(outputs: list):
    """Per-batch outputs (Tensors, or tuples/lists/dicts of them) joined along dim 0."""
    first = outputs[0]
    if isinstance(first, Tensor):
        xp = backend.array_module(first._data)
        return Tensor._wrap(xp.concatenate([o._data.reshape(o.shape or (1,)) for o in outputs]))
    if isinstance(first, (tuple, list)):
        return type(first)(concat_outputs([o[i] for o in outputs]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: concat_outputs([o[k] for o in outputs]) for k in first}
    return outputs
