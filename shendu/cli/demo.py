"""``shendu demo``: the tour. An MLP learns the digits, the curve-fitting experiment draws its figures, and a
small GPT learns Python from the standard library's own sources, then writes some code.

The GPT step runs ``shendu train gpt`` itself, so its folder (``OUT/gpt``) is an ordinary run folder:
``shendu train gpt --resume OUT/gpt --epochs 20`` continues it, ``shendu generate`` and ``shendu chat``
read it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from shendu.cli._common import UsageError, int_at_least, progress_callbacks

GPT_EPOCHS, GPT_STEPS = 8, 100      # under two minutes on two cores (validation loss ~3.9 nats)
# --quick: a tiny GPT on a sliver of the corpus, enough to exercise every stage in seconds.
QUICK_GPT = ["--epochs", "2", "--steps-per-epoch", "5", "--eval-batches", "2", "--max-bytes", "60000",
             "--vocab-size", "300", "--n-layer", "1", "--n-embd", "32", "--block-size", "32", "--batch-size", "4",
             "--warmup-steps", "2", "--sample-length", "20"]


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="the tour: digits, curve fitting, then a small GPT that writes Python",
                       description="A few-minute tour: a 64-128-64-10 MLP learns the 8x8 digits, the textbook's\n"
                                   "polynomial curve fitting writes its figures and report, then a small GPT\n"
                                   "learns Python from the standard library's sources and writes some code.")
    p.add_argument("--out", default="runs/demo", metavar="DIR",
                   help="the folder for the checkpoints, figures and reports")
    p.add_argument("--epochs", type=int_at_least(1), default=30, help="epochs of digits training")
    p.add_argument("--seed", type=int, default=0, help="seeds the data split, the initialization and the noise")
    p.add_argument("--gpt-epochs", type=int_at_least(0), default=GPT_EPOCHS,
                   help=f"GPT evaluation rounds of {GPT_STEPS} steps each (0: skip the GPT)")
    p.add_argument("--quick", action="store_true", help="fewer steps everywhere (a smoke test of the tour)")
    p.set_defaults(func=run, parser=p)
    return p


def run(args) -> int:
    from shendu.experiments import run_experiment
    from shendu.train.recipes import train_classifier
    start = time.perf_counter()
    steps = 3 if args.gpt_epochs else 2
    print(f"shendu demo 1/{steps}: a 64-128-64-10 MLP learns the 8x8 handwritten digits (scikit-learn's copy)",
          flush=True)
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
    print(f"shendu demo 2/{steps}: polynomial curve fitting (the textbook's first chapter)", flush=True)
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
    if args.gpt_epochs:
        status = _gpt(args, Path(args.out) / "gpt", steps)
        if status:
            return status
    print(f"demo finished in {time.perf_counter() - start:.1f} s")
    return 0


def _gpt(args, out: Path, steps: int) -> int:
    """Step 3: ``shendu train gpt`` on the built-in corpus, then a code sample from the best checkpoint."""
    from shendu.cli import build_parser
    from shendu.train.gpt import generate_text, load_gpt

    print(f"shendu demo {steps}/{steps}: a small GPT learns Python from the standard library's sources", flush=True)
    argv = ["train", "gpt", "--out", str(out), "--overwrite", "--seed", str(args.seed)]
    argv += QUICK_GPT if args.quick else ["--epochs", str(args.gpt_epochs), "--steps-per-epoch", str(GPT_STEPS)]
    gpt_args = build_parser().parse_args(argv)
    gpt_args.argv = argv
    status = gpt_args.func(gpt_args)
    if status:
        return status
    import shendu as sd
    model, tokenizer = load_gpt(out)
    code = generate_text(model, tokenizer, "def ", 20 if args.quick else 120, temperature=0.7, top_k=40,
                         block_size=model.config.block_size, generator=sd.Generator().manual_seed(args.seed))
    print("  generated from the prompt 'def ' (best checkpoint, temperature 0.7, top-k 40):")
    print("\n".join("    | " + line for line in code.splitlines()))
    print(f"  continue training: shendu train gpt --resume {out} --epochs {2 * max(args.gpt_epochs, 1)}\n"
          f"  write more code:   shendu generate --checkpoint {out} --prompt 'def '\n"
          f"  teach it to chat:  shendu train sft --base {out} --out {out.parent / 'sft'}, then "
          f"shendu chat --checkpoint {out.parent / 'sft'}")
    return 0

