"""``SyncBatchNorm``: batch normalization over the whole batch of every rank (PyTorch's ``nn.SyncBatchNorm``).

In training each rank's per-channel sums go through a differentiable all-reduce (its backward
all-reduces the gradient), first for the mean, then for the squared deviations, so the statistics
and their gradients are those of the concatenated global batch. Eval mode, or no process group (or a
group of one), is plain ``BatchNorm``. ``SyncBatchNorm.convert_sync_batchnorm(model)`` swaps every
BatchNorm layer for one, keeping its parameters and buffers.
"""
from __future__ import annotations

import numpy as np

from shendu.autograd.function import Function
from shendu.nn.layers.normalization import _BatchNorm
from shendu.nn.module import Module
from shendu.tensor import Tensor

__all__ = ["SyncBatchNorm"]


class AllReduceSum(Function):
    """``y = sum over ranks of x`` (a copy; ``x`` is untouched); the gradient is the ranks' summed gradient."""

    saved_inputs = ()

    def forward(ctx, x, *, group):
        from shendu.distributed.collectives import all_reduce
        ctx.group = group
        out = x.copy()
        all_reduce(Tensor._wrap(out), group=group)
        return out

    def backward(ctx, grad):
        return AllReduceSum.apply(grad, group=ctx.group)


class SyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics cover every rank's batch (inputs (N, C, *)).

    Args:
        num_features, eps, momentum, affine, track_running_stats: as for ``BatchNorm2d``.
        process_group: the ranks to synchronise over (default WORLD).

    Shape:
        - Input: (N, C, *) with at least 2 dimensions. Output: the same shape.
    """

    _layout = "(N, C, *)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        object.__setattr__(self, "process_group", process_group)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim < 2:
            raise ValueError(f"SyncBatchNorm: expected at least 2D input (N, C, *), got {input.ndim}D input")

    def _world(self) -> int:
        from shendu import distributed as dist
        return dist.get_world_size(self.process_group) if dist.is_initialized() else 1

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self._world() <= 1:
            return super().forward(input)
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise RuntimeError(f"SyncBatchNorm({self.num_features}): expected an input of shape (N, C, *) with "
                               f"C = {self.num_features} channels, got shape {input.shape}")
        axes = (0, *range(2, input.ndim))
        shape = (1, -1) + (1,) * (input.ndim - 2)
        from shendu.distributed.collectives import all_reduce
        count = Tensor._wrap(np.array([input.numel() // self.num_features], np.float64))
        all_reduce(count, group=self.process_group)
        m = float(count._data[0])
        if m <= 1:
            raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel when training, got {int(m)}")
        mean = AllReduceSum.apply(input.sum(dim=axes), group=self.process_group) / m              # (C,)
        centred = input - mean.reshape(shape)                                                      # (N, C, *)
        var = AllReduceSum.apply((centred * centred).sum(dim=axes), group=self.process_group) / m  # (C,)
        out = centred / (var.reshape(shape) + self.eps).sqrt()
        if self.weight is not None:
            out = out * self.weight.reshape(shape)
        if self.bias is not None:
            out = out + self.bias.reshape(shape)
        if self.track_running_stats:
            self.num_batches_tracked._data += 1
            f = 1.0 / int(self.num_batches_tracked.item()) if self.momentum is None else self.momentum
            rm, rv = self.running_mean._data, self.running_var._data
            rm[...] = (1 - f) * rm + f * mean._data.astype(rm.dtype)
            rv[...] = (1 - f) * rv + f * (var._data * (m / (m - 1))).astype(rv.dtype)
        return out

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """``module`` with every BatchNorm layer replaced by a SyncBatchNorm sharing its parameters and buffers."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            new = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                      process_group)
            for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                if getattr(module, name) is not None:
                    setattr(new, name, getattr(module, name))
            new.train(module.training)
            return new
        for name, child in list(module.named_children()):
            setattr(module, name, cls.convert_sync_batchnorm(child, process_group))
        return module
