r"""Attention for encoder-decoders: ``AdditiveAttention`` (Bahdanau) and ``DotProductAttention`` (Luong).

Both score every query against every key, turn the scores into weights with a softmax over the keys,
and return the weighted sum of the values together with the weights:

.. math::
    \alpha_{ij} = \frac{\exp e(q_i, k_j)}{\sum_{j'} \exp e(q_i, k_{j'})}, \qquad
    c_i = \sum_j \alpha_{ij} v_j .

A mask (or key lengths) removes padded keys: their weights are exactly 0 and they receive no gradient.
The layers are compositions of existing ops (matmul, tanh, softmax), so gradients of any order work.
(``F.scaled_dot_product_attention`` and ``nn.MultiheadAttention`` are a later issue's.)
"""
from __future__ import annotations

import math

from shendu import creation
from shendu.nn import init
from shendu.nn.layers.linear import Linear
from shendu.nn.module import Module
from shendu.nn.parameter import Parameter
from shendu.tensor import Tensor
from shendu.type_info import finfo

__all__ = ["AdditiveAttention", "DotProductAttention", "sequence_mask"]


def sequence_mask(lengths, max_length: int | None = None) -> Tensor:
    """A bool ``(B, T)`` mask, True at the first ``lengths[b]`` positions of row ``b``.

    ``lengths`` is a 1-D integer tensor, array or list; ``T`` is ``max_length`` or the longest length.
    """
    if not isinstance(lengths, Tensor):
        lengths = creation.tensor(lengths, dtype="int64")
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
        raise ValueError(f"sequence_mask: lengths must be a 1-D integer tensor, got shape {tuple(lengths.shape)} "
                         f"and dtype {lengths.dtype}")
    xp = lengths._xp()
    data = lengths._data
    longest = int(data.max()) if data.size else 0
    T = longest if max_length is None else int(max_length)
    if data.size and (int(data.min()) < 0 or longest > T):
        raise ValueError(f"sequence_mask: lengths {data.tolist()} must lie in [0, {T}]")
    return Tensor._wrap(xp.arange(T)[None, :] < data[:, None])


class _Attention(Module):
    """The shared part: shape checks, the mask, the masked softmax and the weighted sum of the values."""

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """The unnormalised scores ``e(q_i, k_j)``: ``(B, Tq, Dq)``, ``(B, Tk, Dk)`` -> ``(B, Tq, Tk)``."""
        raise NotImplementedError

    def forward(self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None, *,
                key_lengths=None) -> tuple[Tensor, Tensor]:
        """Returns ``(context, weights)``: ``(B, Tq, Dv)`` and ``(B, Tq, Tk)`` (no ``B`` unbatched).

        ``mask``: bool, True where a query may attend to a key: ``(B, Tk)`` (a key padding mask) or
        anything broadcastable to ``(B, Tq, Tk)``. ``key_lengths``: ``(B,)`` integers, the number of
        valid keys of each batch item (the rest is padding). A query whose keys are all masked gets
        zero weights and a zero context.
        """
        name = type(self).__name__
        if query.ndim not in (2, 3) or keys.ndim != query.ndim or values.ndim != query.ndim:
            raise ValueError(f"{name}: query, keys and values must all be 3-D (B, T, D) or all 2-D (T, D); "
                             f"got shapes {tuple(query.shape)}, {tuple(keys.shape)}, {tuple(values.shape)}")
        unbatched = query.ndim == 2
        if unbatched:
            query, keys, values = query.unsqueeze(0), keys.unsqueeze(0), values.unsqueeze(0)
            if mask is not None and mask.ndim in (1, 2):
                mask = mask.unsqueeze(0)
            if key_lengths is not None:
                key_lengths = [int(key_lengths)]
        B, Tq, _ = query.shape
        if keys.shape[0] != B or values.shape[0] != B or keys.shape[1] != values.shape[1]:
            raise ValueError(f"{name}: expected query (B, Tq, Dq), keys (B, Tk, Dk) and values (B, Tk, Dv) with "
                             f"the same B and Tk; got {tuple(query.shape)}, {tuple(keys.shape)}, "
                             f"{tuple(values.shape)}")
        Tk = keys.shape[1]
        scores = self.score(query, keys)                                   # (B, Tq, Tk)
        keep = self._keep(mask, key_lengths, B, Tq, Tk, name)
        if keep is None:
            weights = scores.softmax(-1)
        else:
            # A finite fill (not -inf) leaves exp(fill - max) exactly 0 next to any valid key and keeps
            # fully masked rows free of NaN (uniform, then zeroed below), in the forward and the backward.
            low = float(finfo(scores.dtype).min)
            weights = scores.masked_fill(~keep, low).softmax(-1)
            any_valid = keep.any(-1, keepdim=True)                         # (B, Tq, 1)
            if not bool(any_valid.all()):
                weights = weights * any_valid.to(weights.dtype)
        context = weights @ values                                         # (B, Tq, Dv)
        if unbatched:
            return context.squeeze(0), weights.squeeze(0)
        return context, weights

    @staticmethod
    def _keep(mask, key_lengths, B: int, Tq: int, Tk: int, name: str) -> Tensor | None:
        """The bool (B, Tq, Tk) "may attend" mask from ``mask`` and ``key_lengths`` (None: attend to all)."""
        keep = None
        if key_lengths is not None:
            lengths = sequence_mask(key_lengths, Tk)
            if lengths.shape[0] != B:
                raise ValueError(f"{name}: key_lengths has {lengths.shape[0]} entries for a batch of {B}")
            keep = lengths.unsqueeze(1)                                    # (B, 1, Tk)
        if mask is not None:
            if not isinstance(mask, Tensor):
                mask = creation.tensor(mask)
            if mask.dtype.kind != "b":
                raise TypeError(f"{name}: mask must be a bool tensor (True = attend), got dtype {mask.dtype}")
            if mask.ndim == 2:
                if tuple(mask.shape) != (B, Tk):
                    raise ValueError(f"{name}: a 2-D mask is a key padding mask of shape (B, Tk) = ({B}, {Tk}), "
                                     f"got {tuple(mask.shape)}")
                mask = mask.unsqueeze(1)                                   # (B, 1, Tk)
            try:
                mask = mask.expand(B, Tq, Tk)
            except Exception as e:
                raise ValueError(f"{name}: mask of shape {tuple(mask.shape)} does not broadcast to (B, Tq, Tk) = "
                                 f"({B}, {Tq}, {Tk})") from e
            keep = mask if keep is None else keep & mask
        return None if keep is None else keep.expand(B, Tq, Tk)


class AdditiveAttention(_Attention):
    r"""Bahdanau's additive attention: :math:`e(q, k) = v^\top \tanh(W_q q + W_k k)`.

    Args:
        query_size: size :math:`D_q` of each query.
        key_size: size :math:`D_k` of each key.
        hidden_size: size :math:`A` of the space the query and key are projected into.
        bias: if ``True``, the key projection learns a bias (:math:`W_k k + b`). Default: ``False``
            (the paper's formula).

    Shape:
        - query: :math:`(B, T_q, D_q)`, keys: :math:`(B, T_k, D_k)`, values: :math:`(B, T_k, D_v)`.
        - mask (optional): bool :math:`(B, T_k)` or broadcastable to :math:`(B, T_q, T_k)`, True = attend.
        - Output: context :math:`(B, T_q, D_v)` and weights :math:`(B, T_q, T_k)`, each row of the
          weights summing to 1 over the keys. Unbatched inputs drop the :math:`B` everywhere.

    Attributes:
        query_proj.weight: :math:`W_q` of shape :math:`(A, D_q)`; ``key_proj.weight``: :math:`W_k` of
            shape :math:`(A, D_k)` (and ``key_proj.bias``, :math:`(A)`), both initialised as ``Linear``'s.
        v: the scoring vector of shape :math:`(A)`, from :math:`\mathcal{U}(-1/\sqrt{A}, 1/\sqrt{A})`.

    The score tensor :math:`\tanh(\cdot)` has shape :math:`(B, T_q, T_k, A)`.

    Example::

        >>> attn = nn.AdditiveAttention(query_size=8, key_size=6, hidden_size=16)
        >>> context, weights = attn(shendu.randn(2, 3, 8), shendu.randn(2, 5, 6), shendu.randn(2, 5, 4))
        >>> context.shape, weights.shape
        (shendu.Size([2, 3, 4]), shendu.Size([2, 3, 5]))
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int, bias: bool = False,
                 device=None, dtype=None):
        super().__init__()
        self.query_size, self.key_size, self.hidden_size = query_size, key_size, hidden_size
        self.query_proj = Linear(query_size, hidden_size, bias=False, device=device, dtype=dtype)
        self.key_proj = Linear(key_size, hidden_size, bias=bias, device=device, dtype=dtype)
        self.v = Parameter(creation.empty(hidden_size, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises the projections as ``Linear`` does and ``v`` from U(-1/sqrt(A), 1/sqrt(A))."""
        self.query_proj.reset_parameters()
        self.key_proj.reset_parameters()
        bound = 1 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        init.uniform_(self.v, -bound, bound)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        r""":math:`v^\top \tanh(W_q q_i + W_k k_j)` for every query and key: ``(B, Tq, Tk)``."""
        q = self.query_proj(query)                                         # (B, Tq, A)
        k = self.key_proj(keys)                                            # (B, Tk, A)
        hidden = (q.unsqueeze(2) + k.unsqueeze(1)).tanh()                  # (B, Tq, Tk, A)
        return hidden @ self.v                                             # (B, Tq, Tk)

    def extra_repr(self) -> str:
        return (f"query_size={self.query_size}, key_size={self.key_size}, hidden_size={self.hidden_size}, "
                f"bias={self.key_proj.bias is not None}")


class DotProductAttention(_Attention):
    r"""Luong's multiplicative attention: :math:`e(q, k) = q^\top k` (``"dot"``) or :math:`q^\top W k`
    (``"general"``), divided by :math:`\sqrt{D_k}` when ``scaled`` (Vaswani et al.'s scaling).

    Args:
        score: ``"dot"`` (no parameters; needs :math:`D_q = D_k`) or ``"general"`` (a learned
            :math:`D_q \times D_k` matrix). Default: ``"dot"``.
        query_size: :math:`D_q`; needed for ``"general"``.
        key_size: :math:`D_k`; for ``"general"``, defaults to ``query_size``.
        scaled: divide the scores by :math:`\sqrt{D_k}`. Default: ``False``.

    Shape:
        - query: :math:`(B, T_q, D_q)`, keys: :math:`(B, T_k, D_k)`, values: :math:`(B, T_k, D_v)`.
        - mask (optional): bool :math:`(B, T_k)` or broadcastable to :math:`(B, T_q, T_k)`, True = attend.
        - Output: context :math:`(B, T_q, D_v)` and weights :math:`(B, T_q, T_k)`. Unbatched inputs
          drop the :math:`B` everywhere.

    Attributes:
        weight: (``"general"`` only) :math:`W` of shape :math:`(D_q, D_k)`, from
            :math:`\mathcal{U}(-1/\sqrt{D_k}, 1/\sqrt{D_k})`.
    """

    def __init__(self, score: str = "dot", query_size: int | None = None, key_size: int | None = None,
                 scaled: bool = False, device=None, dtype=None):
        super().__init__()
        if score not in ("dot", "general"):
            raise ValueError(f"DotProductAttention: score must be 'dot' or 'general', got {score!r}")
        self.score_kind, self.scaled = score, scaled
        self.query_size = query_size
        self.key_size = key_size if key_size is not None else query_size
        if score == "general":
            if query_size is None:
                raise ValueError("DotProductAttention: score='general' needs query_size (and key_size if it differs)")
            self.weight = Parameter(creation.empty(query_size, self.key_size, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises ``weight`` (``"general"``) from U(-1/sqrt(D_k), 1/sqrt(D_k))."""
        if self.weight is not None:
            bound = 1 / math.sqrt(self.key_size) if self.key_size else 0.0
            init.uniform_(self.weight, -bound, bound)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        r""":math:`q_i^\top k_j` or :math:`q_i^\top W k_j` (divided by :math:`\sqrt{D_k}` when scaled)."""
        name = type(self).__name__
        Dq, Dk = query.shape[-1], keys.shape[-1]
        if self.weight is not None:
            if (Dq, Dk) != tuple(self.weight.shape):
                raise ValueError(f"{name}: query size {Dq} and key size {Dk} do not match the weight of shape "
                                 f"{tuple(self.weight.shape)} (query_size, key_size)")
            query = query @ self.weight                                    # (B, Tq, Dk)
        elif Dq != Dk:
            raise ValueError(f"{name}(score='dot'): query size {Dq} must equal key size {Dk} "
                             f"(use score='general' for different sizes)")
        scores = query @ keys.transpose(1, 2)                              # (B, Tq, Tk)
        return scores / math.sqrt(Dk) if self.scaled else scores

    def extra_repr(self) -> str:
        sizes = f", query_size={self.query_size}, key_size={self.key_size}" if self.weight is not None else ""
        return f"score={self.score_kind!r}{sizes}, scaled={self.scaled}"
