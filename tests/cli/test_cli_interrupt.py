"""Ctrl-C during `shendu train`: one line saying what was saved and how to resume, status 130; resume works."""
import json
import signal
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")


def test_ctrl_c_after_the_first_epoch_then_resume(tmp_path, usage_error):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "shendu", "train", "--dataset", "spirals", "--hidden", "32",
                             "--epochs", "500", "--seed", "4", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # printed after the epoch's checkpoint is written
        assert first.startswith("epoch 1/500"), first + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    line = usage_error(err)
    assert line.startswith("shendu train mlp: interrupted in epoch ")
    done = len([x for x in [first, *rest.splitlines()] if x.startswith("epoch ")])
    held = "epoch 1" if done == 1 else f"epochs 1-{done}"
    assert f"{out}/last.safetensors holds {held} " in line
    assert line.endswith(f"resume with: shendu train mlp --resume {out}")
    assert "test accuracy" not in rest

    resumed = subprocess.run([sys.executable, "-m", "shendu", "train", "--resume", str(out), "--epochs",
                              str(done + 1)], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    lines = resumed.stdout.splitlines()
    assert lines[0] == f"resuming from epoch {done} in {out}/ (training to epoch {done + 1})"
    assert lines[1].startswith(f"epoch {done + 1}/{done + 1}")
    assert json.loads((out / "config.json").read_text())["config"]["hidden"] == [32]


def test_ctrl_c_before_the_first_epoch_ends_says_nothing_was_saved(tmp_path, usage_error, monkeypatch, capsys):
    # Ctrl-C during the first epoch's tenth batch, deterministically: a signal sent from outside would race
    # with a first epoch that takes well under a second on a quiet machine
    from shendu.cli import main
    from shendu.train.trainer import Trainer
    calls = []
    real_step = Trainer.train_step

    def interrupted_step(self, batch):
        calls.append(1)
        if len(calls) == 10:
            raise KeyboardInterrupt
        return real_step(self, batch)

    monkeypatch.setattr(Trainer, "train_step", interrupted_step)
    out = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--batch-size", "1", "--out", str(out)]) == 130
    line = usage_error(capsys.readouterr().err)
    assert "interrupted in epoch 1" in line and "before any epoch finished; nothing was saved" in line
    assert not (out / "last.safetensors").exists()
