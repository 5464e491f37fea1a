"""Pixel shuffle layers: ``PixelShuffle`` (channels to space) and ``PixelUnshuffle`` (space to channels)."""
from __future__ import annotations

from shendu.nn.module import Module
from shendu.ops.resize import pixel_shuffle, pixel_unshuffle
from shendu.tensor import Tensor


class PixelShuffle(Module):
    r"""Rearranges (*, C r², H, W) into (*, C, H r, W r): sub-pixel convolution upsampling (Shi et al., 2016).

    Args:
        upscale_factor: the factor r by which each spatial size grows.

    Shape:
        - Input: :math:`(*, C \cdot r^2, H, W)`.  Output: :math:`(*, C, H \cdot r, W \cdot r)`.
    """

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = int(upscale_factor)

    def forward(self, input: Tensor) -> Tensor:
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    r"""Rearranges (*, C, H r, W r) into (*, C r², H, W): the inverse of ``PixelShuffle``.

    Args:
        downscale_factor: the factor r by which each spatial size shrinks.

    Shape:
        - Input: :math:`(*, C, H \cdot r, W \cdot r)`.  Output: :math:`(*, C \cdot r^2, H, W)`.
    """

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = int(downscale_factor)

    def forward(self, input: Tensor) -> Tensor:
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
