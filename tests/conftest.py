"""Shared test set-up: a seeded generator per test, and tests/ on sys.path for the shared harnesses.

Tests are imported with pytest's importlib mode (pyproject.toml), so test files in different folders
may share a name (tests/ops/test_conv.py and tests/nn/layers/test_conv.py); the harness modules
(tests/helpers.py, tests/nn/layer_harness.py) are imported from the folders put on sys.path here.
"""
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
for path in (HERE, os.path.join(HERE, "nn")):
    if path not in sys.path:
        sys.path.insert(0, path)

import shendu as sd  # noqa: E402

# pytest -n 2 runs two workers on two cores: one BLAS (and torch) thread each, or they oversubscribe
# the cores and mid-size matrix products slow down many times over.
try:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
    pass
try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a test requirement
    pass


@pytest.fixture(autouse=True)
def _seed():
    sd.manual_seed(0)
    np.random.seed(0)
    yield


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Which devices the op spec tables ran on (and why CUDA was skipped where it was), after the run."""
    from helpers import device_note
    terminalreporter.write_line(device_note())
