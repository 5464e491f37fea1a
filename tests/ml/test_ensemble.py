"""Random forests and bagging against scikit-learn: accuracy within a few points on the bundled sets."""
import numpy as np
import pytest
from sklearn import ensemble as sk_ensemble
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.model_selection import train_test_split

import shendu as sd
from shendu.ml import (
    BaggingClassifier,
    DecisionTreeClassifier,
    NotFittedError,
    RandomForestClassifier,
    RandomForestRegressor,
)


def _split(load):
    X, y = load(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0)


@pytest.mark.parametrize("load", [load_iris, load_wine, load_breast_cancer])
def test_random_forest_accuracy_close_to_sklearn(load):
    Xtr, Xte, ytr, yte = _split(load)
    ours = RandomForestClassifier(n_estimators=30, random_state=0, oob_score=True).fit(Xtr, ytr)
    ref = sk_ensemble.RandomForestClassifier(n_estimators=30, random_state=0, oob_score=True).fit(Xtr, ytr)
    assert ours.score(Xte, yte) == pytest.approx(ref.score(Xte, yte), abs=0.04)
    assert ours.oob_score_ == pytest.approx(ref.oob_score_, abs=0.05)
    proba = ours.predict_proba(Xte)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_allclose(proba, np.mean([t.predict_proba(Xte) for t in ours.estimators_], axis=0))
    np.testing.assert_array_equal(ours.predict(Xte), ours.classes_[proba.argmax(1)])
    assert ours.feature_importances_.sum() == pytest.approx(1.0)
    # the same features matter most
    top_ours, top_ref = np.argsort(-ours.feature_importances_)[:3], np.argsort(-ref.feature_importances_)[:3]
    assert len(set(top_ours) & set(top_ref)) >= 1


def test_forest_trees_differ_and_are_deterministic():
    Xtr, Xte, ytr, _ = _split(load_wine)
    a = RandomForestClassifier(n_estimators=5, random_state=1).fit(Xtr, ytr)
    b = RandomForestClassifier(n_estimators=5, random_state=1).fit(Xtr, ytr)
    np.testing.assert_array_equal(a.predict_proba(Xte), b.predict_proba(Xte))
    assert len({t.tree_.node_count for t in a.estimators_}) > 1 or \
        not np.array_equal(a.estimators_[0].tree_.feature, a.estimators_[1].tree_.feature)
    assert a.apply(Xte).shape == (len(Xte), 5)
    # without bootstrap and with all features every tree is the same tree
    c = RandomForestClassifier(n_estimators=3, bootstrap=False, max_features=None, random_state=0).fit(Xtr, ytr)
    single = DecisionTreeClassifier().fit(Xtr, ytr)
    np.testing.assert_array_equal(c.predict(Xte), single.predict(Xte))


def test_random_forest_regressor_close_to_sklearn():
    Xtr, Xte, ytr, yte = _split(load_diabetes)
    ours = RandomForestRegressor(n_estimators=30, random_state=0, max_depth=6).fit(Xtr, ytr)
    ref = sk_ensemble.RandomForestRegressor(n_estimators=30, random_state=0, max_depth=6).fit(Xtr, ytr)
    assert ours.score(Xte, yte) == pytest.approx(ref.score(Xte, yte), abs=0.05)


@pytest.mark.parametrize("load", [load_wine, load_breast_cancer])
def test_bagging_accuracy_close_to_sklearn(load):
    Xtr, Xte, ytr, yte = _split(load)
    ours = BaggingClassifier(n_estimators=15, random_state=0, oob_score=True).fit(Xtr, ytr)
    ref = sk_ensemble.BaggingClassifier(n_estimators=15, random_state=0, oob_score=True).fit(Xtr, ytr)
    assert ours.score(Xte, yte) == pytest.approx(ref.score(Xte, yte), abs=0.05)
    assert ours.oob_score_ == pytest.approx(ref.oob_score_, abs=0.06)
    assert len(ours.estimators_) == len(ours.estimators_samples_) == 15


def test_bagging_any_estimator_subsamples_and_feature_draws():
    Xtr, Xte, ytr, yte = _split(load_iris)
    bag = BaggingClassifier(estimator=DecisionTreeClassifier(max_depth=2), n_estimators=8, max_samples=0.5,
                            max_features=2, bootstrap=False, random_state=0).fit(Xtr, ytr)
    assert all(len(rows) == round(0.5 * len(Xtr)) and len(set(rows)) == len(rows) for rows in bag.estimators_samples_)
    assert all(len(cols) == 2 for cols in bag.estimators_features_)
    assert all(m.max_depth == 2 for m in bag.estimators_)
    expected = np.mean([m.predict_proba(Xte[:, c]) if len(m.classes_) == 3 else None
                        for m, c in zip(bag.estimators_, bag.estimators_features_)], axis=0)
    np.testing.assert_allclose(bag.predict_proba(Xte), expected)
    assert bag.score(Xte, yte) > 0.8
    out = bag.predict(sd.tensor(Xte))
    assert isinstance(out, sd.Tensor)


def test_members_without_predict_proba_vote():
    class Stump(DecisionTreeClassifier):
        predict_proba = property(lambda self: (_ for _ in ()).throw(AttributeError("no proba")))

    Xtr, Xte, ytr, _ = _split(load_iris)
    bag = BaggingClassifier(estimator=Stump(max_depth=1), n_estimators=4, random_state=0).fit(Xtr, ytr)
    votes = bag.predict_proba(Xte)
    assert set(np.unique(votes * 4)) <= {0.0, 1.0, 2.0, 3.0, 4.0}


def test_errors():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(NotFittedError, match="RandomForestClassifier"):
        RandomForestClassifier().predict(X)
    with pytest.raises(NotFittedError, match="BaggingClassifier"):
        BaggingClassifier().predict_proba(X)
    with pytest.raises(ValueError, match="n_estimators must be an int >= 1"):
        RandomForestClassifier(n_estimators=0).fit(X, y)
    with pytest.raises(ValueError, match="oob_score=True needs bootstrap=True"):
        RandomForestClassifier(bootstrap=False, oob_score=True).fit(X, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        BaggingClassifier().fit(X, y[:10])
    with pytest.raises(ValueError, match="max_samples"):
        BaggingClassifier(max_samples=1000).fit(X, y)
    with pytest.raises(TypeError, match="cannot clone"):
        BaggingClassifier(estimator=object()).fit(X, y)
