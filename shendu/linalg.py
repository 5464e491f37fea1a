"""``shendu.linalg``: PyTorch's ``torch.linalg`` namespace (the parts implemented so far).

The ops live in ``shendu.ops.linalg`` (products) and ``shendu.ops.distance`` (norms); this module
only gathers them under PyTorch's names. Other families add their own names here.
"""
from shendu.ops.combine import linalg_cross as cross
from shendu.ops.distance import vector_norm
from shendu.ops.linalg import matmul, multi_dot, vdot

__all__ = ["cross", "matmul", "multi_dot", "vdot", "vector_norm"]
