"""``shendu train gpt --nproc 2``: a real two-rank job writes one run folder (rank 0), reports once, trains
data-parallel, and resumes on one process; the relaunch command drops --nproc."""
import json
import subprocess
import sys

import pytest

from shendu.cli import main
from shendu.cli import run as run_cli

pytest.importorskip("mpi4py", reason="the MPI tests need mpi4py and an MPI runtime (pip install 'shendu[distributed]')")
if run_cli.find_mpiexec() is None:
    pytest.skip("no mpiexec (pip install 'shendu[distributed]')", allow_module_level=True)

TINY = ["--epochs", "2", "--steps-per-epoch", "3", "--eval-batches", "2", "--max-bytes", "40000", "--vocab-size", "280",
        "--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "16", "--batch-size", "2",
        "--warmup-steps", "1", "--sample-length", "5"]


def test_two_ranks_train_one_run_folder_then_one_process_resumes(tmp_path):
    out = tmp_path / "gpt"
    proc = subprocess.run([sys.executable, "-m", "shendu", "train", "gpt", "--nproc", "2", "--out", str(out), *TINY],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summaries = [line for line in proc.stdout.splitlines() if line.startswith("gpt: ")]
    assert len(summaries) == 1 and "2 processes" in summaries[0]          # rank 0 alone reports
    assert [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("epoch ")] == ["1/2", "2/2"]
    assert json.loads((out / "config.json").read_text())["task"] == "gpt"
    assert len((out / "history.csv").read_text().strip().splitlines()) == 3   # header + 2 epochs
    resumed = subprocess.run([sys.executable, "-m", "shendu", "train", "gpt", "--resume", str(out), "--epochs", "3"],
                             capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from epoch 2" in resumed.stdout and "after 3 epochs" in resumed.stdout


def test_the_relaunch_is_the_same_command_without_nproc(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(run_cli, "find_mpiexec", lambda explicit=None: "/bin/mpiexec")
    monkeypatch.setattr(subprocess, "call", lambda cmd: seen.update(cmd=cmd) or 0)
    assert main(["train", "gpt", "--nproc=3", "--out", str(tmp_path), "--epochs", "1"]) == 0
    assert seen["cmd"][:3] == ["/bin/mpiexec", "-n", "3"]
    assert seen["cmd"][-8:] == ["-m", "shendu", "train", "gpt", "--out", str(tmp_path), "--epochs", "1"][-8:]
    assert not any(w.startswith("--nproc") for w in seen["cmd"])
