"""Affine layers and shape adapters: ``Linear``, ``Bilinear``, ``Identity``, ``Flatten``, ``Unflatten``."""
from __future__ import annotations

import math

from shendu import creation
from shendu.nn import functional as F
from shendu.nn import init
from shendu.nn.module import Module
from shendu.nn.parameter import Parameter
from shendu.ops.linalg import einsum
from shendu.tensor import Tensor


def _empty(*shape: int, device=None, dtype=None) -> Parameter:
    return Parameter(creation.empty(*shape, dtype=dtype, device=device))


class Identity(Module):
    """Returns its input unchanged; its arguments are accepted and ignored (a placeholder layer).

    Shape:
        - Input: :math:`(*)`, any shape.
        - Output: :math:`(*)`, the same shape.
    """

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    r"""Applies an affine map to the last dim: :math:`y = xA^T + b`.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: if ``False`` the layer learns no additive bias. Default: ``True``.

    Shape:
        - Input: :math:`(*, H_{in})` with :math:`H_{in} = \text{in\_features}`, any leading dims.
        - Output: :math:`(*, H_{out})` with :math:`H_{out} = \text{out\_features}`.

    Attributes:
        weight: the learnable weights of shape :math:`(\text{out\_features}, \text{in\_features})`,
            initialised from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with :math:`k = 1/\text{in\_features}`
            (``kaiming_uniform_(weight, a=sqrt(5))``).
        bias: the learnable bias of shape :math:`(\text{out\_features})`, from
            :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`; ``None`` when ``bias=False``.

    Example::

        >>> m = nn.Linear(20, 30)
        >>> m(shendu.randn(128, 20)).shape
        (128, 30)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = _empty(out_features, in_features, device=device, dtype=dtype)
        if bias:
            self.bias = _empty(out_features, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the parameters as PyTorch does: weight ~ ``kaiming_uniform_(a=√5)``, i.e. U(±1/√fan_in), and bias
        ~ U(±1/√fan_in). Called by ``__init__``; call it again to re-initialise.
        """
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise RuntimeError(f"{self!r}: expected input with {self.in_features} features in the last dim, "
                               f"got shape {input.shape}")
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    r"""Applies a bilinear map to two inputs: :math:`y_o = x_1^T A_o x_2 + b_o`.

    Args:
        in1_features: size of each first input sample.
        in2_features: size of each second input sample.
        out_features: size of each output sample.
        bias: if ``False`` the layer learns no additive bias. Default: ``True``.

    Shape:
        - Input1: :math:`(*, H_{in1})`, Input2: :math:`(*, H_{in2})` with the same leading dims.
        - Output: :math:`(*, H_{out})`.

    Attributes:
        weight: the learnable weights of shape :math:`(\text{out\_features}, \text{in1\_features},
            \text{in2\_features})`, from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with
            :math:`k = 1/\text{in1\_features}`.
        bias: the learnable bias of shape :math:`(\text{out\_features})`, from the same distribution.
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = _empty(out_features, in1_features, in2_features, device=device, dtype=dtype)
        if bias:
            self.bias = _empty(out_features, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw weight and bias from U(±1/√in1_features), as PyTorch does."""
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        if (input1.ndim == 0 or input1.shape[-1] != self.in1_features or input2.ndim == 0
                or input2.shape[-1] != self.in2_features or input1.shape[:-1] != input2.shape[:-1]):
            raise RuntimeError(f"{self!r}: expected inputs of shapes (*, {self.in1_features}) and "
                               f"(*, {self.in2_features}) with the same leading dims, got {input1.shape} "
                               f"and {input2.shape}")
        out = einsum("...i,oij,...j->...o", input1, self.weight, input2)  # (*, out)
        return out + self.bias if self.bias is not None else out

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Flatten(Module):
    """Flattens dims ``start_dim`` .. ``end_dim`` into one.

    Args:
        start_dim: first dim to flatten. Default: 1 (keeps the batch dim).
        end_dim: last dim to flatten. Default: -1.

    Shape:
        - Input: :math:`(*, S_{start}, ..., S_{end}, *)`.
        - Output: :math:`(*, \\prod S_{start..end}, *)`.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dim ``dim`` into the shape ``unflattened_size``.

    Args:
        dim: the dim to unflatten.
        unflattened_size: the new shape of that dim (its product must equal the dim's size).

    Shape:
        - Input: :math:`(*, S_{dim}, *)`.
        - Output: :math:`(*, U_1, ..., U_n, *)` with :math:`\\prod U_i = S_{dim}`.
    """

    def __init__(self, dim: int, unflattened_size: tuple):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
