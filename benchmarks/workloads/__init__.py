"""One module per benchmark workload (docs/benchmarks.md); each exposes ``WORKLOAD`` (a ``Workload``)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Workload:
    """A benchmark: builders that return a zero-argument step for each framework.

    Builders are module-level functions (or ``(function, arg)`` pairs) because each one runs in a
    child process of its own, named by ``target()``. ``flops`` is the float operation count of one
    step when known (for GFLOP/s), ``unit`` says whether the ratio compares step times ("step") or
    throughput ("tokens/s", "seq/s").
    """

    id: str
    title: str
    shendu: Callable[[], Callable[[], object]]
    torch: Callable[[], Callable[[], object]]
    flops: float | None = None
    variants: dict | None = None  # extra shendu-side builders, name -> builder or (builder, str arg)
    baselines: dict | None = None  # extra PyTorch-side builders (name -> build_torch_* builder): a row each
    items_per_step: float | None = None  # for throughput workloads
    unit: str = "step"
    steps: int = 20  # at least this many timed steps (micro-second workloads need more)


def target(builder) -> str:
    """``module:function[:arg]`` for ``benchmarks.child``."""
    fn, arg = builder if isinstance(builder, tuple) else (builder, "")
    return f"{fn.__module__}:{fn.__name__}" + (f":{arg}" if arg else "")
