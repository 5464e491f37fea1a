"""Whether operations record the graph: ``no_grad``, ``enable_grad``, ``set_grad_enabled``."""
from __future__ import annotations

import functools


class _State:
    """Process-wide autograd state.

    ``enabled``: grad mode. ``clock``: counts in-place writes to tensors; a node records the clock when
    it is made and each tensor's version counter the clock of its last write, so the engine can tell
    whether a tensor a node read was changed after the node was recorded (one comparison per node
    when nothing was written in place). ``anomaly``: check every gradient for NaN (``detect_anomaly``).
    ``post_accumulate_hooks``: whether any leaf ever got a post-accumulate-grad hook (then backward hands
    each leaf its gradient as soon as the gradient is final, for data-parallel overlap).
    """

    enabled = True
    clock = 0
    anomaly = False
    post_accumulate_hooks = False


_state = _State()


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()`` / ``set_grad_enabled(False)`` / ``inference_mode()``: whether
    operations are being recorded for autograd.
    """
    return _state.enabled


class _GradMode:
    """Context manager and decorator that sets grad mode to ``self.mode`` and restores it after.

    Usable as ``with no_grad():``, ``@no_grad()`` and, as in PyTorch, ``@no_grad`` without parentheses.
    """

    mode = True

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        if len(args) == 1 and not kwargs and callable(args[0]):  # bare ``@no_grad``
            return self(args[0])
        return self

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        self._prev = _state.enabled
        _state.enabled = self.mode
        return self

    def __exit__(self, *exc) -> None:
        _state.enabled = self._prev

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = _state.enabled
            _state.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _state.enabled = prev
        return wrapper


class no_grad(_GradMode):
    """Disable graph recording: ops inside produce tensors with no history (inference, updates)."""

    mode = False


class enable_grad(_GradMode):
    """Re-enable graph recording inside a ``no_grad`` block."""

    mode = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)`` acts like ``no_grad()``; usable as a call, context or decorator."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._prev = _state.enabled
        _state.enabled = self.mode  # like PyTorch, takes effect on construction too

    def __enter__(self):
        return self

    def __call__(self, fn):
        _state.enabled = self._prev  # decorating must not change the mode
        return super().__call__(fn)


class inference_mode(no_grad):
    """Alias of ``no_grad`` (shendu has no separate inference tensors)."""

    def __init__(self, mode: bool = True):
        self.mode = not mode
