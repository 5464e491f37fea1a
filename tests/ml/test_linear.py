"""shendu.ml.linear against scikit-learn on its bundled datasets (fixed splits)."""
import functools

import numpy as np
import pytest
from sklearn import datasets
from sklearn import linear_model as sk

import shendu as sd
from shendu.ml import Lasso, LinearRegression, LogisticRegression, Ridge, SoftmaxRegression


@functools.cache
def load(name):
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    if name == "digits":
        # subsampled (450 samples) and pooled to 4x4 pixels (16 features): keeps the tests fast
        X, y = X[::4].reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16) / 16.0, y[::4]
    elif name != "diabetes":
        X = (X - X.mean(0)) / X.std(0)
    return X, y


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_linear_regression_and_ridge_closed_form(fit_intercept):
    X, y = load("diabetes")
    Y2 = np.stack([y, y * 0.5 + X[:, 0]], axis=1)
    for mine, ref in [(LinearRegression(fit_intercept=fit_intercept), sk.LinearRegression(fit_intercept=fit_intercept)),
                      (Ridge(0.3, fit_intercept=fit_intercept), sk.Ridge(0.3, fit_intercept=fit_intercept))]:
        for target in (y, Y2):
            a, b = mine.fit(X[:300], target[:300]), ref.fit(X[:300], target[:300])
            np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-5, atol=1e-5 * np.abs(b.coef_).max())
            np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(a.predict(X[300:]), b.predict(X[300:]), rtol=1e-5)
            assert a.score(X[300:], target[300:]) == pytest.approx(b.score(X[300:], target[300:]), abs=1e-8)


def test_ridge_more_features_than_samples():
    X, y = load("diabetes")
    a, b = Ridge(2.0).fit(X[:6], y[:6]), sk.Ridge(2.0).fit(X[:6], y[:6])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6)


@pytest.mark.parametrize("alpha", [0.02, 0.5])
def test_lasso_matches_sklearn_at_tight_tol(alpha):
    X, y = load("diabetes")
    a = Lasso(alpha, tol=1e-10, max_iter=20000).fit(X, y)
    b = sk.Lasso(alpha=alpha, tol=1e-10, max_iter=20000).fit(X, y)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-5 * np.abs(b.coef_).max())
    assert a.intercept_ == pytest.approx(b.intercept_, rel=1e-6)
    assert np.array_equal(a.coef_ == 0, b.coef_ == 0)             # the same sparsity pattern
    assert a.dual_gap_ < 1e-10 * (y - y.mean()) @ (y - y.mean())


def test_lasso_default_tol_objective_close():
    X, y = load("diabetes")
    def objective(m):
        r = y - X @ m.coef_ - m.intercept_
        return r @ r / (2 * len(y)) + 0.1 * np.abs(m.coef_).sum()
    a, b = Lasso(0.1).fit(X, y), sk.Lasso(alpha=0.1).fit(X, y)
    assert objective(a) == pytest.approx(objective(b), rel=1e-4)


@pytest.mark.parametrize("solver", ["newton-cholesky", "lbfgs"])
@pytest.mark.parametrize("name", ["iris", "breast_cancer", "wine", "digits"])
def test_logistic_regression_predict_proba(name, solver):
    X, y = load(name)
    a = LogisticRegression(C=0.5, tol=1e-9, solver=solver, max_iter=2000).fit(X[::2], y[::2])
    b = sk.LogisticRegression(C=0.5, tol=1e-10, max_iter=10000).fit(X[::2], y[::2])
    assert a.coef_.shape == b.coef_.shape and a.intercept_.shape == b.intercept_.shape
    np.testing.assert_allclose(a.predict_proba(X[1::2]), b.predict_proba(X[1::2]), atol=1e-4)
    np.testing.assert_allclose(a.decision_function(X[1::2]), b.decision_function(X[1::2]), atol=1e-3)
    assert (a.predict(X[1::2]) == b.predict(X[1::2])).mean() > 0.99


def test_logistic_regression_no_penalty_and_string_labels():
    X, y = load("breast_cancer")
    X = X[:, :5]
    labels = np.array(["benign", "malignant"])[y]
    a = LogisticRegression(penalty=None, solver="newton-cholesky", tol=1e-10).fit(X, labels)
    b = sk.LogisticRegression(C=np.inf, tol=1e-10, max_iter=10000).fit(X, labels)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-4)
    assert a.predict(X[:3]).tolist() == b.predict(X[:3]).tolist()
    assert list(a.classes_) == ["benign", "malignant"]


def test_softmax_regression_is_multinomial_logistic():
    X, y = load("wine")
    a = SoftmaxRegression(C=0.5, tol=1e-9).fit(X, y)                 # shendu autograd + LBFGS
    b = sk.LogisticRegression(C=0.5, tol=1e-10, max_iter=10000).fit(X, y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-4)
    out = a.predict_proba(sd.tensor(X))
    assert isinstance(out, sd.Tensor) and out.shape == (len(X), 3)
    two = SoftmaxRegression().fit(X[y < 2], y[y < 2])
    assert two.coef_.shape == (2, X.shape[1])                          # a row per class even for two


def test_logistic_errors():
    X, y = load("iris")
    with pytest.raises(ValueError, match="at least 2 classes"):
        LogisticRegression().fit(X[:10], y[:10])
    with pytest.raises(ValueError, match="penalty must be 'l2' or None"):
        LogisticRegression(penalty="l1").fit(X, y)
    with pytest.raises(ValueError, match="C must be positive"):
        SoftmaxRegression(C=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but the model was fitted with 4"):
        LogisticRegression().fit(X, y).predict(X[:, :3])
