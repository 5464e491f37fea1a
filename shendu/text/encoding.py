"""What Hugging Face tokenizers share around ``__call__``: truncation of one text or a pair, special
tokens, padding (right or left), batches and the ``return_tensors`` choice, in one base class.

A subclass (``BertTokenizer``, ``GPT2Tokenizer``) supplies ``_encode_text(text) -> ids`` (no special
tokens), ``build_inputs_with_special_tokens``, ``create_token_type_ids_from_sequences``,
``get_special_tokens_mask`` and ``all_special_tokens``; it keeps its vocabulary as ``_ids`` (token -> id)
and ``_tokens`` (id -> token), and names its special-token attributes in ``special_names`` (each
``x_token`` then has an ``x_token_id``) and the tokenizer_config.json fields it reads in ``config_keys``.

Truncation follows ``tokenizers``' ``truncate_encodings``: the room left after the special tokens is
shared out so that ``longest_first`` keeps the shorter text whole when it fits in its half and splits
the room evenly otherwise (the first text gets the smaller half).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

VERY_LARGE_INTEGER = int(1e30)  # Hugging Face's "no limit" model_max_length
PADDING = {False: "do_not_pad", True: "longest", "do_not_pad": "do_not_pad", "longest": "longest",
           "max_length": "max_length"}
TRUNCATION = {False: "do_not_truncate", True: "longest_first", "do_not_truncate": "do_not_truncate",
              "longest_first": "longest_first", "only_first": "only_first", "only_second": "only_second"}


class BatchEncoding(dict):
    """The tokenizer's output: a dict (``input_ids``, ``token_type_ids``, ``attention_mask``, ...) whose
    keys are also attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no field {name!r} (fields: {list(self)})") from None


def _truncate_pair(n1: int, n2: int, room: int, strategy: str, who: str) -> tuple[int, int]:
    """The lengths to keep of two texts of ``n1`` and ``n2`` tokens (``n2`` 0 for one text) in ``room``."""
    if n1 + n2 <= room or strategy == "do_not_truncate":
        return n1, n2
    if strategy in ("only_first", "only_second"):
        target = n1 if strategy == "only_first" else n2
        if strategy == "only_second" and n2 == 0:
            raise ValueError(f"{who}: truncation='only_second' needs a text pair")
        if target <= n1 + n2 - room:
            raise ValueError(f"{who}: cannot truncate the {strategy[5:]} sequence ({target} tokens) to fit "
                             f"{room} tokens (first {n1}, second {n2} tokens)")
        return (room - n2, n2) if strategy == "only_first" else (n1, room - n1)
    if n2 == 0:
        return room, 0
    short, long_ = min(n1, n2), max(n1, n2)
    long_ = short if short > room else max(short, room - short)
    if short + long_ > room:
        short, long_ = room // 2, room // 2 + room % 2
    return (short, long_) if n1 <= n2 else (long_, short)


class PairEncoder:
    """The base of shendu's Hugging Face-style tokenizers (see the module docstring)."""

    model_input_names: tuple[str, ...] = ("input_ids", "token_type_ids", "attention_mask")
    special_names: tuple[str, ...] = ()
    config_keys: tuple[str, ...] = ()
    padding_side: str = "right"
    truncation_side: str = "right"
    model_max_length: int = VERY_LARGE_INTEGER
    unk_token: str | None = None
    pad_token: str | None = None
    clean_up_tokenization_spaces: bool = False

    # ----------------------------------------------------------- subclass API
    def _encode_text(self, text: str) -> list[int]:
        raise NotImplementedError

    @property
    def all_special_tokens(self) -> list[str]:
        """The special tokens this tokenizer has set (``unk_token``, ``pad_token``, ...), as strings."""
        return [getattr(self, n) for n in self.special_names if getattr(self, n) is not None]

    def build_inputs_with_special_tokens(self, ids: list[int], pair: list[int] | None = None) -> list[int]:
        """The model input for one text's ids (or a pair's) with the special tokens added: here just
        ``ids + pair``; BERT's tokenizer gives ``[CLS] ids [SEP] pair [SEP]``."""
        return list(ids) + ([] if pair is None else list(pair))

    def create_token_type_ids_from_sequences(self, ids: list[int], pair: list[int] | None = None) -> list[int]:
        """The segment id of every position of ``build_inputs_with_special_tokens(ids, pair)``
        (all 0 here; BERT's tokenizer gives the second text 1)."""
        return [0] * len(self.build_inputs_with_special_tokens(ids, pair))

    def get_special_tokens_mask(self, ids: list[int], pair: list[int] | None = None) -> list[int]:
        """1 for each special token and 0 for each token of ``ids`` (and ``pair``) in
        ``build_inputs_with_special_tokens(ids, pair)`` (all 0 here: the base adds no special tokens)."""
        return [0] * len(self.build_inputs_with_special_tokens(ids, pair))

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """How many special tokens ``build_inputs_with_special_tokens`` adds around one text or a pair."""
        return len(self.build_inputs_with_special_tokens([], [] if pair else None))

    # ------------------------------------------------------------ vocabulary
    def __getattr__(self, name: str):
        if name.endswith("_token_id") and name[:-3] in type(self).special_names:
            token = getattr(self, name[:-3])
            return None if token is None else self._ids[token]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @property
    def vocab_size(self) -> int:
        """The number of tokens in the vocabulary (added special tokens included)."""
        return len(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def get_vocab(self) -> dict[str, int]:
        """Token -> id (a copy)."""
        return dict(self._ids)

    @property
    def all_special_ids(self) -> list[int]:
        """The ids of :attr:`all_special_tokens`, in the same order."""
        return [self._ids[t] for t in self.all_special_tokens]

    def convert_tokens_to_ids(self, tokens: str | list[str]):
        """A token -> its id (the unknown token's if it has none), or a list of them."""
        unk = None if self.unk_token is None else self._ids.get(self.unk_token)
        if isinstance(tokens, str):
            return self._ids.get(tokens, unk)
        return [self._ids.get(t, unk) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | list[int], skip_special_tokens: bool = False):
        """An id -> its token string, or a list of ids -> a list of tokens (without the special tokens
        when ``skip_special_tokens``)."""
        if isinstance(ids, int):
            return self._tokens[ids]
        special = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._tokens[int(i)] for i in ids if int(i) not in special]

    def _decode_ids(self, ids) -> list[int]:
        """Ids to decode (a list, array or tensor, flattened) as ints, checked against the vocabulary."""
        flat = getattr(ids, "_data", ids)
        flat = [int(i) for i in (flat.reshape(-1).tolist() if hasattr(flat, "reshape") else flat)]
        bad = [i for i in flat if not 0 <= i < len(self._tokens)]
        if bad:
            raise ValueError(f"{type(self).__name__}.decode: ids {bad[:10]} are not in the vocabulary of "
                             f"{len(self._tokens)} tokens")
        return flat

    def _clean_up(self, text: str, clean_up_tokenization_spaces: bool | None) -> str:
        on = self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None else clean_up_tokenization_spaces
        return clean_up_tokenization(text) if on else text

    def batch_decode(self, sequences, **kwargs) -> list[str]:
        """``decode`` of each sequence of ids (lists, or the rows of an (N, T) tensor); ``kwargs``
        (``skip_special_tokens``, ``clean_up_tokenization_spaces``) go to ``decode``."""
        return [self.decode(s, **kwargs) for s in sequences]

    # ------------------------------------------------------ tokenizer config
    @classmethod
    def _read_config(cls, path: str | os.PathLike) -> tuple[str, dict]:
        """(directory, __init__ keywords) from a Hugging Face tokenizer directory's tokenizer_config.json
        and special_tokens_map.json (``config_keys`` and the ``special_names``)."""
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"{cls.__name__}.from_pretrained: {path!r} is not a directory")
        config = read_json(os.path.join(path, "tokenizer_config.json"))
        for key, value in read_json(os.path.join(path, "special_tokens_map.json")).items():
            config.setdefault(key, value)
        kwargs = {k: config[k] for k in cls.config_keys if config.get(k) is not None}
        kwargs.update({k: special_content(config[k]) for k in cls.special_names if config.get(k) is not None})
        return path, kwargs

    def _write_config(self, path: str | os.PathLike, config: dict) -> list[str]:
        """Write tokenizer_config.json (``config`` + the special tokens) and special_tokens_map.json."""
        specials = {n: getattr(self, n) for n in self.special_names if getattr(self, n) is not None}
        config = {"tokenizer_class": type(self).__name__, "model_max_length": self.model_max_length,
                  "padding_side": self.padding_side, "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
                  **config, **specials}
        files = [os.path.join(path, n) for n in ("tokenizer_config.json", "special_tokens_map.json")]
        for name, obj in zip(files, (config, specials)):
            with open(name, "w", encoding="utf-8") as f:
                json.dump(obj, f, ensure_ascii=False, indent=2)
        return files

    # ---------------------------------------------------------------- encode
    def encode(self, text: str, text_pair: str | None = None, add_special_tokens: bool = True,
               truncation=None, max_length: int | None = None) -> list[int]:
        """One text (or pair) -> ids, with the special tokens unless ``add_special_tokens=False``."""
        return self(text, text_pair, add_special_tokens=add_special_tokens, truncation=truncation,
                    max_length=max_length)["input_ids"]

    def __call__(self, text: str | Sequence[str], text_pair: str | Sequence[str] | None = None, *,
                 add_special_tokens: bool = True, padding: bool | str = False, truncation: bool | str | None = None,
                 max_length: int | None = None, pad_to_multiple_of: int | None = None,
                 return_tensors: str | None = None, return_token_type_ids: bool | None = None,
                 return_attention_mask: bool | None = None, return_special_tokens_mask: bool = False,
                 return_length: bool = False) -> BatchEncoding:
        """Encode a text, a pair, or a batch of either (lists) as Hugging Face's tokenizers do.

        Args:
            padding: ``False`` (none), ``True``/``'longest'`` (to the longest in the batch) or
                ``'max_length'`` (to ``max_length``, else ``model_max_length``), on ``padding_side``.
            truncation: ``True``/``'longest_first'``, ``'only_first'``, ``'only_second'`` or False; to
                ``max_length`` (default ``model_max_length``) counting the special tokens. None: off,
                unless ``max_length`` is given without padding (then ``'longest_first'``).
            return_tensors: None (lists), ``'np'`` (int64 arrays) or ``'pt'`` (shendu tensors), (B, T).
        Returns:
            a :class:`BatchEncoding`: ``input_ids``, then ``token_type_ids`` and ``attention_mask``
            where asked for (default: the fields in ``model_input_names``).
        """
        who = f"{type(self).__name__}"
        batched = not isinstance(text, str)
        if batched:
            texts = list(text)
            pairs = [None] * len(texts) if text_pair is None else list(text_pair)
            if isinstance(text_pair, str) or len(pairs) != len(texts):
                raise ValueError(f"{who}: a batch of {len(texts)} texts needs a batch of as many text pairs, got "
                                 f"{text_pair!r:.60}")
        else:
            if text_pair is not None and not isinstance(text_pair, str):
                raise ValueError(f"{who}: text is one string, so text_pair must be one string too, got "
                                 f"{type(text_pair).__name__}")
            texts, pairs = [text], [text_pair]
        for t in [*texts, *[p for p in pairs if p is not None]]:
            if not isinstance(t, str):
                raise TypeError(f"{who}: texts must be strings, got {type(t).__name__}")
        if padding not in PADDING or truncation not in (None, *TRUNCATION):
            raise ValueError(f"{who}: padding must be one of {list(PADDING)} and truncation one of "
                             f"{list(TRUNCATION)}, got padding={padding!r}, truncation={truncation!r}")
        padding = PADDING[padding]
        if truncation is None:
            truncation = "longest_first" if max_length is not None and padding == "do_not_pad" else False
        truncation = TRUNCATION[truncation]
        if max_length is None and (truncation != "do_not_truncate" or padding == "max_length"):
            max_length = self.model_max_length
        if return_tensors not in (None, "np", "pt"):
            raise ValueError(f"{who}: return_tensors must be None, 'np' or 'pt' (shendu tensors), got "
                             f"{return_tensors!r}")
        want_types = "token_type_ids" in self.model_input_names if return_token_type_ids is None \
            else return_token_type_ids
        want_mask = "attention_mask" in self.model_input_names if return_attention_mask is None \
            else return_attention_mask

        rows = []
        for a, b in zip(texts, pairs):
            ids_a = self._encode_text(a)
            ids_b = None if b is None else self._encode_text(b)
            if truncation != "do_not_truncate":
                room = max_length - (self.num_special_tokens_to_add(b is not None) if add_special_tokens else 0)
                if room < 0:
                    raise ValueError(f"{who}: max_length={max_length} leaves no room next to the special tokens")
                n1, n2 = _truncate_pair(len(ids_a), 0 if ids_b is None else len(ids_b), room, truncation, who)
                ids_a = self._cut(ids_a, n1)
                ids_b = None if ids_b is None else self._cut(ids_b, n2)
            if add_special_tokens:
                row = {"input_ids": self.build_inputs_with_special_tokens(ids_a, ids_b),
                       "token_type_ids": self.create_token_type_ids_from_sequences(ids_a, ids_b),
                       "special_tokens_mask": self.get_special_tokens_mask(ids_a, ids_b)}
            else:
                ids = ids_a + ([] if ids_b is None else ids_b)
                row = {"input_ids": ids, "token_type_ids": [0] * len(ids_a) + [1] * (len(ids) - len(ids_a)),
                       "special_tokens_mask": [0] * len(ids)}
            row["attention_mask"] = [1] * len(row["input_ids"])
            rows.append(row)
        keys = ["input_ids"] + ["token_type_ids"] * bool(want_types) + ["attention_mask"] * bool(want_mask)
        keys += ["special_tokens_mask"] * return_special_tokens_mask
        out = self.pad([{k: r[k] for k in keys} for r in rows], padding=padding, max_length=max_length,
                       pad_to_multiple_of=pad_to_multiple_of)
        if return_length:
            out["length"] = [len(r["input_ids"]) for r in rows]
        if not batched:
            out = BatchEncoding({k: v[0] for k, v in out.items()})
        return self._as_tensors(out, return_tensors, batched)

    def _cut(self, ids: list[int], n: int) -> list[int]:
        return ids[:n] if self.truncation_side == "right" else ids[len(ids) - n:]

    def pad(self, rows: list[dict], padding: bool | str = True, max_length: int | None = None,
            pad_to_multiple_of: int | None = None, return_tensors: str | None = None) -> BatchEncoding:
        """Pad a list of encodings (dicts of id lists) to a common length on ``padding_side``: ids with
        ``pad_token_id``, ``token_type_ids`` with 0, ``attention_mask`` with 0, ``special_tokens_mask``
        with 1. Returns a dict of lists of rows (or (B, T) tensors with ``return_tensors``)."""
        padding = PADDING[padding]
        keys = list(rows[0]) if rows else ["input_ids"]
        out = BatchEncoding({k: [list(r[k]) for r in rows] for k in keys})
        if padding == "do_not_pad" or not rows:
            return self._as_tensors(out, return_tensors, True)
        lengths = [len(r) for r in out["input_ids"]]
        target = max(lengths) if padding == "longest" else (max_length or self.model_max_length)
        if pad_to_multiple_of:
            target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        if self.pad_token_id is None and target > min(lengths):
            raise ValueError(f"{type(self).__name__}: padding needs a pad token; set tokenizer.pad_token "
                             f"(e.g. tokenizer.pad_token = tokenizer.eos_token)")
        fill = {"input_ids": self.pad_token_id, "token_type_ids": 0, "attention_mask": 0, "special_tokens_mask": 1}
        for k in keys:
            for i, r in enumerate(out[k]):
                extra = [fill.get(k, 0)] * max(0, target - lengths[i])
                out[k][i] = r + extra if self.padding_side == "right" else extra + r
        return self._as_tensors(out, return_tensors, True)

    @staticmethod
    def _as_tensors(out: BatchEncoding, return_tensors: str | None, batched: bool) -> BatchEncoding:
        if return_tensors is None:
            return out
        res = BatchEncoding()
        for k, v in out.items():
            rows = v if batched else [v]
            if len({len(r) for r in rows}) > 1:
                raise ValueError(f"tokenizer: cannot make a tensor of rows of lengths {sorted({len(r) for r in rows})}"
                                 f"; use padding=True or truncation=True")
            arr = np.asarray(rows, dtype=np.int64).reshape(len(rows), -1)
            if return_tensors == "pt":
                from shendu.creation import tensor
                arr = tensor(arr)
            res[k] = arr
        return res


def clean_up_tokenization(text: str) -> str:
    """Hugging Face's ``clean_up_tokenization``: no space before ``. ? ! ,`` and English contractions."""
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
                 (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(a, b)
    return text


def special_content(value) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken dict."""
    return value.get("content") if isinstance(value, dict) else value


def read_json(path: str) -> dict:
    """A JSON file's object, {} if the file does not exist."""
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"tokenizer: {path} is not valid JSON ({e})") from None
