"""The LSTM recurrence over a sequence (``lstm_layer``) with its hand-written BPTT, and the composite cell."""
from __future__ import annotations

import functools

import numpy as np

from shendu import threads
from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.ops.fused import composite_backward
from shendu.ops.recurrent.schedule import _cat, _check, _flatten, _over_rows, _Schedule, _sizes, _transposed, _walk
from shendu.tensor import Tensor

WEIGHT_GRAD_MIN_ROWS = 64  # rows of the recurrent weight's gradient per thread at least (thinner: BLAS slows)


class LSTMLayer(Function):
    """The LSTM recurrence over a sequence: (xg (N, 4H), h0 (B, P), c0 (B, H), W_hh (4H, P), b_hh, W_hr (P, H))
    -> (out (N, P), h_n (B, P), c_n (B, H)); P = H without a projection (W_hr None)."""

    saved_outputs = (0,)  # backward reads ``out`` (its array is the forward's buffer)

    def forward(ctx, xg, h0, c0, w_hh, b_hh, w_hr, *, batch_sizes, reverse):
        xp = array_module(xg)
        H, P = c0.shape[1], h0.shape[1]
        _check("lstm_layer", xg, h0, w_hh, 4, H, (c0, b_hh, w_hr))
        sch = ctx.schedule = _Schedule(xg.shape[0], h0.shape[0], batch_sizes, reverse)
        N, dt = xg.shape[0], xg.dtype
        # sigmoid(x) = tanh(x/2)/2 + 1/2: the i, f, o columns are halved once, so one tanh serves all gates
        half = xp.asarray(np.repeat([0.5, 0.5, 1.0, 0.5], H), dtype=dt)
        bh = b_hh * half if b_hh is not None else None
        ws = w_hh * half[:, None]  # (4H, P)
        scale = xp.asarray([0.5, 0.5, 1.0, 0.5], dtype=dt)[:, None]
        shift = xp.asarray([0.5, 0.5, 0.0, 0.5], dtype=dt)[:, None]
        G = xp.empty((N, 4 * H), dt)  # the halved gate inputs, then (in place) the activated gates
        C, TC = xp.empty((N, H), dt), xp.empty((N, H), dt)
        OUT = xp.empty((N, P), dt)
        HC = xp.empty((N, H), dt) if w_hr is not None else None
        wrt = xp.ascontiguousarray(w_hr.T) if w_hr is not None else None
        if not sch.uniform:  # the rows of a piece are no strided view of the sequence: halve all at once
            _halve(xp, xg, half, bh, G)
        G4 = G.reshape(N, 4, H)

        def run(r0: int, r1: int) -> None:
            n = r1 - r0
            if sch.uniform:  # this piece's rows of every step, one strided view: halved in one pass each
                T = N // sch.batch
                _halve(xp, xg.reshape(T, sch.batch, 4 * H)[:, r0:r1], half, bh,
                       G.reshape(T, sch.batch, 4 * H)[:, r0:r1])
            tmp, ig = xp.empty((4 * H, n), dt), xp.empty((n, H), dt)
            for s, b, h_prev, c_prev in _walk(sch, r0, r1, h0, OUT, xp.empty((n, P), dt), c0, C,
                                              xp.empty((n, H), dt)):
                g, g4 = G[s:s + b], G4[s:s + b]
                pre = tmp[:, :b] if b == n else xp.empty((4 * H, b), dt)
                xp.matmul(ws, h_prev.T, out=pre)  # (4H, b): BLAS is faster this way round at a small batch
                g += pre.T
                xp.tanh(g, out=g)
                g4 *= scale
                g4 += shift  # i, f, g, o
                c = C[s:s + b]
                xp.multiply(g4[:, 1], c_prev, out=c)
                xp.multiply(g4[:, 0], g4[:, 2], out=ig[:b])
                c += ig[:b]
                tc = TC[s:s + b]
                xp.tanh(c, out=tc)
                if wrt is None:
                    xp.multiply(g4[:, 3], tc, out=OUT[s:s + b])
                else:
                    xp.multiply(g4[:, 3], tc, out=HC[s:s + b])
                    xp.matmul(HC[s:s + b], wrt, out=OUT[s:s + b])

        _over_rows(run, sch, G.size, xp)
        ctx.saved = (G, C, TC, OUT, HC)
        return OUT, sch.last(OUT), sch.last(C)

    def backward(ctx, grad_out, grad_hn, grad_cn):
        return composite_backward(ctx, functools.partial(lstm_composite, batch_sizes=_sizes(ctx),
                                                         reverse=ctx.schedule.reverse), (grad_out, grad_hn, grad_cn))

    def grad_arrays(ctx, grad_out, grad_hn, grad_cn):
        xg, h0, c0, w_hh, b_hh, w_hr = (a._data if isinstance(a, Tensor) else a for a in ctx.inputs)
        need_xg, need_h0, need_c0, need_whh, need_bhh, need_whr = ctx.needs_input_grad
        G, C, TC, OUT, HC = ctx.saved
        sch, xp = ctx.schedule, array_module(xg)
        N, H, P, B, dt = xg.shape[0], c0.shape[1], h0.shape[1], h0.shape[0], G.dtype
        G4 = G.reshape(N, 4, H)
        # Each step's pointwise factors, formed up front in a few passes (per piece when the schedule is
        # uniform): dG holds d(pre)/d(c) for i, f, g and d(pre o)/d(h) until the loop multiplies them
        # by the step's d(c) and d(h); A holds d(c)/d(h) = o (1 - tanh(c)^2).
        dG = xp.empty((N, 4, H), dt)  # becomes the gradient of the pre-activations i, f, g, o
        A = xp.empty((N, H), dt)
        if not sch.uniform:
            _lstm_factors(xp, G4, TC, dG, A)
            dG[:, 1] *= sch.previous(xp, C, c0)
        w_t = _transposed(w_hh)
        dH = xp.empty((N, P), dt) if w_hr is not None else None
        dh_rec = xp.array(grad_hn, copy=True)
        dc_rec = xp.array(grad_cn, copy=True)

        def run(r0: int, r1: int) -> None:
            n = r1 - r0
            if sch.uniform:
                T = N // B
                v = lambda a: a.reshape((T, B) + a.shape[1:])[:, r0:r1]  # noqa: E731 - this piece's rows
                dGv, Cv = v(dG), v(C)
                _lstm_factors(xp, v(G4), v(TC), dGv, v(A))
                df = dGv[:, :, 1]  # f (1 - f), times each step's c_prev: the step before's c, or c0
                if sch.reverse:
                    df[:-1] *= Cv[1:]
                    df[-1] *= c0[r0:r1]
                else:
                    df[1:] *= Cv[:-1]
                    df[0] *= c0[r0:r1]
            dh_buf, dc = xp.empty((n, P), dt), xp.empty((n, H), dt)
            tmp = xp.empty((P, n), dt)
            for s, b in sch.rows(r0, r1, backward=True):
                rec = slice(r0, r0 + b)
                dh = dH[s:s + b] if dH is not None else dh_buf[:b]
                xp.add(grad_out[s:s + b], dh_rec[rec], out=dh)
                dhc = dh @ w_hr if w_hr is not None else dh
                d = dc[:b]
                xp.multiply(dhc, A[s:s + b], out=d)
                d += dc_rec[rec]  # d(c)
                xp.multiply(d, G4[s:s + b, 1], out=dc_rec[rec])  # d(c_prev) = d(c) f
                dg = dG[s:s + b]
                dg[:, :3] *= d[:, None]
                dg[:, 3] *= dhc
                pre = tmp if b == n else xp.empty((P, b), dt)
                xp.matmul(w_t, dg.reshape(b, 4 * H).T, out=pre)  # (P, b): the faster way round, as forward
                xp.copyto(dh_rec[rec], pre.T)

        _over_rows(run, sch, dG.size, xp)
        dG = dG.reshape(N, 4 * H)
        grad_whh, grad_bhh = _weight_grads(xp, sch, dG, OUT, h0, need_whh, need_bhh)
        grad_whr = dH.T @ HC if need_whr else None
        return (dG if need_xg else None, dh_rec if need_h0 else None, dc_rec if need_c0 else None,
                grad_whh, grad_bhh, grad_whr)


def _halve(xp, xg, half, bh, out) -> None:
    """out = xg * half (+ bh): the gate inputs scaled for sigmoid-through-tanh."""
    xp.multiply(xg, half, out=out)
    if bh is not None:
        out += bh


def _lstm_factors(xp, g4, tc, dg, a) -> None:
    """From the activated gates ``g4`` (..., 4, H) and tanh(c) ``tc`` (..., H), fill ``dg`` with
    i: g i (1 - i), f: f (1 - f) (the caller multiplies by c_prev), g: i (1 - g^2), o: tanh(c) o (1 - o),
    and ``a`` with o (1 - tanh(c)^2)."""
    xp.multiply(g4, g4, out=dg)  # squares; the g block becomes 1 - g^2, the others sigma - sigma^2
    dgg = dg[..., 2, :]
    xp.subtract(1, dgg, out=dgg)
    dgg *= g4[..., 0, :]
    xp.subtract(g4[..., 0:2, :], dg[..., 0:2, :], out=dg[..., 0:2, :])
    dg[..., 0, :] *= g4[..., 2, :]
    do = dg[..., 3, :]
    xp.subtract(g4[..., 3, :], do, out=do)
    do *= tc
    xp.multiply(tc, tc, out=a)
    xp.subtract(1, a, out=a)
    a *= g4[..., 3, :]


def _weight_grads(xp, sch: _Schedule, dG, out, init, need_w: bool, need_b: bool):
    """The recurrent weight's gradient sum_t dG_t^T h_prev_t (and the bias's, sum_t dG_t), each as one
    product over all steps, split by the weight's rows across shendu's threads.

    A uniform schedule reads h_prev straight from ``out`` (shifted by one step) and ``init``, no copy.
    """
    if not (need_w or need_b):
        return None, None
    N, G = dG.shape
    b = sch.batch
    if not need_w:
        pairs = ()
    elif not sch.uniform:
        pairs = ((dG, sch.previous(xp, out, init)),)
    elif sch.reverse:
        pairs = ((dG[:N - b], out[b:]), (dG[N - b:], init))
    else:
        pairs = ((dG[b:], out[:N - b]), (dG[:b], init))
    gw = xp.empty((G, out.shape[1]), dG.dtype) if need_w else None
    gb = xp.empty((G,), dG.dtype) if need_b else None

    def block(j0: int, j1: int) -> None:
        if need_w:
            (d, p), *rest = pairs
            xp.matmul(d[:, j0:j1].T, p, out=gw[j0:j1])
            for d, p in rest:
                gw[j0:j1] += d[:, j0:j1].T @ p
        if need_b:
            dG[:, j0:j1].sum(0, out=gb[j0:j1])

    if getattr(xp, "__name__", "numpy") != "numpy":
        block(0, G)
    else:
        threads.parallel_for(block, G, min_chunk=WEIGHT_GRAD_MIN_ROWS, blas=True)
    return gw, gb


def lstm_composite(xg: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, b_hh=None, w_hr=None, *,
                   batch_sizes=None, reverse: bool = False) -> tuple:
    """``LSTMLayer`` with plain ops per step: the oracle and the create_graph path (same flat layout)."""
    sch = _Schedule(xg.shape[0], h0.shape[0], batch_sizes, reverse)
    H = c0.shape[1]
    h, c, outs = h0, c0, {}
    for s, b in sch.steps:
        pre = xg[s:s + b] + h[:b] @ w_hh.mT
        if b_hh is not None:
            pre = pre + b_hh
        i, f = pre[:, :H].sigmoid(), pre[:, H:2 * H].sigmoid()
        g, o = pre[:, 2 * H:3 * H].tanh(), pre[:, 3 * H:].sigmoid()
        c_new = f * c[:b] + i * g
        h_new = o * c_new.tanh()
        if w_hr is not None:
            h_new = h_new @ w_hr.mT
        outs[s] = h_new
        h = _cat([h_new, h[b:]])  # rows beyond b: finished (forward) or not started (reverse)
        c = _cat([c_new, c[b:]])
    return _cat([outs[s] for s in sorted(outs)]), h, c


def lstm_layer(xg: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, b_hh: Tensor | None = None,
               w_hr: Tensor | None = None, *, batch_sizes=None, reverse: bool = False) -> tuple:
    """One LSTM layer and direction over a sequence, from its gate inputs ``xg = x @ W_ih.T + b_ih``.

    Shape:
        - xg: ``(T, B, 4H)``, or ``(N, 4H)`` in the packed layout with ``batch_sizes``.
        - h0: ``(B, P)``, c0: ``(B, H)``; W_hh: ``(4H, P)``, b_hh: ``(4H,)``, W_hr: ``(P, H)`` (P = H without it).
        - Returns ``(out, h_n, c_n)``: out ``(T, B, P)`` (or ``(N, P)``), h_n ``(B, P)``, c_n ``(B, H)``.
    """
    flat, T = _flatten(xg, "lstm_layer")
    out, h_n, c_n = LSTMLayer.apply(flat, h0, c0, w_hh, b_hh, w_hr, batch_sizes=batch_sizes, reverse=reverse)
    return (out.reshape(T, -1, out.shape[-1]) if T else out), h_n, c_n
