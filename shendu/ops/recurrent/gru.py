"""The GRU recurrence over a sequence (``gru_layer``) with its hand-written BPTT, and the composite cell."""
from __future__ import annotations

import functools

import numpy as np

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.ops.fused import composite_backward
from shendu.ops.recurrent.schedule import _cat, _check, _flatten, _over_rows, _Schedule, _sizes, _transposed, _walk
from shendu.tensor import Tensor


class GRULayer(Function):
    """The GRU recurrence: (xg (N, 3H), h0 (B, H), W_hh (3H, H), b_hh) -> (out (N, H), h_n (B, H)).

    r = σ(x_r + W_hr h + b_hr), z = σ(x_z + W_hz h + b_hz), n = tanh(x_n + r (W_hn h + b_hn)),
    h' = (1 - z) n + z h.
    """

    saved_outputs = (0,)  # backward reads ``out`` (its array is the forward's buffer)

    def forward(ctx, xg, h0, w_hh, b_hh, *, batch_sizes, reverse):
        xp = array_module(xg)
        H = h0.shape[1]
        _check("gru_layer", xg, h0, w_hh, 3, H, (b_hh,))
        sch = ctx.schedule = _Schedule(xg.shape[0], h0.shape[0], batch_sizes, reverse)
        N, dt = xg.shape[0], xg.dtype
        half = xp.asarray(np.repeat([0.5, 0.5, 1.0], H), dtype=dt)
        X = xg * half  # r and z halved: sigmoid(x) = tanh(x/2)/2 + 1/2
        if b_hh is not None:
            X[:, :2 * H] += b_hh[:2 * H] * 0.5  # b_hn stays inside r * (...)
        ws = w_hh * half[:, None]  # (3H, H)
        HG = xp.empty((N, 3 * H), dt)  # h @ W_hh.T (+ b_hn in the n block), per step
        G = xp.empty((N, 3 * H), dt)  # r, z, n
        OUT = xp.empty((N, H), dt)
        b_hn = b_hh[2 * H:] if b_hh is not None else None

        def run(r0: int, r1: int) -> None:
            tmp = xp.empty((3 * H, r1 - r0), dt)
            for s, b, h_prev, _ in _walk(sch, r0, r1, h0, OUT, xp.empty((r1 - r0, H), dt)):
                hg, gt = HG[s:s + b], G[s:s + b]
                pre = tmp if b == r1 - r0 else xp.empty((3 * H, b), dt)
                xp.matmul(ws, h_prev.T, out=pre)  # (3H, b): BLAS is faster this way round at a small batch
                xp.copyto(hg, pre.T)
                if b_hn is not None:
                    hg[:, 2 * H:] += b_hn
                rz = gt[:, :2 * H]
                xp.add(X[s:s + b, :2 * H], hg[:, :2 * H], out=rz)
                xp.tanh(rz, out=rz)
                rz *= 0.5
                rz += 0.5
                n = gt[:, 2 * H:]
                xp.multiply(rz[:, :H], hg[:, 2 * H:], out=n)
                n += X[s:s + b, 2 * H:]
                xp.tanh(n, out=n)
                h = OUT[s:s + b]
                xp.subtract(h_prev, n, out=h)
                h *= rz[:, H:]
                h += n

        _over_rows(run, sch, G.size, xp)
        ctx.saved = (G, HG, OUT)
        return OUT, sch.last(OUT)

    def backward(ctx, grad_out, grad_hn):
        return composite_backward(ctx, functools.partial(gru_composite, batch_sizes=_sizes(ctx),
                                                         reverse=ctx.schedule.reverse), (grad_out, grad_hn))

    def grad_arrays(ctx, grad_out, grad_hn):
        xg, h0, w_hh, b_hh = (a._data if isinstance(a, Tensor) else a for a in ctx.inputs)
        need_xg, need_h0, need_whh, need_bhh = ctx.needs_input_grad
        G, HG, OUT = ctx.saved
        sch, xp = ctx.schedule, array_module(xg)
        N, H = xg.shape[0], h0.shape[1]
        h_prev = sch.previous(xp, OUT, h0)
        dHG = xp.empty((N, 3, H), G.dtype)  # gradient of h @ W_hh.T + b_hh: r, z, n blocks
        dXn = xp.empty((N, H), G.dtype)  # gradient of the n block of xg (r, z are dHG's)
        w_t = _transposed(w_hh)
        dh_rec = xp.array(grad_hn, copy=True)

        def run(r0: int, r1: int) -> None:
            m = r1 - r0
            dh_buf, zh, u, v = (xp.empty((m, H), G.dtype) for _ in range(4))
            tmp = xp.empty((H, m), G.dtype)
            for s, b in sch.rows(r0, r1, backward=True):
                rec = slice(r0, r0 + b)
                r, z, n = G[s:s + b, :H], G[s:s + b, H:2 * H], G[s:s + b, 2 * H:]
                dh, zb, ub, vb, d = dh_buf[:b], zh[:b], u[:b], v[:b], dHG[s:s + b]
                xp.add(grad_out[s:s + b], dh_rec[rec], out=dh)
                xp.multiply(dh, z, out=zb)  # dh * z: the direct path to h_prev
                xp.subtract(dh, zb, out=ub)  # dh * (1 - z)
                dn = dXn[s:s + b]  # d(pre n) = dh (1 - z) (1 - n^2)
                xp.multiply(ub, n, out=vb)
                vb *= n
                xp.subtract(ub, vb, out=dn)
                dz = d[:, 1]  # d(pre z) = dh (h_prev - n) z (1 - z)
                xp.subtract(h_prev[s:s + b], n, out=dz)
                dz *= dh
                dz *= z
                xp.multiply(dz, z, out=vb)
                dz -= vb
                xp.multiply(dn, r, out=d[:, 2])  # d(W_hn h + b_hn) = d(pre n) r
                dr = d[:, 0]  # d(pre r) = d(pre n) (W_hn h + b_hn) r (1 - r)
                xp.multiply(dn, HG[s:s + b, 2 * H:], out=dr)
                dr *= r
                xp.multiply(dr, r, out=vb)
                dr -= vb
                pre = tmp if b == m else xp.empty((H, b), G.dtype)
                xp.matmul(w_t, d.reshape(b, 3 * H).T, out=pre)  # (H, b): the faster way round, as forward
                xp.add(pre.T, zb, out=dh_rec[rec])

        _over_rows(run, sch, dHG.size, xp)
        dHG = dHG.reshape(N, 3 * H)
        grad_xg = None
        if need_xg:
            grad_xg = xp.empty((N, 3 * H), G.dtype)
            grad_xg[:, :2 * H] = dHG[:, :2 * H]
            grad_xg[:, 2 * H:] = dXn
        grad_whh = dHG.T @ h_prev if need_whh else None
        grad_bhh = dHG.sum(0) if need_bhh else None
        return grad_xg, (dh_rec if need_h0 else None), grad_whh, grad_bhh


def gru_composite(xg: Tensor, h0: Tensor, w_hh: Tensor, b_hh=None, *, batch_sizes=None,
                  reverse: bool = False) -> tuple:
    """``GRULayer`` with plain ops per step (the oracle and the create_graph path)."""
    sch = _Schedule(xg.shape[0], h0.shape[0], batch_sizes, reverse)
    H = h0.shape[1]
    h, outs = h0, {}
    for s, b in sch.steps:
        x, hp = xg[s:s + b], h[:b]
        hg = hp @ w_hh.mT
        if b_hh is not None:
            hg = hg + b_hh
        r = (x[:, :H] + hg[:, :H]).sigmoid()
        z = (x[:, H:2 * H] + hg[:, H:2 * H]).sigmoid()
        n = (x[:, 2 * H:] + r * hg[:, 2 * H:]).tanh()
        h_new = (1 - z) * n + z * hp
        outs[s] = h_new
        h = _cat([h_new, h[b:]])
    return _cat([outs[s] for s in sorted(outs)]), h


def gru_layer(xg: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor | None = None, *, batch_sizes=None,
              reverse: bool = False) -> tuple:
    """One GRU layer and direction over a sequence, from its gate inputs ``xg = x @ W_ih.T + b_ih``.

    Shape:
        - xg: ``(T, B, 3H)`` or ``(N, 3H)`` (packed, with ``batch_sizes``); h0: ``(B, H)``; W_hh: ``(3H, H)``.
        - Returns ``(out, h_n)``: out ``(T, B, H)`` (or ``(N, H)``), h_n ``(B, H)``.
    """
    flat, T = _flatten(xg, "gru_layer")
    out, h_n = GRULayer.apply(flat, h0, w_hh, b_hh, batch_sizes=batch_sizes, reverse=reverse)
    return (out.reshape(T, -1, out.shape[-1]) if T else out), h_n
