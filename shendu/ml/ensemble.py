"""Ensembles of estimators: RandomForestClassifier/Regressor and BaggingClassifier (scikit-learn's API).

A random forest is bagging of CART trees that also draw a random subset of ``max_features``
features at every split. Its trees see a bootstrap sample as sample weights (how many times each
sample was drawn), as in scikit-learn; bagging refits any estimator on the drawn rows (and
columns). Both predict by averaging the members' class probabilities (a vote for members that
have no ``predict_proba``).
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from shendu.ml.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    accuracy_score,
    check_array,
    check_is_fitted,
    check_X_y,
    like_input,
    r2_score,
)
from shendu.ml.tree import (
    DecisionTreeClassifier,
    DecisionTreeRegressor,
    _BaseTree,
    _n_features_to_try,
    _presort,
    _rng,
)

__all__ = ["BaggingClassifier", "RandomForestClassifier", "RandomForestRegressor"]

_MAX_INT = np.iinfo(np.int32).max


def _clone(estimator: Any) -> Any:
    """A new, unfitted estimator with the same constructor arguments."""
    if not hasattr(estimator, "get_params"):
        raise TypeError(f"cannot clone {estimator!r}: it has no get_params (not a shendu.ml estimator)")
    return type(estimator)(**estimator.get_params(deep=False))


def _n_draw(value, n: int, what: str, owner: str) -> int:
    """An int count, or a float fraction of n (scikit-learn's max_samples / max_features rule)."""
    if value is None:
        return n
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if not 1 <= value <= n:
            raise ValueError(f"{owner}: {what}={value} must be in [1, {n}]")
        return int(value)
    if isinstance(value, numbers.Real) and 0.0 < value <= 1.0:
        return max(1, int(round(value * n)) if what == "max_samples" else int(value * n))
    raise ValueError(f"{owner}: {what} must be an int in [1, {n}] or a float in (0, 1], got {value!r}")


def _check_n_estimators(owner) -> None:
    n = owner.n_estimators
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{type(owner).__name__}: n_estimators must be an int >= 1, got {n!r}")


class _Forest(BaseEstimator):
    _tree: type = DecisionTreeClassifier

    def _fit_trees(self, X, y):
        _check_n_estimators(self)
        name = type(self).__name__
        if self.oob_score and not self.bootstrap:
            raise ValueError(f"{name}: oob_score=True needs bootstrap=True (out-of-bag samples exist only then)")
        n = X.shape[0]
        n_draw = _n_draw(self.max_samples, n, "max_samples", name) if self.bootstrap else n
        rng = _rng(self.random_state)
        seeds = rng.randint(_MAX_INT, size=self.n_estimators)
        self.estimators_, self._counts = [], []
        n_try = _n_features_to_try(self.max_features, X.shape[1], name)
        presorted = _presort(X.astype(np.float64, copy=False), need_rank=n_try < X.shape[1])  # shared by the trees
        for seed in seeds:
            tree = self._tree(criterion=self.criterion, max_depth=self.max_depth,
                              min_samples_split=self.min_samples_split, min_samples_leaf=self.min_samples_leaf,
                              max_features=self.max_features, random_state=np.random.RandomState(seed),
                              min_impurity_decrease=self.min_impurity_decrease)
            if self.bootstrap:
                counts = np.bincount(np.random.RandomState(seed).randint(0, n, n_draw), minlength=n).astype(float)
            else:
                counts = np.ones(n)
            tree._presorted = presorted
            tree.fit(X, y, sample_weight=counts)
            self.estimators_.append(tree)
            self._counts.append(counts)
        self.n_features_in_ = X.shape[1]
        self.feature_importances_ = np.mean([t.feature_importances_ for t in self.estimators_], axis=0)

    def _check_X(self, X) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        X = check_array(X, estimator=self)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"{type(self).__name__}: X has {X.shape[1]} features, but the forest was fitted "
                             f"with {self.n_features_in_}")
        return X

    def apply(self, X):
        """The leaf index of every sample in every tree, shape (n_samples, n_estimators)."""
        Xc = self._check_X(X)
        return like_input(np.stack([t._apply(Xc) for t in self.estimators_], axis=1), X)


class RandomForestClassifier(ClassifierMixin, _Forest):
    """A random forest of CART classification trees (scikit-learn's RandomForestClassifier).

    Args:
        n_estimators: number of trees (default 100).
        criterion, max_depth, min_samples_split, min_samples_leaf, min_impurity_decrease: as the tree's.
        max_features: features tried at each split (default ``"sqrt"``; see :class:`DecisionTreeClassifier`).
        bootstrap: fit each tree on a bootstrap sample (default True); False fits every tree on all samples.
        oob_score: also estimate the accuracy on each sample's out-of-bag trees (``oob_score_``).
        random_state: seed of the bootstraps and of the trees' feature draws.
        max_samples: size of each bootstrap sample (None: n_samples; an int or a fraction).

    Attributes:
        estimators_, classes_, n_classes_, n_features_in_, feature_importances_ (mean over trees),
        oob_score_ and oob_decision_function_ (with ``oob_score=True``).
    """
    _tree = DecisionTreeClassifier

    def __init__(self, n_estimators: int = 100, criterion: str = "gini", max_depth: int | None = None,
                 min_samples_split=2, min_samples_leaf=1, max_features="sqrt", bootstrap: bool = True,
                 oob_score: bool = False, random_state=None, max_samples=None, min_impurity_decrease: float = 0.0):
        self.n_estimators = n_estimators
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.oob_score = oob_score
        self.random_state = random_state
        self.max_samples = max_samples
        self.min_impurity_decrease = min_impurity_decrease

    def fit(self, X, y) -> RandomForestClassifier:
        """Grow ``n_estimators`` trees on X (n_samples, n_features) and class labels y (n_samples,), each on
        its bootstrap sample (``bootstrap``) with ``max_features`` features tried per split; with
        ``oob_score`` also score each sample on the trees that did not see it. Returns self."""
        X, y = check_X_y(X, y, estimator=self)
        self.classes_ = np.unique(y)
        self.n_classes_ = len(self.classes_)
        self._fit_trees(X, y)
        if self.oob_score:
            votes = np.zeros((X.shape[0], self.n_classes_))
            for tree, counts in zip(self.estimators_, self._counts):
                out = counts == 0
                votes[out] += tree.tree_.value[tree._apply(X[out])]
            seen = votes.sum(1) > 0
            self.oob_decision_function_ = np.where(seen[:, None], votes / np.maximum(votes.sum(1, keepdims=True),
                                                                                    1e-300), np.nan)
            self.oob_score_ = accuracy_score(y[seen], self.classes_[votes[seen].argmax(1)])
        return self

    def predict_proba(self, X):
        """The mean of the trees' class probabilities, shape (n_samples, n_classes)."""
        Xc = self._check_X(X)
        proba = np.mean([t.tree_.value[t._apply(Xc)] for t in self.estimators_], axis=0)
        return like_input(proba, X)

    def predict(self, X):
        """The class (from ``classes_``) with the largest mean tree probability, shape (n_samples,)."""
        Xc = self._check_X(X)
        proba = np.mean([t.tree_.value[t._apply(Xc)] for t in self.estimators_], axis=0)
        return like_input(self.classes_[proba.argmax(1)], X)


class RandomForestRegressor(RegressorMixin, _Forest):
    """A random forest of CART regression trees (scikit-learn's RandomForestRegressor): the mean of the trees.

    Args: as :class:`RandomForestClassifier`, with ``criterion="squared_error"`` and ``max_features=1.0``
    (all features, scikit-learn's default for regression).
    """
    _tree = DecisionTreeRegressor

    def __init__(self, n_estimators: int = 100, criterion: str = "squared_error", max_depth: int | None = None,
                 min_samples_split=2, min_samples_leaf=1, max_features=1.0, bootstrap: bool = True,
                 oob_score: bool = False, random_state=None, max_samples=None, min_impurity_decrease: float = 0.0):
        self.n_estimators = n_estimators
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.oob_score = oob_score
        self.random_state = random_state
        self.max_samples = max_samples
        self.min_impurity_decrease = min_impurity_decrease

    def fit(self, X, y) -> RandomForestRegressor:
        """Grow ``n_estimators`` regression trees on X (n_samples, n_features) and targets y (n_samples,),
        each on its bootstrap sample; with ``oob_score`` also the out-of-bag R² (``oob_score_``) and
        ``oob_prediction_``. Returns self."""
        X, y = check_X_y(X, y, y_numeric=True, estimator=self)
        self._fit_trees(X, y)
        if self.oob_score:
            total, seen = np.zeros(X.shape[0]), np.zeros(X.shape[0])
            for tree, counts in zip(self.estimators_, self._counts):
                out = counts == 0
                total[out] += tree.tree_.value[tree._apply(X[out]), 0]
                seen[out] += 1
            has = seen > 0
            self.oob_prediction_ = np.where(has, total / np.maximum(seen, 1), np.nan)
            self.oob_score_ = r2_score(y[has], self.oob_prediction_[has])
        return self

    def predict(self, X):
        """The mean of the trees' predictions, shape (n_samples,)."""
        Xc = self._check_X(X)
        pred = np.mean([t.tree_.value[t._apply(Xc), 0] for t in self.estimators_], axis=0)
        return like_input(pred.astype(Xc.dtype), X)


class BaggingClassifier(ClassifierMixin, BaseEstimator):
    """Bootstrap aggregation of any classifier (scikit-learn's BaggingClassifier).

    Each of ``n_estimators`` clones of ``estimator`` (default: a :class:`DecisionTreeClassifier`) is
    fitted on ``max_samples`` rows drawn with replacement (``bootstrap=True``) or without, and on
    ``max_features`` columns (drawn with replacement if ``bootstrap_features``). Prediction averages the
    members' ``predict_proba`` (or counts their votes when they have none).

    Attributes:
        estimators_, estimators_samples_ (row indices of each member), estimators_features_ (its
        columns), classes_, n_classes_, n_features_in_, oob_score_ / oob_decision_function_ (``oob_score``).
    """

    def __init__(self, estimator: Any = None, n_estimators: int = 10, max_samples=1.0, max_features=1.0,
                 bootstrap: bool = True, bootstrap_features: bool = False, oob_score: bool = False,
                 random_state=None):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.bootstrap_features = bootstrap_features
        self.oob_score = oob_score
        self.random_state = random_state

    def fit(self, X, y) -> BaggingClassifier:
        """Fit ``n_estimators`` clones of ``estimator`` on X (n_samples, n_features) and class labels y
        (n_samples,), each on its draw of rows and columns (kept in ``estimators_samples_`` and
        ``estimators_features_``); with ``oob_score`` also the out-of-bag accuracy. Returns self."""
        X, y = check_X_y(X, y, estimator=self)
        _check_n_estimators(self)
        name = type(self).__name__
        if self.oob_score and not self.bootstrap:
            raise ValueError(f"{name}: oob_score=True needs bootstrap=True (out-of-bag samples exist only then)")
        n, d = X.shape
        n_rows = _n_draw(self.max_samples, n, "max_samples", name)
        n_cols = _n_draw(self.max_features, d, "max_features", name)
        base = self.estimator if self.estimator is not None else DecisionTreeClassifier()
        self.classes_ = np.unique(y)
        self.n_classes_ = len(self.classes_)
        rng = _rng(self.random_state)
        self.estimators_, self.estimators_samples_, self.estimators_features_ = [], [], []
        # trees take the draw as sample weights (as in scikit-learn) and share one presorting of X
        weighted = isinstance(base, _BaseTree)
        presorted = (_presort(X.astype(np.float64, copy=False), need_rank=True)
                     if weighted and n_cols == d and not self.bootstrap_features else None)
        for _ in range(self.n_estimators):
            seed = rng.randint(_MAX_INT)
            member_rng = np.random.RandomState(seed)
            cols = (member_rng.randint(0, d, n_cols) if self.bootstrap_features
                    else np.sort(member_rng.permutation(d)[:n_cols]))
            rows = member_rng.randint(0, n, n_rows) if self.bootstrap else member_rng.permutation(n)[:n_rows]
            member = _clone(base)
            if "random_state" in member.get_params(deep=False):
                member.set_params(random_state=seed)
            if weighted:
                if presorted is not None:
                    member._presorted = presorted
                member.fit(X[:, cols], y, sample_weight=np.bincount(rows, minlength=n).astype(float))
            else:
                member.fit(X[rows][:, cols], y[rows])
            self.estimators_.append(member)
            self.estimators_samples_.append(rows)
            self.estimators_features_.append(cols)
        self.n_features_in_ = d
        if self.oob_score:
            scores = np.zeros((n, self.n_classes_))
            for member, rows, cols in zip(self.estimators_, self.estimators_samples_, self.estimators_features_):
                out = np.ones(n, bool)
                out[rows] = False
                if out.any():
                    scores[out] += self._member_proba(member, X[out][:, cols])
            seen = scores.sum(1) > 0
            self.oob_decision_function_ = np.where(seen[:, None], scores / np.maximum(scores.sum(1, keepdims=True),
                                                                                      1e-300), np.nan)
            self.oob_score_ = accuracy_score(y[seen], self.classes_[scores[seen].argmax(1)])
        return self

    def _member_proba(self, member, X: np.ndarray) -> np.ndarray:
        """A member's class probabilities (or one-hot votes) in the columns of ``self.classes_``."""
        cols = np.searchsorted(self.classes_, member.classes_)
        out = np.zeros((X.shape[0], self.n_classes_))
        if hasattr(member, "predict_proba"):
            out[:, cols] = np.asarray(member.predict_proba(X))
        else:
            pred = np.searchsorted(self.classes_, np.asarray(member.predict(X)))
            out[np.arange(X.shape[0]), pred] = 1.0
        return out

    def _check_X(self, X) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        X = check_array(X, estimator=self)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"{type(self).__name__}: X has {X.shape[1]} features, but the ensemble was fitted "
                             f"with {self.n_features_in_}")
        return X

    def predict_proba(self, X):
        """The mean of the members' class probabilities (vote fractions for members without predict_proba)."""
        Xc = self._check_X(X)
        proba = np.mean([self._member_proba(m, Xc[:, c]) for m, c in zip(self.estimators_,
                                                                         self.estimators_features_)], axis=0)
        return like_input(proba, X)

    def predict(self, X):
        """The class (from ``classes_``) with the largest mean member probability, shape (n_samples,)."""
        Xc = self._check_X(X)
        proba = np.mean([self._member_proba(m, Xc[:, c]) for m, c in zip(self.estimators_,
                                                                         self.estimators_features_)], axis=0)
        return like_input(self.classes_[proba.argmax(1)], X)
