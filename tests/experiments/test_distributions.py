"""distributions experiment (--quick): figures and report, and its headline numbers: samplers agree
with their CDFs, the CLT distances fall with n, forward KL matches moments, reverse KL finds a mode."""
import math

import pytest

from shendu.experiments import run_experiment

FIGURES = ("densities.png", "sampling.png", "clt.png", "kl_asymmetry.png", "entropy.png")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("distributions")
    return out, run_experiment("distributions", out, seed=0, quick=True)


def test_writes_report_and_figures(results):
    out, _ = results
    report = (out / "report.md").read_text()
    for i, name in enumerate(FIGURES, 1):
        assert (out / name).stat().st_size > 10_000, name
        assert f"]({name})" in report and f"*Figure {i}.*" in report, name
    assert sorted(p.name for p in out.glob("*.png")) == sorted(FIGURES)
    assert "**Settings.**" in report and "| Normal(1, 2²) |" in report


def test_samplers_agree_with_their_cdfs(results):
    _, r = results
    assert max(r["ks"].values()) < r["ks_critical_1pct"]
    assert r["pmf_mass"]["Binomial n=10, p=0.5"] == pytest.approx(1.0, abs=1e-6)


def test_central_limit_theorem(results):
    _, r = results
    for name in ("uniform", "exponential"):
        ks = [r["clt_ks"][name][n] for n in (1, 2, 5, 30)]
        assert ks == sorted(ks, reverse=True), (name, ks)
    assert r["clt_ks"]["exponential"][30] > r["clt_ks"]["uniform"][30]  # skewness slows convergence


def test_kl_asymmetry(results):
    _, r = results
    kl = r["kl"]
    fwd = kl["fits"]["forward KL(p‖q)"]
    assert fwd["loc"] == pytest.approx(kl["mixture_mean"], abs=1e-3)
    assert fwd["scale"] == pytest.approx(kl["mixture_std"], rel=1e-3)  # moment matching
    left, right = kl["fits"]["reverse KL(q‖p), start -1"], kl["fits"]["reverse KL(q‖p), start +1"]
    assert left["loc"] == pytest.approx(-2.5, abs=0.05) and right["loc"] == pytest.approx(2.5, abs=0.05)
    assert left["scale"] == pytest.approx(0.7, abs=0.05)
    assert left["final_kl"] == pytest.approx(math.log(2), abs=0.01)  # one of two equal modes: KL = log 2
    assert kl["fits"]["reverse KL(q‖p), start +1, rsample MC"]["loc"] == pytest.approx(2.5, abs=0.2)
    pair = list(kl["normal_pair"].values())
    assert pair[0] != pytest.approx(pair[1], rel=0.1)


def test_information(results):
    _, r = results
    info = r["information"]
    assert info["max_binary_entropy_bits"] == pytest.approx(1.0) and info["argmax_p"] == pytest.approx(0.5)
