"""Run the benchmark workloads with shendu and PyTorch in one process and print one table.

    python -m benchmarks.run              # every workload
    python -m benchmarks.run W0 W1        # some of them
    python -m benchmarks.run --steps 50 --json results.json

Each workload's step runs ``--warmup`` times untimed, then at least ``--steps`` timed times; the
table reports the median step time of each framework and the ratio shendu / PyTorch (below 1.0
means shendu is faster). Only the ratio within one run is a result: the machines are shared.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys

from benchmarks.harness import cores, matmul_peak_gflops, time_interleaved

WORKLOAD_MODULES = {
    "W0": "benchmarks.workloads.w0_op_overhead",
    "W1": "benchmarks.workloads.w1_mlp",
    "W2": "benchmarks.workloads.w2_cnn",
}


def _load(wid: str):
    return importlib.import_module(WORKLOAD_MODULES[wid]).WORKLOAD


def run(ids, warmup: int, steps: int) -> list[dict]:
    import torch
    torch.set_num_threads(cores())
    peak = matmul_peak_gflops()
    rows = []
    for wid in ids:
        w = _load(wid)
        entries = {"shendu": w.shendu, **(w.variants or {})}
        timings = time_interleaved({"torch": w.torch(), **{n: b() for n, b in entries.items()}}, warmup,
                                   max(steps, w.steps))
        torch_t = timings.pop("torch")
        for name, t in timings.items():
            row = {"id": wid, "workload": w.title, "variant": name, "shendu_ms": t.ms,
                   "torch_ms": torch_t.ms, "ratio": t.median_s / torch_t.median_s}
            if w.flops:
                row["shendu_gflops"] = w.flops / t.median_s / 1e9
                row["torch_gflops"] = w.flops / torch_t.median_s / 1e9
                row["shendu_peak_share"] = row["shendu_gflops"] / peak
            rows.append(row)
    return [{"matmul_peak_gflops": peak, "cores": cores()}] + rows


def format_table(results: list[dict]) -> str:
    head, rows = results[0], results[1:]
    lines = [f"float32 matmul peak (NumPy BLAS, {head['cores']} cores): {head['matmul_peak_gflops']:.1f} GFLOP/s", "",
             "| id | workload | shendu variant | shendu ms/step | PyTorch ms/step | ratio "
             "| shendu GFLOP/s (peak share) |",
             "|----|----------|----------------|---------------:|----------------:|------:|-----------------------------|"]
    for r in rows:
        gf = f"{r['shendu_gflops']:.1f} ({r['shendu_peak_share']:.0%})" if "shendu_gflops" in r else "-"
        lines.append(f"| {r['id']} | {r['workload']} | {r['variant']} | {r['shendu_ms']:.3f} | {r['torch_ms']:.3f} "
                     f"| {r['ratio']:.2f} | {gf} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ids", nargs="*", help=f"workloads to run (default: all of {', '.join(WORKLOAD_MODULES)})")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    ids = [i.upper() for i in args.ids] or list(WORKLOAD_MODULES)
    unknown = [i for i in ids if i not in WORKLOAD_MODULES]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOAD_MODULES)}")
    results = run(ids, args.warmup, args.steps)
    print(format_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
