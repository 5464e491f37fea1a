"""Puts tests/optim on sys.path so the test files can import ``optim_harness`` (importlib mode), and runs
PyTorch single-threaded: these problems are tiny, and OpenMP threads on a busy 2-core machine turn each
reference step from microseconds into tens of milliseconds."""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
torch.set_num_threads(1)
