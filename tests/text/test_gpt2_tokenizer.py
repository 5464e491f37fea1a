"""shendu.text.gpt2: GPT2Tokenizer ids and decoding equal to Hugging Face's GPT2Tokenizer on a byte-level
BPE vocab.json + merges.txt trained in the test (tokenizers' ByteLevelBPETokenizer), padding on both
sides, truncation, tensors, special tokens, save/load both ways, and bad input."""
import collections
import inspect
import json
import re
import string

import numpy as np
import pytest

import shendu as sd
from shendu.text.gpt2 import GPT2Tokenizer

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

DOCS = ([inspect.getdoc(m) or "" for m in (json, collections, string, re, inspect)]
        + [inspect.getdoc(getattr(str, n)) or "" for n in dir(str)] + ["héllo wörld 中文 日本語 😀 naïve"] * 3)
POOL = (list("abcdefXYZ0129 _.,;:'!?()[]{}\"#\t\n") + ["\r\n", "\x00", "\x07", "\x7f", "\x1c", "\v", "\f"]
        + ["<|endoftext|>", " <|endoftext|> ", "<|endoftext|"]
        + list("中文字符串测试你好世界日本語のテキスト한국어مرحبا") + ["👨‍👩‍👧", "👍🏽", "🇫🇷", "😀", "🐍", "\U0010FFFF"]
        + ["e\u0301", "a\u0308\u0323", "\u0301", "\u00a0", "\u3000", "\u2028", "\u200b", "  ", "\n\n", "   "]
        + ["'s", "'ll", "'S", "'LL", "'ve", "²", "Ⅻ", "½", "٣", " the", " string", "return ", " Return", "  x"])


def random_text(rng, n):
    return "".join(rng.choice(POOL, size=n).tolist())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpt2_tok")
    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator(DOCS, vocab_size=700, special_tokens=["<|endoftext|>"], show_progress=False)
    bpe.save_model(str(d))
    return d


@pytest.fixture(scope="module")
def pair(files):
    return GPT2Tokenizer.from_pretrained(files), transformers.GPT2Tokenizer.from_pretrained(str(files))


def test_ids_and_decode_equal_hf_on_random_text(pair):
    ours, hf = pair
    rng = np.random.default_rng(0)
    for n in [1, 3, 10, 40]:
        for _ in range(75):
            text = random_text(rng, n)
            ids = ours.encode(text)
            assert ids == hf.encode(text), repr(text)
            assert ours.tokenize(text) == hf.tokenize(text)
            assert ours.decode(ids) == hf.decode(ids) == text
            assert ours.decode(ids, skip_special_tokens=True) == hf.decode(ids, skip_special_tokens=True)


def test_docs_and_prefix_space_equal_hf(files, pair):
    ours, hf = pair
    lines = [s for doc in DOCS for s in doc.split("\n") if s][:300]
    assert ours(lines)["input_ids"] == hf(lines)["input_ids"]
    ours_p = GPT2Tokenizer.from_pretrained(files, add_prefix_space=True)
    hf_p = transformers.GPT2Tokenizer.from_pretrained(str(files), add_prefix_space=True)
    for text in lines[:50] + ["x<|endoftext|>y", " already spaced"]:
        assert ours_p.encode(text) == hf_p.encode(text), text


def test_special_tokens(pair):
    ours, hf = pair
    eos = hf.eos_token_id
    assert ours.eos_token_id == ours.bos_token_id == ours.unk_token_id == eos
    assert ours.encode("a<|endoftext|>b")[1] == eos and ours.encode("a<|endoftext|>b") == hf.encode("a<|endoftext|>b")
    assert ours.pad_token is None and ours.pad_token_id is None


@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_truncation_tensors_equal_hf(files, side):
    ours = GPT2Tokenizer.from_pretrained(files, padding_side=side)
    hf = transformers.GPT2Tokenizer.from_pretrained(str(files), padding_side=side)
    ours.pad_token, hf.pad_token = ours.eos_token, hf.eos_token
    texts = ["Return a copy", "x", "The string with leading whitespace removed, if any."]
    for kwargs in [dict(padding=True), dict(padding="max_length", max_length=20, truncation=True),
                   dict(truncation=True, max_length=4), dict(padding=True, pad_to_multiple_of=8)]:
        assert dict(ours(texts, **kwargs)) == dict(hf(texts, **kwargs)), kwargs
        assert dict(ours(texts[0], texts[2], **kwargs)) == dict(hf(texts[0], texts[2], **kwargs)), kwargs
    enc, ref = ours(texts, padding=True, return_tensors="pt"), hf(texts, padding=True, return_tensors="np")
    assert list(enc) == ["input_ids", "attention_mask"]
    for k in ref:
        assert isinstance(enc[k], sd.Tensor) and enc[k].dtype == sd.int64 and np.array_equal(enc[k].numpy(), ref[k])


def test_save_pretrained_round_trips_through_hf(pair, tmp_path):
    ours, hf = pair
    ours.save_pretrained(tmp_path / "ours")
    back = transformers.GPT2Tokenizer.from_pretrained(str(tmp_path / "ours"))
    hf.save_pretrained(str(tmp_path / "hf"))       # transformers 5: tokenizer.json only
    again = GPT2Tokenizer.from_pretrained(tmp_path / "hf")
    assert again.get_vocab() == ours.get_vocab() and again.bpe_ranks == ours.bpe_ranks
    rng = np.random.default_rng(2)
    for _ in range(40):
        text = random_text(rng, 15)
        assert back.encode(text) == ours.encode(text) == again.encode(text)


def test_bos_and_additional_special_tokens(files):
    ours = GPT2Tokenizer.from_pretrained(files, add_bos_token=True, additional_special_tokens=["<|user|>"])
    ids = ours.encode("hi<|user|>there")
    user = ours.convert_tokens_to_ids("<|user|>")
    assert user == len(ours) - 1 and ids[0] == ours.bos_token_id and ids.count(user) == 1
    plain = GPT2Tokenizer.from_pretrained(files)
    assert ids[1:] == plain.encode("hi") + [user] + plain.encode("there")
    assert ours.decode(ids, skip_special_tokens=True) == "hithere"


def test_errors(files, tmp_path):
    ours = GPT2Tokenizer.from_pretrained(files)
    with pytest.raises(ValueError, match="padding needs a pad token"):
        ours(["a", "longer text"], padding=True)
    with pytest.raises(FileNotFoundError, match=r"lacks \['vocab.json', 'merges.txt'\]"):
        GPT2Tokenizer.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="merge 0 is"):
        GPT2Tokenizer({"a": 0}, [["a", "b", "c"]])
    with pytest.raises(ValueError, match="not in the vocabulary"):
        ours.decode([10 ** 6])
    with pytest.raises(ValueError, match="return_tensors must be"):
        ours("a", return_tensors="tf")
