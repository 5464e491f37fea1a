"""Instruction tuning a pretrained GPT (``shendu train sft``): a ``shendu train gpt`` run folder in,
a chat-ready run folder out.

The base run's model and BPE tokenizer are loaded (``load_gpt``); the chat template's markers
(``special_tokens()``) are appended to the tokenizer as new ids after its vocabulary
(``add_special_tokens``: existing ids unchanged) and the model's token table and output head grow by
as many rows (``resize_token_embeddings``: old rows kept, new rows the mean of the old ones, tying kept).
Then ``finetune`` trains on the built-in instruction set (``load_instructions``, split by
``split_instructions``) with the loss on response tokens only, and the validation response loss is
reported before and after. Files written to ``out`` (the layout ``load_gpt``, ``shendu generate`` and
``shendu chat`` read)::

    model.json  the grown GPTConfig       tokenizer.json  the tokenizer with the markers
    last.safetensors, best.safetensors    the fine-tuned model (the same weights)
    sft.json    base folder, steps, validation response loss before/after, training losses
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from shendu.tensor import Tensor


def resize_token_embeddings(model, new_vocab_size: int):
    """A copy of the ``GPT`` ``model`` with ``new_vocab_size`` token rows: the existing rows of the token
    table (``transformer.wte``) and the output head (``lm_head``) kept, the new rows set to the mean of the
    old ones (so new tokens start as an "average" token), the head tied to the table when it was.
    Returns the new model (in the input's training mode); ``model`` is unchanged."""
    from shendu.backend import array_module
    from shendu.grad_mode import no_grad
    from shendu.models.gpt import GPT
    old = model.config.vocab_size
    if not isinstance(new_vocab_size, int) or new_vocab_size < old:
        raise ValueError(f"resize_token_embeddings: new_vocab_size must be an int >= the current {old}, "
                         f"got {new_vocab_size!r}")
    new = GPT(replace(model.config, vocab_size=new_vocab_size))
    state = {}
    for name, value in model.state_dict().items():
        arr = value._data
        if name in ("transformer.wte.weight", "lm_head.weight"):
            xp = array_module(arr)
            extra = xp.broadcast_to(arr.mean(axis=0, keepdims=True), (new_vocab_size - old, arr.shape[1]))
            arr = xp.concatenate([arr, extra.astype(arr.dtype)], axis=0)
        state[name] = Tensor._wrap(arr.copy())
    with no_grad():
        new.load_state_dict(state)
    new.train(model.training)
    return new


def sft(base: str | os.PathLike, out: str | os.PathLike = "runs/sft", *, steps: int = 300, lr: float = 3e-4,
        batch_size: int = 8, limit: int | None = None, val_fraction: float = 0.1, warmup_steps: int = 10,
        seed: int = 0, verbose: int = 1) -> dict:
    """Instruction-tune the GPT in the ``train gpt`` folder ``base`` and write a run folder to ``out``.

    Args:
        base: a ``shendu train gpt`` run folder with a BPE tokenizer (``tokenizer.json``).
        steps, lr, batch_size, warmup_steps: ``finetune``'s.
        limit: use the first ``limit`` built-in instructions (None: all).
        val_fraction: the share of them held out for the validation response loss.
        seed: the split and the batches' draw.
    Returns: ``{"val_loss_before", "val_loss_after", "history", "steps", "train_examples",
    "val_examples", "vocab_size", "seconds", "out", "files", "summary", "model", "tokenizer"}``.
    """
    from shendu.io import save_checkpoint
    from shendu.random import manual_seed
    from shendu.text import ByteLevelBPETokenizer
    from shendu.text.instructions import load_instructions, special_tokens, split_instructions
    from shendu.train.gpt import load_gpt
    from shendu.train.sft import finetune, response_loss

    start = time.perf_counter()
    base, out = Path(base), Path(out)
    if not (base / "model.json").exists():
        raise ValueError(f"base: {os.fspath(base)!r} is not a 'shendu train gpt' run folder (no model.json)")
    if not (base / "tokenizer.json").exists():
        raise ValueError(f"base: {os.fspath(base)!r} has no tokenizer.json; instruction tuning needs a BPE "
                         "base run (train it with --tokenizer bpe)")
    which = "best" if (base / "best.safetensors").exists() else "last"
    if not (base / f"{which}.safetensors").exists():
        raise ValueError(f"base: {os.fspath(base)!r} holds no checkpoint (best.safetensors or last.safetensors)")
    if base.resolve() == out.resolve():
        raise ValueError("out: the SFT run needs its own folder, not the base run's")
    model, tok = load_gpt(base, which)
    if not isinstance(tok, ByteLevelBPETokenizer):
        raise ValueError(f"base: {os.fspath(base)!r} uses a {type(tok).__name__}; instruction tuning needs a "
                         "BPE tokenizer")
    tok.add_special_tokens(special_tokens())
    manual_seed(seed)
    model = resize_token_embeddings(model, tok.vocab_size)

    examples = load_instructions(limit=limit, seed=seed)
    if len(examples) < 2:
        raise ValueError(f"limit: {limit} instructions are too few (need 2 or more for a validation split)")
    train, val = split_instructions(examples, val_fraction=val_fraction, seed=seed)
    if not val:
        val = train[-1:]
    before = response_loss(model, tok, val)

    def report(step: int, logs: dict) -> None:
        if verbose and (step % 50 == 0 or step == steps):
            line = f"sft step {step}/{steps}: loss {logs['loss']:.3f}"
            if "val_loss" in logs:
                line += f", val response loss {logs['val_loss']:.3f}"
            print(line, flush=True)

    history = finetune(model, tok, train, steps=steps, lr=lr, batch_size=batch_size, warmup_steps=warmup_steps,
                       seed=seed, val_examples=val, eval_every=max(1, steps // 4), callback=report)
    after = history["val_loss"][-1]

    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    (out / "model.json").write_text(json.dumps(asdict(model.config), indent=2) + "\n")
    tok.save(out / "tokenizer.json")
    for name in ("last.safetensors", "best.safetensors"):
        save_checkpoint(out / name, model=model, epoch=1, rng=False)
    info = {"base": os.fspath(base), "base_checkpoint": which, "steps": steps, "lr": lr, "batch_size": batch_size,
            "train_examples": len(train), "val_examples": len(val), "val_loss_before": before,
            "val_loss_after": after, "loss": history["loss"]}
    (out / "sft.json").write_text(json.dumps(info, indent=2) + "\n")
    files = [out / n for n in ("model.json", "tokenizer.json", "last.safetensors", "best.safetensors", "sft.json")]
    summary = (f"sft: validation response loss {before:.3f} -> {after:.3f} after {steps} steps on {len(train)} "
               f"instructions ({len(val)} held out); vocabulary {tok.vocab_size} with the chat markers; "
               f"chat with: shendu chat --checkpoint {os.fspath(out)}")
    return {"val_loss_before": before, "val_loss_after": after, "history": history, "steps": steps, "epochs": 1,
            "train_examples": len(train), "val_examples": len(val), "vocab_size": tok.vocab_size,
            "seconds": time.perf_counter() - start, "out": os.fspath(out), "files": [str(f) for f in files],
            "summary": summary, "model": model, "tokenizer": tok}


@dataclass
class SFTConfig:
    """The settings of ``shendu train sft`` (``sft``'s arguments; 0 means "none")."""

    base: str = field(default="", metadata={"help": "the 'shendu train gpt' run folder to fine-tune (required)"})
    steps: int = field(default=300, metadata={"help": "optimizer steps", "min": 1})
    lr: float = field(default=3e-4, metadata={"help": "AdamW's peak learning rate", "above": 0.0})
    batch_size: int = field(default=8, metadata={"help": "instructions per step", "min": 1})
    limit: int = field(default=0, metadata={"help": "use the first N built-in instructions (0: all)", "min": 0})
    val_fraction: float = field(default=0.1, metadata={
        "help": "the instructions held out for the validation response loss", "above": 0.0, "below": 1.0})
    warmup_steps: int = field(default=10, metadata={"help": "linear warmup steps", "min": 0})
    seed: int = field(default=0, metadata={"help": "seeds the split, the new rows' draw and the batches"})


def run_sft(config: SFTConfig, *, out: str | os.PathLike, resume: bool = False, callbacks=(),
            verbose: int = 0) -> dict:
    """``sft`` with an ``SFTConfig`` (the ``sft`` entry of ``RECIPES``; a run is short and does not resume)."""
    if not config.base:
        raise ValueError("base: --base is required (a 'shendu train gpt' run folder)")
    if resume:
        raise ValueError("resume: an sft run does not resume; run it again with --overwrite")
    c = asdict(config)
    return sft(c.pop("base"), out, **{**c, "limit": c["limit"] or None}, verbose=1)


__all__ = ["SFTConfig", "resize_token_embeddings", "run_sft", "sft"]
