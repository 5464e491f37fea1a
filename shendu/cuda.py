"""``shendu.cuda``: PyTorch's ``torch.cuda`` namespace, reporting what this machine has.

shendu computes on a GPU through CuPy. Without CuPy or without a visible GPU, ``is_available()`` is
False and ``device_count()`` 0; the calls that only make sense with a GPU (``synchronize``,
``current_device``, ``get_device_name``, ...) raise a RuntimeError that says what is missing, as
PyTorch's CPU builds raise. The seeding calls are harmless no-ops either way: shendu draws random
numbers on the host from the one global generator (``shendu.manual_seed`` seeds it) and moves them.
"""
from __future__ import annotations

from contextlib import contextmanager

from shendu import backend, dtypes
from shendu.creation import _legacy_type


def _cupy():
    return backend._cupy


def is_available() -> bool:
    """True when CuPy is installed and sees at least one GPU."""
    return device_count() > 0


def device_count() -> int:
    """The number of GPUs CuPy sees (0 without CuPy or a driver)."""
    cp = _cupy()
    if cp is None:
        return 0
    try:
        return int(cp.cuda.runtime.getDeviceCount())
    except Exception:  # CuPy installed but no driver/GPU: CUDARuntimeError and friends
        return 0


def is_initialized() -> bool:
    return is_available()


def _require(what: str):
    cp = _cupy()
    if cp is None:
        raise RuntimeError(f"shendu.cuda.{what}: no GPU backend: shendu runs on CUDA GPUs through CuPy, "
                           "which is not installed (pip install cupy-cuda12x)")
    if device_count() == 0:
        raise RuntimeError(f"shendu.cuda.{what}: CuPy is installed but sees no CUDA GPU (no driver or device)")
    return cp


def synchronize(device=None) -> None:
    """Wait for every kernel on the GPU to finish."""
    _require("synchronize").cuda.Device().synchronize()


def current_device() -> int:
    return int(_require("current_device").cuda.runtime.getDevice())


def set_device(device) -> None:
    index = device if isinstance(device, int) else backend.Device(device).index or 0
    _require("set_device").cuda.Device(index).use()


def get_device_name(device=None) -> str:
    cp = _require("get_device_name")
    index = 0 if device is None else device if isinstance(device, int) else backend.Device(device).index or 0
    name = cp.cuda.runtime.getDeviceProperties(index)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def get_device_capability(device=None) -> tuple:
    cp = _require("get_device_capability")
    index = 0 if device is None else device if isinstance(device, int) else backend.Device(device).index or 0
    props = cp.cuda.runtime.getDeviceProperties(index)
    return int(props["major"]), int(props["minor"])


def is_bf16_supported() -> bool:
    return is_available() and get_device_capability()[0] >= 8


# -- seeding: no-ops (random numbers are drawn on the host from shendu's global generator) --
def manual_seed(seed: int) -> None:
    """Accepted for PyTorch programs; ``shendu.manual_seed`` already seeds every draw."""


def manual_seed_all(seed: int) -> None:
    """Accepted for PyTorch programs; ``shendu.manual_seed`` already seeds every draw."""


def seed() -> None:
    """Accepted for PyTorch programs; see ``manual_seed``."""


def seed_all() -> None:
    """Accepted for PyTorch programs; see ``manual_seed``."""


# -- memory: CuPy's pool when there is a GPU, zeros (as PyTorch's CPU build) when there is none --
def empty_cache() -> None:
    """Free the cached blocks of CuPy's memory pool (nothing to do without a GPU)."""
    if is_available():
        _cupy().get_default_memory_pool().free_all_blocks()


def memory_allocated(device=None) -> int:
    return int(_cupy().get_default_memory_pool().used_bytes()) if is_available() else 0


def memory_reserved(device=None) -> int:
    return int(_cupy().get_default_memory_pool().total_bytes()) if is_available() else 0


def max_memory_allocated(device=None) -> int:
    """CuPy keeps no peak figure: the bytes in use now (0 without a GPU)."""
    return memory_allocated(device)


@contextmanager
def device(index):
    """Run the block with GPU ``index`` current (PyTorch's ``torch.cuda.device``)."""
    cp = _require("device")
    index = index if isinstance(index, int) else backend.Device(index).index or 0
    with cp.cuda.Device(index):
        yield


__all__ = [
    "BFloat16Tensor", "BoolTensor", "ByteTensor", "CharTensor", "DoubleTensor", "FloatTensor", "HalfTensor",
    "IntTensor", "LongTensor", "ShortTensor", "current_device", "device", "device_count", "empty_cache",
    "get_device_capability", "get_device_name",
    "is_available", "is_bf16_supported", "is_initialized", "manual_seed", "manual_seed_all", "max_memory_allocated",
    "memory_allocated", "memory_reserved", "seed", "seed_all", "set_device", "synchronize",
]



# -- legacy typed constructors (shendu.cuda.FloatTensor, ...): calling one needs a GPU --
FloatTensor = _legacy_type("FloatTensor", dtypes.float32, "cuda", "shendu.cuda")
DoubleTensor = _legacy_type("DoubleTensor", dtypes.float64, "cuda", "shendu.cuda")
HalfTensor = _legacy_type("HalfTensor", dtypes.float16, "cuda", "shendu.cuda")
BFloat16Tensor = _legacy_type("BFloat16Tensor", dtypes.bfloat16, "cuda", "shendu.cuda")
LongTensor = _legacy_type("LongTensor", dtypes.int64, "cuda", "shendu.cuda")
IntTensor = _legacy_type("IntTensor", dtypes.int32, "cuda", "shendu.cuda")
ShortTensor = _legacy_type("ShortTensor", dtypes.int16, "cuda", "shendu.cuda")
CharTensor = _legacy_type("CharTensor", dtypes.int8, "cuda", "shendu.cuda")
ByteTensor = _legacy_type("ByteTensor", dtypes.uint8, "cuda", "shendu.cuda")
BoolTensor = _legacy_type("BoolTensor", dtypes.bool_, "cuda", "shendu.cuda")
