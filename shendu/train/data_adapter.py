"""Turn what ``fit``/``evaluate``/``predict`` accept into an iterable of batches.

Accepted: ``(X, y)`` (arrays, tensors or nested lists; X alone for ``predict``), a map-style
``Dataset`` of ``(x, y)`` samples, or a ``DataLoader`` (or any iterable of batches), used as is.
NumPy float arrays take the default float dtype (float32), as Keras casts to its floatx, so a
float64 array from scikit-learn meets float32 weights; Tensors keep their dtype.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from shendu import backend, dtypes
from shendu.data.dataloader import DataLoader
from shendu.data.dataset import Dataset, Subset, TensorDataset
from shendu.random import Generator
from shendu.tensor import Tensor

DEFAULT_BATCH_SIZE = 32


def to_tensor(x: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        arr = arr.astype(dtypes.get_default_dtype(), copy=False)
    elif arr.dtype.kind in "OUS":
        raise TypeError(f"fit: cannot turn an array of dtype {arr.dtype} into a tensor")
    return Tensor._wrap(arr)


def is_arrays(data: Any) -> bool:
    """``(X, y)`` or ``(X,)`` of array-likes (not a Dataset/DataLoader)."""
    return isinstance(data, (tuple, list)) and 1 <= len(data) <= 2 and all(
        isinstance(d, (Tensor, np.ndarray, list)) for d in data)


def as_tensors(data: Any, what: str) -> tuple:
    """``(X, y)`` as tensors with matching first dimensions."""
    tensors = tuple(to_tensor(d) for d in data)
    sizes = [t.shape[0] if t.ndim else 0 for t in tensors]
    if len(set(sizes)) > 1:
        raise ValueError(f"{what}: inputs and labels must have the same number of samples (first dimension), "
                         f"got {sizes[0]} inputs and {sizes[1]} labels")
    if sizes[0] == 0:
        raise ValueError(f"{what}: no samples (inputs of shape {tensors[0].shape})")
    return tensors


def is_loader(data: Any) -> bool:
    return isinstance(data, DataLoader) or (
        hasattr(data, "__iter__") and not isinstance(data, (Dataset, Tensor, np.ndarray, tuple, list, dict, str)))


def make_loader(data: Any, *, batch_size: int | None, shuffle: bool = False, generator: Generator | None = None,
                what: str = "train_data"):
    """An iterable of batches for ``data`` (see the module docstring)."""
    if is_loader(data):
        if batch_size is not None:
            raise ValueError(f"{what}: batch_size={batch_size} cannot be used with a DataLoader (it has its own "
                             "batch_size); leave batch_size=None")
        return data
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"{what}: batch_size must be a positive integer, got {batch_size!r}")
    if is_arrays(data):
        dataset = TensorDataset(*as_tensors(data, what))
    elif isinstance(data, (Tensor, np.ndarray)):
        dataset = TensorDataset(*as_tensors((data,), what))
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        dataset = data
        if len(dataset) == 0:
            raise ValueError(f"{what}: the dataset is empty")
    else:
        raise TypeError(f"{what}: expected (X, y) arrays or tensors, a Dataset or a DataLoader, "
                        f"got {type(data).__name__}")
    return DataLoader(dataset, batch_size=batch_size or DEFAULT_BATCH_SIZE, shuffle=shuffle, generator=generator)


def split_validation(data: Any, fraction: float) -> tuple[Any, Any]:
    """Hold out the LAST ``fraction`` of the samples (Keras' rule: before any shuffling, no randomness)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fit: validation_split must be in (0, 1), got {fraction}")
    if is_arrays(data):
        tensors = as_tensors(data, "train_data")
        n = tensors[0].shape[0]
    elif isinstance(data, Dataset) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")
                                       and not is_loader(data)):
        tensors, n = None, len(data)
    else:
        raise ValueError("fit: validation_split needs (X, y) arrays or a Dataset; with a DataLoader pass "
                         "validation_data instead")
    n_val = int(math.floor(n * fraction))
    if n_val == 0 or n_val == n:
        raise ValueError(f"fit: validation_split={fraction} of {n} samples leaves an empty split")
    cut = n - n_val
    if tensors is not None:
        return tuple(t[:cut] for t in tensors), tuple(t[cut:] for t in tensors)
    return Subset(data, range(cut)), Subset(data, range(cut, n))


def full_labels(data: Any):
    """All labels as one Tensor when they are at hand without iterating (arrays, TensorDataset), else None."""
    if is_arrays(data) and len(data) == 2:
        return to_tensor(data[1])
    if isinstance(data, TensorDataset) and len(data.tensors) >= 2:
        return data.tensors[-1]
    return None


def first_inputs(data: Any):
    """The first two samples' inputs (for a probe forward before training), or None."""
    if is_arrays(data):
        return to_tensor(data[0])[:2]
    if isinstance(data, TensorDataset) and len(data.tensors) >= 2:
        return data.tensors[0][:2]
    return None


def unpack_batch(batch: Any) -> tuple[tuple, Any]:
    """``(inputs tuple, targets)`` of a batch: ``(x, y)``, ``((x1, x2), y)``, ``[x]`` or ``x`` (targets None)."""
    if isinstance(batch, Tensor):
        return (batch,), None
    if isinstance(batch, dict):
        raise TypeError("fit: dict batches need a custom Trainer.train_step / test_step / predict_step")
    if isinstance(batch, (tuple, list)):
        if len(batch) == 1:
            return (batch[0],), None
        if len(batch) == 2:
            x, y = batch
            return (tuple(x) if isinstance(x, (tuple, list)) else (x,)), y
    raise TypeError(f"fit: expected batches (inputs, targets), got {type(batch).__name__} of length "
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
