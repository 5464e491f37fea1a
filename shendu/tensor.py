"""``Tensor``: an n-dimensional array that can record the operations made on it.

A Tensor holds ``data`` (a NumPy or CuPy array), ``requires_grad``, ``grad`` (a Tensor, filled by
``backward``) and ``_ctx``, the ``Function`` node that produced it (``None`` for leaves). Methods
that compute (``x.exp()``, ``x @ y``, ``x.sum(1)``) are bound from ``shendu.ops`` in one table
at the end of this file, so each op is written once, as a function, next to its gradient.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from shendu import backend, dtypes
from shendu.grad_mode import _state


class Tensor:
    """A multi-dimensional array with optional gradient tracking (PyTorch's ``torch.Tensor``).

    ``Tensor(data)`` builds a float tensor from data (PyTorch's legacy constructor);
    ``Tensor(2, 3)`` an uninitialized one of that shape. Prefer ``shendu.tensor(...)``.
    """

    # Class-level defaults keep construction cheap: a new tensor sets only ``data``.
    grad = None
    requires_grad = False
    _ctx = None
    _out_index = 0
    _retains_grad = False
    _hooks = None
    name = None
    __array_priority__ = 1000  # make ndarray OP Tensor defer to Tensor's reflected operator

    def __init__(self, *args: Any, dtype=None, requires_grad: bool = False, device=None):
        if args and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
            data = np.empty(tuple(int(a) for a in args), dtype=dtypes.as_dtype(dtype or dtypes.get_default_dtype()))
        elif len(args) == 1:
            data = _to_array(args[0], dtype if dtype is not None else dtypes.get_default_dtype())
        elif not args:
            data = np.empty((0,), dtype=dtypes.get_default_dtype())
        else:
            raise TypeError(f"Tensor(): expected data or integer sizes, got {args!r}")
        if device is not None:
            data = backend.to_device(data, device)
        self._data = data
        if requires_grad:
            self.requires_grad_(True)

    # -- storage ----------------------------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """This tensor's values as a new tensor that shares its storage and has no history.

        As in PyTorch: ``p.data.add_(u)`` changes ``p`` and is not recorded; ``p.data = t`` makes
        ``p`` hold ``t``'s storage. The raw array is ``_data`` (library code uses that).
        """
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data: assigned data must be a Tensor, got {type(value).__name__}; "
                            "use shendu.as_tensor(value) first")
        self._data = value._data

    @staticmethod
    def _wrap(data) -> Tensor:
        """A new leaf around an existing array, no checks (the library's fast constructor)."""
        t = object.__new__(Tensor)
        t._data = data
        return t

    def _xp(self):
        return backend.array_module(self._data)

    # -- properties ------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def device(self) -> backend.Device:
        return backend.device_of(self._data)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def size(self, dim: int | None = None):
        return self._data.shape if dim is None else self._data.shape[dim]

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    def element_size(self) -> int:
        return self._data.itemsize

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def contiguous(self) -> Tensor:
        if self._data.flags.c_contiguous:
            return self
        from shendu.ops.shape import contiguous
        return contiguous(self)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self) -> int:
        return id(self)

    # -- conversion ------------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        if self.requires_grad and _state.enabled:
            raise RuntimeError("numpy(): can't call on a tensor that requires grad; use "
                               "tensor.detach().numpy()")
        return backend.to_numpy(self._data)

    def __array__(self, dtype=None, copy=None):
        arr = backend.to_numpy(self._data)
        return arr.astype(dtype) if dtype is not None else arr

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"item(): only a tensor with one element can be converted to a "
                               f"Python scalar; this one has shape {self.shape}")
        return self._data.item()

    def tolist(self):
        return backend.to_numpy(self._data).tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError(f"only integer tensors of a single element can be used as an index, "
                            f"got dtype {self.dtype} and shape {self.shape}")
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"bool() of a tensor with {self._data.size} elements is ambiguous; "
                               "use .any() or .all()")
        return bool(self._data.item())

    def to(self, *args, dtype=None, device=None, copy: bool = False) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(other_tensor)`` or ``to(device, dtype)``."""
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, (str, backend.Device)) and str(a).split(":")[0] in ("cpu", "cuda"):
                device = a
            elif a is not None:
                dtype = a
        out = self
        if dtype is not None and dtypes.as_dtype(dtype) != self.dtype:
            from shendu.ops.elementwise import cast
            out = cast(out, dtypes.as_dtype(dtype))
        if device is not None and backend.Device(device) != self.device:
            from shendu.ops.elementwise import to_device
            out = to_device(out, device)
        if copy and out is self:
            out = self.clone()
        return out

    def type(self, dtype=None):
        if dtype is None:
            return f"shendu.{self.dtype}"
        return self.to(dtype)

    def astype(self, dtype) -> Tensor:
        return self.to(dtype)

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    # -- autograd --------------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self._data.dtype.kind not in "fc":
            raise RuntimeError(f"requires_grad_: only floating-point tensors can require "
                               f"gradients, this one has dtype {self.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_(False): only leaves can be changed; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut off from the graph."""
        return Tensor._wrap(self._data)

    def detach_(self) -> Tensor:
        self._ctx = None
        self.requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        self._retains_grad = True

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not "
                               "require grad")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        hooks = self._hooks

        class _Handle:
            def remove(self_inner):
                if hook in hooks:
                    hooks.remove(hook)
        return _Handle()

    def backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (see ``shendu.autograd.backward``)."""
        from shendu.autograd.engine import backward
        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)

    # -- in-place updates (tensors that need no grad, or under no_grad) --------------------------
    def _check_inplace(self, op: str, value=None) -> None:
        if _state.enabled:
            if self.requires_grad:
                kind = "a leaf tensor" if self._ctx is None else "a tensor in the graph"
                raise RuntimeError(
                    f"{op}: in-place operation on {kind} that requires grad (shape {self.shape}); "
                    "wrap the update in `with shendu.no_grad():` or use the out-of-place op")
            if isinstance(value, Tensor) and value.requires_grad:
                # writing a value that requires grad into a plain tensor would drop its gradient
                raise RuntimeError(
                    f"{op}: the value written in place (shape {value.shape}) requires grad, and in-place "
                    f"writes are not recorded; build the result out of place (shendu.stack, shendu.cat, "
                    "shendu.where), or write value.detach() to drop the gradient on purpose")

    def _inplace(self, op: str, value, fn) -> Tensor:
        self._check_inplace(op, value)
        other = value._data if isinstance(value, Tensor) else value
        if isinstance(other, np.generic):
            other = other.item()
        try:
            fn(self._data, other)
        except (ValueError, TypeError) as e:
            oshape = getattr(other, "shape", ())
            raise RuntimeError(f"{op}: cannot update a tensor of shape {self.shape} and dtype "
                               f"{self.dtype} in place with a value of shape {oshape}: {e}") from None
        return self

    def __iadd__(self, other):
        return self._inplace("add_", other, _np_iadd)

    def __isub__(self, other):
        return self._inplace("sub_", other, _np_isub)

    def __imul__(self, other):
        return self._inplace("mul_", other, _np_imul)

    def __itruediv__(self, other):
        return self._inplace("div_", other, _np_idiv)

    def add_(self, other, alpha: float = 1):
        if alpha != 1:
            other = (other._data if isinstance(other, Tensor) else other) * alpha
        return self._inplace("add_", other, _np_iadd)

    def sub_(self, other, alpha: float = 1):
        if alpha != 1:
            other = (other._data if isinstance(other, Tensor) else other) * alpha
        return self._inplace("sub_", other, _np_isub)

    def mul_(self, other):
        return self._inplace("mul_", other, _np_imul)

    def div_(self, other):
        return self._inplace("div_", other, _np_idiv)

    def addcmul_(self, t1, t2, value: float = 1):
        return self._inplace("addcmul_", t1._data * t2._data * value, _np_iadd)

    def addcdiv_(self, t1, t2, value: float = 1):
        return self._inplace("addcdiv_", t1._data / t2._data * value, _np_iadd)

    def lerp_(self, end, weight: float):
        return self._inplace("lerp_", ((end._data if isinstance(end, Tensor) else end) - self._data) * weight, _np_iadd)

    def copy_(self, src) -> Tensor:
        return self._inplace("copy_", src, _np_copyto)

    def fill_(self, value) -> Tensor:
        return self._inplace("fill_", value, _np_copyto)

    def zero_(self) -> Tensor:
        return self._inplace("zero_", 0, _np_copyto)

    def clamp_(self, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
        self._check_inplace("clamp_")
        self._xp().clip(self._data, min, max, out=self._data)
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
        from shendu.random import _generator
        return self.copy_(_generator(generator).uniform(a, b, self.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
        from shendu.random import _generator
        return self.copy_(_generator(generator).normal(mean, std, self.shape))

    def __setitem__(self, index, value) -> None:
        self._check_inplace("__setitem__", value)
        from shendu.ops.index import _raw_index
        index = _raw_index(index)
        try:
            self._data[index] = value._data if isinstance(value, Tensor) else value
        except IndexError as e:
            raise IndexError(f"__setitem__: index {index!r} is out of range for a tensor of "
                             f"shape {self.shape}: {e}") from None

    # -- display ---------------------------------------------------------------------------------
    def __repr__(self) -> str:
        arr = backend.to_numpy(self._data)
        body = np.array2string(arr, separator=", ", prefix="tensor(", precision=4,
                               threshold=1000, edgeitems=3)
        extras = []
        if arr.dtype != dtypes.get_default_dtype() and arr.dtype != dtypes.int64 and arr.dtype != np.bool_:
            extras.append(f"dtype=shendu.{arr.dtype}")
        elif arr.size == 0:
            extras.append(f"size={arr.shape}")
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{type(self._ctx).__name__}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"


def _np_iadd(a, b):
    a += b


def _np_isub(a, b):
    a -= b


def _np_imul(a, b):
    a *= b


def _np_idiv(a, b):
    a /= b


def _np_copyto(a, b):
    backend.array_module(a).copyto(a, b, casting="unsafe")


def _to_array(data, dtype=None):
    """Convert user data to an array: floats default to float32, ints to int64, unless ``dtype``."""
    if isinstance(data, Tensor):
        data = data._data
    xp = backend.array_module(data)
    if dtype is not None:
        dtype = dtypes.as_dtype(dtype)
        return xp.array(data, dtype=dtype)
    arr = xp.array(data)
    if arr.dtype.kind == "f" and arr.dtype != dtypes.get_default_dtype() and not isinstance(data, xp.ndarray):
        arr = arr.astype(dtypes.get_default_dtype())
    elif arr.dtype.kind == "f" and arr.dtype == np.float64:
        arr = arr.astype(dtypes.get_default_dtype())
    elif arr.dtype.kind in "iu" and arr.dtype != np.int64 and not isinstance(data, xp.ndarray):
        arr = arr.astype(np.int64)
    elif arr.dtype.kind in "OUS":
        raise TypeError(f"tensor(): cannot build a tensor from data of type {type(data).__name__} "
                        f"(NumPy dtype {arr.dtype}); expected numbers, lists or arrays")
    return arr


from shendu.ops import _bind_tensor_methods  # noqa: E402  (ops import Tensor from this module)

_bind_tensor_methods(Tensor)
