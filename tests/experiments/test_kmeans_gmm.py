"""kmeans-gmm experiment: k-means cuts the stretched blobs, the full-covariance mixture recovers them."""
import numpy as np
import pytest

from shendu.experiments import run_experiment
from shendu.experiments.kmeans_gmm import adjusted_rand_index, datasets

FIGURES = ("iterations_blobs.png", "iterations_anisotropic.png", "convergence_and_bic.png")


def test_quick_run(tmp_path):
    """One --quick run checked end to end (one test, so parallel workers do not each run it)."""
    out = tmp_path
    r = run_experiment("kmeans-gmm", out, seed=0, quick=True)
    # writes report and figures
    report = (out / "report.md").read_text()
    for i, name in enumerate(FIGURES, 1):
        assert (out / name).stat().st_size > 10_000, name
        assert f"]({name})" in report and f"*Figure {i}.*" in report, name
    # headline numbers
    assert r["blobs"]["kmeans_ari"] > 0.9 and r["blobs"]["gmm_ari"] > 0.9
    assert r["anisotropic"]["gmm_ari"] > r["anisotropic"]["kmeans_ari"] + 0.2
    for name in ("blobs", "anisotropic"):
        assert r[name]["em_monotone"] and r[name]["kmeans_monotone"]
        assert np.all(np.diff(r[name]["lower_bounds"]) >= -1e-10)
    report = (out / "report.md").read_text()
    assert "recovers them" in report and "never decreases" in report
    assert r["bic_best"]["full"] <= 4


def test_adjusted_rand_index():
    from sklearn.metrics import adjusted_rand_score
    rng = np.random.RandomState(0)
    a, b = rng.randint(0, 3, 200), rng.randint(0, 4, 200)
    assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b))
    assert adjusted_rand_index(a, (a + 1) % 3) == pytest.approx(1.0)  # relabelled: the same partition
    X, y = datasets(0)["anisotropic"]
    assert X.shape == (450, 2) and np.bincount(y).tolist() == [150, 150, 150]
