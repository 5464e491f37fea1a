"""``shendu.nn``: modules, layers, losses and initializers (PyTorch's ``torch.nn``)."""
from shendu.nn import functional  # noqa: F401
from shendu.nn.parameter import Parameter

__all__ = ["Parameter", "functional"]
