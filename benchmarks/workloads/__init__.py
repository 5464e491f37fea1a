"""One module per workload of ../shared/BENCHMARKS.md; each exposes ``WORKLOAD`` (a ``Workload``)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Workload:
    """A benchmark: builders that return a zero-argument step for each framework.

    ``flops`` is the float operation count of one step when known (for GFLOP/s), ``unit`` says
    whether the ratio compares step times ("step") or throughput ("tokens/s", "seq/s").
    """

    id: str
    title: str
    shendu: Callable[[], Callable[[], object]]
    torch: Callable[[], Callable[[], object]]
    flops: float | None = None
    variants: dict | None = None  # extra PyTorch-side builders, name -> builder
    items_per_step: float | None = None  # for throughput workloads
    unit: str = "step"
    steps: int = 20  # at least this many timed steps (micro-second workloads need more)
