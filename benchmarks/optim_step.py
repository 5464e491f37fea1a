"""Optimizer step cost: shendu.optim vs torch.optim over W1's parameter set (784x512+512, 512x512+512,
512x10+10 float32, 0.67M parameters), gradients fixed, each framework in its own process, alternated.

    python -m benchmarks.optim_step                 # Adam, AdamW, SGD+momentum, RMSprop
    python -m benchmarks.optim_step --shendu-threads 1

Reports median ms per ``step()`` and the ratio shendu / PyTorch (below 1.0: shendu is faster).
PyTorch runs its default CPU implementation (foreach=None, which picks the per-tensor loop on CPU).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from benchmarks.harness import alternate, cores

SHAPES = [(512, 784), (512,), (512, 512), (512,), (10, 512), (10,)]
CASES = {
    "Adam": dict(lr=1e-3),
    "AdamW": dict(lr=1e-3),
    "SGD": dict(lr=1e-2, momentum=0.9),
    "RMSprop": dict(lr=1e-3),
}


def _arrays():
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s, dtype=np.float32) * 0.05 for s in SHAPES]
    grads = [rng.standard_normal(s, dtype=np.float32) * 1e-3 for s in SHAPES]
    return params, grads


def build_shendu(name: str):
    import shendu as sd
    from shendu import optim
    from shendu.nn import Parameter
    params, grads = _arrays()
    ps = [Parameter(sd.tensor(p)) for p in params]
    for p, g in zip(ps, grads):
        p.grad = sd.tensor(g)
    return getattr(optim, name)(ps, **CASES[name]).step


def build_torch(name: str):
    import torch
    params, grads = _arrays()
    ps = [torch.nn.Parameter(torch.from_numpy(p)) for p in params]
    for p, g in zip(ps, grads):
        p.grad = torch.from_numpy(g)
    return getattr(torch.optim, name)(ps, **CASES[name]).step


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(CASES), help=f"optimizers (default: {', '.join(CASES)})")
    parser.add_argument("--shendu-threads", type=int, default=None,
                        help="SHENDU_NUM_THREADS in shendu's processes (default: the cores available)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of one process each")
    parser.add_argument("--steps", type=int, default=200, help="timed steps in each process")
    args = parser.parse_args(argv)
    env = {"SHENDU_NUM_THREADS": str(args.shendu_threads)} if args.shendu_threads else None
    print(f"each framework in its own process, {args.rounds} alternating rounds; PyTorch with {cores()} threads")
    print("| optimizer | shendu ms/step | PyTorch ms/step | ratio |")
    print("|-----------|---------------:|----------------:|------:|")
    for name in args.names:
        t = alternate({"torch": f"benchmarks.optim_step:build_torch:{name}",
                       "shendu": f"benchmarks.optim_step:build_shendu:{name}"},
                      args.rounds, warmup=10, steps=args.steps, extra_env=env)
        ours, ref = t["shendu"], t["torch"]
        print(f"| {name} | {ours.ms:.3f} | {ref.ms:.3f} | {ours.median_s / ref.median_s:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
