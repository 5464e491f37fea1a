"""Data transforms: composable callables on Tensors or NumPy arrays (torchvision's names).

A transform returns what it was given: a Tensor for a Tensor (a new leaf; transforms are not
differentiable), an array for an array. Image transforms take one image ``(C, H, W)`` or a batch
``(N, C, H, W)``; on a batch every random transform draws its parameters PER IMAGE (unlike
torchvision, which draws one set per call) and applies them in one vectorized step. Random
transforms take ``generator=`` (a ``shendu.Generator``; default: the global generator).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from shendu import backend
from shendu.random import Generator, _generator
from shendu.tensor import Tensor


def _unwrap(x: Any):
    return (x._data, True) if isinstance(x, Tensor) else (x if hasattr(x, "shape") else np.asarray(x), False)


def _rewrap(arr, was_tensor: bool):
    return Tensor._wrap(arr) if was_tensor else arr


def _as_batch(arr, name: str, min_ndim: int = 3):
    """(array viewed as (N, C, H, W), whether the input was a single image)."""
    if arr.ndim == min_ndim:
        return arr[None], True
    if arr.ndim == min_ndim + 1:
        return arr, False
    raise ValueError(f"{name}: expected an image (C, H, W) or a batch (N, C, H, W), got shape {tuple(arr.shape)}")


def _float_scalar(value: float, arr) -> Any:
    return arr.dtype.type(value) if arr.dtype.kind == "f" else value


class Compose:
    """Apply ``transforms`` one after another."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class Lambda:
    """Wrap a function as a transform."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


class Normalize:
    """``(x - mean[c]) / std[c]`` per channel, channels in dim -3 (torchvision's ``Normalize``).

    Args:
        mean, std: one value per channel (or a scalar for all).
    Shape: ``(C, H, W)`` or ``(N, C, H, W)``; same shape and dtype out.
    """

    def __init__(self, mean: Sequence[float] | float, std: Sequence[float] | float, inplace: bool = False):
        self.mean, self.std, self.inplace = mean, std, inplace
        if np.any(np.asarray(std) == 0):
            raise ValueError(f"Normalize: std evaluated to zero, got std={std}, which leads to division by zero")

    def __call__(self, x):
        arr, was_tensor = _unwrap(x)
        if arr.ndim < 3:
            raise ValueError(f"Normalize: expected a tensor of at least 3 dims (..., C, H, W), got shape {arr.shape}")
        xp = backend.array_module(arr)
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float32)
        mean = xp.asarray(self.mean, dtype=arr.dtype).reshape(-1, 1, 1)
        std = xp.asarray(self.std, dtype=arr.dtype).reshape(-1, 1, 1)
        out = (arr - mean) / std
        if self.inplace:
            arr[...] = out
            return x
        return _rewrap(out, was_tensor)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Standardize:
    """Zero mean, unit variance per feature, with statistics fitted on data: ``(x - mean_) / std_``.

    ``fit(x)`` computes ``mean_``/``std_`` over ``dim`` (default 0, the sample dim) with the
    population std; features with zero std are left unscaled. ``Standardize(x)`` fits at once.
    """

    def __init__(self, data: Any = None, dim: int | Sequence[int] = 0, eps: float = 0.0):
        self.dim, self.eps = dim, eps
        self.mean_ = self.std_ = None
        if data is not None:
            self.fit(data)

    def fit(self, data) -> Standardize:
        arr, _ = _unwrap(data)
        dim = tuple(self.dim) if isinstance(self.dim, (tuple, list)) else self.dim
        xp = backend.array_module(arr)
        mean = arr.astype(np.float64).mean(axis=dim, keepdims=True)
        std = arr.astype(np.float64).std(axis=dim, keepdims=True) + self.eps
        self.mean_ = mean.astype(arr.dtype if arr.dtype.kind == "f" else np.float32)
        self.std_ = xp.where(std == 0, 1.0, std).astype(self.mean_.dtype)
        return self

    def __call__(self, x):
        if self.mean_ is None:
            raise RuntimeError("Standardize: call fit(data) before transforming")
        arr, was_tensor = _unwrap(x)
        return _rewrap((arr - self.mean_) / self.std_, was_tensor)

    def inverse(self, x):
        arr, was_tensor = _unwrap(x)
        return _rewrap(arr * self.std_ + self.mean_, was_tensor)


class RandomHorizontalFlip:
    """Flip each image left-right (the last dim) with probability ``p``."""

    def __init__(self, p: float = 0.5, generator: Generator | None = None):
        self.p, self.generator = p, generator

    def __call__(self, x):
        arr, was_tensor = _unwrap(x)
        batch, single = _as_batch(arr, "RandomHorizontalFlip")
        xp = backend.array_module(batch)
        flip = xp.asarray(_generator(self.generator).random(batch.shape[0]) < self.p)
        out = xp.where(flip.reshape(-1, *([1] * (batch.ndim - 1))), batch[..., ::-1], batch)
        return _rewrap(out[0] if single else out, was_tensor)


class RandomVerticalFlip(RandomHorizontalFlip):
    """Flip each image upside down (dim -2) with probability ``p``."""

    def __call__(self, x):
        arr, was_tensor = _unwrap(x)
        flipped = RandomHorizontalFlip.__call__(self, arr.swapaxes(-1, -2))
        return _rewrap(flipped.swapaxes(-1, -2), was_tensor)


class RandomCrop:
    """Pad by ``padding`` (with ``fill``), then cut a random ``size`` window from each image.

    Args:
        size: output ``(h, w)`` or an int for a square.
        padding: an int (all sides), ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.
        fill: the constant padding value.
    Shape: ``(C, H, W)`` -> ``(C, h, w)``; ``(N, C, H, W)`` -> ``(N, C, h, w)``, a window per image.
    """

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 pad_if_needed: bool = False, fill: float = 0, padding_mode: str = "constant",
                 generator: Generator | None = None):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.padding, self.pad_if_needed, self.fill, self.generator = padding, pad_if_needed, fill, generator
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(f"RandomCrop: padding_mode must be constant, edge, reflect or symmetric, "
                             f"got {padding_mode!r}")
        self.padding_mode = padding_mode

    def _pad_widths(self) -> tuple[int, int, int, int]:
        p = self.padding or 0
        if isinstance(p, int):
            return p, p, p, p
        if len(p) == 2:
            return p[0], p[1], p[0], p[1]
        return tuple(p)

    def __call__(self, x):
        arr, was_tensor = _unwrap(x)
        batch, single = _as_batch(arr, "RandomCrop")
        xp = backend.array_module(batch)
        left, top, right, bottom = self._pad_widths()
        th, tw = self.size
        if self.pad_if_needed:
            extra_h = max(th - (batch.shape[2] + top + bottom), 0)
            extra_w = max(tw - (batch.shape[3] + left + right), 0)
            top, bottom, left, right = top + extra_h, bottom + extra_h, left + extra_w, right + extra_w
        widths = ((0, 0), (0, 0), (top, bottom), (left, right))
        kwargs = {"constant_values": self.fill} if self.padding_mode == "constant" else {}
        padded = xp.pad(batch, widths, mode=self.padding_mode, **kwargs) if any((left, top, right, bottom)) else batch
        n, _, h, w = padded.shape
        if th > h or tw > w:
            raise ValueError(f"RandomCrop: crop size {(th, tw)} is larger than the padded image size {(h, w)}")
        rng = _generator(self.generator)
        i = xp.asarray(rng.integers(0, h - th + 1, size=n))
        j = xp.asarray(rng.integers(0, w - tw + 1, size=n))
        rows = (i[:, None] + xp.arange(th))[:, None, :, None]  # (N, 1, th, 1)
        cols = (j[:, None] + xp.arange(tw))[:, None, None, :]  # (N, 1, 1, tw)
        out = padded[xp.arange(n)[:, None, None, None], xp.arange(padded.shape[1])[None, :, None, None], rows, cols]
        return _rewrap(out[0] if single else out, was_tensor)


def _sample(batch, ys, xs, fill: float, mode: str):
    """Read ``batch`` (N, C, H, W) at source coordinates ``ys``, ``xs`` (N, H, W); ``fill`` outside."""
    xp = backend.array_module(batch)
    n, _, h, w = batch.shape
    nidx = xp.arange(n)[:, None, None]

    def read(yi, xi):  # (N, H, W) integer coords -> (N, C, H, W), fill where outside
        inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
        vals = batch[nidx, :, xp.clip(yi, 0, h - 1), xp.clip(xi, 0, w - 1)]  # (N, H, W, C)
        vals = xp.moveaxis(vals, -1, 1)
        return xp.where(inside[:, None], vals, _float_scalar(fill, batch))

    if mode == "nearest":
        return read(xp.floor(ys + 0.5).astype(np.int64), xp.floor(xs + 0.5).astype(np.int64))
    if mode != "bilinear":
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {mode!r}")
    y0, x0 = xp.floor(ys).astype(np.int64), xp.floor(xs).astype(np.int64)
    wy, wx = (ys - y0)[:, None].astype(batch.dtype), (xs - x0)[:, None].astype(batch.dtype)
    top = read(y0, x0) * (1 - wx) + read(y0, x0 + 1) * wx
    bottom = read(y0 + 1, x0) * (1 - wx) + read(y0 + 1, x0 + 1) * wx
    return (top * (1 - wy) + bottom * wy).astype(batch.dtype)


class RandomShift:
    """Translate each image by a random integer offset of up to ``max_shift`` pixels per axis.

    ``max_shift``: an int, or a float in (0, 1) read as a fraction of the image size; uncovered
    pixels get ``fill``.
    """

    def __init__(self, max_shift: int | float = 2, fill: float = 0.0, generator: Generator | None = None):
        self.max_shift, self.fill, self.generator = max_shift, fill, generator

    def __call__(self, x):
        arr, was_tensor = _unwrap(x)
        batch, single = _as_batch(arr, "RandomShift")
        xp = backend.array_module(batch)
        n, _, h, w = batch.shape
        if isinstance(self.max_shift, float) and self.max_shift < 1:
            mh, mw = int(self.max_shift * h), int(self.max_shift * w)
        else:
            mh = mw = int(self.max_shift)
        rng = _generator(self.generator)
        dy = xp.asarray(rng.integers(-mh, mh + 1, size=n))[:, None, None]
        dx = xp.asarray(rng.integers(-mw, mw + 1, size=n))[:, None, None]
        ys = (xp.arange(h)[None, :, None] - dy) * xp.ones((1, 1, w), dtype=np.int64)
        xs = (xp.arange(w)[None, None, :] - dx) * xp.ones((1, h, 1), dtype=np.int64)
        out = _sample(batch, ys.astype(np.float64), xs.astype(np.float64), self.fill, "nearest")
        return _rewrap(out[0] if single else out, was_tensor)


class RandomRotation:
    """Rotate each image about its centre by an angle drawn uniformly from ``degrees``.

    Args:
        degrees: ``(min, max)`` in degrees, or a number d for ``(-d, d)``.
        interpolation: ``"nearest"`` or ``"bilinear"``; fill: the value outside the source image.
    """

    def __init__(self, degrees: float | Sequence[float], interpolation: str = "nearest", fill: float = 0.0,
                 generator: Generator | None = None):
        self.degrees = (-float(degrees), float(degrees)) if isinstance(degrees, (int, float)) else tuple(degrees)
        self.interpolation, self.fill, self.generator = interpolation, fill, generator

    def __call__(self, x):
        arr, was_tensor = _unwrap(x)
        batch, single = _as_batch(arr, "RandomRotation")
        xp = backend.array_module(batch)
        n, _, h, w = batch.shape
        theta = xp.asarray(_generator(self.generator).uniform(*self.degrees, size=n) * math.pi / 180)[:, None, None]
        cy, cx = (h - 1) / 2, (w - 1) / 2
        yy, xx = xp.meshgrid(xp.arange(h) - cy, xp.arange(w) - cx, indexing="ij")
        # inverse map: the output pixel at (y, x) reads the source at R(-theta) (y, x); counter-clockwise
        # on screen (y pointing down) as torchvision.
        cos, sin = xp.cos(theta), xp.sin(theta)
        xs = cos * xx[None] - sin * yy[None] + cx
        ys = sin * xx[None] + cos * yy[None] + cy
        out = _sample(batch, ys, xs, self.fill, self.interpolation)
        return _rewrap(out[0] if single else out, was_tensor)


class GaussianNoise:
    """Add N(mean, std²) noise to every element (float inputs)."""

    def __init__(self, std: float = 0.1, mean: float = 0.0, generator: Generator | None = None):
        self.std, self.mean, self.generator = std, mean, generator

    def __call__(self, x):
        arr, was_tensor = _unwrap(x)
        if arr.dtype.kind != "f":
            raise TypeError(f"GaussianNoise: expected a float input, got dtype {arr.dtype}")
        noise = _generator(self.generator).normal(self.mean, self.std, size=arr.shape).astype(arr.dtype)
        return _rewrap(arr + backend.array_module(arr).asarray(noise), was_tensor)


class Mixup:
    """Mix each sample with another of the batch: ``x' = λ x + (1 - λ) x[perm]``, same for targets.

    λ ~ Beta(alpha, alpha) is drawn once per call and ``perm`` is a random permutation of the
    batch; both are kept as ``last_lambda`` and ``last_permutation``.

    Args:
        alpha: the Beta distribution's parameter (default 1.0: λ uniform on [0, 1]).
        num_classes: if given, integer targets ``(N,)`` are one-hot encoded first; otherwise
            targets must already be ``(N, K)`` float (one-hot or soft labels).
    Call: ``mixup(x (N, *), y)`` -> ``(x' (N, *), y' (N, K) float)``.
    """

    def __init__(self, alpha: float = 1.0, num_classes: int | None = None, generator: Generator | None = None):
        if alpha <= 0:
            raise ValueError(f"Mixup: alpha must be positive, got {alpha}")
        self.alpha, self.num_classes, self.generator = alpha, num_classes, generator
        self.last_lambda: float | None = None
        self.last_permutation: np.ndarray | None = None

    def __call__(self, x, y):
        xa, x_tensor = _unwrap(x)
        ya, y_tensor = _unwrap(y)
        xp = backend.array_module(xa)
        if ya.dtype.kind in "iub":
            if self.num_classes is None:
                raise ValueError(f"Mixup: integer targets of shape {tuple(ya.shape)} need num_classes=")
            ya = xp.eye(self.num_classes, dtype=xa.dtype if xa.dtype.kind == "f" else np.float32)[ya]
        if ya.shape[0] != xa.shape[0]:
            raise ValueError(f"Mixup: x has {xa.shape[0]} samples but y has {ya.shape[0]}")
        rng = _generator(self.generator)
        lam = float(rng.beta(self.alpha, self.alpha))
        perm = rng.permutation(xa.shape[0])
        self.last_lambda, self.last_permutation = lam, perm
        xperm = xp.asarray(perm)
        x_mixed = xa * _float_scalar(lam, xa) + xa[xperm] * _float_scalar(1 - lam, xa)
        y_mixed = ya * _float_scalar(lam, ya) + ya[xperm] * _float_scalar(1 - lam, ya)
        return _rewrap(x_mixed, x_tensor), _rewrap(y_mixed, y_tensor or x_tensor)


class ToTensor:
    """Arrays (and nested lists) to Tensors of ``dtype`` (default: keep floats' dtype, float32 for others)."""

    def __init__(self, dtype=None):
        self.dtype = dtype

    def __call__(self, x):
        from shendu.creation import tensor
        arr, _ = _unwrap(x)
        dtype = self.dtype or (arr.dtype if arr.dtype.kind == "f" else np.float32)
        return tensor(arr, dtype=dtype)
