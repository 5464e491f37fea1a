"""Pretraining a GPT (``shendu train gpt``): a ``shendu.models.GPT`` on any text file or the built-in
Python-stdlib corpus, nanoGPT's recipe.

The text is tokenized once (a byte-level BPE trained on it, or its characters) and the token ids are
written to a NumPy memmap of uint16 (``tokens.bin``) in the run folder: the first ``1 - val_fraction``
of the ids train, the rest validate. Each training step reads ``batch_size`` random windows of
``block_size + 1`` tokens from the memmap (inputs and next-token targets), drawn from a generator
seeded by ``(seed, epoch)`` so an epoch's windows do not depend on where a run was resumed. An
"epoch" here is ``steps_per_epoch`` optimizer steps followed by an evaluation on ``eval_batches``
fixed validation windows (loss and perplexity) and a sample. AdamW (weight decay on 2-D weights only),
linear warmup then cosine decay to ``min_lr``, gradient clipping and accumulation, checkpoints after
every epoch with exact resume (``Trainer``'s). Files written to ``out``::

    model.json      the model's ``GPTConfig``          data.json   token counts, split, tokenizer kind
    tokenizer.json  the BPE tokenizer (or vocab.json: the characters)   tokens.bin  uint16 token ids
    last.safetensors / best.safetensors   the full checkpoint after the last epoch / at the best val loss
    history.csv, history.png   one row per epoch: loss, ppl, val_loss, val_ppl, lr    samples.txt

Defaults (4 layers x 128 wide, 4 heads, context 128, a 1024-token BPE, batch 16, 12 x 100 steps) were
measured on 2 shared CPU cores with the stdlib corpus (5 MB, 1.9M tokens): 4.5 minutes to a validation
loss of 3.60 nats per token (perplexity 36) against the unigram's 6.01.

``shendu train gpt`` runs ``run_gpt`` with a ``GPTTrainConfig`` (the command line writes it as
``config.json``).
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from shendu.random import Generator, manual_seed
from shendu.tensor import Tensor
from shendu.train.callbacks import Callback, ModelCheckpoint, ProgressBar, SetEpoch
from shendu.train.recipes import _HistoryFiles, plot_history, write_history_csv
from shendu.train.trainer import Trainer

TOKEN_DTYPE = np.uint16
DATA_FORMAT = "shendu.gpt-data"


# -- data -----------------------------------------------------------------------------------------
def read_text(data: str | os.PathLike | None, max_bytes: int | None, seed: int = 0) -> str:
    """The training text: the UTF-8 file ``data`` (at most ``max_bytes`` bytes) or, for None, the
    stdlib corpus (``shendu.data.stdlib_corpus``, files shuffled by ``seed``)."""
    from shendu.text.corpus import load_corpus
    return load_corpus(data, max_bytes=max_bytes, val_fraction=0.0, seed=seed).text


def make_tokenizer(kind: str, text: str, vocab_size: int):
    """A tokenizer for ``text``: ``"bpe"`` (a ``ByteLevelBPETokenizer`` trained to ``vocab_size``) or
    ``"char"`` (a ``CharTokenizer`` over its characters)."""
    from shendu.text import ByteLevelBPETokenizer, CharTokenizer
    if kind == "char":
        return CharTokenizer(text)
    if kind == "bpe":
        return ByteLevelBPETokenizer().train(text, vocab_size)
    raise ValueError(f"make_tokenizer: tokenizer must be 'char' or 'bpe', got {kind!r}")


def save_tokenizer(tokenizer, out: Path) -> None:
    from shendu.text.corpus import save_vocab
    if hasattr(tokenizer, "save"):
        tokenizer.save(out / "tokenizer.json")
    else:
        save_vocab(tokenizer, out / "vocab.json")


def load_tokenizer(out: str | os.PathLike):
    """The tokenizer a ``train_gpt`` run folder holds (``tokenizer.json`` or ``vocab.json``)."""
    from shendu.text import ByteLevelBPETokenizer
    from shendu.text.corpus import load_vocab
    out = Path(out)
    if (out / "tokenizer.json").exists():
        return ByteLevelBPETokenizer.from_file(out / "tokenizer.json")
    if (out / "vocab.json").exists():
        return load_vocab(out / "vocab.json")
    raise FileNotFoundError(f"load_tokenizer: {os.fspath(out)!r} holds neither tokenizer.json nor vocab.json")


def write_tokens(ids, path: str | os.PathLike) -> np.memmap:
    """Write token ids as a uint16 memmap at ``path`` and return it opened read-only."""
    ids = np.asarray(getattr(ids, "_data", ids))
    if ids.ndim != 1 or ids.size == 0:
        raise ValueError(f"write_tokens: expected a non-empty 1-D id array, got shape {ids.shape}")
    if ids.min() < 0 or ids.max() > np.iinfo(TOKEN_DTYPE).max:
        raise ValueError(f"write_tokens: ids must lie in 0..{np.iinfo(TOKEN_DTYPE).max} for uint16, got "
                         f"{ids.min()}..{ids.max()}")
    tmp = f"{os.fspath(path)}.tmp"
    mm = np.memmap(tmp, dtype=TOKEN_DTYPE, mode="w+", shape=ids.shape)
    mm[:] = ids
    mm.flush()
    del mm
    os.replace(tmp, path)
    return read_tokens(path)


def read_tokens(path: str | os.PathLike) -> np.memmap:
    """The uint16 token memmap ``write_tokens`` wrote (read-only)."""
    return np.memmap(path, dtype=TOKEN_DTYPE, mode="r")


def prepare_data(data, out: Path, *, tokenizer: str, vocab_size: int, max_bytes: int | None,
                 val_fraction: float, seed: int, resuming: bool):
    """``(tokenizer, train ids, val ids, info)``: tokenize the text and write ``tokens.bin`` (or, when
    resuming, reopen the run's tokenizer and memmap). The id arrays are views of the memmap."""
    if resuming and (out / "data.json").exists() and (out / "tokens.bin").exists():
        info = json.loads((out / "data.json").read_text())
        tok = load_tokenizer(out)
        ids = read_tokens(out / "tokens.bin")
    else:
        text = read_text(data, max_bytes, seed)
        tok = make_tokenizer(tokenizer, text, vocab_size)
        ids = write_tokens(np.asarray(tok.encode(text), dtype=np.int64), out / "tokens.bin")
        n_train = int(round(len(ids) * (1 - val_fraction)))
        info = {"format": DATA_FORMAT, "tokenizer": tokenizer, "vocab_size": int(tok.vocab_size),
                "tokens": int(len(ids)), "train_tokens": n_train, "val_tokens": int(len(ids) - n_train),
                "bytes": len(text.encode("utf-8"))}
        save_tokenizer(tok, out)
        (out / "data.json").write_text(json.dumps(info, indent=2) + "\n")
    n_train = info["train_tokens"]
    return tok, ids[:n_train], ids[n_train:], info


class WindowBatches:
    """``(x, y)`` batches of random windows from a token array: ``batch_size`` rows of ``block_size``
    tokens and their next tokens.

    Pass ``e`` (``set_epoch(e)``) draws its ``steps`` batches' start offsets from a NumPy generator
    seeded by ``(seed, e)``, so a pass depends only on its number (exact resume). ``fixed=True``
    draws the same batches every pass (validation).
    Shape: each item is ``(x, y)``, two int64 tensors (batch_size, block_size).
    """

    def __init__(self, ids, batch_size: int, block_size: int, steps: int, seed: int = 0, fixed: bool = False):
        self.ids = ids
        if len(ids) < block_size + 1:
            raise ValueError(f"WindowBatches: {len(ids)} tokens are too few for windows of block_size={block_size} "
                             "(need block_size + 1); use more text, a smaller --block-size or a smaller "
                             "--val-fraction")
        self.batch_size, self.block_size, self.steps, self.seed, self.fixed = batch_size, block_size, steps, seed, fixed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        rng = np.random.default_rng([self.seed, 0 if self.fixed else self.epoch + 1])
        T = self.block_size
        offsets = np.arange(T + 1)
        for _ in range(self.steps):
            starts = rng.integers(0, len(self.ids) - T, size=self.batch_size)
            rows = np.asarray(self.ids[starts[:, None] + offsets], dtype=np.int64)  # (B, T + 1)
            yield Tensor._wrap(rows[:, :-1].copy()), Tensor._wrap(rows[:, 1:].copy())


def unigram_loss(train_ids, val_ids, vocab_size: int) -> float:
    """The validation cross-entropy (nats per token) of the training split's token frequencies
    (add-one smoothed): the loss a model that ignores context would reach."""
    counts = np.bincount(np.asarray(train_ids, dtype=np.int64), minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[np.asarray(val_ids, dtype=np.int64)].mean())


# -- training -------------------------------------------------------------------------------------
def cosine_schedule(warmup: int, total: int, min_ratio: float):
    """``step -> lr multiplier``: linear warmup over ``warmup`` steps, then cosine decay down to
    ``min_ratio`` at step ``total`` (and ``min_ratio`` after it), nanoGPT's ``get_lr``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if step >= total:
            return min_ratio
        progress = (step - warmup) / max(1, total - warmup)
        return min_ratio + 0.5 * (1.0 + math.cos(math.pi * progress)) * (1.0 - min_ratio)
    return factor


def param_groups(model, weight_decay: float) -> list[dict]:
    """AdamW groups as nanoGPT: weight decay on every parameter of 2 or more dims (matmul weights and
    embeddings), none on biases and norm gains. Tied weights appear once."""
    seen, decay, no_decay = set(), [], []
    for p in model.parameters():
        if id(p) in seen or not p.requires_grad:
            continue
        seen.add(id(p))
        (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class GPTTrainer(Trainer):
    """A ``Trainer`` whose model returns ``(logits, loss)`` from ``model(idx, targets)``.

    ``forward``: what the training steps call instead of ``model`` (a ``DistributedDataParallel``
    wrapper of it); checkpoints and evaluation keep using the plain ``model``.
    """

    def __init__(self, model, optimizer, callbacks: Iterable = (), forward=None, **kwargs):
        super().__init__(model, "cross_entropy", optimizer, metrics=[], callbacks=callbacks, **kwargs)
        self.forward = forward if forward is not None else model

    def train_step(self, batch) -> dict:
        x, y = batch
        _, loss = self.forward(x, y)
        value, skipped = self.backward_and_step(loss)
        if skipped:
            return {"loss": value, "skipped": 1}
        self.train_metrics.update(value, None, None, y.numel())
        return {"loss": value}

    def test_step(self, batch) -> dict:
        x, y = batch
        _, loss = self.model(x, y)
        value = float(loss.item())
        self.eval_metrics.update(value, None, None, y.numel())
        return {"loss": value}


class Perplexity(Callback):
    """Adds ``ppl`` (and ``val_ppl``) = exp(loss) to each epoch's logs."""

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if logs is None:
            return
        for key in ("loss", "val_loss"):
            if key in logs:
                logs[key.replace("loss", "ppl")] = math.exp(min(float(logs[key]), 700.0))


class SampleGPT(Callback):
    """After each epoch, generate ``length`` tokens after ``prompt`` and append the text to ``path``.
    The draws use their own generator seeded from ``seed`` and the epoch, so they change neither the
    training's random stream nor a resumed run."""

    def __init__(self, tokenizer, path, prompt: str, length: int, temperature: float, top_k: int | None,
                 block_size: int, seed: int = 0):
        super().__init__()
        self.tokenizer, self.path, self.prompt, self.length = tokenizer, os.fspath(path), prompt, length
        self.temperature, self.top_k, self.block_size, self.seed = temperature, top_k, block_size, seed
        self.samples: list[str] = []

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.length <= 0:
            return
        gen = Generator().manual_seed(self.seed * 100_003 + epoch)
        text = generate_text(self.model, self.tokenizer, self.prompt, self.length, self.temperature,
                             self.top_k, self.block_size, generator=gen)
        self.samples.append(text)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"=== epoch {epoch + 1}, temperature {self.temperature} ===\n{text}\n\n")


def generate_text(model, tokenizer, prompt: str, length: int, temperature: float = 0.8, top_k: int | None = 50,
                  block_size: int | None = None, generator: Generator | None = None) -> str:
    """``prompt`` followed by ``length`` generated tokens, decoded (the prompt cropped to the
    model's last ``block_size`` tokens)."""
    import shendu as sd
    ids = np.asarray(tokenizer.encode(prompt), dtype=np.int64)
    if ids.size == 0:
        raise ValueError("generate_text: the prompt must encode to at least one token")
    if block_size:
        ids = ids[-block_size:]
    was_training = model.training
    model.eval()
    try:
        with sd.no_grad():
            idx = Tensor._wrap(ids[None, :].copy())
            if top_k is not None:
                top_k = min(top_k, model.config.vocab_size)
            out = model.generate(idx, length, temperature=temperature, top_k=top_k, generator=generator)
    finally:
        model.train(was_training)
    return tokenizer.decode(np.asarray(out[0].numpy()))


MODEL_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "dropout", "bias", "pos", "norm", "mlp", "n_kv_head")


def train_gpt(data: str | os.PathLike | None = None, out: str | os.PathLike = "runs/gpt", *,
              tokenizer: str = "bpe", vocab_size: int = 1024, max_bytes: int | None = 5_000_000,
              val_fraction: float = 0.05, n_layer: int = 4, n_head: int = 4, n_embd: int = 128,
              block_size: int = 128, dropout: float = 0.0, bias: bool = False, pos: str = "learned",
              norm: str = "layernorm", mlp: str = "gelu", n_kv_head: int | None = None, batch_size: int = 16,
              grad_accum: int = 1, epochs: int = 12, steps_per_epoch: int = 100, eval_batches: int = 20,
              lr: float = 1e-3, min_lr: float = 1e-4, warmup_steps: int = 100, decay_steps: int | None = None,
              weight_decay: float = 0.1,
              beta2: float = 0.99, clip_grad_norm: float | None = 1.0, seed: int = 0, resume: bool = False,
              prompt: str | None = "def ", sample_length: int = 100, temperature: float = 0.8,
              top_k: int | None = 50, verbose: int = 1, callbacks: Iterable[Callback] = (),
              plot: bool = True) -> dict:
    """Pretrain a ``GPT`` on ``data`` (a UTF-8 text file, or None for the stdlib corpus).

    Args:
        data, max_bytes, val_fraction: the text (at most ``max_bytes`` bytes; None: a whole file) and
            the last fraction of its tokens held out for validation.
        tokenizer, vocab_size: ``"bpe"`` (a byte-level BPE of ``vocab_size`` tokens trained on the
            text) or ``"char"`` (its characters; ``vocab_size`` unused).
        n_layer, n_head, n_embd, block_size, dropout, bias, pos, norm, mlp, n_kv_head: the model
            (``shendu.models.GPTConfig``).
        batch_size, grad_accum: windows per micro-batch and micro-batches per optimizer step.
        epochs, steps_per_epoch: evaluation rounds in total (a resumed run continues up to this count)
            and optimizer steps between them. eval_batches: validation batches per evaluation.
        lr, min_lr, warmup_steps, decay_steps: peak learning rate, linear warmup, cosine decay to
            ``min_lr`` at step ``decay_steps`` (None: ``epochs * steps_per_epoch`` of the run's first
            call; the horizon is saved in ``schedule.json`` and kept on resume, so a run extended past it
            goes on at ``min_lr``; pass the final total to make ``N/2 + resume N/2`` equal ``N``).
        weight_decay, beta2: AdamW's (decay on 2-D weights only).
        clip_grad_norm: the gradients' total norm cap (None: no clipping).
        seed: initialization, the windows, dropout and the samples' draws.
        resume: continue from ``out/last.safetensors`` with the saved tokenizer and token memmap.
        prompt, sample_length, temperature, top_k: each epoch's sample (prompt None/"": the text's
            first token).
        verbose: 0 silent, otherwise a progress bar (terminal) or a line per epoch (stderr).
    Returns: ``{"history", "loss", "ppl", "val_loss", "val_ppl", "best_val_loss", "best_epoch",
    "unigram_loss", "epochs", "steps", "samples", "sample", "vocab_size", "parameters", "train_tokens",
    "val_tokens", "seconds", "out", "files", "summary", "model", "tokenizer"}``.
    """
    from shendu import optim
    from shendu.models.gpt import GPT, GPTConfig
    from shendu.optim.lr_scheduler import LambdaLR

    start = time.perf_counter()
    out = Path(out)
    rank, world = _process_group()
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    _barrier(world)
    last = out / "last.safetensors"
    resuming = bool(resume) and last.exists()
    model_args = {"n_layer": n_layer, "n_head": n_head, "n_embd": n_embd, "block_size": block_size,
                  "dropout": dropout, "bias": bias, "pos": pos, "norm": norm, "mlp": mlp, "n_kv_head": n_kv_head}
    if resuming:
        saved = json.loads((out / "model.json").read_text())
        differ = {k: (saved.get(k), model_args[k]) for k in MODEL_KEYS if saved.get(k) != model_args[k]}
        if differ:
            raise ValueError(f"train_gpt: resuming {out} with other model settings (saved, given): {differ}")
    elif rank == 0:
        for stale in ("history.csv", "history.png", "samples.txt", "best.safetensors", "tokenizer.json",
                      "vocab.json", "data.json", "schedule.json"):
            (out / stale).unlink(missing_ok=True)
    if rank == 0:   # the other ranks read what rank 0 tokenized
        tok, train_ids, val_ids, info = prepare_data(data, out, tokenizer=tokenizer, vocab_size=vocab_size,
                                                     max_bytes=max_bytes, val_fraction=val_fraction, seed=seed,
                                                     resuming=resuming)
    _barrier(world)
    if rank > 0:
        tok, train_ids, val_ids, info = prepare_data(data, out, tokenizer=tokenizer, vocab_size=vocab_size,
                                                     max_bytes=max_bytes, val_fraction=val_fraction, seed=seed,
                                                     resuming=True)
    micro_steps = steps_per_epoch * grad_accum
    # each rank draws its own windows: a step averages world x batch_size windows
    train_batches = WindowBatches(train_ids, batch_size, block_size, micro_steps, seed=seed + 7919 * rank)
    val_batches = (WindowBatches(val_ids, batch_size, block_size, eval_batches, seed=seed + 1, fixed=True)
                   if len(val_ids) > block_size and eval_batches > 0 else None)
    unigram = unigram_loss(train_ids, val_ids if len(val_ids) else train_ids, info["vocab_size"])

    manual_seed(seed)
    config = GPTConfig(vocab_size=info["vocab_size"], **model_args)
    model = GPT(config)
    forward = model
    if world > 1:   # parameters broadcast from rank 0, gradients averaged in buckets during backward
        from shendu.nn.parallel import DistributedDataParallel
        forward = DistributedDataParallel(model)
    if not resuming and rank == 0:
        (out / "model.json").write_text(json.dumps(asdict(config), indent=2) + "\n")

    if not prompt:
        prompt = tok.decode(np.asarray(train_ids[:1], dtype=np.int64))
    try:  # a bad prompt fails now, not after the first epoch
        encoded = tok.encode(prompt)
    except KeyError as e:
        raise ValueError(f"prompt: {prompt!r} has characters outside the vocabulary: {e.args[0]}") from None
    if len(encoded) == 0:
        raise ValueError("prompt: the prompt encodes to no tokens")
    sampler = SampleGPT(tok, out / "samples.txt", prompt, sample_length, temperature, top_k, block_size, seed=seed)
    monitor = "val_loss" if val_batches is not None else "loss"
    checkpoint = ModelCheckpoint(dirpath=out, monitor=monitor, save_best_only=True, save_last=True)
    cbs = [SetEpoch(train_batches), Perplexity()]
    if rank == 0:   # one rank writes the run folder and reports
        cbs += [sampler, checkpoint, _HistoryFiles(out / "history.csv"), *callbacks]
        if verbose:
            cbs.append(ProgressBar(1) if sys.stderr.isatty() else ProgressBar(2, force=True))
    opt = optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=(0.9, beta2))
    schedule_file = out / "schedule.json"
    if resuming and schedule_file.exists():
        saved_schedule = json.loads(schedule_file.read_text())
        decay_steps = decay_steps or saved_schedule["decay_steps"]
    total_steps = decay_steps or epochs * steps_per_epoch
    _barrier(world)   # every rank has read the old schedule before rank 0 writes the new one
    if rank == 0:
        schedule_file.write_text(json.dumps({"warmup_steps": warmup_steps, "decay_steps": total_steps}) + "\n")
    scheduler = LambdaLR(opt, cosine_schedule(warmup_steps, total_steps, min_lr / lr))
    trainer = GPTTrainer(model, opt, callbacks=cbs, forward=forward, scheduler=scheduler, scheduler_interval="step",
                         grad_accumulation_steps=grad_accum, clip_grad_norm=clip_grad_norm)
    history = trainer.fit(train_batches, epochs=epochs, validation_data=val_batches, seed=seed,
                          verbose=verbose if rank == 0 else 0,
                          resume_from=str(last) if resuming else None).history
    if rank > 0:
        return {"history": history, "rank": rank, "world_size": world, "steps": trainer.global_step,
                "summary": None, "seconds": time.perf_counter() - start, "files": [], "model": model,
                "tokenizer": tok}
    files = [last, out / "best.safetensors", out / "history.csv", out / "samples.txt", out / "model.json",
             out / "data.json", out / "schedule.json", out / "tokens.bin",
             out / ("tokenizer.json" if (out / "tokenizer.json").exists() else "vocab.json")]
    write_history_csv(history, out / "history.csv")
    best_epoch = None
    if history.get(monitor):
        best_epoch = int(min(range(len(history[monitor])), key=history[monitor].__getitem__)) + 1
    if plot and history:
        try:
            plot_history(history, out / "history.png", best_epoch=best_epoch,
                         title=f"GPT {n_layer}x{n_embd} ({n_head} heads), T={block_size}, "
                               f"batch {batch_size}x{grad_accum}, {steps_per_epoch} steps/epoch",
                         panels=(("loss", "cross-entropy (nats per token)"), ("ppl", "perplexity")))
            files.append(out / "history.png")
        except ImportError:  # matplotlib is optional
            pass
    final = {k: v[-1] for k, v in history.items()} if history else {}
    done = len(history.get("loss", []))
    params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    result = {
        "history": history, "loss": final.get("loss"), "ppl": final.get("ppl"), "val_loss": final.get("val_loss"),
        "val_ppl": final.get("val_ppl"), "best_val_loss": None if math.isinf(checkpoint.best) else checkpoint.best,
        "best_epoch": best_epoch, "unigram_loss": unigram, "epochs": done, "steps": trainer.global_step,
        "samples": sampler.samples, "sample": sampler.samples[-1] if sampler.samples else None,
        "vocab_size": info["vocab_size"], "parameters": params, "train_tokens": len(train_ids),
        "val_tokens": len(val_ids), "seconds": time.perf_counter() - start, "out": str(out),
        "files": [str(f) for f in files], "model": model, "tokenizer": tok,
    }
    key = "val_loss" if "val_loss" in final else "loss"
    where = "validation" if key == "val_loss" else "training"
    value = final.get(key, float("nan"))
    result["rank"], result["world_size"] = rank, world
    result["summary"] = (f"gpt: {value:.3f} {where} loss (perplexity {math.exp(min(value, 700)):.1f}; unigram "
                         f"{unigram:.3f}) after {done} epochs, {trainer.global_step} steps ({params:,} parameters, "
                         f"{info['vocab_size']} {tokenizer} tokens"
                         + (f"; {world} processes" if world > 1 else "") + ")")
    if result["sample"] is not None:
        result["summary"] += f"; sample (samples.txt): {result['sample'][:100]!r}"
    return result


def _process_group() -> tuple[int, int]:
    """``(rank, world size)``: joins the process group when launched on several ranks (``shendu run``,
    ``shendu train gpt --nproc N``, or any launcher that sets ``WORLD_SIZE``)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    from shendu import distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("mpi")
    return dist.get_rank(), dist.get_world_size()


def _barrier(world: int) -> None:
    if world > 1:
        from shendu import distributed as dist
        dist.barrier()


@dataclass
class GPTTrainConfig:
    """The settings of ``shendu train gpt`` (``train_gpt``'s arguments; 0 or "" mean "none")."""

    data: str = field(default="", metadata={
        "help": "a UTF-8 text file to learn (empty: the built-in corpus of the Python stdlib's sources)"})
    max_bytes: int = field(default=5_000_000, metadata={
        "help": "use at most this many bytes of the text (0: a whole file)", "min": 0})
    val_fraction: float = field(default=0.05, metadata={
        "help": "the end of the tokens held out for validation", "min": 0.0, "below": 1.0})
    tokenizer: str = field(default="bpe", metadata={
        "help": "byte-level BPE trained on the text, or its characters", "choices": ("bpe", "char")})
    vocab_size: int = field(default=1024, metadata={"help": "the BPE vocabulary size", "min": 257,
                                                    "below": 65537})
    n_layer: int = field(default=4, metadata={"help": "transformer blocks", "min": 1})
    n_head: int = field(default=4, metadata={"help": "attention heads", "min": 1})
    n_embd: int = field(default=128, metadata={"help": "embedding width (a multiple of --n-head)", "min": 1})
    n_kv_head: int = field(default=0, metadata={"help": "key/value heads (grouped-query attention; 0: n_head)",
                                                "min": 0})
    block_size: int = field(default=128, metadata={"help": "context length in tokens", "min": 1})
    dropout: float = field(default=0.0, metadata={"help": "dropout probability", "min": 0.0, "below": 1.0})
    bias: bool = field(default=False, metadata={"help": "biases in Linear layers and norms"})
    pos: str = field(default="learned", metadata={"help": "position encoding",
                                                  "choices": ("learned", "rope", "sinusoidal")})
    norm: str = field(default="layernorm", metadata={"help": "normalization", "choices": ("layernorm", "rmsnorm")})
    mlp: str = field(default="gelu", metadata={"help": "feed-forward block", "choices": ("gelu", "swiglu")})
    batch_size: int = field(default=16, metadata={"help": "windows per micro-batch", "min": 1})
    grad_accum: int = field(default=1, metadata={"help": "micro-batches per optimizer step", "min": 1})
    epochs: int = field(default=12, metadata={
        "help": "evaluation rounds in all (with --resume: train until this many are done)", "min": 1,
        "resumable": True})
    steps_per_epoch: int = field(default=100, metadata={"help": "optimizer steps between evaluations", "min": 1})
    eval_batches: int = field(default=20, metadata={"help": "validation batches per evaluation", "min": 0})
    lr: float = field(default=1e-3, metadata={"help": "AdamW's peak learning rate", "above": 0.0})
    min_lr: float = field(default=1e-4, metadata={"help": "the learning rate the cosine decay ends at", "min": 0.0})
    warmup_steps: int = field(default=100, metadata={"help": "linear warmup steps", "min": 0})
    decay_steps: int = field(default=0, metadata={
        "help": "the step the cosine decay reaches --min-lr (0: epochs x steps-per-epoch of the first run)",
        "min": 0})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW's weight decay on 2-D weights", "min": 0.0})
    beta2: float = field(default=0.99, metadata={"help": "AdamW's beta2", "min": 0.0, "below": 1.0})
    clip_grad_norm: float = field(default=1.0, metadata={
        "help": "clip the gradients' total norm to this (0: no clipping)", "min": 0.0})
    prompt: str = field(default="def ", metadata={
        "help": "the samples' prompt (empty: the text's first token)", "resumable": True})
    sample_length: int = field(default=100, metadata={
        "help": "tokens generated after each epoch", "min": 0, "resumable": True})
    temperature: float = field(default=0.8, metadata={"help": "sampling temperature (0: greedy)", "min": 0.0,
                                                      "resumable": True})
    top_k: int = field(default=50, metadata={"help": "sample among the k likeliest tokens (0: all)", "min": 0,
                                             "resumable": True})
    seed: int = field(default=0, metadata={"help": "seeds the initialization, the windows and the samples"})


def run_gpt(config: GPTTrainConfig, *, out: str | os.PathLike, resume: bool = False,
            callbacks: Iterable[Callback] = (), verbose: int = 0) -> dict:
    """``train_gpt`` with a ``GPTTrainConfig`` (the ``gpt`` entry of ``RECIPES``)."""
    c = asdict(config)
    none_if_zero = ("data", "max_bytes", "clip_grad_norm", "prompt", "n_kv_head", "top_k", "decay_steps")
    c.update({k: c[k] or None for k in none_if_zero})
    if c["data"] is not None and not os.path.isfile(c["data"]):  # a settings mistake, not an I/O failure
        raise ValueError(f"data: no text file at {c['data']!r}")
    if c["n_embd"] % c["n_head"]:
        raise ValueError(f"n_embd: {c['n_embd']} is not a multiple of --n-head {c['n_head']}")
    if c["n_kv_head"] and c["n_head"] % c["n_kv_head"]:
        raise ValueError(f"n_kv_head: --n-head {c['n_head']} is not a multiple of --n-kv-head {c['n_kv_head']}")
    if c["min_lr"] > c["lr"]:
        raise ValueError(f"min_lr: {c['min_lr']} is above --lr {c['lr']}")
    return train_gpt(c.pop("data"), out, resume=resume, callbacks=callbacks, verbose=verbose, **c)


def load_gpt(out: str | os.PathLike, which: str = "best"):
    """``(model, tokenizer)`` from a ``train_gpt`` folder: ``which`` is ``"best"`` or ``"last"``."""
    from shendu.io import load_checkpoint
    from shendu.models.gpt import GPT, GPTConfig

    if which not in ("best", "last"):
        raise ValueError(f"load_gpt: which must be 'best' or 'last', got {which!r}")
    out = Path(out)
    saved = json.loads((out / "model.json").read_text())
    names = {f.name for f in fields(GPTConfig)}
    model = GPT(GPTConfig(**{k: v for k, v in saved.items() if k in names}))
    load_checkpoint(out / f"{which}.safetensors", model=model, restore_rng=False)
    model.eval()
    return model, load_tokenizer(out)


__all__ = ["GPTTrainConfig", "GPTTrainer", "Perplexity", "SampleGPT", "WindowBatches",
           "cosine_schedule", "generate_text", "load_gpt", "load_tokenizer", "param_groups", "prepare_data",
           "read_tokens", "run_gpt", "train_gpt", "unigram_loss", "write_tokens"]
