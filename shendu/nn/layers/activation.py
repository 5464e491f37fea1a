"""Activation layers: the module twins of ``shendu.nn.functional``'s activations, plus PReLU and Maxout.

All are elementwise (input and output of shape :math:`(*)`) except Softmax/LogSoftmax/Softmin
(normalised along ``dim``), GLU (halves ``dim``) and Maxout (an affine map, then a max over pieces).
``inplace=True`` writes the result into the input's storage, as PyTorch does.
"""
from __future__ import annotations

from shendu import creation
from shendu.nn import functional as F
from shendu.nn import init as nn_init
from shendu.nn.layers.linear import Linear
from shendu.nn.module import Module
from shendu.nn.parameter import Parameter
from shendu.tensor import Tensor


class _Inplace(Module):
    """An activation whose only option is ``inplace``."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_Inplace):
    """:math:`\\max(0, x)`.

    Args:
        inplace: write the result into the input. Default: ``False``.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, inplace=self.inplace)


class ReLU6(_Inplace):
    """:math:`\\min(\\max(0, x), 6)`.

    Args:
        inplace: write the result into the input. Default: ``False``.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.relu6(input, inplace=self.inplace)


class SELU(_Inplace):
    """:math:`\\lambda\\,\\mathrm{ELU}_\\alpha(x)` with PyTorch's fixed λ ≈ 1.0507 and α ≈ 1.6733.

    Args:
        inplace: write the result into the input. Default: ``False``.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.selu(input, inplace=self.inplace)


class SiLU(_Inplace):
    """:math:`x \\sigma(x)` (also called swish).

    Args:
        inplace: write the result into the input. Default: ``False``.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input, inplace=self.inplace)


class Mish(_Inplace):
    """:math:`x \\tanh(\\mathrm{softplus}(x))`.

    Args:
        inplace: write the result into the input. Default: ``False``.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.mish(input, inplace=self.inplace)


class Hardswish(_Inplace):
    """:math:`x \\cdot \\mathrm{ReLU6}(x + 3) / 6`.

    Args:
        inplace: write the result into the input. Default: ``False``.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.hardswish(input, inplace=self.inplace)


class Hardsigmoid(_Inplace):
    """:math:`\\mathrm{ReLU6}(x + 3) / 6`.

    Args:
        inplace: write the result into the input. Default: ``False``.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.hardsigmoid(input, inplace=self.inplace)


class LeakyReLU(Module):
    """:math:`x` for :math:`x > 0`, else ``negative_slope`` :math:`\\cdot x`. Default slope: 0.01.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class RReLU(Module):
    """Randomized leaky ReLU: in training the negative slope of each element is drawn from
    U(lower, upper); in evaluation it is (lower + upper) / 2. Defaults: 1/8, 1/3.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower = lower
        self.upper = upper
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.rrelu(input, self.lower, self.upper, self.training)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """:math:`x` for :math:`x > 0`, else :math:`\\alpha (e^x - 1)`. Default α: 1.0.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    """:math:`\\max(0, x) + \\min(0, \\alpha (e^{x/\\alpha} - 1))`.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.celu(input, self.alpha, self.inplace)


class GELU(Module):
    """:math:`x \\Phi(x)`; ``approximate='tanh'`` uses the tanh approximation. Default: ``'none'``.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class _Plain(Module):
    """An activation without options."""


class Tanh(_Plain):
    """:math:`\\tanh(x) = (e^x - e^{-x}) / (e^x + e^{-x})`, in (-1, 1).

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Sigmoid(_Plain):
    """:math:`\\sigma(x) = 1 / (1 + e^{-x})`, in (0, 1).

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class LogSigmoid(_Plain):
    """:math:`\\log \\sigma(x) = -\\mathrm{softplus}(-x)`.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.logsigmoid(input)


class Softsign(_Plain):
    """:math:`x / (1 + |x|)`.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.softsign(input)


class Tanhshrink(_Plain):
    """:math:`x - \\tanh(x)`.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.tanhshrink(input)


class Hardtanh(Module):
    """:math:`x` clamped to [min_val, max_val]. Defaults: -1, 1.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        if max_val <= min_val:
            raise ValueError(f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class Softplus(Module):
    """:math:`\\frac{1}{\\beta}\\log(1 + e^{\\beta x})`, linear where :math:`\\beta x >` ``threshold``.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class _SoftmaxBase(Module):
    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxBase):
    """:math:`e^{x_i} / \\sum_j e^{x_j}` along ``dim`` (rows sum to 1). Shape: :math:`(*)` -> :math:`(*)`."""

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim)


class LogSoftmax(_SoftmaxBase):
    """:math:`\\log \\mathrm{softmax}(x)` along ``dim``, computed stably.

    Shape:
        - Input: :math:`(*)`.  Output: :math:`(*)`, the same shape; ``dim`` is the one normalised over.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim)


class Softmin(_SoftmaxBase):
    """:math:`\\mathrm{softmax}(-x)` along ``dim``.

    Shape:
        - Input: :math:`(*)`.  Output: :math:`(*)`, the same shape; ``dim`` is the one normalised over.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(-input, self.dim)


class Softmax2d(Module):
    """Softmax over the channels of :math:`(N, C, H, W)` or :math:`(C, H, W)` input (dim -3)."""

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise RuntimeError(f"Softmax2d: expected a 3-D or 4-D input, got shape {input.shape}")
        return F.softmax(input, -3)


class Threshold(Module):
    """:math:`x` where :math:`x >` ``threshold``, else ``value``.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


class Hardshrink(Module):
    """:math:`x` where :math:`|x| > \\lambda`, else 0. Default λ: 0.5.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        return F.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """:math:`x - \\lambda` above λ, :math:`x + \\lambda` below -λ, else 0. Default λ: 0.5.

    Shape:
        - Input: :math:`(*)`, any number of dims.  Output: :math:`(*)`, the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.softshrink(input, self.lambd)


class GLU(Module):
    """Gated linear unit: splits ``dim`` into halves a, b and returns :math:`a \\otimes \\sigma(b)`.

    Shape: :math:`(*, 2N, *)` -> :math:`(*, N, *)`. Default ``dim``: -1.
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class PReLU(Module):
    r""":math:`\max(0, x) + a \min(0, x)` with a learnable slope :math:`a`.

    Args:
        num_parameters: number of slopes: 1 (shared) or the number of channels (dim 1 of the input).
            Default: 1.
        init: the initial value of every slope. Default: 0.25.

    Shape:
        - Input: :math:`(*)`, with channels at dim 1 when ``num_parameters > 1``.
        - Output: :math:`(*)`, the same shape.

    Attributes:
        weight: the learnable slopes of shape :math:`(\text{num\_parameters})`, initialised to ``init``
            (0.25).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(creation.empty(num_parameters, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set every slope to ``init`` (the constructor's, 0.25 by default)."""
        nn_init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        if self.num_parameters > 1 and (input.ndim < 2 or input.shape[1] != self.num_parameters):
            raise RuntimeError(f"{self!r}: expected input with {self.num_parameters} channels at dim 1, "
                               f"got shape {input.shape}")
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Maxout(Module):
    r"""Maxout (Goodfellow et al., 2013): :math:`y_o = \max_k (x W_{o,k}^T + b_{o,k})`.

    A Linear layer to ``out_features * pieces`` units, read as (out_features, pieces), then a max
    over the pieces. Not in PyTorch.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        pieces: number of affine pieces maxed over per output unit.
        bias: if ``False`` the pieces have no bias. Default: ``True``.

    Shape:
        - Input: :math:`(*, H_{in})`.
        - Output: :math:`(*, H_{out})`.

    Attributes:
        linear: the ``Linear(in_features, out_features * pieces)``; unit ``o * pieces + k`` is piece
            ``k`` of output ``o``. PyTorch's Linear initialisation.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if pieces < 1:
            raise ValueError(f"Maxout: pieces must be at least 1, got {pieces}")
        self.in_features = in_features
        self.out_features = out_features
        self.pieces = pieces
        self.linear = Linear(in_features, out_features * pieces, bias=bias, device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        """Re-draw the weights and biases (uniform in ±1/√in_features, as ``Linear``)."""
        self.linear.reset_parameters()

    def forward(self, input: Tensor) -> Tensor:
        z = self.linear(input)  # (*, out * pieces)
        return z.unflatten(-1, (self.out_features, self.pieces)).amax(-1)  # (*, out)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"


__all__ = [
    "CELU", "ELU", "GELU", "GLU", "Hardshrink", "Hardsigmoid", "Hardswish", "Hardtanh", "LeakyReLU",
    "LogSigmoid", "LogSoftmax", "Maxout", "Mish", "PReLU", "RReLU", "ReLU", "ReLU6", "SELU", "SiLU", "Sigmoid",
    "Softmax", "Softmax2d", "Softmin", "Softplus", "Softshrink", "Softsign", "Tanh", "Tanhshrink", "Threshold",
]
