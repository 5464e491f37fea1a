"""Distance layers: ``CosineSimilarity`` and ``PairwiseDistance`` (PyTorch's ``nn/modules/distance.py``)."""
from __future__ import annotations

from shendu.nn.module import Module
from shendu.ops.distance import cosine_similarity, pairwise_distance
from shendu.tensor import Tensor


class CosineSimilarity(Module):
    r""":math:`\frac{x_1 \cdot x_2}{\max(\lVert x_1 \rVert, \epsilon) \max(\lVert x_2 \rVert, \epsilon)}` along ``dim``.

    Args:
        dim: the dimension to compare along. Default: 1.
        eps: the floor of each norm, against division by zero. Default: 1e-8.

    Shape: x1 and x2 broadcastable, with the same size along ``dim``; output their broadcast
    shape without ``dim``.
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return cosine_similarity(x1, x2, self.dim, self.eps)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, eps={self.eps}"


class PairwiseDistance(Module):
    r""":math:`\lVert x_1 - x_2 + \epsilon \rVert_p` over the last dim (row by row).

    Args:
        p: the norm degree (may be inf). Default: 2.
        eps: added to the difference, against a zero norm. Default: 1e-6.
        keepdim: keep the last dim (of size 1). Default: ``False``.

    Shape: x1 (N, D) or (D,), x2 broadcastable to it; output (N,) or () (with keepdim (N, 1) or (1,)).
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)

    def extra_repr(self) -> str:
        return f"p={self.norm}, eps={self.eps}, keepdim={self.keepdim}"
