"""BERT's WordPiece tokenizer (``BertTokenizer``, the same ids as Hugging Face's on the same vocab.txt)
and a WordPiece vocabulary trainer.

    tok = BertTokenizer.from_pretrained("bert-dir")          # vocab.txt (+ tokenizer_config.json)
    enc = tok("A question?", "An answer.", padding="max_length", max_length=16, return_tensors="pt")
    enc.input_ids, enc.token_type_ids, enc.attention_mask   # (1, 16) shendu tensors

Pipeline (Hugging Face ``tokenizers``' BertNormalizer, BertPreTokenizer and WordPiece):
1. special tokens (``[CLS]``, ``[MASK]``, ...) are cut out of the raw text first, as written;
2. clean text: drop NUL, U+FFFD and control/format characters (``\\t\\n\\r`` stay), turn whitespace
   (Unicode White_Space) into spaces; put spaces around CJK ideographs (``tokenize_chinese_chars``);
   with ``strip_accents`` (default: ``do_lower_case``) NFD and drop the nonspacing marks (Mn); then
   lower-case character by character;
3. split on whitespace, and every punctuation character (Unicode P* or ASCII punctuation) alone;
4. each word: greedy longest match against the vocabulary, continuations prefixed ``##``; a word
   with a piece that matches nothing, or longer than ``max_input_chars_per_word``, is ``[UNK]``.

``WordPieceTrainer`` learns a vocabulary the way ``tokenizers``' WordPieceTrainer does: BPE merges
ranked by pair *frequency* (not the likelihood score of Google's original WordPiece), with the first
character of a word plain and the rest ``##``-prefixed. Vocabulary order: the special tokens, the
characters by code point, the ``##`` characters by code point, then the merges as learned.
"""
from __future__ import annotations

import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

from shendu.text.bpe import learn_merges
from shendu.text.encoding import VERY_LARGE_INTEGER, PairEncoder, read_json

__all__ = ["BasicTokenizer", "BertTokenizer", "WordPieceTrainer", "WordpieceTokenizer"]

SPECIAL_NAMES = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# Unicode White_Space (Rust's char::is_whitespace, which tokenizers uses)
_WHITESPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
                        "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _is_cjk(c: str) -> bool:
    cp = ord(c)
    return any(lo <= cp <= hi for lo, hi in _CJK)


def _is_punctuation(c: str) -> bool:
    return c in _ASCII_PUNCT or unicodedata.category(c).startswith("P")


def _clean(text: str, chinese: bool) -> str:
    out = []
    for c in text:
        if c in "\t\n\r":
            out.append(" ")
        elif c == "\x00" or c == "\ufffd" or unicodedata.category(c)[0] == "C":  # controls go first
            continue
        elif c in _WHITESPACE:
            out.append(" ")
        elif chinese and _is_cjk(c):
            out.append(f" {c} ")
        else:
            out.append(c)
    return "".join(out)


class BasicTokenizer:
    """BERT's basic tokenization (steps 2-3 of the module docstring): text -> words.

    ``never_split``: words (after splitting on whitespace) kept as they are: not lower-cased, not
    split at punctuation.
    """

    def __init__(self, do_lower_case: bool = True, never_split: Iterable[str] | None = None,
                 tokenize_chinese_chars: bool = True, strip_accents: bool | None = None):
        self.do_lower_case = do_lower_case
        self.never_split = frozenset(never_split or ())
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents

    def tokenize(self, text: str) -> list[str]:
        """Text -> words: cleaned, split on whitespace, accents stripped and lower-cased as configured
        (``never_split`` words untouched), each punctuation character a word of its own."""
        words = []
        strip = self.do_lower_case if self.strip_accents is None else self.strip_accents
        for word in _clean(text, self.tokenize_chinese_chars).split(" "):
            if not word:
                continue
            if word in self.never_split:
                words.append(word)
                continue
            if strip:
                word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
            if self.do_lower_case:  # per character, as tokenizers does (no final-sigma context rule)
                word = word.lower() if "Σ" not in word else "".join(c.lower() for c in word)
            start = 0
            for i, c in enumerate(word):
                if _is_punctuation(c):
                    if start < i:
                        words.append(word[start:i])
                    words.append(c)
                    start = i + 1
            if start < len(word):
                words.append(word[start:])
        return words


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece over a vocabulary (token -> id)."""

    def __init__(self, vocab: dict[str, int], unk_token: str = "[UNK]", max_input_chars_per_word: int = 100,
                 prefix: str = "##"):
        self.vocab, self.unk_token, self.prefix = vocab, unk_token, prefix
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize(self, word: str) -> list[str]:
        """One word -> its WordPiece pieces by greedy longest match (continuations prefixed ``##``), or
        ``[unk_token]`` when a piece matches nothing or the word is longer than ``max_input_chars_per_word``."""
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces, start, n = [], 0, len(word)
        while start < n:
            end = n
            while end > start:
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces


class BertTokenizer(PairEncoder):
    """BERT's tokenizer: ``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]`` with token_type_ids 0 then 1.

    Args:
        vocab: a vocab.txt path (one token per line, id = line number) or a list of tokens in id order.
        do_lower_case: lower-case (and, unless ``strip_accents=False``, strip accents). Default: True.
        never_split: words the basic tokenizer keeps whole.
        unk_token, sep_token, pad_token, cls_token, mask_token: the special tokens (BERT's names).
        tokenize_chinese_chars: split every CJK ideograph into its own word. Default: True.
        strip_accents: None (follow ``do_lower_case``), True or False.
        model_max_length: the default ``max_length`` of truncation. ``padding_side``: ``'right'``.
        clean_up_tokenization_spaces: ``decode`` also joins `` 's``, `` n't``... (Hugging Face's
            ``clean_up_tokenization``). Default: False (transformers 5's BERT).
    """

    special_names = SPECIAL_NAMES
    config_keys = ("do_lower_case", "tokenize_chinese_chars", "strip_accents", "model_max_length", "padding_side",
                   "truncation_side", "clean_up_tokenization_spaces", "never_split")

    def __init__(self, vocab: str | os.PathLike | list[str], do_lower_case: bool = True,
                 never_split: Iterable[str] | None = None, unk_token: str = "[UNK]", sep_token: str = "[SEP]",
                 pad_token: str = "[PAD]", cls_token: str = "[CLS]", mask_token: str = "[MASK]",
                 tokenize_chinese_chars: bool = True, strip_accents: bool | None = None,
                 model_max_length: int = VERY_LARGE_INTEGER, padding_side: str = "right",
                 truncation_side: str = "right", clean_up_tokenization_spaces: bool = False,
                 max_input_chars_per_word: int = 100):
        if isinstance(vocab, (str, os.PathLike)):
            with open(vocab, encoding="utf-8") as f:
                vocab = [line.rstrip() for line in f.read().split("\n")]
                while vocab and not vocab[-1]:
                    vocab.pop()
        self.ids_to_tokens = self._tokens = list(vocab)
        self.vocab = self._ids = {t: i for i, t in enumerate(self.ids_to_tokens)}
        self.unk_token, self.sep_token, self.pad_token = unk_token, sep_token, pad_token
        self.cls_token, self.mask_token = cls_token, mask_token
        for name in SPECIAL_NAMES:
            if getattr(self, name) not in self.vocab:
                raise ValueError(f"BertTokenizer: {name}={getattr(self, name)!r} is not in the vocabulary "
                                 f"({len(self.vocab)} tokens)")
        if padding_side not in ("right", "left") or truncation_side not in ("right", "left"):
            raise ValueError(f"BertTokenizer: padding_side and truncation_side must be 'right' or 'left', got "
                             f"{padding_side!r}, {truncation_side!r}")
        self.do_lower_case, self.strip_accents = do_lower_case, strip_accents
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.model_max_length, self.padding_side, self.truncation_side = model_max_length, padding_side, truncation_side
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces
        self.basic_tokenizer = BasicTokenizer(do_lower_case, never_split, tokenize_chinese_chars, strip_accents)
        self.wordpiece_tokenizer = WordpieceTokenizer(self.vocab, unk_token, max_input_chars_per_word)
        self._cache: dict[str, list[str]] = {}
        self._set_special_split()

    def _set_special_split(self) -> None:
        specials = sorted(set(self.all_special_tokens), key=len, reverse=True)  # longest match first
        self._special_re = re.compile("(" + "|".join(map(re.escape, specials)) + ")")

    def __repr__(self) -> str:
        return (f"BertTokenizer(vocab_size={self.vocab_size}, do_lower_case={self.do_lower_case}, "
                f"model_max_length={self.model_max_length})")

    # ---------------------------------------------------------------- tokens
    def tokenize(self, text: str) -> list[str]:
        """Text -> WordPiece tokens; special tokens in the text stay whole."""
        out = []
        for i, piece in enumerate(self._special_re.split(text)):
            if i % 2:
                out.append(piece)
                continue
            for word in self.basic_tokenizer.tokenize(piece):
                toks = self._cache.get(word)
                if toks is None:
                    if len(self._cache) > 100_000:
                        self._cache.clear()
                    toks = self._cache[word] = (
                        [word] if word in self.basic_tokenizer.never_split and word in self.vocab
                        else self.wordpiece_tokenizer.tokenize(word))
                out.extend(toks)
        return out

    def _encode_text(self, text: str) -> list[int]:
        return self.convert_tokens_to_ids(self.tokenize(text))

    def build_inputs_with_special_tokens(self, ids: list[int], pair: list[int] | None = None) -> list[int]:
        """``[CLS] ids [SEP]`` or ``[CLS] ids [SEP] pair [SEP]``."""
        cls, sep = [self.vocab[self.cls_token]], [self.vocab[self.sep_token]]
        return cls + list(ids) + sep + ([] if pair is None else list(pair) + sep)

    def create_token_type_ids_from_sequences(self, ids: list[int], pair: list[int] | None = None) -> list[int]:
        """0 over ``[CLS] ids [SEP]``, 1 over ``pair [SEP]``."""
        return [0] * (len(ids) + 2) + ([] if pair is None else [1] * (len(pair) + 1))

    def get_special_tokens_mask(self, ids: list[int], pair: list[int] | None = None) -> list[int]:
        """1 where ``build_inputs_with_special_tokens`` put a special token."""
        return [1] + [0] * len(ids) + [1] + ([] if pair is None else [0] * len(pair) + [1])

    def decode(self, ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None) -> str:
        """Ids (a list, array or tensor) -> text: tokens joined by spaces, ``##`` pieces glued to the one
        before, and no space before ``. , ! ?`` (tokenizers' WordPiece decoder)."""
        parts = []
        for k, tok in enumerate(self.convert_ids_to_tokens(self._decode_ids(ids), skip_special_tokens)):
            if k and tok.startswith("##"):
                tok = tok[2:]
            elif k:
                tok = " " + tok
            parts.append(tok.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ","))
        return self._clean_up("".join(parts), clean_up_tokenization_spaces)

    # ------------------------------------------------------------- save/load
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **overrides) -> BertTokenizer:
        """Load a Hugging Face BERT tokenizer directory: vocab.txt (or the WordPiece vocab of
        tokenizer.json) and tokenizer_config.json's do_lower_case, special tokens, strip_accents,
        tokenize_chinese_chars and model_max_length; ``overrides`` win over the files."""
        path, kwargs = cls._read_config(path)
        vocab_file, tok_json = os.path.join(path, "vocab.txt"), os.path.join(path, "tokenizer.json")
        if os.path.exists(vocab_file):
            vocab = vocab_file
        elif os.path.exists(tok_json):
            state = read_json(tok_json)
            model = state.get("model", {})
            if model.get("type") != "WordPiece":
                raise ValueError(f"BertTokenizer.from_pretrained: {tok_json} holds a {model.get('type')!r} model, "
                                 f"not WordPiece")
            vocab = sorted(model["vocab"], key=model["vocab"].get)
            norm = state.get("normalizer") or {}
            if norm.get("type") == "BertNormalizer" and "do_lower_case" not in kwargs:
                kwargs["do_lower_case"] = norm.get("lowercase", True)
        else:
            raise FileNotFoundError(f"BertTokenizer.from_pretrained: {path!r} has neither vocab.txt nor "
                                    f"tokenizer.json")
        kwargs.update(overrides)
        return cls(vocab, **kwargs)

    def save_pretrained(self, path: str | os.PathLike) -> list[str]:
        """Write vocab.txt, tokenizer_config.json and special_tokens_map.json (what transformers'
        BertTokenizer.from_pretrained reads); returns the paths written."""
        path = os.fspath(path)
        os.makedirs(path, exist_ok=True)
        config = {"do_lower_case": self.do_lower_case, "strip_accents": self.strip_accents,
                  "tokenize_chinese_chars": self.tokenize_chinese_chars}
        if self.basic_tokenizer.never_split:
            config["never_split"] = sorted(self.basic_tokenizer.never_split)
        vocab_file = os.path.join(path, "vocab.txt")
        with open(vocab_file, "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in self.ids_to_tokens))
        return [vocab_file, *self._write_config(path, config)]

    @classmethod
    def train(cls, texts: str | Iterable[str], vocab_size: int = 30000, do_lower_case: bool = True,
              min_frequency: int = 0, limit_alphabet: int | None = None, **kwargs) -> BertTokenizer:
        """A tokenizer with a vocabulary learned from ``texts`` by :class:`WordPieceTrainer`."""
        basic = BasicTokenizer(do_lower_case, tokenize_chinese_chars=kwargs.get("tokenize_chinese_chars", True),
                               strip_accents=kwargs.get("strip_accents"))
        specials = [kwargs.get(n, d) for n, d in zip(
            ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"),
            ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"))]
        vocab = WordPieceTrainer(vocab_size, min_frequency, specials, limit_alphabet).train(texts, basic)
        return cls(vocab, do_lower_case=do_lower_case, **kwargs)


class WordPieceTrainer:
    """Learn a WordPiece vocabulary (frequency-ranked merges, as ``tokenizers``' WordPieceTrainer).

    Args:
        vocab_size: the size to reach (special tokens and characters included). Default: 30000.
        min_frequency: stop when the most frequent pair occurs fewer times. Default: 0.
        special_tokens: placed first, in order. Default: BERT's five.
        limit_alphabet: keep at most this many characters (the most frequent). Default: no limit.
        prefix: the continuation mark. Default: ``"##"``.
    """

    def __init__(self, vocab_size: int = 30000, min_frequency: int = 0,
                 special_tokens: Iterable[str] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
                 limit_alphabet: int | None = None, prefix: str = "##"):
        self.vocab_size, self.min_frequency = vocab_size, min_frequency
        self.special_tokens, self.limit_alphabet, self.prefix = list(special_tokens), limit_alphabet, prefix

    def train(self, texts: str | Iterable[str], basic: BasicTokenizer | None = None) -> list[str]:
        """The vocabulary (tokens in id order) learned from ``texts`` split into words by ``basic``
        (default: a lower-casing :class:`BasicTokenizer`)."""
        basic = basic or BasicTokenizer()
        if isinstance(texts, str):
            texts = [texts]
        words: Counter[str] = Counter()
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"WordPieceTrainer.train: texts must be strings, got {type(text).__name__}")
            words.update(basic.tokenize(text))
        chars: Counter[str] = Counter()
        for w, c in words.items():
            for ch in w:
                chars[ch] += c
        alphabet = sorted(chars)
        if self.limit_alphabet is not None and len(alphabet) > self.limit_alphabet:
            alphabet = sorted(sorted(chars, key=lambda ch: (-chars[ch], ch))[:self.limit_alphabet])
        tokens = list(dict.fromkeys(self.special_tokens + alphabet))
        known = set(alphabet)
        tokens += sorted({self.prefix + ch for w in words for ch in w[1:] if ch in known} - set(tokens))
        index = {t: i for i, t in enumerate(tokens)}
        pre, n = self.prefix, len(self.prefix)
        ids = [[index[ch if k == 0 else pre + ch] for k, ch in enumerate(w) if ch in known] for w in words]
        join = lambda a, b: a + (b[n:] if b.startswith(pre) else b)  # noqa: E731
        merges, _ = learn_merges(ids, list(words.values()), self.vocab_size - len(tokens), self.min_frequency,
                                 tokens, join)
        seen = set(tokens)
        for a, b in merges:
            text = join(tokens[a], tokens[b])
            if text not in seen:
                seen.add(text)
                tokens.append(text)
        return tokens
