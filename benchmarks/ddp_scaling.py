"""DDP scaling of the W4 GPT training step (AdamW) on 1 vs 2 processes, its communication, and ZeRO-1's saving.

    python benchmarks/ddp_scaling.py [--steps 6] [--nprocs 1 2]

Each world size runs under ``mpiexec -n N`` (``shendu run``'s mpiexec) with the W4 model wrapped in
DistributedDataParallel: *strong* scaling splits W4's global batch of 16 over the ranks, *weak* scaling
gives every rank the full 16. Per step: the median wall time, the bytes each rank hands to MPI
(``shendu.distributed.stats``: the gradient all-reduce buckets), and the optimizer-state bytes per rank
with plain AdamW vs ``ZeroRedundancyOptimizer(AdamW)``. Threads per rank: the machine's cores divided
by the ranks (``SHENDU_NUM_THREADS``), so 2 processes on 2 cores get one thread each.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(steps: int, mode: str, zero: bool) -> None:
    sys.path.insert(0, ROOT)
    import numpy as np

    import shendu as sd
    import shendu.distributed as dist
    from benchmarks.workloads.w4_gpt import BATCH, BLOCK, LR, VOCAB, WEIGHT_DECAY, shendu_config
    from shendu.distributed.optim import ZeroRedundancyOptimizer
    from shendu.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("mpi")
    r, n = dist.get_rank(), dist.get_world_size()
    sd.manual_seed(0)
    model = DDP(shendu_config())
    per_rank = BATCH // n if mode == "strong" else BATCH
    rng = np.random.default_rng(r)
    tokens = rng.integers(0, VOCAB, (per_rank, BLOCK + 1))
    x, y = sd.tensor(tokens[:, :-1]), sd.tensor(tokens[:, 1:])
    if zero:
        opt = ZeroRedundancyOptimizer(model.parameters(), sd.optim.AdamW, lr=LR, weight_decay=WEIGHT_DECAY)
    else:
        opt = sd.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    times, sent = [], []
    for _ in range(steps + 1):  # the first step warms up (allocations, buckets)
        dist.barrier()
        dist.stats.reset()
        t0 = time.perf_counter()
        opt.zero_grad()
        _, loss = model(x, y)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        sent.append(dist.stats.bytes_sent)
    if zero:
        state = opt.local_state_bytes()
    else:
        state = sum(v._data.nbytes for s in opt.state.values() for v in s.values() if isinstance(v, sd.Tensor))
    states = [None] * n
    dist.all_gather_object(states, state)
    if r == 0:
        print("RESULT " + json.dumps({
            "nproc": n, "mode": mode, "zero": zero, "per_rank_batch": per_rank,
            "step_ms": 1e3 * float(np.median(times[1:])), "bytes_per_step": int(np.median(sent[1:])),
            "grad_bytes": int(sum(p.numel() * 4 for p in model.parameters())),
            "buckets": len(model._buckets), "state_bytes_per_rank": states}), flush=True)
    dist.destroy_process_group()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--nprocs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--child", nargs=2, metavar=("MODE", "ZERO"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.steps, args.child[0], args.child[1] == "1")
        return 0
    from shendu.cli.run import find_mpiexec
    mpiexec = find_mpiexec()
    if mpiexec is None:
        print("ddp_scaling: mpiexec not found (pip install -e '.[distributed]')", file=sys.stderr)
        return 1
    cores = os.cpu_count() or 1
    rows = []
    for mode, zero in (("strong", False), ("weak", False), ("strong", True)):
        for n in args.nprocs:
            env = dict(os.environ, SHENDU_NUM_THREADS=str(max(1, cores // n)), PYTHONPATH=ROOT)
            cmd = [mpiexec, "-n", str(n), sys.executable, os.path.abspath(__file__), "--steps", str(args.steps),
                   "--child", mode, "1" if zero else "0"]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
            line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if out.returncode or line is None:
                print(out.stdout + out.stderr, file=sys.stderr)
                return 1
            rows.append(json.loads(line[7:]))
    print(f"W4 GPT step + AdamW under DDP on {cores} cores ({args.steps} timed steps, median)")
    print(f"{'mode':8} {'opt':10} {'ranks':>5} {'batch/rank':>10} {'step ms':>9} {'samples/s':>10} "
          f"{'MPI MB/step/rank':>17} {'opt state MB/rank':>18}")
    for row in rows:
        total = row["per_rank_batch"] * row["nproc"]
        state = "/".join(f"{b / 2**20:.2f}" for b in row["state_bytes_per_rank"])
        opt = "ZeRO-1" if row["zero"] else "AdamW"
        print(f"{row['mode']:8} {opt:10} {row['nproc']:>5} {row['per_rank_batch']:>10} "
              f"{row['step_ms']:>9.1f} {1e3 * total / row['step_ms']:>10.1f} {row['bytes_per_step'] / 2**20:>17.2f} "
              f"{state:>18}")
    print(f"gradient bytes: {rows[0]['grad_bytes'] / 2**20:.2f} MB in {rows[0]['buckets']} bucket(s) of 25 MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
