"""Callbacks: hook order, EarlyStopping, ModelCheckpoint, LR scheduling, loggers, TerminateOnNaN, ProgressBar."""
import csv
import json
import math
import os

import numpy as np
import pytest

import shendu as sd
from shendu import optim
from shendu.io import load_checkpoint
from shendu.train import (
    Callback,
    CSVLogger,
    EarlyStopping,
    JSONLLogger,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    TerminateOnNaN,
    Trainer,
    fit,
)


class Recorder(Callback):
    """Records every hook call, and the weights after each epoch."""

    def __init__(self):
        super().__init__()
        self.calls, self.weights, self.lrs = [], [], []

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")

    def on_train_end(self, logs=None):
        self.calls.append("train_end")

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(f"epoch_begin {epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(f"epoch_end {epoch} {sorted(logs)}")
        self.weights.append({k: v._data.copy() for k, v in self.model.state_dict().items()})

    def on_batch_begin(self, batch, logs=None):
        self.calls.append(f"batch_begin {batch}")
        self.lrs.append(self.optimizer.param_groups[0]["lr"])

    def on_batch_end(self, batch, logs=None):
        self.calls.append(f"batch_end {batch} {sorted(logs)}")


class ScriptedLogs(Callback):
    """Overwrites a log with scripted values before the other callbacks read it (order -20)."""

    order = -20

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


def _run(X, y, model, callbacks=(), epochs=3, batch_size=30, lr=0.1, **kw):
    opt = kw.pop("optimizer", None) or optim.SGD(model.parameters(), lr=lr)
    return Trainer(model, "cross_entropy", opt, **kw).fit((X, y), epochs=epochs, batch_size=batch_size,
                                                         callbacks=callbacks, verbose=0, seed=0)


def test_hook_call_order(blobs, make_mlp):
    X, y = blobs
    rec = Recorder()
    _run(X, y, make_mlp(), [rec], epochs=2)
    keys = "['accuracy', 'loss', 'lr']"
    epoch = lambda e: [f"epoch_begin {e}", "batch_begin 0", "batch_end 0 ['loss']", "batch_begin 1",
                       "batch_end 1 ['loss']", f"epoch_end {e} {keys}"]
    assert rec.calls == ["train_begin", *epoch(0), *epoch(1), "train_end"]


def test_callbacks_run_in_order_attribute(blobs, make_mlp):
    X, y = blobs
    seen = []

    def make(name, order):
        cls = type(name, (Callback,), {"order": order,
                                         "on_epoch_end": lambda self, e, logs=None: seen.append(name)})
        return cls()

    _run(X, y, make_mlp(), [make("late", 10), make("a", 0), make("early", -5), make("b", 0)], epochs=1)
    assert seen == ["early", "a", "b", "late"]


def test_early_stopping_patience(blobs, make_mlp):
    X, y = blobs
    es = EarlyStopping(monitor="val_loss", patience=2)
    h = _run(X, y, make_mlp(), [ScriptedLogs("val_loss", [1.0, 0.8, 0.85, 0.9, 0.7, 0.6]), es], epochs=6)
    assert len(h) == 4 and es.stopped_epoch == 3 and es.best == 0.8 and es.best_epoch == 1


def test_early_stopping_min_delta_and_mode(blobs, make_mlp):
    X, y = blobs
    es = EarlyStopping(monitor="val_loss", min_delta=0.1, patience=2)
    # 0.95, 0.93 are improvements smaller than min_delta: they do not reset the patience.
    h = _run(X, y, make_mlp(), [ScriptedLogs("val_loss", [1.0, 0.95, 0.93, 0.5, 0.4]), es], epochs=5)
    assert len(h) == 3 and es.best == 1.0
    es = EarlyStopping(monitor="val_accuracy", patience=1)  # mode 'auto' -> max for accuracy
    h = _run(X, y, make_mlp(), [ScriptedLogs("val_accuracy", [0.5, 0.6, 0.55, 0.7]), es], epochs=4)
    assert es.mode == "max" and len(h) == 3 and es.best == 0.6


def test_early_stopping_restores_best_weights(blobs, make_mlp):
    X, y = blobs
    rec = Recorder()
    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model = make_mlp()
    _run(X, y, model, [ScriptedLogs("val_loss", [1.0, 0.5, 0.7, 0.8, 0.1]), es, rec], epochs=5)
    assert es.stopped_epoch == 3 and es.best_epoch == 1
    final = {k: v._data for k, v in model.state_dict().items()}
    for k, v in rec.weights[1].items():
        np.testing.assert_array_equal(final[k], v)
    assert not np.array_equal(rec.weights[3]["0.weight"], rec.weights[1]["0.weight"])


def test_early_stopping_missing_monitor_is_clear(blobs, make_mlp):
    X, y = blobs
    with pytest.raises(KeyError, match="monitor 'val_loss' is not in the logs.*validation_data"):
        _run(X, y, make_mlp(), [EarlyStopping()], epochs=1)


def test_model_checkpoint_best_and_last(blobs, make_mlp, tmp_path):
    X, y = blobs
    rec = Recorder()
    ckpt = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_best_only=True)
    model = make_mlp()
    _run(X, y, model, [ScriptedLogs("val_loss", [0.9, 0.3, 0.5, 0.4]), ckpt, rec], epochs=4)
    assert ckpt.best_path == os.path.join(tmp_path, "best.safetensors") and ckpt.best == 0.3
    assert sorted(os.listdir(tmp_path)) == ["best.safetensors", "last.safetensors"]
    best_model, last_model = make_mlp(), make_mlp()
    best = load_checkpoint(ckpt.best_path, model=best_model, restore_rng=False)
    last = load_checkpoint(ckpt.last_path, model=last_model, restore_rng=False)
    assert best["epoch"] == 2 and last["epoch"] == 4
    assert last["history"]["history"]["val_loss"] == [0.9, 0.3, 0.5, 0.4]
    for k, v in best_model.state_dict().items():
        np.testing.assert_array_equal(v._data, rec.weights[1][k])
        np.testing.assert_array_equal(last_model.state_dict()[k]._data, model.state_dict()[k]._data)


def test_model_checkpoint_filepath_template_and_weights_only(blobs, make_mlp, tmp_path):
    X, y = blobs
    ckpt = ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{loss:.2f}.safetensors"), save_weights_only=True,
                           save_last=False)
    model = make_mlp()
    h = _run(X, y, model, [ckpt], epochs=2)
    names = sorted(os.listdir(tmp_path))
    assert names == [f"m-01-{h['loss'][0]:.2f}.safetensors", f"m-02-{h['loss'][1]:.2f}.safetensors"]
    state = sd.load(tmp_path / names[1])
    model2 = make_mlp()
    model2.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(model2.state_dict()[k]._data, v._data)


def test_lr_scheduler_per_epoch_and_per_step(blobs, make_mlp):
    X, y = blobs
    model = make_mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    h = _run(X, y, model, epochs=3, optimizer=opt, scheduler=optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))
    np.testing.assert_allclose(h["lr"], [0.1, 0.05, 0.025])
    # Per optimizer step, with 2 micro-batches per step: the LR changes every second batch.
    model = make_mlp()
    opt = optim.SGD(model.parameters(), lr=1.0)
    rec = Recorder()
    _run(X, y, model, [rec], epochs=2, batch_size=15, optimizer=opt, grad_accumulation_steps=2,
         scheduler=optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5), scheduler_interval="step")
    np.testing.assert_allclose(rec.lrs, [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125])


def test_reduce_lr_on_plateau_is_fed_the_monitor(blobs, make_mlp):
    X, y = blobs
    model = make_mlp()
    opt = optim.SGD(model.parameters(), lr=1.0)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    cb = LearningRateScheduler(plateau, monitor="val_loss")
    h = _run(X, y, model, [ScriptedLogs("val_loss", [1.0, 0.5, 0.6, 0.4, 0.45]), cb], epochs=5, optimizer=opt)
    np.testing.assert_allclose(h["lr"], [1.0, 1.0, 1.0, 0.5, 0.5])
    assert opt.param_groups[0]["lr"] == 0.25


def test_keras_style_schedule_function(blobs, make_mlp):
    X, y = blobs
    cb = LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    h = _run(X, y, make_mlp(), [cb], epochs=3)
    np.testing.assert_allclose(h["lr"], [0.1, 0.05, 0.1 / 3])


def test_csv_and_jsonl_loggers(blobs, make_mlp, tmp_path):
    X, y = blobs
    csv_path, jsonl_path = tmp_path / "log.csv", tmp_path / "log.jsonl"
    h = _run(X, y, make_mlp(), [CSVLogger(csv_path), JSONLLogger(jsonl_path),
                                ScriptedLogs("val_loss", [0.5, math.nan, 0.25])], epochs=3)
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "lr", "val_loss"]
    np.testing.assert_allclose([float(r["loss"]) for r in rows], h["loss"])
    assert rows[1]["val_loss"] == "nan"
    lines = [json.loads(line) for line in jsonl_path.read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [0, 1, 2]
    assert [r["accuracy"] for r in lines] == h["accuracy"] and lines[1]["val_loss"] is None
    # append=True continues the file with no second header.
    _run(X, y, make_mlp(), [CSVLogger(csv_path, append=True)], epochs=1)
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 5 and rows[0][0] == "epoch"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf/NaN inputs on purpose
def test_terminate_on_nan(blobs, make_mlp):
    X, y = blobs
    X = X.copy()
    X[35] = np.inf
    rec = Recorder()
    model = make_mlp()
    trainer = Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), on_nonfinite="skip",
                      callbacks=[TerminateOnNaN(), rec])
    h = trainer.fit((X, y), epochs=3, batch_size=10, shuffle=False, verbose=0)
    assert "batch_end 3 ['loss']" in rec.calls and "batch_begin 4" not in rec.calls
    assert len(h) == 1 and h["skipped_steps"] == [1]


def test_progress_bar_is_quiet_off_terminal(blobs, make_mlp, capfd):
    X, y = blobs
    fit(make_mlp(), (X, y), loss="cross_entropy", optimizer=optim.SGD(make_mlp().parameters(), lr=0.1),
        epochs=2, verbose=1)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    model = make_mlp()
    fit(model, (X, y), loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=2,
        callbacks=[ProgressBar(verbose=1, force=True)])
    err = capfd.readouterr().err
    assert "Epoch 2/2" in err and "loss=" in err


def test_set_epoch_tells_its_source_each_epoch_as_it_begins():
    from shendu.train.callbacks import SetEpoch

    class Source:
        seen: list = []

        def set_epoch(self, epoch):
            self.seen.append(epoch)

    source = Source()
    cb = SetEpoch(source)
    for epoch in (0, 1, 5):
        cb.on_epoch_begin(epoch)
    assert source.seen == [0, 1, 5]
