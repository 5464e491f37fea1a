"""Greedy and beam search against exhaustive search on small step functions (shendu.text.decoding)."""
import itertools
import math

import numpy as np
import pytest

import shendu as sd
from shendu.text import GreedyOutput, Hypothesis, beam_search, greedy_search, length_penalty

END = 0


class RecurrentToy:
    """A tiny random recurrent "model": h' = tanh(W h + E[token]), log p = log_softmax(U h').

    Its next-token distribution depends on the whole prefix through the state, so beam search only
    matches exhaustive search if the state follows each beam when the beams are reordered.
    """

    def __init__(self, V=4, H=5, seed=0, sharp=3.0):
        rng = np.random.default_rng(seed)
        self.V, self.H = V, H
        self.W = rng.standard_normal((H, H)) / math.sqrt(H)
        self.E = rng.standard_normal((V, H))
        self.U = sharp * rng.standard_normal((V, H))
        self.calls = []

    def init(self, B):
        rng = np.random.default_rng(1)
        return (sd.from_numpy(rng.standard_normal((B, self.H))),)

    def step(self, tokens, state):
        (h,) = state
        self.calls.append(tokens.shape[0])
        h = (h @ sd.from_numpy(self.W.T) + sd.from_numpy(self.E)[tokens]).tanh()
        return (h @ sd.from_numpy(self.U.T)).log_softmax(-1), (h,)

    def sequence_log_prob(self, h0, start, seq):
        h, tok, total = h0, start, 0.0
        for s in seq:
            h = np.tanh(self.W @ h + self.E[tok])
            z = self.U @ h
            total += (z - np.log(np.exp(z - z.max()).sum()) - z.max())[s]
            tok = s
        return total


def exhaustive(model, h0, start, max_length, alpha=0.0, form="gnmt", end=END):
    """Every finished sequence (ends in END, or reaches max_length) with its normalised score, best first."""
    out = []
    for L in range(1, max_length + 1):
        for seq in itertools.product(range(model.V), repeat=L):
            if end is not None and (end in seq[:-1] or (L < max_length and seq[-1] != end)):
                continue
            s = model.sequence_log_prob(h0, start, seq) / length_penalty(L, alpha, form)
            out.append((list(seq), s))
    return sorted(out, key=lambda x: -x[1])


def test_width_one_equals_greedy():
    model = RecurrentToy(V=6, seed=3)
    B = 5
    start = sd.tensor([1, 2, 3, 4, 5])
    g = greedy_search(model.step, start, model.init(B), max_length=7, end_token=END)
    assert isinstance(g, GreedyOutput) and g.tokens.dtype == np.int64
    beams = beam_search(model.step, start, model.init(B), beam_width=1, max_length=7, end_token=END)
    for b in range(B):
        (hyp,) = beams[b]
        L = int(g.lengths[b])
        assert hyp.tokens.tolist() == g.tokens[b, :L].tolist()
        assert hyp.score == pytest.approx(float(g.scores[b]), rel=1e-5)
        assert (g.tokens[b, L:] == END).all()


def test_width_one_is_greedy_even_where_an_early_end_is_more_probable():
    # The end token is never the most probable token, so greedy writes "a" up to max_length
    # (0.7 * 0.9^11 = 0.22), though ending at once (0.3) is more probable. Width 1 keeps an ending only
    # when it is the step's best candidate, so it follows greedy.
    table = np.log(np.array([[0.5, 0.5], [0.1, 0.9], [0.3, 0.7]]))

    def step(tokens, state):
        return sd.from_numpy(table)[tokens], state

    g = greedy_search(step, sd.tensor([2]), None, max_length=12, end_token=END)
    assert g.tokens.tolist() == [[1] * 12]
    (one,) = beam_search(step, sd.tensor([2]), None, beam_width=1, max_length=12, end_token=END)[0]
    assert one.tokens.tolist() == [1] * 12
    assert one.score == pytest.approx(float(g.scores[0]), rel=1e-6)
    assert one.score < math.log(0.3)
    # a wider beam does rank the early ending: [END] (0.3) beats twelve "a" (0.7 * 0.9^11 = 0.22)
    (best,) = beam_search(step, sd.tensor([2]), None, beam_width=2, max_length=12, end_token=END)[0]
    assert best.tokens.tolist() == [END]


def test_greedy_matches_a_per_row_argmax_loop():
    model = RecurrentToy(V=5, seed=7)
    h0 = model.init(3)[0].numpy()
    g = greedy_search(model.step, sd.tensor([1, 2, 3]), model.init(3), max_length=6, end_token=END, pad_token=-1)
    for b, start in enumerate([1, 2, 3]):
        h, tok, seq, total = h0[b], start, [], 0.0
        for _ in range(6):
            h = np.tanh(model.W @ h + model.E[tok])
            z = model.U @ h
            logp = z - z.max() - np.log(np.exp(z - z.max()).sum())
            tok = int(np.argmax(logp))
            seq.append(tok)
            total += logp[tok]
            if tok == END:
                break
        L = len(seq)
        assert g.tokens[b, :L].tolist() == seq and int(g.lengths[b]) == L
        assert (g.tokens[b, L:] == -1).all()
        assert float(g.scores[b]) == pytest.approx(total, rel=1e-6)


def test_beam_finds_the_best_sequence_where_greedy_does_not():
    # Step 1: "a" 0.6, "b" 0.4. After "a" every continuation is weak (best 0.4); after "b" the end
    # token has 0.9. Greedy takes "a" (0.6 * 0.4 = 0.24); the best sequence is "b", end (0.36).
    A, Bt = 1, 2
    table = np.log(np.array([
        [0.34, 0.33, 0.33],   # after END (unused)
        [0.40, 0.30, 0.30],   # after "a"
        [0.90, 0.05, 0.05],   # after "b"
        [0.00, 0.60, 0.40],   # after the start token (3)
    ]) + 1e-30)

    def step(tokens, state):
        return sd.from_numpy(table)[tokens], state

    start = sd.tensor([3])
    g = greedy_search(step, start, None, max_length=5, end_token=END)
    assert g.tokens[0, :2].tolist() == [A, END]
    (best,) = beam_search(step, start, None, beam_width=2, max_length=5, end_token=END)[0]
    assert best.tokens.tolist() == [Bt, END]
    assert best.score == pytest.approx(math.log(0.36), rel=1e-6)
    assert float(g.scores[0]) == pytest.approx(math.log(0.24), rel=1e-6)


@pytest.mark.parametrize("alpha,form", [(0.0, "gnmt"), (1.0, "gnmt"), (0.7, "length")])
def test_wide_beam_is_exhaustive_search_with_sorted_n_best(alpha, form):
    model = RecurrentToy(V=3, seed=11, sharp=2.0)
    B, max_length, K = 2, 4, 27  # 27 = 3^3 beams never prune a prefix of length <= 3
    start = sd.tensor([1, 2])
    h0 = model.init(B)[0].numpy()
    model.calls.clear()
    beams = beam_search(model.step, start, model.init(B), beam_width=K, max_length=max_length, end_token=END,
                        length_penalty=alpha, penalty=form, n_best=10)
    assert model.calls and all(n == B * K for n in model.calls)  # the beams are one batch
    assert len(model.calls) <= max_length                         # one step call per time step
    for b in range(B):
        ref = exhaustive(model, h0[b], int(start[b]), max_length, alpha, form)[:10]
        got = beams[b]
        assert all(isinstance(h, Hypothesis) for h in got)
        assert [h.score for h in got] == sorted([h.score for h in got], reverse=True)
        np.testing.assert_allclose([h.score for h in got], [s for _, s in ref], rtol=1e-9)
        assert [h.tokens.tolist() for h in got] == [seq for seq, _ in ref]


def test_narrow_beam_n_best_are_valid_and_sorted():
    model = RecurrentToy(V=5, seed=2)
    h0 = model.init(3)[0].numpy()
    beams = beam_search(model.step, sd.tensor([1, 2, 3]), model.init(3), beam_width=4, max_length=6,
                        end_token=END, length_penalty=0.6, n_best=4)
    for b, hyps in enumerate(beams):
        assert len(hyps) == 4
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        for h in hyps:  # each score is the hypothesis' own normalised log-probability
            seq = h.tokens.tolist()
            assert END not in seq[:-1] and (seq[-1] == END or len(seq) == 6)
            ref = model.sequence_log_prob(h0[b], b + 1, seq) / length_penalty(len(seq), 0.6)
            assert h.score == pytest.approx(ref, rel=1e-6)
        assert len({tuple(h.tokens.tolist()) for h in hyps}) == 4


def test_length_penalty_changes_the_choice():
    # [END] has p = 0.5; ["a", END] has 0.5 * 0.9 = 0.45: more probable short, better normalised long.
    table = np.log(np.array([[0.5, 0.5], [0.9, 0.1], [0.5, 0.5]]))

    def step(tokens, state):
        return sd.from_numpy(table)[tokens], state

    def best(alpha, form):
        return beam_search(step, sd.tensor([2]), None, beam_width=2, max_length=4, end_token=END,
                           length_penalty=alpha, penalty=form)[0][0]

    assert best(0.0, "gnmt").tokens.tolist() == [END]
    assert best(1.0, "length").tokens.tolist() == [1, END]
    assert best(1.0, "length").score == pytest.approx(math.log(0.45) / 2)
    assert best(1.0, "gnmt").tokens.tolist() == [1, END]            # log .45 / (7/6) > log .5 / 1
    assert best(0.1, "gnmt").tokens.tolist() == [END]               # too weak a penalty to flip it
    assert length_penalty(3, 0.5) == pytest.approx(((5 + 3) / 6) ** 0.5)
    assert length_penalty(3, 0.5, "length") == pytest.approx(3 ** 0.5)


def test_no_end_token_runs_to_max_length_and_nested_state():
    model = RecurrentToy(V=4, seed=5)

    def step(tokens, state):  # a nested state with a None leaf and a namedtuple-free tuple
        (h,), (count, extra) = state
        assert extra is None
        lp, (h,) = model.step(tokens, (h,))
        return lp, ((h,), (count + 1, None))

    B = 2
    state = (model.init(B), (sd.zeros(B), None))
    beams = beam_search(step, sd.tensor([1, 1]), state, beam_width=3, max_length=5, n_best=3)
    for hyps in beams:
        assert len(hyps) == 3 and all(len(h.tokens) == 5 for h in hyps)
    g = greedy_search(step, sd.tensor([1, 1]), state, max_length=5)
    assert g.tokens.shape == (B, 5) and g.lengths.tolist() == [5, 5]
    h0 = model.init(B)[0].numpy()
    # without an end token, width-1 beam search is greedy too
    one = beam_search(step, sd.tensor([1, 1]), state, beam_width=1, max_length=5)
    for b in range(B):
        assert one[b][0].tokens.tolist() == g.tokens[b].tolist()
        assert one[b][0].score == pytest.approx(model.sequence_log_prob(h0[b], 1, g.tokens[b].tolist()), rel=1e-6)


def test_decoding_records_no_graph():
    model = RecurrentToy(V=4)
    h = sd.from_numpy(np.ones((1, model.H))).requires_grad_()
    seen = []

    def step(tokens, state):
        seen.append(sd.is_grad_enabled())
        return model.step(tokens, state)

    beam_search(step, sd.tensor([1]), (h,), beam_width=2, max_length=3)
    greedy_search(step, sd.tensor([1]), (h,), max_length=3)
    assert seen and not any(seen)


def test_bad_arguments():
    model = RecurrentToy(V=4)
    with pytest.raises(ValueError, match="n_best must lie in"):
        beam_search(model.step, sd.tensor([1]), model.init(1), beam_width=2, max_length=3, n_best=3)
    with pytest.raises(ValueError, match="penalty must be 'gnmt' or 'length'"):
        beam_search(model.step, sd.tensor([1]), model.init(1), beam_width=2, max_length=3, penalty="avg")
    with pytest.raises(ValueError, match=r"start_tokens must be a 1-D integer tensor \(B,\), got shape \(1, 1\)"):
        greedy_search(model.step, sd.tensor([[1]]), model.init(1), max_length=3)
    with pytest.raises(ValueError, match=r"log_probs of shape \(2, V\), got \(2,\)"):
        beam_search(lambda t, s: (sd.zeros(2), s), sd.tensor([1]), None, beam_width=2, max_length=3)
    with pytest.raises(TypeError, match=r"must return \(log_probs, state\)"):
        greedy_search(lambda t, s: sd.zeros(1, 3), sd.tensor([1]), None, max_length=3)
