"""Learning-rate schedulers (PyTorch's ``torch.optim.lr_scheduler``), with PyTorch's semantics.

A scheduler rewrites ``group["lr"]`` of its optimizer each ``step()``. Construction performs step 0
(``last_epoch`` becomes 0 and the first learning rate is set), so the loop is
``optimizer.step(); scheduler.step()``. Most schedulers are *chainable*: each step multiplies the
group's current learning rate (``get_lr``), so two schedulers on one optimizer compose; stepping
with an explicit epoch (deprecated in PyTorch, still supported) uses the closed form instead.

The package: ``_base`` (``LRScheduler`` and helpers, which every other module imports), ``lambda_lr``,
``step`` (step, multi-step, constant, linear, exponential, polynomial), ``cosine`` (cosine annealing,
warm restarts, ``warmup_cosine``), ``cyclic`` (``CyclicLR``, ``OneCycleLR``), ``plateau``
(``ReduceLROnPlateau``) and ``composite`` (``SequentialLR``, ``ChainedScheduler``).
"""
from shendu.optim.lr_scheduler._base import LRScheduler
from shendu.optim.lr_scheduler.composite import ChainedScheduler, SequentialLR
from shendu.optim.lr_scheduler.cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts, warmup_cosine
from shendu.optim.lr_scheduler.cyclic import CyclicLR, OneCycleLR
from shendu.optim.lr_scheduler.lambda_lr import LambdaLR, MultiplicativeLR
from shendu.optim.lr_scheduler.plateau import ReduceLROnPlateau
from shendu.optim.lr_scheduler.step import ConstantLR, ExponentialLR, LinearLR, MultiStepLR, PolynomialLR, StepLR

_LRScheduler = LRScheduler  # PyTorch's old name, still importable there

__all__ = [
    "ChainedScheduler", "ConstantLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "CyclicLR",
    "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR", "MultiStepLR", "MultiplicativeLR", "OneCycleLR",
    "PolynomialLR", "ReduceLROnPlateau", "SequentialLR", "StepLR", "warmup_cosine",
]
