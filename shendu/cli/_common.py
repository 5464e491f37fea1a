"""What the commands share: the parser class, its help formatter, usage errors and the epoch log line."""
from __future__ import annotations

import argparse
import sys
import time

from shendu.train.callbacks import Callback


class UsageError(Exception):
    """A mistake in what the user asked for: ``main`` prints ``PROG: error: MESSAGE`` and exits with status 2."""

    def __init__(self, message: str, prog: str = "shendu"):
        super().__init__(" ".join(str(message).split()))  # one line, whatever the message held
        self.prog = prog


def _shown(value) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value)) if value else "none"
    if value is False:
        return "off"
    if value == "":
        return '""'
    return str(value)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions keep their line breaks; every option's help ends with its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (not action.option_strings or action.default is argparse.SUPPRESS or "(default" in text
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction))):
            return text
        return f"{text} (default: {_shown(action.default).replace('%', '%%')})"


class Parser(argparse.ArgumentParser):
    """``ArgumentParser`` whose errors raise ``UsageError`` (one line, no usage dump, no exit in-process).

    Abbreviated long options are refused, so a flag means exactly what it spells.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise UsageError(f"{message} (see '{self.prog} --help')", self.prog)


def int_at_least(low: int):
    """An argparse ``type``: an integer >= ``low``, else a message naming the value."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value
    convert.__name__ = "int"
    return convert


def interactive() -> bool:
    """Whether stdout is a terminal (a progress bar) rather than a pipe or a file (a line per epoch)."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


class EpochLog(Callback):
    """Tracks the epoch a run is in and what its checkpoint holds; prints a line per epoch if ``lines``.

    Runs after ``ModelCheckpoint``, so a printed line means that epoch is saved.
    """

    order = 30

    def __init__(self, lines: bool, saved: int = 0):
        super().__init__()
        self.lines, self.saved, self.current, self.total = lines, saved, saved + 1, None
        self._start = time.perf_counter()

    def on_train_begin(self, logs=None) -> None:
        self.total = self.trainer.params.get("epochs")

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.current, self._start = epoch + 1, time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.saved, self.current = epoch + 1, epoch + 2  # saved; the next one (or the evaluation) is under way
        if self.lines:
            values = "  ".join(f"{k} {float(v):.4g}" for k, v in (logs or {}).items())
            print(f"epoch {epoch + 1}/{self.total}  {values}  ({time.perf_counter() - self._start:.2f} s)",
                  flush=True)


def progress_callbacks(saved: int = 0) -> tuple[EpochLog, list]:
    """The callbacks a command passes to a recipe: a tqdm bar on a terminal, else a line per epoch."""
    from shendu.train.callbacks import ProgressBar
    bar = interactive()
    if bar:
        try:
            import tqdm  # noqa: F401  (optional: without it a terminal gets the lines too)
        except ImportError:
            bar = False
    log = EpochLog(lines=not bar, saved=saved)
    return log, [log] + ([ProgressBar(verbose=1, force=True)] if bar else [])
