"""`shendu train`: usage errors, the run folder, --resume with the saved settings, logging, every dataset."""
import csv
import json
import os
import stat

import pytest

from shendu.train import recipes
from shendu.train.recipes import DATASETS, train_classifier

FAST = ["--hidden", "8", "--batch-size", "32"]


@pytest.fixture
def run_dir(tmp_path, shendu_cli):
    """A finished 2-epoch iris run: its folder."""
    out = tmp_path / "iris"
    status, _, err = shendu_cli("train", "--dataset", "iris", *FAST, "--optimizer", "momentum", "--lr", "0.05",
                                "--epochs", "2", "--seed", "1", "--out", out)
    assert status == 0, err
    return out


# -- usage errors: status 2, one line naming what was wrong, no traceback ---------------------------
@pytest.mark.parametrize("argv, expected", [
    (["--epochs", "-5"], "shendu train mlp: error: argument --epochs: expected an integer >= 1, got -5"),
    (["--epochs", "3.5"], "argument --epochs: expected an integer, got '3.5'"),
    (["--hidden", "0"], "shendu train mlp: error: argument --hidden: expected an integer >= 1, got 0"),
    (["--hidden", "16", "0"], "argument --hidden: expected an integer >= 1, got 0"),
    (["--lr", "0"], "argument --lr: expected a number > 0.0, got 0.0"),
    (["--lr", "nan"], "argument --lr: expected a finite number, got nan"),
    (["--dropout", "1"], "argument --dropout: expected a number < 1.0, got 1.0"),
    (["--batch-size", "0"], "argument --batch-size: expected an integer >= 1, got 0"),
    (["--dataset", "mnist"], "argument --dataset: invalid choice: 'mnist' (choose from 'digits', 'iris', 'wine', "
                             "'breast_cancer', 'moons', 'spirals', 'xor')"),
    (["--optimizer", "adagrad"], "argument --optimizer: invalid choice: 'adagrad'"),
    (["--epoch", "3"], "unrecognized arguments: --epoch 3; did you mean --epochs?"),
    (["--ep", "3"], "unrecognized arguments: --ep 3"),  # no abbreviations: a flag means what it spells
    (["resnet"], "shendu train: error: argument TASK: invalid choice: 'resnet' (choose from 'mlp'"),
])
def test_usage_errors(shendu_cli, usage_error, argv, expected):
    status, out, err = shendu_cli("train", *argv)
    assert status == 2 and out == ""
    line = usage_error(err)
    assert expected in line
    assert "initial_epoch" not in line  # names only what the user passed


def test_the_epochs_message_names_only_the_flag_passed(shendu_cli, usage_error):
    _, _, err = shendu_cli("train", "--epochs", "-5")
    line = usage_error(err)
    assert line.count("--") == 2 and "--epochs" in line and "--help" in line


# -- the run folder ------------------------------------------------------------------------------------
def test_a_run_writes_config_checkpoints_history_and_plot(run_dir, shendu_cli):
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == ["best.safetensors", "config.json", "history.csv", "history.png", "last.safetensors"]
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["task"] == "mlp"
    assert saved["config"] == {"dataset": "iris", "hidden": [8], "epochs": 2, "lr": 0.05, "optimizer": "momentum",
                               "batch_size": 32, "dropout": 0.0, "weight_decay": 0.0, "seed": 1}
    with open(run_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"] and {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(rows[0])
    assert (run_dir / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_files_get_the_users_file_mode(tmp_path, shendu_cli):
    old = os.umask(0o027)
    try:
        status, _, err = shendu_cli("train", "--dataset", "moons", *FAST, "--epochs", "1", "--out", tmp_path / "m")
    finally:
        os.umask(old)
    assert status == 0, err
    for path in (tmp_path / "m").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path.name  # 0o666 & ~umask, not mkstemp's 0o600


def test_one_log_line_per_epoch_when_stdout_is_not_a_terminal(tmp_path, shendu_cli):
    status, out, err = shendu_cli("train", "--dataset", "spirals", *FAST, "--epochs", "3", "--out", tmp_path / "s")
    assert status == 0, err
    lines = out.splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert [line.split()[1] for line in epoch_lines] == ["1/3", "2/3", "3/3"]
    assert all("loss" in line and "val_accuracy" in line for line in epoch_lines)
    assert lines[-2].startswith("spirals: test accuracy ") and "after 3 epochs" in lines[-2]
    assert lines[-1].startswith("run folder ")


def test_a_terminal_gets_a_progress_bar_instead(tmp_path, shendu_cli, monkeypatch):
    from shendu.cli import _common
    monkeypatch.setattr(_common, "interactive", lambda: True)
    status, out, err = shendu_cli("train", "--dataset", "moons", *FAST, "--epochs", "2", "--out", tmp_path / "t")
    assert status == 0
    assert not any(line.startswith("epoch ") for line in out.splitlines())
    assert "Epoch 2/2" in err  # tqdm's bar


@pytest.mark.parametrize("dataset", DATASETS)
def test_train_on_every_builtin_dataset(tmp_path, shendu_cli, dataset):
    status, out, err = shendu_cli("train", "--dataset", dataset, *FAST, "--epochs", "1", "--out", tmp_path / dataset)
    assert status == 0, err
    summary = next(line for line in out.splitlines() if line.startswith(f"{dataset}: test accuracy "))
    n_test = int(summary.split(" on ")[1].split()[0])
    assert n_test >= 23  # a real held-out split, even for xor
    assert (tmp_path / dataset / "best.safetensors").exists()


def test_a_folder_holding_a_run_is_not_overwritten_silently(run_dir, shendu_cli, usage_error):
    before = (run_dir / "last.safetensors").read_bytes()
    status, _, err = shendu_cli("train", "--out", run_dir)
    assert status == 2
    assert f"{run_dir}/ already holds a run" in usage_error(err) and "--resume" in err and "--overwrite" in err
    assert (run_dir / "last.safetensors").read_bytes() == before
    status, _, err = shendu_cli("train", "--dataset", "moons", *FAST, "--epochs", "1", "--out", run_dir, "--overwrite")
    assert status == 0, err
    assert json.loads((run_dir / "config.json").read_text())["config"]["dataset"] == "moons"


# -- resuming -------------------------------------------------------------------------------------------
def test_resume_needs_no_flags_retyped(run_dir, tmp_path, shendu_cli):
    status, out, err = shendu_cli("train", "--resume", run_dir, "--epochs", "4")
    assert status == 0, err
    assert out.splitlines()[0] == f"resuming from epoch 2 in {run_dir}/ (training to epoch 4)"
    assert [line.split()[1] for line in out.splitlines() if line.startswith("epoch ")] == ["3/4", "4/4"]
    assert json.loads((run_dir / "config.json").read_text())["config"]["epochs"] == 4
    full = train_classifier(dataset="iris", hidden=[8], batch_size=32, optimizer="momentum", lr=0.05, epochs=4,
                            seed=1, out=tmp_path / "full", verbose=0)
    resumed = train_classifier(dataset="iris", hidden=[8], batch_size=32, optimizer="momentum", lr=0.05, epochs=4,
                               seed=1, out=run_dir, resume=True, verbose=0)
    assert resumed["history"] == full["history"]  # the saved settings were the ones used
    assert f"test accuracy {full['test_accuracy']:.4f}" in out


def test_resume_with_out_instead_of_a_folder_argument(run_dir, shendu_cli):
    status, out, err = shendu_cli("train", "--resume", "--out", run_dir, "--epochs", "3")
    assert status == 0, err
    assert "resuming from epoch 2" in out


def test_resume_with_nothing_left_to_train_says_so(run_dir, shendu_cli):
    status, out, err = shendu_cli("train", "--resume", run_dir)
    assert status == 0, err
    assert f"{run_dir}/: all 2 epochs are already trained" in out and "after 2 epochs" in out


def test_resume_with_fewer_epochs_than_done_is_an_error(run_dir, shendu_cli, usage_error):
    status, _, err = shendu_cli("train", "--resume", run_dir, "--epochs", "1")
    assert status == 2
    assert "has already trained 2 epochs, more than --epochs 1" in usage_error(err)


def test_a_conflicting_flag_is_a_clear_error(run_dir, shendu_cli, usage_error):
    status, _, err = shendu_cli("train", "--resume", run_dir, "--optimizer", "adam", "--hidden", "8")
    assert status == 2
    line = usage_error(err)
    assert "--optimizer adam (the run in" in line and "used momentum)" in line
    assert "--hidden" not in line  # the same value as saved is no conflict
    assert "KeyError" not in line


def test_resume_without_a_checkpoint_stops(tmp_path, shendu_cli, usage_error):
    status, _, err = shendu_cli("train", "--resume", tmp_path / "none")
    assert status == 2
    line = usage_error(err)
    assert f"no checkpoint to resume in {tmp_path / 'none'}/" in line and "last.safetensors does not exist" in line
    assert not (tmp_path / "none").exists()


def test_resume_or_start_starts_when_there_is_no_checkpoint(tmp_path, shendu_cli):
    out_dir = tmp_path / "new"
    status, out, err = shendu_cli("train", "--dataset", "moons", *FAST, "--epochs", "1", "--out", out_dir,
                                  "--resume-or-start")
    assert status == 0, err
    assert out.splitlines()[0] == f"no checkpoint in {out_dir}/: starting a new run"
    status, out, _ = shendu_cli("train", "--out", out_dir, "--resume-or-start", "--epochs", "2")
    assert status == 0 and "resuming from epoch 1" in out


def test_resume_and_out_naming_different_folders(run_dir, tmp_path, shendu_cli, usage_error):
    status, _, err = shendu_cli("train", "--resume", run_dir, "--out", tmp_path / "other")
    assert status == 2 and "name different folders" in usage_error(err)


@pytest.mark.parametrize("damage, expected", [
    (lambda p: p.write_bytes(p.read_bytes()[:300]), "is corrupt or incomplete"),
    (lambda p: p.write_bytes(b"junk"), "is corrupt or incomplete"),
    (lambda p: (p.unlink(), p.mkdir()), "cannot read the checkpoint"),
    (lambda p: __import__("shendu").save({"w": __import__("shendu").ones(2)}, p), "not a shendu training checkpoint"),
])
def test_a_damaged_checkpoint_is_named_with_what_to_do(run_dir, shendu_cli, usage_error, damage, expected):
    last = run_dir / "last.safetensors"
    damage(last)
    status, _, err = shendu_cli("train", "--resume", run_dir)
    assert status == 2
    line = usage_error(err)
    assert str(last) in line and expected in line and "--overwrite" in line


def test_damaged_saved_settings_are_named(run_dir, shendu_cli, usage_error):
    (run_dir / "config.json").write_text("{not json")
    status, _, err = shendu_cli("train", "--resume", run_dir)
    assert status == 2 and f"cannot read the saved settings {run_dir / 'config.json'}" in usage_error(err)
    (run_dir / "config.json").write_text(json.dumps({"task": "mlp", "config": {"hidden": [0]}}))
    status, _, err = shendu_cli("train", "--resume", run_dir)
    assert status == 2 and "are not valid for 'mlp'" in usage_error(err)


def test_a_library_value_error_becomes_one_line(tmp_path, shendu_cli, usage_error, monkeypatch):
    def bad(config, **kwargs):
        raise ValueError("fit: the data has\nno batches")
    monkeypatch.setattr(recipes, "run_classifier", bad)
    status, _, err = shendu_cli("train", "--out", tmp_path / "v")
    assert status == 2 and usage_error(err) == "shendu train mlp: error: fit: the data has no batches"


def test_a_missing_optional_dependency_is_one_line(tmp_path, shendu_cli, usage_error, monkeypatch):
    def missing(config, **kwargs):
        raise ImportError("shendu.data: the bundled datasets come from scikit-learn, which is not installed")
    monkeypatch.setattr(recipes, "run_classifier", missing)
    status, _, err = shendu_cli("train", "--out", tmp_path / "i")
    assert status == 1 and "scikit-learn, which is not installed" in usage_error(err)


def test_a_registered_task_gets_its_flags_and_resume_finds_it(tmp_path, shendu_cli, usage_error, monkeypatch):
    from shendu.train.recipes import RECIPES, Recipe
    monkeypatch.setitem(RECIPES, "other", Recipe("shendu.train.recipes", "ClassifierConfig", "run_classifier",
                                                 "the classifier under another name"))
    status, out, _ = shendu_cli("train", "--help")
    assert status == 0 and "other" in out and "the classifier under another name" in out
    run = tmp_path / "o"
    status, _, err = shendu_cli("train", "other", "--dataset", "moons", *FAST, "--epochs", "1", "--out", run)
    assert status == 0, err
    assert json.loads((run / "config.json").read_text())["task"] == "other"
    status, out, err = shendu_cli("train", "--resume", run, "--epochs", "2")  # no task named: the saved one
    assert status == 0, err
    assert "resuming from epoch 1" in out
    status, _, err = shendu_cli("train", "mlp", "--resume", run)
    assert status == 2 and f"holds a 'other' run, not 'mlp'; resume it with 'shendu train other --resume {run}'" \
        in usage_error(err)
    status, _, err = shendu_cli("train", "--out", run, "--overwrite", "--epochs", "1", *FAST, "--dataset", "xor")
    assert status == 0, err  # a new run in that folder is the default task's
    assert json.loads((run / "config.json").read_text())["task"] == "mlp"
