"""Convolution layers: ``Conv1d``, ``Conv2d``, ``ConvTranspose1d``, ``ConvTranspose2d``, ``Unfold``, ``Fold``."""
from __future__ import annotations

import math

from shendu import creation
from shendu.nn import functional_conv as F
from shendu.nn import init
from shendu.nn.functional_conv import _tuple
from shendu.nn.module import Module
from shendu.nn.parameter import Parameter
from shendu.ops.shape import pad
from shendu.tensor import Tensor

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """Shared body of the convolution layers: argument checks, parameters, init, repr, input checks."""

    _nd = 2
    _layout = "(N, C, H, W)"
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding, dilation, groups: int,
                 bias: bool, padding_mode: str, output_padding=0, device=None, dtype=None):
        super().__init__()
        name, nd = type(self).__name__, self._nd
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                             f"divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, nd, "kernel_size", name)
        self.stride = _tuple(stride, nd, "stride", name)
        self.dilation = _tuple(dilation, nd, "dilation", name)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be 'same', 'valid', an int or a tuple, got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions "
                                 f"(stride={self.stride})")
            self.padding = padding
        else:
            self.padding = _tuple(padding, nd, "padding", name)
        self.output_padding = _tuple(output_padding, nd, "output_padding", name)
        self.groups = groups
        self.padding_mode = padding_mode
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        # F.pad widths for the non-zero padding modes: last dim first, (left, right) each.
        widths = []
        for i in reversed(range(nd)):
            if self.padding == "same":
                total = self.dilation[i] * (self.kernel_size[i] - 1)
                widths += [total // 2, total - total // 2]
            else:
                p = 0 if self.padding == "valid" else self.padding[i]
                widths += [p, p]
        self._reversed_padding_repeated_twice = widths
        shape = ((in_channels, out_channels // groups) if self._transposed
                 else (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = Parameter(creation.empty(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both, as PyTorch does (kaiming_uniform_ with a=sqrt(5))
        """Re-draw the parameters as PyTorch does: weight ~ ``kaiming_uniform_(a=√5)``, i.e. U(±1/√fan_in), and bias
        ~ U(±1/√fan_in). fan_in = in_channels / groups × the kernel's size.
        """
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def _label(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size})"

    def _check(self, input: Tensor) -> None:
        if input.ndim != self._nd + 2:
            raise RuntimeError(f"{self._label()}: expected a {self._nd + 1}-D (unbatched) or {self._nd + 2}-D "
                               f"input {self._layout}, got shape {tuple(input.shape)}")
        if input.shape[1] != self.in_channels:
            raise RuntimeError(f"{self._label()}: expected input with {self.in_channels} channels (dim 1 of "
                               f"{self._layout}), got shape {tuple(input.shape)}")

    def _named(self, fn, *args, **kwargs) -> Tensor:
        """Run the functional op, prefixing its argument errors with this layer's name."""
        try:
            return fn(*args, **kwargs)
        except (RuntimeError, ValueError) as e:
            raise type(e)(f"{self._label()}: {e}") from None


class _Conv(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device=device, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim == self._nd + 1:  # unbatched (C, *spatial), as PyTorch accepts
            return self.forward(input.unsqueeze(0)).squeeze(0)
        self._check(input)
        conv = F.conv2d if self._nd == 2 else F.conv1d
        padding = self.padding
        if self.padding_mode != "zeros":
            input, padding = pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode), 0
        return self._named(conv, input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv2d(_Conv):
    r"""2-D cross-correlation over an (N, C, H, W) input:
    :math:`y_{n,o} = b_o + \sum_{c} w_{o,c} \star x_{n,c}` (summing within each of ``groups`` channel groups).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: int or (kH, kW).
        stride: int or pair. Default: 1.
        padding: int, pair, ``'valid'`` (none) or ``'same'`` (output size = input size; stride 1 only;
            an odd total pads one more pixel at the bottom/right). Default: 0.
        dilation: spacing between kernel taps. Default: 1.
        groups: blocked connections; ``groups=in_channels`` is a depthwise convolution. Default: 1.
        bias: learn an additive bias. Default: ``True``.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``. Default: ``'zeros'``.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)` or unbatched :math:`(C_{in}, H, W)`.
        - Output: :math:`(N, C_{out}, H_o, W_o)` (or :math:`(C_{out}, H_o, W_o)`),
          :math:`H_o = \lfloor (H + 2p - d(k - 1) - 1)/s \rfloor + 1` (likewise :math:`W_o`).

    Attributes:
        weight: :math:`(C_{out}, C_{in}/\text{groups}, kH, kW)`, from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`
            with :math:`k = \text{groups} / (C_{in} kH kW)` (``kaiming_uniform_(weight, a=sqrt(5))``).
        bias: :math:`(C_{out})`, from the same distribution; ``None`` when ``bias=False``.

    Example::

        >>> m = nn.Conv2d(16, 33, 3, stride=2, padding=1)
        >>> m(shendu.randn(20, 16, 50, 100)).shape
        (20, 33, 25, 50)
    """


class Conv1d(_Conv):
    r"""1-D cross-correlation over an (N, C, L) input; arguments as ``Conv2d`` with single ints.

    Shape:
        - Input: :math:`(N, C_{in}, L)` or :math:`(C_{in}, L)`.  Output: :math:`(N, C_{out}, L_o)` or
          :math:`(C_{out}, L_o)`,
          :math:`L_o = \lfloor (L + 2p - d(k - 1) - 1)/s \rfloor + 1`.

    Attributes:
        weight: :math:`(C_{out}, C_{in}/\text{groups}, k)`, bias: :math:`(C_{out})`; initialised as in ``Conv2d``.
    """

    _nd = 1
    _layout = "(N, C, L)"


class _ConvTranspose(_ConvNd):
    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, device=device, dtype=dtype)

    def _output_padding(self, input: Tensor, output_size) -> tuple:
        """The output_padding that makes the output ``output_size`` (spatial dims, or the full shape)."""
        if output_size is None:
            return self.output_padding
        size = tuple(int(s) for s in output_size)[-self._nd:]
        out = []
        for i in range(self._nd):
            low = ((input.shape[2 + i] - 1) * self.stride[i] - 2 * self.padding[i]
                   + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            if not low <= size[i] < low + self.stride[i]:
                raise ValueError(f"{self._label()}: requested output size {size} is not reachable; dim {i} "
                                 f"must be in [{low}, {low + self.stride[i] - 1}] for input shape "
                                 f"{tuple(input.shape)}")
            out.append(size[i] - low)
        return tuple(out)

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        if input.ndim == self._nd + 1:  # unbatched (C, *spatial), as PyTorch accepts
            return self.forward(input.unsqueeze(0), output_size).squeeze(0)
        self._check(input)
        conv = F.conv_transpose2d if self._nd == 2 else F.conv_transpose1d
        return self._named(conv, input, self.weight, self.bias, self.stride, self.padding,
                           self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose2d(_ConvTranspose):
    r"""2-D transposed convolution (the gradient of ``Conv2d`` with respect to its input), often used to upsample.

    Args:
        in_channels, out_channels, kernel_size, stride, dilation, groups, bias: as ``Conv2d``.
        padding: rows/columns removed from each side of the full output (int or pair). Default: 0.
        output_padding: extra rows/columns on the bottom/right of the output (smaller than stride or
            dilation), to pick among the input sizes a strided ``Conv2d`` maps to the same output. Default: 0.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)` or unbatched :math:`(C_{in}, H, W)`.
        - Output: :math:`(N, C_{out}, H_o, W_o)` (or unbatched),
          :math:`H_o = (H - 1)s - 2p + d(k - 1) + \text{output\_padding} + 1`.

    Attributes:
        weight: :math:`(C_{in}, C_{out}/\text{groups}, kH, kW)`, from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`
            with :math:`k = \text{groups} / (C_{out} kH kW)`.
        bias: :math:`(C_{out})`, from the same distribution.
    """


class ConvTranspose1d(_ConvTranspose):
    r"""1-D transposed convolution over an (N, C, L) input; arguments as ``ConvTranspose2d`` with single ints."""

    _nd = 1
    _layout = "(N, C, L)"


class Unfold(Module):
    """Extracts sliding local blocks (im2col): (N, C, H, W) -> (N, C*kH*kW, L); see ``F.unfold``."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """Sums sliding local blocks into an image (col2im): (N, C*kH*kW, L) -> (N, C, *output_size)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")
