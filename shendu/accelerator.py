"""``shendu.accelerator``: PyTorch's device-generic ``torch.accelerator`` namespace.

The only accelerator shendu knows is a CUDA GPU through CuPy (``shendu.cuda``); without one,
``is_available()`` is False, ``current_accelerator()`` None and ``device_count()`` 0.
"""
from __future__ import annotations

from shendu import cuda
from shendu.backend import Device


def is_available() -> bool:
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> Device | None:
    """``device('cuda')`` when a GPU is usable, else None."""
    return Device("cuda") if cuda.is_available() else None


def device_count() -> int:
    return cuda.device_count()


def current_device_index() -> int:
    if not cuda.is_available():
        raise RuntimeError("shendu.accelerator.current_device_index: no accelerator is available "
                           "(shendu needs CuPy and a CUDA GPU)")
    return cuda.current_device()


current_device_idx = current_device_index


def set_device_index(device) -> None:
    cuda.set_device(device)


set_device_idx = set_device_index


def synchronize(device=None) -> None:
    if not cuda.is_available():
        raise RuntimeError("shendu.accelerator.synchronize: no accelerator is available "
                           "(shendu needs CuPy and a CUDA GPU)")
    cuda.synchronize(device)


def empty_cache() -> None:
    cuda.empty_cache()


def memory_allocated(device=None) -> int:
    return cuda.memory_allocated(device)


__all__ = ["current_accelerator", "current_device_idx", "current_device_index", "device_count", "empty_cache",
           "is_available", "memory_allocated", "set_device_idx", "set_device_index", "synchronize"]
