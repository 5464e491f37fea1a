"""bayesian-regression: the band narrows with data, the evidence picks a small M, MAP = ridge = SGD's answer."""
import math

import numpy as np
import pytest

from shendu.experiments import run_experiment
from shendu.experiments.bayesian_regression import categorical_nll, gaussian_basis, gaussian_log_prior, gaussian_nll


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bayesian-regression")
    return out, run_experiment("bayesian-regression", out, seed=0, quick=True)


FIGURES = ("predictive_band.png", "evidence_vs_m.png", "evidence_maximisation.png", "map_by_sgd.png")


def test_report_and_figures(results):
    out, _ = results
    report = (out / "report.md").read_text()
    for i, name in enumerate(FIGURES, 1):
        assert (out / name).stat().st_size > 10_000, name
        assert f"]({name})" in report and f"*Figure {i}.*" in report
    assert "## Maximum likelihood and MAP as losses" in report


def test_the_band_narrows_to_the_noise_level(results):
    _, r = results
    stds = [r["mean_std_by_n"][n] for n in (1, 2, 4, 25)]
    assert all(a > b for a, b in zip(stds, stds[1:]))
    assert r["noise_std"] < stds[-1] < 1.3 * r["noise_std"]


def test_evidence_prefers_a_small_order_and_recovers_beta(results):
    _, r = results
    ev = r["log_evidence_by_m"]
    assert 3 <= r["best_m"] <= 5
    assert ev[r["best_m"]] > ev[0] + 5 and ev[r["best_m"]] > ev[9]
    assert abs(math.log(r["evidence_fit"][100]["beta"] / r["beta"])) < math.log(1.5)
    assert abs(math.log(r["n25"]["alpha"]) - r["n25"]["curve_argmax_ln_alpha"]) < 0.2   # fixed point = maximum
    assert 1 < r["n25"]["gamma"] < 10


def test_losses_are_likelihoods(results):
    _, r = results
    L = r["losses"]
    assert L["nll_minus_mse_form"] < 1e-9 and L["map_minus_ridge"] < 1e-8
    assert L["cross_entropy_minus_categorical_nll"] < 1e-6
    assert L["sgd_minus_map"] < 0.1 * L["map_norm"]
    assert L["sgd_final_loss"] - L["closed_form_loss"] < 0.2


def test_loss_helpers_against_scipy():
    from scipy import stats
    rng = np.random.default_rng(0)
    t, y, w = rng.normal(size=7), rng.normal(size=7), rng.normal(size=4)
    assert gaussian_nll(y, t, 4.0) == pytest.approx(-stats.norm(y, 0.5).logpdf(t).sum())
    assert gaussian_log_prior(w, 2.0) == pytest.approx(stats.norm(0, 2 ** -0.5).logpdf(w).sum())
    logits, labels = rng.normal(size=(5, 3)), np.array([0, 2, 1, 1, 0])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert categorical_nll(logits, labels) == pytest.approx(-np.log(p[np.arange(5), labels]).sum())
    assert gaussian_basis([0.0, 1.0]).shape == (2, 9)
