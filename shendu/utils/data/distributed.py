"""PyTorch's path ``torch.utils.data.distributed``; the implementation is ``shendu.data.distributed``."""
from shendu.data.distributed import DistributedSampler

__all__ = ["DistributedSampler"]
