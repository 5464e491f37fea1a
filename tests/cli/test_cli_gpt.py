"""`shendu train gpt`: trains on a text file, writes the run folder, resumes exactly, keeps its settings."""
import json

import numpy as np

from shendu.cli import main
from shendu.train.gpt import load_gpt, train_gpt

TEXT = "for i in range(10):\n    print(i * i)\n\n" * 80
FLAGS = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
         "--steps-per-epoch", "5", "--eval-batches", "2", "--warmup-steps", "2", "--sample-length", "8",
         "--vocab-size", "300", "--decay-steps", "15"]


def test_train_gpt_command_runs_resumes_and_matches_the_library(tmp_path, capsys):
    data = tmp_path / "loop.txt"
    data.write_text(TEXT)
    out = tmp_path / "run"
    assert main(["train", "gpt", "--data", str(data), *FLAGS, "--epochs", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "gpt: " in printed and "validation loss (perplexity" in printed and "after 2 epochs, 10 steps" in printed
    saved = json.loads((out / "config.json").read_text())
    assert saved["task"] == "gpt" and saved["config"]["n_embd"] == 16
    for name in ("last.safetensors", "best.safetensors", "history.csv", "history.png", "samples.txt",
                 "tokenizer.json", "tokens.bin", "data.json", "model.json"):
        assert (out / name).exists(), name

    assert main(["train", "gpt", "--resume", str(out), "--epochs", "3"]) == 0
    assert "resuming from epoch 2" in capsys.readouterr().out
    assert len((out / "history.csv").read_text().splitlines()) == 4
    ref = train_gpt(data, tmp_path / "ref", epochs=3, n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=4,
                    steps_per_epoch=5, eval_batches=2, warmup_steps=2, sample_length=8, vocab_size=300,
                    decay_steps=15, verbose=0, plot=False)
    model, _ = load_gpt(out, "last")
    for k, v in ref["model"].state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k].numpy(), v.numpy(), err_msg=k)
    assert (out / "samples.txt").read_text() == (tmp_path / "ref" / "samples.txt").read_text()

    assert main(["train", "gpt", "--resume", str(out), "--epochs", "4", "--n-embd", "32"]) == 2
    assert "--n-embd 32 (the run in" in capsys.readouterr().err


def test_train_gpt_bad_settings_are_one_line_usage_errors(tmp_path, capsys):
    cases = [(["--data", str(tmp_path / "missing.txt")], "no text file"),
             (["--block-size", "0"], "--block-size"),
             (["--tokenizer", "words"], "--tokenizer"),
             (["--n-embd", "30", "--n-head", "4"], "multiple of --n-head")]
    for i, (flags, message) in enumerate(cases):
        assert main(["train", "gpt", *flags, "--out", str(tmp_path / f"r{i}")]) == 2, flags
        err = capsys.readouterr().err.strip()
        assert message in err, (flags, err)
        assert len(err.splitlines()) == 1 and err.startswith("shendu train gpt: error: "), err
