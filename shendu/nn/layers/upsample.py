"""Resampling layers: ``Upsample``, ``UpsamplingNearest2d``, ``UpsamplingBilinear2d``."""
from __future__ import annotations

from shendu.nn.module import Module
from shendu.ops.resize import interpolate
from shendu.tensor import Tensor


class Upsample(Module):
    r"""Resamples (N, C, L), (N, C, H, W) or (N, C, D, H, W) input to ``size`` or by ``scale_factor``.

    Args:
        size: output spatial size (int or tuple). Give this or ``scale_factor``.
        scale_factor: multiplier of each spatial size (float or tuple); the output size is floored.
        mode: ``'nearest'`` (PyTorch's floor rule), ``'nearest-exact'``, ``'linear'``, ``'bilinear'``,
            ``'bicubic'``, ``'trilinear'`` or ``'area'``. Default: ``'nearest'``.
        align_corners: for the linear modes, align the corner pixels' centres. Default: ``None`` (False).
        recompute_scale_factor: compute the source indices from the sizes, not ``scale_factor``.

    Shape:
        - Input: :math:`(N, C, *spatial)`.  Output: :math:`(N, C, *spatial_o)`, e.g.
          :math:`H_o = \lfloor H \cdot \text{scale\_factor} \rfloor` or ``size``.

    The gradient of each output sums into the input pixels it was read from.
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None):
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode='nearest')`` on (N, C, H, W) input."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode='bilinear', align_corners=True)`` on (N, C, H, W) input."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
