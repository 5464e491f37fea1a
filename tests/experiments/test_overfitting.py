"""overfitting: training loss falls with capacity while the gap grows; more data closes the gap."""
import numpy as np
import pytest

from shendu.experiments import run_experiment
from shendu.experiments.overfitting import fit_width, moons

FIGURES = ("overfitting_capacity.png", "overfitting_data.png", "overfitting_learning_curves.png",
           "overfitting_boundaries.png")


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Under ``pytest -n 2`` on 2 cores, two processes with a 2-thread BLAS pool each spin against
    each other and the 256-wide matmuls run ~20x slower; one BLAS thread per process avoids it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def test_quick_run(tmp_path):
    """One quick run (~5 s) checked in full; one test so that pytest-xdist runs it only once."""
    r = run_experiment("overfitting", tmp_path, seed=0, quick=True)
    _check_outputs(tmp_path, r)
    _check_capacity(r)
    _check_data(r)
    assert r["large_best_epoch"] < r["small_best_epoch"]     # the large model starts over-fitting first
    _check_report_claims((tmp_path / "report.md").read_text(), r)


def _check_outputs(out, r):
    report = (out / "report.md").read_text()
    for name in FIGURES:
        assert (out / name).stat().st_size > 10_000, name
        assert f"({name})" in report, name
    assert all(f"*Figure {i}.*" in report for i in range(1, len(FIGURES) + 1))
    assert "**Settings.**" in report and "± 0.000" not in report  # one draw: no spread printed
    assert "| 1024 | 5122 |" in report                        # the capacity table's widest row
    assert len(r["capacity_train_loss"]) == len(r["widths"]) == 7


def _check_capacity(r):
    train, gap = np.array(r["capacity_train_loss"]), np.array(r["capacity_gap"])
    log_width = np.log2(r["widths"])
    assert train[-1] < 0.5 * train[0], train
    assert np.corrcoef(log_width, train)[0, 1] < -0.9, train  # falls with capacity (up to noise)
    assert gap[-1] == gap.max() and gap[-1] > 3 * gap[0], gap  # the widest model over-fits most
    assert np.corrcoef(log_width, gap)[0, 1] > 0.8, gap
    assert r["capacity_val_loss"][-1] > min(r["capacity_val_loss"])  # past the best capacity


def _check_data(r):
    gap, val = r["data_gap"], r["data_val_loss"]
    assert r["data_train_loss"][0] < 0.05, r["data_train_loss"]  # 25 points: memorised
    assert gap[0] > 1.0 and abs(gap[-1]) < 0.1, gap
    assert val[-1] < 0.5 * val[0], val


def _check_report_claims(report, r):
    """Every sentence of the report's findings holds for the numbers it was written from."""
    val, widths = r["capacity_val_loss"], r["widths"]
    best = int(np.argmin(val))
    if "turns up again" in report:
        assert 0 < best < len(widths) - 1 and val[-1] > val[best]
    assert f"lowest at width {widths[best]}" in report or "lowest at the widest" in report
    if "falls at every step with the width" in report:
        assert np.all(np.diff(r["capacity_train_loss"]) < 0)
    gap = r["data_gap"]
    assert ("The gap closes" in report) == (abs(gap[-1]) < 0.25 * abs(gap[0]))
    assert ("early stopping exploits" in report) == (r["large_best_epoch"] < r["small_best_epoch"]
                                                      and r["large_final_over_best_val_loss"] > 1.02)


def test_claims_change_with_the_numbers():
    from shendu.experiments.overfitting import _capacity_claims, _curve_claims, _data_claims
    r = {"widths": [2, 4, 8], "capacity_train_loss": [0.5, 0.4, 0.3], "capacity_gap": [0.1, 0.05, 0.02],
         "capacity_val_loss": [0.6, 0.45, 0.32]}
    text = " ".join(_capacity_claims(r))
    assert "falls at every step" in text and "lowest at the widest model" in text and "turns up" not in text
    assert "shrinks at every step" in text
    r["capacity_val_loss"] = [0.6, 0.3, 0.5]
    assert "turns up again" in " ".join(_capacity_claims(r))
    d = {"sizes": [25, 50], "data_train_loss": [0.0, 0.2], "data_val_loss": [1.0, 0.9], "data_gap": [1.0, 0.7]}
    assert "The gap changes" in " ".join(_data_claims(d))
    c = {"small_best_epoch": 10, "large_best_epoch": 30, "large_final_over_best_val_loss": 1.5}
    assert "early stopping" not in _curve_claims(c, 80)


def test_deterministic_for_a_seed():
    train, val = moons(40, seed=5), moons(50, seed=6)
    a, b = (fit_width(16, train, val, epochs=3, seed=5) for _ in range(2))
    assert a["history"] == b["history"] and a["val"] == b["val"]
    c = fit_width(16, train, val, epochs=3, seed=6)
    assert c["history"]["loss"] != a["history"]["loss"]
