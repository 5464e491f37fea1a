"""PyTorch's path ``torch.utils.data._utils.collate``; the implementation is ``shendu.data.dataloader``."""
from shendu.data.dataloader import default_collate, default_convert

__all__ = ["default_collate", "default_convert"]
