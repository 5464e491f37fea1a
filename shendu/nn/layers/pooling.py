"""Pooling layers: ``MaxPool1d/2d``, ``AvgPool1d/2d``, ``AdaptiveAvgPool1d/2d``, ``AdaptiveMaxPool1d/2d``.

They hold no parameters; each forwards to its ``shendu.nn.functional`` twin. Global average pooling
is ``AdaptiveAvgPool2d(1)`` (then ``Flatten()``), as in PyTorch.
"""
from __future__ import annotations

from shendu.nn import functional_conv as F
from shendu.nn.functional_conv import _tuple
from shendu.nn.module import Module
from shendu.tensor import Tensor


class _MaxPoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool2d(_MaxPoolNd):
    r"""Max over :math:`kH \times kW` windows; the gradient flows to each window's first maximum.

    Args:
        kernel_size: int or (kH, kW).
        stride: int or pair. Default: ``kernel_size``.
        padding: implicit -inf padding on both sides, at most half the kernel. Default: 0.
        dilation: spacing between window taps. Default: 1.
        return_indices: also return the flat index (in each H*W plane) of every maximum. Default: ``False``.
        ceil_mode: round the output size up (a last, partial window). Default: ``False``.

    Shape:
        - Input: :math:`(N, C, H, W)` or :math:`(C, H, W)`.
        - Output: :math:`(N, C, H_o, W_o)`, :math:`H_o = \lfloor (H + 2p - d(k - 1) - 1)/s \rfloor + 1`
          (the ceiling in ``ceil_mode``, when that window starts inside the input or its left padding).
    """

    def forward(self, input: Tensor):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)


class MaxPool1d(_MaxPoolNd):
    """Max over windows of length ``kernel_size`` along the last dim: (N, C, L) -> (N, C, L_o); as ``MaxPool2d``."""

    def forward(self, input: Tensor):
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)


class AvgPool2d(Module):
    r"""Mean over :math:`kH \times kW` windows.

    Args:
        kernel_size: int or (kH, kW).
        stride: int or pair. Default: ``kernel_size``.
        padding: implicit zero padding on both sides, at most half the kernel. Default: 0.
        ceil_mode: round the output size up. Default: ``False``.
        count_include_pad: count the zero padding in each mean's divisor. Default: ``True``.
        divisor_override: divide every window sum by this instead. Default: ``None``.

    Shape:
        - Input: :math:`(N, C, H, W)` or :math:`(C, H, W)`.
        - Output: :math:`(N, C, H_o, W_o)`, :math:`H_o = \lfloor (H + 2p - k)/s \rfloor + 1`.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(Module):
    """Mean over windows of length ``kernel_size``: (N, C, L) -> (N, C, L_o); arguments as ``AvgPool2d``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        self.kernel_size = _tuple(kernel_size, 1, "kernel_size", "AvgPool1d")
        self.stride = _tuple(stride if stride is not None else kernel_size, 1, "stride", "AvgPool1d")
        self.padding = _tuple(padding, 1, "padding", "AvgPool1d")
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    r"""Average pooling to a fixed output size, whatever the input size (window o covers
    :math:`[\lfloor oH/H_o \rfloor, \lceil (o+1)H/H_o \rceil)`).

    Args:
        output_size: int or (H_o, W_o); ``None`` keeps that input dim.

    Shape:
        - Input: :math:`(N, C, H, W)` or :math:`(C, H, W)`.  Output: :math:`(N, C, H_o, W_o)`.
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    """Average pooling to a fixed length: (N, C, L) -> (N, C, L_o)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size (adaptive windows as ``AdaptiveAvgPool2d``).

    Args:
        output_size: int or (H_o, W_o); ``None`` keeps that input dim.
        return_indices: also return the flat index of every maximum. Default: ``False``.

    Shape:
        - Input: :math:`(N, C, H, W)` or :math:`(C, H, W)`.  Output: :math:`(N, C, H_o, W_o)` (indices the same).
    """

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input: Tensor):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """Max pooling to a fixed length: (N, C, L) -> (N, C, L_o)."""

    def forward(self, input: Tensor):
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)
