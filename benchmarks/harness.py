"""Timing helpers: every measurement runs in a child process of its own, alternated across rounds.

In one process two frameworks change each other's speed: each one's thread pools (PyTorch's OpenMP,
OpenBLAS, shendu's pool) spin on the cores after their work, and shendu's host-allocator setting
speeds up PyTorch's allocations too. So ``alternate`` starts one child process per framework per
round (A B A B ...), each warming up and then timing its own steps (``benchmarks/child.py``), and
reports each framework's median over all its timed steps.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Set on some machines to work around old OpenBLAS builds; they pin a current NumPy to a slower kernel
# than the processor has, so the children run without them unless asked to keep them.
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@dataclass
class Timing:
    """One framework's timed steps over every round (seconds)."""

    times: list = field(default_factory=list)
    round_medians: list = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times)

    @property
    def ms(self) -> float:
        return self.median_s * 1e3


def time_steps(step: Callable[[], object], warmup: int = 5, steps: int = 20) -> list:
    """Wall times of ``steps`` calls of ``step()`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def child_env(keep_blas_env: bool = False, extra_env: dict | None = None) -> dict:
    env = dict(os.environ, **(extra_env or {}))
    if not keep_blas_env:
        for name in BLAS_ENV:
            env.pop(name, None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_child(target: str, warmup: int, steps: int, *, keep_blas_env: bool = False, extra_env: dict | None = None,
              timeout: float = 900) -> dict:
    """Run ``python -m benchmarks.child TARGET`` and return what it reports (``times`` and ``info``).

    A target naming a ``build_torch*`` builder gets PyTorch's threads set to the available cores first.
    """
    cmd = [sys.executable, "-m", "benchmarks.child", target, "--warmup", str(warmup), "--steps", str(steps)]
    if target.partition(":")[2].startswith("build_torch"):
        cmd += ["--torch-threads", str(cores())]
    out = subprocess.run(cmd, cwd=ROOT, env=child_env(keep_blas_env, extra_env), capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child {target!r} failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_pressure() -> float | None:
    """Share of the last 10 s in which some runnable task waited for a CPU (Linux PSI), in percent."""
    try:
        with open("/proc/pressure/cpu") as f:
            return float(f.readline().split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return None


def wait_quiet(threshold: float, timeout: float) -> float | None:
    """Wait (at most ``timeout`` s) until other work leaves the CPUs: PSI below ``threshold`` percent."""
    deadline = time.monotonic() + timeout
    while True:
        p = cpu_pressure()
        if p is None or p < threshold or time.monotonic() > deadline:
            return p
        time.sleep(1.0)


def alternate(targets: dict, rounds: int = 5, warmup: int = 5, steps: int = 20, *, keep_blas_env: bool = False,
              extra_env: dict | None = None, progress: Callable[[str], None] | None = None,
              quiet_threshold: float | None = None, quiet_timeout: float = 60.0) -> dict:
    """Each target (name -> child target string) timed in its own process, A B A B ... for ``rounds``.

    With ``quiet_threshold``, each round first waits (up to ``quiet_timeout`` s) for the machine's CPU
    pressure to fall below it, so that both processes of a round meet the same, lighter load.
    Returns name -> Timing with every timed step of every round.
    """
    results = {name: Timing() for name in targets}
    for r in range(rounds):
        if quiet_threshold is not None:
            wait_quiet(quiet_threshold, quiet_timeout)
        for name, target in targets.items():
            rep = run_child(target, warmup, steps, keep_blas_env=keep_blas_env, extra_env=extra_env)
            res = results[name]
            res.times.extend(rep["times"])
            res.round_medians.append(statistics.median(rep["times"]))
            res.info = rep["info"]
            if progress:
                progress(f"  round {r + 1}/{rounds} {name}: {res.round_medians[-1] * 1e3:.3f} ms")
    return results


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 GEMM rate through NumPy's BLAS (the 'peak' we compare to); run it in a child."""
    import numpy as np
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = a @ b
    err = np.abs(c[:8] - (a[:8].astype(np.float64) @ b.astype(np.float64))).max()
    if not err < 1e-2 * np.sqrt(n):  # the BLAS kernel chosen for this processor must compute right
        raise RuntimeError(f"matmul peak: float32 GEMM differs from float64 by {err}")
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
