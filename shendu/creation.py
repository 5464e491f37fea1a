"""Building tensors: from data, zeros/ones/full/empty/eye/arange/linspace with ``*_like``, and the
legacy typed constructors (``shendu.FloatTensor``, ``shendu.LongTensor``, ...).

The dtype rules are PyTorch's. Data that already has a dtype keeps it: NumPy arrays and scalars
(float64 included), tensors. Python numbers take their kind's default: floats the default float
dtype (float32), ints int64, bools bool, complex numbers complex64. In a list, every element
counts with its own dtype and the result is their promotion (``[np.float64(1), 2.0]`` is float64).
"""
from __future__ import annotations

import builtins

import numpy as np

from shendu import backend, dtypes
from shendu.tensor import Tensor

_default_device = None  # None: the CPU (set with shendu.set_default_device)


# -- dtype inference ------------------------------------------------------------------------------
def _category(dt: np.dtype) -> builtins.int:
    return 0 if dt.kind == "b" else 1 if dt.kind in "iu" else 3 if dt.kind == "c" else 2


def _promote(a: np.dtype | None, b: np.dtype) -> np.dtype:
    """PyTorch's promotion of two element dtypes: the higher category wins, else the wider type."""
    if a is None or a == b:
        return b
    ca, cb = _category(a), _category(b)
    if ca != cb:
        return a if ca > cb else b
    if ca == 2 and a.itemsize == b.itemsize:  # float16 with bfloat16
        return dtypes.float32
    return np.promote_types(a, b)


def _python_dtype(kind) -> np.dtype:
    if kind is builtins.bool:
        return dtypes.bool_
    if kind is builtins.int:
        return dtypes.int64
    if kind is builtins.float:
        return dtypes.get_default_dtype()
    return np.dtype(np.complex64 if dtypes.get_default_dtype().itemsize <= 4 else np.complex128)


def _py_kind(x) -> type:
    """The Python number kind of a scalar (NumPy scalars by their kind)."""
    if isinstance(x, (builtins.bool, np.bool_)):
        return builtins.bool
    if isinstance(x, (builtins.int, np.integer)):
        return builtins.int
    if isinstance(x, (builtins.float, np.floating)):
        return builtins.float
    return builtins.complex


def _infer_dtype(data) -> np.dtype | None:
    """The dtype ``shendu.tensor(data)`` gives: each element's own dtype, promoted (None: empty data)."""
    if isinstance(data, (np.ndarray, np.generic, Tensor)):
        return data.dtype
    out, stack = None, [data]
    while stack:
        x = stack.pop()
        kind = type(x)
        if kind in (builtins.float, builtins.int, builtins.bool, builtins.complex):
            out = _promote(out, _python_dtype(kind))
        elif kind is list or kind is tuple:
            stack.extend(x)
        elif isinstance(x, (np.ndarray, np.generic, Tensor)):
            out = _promote(out, x.dtype)
        elif hasattr(x, "dtype") and hasattr(x, "shape"):  # a CuPy array
            out = _promote(out, np.dtype(x.dtype))
        elif isinstance(x, (list, tuple, range)):
            stack.extend(x)
        elif isinstance(x, (builtins.int, builtins.float, builtins.complex)):  # subclasses of the builtins
            out = _promote(out, _python_dtype(_py_kind(x)))
        else:
            raise TypeError(f"tensor(): cannot build a tensor from an element of type {type(x).__name__} "
                            "(expected numbers, lists, tuples, NumPy arrays or tensors)")
    return out


def _raw_elements(data):
    """Nested lists with tensors replaced by their arrays (NumPy reads those without ``__array__``)."""
    if isinstance(data, Tensor):
        return backend.to_numpy(data._data)
    if isinstance(data, (list, tuple)):
        return [_raw_elements(d) for d in data]
    return data


def _as_array(data, dtype=None, copy: bool = True):
    """``data`` as an array of PyTorch's dtype for it (or ``dtype``); shares memory when ``copy=False`` allows."""
    if isinstance(data, Tensor):
        data = data._data
    if dtype is not None:
        dtype = dtypes.as_dtype(dtype)
    xp = backend.array_module(data)
    if isinstance(data, xp.ndarray):
        if dtype is None or dtype == data.dtype:
            return data.copy() if copy else data
        return data.astype(dtype)
    if isinstance(data, str) or (isinstance(data, np.ndarray) and data.dtype.kind in "OUSV"):
        raise TypeError(f"tensor(): cannot build a tensor from data of type {type(data).__name__}; "
                        "expected numbers, lists, tuples, NumPy arrays or tensors")
    target = dtype if dtype is not None else _infer_dtype(data)
    try:
        arr = np.asarray(_raw_elements(data) if isinstance(data, (list, tuple)) else data)
    except ValueError as e:
        raise ValueError(f"tensor(): the data is not a rectangular nest of numbers: {e}") from None
    if arr.dtype.kind in "OUSV" and arr.dtype.name != "bfloat16":
        raise TypeError(f"tensor(): cannot build a tensor from data of type {type(data).__name__} "
                        f"(NumPy reads it as dtype {arr.dtype}); expected numbers, lists, tuples, arrays")
    if target is None:  # empty data, e.g. tensor([])
        target = dtypes.get_default_dtype()
    return arr.astype(target, copy=False)


# -- finishing: device, requires_grad, out ----------------------------------------------------------
def _finish(arr, requires_grad: bool = False, device=None, out: Tensor | None = None) -> Tensor:
    if device is None:
        device = _default_device
    if device is not None:
        arr = backend.to_device(arr, device)
    if out is not None:
        return _write_out(out, arr)
    t = Tensor._wrap(arr)
    return t.requires_grad_() if requires_grad else t


def _write_out(out: Tensor, arr) -> Tensor:
    """Write a factory's result into ``out`` (PyTorch's ``out=``): in place when the shape matches."""
    if not isinstance(out, Tensor):
        raise TypeError(f"out=: expected a Tensor, got {type(out).__name__}")
    from shendu.grad_mode import no_grad
    with no_grad():
        if out.shape == arr.shape:
            out.copy_(Tensor._wrap(arr))
        else:  # resized, as PyTorch resizes ``out`` of another shape
            out.data = Tensor._wrap(arr.astype(out.dtype))
    return out


def _check_layout(op: str, layout) -> None:
    if layout is not None and str(layout) not in ("strided", "shendu.strided", "torch.strided"):
        raise ValueError(f"{op}: only layout=shendu.strided (dense) is supported here, got {layout}; "
                         "build sparse tensors with shendu.sparse_coo_tensor")


# -- from data ------------------------------------------------------------------------------------
def tensor(data, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A new tensor copying ``data`` (numbers, nested lists, NumPy arrays, tensors).

    Data with a dtype keeps it (a float64 NumPy array gives float64); Python floats give the
    default float dtype, ints int64, bools bool, unless ``dtype`` is given.
    """
    return _finish(_as_array(data, dtype), requires_grad, device)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with a tensor or NumPy array when no conversion is needed."""
    if isinstance(data, Tensor):
        if (dtype is None or dtypes.as_dtype(dtype) == data.dtype) and (device is None or data.device == device):
            return data
        return data.to(dtype=dtype, device=device)
    return _finish(_as_array(data, dtype, copy=False), False, device)


def asarray(obj, *, dtype=None, device=None, copy: bool | None = None, requires_grad: bool = False) -> Tensor:
    """PyTorch's ``torch.asarray``: shares memory unless ``copy=True`` or a conversion is needed."""
    if isinstance(obj, Tensor) and not copy:
        out = as_tensor(obj, dtype, device)
    else:
        out = _finish(_as_array(obj, dtype, copy=builtins.bool(copy)), False, device)
    return out.requires_grad_() if requires_grad else out


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` and keeping its dtype (as in PyTorch)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind in "OUSV" and array.dtype.name != "bfloat16":
        raise TypeError(f"from_numpy: can't convert a NumPy array of dtype {array.dtype}; the supported types "
                        "are numbers (float, complex, int, uint, bool)")
    return Tensor._wrap(array)


# -- factories ------------------------------------------------------------------------------------
def _size(size, op: str = "zeros") -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)) or (len(size) == 1 and hasattr(size[0], "numel")
                                                                  and not isinstance(size[0], Tensor)):
        size = size[0]
    out = []
    for s in size:
        if isinstance(s, builtins.float) or not hasattr(s, "__index__"):
            raise TypeError(f"{op}(): size must be a sequence of ints, got {tuple(size)!r}")
        if int(s) < 0:
            raise RuntimeError(f"{op}(): negative dimension {int(s)} in size {tuple(int(v) for v in size)}")
        out.append(int(s))
    return tuple(out)


def _dt(dtype, default=None, out: Tensor | None = None) -> np.dtype:
    if dtype is not None:
        return dtypes.as_dtype(dtype)
    if out is not None:
        return out.dtype
    return default if default is not None else dtypes.get_default_dtype()


def _factory_size(op, size, kw_size):
    if kw_size is not None:
        if size:
            raise TypeError(f"{op}(): got the size both positionally and as size=")
        size = (kw_size,)
    return _size(size, op)


def zeros(*size, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False,
          pin_memory: bool = False, **kwargs) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)``, ``zeros((2, 3))``, ``zeros([2, 3])`` or ``zeros(size=(2, 3))``."""
    _check_layout("zeros", layout)
    shape = _factory_size("zeros", size, kwargs.pop("size", None))
    _no_extra("zeros", kwargs)
    return _finish(np.zeros(shape, dtype=_dt(dtype, out=out)), requires_grad, device, out)


def ones(*size, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False,
         pin_memory: bool = False, **kwargs) -> Tensor:
    """A tensor of ones (sizes as for ``zeros``)."""
    _check_layout("ones", layout)
    shape = _factory_size("ones", size, kwargs.pop("size", None))
    _no_extra("ones", kwargs)
    return _finish(np.ones(shape, dtype=_dt(dtype, out=out)), requires_grad, device, out)


def empty(*size, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False,
          pin_memory: bool = False, memory_format=None, **kwargs) -> Tensor:
    """An uninitialized tensor (sizes as for ``zeros``)."""
    _check_layout("empty", layout)
    shape = _factory_size("empty", size, kwargs.pop("size", None))
    _no_extra("empty", kwargs)
    return _finish(np.empty(shape, dtype=_dt(dtype, out=out)), requires_grad, device, out)


def _no_extra(op: str, kwargs: dict) -> None:
    if kwargs:
        raise TypeError(f"{op}() got unexpected keyword arguments {sorted(kwargs)}")


def empty_strided(size, stride, *, dtype=None, layout=None, device=None, requires_grad: bool = False,
                  pin_memory: bool = False) -> Tensor:
    """An uninitialized tensor of ``size`` whose elements are ``stride`` elements apart per dim."""
    _check_layout("empty_strided", layout)
    shape, stride = _size((size,), "empty_strided"), tuple(int(s) for s in stride)
    if len(stride) != len(shape):
        raise RuntimeError(f"empty_strided: mismatch in length of strides and shape ({len(stride)} vs {len(shape)})")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"empty_strided: strides must be non-negative, got {stride}")
    dt = _dt(dtype)
    extent = 1 + builtins.sum((n - 1) * s for n, s in zip(shape, stride)) if all(shape) else 0
    base = np.empty(extent, dtype=dt)
    arr = np.lib.stride_tricks.as_strided(base, shape, tuple(s * dt.itemsize for s in stride))
    return _finish(arr, requires_grad, device)


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False,
         pin_memory: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``; its dtype follows the value (bool, int64, default float)."""
    _check_layout("full", layout)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if dtype is None and out is None:
        dtype = _python_dtype(_py_kind(fill_value))  # NumPy scalars too, as PyTorch
    return _finish(np.full(_size((size,), "full"), fill_value, dtype=_dt(dtype, out=out)), requires_grad, device, out)


def eye(n: int, m: int | None = None, *, out=None, dtype=None, layout=None, device=None,
        requires_grad: bool = False) -> Tensor:
    """A 2-D tensor with ones on the diagonal (``n`` rows, ``m`` columns, default ``n``)."""
    _check_layout("eye", layout)
    return _finish(np.eye(n, m, dtype=_dt(dtype, out=out)), requires_grad, device, out)


def _number(v, op: str):
    if isinstance(v, Tensor):
        if v.numel() != 1:
            raise RuntimeError(f"{op}: expected a number or a one-element tensor, got shape {tuple(v.shape)}")
        return v.item()
    if isinstance(v, np.generic):
        return v.item()
    return v


def arange(start, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (excluded) by ``step``.

    int64 when ``start``, ``end`` and ``step`` are all integers (Python, NumPy or integer tensors),
    else the default float dtype; ``dtype`` overrides.
    """
    _check_layout("arange", layout)
    if end is None:
        start, end = 0, start
    start, end, step = (_number(v, "arange") for v in (start, end, step))
    if step == 0:
        raise RuntimeError(f"arange: step must be nonzero, got start={start}, end={end}, step={step}")
    if (end - start) * step < 0 and end != start:
        raise RuntimeError(f"arange: upper bound and larger bound inconsistent with step sign, got "
                           f"start={start}, end={end}, step={step}")
    is_int = all(isinstance(v, builtins.int) for v in (start, end, step))
    dt = _dt(dtype, dtypes.int64 if is_int else None, out)
    n = builtins.max(0, int(np.ceil((end - start) / step)))
    # computed in float64 (or int64) and cast, as PyTorch computes start + i * step in double
    arr = (start + np.arange(n, dtype=np.int64 if is_int else np.float64) * step).astype(dt)
    return _finish(arr, requires_grad, device, out)


def linspace(start, end, steps: int, *, out=None, dtype=None, layout=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` (both included)."""
    _check_layout("linspace", layout)
    start, end = _number(start, "linspace"), _number(end, "linspace")
    if steps < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative, got {steps}")
    return _finish(np.linspace(start, end, steps).astype(_dt(dtype, out=out)), requires_grad, device, out)


def logspace(start, end, steps: int, base: float = 10.0, *, out=None, dtype=None, layout=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)``."""
    _check_layout("logspace", layout)
    start, end = _number(start, "logspace"), _number(end, "logspace")
    arr = np.logspace(start, end, steps, base=base).astype(_dt(dtype, out=out))
    return _finish(arr, requires_grad, device, out)


# -- *_like ---------------------------------------------------------------------------------------
def _like(input: Tensor, fill, dtype, device, requires_grad) -> Tensor:
    xp = input._xp()
    dt = _dt(dtype, input.dtype)
    arr = xp.empty(input.shape, dtype=dt) if fill is None else xp.full(input.shape, fill, dtype=dt)
    return _finish(arr, requires_grad, device if device is not None else input.device)


def zeros_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad: bool = False,
               memory_format=None) -> Tensor:
    """A tensor of zeros shaped like ``input``.

    Shape: ``input.shape``; ``dtype`` and ``device`` default to ``input``'s.
    """
    return _like(input, 0, dtype, device, requires_grad)


def ones_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad: bool = False,
              memory_format=None) -> Tensor:
    """A tensor of ones shaped like ``input``.

    Shape: ``input.shape``; ``dtype`` and ``device`` default to ``input``'s.
    """
    return _like(input, 1, dtype, device, requires_grad)


def empty_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad: bool = False,
               memory_format=None) -> Tensor:
    """An uninitialised tensor shaped like ``input``.

    Shape: ``input.shape``; ``dtype`` and ``device`` default to ``input``'s.
    """
    return _like(input, None, dtype, device, requires_grad)


def full_like(input: Tensor, fill_value, *, dtype=None, layout=None, device=None, requires_grad: bool = False,
              memory_format=None) -> Tensor:
    """A tensor filled with ``fill_value`` shaped like ``input``.

    Shape: ``input.shape``; ``dtype`` and ``device`` default to ``input``'s.
    """
    return _like(input, _number(fill_value, "full_like"), dtype, device, requires_grad)


# -- default device -------------------------------------------------------------------------------
def get_default_device() -> backend.Device:
    """Where factories put new tensors when no ``device`` is given (the CPU unless set)."""
    return backend.Device("cpu") if _default_device is None else _default_device


def set_default_device(device) -> None:
    """Make factories (``zeros``, ``tensor``, ...) put new tensors on ``device``; None resets to the CPU.

    ``'cuda'`` needs CuPy and a GPU (``shendu.cuda.is_available()``) and raises otherwise.
    """
    global _default_device
    if device is None:
        _default_device = None
        return
    dev = backend.Device(device)
    if dev.type == "cuda":
        from shendu import cuda
        if not cuda.is_available():
            raise RuntimeError("set_default_device('cuda'): no GPU is available (shendu needs CuPy and a CUDA GPU; "
                               "shendu.cuda.is_available() is False); keep the default device 'cpu'")
    _default_device = None if dev.type == "cpu" else dev


# -- legacy typed constructors: shendu.FloatTensor, shendu.LongTensor, ... ---------------------------
class _LegacyTensorType(type):
    """The metaclass of ``FloatTensor`` & co: calling builds a tensor of the type's dtype, and
    ``isinstance(x, FloatTensor)`` is True for a float32 tensor on the type's device (as in PyTorch)."""

    def __instancecheck__(cls, obj) -> builtins.bool:
        return (isinstance(obj, Tensor) and not getattr(obj, "is_sparse", False)
                and obj.dtype == cls.dtype and obj.device.type == cls.device_type)

    def __call__(cls, *args, device=None):
        if device is not None and backend.Device(device).type != cls.device_type:
            raise RuntimeError(f"{cls.__name__}: legacy constructor expects device type {cls.device_type}, "
                               f"got {device}")
        device = None if cls.device_type == "cpu" else cls.device_type
        if args and all(isinstance(a, (builtins.int, np.integer)) and not isinstance(a, builtins.bool) for a in args):
            return empty(*args, dtype=cls.dtype, device=device)
        if not args:
            return empty(0, dtype=cls.dtype, device=device)
        if len(args) == 1:
            if isinstance(args[0], (tuple, list)) and args[0] and hasattr(args[0], "numel"):  # a shendu.Size
                return empty(*args[0], dtype=cls.dtype, device=device)
            return _finish(_as_array(args[0], cls.dtype), device=device)
        raise TypeError(f"{cls.__name__}(): expected data or integer sizes, got {args!r}")

    def __repr__(cls) -> str:
        return f"<class '{cls.__module__}.{cls.__name__}'>"


def _legacy_type(name: str, dtype, device_type: str = "cpu", module: str = "shendu") -> type:
    return _LegacyTensorType(name, (), {"dtype": np.dtype(dtype), "device_type": device_type,
                                        "__module__": module, "__doc__": f"Legacy constructor of {dtype} tensors."})


FloatTensor = _legacy_type("FloatTensor", dtypes.float32)
DoubleTensor = _legacy_type("DoubleTensor", dtypes.float64)
HalfTensor = _legacy_type("HalfTensor", dtypes.float16)
LongTensor = _legacy_type("LongTensor", dtypes.int64)
IntTensor = _legacy_type("IntTensor", dtypes.int32)
ShortTensor = _legacy_type("ShortTensor", dtypes.int16)
CharTensor = _legacy_type("CharTensor", dtypes.int8)
ByteTensor = _legacy_type("ByteTensor", dtypes.uint8)
BoolTensor = _legacy_type("BoolTensor", dtypes.bool_)
BFloat16Tensor = _legacy_type("BFloat16Tensor", dtypes.bfloat16)
