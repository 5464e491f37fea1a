"""``shendu.finfo`` and ``shendu.iinfo``: the numeric limits of a floating or integer dtype.

They read NumPy's (and, for bfloat16, ``ml_dtypes``') tables and answer with PyTorch's attribute
names and types: Python floats and ints, and ``dtype`` as a name such as ``'float32'``.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np

from shendu import dtypes


def _resolve(dtype, kind: str) -> np.dtype:
    dt = dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)
    is_float = dt.kind in "fc" or dt.name == "bfloat16"
    if kind == "finfo" and not is_float:
        raise TypeError(f"shendu.finfo() requires a floating point input type, got {dt}; use shendu.iinfo "
                        "for integer types")
    if kind == "iinfo" and dt.kind not in "iu":
        raise TypeError(f"shendu.iinfo() requires an integer input type, got {dt}; use shendu.finfo for "
                        "floating types")
    return dt


class finfo:  # noqa: N801 - PyTorch's name
    """Limits of a floating dtype (default: the default float dtype).

    Attributes: ``bits``, ``eps`` (the gap between 1 and the next value), ``max``, ``min``
    (= -max), ``tiny`` and ``smallest_normal`` (the smallest positive normal number),
    ``resolution`` (10 ** -precision decimal digits) and ``dtype`` (its name).
    """

    def __init__(self, type=None):  # noqa: A002 - PyTorch's argument name
        dt = _resolve(type, "finfo")
        info = ml_dtypes.finfo(dt) if dt.name == "bfloat16" else np.finfo(dt)
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = 10.0 ** -int(info.precision)  # PyTorch: 10 ** -(decimal digits)
        self.dtype = dt.name if dt.kind != "c" else np.dtype(f"float{dt.itemsize * 4}").name

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:  # noqa: N801 - PyTorch's name
    """Limits of an integer dtype: ``bits``, ``max``, ``min`` (Python ints) and ``dtype`` (its name)."""

    def __init__(self, type):  # noqa: A002 - PyTorch's argument name
        dt = _resolve(type, "iinfo")
        info = np.iinfo(dt)
        self.bits, self.min, self.max = int(info.bits), int(info.min), int(info.max)
        self.dtype = dt.name

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"
