"""History: per-epoch lists, padding, state round trip, plot."""
import math

import pytest

from shendu.train import History


def test_append_and_access():
    h = History()
    h.append(0, {"loss": 1.0, "accuracy": 0.5})
    h.append(1, {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.6})
    assert h.epoch == [0, 1] and len(h) == 2 and "val_loss" in h
    assert h["loss"] == [1.0, 0.5] and h.history["accuracy"] == [0.5, 0.75]
    assert math.isnan(h["val_loss"][0]) and h["val_loss"][1] == 0.6  # a late key is padded with NaN
    h.append(2, {"loss": 0.25})
    assert math.isnan(h["accuracy"][2])
    assert list(h) == ["loss", "accuracy", "val_loss"]
    assert "loss=0.25" in repr(h)


def test_state_round_trip():
    h = History()
    h.append(3, {"loss": 2.0})
    h2 = History()
    h2.load_state_dict(h.state_dict())
    assert h2.epoch == [3] and h2.history == {"loss": [2.0]}


def test_plot_writes_a_figure(tmp_path):
    h = History()
    for e in range(3):
        h.append(e, {"loss": 1.0 / (e + 1), "accuracy": 0.3 * e, "val_loss": 1.2 / (e + 1), "lr": 0.1})
    path = tmp_path / "history.png"
    fig = h.plot(path)
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"
    assert [ax.get_title() for ax in fig.axes] == ["loss per epoch (training and validation)", "accuracy per epoch"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["loss", "val_loss"]
    with pytest.raises(ValueError, match="empty"):
        History().plot()
