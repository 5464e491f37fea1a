"""PyTorch's private path ``torch.utils.data._utils`` (programs import ``collate`` from it)."""
from shendu.utils.data._utils import collate  # noqa: F401

__all__ = ["collate"]
