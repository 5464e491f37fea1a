"""shendu's one thread pool, and PyTorch's thread settings (``set_num_threads`` and friends).

NumPy releases the GIL inside its ufunc loops, copies and reductions, so array work cut into pieces
(along the batch, or into flat chunks) runs truly in parallel on plain threads. Every part of shendu
that does so (the optimizers' chunked updates, im2col/col2im, ReLU and pooling over large
activations) takes its threads from the one pool here, so the process never holds more than
``get_num_threads()`` shendu threads however many parts use them.

Process-wide effects, and how to opt out:
- The pool owns the cores, BLAS included: from shendu's first matrix product (or ``set_num_threads``)
  on, every BLAS library loaded in the process (NumPy's OpenBLAS/MKL, SciPy's, through
  ``threadpoolctl``; never PyTorch's pools) runs at one thread, and shendu splits its own large
  products across the pool (``matmul``). Why: a multithreaded BLAS product leaves its worker threads
  spinning for ~0.1 s afterwards, taking the cores from the pool's next split (W2's step: 26 -> 16 ms
  on 2 cores). NumPy products the program makes itself then run on one thread too.
  Opt out: ``SHENDU_BLAS_THREADS=k`` keeps BLAS at ``k`` threads (shendu then leaves products to BLAS).
- ``set_num_threads(n)`` sets the pool's size; ``set_num_threads(1)`` runs everything in the calling
  thread. Without a call, the pool uses the cores available to the process (at most ``MAX_THREADS``),
  or ``SHENDU_NUM_THREADS`` / ``OMP_NUM_THREADS`` when set.
- A task running on a pool thread that asks for the pool again runs its pieces in that thread
  (nested parallelism never waits on itself), and CuPy arrays are never split.
- Work split with ``blas=True`` calls BLAS from several pool threads at once (the convolutions'
  products, chunk by chunk): while it runs, the BLAS libraries are held at one thread each, so the
  pool owns the cores instead of several multithreaded products fighting over them; their thread
  count is restored afterwards.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

MAX_THREADS = 8  # the default pool never grows past this many threads (an explicit set_num_threads may)
# Below this many elements of work a split costs more than it saves: handing a range to a pool thread
# takes ~20-50 us, about what one core needs for 64K float32 elements of a copy or ufunc.
MIN_SPLIT_ELEMENTS = 1 << 16
START_WAIT_S = 0.002  # how long a caller waits for a pool thread to pick its range up

_num_threads: int | None = None
_interop_threads: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_workers = 0
_pool_lock = threading.Lock()
_local = threading.local()  # .in_pool: this thread is one of the pool's


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - not Linux


def _default_threads() -> int:
    for name in ("SHENDU_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) >= 1:
            return int(value)
    return max(1, min(_cores(), MAX_THREADS))


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for shendu's own parallel work and for the BLAS libraries (process-wide).

    Args:
        n: number of threads, at least 1.
    """
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected an int n >= 1, got {n!r}")
    _num_threads = n
    own_blas(force=True)


def get_num_threads() -> int:
    """Threads shendu's parallel work uses (PyTorch's intra-op thread count)."""
    return _num_threads if _num_threads is not None else _default_threads()


def set_num_interop_threads(n: int) -> None:
    """PyTorch's inter-op thread count; shendu runs ops one after another, so it is only recorded.

    As in PyTorch, it can be set only once.
    """
    global _interop_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_interop_threads: expected an int n >= 1, got {n!r}")
    if _interop_threads is not None:
        raise RuntimeError("set_num_interop_threads: the number of interop threads can be set only once")
    _interop_threads = n


def get_num_interop_threads() -> int:
    """PyTorch's inter-op thread count (default: the cores available)."""
    return _interop_threads if _interop_threads is not None else _default_threads()


def _mark_pool_thread() -> None:
    _local.in_pool = True


def in_pool_thread() -> bool:
    """True on a pool thread, or in a caller running its own range (asking the pool again runs inline)."""
    return getattr(_local, "in_pool", False)


def executor(workers: int) -> ThreadPoolExecutor:
    """The shared pool with at least ``workers`` threads, made anew after a fork (the child's copy has none)."""
    global _pool, _pool_pid, _pool_workers
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid() or _pool_workers < workers:
            old = _pool if _pool_pid == os.getpid() else None
            _pool = ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="shendu",
                                       initializer=_mark_pool_thread)
            _pool_pid, _pool_workers = os.getpid(), max(workers, 1)
            if old is not None:
                old.shutdown(wait=False)  # its threads finish what they run, then exit
        return _pool


_blas_libs: list | None = None  # threadpoolctl's controllers of the BLAS libraries, looked up once
_blas_lock = threading.Lock()
_blas_depth = 0
_blas_saved: list = []


def _blas_controllers() -> list:
    global _blas_libs
    if _blas_libs is None:
        try:
            from threadpoolctl import ThreadpoolController
            _blas_libs = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
        except ImportError:  # pragma: no cover - threadpoolctl is a dependency
            _blas_libs = []
    return _blas_libs


_blas_owned = False
_BLAS_ENV = "SHENDU_BLAS_THREADS"


def _blas_env_threads() -> int | None:
    value = os.environ.get(_BLAS_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) >= 1 else None


def own_blas(force: bool = False) -> bool:
    """Put every loaded BLAS library at one thread, once (the pool owns the cores; see the module
    docstring), unless ``SHENDU_BLAS_THREADS`` says otherwise. Returns whether shendu splits products.

    ``force``: apply again (``set_num_threads``; BLAS libraries loaded since are included).
    """
    global _blas_owned, _blas_libs, _split_products
    if _blas_owned and not force:
        return _split_products
    _blas_owned = True
    wanted = _blas_env_threads()
    _split_products = wanted is None
    if force:
        _blas_libs = None  # look the libraries up again
    with _blas_lock:
        for c in _blas_controllers():
            c.set_num_threads(wanted or 1)
    return _split_products


def splits_products() -> bool:
    """Whether shendu splits large matrix products across the pool (BLAS owned at one thread)."""
    return (own_blas() if not _blas_owned else _split_products) and get_num_threads() > 1


_split_products = True


@contextmanager
def one_blas_thread():
    """Hold every BLAS library at one thread inside (nested and concurrent uses share one hold)."""
    global _blas_depth, _blas_saved
    if not _blas_owned:
        own_blas()  # first, so the hold restores the owned setting, not the libraries' defaults
    with _blas_lock:
        if _blas_depth == 0:
            _blas_saved = [(c, c.get_num_threads()) for c in _blas_controllers()]
            for c, threads in _blas_saved:
                if threads != 1:
                    c.set_num_threads(1)
        _blas_depth += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_depth -= 1
            if _blas_depth == 0:
                for c, threads in _blas_saved:
                    if threads != 1:
                        c.set_num_threads(threads)


def parallel_for(fn: Callable[[int, int], Any], n: int, *, min_chunk: int = 1,
                 threads: int | None = None, blas: bool = False) -> list:
    """``[fn(start, stop) for each range]`` over ``range(n)`` cut into contiguous ranges, one per thread.

    ``n`` is cut into at most ``threads`` (default ``get_num_threads()``) ranges of at least
    ``min_chunk`` items; the calling thread runs the first range and the pool the others. The results
    come back in range order; an exception in any range is raised after every range has finished
    (they may write into shared output arrays). With one range, or on a pool thread, ``fn`` runs in
    the calling thread. ``blas=True``: ``fn`` calls BLAS, which is held at one thread while the
    ranges run on several (``one_blas_thread``).
    """
    threads = get_num_threads() if threads is None else threads
    pieces = max(1, min(threads, n // max(min_chunk, 1)))
    if pieces == 1 or in_pool_thread():
        return [fn(0, n)]
    if blas:
        with one_blas_thread():
            return parallel_for(fn, n, min_chunk=min_chunk, threads=threads)
    bounds = [n * k // pieces for k in range(pieces + 1)]
    pool = executor(pieces - 1)
    started = threading.Semaphore(0)

    def run(a: int, b: int):
        started.release()
        return fn(a, b)

    futures = [pool.submit(run, bounds[k], bounds[k + 1]) for k in range(1, pieces)]
    # Let the pool threads start before this one starts its range: a thread waking up for the GIL
    # rarely wins it from a busy one (which takes it back between its NumPy calls), so the ranges
    # would otherwise run one after another. A pool thread busy elsewhere is not waited for long.
    for _ in range(pieces - 1):
        if not started.acquire(timeout=START_WAIT_S):
            break
    first: list = []
    error: BaseException | None = None
    _local.in_pool = True  # a nested call from this range runs inline too
    try:
        first.append(fn(bounds[0], bounds[1]))
    except BaseException as e:  # noqa: B036 - re-raised below, after the other ranges finish
        error = e
    finally:
        _local.in_pool = False
    results = first
    for f in futures:
        e = f.exception()
        if e is not None and error is None:
            error = e
        results.append(None if e is not None else f.result())
    if error is not None:
        raise error
    return results


def split_batch(fn: Callable[[int, int], Any], n: int, elements: int, xp: Any = None, *,
                blas: bool = False) -> list:
    """``parallel_for(fn, n)`` over the first (batch) axis of array work covering ``elements`` elements.

    Runs ``fn(0, n)`` in the calling thread when the work is small (under ``MIN_SPLIT_ELEMENTS`` per
    thread) or the arrays are not NumPy's (``xp``: CuPy queues its kernels asynchronously anyway).
    ``blas``: as in ``parallel_for``.
    """
    if xp is not None and getattr(xp, "__name__", "numpy") != "numpy":
        return [fn(0, n)]
    threads = min(get_num_threads(), max(1, elements // MIN_SPLIT_ELEMENTS))
    return parallel_for(fn, n, threads=threads, blas=blas)
