"""``shendu.distributed.optim``: ``ZeroRedundancyOptimizer`` (ZeRO-1 optimizer-state sharding)."""
from shendu.distributed.optim.zero_redundancy_optimizer import ZeroRedundancyOptimizer

__all__ = ["ZeroRedundancyOptimizer"]
