"""pca experiment: the two routes agree, the report's numbers follow the fitted model."""
import numpy as np

from shendu.data.datasets.sklearn_sets import load_digits
from shendu.experiments import run_experiment
from shendu.experiments.pca import centred_svd, compare_routes, covariance_eigh

FIGURES = ("explained_variance.png", "digits_2d.png", "components.png", "reconstructions.png")


def test_quick_run(tmp_path):
    """One --quick run checked end to end (one test, so parallel workers do not each run it)."""
    out = tmp_path
    r = run_experiment("pca", out, seed=0, quick=True)
    # writes report and figures
    report = (out / "report.md").read_text()
    for i, name in enumerate(FIGURES, 1):
        assert (out / name).stat().st_size > 10_000, name
        assert f"]({name})" in report and f"*Figure {i}.*" in report, name
    assert sorted(p.name for p in out.glob("*.png")) == sorted(FIGURES)
    # eigh and svd routes give the same components
    assert r["routes"]["max_component_diff"] < 1e-8
    assert r["routes"]["max_variance_rel_diff"] < 1e-10
    assert r["routes"]["ml_solvers_component_diff"] < 1e-8
    X = load_digits()[0].numpy().astype(np.float64)
    ev, V = covariance_eigh(X)
    np.testing.assert_allclose(ev[:5], centred_svd(X)[0][:5], rtol=1e-10)
    np.testing.assert_allclose(V @ V.T, np.eye(64), atol=1e-10)  # orthonormal
    # and on a subset of the digits
    assert compare_routes(X[:500], 3)["max_component_diff"] < 1e-8
    # report numbers
    comp = r["components_for"]
    assert comp["50%"] < comp["90%"] < comp["95%"] < comp["99%"] <= 64
    mse = list(r["reconstruction_mse"].values())
    assert all(b < a for a, b in zip(mse, mse[1:]))  # more components, smaller error
    assert r["mse_equals_discarded_variance"]
    assert 0.2 < r["ratio_first_two"] < 0.4 and r["nearest_mean_accuracy_2d"] > 0.4
    report = (out / "report.md").read_text()
    assert f"{comp['90%']} of the 64 components keep 90%" in report
    assert f"labels {r['nearest_mean_accuracy_2d']:.1%} of the digits" in report
