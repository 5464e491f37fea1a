"""PyTorch's path ``torch.utils.data.dataloader``; the implementation is ``shendu.data.dataloader``."""
from shendu.data.dataloader import DataLoader, default_collate, default_convert, get_worker_info

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]
