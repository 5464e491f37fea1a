"""One benchmark measurement in a process of its own (started by ``benchmarks.harness.run_child``).

    python -m benchmarks.child benchmarks.workloads.w2_cnn:build_torch --warmup 5 --steps 20
    python -m benchmarks.child peak

``MODULE:BUILDER[:ARG]`` names a function that returns a zero-argument step (called with ARG when
given); the child sets PyTorch's threads first when asked (``--torch-threads``), builds it, warms
up, times the steps and prints one JSON line: ``{"times": [...], "info": {...}}``.
``info`` says whether PyTorch was loaded (it must not be in a shendu child), the thread counts and
the BLAS kernel in use.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from benchmarks.harness import matmul_peak_gflops, time_steps


def _info() -> dict:
    info = {"torch_loaded": "torch" in sys.modules, "shendu_loaded": "shendu" in sys.modules, "pid": os.getpid()}
    if info["torch_loaded"]:
        import torch
        info["torch_threads"] = torch.get_num_threads()
    if info["shendu_loaded"]:
        import shendu
        info["shendu_threads"] = shendu.get_num_threads()
    try:
        from threadpoolctl import threadpool_info
        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        info["blas"] = [f"{i.get('internal_api')} {i.get('architecture')} x{i.get('num_threads')}" for i in blas]
    except ImportError:  # pragma: no cover
        pass
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="MODULE:BUILDER[:ARG], or 'peak' for the matmul peak")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="import PyTorch and set its threads before building (0: leave PyTorch alone)")
    args = parser.parse_args(argv)
    if args.target == "peak":
        import numpy  # noqa: F401  (loaded before _info reads the BLAS kernel)
        gflops = matmul_peak_gflops()
        print(json.dumps({"times": [gflops], "info": _info()}))
        return 0
    module, _, rest = args.target.partition(":")
    name, _, arg = rest.partition(":")
    if args.torch_threads:
        import torch
        torch.set_num_threads(args.torch_threads)
    builder = getattr(importlib.import_module(module), name)
    step = builder(arg) if arg else builder()
    times = time_steps(step, args.warmup, args.steps)
    print(json.dumps({"times": times, "info": _info()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
