"""``shendu.amp``: mixed precision (PyTorch's ``torch.amp``).

``autocast`` runs PyTorch's lists of ops in a lower precision (products and convolutions) or in
float32 (losses) inside its block (``autocast_mode.py``); ``GradScaler`` scales the loss so float16
gradients do not underflow, skipping the steps whose gradients overflowed (``grad_scaler.py``).
"""
from shendu.amp.autocast_mode import autocast, get_autocast_dtype, is_autocast_enabled
from shendu.amp.grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast", "get_autocast_dtype", "is_autocast_enabled"]
