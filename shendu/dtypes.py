"""shendu's dtypes are NumPy's dtype objects, named as PyTorch names them.

``x.dtype == shendu.float32`` reads as in PyTorch. Floats default to float32, also when a tensor is
built from Python floats or float64 NumPy arrays, unless a dtype is asked for.
"""
from __future__ import annotations

import numpy as np

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001 - PyTorch's alias
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001 - PyTorch's alias
int64 = long = np.dtype(np.int64)
bool_ = bool = np.dtype(np.bool_)  # noqa: A001 - PyTorch's alias

_default_float = float32

_BY_NAME = {
    "float16": float16, "half": float16, "float32": float32, "float": float32,
    "float64": float64, "double": float64, "int8": int8, "uint8": uint8, "int16": int16,
    "int32": int32, "int": int32, "int64": int64, "long": int64, "bool": bool_,
}


def as_dtype(dtype) -> np.dtype:
    """Resolve a dtype given as a shendu/NumPy dtype, a Python type or a name."""
    if isinstance(dtype, np.dtype):
        return dtype
    if isinstance(dtype, str):
        if dtype in _BY_NAME:
            return _BY_NAME[dtype]
        raise TypeError(f"unknown dtype name {dtype!r}; expected one of {sorted(_BY_NAME)}")
    import builtins
    if dtype is builtins.float:
        return _default_float
    if dtype is builtins.int:
        return int64
    if dtype is builtins.bool:
        return bool_
    return np.dtype(dtype)


def is_floating(dtype) -> builtins.bool:  # noqa: F821
    return dtype.kind == "f"


def get_default_dtype() -> np.dtype:
    return _default_float


def set_default_dtype(dtype) -> None:
    global _default_float
    dtype = as_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _default_float = dtype
