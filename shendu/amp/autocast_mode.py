"""``autocast``: run the ops that profit from it in a lower precision, the sensitive ones in float32.

Inside ``with shendu.autocast("cpu", dtype=shendu.bfloat16):`` each op in PyTorch's lists for that
device casts its floating-point inputs before it runs (float64 inputs are never cast, as in PyTorch):

* ``lower``: products and convolutions (``LOWER``) take ``dtype`` (bfloat16 by default on the CPU,
  float16 on CUDA);
* ``fp32``: losses and other range-hungry ops (``FP32``) take float32;
* ``promote``: ``cat``/``stack``/``index_copy`` take the widest floating dtype among their inputs.

Everything else runs in the dtype its inputs have. Casts are ordinary differentiable ``.to(dtype)``
calls, so gradients flow back to float32 parameters in float32. Within the outermost ``autocast``
block a parameter (a leaf that requires grad) is cast once per dtype and reused (``cache_enabled``).

How ops see it: the wrappers of the listed ops read ``autocast_mode.active`` (one attribute read when
autocast is off) and call ``cast(op, *tensors)`` when it is on; nothing is added to other ops.

On a machine without CUDA, ``autocast("cuda")`` warns and does nothing, as PyTorch does.
"""
from __future__ import annotations

import functools
import warnings

from shendu import dtypes
from shendu.tensor import Tensor

__all__ = ["FP32", "LOWER", "PROMOTE", "autocast", "cast", "get_autocast_dtype", "is_autocast_enabled"]

# PyTorch's CPU and CUDA lists (torch.amp documentation, "Autocast Op Reference"), by shendu's op names.
LOWER = {
    "cpu": frozenset({"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                      "bmm", "mm", "baddbmm", "addmm", "addbmm", "linear", "matmul", "prelu",
                      "scaled_dot_product_attention"}),
    "cuda": frozenset({"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                       "bmm", "mm", "mv", "baddbmm", "addmm", "addmv", "addr", "addbmm", "linear", "matmul", "prelu",
                       "chain_matmul", "multi_dot", "scaled_dot_product_attention"}),
}
_LOSSES = frozenset({"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
                     "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "poisson_nll_loss",
                     "cosine_embedding_loss", "hinge_embedding_loss", "margin_ranking_loss", "soft_margin_loss",
                     "multi_margin_loss", "multilabel_margin_loss", "triplet_margin_loss"})
FP32 = {
    "cpu": _LOSSES | frozenset({"cdist", "prod", "trace", "cholesky", "inverse", "pinverse", "quantile",
                                "nanquantile"}),
    "cuda": _LOSSES | frozenset({"cdist", "prod", "pow", "exp", "log", "log10", "log1p", "log2", "expm1",
                                 "reciprocal", "rsqrt", "acos", "asin", "cosh", "sinh", "tan", "erfinv",
                                 "softmax", "log_softmax", "softmin", "softplus", "layer_norm", "group_norm",
                                 "norm", "normalize", "cosine_similarity", "cumsum", "cumprod", "sum", "dist",
                                 "pdist", "renorm"}),
}
PROMOTE = frozenset({"cat", "stack", "index_copy"})
_DEFAULT_DTYPE = {"cpu": dtypes.bfloat16, "cuda": dtypes.float16}
_LOWER_DTYPES = {"cpu": (dtypes.bfloat16, dtypes.float16), "cuda": (dtypes.float16, dtypes.bfloat16)}

active = False                         # whether any device's autocast is on (what the op wrappers read)
_enabled = {"cpu": False, "cuda": False}
_dtype = dict(_DEFAULT_DTYPE)
_cache: dict = {}                      # id(parameter) -> (parameter, version, dtype, cast copy)
_depth = 0                             # nesting of autocast blocks (the cache lives for the outermost)


def _device_type(t: Tensor) -> str:
    return "cpu" if type(t._data).__module__ == "numpy" else "cuda"


def _eligible(t) -> bool:
    if not isinstance(t, Tensor):
        return False
    d = t._data.dtype
    return (d.kind == "f" or d == dtypes.bfloat16) and d != dtypes.float64


def _to(t: Tensor, dtype):
    if t._data.dtype == dtype:
        return t
    if t.requires_grad and t._ctx is None and _depth:   # a parameter: cast once per block
        key = id(t)
        hit = _cache.get(key)
        version = t._version
        if hit is not None and hit[0] is t and hit[1] == version and hit[2] == dtype:
            return hit[3]
        out = t.to(dtype)
        _cache[key] = (t, version, dtype, out)
        return out
    return t.to(dtype)


def cast(op: str, *tensors):
    """``tensors`` as ``op`` takes them under the current autocast state (non-Tensors pass through)."""
    first = next((t for t in tensors if isinstance(t, Tensor)), None)
    if first is None:
        return tensors
    device = _device_type(first)
    if not _enabled[device]:
        return tensors
    if op in LOWER[device]:
        target = _dtype[device]
    elif op in FP32[device]:
        target = dtypes.float32
    elif op in PROMOTE:
        kinds = [t._data.dtype for t in tensors if _eligible(t)]
        if len(set(kinds)) <= 1:
            return tensors
        target = dtypes.float32      # mixing float32 with a lower precision (or bf16 with fp16) widens to float32
    else:
        return tensors
    return tuple(_to(t, target) if _eligible(t) else t for t in tensors)


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """Whether autocast is on for ``device_type`` (PyTorch's ``torch.is_autocast_enabled``)."""
    return _enabled[_check_device(device_type)]


def get_autocast_dtype(device_type: str):
    """The lower-precision dtype autocast uses on ``device_type``."""
    return _dtype[_check_device(device_type)]


def _check_device(device_type) -> str:
    name = str(device_type).split(":")[0]
    if name not in _enabled:
        raise RuntimeError(f"autocast: unsupported device_type {device_type!r}; expected 'cpu' or 'cuda'")
    return name


class autocast:  # noqa: N801 - PyTorch's name
    """Autocasting for ``device_type`` in the block (also a decorator); see the module docstring.

    Args:
        device_type: ``"cpu"`` or ``"cuda"``.
        dtype: the lower precision (``shendu.bfloat16`` or ``shendu.float16``); default bfloat16 on the CPU,
            float16 on CUDA.
        enabled: False turns autocast off inside the block (also inside an enclosing one).
        cache_enabled: reuse each parameter's cast within the outermost block. Default: True.
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled: bool | None = None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        self.device = _check_device(device_type)
        self.fast_dtype = _DEFAULT_DTYPE[self.device] if dtype is None else dtypes.as_dtype(dtype)
        self._enabled = bool(enabled)
        self._cache_enabled = True if cache_enabled is None else bool(cache_enabled)
        if self._enabled and self.fast_dtype not in _LOWER_DTYPES[self.device]:
            names = " and ".join(str(d) for d in _LOWER_DTYPES[self.device])
            warnings.warn(f"In {self.device} autocast, but the target dtype is not supported. Disabling autocast.\n"
                          f"{self.device.upper()} Autocast only supports dtype of {names} currently.", stacklevel=2)
            self._enabled = False
        if self._enabled and self.device == "cuda":
            from shendu import cuda
            if not cuda.is_available():
                warnings.warn("User provided device_type of 'cuda', but CUDA is not available. Disabling",
                              stacklevel=2)
                self._enabled = False

    def __enter__(self):
        global active, _depth
        self._previous = (_enabled[self.device], _dtype[self.device])
        _enabled[self.device] = self._enabled
        _dtype[self.device] = self.fast_dtype
        active = any(_enabled.values())
        _depth += 1 if self._cache_enabled else 0
        return self

    def __exit__(self, *exc) -> None:
        global active, _depth
        _enabled[self.device], _dtype[self.device] = self._previous
        active = any(_enabled.values())
        if self._cache_enabled:
            _depth -= 1
            if _depth == 0:
                _cache.clear()
        return None

    def __call__(self, fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return fn(*args, **kwargs)
        return run
