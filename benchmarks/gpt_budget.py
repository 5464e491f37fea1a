"""Learning per second: W4's GPT trained for the same wall-clock budget by shendu and by PyTorch.

    python -m benchmarks.gpt_budget --budget 120 --rounds 2

The text is the first bytes of the built-in corpus (Python's standard-library sources) as UTF-8 bytes
(vocabulary 256), prepared once by the parent; each framework trains in a process of its own (the
PyTorch child never imports shendu), the children alternating. Both draw the same sequence of
training windows, use AdamW (lr 1e-3 after 50 linear warmup steps, betas (0.9, 0.99), weight decay
0.1 on every parameter), batch 16, context 128, and stop at the first step ending past the budget; the
validation loss is the mean cross-entropy on the same fixed 32 held-out windows. The children run in
``benchmarks.run``'s environment (``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` unset). The model is W4's
(benchmarks/workloads/w4_gpt.py): 4 layers, d 256, 4 heads, learned positions, tied head; the
PyTorch side is nanoGPT's with ``scaled_dot_product_attention``. Issue 11's bar: shendu's validation
loss no worse than PyTorch's + 0.05 nats.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.harness import child_env  # the children's environment as benchmarks.run's (no OpenBLAS pins)

BATCH, BLOCK, VOCAB = 16, 128, 256
LR, WARMUP, WEIGHT_DECAY, BETAS = 1e-3, 50, 0.1, (0.9, 0.99)
EVAL_WINDOWS = 32


def prepare(path: str, max_bytes: int) -> None:
    """Write the corpus' first ``max_bytes`` bytes as uint8 ids to ``path`` (the last 5% are held out)."""
    from shendu.text.corpus import stdlib_corpus
    text = stdlib_corpus(max_bytes=max_bytes, seed=0, val_fraction=0.05, level="char").text
    np.save(path, np.frombuffer(text.encode("utf-8")[:max_bytes], dtype=np.uint8))


def windows(ids, rng, n):
    starts = rng.integers(0, len(ids) - BLOCK - 1, n)
    rows = np.stack([ids[s:s + BLOCK + 1] for s in starts]).astype(np.int64)   # (n, T + 1)
    return rows[:, :-1], rows[:, 1:]


def lr_at(step: int) -> float:
    return LR * min(1.0, (step + 1) / WARMUP)


def child(framework: str, data: str, budget: float) -> dict:
    from benchmarks.workloads.w4_gpt import shendu_config, torch_gpt
    ids = np.load(data)
    split = int(len(ids) * 0.95)
    train, val = ids[:split], ids[split:]
    val_x, val_y = windows(val, np.random.default_rng(1), EVAL_WINDOWS)
    rng = np.random.default_rng(0)
    if framework == "torch":
        import torch
        torch.manual_seed(0)
        model, fw, tensor = torch_gpt(BLOCK, VOCAB), torch, torch.tensor

        def loss_of(x, y):
            return model(x, y)[1]
    else:
        import shendu
        shendu.manual_seed(0)
        model, fw, tensor = shendu_config(BLOCK, VOCAB), shendu, shendu.tensor

        def loss_of(x, y):
            return model(x, y)[1]
    opt = fw.optim.AdamW(model.parameters(), lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY)
    model.train()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < budget:
        for group in opt.param_groups:
            group["lr"] = lr_at(steps)
        x, y = windows(train, rng, BATCH)
        loss = loss_of(tensor(x), tensor(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps += 1
    seconds = time.perf_counter() - start
    model.eval()
    with fw.no_grad():
        losses = [float(loss_of(tensor(val_x[i:i + BATCH]), tensor(val_y[i:i + BATCH])))
                  for i in range(0, EVAL_WINDOWS, BATCH)]
    return {"framework": framework, "steps": steps, "seconds": seconds, "val_loss": float(np.mean(losses)),
            "train_loss": float(loss)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=120.0, help="training seconds per run")
    p.add_argument("--rounds", type=int, default=2, help="runs per framework, alternated")
    p.add_argument("--max-bytes", type=int, default=3_000_000, help="corpus bytes")
    p.add_argument("--child", choices=("torch", "shendu"), help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.data, args.budget)))
        return 0
    results = {"torch": [], "shendu": []}
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "ids.npy")
        prepare(data, args.max_bytes)
        for r in range(args.rounds):
            for fw in ("torch", "shendu") if r % 2 == 0 else ("shendu", "torch"):
                out = subprocess.run([sys.executable, "-m", "benchmarks.gpt_budget", "--child", fw, "--data", data,
                                      "--budget", str(args.budget)], capture_output=True, text=True, check=True,
                                     env=child_env())
                res = json.loads(out.stdout.strip().splitlines()[-1])
                results[fw].append(res)
                print(f"round {r + 1} {fw:6s}: {res['steps']} steps in {res['seconds']:.0f} s, "
                      f"val loss {res['val_loss']:.3f} (train {res['train_loss']:.3f})", flush=True)
    med = {fw: statistics.median(r["val_loss"] for r in rs) for fw, rs in results.items()}
    steps = {fw: statistics.median(r["steps"] for r in rs) for fw, rs in results.items()}
    print(f"median val loss after {args.budget:.0f} s: shendu {med['shendu']:.3f} ({steps['shendu']:.0f} steps), "
          f"torch {med['torch']:.3f} ({steps['torch']:.0f} steps); shendu - torch = "
          f"{med['shendu'] - med['torch']:+.3f} nats (bar: <= +0.05)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
