"""Running elementwise optimizer updates over chunks of the parameters, on several CPU threads.

An optimizer's update is elementwise once its per-parameter scalars are known, so the parameters,
their gradients and their state arrays can be cut into flat chunks and updated independently.
NumPy releases the GIL inside its ufunc loops, so chunks run truly in parallel on threads; a chunk
of ~128K float32 elements also keeps the dozen passes of one update close to the cache. Results
are bitwise the same whatever the chunking. CuPy arrays (asynchronous GPU kernels) and small models
run in the calling thread.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shendu import backend
from shendu.threads import executor as _executor
from shendu.threads import get_num_threads as _pool_threads
from shendu.threads import set_num_threads  # noqa: F401  (the pool moved to shendu.threads)

# Measured on W1's Adam (0.67M float32) over 2 cores: 128K-element chunks beat 64K and 256K; below ~32K
# the threads spend their time handing the GIL back and forth between short ufunc calls.
CHUNK = 1 << 17  # elements per task when a parameter is cut into chunks
PARALLEL_MIN = 1 << 18  # a step over fewer elements than this runs whole, in the calling thread

_num_threads: int | None = None  # overrides shendu.threads.get_num_threads() for the optimizers (tests)


def get_num_threads() -> int:
    """Threads the optimizers' updates use: shendu's pool size (``shendu.set_num_threads``)."""
    return _num_threads if _num_threads is not None else _pool_threads()


class Scratch:
    """Scratch arrays for one thread: ``get(like, slot)`` is shaped and typed like ``like``.

    One flat buffer per (slot, dtype, array type) serves every chunk and parameter, sized for the largest.
    """

    def __init__(self):
        self._bufs: dict = {}

    def get(self, like, slot: int = 0):
        key = (slot, like.dtype, type(like))
        buf = self._bufs.get(key)
        n = like.size
        if buf is None or buf.size < n:
            buf = backend.array_module(like).empty(n, dtype=like.dtype)
            self._bufs[key] = buf
        return buf[:n].reshape(like.shape)


Task = tuple  # (arrays: tuple of same-shape arrays, constants)


def _chunks(task: Task, chunk: int) -> list[Task]:
    arrays, consts = task
    size = arrays[0].size
    if size <= chunk or not all(a.flags.c_contiguous and a.shape == arrays[0].shape for a in arrays):
        return [task]
    flat = [a.reshape(-1) for a in arrays]  # views: every array is C-contiguous
    return [(tuple(f[i:i + chunk] for f in flat), consts) for i in range(0, size, chunk)]


def run_tasks(apply: Callable, tasks: list[Task], scratches: list[Scratch]) -> None:
    """``apply(arrays, consts, scratch)`` for every task, in chunks over threads when that pays.

    ``scratches`` holds one Scratch per thread and is extended as needed.
    """
    if not tasks:
        return
    threads = get_num_threads()
    total = sum(arrays[0].size for arrays, _ in tasks)
    if not scratches:
        scratches.append(Scratch())
    if threads == 1 or total < PARALLEL_MIN or not isinstance(tasks[0][0][0], np.ndarray):
        for arrays, consts in tasks:
            apply(arrays, consts, scratches[0])
        return
    pieces = [piece for task in tasks for piece in _chunks(task, CHUNK)]
    threads = min(threads, len(pieces))
    while len(scratches) < threads:
        scratches.append(Scratch())
    # Largest first onto the least loaded thread: the threads finish at about the same time.
    bins: list[list] = [[] for _ in range(threads)]
    loads = [0] * threads
    for piece in sorted(pieces, key=lambda t: t[0][0].size, reverse=True):
        k = loads.index(min(loads))
        bins[k].append(piece)
        loads[k] += piece[0][0].size

    def run_bin(k: int) -> None:
        for arrays, consts in bins[k]:
            apply(arrays, consts, scratches[k])

    pool = _executor(threads - 1)
    futures = [pool.submit(run_bin, k) for k in range(1, threads)]
    try:
        run_bin(0)
    finally:  # wait for every thread before returning or raising: they write the parameters
        errors = [f.exception() for f in futures]
    for e in errors:
        if e is not None:
            raise e
