"""k-nearest neighbours against scikit-learn."""
import numpy as np
import pytest
from sklearn import datasets
from sklearn import neighbors as sk

import shendu as sd
from shendu.ml import KNeighborsClassifier, KNeighborsRegressor, NotFittedError


def _digits():
    X, y = datasets.load_digits(return_X_y=True)
    X = X[::2] + np.random.default_rng(0).normal(0, 1e-3, X[::2].shape)   # jitter: no distance ties
    return X[:600], X[600:], y[::2][:600], y[::2][600:]


@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("p", [2, 1])
def test_classifier_matches_sklearn(weights, p):
    Xtr, Xte, ytr, yte = _digits()
    a = KNeighborsClassifier(5, weights=weights, p=p, chunk_size=20_000).fit(Xtr, ytr)   # several chunks
    b = sk.KNeighborsClassifier(5, weights=weights, p=p).fit(Xtr, ytr)
    np.testing.assert_allclose(a.predict_proba(Xte), b.predict_proba(Xte), atol=1e-12)
    assert np.array_equal(a.predict(Xte), b.predict(Xte))
    d, i = a.kneighbors(Xte, 3)
    d_ref, i_ref = b.kneighbors(Xte, 3)
    np.testing.assert_allclose(d, d_ref, rtol=1e-9)
    assert np.array_equal(i, i_ref)


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_regressor_matches_sklearn(weights):
    X, y = datasets.load_diabetes(return_X_y=True)
    a = KNeighborsRegressor(7, weights=weights).fit(X[:300], y[:300])
    b = sk.KNeighborsRegressor(7, weights=weights).fit(X[:300], y[:300])
    np.testing.assert_allclose(a.predict(X[300:]), b.predict(X[300:]), rtol=1e-10)
    Y2 = np.stack([y, -y], 1)
    a2, b2 = KNeighborsRegressor(3).fit(X[:300], Y2[:300]), sk.KNeighborsRegressor(3).fit(X[:300], Y2[:300])
    np.testing.assert_allclose(a2.predict(X[300:]), b2.predict(X[300:]), rtol=1e-10)
    assert a.score(X[300:], y[300:]) == pytest.approx(b.score(X[300:], y[300:]))


def test_distance_weights_on_exact_matches_and_ties():
    X = np.array([[0.0], [1.0], [1.0], [3.0]])
    m = KNeighborsClassifier(3, weights="distance").fit(X, [0, 1, 1, 0])
    assert m.predict_proba([[1.0]]).tolist() == [[0.0, 1.0]]         # exact matches take all the weight
    _, ind = KNeighborsClassifier(2).fit(X, [0, 1, 1, 0]).kneighbors([[2.0]])
    assert ind.tolist() == [[1, 2]]                                 # equal distances: the earlier sample first
    out = m.predict(sd.tensor([[2.9]]))
    assert isinstance(out, sd.Tensor) and out.tolist() == [0]


def test_neighbors_errors():
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="n_neighbors=5 is larger than the 4 fitted samples"):
        KNeighborsClassifier(5).fit(X, [0, 1, 0, 1]).predict(X)
    with pytest.raises(ValueError, match="weights must be"):
        KNeighborsClassifier(weights="gauss").fit(X, [0, 1, 0, 1])
    with pytest.raises(NotFittedError, match="KNeighborsRegressor"):
        KNeighborsRegressor().predict(X)
