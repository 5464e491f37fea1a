"""Building tensors: from data, and zeros/ones/full/empty/eye/arange/linspace with ``*_like``."""
from __future__ import annotations

import numpy as np

from shendu import backend, dtypes
from shendu.tensor import Tensor, _to_array


def _finish(arr, requires_grad: bool, device) -> Tensor:
    if device is not None:
        arr = backend.to_device(arr, device)
    t = Tensor._wrap(arr)
    return t.requires_grad_() if requires_grad else t


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor copying ``data`` (lists, scalars, NumPy arrays, tensors).

    Floats become float32 (also float64 NumPy arrays) and ints int64 unless ``dtype`` is given.
    """
    arr = _to_array(data, dtype)
    if isinstance(data, (Tensor, np.ndarray)) and arr is (data._data if isinstance(data, Tensor) else data):
        arr = arr.copy()
    return _finish(arr, requires_grad, device)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array when no conversion is needed."""
    if isinstance(data, Tensor) and dtype is None:
        return data
    if isinstance(data, np.ndarray) and (dtype is None or dtypes.as_dtype(dtype) == data.dtype):
        return _finish(data, False, device)
    return _finish(_to_array(data, dtype), False, device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` and keeping its dtype (as in PyTorch)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


def _size(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    for s in size:
        if int(s) < 0:
            raise RuntimeError(f"negative dimension {s} in size {tuple(size)}")
    return tuple(int(s) for s in size)


def _dt(dtype, default=None):
    return dtypes.as_dtype(dtype) if dtype is not None else (default or dtypes.get_default_dtype())


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.zeros(_size(size), dtype=_dt(dtype)), requires_grad, device)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.ones(_size(size), dtype=_dt(dtype)), requires_grad, device)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.empty(_size(size), dtype=_dt(dtype)), requires_grad, device)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if dtype is None:
        kind = type(fill_value)
        dtype = np.bool_ if kind is bool else np.int64 if kind is int else dtypes.get_default_dtype()
    return _finish(np.full(_size((size,)), fill_value, dtype=_dt(dtype)), requires_grad, device)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.eye(n, m, dtype=_dt(dtype)), requires_grad, device)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (excluded) by ``step``; int64 when all three are ints."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError(f"arange: step must be nonzero, got start={start}, end={end}, step={step}")
    is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    arr = np.arange(start, end, step, dtype=_dt(dtype, np.dtype(np.int64) if is_int else None))
    return _finish(arr, requires_grad, device)


def linspace(start: float, end: float, steps: int, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    return _finish(np.linspace(start, end, steps, dtype=_dt(dtype)), requires_grad, device)


def logspace(start: float, end: float, steps: int, base: float = 10.0, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    return _finish(np.logspace(start, end, steps, base=base, dtype=_dt(dtype)), requires_grad, device)


def zeros_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(input._xp().zeros(input.shape, dtype=_dt(dtype, input.dtype)), requires_grad, device)


def ones_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(input._xp().ones(input.shape, dtype=_dt(dtype, input.dtype)), requires_grad, device)


def empty_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(input._xp().empty(input.shape, dtype=_dt(dtype, input.dtype)), requires_grad, device)


def full_like(input: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    arr = input._xp().full(input.shape, fill_value, dtype=_dt(dtype, input.dtype))
    return _finish(arr, requires_grad, device)
