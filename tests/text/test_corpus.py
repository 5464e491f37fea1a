"""shendu.text.corpus: the stdlib or file corpus, the saved vocabulary, the TBPTT batch streams."""
import numpy as np
import pytest

from shendu.data.datasets.text import ByteTokenizer, CharTokenizer, stdlib_corpus
from shendu.text.corpus import StreamBatches, load_corpus, load_vocab, save_vocab


def test_stdlib_corpus_is_deterministic_and_capped():
    a = load_corpus(max_bytes=30_000, val_fraction=0.2, seed=3)
    b = load_corpus(max_bytes=30_000, val_fraction=0.2, seed=3)
    ref = stdlib_corpus(max_bytes=30_000, seed=3)
    assert a.text == b.text == ref.text and a.files == ref.files and len(a.text.encode()) <= 30_000
    np.testing.assert_array_equal(a.train, b.train)
    assert a.tokenizer.decode(np.concatenate([a.train, a.val])) == a.text
    assert len(a.val) == len(a.text) - int(round(len(a.text) * 0.8))
    assert a.train.dtype == np.int64 and a.tokenizer.chars == sorted(set(a.text))
    with pytest.raises(ValueError, match="needs a max_bytes cap"):
        load_corpus(max_bytes=None)


def test_file_corpus(tmp_path):
    path = tmp_path / "t.txt"
    text = "héllo wörld\n" * 50
    path.write_text(text, encoding="utf-8")
    c = load_corpus(path, max_bytes=None, val_fraction=0.1)
    assert c.text == text and c.files == [str(path)] and c.vocab_size == len(set(text))
    assert c.tokenizer.decode(c.train) == text[:len(c.train)] and len(c.val) == len(text) // 10
    cut = load_corpus(str(path), max_bytes=3)  # "h" (1 byte) and "é" (2 bytes)
    assert cut.text == "hé"
    cut = load_corpus(str(path), max_bytes=4)  # "hé" + "l"
    assert cut.text == "hél"
    with pytest.raises(ValueError, match="1 characters of text are too few"):
        load_corpus(str(path), max_bytes=2)  # "h" + half of "é": the half character is dropped
    tok = CharTokenizer("abcdefghijklmnopqrstuvwxyz \n")
    with pytest.raises(ValueError, match="does not fit the given vocabulary of 28 symbols"):
        load_corpus(path, tokenizer=tok)
    with pytest.raises(FileNotFoundError, match="no text file"):
        load_corpus(tmp_path / "missing.txt")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match="is not UTF-8"):
        load_corpus(bad)
    with pytest.raises(ValueError, match="val_fraction"):
        load_corpus(path, val_fraction=1.0)


def test_vocab_round_trip(tmp_path):
    tok = CharTokenizer("the quick brown fox, Ünïcode ✓\n\t")
    save_vocab(tok, tmp_path / "v.json")
    back = load_vocab(tmp_path / "v.json")
    assert isinstance(back, CharTokenizer) and back.chars == tok.chars
    s = "fox ✓ quick\n"
    np.testing.assert_array_equal(back.encode(s), tok.encode(s))
    save_vocab(ByteTokenizer(), tmp_path / "b.json")
    assert isinstance(load_vocab(tmp_path / "b.json"), ByteTokenizer)
    (tmp_path / "x.json").write_text('{"chars": ["a"]}')
    with pytest.raises(ValueError, match="not a vocabulary written by save_vocab"):
        load_vocab(tmp_path / "x.json")
    with pytest.raises(TypeError, match="CharTokenizer or ByteTokenizer"):
        save_vocab(object(), tmp_path / "y.json")


def test_stream_batches_are_contiguous_streams():
    ids = np.arange(103) * 7 % 101  # distinct enough to locate every token
    s = StreamBatches(ids, batch_size=4, seq_len=8)
    n = (103 - 1) // 4  # 25 tokens per stream
    assert s.stream_len == n and s.num_chunks == 4 and len(s) == 4
    chunks = list(s)
    assert [tuple(x.shape) for x, _ in chunks] == [(4, 8)] * 3 + [(4, 1)]
    assert all(x.dtype == y.dtype and str(x.dtype) == "int64" for x, y in chunks)
    x = np.concatenate([c[0].numpy() for c in chunks], axis=1)
    y = np.concatenate([c[1].numpy() for c in chunks], axis=1)
    for b in range(4):  # row b of every chunk continues the same stream; targets are the next tokens
        np.testing.assert_array_equal(x[b], ids[b * n:(b + 1) * n])
        np.testing.assert_array_equal(y[b], ids[b * n + 1:(b + 1) * n + 1])


def test_stream_batches_steps_continue_across_epochs():
    ids = np.arange(1 + 2 * 50)
    s = StreamBatches(ids, batch_size=2, seq_len=5, steps=4)  # 10 chunks: passes of 4, 4, 2, then again
    firsts = []
    for epoch in range(4):
        s.set_epoch(epoch)
        firsts.append([int(x.numpy()[0, 0]) for x, _ in s])
    assert firsts == [[0, 5, 10, 15], [20, 25, 30, 35], [40, 45], [0, 5, 10, 15]]
    assert s.passes_per_cycle == 3
    short = StreamBatches(np.arange(4), batch_size=32, seq_len=10)  # fewer tokens than streams
    assert short.batch_size == 3 and [tuple(x.shape) for x, _ in short] == [(3, 1)]


@pytest.mark.parametrize("kwargs,match", [
    ({"ids": np.zeros((2, 3))}, "expected 1-D ids"),
    ({"ids": np.arange(1)}, "too few"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"seq_len": 2.5}, "seq_len must be a positive integer"),
    ({"steps": 0}, "steps must be a positive integer or None"),
])
def test_stream_batches_errors(kwargs, match):
    args = {"ids": np.arange(50), "batch_size": 2, "seq_len": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        StreamBatches(**args)
