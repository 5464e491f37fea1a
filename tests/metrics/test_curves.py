"""ROC and precision-recall curves and their areas against scikit-learn, with tied scores."""
import numpy as np
import pytest
from sklearn import metrics as skm

import shendu as sd
from shendu import metrics as M


def _binary(seed, n=70, decimals=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.round(0.4 * y + rng.random(n), decimals)  # rounding makes many tied scores
    return y, s


def _same(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("drop_intermediate", [True, False])
def test_roc_curve(seed, drop_intermediate):
    y, s = _binary(seed)
    _same(M.roc_curve(y, s, drop_intermediate=drop_intermediate),
          skm.roc_curve(y, s, drop_intermediate=drop_intermediate))
    w = np.random.default_rng(seed + 10).random(len(y))
    w[:3] = 0
    _same(M.roc_curve(y, s, sample_weight=w), skm.roc_curve(y, s, sample_weight=w))
    labels = np.array([-1, 1])[y]
    _same(M.roc_curve(labels, s), skm.roc_curve(labels, s))
    _same(M.roc_curve(np.array(["a", "b"])[y], s, pos_label="a"), skm.roc_curve(np.array(["a", "b"])[y], s,
                                                                                 pos_label="a"))


@pytest.mark.parametrize("seed,decimals", [(0, 1), (3, 2), (4, 8)])
def test_roc_auc_score(seed, decimals):
    y, s = _binary(seed, decimals=decimals)
    assert M.roc_auc_score(y, s) == pytest.approx(skm.roc_auc_score(y, s), rel=1e-12)
    assert M.roc_auc_score(sd.tensor(y), sd.tensor(s, dtype=sd.float32)) == pytest.approx(
        skm.roc_auc_score(y, s.astype(np.float32)), rel=1e-6)
    w = np.random.default_rng(seed).random(len(y))
    assert M.roc_auc_score(y, s, sample_weight=w) == pytest.approx(skm.roc_auc_score(y, s, sample_weight=w))
    probs = np.stack([1 - s, s], 1)
    assert M.roc_auc_score(y, probs) == pytest.approx(skm.roc_auc_score(y, s))


def test_roc_auc_single_class_is_nan():
    with pytest.warns(M.UndefinedMetricWarning):
        assert np.isnan(M.roc_auc_score([1, 1, 1], [0.1, 0.5, 0.9]))


@pytest.mark.parametrize("seed", [0, 5])
@pytest.mark.parametrize("drop_intermediate", [False, True])
def test_precision_recall_curve(seed, drop_intermediate):
    y, s = _binary(seed)
    _same(M.precision_recall_curve(y, s, drop_intermediate=drop_intermediate),
          skm.precision_recall_curve(y, s, drop_intermediate=drop_intermediate))
    w = np.random.default_rng(seed).random(len(y))
    _same(M.precision_recall_curve(y, s, sample_weight=w), skm.precision_recall_curve(y, s, sample_weight=w))


@pytest.mark.parametrize("seed,decimals", [(0, 1), (6, 3)])
def test_average_precision_and_auc(seed, decimals):
    y, s = _binary(seed, decimals=decimals)
    assert M.average_precision_score(y, s) == pytest.approx(skm.average_precision_score(y, s), rel=1e-12)
    assert M.average_precision_score(1 - y, s, pos_label=0) == pytest.approx(
        skm.average_precision_score(1 - y, s, pos_label=0), rel=1e-12)
    x = np.sort(np.random.default_rng(seed).random(10))
    yy = np.random.default_rng(seed + 1).random(10)
    assert M.auc(x, yy) == pytest.approx(skm.auc(x, yy))
    assert M.auc(x[::-1], yy[::-1]) == pytest.approx(skm.auc(x[::-1], yy[::-1]))
