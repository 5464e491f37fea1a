"""``shendu.utils``: PyTorch's ``torch.utils`` names (``shendu.utils.data.DataLoader``,
``shendu.utils.checkpoint.checkpoint``)."""
from shendu.utils import checkpoint, data

__all__ = ["checkpoint", "data"]
