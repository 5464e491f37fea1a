"""PCA against scikit-learn: components up to sign, variances, projections, both solvers."""
import numpy as np
import pytest
from sklearn import decomposition as sk_decomposition
from sklearn.datasets import load_breast_cancer, load_digits, load_iris

import shendu as sd
from shendu.ml import PCA, NotFittedError


def _data(name):
    X = {"iris": load_iris, "digits": load_digits, "breast_cancer": load_breast_cancer}[name](return_X_y=True)[0]
    return X[:300] if name == "digits" else X


def _aligned(ours, ref):
    """Our components with each row's sign flipped to agree with scikit-learn's."""
    return ours * np.sign((ours * ref).sum(1))[:, None]


@pytest.mark.parametrize("name", ["iris", "digits", "breast_cancer"])
@pytest.mark.parametrize("solver", ["full", "covariance_eigh"])
@pytest.mark.parametrize("n_components", [2, 0.95])
def test_pca_equals_sklearn(name, solver, n_components):
    X = _data(name)
    whiten = name == "iris"
    ours = PCA(n_components, svd_solver=solver, whiten=whiten).fit(X)
    ref = sk_decomposition.PCA(n_components, svd_solver=solver, whiten=whiten).fit(X)
    assert ours.n_components_ == ref.n_components_
    np.testing.assert_allclose(_aligned(ours.components_, ref.components_), ref.components_, atol=1e-7)
    np.testing.assert_allclose(ours.components_, ref.components_, atol=1e-7)  # the same sign convention
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-9)
    np.testing.assert_allclose(ours.singular_values_, ref.singular_values_, rtol=1e-8)
    np.testing.assert_allclose(ours.mean_, ref.mean_)
    assert ours.noise_variance_ == pytest.approx(ref.noise_variance_, rel=1e-8)
    scale = np.abs(ref.transform(X)).max()
    np.testing.assert_allclose(ours.transform(X), ref.transform(X), atol=1e-7 * scale)
    np.testing.assert_allclose(ours.fit_transform(X), ref.fit_transform(X), atol=1e-7 * scale)
    Z = ref.transform(X)
    np.testing.assert_allclose(ours.inverse_transform(Z), ref.inverse_transform(Z), atol=1e-7 * np.abs(X).max())


def test_eigh_and_svd_agree_and_full_rank_round_trip():
    X = _data("breast_cancer")
    a, b = PCA(svd_solver="full").fit(X), PCA(svd_solver="eigh").fit(X)
    np.testing.assert_allclose(a.components_, b.components_, atol=1e-6)
    np.testing.assert_allclose(a.explained_variance_, b.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(a.inverse_transform(a.transform(X)), X, atol=1e-8 * np.abs(X).max())
    np.testing.assert_allclose(a.get_covariance(), np.cov(X.T), rtol=1e-6, atol=1e-8 * np.abs(X).max() ** 2)
    assert a.explained_variance_ratio_.sum() == pytest.approx(1.0)


def test_whitened_projections_have_unit_variance_and_tensor_io():
    X = _data("iris").astype(np.float32)
    pca = PCA(3, whiten=True)
    Z = pca.fit_transform(sd.tensor(X))
    assert isinstance(Z, sd.Tensor) and Z.dtype == sd.float32
    np.testing.assert_allclose(Z.numpy().var(0, ddof=1), 1.0, rtol=1e-4)
    assert pca.components_.dtype == np.float32


def test_errors():
    X = _data("iris")
    with pytest.raises(NotFittedError, match="PCA"):
        PCA(2).transform(X)
    with pytest.raises(ValueError, match="n_components=5 must be between 0 and min\\(n_samples, n_features\\)=4"):
        PCA(5).fit(X)
    with pytest.raises(ValueError, match="a float n_components must be in \\(0, 1\\)"):
        PCA(1.5).fit(X)
    with pytest.raises(ValueError, match="svd_solver must be one of"):
        PCA(2, svd_solver="arpack").fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but PCA was fitted with 4"):
        PCA(2).fit(X).transform(X[:, :3])
    with pytest.raises(ValueError, match="inverse_transform expects 2 columns, got 3"):
        PCA(2).fit(X).inverse_transform(X[:, :3])
