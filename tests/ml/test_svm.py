"""LinearSVC and SVC against scikit-learn (liblinear / libsvm) with the same C, gamma and tolerance."""
import functools

import numpy as np
import pytest
from sklearn import datasets
from sklearn import svm as sk

import shendu as sd
from shendu.ml import SVC, LinearSVC, NotFittedError


@functools.cache
def load(name):
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    if name == "breast_cancer":
        X, y = X[::2], y[::2]
    if name == "digits":
        X, y = X[::6], y[::6]
    X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    return X, y


KERNELS = [dict(kernel="rbf"), dict(kernel="rbf", gamma=0.05, C=3.0), dict(kernel="linear", C=0.5),
           dict(kernel="poly", degree=3, coef0=1.0, gamma="auto")]


@pytest.mark.parametrize("kw", KERNELS, ids=lambda kw: "-".join(str(v) for v in kw.values()))
@pytest.mark.parametrize("name", ["breast_cancer", "wine", "iris"])
def test_svc_matches_libsvm(name, kw):
    X, y = load(name)
    a, b = SVC(tol=1e-6, **kw).fit(X, y), sk.SVC(tol=1e-6, **kw).fit(X, y)
    assert a._gamma == pytest.approx(b._gamma)
    np.testing.assert_allclose(a.intercept_, b.intercept_, atol=1e-4)
    np.testing.assert_allclose(a.decision_function(X), b.decision_function(X), atol=1e-4)
    assert np.array_equal(a.predict(X), b.predict(X))
    # support vectors: the same set up to α's within the tolerance of zero (iris has duplicate rows, whose
    # α's may be split differently between the copies: the dual is not unique there)
    if len(np.unique(X, axis=0)) < len(X):
        return
    if np.array_equal(a.support_, b.support_):
        assert np.array_equal(a.n_support_, b.n_support_)
        np.testing.assert_allclose(a.support_vectors_, b.support_vectors_)
        np.testing.assert_allclose(a.dual_coef_, b.dual_coef_, atol=1e-4 * max(1.0, kw.get("C", 1.0)))
    else:
        diff = np.setxor1d(a.support_, b.support_)
        assert len(diff) <= 1
        assert np.abs(b.dual_coef_).min() < 1e-3 or np.abs(a.dual_coef_).min() < 1e-3


def test_svc_ovo_decision_and_digits():
    X, y = load("digits")
    a = SVC(tol=1e-5, decision_function_shape="ovo").fit(X, y)
    b = sk.SVC(tol=1e-5, decision_function_shape="ovo").fit(X, y)
    assert a.decision_function(X).shape == (len(X), 45)
    np.testing.assert_allclose(a.decision_function(X), b.decision_function(X), atol=1e-4)
    assert a.score(X, y) == pytest.approx(b.score(X, y))


def test_svc_binary_sign_convention_and_tensors():
    X, y = load("breast_cancer")
    labels = np.where(y == 1, "benign", "malignant")
    a = SVC(kernel="linear", tol=1e-6).fit(sd.tensor(X), labels)
    dec = a.decision_function(sd.tensor(X, dtype=sd.float64))
    assert isinstance(dec, sd.Tensor)
    assert np.array_equal(np.where(dec.numpy() > 0, a.classes_[1], a.classes_[0]), a.predict(X))
    # linear kernel: w = Σ coef_i x_i, the margin 2/‖w‖; the support vectors lie on or inside it
    w = a.dual_coef_[0] @ a.support_vectors_
    margins = (X[a.support_] @ w + a.intercept_[0]) * np.where(a.classes_[1] == labels[a.support_], 1, -1)
    assert (margins <= 1 + 1e-3).all()
    free = np.abs(a.dual_coef_[0]) < 1.0 - 1e-6
    np.testing.assert_allclose(margins[free], 1.0, atol=1e-3)


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("name", ["breast_cancer", "iris"])
def test_linear_svc_matches_liblinear(name, loss):
    X, y = load(name)
    a = LinearSVC(loss=loss, C=0.3, tol=1e-7, max_iter=5000, random_state=0).fit(X, y)
    b = sk.LinearSVC(loss=loss, C=0.3, tol=1e-8, max_iter=200000).fit(X, y)
    scale = np.abs(b.coef_).max()
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-4 * scale)
    np.testing.assert_allclose(a.intercept_, b.intercept_, atol=1e-4 * scale)
    assert np.array_equal(a.predict(X), b.predict(X))


def test_svm_errors():
    X, y = load("iris")
    with pytest.raises(NotFittedError, match="SVC"):
        SVC().predict(X)
    with pytest.raises(ValueError, match="kernel must be"):
        SVC(kernel="laplace").fit(X, y)
    with pytest.raises(ValueError, match="gamma must be 'scale', 'auto' or a positive float"):
        SVC(gamma=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LinearSVC().fit(X, y[:-1])
    with pytest.raises(ValueError, match="loss must be 'hinge' or 'squared_hinge'"):
        LinearSVC(loss="log").fit(X, y)


def test_linear_svc_primal_and_dual_agree():
    X, y = load("wine")
    primal = LinearSVC(C=0.2, tol=1e-10, dual=False).fit(X, y)               # Newton on the primal
    dual = LinearSVC(C=0.2, tol=1e-8, dual=True, max_iter=5000, random_state=1).fit(X, y)
    np.testing.assert_allclose(primal.coef_, dual.coef_, atol=1e-4 * np.abs(primal.coef_).max())
    assert primal.n_iter_ < 30
    with pytest.raises(ValueError, match="loss='hinge' is only solved in the dual"):
        LinearSVC(loss="hinge", dual=False).fit(X, y)


def test_smo_lockstep_takes_each_problems_own_steps():
    """The lockstep SMO of many one-vs-one problems gives every problem the α, ρ and step count of the
    one-problem loop (it is a different code path for the same steps)."""
    from shendu.ml.svm import _smo, _smo_batch, kernel_matrix
    X, y = load("digits")
    Kfull = kernel_matrix(X, X, "rbf", 0.02, 3, 0.0)
    rng = np.random.RandomState(0)
    index = [rng.choice(len(X), size=n, replace=False) for n in (40, 75, 60, 90)]
    labels = [np.where(y[ix] < 5, 1.0, -1.0) for ix in index]
    batch = _smo_batch(Kfull, index, labels, 2.0, 1e-5, -1)
    for ix, yy, (alpha, rho, it) in zip(index, labels, batch):
        a_ref, rho_ref, it_ref = _smo(Kfull[np.ix_(ix, ix)], yy, 2.0, 1e-5, -1)
        assert it == it_ref
        np.testing.assert_allclose(alpha, a_ref, atol=1e-10)
        assert rho == pytest.approx(rho_ref, abs=1e-10)
    capped = _smo_batch(Kfull, index, labels, 2.0, 1e-5, 7)               # max_iter stops every problem
    assert [res[2] for res in capped] == [7, 7, 7, 7]


def test_linear_svc_hinge_digits_and_its_stopping_rule():
    """The hinge solver on 10 one-vs-rest problems with more features than the other sets: scikit-learn's
    converged coefficients, and a primal objective no higher than theirs (the smoothed problem's own
    minimiser, without the exact free-set solve, is higher)."""
    X, y = load("digits")
    a = LinearSVC(loss="hinge", C=0.5, tol=1e-6).fit(X, y)
    b = sk.LinearSVC(loss="hinge", C=0.5, tol=1e-8, max_iter=100000).fit(X, y)
    scale = np.abs(b.coef_).max()
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-5 * scale)
    np.testing.assert_allclose(a.intercept_, b.intercept_, atol=1e-5 * scale)
    from shendu.ml.svm import _hinge_smoothed_newton
    Xh = np.hstack([X, np.ones((len(X), 1))])
    yk = np.where(y == 3, 1.0, -1.0)
    w, steps = _hinge_smoothed_newton(Xh, yk, 0.5, 1e-6, 1000)
    assert steps < 200
    margins = yk * (Xh @ w)
    primal = 0.5 * w @ w + 0.5 * np.maximum(0.0, 1.0 - margins).sum()
    w_ref = np.append(b.coef_[3], b.intercept_[3])
    primal_ref = 0.5 * w_ref @ w_ref + 0.5 * np.maximum(0.0, 1.0 - yk * (Xh @ w_ref)).sum()
    assert primal <= primal_ref + 1e-9 * abs(primal_ref)
