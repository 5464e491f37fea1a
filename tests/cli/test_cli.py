"""The `shendu` command line."""
import subprocess
import sys

from shendu.cli import build_parser, main


def test_help_lists_subcommands():
    text = build_parser().format_help()
    for sub in ("demo", "experiment", "train"):
        assert sub in text


def test_experiment_list(capsys):
    assert main(["experiment", "--list"]) == 0
    assert "curve-fitting" in capsys.readouterr().out


def test_python_dash_m_runs_an_experiment(tmp_path):
    out = tmp_path / "p"
    proc = subprocess.run([sys.executable, "-m", "shendu", "experiment", "perceptron-and-backprop", "--quick",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "done" in proc.stdout and (out / "report.md").exists()
