"""``shendu.amp``: mixed-precision training helpers (PyTorch's ``torch.amp``).

``GradScaler`` (dynamic loss scaling) is here; ``autocast`` (PyTorch's per-op casting to float16 or
bfloat16) is not implemented yet: entering it raises, naming what to do instead.
"""
from shendu.amp.grad_scaler import GradScaler


class autocast:  # noqa: N801 - PyTorch's name
    """Not implemented yet: ``autocast(enabled=True)`` raises ``NotImplementedError``; ``enabled=False`` is a no-op."""

    def __init__(self, device_type: str = "cpu", dtype=None, enabled: bool = True, cache_enabled=None):
        self.enabled = bool(enabled)
        if self.enabled:
            raise NotImplementedError(
                "shendu.amp.autocast (reduced-precision autocasting) is not implemented yet; "
                "run in float32, or pass enabled=False")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def __call__(self, fn):
        return fn


__all__ = ["GradScaler", "autocast"]
