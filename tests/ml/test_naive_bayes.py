"""GaussianNB and MultinomialNB against scikit-learn."""
import numpy as np
import pytest
from sklearn import datasets
from sklearn import naive_bayes as sk

import shendu as sd
from shendu.ml import GaussianNB, MultinomialNB, NotFittedError


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_gaussian_nb(name):
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    a, b = GaussianNB().fit(X[::2], y[::2]), sk.GaussianNB().fit(X[::2], y[::2])
    np.testing.assert_allclose(a.theta_, b.theta_, rtol=1e-10)
    np.testing.assert_allclose(a.var_, b.var_, rtol=1e-8)
    np.testing.assert_allclose(a.class_prior_, b.class_prior_)
    np.testing.assert_allclose(a.predict_proba(X[1::2]), b.predict_proba(X[1::2]), atol=1e-8)
    np.testing.assert_allclose(a.predict_log_proba(X[1::2]), b.predict_log_proba(X[1::2]), rtol=1e-6, atol=1e-6)
    assert np.array_equal(a.predict(X[1::2]), b.predict(X[1::2]))
    assert a.score(X[1::2], y[1::2]) == pytest.approx(b.score(X[1::2], y[1::2]))


def test_gaussian_nb_priors_and_smoothing():
    X, y = datasets.load_iris(return_X_y=True)
    a = GaussianNB(priors=[0.2, 0.3, 0.5], var_smoothing=1e-3).fit(X, y)
    b = sk.GaussianNB(priors=[0.2, 0.3, 0.5], var_smoothing=1e-3).fit(X, y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-8)
    assert a.epsilon_ == pytest.approx(b.epsilon_)
    with pytest.raises(ValueError, match="priors must be non-negative and sum to 1"):
        GaussianNB(priors=[0.5, 0.5, 0.5]).fit(X, y)


@pytest.mark.parametrize("alpha,fit_prior", [(1.0, True), (0.1, False)])
def test_multinomial_nb_on_digit_counts(alpha, fit_prior):
    X, y = datasets.load_digits(return_X_y=True)
    a = MultinomialNB(alpha=alpha, fit_prior=fit_prior).fit(X[:1000], y[:1000])
    b = sk.MultinomialNB(alpha=alpha, fit_prior=fit_prior).fit(X[:1000], y[:1000])
    np.testing.assert_allclose(a.feature_log_prob_, b.feature_log_prob_, rtol=1e-10)
    np.testing.assert_allclose(a.class_log_prior_, b.class_log_prior_, rtol=1e-10)
    np.testing.assert_allclose(a.predict_proba(X[1000:]), b.predict_proba(X[1000:]), atol=1e-8)
    out = a.predict(sd.tensor(X[1000:]))
    assert isinstance(out, sd.Tensor) and np.array_equal(out.numpy(), b.predict(X[1000:]))


def test_naive_bayes_errors():
    with pytest.raises(ValueError, match="MultinomialNB: X must be non-negative"):
        MultinomialNB().fit(-np.ones((3, 2)), [0, 1, 0])
    with pytest.raises(NotFittedError, match="GaussianNB"):
        GaussianNB().predict_proba(np.ones((2, 2)))
