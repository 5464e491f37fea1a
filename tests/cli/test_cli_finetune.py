"""`shendu finetune`: a run folder from a checkpoint directory and a CSV file; usage errors are one line, status 2."""
import csv
import json

import numpy as np
import pytest

import shendu as sd
from shendu.models.bert import BertConfig, BertForMaskedLM
from shendu.text import BertTokenizer

WORDS = "the cat sat on a mat while dogs ran in parks and birds flew over rivers".split()
TINY = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
            max_position_embeddings=64)


def write_tasks(tmp_path):
    rng = np.random.default_rng(1)
    with open(tmp_path / "cls.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for y in rng.integers(0, 2, 24):
            w.writerow([" ".join(rng.choice(WORDS[:7] if y else WORDS[7:], 4)), int(y)])
    with open(tmp_path / "tag.jsonl", "w") as f:
        f.write(json.dumps({"tokens": ["the", "cat"], "tags": ["O", "N"]}) + "\n")


@pytest.fixture
def checkpoint(tmp_path):
    tokenizer = BertTokenizer.train([" ".join(WORDS)] * 4, vocab_size=80)
    sd.manual_seed(0)
    BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), **TINY)).save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    return tmp_path / "ckpt"


def test_cli_finetune(tmp_path, checkpoint, shendu_cli, usage_error):
    write_tasks(tmp_path)
    out = tmp_path / "cli"
    status, stdout, err = shendu_cli("finetune", "--checkpoint", checkpoint, "--data", tmp_path / "cls.csv",
                                     "--task", "classify", "--epochs", "1", "--batch-size", "8", "--out", out,
                                     "--lora", "2", "--layer-decay", "0.8")
    assert status == 0, err
    assert "finetune classify: validation accuracy" in stdout and "LoRA r=2" in stdout
    assert (out / "model" / "model.safetensors").exists() and (out / "adapter.safetensors").exists()
    status, _, err = shendu_cli("finetune", "--checkpoint", checkpoint, "--data", tmp_path / "cls.csv",
                                "--task", "classify", "--out", out)
    assert status == 2 and "already holds a fine-tuning run" in usage_error(err)
    status, _, err = shendu_cli("finetune", "--checkpoint", checkpoint, "--data", tmp_path / "tag.jsonl",
                                "--task", "classify", "--out", tmp_path / "o2")
    assert status == 2 and "lacks the column(s) text, label" in usage_error(err)
    status, _, err = shendu_cli("finetune", "--checkpoint", tmp_path / "nope", "--data", tmp_path / "cls.csv",
                                "--task", "qa", "--out", tmp_path / "o3")
    assert status == 2 and "no directory at" in usage_error(err)
    status, _, err = shendu_cli("finetune", "--checkpoint", checkpoint, "--data", tmp_path / "cls.csv",
                                "--task", "classify", "--out", tmp_path / "o4", "--lora-alpha", "4")
    assert status == 2 and "need --lora" in usage_error(err)
