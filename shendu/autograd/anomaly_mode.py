"""``detect_anomaly``: make backward name the op whose gradient first contains NaN.

As in PyTorch (``torch.autograd.detect_anomaly``): inside the context every recorded op keeps the stack of
the forward call that made it, and every gradient a backward formula returns is checked for NaN; the
first one found raises a RuntimeError naming the op and showing where it was called in the forward pass.
It slows both passes down: use it to find a bug, not to train.
"""
from __future__ import annotations

from shendu.grad_mode import _state


class detect_anomaly:
    """Context manager (and decorator) turning anomaly detection on; ``check_nan`` as in PyTorch."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = bool(check_nan)

    def __enter__(self):
        self._prev = _state.anomaly
        _state.anomaly = self.check_nan
        return self

    def __exit__(self, *exc) -> None:
        _state.anomaly = self._prev

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return wrapper


class set_detect_anomaly(detect_anomaly):
    """``set_detect_anomaly(True)`` turns detection on at once (and as a context, restores after)."""

    def __init__(self, mode: bool, check_nan: bool = True):
        super().__init__(check_nan and mode)
        self._prev = _state.anomaly
        _state.anomaly = bool(mode) and check_nan

    def __enter__(self):
        return self


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly()`` (or after ``set_detect_anomaly(True)``): NaN gradients raise, naming
    the operation.
    """
    return _state.anomaly
