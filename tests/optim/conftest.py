"""Puts tests/optim on sys.path so the test files can import ``optim_harness`` (importlib mode)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
