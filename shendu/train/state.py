"""The state a ``Trainer``'s steps share, each piece named, owned by the trainer, with its reset point.

- ``GradientAccumulation`` (``trainer.accumulation``): where the current micro-batch lies in its
  accumulation window. ``fit`` resets it at every epoch's start; ``Trainer.optimizer_step``
  advances it after every training batch.
- ``EpochMetrics`` (``trainer.train_metrics``, ``trainer.eval_metrics``): the sample-weighted
  running loss and the metrics of one pass over data. ``fit`` resets the training one at every
  epoch's start; ``evaluate`` and each validation run reset the evaluation one before they begin.
"""
from __future__ import annotations

import copy
from typing import Any

from shendu.metrics.base import Mean, Metric


class GradientAccumulation:
    """``steps`` micro-batches per optimizer step.

    The loss of each micro-batch is scaled by ``1 / window`` (``window``: the micro-batches of its
    window), so ``k`` batches of ``n`` equal one batch of ``k * n`` under a mean loss. When the
    epoch's length is known the last window may be shorter and is scaled by its own length.

    Attributes:
        steps: micro-batches per optimizer step.
        num_batches: batches in this epoch, or None when the loader has no length.
        micro_batch: index, within the epoch, of the current micro-batch.
        final: set by the loop on an epoch's last batch when ``num_batches`` is unknown, so the
            window ends there.
    """

    def __init__(self, steps: int = 1):
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"Trainer: grad_accumulation_steps must be an integer >= 1, got {steps!r}")
        self.steps = steps
        self.reset()

    def reset(self, num_batches: int | None = None) -> None:
        """Start an epoch of ``num_batches`` batches (None: unknown)."""
        self.num_batches, self.micro_batch, self.final = num_batches, 0, False

    @property
    def window(self) -> int:
        """Micro-batches in the current micro-batch's window."""
        start = self.micro_batch - self.micro_batch % self.steps
        return min(self.steps, self.num_batches - start) if self.num_batches else self.steps

    @property
    def ends_window(self) -> bool:
        """Whether the optimizer steps after the current micro-batch."""
        done = self.micro_batch + 1
        return self.final or done % self.steps == 0 or done == self.num_batches

    def advance(self) -> None:
        """Count one micro-batch as done (after its backward)."""
        self.micro_batch += 1
        self.final = False


class EpochMetrics:
    """The running loss (a ``Mean`` weighted by each batch's samples) and ``metrics`` of one pass.

    Attributes: ``loss`` (the ``Mean``), ``metrics`` (``{name: Metric}``).
    """

    def __init__(self, metrics: dict[str, Metric]):
        self.loss = Mean()
        self.metrics = metrics

    def copy(self) -> EpochMetrics:
        """Fresh, independent metrics of the same kinds (for evaluation beside training)."""
        return EpochMetrics(copy.deepcopy(self.metrics))

    def reset(self) -> None:
        """Clear the running loss and every metric (at the start of each epoch or evaluation)."""
        self.loss.reset()
        for metric in self.metrics.values():
            metric.reset()

    def update(self, loss: float | None, outputs: Any, targets: Any, num_samples: int) -> None:
        """Add one batch: its mean ``loss`` (None: not computed) over ``num_samples`` and its outputs."""
        if loss is not None:
            self.loss.update(loss, weight=num_samples)
        if targets is not None:
            for metric in self.metrics.values():
                metric.update(outputs, targets)

    def result(self, with_loss: bool = True) -> dict:
        """``{"loss": ...}`` (NaN when no loss was added) and every metric's value."""
        out = {"loss": self.loss.compute()} if with_loss else {}
        out.update({name: metric.compute() for name, metric in self.metrics.items()})
        return out
