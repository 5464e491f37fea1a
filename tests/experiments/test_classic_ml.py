"""classic-ml experiment (--quick): decision regions and an accuracy table against scikit-learn and an MLP."""

from shendu.experiments import run_experiment
from shendu.experiments.classic_ml import available, circles, stratified_split


def test_quick_run(tmp_path):
    """One --quick run checked end to end (one test, so parallel workers do not each run it)."""
    out = tmp_path
    r = run_experiment("classic-ml", out, seed=0, quick=True)
    # writes report and figure
    report = (out / "report.md").read_text()
    assert (out / "decision_regions.png").stat().st_size > 20_000
    assert "](decision_regions.png)" in report and "*Figure 1.*" in report
    for name in r["classifiers"]:
        assert name in report
    # every present classifier is compared
    assert set(r["classifiers"]) == set(available()) and len(r["classifiers"]) >= 3  # at least M2's trees
    for data in ("iris", "wine"):
        acc = r["accuracy"][data]
        assert acc["MLP (shendu)"] > 0.85
        for name in r["classifiers"]:
            assert acc[name] > 0.8, (data, name)
            if name in r["sklearn_accuracy"][data]:
                assert abs(acc[name] - r["sklearn_accuracy"][data][name]) <= 0.06, (data, name)
    curved = r["toy"]["circles"]
    assert curved["MLP (shendu)"] > 0.9 and curved["tree"] > 0.85
    if "logistic" in curved:
        assert curved["logistic"] < 0.75  # a straight line cannot separate concentric rings


def test_helpers():
    import numpy as np
    X, y = circles(100, seed=0)
    assert X.shape == (100, 2) and set(y) == {0, 1}
    tr, te = stratified_split(np.repeat([0, 1, 2], [10, 20, 30]), 0.3, 0)
    assert len(te) == 18 and len(set(tr) | set(te)) == 60 and not set(tr) & set(te)
