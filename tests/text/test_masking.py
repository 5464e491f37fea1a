"""shendu.text.masking: the 80/10/10 rule statistically, special tokens and padding never chosen, labels,
seeding and dynamic re-masking, whole-word masking, causal-LM labels, NSP pairs, and the collator inside a
shendu DataLoader."""
import numpy as np
import pytest

import shendu as sd
from shendu.data import DataLoader
from shendu.text.masking import DataCollatorForLanguageModeling, NextSentencePairs, make_nsp_pairs
from shendu.text.wordpiece import BertTokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [f"w{i}" for i in range(500)] + [f"##p{i}" for i in range(500)]


@pytest.fixture(scope="module")
def tok():
    return BertTokenizer(SPECIALS + WORDS)


def examples(tok, n, rng, lo=5, hi=60):
    """Encodings of random lengths: [CLS] ids [SEP], ids drawn from the non-special tokens."""
    rows = [rng.integers(5, len(tok), rng.integers(lo, hi)).tolist() for _ in range(n)]
    return [{"input_ids": tok.build_inputs_with_special_tokens(r)} for r in rows]


def test_80_10_10_rule_statistically(tok):
    rng = np.random.default_rng(0)
    batch_in = examples(tok, 300, rng)
    collate = DataCollatorForLanguageModeling(tok, generator=sd.Generator().manual_seed(1))
    out = collate(batch_in)
    ids, labels, att = out["input_ids"].numpy(), out["labels"].numpy(), out["attention_mask"].numpy()
    orig = collate.tokenizer.pad(batch_in, return_tensors="np")["input_ids"]
    candidates = (att == 1) & (orig != tok.cls_token_id) & (orig != tok.sep_token_id)
    chosen = labels != -100
    n, k = candidates.sum(), chosen.sum()                 # ~9000 candidates, ~1350 chosen
    assert abs(k / n - 0.15) < 4 * np.sqrt(0.15 * 0.85 / n)
    assert not (chosen & ~candidates).any()               # specials and padding never chosen
    assert np.array_equal(labels[chosen], orig[chosen])   # labels: the original ids
    assert np.array_equal(ids[~chosen], orig[~chosen])    # the rest untouched
    masked = (ids == tok.mask_token_id) & chosen
    kept = (ids == orig) & chosen
    randomized = chosen & ~masked & ~kept
    for got, p in ((masked.sum(), 0.8), (randomized.sum(), 0.1 * (1 - 1 / len(tok))), (kept.sum(), 0.1)):
        assert abs(got / k - p) < 4 * np.sqrt(p * (1 - p) / k), (got / k, p)
    assert len(np.unique(ids[randomized])) > 0.5 * randomized.sum()   # random ids, not one id


def test_seeded_and_dynamic(tok):
    rng = np.random.default_rng(1)
    batch_in = examples(tok, 20, rng)
    a = DataCollatorForLanguageModeling(tok, generator=sd.Generator().manual_seed(5))
    b = DataCollatorForLanguageModeling(tok, generator=sd.Generator().manual_seed(5))
    first, again = a(batch_in), b(batch_in)
    assert np.array_equal(first["input_ids"].numpy(), again["input_ids"].numpy())
    assert np.array_equal(first["labels"].numpy(), again["labels"].numpy())
    second = a(batch_in)                                   # the next draw masks other positions
    assert not np.array_equal(first["labels"].numpy(), second["labels"].numpy())


def test_whole_word_mask_takes_every_piece(tok):
    rng = np.random.default_rng(2)
    rows = []
    for _ in range(200):                                   # words of 1-3 pieces: w.. then ##p..
        ids = []
        for _ in range(rng.integers(3, 12)):
            ids += [int(rng.integers(5, 505))] + rng.integers(505, 1005, rng.integers(0, 3)).tolist()
        rows.append({"input_ids": tok.build_inputs_with_special_tokens(ids)})
    collate = DataCollatorForLanguageModeling(tok, whole_word_mask=True, generator=sd.Generator().manual_seed(0))
    out = collate(rows)
    orig = collate.tokenizer.pad(rows, return_tensors="np")["input_ids"]
    chosen = out["labels"].numpy() != -100
    cont = orig >= 505                                     # "##" continuation pieces
    starts = ~cont
    word = np.cumsum(starts, axis=1)
    for r in range(len(rows)):                             # a word is chosen whole or not at all
        for w in np.unique(word[r][chosen[r]]):
            assert chosen[r][word[r] == w].all()
    n_words = (starts & (orig >= 5)).sum()
    chosen_words = (starts & chosen).sum()
    assert abs(chosen_words / n_words - 0.15) < 4 * np.sqrt(0.15 * 0.85 / n_words)
    assert not chosen[orig < 5].any()


def test_carried_fields_and_causal_labels(tok):
    rows = [{"input_ids": [2, 10, 11, 3], "token_type_ids": [0, 0, 0, 0], "next_sentence_label": 1},
            {"input_ids": [2, 12, 3], "token_type_ids": [0, 0, 0], "next_sentence_label": 0}]
    out = DataCollatorForLanguageModeling(tok, generator=sd.Generator().manual_seed(0))(rows)
    assert sorted(out) == ["attention_mask", "input_ids", "labels", "next_sentence_label", "token_type_ids"]
    assert out["next_sentence_label"].numpy().tolist() == [1, 0]
    assert out["token_type_ids"].numpy().tolist() == [[0, 0, 0, 0], [0, 0, 0, 0]]
    clm = DataCollatorForLanguageModeling(tok, mlm=False)([[2, 10, 11, 3], [2, 12, 3]])
    assert clm["labels"].numpy().tolist() == [[2, 10, 11, 3], [2, 12, 3, -100]]
    assert clm["input_ids"].numpy().tolist() == [[2, 10, 11, 3], [2, 12, 3, 0]]


def test_nsp_pairs(tok):
    docs = [[f"d{d}s{i}" for i in range(6)] for d in range(40)]
    pairs = make_nsp_pairs(docs, generator=sd.Generator().manual_seed(0))
    assert len(pairs) == 40 * 5
    labels = np.array([lab for _, _, lab in pairs])
    assert abs(labels.mean() - 0.5) < 4 * np.sqrt(0.25 / len(labels))
    for a, b, lab in pairs:
        da, ia = map(int, a[1:].split("s"))
        db, ib = map(int, b[1:].split("s"))
        assert (db, ib) == (da, ia + 1) if lab == 0 else db != da
    with pytest.raises(ValueError, match="at least two non-empty documents"):
        make_nsp_pairs([["a", "b"]])


def test_nsp_dataset_with_dataloader(tok):
    sentences = [" ".join(f"w{j}" for j in range(i, i + 4)) for i in range(0, 60, 3)]
    docs = [sentences[i:i + 5] for i in range(0, 20, 5)]
    ds = NextSentencePairs(docs, tok, max_length=12, generator=sd.Generator().manual_seed(0))
    item = ds[0]
    a, b, _ = ds.pairs[0]
    assert item["input_ids"] == tok(a, b, truncation=True, max_length=12)["input_ids"]
    assert item["token_type_ids"] == [0] * 6 + [1] * 5
    collate = DataCollatorForLanguageModeling(tok, generator=sd.Generator().manual_seed(0))
    batches = list(DataLoader(ds, batch_size=4, collate_fn=collate))
    assert len(batches) == 4 and tuple(batches[0]["input_ids"].shape) == (4, 11)
    assert tuple(batches[0]["next_sentence_label"].shape) == (4,)
    for batch in batches:                                  # [CLS]/[SEP] (special_tokens_mask) never chosen
        ids = batch["input_ids"].numpy()
        labels = batch["labels"].numpy()
        assert (labels[:, 0] == -100).all() and (labels[:, 5] == -100).all() and (labels[:, -1] == -100).all()
        assert (ids[:, 0] == tok.cls_token_id).all()


def test_errors(tok):
    with pytest.raises(ValueError, match="mlm_probability must be in"):
        DataCollatorForLanguageModeling(tok, mlm_probability=1.5)
    with pytest.raises(ValueError, match="sum to at most 1"):
        DataCollatorForLanguageModeling(tok, mask_replace_prob=0.8, random_replace_prob=0.3)
