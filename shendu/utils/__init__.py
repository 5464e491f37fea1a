"""``shendu.utils``: PyTorch's ``torch.utils`` names (``shendu.utils.data.DataLoader``)."""
from shendu.utils import data

__all__ = ["data"]
