"""seq2seq: an attention encoder-decoder learns to reverse digit sequences; greedy vs beam search.

Sources are random digit strings of length ``min_length..max_length``; the target is the same string
reversed, then an end token. ``shendu.models.Seq2Seq`` (a bidirectional GRU encoder, a GRU decoder
with additive attention) is trained by teacher forcing with Adam and gradient clipping, then decodes
a held-out test set greedily and by beam search. Exact match (the whole output sequence right) is
reported by source length, also for lengths longer than any seen in training, where the model is
less sure and the decoders differ most. The attention matrices of a few examples show the
alignment it learns: output position t attends to source position L - 1 - t, the anti-diagonal.
The full run also trains an LSTM with Luong's multiplicative ("general") attention the same way.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import shendu as sd
from shendu import optim
from shendu.experiments._progress import stages
from shendu.experiments.plotting import pyplot, save
from shendu.models.seq2seq import Seq2Seq
from shendu.nn.utils import clip_grad_norm_

PAD, BOS, EOS = 0, 1, 2
FIRST_DIGIT = 3  # ids 3..12 are the digits 0..9
VOCAB = FIRST_DIGIT + 10


@dataclass
class Settings:
    """Everything the run depends on (written into the report)."""

    min_length: int = 3
    max_length: int = 10
    longer: int = 2           # test lengths max_length + 1 .. max_length + longer, never seen in training
    steps: int = 1200
    batch_size: int = 64
    embedding_dim: int = 32
    hidden_size: int = 64
    attention: str = "additive"
    cell: str = "gru"
    lr: float = 3e-3
    clip: float = 1.0
    beam_width: int = 5
    length_penalty: float = 1.0  # alpha of the "beam_lp" decoder (GNMT's ((5 + L)/6)^alpha); "beam" uses 0
    test_per_length: int = 100
    checkpoint_size: int = 200  # mixed-length sequences decoded at each of 8 checkpoints during training
    compare: tuple = ()         # further (cell, attention) models trained and tested the same way


QUICK = Settings(max_length=8, steps=300, test_per_length=40, checkpoint_size=100)
FULL = Settings(compare=(("lstm", "general"),))


def reversal_batch(rng: np.random.Generator, n: int, min_length: int, max_length: int) -> tuple:
    """``(src (n, T), lengths (n,), tgt (n, T + 1))``: random digit ids, padded with PAD; ``tgt`` is the
    reversed source then EOS."""
    lengths = rng.integers(min_length, max_length + 1, size=n)
    T = int(lengths.max())
    digits = rng.integers(FIRST_DIGIT, VOCAB, size=(n, T))
    pos = np.arange(T)[None, :]
    src = np.where(pos < lengths[:, None], digits, PAD)
    # target position t holds source position L - 1 - t: one gather, no loop over rows
    idx = np.clip(lengths[:, None] - 1 - pos, 0, T - 1)
    rev = np.where(pos < lengths[:, None], np.take_along_axis(digits, idx, axis=1), PAD)
    tgt = np.concatenate([rev, np.full((n, 1), PAD)], axis=1)
    tgt[np.arange(n), lengths] = EOS
    return src.astype(np.int64), lengths.astype(np.int64), tgt.astype(np.int64)


def train(model: Seq2Seq, s: Settings, seed: int, on_checkpoint=None, checkpoints: int = 8) -> list[float]:
    """Teacher-forced training; returns the loss of every step. ``on_checkpoint(step)`` runs (in eval
    mode) ``checkpoints`` times, evenly spaced, the last after the final step."""
    rng = np.random.default_rng(seed)
    opt = optim.Adam(model.parameters(), lr=s.lr)
    # cosine decay to a twentieth: a constant 3e-3 leaves late loss spikes that cost exact matches
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s.steps, eta_min=s.lr / 20)
    losses = []
    marks = {round(s.steps * (i + 1) / checkpoints) for i in range(checkpoints)}
    for step in range(1, s.steps + 1):
        model.train()
        src, lengths, tgt = reversal_batch(rng, s.batch_size, s.min_length, s.max_length)
        loss = model.loss(sd.from_numpy(src), sd.from_numpy(lengths), sd.from_numpy(tgt), sd.from_numpy(lengths + 1))
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), s.clip)
        opt.step()
        schedule.step()
        losses.append(float(loss))
        if on_checkpoint is not None and step in marks:
            model.eval()
            on_checkpoint(step)
    model.eval()
    return losses


def decode(model: Seq2Seq, src, lengths, method: str, s: Settings, max_length: int):
    """``greedy``, ``beam`` (length penalty 0) or ``beam_lp`` (``s.length_penalty``) decoding of a batch."""
    args = (sd.from_numpy(src), sd.from_numpy(lengths))
    if method == "greedy":
        return model.greedy(*args, max_length=max_length)
    alpha = s.length_penalty if method == "beam_lp" else 0.0
    return model.beam_search(*args, beam_width=s.beam_width, max_length=max_length, length_penalty=alpha)


def exact_match(model: Seq2Seq, src, lengths, tgt, method: str, s: Settings) -> np.ndarray:
    """Per example: did decoding reproduce the whole target (EOS included)?"""
    out = decode(model, src, lengths, method, s, max_length=tgt.shape[1] + 2)
    tokens, out_lengths = out.tokens.numpy(), out.lengths.numpy()
    T = max(tokens.shape[1], tgt.shape[1])
    a = np.full((len(src), T), PAD)
    b = np.full((len(src), T), PAD)
    a[:, :tokens.shape[1]], b[:, :tgt.shape[1]] = tokens, tgt
    return np.all(a == b, axis=1) & (out_lengths == lengths + 1)


METHODS = ("greedy", "beam", "beam_lp")


def _names(s: Settings) -> dict:
    return {"greedy": "greedy", "beam": f"beam (width {s.beam_width})",
            "beam_lp": f"beam (width {s.beam_width}, α = {s.length_penalty:g})"}


def train_and_evaluate(s: Settings, seed: int, cell: str, attention: str) -> dict:
    """Trains one model on reversal and measures exact match (during training, then by source length)."""
    sd.manual_seed(seed)
    model = Seq2Seq(VOCAB, VOCAB, embedding_dim=s.embedding_dim, hidden_size=s.hidden_size, cell=cell,
                    attention=attention, pad_token=PAD, bos_token=BOS, eos_token=EOS)
    # during training: exact match on a fixed mixed-length set, also while the model is still unsure
    check = reversal_batch(np.random.default_rng(seed + 3), s.checkpoint_size, s.min_length, s.max_length)
    curve = {"step": [], **{m: [] for m in METHODS}}
    eval_seconds = [0.0]

    def checkpoint(step):
        t0 = time.perf_counter()
        curve["step"].append(step)
        for m in METHODS:
            curve[m].append(float(exact_match(model, *check, m, s).mean()))
        eval_seconds[0] += time.perf_counter() - t0

    start = time.perf_counter()
    losses = train(model, s, seed, checkpoint)
    train_seconds = time.perf_counter() - start - eval_seconds[0]
    rng = np.random.default_rng(seed + 1)
    by_length = {}
    for L in range(s.min_length, s.max_length + s.longer + 1):
        batch = reversal_batch(rng, s.test_per_length, L, L)
        by_length[L] = {m: float(exact_match(model, *batch, m, s).mean()) for m in METHODS}
    seen = [L for L in by_length if L <= s.max_length]
    longer = [L for L in by_length if L > s.max_length]
    return {
        "model": model, "losses": losses, "cell": cell, "attention": attention, "train_seconds": train_seconds,
        "final_loss": float(np.mean(losses[-20:])),
        "exact_match": {m: float(np.mean([by_length[L][m] for L in seen])) for m in METHODS},
        "exact_match_longer": {m: float(np.mean([by_length[L][m] for L in longer])) if longer else None
                               for m in METHODS},
        "exact_match_by_length": by_length, "exact_match_during_training": curve,
    }


def run(out: Path, seed: int = 0, quick: bool = False, progress=None) -> dict:
    s = QUICK if quick else FULL
    stage = stages(progress, "seq2seq", 3 + len(s.compare))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    stage(f"{s.cell.upper()} + {s.attention} attention: training on lengths {s.min_length}-{s.max_length} "
          f"({s.steps} steps), exact match by length")
    main = train_and_evaluate(s, seed, s.cell, s.attention)
    model, losses = main.pop("model"), main.pop("losses")
    results = {"settings": asdict(s), "seed": seed, **main, "variants": []}
    for cell, attention in s.compare:
        stage(f"{cell.upper()} + {attention} attention: the same training and tests")
        other = train_and_evaluate(s, seed, cell, attention)
        other.pop("model"), other.pop("losses")
        results["variants"].append(other)

    stage("figures: training curves, exact match by length, attention matrices")
    _figures(out, model, s, seed, losses, main["exact_match_during_training"], main["exact_match_by_length"], results)
    stage("writing the report")
    _write_report(out, results)
    stage.close()
    return results


def _figures(out: Path, model: Seq2Seq, s: Settings, seed: int, losses, curve, by_length, results) -> None:
    plt = pyplot()
    names = _names(s)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax.semilogy(losses, lw=0.8, color="tab:blue", alpha=0.5, label="per step")
    k = max(1, len(losses) // 50)
    ax.semilogy(np.arange(len(losses))[k - 1:], np.convolve(losses, np.ones(k) / k, mode="valid"), color="tab:blue",
                label=f"mean of {k}")
    ax.set_xlabel("training step")
    ax.set_ylabel("cross-entropy per target token")
    ax.legend()
    for m, style in zip(METHODS, ("o-", "s--", "^:")):
        ax2.plot(curve["step"], curve[m], style, label=names[m])
    ax2.set_xlabel("training step")
    ax2.set_ylabel(f"exact match ({s.checkpoint_size} sequences)")
    ax2.set_ylim(0, 1.05)
    ax2.legend(loc="lower right")
    save(fig, out / "training.png")

    fig, ax = plt.subplots(figsize=(7, 3.5))
    Ls = np.array(list(by_length))
    for i, m in enumerate(METHODS):
        ax.bar(Ls + (i - 1) * 0.27, [by_length[L][m] for L in Ls], width=0.27, label=names[m])
    ax.axvline(s.max_length + 0.5, color="gray", ls="--", lw=1)
    ax.set_xlabel("source length (right of the dashed line: longer than in training)")
    ax.set_ylabel("exact match")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower left", fontsize=8)
    save(fig, out / "exact_match_by_length.png")

    src, lengths, _ = reversal_batch(np.random.default_rng(seed + 2), 4, s.min_length + 2, s.max_length)
    decoded = model.greedy(sd.from_numpy(src), sd.from_numpy(lengths))
    weights, tokens = decoded.attention.numpy(), decoded.tokens.numpy()
    fig, axes = plt.subplots(2, 2, figsize=(9, 7.5), layout="constrained")  # room for the labels and colour bar
    for ax, b in zip(axes.flat, range(4)):
        L, n = int(lengths[b]), int(decoded.lengths[b])
        image = ax.imshow(weights[b, :n, :L], cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(L), [_label(t) for t in src[b, :L]])
        ax.set_yticks(range(n), [_label(t) for t in tokens[b, :n]])
        ax.set_xlabel("source token")
        ax.set_ylabel("output token")
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    fig.suptitle("attention weights (greedy decoding): each output token's weights over the source")
    fig.savefig(out / "attention.png", dpi=110)
    plt.close(fig)
    results["attention_antidiagonal_mass"] = _antidiagonal_mass(weights, lengths)


def _label(token: int) -> str:
    return {PAD: "<pad>", BOS: "<s>", EOS: "</s>"}.get(int(token), str(int(token) - FIRST_DIGIT))


def _antidiagonal_mass(weights: np.ndarray, lengths) -> float:
    """Mean weight that output position t puts on source position L - 1 - t (t < L)."""
    masses = [weights[b, t, L - 1 - t] for b, L in enumerate(lengths.tolist()) for t in range(min(L, weights.shape[1]))]
    return float(np.mean(masses))


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _row(label: str, values) -> str:
    return f"| {label} | " + " | ".join(values) + " |"


def _write_report(out: Path, r: dict) -> None:
    s = r["settings"]
    by, curve = r["exact_match_by_length"], r["exact_match_during_training"]
    names = _names(Settings(**s))
    em, longer = r["exact_match"], r["exact_match_longer"]
    lines = ["# seq2seq: reversing digit sequences with attention", "",
             f"Source: random digits of length {s['min_length']}-{s['max_length']}; target: the digits reversed, "
             "then an end token.",
             f"Model: `shendu.models.Seq2Seq`, bidirectional {s['cell'].upper()} encoder, {s['cell'].upper()} decoder, "
             f"{s['attention']} attention, embedding {s['embedding_dim']}, hidden {s['hidden_size']}.",
             f"Training: {s['steps']} Adam steps (lr {s['lr']} decayed to {s['lr'] / 20:g} on a cosine, batch "
             f"{s['batch_size']}, gradient norm clipped to {s['clip']}), teacher forcing, {r['train_seconds']:.0f} s; "
             f"final loss {r['final_loss']:.4f}. Seed {r['seed']}.", "",
             "## Exact match (the whole output sequence right)", "",
             f"Beam width {s['beam_width']}; length penalty GNMT's ((5 + L)/6)^α with α = 0 (\"beam\") or "
             f"α = {s['length_penalty']:g}; {s['test_per_length']} test sequences per length.", "",
             _row("", [names[m] for m in METHODS]), "|---" * (len(METHODS) + 1) + "|",
             _row(f"lengths {s['min_length']}-{s['max_length']} (as trained)", [f"{em[m]:.3f}" for m in METHODS])]
    if longer["greedy"] is not None:
        lines.append(_row(f"lengths {s['max_length'] + 1}-{s['max_length'] + s['longer']} (longer than in training)",
                          [f"{longer[m]:.3f}" for m in METHODS]))
    if r["variants"]:
        lines += ["", f"Other encoder-decoders, trained and tested the same way (exact match, lengths "
                      f"{s['min_length']}-{s['max_length']} / longer):", "",
                  _row("model", [names[m] for m in METHODS]), "|---" * (len(METHODS) + 1) + "|",
                  _row(f"{s['cell'].upper()} + {s['attention']} attention (above)",
                       [f"{em[m]:.3f} / {_fmt(longer[m])}" for m in METHODS])]
        for v in r["variants"]:
            lines.append(_row(f"{v['cell'].upper()} + {v['attention']} attention ({v['train_seconds']:.0f} s)",
                              [f"{v['exact_match'][m]:.3f} / {_fmt(v['exact_match_longer'][m])}" for m in METHODS]))
    lines += ["", _row("source length", [str(L) for L in by]), "|---" * (len(by) + 1) + "|",
              *(_row(names[m], [f"{v[m]:.2f}" for v in by.values()]) for m in METHODS), "",
              "![exact match](exact_match_by_length.png)", "", "## Attention", "",
              "Output position t attends to source position L - 1 - t: the weights lie on the anti-diagonal "
              f"(mean weight there: {r['attention_antidiagonal_mass']:.2f}).", "",
              "![attention](attention.png)", "", "## During training", "",
              f"Exact match on {s['checkpoint_size']} sequences of lengths {s['min_length']}-{s['max_length']} "
              "at 8 points of training.", "",
              _row("step", [str(v) for v in curve["step"]]), "|---" * (len(curve["step"]) + 1) + "|",
              *(_row(names[m], [f"{v:.3f}" for v in curve[m]]) for m in METHODS), "",
              "![training](training.png)", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
