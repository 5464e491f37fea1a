"""shendu.threads: the one pool and PyTorch's thread settings."""
import threading

import numpy as np
import pytest

import shendu as sd
from shendu import threads


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    monkeypatch.setattr(threads, "_num_threads", None)
    monkeypatch.setattr(threads, "_interop_threads", None)
    yield
    from threadpoolctl import threadpool_limits
    threadpool_limits(1, user_api="blas")  # tests/conftest.py runs one BLAS thread per worker


def test_set_num_threads_sets_the_pool_and_owns_blas_at_one_thread():
    sd.set_num_threads(3)
    assert sd.get_num_threads() == 3
    assert set(_blas_threads()) == {1} and threads.splits_products()
    sd.set_num_threads(1)
    assert sd.get_num_threads() == 1
    assert set(_blas_threads()) == {1} and not threads.splits_products()  # one thread: nothing to split


def test_shendu_blas_threads_opts_out_of_owning_blas(monkeypatch):
    monkeypatch.setenv("SHENDU_BLAS_THREADS", "2")
    try:
        sd.set_num_threads(2)
        assert set(_blas_threads()) == {2} and not threads.splits_products()
        with threads.one_blas_thread():  # split conv work still holds BLAS at one thread, then restores it
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {2}
    finally:
        monkeypatch.delenv("SHENDU_BLAS_THREADS")
        sd.set_num_threads(2)
    assert set(_blas_threads()) == {1} and threads.splits_products()


def test_a_split_product_equals_the_unsplit_one(monkeypatch):
    from shendu.ops.linalg import product
    rng = np.random.default_rng(0)
    sd.set_num_threads(2)
    cases = [((300, 200), (200, 150)), ((4, 70, 60), (60, 50)), ((6, 40, 30), (6, 30, 20)), ((200, 100), (100, 3)),
             ((3, 50, 40), (1, 40, 20))]  # the last broadcasts: one product
    for sa, sb in cases:
        a, b = rng.standard_normal(sa, dtype=np.float32), rng.standard_normal(sb, dtype=np.float32)
        monkeypatch.setattr("shendu.ops.linalg.SPLIT_MULTIPLY_ADDS", 1)
        split = product(a, b)
        monkeypatch.setattr("shendu.ops.linalg.SPLIT_MULTIPLY_ADDS", 1 << 62)
        np.testing.assert_allclose(split, product(a, b), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(split, (a.astype(np.float64) @ b.astype(np.float64)), rtol=1e-4, atol=1e-4)
    at = rng.standard_normal((150, 300), dtype=np.float32).T  # a transposed operand (the weight gradient's g.T)
    monkeypatch.setattr("shendu.ops.linalg.SPLIT_MULTIPLY_ADDS", 1)
    b = rng.standard_normal((150, 64), dtype=np.float32)
    np.testing.assert_allclose(product(at, b), at @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_set_num_threads_rejects(bad):
    with pytest.raises(ValueError, match="set_num_threads: expected an int n >= 1"):
        sd.set_num_threads(bad)


def test_default_reads_environment(monkeypatch):
    monkeypatch.setenv("SHENDU_NUM_THREADS", "5")
    assert sd.get_num_threads() == 5
    monkeypatch.delenv("SHENDU_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert sd.get_num_threads() == 4


def test_interop_threads_set_once():
    assert sd.get_num_interop_threads() >= 1
    sd.set_num_interop_threads(2)
    assert sd.get_num_interop_threads() == 2
    with pytest.raises(RuntimeError, match="only once"):
        sd.set_num_interop_threads(3)


def test_parallel_for_ranges_threads_and_order():
    sd.set_num_threads(3)
    seen = {}

    def fn(a, b):
        seen[a] = threading.current_thread().name
        return a, b

    assert threads.parallel_for(fn, 10) == [(0, 3), (3, 6), (6, 10)]
    assert seen[0] == threading.current_thread().name  # the caller runs the first range
    assert seen[3].startswith("shendu") and seen[6].startswith("shendu")
    assert threads.parallel_for(lambda a, b: (a, b), 10, min_chunk=6) == [(0, 10)]
    sd.set_num_threads(1)
    assert threads.parallel_for(lambda a, b: (a, b), 10) == [(0, 10)]


def test_parallel_for_raises_after_all_ranges_finish():
    sd.set_num_threads(2)
    done = []

    def fn(a, b):
        if a == 0:
            raise KeyError("first range")
        done.append(a)

    with pytest.raises(KeyError, match="first range"):
        threads.parallel_for(fn, 4)
    assert done == [2]


def test_nested_parallel_for_runs_inline():
    sd.set_num_threads(2)
    inner = threads.parallel_for(lambda a, b: threads.parallel_for(lambda c, d: (c, d), 4), 2)
    assert inner == [[(0, 4)], [(0, 4)]]


def test_optimizer_shim_follows_the_pool():
    from shendu.optim import _parallel
    sd.set_num_threads(3)
    assert _parallel.get_num_threads() == 3


def _blas_threads() -> list:
    from threadpoolctl import threadpool_info
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_one_blas_thread_holds_blas_and_restores_it():
    sd.set_num_threads(2)
    with threads.one_blas_thread():
        assert set(_blas_threads()) == {1}
        with threads.one_blas_thread():  # nested: one hold
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {1}
    assert set(_blas_threads()) == {1}  # owned at one thread: the hold restores that


def test_split_with_blas_runs_the_ranges_at_one_blas_thread(monkeypatch):
    sd.set_num_threads(2)
    monkeypatch.setattr(threads, "MIN_SPLIT_ELEMENTS", 1)
    seen = threads.split_batch(lambda a, b: (a, b, tuple(_blas_threads())), 4, 100, blas=True)
    assert [s[:2] for s in seen] == [(0, 2), (2, 4)]
    assert all(set(s[2]) == {1} for s in seen)
    assert set(_blas_threads()) == {1}
