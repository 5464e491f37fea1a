"""svm experiment: support vectors on the margin, C trades margin for violations, kernels bend."""
import pytest

from shendu.experiments import run_experiment
from shendu.experiments.svm import blobs


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("svm")
    return out, run_experiment("svm", out, seed=0, quick=True)


def test_report_and_figures(results):
    out, _ = results
    report = (out / "report.md").read_text()
    for i, name in enumerate(("hard_margin.png", "soft_margin.png", "kernels.png"), 1):
        assert (out / name).stat().st_size > 10_000
        assert f"]({name})" in report and f"*Figure {i}.*" in report


def test_hard_margin_rests_on_few_support_vectors(results):
    _, r = results
    h = r["hard"]
    assert 2 <= h["n_support"] <= 5
    assert all(abs(v - 1) < 1e-3 for v in h["sv_margins"]) and h["min_signed_margin"] > 1 - 1e-3
    assert h["refit_on_svs_diff"] < 1e-3
    assert h["sklearn_same_support"] and h["sklearn_decision_diff"] < 1e-3
    assert h["linear_svc_margin"] == pytest.approx(h["margin"], rel=0.05)


def test_soft_margin_widens_as_c_falls(results):
    _, r = results
    cs = sorted(r["soft"])
    margins = [r["soft"][c]["margin"] for c in cs]
    n_sv = [r["soft"][c]["n_support"] for c in cs]
    assert all(a > b for a, b in zip(margins, margins[1:]))
    assert all(a > b for a, b in zip(n_sv, n_sv[1:]))


def test_kernels_bend_and_match_sklearn(results):
    _, r = results
    k = r["kernels"]
    assert k["circles/linear"]["test_accuracy"] < 0.7 < 0.9 < k["circles/rbf"]["test_accuracy"]
    assert k["moons/rbf"]["test_accuracy"] > k["moons/linear"]["test_accuracy"] + 0.1
    for v in k.values():
        assert v["test_accuracy"] == pytest.approx(v["sklearn_test_accuracy"], abs=0.02)
        assert abs(v["n_support"] - v["sklearn_n_support"]) <= 2 and v["decision_diff"] < 1e-2


def test_blobs_are_deterministic():
    X1, y1 = blobs(5, 2.0, 3)
    X2, _ = blobs(5, 2.0, 3)
    assert (X1 == X2).all() and y1.tolist() == [0] * 5 + [1] * 5
