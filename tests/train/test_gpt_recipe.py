"""The GPT pretraining recipe (shendu.train.gpt): token memmap, random windows, schedule, weight-decay
groups, learning, exact resume, accumulation, run folder files and bad settings."""
import math

import numpy as np
import pytest

from shendu.text import ByteLevelBPETokenizer
from shendu.train.gpt import (
    GPTTrainConfig,
    WindowBatches,
    cosine_schedule,
    generate_text,
    load_gpt,
    param_groups,
    prepare_data,
    read_tokens,
    run_gpt,
    train_gpt,
    unigram_loss,
    write_tokens,
)

TEXT = "".join(f"def f{i % 7}(x):\n    return x * {i % 5} + {i % 3}\n\n" for i in range(300))
TINY = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=4, eval_batches=2, warmup_steps=2,
            sample_length=8, verbose=0, plot=False, lr=3e-3, min_lr=3e-4)


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "code.txt"
    path.write_text(TEXT)
    return path


def test_memmap_round_trip_is_uint16_and_exact(tmp_path):
    ids = np.random.default_rng(0).integers(0, 65536, size=1000)
    mm = write_tokens(ids, tmp_path / "t.bin")
    assert mm.dtype == np.uint16 and mm.shape == (1000,)
    np.testing.assert_array_equal(np.asarray(mm, dtype=np.int64), ids)
    np.testing.assert_array_equal(read_tokens(tmp_path / "t.bin"), mm)
    assert (tmp_path / "t.bin").stat().st_size == 2000
    with pytest.raises(ValueError, match="0..65535"):
        write_tokens(np.array([0, 65536]), tmp_path / "u.bin")
    with pytest.raises(ValueError, match="non-empty 1-D"):
        write_tokens(np.zeros((2, 2), dtype=np.int64), tmp_path / "v.bin")


def test_prepare_data_tokenizes_once_and_reopens_on_resume(tmp_path, text_file):
    out = tmp_path / "run"
    out.mkdir()
    tok, train, val, info = prepare_data(text_file, out, tokenizer="bpe", vocab_size=300, max_bytes=None,
                                         val_fraction=0.1, seed=0, resuming=False)
    assert isinstance(tok, ByteLevelBPETokenizer) and tok.vocab_size == info["vocab_size"] <= 300
    assert tok.decode(np.concatenate([train, val]).astype(np.int64)) == TEXT  # the memmap holds the whole text
    assert info["train_tokens"] == len(train) and info["val_tokens"] == len(val)
    assert abs(len(val) / (len(train) + len(val)) - 0.1) < 0.01
    tok2, train2, val2, info2 = prepare_data(None, out, tokenizer="char", vocab_size=0, max_bytes=None,
                                             val_fraction=0.5, seed=0, resuming=True)  # settings ignored: reopened
    assert tok2 == tok and info2 == info
    np.testing.assert_array_equal(train2, train)
    np.testing.assert_array_equal(val2, val)

    _, train_c, val_c, info_c = prepare_data(text_file, tmp_path, tokenizer="char", vocab_size=0, max_bytes=100,
                                             val_fraction=0.2, seed=0, resuming=False)
    assert info_c["tokens"] == 100 and len(train_c) == 80 and (tmp_path / "vocab.json").exists()


def test_window_batches_are_next_token_pairs_deterministic_per_epoch():
    ids = np.arange(1000, dtype=np.uint16)
    batches = WindowBatches(ids, batch_size=3, block_size=5, steps=4, seed=1)
    first = [(x.numpy(), y.numpy()) for x, y in batches]
    assert len(first) == len(batches) == 4
    for x, y in first:
        assert x.shape == (3, 5) and x.dtype == np.int64
        np.testing.assert_array_equal(y, x + 1)  # consecutive ids: the target is the next token
        np.testing.assert_array_equal(np.diff(x, axis=1), 1)
    again = [(x.numpy(), y.numpy()) for x, y in batches]
    np.testing.assert_array_equal(np.stack([a for a, _ in again]), np.stack([a for a, _ in first]))
    batches.set_epoch(1)
    other = np.stack([x.numpy() for x, _ in batches])
    assert not np.array_equal(other, np.stack([a for a, _ in first]))
    fixed = WindowBatches(ids, 3, 5, 2, seed=1, fixed=True)
    a = np.stack([x.numpy() for x, _ in fixed])
    fixed.set_epoch(7)
    np.testing.assert_array_equal(np.stack([x.numpy() for x, _ in fixed]), a)
    with pytest.raises(ValueError, match="too few for windows of block_size=5"):
        WindowBatches(ids[:5], 2, 5, 1)


def test_cosine_schedule_warms_up_then_decays_to_min():
    f = cosine_schedule(warmup=4, total=20, min_ratio=0.1)
    values = [f(s) for s in range(25)]
    assert values[:4] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert values[4] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values[4:20], values[5:21]))
    assert values[12] == pytest.approx(0.1 + 0.9 * 0.5)
    assert values[20:] == pytest.approx([0.1] * 5)


def test_param_groups_decay_only_two_dim_weights():
    from shendu.models.gpt import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=50, block_size=8, n_layer=1, n_head=2, n_embd=8, bias=True))
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert decay["params"] and all(p.ndim >= 2 for p in decay["params"])
    assert no_decay["params"] and all(p.ndim < 2 for p in no_decay["params"])
    unique = {id(p) for p in model.parameters()}
    assert len(decay["params"]) + len(no_decay["params"]) == len(unique)  # tied weights counted once


def test_unigram_loss_is_the_entropy_of_the_frequencies():
    train = np.array([0, 0, 1, 1])
    assert unigram_loss(train, np.array([0, 1]), 2) == pytest.approx(math.log(2))
    assert unigram_loss(np.array([0, 0, 0]), np.array([1]), 2) == pytest.approx(-math.log(1 / 5))


def test_training_lowers_the_loss_below_unigram_and_writes_the_run(tmp_path, text_file):
    out = tmp_path / "run"
    r = train_gpt(text_file, out, tokenizer="char", epochs=4, steps_per_epoch=25, **TINY)
    val = r["history"]["val_loss"]
    assert val[-1] < val[0] - 0.5 and r["val_loss"] < r["unigram_loss"] - 0.3, (val, r["unigram_loss"])
    assert r["val_ppl"] == pytest.approx(math.exp(r["val_loss"]))
    assert r["epochs"] == 4 and r["steps"] == 100 and len(r["samples"]) == 4
    assert r["samples"][0].startswith("def ")
    for name in ("last.safetensors", "best.safetensors", "history.csv", "samples.txt", "model.json", "data.json",
                 "tokens.bin", "vocab.json"):
        assert (out / name).exists(), name
    assert len((out / "history.csv").read_text().splitlines()) == 5
    model, tok = load_gpt(out, "last")
    for k, v in r["model"].state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k].numpy(), v.numpy(), err_msg=k)
    text = generate_text(model, tok, "def ", 10, temperature=0.0)
    assert text.startswith("def ") and len(text) == 14


def test_resume_is_exact(tmp_path, text_file):
    kw = dict(tokenizer="bpe", vocab_size=300, steps_per_epoch=6, dropout=0.1, grad_accum=2, decay_steps=24,
              **TINY)
    full = train_gpt(text_file, tmp_path / "full", epochs=4, **kw)
    train_gpt(text_file, tmp_path / "half", epochs=2, **kw)
    resumed = train_gpt(text_file, tmp_path / "half", epochs=4, resume=True, **kw)
    assert resumed["epochs"] == 4 and resumed["steps"] == full["steps"] == 24
    for k, v in full["model"].state_dict().items():
        np.testing.assert_array_equal(resumed["model"].state_dict()[k].numpy(), v.numpy(), err_msg=k)
    assert resumed["history"]["val_loss"] == full["history"]["val_loss"]
    assert (tmp_path / "half" / "samples.txt").read_text() == (tmp_path / "full" / "samples.txt").read_text()
    with pytest.raises(ValueError, match="other model settings"):
        train_gpt(text_file, tmp_path / "half", epochs=5, resume=True, **{**kw, "n_embd": 32})


def test_gradient_accumulation_matches_one_big_batch(tmp_path, text_file):
    # 2 micro-batches of 4 windows == 1 batch of 8 only if the windows agree; compare the loss scale instead:
    # accumulation must not multiply the step by the number of micro-batches (the loss is divided by it).
    kw = dict(tokenizer="char", epochs=1, steps_per_epoch=3, **{**TINY, "warmup_steps": 0})
    one = train_gpt(text_file, tmp_path / "a", grad_accum=1, **kw)
    two = train_gpt(text_file, tmp_path / "b", grad_accum=2, **kw)
    assert one["steps"] == two["steps"] == 3
    assert abs(one["val_loss"] - two["val_loss"]) < 0.2


def test_bad_settings_raise_clear_errors(tmp_path, text_file):
    with pytest.raises(ValueError, match="no text file"):
        run_gpt(GPTTrainConfig(data=str(tmp_path / "missing.txt")), out=tmp_path / "x")
    with pytest.raises(ValueError, match="multiple of --n-head"):
        run_gpt(GPTTrainConfig(data=str(text_file), n_embd=30, n_head=4), out=tmp_path / "x")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        train_gpt(text_file, tmp_path / "y", tokenizer="char", prompt="λ", epochs=1, steps_per_epoch=1, **TINY)
    with pytest.raises(ValueError, match="too few for windows"):
        train_gpt(text_file, tmp_path / "z", tokenizer="char", max_bytes=10, epochs=1, steps_per_epoch=1,
                  **TINY)
