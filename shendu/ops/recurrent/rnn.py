"""The Elman (tanh/ReLU) recurrence over a sequence (``rnn_layer``) with its hand-written BPTT, and the
composite cell."""
from __future__ import annotations

import functools

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.ops.fused import composite_backward
from shendu.ops.recurrent.schedule import _cat, _check, _flatten, _over_rows, _Schedule, _sizes, _transposed, _walk
from shendu.tensor import Tensor


class RNNLayer(Function):
    """h' = act(xg + W_hh h + b_hh), act tanh or relu: (xg (N, H), h0 (B, H), W_hh, b_hh) -> (out, h_n)."""

    saved_outputs = (0,)  # backward reads ``out`` (its array is the forward's buffer)

    def forward(ctx, xg, h0, w_hh, b_hh, *, batch_sizes, reverse, nonlinearity):
        xp = array_module(xg)
        H = h0.shape[1]
        _check("rnn_layer", xg, h0, w_hh, 1, H, (b_hh,))
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"rnn_layer: unknown nonlinearity {nonlinearity!r}; choose 'tanh' or 'relu'")
        ctx.nonlinearity = nonlinearity
        sch = ctx.schedule = _Schedule(xg.shape[0], h0.shape[0], batch_sizes, reverse)
        X = xg + b_hh if b_hh is not None else xg
        OUT = xp.empty(xg.shape, xg.dtype)

        def run(r0: int, r1: int) -> None:
            tmp = xp.empty((H, r1 - r0), xg.dtype)
            for s, b, h_prev, _ in _walk(sch, r0, r1, h0, OUT, xp.empty((r1 - r0, H), xg.dtype)):
                h = OUT[s:s + b]
                pre = tmp if b == r1 - r0 else xp.empty((H, b), xg.dtype)
                xp.matmul(w_hh, h_prev.T, out=pre)  # (H, b): BLAS is faster this way round at a small batch
                xp.add(X[s:s + b], pre.T, out=h)
                if nonlinearity == "tanh":
                    xp.tanh(h, out=h)
                else:
                    xp.maximum(h, 0, out=h)

        _over_rows(run, sch, OUT.size * H, xp)
        ctx.saved = OUT
        return OUT, sch.last(OUT)

    def backward(ctx, grad_out, grad_hn):
        return composite_backward(ctx, functools.partial(rnn_composite, batch_sizes=_sizes(ctx),
                                                         reverse=ctx.schedule.reverse,
                                                         nonlinearity=ctx.nonlinearity), (grad_out, grad_hn))

    def grad_arrays(ctx, grad_out, grad_hn):
        xg, h0, w_hh, _ = (a._data if isinstance(a, Tensor) else a for a in ctx.inputs)
        need_xg, need_h0, need_whh, need_bhh = ctx.needs_input_grad
        OUT, sch, xp = ctx.saved, ctx.schedule, array_module(xg)
        # the activation's derivative from its output (relu: 0 at the kink, as PyTorch)
        D = 1 - OUT * OUT if ctx.nonlinearity == "tanh" else (OUT > 0).astype(OUT.dtype)
        dA = xp.empty(OUT.shape, OUT.dtype)
        dh_rec = xp.array(grad_hn, copy=True)

        w_t = _transposed(w_hh)

        def run(r0: int, r1: int) -> None:
            tmp = xp.empty((w_hh.shape[0], r1 - r0), OUT.dtype)
            for s, b in sch.rows(r0, r1, backward=True):
                rec = slice(r0, r0 + b)
                da = dA[s:s + b]
                xp.add(grad_out[s:s + b], dh_rec[rec], out=da)
                da *= D[s:s + b]
                pre = tmp if b == r1 - r0 else xp.empty((w_hh.shape[0], b), OUT.dtype)
                xp.matmul(w_t, da.T, out=pre)  # (H, b): the faster way round, as forward
                xp.copyto(dh_rec[rec], pre.T)

        _over_rows(run, sch, dA.size * dA.shape[1], xp)
        grad_whh = dA.T @ sch.previous(xp, OUT, h0) if need_whh else None
        return (dA if need_xg else None, dh_rec if need_h0 else None, grad_whh,
                dA.sum(0) if need_bhh else None)


def rnn_composite(xg: Tensor, h0: Tensor, w_hh: Tensor, b_hh=None, *, batch_sizes=None, reverse: bool = False,
                  nonlinearity: str = "tanh") -> tuple:
    """``RNNLayer`` with plain ops per step (the oracle and the create_graph path)."""
    sch = _Schedule(xg.shape[0], h0.shape[0], batch_sizes, reverse)
    h, outs = h0, {}
    for s, b in sch.steps:
        pre = xg[s:s + b] + h[:b] @ w_hh.mT
        if b_hh is not None:
            pre = pre + b_hh
        h_new = pre.tanh() if nonlinearity == "tanh" else pre.relu()
        outs[s] = h_new
        h = _cat([h_new, h[b:]])
    return _cat([outs[s] for s in sorted(outs)]), h


def rnn_layer(xg: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor | None = None, *, batch_sizes=None,
              reverse: bool = False, nonlinearity: str = "tanh") -> tuple:
    """One Elman RNN layer and direction over a sequence, from ``xg = x @ W_ih.T + b_ih``.

    Shape:
        - xg: ``(T, B, H)`` or ``(N, H)`` (packed, with ``batch_sizes``); h0: ``(B, H)``; W_hh: ``(H, H)``.
        - Returns ``(out, h_n)``: out ``(T, B, H)`` (or ``(N, H)``), h_n ``(B, H)``.
    """
    flat, T = _flatten(xg, "rnn_layer")
    out, h_n = RNNLayer.apply(flat, h0, w_hh, b_hh, batch_sizes=batch_sizes, reverse=reverse,
                              nonlinearity=nonlinearity)
    return (out.reshape(T, -1, out.shape[-1]) if T else out), h_n
