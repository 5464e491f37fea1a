"""``shendu.amp``: mixed-precision training helpers (PyTorch's ``torch.amp``).

``GradScaler`` (dynamic loss scaling) is here; ``autocast`` with PyTorch's per-op casting lists lands
with the scale-and-deployment issue — until then it raises naming what is missing.
"""
from shendu.amp.grad_scaler import GradScaler


class autocast:  # noqa: N801 - PyTorch's name
    """Not implemented yet: reduced-precision autocasting lands with issue 14 (scale and deployment)."""

    def __init__(self, device_type: str = "cpu", dtype=None, enabled: bool = True, cache_enabled=None):
        self.enabled = bool(enabled)
        if self.enabled:
            raise NotImplementedError(
                "shendu.amp.autocast is not implemented yet (it lands with issue 14, scale and deployment); "
                "run in float32, or pass enabled=False")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def __call__(self, fn):
        return fn


__all__ = ["GradScaler", "autocast"]
