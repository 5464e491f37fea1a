"""CART decision trees: DecisionTreeClassifier and DecisionTreeRegressor (scikit-learn's API).

A node's best split is searched feature by feature at once: the node's samples are sorted along
every candidate feature (one ``argsort`` of the (n, F) block), cumulative sums of the class counts
(or of y and y²) give the impurity of the left and right children at every threshold of every
feature in one array operation, and the smallest weighted child impurity wins. Thresholds are the
midpoints between consecutive distinct values. The recursion over nodes uses an explicit stack;
prediction walks all samples down the tree one depth level at a time.

The fitted tree is a set of flat arrays (``tree_``, like scikit-learn's): ``children_left``,
``children_right`` (-1 at a leaf), ``feature``, ``threshold``, ``value`` (class fractions or the
mean target), ``impurity``, ``n_node_samples``, ``weighted_n_node_samples``.
"""
from __future__ import annotations

import numbers
from types import SimpleNamespace

import numpy as np

from shendu.ml.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    check_array,
    check_is_fitted,
    check_X_y,
    like_input,
)

__all__ = ["DecisionTreeClassifier", "DecisionTreeRegressor"]

_EPS = np.finfo(np.float64).eps


def _rng(random_state) -> np.random.Generator | np.random.RandomState:
    if isinstance(random_state, (np.random.Generator, np.random.RandomState)):
        return random_state
    return np.random.RandomState(random_state)


def _n_features_to_try(max_features, n_features: int, name: str) -> int:
    """scikit-learn's max_features rule: None (all), 'sqrt', 'log2', an int, or a float fraction."""
    if max_features is None:
        return n_features
    if max_features == "sqrt":
        return max(1, int(np.sqrt(n_features)))
    if max_features == "log2":
        return max(1, int(np.log2(n_features)))
    if isinstance(max_features, numbers.Integral) and not isinstance(max_features, bool):
        if not 1 <= max_features <= n_features:
            raise ValueError(f"{name}: max_features={max_features} must be in [1, n_features={n_features}]")
        return int(max_features)
    if isinstance(max_features, numbers.Real) and 0.0 < max_features <= 1.0:
        return max(1, int(max_features * n_features))
    raise ValueError(f"{name}: max_features must be None, 'sqrt', 'log2', an int in [1, n_features] or a "
                     f"float in (0, 1], got {max_features!r}")


def _impurity(stats: np.ndarray, weight: np.ndarray, criterion: str) -> np.ndarray:
    """Node impurity from its statistics (..., K) and total weight (...): class weights for gini/entropy,
    (sum w·y, sum w·y²) for squared_error."""
    w = np.maximum(weight, _EPS)[..., None]
    if criterion == "gini":
        p = stats / w
        return 1.0 - (p * p).sum(-1)
    if criterion in ("entropy", "log_loss"):
        p = stats / w
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0).sum(-1)
    mean = stats[..., 0] / w[..., 0]
    return np.maximum(stats[..., 1] / w[..., 0] - mean * mean, 0.0)


class _BaseTree(BaseEstimator):
    _criteria: tuple[str, ...] = ()

    def _check_params(self, n_samples: int) -> None:
        name = type(self).__name__
        if self.criterion not in self._criteria:
            raise ValueError(f"{name}: criterion must be one of {self._criteria}, got {self.criterion!r}")
        if self.max_depth is not None and (not isinstance(self.max_depth, numbers.Integral) or self.max_depth < 1):
            raise ValueError(f"{name}: max_depth must be None or an int >= 1, got {self.max_depth!r}")
        mss, msl = self.min_samples_split, self.min_samples_leaf
        if isinstance(mss, numbers.Integral) and not isinstance(mss, bool):
            if mss < 2:
                raise ValueError(f"{name}: min_samples_split must be an int >= 2 or a float in (0, 1], got {mss}")
            self._min_split = int(mss)
        elif isinstance(mss, numbers.Real) and 0.0 < mss <= 1.0:
            self._min_split = max(2, int(np.ceil(mss * n_samples)))
        else:
            raise ValueError(f"{name}: min_samples_split must be an int >= 2 or a float in (0, 1], got {mss!r}")
        if isinstance(msl, numbers.Integral) and not isinstance(msl, bool):
            if msl < 1:
                raise ValueError(f"{name}: min_samples_leaf must be an int >= 1 or a float in (0, 1), got {msl}")
            self._min_leaf = int(msl)
        elif isinstance(msl, numbers.Real) and 0.0 < msl < 1.0:
            self._min_leaf = max(1, int(np.ceil(msl * n_samples)))
        else:
            raise ValueError(f"{name}: min_samples_leaf must be an int >= 1 or a float in (0, 1), got {msl!r}")
        if self.min_impurity_decrease < 0:
            raise ValueError(f"{name}: min_impurity_decrease must be >= 0, got {self.min_impurity_decrease}")

    # -- the search for one node's best split --------------------------------------------------
    def _best_split(self, X: np.ndarray, S: np.ndarray, w: np.ndarray, features: np.ndarray,
                    codes: np.ndarray | None = None):
        """(feature, threshold) of the best split of a node's samples X (n, d) with weighted per-sample
        statistics S (n, K) (w·one-hot class, or (w·y, w·y²)) and weights w (n,), over ``features``;
        ``codes`` (n,) are the class indices of a classifier's samples. None if no split is valid.

        Samples with equal values of a feature cannot be separated, so the statistics are first summed
        per run of equal values (one ``bincount`` over all features' runs), and the children's impurities
        are computed at the run boundaries only (the valid thresholds) from cumulative sums over the runs.
        """
        n, K = S.shape
        F = len(features)
        xs_t = X[:, features].T                                      # (F, n)
        order = np.argsort(xs_t, axis=1, kind="stable")              # (F, n)
        xs = np.take_along_axis(xs_t, order, axis=1)                 # (F, n) each feature's sorted values
        change = xs[:, 1:] > xs[:, :-1]                              # (F, n-1) a new run starts
        first = np.concatenate([np.ones((F, 1), bool), change], axis=1).ravel()  # (F·n,) run starts
        gid = np.cumsum(first) - 1                                   # (F·n,) run id, runs ordered by feature
        G = int(gid[-1]) + 1
        flat = order.ravel()
        if codes is not None:  # classes: one bincount over (run, class) pairs
            stats = np.bincount(gid * K + codes[flat], weights=w[flat], minlength=G * K).reshape(G, K)
        else:
            stats = np.stack([np.bincount(gid, weights=S[flat, k], minlength=G) for k in range(K)], 1)  # (G, K)
        counts = np.bincount(gid, minlength=G)                       # (G,) samples per run
        run_w = np.bincount(gid, weights=w[flat], minlength=G)       # (G,)
        starts = np.flatnonzero(first)                               # (G,) flat position of each run's start
        feature_of = starts // n                                     # (G,) which feature a run belongs to
        # cumulative sums over the runs, restarted at every feature: the left child of "split after run g"
        cs, cc, cw = np.cumsum(stats, 0), np.cumsum(counts), np.cumsum(run_w)
        feat_first = np.searchsorted(feature_of, np.arange(F))       # (F,) first run of each feature
        base = feat_first[feature_of] - 1                            # run before this feature's first run
        prev = base >= 0
        left = cs - np.where(prev[:, None], cs[np.maximum(base, 0)], 0.0)
        n_left = cc - np.where(prev, cc[np.maximum(base, 0)], 0)
        wl = cw - np.where(prev, cw[np.maximum(base, 0)], 0.0)
        right, wr = S.sum(0) - left, w.sum() - wl
        last = np.append(feature_of[1:] != feature_of[:-1], True)   # the last run of a feature: no split after
        valid = ~last & (n_left >= self._min_leaf) & (n - n_left >= self._min_leaf)
        if not valid.any():
            return None
        g = np.flatnonzero(valid)
        left, right, wl, wr = left[g], right[g], wl[g], wr[g]
        if self.criterion == "gini":
            # Σ over children of w·gini = w_total − Σ_k L_k²/w_L − Σ_k R_k²/w_R
            score = -((left * left).sum(1) / np.maximum(wl, _EPS) + (right * right).sum(1) / np.maximum(wr, _EPS))
        elif self.criterion == "squared_error":
            # Σ over children of SSE = Σ w y² − (Σ w y)²/w_L − (Σ w y)²/w_R; the Σ w y² term is the same for all
            score = -(left[:, 0] ** 2 / np.maximum(wl, _EPS) + right[:, 0] ** 2 / np.maximum(wr, _EPS))
        else:
            score = wl * _impurity(left, wl, self.criterion) + wr * _impurity(right, wr, self.criterion)
        best = g[int(np.argmin(score))]                              # ties: the first feature, lowest threshold
        lo, hi = xs.ravel()[starts[best]], xs.ravel()[starts[best + 1]]
        threshold = (lo + hi) / 2.0
        if threshold == hi:  # the midpoint rounded up to the right value: keep that value on the right
            threshold = lo
        return int(features[feature_of[best]]), float(threshold)

    def _build(self, X: np.ndarray, S: np.ndarray, w: np.ndarray, rng, codes=None) -> None:
        n_samples, n_features = X.shape
        n_try = _n_features_to_try(self.max_features, n_features, type(self).__name__)
        max_depth = np.inf if self.max_depth is None else self.max_depth
        weighted_total = w.sum()
        left_c, right_c, feat, thr, val, imp, n_node, w_node, depth_of = [], [], [], [], [], [], [], [], []

        def new_node(idx, depth):
            node_w = w[idx].sum()
            stats = (S[idx] * w[idx, None]).sum(0)
            left_c.append(-1), right_c.append(-1), feat.append(-2), thr.append(-2.0)
            val.append(stats / max(node_w, _EPS) if self.criterion != "squared_error"
                       else np.array([stats[0] / max(node_w, _EPS)]))
            imp.append(float(_impurity(stats, np.asarray(node_w), self.criterion)))
            n_node.append(len(idx)), w_node.append(node_w), depth_of.append(depth)
            return len(left_c) - 1

        stack = [(np.arange(n_samples), new_node(np.arange(n_samples), 0), 0)]
        while stack:
            idx, node, depth = stack.pop()
            n = len(idx)
            if depth >= max_depth or n < self._min_split or n < 2 * self._min_leaf or imp[node] <= _EPS:
                continue
            features = rng.permutation(n_features)[:n_try] if n_try < n_features else np.arange(n_features)
            Xn, wn = X[idx], w[idx]
            split = self._best_split(Xn, S[idx] * wn[:, None], wn, features, None if codes is None else codes[idx])
            if split is None:
                continue
            f, t = split
            go_left = Xn[:, f] <= t
            li, ri = idx[go_left], idx[~go_left]
            left, right = new_node(li, depth + 1), new_node(ri, depth + 1)
            decrease = (w_node[node] * imp[node] - w_node[left] * imp[left] - w_node[right] * imp[right])
            if decrease / weighted_total + _EPS < self.min_impurity_decrease:
                for _ in range(2):  # undo the two children
                    for lst in (left_c, right_c, feat, thr, val, imp, n_node, w_node, depth_of):
                        lst.pop()
                continue
            left_c[node], right_c[node], feat[node], thr[node] = left, right, f, t
            stack.append((ri, right, depth + 1))
            stack.append((li, left, depth + 1))

        self.tree_ = SimpleNamespace(
            children_left=np.array(left_c, dtype=np.intp), children_right=np.array(right_c, dtype=np.intp),
            feature=np.array(feat, dtype=np.intp), threshold=np.array(thr, dtype=np.float64),
            value=np.array(val, dtype=np.float64), impurity=np.array(imp, dtype=np.float64),
            n_node_samples=np.array(n_node, dtype=np.intp), weighted_n_node_samples=np.array(w_node),
            node_count=len(left_c), max_depth=int(max(depth_of)), depth=np.array(depth_of, dtype=np.intp))
        t = self.tree_
        internal = t.children_left >= 0
        gain = np.zeros(len(left_c))
        gain[internal] = (t.weighted_n_node_samples[internal] * t.impurity[internal]
                          - t.weighted_n_node_samples[t.children_left[internal]] * t.impurity[t.children_left[internal]]
                          - t.weighted_n_node_samples[t.children_right[internal]]
                          * t.impurity[t.children_right[internal]])
        importances = np.bincount(t.feature[internal], weights=gain[internal], minlength=n_features)
        self.feature_importances_ = importances / importances.sum() if importances.sum() > 0 else importances

    def _fit(self, X, S, sample_weight, n_features):
        self._check_params(X.shape[0])
        w = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (X.shape[0],):
            raise ValueError(f"{type(self).__name__}: sample_weight must have shape ({X.shape[0]},), got {w.shape}")
        if (w < 0).any():
            raise ValueError(f"{type(self).__name__}: sample_weight must be non-negative")
        keep = w > 0
        X64 = X.astype(np.float64, copy=False)
        codes = S.argmax(1)[keep] if self.criterion != "squared_error" else None
        self._build(X64[keep], S[keep], w[keep], _rng(self.random_state), codes)
        self.n_features_in_ = n_features
        return self

    # -- prediction ----------------------------------------------------------------------------
    def _check_X(self, X) -> np.ndarray:
        check_is_fitted(self, "tree_")
        X = check_array(X, estimator=self)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"{type(self).__name__}: X has {X.shape[1]} features, but the tree was fitted "
                             f"with {self.n_features_in_}")
        return X

    def _apply(self, X: np.ndarray) -> np.ndarray:
        t = self.tree_
        node = np.zeros(X.shape[0], dtype=np.intp)
        rows = np.arange(X.shape[0])
        for _ in range(t.max_depth):  # one step down the tree for every sample at once
            f = t.feature[node]
            inner = f >= 0
            if not inner.any():
                break
            go_left = X[rows, np.where(inner, f, 0)] <= t.threshold[node]
            node = np.where(inner, np.where(go_left, t.children_left[node], t.children_right[node]), node)
        return node

    def apply(self, X):
        """The index of the leaf each sample ends in, shape (n_samples,)."""
        return like_input(self._apply(self._check_X(X)), X)

    def get_depth(self) -> int:
        """The depth of the tree (the longest root-to-leaf path; 0 for a single leaf)."""
        check_is_fitted(self, "tree_")
        return self.tree_.max_depth

    def get_n_leaves(self) -> int:
        """The number of leaves."""
        check_is_fitted(self, "tree_")
        return int((self.tree_.children_left < 0).sum())


class DecisionTreeClassifier(ClassifierMixin, _BaseTree):
    """A CART classification tree (scikit-learn's DecisionTreeClassifier).

    Args:
        criterion: ``"gini"`` (default), ``"entropy"`` or ``"log_loss"`` (the same as entropy).
        max_depth: the deepest a leaf may be (None: grow until leaves are pure or too small).
        min_samples_split: the fewest samples a node needs to be split (int, or a fraction of n_samples).
        min_samples_leaf: the fewest samples each child must keep (int, or a fraction of n_samples).
        max_features: features tried per split: None (all), ``"sqrt"``, ``"log2"``, an int or a fraction;
            they are a random subset drawn with ``random_state`` at each node.
        random_state: seed (or a NumPy RandomState) of the feature subsets.
        min_impurity_decrease: a split must lower the weighted impurity by at least this much.

    Attributes:
        classes_, n_classes_, n_features_in_, feature_importances_ (normalised total impurity decrease), tree_.
    """
    _criteria = ("gini", "entropy", "log_loss")

    def __init__(self, criterion: str = "gini", max_depth: int | None = None, min_samples_split=2,
                 min_samples_leaf=1, max_features=None, random_state=None, min_impurity_decrease: float = 0.0):
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state
        self.min_impurity_decrease = min_impurity_decrease

    def fit(self, X, y, sample_weight=None) -> DecisionTreeClassifier:
        X, y = check_X_y(X, y, estimator=self)
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.n_classes_ = len(self.classes_)
        onehot = np.zeros((len(y), self.n_classes_))
        onehot[np.arange(len(y)), codes] = 1.0
        return self._fit(X, onehot, sample_weight, X.shape[1])

    def predict_proba(self, X):
        """Class probabilities: the training class fractions of each sample's leaf, shape (n, n_classes)."""
        Xc = self._check_X(X)
        return like_input(self.tree_.value[self._apply(Xc)], X)

    def predict_log_proba(self, X):
        Xc = self._check_X(X)
        with np.errstate(divide="ignore"):
            return like_input(np.log(self.tree_.value[self._apply(Xc)]), X)

    def predict(self, X):
        Xc = self._check_X(X)
        return like_input(self.classes_[self.tree_.value[self._apply(Xc)].argmax(1)], X)


class DecisionTreeRegressor(RegressorMixin, _BaseTree):
    """A CART regression tree (scikit-learn's DecisionTreeRegressor); leaves predict their mean target.

    Args: as :class:`DecisionTreeClassifier`, with ``criterion="squared_error"`` (the only one).
    """
    _criteria = ("squared_error",)

    def __init__(self, criterion: str = "squared_error", max_depth: int | None = None, min_samples_split=2,
                 min_samples_leaf=1, max_features=None, random_state=None, min_impurity_decrease: float = 0.0):
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state
        self.min_impurity_decrease = min_impurity_decrease

    def fit(self, X, y, sample_weight=None) -> DecisionTreeRegressor:
        X, y = check_X_y(X, y, y_numeric=True, estimator=self)
        y64 = y.astype(np.float64)
        self._y_dtype = X.dtype
        return self._fit(X, np.stack([y64, y64 * y64], axis=1), sample_weight, X.shape[1])

    def predict(self, X):
        Xc = self._check_X(X)
        return like_input(self.tree_.value[self._apply(Xc), 0].astype(self._y_dtype), X)

