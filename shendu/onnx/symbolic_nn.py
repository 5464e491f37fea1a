"""The layers' ops -> ONNX: convolution, pooling, normalization, attention and the recurrent layers.

Recurrent layers become ONNX ``LSTM``/``GRU``/``RNN`` nodes, one per layer and direction, as shendu
runs them: shendu's recurrence op receives the input already projected (``x W_ihᵀ + b_ih``, one
matmul for the whole sequence), so the ONNX node's input weight is a permutation matrix that reorders
the gates (PyTorch's i, f, g, o -> ONNX's i, o, f, c for the LSTM; r, z, n -> z, r, h for the GRU, with
``linear_before_reset=1``, PyTorch's formula) and its recurrent weight and bias are the layer's own,
rows reordered the same way by a ``Gather``. Attention becomes MatMul / Softmax / MatMul, a bool mask
a ``Where`` to -inf before the softmax.
"""
from __future__ import annotations

import numpy as np

from shendu.onnx.graph import OnnxExporterError
from shendu.onnx.symbolic import arg, kwarg, op_name, out_dtype, register, shape_of
from shendu.ops import attention, conv, norm, pool
from shendu.ops.recurrent import gru, lstm, rnn


@register(conv.Convolution)
def _conv(g, r, r2):
    geom = r.kwargs["geom"]
    (pt, pb, pl, pr) = geom.padding
    inputs = [arg(g, r, r2, 0), arg(g, r, r2, 1)]
    if r.args[2] is not None:
        inputs.append(arg(g, r, r2, 2))
    return g.node("Conv", inputs, strides=list(geom.stride), pads=[pt, pl, pb, pr],
                  dilations=list(geom.dilation), group=int(geom.groups))


@register(conv.ConvolutionTranspose, dynamic=("x_shape",))
def _conv_transpose(g, r, r2):
    geom, (H, W) = r.kwargs["geom"], r.kwargs["x_shape"][2:]
    (pt, pb, pl, pr), (sh, sw), (dh, dw) = geom.padding, geom.stride, geom.dilation
    (Hi, Wi), (kh, kw) = shape_of(r.args[0])[2:], shape_of(r.args[1])[2:]
    extra = [H - ((Hi - 1) * sh - pt - pb + dh * (kh - 1) + 1), W - ((Wi - 1) * sw - pl - pr + dw * (kw - 1) + 1)]
    inputs = [arg(g, r, r2, 0), arg(g, r, r2, 1)]
    if r.args[2] is not None:
        inputs.append(arg(g, r, r2, 2))
    return g.node("ConvTranspose", inputs, strides=[sh, sw], pads=[pt, pl, pb, pr], dilations=[dh, dw],
                  group=int(geom.groups), output_padding=extra)


def _pool_pads(x_shape, pg) -> list:
    (H, W), (ph, pw), (eh, ew) = x_shape[-2:], pg.padding, pg.extent
    # the end padding that makes ONNX's floor formula give exactly shendu's (ceil-mode aware) output size
    return [ph, pw, max(eh - H - ph, 0), max(ew - W - pw, 0)]


def _pooling(r, r2):
    """(pg, pads, global): the pooling's geometry, which must not depend on the sizes of the dynamic axes
    except for a global pool (one window over the whole image, ``adaptive_*_pool2d(1)``)."""
    pg, pg2 = r.kwargs["pg"], r2.kwargs["pg"]
    hw, hw2 = shape_of(r.args[0])[-2:], shape_of(r2.args[0])[-2:]
    pads = _pool_pads(shape_of(r.args[0]), pg)
    whole = pg.out == (1, 1) and tuple(pg.kernel) == tuple(hw) and not any(pg.padding)
    if pg2 == pg and hw2 == hw:
        return pg, pads, whole
    if whole and pg2.out == (1, 1) and tuple(pg2.kernel) == tuple(hw2) and not any(pg2.padding):
        return pg, pads, True
    if (pg.kernel, pg.stride, pg.padding, pg.dilation) == (pg2.kernel, pg2.stride, pg2.padding, pg2.dilation) \
            and pads == _pool_pads(shape_of(r2.args[0]), pg2):
        return pg, pads, False
    raise OnnxExporterError(f"shendu.onnx.export: {op_name(r)}: a pooling whose windows change with the dynamic "
                            f"axes ({pg} vs {pg2}) is not exportable")


@register(pool.MaxPool, dynamic=("pg",))
def _max_pool(g, r, r2):
    pg, pads, whole = _pooling(r, r2)
    if whole:
        return [g.reduce("ReduceMax", arg(g, r, r2, 0), [-2, -1], True), None]
    y = g.node("MaxPool", [arg(g, r, r2, 0)], kernel_shape=list(pg.kernel), strides=list(pg.stride),
               pads=pads, dilations=list(pg.dilation))
    return [y, None]  # the second output (window codes) is shendu's own bookkeeping


@register(pool.PoolSum, dynamic=("pg",))
def _pool_sum(g, r, r2):
    pg, pads, whole = _pooling(r, r2)
    if whole:
        return g.reduce("ReduceSum", arg(g, r, r2, 0), [-2, -1], True)
    if any(d != 1 for d in pg.dilation):
        raise OnnxExporterError(f"shendu.onnx.export: {op_name(r)}: dilated average pooling is not exportable")
    avg = g.node("AveragePool", [arg(g, r, r2, 0)], kernel_shape=list(pg.kernel), strides=list(pg.stride),
                 pads=pads, count_include_pad=1)
    k = int(np.prod(pg.kernel))
    return g.node("Mul", [avg, g.const(np.asarray(k, out_dtype(r)))])  # a window sum = mean · k (zero padding)


@register(norm.BatchNorm, dynamic=("running_mean", "running_var"))
def _batch_norm(g, r, r2):
    kw = r.kwargs
    if kw["training"] or kw["running_mean"] is None:
        raise OnnxExporterError(f"shendu.onnx.export: {op_name(r)}: batch norm with batch statistics (training "
                                "mode or track_running_stats=False) is not exportable; call model.eval()")
    C, dt = shape_of(r.args[0])[1], out_dtype(r)
    w = arg(g, r, r2, 1) if r.args[1] is not None else g.const(np.ones(C, dt))
    b = arg(g, r, r2, 2) if r.args[2] is not None else g.const(np.zeros(C, dt))
    return g.node("BatchNormalization", [arg(g, r, r2, 0), w, b, kwarg(g, r, r2, "running_mean"),
                                         kwarg(g, r, r2, "running_var")], epsilon=float(kw["eps"]))


@register(norm.LayerNorm)
def _layer_norm(g, r, r2):
    n, dt = int(r.kwargs["n"]), out_dtype(r)
    normalized = shape_of(r.args[0])[-n:]
    w = arg(g, r, r2, 1) if r.args[1] is not None else g.const(np.ones(normalized, dt))
    inputs = [arg(g, r, r2, 0), w] + ([arg(g, r, r2, 2)] if r.args[2] is not None else [])
    return g.node("LayerNormalization", inputs, axis=-n, epsilon=float(r.kwargs["eps"]))


@register(norm.RMSNorm)
def _rms_norm(g, r, r2):
    n, dt = int(r.kwargs["n"]), out_dtype(r)
    x = arg(g, r, r2, 0)
    axes = list(range(-n, 0))
    ms = g.reduce("ReduceMean", g.node("Mul", [x, x]), axes, True)
    eps = r.kwargs["eps"]
    if eps is None:
        eps = float(np.finfo(dt).eps)
    y = g.node("Mul", [x, g.node("Reciprocal", [g.node("Sqrt", [g.node("Add", [ms, g.const(np.asarray(eps, dt))])])])])
    return g.node("Mul", [y, arg(g, r, r2, 1)]) if r.args[1] is not None else y


@register(attention.ScaledDotProductAttention, dynamic=("keep",))
def _sdpa(g, r, r2):
    kw, dt = r.kwargs, out_dtype(r)
    if kw["dropout_p"] > 0.0:
        raise OnnxExporterError(f"shendu.onnx.export: {op_name(r)}: attention dropout is not exportable; "
                                "call model.eval()")
    if (kw["keep"] is None) != (r2.kwargs["keep"] is None):
        raise OnnxExporterError(f"shendu.onnx.export: {op_name(r)}: the attention is masked at some sizes and not "
                                "at others (a causal mask skipped for one query); export with a longer example "
                                "sequence")
    q, k, v = arg(g, r, r2, 0), arg(g, r, r2, 1), arg(g, r, r2, 2)
    nk = len(shape_of(r.args[1]))
    perm = list(range(nk - 2)) + [nk - 1, nk - 2]
    q = g.node("Mul", [q, g.const(np.asarray(kw["scale"], dt))])
    s = g.node("MatMul", [q, g.node("Transpose", [k], perm=perm)])  # (..., L, S)
    if r.args[3] is not None:
        s = g.node("Add", [s, arg(g, r, r2, 3, dt)])
    if kw["keep"] is not None:
        s = g.node("Where", [kwarg(g, r, r2, "keep"), s, g.const(np.asarray(-np.inf, dt))])
    return g.node("MatMul", [g.node("Softmax", [s], axis=-1), v])


def _gate_rows(order, H: int) -> np.ndarray:
    return np.concatenate([np.arange(k * H, (k + 1) * H) for k in order]).astype(np.int64)


def _recurrent(g, r, r2, kind: str, gates: int, order, h_index: int, w_index: int, b_index: int, **attrs):
    """One ONNX LSTM/GRU/RNN node for one layer and direction (see the module docstring)."""
    op = op_name(r)
    if r.kwargs["batch_sizes"] is not None:
        raise OnnxExporterError(f"shendu.onnx.export: {op}: packed sequences (PackedSequence) are not exportable; "
                                "pass padded tensors")
    xg, h0 = r.args[0], r.args[h_index]
    H, dt = shape_of(r.args[w_index])[1], out_dtype(r)
    G = gates * H
    rows = _gate_rows(order, H)
    x = arg(g, r, r2, 0)
    h = arg(g, r, r2, h_index)
    batch = g.dim_of(h, 0)
    X = g.node("Reshape", [x, g.node("Concat", [g.ints([-1]), batch, g.ints([G])], axis=0)])  # (T, B, G)
    W = g.const(np.eye(G, dtype=dt)[rows][None])                                              # (1, G, G)
    R = g.node("Unsqueeze", [g.node("Gather", [arg(g, r, r2, w_index), g.ints(rows)], axis=0), g.ints([0])])
    if r.args[b_index] is not None:
        rb = g.node("Gather", [arg(g, r, r2, b_index), g.ints(rows)], axis=0)
    else:
        rb = g.const(np.zeros(G, dt))
    B = g.node("Unsqueeze", [g.node("Concat", [g.const(np.zeros(G, dt)), rb], axis=0), g.ints([0])])  # (1, 2G)
    inputs = [X, W, R, B, None, g.node("Unsqueeze", [h, g.ints([0])])]
    n_out = 2
    if kind == "LSTM":
        inputs.append(g.node("Unsqueeze", [arg(g, r, r2, 2), g.ints([0])]))
        n_out = 3
    outs = g.node(kind, inputs, n_out=n_out, hidden_size=int(H),
                  direction="reverse" if r.kwargs["reverse"] else "forward", **attrs)
    y = g.node("Reshape", [outs[0], g.ints([-1, int(H)])])                                   # (T·B, H)
    del xg, h0
    return [y] + [g.node("Squeeze", [o, g.ints([0])]) for o in outs[1:]]                     # (B, H) each


@register(lstm.LSTMLayer)
def _lstm(g, r, r2):
    if r.args[5] is not None:
        raise OnnxExporterError(f"shendu.onnx.export: {op_name(r)}: LSTM with proj_size > 0 is not exportable")
    return _recurrent(g, r, r2, "LSTM", 4, (0, 3, 1, 2), 1, 3, 4)


@register(gru.GRULayer)
def _gru(g, r, r2):
    return _recurrent(g, r, r2, "GRU", 3, (1, 0, 2), 1, 2, 3, linear_before_reset=1)


@register(rnn.RNNLayer)
def _rnn(g, r, r2):
    act = {"tanh": "Tanh", "relu": "Relu"}[r.kwargs["nonlinearity"]]
    return _recurrent(g, r, r2, "RNN", 1, (0,), 1, 2, 3, activations=[act])
