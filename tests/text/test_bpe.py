"""shendu.text.bpe: byte-level BPE round trips, special tokens, save/load, training against a per-merge
recount and against Hugging Face ``tokenizers`` (when installed), and bad input."""
import json
from collections import Counter

import numpy as np
import pytest

import shendu as sd
from shendu.data.datasets.text import CharTokenizer, stdlib_corpus
from shendu.text import ByteLevelBPETokenizer, bpe
from shendu.text.corpus import save_vocab

# ASCII, Chinese, Japanese, Korean, Arabic, emoji (ZWJ family, skin tone, flag), combining marks,
# odd whitespace (NBSP, ideographic space, line/paragraph separators, \v, \f, \x1c), \r\n, NUL, controls
POOL = (list("abcdefXYZ0129 _.,;:'!?()[]{}\"#\t\n") + ["\r\n", "\x00", "\x07", "\x7f", "\x1c", "\v", "\f"]
        + list("中文字符串测试你好世界日本語のテキスト한국어مرحبا") + ["👨‍👩‍👧", "👍🏽", "🇫🇷", "😀", "🐍", "\U0010FFFF"]
        + ["e\u0301", "a\u0308\u0323", "\u0301", "\u20dd"]
        + ["\u00a0", "\u3000", "\u2028", "\u2029", "\u200b", "  ", "\n\n"]
        + ["'s", "'ll", "²", "Ⅻ", "½", "٣"])


def random_text(rng, n):
    return "".join(rng.choice(POOL, size=n).tolist())


@pytest.fixture(scope="module")
def corpus():
    return stdlib_corpus(max_bytes=120_000, seed=1).text


@pytest.fixture(scope="module")
def tok(corpus):
    rng = np.random.default_rng(0)
    texts = [corpus] + [random_text(rng, 300) for _ in range(20)]
    return ByteLevelBPETokenizer().train(texts, vocab_size=700, special_tokens=["<|endoftext|>", "<pad>"])


def test_byte_alphabet_is_gpt2s():
    fresh = ByteLevelBPETokenizer()
    assert fresh.vocab_size == 256 and fresh.merges == []
    # GPT-2's encoder.json: "!" is 0, "Ġ" (the space byte) is 220, "Ċ" (newline) is 198
    assert fresh.token_to_id("!") == 0 and fresh.token_to_id("Ġ") == 220 and fresh.token_to_id("Ċ") == 198
    assert fresh.id_to_token(220) == "Ġ" and fresh.id_to_token(256) is None and fresh.token_to_id("ab") is None
    assert fresh.encode("a b") == [ord("a") - 33, 220, ord("b") - 33]
    text = "héllo 中文 👍🏽\r\n"
    assert fresh.decode(fresh.encode(text)) == text and len(fresh.encode(text)) == len(text.encode())


def test_gpt2_pretokenizer_on_ascii():
    assert bpe._SPLIT("I'm  here, don't\n\n  x=__init__(3.14)  ") == [
        "I", "'m", " ", " here", ",", " don", "'t", "\n\n ", " x", "=__", "init", "__(", "3", ".", "14", ")", "  "]


def test_round_trip_random_unicode(tok):
    rng = np.random.default_rng(1)
    for n in [1, 2, 5, 50, 400]:
        for _ in range(15):
            text = random_text(rng, n)
            ids = tok.encode(text)
            assert tok.decode(ids) == text
            assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.encode("") == [] and tok.decode([]) == ""


def test_round_trip_and_compression_on_code(tok, corpus):
    held_out = stdlib_corpus(max_bytes=400_000, seed=5).text[-50_000:]
    ids = tok.encode(held_out)
    assert tok.decode(ids) == held_out
    assert len(ids) < 0.5 * len(held_out.encode())  # 700 tokens already halve Python source
    # the merges are used: a frequent word of the corpus is one token
    assert len(tok.encode(" return")) == 1 and tok.token_to_id("Ġreturn") is not None


def test_decode_accepts_arrays_and_tensors(tok):
    ids = tok.encode("def f(x):\n    return x  # 中文")
    arr = np.array(ids, dtype=np.int64).reshape(1, -1)
    assert tok.decode(arr) == tok.decode(sd.tensor(arr)) == tok.decode(ids)


def test_decode_invalid_bytes_is_replaced_and_unknown_ids_raise(tok):
    ff, e4 = bpe._BYTE_TO_ID[0xFF], bpe._BYTE_TO_ID[0xE4]
    assert tok.decode([ff]) == "\ufffd"
    assert tok.decode([e4]) + "x" == tok.decode([e4, tok.encode("x")[0]])
    with pytest.raises(ValueError, match=r"ids \[700, 9999\] are not in the vocabulary of 700 tokens"):
        tok.decode([1, 700, 9999])
    with pytest.raises(ValueError, match=r"ids \[-1\]"):
        tok.decode(np.array([-1]))
    with pytest.raises(TypeError, match="must be integers"):
        tok.decode([1.5])
    with pytest.raises(TypeError, match="expected a str"):
        tok.encode(b"bytes")


def test_special_tokens_are_kept_whole(tok):
    eot, pad = tok.token_to_id("<|endoftext|>"), tok.token_to_id("<pad>")
    assert (eot, pad) == (256, 257) and tok.special_tokens == ["<|endoftext|>", "<pad>"]
    text = "x = 1<|endoftext|><|endoftext|>def<pad> 中<|endoftext"
    ids = tok.encode(text)
    assert ids.count(eot) == 2 and ids.count(pad) == 1 and tok.decode(ids) == text
    i = ids.index(eot)
    assert ids[i + 1] == eot and tok.decode(ids[:i]) == "x = 1"
    assert tok.encode("<|endoftext|>") == [eot]
    # the partial "<|endoftext" at the end is ordinary text, and no merged token contains a special token
    assert eot not in tok.encode("<|endoftext") and not any("endoftext" in t for t in tok.get_vocab() if len(t) > 13)
    # a special token that is a prefix of another: the longest matches first
    t2 = ByteLevelBPETokenizer().train("ab ab ab", 260, special_tokens=["<a>", "<a><b>"])
    assert t2.encode("<a><b><a>") == [t2.token_to_id("<a><b>"), t2.token_to_id("<a>")]


def test_training_is_deterministic_and_fills_the_vocabulary(corpus):
    a = ByteLevelBPETokenizer().train(corpus, 600)
    b = ByteLevelBPETokenizer().train([corpus], 600)
    assert a.merges == b.merges and a.get_vocab() == b.get_vocab() and a.vocab_size == 600
    # retraining replaces the earlier training
    a.train("aaaa aaaa aaaa", 300)  # pre-tokens "aaaa" x1, " aaaa" x2; overlapping pairs count ("aaaa": 3 x aa)
    assert a.merges == [("a", "a"), ("aa", "aa"), ("Ġ", "aaaa")] and a.vocab_size == 259


def reference_merges(texts, vocab_size, min_frequency=2):
    """Textbook BPE that recounts every pair of every word before each merge (the oracle)."""
    words = Counter()
    for t in texts:
        words.update(bpe._SPLIT(t))
    alphabet = [c for _, c in bpe.bytes_to_unicode()]
    tokens, vocab = list(alphabet), {c: i for i, c in enumerate(alphabet)}
    seqs = {w: [bpe._BYTE_TO_ID[b] for b in w.encode()] for w in words}
    merges = []
    while len(tokens) < vocab_size:
        counts = Counter()
        for w, s in seqs.items():
            for p in zip(s, s[1:]):
                counts[p] += words[w]
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        if counts[pair] < min_frequency:
            break
        text = tokens[pair[0]] + tokens[pair[1]]
        if text not in vocab:
            vocab[text] = len(tokens)
            tokens.append(text)
        merges.append((tokens[pair[0]], tokens[pair[1]]))
        new = vocab[text]
        for w, s in seqs.items():
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == pair:
                    out.append(new)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return merges


@pytest.mark.parametrize("min_frequency", [1, 2, 5])
def test_incremental_training_equals_a_full_recount_per_merge(min_frequency):
    rng = np.random.default_rng(2)
    texts = [stdlib_corpus(max_bytes=15_000, seed=4).text, "aaaaaaa aaaa aaa aa a" * 3, "abab abab ababab xyx yxyx",
             *[random_text(rng, 60) for _ in range(5)]]
    ours = ByteLevelBPETokenizer().train(texts, 450, min_frequency=min_frequency)
    assert ours.merges == reference_merges(texts, 450, min_frequency)
    # incremental: the merges updated far fewer pair counts than recounting every pair before each merge would
    s = ours.train_stats
    assert s["merges"] == len(ours.merges) > 100
    assert s["pair_updates"] < 0.05 * s["merges"] * s["initial_pair_occurrences"]


def test_merges_equal_hugging_face_tokenizers():
    tokenizers = pytest.importorskip("tokenizers", reason="Hugging Face `tokenizers` is not installed")
    text = stdlib_corpus(max_bytes=200_000, seed=2).text
    hf = tokenizers.ByteLevelBPETokenizer(add_prefix_space=False)
    hf.train_from_iterator([text], vocab_size=1000, min_frequency=2, show_progress=False)
    hf_merges = json.loads(hf._tokenizer.to_str())["model"]["merges"]
    hf_merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in hf_merges]
    ours = ByteLevelBPETokenizer().train(text, 1000)
    assert ours.merges == hf_merges
    sample = stdlib_corpus(max_bytes=300_000, seed=3).text[-40_000:]
    assert ours.encode(sample) == hf.encode(sample).ids


def test_save_and_from_file(tok, tmp_path):
    path = tmp_path / "tok.json"
    tok.save(path)
    state = json.loads(path.read_text(encoding="utf-8"))
    assert state["format"] == bpe.FORMAT and len(state["vocab"]) == tok.vocab_size == 700
    loaded = ByteLevelBPETokenizer.from_file(path)
    assert loaded.merges == tok.merges and loaded.get_vocab() == tok.get_vocab()
    assert loaded.special_tokens == tok.special_tokens and loaded == tok and loaded != ByteLevelBPETokenizer()
    text = "import os<|endoftext|>print('héllo 👍🏽')\r\n\x00"
    assert loaded.encode(text) == tok.encode(text) and loaded.decode(tok.encode(text)) == text


def test_from_file_rejects_other_files(tok, tmp_path):
    vocab = tmp_path / "vocab.json"
    save_vocab(CharTokenizer("abc"), vocab)  # shendu's character vocabulary: another kind of file
    with pytest.raises(ValueError, match="not a byte-level BPE tokenizer file"):
        ByteLevelBPETokenizer.from_file(vocab)
    junk = tmp_path / "junk.json"
    junk.write_text("not json {")
    with pytest.raises(ValueError, match="not a JSON tokenizer file"):
        ByteLevelBPETokenizer.from_file(junk)
    good = tmp_path / "tok.json"
    tok.save(good)
    state = json.loads(good.read_text(encoding="utf-8"))
    state["vocab"]["Ġreturn"] = 3  # a vocabulary that is not the one the merges build
    (tmp_path / "bad_vocab.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="vocabulary does not match"):
        ByteLevelBPETokenizer.from_file(tmp_path / "bad_vocab.json")
    state = json.loads(good.read_text(encoding="utf-8"))
    state["merges"].insert(0, ["Ġreturn", "x"])
    (tmp_path / "bad_merges.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="uses a token that no earlier merge made"):
        ByteLevelBPETokenizer.from_file(tmp_path / "bad_merges.json")
    del state["merges"]
    (tmp_path / "no_merges.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="malformed tokenizer file"):
        ByteLevelBPETokenizer.from_file(tmp_path / "no_merges.json")


def test_train_rejects_bad_arguments():
    t = ByteLevelBPETokenizer()
    with pytest.raises(ValueError, match="vocab_size=257 is smaller than the 256 byte tokens plus 2 special"):
        t.train("abc", 257, special_tokens=["<a>", "<b>"])
    with pytest.raises(ValueError, match="repeat each other"):
        t.train("abc", 300, special_tokens=["<a>", "<a>"])
    with pytest.raises(ValueError, match="non-empty strings"):
        t.train("abc", 300, special_tokens=[""])
    with pytest.raises(ValueError, match="min_frequency must be >= 1"):
        t.train("abc", 300, min_frequency=0)
    with pytest.raises(TypeError, match="texts must be strings"):
        t.train([b"abc"], 300)


def test_add_special_tokens_appends_ids_and_keeps_existing_ones(tmp_path):
    text = "def f(x):\n    return x + 1\n" * 50
    tok = ByteLevelBPETokenizer().train(text, 300, special_tokens=["<|endoftext|>"])
    before, n = tok.get_vocab(), tok.vocab_size
    ids = tok.encode(text)
    new = tok.add_special_tokens(["<|user|>", "<|end|>", "<|endoftext|>"])
    assert new == [n, n + 1, before["<|endoftext|>"]]
    assert tok.vocab_size == n + 2
    assert all(tok.get_vocab()[t] == i for t, i in before.items())      # existing ids unchanged
    assert tok.encode(text) == ids
    assert tok.encode("<|user|>hi<|end|>") == [n, *tok.encode("hi"), n + 1]
    assert tok.decode(tok.encode("<|user|>hi<|end|>")) == "<|user|>hi<|end|>"
    assert tok.add_special_tokens(["<|user|>"]) == [n] and tok.vocab_size == n + 2   # idempotent
    tok.save(tmp_path / "t.json")
    loaded = ByteLevelBPETokenizer.from_file(tmp_path / "t.json")
    assert loaded == tok and loaded.get_vocab() == tok.get_vocab()
    assert loaded.encode("<|user|>def<|end|>") == tok.encode("<|user|>def<|end|>")
    with pytest.raises(ValueError, match="already ordinary tokens"):
        tok.add_special_tokens(["d"])
    with pytest.raises(ValueError, match="non-empty strings"):
        tok.add_special_tokens([""])
