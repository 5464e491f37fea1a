"""Regression metrics against scikit-learn, single and multi-output, weighted; stateful MSE/MAE."""
import numpy as np
import pytest
from sklearn import metrics as skm

import shendu as sd
from shendu import metrics as M

FUNCS = [(M.mean_squared_error, skm.mean_squared_error), (M.root_mean_squared_error, skm.root_mean_squared_error),
         (M.mean_absolute_error, skm.mean_absolute_error), (M.r2_score, skm.r2_score),
         (M.explained_variance_score, skm.explained_variance_score)]


@pytest.mark.parametrize("ours,theirs", FUNCS, ids=[f[1].__name__ for f in FUNCS])
@pytest.mark.parametrize("multioutput", ["uniform_average", "raw_values", [0.2, 0.5, 0.3]])
def test_against_sklearn(ours, theirs, multioutput):
    rng = np.random.default_rng(0)
    y = rng.normal(size=(40, 3))
    p = y + rng.normal(scale=0.5, size=(40, 3))
    w = rng.random(40)
    np.testing.assert_allclose(ours(y, p, multioutput=multioutput), theirs(y, p, multioutput=multioutput), rtol=1e-10)
    np.testing.assert_allclose(ours(y, p, sample_weight=w, multioutput=multioutput),
                               theirs(y, p, sample_weight=w, multioutput=multioutput), rtol=1e-10)
    y1, p1 = y[:, 0], p[:, 0]
    assert ours(sd.tensor(y1), sd.tensor(p1)) == pytest.approx(theirs(y1.astype(np.float32), p1.astype(np.float32)),
                                                               rel=1e-5)


def test_r2_edge_cases():
    rng = np.random.default_rng(1)
    y, p = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    assert M.r2_score(y, p, multioutput="variance_weighted") == pytest.approx(
        skm.r2_score(y, p, multioutput="variance_weighted"))
    const = np.ones(5)
    assert M.r2_score(const, const) == skm.r2_score(const, const) == 1.0
    assert M.r2_score(const, const + 1) == skm.r2_score(const, const + 1) == 0.0
    with pytest.raises(ValueError, match="shape"):
        M.mean_squared_error(np.zeros(3), np.zeros(4))


def test_stateful_regression_metrics():
    rng = np.random.default_rng(2)
    y, p = rng.normal(size=50), rng.normal(size=50)
    mse, rmse, mae = M.MeanSquaredError(), M.MeanSquaredError(squared=False), M.MeanAbsoluteError()
    for i in range(0, 50, 16):
        for m in (mse, rmse, mae):
            m.update(sd.tensor(p[i:i + 16], dtype=sd.float64), y[i:i + 16])
    assert mse.compute() == pytest.approx(skm.mean_squared_error(y, p))
    assert rmse.compute() == pytest.approx(skm.root_mean_squared_error(y, p))
    assert mae.compute() == pytest.approx(skm.mean_absolute_error(y, p))
