"""Synthetic regression data: the textbook's noisy sine curve."""
from __future__ import annotations

import numpy as np

from shendu import dtypes
from shendu.tensor import Tensor


def sin_curve(n: int = 10, noise: float = 0.3, seed: int | None = 0, x_range: tuple[float, float] = (0.0, 1.0),
              spacing: str = "equal", dtype=None) -> tuple[Tensor, Tensor]:
    """N points of the curve-fitting chapter: t = sin(2πx) + ε, ε ~ N(0, noise²).

    Args:
        n: number of points.
        noise: the noise's standard deviation σ.
        seed: seeds ``np.random.default_rng`` (noise, and x for uniform spacing).
        x_range: the interval of x (the target is sin(2πx) whatever the interval).
        spacing: ``"equal"`` (default, as in the textbook): x equally spaced over x_range, both
            ends included; ``"uniform"``: x drawn uniformly from x_range and sorted.
        dtype: of both tensors (default: the default float dtype, float32).

    Returns:
        ``(x, t)``, two tensors of shape (n,).
    """
    if n < 1:
        raise ValueError(f"sin_curve: expected n >= 1, got {n}")
    rng = np.random.default_rng(seed)
    lo, hi = x_range
    if spacing == "equal":
        x = np.linspace(lo, hi, n)
    elif spacing == "uniform":
        x = np.sort(rng.uniform(lo, hi, size=n))
    else:
        raise ValueError(f"sin_curve: spacing must be 'equal' or 'uniform', got {spacing!r}")
    t = np.sin(2 * np.pi * x) + rng.normal(0.0, noise, size=n)
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    return Tensor._wrap(x.astype(dt)), Tensor._wrap(t.astype(dt))
