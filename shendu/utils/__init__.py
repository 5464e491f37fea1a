"""``shendu.utils``: PyTorch's ``torch.utils`` names (``shendu.utils.data.DataLoader``,
``shendu.utils.checkpoint.checkpoint``, ``shendu.utils.flop_counter.FlopCounterMode``)."""
from shendu.utils import checkpoint, data, flop_counter

__all__ = ["checkpoint", "data", "flop_counter"]
