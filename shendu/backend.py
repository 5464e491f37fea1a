"""The one seam between shendu and its array libraries.

Every op asks ``array_module(x)`` for the module that owns its input arrays (NumPy on the CPU, CuPy
on a GPU once that backend exists) and computes with it, so no op definition names NumPy directly.
Scatter-add and device moves live here too because they differ between the libraries.
"""
from __future__ import annotations

from typing import Any

import numpy as np

try:  # CuPy is optional: shendu runs on NumPy alone.
    import cupy as _cupy  # type: ignore
except Exception:  # pragma: no cover - depends on the machine
    _cupy = None


def _tune_host_allocator() -> bool:
    """Let freed tensor memory be reused instead of handed back to the OS (Linux, glibc).

    By default glibc serves each array above 128 KiB-32 MiB with a fresh mmap and returns it on free,
    so every training step page-faults its activations and gradients in again; that cost a third
    of a small CNN's step (W2). Keeping arrays up to 32 MiB on the heap and not trimming the heap
    below 1 GiB of free space makes the allocator act like a framework's caching allocator. The
    price: the process keeps its peak memory. Set SHENDU_HOST_ALLOCATOR=system to opt out.
    """
    import os
    import sys
    if os.environ.get("SHENDU_HOST_ALLOCATOR", "").lower() == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):  # not glibc (e.g. musl): leave the allocator alone
        return False


HOST_ALLOCATOR_TUNED = _tune_host_allocator()


class Device:
    """Where a tensor's data lives: ``Device("cpu")`` or ``Device("cuda")``; compares equal to its name."""

    __slots__ = ("type", "index")

    def __init__(self, spec: str | Device = "cpu", index: int | None = None):
        if isinstance(spec, Device):
            spec, index = spec.type, spec.index
        name, _, idx = str(spec).partition(":")
        if name not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu' or 'cuda', got {spec!r}")
        self.type = name
        self.index = int(idx) if idx else index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = Device(other)
        return isinstance(other, Device) and self.type == other.type

    def __hash__(self) -> int:
        return hash(self.type)

    def __repr__(self) -> str:
        return f"device(type='{self.type}')"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


CPU = Device("cpu")


def array_module(x: Any):
    """The array module (``numpy`` or ``cupy``) that owns ``x``."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy
    return np


def device_of(x: Any) -> Device:
    return Device("cuda") if _cupy is not None and isinstance(x, _cupy.ndarray) else CPU


def to_device(x: Any, device: str | Device):
    """Move an array to ``device``; a no-op when it is already there."""
    device = Device(device)
    if device.type == "cpu":
        return _cupy.asnumpy(x) if _cupy is not None and isinstance(x, _cupy.ndarray) else x
    if _cupy is None:
        raise RuntimeError("device 'cuda' needs CuPy, which is not installed")
    return _cupy.asarray(x)


def to_numpy(x: Any) -> np.ndarray:
    return _cupy.asnumpy(x) if _cupy is not None and isinstance(x, _cupy.ndarray) else np.asarray(x)


def scatter_add(target, index, values) -> None:
    """``target[index] += values`` with repeated indices accumulated (unbuffered), in place."""
    xp = array_module(target)
    if xp is np:
        if (type(index) is np.ndarray and index.dtype.kind in "iu" and index.size >= _ROWS_BY_SORT
                and target.ndim >= 2 and np.shape(values) == index.shape + target.shape[1:]):
            _scatter_add_rows(target, index.ravel(), values)
        else:
            np.add.at(target, index, values)
    else:  # pragma: no cover - GPU only
        xp.add.at(target, index, values)


# np.add.at is slow (an unbuffered loop per element); rows picked by one integer index array (an
# embedding's gradient) are summed per distinct row instead: a stable sort of the index, one
# add.reduceat over each run of equal rows, one indexed add: 6x faster on an LM's token gradients
# (rows of 128), slower than NumPy 2's add.at on scalars (1-D targets keep add.at).
_ROWS_BY_SORT = 256


def _scatter_add_rows(target, index, values) -> None:
    """``target[index[i]] += values[i]`` for a flat integer ``index`` into the first axis, repeats summed."""
    if index.min() < 0:
        index = np.where(index < 0, index + target.shape[0], index)
    values = np.reshape(values, (index.size,) + target.shape[1:])
    order = np.argsort(index, kind="stable")
    rows = index[order]
    starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
    target[rows[starts]] += np.add.reduceat(values[order], starts, axis=0)


# NumPy 2.4's binary loops run unvectorised when one operand is a broadcast scalar: np.maximum(x, 0)
# takes ~3x as long as np.maximum(x, zeros) against a same-shape array. Ops that compare against zero
# on a hot path (ReLU) read a cached zero buffer instead; it grows to the largest size asked for, up
# to _ZEROS_MAX_BYTES (beyond that the scalar form is used: the buffer would cost more memory than it saves time).
_ZEROS_MAX_BYTES = 32 << 20
_zero_buffers: dict = {}  # dtype -> the flat read-only zero buffer
_zero_views: dict = {}  # (array type, shape, dtype) -> a view of it (cleared when it holds many shapes)


def zeros_like_array(x):
    """A read-only array of zeros with ``x``'s shape and dtype (a view of a cached buffer), or the
    scalar 0 where no buffer is kept (CuPy arrays, large or non-float arrays). For ``xp.maximum(z, x)``."""
    key = (type(x), x.shape, x.dtype)
    view = _zero_views.get(key)
    if view is not None:
        return view
    if type(x) is not np.ndarray or x.dtype.kind != "f" or x.nbytes > _ZEROS_MAX_BYTES:
        return 0
    buf = _zero_buffers.get(x.dtype)
    if buf is None or buf.size < x.size:
        buf = np.zeros(max(x.size, 4096), dtype=x.dtype)
        buf.flags.writeable = False
        _zero_buffers[x.dtype] = buf
    if len(_zero_views) >= 256:
        _zero_views.clear()
    view = _zero_views[key] = buf[:x.size].reshape(x.shape)
    return view
