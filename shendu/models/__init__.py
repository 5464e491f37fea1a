"""``shendu.models``: whole models built from ``shendu.nn`` (one file per model family)."""
from shendu.models.charrnn import CharRNN, CharRNNConfig
from shendu.models.recursive import RecursiveNN, TreeBatch

__all__ = ["CharRNN", "CharRNNConfig", "RecursiveNN", "TreeBatch"]
