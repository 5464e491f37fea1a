"""Run the benchmark workloads, each framework in its own process, and print one table.

    python -m benchmarks.run                     # every workload, 5 rounds
    python -m benchmarks.run W0 W2 --rounds 7    # some of them
    python -m benchmarks.run W2 --no-variants --json results.json

For each workload, every round starts one child process per framework (PyTorch, then shendu, then
any shendu variants: A B A B ...); each child warms up ``--warmup`` steps, then times at least
``--steps`` (``benchmarks/child.py``). The table gives each framework's median step time over all
its timed steps, the ratio of the medians shendu / PyTorch (below 1.0: shendu is faster) and the
range (and median) of the per-round ratios, which shows how noisy the machine was, and the ratio of
the two fastest steps (context for a loaded machine: the step least disturbed by other work). The float32
matmul peak is measured in a child process too. ``--wait-quiet PCT`` starts each round only once
the machine's CPU pressure has fallen below PCT (or after 60 s). Only ratios from one run are
results; absolute times are context.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import statistics
import sys

from benchmarks.harness import alternate, cores, cpu_pressure, run_child
from benchmarks.workloads import target

WORKLOAD_MODULES = {
    "W0": "benchmarks.workloads.w0_op_overhead",
    "W1": "benchmarks.workloads.w1_mlp",
    "W2": "benchmarks.workloads.w2_cnn",
    "W3": "benchmarks.workloads.w3_lstm",
    "W4": "benchmarks.workloads.w4_gpt",
    "W5": "benchmarks.workloads.w5_generate",
    "W6": "benchmarks.workloads.w6_bert",
}


def _load(wid: str):
    return importlib.import_module(WORKLOAD_MODULES[wid]).WORKLOAD


def _load_avg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "?"


def run(ids, rounds: int = 5, warmup: int = 5, steps: int = 20, variants: bool = True,
        keep_blas_env: bool = False, progress=None, quiet: float | None = None) -> list[dict]:
    head = {"date": datetime.datetime.now().isoformat(timespec="minutes"), "machine": platform.processor()
            or platform.machine(), "cores": cores(), "load_before": _load_avg(), "rounds": rounds}
    peak_rep = run_child("peak", 0, 0, keep_blas_env=keep_blas_env)
    head["matmul_peak_gflops"], head["blas"] = peak_rep["times"][0], peak_rep["info"].get("blas")
    rows = []
    for wid in ids:
        w = _load(wid)
        entries = {"shendu": w.shendu, **((w.variants or {}) if variants else {})}
        baselines = {f"torch:{name}": target(b) for name, b in (w.baselines or {}).items()}
        targets = {"torch": target(w.torch), **baselines, **{name: target(b) for name, b in entries.items()}}
        if progress:
            progress(f"{wid}: {w.title}")
        timings = alternate(targets, rounds, warmup, max(steps, w.steps), keep_blas_env=keep_blas_env,
                            progress=progress, quiet_threshold=quiet)
        torch_t = timings.pop("torch")
        against = {key: timings.pop(key) for key in baselines}  # the main row compared with each baseline too
        pairs = [(name, t, torch_t) for name, t in timings.items()]
        pairs += [(f"shendu vs {key[6:]}", timings["shendu"], base) for key, base in against.items()]
        for name, t, torch_t in pairs:
            if t.info.get("torch_loaded"):
                raise RuntimeError(f"{wid} {name}: the shendu child imported PyTorch; the timing is not separate")
            per_round = [s / p for s, p in zip(t.round_medians, torch_t.round_medians)]
            row = {"id": wid, "workload": w.title, "variant": name, "shendu_ms": t.ms, "torch_ms": torch_t.ms,
                   "ratio": t.median_s / torch_t.median_s, "fastest_ratio": min(t.times) / min(torch_t.times),
                   "shendu_fastest_ms": min(t.times) * 1e3, "torch_fastest_ms": min(torch_t.times) * 1e3,
                   "round_ratio_min": min(per_round),
                   "round_ratio_max": max(per_round), "round_ratio_median": statistics.median(per_round),
                   "shendu_info": t.info, "torch_info": torch_t.info, "steps_per_process": len(t.times) // rounds}
            if w.flops:
                row["shendu_gflops"] = w.flops / t.median_s / 1e9
                row["torch_gflops"] = w.flops / torch_t.median_s / 1e9
                row["shendu_peak_share"] = row["shendu_gflops"] / head["matmul_peak_gflops"]
            if w.items_per_step:  # throughput workloads: items (tokens, sequences) per second of the medians
                row["unit"], row["shendu_rate"] = w.unit, w.items_per_step / t.median_s
                row["torch_rate"] = w.items_per_step / torch_t.median_s
            rows.append(row)
    head["load_after"] = _load_avg()
    head["cpu_pressure_after"] = cpu_pressure()
    return [head] + rows


def format_table(results: list[dict]) -> str:
    head, rows = results[0], results[1:]
    wait = f", each round after CPU pressure < {head['wait_quiet']:g}%" if head.get("wait_quiet") else ""
    lines = [f"{head['date']}, {head['cores']} cores, load average before {head['load_before']}, after "
             f"{head['load_after']}; each framework in its own process, {head['rounds']} alternating rounds{wait}",
             f"float32 matmul peak (NumPy BLAS {', '.join(head['blas'] or ['?'])}, child process): "
             f"{head['matmul_peak_gflops']:.1f} GFLOP/s", "",
             "| id | workload | shendu variant | shendu ms/step | PyTorch ms/step | ratio | per-round ratios (median) "
             "| fastest-step ratio | shendu GFLOP/s (peak share) |",
             "|----|----------|----------------|---------------:|----------------:|------:|--------------------------:"
             "|-------------------:|-----------------------------|"]
    for r in rows:
        gf = f"{r['shendu_gflops']:.1f} ({r['shendu_peak_share']:.0%})" if "shendu_gflops" in r else "-"
        spread = f"{r['round_ratio_min']:.2f}-{r['round_ratio_max']:.2f} ({r['round_ratio_median']:.2f})"
        lines.append(f"| {r['id']} | {r['workload']} | {r['variant']} | {r['shendu_ms']:.3f} | {r['torch_ms']:.3f} "
                     f"| {r['ratio']:.2f} | {spread} | {r['fastest_ratio']:.2f} | {gf} |")
    rates = [r for r in rows if "shendu_rate" in r]
    if rates:
        lines.append("")
    for r in rates:  # throughput: the inverse of the step-time ratio
        lines.append(f"{r['id']} {r['variant']}: {r['shendu_rate']:.1f} {r['unit']} against PyTorch's "
                     f"{r['torch_rate']:.1f}: {r['shendu_rate'] / r['torch_rate']:.2f}x PyTorch's {r['unit']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ids", nargs="*", help=f"workloads to run (default: all of {', '.join(WORKLOAD_MODULES)})")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of one process each (default 5)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps in each process (default 5)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps in each process, at least (default 20)")
    parser.add_argument("--no-variants", action="store_true", help="only the main shendu row of each workload")
    parser.add_argument("--keep-blas-env", action="store_true",
                        help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the children (default: unset)")
    parser.add_argument("--quiet", action="store_true", help="no per-round progress on stderr")
    parser.add_argument("--wait-quiet", type=float, default=None, metavar="PCT",
                        help="before each round wait (up to 60 s) until the CPU pressure (Linux PSI, avg10) < PCT")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    ids = [i.upper() for i in args.ids] or list(WORKLOAD_MODULES)
    unknown = [i for i in ids if i not in WORKLOAD_MODULES]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOAD_MODULES)}")
    if args.rounds < 1 or args.warmup < 5 or args.steps < 20:
        parser.error("need --rounds >= 1, --warmup >= 5 and --steps >= 20 (the benchmark method: docs/benchmarks.md)")
    progress = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    results = run(ids, args.rounds, args.warmup, args.steps, not args.no_variants, args.keep_blas_env, progress,
                  args.wait_quiet)
    print(format_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
