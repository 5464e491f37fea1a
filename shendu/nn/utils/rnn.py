"""``shendu.nn.utils.rnn``: padding variable-length sequences into one batch (PyTorch's module).

``pad_sequence`` is here now; packed sequences (``PackedSequence``, ``pack_padded_sequence``, ...)
come with the recurrent layers that consume them.
"""
from __future__ import annotations

import numpy as np

from shendu.ops.setitem import assign
from shendu.ops.shape import cat
from shendu.tensor import Tensor


def _positions(lengths: np.ndarray, longest: int, left: bool) -> tuple:
    """(sequence index, time index) of every element of the concatenated sequences, in order."""
    seq = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.cumsum(lengths) - lengths
    step = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    if left:
        step = step + np.repeat(longest - lengths, lengths)
    return seq, step


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack tensors of shapes ``(L_i, *)`` into ``(B, L_max, *)`` (``batch_first``) or ``(L_max, B, *)``,
    filling the missing steps with ``padding_value``. Differentiable in every sequence.

    One concatenation and one indexed write, whatever the number of sequences.
    """
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}")
    trailing = tuple(sequences[0].shape[1:])
    for i, s in enumerate(sequences):
        if s.ndim == 0 or tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"pad_sequence: every sequence must have shape (L, {', '.join(map(str, trailing))}"
                               f"{',' if len(trailing) == 1 else ''}); sequence {i} has shape {tuple(s.shape)}")
    lengths = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    longest = int(lengths.max())
    dtype = sequences[0].dtype
    xp = sequences[0]._xp()
    base = Tensor._wrap(xp.full((len(sequences), longest, *trailing), padding_value, dtype=dtype))
    seq, step = _positions(lengths, longest, padding_side == "left")
    out = assign(base, (seq, step), cat([s.to(dtype) for s in sequences], 0))
    return out if batch_first else out.transpose(0, 1)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """The inverse of ``pad_sequence``: the list of ``(L_i, *)`` tensors."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :int(n)] for i, n in enumerate(lengths)]
