r"""Decoding a sequence model one token at a time: greedy search and beam search.

Both are generic over a *step function*

    ``step(tokens, state) -> (log_probs, state)``

with ``tokens`` the ``(N,)`` int64 tokens fed at this step, ``log_probs`` the ``(N, V)`` log-probabilities
of the next token, and ``state`` anything the model carries between steps: a Tensor or a (nested) tuple
or list of Tensors whose dim 0 is the batch (``None`` and non-Tensor leaves are passed through).

Beam search keeps ``beam_width`` hypotheses per batch item, and the beams are a batch: every time step
is **one** ``step`` call on ``B * beam_width`` rows and one ranking over ``beam_width * V`` candidates
per item, with no Python loop over beams or the vocabulary. A hypothesis ends when it emits
``end_token`` as one of its item's ``beam_width`` best candidates of the step (it then leaves the beam
for a pool of finished hypotheses; the beam goes on with the best candidates that do not end, as in
fairseq), or at ``max_length``. With ``beam_width=1`` and no length penalty this is greedy search.
Finished hypotheses are ranked by the length-normalised score

.. math::
    s(Y) = \frac{\log P(Y \mid X)}{lp(|Y|)}, \qquad
    lp(L) = \left(\frac{5 + L}{6}\right)^{\alpha} \ \text{(``"gnmt"``, Wu et al. 2016)} \quad\text{or}\quad
    L^{\alpha} \ \text{(``"length"``)},

where :math:`|Y|` counts the generated tokens including the end token (not the start token) and
:math:`\alpha` is ``length_penalty`` (0: plain log-probability, which favours short outputs; larger
values favour longer ones). An item stops early once no hypothesis still in its beam can beat its
worst finished one (exact, since log-probabilities only fall as a hypothesis grows).

Everything runs under ``no_grad``.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from shendu import creation
from shendu.grad_mode import no_grad
from shendu.tensor import Tensor

__all__ = ["GreedyOutput", "Hypothesis", "beam_search", "greedy_search", "length_penalty"]

StepFn = Callable[[Tensor, Any], "tuple[Tensor, Any]"]


class Hypothesis(NamedTuple):
    """One decoded sequence: its tokens ``(L,)`` int64 (end token included, start token not) and its score."""

    tokens: Tensor
    score: float


class GreedyOutput(NamedTuple):
    """``tokens`` ``(B, T)`` int64 (after a row's end token: ``pad_token``), ``scores`` ``(B,)`` (the sum of
    the chosen tokens' log-probabilities) and ``lengths`` ``(B,)`` int64 (end token included)."""

    tokens: Tensor
    scores: Tensor
    lengths: Tensor


def length_penalty(length, alpha: float, form: str = "gnmt"):
    """:math:`((5 + L) / 6)^\\alpha` (``"gnmt"``) or :math:`L^\\alpha` (``"length"``); works on numbers and arrays."""
    if form == "gnmt":
        return ((5.0 + length) / 6.0) ** alpha
    if form == "length":
        return (length * 1.0) ** alpha
    raise ValueError(f"length_penalty: form must be 'gnmt' or 'length', got {form!r}")


def _map_state(fn, state):
    """Applies ``fn`` to every Tensor leaf of a (nested) tuple/list, keeping the structure."""
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # a namedtuple
        return type(state)(*(_map_state(fn, s) for s in state))
    if isinstance(state, (tuple, list)):
        return type(state)(_map_state(fn, s) for s in state)
    return state


def _tokens(start_tokens, name: str) -> Tensor:
    t = start_tokens if isinstance(start_tokens, Tensor) else creation.tensor(start_tokens, dtype="int64")
    if t.ndim != 1 or t.dtype.kind not in "iu":
        raise ValueError(f"{name}: start_tokens must be a 1-D integer tensor (B,), got shape {tuple(t.shape)} "
                         f"and dtype {t.dtype}")
    return t.long()


def _log_probs(out, n: int, name: str):
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError(f"{name}: the step function must return (log_probs, state), got {type(out).__name__}")
    log_probs, state = out
    if not isinstance(log_probs, Tensor) or log_probs.ndim != 2 or log_probs.shape[0] != n:
        shape = tuple(log_probs.shape) if isinstance(log_probs, Tensor) else type(log_probs).__name__
        raise ValueError(f"{name}: the step function must return log_probs of shape ({n}, V), got {shape}")
    return log_probs, state


def greedy_search(step: StepFn, start_tokens, state, max_length: int, end_token: int | None = None,
                  pad_token: int | None = None) -> GreedyOutput:
    """Feeds back the most probable token at every step, for a whole batch at once.

    Args:
        step: ``step(tokens (B,), state) -> (log_probs (B, V), state)``.
        start_tokens: ``(B,)`` the first tokens fed (e.g. a start-of-sequence id).
        state: the initial state (Tensors with the batch in dim 0, possibly nested in tuples).
        max_length: the most tokens generated per row.
        end_token: a row stops after emitting it (None: every row runs ``max_length`` steps).
        pad_token: fills a row after its end token. Default: ``end_token`` (0 if that is None).

    Returns a :class:`GreedyOutput`; ``tokens`` has as many columns as the longest row needed.
    """
    if max_length < 1:
        raise ValueError(f"greedy_search: max_length must be at least 1, got {max_length}")
    pad = pad_token if pad_token is not None else (end_token if end_token is not None else 0)
    with no_grad():
        tokens = _tokens(start_tokens, "greedy_search")
        B = tokens.shape[0]
        xp = tokens._xp()
        rows = xp.arange(B)
        out = xp.full((B, max_length), pad, dtype=xp.int64)
        scores = xp.zeros(B, dtype=xp.float64)
        lengths = xp.full(B, max_length, dtype=xp.int64)
        finished = xp.zeros(B, dtype=bool)
        dtype, steps = None, 0
        for t in range(max_length):
            log_probs, state = _log_probs(step(tokens, state), B, "greedy_search")
            lp = log_probs._data
            dtype = lp.dtype
            choice = lp.argmax(axis=1)
            scores += xp.where(finished, 0.0, lp[rows, choice])
            out[:, t] = xp.where(finished, pad, choice)
            steps = t + 1
            if end_token is not None:
                newly = ~finished & (choice == end_token)
                lengths[newly] = t + 1
                finished |= newly
                if finished.all():
                    break
                choice = xp.where(finished, end_token, choice)  # finished rows keep feeding the end token
            tokens = Tensor._wrap(choice.astype(xp.int64))
        return GreedyOutput(Tensor._wrap(out[:, :steps].copy()), Tensor._wrap(scores.astype(dtype)),
                            Tensor._wrap(xp.minimum(lengths, steps)))


def beam_search(step: StepFn, start_tokens, state, beam_width: int, max_length: int,
                end_token: int | None = None, length_penalty: float = 0.0, penalty: str = "gnmt",
                n_best: int = 1) -> list[list[Hypothesis]]:
    """Beam search over a batch, the ``B * beam_width`` beams decoded as one batch.

    Args:
        step: ``step(tokens (N,), state) -> (log_probs (N, V), state)``, called with ``N = B * beam_width``
            (the rows of batch item ``b`` are ``b * beam_width ... (b + 1) * beam_width - 1``).
        start_tokens: ``(B,)`` the first tokens fed.
        state: the initial state for the ``B`` items (batch in dim 0); it is repeated for the beams and
            reordered along dim 0 after every step to follow the surviving beams.
        beam_width: hypotheses kept per item (1 with ``length_penalty=0`` is greedy search).
        max_length: the most tokens generated; hypotheses still open then are scored as they are.
        end_token: ends a hypothesis (None: all hypotheses run ``max_length`` steps).
        length_penalty: :math:`\\alpha` of the length normalisation (see the module docstring). Default: 0.
        penalty: ``"gnmt"`` (:math:`((5 + L)/6)^\\alpha`, the default) or ``"length"`` (:math:`L^\\alpha`).
        n_best: hypotheses returned per item (at most ``beam_width``).

    Returns one list per batch item of up to ``n_best`` :class:`Hypothesis` ``(tokens, score)``, best first.
    """
    if beam_width < 1 or max_length < 1:
        raise ValueError(f"beam_search: beam_width and max_length must be at least 1, got {beam_width} and "
                         f"{max_length}")
    if not 1 <= n_best <= beam_width:
        raise ValueError(f"beam_search: n_best must lie in [1, beam_width={beam_width}], got {n_best}")
    lp_of = _penalty_fn(length_penalty, penalty)
    K = beam_width
    with no_grad():
        start = _tokens(start_tokens, "beam_search")
        B = start.shape[0]
        xp = start._xp()
        rows = xp.arange(B)[:, None]                                   # (B, 1)
        repeat = Tensor._wrap(xp.repeat(xp.arange(B), K))
        state = _map_state(lambda s: s.index_select(0, repeat), state)
        tokens = Tensor._wrap(xp.repeat(start._data, K))
        scores = xp.full((B, K), -xp.inf)
        scores[:, 0] = 0.0                                             # one live beam until the first step
        history = xp.zeros((B, K, 0), dtype=xp.int64)
        pool = _Pool(xp, B, K, max_length)
        done = xp.zeros(B, dtype=bool)
        for t in range(max_length):
            log_probs, state = _log_probs(step(tokens, state), B * K, "beam_search")
            V = log_probs.shape[1]
            cand = scores[:, :, None] + log_probs._data.reshape(B, K, V).astype(xp.float64)  # (B, K, V)
            L = t + 1
            if end_token is not None:
                # An ending counts only if it is among the item's K best candidates of this step (as in
                # fairseq and Hugging Face), so beam_width=1 is exactly greedy search.
                best = _top(cand.reshape(B, K * V), K, xp)             # (B, K)
                ended = (best % V == end_token) & ~done[:, None]
                ended_scores = xp.where(ended, xp.take_along_axis(cand.reshape(B, K * V), best, axis=1) / lp_of(L),
                                        -xp.inf)
                ended_tokens = xp.concatenate([history[rows, best // V],
                                               xp.full((B, K, 1), end_token, dtype=xp.int64)], axis=2)
                pool.add(ended_scores, ended_tokens, L)
                cand[:, :, end_token] = -xp.inf                        # an ended hypothesis leaves the beam
            flat = cand.reshape(B, K * V)
            top = _top(flat, K, xp)                                    # (B, K)
            beam, token = top // V, top % V
            scores = xp.take_along_axis(flat, top, axis=1)
            history = xp.concatenate([history[rows, beam], token[:, :, None]], axis=2)  # (B, K, L)
            if L == max_length:
                open_scores = xp.where(done[:, None], -xp.inf, scores / lp_of(L))
                pool.add(open_scores, history, L)
                break
            if end_token is not None:
                # The best a live hypothesis can still reach: its log-probability only falls, and the
                # penalty divides it by at most max(lp) over the lengths still possible.
                bound = scores[:, 0] / max(lp_of(L + 1), lp_of(max_length))
                done |= pool.worst() >= bound
                if done.all():
                    break
            order = Tensor._wrap((rows * K + beam).reshape(-1))
            state = _map_state(lambda s: s.index_select(0, order), state)
            tokens = Tensor._wrap(token.reshape(-1).astype(xp.int64))
        return pool.results(n_best)


def _top(flat, k: int, xp):
    """Indices of the ``k`` largest entries of each row, best first; ties go to the lower index."""
    return xp.argsort(-flat, axis=1, kind="stable")[:, :k]


def _penalty_fn(alpha: float, form: str):
    if form not in ("gnmt", "length"):
        raise ValueError(f"beam_search: penalty must be 'gnmt' or 'length', got {form!r}")
    return lambda L: length_penalty(L, alpha, form)


class _Pool:
    """Each batch item's best ``K`` finished hypotheses: scores ``(B, K)`` sorted best first, padded tokens."""

    def __init__(self, xp, B: int, K: int, max_length: int):
        self.xp, self.K, self.max_length = xp, K, max_length
        self.scores = xp.full((B, K), -xp.inf)
        self.tokens = xp.zeros((B, K, max_length), dtype=xp.int64)
        self.lengths = xp.zeros((B, K), dtype=xp.int64)

    def add(self, scores, tokens, length: int) -> None:
        """Merges ``K`` new hypotheses per item (``-inf`` scores: none) of ``length`` tokens each."""
        xp = self.xp
        B = scores.shape[0]
        padded = xp.zeros((B, scores.shape[1], self.max_length), dtype=xp.int64)
        padded[:, :, :length] = tokens
        all_scores = xp.concatenate([self.scores, scores], axis=1)                      # (B, 2K)
        keep = xp.argsort(-all_scores, axis=1, kind="stable")[:, :self.K]             # old ones win ties
        rows = xp.arange(B)[:, None]
        self.scores = all_scores[rows, keep]
        self.tokens = xp.concatenate([self.tokens, padded], axis=1)[rows, keep]
        self.lengths = xp.concatenate([self.lengths, xp.full(scores.shape, length, dtype=xp.int64)], axis=1)[rows, keep]

    def worst(self):
        return self.scores[:, -1]

    def results(self, n_best: int) -> list[list[Hypothesis]]:
        out = []
        for b in range(self.scores.shape[0]):  # building the Python lists the caller asked for
            hyps = []
            for k in range(n_best):
                s = float(self.scores[b, k])
                if s == -math.inf:
                    break
                hyps.append(Hypothesis(Tensor._wrap(self.tokens[b, k, :self.lengths[b, k]].copy()), s))
            out.append(hyps)
        return out
