"""Dropout layers: ``Dropout`` (elementwise) and ``Dropout1d/2d/3d`` (whole channels).

In training mode each element (or channel) is zeroed with probability ``p`` and the survivors are
scaled by 1/(1-p) (inverted dropout), so evaluation mode is the identity.
"""
from __future__ import annotations

from shendu.nn import functional as F
from shendu.nn.module import Module
from shendu.random import _generator
from shendu.tensor import Tensor


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zeroes each element with probability ``p`` in training mode, scaling the rest by 1/(1-p).

    Args:
        p: probability of an element to be zeroed. Default: 0.5.
        inplace: write the result into the input's storage. Default: False.

    Shape:
        - Input: :math:`(*)`. Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)


def _feature_dropout(input: Tensor, p: float, channel_dim: int) -> Tensor:
    """Zero whole channels: one Bernoulli draw per (batch, channel), broadcast over the rest."""
    if p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    mask_shape = input.shape[:channel_dim + 1] + (1,) * (input.ndim - channel_dim - 1)
    keep = _generator(None).random(mask_shape) >= p
    scale = (keep * (1.0 / (1.0 - p))).astype(input.dtype)
    return input * Tensor._wrap(input._xp().asarray(scale))


class _ChannelDropout(_DropoutNd):
    """Channel dropout over ``spatial`` trailing dims; the batch dim is optional."""

    spatial = 0

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (self.spatial + 1, self.spatial + 2):
            raise RuntimeError(f"{type(self).__name__}: expected a {self.spatial + 1}-D (unbatched) or "
                               f"{self.spatial + 2}-D (batched) input, got shape {input.shape}")
        if not self.training:
            return input
        return _feature_dropout(input, self.p, input.ndim - self.spatial - 1)


class Dropout1d(_ChannelDropout):
    """Zeroes whole channels of :math:`(N, C, L)` or :math:`(C, L)` input with probability ``p``."""

    spatial = 1


class Dropout2d(_ChannelDropout):
    """Zeroes whole channels (feature maps) of :math:`(N, C, H, W)` input with probability ``p``.

    Args:
        p: probability of a channel to be zeroed. Default: 0.5.
        inplace: accepted for PyTorch compatibility; shendu computes out of place.

    Shape:
        - Input: :math:`(N, C, H, W)`, or :math:`(N, C, L)`, read as PyTorch reads it: channel
          dropout over (N, C) with L as the one spatial dim.
        - Output: the same shape.
    """

    spatial = 2

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise RuntimeError(f"Dropout2d: expected a 3-D or 4-D input, got shape {input.shape}")
        if not self.training:
            return input
        return _feature_dropout(input, self.p, 1)  # PyTorch reads a 3-D input as (N, C, L)


class Dropout3d(_ChannelDropout):
    """Zeroes whole channels of :math:`(N, C, D, H, W)` or :math:`(C, D, H, W)` input."""

    spatial = 3


__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"]
