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


FIGURES = ("fits_by_order.png", "rms_vs_order.png", "m9_more_data.png", "m9_regularized.png", "rms_vs_ln_lambda.png",
           "model_selection.png", "autograd_vs_closed_form.png")


def test_writes_report_and_figures(results):
    out, _ = results
    report = (out / "report.md").read_text()
    for i, name in enumerate(FIGURES, 1):
        assert (out / name).stat().st_size > 10_000, name
        assert f"]({name})" in report and f"*Figure {i}.*" in report, name
    assert sorted(p.name for p in out.glob("*.png")) == sorted(FIGURES)
    assert "| w9 |" in report and "**Settings.**" in report


def test_the_figures_show_a_wildly_swinging_order_nine_fit(results):
    """The data set shown is the candidate whose M = 9 fit strays furthest from sin(2πx): beyond the data's range
    and worse on the test set than the median training set, which the report puts beside it."""
    from shendu.experiments.curve_fitting import CANDIDATE_DRAWS, GRID, predict, swing
    out, r = results
    assert r["data_seed"] in range(CANDIDATE_DRAWS * r["seed"], CANDIDATE_DRAWS * (r["seed"] + 1))
    x, t = (a.numpy().astype(np.float64) for a in sin_curve(10, noise=0.3, seed=r["data_seed"]))
    assert swing(x, t) == pytest.approx(r["m9_swing"]) == pytest.approx(max(r["candidate_swings"]))
    assert np.abs(predict(fit_closed_form(x, t, 9), GRID)).max() > 2.0  # far outside the targets' ±1.3
    assert r["m9_swing"] > 1.5 * r["median_candidate_swing"]
    assert r["test_rms"][9] > r["median_over_draws"]["test"][9] > r["median_over_draws"]["test"][3]
    report = (out / "report.md").read_text()
    assert f"seed {r['data_seed']})" in report and "the median of the ten is" in report
    assert f"the median test error is {r['median_over_draws']['test'][9]:.2f} at M = 9, higher than" in report
    assert f"M = 9 test error is {r['test_rms'][9]:.2f}, higher than the median" in report


def _shown(r):
    return tuple(a.numpy().astype(np.float64) for a in sin_curve(10, noise=0.3, seed=r["data_seed"]))


def test_report_claims_follow_the_numbers(results):
    out, r = results
    report = (out / "report.md").read_text()
    n15, n100 = r["m9_test_rms_by_n"][15], r["m9_test_rms_by_n"][100]
    assert ("constrains the fit between the points" in report) == (n100 < n15)
    reg, plain = r["m9_test_rms_regularized"][-18.0], r["m9_test_rms"]
    assert f"ln λ = -18 {'lowers' if reg < plain else 'raises'} the test error from {plain:.2f}" in report
    assert f"error is lowest at ln λ = {r['best_ln_lambda_test']:g}" in report
    train = [rms(fit_closed_form(*_shown(r), 9, lnl), *_shown(r)) for lnl in np.arange(-40.0, 1.0)]
    assert r["train_rms_grows_with_lambda"] == bool(np.all(np.diff(train) >= -1e-9))
    assert ("the training error grows with λ" in report) == r["train_rms_grows_with_lambda"]
    for key, value in r["selection"].items():
        assert f"- {key}: **{value:g}**" in report


def test_report_words_flip_with_the_numbers(tmp_path, results):
    """Fed numbers where more data and regularisation do not help, the report says so."""
    import copy

    from shendu.experiments.curve_fitting import _write_report
    _, r = results
    worse = copy.deepcopy(r)
    worse["m9_test_rms_by_n"] = {15: 0.3, 100: 0.5}
    worse["m9_test_rms_regularized"] = {-18.0: 2.0 * r["m9_test_rms"], 0.0: 0.1}
    worse["median_over_draws"]["test"][9] = 0.1
    fits = {M: np.zeros(M + 1) for M in (0, 1, 3, 9)}
    _write_report(tmp_path, worse, fits, {-18.0: np.zeros(10), 0.0: np.zeros(10)}, np.zeros(4))
    report = (tmp_path / "report.md").read_text()
    assert "more data did not help here" in report and "constrains the fit" not in report
    assert "ln λ = -18 raises the test error" in report and "too smooth" not in report
    assert "the median test error is 0.10 at M = 9, lower than" in report


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
