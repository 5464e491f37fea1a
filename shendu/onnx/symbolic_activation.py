"""The activations, clamps and softmaxes -> ONNX (registered into ``shendu.onnx.symbolic.SYMBOLIC``)."""
from __future__ import annotations

import math

import numpy as np

from shendu.onnx.symbolic import arg, out_dtype, register
from shendu.ops import activation, clamp, fused


@register(activation.LeakyRelu)
def _leaky_relu(g, r, r2):
    return g.node("LeakyRelu", [arg(g, r, r2, 0)], alpha=float(r.kwargs["negative_slope"]))


@register(activation.Elu)
def _elu(g, r, r2):
    dt, kw = out_dtype(r), r.kwargs
    x = arg(g, r, r2, 0)
    if kw.get("input_scale", 1.0) != 1.0:
        x = g.node("Mul", [x, g.const(np.asarray(kw["input_scale"], dt))])
    y = g.node("Elu", [x], alpha=float(kw["alpha"]))
    if kw.get("scale", 1.0) != 1.0:
        y = g.node("Mul", [y, g.const(np.asarray(kw["scale"], dt))])
    return y


@register(activation.Softplus)
def _softplus(g, r, r2):
    dt, beta, threshold = out_dtype(r), float(r.kwargs["beta"]), float(r.kwargs["threshold"])
    x = arg(g, r, r2, 0)
    bx = g.node("Mul", [x, g.const(np.asarray(beta, dt))]) if beta != 1.0 else x
    soft = g.node("Softplus", [bx])
    if beta != 1.0:
        soft = g.node("Div", [soft, g.const(np.asarray(beta, dt))])
    return g.node("Where", [g.node("Greater", [bx, g.const(np.asarray(threshold, dt))]), x, soft])


@register(activation.Hardtanh)
def _hardtanh(g, r, r2):
    dt = out_dtype(r)
    return g.node("Clip", [arg(g, r, r2, 0), g.const(np.asarray(r.kwargs["min_val"], dt)),
                           g.const(np.asarray(r.kwargs["max_val"], dt))])


@register(activation.Threshold)
def _threshold(g, r, r2):
    dt, x = out_dtype(r), arg(g, r, r2, 0)
    return g.node("Where", [g.node("Greater", [x, g.const(np.asarray(r.kwargs["threshold"], dt))]), x,
                            g.const(np.asarray(r.kwargs["value"], dt))])


@register(activation.Hardsigmoid)
def _hardsigmoid(g, r, r2):
    return g.node("HardSigmoid", [arg(g, r, r2, 0)], alpha=1.0 / 6.0, beta=0.5)


@register(clamp.Clamp)
def _clamp(g, r, r2):
    dt = out_dtype(r)
    lo, hi = r.kwargs.get("min"), r.kwargs.get("max")
    return g.node("Clip", [arg(g, r, r2, 0, dt), None if lo is None else g.const(np.asarray(lo, dt)),
                           None if hi is None else g.const(np.asarray(hi, dt))])


@register(clamp.ClampTensor)
def _clamp_tensor(g, r, r2):
    dt = out_dtype(r)
    y = arg(g, r, r2, 0, dt)
    if r.args[1] is not None:
        y = g.node("Max", [y, arg(g, r, r2, 1, dt)])
    if r.args[2] is not None:
        y = g.node("Min", [y, arg(g, r, r2, 2, dt)])
    return y


@register(fused.Softmax, fused.LogSoftmax)
def _softmax(g, r, r2):
    op = "Softmax" if r.cls is fused.Softmax else "LogSoftmax"
    return g.node(op, [arg(g, r, r2, 0)], axis=int(r.kwargs["axis"]))


@register(activation.Gelu)
def _gelu(g, r, r2):
    dt, x = out_dtype(r), arg(g, r, r2, 0)

    def c(v):
        return g.const(np.asarray(v, dt))
    if r.kwargs["approximate"] == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.node("Mul", [g.node("Mul", [x, x]), x])
        inner = g.node("Mul", [g.node("Add", [x, g.node("Mul", [cube, c(0.044715)])]), c(math.sqrt(2.0 / math.pi))])
        phi = g.node("Add", [g.node("Tanh", [inner]), c(1.0)])
    else:  # 0.5 x (1 + erf(x / sqrt 2)); ONNX's own Gelu needs opset 20
        phi = g.node("Add", [g.node("Erf", [g.node("Mul", [x, c(math.sqrt(0.5))])]), c(1.0)])
    return g.node("Mul", [g.node("Mul", [x, phi]), c(0.5)])


@register(activation.Hardshrink, activation.Softshrink)
def _shrink(g, r, r2):
    bias = 0.0 if r.cls is activation.Hardshrink else float(r.kwargs["lambd"])
    return g.node("Shrink", [arg(g, r, r2, 0)], lambd=float(r.kwargs["lambd"]), bias=bias)
