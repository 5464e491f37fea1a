"""Weight averaging: ``ExponentialMovingAverage`` of parameters with a swap-in for evaluation, and
``AveragedModel`` (PyTorch's SWA/EMA wrapper of a whole module).

    ema = ExponentialMovingAverage(model.parameters(), decay=0.999)
    for batch in loader:
        ...; optimizer.step(); ema.update()
    with ema.average_parameters():      # the model holds the averages inside the block
        evaluate(model)
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from shendu.grad_mode import no_grad
from shendu.nn.module import Module
from shendu.optim._parallel import run_updates
from shendu.tensor import Tensor


def _param_list(parameters) -> list[Tensor]:
    if isinstance(parameters, Module):
        parameters = parameters.parameters()
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _move_towards(average, value, state, *, weight):
    """One step of an exponential moving average, as an optimizer formula for ``run_updates``."""
    return average - weight * (average - value)


class ExponentialMovingAverage:
    r"""An exponential moving average of parameters (Polyak averaging with exponential weights).

    Each ``update()``: :math:`s \leftarrow s - (1 - d)(s - \theta)` with
    :math:`d = \min(\text{decay}, (1 + n) / (10 + n))` after n updates when ``use_num_updates`` (so the
    early averages are not dominated by the random initialization), else ``decay``.

    Args:
        parameters: the parameters to track (an iterable of Tensors, or a Module). Later calls may
            pass the same parameters again, or leave them out to use these.
        decay: the decay d in [0, 1]; the average covers roughly the last 1 / (1 - d) updates. Default: 0.999.
        use_num_updates: warm the decay up with the update count, as above. Default: True.

    Attributes:
        shadow_params: the averages (Tensors shaped like the parameters, in their dtype).
        num_updates: updates so far (None without ``use_num_updates``).
    """

    def __init__(self, parameters: Iterable[Tensor] | Module, decay: float = 0.999, use_num_updates: bool = True):
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"ExponentialMovingAverage: decay must be in [0, 1], got {decay}")
        self._params = _param_list(parameters)
        if not self._params:
            raise ValueError("ExponentialMovingAverage: got an empty parameter list")
        self.decay = decay
        self.num_updates: int | None = 0 if use_num_updates else None
        self.shadow_params = [Tensor._wrap(p._data.copy()) for p in self._params]
        self.collected_params: list[Tensor] | None = None

    def _resolve(self, parameters, who: str) -> list[Tensor]:
        params = self._params if parameters is None else _param_list(parameters)
        if len(params) != len(self.shadow_params):
            raise ValueError(f"ExponentialMovingAverage.{who}: got {len(params)} parameters, the average tracks "
                             f"{len(self.shadow_params)}")
        for i, (p, s) in enumerate(zip(params, self.shadow_params)):
            if p.shape != s.shape:
                raise ValueError(f"ExponentialMovingAverage.{who}: parameter {i} has shape {p.shape}, its average "
                                 f"{s.shape}")
        return params

    def update(self, parameters: Iterable[Tensor] | None = None) -> None:
        """Move every average towards the current parameter values (call after ``optimizer.step()``)."""
        params = self._resolve(parameters, "update")
        decay = self.decay
        if self.num_updates is not None:
            self.num_updates += 1
            decay = min(decay, (1 + self.num_updates) / (10 + self.num_updates))
        run_updates(_move_towards, [(s._data, p._data, {}, {"weight": 1.0 - decay})
                                    for s, p in zip(self.shadow_params, params)])

    def copy_to(self, parameters: Iterable[Tensor] | None = None) -> None:
        """Write the averages into the parameters (in place)."""
        for s, p in zip(self.shadow_params, self._resolve(parameters, "copy_to")):
            p._data[...] = s._data

    def store(self, parameters: Iterable[Tensor] | None = None) -> None:
        """Save copies of the current parameter values, for ``restore``."""
        self.collected_params = [Tensor._wrap(p._data.copy()) for p in self._resolve(parameters, "store")]

    def restore(self, parameters: Iterable[Tensor] | None = None) -> None:
        """Put back the values saved by ``store`` (after evaluating with the averages)."""
        if self.collected_params is None:
            raise RuntimeError("ExponentialMovingAverage.restore: nothing stored; call store() first")
        for c, p in zip(self.collected_params, self._resolve(parameters, "restore")):
            p._data[...] = c._data

    @contextmanager
    def average_parameters(self, parameters: Iterable[Tensor] | None = None) -> Iterator[None]:
        """Within the block the parameters hold the averages; their own values come back after it."""
        params = self._resolve(parameters, "average_parameters")
        self.store(params)
        self.copy_to(params)
        try:
            yield
        finally:
            self.restore(params)

    def state_dict(self) -> dict[str, Any]:
        """The decay, the update count and copies of the averaged (and stored) parameters."""
        return {"decay": self.decay, "num_updates": self.num_updates,
                "shadow_params": [Tensor._wrap(s._data.copy()) for s in self.shadow_params],
                "collected_params": None if self.collected_params is None
                else [Tensor._wrap(c._data.copy()) for c in self.collected_params]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict()`` returned (the same number of parameters must be tracked)."""
        shadows = state_dict["shadow_params"]
        if len(shadows) != len(self.shadow_params):
            raise ValueError(f"ExponentialMovingAverage.load_state_dict: {len(shadows)} averages saved, "
                             f"{len(self.shadow_params)} tracked")
        self.decay, self.num_updates = state_dict["decay"], state_dict["num_updates"]
        for s, saved in zip(self.shadow_params, shadows):
            s._data[...] = saved._data if isinstance(saved, Tensor) else saved
        collected = state_dict.get("collected_params")
        self.collected_params = None if collected is None else [
            Tensor._wrap((c._data if isinstance(c, Tensor) else c).copy()) for c in collected]


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable:
    """For ``AveragedModel(multi_avg_fn=...)``: averaged <- decay * averaged + (1 - decay) * current."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"get_ema_multi_avg_fn: decay must be in [0, 1], got {decay}")

    def ema_update(averaged: list, current: list, num_averaged) -> None:
        for a, c in zip(averaged, current):
            diff = a._data - c._data
            diff *= 1.0 - decay
            a._data -= diff
    return ema_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable:
    """For ``AveragedModel(avg_fn=...)``: returns decay * averaged + (1 - decay) * current."""
    def ema_update(averaged: Tensor, current: Tensor, num_averaged) -> Tensor:
        return Tensor._wrap(decay * averaged._data + (1.0 - decay) * current._data)
    return ema_update


class AveragedModel(Module):
    """A copy of ``model`` whose parameters are averages of ``model``'s over the calls of
    ``update_parameters(model)`` (PyTorch's ``torch.optim.swa_utils.AveragedModel``).

    By default the average is equal-weighted (SWA: averaged <- averaged + (current - averaged) / (n + 1));
    ``avg_fn(averaged, current, num_averaged) -> Tensor`` or ``multi_avg_fn(averaged_list, current_list,
    num_averaged)`` (e.g. ``get_ema_multi_avg_fn(0.999)``) replace it. With ``use_buffers`` the buffers
    (e.g. BatchNorm statistics) are averaged too; otherwise they keep the values copied at construction.
    Calling the AveragedModel runs the averaged copy.
    """

    def __init__(self, model: Module, device=None, avg_fn: Callable | None = None,
                 multi_avg_fn: Callable | None = None, use_buffers: bool = False):
        super().__init__()
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", Tensor._wrap(np.zeros((), dtype=np.int64)))
        self.avg_fn, self.multi_avg_fn, self.use_buffers = avg_fn, multi_avg_fn, use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _tracked(self, model: Module) -> list[Tensor]:
        if self.use_buffers:
            return list(model.parameters()) + list(model.buffers())
        return list(model.parameters())

    @no_grad()
    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current parameters (and buffers, with ``use_buffers``) into the averages."""
        averaged, current = self._tracked(self.module), self._tracked(model)
        floats = [(a, c) for a, c in zip(averaged, current) if a.dtype.kind == "f"]
        n = int(self.n_averaged._data)
        if n == 0:
            for a, c in zip(averaged, current):
                a._data[...] = c._data
        elif self.multi_avg_fn is not None:
            self.multi_avg_fn([a for a, _ in floats], [c for _, c in floats], n)
        elif self.avg_fn is not None:
            for a, c in floats:
                a._data[...] = self.avg_fn(a.detach(), c.detach(), n)._data
        else:
            for a, c in floats:
                a._data += (c._data - a._data) / (n + 1)
        self.n_averaged._data[...] = n + 1
