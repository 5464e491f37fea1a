"""The `shendu` command line: the parser, --help and --version, experiments, the entry points."""
import argparse
import json
import subprocess
import sys

import pytest

from shendu import __version__
from shendu.cli import build_parser, main
from shendu.cli._common import HelpFormatter


def _parsers(parser):
    """The parser and every subparser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def test_help_lists_subcommands():
    text = build_parser().format_help()
    for sub in ("demo", "experiment", "train"):
        assert sub in text


def test_version(shendu_cli):
    status, out, _ = shendu_cli("--version")
    assert status == 0 and out.strip() == f"shendu {__version__}"


def test_every_option_has_help_that_shows_its_default():
    parsers = list(_parsers(build_parser()))
    assert {p.prog for p in parsers} >= {"shendu", "shendu demo", "shendu experiment", "shendu train",
                                         "shendu train mlp"}
    for parser in parsers:
        formatter = HelpFormatter(parser.prog)
        for action in parser._actions:
            if not action.option_strings or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            text = formatter._get_help_string(action)
            assert action.help and len(action.help) > 10, (parser.prog, action.option_strings)
            assert "(default" in text, (parser.prog, action.option_strings, text)
        parser.format_help()  # renders (a stray % in a help text would raise here)


def test_help_texts_show_the_defaults(shendu_cli):
    status, out, _ = shendu_cli("train", "mlp", "--help")
    assert status == 0
    for shown in ("(default: digits)", "(default: 128 64)", "(default: 30)", "(default: adam)", "(default: runs/mlp)"):
        assert shown in " ".join(out.split())


def test_experiment_help_documents_quick_seed_and_list(shendu_cli):
    status, out, _ = shendu_cli("experiment", "--help")
    text = " ".join(out.split())
    assert status == 0
    assert "--quick a smaller, faster run" in text and "--seed SEED seeds every random draw" in text
    assert "--list list the experiments" in text and "(default: runs/NAME)" in text


def test_experiment_list(shendu_cli):
    status, out, _ = shendu_cli("experiment", "--list")
    assert status == 0 and "curve-fitting" in out and "perceptron-and-backprop" in out


def test_unknown_experiment_lists_the_valid_ones(shendu_cli, usage_error):
    status, _, err = shendu_cli("experiment", "curve-fiting")
    assert status == 2
    line = usage_error(err)
    assert line.startswith("shendu experiment: error: unknown experiment 'curve-fiting'; choose from ")
    assert "curve-fitting" in line and "perceptron-and-backprop" in line


def test_no_command_prints_the_help(shendu_cli):
    status, out, _ = shendu_cli()
    assert status == 0 and "commands" in out


@pytest.mark.parametrize("argv", [["--bogus"], ["demo", "--epochs", "0"], ["experiment", "--seed", "x"]])
def test_usage_errors_of_the_other_commands(shendu_cli, usage_error, argv):
    status, _, err = shendu_cli(*argv)
    assert status == 2
    assert ": error: " in usage_error(err)


def test_python_dash_m_runs_an_experiment(tmp_path):
    out = tmp_path / "p"
    proc = subprocess.run([sys.executable, "-m", "shendu", "experiment", "perceptron-and-backprop", "--quick",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "done" in proc.stdout and (out / "report.md").exists()


def test_the_entry_point_reports_a_usage_error_without_a_traceback(usage_error):
    proc = subprocess.run([sys.executable, "-m", "shendu", "train", "--epochs", "-5"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert usage_error(proc.stderr).startswith("shendu train mlp: error: argument --epochs: expected an integer >= 1, "
                                               "got -5")


def test_main_returns_the_status_of_help(shendu_cli):
    assert main(["train", "--help"]) == 0


def test_demo_runs_end_to_end_and_logs_each_epoch(tmp_path, shendu_cli):
    status, out, err = shendu_cli("demo", "--epochs", "2", "--quick", "--out", tmp_path)
    assert status == 0, err
    lines = out.splitlines()
    # two digits epochs, then the quick GPT's two
    assert [line.split()[1] for line in lines if line.startswith("epoch ")] == ["1/2", "2/2", "1/2", "2/2"]
    assert any("digits: test accuracy" in line and "after 2 epochs" in line for line in lines)
    assert (tmp_path / "digits" / "best.safetensors").exists()
    assert (tmp_path / "curve-fitting" / "report.md").exists()
    assert any(line.startswith("gpt: ") and "validation loss" in line for line in lines)
    assert "generated from the prompt 'def '" in out and f"shendu train gpt --resume {tmp_path / 'gpt'}" in out
    config = json.loads((tmp_path / "gpt" / "config.json").read_text())   # an ordinary run folder: resumable
    assert config["task"] == "gpt" and config["config"]["n_layer"] == 1
    assert lines[-1].startswith("demo finished in ")
