"""In-place operations (``x.add_(y)``, ``x[i] = v``, ``x.relu_()``) with PyTorch's autograd semantics.

Every in-place method runs through ``apply_inplace(self, op, outplace, *args)``, where ``outplace`` is
the op's out-of-place form. Two cases:

* **Untracked** (grad mode off, or neither ``self`` nor an argument requires grad): the result is
  written into ``self``'s storage, so views and ``.data`` aliases see it, and ``self``'s version counter
  is bumped. A node recorded earlier that reads ``self`` then refuses to run backward ("modified by an
  inplace operation"), instead of computing a gradient from the new values.
* **Tracked** (``self`` is in the graph, or the written value requires grad): ``self``'s old value is
  kept as a snapshot tensor that takes over ``self``'s history, the op is recorded on the snapshot, its
  result is written into ``self``'s storage and ``self`` takes the new node as its history. Nodes recorded
  before the write that read ``self`` are routed to the snapshot by the engine (``as_of``), so they see
  the value and the history they were recorded with (PyTorch's edges point at the old ``grad_fn`` too).

A tracked write to a *view* (``buf[:2] += x``, ``v = h.view(-1); v.mul_(w)``) is also a write to the
tensor that owns the memory (the root): the root is rebased on ``assign(root, positions, new value)``,
where ``positions`` are the view's elements in the root's flat storage, and the view takes
``root.flatten()[positions]`` as its history, as PyTorch's CopySlices does. Other views of the root
made earlier keep their old history; the shared version counter makes a node that read them refuse
to run backward.

On a leaf that requires grad, an in-place op under grad mode raises, as in PyTorch.
"""
from __future__ import annotations

import weakref

import numpy as np

from shendu.backend import array_module
from shendu.grad_mode import _state, no_grad
from shendu.tensor import Tensor


def _requires_grad(values) -> bool:
    return any(isinstance(v, Tensor) and v.requires_grad for v in values)


def bump_version(t: Tensor) -> None:
    """Record an in-place write to ``t`` (and to every view sharing its counter)."""
    counter = t._shared_version_counter()
    _state.clock += 1
    counter[0] += 1
    counter[1] = _state.clock


def write(t: Tensor, result, op: str) -> None:
    """Copy the array ``result`` into ``t``'s storage, with PyTorch's casting and shape rules."""
    dst = t._data
    if result is not dst:
        rdt, ddt = result.dtype, dst.dtype
        if rdt != ddt and not np.can_cast(rdt, ddt, "same_kind"):
            raise RuntimeError(f"{op}: result type {rdt} can't be cast to the desired output type {ddt} "
                               f"of the tensor written in place (shape {tuple(dst.shape)})")
        if result.shape != dst.shape:
            try:
                fits = np.broadcast_shapes(result.shape, dst.shape) == dst.shape
            except ValueError:
                fits = False
            if not fits:
                raise RuntimeError(f"{op}: the result of shape {tuple(result.shape)} cannot be written in place "
                                   f"into a tensor of shape {tuple(dst.shape)} (it must broadcast to that shape)")
        try:
            array_module(dst).copyto(dst, result, casting="unsafe")
        except ValueError as e:
            raise RuntimeError(f"{op}: cannot write into this tensor in place (shape {tuple(dst.shape)}): {e}; "
                               "an expanded tensor has several elements sharing one memory location: "
                               "clone() it first") from None
    bump_version(t)


def check_writable(t: Tensor, op: str, args=(), kwargs=None) -> bool:
    """Raise where PyTorch forbids the write; return whether the write must be recorded (tracked)."""
    if not _state.enabled:
        return False
    tracked = t.requires_grad or _requires_grad(args) or (kwargs and _requires_grad(kwargs.values()))
    if not tracked:
        return False
    if t.requires_grad and t._ctx is None:
        raise RuntimeError(
            f"{op}: a leaf tensor that requires grad (shape {tuple(t._data.shape)}) is being used in an in-place "
            "operation; update it under `with shendu.no_grad():` (as optimizers do), or work on a clone()")
    root = view_root(t)
    if root is not None and root.requires_grad and root._ctx is None:
        raise RuntimeError(
            f"{op}: a view (shape {tuple(t._data.shape)}) of a leaf tensor that requires grad (shape "
            f"{tuple(root._data.shape)}) is being used in an in-place operation; update it under "
            "`with shendu.no_grad():`, or work on a clone()")
    return True


def view_root(t: Tensor) -> Tensor | None:
    """The live tensor that owns the memory ``t`` views (following views of views), or None."""
    root = None
    while t._view_of is not None:
        base = t._view_of()
        if base is None:
            break
        root = t = base
    return root


def apply_inplace(self: Tensor, op: str, outplace, *args, **kwargs) -> Tensor:
    """``self = outplace(self, *args, **kwargs)``, written into ``self``'s storage (see the module docstring)."""
    if not check_writable(self, op, args, kwargs):
        with no_grad():
            result = outplace(self, *args, **kwargs)
        write(self, result._data if isinstance(result, Tensor) else array_module(self._data).asarray(result), op)
        return self
    old = snapshot(self)
    result = outplace(old, *args, **kwargs)
    root = view_root(self)
    if root is None:
        rebase(self, old, result, op)
    else:
        _rebase_through_root(self, root, result, op)
    return self


def _rebase_through_root(view: Tensor, root: Tensor, result: Tensor, op: str) -> None:
    """Write ``result`` into ``view`` by rebasing the tensor that owns its memory (see the module docstring)."""
    from shendu.ops.setitem import assign
    positions = _flat_positions(view._data, root._data, op)
    old_root = snapshot(root)
    new_root = assign(old_root.reshape(-1), positions, result).reshape(root._data.shape)
    rebase(root, old_root, new_root, op)  # writes the values: the view sees them through the shared memory
    regenerated = root.reshape(-1)[positions]
    view._rebases = view._rebases + ((_state.clock, Tensor._wrap(result._data)),)
    view.requires_grad, view._ctx, view._out_index = regenerated.requires_grad, regenerated._ctx, 0
    if view._ctx is not None:
        view._ctx._out_ref = weakref.ref(view)


def _flat_positions(view, root, op: str):
    """For each element of the array ``view``, its index in ``root.reshape(-1)`` (same memory)."""
    xp = array_module(root)
    if xp is not np or not root.flags.c_contiguous:
        raise RuntimeError(f"{op}: in-place write through a view of a non-contiguous (or GPU) tensor while autograd "
                           "records it is not supported; apply the op out of place")
    itemsize = root.itemsize
    offset = (view.__array_interface__["data"][0] - root.__array_interface__["data"][0]) // itemsize
    flat = np.arange(root.size, dtype=np.int64)
    strides = tuple(s // itemsize * flat.itemsize for s in view.strides)
    return np.lib.stride_tricks.as_strided(flat[offset:], shape=view.shape, strides=strides).copy()

def snapshot(t: Tensor) -> Tensor:
    """A copy of ``t``'s current value that takes over ``t``'s place in the graph."""
    old = Tensor._wrap(t._data.copy())
    old.requires_grad, old._ctx, old._out_index = t.requires_grad, t._ctx, t._out_index
    node = t._ctx
    if node is not None and node._out_ref is not None and node._out_ref() is t:
        node._out_ref = weakref.ref(old)  # the node's backward reads the value it produced
    return old


def rebase(t: Tensor, old: Tensor, result: Tensor, op: str) -> None:
    """Write ``result`` into ``t`` and give ``t`` its history; earlier nodes keep seeing ``old``."""
    write(t, result._data, op)
    t._rebases = (t._rebases or ()) + ((_state.clock, old),)
    t.requires_grad, t._ctx, t._out_index = result.requires_grad, result._ctx, result._out_index
    node = result._ctx
    if node is not None:
        node._output_written = _state.clock  # its output is the value just written: not a later change
        if node._out_ref is not None:
            node._out_ref = weakref.ref(t)


def as_of(t: Tensor, clock: int) -> Tensor:
    """The tensor a node recorded at ``clock`` saw as ``t``: ``t`` itself, or a snapshot from before a write."""
    for written_at, old in t._rebases:
        if written_at > clock:
            return old
    return t


# -- the in-place methods ------------------------------------------------------------------------
def _raw(value):
    if isinstance(value, Tensor):
        return value._data
    return value.item() if isinstance(value, np.generic) else value


def _arithmetic(name: str, ufunc: str):
    """``add_``/``sub_``/``mul_``/``div_``: one NumPy ufunc call into the storage when untracked."""
    def method(self, other, *, alpha=1, rounding_mode=None):
        if rounding_mode is not None or check_writable(self, f"{name}_", (other,)):
            kwargs = {"rounding_mode": rounding_mode} if rounding_mode is not None else {}
            if alpha != 1:
                kwargs["alpha"] = alpha
            return apply_inplace(self, f"{name}_", getattr(Tensor, name), other, **kwargs)
        dst, value = self._data, _raw(other)
        if alpha != 1:
            value = value * alpha
        try:
            getattr(array_module(dst), ufunc)(dst, value, out=dst)
        except TypeError:
            rdt = np.result_type(dst, value)
            raise RuntimeError(f"{name}_: result type {rdt} can't be cast to the desired output type "
                               f"{dst.dtype} of the tensor written in place (shape {tuple(dst.shape)})") from None
        except ValueError as e:
            raise RuntimeError(f"{name}_: cannot update a tensor of shape {tuple(dst.shape)} in place with a "
                               f"value of shape {tuple(np.shape(value))}: {e}") from None
        bump_version(self)
        return self
    method.__name__ = f"{name}_"
    method.__doc__ = f"In-place ``{name}``: ``self`` becomes ``self.{name}(other)``, keeping its dtype."
    return method


def _generic(name: str):
    outplace = getattr(Tensor, name)

    def method(self, *args, **kwargs):
        return apply_inplace(self, f"{name}_", outplace, *args, **kwargs)
    method.__name__ = f"{name}_"
    method.__doc__ = f"In-place ``{name}``: ``self`` becomes ``self.{name}(...)`` (see ``Tensor.{name}``)."
    return method


def _values(fn, name: str | None = None):
    """An in-place method that overwrites ``self`` with values that carry no gradient (fills, samples)."""
    op = name or fn.__name__

    def method(self, *args, **kwargs):
        arr = array_module(self._data).asarray(fn(self, *args, **kwargs))
        if check_writable(self, op):  # in the graph: self becomes a constant; earlier nodes see the old value
            return apply_inplace(self, op, lambda old: Tensor._wrap(arr.astype(old._data.dtype, copy=False)))
        write(self, arr, op)
        return self
    method.__name__, method.__doc__ = op, fn.__doc__
    return method


def _generator(generator):
    from shendu.random import _generator as pick
    return pick(generator)


def _float_only(t: Tensor, op: str) -> None:
    if t._data.dtype.kind not in "fc":
        raise RuntimeError(f"{op}: expected a floating-point tensor, got dtype {t._data.dtype}")


@_values
def zero_(self):
    """Fill with zeros."""
    return array_module(self._data).zeros(self._data.shape, dtype=self._data.dtype)


@_values
def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None):
    """Fill with samples of N(mean, std²)."""
    _float_only(self, "normal_")
    return _generator(generator).normal(mean, std, self._data.shape)


@_values
def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator=None):
    """Fill with samples of U[a, b)."""
    _float_only(self, "uniform_")
    return _generator(generator).uniform(a, b, self._data.shape)


@_values
def bernoulli_(self, p=0.5, *, generator=None):
    """In-place ``bernoulli``: fill with 0/1 samples, 1 with probability ``p`` (a number or a tensor broadcast
    to ``self``)."""
    p = np.broadcast_to(np.asarray(_raw(p), dtype=np.float64), self._data.shape)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise RuntimeError(f"bernoulli_: expected 0 <= p <= 1, got values in [{p.min()}, {p.max()}]")
    return _generator(generator).random(self._data.shape) < p


@_values
def exponential_(self, lambd: float = 1.0, *, generator=None):
    """Fill with samples of the exponential distribution of rate ``lambd``."""
    _float_only(self, "exponential_")
    if lambd <= 0:
        raise RuntimeError(f"exponential_: expects lambd > 0.0, but found lambd={lambd}")
    return _generator(generator).exponential(1.0 / lambd, self._data.shape)


@_values
def cauchy_(self, median: float = 0.0, sigma: float = 1.0, *, generator=None):
    """Fill with samples of the Cauchy distribution."""
    _float_only(self, "cauchy_")
    return median + sigma * np.tan(np.pi * (_generator(generator).random(self._data.shape) - 0.5))


@_values
def log_normal_(self, mean: float = 1.0, std: float = 2.0, *, generator=None):
    """Fill with samples of exp(N(mean, std²))."""
    _float_only(self, "log_normal_")
    return _generator(generator).lognormal(mean, std, self._data.shape)


@_values
def geometric_(self, p: float, *, generator=None):
    """Fill with the number of Bernoulli(p) trials up to the first success (1, 2, ...)."""
    return _generator(generator).geometric(p, self._data.shape)


@_values
def random_(self, from_: int = 0, to: int | None = None, *, generator=None):
    """Fill with integers drawn uniformly from [from_, to) (``random_(to)``: [0, to))."""
    if to is None:
        if from_ == 0:  # PyTorch: [0, 2**mantissa] for floats, the dtype's range for integers
            dt = self._data.dtype
            to = (2 ** (np.finfo(dt).nmant + 1) + 1) if dt.kind == "f" else (
                2 if dt.kind == "b" else int(np.iinfo(dt).max) + 1)
        else:
            from_, to = 0, from_
    if to <= from_:
        raise RuntimeError(f"random_: expects 'from' ({from_}) to be less than 'to' ({to})")
    return _generator(generator).integers(from_, to, self._data.shape)


def fill_(self, value):
    """Fill with ``value`` (a number, or a 0-d tensor whose gradient is the sum of the incoming one)."""
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError(f"fill_: only supports a 0-dimension value tensor, got one of shape "
                               f"{tuple(value._data.shape)}")
        return apply_inplace(self, "fill_", lambda old, v: v.to(old.dtype).expand(old.shape), value)
    return _fill_scalar(self, value)


def _full(self, value):
    return array_module(self._data).full(self._data.shape, value, dtype=self._data.dtype)


_fill_scalar = _values(_full, "fill_")


def copy_(self, src, non_blocking: bool = False):
    """Copy ``src``'s values (broadcast to ``self``'s shape, cast to its dtype and device) into ``self``."""
    if not isinstance(src, Tensor):
        src = Tensor._wrap(array_module(self._data).asarray(src))
    if tuple(src._data.shape) != tuple(self._data.shape):
        try:
            ok = np.broadcast_shapes(src._data.shape, self._data.shape) == self._data.shape
        except ValueError:
            ok = False
        if not ok:
            raise RuntimeError(f"copy_: the source of shape {tuple(src._data.shape)} cannot be broadcast to the "
                               f"destination's shape {tuple(self._data.shape)}")
    return apply_inplace(self, "copy_", _copied, src)


def _copied(old: Tensor, src: Tensor) -> Tensor:
    out = src.to(old.dtype).to(old.device)
    return out.expand(old.shape) if out.shape != old.shape else out


def fill_diagonal_(self, fill_value, wrap: bool = False):
    """Fill the main diagonal (all dims equal for >2-d; ``wrap`` continues it below a tall matrix)."""
    shape = self._data.shape
    if self._data.ndim < 2 or (self._data.ndim > 2 and len(set(shape)) != 1):
        raise RuntimeError(f"fill_diagonal_: all dimensions of the input must be of equal length (and >= 2 "
                           f"dims), got shape {tuple(shape)}")

    def filled(old):
        xp = array_module(old._data)
        mask = xp.zeros(shape, dtype=bool)
        xp.fill_diagonal(mask, True, wrap=wrap)
        return old.masked_fill(Tensor._wrap(mask), fill_value)
    return apply_inplace(self, "fill_diagonal_", filled)


def _metadata(name: str):
    """``unsqueeze_``, ``t_``, ...: ``self`` becomes the view ``self.name(...)`` (shape and strides change,
    values do not); in the graph ``self`` takes the view's node as its history, as PyTorch does."""
    outplace = getattr(Tensor, name)

    def method(self, *args, **kwargs):
        op = f"{name}_"
        if not check_writable(self, op, args, kwargs):
            with no_grad():
                self._data = outplace(self, *args, **kwargs)._data
            return self
        old = Tensor._wrap(self._data)  # same values: no copy needed, only the history moves
        old.requires_grad, old._ctx, old._out_index = self.requires_grad, self._ctx, self._out_index
        node = self._ctx
        if node is not None and node._out_ref is not None and node._out_ref() is self:
            node._out_ref = weakref.ref(old)
        result = outplace(old, *args, **kwargs)
        self._data = result._data
        self._rebases = self._rebases + ((_state.clock + 1, old),)
        _state.clock += 1  # earlier nodes that read self are pointed at ``old`` (the same values, old shape)
        self.requires_grad, self._ctx, self._out_index = result.requires_grad, result._ctx, result._out_index
        if result._ctx is not None and result._ctx._out_ref is not None:
            result._ctx._out_ref = weakref.ref(self)
        return self
    method.__name__ = f"{name}_"
    method.__doc__ = f"In-place ``{name}``: ``self`` becomes the view ``self.{name}(...)``."
    return method


def setitem(self, index, value) -> None:
    """``self[index] = value``: basic, advanced and boolean indices; differentiable like PyTorch's."""
    from shendu.ops.setitem import assign
    apply_inplace(self, "__setitem__", assign, index, value)


def _inplace_operator(method):
    def op(self, other):
        return method(self, other)
    return op


#: Out-of-place methods whose in-place twin (``name_``) is ``apply_inplace`` of them.
GENERIC = (
    "pow", "neg", "abs", "exp", "log", "log1p", "log2", "log10", "expm1", "exp2", "sqrt", "rsqrt", "sin", "cos",
    "tan", "tanh", "sigmoid", "relu", "clamp", "clip", "clamp_min", "clamp_max", "floor", "ceil", "round",
    "trunc", "frac", "sign", "sgn", "reciprocal", "square", "fmod", "remainder", "masked_fill", "index_fill",
    "scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy", "index_put", "masked_scatter",
    "addcmul", "addcdiv", "lerp", "erf", "erfinv", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh",
    "atanh", "arcsin", "arccos", "arctan", "atan2", "arctan2", "hypot", "logit", "nan_to_num", "tril", "triu",
    "floor_divide", "true_divide", "copysign", "xlogy", "float_power", "logical_not", "logical_and",
    "logical_or", "logical_xor", "addmm", "addmv", "addbmm", "baddbmm", "addr", "digamma", "lgamma",
    "heaviside", "sinc", "deg2rad", "rad2deg", "maximum", "minimum", "fmax", "fmin", "where", "mvlgamma",
    "hardtanh", "leaky_relu", "elu", "silu", "mish", "gelu", "relu6", "selu", "celu", "hardswish",
    "hardsigmoid", "threshold", "eq", "ne", "lt", "le", "gt", "ge", "greater", "less", "negative",
)


def bind(cls) -> None:
    """Attach the in-place methods to ``Tensor`` (after every out-of-place op is bound)."""
    for name in GENERIC:
        if hasattr(cls, name) and not hasattr(cls, f"{name}_"):
            setattr(cls, f"{name}_", _generic(name))
    arithmetic = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide"}
    for name, ufunc in arithmetic.items():
        setattr(cls, f"{name}_", _arithmetic(name, ufunc))
    cls.subtract_, cls.multiply_, cls.divide_, cls.true_divide_ = cls.sub_, cls.mul_, cls.div_, cls.div_
    cls.__iadd__ = _inplace_operator(cls.add_)
    cls.__isub__ = _inplace_operator(cls.sub_)
    cls.__imul__ = _inplace_operator(cls.mul_)
    cls.__itruediv__ = _inplace_operator(cls.div_)
    for fn in (zero_, normal_, uniform_, bernoulli_, exponential_, cauchy_, log_normal_, geometric_, random_,
               fill_, copy_, fill_diagonal_):
        setattr(cls, fn.__name__, fn)
    cls.__setitem__ = setitem
    for name in ("unsqueeze", "squeeze", "t", "transpose", "swapdims", "swapaxes", "as_strided"):
        if hasattr(cls, name):
            setattr(cls, f"{name}_", _metadata(name))



def write_out(out: Tensor, result: Tensor, op: str) -> Tensor:
    """PyTorch's ``out=``: store ``result`` in ``out`` (in place when the shape matches, else resized)."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): out= must be a Tensor, got {type(out).__name__}")
    if _state.enabled and (out.requires_grad or result.requires_grad):
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad")
    arr = result._data
    if arr.shape == out._data.shape:
        write(out, arr, op)
    else:  # PyTorch resizes out (warning when it was not empty); the storage is replaced
        if not np.can_cast(arr.dtype, out._data.dtype, "same_kind"):
            raise RuntimeError(f"{op}(): result type {arr.dtype} can't be cast to the out tensor's dtype "
                               f"{out._data.dtype}")
        out._data = arr.astype(out._data.dtype, copy=False)
        bump_version(out)
    return out
