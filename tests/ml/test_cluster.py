"""KMeans against scikit-learn from the same initialisation (and the same k-means++ seeds)."""
import numpy as np
import pytest
from sklearn import cluster as sk_cluster
from sklearn.datasets import load_digits, load_iris, make_blobs

import shendu as sd
from shendu.ml import KMeans, NotFittedError, kmeans_plusplus


def _data(name):
    if name == "iris":
        return load_iris(return_X_y=True)[0]
    if name == "digits":
        return load_digits(return_X_y=True)[0][:600]
    return make_blobs(400, centers=5, cluster_std=1.5, random_state=0)[0]


@pytest.mark.parametrize("name, k", [("iris", 3), ("iris", 8), ("digits", 10), ("blobs", 5)])
def test_lloyd_from_an_init_array_equals_sklearn(name, k):
    X = _data(name)
    init = X[np.random.RandomState(1).permutation(len(X))[:k]]
    ours = KMeans(k, init=init).fit(X)
    ref = sk_cluster.KMeans(k, init=init, n_init=1).fit(X)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-10)
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.transform(X), ref.transform(X), rtol=1e-8, atol=1e-8)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    assert ours.score(X) == pytest.approx(ref.score(X), rel=1e-10)


@pytest.mark.parametrize("k", [3, 7])
def test_kmeans_plusplus_seeds_and_n_init_match_sklearn(k):
    X = _data("blobs")
    centers, idx = kmeans_plusplus(X, k, random_state=0)
    ref_centers, ref_idx = sk_cluster.kmeans_plusplus(X, k, random_state=0)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(centers, ref_centers)
    ours = KMeans(k, n_init=3, random_state=0).fit(X)
    ref = sk_cluster.KMeans(k, n_init=3, random_state=0).fit(X)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-9)


def test_random_init_empty_clusters_and_tol():
    X = _data("iris")
    ours = KMeans(4, init="random", random_state=0).fit(X)  # n_init='auto' is 10 for random
    ref = sk_cluster.KMeans(4, init="random", n_init=10, random_state=0).fit(X)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-3)
    # two identical initial centres: one cluster is empty at the first step and is relocated
    init = np.vstack([X[0], X[0], X[100]])
    ours = KMeans(3, init=init).fit(X)
    ref = sk_cluster.KMeans(3, init=init, n_init=1).fit(X)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, atol=1e-10)
    assert len(np.unique(ours.labels_)) == 3
    # a loose tolerance stops earlier
    init = X[:3]
    assert KMeans(3, init=init, tol=0.5).fit(X).n_iter_ < KMeans(3, init=init, tol=0.0).fit(X).n_iter_


def test_tensor_input_and_float32():
    X = _data("blobs").astype(np.float32)
    km = KMeans(5, random_state=0).fit(sd.tensor(X))
    assert km.cluster_centers_.dtype == np.float32
    out = km.predict(sd.tensor(X))
    assert isinstance(out, sd.Tensor)
    np.testing.assert_array_equal(out.numpy(), km.labels_)
    np.testing.assert_array_equal(KMeans(5, random_state=0).fit_predict(X), km.labels_)


def test_errors():
    X = _data("iris")
    with pytest.raises(NotFittedError, match="KMeans"):
        KMeans(3).predict(X)
    with pytest.raises(ValueError, match="n_samples=2 should be >= n_clusters=3"):
        KMeans(3).fit(X[:2])
    with pytest.raises(ValueError, match=r"init array has shape \(2, 4\), expected .* \(3, 4\)"):
        KMeans(3, init=X[:2]).fit(X)
    with pytest.raises(ValueError, match="init must be 'k-means\\+\\+', 'random'"):
        KMeans(3, init="kmeans").fit(X)
    with pytest.raises(ValueError, match="n_clusters must be an int >= 1"):
        KMeans(0).fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but KMeans was fitted with 4"):
        KMeans(3, random_state=0).fit(X).predict(X[:, :3])
