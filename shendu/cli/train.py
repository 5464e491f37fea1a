"""``shendu train [TASK]``: run a recipe of ``shendu.train.recipes.RECIPES`` (TASK defaults to ``mlp``).

Each task's options come from its config dataclass (one flag per field, with the field's help,
bounds and choices). The run folder (``--out``) holds ``config.json`` (the task and its settings),
``last.safetensors`` (after every epoch), the recipe's other files, and is what ``--resume`` reads:
``shendu train --resume DIR`` continues with the saved settings; a flag that contradicts them is an
error, except the ones a field marks ``resumable`` (``--epochs``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from shendu.cli._common import Parser, UsageError, int_at_least, progress_callbacks
from shendu.train.recipes import RECIPES, check_config, value_problem

DEFAULT_TASK = "mlp"
DISTRIBUTED_TASKS = ("gpt",)   # the recipes that train data-parallel under several ranks (--nproc)
CONFIG = "config.json"
LAST = "last.safetensors"
_STALE = ("last.safetensors", "best.safetensors", "history.csv", "history.png")  # replaced by a new run


def _flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def _default(f: dataclasses.Field):
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def _converter(kind: type, f: dataclasses.Field):
    """An argparse ``type`` that parses ``kind`` and checks the field's bounds (argparse checks choices)."""
    meta = {k: v for k, v in f.metadata.items() if k != "choices"}

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        problem = value_problem(meta, value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value
    convert.__name__ = kind.__name__
    return convert


def _add_config_arguments(p: argparse.ArgumentParser, config_cls: type) -> None:
    group = p.add_argument_group("settings (saved in config.json; --resume reuses them)")
    for f in dataclasses.fields(config_cls):
        default, meta = _default(f), f.metadata
        kw: dict = {"dest": f.name, "default": default, "help": meta.get("help", f.name)}
        if isinstance(default, bool):
            kw["action"] = argparse.BooleanOptionalAction
        elif isinstance(default, (tuple, list)):
            kind = meta.get("item") or (type(default[0]) if default else str)
            kw.update(nargs="*", type=_converter(kind, f), metavar=meta.get("metavar", f.name.upper()))
        else:
            kw["type"] = str if isinstance(default, str) else _converter(type(default), f)
        if "choices" in meta:
            kw["choices"] = meta["choices"]
        group.add_argument(_flag(f), **kw)


def _add_run_arguments(p: argparse.ArgumentParser, task: str) -> None:
    group = p.add_argument_group("run folder and resuming")
    group.add_argument("--out", default=f"runs/{task}", metavar="DIR",
                       help="the run folder: config.json, last.safetensors, best.safetensors, history.csv, "
                            "history.png")
    how = group.add_mutually_exclusive_group()
    how.add_argument("--resume", nargs="?", const=True, default=None, metavar="DIR",
                     help="continue the run saved in DIR (given, or --out) from its last checkpoint, with its "
                          "saved settings; stops if there is no checkpoint (default: off)")
    how.add_argument("--resume-or-start", action="store_true",
                     help="resume when --out holds a checkpoint, else start a new run there")
    how.add_argument("--overwrite", action="store_true",
                     help="start a new run even if --out holds one (its checkpoints are replaced)")
    if task in DISTRIBUTED_TASKS:
        p.add_argument("--nproc", type=int_at_least(1), default=1, metavar="N",
                       help="train data-parallel on N processes (mpiexec, one rank each; a step averages N batches)")


def add_parser(sub) -> argparse.ArgumentParser:
    names = ", ".join(RECIPES)
    p = sub.add_parser("train", help=f"train a model on bundled data (tasks: {names})",
                       description=f"Train a model: 'shendu train [TASK] [options]'. TASK is one of {names} "
                                   f"(default {DEFAULT_TASK}).\nRun 'shendu train TASK --help' for its options.\n\n"
                                   "  shendu train --dataset iris --epochs 20 --out runs/iris\n"
                                   "  shendu train --resume runs/iris --epochs 40")
    tasks = p.add_subparsers(dest="task", metavar="TASK", title="tasks", parser_class=Parser)
    for name, recipe in RECIPES.items():
        config_cls, _ = recipe.load()
        tp = tasks.add_parser(name, help=recipe.help, description=f"shendu train {name}: {recipe.help}.")
        _add_config_arguments(tp, config_cls)
        _add_run_arguments(tp, name)
        tp.set_defaults(func=run, parser=tp)
    return p


def _task_of(folder: str | None) -> str | None:
    """The task saved in ``folder/config.json``, if there is a readable one."""
    if not folder:
        return None
    try:
        task = json.loads((Path(folder) / CONFIG).read_text()).get("task")
    except (OSError, ValueError, AttributeError):
        return None
    return task if task in RECIPES else None


def with_default_task(argv: list[str]) -> list[str]:
    """``train ...`` without a task gets one: the task saved in the folder being resumed, else ``mlp``."""
    if not argv or argv[0] != "train":
        return argv
    rest = argv[1:]
    if rest and (rest[0] in RECIPES or rest[0] in ("-h", "--help") or not rest[0].startswith("-")):
        return argv  # a task given (argparse names the valid ones if it is unknown), or the help
    pre = Parser(add_help=False)
    pre.add_argument("--out")
    pre.add_argument("--resume", nargs="?", const=True)
    pre.add_argument("--resume-or-start", action="store_true")
    try:
        known, _ = pre.parse_known_args(rest)
    except UsageError:
        known = argparse.Namespace(out=None, resume=None, resume_or_start=False)
    folder = None  # a new run is the default task's; a resumed one is the saved task's
    if known.resume is not None or known.resume_or_start:
        folder = known.resume if isinstance(known.resume, str) else known.out
    return ["train", _task_of(folder) or DEFAULT_TASK, *rest]


def _explicit(args, parser: argparse.ArgumentParser) -> set[str]:
    """The dests of the options spelled on the command line (abbreviations are refused, so exact)."""
    seen, task_seen = set(), False
    for token in args.argv[1:]:
        if not task_seen:  # the flags after the task name belong to the task's parser
            task_seen = token == args.task
            continue
        if token.startswith("--"):
            action = parser._option_string_actions.get(token.split("=", 1)[0])
            if action is not None:
                seen.add(action.dest)
    return seen


def _show(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and list(a) == list(b)
    return a == b


def _read_checkpoint_epoch(last: Path, fail) -> int:
    """Epochs done in the checkpoint ``last``; a usage error naming the file if it cannot be read."""
    from shendu.io import load
    from shendu.io.checkpoint import CHECKPOINT_FORMAT
    try:
        ckpt = load(last)
    except PermissionError:
        fail(f"cannot read the checkpoint {last} (permission denied); fix its permissions to resume, or pass "
             "--overwrite to start a new run there")
    except OSError as e:
        fail(f"cannot read the checkpoint {last} ({e.strerror or e}); pass --overwrite to start a new run there")
    except Exception as e:  # safetensors' and JSON's errors for a truncated or foreign file
        fail(f"the checkpoint {last} is corrupt or incomplete ({str(e)[:120]}); delete it or pass --overwrite "
             "to start a new run there")
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT or "epoch" not in ckpt:
        fail(f"{last} is a safetensors file but not a shendu training checkpoint; pass --overwrite to start a "
             "new run there, or choose another --out")
    return int(ckpt["epoch"])


def _read_config(path: Path, task: str, fail) -> dict | None:
    """The settings saved in ``path`` (None when there is no such file)."""
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
        settings = saved["config"]
        if not isinstance(settings, dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError) as e:
        fail(f"cannot read the saved settings {path} ({type(e).__name__}: {e}); fix or delete it and pass the "
             "settings as flags")
    if saved.get("task", task) != task:
        fail(f"{path.parent}/ holds a '{saved['task']}' run, not '{task}'; resume it with 'shendu train "
             f"{saved['task']} --resume {path.parent}'")
    return settings


def _write_config(path: Path, task: str, config) -> None:
    from shendu import __version__
    from shendu.io.atomic import atomic_write_bytes
    doc = {"task": task, "shendu": __version__, "config": dataclasses.asdict(config)}
    atomic_write_bytes(path, (json.dumps(doc, indent=2) + "\n").encode())


def _relaunch(args, prog: str) -> int:
    """``shendu train TASK ... --nproc N``: the same command on N MPI ranks (``shendu run``'s launcher)."""
    import subprocess

    from shendu.cli.run import find_mpiexec, mpiexec_command
    mpiexec = find_mpiexec()
    if mpiexec is None:
        raise UsageError("--nproc needs mpiexec (install the MPI runtime with pip install \"shendu[distributed]\")",
                         prog)
    argv, skip = [], False
    for word in args.argv:
        if skip:
            skip = False
        elif word == "--nproc":
            skip = True
        elif not word.startswith("--nproc="):
            argv.append(word)
    try:
        return subprocess.call(mpiexec_command(mpiexec, args.nproc, "-m", ["shendu", *argv]))
    except KeyboardInterrupt:
        return 130


def run(args) -> int:
    task, parser = args.task, args.parser
    prog = parser.prog
    if getattr(args, "nproc", 1) > 1 and int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return _relaunch(args, prog)
    lead = int(os.environ.get("RANK", "0")) == 0   # under several ranks only rank 0 writes and reports

    def fail(message: str):
        raise UsageError(message, prog)

    config_cls, run_recipe = RECIPES[task].load()
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    explicit = _explicit(args, parser)
    given = {name: tuple(v) if isinstance(v := getattr(args, name), list) else v for name in fields}
    out = Path(args.out)
    if isinstance(args.resume, str):
        if "out" in explicit and Path(args.resume) != out:
            fail(f"--resume {args.resume} and --out {args.out} name different folders; give the folder once")
        out = Path(args.resume)
    last, config_path = out / LAST, out / CONFIG
    resuming, done = False, 0
    if args.resume is not None and not last.exists():
        fail(f"no checkpoint to resume in {out}/ ({last} does not exist); run without --resume to start a new "
             "run there, or pass --resume-or-start to resume only when a checkpoint exists")
    if args.resume is not None or (args.resume_or_start and last.exists()):
        resuming = True
    elif args.resume_or_start:
        print(f"no checkpoint in {out}/: starting a new run", flush=True)
    elif last.exists() and not args.overwrite:
        fail(f"{out}/ already holds a run ({last}); pass --resume to continue it, --overwrite to start it over, "
             "or choose another --out")

    if resuming:
        done = _read_checkpoint_epoch(last, fail)
        saved = _read_config(config_path, task, fail)
        if saved is None:
            print(f"note: {config_path} is missing: resuming with the settings on the command line", flush=True)
            values = given
        else:
            conflicts = [f"{_flag(f)} {_show(given[n])} (the run in {out}/ used {_show(saved[n])})"
                         for n, f in fields.items()
                         if n in explicit and n in saved and not f.metadata.get("resumable")
                         and not _same(given[n], saved[n])]
            if conflicts:
                fail("; ".join(conflicts) + ": a resumed run keeps its settings; drop the flag to resume, or "
                     "choose another --out to start a new run")
            values = {n: given[n] if n in explicit or n not in saved else saved[n] for n in fields}
            values = {n: tuple(v) if isinstance(v, list) else v for n, v in values.items()}
        try:
            config = config_cls(**values)
            check_config(config)
        except (TypeError, ValueError) as e:
            fail(f"the settings saved in {config_path} are not valid for '{task}' ({e})")
        epochs = getattr(config, "epochs", None)
        if epochs is not None and epochs < done:
            fail(f"the run in {out}/ has already trained {done} epochs, more than --epochs {epochs}; pass "
                 f"--epochs greater than {done} to train further")
        if epochs is not None and epochs == done:
            print(f"{out}/: all {done} epochs are already trained; evaluating the saved run "
                  f"(pass --epochs greater than {done} to train further)", flush=True)
        else:
            print(f"resuming from epoch {done} in {out}/" + (f" (training to epoch {epochs})" if epochs else ""),
                  flush=True)
    else:
        config = config_cls(**given)
        for name in _STALE if lead else ():  # an interrupted first epoch must not leave the old run's checkpoint
            (out / name).unlink(missing_ok=True)

    if lead:
        _write_config(config_path, task, config)
    log, callbacks = progress_callbacks(saved=done)
    if not lead:
        callbacks = []
    try:
        result = run_recipe(config, out=out, resume=resuming, callbacks=callbacks, verbose=0)
    except KeyboardInterrupt:
        if log.total and log.current > log.total:
            where = f"interrupted after the last epoch ({log.total}), before the test evaluation"
        else:
            where = f"interrupted in epoch {log.current}" + (f"/{log.total}" if log.total else "")
        if log.saved:
            held = "epoch 1" if log.saved == 1 else f"epochs 1-{log.saved}"
            print(f"{prog}: {where}; {last} holds {held} (settings in {config_path}); resume "
                  f"with: shendu train {task} --resume {out}", file=sys.stderr)
        else:
            print(f"{prog}: {where} before any epoch finished; nothing was saved; run the same command again "
                  "to start over", file=sys.stderr)
        return 130
    except ImportError as e:  # an optional dependency the data needs (scikit-learn): its message says what to do
        print(f"{prog}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except ValueError as e:
        fail(str(e))
    except RuntimeError as e:
        if not (resuming and str(e).startswith("Error(s) in loading state_dict")):
            raise
        fail(f"the checkpoint {last} does not fit the model these settings build ({str(e).splitlines()[0]}); "
             "resume without changing the model's flags, or pass --overwrite to start over")
    if not lead:
        return 0
    seconds = result.get("seconds")
    print(result["summary"] + (f" ({seconds:.1f} s)" if seconds is not None else ""))
    names = [Path(f).name for f in result.get("files", []) if Path(f).exists()]
    print(f"run folder {out}/: {', '.join([CONFIG, *names])}")
    return 0
