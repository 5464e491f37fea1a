"""The BERT pretraining recipe (shendu.train.bert, `shendu train bert`): documents, masked-LM and NSP
batches, learning, exact resume, the Hugging Face directory it writes, the command line."""
import json

import numpy as np
import pytest

import shendu as sd
from shendu.cli import main
from shendu.models.bert import BertForMaskedLM, BertForPreTraining
from shendu.text import BertTokenizer
from shendu.train.bert import MaskedLMBatches, _pack, split_documents, train_bert

NAMES = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]
TEXT = "\n\n".join("\n".join(f"def {NAMES[(d + i) % 6]}_{i}(x): return x + {d}" for i in range(4)) for d in range(60))
TINY = dict(vocab_size=120, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
            max_length=24, batch_size=8, steps_per_epoch=6, eval_batches=2, warmup_steps=2, decay_steps=18, lr=3e-3,
            verbose=0, plot=False, val_fraction=0.1)


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "code.txt"
    path.write_text(TEXT)
    return path


def test_split_documents():
    assert split_documents("a\n b \n\n\nc\n\n d") == [["a", "b"], ["c"], ["d"]]


def test_masked_lm_and_nsp_batches():
    docs = split_documents(TEXT)
    tok = BertTokenizer.train([s for d in docs for s in d], vocab_size=120)
    packed = _pack(tok, docs)
    mlm = MaskedLMBatches(packed, tok, 8, 24, steps=3, seed=0)
    batches = list(mlm)
    assert len(batches) == 3
    b = batches[0]
    ids, labels = b["input_ids"].numpy(), b["labels"].numpy()
    assert ids.shape == labels.shape == (8, 24)
    assert (labels[:, [0, -1]] == -100).all()                       # [CLS] and [SEP] are never chosen
    chosen = labels != -100
    assert 0 < chosen.mean() < 0.4
    assert (ids[chosen] == tok.mask_token_id).mean() > 0.5           # most chosen tokens are [MASK]
    assert (ids[~chosen] != tok.mask_token_id).all()
    again = list(mlm)
    np.testing.assert_array_equal(again[0]["input_ids"].numpy(), ids)   # a pass depends only on its epoch
    mlm.set_epoch(1)
    assert not np.array_equal(next(iter(mlm))["input_ids"].numpy(), ids)
    nsp = next(iter(MaskedLMBatches(packed, tok, 16, 24, steps=1, seed=0, nsp=True)))
    tt, label, mask = nsp["token_type_ids"].numpy(), nsp["next_sentence_label"].numpy(), nsp["attention_mask"].numpy()
    assert label.shape == (16,) and set(label.tolist()) <= {0, 1} and 0 < label.sum() < 16
    sep = nsp["input_ids"].numpy() == tok.sep_token_id
    for r in range(16):   # segment 1 starts right after the first [SEP]
        first_sep = np.nonzero(sep[r] & (nsp["labels"].numpy()[r] == -100))[0][0]
        assert (tt[r, :first_sep + 1] == 0).all() and (tt[r, first_sep + 1:mask[r].sum()] == 1).all()


def test_learns_resumes_exactly_and_writes_a_hf_directory(tmp_path, text_file):
    full = train_bert(text_file, tmp_path / "full", epochs=3, **TINY)
    assert full["history"]["val_loss"][-1] < full["history"]["val_loss"][0]
    assert full["val_loss"] < np.log(full["vocab_size"])  # better than a uniform guess
    train_bert(text_file, tmp_path / "part", epochs=2, **TINY)
    resumed = train_bert(text_file, tmp_path / "part", epochs=3, resume=True, **TINY)
    np.testing.assert_allclose(resumed["history"]["loss"], full["history"]["loss"], rtol=1e-6)
    a = full["model"].state_dict()
    for k, v in resumed["model"].state_dict().items():
        np.testing.assert_array_equal(v.numpy(), a[k].numpy(), err_msg=k)
    d = tmp_path / "full" / "model"
    assert {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"} <= {p.name for p in d.iterdir()}
    loaded, tok = BertForMaskedLM.from_pretrained(d), BertTokenizer.from_pretrained(d)
    assert len(tok) == full["vocab_size"] == loaded.config.vocab_size
    enc = tok(["def alpha_1(x): return x + 3"], return_tensors="pt")
    full["model"].eval()
    with sd.no_grad():
        np.testing.assert_allclose(loaded(**enc).logits.numpy(), full["model"](**enc).logits.numpy(), rtol=1e-5,
                                   atol=1e-5)
    assert (tmp_path / "full" / "samples.txt").read_text().count("=== epoch") == 3
    with pytest.raises(ValueError, match="other model settings"):
        train_bert(text_file, tmp_path / "full", epochs=4, resume=True, **{**TINY, "hidden_size": 32})


def test_nsp_run_is_a_pretraining_model(tmp_path, text_file):
    res = train_bert(text_file, tmp_path / "nsp", epochs=1, nsp=True, whole_word_mask=True, **TINY)
    assert isinstance(res["model"], BertForPreTraining) and np.isfinite(res["val_loss"])
    cfg = json.loads((tmp_path / "nsp" / "model" / "config.json").read_text())
    assert cfg["architectures"] == ["BertForPreTraining"]


def test_cli_train_bert(tmp_path, text_file, capsys):
    out = tmp_path / "cli"
    args = ["train", "bert", "--data", str(text_file), "--vocab-size", "120", "--hidden-size", "16",
            "--num-hidden-layers", "1", "--num-attention-heads", "2", "--intermediate-size", "32", "--max-length", "24",
            "--batch-size", "4", "--epochs", "1", "--steps-per-epoch", "3", "--eval-batches", "1", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "bert:" in printed and "masked-token perplexity" in printed
    assert json.loads((out / "config.json").read_text())["task"] == "bert"
    assert main(["train", "--resume", str(out), "--epochs", "2"]) == 0       # the task is read from the folder
    assert "resuming from epoch 1" in capsys.readouterr().out
    assert main(["train", "bert", "--resume", str(out), "--epochs", "3", "--hidden-size", "32"]) == 2
    assert "a resumed run keeps its settings" in capsys.readouterr().err
    assert main(["train", "bert", "--data", str(tmp_path / "none.txt"), "--out", str(tmp_path / "x")]) == 2
    assert "no text file" in capsys.readouterr().err
