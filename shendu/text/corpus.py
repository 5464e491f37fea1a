"""Text for language models: a corpus from any text file or the built-in Python-stdlib one, a saved
character vocabulary, and contiguous batch streams for truncated backpropagation through time.

The stdlib corpus and the tokenizers live in ``shendu.data.datasets.text`` (``stdlib_corpus``,
``CharTokenizer``, ``ByteTokenizer``, ``Corpus``); this module builds on them:

    corpus = load_corpus()                      # the stdlib's *.py sources, 1 MB, 10 % held out
    corpus = load_corpus("input.txt")           # any UTF-8 text file
    save_vocab(corpus.tokenizer, "vocab.json"); tok = load_vocab("vocab.json")
    for x, y in StreamBatches(corpus.train, batch_size=32, seq_len=100): ...   # (N, T) chunks in order
"""
from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from shendu.data.datasets.text import ByteTokenizer, CharTokenizer, Corpus, stdlib_corpus
from shendu.tensor import Tensor

VOCAB_FORMAT = "shendu.vocab"


def load_corpus(data: str | os.PathLike | None = None, *, max_bytes: int | None = 1_000_000,
                val_fraction: float = 0.1, seed: int | None = 0, tokenizer: Any = None) -> Corpus:
    """A character-level ``Corpus``: the stdlib corpus (``data=None``) or the UTF-8 text file ``data``.

    Args:
        data: None for Python's standard-library sources (``stdlib_corpus``: deterministic file
            selection and order, nothing downloaded), or the path of a UTF-8 text file.
        max_bytes: keep at most this many bytes of text (None: the whole file; the stdlib corpus
            needs a cap).
        val_fraction: the last ``val_fraction`` of the text is the validation split.
        seed: the stdlib corpus' file shuffle (None keeps sorted order); unused for a file.
        tokenizer: encode with this vocabulary (e.g. one loaded from a run being resumed) instead of
            the sorted set of the text's characters; a character outside it raises ValueError.
    Returns: a ``Corpus`` with ``text``, ``tokenizer``, ``train`` and ``val`` (int64 id arrays).
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"load_corpus: val_fraction must be in [0, 1), got {val_fraction}")
    if max_bytes is not None and max_bytes < 2:
        raise ValueError(f"load_corpus: max_bytes must be at least 2 (or None), got {max_bytes}")
    if data is None:
        if max_bytes is None:
            raise ValueError("load_corpus: the stdlib corpus needs a max_bytes cap")
        corpus = stdlib_corpus(max_bytes=max_bytes, seed=seed, val_fraction=val_fraction, level="char")
        text, files = corpus.text, corpus.files
    else:
        path = os.fspath(data)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"load_corpus: no text file at {path!r}")
        with open(path, "rb") as f:
            raw = f.read()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"load_corpus: {path!r} is not UTF-8 text ({e})") from None
        # errors="ignore" only drops a character the cap cut in half
        text = raw[:max_bytes].decode("utf-8", errors="ignore") if max_bytes else raw.decode("utf-8")
        files = [path]
    if len(text) < 2:
        raise ValueError(f"load_corpus: {len(text)} characters of text are too few for a language model")
    if tokenizer is None:
        tokenizer = CharTokenizer(text)
    try:
        ids = tokenizer.encode(text)
    except KeyError as e:
        raise ValueError(f"load_corpus: the text does not fit the given vocabulary of {tokenizer.vocab_size} "
                         f"symbols: {e.args[0]}") from None
    n_train = int(round(len(ids) * (1 - val_fraction)))
    return Corpus(text=text, tokenizer=tokenizer, train=ids[:n_train], val=ids[n_train:], files=files)


def save_vocab(tokenizer: CharTokenizer | ByteTokenizer, path: str | os.PathLike) -> None:
    """Write a tokenizer's vocabulary as JSON (``load_vocab`` reads it back)."""
    if isinstance(tokenizer, CharTokenizer):
        state = {"format": VOCAB_FORMAT, "kind": "char", "chars": tokenizer.chars}
    elif isinstance(tokenizer, ByteTokenizer):
        state = {"format": VOCAB_FORMAT, "kind": "byte"}
    else:
        raise TypeError(f"save_vocab: expected a CharTokenizer or ByteTokenizer, got {type(tokenizer).__name__}")
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, ensure_ascii=True)
    os.replace(tmp, path)


def load_vocab(path: str | os.PathLike) -> CharTokenizer | ByteTokenizer:
    """The tokenizer whose vocabulary ``save_vocab`` wrote to ``path`` (same ids as the original)."""
    with open(path, encoding="utf-8") as f:
        state = json.load(f)
    if not isinstance(state, dict) or state.get("format") != VOCAB_FORMAT:
        raise ValueError(f"load_vocab: {os.fspath(path)!r} is not a vocabulary written by save_vocab")
    if state.get("kind") == "byte":
        return ByteTokenizer()
    chars = state.get("chars")
    if state.get("kind") != "char" or not chars or sorted(set(chars)) != chars:
        raise ValueError(f"load_vocab: {os.fspath(path)!r} holds no sorted character list")
    return CharTokenizer("".join(chars))  # the vocabulary is the sorted set, so this rebuilds the same ids


class StreamBatches:
    """Contiguous (x, y) chunks of ``batch_size`` parallel streams, for truncated backpropagation
    through time.

    The ids are cut into N = ``batch_size`` streams of n = (L - 1) // N tokens: row b of the stream
    matrix is ``ids[b*n:(b+1)*n]`` and its targets are the next tokens. Chunk k is columns
    ``[k*T, (k+1)*T)`` of every row (the last may be shorter), so row b of chunk k + 1 continues row b
    of chunk k and a hidden state carried from one chunk to the next reads each stream in order.

    Args:
        ids: token ids, shape (L,) (array or Tensor).
        batch_size: N, the number of parallel streams (lowered to fit a short text, at least 1).
        seq_len: T, the chunk length (the truncation length of backpropagation through time).
        steps: at most this many chunks per pass. Pass e (``set_epoch(e)``) then takes the chunks
            after those of pass e - 1, starting over at the beginning once every chunk was seen
            (a pass never wraps around inside itself, so the streams stay contiguous).
    Shape: each item is ``(x, y)``, two int64 tensors (N, T); ``len()`` is the current pass' chunks.
    """

    def __init__(self, ids: Any, batch_size: int, seq_len: int, steps: int | None = None):
        ids = np.asarray(getattr(ids, "_data", ids), dtype=np.int64)
        if ids.ndim != 1:
            raise ValueError(f"StreamBatches: expected 1-D ids, got shape {ids.shape}")
        for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"StreamBatches: {name} must be a positive integer, got {value!r}")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ValueError(f"StreamBatches: steps must be a positive integer or None, got {steps!r}")
        if len(ids) < 2:
            raise ValueError(f"StreamBatches: {len(ids)} tokens are too few (need at least 2)")
        self.batch_size = min(batch_size, len(ids) - 1)
        n = (len(ids) - 1) // self.batch_size
        self.seq_len, self.stream_len = seq_len, n
        self.x = ids[:self.batch_size * n].reshape(self.batch_size, n)  # (N, n)
        self.y = ids[1:self.batch_size * n + 1].reshape(self.batch_size, n)  # (N, n)
        self.num_chunks = math.ceil(n / seq_len)
        self.steps = min(steps, self.num_chunks) if steps else self.num_chunks
        self.epoch = 0

    @property
    def passes_per_cycle(self) -> int:
        """Passes that together see every chunk once."""
        return math.ceil(self.num_chunks / self.steps)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration pass number ``epoch`` (0-based)."""
        self.epoch = int(epoch)

    def _range(self) -> range:
        first = (self.epoch % self.passes_per_cycle) * self.steps
        return range(first, min(first + self.steps, self.num_chunks))

    def __len__(self) -> int:
        return len(self._range())

    def __iter__(self):
        T = self.seq_len
        for k in self._range():
            cols = slice(k * T, (k + 1) * T)
            yield Tensor._wrap(self.x[:, cols].copy()), Tensor._wrap(self.y[:, cols].copy())

    def __repr__(self) -> str:
        return (f"StreamBatches(streams={self.batch_size}, stream_len={self.stream_len}, seq_len={self.seq_len}, "
                f"chunks={self.num_chunks}, steps={self.steps})")


__all__ = ["StreamBatches", "load_corpus", "load_vocab", "save_vocab"]
