"""Normalization layers: ``BatchNorm1d/2d/3d``, ``LayerNorm``, ``GroupNorm``, ``RMSNorm``.

Batch norm normalizes each channel over the batch (and spatial) dims and keeps running statistics
for evaluation; the others normalize each sample on its own and behave the same in train and eval.
"""
from __future__ import annotations

from shendu import creation, dtypes
from shendu.grad_mode import no_grad
from shendu.nn import init
from shendu.nn.functional_norm import batch_norm, group_norm, layer_norm, rms_norm
from shendu.nn.module import Module
from shendu.nn.parameter import Parameter
from shendu.tensor import Tensor


def _shape(normalized_shape) -> tuple:
    return (int(normalized_shape),) if isinstance(normalized_shape, int) else tuple(int(s) for s in normalized_shape)


def _affine_parameters(module: Module, shape: tuple, affine: bool, bias: bool, dtype, device) -> None:
    """Register γ ``weight`` and β ``bias`` of ``shape`` (None where ``affine`` or ``bias`` is off)."""
    def make():
        return Parameter(creation.empty(*shape, dtype=dtype, device=device))
    module.register_parameter("weight", make() if affine else None)
    module.register_parameter("bias", make() if affine and bias else None)


def _reset_affine(module: Module) -> None:
    """γ = 1 and β = 0: the layer starts as a pure normalization."""
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class _BatchNorm(Module):
    """Shared body of the BatchNorm layers; subclasses fix the input rank (``_check_input_dim``)."""

    _layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _affine_parameters(self, (num_features,), affine, bias, dtype, device)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", creation.ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", creation.tensor(0, dtype=dtypes.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Reset the running statistics: ``running_mean`` to 0, ``running_var`` to 1, ``num_batches_tracked``
        to 0.
        """
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics and the affine parameters (weight to 1, bias to 0)."""
        self.reset_running_stats()
        _reset_affine(self)

    def _check_input_dim(self, input: Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise RuntimeError(f"{type(self).__name__}({self.num_features}): expected an input of shape "
                               f"{self._layout} with C = {self.num_features} channels, got shape {input.shape}")
        # Batch statistics in training, and in eval too when no running statistics are kept.
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        if use_batch and input.numel() // max(self.num_features, 1) <= 1:
            raise ValueError(f"{type(self).__name__}: expected more than 1 value per channel when training, "
                             f"got an input of shape {input.shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked._data += 1
            # momentum=None: a cumulative moving average, the k-th batch weighted 1/k
            factor = 1.0 / int(self.num_batches_tracked.item()) if self.momentum is None else self.momentum
        keep = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if keep else None, self.running_var if keep else None,
                          self.weight, self.bias, use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    r"""Batch normalization over a 2-D (N, C) or 3-D (N, C, L) input (Ioffe & Szegedy, 2015).

    .. math:: y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \gamma + \beta

    per channel, with the mean and the biased variance over the batch (and L) in training; the
    running estimates move towards the batch mean and the *unbiased* batch variance:
    ``running = (1 - momentum) * running + momentum * batch``. In eval mode (``model.eval()``) the
    running estimates normalize instead, unless ``track_running_stats=False``.

    Args:
        num_features: the number of channels C.
        eps: added to the variance for numerical stability. Default: 1e-5.
        momentum: weight of the newest batch in the running estimates; ``None`` gives a cumulative
            average over all batches seen (tracked by ``num_batches_tracked``). Default: 0.1.
        affine: learn a per-channel scale and shift. Default: ``True``.
        track_running_stats: keep running estimates; if ``False`` batch statistics are used in
            eval mode as well. Default: ``True``.
        bias: with ``affine``, also learn the shift. Default: ``True``.

    Shape:
        - Input: (N, C) or (N, C, L).
        - Output: the same shape as the input.

    Attributes:
        weight: (C,) scale γ, initialised to 1 (``None`` without ``affine``).
        bias: (C,) shift β, initialised to 0.
        running_mean: (C,) buffer, initialised to 0. running_var: (C,) buffer, initialised to 1.
        num_batches_tracked: int64 scalar buffer, the number of training batches seen.
    """

    _layout = "(N, C) or (N, C, L)"

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d: expected 2D or 3D input (N, C) or (N, C, L) (got {input.ndim}D input "
                             f"of shape {input.shape})")


class BatchNorm2d(_BatchNorm):
    """Batch normalization over a 4-D (N, C, H, W) input: see ``BatchNorm1d`` for the formula and arguments.

    Shape:
        - Input: (N, C, H, W).
        - Output: (N, C, H, W).
    """

    _layout = "(N, C, H, W)"

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim != 4:
            raise ValueError(f"BatchNorm2d: expected 4D input (N, C, H, W) (got {input.ndim}D input of shape "
                             f"{input.shape})")


class BatchNorm3d(_BatchNorm):
    """Batch normalization over a 5-D (N, C, D, H, W) input: see ``BatchNorm1d``.

    Shape:
        - Input: (N, C, D, H, W).
        - Output: (N, C, D, H, W).
    """

    _layout = "(N, C, D, H, W)"

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim != 5:
            raise ValueError(f"BatchNorm3d: expected 5D input (N, C, D, H, W) (got {input.ndim}D input of shape "
                             f"{input.shape})")


class LayerNorm(Module):
    r"""Layer normalization over the trailing dims given by ``normalized_shape`` (Ba et al., 2016).

    .. math:: y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \gamma + \beta

    with the mean and biased variance over the last ``len(normalized_shape)`` dims of each sample.

    Args:
        normalized_shape: the trailing shape to normalize over (an int for the last dim).
        eps: added to the variance. Default: 1e-5.
        elementwise_affine: learn γ (and β) of shape ``normalized_shape``. Default: ``True``.
        bias: with ``elementwise_affine``, also learn β. Default: ``True``.

    Shape:
        - Input: (*, *normalized_shape).
        - Output: the same shape.

    Attributes:
        weight: γ of shape ``normalized_shape``, initialised to 1. bias: β, initialised to 0.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.normalized_shape = _shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine_parameters(self, self.normalized_shape, elementwise_affine, bias, dtype, device)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reset the affine parameters: weight to 1, bias to 0."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        n = len(self.normalized_shape)
        if input.ndim < n or tuple(input.shape[input.ndim - n:]) != self.normalized_shape:
            raise RuntimeError(f"LayerNorm({self.normalized_shape}): expected an input of shape "
                               f"(*, {', '.join(map(str, self.normalized_shape))}), got shape {input.shape}")
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    r"""Group normalization: the channels split into ``num_groups`` groups, each normalized per sample (Wu & He, 2018).

    The mean and biased variance are taken over each group's channels and the spatial dims, then
    a per-channel scale γ and shift β apply. ``num_groups=1`` normalizes all channels together
    (LayerNorm over (C, *)); ``num_groups=C`` is instance normalization.

    Args:
        num_groups: the number of groups; must divide ``num_channels``.
        num_channels: the number of channels C.
        eps: added to the variance. Default: 1e-5.
        affine: learn per-channel γ and β. Default: ``True``.
        bias: with ``affine``, also learn β. Default: ``True``.

    Shape:
        - Input: (N, C, *).
        - Output: the same shape.

    Attributes:
        weight: (C,) γ, initialised to 1. bias: (C,) β, initialised to 0.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _affine_parameters(self, (num_channels,), affine, bias, dtype, device)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reset the affine parameters: weight to 1, bias to 0."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise RuntimeError(f"GroupNorm({self.num_groups}, {self.num_channels}): expected an input of shape "
                               f"(N, {self.num_channels}, *), got shape {input.shape}")
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    r"""Root-mean-square normalization over the trailing dims (Zhang & Sennrich, 2019).

    .. math:: y = \frac{x}{\sqrt{\mathrm{mean}(x^2) + \epsilon}} \gamma

    No centring and no shift: cheaper than LayerNorm, used by Llama-style transformers.

    Args:
        normalized_shape: the trailing shape to normalize over (an int for the last dim).
        eps: added to the mean square; ``None`` uses ``finfo(input.dtype).eps``. Default: ``None``.
        elementwise_affine: learn γ of shape ``normalized_shape``. Default: ``True``.

    Shape:
        - Input: (*, *normalized_shape).
        - Output: the same shape.

    Attributes:
        weight: γ of shape ``normalized_shape``, initialised to 1.
    """

    def __init__(self, normalized_shape, eps: float | None = None, elementwise_affine: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.normalized_shape = _shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.empty(*self.normalized_shape, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reset the weight (if any) to 1."""
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        n = len(self.normalized_shape)
        if input.ndim < n or tuple(input.shape[input.ndim - n:]) != self.normalized_shape:
            raise RuntimeError(f"RMSNorm({self.normalized_shape}): expected an input of shape "
                               f"(*, {', '.join(map(str, self.normalized_shape))}), got shape {input.shape}")
        return rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
