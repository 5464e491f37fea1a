"""`shendu train`: the command trains through the Trainer, writes checkpoints, and --resume continues exactly."""
from shendu.cli import main
from shendu.train.recipes import train_classifier


def test_shendu_train_writes_checkpoints_and_resumes_exactly(tmp_path, capsys):
    args = ["train", "--dataset", "iris", "--hidden", "8", "--seed", "1", "--out", str(tmp_path / "a")]
    assert main([*args, "--epochs", "3"]) == 0
    assert "iris: test accuracy" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["best.safetensors", "last.safetensors"]
    full = train_classifier(dataset="iris", hidden=[8], epochs=5, seed=1, out=tmp_path / "b", verbose=0)
    resumed = train_classifier(dataset="iris", hidden=[8], epochs=5, seed=1, out=tmp_path / "a", resume=True,
                               verbose=0)
    assert resumed["epochs"] == 5 and resumed["history"] == full["history"]
    assert resumed["test_accuracy"] == full["test_accuracy"] and resumed["test_loss"] == full["test_loss"]
    assert main([*args, "--epochs", "5", "--resume"]) == 0  # nothing left to train: the command still reports
    assert "after 5 epochs" in capsys.readouterr().out
