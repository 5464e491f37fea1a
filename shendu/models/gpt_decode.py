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

__all__ = ["decode_step", "fast_decoding"]


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


def _norm(module, x):
    """``module(x)`` for a LayerNorm or RMSNorm over the last dim, on arrays."""
    w = None if module.weight is None else module.weight._data
    if type(module) is LayerNorm:
        b = None if module.bias is None else module.bias._data
        return LayerNormOp.forward(_Scratch(), x, w, b, n=1, eps=module.eps)
    eps = module.eps if module.eps is not None else float(array_module(x).finfo(x.dtype).eps)
    return RMSNormOp.forward(_Scratch(), x, w, n=1, eps=eps)


def _linear(module, x):
    return LinearOp.forward(_Scratch(), x, module.weight._data, None if module.bias is None else module.bias._data)


def _rotate(x, cos, sin):
    """RoPE in the half-split layout: ``x cos + rotate_half(x) sin`` (``shendu.nn.layers.positional``)."""
    xp = array_module(x)
    half = x.shape[-1] // 2
    return x * cos + xp.concatenate([-x[..., half:], x[..., :half]], axis=-1) * sin


def decode_step(model, tokens, cache, start_pos: int, key_mask=None):
    """The logits (B, V) after the tokens (B,) at position ``start_pos`` of each row, given ``cache``
    (a ``KVCache`` holding positions ``0 .. start_pos - 1``, which this step extends by one).

    ``key_mask``: (B, start_pos + 1) bool, False over left padding (as ``GPT.forward``'s attention_mask);
    each row's position is then its count of real tokens so far, minus one.
    """
    config, parts = model.config, model.transformer
    H, Hkv = config.n_head, config.kv_heads
    C = config.n_embd
    D, G = C // H, H // Hkv
    B = tokens.shape[0]
    xp = array_module(tokens)
    x = parts.wte.weight._data[tokens][:, None, :]                          # (B, 1, C)
    pos = start_pos if key_mask is None else key_mask.sum(axis=1) - 1     # an int, or (B,) per row
    if config.pos == "learned":
        table = parts.wpe.weight._data
    elif config.pos == "sinusoidal":
        table = parts.wpe.pe._data
    else:
        table = None
        cos, sin = (t._data for t in model.rotary.cos_sin(xp.asarray(pos).reshape(-1, 1), x.dtype))  # (1|B, 1, D)
        cos, sin = cos[:, None], sin[:, None]                               # (1|B, 1, 1, D)
    if table is not None:
        x = x + (table[pos] if key_mask is None else table[pos][:, None, :])
    keep = None if key_mask is None else key_mask[:, None, None, :]          # (B, 1, 1, S)
    scale = 1.0 / math.sqrt(D)
    for layer, block in enumerate(parts.h):
        attn = block.attn
        qkv = _linear(attn.c_attn, _norm(block.ln_1, x))                    # (B, 1, (H + 2 Hkv) D)
        q = qkv[..., :H * D].reshape(B, H, 1, D)
        k = qkv[..., H * D:(H + Hkv) * D].reshape(B, Hkv, 1, D)
        v = qkv[..., (H + Hkv) * D:].reshape(B, Hkv, 1, D)
        if table is None:
            q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        keys, values = cache.update(layer, Tensor._wrap(k), Tensor._wrap(v), start_pos)  # (B, Hkv, S, D)
        # the G query heads sharing a key/value head attend as G rows of one (B, Hkv) problem
        y = ScaledDotProductAttention.forward(_Scratch(), q.reshape(B, Hkv, G, D), keys._data, values._data,
                                              None, scale=scale, keep=keep, dropout_p=0.0)  # (B, Hkv, G, D)
        x = x + _linear(attn.c_proj, y.reshape(B, 1, C))                    # (B, 1, C)
        mlp = block.mlp
        h = _linear(mlp.c_fc, _norm(block.ln_2, x))
        if mlp.kind in ("gelu", "gelu_tanh"):
            h = Gelu.forward(_Scratch(), h, approximate="tanh" if mlp.kind == "gelu_tanh" else "none")
        else:
            a, b = xp.split(h, 2, axis=-1)
            h = a * sigmoid_array(a) * b
        x = x + _linear(mlp.c_proj, h)                                      # (B, 1, C)
    x = _norm(parts.ln_f, x)
    return _linear(model.lm_head, x[:, -1, :])                              # (B, V)
