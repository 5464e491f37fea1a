"""Training a character-level language model (``shendu train charrnn``): a ``CharRNN`` on any text
file or the built-in Python-stdlib corpus, by truncated backpropagation through time.

The text is cut into ``batch_size`` contiguous streams (``shendu.text.StreamBatches``) read in chunks
of ``seq_len`` characters; the recurrent state is carried from one chunk to the next and detached,
so gradients flow back ``seq_len`` steps while the state sees the whole stream. Adam, gradient
clipping by norm, a held-out validation split (the end of the text), checkpoints every epoch with
exact resume (``Trainer``'s), a history CSV with bits per character, and a sample at a temperature
after every epoch. Files written to ``out``::

    model.json    the model's hyperparameters (``CharRNNConfig``; ``load_charrnn`` reads it)
    vocab.json    the character vocabulary (``shendu.text.load_vocab``)
    last.safetensors / best.safetensors   the full checkpoint after the last epoch / at the best val loss
    history.csv, history.png   one row per epoch: loss, bpc, val_loss, val_bpc, lr; the curves
    samples.txt   each epoch's sample

``shendu train charrnn`` runs ``run_charrnn`` with a ``CharRNNTrainConfig`` (the command line writes
that as ``config.json``).
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shendu.random import Generator, manual_seed
from shendu.tensor import Tensor
from shendu.train.callbacks import Callback, ModelCheckpoint, ProgressBar, SetEpoch
from shendu.train.recipes import _HistoryFiles, plot_history, write_history_csv
from shendu.train.trainer import Trainer

LN2 = math.log(2.0)


def detach_state(state: Any) -> Any:
    """The recurrent state with its history cut (a Tensor or a tuple of them, e.g. an LSTM's (h, c))."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


class CharRNNTrainer(Trainer):
    """A ``Trainer`` for truncated backpropagation through time over ``StreamBatches``.

    ``train_step`` runs the model on a chunk from the state the previous chunk left (``state``),
    takes the mean cross-entropy over every character of the chunk, steps the optimizer and keeps
    the new state detached. The state starts from zeros at each epoch's first step and at each
    evaluation's (``eval_state``), so an epoch depends only on the weights it starts from, which
    is what makes resuming from a checkpoint exact.

    Attributes: ``state`` (training), ``eval_state`` (evaluation); the rest as ``Trainer``.
    """

    def __init__(self, model, optimizer, callbacks: Iterable = (), **kwargs):
        super().__init__(model, "cross_entropy", optimizer, metrics=[], callbacks=callbacks, **kwargs)
        self.state = self.eval_state = None

    def _chunk_loss(self, batch, state):
        x, y = batch  # (N, T) each
        logits, state = self.model(x, state)  # (N, T, V)
        loss = self.compute_loss(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))  # over N * T characters
        return loss, state, y.numel()

    def train_step(self, batch) -> dict:
        if self.step == 0:  # each epoch reads its streams from a zero state
            self.state = None
        loss, state, count = self._chunk_loss(batch, self.state)
        self.state = detach_state(state)
        value, skipped = self.backward_and_step(loss)
        if skipped:
            return {"loss": value, "skipped": 1}
        self.train_metrics.update(value, None, None, count)
        return {"loss": value}

    def test_step(self, batch) -> dict:
        if self.step == 0:  # each evaluation reads its streams from the start
            self.eval_state = None
        loss, self.eval_state, count = self._chunk_loss(batch, self.eval_state)
        value = float(loss.item())
        self.eval_metrics.update(value, None, None, count)
        return {"loss": value}


class BitsPerCharacter(Callback):
    """Adds ``bpc`` (and ``val_bpc``): the cross-entropy in bits, loss / ln 2, to each epoch's logs."""

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if logs is None:
            return
        for key in ("loss", "val_loss"):
            if key in logs:
                logs[key.replace("loss", "bpc")] = float(logs[key]) / LN2


class SampleText(Callback):
    """After each epoch, sample ``length`` characters after ``prompt`` at ``temperature`` and append
    them to ``path``. The draws use their own generator, seeded from ``seed`` and the epoch, so they
    change neither the training's random stream nor a resumed run. ``samples`` holds the texts."""

    def __init__(self, tokenizer, path: str | os.PathLike, prompt: str, length: int, temperature: float,
                 seed: int = 0, top_k: int | None = None):
        super().__init__()
        self.tokenizer, self.path, self.prompt, self.length = tokenizer, os.fspath(path), prompt, length
        self.temperature, self.seed, self.top_k = temperature, seed, top_k
        self.samples: list[str] = []

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        gen = Generator().manual_seed(self.seed * 100_003 + epoch)
        text = sample_text(self.model, self.tokenizer, self.prompt, self.length, self.temperature,
                           top_k=self.top_k, generator=gen)
        self.samples.append(text)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"=== epoch {epoch + 1}, temperature {self.temperature} ===\n{text}\n\n")


def sample_text(model, tokenizer, prompt: str, length: int, temperature: float = 1.0, top_k: int | None = None,
                generator: Generator | None = None) -> str:
    """``prompt`` followed by ``length`` characters sampled from ``model`` (a ``CharRNN``)."""
    ids = _encode_prompt(tokenizer, prompt)
    return tokenizer.decode(model.sample(ids, length, temperature, top_k=top_k, generator=generator))


def _encode_prompt(tokenizer, prompt: str):
    if not prompt:
        raise ValueError("sample_text: the prompt must hold at least one character")
    try:
        return tokenizer.encode(prompt)
    except KeyError as e:
        raise ValueError(f"sample_text: the prompt {prompt!r} has characters outside the vocabulary: "
                         f"{e.args[0]}") from None


MODEL_KEYS = ("embedding_dim", "hidden_size", "num_layers", "cell", "dropout")


def train_charrnn(data: str | os.PathLike | None = None, out: str | os.PathLike = "runs/charrnn", *,
                  epochs: int = 10, steps_per_epoch: int | None = None, seq_len: int = 100, batch_size: int = 32,
                  lr: float = 2e-3, embedding_dim: int = 64, hidden_size: int = 256, num_layers: int = 2,
                  cell: str = "lstm", dropout: float = 0.0, clip_grad_norm: float | None = 5.0,
                  val_fraction: float = 0.1, max_bytes: int | None = 1_000_000, seed: int = 0,
                  resume: bool = False, temperature: float = 0.8, sample_length: int = 200,
                  prompt: str | None = None, verbose: int = 1, callbacks: Iterable[Callback] = (),
                  plot: bool = True) -> dict:
    """Train a ``CharRNN`` on ``data`` (a UTF-8 text file, or None for the stdlib corpus).

    Args:
        data, max_bytes, val_fraction: the text (``shendu.text.load_corpus``): at most ``max_bytes``
            bytes (None: the whole file), its last ``val_fraction`` held out for validation.
        out: the folder for checkpoints, history, vocabulary and samples.
        epochs: the epochs to train in total (a resumed run continues up to this count).
        steps_per_epoch: cap an epoch at this many chunks; the next epoch continues with the
            following chunks (None: an epoch is one pass over the training text).
        seq_len: the truncation length T of backpropagation through time.
        batch_size: the number of parallel streams N.
        lr: Adam's learning rate. clip_grad_norm: the gradients' total norm cap (None: no clipping).
        embedding_dim, hidden_size, num_layers, cell, dropout: the model (``CharRNN``).
        seed: initialization, dropout and the samples' draws.
        resume: continue from ``out/last.safetensors`` with the saved vocabulary; the model's
            hyperparameters must match the saved ``model.json``.
        temperature, sample_length, prompt: each epoch's sample (prompt default: the text's
            first character).
        verbose: 0 silent; otherwise a tqdm bar per epoch on a terminal, one line per epoch on
            stderr when it is not one.
        callbacks: more ``Callback`` objects for the run. plot: draw ``history.png`` (matplotlib).
    Returns: ``{"history", "loss", "bpc", "val_loss", "val_bpc", "best_val_loss", "best_epoch",
    "epochs", "samples", "sample", "vocab_size", "parameters", "train_chars", "val_chars", "seconds",
    "out", "files", "summary", "model", "tokenizer", "corpus"}`` (the model holds the last epoch's
    weights; ``samples`` are those of the epochs this call trained).
    """
    from shendu import optim
    from shendu.models.charrnn import CharRNN
    from shendu.text.corpus import StreamBatches, load_corpus, load_vocab, save_vocab

    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    last = out / "last.safetensors"
    resuming = bool(resume) and last.exists()
    model_args = {"embedding_dim": embedding_dim, "hidden_size": hidden_size, "num_layers": num_layers,
                  "cell": cell, "dropout": dropout}
    tokenizer = None
    if resuming:
        tokenizer = load_vocab(out / "vocab.json")
        saved = json.loads((out / "model.json").read_text())
        differ = {k: (saved[k], model_args[k]) for k in MODEL_KEYS if saved.get(k) != model_args[k]}
        if differ:
            raise ValueError(f"train_charrnn: resuming {out} with other model settings (saved, given): {differ}")
    corpus = load_corpus(data, max_bytes=max_bytes, val_fraction=val_fraction, seed=seed, tokenizer=tokenizer)
    train_streams = StreamBatches(corpus.train, batch_size, seq_len, steps=steps_per_epoch)
    val_streams = StreamBatches(corpus.val, batch_size, seq_len) if len(corpus.val) >= 2 else None

    manual_seed(seed)
    model = CharRNN(corpus.vocab_size, **model_args)
    if not resuming:
        save_vocab(corpus.tokenizer, out / "vocab.json")
        (out / "model.json").write_text(json.dumps(asdict(model.config), indent=2) + "\n")
        for stale in ("history.csv", "history.png", "samples.txt", "best.safetensors"):
            (out / stale).unlink(missing_ok=True)

    prompt = prompt or corpus.text[0]
    _encode_prompt(corpus.tokenizer, prompt)  # a bad prompt fails now, not after the first epoch
    sampler = SampleText(corpus.tokenizer, out / "samples.txt", prompt, sample_length, temperature, seed=seed)
    monitor = "val_loss" if val_streams is not None else "loss"
    checkpoint = ModelCheckpoint(dirpath=out, monitor=monitor, save_best_only=True, save_last=True)
    cbs = [SetEpoch(train_streams), BitsPerCharacter(), sampler, checkpoint, _HistoryFiles(out / "history.csv"),
           *callbacks]
    if verbose:
        cbs.append(ProgressBar(1) if sys.stderr.isatty() else ProgressBar(2, force=True))
    trainer = CharRNNTrainer(model, optim.Adam(model.parameters(), lr=lr), callbacks=cbs,
                             clip_grad_norm=clip_grad_norm)
    history = trainer.fit(train_streams, epochs=epochs, validation_data=val_streams, seed=seed, verbose=verbose,
                          resume_from=str(last) if resuming else None).history
    files = [last, out / "best.safetensors", out / "history.csv", out / "samples.txt", out / "vocab.json",
             out / "model.json"]
    write_history_csv(history, out / "history.csv")
    best_epoch = None
    if history.get(monitor):
        best_epoch = int(min(range(len(history[monitor])), key=history[monitor].__getitem__)) + 1
    if plot and history:
        try:
            plot_history(history, out / "history.png", best_epoch=best_epoch,
                         title=f"CharRNN {num_layers}x{cell.upper()}({hidden_size}), T={seq_len}, N={batch_size}",
                         panels=(("bpc", "cross-entropy (bits per character)"),))
            files.append(out / "history.png")
        except ImportError:  # matplotlib is optional
            pass
    final = {k: v[-1] for k, v in history.items()} if history else {}
    done = len(history.get("loss", []))
    result = {
        "history": history, "loss": final.get("loss"), "bpc": final.get("bpc"), "val_loss": final.get("val_loss"),
        "val_bpc": final.get("val_bpc"), "best_val_loss": None if math.isinf(checkpoint.best) else checkpoint.best,
        "best_epoch": best_epoch, "epochs": done, "samples": sampler.samples,
        "sample": sampler.samples[-1] if sampler.samples else None, "vocab_size": corpus.vocab_size,
        "parameters": sum(p.numel() for p in model.parameters()), "train_chars": len(corpus.train),
        "val_chars": len(corpus.val), "seconds": time.perf_counter() - start, "out": str(out),
        "files": [str(f) for f in files], "model": model, "tokenizer": corpus.tokenizer, "corpus": corpus,
    }
    key = "val_bpc" if "val_bpc" in final else "bpc"
    where = "validation" if key == "val_bpc" else "training"
    result["summary"] = (f"charrnn: {final.get(key, float('nan')):.3f} {where} bits per character after {done} "
                         f"epochs ({result['parameters']:,} parameters, {corpus.vocab_size} characters)")
    if result["sample"] is not None:  # one line: the sample's newlines shown as \n
        result["summary"] += f"; sample at temperature {temperature} (samples.txt): {result['sample'][:100]!r}"
    return result


@dataclass
class CharRNNTrainConfig:
    """The settings of ``shendu train charrnn`` (``train_charrnn``'s arguments; 0 or "" mean "none")."""

    data: str = field(default="", metadata={
        "help": "a UTF-8 text file to learn (empty: the built-in corpus of the Python stdlib's sources)"})
    max_bytes: int = field(default=1_000_000, metadata={
        "help": "use at most this many bytes of the text (0: a whole file)", "min": 0})
    val_fraction: float = field(default=0.1, metadata={
        "help": "the end of the text held out for validation", "min": 0.0, "below": 1.0})
    cell: str = field(default="lstm", metadata={"help": "the recurrent layer", "choices": ("lstm", "gru")})
    embedding_dim: int = field(default=64, metadata={"help": "size of each character's embedding", "min": 1})
    hidden_size: int = field(default=256, metadata={"help": "recurrent state size per layer", "min": 1})
    num_layers: int = field(default=2, metadata={"help": "stacked recurrent layers", "min": 1})
    dropout: float = field(default=0.0, metadata={
        "help": "dropout on embeddings, between layers and before the head", "min": 0.0, "below": 1.0})
    seq_len: int = field(default=100, metadata={
        "help": "characters per chunk: how far back gradients flow (truncated BPTT)", "min": 1})
    batch_size: int = field(default=32, metadata={"help": "parallel streams through the text", "min": 1})
    epochs: int = field(default=10, metadata={
        "help": "epochs to train in all (with --resume: train until this many are done)", "min": 1,
        "resumable": True})
    steps_per_epoch: int = field(default=0, metadata={
        "help": "chunks per epoch, the next epoch continuing the text (0: one pass over the text)", "min": 0})
    lr: float = field(default=2e-3, metadata={"help": "Adam's learning rate", "above": 0.0})
    clip_grad_norm: float = field(default=5.0, metadata={
        "help": "clip the gradients' total norm to this (0: no clipping)", "min": 0.0})
    temperature: float = field(default=0.8, metadata={
        "help": "sampling temperature of each epoch's sample (0: greedy)", "min": 0.0, "resumable": True})
    sample_length: int = field(default=200, metadata={
        "help": "characters sampled after each epoch", "min": 0, "resumable": True})
    prompt: str = field(default="", metadata={
        "help": "the samples' prompt (empty: the text's first character)", "resumable": True})
    seed: int = field(default=0, metadata={"help": "seeds the initialization, dropout and the samples"})


def run_charrnn(config: CharRNNTrainConfig, *, out: str | os.PathLike, resume: bool = False,
                callbacks: Iterable[Callback] = (), verbose: int = 0) -> dict:
    """``train_charrnn`` with a ``CharRNNTrainConfig`` (the ``charrnn`` entry of ``RECIPES``)."""
    c = asdict(config)
    none_if_zero = ("data", "max_bytes", "steps_per_epoch", "clip_grad_norm", "prompt")
    c.update({k: c[k] or None for k in none_if_zero})
    if c["data"] is not None and not os.path.isfile(c["data"]):  # a settings mistake, not an I/O failure
        raise ValueError(f"data: no text file at {c['data']!r}")
    return train_charrnn(c.pop("data"), out, resume=resume, callbacks=callbacks, verbose=verbose, **c)


def load_charrnn(out: str | os.PathLike, which: str = "best"):
    """``(model, tokenizer)`` from a ``train_charrnn`` folder: ``which`` is ``"best"`` or ``"last"``."""
    from shendu.io import load_checkpoint
    from shendu.models.charrnn import CharRNN
    from shendu.text.corpus import load_vocab

    if which not in ("best", "last"):
        raise ValueError(f"load_charrnn: which must be 'best' or 'last', got {which!r}")
    out = Path(out)
    model = CharRNN.from_config(json.loads((out / "model.json").read_text()))
    load_checkpoint(out / f"{which}.safetensors", model=model, restore_rng=False)
    model.eval()
    return model, load_vocab(out / "vocab.json")


__all__ = ["BitsPerCharacter", "CharRNNTrainConfig", "CharRNNTrainer", "SampleText",
           "detach_state", "load_charrnn", "run_charrnn", "sample_text", "train_charrnn"]
