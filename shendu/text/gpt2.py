"""GPT-2's tokenizer over a Hugging Face vocab.json + merges.txt (``GPT2Tokenizer``: the same ids as
Hugging Face's GPT2Tokenizer).

    tok = GPT2Tokenizer.from_pretrained("gpt2-dir")         # vocab.json + merges.txt (or tokenizer.json)
    ids = tok.encode("Hello world")                         # list[int]
    tok.pad_token = tok.eos_token
    enc = tok(["a", "longer text"], padding=True, return_tensors="pt")   # padding_side 'right' or 'left'

The scheme is ``shendu.text.bpe``'s byte-level BPE (its byte alphabet, pre-tokenizer and merge
application), with the ids and merge ranks read from the files instead of learned: special tokens are
cut out first, each pre-token's UTF-8 bytes become the vocabulary's byte tokens, and the merges apply
by their line order in merges.txt. A byte with no token in the vocabulary is skipped (as
``tokenizers`` does for a BPE without an unknown token).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable

from shendu.text.bpe import _ALPHABET, _SPLIT, apply_merges
from shendu.text.encoding import VERY_LARGE_INTEGER, PairEncoder, read_json, special_content

__all__ = ["GPT2Tokenizer"]

_CHAR_OF_BYTE = {b: c for b, c in _ALPHABET}
_BYTE_OF_CHAR = {c: b for b, c in _ALPHABET}
SPECIAL_NAMES = ("bos_token", "eos_token", "unk_token", "pad_token")


class GPT2Tokenizer(PairEncoder):
    """GPT-2's byte-level BPE tokenizer.

    Args:
        vocab: a vocab.json path or a dict token -> id.
        merges: a merges.txt path or a list of (left, right) token pairs in rank order.
        unk_token, bos_token, eos_token: Default ``"<|endoftext|>"`` (added at the end of the
            vocabulary if missing). pad_token: Default None (set one to pad).
        add_prefix_space: put a space before a text that does not start with one. Default: False.
        add_bos_token: start every encoding with ``bos_token``. Default: False.
        additional_special_tokens: more tokens cut out whole.
        padding_side: ``'right'`` (default) or ``'left'`` (for generation).
    """

    model_input_names = ("input_ids", "attention_mask")
    special_names = SPECIAL_NAMES
    config_keys = ("add_prefix_space", "add_bos_token", "model_max_length", "padding_side", "truncation_side",
                   "errors", "clean_up_tokenization_spaces")
    bos_token = eos_token = None
    additional_special_tokens: list[str] = []

    def __init__(self, vocab: str | os.PathLike | dict[str, int], merges: str | os.PathLike | list,
                 errors: str = "replace", unk_token: str = "<|endoftext|>", bos_token: str = "<|endoftext|>",
                 eos_token: str = "<|endoftext|>", pad_token: str | None = None, add_prefix_space: bool = False,
                 add_bos_token: bool = False, additional_special_tokens: Iterable[str] = (),
                 model_max_length: int = VERY_LARGE_INTEGER, padding_side: str = "right",
                 truncation_side: str = "right", clean_up_tokenization_spaces: bool = False):
        if isinstance(vocab, (str, os.PathLike)):
            with open(vocab, encoding="utf-8") as f:
                vocab = json.load(f)
        if isinstance(merges, (str, os.PathLike)):
            with open(merges, encoding="utf-8") as f:
                merges = [line.split(" ") for line in f.read().split("\n")
                          if line and not line.startswith("#version")]
        merges = [m.split(" ") if isinstance(m, str) else m for m in merges]
        if padding_side not in ("right", "left") or truncation_side not in ("right", "left"):
            raise ValueError(f"GPT2Tokenizer: padding_side and truncation_side must be 'right' or 'left', got "
                             f"{padding_side!r}, {truncation_side!r}")
        self.decoder = self._tokens = {i: t for t, i in vocab.items()}
        self.encoder = self._ids = dict(vocab)  # from here on, a special token set joins the vocabulary if missing
        self.unk_token, self.bos_token, self.eos_token, self.pad_token = unk_token, bos_token, eos_token, pad_token
        self.additional_special_tokens = list(additional_special_tokens)
        self.errors, self.add_prefix_space, self.add_bos_token = errors, add_prefix_space, add_bos_token
        self.model_max_length, self.padding_side, self.truncation_side = model_max_length, padding_side, truncation_side
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces
        self.bpe_ranks: list[tuple[str, str]] = []
        self._ranks: dict[tuple[int, int], tuple[int, int]] = {}
        for rank, m in enumerate(merges):
            if len(m) != 2:
                raise ValueError(f"GPT2Tokenizer: merge {rank} is {m!r}, expected two tokens")
            a, b = m
            ids = (self.encoder.get(a), self.encoder.get(b), self.encoder.get(a + b))
            if None not in ids:
                self._ranks.setdefault(ids[:2], (rank, ids[2]))
                self.bpe_ranks.append((a, b))
        self._byte_ids = [self.encoder.get(_CHAR_OF_BYTE[b]) for b in range(256)]
        self._cache: dict[str, list[int]] = {}

    # ----------------------------------------------------------- special tokens
    @property
    def all_special_tokens(self) -> list[str]:
        """The special tokens set (``bos_token``, ``eos_token``, ``unk_token``, ``pad_token``), then the
        ``additional_special_tokens``, each once."""
        return list(dict.fromkeys(super().all_special_tokens + self.additional_special_tokens))

    def __setattr__(self, name: str, value) -> None:
        super().__setattr__(name, value)
        if name in SPECIAL_NAMES and value is not None and "encoder" in self.__dict__:
            self.encoder.setdefault(value, len(self.encoder))
            self.decoder[self.encoder[value]] = value
        if name in SPECIAL_NAMES or name == "additional_special_tokens":  # re-cut the texts at the specials
            for s in self.additional_special_tokens if "encoder" in self.__dict__ else ():
                self.encoder.setdefault(s, len(self.encoder))
                self.decoder[self.encoder[s]] = s
            specials = sorted(self.all_special_tokens if "encoder" in self.__dict__ else [], key=len, reverse=True)
            self.__dict__["_special_re"] = re.compile("(" + "|".join(map(re.escape, specials)) + ")") \
                if specials else None

    def __repr__(self) -> str:
        return f"GPT2Tokenizer(vocab_size={self.vocab_size}, merges={len(self.bpe_ranks)})"

    # ---------------------------------------------------------------- encode
    def _encode_text(self, text: str) -> list[int]:
        out, cache = [], self._cache
        for i, piece in enumerate(self._special_re.split(text) if self._special_re else [text]):
            if i % 2:
                out.append(self.encoder[piece])
                continue
            if not piece:
                continue
            if self.add_prefix_space and not piece.startswith(" "):
                piece = " " + piece
            for word in _SPLIT(piece):
                ids = cache.get(word)
                if ids is None:
                    if len(cache) > 100_000:
                        cache.clear()
                    base = [self._byte_ids[b] for b in word.encode("utf-8")]
                    ids = cache[word] = apply_merges([i for i in base if i is not None], self._ranks)
                out.extend(ids)
        return out

    def tokenize(self, text: str) -> list[str]:
        """Text -> token strings (GPT-2's alphabet: ``Ġ`` is a space)."""
        return [self.decoder[i] for i in self._encode_text(text)]

    def build_inputs_with_special_tokens(self, ids: list[int], pair: list[int] | None = None) -> list[int]:
        """``ids (+ pair)``, each after ``bos_token`` when ``add_bos_token``."""
        bos = [self.bos_token_id] if self.add_bos_token else []
        return bos + list(ids) + ([] if pair is None else bos + list(pair))

    def get_special_tokens_mask(self, ids: list[int], pair: list[int] | None = None) -> list[int]:
        """1 at each ``bos_token`` that ``build_inputs_with_special_tokens`` adds (only when
        ``add_bos_token``), 0 at each token of ``ids`` and ``pair``."""
        bos = [1] if self.add_bos_token else []
        return bos + [0] * len(ids) + ([] if pair is None else bos + [0] * len(pair))

    def decode(self, ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None) -> str:
        """Ids (a list, array or tensor) -> text: the tokens' bytes joined and decoded as UTF-8
        (``errors``: ``'replace'``); special tokens as written."""
        special = set(self.all_special_tokens)
        chunks, buf = [], bytearray()
        for tok in self.convert_ids_to_tokens(self._decode_ids(ids), skip_special_tokens):
            if tok in special:
                chunks.append(buf.decode("utf-8", errors=self.errors) + tok)
                buf = bytearray()
            else:
                buf.extend(_BYTE_OF_CHAR[c] for c in tok if c in _BYTE_OF_CHAR)
        return self._clean_up("".join(chunks) + buf.decode("utf-8", errors=self.errors), clean_up_tokenization_spaces)

    # ------------------------------------------------------------- save/load
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **overrides) -> GPT2Tokenizer:
        """Load a Hugging Face GPT-2 tokenizer directory: vocab.json + merges.txt (or the BPE model of
        tokenizer.json) and tokenizer_config.json's special tokens, add_prefix_space, add_bos_token,
        padding_side and model_max_length; ``overrides`` win over the files."""
        path, kwargs = cls._read_config(path)
        config = read_json(os.path.join(path, "tokenizer_config.json"))
        extra = config.get("additional_special_tokens") or config.get("extra_special_tokens") or []
        if isinstance(extra, list) and extra:
            kwargs["additional_special_tokens"] = [special_content(t) for t in extra]
        vocab_file, merges_file = os.path.join(path, "vocab.json"), os.path.join(path, "merges.txt")
        tok_json = os.path.join(path, "tokenizer.json")
        if os.path.exists(vocab_file) and os.path.exists(merges_file):
            vocab, merges = vocab_file, merges_file
        elif os.path.exists(tok_json):
            model = read_json(tok_json).get("model", {})
            if model.get("type") != "BPE":
                raise ValueError(f"GPT2Tokenizer.from_pretrained: {tok_json} holds a {model.get('type')!r} model, "
                                 f"not BPE")
            vocab, merges = model["vocab"], model["merges"]
        else:
            missing = [n for n in ("vocab.json", "merges.txt") if not os.path.exists(os.path.join(path, n))]
            raise FileNotFoundError(f"GPT2Tokenizer.from_pretrained: {path!r} lacks {missing} (and tokenizer.json)")
        kwargs.update(overrides)
        return cls(vocab, merges, **kwargs)

    def save_pretrained(self, path: str | os.PathLike) -> list[str]:
        """Write vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json (what
        transformers' GPT2Tokenizer.from_pretrained reads); returns the paths written."""
        path = os.fspath(path)
        os.makedirs(path, exist_ok=True)
        config = {"add_prefix_space": self.add_prefix_space, "add_bos_token": self.add_bos_token, "errors": self.errors}
        if self.additional_special_tokens:
            config["additional_special_tokens"] = self.additional_special_tokens
        files = [os.path.join(path, n) for n in ("vocab.json", "merges.txt")]
        with open(files[0], "w", encoding="utf-8") as f:
            json.dump(self.encoder, f, ensure_ascii=False)
        with open(files[1], "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in self.bpe_ranks))
        return files + self._write_config(path, config)
