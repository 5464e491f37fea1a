r"""Positional encodings: ``SinusoidalPositionalEncoding``, ``LearnedPositionalEmbedding``, ``RotaryEmbedding``.

Attention is blind to order; these layers tell a Transformer where each token sits.

- ``SinusoidalPositionalEncoding`` adds the fixed table of "Attention Is All You Need" (section 3.5):
  :math:`PE_{p,2i} = \sin(p / 10000^{2i/d})`, :math:`PE_{p,2i+1} = \cos(p / 10000^{2i/d})`.
- ``LearnedPositionalEmbedding`` adds a learned row per position (GPT-2's ``wpe``).
- ``RotaryEmbedding`` (RoPE, Su et al. 2021) rotates queries and keys instead of adding to the
  input, so that :math:`q_m \cdot k_n` depends on the positions only through :math:`m - n`. It uses the
  GPT-NeoX / LLaMA (Hugging Face) **half-split** convention: dimension :math:`j < d/2` is paired with
  :math:`j + d/2` (not the interleaved pairs :math:`2i, 2i+1` of the paper and of Meta's original LLaMA
  code), and pair :math:`j` turns by the angle :math:`p \cdot \text{base}^{-2j/d}`.

All three are compositions of differentiable ops, so gradients of any order flow to the input (and to
the learned table); the sinusoidal and rotary tables are constants.
"""
from __future__ import annotations

import math

from shendu import creation
from shendu.nn import init
from shendu.nn.layers.dropout import Dropout
from shendu.nn.module import Module
from shendu.nn.parameter import Parameter
from shendu.ops.shape import cat
from shendu.tensor import Tensor

__all__ = ["LearnedPositionalEmbedding", "RotaryEmbedding", "SinusoidalPositionalEncoding", "apply_rotary_emb",
           "sinusoidal_table"]


def sinusoidal_table(max_len: int, d_model: int, dtype=None) -> Tensor:
    """The ``(max_len, d_model)`` sinusoidal table: sines in the even columns, cosines in the odd ones."""
    xp = creation.zeros(1)._xp()
    pos = xp.arange(max_len, dtype=xp.float64)[:, None]                            # (L, 1)
    freq = xp.exp(xp.arange(0, d_model, 2, dtype=xp.float64) * (-math.log(10000.0) / d_model))  # (ceil(d/2),)
    table = xp.zeros((max_len, d_model), dtype=xp.float64)
    table[:, 0::2] = xp.sin(pos * freq)
    table[:, 1::2] = xp.cos(pos * freq[: d_model // 2])
    return Tensor._wrap(table.astype(dtype or "float32"))


def _positions(input: Tensor, dim: int, offset: int, positions) -> tuple:
    """(kind, value): a contiguous range ``offset .. offset + T`` or an explicit integer positions Tensor."""
    if positions is None:
        if offset < 0:
            raise ValueError(f"positional encoding: offset must be >= 0, got {offset}")
        return "range", (offset, offset + input.shape[dim])
    if not isinstance(positions, Tensor):
        positions = creation.tensor(positions, dtype="int64")
    if positions.dtype.kind not in "iu":
        raise TypeError(f"positional encoding: positions must be integers, got dtype {positions.dtype}")
    return "index", positions


class _AdditivePosition(Module):
    """Shared forward: ``dropout(input + table[positions])`` with the positions along the sequence dim."""

    def __init__(self, max_len: int, d_model: int, dropout: float, batch_first: bool):
        super().__init__()
        if max_len <= 0 or d_model <= 0:
            raise ValueError(f"{type(self).__name__}: max_len and d_model must be positive, got {max_len}, {d_model}")
        self.max_len, self.d_model, self.batch_first = max_len, d_model, batch_first
        self.dropout = Dropout(dropout)

    def _table(self) -> Tensor:
        raise NotImplementedError

    def forward(self, input: Tensor, offset: int = 0, positions=None) -> Tensor:
        """``input``: ``(B, T, D)`` (``(T, B, D)`` if not batch_first) or ``(T, D)``.

        ``offset``: the position of the first token (incremental decoding). ``positions``: integer
        positions instead, ``(T,)`` or ``(B, T)`` (``(T, B)`` if not batch_first), e.g. for left padding.
        """
        name = type(self).__name__
        if input.ndim not in (2, 3) or input.shape[-1] != self.d_model:
            raise ValueError(f"{name}: expected input (B, T, {self.d_model}) or (T, {self.d_model}), "
                             f"got {tuple(input.shape)}")
        dim = 1 if (input.ndim == 3 and self.batch_first) else 0
        kind, value = _positions(input, dim, offset, positions)
        table = self._table()
        if kind == "range":
            start, stop = value
            if stop > self.max_len:
                raise ValueError(f"{name}: positions {start}..{stop - 1} exceed max_len={self.max_len}")
            pe = table[start:stop]                                   # (T, D)
            if dim == 0 and input.ndim == 3:
                pe = pe.unsqueeze(1)                                 # (T, 1, D)
        else:
            p = value
            if p.numel() and (int(p._data.min()) < 0 or int(p._data.max()) >= self.max_len):
                raise ValueError(f"{name}: positions must lie in [0, {self.max_len}), got "
                                 f"{int(p._data.min())}..{int(p._data.max())}")
            pe = table[p]                                            # (*positions.shape, D)
        return self.dropout(input + pe)

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}, batch_first={self.batch_first}"


class SinusoidalPositionalEncoding(_AdditivePosition):
    r"""Adds the fixed sinusoidal table of "Attention Is All You Need", then dropout.

    .. math::
        PE_{p,2i} = \sin\!\left(p / 10000^{2i/d}\right), \qquad PE_{p,2i+1} = \cos\!\left(p / 10000^{2i/d}\right)

    Args:
        d_model: the embedding size :math:`d` (odd sizes work: the last column is a sine).
        max_len: the longest sequence (the table's rows). Default: 5000.
        dropout: dropout probability applied to the sum. Default: 0.0.
        batch_first: the input is ``(B, T, D)`` (True) or ``(T, B, D)``. Default: True.

    Shape:
        - Input: :math:`(B, T, D)`, :math:`(T, B, D)` or :math:`(T, D)`. Output: the same shape.

    Attributes:
        pe: the ``(max_len, d_model)`` table, a non-persistent buffer (it is recomputed, never saved).
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0, batch_first: bool = True,
                 device=None, dtype=None):
        super().__init__(max_len, d_model, dropout, batch_first)
        self.register_buffer("pe", sinusoidal_table(max_len, d_model, dtype), persistent=False)

    def _table(self) -> Tensor:
        return self.pe


class LearnedPositionalEmbedding(_AdditivePosition):
    r"""Adds a learned vector per position (GPT-2's ``wpe``), then dropout: ``dropout(x + weight[p])``.

    Args:
        max_len: the longest sequence (the table's rows).
        d_model: the embedding size.
        dropout: dropout probability applied to the sum. Default: 0.0.
        batch_first: the input is ``(B, T, D)`` (True) or ``(T, B, D)``. Default: True.

    Shape:
        - Input: :math:`(B, T, D)`, :math:`(T, B, D)` or :math:`(T, D)`. Output: the same shape.

    Attributes:
        weight: the learnable ``(max_len, d_model)`` table, initialised from :math:`\mathcal{N}(0, 0.02^2)`
            (GPT-2's initialisation).
    """

    def __init__(self, max_len: int, d_model: int, dropout: float = 0.0, batch_first: bool = True,
                 device=None, dtype=None):
        super().__init__(max_len, d_model, dropout, batch_first)
        self.weight = Parameter(creation.empty(max_len, d_model, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the table from N(0, 0.02²)."""
        init.normal_(self.weight, std=0.02)

    def _table(self) -> Tensor:
        return self.weight


def _rotate_half(x: Tensor) -> Tensor:
    """``(x1, x2) -> (-x2, x1)`` on the two halves of the last dimension."""
    x1, x2 = x.chunk(2, -1)
    return cat([-x2, x1], -1)


def apply_rotary_emb(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x`` (``(..., T, D)``) by the angles whose cosines/sines are ``cos``/``sin`` (broadcastable,
    ``(..., T, D)`` in the half-split layout): ``x * cos + rotate_half(x) * sin``."""
    return x * cos + _rotate_half(x) * sin


class RotaryEmbedding(Module):
    r"""Rotary position embedding (RoPE) for queries and keys, in the GPT-NeoX / LLaMA half-split layout.

    Dimension :math:`j < d/2` and :math:`j + d/2` form a pair rotated by :math:`\theta_{p,j} = p\,
    \text{base}^{-2j/d}` at position :math:`p`:

    .. math::
        \text{rope}(x)_p = x_p \cos\theta_p + \text{rotate\_half}(x_p) \sin\theta_p, \qquad
        \text{rotate\_half}(x_1, x_2) = (-x_2, x_1),

    so :math:`\text{rope}(q)_m \cdot \text{rope}(k)_n` depends on :math:`m, n` only through :math:`m - n`.
    (Checkpoints in the interleaved layout, pairs :math:`(2i, 2i+1)`, need their q/k projection rows
    permuted first, as Hugging Face's LLaMA conversion does.)

    Args:
        head_dim: the size :math:`d` of each attention head (even).
        base: the wavelength base. Default: 10000.

    Shape:
        - q, k: :math:`(B, H, T, d)` (or any ``(..., T, d)``); output: the same shapes.
        - positions: ``None`` (``0 .. T-1``), an int offset, or integers ``(T,)`` or ``(B, T)``.

    Attributes:
        inv_freq: the ``(d/2,)`` inverse frequencies :math:`\text{base}^{-2j/d}`, a non-persistent buffer.
    """

    def __init__(self, head_dim: int, base: float = 10000.0, device=None, dtype=None):
        super().__init__()
        if head_dim <= 0 or head_dim % 2:
            raise ValueError(f"RotaryEmbedding: head_dim must be a positive even number, got {head_dim}")
        self.head_dim, self.base = head_dim, float(base)
        xp = creation.zeros(1)._xp()
        inv = 1.0 / (self.base ** (xp.arange(0, head_dim, 2, dtype=xp.float64) / head_dim))
        self.register_buffer("inv_freq", Tensor._wrap(inv), persistent=False)

    def cos_sin(self, positions, dtype=None) -> tuple[Tensor, Tensor]:
        """``cos`` and ``sin`` of shape ``(*positions.shape, d)`` (half-split: each angle twice), no grad."""
        xp = self.inv_freq._xp()
        p = positions._data if isinstance(positions, Tensor) else xp.asarray(positions)
        if p.dtype.kind not in "iu":
            raise TypeError(f"RotaryEmbedding: positions must be integers, got dtype {p.dtype}")
        angles = p.astype(xp.float64)[..., None] * self.inv_freq._data        # (..., T, d/2)
        angles = xp.concatenate([angles, angles], axis=-1)                      # (..., T, d)
        dt = dtype or "float32"
        return Tensor._wrap(xp.cos(angles).astype(dt)), Tensor._wrap(xp.sin(angles).astype(dt))

    def rotate(self, x: Tensor, positions=None) -> Tensor:
        """Rotate one tensor ``(..., T, d)``; ``positions`` as in :meth:`apply_rotary`."""
        if x.ndim < 2 or x.shape[-1] != self.head_dim:
            raise ValueError(f"RotaryEmbedding: expected (..., T, {self.head_dim}), got {tuple(x.shape)}")
        T = x.shape[-2]
        xp = self.inv_freq._xp()
        if positions is None or isinstance(positions, int):
            offset = positions or 0
            if offset < 0:
                raise ValueError(f"RotaryEmbedding: offset must be >= 0, got {offset}")
            p = xp.arange(offset, offset + T)
        else:
            p = positions._data if isinstance(positions, Tensor) else xp.asarray(positions)
            if p.shape[-1] != T or p.ndim > 2:
                raise ValueError(f"RotaryEmbedding: positions of shape {tuple(p.shape)} do not match "
                                 f"(T,) or (B, T) with T={T}")
        cos, sin = self.cos_sin(p, x.dtype)                                     # (T, d) or (B, T, d)
        if cos.ndim == 3 and x.ndim == 4:
            cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)                       # (B, 1, T, d)
        return apply_rotary_emb(x, cos, sin)

    def apply_rotary(self, q: Tensor, k: Tensor, positions=None) -> tuple[Tensor, Tensor]:
        """Rotate queries and keys at the same ``positions`` (``None``: ``0 .. T-1``; an int: an offset)."""
        return self.rotate(q, positions), self.rotate(k, positions)

    def forward(self, q: Tensor, k: Tensor, positions=None) -> tuple[Tensor, Tensor]:
        return self.apply_rotary(q, k, positions)

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, base={self.base}"
