"""shendu.text.wordpiece: BertTokenizer ids, tokens and decoding equal to Hugging Face's BertTokenizer on
vocabularies trained in the test (tokenizers' WordPieceTrainer on stdlib docstrings, cased and uncased),
pairs, padding, truncation, tensors, save/load both ways, the WordPiece trainer, and bad input."""
import collections
import inspect
import json
import re
import string
import textwrap

import numpy as np
import pytest

import shendu as sd
from shendu.text.wordpiece import BasicTokenizer, BertTokenizer, WordPieceTrainer

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")
# transformers 5's BertTokenizer is tokenizers' (its WordPiece decoder); 4.x's slow one decodes differently
HF_DECODER = int(transformers.__version__.split(".")[0]) >= 5

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
DOCS = ([inspect.getdoc(m) or "" for m in (json, collections, string, textwrap, re, inspect)]
        + [inspect.getdoc(getattr(str, n)) or "" for n in dir(str)]
        + ["Héllo naïve café résumé Ærøskøbing Ünïcödé São Paulo", "中文字符串测试你好世界 日本語のテキスト",
           "한국어 문장 ΣΑΣ Ελληνικά İstanbul straße", "Don't stop: (x + y) * z = 42; 3.14!?"])
# accents, CJK, Korean (decomposed by NFD), Greek final sigma, punctuation of every kind, controls and
# odd whitespace (NUL, U+FFFD, zero-width space, NBSP, ideographic space, \x85, \x0b), specials in text,
# lower-case look-alikes of specials, and a word over max_input_chars_per_word
POOL = (list("abcdefXYZ0129 _.,;:'!?()[]{}\"#\t\n$+<=>^`|~-@%&*/\\") + ["[MASK]", "[SEP]", " [CLS] ", "[mask]", "[UNK]"]
        + ["\x00", "\x07", "\x7f", "\x1c", "\x0b", "\x85", "\u200b", "\ufffd", "\u00a0", "\u3000", "\u2028", "\r\n"]
        + ["ΣΑΣ", "İstanbul", "ß", "ﬁ", "Ä", "ñ", "e\u0301", "😀", "²", "Ⅻ", "½", "٣", "«»", "—", "…", "¿"]
        + list("中文字符串测试你好世界日本語のテキスト한국어مرحبا")
        + ["the ", "The ", "STRING ", "return ", "unreasonable", "Whitespace", "x" * 101, "x" * 100])


def random_text(rng, n):
    return "".join(rng.choice(POOL, size=n).tolist())


def hf_vocab(lowercase, vocab_size=700):
    tok = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(DOCS, tokenizers.trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False))
    vocab = tok.get_vocab()
    return sorted(vocab, key=vocab.get)


@pytest.fixture(scope="module", params=[True, False], ids=["uncased", "cased"])
def pair(request, tmp_path_factory):
    """(shendu, transformers) BertTokenizers on the same HF-trained vocab.txt + tokenizer_config.json."""
    d = tmp_path_factory.mktemp("bert_uncased" if request.param else "bert_cased")
    (d / "vocab.txt").write_text("".join(t + "\n" for t in hf_vocab(request.param)), encoding="utf-8")
    (d / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": request.param}))
    return BertTokenizer.from_pretrained(d), transformers.BertTokenizer.from_pretrained(str(d)), d


def test_ids_tokens_decode_equal_hf_on_random_text(pair):
    ours, hf, _ = pair
    rng = np.random.default_rng(0)
    for n in [1, 3, 10, 30]:
        for _ in range(75):
            text = random_text(rng, n)
            ids = ours(text)["input_ids"]
            assert ids == hf(text)["input_ids"], repr(text)
            assert ours.tokenize(text) == hf.tokenize(text), repr(text)
            if HF_DECODER:
                assert ours.decode(ids) == hf.decode(ids)
                assert ours.decode(ids, skip_special_tokens=True) == hf.decode(ids, skip_special_tokens=True)


def test_sentences_from_the_docs_equal_hf(pair):
    ours, hf, _ = pair
    sentences = [s for doc in DOCS for s in re.split(r"(?<=[.!?])\s+", doc) if s][:300]
    assert len(sentences) >= 200
    enc, ref = ours(sentences), hf(sentences)
    assert enc["input_ids"] == ref["input_ids"] and enc["token_type_ids"] == ref["token_type_ids"]
    assert enc["attention_mask"] == ref["attention_mask"]


def test_special_tokens_inside_text_and_long_words(pair):
    ours, hf, _ = pair
    for text in ["Hello [MASK] world!", "a[MASK]b", "[CLS][SEP][MASK]", "x [mask] y", "y" * 101 + " ok", "y" * 100]:
        assert ours(text)["input_ids"] == hf(text)["input_ids"], text
    assert ours.tokenize("a[MASK]b") == ["a", "[MASK]", "b"]
    assert ours.tokenize("z" * 101) == ["[UNK]"]


@pytest.mark.parametrize("kwargs", [
    dict(), dict(padding=True), dict(padding="max_length", max_length=24), dict(truncation=True, max_length=9),
    dict(truncation="only_first", max_length=14), dict(truncation="only_second", max_length=14),
    dict(truncation=True, max_length=7, padding="max_length"), dict(max_length=10),
    dict(padding=True, pad_to_multiple_of=8), dict(return_token_type_ids=False, return_attention_mask=False),
    dict(add_special_tokens=False, padding=True), dict(return_special_tokens_mask=True, padding=True)])
def test_pairs_padding_truncation_equal_hf(pair, kwargs):
    ours, hf, _ = pair
    a = ["What is a string?", "Return a copy of the string with leading whitespace removed, please.", "x"]
    b = ["A sequence of characters.", "ok", "Whitespace characters are removed from both ends of it."]
    for args in [(a,), (a, b), (a[1],), (a[1], b[2])]:
        try:
            ref = dict(hf(*args, **kwargs))
        except Exception:  # a text too short to truncate enough: an error in both
            with pytest.raises(ValueError, match="cannot truncate|needs a text pair"):
                ours(*args, **kwargs)
            continue
        assert dict(ours(*args, **kwargs)) == ref, (args, kwargs)


def test_left_padding_and_tensors(pair):
    ours, hf, _ = pair
    texts = ["short", "a much longer text than the first one"]
    ours.padding_side = hf.padding_side = "left"
    try:
        assert dict(ours(texts, padding=True)) == dict(hf(texts, padding=True))
    finally:
        ours.padding_side = hf.padding_side = "right"
    np_enc, pt_enc = ours(texts, padding=True, return_tensors="np"), ours(texts, padding=True, return_tensors="pt")
    ref = hf(texts, padding=True, return_tensors="np")
    for k in ref:
        assert np_enc[k].dtype == np.int64 and np.array_equal(np_enc[k], ref[k])
        assert isinstance(pt_enc[k], sd.Tensor) and pt_enc[k].dtype == sd.int64
        assert np.array_equal(pt_enc[k].numpy(), ref[k])
    one = ours("one text", return_tensors="pt")
    n = len(hf("one text")["input_ids"])
    assert tuple(one.input_ids.shape) == (1, n) and one.attention_mask.numpy().tolist() == [[1] * n]
    with pytest.raises(ValueError, match="lengths"):
        ours(texts, return_tensors="np")


def test_encode_convert_build(pair):
    ours, hf, _ = pair
    assert ours.encode("The string.", "And more.") == hf.encode("The string.", "And more.")
    assert ours.encode("The string.", add_special_tokens=False) == hf.encode("The string.", add_special_tokens=False)
    toks = ["the", "##zzz", "[MASK]"]
    assert ours.convert_tokens_to_ids(toks) == hf.convert_tokens_to_ids(toks)
    cls, sep = hf.cls_token_id, hf.sep_token_id
    assert ours.build_inputs_with_special_tokens([7, 8], [9]) == [cls, 7, 8, sep, 9, sep]
    assert ours.create_token_type_ids_from_sequences([7, 8], [9]) == [0, 0, 0, 0, 1, 1]
    assert ours.mask_token_id == hf.mask_token_id and ours.pad_token_id == hf.pad_token_id
    assert len(ours) == len(hf) and ours.vocab_size == hf.vocab_size


def test_save_pretrained_round_trips_through_hf(pair, tmp_path):
    ours, hf, _ = pair
    ours.save_pretrained(tmp_path / "ours")
    back = transformers.BertTokenizer.from_pretrained(str(tmp_path / "ours"))
    hf.save_pretrained(str(tmp_path / "hf"))        # transformers 5 writes tokenizer.json, no vocab.txt
    again = BertTokenizer.from_pretrained(tmp_path / "hf")
    assert again.do_lower_case == ours.do_lower_case
    rng = np.random.default_rng(3)
    for _ in range(30):
        text = random_text(rng, 12)
        assert back(text)["input_ids"] == ours(text)["input_ids"] == again(text)["input_ids"]


@pytest.mark.parametrize("options", [dict(strip_accents=False), dict(strip_accents=True),
                                     dict(tokenize_chinese_chars=False)])
def test_normalizer_options_equal_hf(pair, options):
    _, _, directory = pair
    ours = BertTokenizer.from_pretrained(directory, **options)
    hf = transformers.BertTokenizer.from_pretrained(str(directory), **options)
    rng = np.random.default_rng(5)
    for _ in range(60):
        text = random_text(rng, 12)
        assert ours(text)["input_ids"] == hf(text)["input_ids"], (repr(text), options)


def test_strip_accents_and_chinese_options():
    vocab = SPECIALS + list("abceé中文") + ["##é", "##b"]
    keep = BertTokenizer(vocab, do_lower_case=True, strip_accents=False)
    assert keep.tokenize("ÉB") == ["é", "##b"]
    assert BertTokenizer(vocab).tokenize("ÉB") == ["e", "##b"]
    assert BertTokenizer(vocab).tokenize("a中文") == ["a", "中", "文"]
    assert BertTokenizer(vocab, tokenize_chinese_chars=False).tokenize("中文") == ["[UNK]"]
    basic = BasicTokenizer(do_lower_case=True, never_split=["[KEEP],"])
    assert basic.tokenize("A [KEEP], B.") == ["a", "[KEEP],", "b", "."]


def test_trainer_learns_hf_vocabulary(tmp_path):
    """Frequency-ranked merges like tokenizers' WordPieceTrainer: the same vocabulary up to pairs tied in
    count (tokenizers breaks ties by its own hash-ordered ids), specials first, characters next."""
    for lowercase in (True, False):
        ref = hf_vocab(lowercase, 600)
        ours = BertTokenizer.train(DOCS, vocab_size=600, do_lower_case=lowercase)
        assert len(ours) == 600 and ours.ids_to_tokens[:5] == SPECIALS
        assert len(set(ref) & set(ours.ids_to_tokens)) >= 0.98 * 600
        alphabet = [t for t in ours.ids_to_tokens[5:] if len(t) == 1]
        assert alphabet == sorted(alphabet) and ours.ids_to_tokens[5:5 + len(alphabet)] == alphabet
        ours.save_pretrained(tmp_path / str(lowercase))   # and HF tokenizes the same with our vocabulary
        hf = transformers.BertTokenizer.from_pretrained(str(tmp_path / str(lowercase)))
        rng = np.random.default_rng(4)
        for _ in range(40):
            text = random_text(rng, 10)
            assert ours(text)["input_ids"] == hf(text)["input_ids"], repr(text)
    small = WordPieceTrainer(vocab_size=40, limit_alphabet=10).train(["aaa bbb ccc ddd eee fff ggg hhh iii jjj kkk"])
    assert len([t for t in small if len(t) == 1]) == 10
    assert WordPieceTrainer(vocab_size=100, min_frequency=3).train(["ab ab cd"]) == \
        SPECIALS + ["a", "b", "c", "d", "##b", "##d"]


def test_errors(tmp_path):
    with pytest.raises(ValueError, match=r"mask_token='\[MASK\]' is not in the vocabulary"):
        BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])
    with pytest.raises(FileNotFoundError, match="neither vocab.txt nor tokenizer.json"):
        BertTokenizer.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        BertTokenizer.from_pretrained(tmp_path / "nope")
    tok = BertTokenizer(SPECIALS + list("abc"))
    with pytest.raises(ValueError, match="padding must be one of"):
        tok("a", padding="longer")
    with pytest.raises(ValueError, match="only_second' needs a text pair"):
        tok("a b c", truncation="only_second", max_length=3)
    with pytest.raises(ValueError, match="cannot truncate the first sequence"):
        tok("a", "b c a b c", truncation="only_first", max_length=5)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.decode([0, 99])
    with pytest.raises(TypeError, match="texts must be strings"):
        tok(["a", 3])
