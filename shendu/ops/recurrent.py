"""The recurrent layers' time loops: ``lstm_layer``, ``gru_layer``, ``rnn_layer`` (one op per layer and direction).

The input projection of a whole sequence is one matmul outside these ops (``F.linear`` on every time step
at once, giving the gate inputs ``xg``); each op then runs the recurrence of one layer and direction: one
matmul per step for the recurrent part and the gate nonlinearities and state update as a few NumPy calls
on preallocated ``(N, ...)`` buffers. Backward runs backpropagation through time in one pass: one matmul
per step for the gradient of the previous state, with the pointwise factors of every step computed up
front over the whole sequence, and the recurrent weight's (and bias's) gradient as ONE matmul over all
steps at the end, split by the weight's rows across shendu's threads.

Where the time goes (W3: T 64, batch 32, H 256, 2 cores): the time loop is cut along the batch, one
16-row piece per thread with no synchronisation per step; each piece's per-step products (16 x 256 x 1024)
run at ~170 (forward) and ~150 (backward) GFLOP/s on one BLAS thread, about 2/3 of the large-product rate,
since BLAS repacks the weight at every call; they are ~2/3 of the loop's time, the NumPy calls the rest.
``grad_arrays`` is that rule on raw arrays (the training path builds no Tensors); the Tensor ``backward``
(``create_graph``, higher order) differentiates the composite cell written with plain ops, which is also
the tests' oracle.

Layout: time-major and flat. ``xg`` is ``(N, G)`` with the rows of time step t at ``offsets[t] :
offsets[t] + batch_sizes[t]`` (PyTorch's packed layout; a padded ``(T, B, G)`` input is the case of equal
batch sizes, ``batch_sizes=None``). Batch sizes do not increase: sequences are sorted by length, longest
first, so step t works on the first ``batch_sizes[t]`` rows. The reverse direction walks from the last
step to the first with a growing batch; rows that have not started yet hold their initial state.
Gate orders are PyTorch's: i, f, g, o (LSTM) and r, z, n (GRU).
"""
from __future__ import annotations

import functools

import numpy as np

from shendu import threads
from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.ops.fused import composite_backward
from shendu.tensor import Tensor


# -- the schedule of a sequence --------------------------------------------------------------------
class _Schedule:
    """Where each time step's rows are in the flat layout, in processing order, and where its previous state is."""

    def __init__(self, n: int, batch: int, batch_sizes, reverse: bool):
        if batch_sizes is None:
            if batch == 0 or n % batch:
                raise RuntimeError(f"recurrent op: {n} rows are not a whole number of steps of batch {batch}")
            sizes = np.full(n // batch, batch, dtype=np.int64)
        else:
            sizes = np.asarray(batch_sizes, dtype=np.int64)
            if sizes.ndim != 1 or not len(sizes) or sizes[0] != batch or int(sizes.sum()) != n or (
                    np.diff(sizes) > 0).any() or sizes[-1] <= 0:
                raise RuntimeError(f"recurrent op: batch_sizes {sizes.tolist()} must be positive and non-increasing, "
                                   f"start at the state's batch {batch} and sum to the {n} rows of the input")
        self.uniform = bool((sizes == batch).all())
        self.sizes, self.n, self.batch, self.reverse = sizes, n, batch, reverse
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        order = range(len(sizes) - 1, -1, -1) if reverse else range(len(sizes))
        self.steps = [(int(self.offsets[t]), int(sizes[t])) for t in order]  # (first row, rows) per step

    def rows(self, r0: int, r1: int, backward: bool = False) -> list:
        """(first flat row, rows) of the batch rows [r0, r1) per step, in processing order (reversed for
        backward), leaving out the steps none of them takes part in."""
        out = []
        for s, b in (reversed(self.steps) if backward else self.steps):
            k = min(b, r1) - r0
            if k > 0:
                out.append((s + r0, k))
        return out

    def previous(self, xp, out, init):
        """The state each row of the flat layout started its step from: ``out`` of the step before, or ``init``."""
        n, b = self.n, self.batch
        if self.uniform:
            return (xp.concatenate([out[b:], init]) if self.reverse else xp.concatenate([init, out[:n - b]]))
        return xp.concatenate([out, init])[xp.asarray(self._previous_index())]

    def _previous_index(self) -> np.ndarray:
        sizes, offsets, T = self.sizes, self.offsets, len(self.sizes)
        t = np.repeat(np.arange(T), sizes)
        row = np.arange(self.n) - np.repeat(offsets, sizes)
        p = t + (1 if self.reverse else -1)
        valid = (p >= 0) & (p < T)
        pc = np.clip(p, 0, T - 1)
        p_size = np.where(valid, sizes[pc], 0)
        return np.where(row < p_size, offsets[pc] + row, self.n + row)

    def last(self, out):
        """Each sequence's final state: the row of its last processed step."""
        b = self.batch
        if self.reverse:
            return out[:b].copy()
        if self.uniform:
            return out[self.n - b:].copy()
        lengths = (self.sizes[None, :] > np.arange(b)[:, None]).sum(1)
        return out[self.offsets[lengths - 1] + np.arange(b)]


def _walk(sch: _Schedule, r0: int, r1: int, h0, out_h, hbuf, c0=None, out_c=None, cbuf=None):
    """Yield (first flat row, rows, previous h, previous c) per step for the batch rows [r0, r1), reading the
    outputs the caller wrote for the step before (the generator runs one step behind its caller)."""
    prev = None
    for s, k in sch.rows(r0, r1):
        if prev is None:
            h, c = h0[r0:r0 + k], (None if c0 is None else c0[r0:r0 + k])
        else:
            ps, pk = prev
            if k <= pk:  # the batch shrinks or stays: the previous step's first k rows
                h, c = out_h[ps:ps + k], (None if c0 is None else out_c[ps:ps + k])
            else:  # reverse direction: new rows join with their initial state
                hbuf[:pk], hbuf[pk:k] = out_h[ps:ps + pk], h0[r0 + pk:r0 + k]
                h = hbuf[:k]
                if c0 is not None:
                    cbuf[:pk], cbuf[pk:k] = out_c[ps:ps + pk], c0[r0 + pk:r0 + k]
                    c = cbuf[:k]
        yield s, k, h, c
        prev = (s, k)


def _over_rows(fn, sch: _Schedule, elements: int, xp) -> None:
    """``fn(r0, r1)`` over the batch rows, cut into pieces run on shendu's threads (one BLAS thread each).

    The sequences of a batch never meet inside the recurrence, so each piece runs its own time loop with
    no synchronisation per step: per-step products are small, and threads meeting at every step (a
    multithreaded BLAS call per step) cost more than they share out, most of all on a loaded machine.
    """
    threads.split_batch(fn, sch.batch, elements, xp, blas=True)


def _transposed(w):
    """``w.T`` as a C-contiguous array. NumPy copies a large transpose with strided reads ~3x slower than
    block by block (32 rows at a time: each block's reads stay in cache): 1024 x 256, 0.28 -> 0.08 ms."""
    if type(w) is not np.ndarray or w.ndim != 2 or w.shape[0] <= 64:
        return array_module(w).ascontiguousarray(w.T)
    out = np.empty(w.shape[::-1], w.dtype)
    for i in range(0, w.shape[0], 32):
        out[:, i:i + 32] = w[i:i + 32].T
    return out


def _check(op: str, xg, h0, w_hh, gates: int, hidden: int, extra=()):
    arrays = (xg, h0, w_hh) + tuple(a for a in extra if a is not None)
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) != 1:
        raise RuntimeError(f"{op}: expected every input to have the same dtype, got "
                           f"{', '.join(sorted(str(d) for d in dtypes))}")
    if xg.ndim != 2 or h0.ndim != 2 or xg.shape[1] != gates * hidden:
        raise RuntimeError(f"{op}: expected gate inputs (N, {gates}*{hidden}) and a state (B, ...), got shapes "
                           f"{xg.shape} and {h0.shape}")
    if w_hh.shape != (gates * hidden, h0.shape[1]):
        raise RuntimeError(f"{op}: expected a recurrent weight of shape ({gates * hidden}, {h0.shape[1]}) for a "
                           f"state of shape {h0.shape}, got {w_hh.shape}")


WEIGHT_GRAD_MIN_ROWS = 64  # rows of the recurrent weight's gradient per thread at least (thinner: BLAS slows)


# -- LSTM -------------------------------------------------------------------------------------------
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


def _sizes(ctx):
    sch = ctx.schedule
    return None if sch.uniform else tuple(int(v) for v in sch.sizes)


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


def _cat(parts):
    from shendu.ops.shape import cat
    parts = [p for p in parts if p.shape[0]]
    return parts[0] if len(parts) == 1 else cat(parts, 0)


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


def _flatten(xg: Tensor, op: str):
    if xg.ndim == 3:
        return xg.reshape(-1, xg.shape[-1]), xg.shape[0]
    if xg.ndim != 2:
        raise RuntimeError(f"{op}: expected gate inputs of shape (T, B, G) or (N, G), got {tuple(xg.shape)}")
    return xg, 0


# -- GRU --------------------------------------------------------------------------------------------
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


# -- Elman RNN --------------------------------------------------------------------------------------
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


# -- one step: the cells (PyTorch's torch.lstm_cell & co) -------------------------------------------
def _gates(input: Tensor, w_ih: Tensor, b_ih, op: str) -> Tensor:
    from shendu.ops.linalg import Linear
    if input.ndim != 2:
        raise RuntimeError(f"{op}: expected a 2-D input (B, H_in), got shape {tuple(input.shape)}")
    return Linear.apply(input, w_ih, b_ih)


def lstm_cell(input: Tensor, hx: tuple, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
              b_hh: Tensor | None = None) -> tuple:
    """One LSTM step (``torch.lstm_cell``): ``(h', c')`` from input ``(B, H_in)`` and ``hx = (h, c)``, each ``(B, H)``.

    The one-step case of ``LSTMLayer``: its hand-written backward, its composite under create_graph.
    """
    h, c = hx
    out, _, c_new = LSTMLayer.apply(_gates(input, w_ih, b_ih, "lstm_cell"), h, c, w_hh, b_hh, None,
                                    batch_sizes=None, reverse=False)
    return out, c_new


def gru_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None) -> Tensor:
    """One GRU step (``torch.gru_cell``): h' ``(B, H)`` from input ``(B, H_in)`` and h ``(B, H)``."""
    out, _ = GRULayer.apply(_gates(input, w_ih, b_ih, "gru_cell"), hx, w_hh, b_hh, batch_sizes=None, reverse=False)
    return out


def rnn_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None, *, nonlinearity: str = "tanh") -> Tensor:
    """One Elman RNN step: h' = act(input @ W_ih.T + b_ih + h @ W_hh.T + b_hh), act tanh or relu."""
    out, _ = RNNLayer.apply(_gates(input, w_ih, b_ih, "rnn_cell"), hx, w_hh, b_hh, batch_sizes=None, reverse=False,
                            nonlinearity=nonlinearity)
    return out


def rnn_tanh_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
                  b_hh: Tensor | None = None) -> Tensor:
    """``torch.rnn_tanh_cell``: h' = tanh(input @ W_ih.T + b_ih + h @ W_hh.T + b_hh)."""
    return rnn_cell(input, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh")


def rnn_relu_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
                  b_hh: Tensor | None = None) -> Tensor:
    """``torch.rnn_relu_cell``: h' = relu(input @ W_ih.T + b_ih + h @ W_hh.T + b_hh)."""
    return rnn_cell(input, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity="relu")
