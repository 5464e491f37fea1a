"""shendu's dtypes are NumPy's dtype objects, named as PyTorch names them.

``x.dtype == shendu.float32`` reads as in PyTorch. Floats default to float32, also when a tensor is
built from Python floats or float64 NumPy arrays, unless a dtype is asked for.
"""
from __future__ import annotations

import builtins

import ml_dtypes
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
bfloat16 = np.dtype(ml_dtypes.bfloat16)  # NumPy has none; ml_dtypes' has kind 'V'
complex64 = cfloat = np.dtype(np.complex64)
complex128 = cdouble = np.dtype(np.complex128)

_default_float = float32

_BY_NAME = {
    "float16": float16, "half": float16, "float32": float32, "float": float32,
    "float64": float64, "double": float64, "int8": int8, "uint8": uint8, "int16": int16,
    "int32": int32, "int": int32, "int64": int64, "long": int64, "bool": bool_,
    "bfloat16": bfloat16, "complex64": complex64, "cfloat": complex64, "complex128": complex128,
    "cdouble": complex128,
}


def as_dtype(dtype) -> np.dtype:
    """Resolve a dtype given as a shendu/NumPy dtype, a Python type or a name."""
    if isinstance(dtype, np.dtype):
        return dtype
    if isinstance(dtype, str):
        if dtype in _BY_NAME:
            return _BY_NAME[dtype]
        raise TypeError(f"unknown dtype name {dtype!r}; expected one of {sorted(_BY_NAME)}")
    if dtype is builtins.float:
        return _default_float
    if dtype is builtins.int:
        return int64
    if dtype is builtins.bool:
        return bool_
    return np.dtype(dtype)


def is_floating(dtype) -> builtins.bool:
    return _is_float(dtype)


def get_default_dtype() -> np.dtype:
    """The dtype Python floats and float factories (``zeros``, ``randn``, ...) produce: float32 unless
    ``set_default_dtype`` changed it.
    """
    return _default_float


def set_default_dtype(dtype) -> None:
    """Make ``dtype`` (a floating dtype: float16, float32 or float64) the default float dtype."""
    global _default_float
    dtype = as_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _default_float = dtype


# -- type promotion (PyTorch's rules; every op that mixes dtypes asks here) ----------------------
_ndarray = np.ndarray
_SCALARS = (builtins.bool, builtins.int, builtins.float, builtins.complex, np.generic)


def _is_float(dtype) -> builtins.bool:
    return dtype.kind == "f" or dtype.name == "bfloat16"  # ml_dtypes' bfloat16 has kind 'V'


def _category(dtype) -> builtins.int:
    """0 bool, 1 integer, 2 floating, 3 complex: PyTorch promotes across categories by these."""
    if dtype.kind == "b":
        return 0
    if dtype.kind in "iu":
        return 1
    return 3 if dtype.kind == "c" else 2


def promote_types(type1, type2) -> np.dtype:
    """``torch.promote_types``: the smallest dtype both convert to without leaving their category.

    Differs from NumPy where an integer meets a float (int64 with float16 gives float16, not
    float64) and for bfloat16 with float16 (float32).
    """
    a, b = as_dtype(type1), as_dtype(type2)
    if a == b:
        return a
    ca, cb = _category(a), _category(b)
    if ca != cb:
        hi, lo = (a, b) if ca > cb else (b, a)
        if max(ca, cb) == 3 and min(ca, cb) == 2 and lo.itemsize * 2 > hi.itemsize:
            return np.dtype(np.complex128)  # complex64 meets float64
        return hi
    if ca == 2:
        if a.itemsize == b.itemsize:  # float16 meets bfloat16
            return float32
        return a if a.itemsize > b.itemsize else b
    return np.promote_types(a, b)


def _wrapped_dtype(value) -> np.dtype:
    """The dtype a Python (or NumPy) scalar takes part in promotion with: its category's default."""
    if isinstance(value, (builtins.bool, np.bool_)):
        return bool_
    if isinstance(value, (builtins.int, np.integer)):
        return int64
    if isinstance(value, (builtins.float, np.floating)):
        return _default_float
    return np.dtype(np.complex64 if _default_float.itemsize <= 4 else np.complex128)


def _combine(higher, lower):
    """c10's combine_categories: ``lower`` counts only when its category is above ``higher``'s."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    ch, cl = _category(higher), _category(lower)
    if ch >= 2 and cl <= ch:
        return higher
    if cl == 3:  # a complex scalar keeps a float tensor's precision
        if ch < 2:
            return lower
        return np.dtype(np.complex128) if higher.itemsize == 8 else np.dtype(np.complex64)
    if ch == 0 or cl > ch:
        return promote_types(higher, lower)
    return higher


def result_type(*operands) -> np.dtype:
    """``torch.result_type`` of Tensors, arrays and Python/NumPy scalars (``None`` is skipped).

    Three priorities, as in PyTorch: tensors with dimensions, then zero-dim tensors, then scalars;
    a lower priority changes the result only when its category (bool < int < float < complex) is
    higher, and then scalars contribute their category's default (a float scalar: the default
    float dtype). So ``float32 tensor * 2.5`` is float32, ``int tensor * 2.5`` float32,
    ``float32 tensor + float64 zero-dim tensor`` float32 and ``int tensor + float64 zero-dim`` float64.
    """
    dim = zero = wrapped = None
    for o in operands:
        if o is None:
            continue
        if isinstance(o, _SCALARS):
            d = _wrapped_dtype(o)
            wrapped = d if wrapped is None else promote_types(wrapped, d)
            continue
        d = o.dtype
        if o.ndim:
            dim = d if dim is None else promote_types(dim, d)
        else:
            zero = d if zero is None else promote_types(zero, d)
    out = _combine(dim, _combine(zero, wrapped))
    if out is None:
        raise TypeError("result_type: expected at least one tensor or number")
    return out


def _cast(o, dtype, xp):
    if isinstance(o, _SCALARS):
        if xp is None:  # no array among the operands: make one, so the op's result has the dtype
            return np.asarray(o).astype(dtype)
        if isinstance(o, np.generic):
            o = o.item()  # NumPy 2 treats NumPy scalars as strongly typed; Python scalars adapt
        if dtype.kind in "iub" and not isinstance(o, builtins.bool):
            return np.asarray(o).astype(dtype)  # wraps out-of-range ints, as PyTorch does
        if dtype is bfloat16:  # ml_dtypes computes bfloat16 with a Python float in float32: give it a bfloat16
            return np.asarray(o, dtype=dtype)
        return o
    return o if o.dtype == dtype else o.astype(dtype)


def promote(*operands, dtype=None) -> tuple:
    """Raw operands (arrays, Python/NumPy scalars, None) brought to ``result_type`` (or ``dtype``).

    Arrays are cast, NumPy scalars become Python scalars (which NumPy then computes in the array's
    dtype); ``None`` passes through. Common pairs take a fast path: binary ops run this per call.
    """
    if dtype is None and len(operands) == 2:
        a, b = operands
        ta, tb = type(a), type(b)
        if ta is _ndarray:
            if tb is _ndarray:
                da, db = a.dtype, b.dtype
                # same dtype, or bool with anything: NumPy already agrees with PyTorch
                if da is db or da == db or da.kind == "b" or db.kind == "b":
                    return operands
            elif tb is builtins.float and a.dtype.kind == "f":
                return operands
            elif tb is builtins.int and (a.dtype.kind == "f" or a.dtype == int64):
                return operands
        elif tb is _ndarray:
            if ta is builtins.float and b.dtype.kind == "f":
                return operands
            if ta is builtins.int and (b.dtype.kind == "f" or b.dtype == int64):
                return operands
    if dtype is None:
        dtype = result_type(*operands)
    xp = None
    for o in operands:
        if o is not None and not isinstance(o, _SCALARS):
            xp = type(o)
            break
    return tuple(o if o is None else _cast(o, dtype, xp) for o in operands)


def float_type(dtype) -> np.dtype:
    """The dtype a float-valued op (exp, sqrt, sin...) returns for an input of ``dtype``:
    floats keep theirs, integers and bool compute in the default float dtype (as in PyTorch)."""
    return dtype if _category(dtype) >= 2 else _default_float
