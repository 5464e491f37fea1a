"""``shendu.utils.data`` is PyTorch's ``torch.utils.data``: the objects of ``shendu.data`` under
PyTorch's module paths (``shendu.utils.data.dataloader.DataLoader``, ``.sampler``, ``.dataset``,
``.distributed``, ``._utils.collate``)."""
from shendu.data import *  # noqa: F401,F403
from shendu.data import __all__ as _data_all
from shendu.utils.data import _utils, dataloader, dataset, distributed, sampler  # noqa: F401

__all__ = list(_data_all)
