"""Sizing a GPT before building it: parameters, FLOPs, and memory for training or inference.

``model_size(config, batch, context)`` works from a :class:`~shendu.models.gpt.GPTConfig` alone, so it
answers for GPT-2 1.5B or a 7B model on a laptop without allocating anything; ``shendu size`` prints it.
The counts follow shendu's GPT exactly (tests check them against built models and against
``FlopCounterMode`` on real steps):

* parameters: every weight and bias of ``GPT(config)`` (a tied head counted once);
* FLOPs: 2 per multiply-add of every product a token goes through (the weight matrices, the head,
  and attention's scores and weighted values against ``context`` keys); a training step is 3x the
  forward (the backward computes two products per forward one), about the ``6·N·T`` rule plus attention;
* memory: parameters, gradients and optimizer state (AdamW 2 values per parameter, SGD with momentum
  1) in ``dtype``, and the activations backward keeps: per layer and token, the arrays shendu's ops
  save (the norms' inputs, q/k/v, the attention output, the MLP's hidden activations (3 arrays of
  its width: input, Φ and the product's input) and the attention probabilities, one row of ``context``
  per head), plus the logits. With ``checkpointing`` only each block's input is kept, and one block's
  activations at a time are recomputed.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields

from shendu.models.gpt import GPTConfig

__all__ = ["PRESETS", "SizeReport", "load_config", "model_size"]

# Published shapes. GPT-2's four (Radford et al. 2019; tied head, learned positions, biases); a LLaMA-like
# 7B (Touvron et al. 2023: RoPE, RMSNorm, SwiGLU, untied head, no biases; shendu rounds the SwiGLU width
# to 8·ceil(8C/3 / 8) = 10928 where LLaMA uses 11008: 6.71B parameters against LLaMA's 6.74B).
PRESETS = {
    "gpt2": GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768),
    "gpt2-medium": GPTConfig(vocab_size=50257, block_size=1024, n_layer=24, n_head=16, n_embd=1024),
    "gpt2-large": GPTConfig(vocab_size=50257, block_size=1024, n_layer=36, n_head=20, n_embd=1280),
    "gpt2-xl": GPTConfig(vocab_size=50257, block_size=1024, n_layer=48, n_head=25, n_embd=1600),
    "llama-7b": GPTConfig(vocab_size=32000, block_size=4096, n_layer=32, n_head=32, n_embd=4096, bias=False,
                          tie_weights=False, pos="rope", norm="rmsnorm", mlp="swiglu"),
}
BYTES = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2}
OPTIMIZER_STATES = {"adamw": 2, "adam": 2, "sgd": 1, "none": 0}


def _mlp_width(config: GPTConfig) -> tuple[int, int]:
    """(hidden width, c_fc output width) of the MLP (``shendu.models.gpt.MLP``)."""
    C = config.n_embd
    if config.mlp != "swiglu":      # gelu, gelu_tanh
        return 4 * C, 4 * C
    hidden = 8 * ((8 * C // 3 + 7) // 8)
    return hidden, 2 * hidden


def _layer_matrices(config: GPTConfig) -> list[tuple[int, int]]:
    """(in, out) of each Linear in one block."""
    C, H, Hkv = config.n_embd, config.n_head, config.kv_heads
    D = C // H
    hidden, fc_out = _mlp_width(config)
    return [(C, (H + 2 * Hkv) * D), (C, C), (C, fc_out), (hidden, C)]


def count_parameters(config: GPTConfig) -> int:
    """The number of parameters ``GPT(config)`` has (shared tables once)."""
    C, V = config.n_embd, config.vocab_size
    norm = C * (2 if config.norm == "layernorm" and config.bias else 1)
    per_layer = 2 * norm + sum(i * o + (o if config.bias else 0) for i, o in _layer_matrices(config))
    total = V * C + config.n_layer * per_layer + norm
    if config.pos == "learned":
        total += config.block_size * C
    if not config.tie_weights:
        total += V * C
    return total


@dataclass
class SizeReport:
    """What ``model_size`` computes (bytes and FLOPs as plain numbers)."""

    config: dict
    batch: int
    context: int
    dtype: str
    training: bool
    parameters: int
    matmul_parameters: int           # the weights every token multiplies by (N in 6·N·T)
    flops_per_token: int             # forward
    flops_per_step: int              # the whole batch: forward, plus backward when training
    six_n_t: int                     # the 6·N·T rule for the same step (training) or 2·N·T (inference)
    parameter_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    activation_bytes: int
    kv_cache_bytes: int              # inference: the cache for batch x context positions

    @property
    def total_bytes(self) -> int:
        """Parameters + gradients + optimizer state + activations (training) or + KV cache (inference)."""
        return (self.parameter_bytes + self.gradient_bytes + self.optimizer_bytes + self.activation_bytes
                + self.kv_cache_bytes)

    def table(self) -> str:
        """The report as aligned text lines."""
        c = self.config
        shape = (f"{c['n_layer']} layers, d {c['n_embd']}, {c['n_head']} heads"
                 + (f" ({c['n_kv_head']} kv)" if c.get("n_kv_head") else "")
                 + f", vocab {c['vocab_size']}, {c['pos']}/{c['norm']}/{c['mlp']}")
        mode = "training step" if self.training else "inference (forward with a KV cache)"
        rows = [("model", shape), ("parameters", f"{self.parameters:,} ({_si(self.parameters)})"),
                (f"{mode}", f"batch {self.batch} x context {self.context}, {self.dtype}"),
                ("FLOPs per token (forward)", _si(self.flops_per_token)),
                ("FLOPs per step", f"{_si(self.flops_per_step)} ({'6' if self.training else '2'}·N·T rule: "
                                   f"{_si(self.six_n_t)})"),
                ("parameters memory", _bytes(self.parameter_bytes))]
        if self.training:
            rows += [("gradients", _bytes(self.gradient_bytes)), ("optimizer state", _bytes(self.optimizer_bytes)),
                     ("activations", _bytes(self.activation_bytes))]
        else:
            rows.append(("KV cache", _bytes(self.kv_cache_bytes)))
        rows.append(("total", _bytes(self.total_bytes)))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def model_size(config: GPTConfig, batch: int = 1, context: int | None = None, dtype: str = "float32",
               optimizer: str = "adamw", training: bool = True, checkpointing: bool = False) -> SizeReport:
    """Parameters, FLOPs and memory of ``GPT(config)`` for ``batch`` sequences of ``context`` tokens.

    ``context`` defaults to ``block_size``; ``optimizer`` is ``adamw``/``adam``/``sgd`` (momentum)/``none``;
    ``training=False`` sizes inference instead (no gradients or optimizer, a KV cache).
    """
    if dtype not in BYTES:
        raise ValueError(f"model_size: dtype must be one of {sorted(BYTES)}, got {dtype!r}")
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"model_size: optimizer must be one of {sorted(OPTIMIZER_STATES)}, got {optimizer!r}")
    T = config.block_size if context is None else int(context)
    if batch < 1 or not 1 <= T <= config.block_size:
        raise ValueError(f"model_size: need batch >= 1 and 1 <= context <= block_size={config.block_size}, "
                         f"got batch {batch}, context {T}")
    L, C, H, V = config.n_layer, config.n_embd, config.n_head, config.vocab_size
    D, Hkv = C // H, config.kv_heads
    nbytes = BYTES[dtype]
    params = count_parameters(config)
    matmul = L * sum(i * o for i, o in _layer_matrices(config)) + V * C     # the head multiplies every token
    attention = 4 * L * T * C                 # scores (2·T·C) and weighted values (2·T·C) per token and layer
    per_token = 2 * matmul + attention
    tokens = batch * T
    step = (3 if training else 1) * per_token * tokens
    hidden, fc_out = _mlp_width(config)
    qkv = (H + 2 * Hkv) * D
    # Saved per token and layer: ln_1 in, c_attn in, q/k/v, attention out (c_proj in), ln_2 in, c_fc in,
    # the MLP's c_fc output, Φ (or the gate) and c_proj's input, the residual stream; probabilities H·T.
    per_layer = 5 * C + qkv + fc_out + 2 * hidden + H * T
    logits = 2 * V                           # the logits and the softmax the loss keeps
    if not training:
        activation = 0
    elif checkpointing:
        activation = tokens * nbytes * (L * C + per_layer + logits)
    else:
        activation = tokens * nbytes * (L * per_layer + logits)
    kv = 0 if training else 2 * L * batch * T * Hkv * D * nbytes
    return SizeReport(config=asdict(config), batch=batch, context=T, dtype=dtype, training=training,
                      parameters=params, matmul_parameters=matmul, flops_per_token=per_token, flops_per_step=step,
                      six_n_t=(6 if training else 2) * matmul * tokens, parameter_bytes=params * nbytes,
                      gradient_bytes=params * nbytes if training else 0,
                      optimizer_bytes=OPTIMIZER_STATES[optimizer] * params * nbytes if training else 0,
                      activation_bytes=activation, kv_cache_bytes=kv)


def load_config(name_or_path: str | os.PathLike) -> GPTConfig:
    """A preset's ``GPTConfig`` (``PRESETS``), or one read from a JSON file of GPTConfig fields (a
    ``shendu train gpt`` run folder's ``model.json``, or the folder itself)."""
    key = os.fspath(name_or_path)
    if key in PRESETS:
        return PRESETS[key]
    path = os.path.join(key, "model.json") if os.path.isdir(key) else key
    if not os.path.isfile(path):
        raise ValueError(f"unknown model {key!r}: give one of {', '.join(PRESETS)} or a JSON file of GPTConfig "
                         "fields (a run folder's model.json)")
    try:
        saved = json.loads(open(path, encoding="utf-8").read())
        names = {f.name for f in fields(GPTConfig)}
        return GPTConfig(**{k: v for k, v in saved.items() if k in names})
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"cannot read a GPTConfig from {path}: {e}") from None


def _si(n: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"


def _bytes(n: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"
