"""Perplexity and cross-entropy against PyTorch's cross_entropy."""
import math

import numpy as np
import pytest
import torch

import shendu as sd
from shendu import metrics as M


def test_perplexity_from_logits_matches_torch():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(4, 7, 11)).astype(np.float32)
    targets = rng.integers(0, 11, (4, 7))
    targets[0, :3] = -100
    ce = torch.nn.functional.cross_entropy(torch.tensor(logits).reshape(-1, 11), torch.tensor(targets).reshape(-1))
    assert M.cross_entropy(logits, targets) == pytest.approx(ce.item(), rel=1e-5)
    assert M.perplexity(sd.tensor(logits), sd.tensor(targets)) == pytest.approx(math.exp(ce.item()), rel=1e-5)
    assert M.perplexity(ce.item()) == pytest.approx(math.exp(ce.item()))
    assert M.perplexity(sd.tensor(2.0)) == pytest.approx(math.exp(2.0))
    assert M.bits_per_character(math.log(2) * 1.5) == pytest.approx(1.5)
    uniform = np.zeros((5, 8))
    assert M.perplexity(uniform, np.arange(5)) == pytest.approx(8.0)


def test_running_perplexity():
    rng = np.random.default_rng(1)
    logits, targets = rng.normal(size=(6, 5, 9)), rng.integers(0, 9, (6, 5))
    ppl = M.Perplexity()
    for i in range(0, 6, 4):
        ppl.update(logits[i:i + 4], targets[i:i + 4])
    assert ppl.compute() == pytest.approx(M.perplexity(logits, targets))
    ppl.reset()
    ppl.update_from_loss(1.0, 10)
    ppl.update_from_loss(2.0, 30)
    assert ppl.compute() == pytest.approx(math.exp(1.75))
    with pytest.raises(ValueError, match="targets"):
        M.perplexity(logits, targets[:, :2])
