"""Reverse-mode automatic differentiation: Function, the engine, grad mode, gradcheck, anomaly mode."""
from shendu.autograd import (
    functional,  # noqa: F401,I001  (PyTorch's torch.autograd.functional)
    grad_mode,  # noqa: F401  (PyTorch's path torch.autograd.grad_mode)
)
from shendu.autograd.anomaly_mode import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from shendu.autograd.engine import backward, grad
from shendu.autograd.function import Function, once_differentiable
from shendu.autograd.gradcheck import gradcheck, gradgradcheck
from shendu.autograd.variable import Variable
from shendu.grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled

__all__ = [
    "Function", "Variable", "backward", "detect_anomaly", "enable_grad", "grad", "gradcheck", "gradgradcheck",
    "inference_mode", "is_anomaly_enabled", "is_grad_enabled", "no_grad", "once_differentiable",
    "set_detect_anomaly", "set_grad_enabled", "functional",
]
