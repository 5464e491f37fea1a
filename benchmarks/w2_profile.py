"""W2 (the CNN benchmark) by pieces, in CPU time, so that a shared machine's load barely moves the figures.

    python -m benchmarks.w2_profile step              # whole step: shendu vs PyTorch, 1 thread, CPU ms
    python -m benchmarks.w2_profile step --threads 2  # plus the fastest of 30 steps' wall time, 2 threads
    python -m benchmarks.w2_profile pieces            # shendu's conv / pool pieces of the step, 1 thread
    python -m benchmarks.w2_profile pieces --torch    # the same pieces in PyTorch (its own process)
    python -m benchmarks.w2_profile step --before HEAD~3   # and shendu at an earlier commit (git archive)

Every figure is the lower quartile of several repeats of ``time.thread_time()`` (the calling thread's CPU time)
with one thread everywhere (``shendu.set_num_threads(1)``: shendu's pool and BLAS; or
``torch.set_num_threads(1)``), and each framework runs in a child process of its own
(``python -m benchmarks.w2_profile _child ...``), as in ``benchmarks/run.py``. With ``--threads 2`` the
thread time no longer counts all the work, so the step's figure is then the fastest wall time.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks.harness import ROOT, child_env


def _best_cpu(fn, repeats: int, inner: int = 1) -> float:
    """Per-call thread CPU time of ``fn`` in ms: the lower quartile of ``repeats`` runs of ``inner`` calls.

    Not the minimum: on this shared VM ``thread_time`` now and then reports a run at a fraction of its
    real cost (GEMMs "at" 600 GFLOP/s on one core), and the minimum picks exactly those.
    """
    for _ in range(3):  # warm-up: first calls fault memory in and fill caches
        fn()
    times = []
    for _ in range(repeats):
        t = time.thread_time()
        for _ in range(inner):
            fn()
        times.append((time.thread_time() - t) / inner)
    return sorted(times)[len(times) // 4] * 1e3


def _step_child(framework: str, threads: int, repeats: int) -> dict:
    from benchmarks.workloads import w2_cnn
    if framework == "torch":
        import torch
        torch.set_num_threads(threads)
        step = w2_cnn.build_torch()
    else:
        import shendu
        shendu.set_num_threads(threads)
        step = w2_cnn.build_shendu()
    for _ in range(5):
        step()
    cpu = _best_cpu(step, repeats)
    walls = []
    for _ in range(30):
        t = time.perf_counter()
        step()
        walls.append(time.perf_counter() - t)
    return {"cpu_ms": cpu, "wall_min_ms": min(walls) * 1e3}


def _pieces_shendu(repeats: int) -> dict:
    import numpy as np

    import shendu
    import shendu.nn.functional as F
    shendu.set_num_threads(1)
    rng = np.random.default_rng(0)
    out = {}

    def conv_piece(name, n, c, o, hw):
        x = shendu.tensor(rng.standard_normal((n, c, hw, hw), dtype=np.float32), requires_grad=c > 1)
        w = shendu.tensor(rng.standard_normal((o, c, 3, 3), dtype=np.float32) * 0.1, requires_grad=True)
        b = shendu.tensor(rng.standard_normal(o, dtype=np.float32), requires_grad=True)
        g = shendu.tensor(rng.standard_normal((n, o, hw, hw), dtype=np.float32))
        out[f"{name} forward"] = _best_cpu(lambda: F.conv2d(x, w, b, padding=1), repeats)
        y = [None]

        def fwd_bwd():
            y[0] = F.conv2d(x, w, b, padding=1)
            y[0].backward(g)
        out[f"{name} forward+backward"] = _best_cpu(fwd_bwd, repeats)
        out[f"{name} backward"] = out[f"{name} forward+backward"] - out[f"{name} forward"]

    def pool_piece(name, shape):
        x = shendu.tensor(rng.standard_normal(shape, dtype=np.float32), requires_grad=True)
        g = shendu.tensor(rng.standard_normal(shape[:2] + (shape[2] // 2, shape[3] // 2), dtype=np.float32))
        out[f"{name} forward"] = _best_cpu(lambda: F.max_pool2d(x, 2), repeats)
        out[f"{name} forward+backward"] = _best_cpu(lambda: F.max_pool2d(x, 2).backward(g), repeats)
        out[f"{name} backward"] = out[f"{name} forward+backward"] - out[f"{name} forward"]

    conv_piece("conv1 (64,1,28,28)->32", 64, 1, 32, 28)
    conv_piece("conv2 (64,32,14,14)->64", 64, 32, 64, 14)
    pool_piece("maxpool (64,32,28,28)", (64, 32, 28, 28))
    pool_piece("maxpool (64,64,14,14)", (64, 64, 14, 14))
    return out


def _pieces_torch(repeats: int) -> dict:
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    torch.manual_seed(0)
    out = {}

    def conv_piece(name, n, c, o, hw):
        x = torch.randn(n, c, hw, hw, requires_grad=c > 1)
        w = (torch.randn(o, c, 3, 3) * 0.1).requires_grad_()
        b = torch.randn(o, requires_grad=True)
        g = torch.randn(n, o, hw, hw)
        out[f"{name} forward"] = _best_cpu(lambda: F.conv2d(x, w, b, padding=1), repeats)
        out[f"{name} forward+backward"] = _best_cpu(lambda: F.conv2d(x, w, b, padding=1).backward(g), repeats)
        out[f"{name} backward"] = out[f"{name} forward+backward"] - out[f"{name} forward"]

    def pool_piece(name, shape):
        x = torch.randn(*shape, requires_grad=True)
        g = torch.randn(*shape[:2], shape[2] // 2, shape[3] // 2)
        out[f"{name} forward"] = _best_cpu(lambda: F.max_pool2d(x, 2), repeats)
        out[f"{name} forward+backward"] = _best_cpu(lambda: F.max_pool2d(x, 2).backward(g), repeats)
        out[f"{name} backward"] = out[f"{name} forward+backward"] - out[f"{name} forward"]

    conv_piece("conv1 (64,1,28,28)->32", 64, 1, 32, 28)
    conv_piece("conv2 (64,32,14,14)->64", 64, 32, 64, 14)
    pool_piece("maxpool (64,32,28,28)", (64, 32, 28, 28))
    pool_piece("maxpool (64,64,14,14)", (64, 64, 14, 14))
    return out


def _child(argv) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["step", "pieces"])
    parser.add_argument("framework", choices=["shendu", "torch"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--expect-tree", help="fail unless shendu is imported from this folder")
    args = parser.parse_args(argv)
    if args.expect_tree and args.framework == "shendu":
        import shendu
        if not os.path.abspath(shendu.__file__).startswith(os.path.abspath(args.expect_tree)):
            raise RuntimeError(f"shendu imported from {shendu.__file__}, expected {args.expect_tree}")
    if args.what == "step":
        result = _step_child(args.framework, args.threads, args.repeats)
    else:
        result = (_pieces_torch if args.framework == "torch" else _pieces_shendu)(args.repeats)
    print(json.dumps(result))
    return 0


def _run_child(*args: str, tree: str | None = None) -> dict:
    """One child process; ``tree`` runs shendu (and the workload) from another checkout instead of this one."""
    # the children run without the development machines' OpenBLAS kernel pins, as benchmarks/run.py's do
    env = child_env()
    cmd = [sys.executable, "-m", "benchmarks.w2_profile", "_child", *args]
    if tree is not None:
        env["PYTHONPATH"] = tree + os.pathsep + env["PYTHONPATH"]
        cmd = [sys.executable, os.path.abspath(__file__), "_child", *args, "--expect-tree", tree]
    proc = subprocess.run(cmd, cwd=tree or ROOT, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"w2_profile child {args} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _export(rev: str) -> str:
    """A copy of the checkout at ``rev`` (``git archive``) in a temporary folder."""
    out = tempfile.mkdtemp(prefix="w2_profile_")
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", out], input=archive, check=True)
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        return _child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["step", "pieces"])
    parser.add_argument("--threads", type=int, default=1, help="also time the step with this many threads")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--torch", action="store_true", help="pieces: PyTorch's too")
    parser.add_argument("--before", metavar="REV", help="also shendu at this git revision (a copy in a temp folder)")
    parser.add_argument("--rounds", type=int, default=1, help="step: alternate the frameworks this many times")
    args = parser.parse_args(argv)
    before = _export(args.before) if args.before else None
    try:
        if args.what == "pieces":
            rows, rep = {}, ("--repeats", str(args.repeats))
            if before:
                rows[f"@{args.before[:8]}"] = _run_child("pieces", "shendu", *rep, tree=before)
            rows["shendu"] = _run_child("pieces", "shendu", *rep)
            if args.torch:
                rows["torch"] = _run_child("pieces", "torch", *rep)
            print(f"{'piece (1 thread, CPU ms, lower quartile)':44s}" + "".join(f"{k:>10s}" for k in rows))
            for name in rows["shendu"]:
                print(f"{name:44s}" + "".join(f"{r[name]:10.3f}" for r in rows.values()))
            return 0
        threads = sorted({1, args.threads})
        runs = [("torch", None, "torch"), ("shendu", None, "shendu")]
        if before:
            runs.append(("shendu", before, f"shendu@{args.before[:8]}"))
        for _ in range(args.rounds):
            for n in threads:
                for fw, tree, label in runs:
                    r = _run_child("step", fw, "--threads", str(n), "--repeats", str(args.repeats), tree=tree)
                    print(f"{label:16s} {n} thread(s): step CPU {r['cpu_ms']:7.2f} ms (main thread), "
                          f"fastest wall of 30 steps {r['wall_min_ms']:7.2f} ms", flush=True)
        return 0
    finally:
        if before:
            shutil.rmtree(before, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
