"""``shendu experiment NAME``: run one of the textbook's experiments (figures and report.md)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from shendu.cli._common import UsageError


def _names() -> list[str]:
    from shendu.experiments import available
    return list(available())


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("experiment", help="run one of the textbook's experiments",
                       description="Run a textbook experiment: it writes PNG figures and report.md into --out.\n"
                                   "'shendu experiment --list' names them all.")
    p.add_argument("name", nargs="?", metavar="NAME", help="the experiment to run (see --list)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--out", metavar="DIR", help="the folder for its figures and report.md (default: runs/NAME)")
    p.add_argument("--seed", type=int, default=0, help="seeds every random draw, so a seed gives the same figures")
    p.add_argument("--quick", action="store_true",
                   help="a smaller, faster run (fewer steps and draws) to check that everything works")
    p.set_defaults(func=run, parser=p)
    return p


def _describe(value) -> str:
    if isinstance(value, (tuple, list)):
        return "  ".join(map(str, value))
    return str(value)


def run(args) -> int:
    from shendu.experiments import available, run_experiment
    prog = "shendu experiment"
    if args.list or not args.name:
        for name, title in available().items():
            print(f"{name:26s} {_describe(title)}")
        return 0
    names = _names()
    if args.name not in names:
        raise UsageError(f"unknown experiment {args.name!r}; choose from {', '.join(names)}", prog)
    out = Path(args.out or f"runs/{args.name}")
    start = time.perf_counter()
    try:
        results = run_experiment(args.name, out, seed=args.seed, quick=args.quick, progress=True)
    except ValueError as e:
        raise UsageError(str(e), prog) from None
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; what {args.name} wrote so far is in {out}/ (run it again for the whole "
              "report)", file=sys.stderr)
        return 130
    print(f"{args.name}: done in {time.perf_counter() - start:.1f} s; figures and report.md in {out}/")
    for key, value in results.items():
        if isinstance(value, (int, float, str)):
            print(f"  {key}: {value}")
    return 0
