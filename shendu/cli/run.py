"""``shendu run --nproc N [--hosts h1,h2] script.py args...`` (or ``-m MODULE args...``): a multi-process
job through mpiexec.

Each of the N processes runs ``python -m shendu.distributed.launch script.py args...`` (PyTorch's
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set; a rank that raises aborts the job with its traceback). The
mpiexec is the one next to this Python (the venv's, from the mpich wheel) or else the first on PATH;
``--hosts`` passes a host list for several machines (each must have the same environment and paths).
The exit status is mpiexec's.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from shendu.cli._common import UsageError, int_at_least

__all__ = ["add_parser", "find_mpiexec", "mpiexec_command", "run"]


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="run a script on N processes (data-parallel training over MPI)",
                       description="Start N copies of a script under mpiexec, one rank each; the script calls\n"
                                   "shendu.distributed.init_process_group() and trains with\n"
                                   "DistributedDataParallel. Example:\n"
                                   "  shendu run --nproc 2 train.py --epochs 3")
    p.add_argument("--nproc", "--nproc-per-node", "--nproc_per_node", dest="nproc", type=int_at_least(1), default=1,
                   help="the number of processes")
    p.add_argument("--hosts", default=None, metavar="H1,H2",
                   help="comma-separated hosts to spread the processes over (default: this machine)")
    p.add_argument("--mpiexec", default=None, metavar="PATH", help="the mpiexec to use (default: next to python, "
                   "else on PATH)")
    p.add_argument("-m", dest="module", default=None, metavar="MODULE",
                   help="run a module as 'python -m MODULE' does (e.g. -m shendu train gpt ...)")
    p.add_argument("script", nargs="?", default=None, help="the Python script to run")
    p.add_argument("script_args", nargs=argparse.REMAINDER, help="arguments passed on to the script")
    p.set_defaults(func=run, parser=p)
    return p


def find_mpiexec(explicit: str | None = None) -> str | None:
    """The mpiexec to use: ``explicit``, else the one beside ``sys.executable``, else the first on PATH."""
    if explicit:
        return explicit if os.path.isfile(explicit) or shutil.which(explicit) else None
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    return shutil.which("mpiexec") or shutil.which("mpirun")


def mpiexec_command(mpiexec: str, nproc: int, script: str, script_args: list[str], hosts: str | None = None) -> list:
    """The argv that starts ``nproc`` ranks of ``script`` (or ``-m`` and a module) with ``script_args``:
    ``mpiexec -n N [-hosts H1,H2] python -m shendu.distributed.launch script args...``."""
    cmd = [mpiexec, "-n", str(nproc)]
    if hosts:
        cmd += ["-hosts", hosts]
    return cmd + [sys.executable, "-m", "shendu.distributed.launch", script, *script_args]


def run(args) -> int:
    if args.module is not None:
        target, rest = "-m", [args.module, *([args.script] if args.script is not None else []), *args.script_args]
    elif args.script is None:
        raise UsageError("give a script to run (or -m MODULE) (see 'shendu run --help')", "shendu run")
    elif not os.path.isfile(args.script):
        raise UsageError(f"no such script: {args.script}", "shendu run")
    else:
        target, rest = args.script, list(args.script_args)
    if args.hosts is not None and not [h for h in args.hosts.split(",") if h.strip()]:
        raise UsageError(f"--hosts needs host names separated by commas, got {args.hosts!r}", "shendu run")
    mpiexec = find_mpiexec(args.mpiexec)
    if mpiexec is None:
        print("shendu run: mpiexec not found (looked next to python and on PATH); install the MPI runtime with "
              "pip install \"shendu[distributed]\" or a system MPI", file=sys.stderr)
        return 1
    cmd = mpiexec_command(mpiexec, args.nproc, target, rest, args.hosts)
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 130
