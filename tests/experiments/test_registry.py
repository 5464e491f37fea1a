"""The experiment registry (names, titles, run times) and the progress reporting every experiment shares."""
import re

import pytest

from shendu.experiments import EXPERIMENTS, Experiment, Stage, available, describe, run_experiment, runtime
from shendu.experiments._progress import stages

SIX = ("curve-fitting", "overfitting", "regularization", "optimizers", "initialization", "perceptron-and-backprop")


def test_available_lists_titles_with_their_run_times():
    names = available()
    for name in SIX:
        assert name in names
        entry = describe()[name]
        assert isinstance(entry, Experiment) and entry.seconds and entry.quick_seconds
        assert entry.quick_seconds <= entry.seconds
        assert names[name].startswith(entry.title)
        assert re.search(r"\[about \d+ (s|min) \(--quick \d+ (s|min)\)\]$", names[name]), names[name]


def test_runtime_text():
    assert runtime("regularization").startswith("about ")
    EXPERIMENTS["_plain"] = ("shendu.experiments.perceptron", "a plain (module, title) entry")
    try:
        assert runtime("_plain") == ""
        assert describe()["_plain"] == Experiment("shendu.experiments.perceptron", "a plain (module, title) entry")
        assert available()["_plain"] == "a plain (module, title) entry"  # no run time: the bare title
    finally:
        del EXPERIMENTS["_plain"]


def test_unknown_experiment_names_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown experiment 'nope'; choose from .*curve-fitting"):
        run_experiment("nope", tmp_path)


def test_progress_callable_gets_every_stage_then_done(tmp_path):
    events = []
    run_experiment("perceptron-and-backprop", tmp_path, quick=True, progress=events.append)
    assert all(isinstance(e, Stage) and e.experiment == "perceptron-and-backprop" for e in events)
    assert [e.index for e in events] == [1, 2, 3, 3]
    assert [e.done for e in events] == [False, False, False, True]
    assert all(e.total == 3 for e in events)
    assert [e.elapsed_s for e in events] == sorted(e.elapsed_s for e in events)


def test_progress_true_writes_lines_to_stderr_and_false_writes_nothing(tmp_path, capsys):
    run_experiment("initialization", tmp_path / "quiet", quick=True)
    quiet = capsys.readouterr()
    assert quiet.out == "" and quiet.err == ""
    run_experiment("initialization", tmp_path / "loud", quick=True, progress=True)  # stderr is not a terminal here
    loud = capsys.readouterr()
    assert loud.out == ""
    lines = loud.err.strip().splitlines()
    assert lines[0].startswith("initialization [1/4] tanh network") and lines[-1].startswith("initialization: 4 stages")


def test_an_experiment_without_stages_gets_one(tmp_path, monkeypatch):
    import shendu.experiments.perceptron as module

    def run(out, seed=0, quick=False):  # a run() that knows nothing of progress
        return {"ran": True}
    monkeypatch.setattr(module, "run", run)
    events = []
    assert run_experiment("perceptron-and-backprop", tmp_path, progress=events.append) == {"ran": True}
    assert [(e.index, e.description, e.done) for e in events] == [(1, "running", False), (1, "done", True)]


def test_stages_sinks():
    with pytest.raises(TypeError, match="progress must be True, False, None or a callable"):
        stages("yes", "x", 1)
    events = []
    st = stages(events.append, "x", 1)
    assert stages(st, "y", 5) is st
    st("one")
    st("two")  # more stages than announced: the total follows
    st.close()
    st.close()
    assert [(e.index, e.total, e.done) for e in events] == [(1, 1, False), (2, 2, False), (2, 2, True)]
    silent = stages(None, "x", 2)
    silent("a")
    silent.close()


def test_a_failed_run_is_not_reported_done():
    events = []
    with pytest.raises(RuntimeError), stages(events.append, "x", 2) as st:
        st("first")
        raise RuntimeError("boom")
    assert [e.done for e in events] == [False]


def test_progress_true_on_a_terminal_draws_a_bar(tmp_path, monkeypatch):
    import io
    import sys
    pytest.importorskip("tqdm")

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    run_experiment("perceptron-and-backprop", tmp_path, quick=True, progress=True)
    text = terminal.getvalue()
    assert "perceptron-and-backprop" in text and "3/3" in text and "figures and report" in text
