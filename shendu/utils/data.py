"""``shendu.utils.data`` mirrors ``torch.utils.data``: the same objects as ``shendu.data``."""
from shendu.data import *  # noqa: F401,F403
from shendu.data import __all__  # noqa: F401
