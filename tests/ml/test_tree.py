"""CART trees against scikit-learn: the same splits where no two splits tie, accuracy within a few points."""
import numpy as np
import pytest
from sklearn import tree as sk_tree
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.model_selection import train_test_split

import shendu as sd
from shendu.ml import DecisionTreeClassifier, DecisionTreeRegressor, NotFittedError


def _split(load, seed=0):
    X, y = load(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=seed)


def _continuous(n=300, d=5, seed=0, classes=3):
    """Gaussian features and labels (or a target) from a noisy rule."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    score = X[:, 0] + 0.5 * X[:, 1] ** 2 - X[:, 2] * X[:, 3] + 0.3 * rng.randn(n)
    return X, np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])), score


def test_depth_limited_iris_tree_equals_sklearn():
    Xtr, Xte, ytr, yte = _split(load_iris)
    ours = DecisionTreeClassifier(max_depth=3).fit(Xtr, ytr)
    ref = sk_tree.DecisionTreeClassifier(max_depth=3, random_state=0).fit(Xtr, ytr)
    np.testing.assert_array_equal(ours.predict(Xte), ref.predict(Xte))
    np.testing.assert_allclose(ours.predict_proba(Xte), ref.predict_proba(Xte), atol=1e-12)
    assert ours.get_depth() == ref.get_depth() and ours.get_n_leaves() == ref.get_n_leaves()
    assert ours.score(Xte, yte) == pytest.approx(ref.score(Xte, yte))


@pytest.mark.parametrize("classes, n, criterion, kw", [
    (2, 300, "gini", {"max_depth": 3}), (2, 300, "entropy", {"max_depth": 3}),
    (3, 600, "gini", {"max_depth": 3}), (3, 600, "entropy", {"max_depth": 3}),
    (2, 600, "entropy", {"min_samples_split": 20})])
def test_tree_equals_sklearn_where_no_splits_tie(classes, n, criterion, kw):
    """Where two splits score the same, scikit-learn takes the first in a random feature order; on these
    settings its tree is the same for every random_state (no ties), and ours must be that tree."""
    X, y, _ = _continuous(n=n, classes=classes)
    tr, te = slice(0, 2 * n // 3), slice(2 * n // 3, None)
    refs = [sk_tree.DecisionTreeClassifier(criterion=criterion, random_state=s, **kw).fit(X[tr], y[tr])
            for s in range(3)]
    assert all(np.array_equal(refs[0].predict_proba(X[te]), r.predict_proba(X[te])) for r in refs)  # no ties
    ours = DecisionTreeClassifier(criterion=criterion, **kw).fit(X[tr], y[tr])
    ref = refs[0]
    np.testing.assert_allclose(ours.predict_proba(X[te]), ref.predict_proba(X[te]), atol=1e-12)
    np.testing.assert_allclose(ours.feature_importances_, ref.feature_importances_, atol=1e-10)
    assert (ours.get_depth(), ours.get_n_leaves()) == (ref.get_depth(), ref.get_n_leaves())
    np.testing.assert_allclose(np.sort(ours.tree_.impurity), np.sort(ref.tree_.impurity), atol=1e-12)
    np.testing.assert_array_equal(np.sort(ours.tree_.n_node_samples), np.sort(ref.tree_.n_node_samples))


@pytest.mark.parametrize("kw", [{"max_depth": 3}, {"min_samples_leaf": 8}])
def test_regressor_equals_sklearn_where_no_splits_tie(kw):
    X, _, t = _continuous(seed=1)
    refs = [sk_tree.DecisionTreeRegressor(random_state=s, **kw).fit(X[:200], t[:200]) for s in range(3)]
    assert all(np.allclose(refs[0].predict(X[200:]), r.predict(X[200:]), atol=1e-12) for r in refs)  # no ties
    ours, ref = DecisionTreeRegressor(**kw).fit(X[:200], t[:200]), refs[0]
    np.testing.assert_allclose(ours.predict(X[200:]), ref.predict(X[200:]), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours.feature_importances_, ref.feature_importances_, atol=1e-10)
    assert ours.score(X[200:], t[200:]) == pytest.approx(ref.score(X[200:], t[200:]), abs=1e-10)


def test_weighted_regressor_equals_sklearn():
    """Non-unit sample weights take the weighted path of the split search (unit weights skip it)."""
    X, _, t = _continuous(seed=2)
    w = np.random.RandomState(3).randint(0, 4, len(X)).astype(float)
    ours = DecisionTreeRegressor(max_depth=4).fit(X[:200], t[:200], sample_weight=w[:200])
    ref = sk_tree.DecisionTreeRegressor(max_depth=4, random_state=0).fit(X[:200], t[:200], sample_weight=w[:200])
    np.testing.assert_allclose(ours.predict(X[200:]), ref.predict(X[200:]), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.sort(ours.tree_.weighted_n_node_samples), np.sort(ref.tree_.weighted_n_node_samples))


@pytest.mark.parametrize("load", [load_wine, load_breast_cancer])
def test_accuracy_within_a_few_points_of_sklearn(load):
    """Ties make scikit-learn's own accuracy depend on its random_state: ours must lie within 3 points of
    the range of five of its seeds."""
    Xtr, Xte, ytr, yte = _split(load)
    for kw in ({}, {"max_depth": 3, "criterion": "entropy"}):
        ours = DecisionTreeClassifier(random_state=0, **kw).fit(Xtr, ytr).score(Xte, yte)
        ref = [sk_tree.DecisionTreeClassifier(random_state=s, **kw).fit(Xtr, ytr).score(Xte, yte) for s in range(5)]
        assert min(ref) - 0.03 <= ours <= max(ref) + 0.03, (kw, ours, ref)
        assert ours > 0.85


def test_diabetes_regression_tree_close_to_sklearn():
    Xtr, Xte, ytr, yte = _split(load_diabetes)
    ours = DecisionTreeRegressor(max_depth=3).fit(Xtr, ytr)
    ref = sk_tree.DecisionTreeRegressor(max_depth=3, random_state=0).fit(Xtr, ytr)
    assert ours.score(Xte, yte) == pytest.approx(ref.score(Xte, yte), abs=0.05)
    assert ours.score(Xtr, ytr) == pytest.approx(ref.score(Xtr, ytr), abs=1e-9)  # same training fit


def test_apply_sample_weight_max_features_and_tensor_io():
    X, y, _ = _continuous(n=120)
    tree = DecisionTreeClassifier(max_features=2, random_state=3).fit(X, y)
    leaves = tree.apply(X)
    assert (tree.tree_.children_left[leaves] == -1).all()
    np.testing.assert_allclose(tree.predict_proba(X), tree.tree_.value[leaves])
    again = DecisionTreeClassifier(max_features=2, random_state=3).fit(X, y)
    np.testing.assert_array_equal(again.predict(X), tree.predict(X))  # deterministic for a seed
    # integer sample weights act like repeated rows
    w = np.random.RandomState(0).randint(0, 3, len(y)).astype(float)
    rows = np.repeat(np.arange(len(y)), w.astype(int))
    weighted = DecisionTreeClassifier(max_depth=4).fit(X, y, sample_weight=w)
    repeated = DecisionTreeClassifier(max_depth=4).fit(X[rows], y[rows])
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X))
    out = tree.predict(sd.tensor(X.astype(np.float32)))
    assert isinstance(out, sd.Tensor)
    np.testing.assert_array_equal(out.numpy(), tree.predict(X.astype(np.float32)))


def test_errors():
    X, y, _ = _continuous(n=50)
    with pytest.raises(NotFittedError, match="DecisionTreeClassifier.*not fitted"):
        DecisionTreeClassifier().predict(X)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        DecisionTreeClassifier().fit(X, y[:-1])
    with pytest.raises(ValueError, match="criterion must be one of"):
        DecisionTreeClassifier(criterion="mse").fit(X, y)
    with pytest.raises(ValueError, match="max_depth"):
        DecisionTreeRegressor(max_depth=0).fit(X, y)
    with pytest.raises(ValueError, match="min_samples_leaf"):
        DecisionTreeClassifier(min_samples_leaf=0).fit(X, y)
    with pytest.raises(ValueError, match="max_features"):
        DecisionTreeClassifier(max_features=9).fit(X, y)
    with pytest.raises(ValueError, match="X has 4 features, but the tree was fitted with 5"):
        DecisionTreeClassifier().fit(X, y).predict(X[:, :4])
    assert DecisionTreeClassifier(max_depth=2).get_params()["max_depth"] == 2
