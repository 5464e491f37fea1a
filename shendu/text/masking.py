"""The masked-language-model data pipeline: dynamic masking (BERT's 80/10/10 rule, token- or
whole-word), and sentence pairs for next-sentence prediction.

    collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, generator=g)
    loader = DataLoader(dataset_of_encodings, batch_size=32, collate_fn=collate)
    batch = next(iter(loader))        # input_ids (masked), attention_mask, labels (-100 where not masked)

Masking is drawn afresh for every batch (RoBERTa's dynamic masking), from a ``shendu.Generator``:
each token that is not special (``[CLS]``, ``[SEP]``, padding) is chosen with ``mlm_probability``;
a chosen token becomes ``[MASK]`` with probability ``mask_replace_prob`` (0.8), a uniformly random
vocabulary id with ``random_replace_prob`` (0.1), and stays itself otherwise; ``labels`` hold the
original id at chosen positions and -100 elsewhere (Hugging Face's DataCollatorForLanguageModeling).
``whole_word_mask=True`` chooses whole words instead (a word: a token and the ``##`` pieces after it),
each with ``mlm_probability``; the 80/10/10 rule then applies per token, as in Hugging Face's
DataCollatorForWholeWordMask.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shendu.data.dataset import Dataset
from shendu.random import Generator, rand, randint
from shendu.tensor import Tensor
from shendu.text.encoding import BatchEncoding

__all__ = ["DataCollatorForLanguageModeling", "NextSentencePairs", "make_nsp_pairs"]


def _ids(value) -> list[int]:
    data = value._data if isinstance(value, Tensor) else value
    return np.asarray(data).reshape(-1).tolist() if hasattr(data, "shape") else list(data)


class DataCollatorForLanguageModeling:
    """Pad a list of encodings into a batch and mask it for masked-language modelling.

    Args:
        tokenizer: a ``BertTokenizer`` (or any tokenizer with ``pad``, ``mask_token_id``,
            ``all_special_ids`` and ``convert_ids_to_tokens``).
        mlm: mask (True) or make causal-LM labels (False: labels are the ids, -100 at padding).
        mlm_probability: the share of (non-special) tokens or words chosen. Default: 0.15.
        mask_replace_prob, random_replace_prob: of the chosen tokens, the shares replaced by
            ``[MASK]`` and by a random id (the rest keep their id). Defaults: 0.8, 0.1.
        whole_word_mask: choose whole WordPiece words. Default: False.
        pad_to_multiple_of: round the padded length up to a multiple of this.
        generator: the ``shendu.Generator`` the draws come from (default: the global one).
        return_tensors: ``'pt'`` (shendu tensors, default) or ``'np'``.

    Examples are dicts with ``input_ids`` (lists, arrays or tensors; ``token_type_ids``,
    ``special_tokens_mask`` and integer fields such as ``next_sentence_label`` are carried along), or
    bare id sequences. Returns a :class:`~shendu.text.encoding.BatchEncoding` with ``input_ids``,
    ``attention_mask``, ``labels`` and the carried fields, each (B, T) (integer fields (B,)).
    """

    def __init__(self, tokenizer, mlm: bool = True, mlm_probability: float = 0.15, mask_replace_prob: float = 0.8,
                 random_replace_prob: float = 0.1, whole_word_mask: bool = False,
                 pad_to_multiple_of: int | None = None, generator: Generator | None = None,
                 return_tensors: str = "pt"):
        if not 0.0 <= mlm_probability <= 1.0:
            raise ValueError(f"DataCollatorForLanguageModeling: mlm_probability must be in [0, 1], got "
                             f"{mlm_probability}")
        if min(mask_replace_prob, random_replace_prob) < 0 or mask_replace_prob + random_replace_prob > 1:
            raise ValueError(f"DataCollatorForLanguageModeling: mask_replace_prob ({mask_replace_prob}) and "
                             f"random_replace_prob ({random_replace_prob}) must be >= 0 and sum to at most 1")
        if mlm and getattr(tokenizer, "mask_token", None) is None:
            raise ValueError("DataCollatorForLanguageModeling: masked-LM needs a tokenizer with a mask token "
                             "(use mlm=False for causal-LM labels)")
        if return_tensors not in ("pt", "np"):
            raise ValueError(f"DataCollatorForLanguageModeling: return_tensors must be 'pt' or 'np', got "
                             f"{return_tensors!r}")
        self.tokenizer, self.mlm, self.mlm_probability = tokenizer, mlm, mlm_probability
        self.mask_replace_prob, self.random_replace_prob = mask_replace_prob, random_replace_prob
        self.whole_word_mask, self.pad_to_multiple_of = whole_word_mask, pad_to_multiple_of
        self.generator, self.return_tensors = generator, return_tensors
        self._special = np.zeros(len(tokenizer), dtype=bool)        # (V,) id -> special?
        self._special[list(tokenizer.all_special_ids)] = True
        self._continuation = None
        if whole_word_mask:                                           # (V,) id -> a "##" piece?
            tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
            self._continuation = np.array([t.startswith("##") for t in tokens], dtype=bool)

    def __call__(self, examples: Sequence) -> BatchEncoding:
        rows, scalars = [], {}
        for ex in examples:
            ex = dict(ex) if isinstance(ex, dict) else {"input_ids": ex}
            row = {k: _ids(v) for k, v in ex.items() if not isinstance(v, (int, np.integer))
                   and not (isinstance(v, Tensor) and v.ndim == 0)}
            row.setdefault("attention_mask", [1] * len(row["input_ids"]))
            rows.append(row)
            for k in ex.keys() - row.keys():
                scalars.setdefault(k, []).append(int(_ids(ex[k])[0]) if isinstance(ex[k], Tensor) else int(ex[k]))
        keys = list(rows[0])
        batch = self.tokenizer.pad([{k: r[k] for k in keys} for r in rows], padding=True,
                                   pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="np")
        ids = batch["input_ids"]                                    # (B, T)
        special = batch.pop("special_tokens_mask").astype(bool) if "special_tokens_mask" in batch \
            else self._special[ids]
        special |= batch["attention_mask"] == 0
        if self.mlm:
            batch["input_ids"], batch["labels"] = self.mask_tokens(ids, special)
        else:
            labels = ids.copy()
            if self.tokenizer.pad_token_id is not None:
                labels[batch["attention_mask"] == 0] = -100
            batch["labels"] = labels
        for k, v in scalars.items():
            batch[k] = np.asarray(v, dtype=np.int64)                # (B,)
        if self.return_tensors == "pt":
            return BatchEncoding({k: Tensor._wrap(v) for k, v in batch.items()})
        return batch

    def mask_tokens(self, input_ids: np.ndarray, special: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Masked inputs and labels (B, T) for ``input_ids`` (B, T), never choosing ``special`` positions."""
        B, T = input_ids.shape
        g = self.generator
        u = rand(B, T, generator=g, dtype=np.float64)._data         # (B, T) the choice draw
        if self.whole_word_mask:   # one draw per word: the draw of the word's first token, for all its pieces
            starts = ~self._continuation[input_ids] | special        # (B, T) a word begins here
            word = np.cumsum(starts, axis=1) - 1                      # (B, T) word index in the row
            first = np.zeros((B, T), dtype=np.int64)                  # (B, W) position of word w's first token
            r, t = np.nonzero(starts)
            first[r, word[r, t]] = t
            u = np.take_along_axis(u, np.take_along_axis(first, word, axis=1), axis=1)
        chosen = (u < self.mlm_probability) & ~special               # (B, T)
        labels = np.where(chosen, input_ids, -100).astype(np.int64)
        how = rand(B, T, generator=g, dtype=np.float64)._data        # (B, T) the 80/10/10 draw
        masked = chosen & (how < self.mask_replace_prob)
        randomized = chosen & ~masked & (how < self.mask_replace_prob + self.random_replace_prob)
        words = randint(0, len(self.tokenizer), (B, T), generator=g)._data
        out = np.where(masked, self.tokenizer.mask_token_id, np.where(randomized, words, input_ids))
        return out.astype(np.int64), labels


def make_nsp_pairs(documents: Sequence[Sequence[str]], generator: Generator | None = None,
                   random_next_prob: float = 0.5) -> list[tuple[str, str, int]]:
    """Sentence pairs for next-sentence prediction: for each pair of consecutive sentences of a
    document, ``(a, b, 0)`` with the true next sentence, or with probability ``random_next_prob``
    ``(a, c, 1)`` with ``c`` a random sentence of another document (BERT's labels: 0 IsNext,
    1 NotNext)."""
    docs = [list(d) for d in documents if len(d) > 0]
    if len(docs) < 2:
        raise ValueError(f"make_nsp_pairs: needs at least two non-empty documents for random next sentences, "
                         f"got {len(docs)}")
    first = [(d, i) for d, doc in enumerate(docs) for i in range(len(doc) - 1)]
    n = len(first)
    if n == 0:
        raise ValueError("make_nsp_pairs: no document has two sentences")
    coin = rand(n, generator=generator, dtype=np.float64)._data < random_next_prob
    other = randint(0, len(docs) - 1, (n,), generator=generator)._data   # another document: skip d itself
    pick = rand(n, generator=generator, dtype=np.float64)._data
    pairs = []
    for k, (d, i) in enumerate(first):
        if coin[k]:
            o = int(other[k]) + (int(other[k]) >= d)
            pairs.append((docs[d][i], docs[o][int(pick[k] * len(docs[o]))], 1))
        else:
            pairs.append((docs[d][i], docs[d][i + 1], 0))
    return pairs


class NextSentencePairs(Dataset):
    """A dataset of tokenized NSP pairs (``make_nsp_pairs``): each item a dict of ``input_ids``,
    ``token_type_ids`` (0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``) and ``next_sentence_label``,
    truncated ``longest_first`` to ``max_length``; feed it to a DataLoader with
    :class:`DataCollatorForLanguageModeling` for BERT's two pretraining tasks at once.
    ``resample()`` draws new random next sentences (e.g. once per epoch)."""

    def __init__(self, documents: Sequence[Sequence[str]], tokenizer, max_length: int = 128,
                 generator: Generator | None = None, random_next_prob: float = 0.5):
        self.documents, self.tokenizer, self.max_length = documents, tokenizer, max_length
        self.generator, self.random_next_prob = generator, random_next_prob
        self.resample()

    def resample(self) -> None:
        """Draw the pairs again: each sentence's partner is its true successor or, with probability
        ``random_next_prob``, a random sentence of another document (call it once per epoch)."""
        self.pairs = make_nsp_pairs(self.documents, self.generator, self.random_next_prob)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict:
        a, b, label = self.pairs[i]
        enc = self.tokenizer(a, b, truncation=True, max_length=self.max_length, return_attention_mask=False,
                             return_special_tokens_mask=True)
        return {**enc, "next_sentence_label": label}
