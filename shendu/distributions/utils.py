"""Helpers shared by the distributions: parameter broadcasting, probs <-> logits, drawing raw samples."""
from __future__ import annotations

import math
from numbers import Number

import numpy as np

from shendu import backend, dtypes
from shendu.random import _generator
from shendu.tensor import Tensor

__all__ = ["broadcast_all", "clamp_probs", "draw", "logits_to_probs", "probs_to_logits", "tiny"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def tiny(t: Tensor) -> float:
    """The smallest positive normal number of ``t``'s dtype."""
    return float(np.finfo(t.dtype).tiny)


def eps(t: Tensor) -> float:
    """Machine epsilon of ``t``'s dtype."""
    return float(np.finfo(t.dtype).eps)


def broadcast_all(*values) -> tuple:
    """Tensors and numbers broadcast to one shape; numbers become tensors of the first tensor's dtype
    (the default float dtype when all are numbers)."""
    tensors = [v for v in values if isinstance(v, Tensor)]
    for v in values:
        if not isinstance(v, (Tensor, Number)):
            raise ValueError("Input arguments must all be instances of numbers.Number or Tensor, "
                             f"got {type(v).__name__}")
    if tensors:
        dtype = tensors[0].dtype
        if dtype.kind != "f":
            dtype = dtypes.get_default_dtype()
        device = tensors[0].device
    else:
        dtype, device = dtypes.get_default_dtype(), None
    out = []
    for v in values:
        if isinstance(v, Tensor):
            out.append(v if v.dtype.kind == "f" else v.to(dtype))
        else:
            arr = np.asarray(v, dtype=dtype)
            out.append(Tensor._wrap(backend.to_device(arr, device) if device is not None else arr))
    from shendu.ops.shape import broadcast_tensors
    return tuple(broadcast_tensors(*out)) if len(out) > 1 else tuple(out)


def clamp_probs(probs: Tensor) -> Tensor:
    """Probabilities pulled into [eps, 1 - eps] so their logs stay finite."""
    e = eps(probs)
    return probs.clamp(min=e, max=1 - e)


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """Probabilities from logits: the sigmoid (``is_binary``) or a softmax over the last dim."""
    from shendu.ops.fused import softmax
    return logits.sigmoid() if is_binary else softmax(logits, -1)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """Logits from probabilities: log-odds (``is_binary``) or plain logs (normalised by softmax later)."""
    ps = clamp_probs(probs)
    return ps.log() - (-ps).log1p() if is_binary else ps.log()


def draw(like: Tensor, sampler) -> Tensor:
    """A raw sample as a Tensor of ``like``'s dtype and device: ``sampler(rng)`` returns a float64 array
    from the global generator (``shendu.manual_seed`` seeds it)."""
    arr = np.asarray(sampler(_generator(None)))
    dtype = like.dtype if like.dtype.kind == "f" else dtypes.get_default_dtype()
    return Tensor._wrap(backend.to_device(arr.astype(dtype), like.device))


def numpy_of(t: Tensor) -> np.ndarray:
    """``t``'s values as a host NumPy array (for the samplers)."""
    return np.asarray(backend.to_numpy(t._data), dtype=np.float64)
