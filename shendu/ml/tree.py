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


def _presort(X: np.ndarray, need_rank: bool):
    """(order0, rank, n_rank): each feature's samples in value order (d, n), and (if ``need_rank``) each
    sample's position in that order (n, d), positions being below n_rank."""
    n, d = X.shape
    order0 = np.ascontiguousarray(np.argsort(X, axis=0).T)           # (d, n); ties need no order
    rank = None
    if need_rank:
        rank = np.empty((n, d), np.int64)
        np.put_along_axis(rank, order0.T, np.arange(n)[:, None], axis=0)
    return order0, rank, n


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

    # -- growing the tree, one depth level at a time ------------------------------------------
    def _build(self, X: np.ndarray, S: np.ndarray, w: np.ndarray, rng, codes=None, presorted=None) -> None:
        """Grow the tree breadth-first: every node of a depth level searches its best split at once.

        At each level the samples of the nodes still to be split are laid out, for every candidate feature
        (a row), sorted by (node, feature value). Runs of equal values within a node cannot be separated, so
        the per-sample statistics S·w (w·one-hot class, or (w·y, w·y²)) are summed per run (one
        ``bincount``), cumulative sums restarted at each (feature, node) segment give the left child's
        statistics at every valid threshold, the weighted child impurity is scored at all of them together,
        and a lexicographic sort by (node, score) picks each node's best (ties: the first feature in the
        node's feature order, then the lowest threshold). ``codes`` are a classifier's class indices.
        """
        n, d = X.shape
        K = S.shape[1]
        n_try = _n_features_to_try(self.max_features, d, type(self).__name__)
        max_depth = np.inf if self.max_depth is None else self.max_depth
        cap = 2 * n + 1
        left_c, right_c = np.full(cap, -1, np.intp), np.full(cap, -1, np.intp)
        feat, thr = np.full(cap, -2, np.intp), np.full(cap, -2.0)
        stats, weight = np.zeros((cap, K)), np.zeros(cap)
        count, depth_of = np.zeros(cap, np.intp), np.zeros(cap, np.intp)
        Sw = S * w[:, None]
        stats[0], weight[0], count[0] = Sw.sum(0), w.sum(), n
        n_nodes = 1
        node_of = np.zeros(n, np.intp)                                # each sample's current node
        frontier = np.array([0])
        if presorted is None:
            order0, rank, n_rank = _presort(X, need_rank=n_try < d)
        else:  # a forest's presorting of the full X, restricted to this tree's rows
            order0, rank, n_rank = presorted
        XT_flat = np.ascontiguousarray(X.T).ravel() if n_try == d else None
        row_start = (np.arange(d) * n)[:, None]                       # (d, 1) each feature's offset in XT_flat
        X_flat = X.ravel()
        unit_w = bool((w == 1.0).all())                               # then a run's weight is its size
        SwT = np.ascontiguousarray(Sw.T)                              # (K, n): a column per statistic
        while len(frontier):
            imp = _impurity(stats[frontier], weight[frontier], self.criterion)
            grow = ((depth_of[frontier] < max_depth) & (count[frontier] >= self._min_split)
                    & (count[frontier] >= 2 * self._min_leaf) & (imp > _EPS))
            A = frontier[grow]                                        # nodes to split at this level
            if not len(A):
                break
            loc = np.full(n_nodes, -1)
            loc[A] = np.arange(len(A))
            sample_loc = loc[node_of]                                 # (n,) local node index, -1: settled
            if n_try == d:
                seq = order0[(sample_loc >= 0)[order0]].reshape(d, -1)   # (d, m) by value, active samples
                keys = sample_loc[seq].astype(np.int16 if len(A) < 2 ** 15 else np.int64)  # int16: a radix sort
                perm = np.argsort(keys, axis=1, kind="stable")
                perm += row_start // n * perm.shape[1]                # flat positions in seq
                seq = seq.ravel()[perm]
                V = XT_flat[seq + row_start]                          # (d, m) values, sorted by (node, value)
                feats = None
            else:
                act = np.flatnonzero(sample_loc >= 0)
                feats = np.argsort(rng.random_sample((len(A), d)), axis=1)[:, :n_try]   # (A, F) per node
                fs = feats[sample_loc[act]]                           # (m, F) each slot's feature per sample
                key = sample_loc[act][:, None] * n_rank + rank[act[:, None], fs]
                perm = np.argsort(key.T, axis=1)                      # (F, m) by (node, value)
                seq = act[perm]
                V = X_flat[seq * d + np.take_along_axis(fs.T, perm, axis=1)]   # (F, m) each slot's values
            R, m = seq.shape
            node_seq = sample_loc[seq]                                # (R, m) local node of each position
            new_seg = np.ones((R, m), bool)
            new_seg[:, 1:] = node_seq[:, 1:] != node_seq[:, :-1]
            first = new_seg.copy()
            first[:, 1:] |= V[:, 1:] > V[:, :-1]                      # a run of equal values starts
            flat_first = first.ravel()
            gid = np.cumsum(flat_first) - 1
            G = int(gid[-1]) + 1
            flat_seq = seq.ravel()
            if codes is not None:
                run_stats = np.bincount(gid * K + codes[flat_seq], weights=None if unit_w else w[flat_seq],
                                        minlength=G * K).reshape(G, K)
            else:
                run_stats = np.stack([np.bincount(gid, weights=SwT[k][flat_seq], minlength=G) for k in range(K)], 1)
            starts = np.flatnonzero(flat_first)                      # (G,) flat position of each run
            run_node = node_seq.ravel()[starts]
            seg_first = new_seg.ravel()[starts]                       # the run opens a (feature, node) segment
            seg_start = np.flatnonzero(seg_first)
            # cumulative sums with a leading zero: index base + 1 = 0 when the segment starts at the first run
            base1 = seg_start[np.cumsum(seg_first) - 1]               # (G,) 1 + the run before the segment
            cn = np.concatenate([starts, [R * m]])                   # samples before each run (and the end)
            nl = cn[1:] - cn[base1]                                   # samples left of each threshold
            node_ids = A[run_node]
            seg_last = np.concatenate([seg_first[1:], [True]])
            valid = ~seg_last & (nl >= self._min_leaf) & (count[node_ids] - nl >= self._min_leaf)
            g = np.flatnonzero(valid)
            if not len(g):
                break
            cs = np.concatenate([np.zeros((1, K)), np.cumsum(run_stats, 0)])
            bg = base1[g]
            nl, node_ids = nl[g], node_ids[g]
            if unit_w:
                wl = nl.astype(np.float64)
            else:
                cw = np.concatenate([[0.0], np.cumsum(np.bincount(gid, weights=w[flat_seq], minlength=G))])
                wl = cw[g + 1] - cw[bg]
            wr = weight[node_ids] - wl
            if self.criterion == "squared_error":                     # the score needs only Σ w·y
                left = cs[g + 1, 0] - cs[bg, 0]
                score = -(left ** 2 / np.maximum(wl, _EPS) + (stats[node_ids, 0] - left) ** 2 / np.maximum(wr, _EPS))
            else:
                left = cs[g + 1] - cs[bg]                             # the left child's statistics
                right = stats[node_ids] - left
            if self.criterion == "gini":
                score = -(np.einsum("gk,gk->g", left, left) / np.maximum(wl, _EPS)
                          + np.einsum("gk,gk->g", right, right) / np.maximum(wr, _EPS))
            elif self.criterion != "squared_error":
                score = wl * _impurity(left, wl, self.criterion) + wr * _impurity(right, wr, self.criterion)
            # each node's lowest score; ties: the first candidate in (row, value) order
            cand_node = run_node[g]
            by_node = np.argsort(cand_node.astype(np.int16 if len(A) < 2 ** 15 else np.int64), kind="stable")
            sorted_node, sorted_score = cand_node[by_node], score[by_node]
            first_of_node = np.empty(len(by_node), bool)
            first_of_node[0] = True
            np.not_equal(sorted_node[1:], sorted_node[:-1], out=first_of_node[1:])
            seg = np.flatnonzero(first_of_node)                       # each node's first candidate
            low = np.minimum.reduceat(sorted_score, seg)
            hit = np.flatnonzero(sorted_score == low[np.cumsum(first_of_node) - 1])
            best = by_node[hit[np.searchsorted(hit, seg)]]             # each node's first hit
            b = g[best]                                               # each splittable node's best run
            parents = A[run_node[b]]
            rows = starts[b] // m
            lo, hi = V.ravel()[starts[b]], V.ravel()[starts[b + 1]]
            t = (lo + hi) / 2.0
            t = np.where(t == hi, lo, t)                              # midpoint rounded up: keep hi on the right
            f = rows if feats is None else feats[run_node[b], rows]
            ls, lw, ln = cs[b + 1] - cs[base1[b]], wl[best], nl[best]
            rs, rw, rn = stats[parents] - ls, weight[parents] - lw, count[parents] - ln
            if self.min_impurity_decrease > 0:
                dec = (weight[parents] * _impurity(stats[parents], weight[parents], self.criterion)
                       - lw * _impurity(ls, lw, self.criterion) - rw * _impurity(rs, rw, self.criterion))
                keep = dec / weight[0] + _EPS >= self.min_impurity_decrease
                parents, f, t, ls, lw, ln, rs, rw, rn = (a[keep] for a in (parents, f, t, ls, lw, ln, rs, rw, rn))
                if not len(parents):
                    break
            P = len(parents)
            lid = n_nodes + 2 * np.arange(P)
            rid = lid + 1
            left_c[parents], right_c[parents], feat[parents], thr[parents] = lid, rid, f, t
            stats[lid], weight[lid], count[lid] = ls, lw, ln
            stats[rid], weight[rid], count[rid] = rs, rw, rn
            depth_of[lid] = depth_of[rid] = depth_of[parents] + 1
            n_nodes += 2 * P
            moving = np.flatnonzero(left_c[node_of] >= 0)             # samples of the nodes just split
            pn = node_of[moving]
            go_left = X[moving, feat[pn]] <= thr[pn]
            node_of[moving] = np.where(go_left, left_c[pn], right_c[pn])
            frontier = np.concatenate([lid, rid])
            frontier.sort()

        N = n_nodes
        stats, weight = stats[:N], weight[:N]
        if self.criterion == "squared_error":
            value = (stats[:, 0] / np.maximum(weight, _EPS))[:, None]
        else:
            value = stats / np.maximum(weight, _EPS)[:, None]
        self.tree_ = SimpleNamespace(
            children_left=left_c[:N], children_right=right_c[:N], feature=feat[:N], threshold=thr[:N],
            value=value, impurity=_impurity(stats, weight, self.criterion), n_node_samples=count[:N],
            weighted_n_node_samples=weight, node_count=N, max_depth=int(depth_of[:N].max()), depth=depth_of[:N])
        t = self.tree_
        internal = t.children_left >= 0
        gain = np.zeros(N)
        gain[internal] = (t.weighted_n_node_samples[internal] * t.impurity[internal]
                          - t.weighted_n_node_samples[t.children_left[internal]] * t.impurity[t.children_left[internal]]
                          - t.weighted_n_node_samples[t.children_right[internal]]
                          * t.impurity[t.children_right[internal]])
        importances = np.bincount(t.feature[internal], weights=gain[internal], minlength=d)
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
        presorted = getattr(self, "_presorted", None)  # set by a forest: (order0, rank, n_rank) of the full X
        if presorted is not None:
            del self._presorted
            order0, rank, n_rank = presorted
            if not keep.all():
                new_index = np.cumsum(keep) - 1
                order0 = new_index[order0[keep[order0]].reshape(order0.shape[0], -1)]
                rank = None if rank is None else rank[keep]
            presorted = (order0, rank, n_rank)
        self._build(X64[keep], S[keep], w[keep], _rng(self.random_state), codes, presorted)
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
        """Grow the tree on X (n_samples, n_features) and class labels y (n_samples,), optionally weighting
        the samples by ``sample_weight`` (n_samples,); the fitted tree is in ``tree_``. Returns self."""
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
        """The log of :meth:`predict_proba` (``-inf`` for classes absent from a leaf), shape (n, n_classes)."""
        Xc = self._check_X(X)
        with np.errstate(divide="ignore"):
            return like_input(np.log(self.tree_.value[self._apply(Xc)]), X)

    def predict(self, X):
        """The most frequent training class of each sample's leaf (from ``classes_``), shape (n,)."""
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
        """Grow the tree on X (n_samples, n_features) and targets y (n_samples,), optionally weighting the
        samples by ``sample_weight`` (n_samples,); the fitted tree is in ``tree_``. Returns self."""
        X, y = check_X_y(X, y, y_numeric=True, estimator=self)
        y64 = y.astype(np.float64)
        self._y_dtype = X.dtype
        return self._fit(X, np.stack([y64, y64 * y64], axis=1), sample_weight, X.shape[1])

    def predict(self, X):
        """The mean training target of each sample's leaf, shape (n,)."""
        Xc = self._check_X(X)
        return like_input(self.tree_.value[self._apply(Xc), 0].astype(self._y_dtype), X)

