"""save_checkpoint / load_checkpoint: every piece of training state comes back, atomically."""
import random

import numpy as np
import pytest

import shendu as sd
from shendu.io import atomic, load_checkpoint, save_checkpoint
from shendu.nn.module import Module
from shendu.nn.parameter import Parameter


class Tiny(Module):
    def __init__(self):
        super().__init__()
        self.w = Parameter(sd.randn(3, 2))
        self.b = Parameter(sd.zeros(2))


class FakeOptimizer:
    """A state dict in PyTorch's optimizer layout (int keys, tuples, tensors)."""

    def __init__(self):
        self.state = {"state": {0: {"step": sd.tensor(5.0), "exp_avg": sd.randn(3, 2)}},
                      "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "params": [0, 1]}]}

    def state_dict(self):
        return self.state

    def load_state_dict(self, state):
        self.state = state


def test_round_trip_restores_everything(tmp_path):
    model, opt, sched = Tiny(), FakeOptimizer(), FakeOptimizer()
    sd.manual_seed(123)
    np.random.seed(7)
    random.seed(9)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model=model, optimizer=opt, scheduler=sched, epoch=4,
                    history={"loss": [1.0, 0.5]}, extra={"note": "hi"})
    expected = (sd.rand(4)._data, np.random.rand(3), random.random())

    model2, opt2, sched2 = Tiny(), FakeOptimizer(), FakeOptimizer()
    sd.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    ckpt = load_checkpoint(path, model=model2, optimizer=opt2, scheduler=sched2)
    assert ckpt["epoch"] == 4 and ckpt["history"] == {"loss": [1.0, 0.5]} and ckpt["extra"] == {"note": "hi"}
    np.testing.assert_array_equal(model2.w._data, model.w._data)
    np.testing.assert_array_equal(opt2.state["state"][0]["exp_avg"]._data, opt.state["state"][0]["exp_avg"]._data)
    assert opt2.state["param_groups"][0]["betas"] == (0.9, 0.999)
    # The random streams continue exactly where they were when saved.
    np.testing.assert_array_equal(sd.rand(4)._data, expected[0])
    np.testing.assert_array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


def test_crash_during_checkpoint_keeps_previous_loadable(tmp_path, monkeypatch):
    model = Tiny()
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, model=model, epoch=1)
    good_w = model.w._data.copy()
    model.w._data[...] = 99.0

    def crash(fd, data):
        atomic.os.write(fd, bytes(data)[:100])
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(atomic, "_write_all", crash)
    with pytest.raises(RuntimeError, match="killed"):
        save_checkpoint(path, model=model, epoch=2)
    monkeypatch.undo()
    fresh = Tiny()
    assert load_checkpoint(path, model=fresh)["epoch"] == 1
    np.testing.assert_array_equal(fresh.w._data, good_w)


def test_errors(tmp_path):
    sd.save({"w": sd.ones(1)}, tmp_path / "plain.safetensors")
    with pytest.raises(ValueError, match="not a shendu checkpoint"):
        load_checkpoint(tmp_path / "plain.safetensors")
    save_checkpoint(tmp_path / "c.safetensors", model=Tiny())
    with pytest.raises(KeyError, match="no optimizer state"):
        load_checkpoint(tmp_path / "c.safetensors", optimizer=FakeOptimizer())
    with pytest.raises(RuntimeError, match="Missing key"):
        save_checkpoint(tmp_path / "d.safetensors", model=Module())
        load_checkpoint(tmp_path / "d.safetensors", model=Tiny())
