"""transfer: the labelled task is made from the stdlib without overlap; the quick run pretrains, fine-tunes at
each label count (pretrained and from scratch), compares LoRA with full fine-tuning, and writes its report."""
import numpy as np

from shendu.experiments import available, run_experiment
from shendu.experiments.transfer import PACKAGES, QUICK, make_task


def test_task_is_balanced_nested_and_disjoint():
    pool, test = make_task(0, test_per_class=20, max_train=80)
    assert len(test) == 20 * len(PACKAGES) and len(pool) == 80
    assert {r["label"] for r in test} == set(PACKAGES)
    assert not {r["text"] for r in pool} & {r["text"] for r in test}
    assert len({r["text"] for r in pool + test}) == len(pool) + len(test)   # a line has one label
    again, _ = make_task(0, test_per_class=20, max_train=80)
    assert again == pool


def test_transfer_quick(tmp_path):
    assert "transfer" in available()
    events = []
    r = run_experiment("transfer", tmp_path, seed=0, quick=True, progress=events.append)
    assert [e.index for e in events][:5] == [1, 2, 3, 4, 5]
    counts = list(QUICK["label_counts"])
    assert r["label_counts"] == counts
    for key in ("pretrained_accuracy", "scratch_accuracy"):
        assert len(r[key]) == len(counts) and all(0.0 <= a <= 1.0 for a in r[key])
    # every accuracy is a fraction of the test set
    assert all(float(a * r["test_size"]).is_integer() for a in r["pretrained_accuracy"] + r["scratch_accuracy"])
    assert r["lora"]["trainable_parameters"] < r["full"]["trainable_parameters"] / 5
    assert r["full"]["trainable_parameters"] == r["parameters"]
    assert np.isfinite(r["pretrain_val_loss"]) and r["pretrain_val_loss"] < np.log(r["vocab_size"]) + 0.5
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    for needle in ("| labelled lines | pretrained | from scratch |",
                   f"| {counts[-1]} | {r['pretrained_accuracy'][-1]:.3f}", f"{r['lora']['trainable_parameters']:,}",
                   "transfer_learning_curves.png", "transfer_lora.png"):
        assert needle in report, needle
    for name in ("transfer_learning_curves.png", "transfer_lora.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    assert (tmp_path / "pretrain" / "model" / "model.safetensors").exists()
