"""Tiny data and models for the trainer tests (each fit runs in milliseconds)."""
import numpy as np
import pytest

from shendu import nn


@pytest.fixture
def blobs():
    """A 3-class problem: X (60, 4) float32, y (60,) int64."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    X = (rng.normal(size=(60, 4)) + 2.0 * np.eye(3, 4)[y]).astype(np.float32)
    perm = rng.permutation(60)
    return X[perm], y[perm]


@pytest.fixture
def make_mlp():
    """A factory: an MLP 4 -> 8 -> 3 with dropout (so training draws random numbers)."""
    def make(dropout: float = 0.2):
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(dropout), nn.Linear(8, 3))
    return make


def weights(model) -> dict:
    return {k: v._data.copy() for k, v in model.state_dict().items()}


@pytest.fixture
def snapshot():
    return weights
