"""``GradScaler``: dynamic loss scaling for reduced-precision training (``torch.amp.GradScaler``).

Half-precision gradients underflow; scaling the loss by S before backward scales every gradient by S.
Before the optimizer steps, ``unscale_`` divides the gradients by S and checks them: a step whose
gradients hold inf/NaN is skipped and S shrinks (``backoff_factor``); after ``growth_interval``
clean steps in a row S grows (``growth_factor``). With ``enabled=False`` every method is a pass-through,
so one training loop serves both precisions (nanoGPT's ``GradScaler(enabled=dtype == "float16")``).
"""
from __future__ import annotations

import math

import numpy as np

from shendu.grad_mode import no_grad
from shendu.tensor import Tensor

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


class GradScaler:
    """PyTorch's signature: ``GradScaler(device="cuda", init_scale=2**16, growth_factor=2.0,
    backoff_factor=0.5, growth_interval=2000, enabled=True)``."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        if growth_factor <= 1.0:
            raise ValueError(f"GradScaler: growth_factor must be > 1.0, got {growth_factor}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor}")
        if int(growth_interval) < 1:
            raise ValueError(f"GradScaler: growth_interval must be a positive int, got {growth_interval}")
        self.device = str(device)
        self._enabled = bool(enabled)
        self._scale = float(init_scale)
        self._growth_factor, self._backoff_factor = float(growth_factor), float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer: dict[int, dict] = {}

    # -- the training-loop calls ------------------------------------------------------------------
    def scale(self, outputs):
        """``outputs`` (a tensor, or nested lists/tuples of them) multiplied by the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError(f"GradScaler.scale: outputs must be a Tensor or an iterable of Tensors, "
                         f"got {type(outputs).__name__}")

    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale in place and note whether any is inf/NaN."""
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError("GradScaler.unscale_() has already been called on this optimizer since the last "
                               "update()")
        if state["stage"] == _STEPPED:
            raise RuntimeError("GradScaler.unscale_() is being called after step()")
        inv = 1.0 / self._scale
        found_inf = False
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad._data
                    g *= np.asarray(inv, dtype=g.dtype) if g.dtype.kind == "f" else inv
                    found_inf = found_inf or not bool(p.grad._xp().isfinite(g).all())
        state["stage"], state["found_inf"] = _UNSCALED, found_inf

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step()`` unless the (unscaled) gradients hold inf/NaN; returns its result or None."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("GradScaler.step: closure use is not supported")
        state = self._state(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError("GradScaler.step() has already been called since the last update()")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        result = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return result

    def update(self, new_scale=None) -> None:
        """Shrink the scale after a skipped step, grow it after ``growth_interval`` clean ones."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
        else:
            stepped = [s for s in self._per_optimizer.values() if s["stage"] != _READY]
            if not stepped:
                raise RuntimeError("GradScaler.update: no inf checks were recorded prior to update (call "
                                   "unscale_ or step first)")
            if any(s["found_inf"] for s in stepped):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = self._scale * self._growth_factor
                    self._scale = grown if math.isfinite(grown) else self._scale
                    self._growth_tracker = 0
        self._per_optimizer.clear()

    # -- state -----------------------------------------------------------------------------------
    def _state(self, optimizer) -> dict:
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf": False})

    def get_scale(self) -> float:
        """The current loss scale (1.0 when the scaler is disabled)."""
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        """The factor the scale grows by after ``growth_interval`` steps without inf/NaN gradients."""
        return self._growth_factor

    def set_growth_factor(self, value: float) -> None:
        """Set the growth factor (applies from the next ``update``)."""
        self._growth_factor = float(value)

    def get_backoff_factor(self) -> float:
        """The factor the scale shrinks by after a step with inf/NaN gradients."""
        return self._backoff_factor

    def set_backoff_factor(self, value: float) -> None:
        """Set the backoff factor (applies from the next ``update``)."""
        self._backoff_factor = float(value)

    def get_growth_interval(self) -> int:
        """Consecutive finite steps before the scale grows."""
        return self._growth_interval

    def set_growth_interval(self, value: int) -> None:
        """Set the growth interval (applies from the next ``update``)."""
        self._growth_interval = int(value)

    def is_enabled(self) -> bool:
        """Whether the scaler scales at all (``enabled=False`` makes every method a pass-through)."""
        return self._enabled

    def state_dict(self) -> dict:
        """The scale, the factors, the interval and the growth tracker ({} when disabled), to checkpoint."""
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor, "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval, "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned."""
        if not self._enabled:
            return
        if not state_dict:
            raise RuntimeError("GradScaler.load_state_dict: the state_dict is empty (saved from a disabled scaler?)")
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])
