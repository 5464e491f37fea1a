"""``Tensor``: an n-dimensional array that can record the operations made on it.

A Tensor holds ``data`` (a NumPy or CuPy array), ``requires_grad``, ``grad`` (a Tensor, filled by
``backward``) and ``_ctx``, the ``Function`` node that produced it (``None`` for leaves). Methods
that compute (``x.exp()``, ``x @ y``, ``x.sum(1)``) are bound from ``shendu.ops`` in one table
(``shendu/ops/__init__.py``) once every op exists, so each op is written once, as a function, next to
its gradient; the in-place ``_`` methods and ``x[i] = v`` come from ``shendu/autograd/inplace.py``.
Nothing here imports an op: the module loads first, in any import order.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from shendu import backend, dtypes
from shendu.grad_mode import _state
from shendu.size import Size


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
    _post_accumulate_grad_hooks = None
    _engine_grad = False  # a .grad whose array only the engine holds: backward adds into it in place
    _version_counter = None  # [version, clock of last write], shared with views (shendu.autograd.inplace)
    _view_of = None  # weak reference to the tensor whose memory this one views, if an op made it a view
    _rebases = ()  # ((clock, snapshot), ...): this tensor's values and history before each in-place write
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
    def shape(self) -> Size:
        """The size of every dimension, a ``shendu.Size`` (a tuple subclass): ``x.shape == (N, C)``."""
        return _new_size(Size, self._data.shape)

    @property
    def ndim(self) -> int:
        """The number of dimensions (``len(x.shape)``); 0 for a scalar tensor."""
        return self._data.ndim

    @property
    def dtype(self):
        """The element type, e.g. ``shendu.float32`` (NumPy dtype objects under PyTorch's names)."""
        return self._data.dtype

    @property
    def device(self) -> backend.Device:
        """Where the data lives: ``device(type='cpu')``, or a CUDA device when the data is a CuPy array."""
        return backend.device_of(self._data)

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user made (not the output of a recorded operation); only leaves get ``.grad``."""
        return self._ctx is None

    @property
    def grad_fn(self):
        """The autograd node that produced this tensor (None for a leaf or under ``no_grad``)."""
        return self._ctx

    @property
    def is_cuda(self) -> bool:
        """True when the data lives on a GPU (a CuPy array)."""
        return self.device.type == "cuda"

    @property
    def is_cpu(self) -> bool:
        """True when the data lives in host memory (a NumPy array)."""
        return self.device.type == "cpu"

    def get_device(self) -> int:
        """-1 on the CPU (PyTorch's convention), else the GPU's index."""
        return -1 if self.device.type == "cpu" else (self.device.index or 0)

    @property
    def retains_grad(self) -> bool:
        """True for a non-leaf on which ``retain_grad()`` was called, so backward keeps its ``.grad``."""
        return bool(self._retains_grad) and self._ctx is not None

    @property
    def output_nr(self) -> int:
        """Which output of its ``grad_fn`` this tensor is (0 for single-output operations)."""
        return self._out_index

    def is_inference(self) -> bool:
        """False: shendu has no inference tensors (``inference_mode`` behaves like ``no_grad``)."""
        return False

    def is_nonzero(self) -> bool:
        """True when the single element is nonzero; raises RuntimeError for other than one element."""
        if self._data.size != 1:
            raise RuntimeError(f"is_nonzero: a tensor with {self._data.size} elements cannot be converted to Scalar")
        return bool(self._data.reshape(()) != 0)

    def is_same_size(self, other: Tensor) -> bool:
        """True when ``other`` has exactly this tensor's shape."""
        return self._data.shape == other._data.shape

    # Devices and layouts shendu does not have: honest answers, as a CPU build of PyTorch gives them.
    is_xpu = is_mps = is_meta = is_quantized = is_sparse = is_mkldnn = is_nested = False

    @property
    def layout(self) -> str:
        """``'strided'``: every dense tensor is strided (a sparse tensor reports its own layout)."""
        return "strided"

    @property
    def itemsize(self) -> int:
        """Bytes per element (4 for float32)."""
        return self._data.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes of the elements: ``numel() * itemsize``."""
        return int(self._data.nbytes)

    def size(self, dim: int | None = None):
        """The shape (a ``shendu.Size``), or the length of dimension ``dim`` (negatives count from the end)."""
        if dim is None:
            return _new_size(Size, self._data.shape)
        from shendu.ops.dims import wrap_dim
        return self._data.shape[wrap_dim(dim, self._data.ndim, "size")] if self._data.ndim else 1

    def dim(self) -> int:
        """The number of dimensions (same as ``ndim``). Alias: ``ndimension``."""
        return self._data.ndim

    ndimension = dim

    def numel(self) -> int:
        """The number of elements, the product of the shape (1 for a 0-d tensor). Alias: ``nelement``."""
        return int(self._data.size)

    nelement = numel

    def is_complex(self) -> bool:
        """True for complex dtypes (complex64, complex128)."""
        return self._data.dtype.kind == "c"

    def is_signed(self) -> bool:
        """True for dtypes that hold negative numbers (floats, complex and signed integers)."""
        return self._data.dtype.kind in "fci" or self._data.dtype.name == "bfloat16"

    def data_ptr(self) -> int:
        """The address of the first element (two tensors that share memory from the start agree)."""
        xp = self._xp()
        return int(self._data.__array_interface__["data"][0]) if xp is np else int(self._data.data.ptr)

    def storage_offset(self) -> int:
        """Elements between the start of the memory this tensor views and its first element."""
        base = self._data.base if isinstance(self._data.base, np.ndarray) else None
        if base is None:
            return 0
        return (self.data_ptr() - int(base.__array_interface__["data"][0])) // self._data.itemsize

    def to_dense(self, dtype=None, *, masked_grad=None) -> Tensor:
        """A dense tensor is its own dense form (a sparse one overrides this, see shendu.sparse)."""
        return self if dtype is None else self.to(dtype)

    def share_memory_(self) -> Tensor:
        """In place in PyTorch (moves the storage to shared memory); shendu runs in one process, where
        memory is shared already, so this returns ``self`` unchanged."""
        return self

    def pin_memory(self, device=None) -> Tensor:
        """Returns ``self``: there is no host-to-GPU transfer for pinned memory to speed up."""
        return self  # no GPU transfer to speed up

    def is_pinned(self, device=None) -> bool:
        """False: shendu never pins host memory."""
        return False

    def apply_(self, fn) -> Tensor:
        """Replace every element ``v`` by ``fn(v)`` (a Python function; slow, CPU only, as in PyTorch)."""
        if self.requires_grad and _state.enabled:
            raise RuntimeError("apply_: can't call on a tensor that requires grad")
        flat = self._data.reshape(-1)
        values = [fn(v) for v in flat.tolist()]
        from shendu.autograd.inplace import write
        write(self, np.asarray(values, dtype=self._data.dtype).reshape(self._data.shape), "apply_")
        return self

    def __reduce_ex__(self, protocol):
        """Pickle a leaf as its values, dtype and ``requires_grad`` (``.grad`` and history are not kept)."""
        if self._ctx is not None:
            raise RuntimeError("pickling a tensor that has a history (a non-leaf) is not supported; detach() it")
        return _rebuild_tensor, (type(self), backend.to_numpy(self._data), self.requires_grad,
                                 {k: v for k, v in self.__dict__.items() if k not in _UNPICKLED})

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats a one-element tensor's value, as PyTorch does; otherwise its repr."""
        if self._data.ndim == 0 or (spec and self._data.size == 1):
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __deepcopy__(self, memo):
        if self._ctx is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                               "protocol at the moment; detach() it first")
        new = type(self).__new__(type(self))
        new.__dict__.update({k: v for k, v in self.__dict__.items()
                             if k not in ("_data", "grad", "_version_counter", "_view_of", "_rebases", "_hooks")})
        new._data = self._data.copy()
        if self.grad is not None:
            new.grad = Tensor._wrap(self.grad._data.copy())
        memo[id(self)] = new
        return new

    def element_size(self) -> int:
        """Bytes per element (4 for float32), as ``itemsize``."""
        return self._data.itemsize

    def is_floating_point(self) -> bool:
        """True for floating-point dtypes (float16, bfloat16, float32, float64)."""
        return self._data.dtype.kind == "f" or self._data.dtype == dtypes.bfloat16

    def is_contiguous(self) -> bool:
        """True when the elements lie in row-major (C) order with no gaps."""
        return bool(self._data.flags.c_contiguous)

    def contiguous(self) -> Tensor:
        """``self`` when it is contiguous, else a contiguous copy (which stays in the graph)."""
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
        """The data as a NumPy array that shares memory with the tensor (copied from a GPU).

        Raises RuntimeError on a tensor that requires grad: call ``detach().numpy()``.
        """
        if self.requires_grad and _state.enabled:
            raise RuntimeError("numpy(): can't call on a tensor that requires grad; use "
                               "tensor.detach().numpy()")
        return backend.to_numpy(self._data)

    def __array__(self, dtype=None, copy=None):
        arr = backend.to_numpy(self._data)
        return arr.astype(dtype) if dtype is not None else arr

    def item(self):
        """The value of a one-element tensor as a Python number (float, int or bool).

        Raises RuntimeError when the tensor has more than one element. ``loss.item()`` is the usual way to
        log a loss without keeping its graph.
        """
        if self._data.size != 1:
            raise RuntimeError(f"item(): only a tensor with one element can be converted to a "
                               f"Python scalar; this one has shape {self.shape}")
        return self._data.item()

    def tolist(self):
        """The data as (nested) Python lists of Python numbers; a Python number for a 0-d tensor.

        Shape: the nesting depth is ``ndim``, the lengths are ``shape``.
        """
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

    def to(self, *args, dtype=None, device=None, copy: bool = False, non_blocking: bool = False,
           memory_format=None) -> Tensor:
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

    def type(self, dtype=None, non_blocking: bool = False):
        """With no argument, the legacy type name (``'shendu.FloatTensor'``); otherwise ``to`` that dtype.

        ``dtype`` may be a dtype, a legacy type (``shendu.LongTensor``) or its name (``'torch.LongTensor'``).
        """
        if dtype is None:
            name = _LEGACY_TYPE_NAMES.get(self._data.dtype.name, self._data.dtype.name)
            return f"shendu.{'cuda.' if self.is_cuda else ''}{name}"
        if isinstance(dtype, str) and dtype.endswith("Tensor"):
            short = dtype.rsplit(".", 1)[-1]
            names = {v: k for k, v in _LEGACY_TYPE_NAMES.items()}
            if short not in names:
                raise ValueError(f"type(): invalid type {dtype!r}")
            dtype = names[short]
        return self.to(getattr(dtype, "dtype", dtype))

    def astype(self, dtype) -> Tensor:
        """``self.to(dtype)`` (the NumPy spelling)."""
        return self.to(dtype)

    def float(self) -> Tensor:
        """``self.to(shendu.float32)``."""
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        """``self.to(shendu.float64)``."""
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        """``self.to(shendu.float16)``."""
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        """``self.to(shendu.int64)``."""
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        """``self.to(shendu.int32)``."""
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        """``self.to(shendu.bool)``."""
        return self.to(dtypes.bool_)

    def bfloat16(self) -> Tensor:
        """``self.to(shendu.bfloat16)``."""
        return self.to(dtypes.bfloat16)

    def byte(self) -> Tensor:
        """``self.to(shendu.uint8)``."""
        return self.to(dtypes.uint8)

    def char(self) -> Tensor:
        """``self.to(shendu.int8)``."""
        return self.to(dtypes.int8)

    def short(self) -> Tensor:
        """``self.to(shendu.int16)``."""
        return self.to(dtypes.int16)

    def cfloat(self) -> Tensor:
        """``self.to(shendu.complex64)``."""
        return self.to(np.complex64)

    def cdouble(self) -> Tensor:
        """``self.to(shendu.complex128)``."""
        return self.to(np.complex128)

    def cpu(self) -> Tensor:
        """``self.to('cpu')``: this tensor, or a copy of it in host memory."""
        return self.to("cpu")

    def cuda(self) -> Tensor:
        """``self.to('cuda')``: a copy on the GPU (needs CuPy and a GPU; raises naming what is missing)."""
        return self.to("cuda")

    # -- autograd --------------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (default True) and return ``self``.

        Only floating-point tensors can require gradients, and only a leaf can be switched off (use
        ``detach()`` for a non-leaf).
        """
        if requires_grad and not dtypes._is_float(self._data.dtype):
            raise RuntimeError(f"requires_grad_: only floating-point tensors can require "
                               f"gradients, this one has dtype {self.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_(False): only leaves can be changed; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data (and version counter), cut off from the graph."""
        t = Tensor._wrap(self._data)
        t._version_counter = self._shared_version_counter()
        return t

    def detach_(self) -> Tensor:
        """In-place ``detach``: cut this tensor off from the graph, making it a leaf that does not require grad."""
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
        return _RemovableHandle(self._hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` after backward has accumulated into this leaf's ``.grad``: during backward, as
        soon as no remaining node can add to the leaf's gradient (what DistributedDataParallel overlaps with)."""
        if self._ctx is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors have an accumulated .grad")
        if self._post_accumulate_grad_hooks is None:
            self._post_accumulate_grad_hooks = []
        self._post_accumulate_grad_hooks.append(hook)
        _state.post_accumulate_hooks = True
        return _RemovableHandle(self._post_accumulate_grad_hooks, hook)

    def backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (see ``shendu.autograd.backward``)."""
        _engine_backward(self, gradient, retain_graph, create_graph, inputs)

    # -- versions (in-place writes; the methods themselves are in shendu/autograd/inplace.py) -----
    @property
    def _version(self) -> int:
        """How many times this tensor's storage was written in place (shared with its views)."""
        counter = self._version_counter
        return 0 if counter is None else counter[0]

    def _shared_version_counter(self) -> list:
        """This tensor's ``[version, clock of the last write]``, created on first use."""
        counter = self._version_counter
        if counter is None:
            counter = self._version_counter = [0, 0]
        return counter

    # -- display ---------------------------------------------------------------------------------
    def __repr__(self) -> str:
        from shendu.tensor_api import format_array, with_suffixes  # under shendu.set_printoptions
        arr = backend.to_numpy(self._data)
        body = format_array(arr)
        extras = []
        default = dtypes.get_default_dtype()
        plain = (default, dtypes.int64, np.bool_, np.complex64 if default.itemsize <= 4 else np.complex128)
        if arr.dtype not in plain:
            extras.append(f"dtype=shendu.{arr.dtype}")
        elif arr.size == 0 and arr.shape != (0,):
            extras.append(f"size={arr.shape}")
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{type(self._ctx).__name__}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return with_suffixes("tensor(" + body, extras, len("tensor("))


def _engine_backward(*args) -> None:
    """``shendu.autograd.engine.backward``, looked up on first use (the engine imports this module)."""
    global _engine_backward
    from shendu.autograd.engine import backward
    _engine_backward = backward
    backward(*args)


_LEGACY_TYPE_NAMES = {
    "float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor", "bfloat16": "BFloat16Tensor",
    "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor",
    "uint8": "ByteTensor", "bool": "BoolTensor",
}
_new_size = tuple.__new__
_UNPICKLED = frozenset(("_data", "grad", "requires_grad", "_version_counter", "_view_of", "_rebases", "_hooks",
                        "_post_accumulate_grad_hooks", "_ctx", "_out_index", "_retains_grad"))


def _rebuild_tensor(cls, array, requires_grad: bool, extra: dict) -> Tensor:
    t = object.__new__(cls)
    t.__dict__.update(extra)
    t._data = array
    if requires_grad:
        t.requires_grad = True
    return t  # Size(shape) without re-checking a shape NumPy already checked


class _RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` unregisters the hook."""

    def __init__(self, hooks: list, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


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

