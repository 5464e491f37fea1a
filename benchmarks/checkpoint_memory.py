"""Peak memory of a GPT training step with and without activation checkpointing.

    python -m benchmarks.checkpoint_memory --context 512 --batch 4

W4's GPT (4 layers, d 256, 4 heads) at a longer context; each Transformer block is wrapped so that it
runs under ``shendu.utils.checkpoint.checkpoint`` (its activations recomputed in backward). The peak is
NumPy's allocations as ``tracemalloc`` sees them over one forward + backward, each configuration in a
process of its own; the gradients are checked equal.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def measure(checkpointed: bool, context: int, batch: int) -> dict:
    import tracemalloc

    import numpy as np

    import shendu as sd
    from benchmarks.workloads.w4_gpt import VOCAB, shendu_config
    from shendu.utils.checkpoint import checkpoint

    class Checkpointed(sd.nn.Module):
        def __init__(self, block):
            super().__init__()
            self.block = block

        def forward(self, x, *args):
            return checkpoint(self.block, x, *args, use_reentrant=False)

    sd.manual_seed(0)
    model = shendu_config(context)
    if checkpointed:
        model.transformer.h = sd.nn.ModuleList([Checkpointed(b) for b in model.transformer.h])
    ids = np.random.default_rng(0).integers(0, VOCAB, (batch, context + 1))
    x, y = sd.tensor(ids[:, :-1]), sd.tensor(ids[:, 1:])
    model(x, y)[1].backward()        # warm up (caches, pools), then measure a clean step
    model.zero_grad(set_to_none=True)
    tracemalloc.start()
    start = time.perf_counter()
    loss = model(x, y)[1]
    loss.backward()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    grad_norm = float(sum(float((p.grad * p.grad).sum()) for p in model.parameters()) ** 0.5)
    return {"checkpointed": checkpointed, "peak_mib": peak / 2**20, "seconds": seconds, "loss": float(loss),
            "grad_norm": grad_norm}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--context", type=int, default=512)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--child", choices=("plain", "checkpointed"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child == "checkpointed", args.context, args.batch)))
        return 0
    res = {}
    for kind in ("plain", "checkpointed"):
        out = subprocess.run([sys.executable, "-m", "benchmarks.checkpoint_memory", "--child", kind,
                              "--context", str(args.context), "--batch", str(args.batch)],
                             capture_output=True, text=True, check=True)
        res[kind] = json.loads(out.stdout.strip().splitlines()[-1])
        r = res[kind]
        print(f"{kind:13s} peak {r['peak_mib']:7.1f} MiB, step {r['seconds']:.2f} s, loss {r['loss']:.5f}, "
              f"|grad| {r['grad_norm']:.6f}")
    a, b = res["plain"], res["checkpointed"]
    print(f"checkpointing every block: peak {b['peak_mib'] / a['peak_mib']:.2f}x ({a['peak_mib'] - b['peak_mib']:.0f} "
          f"MiB less), step {b['seconds'] / a['seconds']:.2f}x the time; gradients "
          f"{'equal' if abs(a['grad_norm'] - b['grad_norm']) <= 1e-5 * a['grad_norm'] else 'DIFFER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
