"""The ``shendu`` command: the demo, the textbook experiments, and training on bundled data.

    shendu demo                          # train on the digits, then the curve-fitting experiment
    shendu experiment --list
    shendu experiment curve-fitting --out runs/curve-fitting --seed 0
    shendu train --dataset digits --hidden 128 64 --epochs 30 --optimizer adam --out runs/digits
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _experiment(args) -> int:
    from shendu.experiments import available, run_experiment
    if args.list or not args.name:
        for name, title in available().items():
            print(f"{name:26s} {title}")
        return 0
    out = Path(args.out or f"runs/{args.name}")
    start = time.perf_counter()
    results = run_experiment(args.name, out, seed=args.seed, quick=args.quick)
    print(f"{args.name}: done in {time.perf_counter() - start:.1f} s; figures and report.md in {out}/")
    for key, value in results.items():
        if isinstance(value, (int, float, str)):
            print(f"  {key}: {value}")
    return 0


def _train(args) -> int:
    from shendu.train.recipes import train_classifier
    result = train_classifier(dataset=args.dataset, hidden=args.hidden, epochs=args.epochs, lr=args.lr,
                              optimizer=args.optimizer, batch_size=args.batch_size, dropout=args.dropout,
                              weight_decay=args.weight_decay, seed=args.seed, out=args.out,
                              resume=args.resume, verbose=1)
    print(f"{args.dataset}: test accuracy {result['test_accuracy']:.4f} after {result['epochs']} epochs "
          f"({result['seconds']:.1f} s); checkpoints in {result['out']}/")
    return 0


def _demo(args) -> int:
    from shendu.experiments import run_experiment
    from shendu.train.recipes import train_classifier
    start = time.perf_counter()
    print("shendu demo 1/2: a 64-128-64-10 MLP learns the 8x8 handwritten digits (scikit-learn's copy)")
    result = train_classifier(dataset="digits", hidden=[128, 64], epochs=args.epochs, lr=1e-3,
                              optimizer="adam", batch_size=64, dropout=0.1, seed=args.seed,
                              out=str(Path(args.out) / "digits"), verbose=1)
    print(f"  test accuracy: {result['test_accuracy']:.4f} ({result['seconds']:.1f} s)")
    print("shendu demo 2/2: polynomial curve fitting (the textbook's first chapter)")
    out = Path(args.out) / "curve-fitting"
    r = run_experiment("curve-fitting", out, seed=args.seed, quick=args.quick)
    med = r["median_over_draws"]
    print(f"  median over {med['draws']} training sets: test E_RMS M=3 {med['test'][3]:.3f}, M=9 {med['test'][9]:.3f} "
          f"(train {med['train'][9]:.1e}), M=9 with ln λ=-18 {med['m9_ln_lambda_-18_test']:.3f}")
    print(f"  figures and report.md in {out}/")
    print(f"demo finished in {time.perf_counter() - start:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shendu", description="shendu (深度): deep learning from first principles")
    sub = parser.add_subparsers(dest="command")

    demo = sub.add_parser("demo", help="train on the digits, then run the curve-fitting experiment")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--epochs", type=int, default=30)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quick", action="store_true", help="fewer steps where an experiment allows it")
    demo.set_defaults(func=_demo)

    exp = sub.add_parser("experiment", help="run one of the textbook's experiments")
    exp.add_argument("name", nargs="?")
    exp.add_argument("--list", action="store_true")
    exp.add_argument("--out")
    exp.add_argument("--seed", type=int, default=0)
    exp.add_argument("--quick", action="store_true")
    exp.set_defaults(func=_experiment)

    train = sub.add_parser("train", help="train an MLP classifier on a bundled dataset")
    train.add_argument("--dataset", default="digits",
                       choices=["digits", "iris", "wine", "breast_cancer", "moons", "spirals", "xor"])
    train.add_argument("--hidden", type=int, nargs="*", default=[128, 64])
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--optimizer", default="adam", choices=["sgd", "momentum", "adam", "adamw", "rmsprop"])
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--dropout", type=float, default=0.0)
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="runs/train")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    train.set_defaults(func=_train)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
