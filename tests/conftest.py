"""Shared test fixtures: a seeded generator per test and tolerance helpers."""
import numpy as np
import pytest

import shendu as sd


@pytest.fixture(autouse=True)
def _seed():
    sd.manual_seed(0)
    np.random.seed(0)
    yield
