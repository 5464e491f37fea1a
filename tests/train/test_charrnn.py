"""The CharRNN recipe: truncated BPTT over contiguous streams, exact resume, files, samples."""
import json
import math

import numpy as np
import pytest

import shendu as sd
from shendu.models import CharRNN
from shendu.text.corpus import StreamBatches
from shendu.train.charrnn import CharRNNTrainer, load_charrnn, train_charrnn

TEXT = "".join(f"def f{i % 7}(x):\n    return x * {i % 5} + {i % 3}\n\n" for i in range(120))
SMALL = dict(embedding_dim=8, hidden_size=24, num_layers=1, seq_len=16, batch_size=8, lr=1e-2, sample_length=30,
             verbose=0, plot=False)


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "code.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_loss_decreases_and_files_are_written(text_file, tmp_path):
    r = train_charrnn(text_file, tmp_path / "run", epochs=6, **SMALL)
    h = r["history"]
    assert r["epochs"] == 6 and len(h["loss"]) == 6
    assert h["loss"][-1] < 0.6 * h["loss"][0] and h["val_loss"][-1] < h["val_loss"][0]
    np.testing.assert_allclose(h["bpc"], np.array(h["loss"]) / math.log(2))
    np.testing.assert_allclose(h["val_bpc"], np.array(h["val_loss"]) / math.log(2))
    assert r["val_chars"] == round(len(TEXT) * 0.1) and r["vocab_size"] == len(set(TEXT))
    out = tmp_path / "run"
    for name in ("last.safetensors", "best.safetensors", "history.csv", "samples.txt", "vocab.json", "model.json"):
        assert (out / name).exists(), name
    rows = (out / "history.csv").read_text().splitlines()
    assert len(rows) == 7 and "val_bpc" in rows[0].split(",")
    samples = (out / "samples.txt").read_text(encoding="utf-8")
    assert samples.count("=== epoch") == 6 and r["sample"] in samples and r["sample"].startswith("d")
    assert "validation bits per character after 6 epochs" in r["summary"]
    model, tok = load_charrnn(out, "best")
    assert json.loads((out / "model.json").read_text())["hidden_size"] == 24
    assert tok.chars == sorted(set(TEXT)) and not model.training
    best = int(np.argmin(h["val_loss"]))
    with sd.no_grad():  # the best checkpoint scores the best epoch's validation loss
        x = StreamBatches(r["corpus"].val, 8, 16)
        trainer = CharRNNTrainer(model, None)
        assert trainer.evaluate(x)["loss"] == pytest.approx(h["val_loss"][best], rel=1e-5)


def test_resume_continues_bit_exactly(text_file, tmp_path):
    kw = dict(SMALL, dropout=0.2, num_layers=2, steps_per_epoch=3, epochs=3)  # dropout: the RNG stream matters
    full = train_charrnn(text_file, tmp_path / "full", **kw)
    first = train_charrnn(text_file, tmp_path / "split", **dict(kw, epochs=1))
    rest = train_charrnn(text_file, tmp_path / "split", resume=True, **kw)
    assert rest["history"] == full["history"] and rest["epochs"] == 3
    a, b = full["model"].state_dict(), rest["model"].state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert first["samples"] + rest["samples"] == full["samples"]
    for name in ("history.csv", "samples.txt"):
        assert (tmp_path / "full" / name).read_text() == (tmp_path / "split" / name).read_text()
    with pytest.raises(ValueError, match="other model settings"):
        train_charrnn(text_file, tmp_path / "split", resume=True, **dict(kw, hidden_size=32))


def test_state_is_carried_across_chunks_and_detached():
    """Evaluating chunk by chunk with the carried state equals one pass over each whole stream, and the
    state kept after a training step has no history (backpropagation is truncated at the chunk)."""
    sd.manual_seed(0)
    model = CharRNN(9, 4, 12, 2)
    ids = np.random.default_rng(0).integers(0, 9, size=203)
    streams = StreamBatches(ids, batch_size=4, seq_len=7)
    trainer = CharRNNTrainer(model, sd.optim.Adam(model.parameters(), lr=1e-3))
    chunked = trainer.evaluate(streams)["loss"]
    with sd.no_grad():
        logits, _ = model(sd.tensor(streams.x))
        whole = float(sd.nn.functional.cross_entropy(logits.reshape(-1, 9), sd.tensor(streams.y).reshape(-1)))
    assert chunked == pytest.approx(whole, rel=1e-5)
    model.train()
    trainer.train_step(next(iter(streams)))
    h, c = trainer.state
    assert h.grad_fn is None and not h.requires_grad and c.grad_fn is None
    assert tuple(h.shape) == (2, 4, 12)


def test_stdlib_corpus_and_gru(tmp_path):
    r = train_charrnn(None, tmp_path / "std", epochs=2, steps_per_epoch=4, max_bytes=20_000, cell="gru",
                      prompt="def ", **SMALL)
    assert r["epochs"] == 2 and r["train_chars"] == 18_000 and all(s.startswith("def ") for s in r["samples"])
    assert math.isfinite(r["val_bpc"]) and r["val_bpc"] < math.log2(r["vocab_size"])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        train_charrnn(None, tmp_path / "bad", epochs=1, steps_per_epoch=1, max_bytes=5_000, prompt="\x00", **SMALL)
