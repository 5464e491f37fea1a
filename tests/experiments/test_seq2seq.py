"""seq2seq: the quick run learns to reverse digit strings; greedy and beam search both reach high exact match."""
import numpy as np
import pytest

from shendu.experiments import run_experiment
from shendu.experiments.seq2seq import EOS, FIRST_DIGIT, PAD, reversal_batch


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("seq2seq")
    return out, run_experiment("seq2seq", out, seed=0, quick=True)


def test_quick_run_learns_reversal(results):
    _, r = results
    for method in ("greedy", "beam", "beam_lp"):
        assert r["exact_match"][method] >= 0.9, (method, r["exact_match"])  # 0.99 at seed 0
    assert r["final_loss"] < 0.05
    assert r["attention_antidiagonal_mass"] > 0.5  # it attends to the mirrored source position
    curve = r["exact_match_during_training"]
    assert len(curve["step"]) == 8 and curve["greedy"][-1] > curve["greedy"][0] - 0.05


def test_writes_report_and_figures(results):
    out, r = results
    for name in ("report.md", "training.png", "exact_match_by_length.png", "attention.png"):
        assert (out / name).stat().st_size > 0, name
    report = (out / "report.md").read_text()
    assert "| greedy |" in report and "beam (width 5)" in report and "longer than in training" in report
    assert f"{r['exact_match']['greedy']:.3f}" in report


def test_reversal_batch():
    src, lengths, tgt = reversal_batch(np.random.default_rng(0), 16, 2, 6)
    assert src.shape[0] == tgt.shape[0] == 16 and tgt.shape[1] == src.shape[1] + 1
    for b in range(16):
        L = lengths[b]
        assert 2 <= L <= 6 and (src[b, :L] >= FIRST_DIGIT).all() and (src[b, L:] == PAD).all()
        assert tgt[b, :L].tolist() == src[b, :L][::-1].tolist()
        assert tgt[b, L] == EOS and (tgt[b, L + 1:] == PAD).all()
