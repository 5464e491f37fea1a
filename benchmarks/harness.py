"""Timing helpers: median step time after warm-up, and the machine's float32 matmul peak."""
from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Timing:
    median_s: float
    steps: int

    @property
    def ms(self) -> float:
        return self.median_s * 1e3


def time_steps(step: Callable[[], object], warmup: int = 5, steps: int = 20, min_seconds: float = 0.0) -> Timing:
    """Median wall time of ``step()`` over ``steps`` timed calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    start = time.perf_counter()
    while len(times) < steps or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return Timing(statistics.median(times), len(times))


def time_interleaved(steps: dict, warmup: int = 5, rounds: int = 20, block: int | None = None) -> dict:
    """Median step time of each of several step functions, timed in alternating blocks.

    The machines are shared and noisy; alternating the frameworks exposes them to the same
    background load, so their ratio is steadier than that of two separate timing runs. Blocks of
    several consecutive steps (not single steps) keep one framework's after-effects out of the
    other's numbers: PyTorch's OpenMP threads spin on the cores for a while after each op.
    """
    block = block or max(1, rounds // 20)
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steps}
    while min(len(ts) for ts in times.values()) < rounds:
        for name, step in steps.items():
            for _ in range(block):
                t0 = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - t0)
    return {name: Timing(statistics.median(ts), len(ts)) for name, ts in times.items()}


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 GEMM rate of this machine through NumPy's BLAS (the 'peak' we compare to)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
