"""Puts tests/nn on sys.path so test files below it can ``from layer_harness import ...``."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
