"""``shendu.nn.utils.rnn``: variable-length sequences in one batch (PyTorch's module).

A ``PackedSequence`` keeps only the valid steps of a batch of sequences, time-major: the rows of
``data`` are step 0 of every sequence, then step 1 of every sequence still running, and so on, with
the sequences in order of decreasing length. ``batch_sizes[t]`` (an int64 CPU tensor) is how many
sequences are still running at step ``t``, so step ``t`` is ``data[offset_t : offset_t + batch_sizes[t]]``
and those rows belong to the first ``batch_sizes[t]`` sequences of the sorted batch. ``sorted_indices``
maps a sorted position to the original batch index (``None`` when the batch came sorted) and
``unsorted_indices`` is its inverse.

Packing and padding are each one gather or one indexed write (no loop over sequences or steps), so
gradients flow from packed data to the padded input and back.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from shendu import backend, dtypes
from shendu.ops.index import getitem
from shendu.ops.setitem import assign
from shendu.ops.shape import cat
from shendu.tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pack_sequence",
           "pad_packed_sequence", "pad_sequence", "unpack_sequence", "unpad_sequence"]

_PackedSequenceBase = namedtuple("PackedSequence_", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


def _int64_cpu(values) -> Tensor:
    return Tensor._wrap(np.ascontiguousarray(values, dtype=np.int64))


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The permutation that undoes ``permutation`` (``None`` stays ``None``)."""
    if permutation is None:
        return None
    xp = permutation._xp()
    perm = permutation._data
    out = xp.empty_like(perm)
    out[perm] = xp.arange(perm.shape[0], dtype=perm.dtype)
    return Tensor._wrap(out)


class PackedSequence(_PackedSequenceBase):
    """The valid steps of a batch of variable-length sequences (see the module docstring).

    Build one with ``pack_padded_sequence`` or ``pack_sequence``, never by hand; the recurrent
    layers accept it in place of a padded input and return their output packed the same way.

    Attributes:
        data (Tensor): ``(sum(lengths), *)``, the valid steps, time-major, in sorted batch order.
        batch_sizes (Tensor): int64 on the CPU, ``(max(lengths),)``: sequences still running at each step.
        sorted_indices (Tensor, optional): int64, sorted position -> original batch index.
        unsorted_indices (Tensor, optional): int64, original batch index -> sorted position.
    """

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:  # the legacy call PackedSequence((data, batch_sizes))
            if not isinstance(data, (list, tuple)) or len(data) != 2:
                raise TypeError("PackedSequence: give data and batch_sizes (or one (data, batch_sizes) pair)")
            data, batch_sizes = data
        if not isinstance(batch_sizes, Tensor):
            batch_sizes = _int64_cpu(backend.to_numpy(batch_sizes))
        if batch_sizes.device.type != "cpu":
            raise ValueError("PackedSequence: batch_sizes should always be on the CPU; build packed sequences "
                             "with pack_padded_sequence or pack_sequence")
        if batch_sizes.ndim != 1:
            raise ValueError(f"PackedSequence: batch_sizes must be 1-D, got shape {tuple(batch_sizes.shape)}")
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> PackedSequence:
        """``data.to(...)``; the index tensors follow ``data`` to its device, ``batch_sizes`` stays on the CPU."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        device = data.device
        sorted_indices = None if self.sorted_indices is None else self.sorted_indices.to(device)
        unsorted_indices = None if self.unsorted_indices is None else self.unsorted_indices.to(device)
        return type(self)(data, self.batch_sizes, sorted_indices, unsorted_indices)

    def cuda(self, *args, **kwargs) -> PackedSequence:
        """The packed sequence with ``data`` and the index tensors on the GPU."""
        return self.to("cuda")

    def cpu(self, *args, **kwargs) -> PackedSequence:
        """The packed sequence with ``data`` and the index tensors on the CPU."""
        return self.to("cpu")

    def double(self) -> PackedSequence:
        """``data`` as float64."""
        return self.to(dtype=dtypes.float64)

    def float(self) -> PackedSequence:
        """``data`` as float32."""
        return self.to(dtype=dtypes.float32)

    def half(self) -> PackedSequence:
        """``data`` as float16."""
        return self.to(dtype=dtypes.float16)

    def long(self) -> PackedSequence:
        """``data`` as int64."""
        return self.to(dtype=dtypes.int64)

    def int(self) -> PackedSequence:
        """``data`` as int32."""
        return self.to(dtype=dtypes.int32)

    def short(self) -> PackedSequence:
        """``data`` as int16."""
        return self.to(dtype=dtypes.int16)

    def char(self) -> PackedSequence:
        """``data`` as int8."""
        return self.to(dtype=dtypes.int8)

    def byte(self) -> PackedSequence:
        """``data`` as uint8."""
        return self.to(dtype=dtypes.uint8)

    def pin_memory(self) -> PackedSequence:
        """The packed sequence itself (there is no host-to-GPU transfer to speed up)."""
        return self

    @property
    def is_cuda(self) -> bool:
        """Whether ``data`` is on a GPU."""
        return self.data.is_cuda

    def is_pinned(self) -> bool:
        """Always ``False``: nothing is pinned."""
        return False


def _lengths_array(lengths, op: str) -> np.ndarray:
    if hasattr(lengths, "detach") and hasattr(lengths, "numpy"):  # a shendu or PyTorch tensor
        arr = np.asarray(backend.to_numpy(lengths._data)) if isinstance(lengths, Tensor) else np.asarray(lengths)
    else:
        arr = np.asarray([int(n) for n in lengths] if isinstance(lengths, (list, tuple)) else lengths)
    if arr.ndim != 1:
        raise RuntimeError(f"{op}: 'lengths' must be 1-D (one length per sequence), got shape {arr.shape}")
    return arr.astype(np.int64)


def _step_positions(sorted_lengths: np.ndarray) -> tuple:
    """(time index, sorted batch position) of every packed row, in packed (time-major) order."""
    steps = np.arange(int(sorted_lengths[0]) if len(sorted_lengths) else 0)
    valid = sorted_lengths[None, :] > steps[:, None]  # (T, B)
    t, j = np.nonzero(valid)
    return t, j, valid.sum(axis=1)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) whose sequence ``b`` has
    ``lengths[b]`` valid steps.

    Args:
        input: the padded batch; steps past a sequence's length are ignored.
        lengths: one positive length per sequence, at most ``T`` (a list or a 1-D tensor).
        batch_first: the batch is dim 0 and time dim 1.
        enforce_sorted: require lengths in decreasing order (else raise); with ``False`` the batch is
            sorted here and ``sorted_indices``/``unsorted_indices`` record the permutation.

    Shape: ``data`` is ``(sum(lengths), *)``; ``batch_sizes`` is ``(max(lengths),)``.
    """
    op = "pack_padded_sequence"
    if input.ndim < 2:
        raise ValueError(f"{op}: input must be (T, B, *) or, with batch_first, (B, T, *); got shape "
                         f"{tuple(input.shape)}")
    n = _lengths_array(lengths, op)
    time_axis, batch_axis = (1, 0) if batch_first else (0, 1)
    steps, batch = input.shape[time_axis], input.shape[batch_axis]
    if len(n) != batch:
        raise RuntimeError(f"{op}: expected len(lengths) to be equal to batch_size, but got {len(n)} "
                           f"(batch_size={batch}, input of shape {tuple(input.shape)}, batch_first={batch_first})")
    if batch == 0:
        raise RuntimeError(f"{op}: cannot pack an empty batch (input of shape {tuple(input.shape)})")
    if n.min() <= 0:
        raise RuntimeError(f"{op}: length of all samples has to be greater than 0, but found an element in "
                           f"'lengths' that is <= 0 (lengths {n.tolist()})")
    if n.max() > steps:
        raise RuntimeError(f"{op}: lengths {n.tolist()} include {int(n.max())}, longer than the sequence "
                           f"dimension of the input ({steps} steps; input of shape {tuple(input.shape)}, "
                           f"batch_first={batch_first})")
    if enforce_sorted:
        if np.any(n[1:] > n[:-1]):
            raise RuntimeError(f"{op}: `lengths` array must be sorted in decreasing order when `enforce_sorted` "
                               f"is True, got {n.tolist()}. You can pass `enforce_sorted=False` to "
                               "pack_padded_sequence and/or pack_sequence to sidestep this requirement.")
        order = None
        sorted_n = n
    else:
        order = np.argsort(-n, kind="stable")  # ties keep their batch order, as torch.sort does
        sorted_n = n[order]
    t, j, batch_sizes = _step_positions(sorted_n)
    b = j if order is None else order[j]
    xp = input._xp()
    t, b = xp.asarray(t), xp.asarray(b)
    data = getitem(input, (b, t) if batch_first else (t, b))
    sorted_indices = None if order is None else Tensor._wrap(xp.asarray(order, dtype=np.int64))
    return PackedSequence(data, _int64_cpu(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple:
    """The inverse of ``pack_padded_sequence``: ``(padded, lengths)``, in the original batch order.

    Args:
        sequence: the packed batch.
        batch_first: return ``(B, T, *)`` instead of ``(T, B, *)``.
        padding_value: the value of the steps past each sequence's end.
        total_length: pad to this many steps (at least the longest length) instead of the longest length.

    Shape: ``padded`` is ``(T, B, *)`` with ``T = total_length or max(lengths)``; ``lengths`` is an
    int64 CPU tensor ``(B,)``.
    """
    op = "pad_packed_sequence"
    data = sequence.data
    batch_sizes = np.asarray(backend.to_numpy(sequence.batch_sizes._data), dtype=np.int64)
    if batch_sizes.ndim != 1 or batch_sizes.size == 0:
        raise ValueError(f"{op}: batch_sizes must be a non-empty 1-D tensor, got shape {batch_sizes.shape}")
    if data.ndim < 1 or data.shape[0] != int(batch_sizes.sum()):
        raise ValueError(f"{op}: data has shape {tuple(data.shape)} but batch_sizes {batch_sizes.tolist()} "
                         f"sum to {int(batch_sizes.sum())} rows")
    longest, batch = len(batch_sizes), int(batch_sizes[0])
    if total_length is not None:
        if total_length < longest:
            raise ValueError(f"{op}: expected total_length to be at least the length of the longest sequence "
                             f"in input, but got total_length={total_length} and max sequence length being "
                             f"{longest}")
        longest = int(total_length)
    sorted_lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)  # (B,)
    t, j, _ = _step_positions(sorted_lengths)
    if sequence.unsorted_indices is not None:
        unsorted = np.asarray(backend.to_numpy(sequence.unsorted_indices._data), dtype=np.int64)
        dest = np.argsort(unsorted)  # sorted position -> original batch index
        j = dest[j]
        lengths = sorted_lengths[unsorted]
    else:
        lengths = sorted_lengths
    xp = data._xp()
    t, j = xp.asarray(t), xp.asarray(j)
    shape = (batch, longest) if batch_first else (longest, batch)
    base = Tensor._wrap(xp.full((*shape, *data.shape[1:]), padding_value, dtype=data.dtype))
    padded = assign(base, (j, t) if batch_first else (t, j), data)
    return padded, _int64_cpu(lengths)


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
    lengths, trailing = _check_sequences(sequences, "pad_sequence")
    longest = int(lengths.max())
    dtype = sequences[0].dtype
    xp = sequences[0]._xp()
    base = Tensor._wrap(xp.full((len(sequences), longest, *trailing), padding_value, dtype=dtype))
    seq = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.cumsum(lengths) - lengths
    step = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    if padding_side == "left":
        step = step + np.repeat(longest - lengths, lengths)
    out = assign(base, (xp.asarray(seq), xp.asarray(step)), cat([s.to(dtype) for s in sequences], 0))
    return out if batch_first else out.transpose(0, 1)


def _check_sequences(sequences: list, op: str) -> tuple:
    trailing = tuple(sequences[0].shape[1:])
    for i, s in enumerate(sequences):
        if s.ndim == 0 or tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"{op}: every sequence must have shape (L, {', '.join(map(str, trailing))}"
                               f"{',' if len(trailing) == 1 else ''}); sequence {i} has shape {tuple(s.shape)}")
    return np.array([s.shape[0] for s in sequences], dtype=np.int64), trailing


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """The inverse of ``pad_sequence``: the list of ``(L_i, *)`` tensors."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :int(n)] for i, n in enumerate(_lengths_array(lengths, "unpad_sequence"))]


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors ``(L_i, *)`` (decreasing lengths unless ``enforce_sorted=False``).

    One concatenation and one gather: packed row ``(t, b)`` is row ``start_b + t`` of the concatenation.
    """
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("pack_sequence: received an empty list of sequences")
    lengths, _ = _check_sequences(sequences, "pack_sequence")
    if lengths.min() <= 0:
        raise RuntimeError(f"pack_sequence: length of all samples has to be greater than 0, but found an "
                           f"element in 'lengths' that is <= 0 (lengths {lengths.tolist()})")
    if enforce_sorted:
        if np.any(lengths[1:] > lengths[:-1]):
            raise RuntimeError(f"pack_sequence: `lengths` array must be sorted in decreasing order when "
                               f"`enforce_sorted` is True, got {lengths.tolist()}. You can pass "
                               "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                               "sidestep this requirement.")
        order = np.arange(len(lengths))
    else:
        order = np.argsort(-lengths, kind="stable")
    t, j, batch_sizes = _step_positions(lengths[order])
    starts = np.cumsum(lengths) - lengths
    dtype = sequences[0].dtype
    xp = sequences[0]._xp()
    rows = xp.asarray(starts[order[j]] + t)
    data = getitem(cat([s.to(dtype) for s in sequences], 0), rows)
    sorted_indices = None if enforce_sorted else Tensor._wrap(xp.asarray(order, dtype=np.int64))
    return PackedSequence(data, _int64_cpu(batch_sizes), sorted_indices, None)


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The inverse of ``pack_sequence``: the list of ``(L_i, *)`` tensors, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
