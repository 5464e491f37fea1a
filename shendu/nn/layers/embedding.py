"""``Embedding``: a lookup table from integer ids to learnable vectors."""
from __future__ import annotations

from shendu import creation
from shendu.grad_mode import no_grad
from shendu.nn import functional as F
from shendu.nn import init
from shendu.nn.module import Module
from shendu.nn.parameter import Parameter
from shendu.tensor import Tensor


class Embedding(Module):
    r"""Looks up rows of a table: ``weight[input]``.

    Args:
        num_embeddings: size of the table (the vocabulary).
        embedding_dim: size of each embedding vector.
        padding_idx: if given, this row gets no gradient (it stays a fixed "pad" vector) and is
            initialised to zeros. Negative values count from the end. Default: ``None``.
        max_norm: if given, each looked-up row whose ``norm_type``-norm exceeds ``max_norm`` is
            renormalised to norm ``max_norm`` in place before the lookup. Default: ``None``.
        norm_type: the p of the p-norm for ``max_norm``. Default: 2.
        scale_grad_by_freq: if ``True``, a row's gradient is divided by how often its id occurs in
            the mini-batch. Default: ``False``.
        sparse: accepted for PyTorch compatibility; gradients are always dense.

    Shape:
        - Input: :math:`(*)`, integer ids in [0, num_embeddings).
        - Output: :math:`(*, H)` with :math:`H = \text{embedding\_dim}`.

    Attributes:
        weight: the learnable table of shape (num_embeddings, embedding_dim), initialised from
            :math:`\mathcal{N}(0, 1)`, with the ``padding_idx`` row set to zeros.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Tensor | None = None, _freeze: bool = False,
                 device=None, dtype=None):
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within num_embeddings "
                                 f"({num_embeddings})")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(creation.empty(num_embeddings, embedding_dim, dtype=dtype, device=device),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(_weight.shape)}, expected "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """Re-draw the weight from N(0, 1); the ``padding_idx`` row (if any) is set to zeros."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight._data[self.padding_idx] = 0

    def _renorm(self, input: Tensor) -> None:
        """PyTorch's ``embedding_renorm_``: shrink the used rows whose norm exceeds max_norm, in place."""
        xp = self.weight._xp()
        rows = xp.unique(input._data)
        w = self.weight._data
        norms = xp.linalg.norm(w[rows].astype(xp.float64), ord=self.norm_type, axis=1)
        big = norms > self.max_norm
        scale = self.max_norm / (norms[big] + 1e-7)
        w[rows[big]] = (w[rows[big]] * scale[:, None]).astype(w.dtype)

    def forward(self, input: Tensor) -> Tensor:
        if input.dtype.kind not in "iu":
            raise RuntimeError(f"{self!r}: expected integer ids, got a tensor of dtype {input.dtype}")
        if self.max_norm is not None:
            self._renorm(input)
        out = F.embedding(input, self.weight, self.padding_idx)  # (*, H)
        if self.scale_grad_by_freq and self.weight.requires_grad:
            # Same values; the gradient reaching each row is divided by the row's count in the batch.
            xp = input._xp()
            ids, inverse, counts = xp.unique(input._data, return_inverse=True, return_counts=True)
            inv = (1.0 / counts[inverse.reshape(input.shape)])[..., None].astype(out.dtype)
            fixed = out.detach()
            out = fixed + (out - fixed) * Tensor._wrap(inv)
        return out

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, sparse: bool = False) -> Embedding:
        """An Embedding whose table is ``embeddings`` (2-D, shared, not copied); frozen by default."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-dimensional, got shape "
                             f"{tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=embeddings, _freeze=freeze)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        if self.sparse:
            s += ", sparse=True"
        return s


__all__ = ["Embedding"]
