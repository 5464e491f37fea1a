"""scikit-learn's bundled datasets (shipped inside its wheel: nothing is downloaded).

Each loader returns ``(X, y)`` as Tensors ready for ``TensorDataset``: X float32 of shape (N, D),
y int64 class indices (N,) for the classification sets or float32 targets (N,) for diabetes.
``standardize=True`` rescales every feature to zero mean and unit variance over the whole set.
"""
from __future__ import annotations

import numpy as np

from shendu.tensor import Tensor


def _sklearn_datasets():
    try:
        from sklearn import datasets
    except ImportError as e:
        raise ImportError("shendu.data: the bundled datasets come from scikit-learn, which is not installed; "
                          "install it with `pip install 'shendu[demo]'` (or `pip install scikit-learn`)") from e
    return datasets


def _load(name: str, standardize: bool, float_target: bool = False) -> tuple[Tensor, Tensor]:
    bunch = getattr(_sklearn_datasets(), name)()
    X = np.asarray(bunch.data, dtype=np.float64)
    if standardize:
        std = X.std(axis=0)
        X = (X - X.mean(axis=0)) / np.where(std == 0, 1.0, std)
    y = np.asarray(bunch.target, dtype=np.float32 if float_target else np.int64)
    return Tensor._wrap(X.astype(np.float32)), Tensor._wrap(y)


def load_digits(standardize: bool = False) -> tuple[Tensor, Tensor]:
    """8x8 handwritten digits: X (1797, 64) pixel values 0..16, y (1797,) in 0..9."""
    return _load("load_digits", standardize)


def load_iris(standardize: bool = False) -> tuple[Tensor, Tensor]:
    """Iris flowers: X (150, 4) measurements in cm, y (150,) in 0..2."""
    return _load("load_iris", standardize)


def load_wine(standardize: bool = False) -> tuple[Tensor, Tensor]:
    """Wine cultivars: X (178, 13) chemical measurements, y (178,) in 0..2."""
    return _load("load_wine", standardize)


def load_breast_cancer(standardize: bool = False) -> tuple[Tensor, Tensor]:
    """Wisconsin breast cancer: X (569, 30) cell-nucleus features, y (569,) 0 = malignant, 1 = benign."""
    return _load("load_breast_cancer", standardize)


def load_diabetes(standardize: bool = False) -> tuple[Tensor, Tensor]:
    """Diabetes progression: X (442, 10) (already mean-centred and scaled by scikit-learn), y (442,) float32."""
    return _load("load_diabetes", standardize, float_target=True)
