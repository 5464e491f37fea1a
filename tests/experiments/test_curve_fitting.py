"""curve-fitting: the chapter's numbers, closed form against autograd, model selection."""
import numpy as np
import pytest

from shendu.data import sin_curve
from shendu.experiments import run_experiment
from shendu.experiments.curve_fitting import design, fit_closed_form, fit_gradient_descent, fit_newton, rms


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("curve-fitting")
    return out, run_experiment("curve-fitting", out, seed=0, quick=True)


def test_writes_report_and_figures(results):
    out, _ = results
    for name in ("report.md", "fits_by_order.png", "rms_vs_order.png", "m9_more_data.png", "m9_regularized.png",
                 "rms_vs_ln_lambda.png", "model_selection.png", "autograd_vs_closed_form.png"):
        assert (out / name).stat().st_size > 0, name
    assert "| w9 |" in (out / "report.md").read_text()


def test_order_nine_interpolates_and_overfits(results):
    _, r = results
    assert r["train_rms"][9] < 1e-6                       # ten points, ten coefficients
    med = r["median_over_draws"]
    assert med["train"][9] < 1e-6
    assert med["test"][9] > 1.5 * med["test"][3]          # far above M = 3, typically
    assert med["train"] == sorted(med["train"], reverse=True)  # more capacity, lower training error


def test_regularization_brings_order_nine_back(results):
    _, r = results
    med = r["median_over_draws"]
    assert med["m9_ln_lambda_-18_test"] < 0.5 * (med["test"][9] + med["test"][3])
    assert r["max_abs_coefficient"]["M=9"] > 100 * r["max_abs_coefficient"]["M=9, ln λ=-18"]
    assert r["m9_test_rms_by_n"][100] < r["m9_test_rms_by_n"][15]


def test_model_selection_picks_a_moderate_order(results):
    _, r = results
    for key in ("M by validation set", "M by 5-fold CV", "M by leave-one-out"):
        assert 2 <= r["selection"][key] <= 6, (key, r["selection"][key])


def test_closed_form_is_least_squares():
    x, t = (a.numpy().astype(np.float64) for a in sin_curve(10, noise=0.3, seed=3))
    w = fit_closed_form(x, t, 3)
    phi = design(x, 3)
    np.testing.assert_allclose(phi.T @ (phi @ w - t), 0, atol=1e-10)  # normal equations
    w_reg = fit_closed_form(x, t, 9, 0.0)
    np.testing.assert_allclose((design(x, 9).T @ design(x, 9) + np.eye(10)) @ w_reg, design(x, 9).T @ t, atol=1e-10)
    assert rms(w, x, t) == pytest.approx(np.sqrt(np.mean((phi @ w - t) ** 2)))


def test_autograd_fits_agree_with_closed_form():
    x, t = (a.numpy().astype(np.float64) for a in sin_curve(10, noise=0.3, seed=5))
    w_gd, history = fit_gradient_descent(x, t, 3, steps=3000)
    np.testing.assert_allclose(w_gd, fit_closed_form(x, t, 3), atol=1e-6)
    assert history[-1] <= history[0]
    np.testing.assert_allclose(fit_newton(x, t, 5, -10.0), fit_closed_form(x, t, 5, -10.0), rtol=1e-6, atol=1e-8)


def test_deterministic_for_a_seed(tmp_path):
    a = run_experiment("curve-fitting", tmp_path / "a", seed=1, quick=True)
    b = run_experiment("curve-fitting", tmp_path / "b", seed=1, quick=True)
    assert a["test_rms"] == b["test_rms"] and a["selection"] == b["selection"]
