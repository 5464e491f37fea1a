"""The schedule of a sequence in the recurrent ops' flat, time-major layout (see the package docstring),
and the helpers every layer op shares."""
from __future__ import annotations

import numpy as np

from shendu import threads
from shendu.backend import array_module
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



def _sizes(ctx):
    sch = ctx.schedule
    return None if sch.uniform else tuple(int(v) for v in sch.sizes)


def _cat(parts):
    from shendu.ops.shape import cat
    parts = [p for p in parts if p.shape[0]]
    return parts[0] if len(parts) == 1 else cat(parts, 0)


def _flatten(xg: Tensor, op: str):
    if xg.ndim == 3:
        return xg.reshape(-1, xg.shape[-1]), xg.shape[0]
    if xg.ndim != 2:
        raise RuntimeError(f"{op}: expected gate inputs of shape (T, B, G) or (N, G), got {tuple(xg.shape)}")
    return xg, 0
