"""GaussianMixture against scikit-learn from the same initialisation, every covariance type."""
import warnings

import numpy as np
import pytest
from sklearn import mixture as sk_mixture
from sklearn.datasets import load_iris, load_wine, make_blobs

import shendu as sd
from shendu.ml import GaussianMixture, NotFittedError


def _inits(X, k, cov_type, seed=0):
    d = X.shape[1]
    means = X[np.random.RandomState(seed).permutation(len(X))[:k]]
    scale = 1.0 / X.var(0).mean()
    prec = {"full": np.stack([np.eye(d) * scale] * k), "tied": np.eye(d) * scale,
            "diag": np.full((k, d), scale), "spherical": np.full(k, scale)}[cov_type]
    return {"means_init": means, "weights_init": np.full(k, 1.0 / k), "precisions_init": prec}


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("data", ["iris", "wine"])
def test_em_from_the_same_initialisation_equals_sklearn(cov_type, data):
    X = load_iris(return_X_y=True)[0] if data == "iris" else load_wine(return_X_y=True)[0][:, :5]
    kw = dict(covariance_type=cov_type, tol=1e-6, max_iter=100, **_inits(X, 3, cov_type))
    ours = GaussianMixture(3, **kw).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sk_mixture.GaussianMixture(3, **kw).fit(X)
    assert ours.n_iter_ == ref.n_iter_ and ours.converged_ == ref.converged_
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-7, atol=1e-9, err_msg=name)
    assert ours.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-10)
    np.testing.assert_allclose(ours.lower_bounds_, ref.lower_bounds_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-8)
    np.testing.assert_allclose(ours.score_samples(X), ref.score_samples(X), rtol=1e-9)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    assert ours.bic(X) == pytest.approx(ref.bic(X), rel=1e-9)
    assert ours.aic(X) == pytest.approx(ref.aic(X), rel=1e-9)
    assert ours.score(X) == pytest.approx(ref.score(X), rel=1e-10)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data"])
def test_default_initialisations_match_sklearn(init_params):
    X = make_blobs(300, centers=3, cluster_std=[1.0, 2.0, 0.5], random_state=1)[0]
    ours = GaussianMixture(3, init_params=init_params, random_state=0).fit(X)
    ref = sk_mixture.GaussianMixture(3, init_params=init_params, random_state=0).fit(X)
    assert ours.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-6)
    order, ref_order = np.argsort(ours.means_[:, 0]), np.argsort(ref.means_[:, 0])
    np.testing.assert_allclose(ours.means_[order], ref.means_[ref_order], rtol=1e-5, atol=1e-6)


def test_lower_bound_rises_and_n_init_keeps_the_best():
    X = load_iris(return_X_y=True)[0]
    bounds = [GaussianMixture(3, max_iter=m, tol=0.0, init_params="random", random_state=0).fit(X).lower_bound_
              for m in (1, 2, 5, 20)]
    assert all(b2 >= b1 - 1e-12 for b1, b2 in zip(bounds, bounds[1:]))  # EM never lowers the likelihood
    best = GaussianMixture(3, n_init=4, init_params="random", random_state=0).fit(X)
    single = [GaussianMixture(3, init_params="random", random_state=s).fit(X).lower_bound_ for s in range(2)]
    assert best.lower_bound_ >= min(single) - 1e-9


def test_fit_predict_sample_and_tensor_io():
    X = make_blobs(200, centers=2, random_state=0)[0]
    gm = GaussianMixture(2, covariance_type="diag", random_state=0)
    labels = gm.fit_predict(X)
    np.testing.assert_array_equal(labels, gm.predict(X))
    Xs, ys = gm.sample(500, random_state=0)
    assert Xs.shape == (500, 2) and np.bincount(ys).sum() == 500
    out = gm.predict_proba(sd.tensor(X.astype(np.float32)))
    assert isinstance(out, sd.Tensor)
    np.testing.assert_allclose(out.numpy().sum(1), 1.0, rtol=1e-5)


def test_errors():
    X = load_iris(return_X_y=True)[0]
    with pytest.raises(NotFittedError, match="GaussianMixture"):
        GaussianMixture(2).predict(X)
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        GaussianMixture(2, covariance_type="ful").fit(X)
    with pytest.raises(ValueError, match="weights_init must be in \\[0, 1\\] and sum to 1"):
        GaussianMixture(2, weights_init=[0.3, 0.3]).fit(X)
    with pytest.raises(ValueError, match=r"means_init has shape \(3, 4\), expected .* \(2, 4\)"):
        GaussianMixture(2, means_init=X[:3]).fit(X)
    with pytest.raises(ValueError, match="precisions_init must be symmetric positive definite"):
        GaussianMixture(1, precisions_init=-np.eye(4)[None]).fit(X)
    with pytest.raises(ValueError, match="expected n_samples >= n_components"):
        GaussianMixture(5).fit(X[:3])
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        GaussianMixture(2, reg_covar=0.0, means_init=[[0, 0], [100, 100]]).fit(np.repeat([[0.0, 0.0], [1, 1]], 5, 0))
