"""Checkpoint and resume: an interrupted run, resumed, ends bitwise equal to an uninterrupted one."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import shendu as sd
from shendu import nn, optim
from shendu.io import atomic, load_checkpoint
from shendu.train import Callback, EarlyStopping, ModelCheckpoint, Trainer

EPOCHS = 6

# Shared by this file and the subprocess script: the data, the model and the training setup.
SETUP = """
import numpy as np
import shendu as sd
from shendu import nn, optim
from shendu.train import EarlyStopping, ModelCheckpoint, Trainer

def data():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 16)
    X = (rng.normal(size=(48, 4)) + 2.0 * np.eye(3, 4)[y]).astype(np.float32)
    return X, y

def run(dirpath, epochs, callbacks=(), resume_from=None):
    X, y = data()
    sd.manual_seed(100)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3))
    opt = optim.Adam(model.parameters(), lr=0.02)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    ckpt = ModelCheckpoint(dirpath=dirpath, monitor="val_loss", save_best_only=True)
    es = EarlyStopping(monitor="val_loss", patience=20, restore_best_weights=True)
    trainer = Trainer(model, "cross_entropy", opt, scheduler=sched, callbacks=[ckpt, es, *callbacks])
    history = trainer.fit((X, y), epochs=epochs, batch_size=8, validation_split=0.25, seed=11, verbose=0,
                          resume_from=resume_from)
    return trainer, history
"""
ns: dict = {}
exec(SETUP, ns)  # the same code the subprocess runs
run = ns["run"]


class Kill(Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt(f"killed at epoch {epoch}")


def _assert_same_run(t1, h1, t2, h2):
    assert h1.history == h2.history and h1.epoch == h2.epoch
    w1, w2 = t1.model.state_dict(), t2.model.state_dict()
    for k in w1:
        np.testing.assert_array_equal(w1[k]._data, w2[k]._data)
    s1, s2 = t1.optimizer.state_dict(), t2.optimizer.state_dict()
    for i in s1["state"]:
        np.testing.assert_array_equal(s1["state"][i]["exp_avg"]._data, s2["state"][i]["exp_avg"]._data)
    assert t1.optimizer.param_groups[0]["lr"] == t2.optimizer.param_groups[0]["lr"]
    assert t1.global_step == t2.global_step


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return run(str(tmp_path_factory.mktemp("ref")), EPOCHS)


def test_resume_after_exception_is_bitwise_identical(reference, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(str(tmp_path), EPOCHS, callbacks=[Kill(3)])
    assert load_checkpoint(tmp_path / "last.safetensors", restore_rng=False)["epoch"] == 3
    sd.manual_seed(999)  # a fresh process would have other random state
    np.random.seed(999)
    trainer, history = run(str(tmp_path), EPOCHS, resume_from=tmp_path / "last.safetensors")
    _assert_same_run(*reference, trainer, history)


def test_resume_from_directory_or_checkpoint_callback(reference, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(str(tmp_path), EPOCHS, callbacks=[Kill(1)])
    trainer, history = run(str(tmp_path), EPOCHS, resume_from=str(tmp_path))
    _assert_same_run(*reference, trainer, history)
    ckpt = ModelCheckpoint(dirpath=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run(str(tmp_path), EPOCHS, callbacks=[Kill(4)])
    _assert_same_run(*reference, *run(str(tmp_path), EPOCHS, resume_from=ckpt))


def test_resume_after_killed_process(reference, tmp_path):
    script = SETUP + textwrap.dedent("""
        import os, signal, sys
        from shendu.train import Callback

        class SelfKill(Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 2:
                    os.kill(os.getpid(), signal.SIGKILL)

        run(sys.argv[1], int(sys.argv[2]), callbacks=[SelfKill()])
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(EPOCHS)], env=env, capture_output=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    trainer, history = run(str(tmp_path), EPOCHS, resume_from=tmp_path / "last.safetensors")
    _assert_same_run(*reference, trainer, history)


def test_crash_while_checkpointing_keeps_last_loadable(tmp_path, monkeypatch):
    writes = {"n": 0}
    real = atomic._write_all

    def crash_on_fourth(fd, data):
        writes["n"] += 1
        if writes["n"] == 4:  # epoch 2's last.safetensors (epoch 1 wrote best + last)
            real(fd, bytes(data)[:64])
            raise OSError("power cut (simulated)")
        real(fd, data)

    monkeypatch.setattr(atomic, "_write_all", crash_on_fourth)

    class NoBest(Callback):  # keep best.safetensors to epoch 1 so the 4th write is last.safetensors
        order = -20

        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = float(epoch)

    with pytest.raises(OSError, match="power cut"):
        run(str(tmp_path), EPOCHS, callbacks=[NoBest()])
    assert sorted(os.listdir(tmp_path)) == ["best.safetensors", "last.safetensors"]
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3))
    ckpt = load_checkpoint(tmp_path / "last.safetensors", model=model, restore_rng=False)
    assert ckpt["epoch"] == 2 and len(ckpt["history"]["epoch"]) == 2


def test_early_stopped_run_stays_stopped_on_resume(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 4)).astype(np.float32), rng.integers(0, 3, 20)
    model = nn.Linear(4, 3)
    trainer = Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1),
                      callbacks=[EarlyStopping(monitor="loss", patience=0, min_delta=10.0),
                                 ModelCheckpoint(dirpath=tmp_path)])
    h = trainer.fit((X, y), epochs=5, verbose=0)
    assert len(h) == 2
    h2 = trainer.fit((X, y), epochs=5, verbose=0, resume_from=tmp_path)
    assert len(h2) == 2 and h2.history == h.history
