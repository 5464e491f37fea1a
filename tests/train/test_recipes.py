"""shendu.train.recipes: the classifier recipe behind `shendu train mlp` and `shendu demo`, and the registry."""
import csv
import dataclasses

import numpy as np
import pytest

import shendu as sd
from shendu.data.splits import standardize
from shendu.io import load_checkpoint
from shendu.train import recipes
from shendu.train.recipes import (
    RECIPES,
    ClassifierConfig,
    check_config,
    history_figure,
    load_classification,
    noisy_xor,
    train_classifier,
)


def _accuracy(model, x, y) -> float:
    model.eval()
    with sd.no_grad():
        return float((model(x).argmax(1).numpy() == y.numpy()).mean())


@pytest.fixture(scope="module")
def wine_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("wine")
    return train_classifier(dataset="wine", hidden=[16], epochs=4, lr=3e-3, batch_size=16, seed=3, out=out,
                            verbose=0)


def test_reported_test_accuracy_is_the_accuracy_on_the_held_out_rows(wine_run):
    r = wine_run
    x_raw, y = load_classification("wine")
    x, _, _ = standardize(x_raw, r["split"]["train"])  # recomputed here, not taken from the recipe
    model = recipes.mlp(x.shape[1], [16], 3)
    load_checkpoint(f"{r['out']}/best.safetensors", model=model, restore_rng=False)
    test, train = r["split"]["test"], r["split"]["train"]
    assert r["test_accuracy"] == pytest.approx(_accuracy(model, x[test], y[test]), abs=1e-6)
    # the check can fail: on this run the training rows give another number
    assert abs(_accuracy(model, x[train], y[train]) - r["test_accuracy"]) > 0.01
    assert r["test_accuracy"] == pytest.approx(_accuracy(r["model"], x[test], y[test]), abs=1e-6)


def test_splits_are_disjoint_stratified_and_cover_every_sample(wine_run):
    split = wine_run["split"]
    all_idx = np.concatenate([split["train"], split["val"], split["test"]])
    assert len(np.unique(all_idx)) == len(all_idx) == 178
    _, y = load_classification("wine")
    for part in ("val", "test"):
        counts = np.bincount(y.numpy()[split[part]], minlength=3)
        assert counts.min() >= 5  # every class in every held-out part
    assert wine_run["n_train"] == len(split["train"])


def test_standardization_statistics_come_from_the_training_rows_only(wine_run):
    x_raw, _ = load_classification("wine")
    raw = x_raw.numpy().astype(np.float64)
    train = wine_run["split"]["train"]
    np.testing.assert_allclose(wine_run["mean"], raw[train].mean(0), rtol=1e-12)
    np.testing.assert_allclose(wine_run["std"], raw[train].std(0), rtol=1e-12)
    assert not np.allclose(wine_run["mean"], raw.mean(0), rtol=1e-6)  # the whole set's would differ


def test_the_best_validation_weights_are_the_ones_evaluated(wine_run):
    best = int(np.argmin(wine_run["history"]["val_loss"])) + 1
    assert wine_run["best_epoch"] == best
    assert f"weights of epoch {best}" in wine_run["summary"]


def test_history_csv_matches_the_history(wine_run):
    with open(f"{wine_run['out']}/history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    for key, values in wine_run["history"].items():
        np.testing.assert_allclose([float(r[key]) for r in rows], values, rtol=1e-8)


def test_the_history_figure_is_labelled(wine_run):
    import matplotlib.pyplot as plt
    fig = history_figure(wine_run["history"], title="wine run", best_epoch=wine_run["best_epoch"])
    try:
        axes = fig.axes
        assert [a.get_ylabel() for a in axes] == ["cross-entropy loss (nats per sample)",
                                                   "accuracy (fraction correct)"]
        assert all(a.get_xlabel() == "epoch" for a in axes)
        labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
        assert labels[:2] == ["training", "validation"] and "best validation loss" in labels[2]
        np.testing.assert_allclose(axes[0].lines[1].get_ydata(), wine_run["history"]["val_loss"])
        assert fig._suptitle.get_text() == "wine run"
    finally:
        plt.close(fig)
    assert (wine_run["out"] + "/history.png") in wine_run["files"]


def test_xor_is_a_sampled_problem_with_a_real_test_split(tmp_path):
    x, y = noisy_xor(400, noise=0.15, seed=0)
    assert x.shape == (400, 2) and x.dtype == sd.float32 and y.dtype == sd.int64
    corner = (x.numpy() > 0.5).astype(int)
    assert (y.numpy() == (corner[:, 0] ^ corner[:, 1])).mean() > 0.99
    assert np.bincount(y.numpy()).tolist() == [200, 200]
    r = train_classifier(dataset="xor", hidden=[16], epochs=25, lr=0.02, batch_size=32, seed=0,
                         out=tmp_path, verbose=0)
    assert len(r["split"]["test"]) == 60
    assert r["test_accuracy"] > 0.9  # (the old 4-point split had one test point and reported 0.0)


def test_resume_continues_exactly(tmp_path):
    kw = dict(dataset="iris", hidden=[8], seed=1, lr=1e-2, batch_size=16, verbose=0)
    full = train_classifier(epochs=4, out=tmp_path / "full", **kw)
    train_classifier(epochs=2, out=tmp_path / "part", **kw)
    resumed = train_classifier(epochs=4, out=tmp_path / "part", resume=True, **kw)
    assert resumed["history"] == full["history"]
    assert resumed["test_accuracy"] == full["test_accuracy"] and resumed["test_loss"] == full["test_loss"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(hidden=[8, 0]), "hidden: expected an integer >= 1, got 0"),
    (dict(epochs=0), "epochs: expected an integer >= 1, got 0"),
    (dict(lr=-1.0), "lr: expected a number > 0.0, got -1.0"),
    (dict(dropout=1.0), "dropout: expected a number < 1.0"),
    (dict(optimizer="adagrad"), "optimizer: expected one of sgd, momentum, adam, adamw, rmsprop, got 'adagrad'"),
    (dict(dataset="mnist"), "dataset: expected one of digits, iris"),
])
def test_bad_settings_raise_value_errors_naming_the_setting(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_classifier(out=tmp_path, verbose=0, **kwargs)
    assert not any(tmp_path.iterdir())  # nothing was written


def test_unknown_dataset_in_the_loader_lists_the_choices():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; choose from digits, iris, wine"):
        load_classification("mnist")


def test_every_registered_recipe_follows_the_contract():
    assert "mlp" in RECIPES
    for name, recipe in RECIPES.items():
        config_cls, run = recipe.load()
        assert callable(run) and recipe.help
        config = config_cls()
        check_config(config)  # the defaults are valid
        for f in dataclasses.fields(config_cls):
            assert f.metadata.get("help"), f"{name}: field {f.name} has no help"
            assert f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def test_run_classifier_takes_a_config(tmp_path):
    config = ClassifierConfig(dataset="moons", hidden=(8,), epochs=1, seed=2)
    r = recipes.run_classifier(config, out=tmp_path)
    assert r["epochs"] == 1 and r["summary"].startswith("moons: test accuracy")
    assert r["std"] is None  # the 2-D sets are used as drawn
