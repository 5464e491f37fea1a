"""char-lm: the CharRNN on the stdlib corpus learns below the unigram entropy; curves, samples, report."""
import math

from shendu.experiments import available, run_experiment
from shendu.experiments.char_lm import TEMPERATURES


def test_char_lm_quick(tmp_path):
    assert "char-lm" in available()
    events = []
    r = run_experiment("char-lm", tmp_path, seed=0, quick=True, progress=events.append)
    assert [e.index for e in events] == [1, 2, 3, 3] and events[-1].done
    # context helps: the model beats the character frequencies alone, on held-out text too
    assert r["val_bpc"] < r["unigram_bpc"] - 0.5 and r["best_val_bpc"] <= r["val_bpc"]
    assert math.isfinite(r["train_bpc"]) and 3.0 < r["unigram_bpc"] < 6.0
    samples = r["samples"]
    assert list(samples) == list(TEMPERATURES) and all(s.startswith("def ") and len(s) == 4 + 120
                                                       for s in samples.values())
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    for needle in ("bits per character", "unigram entropy", "temperature 0.0 (greedy)", "temperature 1.2",
                   "| seq_len | 32 |", "char_lm_loss.png"):
        assert needle in report, needle
    assert (tmp_path / "char_lm_loss.png").stat().st_size > 10_000
    assert (tmp_path / "checkpoints" / "best.safetensors").exists()
    again = run_experiment("char-lm", tmp_path / "again", seed=0, quick=True)
    assert again["samples"] == samples and again["val_bpc"] == r["val_bpc"]  # deterministic for a seed
