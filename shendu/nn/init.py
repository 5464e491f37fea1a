"""Weight initialisation (PyTorch's ``torch.nn.init``): each function fills a tensor in place.

Every ``*_`` function writes under ``no_grad`` into the tensor's own array (so a Parameter keeps
its identity), draws from ``generator`` (the global one by default) and returns the tensor.
Fans follow PyTorch: for a weight of shape (out, in, *kernel), fan_in = in * prod(kernel) and
fan_out = out * prod(kernel).
"""
from __future__ import annotations

import math

import numpy as np

from shendu.grad_mode import no_grad
from shendu.random import Generator, _generator
from shendu.tensor import Tensor

_LINEAR_LIKE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                "conv_transpose3d", "sigmoid", "identity")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain that keeps activations' variance through ``nonlinearity`` (PyTorch's table).

    linear, conv*, sigmoid: 1; tanh: 5/3; relu: sqrt(2); leaky_relu: sqrt(2 / (1 + slope²))
    with ``param`` the negative slope (default 0.01); selu: 3/4.
    """
    if nonlinearity in _LINEAR_LIKE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
                     f"{list(_LINEAR_LIKE) + ['tanh', 'relu', 'leaky_relu', 'selu']}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(f"Fan in and fan out can not be computed for a tensor with fewer than 2 dimensions "
                         f"(got shape {tensor.shape})")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode!r} not supported, please use one of 'fan_in', 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _write(tensor: Tensor, values) -> Tensor:
    """Copy ``values`` (an array or a scalar) into ``tensor``'s array, keeping its dtype."""
    xp = tensor._xp()
    with no_grad():
        xp.copyto(tensor._data, xp.asarray(values), casting="unsafe")
    return tensor


def _float_dtype(tensor: Tensor):
    # Draw float32 numbers directly for float32 tensors (half the memory of a float64 draw).
    return np.float32 if tensor.dtype == np.float32 else np.float64


def _uniform(tensor: Tensor, a: float, b: float, generator) -> Tensor:
    u = _generator(generator).random(tensor.shape, dtype=_float_dtype(tensor))
    return _write(tensor, u * (b - a) + a)


def _normal(tensor: Tensor, mean: float, std: float, generator) -> Tensor:
    z = _generator(generator).standard_normal(tensor.shape, dtype=_float_dtype(tensor))
    return _write(tensor, z * std + mean)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with samples of U(a, b)."""
    return _uniform(tensor, a, b, generator)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with samples of N(mean, std²)."""
    return _normal(tensor, mean, std, generator)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: Generator | None = None) -> Tensor:
    """Fill with N(mean, std²) samples conditioned on [a, b] (a, b are absolute bounds, as in PyTorch).

    Out-of-range draws are redrawn (a few vectorised rounds); the rare leftovers of very narrow
    tail intervals are clamped.
    """
    rng = _generator(generator)
    out = rng.normal(mean, std, tensor.shape)
    for _ in range(64):
        bad = (out < a) | (out > b)
        n_bad = int(bad.sum())
        if n_bad == 0:
            break
        out[bad] = rng.normal(mean, std, n_bad)
    return _write(tensor, np.clip(out, a, b))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with ``val`` in place (no gradient is recorded); returns ``tensor``."""
    return _write(tensor, val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 1 in place (no gradient is recorded); returns ``tensor``."""
    return _write(tensor, 1)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 0 in place (no gradient is recorded); returns ``tensor``."""
    return _write(tensor, 0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity (ones on the main diagonal)."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only 2-dimensional tensors are supported, got shape {tensor.shape}")
    return _write(tensor, np.eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3/4/5-D conv weight with the Dirac delta: the conv preserves (the first) channels."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: only 3, 4 and 5-dimensional tensors are supported, got shape {tensor.shape}")
    out_per_group = tensor.shape[0] // groups
    if tensor.shape[0] % groups != 0:
        raise ValueError(f"dirac_: dim 0 ({tensor.shape[0]}) must be divisible by groups ({groups})")
    n = min(out_per_group, tensor.shape[1])
    values = np.zeros(tensor.shape)
    g, d = np.meshgrid(np.arange(groups), np.arange(n), indexing="ij")
    centre = tuple(s // 2 for s in tensor.shape[2:])
    values[((g * out_per_group + d).ravel(), d.ravel()) + centre] = 1
    return _write(tensor, values)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return _uniform(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """N(0, std²) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return _normal(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Generator | None = None) -> Tensor:
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al., 2015); ``a`` is the leaky slope."""
    if 0 in tensor.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return _uniform(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Generator | None = None) -> Tensor:
    """N(0, std²) with std = gain / sqrt(fan)."""
    if 0 in tensor.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    return _normal(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """A (semi-)orthogonal matrix (Saxe et al., 2013), the trailing dims flattened, times ``gain``."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, got shape "
                         f"{tensor.shape}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _generator(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # makes the decomposition unique: uniform over orthogonal matrices
    if rows < cols:
        q = q.T
    return _write(tensor, (q * gain).reshape(tensor.shape))


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator: Generator | None = None) -> Tensor:
    """N(0, std²) entries with a fraction ``sparsity`` of each column set to zero (Martens, 2010)."""
    if tensor.ndim != 2:
        raise ValueError(f"sparse_: only 2-dimensional tensors are supported, got shape {tensor.shape}")
    rows, cols = tensor.shape
    n_zeros = int(math.ceil(sparsity * rows))
    rng = _generator(generator)
    values = rng.normal(0.0, std, (rows, cols))
    zero_rows = np.argsort(rng.random((rows, cols)), axis=0)[:n_zeros]  # distinct random rows per column
    values[zero_rows, np.arange(cols)] = 0
    return _write(tensor, values)


__all__ = [
    "calculate_gain", "constant_", "dirac_", "eye_", "kaiming_normal_", "kaiming_uniform_", "normal_",
    "ones_", "orthogonal_", "sparse_", "trunc_normal_", "uniform_", "xavier_normal_", "xavier_uniform_",
    "zeros_",
]
