"""Supervised fine-tuning (instruction tuning) of a ``shendu.models.GPT`` on prompt/response pairs.

Each step draws ``batch_size`` examples (seeded), formats them with the chat template and builds
``(idx, targets)`` with ``shendu.text.instructions.build_sft_batch``: the targets are ``-1`` on the
prompt and the padding, so ``model(idx, targets)``'s cross-entropy (``ignore_index=-1``) is the mean
over response tokens (and the end marker) only. AdamW (weight decay on 2-D weights only), linear
warmup then constant learning rate, gradient clipping::

    tok = ByteLevelBPETokenizer.from_file(...)   # trained with special_tokens=special_tokens()
    history = finetune(model, tok, load_instructions(), steps=300, lr=3e-4, batch_size=8)
    history["loss"][-1]
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from shendu import optim
from shendu.grad_mode import no_grad
from shendu.nn.utils import clip_grad_norm_
from shendu.text.instructions import build_sft_batch


def _block_size(model, block_size: int | None) -> int:
    if block_size is not None:
        return block_size
    config = getattr(model, "config", None)
    if config is None:
        raise ValueError("finetune: block_size is required for a model without a .config.block_size")
    return config.block_size


def response_loss(model, tokenizer, examples: Sequence[dict], block_size: int | None = None,
                  batch_size: int = 16) -> float:
    """The mean cross-entropy over all response tokens of ``examples`` (token-weighted, eval mode,
    no gradients); the model's mode is restored."""
    if len(examples) == 0:
        raise ValueError("response_loss: no examples")
    block_size = _block_size(model, block_size)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with no_grad():
            for i in range(0, len(examples), batch_size):
                idx, targets = build_sft_batch(examples[i:i + batch_size], tokenizer, block_size)
                _, loss = model(idx, targets)
                n = int((targets._data >= 0).sum())
                total += float(loss.item()) * n
                count += n
    finally:
        model.train(was_training)
    return total / count


def finetune(model, tokenizer, examples: Sequence[dict], steps: int = 300, lr: float = 3e-4,
             batch_size: int = 8, *, block_size: int | None = None, weight_decay: float = 0.0,
             warmup_steps: int = 10, clip_grad_norm: float | None = 1.0, seed: int = 0,
             val_examples: Sequence[dict] | None = None, eval_every: int = 50,
             callback: Callable[[int, dict], None] | None = None) -> dict[str, list]:
    """Fine-tune ``model`` in place; returns the history.

    Args:
        model: a ``GPT`` (``model(idx, targets) -> (logits, loss)`` with ``ignore_index=-1``).
        tokenizer: ``encode(str) -> ids`` (a ``ByteLevelBPETokenizer`` trained with the chat
            template's special tokens, or a ``CharTokenizer``).
        examples: ``[{"prompt", "response"}, ...]``.
        steps, lr, batch_size: optimizer steps, peak learning rate, examples per step.
        block_size: the context (None: ``model.config.block_size``); longer turns are cropped.
        weight_decay, warmup_steps, clip_grad_norm: AdamW's decay on 2-D weights, linear warmup
            steps, the gradients' total norm cap (None: no clipping).
        seed: the batches' draw.
        val_examples: evaluated with ``response_loss`` every ``eval_every`` steps and after the last.
        callback: ``callback(step, logs)`` after every step.

    Returns:
        ``{"step": [...], "loss": [...], "lr": [...]}`` one entry per step, plus ``"val_step"`` and
        ``"val_loss"`` when ``val_examples`` are given.
    """
    if len(examples) == 0:
        raise ValueError("finetune: no examples")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"finetune: steps must be a positive int, got {steps!r}")
    if batch_size < 1:
        raise ValueError(f"finetune: batch_size must be positive, got {batch_size}")
    block_size = _block_size(model, block_size)
    from shendu.train.gpt import param_groups
    opt = optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.99))
    rng = random.Random(seed)
    history: dict[str, list] = {"step": [], "loss": [], "lr": []}
    if val_examples is not None:
        history["val_step"], history["val_loss"] = [], []
    was_training = model.training
    model.train()
    try:
        for step in range(1, steps + 1):
            step_lr = lr * min(1.0, step / warmup_steps) if warmup_steps > 0 else lr
            for group in opt.param_groups:
                group["lr"] = step_lr
            batch = [examples[rng.randrange(len(examples))] for _ in range(batch_size)]
            idx, targets = build_sft_batch(batch, tokenizer, block_size)
            _, loss = model(idx, targets)
            opt.zero_grad()
            loss.backward()
            if clip_grad_norm is not None:
                clip_grad_norm_(model.parameters(), clip_grad_norm)
            opt.step()
            value = float(loss.item())
            if not math.isfinite(value):
                raise FloatingPointError(f"finetune: the loss is {value} at step {step}")
            history["step"].append(step)
            history["loss"].append(value)
            history["lr"].append(step_lr)
            logs = {"loss": value, "lr": step_lr}
            if val_examples is not None and (step % eval_every == 0 or step == steps):
                val = response_loss(model, tokenizer, val_examples, block_size)
                history["val_step"].append(step)
                history["val_loss"].append(val)
                logs["val_loss"] = val
            if callback is not None:
                callback(step, logs)
    finally:
        model.train(was_training)
    return history


__all__ = ["finetune", "response_loss"]
