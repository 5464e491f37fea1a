"""Language-model metrics: mean cross-entropy, perplexity and bits per character.

Perplexity = exp(mean cross-entropy in nats) over the predicted tokens; bits per character (or
byte) = mean cross-entropy / ln 2 for a character (byte) level model.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from shendu.metrics.base import Metric, to_numpy


def _token_nll(logits: Any, targets: Any, ignore_index: int) -> np.ndarray:
    """-log softmax(logits)[target] per non-ignored token (float64), logits (..., V), targets (...)."""
    z = np.asarray(to_numpy(logits, "logits"), dtype=np.float64)
    t = np.asarray(to_numpy(targets, "targets")).astype(np.int64)
    if z.shape[:-1] != t.shape:
        raise ValueError(f"perplexity: logits of shape {z.shape} need targets of shape {z.shape[:-1]}, "
                         f"got {t.shape}")
    z, t = z.reshape(-1, z.shape[-1]), t.reshape(-1)
    keep = t != ignore_index
    z, t = z[keep], t[keep]
    if len(t) and (t.min() < 0 or t.max() >= z.shape[1]):
        raise ValueError(f"perplexity: targets must lie in [0, {z.shape[1]}), got values in [{t.min()}, {t.max()}]")
    m = z.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(z - m).sum(axis=1)) + m[:, 0]
    return log_z - z[np.arange(len(t)), t]


def cross_entropy(logits: Any, targets: Any, ignore_index: int = -100) -> float:
    """The mean cross-entropy in nats of logits (..., V) against integer targets (...)."""
    nll = _token_nll(logits, targets, ignore_index)
    return float(nll.mean()) if len(nll) else float("nan")


def perplexity(loss_or_logits: Any, targets: Any = None, ignore_index: int = -100) -> float:
    """exp(mean cross-entropy).

    ``perplexity(mean_ce)`` takes a mean cross-entropy in nats (a number or 0-d tensor, e.g. the
    loss of ``F.cross_entropy``); ``perplexity(logits, targets)`` computes it from logits (..., V)
    and targets (...), skipping targets equal to ``ignore_index``.
    """
    if targets is None:
        ce = np.asarray(to_numpy(loss_or_logits, "loss"), dtype=np.float64)
        if ce.size != 1:
            raise ValueError(f"perplexity: without targets the input must be one mean cross-entropy, got shape "
                             f"{ce.shape}; pass perplexity(logits, targets)")
        return math.exp(float(ce.reshape(())))
    return math.exp(cross_entropy(loss_or_logits, targets, ignore_index))


def bits_per_character(loss_or_logits: Any, targets: Any = None, ignore_index: int = -100) -> float:
    """Mean cross-entropy in bits (nats / ln 2); arguments as ``perplexity``."""
    return math.log(perplexity(loss_or_logits, targets, ignore_index)) / math.log(2)


class Perplexity(Metric):
    """Running perplexity over all tokens: ``update(logits (..., V), targets (...))`` or
    ``update_from_loss(mean_ce, num_tokens)``; ``compute()`` = exp(total NLL / total tokens)."""

    def __init__(self, ignore_index: int = -100):
        self.ignore_index = ignore_index
        super().__init__()

    def reset(self) -> None:
        self.total_nll, self.count = 0.0, 0

    def update(self, logits: Any, targets: Any) -> None:
        """Add a batch: ``logits`` (..., V) and integer ``targets`` (...); ``ignore_index`` targets do not count."""
        nll = _token_nll(logits, targets, self.ignore_index)
        self.total_nll += float(nll.sum())
        self.count += len(nll)

    def update_from_loss(self, mean_ce: Any, num_tokens: int) -> None:
        """Add a batch from its mean cross-entropy ``mean_ce`` (nats per token) over ``num_tokens`` tokens."""
        self.total_nll += float(np.asarray(to_numpy(mean_ce, "mean_ce"), dtype=np.float64)) * num_tokens
        self.count += int(num_tokens)

    def compute(self) -> float:
        return math.exp(self.total_nll / self.count) if self.count else float("nan")
