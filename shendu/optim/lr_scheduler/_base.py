"""The base of every scheduler: ``LRScheduler`` (``step``, ``get_last_lr``, ``state_dict``, the
``step(epoch)`` closed forms) and the small helpers the scheduler modules share."""
from __future__ import annotations

import warnings
from typing import Any

from shendu.optim.optimizer import Optimizer


def _group_lrs(optimizer: Optimizer) -> list[float]:
    return [group["lr"] for group in optimizer.param_groups]


def _per_group(name: str, optimizer: Optimizer, value) -> list:
    """``value`` repeated for every param group, or a list/tuple checked to have one entry per group."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name} must have one value per param group: got {len(value)} values for "
                             f"{len(optimizer.param_groups)} groups")
        return list(value)
    return [value] * len(optimizer.param_groups)


def _check_optimizer(optimizer: Any, who: str) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{who}: expected a shendu.optim.Optimizer, got {type(optimizer).__name__}")


class LRScheduler:
    """Base class: ``step()``, ``get_last_lr()``, ``state_dict()``/``load_state_dict()``.

    Args:
        optimizer: the wrapped optimizer.
        last_epoch: index of the last step taken; -1 starts fresh (and records each group's
            ``initial_lr``), a value >= 0 resumes (the groups must already hold ``initial_lr``).

    Attributes:
        base_lrs: each group's ``initial_lr``. last_epoch: steps taken (0 after construction).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        _check_optimizer(optimizer, type(self).__name__)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: param_groups[{i}] has no 'initial_lr', which resuming "
                                   f"with last_epoch={last_epoch} needs; load the optimizer's state_dict first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rates for the current ``last_epoch`` (the chainable form)."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step`` set, one per param group."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance the schedule one step and write the new learning rate into every param group.

        Call it after ``optimizer.step()``: once per epoch, or once per batch for per-step schedules
        (``OneCycleLR``, ``CyclicLR``). ``step(epoch)`` (deprecated, warns) jumps to ``epoch``.
        """
        self._step_count += 1
        if epoch is not None:
            warnings.warn("LRScheduler.step(epoch) is deprecated: call step() once per step; with an epoch the "
                          "closed form is used where there is one", UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = _group_lrs(self.optimizer)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer (plain data: numbers, lists, dicts)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict()`` returned (to resume a schedule where it stopped)."""
        self.__dict__.update(state_dict)
