"""numerical: Newton vs gradient descent, projected gradient and KKT / Lagrangian solutions against closed forms."""
import numpy as np
import pytest

import shendu as sd
from shendu.experiments import run_experiment
from shendu.experiments.numerical import (
    A_CON,
    B_CON,
    ball_kkt_solution,
    box_solution_by_active_sets,
    equality_closed_form,
    equality_kkt,
    newton,
    rosenbrock,
)

FIGURES = ("newton_vs_gd_quadratic.png", "rosenbrock.png", "constrained.png", "augmented_lagrangian.png")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("numerical")
    return out, run_experiment("numerical", out, seed=0, quick=True)


def test_writes_report_and_figures(results):
    out, _ = results
    report = (out / "report.md").read_text()
    for i, name in enumerate(FIGURES, 1):
        assert (out / name).stat().st_size > 10_000 and f"]({name})" in report and f"*Figure {i}.*" in report
    assert "**Settings.**" in report


def test_newton_beats_gradient_descent(results):
    _, r = results
    q, ro = r["quadratic"], r["rosenbrock"]
    assert q["newton_steps"] == 1 and q["newton_error"] < 1e-12  # one step on a quadratic
    assert q["gd_steps_to_1e-6"] is not None and q["gd_steps_to_1e-6"] > 50
    assert ro["newton_final_distance"] < 1e-10 and ro["newton_steps"] < 15
    assert ro["gd_final_distance"] > 1e-2  # still crawling along the valley


def test_newton_uses_the_autograd_hessian():
    path = newton(rosenbrock, np.array([0.0, 0.0]), 30)
    np.testing.assert_allclose(path[-1], [1.0, 1.0], atol=1e-10)
    H = sd.autograd.functional.hessian(rosenbrock, sd.tensor([1.0, 1.0], dtype=sd.float64)).numpy()
    np.testing.assert_allclose(H, [[802.0, -400.0], [-400.0, 200.0]])


def test_projected_gradient_reaches_the_constrained_minimisers(results):
    _, r = results
    assert r["box"]["error"] < 1e-8 and r["ball"]["error"] < 1e-8
    box = np.array(r["box"]["exact"])
    assert box[0] == 1.0 and -1 < box[1] < 2  # one bound active, one coordinate free
    x, lam = ball_kkt_solution()
    assert lam > 0 and np.linalg.norm(x) == pytest.approx(1.0, abs=1e-12)
    # stationarity of the Lagrangian: 2Aᵀ(Ax − b) + 2λx = 0
    np.testing.assert_allclose(A_CON.T @ (A_CON @ x - B_CON) + lam * x, 0, atol=1e-10)
    # the box answer against a brute-force grid
    g = np.stack(np.meshgrid(np.linspace(-1, 1, 401), np.linspace(-1, 2, 601)), -1).reshape(-1, 2)
    best = g[np.argmin(((g @ A_CON.T - B_CON) ** 2).sum(1))]
    np.testing.assert_allclose(box_solution_by_active_sets(), best, atol=5e-3)


def test_equality_constrained_kkt_matches_closed_form(results):
    _, r = results
    x_cf, nu_cf = equality_closed_form()
    x_kkt, nu_kkt = equality_kkt()
    np.testing.assert_allclose(x_kkt, x_cf, atol=1e-12)
    np.testing.assert_allclose(nu_kkt, nu_cf, atol=1e-12)
    eq = r["equality"]
    assert eq["augmented_lagrangian_error"] < 1e-6 and eq["augmented_lagrangian_multiplier_error"] < 1e-5
    v = eq["violations"]
    assert v[-1] < 1e-6 < v[0] and all(b < a for a, b in zip(v, v[1:]))
