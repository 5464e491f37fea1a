"""shendu.data.splits.standardize: statistics from the training rows only (scikit-learn's StandardScaler)."""
import numpy as np
import pytest

import shendu as sd
from shendu.data.splits import standardize, train_val_test_split


def test_matches_standard_scaler_fit_on_the_training_rows():
    from sklearn.preprocessing import StandardScaler
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(50, 3)) * [1.0, 5.0, 0.1] + [0.0, 3.0, -2.0]).astype(np.float32)
    train, val = train_val_test_split(50, fractions=(0.8, 0.2), seed=0)
    scaled, mean, std = standardize(sd.tensor(X), train)
    expected = StandardScaler().fit(X[train].astype(np.float64)).transform(X.astype(np.float64))
    assert isinstance(scaled, sd.Tensor) and scaled.dtype == sd.float32
    np.testing.assert_allclose(scaled.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mean, X[train].astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(scaled.numpy()[train].mean(0), 0.0, atol=1e-6)
    assert np.abs(scaled.numpy()[val].mean(0)).max() > 1e-3  # held-out rows are not centred on themselves


def test_a_boolean_mask_and_arrays_work_and_constant_features_are_kept():
    X = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0], [100.0, 7.0]])
    mask = np.array([True, True, True, False])
    scaled, mean, std = standardize(X, mask)
    assert isinstance(scaled, np.ndarray) and scaled.dtype == np.float64
    np.testing.assert_allclose(mean, [3.0, 2.0])
    np.testing.assert_allclose(std, [np.sqrt(8 / 3), 1.0])  # constant on the training rows: divided by 1
    np.testing.assert_allclose(scaled[3], [97 / np.sqrt(8 / 3), 5.0])


@pytest.mark.parametrize("X, rows, match", [
    (np.zeros(4), [0, 1], r"expected samples of shape \(N, D\), got shape \(4,\)"),
    (np.zeros((4, 2)), np.array([True, False]), r"a boolean fit_on must have shape \(4,\)"),
    (np.zeros((4, 2)), np.array([0.5]), "fit_on must be int row indices or a boolean mask"),
    (np.zeros((4, 2)), np.array([], dtype=np.int64), "selects no rows"),
])
def test_bad_inputs(X, rows, match):
    with pytest.raises(ValueError, match=match):
        standardize(X, rows)
