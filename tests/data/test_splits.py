"""Splitters against scikit-learn's indices, and train_val_test_split's guarantees."""
import numpy as np
import pytest
from sklearn import model_selection as ms

import shendu as sd
from shendu.data import KFold, LeaveOneOut, StratifiedKFold, TensorDataset, train_val_test_split


def _same_folds(ours, theirs):
    ours, theirs = list(ours), list(theirs)
    assert len(ours) == len(theirs)
    for (a_train, a_val), (b_train, b_val) in zip(ours, theirs):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_val, b_val)


@pytest.mark.parametrize("n,k", [(10, 5), (11, 3), (7, 7), (23, 4)])
@pytest.mark.parametrize("shuffle,seed", [(False, None), (True, 0), (True, 42)])
def test_kfold_matches_sklearn(n, k, shuffle, seed):
    X = np.zeros((n, 2))
    _same_folds(KFold(k, shuffle=shuffle, random_state=seed).split(X),
                ms.KFold(k, shuffle=shuffle, random_state=seed).split(X))
    assert KFold(k).get_n_splits() == k


@pytest.mark.parametrize("shuffle,seed", [(False, None), (True, 0), (True, 3)])
@pytest.mark.parametrize("k", [2, 3, 5])
def test_stratified_kfold_matches_sklearn(shuffle, seed, k):
    rng = np.random.default_rng(k)
    y = rng.choice([5, 1, 3], size=31, p=[0.5, 0.3, 0.2])
    X = np.zeros((31, 1))
    _same_folds(StratifiedKFold(k, shuffle=shuffle, random_state=seed).split(X, y),
                ms.StratifiedKFold(k, shuffle=shuffle, random_state=seed).split(X, y))
    _same_folds(StratifiedKFold(k).split(X, sd.tensor(y)), ms.StratifiedKFold(k).split(X, y))


def test_leave_one_out_matches_sklearn():
    X = np.zeros((6, 3))
    _same_folds(LeaveOneOut().split(X), ms.LeaveOneOut().split(X))
    assert LeaveOneOut().get_n_splits(X) == 6
    _same_folds(LeaveOneOut().split(6), ms.LeaveOneOut().split(X))


def test_splitter_errors():
    with pytest.raises(ValueError, match="n_splits=6"):
        list(KFold(6).split(np.zeros(5)))
    with pytest.raises(ValueError, match="shuffle is False"):
        KFold(3, random_state=0)
    with pytest.raises(ValueError, match="n_samples=1"):
        list(LeaveOneOut().split(np.zeros(1)))


def test_train_val_test_split_indices():
    train, val, test = train_val_test_split(100, (0.7, 0.2, 0.1), seed=0)
    assert (len(train), len(val), len(test)) == (70, 20, 10)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val, test])), np.arange(100))
    again = train_val_test_split(100, (0.7, 0.2, 0.1), seed=0)
    for a, b in zip((train, val, test), again):
        np.testing.assert_array_equal(a, b)
    other = train_val_test_split(100, (0.7, 0.2, 0.1), seed=1)
    assert not np.array_equal(other[0], train)
    tr, va = train_val_test_split(np.zeros((9, 2)), (0.8, 0.2))
    assert (len(tr), len(va)) == (7, 2)


def test_train_val_test_split_stratified_and_subsets():
    y = np.repeat([0, 1, 2], [60, 30, 10])
    parts = train_val_test_split(100, (0.8, 0.1, 0.1), seed=3, stratify=y)
    assert [np.bincount(y[p], minlength=3).tolist() for p in parts] == [[48, 24, 8], [6, 3, 1], [6, 3, 1]]
    ds = TensorDataset(sd.arange(100))
    subsets = train_val_test_split(ds, (0.5, 0.5), seed=0)
    assert [len(s) for s in subsets] == [50, 50]
    with pytest.raises(ValueError, match="fractions"):
        train_val_test_split(10, (0.5, 0.2))
