"""``shendu demo``: train an MLP on the digits, then run the curve-fitting experiment."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from shendu.cli._common import UsageError, int_at_least, progress_callbacks


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="train on the digits, then run the curve-fitting experiment",
                       description="A two-minute tour: a 64-128-64-10 MLP learns the 8x8 digits, then the\n"
                                   "textbook's polynomial curve fitting writes its figures and report.")
    p.add_argument("--out", default="runs/demo", metavar="DIR",
                   help="the folder for the checkpoints, figures and reports")
    p.add_argument("--epochs", type=int_at_least(1), default=30, help="epochs of digits training")
    p.add_argument("--seed", type=int, default=0, help="seeds the data split, the initialization and the noise")
    p.add_argument("--quick", action="store_true", help="fewer steps where the experiment allows it")
    p.set_defaults(func=run, parser=p)
    return p


def run(args) -> int:
    from shendu.experiments import run_experiment
    from shendu.train.recipes import train_classifier
    start = time.perf_counter()
    print("shendu demo 1/2: a 64-128-64-10 MLP learns the 8x8 handwritten digits (scikit-learn's copy)", flush=True)
    log, callbacks = progress_callbacks()
    try:
        result = train_classifier(dataset="digits", hidden=[128, 64], epochs=args.epochs, lr=1e-3,
                                  optimizer="adam", batch_size=64, dropout=0.1, seed=args.seed,
                                  out=Path(args.out) / "digits", verbose=0, callbacks=callbacks)
    except ImportError as e:
        print(f"shendu demo: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"shendu demo: interrupted in epoch {log.current}; nothing more to resume (run 'shendu demo' "
              "again)", file=sys.stderr)
        return 130
    print(f"  {result['summary']} ({result['seconds']:.1f} s)")
    print("shendu demo 2/2: polynomial curve fitting (the textbook's first chapter)", flush=True)
    out = Path(args.out) / "curve-fitting"
    try:
        r = run_experiment("curve-fitting", out, seed=args.seed, quick=args.quick, progress=True)
    except ValueError as e:
        raise UsageError(str(e), "shendu demo") from None
    except KeyboardInterrupt:
        print(f"shendu demo: interrupted; the digits run is in {Path(args.out) / 'digits'}/", file=sys.stderr)
        return 130
    try:
        med = r["median_over_draws"]
        print(f"  median over {med['draws']} training sets: test E_RMS M=3 {med['test'][3]:.3f}, "
              f"M=9 {med['test'][9]:.3f} (train {med['train'][9]:.1e}), "
              f"M=9 with ln λ=-18 {med['m9_ln_lambda_-18_test']:.3f}")
    except (KeyError, TypeError, IndexError):  # the experiment reports other numbers: its report.md has them
        pass
    print(f"  figures and report.md in {out}/")
    print(f"demo finished in {time.perf_counter() - start:.1f} s")
    return 0
