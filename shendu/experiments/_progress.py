"""Progress of an experiment, stage by stage, to whoever asked for it (the library never prints on its own).

An experiment announces each stage (``stage("training 'dropout'")``) on a :class:`Stages` made by
:func:`stages` from the caller's ``progress`` argument:

- ``False`` / ``None``: nothing is reported (the default for library calls);
- ``True``: to standard error, a tqdm bar when stderr is a terminal and tqdm is installed, otherwise
  one line per stage (``curve-fitting [2/7] training and test error against M (1 s)``), which suits
  logs and pipes;
- a callable: called with a :class:`Stage` at the start of every stage and once more, with
  ``done=True``, when the run ends (a GUI, a logger or a test can consume these).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import NamedTuple


class Stage(NamedTuple):
    """One progress event: stage ``index`` of ``total`` (1-based) of ``experiment`` has started, or, with
    ``done=True``, the run has ended (``index`` is then the number of stages run)."""
    experiment: str
    index: int
    total: int
    description: str
    elapsed_s: float
    done: bool = False


class Stages:
    """Counts an experiment's stages and hands each to a sink; use :func:`stages` to make one."""

    def __init__(self, experiment: str, total: int, sink: Callable[[Stage], None] | None):
        self.experiment, self.total, self._sink = experiment, total, sink
        self.index, self._start, self._closed = 0, time.perf_counter(), False

    def __call__(self, description: str) -> None:
        """Announce the start of the next stage."""
        self.index += 1
        self._emit(description, done=False)

    def close(self) -> None:
        """Announce the end of the run (once; later calls do nothing)."""
        if not self._closed:
            self._closed = True
            self._emit("done", done=True)

    def _emit(self, description: str, done: bool) -> None:
        if self._sink is not None:
            self._sink(Stage(self.experiment, self.index, max(self.total, self.index), description,
                             time.perf_counter() - self._start, done))

    def __enter__(self) -> Stages:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:  # an interrupted or failed run is not reported as done
            self.close()
        elif isinstance(self._sink, _Bar):
            self._sink.abandon()


def _lines(event: Stage) -> None:
    if event.done:
        print(f"{event.experiment}: {event.index} stages in {event.elapsed_s:.0f} s", file=sys.stderr, flush=True)
    else:
        print(f"{event.experiment} [{event.index}/{event.total}] {event.description} ({event.elapsed_s:.0f} s)",
              file=sys.stderr, flush=True)


class _Bar:
    """A tqdm bar over the stages: a stage counts as finished when the next one starts."""

    def __init__(self, tqdm):
        self._tqdm, self._bar = tqdm, None

    def __call__(self, event: Stage) -> None:
        if self._bar is None:
            self._bar = self._tqdm(total=event.total, desc=event.experiment, unit="stage", file=sys.stderr,
                                   leave=True, dynamic_ncols=True)
        self._bar.total = event.total
        self._bar.n = event.index if event.done else event.index - 1
        self._bar.set_postfix_str("" if event.done else event.description, refresh=False)
        self._bar.refresh()
        if event.done:
            self._bar.close()

    def abandon(self) -> None:
        if self._bar is not None:
            self._bar.close()


def stages(progress, experiment: str, total: int) -> Stages:
    """A :class:`Stages` for ``experiment`` with ``total`` expected stages reporting to ``progress``
    (``False``/``None``, ``True``, a callable taking a :class:`Stage`, or an existing :class:`Stages`,
    returned as it is)."""
    if isinstance(progress, Stages):
        return progress
    if progress is None or progress is False:
        return Stages(experiment, total, None)
    if progress is True:
        sink: Callable[[Stage], None] = _lines
        if sys.stderr is not None and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                sink = _Bar(tqdm)
        return Stages(experiment, total, sink)
    if callable(progress):
        return Stages(experiment, total, progress)
    raise TypeError(f"progress must be True, False, None or a callable taking a Stage, got {type(progress).__name__}")
