"""PyTorch's path ``torch.autograd.grad_mode``; the implementation is the leaf module ``shendu.grad_mode``."""
from shendu.grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["enable_grad", "inference_mode", "is_grad_enabled", "no_grad", "set_grad_enabled"]
