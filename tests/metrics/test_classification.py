"""Classification metrics against scikit-learn on random inputs; the stateful Accuracy and Mean."""
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

import shendu as sd
from shendu import metrics as M


def _multiclass(seed=0, n=60, k=4):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, n)
    y_pred = np.where(rng.random(n) < 0.5, y_true, rng.integers(0, k, n))
    return y_true, y_pred


def test_accuracy_labels_scores_and_tensors():
    y_true, y_pred = _multiclass()
    w = np.random.default_rng(1).random(len(y_true))
    assert M.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert M.accuracy(sd.tensor(y_true), sd.tensor(y_pred), sample_weight=w) == pytest.approx(
        skm.accuracy_score(y_true, y_pred, sample_weight=w))
    assert M.accuracy(y_true, y_pred, normalize=False) == skm.accuracy_score(y_true, y_pred, normalize=False)
    scores = np.eye(4)[y_pred] + 0.1
    assert M.accuracy(y_true, sd.tensor(scores, dtype=sd.float32)) == pytest.approx(skm.accuracy_score(y_true, y_pred))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy_with_ties(k):
    rng = np.random.default_rng(k)
    y_true = rng.integers(0, 5, 80)
    y_true[:5] = np.arange(5)
    scores = np.round(rng.random((80, 5)), 1)  # many ties
    assert M.top_k_accuracy(y_true, scores, k=k) == pytest.approx(skm.top_k_accuracy_score(y_true, scores, k=k))
    binary = (y_true > 2).astype(int)
    s1 = rng.random(80)
    assert M.top_k_accuracy(binary, s1, k=1) == pytest.approx(skm.top_k_accuracy_score(binary, s1, k=1))


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("weighted", [False, True])
def test_precision_recall_f1_multiclass(average, weighted):
    y_true, y_pred = _multiclass(seed=2, k=5)
    y_pred[y_pred == 4] = 3  # label 4 is never predicted: a zero division for its precision
    w = np.random.default_rng(3).random(len(y_true)) if weighted else None
    for zd in (0, 1, np.nan):
        kw = dict(average=average, sample_weight=w, zero_division=zd)
        ours = M.precision_recall_fscore_support(y_true, y_pred, **kw)
        theirs = skm.precision_recall_fscore_support(y_true, y_pred, **kw)
        for a, b in zip(ours[:3], theirs[:3]):
            np.testing.assert_allclose(a, b, rtol=1e-12)
        if average is None:
            np.testing.assert_allclose(ours[3], theirs[3])
        for ours_fn, sk_fn in [(M.precision_score, skm.precision_score), (M.recall_score, skm.recall_score),
                               (M.f1_score, skm.f1_score)]:
            np.testing.assert_allclose(ours_fn(y_true, y_pred, **kw), sk_fn(y_true, y_pred, **kw), rtol=1e-12)
    np.testing.assert_allclose(M.fbeta_score(y_true, y_pred, beta=0.5, average=average, zero_division=0.0),
                               skm.fbeta_score(y_true, y_pred, beta=0.5, average=average, zero_division=0.0))


@pytest.mark.parametrize("pos_label", [1, 0])
def test_binary_average_and_pos_label(pos_label):
    rng = np.random.default_rng(4)
    y_true, y_pred = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    for ours_fn, sk_fn in [(M.precision, skm.precision_score), (M.recall, skm.recall_score), (M.f1, skm.f1_score)]:
        assert ours_fn(y_true, y_pred, pos_label=pos_label) == pytest.approx(sk_fn(y_true, y_pred, pos_label=pos_label))
    labels_str = np.array(["cat", "dog"])[y_true], np.array(["cat", "dog"])[y_pred]
    assert M.f1_score(*labels_str, pos_label="dog") == pytest.approx(skm.f1_score(*labels_str, pos_label="dog"))
    with pytest.raises(ValueError, match="average='binary'"):
        M.f1_score([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="pos_label=7"):
        M.f1_score(y_true, y_pred, pos_label=7)


def test_zero_division_warn_and_no_positives():
    with pytest.warns(M.UndefinedMetricWarning):
        assert M.precision_score([1, 0, 1], [0, 0, 0]) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for zd in (0, 1):
            assert M.f1_score([0, 0], [0, 0], zero_division=zd) == skm.f1_score([0, 0], [0, 0], zero_division=zd)


@pytest.mark.parametrize("normalize", [None, "true", "pred", "all"])
def test_confusion_matrix(normalize):
    y_true, y_pred = _multiclass(seed=5)
    w = np.random.default_rng(6).random(len(y_true))
    np.testing.assert_allclose(M.confusion_matrix(y_true, y_pred, normalize=normalize),
                               skm.confusion_matrix(y_true, y_pred, normalize=normalize))
    np.testing.assert_allclose(M.confusion_matrix(y_true, y_pred, labels=[3, 0, 1], sample_weight=w),
                               skm.confusion_matrix(y_true, y_pred, labels=[3, 0, 1], sample_weight=w))
    assert M.confusion_matrix(y_true, y_pred).dtype == np.int64


def test_log_loss():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 3, 40)
    y[:3] = [0, 1, 2]
    p = rng.random((40, 3))
    p /= p.sum(1, keepdims=True)
    p[0] = [0.0, 1.0, 0.0]  # log(0) is clipped
    assert M.log_loss(y, p) == pytest.approx(skm.log_loss(y, p), rel=1e-12)
    w = rng.random(40)
    assert M.log_loss(y, sd.tensor(p, dtype=sd.float64), sample_weight=w) == pytest.approx(
        skm.log_loss(y, p, sample_weight=w), rel=1e-12)
    yb, pb = rng.integers(0, 2, 30), rng.random(30)
    assert M.log_loss(yb, pb) == pytest.approx(skm.log_loss(yb, pb), rel=1e-12)
    y2 = np.array([0, 2, 2])
    p4 = np.full((3, 4), 0.25)
    assert M.log_loss(y2, p4, labels=[0, 1, 2, 3]) == pytest.approx(skm.log_loss(y2, p4, labels=[0, 1, 2, 3]))


def test_stateful_accuracy_and_mean():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 5, 100)
    scores = rng.normal(size=(100, 5))
    acc, top2 = M.Accuracy(), M.Accuracy(top_k=2)
    for i in range(0, 100, 32):
        acc.update(sd.tensor(scores[i:i + 32], dtype=sd.float32), sd.tensor(y[i:i + 32]))
        top2.update(scores[i:i + 32], y[i:i + 32])
    assert acc.compute() == pytest.approx(skm.accuracy_score(y, scores.argmax(1)))
    assert top2.compute() == pytest.approx(skm.top_k_accuracy_score(y, scores, k=2))
    acc.reset()
    assert np.isnan(acc.compute())
    acc.update(np.array([1, 2, 3]), np.array([1, 0, 3]))
    assert acc.compute() == pytest.approx(2 / 3)
    mean = M.Mean()
    mean.update(sd.tensor(2.0), weight=3)
    mean.update(4.0, weight=1)
    mean.update(np.array([1.0, 3.0]))
    assert mean.compute() == pytest.approx((6 + 4 + 4) / 6)
    total = M.Sum()
    total.update(sd.ones(3))
    assert total.compute() == 3.0
