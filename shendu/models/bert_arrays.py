"""BERT's encoder on raw arrays: the inference path of ``shendu.models.bert`` (used when there is nothing to
differentiate and no dropout).

With no gradient to record, the encoder runs as plain NumPy: q/k/v in one product (the softmax scale folded
into the query weights), attention products straight on strided views of it, the bias, residual, LayerNorm
and GELU written in place, the batch cut across shendu's thread pool (sequences never meet) and, inside each
thread, into sub-batches small enough for the activations to stay in cache. The module path in bert.py is the
same computation op by op (the training and create_graph path, and the test oracle).
"""
from __future__ import annotations

import math

import numpy as np

from shendu import threads

__all__ = ["additive_mask", "inference_encoder"]


def additive_mask(keep: np.ndarray, dtype) -> np.ndarray:
    """0 where a key takes part, the dtype's most negative value where it is padding (transformers' extended
    mask: a padded key's weight is exactly 0; a sequence that is all padding attends uniformly, never NaN)."""
    return np.where(keep, dtype.type(0), np.finfo(dtype).min).astype(dtype, copy=False)


_SUB_BATCH_TOKENS = 1024  # tokens per sub-batch inside a thread: its (1024, F) activations stay in L3
_GELU_CHUNK = 1 << 15  # elements per in-place GELU piece
# Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, float32's resolution): erf(u) = 1 - t P(t) exp(-u²),
# t = 1 / (1 + p u) for u >= 0 (PyTorch's vectorised CPU erf is the same formula)
_ERF_P = 0.3275911
_ERF_A = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)


def _gelu_(x: np.ndarray) -> None:
    """x <- x Φ(x), in place, piece by piece (cache-sized temporaries), written as
    ``max(x, 0) - |x| erfc(|x|/√2) / 2`` (the same for either sign of x, so no sign pass)."""
    flat = x.reshape(-1)
    n = min(flat.size, _GELU_CHUNK)
    u, t, r = (np.empty(n, dtype=x.dtype) for _ in range(3))
    p = x.dtype.type(_ERF_P * math.sqrt(0.5))
    a5, a4, a3, a2, a1 = (x.dtype.type(0.5 * a) for a in _ERF_A)  # the 1/2 folded into P
    for start in range(0, flat.size, n):
        xs = flat[start:start + n]
        m = xs.size
        uu, tt, rr = u[:m], t[:m], r[:m]
        np.abs(xs, out=uu)                 # |x|
        np.multiply(uu, p, out=tt)
        tt += 1
        np.reciprocal(tt, out=tt)          # t = 1 / (1 + p |x|/√2)
        np.multiply(tt, a5, out=rr)
        for a in (a4, a3, a2, a1):
            rr += a
            rr *= tt                       # t P(t) / 2, Horner
        np.multiply(xs, xs, out=tt)
        tt *= -0.5
        np.exp(tt, out=tt)                 # exp(-x²/2)
        rr *= tt
        rr *= uu                           # |x| erfc(|x|/√2) / 2
        np.maximum(xs, 0, out=xs)
        xs -= rr


def _activation_(name: str, x: np.ndarray) -> None:
    if name == "gelu":
        _gelu_(x)
    elif name in ("gelu_new", "gelu_pytorch_tanh"):
        x *= 0.5 * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    elif name == "relu":
        np.maximum(x, 0, out=x)
    elif name in ("silu", "swish"):
        x /= 1.0 + np.exp(-x)
    else:
        np.tanh(x, out=x)


def _layer_norm_(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> None:
    """LayerNorm over the last dim of the 2-D ``x``, in place."""
    x -= x.mean(axis=1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x) / x.shape[1]
    var += eps
    x *= (1.0 / np.sqrt(var, out=var))[:, None].astype(x.dtype, copy=False)
    x *= weight
    x += bias


def _layer_arrays(layer, D: int) -> tuple:
    """One layer's weights as raw arrays: the q/k/v weights joined (queries pre-scaled by 1/sqrt(D))."""
    att, scale = layer.attention.self, np.float32(1.0 / math.sqrt(D))
    w_qkv = np.concatenate([att.query.weight._data * scale, att.key.weight._data, att.value.weight._data])
    b_qkv = np.concatenate([att.query.bias._data * scale, att.key.bias._data, att.value.bias._data])
    out, inter, ffn_out = layer.attention.output, layer.intermediate, layer.output
    return (w_qkv, b_qkv, out.dense.weight._data, out.dense.bias._data, out.LayerNorm.weight._data,
            out.LayerNorm.bias._data, inter.dense.weight._data, inter.dense.bias._data, ffn_out.dense.weight._data,
            ffn_out.dense.bias._data, ffn_out.LayerNorm.weight._data, ffn_out.LayerNorm.bias._data)


def _encode_rows(x: np.ndarray, neg: np.ndarray | None, alive: np.ndarray | None, layers: list, H: int, eps: float,
                 act: str) -> np.ndarray:
    """The encoder on a sub-batch ``x`` (n, T, C); ``neg`` (n, 1, 1, T) is 0, or float32's min for padded keys;
    ``alive`` (n, 1, 1, 1) is 0 for a sequence of only padding (its context is 0, as the fused attention's)."""
    n, T, C = x.shape
    D = C // H
    rows = x.reshape(n * T, C)
    for (w_qkv, b_qkv, w_o, b_o, g1, be1, w_i, b_i, w_2, b_2, g2, be2) in layers:
        qkv = rows @ w_qkv.T                                              # (nT, 3C)
        qkv += b_qkv
        qkv5 = qkv.reshape(n, T, 3, H, D)
        q = qkv5[:, :, 0].transpose(0, 2, 1, 3)                           # (n, H, T, D) strided view
        k_t = np.ascontiguousarray(qkv5[:, :, 1].transpose(0, 2, 3, 1))   # (n, H, D, T)
        v = np.ascontiguousarray(qkv5[:, :, 2].transpose(0, 2, 1, 3))     # (n, H, T, D)
        s = q @ k_t                                                       # (n, H, T, T), already scaled
        if neg is not None:
            s += neg
        s -= np.fmax.reduce(s, axis=-1, keepdims=True)
        np.exp(s, out=s)
        s *= 1.0 / s.sum(axis=-1, keepdims=True)                          # softmax over the keys
        if alive is not None:
            s *= alive
        ctx = np.empty((n, T, H, D), dtype=x.dtype)
        np.matmul(s, v, out=ctx.transpose(0, 2, 1, 3))                    # (n, H, T, D) written as (n, T, H, D)
        a = ctx.reshape(n * T, C) @ w_o.T                                 # (nT, C)
        a += b_o
        a += rows
        _layer_norm_(a, g1, be1, eps)
        h = a @ w_i.T                                                     # (nT, F)
        h += b_i
        _activation_(act, h)
        rows = h @ w_2.T                                                  # (nT, C)
        rows += b_2
        rows += a
        _layer_norm_(rows, g2, be2, eps)
    return rows.reshape(n, T, C)


def inference_encoder(encoder, x: np.ndarray, keep: np.ndarray | None, config) -> np.ndarray:
    """``BertEncoder``'s forward on the raw (N, T, C) array ``x``; ``keep``: bool (N, 1, 1, T) or None."""
    N, T, C = x.shape
    layers = [_layer_arrays(layer, C // config.num_attention_heads) for layer in encoder.layer]
    neg = alive = None
    if keep is not None:
        neg = additive_mask(keep, x.dtype)  # (N, 1, 1, T)
        if not keep.any(axis=-1).all():
            alive = keep.any(axis=-1, keepdims=True).astype(x.dtype)  # (N, 1, 1, 1)
    out = np.empty_like(x)
    step = max(1, _SUB_BATCH_TOKENS // T)

    def block(start: int, stop: int) -> None:
        for a in range(start, stop, step):
            b = min(a + step, stop)
            out[a:b] = _encode_rows(np.ascontiguousarray(x[a:b]), None if neg is None else neg[a:b],
                                    None if alive is None else alive[a:b], layers, config.num_attention_heads,
                                    config.layer_norm_eps, config.hidden_act)

    threads.parallel_for(block, N, min_chunk=1, blas=True)
    return out
