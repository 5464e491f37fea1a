"""A character-level corpus from the Python standard library's own source, and next-token windows.

``stdlib_corpus()`` needs no download: it reads the ``*.py`` files under ``sysconfig``'s stdlib
directory (skipping ``site-packages``, ``dist-packages``, test directories, ``__pycache__`` and files
that are not valid UTF-8), lists them in sorted order of their relative paths, optionally shuffles
that list with a fixed seed, and concatenates them up to ``max_bytes``. The result depends only on
the arguments and the Python version's stdlib.
"""
from __future__ import annotations

import os
import sysconfig
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shendu.data.dataset import Dataset
from shendu.random import Generator, _generator
from shendu.tensor import Tensor

# Third-party code, tests, and encodings/ (generated codec tables: 256-line dictionaries of byte values that
# would teach a language model tables rather than Python).
_SKIP_DIRS = frozenset({"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__", "encodings"})


class CharTokenizer:
    """Characters to ids: the vocabulary is the sorted set of characters of ``text``.

    ``encode``/``decode`` are vectorized through the characters' UTF-32 code points.
    """

    def __init__(self, text: str):
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        self._codes = np.unique(codes)  # sorted code points = the id -> char table
        self.chars = [chr(c) for c in self._codes.tolist()]
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        """The number of distinct characters (ids are 0 .. vocab_size - 1)."""
        return len(self._codes)

    def encode(self, text: str) -> np.ndarray:
        """``text`` -> int64 ids of shape (len(text),)."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        ids = np.searchsorted(self._codes, codes)
        bad = (ids >= len(self._codes)) | (self._codes[np.minimum(ids, len(self._codes) - 1)] != codes)
        if bad.any():
            raise KeyError(f"CharTokenizer.encode: characters not in the vocabulary: "
                           f"{sorted({chr(c) for c in codes[bad].tolist()})[:10]}")
        return ids.astype(np.int64)

    def decode(self, ids: Any) -> str:
        """ids (any shape, flattened) -> the text they encode."""
        ids = np.asarray(getattr(ids, "_data", ids), dtype=np.int64).reshape(-1)
        return self._codes[ids].astype("<u4").tobytes().decode("utf-32-le")


class ByteTokenizer:
    """UTF-8 bytes to ids: a fixed vocabulary of the 256 byte values."""

    vocab_size = 256

    def encode(self, text: str | bytes) -> np.ndarray:
        """``text`` (str, encoded as UTF-8, or bytes) -> int64 byte ids in 0..255 of shape (number of bytes,)."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        return np.frombuffer(data, dtype=np.uint8).astype(np.int64)

    def decode(self, ids: Any) -> str:
        """Byte ids (any shape, flattened) -> text (invalid UTF-8 becomes U+FFFD)."""
        ids = np.asarray(getattr(ids, "_data", ids)).reshape(-1)
        return ids.astype(np.uint8).tobytes().decode("utf-8", errors="replace")


class CharDataset(Dataset):
    """Next-token windows over a 1-D id sequence: sample i is ``(ids[i:i+T], ids[i+1:i+T+1])``.

    Args:
        ids: token ids, shape (L,) (array or Tensor).
        block_size: the window length T.
    Shape: a sample is two int64 tensors (T,); ``get_batch(idx)`` gives two (B, T) tensors, cut
    from a strided window view of ``ids`` in one fancy index.
    """

    def __init__(self, ids: Any, block_size: int):
        ids = np.ascontiguousarray(np.asarray(getattr(ids, "_data", ids), dtype=np.int64))
        if ids.ndim != 1:
            raise ValueError(f"CharDataset: expected 1-D ids, got shape {ids.shape}")
        if len(ids) <= block_size:
            raise ValueError(f"CharDataset: {len(ids)} tokens are too few for block_size={block_size}")
        self.ids, self.block_size = ids, block_size
        self._windows = np.lib.stride_tricks.sliding_window_view(ids, block_size + 1)  # (L - T, T + 1)

    def __len__(self) -> int:
        return len(self.ids) - self.block_size

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        w = self._windows[i]
        return Tensor._wrap(w[:-1].copy()), Tensor._wrap(w[1:].copy())

    def get_batch(self, indices: np.ndarray) -> list[Tensor]:
        """The windows at ``indices`` as one batch: inputs x and next-character targets y, each (B, T)."""
        w = self._windows[indices]  # (B, T + 1), a copy
        return [Tensor._wrap(w[:, :-1]), Tensor._wrap(w[:, 1:])]


@dataclass
class Corpus:
    """Text, its tokenizer and a contiguous train/val split of its ids (the val part is the end)."""

    text: str
    tokenizer: Any
    train: np.ndarray
    val: np.ndarray
    files: list[str] = field(default_factory=list)

    @property
    def vocab_size(self) -> int:
        """The tokenizer's vocabulary size."""
        return self.tokenizer.vocab_size

    def dataset(self, split: str, block_size: int) -> CharDataset:
        """A ``CharDataset`` of every window of ``block_size`` + 1 ids of ``split`` (``'train'`` or ``'val'``)."""
        return CharDataset(self._ids(split), block_size)

    def get_batch(self, split: str, batch_size: int, block_size: int,
                  generator: Generator | None = None) -> tuple[Tensor, Tensor]:
        """``batch_size`` windows at random offsets (nanoGPT's ``get_batch``): x, y of shape (B, T)."""
        ds = self.dataset(split, block_size)
        x, y = ds.get_batch(_generator(generator).integers(0, len(ds), size=batch_size))
        return x, y

    def _ids(self, split: str) -> np.ndarray:
        if split not in ("train", "val"):
            raise ValueError(f"Corpus: split must be 'train' or 'val', got {split!r}")
        return self.train if split == "train" else self.val


def stdlib_files(root: str | None = None) -> list[str]:
    """The stdlib's ``*.py`` files (relative paths, sorted), minus third-party, test and codec-table directories."""
    root = root or sysconfig.get_paths()["stdlib"]
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x not in _SKIP_DIRS]
        out += [os.path.relpath(os.path.join(d, f), root) for f in files if f.endswith(".py")]
    return sorted(p.replace(os.sep, "/") for p in out)


def stdlib_corpus(max_bytes: int = 1_000_000, seed: int | None = 0, val_fraction: float = 0.1,
                  level: str = "char") -> Corpus:
    """Python's standard library source as a training corpus.

    Args:
        max_bytes: stop after this many bytes of source (the last file is cut).
        seed: None keeps the files in sorted order; an int shuffles that sorted list with
            ``np.random.default_rng(seed)`` (still deterministic) so a small ``max_bytes`` mixes
            many modules instead of the alphabetically first ones.
        val_fraction: the last ``val_fraction`` of the ids form the validation split (default 10%).
        level: ``"char"`` (vocabulary = the sorted set of characters in the text) or ``"byte"``
            (vocabulary = the 256 byte values of the UTF-8 encoding).
    """
    if level not in ("char", "byte"):
        raise ValueError(f"stdlib_corpus: level must be 'char' or 'byte', got {level!r}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"stdlib_corpus: val_fraction must be in [0, 1), got {val_fraction}")
    root = sysconfig.get_paths()["stdlib"]
    files = stdlib_files(root)
    if seed is not None:
        files = [files[i] for i in np.random.default_rng(seed).permutation(len(files))]
    chunks, used, total = [], [], 0
    for rel in files:
        if total >= max_bytes:
            break
        with open(os.path.join(root, rel), "rb") as f:
            data = f.read()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        chunks.append(data)
        used.append(rel)
        total += len(data)
    raw = b"".join(chunks)[:max_bytes]
    text = raw.decode("utf-8", errors="ignore")  # drops a character cut in half at the end
    tokenizer = CharTokenizer(text) if level == "char" else ByteTokenizer()
    ids = tokenizer.encode(text if level == "char" else raw)
    n_train = int(round(len(ids) * (1 - val_fraction)))
    return Corpus(text=text, tokenizer=tokenizer, train=ids[:n_train], val=ids[n_train:], files=used)
