"""Normalization functions of ``shendu.nn.functional``: layer_norm, batch_norm, group_norm, rms_norm.

Layer, batch and RMS norm are the fused ops of ``shendu.ops.norm``; group norm is layer norm over
(N, G, C/G * spatial) followed by a per-channel affine map. Every function checks its arguments
here and names itself in its errors.
"""
from __future__ import annotations

from shendu.ops.norm import batch_norm_op, layer_norm_op, rms_norm_op
from shendu.tensor import Tensor


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias over the trailing dims given by ``normalized_shape``.

    The variance is the biased one. Shape: input (*, *normalized_shape); weight and bias
    normalized_shape; output as input.
    """
    shape = _normalized_shape(normalized_shape)
    if len(shape) > input.ndim or tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise RuntimeError(f"layer_norm: normalized_shape {shape} does not match the trailing dims "
                           f"of the input of shape {input.shape}")
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(f"layer_norm: {name} should have shape {shape}, got {t.shape}")
    return layer_norm_op(input, len(shape), weight, bias, eps)


def _check_vector(t: Tensor | None, C: int, name: str, op: str, input: Tensor) -> None:
    if t is not None and tuple(t.shape) != (C,):
        raise RuntimeError(f"{op}: {name} should have shape ({C},) for an input of shape {input.shape} "
                           f"with {C} channels, got shape {t.shape}")


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each channel of (N, C, *spatial) over the batch and spatial dims, then scale and shift.

    With ``training=True`` the batch mean and biased variance normalize the input, and
    ``running_mean`` / ``running_var`` (when given) are updated in place:
    ``running = (1 - momentum) * running + momentum * batch_stat``, with the *unbiased* batch
    variance. With ``training=False`` the running statistics normalize the input.

    Shape: input (N, C) or (N, C, *spatial); running stats, weight and bias (C,); output as input.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of at least 2 dims (N, C, ...), got shape {input.shape}")
    if input.dtype.kind != "f":
        raise RuntimeError(f"batch_norm: expected a floating-point input, got {input.dtype}")
    C = input.shape[1]
    for t, name in ((running_mean, "running_mean"), (running_var, "running_var"), (weight, "weight"),
                    (bias, "bias")):
        _check_vector(t, C, name, "batch_norm", input)
    if (running_mean is None) != (running_var is None):
        raise RuntimeError("batch_norm: running_mean and running_var must be given together")
    if training:
        if input.numel() // max(C, 1) <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got "
                             f"an input of shape {input.shape}")
    elif running_mean is None:
        raise RuntimeError("batch_norm: running_mean and running_var must be given when training=False")
    for t, name in ((running_mean, "running_mean"), (running_var, "running_var")):
        if t is not None and t.requires_grad:
            raise RuntimeError(f"batch_norm: {name} is a statistic, not a parameter; it must not require grad")
    return batch_norm_op(input, running_mean, running_var, weight, bias, training, momentum, eps)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalize each of ``num_groups`` groups of channels of every sample, then scale and shift per channel.

    Shape: input (N, C, *spatial) with C divisible by num_groups; weight and bias (C,); output as input.
    """
    if input.ndim < 2:
        raise RuntimeError(f"group_norm: expected an input of at least 2 dims (N, C, ...), got shape {input.shape}")
    N, C = input.shape[:2]
    if num_groups <= 0 or C % num_groups:
        raise RuntimeError(f"group_norm: expected the number of channels of the input to be divisible by "
                           f"num_groups, got an input of shape {input.shape} ({C} channels) and "
                           f"num_groups={num_groups}")
    _check_vector(weight, C, "weight", "group_norm", input)
    _check_vector(bias, C, "bias", "group_norm", input)
    K = input.numel() // max(N * num_groups, 1)
    out = layer_norm_op(input.reshape(N, num_groups, K), 1, None, None, eps).reshape(input.shape)  # (N, G, C/G*S)
    shape = (1, C) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def _normalized_shape(normalized_shape) -> tuple:
    return (int(normalized_shape),) if isinstance(normalized_shape, int) else tuple(int(s) for s in normalized_shape)


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x²) + eps) * weight over the trailing dims given by ``normalized_shape``.

    ``eps=None`` uses the machine epsilon of the input's dtype (``finfo(dtype).eps``), as PyTorch does.

    Shape: input (*, *normalized_shape); weight normalized_shape; output as input.
    """
    shape = _normalized_shape(normalized_shape)
    if not shape or len(shape) > input.ndim or tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise RuntimeError(f"rms_norm: normalized_shape {shape} does not match the trailing dims of the "
                           f"input of shape {input.shape}")
    if weight is not None and tuple(weight.shape) != shape:
        raise RuntimeError(f"rms_norm: weight should have shape {shape}, got {weight.shape}")
    if input.dtype.kind != "f":
        raise RuntimeError(f"rms_norm: expected a floating-point input, got {input.dtype}")
    if eps is None:
        eps = float(input._xp().finfo(input.dtype).eps)
    return rms_norm_op(input, len(shape), weight, eps)
