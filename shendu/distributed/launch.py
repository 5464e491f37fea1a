"""``python -m shendu.distributed.launch script.py args...``: what each rank of ``shendu run`` executes.

It sets PyTorch's launcher variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``,
from MPI's ``PMI_*``/``OMPI_*``) so torchrun-style programs find them, gives each rank its share of the
machine's cores (``SHENDU_NUM_THREADS``, unless it or ``OMP_NUM_THREADS`` is set), installs the hook that turns an
uncaught exception on any rank into that rank's traceback plus an MPI abort of the whole job (so the
other ranks don't wait forever), then runs the script as ``__main__``.
"""
from __future__ import annotations

import os
import runpy
import sys

_ENV = {"RANK": ("PMI_RANK", "OMPI_COMM_WORLD_RANK"), "WORLD_SIZE": ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"),
        "LOCAL_RANK": ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK"),
        "LOCAL_WORLD_SIZE": ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE")}


def set_launcher_env(environ=os.environ) -> None:
    """Fill PyTorch's launcher variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``) in
    ``environ`` from MPI's (``PMI_*``, ``OMPI_*``) where they are missing, and give this rank its share of the
    machine's cores as ``SHENDU_NUM_THREADS`` unless it or ``OMP_NUM_THREADS`` is set."""
    for name, sources in _ENV.items():
        for src in sources:
            if src in environ and name not in environ:
                environ[name] = environ[src]
                break
    environ.setdefault("LOCAL_RANK", environ.get("RANK", "0"))
    if "SHENDU_NUM_THREADS" not in environ and "OMP_NUM_THREADS" not in environ:
        # the machine's cores shared among its ranks, instead of every rank's pool taking them all
        local = int(environ.get("LOCAL_WORLD_SIZE", environ.get("WORLD_SIZE", "1")))
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        environ["SHENDU_NUM_THREADS"] = str(max(1, cores // max(1, local)))


def main(argv: list[str] | None = None) -> int:
    """Run one rank: ``argv`` (default ``sys.argv[1:]``) is ``script.py args...`` or ``-m module args...``.
    Sets the launcher variables, installs the abort-on-exception hook, then runs the script or module as
    ``__main__``. Returns the exit status (2 without a script)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print("usage: python -m shendu.distributed.launch script.py [args...]", file=sys.stderr)
        return 2
    set_launcher_env()
    from shendu.distributed.process_group import install_abort_hook
    install_abort_hook()
    script = argv[0]
    sys.argv = argv
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    if script == "-m" and len(argv) > 1:
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
