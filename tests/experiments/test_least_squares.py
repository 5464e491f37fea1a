"""least-squares: the four solvers agree where they should and part where the condition number says."""
import math

import numpy as np
import pytest

import shendu as sd
from shendu.experiments import run_experiment
from shendu.experiments.least_squares import SOLVERS, gradient_descent, make_design


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("least-squares")
    return out, run_experiment("least-squares", out, seed=0, quick=True)


def test_writes_report_and_figures(results):
    out, _ = results
    report = (out / "report.md").read_text()
    for name in ("error_vs_condition.png", "gd_convergence.png"):
        assert (out / name).stat().st_size > 10_000 and f"]({name})" in report
    assert "| ill-conditioned, float32 |" in report and "**Settings.**" in report


def test_design_has_the_requested_condition_number():
    A, x_true, b = make_design(1e3, seed=3)
    assert np.linalg.cond(A) == pytest.approx(1e3, rel=1e-6)
    np.testing.assert_allclose(np.linalg.lstsq(A, b, rcond=None)[0], x_true, rtol=1e-9)


def test_solvers_agree_with_numpy_in_float64():
    A, x_true, b = make_design(50.0, seed=4)
    for name, solver in SOLVERS.items():
        x = solver(sd.tensor(A), sd.tensor(b)).numpy()
        np.testing.assert_allclose(x, x_true, rtol=1e-10, err_msg=name)


def test_normal_equations_square_the_condition_number(results):
    _, r = results
    ill, well = r["designs"]["ill-conditioned"]["float32"], r["designs"]["well-conditioned"]["float32"]
    assert ill["QR"] < 1e-3 and ill["SVD (pinv)"] < 1e-3  # about κ ε = 1e4 · 1.2e-7
    assert ill["normal equations"] > 100 * ill["QR"]  # about κ² ε: no correct digit left
    assert max(well["QR"], well["SVD (pinv)"], well["normal equations"]) < 1e-4
    sweep = r["sweep"]
    k = sweep["cond"].index(1e3)
    assert sweep["normal equations"][k] > 100 * sweep["QR"][k]
    assert all(math.isfinite(v) for v in sweep["QR"])


def test_gradient_descent_steps_grow_like_kappa_squared(results):
    _, r = results
    gd = r["gd"]
    steps, mom = gd["steps"], gd["steps_momentum"]
    assert all(s is not None for s in steps + mom)
    assert steps == sorted(steps) and steps[-1] > 10 * steps[-3]  # κ 2 -> 8: κ² grows 16x
    for c, s, m in zip(gd["cond"][1:], steps[1:], mom[1:]):
        assert 5 * c ** 2 < s < 20 * c ** 2 and m < s  # (1 - 1/κ²)^s = 1e-6 gives s ≈ 13.8 κ²


def test_gradient_descent_reaches_the_least_squares_solution():
    A, x_true, b = make_design(3.0, seed=5)
    steps, history = gradient_descent(A, b, x_true, momentum=True, tol=1e-8, record_every=1)
    assert steps is not None and history[-1] < 1e-8 and len(history) == steps + 1
