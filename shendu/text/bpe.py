"""GPT-2-style byte-level BPE: any Unicode text round-trips exactly through 256 byte tokens plus merges.

    tok = ByteLevelBPETokenizer().train(texts, vocab_size=4096, special_tokens=["<|endoftext|>"])
    ids = tok.encode("def f(x):\\n    return x")      # list[int]
    tok.decode(ids) == "def f(x):\\n    return x"
    tok.save("tokenizer.json"); tok = ByteLevelBPETokenizer.from_file("tokenizer.json")

Pipeline (GPT-2's, and Hugging Face ``tokenizers``' ``ByteLevelBPETokenizer`` with
``add_prefix_space=False``):
1. special tokens are cut out of the text first and map straight to their ids;
2. the rest is split into pre-tokens with GPT-2's pattern (``PATTERN``); a merge never crosses two
   pre-tokens;
3. each pre-token's UTF-8 bytes are base tokens 0..255, then merges apply by rank.

Token strings use GPT-2's printable byte alphabet (``bytes_to_unicode``: the space byte is ``Ġ``), and
base ids follow that alphabet's order (GPT-2's and Hugging Face's), so with the same pre-tokens and
tie-breaks training gives Hugging Face's merges. Ids: 0..255 the bytes, then the special tokens, then
the merged tokens in the order they were learned.

The pre-tokenizer uses the ``regex`` package when it is installed (GPT-2's pattern with ``\\p{L}`` and
``\\p{N}``); otherwise a stdlib ``re`` approximation: letters are ``[^\\W\\d_]`` (Unicode letters plus
the non-decimal numerals such as ``²`` or ``Ⅻ``, which GPT-2 counts as numbers), numbers are ``\\d``
(decimal digits), whitespace is ``str.isspace`` (which also counts ``\\x1c``-``\\x1f``). Both are
identical on ASCII text; either way encode/decode round-trips exactly, since pre-tokenization only
decides where merges may apply.

Training is incremental (as in Hugging Face's trainer): pre-tokens are deduplicated with counts, a
pair -> count table and a pair -> word-index table are built once, and each merge touches only the
words that contain its pair, updating the counts of the pairs it destroys and creates; a lazy
max-heap (stale entries are re-pushed with their current count) picks the most frequent pair, ties
going to the smaller (left id, right id).
"""
from __future__ import annotations

import heapq
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

try:  # the exact GPT-2 pattern needs Unicode properties; stdlib re has no \p{...}
    import regex as _regex
except ImportError:  # pragma: no cover - depends on the environment
    _regex = None

FORMAT = "shendu.bpe.byte_level"
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
RE_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
PATTERN = GPT2_PATTERN if _regex is not None else RE_PATTERN
_SPLIT = (_regex.compile(GPT2_PATTERN) if _regex is not None else re.compile(RE_PATTERN)).findall
_CACHE_LIMIT = 200_000


def bytes_to_unicode() -> list[tuple[int, str]]:
    """GPT-2's byte alphabet as (byte, printable char) pairs in id order: the printable bytes
    ``!``..``~``, ``¡``..``¬``, ``®``..``ÿ`` keep their code points, the other 68 bytes get 256, 257, ...
    (so the space byte 32 is ``Ġ``, U+0120)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    rest = [b for b in range(256) if b not in set(keep)]
    return [(b, chr(b)) for b in keep] + [(b, chr(256 + i)) for i, b in enumerate(rest)]


_ALPHABET = bytes_to_unicode()
_BYTE_TO_ID = [0] * 256
for _i, (_b, _) in enumerate(_ALPHABET):
    _BYTE_TO_ID[_b] = _i
_BYTE_TO_ID_TABLE = bytes(_BYTE_TO_ID)  # bytes.translate: raw bytes -> base ids, in C


class ByteLevelBPETokenizer:
    """A byte-level BPE tokenizer (GPT-2's scheme). A fresh one knows only the 256 byte tokens;
    ``train`` learns merges, ``from_file`` loads a saved one.

    Attributes:
        merges: the learned merges as (left token, right token) strings, in rank order.
        special_tokens: the special tokens, in id order (ids 256, 257, ...; then any added with
            ``add_special_tokens``, whose ids follow the merged tokens).
    """

    def __init__(self) -> None:
        self._set_state([], [])

    # ------------------------------------------------------------------ state
    def _set_state(self, merges: list[tuple[int, int]], special_tokens: list[str],
                   merge_tokens: list[str] | None = None, added_tokens: list[str] = ()) -> None:
        """Rebuild every table from base ids + special tokens + merges (pairs of ids) + added special
        tokens (``add_special_tokens``: ids after the merges)."""
        self.special_tokens = list(special_tokens)
        self._added_tokens = list(added_tokens)
        tokens = [c for _, c in _ALPHABET] + self.special_tokens
        id_bytes = [bytes([b]) for b, _ in _ALPHABET] + [s.encode("utf-8") for s in self.special_tokens]
        vocab = {t: i for i, t in enumerate(tokens)}
        if len(vocab) != len(tokens):
            raise ValueError(f"ByteLevelBPETokenizer: special tokens {self.special_tokens} repeat each other "
                             f"or a byte token")
        ranks: dict[tuple[int, int], tuple[int, int]] = {}
        for rank, (a, b) in enumerate(merges):
            text = tokens[a] + tokens[b]
            new = vocab.get(text)
            if new is None:
                new = vocab[text] = len(tokens)
                tokens.append(text)
                id_bytes.append(id_bytes[a] + id_bytes[b])
            ranks[(a, b)] = (rank, new)
        for s in self._added_tokens:
            if s in vocab:
                raise ValueError(f"ByteLevelBPETokenizer: added special token {s!r} is already in the vocabulary")
            vocab[s] = len(tokens)
            tokens.append(s)
            id_bytes.append(s.encode("utf-8"))
        self.special_tokens += self._added_tokens
        self._merge_ids = list(merges)
        self._ranks = ranks
        self._tokens = tokens
        self._vocab = vocab
        self._id_bytes = id_bytes
        self._special_ids = {s: vocab[s] for s in self.special_tokens}
        ordered = sorted(self.special_tokens, key=len, reverse=True)  # longest match first
        self._special_re = re.compile("(" + "|".join(map(re.escape, ordered)) + ")") if ordered else None
        self._cache: dict[str, list[int]] = {}

    @property
    def merges(self) -> list[tuple[str, str]]:
        """The learned merges in rank order, as pairs of token strings (GPT-2's merges.txt lines)."""
        return [(self._tokens[a], self._tokens[b]) for a, b in self._merge_ids]

    @property
    def vocab_size(self) -> int:
        """The number of token ids (ids are 0 .. vocab_size - 1)."""
        return len(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def get_vocab(self) -> dict[str, int]:
        """Token string -> id (a copy)."""
        return dict(self._vocab)

    def token_to_id(self, token: str) -> int | None:
        """The id of a token string (GPT-2 alphabet, e.g. ``"Ġthe"``), None if it is not in the vocabulary."""
        return self._vocab.get(token)

    def id_to_token(self, id: int) -> str | None:
        """The token string of an id, None if the id is out of range."""
        return self._tokens[id] if 0 <= id < len(self._tokens) else None

    def __eq__(self, other: object) -> bool:
        """Same special tokens and merges (hence the same vocabulary and the same encoding)."""
        if not isinstance(other, ByteLevelBPETokenizer):
            return NotImplemented
        return self.special_tokens == other.special_tokens and self._merge_ids == other._merge_ids

    __hash__ = None  # mutable (train)

    def __repr__(self) -> str:
        return (f"ByteLevelBPETokenizer(vocab_size={self.vocab_size}, merges={len(self._merge_ids)}, "
                f"special_tokens={self.special_tokens})")

    # --------------------------------------------------------------- training
    def train(self, texts: str | Iterable[str], vocab_size: int, special_tokens: Iterable[str] = (),
              min_frequency: int = 2) -> ByteLevelBPETokenizer:
        """Learn merges from ``texts`` (one string or an iterable of documents) until the vocabulary
        (256 bytes + special tokens + merges) has ``vocab_size`` tokens or no pair occurs
        ``min_frequency`` times. Replaces any earlier training; returns ``self``.

        Special tokens found in the texts are cut out before pre-tokenization, so they are never split
        into merges (Hugging Face's trainer does not do this; it matters only when the texts contain them).
        After training, ``train_stats`` holds counters: ``initial_pair_occurrences`` (the pairs one full
        count visits), ``pair_updates`` (pair-count updates done by all merges) and ``merges``.
        """
        special_tokens = list(special_tokens)
        for s in special_tokens:
            if not isinstance(s, str) or not s:
                raise ValueError(f"ByteLevelBPETokenizer.train: special tokens must be non-empty strings, got {s!r}")
        if vocab_size < 256 + len(special_tokens):
            raise ValueError(f"ByteLevelBPETokenizer.train: vocab_size={vocab_size} is smaller than the 256 byte "
                             f"tokens plus {len(special_tokens)} special tokens")
        if min_frequency < 1:
            raise ValueError(f"ByteLevelBPETokenizer.train: min_frequency must be >= 1, got {min_frequency}")
        if isinstance(texts, str):
            texts = [texts]
        self._set_state([], special_tokens)  # validates the special tokens, resets the vocabulary

        word_counts: Counter[str] = Counter()
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"ByteLevelBPETokenizer.train: texts must be strings, got {type(text).__name__}")
            for piece in self._split_special(text):
                if piece not in self._special_ids:
                    word_counts.update(_SPLIT(piece))
        merges, stats = _learn_merges(word_counts, vocab_size - len(self._tokens), min_frequency, self._tokens)
        self._set_state(merges, special_tokens)
        self.train_stats = stats
        return self

    def add_special_tokens(self, tokens: Iterable[str]) -> list[int]:
        """Append special tokens with new ids at the end of the vocabulary (existing ids unchanged;
        tokens already special are skipped) and return the ids of all of ``tokens``. Used to add a
        chat template's markers to a pretrained tokenizer (then grow the model's embedding rows)."""
        tokens = list(tokens)
        for s in tokens:
            if not isinstance(s, str) or not s:
                raise ValueError(f"ByteLevelBPETokenizer.add_special_tokens: special tokens must be non-empty "
                                 f"strings, got {s!r}")
        new = [s for s in dict.fromkeys(tokens) if s not in self._special_ids]
        clash = [s for s in new if s in self._vocab]
        if clash:
            raise ValueError(f"ByteLevelBPETokenizer.add_special_tokens: {clash} are already ordinary tokens")
        if new:
            base = self.special_tokens[:len(self.special_tokens) - len(self._added_tokens)]
            self._set_state(self._merge_ids, base, added_tokens=self._added_tokens + new)
        return [self._special_ids[s] for s in tokens]

    # ---------------------------------------------------------- encode/decode
    def _split_special(self, text: str) -> list[str]:
        if self._special_re is None:
            return [text] if text else []
        return [p for p in self._special_re.split(text) if p]

    def _bpe(self, word: str) -> list[int]:
        """One pre-token -> ids: its bytes, then the merges by rank (``apply_merges``)."""
        return apply_merges(list(word.encode("utf-8").translate(_BYTE_TO_ID_TABLE)), self._ranks)

    def encode(self, text: str) -> list[int]:
        """``text`` -> token ids. Special tokens in the text become their single ids."""
        if not isinstance(text, str):
            raise TypeError(f"ByteLevelBPETokenizer.encode: expected a str, got {type(text).__name__}")
        cache, out = self._cache, []
        for piece in self._split_special(text):
            sid = self._special_ids.get(piece)
            if sid is not None:
                out.append(sid)
                continue
            for word in _SPLIT(piece):
                ids = cache.get(word)
                if ids is None:
                    if len(cache) >= _CACHE_LIMIT:
                        cache.clear()
                    ids = cache[word] = self._bpe(word)
                out.extend(ids)
        return out

    def decode(self, ids: Any) -> str:
        """Token ids (a list, NumPy array or Tensor; flattened) -> text. Ids concatenate their bytes; a
        byte sequence that is not valid UTF-8 (possible only from arbitrary ids) decodes with U+FFFD."""
        arr = np.asarray(getattr(ids, "_data", ids))
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"ByteLevelBPETokenizer.decode: ids must be integers, got dtype {arr.dtype}")
        flat = arr.astype(np.int64).reshape(-1)
        bad = (flat < 0) | (flat >= len(self._tokens))
        if bad.any():
            raise ValueError(f"ByteLevelBPETokenizer.decode: ids {sorted(set(flat[bad].tolist()))[:10]} are not in "
                             f"the vocabulary of {len(self._tokens)} tokens (ids 0..{len(self._tokens) - 1})")
        return b"".join(map(self._id_bytes.__getitem__, flat.tolist())).decode("utf-8", errors="replace")

    # ------------------------------------------------------------- save/load
    def save(self, path: str | os.PathLike) -> None:
        """Write one JSON file: the format tag, the vocabulary (token -> id), the merges in rank order
        and the special tokens."""
        n_base = len(self.special_tokens) - len(self._added_tokens)
        state = {"format": FORMAT, "version": 1, "pre_tokenizer": "gpt2",
                 "special_tokens": self.special_tokens[:n_base], "merges": [list(m) for m in self.merges],
                 "added_tokens": self._added_tokens, "vocab": self._vocab}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(state, f, ensure_ascii=False)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> ByteLevelBPETokenizer:
        """Load a tokenizer written by ``save``; ValueError if the file is not one (or is inconsistent)."""
        where = f"ByteLevelBPETokenizer.from_file({os.fspath(path)!r})"
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{where}: not a JSON tokenizer file ({e})") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            got = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"{where}: not a byte-level BPE tokenizer file (format {got!r}, expected {FORMAT!r})")
        try:
            specials, vocab = list(state["special_tokens"]), dict(state["vocab"])
            added = list(state.get("added_tokens", []))
            merges = [(a, b) for a, b in state["merges"]]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{where}: malformed tokenizer file ({type(e).__name__}: {e})") from None
        tok = cls()
        tok._set_state([], specials)
        ids = []
        for a, b in merges:
            if a not in tok._vocab or b not in tok._vocab:
                raise ValueError(f"{where}: merge {[a, b]} uses a token that no earlier merge made")
            ids.append((tok._vocab[a], tok._vocab[b]))
            tok._set_state_incremental(ids[-1])
        for s in added:
            if isinstance(s, str) and s and s not in tok._vocab:
                tok._vocab[s] = len(tok._tokens)
                tok._tokens.append(s)
        if tok._vocab != vocab:
            raise ValueError(f"{where}: the vocabulary does not match the one its merges and special tokens "
                             f"build ({len(vocab)} tokens in the file, {len(tok._vocab)} rebuilt)")
        tok._set_state(ids, specials, added_tokens=added)
        return tok

    def _set_state_incremental(self, pair: tuple[int, int]) -> None:
        """Add one merge to the string tables only (used while validating a file)."""
        a, b = pair
        text = self._tokens[a] + self._tokens[b]
        if text not in self._vocab:
            self._vocab[text] = len(self._tokens)
            self._tokens.append(text)


def apply_merges(ids: list[int], ranks: dict[tuple[int, int], tuple[int, int]]) -> list[int]:
    """Apply BPE merges to one pre-token's base ids: the lowest-rank pair present is merged everywhere,
    repeatedly. ``ranks`` maps a pair of ids to (rank, merged id)."""
    while len(ids) > 1:
        best, best_rank = None, None
        for pair in zip(ids, ids[1:]):
            r = ranks.get(pair)
            if r is not None and (best_rank is None or r[0] < best_rank[0]):
                best, best_rank = pair, r
        if best is None:
            break
        a, b = best
        new = best_rank[1]
        out, i, n = [], 0, len(ids)
        while i < n:
            if i < n - 1 and ids[i] == a and ids[i + 1] == b:
                out.append(new)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out
    return ids


def _learn_merges(word_counts: Counter[str], max_merges: int, min_frequency: int,
                  tokens: list[str]) -> tuple[list[tuple[int, int]], dict[str, int]]:
    """The training loop over deduplicated pre-tokens; returns the merges as id pairs and counters.

    ``tokens`` (the 256 byte tokens then the special tokens; copied and grown here) numbers the merged
    tokens and decides when two merges make the same string: like Hugging Face, such a merge reuses the
    existing id and does not grow the vocabulary.
    """
    words = [list(w.encode("utf-8").translate(_BYTE_TO_ID_TABLE)) for w in word_counts]
    return learn_merges(words, list(word_counts.values()), max_merges, min_frequency, tokens)


def learn_merges(words: list[list[int]], counts: list[int], max_merges: int, min_frequency: int,
                 tokens: list[str], join=str.__add__) -> tuple[list[tuple[int, int]], dict[str, int]]:
    """Frequency-ranked merge training over words given as token ids with their counts (each word
    once). ``join(left, right)`` names a merged token (WordPiece drops the right part's ``##``).
    Returns the merges as id pairs and counters (see ``_learn_merges``)."""
    kept = [(w, c) for w, c in zip(words, counts) if len(w) > 1]
    words, counts = [w for w, _ in kept], [c for _, c in kept]
    pair_counts: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], set[int]] = {}
    occurrences = 0
    for wi, (w, c) in enumerate(zip(words, counts)):
        occurrences += len(w) - 1
        for pair in zip(w, w[1:]):
            pair_counts[pair] = pair_counts.get(pair, 0) + c
            s = where.get(pair)
            if s is None:
                where[pair] = {wi}
            else:
                s.add(wi)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)
    tokens = list(tokens)
    vocab = {t: i for i, t in enumerate(tokens)}
    merges: list[tuple[int, int]] = []
    updates = 0
    grown = 0
    while grown < max_merges and heap:
        neg, pair = heapq.heappop(heap)
        count = pair_counts.get(pair, 0)
        if -neg != count:  # stale: counts only fall for old pairs, so re-push and look again
            if count > 0:
                heapq.heappush(heap, (-count, pair))
            continue
        if count < min_frequency:
            break
        a, b = pair
        text = join(tokens[a], tokens[b])
        new = vocab.get(text)
        if new is None:
            new = vocab[text] = len(tokens)
            tokens.append(text)
            grown += 1
        merges.append(pair)
        del pair_counts[pair]
        created: set[tuple[int, int]] = set()
        for wi in where.pop(pair):
            w = words[wi]
            c = counts[wi]
            out: list[int] = []
            i, n = 0, len(w)
            while i < n:
                if i < n - 1 and w[i] == a and w[i + 1] == b:
                    if out:  # the pair on the left: (prev, a) -> (prev, new)
                        prev = out[-1]
                        p = (prev, a)
                        if p != pair:
                            pair_counts[p] -= c
                        p = (prev, new)
                        pair_counts[p] = pair_counts.get(p, 0) + c
                        created.add(p)
                        s = where.get(p)
                        if s is None:
                            where[p] = {wi}
                        else:
                            s.add(wi)
                        updates += 2
                    if i + 2 < n:  # the pair on the right: (b, next) -> (new, next)
                        nxt = w[i + 2]
                        p = (b, nxt)
                        if p != pair:
                            pair_counts[p] -= c
                        p = (new, nxt)
                        pair_counts[p] = pair_counts.get(p, 0) + c
                        created.add(p)
                        s = where.get(p)
                        if s is None:
                            where[p] = {wi}
                        else:
                            s.add(wi)
                        updates += 2
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[wi] = out
        for p in created:
            c = pair_counts.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
    return merges, {"initial_pair_occurrences": occurrences, "pair_updates": updates, "merges": len(merges)}
