"""`shendu train charrnn`: trains on a text file, writes the run folder, resumes exactly, keeps its settings."""
import json

import numpy as np

from shendu.cli import main
from shendu.train.charrnn import load_charrnn, train_charrnn

TEXT = "for i in range(10):\n    print(i * i)\n\n" * 60
FLAGS = ["--hidden-size", "16", "--embedding-dim", "8", "--num-layers", "1", "--seq-len", "16", "--batch-size", "4",
         "--sample-length", "30", "--lr", "0.01"]


def test_train_charrnn_command_runs_resumes_and_matches_the_library(tmp_path, capsys):
    data = tmp_path / "loop.txt"
    data.write_text(TEXT)
    out = tmp_path / "run"
    assert main(["train", "charrnn", "--data", str(data), *FLAGS, "--epochs", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "charrnn: " in printed and "validation bits per character after 2 epochs" in printed
    assert "sample at temperature 0.8" in printed
    saved = json.loads((out / "config.json").read_text())
    assert saved["task"] == "charrnn" and saved["config"]["hidden_size"] == 16
    for name in ("last.safetensors", "best.safetensors", "history.csv", "history.png", "samples.txt", "vocab.json"):
        assert (out / name).exists(), name

    assert main(["train", "charrnn", "--resume", str(out), "--epochs", "3"]) == 0
    assert "resuming from epoch 2" in capsys.readouterr().out
    assert len((out / "history.csv").read_text().splitlines()) == 4
    ref = train_charrnn(data, tmp_path / "ref", epochs=3, embedding_dim=8, hidden_size=16, num_layers=1, seq_len=16,
                        batch_size=4, sample_length=30, lr=0.01, verbose=0, plot=False)
    model, _ = load_charrnn(out, "last")
    for k, v in ref["model"].state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k].numpy(), v.numpy(), err_msg=k)
    assert (out / "samples.txt").read_text() == (tmp_path / "ref" / "samples.txt").read_text()

    assert main(["train", "charrnn", "--resume", str(out), "--epochs", "4", "--cell", "gru"]) == 2
    assert "--cell gru (the run in" in capsys.readouterr().err


def test_train_charrnn_bad_settings_are_usage_errors(tmp_path, capsys):
    assert main(["train", "charrnn", "--data", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "a")]) == 2
    assert "no text file" in capsys.readouterr().err
    assert main(["train", "charrnn", "--seq-len", "0", "--out", str(tmp_path / "b")]) == 2
    assert "--seq-len" in capsys.readouterr().err
