"""``shendu.nn.parallel``: PyTorch's data-parallel wrappers.

``DataParallel`` splits a batch over GPUs in PyTorch; shendu runs one device per process, so here
it is a pass-through wrapper: ``forward`` calls ``module`` on the whole batch, and the wrapped
model sits under ``.module`` so ``state_dict()`` keys carry PyTorch's ``module.`` prefix (checkpoints
saved from a DataParallel model load the same way in both). ``DistributedDataParallel``
(``distributed.py``) is real multi-process data parallelism over MPI (``shendu.distributed``).
"""
from __future__ import annotations

from shendu.nn.module import Module


class DataParallel(Module):
    """Wraps ``module``; ``DataParallel(m)(x) == m(x)`` (one device: no scatter or gather).

    Args:
        module: the module to wrap (reachable as ``.module``).
        device_ids: accepted for PyTorch programs; shendu uses the device the module lives on.
        output_device: accepted; the output stays where ``module`` puts it.
        dim: the batch dim PyTorch would scatter along (kept as ``.dim``).
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        self.module = module
        self.device_ids = [] if device_ids is None else list(device_ids)
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def data_parallel(module: Module, inputs, device_ids=None, output_device=None, dim: int = 0,
                  module_kwargs=None):
    """The functional form: ``module(*inputs, **module_kwargs)`` on one device."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    return module(*inputs, **(module_kwargs or {}))


from shendu.nn.parallel.distributed import DistributedDataParallel  # noqa: E402
from shendu.nn.parallel.sync_batchnorm import SyncBatchNorm  # noqa: E402

__all__ = ["DataParallel", "DistributedDataParallel", "SyncBatchNorm", "data_parallel"]
