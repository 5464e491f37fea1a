"""One step of ``GPT.generate`` with a key/value cache, run on raw arrays: the decoder's hot path.

Decoding a token is ~25 small products and ~70 other ops on (B, 1, C) arrays; through the modules
each op also pays for a Tensor, a graph check and a module call, several times the arithmetic at
W5's sizes. ``decode_step`` calls the same ops' raw forwards (``Linear``, ``LayerNorm``/``RMSNorm``,
``Gelu``, ``ScaledDotProductAttention``) in the same order on the same arrays, so its logits are the
module path's (checked in tests/models/test_gpt_decode.py, tokens and logits), and the cache it fills
is the :class:`~shendu.models.gpt.KVCache` the module path reads.

``fast_decoding(model)`` says whether a model can take this path: every block a stock one, and no
forward hooks (a hook must see its module run). Anything else decodes through the modules.

Shape letters as in ``shendu.models.gpt``: B batch, S keys so far, C = n_embd, H heads, Hkv key/value
heads, G = H // Hkv query heads per key/value head, D head size, V vocabulary.
"""
from __future__ import annotations

import math

from shendu.backend import array_module
from shendu.nn.layers.normalization import LayerNorm, RMSNorm
from shendu.ops.activation import Gelu
from shendu.ops.attention import ScaledDotProductAttention
from shendu.ops.elementwise import sigmoid_array
from shendu.ops.linalg import Linear as LinearOp
from shendu.ops.norm import LayerNorm as LayerNormOp
from shendu.ops.norm import RMSNorm as RMSNormOp
from shendu.tensor import Tensor

__all__ = ["decode_plan", "decode_step", "fast_decoding"]


class _Scratch:
    """The ``ctx`` the ops' forwards write their saved arrays onto; nothing reads them here."""


def fast_decoding(model) -> bool:
    """True when ``model`` (a ``GPT``) decodes exactly like ``decode_step`` does: stock norms and MLPs,
    and no forward hooks on any module."""
    from shendu.models.gpt import MLP, Block, CausalSelfAttention
    for m in model.modules():
        if m._forward_hooks or m._forward_pre_hooks:
            return False
    for block in model.transformer.h:
        if type(block) is not Block or type(block.attn) is not CausalSelfAttention or type(block.mlp) is not MLP:
            return False
        if block.mlp.kind not in ("gelu", "gelu_tanh", "swiglu"):
            return False
    norms = [model.transformer.ln_f] + [n for b in model.transformer.h for n in (b.ln_1, b.ln_2)]
    return all(type(n) in (LayerNorm, RMSNorm) and len(n.normalized_shape) == 1 for n in norms)


def _norm_arrays(module) -> tuple:
    """What ``_norm`` needs of a LayerNorm/RMSNorm, read once: (is layer norm, weight, bias, eps)."""
    w = None if module.weight is None else module.weight._data
    if type(module) is LayerNorm:
        return True, w, None if module.bias is None else module.bias._data, module.eps
    return False, w, None, module.eps


def _norm(spec: tuple, x):
    """A LayerNorm or RMSNorm over the last dim (``spec`` from ``_norm_arrays``), on arrays."""
    layer, w, b, eps = spec
    if layer:
        return LayerNormOp.forward(_Scratch(), x, w, b, n=1, eps=eps)
    if eps is None:
        eps = float(array_module(x).finfo(x.dtype).eps)
    return RMSNormOp.forward(_Scratch(), x, w, n=1, eps=eps)


def _linear_arrays(module) -> tuple:
    return module.weight._data, None if module.bias is None else module.bias._data


def _linear(spec: tuple, x):
    return LinearOp.forward(_Scratch(), x, spec[0], spec[1])


def decode_plan(model) -> dict:
    """The arrays a decoding step reads, gathered once per ``generate`` call (attribute lookups through
    the module tree cost more than the arithmetic they lead to at one token)."""
    parts = model.transformer
    layers = []
    for block in parts.h:
        mlp = block.mlp
        layers.append((_norm_arrays(block.ln_1), _linear_arrays(block.attn.c_attn), _linear_arrays(block.attn.c_proj),
                       _norm_arrays(block.ln_2), _linear_arrays(mlp.c_fc), mlp.kind, _linear_arrays(mlp.c_proj)))
    pos = model.config.pos
    table = parts.wpe.weight._data if pos == "learned" else parts.wpe.pe._data if pos == "sinusoidal" else None
    return {"wte": parts.wte.weight._data, "table": table, "layers": layers, "ln_f": _norm_arrays(parts.ln_f),
            "lm_head": _linear_arrays(model.lm_head)}


def _rotate(x, cos, sin):
    """RoPE in the half-split layout: ``x cos + rotate_half(x) sin`` (``shendu.nn.layers.positional``)."""
    xp = array_module(x)
    half = x.shape[-1] // 2
    return x * cos + xp.concatenate([-x[..., half:], x[..., :half]], axis=-1) * sin


def decode_step(model, tokens, cache, start_pos: int, key_mask=None, plan: dict | None = None):
    """The logits (B, V) after the tokens (B,) at position ``start_pos`` of each row, given ``cache``
    (a ``KVCache`` holding positions ``0 .. start_pos - 1``, which this step extends by one).

    ``key_mask``: (B, start_pos + 1) bool, False over left padding (as ``GPT.forward``'s attention_mask);
    each row's position is then its count of real tokens so far, minus one. ``plan``: ``decode_plan(model)``
    (made here when not given).
    """
    config = model.config
    plan = decode_plan(model) if plan is None else plan
    H, Hkv = config.n_head, config.kv_heads
    C = config.n_embd
    D, G = C // H, H // Hkv
    B = tokens.shape[0]
    xp = array_module(tokens)
    x = plan["wte"][tokens][:, None, :]                                     # (B, 1, C)
    pos = start_pos if key_mask is None else key_mask.sum(axis=1) - 1     # an int, or (B,) per row
    table = plan["table"]
    if table is not None:
        x = x + (table[pos] if key_mask is None else table[pos][:, None, :])
    else:
        cos, sin = (t._data for t in model.rotary.cos_sin(xp.asarray(pos).reshape(-1, 1), x.dtype))  # (1|B, 1, D)
        cos, sin = cos[:, None], sin[:, None]                               # (1|B, 1, 1, D)
    keep = None if key_mask is None else key_mask[:, None, None, :]          # (B, 1, 1, S)
    scale = 1.0 / math.sqrt(D)
    for layer, (ln_1, c_attn, c_proj, ln_2, c_fc, kind, fc_proj) in enumerate(plan["layers"]):
        qkv = _linear(c_attn, _norm(ln_1, x))                               # (B, 1, (H + 2 Hkv) D)
        q = qkv[..., :H * D].reshape(B, H, 1, D)
        k = qkv[..., H * D:(H + Hkv) * D].reshape(B, Hkv, 1, D)
        v = qkv[..., (H + Hkv) * D:].reshape(B, Hkv, 1, D)
        if table is None:
            q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        keys, values = cache.update(layer, Tensor._wrap(k), Tensor._wrap(v), start_pos)  # (B, Hkv, S, D)
        # the G query heads sharing a key/value head attend as G rows of one (B, Hkv) problem
        y = ScaledDotProductAttention.forward(_Scratch(), q.reshape(B, Hkv, G, D), keys._data, values._data,
                                              None, scale=scale, keep=keep, dropout_p=0.0)  # (B, Hkv, G, D)
        x = x + _linear(c_proj, y.reshape(B, 1, C))                         # (B, 1, C)
        h = _linear(c_fc, _norm(ln_2, x))
        if kind == "swiglu":
            a, b = xp.split(h, 2, axis=-1)
            h = a * sigmoid_array(a) * b
        else:
            h = Gelu.forward(_Scratch(), h, approximate="tanh" if kind == "gelu_tanh" else "none")
        x = x + _linear(fc_proj, h)                                         # (B, 1, C)
    x = _norm(plan["ln_f"], x)
    return _linear(plan["lm_head"], x[:, -1, :])                            # (B, V)
