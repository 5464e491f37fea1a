"""A character-level language model on Python's own standard library: a ``CharRNN`` (LSTM) trained
by truncated backpropagation through time, its training and validation cross-entropy in bits per
character, and samples at several temperatures.

The corpus is the stdlib's ``*.py`` sources (nothing downloaded; ``shendu.text.load_corpus``), the
last part held out. The unigram line is the entropy of the training text's character frequencies:
what a model that ignores context scores, so the gap below it is what the recurrent state learned.
Lower temperatures make the samples more repetitive and more Python-like, higher ones more varied
and less well-formed; temperature 0 is greedy decoding.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from shendu.experiments._progress import stages
from shendu.experiments.plotting import pyplot, save

TEMPERATURES = (0.0, 0.5, 0.8, 1.0, 1.2)
PROMPT = "def "

FULL = {"max_bytes": 1_000_000, "val_fraction": 0.02, "embedding_dim": 64, "hidden_size": 256, "num_layers": 2,
        "cell": "lstm", "dropout": 0.0, "seq_len": 64, "batch_size": 32, "lr": 3e-3, "clip_grad_norm": 5.0,
        "epochs": 20, "steps_per_epoch": 50, "sample_length": 400}
QUICK = {"max_bytes": 40_000, "val_fraction": 0.1, "embedding_dim": 16, "hidden_size": 64, "num_layers": 1,
         "cell": "lstm", "dropout": 0.0, "seq_len": 32, "batch_size": 16, "lr": 1e-2, "clip_grad_norm": 5.0,
         "epochs": 5, "steps_per_epoch": 20, "sample_length": 120}


def unigram_bits(ids: np.ndarray, vocab_size: int) -> float:
    """The entropy (bits per character) of the character frequencies of ``ids``."""
    p = np.bincount(ids, minlength=vocab_size) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def run(out: Path, seed: int = 0, quick: bool = False, progress=False) -> dict:
    from shendu.random import Generator
    from shendu.train.charrnn import sample_text, train_charrnn

    out = Path(out)
    settings = dict(QUICK if quick else FULL)
    sample_length = settings.pop("sample_length")
    with stages(progress, "char-lm", 3) as stage:
        stage(f"training a {settings['num_layers']}-layer {settings['cell'].upper()} ({settings['hidden_size']} units)"
              f" for {settings['epochs'] * settings['steps_per_epoch']} steps")
        result = train_charrnn(None, out / "checkpoints", seed=seed, verbose=0, temperature=0.8,
                               sample_length=min(sample_length, 100), prompt=PROMPT, **settings)
        history, model, tok, corpus = result["history"], result["model"], result["tokenizer"], result["corpus"]
        unigram = unigram_bits(corpus.train, corpus.vocab_size)

        stage("sampling at each temperature")
        samples = {t: sample_text(model, tok, PROMPT, sample_length, t, generator=Generator().manual_seed(seed))
                   for t in TEMPERATURES}

        stage("figure and report")
        steps = np.arange(1, len(history["loss"]) + 1) * settings["steps_per_epoch"]
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4.2))
        # an epoch's training loss is the mean over its steps: drawn at the epoch's middle step
        ax.plot(steps - settings["steps_per_epoch"] / 2, history["bpc"], "o-", ms=3,
                label="training (mean over each epoch's steps)")
        ax.plot(steps, history["val_bpc"], "s-", ms=3, label="validation (held-out end of the corpus)")
        ax.axhline(unigram, color="grey", ls="--", lw=1, label=f"unigram entropy ({unigram:.2f} bits)")
        ax.set_xlabel("optimizer step (chunks of batch_size x seq_len characters)")
        ax.set_ylabel("cross-entropy (bits per character)")
        ax.set_title(f"CharRNN on the Python stdlib ({result['train_chars']:,} training characters)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        save(fig, out / "char_lm_loss.png")

        best_val_bpc = min(history["val_bpc"])
        results = {"train_bpc": history["bpc"][-1], "val_bpc": history["val_bpc"][-1], "best_val_bpc": best_val_bpc,
                   "unigram_bpc": unigram, "parameters": result["parameters"], "vocab_size": result["vocab_size"],
                   "train_chars": result["train_chars"], "val_chars": result["val_chars"],
                   "steps": int(steps[-1]), "train_seconds": result["seconds"], "samples": samples}
        _report(out, settings, results, seed, quick)
    return results


def _report(out: Path, settings: dict, results: dict, seed: int, quick: bool) -> None:
    chars_seen = settings["batch_size"] * settings["seq_len"] * results["steps"]
    lines = [
        "# A character-level language model on the Python standard library", "",
        f"A `CharRNN` ({settings['num_layers']}-layer {settings['cell'].upper()}, "
        f"{results['parameters']:,} parameters, "
        f"{results['vocab_size']} characters) trained with truncated backpropagation through time on "
        f"{results['train_chars']:,} characters of the stdlib's sources for {results['steps']} steps "
        f"({chars_seen:,} characters, {chars_seen / results['train_chars']:.2f} passes) in "
        f"{results['train_seconds']:.0f} s{' (--quick)' if quick else ''}.", "",
        "| | bits per character |", "|---|---|",
        f"| unigram entropy (no context) | {results['unigram_bpc']:.3f} |",
        f"| training, last epoch | {results['train_bpc']:.3f} |",
        f"| validation, last epoch | {results['val_bpc']:.3f} |",
        f"| validation, best epoch | {results['best_val_bpc']:.3f} |", "",
        "![loss curves](char_lm_loss.png)", "",
        "## Settings", "",
        "| setting | value |", "|---|---|",
        *(f"| {k} | {v} |" for k, v in settings.items()),
        f"| seed | {seed} |", f"| validation characters | {results['val_chars']:,} |", "",
        f"## Samples (prompt `{PROMPT}`, same generator seed at every temperature)", "",
    ]
    for t, text in results["samples"].items():
        fence = "~~~~" if "```" in text else "```"
        lines += [f"### temperature {t}{' (greedy)' if t == 0 else ''}", "", fence + "python", text, fence, ""]
    lines += ["Checkpoints, the per-epoch history (`history.csv`) and each epoch's sample (`samples.txt`) are in "
              "`checkpoints/`; `shendu.train.charrnn.load_charrnn` reloads the model.", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
